/* Internal: the dataset builder the layouts share. A layout lists image files
 * with a label and a group name; the builder decodes them (in parallel, through
 * the cache), applies the skip/stop policy and fills a tg_dataset. */
#ifndef TG_DS_BUILD_H
#define TG_DS_BUILD_H

#include "datasets/tg_dataset.h"
#include "datasets/tg_ds_util.h"

typedef struct tg_ds_builder {
    const tg_dataset_opts *opts;
    tg_dataset *ds; /* summary is filled as items are skipped */
    char **paths;
    int *labels;
    char **groups; /* NULL entries: the image is its own group */
    int *splits;   /* NULL, or per item a tg_split_part from a split column */
    int *folds;    /* NULL, or per item a fold number from a fold column */
    size_t n, cap;
} tg_ds_builder;

/* Start a build into ds (zeroed here). */
void tg_ds_builder_init(tg_ds_builder *b, const tg_dataset_opts *opts, tg_dataset *ds);
/* Queue an image file with its class and optional group name. */
tg_status tg_ds_builder_add(tg_ds_builder *b, const char *path, int label, const char *group);
/* Tag the item added last with its split (TG_PART_*, or -1) and fold (>= 0, or -1). */
tg_status tg_ds_builder_tag(tg_ds_builder *b, int split, int fold);
/* Record a skipped item in the summary (and the log). */
tg_status tg_ds_builder_skip(tg_ds_builder *b, const char *what, const char *why);
/* Decode everything queued, take ownership of class_names (n_classes strings),
 * and finish the dataset; `location` names the data for the default cache path.
 * On failure the dataset is freed. The builder is freed either way. */
tg_status tg_ds_builder_finish(tg_ds_builder *b, char **class_names, int n_classes,
                               const char *location);
/* Free a builder without finishing. */
void tg_ds_builder_free(tg_ds_builder *b);
/* Why a label spec cannot be used (an empty label, '*' among the positives, a label that
 * is both, negatives without positives), written to msg; NULL when it is fine. *in_negative
 * says which list is at fault, so a spec can point at its key. */
const char *tg_label_spec_problem(const tg_label_spec *ls, int *in_negative, char *msg,
                                  size_t size);
/* Assign group ids from names (NULL name: own group, named by paths[i]). */
tg_status tg_ds_assign_groups(tg_dataset *ds, char **names);

#endif
