/* Checkpoint saving: encode every section little-endian byte by byte, deflate it, and write
 * the file atomically (temporary file, fsync, rename, fsync of the directory). The layout is
 * docs/checkpoint-format.md; the reader is tg_checkpoint_load.c. */
#include "checkpoint/tg_checkpoint_impl.h"
#include "autograd/tg_fs.h"
#include "autograd/tg_node_impl.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

const ck_section_info tg_ck_sections[CK_N_SECTIONS] = {
    [CK_MODL] = {"MODL", CK_CRITICAL, 1}, [CK_TENS] = {"TENS", CK_CRITICAL, 1},
    [CK_OPTM] = {"OPTM", CK_CRITICAL, 0}, [CK_SCHD] = {"SCHD", CK_CRITICAL, 0},
    [CK_TRAN] = {"TRAN", CK_CRITICAL, 1}, [CK_RNGS] = {"RNGS", CK_CRITICAL, 0},
    [CK_META] = {"META", 0, 0},
};

int tg_ck_utf8_valid(const unsigned char *s, size_t n) {
    static const uint32_t min_of_len[5] = {0, 0, 0x80, 0x800, 0x10000};
    for (size_t i = 0; i < n;) {
        unsigned c = s[i];
        size_t len = c < 0x80             ? 1
                     : (c & 0xe0) == 0xc0 ? 2
                     : (c & 0xf0) == 0xe0 ? 3
                     : (c & 0xf8) == 0xf0 ? 4
                                          : 0;
        if (len == 0 || len > n - i) return 0;
        uint32_t cp = len == 1 ? c : c & (0x7fu >> len);
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xc0) != 0x80) return 0;
            cp = cp << 6 | (s[i + k] & 0x3fu);
        }
        if (cp < min_of_len[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
        i += len;
    }
    return 1;
}

/* ---- a growable byte buffer; a failed allocation sticks and is reported once at the end ---- */

typedef struct bytes {
    unsigned char *p;
    size_t len, cap;
    int failed;
} bytes;

static unsigned char *grow(bytes *b, size_t n) {
    if (b->failed) return NULL;
    if (n > SIZE_MAX - b->len) {
        b->failed = 1;
        return NULL;
    }
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n) cap = cap > SIZE_MAX / 2 ? b->len + n : cap * 2;
        unsigned char *p = realloc(b->p, cap);
        if (!p) {
            b->failed = 1;
            return NULL;
        }
        b->p = p;
        b->cap = cap;
    }
    unsigned char *at = b->p + b->len;
    b->len += n;
    return at;
}

static void put_le(bytes *b, uint64_t v, int n) {
    unsigned char *p = grow(b, (size_t)n);
    if (p)
        for (int i = 0; i < n; i++) p[i] = (unsigned char)(v >> (8 * i));
}
static void put_u8(bytes *b, unsigned v) {
    put_le(b, v, 1);
}
static void put_u16(bytes *b, unsigned v) {
    put_le(b, v, 2);
}
static void put_u32(bytes *b, uint32_t v) {
    put_le(b, v, 4);
}
static void put_u64(bytes *b, uint64_t v) {
    put_le(b, v, 8);
}
static void put_i64(bytes *b, int64_t v) {
    put_le(b, (uint64_t)v, 8);
}
static void put_f64(bytes *b, double v) {
    uint64_t u;
    memcpy(&u, &v, 8);
    put_le(b, u, 8);
}
static void put_raw(bytes *b, const void *src, size_t n) {
    unsigned char *p = grow(b, n);
    if (p && n) memcpy(p, src, n);
}
/* str16: u16 length, then the bytes (no terminator). Lengths were checked by the caller. */
static void put_str16(bytes *b, const char *s) {
    size_t n = strlen(s);
    put_u16(b, (unsigned)n);
    put_raw(b, s, n);
}
static void put_str32(bytes *b, const char *s) {
    size_t n = strlen(s);
    put_u32(b, (uint32_t)n);
    put_raw(b, s, n);
}
/* u64 byte count, then n float32 values little-endian. */
static void put_floats(bytes *b, const float *x, int64_t n) {
    put_u64(b, (uint64_t)n * 4);
    unsigned char *p = grow(b, (size_t)n * 4);
    if (!p) return;
    for (int64_t i = 0; i < n; i++, p += 4) {
        uint32_t u;
        memcpy(&u, &x[i], 4);
        p[0] = (unsigned char)u, p[1] = (unsigned char)(u >> 8);
        p[2] = (unsigned char)(u >> 16), p[3] = (unsigned char)(u >> 24);
    }
}

/* ---- checking the caller's data before anything is written ---- */

static tg_status check_name(const char *what, const char *name) {
    if (!name || !*name) return tg_error(TG_ERR_INVALID, "%s name is missing or empty", what);
    if (strlen(name) > TG_CHECKPOINT_MAX_NAME)
        return tg_error(TG_ERR_LIMIT, "%s name '%.40s...' is longer than %u bytes", what, name,
                        TG_CHECKPOINT_MAX_NAME);
    if (!tg_ck_utf8_valid((const unsigned char *)name, strlen(name)))
        return tg_error(TG_ERR_INVALID, "%s name '%.40s' is not valid UTF-8", what, name);
    return TG_OK;
}

static tg_status check_input(const tg_checkpoint_data *in) {
    if (!in || !in->graph) return tg_error(TG_ERR_INVALID, "no graph to save");
    tg_status st;
    int64_t n_train = 0;
    for (int i = 0; i < tg_graph_param_count(in->graph); i++) {
        const tg_node *p = tg_graph_param_at(in->graph, i);
        if ((st = check_name("tensor", p->name))) return st;
        if (!(p->flags & TG_NODE_STATE)) n_train += tg_shape_numel(&p->value.shape);
    }
    if (in->opt && tg_optimizer_size(in->opt) != n_train)
        return tg_error(TG_ERR_INVALID,
                        "the optimizer holds %lld parameters but the graph has %lld trainable "
                        "values; pass the optimizer created for this graph",
                        (long long)tg_optimizer_size(in->opt), (long long)n_train);
    if (in->n_rngs < 0 || in->n_meta < 0 || (in->n_rngs && !in->rngs) || (in->n_meta && !in->meta))
        return tg_error(TG_ERR_INVALID, "bad RNG or metadata list");
    if (in->compression < TG_CHECKPOINT_STORE || in->compression > 9)
        return tg_error(TG_ERR_INVALID, "compression %d is not -1 (store) or 0..9",
                        in->compression);
    for (int i = 0; i < in->n_rngs; i++) {
        if ((st = check_name("RNG", in->rngs[i].name))) return st;
        if (!in->rngs[i].rng) return tg_error(TG_ERR_INVALID, "RNG '%s' is NULL", in->rngs[i].name);
        if (strcmp(in->rngs[i].name, "graph") == 0)
            return tg_error(TG_ERR_INVALID, "RNG name 'graph' is reserved for the graph's RNG");
        for (int j = 0; j < i; j++)
            if (strcmp(in->rngs[i].name, in->rngs[j].name) == 0)
                return tg_error(TG_ERR_INVALID, "RNG '%s' is given twice", in->rngs[i].name);
    }
    for (int i = 0; i < in->n_meta; i++) {
        if ((st = check_name("metadata key", in->meta[i].key))) return st;
        if (!in->meta[i].value)
            return tg_error(TG_ERR_INVALID, "metadata '%s' has no value", in->meta[i].key);
        if (strlen(in->meta[i].value) > UINT32_MAX)
            return tg_error(TG_ERR_LIMIT, "metadata '%s': value too long", in->meta[i].key);
        for (int j = 0; j < i; j++)
            if (strcmp(in->meta[i].key, in->meta[j].key) == 0)
                return tg_error(TG_ERR_INVALID, "metadata key '%s' is given twice",
                                in->meta[i].key);
    }
    return TG_OK;
}

/* ---- section payloads ---- */

static void enc_tensors(bytes *b, const tg_graph *g) {
    int n = tg_graph_param_count(g);
    put_u32(b, (uint32_t)n);
    for (int i = 0; i < n; i++) {
        const tg_node *p = tg_graph_param_at(g, i);
        const tg_shape *s = &p->value.shape;
        put_str16(b, p->name);
        put_u8(b, (p->flags & TG_NODE_STATE) ? 1 : 0);
        put_u8(b, (unsigned)s->ndim);
        for (int d = 0; d < s->ndim; d++) put_u64(b, (uint64_t)s->dim[d]);
        put_floats(b, p->value.data, tg_shape_numel(s));
    }
}

static void enc_optimizer(bytes *b, tg_optimizer *opt) {
    const tg_optimizer_config *c = tg_optimizer_config_of(opt);
    /* The settings this kind reads, from the optimizer's own table. */
    uint32_t n_cfg = 0;
    for (int i = 0; i < tg_optimizer_setting_count(); i++)
        n_cfg += (uint32_t)tg_optimizer_setting_used(i, c->kind);
    put_str16(b, tg_optimizer_kind_name(c->kind));
    put_u32(b, n_cfg);
    for (int i = 0; i < tg_optimizer_setting_count(); i++) {
        if (!tg_optimizer_setting_used(i, c->kind)) continue;
        put_str16(b, tg_optimizer_setting_name(i));
        put_f64(b, tg_optimizer_setting_get(c, i));
    }
    int64_t size = tg_optimizer_size(opt);
    put_i64(b, tg_optimizer_steps(opt));
    put_u64(b, (uint64_t)size);
    int n = tg_optimizer_state_count(opt);
    put_u32(b, (uint32_t)n);
    for (int i = 0; i < n; i++) {
        put_str16(b, tg_optimizer_state_name(opt, i));
        put_floats(b, tg_optimizer_state_data(opt, i), size);
    }
}

static void enc_schedule(bytes *b, const tg_schedule *s) {
    const tg_schedule_config *c = &s->cfg;
    /* The settings this kind reads, from the schedule's own table. */
    uint32_t n_cfg = 0;
    for (int i = 0; i < tg_schedule_setting_count(); i++)
        n_cfg += (uint32_t)tg_schedule_setting_used(i, c->kind);
    put_str16(b, tg_schedule_kind_name(c->kind));
    put_u32(b, n_cfg);
    for (int i = 0; i < tg_schedule_setting_count(); i++) {
        if (!tg_schedule_setting_used(i, c->kind)) continue;
        put_str16(b, tg_schedule_setting_name(i));
        put_f64(b, tg_schedule_setting_get(c, i));
    }
    int n = tg_schedule_state_count(s);
    put_u32(b, (uint32_t)n);
    for (int i = 0; i < n; i++) {
        put_str16(b, tg_schedule_state_name(s, i));
        put_f64(b, tg_schedule_state_get(s, i));
    }
}

static void enc_train(bytes *b, const tg_checkpoint_data *in) {
    put_i64(b, in->epoch);
    put_i64(b, in->step);
    put_u32(b, in->has_best ? 1u : 0u);
    put_f64(b, in->has_best ? in->best : 0.0);
}

static void put_rng(bytes *b, const char *name, const tg_rng *r) {
    put_str16(b, name);
    for (int i = 0; i < 4; i++) put_u64(b, r->s[i]);
}

static void enc_rngs(bytes *b, const tg_checkpoint_data *in) {
    put_u32(b, (uint32_t)in->n_rngs + 1);
    put_rng(b, "graph", tg_graph_rng(in->graph));
    for (int i = 0; i < in->n_rngs; i++) put_rng(b, in->rngs[i].name, in->rngs[i].rng);
}

static void enc_meta(bytes *b, const tg_checkpoint_data *in) {
    put_u32(b, (uint32_t)in->n_meta);
    for (int i = 0; i < in->n_meta; i++) {
        put_str16(b, in->meta[i].key);
        put_str32(b, in->meta[i].value);
    }
}

void tg_ck_shuffle4(const unsigned char *in, size_t n, unsigned char *out) {
    const size_t m = n / 4;
    for (size_t i = 0; i < m; i++) {
        out[i] = in[4 * i];
        out[m + i] = in[4 * i + 1];
        out[2 * m + i] = in[4 * i + 2];
        out[3 * m + i] = in[4 * i + 3];
    }
    memcpy(out + 4 * m, in + 4 * m, n - 4 * m);
}

void tg_ck_unshuffle4(const unsigned char *in, size_t n, unsigned char *out) {
    const size_t m = n / 4;
    for (size_t i = 0; i < m; i++) {
        out[4 * i] = in[i];
        out[4 * i + 1] = in[m + i];
        out[4 * i + 2] = in[2 * m + i];
        out[4 * i + 3] = in[3 * m + i];
    }
    memcpy(out + 4 * m, in + 4 * m, n - 4 * m);
}

/* Sections at least this long are byte-shuffled before deflating (CK_SHUFFLE): the
 * tensors and optimizer state, whose floats' sign-and-exponent bytes are nearly alike. */
#define SHUFFLE_MIN 4096

/* Append one section (header, then the payload deflated or stored) to the file image.
 * Deflate's default here is level 1 on the shuffled bytes: measured on float weights, 2.3
 * times faster than level 6 on the plain bytes, and smaller (86% of the raw size, not 93%);
 * a checkpoint is written every epoch, so its time is training time. */
static tg_status add_section(bytes *file, const char tag[4], unsigned flags, const bytes *raw,
                             int compression) {
    if (raw->failed) return tg_error(TG_ERR_NOMEM, "out of memory encoding section %.4s", tag);
    if ((uint64_t)raw->len > TG_CHECKPOINT_MAX_SECTION_BYTES)
        return tg_error(TG_ERR_LIMIT, "section %.4s is %zu bytes, more than the limit of %llu", tag,
                        raw->len, (unsigned long long)TG_CHECKPOINT_MAX_SECTION_BYTES);
    uLong crc = crc32(0L, Z_NULL, 0);
    for (size_t off = 0; off < raw->len;) { /* crc32 takes uInt lengths */
        uInt k = (uInt)(raw->len - off > (1u << 30) ? (1u << 30) : raw->len - off);
        crc = crc32(crc, raw->p + off, k);
        off += k;
    }
    size_t hdr = file->len;
    unsigned char *h = grow(file, 32);
    if (!h) return tg_error(TG_ERR_NOMEM, "out of memory writing section %.4s", tag);
    size_t stored;
    if (compression == TG_CHECKPOINT_STORE) {
        put_raw(file, raw->p, raw->len);
        stored = raw->len;
    } else {
        flags |= CK_DEFLATE;
        unsigned char *shuffled = NULL;
        if (raw->len >= SHUFFLE_MIN) {
            if (!(shuffled = malloc(raw->len)))
                return tg_error(TG_ERR_NOMEM, "out of memory compressing section %.4s", tag);
            tg_ck_shuffle4(raw->p, raw->len, shuffled);
            flags |= CK_SHUFFLE;
        }
        z_stream z;
        memset(&z, 0, sizeof z);
        if (deflateInit(&z, compression ? compression : 1) != Z_OK) {
            free(shuffled);
            return tg_error(TG_ERR_NOMEM, "zlib could not start compressing section %.4s", tag);
        }
        size_t bound = (size_t)deflateBound(&z, (uLong)raw->len);
        unsigned char *out = grow(file, bound);
        if (!out) {
            deflateEnd(&z);
            free(shuffled);
            return tg_error(TG_ERR_NOMEM, "out of memory compressing section %.4s", tag);
        }
        size_t in_left = raw->len, out_left = bound;
        z.next_in = shuffled ? shuffled : raw->p;
        z.next_out = out;
        int zr;
        do { /* feed and drain at most 1 GiB at a time: zlib counts in uInt */
            uInt ai = (uInt)(in_left > (1u << 30) ? (1u << 30) : in_left);
            uInt ao = (uInt)(out_left > (1u << 30) ? (1u << 30) : out_left);
            z.avail_in = ai;
            z.avail_out = ao;
            zr = deflate(&z, ai == in_left ? Z_FINISH : Z_NO_FLUSH);
            in_left -= ai - z.avail_in;
            out_left -= ao - z.avail_out;
        } while (zr == Z_OK || (zr == Z_BUF_ERROR && out_left > 0));
        deflateEnd(&z);
        free(shuffled);
        if (zr != Z_STREAM_END)
            return tg_error(TG_ERR_NOMEM, "zlib failed compressing section %.4s (%d)", tag, zr);
        stored = bound - out_left;
        file->len -= out_left; /* give back the unused part of the bound */
    }
    h = file->p + hdr; /* the buffer may have moved */
    bytes hb = {0};
    put_raw(&hb, tag, 4);
    put_u32(&hb, flags);
    put_u64(&hb, (uint64_t)raw->len);
    put_u64(&hb, (uint64_t)stored);
    put_u32(&hb, (uint32_t)crc);
    if (hb.failed) {
        free(hb.p);
        return tg_error(TG_ERR_NOMEM, "out of memory writing section %.4s", tag);
    }
    put_u32(&hb, (uint32_t)crc32(0L, hb.p, 28));
    if (hb.failed) {
        free(hb.p);
        return tg_error(TG_ERR_NOMEM, "out of memory writing section %.4s", tag);
    }
    memcpy(h, hb.p, 32);
    free(hb.p);
    return TG_OK;
}

/* The whole file image: header, sections, trailer. */
static tg_status encode(const tg_checkpoint_data *in, bytes *file) {
    const char *text = in->model_text ? in->model_text : "";
    int present[CK_N_SECTIONS], count = 0;
    for (int i = 0; i < CK_N_SECTIONS; i++) {
        present[i] = i == CK_OPTM ? in->opt != NULL : i == CK_SCHD ? in->sched != NULL : 1;
        count += present[i];
    }

    put_raw(file, "TGCK", 4);
    put_u16(file, TG_CHECKPOINT_MAJOR);
    put_u16(file, TG_CHECKPOINT_MINOR);
    put_u32(file, 0);               /* flags, reserved */
    put_u32(file, (uint32_t)count); /* section count */
    put_u64(file, 0);               /* file size, patched below */
    put_u32(file, 0);               /* header CRC, patched below */
    if (file->failed) return tg_error(TG_ERR_NOMEM, "out of memory encoding the checkpoint");

    for (int i = 0; i < CK_N_SECTIONS; i++) {
        if (!present[i]) continue;
        bytes raw = {0};
        switch (i) {
        case CK_MODL:
            put_raw(&raw, text, strlen(text));
            break;
        case CK_TENS:
            enc_tensors(&raw, in->graph);
            break;
        case CK_OPTM:
            enc_optimizer(&raw, in->opt);
            break;
        case CK_SCHD:
            enc_schedule(&raw, in->sched);
            break;
        case CK_TRAN:
            enc_train(&raw, in);
            break;
        case CK_RNGS:
            enc_rngs(&raw, in);
            break;
        default:
            enc_meta(&raw, in);
            break;
        }
        tg_status st = add_section(file, tg_ck_sections[i].tag, tg_ck_sections[i].flags, &raw,
                                   in->compression);
        free(raw.p);
        if (st) return st;
    }

    uint64_t total = (uint64_t)file->len + 8;
    for (int i = 0; i < 8; i++) file->p[16 + i] = (unsigned char)(total >> (8 * i));
    uint32_t hcrc = (uint32_t)crc32(0L, file->p, 24);
    for (int i = 0; i < 4; i++) file->p[24 + i] = (unsigned char)(hcrc >> (8 * i));
    uLong fcrc = crc32(0L, Z_NULL, 0);
    for (size_t off = 0; off < file->len;) {
        uInt k = (uInt)(file->len - off > (1u << 30) ? (1u << 30) : file->len - off);
        fcrc = crc32(fcrc, file->p + off, k);
        off += k;
    }
    put_raw(file, "TGND", 4);
    put_u32(file, (uint32_t)fcrc);
    if (file->failed) return tg_error(TG_ERR_NOMEM, "out of memory encoding the checkpoint");
    return TG_OK;
}

/* ---- the atomic write ---- */

int tg_checkpoint_remove_stale(const char *path) {
    if (!path || !*path) return 0;
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    size_t dlen = slash ? (size_t)(slash - path) : 0, blen = strlen(base);
    char dir[4096];
    if (dlen + 2 > sizeof dir) return 0;
    snprintf(dir, sizeof dir, "%.*s", slash ? (dlen ? (int)dlen : 1) : 1,
             slash ? (dlen ? path : "/") : ".");
    DIR *dp = opendir(dir);
    if (!dp && errno == ENOENT) return 0; /* no directory yet: nothing left behind */
    if (!dp) {
        tg_error(TG_ERR_IO, "cannot read directory '%s': %s", dir, strerror(errno));
        return -1;
    }
    int removed = 0;
    struct dirent *e;
    while ((e = readdir(dp))) {
        const char *n = e->d_name; /* the exact shape mkstemp gives: base.tmp-XXXXXX */
        if (strlen(n) != blen + 11 || strncmp(n, base, blen) != 0 ||
            strncmp(n + blen, ".tmp-", 5) != 0)
            continue;
        int ok = 1;
        for (int i = 0; i < 6; i++) ok &= isalnum((unsigned char)n[blen + 5 + i]) != 0;
        char full[4096 + 256];
        snprintf(full, sizeof full, "%s/%s", dir, n);
        if (ok && unlink(full) == 0) removed++;
    }
    closedir(dp);
    return removed;
}

static tg_status sys_error(const char *path, const char *what, const char *file, int err) {
    const char *hint = err == ENOSPC || err == EFBIG || err == EDQUOT
                           ? "; free disk space or raise the file-size limit"
                       : err == EACCES || err == EPERM || err == EROFS
                           ? "; check the directory's permissions"
                       : err == ENOENT || err == ENOTDIR ? "; create the directory first"
                                                         : "";
    return tg_error(TG_ERR_IO, "saving checkpoint '%s': %s '%s': %s%s; the previous file is kept",
                    path, what, file, strerror(err), hint);
}

/* The encoded file image to `path`, atomically (see tg_checkpoint_save). */
static tg_status write_file(const char *path, const bytes *image) {
    size_t plen = strlen(path);
    tg_status st = tg_fs_check_replaceable(path, "saving checkpoint");
    if (st) return st;
    /* The temporary file sits next to the target, so rename() is atomic. */
    char *tmp = malloc(plen + 16);
    const char *slash = strrchr(path, '/');
    size_t dlen = slash ? (size_t)(slash - path) : 0;
    char *dir = malloc(dlen + 2);
    if (!tmp || !dir) {
        free(tmp);
        free(dir);
        return tg_error(TG_ERR_NOMEM, "saving checkpoint '%s': out of memory", path);
    }
    snprintf(tmp, plen + 16, "%s.tmp-XXXXXX", path);
    if (slash)
        snprintf(dir, dlen + 2, "%.*s", dlen ? (int)dlen : 1, dlen ? path : "/");
    else
        snprintf(dir, dlen + 2, ".");

    int fd = mkstemp(tmp);
    if (fd < 0) {
        st = sys_error(path, "creating temporary file", tmp, errno);
        goto out;
    }
    struct stat old;
    mode_t mode = stat(path, &old) == 0 ? (old.st_mode & 0777) : 0644;
    FILE *f = fdopen(fd, "wb");
    if (!f) {
        int err = errno;
        close(fd);
        unlink(tmp);
        st = sys_error(path, "opening temporary file", tmp, err);
        goto out;
    }
    int err = 0;
    const char *what = "writing temporary file";
    if (fchmod(fd, mode) != 0) err = errno, what = "setting the mode of";
    for (size_t off = 0; !err && off < image->len;) {
        errno = 0;
        size_t k = fwrite(image->p + off, 1, image->len - off, f);
        if (k == 0) err = errno ? errno : EIO;
        off += k;
    }
    errno = 0;
    if (!err && fflush(f) != 0) err = errno ? errno : EIO;
    if (!err && fsync(fd) != 0) err = errno, what = "flushing temporary file";
    errno = 0;
    if (fclose(f) != 0 && !err) err = errno ? errno : EIO, what = "closing temporary file";
    if (!err && rename(tmp, path) != 0) err = errno, what = "renaming temporary file";
    if (err) {
        unlink(tmp);
        st = sys_error(path, what, tmp, err);
        goto out;
    }
    /* Make the rename itself durable. Some file systems cannot fsync a directory (EINVAL). */
    int dfd = open(dir, O_RDONLY | O_DIRECTORY);
    if (dfd < 0 || (fsync(dfd) != 0 && errno != EINVAL)) {
        err = errno;
        if (dfd >= 0) close(dfd);
        st = tg_error(TG_ERR_IO,
                      "saving checkpoint '%s': the file is written, but flushing directory '%s' "
                      "failed: %s; it may not survive a power loss",
                      path, dir, strerror(err));
        goto out;
    }
    close(dfd);
    st = TG_OK;
out:
    free(tmp);
    free(dir);
    return st;
}

static tg_status check_path(const char *path) {
    if (!path || !*path) return tg_error(TG_ERR_INVALID, "tg_checkpoint_save: no path");
    if (path[strlen(path) - 1] == '/')
        return tg_error(TG_ERR_INVALID, "saving checkpoint '%s': the path names a directory", path);
    return TG_OK;
}

tg_status tg_checkpoint_save_copies(const char *const *paths, int n_paths,
                                    const tg_checkpoint_data *in) {
    if (!paths || n_paths < 1) return tg_error(TG_ERR_INVALID, "tg_checkpoint_save: no path");
    tg_status st = TG_OK;
    for (int i = 0; i < n_paths && !st; i++) st = check_path(paths[i]);
    if (st) return st;
    if ((st = check_input(in))) return tg_error_context(st, "saving checkpoint '%s': ", paths[0]);
    bytes file = {0};
    if ((st = encode(in, &file))) {
        free(file.p);
        return tg_error_context(st, "saving checkpoint '%s': ", paths[0]);
    }
    for (int i = 0; i < n_paths && !st; i++) st = write_file(paths[i], &file);
    free(file.p);
    return st;
}

tg_status tg_checkpoint_save(const char *path, const tg_checkpoint_data *in) {
    return tg_checkpoint_save_copies(&path, 1, in);
}
