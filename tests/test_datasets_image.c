/* Decoding (PNG, JPEG, PGM/PPM), resizing and normalisation, including
 * truncated, corrupt and oversized inputs. Fixtures are written by the tests. */
#include <check.h>

#include "tests/tg_check.h"
#include <math.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "tests/test_datasets_fixtures.h"
#include "datasets/tg_image.h"
#include "autograd/tg_rng.h"

static char *dir;

/* memmem without _GNU_SOURCE. */
static uint8_t *find_bytes(uint8_t *hay, size_t n, const void *needle, size_t k) {
    for (size_t i = 0; i + k <= n; i++)
        if (memcmp(hay + i, needle, k) == 0) return hay + i;
    return NULL;
}

static void setup(void) {
    dir = fx_tmpdir();
}
static void teardown(void) {
    fx_rmtree(dir);
    free(dir);
}

/* Decode a file at its own size, asserting success. */
static tg_image load_ok(const char *path) {
    tg_image img;
    tg_status st = tg_image_load(path, 0, &img);
    ck_assert_msg(st == TG_OK, "%s", tg_last_error());
    return img;
}

START_TEST(test_image_formats_are_detected_by_content_and_named) {
    static const uint8_t png[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0};
    static const uint8_t jpeg[] = {0xff, 0xd8, 0xff, 0xe0, 0, 0};
    static const uint8_t pgm[] = {'P', '5', '\n', '1', ' ', '1'};
    static const uint8_t text[] = {'h', 'e', 'l', 'l', 'o', '!'};
    ck_assert_str_eq(tg_image_format_name(tg_image_detect(png, sizeof png)), "png");
    ck_assert_str_eq(tg_image_format_name(tg_image_detect(jpeg, sizeof jpeg)), "jpeg");
    ck_assert_str_eq(tg_image_format_name(tg_image_detect(pgm, sizeof pgm)), "pnm");
    ck_assert_str_eq(tg_image_format_name(tg_image_detect(text, sizeof text)), "unknown");
    ck_assert_str_eq(tg_image_format_name(tg_image_detect(png, 3)), "unknown"); /* cut short */
}
END_TEST

START_TEST(test_png_gray8_written_and_read_back_exactly) {
    uint8_t px[12] = {0, 1, 2, 127, 128, 200, 250, 255, 3, 4, 5, 6};
    const char *p = fx_path(dir, "g8.png");
    ck_assert_int_eq(tg_png_write_gray8(p, 4, 3, px), TG_OK);
    tg_image img = load_ok(p);
    ck_assert_int_eq(img.width, 4);
    ck_assert_int_eq(img.height, 3);
    for (int i = 0; i < 12; i++) ck_assert_float_eq_tol(img.data[i], px[i] / 255.0f, 1e-7);
    tg_image_free(&img);
}
END_TEST

START_TEST(test_image_save_png_clamps_and_rounds_to_8_bit) {
    float v[4] = {-0.5f, 0.0f, 0.5f, 1.7f};
    tg_image img = {2, 2, v};
    const char *p = fx_path(dir, "f.png");
    ck_assert_int_eq(tg_image_save_png(p, &img), TG_OK);
    tg_image back = load_ok(p);
    ck_assert_float_eq_tol(back.data[0], 0.0f, 1e-7);
    ck_assert_float_eq_tol(back.data[2], 128.0f / 255.0f, 1e-7);
    ck_assert_float_eq_tol(back.data[3], 1.0f, 1e-7);
    tg_image_free(&back);
    ck_assert_int_eq(tg_image_save_png(fx_path(dir, "no/such/dir.png"), &img), TG_ERR_IO);
}
END_TEST

START_TEST(test_png_16bit_gray_keeps_full_precision) {
    uint16_t s[4] = {0, 1, 32768, 65535};
    const char *p = fx_path(dir, "g16.png");
    ck_assert_int_eq(fx_png(p, 2, 2, PNG_COLOR_TYPE_GRAY, 16, 0, s, NULL, 0, NULL, 0), 0);
    tg_image img = load_ok(p);
    /* 1/65535 would read as 0 if the decoder stripped to 8 bits. */
    for (int i = 0; i < 4; i++) ck_assert_float_eq_tol(img.data[i], s[i] / 65535.0f, 1e-7);
    ck_assert(img.data[1] > 0);
    tg_image_free(&img);
}
END_TEST

START_TEST(test_png_low_bit_depths_scale_to_unit_range) {
    static const int depths[3] = {1, 2, 4};
    for (int d = 0; d < 3; d++) {
        int maxv = (1 << depths[d]) - 1;
        uint16_t s[6] = {0, (uint16_t)maxv, (uint16_t)(maxv / 2), 0, (uint16_t)maxv, 1};
        const char *p = fx_path(dir, "low.png");
        ck_assert_int_eq(fx_png(p, 3, 2, PNG_COLOR_TYPE_GRAY, depths[d], 0, s, NULL, 0, NULL, 0),
                         0);
        tg_image img = load_ok(p);
        for (int i = 0; i < 6; i++)
            ck_assert_float_eq_tol(img.data[i], (float)s[i] / (float)maxv, 1e-6);
        tg_image_free(&img);
    }
}
END_TEST

START_TEST(test_png_palette_with_transparency_uses_luma_times_alpha) {
    uint8_t pal[9] = {255, 0, 0, 0, 255, 0, 0, 0, 255};
    uint8_t trns[3] = {255, 128, 0};
    uint16_t s[3] = {0, 1, 2};
    const char *p = fx_path(dir, "pal.png");
    ck_assert_int_eq(fx_png(p, 3, 1, PNG_COLOR_TYPE_PALETTE, 8, 0, s, pal, 3, trns, 3), 0);
    tg_image img = load_ok(p);
    ck_assert_float_eq_tol(img.data[0], TG_LUMA_R, 1e-5);
    ck_assert_float_eq_tol(img.data[1], TG_LUMA_G * 128.0f / 255.0f, 1e-5);
    ck_assert_float_eq_tol(img.data[2], 0.0f, 1e-6); /* fully transparent -> black */
    tg_image_free(&img);
}
END_TEST

START_TEST(test_png_rgba16_and_gray_alpha_composite_over_black) {
    uint16_t rgba[8] = {65535, 65535, 65535, 32768, 0, 0, 65535, 65535};
    const char *p = fx_path(dir, "rgba.png");
    ck_assert_int_eq(fx_png(p, 2, 1, PNG_COLOR_TYPE_RGBA, 16, 0, rgba, NULL, 0, NULL, 0), 0);
    tg_image img = load_ok(p);
    ck_assert_float_eq_tol(img.data[0], 32768.0f / 65535.0f, 1e-4);
    ck_assert_float_eq_tol(img.data[1], TG_LUMA_B, 1e-4);
    tg_image_free(&img);
    uint16_t ga[4] = {200, 128, 255, 255};
    p = fx_path(dir, "ga.png");
    ck_assert_int_eq(fx_png(p, 2, 1, PNG_COLOR_TYPE_GRAY_ALPHA, 8, 0, ga, NULL, 0, NULL, 0), 0);
    img = load_ok(p);
    ck_assert_float_eq_tol(img.data[0], (200.0f / 255.0f) * (128.0f / 255.0f), 1e-5);
    ck_assert_float_eq_tol(img.data[1], 1.0f, 1e-6);
    tg_image_free(&img);
    uint16_t rgb[3] = {10, 20, 30};
    p = fx_path(dir, "rgb.png");
    ck_assert_int_eq(fx_png(p, 1, 1, PNG_COLOR_TYPE_RGB, 8, 0, rgb, NULL, 0, NULL, 0), 0);
    img = load_ok(p);
    ck_assert_float_eq_tol(img.data[0], (0.299f * 10 + 0.587f * 20 + 0.114f * 30) / 255.0f, 1e-5);
    tg_image_free(&img);
}
END_TEST

START_TEST(test_png_interlaced_decodes_like_plain) {
    enum { W = 13, H = 11 };
    uint16_t s[W * H];
    for (int i = 0; i < W * H; i++) s[i] = (uint16_t)((i * 37) % 256);
    const char *a = fx_path(dir, "plain.png"), *b = fx_path(dir, "adam7.png");
    ck_assert_int_eq(fx_png(a, W, H, PNG_COLOR_TYPE_GRAY, 8, 0, s, NULL, 0, NULL, 0), 0);
    ck_assert_int_eq(fx_png(b, W, H, PNG_COLOR_TYPE_GRAY, 8, 1, s, NULL, 0, NULL, 0), 0);
    tg_image x = load_ok(a), y = load_ok(b);
    ck_assert_mem_eq(x.data, y.data, sizeof(float) * W * H);
    tg_image_free(&x);
    tg_image_free(&y);
}
END_TEST

/* Every prefix of a valid file must fail cleanly with an error naming the file. */
static void check_truncations(const char *path, int step) {
    size_t len;
    uint8_t *buf = fx_read(path, &len);
    ck_assert_ptr_nonnull(buf);
    for (size_t cut = 0; cut < len; cut += (size_t)step) {
        tg_image img;
        tg_status st = tg_image_decode(buf, cut, path, 0, &img);
        ck_assert_msg(st != TG_OK, "%s: a %zu-byte prefix of %zu decoded", path, cut, len);
        ck_assert_ptr_null(img.data);
        ck_assert_ptr_nonnull(strstr(tg_last_error(), path));
    }
    free(buf);
}

START_TEST(test_png_rejects_truncated_file) {
    enum { W = 40, H = 30 };
    uint16_t s[W * H * 3];
    tg_rng r;
    tg_rng_seed(&r, 3);
    for (int i = 0; i < W * H * 3; i++) s[i] = (uint16_t)tg_rng_below(&r, 65536);
    const char *p = fx_path(dir, "t.png");
    ck_assert_int_eq(fx_png(p, W, H, PNG_COLOR_TYPE_RGB, 16, 1, s, NULL, 0, NULL, 0), 0);
    check_truncations(p, 3);
}
END_TEST

START_TEST(test_png_rejects_corrupt_idat_checksum) {
    uint8_t px[64 * 64];
    for (int i = 0; i < 64 * 64; i++) px[i] = (uint8_t)(i * 7);
    const char *p = fx_path(dir, "c.png");
    ck_assert_int_eq(tg_png_write_gray8(p, 64, 64, px), TG_OK);
    size_t len;
    uint8_t *buf = fx_read(p, &len);
    uint8_t *idat = find_bytes(buf, len, "IDAT", 4);
    ck_assert_ptr_nonnull(idat);
    idat[10] ^= 0x55;
    tg_image img;
    ck_assert_int_eq(tg_image_decode(buf, len, "c.png", 0, &img), TG_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(tg_last_error(), "c.png"));
    free(buf);
}
END_TEST

START_TEST(test_png_pixel_limit_refuses_forged_header_before_decoding) {
    /* A valid signature + IHDR declaring 100000 x 100000 and nothing else. */
    uint8_t f[8 + 25] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n',
                         0,    0,   0,   13,  'I',  'H',  'D',  'R'};
    uint32_t w = 100000, h = 100000;
    uint8_t *q = f + 16;
    q[0] = (uint8_t)(w >> 24), q[1] = (uint8_t)(w >> 16), q[2] = (uint8_t)(w >> 8),
    q[3] = (uint8_t)w;
    q[4] = (uint8_t)(h >> 24), q[5] = (uint8_t)(h >> 16), q[6] = (uint8_t)(h >> 8),
    q[7] = (uint8_t)h;
    q[8] = 8, q[9] = 0, q[10] = 0, q[11] = 0, q[12] = 0;
    uLong crc = crc32(0, f + 12, 17);
    f[29] = (uint8_t)(crc >> 24), f[30] = (uint8_t)(crc >> 16), f[31] = (uint8_t)(crc >> 8),
    f[32] = (uint8_t)crc;
    tg_image img;
    ck_assert_int_eq(tg_image_decode(f, sizeof f, "huge.png", 0, &img), TG_ERR_LIMIT);
    ck_assert_ptr_nonnull(strstr(tg_last_error(), "100000x100000"));
    /* A real image over a small configured limit is refused the same way. */
    uint8_t px[100 * 100] = {0};
    const char *p = fx_path(dir, "big.png");
    ck_assert_int_eq(tg_png_write_gray8(p, 100, 100, px), TG_OK);
    ck_assert_int_eq(tg_image_load(p, 9999, &img), TG_ERR_LIMIT);
    ck_assert_int_eq(tg_image_load(p, 10000, &img), TG_OK);
    tg_image_free(&img);
}
END_TEST

START_TEST(test_jpeg_gray_and_rgb_decode_to_bt601_luma) {
    enum { W = 32, H = 24 };
    uint8_t g[W * H], rgb[W * H * 3];
    memset(g, 128, sizeof g);
    for (int i = 0; i < W * H; i++) rgb[3 * i] = 200, rgb[3 * i + 1] = 100, rgb[3 * i + 2] = 50;
    const char *pg = fx_path(dir, "g.jpg"), *pc = fx_path(dir, "c.jpg");
    ck_assert_int_eq(fx_jpeg(pg, W, H, 1, g, 0), 0);
    ck_assert_int_eq(fx_jpeg(pc, W, H, 3, rgb, 0), 0);
    tg_image a = load_ok(pg), b = load_ok(pc);
    ck_assert_int_eq(a.width, W);
    ck_assert_int_eq(a.height, H);
    float want = (0.299f * 200 + 0.587f * 100 + 0.114f * 50) / 255.0f;
    for (int i = 0; i < W * H; i++) {
        ck_assert_float_eq_tol(a.data[i], 128.0f / 255.0f, 2.0f / 255.0f);
        ck_assert_float_eq_tol(b.data[i], want, 3.0f / 255.0f);
    }
    tg_image_free(&a);
    tg_image_free(&b);
}
END_TEST

START_TEST(test_jpeg_cmyk_adobe_inverted_converts_to_gray) {
    enum { W = 16, H = 16 };
    uint8_t px[W * H * 4];
    /* Adobe CMYK stores 255 - ink: left half K ink 50%, right half cyan ink 50%. */
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            uint8_t *p = px + 4 * (y * W + x);
            if (x < W / 2)
                p[0] = 255, p[1] = 255, p[2] = 255, p[3] = 128;
            else
                p[0] = 128, p[1] = 255, p[2] = 255, p[3] = 255;
        }
    const char *path = fx_path(dir, "cmyk.jpg");
    ck_assert_int_eq(fx_jpeg(path, W, H, 4, px, 0), 0);
    tg_image img = load_ok(path);
    float left = 128.0f / 255.0f, right = 0.299f * 128.0f / 255.0f + 0.587f + 0.114f;
    ck_assert_float_eq_tol(img.data[4 * W + 2], left, 0.03);
    ck_assert_float_eq_tol(img.data[4 * W + 13], right, 0.03);
    tg_image_free(&img);
}
END_TEST

START_TEST(test_jpeg_with_exif_header_decodes) {
    enum { W = 24, H = 8 };
    uint8_t g[W * H];
    for (int i = 0; i < W * H; i++) g[i] = (uint8_t)(i % W * 10);
    const char *p = fx_path(dir, "exif.jpg");
    ck_assert_int_eq(fx_jpeg(p, W, H, 1, g, 1), 0);
    size_t len;
    uint8_t *buf = fx_read(p, &len);
    ck_assert_ptr_nonnull(find_bytes(buf, len, "Exif\0\0II", 8));
    ck_assert_int_eq(tg_image_detect(buf, len), TG_IMAGE_JPEG);
    free(buf);
    tg_image img = load_ok(p);
    ck_assert_float_eq_tol(img.data[W + 20], 200.0f / 255.0f, 8.0f / 255.0f);
    tg_image_free(&img);
}
END_TEST

START_TEST(test_jpeg_shrunk_on_load_uses_dct_scaling_with_close_result) {
    enum { W = 256, H = 192 };
    uint8_t *g = malloc(W * H);
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
            g[y * W + x] = (uint8_t)(127 + 100 * sin(x / 20.0) * cos(y / 15.0));
    const char *p = fx_path(dir, "big.jpg");
    ck_assert_int_eq(fx_jpeg(p, W, H, 1, g, 0), 0);
    free(g);
    size_t len;
    uint8_t *buf = fx_read(p, &len);
    tg_image small;
    /* Largest 1/2^k keeping both sides >= 2 x 16x12: 1/8 gives 32x24. */
    ck_assert_int_eq(tg_jpeg_decode_scaled(buf, len, "big.jpg", 1 << 20, 16, 12, &small), TG_OK);
    ck_assert_int_eq(small.width, 32);
    ck_assert_int_eq(small.height, 24);
    tg_image_free(&small);
    ck_assert_int_eq(tg_jpeg_decode_scaled(buf, len, "big.jpg", 1 << 20, 100, 10, &small), TG_OK);
    ck_assert_int_eq(small.width, 256); /* 1/2 would give 128 < 200 */
    tg_image_free(&small);
    free(buf);
    /* The prepared (scaled) path stays close to full decode + area average. */
    tg_image full = load_ok(p), ref, fast;
    ck_assert_int_eq(tg_image_resize(&full, 16, 12, TG_ASPECT_STRETCH, 0, &ref), TG_OK);
    tg_image_opts o = tg_image_opts_default(16, 12);
    ck_assert_int_eq(tg_image_load_prepared(p, &o, &fast), TG_OK);
    for (int i = 0; i < 16 * 12; i++) ck_assert_float_eq_tol(fast.data[i], ref.data[i], 0.02);
    tg_image_free(&full);
    tg_image_free(&ref);
    tg_image_free(&fast);
}
END_TEST

START_TEST(test_jpeg_rejects_truncated_file) {
    enum { W = 64, H = 48 };
    uint8_t rgb[W * H * 3];
    tg_rng r;
    tg_rng_seed(&r, 5);
    for (int i = 0; i < W * H * 3; i++) rgb[i] = (uint8_t)tg_rng_below(&r, 256);
    const char *p = fx_path(dir, "t.jpg");
    ck_assert_int_eq(fx_jpeg(p, W, H, 3, rgb, 1), 0);
    check_truncations(p, 5);
}
END_TEST

/* Issue 10, failure 4: a JPEG cut inside its entropy-coded data and closed with an
 * end-of-image marker (libjpeg's "hit marker" warning, then grey padding) is an error, at
 * every cut point; so is one that just stops. */
START_TEST(test_jpeg_cut_and_closed_with_eoi_is_an_error) {
    enum { W = 64, H = 48 };
    uint8_t rgb[W * H * 3];
    tg_rng r;
    tg_rng_seed(&r, 9);
    for (int i = 0; i < W * H * 3; i++) rgb[i] = (uint8_t)tg_rng_below(&r, 256);
    const char *p = fx_path(dir, "cut.jpg");
    ck_assert_int_eq(fx_jpeg(p, W, H, 3, rgb, 0), 0);
    size_t len;
    uint8_t *buf = fx_read(p, &len);
    ck_assert_ptr_nonnull(buf);
    uint8_t *sos = find_bytes(buf, len, "\xff\xda", 2);
    ck_assert_ptr_nonnull(sos);
    size_t scan = (size_t)(sos - buf) + 2 + ((size_t)sos[2] << 8 | sos[3]);
    uint8_t *cut = malloc(len + 2);
    ck_assert_ptr_nonnull(cut);
    int tried = 0;
    for (size_t at = scan + 1; at + 2 < len; at += 7) {
        if (buf[at - 1] == 0xff) continue; /* keep the marker we append well-formed */
        memcpy(cut, buf, at);
        cut[at] = 0xff, cut[at + 1] = 0xd9;
        tg_image img;
        tg_status st = tg_image_decode(cut, at + 2, "cut.jpg", 0, &img);
        ck_assert_msg(st == TG_ERR_FORMAT, "cut at %zu of %zu + EOI decoded (%s)", at, len,
                      tg_status_name(st));
        ck_assert_ptr_null(img.data);
        ck_assert_msg(strstr(tg_last_error(), "truncated") != NULL, "%s", tg_last_error());
        tried++;
    }
    ck_assert_int_gt(tried, 50);
    free(cut);
    free(buf);
}
END_TEST

START_TEST(test_jpeg_pixel_limit_refuses_before_decoding) {
    uint8_t g[64 * 64] = {0};
    const char *p = fx_path(dir, "l.jpg");
    ck_assert_int_eq(fx_jpeg(p, 64, 64, 1, g, 0), 0);
    tg_image img;
    ck_assert_int_eq(tg_image_load(p, 64 * 64 - 1, &img), TG_ERR_LIMIT);
    ck_assert_ptr_nonnull(strstr(tg_last_error(), "64x64"));
    ck_assert_int_eq(tg_image_load(p, 64 * 64, &img), TG_OK);
    tg_image_free(&img);
}
END_TEST

START_TEST(test_pnm_all_four_kinds_with_comments_and_16bit) {
    const char *p2 = "P2\n# a comment\n3 1\n# another\n10\n0 5 10\n";
    const char *p3 = "P3 1 1 255\n255 0 0\n";
    uint8_t p5[] = "P5\n2 1\n1000\n\x03\xe8\x01\xf4";
    uint8_t p6[] = "P6 1 1 255\n\x00\xff\x00";
    tg_image img;
    ck_assert_int_eq(tg_image_decode((const uint8_t *)p2, strlen(p2), "a.pgm", 0, &img), TG_OK);
    ck_assert_float_eq_tol(img.data[1], 0.5f, 1e-6);
    ck_assert_float_eq_tol(img.data[2], 1.0f, 1e-6);
    tg_image_free(&img);
    ck_assert_int_eq(tg_image_decode((const uint8_t *)p3, strlen(p3), "b.ppm", 0, &img), TG_OK);
    ck_assert_float_eq_tol(img.data[0], TG_LUMA_R, 1e-6);
    tg_image_free(&img);
    ck_assert_int_eq(tg_image_decode(p5, sizeof p5 - 1, "c.pgm", 0, &img), TG_OK);
    ck_assert_float_eq_tol(img.data[0], 1.0f, 1e-6); /* 0x03e8 = 1000 = maxval */
    ck_assert_float_eq_tol(img.data[1], 0.5f, 1e-6); /* 0x01f4 = 500 */
    tg_image_free(&img);
    ck_assert_int_eq(tg_image_decode(p6, sizeof p6 - 1, "d.ppm", 0, &img), TG_OK);
    ck_assert_float_eq_tol(img.data[0], TG_LUMA_G, 1e-6);
    tg_image_free(&img);
}
END_TEST

START_TEST(test_pnm_rejects_bad_headers_samples_and_truncation) {
    const char *bad[] = {"P5\n2 2\n255\n\x01\x02\x03", /* 3 of 4 bytes */
                         "P2\n2 1\n255\n1\n",          /* 1 of 2 samples */
                         "P2\n1 1\n10\n11\n",          /* sample > maxval */
                         "P5\n0 1\n255\n",             /* zero width */
                         "P5\n1 1\n70000\n\x00\x00",   /* maxval too big */
                         "P6\n1 1\n",                  /* header cut */
                         "P2\n99999999999 1\n255\n"};  /* absurd width */
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        tg_image img;
        tg_status st = tg_image_decode((const uint8_t *)bad[i], strlen(bad[i]), "x.pgm", 0, &img);
        ck_assert_msg(st == TG_ERR_FORMAT || st == TG_ERR_LIMIT, "case %zu: %s", i,
                      tg_status_name(st));
        ck_assert_ptr_nonnull(strstr(tg_last_error(), "x.pgm"));
    }
    tg_image img;
    const char *huge = "P5 60000 60000 255\n";
    ck_assert_int_eq(tg_image_decode((const uint8_t *)huge, strlen(huge), "h.pgm", 0, &img),
                     TG_ERR_LIMIT);
}
END_TEST

START_TEST(test_format_detected_by_magic_bytes_not_extension) {
    uint8_t px[4] = {0, 85, 170, 255};
    const char *p = fx_path(dir, "actually_png.jpg");
    ck_assert_int_eq(tg_png_write_gray8(p, 2, 2, px), TG_OK);
    tg_image img = load_ok(p);
    ck_assert_float_eq_tol(img.data[2], 170.0f / 255.0f, 1e-6);
    tg_image_free(&img);
    const char *txt = fx_path(dir, "notes.png");
    fx_write(txt, "hello, world", 12);
    ck_assert_int_eq(tg_image_load(txt, 0, &img), TG_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(tg_last_error(), "not a PNG, JPEG or PGM/PPM"));
    fx_write(txt, "", 0);
    ck_assert_int_eq(tg_image_load(txt, 0, &img), TG_ERR_FORMAT);
    ck_assert_int_eq(tg_image_load(fx_path(dir, "missing.png"), 0, &img), TG_ERR_IO);
}
END_TEST

/* Mutate valid files at random; every outcome must be a clean TG_OK or error. */
START_TEST(test_decoders_survive_random_corruption) {
    enum { W = 20, H = 20 };
    uint8_t g[W * H * 3];
    for (int i = 0; i < W * H * 3; i++) g[i] = (uint8_t)(i * 13);
    const char *files[3] = {fx_path(dir, "f.png"), fx_path(dir, "f.jpg"), fx_path(dir, "f.ppm")};
    ck_assert_int_eq(tg_png_write_gray8(files[0], W, H, g), TG_OK);
    ck_assert_int_eq(fx_jpeg(files[1], W, H, 3, g, 1), 0);
    char hdr[32];
    int hl = snprintf(hdr, sizeof hdr, "P6\n%d %d\n255\n", W, H);
    uint8_t ppm[32 + W * H * 3];
    memcpy(ppm, hdr, (size_t)hl);
    memcpy(ppm + hl, g, sizeof g);
    fx_write(files[2], ppm, (size_t)hl + sizeof g);
    tg_rng r;
    tg_rng_seed(&r, 11);
    for (int f = 0; f < 3; f++) {
        size_t len;
        uint8_t *orig = fx_read(files[f], &len);
        uint8_t *buf = malloc(len);
        for (int it = 0; it < 300; it++) {
            memcpy(buf, orig, len);
            int flips = 1 + (int)tg_rng_below(&r, 4);
            for (int k = 0; k < flips; k++)
                buf[tg_rng_below(&r, len)] = (uint8_t)tg_rng_below(&r, 256);
            tg_image img;
            tg_status st = tg_image_decode(buf, len, files[f], 1 << 20, &img);
            if (st == TG_OK) {
                ck_assert(img.width > 0 && img.height > 0);
                for (int i = 0; i < img.width * img.height; i++)
                    ck_assert(img.data[i] >= 0.0f && img.data[i] <= 1.0f);
                tg_image_free(&img);
            } else {
                ck_assert_ptr_null(img.data);
            }
        }
        free(buf);
        free(orig);
    }
}
END_TEST

START_TEST(test_resize_area_average_when_shrinking) {
    float d[16] = {1, 3, 5, 7, 1, 3, 5, 7, 0, 0, 2, 2, 0, 0, 2, 2};
    tg_image src = {4, 4, d}, out;
    ck_assert_int_eq(tg_image_resize(&src, 2, 2, TG_ASPECT_STRETCH, 0, &out), TG_OK);
    ck_assert_float_eq_tol(out.data[0], 2.0f, 1e-6);
    ck_assert_float_eq_tol(out.data[1], 6.0f, 1e-6);
    ck_assert_float_eq_tol(out.data[2], 0.0f, 1e-6);
    ck_assert_float_eq_tol(out.data[3], 2.0f, 1e-6);
    tg_image_free(&out);
    /* 3 -> 2: each output covers 1.5 inputs, the middle one split in half. */
    float e[3] = {0, 3, 6};
    tg_image s3 = {3, 1, e};
    ck_assert_int_eq(tg_image_resize(&s3, 2, 1, TG_ASPECT_STRETCH, 0, &out), TG_OK);
    ck_assert_float_eq_tol(out.data[0], (0 + 0.5f * 3) / 1.5f, 1e-5);
    ck_assert_float_eq_tol(out.data[1], (0.5f * 3 + 6) / 1.5f, 1e-5);
    tg_image_free(&out);
}
END_TEST

START_TEST(test_resize_bilinear_when_enlarging_and_identity_at_same_size) {
    float d[2] = {0, 1};
    tg_image src = {2, 1, d}, out;
    ck_assert_int_eq(tg_image_resize(&src, 4, 1, TG_ASPECT_STRETCH, 0, &out), TG_OK);
    float want[4] = {0, 0.25f, 0.75f, 1};
    for (int i = 0; i < 4; i++) ck_assert_float_eq_tol(out.data[i], want[i], 1e-6);
    tg_image_free(&out);
    float g[6] = {0.1f, 0.2f, 0.3f, 0.4f, 0.5f, 0.6f};
    tg_image s = {3, 2, g};
    ck_assert_int_eq(tg_image_resize(&s, 3, 2, TG_ASPECT_STRETCH, 0, &out), TG_OK);
    ck_assert_mem_eq(out.data, g, sizeof g);
    tg_image_free(&out);
}
END_TEST

START_TEST(test_resize_pad_and_crop_keep_the_aspect_ratio) {
    float d[8] = {0, 1, 1, 0, 0, 1, 1, 0}; /* 4 wide, 2 high */
    tg_image src = {4, 2, d}, out;
    ck_assert_int_eq(tg_image_resize(&src, 4, 4, TG_ASPECT_PAD, -1.0f, &out), TG_OK);
    for (int x = 0; x < 4; x++) {
        ck_assert_float_eq_tol(out.data[x], -1.0f, 1e-6);      /* top border */
        ck_assert_float_eq_tol(out.data[12 + x], -1.0f, 1e-6); /* bottom border */
        ck_assert_float_eq_tol(out.data[4 + x], d[x], 1e-6);   /* image rows intact */
    }
    tg_image_free(&out);
    ck_assert_int_eq(tg_image_resize(&src, 2, 2, TG_ASPECT_CROP, 0, &out), TG_OK);
    for (int i = 0; i < 4; i++) ck_assert_float_eq_tol(out.data[i], 1.0f, 1e-6); /* centre */
    tg_image_free(&out);
    ck_assert_int_eq(tg_image_resize(&src, 2, 2, TG_ASPECT_STRETCH, 0, &out), TG_OK);
    for (int i = 0; i < 4; i++) ck_assert_float_eq_tol(out.data[i], 0.5f, 1e-6);
    tg_image_free(&out);
}
END_TEST

START_TEST(test_normalize_modes) {
    float a[4] = {0.2f, 0.4f, 0.6f, 0.8f}, b[4], c[4];
    memcpy(b, a, sizeof a);
    memcpy(c, a, sizeof a);
    ck_assert_int_eq(tg_image_normalize(a, 4, TG_NORM_MINMAX, 0, 1), TG_OK);
    ck_assert_float_eq_tol(a[0], 0.0f, 1e-6);
    ck_assert_float_eq_tol(a[3], 1.0f, 1e-6);
    ck_assert_int_eq(tg_image_normalize(b, 4, TG_NORM_STANDARDIZE, 0, 1), TG_OK);
    double m = 0, v = 0;
    for (int i = 0; i < 4; i++) m += b[i] / 4.0;
    for (int i = 0; i < 4; i++) v += (b[i] - m) * (b[i] - m) / 4.0;
    ck_assert_double_eq_tol(m, 0.0, 1e-6);
    ck_assert_double_eq_tol(v, 1.0, 1e-5);
    ck_assert_int_eq(tg_image_normalize(c, 4, TG_NORM_FIXED, 0.5f, 0.25f), TG_OK);
    ck_assert_float_eq_tol(c[0], -1.2f, 1e-5);
    ck_assert_int_eq(tg_image_normalize(c, 4, TG_NORM_FIXED, 0.5f, 0.0f), TG_ERR_INVALID);
    /* A bad mean is named as the mean, not blamed on a good std. */
    ck_assert_int_eq(tg_image_normalize(c, 4, TG_NORM_FIXED, NAN, 1.0f), TG_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(tg_last_error(), "fixed mean must be a finite number"));
}
END_TEST

START_TEST(test_load_prepared_resizes_and_normalizes) {
    uint8_t px[30 * 20];
    for (int i = 0; i < 30 * 20; i++) px[i] = (uint8_t)(i % 30 * 8);
    const char *p = fx_path(dir, "prep.png");
    ck_assert_int_eq(tg_png_write_gray8(p, 30, 20, px), TG_OK);
    tg_image_opts o = tg_image_opts_default(10, 10);
    o.norm = TG_NORM_MINMAX;
    tg_image img;
    ck_assert_int_eq(tg_image_load_prepared(p, &o, &img), TG_OK);
    ck_assert_int_eq(img.width, 10);
    ck_assert_int_eq(img.height, 10);
    ck_assert_float_eq_tol(img.data[0], 0.0f, 1e-6);
    ck_assert_float_eq_tol(img.data[9], 1.0f, 1e-6);
    tg_image_free(&img);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("datasets_image");
    TCase *t = tcase_create("decode");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_set_timeout(t, 120);
    tcase_add_test(t, test_image_formats_are_detected_by_content_and_named);
    tcase_add_test(t, test_png_gray8_written_and_read_back_exactly);
    tcase_add_test(t, test_image_save_png_clamps_and_rounds_to_8_bit);
    tcase_add_test(t, test_png_16bit_gray_keeps_full_precision);
    tcase_add_test(t, test_png_low_bit_depths_scale_to_unit_range);
    tcase_add_test(t, test_png_palette_with_transparency_uses_luma_times_alpha);
    tcase_add_test(t, test_png_rgba16_and_gray_alpha_composite_over_black);
    tcase_add_test(t, test_png_interlaced_decodes_like_plain);
    tcase_add_test(t, test_png_rejects_truncated_file);
    tcase_add_test(t, test_png_rejects_corrupt_idat_checksum);
    tcase_add_test(t, test_png_pixel_limit_refuses_forged_header_before_decoding);
    tcase_add_test(t, test_jpeg_gray_and_rgb_decode_to_bt601_luma);
    tcase_add_test(t, test_jpeg_cmyk_adobe_inverted_converts_to_gray);
    tcase_add_test(t, test_jpeg_cut_and_closed_with_eoi_is_an_error);
    tcase_add_test(t, test_jpeg_with_exif_header_decodes);
    tcase_add_test(t, test_jpeg_shrunk_on_load_uses_dct_scaling_with_close_result);
    tcase_add_test(t, test_jpeg_rejects_truncated_file);
    tcase_add_test(t, test_jpeg_pixel_limit_refuses_before_decoding);
    tcase_add_test(t, test_pnm_all_four_kinds_with_comments_and_16bit);
    tcase_add_test(t, test_pnm_rejects_bad_headers_samples_and_truncation);
    tcase_add_test(t, test_format_detected_by_magic_bytes_not_extension);
    tcase_add_test(t, test_decoders_survive_random_corruption);
    suite_add_tcase(s, t);
    TCase *r = tcase_create("resize");
    tcase_add_checked_fixture(r, setup, teardown);
    tcase_add_test(r, test_resize_area_average_when_shrinking);
    tcase_add_test(r, test_resize_bilinear_when_enlarging_and_identity_at_same_size);
    tcase_add_test(r, test_resize_pad_and_crop_keep_the_aspect_ratio);
    tcase_add_test(r, test_normalize_modes);
    tcase_add_test(r, test_load_prepared_resizes_and_normalizes);
    suite_add_tcase(s, r);
    return s;
}

int main(void) {
    return tg_check_run(suite());
}
