/* Settings tables (see tg_setting.h). */
#include "autograd/tg_setting.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/tg_names.h"

int tg_settings_find(const tg_settings *t, const char *name) {
    for (int i = 0; name && i < t->n; i++)
        if (strcmp(name, t->items[i].key) == 0) return i;
    return -1;
}

int tg_settings_used(const tg_settings *t, int i, int kind) {
    return i >= 0 && i < t->n && kind >= 0 && kind < 32 && (t->items[i].kinds & (1u << kind));
}

double tg_settings_get(const tg_settings *t, const void *cfg, int i) {
    if (i < 0 || i >= t->n) return NAN;
    const char *field = (const char *)cfg + t->items[i].offset;
    return t->items[i].type == TG_SETTING_REAL ? *(const double *)field : *(const int *)field;
}

tg_status tg_settings_put(const tg_settings *t, void *cfg, int i, double v, const char *kind_name) {
    if (i < 0 || i >= t->n)
        return tg_error(TG_ERR_INVALID, "%s: no setting number %d", t->owner, i);
    const tg_setting *s = &t->items[i];
    char *field = (char *)cfg + s->offset;
    if (s->type == TG_SETTING_REAL) {
        *(double *)field = v;
        return TG_OK;
    }
    int n_choices = 1;
    if (s->type == TG_SETTING_CHOICE)
        for (const char *p = s->choices; *p; p++) n_choices += *p == '|';
    double hi = s->type == TG_SETTING_INT    ? INT_MAX
                : s->type == TG_SETTING_FLAG ? 1
                                             : n_choices - 1;
    if (!(v >= 0.0 && v <= hi && v == floor(v)))
        return tg_error(TG_ERR_ATTR, "%s %s: %s must be a whole number in [0, %.0f], got %g",
                        t->owner, kind_name, s->key, hi, v);
    *(int *)field = (int)v;
    return TG_OK;
}

tg_status tg_settings_set_text(const tg_settings *t, void *cfg, int kind, const char *kind_name,
                               const char *key, const char *value) {
    int i = tg_settings_find(t, key);
    if (i < 0) {
        char known[320] = "";
        for (int k = 0; k < t->n; k++)
            snprintf(known + strlen(known), sizeof known - strlen(known), "%s%s", k ? ", " : "",
                     t->items[k].key);
        return tg_error(TG_ERR_UNKNOWN, "unknown %s setting '%s' (known: %s)", t->owner, key,
                        known);
    }
    if (!tg_settings_used(t, i, kind))
        return tg_error(TG_ERR_ATTR, "%s %s does not take '%s'", t->owner, kind_name, key);
    const tg_setting *s = &t->items[i];
    if (!value) value = "";
    char *end;
    errno = 0;
    switch (s->type) {
    case TG_SETTING_REAL: {
        double v = strtod(value, &end);
        if (end == value || *end)
            return tg_error(TG_ERR_ATTR, "%s %s: %s=%s is not a number", t->owner, kind_name, key,
                            value);
        return tg_settings_put(t, cfg, i, v, kind_name);
    }
    case TG_SETTING_INT:
    case TG_SETTING_FLAG: {
        long v = strtol(value, &end, 10);
        if (end == value || *end || errno || v < INT_MIN || v > INT_MAX)
            return tg_error(TG_ERR_ATTR, "%s %s: %s=%s is not a whole number", t->owner, kind_name,
                            key, value);
        if (s->type == TG_SETTING_FLAG && v != 0 && v != 1)
            return tg_error(TG_ERR_ATTR, "%s %s: %s must be 0 or 1, got %s", t->owner, kind_name,
                            key, value);
        *(int *)((char *)cfg + s->offset) = (int)v;
        return TG_OK;
    }
    case TG_SETTING_CHOICE: {
        int c = tg_choice_index(s->choices, value);
        if (c < 0) {
            char list[64];
            snprintf(list, sizeof list, "%s", s->choices);
            for (char *p = list; *p; p++)
                if (*p == '|') *p = '/';
            return tg_error(TG_ERR_ATTR, "%s %s: %s must be one of %s, got '%s'", t->owner,
                            kind_name, key, list, value);
        }
        *(int *)((char *)cfg + s->offset) = c;
        return TG_OK;
    }
    }
    return TG_OK;
}

tg_status tg_settings_invalid(const tg_settings *t, int *bad_setting, const char *key,
                              const char *fmt, ...) {
    if (bad_setting) *bad_setting = tg_settings_find(t, key);
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return tg_error(TG_ERR_INVALID, "%s", msg);
}
