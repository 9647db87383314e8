/* IDX files (the MNIST / Fashion-MNIST container): a big-endian header of type
 * and dimensions, then the raw array. Read plain or gzip-compressed through
 * zlib; the header is validated against the data actually present. */
#ifndef TG_IDX_H
#define TG_IDX_H

#include <stddef.h>
#include <stdint.h>

#include "autograd/tg_error.h"
#include "autograd/tg_export.h"

TG_API_BEGIN

#define TG_IDX_MAX_DIMS 8

typedef enum tg_idx_type {
    TG_IDX_U8 = 0x08,
    TG_IDX_I8 = 0x09,
    TG_IDX_I16 = 0x0B,
    TG_IDX_I32 = 0x0C,
    TG_IDX_F32 = 0x0D,
    TG_IDX_F64 = 0x0E,
} tg_idx_type;

typedef struct tg_idx {
    tg_idx_type type;
    int ndim;
    uint32_t dims[TG_IDX_MAX_DIMS];
    size_t count;     /* elements: the product of dims */
    size_t elem_size; /* bytes per element */
    void *data;       /* count elements in host byte order, owned */
} tg_idx;

/* Bytes per element of a type, or 0 for an unknown type code. */
size_t tg_idx_type_size(int type);
/* Read only the header (type, ndim, dims, count, elem_size; data stays NULL), so a caller
 * can compute what the file will cost before reading it. */
tg_status tg_idx_read_header(const char *path, tg_idx *out);
/* Read an IDX file, plain or gzip; refuses arrays over max_bytes (0 = the memory budget,
 * tg_budget.h) before allocating, and stops decompressing past the declared size. */
tg_status tg_idx_read(const char *path, uint64_t max_bytes, tg_idx *out);
/* Write an array as IDX (big-endian), gzip-compressed when gzip != 0. */
tg_status tg_idx_write(const char *path, tg_idx_type type, int ndim, const uint32_t *dims,
                       const void *data, int gzip);
/* Free the array (safe on a zeroed struct). */
void tg_idx_free(tg_idx *idx);

TG_API_END

#endif
