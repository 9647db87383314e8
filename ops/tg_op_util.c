/* Helpers shared by the op implementations. */
#include <stdio.h>

#include "ops/tg_op_util.h"

void tg_axpy_add(float *dx, const float *dy, float scale, int64_t n) {
#pragma omp parallel for simd if (n > TG_PAR_MIN)
    for (int64_t i = 0; i < n; i++) dx[i] += scale * dy[i];
}

tg_status tg_shape_error(const char *what, const char *expected, const tg_shape *got) {
    char buf[64];
    return tg_error(TG_ERR_SHAPE, "%s must be %s, got %s", what, expected,
                    tg_shape_str(got, buf, sizeof buf));
}
