/* Thread policy: twingrad's parallel work runs on the caller's OpenMP pool. */
#include "autograd/tg_threads.h"

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
