/* Shared by the IDX harnesses: read a file every way the library reads IDX. */
#ifndef TG_FUZZ_IDX_COMMON_H
#define TG_FUZZ_IDX_COMMON_H

#include "tests/fuzz/fuzz_common.h"

static inline void fuzz_idx_file(const char *path) {
    tg_idx idx;
    if (tg_idx_read_header(path, &idx) != TG_OK) return;
    if (tg_idx_read(path, 0, &idx) == TG_OK) {
        volatile uint8_t sink = 0;
        size_t bytes = idx.count * idx.elem_size;
        if (bytes) sink ^= ((const uint8_t *)idx.data)[bytes - 1];
        (void)sink;
        tg_idx_free(&idx);
    }
    tg_dataset_opts o = tg_dataset_opts_default(0, 0);
    o.image.max_pixels = FUZZ_MAX_PIXELS;
    tg_dataset ds;
    if (tg_dataset_load_idx(path, path, NULL, &o, &ds) == TG_OK) tg_dataset_free(&ds);
}

#endif
