/* Fixture writers for the datasets tests. */
#define _XOPEN_SOURCE 700
#include "tests/test_datasets_fixtures.h"

#include <ftw.h>
#include <stdio.h>
#include <jpeglib.h>
#include <png.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

char *fx_tmpdir(void) {
    const char *t = getenv("TMPDIR");
    char *p = malloc(4096);
    snprintf(p, 4096, "%s/tgds-XXXXXX", t && *t ? t : "/tmp");
    if (!mkdtemp(p)) {
        free(p);
        return NULL;
    }
    return p;
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

void fx_rmtree(const char *dir) {
    if (dir) nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

const char *fx_path(const char *dir, const char *name) {
    static char buf[8][4096];
    static int k;
    k = (k + 1) % 8;
    snprintf(buf[k], sizeof buf[k], "%s/%s", dir, name);
    return buf[k];
}

int fx_write(const char *path, const void *data, size_t len) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t n = fwrite(data, 1, len, f);
    return fclose(f) == 0 && n == len ? 0 : -1;
}

uint8_t *fx_read(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc((size_t)n + 1);
    *len = fread(b, 1, (size_t)n, f);
    fclose(f);
    return b;
}

int fx_png(const char *path, int w, int h, int color_type, int depth, int interlace,
           const uint16_t *samples, const uint8_t *palette, int n_palette, const uint8_t *trns,
           int n_trns) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        fclose(f);
        return -1;
    }
    png_init_io(png, f);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, depth, color_type,
                 interlace ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
                 PNG_FILTER_TYPE_DEFAULT);
    if (palette) {
        png_color pal[256];
        for (int i = 0; i < n_palette; i++)
            pal[i] = (png_color){palette[3 * i], palette[3 * i + 1], palette[3 * i + 2]};
        png_set_PLTE(png, info, pal, n_palette);
        if (trns) png_set_tRNS(png, info, trns, n_trns, NULL);
    }
    png_write_info(png, info);
    if (depth < 8) png_set_packing(png);
    int ch = color_type == PNG_COLOR_TYPE_GRAY || color_type == PNG_COLOR_TYPE_PALETTE ? 1
             : color_type == PNG_COLOR_TYPE_GRAY_ALPHA                                 ? 2
             : color_type == PNG_COLOR_TYPE_RGB                                        ? 3
                                                                                       : 4;
    int bps = depth == 16 ? 2 : 1;
    uint8_t *rows = malloc((size_t)w * (size_t)h * (size_t)ch * (size_t)bps);
    png_bytep *rp = malloc(sizeof(png_bytep) * (size_t)h);
    for (size_t i = 0; i < (size_t)w * (size_t)h * (size_t)ch; i++) {
        if (bps == 2) {
            rows[2 * i] = (uint8_t)(samples[i] >> 8);
            rows[2 * i + 1] = (uint8_t)samples[i];
        } else {
            rows[i] = (uint8_t)samples[i];
        }
    }
    for (int y = 0; y < h; y++) rp[y] = rows + (size_t)y * (size_t)w * (size_t)ch * (size_t)bps;
    png_write_image(png, rp);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    free(rows);
    free(rp);
    return fclose(f) == 0 ? 0 : -1;
}

int fx_jpeg(const char *path, int w, int h, int components, const uint8_t *px, int exif) {
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr err;
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    c.err = jpeg_std_error(&err);
    jpeg_create_compress(&c);
    jpeg_stdio_dest(&c, f);
    c.image_width = (JDIMENSION)w;
    c.image_height = (JDIMENSION)h;
    c.input_components = components;
    c.in_color_space = components == 1 ? JCS_GRAYSCALE : components == 3 ? JCS_RGB : JCS_CMYK;
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, 95, TRUE);
    jpeg_start_compress(&c, TRUE);
    if (exif) {
        /* A minimal Exif APP1: "Exif\0\0" + a little-endian TIFF header, no IFD entries. */
        static const uint8_t app1[] = {'E', 'x', 'i', 'f', 0, 0, 'I', 'I', 42, 0,
                                       8,   0,   0,   0,   0, 0, 0,   0,   0,  0};
        jpeg_write_marker(&c, JPEG_APP0 + 1, app1, sizeof app1);
    }
    while (c.next_scanline < c.image_height) {
        JSAMPROW row = (JSAMPROW)(px + (size_t)c.next_scanline * (size_t)w * (size_t)components);
        jpeg_write_scanlines(&c, &row, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    return fclose(f) == 0 ? 0 : -1;
}

const char *fx_figure1_dir(void) {
    static char buf[4096];
    const char *shared = getenv("TG_SHARED_DIR"), *src = getenv("TG_SRCDIR");
    struct stat st;
    if (shared && *shared) {
        snprintf(buf, sizeof buf, "%s/data/figure1-covid-chestxray", shared);
        if (stat(buf, &st) == 0) return buf;
    }
    snprintf(buf, sizeof buf, "%s/../shared/data/figure1-covid-chestxray", src && *src ? src : ".");
    if (stat(buf, &st) == 0) return buf;
    snprintf(buf, sizeof buf, "../shared/data/figure1-covid-chestxray");
    if (stat(buf, &st) == 0) return buf;
    return NULL;
}
