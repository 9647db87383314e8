/* The Siamese CNN composed in C (examples/siamese_cnn) learns its blob task:
 * conv2d, sepconv2d, batchnorm, maxpool2d and dropout trained end to end. */
#include <check.h>

#include "tests/tg_check.h"
#include <stdlib.h>

#include "examples/siamese_cnn.h"

/* One thread: this test is about learning. With two, the time depends on the
 * machine's load and on OMP_WAIT_POLICY (docs/ops-conv.md, Threading). */
START_TEST(test_siamese_cnn_loss_falls_and_pairs_are_separated) {
    siamese_cnn_run run;
    ck_assert_int_eq(tg_threads_set(1), TG_OK);
    ck_assert_msg(siamese_cnn_train(1, 12, 0, &run) == TG_OK, "%s", tg_last_error());
    ck_assert_msg(run.loss[11] < run.loss[0] / 4, "loss %g -> %g", run.loss[0], run.loss[11]);
    ck_assert_msg(run.heldout_accuracy > 0.90, "held-out accuracy %.3f (chance 0.5)",
                  run.heldout_accuracy);
    ck_assert_msg(run.diff_dist > run.same_dist + 0.5, "distances: similar %.3f, dissimilar %.3f",
                  run.same_dist, run.diff_dist);
}
END_TEST

/* Two threads (or all cores): a fixed thread count gives the same numbers. */
START_TEST(test_siamese_cnn_same_seed_same_losses) {
    siamese_cnn_run a, b;
    ck_assert_int_eq(tg_threads_set(2), TG_OK);
    ck_assert_int_eq(siamese_cnn_train(5, 2, 0, &a), TG_OK);
    ck_assert_int_eq(siamese_cnn_train(5, 2, 0, &b), TG_OK);
    for (int e = 0; e < 2; e++) ck_assert(a.loss[e] == b.loss[e]);
}
END_TEST

int main(void) {
    Suite *s = suite_create("siamese_cnn");
    TCase *tc = tcase_create("siamese_cnn");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_siamese_cnn_loss_falls_and_pairs_are_separated);
    tcase_add_test(tc, test_siamese_cnn_same_seed_same_losses);
    suite_add_tcase(s, tc);
    return tg_check_run(s);
}
