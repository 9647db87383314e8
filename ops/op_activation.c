/* Activations: relu, sigmoid and tanh as ops, and the act= helpers that dense,
 * conv2d and sepconv2d fuse into their output. */
#include <math.h>
#include <stdio.h>

#include "autograd/tg_cpu.h"
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
    return act == TG_ACT_NONE ? TG_USE_NONE : act == TG_ACT_RELU ? TG_USE_SIGN_BITS : TG_USE_VALUE;
}

/* Eight lanes: the bits' mask and the floats it selects (GCC's vector extension,
 * which the target clones compile to AVX2 or AVX-512 and the baseline to SSE). */
typedef int32_t bits_i8 __attribute__((vector_size(32), aligned(4), may_alias));
typedef float bits_f8 __attribute__((vector_size(32), aligned(4), may_alias));

/* The eight floats at x where bit k of `byte` is set, +0 elsewhere (what y > 0 ? dy : 0
 * gives): the byte broadcast, tested against each lane's bit, the mask and-ed in. */
static const bits_i8 lane_bits = {1, 2, 4, 8, 16, 32, 64, 128};
#define SELECT_BY_BITS(x, byte)                                                                    \
    ((bits_f8)(*(const bits_i8 *)(x) & ((((bits_i8){0} + (byte)) & lane_bits) != 0)))

TG_HOT void tg_relu_grad_bits(const uint8_t *bits, int64_t first, const float *dy, float *dz,
                              int64_t n, int accumulate) {
    int64_t j = 0;
    /* up to the first whole byte, the whole bytes eight lanes at a time, the rest */
    for (; j < n && (first + j) % 8; j++) {
        const float g = (bits[(first + j) / 8] >> ((first + j) % 8)) & 1 ? dy[j] : 0.0f;
        dz[j] = accumulate ? dz[j] + g : g;
    }
    const uint8_t *b = bits + (first + j) / 8;
    const int64_t bytes = (n - j) / 8;
    if (accumulate)
        for (int64_t k = 0; k < bytes; k++)
            *(bits_f8 *)(dz + j + 8 * k) += SELECT_BY_BITS(dy + j + 8 * k, b[k]);
    else
        for (int64_t k = 0; k < bytes; k++)
            *(bits_f8 *)(dz + j + 8 * k) = SELECT_BY_BITS(dy + j + 8 * k, b[k]);
    for (j += 8 * bytes; j < n; j++) {
        const float g = (bits[(first + j) / 8] >> ((first + j) % 8)) & 1 ? dy[j] : 0.0f;
        dz[j] = accumulate ? dz[j] + g : g;
    }
}

/* act'(z) through y = act(z): relu' = [y > 0] (0 at the kink), sigmoid' = y(1-y), tanh' = 1-y^2 */
void tg_act_backward(const tg_node *node, tg_act act, const float *dy, float *dz, int64_t n,
                     int accumulate) {
    const float *y = node->value.data;
    const uint8_t *bits = act == TG_ACT_RELU ? tg_node_sign_bits(node) : NULL;
    if (bits) { /* in pieces of whole bytes, shared among the threads */
        const int64_t piece = 65536;
#pragma omp parallel for schedule(static) if (n > TG_PAR_MIN)
        for (int64_t i0 = 0; i0 < n; i0 += piece)
            tg_relu_grad_bits(bits, i0, dy + i0, dz + i0, n - i0 < piece ? n - i0 : piece,
                              accumulate);
        return;
    }
    switch (act) {
    case TG_ACT_NONE:
        TG_ACT_STORE(dy[i]);
        break;
    case TG_ACT_RELU:
        TG_ACT_STORE(y[i] > 0.0f ? dy[i] : 0.0f);
        break; /* dy loaded unconditionally: vectorises */
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
    if (dx) tg_act_backward(n, act_of(n), n->grad.data, dx, tg_numel(&n->value), 1);
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
