/* Training diagnostics: what a stalled run needs measured, written per epoch as
 * long-format rows "epoch,metric,key,value" (docs/cli.md lists the metrics). */
#include "train/tg_diag.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/tg_fs.h"

enum { HIST_BINS = 10 };

/* One parameter tensor: where it lives in the flat buffer. */
typedef struct span {
    int64_t offset, count;
} span;

/* A layer with parameters and its running sums over the epoch's steps. */
typedef struct layer_acc {
    const char *name;
    span spans[TG_MAX_PARAMS];
    int n_spans;
    double grad_norm_sum, update_ratio_sum;
} layer_acc;

struct tg_diag {
    FILE *f;
    tg_model *m;
    layer_acc *layers;
    int n_layers;
    float *before;       /* params before the step */
    const float *params; /* the flat parameter buffer (after the last step) */
    int64_t n_params;
    int64_t steps, pairs; /* this epoch's */
    double raw_norm_sum;  /* sum over training embeddings of ||G(x)|| before normalisation */
    int64_t n_embed;
    int64_t n_sim, n_dis, n_dis_active;
    double sum_sim, sum_dis;
};

static const char *HEADER = "epoch,metric,key,value\n";

tg_status tg_diag_open(const char *path, tg_model *m, int64_t keep, tg_diag **out) {
    *out = NULL;
    tg_status st = tg_epoch_csv_keep(path, HEADER, keep);
    if (st) return st;
    tg_diag *d = calloc(1, sizeof *d);
    if (!d) return tg_error(TG_ERR_NOMEM, "out of memory");
    d->m = m;
    const float *base = tg_graph_param_data(m->graph, &d->n_params);
    d->params = base;
    d->layers = calloc((size_t)m->def->n_layers, sizeof *d->layers);
    d->before = malloc((size_t)(d->n_params > 0 ? d->n_params : 1) * sizeof(float));
    if (!d->layers || !d->before) {
        tg_diag_free(d);
        return tg_error(TG_ERR_NOMEM, "out of memory");
    }
    for (int i = 0; i < m->def->n_layers; i++) {
        layer_acc *a = &d->layers[d->n_layers];
        a->name = tg_layer_name(m->layers[i]);
        for (int j = 0; j < TG_MAX_PARAMS; j++) {
            tg_node *p = tg_layer_param(m->layers[i], j);
            if (!p) continue;
            int64_t off = tg_node_data(p) - base, count = tg_shape_numel(tg_node_shape(p));
            if (off < 0 || off + count > d->n_params) continue; /* not in the flat buffer */
            a->spans[a->n_spans++] = (span){off, count};
        }
        if (a->n_spans) d->n_layers++;
    }
    FILE *f = fopen(path, "a");
    if (!f) {
        tg_diag_free(d);
        return tg_error(TG_ERR_IO, "cannot write %s: %s", path, strerror(errno));
    }
    if (fseek(f, 0, SEEK_END) == 0 && ftell(f) == 0) fputs(HEADER, f); /* a new file */
    d->f = f;
    *out = d;
    return TG_OK;
}

static double span_norm(const float *x, const layer_acc *a) {
    double ss = 0;
    for (int s = 0; s < a->n_spans; s++)
        for (int64_t i = 0; i < a->spans[s].count; i++) {
            double v = x[a->spans[s].offset + i];
            ss += v * v;
        }
    return sqrt(ss);
}

/* The batch's distances and labels (y = 1: dissimilar), and raw embedding lengths. */
static void batch_stats(tg_diag *d, double margin) {
    const float *dist = tg_node_data(d->m->distance), *y = tg_node_data(d->m->y);
    int n = (int)tg_shape_numel(tg_node_shape(d->m->distance));
    for (int i = 0; i < n; i++) {
        if (y[i] > 0.5f) {
            d->n_dis++;
            d->sum_dis += dist[i];
            d->n_dis_active += dist[i] < margin; /* max(0, m - D) > 0: the term pushes */
        } else {
            d->n_sim++;
            d->sum_sim += dist[i];
        }
    }
    /* The tower's output before l2normalize: how long the raw embedding is. */
    tg_node *raw = d->m->tower_a[d->m->def->output];
    const tg_shape *s = tg_node_shape(raw);
    int64_t rows = s->dim[0], dim = tg_shape_item_numel(s);
    const float *e = tg_node_data(raw);
    for (int64_t r = 0; r < rows; r++) {
        double ss = 0;
        for (int64_t k = 0; k < dim; k++) ss += (double)e[r * dim + k] * e[r * dim + k];
        d->raw_norm_sum += sqrt(ss);
    }
    d->n_embed += rows;
    d->pairs += n;
}

void tg_diag_before_step(tg_diag *d) {
    if (!d) return;
    memcpy(d->before, tg_graph_param_data(d->m->graph, NULL), (size_t)d->n_params * sizeof(float));
}

void tg_diag_after_step(tg_diag *d, double margin) {
    if (!d) return;
    batch_stats(d, margin);
    const float *grads = tg_graph_grad_data(d->m->graph, NULL);
    const float *params = tg_graph_param_data(d->m->graph, NULL);
    d->params = params;
    for (int l = 0; l < d->n_layers; l++) {
        layer_acc *a = &d->layers[l];
        a->grad_norm_sum += span_norm(grads, a);
        double dd = 0, ww = 0;
        for (int s = 0; s < a->n_spans; s++)
            for (int64_t i = 0; i < a->spans[s].count; i++) {
                int64_t k = a->spans[s].offset + i;
                double delta = (double)params[k] - d->before[k];
                dd += delta * delta;
                ww += (double)d->before[k] * d->before[k];
            }
        a->update_ratio_sum += ww > 0 ? sqrt(dd / ww) : 0.0;
    }
    d->steps++;
}

tg_status tg_diag_epoch(tg_diag *d, int64_t epoch, const float *val_dist, const int *val_labels,
                        size_t n, double margin) {
    if (!d) return TG_OK;
    FILE *f = d->f;
    long long e = (long long)epoch;
    double steps = d->steps > 0 ? (double)d->steps : 1.0;
    for (int l = 0; l < d->n_layers; l++) {
        layer_acc *a = &d->layers[l];
        fprintf(f, "%lld,grad_norm,%s,%.6g\n", e, a->name, a->grad_norm_sum / steps);
        fprintf(f, "%lld,update_ratio,%s,%.6g\n", e, a->name, a->update_ratio_sum / steps);
        fprintf(f, "%lld,weight_norm,%s,%.6g\n", e, a->name, span_norm(d->params, a));
        a->grad_norm_sum = a->update_ratio_sum = 0;
    }
    fprintf(f, "%lld,raw_embedding_norm,train,%.6g\n", e,
            d->n_embed ? d->raw_norm_sum / (double)d->n_embed : NAN);
    fprintf(f, "%lld,active_margin_share,train,%.6g\n", e,
            d->n_dis ? (double)d->n_dis_active / (double)d->n_dis : NAN);
    fprintf(f, "%lld,mean_distance_similar,train,%.6g\n", e,
            d->n_sim ? d->sum_sim / (double)d->n_sim : NAN);
    fprintf(f, "%lld,mean_distance_dissimilar,train,%.6g\n", e,
            d->n_dis ? d->sum_dis / (double)d->n_dis : NAN);
    /* Validation (eval mode): the same summaries and the two histograms. */
    int64_t hist[2][HIST_BINS] = {{0}}, count[2] = {0}, active = 0;
    double sum[2] = {0};
    double top = 2.0 * margin; /* bins over [0, 2m); the last bin takes everything beyond */
    for (size_t i = 0; i < n; i++) {
        int c = val_labels[i] != 0;
        double x = val_dist[i];
        int bin = (int)(x / top * HIST_BINS);
        bin = bin < 0 ? 0 : bin >= HIST_BINS ? HIST_BINS - 1 : bin;
        hist[c][bin]++;
        count[c]++;
        sum[c] += x;
        if (c) active += x < margin;
    }
    fprintf(f, "%lld,active_margin_share,val,%.6g\n", e,
            count[1] ? (double)active / count[1] : NAN);
    fprintf(f, "%lld,mean_distance_similar,val,%.6g\n", e, count[0] ? sum[0] / count[0] : NAN);
    fprintf(f, "%lld,mean_distance_dissimilar,val,%.6g\n", e, count[1] ? sum[1] / count[1] : NAN);
    static const char *names[2] = {"hist_similar", "hist_dissimilar"};
    for (int c = 0; c < 2; c++)
        for (int b = 0; b < HIST_BINS; b++)
            fprintf(f, "%lld,%s,%.3g-%.3g,%lld\n", e, names[c], top * b / HIST_BINS,
                    top * (b + 1) / HIST_BINS, (long long)hist[c][b]);
    d->steps = d->pairs = d->n_embed = d->n_sim = d->n_dis = d->n_dis_active = 0;
    d->raw_norm_sum = d->sum_sim = d->sum_dis = 0;
    if (fflush(f) || ferror(f))
        return tg_error(TG_ERR_IO, "cannot write the diagnostics: %s", strerror(errno));
    return TG_OK;
}

void tg_diag_free(tg_diag *d) {
    if (!d) return;
    if (d->f) fclose(d->f);
    free(d->layers);
    free(d->before);
    free(d);
}
