/* The in-memory form of a loaded checkpoint, shared by the loader (tg_checkpoint_load.c) and
 * the accessors and restore (tg_checkpoint_restore.c). Not installed. */
#ifndef TG_CHECKPOINT_IMPL_H
#define TG_CHECKPOINT_IMPL_H

#include "checkpoint/tg_checkpoint.h"

typedef struct ck_tensor {
    char *name;
    int state;
    tg_shape shape;
    float *data;
} ck_tensor;

typedef struct ck_array { /* an optimizer state array */
    char *name;
    float *data;
} ck_array;

typedef struct ck_value { /* a schedule state value */
    char *name;
    double v;
} ck_value;

typedef struct ck_rng {
    char *name;
    tg_rng rng;
} ck_rng;

typedef struct ck_meta {
    char *key, *value;
} ck_meta;

typedef struct ck_index { /* a name and its position, sorted by name for lookups */
    const char *name;
    int i;
} ck_index;

struct tg_checkpoint {
    char *path;
    unsigned major, minor;
    char *model;
    size_t model_len;
    int n_tensors;
    ck_tensor *tensors;
    ck_index *by_name; /* tensors sorted by name */
    int has_opt;
    tg_optimizer_config opt_cfg;
    int64_t opt_steps, opt_size;
    int n_arrays;
    ck_array *arrays;
    int has_sched;
    tg_schedule_config sched_cfg;
    int n_sched;
    ck_value *sched_state;
    int64_t epoch, step;
    int has_best;
    double best;
    int n_rngs;
    ck_rng *rngs;
    int n_meta;
    ck_meta *meta;
};

#endif
