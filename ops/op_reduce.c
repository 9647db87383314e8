/* Reductions of a whole tensor to a scalar (1): sum and mean, accumulated in
 * double so the result does not depend on the tensor's size or the thread count. */
#include "ops/tg_builtin_ops.h"
#include "ops/tg_op_util.h"

static tg_status reduce_infer(const tg_node *n, const tg_shape *in, tg_shape *out,
                              tg_shape *params) {
    (void)n;
    (void)in;
    (void)params;
    *out = tg_shape1(1);
    return TG_OK;
}

static float reduce_scale(const tg_node *n) {
    return n->op == &tg_op_mean ? 1.0f / (float)tg_numel(&n->inputs[0]->value) : 1.0f;
}

static tg_status reduce_forward(tg_node *n) {
    const float *x = tg_in(n, 0);
    int64_t len = tg_numel(&n->inputs[0]->value);
    double acc = 0.0;
    for (int64_t i = 0; i < len; i++) acc += x[i];
    n->value.data[0] = (float)(n->op == &tg_op_mean ? acc / (double)len : acc);
    return TG_OK;
}

static tg_status reduce_backward(tg_node *n) {
    float *dx = tg_din(n, 0);
    int64_t len = tg_numel(&n->inputs[0]->value);
    float g = n->grad.data[0] * reduce_scale(n);
    if (dx)
        for (int64_t i = 0; i < len; i++) dx[i] += g;
    return TG_OK;
}

static double reduce_flops(const tg_node *n) {
    return (double)tg_numel(&n->inputs[0]->value);
}

const tg_op tg_op_sum = {
    .name = "sum",
    .doc = "sum of all elements, a scalar of shape (1)",
    .formula = "y = sum_i x_i; dx_i = dy",
    .n_inputs = 1,
    .infer = reduce_infer,
    .forward = reduce_forward,
    .backward = reduce_backward,
    .flops = reduce_flops,
    .examples = {{"4x5", ""}, {"2x3x4x4", ""}},
};

const tg_op tg_op_mean = {
    .name = "mean",
    .doc = "mean of all elements, a scalar of shape (1)",
    .formula = "y = (1/n) sum_i x_i; dx_i = dy / n",
    .n_inputs = 1,
    .infer = reduce_infer,
    .forward = reduce_forward,
    .backward = reduce_backward,
    .flops = reduce_flops,
    .examples = {{"4x5", ""}, {"2x3x4x4", ""}, {"9", ""}},
};
