/* CPU detection by cpuid. An instruction set counts only when the OS also saves
 * its registers (XCR0), as a hypervisor may hide AVX-512 state from a guest. */
#include "autograd/tg_cpu.h"

#include <pthread.h>
#include <string.h>
#include <strings.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>

static unsigned long long xgetbv0(void) {
    unsigned eax, edx;
    __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
    return ((unsigned long long)edx << 32) | eax;
}

static void detect(tg_cpu *cpu) {
    unsigned a, b, c, d, max_leaf;
    if (!__get_cpuid(0, &max_leaf, &b, &c, &d)) return;
    memcpy(cpu->vendor, &b, 4);
    memcpy(cpu->vendor + 4, &d, 4);
    memcpy(cpu->vendor + 8, &c, 4);
    unsigned ext_max = __get_cpuid_max(0x80000000u, NULL);
    if (ext_max >= 0x80000004u) {
        unsigned *w = (unsigned *)cpu->brand;
        for (unsigned leaf = 0; leaf < 3; leaf++)
            __get_cpuid(0x80000002u + leaf, &w[4 * leaf], &w[4 * leaf + 1], &w[4 * leaf + 2],
                        &w[4 * leaf + 3]);
        cpu->brand[48] = '\0';
        /* Brand strings are padded with spaces on either side. */
        char *s = cpu->brand;
        while (*s == ' ') s++;
        memmove(cpu->brand, s, strlen(s) + 1);
        for (size_t n = strlen(cpu->brand); n > 0 && cpu->brand[n - 1] == ' '; n--)
            cpu->brand[n - 1] = '\0';
    }
    __get_cpuid(1, &a, &b, &c, &d);
    int osxsave = (c >> 27) & 1, avx = (c >> 28) & 1, fma = (c >> 12) & 1;
    if (!osxsave || !avx) return;
    unsigned long long xcr0 = xgetbv0();
    if ((xcr0 & 0x6) != 0x6) return; /* XMM and YMM state */
    cpu->isa = TG_ISA_AVX;
    if (max_leaf < 7) return;
    unsigned b7, c7, d7, a71 = 0, b71, c71, d71;
    __cpuid_count(7, 0, a, b7, c7, d7);
    if (a >= 1) __cpuid_count(7, 1, a71, b71, c71, d71);
    if (((b7 >> 5) & 1) && fma) cpu->isa = TG_ISA_AVX2;
    int avx512 = ((b7 >> 16) & 1) && ((b7 >> 28) & 1) && ((b7 >> 30) & 1) && ((b7 >> 17) & 1) &&
                 ((b7 >> 31) & 1);                                    /* F, CD, BW, DQ, VL */
    if (cpu->isa == TG_ISA_AVX2 && avx512 && (xcr0 & 0xe0) == 0xe0) { /* opmask, ZMM */
        cpu->isa = TG_ISA_AVX512;
        cpu->avx512_bf16 = (a71 >> 5) & 1;
    }
}
#else
static void detect(tg_cpu *cpu) {
    (void)cpu;
}
#endif

static tg_cpu the_cpu;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void init(void) {
    detect(&the_cpu);
    if (!the_cpu.brand[0]) strcpy(the_cpu.brand, "unknown CPU");
}

const tg_cpu *tg_cpu_get(void) {
    pthread_once(&once, init);
    return &the_cpu;
}

const char *tg_isa_name(tg_isa isa) {
    switch (isa) {
    case TG_ISA_AVX512:
        return "AVX-512";
    case TG_ISA_AVX2:
        return "AVX2";
    case TG_ISA_AVX:
        return "AVX";
    case TG_ISA_BASE:
        break;
    }
    return "SSE2";
}

const char *tg_cpu_openblas_core(const tg_cpu *cpu) {
    /* OpenBLAS 0.3.21 knows each CPU model by number and falls back to Prescott
     * (SSE3) for any newer one, e.g. Emerald Rapids; the kernel is chosen here by
     * instruction set instead. Cooperlake = SkylakeX's sgemm plus the bf16 GEMM. */
    if (cpu->isa == TG_ISA_AVX512) return cpu->avx512_bf16 ? "Cooperlake" : "SkylakeX";
    if (cpu->isa == TG_ISA_AVX2)
        return !strcmp(cpu->vendor, "AuthenticAMD") || !strcmp(cpu->vendor, "HygonGenuine")
                   ? "Zen"
                   : "Haswell";
    return NULL;
}

tg_isa tg_openblas_core_isa(const char *core) {
    static const struct {
        const char *name;
        tg_isa isa;
    } cores[] = {
        {"SapphireRapids", TG_ISA_AVX512},
        {"Cooperlake", TG_ISA_AVX512},
        {"SkylakeX", TG_ISA_AVX512},
        {"Haswell", TG_ISA_AVX2},
        {"Zen", TG_ISA_AVX2},
        {"Excavator", TG_ISA_AVX2},
        {"Sandybridge", TG_ISA_AVX},
        {"Bulldozer", TG_ISA_AVX},
        {"Piledriver", TG_ISA_AVX},
        {"Steamroller", TG_ISA_AVX},
    };
    for (size_t i = 0; core && i < sizeof cores / sizeof cores[0]; i++)
        if (!strcasecmp(core, cores[i].name)) return cores[i].isa;
    return TG_ISA_BASE; /* Prescott, Core2, Penryn, Nehalem, Barcelona, Atom, ... */
}
