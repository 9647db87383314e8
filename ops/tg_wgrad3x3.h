/* The weight gradient of a stride-1 3x3 convolution computed directly, without
 * im2col: dW[f][c][kh][kw] = sum over outputs of dz[f][oh][ow] x[c][oh-pt+kh][ow-pl+kw].
 * With output rows padded to Wo + 2 columns (two zeros after each), the input
 * under tap (kh, kw) is one zero-padded copy of the input shifted by
 * kh (Wo + 2) + kw. dz is transposed into panels of 32 filters (AVX-512) or 8
 * (otherwise), so that one vector holds a position's gradient for a panel's
 * filters; each input value under each of the nine taps is broadcast against
 * it: a GEMM whose second operand is read from the shifted rows in place. The
 * im2col path writes nine copies of the input and has OpenBLAS pack them again.
 * Internal to ops/ (not installed). */
#ifndef TG_WGRAD3X3_H
#define TG_WGRAD3X3_H

#include <stddef.h>

#include "ops/tg_im2col.h"

/* Floats of the scratch tg_wgrad3x3 needs for geometry g (k = 3, stride 1,
 * 0 <= pt, pl <= 2) and f output channels. */
size_t tg_wgrad3x3_scratch_floats(const tg_conv_geom *g, int f);
/* dw (F, C, 3, 3) += the weight gradient of one image: x (C, H, W), dz (F, Ho, Wo)
 * the gradient of the conv's output (before bias and activation). Sums in a
 * fixed order: the same numbers for the same inputs on the same CPU. */
void tg_wgrad3x3(const tg_conv_geom *g, int f, const float *x, const float *dz, float *dw,
                 float *scratch);

#endif
