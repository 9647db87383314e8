/* Typed op attributes: parsed from model-file text through each op's schema, so a
 * new op needs no parser change. A typo is an error, never a silent default. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/tg_op.h"

int tg_op_attr_index(const tg_op *op, const char *name) {
    for (int i = 0; i < op->n_attrs; i++)
        if (strcmp(op->attrs[i].name, name) == 0) return i;
    return -1;
}

void tg_attrs_init(const tg_op *op, tg_attrs *attrs) {
    memset(attrs, 0, sizeof *attrs);
    for (int i = 0; i < op->n_attrs; i++)
        if (op->attrs[i].default_value) {
            /* Defaults are checked at registration, so this cannot fail for a
             * registered op; `given` stays clear for defaulted attributes. */
            tg_attrs_set(op, attrs, op->attrs[i].name, op->attrs[i].default_value);
        }
    attrs->given = 0;
}

tg_status tg_attrs_set(const tg_op *op, tg_attrs *attrs, const char *key, const char *value) {
    int i = tg_op_attr_index(op, key);
    if (i < 0) {
        const char *names[TG_MAX_ATTRS] = {0};
        for (int k = 0; k < op->n_attrs; k++) names[k] = op->attrs[k].name;
        const char *near = tg_nearest_name(key, names, op->n_attrs);
        if (near)
            return tg_error(TG_ERR_ATTR, "unknown attribute '%s' (did you mean '%s'?)", key, near);
        if (op->n_attrs == 0)
            return tg_error(TG_ERR_ATTR, "unknown attribute '%s': op '%s' takes no attributes", key,
                            op->name);
        char list[512] = "";
        for (int k = 0; k < op->n_attrs; k++) {
            strncat(list, k ? ", " : "", sizeof list - strlen(list) - 1);
            strncat(list, names[k], sizeof list - strlen(list) - 1);
        }
        return tg_error(TG_ERR_ATTR, "unknown attribute '%s' (op '%s' takes: %s)", key, op->name,
                        list);
    }
    const tg_attr_spec *a = &op->attrs[i];
    if (!value || !value[0]) return tg_error(TG_ERR_ATTR, "attribute '%s' needs a value", key);
    char *end;
    errno = 0;
    switch (a->type) {
    case TG_ATTR_INT: {
        long long v = strtoll(value, &end, 10);
        if (*end || errno)
            return tg_error(TG_ERR_ATTR, "attribute '%s': expected an integer, got '%s'", key,
                            value);
        if ((double)v < a->min || (double)v > a->max)
            return tg_error(TG_ERR_ATTR, "attribute '%s' = %lld is out of range [%g, %g]", key, v,
                            a->min, a->max);
        attrs->v[i].i = v;
        break;
    }
    case TG_ATTR_FLOAT: {
        double v = strtod(value, &end);
        if (*end || errno || !isfinite(v))
            return tg_error(TG_ERR_ATTR, "attribute '%s': expected a finite number, got '%s'", key,
                            value);
        if (v < a->min || v > a->max)
            return tg_error(TG_ERR_ATTR, "attribute '%s' = %g is out of range [%g, %g]", key, v,
                            a->min, a->max);
        attrs->v[i].f = v;
        break;
    }
    case TG_ATTR_BOOL: {
        int c = tg_choice_index("false|true|0|1|no|yes", value);
        if (c < 0)
            return tg_error(TG_ERR_ATTR, "attribute '%s': expected true or false, got '%s'", key,
                            value);
        attrs->v[i].i = c % 2;
        break;
    }
    case TG_ATTR_ENUM: {
        int c = tg_choice_index(a->choices, value);
        if (c < 0)
            return tg_error(TG_ERR_ATTR, "attribute '%s': expected one of %s, got '%s'", key,
                            a->choices, value);
        attrs->v[i].i = c;
        break;
    }
    case TG_ATTR_SHAPE: {
        tg_shape s;
        if (tg_shape_parse(value, &s))
            return tg_error_context(TG_ERR_ATTR, "attribute '%s': ", key);
        attrs->v[i].shape = s;
        break;
    }
    }
    attrs->given |= 1u << i;
    return TG_OK;
}

tg_status tg_attrs_check(const tg_op *op, const tg_attrs *attrs) {
    for (int i = 0; i < op->n_attrs; i++)
        if (!op->attrs[i].default_value && !(attrs->given & (1u << i)))
            return tg_error(TG_ERR_ATTR, "op '%s' needs attribute '%s' (%s)", op->name,
                            op->attrs[i].name, op->attrs[i].doc ? op->attrs[i].doc : "required");
    return TG_OK;
}

tg_status tg_attrs_parse(const tg_op *op, const char *text, tg_attrs *attrs) {
    tg_attrs_init(op, attrs);
    const char *p = text ? text : "";
    char key[128], value[256];
    while (*p) {
        while (*p == ' ' || *p == '\t') p++;
        if (!*p) break;
        const char *start = p;
        while (*p && *p != ' ' && *p != '\t') p++;
        size_t len = (size_t)(p - start);
        const char *eq = memchr(start, '=', len);
        if (!eq) return tg_error(TG_ERR_ATTR, "expected key=value, got '%.*s'", (int)len, start);
        size_t klen = (size_t)(eq - start), vlen = len - klen - 1;
        if (klen == 0 || klen >= sizeof key || vlen >= sizeof value)
            return tg_error(TG_ERR_ATTR, "malformed attribute '%.*s'", (int)len, start);
        memcpy(key, start, klen);
        key[klen] = '\0';
        memcpy(value, eq + 1, vlen);
        value[vlen] = '\0';
        int i = tg_op_attr_index(op, key);
        if (i >= 0 && (attrs->given & (1u << i)))
            return tg_error(TG_ERR_ATTR, "attribute '%s' is given twice", key);
        tg_status st = tg_attrs_set(op, attrs, key, value);
        if (st) return st;
    }
    return tg_attrs_check(op, attrs);
}

char *tg_attr_str(const tg_op *op, const tg_attrs *attrs, int i, char *buf, size_t size) {
    const tg_attr_spec *a = &op->attrs[i];
    const tg_attr_value *v = &attrs->v[i];
    switch (a->type) {
    case TG_ATTR_INT:
        snprintf(buf, size, "%lld", (long long)v->i);
        break;
    case TG_ATTR_FLOAT:
        snprintf(buf, size, "%.9g", v->f);
        break;
    case TG_ATTR_BOOL:
        snprintf(buf, size, "%s", v->i ? "true" : "false");
        break;
    case TG_ATTR_ENUM: {
        const char *p = a->choices;
        for (int64_t k = 0; k < v->i && p; k++) {
            p = strchr(p, '|');
            if (p) p++;
        }
        const char *bar = p ? strchr(p, '|') : NULL;
        snprintf(buf, size, "%.*s", p ? (int)(bar ? bar - p : (long)strlen(p)) : 1, p ? p : "?");
        break;
    }
    case TG_ATTR_SHAPE: {
        size_t used = 0;
        buf[0] = '\0';
        for (int k = 0; k < v->shape.ndim && used < size; k++)
            used += (size_t)snprintf(buf + used, size - used, "%s%lld", k ? "x" : "",
                                     (long long)v->shape.dim[k]);
        break;
    }
    }
    return buf;
}
