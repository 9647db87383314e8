/* IDX reader/writer over zlib's gz* API, which reads plain and gzip files alike.
 * The array is read in chunks into a buffer that grows with the data actually
 * decompressed, so a forged header on a tiny file cannot make us allocate gigabytes. */
#include "datasets/tg_idx.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "autograd/tg_budget.h"

size_t tg_idx_type_size(int type) {
    switch (type) {
    case TG_IDX_U8:
    case TG_IDX_I8:
        return 1;
    case TG_IDX_I16:
        return 2;
    case TG_IDX_I32:
    case TG_IDX_F32:
        return 4;
    case TG_IDX_F64:
        return 8;
    }
    return 0;
}

static void swap_to_host(uint8_t *p, size_t count, size_t size) {
    const uint16_t probe = 1;
    if (size == 1 || *(const uint8_t *)&probe == 0) return; /* big-endian host */
    for (size_t i = 0; i < count; i++, p += size)
        for (size_t a = 0, b = size - 1; a < b; a++, b--) {
            uint8_t t = p[a];
            p[a] = p[b];
            p[b] = t;
        }
}

/* gzread of exactly n bytes; returns the number read (< n at end of data) or -1. */
static long long read_full(gzFile f, void *buf, size_t n) {
    size_t got = 0;
    while (got < n) {
        size_t want = n - got > (1u << 30) ? (1u << 30) : n - got;
        int r = gzread(f, (uint8_t *)buf + got, (unsigned)want);
        if (r < 0) return -1;
        if (r == 0) break;
        got += (size_t)r;
    }
    return (long long)got;
}

/* Read and check the header from f into out (type, ndim, dims, count, elem_size). */
static tg_status read_header(gzFile f, const char *path, tg_idx *out) {
    uint8_t hdr[4];
    int errnum;
    if (read_full(f, hdr, 4) != 4)
        return tg_error(TG_ERR_FORMAT, "%s: too short for an IDX header (%s)", path,
                        gzerror(f, &errnum));
    size_t esize = tg_idx_type_size(hdr[2]);
    if (hdr[0] != 0 || hdr[1] != 0 || esize == 0 || hdr[3] == 0 || hdr[3] > TG_IDX_MAX_DIMS)
        return tg_error(TG_ERR_FORMAT,
                        "%s: not an IDX file (magic %02x %02x %02x %02x; expected 00 00 <type> "
                        "<1..%d dims>)",
                        path, hdr[0], hdr[1], hdr[2], hdr[3], TG_IDX_MAX_DIMS);
    int ndim = hdr[3];
    uint8_t dimbuf[4 * TG_IDX_MAX_DIMS];
    if (read_full(f, dimbuf, (size_t)4 * (size_t)ndim) != 4 * ndim)
        return tg_error(TG_ERR_FORMAT, "%s: truncated IDX header (%d dimensions declared)", path,
                        ndim);
    uint64_t count = 1, bytes;
    for (int d = 0; d < ndim; d++) {
        const uint8_t *q = dimbuf + 4 * d;
        out->dims[d] =
            ((uint32_t)q[0] << 24) | ((uint32_t)q[1] << 16) | ((uint32_t)q[2] << 8) | q[3];
        if (__builtin_mul_overflow(count, (uint64_t)out->dims[d], &count)) count = UINT64_MAX;
    }
    if (__builtin_mul_overflow(count, (uint64_t)esize, &bytes) || bytes > SIZE_MAX / 2)
        return tg_error(TG_ERR_LIMIT, "%s: IDX header declares %llu elements, which cannot fit",
                        path, (unsigned long long)count);
    out->type = (tg_idx_type)hdr[2];
    out->ndim = ndim;
    out->count = (size_t)count;
    out->elem_size = esize;
    return TG_OK;
}

tg_status tg_idx_read_header(const char *path, tg_idx *out) {
    memset(out, 0, sizeof *out);
    gzFile f = gzopen(path, "rb");
    if (!f) return tg_error(TG_ERR_IO, "%s: cannot open", path);
    tg_status st = read_header(f, path, out);
    gzclose(f);
    if (st != TG_OK) memset(out, 0, sizeof *out);
    return st;
}

tg_status tg_idx_read(const char *path, uint64_t max_bytes, tg_idx *out) {
    memset(out, 0, sizeof *out);
    gzFile f = gzopen(path, "rb");
    if (!f) return tg_error(TG_ERR_IO, "%s: cannot open", path);
    uint8_t *data = NULL;
    int errnum;
    tg_status st = read_header(f, path, out);
    if (st != TG_OK) goto done;
    int ndim = out->ndim;
    size_t esize = out->elem_size;
    uint64_t count = out->count, bytes = count * esize;
    char what[256];
    snprintf(what, sizeof what, "%s: an IDX array of %llu bytes", path, (unsigned long long)bytes);
    if (max_bytes && bytes > max_bytes) {
        st = tg_error(TG_ERR_LIMIT, "%s: IDX header declares %llu bytes, over the %llu-byte limit",
                      path, (unsigned long long)bytes, (unsigned long long)max_bytes);
        goto done;
    }
    if (!max_bytes && (st = tg_memory_check(bytes, what))) goto done;
    /* A plain file's size is known: check it against the header before allocating. */
    struct stat sb;
    uint64_t want_size = 4 + 4 * (uint64_t)ndim + bytes;
    if (gzdirect(f) && stat(path, &sb) == 0 && (uint64_t)sb.st_size != want_size) {
        st = tg_error(TG_ERR_FORMAT,
                      "%s: IDX header declares %llu bytes of data (file of %llu bytes) but the "
                      "file has %lld bytes; truncated or not an IDX file",
                      path, (unsigned long long)bytes, (unsigned long long)want_size,
                      (long long)sb.st_size);
        goto done;
    }
    /* Grow with the data that really arrives (see the file comment). */
    size_t cap = bytes < ((size_t)16 << 20) ? (size_t)bytes : ((size_t)16 << 20);
    data = malloc(cap ? cap : 1);
    if (!data) {
        st = tg_error(TG_ERR_NOMEM, "%s: out of memory", path);
        goto done;
    }
    size_t have = 0;
    while (have < bytes) {
        if (have == cap) {
            size_t ncap = cap * 2 > bytes ? (size_t)bytes : cap * 2;
            uint8_t *nd = realloc(data, ncap);
            if (!nd) {
                st = tg_error(TG_ERR_NOMEM, "%s: out of memory for %zu bytes", path, ncap);
                goto done;
            }
            data = nd;
            cap = ncap;
        }
        long long r = read_full(f, data + have, cap - have);
        if (r < 0) {
            st = tg_error(TG_ERR_FORMAT, "%s: corrupt compressed data: %s", path,
                          gzerror(f, &errnum));
            goto done;
        }
        have += (size_t)r;
        if (have < cap) break;
    }
    if (have < bytes) {
        st = tg_error(TG_ERR_FORMAT,
                      "%s: truncated IDX data: header declares %llu bytes, file holds %zu; "
                      "re-download the file",
                      path, (unsigned long long)bytes, have);
        goto done;
    }
    uint8_t extra;
    long long r = read_full(f, &extra, 1);
    if (r != 0) {
        st = tg_error(TG_ERR_FORMAT,
                      r < 0 ? "%s: corrupt compressed data after the array"
                            : "%s: trailing bytes after the %llu-byte array the header declares",
                      path, (unsigned long long)bytes);
        goto done;
    }
    swap_to_host(data, (size_t)count, esize);
    out->data = data;
    data = NULL;
done:
    free(data);
    gzclose(f);
    if (st != TG_OK) memset(out, 0, sizeof *out);
    return st;
}

tg_status tg_idx_write(const char *path, tg_idx_type type, int ndim, const uint32_t *dims,
                       const void *data, int gzip) {
    size_t esize = tg_idx_type_size(type);
    if (esize == 0 || ndim < 1 || ndim > TG_IDX_MAX_DIMS)
        return tg_error(TG_ERR_INVALID, "%s: bad IDX type 0x%02x or %d dimensions", path,
                        (unsigned)type, ndim);
    uint8_t hdr[4 + 4 * TG_IDX_MAX_DIMS] = {0, 0, (uint8_t)type, (uint8_t)ndim};
    size_t count = 1;
    for (int d = 0; d < ndim; d++) {
        hdr[4 + 4 * d] = (uint8_t)(dims[d] >> 24);
        hdr[5 + 4 * d] = (uint8_t)(dims[d] >> 16);
        hdr[6 + 4 * d] = (uint8_t)(dims[d] >> 8);
        hdr[7 + 4 * d] = (uint8_t)dims[d];
        if (__builtin_mul_overflow(count, (size_t)dims[d], &count))
            return tg_error(TG_ERR_INVALID, "%s: IDX dimensions overflow", path);
    }
    gzFile f = gzopen(path, gzip ? "wb6" : "wbT"); /* T: plain, no gzip wrapper */
    if (!f) return tg_error(TG_ERR_IO, "%s: cannot create", path);
    int ok = gzwrite(f, hdr, (unsigned)(4 + 4 * ndim)) == 4 + 4 * ndim;
    const uint8_t *p = data;
    uint8_t tmp[8];
    for (size_t i = 0; ok && i < count; i++, p += esize) {
        if (esize == 1) {
            ok = gzputc(f, p[0]) != -1;
            continue;
        }
        memcpy(tmp, p, esize);
        swap_to_host(tmp, 1, esize); /* host -> big-endian is the same swap */
        ok = gzwrite(f, tmp, (unsigned)esize) == (int)esize;
    }
    if (gzclose(f) != Z_OK) ok = 0;
    if (!ok) {
        remove(path);
        return tg_error(TG_ERR_IO, "%s: writing IDX failed", path);
    }
    return TG_OK;
}

void tg_idx_free(tg_idx *idx) {
    if (!idx) return;
    free(idx->data);
    memset(idx, 0, sizeof *idx);
}
