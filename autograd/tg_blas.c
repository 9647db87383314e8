/* OpenBLAS loaded at first use with the kernel matched to the CPU, and a blocked
 * parallel sgemm over single-threaded OpenBLAS calls.
 *
 * Why dlopen: a DYNAMIC_ARCH OpenBLAS picks its kernel once, in its constructor,
 * from the CPU model number, and a release older than the CPU falls back to its
 * oldest kernel (Debian's 0.3.21 runs Emerald Rapids on Prescott, at a sixth of
 * the speed). Linked normally, it initialises before any twingrad code runs; loaded
 * here, OPENBLAS_CORETYPE can be set from cpuid just for the load and removed
 * again, so the environment of the process and its children is unchanged. */
#include "autograd/tg_blas.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/tg_blas_info.h"
#include "autograd/tg_cpu.h"
#include "autograd/tg_log.h"
#include "autograd/tg_threads.h"

#ifdef _OPENMP
#include <omp.h>
#endif

#ifndef TG_BLAS_SONAME
#define TG_BLAS_SONAME "libopenblas.so.0"
#endif

/* Below this many multiply-adds a GEMM is not worth waking threads for. */
#define PAR_MIN_MACS (1 << 18)
/* Blocks are whole multiples of the widest SIMD kernel's column count. */
#define COL_ALIGN 16

typedef void (*sgemm_fn)(enum CBLAS_ORDER, enum CBLAS_TRANSPOSE, enum CBLAS_TRANSPOSE, int, int,
                         int, float, const float *, int, const float *, int, float, float *, int);

static struct {
    sgemm_fn sgemm; /* NULL: OpenBLAS could not be loaded, the portable loop runs */
    void (*set_threads)(int);
    tg_blas_info info;
    char load_error[256];
    char replaced[96]; /* a user's OPENBLAS_CORETYPE this CPU cannot run, or "" */
} blas;
static pthread_once_t blas_once = PTHREAD_ONCE_INIT;

static void *load(const char **origin) {
    /* Already in the process (linked by the program, or loaded by another library):
     * its kernel is fixed; it is reported, and warned about if slow. */
    void *h = dlopen(TG_BLAS_SONAME, RTLD_NOW | RTLD_LOCAL | RTLD_NOLOAD);
    const char *user = getenv("OPENBLAS_CORETYPE");
    if (h) {
        *origin = user && *user ? "OPENBLAS_CORETYPE set by the user"
                                : "detected by OpenBLAS, loaded before twingrad";
        return h;
    }
    const tg_cpu *cpu = tg_cpu_get();
    if (user && *user && tg_openblas_core_isa(user) <= cpu->isa) {
        *origin = "OPENBLAS_CORETYPE set by the user";
        return dlopen(TG_BLAS_SONAME, RTLD_NOW | RTLD_LOCAL);
    }
    /* Unset, or a kernel for wider vectors than the CPU has (SkylakeX on an AVX2
     * CPU), which would stop the process at its first GEMM with an illegal
     * instruction: the core for this CPU is set just for the load (none: OpenBLAS
     * detects), then the variable is put back as it was. */
    const char *core = tg_cpu_openblas_core(cpu);
    if (user && *user) snprintf(blas.replaced, sizeof blas.replaced, "%s", user);
    if (blas.replaced[0])
        *origin = core ? "chosen by twingrad from cpuid, replacing OPENBLAS_CORETYPE"
                       : "detected by OpenBLAS, replacing OPENBLAS_CORETYPE";
    else
        *origin = core ? "chosen by twingrad from cpuid" : "detected by OpenBLAS";
    if (core)
        setenv("OPENBLAS_CORETYPE", core, 1);
    else
        unsetenv("OPENBLAS_CORETYPE");
    h = dlopen(TG_BLAS_SONAME, RTLD_NOW | RTLD_LOCAL);
    if (blas.replaced[0])
        setenv("OPENBLAS_CORETYPE", blas.replaced, 1);
    else
        unsetenv("OPENBLAS_CORETYPE");
    return h;
}

static void load_once(void) {
    tg_blas_info *in = &blas.info;
    const tg_cpu *cpu = tg_cpu_get();
    snprintf(in->cpu, sizeof in->cpu, "%s", cpu->brand);
    in->cpu_isa = tg_isa_name(cpu->isa);
    in->core_origin = "none";
    void *h = load(&in->core_origin);
    sgemm_fn sgemm = h ? (sgemm_fn)dlsym(h, "cblas_sgemm") : NULL;
    void (*set_threads)(int) = h ? (void (*)(int))dlsym(h, "openblas_set_num_threads") : NULL;
    char *(*corename)(void) = h ? (char *(*)(void))dlsym(h, "openblas_get_corename") : NULL;
    char *(*config)(void) = h ? (char *(*)(void))dlsym(h, "openblas_get_config") : NULL;
    if (!sgemm || !set_threads || !corename || !config) {
        snprintf(blas.load_error, sizeof blas.load_error,
                 "OpenBLAS (%s) could not be loaded: %s; install the Debian package "
                 "libopenblas0-pthread",
                 TG_BLAS_SONAME, h ? "cblas_sgemm or openblas_get_corename missing" : dlerror());
        snprintf(in->library, sizeof in->library, "none (portable loop)");
        snprintf(in->core, sizeof in->core, "none");
        in->core_isa = "none";
        in->slow_kernel = 1;
        snprintf(in->warning, sizeof in->warning, "%s; matrix multiplies run a slow portable loop",
                 blas.load_error);
        tg_log(TG_LOG_WARN, "%s", in->warning);
        return;
    }
    /* twingrad's OpenMP threads do the parallel work; OpenBLAS computes each
     * block on the calling thread (see tg_threads.h). */
    set_threads(1);
    snprintf(in->library, sizeof in->library, "%s", config());
    snprintf(in->core, sizeof in->core, "%s", corename());
    tg_isa core_isa = tg_openblas_core_isa(in->core);
    in->core_isa = tg_isa_name(core_isa);
    if (core_isa > cpu->isa) {
        /* Loaded before twingrad with a kernel this CPU cannot run: never call it. */
        snprintf(blas.load_error, sizeof blas.load_error,
                 "OpenBLAS was loaded before twingrad with its %s kernel (%s), which this CPU "
                 "(%s) cannot run; unset OPENBLAS_CORETYPE",
                 in->core, in->core_isa, in->cpu_isa);
        snprintf(in->library, sizeof in->library, "none (portable loop)");
        in->slow_kernel = 1;
        snprintf(in->warning, sizeof in->warning, "%s; matrix multiplies run a slow portable loop",
                 blas.load_error);
        tg_log(TG_LOG_WARN, "%s", in->warning);
        return;
    }
    if (blas.replaced[0]) {
        snprintf(in->warning, sizeof in->warning,
                 "OPENBLAS_CORETYPE=%s is a kernel for %s, which this CPU (%s) does not have: it "
                 "would stop at the first matrix multiply with an illegal instruction; OpenBLAS "
                 "runs its %s kernel instead",
                 blas.replaced, tg_isa_name(tg_openblas_core_isa(blas.replaced)), in->cpu_isa,
                 in->core);
        tg_log(TG_LOG_WARN, "%s", in->warning);
    }
    in->slow_kernel = core_isa < cpu->isa;
    in->generic = core_isa == TG_ISA_BASE;
    if (in->slow_kernel) {
        const char *best = tg_cpu_openblas_core(cpu);
        snprintf(in->warning, sizeof in->warning,
                 "OpenBLAS runs its %s%s kernel (%s, %s) on a CPU with %s: matrix multiplies "
                 "run %s; %s%s%s",
                 in->generic ? "generic fallback " : "", in->core, in->core_isa, in->core_origin,
                 in->cpu_isa,
                 in->generic ? "several times slower than they could"
                             : "slower than this CPU allows",
                 best ? "set OPENBLAS_CORETYPE=" : "unset OPENBLAS_CORETYPE", best ? best : "",
                 best ? " or unset it" : "");
        /* A generic kernel is a warning; a user's choice of a narrower one is news. */
        tg_log(in->generic ? TG_LOG_WARN : TG_LOG_INFO, "%s", in->warning);
    }
    blas.set_threads = set_threads;
    blas.sgemm = sgemm;
}

static void ensure_loaded(void) {
    pthread_once(&blas_once, load_once);
}

tg_status tg_blas_info_get(tg_blas_info *info) {
    ensure_loaded();
    *info = blas.info;
    info->threads = tg_threads_get();
    info->wait_policy = tg_threads_wait_policy();
    if (!blas.sgemm) return tg_error(TG_ERR_STATE, "%s", blas.load_error);
    return TG_OK;
}

void tg_blas_describe(const tg_blas_info *info, char *buf, size_t size) {
    snprintf(buf, size, "CPU %s (%s) | BLAS %s | kernel %s (%s, %s) | %d threads, OpenMP wait %s",
             info->cpu, info->cpu_isa, info->library, info->core, info->core_isa, info->core_origin,
             info->threads, info->wait_policy);
}

void tg_blas_threads_set(int n) {
    ensure_loaded();
    if (blas.set_threads) blas.set_threads(n < 1 ? 1 : n);
}

/* Where OpenBLAS is missing: correct, and slow (a warning was logged). */
static void sgemm_portable(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int M, int N, int K, float alpha,
                           const float *A, int lda, const float *B, int ldb, float beta, float *C,
                           int ldc) {
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            float acc = 0.0f;
            for (int k = 0; k < K; k++) {
                float a = ta == CblasNoTrans ? A[(long)i * lda + k] : A[(long)k * lda + i];
                float b = tb == CblasNoTrans ? B[(long)k * ldb + j] : B[(long)j * ldb + k];
                acc += a * b;
            }
            float *c = &C[(long)i * ldc + j];
            *c = alpha * acc + (beta == 0.0f ? 0.0f : beta * *c);
        }
}

/* One BLAS call (or the portable loop). */
static void gemm_call(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int M, int N, int K, float alpha,
                      const float *A, int lda, const float *B, int ldb, float beta, float *C,
                      int ldc) {
    if (blas.sgemm)
        blas.sgemm(CblasRowMajor, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    else
        sgemm_portable(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

void tg_blas_gemm(int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A,
                  int lda, const float *B, int ldb, float beta, float *C, int ldc) {
    ensure_loaded();
    gemm_call(trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans, M, N, K,
              alpha, A, lda, B, ldb, beta, C, ldc);
}

void tg_sgemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int M, int N, int K, float alpha,
              const float *A, int lda, const float *B, int ldb, float beta, float *C, int ldc) {
    int threads = 1;
    ensure_loaded();
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
                gemm_call(ta, tb, M, hi - lo, K, alpha, A, lda, Bb, ldb, beta, C + lo, ldc);
            } else {
                /* rows lo..hi of op(A) and C */
                const float *Ab = ta == CblasNoTrans ? A + (long)lo * lda : A + lo;
                gemm_call(ta, tb, hi - lo, N, K, alpha, Ab, lda, B, ldb, beta, C + (long)lo * ldc,
                          ldc);
            }
        }
        return;
    }
    gemm_call(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}
