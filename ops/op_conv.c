/* conv2d: 2-D convolution (cross-correlation, as in PyTorch and Keras) by
 * im2col + cblas_sgemm, one image at a time, with a fused bias and activation.
 *   x: (N, C, H, W)   weight: (F, C, K, K)   bias: (F)   y: (N, F, Ho, Wo)
 *
 * Memory: the im2col buffer (C*K*K, Ho*Wo) is per image and lives in the graph's
 * scratch, so it is recomputed in backward rather than kept: keeping it for a
 * 32->32 conv at 150x150, batch 16, would cost 415 MB per node, and recomputing
 * it is one memory pass beside a GEMM of C*K*K multiply-adds per output.
 * Threading: im2col, col2im and the bias/activation loops are OpenMP; the GEMMs
 * are OpenBLAS's, always called outside any parallel region. */
#include <cblas.h>
#include <math.h>
#include <string.h>

#include "tg_builtin_ops.h"
#include "tg_im2col.h"
#include "tg_op_util.h"

enum { A_FILTERS, A_KERNEL, A_STRIDE, A_PAD, A_PADDING, A_BIAS, A_ACT };
enum { P_WEIGHT, P_BIAS };

static const tg_attr_spec conv2d_attrs[] = {
    {"filters", TG_ATTR_INT, NULL, 1, 1 << 20, NULL, "output channels F"},
    {"kernel", TG_ATTR_INT, NULL, 1, 1024, NULL, "square kernel size K"},
    {"stride", TG_ATTR_INT, "1", 1, 1024, NULL, "step of the window, both axes"},
    {"pad", TG_ATTR_ENUM, "same", 0, 0, TG_PAD_CHOICES,
     "same: TensorFlow/Keras SAME (output ceil(H/stride), odd extra pad bottom/right); "
     "valid: no padding"},
    {"padding", TG_ATTR_INT, "-1", -1, 1024, NULL,
     "explicit zero padding on every side (PyTorch padding=); overrides pad when >= 0"},
    {"bias", TG_ATTR_BOOL, "true", 0, 0, NULL, "add a learnable bias per filter"},
    {"act", TG_ATTR_ENUM, "none", 0, 0, TG_ACT_CHOICES, "activation applied to the output"},
};

static const tg_param_spec conv2d_params[] = {
    {"weight", TG_INIT_GLOROT_UNIFORM, 0},
    {"bias", TG_INIT_ZEROS, 0},
};

static tg_status conv2d_geom(const tg_node *n, const tg_shape *x, tg_conv_geom *g) {
    if (x->ndim != 4) return tg_shape_error("conv2d input", "(N, C, H, W)", x);
    return tg_conv_geom_init(g, "kernel", (int)x->dim[1], (int)x->dim[2], (int)x->dim[3],
                             (int)TG_ATTR_I(n, A_KERNEL), (int)TG_ATTR_I(n, A_STRIDE),
                             (tg_pad)TG_ATTR_I(n, A_PAD), (int)TG_ATTR_I(n, A_PADDING));
}

/* A 1x1, stride-1, unpadded conv reads the image itself as its im2col matrix. */
static int conv2d_direct(const tg_conv_geom *g) {
    return g->k == 1 && g->stride == 1 && g->pt == 0 && g->pl == 0;
}

static tg_status conv2d_infer(const tg_node *n, const tg_shape *in, tg_shape *out,
                              tg_shape *params) {
    tg_conv_geom g;
    tg_status st = conv2d_geom(n, &in[0], &g);
    if (st) return st;
    int64_t f = TG_ATTR_I(n, A_FILTERS), k = TG_ATTR_I(n, A_KERNEL);
    *out = tg_shape4(in[0].dim[0], f, g.ho, g.wo);
    params[P_WEIGHT] = tg_shape4(f, in[0].dim[1], k, k);
    if (TG_ATTR_I(n, A_BIAS)) params[P_BIAS] = tg_shape1(f);
    return TG_OK;
}

/* Scratch: the im2col matrix of one image (also reused for d col in backward),
 * then d(pre-activation) of one image when an activation is fused. */
static size_t conv2d_scratch(const tg_node *n) {
    tg_conv_geom g;
    if (conv2d_geom(n, &n->inputs[0]->value.shape, &g)) return 0;
    size_t p = (size_t)g.ho * g.wo, rows = (size_t)g.c * g.k * g.k;
    size_t dz = TG_ATTR_I(n, A_ACT) == TG_ACT_NONE ? 0 : (size_t)TG_ATTR_I(n, A_FILTERS) * p;
    return (rows * p + dz) * sizeof(float);
}

/* The activation on one row, serially: these run inside our parallel loops, where the
 * threaded tg_act_forward/backward would open nested regions. Same formulas. */
static void act_row(tg_act act, float *y, int64_t p) {
    switch (act) {
    case TG_ACT_NONE: break;
    case TG_ACT_RELU:
#pragma omp simd
        for (int64_t j = 0; j < p; j++) y[j] = y[j] > 0.0f ? y[j] : 0.0f;
        break;
    case TG_ACT_SIGMOID:
        for (int64_t j = 0; j < p; j++) y[j] = 1.0f / (1.0f + expf(-y[j]));
        break;
    case TG_ACT_TANH:
        for (int64_t j = 0; j < p; j++) y[j] = tanhf(y[j]);
        break;
    }
}

/* dz = dy * act'(z), from the output y (see tg_act_backward). */
static void act_grad_row(tg_act act, const float *y, const float *dy, float *dz, int64_t p) {
    switch (act) {
    case TG_ACT_NONE:
        for (int64_t j = 0; j < p; j++) dz[j] = dy[j];
        break;
    case TG_ACT_RELU:
#pragma omp simd
        for (int64_t j = 0; j < p; j++) dz[j] = y[j] > 0.0f ? dy[j] : 0.0f;
        break;
    case TG_ACT_SIGMOID:
#pragma omp simd
        for (int64_t j = 0; j < p; j++) dz[j] = dy[j] * y[j] * (1.0f - y[j]);
        break;
    case TG_ACT_TANH:
#pragma omp simd
        for (int64_t j = 0; j < p; j++) dz[j] = dy[j] * (1.0f - y[j] * y[j]);
        break;
    }
}

/* y (F, P) = act(y + b) for one image, while it is still in cache; b may be NULL. */
static void bias_act(float *y, const float *b, tg_act act, int f, int64_t p) {
#pragma omp parallel for schedule(static) if ((int64_t)f * p > TG_PAR_MIN)
    for (int i = 0; i < f; i++) {
        float *yi = y + (int64_t)i * p;
        if (b) {
            const float bi = b[i];
#pragma omp simd
            for (int64_t j = 0; j < p; j++) yi[j] += bi;
        }
        act_row(act, yi, p);
    }
}

/* dz (F, P) = dy * act'(y) and db (F) += its row sums, one pass, one writer per row.
 * With no activation dz is dy itself and only the sums are taken. */
static void dz_and_bias(const float *y, const float *dy, float *dz, float *db, tg_act act, int f,
                        int64_t p) {
#pragma omp parallel for schedule(static) if ((int64_t)f * p > TG_PAR_MIN)
    for (int i = 0; i < f; i++) {
        const float *row = dy + (int64_t)i * p;
        if (act != TG_ACT_NONE) {
            act_grad_row(act, y + (int64_t)i * p, row, dz + (int64_t)i * p, p);
            row = dz + (int64_t)i * p;
        }
        if (db) {
            float acc = 0.0f;
#pragma omp simd reduction(+ : acc)
            for (int64_t j = 0; j < p; j++) acc += row[j];
            db[i] += acc;
        }
    }
}

static tg_status conv2d_forward(tg_node *n) {
    tg_conv_geom g;
    tg_status st = conv2d_geom(n, &n->inputs[0]->value.shape, &g);
    if (st) return st;
    const int batch = (int)n->value.shape.dim[0], f = (int)TG_ATTR_I(n, A_FILTERS);
    const int p = g.ho * g.wo, rows = g.c * g.k * g.k;
    const int64_t in_img = (int64_t)g.c * g.h * g.w, out_img = (int64_t)f * p;
    const float *x = tg_in(n, 0), *w = n->params[P_WEIGHT]->value.data;
    const float *b = n->params[P_BIAS] ? n->params[P_BIAS]->value.data : NULL;
    float *col = n->scratch, *y = n->value.data;
    for (int i = 0; i < batch; i++) {
        const float *xi = x + i * in_img, *ci = xi;
        float *yi = y + i * out_img;
        if (!conv2d_direct(&g)) {
            tg_im2col(&g, xi, col);
            ci = col;
        }
        /* y_i (F, P) = w (F, CKK) . col (CKK, P) */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, f, p, rows, 1.0f, w, rows, ci, p,
                    0.0f, yi, p);
        if (b || TG_ATTR_I(n, A_ACT) != TG_ACT_NONE) bias_act(yi, b, (tg_act)TG_ATTR_I(n, A_ACT), f, p);
    }
    return TG_OK;
}

static tg_status conv2d_backward(tg_node *n) {
    tg_conv_geom g;
    tg_status st = conv2d_geom(n, &n->inputs[0]->value.shape, &g);
    if (st) return st;
    const int batch = (int)n->value.shape.dim[0], f = (int)TG_ATTR_I(n, A_FILTERS);
    const int p = g.ho * g.wo, rows = g.c * g.k * g.k;
    const int64_t in_img = (int64_t)g.c * g.h * g.w, out_img = (int64_t)f * p;
    const tg_act act = (tg_act)TG_ATTR_I(n, A_ACT);
    const float *x = tg_in(n, 0), *w = n->params[P_WEIGHT]->value.data;
    float *dx = tg_din(n, 0), *dw = tg_dparam(n, P_WEIGHT);
    float *db = n->params[P_BIAS] ? tg_dparam(n, P_BIAS) : NULL;
    float *col = n->scratch, *dzbuf = col + (size_t)rows * p;
    const int direct = conv2d_direct(&g);
    for (int i = 0; i < batch; i++) {
        const float *dz = n->grad.data + i * out_img;
        if (act != TG_ACT_NONE || db) {
            dz_and_bias(n->value.data + i * out_img, dz, dzbuf, db, act, f, p);
            if (act != TG_ACT_NONE) dz = dzbuf;
        }
        if (dw) {
            /* dw (F, CKK) += dz (F, P) . col^T (P, CKK) */
            const float *ci = x + i * in_img;
            if (!direct) {
                tg_im2col(&g, ci, col);
                ci = col;
            }
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, f, rows, p, 1.0f, dz, p, ci, p,
                        1.0f, dw, rows);
        }
        if (dx) {
            float *dxi = dx + i * in_img;
            /* d col (CKK, P) = w^T (CKK, F) . dz (F, P); a direct conv adds straight into dx */
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, rows, p, f, 1.0f, w, rows, dz, p,
                        direct ? 1.0f : 0.0f, direct ? dxi : col, p);
            if (!direct) tg_col2im_add(&g, col, dxi);
        }
    }
    return TG_OK;
}

static double conv2d_flops(const tg_node *n) {
    const tg_shape *x = &n->inputs[0]->value.shape, *y = &n->value.shape;
    double k = (double)TG_ATTR_I(n, A_KERNEL);
    return 2.0 * (double)tg_shape_numel(y) * (double)x->dim[1] * k * k;
}

const tg_op tg_op_conv2d = {
    .name = "conv2d",
    .doc = "2-D convolution with optional bias and fused activation (im2col + GEMM)",
    .formula = "y[n,f,oh,ow] = act(b[f] + sum_{c,kh,kw} w[f,c,kh,kw] x[n,c,oh*s-pt+kh,ow*s-pl+kw]) "
               "(x = 0 in the padding); backward: dW = dz col^T, dx = col2im(W^T dz), db = sum dz, "
               "dz = dy * act'(y)",
    .n_inputs = 1,
    .attrs = conv2d_attrs,
    .n_attrs = 7,
    .params = conv2d_params,
    .n_params = 2,
    .infer = conv2d_infer,
    .forward = conv2d_forward,
    .backward = conv2d_backward,
    .scratch_bytes = conv2d_scratch,
    .flops = conv2d_flops,
    .examples = {{"2x3x5x5", "filters=4 kernel=3"},
                 {"3x2x7x6", "filters=3 kernel=3 stride=2 pad=valid act=tanh"},
                 {"2x3x7x7", "filters=2 kernel=3 stride=2 pad=same act=relu"},
                 {"2x2x6x5", "filters=3 kernel=2 stride=2 pad=same bias=false act=sigmoid"},
                 {"2x4x5x5", "filters=3 kernel=1"},
                 {"2x2x5x4", "filters=2 kernel=3 padding=2 stride=2"},
                 {"1x3x4x4", "filters=2 kernel=4 pad=valid"}},
};
