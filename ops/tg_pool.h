/* The 2x2 max pool at stride 2 of op_pool.c, shared with the forwards that fuse it
 * (tg_op.fuses): conv2d's Winograd forward pools its output rows through it,
 * sepconv2d's its output images.
 * Internal to ops/. */
#ifndef TG_POOL_H
#define TG_POOL_H

#include <stdint.h>

#include "autograd/tg_op.h"
#include "ops/tg_op_util.h"

/* 1 when n is a maxpool2d of 2x2 windows at stride 2 with no padding: output row r
 * is the maximum over the column pairs of input rows 2r and 2r + 1 (an odd last row
 * or column is dropped). */
int tg_maxpool_is_2x2(const tg_node *n);

/* The maximum of one 2x2 window (a b / c d: row 0, then row 1), in maxpool2d's
 * select order: every pool without winners takes it through here (Winograd
 * F(4x4, 3x3)'s eight-tile pool as the same chain on vectors, MAX8), so all give the
 * same values (ties and NaNs included). */
static inline float tg_maxpool2_window(float a, float b, float c, float d) {
    float m = b > a ? b : a;
    m = c > m ? c : m;
    return d > m ? d : m;
}

/* y (n) = the maxima of the n windows of input rows r0 and r1 (2n long), exactly
 * as maxpool2d's forward takes them. */
void tg_maxpool2_rows(const float *r0, const float *r1, int n, float *y);

/* y (planes, H / 2, W / 2) = the 2x2 max pool at stride 2 of act(x) (planes, H, W),
 * each pair of rows of x activated in place just before it is pooled. */
void tg_maxpool2_planes(float *x, int64_t planes, int h, int w, tg_act act, float *y);

#endif
