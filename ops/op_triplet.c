/* Triplet training with online mining: the distances between every two embeddings of
 * a batch, the choice of triplets among them, and the margin loss over the chosen ones.
 *   pairwise_l2   e (B, D)                  -> d (B, B), d[i,j] = ||e_i - e_j||
 *   triplet_mine  d (B, B), labels (B)       -> t (T, 3): d_ap, d_an, valid (1 or 0)
 *   triplet_loss  t (T, 3)                   -> scalar
 * The embeddings are computed once per image; every triplet reads the distance matrix.
 *
 * Mining (Schroff et al. 2015, FaceNet; Hermans et al. 2017, "In Defense of the
 * Triplet Loss"), for anchor a, positive p (same label, p != a), negative n (other label):
 *   batch_all  every valid (a, p, n): T = B^3, t[(a B + p) B + n]
 *   batch_hard per anchor the farthest positive and the nearest negative: T = B
 *   semi_hard  per (a, p) the nearest negative farther than the positive (d_an > d_ap,
 *              FaceNet's semi-hard negative), or the farthest negative when none is:
 *              T = B^2, t[a B + p]
 * A row with no valid triplet has valid = 0 and distances 0. Mining only selects: the
 * gradient of t flows back into the chosen entries of d (indices saved in forward);
 * valid carries none. */
#include <math.h>
#include <string.h>

#include "ops/tg_builtin_ops.h"
#include "ops/tg_op_util.h"

/* ---- pairwise_l2: e (B, D) -> d (B, B) ---- */

static tg_status pairwise_infer(const tg_node *n, const tg_shape *in, tg_shape *out,
                                tg_shape *params) {
    (void)n;
    (void)params;
    if (in[0].ndim != 2) return tg_shape_error("pairwise_l2 input", "(B, D)", &in[0]);
    *out = tg_shape2(in[0].dim[0], in[0].dim[0]);
    return TG_OK;
}

static tg_status pairwise_forward(tg_node *n) {
    int64_t b = n->inputs[0]->value.shape.dim[0], d = n->inputs[0]->value.shape.dim[1];
    const float *e = tg_in(n, 0);
    float *y = n->value.data;
    for (int64_t i = 0; i < b; i++) {
        y[i * b + i] = 0.0f;
        for (int64_t j = i + 1; j < b; j++) {
            double acc = 0.0;
            for (int64_t k = 0; k < d; k++) {
                double diff = (double)e[i * d + k] - (double)e[j * d + k];
                acc += diff * diff;
            }
            y[i * b + j] = y[j * b + i] = (float)sqrt(acc);
        }
    }
    return TG_OK;
}

/* dd[i,j]/de_i = (e_i - e_j) / d[i,j]; 0 at d = 0, as l2distance does. */
static tg_status pairwise_backward(tg_node *n) {
    int64_t b = n->inputs[0]->value.shape.dim[0], d = n->inputs[0]->value.shape.dim[1];
    const float *e = tg_in(n, 0), *y = n->value.data, *dy = n->grad.data;
    float *de = tg_din(n, 0);
    if (!de) return TG_OK;
    for (int64_t i = 0; i < b; i++)
        for (int64_t j = 0; j < b; j++) {
            if (i == j || y[i * b + j] <= 0.0f) continue;
            /* d[i,j] and d[j,i] are one distance: both gradients act on it */
            float g = (dy[i * b + j] + dy[j * b + i]) / y[i * b + j];
            for (int64_t k = 0; k < d; k++) de[i * d + k] += g * (e[i * d + k] - e[j * d + k]);
        }
    return TG_OK;
}

static double pairwise_flops(const tg_node *n) {
    double b = (double)n->value.shape.dim[0];
    return 1.5 * b * b * (double)n->inputs[0]->value.shape.dim[1];
}

const tg_op tg_op_pairwise_l2 = {
    .name = "pairwise_l2",
    .doc = "Euclidean distance between every two embeddings of a batch",
    .formula = "d[i,j] = ||e_i - e_j||_2; backward: de_i += sum_j (dd[i,j] + dd[j,i]) (e_i - "
               "e_j) / d[i,j] (0 where d = 0)",
    .n_inputs = 1,
    .infer = pairwise_infer,
    .forward = pairwise_forward,
    .backward = pairwise_backward,
    .flops = pairwise_flops,
    .examples = {{"5x3", ""}, {"4x6", ""}},
};

/* ---- triplet_mine: d (B, B), labels (B) -> (T, 3) ---- */

enum { MINE_BATCH_ALL, MINE_BATCH_HARD, MINE_SEMI_HARD };
#define MINE_CHOICES "batch_all|batch_hard|semi_hard"
#define MINE_MAX_BATCH_ALL 128 /* T = B^3 rows: 2M at 128 */

static const tg_attr_spec mine_attrs[] = {
    {"mining", TG_ATTR_ENUM, "batch_hard", 0, 0, MINE_CHOICES,
     "which triplets: batch_all (every valid one), batch_hard (per anchor the farthest positive "
     "and nearest negative), semi_hard (per anchor-positive pair the nearest negative beyond the "
     "positive)"},
};

static int64_t mine_rows(int mining, int64_t b) {
    return mining == MINE_BATCH_ALL ? b * b * b : mining == MINE_SEMI_HARD ? b * b : b;
}

static tg_status mine_infer(const tg_node *n, const tg_shape *in, tg_shape *out, tg_shape *params) {
    (void)params;
    int64_t b = in[0].dim[0];
    if (in[0].ndim != 2 || in[0].dim[1] != b)
        return tg_shape_error("triplet_mine distances", "(B, B)", &in[0]);
    if (in[1].ndim != 1 || in[1].dim[0] != b)
        return tg_shape_error("triplet_mine labels", "(B) for (B, B) distances", &in[1]);
    int mining = (int)TG_ATTR_I(n, 0);
    if (mining == MINE_BATCH_ALL && b > MINE_MAX_BATCH_ALL)
        return tg_error(TG_ERR_SHAPE,
                        "triplet_mine: mining=batch_all over a batch of %lld images would make "
                        "%lld triplets; use a batch of at most %d, or batch_hard",
                        (long long)b, (long long)(b * b * b), MINE_MAX_BATCH_ALL);
    *out = tg_shape2(mine_rows(mining, b), 3);
    return TG_OK;
}

/* Saved: per row the flat indices of d_ap and d_an in d (-1 when the row is not valid). */
static size_t mine_saved(const tg_node *n) {
    return (size_t)n->value.shape.dim[0] * 2 * sizeof(int64_t);
}

static void put_row(float *y, int64_t *at, int64_t r, const float *d, int64_t ap, int64_t an) {
    if (ap < 0 || an < 0) {
        y[r * 3] = y[r * 3 + 1] = y[r * 3 + 2] = 0.0f;
        at[r * 2] = at[r * 2 + 1] = -1;
        return;
    }
    y[r * 3] = d[ap];
    y[r * 3 + 1] = d[an];
    y[r * 3 + 2] = 1.0f;
    at[r * 2] = ap;
    at[r * 2 + 1] = an;
}

static tg_status mine_forward(tg_node *n) {
    int64_t b = n->inputs[0]->value.shape.dim[0];
    const float *d = tg_in(n, 0), *lab = tg_in(n, 1);
    float *y = n->value.data;
    int64_t *at = n->saved;
    int mining = (int)TG_ATTR_I(n, 0);
    for (int64_t a = 0; a < b; a++) {
        const float *da = d + a * b;
        if (mining == MINE_BATCH_HARD) {
            int64_t p = -1, q = -1;
            for (int64_t j = 0; j < b; j++) {
                if (j == a) continue;
                if (lab[j] == lab[a]) {
                    if (p < 0 || da[j] > da[p]) p = j;
                } else if (q < 0 || da[j] < da[q]) {
                    q = j;
                }
            }
            put_row(y, at, a, d, p < 0 ? -1 : a * b + p, q < 0 ? -1 : a * b + q);
            continue;
        }
        for (int64_t p = 0; p < b; p++) {
            int ok = p != a && lab[p] == lab[a];
            if (mining == MINE_SEMI_HARD) {
                int64_t beyond = -1, farthest = -1;
                for (int64_t j = 0; ok && j < b; j++) {
                    if (lab[j] == lab[a]) continue;
                    if (da[j] > da[p] && (beyond < 0 || da[j] < da[beyond])) beyond = j;
                    if (farthest < 0 || da[j] > da[farthest]) farthest = j;
                }
                int64_t q = beyond >= 0 ? beyond : farthest;
                put_row(y, at, a * b + p, d, ok && q >= 0 ? a * b + p : -1, q < 0 ? -1 : a * b + q);
                continue;
            }
            for (int64_t q = 0; q < b; q++) {
                int valid = ok && lab[q] != lab[a];
                put_row(y, at, (a * b + p) * b + q, d, valid ? a * b + p : -1,
                        valid ? a * b + q : -1);
            }
        }
    }
    return TG_OK;
}

static tg_status mine_backward(tg_node *n) {
    float *dd = tg_din(n, 0);
    if (!dd) return TG_OK;
    const int64_t *at = n->saved;
    const float *dy = n->grad.data;
    for (int64_t r = 0; r < n->value.shape.dim[0]; r++) {
        if (at[r * 2] < 0) continue;
        dd[at[r * 2]] += dy[r * 3];
        dd[at[r * 2 + 1]] += dy[r * 3 + 1];
    }
    return TG_OK;
}

const tg_op tg_op_triplet_mine = {
    .name = "triplet_mine",
    .doc = "online triplet mining in a batch: chooses (anchor, positive, negative) triplets from "
           "the pairwise distances and labels (FaceNet semi-hard, Hermans et al. batch-hard and "
           "batch-all)",
    .formula = "row = (d[a,p], d[a,n], 1) for each chosen triplet, (0, 0, 0) where none is valid; "
               "backward: dd[a,p] += dt[row,0], dd[a,n] += dt[row,1]",
    .n_inputs = 2,
    .input_kind = {TG_IN_POSITIVE, TG_IN_LABEL},
    .attrs = mine_attrs,
    .n_attrs = 1,
    .infer = mine_infer,
    .forward = mine_forward,
    .backward = mine_backward,
    .saved_bytes = mine_saved,
    .examples = {{"6x6;6", "mining=batch_hard"},
                 {"5x5;5", "mining=batch_all"},
                 {"6x6;6", "mining=semi_hard"}},
};

/* ---- triplet_loss: t (T, 3) -> scalar ---- */

enum { L_MARGIN, L_AVERAGE };
enum { AVERAGE_VALID, AVERAGE_ACTIVE };

static const tg_attr_spec loss_attrs[] = {
    {"margin", TG_ATTR_FLOAT, "0.2", 0, 1e6, NULL,
     "how much farther the negative must be than the positive"},
    {"average", TG_ATTR_ENUM, "valid", 0, 0, "valid|active",
     "divide the summed loss by the valid triplets, or by the active ones (loss > 0; Hermans et "
     "al.'s batch-all variant)"},
};

static tg_status loss_infer(const tg_node *n, const tg_shape *in, tg_shape *out, tg_shape *params) {
    (void)n;
    (void)params;
    if (in[0].ndim != 2 || in[0].dim[1] != 3)
        return tg_shape_error("triplet_loss input", "(T, 3) rows of d_ap, d_an, valid", &in[0]);
    *out = tg_shape1(1);
    return TG_OK;
}

/* The number the sum is divided by (0 when nothing counts). */
static int64_t loss_count(const tg_node *n) {
    const float *t = tg_in(n, 0);
    double m = TG_ATTR_F(n, L_MARGIN);
    int active = TG_ATTR_I(n, L_AVERAGE) == AVERAGE_ACTIVE;
    int64_t count = 0;
    for (int64_t r = 0; r < n->inputs[0]->value.shape.dim[0]; r++)
        if (t[r * 3 + 2] > 0.5f && (!active || (double)t[r * 3] - t[r * 3 + 1] + m > 0.0)) count++;
    return count;
}

static tg_status loss_forward(tg_node *n) {
    const float *t = tg_in(n, 0);
    double m = TG_ATTR_F(n, L_MARGIN), acc = 0.0;
    int64_t count = loss_count(n);
    for (int64_t r = 0; r < n->inputs[0]->value.shape.dim[0]; r++)
        if (t[r * 3 + 2] > 0.5f) acc += fmax(0.0, (double)t[r * 3] - t[r * 3 + 1] + m);
    n->value.data[0] = count ? (float)(acc / (double)count) : 0.0f;
    return TG_OK;
}

static tg_status loss_backward(tg_node *n) {
    float *dt = tg_din(n, 0);
    int64_t count = loss_count(n);
    if (!dt || !count) return TG_OK;
    const float *t = tg_in(n, 0);
    double m = TG_ATTR_F(n, L_MARGIN);
    float g = (float)(n->grad.data[0] / (double)count);
    for (int64_t r = 0; r < n->inputs[0]->value.shape.dim[0]; r++) {
        if (t[r * 3 + 2] <= 0.5f || (double)t[r * 3] - t[r * 3 + 1] + m <= 0.0) continue;
        dt[r * 3] += g;
        dt[r * 3 + 1] -= g;
    }
    return TG_OK;
}

const tg_op tg_op_triplet_loss = {
    .name = "triplet_loss",
    .doc = "triplet margin loss averaged over mined triplets (rows of triplet_mine)",
    .formula = "L = sum_valid max(0, d_ap - d_an + margin) / count, count = valid rows (or active "
               "ones: loss > 0); backward: dd_ap = 1/count, dd_an = -1/count on active rows",
    .n_inputs = 1,
    .input_kind = {TG_IN_POSITIVE},
    .attrs = loss_attrs,
    .n_attrs = 2,
    .infer = loss_infer,
    .forward = loss_forward,
    .backward = loss_backward,
    .examples = {{"7x3", "margin=0.5"}, {"9x3", "margin=2 average=active"}},
};
