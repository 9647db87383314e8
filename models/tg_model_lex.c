/* Helpers shared by the model-file parser's readers (tg_model_parse.c for lines
 * and layers, tg_model_head.c for the siamese and train lines): errors located
 * at file:line:col, token copies, numbers and key=value splitting. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/tg_model_parse.h"

/* ---- errors with a location ---- */

tg_status tg_mp_error(const tg_mp_parser *p, int line, int col, tg_status st, const char *fmt,
                      ...) {
    char msg[900];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return tg_error(st, "%s:%d:%d: %s", p->src, line, col, msg);
}

/* Prefix the current message (from tg_attrs_set and friends) with a location. */
tg_status tg_mp_error_ctx(const tg_mp_parser *p, int line, int col, tg_status st,
                          const char *what) {
    return tg_error_context(st, "%s:%d:%d: %s", p->src, line, col, what);
}

/* ---- words ---- */

tg_status tg_mp_tokenize(const tg_mp_parser *p, const char *s, int len, int comments,
                         tg_mp_token *toks, int max, int *n_out) {
    int n = 0;
    *n_out = 0;
    for (int i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '#' && comments) break;
        if (c == ' ' || c == '\t' || (c == '\r' && i == len - 1)) continue;
        if (c < 0x21 || c > 0x7e)
            return tg_mp_error(p, p->line, i + 1, TG_ERR_FORMAT, "unexpected byte 0x%02x (%s)", c,
                               comments ? "outside comments a model file is printable ASCII"
                                        : "expected printable ASCII");
        if (c == '#')
            return tg_mp_error(p, p->line, i + 1, TG_ERR_FORMAT,
                               "unexpected '#' (a setting holds no '#')");
        int start = i;
        while (i + 1 < len && (unsigned char)s[i + 1] > 0x20 && (unsigned char)s[i + 1] < 0x7f &&
               (s[i + 1] != '#' || !comments))
            i++;
        if (n == max)
            return tg_mp_error(p, p->line, start + 1, TG_ERR_LIMIT, "too many words on one line");
        toks[n++] = (tg_mp_token){s + start, i - start + 1, start + 1};
    }
    *n_out = n;
    return TG_OK;
}

/* ---- small helpers ---- */

char *tg_mp_dup(const char *s, size_t n) {
    char *d = malloc(n + 1);
    if (!d) return NULL;
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

/* Copy n bytes into a NUL-terminated buffer of size `size`; 0 if it does not fit. */
int tg_mp_copy(char *dst, size_t size, const char *s, int n) {
    if (n < 0 || (size_t)n >= size) return 0;
    memcpy(dst, s, (size_t)n);
    dst[n] = '\0';
    return 1;
}

/* A whole decimal number in [lo, hi] (digits only, no sign). */
int tg_mp_parse_int(const char *s, long long lo, long long hi, long long *out) {
    if (!*s || strlen(s) > 18) return 0;
    for (const char *c = s; *c; c++)
        if (!isdigit((unsigned char)*c)) return 0;
    long long v = strtoll(s, NULL, 10);
    if (v < lo || v > hi) return 0;
    *out = v;
    return 1;
}

int tg_mp_parse_double(const char *s, double *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (!*s || *end || errno || !isfinite(v)) return 0;
    *out = v;
    return 1;
}

/* A key=value tg_mp_token split into NUL-terminated key and value; 0 with an error if malformed. */
tg_status tg_mp_split_kv(const tg_mp_parser *p, const tg_mp_token *t, char *key, char *value,
                         int *val_col) {
    const char *eq = memchr(t->s, '=', (size_t)t->len);
    if (!eq)
        return tg_mp_error(p, p->line, t->col, TG_ERR_FORMAT, "expected key=value, got '%.*s'",
                           t->len, t->s);
    int klen = (int)(eq - t->s), vlen = t->len - klen - 1;
    if (klen == 0)
        return tg_mp_error(p, p->line, t->col, TG_ERR_FORMAT,
                           "expected a name before '=' in '%.*s'", t->len, t->s);
    if (!tg_mp_copy(key, TG_MP_MAX_KEY, t->s, klen))
        return tg_mp_error(p, p->line, t->col, TG_ERR_LIMIT, "attribute name longer than %d bytes",
                           TG_MP_MAX_KEY - 1);
    *val_col = t->col + klen + 1;
    if (vlen == 0)
        return tg_mp_error(p, p->line, *val_col, TG_ERR_ATTR, "'%s=' needs a value", key);
    if (!tg_mp_copy(value, TG_MP_MAX_VALUE, eq + 1, vlen))
        return tg_mp_error(p, p->line, *val_col, TG_ERR_LIMIT, "value of '%s' longer than %d bytes",
                           key, TG_MP_MAX_VALUE - 1);
    return TG_OK;
}

/* 1 when `key` appears in an earlier key=value tg_mp_token of the line (tokens [from, upto)). */
static int seen_before(const tg_mp_token *toks, int from, int upto, const char *key) {
    size_t kl = strlen(key);
    for (int i = from; i < upto; i++)
        if ((size_t)toks[i].len > kl && toks[i].s[kl] == '=' && strncmp(toks[i].s, key, kl) == 0)
            return 1;
    return 0;
}

tg_status tg_mp_check_duplicate(const tg_mp_parser *p, const tg_mp_token *toks, int from, int i,
                                const char *key) {
    if (seen_before(toks, from, i, key))
        return tg_mp_error(p, p->line, toks[i].col, TG_ERR_ATTR, "'%s' is given twice on this line",
                           key);
    return TG_OK;
}
