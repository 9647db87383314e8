/* One thread pool: twingrad's OpenMP threads do all parallel work, including
 * matrix multiplies, which tg_sgemm splits into blocks for single-threaded
 * OpenBLAS calls. So with n threads at most n cores are busy, and no second
 * pool of idle workers spins beside the first. */
#ifndef TG_THREADS_H
#define TG_THREADS_H

#include "autograd/tg_error.h"
#include "autograd/tg_export.h"

TG_API_BEGIN

/* Use n threads (n <= 0: one per core) for the parallel work the calling thread
 * starts from now on. This is OpenMP's per-thread setting (omp_set_num_threads):
 * other threads keep theirs. tg_train and tg_evaluate set their own count and
 * restore the caller's on return. */
tg_status tg_threads_set(int n);
/* The thread count the calling thread's parallel work uses. */
int tg_threads_get(void);

TG_API_END

#endif
