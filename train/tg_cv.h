/* k-fold cross-validation of a model file on a data spec: folds stratified by
 * class and grouped by patient (or taken from a fold column), one training run
 * per fold (resumable), each held-out fold scored with pairs and k-NN against its
 * own training folds, and per-fold plus pooled metrics in a CSV and one report. */
#ifndef TG_CV_H
#define TG_CV_H

#include <stdint.h>

#include "autograd/tg_error.h"
#include "autograd/tg_export.h"
#include "eval/tg_metrics.h"
#include "train/tg_train.h"

TG_API_BEGIN

typedef struct tg_cv_opts {
    tg_train_opts train;  /* model_path, data_spec, run_dir (the cv folder), and the training
                             options every fold uses; its val_frac is carved from the training
                             folds (0: none, the default here) and test_frac is unused */
    int folds;            /* K >= 2; must equal the fold column's values when the spec has fold= */
    uint64_t cv_seed;     /* seeds the fold assignment (the spec's cv_seed=) */
    tg_knn_rule knn_rule; /* the k-NN decision scoring each held-out fold */
} tg_cv_opts;

/* One fold's held-out scores. */
typedef struct tg_cv_fold {
    int n_train, n_test, epochs, best_epoch;
    double pair_accuracy, pair_auc;
    double knn_accuracy, knn_sensitivity, knn_specificity, knn_auc;
} tg_cv_fold;

typedef struct tg_cv_result {
    int folds, interrupted;            /* interrupted: stopped by *train.stop; rerun to resume */
    tg_cv_fold *fold;                  /* folds entries */
    double mean_accuracy, sd_accuracy; /* k-NN accuracy over the folds (sample sd) */
    double mean_auc, sd_auc;           /* k-NN score AUC over the folds */
    double mean_pair_auc, sd_pair_auc;
    double pooled_auc;      /* one ROC over every held-out image's k-NN score */
    double pooled_accuracy; /* k-NN decisions right over every held-out image */
} tg_cv_result;

/* Defaults: the training defaults with no validation images, 5 folds, seed 1. */
tg_cv_opts tg_cv_opts_default(void);
/* Run (or resume) the cross-validation into opts->train.run_dir: fold-1/ ... fold-K/
 * (each a training run), cv.csv and cv.html. */
tg_status tg_cv(const tg_cv_opts *opts, tg_cv_result *result);
/* Free the result's arrays (safe on a zeroed struct). */
void tg_cv_result_free(tg_cv_result *result);

TG_API_END

#endif
