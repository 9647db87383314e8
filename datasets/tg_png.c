/* PNG through libpng: every colour type and bit depth to [0,1] gray, and an
 * 8-bit gray writer. libpng reports errors by longjmp, so all state that must
 * survive a longjmp lives in a heap context, never in non-volatile locals. */
#include "datasets/tg_image.h"

#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/tg_budget.h"
#include "datasets/tg_ds_util.h"

/* Largest ancillary chunk libpng may allocate (pixel data is streamed, not limited). */
#define TG_PNG_MAX_CHUNK_BYTES ((png_alloc_size_t)8 << 20)

typedef struct png_ctx {
    const uint8_t *buf;
    size_t len, pos;
    uint8_t *pixels; /* one row, or the whole image when interlaced */
    png_bytep *rows; /* row pointers into pixels (interlaced only) */
    float *out;      /* the gray image being filled */
    char msg[200];   /* libpng's error message */
} png_ctx;

static void on_error(png_structp png, png_const_charp msg) {
    png_ctx *c = png_get_error_ptr(png);
    snprintf(c->msg, sizeof c->msg, "%s", msg);
    png_longjmp(png, 1);
}

static void on_warning(png_structp png, png_const_charp msg) {
    (void)png; /* benign ancillary-chunk complaints; real damage raises an error */
    (void)msg;
}

static void mem_read(png_structp png, png_bytep dst, png_size_t n) {
    png_ctx *c = png_get_io_ptr(png);
    if (n > c->len - c->pos) png_error(png, "file ends early (truncated)");
    memcpy(dst, c->buf + c->pos, n);
    c->pos += n;
}

/* Convert one decoded row (8 or 16 bit, 1-4 channels) to gray floats. Colour
 * uses BT.601 luma; alpha composites over black (gray * alpha), so transparent
 * regions read as background, as on a radiograph. */
static void row_to_gray(const uint8_t *row, int width, int channels, int depth, float *out) {
    const float inv = depth == 16 ? 1.0f / 65535.0f : 1.0f / 255.0f;
    for (int x = 0; x < width; x++) {
        float v[4];
        for (int ch = 0; ch < channels; ch++) {
            size_t i = (size_t)x * (size_t)channels + (size_t)ch;
            unsigned s = depth == 16 ? ((unsigned)row[2 * i] << 8) | row[2 * i + 1] : row[i];
            v[ch] = (float)s * inv;
        }
        float g;
        switch (channels) {
        case 1:
            g = v[0];
            break;
        case 2:
            g = v[0] * v[1];
            break;
        case 3:
            g = TG_LUMA_R * v[0] + TG_LUMA_G * v[1] + TG_LUMA_B * v[2];
            break;
        default:
            g = (TG_LUMA_R * v[0] + TG_LUMA_G * v[1] + TG_LUMA_B * v[2]) * v[3];
            break;
        }
        out[x] = g;
    }
}

/* Walk the chunk list before libpng sees it: libpng allocates a text or sPLT chunk at its
 * declared length before reading it, so a chunk that claims more bytes than the file has
 * left would cost up to 2 GiB for nothing. Every chunk must fit in what remains. */
static tg_status check_chunk_lengths(const uint8_t *buf, size_t len, const char *name) {
    size_t pos = 8; /* after the signature; a bad signature is libpng's to report */
    while (pos + 8 <= len) {
        uint64_t n = ((uint64_t)buf[pos] << 24) | ((uint64_t)buf[pos + 1] << 16) |
                     ((uint64_t)buf[pos + 2] << 8) | buf[pos + 3];
        if (n > 0x7fffffffu || n + 12 > len - pos)
            return tg_error(TG_ERR_FORMAT,
                            "%s: corrupt or truncated PNG: chunk %.4s at byte %zu declares %llu "
                            "bytes but the file has %zu left",
                            name, (const char *)buf + pos + 4, pos, (unsigned long long)n,
                            len - pos - 8);
        if (memcmp(buf + pos + 4, "IEND", 4) == 0) break;
        pos += 12 + (size_t)n;
    }
    return TG_OK;
}

tg_status tg_png_decode(const uint8_t *buf, size_t len, const char *name, uint64_t max_pixels,
                        tg_image *out) {
    out->width = out->height = 0;
    out->data = NULL;
    /* IHDR must come first (signature, length, "IHDR", width, height): check the
     * declared size here, because libpng reads on to the first IDAT before it
     * hands the header back, and a forged file may have nothing after IHDR. */
    if (len >= 24 && memcmp(buf + 12, "IHDR", 4) == 0) {
        uint64_t w = ((uint64_t)buf[16] << 24) | ((uint64_t)buf[17] << 16) |
                     ((uint64_t)buf[18] << 8) | buf[19];
        uint64_t h = ((uint64_t)buf[20] << 24) | ((uint64_t)buf[21] << 16) |
                     ((uint64_t)buf[22] << 8) | buf[23];
        if (w * h > max_pixels)
            return tg_error(TG_ERR_LIMIT,
                            "%s: PNG declares %llux%llu pixels, over the limit of %llu; "
                            "raise max_pixels if the image is genuine",
                            name, (unsigned long long)w, (unsigned long long)h,
                            (unsigned long long)max_pixels);
    }
    tg_status st = check_chunk_lengths(buf, len, name);
    if (st) return st;
    png_ctx *c = calloc(1, sizeof *c);
    if (!c) return tg_error(TG_ERR_NOMEM, "%s: out of memory", name);
    c->buf = buf;
    c->len = len;
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, c, on_error, on_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!png || !info) {
        png_destroy_read_struct(png ? &png : NULL, NULL, NULL);
        free(c);
        return tg_error(TG_ERR_NOMEM, "%s: out of memory for the PNG decoder", name);
    }
    /* Returned through these after a longjmp; only set before setjmp or via c. */
    st = TG_OK;
    if (setjmp(png_jmpbuf(png))) {
        st = tg_error(TG_ERR_FORMAT, "%s: corrupt or truncated PNG: %s", name, c->msg);
        goto done;
    }
    png_set_read_fn(png, c, mem_read);
    /* libpng allocates an ancillary chunk (text, sPLT, ...) at its declared length before
     * reading it: cap that, so a 100-byte file cannot ask for a gigabyte. */
    png_set_chunk_malloc_max(png, TG_PNG_MAX_CHUNK_BYTES);
    png_read_info(png, info);
    png_uint_32 w = png_get_image_width(png, info), h = png_get_image_height(png, info);
    uint64_t npx;
    if (!tg_ds_mul3(w, h, 1, &npx) || npx > max_pixels || w > INT32_MAX / 4 || h > INT32_MAX / 4) {
        st = tg_error(TG_ERR_LIMIT,
                      "%s: PNG declares %ux%u pixels, over the limit of %llu; "
                      "raise max_pixels if the image is genuine",
                      name, (unsigned)w, (unsigned)h, (unsigned long long)max_pixels);
        goto done;
    }
    /* Palette -> RGB, gray < 8 bit -> 8 bit, tRNS -> alpha; 16 bit is kept. */
    png_set_expand(png);
    int passes = png_set_interlace_handling(png);
    png_read_update_info(png, info);
    int channels = png_get_channels(png, info);
    int depth = png_get_bit_depth(png, info);
    size_t rowbytes = png_get_rowbytes(png, info);
    if (channels < 1 || channels > 4 || (depth != 8 && depth != 16) ||
        rowbytes < (size_t)w * (size_t)channels * (size_t)(depth / 8)) {
        st = tg_error(TG_ERR_FORMAT, "%s: unsupported PNG layout (%d channels, %d bit)", name,
                      channels, depth);
        goto done;
    }
    /* What this image costs: the gray floats, and the decoded rows (all of them when
     * interlaced). Checked against the memory budget before anything is allocated. */
    uint64_t cost =
        4 * npx + (passes > 1 ? ((uint64_t)rowbytes + sizeof(png_bytep)) * h : rowbytes);
    char what[96];
    snprintf(what, sizeof what, "%s: a %ux%u PNG", name, (unsigned)w, (unsigned)h);
    if ((st = tg_memory_check(cost, what))) goto done;
    c->out = malloc(sizeof(float) * (size_t)npx);
    if (!c->out) {
        st = tg_error(TG_ERR_NOMEM, "%s: out of memory for %ux%u pixels", name, (unsigned)w,
                      (unsigned)h);
        goto done;
    }
    if (passes > 1) {
        /* Adam7 rows are revisited by later passes, so the whole image is kept. */
        uint64_t total;
        if (!tg_ds_mul3(rowbytes, h, 1, &total) || total > SIZE_MAX / 2) {
            st = tg_error(TG_ERR_LIMIT, "%s: interlaced PNG too large to buffer", name);
            goto done;
        }
        c->pixels = malloc((size_t)total);
        c->rows = malloc(sizeof(png_bytep) * (size_t)h);
        if (!c->pixels || !c->rows) {
            st = tg_error(TG_ERR_NOMEM, "%s: out of memory for an interlaced PNG", name);
            goto done;
        }
        for (png_uint_32 y = 0; y < h; y++) c->rows[y] = c->pixels + (size_t)y * rowbytes;
        png_read_image(png, c->rows);
        for (png_uint_32 y = 0; y < h; y++)
            row_to_gray(c->rows[y], (int)w, channels, depth, c->out + (size_t)y * w);
    } else {
        c->pixels = malloc(rowbytes);
        if (!c->pixels) {
            st = tg_error(TG_ERR_NOMEM, "%s: out of memory for a PNG row", name);
            goto done;
        }
        for (png_uint_32 y = 0; y < h; y++) {
            png_read_row(png, c->pixels, NULL);
            row_to_gray(c->pixels, (int)w, channels, depth, c->out + (size_t)y * w);
        }
    }
    /* Read to IEND so a file cut after the pixel data is still caught. */
    png_read_end(png, NULL);
    out->width = (int)w;
    out->height = (int)h;
    out->data = c->out;
    c->out = NULL;
done:
    png_destroy_read_struct(&png, &info, NULL);
    free(c->out);
    free(c->pixels);
    free(c->rows);
    free(c);
    return st;
}

typedef struct png_wctx {
    char msg[200];
} png_wctx;

static void on_write_error(png_structp png, png_const_charp msg) {
    png_wctx *c = png_get_error_ptr(png);
    snprintf(c->msg, sizeof c->msg, "%s", msg);
    png_longjmp(png, 1);
}

tg_status tg_png_write_gray8(const char *path, int width, int height, const uint8_t *px) {
    if (width <= 0 || height <= 0)
        return tg_error(TG_ERR_INVALID, "%s: cannot write a %dx%d PNG", path, width, height);
    png_wctx *c = calloc(1, sizeof *c);
    if (!c) return tg_error(TG_ERR_NOMEM, "%s: out of memory", path);
    FILE *f = fopen(path, "wb");
    if (!f) {
        free(c);
        return tg_error(TG_ERR_IO, "%s: cannot create the file", path);
    }
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, c, on_write_error, on_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    tg_status st = TG_OK;
    if (!png || !info) {
        st = tg_error(TG_ERR_NOMEM, "%s: out of memory for the PNG encoder", path);
        goto done;
    }
    if (setjmp(png_jmpbuf(png))) {
        st = tg_error(TG_ERR_IO, "%s: writing PNG failed: %s", path, c->msg);
        goto done;
    }
    png_init_io(png, f);
    png_set_IHDR(png, info, (png_uint_32)width, (png_uint_32)height, 8, PNG_COLOR_TYPE_GRAY,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (int y = 0; y < height; y++) png_write_row(png, px + (size_t)y * (size_t)width);
    png_write_end(png, NULL);
done:
    if (png) png_destroy_write_struct(&png, info ? &info : NULL);
    if (fclose(f) != 0 && st == TG_OK) st = tg_error(TG_ERR_IO, "%s: closing failed", path);
    if (st != TG_OK) remove(path);
    free(c);
    return st;
}
