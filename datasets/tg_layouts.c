/* Dataset layouts: a folder per class, a metadata CSV, IDX files. Each lists
 * its images and labels and hands them to the shared builder (tg_dataset.c). */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "autograd/tg_budget.h"
#include "datasets/tg_csv.h"
#include "datasets/tg_ds_build.h"
#include "datasets/tg_idx.h"

/* Extensions tried, in order, when the CSV gives a file stem. */
static const char *const known_ext[] = {"png",  "jpg", "jpeg", "PNG", "JPG",
                                        "JPEG", "pgm", "ppm",  "pnm"};
#define N_EXT (sizeof known_ext / sizeof known_ext[0])

static int is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static int visible(const struct dirent *e) {
    return e->d_name[0] != '.';
}

static void free_names(struct dirent **list, int n) {
    for (int i = 0; i < n; i++) free(list[i]);
    free(list);
}

tg_status tg_dataset_load_folders(const char *root, const tg_dataset_opts *opts, tg_dataset *out) {
    tg_ds_builder b;
    tg_ds_builder_init(&b, opts, out);
    struct dirent **classes = NULL;
    int nc = scandir(root, &classes, visible, alphasort);
    if (nc < 0) return tg_error(TG_ERR_IO, "%s: cannot read the directory", root);
    char **names = calloc((size_t)(nc ? nc : 1), sizeof *names);
    int n_classes = 0;
    tg_status st = names ? TG_OK : tg_error(TG_ERR_NOMEM, "out of memory");
    for (int c = 0; c < nc && st == TG_OK; c++) {
        char *dir = tg_ds_path_join(root, classes[c]->d_name);
        if (!dir) {
            st = TG_ERR_NOMEM;
            break;
        }
        if (!is_dir(dir)) { /* loose files next to the class folders are not data */
            free(dir);
            continue;
        }
        int label = n_classes;
        names[n_classes] = tg_ds_strdup(classes[c]->d_name);
        if (!names[n_classes++]) st = TG_ERR_NOMEM;
        struct dirent **files = NULL;
        int nf = st == TG_OK ? scandir(dir, &files, visible, alphasort) : 0;
        if (nf < 0) st = tg_error(TG_ERR_IO, "%s: cannot read the directory", dir);
        for (int f = 0; f < nf && st == TG_OK; f++) {
            char *path = tg_ds_path_join(dir, files[f]->d_name);
            if (!path) {
                st = TG_ERR_NOMEM;
                break;
            }
            if (tg_ds_is_file(path)) {
                out->summary.rows++;
                st = tg_ds_builder_add(&b, path, label, NULL);
            }
            free(path);
        }
        if (nf > 0) free_names(files, nf);
        free(dir);
    }
    free_names(classes, nc);
    if (st == TG_OK && n_classes == 0)
        st = tg_error(TG_ERR_FORMAT, "%s: no class folders found; expected %s/<class>/<image>",
                      root, root);
    if (st != TG_OK) {
        for (int c = 0; c < n_classes; c++) free(names[c]);
        free(names);
        tg_ds_builder_free(&b);
        tg_dataset_free(out);
        return st;
    }
    return tg_ds_builder_finish(&b, names, n_classes, root);
}

static int in_list(const char *s, const char *const *list, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (strcmp(list[i], s) == 0) return 1;
    return 0;
}

static int is_blank(const char *s) {
    for (; *s; s++)
        if (*s != ' ' && *s != '\t') return 0;
    return 1;
}

const char *tg_label_spec_problem(const tg_label_spec *ls, int *in_negative, char *msg,
                                  size_t size) {
    *in_negative = 1;
    if (ls->n_negative && !ls->n_positive) {
        /* Without positives every label is its own class: the negatives would be ignored. */
        snprintf(
            msg, size,
            "negative labels need positive labels (without them every label is its own class)");
        return msg;
    }
    for (int neg = 0; neg < 2; neg++) {
        const char *const *list = neg ? ls->negative : ls->positive;
        size_t n = neg ? ls->n_negative : ls->n_positive;
        *in_negative = neg;
        for (size_t i = 0; i < n; i++) {
            /* Rows with an empty label are left out, so an empty label matches nothing. */
            if (is_blank(list[i])) {
                snprintf(msg, size, "an empty %s label (labels are listed as A|B)",
                         neg ? "negative" : "positive");
                return msg;
            }
            if (!neg && !strcmp(list[i], "*")) {
                snprintf(msg, size, "'*' (every other label) is only for the negative labels");
                return msg;
            }
            if (neg && in_list(list[i], ls->positive, ls->n_positive)) {
                snprintf(msg, size, "label '%s' is both positive and negative", list[i]);
                return msg;
            }
        }
    }
    return NULL;
}

/* "a|b|c" from a list, malloc'ed; prefix is prepended. */
static char *join(const char *prefix, const char *const *list, size_t n) {
    size_t len = strlen(prefix) + 1;
    for (size_t i = 0; i < n; i++) len += strlen(list[i]) + 1;
    char *s = malloc(len);
    if (!s) return NULL;
    strcpy(s, prefix);
    for (size_t i = 0; i < n; i++) {
        if (i) strcat(s, "|");
        strcat(s, list[i]);
    }
    return s;
}

static void free_strs(char **v, size_t n) {
    if (v)
        for (size_t i = 0; i < n; i++) free(v[i]);
    free(v);
}

/* Class names for a label spec: binary (negative, positive), or one per label
 * in the sorted vocabulary `seen`. On failure nothing is left allocated. */
static tg_status make_classes(const tg_label_spec *ls, char **seen, size_t n_seen, char ***names,
                              int *n) {
    size_t k = ls->n_positive > 0 ? 2 : n_seen;
    char **v = calloc(k ? k : 1, sizeof *v);
    *names = NULL;
    *n = 0;
    if (!v) return tg_error(TG_ERR_NOMEM, "out of memory");
    int ok = 1;
    if (ls->n_positive > 0) {
        int all = in_list("*", ls->negative, ls->n_negative);
        v[0] = all ? join("not ", ls->positive, ls->n_positive)
                   : join("", ls->negative, ls->n_negative);
        v[1] = join("", ls->positive, ls->n_positive);
        ok = v[0] && v[1];
    } else {
        for (size_t i = 0; i < n_seen && ok; i++) ok = (v[i] = tg_ds_strdup(seen[i])) != NULL;
    }
    if (!ok) {
        free_strs(v, k);
        return tg_error(TG_ERR_NOMEM, "out of memory");
    }
    *names = v;
    *n = (int)k;
    return TG_OK;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The class of a label: 1/0 in binary mode, else its index among `seen`;
 * -1 excluded. */
static int label_class(const tg_label_spec *ls, const char *label, char **seen, size_t n_seen) {
    if (ls->n_positive > 0) {
        if (in_list(label, ls->positive, ls->n_positive)) return 1;
        if (in_list("*", ls->negative, ls->n_negative) ||
            in_list(label, ls->negative, ls->n_negative))
            return 0;
        return -1;
    }
    char *const *hit = bsearch(&label, seen, n_seen, sizeof *seen, cmp_str);
    return hit ? (int)(hit - seen) : -1;
}

/* Sorted distinct non-blank values of a column (multi-class vocabulary). */
static tg_status distinct_labels(const tg_csv *csv, int col, const tg_label_spec *ls, char ***out,
                                 size_t *n) {
    *out = NULL;
    *n = 0;
    if (ls->n_positive > 0) return TG_OK;
    char **v = malloc((csv->n_rows ? csv->n_rows : 1) * sizeof *v);
    if (!v) return tg_error(TG_ERR_NOMEM, "out of memory");
    size_t k = 0;
    for (size_t r = 0; r < csv->n_rows; r++) {
        const char *s = tg_csv_cell(csv, r, (size_t)col);
        if (!is_blank(s)) v[k++] = (char *)s;
    }
    qsort(v, k, sizeof *v, cmp_str);
    size_t u = 0;
    for (size_t i = 0; i < k; i++)
        if (u == 0 || strcmp(v[u - 1], v[i]) != 0) v[u++] = v[i];
    *out = v;
    *n = u;
    return TG_OK;
}

static tg_status need_column(const tg_csv *csv, const char *file, const char *what,
                             const char *name, int *col) {
    *col = name ? tg_csv_column(csv, name) : -1;
    if (*col >= 0) return TG_OK;
    char cols[512] = "";
    for (size_t i = 0; i < csv->n_cols; i++) {
        size_t l = strlen(cols);
        snprintf(cols + l, sizeof cols - l, "%s%s", i ? ", " : "", csv->header[i]);
    }
    return tg_error(TG_ERR_UNKNOWN, "%s:1:1: no %s column '%s'; the columns are: %s", file, what,
                    name ? name : "(none given)", cols);
}

/* 1 when a CSV image field stays inside the images folder as written: not absolute and no
 * ".." component. Symbolic links inside the folder are followed like any file. */
static int stays_inside(const char *field) {
    if (field[0] == '/') return 0;
    for (const char *p = field; *p;) {
        size_t n = strcspn(p, "/");
        if (n == 2 && p[0] == '.' && p[1] == '.') return 0;
        p += n;
        while (*p == '/') p++;
    }
    return 1;
}

/* Resolve an image field: a file under dir, or a stem with a known extension. */
static char *resolve_image(const char *dir, const char *field) {
    char *p = tg_ds_path_join(dir, field);
    if (!p || tg_ds_is_file(p)) return p;
    size_t len = strlen(p);
    char *q = malloc(len + 8);
    if (!q) {
        free(p);
        return NULL;
    }
    for (size_t e = 0; e < N_EXT; e++) {
        snprintf(q, len + 8, "%s.%s", p, known_ext[e]);
        if (tg_ds_is_file(q)) {
            free(p);
            return q;
        }
    }
    free(q);
    free(p);
    return (char *)"";
}

/* A split column's cell: train, val or test (a few spellings, any case). */
static tg_status parse_part(const char *cell, const char *where, const char *column, int *part) {
    static const struct {
        const char *name;
        int part;
    } names[] = {{"train", TG_PART_TRAIN}, {"training", TG_PART_TRAIN}, {"val", TG_PART_VAL},
                 {"valid", TG_PART_VAL},   {"validation", TG_PART_VAL}, {"test", TG_PART_TEST}};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (!strcasecmp(cell, names[i].name)) {
            *part = names[i].part;
            return TG_OK;
        }
    return tg_error(TG_ERR_FORMAT, "%s: split column '%s' holds '%s'; expected train, val or test",
                    where, column, cell);
}

/* A fold column's cell: an integer 0..999 (the folds are its distinct values). */
static tg_status parse_fold(const char *cell, const char *where, const char *column, int *fold) {
    char *end;
    errno = 0;
    long v = strtol(cell, &end, 10);
    if (end == cell || *end || errno || v < 0 || v > 999)
        return tg_error(TG_ERR_FORMAT,
                        "%s: fold column '%s' holds '%s'; expected an integer 0..999", where,
                        column, cell);
    *fold = (int)v;
    return TG_OK;
}

tg_status tg_dataset_load_csv(const tg_csv_layout *L, const tg_dataset_opts *opts,
                              tg_dataset *out) {
    tg_ds_builder b;
    tg_ds_builder_init(&b, opts, out);
    char why[256];
    int in_neg;
    if (tg_label_spec_problem(&L->labels, &in_neg, why, sizeof why))
        return tg_error(TG_ERR_INVALID, "%s: %s", L->csv_path, why);
    tg_csv csv;
    tg_status st = tg_csv_read(L->csv_path, &csv);
    if (st != TG_OK) return st;
    char *dir = NULL, **seen = NULL, **names = NULL;
    size_t n_seen = 0;
    int n_classes = 0, ci, cl, cg = -1, cs = -1, cf = -1;
    if ((st = need_column(&csv, L->csv_path, "image", L->image_column, &ci)) != TG_OK ||
        (st = need_column(&csv, L->csv_path, "label", L->label_column, &cl)) != TG_OK ||
        (L->group_column &&
         (st = need_column(&csv, L->csv_path, "group", L->group_column, &cg)) != TG_OK) ||
        (L->split_column &&
         (st = need_column(&csv, L->csv_path, "split", L->split_column, &cs)) != TG_OK) ||
        (L->fold_column &&
         (st = need_column(&csv, L->csv_path, "fold", L->fold_column, &cf)) != TG_OK))
        goto fail;
    if (L->images_dir) {
        dir = tg_ds_strdup(L->images_dir);
    } else {
        /* Default: the CSV's folder, or its images/ subfolder when there is one. */
        const char *slash = strrchr(L->csv_path, '/');
        size_t dl = slash ? (size_t)(slash - L->csv_path) : 0;
        char *base = malloc(dl + 2);
        if (base) {
            memcpy(base, L->csv_path, dl);
            base[dl] = 0;
            if (dl == 0) strcpy(base, slash ? "/" : ".");
            dir = tg_ds_path_join(base, "images");
            if (dir && !is_dir(dir)) {
                free(dir);
                dir = tg_ds_strdup(base);
            }
            free(base);
        }
    }
    if (!dir) {
        st = tg_error(TG_ERR_NOMEM, "out of memory");
        goto fail;
    }
    if ((st = distinct_labels(&csv, cl, &L->labels, &seen, &n_seen)) != TG_OK) goto fail;
    out->summary.rows = csv.n_rows;
    for (size_t r = 0; r < csv.n_rows && st == TG_OK; r++) {
        const char *label = tg_csv_cell(&csv, r, (size_t)cl);
        const char *image = tg_csv_cell(&csv, r, (size_t)ci);
        char where[1200], why[1400];
        snprintf(where, sizeof where, "%s:%d", L->csv_path, csv.lines[r]);
        if (is_blank(label)) {
            out->summary.empty_label++;
            continue;
        }
        int c = label_class(&L->labels, label, seen, n_seen);
        if (c < 0) {
            out->summary.excluded_label++;
            continue;
        }
        if (is_blank(image)) {
            out->summary.missing_file++;
            st = tg_ds_builder_skip(&b, where, "empty image field");
            continue;
        }
        if (!L->allow_outside && !stays_inside(image)) {
            st = tg_error(TG_ERR_INVALID,
                          "%s: image '%s' leaves the images folder %s (an absolute path or '..'); "
                          "add outside=yes to the spec to allow paths outside it",
                          where, image, dir);
            break;
        }
        char *path = resolve_image(dir, image);
        if (!path) {
            st = tg_error(TG_ERR_NOMEM, "out of memory");
            break;
        }
        if (!*path) {
            snprintf(why, sizeof why,
                     "no image file '%s' in %s (also tried .png .jpg .jpeg .pgm .ppm .pnm)", image,
                     dir);
            if (opts->on_error == TG_ON_ERROR_STOP) {
                st = tg_error(TG_ERR_IO, "%s: %s", where, why);
                break;
            }
            out->summary.missing_file++;
            st = tg_ds_builder_skip(&b, where, why);
            continue;
        }
        int part = -1, fold = -1;
        if ((cs >= 0 && (st = parse_part(tg_csv_cell(&csv, r, (size_t)cs), where, L->split_column,
                                         &part)) != TG_OK) ||
            (cf >= 0 && (st = parse_fold(tg_csv_cell(&csv, r, (size_t)cf), where, L->fold_column,
                                         &fold)) != TG_OK)) {
            free(path);
            break;
        }
        const char *group = cg >= 0 ? tg_csv_cell(&csv, r, (size_t)cg) : NULL;
        st = tg_ds_builder_add(&b, path, c, group && !is_blank(group) ? group : NULL);
        if (st == TG_OK) st = tg_ds_builder_tag(&b, part, fold);
        free(path);
    }
    if (st == TG_OK) st = make_classes(&L->labels, seen, n_seen, &names, &n_classes);
    if (st != TG_OK) goto fail;
    free(seen);
    free(dir);
    tg_csv_free(&csv);
    return tg_ds_builder_finish(&b, names, n_classes, L->csv_path);
fail:
    free(seen);
    free(dir);
    tg_csv_free(&csv);
    tg_ds_builder_free(&b);
    tg_dataset_free(out);
    return st;
}

tg_status tg_dataset_load_idx(const char *images_path, const char *labels_path,
                              const tg_label_spec *labels, const tg_dataset_opts *opts,
                              tg_dataset *out) {
    memset(out, 0, sizeof *out);
    tg_label_spec none = {0};
    if (!labels) labels = &none;
    char why[256];
    int in_neg;
    if (tg_label_spec_problem(labels, &in_neg, why, sizeof why))
        return tg_error(TG_ERR_INVALID, "%s: %s", labels_path, why);
    tg_idx im, lb;
    /* The cost from the header, before any array is read: the u8 images, their floats at
     * the target size, one float image at the source size, labels and names. */
    tg_status st = tg_idx_read_header(images_path, &im);
    if (st != TG_OK) return st;
    if (im.ndim == 3) {
        uint64_t n = im.dims[0], rows = im.dims[1], cols = im.dims[2];
        uint64_t W = opts->image.width > 0 ? (uint64_t)opts->image.width : cols;
        uint64_t H = opts->image.height > 0 ? (uint64_t)opts->image.height : rows;
        uint64_t cost = tg_cost_add(tg_cost_mul(tg_cost_mul(n, rows), cols),
                                    tg_cost_mul(4, tg_cost_mul(tg_cost_mul(n, W), H)));
        cost = tg_cost_add(cost, tg_cost_add(tg_cost_mul(4 * rows, cols), 48 * n));
        char what[300];
        snprintf(what, sizeof what, "%s: %llu images of %llux%llu", images_path,
                 (unsigned long long)n, (unsigned long long)cols, (unsigned long long)rows);
        if ((st = tg_memory_check(cost, what)) != TG_OK) return st;
    }
    st = tg_idx_read(images_path, 0, &im);
    if (st != TG_OK) return st;
    st = tg_idx_read(labels_path, 0, &lb);
    if (st != TG_OK) {
        tg_idx_free(&im);
        return st;
    }
    tg_image src = {0}, dst = {0};
    char **seen = NULL;
    char digits[256][4];
    if (im.type != TG_IDX_U8 || im.ndim != 3 || im.dims[1] == 0 || im.dims[2] == 0 ||
        im.dims[1] > 65536 || im.dims[2] > 65536) {
        st =
            tg_error(TG_ERR_FORMAT, "%s: expected u8 images of shape (N, rows, cols)", images_path);
        goto done;
    }
    if (lb.type != TG_IDX_U8 || lb.ndim != 1 || lb.dims[0] != im.dims[0]) {
        st = tg_error(TG_ERR_FORMAT, "%s: expected %u u8 labels to match %s", labels_path,
                      im.dims[0], images_path);
        goto done;
    }
    int rows = (int)im.dims[1], cols = (int)im.dims[2];
    int W = opts->image.width > 0 ? opts->image.width : cols;
    int H = opts->image.height > 0 ? opts->image.height : rows;
    size_t n = im.dims[0], npx = (size_t)W * (size_t)H;
    const uint8_t *lab = lb.data, *pix = im.data;
    /* Vocabulary for multi-class mode: the label values "0".."255" present. */
    int present[256] = {0};
    for (size_t i = 0; i < n; i++) present[lab[i]] = 1;
    size_t n_seen = 0;
    seen = malloc(256 * sizeof *seen);
    if (!seen) {
        st = tg_error(TG_ERR_NOMEM, "out of memory");
        goto done;
    }
    for (int v = 0; v < 256; v++) { /* "0".."255" by hand: no printf width worries */
        char *q = digits[v];
        if (v >= 100) *q++ = (char)('0' + v / 100);
        if (v >= 10) *q++ = (char)('0' + v / 10 % 10);
        *q++ = (char)('0' + v % 10);
        *q = 0;
    }
    for (int v = 0; v < 256; v++)
        if (present[v]) seen[n_seen++] = digits[v];
    qsort(seen, n_seen, sizeof *seen, cmp_str);
    out->images = malloc(sizeof(float) * npx * (n ? n : 1));
    out->labels = malloc(sizeof(int) * (n ? n : 1));
    out->paths = calloc(n ? n : 1, sizeof(char *));
    if (!out->images || !out->labels || !out->paths || tg_image_alloc(&src, cols, rows) != TG_OK) {
        st = tg_error(TG_ERR_NOMEM, "%s: out of memory for %zu images", images_path, n);
        goto done;
    }
    out->width = W;
    out->height = H;
    out->summary.rows = n;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        int c = label_class(labels, digits[lab[i]], seen, n_seen);
        if (c < 0) {
            out->summary.excluded_label++;
            continue;
        }
        const uint8_t *p = pix + i * (size_t)rows * (size_t)cols;
        float *o = out->images + k * npx;
        if (W == cols && H == rows) {
            for (size_t j = 0; j < npx; j++) o[j] = p[j] * (1.0f / 255.0f);
        } else {
            for (size_t j = 0; j < (size_t)rows * (size_t)cols; j++) src.data[j] = p[j] / 255.0f;
            st = tg_image_resize(&src, W, H, opts->image.aspect, opts->image.pad_value, &dst);
            if (st != TG_OK) goto done;
            memcpy(o, dst.data, npx * sizeof(float));
            tg_image_free(&dst);
        }
        st = tg_image_normalize(o, npx, opts->image.norm, opts->image.mean, opts->image.std);
        if (st != TG_OK) goto done;
        char name[64];
        snprintf(name, sizeof name, "#%zu", i);
        size_t plen = strlen(images_path) + strlen(name) + 1;
        out->paths[k] = malloc(plen);
        if (!out->paths[k]) {
            st = tg_error(TG_ERR_NOMEM, "out of memory");
            goto done;
        }
        snprintf(out->paths[k], plen, "%s%s", images_path, name);
        out->labels[k] = c;
        out->n = ++k;
    }
    if ((st = make_classes(labels, seen, n_seen, &out->class_names, &out->n_classes)) != TG_OK)
        goto done;
    st = tg_ds_assign_groups(out, NULL);
done:
    free(seen);
    tg_image_free(&src);
    tg_image_free(&dst);
    tg_idx_free(&im);
    tg_idx_free(&lb);
    if (st != TG_OK) tg_dataset_free(out);
    return st;
}
