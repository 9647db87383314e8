/* The convolutional ops against naive direct-loop references written here, on
 * random inputs: conv2d, depthwise_conv2d, sepconv2d, batchnorm, the pools and
 * dropout; plus the padding, tie, momentum and mask conventions the docs promise,
 * and shape errors that name the node. (Gradients: tests/test_gradcheck.c.) */
#include <check.h>

#include "tests/tg_check.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "twingrad.h"

/* ---- helpers ---- */

static void fill(float *x, int64_t n, tg_rng *r) {
    for (int64_t i = 0; i < n; i++) x[i] = tg_rng_uniform_range(r, -1.0f, 1.0f);
}

/* A graph holding one op on one (N,C,H,W) input filled with U(-1,1), every
 * trainable parameter re-drawn from U(-1,1) so that biases are not all zero. */
typedef struct one_op {
    tg_graph *g;
    tg_node *x, *y;
} one_op;

static one_op make_op(const char *op, const char *attrs, tg_shape shape, uint64_t seed) {
    one_op o;
    tg_rng r;
    tg_rng_seed(&r, seed);
    o.g = tg_graph_new(seed);
    o.x = tg_graph_input(o.g, "x", shape);
    fill(tg_node_data(o.x), tg_shape_numel(&shape), &r);
    o.y = tg_graph_op(o.g, op, "op", attrs, (tg_node *[]){o.x}, 1);
    ck_assert_msg(o.y != NULL, "%s %s: %s", op, attrs, tg_last_error());
    for (int i = 0; i < TG_MAX_PARAMS; i++) {
        tg_node *p = tg_node_param(o.y, i);
        if (p && (tg_node_kind(p) & TG_NODE_PARAM))
            fill(tg_node_data(p), tg_shape_numel(tg_node_shape(p)), &r);
    }
    ck_assert_int_eq(tg_graph_forward(o.g, o.y), TG_OK);
    return o;
}

static float *param(one_op *o, int i) {
    return tg_node_param(o->y, i) ? tg_node_data(tg_node_param(o->y, i)) : NULL;
}

static void assert_close(const float *a, const float *b, int64_t n, double tol, const char *what) {
    for (int64_t i = 0; i < n; i++)
        ck_assert_msg(fabs((double)a[i] - (double)b[i]) <= tol * (1.0 + fabs((double)b[i])),
                      "%s[%lld]: got %.7g, reference %.7g", what, (long long)i, a[i], b[i]);
}

/* A gradient element is a sum of many products (up to N Ho Wo of them for dw),
 * and its float rounding follows the magnitude of those terms, not of the sum:
 * terms of size 0.3 that cancel to 0.4 over 16000 products carry the rounding
 * of partial sums near 40. So the tolerance is relative to the larger of |sum|
 * and the root of the sum of squared terms (sq), the sum's natural scale. */
static void assert_close_terms(const float *a, const double *b, const double *sq, int64_t n,
                               double tol, const char *what, const char *attrs) {
    for (int64_t i = 0; i < n; i++) {
        const double scale = fmax(fabs(b[i]), sqrt(sq[i]));
        ck_assert_msg(fabs((double)a[i] - b[i]) <= tol * (1.0 + scale),
                      "%s %s[%lld]: got %.7g, reference %.7g (terms' scale %.3g)", attrs, what,
                      (long long)i, a[i], b[i], scale);
    }
}

/* Output size and padding before, computed from the documented rules. */
static void ref_geom(int in, int k, int s, int same, int padding, int *out, int *before) {
    if (padding >= 0) {
        *out = (in + 2 * padding - k) / s + 1;
        *before = padding;
    } else if (same) {
        *out = (in + s - 1) / s;
        int total = (*out - 1) * s + k - in;
        *before = total > 0 ? total / 2 : 0;
    } else {
        *out = (in - k) / s + 1;
        *before = 0;
    }
}

typedef struct conv_case {
    int n, c, h, w, f, k, s, same, padding, bias, mult;
    const char *act;
    const char *algo; /* conv2d's algo= (NULL: the default, auto) */
} conv_case;

static float ref_act(const char *act, float v) {
    if (!strcmp(act, "relu")) return v > 0 ? v : 0;
    if (!strcmp(act, "tanh")) return tanhf(v);
    if (!strcmp(act, "sigmoid")) return 1.0f / (1.0f + expf(-v));
    return v;
}

/* Direct loops. depthwise: output o reads input channel o / mult with w (C*mult, 1, K, K);
 * else w (F, C, K, K). y: (N, F or C*mult, Ho, Wo). */
static void ref_conv(const conv_case *cc, int depthwise, const float *x, const float *w,
                     const float *b, float *y, int *pho, int *pwo) {
    int ho, wo, pt, pl;
    ref_geom(cc->h, cc->k, cc->s, cc->same, cc->padding, &ho, &pt);
    ref_geom(cc->w, cc->k, cc->s, cc->same, cc->padding, &wo, &pl);
    int fo = depthwise ? cc->c * cc->mult : cc->f;
    for (int n = 0; n < cc->n; n++)
        for (int f = 0; f < fo; f++)
            for (int oh = 0; oh < ho; oh++)
                for (int ow = 0; ow < wo; ow++) {
                    double acc = b ? b[f] : 0.0;
                    int c0 = depthwise ? f / cc->mult : 0, c1 = depthwise ? c0 + 1 : cc->c;
                    for (int c = c0; c < c1; c++)
                        for (int kh = 0; kh < cc->k; kh++)
                            for (int kw = 0; kw < cc->k; kw++) {
                                int ih = oh * cc->s - pt + kh, iw = ow * cc->s - pl + kw;
                                if (ih < 0 || ih >= cc->h || iw < 0 || iw >= cc->w) continue;
                                int wc = depthwise ? 0 : c, wi = depthwise ? 1 : cc->c;
                                acc += (double)w[((f * wi + wc) * cc->k + kh) * cc->k + kw] *
                                       x[((n * cc->c + c) * cc->h + ih) * cc->w + iw];
                            }
                    y[((n * fo + f) * ho + oh) * wo + ow] = ref_act(cc->act, (float)acc);
                }
    *pho = ho;
    *pwo = wo;
}

static void case_attrs(const conv_case *cc, int with_filters, char *buf, size_t size) {
    snprintf(buf, size, "%s%d kernel=%d stride=%d pad=%s padding=%d bias=%s act=%s multiplier=%d",
             with_filters ? "filters=" : "", with_filters ? cc->f : 0, cc->k, cc->s,
             cc->same ? "same" : "valid", cc->padding, cc->bias ? "true" : "false", cc->act,
             cc->mult);
    if (!with_filters) memmove(buf, strchr(buf, ' ') + 1, strlen(strchr(buf, ' ') + 1) + 1);
    if (with_filters && cc->algo) {
        size_t len = strlen(buf);
        snprintf(buf + len, size - len, " algo=%s", cc->algo);
    }
}

/* conv2d's attributes from case_attrs: without " multiplier=M", which conv2d does not
 * have, and with what follows it (algo=). */
static void drop_multiplier(char *attrs) {
    char *at = strstr(attrs, " multiplier="), *end = strchr(at + 1, ' ');
    if (end)
        memmove(at, end, strlen(end) + 1);
    else
        *at = '\0';
}

static const conv_case cases[] = {
    {2, 3, 7, 7, 4, 3, 1, 1, -1, 1, 1, "none", NULL},
    {2, 3, 7, 7, 4, 3, 2, 1, -1, 1, 1, "relu", NULL},
    {3, 2, 8, 9, 3, 3, 2, 0, -1, 1, 1, "tanh", NULL},
    {2, 2, 6, 5, 3, 2, 2, 1, -1, 0, 1, "none", NULL},
    {2, 4, 5, 5, 3, 1, 1, 0, -1, 1, 1, "sigmoid", NULL},
    {2, 2, 9, 6, 5, 3, 2, 0, 2, 1, 1, "none", NULL},
    {1, 3, 5, 5, 2, 4, 1, 1, -1, 1, 2, "relu", NULL},
    {2, 5, 11, 13, 6, 5, 3, 1, -1, 1, 1, "none", NULL},
    /* K = 3, stride 1 (depthwise's padded kernels): valid and wide (a vector tail),
     * explicit padding 2 and narrower than the kernel (no interior column), same
     * padding over a 37-wide plane with multiplier 2 (several vectors and a tail),
     * and explicit padding 3 (past what the padded kernels take: the general path) */
    {2, 3, 9, 21, 4, 3, 1, 0, -1, 1, 1, "relu", NULL},
    {1, 2, 4, 2, 3, 3, 1, 0, 2, 1, 2, "none", NULL},
    {2, 3, 12, 37, 4, 3, 1, 1, -1, 1, 2, "tanh", NULL},
    {1, 2, 6, 5, 3, 3, 1, 0, 3, 1, 1, "none", NULL},
    /* K = 3, stride 1, same padding, one filter per channel, at least 10 wide
     * (depthwise: the plane read in place, its edge vectors shuffled in): one row,
     * 10 (edges overlapping), 17 (whole vectors) and 24 (an overlapping last one) */
    {1, 2, 1, 10, 2, 3, 1, 1, -1, 1, 1, "none", NULL},
    {2, 3, 5, 17, 3, 3, 1, 1, -1, 0, 1, "relu", NULL},
    {1, 2, 4, 24, 2, 3, 1, 1, -1, 1, 1, "tanh", NULL},
    /* one input channel: conv2d by the depthwise kernels (auto: the padded K = 3,
     * stride-1 ones, over a width with a vector tail and one narrower than a vector,
     * both with the ReLU in their stores; explicit: the general ones), and by im2col
     * when asked */
    {2, 1, 9, 13, 5, 3, 1, 1, -1, 1, 1, "relu", NULL},
    {2, 1, 4, 5, 3, 3, 1, 1, -1, 1, 1, "relu", NULL},
    {2, 1, 9, 8, 3, 3, 2, 0, -1, 1, 1, "tanh", "depthwise"},
    {2, 1, 8, 7, 4, 3, 1, 1, -1, 0, 1, "none", "im2col"},
};
#define N_CASES ((int)(sizeof cases / sizeof cases[0]))

/* Large enough that conv2d splits each image into blocks of output rows
 * (im2col block + output block > 1M floats): stride 1, stride 2, and 1x1 direct;
 * and Winograd F(2x2, 3x3) in two blocks of tile rows, with odd planes (a last
 * tile half outside), valid and explicit padding, as few as 2 channels, and
 * filter and tile counts that leave partial register blocks. */
static const conv_case big_cases[] = {
    {1, 32, 80, 100, 16, 3, 1, 1, -1, 1, 1, "relu", "im2col"},
    {2, 32, 81, 99, 16, 3, 1, 1, -1, 1, 1, "relu", NULL /* auto: Winograd */},
    {2, 8, 9, 11, 8, 3, 1, 0, -1, 1, 1, "tanh", "winograd"},
    {2, 3, 7, 6, 2, 3, 1, 0, 2, 0, 1, "none", "winograd"},
    {1, 16, 5, 4, 9, 3, 1, 1, -1, 1, 1, "sigmoid", "winograd"},
    {1, 4, 3, 3, 5, 3, 1, 0, 1, 1, 1, "none", "winograd"},
    /* 36 tiles (rows of 48: the AVX-512 GEMM's 32 and a last 16), 12 filters (8 + 4) */
    {2, 8, 12, 12, 12, 3, 1, 1, -1, 1, 1, "relu", "winograd"},
    /* F(4x4, 3x3): the same shapes, every remainder of the output rows and columns
     * by 4 (81x99, 7x9, 9x8, 5x4, 10x14), two blocks of tile rows at 81x99 */
    {2, 32, 81, 99, 16, 3, 1, 1, -1, 1, 1, "relu", "winograd4"},
    {2, 8, 9, 11, 8, 3, 1, 0, -1, 1, 1, "tanh", "winograd4"},
    {2, 3, 7, 6, 2, 3, 1, 0, 2, 0, 1, "none", "winograd4"},
    {1, 16, 5, 4, 9, 3, 1, 1, -1, 1, 1, "sigmoid", "winograd4"},
    {1, 4, 3, 3, 5, 3, 1, 0, 1, 1, 1, "none", "winograd4"},
    {2, 8, 12, 12, 12, 3, 1, 1, -1, 1, 1, "relu", "winograd4"},
    {1, 8, 10, 14, 9, 3, 1, 1, -1, 1, 1, "tanh", "winograd4"},
    {2, 32, 121, 121, 8, 3, 2, 1, -1, 1, 1, "tanh", NULL},
    {1, 512, 40, 60, 16, 1, 1, 0, -1, 0, 1, "none", NULL},
    /* a one-channel batch split into whole images per thread (the seed's first conv) */
    {4, 1, 40, 60, 8, 3, 1, 1, -1, 1, 1, "relu", NULL},
};
#define N_BIG ((int)(sizeof big_cases / sizeof big_cases[0]))

/* ---- conv2d ---- */

/* F(4x4, 3x3) rounds each output from a tile's 36 products through A^T's 8s and
 * 1/8s: about 25 times further from the exact sum than F(2x2, 3x3) (docs/ops-conv.md,
 * "Accuracy"; 2.5e-5 of 1 + |y| at most on these cases, 8.9e-7 for F(2x2, 3x3)). Its
 * forward is held to 1e-4, everything else to 1e-5; its gradients meet 1e-5. */
static double forward_tol(const conv_case *cc) {
    return cc->algo && !strcmp(cc->algo, "winograd4") ? 1e-4 : 1e-5;
}

START_TEST(test_conv2d_forward_matches_direct_loops) {
    for (int i = 0; i < N_CASES + N_BIG; i++) {
        const conv_case *cc = i < N_CASES ? &cases[i] : &big_cases[i - N_CASES];
        char attrs[256];
        case_attrs(cc, 1, attrs, sizeof attrs);
        drop_multiplier(attrs);
        one_op o = make_op("conv2d", attrs, tg_shape4(cc->n, cc->c, cc->h, cc->w), 10 + i);
        float *ref = malloc(sizeof(float) * (size_t)tg_shape_numel(tg_node_shape(o.y)));
        int ho, wo;
        ref_conv(cc, 0, tg_node_data(o.x), param(&o, 0), param(&o, 1), ref, &ho, &wo);
        const tg_shape *s = tg_node_shape(o.y);
        ck_assert_msg(
            s->dim[0] == cc->n && s->dim[1] == cc->f && s->dim[2] == ho && s->dim[3] == wo,
            "case %d: shape (%lld,%lld,%lld,%lld), expected %dx%d", i, (long long)s->dim[0],
            (long long)s->dim[1], (long long)s->dim[2], (long long)s->dim[3], ho, wo);
        assert_close(tg_node_data(o.y), ref, tg_shape_numel(s), forward_tol(cc), attrs);
        free(ref);
        tg_graph_free(o.g);
    }
}
END_TEST

/* algo=auto is F(2x2, 3x3) in train mode and F(4x4, 3x3) in eval mode (inference and
 * validation), the same numbers as asking for each; the graph switches between them
 * with one scratch, sized for both. */
START_TEST(test_conv2d_auto_winograd_tile_follows_the_mode) {
    const tg_shape shape = tg_shape4(2, 8, 20, 23);
    one_op a = make_op("conv2d", "filters=8 kernel=3 pad=same act=relu", shape, 41);
    one_op w2 = make_op("conv2d", "filters=8 kernel=3 pad=same act=relu algo=winograd", shape, 41);
    one_op w4 = make_op("conv2d", "filters=8 kernel=3 pad=same act=relu algo=winograd4", shape, 41);
    const size_t bytes = sizeof(float) * (size_t)tg_shape_numel(tg_node_shape(a.y));
    ck_assert_msg(memcmp(tg_node_data(w2.y), tg_node_data(w4.y), bytes) != 0,
                  "the two tiles round alike here: the test could not tell them apart");
    for (int round = 0; round < 2; round++) {
        ck_assert_msg(memcmp(tg_node_data(a.y), tg_node_data(w2.y), bytes) == 0,
                      "train mode: auto is not F(2x2, 3x3)");
        tg_graph_set_training(a.g, 0);
        ck_assert_int_eq(tg_graph_forward(a.g, a.y), TG_OK);
        ck_assert_msg(memcmp(tg_node_data(a.y), tg_node_data(w4.y), bytes) == 0,
                      "eval mode: auto is not F(4x4, 3x3)");
        tg_graph_set_training(a.g, 1);
        ck_assert_int_eq(tg_graph_forward(a.g, a.y), TG_OK);
    }
    tg_graph_free(a.g);
    tg_graph_free(w2.g);
    tg_graph_free(w4.g);
}
END_TEST

/* Keras SAME with an even total: 5 rows, kernel 2, stride 2 -> 3 rows, one pad row,
 * which must sit at the bottom (and the pad column at the right). */
START_TEST(test_same_padding_puts_the_odd_pad_at_bottom_right) {
    one_op o = make_op("conv2d", "filters=1 kernel=2 stride=2 pad=same bias=false",
                       tg_shape4(1, 1, 5, 5), 3);
    for (int i = 0; i < 25; i++) tg_node_data(o.x)[i] = 1.0f;
    for (int i = 0; i < 4; i++) param(&o, 0)[i] = 1.0f;
    ck_assert_int_eq(tg_graph_forward(o.g, o.y), TG_OK);
    const float *y = tg_node_data(o.y);
    ck_assert_int_eq(tg_node_shape(o.y)->dim[2], 3);
    ck_assert_float_eq(y[0], 4.0f); /* top-left window: all real pixels */
    ck_assert_float_eq(y[2], 2.0f); /* right column window: one padded column */
    ck_assert_float_eq(y[6], 2.0f); /* bottom row window */
    ck_assert_float_eq(y[8], 1.0f); /* bottom-right: only x[4][4] */
    tg_graph_free(o.g);
}
END_TEST

/* d loss / d x, d w and d b against direct loops over the forward formula, for a
 * random output gradient; conv2d (depthwise = 0) or depthwise_conv2d. */
static void check_backward(const conv_case *cc, int depthwise, uint64_t seed_no) {
    char attrs[256];
    case_attrs(cc, !depthwise, attrs, sizeof attrs);
    if (!depthwise) drop_multiplier(attrs);
    one_op o = make_op(depthwise ? "depthwise_conv2d" : "conv2d", attrs,
                       tg_shape4(cc->n, cc->c, cc->h, cc->w), seed_no);
    tg_node_set_requires_grad(o.x, 1);
    tg_rng r;
    tg_rng_seed(&r, seed_no + 1000);
    int64_t ny = tg_shape_numel(tg_node_shape(o.y)), nx = tg_shape_numel(tg_node_shape(o.x));
    int64_t nw = tg_shape_numel(tg_node_shape(tg_node_param(o.y, 0)));
    float *seed = malloc(sizeof(float) * (size_t)ny);
    fill(seed, ny, &r);
    tg_graph_zero_grad(o.g);
    ck_assert_int_eq(tg_graph_backward_from(o.g, o.y, seed), TG_OK);
    int ho, wo, pt, pl, fo = depthwise ? cc->c * cc->mult : cc->f;
    ref_geom(cc->h, cc->k, cc->s, cc->same, cc->padding, &ho, &pt);
    ref_geom(cc->w, cc->k, cc->s, cc->same, cc->padding, &wo, &pl);
    const float *w = param(&o, 0), *xv = tg_node_data(o.x), *yv = tg_node_data(o.y);
    /* the sums and, per element, the sums of their squared terms */
    double *dx = calloc((size_t)nx, sizeof(double)), *dw = calloc((size_t)nw, sizeof(double));
    double *db = calloc((size_t)fo, sizeof(double));
    double *sx = calloc((size_t)nx, sizeof(double)), *sw = calloc((size_t)nw, sizeof(double));
    double *sb = calloc((size_t)fo, sizeof(double));
    for (int n = 0; n < cc->n; n++)
        for (int f = 0; f < fo; f++)
            for (int oh = 0; oh < ho; oh++)
                for (int ow = 0; ow < wo; ow++) {
                    int yi = ((n * fo + f) * ho + oh) * wo + ow;
                    double gy = seed[yi];
                    if (!strcmp(cc->act, "relu"))
                        gy = yv[yi] > 0 ? gy : 0;
                    else if (!strcmp(cc->act, "tanh"))
                        gy *= 1 - yv[yi] * yv[yi];
                    else if (!strcmp(cc->act, "sigmoid"))
                        gy *= yv[yi] * (1 - yv[yi]);
                    db[f] += gy;
                    sb[f] += gy * gy;
                    int c0 = depthwise ? f / cc->mult : 0, c1 = depthwise ? c0 + 1 : cc->c;
                    for (int c = c0; c < c1; c++)
                        for (int kh = 0; kh < cc->k; kh++)
                            for (int kw = 0; kw < cc->k; kw++) {
                                int ih = oh * cc->s - pt + kh, iw = ow * cc->s - pl + kw;
                                if (ih < 0 || ih >= cc->h || iw < 0 || iw >= cc->w) continue;
                                int xi = ((n * cc->c + c) * cc->h + ih) * cc->w + iw;
                                int wi =
                                    ((f * (depthwise ? 1 : cc->c) + (depthwise ? 0 : c)) * cc->k +
                                     kh) *
                                        cc->k +
                                    kw;
                                dx[xi] += gy * w[wi];
                                dw[wi] += gy * xv[xi];
                                sx[xi] += (gy * w[wi]) * (gy * w[wi]);
                                sw[wi] += (gy * xv[xi]) * (gy * xv[xi]);
                            }
                }
    assert_close_terms(tg_node_grad(o.x), dx, sx, nx, 1e-5, "dx", attrs);
    assert_close_terms(tg_node_grad(tg_node_param(o.y, 0)), dw, sw, nw, 1e-5, "dw", attrs);
    if (cc->bias)
        assert_close_terms(tg_node_grad(tg_node_param(o.y, 1)), db, sb, fo, 1e-5, "db", attrs);
    free(dx);
    free(dw);
    free(db);
    free(sx);
    free(sw);
    free(sb);
    free(seed);
    tg_graph_free(o.g);
}

START_TEST(test_conv2d_backward_matches_direct_loops) {
    for (int i = 0; i < N_CASES; i++) check_backward(&cases[i], 0, 60 + (uint64_t)i);
    for (int i = 0; i < N_BIG; i++) check_backward(&big_cases[i], 0, 90 + (uint64_t)i);
}
END_TEST

START_TEST(test_depthwise_backward_matches_direct_loops) {
    for (int i = 0; i < N_CASES; i++) check_backward(&cases[i], 1, 70 + (uint64_t)i);
}
END_TEST

/* Same graph, same inputs, same thread count: bitwise the same gradients. */
START_TEST(test_conv_backward_is_deterministic) {
    float *first[3] = {NULL, NULL, NULL};
    for (int run = 0; run < 2; run++) {
        one_op o = make_op("sepconv2d", "filters=8 kernel=3 act=relu", tg_shape4(4, 6, 33, 31), 9);
        tg_node *c =
            tg_graph_op(o.g, "conv2d", "c2", "filters=5 kernel=3 stride=2", (tg_node *[]){o.y}, 1);
        tg_node *s = tg_graph_op(o.g, "sum", "s", NULL, (tg_node *[]){c}, 1);
        ck_assert_ptr_nonnull(s);
        tg_node_set_requires_grad(o.x, 1);
        ck_assert_int_eq(tg_graph_forward(o.g, s), TG_OK);
        tg_graph_zero_grad(o.g);
        ck_assert_int_eq(tg_graph_backward(o.g, s), TG_OK);
        tg_node *nodes[3] = {o.x, tg_node_param(o.y, 0), tg_node_param(c, 0)};
        for (int k = 0; k < 3; k++) {
            int64_t n = tg_shape_numel(tg_node_shape(nodes[k]));
            if (run == 0) {
                first[k] = malloc(sizeof(float) * (size_t)n);
                memcpy(first[k], tg_node_grad(nodes[k]), sizeof(float) * (size_t)n);
            } else {
                ck_assert_msg(memcmp(first[k], tg_node_grad(nodes[k]), sizeof(float) * (size_t)n) ==
                                  0,
                              "gradient %d differs between two identical runs", k);
                free(first[k]);
            }
        }
        tg_graph_free(o.g);
    }
}
END_TEST

/* ---- depthwise and separable ---- */

START_TEST(test_depthwise_forward_matches_direct_loops) {
    for (int i = 0; i < N_CASES; i++) {
        const conv_case *cc = &cases[i];
        char attrs[256];
        case_attrs(cc, 0, attrs, sizeof attrs);
        one_op o =
            make_op("depthwise_conv2d", attrs, tg_shape4(cc->n, cc->c, cc->h, cc->w), 20 + i);
        float *ref = malloc(sizeof(float) * (size_t)tg_shape_numel(tg_node_shape(o.y)));
        int ho, wo;
        ref_conv(cc, 1, tg_node_data(o.x), param(&o, 0), param(&o, 1), ref, &ho, &wo);
        const tg_shape *s = tg_node_shape(o.y);
        ck_assert(s->dim[1] == cc->c * cc->mult && s->dim[2] == ho && s->dim[3] == wo);
        assert_close(tg_node_data(o.y), ref, tg_shape_numel(s), 1e-5, attrs);
        free(ref);
        tg_graph_free(o.g);
    }
}
END_TEST

/* sepconv2d's gradients equal those of depthwise_conv2d (no bias) followed by a
 * 1x1 conv2d with the same weights, for one random output gradient: batches of 2
 * (one worker, each GEMM split) and 6 (whole images per thread), with and without
 * an activation and a multiplier. */
START_TEST(test_sepconv_backward_is_depthwise_then_pointwise) {
    static const struct {
        int n, c, h, w, f, mult;
        const char *act;
    } sc[] = {
        {2, 3, 11, 13, 5, 1, "relu"}, {6, 4, 20, 19, 6, 2, "none"}, {6, 3, 9, 37, 4, 1, "tanh"}};
    for (int i = 0; i < (int)(sizeof sc / sizeof sc[0]); i++) {
        char attrs[160], dattrs[96], pattrs[96];
        snprintf(attrs, sizeof attrs, "filters=%d kernel=3 multiplier=%d act=%s", sc[i].f,
                 sc[i].mult, sc[i].act);
        snprintf(dattrs, sizeof dattrs, "kernel=3 multiplier=%d bias=false", sc[i].mult);
        snprintf(pattrs, sizeof pattrs, "filters=%d kernel=1 act=%s", sc[i].f, sc[i].act);
        const tg_shape xs = tg_shape4(sc[i].n, sc[i].c, sc[i].h, sc[i].w);
        one_op o = make_op("sepconv2d", attrs, xs, 40 + (uint64_t)i);
        tg_graph *g = tg_graph_new(1);
        tg_node *x = tg_graph_input(g, "x", xs);
        tg_node *d = tg_graph_op(g, "depthwise_conv2d", "d", dattrs, (tg_node *[]){x}, 1);
        tg_node *p = tg_graph_op(g, "conv2d", "p", pattrs, (tg_node *[]){d}, 1);
        ck_assert_ptr_nonnull(p);
        memcpy(tg_node_data(x), tg_node_data(o.x), sizeof(float) * (size_t)tg_shape_numel(&xs));
        tg_node *ours[4] = {o.x, tg_node_param(o.y, 0), tg_node_param(o.y, 1),
                            tg_node_param(o.y, 2)};
        tg_node *theirs[4] = {x, tg_node_param(d, 0), tg_node_param(p, 0), tg_node_param(p, 1)};
        for (int k = 1; k < 4; k++)
            memcpy(tg_node_data(theirs[k]), tg_node_data(ours[k]),
                   sizeof(float) * (size_t)tg_shape_numel(tg_node_shape(ours[k])));
        tg_node_set_requires_grad(o.x, 1);
        tg_node_set_requires_grad(x, 1);
        ck_assert_int_eq(tg_graph_forward(g, p), TG_OK);
        const int64_t ny = tg_shape_numel(tg_node_shape(o.y));
        float *seed = malloc(sizeof(float) * (size_t)ny);
        tg_rng r;
        tg_rng_seed(&r, 77 + (uint64_t)i);
        fill(seed, ny, &r);
        tg_graph_zero_grad(o.g);
        tg_graph_zero_grad(g);
        ck_assert_int_eq(tg_graph_backward_from(o.g, o.y, seed), TG_OK);
        ck_assert_int_eq(tg_graph_backward_from(g, p, seed), TG_OK);
        static const char *what[4] = {"dx", "d depthwise", "d pointwise", "db"};
        for (int k = 0; k < 4; k++)
            assert_close(tg_node_grad(ours[k]), tg_node_grad(theirs[k]),
                         tg_shape_numel(tg_node_shape(ours[k])), 2e-5, what[k]);
        free(seed);
        tg_graph_free(g);
        tg_graph_free(o.g);
    }
}
END_TEST

/* Shapes with every kind of remainder for a blocked pointwise GEMM (filters 8 + 8 + 4
 * and 8 + 1; positions 32 + 32 + 16 + 10, 32 + 16 + 1 and 17 x 32 + 8), one image whose
 * GEMM (40 x 576 x 32) is split across the threads, and four images shared out whole. */
static const conv_case sep_cases[] = {
    {2, 12, 10, 9, 20, 3, 1, 1, -1, 1, 1, "relu", NULL},
    {1, 9, 7, 7, 9, 3, 1, 1, -1, 0, 2, "sigmoid", NULL},
    {1, 32, 24, 24, 40, 3, 1, 1, -1, 1, 1, "relu", NULL},
    {4, 32, 24, 23, 36, 3, 1, 1, -1, 1, 1, "none", NULL},
};
#define N_SEP ((int)(sizeof sep_cases / sizeof sep_cases[0]))

START_TEST(test_sepconv_is_depthwise_then_pointwise) {
    for (int i = 0; i < N_CASES + N_SEP; i++) {
        conv_case cc = i < N_CASES ? cases[i] : sep_cases[i - N_CASES];
        cc.algo = NULL; /* conv2d's attribute */
        char attrs[256];
        case_attrs(&cc, 1, attrs, sizeof attrs);
        one_op o = make_op("sepconv2d", attrs, tg_shape4(cc.n, cc.c, cc.h, cc.w), 30 + i);
        /* the depthwise stage: no bias, no activation */
        conv_case dcc = cc;
        dcc.act = "none";
        int ho, wo, cm = cc.c * cc.mult;
        float *t = malloc(sizeof(float) * (size_t)cc.n * cm * cc.h * cc.w * 4);
        ref_conv(&dcc, 1, tg_node_data(o.x), param(&o, 0), NULL, t, &ho, &wo);
        /* the pointwise stage: a 1x1 conv of t with bias and activation */
        conv_case pcc = {cc.n, cm, ho, wo, cc.f, 1, 1, 0, -1, cc.bias, 1, cc.act, NULL};
        float *ref = malloc(sizeof(float) * (size_t)tg_shape_numel(tg_node_shape(o.y)));
        ref_conv(&pcc, 0, t, param(&o, 1), param(&o, 2), ref, &ho, &wo);
        const tg_shape *s = tg_node_shape(o.y);
        ck_assert(s->dim[1] == cc.f && s->dim[2] == ho && s->dim[3] == wo);
        ck_assert_int_eq(tg_node_shape(tg_node_param(o.y, 1))->dim[1], cm);
        ck_assert_int_eq(tg_node_param(o.y, 2) != NULL, cc.bias);
        assert_close(tg_node_data(o.y), ref, tg_shape_numel(s), 1e-5, attrs);
        free(ref);
        free(t);
        tg_graph_free(o.g);
    }
}
END_TEST

/* ---- batchnorm ---- */

static void bn_reference(const float *x, int n, int c, int s, const float *gamma, const float *beta,
                         const float *mean, const float *var, double eps, float *y) {
    for (int i = 0; i < n; i++)
        for (int ch = 0; ch < c; ch++)
            for (int j = 0; j < s; j++) {
                int k = (i * c + ch) * s + j;
                y[k] = (float)(gamma[ch] * (x[k] - mean[ch]) / sqrt(var[ch] + eps) + beta[ch]);
            }
}

static void batch_stats(const float *x, int n, int c, int s, float *mean, float *var) {
    for (int ch = 0; ch < c; ch++) {
        double a = 0, b = 0;
        for (int i = 0; i < n; i++)
            for (int j = 0; j < s; j++) a += x[(i * c + ch) * s + j];
        a /= n * s;
        for (int i = 0; i < n; i++)
            for (int j = 0; j < s; j++) b += pow(x[(i * c + ch) * s + j] - a, 2);
        mean[ch] = (float)a;
        var[ch] = (float)(b / (n * s));
    }
}

START_TEST(test_batchnorm_train_eval_and_running_update) {
    const struct {
        tg_shape shape;
        const char *attrs;
        double eps, mom;
        int unbiased;
    } bc[] = {{tg_shape4(4, 3, 5, 7), "", 1e-3, 0.99, 0},
              {tg_shape2(9, 5), "momentum=0.9 eps=1e-5 unbiased=true", 1e-5, 0.9, 1}};
    for (int t = 0; t < 2; t++) {
        one_op o = make_op("batchnorm", bc[t].attrs, bc[t].shape, 40 + t);
        int n = (int)bc[t].shape.dim[0], c = (int)bc[t].shape.dim[1];
        int s = (int)(tg_shape_numel(&bc[t].shape) / (n * c));
        const float *x = tg_node_data(o.x);
        float mean[8], var[8], *ref = malloc(sizeof(float) * (size_t)(n * c * s));
        /* train: batch statistics, biased variance */
        batch_stats(x, n, c, s, mean, var);
        bn_reference(x, n, c, s, param(&o, 0), param(&o, 1), mean, var, bc[t].eps, ref);
        assert_close(tg_node_data(o.y), ref, n * c * s, 1e-5, "batchnorm train");
        /* the first batch becomes the running statistics (warm-up, not a pull from (0, 1)) */
        for (int ch = 0; ch < c; ch++) {
            double m = n * s, v = bc[t].unbiased ? var[ch] * m / (m - 1) : var[ch];
            ck_assert_double_eq_tol(param(&o, 2)[ch], mean[ch], 1e-6);
            ck_assert_double_eq_tol(param(&o, 3)[ch], v, 1e-6);
        }
        ck_assert_float_eq(param(&o, 4)[0], 1.0f);
        /* past the warm-up: the moving average with weight momentum on the old value */
        param(&o, 4)[0] = 1000.0f;
        for (int ch = 0; ch < c; ch++) {
            param(&o, 2)[ch] = 0.5f;
            param(&o, 3)[ch] = 2.0f;
        }
        ck_assert_int_eq(tg_graph_forward(o.g, o.y), TG_OK);
        for (int ch = 0; ch < c; ch++) {
            double m = n * s, v = bc[t].unbiased ? var[ch] * m / (m - 1) : var[ch];
            ck_assert_double_eq_tol(param(&o, 2)[ch], bc[t].mom * 0.5 + (1 - bc[t].mom) * mean[ch],
                                    1e-6);
            ck_assert_double_eq_tol(param(&o, 3)[ch], bc[t].mom * 2.0 + (1 - bc[t].mom) * v, 1e-6);
        }
        ck_assert_float_eq(param(&o, 4)[0], 1001.0f);
        /* eval: running statistics, which stay put */
        float rm[8], rv[8];
        for (int ch = 0; ch < c; ch++) {
            param(&o, 2)[ch] = rm[ch] = 0.1f * (float)ch - 0.2f;
            param(&o, 3)[ch] = rv[ch] = 0.5f + 0.3f * (float)ch;
        }
        tg_graph_set_training(o.g, 0);
        ck_assert_int_eq(tg_graph_forward(o.g, o.y), TG_OK);
        bn_reference(x, n, c, s, param(&o, 0), param(&o, 1), rm, rv, bc[t].eps, ref);
        assert_close(tg_node_data(o.y), ref, n * c * s, 1e-5, "batchnorm eval");
        for (int ch = 0; ch < c; ch++) ck_assert_float_eq(param(&o, 2)[ch], rm[ch]);
        /* running statistics are state: no gradient, not in the trainable buffer */
        ck_assert(tg_node_kind(tg_node_param(o.y, 2)) & TG_NODE_STATE);
        ck_assert(!(tg_node_kind(tg_node_param(o.y, 3)) & TG_NODE_PARAM));
        int64_t n_state;
        ck_assert_ptr_nonnull(tg_graph_state_data(o.g, &n_state));
        ck_assert_int_eq(n_state, 2 * c + 1);
        free(ref);
        tg_graph_free(o.g);
    }
}
END_TEST

/* ---- pooling ---- */

static void ref_pool(int max, const float *x, int n, int c, int h, int w, int k, int s, int same,
                     float *y, int *pho, int *pwo) {
    int ho, wo, pt, pl;
    ref_geom(h, k, s, same, -1, &ho, &pt);
    ref_geom(w, k, s, same, -1, &wo, &pl);
    for (int p = 0; p < n * c; p++)
        for (int oh = 0; oh < ho; oh++)
            for (int ow = 0; ow < wo; ow++) {
                double acc = max ? -1e30 : 0.0;
                int count = 0;
                for (int kh = 0; kh < k; kh++)
                    for (int kw = 0; kw < k; kw++) {
                        int ih = oh * s - pt + kh, iw = ow * s - pl + kw;
                        if (ih < 0 || ih >= h || iw < 0 || iw >= w) continue;
                        double v = x[(p * h + ih) * w + iw];
                        acc = max ? fmax(acc, v) : acc + v;
                        count++;
                    }
                y[(p * ho + oh) * wo + ow] = (float)(max ? acc : acc / count);
            }
    *pho = ho;
    *pwo = wo;
}

START_TEST(test_pools_match_direct_loops) {
    const struct {
        int n, c, h, w, k, s, same;
    } pc[] = {{2, 3, 8, 8, 2, 2, 0}, {2, 2, 7, 9, 2, 2, 0}, {2, 2, 7, 9, 2, 2, 1},
              {1, 3, 9, 7, 3, 2, 1}, {2, 2, 6, 6, 3, 1, 1}, {1, 2, 10, 11, 3, 3, 0}};
    for (int m = 0; m < 2; m++)
        for (int i = 0; i < (int)(sizeof pc / sizeof pc[0]); i++) {
            char attrs[128];
            snprintf(attrs, sizeof attrs, "size=%d stride=%d pad=%s", pc[i].k, pc[i].s,
                     pc[i].same ? "same" : "valid");
            one_op o = make_op(m ? "maxpool2d" : "avgpool2d", attrs,
                               tg_shape4(pc[i].n, pc[i].c, pc[i].h, pc[i].w), 50 + i);
            float *ref = malloc(sizeof(float) * (size_t)tg_shape_numel(tg_node_shape(o.y)));
            int ho, wo;
            ref_pool(m, tg_node_data(o.x), pc[i].n, pc[i].c, pc[i].h, pc[i].w, pc[i].k, pc[i].s,
                     pc[i].same, ref, &ho, &wo);
            ck_assert(tg_node_shape(o.y)->dim[2] == ho && tg_node_shape(o.y)->dim[3] == wo);
            assert_close(tg_node_data(o.y), ref, tg_shape_numel(tg_node_shape(o.y)), 1e-6, attrs);
            free(ref);
            tg_graph_free(o.g);
        }
}
END_TEST

/* A tie sends the whole gradient to the first maximum in row-major order. */
START_TEST(test_maxpool_tie_goes_to_first_in_row_major_order) {
    one_op o = make_op("maxpool2d", "size=2", tg_shape4(1, 1, 4, 4), 1);
    float *x = tg_node_data(o.x);
    for (int i = 0; i < 16; i++) x[i] = 0.5f;
    x[2 * 4 + 3] = 0.7f; /* window (1,1) has a unique max at (2,3)... */
    x[3 * 4 + 2] = 0.7f; /* ...tied with (3,2): row-major first is (2,3) */
    tg_node_set_requires_grad(o.x, 1);
    ck_assert_int_eq(tg_graph_forward(o.g, o.y), TG_OK);
    float seed[4] = {1, 2, 3, 4};
    ck_assert_int_eq(tg_graph_backward_from(o.g, o.y, seed), TG_OK);
    const float *dx = tg_node_grad(o.x);
    float expect[16] = {0};
    expect[0] = 1;         /* window (0,0): all equal, first is (0,0) */
    expect[2] = 2;         /* window (0,1): first is (0,2) */
    expect[8] = 3;         /* window (1,0): first is (2,0) */
    expect[2 * 4 + 3] = 4; /* window (1,1) */
    for (int i = 0; i < 16; i++)
        ck_assert_msg(dx[i] == expect[i], "dx[%d] = %g, expected %g", i, dx[i], expect[i]);
    ck_assert_float_eq(tg_node_data(o.y)[3], 0.7f);
    tg_graph_free(o.g);
}
END_TEST

/* With pad=same the padded pixels are not counted: an all-ones input averages to 1. */
START_TEST(test_avgpool_same_does_not_count_padding) {
    one_op o = make_op("avgpool2d", "size=2 pad=same", tg_shape4(1, 2, 3, 3), 1);
    for (int i = 0; i < 18; i++) tg_node_data(o.x)[i] = 1.0f;
    ck_assert_int_eq(tg_graph_forward(o.g, o.y), TG_OK);
    ck_assert_int_eq(tg_node_shape(o.y)->dim[2], 2);
    for (int i = 0; i < 8; i++) ck_assert_float_eq_tol(tg_node_data(o.y)[i], 1.0f, 1e-7);
    tg_graph_free(o.g);
}
END_TEST

START_TEST(test_global_avgpool_is_the_plane_mean) {
    one_op o = make_op("global_avgpool", NULL, tg_shape4(3, 4, 5, 7), 2);
    const tg_shape *s = tg_node_shape(o.y);
    ck_assert(s->ndim == 2 && s->dim[0] == 3 && s->dim[1] == 4);
    for (int p = 0; p < 12; p++) {
        double acc = 0;
        for (int j = 0; j < 35; j++) acc += tg_node_data(o.x)[p * 35 + j];
        ck_assert_double_eq_tol(tg_node_data(o.y)[p], acc / 35, 1e-6);
    }
    tg_graph_free(o.g);
}
END_TEST

/* ---- dropout ---- */

START_TEST(test_dropout_rate_scale_eval_and_seed) {
    enum { N = 200000 };
    one_op o = make_op("dropout", "rate=0.3", tg_shape2(100, N / 100), 77);
    const float *x = tg_node_data(o.x), *y = tg_node_data(o.y);
    int zeros = 0;
    for (int i = 0; i < N; i++) {
        if (y[i] == 0.0f)
            zeros++;
        else
            ck_assert_float_eq_tol(y[i], x[i] / 0.7f, 1e-6);
    }
    /* 0.3 +- 5 standard deviations of a Binomial(200000, 0.3) proportion */
    ck_assert_msg(fabs(zeros / (double)N - 0.3) < 5 * sqrt(0.21 / N), "dropped %d of %d", zeros, N);
    float *first = malloc(sizeof(float) * N);
    memcpy(first, y, sizeof(float) * N);
    /* the RNG moved on: a second forward draws a different mask */
    ck_assert_int_eq(tg_graph_forward(o.g, o.y), TG_OK);
    ck_assert(memcmp(first, y, sizeof(float) * N) != 0);
    /* a new graph with the same seed draws the first mask again */
    one_op again = make_op("dropout", "rate=0.3", tg_shape2(100, N / 100), 77);
    ck_assert(memcmp(first, tg_node_data(again.y), sizeof(float) * N) == 0);
    /* eval mode: the identity, and the gradient passes unchanged */
    tg_graph_set_training(o.g, 0);
    tg_node_set_requires_grad(o.x, 1);
    ck_assert_int_eq(tg_graph_forward(o.g, o.y), TG_OK);
    ck_assert(memcmp(x, y, sizeof(float) * N) == 0);
    float *seed = malloc(sizeof(float) * N);
    for (int i = 0; i < N; i++) seed[i] = (float)(i % 7);
    ck_assert_int_eq(tg_graph_backward_from(o.g, o.y, seed), TG_OK);
    ck_assert(memcmp(seed, tg_node_grad(o.x), sizeof(float) * N) == 0);
    free(seed);
    free(first);
    tg_graph_free(o.g);
    tg_graph_free(again.g);
}
END_TEST

/* ---- shape errors ---- */

static void expect_error(const char *op, const char *attrs, tg_shape shape, const char *needle) {
    tg_graph *g = tg_graph_new(1);
    tg_node *x = tg_graph_input(g, "x", shape);
    tg_node *y = tg_graph_op(g, op, "block3", attrs, (tg_node *[]){x}, 1);
    ck_assert_msg(y == NULL, "%s %s accepted a bad shape", op, attrs);
    ck_assert_msg(strstr(tg_last_error(), "block3") && strstr(tg_last_error(), needle),
                  "message '%s' should name the node and say '%s'", tg_last_error(), needle);
    tg_graph_free(g);
}

START_TEST(test_shape_errors_name_the_node) {
    expect_error("conv2d", "filters=2 kernel=5 pad=valid", tg_shape4(1, 1, 3, 3),
                 "kernel 5 is larger than the 3x3 input with pad=valid");
    expect_error("conv2d", "filters=2 kernel=3", tg_shape2(4, 9), "(N, C, H, W)");
    expect_error("depthwise_conv2d", "kernel=4 pad=valid", tg_shape4(2, 3, 3, 8), "kernel 4");
    expect_error("sepconv2d", "filters=4 kernel=7 padding=1", tg_shape4(2, 3, 4, 4), "padding=1");
    expect_error("maxpool2d", "size=3", tg_shape4(1, 2, 2, 2), "pool size 3");
    expect_error("batchnorm", NULL, tg_shape3(2, 3, 4), "(N, D) or (N, C, H, W)");
    expect_error("global_avgpool", NULL, tg_shape2(2, 3), "(N, C, H, W)");
}
END_TEST

/* A copy of target's value after a forward under TG_VALUES_KEEP (every value
 * kept, so nothing fused): the reference for the inference plan's. */
static float *keep_plan_forward(tg_graph *g, tg_node *target) {
    tg_graph_set_value_plan(g, TG_VALUES_KEEP);
    ck_assert_int_eq(tg_graph_forward(g, target), TG_OK);
    const size_t bytes = sizeof(float) * (size_t)tg_shape_numel(tg_node_shape(target));
    float *copy = malloc(bytes);
    memcpy(copy, tg_node_data(target), bytes);
    return copy;
}

/* A forward under the inference plan, timed: whether first's forward did next's
 * (tg_op.fuses), which then has no forward of its own. */
static int next_done_by(tg_graph *g, tg_node *first, tg_node *next, tg_node *target) {
    tg_graph_set_value_plan(g, TG_VALUES_TARGET);
    tg_graph_set_timing(g, 1);
    ck_assert_int_eq(tg_graph_forward(g, target), TG_OK);
    tg_graph_set_timing(g, 0);
    ck_assert_int_eq(tg_node_timing_get(first).forwards, 1);
    return tg_node_timing_get(next).forwards == 0;
}

/* A layer of `op` on x, its parameters re-drawn: U(-1, 1), a variance U(0.5, 1.5). */
static tg_node *random_layer(tg_graph *g, const char *op, const char *name, const char *attrs,
                             tg_node *x, uint64_t seed) {
    tg_layer *l = tg_graph_layer(g, op, name, attrs);
    ck_assert_msg(l != NULL, "%s %s: %s", op, attrs, tg_last_error());
    tg_node *y = tg_layer_apply1(l, x);
    ck_assert_msg(y != NULL, "%s %s: %s", op, attrs, tg_last_error());
    tg_rng r;
    tg_rng_seed(&r, seed);
    for (int k = 0; k < TG_MAX_PARAMS; k++) {
        tg_node *p = tg_node_param(y, k);
        if (!p) continue;
        int64_t len = tg_shape_numel(tg_node_shape(p));
        fill(tg_node_data(p), len, &r);
        if (strstr(tg_node_name(p), "running_var"))
            for (int64_t i = 0; i < len; i++) tg_node_data(p)[i] = 1.0f + 0.5f * tg_node_data(p)[i];
        if (strstr(tg_node_name(p), "batches")) tg_node_data(p)[0] = 3.0f;
    }
    return y;
}

/* With fewer than two images per thread, a Winograd conv whose input gradient it
 * writes first (its input an op's output, not a graph input) shares each image's
 * blocks of tile rows among the threads: the same bits as one thread. The seed's
 * conv1_2 shape class, 81 x 99 so that the backward has five blocks of tile rows;
 * F(2x2, 3x3) (_i = 0) and F(4x4, 3x3) (_i = 1). */
START_TEST(test_winograd_input_gradient_shared_is_serial) {
    const char *attrs =
        _i ? "filters=32 kernel=3 act=relu algo=winograd4" : "filters=32 kernel=3 act=relu";
    float *grads[2] = {NULL, NULL};
    int64_t n = 0;
    for (int threads = 1; threads <= 2; threads++) {
        ck_assert_int_eq(tg_threads_set(threads), TG_OK);
        one_op o = make_op("tanh", NULL, tg_shape4(1, 32, 81, 99), 13);
        tg_node *c = random_layer(o.g, "conv2d", "c", attrs, o.y, 14);
        tg_node *s = tg_graph_op(o.g, "sum", "s", NULL, (tg_node *[]){c}, 1);
        tg_node_set_requires_grad(o.x, 1);
        tg_graph_set_grad_reuse(o.g, 1); /* as in training: the conv writes tanh's gradient */
        ck_assert_int_eq(tg_graph_forward(o.g, s), TG_OK);
        tg_graph_zero_grad(o.g);
        ck_assert_int_eq(tg_graph_backward(o.g, s), TG_OK);
        n = tg_shape_numel(tg_node_shape(o.x));
        grads[threads - 1] = malloc(sizeof(float) * (size_t)n);
        memcpy(grads[threads - 1], tg_node_grad(o.x), sizeof(float) * (size_t)n);
        tg_graph_free(o.g);
    }
    ck_assert_msg(!memcmp(grads[0], grads[1], sizeof(float) * (size_t)n),
                  "the input gradient differs between one and two threads");
    free(grads[0]);
    free(grads[1]);
    ck_assert_int_eq(tg_threads_set(0), TG_OK);
}
END_TEST

/* Fused forwards (tg_op.fuses) under the inference plan give the two forwards' values
 * bit for bit: a Winograd conv2d, or a sepconv2d, followed by a 2x2 max pool at stride
 * 2, and a sepconv2d followed by an eval-mode batch norm (even and odd sizes, the
 * activations, which the fused sepconv applies as the next op reads its rows, with
 * and without bias, one and two workers). The first op reads a
 * dropped value (x -> tanh), over which the second's output, written during the first's
 * forward, must not be placed; the second's value is dropped too (-> sigmoid, the
 * target). Not fused, and still right: another pool geometry, another algorithm, a batch
 * norm on batch statistics (training, also when the graph switches to it between two
 * forwards), another reader of the first op's output. */
START_TEST(test_fused_forwards_are_the_two_forwards) {
    const struct {
        int n, c, h, w;
        const char *op, *attrs, *next, *next_attrs;
        int training, fused;
    } pc[] = {
        {2, 32, 150, 150, "conv2d", "filters=32 act=relu", "maxpool2d", "size=2", 0, 1},
        {3, 8, 12, 12, "conv2d", "filters=8 act=relu", "maxpool2d", "size=2", 0, 1},
        {2, 9, 11, 13, "conv2d", "filters=10 act=tanh pad=valid", "maxpool2d", "size=2", 0, 1},
        {2, 8, 9, 10, "conv2d", "filters=12 bias=false", "maxpool2d", "pad=valid", 0, 1},
        {5, 8, 7, 7, "conv2d", "filters=8 act=sigmoid padding=2", "maxpool2d", "size=2", 0, 1},
        {2, 32, 150, 150, "conv2d", "filters=32 act=relu algo=winograd4", "maxpool2d", "size=2", 0,
         1},
        {3, 8, 14, 14, "conv2d", "filters=8 act=relu algo=winograd4", "maxpool2d", "size=2", 0, 1},
        {3, 8, 12, 12, "conv2d", "filters=9 algo=winograd4", "maxpool2d", "size=2", 0, 1},
        {2, 9, 11, 13, "conv2d", "filters=10 act=tanh pad=valid algo=winograd4", "maxpool2d",
         "size=2", 0, 1},
        {5, 8, 7, 7, "conv2d", "filters=8 act=sigmoid padding=2 algo=winograd4", "maxpool2d",
         "size=2", 0, 1},
        {2, 8, 9, 9, "conv2d", "filters=8 act=relu", "maxpool2d", "pad=same", 0, 0},
        {2, 8, 8, 8, "conv2d", "filters=8 act=relu", "maxpool2d", "size=3 stride=2", 0, 0},
        {2, 8, 8, 8, "conv2d", "filters=8 algo=im2col", "maxpool2d", "size=2", 0, 0},
        {4, 6, 15, 14, "sepconv2d", "filters=10 act=relu", "maxpool2d", "size=2", 0, 1},
        {3, 5, 9, 9, "sepconv2d", "filters=7 multiplier=2 bias=false", "maxpool2d", "", 0, 1},
        {3, 4, 8, 11, "sepconv2d", "filters=6 act=sigmoid", "maxpool2d", "size=2", 0, 1},
        {4, 6, 10, 10, "sepconv2d", "filters=8 act=relu", "batchnorm", "", 0, 1},
        {2, 5, 7, 9, "sepconv2d", "filters=6 act=tanh stride=2", "batchnorm", "eps=1e-5", 0, 1},
        {4, 6, 10, 10, "sepconv2d", "filters=8 act=relu", "batchnorm", "", 1, 0},
        {4, 6, 10, 10, "sepconv2d", "filters=8", "maxpool2d", "size=2 stride=1", 0, 0},
    };
    for (int i = 0; i < (int)(sizeof pc / sizeof pc[0]); i++) {
        char attrs[128];
        snprintf(attrs, sizeof attrs, "kernel=3 %s", pc[i].attrs);
        one_op o = make_op("tanh", NULL, tg_shape4(pc[i].n, pc[i].c, pc[i].h, pc[i].w), 80 + i);
        tg_graph_set_training(o.g, pc[i].training);
        tg_node *first = random_layer(o.g, pc[i].op, "first", attrs, o.y, 180 + i);
        tg_node *next = random_layer(o.g, pc[i].next, "next", pc[i].next_attrs, first, 280 + i);
        tg_node *out = tg_graph_op(o.g, "sigmoid", "out", NULL, (tg_node *[]){next}, 1);
        float *ref = keep_plan_forward(o.g, out);
        ck_assert_msg(next_done_by(o.g, first, next, out) == pc[i].fused, "%s %s / %s %s: fused %d",
                      pc[i].op, attrs, pc[i].next, pc[i].next_attrs, !pc[i].fused);
        ck_assert_msg(!memcmp(tg_node_data(out), ref,
                              sizeof(float) * (size_t)tg_shape_numel(tg_node_shape(out))),
                      "%s %s / %s %s: the inference plan changed the values", pc[i].op, attrs,
                      pc[i].next, pc[i].next_attrs);
        free(ref);
        tg_graph_free(o.g);
    }
    /* the same graph switched to training between two inference-plan forwards: the batch
     * norm, fused in eval mode, runs itself on batch statistics */
    one_op t = make_op("tanh", NULL, tg_shape4(4, 6, 10, 10), 91);
    tg_node *sep = random_layer(t.g, "sepconv2d", "sep", "filters=8 kernel=3", t.y, 92);
    tg_node *bn = random_layer(t.g, "batchnorm", "bn", "momentum=1", sep, 93);
    tg_graph_set_training(t.g, 0);
    ck_assert(next_done_by(t.g, sep, bn, bn));
    tg_graph_set_training(t.g, 1);
    ck_assert(!next_done_by(t.g, sep, bn, bn));
    float got[4 * 8 * 10 * 10];
    memcpy(got, tg_node_data(bn), sizeof got);
    float *train_ref = keep_plan_forward(t.g, bn);
    ck_assert(!memcmp(got, train_ref, sizeof got));
    free(train_ref);
    tg_graph_free(t.g);
    /* the conv's output also read by a second op: computed in full, pool not fused */
    one_op o = make_op("conv2d", "filters=8 kernel=3 act=relu", tg_shape4(2, 8, 8, 8), 90);
    tg_node *pool = tg_graph_op(o.g, "maxpool2d", "pool", "size=2", (tg_node *[]){o.y}, 1);
    tg_node *flat = tg_graph_op(o.g, "flatten", "flat", NULL, (tg_node *[]){pool}, 1);
    tg_node *conv_flat = tg_graph_op(o.g, "flatten", "conv_flat", NULL, (tg_node *[]){o.y}, 1);
    tg_node *sum = tg_graph_op(o.g, "sum", "sum", NULL, (tg_node *[]){flat}, 1);
    tg_node *sum2 = tg_graph_op(o.g, "sum", "sum2", NULL, (tg_node *[]){conv_flat}, 1);
    tg_node *both = tg_graph_op(o.g, "add", "both", NULL, (tg_node *[]){sum, sum2}, 2);
    ck_assert_msg(both != NULL, "%s", tg_last_error());
    float *ref = keep_plan_forward(o.g, both);
    ck_assert(!next_done_by(o.g, o.y, pool, both));
    ck_assert(tg_node_data(both)[0] == ref[0]);
    free(ref);
    tg_graph_free(o.g);
}
END_TEST

/* A later batch of another size re-infers every shape and reuses the buffers. */
START_TEST(test_batch_size_change_reinfers) {
    one_op o = make_op("sepconv2d", "filters=3 kernel=3 stride=2", tg_shape4(4, 2, 9, 9), 8);
    tg_node *p = tg_graph_op(o.g, "maxpool2d", "p", NULL, (tg_node *[]){o.y}, 1);
    float x[2 * 2 * 9 * 9];
    tg_rng r;
    tg_rng_seed(&r, 1);
    fill(x, 2 * 2 * 9 * 9, &r);
    ck_assert_int_eq(tg_input_set(o.x, tg_shape4(2, 2, 9, 9), x), TG_OK);
    ck_assert_int_eq(tg_graph_forward(o.g, p), TG_OK);
    ck_assert_int_eq(tg_node_shape(p)->dim[0], 2);
    ck_assert_int_eq(tg_node_shape(p)->dim[2], 2);
    tg_graph_free(o.g);
}
END_TEST

int main(void) {
    Suite *s = suite_create("conv");
    TCase *tc = tcase_create("conv");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_conv2d_forward_matches_direct_loops);
    tcase_add_test(tc, test_same_padding_puts_the_odd_pad_at_bottom_right);
    tcase_add_test(tc, test_conv2d_auto_winograd_tile_follows_the_mode);
    tcase_add_test(tc, test_conv2d_backward_matches_direct_loops);
    tcase_add_test(tc, test_conv_backward_is_deterministic);
    tcase_add_loop_test(tc, test_winograd_input_gradient_shared_is_serial, 0, 2);
    tcase_add_test(tc, test_depthwise_forward_matches_direct_loops);
    tcase_add_test(tc, test_depthwise_backward_matches_direct_loops);
    tcase_add_test(tc, test_sepconv_is_depthwise_then_pointwise);
    tcase_add_test(tc, test_sepconv_backward_is_depthwise_then_pointwise);
    tcase_add_test(tc, test_batchnorm_train_eval_and_running_update);
    tcase_add_test(tc, test_pools_match_direct_loops);
    tcase_add_test(tc, test_maxpool_tie_goes_to_first_in_row_major_order);
    tcase_add_test(tc, test_avgpool_same_does_not_count_padding);
    tcase_add_test(tc, test_global_avgpool_is_the_plane_mean);
    tcase_add_test(tc, test_dropout_rate_scale_eval_and_seed);
    tcase_add_test(tc, test_shape_errors_name_the_node);
    tcase_add_test(tc, test_batch_size_change_reinfers);
    tcase_add_test(tc, test_fused_forwards_are_the_two_forwards);
    suite_add_tcase(s, tc);
    return tg_check_run(s);
}
