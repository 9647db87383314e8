/* Pair sampling inside one split, the exhaustive scheme, batch assembly. */
#include "datasets/tg_pairs.h"

#include <stdlib.h>
#include <string.h>

/* The images of idx grouped by class: members[start[c] .. start[c+1]). */
typedef struct by_class {
    size_t *start, *members;
    int nc;
} by_class;

static void by_class_free(by_class *b) {
    free(b->start);
    free(b->members);
}

static tg_status by_class_build(const tg_dataset *ds, const size_t *idx, size_t n, by_class *b) {
    b->nc = ds->n_classes;
    b->start = calloc((size_t)b->nc + 2, sizeof *b->start);
    b->members = malloc((n ? n : 1) * sizeof *b->members);
    if (!b->start || !b->members) {
        by_class_free(b);
        return tg_error(TG_ERR_NOMEM, "out of memory for pairs");
    }
    for (size_t i = 0; i < n; i++) {
        if (idx[i] >= ds->n || idx[i] > UINT32_MAX) {
            by_class_free(b);
            return tg_error(TG_ERR_INVALID, "pairs: image index %zu out of range (%zu images)",
                            idx[i], ds->n);
        }
        b->start[ds->labels[idx[i]] + 2]++;
    }
    for (int c = 0; c < b->nc; c++) b->start[c + 2] += b->start[c + 1];
    /* start[c+1] is now the insertion cursor of class c; after filling, start[c]. */
    for (size_t i = 0; i < n; i++) b->members[b->start[ds->labels[idx[i]] + 1]++] = idx[i];
    return TG_OK;
}

static size_t count_of(const by_class *b, int c) {
    return b->start[c + 1] - b->start[c];
}

static size_t pick(tg_rng *rng, size_t n) {
    return (size_t)tg_rng_below(rng, (uint64_t)n);
}

void tg_pairs_free(tg_pairs *pairs) {
    if (!pairs) return;
    free(pairs->p);
    pairs->p = NULL;
    pairs->n = 0;
}

tg_status tg_pairs_sample(const tg_dataset *ds, const size_t *idx, size_t n_idx, size_t n_pairs,
                          double similar_frac, int class_balanced, tg_rng *rng, tg_pairs *out) {
    out->p = NULL;
    out->n = 0;
    if (!(similar_frac >= 0 && similar_frac <= 1))
        return tg_error(TG_ERR_INVALID, "pairs: similar fraction %g is not in [0,1]", similar_frac);
    by_class b;
    tg_status st = by_class_build(ds, idx, n_idx, &b);
    if (st != TG_OK) return st;
    size_t n_sim = (size_t)(similar_frac * (double)n_pairs + 0.5), n_dis = n_pairs - n_sim;
    int present = 0, simcap = 0;
    size_t simcap_images = 0;
    for (int c = 0; c < b.nc; c++) {
        present += count_of(&b, c) > 0;
        if (count_of(&b, c) >= 2) {
            simcap++;
            simcap_images += count_of(&b, c);
        }
    }
    if (n_sim > 0 && simcap == 0) {
        by_class_free(&b);
        return tg_error(TG_ERR_INVALID,
                        "similar pairs need a class with two images, but no class of these %zu "
                        "images has two",
                        n_idx);
    }
    if (n_dis > 0 && present < 2) {
        by_class_free(&b);
        return tg_error(TG_ERR_INVALID,
                        "pairs: dissimilar pairs need two classes in the split (found %d)",
                        present);
    }
    out->p = malloc((n_pairs ? n_pairs : 1) * sizeof *out->p);
    if (!out->p) {
        by_class_free(&b);
        return tg_error(TG_ERR_NOMEM, "out of memory for %zu pairs", n_pairs);
    }
    for (size_t k = 0; k < n_sim; k++) {
        int c;
        if (class_balanced) {
            /* The r-th class among those with at least two images. */
            size_t r = pick(rng, (size_t)simcap);
            for (c = 0; c < b.nc; c++)
                if (count_of(&b, c) >= 2 && r-- == 0) break;
        } else {
            size_t r = pick(rng, simcap_images);
            for (c = 0; c < b.nc; c++)
                if (count_of(&b, c) >= 2) {
                    if (r < count_of(&b, c)) break;
                    r -= count_of(&b, c);
                }
        }
        size_t m = count_of(&b, c), i = pick(rng, m), j = pick(rng, m - 1);
        if (j >= i) j++; /* a distinct second image */
        out->p[k] =
            (tg_pair){(uint32_t)b.members[b.start[c] + i], (uint32_t)b.members[b.start[c] + j], 0};
    }
    for (size_t k = n_sim; k < n_pairs; k++) {
        int ca, cb;
        size_t a;
        if (class_balanced) {
            size_t r = pick(rng, (size_t)present);
            for (ca = 0; ca < b.nc; ca++)
                if (count_of(&b, ca) > 0 && r-- == 0) break;
            a = b.members[b.start[ca] + pick(rng, count_of(&b, ca))];
            r = pick(rng, (size_t)present - 1);
            for (cb = 0; cb < b.nc; cb++)
                if (cb != ca && count_of(&b, cb) > 0 && r-- == 0) break;
            out->p[k] = (tg_pair){
                (uint32_t)a, (uint32_t)b.members[b.start[cb] + pick(rng, count_of(&b, cb))], 1};
        } else {
            size_t ia = pick(rng, n_idx);
            a = b.members[ia];
            ca = ds->labels[a];
            /* Uniform over the images outside class ca: skip its block. */
            size_t r = pick(rng, n_idx - count_of(&b, ca));
            if (r >= b.start[ca]) r += count_of(&b, ca);
            out->p[k] = (tg_pair){(uint32_t)a, (uint32_t)b.members[r], 1};
        }
    }
    tg_rng_shuffle(rng, out->p, n_pairs, sizeof *out->p);
    out->n = n_pairs;
    by_class_free(&b);
    return TG_OK;
}

tg_status tg_pairs_exhaustive(const tg_dataset *ds, const size_t *idx, size_t n_idx,
                              size_t max_pairs, tg_rng *rng, tg_pairs *out) {
    out->p = NULL;
    out->n = 0;
    if (max_pairs == 0) max_pairs = 50000000;
    by_class b;
    tg_status st = by_class_build(ds, idx, n_idx, &b);
    if (st != TG_OK) return st;
    uint64_t cross = 0, same = 0;
    for (int c = 0; c < b.nc; c++) {
        uint64_t nc = count_of(&b, c);
        same += nc * (nc ? nc - 1 : 0) / 2;
        for (int d = c + 1; d < b.nc; d++) cross += nc * count_of(&b, d);
    }
    uint64_t take = same < cross ? same : cross, total = cross + take;
    if (total > max_pairs) {
        by_class_free(&b);
        return tg_error(TG_ERR_LIMIT,
                        "pairs: the exhaustive scheme gives %llu pairs, over the limit of %zu; "
                        "sample pairs per epoch instead",
                        (unsigned long long)total, max_pairs);
    }
    out->p = malloc((total ? total : 1) * sizeof *out->p);
    if (!out->p) {
        by_class_free(&b);
        return tg_error(TG_ERR_NOMEM, "out of memory for %llu pairs", (unsigned long long)total);
    }
    size_t k = 0;
    for (int c = 0; c < b.nc; c++)
        for (int d = c + 1; d < b.nc; d++)
            for (size_t i = b.start[c]; i < b.start[c + 1]; i++)
                for (size_t j = b.start[d]; j < b.start[d + 1]; j++)
                    out->p[k++] = (tg_pair){(uint32_t)b.members[i], (uint32_t)b.members[j], 1};
    /* Selection sampling (Knuth's Algorithm S): `take` of the `same` pairs, each
     * subset equally likely, in one pass and without listing them all. */
    uint64_t seen = 0, chosen = 0;
    for (int c = 0; c < b.nc && chosen < take; c++)
        for (size_t i = b.start[c]; i < b.start[c + 1] && chosen < take; i++)
            for (size_t j = i + 1; j < b.start[c + 1] && chosen < take; j++, seen++)
                if (tg_rng_below(rng, same - seen) < take - chosen) {
                    out->p[k++] = (tg_pair){(uint32_t)b.members[i], (uint32_t)b.members[j], 0};
                    chosen++;
                }
    tg_rng_shuffle(rng, out->p, k, sizeof *out->p);
    out->n = k;
    by_class_free(&b);
    return TG_OK;
}

tg_status tg_pairs_batch(const tg_dataset *ds, const tg_pairs *pairs, size_t start, size_t count,
                         const tg_augment *aug, tg_rng *rng, float *xa, float *xb, float *y) {
    if (start > pairs->n || count > pairs->n - start)
        return tg_error(TG_ERR_INVALID, "batch: pairs [%zu, %zu) out of range (%zu pairs)", start,
                        start + count, pairs->n);
    size_t npx = (size_t)ds->width * (size_t)ds->height;
    int augment = tg_augment_active(aug);
    for (size_t k = 0; k < count; k++) {
        const tg_pair *p = &pairs->p[start + k];
        if (p->a >= ds->n || p->b >= ds->n)
            return tg_error(TG_ERR_INVALID, "batch: pair %zu names image %u of %zu", start + k,
                            p->a >= ds->n ? p->a : p->b, ds->n);
        const float *a = tg_dataset_image(ds, p->a), *bb = tg_dataset_image(ds, p->b);
        if (augment) {
            tg_augment_apply(aug, a, xa + k * npx, ds->width, ds->height, rng);
            tg_augment_apply(aug, bb, xb + k * npx, ds->width, ds->height, rng);
        } else {
            memcpy(xa + k * npx, a, npx * sizeof(float));
            memcpy(xb + k * npx, bb, npx * sizeof(float));
        }
        y[k] = (float)p->y;
    }
    return TG_OK;
}
