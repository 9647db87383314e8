/* A small Siamese CNN composed in C (conv2d, batchnorm, maxpool2d, sepconv2d,
 * dense, l2normalize, l2distance, contrastive) trained on generated images:
 * 24x24 noisy frames holding one bright blob whose position (one of four
 * places, jittered) is its class. Shared by examples/siamese_cnn and its test. */
#ifndef TG_SIAMESE_CNN_H
#define TG_SIAMESE_CNN_H

#include "twingrad.h"

#define CNN_MAX_EPOCHS 100

/* What one training run gives back. */
typedef struct siamese_cnn_run {
    int epochs;
    double loss[CNN_MAX_EPOCHS]; /* mean training loss per epoch */
    double heldout_accuracy;     /* pair accuracy on fresh pairs, eval mode, threshold margin/2 */
    double same_dist, diff_dist; /* mean held-out distance of similar and dissimilar pairs */
} siamese_cnn_run;

/* Build the network, train it with Adam for `epochs` epochs from `seed`, score
 * held-out pairs. Prints progress when `verbose`. */
tg_status siamese_cnn_train(uint64_t seed, int epochs, int verbose, siamese_cnn_run *run);

#endif
