/* Evaluation of a trained Siamese model the way the seed paper does it: pair
 * verification on test pairs (accuracy, ROC AUC at the threshold chosen on
 * validation), then k-NN classification of single test images against the
 * training images, with sensitivity, specificity and a confusion matrix. */
#ifndef TG_EVAL_H
#define TG_EVAL_H

#include <stdint.h>
#include <stdio.h>

#include "autograd/tg_error.h"
#include "datasets/tg_dataset.h"
#include "datasets/tg_split.h"
#include "eval/tg_metrics.h"
#include "models/tg_model.h"
#include "autograd/tg_export.h"

TG_API_BEGIN

typedef struct tg_eval_opts {
    const char *checkpoint;     /* a .tgc written by tg_train */
    const char *data_spec;      /* NULL: the spec stored in the checkpoint */
    const char *test_spec;      /* a separate test set (all its images): overrides the split */
    const char *reference_spec; /* with test_spec: the k-NN references (NULL: the stored spec) */
    const char *report_path;    /* NULL: no report; else an HTML report is written there */
    int knn_k;                  /* 0: the value stored in the checkpoint (default 5) */
    tg_knn_rule knn_rule;       /* the k-NN decision (0: TG_KNN_CLASS_MEAN) */
    int threads;
    FILE *log; /* summary lines (NULL: quiet) */
} tg_eval_opts;

typedef struct tg_eval_result {
    int n_pairs;      /* test pairs */
    double threshold; /* distance threshold (chosen on validation during training) */
    double pair_accuracy, pair_auc;
    tg_confusion pairs; /* positive = dissimilar pair, predicted when distance >= threshold */
    int n_test, n_reference, k, n_classes;
    tg_knn_rule knn_rule; /* the rule knn_accuracy and knn decided by */
    double knn_accuracy, knn_sensitivity, knn_specificity, knn_auc; /* binary: class 1 positive */
    tg_confusion knn;                                               /* binary datasets only */
    float *scores;  /* binary: n_test graded k-NN scores (tg_knn_margin_score), the
                       knn_auc's ROC; free with tg_eval_result_free */
    int *truth;     /* n_test true classes of the test images, in test order */
    int *predicted; /* n_test k-NN decisions, in test order (misclassified: != truth) */
} tg_eval_result;

/* A trained model loaded from a checkpoint written by tg_train, ready to embed. */
typedef struct tg_trained {
    tg_model_def *def;
    tg_model *model;  /* eval-ready: parameters and statistics restored */
    char *data_spec;  /* the spec it was trained on */
    double threshold; /* distance threshold chosen on validation */
    int knn_k;
    uint64_t seed;
    double val_frac, test_frac;
    int by_group;
    tg_balance balance;
} tg_trained;

/* Load a training checkpoint and rebuild its model from the stored model text. */
tg_status tg_trained_load(const char *checkpoint, tg_trained *out);
/* Free what tg_trained_load made (safe on a zeroed struct). */
void tg_trained_free(tg_trained *t);

/* Evaluate a checkpoint on the test split of its data (or on a separate test set):
 * pair verification and k-NN classification of single test images against the
 * training images (or a separate reference set). */
tg_status tg_evaluate(const tg_eval_opts *opts, tg_eval_result *result);
/* Free the arrays of an evaluation result (safe on a zeroed one). */
void tg_eval_result_free(tg_eval_result *result);

/* Embed the images ds[idx[0..n)] through one tower of `m` (eval mode, in
 * batches): out holds n * m->embed_dim floats. */
tg_status tg_eval_embed(tg_model *m, const tg_dataset *ds, const size_t *idx, size_t n, float *out);
/* The labels of ds at idx[0..n), as ints. */
void tg_eval_labels(const tg_dataset *ds, const size_t *idx, size_t n, int *out);

TG_API_END

#endif
