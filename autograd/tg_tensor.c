/* Shapes and growable float32 buffers. */
#include "autograd/tg_tensor.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

tg_shape tg_shape_make(int ndim, const int64_t *dims) {
    tg_shape s = {0};
    if (ndim < 1 || ndim > TG_MAX_DIMS) return s;
    s.ndim = ndim;
    for (int i = 0; i < ndim; i++) s.dim[i] = dims[i];
    return s;
}

tg_shape tg_shape1(int64_t a) {
    return tg_shape_make(1, (int64_t[]){a});
}
tg_shape tg_shape2(int64_t a, int64_t b) {
    return tg_shape_make(2, (int64_t[]){a, b});
}
tg_shape tg_shape3(int64_t a, int64_t b, int64_t c) {
    return tg_shape_make(3, (int64_t[]){a, b, c});
}
tg_shape tg_shape4(int64_t a, int64_t b, int64_t c, int64_t d) {
    return tg_shape_make(4, (int64_t[]){a, b, c, d});
}

int tg_shape_valid(const tg_shape *s) {
    if (s->ndim < 1 || s->ndim > TG_MAX_DIMS) return 0;
    return tg_shape_numel(s) > 0;
}

int64_t tg_shape_numel(const tg_shape *s) {
    if (s->ndim < 1 || s->ndim > TG_MAX_DIMS) return 0;
    int64_t n = 1;
    for (int i = 0; i < s->ndim; i++) {
        if (s->dim[i] <= 0 || __builtin_mul_overflow(n, s->dim[i], &n) || n > TG_MAX_NUMEL)
            return 0;
    }
    return n;
}

int64_t tg_shape_item_numel(const tg_shape *s) {
    int64_t n = tg_shape_numel(s);
    return n ? n / s->dim[0] : 0;
}

int tg_shape_equal(const tg_shape *a, const tg_shape *b) {
    if (a->ndim != b->ndim || a->ndim < 0 || a->ndim > TG_MAX_DIMS) return 0;
    for (int i = 0; i < a->ndim; i++)
        if (a->dim[i] != b->dim[i]) return 0;
    return 1;
}

char *tg_shape_str(const tg_shape *s, char *buf, size_t size) {
    size_t used = 0;
    if (size == 0) return buf;
    buf[0] = '\0';
    if (s->ndim < 0 || s->ndim > TG_MAX_DIMS) { /* an invalid shape's message: dim[] ends at 4 */
        snprintf(buf, size, "(rank %d)", s->ndim);
        return buf;
    }
    used += (size_t)snprintf(buf, size, "(");
    for (int i = 0; i < s->ndim && used < size; i++)
        used +=
            (size_t)snprintf(buf + used, size - used, "%s%lld", i ? "," : "", (long long)s->dim[i]);
    if (used < size) snprintf(buf + used, size - used, ")");
    return buf;
}

tg_status tg_shape_parse(const char *text, tg_shape *shape) {
    tg_shape s = {0};
    const char *p = text;
    while (*p) {
        if (s.ndim == TG_MAX_DIMS)
            return tg_error(TG_ERR_SHAPE, "shape '%s' has more than %d dimensions", text,
                            TG_MAX_DIMS);
        char *end;
        long long v = strtoll(p, &end, 10);
        if (end == p || v <= 0)
            return tg_error(TG_ERR_SHAPE, "shape '%s': expected positive integers like 16x3x8x8",
                            text);
        s.dim[s.ndim++] = v;
        p = end;
        if (*p == 'x' || *p == ',')
            p++;
        else if (*p)
            return tg_error(TG_ERR_SHAPE, "shape '%s': unexpected '%c'", text, *p);
    }
    if (!tg_shape_valid(&s))
        return tg_error(TG_ERR_SHAPE, "shape '%s' is empty or too large", text);
    *shape = s;
    return TG_OK;
}

tg_status tg_tensor_resize(tg_tensor *t, const tg_shape *shape) {
    if (!tg_shape_valid(shape)) return tg_error(TG_ERR_SHAPE, "invalid tensor shape");
    size_t need = (size_t)tg_shape_numel(shape);
    if (need > t->capacity || !t->owns_data) {
        float *data = aligned_alloc(64, ((need * sizeof(float) + 63) / 64) * 64);
        if (!data) return tg_error(TG_ERR_NOMEM, "out of memory allocating %zu floats", need);
        if (t->owns_data) free(t->data);
        t->data = data;
        t->capacity = need;
        t->owns_data = 1;
    }
    t->shape = *shape;
    return TG_OK;
}

void tg_tensor_free(tg_tensor *t) {
    if (t->owns_data) free(t->data);
    memset(t, 0, sizeof *t);
}

void tg_tensor_zero(tg_tensor *t) {
    int64_t n = tg_shape_numel(&t->shape);
    if (t->data && n) memset(t->data, 0, (size_t)n * sizeof(float));
}
