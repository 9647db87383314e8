/* Op forward values against hand computations and naive loops; the registry. */
#include <check.h>

#include "tests/tg_check.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "twingrad.h"

/* Build graph: inputs of the given shapes and data, one op; run forward. */
typedef struct one_op {
    tg_graph *g;
    tg_node *in[4];
    tg_node *out;
} one_op;

static one_op run_op(const char *op, const char *attrs, int n, const tg_shape *shapes,
                     const float *const *data) {
    one_op r = {tg_graph_new(1), {0}, NULL};
    for (int i = 0; i < n; i++) {
        char name[8] = {'x', (char)('0' + i), 0};
        r.in[i] = tg_graph_input(r.g, name, shapes[i]);
        ck_assert_int_eq(tg_input_set(r.in[i], shapes[i], data[i]), TG_OK);
    }
    r.out = tg_graph_op(r.g, op, "op", attrs, r.in, n);
    ck_assert_msg(r.out != NULL, "%s", tg_last_error());
    ck_assert_int_eq(tg_graph_forward(r.g, r.out), TG_OK);
    return r;
}

START_TEST(test_dense_matches_naive_loop) {
    const int N = 3, D = 5, U = 4;
    float x[15];
    for (int i = 0; i < N * D; i++) x[i] = sinf((float)i);
    const char *acts[] = {"none", "relu", "sigmoid", "tanh"};
    for (int a = 0; a < 4; a++) {
        char attrs[64];
        snprintf(attrs, sizeof attrs, "units=%d act=%s", U, acts[a]);
        one_op r = run_op("dense", attrs, 1, (tg_shape[]){tg_shape2(N, D)}, (const float *[]){x});
        float *w = tg_node_data(tg_graph_param_at(r.g, 0)),
              *b = tg_node_data(tg_graph_param_at(r.g, 1));
        for (int u = 0; u < U; u++) b[u] = 0.1f * (float)u; /* non-zero bias */
        ck_assert_int_eq(tg_graph_forward(r.g, r.out), TG_OK);
        for (int i = 0; i < N; i++)
            for (int u = 0; u < U; u++) {
                double z = b[u];
                for (int k = 0; k < D; k++) z += (double)x[i * D + k] * w[u * D + k];
                double y = a == 0   ? z
                           : a == 1 ? (z > 0 ? z : 0)
                           : a == 2 ? 1 / (1 + exp(-z))
                                    : tanh(z);
                ck_assert_double_eq_tol(tg_node_data(r.out)[i * U + u], y, 1e-5);
            }
        tg_graph_free(r.g);
    }
}
END_TEST

START_TEST(test_activations_known_values) {
    float x[4] = {-2.0f, 0.0f, 0.5f, 3.0f};
    one_op r = run_op("relu", NULL, 1, (tg_shape[]){tg_shape1(4)}, (const float *[]){x});
    ck_assert_float_eq(tg_node_data(r.out)[0], 0.0f);
    ck_assert_float_eq(tg_node_data(r.out)[1], 0.0f);
    ck_assert_float_eq(tg_node_data(r.out)[3], 3.0f);
    tg_graph_free(r.g);
    r = run_op("sigmoid", NULL, 1, (tg_shape[]){tg_shape1(4)}, (const float *[]){x});
    ck_assert_float_eq_tol(tg_node_data(r.out)[1], 0.5f, 1e-7f);
    ck_assert_float_eq_tol(tg_node_data(r.out)[0], 0.11920292f, 1e-7f);
    tg_graph_free(r.g);
    r = run_op("tanh", NULL, 1, (tg_shape[]){tg_shape1(4)}, (const float *[]){x});
    ck_assert_float_eq_tol(tg_node_data(r.out)[2], 0.46211716f, 1e-7f);
    tg_graph_free(r.g);
}
END_TEST

START_TEST(test_elementwise_and_reductions) {
    float a[6] = {1, 2, 3, 4, 5, 6}, b[6] = {6, 5, 4, 3, 2, 1};
    tg_shape s[2] = {tg_shape2(2, 3), tg_shape2(2, 3)};
    const char *ops[] = {"add", "sub", "mul"};
    for (int k = 0; k < 3; k++) {
        one_op r = run_op(ops[k], NULL, 2, s, (const float *[]){a, b});
        for (int i = 0; i < 6; i++) {
            float e = k == 0 ? a[i] + b[i] : k == 1 ? a[i] - b[i] : a[i] * b[i];
            ck_assert_float_eq(tg_node_data(r.out)[i], e);
        }
        tg_graph_free(r.g);
    }
    one_op r = run_op("scale", "alpha=-2", 1, s, (const float *[]){a});
    ck_assert_float_eq(tg_node_data(r.out)[5], -12.0f);
    tg_graph_free(r.g);
    r = run_op("sum", NULL, 1, s, (const float *[]){a});
    ck_assert_float_eq(tg_node_data(r.out)[0], 21.0f);
    ck_assert_int_eq(tg_node_shape(r.out)->ndim, 1);
    tg_graph_free(r.g);
    r = run_op("mean", NULL, 1, s, (const float *[]){a});
    ck_assert_float_eq(tg_node_data(r.out)[0], 3.5f);
    tg_graph_free(r.g);
}
END_TEST

START_TEST(test_flatten_and_reshape_keep_order) {
    float x[24];
    for (int i = 0; i < 24; i++) x[i] = (float)i;
    one_op r =
        run_op("flatten", NULL, 1, (tg_shape[]){tg_shape4(2, 3, 2, 2)}, (const float *[]){x});
    ck_assert_int_eq(tg_node_shape(r.out)->ndim, 2);
    ck_assert_int_eq(tg_node_shape(r.out)->dim[1], 12);
    ck_assert_float_eq(tg_node_data(r.out)[13], 13.0f);
    tg_graph_free(r.g);
    r = run_op("reshape", "shape=2x6", 1, (tg_shape[]){tg_shape2(2, 12)}, (const float *[]){x});
    ck_assert_int_eq(tg_node_shape(r.out)->ndim, 3);
    ck_assert_int_eq(tg_node_shape(r.out)->dim[2], 6);
    tg_graph_free(r.g);
    tg_graph *g = tg_graph_new(1);
    tg_node *in = tg_graph_input(g, "x", tg_shape2(2, 12));
    ck_assert_ptr_null(tg_graph_op(g, "reshape", "bad", "shape=5x5", &in, 1));
    ck_assert_ptr_nonnull(strstr(tg_last_error(), "12 elements per item"));
    tg_graph_free(g);
}
END_TEST

START_TEST(test_l2distance_known_values_and_zero_distance) {
    float a[4] = {3, 4, 1, 1}, b[4] = {0, 0, 1, 1};
    tg_shape s[2] = {tg_shape2(2, 2), tg_shape2(2, 2)};
    one_op r = run_op("l2distance", NULL, 2, s, (const float *[]){a, b});
    ck_assert_float_eq(tg_node_data(r.out)[0], 5.0f);
    ck_assert_float_eq(tg_node_data(r.out)[1], 0.0f);
    tg_node_set_requires_grad(r.in[0], 1);
    tg_node_set_requires_grad(r.in[1], 1);
    ck_assert_int_eq(tg_graph_backward_from(r.g, r.out, (float[]){1, 1}), TG_OK);
    float *da = tg_node_grad(r.in[0]), *db = tg_node_grad(r.in[1]);
    ck_assert_float_eq_tol(da[0], 0.6f, 1e-7f);
    ck_assert_float_eq_tol(db[1], -0.8f, 1e-7f);
    ck_assert_float_eq(da[2], 0.0f); /* zero distance: zero (sub)gradient, not NaN */
    ck_assert_float_eq(da[3], 0.0f);
    tg_graph_free(r.g);
}
END_TEST

START_TEST(test_l2normalize_unit_length_and_zero_safe) {
    float x[4] = {3, 4, 0, 0};
    one_op r = run_op("l2normalize", NULL, 1, (tg_shape[]){tg_shape2(2, 2)}, (const float *[]){x});
    ck_assert_float_eq_tol(tg_node_data(r.out)[0], 0.6f, 1e-7f);
    ck_assert_float_eq_tol(tg_node_data(r.out)[1], 0.8f, 1e-7f);
    ck_assert_float_eq(tg_node_data(r.out)[2], 0.0f);
    tg_node_set_requires_grad(r.in[0], 1);
    ck_assert_int_eq(tg_graph_backward_from(r.g, r.out, (float[]){1, 0, 1, 1}), TG_OK);
    float *dx = tg_node_grad(r.in[0]);
    /* dx = (dy - y (y.dy)) / |x| = ((1,0) - (0.6,0.8)*0.6) / 5 */
    ck_assert_float_eq_tol(dx[0], 0.128f, 1e-6f);
    ck_assert_float_eq_tol(dx[1], -0.096f, 1e-6f);
    ck_assert(isfinite(dx[2]) && isfinite(dx[3]));
    tg_graph_free(r.g);
}
END_TEST

START_TEST(test_contrastive_both_forms_by_hand) {
    float d[4] = {0.5f, 2.0f, 0.3f, 1.5f}, y[4] = {0, 0, 1, 1};
    tg_shape s[2] = {tg_shape1(4), tg_shape1(4)};
    /* Hadsell, m = 1: (0.125 + 2 + 0.5*0.49 + 0) / 4 */
    one_op r = run_op("contrastive", "margin=1", 2, s, (const float *[]){d, y});
    ck_assert_float_eq_tol(tg_node_data(r.out)[0], (0.125f + 2.0f + 0.245f) / 4, 1e-6f);
    tg_node_set_requires_grad(r.in[0], 1);
    ck_assert_int_eq(tg_graph_backward(r.g, r.out), TG_OK);
    float *dd = tg_node_grad(r.in[0]);
    ck_assert_float_eq_tol(dd[0], 0.5f / 4, 1e-7f);
    ck_assert_float_eq_tol(dd[2], -0.7f / 4, 1e-7f);
    ck_assert_float_eq(dd[3], 0.0f); /* beyond the margin */
    ck_assert_ptr_null(tg_node_grad(r.in[1]));
    tg_graph_free(r.g);
    /* Seed eq. (4), m = 1: (0.25 + 4 + (1 - 0.09) + 0) / 4 */
    r = run_op("contrastive", "margin=1 form=seed", 2, s, (const float *[]){d, y});
    ck_assert_float_eq_tol(tg_node_data(r.out)[0], (0.25f + 4.0f + 0.91f) / 4, 1e-6f);
    tg_graph_free(r.g);
    /* Labels outside {0, 1} are refused. */
    float bad[4] = {0, 2, 0, 1};
    tg_graph *g = tg_graph_new(1);
    tg_node *dn = tg_graph_input(g, "d", s[0]), *yn = tg_graph_input(g, "y", s[1]);
    tg_input_set(dn, s[0], d);
    tg_input_set(yn, s[1], bad);
    tg_node *l = tg_graph_op(g, "contrastive", "l", NULL, (tg_node *[]){dn, yn}, 2);
    ck_assert_int_eq(tg_graph_forward(g, l), TG_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(tg_last_error(), "dissimilar"));
    tg_graph_free(g);
}
END_TEST

/* ---- the registry ---- */

static tg_status twice_infer(const tg_node *n, const tg_shape *in, tg_shape *out, tg_shape *p) {
    (void)n;
    (void)p;
    *out = in[0];
    return TG_OK;
}
static tg_status twice_forward(tg_node *n) {
    for (int64_t i = 0; i < tg_shape_numel(tg_node_shape(n)); i++)
        tg_node_data(n)[i] = 2.0f * tg_node_data(tg_node_input(n, 0))[i];
    return TG_OK;
}
static tg_status twice_backward(tg_node *n) {
    if (tg_node_wants_grad(tg_node_input(n, 0)))
        for (int64_t i = 0; i < tg_shape_numel(tg_node_shape(n)); i++)
            tg_node_grad(tg_node_input(n, 0))[i] += 2.0f * tg_node_grad(n)[i];
    return TG_OK;
}
static const tg_op twice_op = {.name = "user_twice",
                               .doc = "2x",
                               .n_inputs = 1,
                               .infer = twice_infer,
                               .forward = twice_forward,
                               .backward = twice_backward,
                               .examples = {{"3x4", ""}}};

START_TEST(test_user_op_registers_once_and_is_usable) {
    int before = tg_op_count();
    ck_assert_int_eq(tg_op_register(&twice_op), TG_OK);
    ck_assert_int_eq(tg_op_count(), before + 1);
    ck_assert_ptr_eq(tg_op_find("user_twice"), &twice_op);
    ck_assert_int_eq(tg_op_register(&twice_op), TG_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(tg_last_error(), "already registered"));
    tg_op clash = twice_op;
    clash.name = "dense";
    ck_assert_int_eq(tg_op_register(&clash), TG_ERR_INVALID);
    tg_op bad = twice_op;
    bad.name = "Bad Name";
    ck_assert_int_eq(tg_op_register(&bad), TG_ERR_INVALID);
    bad.name = "no_forward";
    bad.forward = NULL;
    ck_assert_int_eq(tg_op_register(&bad), TG_ERR_INVALID);
    float x[2] = {1.5f, -1};
    one_op r = run_op("user_twice", NULL, 1, (tg_shape[]){tg_shape1(2)}, (const float *[]){x});
    ck_assert_float_eq(tg_node_data(r.out)[0], 3.0f);
    tg_graph_free(r.g);
    tg_gradcheck_result res;
    ck_assert_int_eq(tg_gradcheck_op("user_twice", "3x4", NULL, NULL, &res), TG_OK);
    ck_assert_msg(res.passed, "%s", res.report);
}
END_TEST

/* A user op that does a following op of its own kind with its own forward
 * (tg_op.fuses): x -> 4x in one pass, its own value left unwritten. */
static const tg_op twice_fusing_op;
static int twice_fuses(const tg_node *n, const tg_node *next) {
    (void)n;
    return tg_node_op(next) == &twice_fusing_op;
}
static tg_status twice_forward_fused(tg_node *n, tg_node *next) {
    for (int64_t i = 0; i < tg_shape_numel(tg_node_shape(next)); i++)
        tg_node_data(next)[i] = 4.0f * tg_node_data(tg_node_input(n, 0))[i];
    return TG_OK;
}
static const tg_op twice_fusing_op = {.name = "user_twice_fusing",
                                      .doc = "2x, fusing a second 2x",
                                      .n_inputs = 1,
                                      .infer = twice_infer,
                                      .forward = twice_forward,
                                      .backward = twice_backward,
                                      .fuses = twice_fuses,
                                      .forward_fused = twice_forward_fused,
                                      .examples = {{"3x4", ""}}};

/* The graph fuses a pair only under TG_VALUES_TARGET, only where the second node is
 * the first's only reader, makes no chains (x -> a -> b -> c: a does b, c runs itself)
 * and refuses an op with one hook of the two. */
START_TEST(test_user_op_fuses_its_next_node_in_inference) {
    tg_op half = twice_fusing_op;
    half.name = "user_half_fusing";
    half.forward_fused = NULL;
    ck_assert_int_eq(tg_op_register(&half), TG_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(tg_last_error(), "both fuses and forward_fused"));
    ck_assert(tg_op_find("user_twice_fusing") || tg_op_register(&twice_fusing_op) == TG_OK);
    for (int reader = 0; reader < 2; reader++) {
        tg_graph *g = tg_graph_new(1);
        tg_node *x = tg_graph_input(g, "x", tg_shape1(3));
        const float xv[3] = {1, -2, 0.5f};
        ck_assert_int_eq(tg_input_set(x, tg_shape1(3), xv), TG_OK);
        tg_node *a = tg_graph_op(g, "user_twice_fusing", "a", NULL, (tg_node *[]){x}, 1);
        tg_node *b = tg_graph_op(g, "user_twice_fusing", "b", NULL, (tg_node *[]){a}, 1);
        tg_node *c = tg_graph_op(g, "user_twice_fusing", "c", NULL, (tg_node *[]){b}, 1);
        tg_node *target = c;
        if (reader) /* a second reader of a's value: a must be computed, b run */
            target = tg_graph_op(g, "add", "sum", NULL, (tg_node *[]){c, a}, 2);
        ck_assert_ptr_nonnull(target);
        for (int plan = 0; plan < 2; plan++) {
            tg_graph_set_value_plan(g, plan ? TG_VALUES_TARGET : TG_VALUES_KEEP);
            tg_graph_set_timing(g, 1); /* zeroes the counts */
            ck_assert_int_eq(tg_graph_forward(g, target), TG_OK);
            tg_graph_set_timing(g, 0);
            /* a does b when b is a's only reader; else b does c */
            const int a_b = plan && !reader, b_c = plan && reader;
            ck_assert_int_eq(tg_node_timing_get(a).forwards, 1);
            ck_assert_int_eq(tg_node_timing_get(b).forwards, a_b ? 0 : 1);
            ck_assert_int_eq(tg_node_timing_get(c).forwards, b_c ? 0 : 1);
            for (int i = 0; i < 3; i++)
                ck_assert_float_eq(tg_node_data(target)[i], (reader ? 10.0f : 8.0f) * xv[i]);
        }
        tg_graph_free(g);
    }
}
END_TEST

START_TEST(test_every_op_is_documented_with_valid_defaults) {
    ck_assert_int_ge(tg_op_count(), 15);
    for (int i = 0; i < tg_op_count(); i++) {
        const tg_op *op = tg_op_at(i);
        ck_assert_msg(op->doc && op->doc[0], "%s has no doc", op->name);
        ck_assert_msg(op->examples[0].inputs, "%s has no gradcheck example", op->name);
        ck_assert_ptr_eq(tg_op_find(op->name), op);
        for (int a = 0; a < op->n_attrs; a++) {
            ck_assert_msg(op->attrs[a].doc, "%s.%s has no doc", op->name, op->attrs[a].name);
            if (!op->attrs[a].default_value) continue;
            tg_attrs attrs;
            tg_attrs_init(op, &attrs);
            ck_assert_msg(tg_attrs_set(op, &attrs, op->attrs[a].name, op->attrs[a].default_value) ==
                              TG_OK,
                          "%s.%s default: %s", op->name, op->attrs[a].name, tg_last_error());
            char text[64];
            tg_attr_str(op, &attrs, a, text, sizeof text);
            ck_assert_int_eq(tg_attrs_set(op, &attrs, op->attrs[a].name, text), TG_OK);
        }
    }
    ck_assert_str_eq(tg_op_nearest("l2distnce"), "l2distance");
    ck_assert_ptr_null(tg_op_nearest("completely_different"));
}
END_TEST

/* docs/ops.md is generated from the registry (twingrad ops --markdown): it must
 * say exactly what the registry holds now. */
START_TEST(test_docs_ops_md_matches_the_registry) {
    const char *src = getenv("TG_SRCDIR");
    ck_assert_msg(src, "TG_SRCDIR is not set (run through make check)");
    tg_op_registry_reset(); /* the built-ins only, as the command sees them */
    char path[4096];
    snprintf(path, sizeof path, "%s/docs/ops.md", src);
    FILE *doc = fopen(path, "rb");
    ck_assert_msg(doc, "cannot open %s", path);
    FILE *gen = tmpfile();
    ck_assert_ptr_nonnull(gen);
    ck_assert_int_eq(tg_ops_write_markdown(gen), TG_OK);
    rewind(gen);
    int line = 1, a, b;
    do {
        a = fgetc(doc);
        b = fgetc(gen);
        ck_assert_msg(a == b,
                      "docs/ops.md differs from the registry at line %d: "
                      "regenerate it with ./twingrad ops --markdown > docs/ops.md",
                      line);
        line += a == '\n';
    } while (a != EOF);
    fclose(doc);
    fclose(gen);
}
END_TEST

int main(void) {
    Suite *s = suite_create("ops");
    TCase *tc = tcase_create("ops");
    tcase_add_test(tc, test_dense_matches_naive_loop);
    tcase_add_test(tc, test_activations_known_values);
    tcase_add_test(tc, test_elementwise_and_reductions);
    tcase_add_test(tc, test_flatten_and_reshape_keep_order);
    tcase_add_test(tc, test_l2distance_known_values_and_zero_distance);
    tcase_add_test(tc, test_l2normalize_unit_length_and_zero_safe);
    tcase_add_test(tc, test_contrastive_both_forms_by_hand);
    tcase_add_test(tc, test_user_op_registers_once_and_is_usable);
    tcase_add_test(tc, test_user_op_fuses_its_next_node_in_inference);
    tcase_add_test(tc, test_every_op_is_documented_with_valid_defaults);
    tcase_add_test(tc, test_docs_ops_md_matches_the_registry);
    suite_add_tcase(s, tc);
    return tg_check_run(s);
}
