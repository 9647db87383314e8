/* libFuzzer: the IDX reader through gzip: the input is compressed by the harness, so every
 * mutation is a valid gzip stream whose content is the fuzzed IDX file. */
#include <zlib.h>

#include "tests/fuzz/fuzz_idx_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_init();
    const char *path = fuzz_file((const uint8_t *)"", 0, ".idx.gz");
    if (!path) return 0;
    gzFile f = gzopen(path, "wb1");
    if (!f) return 0;
    int ok = size == 0 || gzwrite(f, data, (unsigned)size) == (int)size;
    if (gzclose(f) != Z_OK || !ok) return 0;
    fuzz_idx_file(path);
    return 0;
}
