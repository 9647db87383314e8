/* Learning-rate schedules: closed forms of the epoch, and reduce-on-plateau as a small
 * state machine that follows torch.optim.lr_scheduler.ReduceLROnPlateau step by step. */
#include "autograd/tg_schedule.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "autograd/tg_setting.h"

static const char *const kind_names[] = {"constant", "step", "exponential", "cosine", "plateau"};
#define N_KINDS ((int)(sizeof kind_names / sizeof kind_names[0]))

static const char *const plateau_state_names[] = {"lr", "best", "bad_epochs", "cooldown_left"};
#define N_PLATEAU_STATE 4

tg_schedule_config tg_schedule_defaults(tg_schedule_kind kind, double lr) {
    tg_schedule_config c = {0};
    c.kind = kind;
    c.lr = lr;
    c.gamma = kind == TG_SCHEDULE_EXPONENTIAL ? 0.95 : 0.1;
    c.mode = TG_PLATEAU_MIN;
    c.factor = 0.1;
    c.patience = 10;
    c.threshold = 1e-4;
    c.threshold_mode = TG_THRESHOLD_REL;
    return c;
}

tg_status tg_schedule_kind_parse(const char *name, tg_schedule_kind *kind) {
    for (int k = 0; name && k < N_KINDS; k++) {
        if (strcasecmp(name, kind_names[k]) == 0) {
            *kind = (tg_schedule_kind)k;
            return TG_OK;
        }
    }
    return tg_error(TG_ERR_UNKNOWN,
                    "unknown schedule '%s' (expected constant, step, exponential, cosine or "
                    "plateau)",
                    name ? name : "(null)");
}

const char *tg_schedule_kind_name(tg_schedule_kind kind) {
    return (int)kind >= 0 && (int)kind < N_KINDS ? kind_names[kind] : "?";
}

#define K(kind) (1u << (kind))

/* The schedule's settings: the one table that the text setter, the model-file
 * parser, the checkpoint writer and loader read (through tg_schedule_setting_*). */
static const tg_setting config_keys[] = {
    {"lr", ~0u, TG_SETTING_REAL, offsetof(tg_schedule_config, lr), NULL},
    {"step_size", K(TG_SCHEDULE_STEP), TG_SETTING_INT, offsetof(tg_schedule_config, step_size),
     NULL},
    {"gamma", K(TG_SCHEDULE_STEP) | K(TG_SCHEDULE_EXPONENTIAL), TG_SETTING_REAL,
     offsetof(tg_schedule_config, gamma), NULL},
    {"t_max", K(TG_SCHEDULE_COSINE), TG_SETTING_INT, offsetof(tg_schedule_config, t_max), NULL},
    {"min_lr", K(TG_SCHEDULE_COSINE) | K(TG_SCHEDULE_PLATEAU), TG_SETTING_REAL,
     offsetof(tg_schedule_config, min_lr), NULL},
    {"mode", K(TG_SCHEDULE_PLATEAU), TG_SETTING_CHOICE, offsetof(tg_schedule_config, mode),
     "min|max"}, /* the order of tg_plateau_mode */
    {"factor", K(TG_SCHEDULE_PLATEAU), TG_SETTING_REAL, offsetof(tg_schedule_config, factor), NULL},
    {"patience", K(TG_SCHEDULE_PLATEAU), TG_SETTING_INT, offsetof(tg_schedule_config, patience),
     NULL},
    {"threshold", K(TG_SCHEDULE_PLATEAU), TG_SETTING_REAL, offsetof(tg_schedule_config, threshold),
     NULL},
    {"threshold_mode", K(TG_SCHEDULE_PLATEAU), TG_SETTING_CHOICE,
     offsetof(tg_schedule_config, threshold_mode), "rel|abs"}, /* tg_threshold_mode */
    {"cooldown", K(TG_SCHEDULE_PLATEAU), TG_SETTING_INT, offsetof(tg_schedule_config, cooldown),
     NULL},
    {"warmup", ~0u, TG_SETTING_INT, offsetof(tg_schedule_config, warmup), NULL},
};
static const tg_settings settings = {config_keys, (int)(sizeof config_keys / sizeof config_keys[0]),
                                     "schedule"};

int tg_schedule_setting_count(void) {
    return settings.n;
}
const char *tg_schedule_setting_name(int i) {
    return i >= 0 && i < settings.n ? config_keys[i].key : NULL;
}
int tg_schedule_setting_find(const char *name) {
    return tg_settings_find(&settings, name);
}
int tg_schedule_setting_used(int i, tg_schedule_kind kind) {
    return tg_settings_used(&settings, i, (int)kind);
}
double tg_schedule_setting_get(const tg_schedule_config *cfg, int i) {
    return tg_settings_get(&settings, cfg, i);
}
tg_status tg_schedule_setting_put(tg_schedule_config *cfg, int i, double v) {
    return tg_settings_put(&settings, cfg, i, v, tg_schedule_kind_name(cfg->kind));
}

tg_status tg_schedule_config_set(tg_schedule_config *cfg, const char *key, const char *value) {
    if ((int)cfg->kind < 0 || (int)cfg->kind >= N_KINDS)
        return tg_error(TG_ERR_INVALID, "schedule: kind %d is not a known schedule",
                        (int)cfg->kind);
    return tg_settings_set_text(&settings, cfg, (int)cfg->kind, tg_schedule_kind_name(cfg->kind),
                                key, value);
}

/* A validation error about setting `key`: its index goes to *bad_setting. */
#define bad(bad_setting, key, ...) tg_settings_invalid(&settings, bad_setting, key, __VA_ARGS__)

tg_status tg_schedule_config_validate(const tg_schedule_config *c, int *bad_setting) {
    if (bad_setting) *bad_setting = -1;
    if (!c) return tg_error(TG_ERR_INVALID, "schedule: config is NULL");
    if ((int)c->kind < 0 || (int)c->kind >= N_KINDS)
        return tg_error(TG_ERR_INVALID, "schedule: kind %d is not a known schedule", (int)c->kind);
    const char *k = kind_names[c->kind];
    if (!(c->lr > 0.0 && isfinite(c->lr)))
        return bad(bad_setting, "lr", "%s schedule: lr must be finite and > 0, got %g", k, c->lr);
    if (c->warmup < 0)
        return bad(bad_setting, "warmup", "%s schedule: warmup must be >= 0 epochs, got %d", k,
                   c->warmup);
    switch (c->kind) {
    case TG_SCHEDULE_CONSTANT:
        break;
    case TG_SCHEDULE_STEP:
    case TG_SCHEDULE_EXPONENTIAL:
        if (c->kind == TG_SCHEDULE_STEP && c->step_size < 1)
            return bad(bad_setting, "step_size", "step schedule: step_size must be >= 1, got %d",
                       c->step_size);
        if (!(c->gamma > 0.0 && c->gamma <= 1.0))
            return bad(bad_setting, "gamma", "%s schedule: gamma must be in (0,1], got %g", k,
                       c->gamma);
        break;
    case TG_SCHEDULE_COSINE:
    case TG_SCHEDULE_PLATEAU:
        if (!(c->min_lr >= 0.0 && c->min_lr <= c->lr))
            return bad(bad_setting, "min_lr", "%s schedule: min_lr must be in [0, lr=%g], got %g",
                       k, c->lr, c->min_lr);
        if (c->kind == TG_SCHEDULE_COSINE) {
            if (c->t_max < 1)
                return bad(bad_setting, "t_max", "cosine schedule: t_max must be >= 1, got %d",
                           c->t_max);
            break;
        }
        if (c->mode != TG_PLATEAU_MIN && c->mode != TG_PLATEAU_MAX)
            return bad(bad_setting, "mode", "plateau schedule: mode must be min or max, got %d",
                       (int)c->mode);
        if (!(c->factor > 0.0 && c->factor < 1.0))
            return bad(bad_setting, "factor", "plateau schedule: factor must be in (0,1), got %g",
                       c->factor);
        if (c->patience < 0)
            return bad(bad_setting, "patience", "plateau schedule: patience must be >= 0, got %d",
                       c->patience);
        if (!(c->threshold >= 0.0 && isfinite(c->threshold)))
            return bad(bad_setting, "threshold",
                       "plateau schedule: threshold must be finite and >= 0, got %g", c->threshold);
        if (c->threshold_mode != TG_THRESHOLD_REL && c->threshold_mode != TG_THRESHOLD_ABS)
            return bad(bad_setting, "threshold_mode",
                       "plateau schedule: threshold_mode must be rel or abs, got %d",
                       (int)c->threshold_mode);
        if (c->cooldown < 0)
            return bad(bad_setting, "cooldown", "plateau schedule: cooldown must be >= 0, got %d",
                       c->cooldown);
        break;
    }
    return TG_OK;
}

tg_status tg_schedule_init(tg_schedule *s, const tg_schedule_config *cfg) {
    tg_status st = tg_schedule_config_validate(cfg, NULL);
    if (st != TG_OK) return st;
    memset(s, 0, sizeof *s);
    s->cfg = *cfg;
    s->lr = cfg->lr;
    s->best = cfg->mode == TG_PLATEAU_MIN ? INFINITY : -INFINITY;
    return TG_OK;
}

double tg_schedule_lr(const tg_schedule *s, int epoch) {
    const tg_schedule_config *c = &s->cfg;
    double e = epoch < 0 ? 0.0 : (double)epoch;
    switch (c->kind) {
    case TG_SCHEDULE_CONSTANT:
        return c->lr;
    case TG_SCHEDULE_STEP:
        return c->lr * pow(c->gamma, floor(e / c->step_size));
    case TG_SCHEDULE_EXPONENTIAL:
        return c->lr * pow(c->gamma, e);
    case TG_SCHEDULE_COSINE:
        return c->min_lr + (c->lr - c->min_lr) * (1.0 + cos(M_PI * e / c->t_max)) / 2.0;
    case TG_SCHEDULE_PLATEAU:
        return s->lr;
    }
    return c->lr;
}

double tg_schedule_step_lr(const tg_schedule *s, int epoch, int step, int steps) {
    double lr = tg_schedule_lr(s, epoch);
    if (s->cfg.warmup <= 0 || steps < 1) return lr;
    /* Adam's first steps move every weight by about lr whatever its gradient's size (the
     * second-moment estimate has seen one or two batches): the ramp keeps them small. */
    double done = (double)(epoch < 0 ? 0 : epoch) * steps + (step < 0 ? 0 : step) + 1;
    double total = (double)s->cfg.warmup * steps;
    return done < total ? lr * done / total : lr;
}

/* ReduceLROnPlateau._is_better */
static int plateau_is_better(const tg_schedule_config *c, double metric, double best) {
    if (c->mode == TG_PLATEAU_MIN)
        return c->threshold_mode == TG_THRESHOLD_REL ? metric < best * (1.0 - c->threshold)
                                                     : metric < best - c->threshold;
    return c->threshold_mode == TG_THRESHOLD_REL ? metric > best * (1.0 + c->threshold)
                                                 : metric > best + c->threshold;
}

tg_status tg_schedule_observe(tg_schedule *s, double metric) {
    const tg_schedule_config *c = &s->cfg;
    if (c->kind != TG_SCHEDULE_PLATEAU) return TG_OK;
    if (!isfinite(metric))
        return tg_error(TG_ERR_NUMERIC,
                        "plateau schedule: the observed metric is %s; the run has diverged",
                        isnan(metric) ? "NaN" : "Inf");
    if (plateau_is_better(c, metric, s->best)) {
        s->best = metric;
        s->bad_epochs = 0;
    } else {
        s->bad_epochs++;
    }
    if (s->cooldown_left > 0) {
        s->cooldown_left--;
        s->bad_epochs = 0;
    }
    if (s->bad_epochs > c->patience) {
        double new_lr = fmax(s->lr * c->factor, c->min_lr);
        if (s->lr - new_lr > TG_PLATEAU_EPS) s->lr = new_lr;
        s->cooldown_left = c->cooldown;
        s->bad_epochs = 0;
    }
    return TG_OK;
}

int tg_schedule_state_count(const tg_schedule *s) {
    return s->cfg.kind == TG_SCHEDULE_PLATEAU ? N_PLATEAU_STATE : 0;
}

const char *tg_schedule_state_name(const tg_schedule *s, int i) {
    return i >= 0 && i < tg_schedule_state_count(s) ? plateau_state_names[i] : NULL;
}

double tg_schedule_state_get(const tg_schedule *s, int i) {
    if (i < 0 || i >= tg_schedule_state_count(s)) return NAN;
    switch (i) {
    case 0:
        return s->lr;
    case 1:
        return s->best;
    case 2:
        return (double)s->bad_epochs;
    default:
        return (double)s->cooldown_left;
    }
}

tg_status tg_schedule_state_set(tg_schedule *s, int i, double v) {
    if (i < 0 || i >= tg_schedule_state_count(s))
        return tg_error(TG_ERR_INVALID, "%s schedule: no state value %d",
                        tg_schedule_kind_name(s->cfg.kind), i);
    const char *name = plateau_state_names[i];
    switch (i) {
    case 0:
        if (!(v > 0.0 && isfinite(v)))
            return tg_error(TG_ERR_INVALID,
                            "plateau schedule: state %s must be finite and > 0, got %g", name, v);
        s->lr = v;
        break;
    case 1:
        if (isnan(v))
            return tg_error(TG_ERR_INVALID, "plateau schedule: state %s must not be NaN", name);
        s->best = v;
        break;
    default:
        if (!(v >= 0.0 && v <= 9007199254740992.0 && v == floor(v)))
            return tg_error(TG_ERR_INVALID,
                            "plateau schedule: state %s must be a whole number >= 0, got %g", name,
                            v);
        if (i == 2)
            s->bad_epochs = (int64_t)v;
        else
            s->cooldown_left = (int64_t)v;
        break;
    }
    return TG_OK;
}
