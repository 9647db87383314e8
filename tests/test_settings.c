/* Library calls leave the caller's settings as they found them: tg_train and
 * tg_evaluate run on the thread count their options ask for and give the
 * caller's back, also when they fail. */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "tests/tg_check.h"
#include "twingrad.h"

START_TEST(test_train_restores_the_callers_thread_count) {
    ck_assert_int_eq(tg_threads_set(3), TG_OK);
    tg_train_opts o = tg_train_opts_default();
    o.model_path = "no/such/model.tg";
    o.data_spec = "synth:no/such/folder";
    o.run_dir = "test_settings.run";
    o.threads = 1;
    o.progress = -1;
    tg_train_result r;
    ck_assert_int_ne(tg_train(&o, &r), TG_OK);
    ck_assert_int_eq(tg_threads_get(), 3);
    remove("test_settings.run");
}
END_TEST

/* Split fractions that cannot work are refused before any data is read, naming the
 * fraction that is wrong and none of the others (they may be defaults). */
START_TEST(test_train_names_only_the_wrong_fraction) {
    FILE *f = fopen("test_settings.tg", "w");
    ck_assert_ptr_nonnull(f);
    fputs("input 4 4 1\nflatten\nembed: dense units=4\nsiamese normalize=true\n", f);
    fclose(f);
    static const struct {
        double similar, val, test;
        const char *want, *absent;
    } bad[] = {
        {0.5, 0.5, 0.5, "validation 0.5 and test 0.5 leave no image to train on", "similar"},
        {0.5, 0.15, 1.5, "the test fraction must be in (0, 1), got 1.5", "similar"},
        {1.0, 0.15, 0.15, "the similar-pair share must be in (0, 1), got 1", "val"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        tg_train_opts o = tg_train_opts_default();
        o.model_path = "test_settings.tg";
        o.data_spec = "synth:no/such/folder";
        o.run_dir = "test_settings.run";
        o.progress = -1;
        o.similar_frac = bad[i].similar;
        o.val_frac = bad[i].val;
        o.test_frac = bad[i].test;
        tg_train_result r;
        ck_assert_int_eq(tg_train(&o, &r), TG_ERR_INVALID);
        const char *msg = tg_last_error();
        ck_assert_msg(strstr(msg, bad[i].want) && !strstr(msg, bad[i].absent),
                      "expected '%s' without '%s', got '%s'", bad[i].want, bad[i].absent, msg);
    }
    remove("test_settings.tg");
}
END_TEST

START_TEST(test_evaluate_restores_the_callers_thread_count) {
    ck_assert_int_eq(tg_threads_set(3), TG_OK);
    tg_eval_opts o = {.checkpoint = "no/such/checkpoint.tgc", .threads = 1};
    tg_eval_result r;
    ck_assert_int_ne(tg_evaluate(&o, &r), TG_OK);
    ck_assert_int_eq(tg_threads_get(), 3);
}
END_TEST

int main(void) {
    Suite *s = suite_create("settings");
    TCase *tc = tcase_create("settings");
    tcase_add_test(tc, test_train_restores_the_callers_thread_count);
    tcase_add_test(tc, test_evaluate_restores_the_callers_thread_count);
    tcase_add_test(tc, test_train_names_only_the_wrong_fraction);
    suite_add_tcase(s, tc);
    return tg_check_run(s);
}
