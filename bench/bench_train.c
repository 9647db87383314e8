/* Training and inference throughput of a model file, and peak memory: the
 * twingrad side of bench/compare_torch.py. Random data, so only speed is
 * measured. Prints one key=value line for the comparison script, with the share
 * of the GEMM limit: the training rate over the rate that the step's FLOPs (3 x the
 * forward, for two images per pair) would reach at OpenBLAS's sgemm speed on a
 * square 1024 GEMM with the same number of threads. Lines starting with '#' name CPU and BLAS.
 * --layers adds one line per layer (both towers' nodes together, in graph order): its
 * forward and backward wall time per training step and its inference time per image,
 * timed in the same runs (tg_graph_set_timing), and the step's time outside the ops.
 *
 *   bench_train MODEL [--batch 16] [--threads 2] [--steps 10] [--warmup 2] [--images 64]
 *                     [--layers] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "models/tg_model.h"
#include "autograd/tg_blas_info.h"
#include "autograd/tg_step.h"
#include "autograd/tg_threads.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Per-layer totals of the timed runs, layers in graph order. */
typedef struct layer_times {
    int n;
    const char **name, **op;
    double *fwd, *bwd, *infer; /* seconds over all the timed runs */
} layer_times;

static int layer_times_init(layer_times *lt, const tg_graph *g) {
    const size_t cap = (size_t)tg_graph_node_count(g) + 1;
    lt->n = 0;
    lt->name = calloc(cap, sizeof *lt->name);
    lt->op = calloc(cap, sizeof *lt->op);
    lt->fwd = calloc(cap, sizeof *lt->fwd);
    lt->bwd = calloc(cap, sizeof *lt->bwd);
    lt->infer = calloc(cap, sizeof *lt->infer);
    return lt->name && lt->op && lt->fwd && lt->bwd && lt->infer ? 0 : -1;
}

static void layer_times_free(layer_times *lt) {
    free(lt->name);
    free(lt->op);
    free(lt->fwd);
    free(lt->bwd);
    free(lt->infer);
}

/* Add the graph's node timings to lt: into fwd and bwd (training) or infer. */
static void layer_times_add(layer_times *lt, const tg_graph *g, int inference) {
    for (int i = 0; i < tg_graph_node_count(g); i++) {
        const tg_node *nd = tg_graph_node(g, i);
        const tg_layer *layer = tg_node_layer(nd);
        if (!layer) continue;
        const char *name = tg_layer_name(layer);
        int k = 0;
        while (k < lt->n && strcmp(lt->name[k], name)) k++;
        if (k == lt->n) {
            lt->name[k] = name;
            lt->op[k] = tg_node_op(nd)->name;
            lt->n++;
        }
        const tg_node_timing t = tg_node_timing_get(nd);
        if (inference)
            lt->infer[k] += t.forward_s;
        else {
            lt->fwd[k] += t.forward_s;
            lt->bwd[k] += t.backward_s;
        }
    }
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* GFLOP/s of OpenBLAS's sgemm on its own `threads` threads on a square 1024 GEMM (the
 * best of 3, after a warm-up). */
static double sgemm_rate(int threads) {
    enum { S = 1024 };
    float *a = malloc(sizeof(float) * S * S), *b = malloc(sizeof(float) * S * S),
          *c = malloc(sizeof(float) * S * S);
    double best = 1e30;
    if (!a || !b || !c) goto done;
    tg_blas_threads_set(threads);
    for (int i = 0; i < S * S; i++) a[i] = b[i] = (float)(i % 13) * 0.01f;
    for (int r = 0; r < 4; r++) {
        double t0 = now();
        tg_blas_gemm(0, 0, S, S, S, 1.0f, a, S, b, S, 0.0f, c, S);
        double t = now() - t0;
        if (r > 0 && t < best) best = t;
    }
done:
    tg_blas_threads_set(1);
    free(a);
    free(b);
    free(c);
    return 2.0 * S * S * S / best * 1e-9;
}

int main(int argc, char **argv) {
    tg_threads_bounded_wait(argv);
    const char *model_path = NULL;
    int batch = 16, threads = 2, steps = 10, warmup = 2, images = 64, layers = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--layers")) {
            layers = 1;
            continue;
        }
        int *target = !strcmp(argv[i], "--batch")     ? &batch
                      : !strcmp(argv[i], "--threads") ? &threads
                      : !strcmp(argv[i], "--steps")   ? &steps
                      : !strcmp(argv[i], "--warmup")  ? &warmup
                      : !strcmp(argv[i], "--images")  ? &images
                                                      : NULL;
        if (target && i + 1 < argc)
            *target = atoi(argv[++i]);
        else if (argv[i][0] != '-' && !model_path)
            model_path = argv[i];
        else {
            fprintf(stderr, "usage: bench_train MODEL [--batch N] [--threads N] [--steps N] "
                            "[--warmup N] [--images N] [--layers]\n");
            return 2;
        }
    }
    if (!model_path || batch < 1 || threads < 1 || steps < 1 || warmup < 0 || images < 1) {
        fprintf(stderr, "bench_train: a model file and positive counts are required\n");
        return 2;
    }
    tg_threads_set(threads);
    tg_blas_info info;
    char line[512];
    tg_status st = tg_blas_info_get(&info);
    tg_blas_describe(&info, line, sizeof line);
    printf("# %s\n", line);
    if (info.warning[0]) printf("# WARNING: %s\n", info.warning);
    if (st) {
        fprintf(stderr, "bench_train: %s\n", tg_last_error());
        return 1;
    }
    tg_model_def *def;
    tg_model *m;
    if (tg_model_def_parse_file(model_path, &def) || tg_model_build(def, batch, &m)) {
        fprintf(stderr, "bench_train: %s\n", tg_last_error());
        return 1;
    }
    size_t item = (size_t)def->channels * (size_t)def->height * (size_t)def->width;
    size_t n_in = (size_t)(batch > images ? batch : images) * item;
    float *xa = malloc(n_in * sizeof(float)), *xb = malloc(n_in * sizeof(float));
    float *y = malloc((size_t)batch * sizeof(float));
    float *emb = malloc((size_t)images * (size_t)m->embed_dim * sizeof(float));
    tg_rng rng;
    tg_rng_seed(&rng, 1);
    for (size_t i = 0; i < n_in; i++) {
        xa[i] = (float)tg_rng_uniform(&rng);
        xb[i] = (float)tg_rng_uniform(&rng);
    }
    for (int i = 0; i < batch; i++) y[i] = (float)(i % 2);
    tg_shape s4 = tg_shape4(batch, def->channels, def->height, def->width);
    int64_t n;
    tg_graph_param_data(m->graph, &n);
    tg_optimizer_config cfg = tg_optimizer_defaults(TG_OPTIM_ADAM);
    tg_optimizer *opt = tg_optimizer_new(&cfg, n);
    double *times = malloc((size_t)steps * sizeof(double));
    layer_times lt = {0};
    if (!xa || !xb || !y || !emb || !opt || !times || layer_times_init(&lt, m->graph)) {
        fprintf(stderr, "bench_train: out of memory\n");
        return 1;
    }
    tg_input_set(m->a, s4, xa);
    tg_input_set(m->b, s4, xb);
    tg_input_set(m->y, tg_shape1(batch), y);
    for (int s = 0; s < warmup + steps; s++) {
        if (layers && s == warmup) tg_graph_set_timing(m->graph, 1);
        double t0 = now();
        if (tg_train_step(m->graph, m->loss, opt, &(tg_step_opts){.lr = 1e-4}, NULL)) {
            fprintf(stderr, "bench_train: %s\n", tg_last_error());
            return 1;
        }
        if (s >= warmup) times[s - warmup] = now() - t0;
    }
    double train_total = 0.0;
    for (int s = 0; s < steps; s++) train_total += times[s];
    if (layers) {
        layer_times_add(&lt, m->graph, 0);
        tg_graph_set_timing(m->graph, 0); /* on again below: from zero */
    }
    qsort(times, (size_t)steps, sizeof *times, cmp_double);
    double train_step = times[steps / 2];
    /* Inference: single images through one tower, in eval mode. */
    tg_model_embed(m, xa, images, emb); /* warm the buffers for this batch size */
    if (layers) tg_graph_set_timing(m->graph, 1);
    double t0 = now();
    if (tg_model_embed(m, xa, images, emb)) {
        fprintf(stderr, "bench_train: %s\n", tg_last_error());
        return 1;
    }
    double infer = now() - t0;
    if (layers) {
        layer_times_add(&lt, m->graph, 1);
        tg_graph_set_timing(m->graph, 0);
    }
    /* The GEMM limit, timed after the model so that its memory is not counted twice. */
    tg_model_stats stats;
    if (tg_model_stats_get(m, batch, &stats)) {
        fprintf(stderr, "bench_train: %s\n", tg_last_error());
        return 1;
    }
    double sgemm_gflops = sgemm_rate(threads);
    double pair_gflop = 2.0 * 3.0 * stats.flops * 1e-9;
    double train_rate = batch / train_step;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("impl=twingrad model=%s batch=%d threads=%d train_pairs_per_s=%.3f "
           "infer_images_per_s=%.3f peak_rss_mb=%.1f params=%lld gflop_per_pair=%.3f "
           "sgemm_gflops=%.1f gemm_limit_share=%.3f\n",
           model_path, batch, threads, train_rate, images / infer, (double)ru.ru_maxrss / 1024.0,
           (long long)n, pair_gflop, sgemm_gflops, train_rate * pair_gflop / sgemm_gflops);
    double in_ops = 0.0;
    for (int k = 0; k < lt.n; k++) {
        printf("layer=%s op=%s train_forward_ms=%.3f train_backward_ms=%.3f "
               "infer_ms_per_image=%.4f\n",
               lt.name[k], lt.op[k], 1e3 * lt.fwd[k] / steps, 1e3 * lt.bwd[k] / steps,
               1e3 * lt.infer[k] / images);
        in_ops += lt.fwd[k] + lt.bwd[k];
    }
    if (layers) /* the optimizer, zeroing the gradients, the loss's seed: as one more row */
        printf("layer=(outside_the_ops) op=- train_forward_ms=%.3f train_backward_ms=0 "
               "infer_ms_per_image=0\n",
               1e3 * (train_total - in_ops) / steps);
    free(xa);
    free(xb);
    free(y);
    free(emb);
    free(times);
    layer_times_free(&lt);
    tg_optimizer_free(opt);
    tg_model_free(m);
    tg_model_def_free(def);
    return 0;
}
