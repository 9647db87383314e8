/* The in-memory form of a loaded checkpoint, shared by the loader (tg_checkpoint_load.c) and
 * the accessors and restore (tg_checkpoint_restore.c). Not installed. */
#ifndef TG_CHECKPOINT_IMPL_H
#define TG_CHECKPOINT_IMPL_H

#include "checkpoint/tg_checkpoint.h"

/* Section header flags (docs/checkpoint-format.md, 2.2). */
enum { CK_DEFLATE = 1u << 0, CK_CRITICAL = 1u << 1, CK_SHUFFLE = 1u << 2 };

/* The sections this version knows, in the order the writer writes them: the one table the
 * writer and the reader both read (tags, flags written, required or not). */
enum { CK_MODL, CK_TENS, CK_OPTM, CK_SCHD, CK_TRAN, CK_RNGS, CK_META, CK_N_SECTIONS };
typedef struct ck_section_info {
    char tag[5];
    unsigned flags; /* CK_CRITICAL or 0; the writer adds CK_DEFLATE when it compresses */
    int required;   /* a file without it is refused */
} ck_section_info;
extern const ck_section_info tg_ck_sections[CK_N_SECTIONS];

/* 1 when the n bytes at s are well-formed UTF-8 (no overlong forms, no surrogates, nothing
 * above U+10FFFF); names in a checkpoint must be. */
int tg_ck_utf8_valid(const unsigned char *s, size_t n);

/* CK_SHUFFLE's byte planes: out = every 4th byte of in from offset 0, then from 1, 2
 * and 3, then the n % 4 tail bytes as they are; and back. */
void tg_ck_shuffle4(const unsigned char *in, size_t n, unsigned char *out);
void tg_ck_unshuffle4(const unsigned char *in, size_t n, unsigned char *out);

typedef struct ck_tensor {
    char *name;
    int state;
    tg_shape shape;
    float *data;
    int64_t flat_offset; /* parameters: where the values start in the flat vector (TENS order) */
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
