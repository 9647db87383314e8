/* An RFC 4180 CSV reader for metadata files: quoted fields, "" escapes, commas
 * and line breaks inside quotes, CRLF or LF, an optional UTF-8 BOM. The first
 * record is the header. Malformed input fails with "file:line:col: ...". */
#ifndef TG_CSV_H
#define TG_CSV_H

#include <stddef.h>

#include "autograd/tg_error.h"
#include "autograd/tg_export.h"

TG_API_BEGIN

/* Limits: columns in the header (a data record may not have more fields than its header),
 * and bytes in a file. What a parse holds is also checked against the memory budget. */
#define TG_CSV_MAX_COLUMNS 4096
#define TG_CSV_MAX_FILE_BYTES ((size_t)1 << 30)

typedef struct tg_csv {
    size_t n_rows, n_cols; /* data records (header excluded), fields per record */
    char **header;         /* n_cols column names */
    char **cells;          /* n_rows * n_cols field values, row-major */
    int *lines;            /* 1-based line where each data record starts */
} tg_csv;

/* Parse CSV text of len bytes; `name` (the file name) prefixes error messages. */
tg_status tg_csv_parse(const char *text, size_t len, const char *name, tg_csv *out);
/* Read and parse a CSV file (at most 1 GiB). */
tg_status tg_csv_read(const char *path, tg_csv *out);
/* Free everything a parse allocated (safe on a zeroed struct). */
void tg_csv_free(tg_csv *csv);
/* Index of the column named `name` (exact match), or -1. */
int tg_csv_column(const tg_csv *csv, const char *name);
/* The field at (row, col); row and col must be in range. */
const char *tg_csv_cell(const tg_csv *csv, size_t row, size_t col);

TG_API_END

#endif
