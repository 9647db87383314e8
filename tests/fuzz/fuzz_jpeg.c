/* libFuzzer: the JPEG decoder at full size and with DCT scaling (the first input byte picks
 * the target size the scaled decode shrinks towards). */
#include "tests/fuzz/fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_init();
    if (size < 1) return 0;
    tg_image img;
    int target = 1 + data[0] % 64;
    tg_status st = data[0] & 0x80
                       ? tg_jpeg_decode_scaled(data + 1, size - 1, "fuzz.jpg", FUZZ_MAX_PIXELS,
                                               target, target, &img)
                       : tg_jpeg_decode(data + 1, size - 1, "fuzz.jpg", FUZZ_MAX_PIXELS, &img);
    if (st == TG_OK) {
        volatile float sink = img.data[(size_t)img.width * (size_t)img.height - 1];
        (void)sink;
        tg_image_free(&img);
    }
    return 0;
}
