/* twingrad — graph-based reverse-mode autodiff for Siamese networks.
 *
 * Build a static graph once (inputs, layers applied to them, a distance and a
 * loss), then run forward/backward over it batch after batch. A layer applied to
 * both inputs of a pair is one set of weights: that is the Siamese tower.
 *
 *   tg_graph *g = tg_graph_new(42);
 *   tg_node *a = tg_graph_input(g, "a", tg_shape2(32, 10));
 *   tg_node *b = tg_graph_input(g, "b", tg_shape2(32, 10));
 *   tg_node *y = tg_graph_input(g, "y", tg_shape1(32));     // 0 similar, 1 dissimilar
 *   tg_layer *tower = tg_graph_layer(g, "dense", "tower", "units=8 act=tanh");
 *   tg_node *d = tg_graph_op(g, "l2distance", "d", NULL,
 *                            (tg_node *[]){tg_layer_apply1(tower, a), tg_layer_apply1(tower, b)},
 * 2); tg_node *loss = tg_graph_op(g, "contrastive", "loss", "margin=1", (tg_node *[]){d, y}, 2);
 *   // per batch: tg_input_set(a, ...); ...; then forward, backward, clip and update in one call:
 *   //            tg_train_step(g, loss, opt, &(tg_step_opts){.lr = 1e-3}, NULL);
 *
 * Every call that can fail returns a tg_status (or NULL) and leaves a message in
 * tg_last_error(). See docs/api.md for the guide and docs/ops.md for the ops.
 */
#ifndef TWINGRAD_H
#define TWINGRAD_H

#include "autograd/tg_error.h"
#include "autograd/tg_names.h"
#include "autograd/tg_budget.h"
#include "autograd/tg_rng.h"
#include "autograd/tg_tensor.h"
#include "autograd/tg_op.h"
#include "autograd/tg_plugin.h"
#include "autograd/tg_graph.h"
#include "autograd/tg_gradcheck.h"
#include "autograd/tg_optim.h"
#include "autograd/tg_schedule.h"
#include "autograd/tg_step.h"
#include "autograd/tg_threads.h"
#include "autograd/tg_log.h"
#include "autograd/tg_blas_info.h"
#include "models/tg_model.h"
#include "checkpoint/tg_checkpoint.h"
/* data-parallel training over MPI (or one process) */
#include "dist/tg_comm.h"
#include "dist/tg_dist.h"
#include "export/tg_onnx.h"
/* datasets: decoding, layouts, splits, pairs, augmentation, synthetic X-rays */
#include "datasets/tg_image.h"
#include "datasets/tg_csv.h"
#include "datasets/tg_idx.h"
#include "datasets/tg_cache.h"
#include "datasets/tg_dataset.h"
#include "datasets/tg_split.h"
#include "datasets/tg_pairs.h"
#include "datasets/tg_augment.h"
#include "datasets/tg_synth.h"
/* evaluation and training runs */
#include "eval/tg_metrics.h"
#include "eval/tg_report.h"
#include "eval/tg_eval.h"
#include "train/tg_train.h"
#include "train/tg_cv.h"

#endif
