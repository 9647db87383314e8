/* Optional, seeded data augmentation for training images: small shifts,
 * rotations, flips, brightness, contrast and gamma. A zeroed
 * struct means "off", which is the default everywhere. */
#ifndef TG_AUGMENT_H
#define TG_AUGMENT_H

#include "autograd/tg_rng.h"
#include "autograd/tg_export.h"

TG_API_BEGIN

typedef struct tg_augment {
    float max_shift;      /* largest shift, as a fraction of width/height (e.g. 0.05) */
    float max_rotate_deg; /* largest rotation either way, degrees (e.g. 5) */
    int hflip, vflip;     /* flip left-right / up-down with probability 1/2 */
    float brightness;     /* add a uniform offset in [-brightness, brightness] */
    float contrast;       /* scale around the image mean by a factor in [1-c, 1+c] */
    float gamma;          /* v^g on the image's own [min, max] range, g = exp(u), |u| <= gamma;
                             then the image's mean and sd are restored */
    float fill;           /* value for pixels shifted or rotated in from outside */
} tg_augment;

/* Mild settings suited to chest X-rays (no flips: the heart is on one side). */
tg_augment tg_augment_default(void);
/* 1 when aug is non-NULL and changes anything. */
int tg_augment_active(const tg_augment *aug);
/* dst (h,w) = a random transform of src (h,w); src and dst must not overlap.
 * Draws the same number of random values whatever the settings. */
void tg_augment_apply(const tg_augment *aug, const float *src, float *dst, int w, int h,
                      tg_rng *rng);
/* Advance rng past the draws of `images` tg_augment_apply calls, without the work:
 * a data-parallel rank skips the images of the pairs other ranks take. */
void tg_augment_skip(tg_rng *rng, size_t images);

TG_API_END

#endif
