/* One thread pool: twingrad's OpenMP threads do all parallel work, including
 * matrix multiplies, which tg_sgemm splits into blocks for single-threaded
 * OpenBLAS calls. So with n threads at most n cores are busy, and no second
 * pool of idle workers spins beside the first. */
#ifndef TG_THREADS_H
#define TG_THREADS_H

#include "autograd/tg_error.h"
#include "autograd/tg_export.h"

TG_API_BEGIN

/* Use n threads (n <= 0: one per core); OpenBLAS itself is set to one thread. */
tg_status tg_threads_set(int n);
/* The thread count in use. */
int tg_threads_get(void);

TG_API_END

#endif
