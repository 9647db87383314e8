/* Which BLAS kernel computes the matrix multiplies, and why. OpenBLAS is loaded at
 * the first matrix multiply with the kernel matched to the CPU by cpuid, unless the
 * user set OPENBLAS_CORETYPE; a kernel slower than the CPU allows is reported here
 * and, once, through the log handler (autograd/tg_log.h). */
#ifndef TG_BLAS_INFO_H
#define TG_BLAS_INFO_H

#include <stddef.h>

#include "autograd/tg_error.h"
#include "autograd/tg_export.h"

TG_API_BEGIN

typedef struct tg_blas_info {
    char cpu[64];            /* CPU brand string from cpuid */
    const char *cpu_isa;     /* widest vector set of the CPU and OS: "AVX-512", "AVX2", ... */
    char library[160];       /* "OpenBLAS 0.3.21 DYNAMIC_ARCH ..." (openblas_get_config) */
    char core[32];           /* the kernel: openblas_get_corename(), e.g. "Cooperlake" */
    const char *core_origin; /* how the kernel was chosen, e.g. "OPENBLAS_CORETYPE set by the
                                user" or "chosen by twingrad from cpuid" */
    const char *core_isa;    /* the vector set of the kernel */
    int threads;             /* the calling thread's thread count (tg_threads_get) */
    const char *wait_policy; /* how idle threads wait (tg_threads_wait_policy) */
    int slow_kernel;         /* 1: the kernel uses a narrower vector set than the CPU has */
    int generic;             /* 1: the kernel is a generic fallback (Prescott, Core2, ...) */
    char warning[320];       /* "" or the warning with its remedy, as sent to tg_log */
} tg_blas_info;

/* Load the BLAS if needed and describe it. Fails (TG_ERR_STATE) when OpenBLAS
 * cannot be loaded; matrix multiplies then run a slow portable loop. */
tg_status tg_blas_info_get(tg_blas_info *info);
/* The info on one line: "CPU ... | BLAS ... | kernel ... | N threads, OpenMP wait ...". */
void tg_blas_describe(const tg_blas_info *info, char *buf, size_t size);

/* C (M,N) = alpha op(A) (M,K) . op(B) (K,N) + beta C, row-major, op = transpose when
 * trans_a / trans_b is nonzero: one plain call of the loaded BLAS on its own threads
 * (tg_blas_threads_set), the reference that bench/bench_ops measures ops against. */
void tg_blas_gemm(int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A,
                  int lda, const float *B, int ldb, float beta, float *C, int ldc);
/* Threads of the BLAS's own pool (1, the default, while twingrad's kernels run). */
void tg_blas_threads_set(int n);

TG_API_END

#endif
