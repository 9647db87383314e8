/* The triplet network of examples/triplet.c: one dense tower applied to anchor,
 * positive and negative, with the user ops of triplet_ops.c. */
#include <stdio.h>
#include <stdlib.h>

#include "examples/pair_task.h"
#include "examples/triplet_ops.h"

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
    tg_node *loss =
        tg_graph_op(g, "triplet_margin", "loss", "margin=0.5", (tg_node *[]){dap, dan}, 2);
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
            for (int i = 0; i < 3 && !st; i++)
                st = tg_input_set(in[i], tg_shape2(BATCH, DIM), x[i]);
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
    if (verbose)
        printf("held-out triplets ordered correctly: %.2f%%\n", 100.0 * run->heldout_accuracy);
done:
    for (int i = 0; i < 3; i++) free(x[i]);
    tg_optimizer_free(opt);
    tg_graph_free(g);
    pair_task_free(&task);
    return st;
}
