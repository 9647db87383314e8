/* The op registry: the built-in table plus ops users register at run time. This
 * is the one piece of global mutable state in the library. */
#include <stdlib.h>
#include <string.h>

#include "autograd/tg_builtin.h"

static const tg_op **user_ops;
static int n_user_ops, cap_user_ops;

int tg_op_count(void) { return tg_builtin_op_count + n_user_ops; }

const tg_op *tg_op_at(int i) {
    if (i < 0 || i >= tg_op_count()) return NULL;
    return i < tg_builtin_op_count ? tg_builtin_ops[i] : user_ops[i - tg_builtin_op_count];
}

const tg_op *tg_op_find(const char *name) {
    if (!name) return NULL;
    for (int i = 0; i < tg_op_count(); i++)
        if (strcmp(tg_op_at(i)->name, name) == 0) return tg_op_at(i);
    return NULL;
}

const char *tg_op_nearest(const char *name) {
    const char *names[256];
    int n = 0;
    for (int i = 0; i < tg_op_count() && n < 256; i++) names[n++] = tg_op_at(i)->name;
    return tg_nearest_name(name, names, n);
}

static tg_status check_op(const tg_op *op) {
    if (!op || !op->name || !op->name[0])
        return tg_error(TG_ERR_INVALID, "tg_op_register: an op needs a name");
    const char *who = op->name;
    for (const char *c = who; *c; c++)
        if (!(*c == '_' || (*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9')))
            return tg_error(TG_ERR_INVALID,
                            "tg_op_register: op name '%s' may hold only a-z, 0-9 and '_'", who);
    if (!op->infer || !op->forward)
        return tg_error(TG_ERR_INVALID, "tg_op_register: op '%s' needs infer and forward", who);
    if (op->n_inputs < 1 || op->n_inputs > TG_MAX_INPUTS)
        return tg_error(TG_ERR_INVALID, "tg_op_register: op '%s' must take 1..%d inputs", who,
                        TG_MAX_INPUTS);
    if (op->n_attrs < 0 || op->n_attrs > TG_MAX_ATTRS || (op->n_attrs && !op->attrs))
        return tg_error(TG_ERR_INVALID, "tg_op_register: op '%s' has a bad attribute table", who);
    if (op->n_params < 0 || op->n_params > TG_MAX_PARAMS || (op->n_params && !op->params))
        return tg_error(TG_ERR_INVALID, "tg_op_register: op '%s' has a bad parameter table", who);
    for (int i = 0; i < op->n_attrs; i++) {
        const tg_attr_spec *a = &op->attrs[i];
        if (!a->name || (a->type == TG_ATTR_ENUM && !a->choices))
            return tg_error(TG_ERR_INVALID, "tg_op_register: op '%s' attribute %d is incomplete",
                            who, i);
        for (int j = 0; j < i; j++)
            if (strcmp(op->attrs[j].name, a->name) == 0)
                return tg_error(TG_ERR_INVALID, "tg_op_register: op '%s' repeats attribute '%s'",
                                who, a->name);
        if (a->default_value) {
            tg_attrs probe;
            tg_attrs_init(op, &probe); /* validated below by setting the default */
            if (tg_attrs_set(op, &probe, a->name, a->default_value))
                return tg_error_context(TG_ERR_INVALID, "tg_op_register: op '%s' default: ", who);
        }
    }
    return TG_OK;
}

tg_status tg_op_register(const tg_op *op) {
    tg_status st = check_op(op);
    if (st) return st;
    if (tg_op_find(op->name))
        return tg_error(TG_ERR_INVALID, "tg_op_register: an op named '%s' is already registered",
                        op->name);
    if (n_user_ops == cap_user_ops) {
        int ncap = cap_user_ops ? cap_user_ops * 2 : 8;
        const tg_op **p = realloc(user_ops, (size_t)ncap * sizeof *p);
        if (!p) return tg_error(TG_ERR_NOMEM, "tg_op_register: out of memory");
        user_ops = p;
        cap_user_ops = ncap;
    }
    user_ops[n_user_ops++] = op;
    return TG_OK;
}

void tg_op_registry_reset(void) {
    free(user_ops);
    user_ops = NULL;
    n_user_ops = cap_user_ops = 0;
}
