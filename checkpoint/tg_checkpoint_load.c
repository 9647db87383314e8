/* Checkpoint loading and restoring. Nothing read from the file is trusted before it is checked:
 * every declared size is compared with what is left of the file and with the limits before any
 * allocation, decompression writes into a buffer of the declared size only, and every checksum
 * is verified. The layout is docs/checkpoint-format.md; the writer is tg_checkpoint.c. */
#include "checkpoint/tg_checkpoint_impl.h"
#include "autograd/tg_node_impl.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "autograd/tg_budget.h"

enum { FILE_HEADER = 28, SECTION_HEADER = 32, TRAILER = 8 };
/* Deflate cannot expand its input by more than 1032:1. */
#define MAX_DEFLATE_RATIO 1032u

/* ---- a bounded cursor over one decompressed payload ---- */

typedef struct cursor {
    const unsigned char *p;
    size_t len, off;
    const char *path, *tag;
    tg_status st; /* the first failure; every later read is a no-op */
} cursor;

static int bad(cursor *c, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* Record a format error at the cursor (the first one wins); returns 0 for convenience. */
static int bad(cursor *c, const char *fmt, ...) {
    if (!c->st) {
        char msg[512];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        c->st = tg_error(TG_ERR_FORMAT, "checkpoint '%s': section %s, byte %zu: %s", c->path,
                         c->tag, c->off, msg);
    }
    return 0;
}

static int need(cursor *c, uint64_t n, const char *what) {
    if (c->st) return 0;
    if (n > c->len - c->off)
        return bad(c, "%s needs %llu bytes but the section ends first", what,
                   (unsigned long long)n);
    return 1;
}

static uint64_t get_le(cursor *c, int n, const char *what) {
    if (!need(c, (uint64_t)n, what)) return 0;
    uint64_t v = 0;
    for (int i = 0; i < n; i++) v |= (uint64_t)c->p[c->off + i] << (8 * i);
    c->off += (size_t)n;
    return v;
}
static unsigned get_u8(cursor *c, const char *w) {
    return (unsigned)get_le(c, 1, w);
}
static uint32_t get_u32(cursor *c, const char *w) {
    return (uint32_t)get_le(c, 4, w);
}
static uint64_t get_u64(cursor *c, const char *w) {
    return get_le(c, 8, w);
}
static int64_t get_i64(cursor *c, const char *w) {
    uint64_t u = get_le(c, 8, w);
    int64_t v;
    memcpy(&v, &u, 8); /* two's complement, as written */
    return v;
}
static double get_f64(cursor *c, const char *w) {
    uint64_t u = get_le(c, 8, w);
    double v;
    memcpy(&v, &u, 8);
    return v;
}

/* A string of `len` bytes (no NUL inside), copied and terminated; NULL on failure. */
static char *get_bytes_str(cursor *c, uint64_t len, const char *what) {
    if (!need(c, len, what)) return NULL;
    const unsigned char *s = c->p + c->off;
    if (memchr(s, 0, (size_t)len)) {
        bad(c, "%s contains a NUL byte", what);
        return NULL;
    }
    char *out = malloc((size_t)len + 1);
    if (!out) {
        c->st = tg_error(TG_ERR_NOMEM, "checkpoint '%s': out of memory reading %s", c->path, what);
        return NULL;
    }
    memcpy(out, s, (size_t)len);
    out[len] = '\0';
    c->off += (size_t)len;
    return out;
}

/* str16: a name of 1..TG_CHECKPOINT_MAX_NAME bytes of valid UTF-8. */
static char *get_name(cursor *c, const char *what) {
    uint64_t len = get_le(c, 2, what);
    if (c->st) return NULL;
    if (len == 0 || len > TG_CHECKPOINT_MAX_NAME) {
        bad(c, "%s has length %llu (must be 1..%u)", what, (unsigned long long)len,
            TG_CHECKPOINT_MAX_NAME);
        return NULL;
    }
    if (need(c, len, what) && !tg_ck_utf8_valid(c->p + c->off, (size_t)len)) {
        bad(c, "%s is not valid UTF-8", what);
        return NULL;
    }
    return get_bytes_str(c, len, what);
}

static void check_unique(cursor *c, ck_index *idx, int n, const char *what);
static int get_count(cursor *c, size_t min_bytes, const char *what);
static double get_f64(cursor *c, const char *w);

/* A config list: u32 count, then (name, f64) pairs with unique names, each handed to set(),
 * which ignores names it does not know (a newer writer's). */
typedef void (*config_setter)(cursor *c, void *cfg, const char *key, double v);
static void get_config(cursor *c, void *cfg, config_setter set, const char *what) {
    int n = get_count(c, 2 + 1 + 8, what);
    if (c->st) return;
    char **keys = calloc((size_t)n + 1, sizeof *keys);
    ck_index *idx = calloc((size_t)n + 1, sizeof *idx);
    int got = 0;
    if (!keys || !idx) c->st = tg_error(TG_ERR_NOMEM, "checkpoint '%s': out of memory", c->path);
    for (int i = 0; i < n && !c->st; i++) {
        char *k = get_name(c, "config key");
        double v = get_f64(c, "config value");
        if (!k) break;
        keys[got] = k;
        idx[got] = (ck_index){k, got};
        got++;
        if (!c->st) set(c, cfg, k, v);
    }
    check_unique(c, idx, got, "config key");
    for (int i = 0; i < got; i++) free(keys[i]);
    free(keys);
    free(idx);
}

/* u64 byte count (== n * 4), then n float32 little-endian, into a new array. */
static float *get_floats(cursor *c, int64_t n, const char *what) {
    uint64_t nbytes = get_u64(c, what);
    if (c->st) return NULL;
    if (nbytes != (uint64_t)n * 4) {
        bad(c, "%s: %llu data bytes, but its shape needs %llu", what, (unsigned long long)nbytes,
            (unsigned long long)n * 4);
        return NULL;
    }
    if (!need(c, nbytes, what)) return NULL;
    float *x = malloc((size_t)nbytes ? (size_t)nbytes : 1);
    if (!x) {
        c->st = tg_error(TG_ERR_NOMEM, "checkpoint '%s': out of memory for %s (%llu bytes)",
                         c->path, what, (unsigned long long)nbytes);
        return NULL;
    }
    const unsigned char *p = c->p + c->off;
    for (int64_t i = 0; i < n; i++, p += 4) {
        uint32_t u =
            (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
        memcpy(&x[i], &u, 4);
    }
    c->off += (size_t)nbytes;
    return x;
}

/* A count of records each at least min_bytes long: checked against what is left. */
static int get_count(cursor *c, size_t min_bytes, const char *what) {
    uint32_t n = get_u32(c, what);
    if (c->st) return 0;
    if ((uint64_t)n > (c->len - c->off) / min_bytes || n > INT_MAX / 2)
        return bad(c, "%s %u cannot fit in the section", what, (unsigned)n);
    return (int)n;
}

static void end_of(cursor *c) {
    if (!c->st && c->off != c->len) bad(c, "%zu bytes follow the last record", c->len - c->off);
}

static int cmp_index(const void *a, const void *b) {
    return strcmp(((const ck_index *)a)->name, ((const ck_index *)b)->name);
}

/* Sort n names into idx (caller-allocated) and fail on a duplicate. */
static void check_unique(cursor *c, ck_index *idx, int n, const char *what) {
    if (c->st) return;
    qsort(idx, (size_t)n, sizeof *idx, cmp_index);
    for (int i = 1; i < n; i++)
        if (strcmp(idx[i - 1].name, idx[i].name) == 0) {
            c->st = tg_error(TG_ERR_FORMAT, "checkpoint '%s': section %s: %s '%s' appears twice",
                             c->path, c->tag, what, idx[i].name);
            return;
        }
}

/* ---- the sections ---- */

static void parse_model(cursor *c, tg_checkpoint *ck) {
    ck->model = get_bytes_str(c, c->len, "the model text");
    ck->model_len = c->len;
}

static void parse_tensors(cursor *c, tg_checkpoint *ck) {
    int n = get_count(c, 2 + 1 + 1 + 1 + 8 + 8, "tensor count");
    if (c->st) return;
    ck->tensors = calloc((size_t)n + 1, sizeof *ck->tensors);
    ck->by_name = calloc((size_t)n + 1, sizeof *ck->by_name);
    if (!ck->tensors || !ck->by_name) {
        c->st = tg_error(TG_ERR_NOMEM, "checkpoint '%s': out of memory", c->path);
        return;
    }
    for (int i = 0; i < n && !c->st; i++) {
        ck_tensor *t = &ck->tensors[i];
        if (!(t->name = get_name(c, "tensor name"))) return;
        ck->n_tensors = i + 1;
        unsigned kind = get_u8(c, "tensor kind"), ndim = get_u8(c, "tensor rank");
        if (!c->st && kind > 1) bad(c, "tensor '%s': kind %u is not 0 or 1", t->name, kind);
        if (!c->st && (ndim < 1 || ndim > TG_MAX_DIMS))
            bad(c, "tensor '%s': rank %u is not 1..4", t->name, ndim);
        t->state = (int)kind;
        t->shape.ndim = (int)ndim;
        for (unsigned d = 0; d < ndim && !c->st; d++) {
            uint64_t v = get_u64(c, "tensor dimension");
            t->shape.dim[d] = v > (uint64_t)INT64_MAX ? 0 : (int64_t)v;
        }
        if (c->st) return;
        if (!tg_shape_valid(&t->shape)) {
            char buf[64];
            c->st = tg_error(TG_ERR_FORMAT, "checkpoint '%s': tensor '%s' has an invalid shape %s",
                             c->path, t->name, tg_shape_str(&t->shape, buf, sizeof buf));
            return;
        }
        t->data = get_floats(c, tg_shape_numel(&t->shape), t->name);
        ck->by_name[i] = (ck_index){t->name, i};
    }
    end_of(c);
    check_unique(c, ck->by_name, ck->n_tensors, "tensor");
}

/* Config values go through the optimizer's and schedule's settings tables; a name this version
 * does not know comes from a newer writer and is skipped. */
static void set_optimizer_key(cursor *c, void *cfg, const char *k, double v) {
    int s = tg_optimizer_setting_find(k);
    if (s >= 0 && tg_optimizer_setting_put(cfg, s, v))
        c->st = tg_error_context(TG_ERR_FORMAT, "checkpoint '%s': optimizer config: ", c->path);
}

static void set_schedule_key(cursor *c, void *cfg, const char *k, double v) {
    int s = tg_schedule_setting_find(k);
    if (s >= 0 && tg_schedule_setting_put(cfg, s, v))
        c->st = tg_error_context(TG_ERR_FORMAT, "checkpoint '%s': schedule config: ", c->path);
}

static void parse_optimizer(cursor *c, tg_checkpoint *ck) {
    char *kind_name = get_name(c, "optimizer kind");
    if (!kind_name) return;
    tg_optimizer_kind kind;
    if (tg_optimizer_kind_parse(kind_name, &kind) ||
        strcmp(kind_name, tg_optimizer_kind_name(kind)) != 0) { /* exact, lower case */
        c->st = tg_error(TG_ERR_VERSION,
                         "checkpoint '%s': optimizer kind '%s' is unknown to this version; "
                         "upgrade twingrad",
                         c->path, kind_name);
        free(kind_name);
        return;
    }
    free(kind_name);
    tg_optimizer_config *cfg = &ck->opt_cfg;
    *cfg = tg_optimizer_defaults(kind);
    get_config(c, cfg, set_optimizer_key, "optimizer config count");
    if (c->st) return;
    if (tg_optimizer_config_validate(cfg, NULL)) {
        c->st =
            tg_error_context(TG_ERR_FORMAT, "checkpoint '%s': stored optimizer config: ", c->path);
        return;
    }
    ck->opt_steps = get_i64(c, "optimizer steps");
    uint64_t size = get_u64(c, "optimizer size");
    if (c->st) return;
    if (ck->opt_steps < 0)
        bad(c, "optimizer step count %lld is negative", (long long)ck->opt_steps);
    if (size < 1 || size > (1ull << 40))
        bad(c, "optimizer size %llu is out of range", (unsigned long long)size);
    ck->opt_size = (int64_t)size;
    int na = get_count(c, 2 + 1 + 8, "optimizer array count");
    if (c->st) return;
    ck->arrays = calloc((size_t)na + 1, sizeof *ck->arrays);
    ck_index *idx = calloc((size_t)na + 1, sizeof *idx);
    if (!ck->arrays || !idx) {
        free(idx);
        c->st = tg_error(TG_ERR_NOMEM, "checkpoint '%s': out of memory", c->path);
        return;
    }
    for (int i = 0; i < na && !c->st; i++) {
        if (!(ck->arrays[i].name = get_name(c, "optimizer array name"))) break;
        ck->n_arrays = i + 1;
        ck->arrays[i].data = get_floats(c, ck->opt_size, ck->arrays[i].name);
        idx[i] = (ck_index){ck->arrays[i].name, i};
    }
    end_of(c);
    check_unique(c, idx, ck->n_arrays, "optimizer array");
    free(idx);
    ck->has_opt = !c->st;
}

static void parse_schedule(cursor *c, tg_checkpoint *ck) {
    char *kind_name = get_name(c, "schedule kind");
    if (!kind_name) return;
    tg_schedule_kind kind;
    if (tg_schedule_kind_parse(kind_name, &kind) ||
        strcmp(kind_name, tg_schedule_kind_name(kind)) != 0) { /* exact, lower case */
        c->st = tg_error(TG_ERR_VERSION,
                         "checkpoint '%s': schedule kind '%s' is unknown to this version; "
                         "upgrade twingrad",
                         c->path, kind_name);
        free(kind_name);
        return;
    }
    free(kind_name);
    tg_schedule_config *cfg = &ck->sched_cfg;
    *cfg = tg_schedule_defaults(kind, 0.0);
    get_config(c, cfg, set_schedule_key, "schedule config count");
    if (c->st) return;
    if (tg_schedule_config_validate(cfg, NULL)) {
        c->st =
            tg_error_context(TG_ERR_FORMAT, "checkpoint '%s': stored schedule config: ", c->path);
        return;
    }
    int ns = get_count(c, 2 + 1 + 8, "schedule state count");
    if (c->st) return;
    ck->sched_state = calloc((size_t)ns + 1, sizeof *ck->sched_state);
    ck_index *idx = calloc((size_t)ns + 1, sizeof *idx);
    if (!ck->sched_state || !idx) {
        free(idx);
        c->st = tg_error(TG_ERR_NOMEM, "checkpoint '%s': out of memory", c->path);
        return;
    }
    for (int i = 0; i < ns && !c->st; i++) {
        if (!(ck->sched_state[i].name = get_name(c, "schedule state name"))) break;
        ck->n_sched = i + 1;
        ck->sched_state[i].v = get_f64(c, "schedule state value");
        idx[i] = (ck_index){ck->sched_state[i].name, i};
    }
    end_of(c);
    check_unique(c, idx, ck->n_sched, "schedule state");
    free(idx);
    ck->has_sched = !c->st;
}

static void parse_train(cursor *c, tg_checkpoint *ck) {
    ck->epoch = get_i64(c, "epoch");
    ck->step = get_i64(c, "step");
    uint32_t flags = get_u32(c, "flags");
    ck->best = get_f64(c, "best");
    if (!c->st && flags > 1) bad(c, "unknown flags 0x%x", (unsigned)flags);
    ck->has_best = (int)(flags & 1);
    end_of(c);
}

static void parse_rngs(cursor *c, tg_checkpoint *ck) {
    int n = get_count(c, 2 + 1 + 32, "RNG count");
    if (c->st) return;
    ck->rngs = calloc((size_t)n + 1, sizeof *ck->rngs);
    ck_index *idx = calloc((size_t)n + 1, sizeof *idx);
    if (!ck->rngs || !idx) {
        free(idx);
        c->st = tg_error(TG_ERR_NOMEM, "checkpoint '%s': out of memory", c->path);
        return;
    }
    for (int i = 0; i < n && !c->st; i++) {
        ck_rng *r = &ck->rngs[i];
        if (!(r->name = get_name(c, "RNG name"))) break;
        ck->n_rngs = i + 1;
        for (int k = 0; k < 4; k++) r->rng.s[k] = get_u64(c, "RNG state");
        if (!c->st && !(r->rng.s[0] | r->rng.s[1] | r->rng.s[2] | r->rng.s[3]))
            bad(c, "RNG '%s' has the all-zero state, which xoshiro256** never reaches", r->name);
        idx[i] = (ck_index){r->name, i};
    }
    end_of(c);
    check_unique(c, idx, ck->n_rngs, "RNG");
    free(idx);
}

static void parse_meta(cursor *c, tg_checkpoint *ck) {
    int n = get_count(c, 2 + 1 + 4, "metadata count");
    if (c->st) return;
    ck->meta = calloc((size_t)n + 1, sizeof *ck->meta);
    ck_index *idx = calloc((size_t)n + 1, sizeof *idx);
    if (!ck->meta || !idx) {
        free(idx);
        c->st = tg_error(TG_ERR_NOMEM, "checkpoint '%s': out of memory", c->path);
        return;
    }
    for (int i = 0; i < n && !c->st; i++) {
        ck_meta *m = &ck->meta[i];
        if (!(m->key = get_name(c, "metadata key"))) break;
        ck->n_meta = i + 1;
        uint64_t len = get_u32(c, "metadata value length");
        m->value = get_bytes_str(c, len, "metadata value");
        idx[i] = (ck_index){m->key, i};
    }
    end_of(c);
    check_unique(c, idx, ck->n_meta, "metadata key");
    free(idx);
}

/* ---- the container ---- */

typedef struct reader {
    FILE *f;
    const char *path;
    uint64_t size, pos;
    uLong crc;     /* of every byte read so far: the trailer's checksum */
    uint64_t held; /* bytes the sections parsed so far keep in memory */
} reader;

static tg_status rd(reader *r, void *dst, size_t n) {
    if ((uint64_t)n > r->size - r->pos) /* the size was checked; only a changing file gets here */
        return tg_error(TG_ERR_FORMAT, "checkpoint '%s' is truncated at byte %llu", r->path,
                        (unsigned long long)r->size);
    unsigned char *p = dst;
    for (size_t off = 0; off < n;) {
        size_t k = n - off > (1u << 30) ? (1u << 30) : n - off;
        if (fread(p + off, 1, k, r->f) != k)
            return tg_error(TG_ERR_IO, "checkpoint '%s': read error at byte %llu: %s", r->path,
                            (unsigned long long)(r->pos + off),
                            ferror(r->f) ? strerror(errno) : "unexpected end of file");
        r->crc = crc32(r->crc, p + off, (uInt)k);
        off += k;
    }
    r->pos += n;
    return TG_OK;
}

static uint64_t le(const unsigned char *p, int n) {
    uint64_t v = 0;
    for (int i = 0; i < n; i++) v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static uLong crc_of(const unsigned char *p, size_t n) {
    uLong crc = crc32(0L, Z_NULL, 0);
    for (size_t off = 0; off < n;) {
        uInt k = (uInt)(n - off > (1u << 30) ? (1u << 30) : n - off);
        crc = crc32(crc, p + off, k);
        off += k;
    }
    return crc;
}

/* Inflate exactly `in_len` bytes into exactly `out_len` bytes; out has room for one more, so
 * a stream that would give more than declared is caught without writing past the buffer. */
static tg_status inflate_exact(const reader *r, const char *tag, const unsigned char *in,
                               size_t in_len, unsigned char *out, size_t out_len) {
    z_stream z;
    memset(&z, 0, sizeof z);
    if (inflateInit(&z) != Z_OK)
        return tg_error(TG_ERR_NOMEM, "checkpoint '%s': zlib could not start", r->path);
    size_t in_left = in_len, out_left = out_len + 1;
    z.next_in = (Bytef *)(uintptr_t)in;
    z.next_out = out;
    int zr;
    const char *why = NULL;
    for (;;) {
        uInt ai = (uInt)(in_left > (1u << 30) ? (1u << 30) : in_left);
        uInt ao = (uInt)(out_left > (1u << 30) ? (1u << 30) : out_left);
        z.avail_in = ai;
        z.avail_out = ao;
        zr = inflate(&z, Z_NO_FLUSH);
        size_t used_in = ai - z.avail_in, used_out = ao - z.avail_out;
        in_left -= used_in;
        out_left -= used_out;
        if (zr == Z_STREAM_END) {
            if (out_left == 0)
                why = "decompresses to more bytes than declared";
            else if (out_left != 1)
                why = "decompresses to fewer bytes than declared";
            else if (in_left)
                why = "has bytes after the end of the compressed stream";
            break;
        }
        if (out_left == 0) {
            why = "decompresses to more bytes than declared";
            break;
        }
        if (zr == Z_OK && (used_in || used_out)) continue;
        if (zr == Z_MEM_ERROR) {
            inflateEnd(&z);
            return tg_error(TG_ERR_NOMEM, "checkpoint '%s': out of memory decompressing", r->path);
        }
        why = zr == Z_OK || zr == Z_BUF_ERROR ? "compressed stream ends early"
                                              : "compressed data is damaged";
        break;
    }
    inflateEnd(&z);
    if (why)
        return tg_error(TG_ERR_CORRUPT, "checkpoint '%s': section %s: %s; the file is damaged",
                        r->path, tag, why);
    return TG_OK;
}

/* Read one section: header checks, payload, decompression, checksum, parsing. */
static tg_status read_section(reader *r, tg_checkpoint *ck, unsigned idx, unsigned *seen) {
    unsigned char h[SECTION_HEADER];
    uint64_t start = r->pos;
    if ((uint64_t)SECTION_HEADER > r->size - TRAILER - r->pos)
        return tg_error(TG_ERR_FORMAT,
                        "checkpoint '%s': section %u header at byte %llu runs past the end of the "
                        "file; the file is damaged or was cut short",
                        r->path, idx, (unsigned long long)start);
    tg_status st = rd(r, h, sizeof h);
    if (st) return st;
    char tag[5];
    memcpy(tag, h, 4);
    tag[4] = '\0';
    if ((uint32_t)le(h + 28, 4) != (uint32_t)crc_of(h, 28))
        return tg_error(TG_ERR_CORRUPT,
                        "checkpoint '%s': section %u header at byte %llu fails its checksum; the "
                        "file is damaged",
                        r->path, idx, (unsigned long long)start);
    for (int i = 0; i < 4; i++) {
        unsigned char ch = h[i];
        if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9')))
            return tg_error(TG_ERR_FORMAT, "checkpoint '%s': section %u has an invalid tag",
                            r->path, idx);
    }
    uint32_t flags = (uint32_t)le(h + 4, 4);
    uint64_t raw_len = le(h + 8, 8), stored_len = le(h + 16, 8);
    uint32_t raw_crc = (uint32_t)le(h + 24, 4);
    if (flags & ~(uint32_t)(CK_DEFLATE | CK_CRITICAL | CK_SHUFFLE))
        return tg_error(TG_ERR_FORMAT, "checkpoint '%s': section %s has unknown flags 0x%x",
                        r->path, tag, (unsigned)flags);
    if (stored_len > r->size - TRAILER - r->pos)
        return tg_error(TG_ERR_FORMAT,
                        "checkpoint '%s': section %s declares %llu bytes but only %llu remain; "
                        "the file is damaged or was cut short",
                        r->path, tag, (unsigned long long)stored_len,
                        (unsigned long long)(r->size - TRAILER - r->pos));
    if (raw_len > TG_CHECKPOINT_MAX_SECTION_BYTES || raw_len >= SIZE_MAX)
        return tg_error(TG_ERR_LIMIT,
                        "checkpoint '%s': section %s declares %llu uncompressed bytes, more than "
                        "the limit of %llu",
                        r->path, tag, (unsigned long long)raw_len,
                        (unsigned long long)TG_CHECKPOINT_MAX_SECTION_BYTES);
    if ((flags & CK_DEFLATE) ? raw_len / MAX_DEFLATE_RATIO > stored_len : raw_len != stored_len)
        return tg_error(TG_ERR_FORMAT,
                        "checkpoint '%s': section %s declares %llu uncompressed bytes from %llu "
                        "stored bytes, which is impossible",
                        r->path, tag, (unsigned long long)raw_len, (unsigned long long)stored_len);
    int k = 0;
    while (k < CK_N_SECTIONS && memcmp(tag, tg_ck_sections[k].tag, 4) != 0) k++;
    if (k == CK_N_SECTIONS && (flags & CK_CRITICAL))
        return tg_error(TG_ERR_VERSION,
                        "checkpoint '%s': section %s is required to read the file but unknown to "
                        "this version; upgrade twingrad",
                        r->path, tag);
    if (k < CK_N_SECTIONS && (*seen & (1u << k)))
        return tg_error(TG_ERR_FORMAT, "checkpoint '%s': section %s appears twice", r->path, tag);
    /* An unknown optional section is verified like any other (zlib stream, checksum), then
     * skipped: a damaged file is refused whichever section the damage is in. */
    /* What reading this section costs, with what earlier ones hold: the stored bytes, the
     * inflated payload, and the parsed copy of it (at most as large as the payload). */
    uint64_t cost =
        tg_cost_add(tg_cost_add(r->held, stored_len),
                    tg_cost_mul(1 + !!(flags & CK_DEFLATE) + !!(flags & CK_SHUFFLE), raw_len));
    char what[300];
    snprintf(what, sizeof what, "checkpoint '%s': section %s", r->path, tag);
    if ((st = tg_memory_check(cost, what))) return st;
    r->held += raw_len;
    unsigned char *stored = malloc(stored_len ? (size_t)stored_len : 1);
    if (!stored)
        return tg_error(TG_ERR_NOMEM, "checkpoint '%s': out of memory for section %s", r->path,
                        tag);
    if ((st = rd(r, stored, (size_t)stored_len))) {
        free(stored);
        return st;
    }
    if (k < CK_N_SECTIONS) *seen |= 1u << k;
    unsigned char *raw = stored;
    if (flags & CK_DEFLATE) {
        raw = malloc((size_t)raw_len + 1);
        if (!raw) {
            free(stored);
            return tg_error(TG_ERR_NOMEM, "checkpoint '%s': out of memory for section %s", r->path,
                            tag);
        }
        st = inflate_exact(r, tag, stored, (size_t)stored_len, raw, (size_t)raw_len);
        free(stored);
        if (st) {
            free(raw);
            return st;
        }
    }
    if (flags & CK_SHUFFLE) { /* the writer regrouped the bytes by position mod 4 */
        unsigned char *plain = malloc((size_t)raw_len + 1);
        if (!plain) {
            free(raw);
            return tg_error(TG_ERR_NOMEM, "checkpoint '%s': out of memory for section %s", r->path,
                            tag);
        }
        tg_ck_unshuffle4(raw, (size_t)raw_len, plain);
        free(raw);
        raw = plain;
    }
    if ((uint32_t)crc_of(raw, (size_t)raw_len) != raw_crc) {
        free(raw);
        return tg_error(TG_ERR_CORRUPT,
                        "checkpoint '%s': section %s fails its checksum; the file is damaged",
                        r->path, tag);
    }
    cursor c = {raw, (size_t)raw_len, 0, r->path, tag, TG_OK};
    switch (k) {
    case CK_MODL:
        parse_model(&c, ck);
        break;
    case CK_TENS:
        parse_tensors(&c, ck);
        break;
    case CK_OPTM:
        parse_optimizer(&c, ck);
        break;
    case CK_SCHD:
        parse_schedule(&c, ck);
        break;
    case CK_TRAN:
        parse_train(&c, ck);
        break;
    case CK_RNGS:
        parse_rngs(&c, ck);
        break;
    case CK_META:
        parse_meta(&c, ck);
        break;
    default: /* unknown and optional: verified above, nothing to keep */
        break;
    }
    free(raw);
    return c.st;
}

/* What ties the sections together: the flat parameter vector is the kind-0 tensors of TENS in
 * order, and an optimizer's arrays must cover exactly that many values. */
static tg_status check_across_sections(const reader *r, tg_checkpoint *ck) {
    int64_t flat = 0;
    for (int i = 0; i < ck->n_tensors; i++) {
        ck_tensor *t = &ck->tensors[i];
        t->flat_offset = t->state ? -1 : flat;
        if (!t->state) flat += tg_shape_numel(&t->shape);
    }
    if (ck->has_opt && ck->opt_size != flat)
        return tg_error(TG_ERR_FORMAT,
                        "checkpoint '%s': the optimizer state covers %lld values but the "
                        "parameters in TENS hold %lld",
                        r->path, (long long)ck->opt_size, (long long)flat);
    return TG_OK;
}

static tg_status read_file(reader *r, tg_checkpoint *ck) {
    unsigned char h[FILE_HEADER], t[TRAILER];
    if (r->size < FILE_HEADER + TRAILER)
        return tg_error(TG_ERR_FORMAT,
                        "checkpoint '%s' is %llu bytes, too short to be a checkpoint; the file is "
                        "damaged or was cut short",
                        r->path, (unsigned long long)r->size);
    tg_status st = rd(r, h, sizeof h);
    if (st) return st;
    if (memcmp(h, "TGCK", 4) != 0)
        return tg_error(TG_ERR_FORMAT,
                        "'%s' is not a twingrad checkpoint (its first bytes are not \"TGCK\")",
                        r->path);
    ck->major = (unsigned)le(h + 4, 2);
    ck->minor = (unsigned)le(h + 6, 2);
    /* The version comes before the header CRC (a later major version may lay its header
     * out differently), but a version that fails this layout's CRC is more likely a
     * damaged 1.x file than a newer one: say both. */
    const int header_ok = (uint32_t)le(h + 24, 4) == (uint32_t)crc_of(h, 24);
    if (ck->major > TG_CHECKPOINT_MAJOR && !header_ok)
        return tg_error(TG_ERR_CORRUPT,
                        "checkpoint '%s' reads as format version %u.%u but its header fails the "
                        "checksum: the file is damaged (or from a newer twingrad)",
                        r->path, ck->major, ck->minor);
    if (ck->major > TG_CHECKPOINT_MAJOR)
        return tg_error(TG_ERR_VERSION,
                        "checkpoint '%s' has format version %u.%u, newer than this twingrad reads "
                        "(%u.x); upgrade twingrad to load it",
                        r->path, ck->major, ck->minor, TG_CHECKPOINT_MAJOR);
    if (ck->major == 0)
        return tg_error(TG_ERR_FORMAT,
                        "checkpoint '%s' has format version 0.%u, which never "
                        "existed",
                        r->path, ck->minor);
    if (!header_ok)
        return tg_error(TG_ERR_CORRUPT,
                        "checkpoint '%s': the file header fails its checksum; the file is damaged",
                        r->path);
    uint32_t flags = (uint32_t)le(h + 8, 4), count = (uint32_t)le(h + 12, 4);
    uint64_t declared = le(h + 16, 8);
    if (flags != 0)
        return tg_error(TG_ERR_FORMAT, "checkpoint '%s': unknown header flags 0x%x", r->path,
                        (unsigned)flags);
    if (declared != r->size)
        return tg_error(TG_ERR_FORMAT,
                        "checkpoint '%s' declares %llu bytes but has %llu; the file %s", r->path,
                        (unsigned long long)declared, (unsigned long long)r->size,
                        declared > r->size ? "was cut short (an interrupted copy?)"
                                           : "has extra bytes at the end");
    if (count > TG_CHECKPOINT_MAX_SECTIONS ||
        count > (r->size - FILE_HEADER - TRAILER) / SECTION_HEADER)
        return tg_error(TG_ERR_FORMAT, "checkpoint '%s' declares %u sections, which cannot fit",
                        r->path, (unsigned)count);
    unsigned seen = 0;
    for (unsigned i = 0; i < count; i++)
        if ((st = read_section(r, ck, i, &seen))) return st;
    if (r->pos != r->size - TRAILER)
        return tg_error(TG_ERR_FORMAT,
                        "checkpoint '%s': %llu unaccounted bytes after the last section", r->path,
                        (unsigned long long)(r->size - TRAILER - r->pos));
    uLong file_crc = r->crc;
    if ((st = rd(r, t, sizeof t))) return st;
    if (memcmp(t, "TGND", 4) != 0)
        return tg_error(TG_ERR_FORMAT, "checkpoint '%s': the end marker \"TGND\" is missing",
                        r->path);
    if ((uint32_t)le(t + 4, 4) != (uint32_t)file_crc)
        return tg_error(TG_ERR_CORRUPT,
                        "checkpoint '%s': the file checksum does not match; the file is damaged",
                        r->path);
    for (int k = 0; k < CK_N_SECTIONS; k++)
        if (tg_ck_sections[k].required && !(seen & (1u << k)))
            return tg_error(TG_ERR_FORMAT, "checkpoint '%s' has no %s section", r->path,
                            tg_ck_sections[k].tag);
    return check_across_sections(r, ck);
}

tg_status tg_checkpoint_load(const char *path, tg_checkpoint **out) {
    if (!out) return tg_error(TG_ERR_INVALID, "tg_checkpoint_load: out is NULL");
    *out = NULL;
    if (!path) return tg_error(TG_ERR_INVALID, "tg_checkpoint_load: path is NULL");
    tg_checkpoint *ck = calloc(1, sizeof *ck);
    if (ck) ck->path = malloc(strlen(path) + 1);
    if (!ck || !ck->path) {
        free(ck);
        return tg_error(TG_ERR_NOMEM, "loading checkpoint '%s': out of memory", path);
    }
    strcpy(ck->path, path);
    FILE *f = fopen(path, "rb");
    if (!f) {
        int err = errno;
        tg_checkpoint_free(ck);
        return tg_error(TG_ERR_IO, "cannot open checkpoint '%s': %s", path, strerror(err));
    }
    struct stat sb;
    tg_status st;
    if (fstat(fileno(f), &sb) != 0)
        st = tg_error(TG_ERR_IO, "cannot stat checkpoint '%s': %s", path, strerror(errno));
    else if (!S_ISREG(sb.st_mode))
        st = tg_error(TG_ERR_IO, "checkpoint '%s' is not a regular file", path);
    else {
        reader r = {f, ck->path, (uint64_t)sb.st_size, 0, crc32(0L, Z_NULL, 0), 0};
        st = read_file(&r, ck);
    }
    fclose(f);
    if (st) {
        tg_checkpoint_free(ck);
        return st;
    }
    *out = ck;
    return TG_OK;
}

void tg_checkpoint_free(tg_checkpoint *ck) {
    if (!ck) return;
    for (int i = 0; i < ck->n_tensors; i++) {
        free(ck->tensors[i].name);
        free(ck->tensors[i].data);
    }
    for (int i = 0; i < ck->n_arrays; i++) {
        free(ck->arrays[i].name);
        free(ck->arrays[i].data);
    }
    for (int i = 0; i < ck->n_sched; i++) free(ck->sched_state[i].name);
    for (int i = 0; i < ck->n_rngs; i++) free(ck->rngs[i].name);
    for (int i = 0; i < ck->n_meta; i++) {
        free(ck->meta[i].key);
        free(ck->meta[i].value);
    }
    free(ck->tensors);
    free(ck->by_name);
    free(ck->arrays);
    free(ck->sched_state);
    free(ck->rngs);
    free(ck->meta);
    free(ck->model);
    free(ck->path);
    free(ck);
}
