/* libFuzzer: the Netpbm decoder (P2, P3, P5, P6; 8- and 16-bit samples, comments). */
#include "datasets/tg_image.h"
#include "tests/fuzz/fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_init();
    tg_image img;
    if (tg_pnm_decode(data, size, "fuzz.pgm", FUZZ_MAX_PIXELS, &img) == TG_OK) {
        volatile float sink = img.data[(size_t)img.width * (size_t)img.height - 1];
        (void)sink;
        tg_image_free(&img);
    }
    return 0;
}
