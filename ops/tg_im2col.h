/* Window geometry shared by the convolution and pooling ops (padding rules,
 * output sizes) and the im2col / col2im transforms that turn a convolution into
 * one GEMM. Internal to ops/ (not installed). */
#ifndef TG_IM2COL_H
#define TG_IM2COL_H

#include <stdint.h>

#include "autograd/tg_error.h"
#include "ops/tg_op_util.h"

/* pad= attribute choices; "same" first: it is the conv default. */
typedef enum tg_pad { TG_PAD_SAME, TG_PAD_VALID } tg_pad;
#define TG_PAD_CHOICES "same|valid"

/* One image plane's window geometry: a K x K window moved by `stride` over an
 * H x W plane padded by pt/pb rows and pl/pr columns, giving Ho x Wo outputs. */
typedef struct tg_conv_geom {
    int c, h, w;   /* input channels and plane size */
    int k, stride; /* square window and its step */
    int pt, pl;    /* padding before (top, left); after is implied by ho, wo */
    int ho, wo;    /* output plane size */
} tg_conv_geom;

/* Geometry for pad mode `pad`, overridden by an explicit symmetric `padding` >= 0.
 *   same (TensorFlow/Keras): ho = ceil(h / s), total = max((ho - 1) s + k - h, 0),
 *        top = total / 2, the odd extra row at the bottom (likewise columns).
 *   valid: no padding, ho = floor((h - k) / s) + 1.
 *   padding = p: p on every side, ho = floor((h + 2p - k) / s) + 1.
 * A window that does not fit gives TG_ERR_SHAPE; `what` names the window
 * ("kernel", "pool size") in the message. */
tg_status tg_conv_geom_init(tg_conv_geom *g, const char *what, int c, int h, int w, int k,
                            int stride, tg_pad pad, int padding);

/* col (C*K*K, (oh1-oh0)*Wo) for the output rows [oh0, oh1): row (c, kh, kw),
 * column (oh - oh0, ow) holds the input pixel under that tap, or 0 in the padding.
 * x: (C, H, W) one image. Serial on purpose: it runs between GEMMs, on a block
 * sized for the cache, and an OpenMP region there would leave spinning workers
 * competing with OpenBLAS's threads (see docs/ops-conv.md, Threading). */
void tg_im2col(const tg_conv_geom *g, const float *x, int oh0, int oh1, float *col);
/* dx (C, H, W) += the sum, over every tap, of col (C*K*K, (oh1-oh0)*Wo): the adjoint
 * of tg_im2col for the same rows. Serial, like tg_im2col. */
void tg_col2im_add(const tg_conv_geom *g, const float *col, int oh0, int oh1, float *dx);

/* Serial helpers for the passes between GEMMs (see tg_im2col). Activations use the
 * same formulas as tg_act_forward/backward, the derivative taken from the output y. */
void tg_act_row(tg_act act, float *y, int64_t n);
void tg_act_grad_row(tg_act act, const float *y, const float *dy, float *dz, int64_t n);
/* y (F, q), row stride ld: every element of row i = b[i]. */
void tg_fill_rows(float *y, const float *b, int f, int64_t q, int64_t ld);
/* y (F, q), row stride ld: y = act(y + b), one pass per row; b may be NULL. */
void tg_bias_act(float *y, const float *b, tg_act act, int f, int64_t q, int64_t ld);
/* dz (F, q) = dy * act'(y) and db (F) += the row sums of dz, in one pass: y is node's
 * output from element `first` on (its values, or its sign bits for a ReLU whose values
 * the plan dropped), y and dy with row stride ld, dz packed. With act none, dz is not
 * written and db sums dy. db may be NULL. */
void tg_dz_bias(const tg_node *node, int64_t first, const float *dy, float *dz, float *db,
                tg_act act, int f, int64_t q, int64_t ld);

/* The outputs [lo, hi) along one axis whose tap `tap` reads a real input, not
 * padding: i = o * stride - pad + tap in [0, n_in). */
static inline void tg_conv_span(int n_out, int stride, int pad, int tap, int n_in, int *lo,
                                int *hi) {
    int a = pad - tap, l = a > 0 ? (a + stride - 1) / stride : 0;
    int b = n_in - 1 + pad - tap, h = b < 0 ? 0 : b / stride + 1;
    if (h > n_out) h = n_out;
    if (l > h) l = h;
    *lo = l;
    *hi = h;
}

#endif
