/* Matrix multiply for the kernels: row-major sgemm, split into column or row
 * blocks across twingrad's OpenMP threads, each block one single-threaded
 * OpenBLAS call. One thread pool does all the parallel work, so OpenBLAS's own
 * workers never spin beside ours. OpenBLAS is loaded at first use with its kernel
 * matched to the CPU (autograd/tg_blas_info.h; docs/architecture.md, "Threads and
 * BLAS"). Internal: not installed, not exported. */
#ifndef TG_BLAS_H
#define TG_BLAS_H

#include <cblas.h>

/* C (M,N) = alpha op(A) (M,K) . op(B) (K,N) + beta C, row-major, as cblas_sgemm.
 * Results are deterministic for a given thread count. Called from inside a
 * parallel region, it runs on the calling thread alone. */
void tg_sgemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int M, int N, int K, float alpha,
              const float *A, int lda, const float *B, int ldb, float beta, float *C, int ldc);

#endif
