/* libFuzzer: the decoded-image cache reader. The input is the cache's content, compressed
 * by the harness (fuzz_gz_file), so every mutation reaches the parser; the key and the
 * wanted items are those of make_seeds' cache seeds (fuzz_cache_common.h), so hits happen too. */
#include "tests/fuzz/fuzz_cache_common.h"
#include "tests/fuzz/fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_init();
    const char *path = fuzz_gz_file(data, size, ".tgc");
    if (!path) return 0;
    float px[FUZZ_CACHE_ITEMS][FUZZ_CACHE_PIXELS];
    tg_cache_item items[FUZZ_CACHE_ITEMS];
    fuzz_cache_items(items, px);
    char note[128];
    tg_cache_read(path, &fuzz_cache_key, items, FUZZ_CACHE_ITEMS, note, sizeof note);
    volatile float sink = 0.0f;
    for (int i = 0; i < FUZZ_CACHE_ITEMS; i++)
        if (items[i].hit)
            sink += px[i][FUZZ_CACHE_PIXELS - 1]; /* a hit's pixels were all written */
    (void)sink;
    return 0;
}
