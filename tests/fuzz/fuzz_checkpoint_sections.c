/* libFuzzer: the checkpoint section parsers, past the checksums. The input is a list of
 * sections, each `tag[4] flags[1] length[2 LE] payload[length]`; the harness writes a
 * complete file around them (header, section headers, deflate when flags bit 0 is set,
 * every CRC and the trailer computed), so mutations reach the records themselves.
 * Flags bit 1 marks a section critical; bit 2 declares a raw length one byte off; bit 3
 * byte-shuffles the payload (SHUFFLE, docs/checkpoint-format.md 2.2) before it is stored. */
#include <string.h>
#include <zlib.h>

#include "tests/fuzz/fuzz_checkpoint_common.h"

static void put_le(uint8_t *p, uint64_t v, int n) {
    for (int i = 0; i < n; i++) p[i] = (uint8_t)(v >> (8 * i));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_init();
    enum { MAX_SECTIONS = 16 };
    size_t cap = 28 + 8, pos = 0;
    int n = 0;
    while (pos + 7 <= size && n < MAX_SECTIONS) { /* first pass: sizes */
        size_t len = (size_t)data[pos + 5] | (size_t)data[pos + 6] << 8;
        if (len > size - pos - 7) len = size - pos - 7;
        cap += 32 + compressBound((uLong)len);
        pos += 7 + len;
        n++;
    }
    uint8_t *f = calloc(1, cap), *p = f + 28;
    if (!f) return 0;
    pos = 0;
    for (int s = 0; s < n; s++) {
        const uint8_t *h = data + pos;
        size_t len = (size_t)h[5] | (size_t)h[6] << 8;
        if (len > size - pos - 7) len = size - pos - 7;
        const uint8_t *payload = h + 7;
        pos += 7 + len;
        unsigned flags = (h[4] & 3u) | ((h[4] & 8u) ? 4u : 0u);
        uint8_t *sh = p, *planes = NULL;
        p += 32;
        const uint8_t *body = payload;
        if ((flags & 4) && (planes = malloc(len + 1)) != NULL) {
            const size_t m = len / 4;
            for (size_t i = 0; i < 4 * m; i++) planes[(i % 4) * m + i / 4] = payload[i];
            memcpy(planes + 4 * m, payload + 4 * m, len - 4 * m);
            body = planes;
        } else {
            flags &= ~4u;
        }
        uLongf stored = (uLongf)len;
        if (flags & 1) {
            stored = compressBound((uLong)len);
            if (compress2(p, &stored, body, (uLong)len, 1) != Z_OK) stored = 0;
        } else if (len) {
            memcpy(p, body, len);
        }
        free(planes);
        p += stored;
        memcpy(sh, h, 4);
        put_le(sh + 4, flags, 4);
        put_le(sh + 8, len + ((h[4] & 4) ? 1 : 0), 8);
        put_le(sh + 16, stored, 8);
        put_le(sh + 24, crc32(0, payload, (uInt)len), 4);
        put_le(sh + 28, crc32(0, sh, 28), 4);
    }
    size_t total = (size_t)(p - f) + 8;
    memcpy(f, "TGCK", 4);
    put_le(f + 4, 1, 2);
    put_le(f + 6, 0, 2);
    put_le(f + 12, (uint64_t)n, 4);
    put_le(f + 16, total, 8);
    put_le(f + 24, crc32(0, f, 24), 4);
    memcpy(p, "TGND", 4);
    put_le(p + 4, crc32(0, f, (uInt)(p - f)), 4);
    const char *path = fuzz_file(f, total, ".tgc");
    free(f);
    if (path) fuzz_load_and_walk(path);
    return 0;
}
