/* conv2d: 2-D convolution (cross-correlation, as in PyTorch and Keras) by
 * im2col + cblas_sgemm, one image at a time, with a fused bias and activation.
 *   x: (N, C, H, W)   weight: (F, C, K, K)   bias: (F)   y: (N, F, Ho, Wo)
 *
 * Memory: im2col is done for a block of output rows of one image at a time into
 * the graph's scratch, and recomputed in backward rather than kept: keeping it for
 * a 32->32 conv at 150x150, batch 16, would cost 415 MB per node, and recomputing
 * it is one memory pass beside a GEMM of C*K*K multiply-adds per output.
 * Threading: all of it is OpenBLAS's, inside the GEMMs. The passes between GEMMs
 * (im2col, col2im, bias, activation) are serial and run on cache-sized blocks,
 * where they are cheap; an OpenMP region between two GEMMs would leave libgomp's
 * workers spinning on the cores OpenBLAS's threads need (measured: 20x slower
 * with the default OMP_WAIT_POLICY; see docs/ops-conv.md, Threading). */
#include <cblas.h>

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

static int conv2d_rows_per_block(const tg_conv_geom *g, int f);

/* Scratch: the im2col matrix of one block of output rows (reused for d col in
 * backward), then d(pre-activation) of that block when an activation is fused. */
static size_t conv2d_scratch(const tg_node *n) {
    tg_conv_geom g;
    if (conv2d_geom(n, &n->inputs[0]->value.shape, &g)) return 0;
    int f = (int)TG_ATTR_I(n, A_FILTERS);
    size_t q = (size_t)conv2d_rows_per_block(&g, f) * g.wo, rows = (size_t)g.c * g.k * g.k;
    size_t dz = TG_ATTR_I(n, A_ACT) == TG_ACT_NONE ? 0 : (size_t)f * q;
    return (rows * q + dz) * sizeof(float);
}

/* Output rows per block: the im2col block and the output block of one image are
 * kept within about 4 MiB together, so that im2col's writes, the GEMM's reads and
 * the bias/activation pass hit the caches rather than memory (measured on the
 * seed's layers: 1 MiB blocks made the GEMMs too small, whole images spill). */
#define CONV_BLOCK_FLOATS (1024 * 1024)

static int conv2d_rows_per_block(const tg_conv_geom *g, int f) {
    int64_t per_row = (int64_t)(g->c * g->k * g->k + f) * g->wo;
    int64_t rb = CONV_BLOCK_FLOATS / (per_row > 0 ? per_row : 1);
    if (rb < 1) rb = 1;
    return rb > g->ho ? g->ho : (int)rb;
}

static tg_status conv2d_forward(tg_node *n) {
    tg_conv_geom g;
    tg_status st = conv2d_geom(n, &n->inputs[0]->value.shape, &g);
    if (st) return st;
    const int batch = (int)n->value.shape.dim[0], f = (int)TG_ATTR_I(n, A_FILTERS);
    const int p = g.ho * g.wo, rows = g.c * g.k * g.k, rb = conv2d_rows_per_block(&g, f);
    const int64_t in_img = (int64_t)g.c * g.h * g.w, out_img = (int64_t)f * p;
    const tg_act act = (tg_act)TG_ATTR_I(n, A_ACT);
    const float *x = tg_in(n, 0), *w = n->params[P_WEIGHT]->value.data;
    const float *b = n->params[P_BIAS] ? n->params[P_BIAS]->value.data : NULL;
    const int direct = conv2d_direct(&g);
    float *col = n->scratch, *y = n->value.data;
    for (int i = 0; i < batch; i++) {
        const float *xi = x + i * in_img;
        float *yi = y + i * out_img;
        for (int oh0 = 0; oh0 < g.ho; oh0 += rb) {
            const int oh1 = oh0 + rb < g.ho ? oh0 + rb : g.ho, q = (oh1 - oh0) * g.wo;
            const float *ci = xi + (int64_t)oh0 * g.wo; /* direct: the image is col, ld p */
            int ldc = p;
            if (!direct) {
                tg_im2col(&g, xi, oh0, oh1, col);
                ci = col;
                ldc = q;
            }
            /* y_i[:, block] (F, q) = w (F, CKK) . col (CKK, q), row stride P */
            float *yb = yi + (int64_t)oh0 * g.wo;
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, f, q, rows, 1.0f, w, rows, ci,
                        ldc, 0.0f, yb, p);
            if (b || act != TG_ACT_NONE) tg_bias_act(yb, b, act, f, q, p);
        }
    }
    return TG_OK;
}

static tg_status conv2d_backward(tg_node *n) {
    tg_conv_geom g;
    tg_status st = conv2d_geom(n, &n->inputs[0]->value.shape, &g);
    if (st) return st;
    const int batch = (int)n->value.shape.dim[0], f = (int)TG_ATTR_I(n, A_FILTERS);
    const int p = g.ho * g.wo, rows = g.c * g.k * g.k, rb = conv2d_rows_per_block(&g, f);
    const int64_t in_img = (int64_t)g.c * g.h * g.w, out_img = (int64_t)f * p;
    const tg_act act = (tg_act)TG_ATTR_I(n, A_ACT);
    const float *x = tg_in(n, 0), *w = n->params[P_WEIGHT]->value.data;
    float *dx = tg_din(n, 0), *dw = tg_dparam(n, P_WEIGHT);
    float *db = n->params[P_BIAS] ? tg_dparam(n, P_BIAS) : NULL;
    float *col = n->scratch, *dzbuf = col + (size_t)rows * rb * g.wo;
    const int direct = conv2d_direct(&g);
    for (int i = 0; i < batch; i++) {
        const float *xi = x + i * in_img;
        float *dxi = dx ? dx + i * in_img : NULL;
        for (int oh0 = 0; oh0 < g.ho; oh0 += rb) {
            const int oh1 = oh0 + rb < g.ho ? oh0 + rb : g.ho, q = (oh1 - oh0) * g.wo;
            /* dz block (F, q), row stride ldz: dy itself, or dy * act'(y) in scratch */
            const float *dz = n->grad.data + i * out_img + (int64_t)oh0 * g.wo;
            int ldz = p;
            if (act != TG_ACT_NONE || db) {
                tg_dz_bias(n->value.data + i * out_img + (int64_t)oh0 * g.wo, dz, dzbuf, db, act, f,
                           q, p);
                if (act != TG_ACT_NONE) {
                    dz = dzbuf;
                    ldz = q;
                }
            }
            if (dw) {
                /* dw (F, CKK) += dz (F, q) . col^T (q, CKK) */
                const float *ci = xi + (int64_t)oh0 * g.wo;
                int ldc = p;
                if (!direct) {
                    tg_im2col(&g, xi, oh0, oh1, col);
                    ci = col;
                    ldc = q;
                }
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, f, rows, q, 1.0f, dz, ldz, ci,
                            ldc, 1.0f, dw, rows);
            }
            if (dxi) {
                /* d col (CKK, q) = w^T (CKK, F) . dz (F, q); a direct conv adds straight into dx */
                if (direct)
                    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, rows, q, f, 1.0f, w, rows,
                                dz, ldz, 1.0f, dxi + (int64_t)oh0 * g.wo, p);
                else {
                    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, rows, q, f, 1.0f, w, rows,
                                dz, ldz, 0.0f, col, q);
                    tg_col2im_add(&g, col, oh0, oh1, dxi);
                }
            }
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
