/* Thread policy: twingrad's parallel work runs on the caller's OpenMP pool. */
#include "autograd/tg_threads.h"

#include <stdio.h>
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
    static _Thread_local char spin_text[64];
    const char *policy = getenv("OMP_WAIT_POLICY"), *spin = getenv("GOMP_SPINCOUNT");
    if (policy && !strcasecmp(policy, "passive")) return "passive";
    if (policy && !strcasecmp(policy, "active")) return "active";
    if (spin) {
        snprintf(spin_text, sizeof spin_text, "spin %.24s times, then sleep", spin);
        return spin_text;
    }
    return "spin, then sleep (libgomp's default)";
}

/* Unless the user chose how OpenMP waits: set `name` to `value` and run the program
 * again, so that libgomp reads it when it loads. */
static void reexec_with(char **argv, const char *name, const char *value) {
    if (!argv || !argv[0] || getenv("OMP_WAIT_POLICY") || getenv("GOMP_SPINCOUNT")) return;
    if (setenv(name, value, 0)) return;
    execv("/proc/self/exe", argv);
}

void tg_threads_bounded_wait(char **argv) {
    char count[16];
    snprintf(count, sizeof count, "%d", TG_SPINCOUNT);
    reexec_with(argv, "GOMP_SPINCOUNT", count);
}

void tg_threads_passive_wait(char **argv) {
    reexec_with(argv, "OMP_WAIT_POLICY", "passive");
}
