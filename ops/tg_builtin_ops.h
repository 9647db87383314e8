/* The built-in op table entries, one per op, defined in the ops/op_*.c files
 * (not installed). Adding a built-in op: define it in its family's file, declare
 * it here, and add it to the table in ops/tg_builtin_ops.c. */
#ifndef TG_BUILTIN_OPS_H
#define TG_BUILTIN_OPS_H

#include "autograd/tg_op.h"

extern const tg_op tg_op_relu, tg_op_sigmoid, tg_op_tanh;
extern const tg_op tg_op_dense;
extern const tg_op tg_op_add, tg_op_sub, tg_op_mul, tg_op_scale;
extern const tg_op tg_op_sum, tg_op_mean;
extern const tg_op tg_op_flatten, tg_op_reshape;
extern const tg_op tg_op_l2distance, tg_op_l2normalize, tg_op_contrastive;
extern const tg_op tg_op_conv2d, tg_op_depthwise_conv2d, tg_op_sepconv2d, tg_op_batchnorm;
extern const tg_op tg_op_maxpool2d, tg_op_avgpool2d, tg_op_global_avgpool, tg_op_dropout;
/* op_triplet.c */
extern const tg_op tg_op_pairwise_l2, tg_op_triplet_mine, tg_op_triplet_loss;

#endif
