/* What the CPU can run, read with cpuid (and xgetbv for what the OS saves), so
 * that the BLAS kernel and twingrad's own kernels match the machine without an
 * environment variable. Internal: the public view is tg_blas_info. */
#ifndef TG_CPU_H
#define TG_CPU_H

/* Vector instruction sets, widest last; a level implies the ones before it. */
typedef enum tg_isa {
    TG_ISA_BASE = 0, /* x86-64 baseline (SSE2), or not x86 */
    TG_ISA_AVX,      /* AVX (256-bit float) */
    TG_ISA_AVX2,     /* AVX2 + FMA (x86-64-v3) */
    TG_ISA_AVX512,   /* AVX-512 F, CD, BW, DQ, VL (x86-64-v4) */
} tg_isa;

typedef struct tg_cpu {
    char brand[64];  /* "AMD EPYC 9B45", from cpuid leaves 0x80000002..4 */
    char vendor[16]; /* "GenuineIntel", "AuthenticAMD", ... */
    tg_isa isa;      /* the widest set both the CPU and the OS support */
    int avx512_bf16; /* AVX512_BF16 present (Cooper Lake, Sapphire Rapids, Zen 4+) */
} tg_cpu;

/* Hot loops of twingrad's own kernels get AVX-512 and AVX2+FMA clones besides the
 * baseline build, picked once at load time by the CPU (GCC target_clones: an ifunc
 * resolver). The build never targets the build machine (-march=native), so a binary
 * runs anywhere; OpenBLAS does the same for its kernels. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define TG_HOT __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
/* A kernel whose register blocking differs by ISA: its AVX-512 version, called
 * only where tg_cpu_get()->isa says so (TG_HAVE_AVX512_KERNELS is 1 then). */
#define TG_AVX512 __attribute__((target("arch=x86-64-v4")))
#define TG_HAVE_AVX512_KERNELS 1
#else
#define TG_HOT
#define TG_HAVE_AVX512_KERNELS 0
#endif

/* Lets GCC fuse a * b + c into one instruction (one rounding, twice the rate) in a
 * hot function: ISO C mode turns its contraction off; clang contracts by default.
 * Only the FMA-capable clones (AVX2, AVX-512) do fuse. */
#if defined(__GNUC__) && !defined(__clang__)
#define TG_FMA __attribute__((optimize("fp-contract=fast")))
#else
#define TG_FMA
#endif

/* The CPU this process runs on (computed once; safe from any thread). */
const tg_cpu *tg_cpu_get(void);
/* "AVX-512", "AVX2", "AVX", "SSE2". */
const char *tg_isa_name(tg_isa isa);
/* The OpenBLAS DYNAMIC_ARCH core for this CPU ("Cooperlake", "SkylakeX", "Haswell",
 * "Zen"), or NULL where OpenBLAS's own detection is trusted (CPUs without AVX2,
 * which every OpenBLAS release knows). */
const char *tg_cpu_openblas_core(const tg_cpu *cpu);
/* The vector set an OpenBLAS core name's kernels use: TG_ISA_BASE for the generic
 * fallbacks (Prescott, Core2, Nehalem, ...) and for names it does not know. */
tg_isa tg_openblas_core_isa(const char *core);

#endif
