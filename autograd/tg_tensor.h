/* Shapes and tensors: float32, up to four dimensions, NCHW, contiguous, batch first.
 * A tensor owns a buffer with a capacity, so a shape change that fits reuses it. */
#ifndef TG_TENSOR_H
#define TG_TENSOR_H

#include <stddef.h>
#include <stdint.h>

#include "autograd/tg_error.h"
#include "autograd/tg_export.h"

TG_API_BEGIN

#define TG_MAX_DIMS 4
/* The most elements a tensor may hold, 2^40 (4 TiB of floats): far beyond any real
 * tensor, small enough that byte counts of a valid shape never overflow int64. Shapes
 * come from files, so their product is computed with an overflow check. */
#define TG_MAX_NUMEL (INT64_C(1) << 40)

typedef struct tg_shape {
    int ndim;                 /* 1..TG_MAX_DIMS; a scalar is (1) */
    int64_t dim[TG_MAX_DIMS]; /* dim[0] is the batch for activations */
} tg_shape;

typedef struct tg_tensor {
    tg_shape shape;
    float *data;     /* shape.numel contiguous floats, or NULL when empty */
    size_t capacity; /* floats allocated at data */
    int owns_data;   /* 0 when data points into a buffer owned elsewhere */
} tg_tensor;

/* Build shapes: tg_shape_make(2, (int64_t[]){N, D}) or the shorthands below. */
tg_shape tg_shape_make(int ndim, const int64_t *dims);
tg_shape tg_shape1(int64_t a);
tg_shape tg_shape2(int64_t a, int64_t b);
tg_shape tg_shape3(int64_t a, int64_t b, int64_t c);
tg_shape tg_shape4(int64_t a, int64_t b, int64_t c, int64_t d);
/* Number of elements (product of the dims); 0 for an invalid shape. */
int64_t tg_shape_numel(const tg_shape *shape);
/* Elements per batch item: numel / dim[0]. */
int64_t tg_shape_item_numel(const tg_shape *shape);
/* 1 when both shapes have the same rank and dims. */
int tg_shape_equal(const tg_shape *a, const tg_shape *b);
/* 1 when 1 <= ndim <= TG_MAX_DIMS, every dim > 0 and numel <= TG_MAX_NUMEL. */
int tg_shape_valid(const tg_shape *shape);
/* Write "(16,32,75,75)" into buf (at least 64 bytes is always enough); returns buf. */
char *tg_shape_str(const tg_shape *shape, char *buf, size_t size);
/* Parse "16x32x75x75" or "16,32,75,75" into a shape. */
tg_status tg_shape_parse(const char *text, tg_shape *shape);

/* Give the tensor a shape, growing its buffer only when the new shape does not fit. */
tg_status tg_tensor_resize(tg_tensor *t, const tg_shape *shape);
/* Free the buffer (if owned) and reset the tensor to empty. */
void tg_tensor_free(tg_tensor *t);
/* Set every element to zero. */
void tg_tensor_zero(tg_tensor *t);

TG_API_END

#endif
