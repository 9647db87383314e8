/* Activations: relu, sigmoid and tanh as ops, and the act= helpers that dense,
 * conv2d and sepconv2d fuse into their output. */
#include <math.h>
#include <stdio.h>

#include "ops/tg_builtin_ops.h"
#include "ops/tg_op_util.h"

void tg_act_forward(tg_act act, float *y, int64_t n) {
    switch (act) {
    case TG_ACT_NONE:
        break;
    case TG_ACT_RELU:
#pragma omp parallel for simd if (n > TG_PAR_MIN)
        for (int64_t i = 0; i < n; i++) y[i] = y[i] > 0.0f ? y[i] : 0.0f;
        break;
    case TG_ACT_SIGMOID:
#pragma omp parallel for if (n > TG_PAR_MIN)
        for (int64_t i = 0; i < n; i++) y[i] = 1.0f / (1.0f + expf(-y[i]));
        break;
    case TG_ACT_TANH:
#pragma omp parallel for if (n > TG_PAR_MIN)
        for (int64_t i = 0; i < n; i++) y[i] = tanhf(y[i]);
        break;
    }
}

/* Write or add expr(i) into dz[i]; two loops, because 0 * dz would keep a NaN
 * from an uninitialised buffer. */
#define TG_ACT_STORE(expr)                                                                         \
    do {                                                                                           \
        if (accumulate) {                                                                          \
            _Pragma("omp parallel for simd if (n > TG_PAR_MIN)") for (int64_t i = 0; i < n; i++)   \
                dz[i] += (expr);                                                                   \
        } else {                                                                                   \
            _Pragma("omp parallel for simd if (n > TG_PAR_MIN)") for (int64_t i = 0; i < n; i++)   \
                dz[i] = (expr);                                                                    \
        }                                                                                          \
    } while (0)

tg_value_use tg_act_output_use(tg_act act) {
    return act == TG_ACT_NONE ? TG_USE_NONE : act == TG_ACT_RELU ? TG_USE_SIGN : TG_USE_VALUE;
}

/* act'(z) through y = act(z): relu' = [y > 0] (0 at the kink), sigmoid' = y(1-y), tanh' = 1-y^2 */
void tg_act_backward(tg_act act, const float *y, const float *dy, float *dz, int64_t n,
                     int accumulate) {
    switch (act) {
    case TG_ACT_NONE:
        TG_ACT_STORE(dy[i]);
        break;
    case TG_ACT_RELU:
        TG_ACT_STORE(dy[i] * (float)(y[i] > 0.0f));
        break; /* branch-free: vectorises */
    case TG_ACT_SIGMOID:
        TG_ACT_STORE(dy[i] * y[i] * (1.0f - y[i]));
        break;
    case TG_ACT_TANH:
        TG_ACT_STORE(dy[i] * (1.0f - y[i] * y[i]));
        break;
    }
}

static tg_status same_shape(const tg_node *node, const tg_shape *in, tg_shape *out,
                            tg_shape *params) {
    (void)node;
    (void)params;
    *out = in[0];
    return TG_OK;
}

static tg_act act_of(const tg_node *n) {
    return n->op == &tg_op_relu      ? TG_ACT_RELU
           : n->op == &tg_op_sigmoid ? TG_ACT_SIGMOID
                                     : TG_ACT_TANH;
}

static tg_status act_forward(tg_node *n) {
    int64_t len = tg_numel(&n->value);
    const float *x = tg_in(n, 0);
    float *y = n->value.data;
    for (int64_t i = 0; i < len; i++) y[i] = x[i];
    tg_act_forward(act_of(n), y, len);
    return TG_OK;
}

static tg_status act_backward(tg_node *n) {
    float *dx = tg_din(n, 0);
    if (dx) tg_act_backward(act_of(n), n->value.data, n->grad.data, dx, tg_numel(&n->value), 1);
    return TG_OK;
}

/* Backward reads its output (relu: only the sign), never its input. */
static tg_value_use act_use(const tg_node *n, int input) {
    return input < 0 ? tg_act_output_use(act_of(n)) : TG_USE_NONE;
}

static double act_flops(const tg_node *n) {
    return (double)tg_numel(&n->value);
}

#define ACT_EXAMPLES                                                                               \
    {                                                                                              \
        {"4x7", ""}, {"3x2x5x5", ""}, {                                                            \
            "1x9", ""                                                                              \
        }                                                                                          \
    }

const tg_op tg_op_relu = {
    .name = "relu",
    .doc = "rectified linear unit, elementwise",
    .formula = "y = max(0, x); dy/dx = 1 where x > 0, 0 elsewhere (0 at x = 0)",
    .n_inputs = 1,
    .infer = same_shape,
    .forward = act_forward,
    .backward = act_backward,
    .flops = act_flops,
    .backward_use = act_use,
    .examples = ACT_EXAMPLES,
};

const tg_op tg_op_sigmoid = {
    .name = "sigmoid",
    .doc = "logistic sigmoid, elementwise",
    .formula = "y = 1 / (1 + exp(-x)); dy/dx = y (1 - y)",
    .n_inputs = 1,
    .infer = same_shape,
    .forward = act_forward,
    .backward = act_backward,
    .flops = act_flops,
    .backward_use = act_use,
    .examples = ACT_EXAMPLES,
};

const tg_op tg_op_tanh = {
    .name = "tanh",
    .doc = "hyperbolic tangent, elementwise",
    .formula = "y = tanh(x); dy/dx = 1 - y^2",
    .n_inputs = 1,
    .infer = same_shape,
    .forward = act_forward,
    .backward = act_backward,
    .flops = act_flops,
    .backward_use = act_use,
    .examples = ACT_EXAMPLES,
};
