/* Window geometry and the im2col / col2im transforms; see tg_im2col.h. */
#include "tg_im2col.h"

#include <string.h>

#include "tg_op_util.h"

tg_status tg_conv_geom_init(tg_conv_geom *g, const char *what, int c, int h, int w, int k,
                            int stride, tg_pad pad, int padding) {
    g->c = c;
    g->h = h;
    g->w = w;
    g->k = k;
    g->stride = stride;
    if (padding >= 0) {
        if (h + 2 * padding < k || w + 2 * padding < k)
            return tg_error(TG_ERR_SHAPE,
                            "%s %d does not fit the %dx%d input with padding=%d", what, k, h, w,
                            padding);
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

/* x: (C, H, W)  col: (C*K*K, Ho*Wo) */
void tg_im2col(const tg_conv_geom *g, const float *x, float *col) {
    const int kk = g->k * g->k, rows = g->c * kk, p = g->ho * g->wo;
    int64_t work = (int64_t)rows * p;
#pragma omp parallel for schedule(static) if (work > TG_PAR_MIN)
    for (int r = 0; r < rows; r++) {
        int c = r / kk, kh = (r % kk) / g->k, kw = r % g->k;
        const float *xc = x + (int64_t)c * g->h * g->w;
        float *dst = col + (int64_t)r * p;
        for (int oh = 0; oh < g->ho; oh++) {
            int ih = oh * g->stride - g->pt + kh;
            float *d = dst + (int64_t)oh * g->wo;
            if (ih < 0 || ih >= g->h) memset(d, 0, (size_t)g->wo * sizeof(float));
            else gather_row(g, xc + (int64_t)ih * g->w, kw, d);
        }
    }
}

/* col: (C*K*K, Ho*Wo)  dx: (C, H, W) += col2im(col) */
void tg_col2im_add(const tg_conv_geom *g, const float *col, float *dx) {
    const int kk = g->k * g->k, p = g->ho * g->wo, s = g->stride;
    int64_t work = (int64_t)g->c * kk * p;
#pragma omp parallel for schedule(static) if (work > TG_PAR_MIN)
    for (int c = 0; c < g->c; c++) {
        float *dxc = dx + (int64_t)c * g->h * g->w;
        for (int kh = 0; kh < g->k; kh++)
            for (int kw = 0; kw < g->k; kw++) {
                const float *src = col + ((int64_t)c * kk + kh * g->k + kw) * p;
                int lo, hi;
                tg_conv_span(g->wo, s, g->pl, kw, g->w, &lo, &hi);
                for (int oh = 0; oh < g->ho; oh++) {
                    int ih = oh * s - g->pt + kh;
                    if (ih < 0 || ih >= g->h) continue;
                    float *d = dxc + (int64_t)ih * g->w;
                    const float *sr = src + (int64_t)oh * g->wo;
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
