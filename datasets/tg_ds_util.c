/* Internal helpers for the datasets module. */
#include "datasets/tg_ds_util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

tg_status tg_ds_read_file(const char *path, size_t max_bytes, uint8_t **buf, size_t *len) {
    *buf = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return tg_error(TG_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        return tg_error(TG_ERR_IO, "%s: not a regular file", path);
    }
    if ((uint64_t)st.st_size > (uint64_t)max_bytes) {
        fclose(f);
        return tg_error(TG_ERR_LIMIT, "%s: file is %lld bytes, over the %zu-byte limit", path,
                        (long long)st.st_size, max_bytes);
    }
    size_t n = (size_t)st.st_size;
    uint8_t *b = malloc(n + 1);
    if (!b) {
        fclose(f);
        return tg_error(TG_ERR_NOMEM, "%s: out of memory reading %zu bytes", path, n);
    }
    size_t got = fread(b, 1, n, f);
    int err = ferror(f);
    fclose(f);
    if (got != n || err) {
        free(b);
        return tg_error(TG_ERR_IO, "%s: read failed after %zu of %zu bytes", path, got, n);
    }
    b[n] = 0;
    *buf = b;
    *len = n;
    return TG_OK;
}

char *tg_ds_strdup(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (!d) {
        tg_error(TG_ERR_NOMEM, "out of memory copying a %zu-byte string", n);
        return NULL;
    }
    memcpy(d, s, n);
    return d;
}

char *tg_ds_path_join(const char *dir, const char *name) {
    if (!dir || !*dir || name[0] == '/') return tg_ds_strdup(name);
    size_t a = strlen(dir), b = strlen(name);
    int slash = dir[a - 1] != '/';
    char *p = malloc(a + (size_t)slash + b + 1);
    if (!p) {
        tg_error(TG_ERR_NOMEM, "out of memory joining a path");
        return NULL;
    }
    memcpy(p, dir, a);
    if (slash) p[a] = '/';
    memcpy(p + a + slash, name, b + 1);
    return p;
}

int tg_ds_is_file(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

int tg_ds_mul3(uint64_t a, uint64_t b, uint64_t c, uint64_t *out) {
    uint64_t ab;
    if (__builtin_mul_overflow(a, b, &ab) || __builtin_mul_overflow(ab, c, out)) return 0;
    return 1;
}

static size_t str_hash(const char *s) {
    uint64_t h = 0xcbf29ce484222325ULL;
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 0x100000001b3ULL;
    return (size_t)h;
}

int tg_strmap_get(const tg_strmap *m, const char *key) {
    if (!m->cap) return -1;
    for (size_t h = str_hash(key);; h++) {
        size_t i = h & (m->cap - 1);
        if (!m->keys[i]) return -1;
        if (strcmp(m->keys[i], key) == 0) return m->vals[i];
    }
}

tg_status tg_strmap_put(tg_strmap *m, const char *key, int val) {
    if (2 * (m->n + 1) > m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 64;
        char **keys = calloc(cap, sizeof *keys);
        int *vals = calloc(cap, sizeof *vals);
        if (!keys || !vals) {
            free(keys);
            free(vals);
            return tg_error(TG_ERR_NOMEM, "out of memory for a string map");
        }
        for (size_t i = 0; i < m->cap; i++) {
            if (!m->keys[i]) continue;
            size_t h = str_hash(m->keys[i]);
            while (keys[h & (cap - 1)]) h++;
            keys[h & (cap - 1)] = m->keys[i];
            vals[h & (cap - 1)] = m->vals[i];
        }
        free(m->keys);
        free(m->vals);
        m->keys = keys;
        m->vals = vals;
        m->cap = cap;
    }
    for (size_t h = str_hash(key);; h++) {
        size_t i = h & (m->cap - 1);
        if (!m->keys[i]) {
            m->keys[i] = tg_ds_strdup(key);
            if (!m->keys[i]) return TG_ERR_NOMEM;
            m->vals[i] = val;
            m->n++;
            return TG_OK;
        }
        if (strcmp(m->keys[i], key) == 0) {
            m->vals[i] = val;
            return TG_OK;
        }
    }
}

void tg_strmap_free(tg_strmap *m) {
    for (size_t i = 0; i < m->cap; i++) free(m->keys[i]);
    free(m->keys);
    free(m->vals);
    memset(m, 0, sizeof *m);
}
