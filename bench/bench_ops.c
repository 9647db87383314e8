/* bench/ops: forward and backward speed of the convolutional ops at the seed
 * model's layer shapes (150x150x1 input, batch 16), beside OpenBLAS cblas_sgemm
 * on the GEMM shapes those layers issue, measured in the same process.
 * GEMM-bound ops are reported in GFLOP/s, the others in GB/s moved.
 *   usage: bench_ops [--threads N] [--reps R] [--batch B] [--cpu-time]
 * --cpu-time times with the process's CPU clock instead of the wall clock: on a
 * shared machine, with --threads 1, it leaves out the time other processes ran.
 * Each figure is the median of R timed repetitions after one warm-up. The op's
 * own forward/backward functions are timed (not the graph around them), so the
 * figures are the kernels'; backward accumulates, which costs the same each time.
 * The op is timed first, then its sgemm reference, each after its own warm-up:
 * the reference runs on OpenBLAS's own thread pool and the op on twingrad's, and
 * alternating them would leave one pool's idle workers spinning beside the other. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "twingrad.h"

static clockid_t clock_id = CLOCK_MONOTONIC;

static double now(void) {
    struct timespec t;
    clock_gettime(clock_id, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

typedef tg_status (*node_fn)(tg_node *);

/* The GEMMs a layer issues per image, as plain cblas_sgemm calls on buffers of
 * the same shapes: C (m, n) = op(A) op(B), each shape `count` times (one per image).
 * As in the layer, the per-image operand (`img`: 'a', 'b' or 'c': the image's
 * output, or its output gradient) is a distinct buffer for each image, while the
 * weights and the im2col buffer are shared; otherwise the reference would keep a
 * cache-resident output that the layer, writing a whole batch, cannot have. */
typedef struct gemm_shape {
    int ta, tb, m, n, k;
    char img;
} gemm_shape;

typedef struct gemm_ref {
    gemm_shape s[2];
    int n_shapes, count;
    float *buf[2][3]; /* per shape: A, B, C (the `img` one holds count copies) */
} gemm_ref;

static int gemm_ref_init(gemm_ref *r) {
    for (int i = 0; i < r->n_shapes; i++) {
        const gemm_shape *g = &r->s[i];
        size_t size[3] = {(size_t)g->m * g->k, (size_t)g->k * g->n, (size_t)g->m * g->n};
        for (int j = 0; j < 3; j++) {
            size_t n = size[j] * ("abc"[j] == g->img ? (size_t)r->count : 1);
            r->buf[i][j] = malloc(sizeof(float) * n);
            if (!r->buf[i][j]) return 1;
            for (size_t e = 0; e < n; e++) r->buf[i][j][e] = (float)(e % 7) * 0.01f;
        }
    }
    return 0;
}

/* The reference is OpenBLAS at its best: its own threads, as many as ours (the
 * caller switches them on; twingrad itself keeps OpenBLAS on one thread). */
static void gemm_ref_run(const gemm_ref *r) {
    for (int j = 0; j < r->count; j++)
        for (int i = 0; i < r->n_shapes; i++) {
            const gemm_shape *g = &r->s[i];
            size_t step[3] = {(size_t)g->m * g->k, (size_t)g->k * g->n, (size_t)g->m * g->n};
            float *op[3];
            for (int o = 0; o < 3; o++)
                op[o] = r->buf[i][o] + ("abc"[o] == g->img ? (size_t)j * step[o] : 0);
            tg_blas_gemm(g->ta, g->tb, g->m, g->n, g->k, 1.0f, op[0], g->ta ? g->m : g->k, op[1],
                         g->tb ? g->k : g->n, g->img == 'c' ? 0.0f : 1.0f, op[2], g->n);
        }
}

static double gemm_ref_flops(const gemm_ref *r) {
    double f = 0.0;
    for (int i = 0; i < r->n_shapes; i++) f += 2.0 * r->s[i].m * (double)r->s[i].n * r->s[i].k;
    return f * r->count;
}

static void gemm_ref_free(gemm_ref *r) {
    for (int i = 0; i < r->n_shapes; i++)
        for (int j = 0; j < 3; j++) free(r->buf[i][j]);
}

/* Median seconds of the op call and, when ref != NULL, of its sgemm reference. */
static void time_pair(node_fn fn, tg_node *n, const gemm_ref *ref, int reps, double *t_op,
                      double *t_ref) {
    double a[64], b[64];
    fn(n); /* warm-up: pages touched, caches and thread pools awake */
    for (int r = 0; r < reps; r++) {
        double t0 = now();
        fn(n);
        a[r] = now() - t0;
    }
    if (ref) {
        tg_blas_threads_set(tg_threads_get());
        gemm_ref_run(ref);
        for (int r = 0; r < reps; r++) {
            double t0 = now();
            gemm_ref_run(ref);
            b[r] = now() - t0;
        }
        tg_blas_threads_set(1);
        /* OpenBLAS's idle workers keep spinning for a while; let them stop before
         * the next op is timed on the other pool (measured: 3x slower ops without). */
        nanosleep(&(struct timespec){0, 200000000}, NULL);
    }
    *t_op = median(a, reps);
    *t_ref = ref ? median(b, reps) : 0.0;
}

enum { GEMM, MEM };

typedef struct layer {
    const char *op, *attrs;
    int c, h, w;
    int input_grad; /* the first layer's input takes no gradient */
    int kind;       /* GEMM: GFLOP/s against sgemm; MEM: GB/s */
} layer;

static const layer layers[] = {
    {"conv2d", "filters=32 kernel=3 act=relu", 1, 150, 150, 0, GEMM},
    {"conv2d", "filters=32 kernel=3 act=relu", 32, 150, 150, 1, GEMM},
    {"maxpool2d", "size=2", 32, 150, 150, 1, MEM},
    {"sepconv2d", "filters=64 kernel=3 act=relu", 32, 75, 75, 1, GEMM},
    {"depthwise_conv2d", "kernel=3 bias=false", 32, 75, 75, 1, MEM},
    {"batchnorm", "", 64, 75, 75, 1, MEM},
    {"maxpool2d", "size=2", 64, 75, 75, 1, MEM},
    {"sepconv2d", "filters=128 kernel=3 act=relu", 64, 37, 37, 1, GEMM},
    {"batchnorm", "", 128, 37, 37, 1, MEM},
    {"maxpool2d", "size=2", 128, 37, 37, 1, MEM},
    {"sepconv2d", "filters=256 kernel=3 act=relu", 128, 18, 18, 1, GEMM},
    {"batchnorm", "", 256, 18, 18, 1, MEM},
    {"maxpool2d", "size=2", 256, 18, 18, 1, MEM},
    {"avgpool2d", "size=2", 256, 18, 18, 1, MEM},
    {"global_avgpool", "", 256, 9, 9, 1, MEM},
    {"dropout", "rate=0.5", 256, 9, 9, 1, MEM},
};

static int bench_layer(const layer *L, int batch, int reps) {
    tg_graph *g = tg_graph_new(1);
    tg_shape xs = tg_shape4(batch, L->c, L->h, L->w);
    tg_node *x = tg_graph_input(g, "x", xs);
    if (!x) return 1;
    int64_t nx = tg_shape_numel(&xs);
    float *xd = tg_node_data(x);
    for (int64_t i = 0; i < nx; i++) xd[i] = (float)((i * 7919) % 2001) / 1000.0f - 1.0f;
    tg_node_set_requires_grad(x, L->input_grad);
    tg_node *y = tg_graph_op(g, L->op, "op", L->attrs, (tg_node *[]){x}, 1);
    if (!y || tg_graph_forward(g, y)) return 1;
    const tg_shape *ys = tg_node_shape(y);
    int64_t ny = tg_shape_numel(ys);
    float *seed = malloc(sizeof(float) * (size_t)ny);
    if (!seed) return 1;
    for (int64_t i = 0; i < ny; i++) seed[i] = (float)(i % 13) * 0.01f;
    /* one graph backward sizes the gradients; then the op's own calls are timed */
    int st = tg_graph_backward_from(g, y, seed) != TG_OK;
    free(seed);
    if (st) return 1;

    char out[64], in[64], fcol[32], bcol[32], sg[32] = "", rf[16] = "", rb[16] = "";
    snprintf(in, sizeof in, "%dx%dx%d", L->c, L->h, L->w);
    if (ys->ndim == 4)
        snprintf(out, sizeof out, "%lldx%lldx%lld", (long long)ys->dim[1], (long long)ys->dim[2],
                 (long long)ys->dim[3]);
    else
        snprintf(out, sizeof out, "%lld", (long long)tg_shape_item_numel(ys));
    double tf, tb, sf, sb;
    if (L->kind == GEMM) {
        /* conv2d: y = W col, dW = dz col^T, d col = W^T dz per image; sepconv2d: the
         * same three GEMMs of its pointwise half (rows = C instead of C K K) */
        int p = (int)(ys->dim[2] * ys->dim[3]), f = (int)ys->dim[1];
        int rows = strcmp(L->op, "conv2d") ? L->c : L->c * 9;
        /* forward writes each image's y; backward reads each image's dz */
        gemm_ref fr = {{{0, 0, f, p, rows, 'c'}}, 1, batch, {{NULL}}};
        gemm_ref br = {{{0, 1, f, rows, p, 'a'}, {1, 0, rows, p, f, 'b'}},
                       L->input_grad ? 2 : 1,
                       batch,
                       {{NULL}}};
        if (gemm_ref_init(&fr) || gemm_ref_init(&br)) return 1;
        time_pair(tg_node_op(y)->forward, y, &fr, reps, &tf, &sf);
        time_pair(tg_node_op(y)->backward, y, &br, reps, &tb, &sb);
        double flops = tg_node_op(y)->flops(y), bflops = flops * (L->input_grad ? 2 : 1);
        double gf = gemm_ref_flops(&fr) / sf, gb = gemm_ref_flops(&br) / sb;
        gemm_ref_free(&fr);
        gemm_ref_free(&br);
        snprintf(fcol, sizeof fcol, "%.1f GF/s", flops / tf * 1e-9);
        snprintf(bcol, sizeof bcol, "%.1f GF/s", bflops / tb * 1e-9);
        snprintf(sg, sizeof sg, "%.0f/%.0f", gf * 1e-9, gb * 1e-9);
        snprintf(rf, sizeof rf, "%.0f%%", 100.0 * flops / tf / gf);
        snprintf(rb, sizeof rb, "%.0f%%", 100.0 * bflops / tb / gb);
    } else {
        time_pair(tg_node_op(y)->forward, y, NULL, reps, &tf, &sf);
        time_pair(tg_node_op(y)->backward, y, NULL, reps, &tb, &sb);
        /* bytes moved: forward reads x, writes y; backward reads dy and x (maxpool: its
         * saved winners; dropout: its mask) and reads and writes dx */
        double fb = 4.0 * (double)(nx + ny), bb = 4.0 * (double)(ny + nx + 2 * nx);
        if (!strcmp(L->op, "maxpool2d") || !strcmp(L->op, "dropout"))
            bb = 4.0 * (double)(2 * ny + 2 * nx);
        snprintf(fcol, sizeof fcol, "%.1f GB/s", fb / tf * 1e-9);
        snprintf(bcol, sizeof bcol, "%.1f GB/s", bb / tb * 1e-9);
    }
    printf("| %-16s | %-10s | %-10s | %8.2f | %8.2f | %10s | %10s | %9s | %5s | %5s |\n", L->op, in,
           out, tf * 1e3, tb * 1e3, fcol, bcol, sg, rf, rb);
    fflush(stdout);
    tg_graph_free(g);
    return 0;
}

int main(int argc, char **argv) {
    tg_threads_bounded_wait(argv);
    int threads = 0, reps = 7, batch = 16;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc)
            threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc)
            reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--cpu-time"))
            clock_id = CLOCK_PROCESS_CPUTIME_ID;
        else if (!strcmp(argv[i], "--batch") && i + 1 < argc)
            batch = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: bench_ops [--threads N] [--reps R] [--batch B] [--cpu-time]\n");
            return 2;
        }
    }
    if (reps < 1 || reps > 64 || batch < 1) {
        fprintf(stderr, "bench_ops: --reps must be in 1..64 and --batch >= 1\n");
        return 2;
    }
    tg_threads_set(threads);
    tg_blas_info info;
    char line[512];
    tg_status st = tg_blas_info_get(&info);
    tg_blas_describe(&info, line, sizeof line);
    printf("%s\n", line);
    if (info.warning[0]) printf("WARNING: %s\n", info.warning);
    if (st) {
        fprintf(stderr, "bench_ops: %s\n", tg_last_error());
        return 1;
    }
    const char *wait = getenv("OMP_WAIT_POLICY");
    printf("bench/ops: batch %d, %d threads (twingrad: OpenMP; reference: OpenBLAS's own), "
           "OMP_WAIT_POLICY=%s, median of %d, %s time\n\n",
           batch, tg_threads_get(), wait ? wait : "(unset)", reps,
           clock_id == CLOCK_MONOTONIC ? "wall" : "CPU");
    printf("| %-16s | %-10s | %-10s | %8s | %8s | %10s | %10s | %9s | %5s | %5s |\n", "op", "input",
           "output", "fwd ms", "bwd ms", "fwd", "bwd", "sgemm f/b", "f/sg", "b/sg");
    printf("|---|---|---|---:|---:|---:|---:|---:|---:|---:|\n");
    for (size_t li = 0; li < sizeof layers / sizeof layers[0]; li++)
        if (bench_layer(&layers[li], batch, reps)) {
            fprintf(stderr, "bench_ops: %s: %s\n", layers[li].op, tg_last_error());
            return 1;
        }
    printf("\nsgemm f/b: cblas_sgemm (OpenBLAS threads) alone on the layer's per-image GEMM "
           "shapes, one call per image "
           "with per-image outputs (forward) or output gradients (backward) in distinct buffers, "
           "GFLOP/s (backward = the dW and dX GEMMs).\nf/sg, b/sg: the op's GFLOP/s as a share of "
           "that; sepconv2d counts its depthwise flops too, against the pointwise GEMMs alone.\n");
    return 0;
}
