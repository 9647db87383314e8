/* A generated pair task for the Siamese examples and tests: points in D
 * dimensions from K classes (Gaussian clusters around random centres), paired
 * as similar (same class, Y = 0) or dissimilar (different classes, Y = 1). */
#ifndef TG_PAIR_TASK_H
#define TG_PAIR_TASK_H

#include "twingrad.h"

typedef struct pair_task {
    int dim, classes;
    float *centres; /* (classes, dim) */
    float noise;    /* standard deviation around a centre */
} pair_task;

/* A task with `classes` centres in `dim` dimensions; 0 or an error. */
tg_status pair_task_init(pair_task *t, int dim, int classes, float noise, tg_rng *rng);
void pair_task_free(pair_task *t);
/* Fill n pairs: a, b (n, dim) and labels y (n), half similar, half dissimilar. */
void pair_task_batch(const pair_task *t, int n, float *a, float *b, float *y, tg_rng *rng);

#endif

/* What one training run of the Siamese MLP on the pair task gives back. */
typedef struct pair_task_run {
    int epochs;
    double loss[200];        /* mean training loss per epoch */
    double heldout_accuracy; /* pair accuracy on fresh pairs, threshold margin/2 */
} pair_task_run;

/* Compose a Siamese MLP in C (two inputs, one shared two-layer dense tower,
 * l2distance, contrastive loss), train it with Adam on generated pairs, and
 * score held-out pairs. Prints the loss per epoch when `verbose`. */
tg_status pair_task_train(uint64_t seed, int epochs, int verbose, pair_task_run *run);
