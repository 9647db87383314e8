/* batchnorm's eval-mode forward one image at a time, for the forwards that fuse it
 * (sepconv2d's: tg_op.fuses). Internal to ops/. */
#ifndef TG_BATCHNORM_H
#define TG_BATCHNORM_H

#include <stdint.h>

#include "autograd/tg_op.h"
#include "ops/tg_op_util.h"

/* 1 when n is a batchnorm of (N, C, H, W) in a graph in eval mode (running
 * statistics): each image's output is a per-channel affine map of its input. */
int tg_batchnorm_is_eval(const tg_node *n);

/* a, b (C): that map, y = a x + b, as batchnorm's forward computes it. */
void tg_batchnorm_eval_affine(const tg_node *n, float *a, float *b);

/* y (C, S) = a act(x) + b per channel, for one image of S = H*W pixels per channel:
 * the same numbers as the activation and then batchnorm's forward. Each row of x is
 * activated in place just before its affine, while it is in cache. */
void tg_batchnorm_apply(float *x, int64_t c, int64_t s, tg_act act, const float *a, const float *b,
                        float *y);

#endif
