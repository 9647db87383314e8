/* The run record, data loading, splitting, pair evaluation and embedding shared
 * by tg_train and tg_evaluate. */
#include "eval/tg_run.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the run record <-> checkpoint metadata ---- */

typedef enum { REC_TEXT, REC_INT, REC_U64, REC_REAL, REC_REAL_OR_NAN } rec_type;

/* Every key of the record: the one list the writer and the reader share. */
static const struct {
    const char *key;
    rec_type type;
    size_t offset;
} run_keys[] = {
    {"data", REC_TEXT, offsetof(tg_run_record, data_spec)},
    {"val_frac", REC_REAL, offsetof(tg_run_record, val_frac)},
    {"test_frac", REC_REAL, offsetof(tg_run_record, test_frac)},
    {"by_group", REC_INT, offsetof(tg_run_record, by_group)},
    {"balance", REC_INT, offsetof(tg_run_record, balance)},
    {"pairs_per_epoch", REC_INT, offsetof(tg_run_record, pairs_per_epoch)},
    {"similar_frac", REC_REAL, offsetof(tg_run_record, similar_frac)},
    {"augment", REC_INT, offsetof(tg_run_record, augment)},
    {"knn_k", REC_INT, offsetof(tg_run_record, knn_k)},
    {"batch", REC_INT, offsetof(tg_run_record, batch)},
    {"lr", REC_REAL, offsetof(tg_run_record, lr)},
    {"seed", REC_U64, offsetof(tg_run_record, seed)},
    {"epochs", REC_INT, offsetof(tg_run_record, epochs)},
    {"step_in_epoch", REC_INT, offsetof(tg_run_record, step_in_epoch)},
    {"partial_loss", REC_REAL, offsetof(tg_run_record, partial_loss)},
    {"best_epoch", REC_INT, offsetof(tg_run_record, best_epoch)},
    {"since_best", REC_INT, offsetof(tg_run_record, since_best)},
    /* "nan" until the first validation has chosen a threshold */
    {"threshold", REC_REAL_OR_NAN, offsetof(tg_run_record, threshold)},
    /* data-parallel training (docs/distributed.md) */
    {"reduce", REC_INT, offsetof(tg_run_record, reduce)},
    {"shards", REC_INT, offsetof(tg_run_record, shards)},
};
#define N_RUN_KEYS ((int)(sizeof run_keys / sizeof run_keys[0]))

void tg_run_record_to_meta(const tg_run_record *r, tg_run_meta *out) {
    out->n = 0;
    for (int i = 0; i < N_RUN_KEYS && i < TG_RUN_META_MAX; i++) {
        const char *field = (const char *)r + run_keys[i].offset;
        char *t = out->text[i];
        const char *value = t;
        switch (run_keys[i].type) {
        case REC_TEXT:
            value = *(char *const *)field ? *(char *const *)field : "";
            break;
        case REC_INT:
            snprintf(t, sizeof out->text[i], "%d", *(const int *)field);
            break;
        case REC_U64:
            snprintf(t, sizeof out->text[i], "%llu", (unsigned long long)*(const uint64_t *)field);
            break;
        case REC_REAL:
        case REC_REAL_OR_NAN:
            if (isnan(*(const double *)field))
                snprintf(t, sizeof out->text[i], "nan");
            else
                snprintf(t, sizeof out->text[i], "%.17g", *(const double *)field);
            break;
        }
        out->entries[out->n++] = (tg_checkpoint_meta){run_keys[i].key, value};
    }
}

static tg_status bad_entry(const tg_checkpoint *ck, const char *key, const char *v,
                           const char *want) {
    return tg_error(TG_ERR_FORMAT, "%s: entry '%s' = '%s' is not %s", tg_checkpoint_path(ck), key,
                    v, want);
}

/* The ranges of the record's entries: what the command line and tg_train can write, so
 * that a damaged or hand-edited record fails here with its key named, not later (batch 0
 * stopped a resume with a division by zero; knn_k -5 made "at least -5 images"). */
static tg_status check_record(const tg_checkpoint *ck, const tg_run_record *r) {
    const struct {
        const char *key;
        long v, lo, hi;
    } ints[] = {
        {"by_group", r->by_group, -1, 1},
        {"balance", r->balance, 0, 1},
        {"augment", r->augment, 0, 1},
        {"knn_k", r->knn_k, 1, 1000},
        {"batch", r->batch, 1, 1L << 20}, /* a triplet batch: up to 1024 x 1024 images */
        {"pairs_per_epoch", r->pairs_per_epoch, r->batch, INT_MAX}, /* whole batches */
        {"epochs", r->epochs, 1, 1000000},
        {"step_in_epoch", r->step_in_epoch, 0, r->batch > 0 ? r->pairs_per_epoch / r->batch : 0},
        {"best_epoch", r->best_epoch, 0, 1000000},
        {"since_best", r->since_best, 0, 1000000},
        {"reduce", r->reduce, 0, 1},
        {"shards", r->shards, 0, 4096},
    };
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++)
        if (ints[i].v < ints[i].lo || ints[i].v > ints[i].hi)
            return tg_error(TG_ERR_FORMAT, "%s: entry '%s' = %ld is out of range [%ld, %ld]",
                            tg_checkpoint_path(ck), ints[i].key, ints[i].v, ints[i].lo, ints[i].hi);
    const struct {
        const char *key;
        double v;
        int ok;
        const char *want;
    } reals[] = {
        {"val_frac", r->val_frac, r->val_frac >= 0 && r->val_frac < 1, "a value in [0, 1)"},
        {"test_frac", r->test_frac, r->test_frac > 0 && r->test_frac < 1 - r->val_frac,
         "a value in (0, 1 - val_frac)"},
        {"similar_frac", r->similar_frac, r->similar_frac > 0 && r->similar_frac < 1,
         "a value in (0, 1)"},
        {"lr", r->lr, r->lr > 0, "a positive value"},
        {"threshold", r->threshold, isnan(r->threshold) || r->threshold >= 0,
         "nan or a value >= 0"},
    };
    for (size_t i = 0; i < sizeof reals / sizeof reals[0]; i++)
        if (!reals[i].ok)
            return tg_error(TG_ERR_FORMAT, "%s: entry '%s' = %g is out of range: expected %s",
                            tg_checkpoint_path(ck), reals[i].key, reals[i].v, reals[i].want);
    return TG_OK;
}

tg_status tg_run_record_from_checkpoint(const tg_checkpoint *ck, tg_run_record *r) {
    memset(r, 0, sizeof *r);
    for (int i = 0; i < N_RUN_KEYS; i++) {
        const char *key = run_keys[i].key, *v = tg_checkpoint_meta_get(ck, key);
        char *field = (char *)r + run_keys[i].offset, *end = NULL;
        if (!v) {
            tg_run_record_free(r);
            return tg_error(TG_ERR_FORMAT, "%s: no '%s' entry; not a training checkpoint",
                            tg_checkpoint_path(ck), key);
        }
        tg_status st = TG_OK;
        errno = 0;
        switch (run_keys[i].type) {
        case REC_TEXT:
            if (!(*(char **)field = strdup(v))) st = tg_error(TG_ERR_NOMEM, "out of memory");
            break;
        case REC_INT: {
            long x = strtol(v, &end, 10);
            if (end == v || *end || errno || x < INT_MIN || x > INT_MAX)
                st = bad_entry(ck, key, v, "a whole number");
            else
                *(int *)field = (int)x;
            break;
        }
        case REC_U64: {
            unsigned long long x = strtoull(v, &end, 10);
            if (end == v || *end || errno || v[0] == '-')
                st = bad_entry(ck, key, v, "a whole number in [0, 2^64)");
            else
                *(uint64_t *)field = (uint64_t)x;
            break;
        }
        case REC_REAL:
        case REC_REAL_OR_NAN: {
            double x = strtod(v, &end);
            int nan_ok = run_keys[i].type == REC_REAL_OR_NAN && strcmp(v, "nan") == 0;
            if (!nan_ok && (end == v || *end || !isfinite(x)))
                st = bad_entry(ck, key, v, "a finite number");
            else
                *(double *)field = nan_ok ? NAN : x;
            break;
        }
        }
        if (st) {
            tg_run_record_free(r);
            return st;
        }
    }
    tg_status st = check_record(ck, r);
    if (st) tg_run_record_free(r);
    return st;
}

tg_status tg_run_model_from_checkpoint(const tg_checkpoint *ck, tg_model_def **def) {
    char source[4200];
    snprintf(source, sizeof source, "%s (its model text)", tg_checkpoint_path(ck));
    return tg_model_def_parse_text(source, tg_checkpoint_model_text(ck, NULL), def);
}

void tg_run_record_free(tg_run_record *r) {
    free(r->data_spec);
    r->data_spec = NULL;
}

/* Independent streams derived from the run seed, so that changing one use of
 * randomness (say, the number of epochs) never changes the split. */
#define SPLIT_STREAM 0x73706c6974ULL /* "split" */
#define BALANCE_STREAM 0x62616c616eULL

/* Groups with images in more than one of train, val and test; *first is one of them. */
static size_t groups_shared(const tg_dataset *ds, const tg_split *sp, size_t *first) {
    unsigned char *seen = calloc(ds->n_groups ? ds->n_groups : 1, 1);
    if (!seen) return 0;
    const size_t *parts[3] = {sp->train, sp->val, sp->test};
    size_t counts[3] = {sp->n_train, sp->n_val, sp->n_test}, shared = 0;
    for (int p = 0; p < 3; p++)
        for (size_t i = 0; i < counts[p]; i++) {
            int g = ds->groups[parts[p][i]];
            unsigned char bit = (unsigned char)(1u << p);
            if (seen[g] & ~bit && !(seen[g] & 8)) {
                if (!shared) *first = (size_t)g;
                shared++;
                seen[g] |= 8; /* counted */
            }
            seen[g] |= bit;
        }
    free(seen);
    return shared;
}

/* The split a spec gives (split=COL, or cv=): its train, val and test rows. With
 * no validation rows, val_frac of the training rows are set aside (none at 0). */
static tg_status given_split(const tg_dataset *ds, double val_frac, int by_group, tg_rng *rng,
                             tg_split *out) {
    size_t *idx[3], n[3] = {0};
    for (int p = 0; p < 3; p++)
        if (!(idx[p] = malloc((ds->n ? ds->n : 1) * sizeof(size_t)))) {
            for (int q = 0; q < p; q++) free(idx[q]);
            return tg_error(TG_ERR_NOMEM, "out of memory");
        }
    for (size_t i = 0; i < ds->n; i++) idx[ds->parts[i]][n[ds->parts[i]]++] = i;
    tg_status st = TG_OK;
    if (n[TG_PART_VAL] == 0 && val_frac > 0) {
        /* Validation carved from the training rows; the test rows stay as given. */
        if ((st = tg_split_subset(ds, idx[TG_PART_TRAIN], n[TG_PART_TRAIN], val_frac, 0, by_group,
                                  rng, out)) == TG_OK) {
            free(out->test);
            out->test = idx[TG_PART_TEST];
            out->n_test = n[TG_PART_TEST];
            idx[TG_PART_TEST] = NULL;
        }
    } else {
        out->train = idx[TG_PART_TRAIN];
        out->val = idx[TG_PART_VAL];
        out->test = idx[TG_PART_TEST];
        out->n_train = n[TG_PART_TRAIN];
        out->n_val = n[TG_PART_VAL];
        out->n_test = n[TG_PART_TEST];
        idx[0] = idx[1] = idx[2] = NULL;
    }
    for (int p = 0; p < 3; p++) free(idx[p]);
    return st;
}

tg_status tg_run_data_load(const tg_model_def *def, const char *spec, double val_frac,
                           double test_frac, int by_group, tg_balance balance, uint64_t seed,
                           FILE *log, tg_run_data *out) {
    memset(out, 0, sizeof *out);
    if (def->channels != 1)
        return tg_error(TG_ERR_MISMATCH,
                        "%s: the model takes %d channels; images load as one "
                        "(grayscale) channel",
                        def->source, def->channels);
    tg_dataset_opts o = tg_dataset_opts_default(def->width, def->height);
    o.log = log;
    tg_status st = tg_dataset_load_spec(spec, &o, &out->ds);
    if (st) return st;
    if (out->ds.width != def->width || out->ds.height != def->height) {
        st = tg_error(TG_ERR_MISMATCH,
                      "%s: images load at %dx%d but the model takes %dx%d; drop "
                      "size= from the spec",
                      spec, out->ds.width, out->ds.height, def->width, def->height);
        goto fail;
    }
    if (out->ds.n_classes < 2 || out->ds.n < 8) {
        st = tg_error(TG_ERR_INVALID,
                      "%s: %zu images in %d class(es); training needs at least 2 "
                      "classes and 8 images",
                      spec, out->ds.n, out->ds.n_classes);
        goto fail;
    }
    if (by_group < 0) by_group = out->ds.n_groups < out->ds.n; /* some group repeats */
    tg_rng rng;
    tg_rng_seed(&rng, seed ^ SPLIT_STREAM);
    if (out->ds.parts)
        st = given_split(&out->ds, val_frac, by_group, &rng, &out->split);
    else
        st = tg_dataset_split(&out->ds, val_frac, test_frac, by_group, &rng, &out->split);
    if (st) goto fail;
    out->n_train = out->split.n_train;
    out->train = malloc((out->n_train ? out->n_train : 1) * sizeof *out->train);
    if (!out->train) {
        st = tg_error(TG_ERR_NOMEM, "out of memory");
        goto fail;
    }
    memcpy(out->train, out->split.train, out->n_train * sizeof *out->train);
    if (balance == TG_BALANCE_UNDERSAMPLE) {
        tg_rng_seed(&rng, seed ^ BALANCE_STREAM);
        if ((st = tg_split_undersample(&out->ds, out->train, &out->n_train, &rng))) goto fail;
    }
    size_t first_shared = 0,
           shared = by_group ? groups_shared(&out->ds, &out->split, &first_shared) : 0;
    if (log) {
        tg_dataset_summary_print(&out->ds, log);
        fprintf(log, "split %s%s: %zu training%s, %zu validation%s, %zu test images",
                out->ds.parts ? "given by the spec" : "by ",
                out->ds.parts ? ""
                : by_group    ? "group"
                              : "image",
                out->n_train, balance == TG_BALANCE_UNDERSAMPLE ? " (after undersampling)" : "",
                out->split.n_val, out->split.n_val ? "" : " (validation on the training images)",
                out->split.n_test);
        if (by_group)
            fprintf(log, "; %zu groups, %s", out->ds.n_groups,
                    shared ? "SOME IN TWO SPLITS" : "none in two splits");
        fputc('\n', log);
    }
    if (shared) {
        st =
            tg_error(TG_ERR_INVALID,
                     "%s: %zu group(s) (patients) have images in two splits, e.g. "
                     "'%s'; their images would leak between training and evaluation. Fix the split "
                     "column, or pass --group no if the groups are not patients",
                     spec, shared, out->ds.group_names[first_shared]);
        goto fail;
    }
    if (out->n_train < 2 || (val_frac > 0 && out->split.n_val < 2) || out->split.n_test < 2) {
        st = tg_error(TG_ERR_INVALID,
                      "%s: the split left %zu training, %zu validation and %zu test "
                      "images; use more data or other --val/--test fractions%s",
                      spec, out->n_train, out->split.n_val, out->split.n_test,
                      out->ds.parts ? " (or mark more rows in the split column)" : "");
        goto fail;
    }
    return TG_OK;
fail:
    tg_run_data_free(out);
    return st;
}

void tg_run_data_free(tg_run_data *d) {
    tg_dataset_free(&d->ds);
    tg_split_free(&d->split);
    free(d->train);
    memset(d, 0, sizeof *d);
}

tg_status tg_run_pairs_error(tg_status st, const char *split) {
    if (st == TG_OK || st == TG_ERR_NOMEM) return st;
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", tg_last_error());
    const char *advice = !strcmp(split, "training")
                             ? "use more data, lower --val/--test, or mark more rows train in the "
                               "split column"
                         : !strcmp(split, "validation")
                             ? "raise --val (or --val 0 to validate on the training images), "
                               "or mark more rows val in the split column"
                         : !strcmp(split, "test set")
                             ? "a test set needs images of both classes"
                             : "raise --test, or mark more rows test in the split column";
    return tg_error(st, "%s split: %s; %s", split, msg, advice);
}

tg_status tg_run_fixed_pairs(const tg_dataset *ds, const size_t *idx, size_t n, uint64_t seed,
                             tg_pairs *out) {
    tg_rng rng;
    tg_rng_seed(&rng, seed);
    size_t n_pairs = 2 * n < 64 ? 64 : 2 * n;
    if (n_pairs > 20000) n_pairs = 20000;
    return tg_pairs_sample(ds, idx, n, n_pairs, 0.5, 1, &rng, out);
}

tg_status tg_run_pair_distances(tg_model *m, const tg_dataset *ds, const tg_pairs *pairs,
                                float *dist, int *labels, double *mean_loss) {
    int batch = m->batch;
    size_t item = (size_t)ds->height * (size_t)ds->width;
    float *xa = malloc((size_t)batch * item * sizeof(float));
    float *xb = malloc((size_t)batch * item * sizeof(float));
    float *y = malloc((size_t)batch * sizeof(float));
    tg_status st = TG_OK;
    int was_training = tg_graph_training(m->graph);
    tg_value_plan plan = tg_graph_value_plan(m->graph);
    double loss_sum = 0.0;
    if (!xa || !xb || !y) {
        st = tg_error(TG_ERR_NOMEM, "out of memory");
        goto done;
    }
    tg_graph_set_training(m->graph, 0);
    tg_graph_set_value_plan(m->graph, TG_VALUES_TARGET); /* the loss and distances alone */
    for (size_t start = 0; start < pairs->n; start += (size_t)batch) {
        int count = (int)(pairs->n - start < (size_t)batch ? pairs->n - start : (size_t)batch);
        tg_shape s4 = tg_shape4(count, 1, ds->height, ds->width);
        if ((st = tg_pairs_batch(ds, pairs, start, (size_t)count, NULL, NULL, xa, xb, y)) ||
            (st = tg_input_set(m->a, s4, xa)) || (st = tg_input_set(m->b, s4, xb)) ||
            (st = tg_input_set(m->y, tg_shape1(count), y)) ||
            (st = tg_graph_forward(m->graph, m->loss)))
            goto done;
        loss_sum += (double)tg_node_data(m->loss)[0] * count;
        memcpy(dist + start, tg_node_data(m->distance), (size_t)count * sizeof(float));
        for (int i = 0; i < count; i++) labels[start + (size_t)i] = y[i] > 0.5f;
    }
    if (mean_loss) *mean_loss = pairs->n ? loss_sum / (double)pairs->n : 0.0;
done:
    tg_graph_set_training(m->graph, was_training);
    tg_graph_set_value_plan(m->graph, plan);
    free(xa);
    free(xb);
    free(y);
    return st;
}

tg_status tg_eval_embed(tg_model *m, const tg_dataset *ds, const size_t *idx, size_t n,
                        float *out) {
    enum { CHUNK = 512 };
    /* tg_model_embed reads images of the model's size: another size would be read past */
    if (ds->width != m->def->width || ds->height != m->def->height || m->def->channels != 1)
        return tg_error(TG_ERR_MISMATCH,
                        "the images load at %dx%d (one channel) but the model takes %dx%d with %d "
                        "channel(s); drop size= from the data spec",
                        ds->width, ds->height, m->def->width, m->def->height, m->def->channels);
    size_t item = (size_t)ds->height * (size_t)ds->width;
    float *buf = malloc(CHUNK * item * sizeof(float));
    if (!buf) return tg_error(TG_ERR_NOMEM, "out of memory");
    tg_status st = TG_OK;
    for (size_t start = 0; start < n && !st; start += CHUNK) {
        size_t count = n - start < CHUNK ? n - start : CHUNK;
        for (size_t i = 0; i < count; i++)
            memcpy(buf + i * item, tg_dataset_image(ds, idx[start + i]), item * sizeof(float));
        st = tg_model_embed(m, buf, (int64_t)count, out + start * (size_t)m->embed_dim);
    }
    free(buf);
    return st;
}

void tg_eval_labels(const tg_dataset *ds, const size_t *idx, size_t n, int *out) {
    for (size_t i = 0; i < n; i++) out[i] = ds->labels[idx[i]];
}
