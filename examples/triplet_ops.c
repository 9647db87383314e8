/* cosine_distance and triplet_margin: user ops registered at run time, from C
 * (triplet_ops_register) or as the plugin examples/triplet_plugin.c. */
#include "examples/triplet_ops.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

/* ---- cosine_distance: a, b (N, D) -> d (N) = 1 - a.b / (|a| |b|) ---- */

static tg_status cosine_infer(const tg_node *n, const tg_shape *in, tg_shape *out, tg_shape *p) {
    (void)n;
    (void)p;
    if (in[0].ndim != 2 || !tg_shape_equal(&in[0], &in[1]))
        return tg_error(TG_ERR_SHAPE, "cosine_distance needs two (N, D) inputs of equal shape");
    *out = tg_shape1(in[0].dim[0]);
    return TG_OK;
}

/* |a|, |b| and a.b of row i, in double. */
static void row_stats(const float *a, const float *b, int64_t d, double *na, double *nb,
                      double *dot) {
    *na = *nb = *dot = 0.0;
    for (int64_t k = 0; k < d; k++) {
        *na += (double)a[k] * a[k];
        *nb += (double)b[k] * b[k];
        *dot += (double)a[k] * b[k];
    }
    *na = sqrt(*na) + 1e-12; /* keeps zero vectors finite */
    *nb = sqrt(*nb) + 1e-12;
}

static tg_status cosine_forward(tg_node *n) {
    int64_t batch = tg_node_shape(n)->dim[0], d = tg_node_shape(tg_node_input(n, 0))->dim[1];
    const float *a = tg_node_data(tg_node_input(n, 0)), *b = tg_node_data(tg_node_input(n, 1));
    for (int64_t i = 0; i < batch; i++) {
        double na, nb, dot;
        row_stats(a + i * d, b + i * d, d, &na, &nb, &dot);
        tg_node_data(n)[i] = (float)(1.0 - dot / (na * nb));
    }
    return TG_OK;
}

/* d(1 - cos)/da = -(b / (|a||b|) - cos a / |a|^2), and symmetrically for b. */
static tg_status cosine_backward(tg_node *n) {
    int64_t batch = tg_node_shape(n)->dim[0], d = tg_node_shape(tg_node_input(n, 0))->dim[1];
    const float *a = tg_node_data(tg_node_input(n, 0)), *b = tg_node_data(tg_node_input(n, 1));
    float *da = tg_node_wants_grad(tg_node_input(n, 0)) ? tg_node_grad(tg_node_input(n, 0)) : NULL;
    float *db = tg_node_wants_grad(tg_node_input(n, 1)) ? tg_node_grad(tg_node_input(n, 1)) : NULL;
    for (int64_t i = 0; i < batch; i++) {
        double na, nb, dot, g = tg_node_grad(n)[i];
        row_stats(a + i * d, b + i * d, d, &na, &nb, &dot);
        double cos = dot / (na * nb);
        for (int64_t k = 0; k < d; k++) {
            double ak = a[i * d + k], bk = b[i * d + k];
            if (da) da[i * d + k] -= (float)(g * (bk / (na * nb) - cos * ak / (na * na)));
            if (db) db[i * d + k] -= (float)(g * (ak / (na * nb) - cos * bk / (nb * nb)));
        }
    }
    return TG_OK;
}

static const tg_op cosine_op = {
    .name = "cosine_distance",
    .doc = "one minus the cosine similarity of paired rows (a user op from examples/)",
    .formula = "d_i = 1 - a_i.b_i / (|a_i| |b_i|)",
    .n_inputs = 2,
    .infer = cosine_infer,
    .forward = cosine_forward,
    .backward = cosine_backward,
    .examples = {{"4x3;4x3", ""}, {"2x6;2x6", ""}},
};

/* ---- triplet_margin: d_ap (N), d_an (N) -> mean max(0, d_ap - d_an + margin) ---- */

static const tg_attr_spec triplet_attrs[] = {
    {"margin", TG_ATTR_FLOAT, "0.2", 0, 100, NULL, "how much closer the positive must be"},
};

static tg_status triplet_infer(const tg_node *n, const tg_shape *in, tg_shape *out, tg_shape *p) {
    (void)n;
    (void)p;
    if (in[0].ndim != 1 || !tg_shape_equal(&in[0], &in[1]))
        return tg_error(TG_ERR_SHAPE, "triplet_margin needs two (N) distance vectors");
    *out = tg_shape1(1);
    return TG_OK;
}

static tg_status triplet_forward(tg_node *n) {
    int64_t batch = tg_node_shape(tg_node_input(n, 0))->dim[0];
    const float *ap = tg_node_data(tg_node_input(n, 0)), *an = tg_node_data(tg_node_input(n, 1));
    double m = tg_node_attrs(n)->v[0].f, acc = 0.0;
    for (int64_t i = 0; i < batch; i++) acc += fmax(0.0, (double)ap[i] - an[i] + m);
    tg_node_data(n)[0] = (float)(acc / (double)batch);
    return TG_OK;
}

static tg_status triplet_backward(tg_node *n) {
    int64_t batch = tg_node_shape(tg_node_input(n, 0))->dim[0];
    const float *ap = tg_node_data(tg_node_input(n, 0)), *an = tg_node_data(tg_node_input(n, 1));
    double m = tg_node_attrs(n)->v[0].f, g = tg_node_grad(n)[0] / (double)batch;
    for (int64_t i = 0; i < batch; i++) {
        if ((double)ap[i] - an[i] + m <= 0.0) continue; /* satisfied: no gradient */
        if (tg_node_wants_grad(tg_node_input(n, 0)))
            tg_node_grad(tg_node_input(n, 0))[i] += (float)g;
        if (tg_node_wants_grad(tg_node_input(n, 1)))
            tg_node_grad(tg_node_input(n, 1))[i] -= (float)g;
    }
    return TG_OK;
}

static const tg_op triplet_op = {
    .name = "triplet_margin",
    .doc = "triplet margin loss over anchor-positive and anchor-negative distances (a user op)",
    .formula = "L = mean_i max(0, d_ap_i - d_an_i + margin)",
    .n_inputs = 2,
    .input_kind = {TG_IN_POSITIVE, TG_IN_POSITIVE},
    .attrs = triplet_attrs,
    .n_attrs = 1,
    .infer = triplet_infer,
    .forward = triplet_forward,
    .backward = triplet_backward,
    .examples = {{"8;8", "margin=0.3"}, {"5;5", "margin=1"}},
};

tg_status triplet_ops_register(void) {
    tg_status st = tg_op_register(&cosine_op);
    return st ? st : tg_op_register(&triplet_op);
}
