/* libFuzzer: the decoded-image cache reader. The input is the cache's content, compressed
 * by the harness (fuzz_gz_file), so every mutation reaches the parser; the key and
 * the wanted items are those of make_seeds' cache seeds, so hits happen too. */
#include "datasets/tg_cache.h"
#include "tests/fuzz/fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_init();
    const char *path = fuzz_gz_file(data, size, ".tgc");
    if (!path) return 0;
    const tg_cache_key key = {3, 2, 0, 0.0f};
    float px[3][6];
    tg_cache_item items[3] = {
        {"a.png", 100, 5, px[0], 0}, {"dir/b.jpg", 2000, 7, px[1], 0}, {"c.pgm", 30, 11, px[2], 0}};
    char note[128];
    size_t hits = tg_cache_read(path, &key, items, 3, note, sizeof note);
    volatile float sink = 0.0f;
    for (int i = 0; i < 3; i++)
        if (items[i].hit) sink += px[i][5]; /* a hit's pixels were all written */
    (void)sink;
    (void)hits;
    return 0;
}
