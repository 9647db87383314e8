/* Train/validation/test splits without leakage: seeded, stratified by class,
 * by image or by group (a patient's images all land in one split), and class
 * balancing by undersampling as the seed paper does. */
#ifndef TG_SPLIT_H
#define TG_SPLIT_H

#include <stddef.h>

#include "datasets/tg_dataset.h"
#include "autograd/tg_error.h"
#include "autograd/tg_rng.h"
#include "autograd/tg_export.h"

TG_API_BEGIN

typedef struct tg_split {
    size_t *train, *val, *test; /* image indices into the dataset, ascending */
    size_t n_train, n_val, n_test;
} tg_split;

/* Split ds stratified by class: about val_frac and test_frac of each class's
 * images go to validation and test, the rest to training. With by_group, whole
 * groups are assigned (a group counts for the class most of its images have). */
tg_status tg_dataset_split(const tg_dataset *ds, double val_frac, double test_frac, int by_group,
                           tg_rng *rng, tg_split *out);
/* The same for the images ds[idx[0..n)] only (the split's arrays hold dataset indices). */
tg_status tg_split_subset(const tg_dataset *ds, const size_t *idx, size_t n, double val_frac,
                          double test_frac, int by_group, tg_rng *rng, tg_split *out);
/* Assign every image of ds to one of k folds (fold_of: ds->n ints), stratified by
 * class and, with by_group, keeping each group in one fold; seeded by rng. */
tg_status tg_split_folds(const tg_dataset *ds, int k, int by_group, tg_rng *rng, int *fold_of);
/* Cut every class in idx[0..*n) down to the size of the smallest class present,
 * keeping a random subset (seeded) in the original order; *n is updated. */
tg_status tg_split_undersample(const tg_dataset *ds, size_t *idx, size_t *n, tg_rng *rng);
/* Free the index arrays (safe on a zeroed struct). */
void tg_split_free(tg_split *s);

/* How class imbalance is handled in training pairs. */
typedef enum tg_balance {
    TG_BALANCE_PAIRS = 0,   /* keep every image; anchors drawn class-balanced (default) */
    TG_BALANCE_UNDERSAMPLE, /* the seed paper: cut the larger class to the smaller */
} tg_balance;

TG_API_END

#endif
