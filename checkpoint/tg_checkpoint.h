/* Checkpoints: one zlib-compressed, versioned, little-endian, checksummed file holding the
 * model definition text, every parameter and state tensor by name and shape, the optimizer and
 * schedule state, the counters, the RNG states, the best validation figure and user metadata.
 * Loading one is enough to rebuild the model; restoring it continues a run bit-identically.
 * The byte layout is specified in docs/checkpoint-format.md.
 *
 *   tg_checkpoint_data d = {.graph = g, .opt = opt, .sched = &sched, .model_text = text,
 *                           .epoch = epoch, .step = step, .has_best = 1, .best = val_loss,
 *                           .rngs = (tg_checkpoint_rng[]){{"data", &data_rng}}, .n_rngs = 1};
 *   if (tg_checkpoint_save("run/last.tgc", &d)) fprintf(stderr, "%s\n", tg_last_error());
 *   ...
 *   tg_checkpoint *ck;
 *   if (tg_checkpoint_load("run/last.tgc", &ck)) ... tg_last_error() ...
 *   // build the model from tg_checkpoint_model_text(ck, NULL), then:
 *   tg_checkpoint_restore(ck, g, opt, &sched);   // names and shapes checked, all or nothing
 *   tg_checkpoint_rng_get(ck, "data", &data_rng);
 *   tg_checkpoint_free(ck);
 */
#ifndef TG_CHECKPOINT_H
#define TG_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

#include "autograd/tg_error.h"
#include "autograd/tg_graph.h"
#include "autograd/tg_optim.h"
#include "autograd/tg_rng.h"
#include "autograd/tg_schedule.h"
#include "autograd/tg_tensor.h"
#include "autograd/tg_export.h"

TG_API_BEGIN

/* Format constants (docs/checkpoint-format.md). */
#define TG_CHECKPOINT_MAJOR 1u           /* a reader refuses a file with a larger major */
#define TG_CHECKPOINT_MINOR 0u           /* a larger minor only adds sections a reader may skip */
#define TG_CHECKPOINT_MAX_SECTIONS 1024u /* sections in one file */
#define TG_CHECKPOINT_MAX_SECTION_BYTES (1ull << 34) /* uncompressed bytes of one section */
#define TG_CHECKPOINT_MAX_NAME 1024u                 /* bytes of a name or metadata key */
#define TG_CHECKPOINT_STORE (-1) /* tg_checkpoint_data.compression: write sections uncompressed */

/* An extra RNG saved by name (the graph's own is always saved as "graph"). */
typedef struct tg_checkpoint_rng {
    const char *name;
    const tg_rng *rng;
} tg_checkpoint_rng;

/* A free key/value pair of user metadata (keys unique and non-empty). */
typedef struct tg_checkpoint_meta {
    const char *key;
    const char *value;
} tg_checkpoint_meta;

/* Everything a save writes; only graph is required. Save reads, never changes, these. */
typedef struct tg_checkpoint_data {
    tg_graph *graph;          /* parameters, state tensors and the graph RNG */
    tg_optimizer *opt;        /* NULL: no optimizer section */
    const tg_schedule *sched; /* NULL: no schedule section */
    const char *model_text;   /* the model file's verbatim text; NULL is stored as "" */
    int64_t epoch, step;      /* the caller's counters, stored as given */
    int has_best;             /* 1: best holds the best validation figure so far */
    double best;
    const tg_checkpoint_rng *rngs; /* extra RNGs, e.g. {"data", &sampler}; not "graph" */
    int n_rngs;
    const tg_checkpoint_meta *meta;
    int n_meta;
    int compression; /* 0: zlib level 1 (the default); 1..9: that level; TG_CHECKPOINT_STORE: none.
                      * Deflated sections of 4 KiB or more are byte-shuffled first (CK_SHUFFLE). */
} tg_checkpoint_data;

/* A loaded checkpoint: a standalone copy of everything in the file. */
typedef struct tg_checkpoint tg_checkpoint;

/* Write `in` to `path` atomically: a temporary file in the same directory, flushed and
 * fsynced, renamed over `path`, then the directory fsynced. On any failure the temporary file
 * is removed, a previous file at `path` is untouched, and the message names the path and the
 * system error. A caller that sets RLIMIT_FSIZE should ignore SIGXFSZ. */
tg_status tg_checkpoint_save(const char *path, const tg_checkpoint_data *in);
/* The same state to several files (a training run's best.tgc and last.tgc after a best
 * epoch): encoded and compressed once, then written to each path in turn as
 * tg_checkpoint_save writes one. Stops at the first failure. */
tg_status tg_checkpoint_save_copies(const char *const *paths, int n_paths,
                                    const tg_checkpoint_data *in);
/* Remove the temporary files a save of `path` left behind when its process was killed
 * (`path.tmp-` and six letters or digits, in the same directory); nothing else is touched.
 * Call it where no save of `path` can be running. Returns how many were removed (0 when the
 * directory does not exist), or -1 with TG_ERR_IO when it cannot be read. */
int tg_checkpoint_remove_stale(const char *path);

/* Read and verify the whole file at `path` into *out (NULL on error). Checks magic, version,
 * every declared size (before allocating), every checksum and every record; a damaged file
 * gives TG_ERR_FORMAT, TG_ERR_CORRUPT, TG_ERR_VERSION or TG_ERR_LIMIT naming the file. */
tg_status tg_checkpoint_load(const char *path, tg_checkpoint **out);
/* Free a loaded checkpoint; NULL is fine. */
void tg_checkpoint_free(tg_checkpoint *ck);

/* Copy the checkpoint into a model built from its text: every parameter and state tensor by
 * name (names, kinds and shapes must match exactly, none missing or extra), the graph RNG, and
 * when given the optimizer (same kind and size: step count and state arrays) and the schedule
 * (same kind: its state). All is checked before anything is written, so on error (mostly
 * TG_ERR_MISMATCH, naming the tensor and both shapes) nothing has changed. */
tg_status tg_checkpoint_restore(const tg_checkpoint *ck, tg_graph *g, tg_optimizer *opt,
                                tg_schedule *sched);

/* The path the checkpoint was loaded from. */
const char *tg_checkpoint_path(const tg_checkpoint *ck);
/* The file's format version. */
void tg_checkpoint_version(const tg_checkpoint *ck, unsigned *major, unsigned *minor);
/* The model definition text (NUL-terminated); its length in *len when len is not NULL. */
const char *tg_checkpoint_model_text(const tg_checkpoint *ck, size_t *len);
/* The counters as saved. */
int64_t tg_checkpoint_epoch(const tg_checkpoint *ck);
int64_t tg_checkpoint_step(const tg_checkpoint *ck);
/* 1 and *best set when a best validation figure was saved, else 0. */
int tg_checkpoint_best(const tg_checkpoint *ck, double *best);

/* Tensors in saved (graph creation) order: name, shape, 1 for state, data (numel floats). */
int tg_checkpoint_tensor_count(const tg_checkpoint *ck);
const char *tg_checkpoint_tensor_name(const tg_checkpoint *ck, int i);
const tg_shape *tg_checkpoint_tensor_shape(const tg_checkpoint *ck, int i);
int tg_checkpoint_tensor_is_state(const tg_checkpoint *ck, int i);
const float *tg_checkpoint_tensor_data(const tg_checkpoint *ck, int i);
/* Index of the tensor with this name, or -1. */
int tg_checkpoint_tensor_find(const tg_checkpoint *ck, const char *name);

/* The saved optimizer's config, or NULL when the checkpoint has none. */
const tg_optimizer_config *tg_checkpoint_optimizer_config(const tg_checkpoint *ck);
/* Its step count and size (floats per state array); 0 without an optimizer. */
int64_t tg_checkpoint_optimizer_steps(const tg_checkpoint *ck);
int64_t tg_checkpoint_optimizer_size(const tg_checkpoint *ck);
/* Its state arrays: count, name and data (size floats) of array i (NULL out of range). */
int tg_checkpoint_optimizer_state_count(const tg_checkpoint *ck);
const char *tg_checkpoint_optimizer_state_name(const tg_checkpoint *ck, int i);
const float *tg_checkpoint_optimizer_state_data(const tg_checkpoint *ck, int i);
/* Index of the state array with this name, or -1. */
int tg_checkpoint_optimizer_state_index(const tg_checkpoint *ck, const char *name);

/* The saved schedule's config, or NULL when the checkpoint has none. */
const tg_schedule_config *tg_checkpoint_schedule_config(const tg_checkpoint *ck);

/* Copy the saved RNG `name` ("graph" or one the caller saved) into *rng; TG_ERR_UNKNOWN if
 * absent. */
tg_status tg_checkpoint_rng_get(const tg_checkpoint *ck, const char *name, tg_rng *rng);

/* The metadata value for `key`, or NULL. */
const char *tg_checkpoint_meta_get(const tg_checkpoint *ck, const char *key);
/* Metadata in saved order: count, key and value of pair i (NULL out of range). */
int tg_checkpoint_meta_count(const tg_checkpoint *ck);
const char *tg_checkpoint_meta_key(const tg_checkpoint *ck, int i);
const char *tg_checkpoint_meta_value(const tg_checkpoint *ck, int i);

TG_API_END

#endif
