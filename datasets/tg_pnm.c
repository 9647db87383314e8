/* PGM/PPM (Netpbm P2, P3, P5, P6) parser: header tokens with # comments, maxval
 * up to 65535 (two bytes big-endian in the binary forms). The sample count is
 * checked against the bytes present before any pixel memory is allocated. */
#include "datasets/tg_image.h"

#include <stdio.h>
#include <stdlib.h>

#include "autograd/tg_budget.h"
#include "datasets/tg_ds_util.h"

typedef struct pnm_reader {
    const uint8_t *p;
    size_t len, pos;
} pnm_reader;

static int is_space(uint8_t ch) {
    return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\v' || ch == '\f';
}

/* Skip whitespace and # comments (a comment runs to the end of its line). */
static void skip_space(pnm_reader *r) {
    while (r->pos < r->len) {
        if (is_space(r->p[r->pos]))
            r->pos++;
        else if (r->p[r->pos] == '#')
            while (r->pos < r->len && r->p[r->pos] != '\n' && r->p[r->pos] != '\r') r->pos++;
        else
            break;
    }
}

/* An unsigned decimal of at most 10 digits; 0 when no digit is there. */
static int read_uint(pnm_reader *r, uint32_t *out) {
    skip_space(r);
    uint64_t v = 0;
    int digits = 0;
    while (r->pos < r->len && r->p[r->pos] >= '0' && r->p[r->pos] <= '9') {
        v = v * 10 + (uint64_t)(r->p[r->pos++] - '0');
        if (++digits > 10 || v > UINT32_MAX) return 0;
    }
    if (digits == 0) return 0;
    *out = (uint32_t)v;
    return 1;
}

tg_status tg_pnm_decode(const uint8_t *buf, size_t len, const char *name, uint64_t max_pixels,
                        tg_image *out) {
    out->width = out->height = 0;
    out->data = NULL;
    if (len < 3 || buf[0] != 'P' ||
        !(buf[1] == '2' || buf[1] == '3' || buf[1] == '5' || buf[1] == '6'))
        return tg_error(TG_ERR_FORMAT, "%s: not a P2/P3/P5/P6 Netpbm file", name);
    int kind = buf[1] - '0';
    int nc = (kind == 3 || kind == 6) ? 3 : 1;
    int binary = kind >= 5;
    pnm_reader r = {buf, len, 2};
    uint32_t w, h, maxval;
    if (!read_uint(&r, &w) || !read_uint(&r, &h) || !read_uint(&r, &maxval))
        return tg_error(TG_ERR_FORMAT,
                        "%s: bad P%d header at byte %zu (expected width, height, maxval)", name,
                        kind, r.pos);
    if (w == 0 || h == 0 || maxval == 0 || maxval > 65535)
        return tg_error(TG_ERR_FORMAT, "%s: bad P%d header: %ux%u, maxval %u (maxval 1..65535)",
                        name, kind, w, h, maxval);
    uint64_t npx, nsamples;
    if (!tg_ds_mul3(w, h, 1, &npx) || npx > max_pixels || w > INT32_MAX / 4 || h > INT32_MAX / 4)
        return tg_error(TG_ERR_LIMIT,
                        "%s: P%d declares %ux%u pixels, over the limit of %llu; "
                        "raise max_pixels if the image is genuine",
                        name, kind, w, h, (unsigned long long)max_pixels);
    tg_ds_mul3(npx, (uint64_t)nc, 1, &nsamples);
    int bps = maxval > 255 ? 2 : 1;
    if (binary) {
        /* Exactly one whitespace byte separates maxval from the raster. */
        if (r.pos >= len || !is_space(buf[r.pos]))
            return tg_error(TG_ERR_FORMAT, "%s: P%d header not followed by whitespace", name, kind);
        r.pos++;
        if ((uint64_t)(len - r.pos) < nsamples * (uint64_t)bps)
            return tg_error(TG_ERR_FORMAT,
                            "%s: truncated P%d: %llu sample bytes needed, %zu present", name, kind,
                            (unsigned long long)(nsamples * (uint64_t)bps), len - r.pos);
    } else if ((uint64_t)(len - r.pos) < nsamples) {
        /* Each plain sample takes at least a separator and a digit. */
        return tg_error(TG_ERR_FORMAT, "%s: truncated P%d: %llu samples declared, only %zu bytes",
                        name, kind, (unsigned long long)nsamples, len - r.pos);
    }
    char what[96];
    snprintf(what, sizeof what, "%s: a %ux%u P%d image", name, w, h, kind);
    tg_status st = tg_memory_check(4 * npx, what);
    if (st) return st;
    float *px = malloc(sizeof(float) * (size_t)npx);
    if (!px) return tg_error(TG_ERR_NOMEM, "%s: out of memory for %ux%u pixels", name, w, h);
    const float inv = 1.0f / (float)maxval;
    for (uint64_t i = 0; i < npx; i++) {
        float v[3];
        for (int ch = 0; ch < nc; ch++) {
            uint32_t s;
            if (binary) {
                const uint8_t *q = buf + r.pos;
                s = bps == 2 ? ((uint32_t)q[0] << 8) | q[1] : q[0];
                r.pos += (size_t)bps;
            } else if (!read_uint(&r, &s)) {
                free(px);
                return tg_error(TG_ERR_FORMAT,
                                "%s: P%d sample %llu missing or malformed at byte %zu", name, kind,
                                (unsigned long long)(i * (uint64_t)nc + (uint64_t)ch), r.pos);
            }
            if (s > maxval) {
                free(px);
                return tg_error(TG_ERR_FORMAT, "%s: P%d sample %u exceeds maxval %u", name, kind, s,
                                maxval);
            }
            v[ch] = (float)s * inv;
        }
        px[i] = nc == 1 ? v[0] : TG_LUMA_R * v[0] + TG_LUMA_G * v[1] + TG_LUMA_B * v[2];
    }
    out->width = (int)w;
    out->height = (int)h;
    out->data = px;
    return TG_OK;
}
