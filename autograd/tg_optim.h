/* Optimizers over the flat parameter buffer: SGD, Adam, AdamW and RMSprop with
 * PyTorch semantics, and gradient clipping by global norm. Parameters, gradients
 * and every moment buffer share one layout, so a step is one loop over n floats
 * and a checkpoint saves the state as named flat arrays plus a step count.
 *
 *   tg_optimizer_config cfg = tg_optimizer_defaults(TG_OPTIM_ADAM);
 *   tg_optimizer *opt = tg_optimizer_new(&cfg, n);       // NULL + tg_last_error() on bad cfg
 *   for each batch:
 *       ... forward, zero_grad, backward into grads ...
 *       if (!isfinite(tg_clip_grad_norm(grads, n, 1.0f))) stop: the run diverged
 *       tg_optimizer_step(opt, params, grads, n, (float)tg_schedule_lr(&sched, epoch));
 *   tg_optimizer_free(opt);
 */
#ifndef TG_OPTIM_H
#define TG_OPTIM_H

#include <stdint.h>

#include "autograd/tg_error.h"
#include "autograd/tg_export.h"

TG_API_BEGIN

typedef enum tg_optimizer_kind {
    TG_OPTIM_SGD,     /* "sgd": momentum, dampening, Nesterov, L2 weight decay */
    TG_OPTIM_ADAM,    /* "adam": bias-corrected moments, L2 weight decay */
    TG_OPTIM_ADAMW,   /* "adamw": Adam with decoupled weight decay */
    TG_OPTIM_RMSPROP, /* "rmsprop": alpha, optional momentum and centering */
} tg_optimizer_kind;

/* Hyper-parameters; a field that the kind does not use is ignored. The learning
 * rate is not here: it is passed to every step, so a schedule can drive it. */
typedef struct tg_optimizer_config {
    tg_optimizer_kind kind;
    double momentum;     /* sgd, rmsprop: in [0, 1) */
    double dampening;    /* sgd: in [0, 1]; must be 0 with Nesterov */
    int nesterov;        /* sgd: 0 or 1; needs momentum > 0 */
    double weight_decay; /* >= 0; L2 added to the gradient, decoupled for adamw */
    double beta1, beta2; /* adam, adamw: in [0, 1) */
    double eps;          /* adam, adamw, rmsprop: > 0, added outside the square root */
    double alpha;        /* rmsprop: smoothing of the squared gradient, in [0, 1) */
    int centered;        /* rmsprop: 0 or 1; divide by the estimated variance */
    double ema; /* every kind: in [0, 1); > 0 keeps a moving average of the parameters beside
                   them (Polyak averaging), state "ema", updated after each step with decay
                   min(ema, (1 + t) / (10 + t)) at step t (starting from the parameters at
                   step 1); 0: none */
} tg_optimizer_config;

typedef struct tg_optimizer tg_optimizer;

/* PyTorch's defaults for a kind (adamw: weight_decay 0.01; others 0). */
tg_optimizer_config tg_optimizer_defaults(tg_optimizer_kind kind);
/* Parse "sgd", "adam", "adamw" or "rmsprop" (any case) into *kind. */
tg_status tg_optimizer_kind_parse(const char *name, tg_optimizer_kind *kind);
/* The lower-case name of a kind ("adamw"), or "?" for an invalid value. */
const char *tg_optimizer_kind_name(tg_optimizer_kind kind);
/* Set one hyper-parameter from text, as a model file gives it ("beta2", "0.99"):
 * an unknown key (TG_ERR_UNKNOWN), a key the kind does not use or a non-number
 * (TG_ERR_ATTR) is an error. */
tg_status tg_optimizer_config_set(tg_optimizer_config *cfg, const char *key, const char *value);
/* Check every field of cfg for its kind; the message names the field and its value,
 * and *bad_setting (may be NULL) gets that setting's index, or -1. */
tg_status tg_optimizer_config_validate(const tg_optimizer_config *cfg, int *bad_setting);

/* The settings (the fields above but kind), as one table: index i in
 * [0, tg_optimizer_setting_count()), its name, which kinds read it, and its value
 * as a number (flags 0 or 1). The model-file parser, checkpoints and the docs all
 * go through this table, so a new setting is added in one place. */
int tg_optimizer_setting_count(void);
const char *tg_optimizer_setting_name(int i);    /* NULL out of range */
int tg_optimizer_setting_find(const char *name); /* -1 when unknown */
int tg_optimizer_setting_used(int i, tg_optimizer_kind kind);
double tg_optimizer_setting_get(const tg_optimizer_config *cfg, int i);
/* Set setting i from a number (a flag must be 0 or 1); ranges are checked by validate. */
tg_status tg_optimizer_setting_put(tg_optimizer_config *cfg, int i, double value);

/* A new optimizer for n parameters with zeroed state; NULL (with tg_last_error()) on a bad
 * config, n < 1, or out of memory. */
tg_optimizer *tg_optimizer_new(const tg_optimizer_config *cfg, int64_t n);
/* Free the optimizer and its state; NULL is allowed. */
void tg_optimizer_free(tg_optimizer *opt);
/* One update of params (n floats) from grads with learning rate lr >= 0; then, with an
 * ema, the average follows: ema = d ema + (1 - d) params (in double, per element). */
tg_status tg_optimizer_step(tg_optimizer *opt, float *params, const float *grads, int64_t n,
                            float lr);
/* Zero the state and the step count, as if freshly created. */
void tg_optimizer_reset(tg_optimizer *opt);
/* The configuration the optimizer was created with. */
const tg_optimizer_config *tg_optimizer_config_of(const tg_optimizer *opt);
/* Number of parameters n the optimizer was created for (the length of each state array). */
int64_t tg_optimizer_size(const tg_optimizer *opt);

/* Checkpoint access: the step count and the state arrays, each of tg_optimizer_size() floats.
 * Saving every array and the step count and writing them back into a fresh optimizer with the
 * same config continues the run bit-identically. */

/* Steps taken so far (Adam's bias correction and SGD's first-step momentum depend on it). */
int64_t tg_optimizer_steps(const tg_optimizer *opt);
/* Set the step count (>= 0), when restoring from a checkpoint. */
tg_status tg_optimizer_set_steps(tg_optimizer *opt, int64_t steps);
/* Number of state arrays: sgd 0 or 1, adam/adamw 2, rmsprop 1 to 3. */
int tg_optimizer_state_count(const tg_optimizer *opt);
/* Name of state array i ("momentum_buffer", "exp_avg", "exp_avg_sq", "square_avg",
 * "grad_avg", as PyTorch names them), or NULL when i is out of range. */
const char *tg_optimizer_state_name(const tg_optimizer *opt, int i);
/* State array i (n floats, read and write), or NULL when i is out of range. */
float *tg_optimizer_state_data(tg_optimizer *opt, int i);
/* Index of the state array with this name, or -1. */
int tg_optimizer_state_find(const tg_optimizer *opt, const char *name);

/* The L2 norm of n gradients, accumulated in double in a fixed order. */
double tg_grad_norm(const float *grads, int64_t n);
/* Scale grads so their global L2 norm is at most max_norm (> 0; +inf only measures) and
 * return the norm before clipping. A NaN or Inf norm is returned as is with grads untouched
 * and a message in tg_last_error(), so the caller can stop; an invalid max_norm returns NaN. */
float tg_clip_grad_norm(float *grads, int64_t n, float max_norm);

TG_API_END

#endif
