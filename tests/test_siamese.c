/* The Siamese MLP composed in C (examples/siamese_mlp) learns its pair task. */
#include <check.h>

#include "tests/tg_check.h"
#include <stdlib.h>

#include "examples/pair_task.h"

START_TEST(test_siamese_mlp_loss_falls_and_pairs_are_separated) {
    pair_task_run run;
    ck_assert_msg(pair_task_train(1, 30, 0, &run) == TG_OK, "%s", tg_last_error());
    ck_assert_msg(run.loss[29] < run.loss[0] / 4, "loss %g -> %g", run.loss[0], run.loss[29]);
    ck_assert_msg(run.heldout_accuracy > 0.90, "held-out accuracy %.3f", run.heldout_accuracy);
}
END_TEST

START_TEST(test_siamese_mlp_same_seed_same_losses) {
    pair_task_run a, b;
    ck_assert_int_eq(pair_task_train(7, 3, 0, &a), TG_OK);
    ck_assert_int_eq(pair_task_train(7, 3, 0, &b), TG_OK);
    for (int e = 0; e < 3; e++) ck_assert(a.loss[e] == b.loss[e]);
}
END_TEST

int main(void) {
    Suite *s = suite_create("siamese");
    TCase *tc = tcase_create("siamese");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_siamese_mlp_loss_falls_and_pairs_are_separated);
    tcase_add_test(tc, test_siamese_mlp_same_seed_same_losses);
    suite_add_tcase(s, tc);
    return tg_check_run(s);
}
