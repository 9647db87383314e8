/* Image decoding and preparation: PNG, JPEG and PGM/PPM files (format found by
 * magic bytes) become one grayscale float image in [0,1], which is then resized
 * to a model's input size and normalised. Every decoder treats its input as
 * untrusted: sizes are checked against a pixel limit before pixels are decoded.
 *
 *   tg_image img;
 *   tg_image_opts o = tg_image_opts_default(150, 150);
 *   if (tg_image_load_prepared("x.jpg", &o, &img) != TG_OK) puts(tg_last_error());
 *   ... img.data is (150,150) row-major ...
 *   tg_image_free(&img);
 */
#ifndef TG_IMAGE_H
#define TG_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "autograd/tg_error.h"
#include "autograd/tg_export.h"

TG_API_BEGIN

/* A grayscale image: data is (height, width) row-major floats, owned. */
typedef struct tg_image {
    int width, height;
    float *data;
} tg_image;

typedef enum tg_image_format {
    TG_IMAGE_UNKNOWN = 0,
    TG_IMAGE_PNG,
    TG_IMAGE_JPEG,
    TG_IMAGE_PNM, /* P2, P3, P5, P6 */
} tg_image_format;

/* How an image of another aspect ratio is fitted to the target size. */
typedef enum tg_aspect {
    TG_ASPECT_STRETCH = 0, /* scale each axis independently (default) */
    TG_ASPECT_PAD,         /* scale to fit inside, fill the borders with pad_value */
    TG_ASPECT_CROP,        /* scale to cover, cut the centre */
} tg_aspect;

/* What is done to pixel values after resizing. */
typedef enum tg_norm {
    TG_NORM_NONE = 0,    /* keep the decoded values in [0,1] (default) */
    TG_NORM_MINMAX,      /* stretch each image to span exactly [0,1] */
    TG_NORM_STANDARDIZE, /* per image: subtract its mean, divide by its std */
    TG_NORM_FIXED,       /* (x - mean) / std with the given mean and std */
} tg_norm;

/* Default pixel limit: 64 Mpx (an 8000x8000 image, 256 MB as floats). */
#define TG_IMAGE_DEFAULT_MAX_PIXELS ((uint64_t)64 * 1024 * 1024)
/* Files larger than this are refused before being read (bytes). */
#define TG_IMAGE_MAX_FILE_BYTES ((size_t)1 << 30)

typedef struct tg_image_opts {
    int width, height;   /* target size; 0,0 keeps the decoded size */
    tg_aspect aspect;    /* fitting policy when the aspect ratio differs */
    float pad_value;     /* border value for TG_ASPECT_PAD (in decoded units) */
    tg_norm norm;        /* normalisation after resizing */
    float mean, std;     /* for TG_NORM_FIXED; std must be > 0 */
    uint64_t max_pixels; /* refuse images declaring more pixels; 0 = default */
} tg_image_opts;

/* Options with a target size and every other field at its documented default. */
tg_image_opts tg_image_opts_default(int width, int height);
/* Allocate a zeroed width x height image. */
tg_status tg_image_alloc(tg_image *img, int width, int height);
/* Free an image's pixels and zero the struct (safe on a zeroed struct). */
void tg_image_free(tg_image *img);
/* The format named by the first bytes of a file (len may be short). */
tg_image_format tg_image_detect(const uint8_t *buf, size_t len);
/* A short name of a format ("png", "jpeg", "pnm", "unknown"). */
const char *tg_image_format_name(tg_image_format fmt);
/* Decode an in-memory file of any supported format; `name` is used in errors. */
tg_status tg_image_decode(const uint8_t *buf, size_t len, const char *name, uint64_t max_pixels,
                          tg_image *out);
/* Read and decode a file at its own size; max_pixels 0 = default limit. */
tg_status tg_image_load(const char *path, uint64_t max_pixels, tg_image *out);
/* Read, decode, resize and normalise a file as `opts` says. */
tg_status tg_image_load_prepared(const char *path, const tg_image_opts *opts, tg_image *out);
/* Fit src into a width x height image by the aspect policy (area average when
 * shrinking, bilinear when enlarging, per axis). */
tg_status tg_image_resize(const tg_image *src, int width, int height, tg_aspect aspect,
                          float pad_value, tg_image *out);
/* Normalise n pixels in place; fails with TG_ERR_INVALID on a bad fixed std. */
tg_status tg_image_normalize(float *px, size_t n, tg_norm norm, float mean, float std);

/* Format decoders, all from memory into a [0,1] grayscale image. */
/* PNG: 1-16 bit gray, gray+alpha, RGB, RGBA, palette, interlaced. */
tg_status tg_png_decode(const uint8_t *buf, size_t len, const char *name, uint64_t max_pixels,
                        tg_image *out);
/* JPEG: gray, RGB/YCbCr, CMYK and YCCK (Adobe inverted or plain). */
tg_status tg_jpeg_decode(const uint8_t *buf, size_t len, const char *name, uint64_t max_pixels,
                         tg_image *out);
/* JPEG decoded at a reduced scale (1/2, 1/4, 1/8 via DCT scaling) while both sides stay
 * at least twice min_width x min_height; used when the image will be shrunk anyway. */
tg_status tg_jpeg_decode_scaled(const uint8_t *buf, size_t len, const char *name,
                                uint64_t max_pixels, int min_width, int min_height, tg_image *out);
/* PGM/PPM: P2, P3, P5, P6 with maxval 1..65535 and # comments. */
tg_status tg_pnm_decode(const uint8_t *buf, size_t len, const char *name, uint64_t max_pixels,
                        tg_image *out);
/* Write 8-bit grayscale pixels (height, width) as a PNG file. */
tg_status tg_png_write_gray8(const char *path, int width, int height, const uint8_t *px);
/* Write a [0,1] float image as an 8-bit grayscale PNG (values clamped, rounded). */
tg_status tg_image_save_png(const char *path, const tg_image *img);

/* Luma weights (ITU-R BT.601, the ones JPEG's YCbCr uses) for colour input. */
#define TG_LUMA_R 0.299f
#define TG_LUMA_G 0.587f
#define TG_LUMA_B 0.114f

TG_API_END

#endif
