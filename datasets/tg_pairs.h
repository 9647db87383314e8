/* Pairs for Siamese training, always drawn inside one split: similar pairs
 * (same class, Y = 0) and dissimilar pairs (different classes, Y = 1) in a chosen
 * ratio, fresh each epoch or fixed by a seed; the seed paper's exhaustive scheme;
 * and batch assembly into caller-provided (N,1,H,W) buffers. */
#ifndef TG_PAIRS_H
#define TG_PAIRS_H

#include <stddef.h>
#include <stdint.h>

#include "datasets/tg_augment.h"
#include "datasets/tg_dataset.h"
#include "autograd/tg_error.h"
#include "autograd/tg_rng.h"
#include "autograd/tg_export.h"

TG_API_BEGIN

typedef struct tg_pair {
    uint32_t a, b; /* image indices into the dataset */
    uint32_t y;    /* 0 similar (same class), 1 dissimilar */
} tg_pair;

typedef struct tg_pairs {
    tg_pair *p;
    size_t n;
} tg_pairs;

/* Draw n_pairs pairs from the images idx[0..n_idx): round(n_pairs * similar_frac)
 * similar, the rest dissimilar, in shuffled order. Anchors are uniform over
 * images, or with class_balanced uniform over classes first, so a small class
 * is seen as often as a large one while every image is kept. */
tg_status tg_pairs_sample(const tg_dataset *ds, const size_t *idx, size_t n_idx, size_t n_pairs,
                          double similar_frac, int class_balanced, tg_rng *rng, tg_pairs *out);
/* The seed paper's scheme: every cross-class pair (Y = 1) and as many distinct
 * same-class pairs (Y = 0) chosen at random (all of them if fewer), shuffled.
 * Refuses more than max_pairs pairs (0 = 50 million). */
tg_status tg_pairs_exhaustive(const tg_dataset *ds, const size_t *idx, size_t n_idx,
                              size_t max_pairs, tg_rng *rng, tg_pairs *out);
/* Copy pairs[start, start+count) into xa, xb (count,1,H,W) and y (count), with
 * augmentation when aug is active (rng then drives it). No allocation. */
tg_status tg_pairs_batch(const tg_dataset *ds, const tg_pairs *pairs, size_t start, size_t count,
                         const tg_augment *aug, tg_rng *rng, float *xa, float *xb, float *y);
/* Free the pair array (safe on a zeroed struct). */
void tg_pairs_free(tg_pairs *pairs);

TG_API_END

#endif
