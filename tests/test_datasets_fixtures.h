/* Fixture writers for the datasets tests: temporary folders and image files of
 * every variant the decoders accept, written with libpng and libjpeg. */
#ifndef TEST_DATASETS_FIXTURES_H
#define TEST_DATASETS_FIXTURES_H

#include <stddef.h>
#include <stdint.h>

/* A fresh directory under $TMPDIR (or /tmp); malloc'ed path. */
char *fx_tmpdir(void);
/* Remove a directory tree. */
void fx_rmtree(const char *dir);
/* "dir/name" in one of 8 rotating static buffers. */
const char *fx_path(const char *dir, const char *name);
/* Write bytes to a file; 0 on success. */
int fx_write(const char *path, const void *data, size_t len);
/* Read a whole file (malloc'ed); NULL on failure. */
uint8_t *fx_read(const char *path, size_t *len);
/* Write a PNG: samples are channel values (or palette indices), row-major.
 * palette: n_palette RGB triples; trns: n_trns alpha values for palette entries. */
int fx_png(const char *path, int w, int h, int color_type, int depth, int interlace,
           const uint16_t *samples, const uint8_t *palette, int n_palette, const uint8_t *trns,
           int n_trns);
/* Write a JPEG with `components` (1 gray, 3 RGB, 4 CMYK as stored); exif adds an APP1 block. */
int fx_jpeg(const char *path, int w, int h, int components, const uint8_t *px, int exif);
/* The Figure 1 sample folder, or NULL when ../shared is absent. */
const char *fx_figure1_dir(void);

#endif
