/* Decoded-image cache file. Layout (one gzip stream, native byte order, checked
 * by an order tag in the header):
 *   header: "TGIMGCCH" u32 version u32 order_tag(0x01020304) i32 width i32 height
 *           i32 aspect f32 pad_value u32 count
 *   entry:  u32 path_len, path bytes, u64 size, i64 mtime_ns, u32 crc32(pixels),
 *           f32 pixels[width*height]
 *   end:    "TGEND\0\0\0"
 * Reading streams the entries and copies only wanted ones; any inconsistency
 * (bad magic, key, CRC, length, early end) voids every hit. */
#include "datasets/tg_cache.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "datasets/tg_ds_util.h"

#define MAGIC "TGIMGCCH"
#define END_MAGIC "TGEND\0\0\0"
#define ORDER_TAG 0x01020304u
#define MAX_PATH_LEN 4096u
#define MAX_ENTRIES 100000000u

tg_status tg_cache_stat(const char *path, uint64_t *size, int64_t *mtime_ns) {
    struct stat st;
    if (stat(path, &st) != 0) return tg_error(TG_ERR_IO, "%s: %s", path, strerror(errno));
    *size = (uint64_t)st.st_size;
    *mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000LL + (int64_t)st.st_mtim.tv_nsec;
    return TG_OK;
}

static uint64_t fnv1a(const void *p, size_t n, uint64_t h) {
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 0x100000001b3ULL;
    return h;
}

/* Open-addressing table from path to item index (n items, capacity a power of 2). */
typedef struct path_table {
    size_t *slot; /* item index + 1; 0 = empty */
    size_t mask;
} path_table;

static int table_build(path_table *t, const tg_cache_item *items, size_t n) {
    size_t cap = 16;
    while (cap < 2 * n) cap *= 2;
    t->slot = calloc(cap, sizeof *t->slot);
    if (!t->slot) return 0;
    t->mask = cap - 1;
    for (size_t i = 0; i < n; i++) {
        size_t h = (size_t)fnv1a(items[i].path, strlen(items[i].path), 0xcbf29ce484222325ULL);
        while (t->slot[h & t->mask]) h++;
        t->slot[h & t->mask] = i + 1;
    }
    return 1;
}

static long table_find(const path_table *t, const tg_cache_item *items, const char *path) {
    size_t h = (size_t)fnv1a(path, strlen(path), 0xcbf29ce484222325ULL);
    for (;; h++) {
        size_t s = t->slot[h & t->mask];
        if (!s) return -1;
        if (strcmp(items[s - 1].path, path) == 0) return (long)(s - 1);
    }
}

static int rd(gzFile f, void *buf, size_t n) {
    while (n > 0) {
        unsigned want = n > (1u << 30) ? (1u << 30) : (unsigned)n;
        int r = gzread(f, buf, want);
        if (r <= 0) return 0;
        buf = (uint8_t *)buf + r;
        n -= (size_t)r;
    }
    return 1;
}

size_t tg_cache_read(const char *cache_path, const tg_cache_key *key, tg_cache_item *items,
                     size_t n, char *note, size_t note_len) {
    char dummy[8];
    if (!note) {
        note = dummy;
        note_len = sizeof dummy;
    }
    snprintf(note, note_len, "%s", "");
    for (size_t i = 0; i < n; i++) items[i].hit = 0;
    if (!tg_ds_is_file(cache_path)) {
        snprintf(note, note_len, "no cache file yet");
        return 0;
    }
    gzFile f = gzopen(cache_path, "rb");
    if (!f) {
        snprintf(note, note_len, "cannot open the cache file");
        return 0;
    }
    size_t npx = (size_t)key->width * (size_t)key->height, hits = 0;
    float *px = malloc(npx * sizeof(float));
    char *path = malloc(MAX_PATH_LEN + 1);
    path_table t = {0};
    const char *why = NULL;
    if (!px || !path || !table_build(&t, items, n)) {
        why = "out of memory";
        goto done;
    }
    char magic[8];
    uint32_t version, order, count;
    int32_t w, h, aspect;
    float pad;
    if (!rd(f, magic, 8) || memcmp(magic, MAGIC, 8) != 0 || !rd(f, &version, 4) ||
        !rd(f, &order, 4)) {
        why = "not a twingrad image cache";
        goto done;
    }
    if (version != TG_CACHE_VERSION || order != ORDER_TAG) {
        why = "another cache version or byte order";
        goto done;
    }
    if (!rd(f, &w, 4) || !rd(f, &h, 4) || !rd(f, &aspect, 4) || !rd(f, &pad, 4) ||
        !rd(f, &count, 4) || count > MAX_ENTRIES) {
        why = "damaged header";
        goto done;
    }
    if (w != key->width || h != key->height || aspect != key->aspect ||
        memcmp(&pad, &key->pad_value, 4) != 0) {
        why = "made for another target size or aspect policy";
        goto done;
    }
    for (uint32_t e = 0; e < count; e++) {
        uint32_t plen, crc;
        uint64_t size;
        int64_t mtime;
        if (!rd(f, &plen, 4) || plen > MAX_PATH_LEN || !rd(f, path, plen) || !rd(f, &size, 8) ||
            !rd(f, &mtime, 8) || !rd(f, &crc, 4) || !rd(f, px, npx * sizeof(float))) {
            why = "truncated or damaged entry";
            goto done;
        }
        path[plen] = 0;
        if (crc32(0L, (const Bytef *)px, (uInt)(npx * sizeof(float))) != crc) {
            why = "pixel checksum mismatch";
            goto done;
        }
        long i = memchr(path, 0, plen) ? -1 : table_find(&t, items, path);
        if (i >= 0 && items[i].size == size && items[i].mtime_ns == mtime) {
            memcpy(items[i].dst, px, npx * sizeof(float));
            if (!items[i].hit) hits++;
            items[i].hit = 1;
        }
    }
    char end[8];
    uint8_t extra;
    if (!rd(f, end, 8) || memcmp(end, END_MAGIC, 8) != 0 || gzread(f, &extra, 1) != 0) {
        why = "bad end marker";
        goto done;
    }
    int errnum;
    gzerror(f, &errnum);
    if (errnum != Z_OK && errnum != Z_BUF_ERROR) why = "compressed stream error";
done:
    /* The gzip CRC is checked when the stream ends; a bad close voids the file too. */
    if (gzclose(f) != Z_OK && !why) why = "compressed stream error";
    if (why) {
        for (size_t i = 0; i < n; i++) items[i].hit = 0;
        hits = 0;
        snprintf(note, note_len, "cache %s ignored: %s", cache_path, why);
    }
    free(t.slot);
    free(px);
    free(path);
    return hits;
}

tg_status tg_cache_write(const char *cache_path, const tg_cache_key *key,
                         const tg_cache_item *items, size_t n) {
    size_t plen = strlen(cache_path);
    char *tmp = malloc(plen + 32);
    if (!tmp) return tg_error(TG_ERR_NOMEM, "%s: out of memory", cache_path);
    snprintf(tmp, plen + 32, "%s.tmp%ld", cache_path, (long)getpid());
    /* Level 1: the cache is about speed; pixels compress little better at 9. */
    gzFile f = gzopen(tmp, "wb1");
    if (!f) {
        free(tmp);
        return tg_error(TG_ERR_IO, "%s: cannot create the cache file", cache_path);
    }
    size_t npx = (size_t)key->width * (size_t)key->height;
    uint32_t version = TG_CACHE_VERSION, order = ORDER_TAG, count = (uint32_t)n;
    int32_t w = key->width, h = key->height, aspect = key->aspect;
    int ok = n <= MAX_ENTRIES && gzwrite(f, MAGIC, 8) == 8 && gzwrite(f, &version, 4) == 4 &&
             gzwrite(f, &order, 4) == 4 && gzwrite(f, &w, 4) == 4 && gzwrite(f, &h, 4) == 4 &&
             gzwrite(f, &aspect, 4) == 4 && gzwrite(f, &key->pad_value, 4) == 4 &&
             gzwrite(f, &count, 4) == 4;
    for (size_t i = 0; ok && i < n; i++) {
        uint32_t len = (uint32_t)strlen(items[i].path);
        uint32_t crc =
            (uint32_t)crc32(0L, (const Bytef *)items[i].dst, (uInt)(npx * sizeof(float)));
        ok =
            len <= MAX_PATH_LEN && gzwrite(f, &len, 4) == 4 &&
            gzwrite(f, items[i].path, len) == (int)len && gzwrite(f, &items[i].size, 8) == 8 &&
            gzwrite(f, &items[i].mtime_ns, 8) == 8 && gzwrite(f, &crc, 4) == 4 &&
            gzwrite(f, items[i].dst, (unsigned)(npx * sizeof(float))) == (int)(npx * sizeof(float));
    }
    ok = ok && gzwrite(f, END_MAGIC, 8) == 8;
    if (gzclose(f) != Z_OK) ok = 0;
    if (ok) {
        /* Flush to disk before the rename so a crash cannot leave a renamed empty file. */
        FILE *fs = fopen(tmp, "rb");
        if (fs) {
            fsync(fileno(fs));
            fclose(fs);
        }
        ok = rename(tmp, cache_path) == 0;
    }
    if (!ok) {
        remove(tmp);
        free(tmp);
        return tg_error(TG_ERR_IO, "%s: writing the cache failed (disk full or read-only?)",
                        cache_path);
    }
    free(tmp);
    return TG_OK;
}

char *tg_cache_default_path(const char *location, const tg_cache_key *key) {
    const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    char base[4096];
    if (xdg && *xdg)
        snprintf(base, sizeof base, "%s/twingrad", xdg);
    else if (home && *home)
        snprintf(base, sizeof base, "%s/.cache/twingrad", home);
    else
        snprintf(base, sizeof base, "/tmp/twingrad-cache");
    if (tg_mkdir_p(base)) return NULL;
    char abs[4096];
    const char *loc = realpath(location, abs) ? abs : location;
    uint64_t hsh = fnv1a(loc, strlen(loc), 0xcbf29ce484222325ULL);
    hsh = fnv1a(key, sizeof *key, hsh);
    char *out = malloc(strlen(base) + 40);
    if (!out) {
        tg_error(TG_ERR_NOMEM, "out of memory");
        return NULL;
    }
    sprintf(out, "%s/ds-%016llx.tgc", base, (unsigned long long)hsh);
    return out;
}
