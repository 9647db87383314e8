/* One thread count for both engines: twingrad's OpenMP kernels and OpenBLAS.
 * They never run nested (no BLAS call inside a parallel region), so with n
 * threads at most n cores are busy at any moment. */
#ifndef TG_THREADS_H
#define TG_THREADS_H

#include "tg_error.h"

/* Use n threads in OpenMP kernels and in OpenBLAS; n <= 0 means one per core. */
tg_status tg_threads_set(int n);
/* The thread count in use. */
int tg_threads_get(void);

#endif
