/* Elementwise binary ops on equal shapes (add, sub, mul) and scale by a constant. */
#include <stdio.h>

#include "ops/tg_builtin_ops.h"
#include "ops/tg_op_util.h"

static tg_status binary_infer(const tg_node *n, const tg_shape *in, tg_shape *out,
                              tg_shape *params) {
    (void)params;
    char a[64], b[64];
    if (!tg_shape_equal(&in[0], &in[1]))
        return tg_error(TG_ERR_SHAPE, "%s needs inputs of equal shape, got %s and %s", n->op->name,
                        tg_shape_str(&in[0], a, sizeof a), tg_shape_str(&in[1], b, sizeof b));
    *out = in[0];
    return TG_OK;
}

static tg_status add_forward(tg_node *n) {
    const float *a = tg_in(n, 0), *b = tg_in(n, 1);
    float *y = n->value.data;
    int64_t len = tg_numel(&n->value);
    int sign = n->op == &tg_op_sub ? -1 : 1;
#pragma omp parallel for simd if (len > TG_PAR_MIN)
    for (int64_t i = 0; i < len; i++) y[i] = a[i] + (float)sign * b[i];
    return TG_OK;
}

static tg_status add_backward(tg_node *n) {
    int64_t len = tg_numel(&n->value);
    float *da = tg_din(n, 0), *db = tg_din(n, 1);
    if (da) tg_axpy_add(da, n->grad.data, 1.0f, len);
    if (db) tg_axpy_add(db, n->grad.data, n->op == &tg_op_sub ? -1.0f : 1.0f, len);
    return TG_OK;
}

static tg_status mul_forward(tg_node *n) {
    const float *a = tg_in(n, 0), *b = tg_in(n, 1);
    float *y = n->value.data;
    int64_t len = tg_numel(&n->value);
#pragma omp parallel for simd if (len > TG_PAR_MIN)
    for (int64_t i = 0; i < len; i++) y[i] = a[i] * b[i];
    return TG_OK;
}

static tg_status mul_backward(tg_node *n) {
    const float *a = tg_in(n, 0), *b = tg_in(n, 1), *dy = n->grad.data;
    float *da = tg_din(n, 0), *db = tg_din(n, 1);
    int64_t len = tg_numel(&n->value);
    /* With a == b (x * x) both branches add into the same buffer: correct, since
     * the two contributions are summed either way. */
    if (da)
        for (int64_t i = 0; i < len; i++) da[i] += dy[i] * b[i];
    if (db)
        for (int64_t i = 0; i < len; i++) db[i] += dy[i] * a[i];
    return TG_OK;
}

static double elementwise_flops(const tg_node *n) {
    return (double)tg_numel(&n->value);
}

#define BINARY_EXAMPLES                                                                            \
    {                                                                                              \
        {"4x5;4x5", ""}, {"2x3x4x4;2x3x4x4", ""}, {                                                \
            "7;7", ""                                                                              \
        }                                                                                          \
    }

const tg_op tg_op_add = {
    .name = "add",
    .doc = "elementwise sum of two tensors of equal shape (residual connections)",
    .formula = "y = a + b",
    .n_inputs = 2,
    .infer = binary_infer,
    .forward = add_forward,
    .backward = add_backward,
    .flops = elementwise_flops,
    .examples = BINARY_EXAMPLES,
};

const tg_op tg_op_sub = {
    .name = "sub",
    .doc = "elementwise difference of two tensors of equal shape",
    .formula = "y = a - b",
    .n_inputs = 2,
    .infer = binary_infer,
    .forward = add_forward,
    .backward = add_backward,
    .flops = elementwise_flops,
    .examples = BINARY_EXAMPLES,
};

const tg_op tg_op_mul = {
    .name = "mul",
    .doc = "elementwise product of two tensors of equal shape",
    .formula = "y = a * b; da = dy * b, db = dy * a",
    .n_inputs = 2,
    .infer = binary_infer,
    .forward = mul_forward,
    .backward = mul_backward,
    .flops = elementwise_flops,
    .examples = BINARY_EXAMPLES,
};

enum { A_ALPHA };
static const tg_attr_spec scale_attrs[] = {
    {"alpha", TG_ATTR_FLOAT, "1", -1e30, 1e30, NULL, "the constant factor"},
};

static tg_status scale_infer(const tg_node *n, const tg_shape *in, tg_shape *out,
                             tg_shape *params) {
    (void)n;
    (void)params;
    *out = in[0];
    return TG_OK;
}

static tg_status scale_forward(tg_node *n) {
    const float *x = tg_in(n, 0);
    float *y = n->value.data, alpha = (float)TG_ATTR_F(n, A_ALPHA);
    int64_t len = tg_numel(&n->value);
#pragma omp parallel for simd if (len > TG_PAR_MIN)
    for (int64_t i = 0; i < len; i++) y[i] = alpha * x[i];
    return TG_OK;
}

static tg_status scale_backward(tg_node *n) {
    float *dx = tg_din(n, 0);
    if (dx) tg_axpy_add(dx, n->grad.data, (float)TG_ATTR_F(n, A_ALPHA), tg_numel(&n->value));
    return TG_OK;
}

const tg_op tg_op_scale = {
    .name = "scale",
    .doc = "multiply by a constant",
    .formula = "y = alpha * x",
    .n_inputs = 1,
    .attrs = scale_attrs,
    .n_attrs = 1,
    .infer = scale_infer,
    .forward = scale_forward,
    .backward = scale_backward,
    .flops = elementwise_flops,
    .examples = {{"4x5", "alpha=2.5"}, {"2x3x3x3", "alpha=-0.5"}},
};
