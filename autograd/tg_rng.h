/* The one seeded random number generator (xoshiro256**, seeded by splitmix64).
 * It drives initialisation, shuffling, pair sampling, dropout and augmentation,
 * and its whole state is four words that a checkpoint saves and restores. */
#ifndef TG_RNG_H
#define TG_RNG_H

#include <stddef.h>
#include <stdint.h>
#include "autograd/tg_export.h"

TG_API_BEGIN

typedef struct tg_rng {
    uint64_t s[4];
} tg_rng;

/* Seed the generator; equal seeds give equal streams on every platform. */
void tg_rng_seed(tg_rng *rng, uint64_t seed);
/* The next 64 random bits. */
uint64_t tg_rng_u64(tg_rng *rng);
/* A uniform integer in [0, n) without modulo bias; n must be > 0. */
uint64_t tg_rng_below(tg_rng *rng, uint64_t n);
/* A uniform double in [0, 1) with 53 random bits. */
double tg_rng_uniform(tg_rng *rng);
/* A uniform float in [lo, hi). */
float tg_rng_uniform_range(tg_rng *rng, float lo, float hi);
/* A standard normal sample (Box-Muller; no cached second value, so the state is only s[]). */
double tg_rng_normal(tg_rng *rng);
/* Shuffle n elements of `size` bytes in place (Fisher-Yates). */
void tg_rng_shuffle(tg_rng *rng, void *base, size_t n, size_t size);
/* Derive an independent generator (for a sub-task) from this one's stream. */
void tg_rng_split(tg_rng *rng, tg_rng *child);

TG_API_END

#endif
