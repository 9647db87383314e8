/* The forward GEMM of the convolutions, with its epilogue:
 *
 *   C (M, N) = act(A (M, K) . B (K, N) + bias)
 *
 * A is the layer's weights (M filters of K taps, read in place), B the layer's
 * input as K rows of N positions (the depthwise output of a sepconv, an im2col
 * block, Winograd's transformed tiles), C the output planes. These GEMMs are thin
 * (K is 9 to 256) and OpenBLAS spends more on packing A and B and on zeroing C
 * (its beta = 0 path) than on the multiplies, then the bias and the activation
 * take another pass over C. Here eight rows of C by 32 columns (AVX-512; four
 * by 16 elsewhere) stay in registers over all of K, start from the bias, and are
 * written once, ReLU applied (sigmoid and tanh take a pass over C after). Internal
 * to ops/ (not installed). */
#ifndef TG_GEMM_NN_H
#define TG_GEMM_NN_H

#include <stddef.h>

#include "ops/tg_op_util.h"

/* C (m, n) = act(A (m, k) . B (k, n) + bias): A's rows k floats apart, B's ldb,
 * C's ldc (C must not overlap A or B); bias: m floats, or NULL for none. Every
 * element sums its k products in order from the bias (or 0), one fused multiply-add
 * at a time where the CPU has FMA: the same numbers whatever the blocking and
 * the thread count. Called inside a parallel region (a worker's own image) it runs
 * on the calling thread; outside one, a large product has its columns shared out. */
void tg_gemm_nn_bias_act(int m, int n, int k, const float *A, const float *B, size_t ldb,
                         const float *bias, tg_act act, float *C, size_t ldc);

#endif
