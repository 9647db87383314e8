/* The op registry: the built-in table, ops users register at run time, and the
 * plugins (shared objects) that registered some of them. This is the one piece of
 * global mutable state in the library. */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/tg_builtin.h"
#include "autograd/tg_plugin.h"

typedef struct plugin {
    char *name, *path;
    void *handle; /* from dlopen; closed only by tg_op_registry_reset */
} plugin;

static const tg_op **user_ops;
static int *user_owner; /* per user op: the index of the plugin that registered it, or -1 */
static int n_user_ops, cap_user_ops;
static plugin *plugins;
static int n_plugins;
static int loading = -1; /* the plugin whose entry point is running, or -1 */

int tg_op_count(void) {
    return tg_builtin_op_count + n_user_ops;
}

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
    if (!op->fuses != !op->forward_fused)
        return tg_error(TG_ERR_INVALID,
                        "tg_op_register: op '%s' needs both fuses and forward_fused, or neither",
                        who);
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

/* Where an op came from, for messages. */
static const char *origin(const tg_op *op, char *buf, size_t size) {
    for (int i = 0; i < tg_builtin_op_count; i++)
        if (tg_builtin_ops[i] == op) return "as a built-in op";
    const char *p = tg_op_plugin(op);
    if (!p) return "from C";
    snprintf(buf, size, "by plugin '%s'", p);
    return buf;
}

tg_status tg_op_register(const tg_op *op) {
    tg_status st = check_op(op);
    if (st) return st;
    const tg_op *taken = tg_op_find(op->name);
    if (taken) {
        char buf[128];
        return tg_error(TG_ERR_INVALID,
                        "tg_op_register: an op named '%s' is already registered, %s", op->name,
                        origin(taken, buf, sizeof buf));
    }
    if (n_user_ops == cap_user_ops) {
        int ncap = cap_user_ops ? cap_user_ops * 2 : 8;
        const tg_op **p = realloc(user_ops, (size_t)ncap * sizeof *p);
        if (!p) return tg_error(TG_ERR_NOMEM, "tg_op_register: out of memory");
        user_ops = p;
        int *o = realloc(user_owner, (size_t)ncap * sizeof *o);
        if (!o) return tg_error(TG_ERR_NOMEM, "tg_op_register: out of memory");
        user_owner = o;
        cap_user_ops = ncap;
    }
    user_owner[n_user_ops] = loading;
    user_ops[n_user_ops++] = op;
    return TG_OK;
}

void tg_op_registry_reset(void) {
    free(user_ops);
    free(user_owner);
    user_ops = NULL;
    user_owner = NULL;
    n_user_ops = cap_user_ops = 0;
    for (int i = 0; i < n_plugins; i++) {
        dlclose(plugins[i].handle);
        free(plugins[i].name);
        free(plugins[i].path);
    }
    free(plugins);
    plugins = NULL;
    n_plugins = 0;
}

/* ---- plugins ---- */

int tg_plugin_count(void) {
    return n_plugins;
}
const char *tg_plugin_name(int i) {
    return i >= 0 && i < n_plugins ? plugins[i].name : NULL;
}
const char *tg_plugin_path(int i) {
    return i >= 0 && i < n_plugins ? plugins[i].path : NULL;
}

int tg_plugin_find(const char *name) {
    for (int i = 0; name && i < n_plugins; i++)
        if (strcmp(plugins[i].name, name) == 0) return i;
    return -1;
}

const char *tg_op_plugin(const tg_op *op) {
    for (int i = 0; op && i < n_user_ops; i++)
        if (user_ops[i] == op) return user_owner[i] >= 0 ? plugins[user_owner[i]].name : NULL;
    return NULL;
}

/* "dir/libname.so.1" -> "name" into buf; 0 when nothing is left. */
static int plugin_name_of(const char *path, char *buf, size_t size) {
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    if (strncmp(base, "lib", 3) == 0 && base[3]) base += 3;
    size_t n = strcspn(base, ".");
    if (n == 0 || n >= size) return 0;
    memcpy(buf, base, n);
    buf[n] = '\0';
    return 1;
}

static char *dup_str(const char *s) {
    char *d = malloc(strlen(s) + 1);
    return d ? strcpy(d, s) : NULL;
}

tg_status tg_plugin_load(const char *path) {
    char name[256];
    if (!path || !plugin_name_of(path, name, sizeof name))
        return tg_error(TG_ERR_INVALID,
                        "plugin '%s': expected the path of a shared object "
                        "such as ./libmyops.so",
                        path ? path : "(null)");
    int known = tg_plugin_find(name);
    if (known >= 0) {
        if (strcmp(plugins[known].path, path) == 0) return TG_OK; /* loaded already */
        return tg_error(TG_ERR_INVALID, "plugin %s: a plugin named '%s' is already loaded from %s",
                        path, name, plugins[known].path);
    }
    dlerror();
    void *handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!handle) {
        const char *why = dlerror();
        return tg_error(TG_ERR_IO, "plugin %s: cannot load it: %s", path,
                        why ? why : "unknown error");
    }
    /* POSIX: a function pointer travels through dlsym's void * this way */
    tg_plugin_init_fn init;
    void *sym = dlsym(handle, TG_PLUGIN_ENTRY);
    memcpy(&init, &sym, sizeof init);
    if (!sym) {
        dlclose(handle);
        return tg_error(TG_ERR_FORMAT,
                        "plugin %s: no %s function: not a twingrad plugin (see docs/api.md, "
                        "Plugins)",
                        path, TG_PLUGIN_ENTRY);
    }
    plugin *grown = realloc(plugins, (size_t)(n_plugins + 1) * sizeof *grown);
    if (!grown) {
        dlclose(handle);
        return tg_error(TG_ERR_NOMEM, "plugin %s: out of memory", path);
    }
    plugins = grown;
    plugin *p = &plugins[n_plugins];
    p->name = dup_str(name);
    p->path = dup_str(path);
    p->handle = handle;
    tg_status st =
        p->name && p->path ? TG_OK : tg_error(TG_ERR_NOMEM, "plugin %s: out of memory", path);
    int before = n_user_ops;
    if (!st) {
        n_plugins++;
        loading = n_plugins - 1;
        tg_error_clear();
        st = init(TG_PLUGIN_ABI);
        loading = -1;
        if (st) {
            if (!tg_last_error()[0]) tg_error(st, "its entry point failed");
            st = tg_error_context(st, "plugin %s: ", path);
            n_user_ops = before; /* all or nothing: forget what it registered */
            n_plugins--;
        } else if (n_user_ops == before) {
            st = tg_error(TG_ERR_INVALID, "plugin %s: its entry point registered no op", path);
            n_plugins--;
        }
    }
    if (st) {
        free(p->name);
        free(p->path);
        dlclose(handle);
    }
    return st;
}
