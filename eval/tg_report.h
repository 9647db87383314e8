/* Run reports: one self-contained HTML file with inline SVG charts (no scripts,
 * no network), readable offline in any browser. Built section by section; the
 * file appears atomically when the report is closed. */
#ifndef TG_REPORT_H
#define TG_REPORT_H

#include "autograd/tg_error.h"
#include "eval/tg_metrics.h"
#include "autograd/tg_export.h"

TG_API_BEGIN

typedef struct tg_report tg_report;

/* Start a report that will be written to `path`; NULL (with an error) on failure. */
tg_report *tg_report_open(const char *path, const char *title);
/* A section heading. */
void tg_report_heading(tg_report *r, const char *text);
/* A paragraph (printf-style; the text is HTML-escaped). */
void tg_report_text(tg_report *r, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* A two-column table row in the current key/value table. */
void tg_report_kv(tg_report *r, const char *key, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
/* A line chart of up to 4 series over x (NaN points are left out). */
void tg_report_line_chart(tg_report *r, const char *title, const char *xlabel, const char *ylabel,
                          const double *x, int n, const double *const *ys, const char *const *names,
                          int n_series);
/* The ROC curve with its AUC and the diagonal. */
void tg_report_roc(tg_report *r, const char *title, const tg_roc *roc);
/* A 2x2 confusion matrix, rows actual, columns predicted. */
void tg_report_confusion(tg_report *r, const char *title, const tg_confusion *c,
                         const char *positive, const char *negative);
/* Preformatted text (a model summary, a command line). */
void tg_report_pre(tg_report *r, const char *text);
/* Finish, flush and move the file into place; reports any write error. Frees r. */
tg_status tg_report_close(tg_report *r);

TG_API_END

#endif
