/* The public gradient checker: analytic gradients from backward against central
 * finite differences accumulated in double. Works on any registered op by name
 * (built-in or a user's) or on any graph, and returns a result to assert on.
 *
 *   tg_gradcheck_result r;
 *   tg_gradcheck_op("dense", "4x6", "units=3 act=tanh", NULL, &r);
 *   ck_assert_msg(r.passed, "%s", r.report);
 */
#ifndef TG_GRADCHECK_H
#define TG_GRADCHECK_H

#include <stdint.h>

#include "autograd/tg_graph.h"
#include "autograd/tg_export.h"

TG_API_BEGIN

/* Largest share of probed elements that may be skipped on a kink (a slope jump within the
 * step that halving the step confirms): more fails the check. */
#define TG_GRADCHECK_MAX_SKIP_SHARE 0.1

typedef struct tg_gradcheck_opts {
    double eps;     /* finite-difference step (0: the op's gc_eps, else 1e-3) */
    double rtol;    /* an element passes when |analytic - numeric| <= */
    double atol;    /*   atol + rtol * max(|analytic|, |numeric|)
                       (0: the op's gc_tol as rtol, else 1e-2; atol 1e-3) */
    int max_probes; /* elements probed per tensor, spread by the RNG (0: 48) */
    uint64_t seed;  /* seeds the input values, the probe choice and the output weights */
    int eval_mode;  /* op checks: run the graph in eval mode */
} tg_gradcheck_opts;

typedef struct tg_gradcheck_result {
    int passed;               /* 1 when every probed element is within tolerance and at most
                                 TG_GRADCHECK_MAX_SKIP_SHARE of the elements tried were skipped */
    double worst_error;       /* the largest |a - n| / (atol + rtol max(|a|, |n|)), infinite
                                 where either is NaN; > 1 fails */
    double analytic, numeric; /* the two values at the worst element */
    char worst_tensor[128];   /* the node holding it ("dense.weight") */
    int64_t worst_index;      /* flat index inside that tensor */
    int probed, skipped;      /* elements compared; elements skipped on a confirmed kink */
    char report[512];         /* one line saying all of the above */
} tg_gradcheck_result;

/* Default options with the given seed. */
tg_gradcheck_opts tg_gradcheck_defaults(uint64_t seed);

/* Check op `op` on data inputs of the given shapes ("4x3x5x5;4x3x5x5") with
 * attributes `attrs`. The op's output is reduced to a scalar with fixed random
 * weights; every input and parameter that takes a gradient is probed. `opts`
 * may be NULL. Returns an error only when the check could not run. */
tg_status tg_gradcheck_op(const char *op, const char *input_shapes, const char *attrs,
                          const tg_gradcheck_opts *opts, tg_gradcheck_result *result);

/* Check a whole graph: `loss` (scalar) against every trainable parameter and
 * every input marked with tg_node_set_requires_grad. Inputs must already hold
 * values; the graph's RNG is restored before each evaluation so dropout masks
 * repeat. Parameter values are restored afterwards. */
tg_status tg_gradcheck_graph(tg_graph *g, tg_node *loss, const tg_gradcheck_opts *opts,
                             tg_gradcheck_result *result);

TG_API_END

#endif
