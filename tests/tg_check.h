/* What every Check suite's main() shares: run the suite, report, exit status. */
#ifndef TG_CHECK_H
#define TG_CHECK_H

#include <check.h>
#include <stdlib.h>

/* Run suite s (forking per test, Check's default) and return the exit status. */
static inline int tg_check_run(Suite *s) {
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

#endif
