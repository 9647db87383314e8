/* The user ops of examples/triplet_ops.c pass the registry-wide gradient check
 * once registered, and the triplet network built with them learns. */
#include <check.h>

#include "tests/tg_check.h"
#include <stdlib.h>

#include "examples/triplet_ops.h"

START_TEST(test_user_ops_pass_gradcheck_after_registration) {
    ck_assert_msg(triplet_ops_register() == TG_OK, "%s", tg_last_error());
    ck_assert_int_eq(triplet_ops_register(), TG_ERR_INVALID); /* already registered */
    const char *ops[] = {"cosine_distance", "triplet_margin"};
    for (int i = 0; i < 2; i++) {
        const tg_op *op = tg_op_find(ops[i]);
        ck_assert_ptr_nonnull(op);
        for (int e = 0; op->examples[e].inputs; e++) {
            tg_gradcheck_result r;
            ck_assert_int_eq(
                tg_gradcheck_op(ops[i], op->examples[e].inputs, op->examples[e].attrs, NULL, &r),
                TG_OK);
            ck_assert_msg(r.passed, "%s: %s", ops[i], r.report);
        }
    }
}
END_TEST

START_TEST(test_triplet_network_learns) {
    ck_assert_int_eq(triplet_ops_register(), TG_OK);
    triplet_run run;
    ck_assert_msg(triplet_train(1, 20, 0, &run) == TG_OK, "%s", tg_last_error());
    ck_assert_msg(run.loss[19] < run.loss[0] / 3, "loss %g -> %g", run.loss[0], run.loss[19]);
    ck_assert_msg(run.heldout_accuracy > 0.9, "held-out %.3f", run.heldout_accuracy);
}
END_TEST

START_TEST(test_registry_reset_forgets_user_ops_and_keeps_builtins) {
    int builtins = tg_op_count();
    ck_assert_int_eq(triplet_ops_register(), TG_OK);
    ck_assert_int_eq(tg_op_count(), builtins + 2);
    tg_op_registry_reset();
    ck_assert_int_eq(tg_op_count(), builtins);
    ck_assert_ptr_null(tg_op_find("cosine_distance"));
    ck_assert_ptr_nonnull(tg_op_find("conv2d"));
    ck_assert_int_eq(triplet_ops_register(), TG_OK); /* registrable again */
}
END_TEST

int main(void) {
    Suite *s = suite_create("examples");
    TCase *tc = tcase_create("examples");
    tcase_set_timeout(tc, 120);
    /* Each test registers the user ops itself: a clean registry after each one
     * keeps the tests independent also when Check does not fork (CK_FORK=no). */
    tcase_add_checked_fixture(tc, NULL, tg_op_registry_reset);
    tcase_add_test(tc, test_user_ops_pass_gradcheck_after_registration);
    tcase_add_test(tc, test_triplet_network_learns);
    tcase_add_test(tc, test_registry_reset_forgets_user_ops_and_keeps_builtins);
    suite_add_tcase(s, tc);
    return tg_check_run(s);
}
