/* A Siamese MLP composed in C: two inputs, one shared dense tower, L2 distance
 * and contrastive loss, trained on generated pairs. Prints the loss per epoch
 * and the held-out pair accuracy.  Usage: siamese_mlp [epochs] [seed] */
#include <stdio.h>
#include <stdlib.h>

#include "examples/pair_task.h"

int main(int argc, char **argv) {
    int epochs = argc > 1 ? atoi(argv[1]) : 30;
    uint64_t seed = argc > 2 ? strtoull(argv[2], NULL, 10) : 1;
    pair_task_run run;
    if (pair_task_train(seed, epochs, 1, &run)) {
        fprintf(stderr, "siamese_mlp: %s\n", tg_last_error());
        return 1;
    }
    return 0;
}
