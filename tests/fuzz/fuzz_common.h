/* What the libFuzzer harnesses share: a small memory budget so a hostile input is refused
 * well below libFuzzer's RSS limit, and a temporary file for loaders that take a path. */
#ifndef TG_FUZZ_COMMON_H
#define TG_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <zlib.h>

#include "twingrad.h"

/* Inputs may cost at most this much; libFuzzer's default RSS limit is 2 GiB. */
#define FUZZ_BUDGET ((uint64_t)256 << 20)
/* Images may declare at most this many pixels (4 MiB of floats). */
#define FUZZ_MAX_PIXELS ((uint64_t)1 << 20)

static inline void fuzz_init(void) {
    static int done;
    if (!done) {
        tg_memory_budget_set(FUZZ_BUDGET);
        done = 1;
    }
}

/* Write data to this process's own temporary file and return its path (NULL on failure). */
static inline const char *fuzz_file(const uint8_t *data, size_t size, const char *suffix) {
    static char path[256];
    const char *tmp = getenv("TMPDIR");
    snprintf(path, sizeof path, "%s/tg_fuzz_%ld%s", tmp && *tmp ? tmp : "/tmp", (long)getpid(),
             suffix);
    FILE *f = fopen(path, "wb");
    if (!f) return NULL;
    int ok = fwrite(data, 1, size, f) == size;
    if (fclose(f) != 0 || !ok) return NULL;
    return path;
}

/* The same, gzip-compressed: the harness compresses its input, so every mutation is a valid
 * gzip stream whose content is the fuzzed file. */
static inline const char *fuzz_gz_file(const uint8_t *data, size_t size, const char *suffix) {
    const char *path = fuzz_file((const uint8_t *)"", 0, suffix);
    if (!path) return NULL;
    gzFile f = gzopen(path, "wb1");
    if (!f) return NULL;
    int ok = size == 0 || gzwrite(f, data, (unsigned)size) == (int)size;
    return gzclose(f) == Z_OK && ok ? path : NULL;
}

#endif
