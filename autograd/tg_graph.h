/* The static computation graph and reverse-mode autodiff. A graph is built once,
 * then forward/backward run over its nodes in topological order, batch after
 * batch, reusing buffers. A layer (an op, its attributes and its parameters) can
 * be applied to several inputs: that is how the two Siamese towers share weights.
 *
 *   tg_graph *g = tg_graph_new(42);
 *   tg_node *xa = tg_graph_input(g, "a", tg_shape2(32, 10));
 *   tg_node *xb = tg_graph_input(g, "b", tg_shape2(32, 10));
 *   tg_node *y  = tg_graph_input(g, "y", tg_shape1(32));
 *   tg_layer *fc = tg_graph_layer(g, "dense", "fc", "units=8 act=tanh");
 *   tg_node *d = tg_graph_op(g, "l2distance", NULL, NULL,
 *                            (tg_node *[]){tg_layer_apply1(fc, xa), tg_layer_apply1(fc, xb)}, 2);
 *   tg_node *loss = tg_graph_op(g, "contrastive", "loss", "margin=1", (tg_node *[]){d, y}, 2);
 *   if (!loss) fprintf(stderr, "%s\n", tg_last_error());   // errors propagate through NULL
 *   ... fill inputs; tg_graph_forward(g, loss); tg_graph_zero_grad(g); tg_graph_backward(g, loss);
 */
#ifndef TG_GRAPH_H
#define TG_GRAPH_H

#include <stddef.h>
#include <stdint.h>

#include "autograd/tg_error.h"
#include "autograd/tg_op.h"
#include "autograd/tg_rng.h"
#include "autograd/tg_tensor.h"
#include "autograd/tg_export.h"

TG_API_BEGIN

/* Node kinds, by flag. An op node has none of the first four. */
enum {
    TG_NODE_INPUT = 1u << 0, /* filled by the caller each batch */
    TG_NODE_PARAM = 1u << 1, /* trainable, lives in the flat parameter buffer */
    TG_NODE_CONST = 1u << 2, /* fixed value, no gradient */
    TG_NODE_STATE = 1u << 3, /* non-trainable parameter (running statistics) */
    TG_NODE_LOSS = 1u << 4,  /* marked as a loss (for summaries and the builder) */
    TG_NODE_KEEP = 1u << 5,  /* its value is kept under every value plan (tg_node_keep_value) */
};

typedef struct tg_layer tg_layer;

/* A new, empty graph whose RNG is seeded with `seed`. NULL only when out of memory. */
tg_graph *tg_graph_new(uint64_t seed);
/* A graph that only infers shapes: nodes and parameters get their shapes, but no values,
 * gradients or scratch memory are allocated and nothing is initialised, so a model of any
 * size costs a few bytes per node. For summaries and memory estimates; forward, backward,
 * tg_input_set and the flat parameter buffers refuse it with TG_ERR_STATE. */
tg_graph *tg_graph_new_shape_only(void);
/* Free the graph, its nodes, layers and buffers. NULL is fine. */
void tg_graph_free(tg_graph *g);

/* An input filled by the caller (tg_input_set); `shape` is its first shape. */
tg_node *tg_graph_input(tg_graph *g, const char *name, tg_shape shape);
/* A constant with a copy of `data` (numel floats of `shape`). */
tg_node *tg_graph_constant(tg_graph *g, const char *name, tg_shape shape, const float *data);
/* A standalone trainable parameter, initialised from the graph's RNG. */
tg_node *tg_graph_param(tg_graph *g, const char *name, tg_shape shape, tg_init init);

/* A layer: op `op` with attributes `attrs` ("units=64 act=relu"), named `name`
 * (NULL: a generated name). Its parameters are created on the first apply and
 * shared by every later apply. NULL on error (unknown op, bad attribute). */
tg_layer *tg_graph_layer(tg_graph *g, const char *op, const char *name, const char *attrs);
/* The same from an op and attributes already parsed (tg_attrs_parse, or a model
 * definition's): no text is read. Required attributes must be set. */
tg_layer *tg_graph_layer_new(tg_graph *g, const tg_op *op, const char *name, const tg_attrs *attrs);
/* Apply a layer to `n` data inputs; shapes are inferred now, so a mismatch is an
 * error naming the node. A NULL input (an earlier failure) gives NULL and keeps
 * that failure's message. */
tg_node *tg_layer_apply(tg_layer *layer, tg_node *const *inputs, int n);
tg_node *tg_layer_apply1(tg_layer *layer, tg_node *x);
tg_node *tg_layer_apply2(tg_layer *layer, tg_node *a, tg_node *b);
/* A one-use layer: tg_graph_layer + tg_layer_apply. */
tg_node *tg_graph_op(tg_graph *g, const char *op, const char *name, const char *attrs,
                     tg_node *const *inputs, int n);
/* The layer's name and op, and its parameter node i (NULL before the first apply). */
const char *tg_layer_name(const tg_layer *layer);
const tg_op *tg_layer_op(const tg_layer *layer);
tg_node *tg_layer_param(const tg_layer *layer, int i);

/* Give an input a new shape (batch size) and copy `data` into it (NULL: zeros).
 * Downstream shapes are re-inferred at the next forward; buffers are reused. */
tg_status tg_input_set(tg_node *input, tg_shape shape, const float *data);
/* Ask for d loss / d input in backward (gradcheck, saliency). */
void tg_node_set_requires_grad(tg_node *input, int on);
/* 1 when backward should add into this node's grad (0 for NULL). */
int tg_node_wants_grad(const tg_node *n);

/* Train (1) or eval (0) mode: batch norm statistics, dropout, conv2d algo=auto's
 * Winograd tile (F(2x2, 3x3) in train mode, F(4x4, 3x3) in eval mode). Default: train. */
void tg_graph_set_training(tg_graph *g, int training);
int tg_graph_training(const tg_graph *g);
/* The graph's RNG (dropout, initialisation); its state is part of a checkpoint. */
tg_rng *tg_graph_rng(tg_graph *g);
/* Initialise parameters created from now on (1, the default), or leave them at
 * zero and draw nothing from the RNG (0): for a graph a checkpoint will restore. */
void tg_graph_set_init(tg_graph *g, int on);

/* Run the forward pass for `target` and everything it depends on. Shapes are
 * re-inferred if an input changed shape; parameters are packed on first use. */
tg_status tg_graph_forward(tg_graph *g, tg_node *target);
/* Backward from a scalar `loss` (d loss = 1): zeroes the activation gradients of
 * its ancestors, then ADDS into parameter gradients (see tg_graph_zero_grad).
 * TG_ERR_STATE unless the last forward computed `loss` on the graph as it is now (no
 * input reshaped, no node added since). */
tg_status tg_graph_backward(tg_graph *g, tg_node *loss);
/* Backward from any node with the seed gradient `seed` (numel of its value). */
tg_status tg_graph_backward_from(tg_graph *g, tg_node *node, const float *seed);
/* Zero every parameter gradient. */
void tg_graph_zero_grad(tg_graph *g);
/* Share the gradient buffers of intermediate nodes by liveness during backward
 * (on: 1): a node's gradient lives from the first backward that adds into it to
 * its own backward, and buffers whose lifetimes do not overlap are one. Saves
 * most of the activation-gradient memory of a deep tower; afterwards only the
 * gradients of parameters, of inputs that asked and of the seed node are kept
 * (tg_node_grad of any other node is NULL). Off by default; models built by
 * tg_model_build turn it on. */
void tg_graph_set_grad_reuse(tg_graph *g, int on);

/* Which activation values a forward keeps. */
typedef enum tg_value_plan {
    TG_VALUES_KEEP = 0, /* every node's value, readable after forward (the default) */
    TG_VALUES_BACKWARD, /* those some backward reads (tg_op.backward_use): a value read by
                           no backward, or only through its sign (a fused ReLU's output that
                           max pooling consumes), lives in a shared arena by forward
                           liveness, with one bit per element kept where backward needs
                           the sign. Gradients are unchanged, bit for bit. */
    TG_VALUES_TARGET,   /* only the forward target's (inference): every other op node's
                           value lives in the arena, and backward is refused until a
                           forward under another plan */
} tg_value_plan;
/* Choose the plan for the forwards that follow (models built by tg_model_build train
 * under TG_VALUES_BACKWARD and embed under TG_VALUES_TARGET). A value the plan drops
 * is not readable after the forward: tg_node_value_kept says which are. */
void tg_graph_set_value_plan(tg_graph *g, tg_value_plan plan);
tg_value_plan tg_graph_value_plan(const tg_graph *g);
/* 1 when the last forward kept n's value (inputs, parameters, kept op nodes). */
int tg_node_value_kept(const tg_node *n);
/* Keep n's value under every plan (on: 1), for a node the caller reads after forward. */
void tg_node_keep_value(tg_node *n, int on);
/* Bytes the node values take now: the buffers of kept values, the arena of dropped
 * ones and their sign bits. */
size_t tg_graph_value_bytes(const tg_graph *g);
/* The bytes a forward of `target` under `plan` would give the values of its inputs and
 * op nodes (kept values, the arena, sign bits; not parameters), without running it or
 * allocating any: also on a shape-only graph (tg_model_summary uses it). */
tg_status tg_graph_plan_bytes(tg_graph *g, tg_node *target, tg_value_plan plan, size_t *bytes);
/* The bytes the ops take for themselves at the current shapes: what each keeps from
 * forward to backward (saved_bytes), summed, and the one scratch buffer all share (the
 * largest scratch_bytes). Allocates nothing: also on a shape-only graph, so that a
 * model's cost is known before it is built (tg_model_build). */
uint64_t tg_graph_op_bytes(const tg_graph *g);

/* Per-node timing, for profiles (off by default): while on, every forward and
 * backward of an op node adds its wall time to the node's totals. Switching it on
 * zeroes them; switching it off keeps them for reading. */
void tg_graph_set_timing(tg_graph *g, int on);
typedef struct tg_node_timing {
    double forward_s, backward_s; /* wall time, summed over the calls */
    int64_t forwards, backwards;  /* calls */
} tg_node_timing;
/* n's totals (all zero for inputs, parameters and a graph never timed). */
tg_node_timing tg_node_timing_get(const tg_node *n);

/* The nodes in creation order (which is a topological order). */
int tg_graph_node_count(const tg_graph *g);
tg_node *tg_graph_node(const tg_graph *g, int i);
/* A node by its unique name, or NULL. */
tg_node *tg_graph_find(const tg_graph *g, const char *name);

/* Parameters (trainable and state) in creation order, and their total float counts. */
int tg_graph_param_count(const tg_graph *g);
tg_node *tg_graph_param_at(const tg_graph *g, int i);
/* All trainable parameters in one flat buffer, gradients mirrored in a second
 * with the same layout; packs the parameters first if needed. NULL on error. */
float *tg_graph_param_data(tg_graph *g, int64_t *count);
float *tg_graph_grad_data(tg_graph *g, int64_t *count);
/* The non-trainable state (running statistics), also flat. */
float *tg_graph_state_data(tg_graph *g, int64_t *count);

/* A node is opaque: read it through these. Its unique name, its kind flags
 * (TG_NODE_*; 0 for an op node) and its op (NULL for inputs and parameters). */
const char *tg_node_name(const tg_node *n);
unsigned tg_node_kind(const tg_node *n);
const tg_op *tg_node_op(const tg_node *n);
/* The layer an op node applies (NULL for inputs, parameters and constants): the
 * two towers' nodes of one shared layer name the same layer. */
tg_layer *tg_node_layer(const tg_node *n);
/* The graph the node belongs to (its training flag and RNG, for ops). */
tg_graph *tg_node_graph(const tg_node *n);
/* Shape, value and gradient of a node (gradient NULL where none is kept). */
const tg_shape *tg_node_shape(const tg_node *n);
float *tg_node_data(tg_node *n);
float *tg_node_grad(tg_node *n);

/* For op implementations (forward/backward of a registered op): data input i,
 * parameter i (NULL where the op left an optional one out), the parsed
 * attributes (indexed like the op's schema), and the node's saved memory (the
 * op's saved_bytes, kept from forward to backward) and scratch (scratch_bytes,
 * valid during one call). */
tg_node *tg_node_input(const tg_node *n, int i);
tg_node *tg_node_param(const tg_node *n, int i);
const tg_attrs *tg_node_attrs(const tg_node *n);
void *tg_node_saved(tg_node *n);
void *tg_node_scratch(tg_node *n);
/* The node's op attributes by name (the op must have that attribute). */
double tg_node_attr_float(const tg_node *n, const char *name);

TG_API_END

#endif
