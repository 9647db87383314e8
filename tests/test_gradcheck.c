/* Every op in the registry, gradchecked on its own example shapes; and the
 * checker itself, which must catch deliberately wrong backward functions. */
#include <check.h>

#include "tests/tg_check.h"
#include <stdio.h>
#include <stdlib.h>
#include <math.h>
#include <string.h>

#include "twingrad.h"

/* Walks the registry: an op added later is covered without editing this test. */
START_TEST(test_every_registered_op_passes_gradcheck) {
    int checked = 0;
    for (int i = 0; i < tg_op_count(); i++) {
        const tg_op *op = tg_op_at(i);
        for (int e = 0; e < TG_MAX_EXAMPLES && op->examples[e].inputs; e++) {
            const tg_op_example *ex = &op->examples[e];
            tg_gradcheck_opts o = tg_gradcheck_defaults(100 + (uint64_t)e);
            o.eps = 0; /* the op's own */
            o.rtol = 0;
            o.eval_mode = ex->eval_mode;
            tg_gradcheck_result r;
            tg_status st = tg_gradcheck_op(op->name, ex->inputs, ex->attrs, &o, &r);
            ck_assert_msg(st == TG_OK, "%s [%s] {%s}: %s", op->name, ex->inputs, ex->attrs,
                          tg_last_error());
            ck_assert_msg(r.passed, "%s [%s] {%s}%s: %s", op->name, ex->inputs, ex->attrs,
                          ex->eval_mode ? " eval" : "", r.report);
            ck_assert_int_gt(r.probed, 0);
            checked++;
        }
    }
    ck_assert_int_ge(checked, tg_op_count());
}
END_TEST

/* ---- deliberately wrong ops: scale by 3 with a broken backward ---- */

static tg_status same_infer(const tg_node *n, const tg_shape *in, tg_shape *out, tg_shape *p) {
    (void)n;
    (void)p;
    *out = in[0];
    return TG_OK;
}
static tg_status triple_forward(tg_node *n) {
    for (int64_t i = 0; i < tg_shape_numel(tg_node_shape(n)); i++)
        tg_node_data(n)[i] = 3.0f * tg_node_data(tg_node_input(n, 0))[i];
    return TG_OK;
}
static tg_status triple_backward_sign_flip(tg_node *n) {
    float *dx = tg_node_grad(tg_node_input(n, 0));
    for (int64_t i = 0; i < tg_shape_numel(tg_node_shape(n)); i++)
        dx[i] += (i == 5 ? -3.0f : 3.0f) * tg_node_grad(n)[i];
    return TG_OK;
}
static tg_status triple_backward_scaled(tg_node *n) {
    float *dx = tg_node_grad(tg_node_input(n, 0));
    for (int64_t i = 0; i < tg_shape_numel(tg_node_shape(n)); i++)
        dx[i] += 1.05f * 3.0f * tg_node_grad(n)[i];
    return TG_OK;
}
static tg_status triple_backward_nan(tg_node *n) {
    float *dx = tg_node_grad(tg_node_input(n, 0));
    for (int64_t i = 0; i < tg_shape_numel(tg_node_shape(n)); i++)
        dx[i] += i == 5 ? NAN : 3.0f * tg_node_grad(n)[i];
    return TG_OK;
}
static tg_status triple_backward_right(tg_node *n) {
    float *dx = tg_node_grad(tg_node_input(n, 0));
    for (int64_t i = 0; i < tg_shape_numel(tg_node_shape(n)); i++)
        dx[i] += 3.0f * tg_node_grad(n)[i];
    return TG_OK;
}

static const tg_op flip_op = {.name = "bad_sign_flip",
                              .doc = "3x, one gradient sign flipped",
                              .n_inputs = 1,
                              .infer = same_infer,
                              .forward = triple_forward,
                              .backward = triple_backward_sign_flip,
                              .examples = {{"3x4", ""}}};
static const tg_op scaled_op = {.name = "bad_scaled",
                                .doc = "3x, gradient scaled by 1.05",
                                .n_inputs = 1,
                                .infer = same_infer,
                                .forward = triple_forward,
                                .backward = triple_backward_scaled,
                                .examples = {{"3x4", ""}}};
static const tg_op nan_op = {.name = "bad_nan",
                             .doc = "3x, one gradient NaN",
                             .n_inputs = 1,
                             .infer = same_infer,
                             .forward = triple_forward,
                             .backward = triple_backward_nan,
                             .examples = {{"3x4", ""}}};
static const tg_op right_op = {.name = "good_triple",
                               .doc = "3x",
                               .n_inputs = 1,
                               .infer = same_infer,
                               .forward = triple_forward,
                               .backward = triple_backward_right,
                               .examples = {{"3x4", ""}}};

/* y = x^2, whose backward reads x: declaring that it does not is caught. */
static tg_status square_forward(tg_node *n) {
    for (int64_t i = 0; i < tg_shape_numel(tg_node_shape(n)); i++)
        tg_node_data(n)[i] =
            tg_node_data(tg_node_input(n, 0))[i] * tg_node_data(tg_node_input(n, 0))[i];
    return TG_OK;
}
static tg_status square_backward(tg_node *n) {
    float *dx = tg_node_grad(tg_node_input(n, 0));
    for (int64_t i = 0; i < tg_shape_numel(tg_node_shape(n)); i++)
        dx[i] += 2.0f * tg_node_data(tg_node_input(n, 0))[i] * tg_node_grad(n)[i];
    return TG_OK;
}
static tg_value_use reads_nothing(const tg_node *n, int input) {
    (void)n;
    (void)input;
    return TG_USE_NONE;
}
static const tg_op square_misdeclared_op = {.name = "bad_square_use",
                                            .doc = "x^2, declared not to read x in backward",
                                            .n_inputs = 1,
                                            .infer = same_infer,
                                            .forward = square_forward,
                                            .backward = square_backward,
                                            .backward_use = reads_nothing,
                                            .examples = {{"3x4", ""}}};
static const tg_op triple_lean_op = {.name = "good_triple_lean",
                                     .doc = "3x, declared (rightly) to read no value in backward",
                                     .n_inputs = 1,
                                     .infer = same_infer,
                                     .forward = triple_forward,
                                     .backward = triple_backward_right,
                                     .backward_use = reads_nothing,
                                     .examples = {{"3x4", ""}}};

/* backward_use is checked with the gradient: a wrong declaration fails, a right one passes. */
START_TEST(test_checker_catches_a_wrong_backward_use) {
    ck_assert_int_eq(tg_op_register(&square_misdeclared_op), TG_OK);
    ck_assert_int_eq(tg_op_register(&triple_lean_op), TG_OK);
    tg_gradcheck_result r;
    ck_assert_int_eq(tg_gradcheck_op("bad_square_use", "3x4", NULL, NULL, &r), TG_OK);
    ck_assert_msg(!r.passed, "a wrong backward_use passed: %s", r.report);
    ck_assert_ptr_nonnull(strstr(r.report, "poisoning them changed the gradient of 'in0'"));
    ck_assert_int_eq(tg_gradcheck_op("good_triple_lean", "3x4", NULL, NULL, &r), TG_OK);
    ck_assert_msg(r.passed, "%s", r.report);
}
END_TEST

START_TEST(test_checker_catches_one_flipped_sign) {
    ck_assert_int_eq(tg_op_register(&flip_op), TG_OK);
    tg_gradcheck_result r;
    ck_assert_int_eq(tg_gradcheck_op("bad_sign_flip", "3x4", NULL, NULL, &r), TG_OK);
    ck_assert_msg(!r.passed, "a flipped sign passed: %s", r.report);
    ck_assert_int_eq(r.worst_index, 5);
    ck_assert_str_eq(r.worst_tensor, "in0");
    ck_assert_ptr_nonnull(strstr(r.report, "FAILED"));
}
END_TEST

/* A NaN compares false with any bound: one that is not the first element probed
 * must still fail the check, and be the one reported. */
START_TEST(test_checker_catches_one_nan_gradient) {
    ck_assert_int_eq(tg_op_register(&nan_op), TG_OK);
    tg_gradcheck_result r;
    ck_assert_int_eq(tg_gradcheck_op("bad_nan", "3x4", NULL, NULL, &r), TG_OK);
    ck_assert_msg(!r.passed, "a NaN gradient passed: %s", r.report);
    ck_assert_int_eq(r.worst_index, 5);
    ck_assert_msg(isnan(r.analytic), "reported analytic %g", r.analytic);
}
END_TEST

START_TEST(test_checker_catches_gradient_scaled_by_5_percent) {
    ck_assert_int_eq(tg_op_register(&scaled_op), TG_OK);
    tg_gradcheck_result r;
    for (uint64_t seed = 1; seed <= 5; seed++) {
        tg_gradcheck_opts o = tg_gradcheck_defaults(seed);
        ck_assert_int_eq(tg_gradcheck_op("bad_scaled", "3x4", NULL, &o, &r), TG_OK);
        ck_assert_msg(!r.passed, "a 5%% error passed: %s", r.report);
    }
}
END_TEST

START_TEST(test_checker_passes_a_correct_user_op) {
    ck_assert_int_eq(tg_op_register(&right_op), TG_OK);
    tg_gradcheck_result r;
    ck_assert_int_eq(tg_gradcheck_op("good_triple", "3x4", NULL, NULL, &r), TG_OK);
    ck_assert_msg(r.passed, "%s", r.report);
    ck_assert_int_eq(r.probed + r.skipped, 12);
}
END_TEST

/* ReLU on inputs of which half sit exactly on its kink (0): those have no derivative and are
 * skipped, and that many skips must fail the check. They used to pass as long as skips did
 * not outnumber probes. */
START_TEST(test_many_kink_skips_fail_the_check) {
    tg_graph *g = tg_graph_new(3);
    tg_node *x = tg_graph_input(g, "x", tg_shape2(4, 6));
    tg_node_set_requires_grad(x, 1);
    tg_node *y = tg_graph_op(g, "relu", "r", NULL, (tg_node *[]){x}, 1);
    tg_node *loss = tg_graph_op(g, "sum", "s", NULL, (tg_node *[]){y}, 1);
    ck_assert_ptr_nonnull(loss);
    float v[24];
    for (int i = 0; i < 24; i++) v[i] = i % 2 ? 0.25f + 0.01f * (float)i : 0.0f;
    ck_assert_int_eq(tg_input_set(x, tg_shape2(4, 6), v), TG_OK);
    tg_gradcheck_result r;
    ck_assert_int_eq(tg_gradcheck_graph(g, loss, NULL, &r), TG_OK);
    ck_assert_msg(r.skipped == 12 && r.probed == 12, "%s", r.report);
    ck_assert_msg(!r.passed, "12 of 24 elements skipped, and it passed: %s", r.report);
    /* One kink in 24 is within the bound (at most 10%, here 2). */
    for (int i = 0; i < 24; i++) v[i] = i ? 0.25f + 0.01f * (float)i : 0.0f;
    ck_assert_int_eq(tg_input_set(x, tg_shape2(4, 6), v), TG_OK);
    ck_assert_int_eq(tg_gradcheck_graph(g, loss, NULL, &r), TG_OK);
    ck_assert_msg(r.skipped == 1 && r.passed, "%s", r.report);
    tg_graph_free(g);
}
END_TEST

/* Smooth ops have curvature but no kink: with the kink confirmed at half the step they never
 * skip, on any seed, and they pass. */
START_TEST(test_smooth_ops_never_skip) {
    struct {
        const char *op, *shapes, *attrs;
    } smooth[] = {{"tanh", "6x8", ""},
                  {"sigmoid", "6x8", ""},
                  {"dense", "5x7", "units=4 act=tanh"},
                  {"l2normalize", "5x6", ""},
                  {"l2distance", "6x5;6x5", ""},
                  {"mul", "4x5;4x5", ""},
                  {"conv2d", "2x2x5x5", "filters=3 kernel=3 act=tanh"},
                  {"avgpool2d", "2x2x6x6", "size=2"}};
    for (size_t i = 0; i < sizeof smooth / sizeof smooth[0]; i++)
        for (uint64_t seed = 1; seed <= 10; seed++) {
            tg_gradcheck_opts o = tg_gradcheck_defaults(seed);
            tg_gradcheck_result r;
            ck_assert_int_eq(
                tg_gradcheck_op(smooth[i].op, smooth[i].shapes, smooth[i].attrs, &o, &r), TG_OK);
            ck_assert_msg(r.skipped == 0 && r.passed, "%s seed %d: %s", smooth[i].op, (int)seed,
                          r.report);
        }
}
END_TEST

START_TEST(test_checker_reports_bad_requests) {
    tg_gradcheck_result r;
    ck_assert_int_eq(tg_gradcheck_op("no_such_op", "3x4", NULL, NULL, &r), TG_ERR_UNKNOWN);
    ck_assert_int_eq(tg_gradcheck_op("add", "3x4", NULL, NULL, &r), TG_ERR_SHAPE);
    ck_assert_int_eq(tg_gradcheck_op("add", "3x4;3x5", NULL, NULL, &r), TG_ERR_INVALID);
    ck_assert_int_eq(tg_gradcheck_op("dense", "3x4", "units=-1", NULL, &r), TG_ERR_INVALID);
}
END_TEST

/* A whole Siamese head as one graph: shared tower, l2normalize, l2distance and
 * contrastive loss in both forms, checked end to end. */
START_TEST(test_siamese_head_graph_gradcheck_both_forms) {
    const char *forms[] = {"margin=1", "margin=0.8 form=seed"};
    for (int f = 0; f < 2; f++) {
        tg_graph *g = tg_graph_new(21);
        tg_node *a = tg_graph_input(g, "a", tg_shape2(6, 5));
        tg_node *b = tg_graph_input(g, "b", tg_shape2(6, 5));
        tg_node *y = tg_graph_input(g, "y", tg_shape1(6));
        tg_layer *h = tg_graph_layer(g, "dense", "hidden", "units=7 act=tanh");
        tg_layer *e = tg_graph_layer(g, "dense", "embed", "units=3");
        tg_layer *nrm = tg_graph_layer(g, "l2normalize", "unit", NULL);
        tg_node *ea = tg_layer_apply1(nrm, tg_layer_apply1(e, tg_layer_apply1(h, a)));
        tg_node *eb = tg_layer_apply1(nrm, tg_layer_apply1(e, tg_layer_apply1(h, b)));
        tg_node *d = tg_graph_op(g, "l2distance", "d", NULL, (tg_node *[]){ea, eb}, 2);
        tg_node *loss = tg_graph_op(g, "contrastive", "loss", forms[f], (tg_node *[]){d, y}, 2);
        ck_assert_msg(loss != NULL, "%s", tg_last_error());
        tg_rng r;
        tg_rng_seed(&r, 8);
        for (int i = 0; i < 30; i++) {
            tg_node_data(a)[i] = tg_rng_uniform_range(&r, -1, 1);
            tg_node_data(b)[i] = tg_rng_uniform_range(&r, -1, 1);
        }
        for (int i = 0; i < 6; i++) tg_node_data(y)[i] = (float)(i % 2);
        tg_node_set_requires_grad(a, 1);
        tg_gradcheck_result res;
        tg_gradcheck_opts o = tg_gradcheck_defaults(4);
        o.max_probes = 64;
        ck_assert_int_eq(tg_gradcheck_graph(g, loss, &o, &res), TG_OK);
        ck_assert_msg(res.passed, "%s: %s", forms[f], res.report);
        ck_assert_int_gt(res.probed, 60);
        tg_graph_free(g);
    }
}
END_TEST

int main(void) {
    Suite *s = suite_create("gradcheck");
    TCase *tc = tcase_create("gradcheck");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_every_registered_op_passes_gradcheck);
    tcase_add_test(tc, test_checker_catches_one_flipped_sign);
    tcase_add_test(tc, test_checker_catches_one_nan_gradient);
    tcase_add_test(tc, test_checker_catches_gradient_scaled_by_5_percent);
    tcase_add_test(tc, test_checker_passes_a_correct_user_op);
    tcase_add_test(tc, test_checker_catches_a_wrong_backward_use);
    tcase_add_test(tc, test_checker_reports_bad_requests);
    tcase_add_test(tc, test_many_kink_skips_fail_the_check);
    tcase_add_test(tc, test_smooth_ops_never_skip);
    tcase_add_test(tc, test_siamese_head_graph_gradcheck_both_forms);
    suite_add_tcase(s, tc);
    return tg_check_run(s);
}
