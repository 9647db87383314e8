/* Helpers shared by the op implementations in ops/ (not installed). */
#ifndef TG_OP_UTIL_H
#define TG_OP_UTIL_H

#include <stdint.h>

#include "autograd/tg_node_impl.h"

#ifdef _OPENMP
#include <omp.h>
/* Threads a kernel may share work among, and the calling thread's index. */
static inline int tg_max_workers(void) {
    return omp_get_max_threads();
}
static inline int tg_worker_id(void) {
    return omp_get_thread_num();
}
#else
static inline int tg_max_workers(void) {
    return 1;
}
static inline int tg_worker_id(void) {
    return 0;
}
#endif

/* Elementwise loops go parallel only above this many elements: below it the
 * OpenMP fork costs more than it saves. */
#define TG_PAR_MIN 32768

/* Activations shared by dense, conv2d and sepconv2d through their act= attribute. */
typedef enum tg_act { TG_ACT_NONE, TG_ACT_RELU, TG_ACT_SIGMOID, TG_ACT_TANH } tg_act;
#define TG_ACT_CHOICES "none|relu|sigmoid|tanh"
/* y = act(y) in place over n floats. */
void tg_act_forward(tg_act act, float *y, int64_t n);
/* dz = dy * act'(z) (or dz += ... when `accumulate`) for the n values of node's
 * output y = act(z): all three derivatives are functions of y, so z need not be
 * kept, and a ReLU's only of y's sign, read from the sign bits when the value plan
 * kept only those. relu' is taken as [y > 0] by selection (dy where y > 0, else 0). */
void tg_act_backward(const tg_node *node, tg_act act, const float *dy, float *dz, int64_t n,
                     int accumulate);
/* Sign bits of a node's values [first, first + count), both multiples of 8, packed
 * by its own forward while they are in cache (tg_node_sign_bits non-NULL); the op
 * then sets node->signs_packed once every value is, and the graph's pass over the
 * whole output is skipped. Serial; distinct ranges may be packed concurrently. */
void tg_pack_signs(tg_node *node, int64_t first, int64_t count);
/* What tg_act_backward reads of y: nothing (none), its sign bits (relu), the values. */
tg_value_use tg_act_output_use(tg_act act);
/* ReLU's dz[j] = dy[j] where bit first + j of a sign-bit array (tg_node_sign_bits) is
 * set, else 0, for j < n; or dz[j] += that when `accumulate`. Serial. */
void tg_relu_grad_bits(const uint8_t *bits, int64_t first, const float *dy, float *dz, int64_t n,
                       int accumulate);

#define TG_ATTR_I(node, idx) ((node)->attrs.v[(idx)].i)
#define TG_ATTR_F(node, idx) ((node)->attrs.v[(idx)].f)

static inline int64_t tg_numel(const tg_tensor *t) {
    return tg_shape_numel(&t->shape);
}

/* The input's value and, when it wants one, its gradient (else NULL). */
static inline const float *tg_in(const tg_node *n, int i) {
    return n->inputs[i]->value.data;
}
static inline float *tg_din(const tg_node *n, int i) {
    return tg_node_wants_grad(n->inputs[i]) ? n->inputs[i]->grad.data : NULL;
}
static inline float *tg_dparam(const tg_node *n, int i) {
    return tg_node_wants_grad(n->params[i]) ? n->params[i]->grad.data : NULL;
}

/* dx[i] += dy[i] * scale over n elements. */
void tg_axpy_add(float *dx, const float *dy, float scale, int64_t n);
/* A shape-mismatch error: "<what> must be <expected>, got (a,b,...)". */
tg_status tg_shape_error(const char *what, const char *expected, const tg_shape *got);

#endif
