/* For tests/test_checkpoint_doc.sh: load each checkpoint named on the command line and print
 * one line per file, "OK" or the status name of the refusal (TG_ERR_FORMAT, ...). */
#include <stdio.h>

#include "twingrad.h"

int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        tg_checkpoint *ck = NULL;
        tg_status st = tg_checkpoint_load(argv[i], &ck);
        printf("%s\n", st == TG_OK ? "OK" : tg_status_name(st));
        tg_checkpoint_free(ck);
    }
    return 0;
}
