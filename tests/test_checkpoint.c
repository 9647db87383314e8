/* Checkpoints: bit-identical round trips, resuming a run bit-identically, the exact bytes of
 * the example in docs/checkpoint-format.md, rejection of damaged and crafted files, mismatched
 * models, and saves that fail midway (file-size limit, bad directory, a kill) without losing the
 * previous checkpoint. */
#include <check.h>

#include "tests/tg_check.h"
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "checkpoint/tg_checkpoint.h"

/* ---- a test op with a state tensor and use of the graph RNG (like batch norm + dropout) ----
 *   x: (N, D)  running_mean: (D)  y: (N, D) = x + noise (training), x (eval) */

static const tg_param_spec noisestat_params[] = {{"running_mean", TG_INIT_ZEROS, 1}};

static tg_status noisestat_infer(const tg_node *n, const tg_shape *in, tg_shape *out,
                                 tg_shape *params) {
    (void)n;
    *out = in[0];
    params[0] = tg_shape1(tg_shape_item_numel(&in[0]));
    return TG_OK;
}

static tg_status noisestat_forward(tg_node *n) {
    const tg_shape *s = tg_node_shape(tg_node_input(n, 0));
    int64_t batch = s->dim[0], d = tg_shape_item_numel(s);
    const float *x = tg_node_data(tg_node_input(n, 0));
    float *y = tg_node_data(n), *rm = tg_node_data(tg_node_param(n, 0));
    int train = tg_graph_training(tg_node_graph(n));
    tg_rng *rng = tg_graph_rng(tg_node_graph(n));
    for (int64_t i = 0; i < batch * d; i++)
        y[i] = x[i] + (train ? tg_rng_uniform_range(rng, -0.05f, 0.05f) : 0.0f);
    if (train)
        for (int64_t j = 0; j < d; j++) {
            float m = 0;
            for (int64_t i = 0; i < batch; i++) m += x[i * d + j];
            rm[j] = 0.9f * rm[j] + 0.1f * m / (float)batch;
        }
    return TG_OK;
}

static tg_status noisestat_backward(tg_node *n) {
    float *dx = tg_node_grad(tg_node_input(n, 0));
    int64_t len = tg_shape_numel(tg_node_shape(n));
    if (tg_node_wants_grad(tg_node_input(n, 0)))
        for (int64_t i = 0; i < len; i++) dx[i] += tg_node_grad(n)[i];
    return TG_OK;
}

static double noisestat_flops(const tg_node *n) {
    return (double)tg_shape_numel(tg_node_shape(n));
}

static const tg_op noisestat_op = {
    .name = "test_noisestat",
    .doc = "test only: adds noise from the graph RNG and keeps a running mean",
    .formula = "y = x + U(-0.05, 0.05)",
    .n_inputs = 1,
    .params = noisestat_params,
    .n_params = 1,
    .infer = noisestat_infer,
    .forward = noisestat_forward,
    .backward = noisestat_backward,
    .flops = noisestat_flops,
    .examples = {{"4x3", ""}},
};

/* ---- a small Siamese model, built in C ---- */

enum { B = 8, D = 4, EPOCH_STEPS = 5 };
static const char MODEL_TEXT[] = "# the test model\ninput 4\ndense fc1 units=6 act=tanh\n"
                                 "test_noisestat noise\ndense fc2 units=3\n";

typedef struct model {
    tg_graph *g;
    tg_node *a, *b, *y, *loss;
    tg_optimizer *opt;
    tg_schedule sched;
} model;

/* fc1_units and with_noise vary the model for the mismatch tests. */
static void model_build(model *m, uint64_t seed, int fc1_units, int with_noise,
                        tg_optimizer_kind kind) {
    char attrs[64];
    memset(m, 0, sizeof *m);
    m->g = tg_graph_new(seed);
    ck_assert_ptr_nonnull(m->g);
    m->a = tg_graph_input(m->g, "a", tg_shape2(B, D));
    m->b = tg_graph_input(m->g, "b", tg_shape2(B, D));
    m->y = tg_graph_input(m->g, "y", tg_shape1(B));
    snprintf(attrs, sizeof attrs, "units=%d act=tanh", fc1_units);
    tg_layer *fc1 = tg_graph_layer(m->g, "dense", "fc1", attrs);
    tg_layer *noise = with_noise ? tg_graph_layer(m->g, "test_noisestat", "noise", NULL) : NULL;
    tg_layer *fc2 = tg_graph_layer(m->g, "dense", "fc2", "units=3");
    tg_node *ea = tg_layer_apply1(fc1, m->a), *eb = tg_layer_apply1(fc1, m->b);
    if (noise) ea = tg_layer_apply1(noise, ea), eb = tg_layer_apply1(noise, eb);
    ea = tg_layer_apply1(fc2, ea);
    eb = tg_layer_apply1(fc2, eb);
    tg_node *dist = tg_graph_op(m->g, "l2distance", "d", NULL, (tg_node *[]){ea, eb}, 2);
    m->loss = tg_graph_op(m->g, "contrastive", "loss", "margin=1", (tg_node *[]){dist, m->y}, 2);
    ck_assert_msg(m->loss != NULL, "%s", tg_last_error());
    int64_t n;
    ck_assert_ptr_nonnull(tg_graph_param_data(m->g, &n));
    tg_optimizer_config cfg = tg_optimizer_defaults(kind);
    if (kind == TG_OPTIM_SGD) cfg.momentum = 0.9;
    m->opt = tg_optimizer_new(&cfg, n);
    ck_assert_msg(m->opt != NULL, "%s", tg_last_error());
    tg_schedule_config sc = tg_schedule_defaults(TG_SCHEDULE_PLATEAU, 0.05);
    sc.patience = 0;
    sc.factor = 0.5;
    sc.threshold = 0.3; /* progress must be 30% an epoch: the rate falls during the tests */
    ck_assert_int_eq(tg_schedule_init(&m->sched, &sc), TG_OK);
}

static void model_free(model *m) {
    tg_optimizer_free(m->opt);
    tg_graph_free(m->g);
    memset(m, 0, sizeof *m);
}

/* Train steps [from, to): batches from `data`; an epoch is EPOCH_STEPS steps, after which the
 * plateau schedule sees the epoch's mean loss. */
static void model_train(model *m, tg_rng *data, int64_t from, int64_t to, double *epoch_loss) {
    float a[B * D], b[B * D], y[B];
    for (int64_t step = from; step < to; step++) {
        for (int i = 0; i < B * D; i++) a[i] = tg_rng_uniform_range(data, -1, 1);
        for (int i = 0; i < B; i++) {
            y[i] = (float)tg_rng_below(data, 2);
            for (int j = 0; j < D; j++)
                b[i * D + j] = y[i] ? tg_rng_uniform_range(data, -1, 1)
                                    : a[i * D + j] + tg_rng_uniform_range(data, -0.1f, 0.1f);
        }
        ck_assert_int_eq(tg_input_set(m->a, tg_shape2(B, D), a), TG_OK);
        ck_assert_int_eq(tg_input_set(m->b, tg_shape2(B, D), b), TG_OK);
        ck_assert_int_eq(tg_input_set(m->y, tg_shape1(B), y), TG_OK);
        ck_assert_msg(tg_graph_forward(m->g, m->loss) == TG_OK, "%s", tg_last_error());
        tg_graph_zero_grad(m->g);
        ck_assert_int_eq(tg_graph_backward(m->g, m->loss), TG_OK);
        int64_t n;
        float *p = tg_graph_param_data(m->g, &n), *gr = tg_graph_grad_data(m->g, &n);
        float lr = (float)tg_schedule_lr(&m->sched, (int)(step / EPOCH_STEPS));
        ck_assert_int_eq(tg_optimizer_step(m->opt, p, gr, n, lr), TG_OK);
        *epoch_loss += tg_node_data(m->loss)[0];
        if ((step + 1) % EPOCH_STEPS == 0) {
            ck_assert_int_eq(tg_schedule_observe(&m->sched, *epoch_loss / EPOCH_STEPS), TG_OK);
            *epoch_loss = 0;
        }
    }
}

static tg_status model_save(model *m, const char *path, int64_t step, tg_rng *data,
                            double epoch_loss, int compression) {
    char loss_text[64];
    snprintf(loss_text, sizeof loss_text, "%a", epoch_loss);
    tg_checkpoint_data d = {
        .graph = m->g,
        .opt = m->opt,
        .sched = &m->sched,
        .model_text = MODEL_TEXT,
        .epoch = step / EPOCH_STEPS,
        .step = step,
        .has_best = 1,
        .best = 0.25,
        .rngs = (tg_checkpoint_rng[]){{"data", data}},
        .n_rngs = 1,
        .meta = (tg_checkpoint_meta[]){{"epoch_loss", loss_text}},
        .n_meta = 1,
        .compression = compression,
    };
    return tg_checkpoint_save(path, &d);
}

/* ---- files ---- */

static char dir[64];

static void make_dir(void) {
    snprintf(dir, sizeof dir, "/tmp/tgck-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
}

/* Remove everything in dir (one level of subdirectories), then dir. */
static void remove_tree(const char *path) {
    DIR *dp = opendir(path);
    if (!dp) return;
    struct dirent *e;
    char sub[512];
    while ((e = readdir(dp))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
        struct stat sb;
        if (lstat(sub, &sb) == 0 && S_ISDIR(sb.st_mode))
            remove_tree(sub);
        else
            unlink(sub);
    }
    closedir(dp);
    rmdir(path);
}

static void remove_dir(void) {
    remove_tree(dir);
}

static char *path_in(const char *name) {
    static char buf[4][256];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", dir, name);
    return buf[k];
}

static unsigned char *read_all(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "open %s: %s", path, strerror(errno));
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *p = malloc((size_t)n + 1);
    ck_assert_ptr_nonnull(p);
    ck_assert_uint_eq(fread(p, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return p;
}

static void write_all(const char *path, const unsigned char *p, size_t len) {
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(p, 1, len, f), len);
    ck_assert_int_eq(fclose(f), 0);
}

/* Number of directory entries other than . and .. */
static int dir_entries(const char *path) {
    DIR *dp = opendir(path);
    ck_assert_ptr_nonnull(dp);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(dp)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
    closedir(dp);
    return n;
}

/* Load must fail with `want` (0: any error) and a message naming the file. */
static tg_status expect_load_fails(const char *path, tg_status want, const char *what) {
    tg_checkpoint *ck = (tg_checkpoint *)1;
    tg_status st = tg_checkpoint_load(path, &ck);
    ck_assert_msg(st != TG_OK, "%s: loaded a damaged file", what);
    ck_assert_msg(ck == NULL, "%s: *out not NULL on error", what);
    ck_assert_msg(strstr(tg_last_error(), path) != NULL, "%s: message does not name the file: %s",
                  what, tg_last_error());
    if (want)
        ck_assert_msg(st == want, "%s: got %s (%s), wanted %s", what, tg_status_name(st),
                      tg_last_error(), tg_status_name(want));
    return st;
}

/* ---- a test-side writer of the container, written from docs/checkpoint-format.md ---- */

static void le_put(unsigned char *p, uint64_t v, int n) {
    for (int i = 0; i < n; i++) p[i] = (unsigned char)(v >> (8 * i));
}

typedef struct sec {
    const char *tag;
    unsigned flags; /* bit 0 deflate, bit 1 critical */
    const unsigned char *payload;
    size_t len;
    int64_t raw_len_override; /* >= 0: declare this raw length instead */
} sec;

/* Test-only bits of sec.flags, never written: the payload is already a zlib stream (write it
 * as given under the DEFLATE flag), and the payload CRC is off by one bit. */
enum { AS_GIVEN = 0x100, BAD_CRC = 0x200 };

/* A complete file from sections, with every size and CRC correct. Caller frees. */
static unsigned char *build_file(const sec *s, int n, size_t *out_len) {
    size_t cap = 28 + 8;
    for (int i = 0; i < n; i++) cap += 32 + compressBound((uLong)s[i].len) + 16;
    unsigned char *f = calloc(1, cap), *p = f + 28;
    memcpy(f, "TGCK", 4);
    le_put(f + 4, 1, 2);
    le_put(f + 6, 0, 2);
    le_put(f + 12, (uint64_t)n, 4);
    for (int i = 0; i < n; i++) {
        unsigned char *h = p;
        p += 32;
        uLongf stored = (uLongf)s[i].len;
        if ((s[i].flags & 1) && !(s[i].flags & AS_GIVEN)) {
            stored = compressBound((uLong)s[i].len);
            ck_assert_int_eq(compress2(p, &stored, s[i].payload, (uLong)s[i].len, 6), Z_OK);
        } else if (s[i].len) {
            memcpy(p, s[i].payload, s[i].len);
        }
        p += stored;
        memcpy(h, s[i].tag, 4);
        le_put(h + 4, s[i].flags & 0xff, 4);
        le_put(h + 8, s[i].raw_len_override >= 0 ? (uint64_t)s[i].raw_len_override : s[i].len, 8);
        le_put(h + 16, stored, 8);
        le_put(h + 24, crc32(0, s[i].payload, (uInt)s[i].len) ^ ((s[i].flags & BAD_CRC) ? 1 : 0),
               4);
        le_put(h + 28, crc32(0, h, 28), 4);
    }
    size_t len = (size_t)(p - f) + 8;
    le_put(f + 16, len, 8);
    le_put(f + 24, crc32(0, f, 24), 4);
    memcpy(p, "TGND", 4);
    le_put(p + 4, crc32(0, f, (uInt)(p - f)), 4);
    *out_len = len;
    return f;
}

/* Recompute the header and file CRCs after editing a file image. */
static void refresh_crcs(unsigned char *f, size_t len) {
    le_put(f + 24, crc32(0, f, 24), 4);
    le_put(f + len - 4, crc32(0, f, (uInt)(len - 8)), 4);
}

/* A payload literal and its length (literals may hold NUL bytes). */
#define P(lit) lit, sizeof(lit) - 1

/* Minimal valid payloads for crafted files. */
static const unsigned char TRAN_OK[28] = {0};
static const unsigned char RNGS_NONE[4] = {0};

/* ---- the tests ---- */

static int same_schedule_config(const tg_schedule_config *a, const tg_schedule_config *b) {
    return a->kind == b->kind && a->lr == b->lr && a->step_size == b->step_size &&
           a->gamma == b->gamma && a->t_max == b->t_max && a->min_lr == b->min_lr &&
           a->mode == b->mode && a->factor == b->factor && a->patience == b->patience &&
           a->threshold == b->threshold && a->threshold_mode == b->threshold_mode &&
           a->cooldown == b->cooldown && a->warmup == b->warmup;
}

/* Same config and same state, compared field by field (a struct may hold padding). */
static int same_schedule(const tg_schedule *a, const tg_schedule *b) {
    return same_schedule_config(&a->cfg, &b->cfg) && a->lr == b->lr && a->best == b->best &&
           a->bad_epochs == b->bad_epochs && a->cooldown_left == b->cooldown_left;
}

static void assert_same_floats(const float *a, const float *b, int64_t n, const char *what) {
    ck_assert_msg(memcmp(a, b, (size_t)n * sizeof(float)) == 0, "%s differs", what);
}

START_TEST(test_checkpoint_round_trip_is_bit_identical) {
    static const int levels[] = {0, 1, 9, TG_CHECKPOINT_STORE};
    make_dir();
    model m;
    model_build(&m, 11, 6, 1, TG_OPTIM_ADAM);
    tg_rng data, aug;
    tg_rng_seed(&data, 5);
    tg_rng_seed(&aug, 6);
    double el = 0;
    model_train(&m, &data, 0, 7, &el);
    m.sched.cfg.warmup = 2; /* a setting every kind writes, beside the plateau's own */
    const char *path = path_in("rt.tgc");
    for (size_t li = 0; li < sizeof levels / sizeof levels[0]; li++) {
        tg_checkpoint_data d = {
            .graph = m.g,
            .opt = m.opt,
            .sched = &m.sched,
            .model_text = MODEL_TEXT,
            .epoch = 3,
            .step = -42, /* counters are stored as given, sign included */
            .has_best = 1,
            .best = -0.0,
            .rngs = (tg_checkpoint_rng[]){{"data", &data}, {"aug", &aug}},
            .n_rngs = 2,
            .meta = (tg_checkpoint_meta[]){{"dataset", "xray"},
                                           {"note", "h\xc3\xa9llo = \"x\"\n"},
                                           {"empty", ""}},
            .n_meta = 3,
            .compression = levels[li],
        };
        ck_assert_msg(tg_checkpoint_save(path, &d) == TG_OK, "%s", tg_last_error());
        tg_checkpoint *ck;
        ck_assert_msg(tg_checkpoint_load(path, &ck) == TG_OK, "%s", tg_last_error());
        unsigned major, minor;
        tg_checkpoint_version(ck, &major, &minor);
        ck_assert_uint_eq(major, 1);
        ck_assert_uint_eq(minor, 0);
        ck_assert_str_eq(tg_checkpoint_path(ck), path);
        size_t tl;
        ck_assert_str_eq(tg_checkpoint_model_text(ck, &tl), MODEL_TEXT);
        ck_assert_uint_eq(tl, strlen(MODEL_TEXT));
        ck_assert_int_eq(tg_checkpoint_epoch(ck), 3);
        ck_assert_int_eq(tg_checkpoint_step(ck), -42);
        double best = 1;
        ck_assert_int_eq(tg_checkpoint_best(ck, &best), 1);
        ck_assert(best == 0.0 && signbit(best)); /* -0.0 survives: the bits are stored */
        /* Every parameter and state tensor, in creation order, bit for bit. */
        ck_assert_int_eq(tg_checkpoint_tensor_count(ck), tg_graph_param_count(m.g));
        int n_state = 0;
        for (int i = 0; i < tg_graph_param_count(m.g); i++) {
            tg_node *p = tg_graph_param_at(m.g, i);
            ck_assert_str_eq(tg_checkpoint_tensor_name(ck, i), tg_node_name(p));
            ck_assert(tg_shape_equal(tg_checkpoint_tensor_shape(ck, i), tg_node_shape(p)));
            ck_assert_int_eq(tg_checkpoint_tensor_is_state(ck, i),
                             (tg_node_kind(p) & TG_NODE_STATE) != 0);
            n_state += tg_checkpoint_tensor_is_state(ck, i);
            assert_same_floats(tg_checkpoint_tensor_data(ck, i), tg_node_data(p),
                               tg_shape_numel(tg_node_shape(p)), tg_node_name(p));
            ck_assert_int_eq(tg_checkpoint_tensor_find(ck, tg_node_name(p)), i);
        }
        ck_assert_int_eq(n_state, 1);
        ck_assert_int_eq(tg_checkpoint_tensor_find(ck, "nope"), -1);
        ck_assert_ptr_null(tg_checkpoint_tensor_name(ck, 99));
        /* The optimizer: config, step count, every state array. */
        const tg_optimizer_config *oc = tg_checkpoint_optimizer_config(ck);
        ck_assert_ptr_nonnull(oc);
        const tg_optimizer_config *mc = tg_optimizer_config_of(m.opt);
        ck_assert(oc->kind == mc->kind && oc->momentum == mc->momentum &&
                  oc->dampening == mc->dampening && oc->nesterov == mc->nesterov &&
                  oc->weight_decay == mc->weight_decay && oc->beta1 == mc->beta1 &&
                  oc->beta2 == mc->beta2 && oc->eps == mc->eps && oc->alpha == mc->alpha &&
                  oc->centered == mc->centered);
        ck_assert_int_eq(tg_checkpoint_optimizer_steps(ck), 7);
        ck_assert_int_eq(tg_checkpoint_optimizer_size(ck), tg_optimizer_size(m.opt));
        ck_assert_int_eq(tg_checkpoint_optimizer_state_count(ck), 2);
        for (int i = 0; i < 2; i++) {
            ck_assert_str_eq(tg_checkpoint_optimizer_state_name(ck, i),
                             tg_optimizer_state_name(m.opt, i));
            assert_same_floats(tg_checkpoint_optimizer_state_data(ck, i),
                               tg_optimizer_state_data(m.opt, i), tg_optimizer_size(m.opt),
                               tg_optimizer_state_name(m.opt, i));
        }
        /* The schedule's config (its state is checked through restore below). */
        const tg_schedule_config *sc = tg_checkpoint_schedule_config(ck);
        ck_assert_ptr_nonnull(sc);
        ck_assert(same_schedule_config(sc, &m.sched.cfg));
        /* RNGs, the graph's included. */
        tg_rng r;
        ck_assert_int_eq(tg_checkpoint_rng_get(ck, "graph", &r), TG_OK);
        ck_assert(memcmp(&r, tg_graph_rng(m.g), sizeof r) == 0);
        ck_assert_int_eq(tg_checkpoint_rng_get(ck, "data", &r), TG_OK);
        ck_assert(memcmp(&r, &data, sizeof r) == 0);
        ck_assert_int_eq(tg_checkpoint_rng_get(ck, "aug", &r), TG_OK);
        ck_assert(memcmp(&r, &aug, sizeof r) == 0);
        ck_assert_int_eq(tg_checkpoint_rng_get(ck, "other", &r), TG_ERR_UNKNOWN);
        /* Metadata, in order. */
        ck_assert_int_eq(tg_checkpoint_meta_count(ck), 3);
        ck_assert_str_eq(tg_checkpoint_meta_key(ck, 1), "note");
        ck_assert_str_eq(tg_checkpoint_meta_value(ck, 1), "h\xc3\xa9llo = \"x\"\n");
        ck_assert_str_eq(tg_checkpoint_meta_get(ck, "dataset"), "xray");
        ck_assert_str_eq(tg_checkpoint_meta_get(ck, "empty"), "");
        ck_assert_ptr_null(tg_checkpoint_meta_get(ck, "missing"));

        /* Restore into a model initialised differently: everything comes back (the schedule
         * starts from the stored config, as train --resume does). */
        model m2;
        model_build(&m2, 999, 6, 1, TG_OPTIM_ADAM);
        ck_assert_int_eq(tg_schedule_init(&m2.sched, sc), TG_OK);
        ck_assert_msg(tg_checkpoint_restore(ck, m2.g, m2.opt, &m2.sched) == TG_OK, "%s",
                      tg_last_error());
        int64_t n1, n2, s1, s2;
        const float *p1 = tg_graph_param_data(m.g, &n1), *p2 = tg_graph_param_data(m2.g, &n2);
        const float *t1 = tg_graph_state_data(m.g, &s1), *t2 = tg_graph_state_data(m2.g, &s2);
        ck_assert(n1 == n2 && s1 == s2);
        assert_same_floats(p2, p1, n1, "restored parameters");
        assert_same_floats(t2, t1, s1, "restored state");
        ck_assert(memcmp(tg_graph_rng(m2.g), tg_graph_rng(m.g), sizeof(tg_rng)) == 0);
        ck_assert_int_eq(tg_optimizer_steps(m2.opt), 7);
        ck_assert(same_schedule(&m2.sched, &m.sched));
        model_free(&m2);
        tg_checkpoint_free(ck);
    }
    /* The same data saves to the same bytes. */
    size_t l1, l2;
    ck_assert_int_eq(model_save(&m, path_in("x1.tgc"), 7, &data, el, 0), TG_OK);
    ck_assert_int_eq(model_save(&m, path_in("x2.tgc"), 7, &data, el, 0), TG_OK);
    unsigned char *f1 = read_all(path_in("x1.tgc"), &l1), *f2 = read_all(path_in("x2.tgc"), &l2);
    ck_assert(l1 == l2 && memcmp(f1, f2, l1) == 0);
    free(f1);
    free(f2);
    ck_assert_int_eq(dir_entries(dir), 3); /* no temporary file left behind */
    model_free(&m);
    remove_dir();
}
END_TEST

/* The flags of the first section tagged `tag` in a file image (the tag is followed by them). */
static unsigned section_flags(const unsigned char *f, size_t len, const char *tag) {
    for (size_t i = 0; i + 8 <= len; i++)
        if (!memcmp(f + i, tag, 4))
            return (unsigned)f[i + 4] | (unsigned)f[i + 5] << 8 | (unsigned)f[i + 6] << 16 |
                   (unsigned)f[i + 7] << 24;
    ck_abort_msg("no section %s", tag);
    return 0;
}

/* By default, sections of 4 KiB or more (parameters, optimizer moments) are byte-shuffled
 * and deflated (flags 4 | 1), small ones only deflated, and every state loads back bit for
 * bit; tg_checkpoint_save_copies writes the one encoding to each of its paths. */
START_TEST(test_checkpoint_shuffles_large_sections_and_saves_copies) {
    make_dir();
    model m;
    model_build(&m, 12, 300, 0, TG_OPTIM_ADAM); /* fc1: 4 x 300 weights, 4.8 KB */
    tg_rng data;
    tg_rng_seed(&data, 7);
    double el = 0;
    model_train(&m, &data, 0, 3, &el);
    const char *one = path_in("one.tgc");
    ck_assert_msg(model_save(&m, one, 3, &data, el, 0) == TG_OK, "%s", tg_last_error());
    size_t len;
    unsigned char *f = read_all(one, &len);
    ck_assert_uint_eq(section_flags(f, len, "TENS") & 5, 4 | 1); /* 2: critical */
    ck_assert_uint_eq(section_flags(f, len, "OPTM") & 5, 4 | 1);
    ck_assert_uint_eq(section_flags(f, len, "MODL") & 4, 0);
    tg_checkpoint *ck;
    ck_assert_msg(tg_checkpoint_load(one, &ck) == TG_OK, "%s", tg_last_error());
    model m2;
    model_build(&m2, 99, 300, 0, TG_OPTIM_ADAM);
    ck_assert_msg(tg_checkpoint_restore(ck, m2.g, m2.opt, &m2.sched) == TG_OK, "%s",
                  tg_last_error());
    int64_t n1, n2;
    const float *p1 = tg_graph_param_data(m.g, &n1), *p2 = tg_graph_param_data(m2.g, &n2);
    ck_assert(n1 == n2);
    assert_same_floats(p2, p1, n1, "parameters through a shuffled section");
    tg_checkpoint_free(ck);
    model_free(&m2);

    tg_checkpoint_data d = {.graph = m.g, .opt = m.opt, .model_text = MODEL_TEXT, .epoch = 1};
    const char *paths[2] = {path_in("best.tgc"), path_in("last.tgc")};
    ck_assert_int_eq(tg_checkpoint_save_copies(paths, 2, &d), TG_OK);
    ck_assert_int_eq(tg_checkpoint_save(one, &d), TG_OK);
    size_t l0, l1, l2;
    unsigned char *f0 = read_all(one, &l0), *f1 = read_all(paths[0], &l1),
                  *f2 = read_all(paths[1], &l2);
    ck_assert(l0 == l1 && l1 == l2 && !memcmp(f0, f1, l0) && !memcmp(f1, f2, l1));
    ck_assert_int_eq(tg_checkpoint_save_copies(paths, 0, &d), TG_ERR_INVALID);
    free(f);
    free(f0);
    free(f1);
    free(f2);
    model_free(&m);
    remove_dir();
}
END_TEST

/* Train N steps in one go, and in a second run stop at k, save, free everything, rebuild from
 * scratch (other seed), load, restore and continue: the parameters must agree bit for bit. */
START_TEST(test_checkpoint_resume_is_bit_identical) {
    enum { N = 23 };
    make_dir();
    model ref;
    tg_rng data;
    double el = 0;
    model_build(&ref, 3, 6, 1, TG_OPTIM_ADAM);
    tg_rng_seed(&data, 77);
    int64_t np, ns;
    float *start = tg_graph_param_data(ref.g, &np), *p0 = malloc((size_t)np * sizeof(float));
    memcpy(p0, start, (size_t)np * sizeof(float));
    model_train(&ref, &data, 0, N, &el);
    float *ref_p = tg_graph_param_data(ref.g, &np), *ref_s = tg_graph_state_data(ref.g, &ns);
    ck_assert_msg(memcmp(p0, ref_p, (size_t)np * sizeof(float)) != 0, "training changed nothing");
    ck_assert_msg(ref.sched.lr < 0.05, "the plateau schedule never reduced (lr %g)", ref.sched.lr);

    static const int stops[] = {1, 5, 12, 22};
    for (size_t si = 0; si < sizeof stops / sizeof stops[0]; si++) {
        int k = stops[si];
        const char *path = path_in("resume.tgc");
        {
            model m;
            tg_rng d;
            double e = 0;
            model_build(&m, 3, 6, 1, TG_OPTIM_ADAM);
            tg_rng_seed(&d, 77);
            model_train(&m, &d, 0, k, &e);
            ck_assert_msg(model_save(&m, path, k, &d, e, 0) == TG_OK, "%s", tg_last_error());
            model_free(&m);
        }
        model m;
        tg_rng d;
        model_build(&m, 12345, 6, 1, TG_OPTIM_ADAM);
        tg_rng_seed(&d, 1);
        tg_checkpoint *ck;
        ck_assert_msg(tg_checkpoint_load(path, &ck) == TG_OK, "%s", tg_last_error());
        ck_assert_msg(tg_checkpoint_restore(ck, m.g, m.opt, &m.sched) == TG_OK, "%s",
                      tg_last_error());
        ck_assert_int_eq(tg_checkpoint_rng_get(ck, "data", &d), TG_OK);
        int64_t step = tg_checkpoint_step(ck);
        ck_assert_int_eq(step, k);
        double e = strtod(tg_checkpoint_meta_get(ck, "epoch_loss"), NULL);
        tg_checkpoint_free(ck);
        model_train(&m, &d, step, N, &e);
        int64_t n2, s2;
        assert_same_floats(tg_graph_param_data(m.g, &n2), ref_p, np, "parameters after resume");
        assert_same_floats(tg_graph_state_data(m.g, &s2), ref_s, ns, "state after resume");
        for (int i = 0; i < 2; i++)
            assert_same_floats(tg_optimizer_state_data(m.opt, i),
                               tg_optimizer_state_data(ref.opt, i), np, "optimizer state");
        ck_assert(memcmp(tg_graph_rng(m.g), tg_graph_rng(ref.g), sizeof(tg_rng)) == 0);
        ck_assert(memcmp(&d, &data, sizeof d) == 0);
        ck_assert(same_schedule(&m.sched, &ref.sched));
        model_free(&m);
    }
    free(p0);
    model_free(&ref);
    remove_dir();
}
END_TEST

/* The worked example of docs/checkpoint-format.md, byte for byte. */
static const unsigned char DOC_EXAMPLE[] = {
    0x54, 0x47, 0x43, 0x4b, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x05, 0x00, 0x00, 0x00,
    0x3d, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xc4, 0x19, 0x43, 0xfc, 0x4d, 0x4f, 0x44, 0x4c,
    0x02, 0x00, 0x00, 0x00, 0x05, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x05, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x10, 0xc4, 0x3f, 0xd0, 0x92, 0xa3, 0x43, 0xa5, 0x74, 0x69, 0x6e, 0x79,
    0x0a, 0x54, 0x45, 0x4e, 0x53, 0x02, 0x00, 0x00, 0x00, 0x21, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x21, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x47, 0x59, 0x64, 0x14, 0x46, 0x6c, 0xc2,
    0x7e, 0x01, 0x00, 0x00, 0x00, 0x01, 0x00, 0x77, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x80, 0x3f, 0x00, 0x00,
    0x00, 0xc0, 0x54, 0x52, 0x41, 0x4e, 0x02, 0x00, 0x00, 0x00, 0x1c, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x1c, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xc6, 0x6e, 0xb6, 0x38, 0x7f, 0x9a,
    0x59, 0x66, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xe0, 0x3f, 0x52, 0x4e,
    0x47, 0x53, 0x02, 0x00, 0x00, 0x00, 0x2b, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x2b, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x9c, 0x7a, 0x43, 0xb1, 0x16, 0x79, 0x59, 0xb2, 0x01, 0x00,
    0x00, 0x00, 0x05, 0x00, 0x67, 0x72, 0x61, 0x70, 0x68, 0xc1, 0x5c, 0x02, 0x89, 0xec, 0x2d, 0x0a,
    0x91, 0x67, 0xec, 0x8e, 0x65, 0xa1, 0x8d, 0xeb, 0xbe, 0x5e, 0x55, 0x32, 0xfb, 0xee, 0xa2, 0x93,
    0xf8, 0x0b, 0xc9, 0x42, 0xee, 0x90, 0x86, 0xc1, 0x71, 0x4d, 0x45, 0x54, 0x41, 0x00, 0x00, 0x00,
    0x00, 0x0c, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0c, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0xbe, 0x88, 0xef, 0xca, 0x3d, 0x6c, 0xf6, 0x76, 0x01, 0x00, 0x00, 0x00, 0x01, 0x00, 0x6b,
    0x01, 0x00, 0x00, 0x00, 0x76, 0x54, 0x47, 0x4e, 0x44, 0x4c, 0x7d, 0xee, 0x89};

static tg_status save_doc_example(const char *path, int compression) {
    tg_graph *g = tg_graph_new(1);
    tg_node *w = tg_graph_param(g, "w", tg_shape1(2), TG_INIT_ZEROS);
    ck_assert_ptr_nonnull(w);
    tg_node_data(w)[0] = 1.0f;
    tg_node_data(w)[1] = -2.0f;
    tg_checkpoint_data d = {.graph = g,
                            .model_text = "tiny\n",
                            .epoch = 1,
                            .step = 2,
                            .has_best = 1,
                            .best = 0.5,
                            .meta = (tg_checkpoint_meta[]){{"k", "v"}},
                            .n_meta = 1,
                            .compression = compression};
    tg_status st = tg_checkpoint_save(path, &d);
    tg_graph_free(g);
    return st;
}

START_TEST(test_checkpoint_matches_documented_example) {
    make_dir();
    const char *path = path_in("tiny.tgc");
    ck_assert_int_eq(save_doc_example(path, TG_CHECKPOINT_STORE), TG_OK);
    size_t len;
    unsigned char *f = read_all(path, &len);
    if (getenv("TG_PRINT_EXAMPLE")) /* regenerate the example: TG_PRINT_EXAMPLE=1 */
        for (size_t i = 0; i < len; i++)
            printf("0x%02x,%s", f[i], i % 16 == 15 || i + 1 == len ? "\n" : " ");
    ck_assert_uint_eq(len, sizeof DOC_EXAMPLE);
    ck_assert(memcmp(f, DOC_EXAMPLE, len) == 0);
    free(f);
    for (int c = 0; c < 2; c++) { /* stored and deflated, the same content */
        ck_assert_int_eq(save_doc_example(path, c ? 9 : TG_CHECKPOINT_STORE), TG_OK);
        tg_checkpoint *ck;
        ck_assert_msg(tg_checkpoint_load(path, &ck) == TG_OK, "%s", tg_last_error());
        ck_assert_str_eq(tg_checkpoint_model_text(ck, NULL), "tiny\n");
        ck_assert_int_eq(tg_checkpoint_tensor_count(ck), 1);
        ck_assert(tg_checkpoint_tensor_data(ck, 0)[1] == -2.0f);
        ck_assert_ptr_null(tg_checkpoint_optimizer_config(ck));
        ck_assert_ptr_null(tg_checkpoint_schedule_config(ck));
        ck_assert_str_eq(tg_checkpoint_meta_get(ck, "k"), "v");
        tg_checkpoint_free(ck);
    }
    remove_dir();
}
END_TEST

/* A small but complete checkpoint (optimizer and schedule included) for the damage tests. */
static unsigned char *small_file(const char *path, size_t *len) {
    model m;
    tg_rng data;
    double el = 0;
    model_build(&m, 2, 2, 1, TG_OPTIM_ADAM);
    tg_rng_seed(&data, 4);
    model_train(&m, &data, 0, 2, &el);
    ck_assert_msg(model_save(&m, path, 2, &data, el, 0) == TG_OK, "%s", tg_last_error());
    model_free(&m);
    return read_all(path, len);
}

START_TEST(test_checkpoint_rejects_wrong_magic_and_newer_version) {
    make_dir();
    const char *good = path_in("good.tgc"), *bad = path_in("bad.tgc");
    size_t len;
    unsigned char *f = small_file(good, &len);
    unsigned char *g = malloc(len);

    memcpy(g, f, len);
    memcpy(g, "PK\x03\x04", 4);
    write_all(bad, g, len);
    expect_load_fails(bad, TG_ERR_FORMAT, "wrong magic");
    ck_assert_ptr_nonnull(strstr(tg_last_error(), "not a twingrad checkpoint"));

    memcpy(g, f, len);
    le_put(g + 4, 2, 2); /* major 2, CRCs made right: only the version is wrong */
    refresh_crcs(g, len);
    write_all(bad, g, len);
    expect_load_fails(bad, TG_ERR_VERSION, "newer major version");
    ck_assert_ptr_nonnull(strstr(tg_last_error(), "2.0"));
    ck_assert_ptr_nonnull(strstr(tg_last_error(), "upgrade"));
    /* One flipped bit of the version, the header CRC left as it was: damage, said so. */
    memcpy(g, f, len);
    g[5] ^= 0x40; /* major 1 -> 16385 */
    write_all(bad, g, len);
    expect_load_fails(bad, TG_ERR_CORRUPT, "flipped version bit");
    ck_assert_ptr_nonnull(strstr(tg_last_error(), "damaged"));

    memcpy(g, f, len);
    le_put(g + 4, 0, 2);
    refresh_crcs(g, len);
    write_all(bad, g, len);
    expect_load_fails(bad, TG_ERR_FORMAT, "version 0");

    /* A newer minor version is read: it may only add sections. */
    memcpy(g, f, len);
    le_put(g + 6, 7, 2);
    refresh_crcs(g, len);
    write_all(bad, g, len);
    tg_checkpoint *ck;
    ck_assert_msg(tg_checkpoint_load(bad, &ck) == TG_OK, "%s", tg_last_error());
    unsigned major, minor;
    tg_checkpoint_version(ck, &major, &minor);
    ck_assert(major == 1 && minor == 7);
    tg_checkpoint_free(ck);

    expect_load_fails(path_in("absent.tgc"), TG_ERR_IO, "missing file");
    expect_load_fails(dir, TG_ERR_IO, "a directory");
    free(f);
    free(g);
    remove_dir();
}
END_TEST

START_TEST(test_checkpoint_rejects_truncated_file) {
    make_dir();
    const char *bad = path_in("cut.tgc");
    size_t len;
    unsigned char *f = small_file(path_in("good.tgc"), &len);
    ck_assert_uint_gt(len, 200);
    for (size_t cut = 0; cut < len; cut++) {
        char what[64];
        snprintf(what, sizeof what, "cut at %zu of %zu", cut, len);
        write_all(bad, f, cut);
        expect_load_fails(bad, TG_ERR_FORMAT, what);
    }
    /* And one byte too many. */
    unsigned char *g = malloc(len + 1);
    memcpy(g, f, len);
    g[len] = 0;
    write_all(bad, g, len + 1);
    expect_load_fails(bad, TG_ERR_FORMAT, "an extra byte");
    free(g);
    free(f);
    remove_dir();
}
END_TEST

START_TEST(test_checkpoint_rejects_every_single_bit_flip) {
    make_dir();
    const char *bad = path_in("flip.tgc");
    size_t len;
    unsigned char *f = small_file(path_in("good.tgc"), &len);
    int by_status[TG_ERR_STATE + 1] = {0};
    for (size_t i = 0; i < len; i++)
        for (int bit = 0; bit < 8; bit++) {
            char what[64];
            snprintf(what, sizeof what, "bit %d of byte %zu flipped", bit, i);
            f[i] ^= (unsigned char)(1u << bit);
            write_all(bad, f, len);
            by_status[expect_load_fails(bad, 0, what)]++;
            f[i] ^= (unsigned char)(1u << bit);
        }
    /* Most flips are caught by a checksum; the rest by the magic, version or size checks. */
    ck_assert_int_gt(by_status[TG_ERR_CORRUPT], (int)(len * 8) * 9 / 10);
    free(f);
    remove_dir();
}
END_TEST

START_TEST(test_checkpoint_rejects_crafted_sizes_and_records) {
    make_dir();
    const char *bad = path_in("crafted.tgc");
    size_t len;
    unsigned char *f;
    const unsigned char model_text[] = "m";
    /* A valid minimal file first, so the failures below are due to the one change each. */
    sec base[] = {{"MODL", 2, model_text, 1, -1},
                  {"TENS", 2, (const unsigned char *)"\0\0\0\0", 4, -1},
                  {"TRAN", 2, TRAN_OK, 28, -1},
                  {"RNGS", 2, RNGS_NONE, 4, -1}};
    f = build_file(base, 4, &len);
    write_all(bad, f, len);
    free(f);
    tg_checkpoint *ck;
    ck_assert_msg(tg_checkpoint_load(bad, &ck) == TG_OK, "%s", tg_last_error());
    ck_assert_str_eq(tg_checkpoint_model_text(ck, NULL), "m");
    ck_assert_int_eq(tg_checkpoint_tensor_count(ck), 0);
    ck_assert_int_eq(tg_checkpoint_best(ck, NULL), 0);
    tg_checkpoint_free(ck);

    struct {
        const char *what;
        const char *tag;
        unsigned flags;
        const char *payload;
        size_t len;
        int64_t raw_len;
        tg_status want;
        const char *msg; /* a piece of the expected message */
    } cases[] = {
        {"tensor count 2^32-1", "TENS", 2, P("\xff\xff\xff\xff"), -1, TG_ERR_FORMAT, "cannot fit"},
        {"rank 5", "TENS", 2,
         P("\1\0\0\0\1\0w\0\5"
           "\1\0\0\0\0\0\0\0\1\0\0\0\0\0\0\0\1\0\0\0\0\0\0\0\1\0\0\0\0\0\0\0"
           "\1\0\0\0\0\0\0\0\4\0\0\0\0\0\0\0\0\0\0\0"),
         -1, TG_ERR_FORMAT, "rank 5"},
        {"zero dimension", "TENS", 2, P("\1\0\0\0\1\0w\0\1\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0"), -1,
         TG_ERR_FORMAT, "invalid shape"},
        {"dimension 2^62", "TENS", 2, P("\1\0\0\0\1\0w\0\1\0\0\0\0\0\0\0\x40\0\0\0\0\0\0\0\0"), -1,
         TG_ERR_FORMAT, "invalid shape"},
        {"shape (2^24, 2^40): product overflows", "TENS", 2,
         P("\1\0\0\0\1\0w\0\2\0\0\0\1\0\0\0\0\0\0\0\0\0\1\0\0\0\0\0\0\0\0\0\0"), -1, TG_ERR_FORMAT,
         "invalid shape"},
        {"byte count not numel*4", "TENS", 2,
         P("\1\0\0\0\1\0w\0\1\2\0\0\0\0\0\0\0\4\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0"), -1, TG_ERR_FORMAT,
         "shape needs 8"},
        {"data past the end", "TENS", 2,
         P("\1\0\0\0\1\0w\0\1\2\0\0\0\0\0\0\0\x08\0\0\0\0\0\0\0\0\0\0\0"), -1, TG_ERR_FORMAT,
         "ends first"},
        {"empty name", "TENS", 2, P("\1\0\0\0\0\0\0\1\1\0\0\0\0\0\0\0\4\0\0\0\0\0\0\0\0\0\0\0"), -1,
         TG_ERR_FORMAT, "length 0"},
        {"duplicate tensor", "TENS", 2,
         P("\2\0\0\0\1\0w\0\1\1\0\0\0\0\0\0\0\4\0\0\0\0\0\0\0\0\0\0\0"
           "\1\0w\0\1\1\0\0\0\0\0\0\0\4\0\0\0\0\0\0\0\0\0\0\0"),
         -1, TG_ERR_FORMAT, "appears twice"},
        {"trailing bytes", "TENS", 2, P("\0\0\0\0\0"), -1, TG_ERR_FORMAT, "follow the last"},
        {"raw length 2^40", "TENS", 2, P("\0\0\0\0"), 1ll << 40, TG_ERR_LIMIT, "limit"},
        {"stored != raw", "TENS", 2, P("\0\0\0\0"), 5, TG_ERR_FORMAT, "impossible"},
        {"deflate ratio", "TENS", 3, P("\0\0\0\0"), 1 << 20, TG_ERR_FORMAT, "impossible"},
        {"inflates to more", "TENS", 3, P("\0\0\0\0"), 3, TG_ERR_CORRUPT, "more bytes"},
        {"inflates to fewer", "TENS", 3, P("\0\0\0\0"), 5, TG_ERR_CORRUPT, "fewer bytes"},
        {"unknown critical section", "ZZZZ", 2, P(""), -1, TG_ERR_VERSION, "upgrade"},
        {"bad tag", "T\x01NS", 0, P(""), -1, TG_ERR_FORMAT, "invalid tag"},
        {"unknown flag", "XTRA", 8, P(""), -1, TG_ERR_FORMAT, "flags"},
        {"duplicate section", "TRAN", 2, (const char *)TRAN_OK, 28, -1, TG_ERR_FORMAT,
         "appears twice"},
        {"train flags", "TRAN", 2, P("\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\2\0\0\0\0\0\0\0\0\0\0\0"),
         -1, TG_ERR_FORMAT, "flags"},
        {"all-zero RNG", "RNGS", 2,
         P("\1\0\0\0\1\0r\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0"), -1,
         TG_ERR_FORMAT, "all-zero"},
        {"NUL in metadata", "META", 0, P("\1\0\0\0\1\0k\1\0\0\0\0"), -1, TG_ERR_FORMAT, "NUL"},
        {"unknown optimizer", "OPTM", 2, P("\4\0sgdx"), -1, TG_ERR_VERSION, "sgdx"},
        {"bad optimizer config", "OPTM", 2, P("\4\0adam\1\0\0\0\5\0beta1\0\0\0\0\0\0\xf0\x3f"), -1,
         TG_ERR_FORMAT, "beta1"},
        {"unknown schedule", "SCHD", 2, P("\3\0abc"), -1, TG_ERR_VERSION, "abc"},
        /* Issue 10: what the format document requires and the loader now checks. */
        {"bytes after the zlib stream", "TENS", 1 | 2 | AS_GIVEN,
         P("\x78\x9c\x63\x60\x60\x60\x00\x00\x00\x04\x00\x01x"), 4, TG_ERR_CORRUPT,
         "after the end of the compressed stream"},
        {"name not UTF-8", "TENS", 2,
         P("\1\0\0\0\1\0\xff\0\1\1\0\0\0\0\0\0\0\4\0\0\0\0\0\0\0\0\0\0\0"), -1, TG_ERR_FORMAT,
         "not valid UTF-8"},
        {"overlong UTF-8 name", "RNGS", 2,
         P("\1\0\0\0\2\0\xc0\xaf\1\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0"
           "\0\0\0\0\0\0\0\0"),
         -1, TG_ERR_FORMAT, "not valid UTF-8"},
        {"optimizer size 1 for 0 parameters", "OPTM", 2,
         P("\3\0sgd\0\0\0\0\0\0\0\0\0\0\0\0\1\0\0\0\0\0\0\0\0\0\0\0"), -1, TG_ERR_FORMAT,
         "covers 1 values but the parameters in TENS hold 0"},
        {"duplicate config key", "OPTM", 2,
         P("\3\0sgd\2\0\0\0\3\0eps\0\0\0\0\0\0\0\0\3\0eps\0\0\0\0\0\0\0\0"
           "\0\0\0\0\0\0\0\0\1\0\0\0\0\0\0\0\0\0\0\0"),
         -1, TG_ERR_FORMAT, "config key 'eps' appears twice"},
        {"unknown optional section, bad checksum", "XTRA", BAD_CRC, P("abc"), -1, TG_ERR_CORRUPT,
         "XTRA fails its checksum"},
        {"unknown optional section, broken zlib", "XTRA", 1 | AS_GIVEN, P("\x78\x9c\xff\xff"), 8,
         TG_ERR_CORRUPT, "XTRA"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        sec s[5];
        int n = 0;
        /* Replace the base section with the same tag, or add the case's section. */
        int replaced = 0;
        for (int j = 0; j < 4; j++) {
            int same =
                !strcmp(base[j].tag, cases[i].tag) && strcmp(cases[i].what, "duplicate section");
            s[n++] = base[j];
            if (same) {
                s[n - 1] =
                    (sec){cases[i].tag, cases[i].flags, (const unsigned char *)cases[i].payload,
                          cases[i].len, cases[i].raw_len};
                replaced = 1;
            }
        }
        if (!replaced)
            s[n++] = (sec){cases[i].tag, cases[i].flags, (const unsigned char *)cases[i].payload,
                           cases[i].len, cases[i].raw_len};
        f = build_file(s, n, &len);
        write_all(bad, f, len);
        free(f);
        expect_load_fails(bad, cases[i].want, cases[i].what);
        ck_assert_msg(strstr(tg_last_error(), cases[i].msg) != NULL, "%s: message: %s",
                      cases[i].what, tg_last_error());
    }

    /* An unknown optional section is skipped; a missing required one is an error. */
    sec extra[] = {base[0], base[1], {"XTRA", 1, model_text, 1, -1}, base[2], base[3]};
    f = build_file(extra, 5, &len);
    write_all(bad, f, len);
    free(f);
    ck_assert_msg(tg_checkpoint_load(bad, &ck) == TG_OK, "%s", tg_last_error());
    tg_checkpoint_free(ck);
    f = build_file(base, 2, &len);
    write_all(bad, f, len);
    free(f);
    expect_load_fails(bad, TG_ERR_FORMAT, "no TRAN section");
    ck_assert_ptr_nonnull(strstr(tg_last_error(), "TRAN"));

    /* A section count that cannot fit. */
    f = build_file(base, 4, &len);
    le_put(f + 12, 100000, 4);
    refresh_crcs(f, len);
    write_all(bad, f, len);
    free(f);
    expect_load_fails(bad, TG_ERR_FORMAT, "section count");
    remove_dir();
}
END_TEST

START_TEST(test_checkpoint_rejects_mismatched_model) {
    make_dir();
    const char *path = path_in("m.tgc");
    model m;
    tg_rng data;
    double el = 0;
    model_build(&m, 8, 6, 1, TG_OPTIM_ADAM);
    tg_rng_seed(&data, 8);
    model_train(&m, &data, 0, 3, &el);
    ck_assert_int_eq(model_save(&m, path, 3, &data, el, 0), TG_OK);
    model_free(&m);
    tg_checkpoint *ck;
    ck_assert_int_eq(tg_checkpoint_load(path, &ck), TG_OK);

    /* A different width: the tensor and both shapes are named, and nothing is changed. */
    model w;
    model_build(&w, 8, 5, 1, TG_OPTIM_ADAM);
    int64_t n;
    float *wp = tg_graph_param_data(w.g, &n), *before = malloc((size_t)n * sizeof(float));
    memcpy(before, wp, (size_t)n * sizeof(float));
    tg_schedule sched_before = w.sched;
    ck_assert_int_eq(tg_checkpoint_restore(ck, w.g, w.opt, &w.sched), TG_ERR_MISMATCH);
    const char *msg = tg_last_error();
    ck_assert_msg(strstr(msg, "'fc1.weight'") && strstr(msg, "(6,4)") && strstr(msg, "(5,4)") &&
                      strstr(msg, path),
                  "message: %s", msg);
    ck_assert(memcmp(before, tg_graph_param_data(w.g, &n), (size_t)n * sizeof(float)) == 0);
    ck_assert(same_schedule(&sched_before, &w.sched));
    ck_assert_int_eq(tg_optimizer_steps(w.opt), 0);
    model_free(&w);
    free(before);

    /* A model without the noise layer: the stored running mean is extra. */
    model_build(&w, 8, 6, 0, TG_OPTIM_ADAM);
    ck_assert_int_eq(tg_checkpoint_restore(ck, w.g, NULL, NULL), TG_ERR_MISMATCH);
    ck_assert_msg(strstr(tg_last_error(), "'noise.running_mean'") != NULL, "%s", tg_last_error());
    model_free(&w);

    /* A model with a tensor the checkpoint lacks. */
    model_build(&w, 8, 6, 1, TG_OPTIM_ADAM);
    ck_assert_ptr_nonnull(tg_graph_param(w.g, "extra.scale", tg_shape1(3), TG_INIT_ONES));
    ck_assert_int_eq(tg_checkpoint_restore(ck, w.g, NULL, NULL), TG_ERR_MISMATCH);
    ck_assert_msg(strstr(tg_last_error(), "'extra.scale'") && strstr(tg_last_error(), "(3)"), "%s",
                  tg_last_error());
    model_free(&w);

    /* The right model with the wrong optimizer kind; then without optimizer: fine. */
    model_build(&w, 8, 6, 1, TG_OPTIM_SGD);
    ck_assert_int_eq(tg_checkpoint_restore(ck, w.g, w.opt, NULL), TG_ERR_MISMATCH);
    ck_assert_msg(strstr(tg_last_error(), "adam") && strstr(tg_last_error(), "sgd"), "%s",
                  tg_last_error());
    ck_assert_int_eq(tg_checkpoint_restore(ck, w.g, NULL, NULL), TG_OK);
    ck_assert(memcmp(tg_graph_param_data(w.g, &n), tg_checkpoint_tensor_data(ck, 0), 4) == 0);
    model_free(&w);

    /* A schedule of another kind. */
    model_build(&w, 8, 6, 1, TG_OPTIM_ADAM);
    tg_schedule_config sc = tg_schedule_defaults(TG_SCHEDULE_EXPONENTIAL, 0.1);
    ck_assert_int_eq(tg_schedule_init(&w.sched, &sc), TG_OK);
    ck_assert_int_eq(tg_checkpoint_restore(ck, w.g, w.opt, &w.sched), TG_ERR_MISMATCH);
    ck_assert_int_eq(tg_optimizer_steps(w.opt), 0); /* all or nothing */
    model_free(&w);
    tg_checkpoint_free(ck);

    /* A checkpoint without optimizer state cannot restore an optimizer. */
    ck_assert_int_eq(save_doc_example(path, 0), TG_OK);
    ck_assert_int_eq(tg_checkpoint_load(path, &ck), TG_OK);
    tg_graph *g = tg_graph_new(1);
    ck_assert_ptr_nonnull(tg_graph_param(g, "w", tg_shape1(2), TG_INIT_ZEROS));
    tg_optimizer_config oc = tg_optimizer_defaults(TG_OPTIM_ADAM);
    tg_optimizer *opt = tg_optimizer_new(&oc, 2);
    ck_assert_int_eq(tg_checkpoint_restore(ck, g, opt, NULL), TG_ERR_MISMATCH);
    ck_assert_ptr_nonnull(strstr(tg_last_error(), "no optimizer"));
    ck_assert_int_eq(tg_checkpoint_restore(ck, g, NULL, NULL), TG_OK);
    ck_assert(tg_node_data(tg_graph_find(g, "w"))[1] == -2.0f);
    tg_optimizer_free(opt);
    tg_graph_free(g);
    tg_checkpoint_free(ck);
    remove_dir();
}
END_TEST

/* A stored weight that is not finite (damage the CRCs missed, or an edit) is refused by
 * name before anything is restored; training never saves one. */
START_TEST(test_checkpoint_refuses_a_non_finite_weight) {
    make_dir();
    const char *path = path_in("nan.tgc");
    tg_graph *g = tg_graph_new(1);
    ck_assert_ptr_nonnull(tg_graph_param(g, "w", tg_shape1(3), TG_INIT_ZEROS));
    tg_node_data(tg_graph_find(g, "w"))[2] = NAN;
    tg_checkpoint_data d = {.graph = g};
    ck_assert_msg(tg_checkpoint_save(path, &d) == TG_OK, "%s", tg_last_error());
    tg_node_data(tg_graph_find(g, "w"))[2] = 5.0f;
    tg_checkpoint *ck;
    ck_assert_int_eq(tg_checkpoint_load(path, &ck), TG_OK);
    ck_assert_int_eq(tg_checkpoint_restore(ck, g, NULL, NULL), TG_ERR_FORMAT);
    ck_assert_msg(strstr(tg_last_error(), "'w'") && strstr(tg_last_error(), "non-finite") &&
                      strstr(tg_last_error(), "element 2"),
                  "%s", tg_last_error());
    ck_assert(tg_node_data(tg_graph_find(g, "w"))[2] == 5.0f); /* nothing restored */
    tg_checkpoint_free(ck);
    tg_graph_free(g);
    remove_dir();
}
END_TEST

/* A save renames its temporary file over the target: a target that is no regular file
 * (a device like /dev/null, a pipe, a folder) is refused and left as it is. */
START_TEST(test_checkpoint_save_refuses_a_target_that_is_no_file) {
    make_dir();
    const char *fifo = path_in("pipe.tgc");
    ck_assert_int_eq(mkfifo(fifo, 0600), 0);
    tg_graph *g = tg_graph_new(1);
    ck_assert_ptr_nonnull(tg_graph_param(g, "w", tg_shape1(3), TG_INIT_ONES));
    tg_checkpoint_data d = {.graph = g};
    ck_assert_int_eq(tg_checkpoint_save(fifo, &d), TG_ERR_IO);
    ck_assert_msg(strstr(tg_last_error(), "not a regular file"), "%s", tg_last_error());
    struct stat sb;
    ck_assert(lstat(fifo, &sb) == 0 && S_ISFIFO(sb.st_mode));
    ck_assert_int_eq(tg_checkpoint_save(dir, &d), TG_ERR_IO); /* a folder */
    remove(fifo);
    tg_graph_free(g);
    remove_dir();
}
END_TEST

/* In a child: a file-size limit below the checkpoint's size makes the write fail with EFBIG. */
START_TEST(test_checkpoint_failed_save_keeps_previous_file) {
    make_dir();
    const char *path = path_in("keep.tgc");
    model m;
    tg_rng data;
    double el = 0;
    model_build(&m, 9, 6, 1, TG_OPTIM_ADAM);
    tg_rng_seed(&data, 9);
    model_train(&m, &data, 0, 2, &el);
    ck_assert_int_eq(model_save(&m, path, 2, &data, el, 0), TG_OK);
    size_t len;
    unsigned char *before = read_all(path, &len);
    model_train(&m, &data, 2, 4, &el); /* the next save would differ */

    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        signal(SIGXFSZ, SIG_IGN);
        struct rlimit rl;
        getrlimit(RLIMIT_FSIZE, &rl);
        rl.rlim_cur = len / 2;
        if (setrlimit(RLIMIT_FSIZE, &rl) != 0) _exit(2);
        tg_status st = model_save(&m, path, 4, &data, el, 0);
        int ok = st == TG_ERR_IO && strstr(tg_last_error(), path) &&
                 strstr(tg_last_error(), strerror(EFBIG));
        if (!ok) fprintf(stderr, "child: %s: %s\n", tg_status_name(st), tg_last_error());
        _exit(ok ? 0 : 1);
    }
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %d", status);

    size_t len2;
    unsigned char *after = read_all(path, &len2);
    ck_assert(len2 == len && memcmp(before, after, len) == 0);
    ck_assert_int_eq(dir_entries(dir), 1); /* the temporary file is gone */
    tg_checkpoint *ck;
    ck_assert_msg(tg_checkpoint_load(path, &ck) == TG_OK, "%s", tg_last_error());
    ck_assert_int_eq(tg_checkpoint_step(ck), 2);
    tg_checkpoint_free(ck);
    free(after);

    /* Unusable destinations: a missing directory, a parent that is a regular file, a target
     * that is a directory. Each is an error naming the path; nothing is left behind. */
    const char *missing = path_in("no/such/dir/x.tgc");
    ck_assert_int_eq(model_save(&m, missing, 4, &data, el, 0), TG_ERR_IO);
    ck_assert_msg(strstr(tg_last_error(), missing) && strstr(tg_last_error(), strerror(ENOENT)),
                  "%s", tg_last_error());
    char under_file[300];
    snprintf(under_file, sizeof under_file, "%s/x.tgc", path);
    ck_assert_int_eq(model_save(&m, under_file, 4, &data, el, 0), TG_ERR_IO);
    ck_assert_msg(strstr(tg_last_error(), under_file) && strstr(tg_last_error(), strerror(ENOTDIR)),
                  "%s", tg_last_error());
    const char *subdir = path_in("sub");
    ck_assert_int_eq(mkdir(subdir, 0755), 0);
    ck_assert_int_eq(model_save(&m, subdir, 4, &data, el, 0), TG_ERR_IO);
    ck_assert_ptr_nonnull(strstr(tg_last_error(), subdir));
    ck_assert_int_eq(dir_entries(dir), 2); /* keep.tgc and sub */
    ck_assert_int_eq(dir_entries(subdir), 0);
    after = read_all(path, &len2);
    ck_assert(len2 == len && memcmp(before, after, len) == 0);
    free(after);
    free(before);
    model_free(&m);
    remove_dir();
}
END_TEST

/* A process killed at a random moment while saving, over and over: the file at the path is
 * always one complete checkpoint, the old or the new. */
/* Optimizer state is restored by parameter name: a model with the same tensors created in
 * another order gets each parameter's own moments (it used to get them by position). */
START_TEST(test_checkpoint_optimizer_state_follows_parameter_names) {
    make_dir();
    const char *path = path_in("order.tgc");
    tg_graph *ga = tg_graph_new(1), *gb = tg_graph_new(1);
    ck_assert_ptr_nonnull(tg_graph_param(ga, "a", tg_shape1(3), TG_INIT_ZEROS));
    ck_assert_ptr_nonnull(tg_graph_param(ga, "b", tg_shape1(2), TG_INIT_ONES));
    ck_assert_ptr_nonnull(tg_graph_param(gb, "b", tg_shape1(2), TG_INIT_ZEROS));
    ck_assert_ptr_nonnull(tg_graph_param(gb, "a", tg_shape1(3), TG_INIT_ZEROS));
    int64_t n;
    ck_assert_ptr_nonnull(tg_graph_param_data(ga, &n));
    ck_assert_int_eq(n, 5);
    ck_assert_ptr_nonnull(tg_graph_param_data(gb, &n));
    tg_optimizer_config cfg = tg_optimizer_defaults(TG_OPTIM_ADAM);
    tg_optimizer *oa = tg_optimizer_new(&cfg, 5), *ob = tg_optimizer_new(&cfg, 5);
    ck_assert_ptr_nonnull(oa);
    ck_assert_ptr_nonnull(ob);
    for (int i = 0; i < tg_optimizer_state_count(oa); i++)
        for (int k = 0; k < 5; k++) /* a's moments 1, 2, 3 (x10 per array), b's 4, 5 */
            tg_optimizer_state_data(oa, i)[k] = (float)(10 * i + k + 1);
    tg_checkpoint_data d = {.graph = ga, .opt = oa};
    ck_assert_msg(tg_checkpoint_save(path, &d) == TG_OK, "%s", tg_last_error());
    tg_checkpoint *ck;
    ck_assert_int_eq(tg_checkpoint_load(path, &ck), TG_OK);
    ck_assert_msg(tg_checkpoint_restore(ck, gb, ob, NULL) == TG_OK, "%s", tg_last_error());
    const float want[5] = {4, 5, 1, 2, 3}; /* gb's flat order: b, then a */
    for (int i = 0; i < tg_optimizer_state_count(ob); i++)
        for (int k = 0; k < 5; k++)
            ck_assert_msg(tg_optimizer_state_data(ob, i)[k] == (float)(10 * i) + want[k],
                          "array %s[%d] = %g", tg_optimizer_state_name(ob, i), k,
                          (double)tg_optimizer_state_data(ob, i)[k]);
    ck_assert_float_eq(tg_graph_param_data(gb, NULL)[0], 1.0f); /* b's values, by name too */
    tg_checkpoint_free(ck);
    tg_optimizer_free(oa);
    tg_optimizer_free(ob);
    tg_graph_free(ga);
    tg_graph_free(gb);
    remove_dir();
}
END_TEST

/* Issue 10, failure 7: the temporary files of killed saves are removed, nothing else. */
START_TEST(test_checkpoint_remove_stale_takes_only_save_temporaries) {
    make_dir();
    const char *names[] = {
        "x.tgc.tmp-ab12CD", "x.tgc.tmp-000000", "x.tgc.tmp-abc12", "x.tgc.tmp-abc1234",
        "x.tgc.tmp-ab_12C", "y.tgc.tmp-abcdef", "x.tgc",           "x.tgcXtmp-abcdef"};
    for (int i = 0; i < 8; i++) write_all(path_in(names[i]), (const unsigned char *)"x", 1);
    ck_assert_int_eq(tg_checkpoint_remove_stale(path_in("x.tgc")), 2);
    ck_assert_int_eq(dir_entries(dir), 6);
    ck_assert_int_eq(access(path_in("x.tgc"), F_OK), 0);
    ck_assert_int_eq(tg_checkpoint_remove_stale(path_in("x.tgc")), 0);
    ck_assert_int_eq(tg_checkpoint_remove_stale("/nonexistent-dir-tg/x.tgc"), 0);
    ck_assert_int_eq(tg_checkpoint_remove_stale(path_in("x.tgc/y.tgc")), -1); /* a file */
    ck_assert_int_eq(tg_checkpoint_remove_stale(""), 0);
    remove_dir();
}
END_TEST

START_TEST(test_checkpoint_killed_save_leaves_a_loadable_file) {
    make_dir();
    const char *path = path_in("big.tgc");
    tg_graph *g = tg_graph_new(5);
    ck_assert_ptr_nonnull(tg_graph_param(g, "big", tg_shape2(512, 256), TG_INIT_GLOROT_UNIFORM));
    tg_checkpoint_data d = {.graph = g, .model_text = "big\n", .step = 0, .compression = 1};
    ck_assert_int_eq(tg_checkpoint_save(path, &d), TG_OK);
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    srand((unsigned)now.tv_nsec);
    for (int round = 0; round < 12; round++) {
        pid_t pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
            for (int64_t s = 1;; s++) {
                d.step = s;
                tg_node_data(tg_graph_find(g, "big"))[0] = (float)s;
                if (tg_checkpoint_save(path, &d) != TG_OK) _exit(1);
            }
        }
        usleep((useconds_t)(2000 + rand() % 20000));
        kill(pid, SIGKILL);
        int status;
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert_msg(WIFSIGNALED(status), "the saving child stopped by itself (%d)", status);
        tg_checkpoint *ck;
        ck_assert_msg(tg_checkpoint_load(path, &ck) == TG_OK, "round %d: %s", round,
                      tg_last_error());
        /* Step s was saved with big[0] = s; step 0 is the first save, from this process. */
        int64_t s = tg_checkpoint_step(ck);
        float first = s ? (float)s : tg_node_data(tg_graph_find(g, "big"))[0];
        ck_assert_msg(tg_checkpoint_tensor_data(ck, 0)[0] == first, "round %d: step %lld", round,
                      (long long)s);
        tg_checkpoint_free(ck);
    }
    tg_graph_free(g);
    remove_dir(); /* also the temporary files of killed saves */
}
END_TEST

int main(void) {
    if (tg_op_register(&noisestat_op) != TG_OK) {
        fprintf(stderr, "%s\n", tg_last_error());
        return EXIT_FAILURE;
    }
    Suite *s = suite_create("checkpoint");
    TCase *tc = tcase_create("checkpoint");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_checkpoint_round_trip_is_bit_identical);
    tcase_add_test(tc, test_checkpoint_shuffles_large_sections_and_saves_copies);
    tcase_add_test(tc, test_checkpoint_resume_is_bit_identical);
    tcase_add_test(tc, test_checkpoint_matches_documented_example);
    tcase_add_test(tc, test_checkpoint_rejects_wrong_magic_and_newer_version);
    tcase_add_test(tc, test_checkpoint_rejects_truncated_file);
    tcase_add_test(tc, test_checkpoint_rejects_every_single_bit_flip);
    tcase_add_test(tc, test_checkpoint_rejects_crafted_sizes_and_records);
    tcase_add_test(tc, test_checkpoint_rejects_mismatched_model);
    tcase_add_test(tc, test_checkpoint_refuses_a_non_finite_weight);
    tcase_add_test(tc, test_checkpoint_save_refuses_a_target_that_is_no_file);
    tcase_add_test(tc, test_checkpoint_failed_save_keeps_previous_file);
    tcase_add_test(tc, test_checkpoint_optimizer_state_follows_parameter_names);
    tcase_add_test(tc, test_checkpoint_remove_stale_takes_only_save_temporaries);
    tcase_add_test(tc, test_checkpoint_killed_save_leaves_a_loadable_file);
    suite_add_tcase(s, tc);
    return tg_check_run(s);
}
