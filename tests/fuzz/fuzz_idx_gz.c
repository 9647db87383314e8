/* libFuzzer: the IDX reader through gzip: the input is compressed by the harness, so every
 * mutation is a valid gzip stream whose content is the fuzzed IDX file. */
#include "tests/fuzz/fuzz_idx_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_init();
    const char *path = fuzz_gz_file(data, size, ".idx.gz");
    if (path) fuzz_idx_file(path);
    return 0;
}
