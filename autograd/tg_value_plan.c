/* Which values a forward keeps (tg_graph_set_value_plan): each op says what its
 * backward reads (tg_op.backward_use); a value that nothing reads in full lives in a
 * shared arena, placed by forward liveness, with one bit per element kept where its
 * own backward needs the sign. docs/architecture.md, "Values kept by plan". */
#include "autograd/tg_cpu.h"
#include "autograd/tg_graph_impl.h"
#include "autograd/tg_node_impl.h"

#include <stdlib.h>
#include <string.h>

void tg_node_keep_value(tg_node *n, int on) {
    if (!n) return;
    if (on)
        n->flags |= TG_NODE_KEEP;
    else
        n->flags &= ~(unsigned)TG_NODE_KEEP;
    n->graph->planned.valid = 0;
}

void tg_graph_set_value_plan(tg_graph *g, tg_value_plan plan) {
    if (g && plan >= TG_VALUES_KEEP && plan <= TG_VALUES_TARGET) g->value_plan = plan;
}
tg_value_plan tg_graph_value_plan(const tg_graph *g) {
    return g ? g->value_plan : TG_VALUES_KEEP;
}
int tg_node_value_kept(const tg_node *n) {
    return n && n->dropped == TG_VALUE_KEPT && n->value.data;
}

size_t tg_graph_value_bytes(const tg_graph *g) {
    size_t bytes = g->arena_cap * sizeof(float);
    for (int i = 0; i < g->n_nodes; i++) {
        const tg_node *n = g->nodes[i];
        if (n->value.owns_data) bytes += n->value.capacity * sizeof(float);
        bytes += n->sign_size;
    }
    return bytes;
}

/* What n's backward reads of data input `input`, or of its own output (-1). */
static tg_value_use use_of(const tg_node *n, int input) {
    return n->op && n->op->backward_use ? n->op->backward_use(n, input) : TG_USE_VALUE;
}

/* The plan's verdict on a node of the forward order (none for the target). */
static int verdict(tg_value_plan plan, const tg_node *n, const tg_node *target, int read) {
    if (plan == TG_VALUES_KEEP || !n->op || n == target || (n->flags & TG_NODE_KEEP))
        return TG_VALUE_KEPT;
    if (plan == TG_VALUES_TARGET) return TG_VALUE_DROPPED;
    if (read) return TG_VALUE_KEPT;
    tg_value_use own = use_of(n, -1);
    return own == TG_USE_NONE                              ? TG_VALUE_DROPPED
           : own == TG_USE_SIGN || own == TG_USE_SIGN_BITS ? TG_VALUE_SIGN_KEPT
                                                           : TG_VALUE_KEPT;
}

const uint8_t *tg_node_sign_bits(const tg_node *n) {
    return n && n->dropped == TG_VALUE_SIGN_KEPT ? n->sign_bits : NULL;
}

/* Where a forward of the current order puts each value: per node id, its position
 * in the order (-1: not computed), the plan's verdict, and for a dropped value its
 * offset and size (floats) in an arena of `arena` floats. */
typedef struct placement {
    int *pos, *verdict;
    int *fused;      /* per node id: 1 + the position of the node whose forward does its own */
    int *fused_next; /* per node id: the id of the node its forward also does, or -1 */
    size_t *offset, *size;
    size_t arena;
} placement;

static void placement_free(placement *pl) {
    free(pl->pos);
    free(pl->verdict);
    free(pl->fused);
    free(pl->fused_next);
    free(pl->offset);
    free(pl->size);
}

/* The position of the node whose forward the forward of the node at position p
 * does (tg_op.fuses), or -1: under TG_VALUES_TARGET, the next op node in the order
 * (only parameters between them, which have no forward), where a dropped value's
 * only reader and last consumer (last) is that node. */
static int fused_after(const tg_graph *g, tg_value_plan plan, int p, int verdict, const int *last) {
    const tg_order *o = &g->order;
    const tg_node *n = g->nodes[o->ids[p]];
    if (plan != TG_VALUES_TARGET || verdict != TG_VALUE_DROPPED || !n->op || !n->op->fuses)
        return -1;
    int q = p + 1;
    while (q < o->n && !g->nodes[o->ids[q]]->op) q++;
    if (q >= o->n || last[n->id] != q) return -1;
    const tg_node *next = g->nodes[o->ids[q]];
    return next->n_inputs == 1 && next->inputs[0] == n && n->op->fuses(n, next) ? q : -1;
}

/* Each dropped value lives from the forward of its node to that of its last
 * consumer, first fit among the values alive then; a value a fused forward
 * writes (fused_after) from the forward of the node that makes it. */
static tg_status place_values(const tg_graph *g, const tg_node *target, tg_value_plan plan,
                              placement *pl) {
    const tg_order *o = &g->order;
    const int nn = g->n_nodes;
    int *last = malloc((size_t)nn * sizeof *last), *read = calloc((size_t)nn, sizeof *read);
    int *live = malloc((size_t)nn * sizeof *live);
    *pl = (placement){malloc((size_t)nn * sizeof *pl->pos),
                      calloc((size_t)nn, sizeof(int)),
                      calloc((size_t)nn, sizeof(int)),
                      malloc((size_t)nn * sizeof(int)),
                      malloc((size_t)nn * sizeof(size_t)),
                      malloc((size_t)nn * sizeof(size_t)),
                      0};
    tg_status st = TG_OK;
    if (!last || !read || !live || !pl->pos || !pl->verdict || !pl->fused || !pl->fused_next ||
        !pl->offset || !pl->size) {
        st = tg_error(TG_ERR_NOMEM, "out of memory planning %d values", nn);
        goto done;
    }
    for (int i = 0; i < nn; i++) pl->pos[i] = last[i] = pl->fused_next[i] = -1;
    for (int p = 0; p < o->n; p++) pl->pos[o->ids[p]] = p;
    for (int i = 0; i < nn; i++) { /* every consumer, in the order or not, may read */
        const tg_node *c = g->nodes[i];
        for (int k = 0; k < c->n_inputs; k++) {
            int u = c->inputs[k]->id;
            if (pl->pos[i] > last[u]) last[u] = pl->pos[i];
            if (use_of(c, k) != TG_USE_NONE) read[u] = 1;
        }
    }
    int n_live = 0; /* dropped values alive at position p, by offset */
    for (int p = 0; p < o->n; p++) {
        const tg_node *n = g->nodes[o->ids[p]];
        int v = pl->verdict[n->id] = verdict(plan, n, target, read[n->id]);
        const int born = pl->fused[n->id] ? pl->fused[n->id] - 1 : p;
        const int q = born == p ? fused_after(g, plan, p, v, last) : -1; /* no chains */
        if (q >= 0) {
            pl->fused[o->ids[q]] = 1 + p;
            pl->fused_next[n->id] = o->ids[q];
        }
        if (v == TG_VALUE_KEPT) continue;
        int kept = 0;
        for (int j = 0; j < n_live; j++)
            if (last[live[j]] >= born) live[kept++] = live[j];
        n_live = kept;
        size_t need = ((size_t)tg_shape_numel(&n->value.shape) + 15) & ~(size_t)15, at = 0;
        int j = 0;
        for (; j < n_live && at + need > pl->offset[live[j]]; j++)
            if (pl->offset[live[j]] + pl->size[live[j]] > at)
                at = pl->offset[live[j]] + pl->size[live[j]];
        memmove(live + j + 1, live + j, (size_t)(n_live - j) * sizeof *live);
        live[j] = n->id;
        n_live++;
        pl->offset[n->id] = at;
        pl->size[n->id] = need;
        if (at + need > pl->arena) pl->arena = at + need;
    }
done:
    free(last);
    free(read);
    free(live);
    if (st) placement_free(pl);
    return st;
}

static size_t sign_bytes(const tg_node *n) {
    return ((size_t)tg_shape_numel(&n->value.shape) + 7) / 8;
}

tg_status tg_values_planned_bytes(const tg_graph *g, const tg_node *target, tg_value_plan plan,
                                  size_t *bytes) {
    placement pl;
    tg_status st = place_values(g, target, plan, &pl);
    if (st) return st;
    size_t total = pl.arena * sizeof(float);
    for (int i = 0; i < g->n_nodes; i++) {
        const tg_node *n = g->nodes[i];
        if (pl.pos[i] < 0 || (n->flags & (TG_NODE_PARAM | TG_NODE_STATE))) continue;
        if (pl.verdict[i] == TG_VALUE_KEPT)
            total += (size_t)tg_shape_numel(&n->value.shape) * sizeof(float);
        else if (pl.verdict[i] == TG_VALUE_SIGN_KEPT)
            total += sign_bytes(n);
    }
    placement_free(&pl);
    *bytes = total;
    return TG_OK;
}

tg_status tg_values_place(tg_graph *g, const tg_node *target) {
    if (g->planned.valid && g->planned.target == target && g->planned.version == g->version &&
        g->planned.shape_epoch == g->shape_epoch && g->planned.plan == g->value_plan &&
        g->planned.training == g->training)
        return TG_OK;
    placement pl;
    tg_status st = place_values(g, target, g->value_plan, &pl);
    if (st) return st;
    if (pl.arena > g->arena_cap) {
        free(g->arena);
        g->arena_cap = 0;
        if (!(g->arena = aligned_alloc(64, pl.arena * sizeof(float)))) {
            st = tg_error(TG_ERR_NOMEM, "out of memory for %zu dropped values", pl.arena);
            goto done;
        }
        g->arena_cap = pl.arena;
    }
    for (int i = 0; i < g->n_nodes && !st; i++) {
        tg_node *n = g->nodes[i];
        const int p = pl.pos[i];
        n->fused_next = pl.fused_next[i] >= 0 ? g->nodes[pl.fused_next[i]] : NULL;
        n->fused_away = pl.fused[i] != 0;
        if (p < 0) { /* not computed by this forward: as it was, without a dropped value */
            if (n->dropped != TG_VALUE_KEPT) {
                n->dropped = TG_VALUE_DROPPED;
                if (n->value.owns_data) free(n->value.data); /* a shape change gave it one */
                n->value.owns_data = 0;
                n->value.data = NULL;
                n->value.capacity = 0;
            }
        } else if ((n->dropped = pl.verdict[i]) == TG_VALUE_KEPT) {
            /* An op node's own buffer is made here, at its first forward under a plan
             * that keeps it (a resize that fits keeps it). */
            if (n->op) st = tg_tensor_resize(&n->value, &n->value.shape);
        } else {
            if (n->value.owns_data) free(n->value.data);
            n->value.data = g->arena + pl.offset[i];
            n->value.capacity = pl.size[i];
            n->value.owns_data = 0;
        }
        size_t bits = n->dropped == TG_VALUE_SIGN_KEPT ? sign_bytes(n) : 0;
        if (bits > n->sign_size || !bits) {
            free(n->sign_bits);
            n->sign_bits = NULL;
            n->sign_size = 0;
            if (bits && !(n->sign_bits = malloc(bits)))
                st = tg_error(TG_ERR_NOMEM, "out of memory for the sign bits of '%s'", n->name);
            else
                n->sign_size = bits;
        }
    }
    g->planned.valid = !st;
    g->planned.target = target;
    g->planned.version = g->version;
    g->planned.shape_epoch = g->shape_epoch;
    g->planned.plan = g->value_plan;
    g->planned.training = g->training;
done:
    placement_free(&pl);
    return st;
}

/* bits[b] = the signs of y[8b .. 8b+7] (bit k: y[8b+k] > 0) for whole bytes, and
 * back to 1.0 / 0.0: one expression per byte, which the clones vectorise (a loop
 * over k stays scalar). */
TG_HOT static void pack_signs(const float *restrict y, int64_t bytes, uint8_t *restrict bits) {
#pragma omp simd
    for (int64_t b = 0; b < bytes; b++) {
        const float *p = y + 8 * b;
        bits[b] = (uint8_t)((p[0] > 0.0f) | (p[1] > 0.0f) << 1 | (p[2] > 0.0f) << 2 |
                            (p[3] > 0.0f) << 3 | (p[4] > 0.0f) << 4 | (p[5] > 0.0f) << 5 |
                            (p[6] > 0.0f) << 6 | (p[7] > 0.0f) << 7);
    }
}

TG_HOT static void unpack_signs(const uint8_t *restrict bits, int64_t bytes, float *restrict y) {
#pragma omp simd
    for (int64_t b = 0; b < bytes; b++) {
        const int v = bits[b];
        float *p = y + 8 * b;
        p[0] = (float)(v & 1);
        p[1] = (float)((v >> 1) & 1);
        p[2] = (float)((v >> 2) & 1);
        p[3] = (float)((v >> 3) & 1);
        p[4] = (float)((v >> 4) & 1);
        p[5] = (float)((v >> 5) & 1);
        p[6] = (float)((v >> 6) & 1);
        p[7] = (float)((v >> 7) & 1);
    }
}

/* Whole bytes in pieces of this many, shared among the threads; the last
 * numel % 8 values in a partial byte. */
#define SIGN_PIECE 8192

void tg_pack_signs(tg_node *n, int64_t first, int64_t count) {
    pack_signs(n->value.data + first, count / 8, n->sign_bits + first / 8);
}

void tg_values_keep_sign(tg_node *n) {
    const float *y = n->value.data;
    const int64_t numel = tg_shape_numel(&n->value.shape), whole = numel / 8;
    uint8_t *bits = n->sign_bits;
#pragma omp parallel for schedule(static) if (numel > 65536)
    for (int64_t b0 = 0; b0 < whole; b0 += SIGN_PIECE)
        pack_signs(y + 8 * b0, whole - b0 < SIGN_PIECE ? whole - b0 : SIGN_PIECE, bits + b0);
    if (numel % 8) {
        unsigned v = 0;
        for (int k = 0; k < numel % 8; k++) v |= (unsigned)(y[8 * whole + k] > 0.0f) << k;
        bits[whole] = (uint8_t)v;
    }
}

void tg_values_restore_sign(tg_node *n) {
    float *y = n->value.data;
    const int64_t numel = tg_shape_numel(&n->value.shape), whole = numel / 8;
    const uint8_t *bits = n->sign_bits;
#pragma omp parallel for schedule(static) if (numel > 65536)
    for (int64_t b0 = 0; b0 < whole; b0 += SIGN_PIECE)
        unpack_signs(bits + b0, whole - b0 < SIGN_PIECE ? whole - b0 : SIGN_PIECE, y + 8 * b0);
    for (int k = 0; k < numel % 8; k++) y[8 * whole + k] = (float)((bits[whole] >> k) & 1);
}
