/* Datasets: N labelled grayscale images as one contiguous (N,1,H,W) float array,
 * loaded from a folder per class, a metadata CSV, IDX files or a spec string,
 * with a summary of what was loaded and what was skipped and why.
 *
 *   tg_dataset ds;
 *   tg_dataset_opts o = tg_dataset_opts_default(150, 150);
 *   if (tg_dataset_load_spec("csv:data/metadata.csv,image=patientid,label=finding,"
 *                            "positive=COVID-19,negative=*", &o, &ds) != TG_OK)
 *       fprintf(stderr, "%s\n", tg_last_error());
 *   tg_dataset_summary_print(&ds, stdout);
 *   tg_dataset_free(&ds);
 */
#ifndef TG_DATASET_H
#define TG_DATASET_H

#include <stddef.h>
#include <stdio.h>

#include "autograd/tg_error.h"
#include "datasets/tg_image.h"
#include "autograd/tg_export.h"

TG_API_BEGIN

/* Where a user-given split (split=COL) puts an image. */
typedef enum tg_part { TG_PART_TRAIN = 0, TG_PART_VAL = 1, TG_PART_TEST = 2 } tg_part;

/* What happens when one image cannot be decoded. */
typedef enum tg_on_error {
    TG_ON_ERROR_SKIP = 0, /* leave it out, record why in the summary (default) */
    TG_ON_ERROR_STOP,     /* fail the whole load with that image's error */
} tg_on_error;

typedef struct tg_dataset_opts {
    tg_image_opts image;    /* target size, aspect, normalisation, pixel limit */
    tg_on_error on_error;   /* skip or stop on an undecodable image */
    const char *cache_path; /* decoded-image cache file; NULL = no cache, "auto" = default */
    FILE *log;              /* warnings as they happen (NULL: only in the summary) */
} tg_dataset_opts;

/* Which labels are the positive class and which the negative one. With no
 * positive labels every distinct label is its own class (sorted by name). */
typedef struct tg_label_spec {
    const char *const *positive; /* labels of class 1 */
    size_t n_positive;
    const char *const *negative; /* labels of class 0; a "*" entry = every other label */
    size_t n_negative;
} tg_label_spec;

/* A metadata CSV layout (Figure 1 / covid-chestxray-dataset style). */
typedef struct tg_csv_layout {
    const char *csv_path;
    const char *images_dir;   /* NULL: "images" next to the CSV if it exists, else the CSV's dir */
    const char *image_column; /* a file name, or a stem tried with known extensions */
    const char *label_column;
    const char *group_column; /* NULL: every image is its own group */
    tg_label_spec labels;
    const char *split_column; /* NULL, or rows say train, val or test (user-given split) */
    const char *fold_column;  /* NULL, or rows give a cross-validation fold (integer >= 0) */
    int allow_outside; /* 0 (default): an image field must stay inside images_dir (no absolute
                          path, no ".." component); 1: any path is followed */
} tg_csv_layout;

/* One skipped item and the reason. */
typedef struct tg_skip {
    char *what; /* file path or "file.csv:line" */
    char *why;
} tg_skip;

typedef struct tg_dataset_summary {
    size_t rows;           /* CSV records or files examined */
    size_t empty_label;    /* left out: empty label */
    size_t excluded_label; /* left out: label neither positive nor negative */
    size_t missing_file;   /* left out: image file not found */
    size_t not_image;      /* left out: file is not a PNG/JPEG/PNM (folders layout) */
    size_t decode_failed;  /* left out: decode error (TG_ON_ERROR_SKIP) */
    size_t cache_hits;     /* images taken from the cache instead of decoded */
    char cache_note[256];  /* why the cache was not used, if it was not */
    double seconds;        /* wall time of the load */
    tg_skip *skips;        /* every skipped item except empty/excluded labels */
    size_t n_skips;
} tg_dataset_summary;

typedef struct tg_dataset {
    size_t n;          /* images */
    int height, width; /* every image's size */
    float *images;     /* (n, 1, height, width), contiguous: a ready batch */
    int *labels;       /* (n) class index in [0, n_classes) */
    int *groups;       /* (n) group index in [0, n_groups) */
    char **paths;      /* (n) source of each image */
    int n_classes;
    char **class_names; /* (n_classes) */
    size_t n_groups;
    char **group_names; /* (n_groups) */
    int *parts;         /* NULL, or (n) a tg_part per image from the spec's split column */
    int *folds;         /* NULL, or (n) fold numbers 0..n_folds-1 from the spec's fold column */
    int n_folds;
    tg_dataset_summary summary;
} tg_dataset;

/* Options with a target size, skip-on-error, no cache, no log. */
tg_dataset_opts tg_dataset_opts_default(int width, int height);
/* Load a folder per class: root/<class>/<image>; classes in name order. */
tg_status tg_dataset_load_folders(const char *root, const tg_dataset_opts *opts, tg_dataset *out);
/* Load images named by a metadata CSV. */
tg_status tg_dataset_load_csv(const tg_csv_layout *layout, const tg_dataset_opts *opts,
                              tg_dataset *out);
/* Load IDX images (N, rows, cols) u8 and labels (N) u8; opts->image size 0 keeps rows x cols. */
tg_status tg_dataset_load_idx(const char *images_path, const char *labels_path,
                              const tg_label_spec *labels, const tg_dataset_opts *opts,
                              tg_dataset *out);
/* Load from a spec string (syntax in docs/datasets.md); keys in the spec
 * override the matching fields of base (size, aspect, norm, cache, on_error). */
tg_status tg_dataset_load_spec(const char *spec, const tg_dataset_opts *base, tg_dataset *out);
/* The image options a spec's common keys (size, aspect, pad, norm, mean, std,
 * max_pixels) make of `base`: how single images must be prepared to match a
 * dataset loaded from that spec. */
tg_status tg_dataset_spec_image_opts(const char *spec, const tg_image_opts *base,
                                     tg_image_opts *out);
/* Pointer to image i: height*width floats. */
float *tg_dataset_image(const tg_dataset *ds, size_t i);
/* Number of images of class c. */
size_t tg_dataset_class_count(const tg_dataset *ds, int c);
/* Print the load summary (images per class, skipped items and why). */
void tg_dataset_summary_print(const tg_dataset *ds, FILE *f);
/* Free everything (safe on a zeroed struct). */
void tg_dataset_free(tg_dataset *ds);

TG_API_END

#endif
