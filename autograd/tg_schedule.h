/* Learning-rate schedules, with PyTorch semantics: constant, step, exponential and cosine
 * annealing are closed forms of the epoch; reduce-on-plateau watches a validation metric
 * and keeps a little state (four numbers) that a checkpoint saves by name.
 *
 *   tg_schedule_config sc = tg_schedule_defaults(TG_SCHEDULE_PLATEAU, 1e-3);
 *   tg_schedule sched;
 *   if (tg_schedule_init(&sched, &sc) != TG_OK) ... tg_last_error() ...
 *   for (int epoch = 0; epoch < epochs; epoch++) {
 *       float lr = (float)tg_schedule_lr(&sched, epoch);   // pass to every optimizer step
 *       ... train, validate ...
 *       tg_schedule_observe(&sched, val_loss);               // plateau only; others ignore it
 *   }
 */
#ifndef TG_SCHEDULE_H
#define TG_SCHEDULE_H

#include <stdint.h>

#include "autograd/tg_error.h"
#include "autograd/tg_export.h"

TG_API_BEGIN

typedef enum tg_schedule_kind {
    TG_SCHEDULE_CONSTANT,    /* "constant": lr */
    TG_SCHEDULE_STEP,        /* "step": lr * gamma^floor(epoch / step_size) */
    TG_SCHEDULE_EXPONENTIAL, /* "exponential": lr * gamma^epoch */
    TG_SCHEDULE_COSINE,      /* "cosine": min_lr + (lr - min_lr) * (1 + cos(pi*epoch/t_max)) / 2 */
    TG_SCHEDULE_PLATEAU,     /* "plateau": lr * factor after `patience` epochs without progress */
} tg_schedule_kind;

typedef enum tg_plateau_mode {
    TG_PLATEAU_MIN, /* "min": the metric should fall (a loss) */
    TG_PLATEAU_MAX, /* "max": the metric should rise (an accuracy) */
} tg_plateau_mode;

typedef enum tg_threshold_mode {
    TG_THRESHOLD_REL, /* "rel": better means beyond best * (1 -/+ threshold) */
    TG_THRESHOLD_ABS, /* "abs": better means beyond best -/+ threshold */
} tg_threshold_mode;

/* Changes of the plateau learning rate smaller than this are skipped (PyTorch's eps). */
#define TG_PLATEAU_EPS 1e-8

/* A field the kind does not use is ignored. */
typedef struct tg_schedule_config {
    tg_schedule_kind kind;
    double lr;                        /* base learning rate at epoch 0: finite, > 0 */
    int step_size;                    /* step: epochs between decays, >= 1 (no default) */
    double gamma;                     /* step, exponential: decay per period, in (0, 1] */
    int t_max;                        /* cosine: epochs from lr down to min_lr, >= 1 (no default) */
    double min_lr;                    /* cosine, plateau: the floor, in [0, lr] */
    tg_plateau_mode mode;             /* plateau */
    double factor;                    /* plateau: lr *= factor on a plateau, in (0, 1) */
    int patience;                     /* plateau: epochs without progress tolerated, >= 0 */
    double threshold;                 /* plateau: least progress that counts, >= 0 */
    tg_threshold_mode threshold_mode; /* plateau */
    int cooldown;                     /* plateau: epochs ignored after a reduction, >= 0 */
    int warmup; /* every kind: epochs over which the rate rises linearly, step by step, from
                   1/(warmup x steps per epoch) of the schedule's rate to all of it; 0: none */
} tg_schedule_config;

/* A schedule: its config and the plateau state (unused by the other kinds). */
typedef struct tg_schedule {
    tg_schedule_config cfg;
    double lr;             /* plateau: the current learning rate */
    double best;           /* plateau: the best metric so far (+-inf before the first) */
    int64_t bad_epochs;    /* plateau: epochs since the best, outside cooldown */
    int64_t cooldown_left; /* plateau: epochs of cooldown still to go */
} tg_schedule;

/* PyTorch's defaults for a kind with base rate lr (gamma 0.1 for step, 0.95 for exponential;
 * plateau: min, factor 0.1, patience 10, threshold 1e-4 rel, cooldown 0). step_size and t_max
 * are left 0 and must be set. */
tg_schedule_config tg_schedule_defaults(tg_schedule_kind kind, double lr);
/* Parse "constant", "step", "exponential", "cosine" or "plateau" (any case) into *kind. */
tg_status tg_schedule_kind_parse(const char *name, tg_schedule_kind *kind);
/* The lower-case name of a kind ("cosine"), or "?" for an invalid value. */
const char *tg_schedule_kind_name(tg_schedule_kind kind);
/* Set one field from text, as a model file gives it ("t_max", "100"; "mode", "max"):
 * an unknown key, a key the kind does not use or a malformed value is an error. */
tg_status tg_schedule_config_set(tg_schedule_config *cfg, const char *key, const char *value);
/* Check every field of cfg for its kind; the message names the field and its value,
 * and *bad_setting (may be NULL) gets that setting's index, or -1. */
tg_status tg_schedule_config_validate(const tg_schedule_config *cfg, int *bad_setting);

/* The settings (the fields above but kind), as one table: index i in
 * [0, tg_schedule_setting_count()), its name, which kinds read it, and its value
 * as a number (mode: 0 min, 1 max; threshold_mode: 0 rel, 1 abs). The model-file
 * parser, checkpoints and the docs all go through this table. */
int tg_schedule_setting_count(void);
const char *tg_schedule_setting_name(int i);    /* NULL out of range */
int tg_schedule_setting_find(const char *name); /* -1 when unknown */
int tg_schedule_setting_used(int i, tg_schedule_kind kind);
double tg_schedule_setting_get(const tg_schedule_config *cfg, int i);
/* Set setting i from a number (whole-number settings and the two modes are checked;
 * ranges are checked by validate). */
tg_status tg_schedule_setting_put(tg_schedule_config *cfg, int i, double value);

/* Validate cfg and start the schedule (plateau: lr = cfg->lr, no best yet, no counters). */
tg_status tg_schedule_init(tg_schedule *s, const tg_schedule_config *cfg);
/* The learning rate for epoch (0-based; negative counts as 0). Plateau ignores epoch and
 * returns its current rate. Cosine follows PyTorch's closed form, which rises again after
 * t_max, so set t_max to the number of epochs. */
double tg_schedule_lr(const tg_schedule *s, int epoch);
/* The learning rate for step `step` (0-based) of `steps` in epoch `epoch`: tg_schedule_lr
 * times the warm-up factor min(1, (epoch x steps + step + 1) / (warmup x steps)). Without a
 * warm-up (or with steps < 1) it is tg_schedule_lr. */
double tg_schedule_step_lr(const tg_schedule *s, int epoch, int step, int steps);
/* Report the epoch's validation metric (plateau reduces lr when it stalls; the other kinds
 * ignore it). A NaN or Inf metric is refused with TG_ERR_NUMERIC and changes nothing. */
tg_status tg_schedule_observe(tg_schedule *s, double metric);

/* Checkpoint access: the state as named numbers ("lr", "best", "bad_epochs",
 * "cooldown_left" for plateau; none for the other kinds). */

/* Number of state values. */
int tg_schedule_state_count(const tg_schedule *s);
/* Name of state value i, or NULL when i is out of range. */
const char *tg_schedule_state_name(const tg_schedule *s, int i);
/* State value i (counters are whole numbers), or NaN when i is out of range. */
double tg_schedule_state_get(const tg_schedule *s, int i);
/* Restore state value i; a value out of range for it is an error. */
tg_status tg_schedule_state_set(tg_schedule *s, int i, double value);

TG_API_END

#endif
