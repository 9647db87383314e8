/* The op registry: every op is one table entry (a tg_op) holding its attribute
 * schema, the parameters it owns, shape inference, forward, backward, FLOP count,
 * documentation and the example shapes the gradcheck suite runs it on. The model
 * parser, the gradcheck suite, the summary and docs/ops.md are all driven by it.
 *
 *   static const tg_attr_spec scale_attrs[] = {
 *       {"alpha", TG_ATTR_FLOAT, "1", -1e30, 1e30, NULL, "factor"}};
 *   static const tg_op my_scale = {.name = "my_scale", .n_inputs = 1, ...};
 *   tg_op_register(&my_scale);   // now usable from C, model files and gradcheck
 */
#ifndef TG_OP_H
#define TG_OP_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "autograd/tg_error.h"
#include "autograd/tg_names.h"
#include "autograd/tg_tensor.h"
#include "autograd/tg_export.h"

TG_API_BEGIN

#define TG_MAX_INPUTS 4
#define TG_MAX_PARAMS 6
#define TG_MAX_ATTRS 16
#define TG_MAX_EXAMPLES 14

typedef struct tg_node tg_node;
typedef struct tg_graph tg_graph;

typedef enum tg_attr_type {
    TG_ATTR_INT,   /* integer within [min, max] */
    TG_ATTR_FLOAT, /* real within [min, max] */
    TG_ATTR_BOOL,  /* true/false (also 1/0, yes/no) */
    TG_ATTR_ENUM,  /* one of `choices` ("none|relu|sigmoid|tanh"); stored as its index */
    TG_ATTR_SHAPE, /* dims such as 8x4x4 (a reshape target) */
} tg_attr_type;

typedef struct tg_attr_spec {
    const char *name;
    tg_attr_type type;
    const char *default_value; /* as written in a model file; NULL: the attribute is required */
    double min, max;           /* inclusive range for INT and FLOAT */
    const char *choices;       /* '|'-separated for ENUM, NULL otherwise */
    const char *doc;           /* one line for docs/ops.md and --help */
} tg_attr_spec;

typedef union tg_attr_value {
    int64_t i; /* INT, BOOL, and the choice index of ENUM */
    double f;  /* FLOAT */
    tg_shape shape;
} tg_attr_value;

typedef struct tg_attrs {
    tg_attr_value v[TG_MAX_ATTRS]; /* indexed like the op's attribute schema */
    uint32_t given;                /* bit i set: attribute i was written, not defaulted */
} tg_attrs;

typedef enum tg_init {
    TG_INIT_ZEROS,
    TG_INIT_ONES,
    TG_INIT_GLOROT_UNIFORM, /* U(-a, a), a = sqrt(6 / (fan_in + fan_out)) */
    TG_INIT_HE_NORMAL,      /* N(0, 2 / fan_in) */
    TG_INIT_HE_UNIFORM,     /* U(-a, a), a = sqrt(6 / fan_in) */
} tg_init;

/* An op whose schema has an ENUM attribute "init" with these choices lets a model
 * choose the initialiser of its weights (the parameters whose spec says Glorot);
 * He initialisation keeps the signal's scale through ReLU layers. */
#define TG_INIT_CHOICES "glorot_uniform|he_normal|he_uniform"

typedef struct tg_param_spec {
    const char *name; /* the parameter's name inside its layer: "weight", "bias" */
    tg_init init;     /* fans follow PyTorch: shape (out, in, k...) */
    int state;        /* 1: non-trainable state (running mean): no gradient, not optimised */
} tg_param_spec;

typedef enum tg_input_kind {
    TG_IN_REAL = 0, /* differentiable, gradchecked with values in [-1, 1] */
    TG_IN_LABEL,    /* 0/1 labels: no gradient flows into it */
    TG_IN_POSITIVE, /* differentiable, gradchecked with values in [0.05, 2] (distances) */
} tg_input_kind;

typedef struct tg_op_example {
    const char *inputs; /* data input shapes separated by ';': "4x3x5x5;4x3x5x5" */
    const char *attrs;  /* "filters=2 kernel=3" */
    int eval_mode;      /* 1: run the check with the graph in eval mode */
} tg_op_example;

/* Shape inference: read the input shapes and node attributes, write the output
 * shape and each parameter's shape (ndim 0 leaves an optional parameter out). */
typedef tg_status (*tg_op_infer_fn)(const tg_node *node, const tg_shape *in, tg_shape *out,
                                    tg_shape *params);
/* Forward: node->value from the inputs and parameters. */
typedef tg_status (*tg_op_forward_fn)(tg_node *node);
/* Backward: from node->grad, ADD into the grad of every input and parameter that
 * wants one (tg_node_wants_grad). */
typedef tg_status (*tg_op_backward_fn)(tg_node *node);
/* Bytes of per-node memory kept from forward to backward (masks, indices, statistics). */
typedef size_t (*tg_op_bytes_fn)(const tg_node *node);
/* Forward floating-point operations for the node's current shapes. */
typedef double (*tg_op_flops_fn)(const tg_node *node);

/* What an op's backward reads of a value: the memory plan (tg_graph_set_value_plan)
 * keeps a node's value only when some backward reads it. */
typedef enum tg_value_use {
    TG_USE_VALUE = 0, /* the values themselves (what an op without backward_use declares) */
    TG_USE_SIGN,      /* only whether each value is > 0 (a fused ReLU's mask) */
    TG_USE_NONE,      /* nothing but the shape (max pooling reads its saved argmax) */
    TG_USE_SIGN_BITS, /* only the sign, read from the packed bits (tg_node_sign_bits) */
} tg_value_use;
/* What node's backward reads of its data input `input`, or of its own output for
 * input = -1. A TG_USE_SIGN output is handed back to backward as 1 where the value
 * was > 0 and 0 elsewhere. A TG_USE_SIGN_BITS output is not unpacked: backward reads
 * tg_node_sign_bits when it is not NULL, the values (all kept) when it is. */
typedef tg_value_use (*tg_op_use_fn)(const tg_node *node, int input);

/* A node's output kept only as its signs by the value plan: bit k of byte b is
 * value[8 b + k] > 0, for every element in order. NULL when the values are there
 * (kept in full). For the backward of a TG_USE_SIGN_BITS op. */
const uint8_t *tg_node_sign_bits(const tg_node *node);

typedef struct tg_op {
    const char *name;
    const char *doc;     /* one line: what it computes */
    const char *formula; /* the math, for docs/ops.md */
    int n_inputs;        /* data inputs (parameters are separate) */
    tg_input_kind input_kind[TG_MAX_INPUTS];
    const tg_attr_spec *attrs;
    int n_attrs;
    const tg_param_spec *params;
    int n_params;
    tg_op_infer_fn infer;
    tg_op_forward_fn forward;
    tg_op_backward_fn backward;   /* NULL: not differentiable */
    tg_op_bytes_fn saved_bytes;   /* NULL: nothing saved (node->saved stays NULL) */
    tg_op_bytes_fn scratch_bytes; /* NULL: none; scratch lives only during one call */
    tg_op_flops_fn flops;
    tg_op_use_fn backward_use; /* NULL: backward may read every input's value and its own */
    tg_op_example examples[TG_MAX_EXAMPLES]; /* ended by an entry with inputs == NULL */
    double gc_eps, gc_tol; /* gradcheck step and tolerance; 0 picks the defaults */
    /* 1: for an input whose gradient tg_node_grad_fresh reports fresh, backward sets
     * every element itself (zeroes its slice before adding into it, or overwrites
     * it), and the graph skips zeroing that buffer in a separate pass. */
    int sets_fresh_input_grads;
    /* Optional, both or neither: a forward that also does the next node's. In a
     * forward that keeps no values for a backward (TG_VALUES_TARGET), where `next`
     * comes right after node in the forward order and is the only reader of node's
     * output (which is not the target), the graph asks fuses(node, next); when it
     * says 1, forward_fused(node, next) computes next's value (node's value may be
     * left unwritten) and next's own forward is skipped. The result must be what
     * the two forwards give. A node whose forward another's does fuses nothing in
     * turn (no chains). fuses is asked when the plan is made, again only when the
     * target, a shape, the value plan or the training mode changes: its answer may
     * depend on those and the attributes, nothing else. docs/architecture.md,
     * "Fused forwards". */
    int (*fuses)(const tg_node *node, const tg_node *next);
    tg_status (*forward_fused)(tg_node *node, tg_node *next);
} tg_op;

/* Whether the gradient of node's data input `input` is fresh in this backward: not
 * zeroed, holding stale numbers, and this node the first to write it. Only for
 * ops with sets_fresh_input_grads; 0 everywhere else. */
int tg_node_grad_fresh(const tg_node *node, int input);

/* Register a user op (the struct must outlive its use). A duplicate or invalid
 * entry is refused with TG_ERR_INVALID. The registry is process-wide: register
 * before building graphs, not concurrently with lookups. */
tg_status tg_op_register(const tg_op *op);
/* Forget every user-registered op (the built-ins stay); graphs that use one must
 * be freed first. Tests and plugin hosts use it to start from a clean registry. */
void tg_op_registry_reset(void);
/* Find an op by name, or NULL. */
const tg_op *tg_op_find(const char *name);
/* The number of registered ops, built-in and user, and the i-th of them. */
int tg_op_count(void);
const tg_op *tg_op_at(int i);
/* The registered op name closest to `name` (edit distance), for "did you mean". */
const char *tg_op_nearest(const char *name);

/* Index of attribute `name` in op's schema, or -1. */
int tg_op_attr_index(const tg_op *op, const char *name);
/* Set every attribute to its default (required ones stay unset). */
void tg_attrs_init(const tg_op *op, tg_attrs *attrs);
/* Set attribute `key` from its text `value`, checking type and range. */
tg_status tg_attrs_set(const tg_op *op, tg_attrs *attrs, const char *key, const char *value);
/* Check that every required attribute was given. */
tg_status tg_attrs_check(const tg_op *op, const tg_attrs *attrs);
/* Parse "key=value key=value" (init, set each, check); NULL or "" means all defaults. */
tg_status tg_attrs_parse(const tg_op *op, const char *text, tg_attrs *attrs);
/* Write attribute i's value as text (the model-file spelling) into buf. */
char *tg_attr_str(const tg_op *op, const tg_attrs *attrs, int i, char *buf, size_t size);

/* Write the op reference (docs/ops.md) for every registered op. */
tg_status tg_ops_write_markdown(FILE *out);

TG_API_END

#endif
