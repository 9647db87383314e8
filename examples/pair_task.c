/* Generated clustered pairs; see pair_task.h. */
#include "examples/pair_task.h"

#include <stdlib.h>

tg_status pair_task_init(pair_task *t, int dim, int classes, float noise, tg_rng *rng) {
    t->dim = dim;
    t->classes = classes;
    t->noise = noise;
    t->centres = malloc((size_t)dim * (size_t)classes * sizeof(float));
    if (!t->centres) return tg_error(TG_ERR_NOMEM, "pair task: out of memory");
    for (int i = 0; i < dim * classes; i++) t->centres[i] = (float)tg_rng_normal(rng);
    return TG_OK;
}

void pair_task_free(pair_task *t) {
    free(t->centres);
}

static void sample(const pair_task *t, int cls, float *x, tg_rng *rng) {
    for (int k = 0; k < t->dim; k++)
        x[k] = t->centres[cls * t->dim + k] + t->noise * (float)tg_rng_normal(rng);
}

void pair_task_batch(const pair_task *t, int n, float *a, float *b, float *y, tg_rng *rng) {
    for (int i = 0; i < n; i++) {
        int ca = (int)tg_rng_below(rng, (uint64_t)t->classes), cb = ca;
        int dissimilar = i % 2;
        if (dissimilar)
            cb = (ca + 1 + (int)tg_rng_below(rng, (uint64_t)t->classes - 1)) % t->classes;
        sample(t, ca, a + (size_t)i * t->dim, rng);
        sample(t, cb, b + (size_t)i * t->dim, rng);
        y[i] = (float)dissimilar;
    }
}

#include <stdio.h>

#include "autograd/tg_optim.h"

enum { DIM = 16, CLASSES = 4, BATCH = 64, BATCHES_PER_EPOCH = 16, HELDOUT = 1024 };

tg_status pair_task_train(uint64_t seed, int epochs, int verbose, pair_task_run *run) {
    tg_rng rng;
    pair_task task;
    tg_status st;
    if (epochs < 1 || epochs > 200) return tg_error(TG_ERR_INVALID, "epochs must be in 1..200");
    tg_rng_seed(&rng, seed);
    if ((st = pair_task_init(&task, DIM, CLASSES, 0.7f, &rng))) return st;

    /* The model: one tower, applied to both inputs, so one set of weights. */
    tg_graph *g = tg_graph_new(seed);
    tg_node *a = tg_graph_input(g, "a", tg_shape2(BATCH, DIM));
    tg_node *b = tg_graph_input(g, "b", tg_shape2(BATCH, DIM));
    tg_node *y = tg_graph_input(g, "y", tg_shape1(BATCH));
    tg_layer *hidden = tg_graph_layer(g, "dense", "hidden", "units=32 act=tanh");
    tg_layer *embed = tg_graph_layer(g, "dense", "embed", "units=8");
    tg_node *ea = tg_layer_apply1(embed, tg_layer_apply1(hidden, a));
    tg_node *eb = tg_layer_apply1(embed, tg_layer_apply1(hidden, b));
    tg_node *d = tg_graph_op(g, "l2distance", "distance", NULL, (tg_node *[]){ea, eb}, 2);
    tg_node *loss = tg_graph_op(g, "contrastive", "loss", "margin=1", (tg_node *[]){d, y}, 2);
    tg_optimizer *opt = NULL;
    float *xa = malloc(sizeof(float) * HELDOUT * DIM), *xb = malloc(sizeof(float) * HELDOUT * DIM);
    float *lab = malloc(sizeof(float) * HELDOUT);
    if (!loss) {
        st = TG_ERR_INVALID; /* the message from the failing call stands */
        goto done;
    }
    if (!xa || !xb || !lab) {
        st = tg_error(TG_ERR_NOMEM, "out of memory");
        goto done;
    }
    int64_t n_params;
    tg_graph_param_data(g, &n_params);
    tg_optimizer_config cfg = tg_optimizer_defaults(TG_OPTIM_ADAM);
    if (!(opt = tg_optimizer_new(&cfg, n_params))) {
        st = TG_ERR_NOMEM;
        goto done;
    }
    run->epochs = epochs;
    for (int e = 0; e < epochs; e++) {
        double total = 0.0;
        tg_step_result step;
        for (int it = 0; it < BATCHES_PER_EPOCH; it++) {
            pair_task_batch(&task, BATCH, xa, xb, lab, &rng);
            if ((st = tg_input_set(a, tg_shape2(BATCH, DIM), xa)) ||
                (st = tg_input_set(b, tg_shape2(BATCH, DIM), xb)) ||
                (st = tg_input_set(y, tg_shape1(BATCH), lab)) ||
                (st = tg_train_step(g, loss, opt, &(tg_step_opts){.lr = 1e-2}, &step)))
                goto done;
            total += step.loss;
        }
        run->loss[e] = total / BATCHES_PER_EPOCH;
        if (verbose) printf("epoch %3d  loss %.5f\n", e + 1, run->loss[e]);
    }

    /* Held-out pairs, in one batch of a new size: the graph re-infers its shapes. */
    pair_task_batch(&task, HELDOUT, xa, xb, lab, &rng);
    tg_graph_set_training(g, 0);
    if ((st = tg_input_set(a, tg_shape2(HELDOUT, DIM), xa)) ||
        (st = tg_input_set(b, tg_shape2(HELDOUT, DIM), xb)) || (st = tg_graph_forward(g, d)))
        goto done;
    int correct = 0;
    for (int i = 0; i < HELDOUT; i++) correct += (tg_node_data(d)[i] > 0.5f) == (lab[i] > 0.5f);
    run->heldout_accuracy = (double)correct / HELDOUT;
    if (verbose) printf("held-out pair accuracy %.2f%%\n", 100.0 * run->heldout_accuracy);
done:
    free(xa);
    free(xb);
    free(lab);
    tg_optimizer_free(opt);
    tg_graph_free(g);
    pair_task_free(&task);
    return st;
}
