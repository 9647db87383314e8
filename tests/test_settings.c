/* Library calls leave the caller's settings as they found them: tg_train and
 * tg_evaluate run on the thread count their options ask for and give the
 * caller's back, also when they fail. */
#include <check.h>
#include <stdio.h>

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
    suite_add_tcase(s, tc);
    return tg_check_run(s);
}
