/* Communicators for data-parallel training: which process this is (its rank) among
 * how many (the size), and the few collectives a training step needs. One kind runs
 * over MPI (a build configured --with-mpi), one is a single process. No MPI type
 * appears here, so a program includes this header the same way in either build.
 *
 *   tg_comm *c;
 *   tg_status st = tg_comm_launched() ? tg_comm_mpi_world(&c) : tg_comm_local(&c);
 *   ...   tg_dist_new(c, graph, ...) (tg_dist.h) trains data-parallel over it
 *   tg_comm_free(c);   // finalises MPI when tg_comm_mpi_world initialised it
 */
#ifndef TG_COMM_H
#define TG_COMM_H

#include <stddef.h>
#include <stdint.h>

#include "autograd/tg_error.h"
#include "autograd/tg_export.h"

TG_API_BEGIN

typedef struct tg_comm tg_comm;

/* 1 when the library was built with MPI (configure --with-mpi), else 0. */
int tg_comm_mpi_available(void);
/* 1 when this process was started by an MPI launcher (mpirun, mpiexec, Slurm's srun
 * with PMI/PMIx), judged from the environment the launcher sets. */
int tg_comm_launched(void);

/* A communicator of one process (rank 0 of 1): every collective is a no-op. */
tg_status tg_comm_local(tg_comm **out);
/* All processes of the MPI job (a duplicate of MPI_COMM_WORLD, so twingrad's messages
 * never meet the program's). Initialises MPI (threads: funneled) if the program has
 * not; tg_comm_free then finalises it. TG_ERR_STATE in a build without MPI. */
tg_status tg_comm_mpi_world(tg_comm **out);
/* A duplicate of the program's own communicator: `mpi_comm` points to an MPI_Comm
 * (e.g. &comm). The program keeps initialising and finalising MPI. */
tg_status tg_comm_mpi_wrap(const void *mpi_comm, tg_comm **out);
/* Free a communicator (NULL is fine); the one whose tg_comm_mpi_world initialised
 * MPI finalises it, so free that one last. Collective over its processes. */
void tg_comm_free(tg_comm *c);

int tg_comm_rank(const tg_comm *c);
int tg_comm_size(const tg_comm *c);
/* "MPI (Open MPI v4.1.4)" or "local": what the ranks talk over. */
const char *tg_comm_kind(const tg_comm *c);

/* buf[0..n) <- its sum over all ranks, the same on every rank, in the order MPI
 * chooses (fast; the bits may depend on the number of ranks). */
tg_status tg_comm_allreduce_sum(tg_comm *c, float *buf, int64_t n);
/* *any <- 1 when flag is non-zero on some rank (a stop request, say). */
tg_status tg_comm_any(tg_comm *c, int flag, int *any);
/* Copy `bytes` bytes from rank `root`'s buf to every rank's. */
tg_status tg_comm_bcast(tg_comm *c, void *buf, size_t bytes, int root);
/* Agree on an outcome: every rank passes its status and every rank returns the
 * status of the lowest failing rank, with that rank's message (prefixed "rank R: "
 * when R > 0), or TG_OK when all succeeded. Calls must line up on all ranks. */
tg_status tg_comm_agree(tg_comm *c, tg_status st);
/* 1 once a communication call failed: the ranks may now disagree about where they
 * are, so the caller should end the job with tg_comm_abort. */
int tg_comm_failed(const tg_comm *c);
/* End every process of the job with exit code `code` (MPI_Abort). Returns only for
 * a local communicator. Meant for programs (the command), never called by the library. */
void tg_comm_abort(tg_comm *c, int code);

TG_API_END

#endif
