/* The inside of a graph (not installed): autograd/tg_graph.c and the value plan
 * (autograd/tg_value_plan.c) share it. */
#ifndef TG_GRAPH_IMPL_H
#define TG_GRAPH_IMPL_H

#include "autograd/tg_graph.h"

struct tg_layer {
    tg_graph *graph;
    char *name;
    const tg_op *op;
    tg_attrs attrs;
    tg_node *params[TG_MAX_PARAMS];
    int applied; /* how many nodes apply this layer */
};

/* The ancestors of one target in topological order, cached until the graph changes. */
typedef struct tg_order {
    tg_node *target;
    int version;
    int n;
    int *ids;
} tg_order;

struct tg_graph {
    tg_node **nodes;
    int n_nodes, cap_nodes;
    tg_layer **layers;
    int n_layers, cap_layers;
    tg_node **params; /* parameter and state nodes, creation order */
    int n_params, cap_params;
    int training;
    int no_init; /* parameters start at zero, drawing nothing (a restore will fill them) */
    tg_rng rng;
    int version;     /* bumped on every structural change */
    int shape_epoch; /* bumped whenever an input changes shape */
    int *node_epoch; /* per node: the epoch its shape was inferred at */
    int packed;      /* parameters live in the flat buffers */
    int shape_only;  /* shapes without values (tg_graph_new_shape_only) */
    float *param_buf, *grad_buf, *state_buf;
    int64_t n_param_floats, n_state_floats;
    void *scratch;
    size_t scratch_size;
    tg_order order;
    int grad_reuse;   /* share intermediate gradients by liveness */
    float **pool;     /* those shared gradient buffers */
    size_t *pool_cap; /* floats in each */
    int *pool_busy;   /* 1 while a node's gradient lives in it */
    int n_pool;
    tg_value_plan value_plan;
    float *arena;     /* the values the plan drops, placed by forward liveness */
    size_t arena_cap; /* floats */
    struct {          /* what the current placement was made for */
        int valid, version, shape_epoch;
        int training; /* the fused pairs depend on it (an eval-mode batch norm fuses) */
        const tg_node *target;
        tg_value_plan plan;
    } planned;
    int values_dropped; /* the last forward ran under TG_VALUES_TARGET */
    /* Complete forwards so far, and the structure and shapes the last one ran with: a
     * backward needs its node computed by that forward, on the graph as it is now. */
    int forwards, forward_version, forward_shape_epoch;
    int timing; /* tg_graph_set_timing */
};

/* ---- the value plan (autograd/tg_value_plan.c) ---- */

/* A node's verdict under the plan (tg_node.dropped). */
enum { TG_VALUE_KEPT = 0, TG_VALUE_DROPPED, TG_VALUE_SIGN_KEPT };

/* Apply the graph's plan to its current order (g->order, for `target`): dropped
 * values into the arena, the others (back) into buffers of their own. Redone only
 * when the order, the shapes or the plan change. */
tg_status tg_values_place(tg_graph *g, const tg_node *target);
/* What a forward of the current order under `plan` gives the values (kept ones, the
 * arena, sign bits; not parameters), without running it or allocating any. */
tg_status tg_values_planned_bytes(const tg_graph *g, const tg_node *target, tg_value_plan plan,
                                  size_t *bytes);
/* After a TG_VALUE_SIGN_KEPT node's forward: keep bit i = value[i] > 0, since the
 * arena will reuse the value. */
void tg_values_keep_sign(tg_node *n);
/* Before its backward: the value as 1 where it was > 0 and 0 elsewhere, which is all
 * a TG_USE_SIGN backward reads. */
void tg_values_restore_sign(tg_node *n);

#endif
