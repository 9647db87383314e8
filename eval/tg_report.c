/* HTML + SVG report writer. Every write goes through one FILE; errors are
 * remembered and reported once, at close. */
#include "eval/tg_report.h"
#include "autograd/tg_fs.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct tg_report {
    FILE *f;
    char *path, *tmp;
    int in_table;
};

static void escape(FILE *f, const char *s) {
    for (; *s; s++) {
        switch (*s) {
        case '<':
            fputs("&lt;", f);
            break;
        case '>':
            fputs("&gt;", f);
            break;
        case '&':
            fputs("&amp;", f);
            break;
        case '"':
            fputs("&quot;", f);
            break;
        default:
            fputc(*s, f);
        }
    }
}

static void end_table(tg_report *r) {
    if (r->in_table) fputs("</table>\n", r->f);
    r->in_table = 0;
}

tg_report *tg_report_open(const char *path, const char *title) {
    tg_report *r = calloc(1, sizeof *r);
    size_t len = strlen(path);
    if (!r || !(r->path = malloc(len + 1)) || !(r->tmp = malloc(len + 8))) {
        if (r) free(r->path);
        free(r);
        tg_error(TG_ERR_NOMEM, "report: out of memory");
        return NULL;
    }
    memcpy(r->path, path, len + 1);
    snprintf(r->tmp, len + 8, "%s.tmp", path);
    if (tg_fs_check_replaceable(path, "writing report")) {
        free(r->path);
        free(r->tmp);
        free(r);
        return NULL;
    }
    r->f = fopen(r->tmp, "w");
    if (!r->f) {
        tg_error(TG_ERR_IO, "cannot write report %s: %s", r->path, strerror(errno));
        free(r->path);
        free(r->tmp);
        free(r);
        return NULL;
    }
    fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>", r->f);
    escape(r->f, title);
    fputs("</title>\n<style>\n"
          "body{font:15px/1.45 system-ui,sans-serif;max-width:980px;margin:2em auto;color:#222}\n"
          "h1{font-size:1.6em}h2{font-size:1.2em;margin-top:1.8em;border-bottom:1px solid #ddd}\n"
          "table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:.25em "
          ".7em;"
          "text-align:right}td:first-child,th:first-child{text-align:left}\n"
          "pre{background:#f6f6f6;padding:.8em;overflow-x:auto;font-size:13px}\n"
          "svg{display:block;margin:.6em 0}.cm td{width:6em;text-align:center}\n"
          "</style></head><body>\n<h1>",
          r->f);
    escape(r->f, title);
    fputs("</h1>\n", r->f);
    return r;
}

void tg_report_heading(tg_report *r, const char *text) {
    end_table(r);
    fputs("<h2>", r->f);
    escape(r->f, text);
    fputs("</h2>\n", r->f);
}

void tg_report_text(tg_report *r, const char *fmt, ...) {
    char buf[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    end_table(r);
    fputs("<p>", r->f);
    escape(r->f, buf);
    fputs("</p>\n", r->f);
}

void tg_report_kv(tg_report *r, const char *key, const char *fmt, ...) {
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (!r->in_table) fputs("<table>\n", r->f);
    r->in_table = 1;
    fputs("<tr><td>", r->f);
    escape(r->f, key);
    fputs("</td><td>", r->f);
    escape(r->f, buf);
    fputs("</td></tr>\n", r->f);
}

void tg_report_pre(tg_report *r, const char *text) {
    end_table(r);
    fputs("<pre>", r->f);
    escape(r->f, text);
    fputs("</pre>\n", r->f);
}

/* ---- charts ---- */

enum { W = 640, H = 320, ML = 60, MR = 150, MT = 30, MB = 45 };
static const char *const colours[] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd"};

typedef struct frame {
    double x0, x1, y0, y1;
} frame;

static double px(const frame *fr, double x) {
    return ML + (x - fr->x0) / (fr->x1 - fr->x0) * (W - ML - MR);
}
static double py(const frame *fr, double y) {
    return H - MB - (y - fr->y0) / (fr->y1 - fr->y0) * (H - MT - MB);
}

/* A round tick step (1, 2 or 5 times a power of ten) giving about five ticks. */
static double nice_step(double range) {
    double raw = range > 0 ? range / 5.0 : 1.0, mag = pow(10.0, floor(log10(raw)));
    double norm = raw / mag;
    return (norm < 1.5 ? 1.0 : norm < 3.0 ? 2.0 : norm < 7.0 ? 5.0 : 10.0) * mag;
}

static void axes(tg_report *r, const frame *fr, const char *title, const char *xlabel,
                 const char *ylabel) {
    FILE *f = r->f;
    fprintf(f,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
            "viewBox=\"0 0 %d %d\" font-family=\"sans-serif\" font-size=\"12\">\n",
            W, H, W, H);
    fprintf(f, "<text x=\"%d\" y=\"18\" font-size=\"14\" font-weight=\"bold\">", ML);
    escape(f, title);
    fputs("</text>\n", f);
    double ys = nice_step(fr->y1 - fr->y0), xs = nice_step(fr->x1 - fr->x0);
    for (double yv = ceil(fr->y0 / ys) * ys; yv <= fr->y1 + 1e-9 * ys; yv += ys) {
        fprintf(f, "<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#eee\"/>\n", ML,
                W - MR, py(fr, yv), py(fr, yv));
        fprintf(f, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%.3g</text>\n", ML - 6,
                py(fr, yv) + 4, fabs(yv) < 1e-9 * ys ? 0.0 : yv);
    }
    for (double xv = ceil(fr->x0 / xs) * xs; xv <= fr->x1 + 1e-9 * xs; xv += xs)
        fprintf(f, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%.3g</text>\n", px(fr, xv),
                H - MB + 16, fabs(xv) < 1e-9 * xs ? 0.0 : xv);
    fprintf(f,
            "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" stroke=\"#888\"/>\n",
            ML, MT, W - ML - MR, H - MT - MB);
    fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">", (ML + W - MR) / 2, H - 8);
    escape(f, xlabel);
    fprintf(f, "</text>\n<text transform=\"translate(14,%d) rotate(-90)\" text-anchor=\"middle\">",
            (MT + H - MB) / 2);
    escape(f, ylabel);
    fputs("</text>\n", f);
}

static void legend(tg_report *r, int i, const char *name) {
    fprintf(r->f,
            "<line x1=\"%d\" x2=\"%d\" y1=\"%d\" y2=\"%d\" stroke=\"%s\" stroke-width=\"2\"/>",
            W - MR + 12, W - MR + 32, MT + 10 + 18 * i, MT + 10 + 18 * i, colours[i % 4]);
    fprintf(r->f, "<text x=\"%d\" y=\"%d\">", W - MR + 38, MT + 14 + 18 * i);
    escape(r->f, name);
    fputs("</text>\n", r->f);
}

void tg_report_line_chart(tg_report *r, const char *title, const char *xlabel, const char *ylabel,
                          const double *x, int n, const double *const *ys, const char *const *names,
                          int n_series) {
    end_table(r);
    frame fr = {INFINITY, -INFINITY, INFINITY, -INFINITY};
    if (n_series > 4) n_series = 4;
    for (int i = 0; i < n; i++) {
        if (isfinite(x[i])) {
            fr.x0 = fmin(fr.x0, x[i]);
            fr.x1 = fmax(fr.x1, x[i]);
        }
        for (int s = 0; s < n_series; s++)
            if (isfinite(ys[s][i]) && isfinite(x[i])) {
                fr.y0 = fmin(fr.y0, ys[s][i]);
                fr.y1 = fmax(fr.y1, ys[s][i]);
            }
    }
    if (!isfinite(fr.x0) || !isfinite(fr.y0)) {
        tg_report_text(r, "%s: no data", title);
        return;
    }
    if (fr.x1 <= fr.x0) fr.x1 = fr.x0 + 1;
    double pad = (fr.y1 - fr.y0) * 0.05;
    if (pad <= 0) pad = fabs(fr.y0) * 0.05 + 1e-3;
    fr.y0 -= pad;
    fr.y1 += pad;
    axes(r, &fr, title, xlabel, ylabel);
    for (int s = 0; s < n_series; s++) {
        fprintf(r->f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" points=\"",
                colours[s]);
        for (int i = 0; i < n; i++)
            if (isfinite(ys[s][i]) && isfinite(x[i]))
                fprintf(r->f, "%.1f,%.1f ", px(&fr, x[i]), py(&fr, ys[s][i]));
        fputs("\"/>\n", r->f);
        if (n == 1 && isfinite(ys[s][0]))
            fprintf(r->f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"/>\n", px(&fr, x[0]),
                    py(&fr, ys[s][0]), colours[s]);
        legend(r, s, names[s]);
    }
    fputs("</svg>\n", r->f);
}

void tg_report_roc(tg_report *r, const char *title, const tg_roc *roc) {
    end_table(r);
    frame fr = {0, 1, 0, 1};
    char full[256];
    snprintf(full, sizeof full, "%s (AUC %.4f)", title, roc->auc);
    axes(r, &fr, full, "false positive rate", "true positive rate");
    fprintf(r->f,
            "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#aaa\" "
            "stroke-dasharray=\"4 4\"/>\n",
            px(&fr, 0), py(&fr, 0), px(&fr, 1), py(&fr, 1));
    fprintf(r->f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" points=\"", colours[0]);
    for (int i = 0; i < roc->n; i++)
        fprintf(r->f, "%.1f,%.1f ", px(&fr, roc->fpr[i]), py(&fr, roc->tpr[i]));
    fputs("\"/>\n", r->f);
    legend(r, 0, "ROC");
    fputs("</svg>\n", r->f);
}

void tg_report_confusion(tg_report *r, const char *title, const tg_confusion *c,
                         const char *positive, const char *negative) {
    end_table(r);
    fputs("<p><b>", r->f);
    escape(r->f, title);
    fputs("</b></p>\n<table class=\"cm\"><tr><th>actual \\ predicted</th><th>", r->f);
    escape(r->f, positive);
    fputs("</th><th>", r->f);
    escape(r->f, negative);
    fputs("</th></tr>\n<tr><th>", r->f);
    escape(r->f, positive);
    fprintf(r->f, "</th><td>%lld</td><td>%lld</td></tr>\n<tr><th>", (long long)c->tp,
            (long long)c->fn);
    escape(r->f, negative);
    fprintf(r->f, "</th><td>%lld</td><td>%lld</td></tr>\n</table>\n", (long long)c->fp,
            (long long)c->tn);
}

tg_status tg_report_close(tg_report *r) {
    if (!r) return tg_error(TG_ERR_INVALID, "report: NULL");
    end_table(r);
    fputs("</body></html>\n", r->f);
    int failed = ferror(r->f) | (fflush(r->f) != 0) | (fsync(fileno(r->f)) != 0);
    failed |= fclose(r->f) != 0;
    tg_status st = TG_OK;
    if (failed || rename(r->tmp, r->path) != 0) {
        const int err = errno;
        remove(r->tmp);
        st = tg_error(TG_ERR_IO, "writing report %s failed: %s", r->path, strerror(err));
    }
    free(r->path);
    free(r->tmp);
    free(r);
    return st;
}
