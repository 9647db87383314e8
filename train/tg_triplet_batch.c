/* P x K batches for triplet training (Hermans et al. 2017): every anchor in a batch
 * has K - 1 positives and (P - 1) K negatives, so online mining finds triplets of
 * every difficulty among P K embeddings computed once each. */
#include "train/tg_triplet_batch.h"

#include <stdlib.h>
#include <string.h>

void tg_triplet_epoch_free(tg_triplet_epoch *e) {
    for (int c = 0; e->members && c < e->n_classes; c++) free(e->members[c]);
    free(e->members);
    free(e->n_members);
    free(e->idx);
    memset(e, 0, sizeof *e);
}

tg_status tg_triplet_epoch_init(tg_triplet_epoch *e, const tg_model_def *def, const tg_dataset *ds,
                                const size_t *train, size_t n_train, int *batch) {
    memset(e, 0, sizeof *e);
    e->classes = def->triplet_classes;
    e->per_class = def->triplet_per_class;
    e->batch = e->classes * e->per_class;
    e->n_classes = ds->n_classes;
    e->members = calloc((size_t)ds->n_classes, sizeof *e->members);
    e->n_members = calloc((size_t)ds->n_classes, sizeof *e->n_members);
    if (!e->members || !e->n_members) goto nomem;
    for (size_t i = 0; i < n_train; i++) e->n_members[ds->labels[train[i]]]++;
    int usable = 0;
    for (int c = 0; c < ds->n_classes; c++) {
        if (!(e->members[c] = malloc((e->n_members[c] + 1) * sizeof **e->members))) goto nomem;
        usable += e->n_members[c] >= 2;
        e->n_members[c] = 0;
    }
    for (size_t i = 0; i < n_train; i++) {
        int c = ds->labels[train[i]];
        e->members[c][e->n_members[c]++] = train[i];
    }
    if (usable < e->classes) {
        tg_status st = tg_error(TG_ERR_INVALID,
                                "%s:%d: triplet batches need classes=%d classes with two or more "
                                "training images; the training split has %d (lower classes= on "
                                "the triplet line)",
                                def->source, def->triplet_line, e->classes, usable);
        tg_triplet_epoch_free(e);
        return st;
    }
    *batch = e->batch;
    return TG_OK;
nomem:
    tg_triplet_epoch_free(e);
    return tg_error(TG_ERR_NOMEM, "out of memory grouping images by class");
}

tg_status tg_triplet_epoch_sample(tg_triplet_epoch *e, int n_batches, tg_rng *rng) {
    free(e->idx);
    e->idx = malloc((size_t)(n_batches > 0 ? n_batches : 1) * (size_t)e->batch * sizeof *e->idx);
    int *usable = malloc((size_t)e->n_classes * sizeof *usable);
    if (!e->idx || !usable) {
        free(usable);
        return tg_error(TG_ERR_NOMEM, "out of memory drawing triplet batches");
    }
    int n_usable = 0;
    for (int c = 0; c < e->n_classes; c++)
        if (e->n_members[c] >= 2) usable[n_usable++] = c;
    e->n_batches = n_batches;
    for (int b = 0; b < n_batches; b++) {
        size_t *out = e->idx + (size_t)b * (size_t)e->batch;
        for (int p = 0; p < e->classes; p++) {
            /* partial Fisher-Yates: P distinct classes */
            int j = p + (int)tg_rng_below(rng, (uint64_t)(n_usable - p));
            int c = usable[j];
            usable[j] = usable[p];
            usable[p] = c;
            size_t *m = e->members[c], n = e->n_members[c];
            for (int k = 0; k < e->per_class; k++) {
                if (n >= (size_t)e->per_class) { /* without replacement: shuffle a prefix */
                    size_t r = (size_t)k + (size_t)tg_rng_below(rng, n - (size_t)k);
                    size_t tmp = m[r];
                    m[r] = m[k];
                    m[k] = tmp;
                    out[p * e->per_class + k] = m[k];
                } else {
                    out[p * e->per_class + k] = m[tg_rng_below(rng, n)];
                }
            }
        }
    }
    free(usable);
    e->valid = e->active = e->sum_ap = e->sum_an = 0.0;
    return TG_OK;
}

void tg_triplet_epoch_batch(const tg_triplet_epoch *e, const tg_dataset *ds, int b,
                            const tg_augment *aug, tg_rng *rng, float *x, float *labels) {
    size_t item = (size_t)ds->height * (size_t)ds->width;
    const size_t *idx = e->idx + (size_t)b * (size_t)e->batch;
    for (int i = 0; i < e->batch; i++) {
        const float *src = tg_dataset_image(ds, idx[i]);
        if (aug)
            tg_augment_apply(aug, src, x + (size_t)i * item, ds->width, ds->height, rng);
        else
            memcpy(x + (size_t)i * item, src, item * sizeof(float));
        labels[i] = (float)ds->labels[idx[i]];
    }
}

void tg_triplet_epoch_observe(tg_triplet_epoch *e, tg_model *m) {
    const float *t = tg_node_data(m->mined);
    int64_t rows = tg_node_shape(m->mined)->dim[0];
    double margin = tg_node_attr_float(m->triplet_loss, "margin");
    for (int64_t r = 0; r < rows; r++) {
        if (t[r * 3 + 2] <= 0.5f) continue;
        e->valid++;
        e->active += (double)t[r * 3] - t[r * 3 + 1] + margin > 0.0;
        e->sum_ap += t[r * 3];
        e->sum_an += t[r * 3 + 1];
    }
}

void tg_triplet_epoch_figures(const tg_triplet_epoch *e, double *active, double *mean_ap,
                              double *mean_an) {
    double v = e->valid > 0 ? e->valid : 1.0;
    *active = e->active / v;
    *mean_ap = e->sum_ap / v;
    *mean_an = e->sum_an / v;
}
