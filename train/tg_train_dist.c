/* The training loop's side of data-parallel training (tg_train_dist.h). */
#include "train/tg_train_dist.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dist/tg_comm_impl.h"

tg_status tg_train_dist_start(tg_comm *comm, tg_reduce reduce, int *shards_io, tg_graph *g,
                              int batch, uint64_t seed, tg_comm **own_comm, tg_dist **out) {
    *out = NULL;
    *own_comm = NULL;
    int n = tg_comm_size(comm);
    if (n == 1 && reduce == TG_REDUCE_FAST && *shards_io <= 1) return TG_OK; /* plain run */
    int shards = *shards_io ? *shards_io : n;
    if (shards % n)
        return tg_error(TG_ERR_INVALID,
                        "this run sums %d shards of each batch in a fixed order; "
                        "it runs on a number of ranks that divides %d, not on %d",
                        shards, shards, n);
    if (batch % shards)
        return tg_error(TG_ERR_INVALID,
                        "a batch of %d pairs does not split into %d equal %s; use "
                        "a batch that is a multiple of %d (--batch)",
                        batch, shards, *shards_io ? "shards" : "shares for the ranks", shards);
    if (reduce == TG_REDUCE_FIXED) *shards_io = shards; /* kept: it fixes the sums */
    tg_status st;
    if (!comm) {
        if ((st = tg_comm_local(own_comm))) return st;
        comm = *own_comm;
    }
    if ((st = tg_dist_new(comm, g, reduce, shards, seed, out))) {
        tg_comm_free(*own_comm);
        *own_comm = NULL;
    }
    return st;
}

tg_status tg_train_dist_agree(tg_dist *d, tg_status st) {
    return d ? tg_comm_agree(tg_dist_comm(d), st) : st;
}

int tg_train_dist_stop(tg_dist *d, volatile sig_atomic_t *stop) {
    int mine = stop && *stop, any = mine;
    /* A failed exchange stops this rank too; the next agreement reports the error. */
    if (d && tg_comm_any(tg_dist_comm(d), mine, &any)) return 1;
    return any;
}

tg_status tg_train_dist_pair_distances(tg_dist *d, tg_model *m, const tg_dataset *ds,
                                       const tg_pairs *pairs, float *dist, int *labels,
                                       double *mean_loss) {
    tg_comm *c = d ? tg_dist_comm(d) : NULL;
    int n_ranks = tg_comm_size(c);
    if (n_ranks == 1) return tg_run_pair_distances(m, ds, pairs, dist, labels, mean_loss);
    /* Whole batches of m->batch pairs per rank, cut where a single process cuts them, so
     * every distance and the loss come out as one process would compute them. */
    size_t batch = (size_t)m->batch, n = pairs->n, chunks = (n + batch - 1) / batch;
    int me = tg_comm_rank(c);
    size_t *first = malloc(((size_t)n_ranks + 1) * 4 * sizeof(size_t)); /* chunk, 3 x bytes */
    double *chunk_loss = calloc(chunks ? chunks : 1, sizeof(double));
    tg_status st = TG_OK;
    if (!first || !chunk_loss) st = tg_error(TG_ERR_NOMEM, "out of memory");
    size_t *f_off = NULL, *l_off = NULL, *c_off = NULL;
    if (!st) {
        f_off = first + n_ranks + 1, l_off = f_off + n_ranks + 1, c_off = l_off + n_ranks + 1;
        for (int r = 0; r <= n_ranks; r++) {
            first[r] = chunks * (size_t)r / (size_t)n_ranks;
            size_t pair = first[r] * batch < n ? first[r] * batch : n;
            f_off[r] = pair * sizeof(float);
            l_off[r] = pair * sizeof(int);
            c_off[r] = first[r] * sizeof(double);
        }
        for (size_t k = first[me]; k < first[me + 1]; k++) {
            size_t start = k * batch, count = n - start < batch ? n - start : batch;
            tg_pairs view = {pairs->p + start, count};
            double mean;
            st = tg_run_pair_distances(m, ds, &view, dist + start, labels + start, &mean);
            if (st) break;
            chunk_loss[k] = mean * (double)count; /* exact: the float loss times a small count */
        }
    }
    st = tg_comm_agree(c, st);
    if (!st) st = tg_comm_allgatherv(c, dist, f_off);
    if (!st) st = tg_comm_allgatherv(c, labels, l_off);
    if (!st) st = tg_comm_allgatherv(c, chunk_loss, c_off);
    if (!st && mean_loss) {
        double sum = 0.0; /* in batch order, as tg_run_pair_distances adds */
        for (size_t k = 0; k < chunks; k++) sum += chunk_loss[k];
        *mean_loss = n ? sum / (double)n : 0.0;
    }
    free(first);
    free(chunk_loss);
    return st;
}
