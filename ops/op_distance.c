/* Embedding geometry for Siamese heads: the per-pair Euclidean distance between
 * two embeddings, and scaling embeddings to unit length. */
#include <math.h>

#include "ops/tg_builtin_ops.h"
#include "ops/tg_op_util.h"

/* ---- l2distance: a, b (N, D) -> d (N) ---- */

static tg_status l2distance_infer(const tg_node *n, const tg_shape *in, tg_shape *out,
                                  tg_shape *params) {
    (void)n;
    (void)params;
    char a[64], b[64];
    if (!tg_shape_equal(&in[0], &in[1]) || in[0].ndim < 2)
        return tg_error(TG_ERR_SHAPE,
                        "l2distance needs two (N, D) embeddings of equal shape, "
                        "got %s and %s",
                        tg_shape_str(&in[0], a, sizeof a), tg_shape_str(&in[1], b, sizeof b));
    *out = tg_shape1(in[0].dim[0]);
    return TG_OK;
}

static tg_status l2distance_forward(tg_node *n) {
    const tg_shape *s = &n->inputs[0]->value.shape;
    int64_t batch = s->dim[0], d = tg_shape_item_numel(s);
    const float *a = tg_in(n, 0), *b = tg_in(n, 1);
    for (int64_t i = 0; i < batch; i++) {
        double acc = 0.0;
        for (int64_t k = 0; k < d; k++) {
            double diff = (double)a[i * d + k] - (double)b[i * d + k];
            acc += diff * diff;
        }
        n->value.data[i] = (float)sqrt(acc);
    }
    return TG_OK;
}

/* dD/da = (a - b) / D. At D = 0 the distance has no derivative; we use 0, the
 * smallest subgradient, so identical embeddings get no push in a made-up direction. */
static tg_status l2distance_backward(tg_node *n) {
    const tg_shape *s = &n->inputs[0]->value.shape;
    int64_t batch = s->dim[0], d = tg_shape_item_numel(s);
    const float *a = tg_in(n, 0), *b = tg_in(n, 1);
    float *da = tg_din(n, 0), *db = tg_din(n, 1);
    for (int64_t i = 0; i < batch; i++) {
        float dist = n->value.data[i];
        if (dist <= 0.0f) continue;
        float g = n->grad.data[i] / dist;
        for (int64_t k = 0; k < d; k++) {
            float diff = g * (a[i * d + k] - b[i * d + k]);
            if (da) da[i * d + k] += diff;
            if (db) db[i * d + k] -= diff;
        }
    }
    return TG_OK;
}

static double l2distance_flops(const tg_node *n) {
    return 3.0 * (double)tg_numel(&n->inputs[0]->value);
}

const tg_op tg_op_l2distance = {
    .name = "l2distance",
    .doc = "Euclidean distance between paired rows of two embeddings",
    .formula =
        "D_i = sqrt(sum_k (a_ik - b_ik)^2); dD_i/da_i = (a_i - b_i) / D_i, taken as 0 at D_i = 0",
    .n_inputs = 2,
    .infer = l2distance_infer,
    .forward = l2distance_forward,
    .backward = l2distance_backward,
    .flops = l2distance_flops,
    .examples = {{"4x3;4x3", ""}, {"2x5;2x5", ""}, {"3x2x2x2;3x2x2x2", ""}},
};

/* ---- l2normalize: x (N, ...) -> x / max(||x||, eps) per item ---- */

enum { A_EPS };
static const tg_attr_spec l2normalize_attrs[] = {
    {"eps", TG_ATTR_FLOAT, "1e-12", 0, 1, NULL, "norms below eps are treated as eps (zero-safe)"},
};

static tg_status l2normalize_infer(const tg_node *n, const tg_shape *in, tg_shape *out,
                                   tg_shape *params) {
    (void)n;
    (void)params;
    if (in[0].ndim < 2) return tg_shape_error("l2normalize input", "(N, D)", &in[0]);
    *out = in[0];
    return TG_OK;
}

static size_t l2normalize_saved(const tg_node *n) {
    return (size_t)n->value.shape.dim[0] * sizeof(float); /* one norm per item */
}

static tg_status l2normalize_forward(tg_node *n) {
    const tg_shape *s = &n->value.shape;
    int64_t batch = s->dim[0], d = tg_shape_item_numel(s);
    const float *x = tg_in(n, 0);
    float *y = n->value.data, *norms = n->saved;
    double eps = TG_ATTR_F(n, A_EPS);
    for (int64_t i = 0; i < batch; i++) {
        double acc = 0.0;
        for (int64_t k = 0; k < d; k++) acc += (double)x[i * d + k] * x[i * d + k];
        double norm = sqrt(acc);
        norms[i] = (float)norm;
        float inv = (float)(1.0 / (norm > eps ? norm : eps));
        for (int64_t k = 0; k < d; k++) y[i * d + k] = x[i * d + k] * inv;
    }
    return TG_OK;
}

/* For ||x|| > eps: dx = (dy - y (y . dy)) / ||x||; below eps y = x / eps is linear: dx = dy / eps.
 */
static tg_status l2normalize_backward(tg_node *n) {
    const tg_shape *s = &n->value.shape;
    int64_t batch = s->dim[0], d = tg_shape_item_numel(s);
    const float *y = n->value.data, *dy = n->grad.data, *norms = n->saved;
    float *dx = tg_din(n, 0);
    double eps = TG_ATTR_F(n, A_EPS);
    if (!dx) return TG_OK;
    for (int64_t i = 0; i < batch; i++) {
        const float *yi = y + i * d, *gi = dy + i * d;
        float *dxi = dx + i * d;
        if (norms[i] > eps) {
            double dot = 0.0;
            for (int64_t k = 0; k < d; k++) dot += (double)yi[k] * gi[k];
            float inv = 1.0f / norms[i];
            for (int64_t k = 0; k < d; k++) dxi[k] += (gi[k] - yi[k] * (float)dot) * inv;
        } else {
            for (int64_t k = 0; k < d; k++) dxi[k] += gi[k] / (float)eps;
        }
    }
    return TG_OK;
}

static double l2normalize_flops(const tg_node *n) {
    return 3.0 * (double)tg_numel(&n->value);
}

const tg_op tg_op_l2normalize = {
    .name = "l2normalize",
    .doc = "scale each item to unit Euclidean length (embeddings on the unit sphere)",
    .formula = "y_i = x_i / max(||x_i||, eps); dx_i = (dy_i - y_i (y_i . dy_i)) / ||x_i||",
    .n_inputs = 1,
    .attrs = l2normalize_attrs,
    .n_attrs = 1,
    .infer = l2normalize_infer,
    .forward = l2normalize_forward,
    .backward = l2normalize_backward,
    .saved_bytes = l2normalize_saved,
    .flops = l2normalize_flops,
    .examples = {{"4x3", ""}, {"2x6", ""}, {"2x2x2x2", ""}},
};
