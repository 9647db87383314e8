/* The model summary: a layer table (output shape, parameters, FLOPs per image) and
 * totals with the activation memory for a batch, like Keras model.summary() and
 * Darknet's layer table. Figures per image come from the built graph's shapes. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/tg_model.h"
#include "autograd/tg_node_impl.h"

/* A growing string. */
typedef struct sbuf {
    char *p;
    size_t len, cap;
    int oom;
} sbuf;

static void sb_printf(sbuf *b, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
static void sb_printf(sbuf *b, const char *fmt, ...) {
    if (b->oom) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->p ? b->p + b->len : NULL, b->p ? b->cap - b->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->oom = 1;
            return;
        }
        if (b->p && b->len + (size_t)n < b->cap) {
            b->len += (size_t)n;
            return;
        }
        size_t ncap = b->cap ? b->cap * 2 : 4096;
        while (ncap < b->len + (size_t)n + 1) ncap *= 2;
        char *q = realloc(b->p, ncap);
        if (!q) {
            b->oom = 1;
            return;
        }
        b->p = q;
        b->cap = ncap;
    }
}

static void sb_repeat(sbuf *b, char c, int n) {
    for (int i = 0; i < n; i++) sb_printf(b, "%c", c);
    sb_printf(b, "\n");
}

/* 1234567 -> "1,234,567" */
static char *fmt_count(int64_t v, char *buf, size_t size) {
    char tmp[32];
    int n = snprintf(tmp, sizeof tmp, "%lld", (long long)(v < 0 ? -v : v));
    size_t o = 0;
    if (v < 0 && o + 1 < size) buf[o++] = '-';
    for (int i = 0; i < n && o + 2 < size; i++) {
        buf[o++] = tmp[i];
        if ((n - i - 1) % 3 == 0 && i != n - 1) buf[o++] = ',';
    }
    buf[o] = '\0';
    return buf;
}

/* 3.2e9 -> "3.20 G" */
static char *fmt_si(double v, char *buf, size_t size) {
    const char *unit[] = {"", "k", "M", "G", "T", "P"};
    int u = 0;
    while (v >= 1000.0 && u < 5) {
        v /= 1000.0;
        u++;
    }
    snprintf(buf, size, u ? "%.2f %s" : "%.0f%s", v, unit[u]);
    return buf;
}

static char *fmt_bytes(double v, char *buf, size_t size) {
    const char *unit[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int u = 0;
    while (v >= 1024.0 && u < 4) {
        v /= 1024.0;
        u++;
    }
    snprintf(buf, size, u ? "%.1f %s" : "%.0f %s", v, unit[u]);
    return buf;
}

/* The item shape of a node as "(N,32,75,75)". */
static char *fmt_shape(const tg_node *n, char *buf, size_t size) {
    const tg_shape *s = &n->value.shape;
    size_t o = (size_t)snprintf(buf, size, "(N");
    for (int i = 1; i < s->ndim && o < size; i++)
        o += (size_t)snprintf(buf + o, size - o, ",%lld", (long long)s->dim[i]);
    if (o < size) snprintf(buf + o, size - o, ")");
    return buf;
}

/* Floats of one item of a node's value (the batch is its first dimension). */
static int64_t item_floats(const tg_node *n) {
    return tg_shape_item_numel(&n->value.shape);
}

/* Forward FLOPs of one image through a node (ops count for the node's whole batch). */
static double node_flops(const tg_node *n) {
    if (!n->op || !n->op->flops) return 0.0;
    double batch = (double)(n->value.shape.dim[0] > 0 ? n->value.shape.dim[0] : 1);
    return n->op->flops(n) / batch;
}

static int64_t layer_params(const tg_layer *l, int *has_state) {
    int64_t total = 0;
    for (int i = 0; i < TG_MAX_PARAMS; i++) {
        const tg_node *p = tg_layer_param(l, i);
        if (!p) continue;
        total += tg_shape_numel(&p->value.shape);
        if (p->flags & TG_NODE_STATE) *has_state = 1;
    }
    return total;
}

tg_status tg_model_stats_get(const tg_model *m, int batch, tg_model_stats *st) {
    if (!m || !st)
        return tg_error(TG_ERR_INVALID, "tg_model_stats_get: model and stats are required");
    if (batch <= 0) batch = m->batch;
    memset(st, 0, sizeof *st);
    for (int i = 0; i < tg_graph_param_count(m->graph); i++) {
        const tg_node *p = tg_graph_param_at(m->graph, i);
        int64_t k = tg_shape_numel(&p->value.shape);
        if (p->flags & TG_NODE_STATE)
            st->state += k;
        else
            st->params += k;
    }
    const tg_model_def *d = m->def;
    int64_t items = 0;
    for (int i = 0; i < d->n_layers; i++) {
        st->flops += node_flops(m->tower_a[i]);
        items += item_floats(m->tower_a[i]);
    }
    if (d->normalize) {
        const tg_node *nn = m->ea;
        st->flops += node_flops(nn);
        items += item_floats(nn);
    }
    int64_t input = (int64_t)d->channels * d->height * d->width;
    st->tower_floats = (int64_t)batch * (input + items);
    /* The input has no gradient; every tower activation has a value and a gradient. */
    st->tower_bytes = (int64_t)sizeof(float) * batch * (input + 2 * items);
    /* Head: distance (value + grad), labels y, the scalar loss (value + grad). */
    st->total_bytes = 2 * st->tower_bytes + (int64_t)sizeof(float) * (3 * (int64_t)batch + 2);
    size_t train, embed;
    tg_status s;
    if ((s = tg_graph_plan_bytes(m->graph, m->loss, TG_VALUES_BACKWARD, &train)) ||
        (s = tg_graph_plan_bytes(m->graph, m->ea, TG_VALUES_TARGET, &embed)))
        return s;
    st->train_value_bytes = (int64_t)((double)train * batch / m->batch);
    st->embed_value_bytes = (int64_t)((double)embed * batch / m->batch);
    return TG_OK;
}

static void summary_text(const tg_model *m, int batch, sbuf *b) {
    const tg_model_def *d = m->def;
    char s1[64], s2[64], s3[64], s4[64];
    int wname = 12, wop = 11; /* room for "normalize" and "l2normalize" */
    for (int i = 0; i < d->n_layers; i++) {
        int ln = (int)strlen(d->layers[i].name), lo = (int)strlen(d->layers[i].op->name);
        if (ln > wname) wname = ln;
        if (lo > wop) wop = lo;
    }
    int width = wname + wop + 20 + 14 + 14 + 8;
    sb_printf(b, "Model: %s  (input %dx%dx%d, Siamese: two towers, one set of weights)\n",
              d->source, d->height, d->width, d->channels);
    sb_repeat(b, '=', width);
    sb_printf(b, "%-*s  %-*s  %-20s  %14s  %14s\n", wname, "layer", wop, "op", "output shape",
              "params", "FLOPs/image");
    sb_repeat(b, '-', width);
    sb_printf(b, "%-*s  %-*s  %-20s  %14s  %14s\n", wname, "a, b", wop, "input",
              fmt_shape(m->a, s1, sizeof s1), "0", "0");
    for (int k = 0; k < d->n_layers; k++) {
        int i = d->order[k];
        const tg_node *n = m->tower_a[i];
        int has_state = 0;
        int64_t np = layer_params(m->layers[i], &has_state);
        sb_printf(b, "%-*s  %-*s  %-20s  %14s  %14s%s\n", wname, d->layers[i].name, wop,
                  d->layers[i].op->name, fmt_shape(n, s1, sizeof s1), fmt_count(np, s2, sizeof s2),
                  fmt_si(node_flops(n), s3, sizeof s3), i == d->output ? "  <- embedding" : "");
    }
    if (d->normalize)
        sb_printf(b, "%-*s  %-*s  %-20s  %14s  %14s\n", wname, "normalize", wop, "l2normalize",
                  fmt_shape(m->ea, s1, sizeof s1), "0", fmt_si(node_flops(m->ea), s3, sizeof s3));
    sb_repeat(b, '-', width);
    sb_printf(b, "head: %s%s distance -> (N), %s loss%s%s -> scalar\n",
              d->normalize ? "l2normalize both embeddings, " : "", d->distance->name, d->loss->name,
              d->loss_attrs[0] ? " " : "", d->loss_attrs);
    tg_model_stats st;
    tg_model_stats_get(m, batch, &st);
    sb_printf(b, "embedding: %d floats per image\n", m->embed_dim);
    sb_printf(b,
              "parameters: %s trainable + %s state (batch-norm running statistics) = %s "
              "(%s as float32); shared by both towers\n",
              fmt_count(st.params, s1, sizeof s1), fmt_count(st.state, s2, sizeof s2),
              fmt_count(st.params + st.state, s3, sizeof s3),
              fmt_bytes((double)(st.params + st.state) * 4.0, s4, sizeof s4));
    sb_printf(b, "forward FLOPs: %s per image (one tower), %s per pair, %s per batch of %d pairs\n",
              fmt_si(st.flops, s1, sizeof s1), fmt_si(2.0 * st.flops, s2, sizeof s2),
              fmt_si(2.0 * st.flops * batch, s3, sizeof s3), batch);
    sb_printf(b,
              "activation memory at batch %d: one tower %s (values + gradients), both towers "
              "and head %s\n",
              batch, fmt_bytes((double)st.tower_bytes, s1, sizeof s1),
              fmt_bytes((double)st.total_bytes, s2, sizeof s2));
    sb_printf(b,
              "values kept at batch %d: %s by a training step (only those backward reads), "
              "%s by embedding (one tower)\n",
              batch, fmt_bytes((double)st.train_value_bytes, s1, sizeof s1),
              fmt_bytes((double)st.embed_value_bytes, s2, sizeof s2));
    sb_repeat(b, '=', width);
}

int64_t tg_model_summary_str(const tg_model *m, int batch, char *buf, size_t size) {
    if (!m) {
        tg_error(TG_ERR_INVALID, "tg_model_summary_str: model is NULL");
        return -1;
    }
    sbuf b = {0};
    summary_text(m, batch > 0 ? batch : m->batch, &b);
    if (b.oom) {
        free(b.p);
        tg_error(TG_ERR_NOMEM, "tg_model_summary_str: out of memory");
        return -1;
    }
    if (buf && size > 0) {
        size_t k = b.len < size - 1 ? b.len : size - 1;
        memcpy(buf, b.p, k);
        buf[k] = '\0';
    }
    int64_t len = (int64_t)b.len;
    free(b.p);
    return len;
}

tg_status tg_model_summary(const tg_model *m, int batch, FILE *f) {
    if (!m || !f) return tg_error(TG_ERR_INVALID, "tg_model_summary: model and file are required");
    sbuf b = {0};
    summary_text(m, batch > 0 ? batch : m->batch, &b);
    tg_status st = TG_OK;
    if (b.oom)
        st = tg_error(TG_ERR_NOMEM, "tg_model_summary: out of memory");
    else if (fwrite(b.p, 1, b.len, f) != b.len || fflush(f) != 0)
        st = tg_error(TG_ERR_IO, "tg_model_summary: write failed");
    free(b.p);
    return st;
}
