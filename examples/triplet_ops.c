/* cosine_distance and triplet_margin: user ops registered at run time. */
#include "examples/triplet_ops.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "examples/pair_task.h"

/* ---- cosine_distance: a, b (N, D) -> d (N) = 1 - a.b / (|a| |b|) ---- */

static tg_status cosine_infer(const tg_node *n, const tg_shape *in, tg_shape *out, tg_shape *p) {
    (void)n;
    (void)p;
    if (in[0].ndim != 2 || !tg_shape_equal(&in[0], &in[1]))
        return tg_error(TG_ERR_SHAPE, "cosine_distance needs two (N, D) inputs of equal shape");
    *out = tg_shape1(in[0].dim[0]);
    return TG_OK;
}

/* |a|, |b| and a.b of row i, in double. */
static void row_stats(const float *a, const float *b, int64_t d, double *na, double *nb, double *dot) {
    *na = *nb = *dot = 0.0;
    for (int64_t k = 0; k < d; k++) {
        *na += (double)a[k] * a[k];
        *nb += (double)b[k] * b[k];
        *dot += (double)a[k] * b[k];
    }
    *na = sqrt(*na) + 1e-12; /* keeps zero vectors finite */
    *nb = sqrt(*nb) + 1e-12;
}

static tg_status cosine_forward(tg_node *n) {
    int64_t batch = tg_node_shape(n)->dim[0], d = tg_node_shape(tg_node_input(n, 0))->dim[1];
    const float *a = tg_node_data(tg_node_input(n, 0)), *b = tg_node_data(tg_node_input(n, 1));
    for (int64_t i = 0; i < batch; i++) {
        double na, nb, dot;
        row_stats(a + i * d, b + i * d, d, &na, &nb, &dot);
        tg_node_data(n)[i] = (float)(1.0 - dot / (na * nb));
    }
    return TG_OK;
}

/* d(1 - cos)/da = -(b / (|a||b|) - cos a / |a|^2), and symmetrically for b. */
static tg_status cosine_backward(tg_node *n) {
    int64_t batch = tg_node_shape(n)->dim[0], d = tg_node_shape(tg_node_input(n, 0))->dim[1];
    const float *a = tg_node_data(tg_node_input(n, 0)), *b = tg_node_data(tg_node_input(n, 1));
    float *da = tg_node_wants_grad(tg_node_input(n, 0)) ? tg_node_grad(tg_node_input(n, 0)) : NULL;
    float *db = tg_node_wants_grad(tg_node_input(n, 1)) ? tg_node_grad(tg_node_input(n, 1)) : NULL;
    for (int64_t i = 0; i < batch; i++) {
        double na, nb, dot, g = tg_node_grad(n)[i];
        row_stats(a + i * d, b + i * d, d, &na, &nb, &dot);
        double cos = dot / (na * nb);
        for (int64_t k = 0; k < d; k++) {
            double ak = a[i * d + k], bk = b[i * d + k];
            if (da) da[i * d + k] -= (float)(g * (bk / (na * nb) - cos * ak / (na * na)));
            if (db) db[i * d + k] -= (float)(g * (ak / (na * nb) - cos * bk / (nb * nb)));
        }
    }
    return TG_OK;
}

static const tg_op cosine_op = {
    .name = "cosine_distance",
    .doc = "one minus the cosine similarity of paired rows (a user op from examples/)",
    .formula = "d_i = 1 - a_i.b_i / (|a_i| |b_i|)",
    .n_inputs = 2,
    .infer = cosine_infer,
    .forward = cosine_forward,
    .backward = cosine_backward,
    .examples = {{"4x3;4x3", ""}, {"2x6;2x6", ""}},
};

/* ---- triplet_margin: d_ap (N), d_an (N) -> mean max(0, d_ap - d_an + margin) ---- */

static const tg_attr_spec triplet_attrs[] = {
    {"margin", TG_ATTR_FLOAT, "0.2", 0, 100, NULL, "how much closer the positive must be"},
};

static tg_status triplet_infer(const tg_node *n, const tg_shape *in, tg_shape *out, tg_shape *p) {
    (void)n;
    (void)p;
    if (in[0].ndim != 1 || !tg_shape_equal(&in[0], &in[1]))
        return tg_error(TG_ERR_SHAPE, "triplet_margin needs two (N) distance vectors");
    *out = tg_shape1(1);
    return TG_OK;
}

static tg_status triplet_forward(tg_node *n) {
    int64_t batch = tg_node_shape(tg_node_input(n, 0))->dim[0];
    const float *ap = tg_node_data(tg_node_input(n, 0)), *an = tg_node_data(tg_node_input(n, 1));
    double m = tg_node_attrs(n)->v[0].f, acc = 0.0;
    for (int64_t i = 0; i < batch; i++) acc += fmax(0.0, (double)ap[i] - an[i] + m);
    tg_node_data(n)[0] = (float)(acc / (double)batch);
    return TG_OK;
}

static tg_status triplet_backward(tg_node *n) {
    int64_t batch = tg_node_shape(tg_node_input(n, 0))->dim[0];
    const float *ap = tg_node_data(tg_node_input(n, 0)), *an = tg_node_data(tg_node_input(n, 1));
    double m = tg_node_attrs(n)->v[0].f, g = tg_node_grad(n)[0] / (double)batch;
    for (int64_t i = 0; i < batch; i++) {
        if ((double)ap[i] - an[i] + m <= 0.0) continue; /* satisfied: no gradient */
        if (tg_node_wants_grad(tg_node_input(n, 0))) tg_node_grad(tg_node_input(n, 0))[i] += (float)g;
        if (tg_node_wants_grad(tg_node_input(n, 1))) tg_node_grad(tg_node_input(n, 1))[i] -= (float)g;
    }
    return TG_OK;
}

static const tg_op triplet_op = {
    .name = "triplet_margin",
    .doc = "triplet margin loss over anchor-positive and anchor-negative distances (a user op)",
    .formula = "L = mean_i max(0, d_ap_i - d_an_i + margin)",
    .n_inputs = 2,
    .input_kind = {TG_IN_POSITIVE, TG_IN_POSITIVE},
    .attrs = triplet_attrs,
    .n_attrs = 1,
    .infer = triplet_infer,
    .forward = triplet_forward,
    .backward = triplet_backward,
    .examples = {{"8;8", "margin=0.3"}, {"5;5", "margin=1"}},
};

tg_status triplet_ops_register(void) {
    tg_status st = tg_op_register(&cosine_op);
    return st ? st : tg_op_register(&triplet_op);
}

/* ---- the triplet network ---- */

enum { DIM = 16, CLASSES = 5, BATCH = 64, BATCHES = 16, HELDOUT = 1024 };

/* anchor and positive from one class, negative from another */
static void triplet_batch(const pair_task *t, int n, float *a, float *p, float *q, tg_rng *rng) {
    for (int i = 0; i < n; i++) {
        int c = (int)tg_rng_below(rng, CLASSES);
        int o = (c + 1 + (int)tg_rng_below(rng, CLASSES - 1)) % CLASSES;
        for (int k = 0; k < DIM; k++) {
            a[i * DIM + k] = t->centres[c * DIM + k] + t->noise * (float)tg_rng_normal(rng);
            p[i * DIM + k] = t->centres[c * DIM + k] + t->noise * (float)tg_rng_normal(rng);
            q[i * DIM + k] = t->centres[o * DIM + k] + t->noise * (float)tg_rng_normal(rng);
        }
    }
}

tg_status triplet_train(uint64_t seed, int epochs, int verbose, triplet_run *run) {
    tg_rng rng;
    pair_task task;
    tg_status st;
    if (epochs < 1 || epochs > 200) return tg_error(TG_ERR_INVALID, "epochs must be in 1..200");
    tg_rng_seed(&rng, seed);
    if ((st = pair_task_init(&task, DIM, CLASSES, 0.8f, &rng))) return st;
    tg_graph *g = tg_graph_new(seed);
    tg_node *in[3] = {tg_graph_input(g, "anchor", tg_shape2(BATCH, DIM)),
                      tg_graph_input(g, "positive", tg_shape2(BATCH, DIM)),
                      tg_graph_input(g, "negative", tg_shape2(BATCH, DIM))};
    tg_layer *hidden = tg_graph_layer(g, "dense", "hidden", "units=32 act=tanh");
    tg_layer *embed = tg_graph_layer(g, "dense", "embed", "units=8");
    tg_node *e[3];
    for (int i = 0; i < 3; i++) e[i] = tg_layer_apply1(embed, tg_layer_apply1(hidden, in[i]));
    tg_node *dap = tg_graph_op(g, "cosine_distance", "d_ap", NULL, (tg_node *[]){e[0], e[1]}, 2);
    tg_node *dan = tg_graph_op(g, "cosine_distance", "d_an", NULL, (tg_node *[]){e[0], e[2]}, 2);
    tg_node *loss = tg_graph_op(g, "triplet_margin", "loss", "margin=0.5", (tg_node *[]){dap, dan}, 2);
    tg_optimizer *opt = NULL;
    float *x[3];
    for (int i = 0; i < 3; i++) x[i] = malloc(sizeof(float) * HELDOUT * DIM);
    if (!loss) {
        st = TG_ERR_INVALID; /* the first failing call's message stands */
        goto done;
    }
    if (!x[0] || !x[1] || !x[2]) {
        st = tg_error(TG_ERR_NOMEM, "out of memory");
        goto done;
    }
    int64_t n;
    tg_graph_param_data(g, &n);
    tg_optimizer_config cfg = tg_optimizer_defaults(TG_OPTIM_ADAM);
    if (!(opt = tg_optimizer_new(&cfg, n))) {
        st = TG_ERR_NOMEM;
        goto done;
    }
    run->epochs = epochs;
    for (int ep = 0; ep < epochs; ep++) {
        double total = 0;
        for (int it = 0; it < BATCHES; it++) {
            triplet_batch(&task, BATCH, x[0], x[1], x[2], &rng);
            for (int i = 0; i < 3 && !st; i++) st = tg_input_set(in[i], tg_shape2(BATCH, DIM), x[i]);
            tg_step_result step;
            if (st || (st = tg_train_step(g, loss, opt, &(tg_step_opts){.lr = 1e-2}, &step)))
                goto done;
            total += step.loss;
        }
        run->loss[ep] = total / BATCHES;
        if (verbose) printf("epoch %3d  triplet loss %.5f\n", ep + 1, run->loss[ep]);
    }
    triplet_batch(&task, HELDOUT, x[0], x[1], x[2], &rng);
    for (int i = 0; i < 3 && !st; i++) st = tg_input_set(in[i], tg_shape2(HELDOUT, DIM), x[i]);
    if (st || (st = tg_graph_forward(g, dap)) || (st = tg_graph_forward(g, dan))) goto done;
    int correct = 0;
    for (int i = 0; i < HELDOUT; i++) correct += tg_node_data(dap)[i] < tg_node_data(dan)[i];
    run->heldout_accuracy = (double)correct / HELDOUT;
    if (verbose) printf("held-out triplets ordered correctly: %.2f%%\n", 100.0 * run->heldout_accuracy);
done:
    for (int i = 0; i < 3; i++) free(x[i]);
    tg_optimizer_free(opt);
    tg_graph_free(g);
    pair_task_free(&task);
    return st;
}
