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
/* How idle OpenMP threads wait, as libgomp was told when it started: "passive"
 * (sleep at once), "active" (spin), "spin N times, then sleep" (GOMP_SPINCOUNT=N, as
 * tg_threads_bounded_wait sets it), or "spin, then sleep (libgomp's default)" (neither
 * OMP_WAIT_POLICY nor GOMP_SPINCOUNT set: about 300 000 spins). */
const char *tg_threads_wait_policy(void);

/* The spin count tg_threads_bounded_wait sets: a fraction of a millisecond to a
 * millisecond or two of pause instructions, depending on the CPU. */
#define TG_SPINCOUNT 30000

/* For a program's main(), first thing: unless the user set OMP_WAIT_POLICY or
 * GOMP_SPINCOUNT, set GOMP_SPINCOUNT=TG_SPINCOUNT and re-execute the program
 * (/proc/self/exe with the same argv), as libgomp reads its settings once, before any
 * program code runs. An idle thread then spins briefly before it sleeps: long enough
 * to catch the next parallel region of a step without being woken (the small model
 * trained 1.7x faster than with passive waiting), short enough not to take the CPU
 * for long from threads that have work when the cores are shared (libgomp's default
 * spins ten times longer; beside other processes the seed model trained 2.5x slower
 * with it). Measured in docs/architecture.md, "Threads and BLAS". Returns only when
 * nothing was to be done or the re-execution failed (then the program runs as it
 * is). The variable stays set, so child processes get the same policy. Not for
 * libraries. */
void tg_threads_bounded_wait(char **argv);
/* The same with OMP_WAIT_POLICY=passive: idle threads sleep at once (the default
 * before TG_SPINCOUNT; slower for models of many small ops). */
void tg_threads_passive_wait(char **argv);

TG_API_END

#endif
