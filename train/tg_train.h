/* Training of a Siamese model from a model file and a data spec: split, pair
 * sampling, the epoch loop with validation, checkpoints that resume exactly,
 * collapse and divergence detection, metrics.csv and report.html. Evaluation of
 * the result lives in eval/tg_eval.h. */
#ifndef TG_TRAIN_H
#define TG_TRAIN_H

#include <signal.h>
#include <stdint.h>
#include <stdio.h>

#include "autograd/tg_error.h"
#include "dist/tg_dist.h"
#include "datasets/tg_split.h"
#include "models/tg_model.h"
#include "autograd/tg_export.h"

TG_API_BEGIN

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
    double val_frac, test_frac; /* split fractions (defaults 0.15, 0.15); val 0: validate on
                                   the training images (threshold and best epoch from them) */
    int by_group; /* 1 split by the dataset's groups (patients), 0 by image, -1 auto */
    tg_balance balance;
    int pairs_per_epoch;  /* 0: twice the training images, rounded to whole batches */
    double similar_frac;  /* share of similar pairs (default 0.5) */
    int augment;          /* 1: mild augmentation of training images, 0: none, -1: as the
                             model's train line says (the default) */
    int knn_k;            /* k for the k-NN evaluation in the report (default 5) */
    int threads;          /* 0: one per core */
    int progress;         /* 1: a progress bar (terminals), 0: a line per epoch, -1: quiet */
    int diagnostics;      /* 1: per-epoch diagnostics in run_dir/diagnostics.csv */
    int early_stop;       /* >= 0 overrides the train line's early_stop (0: never); -1: keep */
    const char *schedule; /* "KIND key=value ..." overrides the train line's schedule; NULL: keep */
    double ema;           /* >= 0 overrides the train line's ema (0: none); -1: keep. A new run
                             only: a resumed run keeps the average it has */
    int collapse_stop;    /* stop (TG_ERR_NUMERIC) after this many collapsed epochs in a row;
                             0: only warn (default 3) */
    FILE *log;            /* where progress and warnings go (NULL: stderr) */
    volatile sig_atomic_t *stop; /* set by a signal handler: finish the batch, save, return */
    /* Data-parallel training (docs/distributed.md): every rank calls tg_train with the
     * same options; rank 0 alone writes files and reports progress. */
    tg_comm *comm;            /* NULL: this process alone */
    tg_reduce reduce;         /* fast (default) or fixed: bit-identical for any rank count */
    int shards;               /* shards of each batch (0: one per rank); fixed: kept on resume */
    int64_t stop_after_steps; /* > 0: behave as if *stop were set once the run (resumed runs
                                 included) has taken this many optimizer steps; for tests */
} tg_train_opts;

typedef struct tg_train_result {
    int epochs_done;   /* completed epochs, including those before a resume */
    int interrupted;   /* stopped by *stop; last.tgc holds the exact state */
    int early_stopped; /* validation loss stopped improving */
    int collapsed;     /* the embedding collapsed (validation distances near zero) */
    int best_epoch;    /* 1-based epoch of the best validation loss */
    double best_val_loss;
    double train_loss, val_loss, val_accuracy, val_auc; /* of the last epoch */
    double threshold;        /* distance threshold chosen on validation */
    double pairs_per_second; /* training throughput of the last epoch */
} tg_train_result;

/* Defaults for everything but the paths. */
tg_train_opts tg_train_opts_default(void);
/* Train (or resume) as the options say. TG_OK also when interrupted (see result). */
tg_status tg_train(const tg_train_opts *opts, tg_train_result *result);

TG_API_END

#endif
