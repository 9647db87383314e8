/* Training and evaluation of a Siamese model from a model file and a data spec:
 * split, pair sampling, the epoch loop with validation, checkpoints that resume
 * exactly, collapse and divergence detection, metrics.csv and report.html; and
 * evaluation the way the seed paper does it (pairs, then k-NN on single images). */
#ifndef TG_TRAIN_H
#define TG_TRAIN_H

#include <signal.h>
#include <stdint.h>
#include <stdio.h>

#include "tg_error.h"
#include "tg_metrics.h"
#include "tg_model.h"

/* How class imbalance is handled in training pairs. */
typedef enum tg_balance {
    TG_BALANCE_PAIRS = 0,   /* keep every image; anchors drawn class-balanced (default) */
    TG_BALANCE_UNDERSAMPLE, /* the seed paper: cut the larger class to the smaller */
} tg_balance;

typedef struct tg_train_opts {
    const char *model_path; /* the model file; on resume the checkpoint's copy is used */
    const char *data_spec;  /* datasets spec (docs/datasets.md); on resume, NULL = the stored one */
    const char *run_dir;    /* created if needed: metrics.csv, last.tgc, best.tgc, report.html */
    int resume;             /* continue from run_dir/last.tgc */
    int epochs;             /* > 0 overrides the model's train line (also on resume) */
    int batch;              /* > 0 overrides the batch size */
    double lr;              /* > 0 overrides the learning rate */
    int has_seed;           /* 1: seed overrides the model's */
    uint64_t seed;
    double val_frac, test_frac; /* split fractions (defaults 0.15, 0.15) */
    int by_group;           /* 1 split by the dataset's groups (patients), 0 by image, -1 auto */
    tg_balance balance;
    int pairs_per_epoch;    /* 0: twice the training images, rounded to whole batches */
    double similar_frac;    /* share of similar pairs (default 0.5) */
    int augment;            /* 1: mild augmentation of training images */
    int knn_k;              /* k for the k-NN evaluation in the report (default 5) */
    int threads;            /* 0: one per core */
    int progress;           /* 1: a progress bar (terminals), 0: a line per epoch, -1: quiet */
    FILE *log;              /* where progress and warnings go (NULL: stderr) */
    volatile sig_atomic_t *stop; /* set by a signal handler: finish the batch, save, return */
} tg_train_opts;

typedef struct tg_train_result {
    int epochs_done;          /* completed epochs, including those before a resume */
    int interrupted;          /* stopped by *stop; last.tgc holds the exact state */
    int early_stopped;        /* validation loss stopped improving */
    int collapsed;            /* the embedding collapsed (validation distances near zero) */
    int best_epoch;           /* 1-based epoch of the best validation loss */
    double best_val_loss;
    double train_loss, val_loss, val_accuracy, val_auc; /* of the last epoch */
    double threshold;         /* distance threshold chosen on validation */
    double pairs_per_second;  /* training throughput of the last epoch */
} tg_train_result;

/* Defaults for everything but the paths. */
tg_train_opts tg_train_opts_default(void);
/* Train (or resume) as the options say. TG_OK also when interrupted (see result). */
tg_status tg_train(const tg_train_opts *opts, tg_train_result *result);

typedef struct tg_eval_opts {
    const char *checkpoint; /* a .tgc written by tg_train */
    const char *data_spec;  /* NULL: the spec stored in the checkpoint */
    const char *test_spec;  /* a separate test set (all its images): overrides the split */
    const char *reference_spec; /* with test_spec: the k-NN references (NULL: the stored spec) */
    const char *report_path; /* NULL: no report; else an HTML report is written there */
    int knn_k;              /* 0: the value stored in the checkpoint (default 5) */
    int threads;
    FILE *log;              /* summary lines (NULL: quiet) */
} tg_eval_opts;

typedef struct tg_eval_result {
    int n_pairs;              /* test pairs */
    double threshold;         /* distance threshold (chosen on validation during training) */
    double pair_accuracy, pair_auc;
    tg_confusion pairs;       /* positive = dissimilar pair, predicted when distance >= threshold */
    int n_test, n_reference, k, n_classes;
    double knn_accuracy, knn_sensitivity, knn_specificity, knn_auc; /* binary: class 1 positive */
    tg_confusion knn;         /* binary datasets only */
} tg_eval_result;

/* A trained model loaded from a checkpoint written by tg_train, ready to embed. */
typedef struct tg_trained {
    tg_model_def *def;
    tg_model *model;   /* eval-ready: parameters and statistics restored */
    char *data_spec;   /* the spec it was trained on */
    double threshold;  /* distance threshold chosen on validation */
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

#endif
