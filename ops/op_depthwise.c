/* depthwise_conv2d and sepconv2d. A depthwise conv filters each input channel on
 * its own (groups = C in PyTorch); sepconv2d (Keras SeparableConv2D) follows it
 * with a pointwise 1x1 conv, done as one GEMM per image, fused into one op.
 *   depthwise_conv2d  x: (N, C, H, W)  weight: (C*M, 1, K, K)  bias: (C*M)  y: (N, C*M, Ho, Wo)
 *   sepconv2d         x: (N, C, H, W)  depthwise: (C*M, 1, K, K)  pointwise: (F, C*M, 1, 1)
 *                     bias: (F)  y: (N, F, Ho, Wo)
 * Output channel o = c*M + m reads input channel c (the PyTorch groups layout).
 *
 * The depthwise kernels are our own, with the inner loop running along a row of
 * outputs so that stride 1 vectorises. Forward is threaded over output planes;
 * backward over input channels: one thread owns input channel c, its dx planes
 * and the weights of its M output channels, and sums over pixels and images in a
 * fixed order (deterministic). Each call opens one OpenMP region for the whole
 * batch, never one per image between GEMMs (see op_conv.c on threading). */
#include <string.h>

#include "autograd/tg_blas.h"
#include "autograd/tg_cpu.h"
#include "ops/tg_batchnorm.h"
#include "ops/tg_builtin_ops.h"
#include "ops/tg_depthwise.h"
#include "ops/tg_im2col.h"
#include "ops/tg_op_util.h"
#include "ops/tg_pool.h"

/* ---- the depthwise kernels, one image at a time ---- */

/* Hot plane kernels get AVX-512 and AVX2+FMA clones picked at load time (TG_HOT). */

/* One output plane: yo (Ho, Wo) = bo + the K x K filter wo over the input plane xc (H, W),
 * any K and stride (the padded kernels below take K = 3, stride 1). Interior columns
 * (every tap inside the row) go row of taps by row of taps; the few edge columns
 * take the checked path. */
TG_FMA TG_HOT static void dw_plane_forward(const tg_conv_geom *g, const float *xc, const float *wo,
                                           float bo, float *yo) {
    const int k = g->k, s = g->stride, w = g->w;
    int wlo, whi, unused;
    tg_conv_span(g->wo, s, g->pl, 0, w, &wlo, &unused);     /* tap 0 has the largest lo */
    tg_conv_span(g->wo, s, g->pl, k - 1, w, &unused, &whi); /* tap K-1 the smallest hi */
    if (whi < wlo) whi = wlo;
    for (int oh = 0; oh < g->ho; oh++) {
        const int top = oh * s - g->pt;
        const int kh0 = top < 0 ? -top : 0, kh1 = g->h - top < k ? g->h - top : k;
        float *yr = yo + (int64_t)oh * g->wo;
        for (int ow = 0; ow < g->wo; ow++) {
            if (ow == wlo) ow = whi; /* the interior is done below */
            if (ow >= g->wo) break;
            float acc = bo;
            for (int kh = kh0; kh < kh1; kh++)
                for (int kw = 0; kw < k; kw++) {
                    int iw = ow * s - g->pl + kw;
                    if (iw >= 0 && iw < w)
                        acc += wo[kh * k + kw] * xc[(int64_t)(top + kh) * w + iw];
                }
            yr[ow] = acc;
        }
        /* interior: tap by tap, so the loop over ow has no inner loop and vectorises */
#pragma omp simd
        for (int ow = wlo; ow < whi; ow++) yr[ow] = bo;
        for (int kh = kh0; kh < kh1; kh++) {
            const float *wr = wo + kh * k;
            const int64_t base = (int64_t)(top + kh) * w - g->pl;
            for (int kw = 0; kw < k; kw++) {
                const float wv = wr[kw];
#pragma omp simd
                for (int ow = wlo; ow < whi; ow++) yr[ow] += wv * xc[base + (int64_t)ow * s + kw];
            }
        }
    }
}

/* ---- K = 3, stride 1 (every depthwise conv of the seed model): padded planes ----
 *
 * The input plane is copied once into xp (Ho + 2, Wo + 2) with a zero border, so
 * output (oh, ow) reads its nine taps at xp[oh + kh][ow + kw]: the row loops have no
 * edge columns and vectorise from end to end. Backward borders dz the same way:
 * dx is the correlation of dz (at 2 - pad in a zero plane) with the flipped filter,
 * and dW is nine dot products of dz (rows widened to Wo + 2 with zeros) against xp
 * read flat at the nine tap offsets, one accumulator per tap for the whole plane
 * instead of one horizontal sum per tap and row. */

/* A worker's planes, each with its zero border set once per call. */
typedef struct dw_planes {
    float *xp;  /* (Ho + 2, Wo + 2): x at (pt, pl) */
    float *dzw; /* (Ho, Wo + 2): dz, two zero columns after each row */
    float *dzb; /* (H + 2, W + 2): dz at (2 - pt, 2 - pl) */
} dw_planes;

/* K = 3, stride 1, and no side padded by more than 2 (so dz fits in dzb). */
static int dw_padded(const tg_conv_geom *g) {
    if (g->k != 3 || g->stride != 1) return 0;
    const int pb = g->ho + 2 - g->h - g->pt, pr = g->wo + 2 - g->w - g->pl;
    return g->pt <= 2 && g->pl <= 2 && pb <= 2 && pr <= 2;
}

/* Floats of one padded input plane (dw_planes.xp). */
static size_t padded_plane_floats(const tg_conv_geom *g) {
    return ((size_t)g->ho + 2) * ((size_t)g->wo + 2);
}

size_t tg_dw_work_floats(const tg_conv_geom *g) {
    if (!dw_padded(g)) return 0;
    const size_t wp = (size_t)g->wo + 2;
    return ((size_t)g->ho + 2) * wp + (size_t)g->ho * wp + ((size_t)g->h + 2) * ((size_t)g->w + 2);
}

/* Worker t's planes, zeroed. */
static dw_planes dw_planes_zeroed(const tg_conv_geom *g, const tg_dw_work *work, int t) {
    const size_t wp = (size_t)g->wo + 2, n = tg_dw_work_floats(g);
    dw_planes d;
    d.xp = work->base + (size_t)t * work->stride;
    d.dzw = d.xp + ((size_t)g->ho + 2) * wp;
    d.dzb = d.dzw + (size_t)g->ho * wp;
    memset(d.xp, 0, n * sizeof(float));
    return d;
}

/* dst (row stride ld) at (top, left) = src (rows, cols); the rest of dst is untouched. */
static void copy_plane(float *dst, int64_t ld, int top, int left, const float *src, int rows,
                       int cols) {
    for (int r = 0; r < rows; r++)
        memcpy(dst + (top + r) * ld + left, src + (int64_t)r * cols, (size_t)cols * sizeof(float));
}

/* The nine taps f (3x3, row-major) at column j of the rows r0, r1, r2. */
static inline float taps3(const float *r0, const float *r1, const float *r2, const float *f,
                          int j) {
    return (f[0] * r0[j] + f[1] * r0[j + 1] + f[2] * r0[j + 2]) +
           (f[3] * r1[j] + f[4] * r1[j + 1] + f[5] * r1[j + 2]) +
           (f[6] * r2[j] + f[7] * r2[j + 1] + f[8] * r2[j + 2]);
}

/* Eight floats at any float's address (GCC's vector extension: AVX2 or AVX-512
 * registers in the target clones, SSE pairs in the baseline). */
typedef float dw_v8 __attribute__((vector_size(32), aligned(4), may_alias));
#define DW_AT(p) (*(dw_v8 *)(p))

/* The taps3 expression, lane by lane, over vectors: l, c, r the columns left of, at
 * and right of each output in rows 0, 1, 2 (a macro: a function returning a vector
 * would take another ABI in each target clone). */
#define TAPS3_VEC(f, l0, c0, r0, l1, c1, r1, l2, c2, r2)                                           \
    (((f)[0] * (l0) + (f)[1] * (c0) + (f)[2] * (r0)) +                                             \
     ((f)[3] * (l1) + (f)[4] * (c1) + (f)[5] * (r1)) +                                             \
     ((f)[6] * (l2) + (f)[7] * (c2) + (f)[8] * (r2)))

/* v with its lanes that are not > 0 set to 0, as tg_act_row's relu (a NaN becomes 0):
 * the comparison's mask of all-one or all-zero lanes anded with v's bits. */
typedef int dw_v8m __attribute__((vector_size(32), aligned(4), may_alias));
#define DW_RELU(v) ((dw_v8)((dw_v8m)(v) & ((v) > 0.0f)))

/* taps3 at the eight columns j..j+7. */
#define TAPS3_V8(r0, r1, r2, f, j)                                                                 \
    TAPS3_VEC(f, DW_AT((r0) + (j)), DW_AT((r0) + (j) + 1), DW_AT((r0) + (j) + 2),                  \
              DW_AT((r1) + (j)), DW_AT((r1) + (j) + 1), DW_AT((r1) + (j) + 2), DW_AT((r2) + (j)),  \
              DW_AT((r2) + (j) + 1), DW_AT((r2) + (j) + 2))

/* How dw_rows3 writes its outputs: bias + the taps, the same through a ReLU (applied
 * before the store, not as a pass over the plane), out += the taps, or out = 0 + the
 * taps (the numbers of adding to zeros, without the pass that zeroes out). */
typedef enum { DW_OUT_BIAS, DW_OUT_BIAS_RELU, DW_OUT_ADD, DW_OUT_ADD_TO_ZERO } dw_out;

/* out (rows, n), row stride ldo, = the 3x3 filter f over src (rows + 2, n + 2), row
 * stride ld, written as `how` says. Eight columns at a time; a row's last n % 8
 * take one more vector ending at its end (which writes a few outputs twice, with
 * the same values) or, when adding, a scalar loop. */
TG_FMA TG_HOT static void dw_rows3(const float *restrict src, int64_t ld, const float *restrict f,
                                   float bias, float *restrict out, int64_t ldo, int rows, int n,
                                   dw_out how) {
    float taps[9]; /* in registers for the whole plane */
    memcpy(taps, f, sizeof taps);
    for (int r = 0; r < rows; r++) {
        const float *r0 = src + r * ld, *r1 = r0 + ld, *r2 = r1 + ld;
        float *o = out + r * ldo;
        int j = 0;
        if (how == DW_OUT_ADD) {
            for (; j + 8 <= n; j += 8) DW_AT(o + j) += TAPS3_V8(r0, r1, r2, taps, j);
            for (; j < n; j++) o[j] += taps3(r0, r1, r2, taps, j);
            continue;
        }
        if (how == DW_OUT_ADD_TO_ZERO) {
            for (; j + 8 <= n; j += 8) DW_AT(o + j) = 0.0f + TAPS3_V8(r0, r1, r2, taps, j);
            for (; j < n; j++) o[j] = 0.0f + taps3(r0, r1, r2, taps, j);
            continue;
        }
        const int relu = how == DW_OUT_BIAS_RELU;
        for (; j + 8 <= n; j += 8) {
            const dw_v8 v = bias + TAPS3_V8(r0, r1, r2, taps, j);
            DW_AT(o + j) = relu ? DW_RELU(v) : v;
        }
        if (j < n && n >= 8) {
            const dw_v8 v = bias + TAPS3_V8(r0, r1, r2, taps, n - 8);
            DW_AT(o + n - 8) = relu ? DW_RELU(v) : v;
        }
        for (; j < n && n < 8; j++) {
            const float v = bias + taps3(r0, r1, r2, taps, j);
            o[j] = relu && !(v > 0.0f) ? 0.0f : v;
        }
    }
}

/* v's lanes one to the right with a zero in lane 0 (SHIFT_IN), or one to the left
 * with a zero in lane 7 (SHIFT_OUT): a row's first eight columns seen from column -1,
 * its last eight from one past the end (GCC 12 and clang have
 * __builtin_shufflevector; older GCC only __builtin_shuffle). */
#if defined(__clang__) || __GNUC__ >= 12
#define SHIFT_IN(v) __builtin_shufflevector(v, (dw_v8){0}, 8, 0, 1, 2, 3, 4, 5, 6)
#define SHIFT_OUT(v) __builtin_shufflevector(v, (dw_v8){0}, 1, 2, 3, 4, 5, 6, 7, 8)
#else
typedef int dw_v8i __attribute__((vector_size(32)));
#define SHIFT_IN(v) __builtin_shuffle(v, (dw_v8){0}, (dw_v8i){8, 0, 1, 2, 3, 4, 5, 6})
#define SHIFT_OUT(v) __builtin_shuffle(v, (dw_v8){0}, (dw_v8i){1, 2, 3, 4, 5, 6, 7, 8})
#endif

/* out (H, W) = bias + the 3x3 filter f over the plane x (H, W) zero-padded by one on
 * every side (same padding), read in place: dw_rows3's values without the padded
 * copy (a pass over the input per channel, when the copy serves one filter). The
 * first and the last eight columns of a row take the padding's zeros from a shuffle,
 * the columns between whole vectors (the last edge vector overlaps them); zeros: a
 * zero row of W floats. W >= 10. */
TG_FMA TG_HOT static void dw_same3(const float *restrict x, int h, int w, const float *restrict f,
                                   float bias, const float *restrict zeros, float *restrict out) {
    float taps[9];
    memcpy(taps, f, sizeof taps);
    for (int r = 0; r < h; r++) {
        /* rows r - 1, r, r + 1 */
        const float *r0 = r > 0 ? x + (int64_t)(r - 1) * w : zeros;
        const float *r1 = x + (int64_t)r * w;
        const float *r2 = r + 1 < h ? x + (int64_t)(r + 1) * w : zeros;
        float *o = out + (int64_t)r * w;
        const dw_v8 a0 = DW_AT(r0), a1 = DW_AT(r1), a2 = DW_AT(r2); /* columns 0..7 */
        DW_AT(o) = bias + TAPS3_VEC(taps, SHIFT_IN(a0), a0, DW_AT(r0 + 1), SHIFT_IN(a1), a1,
                                    DW_AT(r1 + 1), SHIFT_IN(a2), a2, DW_AT(r2 + 1));
        /* columns j .. j + 7 read j - 1 .. j + 8; the loop ends at j >= w - 8 */
        for (int j = 8; j + 8 <= w - 1; j += 8)
            DW_AT(o + j) = bias + TAPS3_V8(r0, r1, r2, taps, j - 1);
        const int e = w - 8; /* columns w - 8 .. w - 1 */
        const dw_v8 b0 = DW_AT(r0 + e), b1 = DW_AT(r1 + e), b2 = DW_AT(r2 + e);
        DW_AT(o + e) =
            bias + TAPS3_VEC(taps, DW_AT(r0 + e - 1), b0, SHIFT_OUT(b0), DW_AT(r1 + e - 1), b1,
                             SHIFT_OUT(b1), DW_AT(r2 + e - 1), b2, SHIFT_OUT(b2));
    }
}

/* dw (9) += sum over q < n of dzw[q] xp[q + kh ld + kw]: the weight gradient of one
 * plane, with dzw's zero columns keeping each row's sum to its own outputs. */
TG_FMA TG_HOT static void dw_weight3(const float *restrict xp, const float *restrict dzw,
                                     int64_t ld, int64_t n, float *restrict dw) {
    const float *x0 = xp, *x1 = xp + ld, *x2 = x1 + ld;
    float s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0, s5 = 0, s6 = 0, s7 = 0, s8 = 0;
#pragma omp simd reduction(+ : s0, s1, s2, s3, s4, s5, s6, s7, s8)
    for (int64_t q = 0; q < n; q++) {
        const float d = dzw[q];
        s0 += d * x0[q];
        s1 += d * x0[q + 1];
        s2 += d * x0[q + 2];
        s3 += d * x1[q];
        s4 += d * x1[q + 1];
        s5 += d * x1[q + 2];
        s6 += d * x2[q];
        s7 += d * x2[q + 1];
        s8 += d * x2[q + 2];
    }
    dw[0] += s0;
    dw[1] += s1;
    dw[2] += s2;
    dw[3] += s3;
    dw[4] += s4;
    dw[5] += s5;
    dw[6] += s6;
    dw[7] += s7;
    dw[8] += s8;
}

/* The whole batch in one parallel region over the N*C input planes, each output
 * plane followed by its bias and activation while it is in cache, by work's workers
 * (with their padded planes for the K = 3 kernels).
 * x: (N, C, H, W)  w: (C*M, K*K)  b: (C*M) or NULL  y: (N, C*M, Ho, Wo) */
void tg_dw_forward(const tg_conv_geom *g, int batch, int m, tg_act act, const float *x,
                   const float *w, const float *b, float *y, const tg_dw_work *work, float *keep) {
    const int k = g->k, p = g->ho * g->wo, cm = g->c * m, padded = dw_padded(g);
    const int64_t planes = (int64_t)batch * g->c, hw = (int64_t)g->h * g->w;
    /* one filter per plane and same padding: read the plane in place (dw_same3) */
    const int in_place = padded && !keep && m == 1 && g->pt == 1 && g->pl == 1 && g->ho == g->h &&
                         g->wo == g->w && g->w >= 10;
    /* the work is shared by output plane, so that one input plane with many filters (a
     * one-channel conv of one image) keeps every thread busy; each thread copies an
     * input plane when it reaches one (into `keep`, one thread a plane: by input plane) */
    const int64_t per = keep ? m : 1, units = planes * m / per;
#pragma omp parallel num_threads(work->workers) if (planes * m * p * k * k > TG_PAR_MIN)
    {
        dw_planes d = {0};
        if (padded) d = dw_planes_zeroed(g, work, tg_worker_id());
        int64_t copied = -1; /* the input plane in d.xp */
#pragma omp for schedule(static)
        for (int64_t u = 0; u < units; u++) {
            const int64_t pl = u * per / m;
            const float *xc = x + pl * hw;
            if (padded && keep) d.xp = keep + (pl % g->c) * padded_plane_floats(g);
            if (in_place) { /* d.xp's first row: zeros */
                float *yo = y + ((pl / g->c) * cm + pl % g->c) * p;
                dw_same3(xc, g->h, g->w, w + (pl % g->c) * 9, b ? b[pl % g->c] : 0.0f, d.xp, yo);
                tg_act_row(act, yo, p);
                continue;
            }
            if (padded && copied != pl) copy_plane(d.xp, g->wo + 2, g->pt, g->pl, xc, g->h, g->w);
            copied = pl;
            const int o0 = (int)(pl % g->c) * m + (int)(u * per % m);
            for (int o = o0; o < o0 + (int)per; o++) {
                float *yo = y + ((pl / g->c) * cm + o) * p;
                const float *wo = w + (int64_t)o * k * k, bo = b ? b[o] : 0.0f;
                if (padded && act == TG_ACT_RELU) {
                    dw_rows3(d.xp, g->wo + 2, wo, bo, yo, g->wo, g->ho, g->wo, DW_OUT_BIAS_RELU);
                    continue;
                }
                if (padded)
                    dw_rows3(d.xp, g->wo + 2, wo, bo, yo, g->wo, g->ho, g->wo, DW_OUT_BIAS);
                else
                    dw_plane_forward(g, xc, wo, bo, yo);
                tg_act_row(act, yo, p);
            }
        }
    }
}

/* dx plane (H, W) += the adjoint of dw_plane_forward applied to dz (Ho, Wo).
 * Stride 1 gathers: dx[ih][iw] = sum_taps w[kh][kw] dz[ih+pt-kh][iw+pl-kw], one store
 * per input pixel; other strides scatter tap by tap. */
TG_FMA TG_HOT static void dw_plane_backward_input(const tg_conv_geom *g, const float *dz,
                                                  const float *wo, float *dxc) {
    const int k = g->k, s = g->stride;
    if (s != 1) {
        for (int kh = 0; kh < k; kh++)
            for (int kw = 0; kw < k; kw++) {
                const float wv = wo[kh * k + kw];
                const int off = kw - g->pl;
                int lo, hi;
                tg_conv_span(g->wo, s, g->pl, kw, g->w, &lo, &hi);
                for (int oh = 0; oh < g->ho; oh++) {
                    int ih = oh * s - g->pt + kh;
                    if (ih < 0 || ih >= g->h) continue;
                    float *dxr = dxc + (int64_t)ih * g->w;
                    const float *dr = dz + (int64_t)oh * g->wo;
                    for (int ow = lo; ow < hi; ow++) dxr[ow * s + off] += wv * dr[ow];
                }
            }
        return;
    }
    /* iw reads ow = iw + pl - kw for every kw when iw in [k-1-pl, wo-pl) */
    int ilo = k - 1 - g->pl, ihi = g->wo - g->pl;
    if (ilo < 0) ilo = 0;
    if (ihi > g->w) ihi = g->w;
    if (ihi < ilo) ihi = ilo;
    for (int ih = 0; ih < g->h; ih++) {
        const int base_row = ih + g->pt; /* oh = base_row - kh */
        const int kh0 = base_row - g->ho + 1 > 0 ? base_row - g->ho + 1 : 0;
        const int kh1 = base_row + 1 < k ? base_row + 1 : k;
        float *dxr = dxc + (int64_t)ih * g->w;
        for (int iw = 0; iw < g->w; iw++) {
            if (iw == ilo) iw = ihi;
            if (iw >= g->w) break;
            float acc = 0.0f;
            for (int kh = kh0; kh < kh1; kh++)
                for (int kw = 0; kw < k; kw++) {
                    int ow = iw + g->pl - kw;
                    if (ow >= 0 && ow < g->wo)
                        acc += wo[kh * k + kw] * dz[(int64_t)(base_row - kh) * g->wo + ow];
                }
            dxr[iw] += acc;
        }
        for (int kh = kh0; kh < kh1; kh++) {
            const float *wr = wo + kh * k;
            const int64_t base =
                (int64_t)(base_row - kh) * g->wo + g->pl; /* dz index of ow = iw + pl */
            for (int kw = 0; kw < k; kw++) {
                const float wv = wr[kw];
#pragma omp simd
                for (int iw = ilo; iw < ihi; iw++) dxr[iw] += wv * dz[base + iw - kw];
            }
        }
    }
}

/* dw (K*K) += sum over the plane of dz times the input under each tap; db += sum dz. */
TG_FMA TG_HOT static void dw_plane_backward_weight(const tg_conv_geom *g, const float *xc,
                                                   const float *dz, float *dw, float *db) {
    const int k = g->k, s = g->stride, p = g->ho * g->wo;
    if (db) {
        float acc = 0.0f;
#pragma omp simd reduction(+ : acc)
        for (int j = 0; j < p; j++) acc += dz[j];
        *db += acc;
    }
    if (!dw) return;
    for (int kh = 0; kh < k; kh++)
        for (int kw = 0; kw < k; kw++) {
            const int off = kw - g->pl;
            int lo, hi;
            tg_conv_span(g->wo, s, g->pl, kw, g->w, &lo, &hi);
            float acc = 0.0f;
            for (int oh = 0; oh < g->ho; oh++) {
                int ih = oh * s - g->pt + kh;
                if (ih < 0 || ih >= g->h) continue;
                const float *xr = xc + (int64_t)ih * g->w, *dr = dz + (int64_t)oh * g->wo;
                float row = 0.0f;
#pragma omp simd reduction(+ : row)
                for (int ow = lo; ow < hi; ow++) row += dr[ow] * xr[ow * s + off];
                acc += row;
            }
            dw[kh * k + kw] += acc;
        }
}

/* One padded plane's backward (K = 3): the dz plane dzo (Ho, Wo) of filter wo reading
 * the input whose padded copy is in d.xp; dw (9), db += ..., dxc (H, W) added to or set as
 * dx_how says; each may be NULL. */
static void dw_backward_padded(const tg_conv_geom *g, const dw_planes *d, const float *dzo,
                               const float *wo, float *dxc, dw_out dx_how, float *dw, float *db) {
    const int p = g->ho * g->wo;
    const int64_t wp = g->wo + 2;
    if (db) {
        float acc = 0.0f;
#pragma omp simd reduction(+ : acc)
        for (int j = 0; j < p; j++) acc += dzo[j];
        *db += acc;
    }
    /* dz placed at (2 - pt, 2 - pl) in dzb for dx; where its rows are as long as dzw's
     * (W = Wo: same padding) and the two columns after each of them are border zeros
     * (pl = 1), that copy serves dW too */
    const int shared = dxc && g->w == g->wo && g->pl == 1;
    if (dxc) copy_plane(d->dzb, g->w + 2, 2 - g->pt, 2 - g->pl, dzo, g->ho, g->wo);
    if (dw) {
        const float *dzp = shared ? d->dzb + (int64_t)(2 - g->pt) * wp + 1 : d->dzw;
        if (!shared) copy_plane(d->dzw, wp, 0, 0, dzo, g->ho, g->wo);
        dw_weight3(d->xp, dzp, wp, (g->ho - 1) * wp + g->wo, dw);
    }
    if (dxc) {
        /* dx[ih][iw] = sum w[kh][kw] dz[ih + pt - kh][iw + pl - kw]: the flipped filter
         * over dz placed at (2 - pt, 2 - pl) */
        const float flipped[9] = {wo[8], wo[7], wo[6], wo[5], wo[4], wo[3], wo[2], wo[1], wo[0]};
        dw_rows3(d->dzb, g->w + 2, flipped, 0.0f, dxc, g->w, g->h, g->w, dx_how);
    }
}

/* x: (N, C, H, W)  w: (C*M, K*K)  dz: (N, C*M, Ho, Wo)
 * dx (N, C, H, W) += ..., dw (C*M, K*K) += ..., db (C*M) += ...; each may be NULL.
 * One parallel region over input channels: the thread of channel c owns its dx
 * planes and the M filters reading it, and sums over images in order. work: as
 * for tg_dw_forward. */
void tg_dw_backward(const tg_conv_geom *g, int batch, int m, const float *x, const float *w,
                    const float *dz, float *dx, int dx_fresh, float *dw, float *db,
                    const tg_dw_work *work, float *kept) {
    const int k = g->k, p = g->ho * g->wo, cm = g->c * m, padded = dw_padded(g);
    const int64_t hw = (int64_t)g->h * g->w;
#pragma omp parallel num_threads(work->workers) if ((int64_t)batch * cm * p * k * k > TG_PAR_MIN)
    {
        dw_planes d = {0};
        if (padded) d = dw_planes_zeroed(g, work, tg_worker_id());
#pragma omp for schedule(static)
        for (int c = 0; c < g->c; c++)
            for (int i = 0; i < batch; i++) {
                const float *xc = x + ((int64_t)i * g->c + c) * hw;
                float *dxc = dx ? dx + ((int64_t)i * g->c + c) * hw : NULL;
                if (padded && kept)
                    d.xp = kept + c * padded_plane_floats(g); /* copied by tg_dw_forward */
                else if (padded && dw)
                    copy_plane(d.xp, g->wo + 2, g->pt, g->pl, xc, g->h, g->w);
                /* a fresh dx plane: set by its first filter (padded), else zeroed here */
                if (dxc && dx_fresh && !padded) memset(dxc, 0, (size_t)hw * sizeof(float));
                for (int o = c * m; o < (c + 1) * m; o++) {
                    const float *dzo = dz + ((int64_t)i * cm + o) * p, *wo = w + (int64_t)o * k * k;
                    float *dwo = dw ? dw + (int64_t)o * k * k : NULL, *dbo = db ? db + o : NULL;
                    if (padded) {
                        const dw_out how = dx_fresh && o == c * m ? DW_OUT_ADD_TO_ZERO : DW_OUT_ADD;
                        dw_backward_padded(g, &d, dzo, wo, dxc, how, dwo, dbo);
                        continue;
                    }
                    if (dw || db) dw_plane_backward_weight(g, xc, dzo, dwo, dbo);
                    if (dx) dw_plane_backward_input(g, dzo, wo, dxc);
                }
            }
    }
}

/* ---- depthwise_conv2d ---- */

enum { D_KERNEL, D_STRIDE, D_PAD, D_PADDING, D_MULT, D_BIAS, D_ACT };
enum { DP_WEIGHT, DP_BIAS };

/* The window attributes, first and in the same order in both ops (window_geom
 * reads them by index). */
#define PAD_DOC                                                                                    \
    "same: TensorFlow/Keras SAME (output ceil(H/stride), odd extra pad bottom/right); valid: no "  \
    "padding"
#define PADDING_DOC                                                                                \
    "explicit zero padding on every side (PyTorch padding=); overrides pad when >= 0"
#define MULT_DOC "depth multiplier M: output channels per input channel"

static const tg_attr_spec depthwise_attrs[] = {
    {"kernel", TG_ATTR_INT, NULL, 1, 1024, NULL, "square kernel size K"},
    {"stride", TG_ATTR_INT, "1", 1, 1024, NULL, "step of the window, both axes"},
    {"pad", TG_ATTR_ENUM, "same", 0, 0, TG_PAD_CHOICES, PAD_DOC},
    {"padding", TG_ATTR_INT, "-1", -1, 1024, NULL, PADDING_DOC},
    {"multiplier", TG_ATTR_INT, "1", 1, 1024, NULL, MULT_DOC},
    {"bias", TG_ATTR_BOOL, "true", 0, 0, NULL, "add a learnable bias per output channel"},
    {"act", TG_ATTR_ENUM, "none", 0, 0, TG_ACT_CHOICES, "activation applied to the output"},
    {"init", TG_ATTR_ENUM, "glorot_uniform", 0, 0, TG_INIT_CHOICES,
     "initialiser of the weights: Glorot (Keras' default) or He (for ReLU towers)"},
};

static const tg_param_spec depthwise_params[] = {
    {"weight", TG_INIT_GLOROT_UNIFORM, 0},
    {"bias", TG_INIT_ZEROS, 0},
};

static tg_status window_geom(const tg_node *n, const tg_shape *x, tg_conv_geom *g) {
    if (x->ndim != 4) return tg_shape_error("input", "(N, C, H, W)", x);
    return tg_conv_geom_init(g, "kernel", (int)x->dim[1], (int)x->dim[2], (int)x->dim[3],
                             (int)TG_ATTR_I(n, D_KERNEL), (int)TG_ATTR_I(n, D_STRIDE),
                             (tg_pad)TG_ATTR_I(n, D_PAD), (int)TG_ATTR_I(n, D_PADDING));
}

static tg_status depthwise_infer(const tg_node *n, const tg_shape *in, tg_shape *out,
                                 tg_shape *params) {
    tg_conv_geom g;
    tg_status st = window_geom(n, &in[0], &g);
    if (st) return st;
    int64_t cm = in[0].dim[1] * TG_ATTR_I(n, D_MULT), k = TG_ATTR_I(n, D_KERNEL);
    *out = tg_shape4(in[0].dim[0], cm, g.ho, g.wo);
    params[DP_WEIGHT] = tg_shape4(cm, 1, k, k);
    if (TG_ATTR_I(n, D_BIAS)) params[DP_BIAS] = tg_shape1(cm);
    return TG_OK;
}

/* Workers whose areas of `per` floats fit in the scratch after `before` floats:
 * the threads, fewer if the thread count grew after the scratch was sized; 0 if
 * not even one fits (a scratch smaller than the op asked for). */
static int fit_workers(const tg_node *n, size_t before, size_t per) {
    const size_t floats = n->scratch_size / sizeof(float);
    const int threads = tg_max_workers();
    if (floats < before) return 0;
    if (!per) return threads;
    const size_t fit = (floats - before) / per;
    return fit < (size_t)threads ? (int)fit : threads;
}

static tg_status scratch_too_small(const tg_node *n) {
    return tg_error(TG_ERR_STATE,
                    "node '%s' (%s): its scratch (%zu bytes) is smaller than it asked for", n->name,
                    n->op->name, n->scratch_size);
}

/* Floats of the scratch before the workers' planes: d(pre-activation) of the
 * batch, when an activation is fused. */
static size_t depthwise_dz_floats(const tg_node *n) {
    if (TG_ATTR_I(n, D_ACT) == TG_ACT_NONE) return 0;
    return (size_t)tg_shape_numel(&n->value.shape);
}

static size_t depthwise_scratch(const tg_node *n) {
    tg_conv_geom g;
    if (window_geom(n, &n->inputs[0]->value.shape, &g)) return 0;
    return (depthwise_dz_floats(n) + (size_t)tg_max_workers() * tg_dw_work_floats(&g)) *
           sizeof(float);
}

static tg_dw_work depthwise_work(tg_node *n, const tg_conv_geom *g) {
    const size_t before = depthwise_dz_floats(n), per = tg_dw_work_floats(g);
    tg_dw_work w = {(float *)n->scratch + before, per, fit_workers(n, before, per)};
    return w;
}

static tg_status depthwise_forward(tg_node *n) {
    tg_conv_geom g;
    tg_status st = window_geom(n, &n->inputs[0]->value.shape, &g);
    if (st) return st;
    const float *b = n->params[DP_BIAS] ? n->params[DP_BIAS]->value.data : NULL;
    const tg_dw_work work = depthwise_work(n, &g);
    if (work.workers < 1) return scratch_too_small(n);
    tg_dw_forward(&g, (int)n->value.shape.dim[0], (int)TG_ATTR_I(n, D_MULT),
                  (tg_act)TG_ATTR_I(n, D_ACT), tg_in(n, 0), n->params[DP_WEIGHT]->value.data, b,
                  n->value.data, &work, NULL);
    return TG_OK;
}

static tg_status depthwise_backward(tg_node *n) {
    tg_conv_geom g;
    tg_status st = window_geom(n, &n->inputs[0]->value.shape, &g);
    if (st) return st;
    const tg_dw_work work = depthwise_work(n, &g);
    if (work.workers < 1) return scratch_too_small(n);
    const tg_act act = (tg_act)TG_ATTR_I(n, D_ACT);
    const float *dz = n->grad.data;
    if (act != TG_ACT_NONE) {
        tg_act_backward(n, act, n->grad.data, n->scratch, tg_numel(&n->value), 0);
        dz = n->scratch;
    }
    tg_dw_backward(&g, (int)n->value.shape.dim[0], (int)TG_ATTR_I(n, D_MULT), tg_in(n, 0),
                   n->params[DP_WEIGHT]->value.data, dz, tg_din(n, 0), tg_node_grad_fresh(n, 0),
                   tg_dparam(n, DP_WEIGHT), n->params[DP_BIAS] ? tg_dparam(n, DP_BIAS) : NULL,
                   &work, NULL);
    return TG_OK;
}

static double depthwise_flops(const tg_node *n) {
    double k = (double)TG_ATTR_I(n, D_KERNEL);
    return 2.0 * (double)tg_shape_numel(&n->value.shape) * k * k;
}

/* Backward reads the input in full (dW), its output only through act. */
static tg_value_use depthwise_use(const tg_node *n, int input) {
    return input < 0 ? tg_act_output_use((tg_act)TG_ATTR_I(n, D_ACT)) : TG_USE_VALUE;
}

const tg_op tg_op_depthwise_conv2d = {
    .name = "depthwise_conv2d",
    .doc = "per-channel 2-D convolution (depth multiplier M) with optional bias and activation",
    .formula = "y[n,cM+m,oh,ow] = act(b[cM+m] + sum_{kh,kw} w[cM+m,0,kh,kw] "
               "x[n,c,oh*s-pt+kh,ow*s-pl+kw]); backward: dw = sum_{n,oh,ow} dz x, "
               "dx[n,c] = sum_m (w[cM+m] scattered over dz), db = sum dz, dz = dy * act'(y)",
    .n_inputs = 1,
    .attrs = depthwise_attrs,
    .n_attrs = 8,
    .params = depthwise_params,
    .n_params = 2,
    .infer = depthwise_infer,
    .forward = depthwise_forward,
    .backward = depthwise_backward,
    .sets_fresh_input_grads = 1,
    .scratch_bytes = depthwise_scratch,
    .flops = depthwise_flops,
    .backward_use = depthwise_use,
    .examples = {{"2x3x5x5", "kernel=3"},
                 {"3x2x7x6", "kernel=3 stride=2 pad=valid act=tanh"},
                 {"2x3x7x7", "kernel=3 stride=2 act=relu"},
                 {"2x2x5x4", "kernel=2 multiplier=2 bias=false act=sigmoid"},
                 {"2x2x6x5", "kernel=3 padding=1 stride=2"}},
};

/* ---- sepconv2d: depthwise then pointwise ---- */

enum { S_FILTERS = 5, S_BIAS, S_ACT };
enum { SP_DEPTHWISE, SP_POINTWISE, SP_BIAS };

static const tg_attr_spec sepconv_attrs[] = {
    {"kernel", TG_ATTR_INT, NULL, 1, 1024, NULL, "square kernel size K"},
    {"stride", TG_ATTR_INT, "1", 1, 1024, NULL, "step of the window, both axes"},
    {"pad", TG_ATTR_ENUM, "same", 0, 0, TG_PAD_CHOICES, PAD_DOC},
    {"padding", TG_ATTR_INT, "-1", -1, 1024, NULL, PADDING_DOC},
    {"multiplier", TG_ATTR_INT, "1", 1, 1024, NULL, MULT_DOC},
    {"filters", TG_ATTR_INT, NULL, 1, 1 << 20, NULL, "output channels F of the pointwise conv"},
    {"bias", TG_ATTR_BOOL, "true", 0, 0, NULL,
     "add a learnable bias per filter, after the pointwise conv (Keras)"},
    {"act", TG_ATTR_ENUM, "none", 0, 0, TG_ACT_CHOICES, "activation applied to the output"},
    {"init", TG_ATTR_ENUM, "glorot_uniform", 0, 0, TG_INIT_CHOICES,
     "initialiser of the weights: Glorot (Keras' default) or He (for ReLU towers)"},
};

static const tg_param_spec sepconv_params[] = {
    {"depthwise", TG_INIT_GLOROT_UNIFORM, 0},
    {"pointwise", TG_INIT_GLOROT_UNIFORM, 0},
    {"bias", TG_INIT_ZEROS, 0},
};

static tg_status sepconv_infer(const tg_node *n, const tg_shape *in, tg_shape *out,
                               tg_shape *params) {
    tg_conv_geom g;
    tg_status st = window_geom(n, &in[0], &g);
    if (st) return st;
    int64_t cm = in[0].dim[1] * TG_ATTR_I(n, D_MULT), k = TG_ATTR_I(n, D_KERNEL);
    int64_t f = TG_ATTR_I(n, S_FILTERS);
    *out = tg_shape4(in[0].dim[0], f, g.ho, g.wo);
    params[SP_DEPTHWISE] = tg_shape4(cm, 1, k, k);
    params[SP_POINTWISE] = tg_shape4(f, cm, 1, 1);
    if (TG_ATTR_I(n, S_BIAS)) params[SP_BIAS] = tg_shape1(f);
    return TG_OK;
}

/* Image by image, whole images per thread: the depthwise output t_i (C*M, Ho, Wo)
 * of one image is made, used by its pointwise GEMM and dropped while it is still
 * in the core's cache, instead of the whole batch's t going out to memory and
 * coming back. Nothing is saved: backward makes t_i again (keeping t cost one
 * activation per layer, 150 MiB of the seed model's 1.26 GiB at batch 16), then
 * runs the image's whole backward, depthwise part included, on the same thread.
 * Scratch, per worker: its padded planes, t_i and dt_i (C*M, P), dz (F, P), and
 * its partial sums of dpointwise (F, C*M), db (F) and ddepthwise (C*M, K*K). */
typedef struct sep_call {
    tg_conv_geom g;
    int batch, m, f, cm, p, kk;
    size_t planes;   /* floats of a worker's padded planes, ahead of its t_i */
    tg_dw_work work; /* every worker's area */
} sep_call;

/* Backward keeps the padded planes of an image's C channels from remaking t_i to
 * the depthwise weight gradient: one copy of the input instead of two. */
static size_t kept_floats(const tg_conv_geom *g) {
    return dw_padded(g) ? (size_t)g->c * padded_plane_floats(g) : 0;
}

static size_t sep_worker_floats(const tg_node *n, const tg_conv_geom *g) {
    const size_t f = (size_t)TG_ATTR_I(n, S_FILTERS), p = (size_t)g->ho * g->wo;
    const size_t cm = (size_t)g->c * (size_t)TG_ATTR_I(n, D_MULT), kk = (size_t)g->k * g->k;
    return tg_dw_work_floats(g) + 2 * cm * p + f * p + f * cm + f + cm * kk + kept_floats(g);
}

static size_t sepconv_scratch(const tg_node *n) {
    tg_conv_geom g;
    if (window_geom(n, &n->inputs[0]->value.shape, &g)) return 0;
    return (size_t)tg_max_workers() * sep_worker_floats(n, &g) * sizeof(float);
}

static tg_status sep_call_init(tg_node *n, sep_call *c) {
    tg_status st = window_geom(n, &n->inputs[0]->value.shape, &c->g);
    if (st) return st;
    c->batch = (int)n->value.shape.dim[0];
    c->m = (int)TG_ATTR_I(n, D_MULT);
    c->f = (int)TG_ATTR_I(n, S_FILTERS);
    c->cm = c->g.c * c->m;
    c->p = c->g.ho * c->g.wo;
    c->kk = c->g.k * c->g.k;
    c->planes = tg_dw_work_floats(&c->g);
    const size_t per = sep_worker_floats(n, &c->g);
    c->work = (tg_dw_work){n->scratch, per, fit_workers(n, 0, per)};
    return c->work.workers < 1 ? scratch_too_small(n) : TG_OK;
}

/* Workers that take whole images: all, when there are enough images to go round
 * (each image's depthwise pass and GEMMs then run on its own thread, which meet
 * once per call), else one, whose depthwise passes share out the channels and
 * whose GEMMs tg_sgemm splits. */
static int sep_image_workers(const sep_call *c) {
    const int w = c->work.workers;
    return w > 1 && c->batch >= 2 * w ? w : 1;
}

/* One worker's view: its area of the scratch, and the workers its depthwise passes
 * use (itself alone inside an image-parallel region, else all). */
typedef struct sep_worker {
    float *t, *dt, *dz, *dwp, *db, *dwd; /* t_i, dt_i, dz, then the partial sums */
    float *kept;                         /* backward's padded planes (kept_floats), or NULL */
    tg_dw_work dw;
} sep_worker;

static sep_worker sep_worker_at(const sep_call *c, int t, int alone) {
    sep_worker w;
    float *area = c->work.base + (size_t)t * c->work.stride;
    w.t = area + c->planes;
    w.dt = w.t + (size_t)c->cm * c->p;
    w.dz = w.dt + (size_t)c->cm * c->p;
    w.dwp = w.dz + (size_t)c->f * c->p;
    w.db = w.dwp + (size_t)c->f * c->cm;
    w.dwd = w.db + c->f;
    w.kept = dw_padded(&c->g) ? w.dwd + (size_t)c->cm * c->kk : NULL;
    w.dw = alone ? (tg_dw_work){area, c->work.stride, 1} : c->work;
    return w;
}

/* t_i (CM, P) = the depthwise conv of image i; `keep`: leave the padded input planes
 * in w->kept for the backward. */
static void sep_depthwise(tg_node *n, const sep_call *c, int i, const sep_worker *w, int keep) {
    const float *xi = tg_in(n, 0) + (int64_t)i * c->g.c * c->g.h * c->g.w;
    tg_dw_forward(&c->g, 1, c->m, TG_ACT_NONE, xi, n->params[SP_DEPTHWISE]->value.data, NULL, w->t,
                  &w->dw, keep ? w->kept : NULL);
}

/* y_i (F, P): image i's output, at yi; before its activation when `act` is
 * TG_ACT_NONE (and the op's is not: the caller applies it). */
static void sep_forward_image(tg_node *n, const sep_call *c, int i, const sep_worker *w, tg_act act,
                              float *yi) {
    const float *b = n->params[SP_BIAS] ? n->params[SP_BIAS]->value.data : NULL;
    sep_depthwise(n, c, i, w, 0);
    /* y_i (F, P) = b + wp (F, CM) . t_i (CM, P). y_i starts as the bias and the GEMM adds
     * to it (beta 1), which spares OpenBLAS its pass zeroing y_i (5% of the seed model's
     * inference). Its kernel rounds acc + b once either way: on the Zen kernel a
     * training epoch's checkpoint came out byte for byte the same. */
    if (b) tg_fill_rows(yi, b, c->f, c->p, c->p);
    tg_sgemm(CblasNoTrans, CblasNoTrans, c->f, c->p, c->cm, 1.0f,
             n->params[SP_POINTWISE]->value.data, c->cm, w->t, c->p, b ? 1.0f : 0.0f, yi, c->p);
    if (act != TG_ACT_NONE) tg_bias_act(yi, NULL, act, c->f, c->p, c->p);
}

static tg_status sepconv_forward(tg_node *n) {
    sep_call c;
    tg_status st = sep_call_init(n, &c);
    if (st) return st;
    const int workers = sep_image_workers(&c);
    /* a ReLU output kept only as signs: each image's packed while it is in cache */
    const int64_t out_img = (int64_t)c.f * c.p;
    const int pack = tg_node_sign_bits(n) && out_img % 8 == 0;
    const tg_act act = (tg_act)TG_ATTR_I(n, S_ACT);
    n->signs_packed = pack;
    if (workers == 1) {
        const sep_worker w = sep_worker_at(&c, 0, 0);
        for (int i = 0; i < c.batch; i++) {
            sep_forward_image(n, &c, i, &w, act, n->value.data + i * out_img);
            if (pack) tg_pack_signs(n, i * out_img, out_img);
        }
        return TG_OK;
    }
#pragma omp parallel num_threads(workers)
    {
        const sep_worker w = sep_worker_at(&c, tg_worker_id(), 1);
#pragma omp for schedule(static)
        for (int i = 0; i < c.batch; i++) {
            sep_forward_image(n, &c, i, &w, act, n->value.data + i * out_img);
            if (pack) tg_pack_signs(n, i * out_img, out_img);
        }
    }
    return TG_OK;
}

/* ---- sepconv2d followed by a per-image op, in a forward that keeps no values ----
 * (tg_op.fuses). A 2x2 max pool at stride 2 or an eval-mode batch norm (the seed's
 * pool2..4 and bn1..4) works image by image: each image's output is made in the
 * worker's dz area, which stays in cache, and goes straight through the next op
 * into its output; the sepconv's own output is never written. */
static int sepconv_fuses(const tg_node *n, const tg_node *next) {
    (void)n;
    return tg_maxpool_is_2x2(next) || tg_batchnorm_is_eval(next);
}

/* The next op on image i's output act(y_i) (F, P), y_i before its activation, which
 * is applied a row at a time as the next op reads it (in L1, not a pass of its own
 * over y_i); ab: a batch norm's affine (2F). */
static void sep_next_image(const sep_call *c, tg_node *next, tg_act act, const float *ab, int i,
                           float *yi) {
    const int64_t out_img = tg_shape_item_numel(&next->value.shape);
    float *zi = next->value.data + i * out_img;
    if (ab)
        tg_batchnorm_apply(yi, c->f, c->p, act, ab, ab + c->f, zi);
    else
        tg_maxpool2_planes(yi, c->f, c->g.ho, c->g.wo, act, zi);
}

/* A worker's images (all of them outside a parallel region): the orphaned loop
 * shares them among the threads of the region it is called in. */
static void sep_fused_images(tg_node *n, const sep_call *c, tg_node *next, const sep_worker *w) {
    float *ab = tg_batchnorm_is_eval(next) ? w->dwp : NULL; /* dwp, db: F * CM + F >= 2F */
    const tg_act act = (tg_act)TG_ATTR_I(n, S_ACT);
    if (ab) tg_batchnorm_eval_affine(next, ab, ab + c->f);
#pragma omp for schedule(static)
    for (int i = 0; i < c->batch; i++) {
        sep_forward_image(n, c, i, w, TG_ACT_NONE, w->dz);
        sep_next_image(c, next, act, ab, i, w->dz);
    }
}

static tg_status sepconv_forward_fused(tg_node *n, tg_node *next) {
    sep_call c;
    tg_status st = sep_call_init(n, &c);
    if (st) return st;
    const int workers = sep_image_workers(&c);
    if (workers == 1) {
        const sep_worker w = sep_worker_at(&c, 0, 0);
        sep_fused_images(n, &c, next, &w);
        return TG_OK;
    }
#pragma omp parallel num_threads(workers)
    {
        const sep_worker w = sep_worker_at(&c, tg_worker_id(), 1);
        sep_fused_images(n, &c, next, &w);
    }
    return TG_OK;
}

/* Image i's backward: dwp (F, CM), db (F) and dwd (CM, K*K) += its share (each may be
 * NULL), dx_i += ... */
static void sep_backward_image(tg_node *n, const sep_call *c, int i, const sep_worker *w,
                               float *dwp, float *db, float *dwd) {
    const int64_t out_img = (int64_t)c->f * c->p, in_img = (int64_t)c->g.c * c->g.h * c->g.w;
    const tg_act act = (tg_act)TG_ATTR_I(n, S_ACT);
    const float *wp = n->params[SP_POINTWISE]->value.data, *dz = n->grad.data + i * out_img;
    float *dx = tg_din(n, 0);
    sep_depthwise(n, c, i, w, 1);
    if (act != TG_ACT_NONE || db) {
        tg_dz_bias(n, i * out_img, dz, w->dz, db, act, c->f, c->p, c->p);
        if (act != TG_ACT_NONE) dz = w->dz;
    }
    /* dwp (F, CM) += dz (F, P) . t_i^T (P, CM) */
    if (dwp)
        tg_sgemm(CblasNoTrans, CblasTrans, c->f, c->cm, c->p, 1.0f, dz, c->p, w->t, c->p, 1.0f, dwp,
                 c->cm);
    if (!dx && !dwd) return;
    /* dt_i (CM, P) = wp^T (CM, F) . dz (F, P), then the depthwise backward (which sets
     * a fresh dx_i) */
    tg_sgemm(CblasTrans, CblasNoTrans, c->cm, c->p, c->f, 1.0f, wp, c->cm, dz, c->p, 0.0f, w->dt,
             c->p);
    tg_dw_backward(&c->g, 1, c->m, tg_in(n, 0) + i * in_img, n->params[SP_DEPTHWISE]->value.data,
                   w->dt, dx ? dx + i * in_img : NULL, tg_node_grad_fresh(n, 0), dwd, NULL, &w->dw,
                   w->kept);
}

static tg_status sepconv_backward(tg_node *n) {
    sep_call c;
    tg_status st = sep_call_init(n, &c);
    if (st) return st;
    float *dwd = tg_dparam(n, SP_DEPTHWISE), *dwp = tg_dparam(n, SP_POINTWISE);
    float *db = n->params[SP_BIAS] ? tg_dparam(n, SP_BIAS) : NULL;
    const int workers = sep_image_workers(&c);
    const size_t kept = kept_floats(&c.g); /* their borders stay zero through the call */
    if (workers == 1) {
        const sep_worker w = sep_worker_at(&c, 0, 0);
        if (kept) memset(w.kept, 0, kept * sizeof(float));
        for (int i = 0; i < c.batch; i++) sep_backward_image(n, &c, i, &w, dwp, db, dwd);
        return TG_OK;
    }
    const size_t nwp = (size_t)c.f * c.cm, nwd = (size_t)c.cm * c.kk;
#pragma omp parallel num_threads(workers)
    {
        const sep_worker w = sep_worker_at(&c, tg_worker_id(), 1);
        /* the partials lie together: dwp (F*CM), db (F), dwd (CM*K*K), then the kept planes */
        memset(w.dwp, 0, (nwp + c.f + nwd + kept) * sizeof(float));
#pragma omp for schedule(static)
        for (int i = 0; i < c.batch; i++)
            sep_backward_image(n, &c, i, &w, dwp ? w.dwp : NULL, db ? w.db : NULL,
                               dwd ? w.dwd : NULL);
    }
    /* Partial sums added in worker order: the same numbers for the same thread count. */
    for (int t = 0; t < workers; t++) {
        const sep_worker w = sep_worker_at(&c, t, 1);
        if (dwp) tg_axpy_add(dwp, w.dwp, 1.0f, (int64_t)nwp);
        if (db) tg_axpy_add(db, w.db, 1.0f, c.f);
        if (dwd) tg_axpy_add(dwd, w.dwd, 1.0f, (int64_t)nwd);
    }
    return TG_OK;
}

static double sepconv_flops(const tg_node *n) {
    const tg_shape *y = &n->value.shape;
    double k = (double)TG_ATTR_I(n, D_KERNEL), pix = (double)(y->dim[0] * y->dim[2] * y->dim[3]);
    double cm = (double)(n->inputs[0]->value.shape.dim[1] * TG_ATTR_I(n, D_MULT));
    return 2.0 * pix * cm * (k * k + (double)y->dim[1]);
}

/* Backward reads the input in full (it recomputes t and takes dW from it), its
 * output only through act. */
static tg_value_use sepconv_use(const tg_node *n, int input) {
    return input < 0 ? tg_act_output_use((tg_act)TG_ATTR_I(n, S_ACT)) : TG_USE_VALUE;
}

const tg_op tg_op_sepconv2d = {
    .name = "sepconv2d",
    .doc = "depthwise-separable convolution (Keras SeparableConv2D): depthwise KxK, then "
           "pointwise 1x1 with bias and activation",
    .formula = "t = depthwise_conv2d(x; depthwise, no bias); y[n,f] = act(b[f] + sum_j "
               "pointwise[f,j] t[n,j]); backward: dpointwise = dz t^T, dt = pointwise^T dz, "
               "then depthwise_conv2d's backward from dt",
    .n_inputs = 1,
    .attrs = sepconv_attrs,
    .n_attrs = 9,
    .params = sepconv_params,
    .n_params = 3,
    .infer = sepconv_infer,
    .forward = sepconv_forward,
    .backward = sepconv_backward,
    .sets_fresh_input_grads = 1,
    .scratch_bytes = sepconv_scratch,
    .flops = sepconv_flops,
    .backward_use = sepconv_use,
    .fuses = sepconv_fuses,
    .forward_fused = sepconv_forward_fused,
    .examples = {{"2x3x5x5", "filters=4 kernel=3"},
                 {"3x2x7x6", "filters=3 kernel=3 stride=2 pad=valid act=tanh"},
                 {"2x3x7x7", "filters=2 kernel=3 stride=2 act=relu"},
                 {"2x2x5x4", "filters=3 kernel=2 multiplier=2 bias=false act=sigmoid"},
                 {"2x2x6x5", "filters=2 kernel=3 padding=1"}},
};
