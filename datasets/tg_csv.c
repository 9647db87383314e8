/* RFC 4180 CSV reader: one pass, a small state machine, exact line:col errors. */
#include "datasets/tg_csv.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/tg_budget.h"
#include "datasets/tg_ds_util.h"

/* Bytes one stored field costs beyond its text: its pointer and the allocator's overhead. */
#define FIELD_OVERHEAD 24

typedef struct strvec {
    char **v;
    size_t n, cap;
} strvec;

static int strvec_push(strvec *s, char *str) {
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 64;
        char **v = realloc(s->v, cap * sizeof *v);
        if (!v) return 0;
        s->v = v;
        s->cap = cap;
    }
    s->v[s->n++] = str;
    return 1;
}

static void strvec_free(strvec *s) {
    for (size_t i = 0; i < s->n; i++) free(s->v[i]);
    free(s->v);
}

typedef struct parser {
    const char *name;
    char *field; /* the field being read */
    size_t flen, fcap;
    strvec record; /* fields of the record being read */
    strvec cells;  /* all data fields */
    int *lines;
    size_t n_lines, cap_lines;
    char **header;
    size_t n_cols;
    uint64_t cost, budget; /* bytes held so far, and the memory budget */
} parser;

static int field_putc(parser *p, char ch) {
    if (p->flen + 1 >= p->fcap) {
        size_t cap = p->fcap ? p->fcap * 2 : 256;
        char *f = realloc(p->field, cap);
        if (!f) return 0;
        p->field = f;
        p->fcap = cap;
    }
    p->field[p->flen++] = ch;
    return 1;
}

static int field_end(parser *p) {
    p->cost += p->flen + 1 + FIELD_OVERHEAD;
    char *s = malloc(p->flen + 1);
    if (!s) return 0;
    memcpy(s, p->field ? p->field : "", p->flen);
    s[p->flen] = 0;
    p->flen = 0;
    if (!strvec_push(&p->record, s)) {
        free(s);
        return 0;
    }
    return 1;
}

/* Finish a record that started on `line`; (eline, ecol) is where it ended. A surplus field
 * was refused where it began, so the record has at most n_cols fields. */
static tg_status record_end(parser *p, int line, int eline, int ecol) {
    if (!p->header) {
        p->header = p->record.v;
        p->n_cols = p->record.n;
        memset(&p->record, 0, sizeof p->record);
        return TG_OK;
    }
    if (p->record.n != p->n_cols)
        return tg_error(TG_ERR_FORMAT, "%s:%d:%d: record has %zu fields, the header has %zu",
                        p->name, eline, ecol, p->record.n, p->n_cols);
    for (size_t i = 0; i < p->record.n; i++) {
        if (!strvec_push(&p->cells, p->record.v[i]))
            return tg_error(TG_ERR_NOMEM, "%s: out of memory", p->name);
        p->record.v[i] = NULL;
    }
    p->record.n = 0;
    if (p->n_lines == p->cap_lines) {
        size_t cap = p->cap_lines ? p->cap_lines * 2 : 64;
        int *l = realloc(p->lines, cap * sizeof *l);
        if (!l) return tg_error(TG_ERR_NOMEM, "%s: out of memory", p->name);
        p->lines = l;
        p->cap_lines = cap;
    }
    p->lines[p->n_lines++] = line;
    return TG_OK;
}

tg_status tg_csv_parse(const char *text, size_t len, const char *name, tg_csv *out) {
    memset(out, 0, sizeof *out);
    parser p;
    memset(&p, 0, sizeof p);
    p.name = name;
    p.budget = tg_memory_budget();
    size_t i = 0;
    if (len >= 3 && (uint8_t)text[0] == 0xEF && (uint8_t)text[1] == 0xBB &&
        (uint8_t)text[2] == 0xBF)
        i = 3;
    int line = 1, col = 1;
    tg_status st = TG_OK;
#define FAIL(...)                                                                                  \
    do {                                                                                           \
        st = tg_error(TG_ERR_FORMAT, __VA_ARGS__);                                                 \
        goto fail;                                                                                 \
    } while (0)
#define NOMEM()                                                                                    \
    do {                                                                                           \
        st = tg_error(TG_ERR_NOMEM, "%s: out of memory", name);                                    \
        goto fail;                                                                                 \
    } while (0)
    while (i < len) {
        /* At the start of a record. Blank lines between records are skipped. */
        if (text[i] == '\n' || text[i] == '\r') {
            i += (text[i] == '\r' && i + 1 < len && text[i + 1] == '\n') ? 2 : 1;
            line++;
            col = 1;
            continue;
        }
        int rec_line = line;
        for (;;) {
            /* At the start of a field. A record may not hold more fields than the header,
             * nor the header more than TG_CSV_MAX_COLUMNS: a line of commas costs a
             * pointer per comma, so its cost is bounded here, not after the line. */
            if (p.header && p.record.n == p.n_cols)
                FAIL("%s:%d:%d: record has more than %zu fields, the header has %zu; "
                     "quote fields that contain commas",
                     name, line, col, p.n_cols, p.n_cols);
            if (!p.header && p.record.n == TG_CSV_MAX_COLUMNS)
                FAIL("%s:%d:%d: the header has more than %d columns", name, line, col,
                     TG_CSV_MAX_COLUMNS);
            if (p.cost > p.budget) {
                st = tg_memory_check(p.cost, name);
                tg_error_context(st, "%s:%d:%d: ", name, line, col);
                goto fail;
            }
            if (i < len && text[i] == '"') {
                int qline = line, qcol = col;
                i++;
                col++;
                for (;;) {
                    if (i >= len)
                        FAIL("%s:%d:%d: quoted field never closed (end of file reached); "
                             "a field that contains a quote must double it (\"\")",
                             name, qline, qcol);
                    char ch = text[i];
                    if (ch == '"') {
                        if (i + 1 < len && text[i + 1] == '"') {
                            if (!field_putc(&p, '"')) NOMEM();
                            i += 2;
                            col += 2;
                            continue;
                        }
                        i++;
                        col++;
                        break;
                    }
                    if (ch == '\0') FAIL("%s:%d:%d: NUL byte in a text file", name, line, col);
                    if (!field_putc(&p, ch)) NOMEM();
                    i++;
                    if (ch == '\n' || (ch == '\r' && !(i < len && text[i] == '\n'))) {
                        line++;
                        col = 1;
                    } else {
                        col++;
                    }
                }
                if (i < len && text[i] != ',' && text[i] != '\n' && text[i] != '\r')
                    FAIL("%s:%d:%d: expected ',' or end of line after a closing quote; "
                         "a quote inside a quoted field must be doubled (\"\")",
                         name, line, col);
            } else {
                while (i < len && text[i] != ',' && text[i] != '\n' && text[i] != '\r') {
                    if (text[i] == '"')
                        FAIL("%s:%d:%d: quote inside an unquoted field; quote the whole field "
                             "and double the inner quote (\"\")",
                             name, line, col);
                    if (text[i] == '\0') FAIL("%s:%d:%d: NUL byte in a text file", name, line, col);
                    if (!field_putc(&p, text[i])) NOMEM();
                    i++;
                    col++;
                }
            }
            if (!field_end(&p)) NOMEM();
            if (i < len && text[i] == ',') {
                i++;
                col++;
                continue;
            }
            break;
        }
        st = record_end(&p, rec_line, line, col);
        if (st != TG_OK) goto fail;
        if (i < len) {
            i += (text[i] == '\r' && i + 1 < len && text[i + 1] == '\n') ? 2 : 1;
            line++;
            col = 1;
        }
    }
#undef FAIL
#undef NOMEM
    if (!p.header) {
        st = tg_error(TG_ERR_FORMAT, "%s:1:1: empty CSV file (no header record)", name);
        goto fail;
    }
    out->header = p.header;
    out->n_cols = p.n_cols;
    out->cells = p.cells.v;
    out->n_rows = p.n_lines;
    out->lines = p.lines;
    free(p.field);
    strvec_free(&p.record);
    return TG_OK;
fail:
    free(p.field);
    strvec_free(&p.record);
    strvec_free(&p.cells);
    if (p.header) {
        for (size_t k = 0; k < p.n_cols; k++) free(p.header[k]);
        free(p.header);
    }
    free(p.lines);
    return st;
}

tg_status tg_csv_read(const char *path, tg_csv *out) {
    uint8_t *buf;
    size_t len;
    memset(out, 0, sizeof *out);
    tg_status st = tg_ds_read_file(path, TG_CSV_MAX_FILE_BYTES, &buf, &len);
    if (st != TG_OK) return st;
    st = tg_csv_parse((const char *)buf, len, path, out);
    free(buf);
    return st;
}

void tg_csv_free(tg_csv *csv) {
    if (!csv) return;
    for (size_t i = 0; i < csv->n_rows * csv->n_cols; i++) free(csv->cells[i]);
    free(csv->cells);
    if (csv->header)
        for (size_t i = 0; i < csv->n_cols; i++) free(csv->header[i]);
    free(csv->header);
    free(csv->lines);
    memset(csv, 0, sizeof *csv);
}

int tg_csv_column(const tg_csv *csv, const char *name) {
    for (size_t i = 0; i < csv->n_cols; i++)
        if (strcmp(csv->header[i], name) == 0) return (int)i;
    return -1;
}

const char *tg_csv_cell(const tg_csv *csv, size_t row, size_t col) {
    return csv->cells[row * csv->n_cols + col];
}
