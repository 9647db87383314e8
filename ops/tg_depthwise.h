/* The depthwise plane kernels of op_depthwise.c, shared with conv2d: a conv2d of a
 * one-channel input is a depthwise conv with multiplier F, with the same weight
 * (F, 1, K, K), bias (F) and output (N, F, Ho, Wo) layouts. Internal to ops/. */
#ifndef TG_DEPTHWISE_H
#define TG_DEPTHWISE_H

#include <stddef.h>

#include "ops/tg_im2col.h"

/* The workers' areas in a scratch: worker t's starts at base + t * stride and
 * begins with its tg_dw_work_floats(g) floats of padded planes. */
typedef struct tg_dw_work {
    float *base;
    size_t stride;
    int workers;
} tg_dw_work;

/* Floats of one worker's padded planes (0 where the general kernels run: the
 * padded ones take K = 3, stride 1, at most 2 of padding on a side). */
size_t tg_dw_work_floats(const tg_conv_geom *g);

/* y = act(b + the depthwise conv of x): one parallel region over the N*C input
 * planes by work's workers; keep (C padded planes) or NULL: where to leave the
 * padded input for tg_dw_backward (one image).
 * x: (N, C, H, W)  w: (C*M, K*K)  b: (C*M) or NULL  y: (N, C*M, Ho, Wo) */
void tg_dw_forward(const tg_conv_geom *g, int batch, int m, tg_act act, const float *x,
                   const float *w, const float *b, float *y, const tg_dw_work *work, float *keep);

/* dx (N, C, H, W) += ..., dw (C*M, K*K) += ..., db (C*M) += ... from dz (N, C*M, Ho, Wo),
 * each output may be NULL; with dx_fresh, dx's old contents are ignored (the numbers
 * of adding to zeros). One parallel region over input channels, each summing over
 * its images in order (deterministic). kept: tg_dw_forward's keep, or NULL. */
void tg_dw_backward(const tg_conv_geom *g, int batch, int m, const float *x, const float *w,
                    const float *dz, float *dx, int dx_fresh, float *dw, float *db,
                    const tg_dw_work *work, float *kept);

#endif
