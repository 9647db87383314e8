/* libFuzzer: the PNG decoder (every colour type, bit depth and interlacing). */
#include "tests/fuzz/fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_init();
    tg_image img;
    if (tg_png_decode(data, size, "fuzz.png", FUZZ_MAX_PIXELS, &img) == TG_OK) {
        volatile float sink = img.data[(size_t)img.width * (size_t)img.height - 1];
        (void)sink;
        tg_image_free(&img);
    }
    return 0;
}
