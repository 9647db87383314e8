/* Model files: every parser error at its exact line and column, the files in
 * models/ round-tripped to a graph and a summary, shared tower weights, the
 * single-tower embedding at another batch size, a user op used from a model file,
 * and robustness against random, truncated and mutated input. */
#include <check.h>
#include <errno.h>

#include "tests/tg_check.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "twingrad.h"

/* A small dense-only model that needs no convolution op. */
static const char *BASE = "input 4 4 1\n"
                          "flatten\n"
                          "fc1: dense units=8 act=relu\n"
                          "embed: dense units=4\n"
                          "siamese distance=l2 loss=contrastive margin=1 normalize=true\n"
                          "train optimizer=adam lr=1e-3 batch=4 epochs=2\n";

/* Parse `text` as "t.tg" and expect failure at line:col with `needle` in the message. */
static void expect_parse_error_at(const char *text, int line, int col, const char *needle,
                                  const char *where) {
    tg_model_def *def = (tg_model_def *)1;
    tg_status st = tg_model_def_parse_text("t.tg", text, &def);
    const char *msg = tg_last_error();
    ck_assert_msg(st != TG_OK, "%s: parsed, expected an error at %d:%d", where, line, col);
    ck_assert_msg(def == NULL, "%s: def not NULL on error", where);
    char prefix[64];
    snprintf(prefix, sizeof prefix, "t.tg:%d:%d: ", line, col);
    ck_assert_msg(strncmp(msg, prefix, strlen(prefix)) == 0, "%s: expected '%s...', got '%s'",
                  where, prefix, msg);
    ck_assert_msg(strstr(msg, needle) != NULL, "%s: expected '%s' in '%s'", where, needle, msg);
}
#define EXPECT_ERR(text, line, col, needle)                                                        \
    expect_parse_error_at(text, line, col, needle, #line ":" #col " " needle)

/* Parse fine, then fail to build at line:col. */
static void expect_build_error_at(const char *text, int line, int col, const char *needle) {
    tg_model_def *def;
    ck_assert_msg(tg_model_def_parse_text("t.tg", text, &def) == TG_OK, "%s", tg_last_error());
    tg_model *m = (tg_model *)1;
    tg_status st = tg_model_build(def, 4, &m);
    const char *msg = tg_last_error();
    ck_assert_int_ne(st, TG_OK);
    ck_assert_ptr_null(m);
    char prefix[64];
    snprintf(prefix, sizeof prefix, "t.tg:%d:%d: ", line, col);
    ck_assert_msg(strncmp(msg, prefix, strlen(prefix)) == 0, "expected '%s...', got '%s'", prefix,
                  msg);
    ck_assert_msg(strstr(msg, needle) != NULL, "expected '%s' in '%s'", needle, msg);
    tg_model_def_free(def);
}

static tg_model_def *parse_ok(const char *text) {
    tg_model_def *def = NULL;
    ck_assert_msg(tg_model_def_parse_text("t.tg", text, &def) == TG_OK, "%s", tg_last_error());
    ck_assert_ptr_nonnull(def);
    return def;
}

static char *read_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = malloc(1 << 20);
    size_t n = fread(buf, 1, (1 << 20) - 1, f);
    fclose(f);
    buf[n] = '\0';
    return buf;
}

static const char *srcdir(void) {
    const char *d = getenv("TG_SRCDIR");
    return d ? d : ".";
}

/* ---- the grammar ---- */

START_TEST(test_base_model_parses_with_its_settings) {
    tg_model_def *d = parse_ok(BASE);
    ck_assert_int_eq(d->height, 4);
    ck_assert_int_eq(d->width, 4);
    ck_assert_int_eq(d->channels, 1);
    ck_assert_int_eq(d->n_layers, 3);
    ck_assert_str_eq(d->layers[0].name, "flatten_1"); /* generated */
    ck_assert_str_eq(d->layers[1].name, "fc1");
    ck_assert_str_eq(d->layers[1].attrs, "units=8 act=relu");
    ck_assert_int_eq(d->layers[1].inputs[0], 0);
    ck_assert_int_eq(d->layers[0].inputs[0], TG_MODEL_INPUT);
    ck_assert_int_eq(d->output, 2);
    ck_assert_int_eq(d->normalize, 1);
    ck_assert_str_eq(d->distance->name, "l2distance");
    ck_assert_str_eq(d->loss->name, "contrastive");
    ck_assert_str_eq(d->loss_attrs, "margin=1");
    ck_assert_int_eq(d->train.batch, 4);
    ck_assert_int_eq(d->train.epochs, 2);
    ck_assert_int_eq(d->train.optim.kind, TG_OPTIM_ADAM);
    ck_assert(d->train.lr == 1e-3 && d->train.schedule.lr == 1e-3);
    ck_assert_str_eq(d->text, BASE); /* verbatim */
    ck_assert_int_eq(tg_model_def_find(d, "embed"), 2);
    ck_assert_int_eq(tg_model_def_find(d, "nope"), -1);
    tg_model_def_free(d);
}
END_TEST

START_TEST(test_train_line_maps_onto_optimizer_and_schedule) {
    tg_model_def *d = parse_ok("input 2 2 1\nflatten\n"
                               "siamese normalize=false\n"
                               "train optimizer=sgd momentum=0.9 nesterov=1 weight_decay=5e-4 "
                               "lr=0.1 schedule=step step_size=7 gamma=0.5 warmup=2 seed=42 "
                               "early_stop=3 clip=2.5 epochs=9 batch=16 augment=yes\n");
    ck_assert_int_eq(d->train.optim.kind, TG_OPTIM_SGD);
    ck_assert(d->train.optim.momentum == 0.9 && d->train.optim.nesterov == 1);
    ck_assert(d->train.optim.weight_decay == 5e-4);
    ck_assert_int_eq(d->train.schedule.kind, TG_SCHEDULE_STEP);
    ck_assert_int_eq(d->train.schedule.step_size, 7);
    ck_assert(d->train.schedule.gamma == 0.5 && d->train.schedule.lr == 0.1);
    ck_assert_int_eq(d->train.schedule.warmup, 2);
    ck_assert(d->train.seed == 42 && d->train.early_stop == 3 && d->train.clip == 2.5);
    ck_assert(d->train.epochs == 9 && d->train.batch == 16 && d->train.augment == 1);
    ck_assert_int_eq(d->normalize, 0);
    tg_model_def_free(d);
    /* No train line: the documented defaults. */
    d = parse_ok("input 2 2 1\nflatten\nsiamese normalize=true\n");
    ck_assert_int_eq(d->train.optim.kind, TG_OPTIM_ADAM);
    ck_assert_int_eq(d->train.schedule.kind, TG_SCHEDULE_CONSTANT);
    ck_assert(d->train.lr == 1e-3 && d->train.batch == 32 && d->train.epochs == 10);
    ck_assert(d->train.seed == 1 && d->train.early_stop == 0 && d->train.clip == 0.0);
    ck_assert_int_eq(d->train.augment, 0);
    tg_model_def_free(d);
}
END_TEST

/* Normal random images (b of c x h x w, seeded) into both towers of m and the
 * labels y; returns tower a's images, which the caller frees. */
static float *set_random_pairs(tg_model *m, int b, int c, int h, int w, uint64_t seed,
                               const float *y) {
    const int64_t n = (int64_t)b * c * h * w;
    float *xa = malloc((size_t)n * sizeof(float)), *xb = malloc((size_t)n * sizeof(float));
    tg_rng r;
    tg_rng_seed(&r, seed);
    for (int64_t i = 0; i < n; i++) {
        xa[i] = (float)tg_rng_normal(&r);
        xb[i] = (float)tg_rng_normal(&r);
    }
    tg_shape s4 = tg_shape4(b, c, h, w);
    ck_assert_int_eq(tg_input_set(m->a, s4, xa), TG_OK);
    ck_assert_int_eq(tg_input_set(m->b, s4, xb), TG_OK);
    ck_assert_int_eq(tg_input_set(m->y, tg_shape1(b), y), TG_OK);
    free(xb);
    return xa;
}

/* The value plans on a small tower with every kind of node the plan touches: a
 * fused-ReLU conv and sepconv feeding max pooling (dropped, sign kept), batch norm
 * and dense layers (kept). Training under TG_VALUES_BACKWARD gives the gradients of
 * TG_VALUES_KEEP bit for bit in less memory; embedding under TG_VALUES_TARGET gives
 * the same embeddings in less again, and refuses a backward after it. */
START_TEST(test_value_plans_change_memory_not_results) {
    tg_model_def *d = parse_ok("input 12 12 1\n"
                               "c1: conv2d filters=4 kernel=3 act=relu\n"
                               "p1: maxpool2d size=2\n"
                               "s1: sepconv2d filters=6 kernel=3 act=relu\n"
                               "bn: batchnorm\n"
                               "s2: sepconv2d filters=6 kernel=3 act=relu\n"
                               "p2: maxpool2d size=2\n"
                               "f: flatten\n"
                               "h: dense units=5 act=relu\n"
                               "e: dense units=3\n"
                               "siamese normalize=true\n");
    enum { B = 4 };
    tg_model *m;
    ck_assert_msg(tg_model_build(d, B, &m) == TG_OK, "%s", tg_last_error());
    ck_assert_int_eq(tg_graph_value_plan(m->graph), TG_VALUES_BACKWARD);
    const float y[B] = {0, 1, 0, 1};
    float *xa = set_random_pairs(m, B, 1, 12, 12, 3, y);
    int64_t n_grad;
    float *grad = tg_graph_grad_data(m->graph, &n_grad), loss[2];
    float *grads[2] = {malloc((size_t)n_grad * sizeof(float)),
                       malloc((size_t)n_grad * sizeof(float))};
    size_t bytes[3];
    const tg_value_plan plans[2] = {TG_VALUES_KEEP, TG_VALUES_BACKWARD};
    for (int p = 0; p < 2; p++) {
        tg_graph_set_value_plan(m->graph, plans[p]);
        tg_graph_zero_grad(m->graph);
        ck_assert_int_eq(tg_graph_forward(m->graph, m->loss), TG_OK);
        ck_assert_int_eq(tg_graph_backward(m->graph, m->loss), TG_OK);
        loss[p] = tg_node_data(m->loss)[0];
        memcpy(grads[p], grad, (size_t)n_grad * sizeof(float));
        bytes[p] = tg_graph_value_bytes(m->graph);
        size_t planned; /* what the plan says it takes, computed without running it */
        ck_assert_int_eq(tg_graph_plan_bytes(m->graph, m->loss, plans[p], &planned), TG_OK);
        ck_assert_uint_eq(planned, bytes[p]);
    }
    ck_assert(loss[0] == loss[1]);
    ck_assert_msg(!memcmp(grads[0], grads[1], (size_t)n_grad * sizeof(float)),
                  "TG_VALUES_BACKWARD changed a gradient");
    /* c1 feeds max pooling: dropped; s1 feeds batch norm, which reads it: kept. */
    ck_assert(!tg_node_value_kept(m->tower_a[0]) && !tg_node_value_kept(m->tower_b[0]));
    ck_assert(!tg_node_value_kept(m->tower_a[4]));
    ck_assert(tg_node_value_kept(m->tower_a[1]) && tg_node_value_kept(m->tower_a[2]) &&
              tg_node_value_kept(m->tower_a[3]) && tg_node_value_kept(m->tower_a[7]));
    /* Dropped: c1 (4x12x12) and s2 (6x6x6) per image and tower, less one arena (the
     * largest, c1's: one tower is done before the other starts) and one bit per
     * dropped element. */
    size_t c1 = 4 * 12 * 12 * B, s2 = 6 * 6 * 6 * B;
    ck_assert_uint_eq(bytes[0] - bytes[1], 4 * (2 * (c1 + s2) - c1) - 2 * (c1 + s2) / 8);
    /* Embeddings: the same under the inference plan, in less memory. */
    float keep[B * 3], lean[B * 3];
    tg_graph_set_value_plan(m->graph, TG_VALUES_KEEP);
    tg_graph_set_training(m->graph, 0);
    ck_assert_int_eq(tg_graph_forward(m->graph, m->ea), TG_OK);
    memcpy(keep, tg_node_data(m->ea), sizeof keep);
    tg_graph_set_value_plan(m->graph, TG_VALUES_BACKWARD);
    ck_assert_int_eq(tg_model_embed(m, xa, B, lean), TG_OK);
    ck_assert(!memcmp(keep, lean, sizeof keep));
    ck_assert_int_eq(tg_graph_value_plan(m->graph), TG_VALUES_BACKWARD); /* given back */
    tg_graph_set_value_plan(m->graph, TG_VALUES_TARGET);
    ck_assert_int_eq(tg_graph_forward(m->graph, m->ea), TG_OK);
    bytes[2] = tg_graph_value_bytes(m->graph);
    ck_assert_uint_lt(bytes[2], bytes[1]);
    ck_assert(!tg_node_value_kept(m->tower_a[7]) && tg_node_value_kept(m->ea));
    /* No backward after an inference forward; a forward under another plan first. */
    ck_assert_int_eq(tg_graph_backward(m->graph, m->loss), TG_ERR_STATE);
    tg_graph_set_value_plan(m->graph, TG_VALUES_BACKWARD);
    tg_graph_set_training(m->graph, 1);
    tg_graph_zero_grad(m->graph);
    ck_assert_int_eq(tg_graph_forward(m->graph, m->loss), TG_OK);
    ck_assert_int_eq(tg_graph_backward(m->graph, m->loss), TG_OK);
    ck_assert(!memcmp(grads[1], grad, (size_t)n_grad * sizeof(float)));
    free(grads[0]);
    free(grads[1]);
    free(xa);
    tg_model_free(m);
    tg_model_def_free(d);
}
END_TEST

/* A relu op whose output only max pooling reads keeps its signs, and its backward
 * (which adds into its input's gradient) reads them packed: the gradients of
 * TG_VALUES_KEEP, bit for bit, with planes whose rows start inside a byte. */
START_TEST(test_relu_op_backward_reads_the_packed_signs) {
    tg_model_def *d = parse_ok("input 7 7 2\n"
                               "c: conv2d filters=3 kernel=3 pad=same\n"
                               "r: relu\n"
                               "p: maxpool2d size=2\n"
                               "f: flatten\n"
                               "e: dense units=3\n"
                               "siamese normalize=true\n");
    enum { B = 3 };
    tg_model *m;
    ck_assert_msg(tg_model_build(d, B, &m) == TG_OK, "%s", tg_last_error());
    const float y[B] = {0, 1, 1};
    free(set_random_pairs(m, B, 2, 7, 7, 5, y));
    int64_t n_grad;
    float *grad = tg_graph_grad_data(m->graph, &n_grad);
    float *keep = malloc((size_t)n_grad * sizeof(float));
    const tg_value_plan plans[2] = {TG_VALUES_KEEP, TG_VALUES_BACKWARD};
    for (int p = 0; p < 2; p++) {
        tg_graph_set_value_plan(m->graph, plans[p]);
        tg_graph_zero_grad(m->graph);
        ck_assert_int_eq(tg_graph_forward(m->graph, m->loss), TG_OK);
        ck_assert_int_eq(tg_graph_backward(m->graph, m->loss), TG_OK);
        if (p == 0) memcpy(keep, grad, (size_t)n_grad * sizeof(float));
    }
    ck_assert(!tg_node_value_kept(m->tower_a[1]) && tg_node_sign_bits(m->tower_a[1]));
    ck_assert_msg(!memcmp(keep, grad, (size_t)n_grad * sizeof(float)),
                  "reading the relu's packed signs changed a gradient");
    free(keep);
    tg_model_free(m);
    tg_model_def_free(d);
}
END_TEST

START_TEST(test_comments_blank_lines_tabs_and_crlf_are_accepted) {
    tg_model_def *d = parse_ok("# a comment\r\n\r\n  input\t4 4 1   # trailing\r\n"
                               "x:flatten\r\n\tz: dense units=2#tight comment\r\n"
                               "siamese normalize=true\r\n");
    ck_assert_int_eq(d->n_layers, 2);
    ck_assert_str_eq(d->layers[0].name, "x");
    ck_assert_str_eq(d->layers[1].attrs, "units=2");
    tg_model_def_free(d);
}
END_TEST

START_TEST(test_generated_names_skip_written_ones) {
    tg_model_def *d = parse_ok("input 2 2 1\nflatten\ndense_1: dense units=3\ndense units=3\n"
                               "dense units=2\nsiamese normalize=true\n");
    ck_assert_str_eq(d->layers[0].name, "flatten_1");
    ck_assert_str_eq(d->layers[1].name, "dense_1");
    ck_assert_str_eq(d->layers[2].name, "dense_2");
    ck_assert_str_eq(d->layers[3].name, "dense_3");
    tg_model_def_free(d);
}
END_TEST

START_TEST(test_forward_references_are_ordered_by_dependency) {
    /* `s` is written before the layers it adds; the build order puts it after them. */
    tg_model_def *d = parse_ok("input 2 2 1\n"
                               "f: flatten\n"
                               "out: dense units=3 in=s\n"
                               "s: add in=h1,h2\n"
                               "h1: dense units=5 in=f\n"
                               "h2: dense units=5 in=f\n"
                               "siamese output=out normalize=false\n");
    int pos[5];
    for (int k = 0; k < d->n_layers; k++) pos[d->order[k]] = k;
    ck_assert_int_lt(pos[0], pos[3]); /* f before h1 */
    ck_assert_int_lt(pos[3], pos[2]); /* h1 before s */
    ck_assert_int_lt(pos[4], pos[2]); /* h2 before s */
    ck_assert_int_lt(pos[2], pos[1]); /* s before out */
    ck_assert_int_eq(d->output, 1);
    tg_model *m;
    ck_assert_msg(tg_model_build(d, 3, &m) == TG_OK, "%s", tg_last_error());
    ck_assert_int_eq(m->embed_dim, 3);
    ck_assert_int_eq(tg_graph_forward(m->graph, m->loss), TG_OK);
    tg_model_free(m);
    tg_model_def_free(d);
}
END_TEST

/* ---- every error, at its line and column ---- */

START_TEST(test_unknown_op_suggests_nearest) {
    EXPECT_ERR("input 4 4 1\nflaten\nsiamese normalize=true\n", 2, 1, "did you mean 'flatten'");
    EXPECT_ERR("input 4 4 1\nflatten\nfc: denes units=3\nsiamese normalize=true\n", 3, 5,
               "unknown op 'denes' (did you mean 'dense'?)");
    EXPECT_ERR("input 4 4 1\nflatten\nfc:densse units=3\n", 3, 4, "did you mean 'dense'");
    EXPECT_ERR("inptu 4 4 1\n", 1, 1, "unknown op or keyword 'inptu' (did you mean 'input'?)");
    EXPECT_ERR("input 4 4 1\n   qqqqqqqqq\n", 2, 4, "unknown op or keyword 'qqqqqqqqq'");
}
END_TEST

START_TEST(test_unknown_attribute_suggests_nearest) {
    EXPECT_ERR("input 4 4 1\nflatten\ndense unitz=8\n", 3, 7, "did you mean 'units'");
    EXPECT_ERR("input 4 4 1\nflatten\nfc1: dense units=8 actt=relu\n", 3, 20,
               "layer 'fc1' (dense): unknown attribute 'actt' (did you mean 'act'?)");
    EXPECT_ERR("input 4 4 1\nflatten units=3\n", 2, 9, "op 'flatten' takes no attributes");
}
END_TEST

START_TEST(test_bad_and_out_of_range_values) {
    EXPECT_ERR("input 4 4 1\nflatten\ndense units=abc\n", 3, 13, "expected an integer");
    EXPECT_ERR("input 4 4 1\nflatten\ndense units=0\n", 3, 13, "out of range");
    EXPECT_ERR("input 4 4 1\nflatten\ndense units=4 act=relux\n", 3, 19,
               "expected one of none|relu|sigmoid|tanh");
    EXPECT_ERR("input 4 4 1\nflatten\ndense units=4 bias=maybe\n", 3, 20, "true or false");
    EXPECT_ERR("input 4 4 1\nflatten\ndense units=\n", 3, 13, "needs a value");
    EXPECT_ERR("input 4 4 1\nflatten\ndense units\n", 3, 7, "expected key=value");
    EXPECT_ERR("input 4 4 1\nflatten\ndense =3\n", 3, 7, "expected a name before '='");
    EXPECT_ERR("input 4 4 1\nflatten\ndense units=3 units=4\n", 3, 15, "'units' is given twice");
}
END_TEST

START_TEST(test_missing_required_attribute) {
    EXPECT_ERR("input 4 4 1\nflatten\n  fc: dense act=relu\n", 3, 7,
               "layer 'fc' (dense): op 'dense' needs attribute 'units'");
}
END_TEST

START_TEST(test_layer_names) {
    EXPECT_ERR("input 4 4 1\nx: flatten\nx: dense units=3\n", 3, 1,
               "duplicate layer name 'x' (first defined at line 2)");
    EXPECT_ERR("input 4 4 1\nloss: flatten\n", 2, 1, "layer name 'loss' is reserved");
    EXPECT_ERR("input 4 4 1\n1x: flatten\n", 2, 1, "bad layer name '1x'");
    EXPECT_ERR("input 4 4 1\nx:\n", 2, 3, "expected an op name after 'x:'");
    EXPECT_ERR("input 4 4 1\n: flatten\n", 2, 1, "expected a layer name before ':'");
}
END_TEST

START_TEST(test_dangling_in_suggests_nearest) {
    EXPECT_ERR("input 4 4 1\nfc1: flatten\nd: dense units=3 in=fc2\nsiamese normalize=true\n", 3,
               21, "in= names an unknown layer 'fc2' (did you mean 'fc1'?)");
    EXPECT_ERR("input 4 4 1\nf: flatten\nh: dense units=3 in=f\ns: add in=h,zz\n"
               "siamese normalize=true\n",
               4, 13, "unknown layer 'zz'");
    EXPECT_ERR("input 4 4 1\nf: flatten\ns: add in=f\n", 3, 8,
               "op 'add' takes 2 inputs, in= names 1");
    EXPECT_ERR("input 4 4 1\nf: flatten\ns: add\n", 3, 4, "name them with in=x,y");
    EXPECT_ERR("input 4 4 1\nf: flatten\ns: add in=f,\n", 3, 13, "expected a layer name in in=");
    EXPECT_ERR("input 4 4 1\nf: flatten in=f,f\n", 2, 12,
               "op 'flatten' takes 1 input, in= names 2");
    EXPECT_ERR("input 4 4 1\nf: flatten\nd: dense units=2 in=f in=f\n", 3, 23,
               "'in' is given twice");
}
END_TEST

START_TEST(test_cyclic_in) {
    EXPECT_ERR("input 4 4 1\nf: flatten\nd: dense units=4 in=d\nsiamese normalize=true\n", 3, 21,
               "cyclic in=: layer 'd' takes its own output");
    /* p takes q, q takes p: reported at the first in= of the cycle in the file. */
    EXPECT_ERR("input 4 4 1\n"
               "f: flatten\n"
               "p: dense units=4 in=q\n"
               "q: dense units=4 in=p\n"
               "s: add in=p,f\n"
               "siamese normalize=true\n",
               3, 18, "cyclic in=");
    /* A longer cycle through implicit (sequential) links: p <- r <- q <- p. */
    EXPECT_ERR("input 4 4 1\n"
               "p: dense units=4 in=r\n"
               "q: dense units=4\n"
               "r: dense units=4\n"
               "siamese normalize=true\n",
               2, 18, "p <- r <- q <- p");
}
END_TEST

START_TEST(test_layer_that_does_not_reach_the_embedding) {
    EXPECT_ERR("input 4 4 1\nf: flatten\nside: dense units=4 in=f\ne: dense units=2 in=f\n"
               "siamese normalize=true\n",
               3, 7, "layer 'side' does not lead to the embedding 'e'");
    EXPECT_ERR("input 4 4 1\nf: flatten\ne: dense units=2\nsiamese output=ee normalize=true\n", 4,
               16, "unknown layer 'ee' (did you mean 'e'?)");
}
END_TEST

START_TEST(test_input_line_errors) {
    EXPECT_ERR("input 4 x 1\n", 1, 9, "input width must be a whole number");
    EXPECT_ERR("input 4 4\n", 1, 10, "expected the input channels");
    EXPECT_ERR("input 4 4 1 7\n", 1, 13, "unexpected '7'");
    EXPECT_ERR("input 0 4 1\n", 1, 7, "input height must be a whole number in [1, 8192]");
    EXPECT_ERR("input 4 4 1\ninput 4 4 1\n", 2, 1,
               "a second 'input' line (the first is at line 1)");
    EXPECT_ERR("flatten\nsiamese normalize=true\n", 1, 1, "missing the input line");
    EXPECT_ERR("", 1, 1, "missing the input line");
    EXPECT_ERR("input 4 4 1\nflatten\n", 1, 1, "missing the siamese line");
    EXPECT_ERR("input 4 4 1\n\nsiamese normalize=true\n", 3, 1, "the tower has no layers");
}
END_TEST

START_TEST(test_siamese_line_errors) {
    const char *head = "input 4 4 1\nflatten\n";
    char buf[512];
    snprintf(buf, sizeof buf, "%ssiamese margin=1\n", head);
    EXPECT_ERR(buf, 3, 1, "needs normalize=true or normalize=false");
    snprintf(buf, sizeof buf, "%ssiamese margn=1 normalize=true\n", head);
    EXPECT_ERR(buf, 3, 9, "unknown siamese setting 'margn' (did you mean 'margin'?)");
    snprintf(buf, sizeof buf, "%ssiamese normalize=true margin=-1\n", head);
    EXPECT_ERR(buf, 3, 31, "out of range");
    snprintf(buf, sizeof buf, "%ssiamese normalize=maybe\n", head);
    EXPECT_ERR(buf, 3, 19, "expected true or false");
    snprintf(buf, sizeof buf, "%ssiamese normalize=true loss=contrastiv\n", head);
    EXPECT_ERR(buf, 3, 29, "unknown loss op 'contrastiv' (did you mean 'contrastive'?)");
    snprintf(buf, sizeof buf, "%ssiamese normalize=true distance=relu\n", head);
    EXPECT_ERR(buf, 3, 33, "distance op 'relu' takes 1 input");
    snprintf(buf, sizeof buf, "%ssiamese normalize=true form=seeds\n", head);
    EXPECT_ERR(buf, 3, 29, "expected one of hadsell|seed");
    snprintf(buf, sizeof buf, "%ssiamese normalize=true\nsiamese normalize=true\n", head);
    EXPECT_ERR(buf, 4, 1, "a second 'siamese' line");
}
END_TEST

START_TEST(test_train_line_errors) {
    const char *head = "input 4 4 1\nflatten\nsiamese normalize=true\n";
    char buf[512];
    snprintf(buf, sizeof buf, "%strain epoch=3\n", head);
    EXPECT_ERR(buf, 4, 7, "unknown train setting 'epoch' (did you mean 'epochs'?)");
    snprintf(buf, sizeof buf, "%strain batch=0\n", head);
    EXPECT_ERR(buf, 4, 13, "train batch: expected a whole number in [1, 1048576]");
    snprintf(buf, sizeof buf, "%strain lr=-1\n", head);
    EXPECT_ERR(buf, 4, 10, "train lr");
    snprintf(buf, sizeof buf, "%strain optimizer=adamm\n", head);
    EXPECT_ERR(buf, 4, 17, "expected one of sgd, adam, adamw, rmsprop");
    snprintf(buf, sizeof buf, "%strain optimizer=adam momentum=0.9\n", head);
    EXPECT_ERR(buf, 4, 22, "does not take 'momentum'");
    snprintf(buf, sizeof buf, "%strain beta2=x\n", head);
    EXPECT_ERR(buf, 4, 13, "is not a number");
    snprintf(buf, sizeof buf, "%strain beta2=1.5\n", head);
    EXPECT_ERR(buf, 4, 7, "beta2");
    snprintf(buf, sizeof buf, "%strain lr=0.1 schedule=cosine\n", head);
    EXPECT_ERR(buf, 4, 14, "the cosine schedule needs t_max=N");
    /* Not written is named as missing; a written 0 is out of range. */
    snprintf(buf, sizeof buf, "%strain schedule=step gamma=0.5\n", head);
    EXPECT_ERR(buf, 4, 7, "train: the step schedule needs step_size=N");
    snprintf(buf, sizeof buf, "%strain schedule=step step_size=0\n", head);
    EXPECT_ERR(buf, 4, 21, "step_size must be >= 1, got 0");
    snprintf(buf, sizeof buf, "%strain seed=-4\n", head);
    EXPECT_ERR(buf, 4, 12, "train seed");
    snprintf(buf, sizeof buf, "%strain augment=maybe\n", head);
    EXPECT_ERR(buf, 4, 15, "train augment: expected true or false, got 'maybe'");
    snprintf(buf, sizeof buf, "%strain augmnet=true\n", head);
    EXPECT_ERR(buf, 4, 7, "did you mean 'augment'");
    snprintf(buf, sizeof buf, "%strain\ntrain\n", head);
    EXPECT_ERR(buf, 5, 1, "a second 'train' line");
}
END_TEST

/* A message with its "src:line:col: " cut off, and the train line's "train: " or
 * "train " (its name for the line) too. */
static const char *after_location(const char *msg) {
    for (int colons = 0; colons < 3 && *msg; msg++) colons += *msg == ':';
    if (*msg == ' ') msg++;
    if (strncmp(msg, "train: ", 7) == 0) return msg + 7;
    if (strncmp(msg, "train ", 6) == 0) return msg + 6;
    return msg;
}

/* --schedule's text reads as the train line's schedule: the same checks and, but for
 * the line's name, the same messages, located in the text. */
START_TEST(test_schedule_text_reads_like_the_train_line) {
    static const struct {
        const char *text;
        int col;
        const char *needle;
        int as_file; /* the train line says the same */
    } bad[] = {
        {"bogus", 1, "schedule: expected one of constant, step", 1},
        {"", 1, "schedule: expected one of constant, step", 0},
        {"cosine t_max=abc", 14, "schedule cosine: t_max=abc is not a whole number", 1},
        {"cosine t_max=5 t_max=6", 16, "'t_max' is given twice", 1},
        {"cosine", 1, "the cosine schedule needs t_max=N", 1},
        {"step gamma=0.5", 1, "the step schedule needs step_size=N", 1},
        {"step step_size=0", 6, "step_size must be >= 1, got 0", 1},
        {"cosine t_max=5 patience=3", 16, "schedule cosine does not take 'patience'", 1},
        {"cosine t_max=5 min_lr=1", 16, "min_lr must be in [0, lr=0.001], got 1", 1},
        {"cosine t_max", 8, "expected key=value, got 't_max'", 1},
        {"cosine t_mx=3", 8, "unknown schedule setting 't_mx' (did you mean 't_max'?)", 0},
        {"cosine batch=3", 8, "unknown schedule setting 'batch' (expected one of: step_size", 0},
        {"cosine lr=0.1 t_max=3", 8, "unknown schedule setting 'lr'", 0},
        {"cosine t_max=3 #", 16, "unexpected '#'", 0},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        tg_schedule_config c;
        ck_assert_msg(tg_model_schedule_parse("--schedule", bad[i].text, 1e-3, &c) != TG_OK,
                      "'%s' parsed", bad[i].text);
        char cli[512], prefix[64];
        snprintf(cli, sizeof cli, "%s", tg_last_error());
        snprintf(prefix, sizeof prefix, "--schedule:1:%d: ", bad[i].col);
        ck_assert_msg(strncmp(cli, prefix, strlen(prefix)) == 0 && strstr(cli, bad[i].needle),
                      "'%s': expected '%s...%s', got '%s'", bad[i].text, prefix, bad[i].needle,
                      cli);
        if (!bad[i].as_file) continue;
        char text[512];
        snprintf(text, sizeof text,
                 "input 4 4 1\nflatten\nsiamese normalize=true\ntrain lr=1e-3 schedule=%s\n",
                 bad[i].text);
        tg_model_def *def;
        ck_assert_int_ne(tg_model_def_parse_text("t.tg", text, &def), TG_OK);
        ck_assert_str_eq(after_location(cli), after_location(tg_last_error()));
    }
    /* What parses gives the train line's schedule, at the caller's rate. */
    tg_schedule_config c;
    ck_assert_int_eq(
        tg_model_schedule_parse(NULL, "cosine\tt_max=20 warmup=2 min_lr=1e-5", 0.1, &c), TG_OK);
    tg_model_def *def = parse_ok("input 4 4 1\nflatten\nsiamese normalize=true\n"
                                 "train lr=0.1 schedule=cosine t_max=20 warmup=2 min_lr=1e-5\n");
    ck_assert_int_eq(c.kind, def->train.schedule.kind);
    for (int i = 0; i < tg_schedule_setting_count(); i++)
        ck_assert_msg(tg_schedule_setting_get(&c, i) ==
                          tg_schedule_setting_get(&def->train.schedule, i),
                      "%s differs", tg_schedule_setting_name(i));
    tg_model_def_free(def);
}
END_TEST

START_TEST(test_bytes_and_lengths) {
    EXPECT_ERR("input 4 4 1\nflatten \x01\n", 2, 9, "unexpected byte 0x01");
    EXPECT_ERR("input 4 4 1\nflatten \xc3\xa9\n", 2, 9, "unexpected byte 0xc3");
    /* Non-ASCII in a comment is fine. */
    tg_model_def *d = parse_ok("# caf\xc3\xa9\ninput 4 4 1\nflatten # \xe2\x80\x94\n"
                               "siamese normalize=true\n");
    tg_model_def_free(d);
    char *line = malloc(TG_MODEL_MAX_LINE + 64);
    strcpy(line, "input 4 4 1\n#");
    size_t k = strlen(line);
    memset(line + k, 'x', TG_MODEL_MAX_LINE);
    line[k + TG_MODEL_MAX_LINE] = '\0';
    EXPECT_ERR(line, 2, TG_MODEL_MAX_LINE + 1, "line longer than 1024 bytes");
    line[k + TG_MODEL_MAX_LINE - 1] = '\0'; /* exactly the limit: fine (then missing siamese) */
    EXPECT_ERR(line, 1, 1, "missing the siamese line");
    /* ... also with a CRLF ending, whose \r is no byte of the line; one byte more is not */
    strcpy(line + k + TG_MODEL_MAX_LINE - 1, "\r\n");
    EXPECT_ERR(line, 1, 1, "missing the siamese line");
    strcpy(line + k + TG_MODEL_MAX_LINE - 1, "x\r\n");
    EXPECT_ERR(line, 2, TG_MODEL_MAX_LINE + 1, "line longer than 1024 bytes");
    free(line);
    char *big = malloc(TG_MODEL_MAX_FILE + 2);
    memset(big, '\n', TG_MODEL_MAX_FILE + 1);
    big[TG_MODEL_MAX_FILE + 1] = '\0';
    tg_model_def *bd = (tg_model_def *)1;
    ck_assert_int_eq(tg_model_def_parse_text("big.tg", big, &bd), TG_ERR_LIMIT);
    ck_assert_ptr_null(bd);
    free(big);
}
END_TEST

START_TEST(test_parse_file_reports_io_and_nul_errors) {
    tg_model_def *d = (tg_model_def *)1;
    ck_assert_int_eq(tg_model_def_parse_file("/nonexistent/x.tg", &d), TG_ERR_IO);
    ck_assert_ptr_null(d);
    ck_assert_ptr_nonnull(strstr(tg_last_error(), "/nonexistent/x.tg"));
    /* A directory opens but cannot be read: the message says why. */
    ck_assert_int_eq(tg_model_def_parse_file("/tmp", &d), TG_ERR_IO);
    ck_assert_ptr_null(d);
    char want[128];
    snprintf(want, sizeof want, "/tmp: read error: %s", strerror(EISDIR));
    ck_assert_msg(strcmp(tg_last_error(), want) == 0, "%s", tg_last_error());
    char path[] = "/tmp/tg_model_nul_XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    FILE *f = fdopen(fd, "wb");
    fwrite("input 4 4 1\nfla\0tten\n", 1, 21, f);
    fclose(f);
    ck_assert_int_eq(tg_model_def_parse_file(path, &d), TG_ERR_FORMAT);
    char prefix[128];
    snprintf(prefix, sizeof prefix, "%s:2:4: a NUL byte", path);
    ck_assert_msg(strncmp(tg_last_error(), prefix, strlen(prefix)) == 0, "%s", tg_last_error());
    remove(path);
}
END_TEST

/* ---- the builder ---- */

/* A batch is one tensor of at most TG_MAX_NUMEL elements: an input line within its
 * per-dimension limits can still be too large at a batch, and a layer's output too;
 * both say so and name the limit. */
START_TEST(test_too_large_tensors_name_the_limit) {
    tg_model_def *def =
        parse_ok("input 8192 8192 1024\nflatten\ne: dense units=4\nsiamese normalize=true\n");
    tg_model *m = (tg_model *)1;
    ck_assert_int_eq(tg_model_build_shapes(def, 32, &m), TG_ERR_LIMIT);
    ck_assert_ptr_null(m);
    const char *msg = tg_last_error();
    ck_assert_msg(strncmp(msg, "t.tg:1:1: the input is too large: a batch of 32 images", 54) == 0 &&
                      strstr(msg, "over the limit of 2^40 = 1099511627776 elements per tensor") &&
                      strstr(msg, "at most 16 images"),
                  "got '%s'", msg);
    ck_assert_int_eq(tg_model_build_shapes(def, 16, &m), TG_OK);
    tg_model_free(m);
    tg_model_def_free(def);
    def = parse_ok("input 8192 8192 1\nc: conv2d filters=1024 kernel=1\nflatten\n"
                   "e: dense units=4\nsiamese normalize=true\n");
    ck_assert_int_eq(tg_model_build_shapes(def, 32, &m), TG_ERR_SHAPE);
    msg = tg_last_error();
    ck_assert_msg(strstr(msg, "t.tg:2:4: node 'c' (conv2d): inferred output shape "
                              "(32,1024,8192,8192) is too large: 2199023255552 elements, over "
                              "the limit of 2^40") == msg,
                  "got '%s'", msg);
    tg_model_def_free(def);
}
END_TEST

/* A distance or loss op that fits its registry slot by input count but not by shape is
 * told what it was given: "(N) and (N)" alone read as a contradiction of "(N, D)". */
START_TEST(test_head_ops_are_told_what_they_were_given) {
    tg_model_def *def = parse_ok("input 4 4 1\nflatten\ne: dense units=3\n"
                                 "siamese normalize=true loss=l2distance\n");
    tg_model *m = (tg_model *)1;
    ck_assert_int_eq(tg_model_build_shapes(def, 8, &m), TG_ERR_SHAPE);
    ck_assert_ptr_null(m);
    ck_assert_msg(strstr(tg_last_error(), "t.tg:4:1: loss=l2distance, given the pair distances "
                                          "(8) and labels (8): ") == tg_last_error(),
                  "got '%s'", tg_last_error());
    tg_model_def_free(def);
    def = parse_ok("input 4 4 1\nflatten\ne: dense units=3\n"
                   "siamese normalize=true distance=contrastive\n");
    ck_assert_int_eq(tg_model_build_shapes(def, 8, &m), TG_ERR_SHAPE);
    ck_assert_msg(strstr(tg_last_error(), "t.tg:4:1: distance=contrastive, given the two "
                                          "embeddings (8,3): ") == tg_last_error(),
                  "got '%s'", tg_last_error());
    tg_model_def_free(def);
}
END_TEST

/* A triplet model trains on batches of classes x per_class images: a build at the
 * default batch is at that batch (not the train line's), so a shape-only build refuses
 * what training refuses, in the same words (batch_all over more than 128 images). */
START_TEST(test_triplet_model_builds_at_classes_times_per_class) {
    static const char *head = "input 4 4 1\nflatten\nembed: dense units=4\n"
                              "siamese normalize=true\ntrain batch=64\n";
    char buf[512];
    snprintf(buf, sizeof buf, "%striplet mining=batch_all classes=4 per_class=3\n", head);
    tg_model_def *def = parse_ok(buf);
    tg_model *m;
    ck_assert_msg(tg_model_build_shapes(def, 0, &m) == TG_OK, "%s", tg_last_error());
    ck_assert_int_eq(m->batch, 12);
    tg_model_free(m);
    tg_model_def_free(def);
    snprintf(buf, sizeof buf, "%striplet mining=batch_all classes=1024 per_class=1024\n", head);
    def = parse_ok(buf);
    m = (tg_model *)1;
    ck_assert_int_eq(tg_model_build_shapes(def, 0, &m), TG_ERR_SHAPE);
    ck_assert_ptr_null(m);
    const char *msg = tg_last_error();
    const char *want = "t.tg:6:1: the triplet head (classes=1024 x per_class=1024 = 1048576 "
                       "images per batch): ";
    ck_assert_msg(strncmp(msg, want, strlen(want)) == 0 &&
                      strstr(msg, "mining=batch_all over a batch of 1048576 images") &&
                      strstr(msg, "use a batch of at most 128"),
                  "got '%s'", msg);
    tg_model_def_free(def);
}
END_TEST

START_TEST(test_shape_errors_name_the_layer_and_both_shapes) {
    expect_build_error_at("input 4 4 1\nf: flatten\nh1: dense units=8 in=f\n"
                          "h2: dense units=4 in=f\n  s: add in=h1,h2\nsiamese normalize=true\n",
                          5, 6, "add needs inputs of equal shape, got (4,8) and (4,4)");
    expect_build_error_at("input 4 4 1\nflatten\nr: reshape shape=3x3\nsiamese normalize=true\n", 3,
                          4, "input (4,16) has 16 elements per item, shape=(3,3) has 9");
    /* Issue 10, failure 1: dims whose product overflows int64 are refused where they are read. */
    EXPECT_ERR("input 4 4 1\nflatten\nr: reshape shape=16777216x1099511627776\n"
               "siamese normalize=true\n",
               3, 18, "too large");
    /* The loss must be a scalar: a user who names a non-loss op as the loss hears so. */
    expect_build_error_at("input 4 4 1\nflatten\nsiamese normalize=true loss=sub\n", 3, 1,
                          "loss op 'sub' gives (4); the loss must be a scalar");
}
END_TEST

static int64_t numel(const tg_node *n) {
    return tg_shape_numel(tg_node_shape(n));
}

START_TEST(test_towers_share_one_set_of_parameters) {
    tg_model_def *d = parse_ok(BASE);
    tg_model *m;
    ck_assert_msg(tg_model_build(d, 4, &m) == TG_OK, "%s", tg_last_error());
    /* dense 16->8 (+8 bias) and 8->4 (+4 bias): one tower's worth, not two. */
    ck_assert_int_eq(tg_graph_param_count(m->graph), 4);
    int64_t total = 0;
    for (int i = 0; i < tg_graph_param_count(m->graph); i++)
        total += numel(tg_graph_param_at(m->graph, i));
    ck_assert_int_eq(total, 16 * 8 + 8 + 8 * 4 + 4);
    for (int i = 0; i < d->n_layers; i++) {
        ck_assert_ptr_ne(m->tower_a[i], m->tower_b[i]);
        for (int k = 0; k < TG_MAX_PARAMS; k++)
            ck_assert_ptr_eq(tg_node_param(m->tower_a[i], k), tg_node_param(m->tower_b[i], k));
    }
    ck_assert(tg_node_kind(m->loss) & TG_NODE_LOSS);
    ck_assert_int_eq(m->embed_dim, 4);
    ck_assert_str_eq(tg_node_op(m->ea)->name, "l2normalize");
    /* Same images on both sides: same embeddings, distance 0. Then a real step. */
    float img[4 * 16], y[4] = {0, 1, 0, 1};
    for (int i = 0; i < 64; i++) img[i] = (float)((i * 37) % 11) / 11.0f - 0.5f;
    ck_assert_int_eq(tg_input_set(m->a, tg_shape4(4, 1, 4, 4), img), TG_OK);
    ck_assert_int_eq(tg_input_set(m->b, tg_shape4(4, 1, 4, 4), img), TG_OK);
    ck_assert_int_eq(tg_input_set(m->y, tg_shape1(4), y), TG_OK);
    ck_assert_int_eq(tg_graph_forward(m->graph, m->loss), TG_OK);
    for (int i = 0; i < 16; i++) ck_assert(tg_node_data(m->ea)[i] == tg_node_data(m->eb)[i]);
    for (int i = 0; i < 4; i++) ck_assert(tg_node_data(m->distance)[i] == 0.0f);
    /* Dissimilar pairs at distance 0 with margin 1: loss = mean(y * 1/2) = 0.25. */
    ck_assert(fabsf(tg_node_data(m->loss)[0] - 0.25f) < 1e-6f);
    tg_graph_zero_grad(m->graph);
    ck_assert_int_eq(tg_graph_backward(m->graph, m->loss), TG_OK);
    tg_model_free(m);
    tg_model_def_free(d);
}
END_TEST

START_TEST(test_embed_at_another_batch_size_matches_single_images) {
    tg_model_def *d = parse_ok(BASE);
    tg_model *m;
    ck_assert_msg(tg_model_build(d, 4, &m) == TG_OK, "%s", tg_last_error());
    enum { N = 7 };
    float img[N * 16], out[N * 4], one[4];
    for (int i = 0; i < N * 16; i++) img[i] = (float)((i * 53) % 17) / 17.0f - 0.4f;
    ck_assert_int_eq(tg_graph_training(m->graph), 1);
    /* 7 images with a batch of 4: chunks of 4 and 3, while b keeps its batch of 4. */
    ck_assert_msg(tg_model_embed(m, img, N, out) == TG_OK, "%s", tg_last_error());
    ck_assert_int_eq(tg_graph_training(m->graph), 1); /* mode restored */
    ck_assert_int_eq(tg_node_shape(m->b)->dim[0], 4);
    for (int i = 0; i < N; i++) {
        ck_assert_int_eq(tg_model_embed(m, img + i * 16, 1, one), TG_OK);
        double norm = 0;
        for (int k = 0; k < 4; k++) {
            ck_assert_msg(fabsf(one[k] - out[i * 4 + k]) < 1e-6f, "image %d dim %d", i, k);
            norm += (double)one[k] * one[k];
        }
        ck_assert(fabs(norm - 1.0) < 1e-5); /* normalize=true: unit length */
    }
    /* A direct single-tower forward with a = one image while b holds 4. */
    ck_assert_int_eq(tg_input_set(m->a, tg_shape4(1, 1, 4, 4), img + 16), TG_OK);
    ck_assert_int_eq(tg_graph_forward(m->graph, m->ea), TG_OK);
    for (int k = 0; k < 4; k++) ck_assert(fabsf(tg_node_data(m->ea)[k] - out[4 + k]) < 1e-6f);
    /* Training still runs at its own batch afterwards. */
    float y[4] = {0, 1, 1, 0};
    ck_assert_int_eq(tg_input_set(m->a, tg_shape4(4, 1, 4, 4), img), TG_OK);
    ck_assert_int_eq(tg_input_set(m->b, tg_shape4(4, 1, 4, 4), img + 16), TG_OK);
    ck_assert_int_eq(tg_input_set(m->y, tg_shape1(4), y), TG_OK);
    ck_assert_int_eq(tg_graph_forward(m->graph, m->loss), TG_OK);
    ck_assert(isfinite(tg_node_data(m->loss)[0]));
    ck_assert_int_eq(tg_graph_backward(m->graph, m->loss), TG_OK);
    ck_assert_int_eq(tg_model_embed(m, img, 0, out), TG_OK);
    ck_assert_int_eq(tg_model_embed(m, NULL, 3, out), TG_ERR_INVALID);
    tg_model_free(m);
    tg_model_def_free(d);
}
END_TEST

START_TEST(test_build_keeps_its_own_definition_and_caller_settings) {
    tg_model_def *d = parse_ok(BASE);
    d->train.epochs = 77; /* e.g. a --epochs override */
    tg_model *m;
    ck_assert_int_eq(tg_model_build(d, 0, &m), TG_OK);
    ck_assert_int_eq(m->batch, 4); /* 0: the train line's batch */
    tg_model_def_free(d);          /* the model does not depend on the caller's copy */
    ck_assert_int_eq(m->train->epochs, 77);
    ck_assert_str_eq(m->def->text, BASE);
    ck_assert_int_eq(tg_node_shape(m->a)->dim[0], 4);
    tg_model_free(m);
}
END_TEST

/* ---- summary ---- */

START_TEST(test_summary_of_dense_model_has_exact_totals) {
    tg_model_def *d = parse_ok(BASE);
    tg_model *m;
    ck_assert_int_eq(tg_model_build(d, 4, &m), TG_OK);
    tg_model_stats st;
    ck_assert_int_eq(tg_model_stats_get(m, 10, &st), TG_OK);
    ck_assert_int_eq(st.params, 172);
    ck_assert_int_eq(st.state, 0);
    /* dense 2*16*8 + relu-fused; dense 2*8*4; l2normalize 3*4 per image. */
    ck_assert(fabs(st.flops - (2.0 * 16 * 8 + 2.0 * 8 * 4 + 3.0 * 4)) < 1e-9);
    /* Items: flatten 16, fc1 8, embed 4, normalize 4 = 32; input 16. */
    ck_assert_int_eq(st.tower_floats, 10 * (16 + 32));
    ck_assert_int_eq(st.tower_bytes, 4 * 10 * (16 + 2 * 32));
    ck_assert_int_eq(st.total_bytes, 2 * st.tower_bytes + 4 * (3 * 10 + 2));
    char small[16];
    int64_t need = tg_model_summary_str(m, 10, small, sizeof small);
    ck_assert_int_gt(need, 200);
    ck_assert_int_eq((int)strlen(small), 15);
    char *text = malloc((size_t)need + 1);
    ck_assert_int_eq(tg_model_summary_str(m, 10, text, (size_t)need + 1), need);
    ck_assert_ptr_nonnull(strstr(text, "fc1"));
    ck_assert_ptr_nonnull(strstr(text, "(N,8)"));
    ck_assert_ptr_nonnull(strstr(text, "136")); /* fc1: 16*8 + 8 */
    ck_assert_ptr_nonnull(strstr(text, "<- embedding"));
    ck_assert_ptr_nonnull(strstr(text, "172 trainable"));
    ck_assert_ptr_nonnull(strstr(text, "batch of 10 pairs"));
    FILE *f = tmpfile();
    ck_assert_int_eq(tg_model_summary(m, 10, f), TG_OK);
    ck_assert_int_eq((int)ftell(f), (int)need);
    fclose(f);
    free(text);
    tg_model_free(m);
    tg_model_def_free(d);
}
END_TEST

/* ---- the files in models/ ---- */

static void round_trip(const char *file, int run_steps) {
    char path[1024];
    snprintf(path, sizeof path, "%s/models/%s", srcdir(), file);
    tg_model_def *d;
    ck_assert_msg(tg_model_def_parse_file(path, &d) == TG_OK, "%s", tg_last_error());
    char *text = read_file(path);
    ck_assert_ptr_nonnull(text);
    ck_assert_str_eq(d->text, text);
    ck_assert_int_eq(d->normalize, 1); /* every shipped model trains on unit-length embeddings */
    tg_model *m;
    ck_assert_msg(tg_model_build(d, 2, &m) == TG_OK, "%s", tg_last_error());
    int64_t need = tg_model_summary_str(m, d->train.batch, NULL, 0);
    ck_assert_int_gt(need, 0);
    char *sum = malloc((size_t)need + 1);
    tg_model_summary_str(m, d->train.batch, sum, (size_t)need + 1);
    for (int i = 0; i < d->n_layers; i++)
        ck_assert_msg(strstr(sum, d->layers[i].name), "%s: layer %s missing from summary", file,
                      d->layers[i].name);
    tg_model_stats st;
    ck_assert_int_eq(tg_model_stats_get(m, 0, &st), TG_OK);
    int64_t by_layer = 0;
    for (int i = 0; i < d->n_layers; i++)
        for (int k = 0; k < TG_MAX_PARAMS; k++)
            if (tg_layer_param(m->layers[i], k))
                by_layer += tg_shape_numel(tg_node_shape(tg_layer_param(m->layers[i], k)));
    ck_assert_int_eq(by_layer, st.params + st.state); /* the towers share every parameter */
    ck_assert(st.flops > 0);
    printf("%s", sum);
    if (run_steps) {
        int64_t item = (int64_t)d->channels * d->height * d->width;
        float *img = malloc((size_t)(4 * item) * sizeof(float)); /* a: 2 images, b: 2 more */
        for (int64_t i = 0; i < 4 * item; i++) img[i] = (float)((i * 7919) % 101) / 101.0f;
        float y[2] = {0, 1};
        ck_assert_int_eq(tg_input_set(m->a, tg_shape4(2, d->channels, d->height, d->width), img),
                         0);
        ck_assert_int_eq(
            tg_input_set(m->b, tg_shape4(2, d->channels, d->height, d->width), img + 2 * item), 0);
        ck_assert_int_eq(tg_input_set(m->y, tg_shape1(2), y), TG_OK);
        ck_assert_msg(tg_graph_forward(m->graph, m->loss) == TG_OK, "%s", tg_last_error());
        ck_assert(isfinite(tg_node_data(m->loss)[0]));
        tg_graph_zero_grad(m->graph);
        ck_assert_msg(tg_graph_backward(m->graph, m->loss) == TG_OK, "%s", tg_last_error());
        float *out = malloc((size_t)(3 * m->embed_dim) * sizeof(float));
        ck_assert_msg(tg_model_embed(m, img, 1, out) == TG_OK, "%s", tg_last_error());
        free(out);
        free(img);
    }
    free(sum);
    free(text);
    tg_model_free(m);
    tg_model_def_free(d);
}

START_TEST(test_models_dir_siamese_small_round_trip) {
    round_trip("siamese_small.tg", 1);
}
END_TEST
START_TEST(test_models_dir_fashion_mnist_round_trip) {
    round_trip("fashion_mnist.tg", 1);
}
END_TEST
START_TEST(test_models_dir_siamese_xray_round_trip) {
    round_trip("siamese_xray.tg", 0);
}
END_TEST

START_TEST(test_models_dir_siamese_xray_matches_the_seed_architecture) {
    char path[1024];
    snprintf(path, sizeof path, "%s/models/siamese_xray.tg", srcdir());
    tg_model_def *d;
    ck_assert_msg(tg_model_def_parse_file(path, &d) == TG_OK, "%s", tg_last_error());
    ck_assert(d->height == 150 && d->width == 150 && d->channels == 1);
    int conv = 0, sep = 0, bn = 0, pool = 0, dense = 0;
    for (int i = 0; i < d->n_layers; i++) {
        const char *op = d->layers[i].op->name;
        conv += strcmp(op, "conv2d") == 0;
        sep += strcmp(op, "sepconv2d") == 0;
        bn += strcmp(op, "batchnorm") == 0;
        pool += strcmp(op, "maxpool2d") == 0;
        dense += strcmp(op, "dense") == 0;
    }
    ck_assert(conv == 2 && sep == 8 && bn == 4 && pool == 4 && dense == 3);
    ck_assert_str_eq(d->distance->name, "l2distance");
    ck_assert_str_eq(d->loss->name, "contrastive");
    ck_assert_ptr_nonnull(strstr(d->loss_attrs, "margin=1"));
    tg_model *m;
    ck_assert_msg(tg_model_build(d, 1, &m) == TG_OK, "%s", tg_last_error());
    const tg_shape *s = tg_node_shape(m->tower_a[tg_model_def_find(d, "pool4")]);
    ck_assert(s->dim[1] == 256 && s->dim[2] == 9 && s->dim[3] == 9);
    ck_assert_int_eq(m->embed_dim, 64);
    tg_model_free(m);
    tg_model_def_free(d);
}
END_TEST

/* ---- a user op, registered at run time, in a model file ---- */

static const tg_attr_spec shift_attrs[] = {
    {"by", TG_ATTR_FLOAT, NULL, -100, 100, NULL, "added to every element"},
};
static tg_status shift_infer(const tg_node *n, const tg_shape *in, tg_shape *out, tg_shape *p) {
    (void)n;
    (void)p;
    *out = in[0];
    return TG_OK;
}
static tg_status shift_forward(tg_node *n) {
    int64_t k = tg_shape_numel(tg_node_shape(n));
    for (int64_t i = 0; i < k; i++)
        tg_node_data(n)[i] = tg_node_data(tg_node_input(n, 0))[i] + (float)tg_node_attrs(n)->v[0].f;
    return TG_OK;
}
static tg_status shift_backward(tg_node *n) {
    if (!tg_node_wants_grad(tg_node_input(n, 0))) return TG_OK;
    int64_t k = tg_shape_numel(tg_node_shape(n));
    for (int64_t i = 0; i < k; i++) tg_node_grad(tg_node_input(n, 0))[i] += tg_node_grad(n)[i];
    return TG_OK;
}
static double shift_flops(const tg_node *n) {
    return (double)tg_shape_numel(tg_node_shape(n));
}
static const tg_op user_shift = {
    .name = "user_shift",
    .doc = "x + by",
    .n_inputs = 1,
    .attrs = shift_attrs,
    .n_attrs = 1,
    .infer = shift_infer,
    .forward = shift_forward,
    .backward = shift_backward,
    .flops = shift_flops,
    .examples = {{"2x3", "by=1"}},
};

START_TEST(test_user_registered_op_works_in_a_model_file) {
    if (!tg_op_find("user_shift")) ck_assert_int_eq(tg_op_register(&user_shift), TG_OK);
    const char *text = "input 4 4 1\nflatten\nsh: user_shift by=0.5\ndense units=3\n"
                       "siamese normalize=false\n";
    tg_model_def *d = parse_ok(text);
    ck_assert_ptr_eq(d->layers[1].op, &user_shift);
    tg_model *m;
    ck_assert_msg(tg_model_build(d, 2, &m) == TG_OK, "%s", tg_last_error());
    float img[32] = {0};
    ck_assert_int_eq(tg_input_set(m->a, tg_shape4(2, 1, 4, 4), img), TG_OK);
    ck_assert_int_eq(tg_graph_forward(m->graph, m->ea), TG_OK);
    ck_assert(tg_node_data(m->tower_a[1])[0] == 0.5f);
    tg_model_stats st;
    tg_model_stats_get(m, 2, &st);
    ck_assert(fabs(st.flops - (16.0 + 2.0 * 16 * 3)) < 1e-9);
    tg_model_free(m);
    tg_model_def_free(d);
    EXPECT_ERR("input 4 4 1\nflatten\nuser_shift bye=1\n", 3, 12, "did you mean 'by'");
    EXPECT_ERR("input 4 4 1\nflatten\nuser_shift\n", 3, 1, "needs attribute 'by'");
    EXPECT_ERR("input 4 4 1\nflatten\nuser_shfit by=1\n", 3, 1, "did you mean 'user_shift'");
}
END_TEST

/* ---- robustness: random, truncated and mutated text never crashes ---- */

static uint64_t lcg(uint64_t *s) {
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return *s >> 33;
}

/* Parse; on success build at batch 1 and free. Errors must carry a message. */
static void parse_any(const char *text) {
    tg_model_def *d = NULL;
    tg_status st = tg_model_def_parse_text("f.tg", text, &d);
    if (st) {
        ck_assert_ptr_null(d);
        ck_assert_msg(strncmp(tg_last_error(), "f.tg", 4) == 0, "unlocated error '%s'",
                      tg_last_error());
        return;
    }
    tg_model *m = NULL;
    if ((int64_t)d->height * d->width * d->channels <= 4096 && tg_model_build(d, 1, &m) == TG_OK)
        tg_model_free(m);
    tg_model_def_free(d);
}

START_TEST(test_fuzz_truncations_mutations_and_random_bytes_never_crash) {
    char path[1024];
    snprintf(path, sizeof path, "%s/models/siamese_small.tg", srcdir());
    char *small = read_file(path);
    const char *seeds[2] = {BASE, small ? small : BASE};
    uint64_t rng = 12345;
    for (int s = 0; s < 2; s++) {
        const char *src = seeds[s];
        size_t len = strlen(src);
        char *buf = malloc(len + 1);
        for (size_t cut = 0; cut <= len; cut++) { /* every truncation */
            memcpy(buf, src, cut);
            buf[cut] = '\0';
            parse_any(buf);
        }
        for (int it = 0; it < 1500; it++) { /* 1-4 random byte changes */
            memcpy(buf, src, len + 1);
            int k = 1 + (int)(lcg(&rng) % 4);
            for (int j = 0; j < k; j++) {
                size_t at = lcg(&rng) % len;
                const char pick[] = "=:,#x0 \n-9\t\r\x80\xff.1e9";
                buf[at] = (char)(lcg(&rng) % 3 ? pick[lcg(&rng) % (sizeof pick - 1)]
                                               : (char)(1 + lcg(&rng) % 255));
            }
            parse_any(buf);
        }
        free(buf);
    }
    char rnd[600];
    for (int it = 0; it < 2000; it++) { /* random bytes */
        int n = (int)(lcg(&rng) % (sizeof rnd - 1));
        for (int i = 0; i < n; i++) rnd[i] = (char)(1 + lcg(&rng) % 255);
        rnd[n] = '\0';
        parse_any(rnd);
    }
    /* Random words drawn from the grammar. */
    const char *words[] = {"input",    "4",       "2",         "1",           "siamese",
                           "train",    "flatten", "dense",     "units=3",     "in=a",
                           "in=x,y",   "x:",      "y:",        "add",         "normalize=true",
                           "batch=2",  "\n",      "\n",        "#",           "relu",
                           "output=x", "reshape", "shape=2x2", "l2normalize", "loss=contrastive",
                           "margin=2"};
    char line[4096];
    for (int it = 0; it < 3000; it++) {
        size_t o = 0;
        int n = 1 + (int)(lcg(&rng) % 40);
        for (int i = 0; i < n && o < sizeof line - 32; i++)
            o += (size_t)snprintf(line + o, sizeof line - o, "%s ",
                                  words[lcg(&rng) % (sizeof words / sizeof words[0])]);
        parse_any(line);
    }
    free(small);
}
END_TEST

/* Parse once: a copy of a definition builds the same model as the original, the
 * builder reads the parsed attributes, and a model built for a restore starts at
 * zero and equals the original once the checkpoint is restored into it. */
START_TEST(test_copy_builds_the_same_model_without_reparsing) {
    tg_model_def *def;
    ck_assert_int_eq(tg_model_def_parse_text("t.tg", BASE, &def), TG_OK);
    tg_model_def *copy = tg_model_def_copy(def);
    ck_assert_ptr_nonnull(copy);
    ck_assert_ptr_ne(copy->layers, def->layers);
    ck_assert_int_eq(copy->n_layers, def->n_layers);
    for (int i = 0; i < def->n_layers; i++) {
        ck_assert_str_eq(copy->layers[i].name, def->layers[i].name);
        ck_assert_str_eq(copy->layers[i].attrs, def->layers[i].attrs);
        ck_assert_int_eq(copy->order[i], def->order[i]);
    }
    /* units=8 was parsed once into the layer, not re-read from its text */
    int u = tg_op_attr_index(def->layers[1].op, "units");
    ck_assert_int_eq(copy->layers[1].parsed.v[u].i, 8);
    copy->layers[1].parsed.v[u].i = 5; /* the builder must use the parsed value */
    tg_model *a, *b;
    ck_assert_int_eq(tg_model_build(def, 0, &a), TG_OK);
    tg_model_def_free(def); /* the copy owns its own memory */
    ck_assert_int_eq(tg_model_build(copy, 0, &b), TG_OK);
    ck_assert_int_eq(tg_node_shape(a->tower_a[1])->dim[1], 8);
    ck_assert_int_eq(tg_node_shape(b->tower_a[1])->dim[1], 5);
    tg_model_free(a);
    tg_model_free(b);
    tg_model_def_free(copy);
}
END_TEST

START_TEST(test_build_for_restore_starts_at_zero_and_restores_exactly) {
    tg_model_def *def;
    ck_assert_int_eq(tg_model_def_parse_text("t.tg", BASE, &def), TG_OK);
    tg_model *m, *r;
    ck_assert_int_eq(tg_model_build(def, 0, &m), TG_OK);
    ck_assert_int_eq(tg_model_build_for_restore(def, 0, &r), TG_OK);
    int64_t n, nr;
    const float *p = tg_graph_param_data(m->graph, &n), *q = tg_graph_param_data(r->graph, &nr);
    ck_assert_int_eq(n, nr);
    int nonzero = 0;
    for (int64_t i = 0; i < n; i++) {
        ck_assert(q[i] == 0.0f);
        nonzero += p[i] != 0.0f;
    }
    ck_assert_int_gt(nonzero, n / 2); /* the ordinary build did initialise */
    /* the restore-built graph drew nothing from its RNG */
    tg_rng fresh;
    tg_rng_seed(&fresh, def->train.seed);
    ck_assert(tg_rng_u64(tg_graph_rng(r->graph)) == tg_rng_u64(&fresh));
    tg_checkpoint_data d = {.graph = m->graph};
    ck_assert_int_eq(tg_checkpoint_save("test_restore.tgc", &d), TG_OK);
    tg_checkpoint *ck;
    ck_assert_int_eq(tg_checkpoint_load("test_restore.tgc", &ck), TG_OK);
    ck_assert_int_eq(tg_checkpoint_restore(ck, r->graph, NULL, NULL), TG_OK);
    ck_assert_mem_eq(tg_graph_param_data(r->graph, NULL), p, (size_t)n * sizeof(float));
    tg_checkpoint_free(ck);
    remove("test_restore.tgc");
    tg_model_free(m);
    tg_model_free(r);
    tg_model_def_free(def);
}
END_TEST

START_TEST(test_layer_from_parsed_attributes_checks_required_ones) {
    tg_graph *g = tg_graph_new(1);
    const tg_op *dense = tg_op_find("dense");
    tg_attrs attrs;
    tg_attrs_init(dense, &attrs); /* units is required and unset */
    ck_assert_ptr_null(tg_graph_layer_new(g, dense, "fc", &attrs));
    ck_assert_ptr_nonnull(strstr(tg_last_error(), "units"));
    ck_assert_int_eq(tg_attrs_parse(dense, "units=3", &attrs), TG_OK);
    tg_layer *fc = tg_graph_layer_new(g, dense, "fc", &attrs);
    ck_assert_ptr_nonnull(fc);
    tg_node *x = tg_graph_input(g, "x", tg_shape2(2, 4));
    tg_node *y = tg_layer_apply1(fc, x);
    ck_assert_ptr_nonnull(y);
    ck_assert_int_eq(tg_node_shape(y)->dim[1], 3);
    tg_graph_free(g);
}
END_TEST

/* Gradient buffers shared by liveness (on for models) give the parameter gradients
 * of the plain sweep, twice (the second time over stale buffers, which the ops that
 * set a fresh input gradient themselves must not add into), and keep no
 * intermediate gradient; switched off, every gradient is kept. */
static void check_shared_gradients(const char *model_text, int c, int h, int w) {
    tg_model_def *def = parse_ok(model_text);
    tg_model *m;
    ck_assert_msg(tg_model_build(def, 3, &m) == TG_OK, "%s", tg_last_error());
    int64_t item = (int64_t)c * h * w, n;
    float *x = malloc(sizeof(float) * (size_t)(6 * item)), y[3] = {0, 1, 0};
    tg_rng rng;
    tg_rng_seed(&rng, 11);
    for (int64_t i = 0; i < 6 * item; i++) x[i] = (float)tg_rng_uniform(&rng);
    ck_assert_int_eq(tg_input_set(m->a, tg_shape4(3, c, h, w), x), TG_OK);
    ck_assert_int_eq(tg_input_set(m->b, tg_shape4(3, c, h, w), x + 3 * item), TG_OK);
    ck_assert_int_eq(tg_input_set(m->y, tg_shape1(3), y), TG_OK);
    float *grads = tg_graph_grad_data(m->graph, &n), *plain = malloc(sizeof(float) * (size_t)n);
    for (int run = 0; run < 3; run++) { /* plain, then shared twice (stale buffers) */
        tg_graph_set_grad_reuse(m->graph, run > 0);
        ck_assert_int_eq(tg_graph_forward(m->graph, m->loss), TG_OK);
        tg_graph_zero_grad(m->graph);
        ck_assert_msg(tg_graph_backward(m->graph, m->loss) == TG_OK, "%s", tg_last_error());
        if (run == 0) {
            ck_assert_ptr_nonnull(tg_node_grad(m->ea));
            memcpy(plain, grads, sizeof(float) * (size_t)n);
            continue;
        }
        ck_assert_ptr_null(tg_node_grad(m->ea)); /* not kept */
        double worst = 0.0, scale = 0.0;
        for (int64_t i = 0; i < n; i++) {
            /* a NaN compares false with everything: it would pass the bound below */
            ck_assert_msg(isfinite(grads[i]), "run %d: gradient %lld is %g", run, (long long)i,
                          grads[i]);
            double d = fabs((double)plain[i] - grads[i]);
            if (d > worst) worst = d;
            if (fabs(plain[i]) > scale) scale = fabs(plain[i]);
        }
        ck_assert_msg(scale > 0.0, "all parameter gradients are zero");
        ck_assert_msg(worst <= 1e-5 * scale, "run %d: largest difference %g (scale %g)", run, worst,
                      scale);
    }
    free(plain);
    free(x);
    tg_model_free(m);
    tg_model_def_free(def);
}

/* A tower with a residual add, sepconvs, batch norm and max pooling. */
START_TEST(test_shared_gradient_buffers_give_the_same_parameter_gradients) {
    char path[512];
    snprintf(path, sizeof path, "%s/models/siamese_small.tg", srcdir());
    char *text = read_file(path);
    ck_assert_ptr_nonnull(text);
    check_shared_gradients(text, 1, 64, 64);
    free(text);
}
END_TEST

/* Convolutions that set a fresh input gradient themselves: Winograd (c2, writing
 * c1's), im2col (c3, zeroing c2's per image) and max pooling (c3's). */
START_TEST(test_shared_gradient_buffers_through_convolutions) {
    check_shared_gradients("input 13 12 2\n"
                           "c1: conv2d filters=8 kernel=3 act=relu\n"
                           "c2: conv2d filters=8 kernel=3 act=relu algo=winograd\n"
                           "c3: conv2d filters=4 kernel=3 stride=2 act=relu\n"
                           "p: maxpool2d size=2\n"
                           "f: flatten\n"
                           "e: dense units=3\n"
                           "siamese normalize=true\n",
                           2, 13, 12);
}
END_TEST

/* The other ops that set a fresh input gradient themselves, over stale buffers:
 * depthwise convs (d1 and d2 through padded planes, d2's second filter adding to
 * what its first set; d3 by the general kernels), a one-channel conv2d by the
 * depthwise kernels (c3, four filters), a sepconv (s1), a batch norm (b1) and a
 * max pool whose windows tile its input (p). */
START_TEST(test_shared_gradient_buffers_through_depthwise_and_pooling) {
    check_shared_gradients("input 12 12 2\n"
                           "c1: conv2d filters=4 kernel=3 act=relu\n"
                           "d1: depthwise_conv2d kernel=3 act=relu\n"
                           "d2: depthwise_conv2d kernel=3 multiplier=2 act=tanh\n"
                           "c2: conv2d filters=1 kernel=3 act=relu\n"
                           "c3: conv2d filters=4 kernel=3 act=relu\n"
                           "s1: sepconv2d filters=6 kernel=3 act=relu\n"
                           "b1: batchnorm\n"
                           "p: maxpool2d size=2\n"
                           "d3: depthwise_conv2d kernel=3 stride=2 act=relu\n"
                           "f: flatten\n"
                           "e: dense units=3\n"
                           "siamese normalize=true\n",
                           2, 12, 12);
}
END_TEST

int main(void) {
    Suite *s = suite_create("models");
    TCase *tc = tcase_create("grammar");
    tcase_add_test(tc, test_base_model_parses_with_its_settings);
    tcase_add_test(tc, test_train_line_maps_onto_optimizer_and_schedule);
    tcase_add_test(tc, test_value_plans_change_memory_not_results);
    tcase_add_test(tc, test_relu_op_backward_reads_the_packed_signs);
    tcase_add_test(tc, test_comments_blank_lines_tabs_and_crlf_are_accepted);
    tcase_add_test(tc, test_generated_names_skip_written_ones);
    tcase_add_test(tc, test_forward_references_are_ordered_by_dependency);
    suite_add_tcase(s, tc);
    tc = tcase_create("errors");
    tcase_add_test(tc, test_unknown_op_suggests_nearest);
    tcase_add_test(tc, test_unknown_attribute_suggests_nearest);
    tcase_add_test(tc, test_bad_and_out_of_range_values);
    tcase_add_test(tc, test_missing_required_attribute);
    tcase_add_test(tc, test_layer_names);
    tcase_add_test(tc, test_dangling_in_suggests_nearest);
    tcase_add_test(tc, test_cyclic_in);
    tcase_add_test(tc, test_layer_that_does_not_reach_the_embedding);
    tcase_add_test(tc, test_input_line_errors);
    tcase_add_test(tc, test_siamese_line_errors);
    tcase_add_test(tc, test_train_line_errors);
    tcase_add_test(tc, test_schedule_text_reads_like_the_train_line);
    tcase_add_test(tc, test_bytes_and_lengths);
    tcase_add_test(tc, test_parse_file_reports_io_and_nul_errors);
    tcase_add_test(tc, test_shape_errors_name_the_layer_and_both_shapes);
    tcase_add_test(tc, test_too_large_tensors_name_the_limit);
    tcase_add_test(tc, test_triplet_model_builds_at_classes_times_per_class);
    tcase_add_test(tc, test_head_ops_are_told_what_they_were_given);
    suite_add_tcase(s, tc);
    tc = tcase_create("build");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_towers_share_one_set_of_parameters);
    tcase_add_test(tc, test_embed_at_another_batch_size_matches_single_images);
    tcase_add_test(tc, test_build_keeps_its_own_definition_and_caller_settings);
    tcase_add_test(tc, test_copy_builds_the_same_model_without_reparsing);
    tcase_add_test(tc, test_build_for_restore_starts_at_zero_and_restores_exactly);
    tcase_add_test(tc, test_layer_from_parsed_attributes_checks_required_ones);
    tcase_add_test(tc, test_summary_of_dense_model_has_exact_totals);
    tcase_add_test(tc, test_user_registered_op_works_in_a_model_file);
    tcase_add_test(tc, test_models_dir_siamese_small_round_trip);
    tcase_add_test(tc, test_models_dir_fashion_mnist_round_trip);
    tcase_add_test(tc, test_models_dir_siamese_xray_round_trip);
    tcase_add_test(tc, test_shared_gradient_buffers_give_the_same_parameter_gradients);
    tcase_add_test(tc, test_shared_gradient_buffers_through_convolutions);
    tcase_add_test(tc, test_shared_gradient_buffers_through_depthwise_and_pooling);
    tcase_add_test(tc, test_models_dir_siamese_xray_matches_the_seed_architecture);
    suite_add_tcase(s, tc);
    tc = tcase_create("robustness");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_fuzz_truncations_mutations_and_random_bytes_never_crash);
    suite_add_tcase(s, tc);
    return tg_check_run(s);
}
