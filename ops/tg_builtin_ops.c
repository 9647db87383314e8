/* The built-in op table: every op family in ops/ contributes its entries here,
 * and the registry in autograd/ reads this table without knowing any family.
 * Adding a built-in op: define it in its family's file (ops/op_*.c), then declare
 * it in ops/tg_builtin_ops.h and add it to the table below. */
#include "autograd/tg_builtin.h"
#include "ops/tg_builtin_ops.h"

const tg_op *const tg_builtin_ops[] = {
    &tg_op_dense,
    &tg_op_relu,
    &tg_op_sigmoid,
    &tg_op_tanh,
    &tg_op_add,
    &tg_op_sub,
    &tg_op_mul,
    &tg_op_scale,
    &tg_op_sum,
    &tg_op_mean,
    &tg_op_flatten,
    &tg_op_reshape,
    &tg_op_l2distance,
    &tg_op_l2normalize,
    &tg_op_contrastive,
    &tg_op_conv2d,
    &tg_op_depthwise_conv2d,
    &tg_op_sepconv2d,
    &tg_op_batchnorm,
    &tg_op_maxpool2d,
    &tg_op_avgpool2d,
    &tg_op_global_avgpool,
    &tg_op_dropout,
    &tg_op_pairwise_l2,
    &tg_op_triplet_mine,
    &tg_op_triplet_loss,
};
const int tg_builtin_op_count = (int)(sizeof tg_builtin_ops / sizeof tg_builtin_ops[0]);
