/* Winograd F(2x2, 3x3) and F(4x4, 3x3) convolution; see tg_winograd.h. */
#include "ops/tg_winograd.h"

#include <string.h>

#include "autograd/tg_blas.h"
#include "autograd/tg_cpu.h"
#include "ops/tg_im2col.h"
#include "ops/tg_op_util.h"
#include "ops/tg_pool.h"

/* Transformed input and GEMM output of a block of tiles take at most about
 * 2 MiB together (measured on the seed's 32->32 conv: 1 and 4 MiB within noise). */
#define WINO_BLOCK_FLOATS (512 * 1024)

/* Tile positions: (m + 2)^2 for output tiles of m x m. */
static int wino_slabs(int m) {
    return (m + 2) * (m + 2);
}

size_t tg_wino_filter_floats(int f, int c, int m) {
    return (size_t)wino_slabs(m) * (size_t)f * (size_t)c;
}

/* u (4x4) = G g G^T for one 3x3 filter g whose taps are g[a * sa + b * sb]. */
static void filter_transform(const float *g, int sa, int sb, float *u) {
    float t[4][3]; /* G g */
    for (int b = 0; b < 3; b++) {
        float g0 = g[0 * sa + b * sb], g1 = g[1 * sa + b * sb], g2 = g[2 * sa + b * sb];
        t[0][b] = g0;
        t[1][b] = 0.5f * (g0 + g1 + g2);
        t[2][b] = 0.5f * (g0 - g1 + g2);
        t[3][b] = g2;
    }
    for (int i = 0; i < 4; i++) {
        u[i * 4 + 0] = t[i][0];
        u[i * 4 + 1] = 0.5f * (t[i][0] + t[i][1] + t[i][2]);
        u[i * 4 + 2] = 0.5f * (t[i][0] - t[i][1] + t[i][2]);
        u[i * 4 + 3] = t[i][2];
    }
}

/* u (6x6) = G g G^T of F(4x4, 3x3) (the points of BT6) for one 3x3 filter g whose
 * taps are g[a * sa + b * sb], in double and rounded once: G's thirds and
 * fifteenths are not exact in float. */
static void filter_transform4(const float *g, int sa, int sb, float *u) {
    static const double G[6][3] = {{1, 0, 0},
                                   {-1.0 / 3, -1.0 / 3, -1.0 / 3},
                                   {1.0 / 3, -1.0 / 3, 1.0 / 3},
                                   {1.0 / 15, 2.0 / 15, 4.0 / 15},
                                   {-16.0 / 15, 8.0 / 15, -4.0 / 15},
                                   {0, 0, 1}};
    double t[6][3]; /* G g */
    for (int i = 0; i < 6; i++)
        for (int b = 0; b < 3; b++)
            t[i][b] = G[i][0] * g[0 * sa + b * sb] + G[i][1] * g[1 * sa + b * sb] +
                      G[i][2] * g[2 * sa + b * sb];
    for (int i = 0; i < 6; i++)
        for (int j = 0; j < 6; j++)
            u[i * 6 + j] = (float)(t[i][0] * G[j][0] + t[i][1] * G[j][1] + t[i][2] * G[j][2]);
}

void tg_wino_filters(const float *w, int f, int c, int m, int flip, float *U) {
    const int rows = flip ? c : f, cols = flip ? f : c, slabs = wino_slabs(m);
    for (int fi = 0; fi < f; fi++)
        for (int ci = 0; ci < c; ci++) {
            const float *g = w + ((size_t)fi * c + ci) * 9;
            float u[36];
            if (m == 4 && flip) /* g'[a][b] = g[2 - a][2 - b] */
                filter_transform4(g + 8, -3, -1, u);
            else if (m == 4)
                filter_transform4(g, 3, 1, u);
            else if (flip)
                filter_transform(g + 8, -3, -1, u);
            else
                filter_transform(g, 3, 1, u);
            const size_t at = flip ? (size_t)ci * cols + fi : (size_t)fi * cols + ci;
            for (int xi = 0; xi < slabs; xi++) U[(size_t)xi * rows * cols + at] = u[xi];
        }
}

/* Tile rows per block: the block's V (S, C, T) and M (S, F, T) within the budget. */
static int tile_rows_per_block(const tg_wino_geom *g) {
    const int tw = (g->wo + g->m - 1) / g->m, th = (g->ho + g->m - 1) / g->m;
    long per_row = (long)wino_slabs(g->m) * (g->c + g->f) * tw;
    long rb = WINO_BLOCK_FLOATS / (per_row > 0 ? per_row : 1);
    if (rb < 1) rb = 1;
    return rb > th ? th : (int)rb;
}

/* Slabs of V and M (one per xi) are padded by this many floats so that the 16 or 36
 * slabs a transform reads or writes at once do not map to the same cache sets. */
#define SLAB_PAD 16

/* Tiles of a block rounded up to wino_gemm's 16: the row length of V and M. */
static size_t padded_tiles(size_t t) {
    return (t + 15) / 16 * 16;
}

/* The length of a tile row's padded input rows: m tw + 2 columns. */
static int row_len(const tg_wino_geom *g) {
    return (g->wo + g->m - 1) / g->m * g->m + 2;
}

/* V, M, a row of zeros, the row transform of one tile row's input (m + 2 rows), and
 * m output rows for a pooled tg_wino_conv_shared. */
size_t tg_wino_scratch_floats(const tg_wino_geom *g) {
    const size_t tw = (size_t)(g->wo + g->m - 1) / g->m,
                 t = padded_tiles((size_t)tile_rows_per_block(g) * tw);
    return (size_t)wino_slabs(g->m) * ((size_t)(g->c + g->f) * t + 2 * SLAB_PAD) +
           (size_t)(2 * g->m + 3) * (size_t)row_len(g);
}

/* Eight floats at any float's address: GCC's vector extension, which the
 * target clones compile to AVX2 or AVX-512 registers and the baseline to SSE. */
typedef float v8 __attribute__((vector_size(32), aligned(4), may_alias));
#define AT8(p) (*(v8 *)(p))
/* The first (EVENS) or the second (ODDS) of each pair of floats of two vectors:
 * __builtin_shufflevector is in clang and in GCC from 12; older GCC has only
 * __builtin_shuffle, which clang lacks. */
typedef int v8i __attribute__((vector_size(32)));
#if defined(__clang__) || __GNUC__ >= 12
#define SHUFFLE8(a, b, ...) __builtin_shufflevector(a, b, __VA_ARGS__)
#else
#define SHUFFLE8(a, b, ...) __builtin_shuffle(a, b, (v8i){__VA_ARGS__})
#endif
#define EVENS(a, b) SHUFFLE8(a, b, 0, 2, 4, 6, 8, 10, 12, 14)
#define ODDS(a, b) SHUFFLE8(a, b, 1, 3, 5, 7, 9, 11, 13, 15)
/* (a0 b0 a1 b1 a2 b2 a3 b3) and (a4 b4 ... a7 b7) */
#define ZIPLO(a, b) SHUFFLE8(a, b, 0, 8, 1, 9, 2, 10, 3, 11)
#define ZIPHI(a, b) SHUFFLE8(a, b, 4, 12, 5, 13, 6, 14, 7, 15)
/* pairs of floats: (a0 a1 b0 b1 a2 a3 b2 b3) and (a4 a5 b4 b5 a6 a7 b6 b7) */
#define ZIPLO2(a, b) SHUFFLE8(a, b, 0, 1, 8, 9, 2, 3, 10, 11)
#define ZIPHI2(a, b) SHUFFLE8(a, b, 4, 5, 12, 13, 6, 7, 14, 15)

/* Lane by lane b > a ? b : a, and v > 0 ? v : 0, as the scalar code has them (a NaN
 * in b or v loses). */
#define MAX8(a, b) ((v8)(((v8i)(b) & ((b) > (a))) | ((v8i)(a) & ~((b) > (a)))))
#define RELU8(v) ((v8)((v8i)(v) & ((v) > 0.0f)))

/* V[xi][t] (stride vs between xi) = B^T d B for the tw tiles of one tile row of
 * one channel. The tile row's four input rows are read in place: q[r] is input
 * row r of the window (a row of zeros above or below the plane), whose element
 * iw sits at column iw + pl of the zero-padded row d (len = 2 tw + 2 long), of
 * which columns [pl, pl + n) lie inside the plane. B^T's rows first, over whole
 * rows (contiguous), into s, whose padding columns the caller zeroed once; then
 * its columns. (omp simd: GCC's -O2 cost model
 * leaves loops of unknown length scalar.) */
TG_HOT static void input_transform(const float *const q[4], int pl, int n, int tw,
                                   float *restrict s, float *restrict v, size_t vs) {
    const int len = 2 * tw + 2;
    const float *restrict q0 = q[0], *restrict q1 = q[1], *restrict q2 = q[2], *restrict q3 = q[3];
    float *s0 = s, *s1 = s + len, *s2 = s + 2 * len, *s3 = s + 3 * len;
#pragma omp simd
    for (int j = 0; j < n; j++) {
        s0[pl + j] = q0[j] - q2[j];
        s1[pl + j] = q1[j] + q2[j];
        s2[pl + j] = q2[j] - q1[j];
        s3[pl + j] = q1[j] - q3[j];
    }
    for (int i = 0; i < 4; i++) {
        const float *si = s + (size_t)i * len;
        float *v0 = v + (size_t)(4 * i) * vs, *v1 = v0 + vs, *v2 = v1 + vs, *v3 = v2 + vs;
#pragma omp simd
        for (int t = 0; t < tw; t++) {
            const float a = si[2 * t], b = si[2 * t + 1], c = si[2 * t + 2], d = si[2 * t + 3];
            v0[t] = a - c;
            v1[t] = b + c;
            v2[t] = c - b;
            v3[t] = b - d;
        }
    }
}

/* B^T of F(4x4, 3x3) on six values d0..d5, for the interpolation points 0, 1, -1,
 * 2, -1/2 (and infinity): B^T = [1 3/2 -2 -3/2 1 0; 0 -1 -5/2 -1/2 1 0;
 * 0 1 1/2 -5/2 1 0; 0 -1/2 -1 1/2 1 0; 0 2 -1 -2 1 0; 0 1 3/2 -2 -3/2 1]. Lavin and
 * Gray's points 0, +-1, +-2 round twice as far from the exact sums in float32
 * (simulated over 32 channels: 4.5e-6 against 2.4e-6 on average, F(2x2, 3x3) 3.3e-7;
 * Barabasz et al., "Error analysis and improving the accuracy of Winograd
 * convolution for deep neural networks", 2020). */
#define BT6(d0, d1, d2, d3, d4, d5, v0, v1, v2, v3, v4, v5)                                        \
    do {                                                                                           \
        v0 = ((d0) - (d2)) + 1.5f * ((d1) - (d3)) + ((d4) - (d2));                                 \
        v1 = ((d4) - (d1)) - (2.5f * (d2) + 0.5f * (d3));                                          \
        v2 = ((d4) + (d1)) + (0.5f * (d2)-2.5f * (d3));                                            \
        v3 = ((d4) - (d2)) + 0.5f * ((d3) - (d1));                                                 \
        v4 = ((d4) - (d2)) + 2.0f * ((d1) - (d3));                                                 \
        v5 = ((d5) - (d3)) + 1.5f * ((d2) - (d4)) + ((d1) - (d3));                                 \
    } while (0)

/* B^T over the six columns of eight tiles from t on of a row s (4 t + 36 <= its
 * length): each column split out by shuffles; the rows v[6 i + j] vs apart from v0. */
static inline __attribute__((always_inline)) void bt6_columns8(const float *restrict s, int t,
                                                               float *restrict v0, size_t vs) {
    const float *p = s + 4 * t;
    const v8 e01 = EVENS(AT8(p), AT8(p + 8)), o01 = ODDS(AT8(p), AT8(p + 8));
    const v8 e23 = EVENS(AT8(p + 16), AT8(p + 24)), o23 = ODDS(AT8(p + 16), AT8(p + 24));
    /* columns 4 and 5 are the next tile's 0 and 1 */
    const v8 e45 = EVENS(AT8(p + 4), AT8(p + 12)), o45 = ODDS(AT8(p + 4), AT8(p + 12));
    const v8 e67 = EVENS(AT8(p + 20), AT8(p + 28)), o67 = ODDS(AT8(p + 20), AT8(p + 28));
    const v8 c0 = EVENS(e01, e23), c1 = EVENS(o01, o23), c2 = ODDS(e01, e23), c3 = ODDS(o01, o23),
             c4 = EVENS(e45, e67), c5 = EVENS(o45, o67);
    v8 r0, r1, r2, r3, r4, r5;
    BT6(c0, c1, c2, c3, c4, c5, r0, r1, r2, r3, r4, r5);
    AT8(v0 + t) = r0;
    AT8(v0 + vs + t) = r1;
    AT8(v0 + 2 * vs + t) = r2;
    AT8(v0 + 3 * vs + t) = r3;
    AT8(v0 + 4 * vs + t) = r4;
    AT8(v0 + 5 * vs + t) = r5;
}

/* input_transform for F(4x4, 3x3): V[xi][t] = B^T d B for the tw 6x6 tiles of one
 * tile row (six input rows q[r], the row d of it 4 tw + 2 long), B^T over the six
 * rows into s (six rows), then over each tile's six columns of them. */
TG_HOT static void input_transform4(const float *const q[6], int pl, int n, int tw,
                                    float *restrict s, float *restrict v, size_t vs) {
    const int len = 4 * tw + 2;
    const float *restrict q0 = q[0], *restrict q1 = q[1], *restrict q2 = q[2], *restrict q3 = q[3],
                          *restrict q4 = q[4], *restrict q5 = q[5];
    float *s0 = s, *s1 = s0 + len, *s2 = s1 + len, *s3 = s2 + len, *s4 = s3 + len, *s5 = s4 + len;
#pragma omp simd
    for (int j = 0; j < n; j++)
        BT6(q0[j], q1[j], q2[j], q3[j], q4[j], q5[j], s0[pl + j], s1[pl + j], s2[pl + j],
            s3[pl + j], s4[pl + j], s5[pl + j]);
    for (int i = 0; i < 6; i++) {
        const float *si = s + (size_t)i * len;
        float *v0 = v + (size_t)(6 * i) * vs, *v1 = v0 + vs, *v2 = v1 + vs, *v3 = v2 + vs,
              *v4 = v3 + vs, *v5 = v4 + vs;
        int t = 0;
        for (; t + 9 <= tw; t += 8) bt6_columns8(si, t, v0, vs);
        if (t + 1 < tw && tw >= 9) { /* eight more, overlapping: the same values again */
            bt6_columns8(si, tw - 9, v0, vs);
            t = tw - 1;
        }
        for (; t < tw; t++)
            BT6(si[4 * t], si[4 * t + 1], si[4 * t + 2], si[4 * t + 3], si[4 * t + 4],
                si[4 * t + 5], v0[t], v1[t], v2[t], v3[t], v4[t], v5[t]);
    }
}

/* The 2x2 outputs A^T M A of tile t, whose M[xi][t] lie ms apart. */
typedef struct out2x2 {
    float y00, y01, y10, y11;
} out2x2;

static inline __attribute__((always_inline)) out2x2 tile_outputs(const float *restrict m, size_t ms,
                                                                 int t) {
    const float *m0 = m, *m1 = m0 + ms, *m2 = m1 + ms, *m3 = m2 + ms, *m4 = m3 + ms, *m5 = m4 + ms,
                *m6 = m5 + ms, *m7 = m6 + ms, *m8 = m7 + ms, *m9 = m8 + ms, *m10 = m9 + ms,
                *m11 = m10 + ms, *m12 = m11 + ms, *m13 = m12 + ms, *m14 = m13 + ms, *m15 = m14 + ms;
    /* A^T M: rows 0 + 1 + 2 and 1 - 2 - 3 of M, column by column */
    const float a0 = m0[t] + m4[t] + m8[t], a1 = m1[t] + m5[t] + m9[t], a2 = m2[t] + m6[t] + m10[t],
                a3 = m3[t] + m7[t] + m11[t];
    const float b0 = m4[t] - m8[t] - m12[t], b1 = m5[t] - m9[t] - m13[t],
                b2 = m6[t] - m10[t] - m14[t], b3 = m7[t] - m11[t] - m15[t];
    return (out2x2){a0 + a1 + a2, a1 - a2 - a3, b0 + b1 + b2, b1 - b2 - b3};
}

/* Output rows y0 and y1 (wo long; y1 NULL below the last row) from the
 * ceil(wo / 2) tiles of one tile row: y = b + A^T M A, or y += A^T M A when
 * accumulating. Written in place: no second pass over the rows. */
TG_HOT static void output_transform(const float *restrict m, size_t ms, int wo, float b,
                                    int accumulate, float *restrict y0, float *restrict y1) {
    const int pairs = wo / 2; /* tiles whose two columns are both inside */
    if (y1 && !accumulate) {
#pragma omp simd
        for (int t = 0; t < pairs; t++) {
            const out2x2 o = tile_outputs(m, ms, t);
            y0[2 * t] = b + o.y00;
            y0[2 * t + 1] = b + o.y01;
            y1[2 * t] = b + o.y10;
            y1[2 * t + 1] = b + o.y11;
        }
    } else if (y1) {
#pragma omp simd
        for (int t = 0; t < pairs; t++) {
            const out2x2 o = tile_outputs(m, ms, t);
            y0[2 * t] += o.y00;
            y0[2 * t + 1] += o.y01;
            y1[2 * t] += o.y10;
            y1[2 * t + 1] += o.y11;
        }
    } else { /* the last row of an odd height */
        for (int t = 0; t < pairs; t++) {
            const out2x2 o = tile_outputs(m, ms, t);
            y0[2 * t] = accumulate ? y0[2 * t] + o.y00 : b + o.y00;
            y0[2 * t + 1] = accumulate ? y0[2 * t + 1] + o.y01 : b + o.y01;
        }
    }
    if (wo % 2) { /* the last column of an odd width */
        const out2x2 o = tile_outputs(m, ms, pairs);
        y0[wo - 1] = accumulate ? y0[wo - 1] + o.y00 : b + o.y00;
        if (y1) y1[wo - 1] = accumulate ? y1[wo - 1] + o.y10 : b + o.y10;
    }
}

/* y (n) = the 2x2 max pool at stride 2 of act(b + A^T M A), act none or ReLU, for the
 * first n tiles of a tile row: a tile's 2x2 outputs are one window of the pool
 * (tg_maxpool2_window), activated as tg_act_row does, so the numbers are those of
 * output_transform, the activation and tg_maxpool2_rows, without the two rows between. */
TG_HOT static void tile_pool(const float *restrict m, size_t ms, int n, float b, int relu,
                             float *restrict y) {
#pragma omp simd
    for (int t = 0; t < n; t++) {
        const out2x2 o = tile_outputs(m, ms, t);
        float v00 = b + o.y00, v01 = b + o.y01, v10 = b + o.y10, v11 = b + o.y11;
        if (relu) {
            v00 = v00 > 0.0f ? v00 : 0.0f;
            v01 = v01 > 0.0f ? v01 : 0.0f;
            v10 = v10 > 0.0f ? v10 : 0.0f;
            v11 = v11 > 0.0f ? v11 : 0.0f;
        }
        y[t] = tg_maxpool2_window(v00, v01, v10, v11);
    }
}

/* A^T of F(4x4, 3x3) on six values, for the points of BT6: A^T = [1 1 1 1 1 0;
 * 0 1 -1 2 -1/2 0; 0 1 1 4 1/4 0; 0 1 -1 8 -1/8 1]. */
#define AT6(m0, m1, m2, m3, m4, m5, y0, y1, y2, y3)                                                \
    do {                                                                                           \
        const __typeof__((m1) + (m2)) p12_ = (m1) + (m2), n12_ = (m1) - (m2);                      \
        y0 = (m0) + p12_ + ((m3) + (m4));                                                          \
        y1 = n12_ + (2.0f * (m3)-0.5f * (m4));                                                     \
        y2 = p12_ + (4.0f * (m3) + 0.25f * (m4));                                                  \
        y3 = (n12_ + (8.0f * (m3)-0.125f * (m4))) + (m5);                                          \
    } while (0)

/* The 4x4 outputs A^T M A of tile t, whose M[xi][t] lie ms apart. */
typedef struct out4x4 {
    float y[4][4];
} out4x4;

static inline __attribute__((always_inline)) out4x4 tile_outputs4(const float *restrict m,
                                                                  size_t ms, int t) {
    float a[4][6]; /* A^T M */
    for (int j = 0; j < 6; j++)
        AT6(m[(size_t)j * ms + t], m[(size_t)(6 + j) * ms + t], m[(size_t)(12 + j) * ms + t],
            m[(size_t)(18 + j) * ms + t], m[(size_t)(24 + j) * ms + t],
            m[(size_t)(30 + j) * ms + t], a[0][j], a[1][j], a[2][j], a[3][j]);
    out4x4 o;
    for (int r = 0; r < 4; r++)
        AT6(a[r][0], a[r][1], a[r][2], a[r][3], a[r][4], a[r][5], o.y[r][0], o.y[r][1], o.y[r][2],
            o.y[r][3]);
    return o;
}

/* tile_outputs4 for the eight tiles from t on: y[r][c] over the tiles. */
static inline __attribute__((always_inline)) void tile_outputs4_v8(const float *restrict m,
                                                                   size_t ms, int t, v8 y[4][4]) {
    v8 a[4][6]; /* A^T M */
#pragma GCC unroll 6
    for (int j = 0; j < 6; j++)
        AT6(AT8(m + (size_t)j * ms + t), AT8(m + (size_t)(6 + j) * ms + t),
            AT8(m + (size_t)(12 + j) * ms + t), AT8(m + (size_t)(18 + j) * ms + t),
            AT8(m + (size_t)(24 + j) * ms + t), AT8(m + (size_t)(30 + j) * ms + t), a[0][j],
            a[1][j], a[2][j], a[3][j]);
#pragma GCC unroll 4
    for (int r = 0; r < 4; r++)
        AT6(a[r][0], a[r][1], a[r][2], a[r][3], a[r][4], a[r][5], y[r][0], y[r][1], y[r][2],
            y[r][3]);
}

/* Output rows y[0..3] (wo long, all four inside) from eight whole tiles from t on:
 * each row's four columns of them interleaved by shuffles. */
static inline __attribute__((always_inline)) void output_group4(const float *restrict m, size_t ms,
                                                                int t, float b, int accumulate,
                                                                float *const y[4]) {
    v8 o[4][4];
    tile_outputs4_v8(m, ms, t, o);
#pragma GCC unroll 4
    for (int r = 0; r < 4; r++) {
        float *row = y[r] + 4 * t;
        v8 c[4];
#pragma GCC unroll 4
        for (int k = 0; k < 4; k++) {
            c[k] = o[r][k];
            if (!accumulate) c[k] = b + c[k];
        }
        const v8 lo01 = ZIPLO(c[0], c[1]), hi01 = ZIPHI(c[0], c[1]);
        const v8 lo23 = ZIPLO(c[2], c[3]), hi23 = ZIPHI(c[2], c[3]);
        const v8 out[4] = {ZIPLO2(lo01, lo23), ZIPHI2(lo01, lo23), ZIPLO2(hi01, hi23),
                           ZIPHI2(hi01, hi23)};
#pragma GCC unroll 4
        for (int k = 0; k < 4; k++) {
            v8 sum = out[k];
            if (accumulate) sum = AT8(row + 8 * k) + out[k];
            AT8(row + 8 * k) = sum;
        }
    }
}

/* output_transform for F(4x4, 3x3): output rows y[0..3] (NULL past the last row)
 * from the ceil(wo / 4) tiles of one tile row. Eight whole tiles at a time (when
 * setting y, the last eight overlap the eight before: the same values again), the
 * rest one by one. */
TG_HOT static void output_transform4(const float *restrict m, size_t ms, int wo, float b,
                                     int accumulate, float *const y[4]) {
    const int full = y[3] ? wo / 4 : 0, tw = (wo + 3) / 4;
    int t = 0;
    if (accumulate) /* two loops: each group's code without the test */
        for (; t + 8 <= full; t += 8) output_group4(m, ms, t, b, 1, y);
    else
        for (; t + 8 <= full; t += 8) output_group4(m, ms, t, b, 0, y);
    if (!accumulate && t < full && full >= 8) {
        output_group4(m, ms, full - 8, b, 0, y);
        t = full;
    }
    for (; t < tw; t++) { /* the last tiles, rows and columns */
        const out4x4 o = tile_outputs4(m, ms, t);
        for (int r = 0; r < 4 && y[r]; r++)
            for (int c = 0; c < 4 && 4 * t + c < wo; c++)
                y[r][4 * t + c] = accumulate ? y[r][4 * t + c] + o.y[r][c] : b + o.y[r][c];
    }
}

/* v > 0 ? v : 0 when relu, as tg_act_row has it (a NaN becomes 0). */
static inline __attribute__((always_inline)) float relu_if(int relu, float v) {
    return relu && !(v > 0.0f) ? 0.0f : v;
}

/* The pooled columns 2t .. 2t + 15 of both rows, from eight tiles. */
static inline __attribute__((always_inline)) void pool_group4(const float *restrict m, size_t ms,
                                                              int t, float b, int relu,
                                                              float *restrict p0,
                                                              float *restrict p1) {
    v8 o[4][4];
    tile_outputs4_v8(m, ms, t, o);
#pragma GCC unroll 4
    for (int r = 0; r < 4; r++)
#pragma GCC unroll 4
        for (int c = 0; c < 4; c++) {
            o[r][c] = b + o[r][c];
            if (relu) o[r][c] = RELU8(o[r][c]);
        }
#pragma GCC unroll 2
    for (int pr = 0; pr < 2; pr++) {
        const int r = 2 * pr;
        const v8 l1 = MAX8(o[r][0], o[r][1]), l2 = MAX8(l1, o[r + 1][0]);
        const v8 r1 = MAX8(o[r][2], o[r][3]), r2 = MAX8(r1, o[r + 1][2]);
        const v8 left = MAX8(l2, o[r + 1][1]), right = MAX8(r2, o[r + 1][3]);
        float *p = (pr ? p1 : p0) + 2 * t;
        AT8(p) = ZIPLO(left, right);
        AT8(p + 8) = ZIPHI(left, right);
    }
}

/* tile_pool for F(4x4, 3x3): pooled rows p0 and p1 (p1 NULL when the tile row's
 * last two output rows are outside) of the first n pooled columns, each tile's 4x4
 * outputs four windows of the pool (tg_maxpool2_window's order). */
TG_HOT static void tile_pool4(const float *restrict m, size_t ms, int n, float b, int relu,
                              float *restrict p0, float *restrict p1) {
    const int pairs = p1 ? n / 2 : 0; /* tiles with four windows inside */
    int t = 0;
    if (relu)
        for (; t + 8 <= pairs; t += 8) pool_group4(m, ms, t, b, 1, p0, p1);
    else
        for (; t + 8 <= pairs; t += 8) pool_group4(m, ms, t, b, 0, p0, p1);
    if (t < pairs && pairs >= 8) { /* the last eight, overlapping: the same values again */
        pool_group4(m, ms, pairs - 8, b, relu, p0, p1);
        t = pairs;
    }
    for (; t < (n + 1) / 2; t++) { /* the last tiles, an odd last column, a single row */
        const out4x4 o = tile_outputs4(m, ms, t);
        for (int pr = 0; pr < 2 && (pr == 0 || p1); pr++)
            for (int pc = 2 * t; pc < 2 * t + 2 && pc < n; pc++) {
                const int r = 2 * pr, c = 2 * (pc - 2 * t);
                (pr ? p1 : p0)[pc] = tg_maxpool2_window(
                    relu_if(relu, b + o.y[r][c]), relu_if(relu, b + o.y[r][c + 1]),
                    relu_if(relu, b + o.y[r + 1][c]), relu_if(relu, b + o.y[r + 1][c + 1]));
            }
    }
}

/* M (F, T) = U (F, C) . V (C, T), rows ldv and ldm apart, T a multiple of 16:
 * Winograd's GEMMs are thin (C = the channels, T = a block of tiles), and
 * OpenBLAS spends more on packing its operands and zeroing M than on these.
 * Four rows of M by 16 tiles stay in registers over all of C; U is read in
 * place, V streams. Multiply-adds are fused (one rounding, twice the rate;
 * TG_FMA). */
TG_FMA TG_HOT static void wino_gemm(int f, int c, int T, const float *restrict U,
                                    const float *restrict V, size_t ldv, float *restrict M,
                                    size_t ldm) {
    for (int t0 = 0; t0 < T; t0 += 16) {
        int f0 = 0;
        for (; f0 + 4 <= f; f0 += 4) {
            const float *u0 = U + (size_t)f0 * c, *u1 = u0 + c, *u2 = u1 + c, *u3 = u2 + c;
            v8 a0 = {0}, b0 = {0}, a1 = {0}, b1 = {0}, a2 = {0}, b2 = {0}, a3 = {0}, b3 = {0};
            for (int k = 0; k < c; k++) {
                const v8 x = AT8(V + (size_t)k * ldv + t0), y = AT8(V + (size_t)k * ldv + t0 + 8);
                a0 += u0[k] * x;
                b0 += u0[k] * y;
                a1 += u1[k] * x;
                b1 += u1[k] * y;
                a2 += u2[k] * x;
                b2 += u2[k] * y;
                a3 += u3[k] * x;
                b3 += u3[k] * y;
            }
            float *m = M + (size_t)f0 * ldm + t0;
            AT8(m) = a0;
            AT8(m + 8) = b0;
            AT8(m + ldm) = a1;
            AT8(m + ldm + 8) = b1;
            AT8(m + 2 * ldm) = a2;
            AT8(m + 2 * ldm + 8) = b2;
            AT8(m + 3 * ldm) = a3;
            AT8(m + 3 * ldm + 8) = b3;
        }
        for (; f0 < f; f0++) { /* the last F % 4 rows */
            v8 a = {0}, b = {0};
            for (int k = 0; k < c; k++) {
                a += U[(size_t)f0 * c + k] * AT8(V + (size_t)k * ldv + t0);
                b += U[(size_t)f0 * c + k] * AT8(V + (size_t)k * ldv + t0 + 8);
            }
            AT8(M + (size_t)f0 * ldm + t0) = a;
            AT8(M + (size_t)f0 * ldm + t0 + 8) = b;
        }
    }
}

typedef void wino_gemm_fn(int f, int c, int T, const float *restrict U, const float *restrict V,
                          size_t ldv, float *restrict M, size_t ldm);

#if TG_HAVE_AVX512_KERNELS
typedef float v16 __attribute__((vector_size(64), aligned(4), may_alias));
#define AT16(p) (*(v16 *)(p))

/* wino_gemm with AVX-512's registers: eight rows of M by 32 tiles, sixteen
 * accumulators, enough to keep two vector FMA units busy through their latency
 * (the 4 x 16 block of eight 8-wide accumulators above keeps half of each
 * 16-wide unit idle). Every M entry sums over C in the same order as wino_gemm,
 * so the results are the same. The last F % 8 rows and the last 16 tiles of an odd
 * count go to wino_gemm. */
TG_FMA TG_AVX512 static void wino_gemm_wide(int f, int c, int T, const float *restrict U,
                                            const float *restrict V, size_t ldv, float *restrict M,
                                            size_t ldm) {
    int t0 = 0;
    for (; t0 + 32 <= T; t0 += 32) {
        int f0 = 0;
        for (; f0 + 8 <= f; f0 += 8) {
            const float *u = U + (size_t)f0 * c;
            v16 a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0}, a4 = {0}, a5 = {0}, a6 = {0}, a7 = {0};
            v16 b0 = {0}, b1 = {0}, b2 = {0}, b3 = {0}, b4 = {0}, b5 = {0}, b6 = {0}, b7 = {0};
            for (int k = 0; k < c; k++) {
                const v16 x = AT16(V + (size_t)k * ldv + t0),
                          y = AT16(V + (size_t)k * ldv + t0 + 16);
                const float *uk = u + k;
                a0 += uk[0] * x;
                b0 += uk[0] * y;
                a1 += uk[c] * x;
                b1 += uk[c] * y;
                a2 += uk[2 * c] * x;
                b2 += uk[2 * c] * y;
                a3 += uk[3 * c] * x;
                b3 += uk[3 * c] * y;
                a4 += uk[4 * c] * x;
                b4 += uk[4 * c] * y;
                a5 += uk[5 * c] * x;
                b5 += uk[5 * c] * y;
                a6 += uk[6 * c] * x;
                b6 += uk[6 * c] * y;
                a7 += uk[7 * c] * x;
                b7 += uk[7 * c] * y;
            }
            float *m = M + (size_t)f0 * ldm + t0;
            const v16 a[8] = {a0, a1, a2, a3, a4, a5, a6, a7},
                      b[8] = {b0, b1, b2, b3, b4, b5, b6, b7};
            for (int r = 0; r < 8; r++) {
                AT16(m + r * ldm) = a[r];
                AT16(m + r * ldm + 16) = b[r];
            }
        }
        if (f0 < f) /* the last F % 8 rows */
            wino_gemm(f - f0, c, 32, U + (size_t)f0 * c, V + t0, ldv, M + (size_t)f0 * ldm + t0,
                      ldm);
    }
    if (t0 < T) wino_gemm(f, c, T - t0, U, V + t0, ldv, M + t0, ldm);
}
#endif

/* The GEMM for this CPU. */
static wino_gemm_fn *wino_gemm_for_cpu(void) {
#if TG_HAVE_AVX512_KERNELS
    if (tg_cpu_get()->isa >= TG_ISA_AVX512) return wino_gemm_wide;
#endif
    return wino_gemm;
}

/* Asks for rows [r0, r0 + n) of a plane (H, W), those inside it, a cache line at a
 * time. A tile row reads two rows that the one before did not, 4 W bytes each, and
 * the hardware prefetchers do not run that far ahead of such short streams: asked
 * one tile row early, they come from memory while this one is transformed
 * (measured on the seed's conv1_2, Zen 3: 1.89-1.93 -> 1.75-1.77 ms per image). */
static void prefetch_rows(const float *plane, int h, int w, int r0, int n) {
    for (int r = r0 < 0 ? 0 : r0; r < r0 + n && r < h; r++) {
        const char *row = (const char *)(plane + (size_t)r * w);
        for (size_t b = 0; b < (size_t)w * sizeof(float); b += 64) __builtin_prefetch(row + b);
    }
}

/* V (S, C, ld), slabs vs = C ld + SLAB_PAD apart: B^T d B of the tiles of tile
 * rows [tr0, tr1) of every input channel; the tiles past the block's last (up to
 * ld) are zeros. zeros: a zero row; srows: the input transform's m + 2 rows, whose
 * padding columns are zero (all row_len long). */
static void transform_inputs(const tg_wino_geom *g, const float *in, int tr0, int tr1, int ld,
                             const float *zeros, float *srows, float *V) {
    const int m = g->m, tw = (g->wo + m - 1) / m, len = row_len(g), T = (tr1 - tr0) * tw;
    const int n = g->w < len - g->pl ? g->w : len - g->pl; /* columns [pl, pl + n) from the plane */
    const size_t plane_in = (size_t)g->h * g->w, vs = (size_t)g->c * ld + SLAB_PAD;
    for (int ci = 0; ci < g->c; ci++) {
        const float *plane = in + (size_t)ci * plane_in;
        for (int tr = tr0; tr < tr1; tr++) {
            const float *q[6];
            for (int r = 0; r < m + 2; r++) {
                const int ih = m * tr - g->pt + r;
                q[r] = ih >= 0 && ih < g->h ? plane + (size_t)ih * g->w : zeros;
            }
            if (tr + 1 < tr1) /* the next tile row's m new rows */
                prefetch_rows(plane, g->h, g->w, m * tr - g->pt + m + 2, m);
            else if (ci + 1 < g->c) /* the next channel's first tile row */
                prefetch_rows(plane + plane_in, g->h, g->w, m * tr0 - g->pt, m + 2);
            float *v = V + (size_t)ci * ld + (size_t)(tr - tr0) * tw;
            if (m == 4)
                input_transform4(q, g->pl, n, tw, srows, v, vs);
            else
                input_transform(q, g->pl, n, tw, srows, v, vs);
        }
        for (int xi = 0; xi < wino_slabs(m) && ld > T; xi++) /* the padding tiles: zeros */
            memset(V + xi * vs + (size_t)ci * ld + T, 0, (size_t)(ld - T) * sizeof(float));
    }
}

/* Output plane `plane` (Ho, Wo) of one filter, or its 2x2/2 max pool `pooled`
 * (Ho / 2, Wo / 2), from the M of tile row tr (mt: the filter's first tile of it,
 * slabs ms apart); rows: m output rows of scratch for a pool after an act that is
 * not ReLU. */
static void emit_tile_row(const tg_wino_geom *g, const float *mt, size_t ms, int tr, float b,
                          tg_act act, int accumulate, float *plane, float *pooled, float *rows) {
    const int m = g->m, pw = g->wo / 2, ph = g->ho / 2;
    if (pooled && m * tr / 2 >= ph) return; /* no whole pair of rows (an odd last row) */
    const int simple = act == TG_ACT_NONE || act == TG_ACT_RELU;
    if (pooled && simple && m == 2) {
        tile_pool(mt, ms, pw, b, act == TG_ACT_RELU, pooled + (size_t)tr * pw);
        return;
    }
    if (pooled && simple) {
        float *p0 = pooled + (size_t)(2 * tr) * pw, *p1 = 2 * tr + 1 < ph ? p0 + pw : NULL;
        tile_pool4(mt, ms, pw, b, act == TG_ACT_RELU, p0, p1);
        return;
    }
    /* output rows m tr .. m tr + m - 1, those inside: in the plane or in `rows` */
    float *y[4] = {NULL, NULL, NULL, NULL};
    for (int r = 0; r < m && m * tr + r < g->ho; r++)
        y[r] = pooled ? rows + (size_t)r * g->wo : plane + (size_t)(m * tr + r) * g->wo;
    if (m == 4)
        output_transform4(mt, ms, g->wo, b, accumulate, y);
    else
        output_transform(mt, ms, g->wo, b, accumulate, y[0], y[1]);
    for (int r = 0; r < m && y[r] && act != TG_ACT_NONE; r++) tg_act_row(act, y[r], g->wo);
    for (int r = 0; pooled && r + 1 < m && y[r + 1]; r += 2)
        tg_maxpool2_rows(y[r], y[r + 1], pw, pooled + (size_t)(m * tr + r) / 2 * pw);
}

/* tg_wino_conv, or tg_wino_conv_shared (with `pooled`: out unused); the image's blocks
 * of tile rows shared among `workers` threads, worker t's scratch at scratch + t * stride
 * (one: serial, in the caller's thread). Each block's outputs depend on that block
 * alone, so the split changes no value. */
static void wino_conv(const tg_wino_geom *g, const float *U, const float *in, const float *bias,
                      tg_act act, int accumulate, float *out, float *pooled, float *scratch,
                      size_t stride, int workers) {
    const int m = g->m, slabs = wino_slabs(m), tw = (g->wo + m - 1) / m;
    const int th = (g->ho + m - 1) / m, rbt = tile_rows_per_block(g);
    const int len = row_len(g), blocks = (th + rbt - 1) / rbt;
    const size_t plane_out = (size_t)g->ho * g->wo;
    const size_t tmax = padded_tiles((size_t)rbt * tw);
    wino_gemm_fn *const gemm = wino_gemm_for_cpu();
    const size_t plane_pooled = (size_t)(g->ho / 2) * (size_t)(g->wo / 2);
    if (workers > blocks) workers = blocks;
#pragma omp parallel num_threads(workers) if (workers > 1)
    {
        float *V = scratch + (workers > 1 ? (size_t)tg_worker_id() * stride : 0);
        float *M = V + slabs * ((size_t)g->c * tmax + SLAB_PAD);
        float *zeros = M + slabs * ((size_t)g->f * tmax + SLAB_PAD), *srows = zeros + len;
        float *rows = srows + (size_t)(m + 2) * len; /* pooled: the output rows of a tile row */
        memset(zeros, 0, (size_t)len * sizeof(float));
        memset(srows, 0,
               (size_t)(m + 2) * len * sizeof(float)); /* the transform keeps its padding */
#pragma omp for schedule(static)
        for (int block = 0; block < blocks; block++) {
            const int tr0 = block * rbt, tr1 = tr0 + rbt < th ? tr0 + rbt : th;
            /* T tiles in this block, rows of ld >= T: V (S, C, ld), M (S, F, ld) */
            const int T = (tr1 - tr0) * tw, ld = (int)padded_tiles((size_t)T);
            const size_t vs = (size_t)g->c * ld + SLAB_PAD, ms = (size_t)g->f * ld + SLAB_PAD;
            transform_inputs(g, in, tr0, tr1, ld, zeros, srows, V);
            /* M[xi] (F, T) = U[xi] (F, C) . V[xi] (C, T) */
            for (int xi = 0; xi < slabs; xi++)
                gemm(g->f, g->c, ld, U + (size_t)xi * g->f * g->c, V + xi * vs, ld, M + xi * ms,
                     ld);
            for (int fi = 0; fi < g->f; fi++) {
                const float b = bias ? bias[fi] : 0.0f;
                float *plane = pooled ? NULL : out + (size_t)fi * plane_out;
                float *pplane = pooled ? pooled + (size_t)fi * plane_pooled : NULL;
                for (int tr = tr0; tr < tr1; tr++)
                    emit_tile_row(g, M + (size_t)fi * ld + (size_t)(tr - tr0) * tw, ms, tr, b, act,
                                  accumulate, plane, pplane, rows);
            }
        }
    }
}

void tg_wino_conv(const tg_wino_geom *g, const float *U, const float *in, const float *bias,
                  tg_act act, int accumulate, float *out, float *scratch) {
    wino_conv(g, U, in, bias, act, accumulate, out, NULL, scratch, 0, 1);
}

void tg_wino_conv_shared(const tg_wino_geom *g, const float *U, const float *in, const float *bias,
                         tg_act act, float *out, float *pooled, float *scratch, size_t stride,
                         int workers) {
    wino_conv(g, U, in, bias, act, 0, out, pooled, scratch, stride, workers);
}

/* ---- weight gradient ---- */

/* Z[xi][t] (slabs zs apart) = A dY A^T for the tw tiles of one tile row of one
 * output-gradient plane: dY's two rows r0, r1 (a zero row below the last), wo
 * long; the second column of the last tile of an odd width is zero. With
 * dY = [p q; r s], A dY = [p q; p+r q+s; p-r q-s; -r -s], and each of its rows
 * (u v) times A^T is (u, u+v, u-v, -v). */
static inline __attribute__((always_inline)) void grad_tile(float p, float q, float r, float s,
                                                            float *restrict z, size_t zs, int t) {
    const float u[4] = {p, p + r, p - r, -r}, v[4] = {q, q + s, q - s, -s};
    for (int i = 0; i < 4; i++) {
        z[(size_t)(4 * i + 0) * zs + t] = u[i];
        z[(size_t)(4 * i + 1) * zs + t] = u[i] + v[i];
        z[(size_t)(4 * i + 2) * zs + t] = u[i] - v[i];
        z[(size_t)(4 * i + 3) * zs + t] = -v[i];
    }
}

/* Eight tiles at a time: the row pairs (p q) and (r s) of eight tiles split into
 * the vectors of their first and second columns by shuffles (the loop over tiles
 * with its two-apart loads does not vectorise by itself), the rest one by one. */
/* Row i (u v) of A dY as row i of Z, (u, u+v, u-v, -v), for eight tiles from t on. */
#define GRAD_ROW(i, u, v)                                                                          \
    do {                                                                                           \
        const v8 u_ = (u), v_ = (v);                                                               \
        AT8(z + (size_t)(4 * (i) + 0) * zs + t) = u_;                                              \
        AT8(z + (size_t)(4 * (i) + 1) * zs + t) = u_ + v_;                                         \
        AT8(z + (size_t)(4 * (i) + 2) * zs + t) = u_ - v_;                                         \
        AT8(z + (size_t)(4 * (i) + 3) * zs + t) = -v_;                                             \
    } while (0)

TG_HOT static void grad_transform(const float *restrict r0, const float *restrict r1, int wo,
                                  float *restrict z, size_t zs) {
    const int pairs = wo / 2;
    int t = 0;
    for (; t + 8 <= pairs; t += 8) {
        const v8 a0 = AT8(r0 + 2 * t), a1 = AT8(r0 + 2 * t + 8);
        const v8 b0 = AT8(r1 + 2 * t), b1 = AT8(r1 + 2 * t + 8);
        const v8 p = EVENS(a0, a1), q = ODDS(a0, a1);
        const v8 r = EVENS(b0, b1), s = ODDS(b0, b1);
        GRAD_ROW(0, p, q);
        GRAD_ROW(1, p + r, q + s);
        GRAD_ROW(2, p - r, q - s);
        GRAD_ROW(3, -r, -s);
    }
    for (; t < pairs; t++) grad_tile(r0[2 * t], r0[2 * t + 1], r1[2 * t], r1[2 * t + 1], z, zs, t);
    if (wo % 2) grad_tile(r0[wo - 1], 0.0f, r1[wo - 1], 0.0f, z, zs, pairs);
}

/* dg (3x3) += G^T m G for one (filter, channel) pair whose m[xi] lie ms apart. */
static void filter_grad(const float *m, size_t ms, float *dg) {
    float t[3][4]; /* G^T m: rows 0 + (1 + 2)/2, (1 - 2)/2, (1 + 2)/2 + 3 */
    for (int j = 0; j < 4; j++) {
        const float m0 = m[(size_t)j * ms], m1 = m[(size_t)(4 + j) * ms],
                    m2 = m[(size_t)(8 + j) * ms], m3 = m[(size_t)(12 + j) * ms];
        t[0][j] = m0 + 0.5f * (m1 + m2);
        t[1][j] = 0.5f * (m1 - m2);
        t[2][j] = 0.5f * (m1 + m2) + m3;
    }
    for (int a = 0; a < 3; a++) {
        dg[a * 3 + 0] += t[a][0] + 0.5f * (t[a][1] + t[a][2]);
        dg[a * 3 + 1] += 0.5f * (t[a][1] - t[a][2]);
        dg[a * 3 + 2] += 0.5f * (t[a][1] + t[a][2]) + t[a][3];
    }
}

/* V and Z as tg_wino_conv's V and M, then the sums over tiles (16, F, C). */
size_t tg_wino_wgrad_scratch_floats(const tg_wino_geom *g) {
    return tg_wino_scratch_floats(g) + 16 * (size_t)g->f * g->c;
}

/* Per block of tile rows: V = B^T d B of the input's tiles, Z = A dY A^T of the
 * output gradient's, and for each xi S[xi] (F, C) += Z[xi] (F, T) . V[xi] (C, T)^T,
 * a GEMM whose inner dimension is the block's tiles. dw takes G^T S G at the end. */
void tg_wino_wgrad(const tg_wino_geom *g, const float *in, const float *dz, float *dw,
                   float *scratch) {
    const int tw = (g->wo + 1) / 2, th = (g->ho + 1) / 2, rbt = tile_rows_per_block(g);
    const int len = 2 * tw + 2;
    const size_t plane_out = (size_t)g->ho * g->wo, fc = (size_t)g->f * g->c;
    const size_t tmax = padded_tiles((size_t)rbt * tw);
    float *V = scratch, *Z = V + 16 * ((size_t)g->c * tmax + SLAB_PAD);
    float *zeros = Z + 16 * ((size_t)g->f * tmax + SLAB_PAD), *srows = zeros + len;
    float *S = srows + 4 * (size_t)len;
    memset(zeros, 0, (size_t)len * sizeof(float));
    memset(srows, 0, 4 * (size_t)len * sizeof(float));
    for (int tr0 = 0; tr0 < th; tr0 += rbt) {
        const int tr1 = tr0 + rbt < th ? tr0 + rbt : th;
        const int T = (tr1 - tr0) * tw, ld = (int)padded_tiles((size_t)T);
        const size_t vs = (size_t)g->c * ld + SLAB_PAD, zs = (size_t)g->f * ld + SLAB_PAD;
        transform_inputs(g, in, tr0, tr1, ld, zeros, srows, V);
        for (int fi = 0; fi < g->f; fi++) {
            const float *plane = dz + (size_t)fi * plane_out;
            for (int tr = tr0; tr < tr1; tr++) {
                const float *r0 = plane + (size_t)(2 * tr) * g->wo;
                const float *r1 = 2 * tr + 1 < g->ho ? r0 + g->wo : zeros;
                grad_transform(r0, r1, g->wo, Z + (size_t)fi * ld + (size_t)(tr - tr0) * tw, zs);
            }
        }
        /* S[xi] (F, C) += Z[xi] (F, T) . V[xi] (C, T)^T over the block's T tiles (not
         * the padding); OpenBLAS's small-matrix kernel (no packing) ran these faster
         * than a register-blocked loop of ours (4 x 4 dot products, AVX-512) */
        for (int xi = 0; xi < 16; xi++)
            tg_sgemm(CblasNoTrans, CblasTrans, g->f, g->c, T, 1.0f, Z + xi * zs, ld, V + xi * vs,
                     ld, tr0 ? 1.0f : 0.0f, S + xi * fc, g->c);
    }
    for (int fi = 0; fi < g->f; fi++)
        for (int ci = 0; ci < g->c; ci++)
            filter_grad(S + (size_t)fi * g->c + ci, fc, dw + ((size_t)fi * g->c + ci) * 9);
}
