/* One training step (see tg_step.h). */
#include "autograd/tg_step.h"

#include <math.h>

tg_status tg_train_step(tg_graph *g, tg_node *loss, tg_optimizer *opt, const tg_step_opts *o,
                        tg_step_result *result) {
    if (!g || !loss || !opt || !o)
        return tg_error(TG_ERR_INVALID, "tg_train_step: graph, loss, optimizer and options needed");
    tg_status st = tg_graph_forward(g, loss);
    if (st) return st;
    if (tg_shape_numel(tg_node_shape(loss)) != 1)
        return tg_error(TG_ERR_SHAPE, "tg_train_step: the loss '%s' is not a scalar",
                        tg_node_name(loss));
    double value = tg_node_data(loss)[0];
    if (!isfinite(value)) return tg_error(TG_ERR_NUMERIC, "the loss is not finite (%g)", value);
    tg_graph_zero_grad(g);
    if ((st = tg_graph_backward(g, loss))) return st;
    return tg_step_update(g, opt, o, value, result);
}

tg_status tg_step_update(tg_graph *g, tg_optimizer *opt, const tg_step_opts *o, double loss,
                         tg_step_result *result) {
    if (!g || !opt || !o)
        return tg_error(TG_ERR_INVALID, "tg_step_update: graph, optimizer and options needed");
    if (!isfinite(loss)) return tg_error(TG_ERR_NUMERIC, "the loss is not finite (%g)", loss);
    int64_t n;
    float *params = tg_graph_param_data(g, &n);
    float *grads = tg_graph_grad_data(g, NULL);
    if (!params || !grads) return TG_ERR_NOMEM; /* the message is set */
    tg_status st;
    if (o->grad_hook && (st = o->grad_hook(grads, n, o->hook_user))) return st;
    double norm =
        o->clip > 0 ? tg_clip_grad_norm(grads, n, (float)o->clip) : tg_grad_norm(grads, n);
    if (!isfinite(norm)) return tg_error(TG_ERR_NUMERIC, "the gradient is not finite");
    if ((st = tg_optimizer_step(opt, params, grads, n, (float)o->lr))) return st;
    if (result) *result = (tg_step_result){.loss = loss, .grad_norm = norm};
    return TG_OK;
}
