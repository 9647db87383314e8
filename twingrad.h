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
 *                            (tg_node *[]){tg_layer_apply1(tower, a), tg_layer_apply1(tower, b)}, 2);
 *   tg_node *loss = tg_graph_op(g, "contrastive", "loss", "margin=1", (tg_node *[]){d, y}, 2);
 *   // per batch: tg_input_set(a, ...); tg_graph_forward(g, loss); tg_graph_zero_grad(g);
 *   //            tg_graph_backward(g, loss); tg_optimizer_step(opt, params, grads, n, lr);
 *
 * Every call that can fail returns a tg_status (or NULL) and leaves a message in
 * tg_last_error(). See docs/api.md for the guide and docs/ops.md for the ops.
 */
#ifndef TWINGRAD_H
#define TWINGRAD_H

#include "tg_error.h"
#include "tg_rng.h"
#include "tg_tensor.h"
#include "tg_op.h"
#include "tg_graph.h"
#include "tg_gradcheck.h"
#include "tg_optim.h"
#include "tg_schedule.h"
#include "tg_threads.h"
#include "tg_model.h"
#include "tg_checkpoint.h"
/* datasets: decoding, layouts, splits, pairs, augmentation, synthetic X-rays */
#include "tg_image.h"
#include "tg_csv.h"
#include "tg_idx.h"
#include "tg_cache.h"
#include "tg_dataset.h"
#include "tg_split.h"
#include "tg_pairs.h"
#include "tg_augment.h"
#include "tg_synth.h"

#endif
