/* A cache of decoded, resized images so a second run does not decode large
 * JPEGs again: one zlib-compressed file holding, per image, its path, file
 * size, modification time and pixels, under a key of the target size and
 * resize options. A damaged or stale cache is ignored and rebuilt, never trusted. */
#ifndef TG_CACHE_H
#define TG_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "autograd/tg_error.h"
#include "autograd/tg_export.h"

TG_API_BEGIN

#define TG_CACHE_VERSION 2

/* What the cached pixels depend on besides the file itself. */
typedef struct tg_cache_key {
    int width, height; /* target size */
    int aspect;        /* tg_aspect */
    float pad_value;   /* border value for TG_ASPECT_PAD */
} tg_cache_key;

/* One image the caller wants: identified by path, size and mtime. */
typedef struct tg_cache_item {
    const char *path;
    uint64_t size;    /* file size in bytes */
    int64_t mtime_ns; /* modification time, ns since the epoch */
    float *dst;       /* width*height floats, filled on a hit */
    int hit;          /* set to 1 when dst was filled from the cache */
} tg_cache_item;

/* Fill every item found in the cache file (matching path, size, mtime and key).
 * A missing, stale or damaged file is not an error: no item is a hit, and `note`
 * (may be NULL) says why the file was not used. Returns the number of hits. */
size_t tg_cache_read(const char *cache_path, const tg_cache_key *key, tg_cache_item *items,
                     size_t n, char *note, size_t note_len);
/* Write the items (all dst filled) as a new cache file: a temporary file renamed
 * over the old one, so an interrupted write never leaves a half file behind. */
tg_status tg_cache_write(const char *cache_path, const tg_cache_key *key,
                         const tg_cache_item *items, size_t n);
/* Fill size and mtime_ns of an item from the file system; TG_ERR_IO if missing. */
tg_status tg_cache_stat(const char *path, uint64_t *size, int64_t *mtime_ns);
/* The default cache file for a dataset location:
 * $XDG_CACHE_HOME/twingrad (or ~/.cache/twingrad) / ds-<hash of location and key>.tgc,
 * creating the directory; malloc'ed, NULL with an error set on failure. */
char *tg_cache_default_path(const char *location, const tg_cache_key *key);

TG_API_END

#endif
