/* The convolutions' forward GEMM with its bias and activation; see tg_gemm_nn.h. */
#include "ops/tg_gemm_nn.h"

#include "autograd/tg_cpu.h"
#include "ops/tg_im2col.h"

#if TG_HAVE_AVX512_KERNELS
#include <immintrin.h>
#endif
#ifdef _OPENMP
#include <omp.h>
#endif

/* Outside a parallel region, a product of at least this many multiply-adds has its
 * columns shared out, in strips of whole 32s (which changes no result). */
#define PAR_MIN_MACS (1 << 18)
#define PAR_ALIGN 32

typedef float v8 __attribute__((vector_size(32), aligned(4), may_alias));
typedef int v8i __attribute__((vector_size(32)));
#define AT8(p) (*(v8 *)(p))

/* max(v, 0) lane by lane; NaN gives 0, as tg_act_row's ReLU does. (A macro: a
 * function returning a vector would have a different ABI in each clone.) */
#define RELU8(v) ((v8)((v8i)(v) & (v8i)((v) > (v8){0})))

static inline float relu1(float v) {
    return v > 0.0f ? v : 0.0f;
}

/* One row of C over columns [j0, n), from j0 on, one at a time. */
TG_FMA TG_HOT static void row_tail(int n, int j0, int k, const float *restrict u,
                                   const float *restrict B, size_t ldb, float init, int relu,
                                   float *restrict c) {
    for (int j = j0; j < n; j++) {
        float s = init;
        for (int kk = 0; kk < k; kk++) s += u[kk] * B[(size_t)kk * ldb + j];
        c[j] = relu ? relu1(s) : s;
    }
}

/* Any CPU: four rows of C by 16 columns in registers over all of k (the rows past
 * the last 4 one at a time); the columns past the last whole 16 one at a time. */
TG_FMA TG_HOT static void gemm_any(int m, int n, int k, const float *restrict A,
                                   const float *restrict B, size_t ldb, const float *bias, int relu,
                                   float *restrict C, size_t ldc) {
    const int n16 = n / 16 * 16;
    for (int j0 = 0; j0 < n16; j0 += 16) {
        int i0 = 0;
        for (; i0 + 4 <= m; i0 += 4) {
            const float *u0 = A + (size_t)i0 * k, *u1 = u0 + k, *u2 = u1 + k, *u3 = u2 + k;
            const v8 z = {0};
            v8 a0 = z + (bias ? bias[i0] : 0.0f), a1 = z + (bias ? bias[i0 + 1] : 0.0f),
               a2 = z + (bias ? bias[i0 + 2] : 0.0f), a3 = z + (bias ? bias[i0 + 3] : 0.0f);
            v8 b0 = a0, b1 = a1, b2 = a2, b3 = a3;
            for (int kk = 0; kk < k; kk++) {
                const v8 x = AT8(B + (size_t)kk * ldb + j0), y = AT8(B + (size_t)kk * ldb + j0 + 8);
                a0 += u0[kk] * x;
                b0 += u0[kk] * y;
                a1 += u1[kk] * x;
                b1 += u1[kk] * y;
                a2 += u2[kk] * x;
                b2 += u2[kk] * y;
                a3 += u3[kk] * x;
                b3 += u3[kk] * y;
            }
            const v8 a[4] = {a0, a1, a2, a3}, b[4] = {b0, b1, b2, b3};
            for (int r = 0; r < 4; r++) {
                float *c = C + (size_t)(i0 + r) * ldc + j0;
                AT8(c) = relu ? RELU8(a[r]) : a[r];
                AT8(c + 8) = relu ? RELU8(b[r]) : b[r];
            }
        }
        for (; i0 < m; i0++) {
            const float *u = A + (size_t)i0 * k;
            v8 a = (v8){0} + (bias ? bias[i0] : 0.0f), b = a;
            for (int kk = 0; kk < k; kk++) {
                a += u[kk] * AT8(B + (size_t)kk * ldb + j0);
                b += u[kk] * AT8(B + (size_t)kk * ldb + j0 + 8);
            }
            float *c = C + (size_t)i0 * ldc + j0;
            AT8(c) = relu ? RELU8(a) : a;
            AT8(c + 8) = relu ? RELU8(b) : b;
        }
    }
    if (n16 < n)
        for (int i = 0; i < m; i++)
            row_tail(n, n16, k, A + (size_t)i * k, B, ldb, bias ? bias[i] : 0.0f, relu,
                     C + (size_t)i * ldc);
}

#if TG_HAVE_AVX512_KERNELS
typedef float v16 __attribute__((vector_size(64), aligned(4), may_alias));
#define AT16(p) (*(v16 *)(p))

TG_AVX512 static inline v16 relu16(v16 v) {
    return (v16)_mm512_max_ps((__m512)v, _mm512_setzero_ps());
}

/* Rows [i0, i0 + rows) of C (rows <= 8) over the 1..16 columns [j0, j0 + w), w < 16
 * masked: loads and stores touch no column past n. */
TG_FMA TG_AVX512 static void tail16(int rows, int w, int k, const float *restrict u,
                                    const float *restrict B, size_t ldb, const float *bias,
                                    int relu, float *restrict c, size_t ldc) {
    const __mmask16 mask = w >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << w) - 1);
    v16 a[8];
    for (int r = 0; r < rows; r++) a[r] = (v16){0} + (bias ? bias[r] : 0.0f);
    for (int kk = 0; kk < k; kk++) {
        const v16 x = (v16)_mm512_maskz_loadu_ps(mask, B + (size_t)kk * ldb);
        for (int r = 0; r < rows; r++) a[r] += u[(size_t)r * k + kk] * x;
    }
    for (int r = 0; r < rows; r++)
        _mm512_mask_storeu_ps(c + (size_t)r * ldc, mask, (__m512)(relu ? relu16(a[r]) : a[r]));
}

/* AVX-512: eight rows of C by 32 columns, sixteen accumulators, enough to keep two
 * vector FMA units busy through their latency; A's eight rows are read in place
 * (8 k floats, in L1), B's 32-column strip streams once per eight rows and stays
 * in L1/L2 for the next eight. Rows past the last 8 and columns past the last 32
 * go through tail16, in the same order of operations. */
TG_FMA TG_AVX512 static void gemm_avx512(int m, int n, int k, const float *restrict A,
                                         const float *restrict B, size_t ldb, const float *bias,
                                         int relu, float *restrict C, size_t ldc) {
    int j0 = 0;
    for (; j0 + 32 <= n; j0 += 32) {
        int i0 = 0;
        for (; i0 + 8 <= m; i0 += 8) {
            const float *u = A + (size_t)i0 * k;
            v16 a[8], b[8];
            for (int r = 0; r < 8; r++) {
                a[r] = (v16){0} + (bias ? bias[i0 + r] : 0.0f);
                b[r] = a[r];
            }
            for (int kk = 0; kk < k; kk++) {
                const v16 x = AT16(B + (size_t)kk * ldb + j0),
                          y = AT16(B + (size_t)kk * ldb + j0 + 16);
                const float *uk = u + kk;
                a[0] += uk[0] * x;
                b[0] += uk[0] * y;
                a[1] += uk[k] * x;
                b[1] += uk[k] * y;
                a[2] += uk[2 * (size_t)k] * x;
                b[2] += uk[2 * (size_t)k] * y;
                a[3] += uk[3 * (size_t)k] * x;
                b[3] += uk[3 * (size_t)k] * y;
                a[4] += uk[4 * (size_t)k] * x;
                b[4] += uk[4 * (size_t)k] * y;
                a[5] += uk[5 * (size_t)k] * x;
                b[5] += uk[5 * (size_t)k] * y;
                a[6] += uk[6 * (size_t)k] * x;
                b[6] += uk[6 * (size_t)k] * y;
                a[7] += uk[7 * (size_t)k] * x;
                b[7] += uk[7 * (size_t)k] * y;
            }
            for (int r = 0; r < 8; r++) {
                float *c = C + (size_t)(i0 + r) * ldc + j0;
                AT16(c) = relu ? relu16(a[r]) : a[r];
                AT16(c + 16) = relu ? relu16(b[r]) : b[r];
            }
        }
        if (i0 < m)
            for (int h = 0; h < 32; h += 16)
                tail16(m - i0, 16, k, A + (size_t)i0 * k, B + j0 + h, ldb, bias ? bias + i0 : NULL,
                       relu, C + (size_t)i0 * ldc + j0 + h, ldc);
    }
    for (; j0 < n; j0 += 16)
        for (int i0 = 0; i0 < m; i0 += 8)
            tail16(m - i0 < 8 ? m - i0 : 8, n - j0, k, A + (size_t)i0 * k, B + j0, ldb,
                   bias ? bias + i0 : NULL, relu, C + (size_t)i0 * ldc + j0, ldc);
}
#endif

typedef void gemm_fn(int m, int n, int k, const float *restrict A, const float *restrict B,
                     size_t ldb, const float *bias, int relu, float *restrict C, size_t ldc);

/* Columns [j0, j1) of C, activation included. */
static void strip(gemm_fn *gemm, int m, int j0, int j1, int k, const float *A, const float *B,
                  size_t ldb, const float *bias, tg_act act, float *C, size_t ldc) {
    gemm(m, j1 - j0, k, A, B + j0, ldb, bias, act == TG_ACT_RELU, C + j0, ldc);
    if (act == TG_ACT_SIGMOID || act == TG_ACT_TANH)
        for (int i = 0; i < m; i++) tg_act_row(act, C + (size_t)i * ldc + j0, j1 - j0);
}

void tg_gemm_nn_bias_act(int m, int n, int k, const float *A, const float *B, size_t ldb,
                         const float *bias, tg_act act, float *C, size_t ldc) {
    if (m <= 0 || n <= 0) return;
    gemm_fn *gemm = gemm_any;
#if TG_HAVE_AVX512_KERNELS
    if (tg_cpu_get()->isa >= TG_ISA_AVX512) gemm = gemm_avx512;
#endif
    int threads = 1;
#ifdef _OPENMP
    if (!omp_in_parallel()) threads = omp_get_max_threads();
#endif
    const double macs = (double)m * (double)n * (double)k;
    if (threads < 2 || macs < PAR_MIN_MACS || n < 2 * PAR_ALIGN) {
        strip(gemm, m, 0, n, k, A, B, ldb, bias, act, C, ldc);
        return;
    }
    const int step = ((n + threads - 1) / threads + PAR_ALIGN - 1) / PAR_ALIGN * PAR_ALIGN;
#pragma omp parallel for num_threads(threads) schedule(static, 1)
    for (int t = 0; t < threads; t++) {
        const int j0 = t * step, j1 = j0 + step < n ? j0 + step : n;
        if (j0 < j1) strip(gemm, m, j0, j1, k, A, B, ldb, bias, act, C, ldc);
    }
}
