/* conv2d: 2-D convolution (cross-correlation, as in PyTorch and Keras) by
 * im2col + tg_sgemm (blocked OpenBLAS), one image at a time, with a fused bias and activation;
 * stride-1 3x3 convolutions with 8 or more channels in and out by Winograd's F(2x2, 3x3)
 * instead (tg_winograd.h: 2.25 times fewer flops), forward, for the input gradient
 * and for the weight gradient; in eval mode (inference, validation), or on request
 * (algo=winograd4), by F(4x4, 3x3) forward and for the input gradient (4 times fewer
 * flops than im2col, less accurate); and a
 * one-channel input (the first layer of an image tower) by depthwise_conv2d's plane
 * kernels (tg_depthwise.h), which is what such a conv is: a GEMM with an inner
 * dimension of K*K = 9 is all memory traffic.
 *
 *   x: (N, C, H, W)   weight: (F, C, K, K)   bias: (F)   y: (N, F, Ho, Wo)
 *
 * Memory: im2col is done for a block of output rows of one image at a time into
 * the graph's scratch, and recomputed in backward rather than kept: keeping it for
 * a 32->32 conv at 150x150, batch 16, would cost 415 MB per node, and recomputing
 * it is one memory pass beside a GEMM of C*K*K multiply-adds per output.
 * Threading: whole images per OpenMP thread, each with its own scratch and
 * single-threaded GEMMs (so im2col, bias and activation passes run in parallel
 * too), and private dW/db partials summed in thread order; a batch too small to
 * share out runs image by image with tg_sgemm splitting each GEMM. */
#include <string.h>

#include "autograd/tg_blas.h"
#include "ops/tg_builtin_ops.h"
#include "ops/tg_depthwise.h"
#include "ops/tg_im2col.h"
#include "ops/tg_op_util.h"
#include "ops/tg_pool.h"
#include "ops/tg_winograd.h"

enum { A_FILTERS, A_KERNEL, A_STRIDE, A_PAD, A_PADDING, A_BIAS, A_ACT, A_INIT, A_ALGO };
typedef enum conv_algo {
    ALGO_AUTO,
    ALGO_IM2COL,
    ALGO_WINOGRAD,
    ALGO_DEPTHWISE,
    ALGO_WINOGRAD4
} conv_algo;
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
    {"init", TG_ATTR_ENUM, "glorot_uniform", 0, 0, TG_INIT_CHOICES,
     "initialiser of the weights: Glorot (Keras' default) or He (for ReLU towers)"},
    {"algo", TG_ATTR_ENUM, "auto", 0, 0, "auto|im2col|winograd|depthwise|winograd4",
     "im2col + GEMM; Winograd F(2x2,3x3) (kernel=3 stride=1, padding 0..2 before); "
     "depthwise_conv2d's per-plane kernels (one input channel); or winograd4: Winograd "
     "F(4x4,3x3) forward and for the input gradient (1.8x fewer multiplies than F(2x2,3x3), "
     "rounding errors about 25x larger); auto: Winograd where it applies and C, F >= 8 "
     "(F(2x2,3x3) in train mode, F(4x4,3x3) in eval mode), depthwise for C = 1 with "
     "kernel=3 stride=1 (padding 0..2), else im2col"},
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

/* Winograd F(2x2, 3x3) computes stride-1 3x3 windows; the input gradient is the
 * same correlation of dy with the flipped filters, padded by 2 - pt, 2 - pl. */
static int conv2d_winograd_fits(const tg_conv_geom *g) {
    return g->k == 3 && g->stride == 1 && g->pt <= 2 && g->pl <= 2;
}

/* Below 8 channels the GEMMs are too thin for Winograd's transforms to pay. */
static int conv2d_winograd_asked(const tg_node *n) {
    conv_algo a = (conv_algo)TG_ATTR_I(n, A_ALGO);
    return a == ALGO_WINOGRAD || a == ALGO_WINOGRAD4;
}

static int conv2d_winograd(const tg_node *n, const tg_conv_geom *g) {
    if (TG_ATTR_I(n, A_ALGO) == ALGO_AUTO)
        return conv2d_winograd_fits(g) && g->c >= 8 && TG_ATTR_I(n, A_FILTERS) >= 8;
    return conv2d_winograd_asked(n);
}

/* The output tile of the forward and input-gradient Winograd convs: 4 for F(4x4, 3x3)
 * (asked for, or auto in eval mode: inference and validation), else 2. The weight
 * gradient's is always 2 (tg_wino_wgrad). In train mode auto keeps F(2x2, 3x3), whose
 * rounding the learning table was measured with; in eval mode F(4x4, 3x3) moves the
 * seed model's unit-length embeddings by about 3e-7 (docs/ops-conv.md). */
static int conv2d_wino_tile(const tg_node *n) {
    const conv_algo a = (conv_algo)TG_ATTR_I(n, A_ALGO);
    return a == ALGO_WINOGRAD4 || (a == ALGO_AUTO && !tg_graph_training(n->graph)) ? 4 : 2;
}

/* The largest tile a call may use: the scratch is sized once, for either mode. */
static int conv2d_wino_tile_max(const tg_node *n) {
    return TG_ATTR_I(n, A_ALGO) == ALGO_WINOGRAD ? 2 : 4;
}

/* A one-channel input: the depthwise kernels with multiplier F, by request or,
 * where their padded K = 3, stride-1 kernels apply, by default (measured: 1.7x
 * faster than im2col + GEMM for 1 -> 32 at 150x150; the general ones unmeasured). */
static int conv2d_depthwise(const tg_node *n, const tg_conv_geom *g) {
    conv_algo a = (conv_algo)TG_ATTR_I(n, A_ALGO);
    if (a == ALGO_AUTO) return g->c == 1 && tg_dw_work_floats(g) > 0;
    return a == ALGO_DEPTHWISE;
}

/* Forward (x -> y) and input-gradient (dy -> dx) geometries of a Winograd conv. */
static tg_wino_geom wino_forward_geom(const tg_conv_geom *g, int f, int m) {
    tg_wino_geom w = {g->c, g->h, g->w, f, g->ho, g->wo, g->pt, g->pl, m};
    return w;
}
static tg_wino_geom wino_backward_geom(const tg_conv_geom *g, int f, int m) {
    tg_wino_geom w = {f, g->ho, g->wo, g->c, g->h, g->w, 2 - g->pt, 2 - g->pl, m};
    return w;
}

static tg_status conv2d_infer(const tg_node *n, const tg_shape *in, tg_shape *out,
                              tg_shape *params) {
    tg_conv_geom g;
    tg_status st = conv2d_geom(n, &in[0], &g);
    if (st) return st;
    if (conv2d_winograd_asked(n) && !conv2d_winograd_fits(&g))
        return tg_error(TG_ERR_INVALID,
                        "conv2d algo=%s needs kernel=3, stride=1 and at most 2 rows and "
                        "columns of padding before the input (got kernel=%d stride=%d, padding "
                        "%d and %d)",
                        conv2d_wino_tile(n) == 4 ? "winograd4" : "winograd", g.k, g.stride, g.pt,
                        g.pl);
    if (TG_ATTR_I(n, A_ALGO) == ALGO_DEPTHWISE && g.c != 1)
        return tg_error(TG_ERR_INVALID,
                        "conv2d algo=depthwise needs a one-channel input (got %d channels)", g.c);
    int64_t f = TG_ATTR_I(n, A_FILTERS), k = TG_ATTR_I(n, A_KERNEL);
    *out = tg_shape4(in[0].dim[0], f, g.ho, g.wo);
    params[P_WEIGHT] = tg_shape4(f, in[0].dim[1], k, k);
    if (TG_ATTR_I(n, A_BIAS)) params[P_BIAS] = tg_shape1(f);
    return TG_OK;
}

static int conv2d_rows_per_block(const tg_conv_geom *g, int f);

/* One worker's share of the scratch: the im2col matrix of one block of output
 * rows (reused for d col in backward), d(pre-activation) of that block when an
 * activation is fused, and private dW and db accumulators for backward. A
 * Winograd conv needs d(pre-activation) of the whole image (its input-gradient
 * tiles overlap the blocks) and room for the tiles of its forward, input-gradient
 * or weight-gradient transforms. */
static size_t conv2d_worker_floats(const tg_node *n, const tg_conv_geom *g) {
    int f = (int)TG_ATTR_I(n, A_FILTERS);
    size_t rows = (size_t)g->c * g->k * g->k;
    size_t q = (size_t)conv2d_rows_per_block(g, f) * g->wo, acc = (size_t)f * rows + (size_t)f;
    if (conv2d_winograd(n, g)) {
        tg_wino_geom wg = wino_forward_geom(g, f, 2);
        size_t work = tg_wino_wgrad_scratch_floats(&wg);
        for (int m = 2; m <= conv2d_wino_tile_max(n); m += 2) {
            tg_wino_geom fw = wino_forward_geom(g, f, m), bw = wino_backward_geom(g, f, m);
            size_t btiles = tg_wino_scratch_floats(&bw), ftiles = tg_wino_scratch_floats(&fw);
            if (btiles > work) work = btiles;
            if (ftiles > work) work = ftiles;
        }
        return (size_t)f * g->ho * g->wo + work + acc;
    }
    if (conv2d_depthwise(n, g)) { /* padded planes, d(pre-activation) of the image */
        size_t dz = TG_ATTR_I(n, A_ACT) == TG_ACT_NONE ? 0 : (size_t)f * g->ho * g->wo;
        return tg_dw_work_floats(g) + dz + acc;
    }
    size_t dz = TG_ATTR_I(n, A_ACT) == TG_ACT_NONE ? 0 : (size_t)f * q;
    return rows * q + dz + acc;
}

/* Floats shared by the workers ahead of their shares: a Winograd conv's
 * transformed filters. */
static size_t conv2d_shared_floats(const tg_node *n, const tg_conv_geom *g) {
    return conv2d_winograd(n, g)
               ? tg_wino_filter_floats((int)TG_ATTR_I(n, A_FILTERS), g->c, conv2d_wino_tile_max(n))
               : 0;
}

static size_t conv2d_scratch(const tg_node *n) {
    tg_conv_geom g;
    if (conv2d_geom(n, &n->inputs[0]->value.shape, &g)) return 0;
    return (conv2d_shared_floats(n, &g) + (size_t)tg_max_workers() * conv2d_worker_floats(n, &g)) *
           sizeof(float);
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

/* Everything one call needs, shared by the workers. */
typedef struct conv_call {
    tg_conv_geom g;
    int f, p, rows, rb, direct, wino, dwk; /* dwk: the depthwise kernels */
    int m;                                 /* Winograd's output tile (conv2d_wino_tile) */
    int fresh_dx;                          /* backward sets each dx_i itself (tg_node_grad_fresh) */
    int64_t in_img, out_img;
    tg_act act;
    size_t shared_floats, worker_floats;
} conv_call;

static tg_status conv_call_init(const tg_node *n, conv_call *c) {
    tg_status st = conv2d_geom(n, &n->inputs[0]->value.shape, &c->g);
    if (st) return st;
    c->f = (int)TG_ATTR_I(n, A_FILTERS);
    c->p = c->g.ho * c->g.wo;
    c->rows = c->g.c * c->g.k * c->g.k;
    c->rb = conv2d_rows_per_block(&c->g, c->f);
    c->direct = conv2d_direct(&c->g);
    c->wino = conv2d_winograd(n, &c->g);
    c->m = conv2d_wino_tile(n);
    c->dwk = conv2d_depthwise(n, &c->g);
    c->in_img = (int64_t)c->g.c * c->g.h * c->g.w;
    c->out_img = (int64_t)c->f * c->p;
    c->act = (tg_act)TG_ATTR_I(n, A_ACT);
    c->fresh_dx = tg_node_grad_fresh(n, 0);
    c->shared_floats = conv2d_shared_floats(n, &c->g);
    c->worker_floats = conv2d_worker_floats(n, &c->g);
    return TG_OK;
}

/* y_i = act(w . im2col(x_i) + b), one block of output rows at a time. */
static void conv_forward_image(const tg_node *n, const conv_call *c, int i, float *col, int inner) {
    const tg_conv_geom *g = &c->g;
    const float *xi = tg_in(n, 0) + i * c->in_img, *w = n->params[P_WEIGHT]->value.data;
    const float *b = n->params[P_BIAS] ? n->params[P_BIAS]->value.data : NULL;
    float *yi = n->value.data + i * c->out_img;
    if (c->wino) {
        tg_wino_geom wg = wino_forward_geom(g, c->f, c->m);
        tg_wino_conv_shared(&wg, n->scratch, xi, b, c->act, yi, NULL, col, c->worker_floats, inner);
        return;
    }
    if (c->dwk) { /* the image's one plane, its output planes shared by `inner` threads */
        const tg_dw_work work = {col, c->worker_floats, inner};
        tg_dw_forward(g, 1, c->f, c->act, xi, w, b, yi, &work, NULL);
        return;
    }
    for (int oh0 = 0; oh0 < g->ho; oh0 += c->rb) {
        const int oh1 = oh0 + c->rb < g->ho ? oh0 + c->rb : g->ho, q = (oh1 - oh0) * g->wo;
        const float *ci = xi + (int64_t)oh0 * g->wo; /* direct: the image is col, ld p */
        int ldc = c->p;
        if (!c->direct) {
            tg_im2col(g, xi, oh0, oh1, col);
            ci = col;
            ldc = q;
        }
        /* y_i[:, block] (F, q) = w (F, CKK) . col (CKK, q), row stride P */
        float *yb = yi + (int64_t)oh0 * g->wo;
        tg_sgemm(CblasNoTrans, CblasNoTrans, c->f, q, c->rows, 1.0f, w, c->rows, ci, ldc, 0.0f, yb,
                 c->p);
        if (b || c->act != TG_ACT_NONE) tg_bias_act(yb, b, c->act, c->f, q, c->p);
    }
}

/* dw (F, CKK) += dz (F, q) . col^T (q, CKK) for output rows [oh0, oh1) of image xi;
 * dz has row stride ldz. col: the im2col block's scratch (a direct conv reads xi). */
static void conv_dw_block(const conv_call *c, const float *xi, int oh0, int oh1, const float *dz,
                          int ldz, float *col, float *dw) {
    const int q = (oh1 - oh0) * c->g.wo;
    const float *ci = xi + (int64_t)oh0 * c->g.wo;
    int ldc = c->p;
    if (!c->direct) {
        tg_im2col(&c->g, xi, oh0, oh1, col);
        ci = col;
        ldc = q;
    }
    tg_sgemm(CblasNoTrans, CblasTrans, c->f, c->rows, q, 1.0f, dz, ldz, ci, ldc, 1.0f, dw, c->rows);
}

/* Backward of one image: dw and db accumulate into the given (private) buffers,
 * dx_i is this image's own. */
static void conv_backward_image(const tg_node *n, const conv_call *c, int i, float *col, float *dw,
                                float *db) {
    const tg_conv_geom *g = &c->g;
    const float *xi = tg_in(n, 0) + i * c->in_img, *w = n->params[P_WEIGHT]->value.data;
    float *dx = tg_din(n, 0), *dxi = dx ? dx + i * c->in_img : NULL;
    float *dzbuf = col + (size_t)c->rows * c->rb * g->wo;
    if (dxi && c->fresh_dx) memset(dxi, 0, (size_t)c->in_img * sizeof(float));
    for (int oh0 = 0; oh0 < g->ho; oh0 += c->rb) {
        const int oh1 = oh0 + c->rb < g->ho ? oh0 + c->rb : g->ho, q = (oh1 - oh0) * g->wo;
        /* dz block (F, q), row stride ldz: dy itself, or dy * act'(y) in scratch */
        const float *dz = n->grad.data + i * c->out_img + (int64_t)oh0 * g->wo;
        int ldz = c->p;
        if (c->act != TG_ACT_NONE || db) {
            tg_dz_bias(n, i * c->out_img + (int64_t)oh0 * g->wo, dz, dzbuf, db, c->act, c->f, q,
                       c->p);
            if (c->act != TG_ACT_NONE) {
                dz = dzbuf;
                ldz = q;
            }
        }
        if (dw) conv_dw_block(c, xi, oh0, oh1, dz, ldz, col, dw);
        if (dxi) {
            /* d col (CKK, q) = w^T (CKK, F) . dz (F, q); a direct conv adds straight into dx */
            if (c->direct)
                tg_sgemm(CblasTrans, CblasNoTrans, c->rows, q, c->f, 1.0f, w, c->rows, dz, ldz,
                         1.0f, dxi + (int64_t)oh0 * g->wo, c->p);
            else {
                tg_sgemm(CblasTrans, CblasNoTrans, c->rows, q, c->f, 1.0f, w, c->rows, dz, ldz,
                         0.0f, col, q);
                tg_col2im_add(g, col, oh0, oh1, dxi);
            }
        }
    }
}

/* Backward of one image of a Winograd conv: dz of the whole image first (the
 * input gradient's tiles straddle the row blocks), dW by Winograd on the forward's
 * tiles, dx by Winograd with the flipped filters U; a fresh dx by `inner` threads
 * sharing its blocks of tile rows (each its own area of the scratch, the same numbers). */
static void conv_backward_image_wino(const tg_node *n, const conv_call *c, const float *U, int i,
                                     float *work, float *dw, float *db, int inner) {
    const tg_conv_geom *g = &c->g;
    const float *xi = tg_in(n, 0) + i * c->in_img, *dy = n->grad.data + i * c->out_img;
    float *dx = tg_din(n, 0), *dxi = dx ? dx + i * c->in_img : NULL;
    float *dzbuf = work, *col = work + (size_t)c->f * c->p;
    const float *dz = dy; /* (F, P) */
    if (c->act != TG_ACT_NONE || db) {
        tg_dz_bias(n, i * c->out_img, dy, dzbuf, db, c->act, c->f, c->p, c->p);
        if (c->act != TG_ACT_NONE) dz = dzbuf;
    }
    if (dw) {
        tg_wino_geom fg = wino_forward_geom(g, c->f, 2);
        tg_wino_wgrad(&fg, xi, dz, dw, col);
    }
    if (dxi) {
        tg_wino_geom bg = wino_backward_geom(g, c->f, c->m);
        if (c->fresh_dx) /* sets dx_i */
            tg_wino_conv_shared(&bg, U, dz, NULL, TG_ACT_NONE, dxi, NULL, col, c->worker_floats,
                                inner);
        else
            tg_wino_conv(&bg, U, dz, NULL, TG_ACT_NONE, 1, dxi, col);
    }
}

/* Backward of one image of a one-channel conv by the depthwise kernels: dz of the
 * whole image after the worker's padded planes, then dW and dx plane by plane. */
static void conv_backward_image_dwk(const tg_node *n, const conv_call *c, int i, float *work,
                                    float *dw, float *db) {
    const float *xi = tg_in(n, 0) + i * c->in_img, *dy = n->grad.data + i * c->out_img;
    float *dx = tg_din(n, 0), *dxi = dx ? dx + i * c->in_img : NULL;
    float *dzbuf = work + tg_dw_work_floats(&c->g);
    const float *dz = dy; /* (F, P) */
    if (c->act != TG_ACT_NONE || db) {
        tg_dz_bias(n, i * c->out_img, dy, dzbuf, db, c->act, c->f, c->p, c->p);
        if (c->act != TG_ACT_NONE) dz = dzbuf;
    }
    const tg_dw_work alone = {work, c->worker_floats, 1};
    tg_dw_backward(&c->g, 1, c->f, xi, n->params[P_WEIGHT]->value.data, dz, dxi, c->fresh_dx, dw,
                   NULL, &alone, NULL);
}

static void conv_backward_one(const tg_node *n, const conv_call *c, int i, float *work, float *dw,
                              float *db, int inner) {
    if (c->wino)
        conv_backward_image_wino(n, c, n->scratch, i, work, dw, db, inner);
    else if (c->dwk)
        conv_backward_image_dwk(n, c, i, work, dw, db);
    else
        conv_backward_image(n, c, i, work, dw, db);
}

/* Workers for a batch: whole images per thread when there are enough images to
 * go round (each image's GEMMs then run on its own thread), else one worker
 * whose GEMMs tg_sgemm splits across the threads. Never more than the scratch
 * was sized for. */
static int conv_areas(const tg_node *n, const conv_call *c) {
    int workers = tg_max_workers();
    size_t fit = (n->scratch_size / sizeof(float) - c->shared_floats) / c->worker_floats;
    return (size_t)workers > fit ? (int)fit : workers;
}

static int conv_workers(const tg_node *n, const conv_call *c, int batch) {
    const int workers = conv_areas(n, c);
    return workers > 1 && batch >= 2 * workers ? workers : 1;
}

/* Threads that share one image (its Winograd tiles, its depthwise output planes): all
 * that have an area of the scratch when the images are too few to go round
 * (conv_workers 1), else one. */
static int conv_inner(const tg_node *n, const conv_call *c, int workers) {
    return (c->wino || c->dwk) && workers == 1 ? conv_areas(n, c) : 1;
}

static tg_status conv2d_forward(tg_node *n) {
    conv_call c;
    tg_status st = conv_call_init(n, &c);
    if (st) return st;
    const int batch = (int)n->value.shape.dim[0], workers = conv_workers(n, &c, batch);
    const int inner = conv_inner(n, &c, workers);
    if (c.wino) tg_wino_filters(n->params[P_WEIGHT]->value.data, c.f, c.g.c, c.m, 0, n->scratch);
    float *scratch = (float *)n->scratch + c.shared_floats;
    /* a ReLU output kept only as signs: each image's packed while it is in cache */
    const int pack = tg_node_sign_bits(n) && c.out_img % 8 == 0;
    n->signs_packed = pack;
    if (workers == 1) { /* outside a parallel region, so that the inner ones are top-level */
        for (int i = 0; i < batch; i++) {
            conv_forward_image(n, &c, i, scratch, inner);
            if (pack) tg_pack_signs(n, i * c.out_img, c.out_img);
        }
        return TG_OK;
    }
#pragma omp parallel for num_threads(workers) schedule(static)
    for (int i = 0; i < batch; i++) {
        conv_forward_image(n, &c, i, scratch + (size_t)tg_worker_id() * c.worker_floats, 1);
        if (pack) tg_pack_signs(n, i * c.out_img, c.out_img);
    }
    return TG_OK;
}

/* A Winograd conv followed by a 2x2 max pool at stride 2 (the seed's conv1_2 and
 * pool1), in a forward that keeps no values: each pair of output rows is pooled
 * while in cache (tg_wino_conv_shared with `pooled`), and the conv's output, 4x the pool's, is
 * never written. Measured on the seed model: see docs/ops-conv.md. */
static int conv2d_fuses(const tg_node *n, const tg_node *next) {
    tg_conv_geom g;
    return tg_maxpool_is_2x2(next) && !conv2d_geom(n, &n->inputs[0]->value.shape, &g) &&
           conv2d_winograd(n, &g);
}

static tg_status conv2d_forward_pooled(tg_node *n, tg_node *pool) {
    conv_call c;
    tg_status st = conv_call_init(n, &c);
    if (st) return st;
    const int batch = (int)n->value.shape.dim[0], workers = conv_workers(n, &c, batch);
    const int inner = conv_inner(n, &c, workers);
    tg_wino_filters(n->params[P_WEIGHT]->value.data, c.f, c.g.c, c.m, 0, n->scratch);
    float *scratch = (float *)n->scratch + c.shared_floats;
    const float *b = n->params[P_BIAS] ? n->params[P_BIAS]->value.data : NULL;
    const tg_wino_geom wg = wino_forward_geom(&c.g, c.f, c.m);
    const int64_t pooled_img = tg_shape_item_numel(&pool->value.shape);
    if (workers == 1) { /* outside a parallel region, so that the inner one is top-level */
        for (int i = 0; i < batch; i++)
            tg_wino_conv_shared(&wg, n->scratch, tg_in(n, 0) + i * c.in_img, b, c.act, NULL,
                                pool->value.data + i * pooled_img, scratch, c.worker_floats, inner);
        return TG_OK;
    }
#pragma omp parallel for num_threads(workers) schedule(static)
    for (int i = 0; i < batch; i++)
        tg_wino_conv_shared(&wg, n->scratch, tg_in(n, 0) + i * c.in_img, b, c.act, NULL,
                            pool->value.data + i * pooled_img,
                            scratch + (size_t)tg_worker_id() * c.worker_floats, c.worker_floats, 1);
    return TG_OK;
}

static tg_status conv2d_backward(tg_node *n) {
    conv_call c;
    tg_status st = conv_call_init(n, &c);
    if (st) return st;
    const int batch = (int)n->value.shape.dim[0], workers = conv_workers(n, &c, batch);
    float *dw = tg_dparam(n, P_WEIGHT), *db = n->params[P_BIAS] ? tg_dparam(n, P_BIAS) : NULL;
    if (c.wino && tg_din(n, 0))
        tg_wino_filters(n->params[P_WEIGHT]->value.data, c.f, c.g.c, c.m, 1, n->scratch);
    float *scratch = (float *)n->scratch + c.shared_floats;
    const size_t wsize = (size_t)c.f * c.rows, acc_off = c.worker_floats - wsize - c.f;
    if (workers == 1) { /* outside a parallel region, so that the inner one is top-level */
        const int inner = conv_inner(n, &c, workers);
        for (int i = 0; i < batch; i++) conv_backward_one(n, &c, i, scratch, dw, db, inner);
        return TG_OK;
    }
#pragma omp parallel num_threads(workers)
    {
        int t = tg_worker_id();
        float *mine = scratch + (size_t)t * c.worker_floats;
        float *my_dw = dw ? mine + acc_off : NULL, *my_db = db ? mine + acc_off + wsize : NULL;
        if (my_dw) memset(my_dw, 0, wsize * sizeof(float));
        if (my_db) memset(my_db, 0, (size_t)c.f * sizeof(float));
#pragma omp for schedule(static)
        for (int i = 0; i < batch; i++) conv_backward_one(n, &c, i, mine, my_dw, my_db, 1);
    }
    /* Partial sums added in worker order: the same numbers for the same thread count. */
    for (int t = 0; t < workers; t++) {
        const float *mine = scratch + (size_t)t * c.worker_floats + acc_off;
        if (dw) tg_axpy_add(dw, mine, 1.0f, (int64_t)wsize);
        if (db) tg_axpy_add(db, mine + wsize, 1.0f, c.f);
    }
    return TG_OK;
}

static double conv2d_flops(const tg_node *n) {
    const tg_shape *x = &n->inputs[0]->value.shape, *y = &n->value.shape;
    double k = (double)TG_ATTR_I(n, A_KERNEL);
    return 2.0 * (double)tg_shape_numel(y) * (double)x->dim[1] * k * k;
}

/* Backward reads the input in full (dW), its output only through act. */
static tg_value_use conv2d_use(const tg_node *n, int input) {
    return input < 0 ? tg_act_output_use((tg_act)TG_ATTR_I(n, A_ACT)) : TG_USE_VALUE;
}

const tg_op tg_op_conv2d = {
    .name = "conv2d",
    .doc = "2-D convolution with optional bias and fused activation (im2col + GEMM, Winograd, "
           "or per-plane kernels for one input channel)",
    .formula = "y[n,f,oh,ow] = act(b[f] + sum_{c,kh,kw} w[f,c,kh,kw] x[n,c,oh*s-pt+kh,ow*s-pl+kw]) "
               "(x = 0 in the padding); backward: dW = dz col^T, dx = col2im(W^T dz), db = sum dz, "
               "dz = dy * act'(y)",
    .n_inputs = 1,
    .attrs = conv2d_attrs,
    .n_attrs = 9,
    .params = conv2d_params,
    .n_params = 2,
    .infer = conv2d_infer,
    .forward = conv2d_forward,
    .backward = conv2d_backward,
    .sets_fresh_input_grads = 1,
    .scratch_bytes = conv2d_scratch,
    .flops = conv2d_flops,
    .backward_use = conv2d_use,
    .fuses = conv2d_fuses,
    .forward_fused = conv2d_forward_pooled,
    .examples = {{"2x3x5x5", "filters=4 kernel=3"},
                 {"3x2x7x6", "filters=3 kernel=3 stride=2 pad=valid act=tanh"},
                 {"2x3x7x7", "filters=2 kernel=3 stride=2 pad=same act=relu"},
                 {"2x2x6x5", "filters=3 kernel=2 stride=2 pad=same bias=false act=sigmoid"},
                 {"2x4x5x5", "filters=3 kernel=1"},
                 {"2x2x5x4", "filters=2 kernel=3 padding=2 stride=2"},
                 {"1x3x4x4", "filters=2 kernel=4 pad=valid"},
                 {"2x3x7x5", "filters=2 kernel=3 act=relu algo=winograd"},
                 {"1x2x6x7", "filters=3 kernel=3 pad=valid bias=false algo=winograd"},
                 {"1x2x5x6", "filters=2 kernel=3 padding=2 act=tanh algo=winograd"},
                 {"2x3x9x6", "filters=2 kernel=3 act=relu algo=winograd4"},
                 {"1x2x7x10", "filters=3 kernel=3 padding=2 act=tanh bias=false algo=winograd4"},
                 {"2x1x6x5", "filters=3 kernel=3 act=relu"},
                 {"2x1x7x6", "filters=2 kernel=3 stride=2 pad=valid act=tanh algo=depthwise"}},
};
