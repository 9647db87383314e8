/* Core: shapes, the RNG, graph construction, shape inference and its errors,
 * batch-size changes, the flat parameter buffer, weight sharing and the train step. */
#include <check.h>

#include "tests/tg_check.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "twingrad.h"

START_TEST(test_shape_parse_and_print_round_trip) {
    tg_shape s;
    char buf[64];
    ck_assert_int_eq(tg_shape_parse("16x32x75x75", &s), TG_OK);
    ck_assert_int_eq(s.ndim, 4);
    ck_assert_int_eq(tg_shape_numel(&s), 16 * 32 * 75 * 75);
    ck_assert_str_eq(tg_shape_str(&s, buf, sizeof buf), "(16,32,75,75)");
    ck_assert_int_eq(tg_shape_parse("3,4", &s), TG_OK);
    ck_assert_int_eq(tg_shape_item_numel(&s), 4);
    ck_assert_int_ne(tg_shape_parse("3x0", &s), TG_OK);
    ck_assert_int_ne(tg_shape_parse("1x2x3x4x5", &s), TG_OK);
    ck_assert_int_ne(tg_shape_parse("4xa", &s), TG_OK);
    ck_assert_int_ne(tg_shape_parse("", &s), TG_OK);
    tg_shape huge = tg_shape4(1 << 20, 1 << 20, 1 << 20, 2);
    ck_assert(!tg_shape_valid(&huge));
    /* A rank past the four dims a shape holds is printed and compared without reading
     * past them (they come from callers' structs, as in error messages) */
    tg_shape bad = {.ndim = 9, .dim = {1, 2, 3, 4}};
    ck_assert_str_eq(tg_shape_str(&bad, buf, sizeof buf), "(rank 9)");
    ck_assert(!tg_shape_equal(&bad, &bad));
    ck_assert(!tg_shape_valid(&bad));
    tg_graph *g = tg_graph_new(1);
    ck_assert_ptr_null(tg_graph_input(g, "x", bad));
    ck_assert_ptr_nonnull(strstr(tg_last_error(), "(rank 9)"));
    tg_graph_free(g);
}
END_TEST

/* Issue 10, failure 1: dims whose product overflows int64 are invalid, never a wrapped count. */
START_TEST(test_shape_product_overflow_is_invalid) {
    int64_t big = INT64_C(1) << 40, mid = INT64_C(1) << 24;
    tg_shape s = tg_shape2(mid, big);
    ck_assert_int_eq(tg_shape_valid(&s), 0);
    ck_assert_int_eq(tg_shape_numel(&s), 0);
    s = tg_shape4(big, big, big, big);
    ck_assert_int_eq(tg_shape_valid(&s), 0);
    ck_assert_int_eq(tg_shape_numel(&s), 0);
    s = tg_shape2(INT64_MAX, 2);
    ck_assert_int_eq(tg_shape_numel(&s), 0);
    s = tg_shape1(big); /* the largest valid tensor */
    ck_assert_int_eq(tg_shape_valid(&s), 1);
    ck_assert_int_eq(tg_shape_numel(&s), big);
    tg_shape parsed;
    ck_assert_int_eq(tg_shape_parse("16777216x1099511627776", &parsed), TG_ERR_SHAPE);
    ck_assert_ptr_nonnull(strstr(tg_last_error(), "too large"));
    ck_assert_int_eq(tg_shape_parse("99999999999999999999x2", &parsed), TG_ERR_SHAPE);
}
END_TEST

START_TEST(test_rng_is_deterministic_and_restorable) {
    tg_rng a, b;
    tg_rng_seed(&a, 7);
    tg_rng_seed(&b, 7);
    for (int i = 0; i < 100; i++) ck_assert(tg_rng_u64(&a) == tg_rng_u64(&b));
    tg_rng saved = a;
    uint64_t next[10];
    for (int i = 0; i < 10; i++) next[i] = tg_rng_u64(&a);
    a = saved;
    for (int i = 0; i < 10; i++) ck_assert(tg_rng_u64(&a) == next[i]);
    /* Known outputs for seed 0 (splitmix64 seeding, xoshiro256**), computed
     * independently: checkpoints and resumed runs depend on this stream. */
    tg_rng_seed(&a, 0);
    ck_assert(tg_rng_u64(&a) == 0x99ec5f36cb75f2b4ULL);
    ck_assert(tg_rng_u64(&a) == 0xbf6e1f784956452aULL);
    ck_assert(tg_rng_u64(&a) == 0x1a5f849d4933e6e0ULL);
    double mean = 0, var = 0;
    int hist[10] = {0};
    for (int i = 0; i < 100000; i++) {
        double u = tg_rng_uniform(&b), z = tg_rng_normal(&b);
        ck_assert(u >= 0.0 && u < 1.0);
        hist[(int)(u * 10)]++;
        mean += z;
        var += z * z;
    }
    mean /= 100000;
    var = var / 100000 - mean * mean;
    ck_assert_double_lt(fabs(mean), 0.02);
    ck_assert_double_lt(fabs(var - 1.0), 0.03);
    for (int i = 0; i < 10; i++) ck_assert_int_gt(hist[i], 9500);
    int counts[3] = {0};
    for (int i = 0; i < 30000; i++) counts[tg_rng_below(&b, 3)]++;
    for (int i = 0; i < 3; i++) ck_assert_int_gt(counts[i], 9500);
}
END_TEST

START_TEST(test_rng_shuffle_is_a_permutation) {
    tg_rng r;
    tg_rng_seed(&r, 3);
    int v[50], seen[50] = {0};
    for (int i = 0; i < 50; i++) v[i] = i;
    tg_rng_shuffle(&r, v, 50, sizeof v[0]);
    int moved = 0;
    for (int i = 0; i < 50; i++) {
        seen[v[i]]++;
        moved += v[i] != i;
    }
    for (int i = 0; i < 50; i++) ck_assert_int_eq(seen[i], 1);
    ck_assert_int_gt(moved, 25);
}
END_TEST

START_TEST(test_shape_mismatch_names_the_node) {
    tg_graph *g = tg_graph_new(1);
    tg_node *a = tg_graph_input(g, "a", tg_shape2(4, 3));
    tg_node *b = tg_graph_input(g, "b", tg_shape2(4, 5));
    tg_node *s = tg_graph_op(g, "add", "sum_ab", NULL, (tg_node *[]){a, b}, 2);
    ck_assert_ptr_null(s);
    ck_assert_ptr_nonnull(strstr(tg_last_error(), "sum_ab"));
    ck_assert_ptr_nonnull(strstr(tg_last_error(), "(4,3)"));
    ck_assert_ptr_nonnull(strstr(tg_last_error(), "(4,5)"));
    /* A NULL from a failed call propagates with its message intact. */
    tg_node *t = tg_graph_op(g, "relu", "r", NULL, (tg_node *[]){s}, 1);
    ck_assert_ptr_null(t);
    ck_assert_ptr_nonnull(strstr(tg_last_error(), "sum_ab"));
    /* The failed node left nothing behind. */
    ck_assert_int_eq(tg_graph_node_count(g), 2);
    tg_graph_free(g);
}
END_TEST

START_TEST(test_unknown_op_suggests_nearest) {
    tg_graph *g = tg_graph_new(1);
    ck_assert_ptr_null(tg_graph_layer(g, "densse", "x", "units=3"));
    ck_assert_ptr_nonnull(strstr(tg_last_error(), "unknown op 'densse'"));
    ck_assert_ptr_nonnull(strstr(tg_last_error(), "did you mean 'dense'"));
    tg_graph_free(g);
}
END_TEST

START_TEST(test_bad_attribute_value_is_an_error) {
    tg_graph *g = tg_graph_new(1);
    ck_assert_ptr_null(tg_graph_layer(g, "dense", "x", "units=0"));
    ck_assert_ptr_nonnull(strstr(tg_last_error(), "out of range"));
    ck_assert_ptr_null(tg_graph_layer(g, "dense", "x", "units=3 act=relux"));
    ck_assert_ptr_nonnull(strstr(tg_last_error(), "none|relu|sigmoid|tanh"));
    ck_assert_ptr_null(tg_graph_layer(g, "dense", "x", "unitz=3"));
    ck_assert_ptr_nonnull(strstr(tg_last_error(), "did you mean 'units'"));
    ck_assert_ptr_null(tg_graph_layer(g, "dense", "x", "act=relu"));
    ck_assert_ptr_nonnull(strstr(tg_last_error(), "needs attribute 'units'"));
    ck_assert_ptr_null(tg_graph_layer(g, "dense", "x", "units=3 units=4"));
    ck_assert_ptr_nonnull(strstr(tg_last_error(), "given twice"));
    ck_assert_ptr_null(tg_graph_layer(g, "dense", "x", "units=3x"));
    ck_assert_ptr_nonnull(strstr(tg_last_error(), "expected an integer"));
    ck_assert_ptr_null(tg_graph_layer(g, "scale", "x", "alpha=nan"));
    ck_assert_ptr_null(tg_graph_layer(g, "dense", "x", "units"));
    ck_assert_ptr_nonnull(strstr(tg_last_error(), "key=value"));
    ck_assert_int_eq(tg_graph_node_count(g), 0);
    tg_graph_free(g);
}
END_TEST

START_TEST(test_duplicate_names_are_refused) {
    tg_graph *g = tg_graph_new(1);
    ck_assert_ptr_nonnull(tg_graph_input(g, "x", tg_shape2(2, 2)));
    ck_assert_ptr_null(tg_graph_input(g, "x", tg_shape2(2, 2)));
    ck_assert_ptr_nonnull(tg_graph_layer(g, "relu", "r", NULL));
    ck_assert_ptr_null(tg_graph_layer(g, "relu", "r", NULL));
    tg_graph_free(g);
}
END_TEST

/* A backward needs its node computed by the last forward on the graph as it is now: before
 * any forward it read NULL values; after a forward of an upstream node, stale ones. */
START_TEST(test_backward_needs_a_forward_of_its_node) {
    tg_graph *g = tg_graph_new(5);
    tg_node *x = tg_graph_input(g, "x", tg_shape2(4, 3));
    tg_node *h = tg_graph_op(g, "dense", "fc", "units=2", (tg_node *[]){x}, 1);
    tg_node *s = tg_graph_op(g, "sum", "s", NULL, (tg_node *[]){h}, 1);
    float data[9 * 3] = {0};
    ck_assert_int_eq(tg_input_set(x, tg_shape2(4, 3), data), TG_OK);
    ck_assert_int_eq(tg_graph_backward(g, s), TG_ERR_STATE); /* no forward yet */
    ck_assert_ptr_nonnull(strstr(tg_last_error(), "run tg_graph_forward"));
    ck_assert_int_eq(tg_graph_forward(g, h), TG_OK);
    ck_assert_int_eq(tg_graph_backward(g, s), TG_ERR_STATE); /* s not computed */
    ck_assert_int_eq(tg_graph_forward(g, s), TG_OK);
    ck_assert_int_eq(tg_graph_backward(g, s), TG_OK);
    ck_assert_int_eq(tg_input_set(x, tg_shape2(9, 3), data), TG_OK);
    ck_assert_int_eq(tg_graph_backward(g, s), TG_ERR_STATE); /* reshaped since */
    ck_assert_int_eq(tg_graph_forward(g, s), TG_OK);
    ck_assert_int_eq(tg_graph_backward(g, s), TG_OK);
    tg_graph *other = tg_graph_new(1);
    ck_assert_int_eq(tg_graph_backward(other, s), TG_ERR_STATE); /* another graph's node */
    tg_graph_free(other);
    tg_graph_free(g);
}
END_TEST

/* Changing the batch size re-infers shapes and keeps the parameters. */
START_TEST(test_batch_size_change_reinfers_shapes) {
    tg_graph *g = tg_graph_new(5);
    tg_node *x = tg_graph_input(g, "x", tg_shape2(4, 3));
    tg_node *h = tg_graph_op(g, "dense", "fc", "units=2", (tg_node *[]){x}, 1);
    tg_node *s = tg_graph_op(g, "sum", "s", NULL, (tg_node *[]){h}, 1);
    ck_assert_ptr_nonnull(s);
    int64_t n;
    float *p = tg_graph_param_data(g, &n);
    ck_assert_int_eq(n, 2 * 3 + 2);
    float before = p[0];
    float data[9 * 3];
    for (int i = 0; i < 27; i++) data[i] = (float)i / 27.0f;
    ck_assert_int_eq(tg_input_set(x, tg_shape2(9, 3), data), TG_OK);
    ck_assert_int_eq(tg_graph_forward(g, s), TG_OK);
    ck_assert_int_eq(tg_node_shape(h)->dim[0], 9);
    ck_assert_int_eq(tg_graph_param_count(g), 2);
    ck_assert(tg_graph_param_data(g, NULL)[0] == before);
    /* The sum equals the dense output recomputed by hand. */
    const float *w = tg_node_data(tg_graph_param_at(g, 0));
    double expect = 0;
    for (int i = 0; i < 9; i++)
        for (int u = 0; u < 2; u++)
            for (int k = 0; k < 3; k++) expect += data[i * 3 + k] * w[u * 3 + k];
    ck_assert_double_eq_tol(tg_node_data(s)[0], expect, 1e-5);
    ck_assert_int_ne(tg_input_set(x, tg_shape3(9, 3, 1), data), TG_OK); /* rank change */
    ck_assert_int_eq(tg_input_set(x, tg_shape2(2, 3), data), TG_OK);
    ck_assert_int_eq(tg_graph_forward(g, s), TG_OK);
    ck_assert_int_eq(tg_node_shape(h)->dim[0], 2);
    tg_graph_free(g);
}
END_TEST

/* The gradient of a parameter used by both towers is the sum of the gradients
 * from each tower computed separately. */
START_TEST(test_shared_weight_gradient_is_sum_of_towers) {
    tg_graph *g = tg_graph_new(11);
    tg_node *a = tg_graph_input(g, "a", tg_shape2(5, 4));
    tg_node *b = tg_graph_input(g, "b", tg_shape2(5, 4));
    tg_node *y = tg_graph_input(g, "y", tg_shape1(5));
    tg_layer *tower = tg_graph_layer(g, "dense", "tower", "units=3 act=tanh");
    tg_node *ea = tg_layer_apply1(tower, a), *eb = tg_layer_apply1(tower, b);
    tg_node *d = tg_graph_op(g, "l2distance", "d", NULL, (tg_node *[]){ea, eb}, 2);
    tg_node *loss = tg_graph_op(g, "contrastive", "loss", "margin=2", (tg_node *[]){d, y}, 2);
    ck_assert_ptr_nonnull(loss);
    ck_assert_int_eq(tg_graph_param_count(g), 2); /* one weight, one bias: shared */
    tg_rng r;
    tg_rng_seed(&r, 2);
    for (int i = 0; i < 20; i++) {
        tg_node_data(a)[i] = tg_rng_uniform_range(&r, -1, 1);
        tg_node_data(b)[i] = tg_rng_uniform_range(&r, -1, 1);
    }
    for (int i = 0; i < 5; i++) tg_node_data(y)[i] = (float)(i % 2);
    int64_t n;
    ck_assert_int_eq(tg_graph_forward(g, loss), TG_OK);
    tg_graph_zero_grad(g);
    ck_assert_int_eq(tg_graph_backward(g, loss), TG_OK);
    float *grad = tg_graph_grad_data(g, &n);
    float *both = malloc((size_t)n * sizeof(float));
    memcpy(both, grad, (size_t)n * sizeof(float));

    /* Tower by tower: the same loss, with d loss / d e pushed through one tower
     * only, by seeding backward at each embedding with the gradient it got. */
    float *dea = malloc(15 * sizeof(float)), *deb = malloc(15 * sizeof(float));
    memcpy(dea, tg_node_grad(ea), 15 * sizeof(float));
    memcpy(deb, tg_node_grad(eb), 15 * sizeof(float));
    float *sum = calloc((size_t)n, sizeof(float));
    tg_graph_zero_grad(g);
    ck_assert_int_eq(tg_graph_backward_from(g, ea, dea), TG_OK);
    for (int64_t i = 0; i < n; i++) sum[i] += grad[i];
    tg_graph_zero_grad(g);
    ck_assert_int_eq(tg_graph_backward_from(g, eb, deb), TG_OK);
    int nonzero = 0;
    for (int64_t i = 0; i < n; i++) {
        sum[i] += grad[i];
        nonzero += grad[i] != 0.0f;
    }
    ck_assert_int_gt(nonzero, 0);
    for (int64_t i = 0; i < n; i++) ck_assert_float_eq_tol(both[i], sum[i], 1e-6f);
    free(both);
    free(sum);
    free(dea);
    free(deb);
    tg_graph_free(g);
}
END_TEST

/* Backward adds: two backward passes without zero_grad give twice the gradient. */
START_TEST(test_backward_accumulates_until_zero_grad) {
    tg_graph *g = tg_graph_new(3);
    tg_node *x = tg_graph_input(g, "x", tg_shape2(3, 2));
    tg_node *h = tg_graph_op(g, "dense", "fc", "units=2 act=sigmoid", (tg_node *[]){x}, 1);
    tg_node *s = tg_graph_op(g, "mean", "m", NULL, (tg_node *[]){h}, 1);
    for (int i = 0; i < 6; i++) tg_node_data(x)[i] = (float)i - 2.5f;
    int64_t n;
    ck_assert_int_eq(tg_graph_forward(g, s), TG_OK);
    tg_graph_zero_grad(g);
    ck_assert_int_eq(tg_graph_backward(g, s), TG_OK);
    float *grad = tg_graph_grad_data(g, &n);
    float once[6];
    memcpy(once, grad, sizeof once);
    ck_assert_int_eq(tg_graph_backward(g, s), TG_OK);
    for (int i = 0; i < 6; i++) ck_assert_float_eq_tol(grad[i], 2 * once[i], 1e-7f);
    tg_graph_zero_grad(g);
    for (int i = 0; i < 6; i++) ck_assert(grad[i] == 0.0f);
    ck_assert_int_ne(tg_graph_backward(g, h), TG_OK); /* not a scalar */
    tg_graph_free(g);
}
END_TEST

/* A deep chain: the sort and both sweeps are iterative, so depth is no problem. */
START_TEST(test_deep_graph_does_not_recurse) {
    tg_graph *g = tg_graph_new(1);
    tg_node *x = tg_graph_input(g, "x", tg_shape2(1, 4));
    tg_node *h = x;
    for (int i = 0; i < 20000 && h; i++) h = tg_graph_op(g, "scale", NULL, "alpha=1", &h, 1);
    ck_assert_ptr_nonnull(h);
    tg_node *s = tg_graph_op(g, "sum", "s", NULL, &h, 1);
    tg_node_set_requires_grad(x, 1);
    for (int i = 0; i < 4; i++) tg_node_data(x)[i] = 1.0f;
    ck_assert_int_eq(tg_graph_forward(g, s), TG_OK);
    ck_assert_float_eq(tg_node_data(s)[0], 4.0f);
    ck_assert_int_eq(tg_graph_backward(g, s), TG_OK);
    ck_assert_float_eq(tg_node_grad(x)[0], 1.0f);
    tg_graph_free(g);
}
END_TEST

START_TEST(test_flat_buffers_mirror_parameters) {
    tg_graph *g = tg_graph_new(9);
    tg_node *x = tg_graph_input(g, "x", tg_shape2(2, 3));
    tg_node *h = tg_graph_op(g, "dense", "fc1", "units=4", (tg_node *[]){x}, 1);
    h = tg_graph_op(g, "dense", "fc2", "units=2 bias=false", (tg_node *[]){h}, 1);
    ck_assert_ptr_nonnull(h);
    int64_t n;
    float *p = tg_graph_param_data(g, &n);
    float *gr = tg_graph_grad_data(g, NULL);
    ck_assert_int_eq(n, 12 + 4 + 8);
    ck_assert_int_eq(tg_graph_param_count(g), 3);
    int64_t off = 0;
    for (int i = 0; i < 3; i++) {
        tg_node *q = tg_graph_param_at(g, i);
        ck_assert_ptr_eq(tg_node_data(q), p + off);
        ck_assert_ptr_eq(tg_node_grad(q), gr + off);
        off += tg_shape_numel(tg_node_shape(q));
    }
    ck_assert_str_eq(tg_node_name(tg_graph_param_at(g, 0)), "fc1.weight");
    ck_assert_str_eq(tg_node_name(tg_graph_param_at(g, 1)), "fc1.bias");
    ck_assert_ptr_null(tg_node_param(h, 1)); /* bias=false */
    /* Glorot uniform stays inside its bound; biases start at zero. */
    float bound = sqrtf(6.0f / (3 + 4));
    for (int i = 0; i < 12; i++) ck_assert(fabsf(p[i]) <= bound);
    for (int i = 12; i < 16; i++) ck_assert(p[i] == 0.0f);
    tg_graph_free(g);
}
END_TEST

START_TEST(test_same_seed_same_initial_weights) {
    float first[6];
    for (int run = 0; run < 2; run++) {
        tg_graph *g = tg_graph_new(42);
        tg_node *x = tg_graph_input(g, "x", tg_shape2(1, 3));
        ck_assert_ptr_nonnull(tg_graph_op(g, "dense", "fc", "units=2", (tg_node *[]){x}, 1));
        float *p = tg_graph_param_data(g, NULL);
        if (run == 0)
            memcpy(first, p, sizeof first);
        else
            for (int i = 0; i < 6; i++) ck_assert(first[i] == p[i]);
        tg_graph_free(g);
    }
}
END_TEST

START_TEST(test_error_context_prefixes_and_truncates) {
    tg_error(TG_ERR_IO, "inner %d", 7);
    ck_assert_int_eq(tg_error_context(TG_ERR_IO, "outer: "), TG_ERR_IO);
    ck_assert_str_eq(tg_last_error(), "outer: inner 7");
    char big[2000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    tg_error(TG_ERR_IO, "%s", big);
    tg_error_context(TG_ERR_IO, "%s", big);
    ck_assert_int_lt((int)strlen(tg_last_error()), 1024);
    /* The old message as an argument of the new one (vsnprintf into its own source
     * garbled it: "fold 1/5: fold 1/5: open: ..." for "fold 1/5: x: cannot open: ..."). */
    tg_error(TG_ERR_IO, "x: cannot open: %s", "No such file or directory");
    ck_assert_int_eq(tg_error(TG_ERR_IO, "fold 1/5: %s", tg_last_error()), TG_ERR_IO);
    ck_assert_str_eq(tg_last_error(), "fold 1/5: x: cannot open: No such file or directory");
    ck_assert_str_eq(tg_status_name(TG_ERR_SHAPE), "TG_ERR_SHAPE");
    tg_error_clear();
    ck_assert_str_eq(tg_last_error(), "");
}
END_TEST

START_TEST(test_constant_is_fixed_and_gets_no_gradient) {
    tg_graph *g = tg_graph_new(1);
    const float w[3] = {0.5f, -1.0f, 2.0f};
    tg_node *x = tg_graph_input(g, "x", tg_shape2(2, 3));
    tg_node *c = tg_graph_constant(g, "c", tg_shape2(2, 3), (const float[]){1, 2, 3, 4, 5, 6});
    tg_node_set_requires_grad(x, 1);
    tg_node *p = tg_graph_op(g, "mul", "p", NULL, (tg_node *[]){x, c}, 2);
    tg_node *loss = tg_graph_op(g, "sum", "loss", NULL, (tg_node *[]){p}, 1);
    ck_assert_ptr_nonnull(loss);
    ck_assert_uint_eq(tg_node_kind(c), TG_NODE_CONST);
    for (int i = 0; i < 6; i++) tg_node_data(x)[i] = w[i % 3];
    ck_assert_int_eq(tg_graph_forward(g, loss), TG_OK);
    ck_assert_int_eq(tg_graph_backward(g, loss), TG_OK);
    ck_assert(!tg_node_wants_grad(c));
    for (int i = 0; i < 6; i++) {
        ck_assert(tg_node_data(c)[i] == (float)(i + 1)); /* unchanged */
        ck_assert(tg_node_grad(x)[i] == (float)(i + 1)); /* d sum(x*c) / dx = c */
    }
    ck_assert_int_eq(tg_graph_param_count(g), 0); /* not a parameter */
    tg_graph_free(g);
}
END_TEST

START_TEST(test_two_input_layer_applies_and_reports_its_name_and_op) {
    tg_graph *g = tg_graph_new(1);
    tg_node *a = tg_graph_input(g, "a", tg_shape2(4, 3));
    tg_node *b = tg_graph_input(g, "b", tg_shape2(4, 3));
    tg_layer *dist = tg_graph_layer(g, "l2distance", "dist", NULL);
    ck_assert_str_eq(tg_layer_name(dist), "dist");
    ck_assert_ptr_eq(tg_layer_op(dist), tg_op_find("l2distance"));
    tg_node *d = tg_layer_apply2(dist, a, b);
    ck_assert_ptr_nonnull(d);
    ck_assert_ptr_eq(tg_node_op(d), tg_op_find("l2distance"));
    ck_assert_int_eq(tg_node_shape(d)->ndim, 1);
    ck_assert_int_eq(tg_node_shape(d)->dim[0], 4);
    for (int i = 0; i < 12; i++) {
        tg_node_data(a)[i] = (float)i;
        tg_node_data(b)[i] = (float)i + (i % 3 == 0 ? 3.0f : 0.0f); /* one coordinate off by 3 */
    }
    ck_assert_int_eq(tg_graph_forward(g, d), TG_OK);
    for (int i = 0; i < 4; i++) ck_assert(fabsf(tg_node_data(d)[i] - 3.0f) < 1e-5f);
    /* a generated name when none is given */
    tg_layer *anon = tg_graph_layer(g, "relu", NULL, NULL);
    ck_assert_ptr_nonnull(anon);
    ck_assert(strlen(tg_layer_name(anon)) > 0);
    tg_graph_free(g);
}
END_TEST

/* Timing counts every op node's forwards and backwards while it is on, leaves
 * inputs and parameters at zero, starts again from zero when switched back on,
 * and stops counting when off; the towers' nodes name their shared layer. */
START_TEST(test_timing_counts_each_op_node_while_on) {
    tg_graph *g = tg_graph_new(3);
    tg_node *a = tg_graph_input(g, "a", tg_shape2(4, 6));
    tg_node *b = tg_graph_input(g, "b", tg_shape2(4, 6));
    tg_node *y = tg_graph_input(g, "y", tg_shape1(4));
    tg_layer *tower = tg_graph_layer(g, "dense", "tower", "units=3 act=relu");
    tg_node *ea = tg_layer_apply1(tower, a), *eb = tg_layer_apply1(tower, b);
    tg_node *d = tg_graph_op(g, "l2distance", "d", NULL, (tg_node *[]){ea, eb}, 2);
    tg_node *loss = tg_graph_op(g, "contrastive", "loss", "margin=1", (tg_node *[]){d, y}, 2);
    ck_assert_ptr_nonnull(loss);
    ck_assert_ptr_eq(tg_node_layer(ea), tower);
    ck_assert_ptr_eq(tg_node_layer(eb), tower);
    ck_assert_ptr_null(tg_node_layer(a));
    ck_assert_str_eq(tg_layer_name(tg_node_layer(d)), "d");
    for (int i = 0; i < 24; i++) {
        tg_node_data(a)[i] = 0.1f * (float)(i % 7) - 0.2f;
        tg_node_data(b)[i] = 0.1f * (float)(i % 5);
    }
    for (int i = 0; i < 4; i++) tg_node_data(y)[i] = (float)(i % 2);
    ck_assert_int_eq(tg_graph_forward(g, loss), TG_OK); /* not timed: timing is off */
    ck_assert_int_eq(tg_node_timing_get(ea).forwards, 0);
    tg_graph_set_timing(g, 1);
    for (int step = 0; step < 3; step++) {
        ck_assert_int_eq(tg_graph_forward(g, loss), TG_OK);
        tg_graph_zero_grad(g);
        ck_assert_int_eq(tg_graph_backward(g, loss), TG_OK);
    }
    ck_assert_int_eq(tg_graph_forward(g, d), TG_OK); /* the loss not run: not counted */
    const tg_node *ops[] = {ea, eb, d, loss};
    for (int i = 0; i < 4; i++) {
        tg_node_timing t = tg_node_timing_get(ops[i]);
        ck_assert_int_eq(t.forwards, ops[i] == loss ? 3 : 4);
        ck_assert_int_eq(t.backwards, 3);
        ck_assert(t.forward_s >= 0.0 && t.backward_s >= 0.0);
    }
    for (int i = 0; i < tg_graph_node_count(g); i++) {
        tg_node *n = tg_graph_node(g, i);
        if (!tg_node_op(n)) {
            ck_assert_int_eq(tg_node_timing_get(n).forwards, 0);
            ck_assert_int_eq(tg_node_timing_get(n).backwards, 0);
        }
    }
    tg_graph_set_timing(g, 0); /* off: kept for reading, no longer counted */
    ck_assert_int_eq(tg_graph_forward(g, loss), TG_OK);
    ck_assert_int_eq(tg_node_timing_get(loss).forwards, 3);
    tg_graph_set_timing(g, 1); /* on again: from zero */
    ck_assert_int_eq(tg_node_timing_get(loss).forwards, 0);
    ck_assert(tg_node_timing_get(loss).forward_s == 0.0);
    ck_assert_int_eq(tg_graph_forward(g, loss), TG_OK);
    ck_assert_int_eq(tg_node_timing_get(loss).forwards, 1);
    ck_assert_int_eq(tg_node_timing_get(loss).backwards, 0);
    tg_graph_free(g);
}
END_TEST

START_TEST(test_rng_split_gives_an_independent_reproducible_stream) {
    tg_rng p1, p2, c1, c2;
    tg_rng_seed(&p1, 11);
    tg_rng_seed(&p2, 11);
    tg_rng_split(&p1, &c1);
    tg_rng_split(&p2, &c2);
    uint64_t parent = tg_rng_u64(&p1), child = tg_rng_u64(&c1);
    ck_assert(parent == tg_rng_u64(&p2)); /* the parent advanced the same way */
    ck_assert(child == tg_rng_u64(&c2));  /* the child is reproducible */
    ck_assert(parent != child);
    tg_rng fresh;
    tg_rng_seed(&fresh, 11);
    ck_assert(tg_rng_u64(&fresh) != child); /* not the parent's own stream */
}
END_TEST

/* A small Siamese net for the train-step tests: dense tower, L2 distance,
 * contrastive loss, inputs filled from a fixed seed. */
typedef struct step_net {
    tg_graph *g;
    tg_node *loss;
    tg_optimizer *opt;
    int64_t n;
} step_net;

static step_net step_net_new(float scale) {
    step_net s = {0};
    s.g = tg_graph_new(7);
    tg_node *a = tg_graph_input(s.g, "a", tg_shape2(6, 5));
    tg_node *b = tg_graph_input(s.g, "b", tg_shape2(6, 5));
    tg_node *y = tg_graph_input(s.g, "y", tg_shape1(6));
    tg_layer *fc = tg_graph_layer(s.g, "dense", "fc", "units=3 act=tanh");
    tg_node *d = tg_graph_op(s.g, "l2distance", "d", NULL,
                             (tg_node *[]){tg_layer_apply1(fc, a), tg_layer_apply1(fc, b)}, 2);
    s.loss = tg_graph_op(s.g, "contrastive", "loss", "margin=1", (tg_node *[]){d, y}, 2);
    ck_assert_ptr_nonnull(s.loss);
    tg_rng rng;
    tg_rng_seed(&rng, 3);
    for (int k = 0; k < 2; k++) {
        float *x = tg_node_data(k ? b : a);
        for (int i = 0; i < 30; i++) x[i] = scale * (float)tg_rng_uniform_range(&rng, -1, 1);
    }
    for (int i = 0; i < 6; i++) tg_node_data(y)[i] = (float)(i % 2);
    tg_graph_param_data(s.g, &s.n);
    tg_optimizer_config cfg = tg_optimizer_defaults(TG_OPTIM_ADAM);
    s.opt = tg_optimizer_new(&cfg, s.n);
    ck_assert_ptr_nonnull(s.opt);
    return s;
}

static void step_net_free(step_net *s) {
    tg_optimizer_free(s->opt);
    tg_graph_free(s->g);
}

START_TEST(test_train_step_equals_forward_backward_update_by_hand) {
    step_net s = step_net_new(1.0f), h = step_net_new(1.0f);
    for (int it = 0; it < 3; it++) {
        tg_step_result r;
        ck_assert_int_eq(tg_train_step(s.g, s.loss, s.opt, &(tg_step_opts){.lr = 0.05}, &r), TG_OK);
        ck_assert_int_eq(tg_graph_forward(h.g, h.loss), TG_OK);
        ck_assert(r.loss == tg_node_data(h.loss)[0]);
        tg_graph_zero_grad(h.g);
        ck_assert_int_eq(tg_graph_backward(h.g, h.loss), TG_OK);
        float *hg = tg_graph_grad_data(h.g, NULL);
        ck_assert(fabs(r.grad_norm - tg_grad_norm(hg, h.n)) <= 1e-12 * (1 + r.grad_norm));
        ck_assert_int_eq(tg_optimizer_step(h.opt, tg_graph_param_data(h.g, NULL), hg, h.n, 0.05f),
                         TG_OK);
    }
    ck_assert_mem_eq(tg_graph_param_data(s.g, NULL), tg_graph_param_data(h.g, NULL),
                     (size_t)s.n * sizeof(float));
    step_net_free(&s);
    step_net_free(&h);
}
END_TEST

static tg_status zero_grads_hook(float *grads, int64_t n, void *user) {
    for (int64_t i = 0; i < n; i++) grads[i] = 0.0f;
    ++*(int *)user;
    return TG_OK;
}

START_TEST(test_train_step_runs_the_gradient_hook_before_clipping_and_update) {
    step_net s = step_net_new(1.0f);
    float *before = malloc((size_t)s.n * sizeof(float));
    memcpy(before, tg_graph_param_data(s.g, NULL), (size_t)s.n * sizeof(float));
    int calls = 0;
    tg_step_result r;
    tg_step_opts o = {.lr = 0.1, .clip = 1.0, .grad_hook = zero_grads_hook, .hook_user = &calls};
    ck_assert_int_eq(tg_train_step(s.g, s.loss, s.opt, &o, &r), TG_OK);
    ck_assert_int_eq(calls, 1);
    ck_assert(r.grad_norm == 0.0); /* the norm is taken after the hook */
    /* Adam with zero gradients and zero moments leaves the parameters alone. */
    ck_assert_mem_eq(before, tg_graph_param_data(s.g, NULL), (size_t)s.n * sizeof(float));
    free(before);
    step_net_free(&s);
}
END_TEST

START_TEST(test_train_step_clips_to_the_given_norm) {
    step_net s = step_net_new(1.0f);
    tg_step_result r;
    ck_assert_int_eq(tg_train_step(s.g, s.loss, s.opt, &(tg_step_opts){.lr = 0, .clip = 1e-3}, &r),
                     TG_OK);
    ck_assert(r.grad_norm > 1e-3);
    ck_assert(fabs(tg_grad_norm(tg_graph_grad_data(s.g, NULL), s.n) - 1e-3) < 1e-8);
    step_net_free(&s);
}
END_TEST

START_TEST(test_train_step_stops_on_a_non_finite_loss_before_any_update) {
    step_net s = step_net_new(NAN);
    float *before = malloc((size_t)s.n * sizeof(float));
    memcpy(before, tg_graph_param_data(s.g, NULL), (size_t)s.n * sizeof(float));
    ck_assert_int_eq(tg_train_step(s.g, s.loss, s.opt, &(tg_step_opts){.lr = 0.1}, NULL),
                     TG_ERR_NUMERIC);
    ck_assert_ptr_nonnull(strstr(tg_last_error(), "not finite"));
    ck_assert_mem_eq(before, tg_graph_param_data(s.g, NULL), (size_t)s.n * sizeof(float));
    ck_assert_int_eq(tg_optimizer_steps(s.opt), 0);
    free(before);
    step_net_free(&s);
}
END_TEST

int main(void) {
    Suite *s = suite_create("core");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_shape_parse_and_print_round_trip);
    tcase_add_test(tc, test_shape_product_overflow_is_invalid);
    tcase_add_test(tc, test_rng_is_deterministic_and_restorable);
    tcase_add_test(tc, test_rng_shuffle_is_a_permutation);
    tcase_add_test(tc, test_shape_mismatch_names_the_node);
    tcase_add_test(tc, test_unknown_op_suggests_nearest);
    tcase_add_test(tc, test_bad_attribute_value_is_an_error);
    tcase_add_test(tc, test_duplicate_names_are_refused);
    tcase_add_test(tc, test_batch_size_change_reinfers_shapes);
    tcase_add_test(tc, test_backward_needs_a_forward_of_its_node);
    tcase_add_test(tc, test_shared_weight_gradient_is_sum_of_towers);
    tcase_add_test(tc, test_backward_accumulates_until_zero_grad);
    tcase_add_test(tc, test_deep_graph_does_not_recurse);
    tcase_add_test(tc, test_flat_buffers_mirror_parameters);
    tcase_add_test(tc, test_same_seed_same_initial_weights);
    tcase_add_test(tc, test_error_context_prefixes_and_truncates);
    tcase_add_test(tc, test_constant_is_fixed_and_gets_no_gradient);
    tcase_add_test(tc, test_two_input_layer_applies_and_reports_its_name_and_op);
    tcase_add_test(tc, test_rng_split_gives_an_independent_reproducible_stream);
    tcase_add_test(tc, test_timing_counts_each_op_node_while_on);
    tcase_add_test(tc, test_train_step_equals_forward_backward_update_by_hand);
    tcase_add_test(tc, test_train_step_runs_the_gradient_hook_before_clipping_and_update);
    tcase_add_test(tc, test_train_step_clips_to_the_given_norm);
    tcase_add_test(tc, test_train_step_stops_on_a_non_finite_loss_before_any_update);
    suite_add_tcase(s, tc);
    return tg_check_run(s);
}
