/* Triplet training: pairwise distances, the three mining rules on distances whose
 * answer is known, the margin loss and where its gradient goes, the triplet line of a
 * model file, and the P x K batches. (The registry-wide gradcheck covers the ops.) */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tests/tg_check.h"
#include "train/tg_triplet_batch.h"
#include "twingrad.h"

/* A graph: d (B, B) and labels (B) inputs -> triplet_mine(mining) -> triplet_loss(attrs). */
typedef struct mined {
    tg_graph *g;
    tg_node *d, *labels, *mine, *loss;
} mined;

static mined mine_graph(int b, const float *d, const float *labels, const char *mining,
                        const char *loss_attrs) {
    mined m = {.g = tg_graph_new(1)};
    m.d = tg_graph_input(m.g, "d", tg_shape2(b, b));
    m.labels = tg_graph_input(m.g, "labels", tg_shape1(b));
    tg_node_set_requires_grad(m.d, 1);
    m.mine = tg_graph_op(m.g, "triplet_mine", "mine", mining, (tg_node *[]){m.d, m.labels}, 2);
    m.loss = tg_graph_op(m.g, "triplet_loss", "loss", loss_attrs, &m.mine, 1);
    ck_assert_msg(m.loss, "%s", tg_last_error());
    ck_assert_int_eq(tg_input_set(m.d, tg_shape2(b, b), d), TG_OK);
    ck_assert_int_eq(tg_input_set(m.labels, tg_shape1(b), labels), TG_OK);
    ck_assert_int_eq(tg_graph_forward(m.g, m.loss), TG_OK);
    return m;
}

/* Four images, classes 0 0 1 1; d[i][j] chosen so every rule has one answer and no
 * triplet sits exactly on the margin. */
static const float labels4[4] = {0, 0, 1, 1};
static const float d4[16] = {
    0.0f, 0.5f,  0.3f,  0.9f, /* anchor 0: positive 1 at 0.5; negatives 2 at 0.3, 3 at 0.9 */
    0.5f, 0.0f,  0.75f, 0.2f, /* anchor 1: positive 0 at 0.5; negatives 2 at 0.75, 3 at 0.2 */
    0.3f, 0.75f, 0.0f,  0.4f, /* anchor 2: positive 3 at 0.4; negatives 0 at 0.3, 1 at 0.75 */
    0.9f, 0.2f,  0.4f,  0.0f, /* anchor 3: positive 2 at 0.4; negatives 0 at 0.9, 1 at 0.2 */
};

START_TEST(test_pairwise_l2_matches_distances) {
    tg_graph *g = tg_graph_new(1);
    float e[6] = {0, 0, 3, 4, 1, 0};
    tg_node *x = tg_graph_input(g, "e", tg_shape2(3, 2));
    tg_node *d = tg_graph_op(g, "pairwise_l2", "d", NULL, &x, 1);
    ck_assert_int_eq(tg_input_set(x, tg_shape2(3, 2), e), TG_OK);
    ck_assert_int_eq(tg_graph_forward(g, d), TG_OK);
    const float *y = tg_node_data(d);
    const float want[9] = {0, 5, 1, 5, 0, sqrtf(20), 1, sqrtf(20), 0};
    for (int i = 0; i < 9; i++) ck_assert_float_eq_tol(y[i], want[i], 1e-6f);
    tg_graph_free(g);
}
END_TEST

START_TEST(test_batch_hard_takes_farthest_positive_and_nearest_negative) {
    mined m = mine_graph(4, d4, labels4, "mining=batch_hard", "margin=0.2");
    const float *t = tg_node_data(m.mine);
    ck_assert_int_eq(tg_node_shape(m.mine)->dim[0], 4);
    const float want[4][3] = {{0.5f, 0.3f, 1}, {0.5f, 0.2f, 1}, {0.4f, 0.3f, 1}, {0.4f, 0.2f, 1}};
    for (int a = 0; a < 4; a++)
        for (int k = 0; k < 3; k++) ck_assert_float_eq(t[a * 3 + k], want[a][k]);
    /* losses 0.4, 0.5, 0.3, 0.4: mean 0.4 */
    ck_assert_float_eq_tol(tg_node_data(m.loss)[0], 0.4f, 1e-6f);
    /* the gradient reaches exactly the chosen distances: +1/4 on d_ap, -1/4 on d_an */
    tg_graph_zero_grad(m.g);
    ck_assert_int_eq(tg_graph_backward(m.g, m.loss), TG_OK);
    const float *g = tg_node_grad(m.d);
    float want_g[16] = {0};
    want_g[0 * 4 + 1] += 0.25f, want_g[0 * 4 + 2] -= 0.25f;
    want_g[1 * 4 + 0] += 0.25f, want_g[1 * 4 + 3] -= 0.25f;
    want_g[2 * 4 + 3] += 0.25f, want_g[2 * 4 + 0] -= 0.25f;
    want_g[3 * 4 + 2] += 0.25f, want_g[3 * 4 + 1] -= 0.25f;
    for (int i = 0; i < 16; i++) ck_assert_float_eq_tol(g[i], want_g[i], 1e-7f);
    tg_graph_free(m.g);
}
END_TEST

START_TEST(test_semi_hard_takes_nearest_negative_beyond_the_positive) {
    mined m = mine_graph(4, d4, labels4, "mining=semi_hard", "margin=0.2");
    const float *t = tg_node_data(m.mine);
    ck_assert_int_eq(tg_node_shape(m.mine)->dim[0], 16);
    /* (a=0, p=1): d_ap 0.5; negatives 0.3, 0.9 -> 0.9 is the only one beyond */
    ck_assert_float_eq(t[(0 * 4 + 1) * 3 + 1], 0.9f);
    /* (a=1, p=0): d_ap 0.5; negatives 0.75, 0.2 -> 0.75 */
    ck_assert_float_eq(t[(1 * 4 + 0) * 3 + 1], 0.75f);
    /* (a=3, p=2): d_ap 0.4; negatives 0.9, 0.2 -> 0.9 */
    ck_assert_float_eq(t[(3 * 4 + 2) * 3 + 1], 0.9f);
    /* (a=0, p=0) and (a=0, p=2) are not anchor-positive pairs */
    ck_assert_float_eq(t[(0 * 4 + 0) * 3 + 2], 0.0f);
    ck_assert_float_eq(t[(0 * 4 + 2) * 3 + 2], 0.0f);
    int valid = 0;
    for (int r = 0; r < 16; r++) valid += t[r * 3 + 2] > 0.5f;
    ck_assert_int_eq(valid, 4);
    tg_graph_free(m.g);
    /* none beyond the positive: the farthest negative stands in */
    float d[16];
    memcpy(d, d4, sizeof d);
    d[0 * 4 + 1] = 0.95f; /* d(0,1) beyond both negatives of anchor 0 */
    m = mine_graph(4, d, labels4, "mining=semi_hard", "margin=0.2");
    ck_assert_float_eq(tg_node_data(m.mine)[(0 * 4 + 1) * 3 + 1], 0.9f);
    tg_graph_free(m.g);
}
END_TEST

START_TEST(test_batch_all_counts_every_valid_triplet_and_averages) {
    mined m = mine_graph(4, d4, labels4, "mining=batch_all", "margin=0.2");
    const float *t = tg_node_data(m.mine);
    ck_assert_int_eq(tg_node_shape(m.mine)->dim[0], 64);
    int valid = 0;
    double sum = 0.0, active = 0;
    for (int r = 0; r < 64; r++) {
        if (t[r * 3 + 2] < 0.5f) continue;
        valid++;
        double l = fmax(0.0, t[r * 3] - t[r * 3 + 1] + 0.2);
        sum += l;
        active += l > 0;
    }
    ck_assert_int_eq(valid, 8); /* 4 anchors x 1 positive x 2 negatives */
    /* losses: a0 (0.4, 0), a1 (0, 0.5), a2 (0.3, 0), a3 (0, 0.4) */
    ck_assert_float_eq_tol(sum, 1.6, 1e-6);
    ck_assert_int_eq((int)active, 4);
    ck_assert_float_eq_tol(tg_node_data(m.loss)[0], 1.6f / 8, 1e-6f);
    tg_graph_free(m.g);
    m = mine_graph(4, d4, labels4, "mining=batch_all", "margin=0.2 average=active");
    ck_assert_float_eq_tol(tg_node_data(m.loss)[0], 1.6f / 4, 1e-6f);
    tg_graph_free(m.g);
}
END_TEST

START_TEST(test_batch_all_refuses_a_batch_too_large) {
    tg_graph *g = tg_graph_new(1);
    tg_node *d = tg_graph_input(g, "d", tg_shape2(200, 200));
    tg_node *l = tg_graph_input(g, "l", tg_shape1(200));
    ck_assert_ptr_null(
        tg_graph_op(g, "triplet_mine", "m", "mining=batch_all", (tg_node *[]){d, l}, 2));
    ck_assert_ptr_nonnull(strstr(tg_last_error(), "use a batch of at most 128"));
    tg_graph_free(g);
}
END_TEST

static const char *triplet_model = "input 6 6 1\n"
                                   "f: flatten\n"
                                   "e: dense units=4\n"
                                   "siamese distance=l2 loss=contrastive margin=1 normalize=true\n"
                                   "triplet mining=semi_hard margin=0.3 classes=3 per_class=2\n";

START_TEST(test_triplet_line_builds_the_mining_head) {
    tg_model_def *def = NULL;
    ck_assert_msg(tg_model_def_parse_text("t.tg", triplet_model, &def) == TG_OK, "%s",
                  tg_last_error());
    ck_assert_int_eq(def->triplet_line, 5);
    ck_assert_int_eq(def->triplet_classes, 3);
    ck_assert_int_eq(def->triplet_per_class, 2);
    tg_model *m = NULL;
    ck_assert_msg(tg_model_build(def, 6, &m) == TG_OK, "%s", tg_last_error());
    ck_assert_str_eq(tg_node_op(m->mined)->name, "triplet_mine");
    ck_assert_int_eq(tg_node_shape(m->mined)->dim[0], 36); /* semi_hard: B^2 */
    ck_assert_float_eq_tol(tg_node_attr_float(m->triplet_loss, "margin"), 0.3, 1e-12);
    ck_assert(tg_node_kind(m->triplet_loss) & TG_NODE_LOSS);
    tg_model_free(m);
    tg_model_def_free(def);
}
END_TEST

START_TEST(test_triplet_line_errors_are_located) {
    const struct {
        const char *line, *where, *what;
    } cases[] = {
        {"triplet mining=hardest\n", "t.tg:5:16", "mining"},
        {"triplet classes=1\n", "t.tg:5:17", "classes"},
        {"triplet margn=0.2\n", "t.tg:5:9", "unknown triplet setting 'margn'"},
        {"triplet margin=-1\n", "t.tg:5:16", "margin"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char text[512];
        snprintf(text, sizeof text,
                 "input 6 6 1\nf: flatten\ne: dense units=4\nsiamese normalize=true\n%s",
                 cases[i].line);
        tg_model_def *def = NULL;
        ck_assert_int_ne(tg_model_def_parse_text("t.tg", text, &def), TG_OK);
        ck_assert_msg(strstr(tg_last_error(), cases[i].where) &&
                          strstr(tg_last_error(), cases[i].what),
                      "%s -> %s", cases[i].line, tg_last_error());
    }
}
END_TEST

/* A dataset of n images of 2x2 whose labels are given. */
static void tiny_dataset(tg_dataset *ds, const int *labels, size_t n, int n_classes) {
    memset(ds, 0, sizeof *ds);
    ds->n = n;
    ds->height = ds->width = 2;
    ds->n_classes = n_classes;
    ds->images = calloc(n * 4, sizeof(float));
    ds->labels = malloc(n * sizeof(int));
    for (size_t i = 0; i < n; i++) {
        ds->labels[i] = labels[i];
        ds->images[i * 4] = (float)i; /* tells the images apart */
    }
}

START_TEST(test_pk_batches_hold_p_classes_of_k_images) {
    const int labels[] = {0, 0, 0, 1, 1, 1, 1, 2, 2, 3}; /* class 3 has one image: never drawn */
    tg_dataset ds;
    tiny_dataset(&ds, labels, 10, 4);
    size_t train[10];
    for (size_t i = 0; i < 10; i++) train[i] = i;
    tg_model_def def = {
        .source = "m.tg", .triplet_line = 7, .triplet_classes = 3, .triplet_per_class = 3};
    tg_triplet_epoch e;
    int batch = 0;
    ck_assert_int_eq(tg_triplet_epoch_init(&e, &def, &ds, train, 10, &batch), TG_OK);
    ck_assert_int_eq(batch, 9);
    tg_rng rng;
    tg_rng_seed(&rng, 3);
    ck_assert_int_eq(tg_triplet_epoch_sample(&e, 20, &rng), TG_OK);
    float x[9 * 4], y[9];
    for (int b = 0; b < 20; b++) {
        tg_triplet_epoch_batch(&e, &ds, b, NULL, NULL, x, y);
        int seen[4] = {0};
        for (int p = 0; p < 3; p++) {
            int c = (int)y[p * 3];
            ck_assert_int_lt(c, 3);
            ck_assert_int_eq(seen[c]++, 0); /* distinct classes */
            for (int k = 0; k < 3; k++) {
                int img = (int)x[(p * 3 + k) * 4];
                ck_assert_int_eq(labels[img], c);
                ck_assert_float_eq(y[p * 3 + k], (float)c);
            }
            if (c != 2) /* classes with K images: no image twice */
                ck_assert(x[p * 12] != x[p * 12 + 4] && x[p * 12] != x[p * 12 + 8] &&
                          x[p * 12 + 4] != x[p * 12 + 8]);
        }
    }
    tg_triplet_epoch_free(&e);
    def.triplet_classes = 4; /* only three classes have two images */
    ck_assert_int_eq(tg_triplet_epoch_init(&e, &def, &ds, train, 10, &batch), TG_ERR_INVALID);
    ck_assert_msg(strstr(tg_last_error(), "m.tg:7: triplet batches need classes=4") &&
                      strstr(tg_last_error(), "has 3"),
                  "%s", tg_last_error());
    free(ds.images);
    free(ds.labels);
}
END_TEST

int main(void) {
    Suite *s = suite_create("triplet");
    TCase *tc = tcase_create("triplet");
    tcase_add_test(tc, test_pairwise_l2_matches_distances);
    tcase_add_test(tc, test_batch_hard_takes_farthest_positive_and_nearest_negative);
    tcase_add_test(tc, test_semi_hard_takes_nearest_negative_beyond_the_positive);
    tcase_add_test(tc, test_batch_all_counts_every_valid_triplet_and_averages);
    tcase_add_test(tc, test_batch_all_refuses_a_batch_too_large);
    tcase_add_test(tc, test_triplet_line_builds_the_mining_head);
    tcase_add_test(tc, test_triplet_line_errors_are_located);
    tcase_add_test(tc, test_pk_batches_hold_p_classes_of_k_images);
    suite_add_tcase(s, tc);
    return tg_check_run(s);
}
