/* Window geometry and the im2col / col2im transforms; see tg_im2col.h. */
#include "ops/tg_im2col.h"

#include <math.h>
#include <string.h>

#include "autograd/tg_cpu.h"

tg_status tg_conv_geom_init(tg_conv_geom *g, const char *what, int c, int h, int w, int k,
                            int stride, tg_pad pad, int padding) {
    g->c = c;
    g->h = h;
    g->w = w;
    g->k = k;
    g->stride = stride;
    if (padding >= 0) {
        if (h + 2 * padding < k || w + 2 * padding < k)
            return tg_error(TG_ERR_SHAPE, "%s %d does not fit the %dx%d input with padding=%d",
                            what, k, h, w, padding);
        g->pt = g->pl = padding;
        g->ho = (h + 2 * padding - k) / stride + 1;
        g->wo = (w + 2 * padding - k) / stride + 1;
    } else if (pad == TG_PAD_SAME) {
        g->ho = (h + stride - 1) / stride;
        g->wo = (w + stride - 1) / stride;
        int th = (g->ho - 1) * stride + k - h, tw = (g->wo - 1) * stride + k - w;
        g->pt = th > 0 ? th / 2 : 0;
        g->pl = tw > 0 ? tw / 2 : 0;
    } else {
        if (h < k || w < k)
            return tg_error(TG_ERR_SHAPE,
                            "%s %d is larger than the %dx%d input with pad=valid "
                            "(use pad=same or a smaller window)",
                            what, k, h, w);
        g->pt = g->pl = 0;
        g->ho = (h - k) / stride + 1;
        g->wo = (w - k) / stride + 1;
    }
    return TG_OK;
}

/* Copy one tap's row of outputs: dst[ow] = src[ow * s - pl + kw], 0 where that
 * falls in the padding. The stride-1 case is a memcpy between two zero fills. */
static inline void gather_row(const tg_conv_geom *g, const float *src, int kw, float *dst) {
    int lo, hi;
    tg_conv_span(g->wo, g->stride, g->pl, kw, g->w, &lo, &hi);
    for (int ow = 0; ow < lo; ow++) dst[ow] = 0.0f;
    if (g->stride == 1) {
        if (hi > lo) memcpy(dst + lo, src + lo - g->pl + kw, (size_t)(hi - lo) * sizeof(float));
    } else {
        const int off = kw - g->pl;
        for (int ow = lo; ow < hi; ow++) dst[ow] = src[ow * g->stride + off];
    }
    for (int ow = hi; ow < g->wo; ow++) dst[ow] = 0.0f;
}

/* x: (C, H, W)  col: (C*K*K, (oh1-oh0)*Wo) */
void tg_im2col(const tg_conv_geom *g, const float *x, int oh0, int oh1, float *col) {
    const int kk = g->k * g->k, rows = g->c * kk, p = (oh1 - oh0) * g->wo;
    for (int r = 0; r < rows; r++) {
        int c = r / kk, kh = (r % kk) / g->k, kw = r % g->k;
        const float *xc = x + (int64_t)c * g->h * g->w;
        float *dst = col + (int64_t)r * p;
        for (int oh = oh0; oh < oh1; oh++) {
            int ih = oh * g->stride - g->pt + kh;
            float *d = dst + (int64_t)(oh - oh0) * g->wo;
            if (ih < 0 || ih >= g->h)
                memset(d, 0, (size_t)g->wo * sizeof(float));
            else
                gather_row(g, xc + (int64_t)ih * g->w, kw, d);
        }
    }
}

/* col: (C*K*K, (oh1-oh0)*Wo)  dx: (C, H, W) += col2im(col) */
TG_HOT void tg_col2im_add(const tg_conv_geom *g, const float *col, int oh0, int oh1, float *dx) {
    const int kk = g->k * g->k, p = (oh1 - oh0) * g->wo, s = g->stride;
    for (int c = 0; c < g->c; c++) {
        float *dxc = dx + (int64_t)c * g->h * g->w;
        for (int kh = 0; kh < g->k; kh++)
            for (int kw = 0; kw < g->k; kw++) {
                const float *src = col + ((int64_t)c * kk + kh * g->k + kw) * p;
                int lo, hi;
                tg_conv_span(g->wo, s, g->pl, kw, g->w, &lo, &hi);
                for (int oh = oh0; oh < oh1; oh++) {
                    int ih = oh * s - g->pt + kh;
                    if (ih < 0 || ih >= g->h) continue;
                    float *d = dxc + (int64_t)ih * g->w;
                    const float *sr = src + (int64_t)(oh - oh0) * g->wo;
                    const int off = kw - g->pl;
                    if (s == 1) {
#pragma omp simd
                        for (int ow = lo; ow < hi; ow++) d[ow + off] += sr[ow];
                    } else {
                        for (int ow = lo; ow < hi; ow++) d[ow * s + off] += sr[ow];
                    }
                }
            }
    }
}

/* ---- serial row helpers for the GEMM-based ops ---- */

/* The activation on one row, serially (tg_act_forward/backward would open OpenMP
 * regions between GEMMs). Same formulas, derivatives from the output y. */
TG_HOT void tg_act_row(tg_act act, float *y, int64_t p) {
    switch (act) {
    case TG_ACT_NONE:
        break;
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
TG_HOT void tg_act_grad_row(tg_act act, const float *y, const float *dy, float *dz, int64_t p) {
    switch (act) {
    case TG_ACT_NONE:
        for (int64_t j = 0; j < p; j++) dz[j] = dy[j];
        break;
    case TG_ACT_RELU:
#pragma omp simd
        for (int64_t j = 0; j < p; j++) {
            const float g = dy[j]; /* loaded unconditionally, so the loop vectorises */
            dz[j] = y[j] > 0.0f ? g : 0.0f;
        }
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

/* y (F, q), row stride ld, = act(y + b) for one block while it is in cache, in one
 * pass per row; b may be NULL. Serial (see the top of the file). */
TG_HOT void tg_fill_rows(float *y, const float *b, int f, int64_t q, int64_t ld) {
    for (int i = 0; i < f; i++) {
        float *yi = y + (int64_t)i * ld;
        const float bi = b[i];
#pragma omp simd
        for (int64_t j = 0; j < q; j++) yi[j] = bi;
    }
}

TG_HOT void tg_bias_act(float *y, const float *b, tg_act act, int f, int64_t q, int64_t ld) {
    for (int i = 0; i < f; i++) {
        float *yi = y + (int64_t)i * ld;
        const float bi = b ? b[i] : 0.0f;
        if (act == TG_ACT_RELU) {
#pragma omp simd
            for (int64_t j = 0; j < q; j++) {
                float v = yi[j] + bi;
                yi[j] = v > 0.0f ? v : 0.0f;
            }
        } else {
            if (b) {
#pragma omp simd
                for (int64_t j = 0; j < q; j++) yi[j] += bi;
            }
            tg_act_row(act, yi, q);
        }
    }
}

/* dz (F, q) = dy * act'(y) and db (F) += its row sums, one pass, one writer per row;
 * y and dy have row stride ld, dz is packed (stride q). With no activation only the
 * sums are taken (dz is dy itself). */
TG_HOT void tg_dz_bias(const tg_node *node, int64_t first, const float *dy, float *dz, float *db,
                       tg_act act, int f, int64_t q, int64_t ld) {
    const float *y = node->value.data + first;
    const uint8_t *bits = act == TG_ACT_RELU ? tg_node_sign_bits(node) : NULL;
    for (int i = 0; i < f; i++) {
        const float *row = dy + (int64_t)i * ld;
        if (bits)
            tg_relu_grad_bits(bits, first + (int64_t)i * ld, row, dz + (int64_t)i * q, q, 0);
        else if (act != TG_ACT_NONE)
            tg_act_grad_row(act, y + (int64_t)i * ld, row, dz + (int64_t)i * q, q);
        if (act != TG_ACT_NONE) row = dz + (int64_t)i * q;
        if (db) {
            float acc = 0.0f;
#pragma omp simd reduction(+ : acc)
            for (int64_t j = 0; j < q; j++) acc += row[j];
            db[i] += acc;
        }
    }
}
