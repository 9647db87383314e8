/* tg_ckdiff A.tgc B.tgc [TOL]: how far apart two checkpoints' parameters, state and
 * optimizer moments are. Prints "identical" or "max_abs X max_rel Y" (relative to
 * max(|a|, |b|, 1e-3); a NaN or infinity where the other is not counts as an infinite
 * difference). Exit 0 when both hold the same tensors with the same values or, given TOL,
 * with max_abs <= TOL; 1 when not; 2 on an unreadable file or a bad TOL. Used by tests/test_mpi.sh
 * to compare runs. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "twingrad.h"

static void compare(const float *a, const float *b, int64_t n, double *max_abs, double *max_rel,
                    int *differ) {
    for (int64_t i = 0; i < n; i++) {
        if (memcmp(&a[i], &b[i], sizeof(float))) *differ = 1;
        double d = fabs((double)a[i] - (double)b[i]);
        if (isnan(d) && memcmp(&a[i], &b[i], sizeof(float))) d = INFINITY; /* NaN - x */
        double scale = fmax(fmax(fabs((double)a[i]), fabs((double)b[i])), 1e-3);
        if (d > *max_abs) *max_abs = d;
        if (d / scale > *max_rel) *max_rel = d / scale;
    }
}

int main(int argc, char **argv) {
    double tol = -1.0; /* none */
    char *end = NULL;
    if (argc == 4) tol = strtod(argv[3], &end);
    if ((argc != 3 && argc != 4) || (argc == 4 && (*end || !(tol >= 0.0)))) {
        fprintf(stderr, "usage: tg_ckdiff A.tgc B.tgc [TOL]\n");
        return 2;
    }
    tg_checkpoint *a = NULL, *b = NULL;
    if (tg_checkpoint_load(argv[1], &a) || tg_checkpoint_load(argv[2], &b)) {
        fprintf(stderr, "tg_ckdiff: %s\n", tg_last_error());
        tg_checkpoint_free(a);
        return 2;
    }
    double max_abs = 0, max_rel = 0;
    int differ = 0, rc = 0;
    int n = tg_checkpoint_tensor_count(a);
    if (n != tg_checkpoint_tensor_count(b)) rc = 1;
    for (int i = 0; i < n && !rc; i++) {
        int j = tg_checkpoint_tensor_find(b, tg_checkpoint_tensor_name(a, i));
        const tg_shape *sa = tg_checkpoint_tensor_shape(a, i);
        if (j < 0 || memcmp(sa, tg_checkpoint_tensor_shape(b, j), sizeof *sa)) {
            rc = 1;
            break;
        }
        compare(tg_checkpoint_tensor_data(a, i), tg_checkpoint_tensor_data(b, j),
                tg_shape_numel(sa), &max_abs, &max_rel, &differ);
    }
    int64_t m = tg_checkpoint_optimizer_size(a);
    int ns = tg_checkpoint_optimizer_state_count(a);
    if (!rc &&
        (m != tg_checkpoint_optimizer_size(b) || ns != tg_checkpoint_optimizer_state_count(b)))
        rc = 1;
    for (int i = 0; i < ns && !rc; i++)
        compare(tg_checkpoint_optimizer_state_data(a, i), tg_checkpoint_optimizer_state_data(b, i),
                m, &max_abs, &max_rel, &differ);
    if (rc)
        printf("different tensors\n");
    else if (!differ)
        printf("identical\n");
    else
        printf("max_abs %.3g max_rel %.3g\n", max_abs, max_rel);
    if (!rc && differ && !(tol >= 0.0 && max_abs <= tol)) rc = 1; /* inf and NaN fail */
    tg_checkpoint_free(a);
    tg_checkpoint_free(b);
    return rc;
}
