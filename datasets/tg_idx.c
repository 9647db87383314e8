/* IDX reader/writer. Reading inflates gzip files itself (plain files are read as they
 * are) because gzread ignores bytes after a gzip stream that do not start another
 * member; here they are an error. The array is read in chunks into a buffer that grows
 * with the data actually decompressed, so a forged header on a tiny file cannot make us
 * allocate gigabytes. Writing goes through zlib's gz* API. */
#include "datasets/tg_idx.h"

#include <errno.h>
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

/* A plain or gzip file being read. Concatenated gzip members are one stream, as gzip
 * defines them; anything else after a member is trailing junk. */
typedef struct idx_in {
    FILE *f;
    int gz;   /* the file starts with the gzip magic */
    int done; /* no more data: end of the plain file or of the last member */
    int zinit;
    z_stream zs;
    char why[256]; /* set when a read returns -1 */
    int io;        /* ... and 1 when that was a read error, not bad data */
    uint8_t in[1 << 16];
} idx_in;

/* Note a read error as the reason; -1 for the caller to return. */
static int read_error(idx_in *r) {
    snprintf(r->why, sizeof r->why, "read error: %s", strerror(errno));
    r->io = 1;
    return -1;
}

/* Refill the input buffer when it is empty; 0 at end of file, -1 on a read error. */
static int in_fill(idx_in *r) {
    if (r->zs.avail_in) return 1;
    size_t n = fread(r->in, 1, sizeof r->in, r->f);
    if (n == 0 && ferror(r->f)) return read_error(r);
    r->zs.next_in = r->in;
    r->zs.avail_in = (uInt)n;
    return n > 0;
}

/* Open path; on failure the tg_error says why. */
static tg_status in_open(const char *path, idx_in **out) {
    *out = NULL;
    idx_in *r = calloc(1, sizeof *r);
    if (!r) return tg_error(TG_ERR_NOMEM, "%s: out of memory", path);
    if (!(r->f = fopen(path, "rb"))) {
        int err = errno;
        free(r);
        return tg_error(TG_ERR_IO, "%s: cannot open: %s", path, strerror(err));
    }
    /* Peek at the magic; whatever is read stays in the input buffer. */
    while (r->zs.avail_in < 2) {
        size_t n = fread(r->in + r->zs.avail_in, 1, 2 - r->zs.avail_in, r->f);
        if (n == 0) break;
        r->zs.avail_in += (uInt)n;
    }
    r->zs.next_in = r->in;
    if (ferror(r->f)) {
        int err = errno;
        fclose(r->f);
        free(r);
        return tg_error(TG_ERR_IO, "%s: read error: %s", path, strerror(err));
    }
    r->gz = r->zs.avail_in == 2 && r->in[0] == 0x1f && r->in[1] == 0x8b;
    if (r->gz) {
        if (inflateInit2(&r->zs, 16 + MAX_WBITS) != Z_OK) { /* 16: gzip wrapper only */
            fclose(r->f);
            free(r);
            return tg_error(TG_ERR_NOMEM, "%s: out of memory for zlib", path);
        }
        r->zinit = 1;
    }
    *out = r;
    return TG_OK;
}

static void in_close(idx_in *r) {
    if (!r) return;
    if (r->zinit) inflateEnd(&r->zs);
    fclose(r->f);
    free(r);
}

/* After a gzip member's end: another member, the end of the file, or junk (-1). */
static int in_next_member(idx_in *r) {
    int more = in_fill(r);
    if (more <= 0) {
        r->done = 1;
        return more;
    }
    if (r->zs.avail_in < 2) { /* the magic may straddle a refill */
        r->in[0] = r->zs.next_in[0];
        size_t n = fread(r->in + 1, 1, sizeof r->in - 1, r->f);
        if (n == 0 && ferror(r->f)) return read_error(r);
        r->zs.next_in = r->in;
        r->zs.avail_in = (uInt)(1 + n);
    }
    if (r->zs.avail_in < 2 || r->zs.next_in[0] != 0x1f || r->zs.next_in[1] != 0x8b) {
        snprintf(r->why, sizeof r->why, "trailing bytes after the end of the gzip stream");
        return -1;
    }
    inflateReset(&r->zs);
    return 1;
}

/* Up to n bytes of data; fewer only at the end of the data (a cut gzip stream ends the
 * data too, so that the caller reports it as truncated), -1 on an error (see why). */
static long long in_read(idx_in *r, void *buf, size_t n) {
    uint8_t *o = buf;
    size_t got = 0;
    if (!r->gz) { /* the bytes peeked at first come before the rest of the file */
        size_t k = r->zs.avail_in < n ? r->zs.avail_in : n;
        memcpy(o, r->zs.next_in, k);
        r->zs.next_in += k;
        r->zs.avail_in -= (uInt)k;
        got = k + fread(o + k, 1, n - k, r->f);
        if (got < n && ferror(r->f)) return read_error(r);
        return (long long)got;
    }
    while (got < n && !r->done) {
        int more = in_fill(r);
        if (more < 0) return -1;
        if (more == 0) { /* the file ends inside a member */
            r->done = 1;
            break;
        }
        size_t want = n - got > (1u << 30) ? (1u << 30) : n - got;
        r->zs.next_out = o + got;
        r->zs.avail_out = (uInt)want;
        int ret = inflate(&r->zs, Z_NO_FLUSH);
        got += want - r->zs.avail_out;
        if (ret == Z_STREAM_END) {
            if (in_next_member(r) < 0) return -1;
        } else if (ret != Z_OK && ret != Z_BUF_ERROR) {
            snprintf(r->why, sizeof r->why, "corrupt compressed data: %s",
                     r->zs.msg ? r->zs.msg : "inflate failed");
            return -1;
        }
    }
    return (long long)got;
}

/* Read and check the header from r into out (type, ndim, dims, count, elem_size). */
static tg_status read_header(idx_in *r, const char *path, tg_idx *out) {
    uint8_t hdr[4];
    long long got = in_read(r, hdr, 4);
    if (got < 0) return tg_error(r->io ? TG_ERR_IO : TG_ERR_FORMAT, "%s: %s", path, r->why);
    if (got == 0) return tg_error(TG_ERR_FORMAT, "%s: empty file; not an IDX file", path);
    if (got < 4)
        return tg_error(TG_ERR_FORMAT, "%s: too short for an IDX header (%lld of 4 bytes)", path,
                        got);
    size_t esize = tg_idx_type_size(hdr[2]);
    if (hdr[0] != 0 || hdr[1] != 0 || esize == 0 || hdr[3] == 0 || hdr[3] > TG_IDX_MAX_DIMS)
        return tg_error(TG_ERR_FORMAT,
                        "%s: not an IDX file (magic %02x %02x %02x %02x; expected 00 00 <type> "
                        "<1..%d dims>)",
                        path, hdr[0], hdr[1], hdr[2], hdr[3], TG_IDX_MAX_DIMS);
    int ndim = hdr[3];
    uint8_t dimbuf[4 * TG_IDX_MAX_DIMS];
    got = in_read(r, dimbuf, (size_t)4 * (size_t)ndim);
    if (got < 0) return tg_error(r->io ? TG_ERR_IO : TG_ERR_FORMAT, "%s: %s", path, r->why);
    if (got != 4 * ndim)
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
    idx_in *r;
    tg_status st = in_open(path, &r);
    if (st != TG_OK) return st;
    st = read_header(r, path, out);
    in_close(r);
    if (st != TG_OK) memset(out, 0, sizeof *out);
    return st;
}

tg_status tg_idx_read(const char *path, uint64_t max_bytes, tg_idx *out) {
    memset(out, 0, sizeof *out);
    idx_in *f;
    tg_status st = in_open(path, &f);
    if (st != TG_OK) return st;
    uint8_t *data = NULL;
    if ((st = read_header(f, path, out)) != TG_OK) goto done;
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
    if (!f->gz && stat(path, &sb) == 0 && (uint64_t)sb.st_size != want_size) {
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
        long long r = in_read(f, data + have, cap - have);
        if (r < 0) {
            st = tg_error(f->io ? TG_ERR_IO : TG_ERR_FORMAT, "%s: %s", path, f->why);
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
    long long r = in_read(f, &extra, 1);
    if (r < 0) {
        st = tg_error(f->io ? TG_ERR_IO : TG_ERR_FORMAT, "%s: %s", path, f->why);
        goto done;
    }
    if (r > 0) {
        st = tg_error(TG_ERR_FORMAT,
                      "%s: trailing bytes after the %llu-byte array the header "
                      "declares",
                      path, (unsigned long long)bytes);
        goto done;
    }
    swap_to_host(data, (size_t)count, esize);
    out->data = data;
    data = NULL;
done:
    free(data);
    in_close(f);
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
    errno = 0;
    gzFile f = gzopen(path, gzip ? "wb6" : "wbT"); /* T: plain, no gzip wrapper */
    if (!f)
        return tg_error(TG_ERR_IO, "%s: cannot create: %s", path,
                        errno ? strerror(errno) : "out of memory"); /* errno 0: zlib's own */
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
