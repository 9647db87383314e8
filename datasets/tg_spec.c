/* Dataset spec strings, "KIND:ARG[,ARG2][,key=value...]" (docs/datasets.md):
 *   csv:FILE,images=DIR,image=COL,label=COL,positive=A|B,negative=C|*,group=COL,
 *       split=COL (train/val/test per row), fold=COL (cross-validation folds)
 *   folders:DIR     idx:IMAGES,LABELS     synth:DIR
 * plus keys common to all: size, aspect, pad, norm, mean, std, cache, on_error,
 * max_pixels. "\," and "\\" escape a comma or backslash inside a value. */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <stddef.h>
#include <string.h>

#include "autograd/tg_names.h"
#include "datasets/tg_ds_build.h"
#include "datasets/tg_split.h"

#define MAX_ITEMS 64
#define MAX_LABELS 64

typedef struct spec {
    char *buf;            /* unescaped copy, items point into it */
    char *pos[MAX_ITEMS]; /* positional arguments */
    int n_pos, pos_col[MAX_ITEMS];
    char *key[MAX_ITEMS], *val[MAX_ITEMS];
    int col[MAX_ITEMS], used[MAX_ITEMS], n_kv;
} spec;

/* Split "a,b=c,d\,e" into items; col is the 1-based column of each item. */
static tg_status spec_split(const char *s, size_t start, spec *sp) {
    size_t len = strlen(s);
    sp->buf = malloc(len + 1);
    if (!sp->buf) return tg_error(TG_ERR_NOMEM, "out of memory");
    char *o = sp->buf;
    size_t i = start;
    while (i <= len) {
        char *item = o;
        int col = (int)i + 1;
        while (i < len && s[i] != ',') {
            if (s[i] == '\\' && i + 1 < len && (s[i + 1] == ',' || s[i + 1] == '\\')) i++;
            *o++ = s[i++];
        }
        *o++ = 0;
        i++;
        char *eq = strchr(item, '=');
        if (!*item) continue;
        if (sp->n_pos + sp->n_kv >= MAX_ITEMS)
            return tg_error(TG_ERR_LIMIT, "spec:1:%d: more than %d items", col, MAX_ITEMS);
        if (eq) {
            *eq = 0;
            /* A second value would silently lose to the first: refuse it. */
            for (int k = 0; k < sp->n_kv; k++)
                if (!strcmp(sp->key[k], item))
                    return tg_error(TG_ERR_ATTR,
                                    "spec:1:%d: key '%s' given twice (first at column %d)", col,
                                    item, sp->col[k]);
            sp->key[sp->n_kv] = item;
            sp->val[sp->n_kv] = eq + 1;
            sp->col[sp->n_kv++] = col;
        } else {
            sp->pos_col[sp->n_pos] = col;
            sp->pos[sp->n_pos++] = item;
        }
    }
    return TG_OK;
}

static const char *spec_get(spec *sp, const char *key, int *col) {
    for (int i = 0; i < sp->n_kv; i++)
        if (strcmp(sp->key[i], key) == 0) {
            sp->used[i] = 1;
            if (col) *col = sp->col[i];
            return sp->val[i];
        }
    return NULL;
}

/* Split "a|b|c" in place into list (at most MAX_LABELS). */
static size_t split_labels(char *v, const char **list) {
    size_t n = 0;
    if (!v) return 0;
    for (char *p = v; n < MAX_LABELS;) {
        char *bar = strchr(p, '|');
        if (bar) *bar = 0;
        list[n++] = p;
        if (!bar) break;
        p = bar + 1;
    }
    return n;
}

/* What a tg_label_spec made from a spec points into. */
typedef struct label_buf {
    char pos[1024], neg[1024];
    const char *pos_list[MAX_LABELS], *neg_list[MAX_LABELS];
} label_buf;

/* The positive= and negative= lists (pv, nv; NULL when absent) into ls; a list that
 * cannot work is an error at its key's column (pcol, ncol; 0 for a default). */
static tg_status label_lists(const char *pv, int pcol, const char *nv, int ncol, label_buf *lb,
                             tg_label_spec *ls) {
    /* A list cut short would leave its last labels out without a word: refuse it. */
    for (int neg = 0; neg < 2; neg++) {
        const char *v = neg ? nv : pv;
        if (!v) continue;
        size_t bars = 0;
        for (const char *c = v; *c; c++) bars += *c == '|';
        if (strlen(v) >= sizeof lb->pos || bars + 1 > MAX_LABELS)
            return tg_error(TG_ERR_LIMIT, "spec:1:%d: %s=: at most %d labels and %zu bytes",
                            neg ? ncol : pcol, neg ? "negative" : "positive", MAX_LABELS,
                            sizeof lb->pos - 1);
    }
    snprintf(lb->pos, sizeof lb->pos, "%s", pv ? pv : "");
    snprintf(lb->neg, sizeof lb->neg, "%s", nv ? nv : "");
    ls->positive = lb->pos_list;
    ls->negative = lb->neg_list;
    ls->n_positive = pv ? split_labels(lb->pos, lb->pos_list) : 0;
    ls->n_negative = nv ? split_labels(lb->neg, lb->neg_list) : 0;
    char why[256];
    int in_neg;
    if (!tg_label_spec_problem(ls, &in_neg, why, sizeof why)) return TG_OK;
    /* A default list (synth's) has no column: blame the one the user gave. */
    if (in_neg ? !ncol : !pcol) in_neg = !in_neg;
    return tg_error(TG_ERR_ATTR, "spec:1:%d: %s=%s: %s", in_neg ? ncol : pcol,
                    in_neg ? "negative" : "positive", in_neg ? nv : pv, why);
}

static tg_status parse_uint(const char *v, int col, const char *key, unsigned long long max,
                            unsigned long long *out) {
    char *end;
    errno = 0;
    unsigned long long x = strtoull(v, &end, 10);
    if (!*v || *end || errno || x > max || v[0] == '-')
        return tg_error(TG_ERR_ATTR, "spec:1:%d: %s=%s: expected a whole number up to %llu", col,
                        key, v, max);
    *out = x;
    return TG_OK;
}

static tg_status parse_float(const char *v, int col, const char *key, float *out) {
    char *end;
    errno = 0;
    float x = strtof(v, &end);
    if (!*v || *end || errno || !isfinite(x)) /* strtof takes "nan" and "inf" */
        return tg_error(TG_ERR_ATTR, "spec:1:%d: %s=%s: expected a finite number", col, key, v);
    *out = x;
    return TG_OK;
}

/* The keys every layout accepts, one table: each overrides one field of opts. */
typedef enum { KEY_SIZE, KEY_CHOICE, KEY_FLOAT, KEY_POSITIVE, KEY_PIXELS, KEY_CACHE } key_type;
static const struct {
    const char *key;
    key_type type;
    size_t offset;       /* of the field in tg_dataset_opts */
    const char *choices; /* KEY_CHOICE: the enum's names in the order of its values */
} common[] = {
    {"size", KEY_SIZE, 0, NULL},
    {"aspect", KEY_CHOICE, offsetof(tg_dataset_opts, image.aspect), "stretch|pad|crop"},
    {"pad", KEY_FLOAT, offsetof(tg_dataset_opts, image.pad_value), NULL},
    {"norm", KEY_CHOICE, offsetof(tg_dataset_opts, image.norm), "none|minmax|standardize|fixed"},
    {"mean", KEY_FLOAT, offsetof(tg_dataset_opts, image.mean), NULL},
    {"std", KEY_POSITIVE, offsetof(tg_dataset_opts, image.std), NULL},
    {"cache", KEY_CACHE, offsetof(tg_dataset_opts, cache_path), NULL},
    {"on_error", KEY_CHOICE, offsetof(tg_dataset_opts, on_error), "skip|stop"},
    {"max_pixels", KEY_PIXELS, offsetof(tg_dataset_opts, image.max_pixels), NULL},
};

/* "a|b|c" as "a, b or c" for a message. */
static const char *choice_list(const char *choices, char *buf, size_t size) {
    size_t n = 0;
    int bars = 0, seen = 0;
    for (const char *p = choices; *p; p++) bars += *p == '|';
    for (const char *p = choices; *p && n + 6 < size; p++) {
        if (*p != '|') {
            buf[n++] = *p;
            continue;
        }
        const char *sep = ++seen == bars ? " or " : ", ";
        for (; *sep && n + 1 < size; sep++) buf[n++] = *sep;
    }
    buf[n] = 0;
    return buf;
}

static tg_status size_key(const char *v, int col, tg_dataset_opts *o) {
    unsigned long long w, h;
    const char *x = strchr(v, 'x');
    char a[32] = "";
    if (x && (size_t)(x - v) < sizeof a) memcpy(a, v, (size_t)(x - v));
    if (parse_uint(x ? a : v, col, "size", 16384, &w) != TG_OK ||
        parse_uint(x ? x + 1 : v, col, "size", 16384, &h) != TG_OK)
        return tg_error(TG_ERR_ATTR, "spec:1:%d: size=%s: expected N or WxH (1..16384)", col, v);
    if (w == 0 || h == 0)
        return tg_error(TG_ERR_ATTR, "spec:1:%d: size=%s: sides must be positive", col, v);
    o->image.width = (int)w;
    o->image.height = (int)h;
    return TG_OK;
}

static tg_status common_keys(spec *sp, tg_dataset_opts *o) {
    for (size_t k = 0; k < sizeof common / sizeof common[0]; k++) {
        int col;
        const char *v = spec_get(sp, common[k].key, &col), *key = common[k].key;
        if (!v) continue;
        char *field = (char *)o + common[k].offset, list[128];
        unsigned long long u;
        tg_status st = TG_OK;
        switch (common[k].type) {
        case KEY_SIZE:
            st = size_key(v, col, o);
            break;
        case KEY_CHOICE: {
            int idx = tg_choice_index(common[k].choices, v);
            if (idx < 0)
                return tg_error(TG_ERR_ATTR, "spec:1:%d: %s=%s: expected %s", col, key, v,
                                choice_list(common[k].choices, list, sizeof list));
            *(int *)field = idx; /* the enums' values follow their names' order */
            break;
        }
        case KEY_FLOAT:
        case KEY_POSITIVE:
            if ((st = parse_float(v, col, key, (float *)field))) break;
            if (common[k].type == KEY_POSITIVE && !(*(float *)field > 0))
                st = tg_error(TG_ERR_ATTR, "spec:1:%d: %s=%s: must be positive", col, key, v);
            break;
        case KEY_PIXELS:
            if (!(st = parse_uint(v, col, key, (1ULL << 40), &u))) *(uint64_t *)field = u;
            break;
        case KEY_CACHE:
            *(const char **)field = strcmp(v, "off") ? v : NULL;
            break;
        }
        if (st) return st;
    }
    return TG_OK;
}

/* cv=k/K (fold k of K held out as the test split) and cv_seed=N. */
static tg_status cv_keys(spec *sp, int *fold, int *folds, uint64_t *seed) {
    int col;
    const char *v = spec_get(sp, "cv", &col);
    unsigned long long u;
    tg_status st;
    if (v) {
        char *end;
        long k = strtol(v, &end, 10), n = *end == '/' ? strtol(end + 1, &end, 10) : 0;
        if (*end || n < 2 || n > 1000 || k < 1 || k > n)
            return tg_error(TG_ERR_ATTR,
                            "spec:1:%d: cv=%s: expected FOLD/FOLDS with 1 <= FOLD <= "
                            "FOLDS and 2 <= FOLDS <= 1000",
                            col, v);
        *fold = (int)k;
        *folds = (int)n;
    }
    if ((v = spec_get(sp, "cv_seed", &col))) {
        if ((st = parse_uint(v, col, "cv_seed", UINT32_MAX, &u))) return st;
        *seed = u;
    }
    return TG_OK;
}

/* Cross-validation: mark fold k (1-based) of K as the test part and the rest as
 * training. The folds come from the spec's fold column when it has one, else they
 * are drawn stratified by class and by group (patients stay in one fold), seeded. */
static tg_status hold_out_fold(tg_dataset *ds, int k, int n_folds, uint64_t seed) {
    if (ds->parts)
        return tg_error(TG_ERR_ATTR, "spec: cv= and split= cannot be combined: cross-validation "
                                     "makes its own test split");
    int *fold_of = ds->folds;
    if (fold_of && ds->n_folds != n_folds)
        return tg_error(TG_ERR_ATTR, "spec: cv=%d/%d but the fold column has %d distinct values", k,
                        n_folds, ds->n_folds);
    if (!(ds->parts = malloc((ds->n ? ds->n : 1) * sizeof *ds->parts)))
        return tg_error(TG_ERR_NOMEM, "out of memory");
    if (!fold_of) {
        if (!(fold_of = malloc((ds->n ? ds->n : 1) * sizeof *fold_of)))
            return tg_error(TG_ERR_NOMEM, "out of memory");
        tg_rng rng;
        tg_rng_seed(&rng, seed ^ 0x666f6c6473ULL); /* "folds" */
        tg_status st = tg_split_folds(ds, n_folds, ds->n_groups < ds->n, &rng, fold_of);
        if (st) {
            free(fold_of);
            return st;
        }
    }
    for (size_t i = 0; i < ds->n; i++)
        ds->parts[i] = fold_of[i] == k - 1 ? TG_PART_TEST : TG_PART_TRAIN;
    if (fold_of != ds->folds) free(fold_of);
    return TG_OK;
}

tg_status tg_dataset_load_spec(const char *s, const tg_dataset_opts *base, tg_dataset *out) {
    memset(out, 0, sizeof *out);
    const char *colon = strchr(s, ':');
    if (!colon)
        return tg_error(TG_ERR_ATTR,
                        "spec:1:1: '%s': expected KIND:PATH (csv:, folders:, idx:, synth:)", s);
    size_t klen = (size_t)(colon - s);
    char kind[16] = "";
    if (klen < sizeof kind) memcpy(kind, s, klen);
    spec sp;
    memset(&sp, 0, sizeof sp);
    tg_status st = spec_split(s, klen + 1, &sp);
    tg_dataset_opts o = *base;
    char *synth_csv = NULL, *synth_img = NULL;
    int cv_fold = 0, cv_folds = 0;
    uint64_t cv_seed = 1;
    if (st != TG_OK) goto done;
    if ((st = common_keys(&sp, &o)) != TG_OK || (st = cv_keys(&sp, &cv_fold, &cv_folds, &cv_seed)))
        goto done;
    int want_pos = !strcmp(kind, "idx") ? 2 : 1;
    if (strcmp(kind, "csv") && strcmp(kind, "folders") && strcmp(kind, "idx") &&
        strcmp(kind, "synth")) {
        st = tg_error(TG_ERR_UNKNOWN,
                      "spec:1:1: unknown dataset kind '%s' (csv, folders, idx, synth)", kind);
        goto done;
    }
    if (sp.n_pos != want_pos) {
        st = tg_error(TG_ERR_ATTR, "spec:1:%zu: %s: expects %d path%s, got %d", klen + 2, kind,
                      want_pos, want_pos > 1 ? "s" : "", sp.n_pos);
        goto done;
    }
    tg_label_spec ls;
    int pcol = 0, ncol = 0;
    const char *pv = spec_get(&sp, "positive", &pcol), *nv = spec_get(&sp, "negative", &ncol);
    label_buf lb;
    if (!strcmp(kind, "csv") || !strcmp(kind, "synth")) {
        tg_csv_layout L;
        memset(&L, 0, sizeof L);
        const char *def_img = NULL, *def_lab = NULL, *def_grp = NULL;
        if (!strcmp(kind, "synth")) {
            /* The generator's layout (tg_synth.h): images/<patientid>.png, a patient column. */
            synth_csv = tg_ds_path_join(sp.pos[0], "metadata.csv");
            synth_img = tg_ds_path_join(sp.pos[0], "images");
            if (!synth_csv || !synth_img) {
                st = TG_ERR_NOMEM;
                goto done;
            }
            L.csv_path = synth_csv;
            L.images_dir = synth_img;
            def_img = "patientid";
            def_lab = "finding";
            def_grp = "patient";
            if (!pv) pv = "COVID-19";
            if (!nv) nv = "*";
        } else {
            L.csv_path = sp.pos[0];
        }
        const char *v;
        if ((v = spec_get(&sp, "images", NULL))) L.images_dir = v;
        int ocol;
        if ((v = spec_get(&sp, "outside", &ocol))) {
            if (strcmp(v, "yes") && strcmp(v, "no")) {
                st = tg_error(TG_ERR_ATTR, "spec:1:%d: outside=%s: expected yes or no", ocol, v);
                goto done;
            }
            L.allow_outside = !strcmp(v, "yes");
        }
        L.image_column = (v = spec_get(&sp, "image", NULL)) ? v : def_img;
        L.label_column = (v = spec_get(&sp, "label", NULL)) ? v : def_lab;
        L.group_column = (v = spec_get(&sp, "group", NULL)) ? (*v ? v : NULL) : def_grp;
        L.split_column = (v = spec_get(&sp, "split", NULL)) && *v ? v : NULL;
        L.fold_column = (v = spec_get(&sp, "fold", NULL)) && *v ? v : NULL;
        if (!L.image_column || !L.label_column) {
            st = tg_error(TG_ERR_ATTR, "spec:1:1: csv needs image=COLUMN and label=COLUMN");
            goto done;
        }
        if ((st = label_lists(pv, pcol, nv, ncol, &lb, &ls))) goto done;
        L.labels = ls;
        for (int i = 0; i < sp.n_kv; i++)
            if (!sp.used[i]) {
                st = tg_error(TG_ERR_UNKNOWN,
                              "spec:1:%d: unknown key '%s' for %s (known: images, image, label, "
                              "positive, negative, group, split, fold, outside, size, aspect, pad, "
                              "norm, mean, std, cache, on_error, max_pixels)",
                              sp.col[i], sp.key[i], kind);
                goto done;
            }
        st = tg_dataset_load_csv(&L, &o, out);
        goto done;
    }
    for (int i = 0; i < sp.n_kv; i++)
        if (!sp.used[i]) {
            st = tg_error(TG_ERR_UNKNOWN,
                          "spec:1:%d: unknown key '%s' for %s (known: %ssize, aspect, pad, norm, "
                          "mean, std, cache, on_error, max_pixels)",
                          sp.col[i], sp.key[i], kind,
                          !strcmp(kind, "idx") ? "positive, negative, " : "");
            goto done;
        }
    if (!strcmp(kind, "folders")) {
        if (pv || nv) {
            st = tg_error(TG_ERR_UNKNOWN,
                          "spec:1:%d: folders takes its classes from folder names, not from %s=",
                          pv ? pcol : ncol, pv ? "positive" : "negative");
            goto done;
        }
        st = tg_dataset_load_folders(sp.pos[0], &o, out);
    } else {
        if ((st = label_lists(pv, pcol, nv, ncol, &lb, &ls))) goto done;
        st = tg_dataset_load_idx(sp.pos[0], sp.pos[1], &ls, &o, out);
    }
done:
    if (st == TG_OK && cv_folds > 0 && (st = hold_out_fold(out, cv_fold, cv_folds, cv_seed)))
        tg_dataset_free(out);
    free(synth_csv);
    free(synth_img);
    free(sp.buf);
    return st;
}

tg_status tg_dataset_spec_image_opts(const char *s, const tg_image_opts *base, tg_image_opts *out) {
    const char *colon = strchr(s, ':');
    if (!colon)
        return tg_error(TG_ERR_ATTR,
                        "spec:1:1: '%s': expected KIND:PATH (csv:, folders:, idx:, synth:)", s);
    spec sp;
    memset(&sp, 0, sizeof sp);
    tg_dataset_opts o;
    memset(&o, 0, sizeof o);
    o.image = *base;
    tg_status st = spec_split(s, (size_t)(colon - s) + 1, &sp);
    if (st == TG_OK) st = common_keys(&sp, &o); /* kind-specific keys are not looked at */
    free(sp.buf);
    if (st == TG_OK) *out = o.image;
    return st;
}
