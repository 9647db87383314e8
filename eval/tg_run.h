/* What training and evaluation share (not installed): loading the data for a
 * model and splitting it the same way every time, running the model over pairs,
 * and embedding a subset of images. */
#ifndef TG_RUN_H
#define TG_RUN_H

#include <stdio.h>

#include "datasets/tg_dataset.h"
#include "models/tg_model.h"
#include "datasets/tg_pairs.h"
#include "datasets/tg_split.h"
#include "eval/tg_eval.h"

/* The data of one run: the dataset, its split, and the training images used. */
typedef struct tg_run_data {
    tg_dataset ds;
    tg_split split;
    size_t *train; /* training indices after balancing (a copy of split.train when none) */
    size_t n_train;
} tg_run_data;

/* Load `spec` at the model's input size, split it (seeded by `seed`, independent
 * of every other random stream) and balance the training split. */
tg_status tg_run_data_load(const tg_model_def *def, const char *spec, double val_frac,
                           double test_frac, int by_group, tg_balance balance, uint64_t seed,
                           FILE *log, tg_run_data *out);
void tg_run_data_free(tg_run_data *d);

/* Fixed evaluation pairs for a split: seeded, class-balanced, half similar. */
tg_status tg_run_fixed_pairs(const tg_dataset *ds, const size_t *idx, size_t n, uint64_t seed,
                             tg_pairs *out);

/* Run the model over pairs in eval mode: distances and labels (pairs->n each)
 * and the mean loss. */
tg_status tg_run_pair_distances(tg_model *m, const tg_dataset *ds, const tg_pairs *pairs,
                                float *dist, int *labels, double *mean_loss);

#endif
