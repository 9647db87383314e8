/* Splits without leakage, balancing, pair sampling, batches, augmentation and
 * the synthetic X-ray generator (synth -> PNG + CSV -> load round trip). */
#include <check.h>

#include "tests/tg_check.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/test_datasets_fixtures.h"
#include "datasets/tg_augment.h"
#include "datasets/tg_dataset.h"
#include "datasets/tg_pairs.h"
#include "datasets/tg_split.h"
#include "datasets/tg_synth.h"

static char *dir;
static tg_dataset ds; /* a synthetic set with several images per patient */

static void setup(void) {
    dir = fx_tmpdir();
    tg_synth_opts so = tg_synth_opts_default();
    so.n_positive = 60;
    so.n_negative = 24;
    so.n_unlabeled = 5;
    so.width = so.height = 40;
    so.max_per_patient = 3;
    tg_rng r;
    tg_rng_seed(&r, 2024);
    ck_assert_int_eq(tg_synth_write(dir, &so, &r), TG_OK);
    char spec[4200];
    snprintf(spec, sizeof spec, "synth:%s,size=32", dir);
    tg_dataset_opts o = tg_dataset_opts_default(150, 150);
    ck_assert_msg(tg_dataset_load_spec(spec, &o, &ds) == TG_OK, "%s", tg_last_error());
}

static void teardown(void) {
    tg_dataset_free(&ds);
    fx_rmtree(dir);
    free(dir);
}

START_TEST(test_synth_round_trip_loads_counts_and_groups) {
    ck_assert_uint_eq(ds.n, 84);
    ck_assert_int_eq(ds.width, 32); /* 40x40 files resized on load */
    ck_assert_uint_eq(tg_dataset_class_count(&ds, 1), 60);
    ck_assert_uint_eq(tg_dataset_class_count(&ds, 0), 24);
    ck_assert_uint_eq(ds.summary.empty_label, 5);
    ck_assert_uint_eq(ds.summary.n_skips, 0);
    ck_assert_str_eq(ds.class_names[1], "COVID-19");
    ck_assert(ds.n_groups < ds.n); /* several images per patient */
    ck_assert(ds.n_groups >= ds.n / 3);
    for (size_t i = 0; i < ds.n; i++)
        for (size_t j = i + 1; j < ds.n; j++)
            if (ds.groups[i] == ds.groups[j]) ck_assert_int_eq(ds.labels[i], ds.labels[j]);
}
END_TEST

START_TEST(test_synth_is_deterministic_per_seed) {
    enum { W = 48, H = 40 };
    float *a = malloc(sizeof(float) * W * H), *b = malloc(sizeof(float) * W * H);
    tg_rng r1, r2;
    tg_rng_seed(&r1, 9);
    tg_rng_seed(&r2, 9);
    ck_assert_int_eq(tg_synth_render(a, W, H, 1, 0.5f, &r1), TG_OK);
    ck_assert_int_eq(tg_synth_render(b, W, H, 1, 0.5f, &r2), TG_OK);
    ck_assert_mem_eq(a, b, sizeof(float) * W * H);
    ck_assert_int_eq(tg_synth_render(b, W, H, 1, 0.5f, &r2), TG_OK);
    ck_assert(memcmp(a, b, sizeof(float) * W * H) != 0);
    ck_assert_int_eq(tg_synth_render(a, 4, 4, 1, 0.5f, &r1), TG_ERR_INVALID);
    free(a);
    free(b);
    tg_synth_opts bad = tg_synth_opts_default();
    bad.max_per_patient = 0;
    ck_assert_int_eq(tg_synth_write(dir, &bad, &r1), TG_ERR_INVALID);
}
END_TEST

/* Mean brightness of the lower lung zones, where opacities mostly fall. */
static double lung_score(const float *img, int w, int h) {
    double s = 0;
    int n = 0;
    for (int y = (int)(0.45 * h); y < (int)(0.75 * h); y++)
        for (int x = 0; x < w; x++) {
            double u = (x + 0.5) / w;
            if ((u > 0.2 && u < 0.42) || (u > 0.58 && u < 0.8)) {
                s += img[y * w + x];
                n++;
            }
        }
    return s / n;
}

/* Best accuracy of one threshold on lung_score over n positives and n negatives. */
static double threshold_accuracy(float difficulty, int n, uint64_t seed, double *gap) {
    enum { W = 64, H = 64 };
    float *img = malloc(sizeof(float) * W * H);
    double *sp = malloc(sizeof(double) * (size_t)n), *sn = malloc(sizeof(double) * (size_t)n);
    double mp = 0, mn = 0, best = 0;
    tg_rng r;
    tg_rng_seed(&r, seed);
    for (int i = 0; i < n; i++) {
        tg_synth_render(img, W, H, 1, difficulty, &r);
        sp[i] = lung_score(img, W, H);
        tg_synth_render(img, W, H, 0, difficulty, &r);
        sn[i] = lung_score(img, W, H);
        mp += sp[i] / n;
        mn += sn[i] / n;
    }
    for (int t = 0; t < 2 * n; t++) {
        double th = t < n ? sp[t] : sn[t - n];
        int correct = 0;
        for (int i = 0; i < n; i++) correct += (sp[i] > th) + (sn[i] <= th);
        if (correct > best) best = correct;
    }
    *gap = mp - mn;
    free(img);
    free(sp);
    free(sn);
    return best / (2.0 * n);
}

/* Learnable: positives are brighter in the lungs on average, and the easier the
 * setting the clearer. Not trivial: at the default difficulty no threshold on
 * that obvious global feature comes near separating the classes. */
START_TEST(test_synth_is_learnable_but_not_trivially_separable) {
    double g0, g5, g1;
    double a0 = threshold_accuracy(0.0f, 150, 77, &g0);
    double a5 = threshold_accuracy(0.5f, 150, 77, &g5);
    double a1 = threshold_accuracy(1.0f, 150, 77, &g1);
    printf("synth: threshold accuracy on lung brightness: difficulty 0 %.3f, 0.5 %.3f, 1 %.3f\n",
           a0, a5, a1);
    ck_assert(g0 > g5 && g5 > g1 && g1 > 0);
    ck_assert(a0 > a1 + 0.1);
    ck_assert(a5 > 0.6 && a5 < 0.9);
}
END_TEST

static int in(const size_t *v, size_t n, size_t x) {
    for (size_t i = 0; i < n; i++)
        if (v[i] == x) return 1;
    return 0;
}

/* Which split an image is in: 0 train, 1 val, 2 test; asserts it is in exactly one. */
static int where(const tg_split *s, size_t i) {
    int a = in(s->train, s->n_train, i), b = in(s->val, s->n_val, i), c = in(s->test, s->n_test, i);
    ck_assert_int_eq(a + b + c, 1);
    return a ? 0 : b ? 1 : 2;
}

static void check_pairs_inside(const tg_pairs *p, const size_t *idx, size_t n) {
    for (size_t k = 0; k < p->n; k++) {
        ck_assert(in(idx, n, p->p[k].a));
        ck_assert(in(idx, n, p->p[k].b));
        ck_assert_uint_eq(p->p[k].y, ds.labels[p->p[k].a] != ds.labels[p->p[k].b]);
    }
}

START_TEST(test_split_by_group_never_leaks_images_groups_or_pairs) {
    tg_rng r;
    tg_rng_seed(&r, 1);
    tg_split s;
    ck_assert_int_eq(tg_dataset_split(&ds, 0.2, 0.2, 1, &r, &s), TG_OK);
    ck_assert_uint_eq(s.n_train + s.n_val + s.n_test, ds.n);
    int *gsplit = malloc(sizeof(int) * ds.n_groups);
    for (size_t g = 0; g < ds.n_groups; g++) gsplit[g] = -1;
    for (size_t i = 0; i < ds.n; i++) {
        int w = where(&s, i);
        int g = ds.groups[i];
        if (gsplit[g] >= 0) ck_assert_int_eq(gsplit[g], w); /* no group in two splits */
        gsplit[g] = w;
    }
    free(gsplit);
    /* Stratified: every split holds both classes. */
    const size_t *parts[3] = {s.train, s.val, s.test};
    size_t sizes[3] = {s.n_train, s.n_val, s.n_test};
    for (int p = 0; p < 3; p++) {
        int seen[2] = {0, 0};
        for (size_t i = 0; i < sizes[p]; i++) seen[ds.labels[parts[p][i]]] = 1;
        ck_assert_msg(seen[0] && seen[1], "split %d lacks a class", p);
    }
    ck_assert(s.n_test >= 12 && s.n_test <= 22); /* about 20% of 84 */
    tg_pairs tp, vp, ex;
    ck_assert_int_eq(tg_pairs_sample(&ds, s.train, s.n_train, 500, 0.5, 0, &r, &tp), TG_OK);
    ck_assert_int_eq(tg_pairs_sample(&ds, s.val, s.n_val, 200, 0.5, 1, &r, &vp), TG_OK);
    ck_assert_int_eq(tg_pairs_exhaustive(&ds, s.test, s.n_test, 0, &r, &ex), TG_OK);
    check_pairs_inside(&tp, s.train, s.n_train);
    check_pairs_inside(&vp, s.val, s.n_val);
    check_pairs_inside(&ex, s.test, s.n_test);
    tg_pairs_free(&tp);
    tg_pairs_free(&vp);
    tg_pairs_free(&ex);
    tg_split_free(&s);
    /* By image: still a partition, and seeded. */
    tg_split a, b;
    tg_rng_seed(&r, 5);
    ck_assert_int_eq(tg_dataset_split(&ds, 0.15, 0.15, 0, &r, &a), TG_OK);
    for (size_t i = 0; i < ds.n; i++) where(&a, i);
    tg_rng_seed(&r, 5);
    ck_assert_int_eq(tg_dataset_split(&ds, 0.15, 0.15, 0, &r, &b), TG_OK);
    ck_assert_uint_eq(a.n_test, b.n_test);
    ck_assert_mem_eq(a.test, b.test, a.n_test * sizeof(size_t));
    tg_split_free(&b);
    ck_assert_int_eq(tg_dataset_split(&ds, 0.7, 0.5, 0, &r, &b), TG_ERR_INVALID);
    tg_split_free(&a);
}
END_TEST

/* Cross-validation folds: a partition into k folds, no group in two folds, each
 * fold's class counts within one group of the others; seeded. */
START_TEST(test_folds_are_grouped_stratified_and_seeded) {
    enum { K = 4 };
    int *fold = malloc(ds.n * sizeof *fold), *again = malloc(ds.n * sizeof *again);
    tg_rng r;
    tg_rng_seed(&r, 11);
    ck_assert_int_eq(tg_split_folds(&ds, K, 1, &r, fold), TG_OK);
    int *gfold = malloc(sizeof(int) * ds.n_groups);
    size_t count[K][2] = {{0}}, biggest = 0, *gsize = calloc(ds.n_groups, sizeof *gsize);
    for (size_t g = 0; g < ds.n_groups; g++) gfold[g] = -1;
    for (size_t i = 0; i < ds.n; i++) {
        ck_assert(fold[i] >= 0 && fold[i] < K);
        int g = ds.groups[i];
        if (gfold[g] >= 0) ck_assert_int_eq(gfold[g], fold[i]); /* no group in two folds */
        gfold[g] = fold[i];
        count[fold[i]][ds.labels[i]]++;
        if (++gsize[g] > biggest) biggest = gsize[g];
    }
    for (int c = 0; c < 2; c++)
        for (int f = 1; f < K; f++) {
            long d = (long)count[f][c] - (long)count[0][c];
            ck_assert_msg(labs(d) <= (long)biggest, "class %d: fold %d has %zu, fold 0 %zu", c, f,
                          count[f][c], count[0][c]);
        }
    tg_rng_seed(&r, 11);
    ck_assert_int_eq(tg_split_folds(&ds, K, 1, &r, again), TG_OK);
    ck_assert_mem_eq(fold, again, ds.n * sizeof *fold);
    /* By image: every fold holds a quarter of each class, give or take one. */
    ck_assert_int_eq(tg_split_folds(&ds, K, 0, &r, fold), TG_OK);
    memset(count, 0, sizeof count);
    for (size_t i = 0; i < ds.n; i++) count[fold[i]][ds.labels[i]]++;
    for (int c = 0; c < 2; c++)
        for (int f = 1; f < K; f++) ck_assert(labs((long)count[f][c] - (long)count[0][c]) <= 1);
    ck_assert_int_eq(tg_split_folds(&ds, 1, 0, &r, fold), TG_ERR_INVALID);
    free(fold);
    free(again);
    free(gfold);
    free(gsize);
}
END_TEST

/* A split of part of the images: a partition of exactly those images. */
START_TEST(test_split_subset_partitions_the_subset) {
    size_t n = 0, *idx = malloc(ds.n * sizeof *idx);
    for (size_t i = 0; i < ds.n; i += 2) idx[n++] = i; /* the even images */
    tg_rng r;
    tg_rng_seed(&r, 2);
    tg_split s;
    ck_assert_int_eq(tg_split_subset(&ds, idx, n, 0.25, 0, 0, &r, &s), TG_OK);
    ck_assert_uint_eq(s.n_train + s.n_val, n);
    ck_assert_uint_eq(s.n_test, 0);
    for (size_t i = 0; i < s.n_val; i++) ck_assert_uint_eq(s.val[i] % 2, 0);
    for (size_t i = 0; i < s.n_train; i++) ck_assert_uint_eq(s.train[i] % 2, 0);
    ck_assert(s.n_val >= n / 4 - 2 && s.n_val <= n / 4 + 2);
    tg_split_free(&s);
    free(idx);
}
END_TEST

START_TEST(test_undersample_cuts_larger_class_to_smaller) {
    size_t *idx = malloc(ds.n * sizeof *idx), n = ds.n;
    for (size_t i = 0; i < n; i++) idx[i] = i;
    tg_rng r;
    tg_rng_seed(&r, 3);
    ck_assert_int_eq(tg_split_undersample(&ds, idx, &n, &r), TG_OK);
    ck_assert_uint_eq(n, 48);
    size_t pos = 0;
    for (size_t i = 0; i < n; i++) {
        pos += ds.labels[idx[i]] == 1;
        if (i) ck_assert(idx[i] > idx[i - 1]); /* order kept, no duplicates */
    }
    ck_assert_uint_eq(pos, 24);
    free(idx);
}
END_TEST

START_TEST(test_pair_sampling_ratio_labels_and_fresh_draws) {
    size_t *all = malloc(ds.n * sizeof *all);
    for (size_t i = 0; i < ds.n; i++) all[i] = i;
    tg_rng r;
    tg_rng_seed(&r, 8);
    tg_pairs p, q;
    ck_assert_int_eq(tg_pairs_sample(&ds, all, ds.n, 1000, 0.3, 0, &r, &p), TG_OK);
    size_t sim = 0, pos_anchor_sim = 0;
    for (size_t k = 0; k < p.n; k++) {
        if (p.p[k].y == 0) {
            sim++;
            ck_assert_uint_ne(p.p[k].a, p.p[k].b);
            ck_assert_int_eq(ds.labels[p.p[k].a], ds.labels[p.p[k].b]);
        } else {
            ck_assert_int_ne(ds.labels[p.p[k].a], ds.labels[p.p[k].b]);
        }
    }
    ck_assert_uint_eq(sim, 300);
    /* Next epoch: a fresh draw from the same generator differs. */
    ck_assert_int_eq(tg_pairs_sample(&ds, all, ds.n, 1000, 0.3, 0, &r, &q), TG_OK);
    ck_assert(memcmp(p.p, q.p, 1000 * sizeof *p.p) != 0);
    tg_pairs_free(&q);
    tg_pairs_free(&p);
    /* Class-balanced: similar pairs split evenly between the classes (uniform
     * by image they would be 60:24). */
    ck_assert_int_eq(tg_pairs_sample(&ds, all, ds.n, 2000, 1.0, 1, &r, &p), TG_OK);
    for (size_t k = 0; k < p.n; k++) pos_anchor_sim += ds.labels[p.p[k].a] == 1;
    ck_assert(pos_anchor_sim > 900 && pos_anchor_sim < 1100);
    tg_pairs_free(&p);
    /* A split with one class cannot give dissimilar pairs. */
    size_t one[2];
    size_t k = 0;
    for (size_t i = 0; i < ds.n && k < 2; i++)
        if (ds.labels[i] == 1) one[k++] = i;
    ck_assert_int_eq(tg_pairs_sample(&ds, one, 2, 10, 0.5, 0, &r, &p), TG_ERR_INVALID);
    ck_assert_int_eq(tg_pairs_sample(&ds, one, 2, 10, 1.0, 0, &r, &p), TG_OK);
    tg_pairs_free(&p);
    free(all);
}
END_TEST

START_TEST(test_exhaustive_pairs_follow_the_seed_scheme) {
    /* 5 positives and 3 negatives: 15 cross pairs, 13 same-class pairs exist. */
    size_t idx[8], np = 0, nn = 0, k = 0;
    for (size_t i = 0; i < ds.n && k < 8; i++) {
        if (ds.labels[i] == 1 && np < 5)
            idx[k++] = i, np++;
        else if (ds.labels[i] == 0 && nn < 3)
            idx[k++] = i, nn++;
    }
    tg_rng r;
    tg_rng_seed(&r, 4);
    tg_pairs p;
    ck_assert_int_eq(tg_pairs_exhaustive(&ds, idx, 8, 0, &r, &p), TG_OK);
    ck_assert_uint_eq(p.n, 15 + 13);
    size_t cross = 0;
    for (size_t a = 0; a < p.n; a++) {
        cross += p.p[a].y;
        for (size_t b = a + 1; b < p.n; b++) /* no pair twice, either order */
            ck_assert(!((p.p[a].a == p.p[b].a && p.p[a].b == p.p[b].b) ||
                        (p.p[a].a == p.p[b].b && p.p[a].b == p.p[b].a)));
    }
    ck_assert_uint_eq(cross, 15);
    tg_pairs_free(&p);
    /* Over the configured pair limit: refused, not truncated. */
    ck_assert_int_eq(tg_pairs_exhaustive(&ds, idx, 8, 10, &r, &p), TG_ERR_LIMIT);
}
END_TEST

START_TEST(test_batch_assembly_copies_pairs_into_caller_buffers) {
    size_t *all = malloc(ds.n * sizeof *all);
    for (size_t i = 0; i < ds.n; i++) all[i] = i;
    tg_rng r;
    tg_rng_seed(&r, 12);
    tg_pairs p;
    ck_assert_int_eq(tg_pairs_sample(&ds, all, ds.n, 10, 0.5, 0, &r, &p), TG_OK);
    size_t npx = 32 * 32;
    float *xa = malloc(4 * npx * sizeof(float)), *xb = malloc(4 * npx * sizeof(float)), y[4];
    ck_assert_int_eq(tg_pairs_batch(&ds, &p, 6, 4, NULL, &r, xa, xb, y), TG_OK);
    for (int k = 0; k < 4; k++) {
        ck_assert_mem_eq(xa + k * npx, tg_dataset_image(&ds, p.p[6 + k].a), npx * sizeof(float));
        ck_assert_mem_eq(xb + k * npx, tg_dataset_image(&ds, p.p[6 + k].b), npx * sizeof(float));
        ck_assert_float_eq(y[k], (float)p.p[6 + k].y);
    }
    ck_assert_int_eq(tg_pairs_batch(&ds, &p, 8, 4, NULL, &r, xa, xb, y), TG_ERR_INVALID);
    tg_augment aug = tg_augment_default();
    ck_assert_int_eq(tg_pairs_batch(&ds, &p, 0, 4, &aug, &r, xa, xb, y), TG_OK);
    ck_assert(memcmp(xa, tg_dataset_image(&ds, p.p[0].a), npx * sizeof(float)) != 0);
    free(xa);
    free(xb);
    tg_pairs_free(&p);
    free(all);
}
END_TEST

START_TEST(test_augmentation_off_by_default_seeded_and_flip_exact) {
    enum { W = 9, H = 7 };
    float src[W * H], a[W * H], b[W * H];
    for (int i = 0; i < W * H; i++) src[i] = (float)i / (W * H);
    tg_augment off;
    memset(&off, 0, sizeof off);
    ck_assert(!tg_augment_active(&off));
    tg_rng r1, r2;
    tg_rng_seed(&r1, 1);
    tg_augment_apply(&off, src, a, W, H, &r1);
    ck_assert_mem_eq(a, src, sizeof src);
    tg_augment on = tg_augment_default();
    tg_rng_seed(&r1, 42);
    tg_rng_seed(&r2, 42);
    tg_augment_apply(&on, src, a, W, H, &r1);
    tg_augment_apply(&on, src, b, W, H, &r2);
    ck_assert_mem_eq(a, b, sizeof a);
    tg_augment_apply(&on, src, b, W, H, &r2);
    ck_assert(memcmp(a, b, sizeof a) != 0);
    /* Flip only: each output is the source or its exact mirror, and both occur. */
    tg_augment flip;
    memset(&flip, 0, sizeof flip);
    flip.hflip = 1;
    int same = 0, mirrored = 0;
    for (int it = 0; it < 40; it++) {
        tg_augment_apply(&flip, src, a, W, H, &r1);
        int is_same = 1, is_mirror = 1;
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++) {
                if (fabsf(a[y * W + x] - src[y * W + x]) > 1e-6f) is_same = 0;
                if (fabsf(a[y * W + x] - src[y * W + (W - 1 - x)]) > 1e-6f) is_mirror = 0;
            }
        ck_assert(is_same || is_mirror);
        same += is_same;
        mirrored += is_mirror;
    }
    ck_assert(same > 0 && mirrored > 0);
    /* Brightness only shifts every pixel by one offset within the bound. */
    tg_augment br;
    memset(&br, 0, sizeof br);
    br.brightness = 0.1f;
    tg_augment_apply(&br, src, a, W, H, &r1);
    float off0 = a[0] - src[0];
    ck_assert(fabsf(off0) <= 0.1f);
    for (int i = 0; i < W * H; i++) ck_assert_float_eq_tol(a[i] - src[i], off0, 1e-5);
}
END_TEST

/* Gamma only: the image keeps its mean, its sd and the order of its pixels, but
 * is no longer an affine function of the source (the ratio of dark to bright moved). */
START_TEST(test_augmentation_gamma_keeps_order_mean_and_sd) {
    enum { N = 64 };
    float src[N], a[N];
    for (int i = 0; i < N; i++) src[i] = 0.1f + 0.8f * (float)(i * 37 % N) / N;
    tg_augment g;
    memset(&g, 0, sizeof g);
    g.gamma = 0.4f;
    ck_assert(tg_augment_active(&g));
    tg_rng r;
    tg_rng_seed(&r, 3);
    int curved = 0;
    for (int it = 0; it < 20; it++) {
        tg_augment_apply(&g, src, a, N, 1, &r);
        double ms = 0, ma = 0, vs = 0, va = 0;
        for (int i = 0; i < N; i++) ms += src[i], ma += a[i];
        ms /= N, ma /= N;
        for (int i = 0; i < N; i++)
            vs += (src[i] - ms) * (src[i] - ms), va += (a[i] - ma) * (a[i] - ma);
        ck_assert_double_eq_tol(ma, ms, 1e-5);
        ck_assert_double_eq_tol(sqrt(va / N), sqrt(vs / N), 1e-5);
        for (int i = 0; i < N; i++)
            for (int j = 0; j < N; j++)
                if (src[i] < src[j]) ck_assert(a[i] < a[j]);
        /* Affine in src would keep (a - mean) / (src - mean) one constant. */
        double k0 = (a[0] - ma) / (src[0] - ms), dev = 0;
        for (int i = 0; i < N; i++)
            if (fabs(src[i] - ms) > 0.1) dev = fmax(dev, fabs((a[i] - ma) / (src[i] - ms) - k0));
        curved += dev > 0.05;
    }
    ck_assert_int_ge(curved, 15);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("datasets_split");
    TCase *t = tcase_create("split");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_set_timeout(t, 300);
    tcase_add_test(t, test_synth_round_trip_loads_counts_and_groups);
    tcase_add_test(t, test_synth_is_deterministic_per_seed);
    tcase_add_test(t, test_synth_is_learnable_but_not_trivially_separable);
    tcase_add_test(t, test_split_by_group_never_leaks_images_groups_or_pairs);
    tcase_add_test(t, test_undersample_cuts_larger_class_to_smaller);
    tcase_add_test(t, test_folds_are_grouped_stratified_and_seeded);
    tcase_add_test(t, test_split_subset_partitions_the_subset);
    tcase_add_test(t, test_pair_sampling_ratio_labels_and_fresh_draws);
    tcase_add_test(t, test_exhaustive_pairs_follow_the_seed_scheme);
    tcase_add_test(t, test_batch_assembly_copies_pairs_into_caller_buffers);
    tcase_add_test(t, test_augmentation_off_by_default_seeded_and_flip_exact);
    tcase_add_test(t, test_augmentation_gamma_keeps_order_mean_and_sd);
    suite_add_tcase(s, t);
    return s;
}

int main(void) {
    return tg_check_run(suite());
}
