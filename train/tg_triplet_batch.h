/* Batches for triplet training (not installed): P classes x K images drawn afresh each
 * epoch from the training split, and the per-epoch figures of the mined triplets (share
 * of active ones, mean anchor-positive and anchor-negative distances). */
#ifndef TG_TRIPLET_BATCH_H
#define TG_TRIPLET_BATCH_H

#include <stddef.h>

#include "autograd/tg_rng.h"
#include "datasets/tg_augment.h"
#include "datasets/tg_dataset.h"
#include "models/tg_model.h"

typedef struct tg_triplet_epoch {
    int classes, per_class, batch; /* P, K and P * K images per batch */
    size_t **members;              /* per class, its training images (dataset indices) */
    size_t *n_members;
    int n_classes; /* the dataset's classes */
    size_t *idx;   /* this epoch's batches: n_batches * batch image indices */
    int n_batches;
    /* the epoch's mined triplets so far */
    double valid, active, sum_ap, sum_an;
} tg_triplet_epoch;

/* Group the training images by class for the model's triplet line and set *batch to
 * P * K. An error when fewer than P classes have two or more training images. */
tg_status tg_triplet_epoch_init(tg_triplet_epoch *e, const tg_model_def *def, const tg_dataset *ds,
                                const size_t *train, size_t n_train, int *batch);
/* Draw n_batches batches from rng: each P distinct classes (among those with two or more
 * images), K images of each (without replacement when the class has K, else with), and
 * reset the epoch's figures. */
tg_status tg_triplet_epoch_sample(tg_triplet_epoch *e, int n_batches, tg_rng *rng);
/* Batch b's images (batch x H x W floats) and their labels (batch floats); with aug
 * (non-NULL) each image is a random transform of the stored one, drawn from rng. */
void tg_triplet_epoch_batch(const tg_triplet_epoch *e, const tg_dataset *ds, int b,
                            const tg_augment *aug, tg_rng *rng, float *x, float *labels);
/* Add the triplets just mined by m (m->mined after a forward) to the epoch's figures. */
void tg_triplet_epoch_observe(tg_triplet_epoch *e, tg_model *m);
/* Share of active triplets (loss > 0) among the valid ones, mean d_ap and d_an. */
void tg_triplet_epoch_figures(const tg_triplet_epoch *e, double *active, double *mean_ap,
                              double *mean_an);
void tg_triplet_epoch_free(tg_triplet_epoch *e);

#endif
