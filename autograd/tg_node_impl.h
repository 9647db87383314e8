/* The inside of a graph node (not installed): library code in autograd/, ops/
 * and the modules above reads the fields directly; users go through the
 * accessors of autograd/tg_graph.h. */
#ifndef TG_NODE_IMPL_H
#define TG_NODE_IMPL_H

#include "autograd/tg_graph.h"

struct tg_node {
    int id;     /* index in creation order */
    char *name; /* unique within the graph */
    unsigned flags;
    const tg_op *op; /* NULL for inputs, parameters and constants */
    tg_attrs attrs;
    tg_layer *layer; /* the layer this node applies (op nodes) */
    int n_inputs;
    tg_node *inputs[TG_MAX_INPUTS];
    tg_node *params[TG_MAX_PARAMS]; /* as the op's param specs; NULL if left out */
    tg_tensor value;
    tg_tensor grad; /* allocated only where a gradient is wanted */
    void *saved;    /* op memory kept from forward to backward */
    size_t saved_size;
    void *scratch;         /* graph-wide scratch, valid during one forward/backward call */
    size_t scratch_size;   /* its bytes: at least the op's scratch_bytes at sizing time */
    int wants_grad;        /* a gradient flows into this node */
    int requires_grad;     /* inputs: the caller asked for d loss / d input */
    tg_init init;          /* parameters: how they were initialised */
    int dropped;           /* the value plan's verdict: 0 kept, else one of the DROP_* of
                              tg_graph.c (the value lives in the graph's arena) */
    uint8_t *sign_bits;    /* DROP_KEEP_SIGN: bit i is value[i] > 0, kept for backward */
    size_t sign_size;      /* bytes allocated at sign_bits */
    unsigned fresh_grads;  /* bit k: input k's gradient is fresh (tg_node_grad_fresh) */
    int signs_packed;      /* this forward's op packed sign_bits itself (tg_pack_signs) */
    tg_node *fused_next;   /* the value plan's: the next op node in the forward order,
                              whose forward this one's does (tg_op.fuses), or NULL */
    int fused_away;        /* the value plan's: an earlier node's forward does this one's */
    tg_node_timing timing; /* while the graph's timing is on */
    int forward_seen;      /* the graph's forward count when a forward last computed it */
    tg_graph *graph;
};

#endif
