/* The training loop's side of data-parallel training (not installed): which run
 * needs a tg_dist (its settings live in the run record, eval/tg_run.h), outcomes
 * rank 0 alone had (writing files) made known to all, collective stop requests, and validation
 * pairs shared out among the ranks. Every function takes the run's tg_dist, NULL for an ordinary
 * single-process run. */
#ifndef TG_TRAIN_DIST_H
#define TG_TRAIN_DIST_H

#include <signal.h>

#include "checkpoint/tg_checkpoint.h"
#include "dist/tg_dist.h"
#include "eval/tg_run.h"

/* A tg_dist when the run needs one (more than one rank, or the fixed reduction),
 * else *out = NULL. comm NULL: one process (a local communicator is made in
 * *own_comm, for the caller to free after the tg_dist). *shards: 0 means one per
 * rank; fixed mode stores its actual count there (kept in the run record). Errors
 * say how to pick a batch or rank count that fits. */
tg_status tg_train_dist_start(tg_comm *comm, tg_reduce reduce, int *shards, tg_graph *g, int batch,
                              uint64_t seed, tg_comm **own_comm, tg_dist **out);

/* Every rank learns the outcome of a step some ranks may fail alone (tg_comm_agree). */
tg_status tg_train_dist_agree(tg_dist *d, tg_status st);
/* 1 when a stop was requested on any rank. */
int tg_train_dist_stop(tg_dist *d, volatile sig_atomic_t *stop);

/* tg_run_pair_distances, with the batches of pairs shared out among the ranks and
 * every rank receiving all distances, labels and the same mean loss. */
tg_status tg_train_dist_pair_distances(tg_dist *d, tg_model *m, const tg_dataset *ds,
                                       const tg_pairs *pairs, float *dist, int *labels,
                                       double *mean_loss);

#endif
