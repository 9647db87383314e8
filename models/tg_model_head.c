/* The head lines of a model file: `siamese` (normalisation, distance, loss and the
 * loss op's attributes) and `train` (optimizer, learning rate and schedule, batch,
 * epochs, seed, early stopping, clipping, augmentation), each setting checked where it
 * is written. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/tg_plugin.h"
#include "models/tg_model_parse.h"

static const char *const siamese_keys[] = {"distance", "loss", "normalize", "output"};
/* The train line's own keys; the optimizer's and the schedule's settings come
 * from their tables (tg_optimizer_setting_*, tg_schedule_setting_*). */
static const char *const train_keys[] = {"optimizer", "lr",         "batch", "epochs", "seed",
                                         "schedule",  "early_stop", "clip",  "augment"};

/* true/yes/1 or false/no/0; -1 for anything else. */
static int parse_bool(const char *value) {
    if (!strcmp(value, "true") || !strcmp(value, "yes") || !strcmp(value, "1")) return 1;
    if (!strcmp(value, "false") || !strcmp(value, "no") || !strcmp(value, "0")) return 0;
    return -1;
}

/* ---- plugin lines: plugin NAME ---- */

/* The plugin must be loaded already: a model file names what it needs, it never
 * loads code by itself. Plugin lines come first, so their ops are known below. */
tg_status tg_mp_parse_plugin(tg_mp_parser *p, const tg_mp_token *toks, int n) {
    if (n != 2)
        return tg_mp_error(p, p->line, n > 2 ? toks[2].col : toks[0].col + toks[0].len,
                           TG_ERR_FORMAT, "expected one plugin name: plugin NAME");
    if (p->def->input_line || p->def->n_layers || p->has_siamese || p->has_train)
        return tg_mp_error(p, p->line, toks[0].col, TG_ERR_FORMAT,
                           "plugin lines go first, before the input line and the layers");
    char name[TG_MODEL_MAX_NAME];
    if (!tg_mp_copy(name, sizeof name, toks[1].s, toks[1].len))
        return tg_mp_error(p, p->line, toks[1].col, TG_ERR_LIMIT,
                           "plugin name longer than %d bytes", TG_MODEL_MAX_NAME - 1);
    if (tg_plugin_find(name) < 0)
        return tg_mp_error(p, p->line, toks[1].col, TG_ERR_UNKNOWN,
                           "the model needs plugin '%s', which is not loaded (load its shared "
                           "object, %s.so or lib%s.so, with twingrad --plugin FILE, or "
                           "tg_plugin_load from C)",
                           name, name, name);
    return TG_OK;
}

/* ---- the siamese line ---- */

static tg_status find_head_op(const tg_mp_parser *p, const char *what, const char *value, int col,
                              const tg_op **op) {
    const char *name =
        strcmp(what, "distance") == 0 && strcmp(value, "l2") == 0 ? "l2distance" : value;
    *op = tg_op_find(name);
    if (!*op) {
        const char *near = tg_op_nearest(name);
        return tg_mp_error(p, p->line, col, TG_ERR_UNKNOWN, "unknown %s op '%s'%s%s%s", what, value,
                           near ? " (did you mean '" : "", near ? near : "", near ? "'?)" : "");
    }
    if ((*op)->n_inputs != 2)
        return tg_mp_error(p, p->line, col, TG_ERR_ATTR,
                           "%s op '%s' takes %d input%s; the head needs one taking two (%s)", what,
                           name, (*op)->n_inputs, (*op)->n_inputs == 1 ? "" : "s",
                           strcmp(what, "loss") == 0 ? "distances and labels"
                                                     : "the two embeddings");
    return TG_OK;
}

tg_status tg_mp_parse_siamese(tg_mp_parser *p, const tg_mp_token *toks, int n) {
    tg_model_def *d = p->def;
    char key[TG_MP_MAX_KEY], value[TG_MP_MAX_VALUE];
    int vcol;
    tg_status st;
    if (p->has_siamese)
        return tg_mp_error(p, p->line, toks[0].col, TG_ERR_FORMAT,
                           "a second 'siamese' line (the first is at line %d)", d->siamese_line);
    d->siamese_line = p->line;
    d->siamese_col = toks[0].col;
    p->has_siamese = 1;
    d->distance = tg_op_find("l2distance");
    d->loss = tg_op_find("contrastive");
    /* The loss op first: the other keys are its attributes. */
    for (int i = 1; i < n; i++) {
        if ((st = tg_mp_split_kv(p, &toks[i], key, value, &vcol))) return st;
        if ((st = tg_mp_check_duplicate(p, toks, 1, i, key))) return st;
        if (strcmp(key, "loss") == 0 && (st = find_head_op(p, "loss", value, vcol, &d->loss)))
            return st;
    }
    if (!d->distance || !d->loss)
        return tg_mp_error(p, p->line, toks[0].col, TG_ERR_UNKNOWN,
                           "the registry lacks the default head ops l2distance and contrastive");
    tg_attrs la;
    tg_attrs_init(d->loss, &la);
    int normalize_given = 0;
    char attrs[TG_MODEL_MAX_LINE + 1] = "";
    for (int i = 1; i < n; i++) {
        tg_mp_split_kv(p, &toks[i], key, value, &vcol); /* checked above */
        if (strcmp(key, "loss") == 0) continue;
        if (strcmp(key, "distance") == 0) {
            if ((st = find_head_op(p, "distance", value, vcol, &d->distance))) return st;
        } else if (strcmp(key, "normalize") == 0) {
            if ((d->normalize = parse_bool(value)) < 0)
                return tg_mp_error(p, p->line, vcol, TG_ERR_ATTR,
                                   "siamese normalize: expected true or false, got '%s'", value);
            normalize_given = 1;
        } else if (strcmp(key, "output") == 0) {
            if (!tg_mp_copy(p->output_name, sizeof p->output_name, value, (int)strlen(value)))
                return tg_mp_error(p, p->line, vcol, TG_ERR_LIMIT,
                                   "layer name longer than %d bytes", TG_MODEL_MAX_NAME - 1);
            p->output_line = p->line;
            p->output_col = vcol;
        } else if (tg_op_attr_index(d->loss, key) >= 0) {
            if (tg_attrs_set(d->loss, &la, key, value)) {
                char what[128];
                snprintf(what, sizeof what, "siamese (loss %s): ", d->loss->name);
                return tg_mp_error_ctx(p, p->line, vcol, TG_ERR_ATTR, what);
            }
            size_t used = strlen(attrs);
            snprintf(attrs + used, sizeof attrs - used, "%s%.*s", used ? " " : "", toks[i].len,
                     toks[i].s);
        } else {
            const char *names[TG_MP_COUNT(siamese_keys) + TG_MAX_ATTRS];
            int k = 0;
            for (int j = 0; j < TG_MP_COUNT(siamese_keys); j++) names[k++] = siamese_keys[j];
            for (int j = 0; j < d->loss->n_attrs; j++) names[k++] = d->loss->attrs[j].name;
            const char *near = tg_nearest_name(key, names, k);
            char list[512] = "distance, loss, normalize, output";
            for (int j = 0; j < d->loss->n_attrs; j++) {
                size_t used = strlen(list);
                snprintf(list + used, sizeof list - used, ", %s", d->loss->attrs[j].name);
            }
            if (near)
                return tg_mp_error(p, p->line, toks[i].col, TG_ERR_ATTR,
                                   "unknown siamese setting '%s' (did you mean '%s'?)", key, near);
            return tg_mp_error(p, p->line, toks[i].col, TG_ERR_ATTR,
                               "unknown siamese setting '%s' (expected one of: %s)", key, list);
        }
    }
    if (!normalize_given)
        return tg_mp_error(
            p, p->line, toks[0].col, TG_ERR_ATTR,
            "the siamese line needs normalize=true or normalize=false (true scales both "
            "embeddings to unit length so distances lie in [0, 2] and a margin of 1 "
            "bites; see docs/model-format.md)");
    if (tg_attrs_check(d->loss, &la)) {
        char what[128];
        snprintf(what, sizeof what, "siamese (loss %s): ", d->loss->name);
        return tg_mp_error_ctx(p, p->line, toks[0].col, TG_ERR_ATTR, what);
    }
    d->loss_attrs = tg_mp_dup(attrs, strlen(attrs));
    if (!d->loss_attrs) return tg_error(TG_ERR_NOMEM, "out of memory parsing %s", p->src);
    d->loss_parsed = la;
    return TG_OK;
}

/* ---- the train line ---- */

/* The column of setting `key` on the line, or `fallback` when it is not written
 * there (a validation error then points at the optimizer or schedule). */
static int col_of_key(const tg_mp_token *toks, int n, const char *key, int fallback) {
    size_t kl = key ? strlen(key) : 0;
    for (int i = 1; key && i < n; i++) {
        const char *eq = memchr(toks[i].s, '=', (size_t)toks[i].len);
        if (eq && (size_t)(eq - toks[i].s) == kl && strncmp(toks[i].s, key, kl) == 0)
            return toks[i].col;
    }
    return fallback;
}

/* One schedule setting, key=value from token `tok`: a setting the schedule's kind does
 * not read is an error at the key, a bad value one at the value; `pre` starts the
 * message ("train: " on the train line). */
static tg_status schedule_setting(const tg_mp_parser *p, const tg_mp_token *tok, const char *key,
                                  const char *value, int vcol, tg_schedule_config *c,
                                  const char *pre) {
    int used = tg_schedule_setting_used(tg_schedule_setting_find(key), c->kind);
    if (tg_schedule_config_set(c, key, value))
        return tg_mp_error_ctx(p, p->line, used ? vcol : tok->col, TG_ERR_ATTR, pre);
    return TG_OK;
}

/* The schedule as a whole, once its settings are read (tokens [1, n) of the line):
 * step_size and t_max have no usable default, so one not written is named as missing
 * (validation alone would report the 0 it defaults to), then every setting is
 * validated, an error pointing at the setting's key or else at `kind_col`. */
static tg_status schedule_finish(const tg_mp_parser *p, const tg_mp_token *toks, int n,
                                 int kind_col, const tg_schedule_config *c, const char *pre) {
    const char *need = c->kind == TG_SCHEDULE_STEP     ? "step_size"
                       : c->kind == TG_SCHEDULE_COSINE ? "t_max"
                                                       : NULL;
    if (need && !col_of_key(toks, n, need, 0))
        return tg_mp_error(p, p->line, kind_col, TG_ERR_ATTR, "%sthe %s schedule needs %s=N (%s)",
                           pre, tg_schedule_kind_name(c->kind), need,
                           c->kind == TG_SCHEDULE_STEP ? "epochs between cuts of the rate by gamma"
                                                       : "epochs from lr down to min_lr");
    int bad;
    if (tg_schedule_config_validate(c, &bad))
        return tg_mp_error_ctx(p, p->line,
                               col_of_key(toks, n, tg_schedule_setting_name(bad), kind_col),
                               TG_ERR_ATTR, pre);
    return TG_OK;
}

/* The nearest known train setting to a misspelt `key`, over the line's own keys and
 * the optimizer's and schedule's tables. */
static const char *nearest_train_key(const char *key) {
    const char *names[64];
    int n = 0;
    for (int i = 0; i < TG_MP_COUNT(train_keys); i++) names[n++] = train_keys[i];
    for (int i = 0; i < tg_optimizer_setting_count() && n < 64; i++)
        names[n++] = tg_optimizer_setting_name(i);
    for (int i = 0; i < tg_schedule_setting_count() && n < 64; i++)
        names[n++] = tg_schedule_setting_name(i);
    return tg_nearest_name(key, names, n);
}

tg_status tg_mp_parse_train(tg_mp_parser *p, const tg_mp_token *toks, int n) {
    tg_model_def *d = p->def;
    tg_model_train *t = &d->train;
    char key[TG_MP_MAX_KEY], value[TG_MP_MAX_VALUE];
    int vcol, optim_col = 0, sched_col = 0;
    tg_status st;
    if (p->has_train)
        return tg_mp_error(p, p->line, toks[0].col, TG_ERR_FORMAT,
                           "a second 'train' line (the first is at line %d)", d->train_line);
    p->has_train = 1;
    d->train_line = p->line;
    tg_optimizer_kind ok = TG_OPTIM_ADAM;
    tg_schedule_kind sk = TG_SCHEDULE_CONSTANT;
    /* The kinds and lr first: the other keys depend on them. */
    for (int i = 1; i < n; i++) {
        if ((st = tg_mp_split_kv(p, &toks[i], key, value, &vcol))) return st;
        if ((st = tg_mp_check_duplicate(p, toks, 1, i, key))) return st;
        if (strcmp(key, "optimizer") == 0) {
            if (tg_optimizer_kind_parse(value, &ok))
                return tg_mp_error(
                    p, p->line, vcol, TG_ERR_ATTR,
                    "train optimizer: expected one of sgd, adam, adamw, rmsprop, got '%s'", value);
            optim_col = toks[i].col;
        } else if (strcmp(key, "schedule") == 0) {
            if (tg_schedule_kind_parse(value, &sk))
                return tg_mp_error(
                    p, p->line, vcol, TG_ERR_ATTR,
                    "train schedule: expected one of constant, step, exponential, cosine, "
                    "plateau, got '%s'",
                    value);
            sched_col = toks[i].col;
        } else if (strcmp(key, "lr") == 0) {
            if (!tg_mp_parse_double(value, &t->lr) || !(t->lr > 0.0))
                return tg_mp_error(p, p->line, vcol, TG_ERR_ATTR,
                                   "train lr: expected a finite number > 0, got '%s'", value);
        }
    }
    t->optim = tg_optimizer_defaults(ok);
    t->schedule = tg_schedule_defaults(sk, t->lr);
    for (int i = 1; i < n; i++) {
        tg_mp_split_kv(p, &toks[i], key, value, &vcol); /* checked above */
        long long v;
        if (strcmp(key, "optimizer") == 0 || strcmp(key, "schedule") == 0 || strcmp(key, "lr") == 0)
            continue;
        if (strcmp(key, "batch") == 0) {
            if (!tg_mp_parse_int(value, 1, 1 << 20, &v))
                return tg_mp_error(p, p->line, vcol, TG_ERR_ATTR,
                                   "train batch: expected a whole number in [1, %d], got '%s'",
                                   1 << 20, value);
            t->batch = (int)v;
        } else if (strcmp(key, "epochs") == 0) {
            if (!tg_mp_parse_int(value, 1, 1 << 24, &v))
                return tg_mp_error(p, p->line, vcol, TG_ERR_ATTR,
                                   "train epochs: expected a whole number in [1, %d], got '%s'",
                                   1 << 24, value);
            t->epochs = (int)v;
        } else if (strcmp(key, "early_stop") == 0) {
            if (!tg_mp_parse_int(value, 0, 1 << 24, &v))
                return tg_mp_error(
                    p, p->line, vcol, TG_ERR_ATTR,
                    "train early_stop: expected a number of epochs in [0, %d] (0: off), "
                    "got '%s'",
                    1 << 24, value);
            t->early_stop = (int)v;
        } else if (strcmp(key, "seed") == 0) {
            char *end;
            errno = 0;
            unsigned long long s = strtoull(value, &end, 10);
            if (!isdigit((unsigned char)value[0]) || *end || errno)
                return tg_mp_error(p, p->line, vcol, TG_ERR_ATTR,
                                   "train seed: expected a whole number in [0, 2^64), got '%s'",
                                   value);
            t->seed = (uint64_t)s;
        } else if (strcmp(key, "clip") == 0) {
            if (!tg_mp_parse_double(value, &t->clip) || t->clip < 0.0)
                return tg_mp_error(p, p->line, vcol, TG_ERR_ATTR,
                                   "train clip: expected a finite number >= 0 (0: off), got '%s'",
                                   value);
        } else if (strcmp(key, "augment") == 0) {
            if ((t->augment = parse_bool(value)) < 0)
                return tg_mp_error(p, p->line, vcol, TG_ERR_ATTR,
                                   "train augment: expected true or false, got '%s'", value);
        } else {
            int oi = tg_optimizer_setting_find(key), si = tg_schedule_setting_find(key);
            if (oi < 0 && si < 0) {
                const char *near = nearest_train_key(key);
                if (near)
                    return tg_mp_error(p, p->line, toks[i].col, TG_ERR_ATTR,
                                       "unknown train setting '%s' (did you mean '%s'?)", key,
                                       near);
                return tg_mp_error(
                    p, p->line, toks[i].col, TG_ERR_ATTR,
                    "unknown train setting '%s' (expected optimizer, lr, batch, epochs, "
                    "seed, schedule, early_stop, clip, augment, or an optimizer or schedule "
                    "setting; see docs/model-format.md)",
                    key);
            }
            /* A setting the chosen kind does not read is an error at the key; a bad
             * value is an error at the value. */
            if (oi < 0) {
                if ((st = schedule_setting(p, &toks[i], key, value, vcol, &t->schedule, "train: ")))
                    return st;
            } else if (tg_optimizer_config_set(&t->optim, key, value)) {
                return tg_mp_error_ctx(p, p->line,
                                       tg_optimizer_setting_used(oi, ok) ? vcol : toks[i].col,
                                       TG_ERR_ATTR, "train: ");
            }
        }
    }
    t->schedule.lr = t->lr;
    int bad;
    if (tg_optimizer_config_validate(&t->optim, &bad))
        return tg_mp_error_ctx(p, p->line,
                               col_of_key(toks, n, tg_optimizer_setting_name(bad),
                                          optim_col ? optim_col : toks[0].col),
                               TG_ERR_ATTR, "train: ");
    return schedule_finish(p, toks, n, sched_col ? sched_col : toks[0].col, &t->schedule,
                           "train: ");
}

/* ---- a schedule on its own: KIND key=value ... ---- */

/* A key that is no schedule setting: the nearest one, or the list (lr left out). */
static tg_status unknown_schedule_setting(const tg_mp_parser *p, const tg_mp_token *tok,
                                          const char *key) {
    const char *names[64];
    char list[512] = "";
    int k = 0;
    for (int j = 0; j < tg_schedule_setting_count() && k < 64; j++) {
        const char *name = tg_schedule_setting_name(j);
        if (strcmp(name, "lr") == 0) continue;
        names[k++] = name;
        size_t used = strlen(list);
        snprintf(list + used, sizeof list - used, "%s%s", used ? ", " : "", name);
    }
    const char *near = tg_nearest_name(key, names, k);
    if (near)
        return tg_mp_error(p, p->line, tok->col, TG_ERR_ATTR,
                           "unknown schedule setting '%s' (did you mean '%s'?)", key, near);
    return tg_mp_error(p, p->line, tok->col, TG_ERR_ATTR,
                       "unknown schedule setting '%s' (expected one of: %s)", key, list);
}

tg_status tg_model_schedule_parse(const char *src, const char *text, double lr,
                                  tg_schedule_config *out) {
    if (!text || !out)
        return tg_error(TG_ERR_INVALID, "tg_model_schedule_parse: text and out are required");
    tg_mp_parser p = {.src = src ? src : "schedule", .line = 1};
    size_t len = strlen(text);
    if (len > TG_MODEL_MAX_LINE)
        return tg_mp_error(&p, 1, TG_MODEL_MAX_LINE + 1, TG_ERR_LIMIT, "longer than %d bytes",
                           TG_MODEL_MAX_LINE);
    tg_mp_token toks[TG_MODEL_MAX_LINE / 2 + 1];
    int n;
    tg_status st = tg_mp_tokenize(&p, text, (int)len, 0, toks, TG_MP_COUNT(toks), &n);
    if (st) return st;
    char key[TG_MP_MAX_KEY], value[TG_MP_MAX_VALUE];
    tg_schedule_kind sk;
    if (n == 0 || !tg_mp_copy(value, sizeof value, toks[0].s, toks[0].len) ||
        tg_schedule_kind_parse(value, &sk))
        return tg_mp_error(&p, 1, n ? toks[0].col : 1, TG_ERR_ATTR,
                           "schedule: expected one of constant, step, exponential, cosine, "
                           "plateau, got '%.*s'",
                           n ? toks[0].len : 0, n ? toks[0].s : "");
    int vcol;
    /* As on the train line: every token's form and repeats first, then the values. */
    for (int i = 1; i < n; i++) {
        if ((st = tg_mp_split_kv(&p, &toks[i], key, value, &vcol))) return st;
        if ((st = tg_mp_check_duplicate(&p, toks, 1, i, key))) return st;
    }
    tg_schedule_config c = tg_schedule_defaults(sk, lr);
    for (int i = 1; i < n; i++) {
        tg_mp_split_kv(&p, &toks[i], key, value, &vcol); /* checked above */
        /* lr is the train line's (or --lr): it is not the schedule's to set here. */
        if (strcmp(key, "lr") == 0)
            return tg_mp_error(&p, 1, toks[i].col, TG_ERR_ATTR,
                               "unknown schedule setting 'lr' (the rate is the train line's lr= "
                               "or the command line's --lr)");
        if (tg_schedule_setting_find(key) < 0) return unknown_schedule_setting(&p, &toks[i], key);
        if ((st = schedule_setting(&p, &toks[i], key, value, vcol, &c, ""))) return st;
    }
    if ((st = schedule_finish(&p, toks, n, toks[0].col, &c, ""))) return st;
    *out = c;
    return TG_OK;
}
