/* docs/ops.md is generated from the registry; this test fails when they drift.
 * Regenerate with: ./twingrad ops --markdown > docs/ops.md */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "twingrad.h"

static char *read_all(FILE *f, size_t *len) {
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    size_t got;
    while (buf && (got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) {
            char *p = realloc(buf, cap *= 2);
            if (!p) {
                free(buf);
                return NULL;
            }
            buf = p;
        }
    }
    *len = n;
    return buf;
}

START_TEST(test_ops_reference_matches_registry) {
    const char *srcdir = getenv("TG_SRCDIR");
    ck_assert_msg(srcdir != NULL, "TG_SRCDIR is not set (run through make check)");
    char path[4096];
    snprintf(path, sizeof path, "%s/docs/ops.md", srcdir);
    FILE *doc = fopen(path, "rb");
    ck_assert_msg(doc != NULL, "cannot open %s", path);
    size_t doc_len, gen_len;
    char *want = read_all(doc, &doc_len);
    fclose(doc);
    FILE *gen = tmpfile();
    ck_assert_ptr_nonnull(gen);
    ck_assert_int_eq(tg_ops_write_markdown(gen), TG_OK);
    rewind(gen);
    char *got = read_all(gen, &gen_len);
    fclose(gen);
    ck_assert_ptr_nonnull(want);
    ck_assert_ptr_nonnull(got);
    size_t i = 0;
    while (i < doc_len && i < gen_len && want[i] == got[i]) i++;
    ck_assert_msg(doc_len == gen_len && i == doc_len,
                  "docs/ops.md differs from the registry at byte %zu: regenerate it with "
                  "'./twingrad ops --markdown > docs/ops.md'",
                  i);
    free(want);
    free(got);
}
END_TEST

int main(void) {
    Suite *s = suite_create("docs");
    TCase *tc = tcase_create("docs");
    tcase_add_test(tc, test_ops_reference_matches_registry);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
