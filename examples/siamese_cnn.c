/* A Siamese CNN composed in C, trained on generated blob images; see siamese_cnn.h.
 *   usage: siamese_cnn [epochs] [seed] [threads]   (threads 0: one per core)
 * The tower, applied to both images of a pair (one set of weights):
 *   (N,1,24,24) conv2d 8 3x3 relu -> batchnorm -> maxpool2d 2 -> (N,8,12,12)
 *   sepconv2d 16 3x3 relu -> batchnorm -> maxpool2d 2 -> (N,16,6,6)
 *   dense 32 relu -> dropout 0.1 -> dense 16 -> l2normalize
 * then l2distance between the two embeddings and the contrastive loss (margin 1). */
#include "examples/siamese_cnn.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

enum { SIDE = 24, CLASSES = 4, BATCH = 32, STEPS_PER_EPOCH = 12, HELDOUT = 256 };

/* One image of class `cls`: a Gaussian blob (sigma 2 px) at one of four places,
 * jittered by up to 2 px, with random brightness, on uniform noise. */
static void blob_image(int cls, float *img, tg_rng *rng) {
    static const float cy[CLASSES] = {6.5f, 6.5f, 17.5f, 17.5f},
                       cx[CLASSES] = {6.5f, 17.5f, 6.5f, 17.5f};
    float y0 = cy[cls] + tg_rng_uniform_range(rng, -2.0f, 2.0f);
    float x0 = cx[cls] + tg_rng_uniform_range(rng, -2.0f, 2.0f);
    float amp = tg_rng_uniform_range(rng, 0.6f, 1.0f);
    for (int y = 0; y < SIDE; y++)
        for (int x = 0; x < SIDE; x++) {
            float d2 = (y - y0) * (y - y0) + (x - x0) * (x - x0);
            img[y * SIDE + x] = amp * expf(-d2 / 8.0f) + tg_rng_uniform_range(rng, 0.0f, 0.3f);
        }
}

/* n pairs into a, b (n, 1, SIDE, SIDE) and labels y: alternately similar (0) and dissimilar (1). */
static void blob_pairs(int n, float *a, float *b, float *y, tg_rng *rng) {
    for (int i = 0; i < n; i++) {
        int ca = (int)tg_rng_below(rng, CLASSES), cb = ca, dissimilar = i % 2;
        if (dissimilar) cb = (ca + 1 + (int)tg_rng_below(rng, CLASSES - 1)) % CLASSES;
        blob_image(ca, a + (size_t)i * SIDE * SIDE, rng);
        blob_image(cb, b + (size_t)i * SIDE * SIDE, rng);
        y[i] = (float)dissimilar;
    }
}

/* The shared tower: each layer created once, applied to both inputs. */
typedef struct tower {
    tg_layer *l[10];
    int n;
} tower;

static tg_node *tower_apply(tower *t, tg_node *x) {
    for (int i = 0; i < t->n; i++) x = tg_layer_apply1(t->l[i], x);
    return x;
}

tg_status siamese_cnn_train(uint64_t seed, int epochs, int verbose, siamese_cnn_run *run) {
    if (epochs < 1 || epochs > CNN_MAX_EPOCHS)
        return tg_error(TG_ERR_INVALID, "epochs must be in 1..%d", CNN_MAX_EPOCHS);
    tg_status st = TG_OK;
    tg_rng rng;
    tg_rng_seed(&rng, seed);
    tg_graph *g = tg_graph_new(seed);
    tg_shape in = tg_shape4(BATCH, 1, SIDE, SIDE);
    tg_node *a = tg_graph_input(g, "a", in), *b = tg_graph_input(g, "b", in);
    tg_node *y = tg_graph_input(g, "y", tg_shape1(BATCH));
    static const char *const spec[][3] = {
        {"conv2d", "conv1", "filters=8 kernel=3 act=relu"},
        {"batchnorm", "bn1", "momentum=0.9"},
        {"maxpool2d", "pool1", "size=2"},
        {"sepconv2d", "sep2", "filters=16 kernel=3 act=relu"},
        {"batchnorm", "bn2", "momentum=0.9"},
        {"maxpool2d", "pool2", "size=2"},
        {"dense", "fc3", "units=32 act=relu"},
        {"dropout", "drop3", "rate=0.1"},
        {"dense", "embed", "units=16"},
        {"l2normalize", "unit", NULL},
    };
    tower t = {.n = 10};
    for (int i = 0; i < t.n; i++) t.l[i] = tg_graph_layer(g, spec[i][0], spec[i][1], spec[i][2]);
    tg_node *d = tg_graph_op(g, "l2distance", "distance", NULL,
                             (tg_node *[]){tower_apply(&t, a), tower_apply(&t, b)}, 2);
    tg_node *loss = tg_graph_op(g, "contrastive", "loss", "margin=1", (tg_node *[]){d, y}, 2);
    size_t img = (size_t)SIDE * SIDE;
    float *xa = malloc(sizeof(float) * HELDOUT * img), *xb = malloc(sizeof(float) * HELDOUT * img);
    float *lab = malloc(sizeof(float) * HELDOUT);
    tg_optimizer *opt = NULL;
    if (!loss) {
        st = TG_ERR_INVALID; /* the failing call's message stands */
        goto done;
    }
    if (!xa || !xb || !lab) {
        st = tg_error(TG_ERR_NOMEM, "siamese_cnn: out of memory");
        goto done;
    }
    int64_t n_params;
    float *params = tg_graph_param_data(g, &n_params);
    tg_optimizer_config cfg = tg_optimizer_defaults(TG_OPTIM_ADAM);
    if (!params || !(opt = tg_optimizer_new(&cfg, n_params))) {
        st = TG_ERR_NOMEM;
        goto done;
    }
    if (verbose) printf("siamese_cnn: %lld trainable parameters\n", (long long)n_params);
    run->epochs = epochs;
    for (int e = 0; e < epochs; e++) {
        double total = 0.0;
        tg_step_result step;
        for (int it = 0; it < STEPS_PER_EPOCH; it++) {
            blob_pairs(BATCH, xa, xb, lab, &rng);
            if ((st = tg_input_set(a, in, xa)) || (st = tg_input_set(b, in, xb)) ||
                (st = tg_input_set(y, tg_shape1(BATCH), lab)) ||
                (st = tg_train_step(g, loss, opt, &(tg_step_opts){.lr = 3e-3}, &step)))
                goto done;
            total += step.loss;
        }
        run->loss[e] = total / STEPS_PER_EPOCH;
        if (verbose) printf("epoch %3d  loss %.5f\n", e + 1, run->loss[e]);
    }

    /* Held-out pairs in eval mode (running statistics, no dropout), one larger batch. */
    blob_pairs(HELDOUT, xa, xb, lab, &rng);
    tg_graph_set_training(g, 0);
    tg_shape hs = tg_shape4(HELDOUT, 1, SIDE, SIDE);
    if ((st = tg_input_set(a, hs, xa)) || (st = tg_input_set(b, hs, xb)) ||
        (st = tg_graph_forward(g, d)))
        goto done;
    int correct = 0;
    double same = 0.0, diff = 0.0;
    for (int i = 0; i < HELDOUT; i++) {
        float di = tg_node_data(d)[i];
        correct += (di > 0.5f) == (lab[i] > 0.5f);
        if (lab[i] > 0.5f)
            diff += di;
        else
            same += di;
    }
    run->heldout_accuracy = (double)correct / HELDOUT;
    run->same_dist = same / (HELDOUT / 2);
    run->diff_dist = diff / (HELDOUT / 2);
    if (verbose)
        printf("held-out: pair accuracy %.1f%%, mean distance similar %.3f, dissimilar %.3f\n",
               100.0 * run->heldout_accuracy, run->same_dist, run->diff_dist);
done:
    free(xa);
    free(xb);
    free(lab);
    tg_optimizer_free(opt);
    tg_graph_free(g);
    return st;
}

#ifndef SIAMESE_CNN_NO_MAIN
int main(int argc, char **argv) {
    int epochs = argc > 1 ? atoi(argv[1]) : 15;
    uint64_t seed = argc > 2 ? strtoull(argv[2], NULL, 10) : 1;
    tg_threads_set(argc > 3 ? atoi(argv[3]) : 0);
    siamese_cnn_run run;
    if (siamese_cnn_train(seed, epochs, 1, &run)) {
        fprintf(stderr, "siamese_cnn: %s\n", tg_last_error());
        return 1;
    }
    return 0;
}
#endif
