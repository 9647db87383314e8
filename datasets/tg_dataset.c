/* The dataset builder (decode, cache, skip/stop), summary and accessors. */
#include "datasets/tg_ds_build.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "autograd/tg_budget.h"
#include "datasets/tg_cache.h"

#ifdef _OPENMP
#include <omp.h>
#endif

tg_dataset_opts tg_dataset_opts_default(int width, int height) {
    tg_dataset_opts o;
    memset(&o, 0, sizeof o);
    o.image = tg_image_opts_default(width, height);
    o.on_error = TG_ON_ERROR_SKIP;
    return o;
}

/* Renumber the fold column's values 0..n_folds-1 in increasing order. */
static tg_status number_folds(tg_dataset *ds) {
    int max = -1;
    for (size_t i = 0; i < ds->n; i++)
        if (ds->folds[i] > max) max = ds->folds[i];
    int *map = malloc(sizeof(int) * (size_t)(max + 1 > 0 ? max + 1 : 1));
    if (!map) return tg_error(TG_ERR_NOMEM, "out of memory");
    for (int v = 0; v <= max; v++) map[v] = -1;
    for (size_t i = 0; i < ds->n; i++) map[ds->folds[i]] = 0;
    ds->n_folds = 0;
    for (int v = 0; v <= max; v++)
        if (map[v] == 0) map[v] = ds->n_folds++;
    for (size_t i = 0; i < ds->n; i++) ds->folds[i] = map[ds->folds[i]];
    free(map);
    return TG_OK;
}

void tg_ds_builder_init(tg_ds_builder *b, const tg_dataset_opts *opts, tg_dataset *ds) {
    memset(b, 0, sizeof *b);
    memset(ds, 0, sizeof *ds);
    b->opts = opts;
    b->ds = ds;
}

tg_status tg_ds_builder_add(tg_ds_builder *b, const char *path, int label, const char *group) {
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 256;
        char **p = realloc(b->paths, cap * sizeof *p);
        if (p) b->paths = p;
        int *l = realloc(b->labels, cap * sizeof *l);
        if (l) b->labels = l;
        char **g = realloc(b->groups, cap * sizeof *g);
        if (g) b->groups = g;
        if (!p || !l || !g) return tg_error(TG_ERR_NOMEM, "out of memory listing images");
        int **tags[2] = {&b->splits, &b->folds};
        for (int a = 0; a < 2; a++) {
            if (!*tags[a]) continue;
            int *t = realloc(*tags[a], cap * sizeof *t);
            if (!t) return tg_error(TG_ERR_NOMEM, "out of memory listing images");
            for (size_t i = b->cap; i < cap; i++) t[i] = -1;
            *tags[a] = t;
        }
        b->cap = cap;
    }
    char *pc = tg_ds_strdup(path), *gc = group ? tg_ds_strdup(group) : NULL;
    if (!pc || (group && !gc)) {
        free(pc);
        free(gc);
        return TG_ERR_NOMEM;
    }
    b->paths[b->n] = pc;
    b->labels[b->n] = label;
    b->groups[b->n] = gc;
    b->n++;
    return TG_OK;
}

tg_status tg_ds_builder_tag(tg_ds_builder *b, int split, int fold) {
    if (b->n == 0) return TG_OK;
    int **arrays[2] = {&b->splits, &b->folds};
    int values[2] = {split, fold};
    for (int a = 0; a < 2; a++) {
        if (values[a] < 0) continue;
        if (!*arrays[a]) {
            /* Sized to cap like the other arrays (tg_ds_builder_add grows it); -1: untagged. */
            int *p = malloc(b->cap * sizeof *p);
            if (!p) return tg_error(TG_ERR_NOMEM, "out of memory");
            for (size_t i = 0; i < b->cap; i++) p[i] = -1;
            *arrays[a] = p;
        }
        (*arrays[a])[b->n - 1] = values[a];
    }
    return TG_OK;
}

tg_status tg_ds_builder_skip(tg_ds_builder *b, const char *what, const char *why) {
    tg_dataset_summary *s = &b->ds->summary;
    tg_skip *k = realloc(s->skips, (s->n_skips + 1) * sizeof *k);
    if (!k) return tg_error(TG_ERR_NOMEM, "out of memory");
    s->skips = k;
    k[s->n_skips].what = tg_ds_strdup(what);
    k[s->n_skips].why = tg_ds_strdup(why);
    if (!k[s->n_skips].what || !k[s->n_skips].why) {
        free(k[s->n_skips].what);
        free(k[s->n_skips].why);
        return TG_ERR_NOMEM;
    }
    s->n_skips++;
    if (b->opts->log) fprintf(b->opts->log, "warning: skipped %s: %s\n", what, why);
    return TG_OK;
}

void tg_ds_builder_free(tg_ds_builder *b) {
    for (size_t i = 0; i < b->n; i++) {
        free(b->paths[i]);
        free(b->groups[i]);
    }
    free(b->paths);
    free(b->labels);
    free(b->groups);
    free(b->splits);
    free(b->folds);
    memset(b, 0, sizeof *b);
}

tg_status tg_ds_assign_groups(tg_dataset *ds, char **names) {
    tg_strmap m = {0};
    ds->groups = malloc((ds->n ? ds->n : 1) * sizeof *ds->groups);
    ds->group_names = malloc((ds->n ? ds->n : 1) * sizeof *ds->group_names);
    if (!ds->groups || !ds->group_names) return tg_error(TG_ERR_NOMEM, "out of memory");
    ds->n_groups = 0;
    for (size_t i = 0; i < ds->n; i++) {
        /* A group-less image is its own group, named by its path (unique). */
        const char *name = names && names[i] ? names[i] : ds->paths[i];
        int g = tg_strmap_get(&m, name);
        if (g < 0) {
            g = (int)ds->n_groups;
            ds->group_names[ds->n_groups] = tg_ds_strdup(name);
            if (!ds->group_names[ds->n_groups] || tg_strmap_put(&m, name, g) != TG_OK) {
                tg_strmap_free(&m);
                return TG_ERR_NOMEM;
            }
            ds->n_groups++;
        }
        ds->groups[i] = g;
    }
    tg_strmap_free(&m);
    return TG_OK;
}

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Decode one queued file into dst (width*height, not yet normalised). */
static tg_status decode_one(const char *path, const tg_image_opts *io, float *dst, int *not_image) {
    tg_image img;
    tg_image_opts o = *io;
    o.norm = TG_NORM_NONE; /* normalised after the cache, which stores raw pixels */
    tg_status st = tg_image_load_prepared(path, &o, &img);
    if (st == TG_OK) {
        memcpy(dst, img.data, sizeof(float) * (size_t)img.width * (size_t)img.height);
        tg_image_free(&img);
    } else if (st == TG_ERR_FORMAT && strstr(tg_last_error(), "not a PNG, JPEG or PGM/PPM")) {
        *not_image = 1;
    }
    return st;
}

tg_status tg_ds_builder_finish(tg_ds_builder *b, char **class_names, int n_classes,
                               const char *location) {
    tg_dataset *ds = b->ds;
    const tg_dataset_opts *opts = b->opts;
    double t0 = now_seconds();
    size_t n = b->n;
    tg_status st = TG_OK;
    tg_cache_item *items = NULL;
    tg_status *status = NULL;
    char **errs = NULL;
    int *not_image = NULL;
    char *cache_path = NULL;
    ds->class_names = class_names;
    ds->n_classes = n_classes;
    int W = opts->image.width, H = opts->image.height;
    if (W <= 0 || H <= 0) {
        st = tg_error(TG_ERR_INVALID, "loading images needs a target size (got %dx%d)", W, H);
        goto fail;
    }
    size_t npx = (size_t)W * (size_t)H;
    if (n > SIZE_MAX / sizeof(float) / npx / 2) {
        st = tg_error(TG_ERR_LIMIT, "%zu images of %dx%d do not fit in memory", n, W, H);
        goto fail;
    }
    char what[96];
    snprintf(what, sizeof what, "%zu images of %dx%d", n, W, H);
    if ((st = tg_memory_check((uint64_t)sizeof(float) * npx * n, what)) != TG_OK) goto fail;
    ds->width = W;
    ds->height = H;
    ds->images = malloc(sizeof(float) * npx * (n ? n : 1));
    items = calloc(n ? n : 1, sizeof *items);
    status = calloc(n ? n : 1, sizeof *status);
    errs = calloc(n ? n : 1, sizeof *errs);
    not_image = calloc(n ? n : 1, sizeof *not_image);
    if (!ds->images || !items || !status || !errs || !not_image) {
        st = tg_error(TG_ERR_NOMEM, "out of memory for %zu images of %dx%d", n, W, H);
        goto fail;
    }
    for (size_t i = 0; i < n; i++) {
        items[i].path = b->paths[i];
        items[i].dst = ds->images + i * npx;
        status[i] = tg_cache_stat(b->paths[i], &items[i].size, &items[i].mtime_ns);
        if (status[i] != TG_OK) errs[i] = tg_ds_strdup(tg_last_error());
    }
    tg_cache_key key = {W, H, (int)opts->image.aspect, opts->image.pad_value};
    if (opts->cache_path && strcmp(opts->cache_path, "auto") == 0) {
        cache_path = tg_cache_default_path(location, &key);
        if (!cache_path)
            snprintf(ds->summary.cache_note, sizeof ds->summary.cache_note, "%s", tg_last_error());
    } else if (opts->cache_path) {
        cache_path = tg_ds_strdup(opts->cache_path);
    }
    if (cache_path)
        ds->summary.cache_hits = tg_cache_read(cache_path, &key, items, n, ds->summary.cache_note,
                                               sizeof ds->summary.cache_note);
    /* Images are independent, so decoding in parallel changes no number. Errors
     * are thread-local, so each failure's message is copied out on its thread. */
    size_t misses = 0;
#ifdef _OPENMP
#pragma omp parallel for schedule(dynamic, 1) reduction(+ : misses)
#endif
    for (long i = 0; i < (long)n; i++) {
        if (items[i].hit || status[i] != TG_OK) continue;
        status[i] = decode_one(b->paths[i], &opts->image, items[i].dst, &not_image[i]);
        if (status[i] != TG_OK) {
            const char *m = tg_last_error();
            errs[i] = malloc(strlen(m) + 1);
            if (errs[i]) memcpy(errs[i], m, strlen(m) + 1);
        } else {
            misses++;
        }
    }
    if (cache_path && misses > 0) {
        /* Store every image that decoded: the cache mirrors this dataset. */
        size_t k = 0;
        for (size_t i = 0; i < n; i++)
            if (status[i] == TG_OK) items[k++] = items[i];
        if (tg_cache_write(cache_path, &key, items, k) != TG_OK)
            snprintf(ds->summary.cache_note, sizeof ds->summary.cache_note, "%s", tg_last_error());
        /* items was compacted above; status/paths still index the original order. */
    }
    ds->labels = malloc(sizeof(int) * (n ? n : 1));
    ds->paths = calloc(n ? n : 1, sizeof(char *));
    if (b->splits) ds->parts = malloc(sizeof(int) * (n ? n : 1));
    if (b->folds) ds->folds = malloc(sizeof(int) * (n ? n : 1));
    char **gnames = calloc(n ? n : 1, sizeof(char *));
    if (!ds->labels || !ds->paths || !gnames || (b->splits && !ds->parts) ||
        (b->folds && !ds->folds)) {
        free(gnames);
        st = tg_error(TG_ERR_NOMEM, "out of memory");
        goto fail;
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (status[i] != TG_OK) {
            const char *why = errs[i] ? errs[i] : "unknown error";
            if (opts->on_error == TG_ON_ERROR_STOP) {
                free(gnames);
                st = tg_error(status[i], "%s (set on_error=skip to leave such files out)", why);
                goto fail;
            }
            if (not_image[i])
                ds->summary.not_image++;
            else if (status[i] == TG_ERR_IO)
                ds->summary.missing_file++;
            else
                ds->summary.decode_failed++;
            /* the decoder's message names the file too: "skipped X: X: ..." says it twice */
            size_t lp = strlen(b->paths[i]);
            if (!strncmp(why, b->paths[i], lp) && !strncmp(why + lp, ": ", 2)) why += lp + 2;
            if ((st = tg_ds_builder_skip(b, b->paths[i], why)) != TG_OK) {
                free(gnames);
                goto fail;
            }
            continue;
        }
        float *dst = ds->images + k * npx;
        if (k != i) memmove(dst, ds->images + i * npx, npx * sizeof(float));
        st = tg_image_normalize(dst, npx, opts->image.norm, opts->image.mean, opts->image.std);
        if (st != TG_OK) {
            free(gnames);
            goto fail;
        }
        ds->labels[k] = b->labels[i];
        if (ds->parts) ds->parts[k] = b->splits[i];
        if (ds->folds) ds->folds[k] = b->folds[i];
        ds->paths[k] = b->paths[i];
        b->paths[i] = NULL;
        gnames[k] = b->groups[i];
        k++;
        ds->n = k; /* so a failure later frees the paths moved so far */
    }
    ds->n = k;
    if (k > 0 && k < n) {
        float *shrunk = realloc(ds->images, sizeof(float) * npx * k);
        if (shrunk) ds->images = shrunk;
    }
    st = tg_ds_assign_groups(ds, gnames);
    free(gnames); /* the names themselves still belong to b->groups */
    if (st != TG_OK) goto fail;
    if (ds->folds && (st = number_folds(ds)) != TG_OK) goto fail;
    ds->summary.seconds = now_seconds() - t0;
    goto done;
fail:
    tg_dataset_free(ds); /* owns class_names, the moved paths and the skips */
done:
    if (errs)
        for (size_t i = 0; i < n; i++) free(errs[i]);
    free(errs);
    free(items);
    free(status);
    free(not_image);
    free(cache_path);
    tg_ds_builder_free(b);
    return st;
}

float *tg_dataset_image(const tg_dataset *ds, size_t i) {
    return ds->images + i * (size_t)ds->width * (size_t)ds->height;
}

size_t tg_dataset_class_count(const tg_dataset *ds, int c) {
    size_t k = 0;
    for (size_t i = 0; i < ds->n; i++) k += ds->labels[i] == c;
    return k;
}

void tg_dataset_summary_print(const tg_dataset *ds, FILE *f) {
    const tg_dataset_summary *s = &ds->summary;
    fprintf(f, "loaded %zu images of %dx%d in %zu groups from %zu entries in %.2f s", ds->n,
            ds->width, ds->height, ds->n_groups, s->rows, s->seconds);
    if (s->cache_hits) fprintf(f, " (%zu from the cache)", s->cache_hits);
    fprintf(f, "\n");
    for (int c = 0; c < ds->n_classes; c++)
        fprintf(f, "  class %d %-24s %zu images\n", c, ds->class_names[c],
                tg_dataset_class_count(ds, c));
    if (s->empty_label || s->excluded_label)
        fprintf(f, "  left out: %zu with an empty label, %zu with an excluded label\n",
                s->empty_label, s->excluded_label);
    if (s->missing_file || s->decode_failed || s->not_image)
        fprintf(f, "  skipped: %zu missing files, %zu undecodable, %zu not images\n",
                s->missing_file, s->decode_failed, s->not_image);
    for (size_t i = 0; i < s->n_skips; i++)
        fprintf(f, "    %s: %s\n", s->skips[i].what, s->skips[i].why);
    if (s->cache_note[0]) fprintf(f, "  cache: %s\n", s->cache_note);
}

void tg_dataset_free(tg_dataset *ds) {
    if (!ds) return;
    free(ds->images);
    free(ds->labels);
    free(ds->groups);
    free(ds->parts);
    free(ds->folds);
    if (ds->paths)
        for (size_t i = 0; i < ds->n; i++) free(ds->paths[i]);
    free(ds->paths);
    if (ds->class_names)
        for (int c = 0; c < ds->n_classes; c++) free(ds->class_names[c]);
    free(ds->class_names);
    if (ds->group_names)
        for (size_t g = 0; g < ds->n_groups; g++) free(ds->group_names[g]);
    free(ds->group_names);
    for (size_t i = 0; i < ds->summary.n_skips; i++) {
        free(ds->summary.skips[i].what);
        free(ds->summary.skips[i].why);
    }
    free(ds->summary.skips);
    memset(ds, 0, sizeof *ds);
}
