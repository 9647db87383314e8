/* Learning-rate schedules: closed forms of the epoch, and reduce-on-plateau as a small
 * state machine that follows torch.optim.lr_scheduler.ReduceLROnPlateau step by step. */
#include "autograd/tg_schedule.h"

#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

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

/* Parse a whole number that fits an int; 0 on success. */
static int parse_int(const char *text, int *out) {
    char *end;
    long v = strtol(text, &end, 10);
    if (end == text || *end != '\0' || v < INT_MIN || v > INT_MAX) return -1;
    *out = (int)v;
    return 0;
}

static int parse_double(const char *text, double *out) {
    char *end;
    double v = strtod(text, &end);
    if (end == text || *end != '\0') return -1;
    *out = v;
    return 0;
}

#define K(kind) (1u << (kind))

enum { VAL_INT, VAL_DOUBLE, VAL_MODE, VAL_THRESHOLD_MODE };

/* The schedule's settings: the one table that the text setter, the model-file
 * parser, the checkpoint writer and loader read (through tg_schedule_setting_*). */
static const struct {
    const char *key;
    unsigned kinds; /* bit k set when kind k reads the field */
    int type;
    size_t offset;
} config_keys[] = {
    {"lr", ~0u, VAL_DOUBLE, offsetof(tg_schedule_config, lr)},
    {"step_size", K(TG_SCHEDULE_STEP), VAL_INT, offsetof(tg_schedule_config, step_size)},
    {"gamma", K(TG_SCHEDULE_STEP) | K(TG_SCHEDULE_EXPONENTIAL), VAL_DOUBLE,
     offsetof(tg_schedule_config, gamma)},
    {"t_max", K(TG_SCHEDULE_COSINE), VAL_INT, offsetof(tg_schedule_config, t_max)},
    {"min_lr", K(TG_SCHEDULE_COSINE) | K(TG_SCHEDULE_PLATEAU), VAL_DOUBLE,
     offsetof(tg_schedule_config, min_lr)},
    {"mode", K(TG_SCHEDULE_PLATEAU), VAL_MODE, offsetof(tg_schedule_config, mode)},
    {"factor", K(TG_SCHEDULE_PLATEAU), VAL_DOUBLE, offsetof(tg_schedule_config, factor)},
    {"patience", K(TG_SCHEDULE_PLATEAU), VAL_INT, offsetof(tg_schedule_config, patience)},
    {"threshold", K(TG_SCHEDULE_PLATEAU), VAL_DOUBLE, offsetof(tg_schedule_config, threshold)},
    {"threshold_mode", K(TG_SCHEDULE_PLATEAU), VAL_THRESHOLD_MODE,
     offsetof(tg_schedule_config, threshold_mode)},
    {"cooldown", K(TG_SCHEDULE_PLATEAU), VAL_INT, offsetof(tg_schedule_config, cooldown)},
};
#define N_KEYS ((int)(sizeof config_keys / sizeof config_keys[0]))

int tg_schedule_setting_count(void) { return N_KEYS; }

const char *tg_schedule_setting_name(int i) {
    return i >= 0 && i < N_KEYS ? config_keys[i].key : NULL;
}

int tg_schedule_setting_find(const char *name) {
    for (int i = 0; name && i < N_KEYS; i++)
        if (strcmp(name, config_keys[i].key) == 0) return i;
    return -1;
}

int tg_schedule_setting_used(int i, tg_schedule_kind kind) {
    return i >= 0 && i < N_KEYS && (int)kind >= 0 && (int)kind < N_KINDS &&
           (config_keys[i].kinds & K(kind)) != 0;
}

double tg_schedule_setting_get(const tg_schedule_config *cfg, int i) {
    if (i < 0 || i >= N_KEYS) return NAN;
    const char *field = (const char *)cfg + config_keys[i].offset;
    switch (config_keys[i].type) {
    case VAL_INT:
        return *(const int *)field;
    case VAL_MODE:
        return cfg->mode == TG_PLATEAU_MAX ? 1.0 : 0.0;
    case VAL_THRESHOLD_MODE:
        return cfg->threshold_mode == TG_THRESHOLD_ABS ? 1.0 : 0.0;
    }
    return *(const double *)field;
}

tg_status tg_schedule_setting_put(tg_schedule_config *cfg, int i, double v) {
    if (i < 0 || i >= N_KEYS) return tg_error(TG_ERR_INVALID, "schedule: no setting number %d", i);
    const char *key = config_keys[i].key;
    char *field = (char *)cfg + config_keys[i].offset;
    int is_int = config_keys[i].type != VAL_DOUBLE;
    double hi = config_keys[i].type == VAL_INT ? INT_MAX : 1.0;
    if (is_int && !(v >= 0.0 && v <= hi && v == floor(v)))
        return tg_error(TG_ERR_ATTR, "schedule %s: %s must be a whole number in [0, %.0f], got %g",
                        tg_schedule_kind_name(cfg->kind), key, hi, v);
    switch (config_keys[i].type) {
    case VAL_INT:
        *(int *)field = (int)v;
        break;
    case VAL_DOUBLE:
        *(double *)field = v;
        break;
    case VAL_MODE:
        cfg->mode = v == 1.0 ? TG_PLATEAU_MAX : TG_PLATEAU_MIN;
        break;
    case VAL_THRESHOLD_MODE:
        cfg->threshold_mode = v == 1.0 ? TG_THRESHOLD_ABS : TG_THRESHOLD_REL;
        break;
    }
    return TG_OK;
}

tg_status tg_schedule_config_set(tg_schedule_config *cfg, const char *key, const char *value) {
    const char *kname = tg_schedule_kind_name(cfg->kind);
    if ((int)cfg->kind < 0 || (int)cfg->kind >= N_KINDS)
        return tg_error(TG_ERR_INVALID, "schedule: kind %d is not a known schedule",
                        (int)cfg->kind);
    int i = tg_schedule_setting_find(key);
    if (i < 0) {
        char known[256] = "";
        for (int k = 0; k < N_KEYS; k++)
            snprintf(known + strlen(known), sizeof known - strlen(known), "%s%s", k ? ", " : "",
                     config_keys[k].key);
        return tg_error(TG_ERR_UNKNOWN, "unknown schedule setting '%s' (known: %s)", key, known);
    }
    if (!(config_keys[i].kinds & K(cfg->kind)))
        return tg_error(TG_ERR_ATTR, "schedule %s does not take '%s'", kname, key);
    if (!value) value = "";
    char *field = (char *)cfg + config_keys[i].offset;
    switch (config_keys[i].type) {
    case VAL_INT:
        if (parse_int(value, (int *)field) != 0)
            return tg_error(TG_ERR_ATTR, "schedule %s: %s=%s is not a whole number", kname, key,
                            value);
        break;
    case VAL_DOUBLE:
        if (parse_double(value, (double *)field) != 0)
            return tg_error(TG_ERR_ATTR, "schedule %s: %s=%s is not a number", kname, key, value);
        break;
    case VAL_MODE:
        if (strcmp(value, "min") != 0 && strcmp(value, "max") != 0)
            return tg_error(TG_ERR_ATTR, "schedule %s: mode must be min or max, got '%s'", kname,
                            value);
        cfg->mode = strcmp(value, "min") == 0 ? TG_PLATEAU_MIN : TG_PLATEAU_MAX;
        break;
    case VAL_THRESHOLD_MODE:
        if (strcmp(value, "rel") != 0 && strcmp(value, "abs") != 0)
            return tg_error(TG_ERR_ATTR, "schedule %s: threshold_mode must be rel or abs, got '%s'",
                            kname, value);
        cfg->threshold_mode = strcmp(value, "rel") == 0 ? TG_THRESHOLD_REL : TG_THRESHOLD_ABS;
        break;
    }
    return TG_OK;
}

/* Record which setting a validation error is about (for the parser's column). */
static tg_status bad(int *bad_setting, const char *key, const char *fmt, ...) {
    if (bad_setting) *bad_setting = tg_schedule_setting_find(key);
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return tg_error(TG_ERR_INVALID, "%s", msg);
}

tg_status tg_schedule_config_validate(const tg_schedule_config *c, int *bad_setting) {
    if (bad_setting) *bad_setting = -1;
    if (!c) return tg_error(TG_ERR_INVALID, "schedule: config is NULL");
    if ((int)c->kind < 0 || (int)c->kind >= N_KINDS)
        return tg_error(TG_ERR_INVALID, "schedule: kind %d is not a known schedule", (int)c->kind);
    const char *k = kind_names[c->kind];
    if (!(c->lr > 0.0 && isfinite(c->lr)))
        return bad(bad_setting, "lr", "%s schedule: lr must be finite and > 0, got %g", k, c->lr);
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
            return bad(bad_setting, "min_lr", "%s schedule: min_lr must be in [0, lr=%g], got %g", k,
                            c->lr, c->min_lr);
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
                            "plateau schedule: threshold must be finite and >= 0, got %g",
                            c->threshold);
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
