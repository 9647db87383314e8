/* The graph: node creation with shape inference, parameter packing into one flat
 * buffer, iterative topological ordering, forward and reverse sweeps. */
#include "autograd/tg_graph.h"
#include "autograd/tg_budget.h"
#include "autograd/tg_graph_impl.h"
#include "autograd/tg_node_impl.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- small helpers ---- */

static char *dup_str(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

static int grow(void **items, int *cap, int need, size_t size) {
    if (need <= *cap) return 1;
    int ncap = *cap ? *cap * 2 : 16;
    while (ncap < need) ncap *= 2;
    void *p = realloc(*items, (size_t)ncap * size);
    if (!p) return 0;
    *items = p;
    *cap = ncap;
    return 1;
}

tg_node *tg_graph_find(const tg_graph *g, const char *name) {
    for (int i = 0; i < g->n_nodes; i++)
        if (strcmp(g->nodes[i]->name, name) == 0) return g->nodes[i];
    return NULL;
}

static tg_layer *find_layer(const tg_graph *g, const char *name) {
    for (int i = 0; i < g->n_layers; i++)
        if (strcmp(g->layers[i]->name, name) == 0) return g->layers[i];
    return NULL;
}

/* Add a node with a unique name to the graph; NULL (with an error) on failure. */
static tg_node *node_new(tg_graph *g, const char *name, unsigned flags) {
    if (tg_graph_find(g, name)) {
        tg_error(TG_ERR_INVALID, "a node named '%s' already exists in the graph", name);
        return NULL;
    }
    if (!grow((void **)&g->nodes, &g->cap_nodes, g->n_nodes + 1, sizeof *g->nodes)) goto oom;
    int cap = g->cap_nodes; /* node_epoch mirrors nodes' capacity */
    int *ep = realloc(g->node_epoch, (size_t)cap * sizeof *ep);
    if (!ep) goto oom;
    g->node_epoch = ep;
    tg_node *n = calloc(1, sizeof *n);
    if (!n) goto oom;
    n->name = dup_str(name);
    if (!n->name) {
        free(n);
        goto oom;
    }
    n->id = g->n_nodes;
    n->flags = flags;
    n->graph = g;
    g->nodes[g->n_nodes++] = n;
    g->node_epoch[n->id] = g->shape_epoch;
    g->version++;
    return n;
oom:
    tg_error(TG_ERR_NOMEM, "out of memory adding node '%s'", name);
    return NULL;
}

static void node_free(tg_node *n) {
    tg_tensor_free(&n->value);
    tg_tensor_free(&n->grad);
    free(n->sign_bits);
    free(n->saved);
    free(n->name);
    free(n);
}

/* Allocate the gradient buffer of a node at its current shape. */
static tg_status ensure_grad(tg_node *n) {
    if (n->flags & (TG_NODE_PARAM)) return TG_OK; /* lives in the flat buffer */
    if (n->grad.data && n->grad.capacity >= (size_t)tg_shape_numel(&n->value.shape)) {
        n->grad.shape = n->value.shape;
        return TG_OK;
    }
    return tg_tensor_resize(&n->grad, &n->value.shape);
}

/* ---- graph lifetime ---- */

tg_graph *tg_graph_new(uint64_t seed) {
    tg_graph *g = calloc(1, sizeof *g);
    if (!g) {
        tg_error(TG_ERR_NOMEM, "out of memory creating a graph");
        return NULL;
    }
    g->training = 1;
    tg_rng_seed(&g->rng, seed);
    return g;
}

tg_graph *tg_graph_new_shape_only(void) {
    tg_graph *g = tg_graph_new(0);
    if (g) g->shape_only = 1;
    return g;
}

void tg_graph_free(tg_graph *g) {
    if (!g) return;
    for (int i = 0; i < g->n_nodes; i++) node_free(g->nodes[i]);
    for (int i = 0; i < g->n_layers; i++) {
        free(g->layers[i]->name);
        free(g->layers[i]);
    }
    free(g->nodes);
    free(g->layers);
    free(g->params);
    free(g->node_epoch);
    free(g->param_buf);
    free(g->grad_buf);
    free(g->state_buf);
    free(g->scratch);
    free(g->order.ids);
    for (int i = 0; i < g->n_pool; i++) free(g->pool[i]);
    free(g->pool);
    free(g->pool_cap);
    free(g->pool_busy);
    free(g->arena);
    free(g);
}

void tg_graph_set_grad_reuse(tg_graph *g, int on) {
    if (g) g->grad_reuse = on != 0;
}

void tg_graph_set_timing(tg_graph *g, int on) {
    if (!g) return;
    if (on && !g->timing)
        for (int i = 0; i < g->n_nodes; i++) g->nodes[i]->timing = (tg_node_timing){0};
    g->timing = on != 0;
}

tg_node_timing tg_node_timing_get(const tg_node *n) {
    return n ? n->timing : (tg_node_timing){0};
}

static double seconds_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* p[0, n) = 0, shared among the threads when large: a gradient buffer of the
 * seed model runs to tens of MiB, and zeroing it on one core left the others idle. */
#define ZERO_PIECE ((size_t)1 << 16)
static void zero_floats(float *p, size_t n) {
    const size_t pieces = (n + ZERO_PIECE - 1) / ZERO_PIECE;
#pragma omp parallel for schedule(static) if (pieces >= 8)
    for (size_t i = 0; i < pieces; i++) {
        const size_t lo = i * ZERO_PIECE, len = n - lo < ZERO_PIECE ? n - lo : ZERO_PIECE;
        memset(p + lo, 0, len * sizeof(float));
    }
}

/* A free pooled buffer of at least `need` floats for n's gradient, zeroed unless
 * `fresh`: the smallest that fits, else the largest free one grown, else a new one;
 * so there are never more buffers than gradients alive at once. The sweep is the
 * same every step, so after the first step nothing is allocated. */
static tg_status pool_take(tg_graph *g, tg_node *n, int fresh) {
    size_t need = (size_t)tg_shape_numel(&n->value.shape);
    int best = -1, largest = -1;
    for (int i = 0; i < g->n_pool; i++) {
        if (g->pool_busy[i]) continue;
        if (g->pool_cap[i] >= need && (best < 0 || g->pool_cap[i] < g->pool_cap[best])) best = i;
        if (largest < 0 || g->pool_cap[i] > g->pool_cap[largest]) largest = i;
    }
    if (best < 0 && largest >= 0) {
        float *p = realloc(g->pool[largest], need * sizeof(float));
        if (!p) return tg_error(TG_ERR_NOMEM, "node '%s': out of memory for its gradient", n->name);
        g->pool[largest] = p;
        g->pool_cap[largest] = need;
        best = largest;
    }
    if (best < 0) {
        int k = g->n_pool;
        float **p = realloc(g->pool, (size_t)(k + 1) * sizeof *p);
        if (p) g->pool = p;
        size_t *c = realloc(g->pool_cap, (size_t)(k + 1) * sizeof *c);
        if (c) g->pool_cap = c;
        int *b = realloc(g->pool_busy, (size_t)(k + 1) * sizeof *b);
        if (b) g->pool_busy = b;
        float *data = p && c && b ? malloc((need ? need : 1) * sizeof(float)) : NULL;
        if (!data)
            return tg_error(TG_ERR_NOMEM, "node '%s': out of memory for its gradient", n->name);
        g->pool[k] = data;
        g->pool_cap[k] = need;
        g->pool_busy[k] = 0;
        g->n_pool = k + 1;
        best = k;
    }
    g->pool_busy[best] = 1;
    tg_tensor_free(&n->grad);
    n->grad.data = g->pool[best];
    n->grad.capacity = g->pool_cap[best];
    n->grad.owns_data = 0;
    n->grad.shape = n->value.shape;
    if (!fresh) zero_floats(n->grad.data, need);
    return TG_OK;
}

/* The input slot of `in` in consumer c when c's backward can set in's whole
 * gradient itself (c's op says so and reads `in` once), else -1. */
static int fresh_slot(const tg_node *c, const tg_node *in) {
    if (c == in || !c->op || !c->op->sets_fresh_input_grads || !c->wants_grad) return -1;
    int slot = -1;
    for (int k = 0; k < c->n_inputs; k++)
        if (c->inputs[k] == in) {
            if (slot >= 0) return -1;
            slot = k;
        }
    return slot;
}

int tg_node_grad_fresh(const tg_node *n, int input) {
    return n && input >= 0 && input < n->n_inputs && (n->fresh_grads >> input) & 1;
}

/* Return n's gradient buffer to the pool; n keeps no gradient. */
static void pool_give(tg_graph *g, tg_node *n) {
    for (int i = 0; i < g->n_pool; i++)
        if (g->pool[i] == n->grad.data) g->pool_busy[i] = 0;
    memset(&n->grad, 0, sizeof n->grad);
}

/* ---- leaves ---- */

/* What is wrong with an invalid shape, for messages: "invalid shape (..)" for a bad rank
 * or dimension; a shape whose rank and dims are fine is over TG_MAX_NUMEL, which
 * "invalid" alone would leave the reader to guess. */
static const char *shape_problem(const tg_shape *s, const char *what, char *buf, size_t size) {
    const char *sp = what ? " " : "";
    if (!what) what = "";
    char str[64];
    tg_shape_str(s, str, sizeof str);
    double n = s->ndim >= 1 && s->ndim <= TG_MAX_DIMS ? 1.0 : 0.0;
    for (int i = 0; i < s->ndim && n > 0; i++) n = s->dim[i] > 0 ? n * (double)s->dim[i] : 0.0;
    if (n > 0)
        snprintf(buf, size,
                 "%s%sshape %s is too large: %.*g elements, over the limit of 2^40 = %lld "
                 "elements per tensor",
                 what, sp, str, n < 1e18 ? 18 : 4, n, (long long)TG_MAX_NUMEL);
    else
        snprintf(buf, size, "invalid %s%sshape %s", what, sp, str);
    return buf;
}

tg_node *tg_graph_input(tg_graph *g, const char *name, tg_shape shape) {
    if (!g || !name) {
        tg_error(TG_ERR_INVALID, "tg_graph_input: graph and name are required");
        return NULL;
    }
    char buf[256];
    if (!tg_shape_valid(&shape)) {
        tg_error(TG_ERR_SHAPE, "input '%s': %s", name,
                 shape_problem(&shape, NULL, buf, sizeof buf));
        return NULL;
    }
    tg_node *n = node_new(g, name, TG_NODE_INPUT);
    if (!n) return NULL;
    if (g->shape_only) {
        n->value.shape = shape;
        return n;
    }
    if (tg_tensor_resize(&n->value, &shape)) return NULL;
    tg_tensor_zero(&n->value);
    return n;
}

tg_node *tg_graph_constant(tg_graph *g, const char *name, tg_shape shape, const float *data) {
    tg_node *n = tg_graph_input(g, name, shape);
    if (!n) return NULL;
    n->flags = TG_NODE_CONST;
    if (data && !g->shape_only)
        memcpy(n->value.data, data, (size_t)tg_shape_numel(&shape) * sizeof(float));
    return n;
}

static void init_values(tg_rng *rng, tg_init init, const tg_shape *s, float *x) {
    int64_t n = tg_shape_numel(s);
    int64_t receptive = 1;
    for (int i = 2; i < s->ndim; i++) receptive *= s->dim[i];
    double fan_in = s->ndim >= 2 ? (double)(s->dim[1] * receptive) : (double)s->dim[0];
    double fan_out = (double)(s->dim[0] * receptive);
    switch (init) {
    case TG_INIT_ZEROS:
        for (int64_t i = 0; i < n; i++) x[i] = 0.0f;
        break;
    case TG_INIT_ONES:
        for (int64_t i = 0; i < n; i++) x[i] = 1.0f;
        break;
    case TG_INIT_GLOROT_UNIFORM: {
        float a = (float)sqrt(6.0 / (fan_in + fan_out));
        for (int64_t i = 0; i < n; i++) x[i] = tg_rng_uniform_range(rng, -a, a);
        break;
    }
    case TG_INIT_HE_NORMAL: {
        double sd = sqrt(2.0 / fan_in);
        for (int64_t i = 0; i < n; i++) x[i] = (float)(sd * tg_rng_normal(rng));
        break;
    }
    case TG_INIT_HE_UNIFORM: {
        float a = (float)sqrt(6.0 / fan_in);
        for (int64_t i = 0; i < n; i++) x[i] = tg_rng_uniform_range(rng, -a, a);
        break;
    }
    }
}

static tg_node *param_new(tg_graph *g, const char *name, tg_shape shape, tg_init init, int state) {
    char buf[256];
    if (!tg_shape_valid(&shape)) {
        tg_error(TG_ERR_SHAPE, "parameter '%s': %s", name,
                 shape_problem(&shape, NULL, buf, sizeof buf));
        return NULL;
    }
    if (!grow((void **)&g->params, &g->cap_params, g->n_params + 1, sizeof *g->params)) {
        tg_error(TG_ERR_NOMEM, "out of memory adding parameter '%s'", name);
        return NULL;
    }
    tg_node *n = node_new(g, name, state ? TG_NODE_STATE : TG_NODE_PARAM);
    if (!n) return NULL;
    n->init = init;
    n->wants_grad = !state;
    if (g->shape_only) {
        n->value.shape = shape;
    } else {
        if (tg_tensor_resize(&n->value, &shape)) return NULL;
        if (g->no_init)
            memset(n->value.data, 0, (size_t)tg_shape_numel(&shape) * sizeof(float));
        else
            init_values(&g->rng, init, &shape, n->value.data);
    }
    g->params[g->n_params++] = n;
    g->packed = 0;
    return n;
}

tg_node *tg_graph_param(tg_graph *g, const char *name, tg_shape shape, tg_init init) {
    if (!g || !name) {
        tg_error(TG_ERR_INVALID, "tg_graph_param: graph and name are required");
        return NULL;
    }
    return param_new(g, name, shape, init, 0);
}

/* ---- parameter packing: one flat buffer for values, one for gradients ---- */

static tg_status pack_params(tg_graph *g) {
    if (g->shape_only)
        return tg_error(TG_ERR_STATE, "this graph only infers shapes; it holds no values");
    if (g->packed) return TG_OK;
    int64_t np = 0, ns = 0;
    for (int i = 0; i < g->n_params; i++) {
        int64_t k = tg_shape_numel(&g->params[i]->value.shape);
        if (g->params[i]->flags & TG_NODE_STATE)
            ns += k;
        else
            np += k;
    }
    float *pb = calloc((size_t)(np ? np : 1), sizeof(float));
    float *gb = calloc((size_t)(np ? np : 1), sizeof(float));
    float *sb = calloc((size_t)(ns ? ns : 1), sizeof(float));
    if (!pb || !gb || !sb) {
        free(pb);
        free(gb);
        free(sb);
        return tg_error(TG_ERR_NOMEM, "out of memory packing %lld parameters", (long long)np);
    }
    int64_t op = 0, os = 0;
    for (int i = 0; i < g->n_params; i++) {
        tg_node *p = g->params[i];
        tg_shape shape = p->value.shape;
        int64_t k = tg_shape_numel(&shape);
        int state = (p->flags & TG_NODE_STATE) != 0;
        float *dst = state ? sb + os : pb + op;
        memcpy(dst, p->value.data, (size_t)k * sizeof(float));
        if (!state && p->grad.data) memcpy(gb + op, p->grad.data, (size_t)k * sizeof(float));
        tg_tensor_free(&p->value); /* frees only a private buffer, never the old flat one */
        tg_tensor_free(&p->grad);
        p->value = (tg_tensor){shape, dst, (size_t)k, 0};
        if (!state) {
            p->grad = (tg_tensor){shape, gb + op, (size_t)k, 0};
            op += k;
        } else {
            os += k;
        }
    }
    free(g->param_buf);
    free(g->grad_buf);
    free(g->state_buf);
    g->param_buf = pb;
    g->grad_buf = gb;
    g->state_buf = sb;
    g->n_param_floats = np;
    g->n_state_floats = ns;
    g->packed = 1;
    return TG_OK;
}

/* ---- layers and op nodes ---- */

tg_layer *tg_graph_layer_new(tg_graph *g, const tg_op *op, const char *name,
                             const tg_attrs *attrs) {
    if (!g || !op || !attrs) {
        tg_error(TG_ERR_INVALID, "tg_graph_layer_new: graph, op and attributes are required");
        return NULL;
    }
    char gen[64];
    if (!name) {
        snprintf(gen, sizeof gen, "%s_%d", op->name, g->n_layers + 1);
        name = gen;
    }
    if (find_layer(g, name) || tg_graph_find(g, name)) {
        tg_error(TG_ERR_INVALID, "a layer or node named '%s' already exists", name);
        return NULL;
    }
    if (tg_attrs_check(op, attrs)) {
        tg_error_context(TG_ERR_ATTR, "layer '%s' (%s): ", name, op->name);
        return NULL;
    }
    if (!grow((void **)&g->layers, &g->cap_layers, g->n_layers + 1, sizeof *g->layers)) goto oom;
    tg_layer *l = calloc(1, sizeof *l);
    if (!l) goto oom;
    l->name = dup_str(name);
    if (!l->name) {
        free(l);
        goto oom;
    }
    l->graph = g;
    l->op = op;
    l->attrs = *attrs;
    g->layers[g->n_layers++] = l;
    return l;
oom:
    tg_error(TG_ERR_NOMEM, "out of memory adding layer '%s'", name);
    return NULL;
}

tg_layer *tg_graph_layer(tg_graph *g, const char *op_name, const char *name, const char *attrs) {
    if (!g || !op_name) {
        tg_error(TG_ERR_INVALID, "tg_graph_layer: graph and op name are required");
        return NULL;
    }
    const tg_op *op = tg_op_find(op_name);
    if (!op) {
        const char *near = tg_op_nearest(op_name);
        tg_error(TG_ERR_UNKNOWN, "unknown op '%s'%s%s%s", op_name, near ? " (did you mean '" : "",
                 near ? near : "", near ? "'?)" : "");
        return NULL;
    }
    tg_attrs parsed;
    if (tg_attrs_parse(op, attrs, &parsed)) {
        tg_error_context(TG_ERR_ATTR, "layer '%s' (%s): ", name ? name : op->name, op->name);
        return NULL;
    }
    return tg_graph_layer_new(g, op, name, &parsed);
}

const char *tg_layer_name(const tg_layer *l) {
    return l->name;
}
const tg_op *tg_layer_op(const tg_layer *l) {
    return l->op;
}
tg_node *tg_layer_param(const tg_layer *l, int i) {
    return (i >= 0 && i < TG_MAX_PARAMS) ? l->params[i] : NULL;
}

/* Size the node's value, saved and scratch memory for its current shapes. */
static tg_status size_buffers(tg_node *n, const tg_shape *out) {
    tg_graph *g = n->graph;
    if (g->shape_only) {
        n->value.shape = *out;
        return TG_OK;
    }
    /* The value's memory comes from the plan at the next forward (plan_values): a
     * value no forward computes, or that the plan drops, never takes a buffer. */
    n->value.shape = *out;
    if (n->value.owns_data && n->value.capacity < (size_t)tg_shape_numel(out)) {
        free(n->value.data);
        n->value.data = NULL;
        n->value.capacity = 0;
        n->value.owns_data = 0;
    }
    if (n->grad.data && ensure_grad(n)) return TG_ERR_NOMEM;
    size_t saved = n->op->saved_bytes ? n->op->saved_bytes(n) : 0;
    if (saved > n->saved_size) {
        void *p = realloc(n->saved, saved);
        if (!p)
            return tg_error(TG_ERR_NOMEM, "node '%s': out of memory (%zu bytes saved)", n->name,
                            saved);
        n->saved = p;
        n->saved_size = saved;
    }
    size_t scratch = n->op->scratch_bytes ? n->op->scratch_bytes(n) : 0;
    if (scratch > g->scratch_size) {
        void *p = realloc(g->scratch, scratch);
        if (!p)
            return tg_error(TG_ERR_NOMEM, "node '%s': out of memory (%zu bytes scratch)", n->name,
                            scratch);
        g->scratch = p;
        g->scratch_size = scratch;
    }
    return TG_OK;
}

/* The initialiser of parameter i: the spec's, unless the op has an init=
 * attribute (TG_INIT_CHOICES) and the spec's is Glorot (a weight, not a bias). */
static tg_init param_init(const tg_node *n, int i) {
    static const tg_init choices[] = {TG_INIT_GLOROT_UNIFORM, TG_INIT_HE_NORMAL,
                                      TG_INIT_HE_UNIFORM};
    tg_init init = n->op->params[i].init;
    int a = tg_op_attr_index(n->op, "init");
    if (a >= 0 && init == TG_INIT_GLOROT_UNIFORM && n->attrs.v[a].i >= 0 && n->attrs.v[a].i < 3)
        init = choices[n->attrs.v[a].i];
    return init;
}

/* Run the op's shape inference for node n (which may not be in the graph yet).
 * The layer's parameters are created by its first apply; later ones must agree. */
static tg_status infer_shapes(tg_node *n, tg_shape *out) {
    const tg_op *op = n->op;
    tg_layer *l = n->layer;
    tg_shape in[TG_MAX_INPUTS], params[TG_MAX_PARAMS];
    char a[64], b[64];
    memset(params, 0, sizeof params);
    memset(out, 0, sizeof *out);
    for (int i = 0; i < n->n_inputs; i++) in[i] = n->inputs[i]->value.shape;
    tg_status st = op->infer(n, in, out, params);
    if (st) return tg_error_context(st, "node '%s' (%s): ", n->name, op->name);
    char why[256];
    if (!tg_shape_valid(out))
        return tg_error(TG_ERR_SHAPE, "node '%s' (%s): inferred %s", n->name, op->name,
                        shape_problem(out, "output", why, sizeof why));
    int first = l->applied == 0;
    for (int i = 0; i < op->n_params; i++) {
        int had = l->params[i] != NULL, has = params[i].ndim > 0;
        if (first && !had && has) {
            char pname[256];
            snprintf(pname, sizeof pname, "%s.%s", l->name, op->params[i].name);
            l->params[i] =
                param_new(n->graph, pname, params[i], param_init(n, i), op->params[i].state);
            if (!l->params[i]) return tg_error_context(TG_ERR_SHAPE, "node '%s': ", n->name);
        } else if (had != has || (has && !tg_shape_equal(&l->params[i]->value.shape, &params[i]))) {
            return tg_error(TG_ERR_SHAPE,
                            "node '%s' (%s): parameter '%s' of layer '%s' has shape %s but this "
                            "input needs %s (a shared layer needs same-shaped inputs)",
                            n->name, op->name, op->params[i].name, l->name,
                            had ? tg_shape_str(&l->params[i]->value.shape, a, sizeof a) : "()",
                            has ? tg_shape_str(&params[i], b, sizeof b) : "()");
        }
        n->params[i] = l->params[i];
    }
    return TG_OK;
}

static tg_status infer_node(tg_node *n) {
    tg_shape out;
    tg_status st = infer_shapes(n, &out);
    return st ? st : size_buffers(n, &out);
}

tg_node *tg_layer_apply(tg_layer *l, tg_node *const *inputs, int n_in) {
    if (!l) return NULL; /* the failure that produced it has set the message */
    tg_graph *g = l->graph;
    const tg_op *op = l->op;
    for (int i = 0; i < n_in; i++)
        if (!inputs[i]) return NULL; /* an earlier call failed; keep its message */
    if (n_in != op->n_inputs) {
        tg_error(TG_ERR_INVALID, "layer '%s' (%s) takes %d input%s, got %d", l->name, op->name,
                 op->n_inputs, op->n_inputs == 1 ? "" : "s", n_in);
        return NULL;
    }
    for (int i = 0; i < n_in; i++)
        if (inputs[i]->graph != g) {
            tg_error(TG_ERR_INVALID, "layer '%s': input '%s' belongs to another graph", l->name,
                     inputs[i]->name);
            return NULL;
        }
    char name[300];
    if (l->applied == 0)
        snprintf(name, sizeof name, "%s", l->name);
    else
        snprintf(name, sizeof name, "%s#%d", l->name, l->applied + 1);
    /* Infer on a draft first, so parameters are created before the node that uses
     * them (creation order stays topological) and a failure leaves no node behind. */
    tg_node draft = {
        .name = name, .op = op, .attrs = l->attrs, .layer = l, .n_inputs = n_in, .graph = g};
    for (int i = 0; i < n_in; i++) draft.inputs[i] = inputs[i];
    tg_shape out;
    if (infer_shapes(&draft, &out)) return NULL;
    tg_node *n = node_new(g, name, 0);
    if (!n) return NULL;
    n->op = op;
    n->attrs = l->attrs;
    n->layer = l;
    n->n_inputs = n_in;
    memcpy(n->inputs, draft.inputs, sizeof n->inputs);
    memcpy(n->params, draft.params, sizeof n->params);
    if (size_buffers(n, &out)) {
        g->n_nodes--;
        node_free(n);
        return NULL;
    }
    l->applied++;
    return n;
}

tg_node *tg_layer_apply1(tg_layer *l, tg_node *x) {
    return tg_layer_apply(l, &x, 1);
}
tg_node *tg_layer_apply2(tg_layer *l, tg_node *a, tg_node *b) {
    tg_node *in[2] = {a, b};
    return tg_layer_apply(l, in, 2);
}

tg_node *tg_graph_op(tg_graph *g, const char *op, const char *name, const char *attrs,
                     tg_node *const *inputs, int n) {
    for (int i = 0; i < n; i++)
        if (!inputs[i]) return NULL;
    return tg_layer_apply(tg_graph_layer(g, op, name, attrs), inputs, n);
}

/* ---- inputs and modes ---- */

tg_status tg_input_set(tg_node *x, tg_shape shape, const float *data) {
    char a[64], b[64];
    if (!x || !(x->flags & (TG_NODE_INPUT | TG_NODE_CONST)))
        return tg_error(TG_ERR_INVALID, "tg_input_set: '%s' is not an input", x ? x->name : "NULL");
    if (x->graph->shape_only)
        return tg_error(TG_ERR_STATE, "tg_input_set: '%s' is in a shape-only graph", x->name);
    char why[256];
    if (!tg_shape_valid(&shape))
        return tg_error(TG_ERR_SHAPE, "input '%s': %s", x->name,
                        shape_problem(&shape, NULL, why, sizeof why));
    if (shape.ndim != x->value.shape.ndim)
        return tg_error(TG_ERR_SHAPE, "input '%s' has rank %d %s, got %s", x->name,
                        x->value.shape.ndim, tg_shape_str(&x->value.shape, a, sizeof a),
                        tg_shape_str(&shape, b, sizeof b));
    if (!tg_shape_equal(&shape, &x->value.shape)) {
        if (tg_tensor_resize(&x->value, &shape)) return TG_ERR_NOMEM;
        x->graph->shape_epoch++;
        x->graph->node_epoch[x->id] = x->graph->shape_epoch;
    }
    size_t bytes = (size_t)tg_shape_numel(&shape) * sizeof(float);
    if (data)
        memcpy(x->value.data, data, bytes);
    else
        memset(x->value.data, 0, bytes);
    return TG_OK;
}

void tg_node_set_requires_grad(tg_node *x, int on) {
    if (x && (x->flags & TG_NODE_INPUT)) x->requires_grad = on != 0;
}

void tg_graph_set_training(tg_graph *g, int training) {
    g->training = training != 0;
}
int tg_graph_training(const tg_graph *g) {
    return g->training;
}
tg_rng *tg_graph_rng(tg_graph *g) {
    return &g->rng;
}
void tg_graph_set_init(tg_graph *g, int on) {
    g->no_init = !on;
}

/* ---- topological order: the target's ancestors, inputs first, depth first ---- */

/* A depth-first post-order over inputs and then parameters: each branch (e.g.
 * each Siamese tower) is finished before the next starts, so a value that only
 * its branch reads (TG_VALUES_BACKWARD, TG_VALUES_TARGET) is dead before the next
 * branch needs memory; the creation order interleaves the towers. */
static tg_status order_for(tg_graph *g, tg_node *target) {
    tg_order *o = &g->order;
    if (o->target == target && o->version == g->version) return TG_OK;
    int n = g->n_nodes;
    int *seen = calloc((size_t)n, sizeof(int));
    int *stack = malloc((size_t)n * sizeof(int));
    int *next = calloc((size_t)n, sizeof(int)); /* per node: the next input or param to visit */
    int *ids = realloc(o->ids, (size_t)n * sizeof(int));
    tg_status st = TG_OK;
    if (!seen || !stack || !next || !ids) {
        st = tg_error(TG_ERR_NOMEM, "out of memory ordering %d nodes", n);
        goto done;
    }
    o->ids = ids;
    int top = 0, count = 0;
    stack[top++] = target->id;
    seen[target->id] = 1;
    while (top) {
        tg_node *v = g->nodes[stack[top - 1]];
        tg_node *u = NULL;
        while (!u && next[v->id] < v->n_inputs + TG_MAX_PARAMS) {
            int k = next[v->id]++;
            u = k < v->n_inputs ? v->inputs[k] : v->params[k - v->n_inputs];
            if (u && seen[u->id]) u = NULL;
        }
        if (u) {
            seen[u->id] = 1;
            stack[top++] = u->id;
        } else {
            ids[count++] = v->id;
            top--;
        }
    }
    o->target = target;
    o->version = g->version;
    o->n = count;
done:
    free(seen);
    free(stack);
    free(next);
    return st;
}

/* ---- forward and backward ---- */

/* Re-infer shapes of nodes whose inputs changed shape since they were inferred. */
static tg_status reinfer(tg_graph *g) {
    tg_order *o = &g->order;
    for (int i = 0; i < o->n; i++) {
        tg_node *n = g->nodes[o->ids[i]];
        if (!n->op) continue;
        int newest = 0;
        for (int k = 0; k < n->n_inputs; k++)
            if (g->node_epoch[n->inputs[k]->id] > newest) newest = g->node_epoch[n->inputs[k]->id];
        if (newest <= g->node_epoch[n->id]) continue;
        tg_status st = infer_node(n);
        if (st) return st;
        g->node_epoch[n->id] = newest;
    }
    return TG_OK;
}

tg_status tg_graph_plan_bytes(tg_graph *g, tg_node *target, tg_value_plan plan, size_t *bytes) {
    if (!g || !target || !bytes)
        return tg_error(TG_ERR_INVALID,
                        "tg_graph_plan_bytes: graph, target and bytes are required");
    tg_status st = order_for(g, target);
    return st ? st : tg_values_planned_bytes(g, target, plan, bytes);
}

uint64_t tg_graph_op_bytes(const tg_graph *g) {
    uint64_t saved = 0, scratch = 0;
    for (int i = 0; g && i < g->n_nodes; i++) {
        const tg_node *n = g->nodes[i];
        if (!n->op) continue;
        if (n->op->saved_bytes) saved = tg_cost_add(saved, n->op->saved_bytes(n));
        const uint64_t s = n->op->scratch_bytes ? n->op->scratch_bytes(n) : 0;
        if (s > scratch) scratch = s;
    }
    return tg_cost_add(saved, scratch);
}

tg_status tg_graph_forward(tg_graph *g, tg_node *target) {
    if (!g || !target)
        return tg_error(TG_ERR_INVALID, "tg_graph_forward: graph and target are required");
    tg_status st;
    if ((st = pack_params(g)) || (st = order_for(g, target)) || (st = reinfer(g)) ||
        (st = tg_values_place(g, target)))
        return st;
    g->values_dropped = 1; /* until this forward is complete */
    for (int i = 0; i < g->order.n; i++) {
        tg_node *n = g->nodes[g->order.ids[i]];
        if (!n->op || n->fused_away) continue; /* done by an earlier node's forward */
        n->scratch = g->scratch;
        n->scratch_size = g->scratch_size;
        const double t0 = g->timing ? seconds_now() : 0.0;
        /* the plan's (tg_values_place): the next op node, done by n's forward (and
         * timed as n's) */
        tg_node *next = n->fused_next;
        if (next) {
            next->scratch = g->scratch;
            next->scratch_size = g->scratch_size;
        }
        st = next ? n->op->forward_fused(n, next) : n->op->forward(n);
        if (g->timing) {
            n->timing.forward_s += seconds_now() - t0;
            n->timing.forwards++;
        }
        if (st) return tg_error_context(st, "forward of node '%s' (%s): ", n->name, n->op->name);
        if (n->dropped == TG_VALUE_SIGN_KEPT && !n->signs_packed) tg_values_keep_sign(n);
        n->signs_packed = 0;
    }
    g->values_dropped = g->value_plan == TG_VALUES_TARGET;
    g->forwards++;
    g->forward_version = g->version;
    g->forward_shape_epoch = g->shape_epoch;
    for (int i = 0; i < g->order.n; i++) g->nodes[g->order.ids[i]]->forward_seen = g->forwards;
    return TG_OK;
}

static tg_status backward_node(tg_graph *g, tg_node *n) {
    if (!n->op->backward)
        return tg_error(TG_ERR_INVALID, "node '%s': op '%s' is not differentiable", n->name,
                        n->op->name);
    n->scratch = g->scratch;
    n->scratch_size = g->scratch_size;
    /* A TG_USE_SIGN_BITS backward reads the bits as they are. */
    if (n->dropped == TG_VALUE_SIGN_KEPT && n->op->backward_use(n, -1) == TG_USE_SIGN)
        tg_values_restore_sign(n);
    const double t0 = g->timing ? seconds_now() : 0.0;
    tg_status st = n->op->backward(n);
    if (g->timing) {
        n->timing.backward_s += seconds_now() - t0;
        n->timing.backwards++;
    }
    if (st) return tg_error_context(st, "backward of node '%s' (%s): ", n->name, n->op->name);
    return TG_OK;
}

/* Whether n's gradient lives in the pool: an op node's, other than the seed's. */
static int pooled(const tg_graph *g, const tg_node *n, const tg_node *seed_node) {
    return g->grad_reuse && n->op && n->wants_grad && n != seed_node &&
           !(n->flags & (TG_NODE_PARAM | TG_NODE_INPUT));
}

/* The reverse sweep with pooled gradients, over a depth-first order of the seed
 * node's inputs (each branch, e.g. each Siamese tower, finished before the next
 * starts, so only one branch's gradients live at a time; the creation order
 * interleaves the towers). A pooled node's gradient is taken (zeroed) just before
 * the backward of its last consumer in that order, which is the first to add into
 * it, and given back after its own backward has read it. */
static tg_status backward_pooled(tg_graph *g, tg_node *seed_node) {
    const int nn = g->n_nodes;
    int *seq = malloc((size_t)nn * sizeof *seq);        /* inputs-first DFS post-order */
    int *stack = malloc((size_t)nn * sizeof *stack);    /* DFS: node ids ... */
    int *next_in = calloc((size_t)nn, sizeof *next_in); /* ... and the next input to visit */
    int *pos = malloc((size_t)nn * sizeof *pos);        /* node id -> position taken at */
    int *head = malloc((size_t)nn * sizeof *head);      /* position -> first node taken */
    int *next = malloc((size_t)nn * sizeof *next);      /* the next node taken there */
    tg_status st = TG_OK;
    int len = 0;
    if (!seq || !stack || !next_in || !pos || !head || !next) {
        st = tg_error(TG_ERR_NOMEM, "backward: out of memory");
        goto done;
    }
    for (int i = 0; i < nn; i++) pos[i] = -2; /* -2: not visited */
    int top = 0;
    stack[top++] = seed_node->id;
    pos[seed_node->id] = -1;
    while (top) {
        tg_node *v = g->nodes[stack[top - 1]];
        if (next_in[v->id] < v->n_inputs) {
            tg_node *u = v->inputs[next_in[v->id]++];
            if (pos[u->id] == -2) {
                pos[u->id] = -1;
                stack[top++] = u->id;
            }
            continue;
        }
        seq[len++] = v->id;
        top--;
    }
    for (int i = 0; i < len; i++) {
        tg_node *n = g->nodes[seq[i]];
        head[i] = -1;
        if (pooled(g, n, seed_node) && pos[n->id] < i) pos[n->id] = i;
        if (!n->op || !n->wants_grad) continue;
        for (int k = 0; k < n->n_inputs; k++) {
            tg_node *in = n->inputs[k];
            if (pooled(g, in, seed_node) && pos[in->id] < i) pos[in->id] = i;
        }
    }
    for (int i = 0; i < len; i++) {
        int id = seq[i];
        if (pooled(g, g->nodes[id], seed_node)) {
            next[id] = head[pos[id]];
            head[pos[id]] = id;
        }
    }
    for (int i = len - 1; i >= 0 && !st; i--) {
        tg_node *n = g->nodes[seq[i]];
        /* taken just before the first backward to write them, n's: which may set a
         * whole input gradient itself instead of adding into a zeroed one */
        for (int id = head[i]; id >= 0 && !st; id = next[id]) {
            const int slot = fresh_slot(n, g->nodes[id]);
            st = pool_take(g, g->nodes[id], slot >= 0);
            if (slot >= 0) n->fresh_grads |= 1u << slot;
        }
        if (!st && n->op && n->wants_grad) st = backward_node(g, n);
        n->fresh_grads = 0;
        if (pooled(g, n, seed_node) && n->grad.data) pool_give(g, n);
    }
    for (int i = 0; i < len; i++) { /* after a failure: give back what is still taken */
        tg_node *n = g->nodes[seq[i]];
        if (pooled(g, n, seed_node) && n->grad.data) pool_give(g, n);
    }
done:
    free(seq);
    free(stack);
    free(next_in);
    free(pos);
    free(head);
    free(next);
    return st;
}

tg_status tg_graph_backward_from(tg_graph *g, tg_node *node, const float *seed) {
    if (!g || !node)
        return tg_error(TG_ERR_INVALID, "tg_graph_backward: graph and node are required");
    if (g->values_dropped)
        return tg_error(TG_ERR_STATE,
                        "backward: the last forward kept only its target's value "
                        "(TG_VALUES_TARGET) or failed; run forward again under another plan");
    if (node->graph != g || !g->forwards || node->forward_seen != g->forwards ||
        g->forward_version != g->version || g->forward_shape_epoch != g->shape_epoch)
        return tg_error(TG_ERR_STATE,
                        "backward from '%s': the last forward did not compute it on the graph "
                        "as it is now (inputs reshaped or nodes added since); run "
                        "tg_graph_forward on it first",
                        node->name);
    tg_status st;
    if ((st = pack_params(g)) || (st = order_for(g, node)) || (st = reinfer(g))) return st;
    tg_order *o = &g->order;
    /* Which nodes a gradient reaches: trainable parameters, inputs that asked. */
    for (int i = 0; i < o->n; i++) {
        tg_node *n = g->nodes[o->ids[i]];
        if (n->flags & TG_NODE_PARAM)
            n->wants_grad = 1;
        else if (n->flags & TG_NODE_INPUT)
            n->wants_grad = n->requires_grad;
        else if (!n->op)
            n->wants_grad = 0;
        else {
            n->wants_grad = 0;
            for (int k = 0; k < n->n_inputs; k++)
                if (n->inputs[k]->wants_grad && n->op->input_kind[k] != TG_IN_LABEL)
                    n->wants_grad = 1;
            for (int k = 0; k < TG_MAX_PARAMS; k++)
                if (n->params[k] && n->params[k]->wants_grad) n->wants_grad = 1;
        }
        if (n->wants_grad && !(n->flags & TG_NODE_PARAM) && !pooled(g, n, node)) {
            if (ensure_grad(n)) return TG_ERR_NOMEM;
            tg_tensor_zero(&n->grad);
        }
    }
    if (!node->wants_grad) return TG_OK; /* nothing trainable upstream */
    int64_t numel = tg_shape_numel(&node->value.shape);
    for (int64_t i = 0; i < numel; i++) node->grad.data[i] = seed ? seed[i] : 1.0f;
    if (g->grad_reuse) return backward_pooled(g, node);
    for (int i = o->n - 1; i >= 0; i--) {
        tg_node *n = g->nodes[o->ids[i]];
        if (!n->op || !n->wants_grad) continue;
        if ((st = backward_node(g, n))) return st;
    }
    return TG_OK;
}

tg_status tg_graph_backward(tg_graph *g, tg_node *loss) {
    char buf[64];
    if (!loss) return tg_error(TG_ERR_INVALID, "tg_graph_backward: loss is NULL");
    if (tg_shape_numel(&loss->value.shape) != 1)
        return tg_error(TG_ERR_SHAPE, "backward needs a scalar loss; '%s' has shape %s", loss->name,
                        tg_shape_str(&loss->value.shape, buf, sizeof buf));
    return tg_graph_backward_from(g, loss, NULL);
}

void tg_graph_zero_grad(tg_graph *g) {
    if (g->packed) {
        memset(g->grad_buf, 0, (size_t)g->n_param_floats * sizeof(float));
        return;
    }
    for (int i = 0; i < g->n_params; i++) tg_tensor_zero(&g->params[i]->grad);
}

/* ---- accessors ---- */

int tg_graph_node_count(const tg_graph *g) {
    return g->n_nodes;
}
tg_node *tg_graph_node(const tg_graph *g, int i) {
    return (i >= 0 && i < g->n_nodes) ? g->nodes[i] : NULL;
}
int tg_graph_param_count(const tg_graph *g) {
    return g->n_params;
}
tg_node *tg_graph_param_at(const tg_graph *g, int i) {
    return (i >= 0 && i < g->n_params) ? g->params[i] : NULL;
}

float *tg_graph_param_data(tg_graph *g, int64_t *count) {
    if (pack_params(g)) return NULL;
    if (count) *count = g->n_param_floats;
    return g->param_buf;
}

float *tg_graph_grad_data(tg_graph *g, int64_t *count) {
    if (pack_params(g)) return NULL;
    if (count) *count = g->n_param_floats;
    return g->grad_buf;
}

float *tg_graph_state_data(tg_graph *g, int64_t *count) {
    if (pack_params(g)) return NULL;
    if (count) *count = g->n_state_floats;
    return g->state_buf;
}

int tg_node_wants_grad(const tg_node *n) {
    return n && n->wants_grad;
}
const char *tg_node_name(const tg_node *n) {
    return n->name;
}
unsigned tg_node_kind(const tg_node *n) {
    return n->flags;
}
const tg_op *tg_node_op(const tg_node *n) {
    return n->op;
}
tg_layer *tg_node_layer(const tg_node *n) {
    return n->layer;
}
tg_graph *tg_node_graph(const tg_node *n) {
    return n->graph;
}
tg_node *tg_node_input(const tg_node *n, int i) {
    return i >= 0 && i < n->n_inputs ? n->inputs[i] : NULL;
}
tg_node *tg_node_param(const tg_node *n, int i) {
    return i >= 0 && i < TG_MAX_PARAMS ? n->params[i] : NULL;
}
const tg_attrs *tg_node_attrs(const tg_node *n) {
    return &n->attrs;
}
void *tg_node_saved(tg_node *n) {
    return n->saved;
}
void *tg_node_scratch(tg_node *n) {
    return n->scratch;
}
const tg_shape *tg_node_shape(const tg_node *n) {
    return &n->value.shape;
}
float *tg_node_data(tg_node *n) {
    return n->value.data;
}
float *tg_node_grad(tg_node *n) {
    return n->grad.data;
}

double tg_node_attr_float(const tg_node *n, const char *name) {
    int i = n->op ? tg_op_attr_index(n->op, name) : -1;
    return i < 0 ? 0.0 : n->attrs.v[i].f;
}
