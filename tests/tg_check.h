/* What every Check suite's main() shares: run the suite, count skips, report, exit status.
 * Check has no skip of its own: a test that cannot run here (its data is absent) calls
 * TG_SKIP("why") and returns; the runner counts those and exits 77, automake's SKIP, when
 * tests skipped and none failed, so a run that skipped is visible as such. */
#ifndef TG_CHECK_H
#define TG_CHECK_H

#include <check.h>
#include <stdio.h>
#include <stdlib.h>

/* Skip notes go to a temporary file shared with the forked test processes. */
static FILE *tg_check_skips;

/* Record that the calling test skipped, and why; the test then returns. */
#define TG_SKIP(why)                                                                               \
    do {                                                                                           \
        printf("SKIP: %s: %s\n", __func__, why);                                                   \
        if (tg_check_skips) {                                                                      \
            fprintf(tg_check_skips, "%s: %s\n", __func__, why);                                    \
            fflush(tg_check_skips);                                                                \
        }                                                                                          \
    } while (0)

/* Run suite s (forking per test, Check's default); 1 failed, 77 skipped (none failed), 0. */
static inline int tg_check_run(Suite *s) {
    tg_check_skips = tmpfile();
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr), run = srunner_ntests_run(sr), skipped = 0;
    srunner_free(sr);
    if (tg_check_skips) {
        char line[512];
        rewind(tg_check_skips);
        while (fgets(line, sizeof line, tg_check_skips)) skipped++;
        fclose(tg_check_skips);
    }
    printf("%d tests: %d passed, %d failed, %d skipped\n", run, run - failed - skipped, failed,
           skipped);
    return failed ? EXIT_FAILURE : skipped ? 77 : EXIT_SUCCESS;
}

#endif
