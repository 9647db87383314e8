/* Direct weight gradient of a stride-1 3x3 convolution; see tg_wgrad3x3.h. */
#include "ops/tg_wgrad3x3.h"

#include <stdint.h>
#include <string.h>

#include "autograd/tg_cpu.h"

/* One block of output rows: dz transposed into panels and the input rows under
 * it take at most about 512 KiB, so that they stay in the core's L2 while every
 * input channel sweeps them (Zen 3 has 512 KiB, Zen 4 1 MiB, Xeons 2 MiB). */
#define WGRAD_BLOCK_FLOATS (128 * 1024)

/* Filters per panel: two AVX-512 vectors, or one AVX2 (or baseline) vector. */
#define PANEL_WIDE 32
#define PANEL_NARROW 8

/* Terms an accumulator sums before it is added to the running total. */
#ifndef WGRAD_CHUNK
#define WGRAD_CHUNK 256
#endif

/* Lengths are rounded up to whole 16-float vectors (zeros after). */
static size_t whole_vectors(size_t n) {
    return (n + 15) / 16 * 16;
}

/* wp: a padded output row (wo + 2: two zeros after each row); rb output rows per
 * block; lp floats of padded output rows per block; xl floats per input channel
 * (rb + 2 rows, and room for the widest shift); fp filters rounded up to panels. */
typedef struct wgrad_layout {
    int wp, rb, fp;
    size_t lp, xl;
} wgrad_layout;

static wgrad_layout block_layout(const tg_conv_geom *g, int f, int panel) {
    wgrad_layout l;
    l.wp = g->wo + 2;
    l.fp = (f + panel - 1) / panel * panel;
    const int64_t per_row = (int64_t)(l.fp + g->c) * l.wp;
    l.rb = per_row < WGRAD_BLOCK_FLOATS ? (int)(WGRAD_BLOCK_FLOATS / per_row) : 1;
    if (l.rb < 1) l.rb = 1;
    if (l.rb > g->ho) l.rb = g->ho;
    l.lp = whole_vectors((size_t)l.rb * l.wp);
    l.xl = whole_vectors(l.lp + 2 * (size_t)l.wp + 2);
    return l;
}

static int panel_width(void) {
    return TG_HAVE_AVX512_KERNELS && tg_cpu_get()->isa >= TG_ISA_AVX512 ? PANEL_WIDE : PANEL_NARROW;
}

/* dzt: fp / panel panels of (lp, panel); xp (C, xl). */
size_t tg_wgrad3x3_scratch_floats(const tg_conv_geom *g, int f) {
    size_t most = 0;
    for (int panel = PANEL_NARROW; panel <= PANEL_WIDE; panel *= 4) { /* either CPU's */
        const wgrad_layout l = block_layout(g, f, panel);
        const size_t n = (size_t)l.fp * l.lp + (size_t)g->c * l.xl;
        if (n > most) most = n;
    }
    return most;
}

/* Eight or sixteen floats at any float's address (GCC's vector extension). */
typedef float v8 __attribute__((vector_size(32), aligned(4), may_alias));
#define AT8(p) (*(const v8 *)(p))

/* out[q] (eight filters) = sum over j < n of a[j] (a panel row) times the input
 * under tap q = 3 kh + kw, b[j + kh wp + kw]. Nine accumulators, one vector load
 * and nine broadcasts per nine multiply-adds; each sums at most WGRAD_CHUNK
 * terms before it is added to out, which keeps the rounding error near a
 * blocked GEMM's. */
TG_FMA TG_HOT static void taps_narrow(const float *restrict a, const float *restrict b, int wp,
                                      size_t n, float out[9][PANEL_WIDE]) {
    const float *b0 = b, *b1 = b + wp, *b2 = b + 2 * wp;
    memset(out, 0, 9 * sizeof out[0]);
    for (size_t j0 = 0; j0 < n; j0 += WGRAD_CHUNK) {
        const size_t j1 = j0 + WGRAD_CHUNK < n ? j0 + WGRAD_CHUNK : n;
        v8 s0 = {0}, s1 = {0}, s2 = {0}, s3 = {0}, s4 = {0}, s5 = {0}, s6 = {0}, s7 = {0}, s8 = {0};
        for (size_t j = j0; j < j1; j++) {
            const v8 x = AT8(a + j * PANEL_NARROW);
            s0 += b0[j] * x;
            s1 += b0[j + 1] * x;
            s2 += b0[j + 2] * x;
            s3 += b1[j] * x;
            s4 += b1[j + 1] * x;
            s5 += b1[j + 2] * x;
            s6 += b2[j] * x;
            s7 += b2[j + 1] * x;
            s8 += b2[j + 2] * x;
        }
        const v8 s[9] = {s0, s1, s2, s3, s4, s5, s6, s7, s8};
        for (int q = 0; q < 9; q++)
            for (int i = 0; i < PANEL_NARROW; i++) out[q][i] += s[q][i];
    }
}

#if TG_HAVE_AVX512_KERNELS
typedef float v16 __attribute__((vector_size(64), aligned(4), may_alias));
#define AT16(p) (*(const v16 *)(p))

/* taps_narrow for 32 filters in AVX-512 registers: eighteen accumulators, two
 * vector loads and nine broadcasts per eighteen multiply-adds. */
TG_FMA TG_AVX512 static void taps_wide(const float *restrict a, const float *restrict b, int wp,
                                       size_t n, float out[9][PANEL_WIDE]) {
    const float *b0 = b, *b1 = b + wp, *b2 = b + 2 * wp;
    memset(out, 0, 9 * sizeof out[0]);
    for (size_t j0 = 0; j0 < n; j0 += WGRAD_CHUNK) {
        const size_t j1 = j0 + WGRAD_CHUNK < n ? j0 + WGRAD_CHUNK : n;
        v16 s0 = {0}, s1 = {0}, s2 = {0}, s3 = {0}, s4 = {0}, s5 = {0}, s6 = {0}, s7 = {0},
            s8 = {0};
        v16 t0 = {0}, t1 = {0}, t2 = {0}, t3 = {0}, t4 = {0}, t5 = {0}, t6 = {0}, t7 = {0},
            t8 = {0};
        for (size_t j = j0; j < j1; j++) {
            const v16 x = AT16(a + j * PANEL_WIDE), y = AT16(a + j * PANEL_WIDE + 16);
            float u;
            u = b0[j], s0 += u * x, t0 += u * y;
            u = b0[j + 1], s1 += u * x, t1 += u * y;
            u = b0[j + 2], s2 += u * x, t2 += u * y;
            u = b1[j], s3 += u * x, t3 += u * y;
            u = b1[j + 1], s4 += u * x, t4 += u * y;
            u = b1[j + 2], s5 += u * x, t5 += u * y;
            u = b2[j], s6 += u * x, t6 += u * y;
            u = b2[j + 1], s7 += u * x, t7 += u * y;
            u = b2[j + 2], s8 += u * x, t8 += u * y;
        }
        const v16 s[9] = {s0, s1, s2, s3, s4, s5, s6, s7, s8},
                  t[9] = {t0, t1, t2, t3, t4, t5, t6, t7, t8};
        for (int q = 0; q < 9; q++)
            for (int i = 0; i < 16; i++) {
                out[q][i] += s[q][i];
                out[q][16 + i] += t[q][i];
            }
    }
}
#endif

/* Row r of a padded block, n floats from src (NULL: zeros) placed after `lead`
 * zeros, zeros up to len. */
static void place_row(float *dst, size_t len, int lead, const float *src, int n) {
    if (!src) n = 0;
    memset(dst, 0, (size_t)lead * sizeof(float));
    if (n > 0) memcpy(dst + lead, src, (size_t)n * sizeof(float));
    memset(dst + lead + n, 0, (len - (size_t)lead - (size_t)n) * sizeof(float));
}

void tg_wgrad3x3(const tg_conv_geom *g, int f, const float *x, const float *dz, float *dw,
                 float *scratch) {
    const int panel = panel_width();
    const wgrad_layout l = block_layout(g, f, panel);
    const size_t plane_in = (size_t)g->h * g->w, plane_out = (size_t)g->ho * g->wo;
    float *dzt = scratch, *xp = dzt + (size_t)l.fp * l.lp;
    /* Columns of an input row inside the padded row: iw = j - pl for j < wo + 2. */
    const int in_cols = g->w < l.wp - g->pl ? g->w : l.wp - g->pl;
    for (int oh0 = 0; oh0 < g->ho; oh0 += l.rb) {
        const int nr = oh0 + l.rb < g->ho ? l.rb : g->ho - oh0;
        const size_t n = (size_t)nr * l.wp; /* the sums' length */
        /* dzt panel p, row j: filters p * panel .. + panel at padded position j
         * (zeros past the row's wo columns and past F) */
        memset(dzt, 0, (size_t)l.fp * n * sizeof(float));
        for (int fi = 0; fi < f; fi++) {
            float *col = dzt + (size_t)(fi / panel) * n * panel + fi % panel;
            for (int r = 0; r < nr; r++) {
                const float *src = dz + fi * plane_out + (size_t)(oh0 + r) * g->wo;
                float *dst = col + (size_t)r * l.wp * panel;
                for (int ow = 0; ow < g->wo; ow++) dst[(size_t)ow * panel] = src[ow];
            }
        }
        /* Input rows oh0 - pt .. oh0 - pt + nr + 1: the rows under taps kh = 0..2. */
        for (int ci = 0; ci < g->c; ci++) {
            float *row = xp + (size_t)ci * l.xl;
            for (int r = 0; r < nr + 2; r++) {
                const int ih = oh0 - g->pt + r;
                const float *src =
                    ih >= 0 && ih < g->h ? x + ci * plane_in + (size_t)ih * g->w : NULL;
                place_row(row + (size_t)r * l.wp, l.wp, g->pl, src, in_cols);
            }
            const size_t used = (size_t)(nr + 2) * l.wp, end = n + 2 * (size_t)l.wp + 2;
            if (end > used) memset(row + used, 0, (end - used) * sizeof(float));
        }
        for (int f0 = 0; f0 < f; f0 += panel) {
            const float *a = dzt + (size_t)(f0 / panel) * n * panel;
            for (int ci = 0; ci < g->c; ci++) {
                float out[9][PANEL_WIDE];
#if TG_HAVE_AVX512_KERNELS
                if (panel == PANEL_WIDE)
                    taps_wide(a, xp + (size_t)ci * l.xl, l.wp, n, out);
                else
#endif
                    taps_narrow(a, xp + (size_t)ci * l.xl, l.wp, n, out);
                for (int i = 0; i < panel && f0 + i < f; i++) {
                    float *d = dw + ((size_t)(f0 + i) * g->c + ci) * 9;
                    for (int q = 0; q < 9; q++) d[q] += out[q][i];
                }
            }
        }
    }
}
