/* Losses for Siamese training. Label convention: Y = 0 similar pair, Y = 1
 * dissimilar pair (Hadsell, Chopra & LeCun 2006, and the seed paper). */
#include <math.h>

#include "ops/tg_builtin_ops.h"
#include "ops/tg_op_util.h"

enum { A_MARGIN, A_FORM };
enum { FORM_HADSELL, FORM_SEED };

static const tg_attr_spec contrastive_attrs[] = {
    {"margin", TG_ATTR_FLOAT, "1", 1e-6, 1e6, NULL,
     "dissimilar pairs closer than this are pushed apart"},
    {"form", TG_ATTR_ENUM, "hadsell", 0, 0, "hadsell|seed",
     "hadsell: (1-Y) D^2/2 + Y max(0, m-D)^2/2; seed: (1-Y) D^2 + Y max(0, m-D^2)"},
};

/* d: (N) distances, y: (N) labels -> loss (1) */
static tg_status contrastive_infer(const tg_node *n, const tg_shape *in, tg_shape *out,
                                   tg_shape *params) {
    (void)n;
    (void)params;
    char a[64], b[64];
    if (in[0].ndim != 1 || tg_shape_numel(&in[1]) != in[0].dim[0])
        return tg_error(TG_ERR_SHAPE,
                        "contrastive needs distances (N) and labels (N), got %s and %s",
                        tg_shape_str(&in[0], a, sizeof a), tg_shape_str(&in[1], b, sizeof b));
    *out = tg_shape1(1);
    return TG_OK;
}

static tg_status contrastive_forward(tg_node *n) {
    int64_t batch = n->inputs[0]->value.shape.dim[0];
    const float *d = tg_in(n, 0), *y = tg_in(n, 1);
    double m = TG_ATTR_F(n, A_MARGIN), acc = 0.0;
    int seed_form = TG_ATTR_I(n, A_FORM) == FORM_SEED;
    for (int64_t i = 0; i < batch; i++) {
        if (!(y[i] >= 0.0f && y[i] <= 1.0f))
            return tg_error(TG_ERR_INVALID,
                            "contrastive: label %lld is %g; labels must be 0 "
                            "(similar) or 1 (dissimilar)",
                            (long long)i, (double)y[i]);
        double di = d[i], yi = y[i];
        if (seed_form) {
            double hinge = m - di * di;
            acc += (1.0 - yi) * di * di + yi * (hinge > 0.0 ? hinge : 0.0);
        } else {
            double hinge = m - di;
            acc += 0.5 * ((1.0 - yi) * di * di + yi * (hinge > 0.0 ? hinge * hinge : 0.0));
        }
    }
    n->value.data[0] = (float)(acc / (double)batch);
    return TG_OK;
}

static tg_status contrastive_backward(tg_node *n) {
    int64_t batch = n->inputs[0]->value.shape.dim[0];
    const float *d = tg_in(n, 0), *y = tg_in(n, 1);
    float *dd = tg_din(n, 0);
    double m = TG_ATTR_F(n, A_MARGIN), g = n->grad.data[0] / (double)batch;
    int seed_form = TG_ATTR_I(n, A_FORM) == FORM_SEED;
    if (!dd) return TG_OK;
    for (int64_t i = 0; i < batch; i++) {
        double di = d[i], yi = y[i], dl;
        if (seed_form) /* d/dD [(1-Y) D^2 + Y max(0, m - D^2)] */
            dl = 2.0 * (1.0 - yi) * di - (m - di * di > 0.0 ? 2.0 * yi * di : 0.0);
        else /* d/dD [(1-Y) D^2/2 + Y max(0, m - D)^2/2] */
            dl = (1.0 - yi) * di - (m - di > 0.0 ? yi * (m - di) : 0.0);
        dd[i] += (float)(g * dl);
    }
    return TG_OK;
}

static double contrastive_flops(const tg_node *n) {
    return 6.0 * (double)n->inputs[0]->value.shape.dim[0];
}

const tg_op tg_op_contrastive = {
    .name = "contrastive",
    .doc =
        "contrastive loss over pair distances, mean over the batch (Y=0 similar, Y=1 dissimilar)",
    .formula = "hadsell: L = mean[(1-Y) D^2/2 + Y max(0, m-D)^2/2]; "
               "seed (paper eq. 4): L = mean[(1-Y) D^2 + Y max(0, m-D^2)]",
    .n_inputs = 2,
    .input_kind = {TG_IN_POSITIVE, TG_IN_LABEL},
    .attrs = contrastive_attrs,
    .n_attrs = 2,
    .infer = contrastive_infer,
    .forward = contrastive_forward,
    .backward = contrastive_backward,
    .flops = contrastive_flops,
    .examples = {{"8;8", "margin=1"}, {"6;6", "margin=1.5 form=seed"}, {"5;5", "margin=0.5"}},
};
