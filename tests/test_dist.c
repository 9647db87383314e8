/* Data-parallel training (dist/): the communicator's collectives, the fixed-order
 * reduction against sums written out by hand, the fast mode against a plain step,
 * batch-norm state as the mean of the shards' updates. Under `mpirun -np 2`
 * (tests/test_mpi.sh runs it so) the same tests run across two ranks, and a fixed
 * reduction over two ranks must give the bits a single process gives. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/tg_check.h"
#include "twingrad.h"

enum { DIM = 6, BATCH = 8 };

static tg_comm *world; /* MPI_COMM_WORLD under a launcher, else a local communicator */

/* A Siamese tower dense -> batchnorm -> dense, L2 distance, contrastive loss. */
typedef struct net {
    tg_graph *g;
    tg_node *a, *b, *y, *loss;
    float xa[BATCH * DIM], xb[BATCH * DIM], ys[BATCH];
} net;

static void net_build(net *n) {
    memset(n, 0, sizeof *n);
    n->g = tg_graph_new(11);
    n->a = tg_graph_input(n->g, "a", tg_shape2(BATCH, DIM));
    n->b = tg_graph_input(n->g, "b", tg_shape2(BATCH, DIM));
    n->y = tg_graph_input(n->g, "y", tg_shape1(BATCH));
    tg_layer *l1 = tg_graph_layer(n->g, "dense", "fc1", "units=5 act=tanh");
    tg_layer *bn = tg_graph_layer(n->g, "batchnorm", "bn", NULL);
    tg_layer *l2 = tg_graph_layer(n->g, "dense", "fc2", "units=3");
    tg_node *ea = tg_layer_apply1(l2, tg_layer_apply1(bn, tg_layer_apply1(l1, n->a)));
    tg_node *eb = tg_layer_apply1(l2, tg_layer_apply1(bn, tg_layer_apply1(l1, n->b)));
    tg_node *d = tg_graph_op(n->g, "l2distance", "d", NULL, (tg_node *[]){ea, eb}, 2);
    n->loss = tg_graph_op(n->g, "contrastive", "loss", "margin=1", (tg_node *[]){d, n->y}, 2);
    ck_assert_msg(n->loss != NULL, "%s", tg_last_error());
    tg_rng rng;
    tg_rng_seed(&rng, 5);
    for (int i = 0; i < BATCH * DIM; i++) {
        n->xa[i] = (float)tg_rng_normal(&rng);
        n->xb[i] = (float)tg_rng_normal(&rng);
    }
    for (int i = 0; i < BATCH; i++) n->ys[i] = (float)(i % 2);
    ck_assert_ptr_nonnull(tg_graph_param_data(n->g, NULL));
}

/* tg_dist_shard_fn over the net's fixed batch. */
static tg_status shard(void *ctx, int64_t start, int64_t count, double *loss) {
    net *n = ctx;
    tg_status st;
    if ((st = tg_input_set(n->a, tg_shape2((int)count, DIM), n->xa + start * DIM)) ||
        (st = tg_input_set(n->b, tg_shape2((int)count, DIM), n->xb + start * DIM)) ||
        (st = tg_input_set(n->y, tg_shape1((int)count), n->ys + start)) ||
        (st = tg_graph_forward(n->g, n->loss)))
        return st;
    *loss = tg_node_data(n->loss)[0];
    return tg_graph_backward(n->g, n->loss);
}

/* Gradient, state and loss of one shard run alone from the net's current state. */
static float *run_shard(net *n, int64_t start, int64_t count, int64_t *ng, int64_t *ns,
                        double *loss) {
    tg_graph_zero_grad(n->g);
    ck_assert_int_eq(shard(n, start, count, loss), TG_OK);
    float *g = tg_graph_grad_data(n->g, ng), *s = tg_graph_state_data(n->g, ns);
    float *out = malloc((size_t)(*ng + *ns) * sizeof(float));
    memcpy(out, g, (size_t)*ng * sizeof(float));
    memcpy(out + *ng, s, (size_t)*ns * sizeof(float));
    return out;
}

START_TEST(test_comm_local_is_one_quiet_rank) {
    tg_comm *c;
    ck_assert_int_eq(tg_comm_local(&c), TG_OK);
    ck_assert_int_eq(tg_comm_rank(c), 0);
    ck_assert_int_eq(tg_comm_size(c), 1);
    ck_assert_str_eq(tg_comm_kind(c), "local");
    float x[3] = {1, 2, 3};
    ck_assert_int_eq(tg_comm_allreduce_sum(c, x, 3), TG_OK);
    ck_assert(x[0] == 1 && x[2] == 3);
    int any = -1;
    ck_assert_int_eq(tg_comm_any(c, 1, &any), TG_OK);
    ck_assert_int_eq(any, 1);
    ck_assert_int_eq(tg_comm_any(c, 0, &any), TG_OK);
    ck_assert_int_eq(any, 0);
    tg_error(TG_ERR_IO, "disk full");
    ck_assert_int_eq(tg_comm_agree(c, TG_ERR_IO), TG_ERR_IO);
    ck_assert_str_eq(tg_last_error(), "disk full");
    tg_comm_abort(c, 3); /* returns for one local rank */
    tg_comm_free(c);
}
END_TEST

START_TEST(test_reduce_names_parse_back) {
    tg_reduce r;
    ck_assert_int_eq(tg_reduce_parse("fixed", &r), TG_OK);
    ck_assert_int_eq(r, TG_REDUCE_FIXED);
    ck_assert_str_eq(tg_reduce_name(r), "fixed");
    ck_assert_int_eq(tg_reduce_parse("fast", &r), TG_OK);
    ck_assert_int_eq(r, TG_REDUCE_FAST);
    ck_assert_int_eq(tg_reduce_parse("tree", &r), TG_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(tg_last_error(), "fast or fixed"));
}
END_TEST

START_TEST(test_comm_agree_names_the_failing_rank) {
    int me = tg_comm_rank(world), n = tg_comm_size(world);
    tg_status st = me == n - 1 ? tg_error(TG_ERR_FORMAT, "bad file on the last rank") : TG_OK;
    ck_assert_int_eq(tg_comm_agree(world, st), TG_ERR_FORMAT);
    char want[64];
    snprintf(want, sizeof want, "%sbad file on the last rank",
             n > 1 && me != n - 1 ? "rank 1: " : "");
    if (n > 2) snprintf(want, sizeof want, "rank %d: bad file on the last rank", n - 1);
    if (me == n - 1) snprintf(want, sizeof want, "bad file on the last rank");
    ck_assert_str_eq(tg_last_error(), want);
    ck_assert_int_eq(tg_comm_agree(world, TG_OK), TG_OK);
    int any = -1;
    ck_assert_int_eq(tg_comm_any(world, me == 0, &any), TG_OK);
    ck_assert_int_eq(any, 1);
    ck_assert_int_eq(tg_comm_any(world, 0, &any), TG_OK);
    ck_assert_int_eq(any, 0);
    float x[2] = {(float)me + 1, 1};
    ck_assert_int_eq(tg_comm_allreduce_sum(world, x, 2), TG_OK);
    ck_assert(x[0] == (float)(n * (n + 1) / 2) && x[1] == (float)n);
}
END_TEST

/* Fast mode with one shard on one rank is the plain step, bit for bit. */
START_TEST(test_dist_fast_single_shard_is_the_plain_step) {
    net n;
    net_build(&n);
    int64_t ng, ns;
    double plain_loss;
    float *plain = run_shard(&n, 0, BATCH, &ng, &ns, &plain_loss);
    net m;
    net_build(&m);
    tg_comm *c;
    tg_dist *d;
    ck_assert_int_eq(tg_comm_local(&c), TG_OK);
    ck_assert_int_eq(tg_dist_new(c, m.g, TG_REDUCE_FAST, 1, 3, &d), TG_OK);
    double loss;
    ck_assert_int_eq(tg_dist_step(d, 0, BATCH, shard, &m, &loss), TG_OK);
    ck_assert(loss == plain_loss);
    ck_assert(!memcmp(tg_graph_grad_data(m.g, NULL), plain, (size_t)ng * sizeof(float)));
    ck_assert(!memcmp(tg_graph_state_data(m.g, NULL), plain + ng, (size_t)ns * sizeof(float)));
    tg_dist_free(d);
    tg_comm_free(c);
    free(plain);
    tg_graph_free(n.g);
    tg_graph_free(m.g);
}
END_TEST

/* Fixed mode over 4 shards: ((s0 + s1) + (s2 + s3)) / 4 for the gradient, the
 * batch-norm state (each shard starting from the same state) and the loss; the same
 * bits on one rank and on every rank of the world communicator. */
START_TEST(test_dist_fixed_is_the_tree_sum_on_any_rank_count) {
    net n;
    net_build(&n);
    int64_t ng, ns;
    double l[4];
    float *s[4];
    for (int k = 0; k < 4; k++) {
        float *snap = malloc(64 * sizeof(float));
        int64_t nstate;
        const float *state = tg_graph_state_data(n.g, &nstate);
        memcpy(snap, state, (size_t)nstate * sizeof(float));
        s[k] = run_shard(&n, k * 2, 2, &ng, &ns, &l[k]);
        memcpy(tg_graph_state_data(n.g, NULL), snap, (size_t)nstate * sizeof(float));
        free(snap);
    }
    for (int c = 0; c < 2; c++) {
        net m;
        net_build(&m);
        tg_comm *local = NULL, *comm = world;
        if (c == 0) {
            ck_assert_int_eq(tg_comm_local(&local), TG_OK);
            comm = local;
        }
        tg_dist *d;
        ck_assert_msg(tg_dist_new(comm, m.g, TG_REDUCE_FIXED, 4, 3, &d) == TG_OK, "%s",
                      tg_last_error());
        double loss;
        ck_assert_msg(tg_dist_step(d, 0, BATCH, shard, &m, &loss) == TG_OK, "%s", tg_last_error());
        const float *g = tg_graph_grad_data(m.g, NULL), *st = tg_graph_state_data(m.g, NULL);
        for (int64_t i = 0; i < ng + ns; i++) {
            float want = ((s[0][i] + s[1][i]) + (s[2][i] + s[3][i])) / 4.0f;
            float got = i < ng ? g[i] : st[i - ng];
            ck_assert_msg(!memcmp(&got, &want, sizeof got), "%s element %lld: %.9g, want %.9g",
                          c ? "world" : "local", (long long)i, got, want);
        }
        float want_loss = (((float)l[0] + (float)l[1]) + ((float)l[2] + (float)l[3])) / 4.0f;
        ck_assert(loss == (double)want_loss);
        tg_dist_free(d);
        tg_comm_free(local);
        tg_graph_free(m.g);
    }
    for (int k = 0; k < 4; k++) free(s[k]);
    tg_graph_free(n.g);
}
END_TEST

/* Fast mode sums in MPI's order: within float rounding of the same tree sum. */
START_TEST(test_dist_fast_matches_the_mean_within_rounding) {
    net n;
    net_build(&n);
    int64_t ng, ns;
    double l0, l1;
    int64_t nstate;
    float snap[64];
    const float *state = tg_graph_state_data(n.g, &nstate);
    memcpy(snap, state, (size_t)nstate * sizeof(float));
    float *s0 = run_shard(&n, 0, BATCH / 2, &ng, &ns, &l0);
    memcpy(tg_graph_state_data(n.g, NULL), snap, (size_t)nstate * sizeof(float));
    float *s1 = run_shard(&n, BATCH / 2, BATCH / 2, &ng, &ns, &l1);
    net m;
    net_build(&m);
    tg_dist *d;
    ck_assert_int_eq(tg_dist_new(world, m.g, TG_REDUCE_FAST, 2, 3, &d), TG_OK);
    double loss;
    ck_assert_int_eq(tg_dist_step(d, 0, BATCH, shard, &m, &loss), TG_OK);
    const float *g = tg_graph_grad_data(m.g, NULL);
    for (int64_t i = 0; i < ng; i++) {
        double want = 0.5 * ((double)s0[i] + (double)s1[i]);
        ck_assert_msg(fabs(g[i] - want) <= 1e-6 * fmax(fabs(want), 1.0),
                      "element %lld: %.9g, want %.9g", (long long)i, g[i], want);
    }
    ck_assert(fabs(loss - 0.5 * (l0 + l1)) < 1e-6);
    tg_dist_free(d);
    free(s0);
    free(s1);
    tg_graph_free(n.g);
    tg_graph_free(m.g);
}
END_TEST

START_TEST(test_dist_rejects_a_batch_that_does_not_split) {
    net m;
    net_build(&m);
    tg_comm *c;
    tg_dist *d;
    ck_assert_int_eq(tg_comm_local(&c), TG_OK);
    ck_assert_int_eq(tg_dist_new(c, m.g, TG_REDUCE_FIXED, 3, 1, &d), TG_OK);
    double loss;
    ck_assert_int_eq(tg_dist_step(d, 0, BATCH, shard, &m, &loss), TG_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(tg_last_error(), "multiple of 3"));
    tg_dist_free(d);
    ck_assert_int_eq(tg_dist_new(c, m.g, TG_REDUCE_FIXED, -2, 1, &d), TG_ERR_INVALID);
    tg_comm_free(c);
    tg_graph_free(m.g);
}
END_TEST

int main(void) {
    tg_status st = tg_comm_launched() ? tg_comm_mpi_world(&world) : tg_comm_local(&world);
    if (st) {
        fprintf(stderr, "test_dist: %s\n", tg_last_error());
        return EXIT_FAILURE;
    }
    /* Under MPI every test must run on every rank in step: no forking. */
    if (tg_comm_size(world) > 1) setenv("CK_FORK", "no", 1);
    Suite *s = suite_create("dist");
    TCase *tc = tcase_create("dist");
    tcase_add_test(tc, test_comm_local_is_one_quiet_rank);
    tcase_add_test(tc, test_reduce_names_parse_back);
    tcase_add_test(tc, test_comm_agree_names_the_failing_rank);
    tcase_add_test(tc, test_dist_fast_single_shard_is_the_plain_step);
    tcase_add_test(tc, test_dist_fixed_is_the_tree_sum_on_any_rank_count);
    tcase_add_test(tc, test_dist_fast_matches_the_mean_within_rounding);
    tcase_add_test(tc, test_dist_rejects_a_batch_that_does_not_split);
    suite_add_tcase(s, tc);
    int rc = tg_check_run(s);
    tg_comm_free(world);
    return rc;
}
