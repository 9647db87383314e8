/* Stratified, seeded splits by image or by group; undersampling. */
#include "datasets/tg_split.h"

#include <stdlib.h>
#include <string.h>

static int cmp_size(const void *a, const void *b) {
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    return x < y ? -1 : x > y;
}

void tg_split_free(tg_split *s) {
    if (!s) return;
    free(s->train);
    free(s->val);
    free(s->test);
    memset(s, 0, sizeof *s);
}

tg_status tg_dataset_split(const tg_dataset *ds, double val_frac, double test_frac, int by_group,
                           tg_rng *rng, tg_split *out) {
    memset(out, 0, sizeof *out);
    if (!(val_frac >= 0) || !(test_frac >= 0) || val_frac + test_frac > 1.0)
        return tg_error(TG_ERR_INVALID,
                        "split fractions val=%g test=%g: each must be >= 0 and their sum <= 1",
                        val_frac, test_frac);
    size_t n = ds->n, nu = by_group ? ds->n_groups : n;
    /* Units are images or groups; each has a class, a size and a destination. */
    int *ucls = calloc(nu ? nu : 1, sizeof *ucls);
    size_t *usize = calloc(nu ? nu : 1, sizeof *usize);
    int *udest = calloc(nu ? nu : 1, sizeof *udest);
    size_t *order = malloc((nu ? nu : 1) * sizeof *order);
    int nc = ds->n_classes > 0 ? ds->n_classes : 1;
    size_t *votes = calloc((nu ? nu : 1) * (by_group ? (size_t)nc : 1), sizeof *votes);
    out->train = malloc((n ? n : 1) * sizeof(size_t));
    out->val = malloc((n ? n : 1) * sizeof(size_t));
    out->test = malloc((n ? n : 1) * sizeof(size_t));
    tg_status st = TG_OK;
    if (!ucls || !usize || !udest || !order || !votes || !out->train || !out->val || !out->test) {
        st = tg_error(TG_ERR_NOMEM, "out of memory splitting %zu images", n);
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        if (by_group) {
            votes[(size_t)ds->groups[i] * (size_t)nc + (size_t)ds->labels[i]]++;
            usize[ds->groups[i]]++;
        } else {
            ucls[i] = ds->labels[i];
            usize[i] = 1;
        }
    }
    if (by_group)
        for (size_t g = 0; g < nu; g++) {
            int best = 0;
            for (int c = 1; c < nc; c++)
                if (votes[g * (size_t)nc + (size_t)c] > votes[g * (size_t)nc + (size_t)best])
                    best = c;
            ucls[g] = best;
        }
    for (int c = 0; c < nc; c++) {
        /* This class's units in random order; test first, then validation, to the
         * image counts the fractions ask for (rounded), the rest to training. */
        size_t k = 0, images = 0;
        for (size_t u = 0; u < nu; u++)
            if (ucls[u] == c && usize[u] > 0) {
                order[k++] = u;
                images += usize[u];
            }
        tg_rng_shuffle(rng, order, k, sizeof *order);
        size_t want_test = (size_t)(test_frac * (double)images + 0.5);
        size_t want_val = (size_t)(val_frac * (double)images + 0.5);
        size_t got_test = 0, got_val = 0;
        for (size_t j = 0; j < k; j++) {
            size_t u = order[j];
            if (got_test < want_test) {
                udest[u] = 2;
                got_test += usize[u];
            } else if (got_val < want_val) {
                udest[u] = 1;
                got_val += usize[u];
            } else {
                udest[u] = 0;
            }
        }
    }
    for (size_t i = 0; i < n; i++) {
        int d = udest[by_group ? (size_t)ds->groups[i] : i];
        if (d == 2)
            out->test[out->n_test++] = i;
        else if (d == 1)
            out->val[out->n_val++] = i;
        else
            out->train[out->n_train++] = i;
    }
done:
    free(ucls);
    free(usize);
    free(udest);
    free(order);
    free(votes);
    if (st != TG_OK) tg_split_free(out);
    return st;
}

tg_status tg_split_undersample(const tg_dataset *ds, size_t *idx, size_t *n, tg_rng *rng) {
    int nc = ds->n_classes;
    if (nc <= 0 || *n == 0) return TG_OK;
    size_t *count = calloc((size_t)nc, sizeof *count);
    size_t *keep = calloc((size_t)nc, sizeof *keep);
    size_t *tmp = malloc(*n * sizeof *tmp);
    if (!count || !keep || !tmp) {
        free(count);
        free(keep);
        free(tmp);
        return tg_error(TG_ERR_NOMEM, "out of memory balancing classes");
    }
    for (size_t i = 0; i < *n; i++) count[ds->labels[idx[i]]]++;
    size_t smallest = SIZE_MAX;
    for (int c = 0; c < nc; c++)
        if (count[c] > 0 && count[c] < smallest) smallest = count[c];
    /* Shuffle a copy, keep the first `smallest` of each class, restore the order. */
    memcpy(tmp, idx, *n * sizeof *tmp);
    tg_rng_shuffle(rng, tmp, *n, sizeof *tmp);
    size_t k = 0;
    for (size_t i = 0; i < *n; i++) {
        int c = ds->labels[tmp[i]];
        if (keep[c] < smallest) {
            keep[c]++;
            idx[k++] = tmp[i];
        }
    }
    qsort(idx, k, sizeof *idx, cmp_size);
    *n = k;
    free(count);
    free(keep);
    free(tmp);
    return TG_OK;
}
