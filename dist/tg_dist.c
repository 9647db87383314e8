/* The data-parallel step (tg_dist.h): this rank's shards, then one combination of
 * gradient, batch-norm state and loss.
 *
 * Fast mode accumulates the local shards in the graph's gradient buffer, then sums it
 * over ranks with one MPI all-reduce (and a second, small one for the state and loss).
 * Fixed mode keeps each shard's [gradient | state | loss] in a slot of its own and adds
 * slots along a binary tree over shard indices: at level l, slot i += slot i + 2^l for
 * every i that is a multiple of 2^(l+1). The tree depends on the shard count S only;
 * the rank count N decides which additions are local and which need a message first,
 * never their order. Float addition is commutative, so slot i + slot j is the same
 * bits on whichever rank computes it: every N dividing S gives the same result. */
#include "dist/tg_dist.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dist/tg_comm_impl.h"

#define DROPOUT_STREAM 0x64726f706f7574ULL /* "dropout" */
enum { MAX_SHARDS = 4096 };                /* tags are shard indices: MPI guarantees 32767 */

struct tg_dist {
    tg_comm *comm;
    tg_graph *g;
    tg_reduce reduce;
    int shards, per_rank, first; /* this rank runs shards [first, first + per_rank) */
    uint64_t seed;
    int64_t n_grad, n_state, width; /* width: one fixed-mode slot, n_grad + n_state + 1 */
    float *snapshot;                /* batch-norm state before the step (n_state) */
    float *small;                   /* fast: [state sum | loss sum] (n_state + 1) */
    float *slots, *incoming;        /* fixed: per_rank slots, and one to receive into */
    double t_compute, t_combine;
};

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

const char *tg_reduce_name(tg_reduce r) {
    return r == TG_REDUCE_FAST ? "fast" : r == TG_REDUCE_FIXED ? "fixed" : "?";
}

tg_status tg_reduce_parse(const char *name, tg_reduce *out) {
    if (name && !strcmp(name, "fast"))
        *out = TG_REDUCE_FAST;
    else if (name && !strcmp(name, "fixed"))
        *out = TG_REDUCE_FIXED;
    else
        return tg_error(TG_ERR_INVALID, "reduction '%s': expected fast or fixed", name ? name : "");
    return TG_OK;
}

void tg_dist_free(tg_dist *d) {
    if (!d) return;
    free(d->snapshot);
    free(d->small);
    free(d->slots);
    free(d->incoming);
    free(d);
}

tg_status tg_dist_new(tg_comm *comm, tg_graph *g, tg_reduce reduce, int shards, uint64_t seed,
                      tg_dist **out) {
    *out = NULL;
    if (!comm || !g) return tg_error(TG_ERR_INVALID, "tg_dist_new: no communicator or graph");
    if (reduce != TG_REDUCE_FAST && reduce != TG_REDUCE_FIXED)
        return tg_error(TG_ERR_INVALID, "tg_dist_new: unknown reduction %d", (int)reduce);
    int n = tg_comm_size(comm);
    if (shards == 0) shards = n;
    if (shards < 0 || shards > MAX_SHARDS)
        return tg_error(TG_ERR_INVALID, "%d shards: expected 1..%d", shards, MAX_SHARDS);
    if (shards % n)
        return tg_error(TG_ERR_INVALID,
                        "%d shards of each batch cannot be shared equally by %d "
                        "ranks; run on a number of ranks that divides %d",
                        shards, n, shards);
    tg_dist *d = calloc(1, sizeof *d);
    if (!d) return tg_error(TG_ERR_NOMEM, "out of memory");
    d->comm = comm;
    d->g = g;
    d->reduce = reduce;
    d->shards = shards;
    d->per_rank = shards / n;
    d->first = tg_comm_rank(comm) * d->per_rank;
    d->seed = seed;
    if (!tg_graph_grad_data(g, &d->n_grad) || !tg_graph_param_data(g, NULL)) {
        tg_dist_free(d);
        return TG_ERR_STATE;
    }
    tg_graph_state_data(g, &d->n_state);
    d->width = d->n_grad + d->n_state + 1;
    d->snapshot = malloc(((size_t)d->n_state + 1) * sizeof(float));
    d->small = malloc(((size_t)d->n_state + 1) * sizeof(float));
    int ok = d->snapshot && d->small;
    if (ok && reduce == TG_REDUCE_FIXED) {
        d->slots = malloc((size_t)d->per_rank * (size_t)d->width * sizeof(float));
        d->incoming = n > 1 ? malloc((size_t)d->width * sizeof(float)) : NULL;
        ok = d->slots && (n == 1 || d->incoming);
    }
    tg_status st =
        ok ? TG_OK
           : tg_error(TG_ERR_NOMEM,
                      "out of memory for the data-parallel buffers (%d "
                      "x %lld floats)",
                      reduce == TG_REDUCE_FIXED ? d->per_rank + 1 : 1, (long long)d->width);
    if (!(st = tg_comm_agree(comm, st))) st = tg_dist_check_same(d);
    if (st) {
        tg_dist_free(d);
        return st;
    }
    *out = d;
    return TG_OK;
}

tg_comm *tg_dist_comm(const tg_dist *d) {
    return d->comm;
}
tg_reduce tg_dist_reduce(const tg_dist *d) {
    return d->reduce;
}
int tg_dist_shards(const tg_dist *d) {
    return d->shards;
}
void tg_dist_times(const tg_dist *d, double *compute_seconds, double *combine_seconds) {
    if (compute_seconds) *compute_seconds = d->t_compute;
    if (combine_seconds) *combine_seconds = d->t_combine;
}

/* FNV-1a over the bytes of n floats. */
static uint64_t hash_floats(uint64_t h, const float *x, int64_t n) {
    const unsigned char *p = (const unsigned char *)x;
    for (size_t i = 0; i < (size_t)n * sizeof(float); i++) h = (h ^ p[i]) * 0x100000001b3ULL;
    return h;
}

tg_status tg_dist_check_same(tg_dist *d) {
    if (tg_comm_size(d->comm) == 1) return TG_OK;
    int64_t np, ns;
    const float *params = tg_graph_param_data(d->g, &np);
    const float *state = tg_graph_state_data(d->g, &ns);
    uint64_t mine = hash_floats(hash_floats(0xcbf29ce484222325ULL, params, np), state, ns);
    uint64_t root = mine;
    tg_status st = tg_comm_bcast(d->comm, &root, sizeof root, 0);
    if (st) return st;
    if (root != mine)
        st = tg_error(TG_ERR_STATE,
                      "the parameters on rank %d differ from rank 0's: the ranks "
                      "did not build the same model from the same seed and checkpoint",
                      tg_comm_rank(d->comm));
    return tg_comm_agree(d->comm, st);
}

/* Dropout masks of shard k at `step` come from their own stream, whoever runs it. */
static void seed_dropout(tg_dist *d, int64_t step, int k) {
    uint64_t mix = (uint64_t)step * 0x9e3779b97f4a7c15ULL + (uint64_t)k * 0xd1b54a32d192ed03ULL;
    tg_rng_seed(tg_graph_rng(d->g), d->seed ^ DROPOUT_STREAM ^ mix);
}

static void add_into(float *restrict acc, const float *restrict x, int64_t n) {
    for (int64_t i = 0; i < n; i++) acc[i] += x[i];
}

/* Division rather than a multiply by 1/S: S identical values sum and divide back to
 * themselves exactly (the batch-norm 'batches' counter, say). */
static void divide(float *out, const float *x, int64_t n, float s) {
    for (int64_t i = 0; i < n; i++) out[i] = x[i] / s;
}

static tg_status combine_fast(tg_dist *d, float *grads, float *state, double *loss) {
    tg_status st = tg_comm_allreduce_sum(d->comm, grads, d->n_grad);
    if (!st) st = tg_comm_allreduce_sum(d->comm, d->small, d->n_state + 1);
    if (st) return st;
    float s = (float)d->shards;
    divide(grads, grads, d->n_grad, s);
    divide(state, d->small, d->n_state, s);
    *loss = (double)(d->small[d->n_state] / s);
    return TG_OK;
}

static tg_status combine_fixed(tg_dist *d, float *grads, float *state, double *loss) {
    int me = tg_comm_rank(d->comm), per = d->per_rank;
    int64_t w = d->width;
    tg_status st = TG_OK;
    for (int step = 1; step < d->shards && !st; step *= 2) {
        for (int i = 0; i + step < d->shards && !st; i += 2 * step) {
            int j = i + step, owner_i = i / per, owner_j = j / per;
            float *si = d->slots + (size_t)(i - d->first) * (size_t)w;
            const float *sj = d->slots + (size_t)(j - d->first) * (size_t)w;
            if (owner_i == me && owner_j == me) {
                add_into(si, sj, w);
            } else if (owner_i == me) {
                /* Messages only go to lower ranks, and each rank sends before it receives
                 * within a level, so these blocking calls cannot wait on each other. */
                if (!(st = tg_comm_recv(d->comm, d->incoming, w, owner_j, i)))
                    add_into(si, d->incoming, w);
            } else if (owner_j == me) {
                st = tg_comm_send(d->comm, sj, w, owner_i, i);
            }
        }
    }
    if (st || (st = tg_comm_bcast(d->comm, d->slots, (size_t)w * sizeof(float), 0))) return st;
    float s = (float)d->shards;
    divide(grads, d->slots, d->n_grad, s);
    divide(state, d->slots + d->n_grad, d->n_state, s);
    *loss = (double)(d->slots[w - 1] / s);
    return TG_OK;
}

tg_status tg_dist_step(tg_dist *d, int64_t step, int64_t batch, tg_dist_shard_fn fn, void *ctx,
                       double *loss) {
    if (batch <= 0 || batch % d->shards)
        return tg_error(TG_ERR_INVALID,
                        "a batch of %lld pairs does not split into %d equal "
                        "shards; use a batch that is a multiple of %d",
                        (long long)batch, d->shards, d->shards);
    int64_t ng, ns, count = batch / d->shards;
    float *grads = tg_graph_grad_data(d->g, &ng), *state = tg_graph_state_data(d->g, &ns);
    if (!grads) return TG_ERR_STATE;
    if (ng != d->n_grad || ns != d->n_state)
        return tg_error(TG_ERR_STATE, "the graph's parameters changed after tg_dist_new");
    double t0 = now();
    if (ns) memcpy(d->snapshot, state, (size_t)ns * sizeof(float));
    memset(d->small, 0, ((size_t)ns + 1) * sizeof(float));
    tg_graph_zero_grad(d->g);
    for (int j = 0; j < d->per_rank; j++) {
        int k = d->first + j;
        double shard_loss = 0;
        if (j && ns) memcpy(state, d->snapshot, (size_t)ns * sizeof(float));
        if (d->reduce == TG_REDUCE_FIXED) tg_graph_zero_grad(d->g);
        seed_dropout(d, step, k);
        tg_status st = fn(ctx, (int64_t)k * count, count, &shard_loss);
        /* Before any rank waits in the combination, all learn whether every shard ran. */
        if ((st = tg_comm_agree(d->comm, st))) return st;
        if (d->reduce == TG_REDUCE_FIXED) {
            float *slot = d->slots + (size_t)j * (size_t)d->width;
            memcpy(slot, grads, (size_t)ng * sizeof(float));
            if (ns) memcpy(slot + ng, state, (size_t)ns * sizeof(float));
            slot[d->width - 1] = (float)shard_loss;
        } else {
            add_into(d->small, state, ns);
            d->small[ns] += (float)shard_loss;
        }
    }
    double t1 = now();
    tg_status st = d->reduce == TG_REDUCE_FIXED ? combine_fixed(d, grads, state, loss)
                                                : combine_fast(d, grads, state, loss);
    d->t_compute += t1 - t0;
    d->t_combine += now() - t1;
    return st;
}

tg_status tg_dist_train_step(tg_dist *d, int64_t step, int64_t batch, tg_dist_shard_fn fn,
                             void *ctx, tg_optimizer *opt, const tg_step_opts *o,
                             tg_step_result *result) {
    if (!d || !fn || !opt || !o)
        return tg_error(TG_ERR_INVALID, "tg_dist_train_step: dist, shard function, optimizer and "
                                        "options needed");
    double loss;
    tg_status st = tg_dist_step(d, step, batch, fn, ctx, &loss);
    return st ? st : tg_step_update(d->g, opt, o, loss, result);
}
