/* Shared by fuzz_cache and make_seeds: the cache key and the wanted items, so that the
 * seeds make_seeds writes are hits for the harness. */
#ifndef TG_FUZZ_CACHE_COMMON_H
#define TG_FUZZ_CACHE_COMMON_H

#include "datasets/tg_cache.h"

enum { FUZZ_CACHE_ITEMS = 3, FUZZ_CACHE_PIXELS = 6 };

static const tg_cache_key fuzz_cache_key = {3, 2, 0, 0.0f}; /* 3x2 pixels, no padding */

/* The wanted items, each filling px[i] (FUZZ_CACHE_PIXELS floats) on a hit. */
static inline void fuzz_cache_items(tg_cache_item items[FUZZ_CACHE_ITEMS],
                                    float px[FUZZ_CACHE_ITEMS][FUZZ_CACHE_PIXELS]) {
    const tg_cache_item want[FUZZ_CACHE_ITEMS] = {
        {"a.png", 100, 5, px[0], 0}, {"dir/b.jpg", 2000, 7, px[1], 0}, {"c.pgm", 30, 11, px[2], 0}};
    for (int i = 0; i < FUZZ_CACHE_ITEMS; i++) items[i] = want[i];
}

#endif
