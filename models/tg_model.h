/* Declarative Siamese models: parse a model file (docs/model-format.md) into a
 * tg_model_def, build it into a graph whose two towers share one set of layers,
 * embed single images through one tower, and print a Keras/Darknet-style summary.
 * Op and attribute names come from the registry, so a user op needs no parser change.
 *
 *   tg_model_def *def;
 *   if (tg_model_def_parse_file("models/siamese_small.tg", &def))
 *       fprintf(stderr, "%s\n", tg_last_error());    // "file:line:col: what was expected"
 *   tg_model *m;
 *   if (tg_model_build(def, 0, &m) == TG_OK) {        // 0: the train line's batch
 *       tg_model_summary(m, 32, stdout);
 *       ... tg_input_set(m->a, ...), tg_graph_forward(m->graph, m->loss), backward ...
 *       tg_model_embed(m, images, n, embeddings);       // eval mode, one tower, any n
 *   }
 *   tg_model_free(m); tg_model_def_free(def);
 */
#ifndef TG_MODEL_H
#define TG_MODEL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "autograd/tg_error.h"
#include "autograd/tg_graph.h"
#include "autograd/tg_op.h"
#include "autograd/tg_optim.h"
#include "autograd/tg_schedule.h"
#include "autograd/tg_export.h"

TG_API_BEGIN

/* Limits of the model-file format; input beyond them is an error, never a crash. */
#define TG_MODEL_MAX_FILE (1 << 20) /* bytes in a model file */
#define TG_MODEL_MAX_LINE 1024      /* bytes in one line, comment included */
#define TG_MODEL_MAX_LAYERS 1024    /* layer lines in one file */
#define TG_MODEL_MAX_NAME 64        /* bytes in a layer name, including the NUL */
#define TG_MODEL_MAX_DIM 8192       /* largest input height or width */
#define TG_MODEL_MAX_CHANNELS 1024  /* largest input channel count */

/* The image input as a layer reference: `in=input`. */
#define TG_MODEL_INPUT (-1)

/* One tower layer line. */
typedef struct tg_model_layer {
    char name[TG_MODEL_MAX_NAME]; /* given ("c1: conv2d ...") or generated ("conv2d_1") */
    const tg_op *op;
    char *attrs;               /* "key=value ..." as written, without in= (for messages) */
    tg_attrs parsed;           /* the same, parsed once: what the builder uses */
    int n_inputs;              /* == op->n_inputs */
    int inputs[TG_MAX_INPUTS]; /* layer indices, or TG_MODEL_INPUT for the image */
    int line, col;             /* of the op name: where shape errors point */
    int in_col;                /* column of in= (0 when the input is implicit) */
} tg_model_layer;

/* The training settings of the `train` line (defaults where a key is absent). */
typedef struct tg_model_train {
    tg_optimizer_config optim;   /* kind and hyper-parameters (weight_decay, beta2, ...) */
    tg_schedule_config schedule; /* kind and fields; schedule.lr == lr */
    double lr;                   /* base learning rate (default 1e-3) */
    int batch;                   /* pairs per batch (default 32) */
    int epochs;                  /* (default 10) */
    uint64_t seed;               /* graph init, shuffling, pairs, dropout (default 1) */
    int early_stop;              /* stop after this many epochs without a better validation
                                    loss; 0 = never (default) */
    double clip;                 /* clip the gradient's global norm to this; 0 = off (default) */
    int augment;                 /* 1: mild augmentation of training images (default 0) */
} tg_model_train;

/* A parsed model file. The text is kept verbatim: a checkpoint stores it, and
 * parsing it again gives the same definition. */
typedef struct tg_model_def {
    char *source;                /* file name used in messages */
    char *text;                  /* the file's text, verbatim */
    int height, width, channels; /* the `input` line */
    int n_layers;
    tg_model_layer *layers; /* in file order */
    int *order;             /* n_layers indices: the build order (inputs first) */
    int output;             /* index of the embedding layer */
    int normalize;          /* siamese normalize=: l2normalize both embeddings */
    const tg_op *distance;  /* siamese distance= (l2 is l2distance) */
    const tg_op *loss;      /* siamese loss= */
    char *loss_attrs;       /* the loss op's attributes from the siamese line, as written */
    tg_attrs loss_parsed;   /* the same, parsed once */
    int input_line, siamese_line, siamese_col, train_line;
    tg_model_train train;
    /* The optional triplet line: train on batches of P classes x K images with a
     * triplet loss over mined triplets instead of pairs (docs/model-format.md). */
    int triplet_line;         /* 0: no triplet line */
    int triplet_classes;      /* P (default 8) */
    int triplet_per_class;    /* K (default 4) */
    char *triplet_mine_attrs; /* "mining=..." for triplet_mine */
    char *triplet_loss_attrs; /* "margin=... average=..." for triplet_loss */
} tg_model_def;

/* A built model: one graph holding both towers (one set of parameters), the
 * distance and the loss. Inputs: a, b (N, C, H, W), y (N) with 0 similar, 1 dissimilar. */
typedef struct tg_model {
    tg_model_def *def; /* owned: a private copy of the definition */
    tg_graph *graph;
    tg_node *a, *b, *y;
    tg_node *ea, *eb;  /* the embeddings (normalized when the head says so) */
    tg_node *distance; /* (N) */
    tg_node *loss;     /* scalar, flagged TG_NODE_LOSS */
    /* With a triplet line: labels (N) for the images in a, the (N, N) distances of the
     * embeddings ea, the mined triplets (T, 3) and their loss (scalar, a TG_NODE_LOSS);
     * all NULL without one. Training steps on triplet_loss; evaluation uses the pairs. */
    tg_node *labels, *pairwise, *mined, *triplet_loss;
    int batch;                   /* the batch size the inputs were built with */
    int embed_dim;               /* floats per embedding */
    const tg_model_train *train; /* == &def->train */
    tg_layer **layers;           /* def->n_layers, in file order */
    tg_node **tower_a;           /* each layer's node on the a branch, in file order */
    tg_node **tower_b;           /* ... and on the b branch */
} tg_model;

/* Parse a model file; on error *def is NULL and the message reads "file:line:col: ...". */
tg_status tg_model_def_parse_file(const char *path, tg_model_def **def);
/* Parse model text (NUL-terminated); `name` stands for the file in messages. */
tg_status tg_model_def_parse_text(const char *name, const char *text, tg_model_def **def);
/* A schedule written "KIND key=value ..." (twingrad train --schedule), read with the
 * train line's checks and messages: the kind, key=value form, repeated keys, settings
 * the kind does not read, step_size and t_max required, then tg_schedule_config_validate
 * with the rate `lr` (min_lr is checked against it; lr= itself is refused). Errors read
 * "src:1:col: ..." (src NULL: "schedule"). */
tg_status tg_model_schedule_parse(const char *src, const char *text, double lr,
                                  tg_schedule_config *out);
/* A deep copy of def (NULL when out of memory): no text is parsed again. */
tg_model_def *tg_model_def_copy(const tg_model_def *def);
/* Free a definition; NULL is fine. */
void tg_model_def_free(tg_model_def *def);
/* Index of the layer named `name`, or -1. */
int tg_model_def_find(const tg_model_def *def, const char *name);

/* Build the Siamese graph for `batch` pairs (<= 0: the train line's batch; with a
 * triplet line classes x per_class, the batch triplet training builds). Shape
 * errors name the layer's file:line:col. The model keeps its own copy of def. What the
 * model will hold (parameters, gradients, optimizer-free activations) is computed from a
 * shape-only build first and refused with TG_ERR_LIMIT above the memory budget. */
tg_status tg_model_build(const tg_model_def *def, int batch, tg_model **model);
/* The same with every parameter left at zero and no initialiser run: for a model
 * whose parameters a checkpoint restores next (tg_checkpoint_restore). */
tg_status tg_model_build_for_restore(const tg_model_def *def, int batch, tg_model **model);
/* The same graph with shapes only (tg_graph_new_shape_only): no weights are allocated or
 * initialised, so any model file costs a few bytes per layer. Enough for tg_model_summary
 * and tg_model_stats_get; it cannot run or embed. */
tg_status tg_model_build_shapes(const tg_model_def *def, int batch, tg_model **model);
/* Free the model and its graph; NULL is fine. */
void tg_model_free(tg_model *model);
/* Embed n images (n x C x H x W floats) through one tower in eval mode, in chunks
 * of the model's batch size, into out (n x embed_dim floats). The embeddings are
 * unit-length when the model normalises (siamese normalize=true), else the raw
 * output of the embedding layer. The graph's mode is restored afterwards; input b
 * is left as it was. */
tg_status tg_model_embed(tg_model *model, const float *images, int64_t n, float *out);

/* Totals of the summary, for a batch of `batch` pairs. */
typedef struct tg_model_stats {
    int64_t params;       /* trainable floats (one tower: the towers share them) */
    int64_t state;        /* non-trainable floats (batch-norm running statistics) */
    double flops;         /* forward FLOPs of one image through one tower */
    int64_t tower_floats; /* activation floats of one tower for `batch` images */
    int64_t tower_bytes;  /* values + gradients of one tower's activations, bytes */
    int64_t total_bytes;  /* both towers and the head, values + gradients, bytes */
    /* The values a forward keeps (tg_graph_plan_bytes at the model's batch, scaled to
     * `batch`): a training step's (TG_VALUES_BACKWARD, both towers and the head) and an
     * embedding's (TG_VALUES_TARGET, one tower). */
    int64_t train_value_bytes, embed_value_bytes;
} tg_model_stats;

/* Compute the summary totals for `batch` pairs (<= 0: the model's batch). */
tg_status tg_model_stats_get(const tg_model *model, int batch, tg_model_stats *stats);
/* Write the layer table (name, op, output shape, parameters, FLOPs) and the totals
 * with the activation memory for `batch` pairs to f. */
tg_status tg_model_summary(const tg_model *model, int batch, FILE *f);
/* The same table into buf (snprintf rules: always NUL-terminated when size > 0);
 * returns the length the full text needs, or -1 on error. */
int64_t tg_model_summary_str(const tg_model *model, int batch, char *buf, size_t size);

TG_API_END

#endif
