/* xoshiro256** by Blackman and Vigna (public domain algorithm), splitmix64 seeding. */
#include "autograd/tg_rng.h"

#include <math.h>
#include <string.h>

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static inline uint64_t rotl(uint64_t x, int k) {
    return (x << k) | (x >> (64 - k));
}

void tg_rng_seed(tg_rng *rng, uint64_t seed) {
    uint64_t x = seed;
    for (int i = 0; i < 4; i++) rng->s[i] = splitmix64(&x);
}

uint64_t tg_rng_u64(tg_rng *rng) {
    uint64_t *s = rng->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

uint64_t tg_rng_below(tg_rng *rng, uint64_t n) {
    /* Reject the top partial block so every residue is equally likely. */
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t x;
    do x = tg_rng_u64(rng);
    while (x >= limit);
    return x % n;
}

double tg_rng_uniform(tg_rng *rng) {
    return (double)(tg_rng_u64(rng) >> 11) * 0x1.0p-53;
}

float tg_rng_uniform_range(tg_rng *rng, float lo, float hi) {
    return lo + (hi - lo) * (float)tg_rng_uniform(rng);
}

double tg_rng_normal(tg_rng *rng) {
    double u1 = 1.0 - tg_rng_uniform(rng); /* (0, 1]: log is finite */
    double u2 = tg_rng_uniform(rng);
    return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

void tg_rng_shuffle(tg_rng *rng, void *base, size_t n, size_t size) {
    unsigned char *p = base, tmp[256];
    if (n < 2) return;
    for (size_t i = n - 1; i > 0; i--) {
        size_t j = (size_t)tg_rng_below(rng, (uint64_t)i + 1);
        if (j == i) continue;
        for (size_t off = 0; off < size; off += sizeof tmp) {
            size_t len = size - off < sizeof tmp ? size - off : sizeof tmp;
            memcpy(tmp, p + i * size + off, len);
            memcpy(p + i * size + off, p + j * size + off, len);
            memcpy(p + j * size + off, tmp, len);
        }
    }
}

void tg_rng_split(tg_rng *rng, tg_rng *child) {
    tg_rng_seed(child, tg_rng_u64(rng));
}
