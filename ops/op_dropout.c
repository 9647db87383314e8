/* dropout: inverted dropout. In train mode each element is kept with probability
 * 1 - rate and scaled by 1/(1 - rate), so eval mode is the identity and expected
 * activations match between the modes (Keras Dropout, PyTorch nn.Dropout).
 *   x: (N, ...) -> y: same shape
 * The mask is drawn from the graph's RNG, element by element in order, so a seed
 * fixes it whatever the thread count; it is saved for backward. */
#include "ops/tg_builtin_ops.h"
#include "ops/tg_op_util.h"

enum { A_RATE };

static const tg_attr_spec dropout_attrs[] = {
    {"rate", TG_ATTR_FLOAT, NULL, 0, 0.99999, NULL, "probability of zeroing an element, in [0, 1)"},
};

static tg_status dropout_infer(const tg_node *n, const tg_shape *in, tg_shape *out,
                               tg_shape *params) {
    (void)n;
    (void)params;
    *out = in[0];
    return TG_OK;
}

/* Saved: the mask (0 or 1/(1 - rate)) per element, then the mode (1 = train). */
static size_t dropout_saved(const tg_node *n) {
    return (size_t)(tg_numel(&n->value) + 1) * sizeof(float);
}

static tg_status dropout_forward(tg_node *n) {
    const int64_t len = tg_numel(&n->value);
    const double rate = TG_ATTR_F(n, A_RATE);
    const int train = tg_graph_training(n->graph) && rate > 0.0;
    const float *x = tg_in(n, 0);
    float *y = n->value.data, *mask = n->saved;
    mask[len] = (float)train;
    if (!train) {
        for (int64_t i = 0; i < len; i++) y[i] = x[i];
        return TG_OK;
    }
    /* A 32-bit uniform per element: two per RNG draw. Keep when u >= rate * 2^32. */
    tg_rng *rng = tg_graph_rng(n->graph);
    const uint64_t cut = (uint64_t)(rate * 4294967296.0);
    const float scale = (float)(1.0 / (1.0 - rate));
    for (int64_t i = 0; i < len; i += 2) {
        uint64_t r = tg_rng_u64(rng);
        mask[i] = (r & 0xffffffffu) >= cut ? scale : 0.0f;
        if (i + 1 < len) mask[i + 1] = (r >> 32) >= cut ? scale : 0.0f;
    }
#pragma omp parallel for simd if (len > TG_PAR_MIN)
    for (int64_t i = 0; i < len; i++) y[i] = x[i] * mask[i];
    return TG_OK;
}

static tg_status dropout_backward(tg_node *n) {
    float *dx = tg_din(n, 0);
    if (!dx) return TG_OK;
    const int64_t len = tg_numel(&n->value);
    const float *dy = n->grad.data, *mask = n->saved;
    if (mask[len] == 0.0f) {
        tg_axpy_add(dx, dy, 1.0f, len);
        return TG_OK;
    }
#pragma omp parallel for simd if (len > TG_PAR_MIN)
    for (int64_t i = 0; i < len; i++) dx[i] += dy[i] * mask[i];
    return TG_OK;
}

static double dropout_flops(const tg_node *n) {
    return (double)tg_numel(&n->value);
}

const tg_op tg_op_dropout = {
    .name = "dropout",
    .doc = "inverted dropout: zero with probability rate, scale the rest by 1/(1-rate); "
           "identity in eval mode",
    .formula = "train: y = x m / (1 - rate), m ~ Bernoulli(1 - rate) from the graph RNG; "
               "eval: y = x; backward: dx += dy m / (1 - rate) (train), dx += dy (eval)",
    .n_inputs = 1,
    .attrs = dropout_attrs,
    .n_attrs = 1,
    .infer = dropout_infer,
    .forward = dropout_forward,
    .backward = dropout_backward,
    .saved_bytes = dropout_saved,
    .flops = dropout_flops,
    .examples = {{"4x6", "rate=0.5"}, {"2x3x4x4", "rate=0.3"}, {"3x5", "rate=0.5", 1}},
};
