/* The run record (eval/tg_run.h, internal; this test links the static library):
 * every key survives a checkpoint, a threshold not chosen yet survives as NaN, and
 * a missing, malformed or out-of-range entry is a format error naming the key. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "tests/tg_check.h"
#include "eval/tg_eval.h"
#include "eval/tg_run.h"

static tg_run_record sample(void) {
    return (tg_run_record){.data_spec = "synth:data/synth,cache=auto",
                           .val_frac = 0.15,
                           .test_frac = 0.2,
                           .by_group = -1,
                           .balance = 1,
                           .pairs_per_epoch = 640,
                           .similar_frac = 0.5,
                           .augment = 1,
                           .knn_k = 7,
                           .batch = 16,
                           .lr = 1e-4,
                           .seed = 18446744073709551557ull,
                           .epochs = 14,
                           .step_in_epoch = 3,
                           .partial_loss = 0.1234567890123,
                           .best_epoch = 2,
                           .since_best = 1,
                           .threshold = 0.7071067811865476,
                           .reduce = 1,
                           .shards = 4};
}

/* Save a tiny graph with `meta` and load it back. */
static tg_checkpoint *round_trip(const tg_checkpoint_meta *meta, int n) {
    tg_graph *g = tg_graph_new(1);
    tg_graph_param(g, "w", tg_shape1(3), TG_INIT_ONES);
    tg_checkpoint_data d = {.graph = g, .meta = meta, .n_meta = n};
    ck_assert_int_eq(tg_checkpoint_save("test_run_record.tgc", &d), TG_OK);
    tg_graph_free(g);
    tg_checkpoint *ck = NULL;
    ck_assert_msg(tg_checkpoint_load("test_run_record.tgc", &ck) == TG_OK, "%s", tg_last_error());
    remove("test_run_record.tgc");
    return ck;
}

START_TEST(test_run_record_survives_a_checkpoint_exactly) {
    tg_run_record in = sample(), out;
    tg_run_meta meta;
    tg_run_record_to_meta(&in, &meta);
    ck_assert_int_eq(meta.n, 20);
    tg_checkpoint *ck = round_trip(meta.entries, meta.n);
    ck_assert_int_eq(tg_run_record_from_checkpoint(ck, &out), TG_OK);
    ck_assert_str_eq(out.data_spec, in.data_spec);
    ck_assert(out.seed == in.seed && out.lr == in.lr && out.partial_loss == in.partial_loss &&
              out.threshold == in.threshold && out.batch == in.batch && out.balance == in.balance &&
              out.reduce == in.reduce && out.shards == in.shards);
    /* every field, bit for bit: the texts of %.17g round-trip doubles exactly */
    tg_run_meta again;
    tg_run_record_to_meta(&out, &again);
    ck_assert_int_eq(again.n, meta.n);
    for (int i = 0; i < meta.n; i++) {
        ck_assert_str_eq(again.entries[i].key, meta.entries[i].key);
        ck_assert_str_eq(again.entries[i].value, meta.entries[i].value);
    }
    tg_run_record_free(&out);
    tg_checkpoint_free(ck);
}
END_TEST

START_TEST(test_threshold_not_chosen_yet_survives_as_nan) {
    tg_run_record in = sample(), out;
    in.threshold = NAN; /* interrupted before the first validation */
    tg_run_meta meta;
    tg_run_record_to_meta(&in, &meta);
    tg_checkpoint *ck = round_trip(meta.entries, meta.n);
    ck_assert_int_eq(tg_run_record_from_checkpoint(ck, &out), TG_OK);
    ck_assert(isnan(out.threshold));
    tg_run_record_free(&out);
    tg_checkpoint_free(ck);
}
END_TEST

START_TEST(test_missing_or_malformed_entries_are_named) {
    tg_run_record in = sample(), out;
    tg_run_meta meta;
    tg_run_record_to_meta(&in, &meta);
    tg_checkpoint *ck = round_trip(meta.entries, meta.n - 1); /* no shards */
    ck_assert_int_eq(tg_run_record_from_checkpoint(ck, &out), TG_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(tg_last_error(), "'shards'"));
    ck_assert_ptr_null(out.data_spec);
    tg_checkpoint_free(ck);
    const struct {
        const char *key, *value;
    } bad[] = {{"batch", "16.5"}, {"seed", "-3"}, {"lr", "nan"}, {"val_frac", "x"}, {"knn_k", ""}};
    for (size_t b = 0; b < sizeof bad / sizeof bad[0]; b++) {
        tg_run_record_to_meta(&in, &meta);
        for (int i = 0; i < meta.n; i++)
            if (!strcmp(meta.entries[i].key, bad[b].key)) meta.entries[i].value = bad[b].value;
        ck = round_trip(meta.entries, meta.n);
        ck_assert_int_eq(tg_run_record_from_checkpoint(ck, &out), TG_ERR_FORMAT);
        char want[64];
        snprintf(want, sizeof want, "'%s'", bad[b].key);
        ck_assert_msg(strstr(tg_last_error(), want), "%s: %s", bad[b].key, tg_last_error());
        tg_checkpoint_free(ck);
    }
}
END_TEST

/* Well-formed but out of range: each entry checked against what training can write, so a
 * damaged record fails at load with its key named (batch 0 stopped a resume with SIGFPE). */
START_TEST(test_entries_out_of_range_are_named) {
    tg_run_record in = sample(), out;
    tg_run_meta meta;
    const struct {
        const char *key, *value;
        int ok;
    } cases[] = {{"batch", "0", 0},          {"knn_k", "-5", 0},
                 {"by_group", "7", 0},       {"augment", "2", 0},
                 {"step_in_epoch", "41", 0}, {"step_in_epoch", "40", 1},
                 {"step_in_epoch", "-1", 0}, {"pairs_per_epoch", "8", 0},
                 {"epochs", "0", 0},         {"test_frac", "0", 0},
                 {"test_frac", "0.85", 0},   {"test_frac", "0.8", 1},
                 {"similar_frac", "1", 0},   {"lr", "0", 0},
                 {"threshold", "-1", 0},     {"reduce", "5", 0},
                 {"shards", "-1", 0},        {"by_group", "-1", 1}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        tg_run_record_to_meta(&in, &meta);
        for (int i = 0; i < meta.n; i++)
            if (!strcmp(meta.entries[i].key, cases[c].key)) meta.entries[i].value = cases[c].value;
        tg_checkpoint *ck = round_trip(meta.entries, meta.n);
        tg_status st = tg_run_record_from_checkpoint(ck, &out);
        if (cases[c].ok) {
            ck_assert_msg(st == TG_OK, "%s = %s: %s", cases[c].key, cases[c].value,
                          tg_last_error());
            tg_run_record_free(&out);
        } else {
            ck_assert_msg(st == TG_ERR_FORMAT, "%s = %s accepted", cases[c].key, cases[c].value);
            char want[64];
            snprintf(want, sizeof want, "'%s' = ", cases[c].key);
            ck_assert_msg(strstr(tg_last_error(), want) && strstr(tg_last_error(), "out of range"),
                          "%s: %s", cases[c].key, tg_last_error());
            ck_assert_ptr_null(out.data_spec);
        }
        tg_checkpoint_free(ck);
    }
}
END_TEST

/* An error in the model text a checkpoint stores is placed in that text, not in the
 * binary file: "X.tgc (its model text):2:4", where "X.tgc:2:4" pointed into the file. */
START_TEST(test_stored_model_text_errors_name_the_text) {
    tg_run_record in = sample();
    tg_run_meta meta;
    tg_run_record_to_meta(&in, &meta);
    tg_graph *g = tg_graph_new(1);
    tg_graph_param(g, "w", tg_shape1(3), TG_INIT_ONES);
    tg_checkpoint_data d = {.graph = g,
                            .meta = meta.entries,
                            .n_meta = meta.n,
                            .model_text = "input 8 8 1\nx: flaten\n"};
    ck_assert_int_eq(tg_checkpoint_save("test_run_record_text.tgc", &d), TG_OK);
    tg_graph_free(g);
    tg_trained t;
    ck_assert_int_ne(tg_trained_load("test_run_record_text.tgc", &t), TG_OK);
    ck_assert_msg(strstr(tg_last_error(), "test_run_record_text.tgc (its model text):2:4:"), "%s",
                  tg_last_error());
    remove("test_run_record_text.tgc");
}
END_TEST

int main(void) {
    Suite *s = suite_create("run_record");
    TCase *tc = tcase_create("run_record");
    tcase_add_test(tc, test_run_record_survives_a_checkpoint_exactly);
    tcase_add_test(tc, test_threshold_not_chosen_yet_survives_as_nan);
    tcase_add_test(tc, test_missing_or_malformed_entries_are_named);
    tcase_add_test(tc, test_entries_out_of_range_are_named);
    tcase_add_test(tc, test_stored_model_text_errors_name_the_text);
    suite_add_tcase(s, tc);
    return tg_check_run(s);
}
