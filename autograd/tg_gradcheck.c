/* Gradient checking by central differences. The graph computes in float32; the
 * scalar being differentiated (a fixed random weighting of the output) and the
 * differences are accumulated in double, and the step actually taken is measured
 * after rounding to float, so the only error left is float rounding in forward. */
#include "autograd/tg_gradcheck.h"
#include "autograd/tg_node_impl.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_EPS 1e-3
#define DEFAULT_RTOL 1e-2
#define DEFAULT_ATOL 1e-3
#define DEFAULT_PROBES 48

tg_gradcheck_opts tg_gradcheck_defaults(uint64_t seed) {
    tg_gradcheck_opts o = {DEFAULT_EPS, DEFAULT_RTOL, DEFAULT_ATOL, DEFAULT_PROBES, seed, 0};
    return o;
}

typedef struct checker {
    tg_graph *g;
    tg_node *out;
    const double *weights; /* NULL: out is a scalar, f = out */
    float *seed_grad;      /* weights as floats, the backward seed */
    tg_rng rng0;           /* graph RNG at the start: restored before each forward */
    double noise;          /* float rounding of f: FLT_EPSILON * sum_i |w_i out_i| at x */
    tg_gradcheck_opts o;
    tg_gradcheck_result *r;
    const char *use_error; /* set when the op's backward_use proved wrong */
} checker;

/* f = sum_i w_i out_i, in double, after a forward from the saved RNG state; *scale (when
 * not NULL) gets sum_i |w_i out_i|, the size float rounding of the outputs scales with. */
static tg_status eval_scaled(checker *c, double *f, double *scale) {
    *tg_graph_rng(c->g) = c->rng0;
    tg_status st = tg_graph_forward(c->g, c->out);
    if (st) return st;
    const float *y = tg_node_data(c->out);
    int64_t n = tg_shape_numel(tg_node_shape(c->out));
    double acc = 0.0, abs_acc = 0.0;
    for (int64_t i = 0; i < n; i++) {
        double t = (c->weights ? c->weights[i] : 1.0) * (double)y[i];
        acc += t;
        abs_acc += fabs(t);
    }
    *f = acc;
    if (scale) *scale = abs_acc;
    return TG_OK;
}

static tg_status eval(checker *c, double *f) {
    return eval_scaled(c, f, NULL);
}

/* The one-sided slopes of f at x[j] for a step h (measured after rounding to float), and
 * their central difference. */
static tg_status slopes(checker *c, float *x, int64_t j, double h, double f0, double *sp,
                        double *sm, double *central) {
    float orig = x[j];
    float xp = (float)(orig + h), xm = (float)(orig - h);
    double fp, fm;
    tg_status st;
    x[j] = xp;
    st = eval(c, &fp);
    x[j] = xm;
    if (!st) st = eval(c, &fm);
    x[j] = orig;
    if (st) return st;
    double hp = (double)xp - orig, hm = (double)orig - xm;
    *central = (fp - fm) / (hp + hm);
    *sp = (fp - f0) / hp;
    *sm = (f0 - fm) / hm;
    return TG_OK;
}

/* Compare analytic and numeric derivatives on a spread of elements of one tensor. */
static tg_status check_tensor(checker *c, const char *name, float *x, const float *analytic,
                              int64_t n, double f0, tg_rng *pick) {
    int probes = c->o.max_probes;
    int64_t count = n < probes ? n : probes;
    for (int64_t k = 0; k < count; k++) {
        int64_t j = n <= probes ? k : (int64_t)tg_rng_below(pick, (uint64_t)n);
        double sp, sm, numeric;
        tg_status st = slopes(c, x, j, c->o.eps, f0, &sp, &sm, &numeric);
        if (st) return st;
        /* A kink (ReLU at 0, a max-pool tie, a hinge) at distance t < h from x makes the
         * one-sided slopes disagree by J(1 - t/h) for a slope jump J, and the central
         * difference is off by half that. Curvature makes them disagree too, by f''h. So
         * while the gap is above the tolerance the step is halved (at most three times):
         * curvature's gap halves and a kink's leaves once h < t, and either way the central
         * difference at the step where the slopes agree is the one compared. A gap that does
         * not shrink (more than 3/4 of the last one) is a kink at x itself, with no single
         * derivative: that element is skipped. A smooth op therefore never skips, and more
         * than TG_GRADCHECK_MAX_SKIP_SHARE of the elements skipped fails the check. */
        /* Rounding in the float forward moves each one-sided slope by up to noise/h: a gap
         * below that says nothing either way. */
        double gap = fabs(sp - sm), h = c->o.eps;
        int kink = 0;
        for (int halvings = 0;
             halvings < 3 && !kink &&
             gap > c->o.atol + c->o.rtol * fmax(fabs(sp), fabs(sm)) + 2 * c->noise / h;
             halvings++) {
            double last = gap;
            h /= 2;
            if ((st = slopes(c, x, j, h, f0, &sp, &sm, &numeric))) return st;
            gap = fabs(sp - sm);
            kink = gap > 0.75 * last &&
                   gap > c->o.atol + c->o.rtol * fmax(fabs(sp), fabs(sm)) + 2 * c->noise / h;
        }
        if (kink) {
            c->r->skipped++;
            continue;
        }
        double a = analytic[j];
        double err = fabs(a - numeric) / (c->o.atol + c->o.rtol * fmax(fabs(a), fabs(numeric)));
        if (isnan(err)) err = INFINITY; /* a NaN either side compares false with any bound */
        c->r->probed++;
        if (err > c->r->worst_error || c->r->worst_index < 0) {
            c->r->worst_error = err;
            c->r->analytic = a;
            c->r->numeric = numeric;
            c->r->worst_index = j;
            snprintf(c->r->worst_tensor, sizeof c->r->worst_tensor, "%s", name);
        }
    }
    return TG_OK;
}

/* The op's backward_use, tested: a backward with every value it says it does not
 * read poisoned (NaN; a TG_USE_SIGN output replaced by 1 and 0) must give the same
 * gradients, bit for bit, as the one before. */
static tg_status check_value_use(checker *c, float **grads) {
    tg_node *out = c->out;
    const tg_op *op = out->op;
    float *saved[TG_MAX_INPUTS] = {0};
    double f;
    tg_status st = eval(c, &f);
    for (int i = 0; i < out->n_inputs && !st; i++) {
        if (op->backward_use(out, i) != TG_USE_NONE) continue;
        tg_tensor *x = &out->inputs[i]->value;
        size_t bytes = (size_t)tg_shape_numel(&x->shape) * sizeof(float);
        if (!(saved[i] = malloc(bytes))) {
            st = tg_error(TG_ERR_NOMEM, "gradcheck: out of memory");
            break;
        }
        memcpy(saved[i], x->data, bytes);
        for (int64_t k = 0; k < tg_shape_numel(&x->shape); k++) x->data[k] = NAN;
    }
    tg_value_use own = op->backward_use(out, -1);
    for (int64_t k = 0; k < tg_shape_numel(&out->value.shape) && !st; k++)
        if (own != TG_USE_VALUE)
            out->value.data[k] = own == TG_USE_NONE ? NAN : (float)(out->value.data[k] > 0.0f);
    if (!st) {
        tg_graph_zero_grad(c->g);
        st = tg_graph_backward_from(c->g, out, c->seed_grad);
    }
    for (int i = 0, n = tg_graph_node_count(c->g); i < n && !st; i++) {
        tg_node *v = tg_graph_node(c->g, i);
        if (grads[i] &&
            memcmp(grads[i], v->grad.data, (size_t)tg_shape_numel(&v->value.shape) * sizeof(float)))
            c->use_error = v->name;
    }
    for (int i = 0; i < out->n_inputs; i++)
        if (saved[i]) {
            memcpy(out->inputs[i]->value.data, saved[i],
                   (size_t)tg_shape_numel(&out->inputs[i]->value.shape) * sizeof(float));
            free(saved[i]);
        }
    return st;
}

static tg_status run_check(checker *c) {
    tg_graph *g = c->g;
    tg_gradcheck_result *r = c->r;
    memset(r, 0, sizeof *r);
    r->worst_index = -1;
    c->rng0 = *tg_graph_rng(g);
    int64_t n_state = 0;
    float *state = tg_graph_state_data(g, &n_state);
    float *state_copy = NULL;
    float **grads = NULL;
    int n_nodes = tg_graph_node_count(g);
    tg_status st = TG_OK;
    if (!state) return TG_ERR_NOMEM;
    state_copy = malloc((size_t)(n_state ? n_state : 1) * sizeof(float));
    grads = calloc((size_t)n_nodes, sizeof *grads);
    if (!state_copy || !grads) {
        st = tg_error(TG_ERR_NOMEM, "gradcheck: out of memory");
        goto done;
    }
    memcpy(state_copy, state, (size_t)n_state * sizeof(float));

    /* Analytic gradients, copied out per node (later forwards must not disturb them). */
    double f0, scale;
    if ((st = eval_scaled(c, &f0, &scale))) goto done;
    c->noise = FLT_EPSILON * scale;
    tg_graph_zero_grad(g);
    if ((st = tg_graph_backward_from(g, c->out, c->seed_grad))) goto done;
    for (int i = 0; i < n_nodes; i++) {
        tg_node *v = tg_graph_node(g, i);
        int is_target =
            (v->flags & TG_NODE_PARAM) || ((v->flags & TG_NODE_INPUT) && v->requires_grad);
        if (!is_target || !v->grad.data) continue;
        int64_t n = tg_shape_numel(&v->value.shape);
        grads[i] = malloc((size_t)n * sizeof(float));
        if (!grads[i]) {
            st = tg_error(TG_ERR_NOMEM, "gradcheck: out of memory");
            goto done;
        }
        memcpy(grads[i], v->grad.data, (size_t)n * sizeof(float));
    }
    if (c->weights && c->out->op && c->out->op->backward_use && (st = check_value_use(c, grads)))
        goto done;
    tg_rng pick;
    tg_rng_seed(&pick, c->o.seed ^ 0x9e3779b97f4a7c15ULL);
    for (int i = 0; i < n_nodes && !st; i++) {
        tg_node *v = tg_graph_node(g, i);
        if (grads[i])
            st = check_tensor(c, v->name, v->value.data, grads[i], tg_shape_numel(&v->value.shape),
                              f0, &pick);
    }
    if (st) goto done;
    int tried = r->probed + r->skipped;
    r->passed = r->probed > 0 && r->worst_error <= 1.0 &&
                r->skipped <= (int)(TG_GRADCHECK_MAX_SKIP_SHARE * tried) && !c->use_error;
    if (c->use_error)
        snprintf(r->report, sizeof r->report,
                 "gradcheck FAILED: op '%s' declares (backward_use) that its backward does not "
                 "read some values, but poisoning them changed the gradient of '%s'",
                 c->out->op->name, c->use_error);
    else if (r->probed == 0)
        snprintf(r->report, sizeof r->report, "gradcheck: nothing was probed (%d skipped on kinks)",
                 r->skipped);
    else
        snprintf(r->report, sizeof r->report,
                 "gradcheck %s: worst error %.3g (1 = tolerance) at %s[%lld]: analytic %.6g, "
                 "numeric %.6g; %d probed, %d skipped on kinks (at most %d allowed)",
                 r->passed ? "passed" : "FAILED", r->worst_error, r->worst_tensor,
                 (long long)r->worst_index, r->analytic, r->numeric, r->probed, r->skipped,
                 (int)(TG_GRADCHECK_MAX_SKIP_SHARE * tried));
done:
    if (grads)
        for (int i = 0; i < n_nodes; i++) free(grads[i]);
    free(grads);
    if (state_copy) memcpy(state, state_copy, (size_t)n_state * sizeof(float));
    free(state_copy);
    *tg_graph_rng(g) = c->rng0;
    return st;
}

static void fill_opts(tg_gradcheck_opts *o, const tg_gradcheck_opts *given, const tg_op *op) {
    *o = given ? *given : tg_gradcheck_defaults(1);
    if (o->eps <= 0) o->eps = op && op->gc_eps > 0 ? op->gc_eps : DEFAULT_EPS;
    if (o->rtol <= 0) o->rtol = op && op->gc_tol > 0 ? op->gc_tol : DEFAULT_RTOL;
    if (o->atol <= 0) o->atol = DEFAULT_ATOL;
    if (o->max_probes <= 0) o->max_probes = DEFAULT_PROBES;
}

tg_status tg_gradcheck_graph(tg_graph *g, tg_node *loss, const tg_gradcheck_opts *opts,
                             tg_gradcheck_result *result) {
    char buf[64];
    if (!g || !loss || !result)
        return tg_error(TG_ERR_INVALID, "tg_gradcheck_graph: NULL argument");
    if (tg_shape_numel(&loss->value.shape) != 1)
        return tg_error(TG_ERR_SHAPE, "tg_gradcheck_graph: '%s' must be a scalar, has shape %s",
                        loss->name, tg_shape_str(&loss->value.shape, buf, sizeof buf));
    checker c = {.g = g, .out = loss, .r = result};
    fill_opts(&c.o, opts, NULL);
    float one = 1.0f;
    c.seed_grad = &one;
    return run_check(&c);
}

tg_status tg_gradcheck_op(const char *op_name, const char *input_shapes, const char *attrs,
                          const tg_gradcheck_opts *opts, tg_gradcheck_result *result) {
    const tg_op *op = tg_op_find(op_name);
    if (!result) return tg_error(TG_ERR_INVALID, "tg_gradcheck_op: result is NULL");
    if (!op) return tg_error(TG_ERR_UNKNOWN, "gradcheck: unknown op '%s'", op_name ? op_name : "");
    checker c = {.r = result};
    fill_opts(&c.o, opts, op);

    /* Parse "4x3;4x3" into the data input shapes. */
    tg_shape shapes[TG_MAX_INPUTS];
    int n_in = 0;
    char text[256];
    snprintf(text, sizeof text, "%s", input_shapes ? input_shapes : "");
    for (char *save = NULL, *tok = strtok_r(text, ";", &save); tok;
         tok = strtok_r(NULL, ";", &save)) {
        if (n_in == TG_MAX_INPUTS)
            return tg_error(TG_ERR_SHAPE, "gradcheck %s: too many input shapes", op->name);
        if (tg_shape_parse(tok, &shapes[n_in]))
            return tg_error_context(TG_ERR_SHAPE, "gradcheck %s: ", op->name);
        n_in++;
    }
    if (n_in != op->n_inputs)
        return tg_error(TG_ERR_SHAPE, "gradcheck %s: the op takes %d input shapes, got %d ('%s')",
                        op->name, op->n_inputs, n_in, input_shapes ? input_shapes : "");

    tg_graph *g = tg_graph_new(c.o.seed);
    double *weights = NULL;
    tg_status st = TG_OK;
    if (!g) return TG_ERR_NOMEM;
    tg_graph_set_training(g, !c.o.eval_mode);
    tg_rng data;
    tg_rng_seed(&data, c.o.seed + 1);
    tg_node *inputs[TG_MAX_INPUTS];
    for (int i = 0; i < n_in; i++) {
        char name[16];
        snprintf(name, sizeof name, "in%d", i);
        inputs[i] = tg_graph_input(g, name, shapes[i]);
        if (!inputs[i]) {
            st = TG_ERR_SHAPE;
            goto done;
        }
        float *x = tg_node_data(inputs[i]);
        int64_t n = tg_shape_numel(&shapes[i]);
        for (int64_t k = 0; k < n; k++) {
            switch (op->input_kind[i]) {
            case TG_IN_LABEL:
                x[k] = (float)tg_rng_below(&data, 2);
                break;
            case TG_IN_POSITIVE:
                x[k] = tg_rng_uniform_range(&data, 0.05f, 2.0f);
                break;
            case TG_IN_REAL:
                x[k] = tg_rng_uniform_range(&data, -1.0f, 1.0f);
                break;
            }
        }
        tg_node_set_requires_grad(inputs[i], op->input_kind[i] != TG_IN_LABEL);
    }
    c.g = g;
    c.out = tg_graph_op(g, op->name, "op", attrs, inputs, n_in);
    if (!c.out) {
        st = tg_error_context(TG_ERR_INVALID, "gradcheck %s: ", op->name);
        goto done;
    }
    int64_t n_out = tg_shape_numel(tg_node_shape(c.out));
    weights = malloc((size_t)n_out * sizeof(double));
    c.seed_grad = malloc((size_t)n_out * sizeof(float));
    if (!weights || !c.seed_grad) {
        st = tg_error(TG_ERR_NOMEM, "gradcheck: out of memory");
        goto done;
    }
    for (int64_t k = 0; k < n_out; k++) {
        c.seed_grad[k] = tg_rng_uniform_range(&data, -1.0f, 1.0f);
        weights[k] = c.seed_grad[k];
    }
    c.weights = weights;
    st = run_check(&c);
    if (!st && !op->backward) {
        result->passed = 0;
        snprintf(result->report, sizeof result->report, "op '%s' has no backward", op->name);
    }
done:
    free(weights);
    free(c.seed_grad);
    tg_graph_free(g);
    return st;
}
