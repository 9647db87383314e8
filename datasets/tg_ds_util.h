/* Internal helpers shared by the datasets module (not installed): whole-file
 * reads with a size cap, string duplication and path joining. */
#ifndef TG_DS_UTIL_H
#define TG_DS_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "autograd/tg_error.h"
#include "autograd/tg_fs.h"

/* Read a whole file into a malloc'ed buffer (NUL-terminated, len excludes it);
 * refuses files over max_bytes with TG_ERR_LIMIT. */
tg_status tg_ds_read_file(const char *path, size_t max_bytes, uint8_t **buf, size_t *len);
/* strdup that raises TG_ERR_NOMEM on failure (returns NULL then). */
char *tg_ds_strdup(const char *s);
/* "dir/name" (or just name when dir is empty or name is absolute), malloc'ed. */
char *tg_ds_path_join(const char *dir, const char *name);
/* 1 if path names an existing regular file. */
int tg_ds_is_file(const char *path);
/* Overflow-checked a*b*c; returns 0 on overflow, else 1 and stores the product. */
int tg_ds_mul3(uint64_t a, uint64_t b, uint64_t c, uint64_t *out);

/* A small string -> int map (open addressing) for labels and groups. */
typedef struct tg_strmap {
    char **keys;
    int *vals;
    size_t cap, n;
} tg_strmap;

/* The value stored for key, or -1. */
int tg_strmap_get(const tg_strmap *m, const char *key);
/* Store key -> val (key copied); raises TG_ERR_NOMEM on failure. */
tg_status tg_strmap_put(tg_strmap *m, const char *key, int val);
/* Free the map (safe on a zeroed struct). */
void tg_strmap_free(tg_strmap *m);
#endif
