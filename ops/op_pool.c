/* Pooling: maxpool2d, avgpool2d and global_avgpool.
 *   maxpool2d, avgpool2d  x: (N, C, H, W) -> y: (N, C, Ho, Wo)
 *   global_avgpool        x: (N, C, H, W) -> y: (N, C)
 * Padding never takes part: a max ignores it (as if -inf) and an average divides
 * by the number of real pixels in the window (TensorFlow/Keras; PyTorch's
 * AvgPool2d(count_include_pad=False)). A max-pool tie goes to the first maximum
 * in row-major window order (top row first, then left to right), as in PyTorch;
 * only that pixel receives the gradient.
 * Threading: over the N*C planes; a plane's outputs only touch that plane's
 * input, so backward has one writer per dx plane and no races. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "autograd/tg_cpu.h"
#include "ops/tg_builtin_ops.h"
#include "ops/tg_im2col.h"
#include "ops/tg_op_util.h"
#include "ops/tg_pool.h"

enum { A_SIZE, A_STRIDE, A_PAD, A_PADDING };

static const tg_attr_spec pool_attrs[] = {
    {"size", TG_ATTR_INT, "2", 1, 1024, NULL, "square window size"},
    {"stride", TG_ATTR_INT, "0", 0, 1024, NULL, "step of the window; 0 means equal to size"},
    {"pad", TG_ATTR_ENUM, "valid", 0, 0, "valid|same",
     "valid: no padding (Keras default); same: output ceil(H/stride), padding at bottom/right "
     "first, never counted"},
    {"padding", TG_ATTR_INT, "-1", -1, 512, NULL,
     "explicit padding on every side, at most size/2 (PyTorch padding=); overrides pad when >= 0"},
};

static tg_status pool_geom(const tg_node *n, const tg_shape *x, tg_conv_geom *g) {
    if (x->ndim != 4) return tg_shape_error("pooling input", "(N, C, H, W)", x);
    int size = (int)TG_ATTR_I(n, A_SIZE), stride = (int)TG_ATTR_I(n, A_STRIDE);
    int padding = (int)TG_ATTR_I(n, A_PADDING);
    if (padding > size / 2)
        return tg_error(TG_ERR_ATTR,
                        "padding=%d is more than half the pool size %d (a window "
                        "would see only padding)",
                        padding, size);
    return tg_conv_geom_init(g, "pool size", (int)x->dim[1], (int)x->dim[2], (int)x->dim[3], size,
                             stride > 0 ? stride : size,
                             TG_ATTR_I(n, A_PAD) == 0 ? TG_PAD_VALID : TG_PAD_SAME, padding);
}

static tg_status pool_infer(const tg_node *n, const tg_shape *in, tg_shape *out, tg_shape *params) {
    (void)params;
    tg_conv_geom g;
    tg_status st = pool_geom(n, &in[0], &g);
    if (st) return st;
    *out = tg_shape4(in[0].dim[0], in[0].dim[1], g.ho, g.wo);
    return TG_OK;
}

/* The real input rows [*lo, *hi) under output row o (likewise columns). */
static inline void window(int o, int stride, int pad, int k, int n_in, int *lo, int *hi) {
    int a = o * stride - pad, b = a + k;
    *lo = a < 0 ? 0 : a;
    *hi = b > n_in ? n_in : b;
}

/* ---- maxpool2d ---- */

/* Saved: per output, where its winning pixel is. A window of up to 15x15 (every
 * model's) keeps the pixel's place in the window, kh * size + kw, in one byte
 * (NO_PIXEL: the window held only padding), a quarter of an index's memory;
 * larger windows keep the flat index in the input plane (int32, -1: none). */
#define SMALL_WINDOW 15
#define NO_PIXEL 255

static int small_window(const tg_node *n) {
    return TG_ATTR_I(n, A_SIZE) <= SMALL_WINDOW;
}

/* The seed's 2x2 window at stride 2, one output row from input rows r0 and r1:
 * the max and the winner's place kh * 2 + kw, in row-major order (a later pixel
 * wins only when strictly greater). Selections are float-only and the function
 * has the AVX2 and AVX-512 clones: GCC vectorises neither an int select chain
 * nor the OpenMP body this was inlined in (measured: scalar code). */
TG_HOT static void maxpool2_row(const float *restrict r0, const float *restrict r1, int n,
                                float *restrict y, uint8_t *restrict at) {
#pragma omp simd
    for (int j = 0; j < n; j++) {
        const float a = r0[2 * j], b = r0[2 * j + 1], c = r1[2 * j], d = r1[2 * j + 1];
        float m = b > a ? b : a, w = b > a ? 1.0f : 0.0f;
        w = c > m ? 2.0f : w;
        m = c > m ? c : m;
        w = d > m ? 3.0f : w;
        m = d > m ? d : m;
        y[j] = m;
        at[j] = (uint8_t)(int)w;
    }
}

/* The same maxima without the winners, for a forward no backward follows (the value
 * plan TG_VALUES_TARGET): the same select chain, so the same values. */
TG_HOT static void maxpool2_row_max(const float *restrict r0, const float *restrict r1, int n,
                                    float *restrict y) {
#pragma omp simd
    for (int j = 0; j < n; j++)
        y[j] = tg_maxpool2_window(r0[2 * j], r0[2 * j + 1], r1[2 * j], r1[2 * j + 1]);
}

void tg_maxpool2_rows(const float *r0, const float *r1, int n, float *y) {
    maxpool2_row_max(r0, r1, n, y);
}

void tg_maxpool2_planes(float *x, int64_t planes, int h, int w, tg_act act, float *y) {
    const int ho = h / 2, wo = w / 2;
    for (int64_t pl = 0; pl < planes; pl++)
        for (int r = 0; r < ho; r++) {
            float *r0 = x + (pl * h + 2 * r) * w;
            tg_act_row(act, r0, 2 * (int64_t)w);
            maxpool2_row_max(r0, r0 + w, wo, y + (pl * ho + r) * wo);
        }
}

int tg_maxpool_is_2x2(const tg_node *n) {
    tg_conv_geom g;
    return n && n->op == &tg_op_maxpool2d && n->n_inputs == 1 &&
           !pool_geom(n, &n->inputs[0]->value.shape, &g) && g.k == 2 && g.stride == 2 &&
           g.pt == 0 && g.pl == 0 && g.ho == g.h / 2 && g.wo == g.w / 2;
}

/* Its backward over n whole windows: each pixel adds dy where it won, 0 elsewhere
 * (written as loads, selects and stores so that it vectorises). */
TG_HOT static void maxpool2_row_backward(const float *restrict dy, const uint8_t *restrict at,
                                         int n, float *restrict d0, float *restrict d1) {
#pragma omp simd
    for (int j = 0; j < n; j++) {
        const float w = (float)at[j], g = dy[j];
        const float v0 = w == 0.0f ? g : 0.0f, v1 = w == 1.0f ? g : 0.0f;
        const float v2 = w == 2.0f ? g : 0.0f, v3 = w == 3.0f ? g : 0.0f;
        const float a0 = d0[2 * j], a1 = d0[2 * j + 1], b0 = d1[2 * j], b1 = d1[2 * j + 1];
        d0[2 * j] = a0 + v0;
        d0[2 * j + 1] = a1 + v1;
        d1[2 * j] = b0 + v2;
        d1[2 * j + 1] = b1 + v3;
    }
}

static size_t maxpool_saved(const tg_node *n) {
    return (size_t)tg_shape_numel(&n->value.shape) *
           (small_window(n) ? sizeof(uint8_t) : sizeof(int32_t));
}

static tg_status maxpool_forward(tg_node *n) {
    tg_conv_geom g;
    tg_status st = pool_geom(n, &n->inputs[0]->value.shape, &g);
    if (st) return st;
    const int64_t planes = n->value.shape.dim[0] * g.c, in_p = (int64_t)g.h * g.w;
    const int64_t out_p = (int64_t)g.ho * g.wo;
    const float *x = tg_in(n, 0);
    float *y = n->value.data;
    const int small = small_window(n);
    /* 2x2 windows at stride 2 starting at (0,0): every whole window has a fast path */
    const int fast2 = g.k == 2 && g.stride == 2 && g.pt == 0 && g.pl == 0;
    const int full2 = g.w / 2 < g.wo ? g.w / 2 : g.wo;
    const int winners = tg_graph_value_plan(n->graph) != TG_VALUES_TARGET; /* for a backward */
#pragma omp parallel for schedule(static) if (planes * in_p > TG_PAR_MIN)
    for (int64_t pl = 0; pl < planes; pl++) {
        const float *xp = x + pl * in_p;
        float *yp = y + pl * out_p;
        uint8_t *ap8 = (uint8_t *)n->saved + pl * out_p;
        int32_t *ap32 = (int32_t *)n->saved + pl * out_p;
        for (int oh = 0; oh < g.ho; oh++) {
            int h0, h1, ow = 0;
            window(oh, g.stride, g.pt, g.k, g.h, &h0, &h1);
            if (fast2 && h1 - h0 == 2) { /* size 2 is a small window: ap8 */
                const float *r0 = xp + (int64_t)h0 * g.w;
                if (winners)
                    maxpool2_row(r0, r0 + g.w, full2, yp + (int64_t)oh * g.wo,
                                 ap8 + (int64_t)oh * g.wo);
                else
                    maxpool2_row_max(r0, r0 + g.w, full2, yp + (int64_t)oh * g.wo);
                ow = full2;
            }
            for (; ow < g.wo; ow++) {
                int w0, w1;
                window(ow, g.stride, g.pl, g.k, g.w, &w0, &w1);
                float best = -INFINITY;
                int32_t at = -1;
                for (int ih = h0; ih < h1; ih++)
                    for (int iw = w0; iw < w1; iw++) {
                        float v = xp[ih * g.w + iw];
                        if (v > best || at < 0) { /* strict: the first maximum wins a tie */
                            best = v;
                            at = ih * g.w + iw;
                        }
                    }
                yp[oh * g.wo + ow] = at < 0 ? 0.0f : best;
                if (small) /* the winner's place in the window, which starts at (ha, wa) */
                    ap8[oh * g.wo + ow] =
                        at < 0 ? NO_PIXEL
                               : (uint8_t)((at / g.w - (oh * g.stride - g.pt)) * g.k +
                                           (at % g.w - (ow * g.stride - g.pl)));
                else
                    ap32[oh * g.wo + ow] = at;
            }
        }
    }
    return TG_OK;
}

/* dx[winner] += dy */
static tg_status maxpool_backward(tg_node *n) {
    float *dx = tg_din(n, 0);
    if (!dx) return TG_OK;
    tg_conv_geom g;
    tg_status st = pool_geom(n, &n->inputs[0]->value.shape, &g);
    if (st) return st;
    const int64_t planes = n->value.shape.dim[0] * g.c, in_p = (int64_t)g.h * g.w;
    const int64_t out_p = (int64_t)g.ho * g.wo;
    const float *dy = n->grad.data;
    const int small = small_window(n);
    const int fast2 = g.k == 2 && g.stride == 2 && g.pt == 0 && g.pl == 0;
    const int full2 = g.w / 2 < g.wo ? g.w / 2 : g.wo;
    const int fresh = tg_node_grad_fresh(n, 0);
#pragma omp parallel for schedule(static) if (planes * out_p > TG_PAR_MIN)
    for (int64_t pl = 0; pl < planes; pl++) {
        float *dxp = dx + pl * in_p;
        const float *dyp = dy + pl * out_p;
        if (fresh) memset(dxp, 0, (size_t)in_p * sizeof(float)); /* in cache for the adds */
        if (!small) {
            const int32_t *ap = (const int32_t *)n->saved + pl * out_p;
            for (int64_t j = 0; j < out_p; j++)
                if (ap[j] >= 0) dxp[ap[j]] += dyp[j];
            continue;
        }
        const uint8_t *ap = (const uint8_t *)n->saved + pl * out_p;
        for (int oh = 0; oh < g.ho; oh++) {
            int ow = 0;
            if (fast2 && 2 * oh + 1 < g.h) { /* whole 2x2 windows, as in forward */
                float *d0 = dxp + (int64_t)(2 * oh) * g.w;
                maxpool2_row_backward(dyp + oh * g.wo, ap + oh * g.wo, full2, d0, d0 + g.w);
                ow = full2;
            }
            for (; ow < g.wo; ow++) {
                int at = ap[oh * g.wo + ow];
                if (at == NO_PIXEL) continue;
                int ih = oh * g.stride - g.pt + at / g.k, iw = ow * g.stride - g.pl + at % g.k;
                dxp[(int64_t)ih * g.w + iw] += dyp[oh * g.wo + ow];
            }
        }
    }
    return TG_OK;
}

static double pool_flops(const tg_node *n) {
    double k = (double)TG_ATTR_I(n, A_SIZE);
    return (double)tg_shape_numel(&n->value.shape) * k * k;
}

/* Backward reads neither the input (maxpool: its saved argmax) nor the output. */
static tg_value_use pool_use(const tg_node *n, int input) {
    (void)n;
    (void)input;
    return TG_USE_NONE;
}

const tg_op tg_op_maxpool2d = {
    .name = "maxpool2d",
    .doc = "max over size x size windows per channel; ties go to the first maximum in "
           "row-major window order",
    .formula = "y[n,c,oh,ow] = max over the real pixels of window (oh,ow) of x[n,c]; "
               "backward: dx[argmax] += dy",
    .n_inputs = 1,
    .attrs = pool_attrs,
    .n_attrs = 4,
    .infer = pool_infer,
    .forward = maxpool_forward,
    .backward = maxpool_backward,
    .sets_fresh_input_grads = 1,
    .saved_bytes = maxpool_saved,
    .flops = pool_flops,
    .backward_use = pool_use,
    .examples = {{"2x3x4x4", ""},
                 {"2x2x5x5", "size=2"},
                 {"2x2x5x5", "size=2 pad=same"},
                 {"3x2x7x6", "size=3 stride=2"},
                 {"2x2x7x7", "size=3 stride=2 pad=same"},
                 {"2x2x5x5", "size=3 stride=1 padding=1"},
                 {"1x2x18x17", "size=16 stride=2"}}, /* a large window: int32 argmax */
};

/* ---- avgpool2d ---- */

static tg_status avgpool_forward(tg_node *n) {
    tg_conv_geom g;
    tg_status st = pool_geom(n, &n->inputs[0]->value.shape, &g);
    if (st) return st;
    const int64_t planes = n->value.shape.dim[0] * g.c, in_p = (int64_t)g.h * g.w;
    const int64_t out_p = (int64_t)g.ho * g.wo;
    const float *x = tg_in(n, 0);
    float *y = n->value.data;
#pragma omp parallel for schedule(static) if (planes * in_p > TG_PAR_MIN)
    for (int64_t pl = 0; pl < planes; pl++) {
        const float *xp = x + pl * in_p;
        float *yp = y + pl * out_p;
        for (int oh = 0; oh < g.ho; oh++) {
            int h0, h1;
            window(oh, g.stride, g.pt, g.k, g.h, &h0, &h1);
            for (int ow = 0; ow < g.wo; ow++) {
                int w0, w1;
                window(ow, g.stride, g.pl, g.k, g.w, &w0, &w1);
                float acc = 0.0f;
                for (int ih = h0; ih < h1; ih++)
                    for (int iw = w0; iw < w1; iw++) acc += xp[ih * g.w + iw];
                int count = (h1 - h0) * (w1 - w0);
                yp[oh * g.wo + ow] = count > 0 ? acc / (float)count : 0.0f;
            }
        }
    }
    return TG_OK;
}

/* dx[window] += dy / count */
static tg_status avgpool_backward(tg_node *n) {
    float *dx = tg_din(n, 0);
    if (!dx) return TG_OK;
    tg_conv_geom g;
    tg_status st = pool_geom(n, &n->inputs[0]->value.shape, &g);
    if (st) return st;
    const int64_t planes = n->value.shape.dim[0] * g.c, in_p = (int64_t)g.h * g.w;
    const int64_t out_p = (int64_t)g.ho * g.wo;
    const float *dy = n->grad.data;
#pragma omp parallel for schedule(static) if (planes * in_p > TG_PAR_MIN)
    for (int64_t pl = 0; pl < planes; pl++) {
        float *dxp = dx + pl * in_p;
        const float *dyp = dy + pl * out_p;
        for (int oh = 0; oh < g.ho; oh++) {
            int h0, h1;
            window(oh, g.stride, g.pt, g.k, g.h, &h0, &h1);
            for (int ow = 0; ow < g.wo; ow++) {
                int w0, w1;
                window(ow, g.stride, g.pl, g.k, g.w, &w0, &w1);
                int count = (h1 - h0) * (w1 - w0);
                if (count <= 0) continue;
                float v = dyp[oh * g.wo + ow] / (float)count;
                for (int ih = h0; ih < h1; ih++)
                    for (int iw = w0; iw < w1; iw++) dxp[ih * g.w + iw] += v;
            }
        }
    }
    return TG_OK;
}

const tg_op tg_op_avgpool2d = {
    .name = "avgpool2d",
    .doc = "mean over size x size windows per channel; padding is not counted",
    .formula = "y[n,c,oh,ow] = (1/count) sum over the count real pixels of window (oh,ow); "
               "backward: dx[window] += dy / count",
    .n_inputs = 1,
    .attrs = pool_attrs,
    .n_attrs = 4,
    .infer = pool_infer,
    .forward = avgpool_forward,
    .backward = avgpool_backward,
    .flops = pool_flops,
    .backward_use = pool_use,
    .examples = {{"2x3x4x4", ""},
                 {"2x2x5x5", "size=2 pad=same"},
                 {"3x2x7x6", "size=3 stride=2"},
                 {"2x2x7x7", "size=3 stride=2 pad=same"},
                 {"2x2x5x5", "size=3 stride=1 padding=1"}},
};

/* ---- global_avgpool ---- */

static tg_status gap_infer(const tg_node *n, const tg_shape *in, tg_shape *out, tg_shape *params) {
    (void)n;
    (void)params;
    if (in[0].ndim != 4) return tg_shape_error("global_avgpool input", "(N, C, H, W)", &in[0]);
    *out = tg_shape2(in[0].dim[0], in[0].dim[1]);
    return TG_OK;
}

static tg_status gap_forward(tg_node *n) {
    const tg_shape *x = &n->inputs[0]->value.shape;
    const int64_t planes = x->dim[0] * x->dim[1], s = x->dim[2] * x->dim[3];
    const float *in = tg_in(n, 0);
#pragma omp parallel for schedule(static) if (planes * s > TG_PAR_MIN)
    for (int64_t pl = 0; pl < planes; pl++) {
        const float *xp = in + pl * s;
        float acc = 0.0f;
#pragma omp simd reduction(+ : acc)
        for (int64_t j = 0; j < s; j++) acc += xp[j];
        n->value.data[pl] = acc / (float)s;
    }
    return TG_OK;
}

static tg_status gap_backward(tg_node *n) {
    float *dx = tg_din(n, 0);
    if (!dx) return TG_OK;
    const tg_shape *x = &n->inputs[0]->value.shape;
    const int64_t planes = x->dim[0] * x->dim[1], s = x->dim[2] * x->dim[3];
#pragma omp parallel for schedule(static) if (planes * s > TG_PAR_MIN)
    for (int64_t pl = 0; pl < planes; pl++) {
        const float v = n->grad.data[pl] / (float)s;
        float *dxp = dx + pl * s;
#pragma omp simd
        for (int64_t j = 0; j < s; j++) dxp[j] += v;
    }
    return TG_OK;
}

static double gap_flops(const tg_node *n) {
    return (double)tg_numel(&n->inputs[0]->value);
}

const tg_op tg_op_global_avgpool = {
    .name = "global_avgpool",
    .doc = "mean over each channel's whole plane: (N,C,H,W) -> (N,C)",
    .formula = "y[n,c] = (1/(H W)) sum_{h,w} x[n,c,h,w]; backward: dx[n,c,h,w] += dy[n,c] / (H W)",
    .n_inputs = 1,
    .infer = gap_infer,
    .forward = gap_forward,
    .backward = gap_backward,
    .flops = gap_flops,
    .backward_use = pool_use,
    .examples = {{"2x3x4x5", ""}, {"3x2x3x3", ""}},
};
