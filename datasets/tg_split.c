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

/* The class of every group: the class most of its images in idx have. */
static void group_classes(const tg_dataset *ds, const size_t *idx, size_t n, size_t *votes,
                          int *gcls, size_t *gsize) {
    int nc = ds->n_classes > 0 ? ds->n_classes : 1;
    for (size_t i = 0; i < n; i++) {
        votes[(size_t)ds->groups[idx[i]] * (size_t)nc + (size_t)ds->labels[idx[i]]]++;
        gsize[ds->groups[idx[i]]]++;
    }
    for (size_t g = 0; g < ds->n_groups; g++) {
        int best = 0;
        for (int c = 1; c < nc; c++)
            if (votes[g * (size_t)nc + (size_t)c] > votes[g * (size_t)nc + (size_t)best]) best = c;
        gcls[g] = best;
    }
}

tg_status tg_split_subset(const tg_dataset *ds, const size_t *idx, size_t n, double val_frac,
                          double test_frac, int by_group, tg_rng *rng, tg_split *out) {
    memset(out, 0, sizeof *out);
    if (!(val_frac >= 0) || !(test_frac >= 0) || val_frac + test_frac > 1.0)
        return tg_error(TG_ERR_INVALID,
                        "split fractions val=%g test=%g: each must be >= 0 and their sum <= 1",
                        val_frac, test_frac);
    /* Units are images (numbered by position in idx) or groups; each has a class,
     * a size and a destination. */
    size_t nu = by_group ? ds->n_groups : n;
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
    if (by_group) {
        group_classes(ds, idx, n, votes, ucls, usize);
    } else {
        for (size_t i = 0; i < n; i++) {
            ucls[i] = ds->labels[idx[i]];
            usize[i] = 1;
        }
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
        int d = udest[by_group ? (size_t)ds->groups[idx[i]] : i];
        if (d == 2)
            out->test[out->n_test++] = idx[i];
        else if (d == 1)
            out->val[out->n_val++] = idx[i];
        else
            out->train[out->n_train++] = idx[i];
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

tg_status tg_dataset_split(const tg_dataset *ds, double val_frac, double test_frac, int by_group,
                           tg_rng *rng, tg_split *out) {
    size_t *all = malloc((ds->n ? ds->n : 1) * sizeof *all);
    if (!all) return tg_error(TG_ERR_NOMEM, "out of memory splitting %zu images", ds->n);
    for (size_t i = 0; i < ds->n; i++) all[i] = i;
    tg_status st = tg_split_subset(ds, all, ds->n, val_frac, test_frac, by_group, rng, out);
    free(all);
    return st;
}

tg_status tg_split_folds(const tg_dataset *ds, int k, int by_group, tg_rng *rng, int *fold_of) {
    if (k < 2 || (size_t)k > ds->n)
        return tg_error(TG_ERR_INVALID, "%d folds for %zu images: need 2 <= folds <= images", k,
                        ds->n);
    size_t nu = by_group ? ds->n_groups : ds->n;
    int nc = ds->n_classes > 0 ? ds->n_classes : 1;
    int *ucls = calloc(nu ? nu : 1, sizeof *ucls), *ufold = calloc(nu ? nu : 1, sizeof *ufold);
    size_t *usize = calloc(nu ? nu : 1, sizeof *usize),
           *order = malloc((nu ? nu : 1) * sizeof *order);
    size_t *votes = calloc((nu ? nu : 1) * (size_t)nc, sizeof *votes);
    size_t *all = malloc((ds->n ? ds->n : 1) * sizeof *all);
    size_t *load = calloc((size_t)k, sizeof *load); /* images of the current class per fold */
    tg_status st = TG_OK;
    if (!ucls || !ufold || !usize || !order || !votes || !all || !load) {
        st = tg_error(TG_ERR_NOMEM, "out of memory assigning folds");
        goto done;
    }
    for (size_t i = 0; i < ds->n; i++) all[i] = i;
    if (by_group) {
        group_classes(ds, all, ds->n, votes, ucls, usize);
    } else {
        for (size_t i = 0; i < ds->n; i++) {
            ucls[i] = ds->labels[i];
            usize[i] = 1;
        }
    }
    for (int c = 0; c < nc; c++) {
        /* Stratified: this class's units, largest first (ties in random order), each
         * to the fold holding the fewest of this class's images so far. */
        size_t m = 0;
        for (size_t u = 0; u < nu; u++)
            if (ucls[u] == c && usize[u] > 0) order[m++] = u;
        tg_rng_shuffle(rng, order, m, sizeof *order);
        for (size_t a = 1; a < m; a++) /* stable insertion sort by size, descending */
            for (size_t b = a; b > 0 && usize[order[b]] > usize[order[b - 1]]; b--) {
                size_t tmp = order[b];
                order[b] = order[b - 1];
                order[b - 1] = tmp;
            }
        memset(load, 0, (size_t)k * sizeof *load);
        int start = (int)tg_rng_below(rng, (uint64_t)k); /* which fold takes the first ties */
        for (size_t j = 0; j < m; j++) {
            int best = start;
            for (int f = 0; f < k; f++) {
                int g = (start + f) % k;
                if (load[g] < load[best]) best = g;
            }
            ufold[order[j]] = best;
            load[best] += usize[order[j]];
            start = (best + 1) % k;
        }
    }
    for (size_t i = 0; i < ds->n; i++) fold_of[i] = ufold[by_group ? (size_t)ds->groups[i] : i];
done:
    free(ucls);
    free(ufold);
    free(usize);
    free(order);
    free(votes);
    free(all);
    free(load);
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
