/* What training and evaluation share (not installed): the run record stored in
 * a checkpoint's metadata, loading the data for a model and splitting it the
 * same way every time, and running the model over pairs. */
#ifndef TG_RUN_H
#define TG_RUN_H

#include <stdio.h>

#include "checkpoint/tg_checkpoint.h"
#include "datasets/tg_dataset.h"
#include "models/tg_model.h"
#include "datasets/tg_pairs.h"
#include "datasets/tg_split.h"
#include "eval/tg_eval.h"

/* The settings and progress of a training run, stored as text in a checkpoint's
 * META section under the keys of one table (tg_run.c; each key documented in
 * docs/checkpoint-format.md). The trainer saves and resumes through it and
 * tg_trained_load reads it: a new setting is one line of that table. */
typedef struct tg_run_record {
    char *data_spec;            /* "data": the data spec, as given */
    double val_frac, test_frac; /* split fractions */
    int by_group;               /* 1 by patient, 0 by image, -1 auto */
    int balance;                /* a tg_balance */
    int pairs_per_epoch;
    double similar_frac;
    int augment, knn_k, batch;
    double lr; /* the base learning rate */
    uint64_t seed;
    int epochs;                 /* the epochs the run was asked for */
    int step_in_epoch;          /* batches of the current epoch already done */
    double partial_loss;        /* their summed losses */
    int best_epoch, since_best; /* 1-based epoch of the best validation loss; epochs since */
    double threshold;           /* distance threshold chosen on validation; NaN before one */
    int reduce;                 /* data-parallel combination, a tg_reduce (0 fast, 1 fixed) */
    int shards;                 /* shards per batch: fixed mode's count; 0 one per rank */
} tg_run_record;

#define TG_RUN_META_MAX 24

/* The record as checkpoint metadata: entries point into text and r->data_spec,
 * which must outlive their use. */
typedef struct tg_run_meta {
    tg_checkpoint_meta entries[TG_RUN_META_MAX];
    char text[TG_RUN_META_MAX][32];
    int n;
} tg_run_meta;

void tg_run_record_to_meta(const tg_run_record *r, tg_run_meta *out);
/* Read every key of the table back from ck (a missing or malformed one is a
 * TG_ERR_FORMAT naming it); r->data_spec is malloc'ed. */
tg_status tg_run_record_from_checkpoint(const tg_checkpoint *ck, tg_run_record *r);
/* The model definition a checkpoint stores, its errors placed in that text as
 * "CHECKPOINT (its model text):LINE:COL", not as a line of the binary file. */
tg_status tg_run_model_from_checkpoint(const tg_checkpoint *ck, tg_model_def **def);
void tg_run_record_free(tg_run_record *r);

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

/* Say which split a pair-sampling error st came from and what to change (st is
 * returned; the message is rewritten). */
tg_status tg_run_pairs_error(tg_status st, const char *split);

/* Fixed evaluation pairs for a split: seeded, class-balanced, half similar. */
tg_status tg_run_fixed_pairs(const tg_dataset *ds, const size_t *idx, size_t n, uint64_t seed,
                             tg_pairs *out);

/* Run the model over pairs in eval mode: distances and labels (pairs->n each)
 * and the mean loss. */
tg_status tg_run_pair_distances(tg_model *m, const tg_dataset *ds, const tg_pairs *pairs,
                                float *dist, int *labels, double *mean_loss);

#endif
