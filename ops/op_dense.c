/* dense: a fully connected layer with a fused activation, by tg_sgemm (OpenBLAS).
 *   x: (N, D) (or (N, ...) read as (N, D))   weight: (U, D)   bias: (U)   y: (N, U) */
#include "autograd/tg_blas.h"
#include <stdio.h>
#include <string.h>

#include "ops/tg_builtin_ops.h"
#include "ops/tg_op_util.h"

enum { A_UNITS, A_ACT, A_BIAS };
enum { P_WEIGHT, P_BIAS };

static const tg_attr_spec dense_attrs[] = {
    {"units", TG_ATTR_INT, NULL, 1, 1 << 24, NULL, "output features U"},
    {"act", TG_ATTR_ENUM, "none", 0, 0, TG_ACT_CHOICES, "activation applied to the output"},
    {"bias", TG_ATTR_BOOL, "true", 0, 0, NULL, "add a learnable bias"},
    {"init", TG_ATTR_ENUM, "glorot_uniform", 0, 0, TG_INIT_CHOICES,
     "initialiser of the weights: Glorot (Keras' default) or He (for ReLU towers)"},
};

static const tg_param_spec dense_params[] = {
    {"weight", TG_INIT_GLOROT_UNIFORM, 0},
    {"bias", TG_INIT_ZEROS, 0},
};

static tg_status dense_infer(const tg_node *n, const tg_shape *in, tg_shape *out,
                             tg_shape *params) {
    int64_t batch = in[0].dim[0], d = tg_shape_item_numel(&in[0]), units = TG_ATTR_I(n, A_UNITS);
    if (in[0].ndim < 2) return tg_shape_error("input", "(N, D) or (N, C, H, W)", &in[0]);
    *out = tg_shape2(batch, units);
    params[P_WEIGHT] = tg_shape2(units, d);
    if (TG_ATTR_I(n, A_BIAS)) params[P_BIAS] = tg_shape1(units);
    return TG_OK;
}

static size_t dense_scratch(const tg_node *n) {
    /* d(pre-activation): only needed when an activation sits between. */
    return TG_ATTR_I(n, A_ACT) == TG_ACT_NONE ? 0 : (size_t)tg_numel(&n->value) * sizeof(float);
}

static tg_status dense_forward(tg_node *n) {
    const tg_shape *s = &n->inputs[0]->value.shape;
    int batch = (int)s->dim[0], d = (int)tg_shape_item_numel(s), units = (int)TG_ATTR_I(n, A_UNITS);
    const float *x = tg_in(n, 0), *w = n->params[P_WEIGHT]->value.data;
    float *y = n->value.data;
    if (n->params[P_BIAS]) {
        const float *b = n->params[P_BIAS]->value.data;
        for (int i = 0; i < batch; i++)
            memcpy(y + (size_t)i * units, b, (size_t)units * sizeof(float));
    }
    /* y (N,U) = x (N,D) . w^T (D,U) [+ y holding the bias] */
    tg_sgemm(CblasNoTrans, CblasTrans, batch, units, d, 1.0f, x, d, w, d,
             n->params[P_BIAS] ? 1.0f : 0.0f, y, units);
    tg_act_forward((tg_act)TG_ATTR_I(n, A_ACT), y, (int64_t)batch * units);
    return TG_OK;
}

static tg_status dense_backward(tg_node *n) {
    const tg_shape *s = &n->inputs[0]->value.shape;
    int batch = (int)s->dim[0], d = (int)tg_shape_item_numel(s), units = (int)TG_ATTR_I(n, A_UNITS);
    tg_act act = (tg_act)TG_ATTR_I(n, A_ACT);
    const float *dz = n->grad.data;
    if (act != TG_ACT_NONE) {
        float *buf = n->scratch;
        tg_act_backward(n, act, n->grad.data, buf, (int64_t)batch * units, 0);
        dz = buf;
    }
    float *dw = tg_dparam(n, P_WEIGHT), *db = n->params[P_BIAS] ? tg_dparam(n, P_BIAS) : NULL;
    float *dx = tg_din(n, 0);
    /* dw (U,D) += dz^T (U,N) . x (N,D) */
    if (dw)
        tg_sgemm(CblasTrans, CblasNoTrans, units, d, batch, 1.0f, dz, units, tg_in(n, 0), d, 1.0f,
                 dw, d);
    if (db)
        for (int i = 0; i < batch; i++)
            for (int u = 0; u < units; u++) db[u] += dz[(size_t)i * units + u];
    /* dx (N,D) += dz (N,U) . w (U,D) */
    if (dx)
        tg_sgemm(CblasNoTrans, CblasNoTrans, batch, d, units, 1.0f, dz, units,
                 n->params[P_WEIGHT]->value.data, d, 1.0f, dx, d);
    return TG_OK;
}

static double dense_flops(const tg_node *n) {
    const tg_shape *s = &n->inputs[0]->value.shape;
    return 2.0 * (double)s->dim[0] * (double)tg_shape_item_numel(s) * (double)TG_ATTR_I(n, A_UNITS);
}

/* Backward reads the input in full (dW), its output only through act. */
static tg_value_use dense_use(const tg_node *n, int input) {
    return input < 0 ? tg_act_output_use((tg_act)TG_ATTR_I(n, A_ACT)) : TG_USE_VALUE;
}

const tg_op tg_op_dense = {
    .name = "dense",
    .doc = "fully connected layer with optional bias and fused activation",
    .formula = "y = act(x W^T + b); x: (N,D), W: (U,D), b: (U), y: (N,U); "
               "inputs of rank > 2 are read as (N, C*H*W)",
    .n_inputs = 1,
    .attrs = dense_attrs,
    .n_attrs = 4,
    .params = dense_params,
    .n_params = 2,
    .infer = dense_infer,
    .forward = dense_forward,
    .backward = dense_backward,
    .scratch_bytes = dense_scratch,
    .flops = dense_flops,
    .backward_use = dense_use,
    .examples = {{"4x6", "units=3"},
                 {"3x5", "units=4 act=tanh"},
                 {"2x3x2x2", "units=2 act=sigmoid bias=false"},
                 {"5x4", "units=3 act=relu"}},
};
