/* Blocked parallel sgemm over single-threaded OpenBLAS calls. */
#include "autograd/tg_blas.h"

#ifdef _OPENMP
#include <omp.h>
#endif

/* Below this many multiply-adds a GEMM is not worth waking threads for. */
#define PAR_MIN_MACS (1 << 18)
/* Blocks are whole multiples of the widest SIMD kernel's column count. */
#define COL_ALIGN 16

/* OpenBLAS must compute on the calling thread: its own pool would otherwise
 * run inside ours. Set once, whether or not tg_threads_set was called. */
static void blas_single_threaded(void) {
    static _Atomic int done;
    if (!done) {
        openblas_set_num_threads(1);
        done = 1;
    }
}

void tg_sgemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int M, int N, int K, float alpha,
              const float *A, int lda, const float *B, int ldb, float beta, float *C, int ldc) {
    int threads = 1;
    blas_single_threaded();
#ifdef _OPENMP
    if (!omp_in_parallel()) threads = omp_get_max_threads();
#endif
    double macs = (double)M * (double)N * (double)K;
    int split_cols = N >= M;
    int extent = split_cols ? N : M;
    if (threads > 1 && macs >= PAR_MIN_MACS && extent >= 2 * COL_ALIGN) {
        int blocks = threads;
        int step = (extent + blocks - 1) / blocks;
        step = (step + COL_ALIGN - 1) / COL_ALIGN * COL_ALIGN;
#pragma omp parallel for num_threads(threads) schedule(static, 1)
        for (int b = 0; b < blocks; b++) {
            int lo = b * step, hi = lo + step < extent ? lo + step : extent;
            if (lo >= hi) continue;
            if (split_cols) {
                /* columns lo..hi of B and C */
                const float *Bb = tb == CblasNoTrans ? B + lo : B + (long)lo * ldb;
                cblas_sgemm(CblasRowMajor, ta, tb, M, hi - lo, K, alpha, A, lda, Bb, ldb, beta,
                            C + lo, ldc);
            } else {
                /* rows lo..hi of op(A) and C */
                const float *Ab = ta == CblasNoTrans ? A + (long)lo * lda : A + lo;
                cblas_sgemm(CblasRowMajor, ta, tb, hi - lo, N, K, alpha, Ab, lda, B, ldb, beta,
                            C + (long)lo * ldc, ldc);
            }
        }
        return;
    }
    cblas_sgemm(CblasRowMajor, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}
