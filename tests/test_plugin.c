/* Plugins: the example plugin loads, registers its ops under its name and passes the
 * gradient check; a model file names the plugins it needs; a missing file, a shared
 * object without the entry point and a plugin whose op clashes with a built-in are
 * clear errors that leave the registry as it was. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/tg_check.h"
#include "twingrad.h"

static char path_buf[4096];

/* A built plugin's path: $TG_BUILDDIR/<dir>/.libs/<name>.so */
static const char *built(const char *dir, const char *name) {
    const char *b = getenv("TG_BUILDDIR");
    snprintf(path_buf, sizeof path_buf, "%s/%s/.libs/%s.so", b ? b : ".", dir, name);
    return path_buf;
}

static const char *cosine_model = "plugin triplet_ops\n"
                                  "input 6 6 1\n"
                                  "f: flatten\n"
                                  "e: dense units=4\n"
                                  "siamese distance=cosine_distance loss=contrastive margin=0.5 "
                                  "normalize=false\n";

START_TEST(test_plugin_registers_its_ops_under_its_name) {
    ck_assert_int_eq(tg_plugin_count(), 0);
    ck_assert_msg(tg_plugin_load(built("examples", "triplet_ops")) == TG_OK, "%s", tg_last_error());
    ck_assert_int_eq(tg_plugin_count(), 1);
    ck_assert_str_eq(tg_plugin_name(0), "triplet_ops");
    ck_assert_int_eq(tg_plugin_find("triplet_ops"), 0);
    ck_assert_str_eq(tg_op_plugin(tg_op_find("cosine_distance")), "triplet_ops");
    ck_assert_str_eq(tg_op_plugin(tg_op_find("triplet_margin")), "triplet_ops");
    ck_assert_ptr_null(tg_op_plugin(tg_op_find("relu")));
    /* the same file again is a no-op */
    int ops = tg_op_count();
    ck_assert_int_eq(tg_plugin_load(built("examples", "triplet_ops")), TG_OK);
    ck_assert_int_eq(tg_op_count(), ops);
    ck_assert_int_eq(tg_plugin_count(), 1);
}
END_TEST

START_TEST(test_plugin_ops_pass_gradcheck_through_the_registry) {
    ck_assert_msg(tg_plugin_load(built("examples", "triplet_ops")) == TG_OK, "%s", tg_last_error());
    int checked = 0;
    for (int i = 0; i < tg_op_count(); i++) {
        const tg_op *op = tg_op_at(i);
        if (!tg_op_plugin(op)) continue;
        for (int e = 0; e < TG_MAX_EXAMPLES && op->examples[e].inputs; e++) {
            tg_gradcheck_result r;
            ck_assert_int_eq(
                tg_gradcheck_op(op->name, op->examples[e].inputs, op->examples[e].attrs, NULL, &r),
                TG_OK);
            ck_assert_msg(r.passed, "%s: %s", op->name, r.report);
            checked++;
        }
    }
    ck_assert_int_ge(checked, 4);
}
END_TEST

START_TEST(test_model_names_a_plugin_that_is_not_loaded) {
    tg_model_def *def = NULL;
    ck_assert_int_eq(tg_model_def_parse_text("m.tg", cosine_model, &def), TG_ERR_UNKNOWN);
    ck_assert_ptr_null(def);
    const char *msg = tg_last_error();
    ck_assert_msg(strstr(msg, "m.tg:1:8") && strstr(msg, "plugin 'triplet_ops'") &&
                      strstr(msg, "not loaded"),
                  "%s", msg);
    ck_assert_int_eq(tg_plugin_load(built("examples", "triplet_ops")), TG_OK);
    ck_assert_msg(tg_model_def_parse_text("m.tg", cosine_model, &def) == TG_OK, "%s",
                  tg_last_error());
    tg_model *m = NULL;
    ck_assert_msg(tg_model_build(def, 3, &m) == TG_OK, "%s", tg_last_error());
    ck_assert_str_eq(tg_node_op(m->distance)->name, "cosine_distance");
    tg_model_free(m);
    tg_model_def_free(def);
}
END_TEST

START_TEST(test_plugin_line_must_come_first) {
    ck_assert_int_eq(tg_plugin_load(built("examples", "triplet_ops")), TG_OK);
    tg_model_def *def = NULL;
    ck_assert_int_eq(tg_model_def_parse_text("m.tg",
                                             "input 6 6 1\nplugin triplet_ops\nf: flatten\n"
                                             "siamese normalize=false\n",
                                             &def),
                     TG_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(tg_last_error(), "m.tg:2:1: plugin lines go first"));
    ck_assert_int_eq(tg_model_def_parse_text("m.tg", "plugin\ninput 6 6 1\n", &def), TG_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(tg_last_error(), "m.tg:1:7: expected one plugin name"));
}
END_TEST

START_TEST(test_missing_plugin_file_is_a_clear_error) {
    ck_assert_int_eq(tg_plugin_load("/nonexistent/libnothing.so"), TG_ERR_IO);
    ck_assert_msg(strstr(tg_last_error(), "/nonexistent/libnothing.so: cannot load it"), "%s",
                  tg_last_error());
    ck_assert_int_eq(tg_plugin_count(), 0);
    ck_assert_int_eq(tg_plugin_load(""), TG_ERR_INVALID);
    ck_assert_int_eq(tg_plugin_load(NULL), TG_ERR_INVALID);
}
END_TEST

START_TEST(test_shared_object_without_entry_point_is_refused) {
    ck_assert_int_eq(tg_plugin_load(built("tests/plugins", "no_entry")), TG_ERR_FORMAT);
    ck_assert_msg(strstr(tg_last_error(), "no twingrad_plugin_init function"), "%s",
                  tg_last_error());
    ck_assert_int_eq(tg_plugin_count(), 0);
}
END_TEST

START_TEST(test_op_clashing_with_builtin_unloads_the_whole_plugin) {
    int ops = tg_op_count();
    ck_assert_int_eq(tg_plugin_load(built("tests/plugins", "clash")), TG_ERR_INVALID);
    const char *msg = tg_last_error();
    ck_assert_msg(strstr(msg, "clash.so") &&
                      strstr(msg, "'relu' is already registered, as a built-in op"),
                  "%s", msg);
    ck_assert_int_eq(tg_op_count(), ops);
    ck_assert_ptr_null(tg_op_find("clash_fine")); /* registered first, then rolled back */
    ck_assert_int_eq(tg_plugin_count(), 0);
    ck_assert_int_eq(tg_plugin_find("clash"), -1);
}
END_TEST

START_TEST(test_registry_reset_forgets_plugins) {
    ck_assert_int_eq(tg_plugin_load(built("examples", "triplet_ops")), TG_OK);
    tg_op_registry_reset();
    ck_assert_int_eq(tg_plugin_count(), 0);
    ck_assert_ptr_null(tg_op_find("cosine_distance"));
    ck_assert_int_eq(tg_plugin_load(built("examples", "triplet_ops")), TG_OK);
    ck_assert_ptr_nonnull(tg_op_find("cosine_distance"));
}
END_TEST

int main(void) {
    Suite *s = suite_create("plugin");
    TCase *tc = tcase_create("plugin");
    tcase_add_test(tc, test_plugin_registers_its_ops_under_its_name);
    tcase_add_test(tc, test_plugin_ops_pass_gradcheck_through_the_registry);
    tcase_add_test(tc, test_model_names_a_plugin_that_is_not_loaded);
    tcase_add_test(tc, test_plugin_line_must_come_first);
    tcase_add_test(tc, test_missing_plugin_file_is_a_clear_error);
    tcase_add_test(tc, test_shared_object_without_entry_point_is_refused);
    tcase_add_test(tc, test_op_clashing_with_builtin_unloads_the_whole_plugin);
    tcase_add_test(tc, test_registry_reset_forgets_plugins);
    suite_add_tcase(s, tc);
    return tg_check_run(s);
}
