/* Winograd's minimal filtering F(2x2, 3x3) for stride-1 3x3 convolutions: each
 * 2x2 block of outputs is computed from a 4x4 input tile with 16 multiplies per
 * (filter, channel) pair instead of 36, so the GEMMs do 2.25 times fewer flops
 * than im2col's. Lavin and Gray, "Fast Algorithms for Convolutional Neural
 * Networks" (CVPR 2016). Internal to ops/ (not installed).
 *
 *   U = G g G^T    (filter g 3x3 -> 4x4)      G   = [1 0 0; .5 .5 .5; .5 -.5 .5; 0 0 1]
 *   V = B^T d B    (input tile d 4x4 -> 4x4)  B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]
 *   Y = A^T M A    (M 4x4 -> output 2x2)      A^T = [1 1 1 0; 0 1 -1 -1]
 * where M[xi] = sum over channels of U[xi] V[xi]: one GEMM per tile position xi.
 * The weight gradient is that identity differentiated: with Z = A dY A^T for each
 * tile's 2x2 output gradient dY, dg = G^T (sum over tiles of Z (.) V) G, again one
 * GEMM per xi, now summing over the tiles (Lavin and Gray, section 4).
 *
 * F(4x4, 3x3) (m = 4) does the same with 6x6 input tiles and 36 GEMMs per block of
 * tiles for 4x4 outputs: 36 multiplies per 16 outputs instead of 64, for the forward
 * and the input gradient (the weight gradient stays F(2x2, 3x3)). Its points are 0,
 * 1, -1, 2 and -1/2 (B^T, G and A^T in tg_winograd.c); its outputs round about 25
 * times further from the exact sums than F(2x2, 3x3)'s (docs/ops-conv.md). */
#ifndef TG_WINOGRAD_H
#define TG_WINOGRAD_H

#include <stddef.h>

#include "ops/tg_op_util.h"

/* One image's correlation: input planes (C, H, W) zero-padded by pt rows on top
 * and pl columns on the left (0..2, the rest of the padding implied by Ho, Wo),
 * output planes (F, Ho, Wo). */
typedef struct tg_wino_geom {
    int c, h, w;
    int f, ho, wo;
    int pt, pl;
    int m; /* output tile: 2 for F(2x2, 3x3), 4 for F(4x4, 3x3) */
} tg_wino_geom;

/* Floats of the transformed filters U (S, F, C), S = (m + 2)^2 tile positions. */
size_t tg_wino_filter_floats(int f, int c, int m);
/* U (S, F, C) of w (F, C, 3, 3) for output tiles of m x m. With `flip`, the filters
 * of the input gradient instead: w'[c, f] = w[f, c] rotated by 180 degrees, U (S, C, F). */
void tg_wino_filters(const float *w, int f, int c, int m, int flip, float *U);
/* Floats of one worker's scratch for tg_wino_conv on this geometry. */
size_t tg_wino_scratch_floats(const tg_wino_geom *g);
/* out (F, Ho, Wo) = act(bias + in * w), or out += in * w when `accumulate` (then
 * bias must be NULL and act none); U from tg_wino_filters. Tiles are done a block
 * of tile rows at a time, the 16 products by a register-blocked loop of its own. */
void tg_wino_conv(const tg_wino_geom *g, const float *U, const float *in, const float *bias,
                  tg_act act, int accumulate, float *out, float *scratch);

/* tg_wino_conv without accumulate, the image's blocks of tile rows shared among
 * `workers` threads (worker t's scratch at scratch + t * stride; one: serial). With
 * `pooled` instead of out: pooled (F, Ho / 2, Wo / 2) = the 2x2 max pool at stride 2
 * (tg_pool.h) of act(bias + in * w), each pair of output rows pooled while it is in
 * cache instead of written out. The same numbers as tg_wino_conv (then maxpool2d). */
void tg_wino_conv_shared(const tg_wino_geom *g, const float *U, const float *in, const float *bias,
                         tg_act act, float *out, float *pooled, float *scratch, size_t stride,
                         int workers);

/* Floats of one worker's scratch for tg_wino_wgrad on this geometry (m = 2). */
size_t tg_wino_wgrad_scratch_floats(const tg_wino_geom *g);
/* dw (F, C, 3, 3) += the weight gradient of one image: in (C, H, W) the conv's
 * input, dz (F, Ho, Wo) the gradient of its output (before bias and activation).
 * Sums in a fixed order: the same numbers for the same inputs on the same CPU.
 * F(2x2, 3x3) tiles: g->m is 2. */
void tg_wino_wgrad(const tg_wino_geom *g, const float *in, const float *dz, float *dw,
                   float *scratch);

#endif
