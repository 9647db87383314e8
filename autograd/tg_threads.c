/* Thread policy: twingrad's parallel work runs on the caller's OpenMP pool. */
#include "autograd/tg_threads.h"

#include <stdlib.h>
#include <strings.h>
#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>
#endif

tg_status tg_threads_set(int n) {
#ifdef _OPENMP
    if (n <= 0) n = omp_get_num_procs();
    omp_set_num_threads(n);
#else
    if (n <= 0) n = 1;
#endif
    return TG_OK;
}

int tg_threads_get(void) {
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

const char *tg_threads_wait_policy(void) {
    const char *policy = getenv("OMP_WAIT_POLICY"), *spin = getenv("GOMP_SPINCOUNT");
    if (policy && !strcasecmp(policy, "passive")) return "passive";
    if (policy && !strcasecmp(policy, "active")) return "active";
    if (spin) return "spin GOMP_SPINCOUNT times, then sleep";
    return "spin, then sleep (libgomp's default)";
}

void tg_threads_passive_wait(char **argv) {
    if (!argv || !argv[0] || getenv("OMP_WAIT_POLICY") || getenv("GOMP_SPINCOUNT")) return;
    if (setenv("OMP_WAIT_POLICY", "passive", 0)) return;
    execv("/proc/self/exe", argv);
}
