/* libFuzzer: the IDX reader on the raw bytes as a file (plain, or gzip when the input starts
 * with gzip's magic), header first, then the whole array, then as a dataset (images + the
 * same file as labels). */
#include "tests/fuzz/fuzz_idx_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_init();
    const char *path = fuzz_file(data, size, ".idx");
    if (path) fuzz_idx_file(path);
    return 0;
}
