/* The ONNX exporter's contract in C: the bytes start a ModelProto, an op without a
 * mapping is a located error naming it, a failed write leaves nothing behind. The
 * numbers are checked against ONNX Runtime by tests/test_onnx.sh. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/tg_check.h"
#include "twingrad.h"

static const char *small_model = "input 8 8 1\n"
                                 "c1: conv2d filters=2 kernel=3 act=relu\n"
                                 "f: flatten\n"
                                 "e: dense units=4\n"
                                 "siamese distance=l2 loss=contrastive margin=1 normalize=true\n";

/* 1 when the bytes hold `s` somewhere (memmem is not standard C). */
static int contains(const uint8_t *data, size_t size, const char *s) {
    size_t n = strlen(s);
    for (size_t i = 0; i + n <= size; i++)
        if (memcmp(data + i, s, n) == 0) return 1;
    return 0;
}

static tg_model *build(const char *text) {
    tg_model_def *def = NULL;
    tg_model *m = NULL;
    ck_assert_msg(tg_model_def_parse_text("t.tg", text, &def) == TG_OK, "%s", tg_last_error());
    ck_assert_msg(tg_model_build(def, 2, &m) == TG_OK, "%s", tg_last_error());
    tg_model_def_free(def);
    return m;
}

START_TEST(test_onnx_encode_starts_with_ir_version_and_names_the_io) {
    tg_model *m = build(small_model);
    uint8_t *data;
    size_t size;
    ck_assert_int_eq(tg_onnx_encode(m, &data, &size), TG_OK);
    /* field 1 (ir_version), varint 7 */
    ck_assert_uint_ge(size, 2);
    ck_assert_uint_eq(data[0], 0x08);
    ck_assert_uint_eq(data[1], TG_ONNX_IR_VERSION);
    ck_assert(contains(data, size, TG_ONNX_INPUT));
    ck_assert(contains(data, size, TG_ONNX_OUTPUT));
    ck_assert(contains(data, size, "c1.weight"));
    free(data);
    tg_model_free(m);
}
END_TEST

/* A user op: y = x (the exporter cannot know what it computes). */
static tg_status id_infer(const tg_node *n, const tg_shape *in, tg_shape *out, tg_shape *p) {
    (void)n;
    (void)p;
    *out = in[0];
    return TG_OK;
}
static tg_status id_forward(tg_node *n) {
    memcpy(tg_node_data(n), tg_node_data(tg_node_input(n, 0)),
           (size_t)tg_shape_numel(tg_node_shape(n)) * sizeof(float));
    return TG_OK;
}
static const tg_op user_identity = {.name = "user_identity",
                                    .doc = "a user op with no ONNX mapping",
                                    .n_inputs = 1,
                                    .infer = id_infer,
                                    .forward = id_forward,
                                    .examples = {{"2x3", ""}}};

START_TEST(test_onnx_export_names_the_op_without_mapping) {
    ck_assert(tg_op_find("user_identity") || tg_op_register(&user_identity) == TG_OK);
    tg_model *m = build("input 8 8 1\n"
                        "f: flatten\n"
                        "u: user_identity\n"
                        "e: dense units=4\n"
                        "siamese distance=l2 loss=contrastive margin=1 normalize=false\n");
    uint8_t *data = (uint8_t *)"untouched";
    size_t size = 1;
    ck_assert_int_eq(tg_onnx_encode(m, &data, &size), TG_ERR_UNKNOWN);
    ck_assert_ptr_null(data);
    ck_assert_uint_eq(size, 0);
    const char *msg = tg_last_error();
    ck_assert_msg(strstr(msg, "t.tg:3:4") && strstr(msg, "'user_identity'") && strstr(msg, "'u'"),
                  "%s", msg);
    char path[] = "/tmp/tg_export_XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    close(fd);
    remove(path);
    ck_assert_int_eq(tg_onnx_export(m, path), TG_ERR_UNKNOWN);
    ck_assert_int_ne(access(path, F_OK), 0); /* no file written */
    tg_model_free(m);
}
END_TEST

START_TEST(test_onnx_export_to_missing_folder_fails_cleanly) {
    tg_model *m = build(small_model);
    ck_assert_int_eq(tg_onnx_export(m, "/nonexistent-dir/x.onnx"), TG_ERR_IO);
    ck_assert_ptr_nonnull(strstr(tg_last_error(), "/nonexistent-dir/x.onnx"));
    ck_assert_int_eq(tg_onnx_export(NULL, "x.onnx"), TG_ERR_INVALID);
    ck_assert_int_eq(tg_onnx_export(m, NULL), TG_ERR_INVALID);
    tg_model_free(m);
}
END_TEST

int main(void) {
    Suite *s = suite_create("export");
    TCase *tc = tcase_create("onnx");
    tcase_add_test(tc, test_onnx_encode_starts_with_ir_version_and_names_the_io);
    tcase_add_test(tc, test_onnx_export_names_the_op_without_mapping);
    tcase_add_test(tc, test_onnx_export_to_missing_folder_fails_cleanly);
    suite_add_tcase(s, tc);
    return tg_check_run(s);
}
