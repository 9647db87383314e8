/* Data-parallel training: every rank holds the whole model, runs forward and backward
 * on its share of each global batch, and the shares' gradients, batch-norm running
 * statistics and losses are combined so that every rank takes the same optimizer step.
 *
 * The global batch is cut into `shards` equal micro-batches, shard k being pairs
 * [k·B/S, (k+1)·B/S); rank r runs the S/N shards from r·S/N on. Each shard runs from the
 * same batch-norm state, which then becomes the mean of the shards' updates; dropout
 * draws from a stream seeded by (seed, step, shard), so no rank-local RNG state exists.
 *
 *   TG_REDUCE_FAST   one MPI all-reduce of the flat gradient buffer (sum in MPI's order)
 *   TG_REDUCE_FIXED  shard gradients summed along a binary tree over shard indices,
 *                    fixed by S alone: bit-identical for every rank count dividing S,
 *                    a single process included (docs/distributed.md)
 *
 *   static tg_status shard(void *ctx, int64_t start, int64_t count, double *loss) {
 *       // fill the inputs with pairs [start, start+count) of this step's batch,
 *       // tg_graph_forward(g, loss_node); *loss = value; tg_graph_backward(g, loss_node)
 *   }
 *   tg_dist_new(comm, g, TG_REDUCE_FAST, 0, seed, &d);
 *   per step: tg_dist_train_step(d, step, batch, shard, ctx, opt, &step_opts, &result);
 *             // every rank: the gradient of the whole batch, the same update
 */
#ifndef TG_DIST_H
#define TG_DIST_H

#include <stdint.h>

#include "autograd/tg_error.h"
#include "autograd/tg_export.h"
#include "autograd/tg_graph.h"
#include "autograd/tg_optim.h"
#include "autograd/tg_step.h"
#include "dist/tg_comm.h"

TG_API_BEGIN

typedef enum tg_reduce {
    TG_REDUCE_FAST = 0, /* MPI_Allreduce: fastest, reduction order up to MPI */
    TG_REDUCE_FIXED,    /* fixed binary tree over shards: reproducible bit for bit */
} tg_reduce;

/* "fast" / "fixed", and back (TG_ERR_INVALID with the choices otherwise). */
const char *tg_reduce_name(tg_reduce r);
tg_status tg_reduce_parse(const char *name, tg_reduce *out);

typedef struct tg_dist tg_dist;

/* Forward and backward over pairs [start, start+count) of the current global batch
 * (start counts from the batch's first pair): ADD the gradient of the shard's mean
 * loss into the graph's gradients (do not zero them) and store that loss. */
typedef tg_status (*tg_dist_shard_fn)(void *ctx, int64_t start, int64_t count, double *loss);

/* Data-parallel training of graph g over comm (neither is owned). shards = 0 means
 * one per rank; it must be a multiple of the number of ranks. Every rank must build
 * the same graph from the same seed. Checks that the ranks hold identical parameters. */
tg_status tg_dist_new(tg_comm *comm, tg_graph *g, tg_reduce reduce, int shards, uint64_t seed,
                      tg_dist **out);
void tg_dist_free(tg_dist *d);

/* One global batch of `batch` pairs (a multiple of the shard count) at optimizer step
 * `step`: runs fn on this rank's shards, then combines. Afterwards every rank's
 * gradient buffer holds the gradient of the batch's mean loss, its batch-norm state
 * the mean of the shards' updates, and *loss the batch's mean loss. */
tg_status tg_dist_step(tg_dist *d, int64_t step, int64_t batch, tg_dist_shard_fn fn, void *ctx,
                       double *loss);
/* Compare a hash of the parameters and state across ranks: TG_ERR_STATE if they differ. */
tg_status tg_dist_check_same(tg_dist *d);

tg_comm *tg_dist_comm(const tg_dist *d);
tg_reduce tg_dist_reduce(const tg_dist *d);
int tg_dist_shards(const tg_dist *d);
/* Seconds spent so far in the shards' forward/backward and in combining them. */
void tg_dist_times(const tg_dist *d, double *compute_seconds, double *combine_seconds);

/* The data-parallel tg_train_step: tg_dist_step, then on the combined gradient the
 * options' hook, clipping and one step of opt, identical on every rank. A loss or a
 * gradient that is not finite (judged on the combined values, so every rank agrees)
 * stops before any parameter changes, with TG_ERR_NUMERIC. `result` may be NULL. */
tg_status tg_dist_train_step(tg_dist *d, int64_t step, int64_t batch, tg_dist_shard_fn fn,
                             void *ctx, tg_optimizer *opt, const tg_step_opts *o,
                             tg_step_result *result);

TG_API_END

#endif
