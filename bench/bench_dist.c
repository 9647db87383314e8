/* Data-parallel training throughput and the gradient all-reduce's share of a step,
 * through the public API (tg_comm, tg_dist_train_step). Random data, so only speed
 * is measured. Run it on 1 and on N ranks with one thread each:
 *
 *   mpirun -np 2 --bind-to core bench/bench_dist models/siamese_xray.tg --batch 4
 *
 * --batch is per rank (the global batch grows with the ranks: weak scaling, as
 * data-parallel training runs). Prints one key=value line from rank 0: median step,
 * compute (shards' forward and backward) and combine (all-reduce and the rest) times,
 * global pairs/s, and a bare all-reduce of the gradient with its bus bandwidth. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "autograd/tg_step.h"
#include "autograd/tg_threads.h"
#include "dist/tg_comm.h"
#include "dist/tg_dist.h"
#include "models/tg_model.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *x, int n) {
    qsort(x, (size_t)n, sizeof *x, cmp_double);
    return x[n / 2];
}

typedef struct bench {
    tg_model *m;
    tg_shape s4;
    float *xa, *xb, *y;
} bench;

/* The same random pairs for every shard: only the time matters. */
static tg_status shard(void *ctx, int64_t start, int64_t count, double *loss) {
    (void)start, (void)count;
    bench *b = ctx;
    tg_status st;
    if ((st = tg_input_set(b->m->a, b->s4, b->xa)) || (st = tg_input_set(b->m->b, b->s4, b->xb)) ||
        (st = tg_input_set(b->m->y, tg_shape1(b->s4.dim[0]), b->y)) ||
        (st = tg_graph_forward(b->m->graph, b->m->loss)))
        return st;
    *loss = tg_node_data(b->m->loss)[0];
    return tg_graph_backward(b->m->graph, b->m->loss);
}

static int fail(tg_comm *c) {
    fprintf(stderr, "bench_dist (rank %d): %s\n", tg_comm_rank(c), tg_last_error());
    if (c) tg_comm_abort(c, 1);
    return 1;
}

int main(int argc, char **argv) {
    const char *model_path = NULL, *reduce_name = "fast";
    int batch = 4, threads = 1, steps = 5, warmup = 1, reps = 5;
    for (int i = 1; i < argc; i++) {
        int *target = !strcmp(argv[i], "--batch")     ? &batch
                      : !strcmp(argv[i], "--threads") ? &threads
                      : !strcmp(argv[i], "--steps")   ? &steps
                      : !strcmp(argv[i], "--warmup")  ? &warmup
                                                      : NULL;
        if (target && i + 1 < argc)
            *target = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--reduce") && i + 1 < argc)
            reduce_name = argv[++i];
        else if (argv[i][0] != '-' && !model_path)
            model_path = argv[i];
        else {
            fprintf(stderr, "usage: bench_dist MODEL [--batch N per rank] [--threads N] "
                            "[--steps N] [--warmup N] [--reduce fast|fixed]\n");
            return 2;
        }
    }
    tg_reduce reduce;
    if (!model_path || batch < 1 || threads < 1 || steps < 1 || warmup < 0 ||
        tg_reduce_parse(reduce_name, &reduce)) {
        fprintf(stderr, "bench_dist: a model file, positive counts and fast or fixed needed\n");
        return 2;
    }
    tg_comm *c = NULL;
    if (tg_comm_launched() ? tg_comm_mpi_world(&c) : tg_comm_local(&c)) return fail(NULL);
    int n_ranks = tg_comm_size(c), rank = tg_comm_rank(c);
    tg_threads_set(threads);
    tg_model_def *def;
    bench b = {0};
    if (tg_model_def_parse_file(model_path, &def) || tg_model_build(def, batch, &b.m))
        return fail(c);
    size_t item = (size_t)def->channels * (size_t)def->height * (size_t)def->width;
    b.s4 = tg_shape4(batch, def->channels, def->height, def->width);
    b.xa = malloc((size_t)batch * item * sizeof(float));
    b.xb = malloc((size_t)batch * item * sizeof(float));
    b.y = malloc((size_t)batch * sizeof(float));
    double *step_t = malloc(3 * (size_t)(steps > reps ? steps : reps) * sizeof(double));
    int64_t n;
    tg_graph_param_data(b.m->graph, &n);
    tg_optimizer_config cfg = tg_optimizer_defaults(TG_OPTIM_ADAM);
    tg_optimizer *opt = tg_optimizer_new(&cfg, n);
    float *buf = malloc((size_t)n * sizeof(float));
    if (!b.xa || !b.xb || !b.y || !step_t || !opt || !buf) return fail(c);
    double *comp_t = step_t + steps, *comb_t = comp_t + steps;
    tg_rng rng;
    tg_rng_seed(&rng, 1);
    for (size_t i = 0; i < (size_t)batch * item; i++) {
        b.xa[i] = (float)tg_rng_uniform(&rng);
        b.xb[i] = (float)tg_rng_uniform(&rng);
    }
    for (int i = 0; i < batch; i++) b.y[i] = (float)(i % 2);
    tg_dist *d;
    if (tg_dist_new(c, b.m->graph, reduce, 0, 1, &d)) return fail(c);
    tg_step_opts so = {.lr = 1e-5};
    for (int s = 0; s < warmup + steps; s++) {
        double c0, k0, c1, k1;
        tg_dist_times(d, &c0, &k0);
        tg_comm_agree(c, TG_OK); /* start together: a step's time is the job's */
        double t0 = now();
        if (tg_dist_train_step(d, s, (int64_t)batch * n_ranks, shard, &b, opt, &so, NULL))
            return fail(c);
        double t1 = now();
        tg_dist_times(d, &c1, &k1);
        if (s >= warmup) {
            step_t[s - warmup] = t1 - t0;
            comp_t[s - warmup] = c1 - c0;
            comb_t[s - warmup] = k1 - k0;
        }
    }
    double step = median(step_t, steps), comp = median(comp_t, steps), comb = median(comb_t, steps);
    /* The bare all-reduce of a gradient-sized buffer, the ranks starting together. */
    double *ar_t = step_t;
    for (int r = 0; r < reps; r++) {
        memset(buf, 0, (size_t)n * sizeof(float));
        tg_comm_agree(c, TG_OK);
        double t0 = now();
        if (tg_comm_allreduce_sum(c, buf, n)) return fail(c);
        ar_t[r] = now() - t0;
    }
    double ar = median(ar_t, reps);
    double bytes = (double)n * sizeof(float);
    double bus_gbs = n_ranks > 1 ? 2.0 * (n_ranks - 1) / n_ranks * bytes / ar / 1e9 : 0.0;
    if (rank == 0)
        printf("ranks=%d threads=%d reduce=%s batch_per_rank=%d params=%lld step_s=%.4f "
               "compute_s=%.4f combine_s=%.4f combine_share=%.3f pairs_per_s=%.3f "
               "compute_s_per_pair=%.4f allreduce_s=%.5f allreduce_bus_GBps=%.3f via=%s\n",
               n_ranks, threads, reduce_name, batch, (long long)n, step, comp, comb, comb / step,
               batch * n_ranks / step, comp / batch, ar, bus_gbs, tg_comm_kind(c));
    tg_dist_free(d);
    tg_optimizer_free(opt);
    tg_model_free(b.m);
    tg_model_def_free(def);
    free(b.xa);
    free(b.xb);
    free(b.y);
    free(step_t);
    free(buf);
    tg_comm_free(c);
    return 0;
}
