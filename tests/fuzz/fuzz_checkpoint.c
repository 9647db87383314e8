/* libFuzzer: the checkpoint loader on raw bytes (every checksum must hold, so this mostly
 * exercises the container checks; fuzz_checkpoint_sections gets past the checksums). A file
 * that loads is read back through every accessor. */
#include "tests/fuzz/fuzz_checkpoint_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_init();
    const char *path = fuzz_file(data, size, ".tgc");
    if (path) fuzz_load_and_walk(path);
    return 0;
}
