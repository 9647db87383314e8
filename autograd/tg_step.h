/* One training step, written once: forward to the loss, backward, an optional
 * hook on the flat gradients (a data-parallel all-reduce), gradient clipping and
 * the optimizer update. The training loop, the examples and the benchmarks all
 * call it, so a change to the step (a check, a hook) reaches every one of them.
 *
 *   tg_step_opts so = {.lr = 1e-3, .clip = 1.0};
 *   per batch: fill the inputs (tg_input_set), then
 *       tg_step_result r;
 *       if (tg_train_step(g, loss, opt, &so, &r)) stop: tg_last_error() says why
 */
#ifndef TG_STEP_H
#define TG_STEP_H

#include <stdint.h>

#include "autograd/tg_error.h"
#include "autograd/tg_export.h"
#include "autograd/tg_graph.h"
#include "autograd/tg_optim.h"

TG_API_BEGIN

/* Called with the flat gradient buffer (n floats, tg_graph_grad_data's layout)
 * after backward and before clipping; it may change the gradients in place. */
typedef tg_status (*tg_grad_hook)(float *grads, int64_t n, void *user);

typedef struct tg_step_opts {
    double lr;              /* learning rate of this step */
    double clip;            /* > 0: scale the gradients to at most this global L2 norm */
    tg_grad_hook grad_hook; /* NULL: none */
    void *hook_user;        /* passed to grad_hook */
} tg_step_opts;

typedef struct tg_step_result {
    double loss;      /* the loss of the batch, before the update */
    double grad_norm; /* the global gradient norm before clipping (after the hook) */
} tg_step_result;

/* Train on the batch already in the graph's inputs: forward to `loss` (a scalar),
 * zero the parameter gradients, backward, the hook, clipping, then one step of
 * `opt` over the graph's flat parameters. A loss or a gradient that is not finite
 * stops before any parameter changes, with TG_ERR_NUMERIC. `result` may be NULL. */
tg_status tg_train_step(tg_graph *g, tg_node *loss, tg_optimizer *opt, const tg_step_opts *o,
                        tg_step_result *result);

/* The second half of a step, for loops that compute the gradients themselves
 * (data-parallel training sums them over ranks first): with the gradients of a
 * batch in the graph's flat buffer and its loss, run the hook, clip, and update.
 * A non-finite loss or gradient stops before any update (TG_ERR_NUMERIC). */
tg_status tg_step_update(tg_graph *g, tg_optimizer *opt, const tg_step_opts *o, double loss,
                         tg_step_result *result);

TG_API_END

#endif
