/* A new Siamese variant composed in C: a triplet network (one tower applied to
 * anchor, positive and negative) with two ops the library does not have, a
 * cosine distance and a triplet margin loss, registered at run time and
 * gradient-checked before use.  Usage: triplet [epochs] [seed] */
#include <stdio.h>
#include <stdlib.h>

#include "examples/triplet_ops.h"

int main(int argc, char **argv) {
    int epochs = argc > 1 ? atoi(argv[1]) : 20;
    uint64_t seed = argc > 2 ? strtoull(argv[2], NULL, 10) : 1;
    if (triplet_ops_register()) {
        fprintf(stderr, "triplet: %s\n", tg_last_error());
        return 1;
    }
    const char *ops[] = {"cosine_distance", "triplet_margin"};
    for (int i = 0; i < 2; i++) {
        tg_gradcheck_result r;
        const tg_op *op = tg_op_find(ops[i]);
        if (tg_gradcheck_op(ops[i], op->examples[0].inputs, op->examples[0].attrs, NULL, &r) ||
            !r.passed) {
            fprintf(stderr, "triplet: %s: %s\n", ops[i], r.report);
            return 1;
        }
        printf("%s: %s\n", ops[i], r.report);
    }
    triplet_run run;
    if (triplet_train(seed, epochs, 1, &run)) {
        fprintf(stderr, "triplet: %s\n", tg_last_error());
        return 1;
    }
    return 0;
}
