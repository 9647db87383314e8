/* batchnorm: per-channel normalisation of (N, C, H, W), per-feature of (N, D).
 *   x: (N, C, H, W) or (N, D)   gamma, beta, running_mean, running_var: (C)
 * Conventions (Keras BatchNormalization's): momentum 0.99 is the weight of the OLD
 * running value, eps 1e-3, and the running variance is updated with the biased
 * batch variance unless unbiased=true. PyTorch's BatchNorm2d(momentum=0.1,
 * eps=1e-5) is momentum=0.9 eps=1e-5 unbiased=true here.
 *
 * Warm-up: the t-th training batch (t = 1, 2, ...) enters the running statistics
 * with weight max(1 - momentum, 1/t), so they start as the plain average of the
 * batches seen and become the moving average once 1/t < 1 - momentum. Keras and
 * PyTorch start from (mean 0, var 1) instead; when activations are far from unit
 * scale that start outweighs the data for hundreds of steps and eval-mode outputs
 * are wrong (measured: a collapsed embedding after two epochs on the seed model).
 * The count t is a state tensor, "batches", checkpointed with the statistics.
 *
 * Threading: every loop runs over channels, so each channel's statistics and
 * its dgamma/dbeta are summed by one thread in a fixed order (deterministic). */
#include <math.h>

#include "autograd/tg_cpu.h"
#include "ops/tg_batchnorm.h"
#include "ops/tg_builtin_ops.h"
#include "ops/tg_im2col.h"
#include "ops/tg_op_util.h"

enum { A_MOMENTUM, A_EPS, A_UNBIASED };
enum { P_GAMMA, P_BETA, P_MEAN, P_VAR, P_BATCHES };

static const tg_attr_spec batchnorm_attrs[] = {
    {"momentum", TG_ATTR_FLOAT, "0.99", 0, 1, NULL,
     "running = m * running + (1 - m) * batch, m = min(momentum, 1 - 1/t) for the t-th batch "
     "(Keras; PyTorch 0.1 = 0.9 here); 1 keeps the average of all batches"},
    {"eps", TG_ATTR_FLOAT, "1e-3", 0, 1, NULL, "added to the variance before the square root"},
    {"unbiased", TG_ATTR_BOOL, "false", 0, 0, NULL,
     "update running_var with the unbiased batch variance m/(m-1) var (PyTorch) instead of "
     "the biased one (Keras)"},
};

static const tg_param_spec batchnorm_params[] = {
    {"gamma", TG_INIT_ONES, 0},         {"beta", TG_INIT_ZEROS, 0},
    {"running_mean", TG_INIT_ZEROS, 1}, {"running_var", TG_INIT_ONES, 1},
    {"batches", TG_INIT_ZEROS, 1},
};

/* The input read as (N, C, S): S = H*W for images, 1 for features. */
typedef struct bn_dims {
    int64_t n, c, s;
} bn_dims;

static bn_dims dims_of(const tg_shape *x) {
    bn_dims d = {x->dim[0], x->dim[1], 1};
    for (int i = 2; i < x->ndim; i++) d.s *= x->dim[i];
    return d;
}

/* The row loops, in functions of their own so that they get the AVX2 and AVX-512
 * clones (an OpenMP body does not), multiply-adds fused. */

/* sum_j x[j] (squares = 0) or sum_j (x[j] - mu)^2 (squares = 1) over one row. */
TG_FMA TG_HOT static double row_sum(const float *x, int64_t s, float mu, int squares) {
    float acc = 0.0f;
    if (squares) {
#pragma omp simd reduction(+ : acc)
        for (int64_t j = 0; j < s; j++) acc += (x[j] - mu) * (x[j] - mu);
    } else {
#pragma omp simd reduction(+ : acc)
        for (int64_t j = 0; j < s; j++) acc += x[j];
    }
    return acc;
}

/* y = a x + b over one row. */
TG_FMA TG_HOT static void row_affine(const float *restrict x, int64_t s, float a, float b,
                                     float *restrict y) {
#pragma omp simd
    for (int64_t j = 0; j < s; j++) y[j] = a * x[j] + b;
}

/* *sdy = sum_j dy[j], *sdyx = sum_j dy[j] (x[j] - mu) over one row. */
TG_FMA TG_HOT static void row_grad_sums(const float *x, const float *dy, int64_t s, float mu,
                                        float *sdy, float *sdyx) {
    float a = 0.0f, b = 0.0f;
#pragma omp simd reduction(+ : a, b)
    for (int64_t j = 0; j < s; j++) {
        a += dy[j];
        b += dy[j] * (x[j] - mu);
    }
    *sdy = a;
    *sdyx = b;
}

/* dx += k (dy - k1 - (x - mu) is k2) over one row, or with `fresh` dx = 0 + that
 * (the same numbers as zeroing dx first, without the pass that zeroes it). */
TG_FMA TG_HOT static void row_dx(const float *restrict x, const float *restrict dy, int64_t s,
                                 float mu, float is, float k, float k1, float k2, int fresh,
                                 float *restrict dx) {
    if (fresh) {
#pragma omp simd
        for (int64_t j = 0; j < s; j++) dx[j] = 0.0f + k * (dy[j] - k1 - (x[j] - mu) * is * k2);
        return;
    }
#pragma omp simd
    for (int64_t j = 0; j < s; j++) dx[j] += k * (dy[j] - k1 - (x[j] - mu) * is * k2);
}

static tg_status batchnorm_infer(const tg_node *n, const tg_shape *in, tg_shape *out,
                                 tg_shape *params) {
    (void)n;
    if (in[0].ndim != 2 && in[0].ndim != 4)
        return tg_shape_error("batchnorm input", "(N, D) or (N, C, H, W)", &in[0]);
    *out = in[0];
    for (int i = 0; i < 4; i++) params[i] = tg_shape1(in[0].dim[1]);
    params[P_BATCHES] = tg_shape1(1);
    return TG_OK;
}

/* Saved: the mean and 1/sqrt(var + eps) used per channel, and the mode they came
 * from (backward through batch statistics differs from backward through running ones). */
static size_t batchnorm_saved(const tg_node *n) {
    return (size_t)(2 * n->value.shape.dim[1] + 1) * sizeof(float);
}

/* Channel c's y = a x + b for the mean mu and variance var: a = gamma / sqrt(var + eps),
 * b = beta - a mu. Returns 1 / sqrt(var + eps). */
static float channel_affine(const tg_node *n, int64_t c, double mu, double var, float *a,
                            float *b) {
    const float is = (float)(1.0 / sqrt(var + TG_ATTR_F(n, A_EPS)));
    *a = n->params[P_GAMMA]->value.data[c] * is;
    *b = n->params[P_BETA]->value.data[c] - *a * (float)mu;
    return is;
}

int tg_batchnorm_is_eval(const tg_node *n) {
    return n && n->op == &tg_op_batchnorm && n->value.shape.ndim == 4 &&
           !tg_graph_training(n->graph);
}

void tg_batchnorm_eval_affine(const tg_node *n, float *a, float *b) {
    const float *rmean = n->params[P_MEAN]->value.data, *rvar = n->params[P_VAR]->value.data;
    for (int64_t c = 0; c < n->value.shape.dim[1]; c++)
        channel_affine(n, c, rmean[c], rvar[c], &a[c], &b[c]);
}

void tg_batchnorm_apply(float *x, int64_t c, int64_t s, tg_act act, const float *a, const float *b,
                        float *y) {
    for (int64_t k = 0; k < c; k++) {
        tg_act_row(act, x + k * s, s);
        row_affine(x + k * s, s, a[k], b[k], y + k * s);
    }
}

static tg_status batchnorm_forward(tg_node *n) {
    bn_dims d = dims_of(&n->value.shape);
    const int train = tg_graph_training(n->graph);
    const int64_t m = d.n * d.s, cs = d.c * d.s;
    const float *x = tg_in(n, 0);
    float *rmean = n->params[P_MEAN]->value.data, *rvar = n->params[P_VAR]->value.data;
    float *mean = n->saved, *istd = mean + d.c, *y = n->value.data;
    float *batches = n->params[P_BATCHES]->value.data;
    /* weight of the old running value for this batch (see the top of the file) */
    const double mom = fmin(TG_ATTR_F(n, A_MOMENTUM), 1.0 - 1.0 / ((double)batches[0] + 1.0));
    const int unbiased = (int)TG_ATTR_I(n, A_UNBIASED);
    istd[d.c] = (float)train;
#pragma omp parallel for schedule(static) if (m * d.c > TG_PAR_MIN)
    for (int64_t c = 0; c < d.c; c++) {
        double mu, var;
        if (train) {
            /* two passes: the mean, then the biased variance about it; float sums
             * along a row (vectorised), double across rows */
            double acc = 0.0;
            for (int64_t i = 0; i < d.n; i++) acc += row_sum(x + i * cs + c * d.s, d.s, 0.0f, 0);
            mu = acc / (double)m;
            acc = 0.0;
            for (int64_t i = 0; i < d.n; i++)
                acc += row_sum(x + i * cs + c * d.s, d.s, (float)mu, 1);
            var = acc / (double)m;
            double run_var = unbiased && m > 1 ? var * (double)m / (double)(m - 1) : var;
            rmean[c] = (float)(mom * rmean[c] + (1.0 - mom) * mu);
            rvar[c] = (float)(mom * rvar[c] + (1.0 - mom) * run_var);
        } else {
            mu = rmean[c];
            var = rvar[c];
        }
        float a, b;
        istd[c] = channel_affine(n, c, mu, var, &a, &b);
        mean[c] = (float)mu;
        for (int64_t i = 0; i < d.n; i++)
            row_affine(x + i * cs + c * d.s, d.s, a, b, y + i * cs + c * d.s);
    }
    if (train) batches[0] += 1.0f; /* exact up to 2^24 batches, where 1/t is long irrelevant */
    return TG_OK;
}

/* With xh = (x - mean) istd over the m = N*S values of a channel:
 *   dbeta = sum dy, dgamma = sum dy xh,
 *   train: dx = gamma istd / m (m dy - dbeta - xh dgamma)   (through the batch statistics)
 *   eval:  dx = gamma istd dy                                (running statistics are constants) */
static tg_status batchnorm_backward(tg_node *n) {
    bn_dims d = dims_of(&n->value.shape);
    const int64_t m = d.n * d.s, cs = d.c * d.s;
    const float *x = tg_in(n, 0), *dy = n->grad.data, *gamma = n->params[P_GAMMA]->value.data;
    const float *mean = n->saved, *istd = mean + d.c;
    const int train = istd[d.c] != 0.0f;
    float *dx = tg_din(n, 0), *dgamma = tg_dparam(n, P_GAMMA), *dbeta = tg_dparam(n, P_BETA);
    const int fresh = tg_node_grad_fresh(n, 0);
#pragma omp parallel for schedule(static) if (m * d.c > TG_PAR_MIN)
    for (int64_t c = 0; c < d.c; c++) {
        const float mu = mean[c], is = istd[c];
        double sdy = 0.0, sdyx = 0.0;
        for (int64_t i = 0; i < d.n; i++) {
            float a, b;
            row_grad_sums(x + i * cs + c * d.s, dy + i * cs + c * d.s, d.s, mu, &a, &b);
            sdy += a;
            sdyx += (double)b * is;
        }
        if (dbeta) dbeta[c] += (float)sdy;
        if (dgamma) dgamma[c] += (float)sdyx;
        if (!dx) continue;
        const float k = gamma[c] * is;
        const float k1 = train ? (float)(sdy / (double)m) : 0.0f;
        const float k2 = train ? (float)(sdyx / (double)m) : 0.0f;
        for (int64_t i = 0; i < d.n; i++)
            row_dx(x + i * cs + c * d.s, dy + i * cs + c * d.s, d.s, mu, is, k, k1, k2, fresh,
                   dx + i * cs + c * d.s);
    }
    return TG_OK;
}

static double batchnorm_flops(const tg_node *n) {
    return 4.0 * (double)tg_shape_numel(&n->value.shape);
}

const tg_op tg_op_batchnorm = {
    .name = "batchnorm",
    .doc = "batch normalisation per channel (N,C,H,W) or per feature (N,D), with running "
           "statistics for eval mode",
    .formula = "train: y = gamma (x - mean_B) / sqrt(var_B + eps) + beta, var_B biased, then "
               "running = m running + (1 - m) batch with m = min(momentum, 1 - 1/t) at the t-th "
               "batch; eval: mean_B, var_B -> "
               "running_mean, running_var; backward (train): dx = gamma/(m sqrt(var_B + eps)) "
               "(m dy - sum dy - xh sum(dy xh)), dgamma = sum dy xh, dbeta = sum dy",
    .n_inputs = 1,
    .attrs = batchnorm_attrs,
    .n_attrs = 3,
    .params = batchnorm_params,
    .n_params = 5,
    .infer = batchnorm_infer,
    .forward = batchnorm_forward,
    .backward = batchnorm_backward,
    .sets_fresh_input_grads = 1,
    .saved_bytes = batchnorm_saved,
    .flops = batchnorm_flops,
    .examples = {{"3x2x4x5", ""},
                 {"4x3x3x3", "eps=1e-5 momentum=0.9"},
                 {"6x4", ""},
                 {"3x2x3x5", "", 1},
                 {"5x3", "", 1}},
};
