/* Two ops defined outside the library, as a user would: a cosine distance and a
 * triplet margin loss. Registering them makes them usable from C, from model
 * files and in the gradient checker, exactly like built-in ops. */
#ifndef TG_TRIPLET_OPS_H
#define TG_TRIPLET_OPS_H

#include "twingrad.h"

/* Register cosine_distance and triplet_margin (once per process; a second call
 * reports them as already registered). */
tg_status triplet_ops_register(void);

/* What one training run of the triplet network gives back. */
typedef struct triplet_run {
    int epochs;
    double loss[200];        /* mean training loss per epoch */
    double heldout_accuracy; /* share of fresh triplets with d(a,p) < d(a,n) */
} triplet_run;

/* A triplet network composed in C: one dense tower applied to anchor, positive
 * and negative (one set of weights), cosine distances, triplet margin loss, Adam. */
tg_status triplet_train(uint64_t seed, int epochs, int verbose, triplet_run *run);

#endif
