/* Training diagnostics (train --diagnostics): per-layer gradient norms, Adam's
 * relative step per layer, the raw embedding length, the share of active
 * contrastive-loss terms, and histograms of validation distances of similar and
 * dissimilar pairs, one block of rows per epoch in RUN/diagnostics.csv. Not installed. */
#ifndef TG_DIAG_H
#define TG_DIAG_H

#include <stddef.h>
#include <stdint.h>

#include "autograd/tg_error.h"
#include "models/tg_model.h"

typedef struct tg_diag tg_diag;

/* Open path for appending (header written when new or truncated to epochs <= keep). */
tg_status tg_diag_open(const char *path, tg_model *m, int64_t keep, tg_diag **out);
/* Before a training step: keep a copy of the parameters (NULL d: nothing). */
void tg_diag_before_step(tg_diag *d);
/* After the step (tg_train_step): the batch's distances, labels and raw embeddings
 * (still in the graph), per-layer gradient norms (after clipping, when clip= is
 * set) and per-layer ||dw|| / ||w||. */
void tg_diag_after_step(tg_diag *d, double margin);
/* At the end of an epoch: write its rows (validation distances and 0/1 labels). */
tg_status tg_diag_epoch(tg_diag *d, int64_t epoch, const float *val_dist, const int *val_labels,
                        size_t n, double margin);
void tg_diag_free(tg_diag *d);

#endif
