/* The epoch loop: pairs drawn afresh each epoch, batches, forward/backward,
 * clipping, the optimizer step; validation, schedule, early stopping; checkpoints
 * after every epoch and on interruption; metrics.csv and report.html. */
#include "train/tg_train.h"
#include "train/tg_triplet_batch.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "checkpoint/tg_checkpoint.h"
#include "autograd/tg_fs.h"
#include "autograd/tg_step.h"
#include "eval/tg_report.h"
#include "eval/tg_run.h"
#include "train/tg_diag.h"
#include "autograd/tg_threads.h"
#include "autograd/tg_node_impl.h"
#include "train/tg_train_dist.h"

#define PAIRS_STREAM 0x7061697273ULL /* "pairs": training pairs, one draw per epoch */
#define AUG_STREAM 0x617567ULL       /* "aug": augmentation, per batch */
#define VAL_STREAM 0x76616cULL       /* "val": the fixed validation pairs */

tg_train_opts tg_train_opts_default(void) {
    tg_train_opts o = {0};
    o.val_frac = 0.15;
    o.test_frac = 0.15;
    o.by_group = -1;
    o.similar_frac = 0.5;
    o.knn_k = 5;
    o.progress = 0;
    o.early_stop = -1;
    o.augment = -1;
    o.collapse_stop = 3;
    o.ema = -1;
    return o;
}

/* Everything one training run holds. */
typedef struct trainer {
    const tg_train_opts *o;
    FILE *log;
    tg_model_def *def;
    tg_model *m;
    tg_run_data data;
    tg_optimizer *opt;
    tg_schedule sched;
    tg_rng pairs_rng, aug_rng;
    tg_pairs val_pairs, train_pairs;
    float *xa, *xb, *y, *val_dist;
    int ema;     /* the optimizer's state index of the weights' moving average, or -1 */
    float *live; /* with an ema: the training weights while the average is validated */
    int *val_labels;
    tg_augment aug;
    tg_triplet_epoch trip; /* with a triplet line: P x K batches instead of pairs */
    tg_diag *diag;         /* NULL unless --diagnostics */
    /* settings and progress stored in the checkpoint, so a resumed run keeps them */
    tg_run_record run;
    int64_t epoch, step; /* completed epochs, optimizer steps */
    double best_val;
    int early_stop;       /* epochs without a better validation loss before stopping; 0 never */
    int collapsed_epochs; /* collapsed validations in a row */
    char last_path[4096], best_path[4096], metrics_path[4096], report_path[4096];
    /* data-parallel training (train/tg_train_dist.h); dist is NULL in a plain run */
    tg_dist *dist;
    tg_comm *own_comm;
    size_t batch_start; /* first pair of the current global batch */
    tg_rng batch_aug;   /* the augmentation stream at the start of the batch */
} trainer;

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* dist: rank 0 alone writes files (every rank of a plain run is rank 0). */
static int is_root(const trainer *t) {
    return tg_comm_rank(t->o->comm) == 0;
}
/* ... and every rank learns whether the write worked, so no rank waits for a lost one. */
#define ROOT_WRITES(t, call) tg_train_dist_agree((t)->dist, is_root(t) ? (call) : TG_OK)

/* ---- settings <-> checkpoint metadata (the run record's table, eval/tg_run.c) ---- */

static const char *nonfinite_state(trainer *t);

/* The training state to one file, or to best.tgc and last.tgc at once after a best epoch
 * (encoded and compressed once). */
static tg_status save_checkpoints(trainer *t, const char *const *paths, int n_paths) {
    /* Never replace a good checkpoint with a diverged state. */
    const char *bad = nonfinite_state(t);
    if (bad) return tg_error(TG_ERR_NUMERIC, "not saving %s: %s are not finite", paths[0], bad);
    tg_run_meta meta;
    tg_run_record_to_meta(&t->run, &meta);
    tg_checkpoint_rng rngs[2] = {{"pairs", &t->pairs_rng}, {"aug", &t->aug_rng}};
    tg_checkpoint_data d = {.graph = t->m->graph,
                            .opt = t->opt,
                            .sched = &t->sched,
                            .model_text = t->def->text,
                            .epoch = t->epoch,
                            .step = t->step,
                            .has_best = t->run.best_epoch > 0,
                            .best = t->best_val,
                            .rngs = rngs,
                            .n_rngs = 2,
                            .meta = meta.entries,
                            .n_meta = meta.n};
    return tg_checkpoint_save_copies(paths, n_paths, &d);
}

static tg_status save_checkpoint(trainer *t, const char *path) {
    return save_checkpoints(t, &path, 1);
}

/* With an ema: on, the parameters become the moving average (the training weights
 * set aside in t->live); off, the training weights come back. */
static void use_average(trainer *t, int on) {
    int64_t n;
    float *p = tg_graph_param_data(t->m->graph, &n);
    const size_t bytes = (size_t)n * sizeof *p;
    if (on) {
        memcpy(t->live, p, bytes);
        memcpy(p, tg_optimizer_state_data(t->opt, t->ema), bytes);
    } else {
        memcpy(p, t->live, bytes);
    }
}

/* Read the run settings and progress back from a checkpoint. */
static tg_status load_settings(trainer *t, const tg_checkpoint *ck) {
    tg_status st = tg_run_record_from_checkpoint(ck, &t->run);
    if (st) return st;
    t->epoch = tg_checkpoint_epoch(ck);
    t->step = tg_checkpoint_step(ck);
    if (!tg_checkpoint_best(ck, &t->best_val)) t->best_val = INFINITY;
    return TG_OK;
}

/* ---- metrics.csv ---- */

static const char *METRICS_HEADER = "epoch,train_loss,val_loss,val_accuracy,val_auc,threshold,lr,"
                                    "mean_val_distance,seconds,pairs_per_second\n";

typedef struct history {
    int n;
    double *epoch, *train_loss, *val_loss, *val_acc, *val_auc;
} history;

static void history_free(history *h) {
    free(h->epoch);
    free(h->train_loss);
    free(h->val_loss);
    free(h->val_acc);
    free(h->val_auc);
}

static tg_status history_read(const char *path, history *h) {
    memset(h, 0, sizeof *h);
    FILE *f = fopen(path, "r");
    if (!f) return tg_error(TG_ERR_IO, "cannot read %s: %s", path, strerror(errno));
    char line[1024];
    int cap = 0;
    while (fgets(line, sizeof line, f)) {
        double v[5];
        if (sscanf(line, "%lf,%lf,%lf,%lf,%lf", &v[0], &v[1], &v[2], &v[3], &v[4]) != 5) continue;
        if (h->n == cap) {
            cap = cap ? 2 * cap : 64;
            double **cols[5] = {&h->epoch, &h->train_loss, &h->val_loss, &h->val_acc, &h->val_auc};
            for (int c = 0; c < 5; c++) {
                double *p = realloc(*cols[c], (size_t)cap * sizeof(double));
                if (!p) {
                    fclose(f);
                    return tg_error(TG_ERR_NOMEM, "out of memory");
                }
                *cols[c] = p;
            }
        }
        h->epoch[h->n] = v[0];
        h->train_loss[h->n] = v[1];
        h->val_loss[h->n] = v[2];
        h->val_acc[h->n] = v[3];
        h->val_auc[h->n] = v[4];
        h->n++;
    }
    fclose(f);
    return TG_OK;
}

/* ---- progress ---- */

static void progress(trainer *t, int batch_i, int n_batches, double loss, double pairs_s,
                     double eta) {
    if (t->o->progress != 1) return;
    int width = 24, filled = (int)((double)width * (batch_i + 1) / n_batches);
    char bar[32];
    for (int i = 0; i < width; i++) bar[i] = i < filled ? '#' : '.';
    bar[width] = 0;
    fprintf(t->log, "\repoch %lld/%d [%s] %d/%d  loss %.4f  %.1f pairs/s  ETA %d:%02d ",
            (long long)t->epoch + 1, t->run.epochs, bar, batch_i + 1, n_batches, loss, pairs_s,
            (int)(eta / 60), (int)fmod(eta, 60));
    fflush(t->log);
}

/* ---- validation ---- */

typedef struct val_result {
    double loss, accuracy, auc, threshold, mean_dist, max_dist;
} val_result;

static tg_status validate(trainer *t, val_result *v) {
    tg_pairs *p = &t->val_pairs;
    /* dist: the ranks share out the pairs and all receive every distance */
    tg_status st = tg_train_dist_pair_distances(t->dist, t->m, &t->data.ds, p, t->val_dist,
                                                t->val_labels, &v->loss);
    if (st) return st;
    v->mean_dist = 0;
    v->max_dist = 0;
    for (size_t i = 0; i < p->n; i++) {
        if (!isfinite(t->val_dist[i]))
            return tg_error(TG_ERR_NUMERIC, "validation distance %zu is not finite", i);
        v->mean_dist += t->val_dist[i];
        if (t->val_dist[i] > v->max_dist) v->max_dist = t->val_dist[i];
    }
    v->mean_dist /= (double)p->n;
    /* Positive = dissimilar pair, predicted when the distance reaches the threshold. */
    v->threshold = tg_best_threshold(t->val_dist, t->val_labels, (int)p->n, &v->accuracy);
    v->auc = tg_auc(t->val_dist, t->val_labels, (int)p->n);
    return TG_OK;
}

/* ---- set-up ---- */

static tg_status setup(trainer *t, const tg_train_opts *o) {
    tg_status st;
    tg_checkpoint *ck = NULL;
    snprintf(t->last_path, sizeof t->last_path, "%s/last.tgc", o->run_dir);
    snprintf(t->best_path, sizeof t->best_path, "%s/best.tgc", o->run_dir);
    snprintf(t->metrics_path, sizeof t->metrics_path, "%s/metrics.csv", o->run_dir);
    snprintf(t->report_path, sizeof t->report_path, "%s/report.html", o->run_dir);
    /* A run killed while saving leaves temporary files behind; no save of this run can be
     * in progress now, so they go. */
    char tmp[2][4200];
    snprintf(tmp[0], sizeof tmp[0], "%s.tmp", t->metrics_path);
    snprintf(tmp[1], sizeof tmp[1], "%s.tmp", t->report_path);
    if (is_root(t)) { /* the files are rank 0's */
        if (tg_checkpoint_remove_stale(t->last_path) < 0 ||
            tg_checkpoint_remove_stale(t->best_path) < 0)
            return TG_ERR_IO;
        unlink(tmp[0]);
        unlink(tmp[1]);
    }
    if (o->resume) {
        if ((st = tg_checkpoint_load(t->last_path, &ck))) return st;
        if ((st = load_settings(t, ck))) goto done;
        if ((st = tg_run_model_from_checkpoint(ck, &t->def))) goto done;
        if (o->epochs > 0) t->run.epochs = o->epochs;
        t->early_stop = o->early_stop >= 0 ? o->early_stop : t->def->train.early_stop;
        /* The schedule the run started with (the model's or a --schedule override). */
        const tg_schedule_config *sc = tg_checkpoint_schedule_config(ck);
        if (sc) t->def->train.schedule = *sc;
        /* and its optimizer (the model's, or with an --ema override) */
        const tg_optimizer_config *oc = tg_checkpoint_optimizer_config(ck);
        if (oc) t->def->train.optim = *oc;
        if (t->early_stop > 0 && t->run.since_best >= t->early_stop && t->epoch < t->run.epochs) {
            if (o->progress >= 0)
                fprintf(t->log,
                        "the run stopped early at epoch %lld (no better validation loss in %d "
                        "epochs); resuming with the patience counter restarted\n",
                        (long long)t->epoch, t->early_stop);
            t->run.since_best = 0;
        }
    } else {
        if (!o->model_path || !o->data_spec)
            return tg_error(TG_ERR_INVALID, "training needs a model file and a data spec");
        if ((st = tg_model_def_parse_file(o->model_path, &t->def))) return st;
        if (!(t->run.data_spec = strdup(o->data_spec)))
            return tg_error(TG_ERR_NOMEM, "out of memory");
        const tg_model_train *tr = &t->def->train;
        t->run.val_frac = o->val_frac;
        t->run.test_frac = o->test_frac;
        t->run.by_group = o->by_group;
        t->run.balance = o->balance;
        t->run.similar_frac = o->similar_frac;
        t->run.augment = o->augment >= 0 ? o->augment : tr->augment;
        t->run.knn_k = o->knn_k > 0 ? o->knn_k : 5;
        t->run.batch = o->batch > 0 ? o->batch : tr->batch;
        t->run.lr = o->lr > 0 ? o->lr : tr->lr;
        t->run.seed = o->has_seed ? o->seed : tr->seed;
        t->run.epochs = o->epochs > 0 ? o->epochs : tr->epochs;
        t->run.pairs_per_epoch = o->pairs_per_epoch;
        t->run.reduce = (int)o->reduce;
        t->run.shards = o->shards;
        t->early_stop = o->early_stop >= 0 ? o->early_stop : tr->early_stop;
        t->best_val = INFINITY;
        t->run.threshold = NAN;
        /* --schedule "KIND key=value ...": replaces the train line's schedule, read as
         * that line reads it. */
        if (o->schedule && (st = tg_model_schedule_parse("--schedule", o->schedule, t->run.lr,
                                                         &t->def->train.schedule)))
            goto done;
        if (o->ema >= 0) t->def->train.optim.ema = o->ema;
        /* Name only the fraction that is wrong: the others may be defaults. */
        double sim = t->run.similar_frac, val = t->run.val_frac, test = t->run.test_frac;
        st = TG_OK;
        if (!(sim > 0 && sim < 1))
            st = tg_error(TG_ERR_INVALID, "the similar-pair share must be in (0, 1), got %g", sim);
        else if (!(val >= 0 && val < 1))
            st = tg_error(TG_ERR_INVALID, "the validation fraction must be in [0, 1), got %g", val);
        else if (!(test > 0 && test < 1))
            st = tg_error(TG_ERR_INVALID, "the test fraction must be in (0, 1), got %g", test);
        else if (val + test >= 1)
            st = tg_error(TG_ERR_INVALID,
                          "validation %g and test %g leave no image to train on: val + test "
                          "must be < 1",
                          val, test);
        if (st) goto done;
    }
    t->def->train.seed = t->run.seed;
    if ((st = tg_run_data_load(t->def, t->run.data_spec, t->run.val_frac, t->run.test_frac,
                               t->run.by_group, t->run.balance, t->run.seed,
                               o->progress >= 0 ? t->log : NULL, &t->data)))
        goto done;
    if (t->def->triplet_line && !o->resume && o->batch > 0) {
        st = tg_error(TG_ERR_INVALID,
                      "%s:%d: --batch does not apply to triplet training: a batch "
                      "is classes x per_class images (the triplet line)",
                      t->def->source, t->def->triplet_line);
        goto done;
    }
    if (t->def->triplet_line &&
        (st = tg_triplet_epoch_init(&t->trip, t->def, &t->data.ds, t->data.train, t->data.n_train,
                                    &t->run.batch)))
        goto done;
    /* Whole batches only: pairs per epoch round up to a multiple of the batch. */
    size_t want = t->run.pairs_per_epoch > 0 ? (size_t)t->run.pairs_per_epoch : 2 * t->data.n_train;
    t->run.pairs_per_epoch =
        (int)((want + (size_t)t->run.batch - 1) / (size_t)t->run.batch) * t->run.batch;
    if (o->pairs_per_epoch > 0 && t->run.pairs_per_epoch != o->pairs_per_epoch && o->progress >= 0)
        fprintf(t->log, "--pairs %d rounded up to %d, whole batches of %d\n", o->pairs_per_epoch,
                t->run.pairs_per_epoch, t->run.batch);
    /* On resume the checkpoint fills every parameter: no initialiser runs. */
    st = o->resume ? tg_model_build_for_restore(t->def, t->run.batch, &t->m)
                   : tg_model_build(t->def, t->run.batch, &t->m);
    if (st) goto done;
    int64_t n;
    tg_graph_param_data(t->m->graph, &n);
    tg_optimizer_config oc = t->def->train.optim;
    tg_schedule_config sc = t->def->train.schedule;
    sc.lr = t->run.lr;
    if (!(t->opt = tg_optimizer_new(&oc, n)) || (st = tg_schedule_init(&t->sched, &sc))) {
        st = st ? st : TG_ERR_INVALID;
        goto done;
    }
    tg_rng_seed(&t->pairs_rng, t->run.seed ^ PAIRS_STREAM);
    tg_rng_seed(&t->aug_rng, t->run.seed ^ AUG_STREAM);
    if (ck) {
        if ((st = tg_checkpoint_restore(ck, t->m->graph, t->opt, &t->sched)) ||
            (st = tg_checkpoint_rng_get(ck, "pairs", &t->pairs_rng)) ||
            (st = tg_checkpoint_rng_get(ck, "aug", &t->aug_rng)))
            goto done;
    }
    t->aug = t->run.augment ? tg_augment_default() : (tg_augment){0};
    t->ema = tg_optimizer_state_find(t->opt, "ema");
    if (t->ema >= 0 && !(t->live = malloc((size_t)n * sizeof *t->live))) {
        st = tg_error(TG_ERR_NOMEM, "out of memory");
        goto done;
    }
    /* With no validation images (--val 0) the training images stand in. */
    int no_val = t->data.split.n_val == 0;
    if ((st = tg_run_pairs_error(tg_run_fixed_pairs(&t->data.ds,
                                                    no_val ? t->data.train : t->data.split.val,
                                                    no_val ? t->data.n_train : t->data.split.n_val,
                                                    t->run.seed ^ VAL_STREAM, &t->val_pairs),
                                 no_val ? "training" : "validation")))
        goto done;
    size_t item = (size_t)t->data.ds.height * (size_t)t->data.ds.width;
    t->xa = malloc((size_t)t->run.batch * item * sizeof(float));
    t->xb = malloc((size_t)t->run.batch * item * sizeof(float));
    t->y = malloc((size_t)t->run.batch * sizeof(float));
    t->val_dist = malloc(t->val_pairs.n * sizeof(float));
    t->val_labels = malloc(t->val_pairs.n * sizeof(int));
    if (!t->xa || !t->xb || !t->y || !t->val_dist || !t->val_labels) {
        st = tg_error(TG_ERR_NOMEM, "out of memory");
        goto done;
    }
    if (is_root(t)) st = tg_epoch_csv_keep(t->metrics_path, METRICS_HEADER, t->epoch);
    if (!st && o->diagnostics && t->m->triplet_loss)
        st = tg_error(TG_ERR_INVALID, "--diagnostics measures pair training; %s trains on triplets",
                      t->def->source);
    if (!st && o->diagnostics && is_root(t)) {
        char path[4200];
        snprintf(path, sizeof path, "%s/diagnostics.csv", o->run_dir);
        st = tg_diag_open(path, t->m, t->epoch, &t->diag);
    }
done:
    tg_checkpoint_free(ck);
    return st;
}

static void teardown(trainer *t) {
    tg_diag_free(t->diag);
    tg_model_free(t->m);
    tg_model_def_free(t->def);
    tg_run_data_free(&t->data);
    tg_optimizer_free(t->opt);
    tg_pairs_free(&t->val_pairs);
    tg_pairs_free(&t->train_pairs);
    tg_triplet_epoch_free(&t->trip);
    free(t->xa);
    free(t->xb);
    free(t->y);
    free(t->val_dist);
    free(t->val_labels);
    free(t->live);
    free(t->run.data_spec);
    tg_dist_free(t->dist);
    tg_comm_free(t->own_comm);
}

/* ---- the report ---- */

static tg_status write_report(trainer *t, const tg_train_result *r) {
    history h;
    tg_status st = history_read(t->metrics_path, &h);
    if (st) return st;
    tg_report *rep = tg_report_open(t->report_path, "twingrad training run");
    if (!rep) {
        history_free(&h);
        return TG_ERR_IO;
    }
    tg_report_kv(rep, "model", "%s", t->def->source);
    tg_report_kv(rep, "data", "%s", t->run.data_spec);
    tg_report_kv(rep, "images (train / val / test)", "%zu / %zu / %zu", t->data.n_train,
                 t->data.split.n_val, t->data.split.n_test);
    tg_report_kv(rep, "epochs", "%d of %d%s%s", r->epochs_done, t->run.epochs,
                 r->early_stopped ? " (early stop)" : "", r->interrupted ? " (interrupted)" : "");
    tg_report_kv(rep, "batch, learning rate, seed", "%d, %g, %llu", t->run.batch, t->run.lr,
                 (unsigned long long)t->run.seed);
    tg_report_kv(rep, "best validation loss", "%.5f (epoch %d)", r->best_val_loss, r->best_epoch);
    tg_report_kv(rep, "threshold (distance)", "%.4f", r->threshold);
    tg_report_kv(rep, "validation pair accuracy, AUC", "%.4f, %.4f", r->val_accuracy, r->val_auc);
    tg_report_kv(rep, "training throughput", "%.1f pairs/s", r->pairs_per_second);
    if (r->collapsed)
        tg_report_text(rep, "Warning: the embedding collapsed (all validation distances near "
                            "zero). Normalise the embedding (normalize=true on the siamese line) "
                            "or choose a margin that fits the distance scale.");
    const double *losses[2] = {h.train_loss, h.val_loss};
    const double *quality[2] = {h.val_acc, h.val_auc};
    tg_report_heading(rep, "Training curves");
    tg_report_line_chart(rep, "Contrastive loss", "epoch", "loss", h.epoch, h.n, losses,
                         (const char *[]){"train", "validation"}, 2);
    tg_report_line_chart(rep, "Validation pairs", "epoch", "accuracy / AUC", h.epoch, h.n, quality,
                         (const char *[]){"accuracy", "AUC"}, 2);
    tg_report_heading(rep, "Validation pairs, last epoch");
    tg_roc roc;
    if (!tg_roc_compute(t->val_dist, t->val_labels, (int)t->val_pairs.n, &roc)) {
        tg_report_roc(rep, "ROC, dissimilar pairs by distance", &roc);
        tg_roc_free(&roc);
    }
    tg_confusion c = tg_confusion_at(t->val_dist, t->val_labels, (int)t->val_pairs.n, r->threshold);
    tg_report_confusion(rep, "Confusion matrix at the threshold", &c, "dissimilar", "similar");
    char summary[16384];
    if (tg_model_summary_str(t->m, t->run.batch, summary, sizeof summary) >= 0) {
        tg_report_heading(rep, "Model");
        tg_report_pre(rep, summary);
    }
    history_free(&h);
    return tg_report_close(rep);
}

/* ---- the loop ---- */

/* 1 when all n values are finite: no exponent field is all ones (Inf or NaN). Integer OR
 * over the bit patterns vectorises: 2.4 ms for the seed model's 17M floats of parameters,
 * Adam moments and statistics on the AMD EPYC here, 0.3% of its 0.9 s step (a float
 * x*0 sum does not vectorise without reassociation and took 28 ms). */
static int all_finite(const float *x, int64_t n) {
    uint32_t bad = 0;
    for (int64_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &x[i], 4);
        bad |= (u & 0x7f800000u) == 0x7f800000u;
    }
    return !bad;
}

/* What holds a non-finite value after a step (parameters, optimizer state, running
 * statistics such as batch-norm variances), or NULL when everything is finite. */
static const char *nonfinite_state(trainer *t) {
    int64_t n;
    const float *p = tg_graph_param_data(t->m->graph, &n);
    if (!all_finite(p, n)) return "the parameters";
    int64_t size = tg_optimizer_size(t->opt);
    for (int i = 0; i < tg_optimizer_state_count(t->opt); i++)
        if (!all_finite(tg_optimizer_state_data(t->opt, i), size)) return "the optimizer state";
    const float *s = tg_graph_state_data(t->m->graph, &n);
    if (n > 0 && !all_finite(s, n)) return "the running statistics (batch norm)";
    return NULL;
}

/* A stop was asked for: by the signal flag on any rank (agreed with the others, so call it
 * on every rank alike), or (tests) at a given step count, which every rank shares. */
static int stop_requested(trainer *t) {
    const tg_train_opts *o = t->o;
    int signalled = tg_train_dist_stop(t->dist, o->stop);
    return signalled || (o->stop_after_steps > 0 && t->step >= o->stop_after_steps);
}

/* What a failed run leaves behind, for its error message. */
static const char *kept_note(const trainer *t, char *buf, size_t size) {
    if (access(t->last_path, F_OK) == 0)
        snprintf(buf, size, "%s keeps the last good state", t->last_path);
    else
        snprintf(buf, size, "no checkpoint was written yet");
    return buf;
}

/* Forward and backward over pairs [start, start+count) of the current global batch,
 * the gradient added into the graph's (a tg_dist_shard_fn: a data-parallel rank runs
 * its shares of the batch through it). */
static tg_status shard_pass(void *ctx, int64_t start, int64_t count, double *loss) {
    trainer *t = ctx;
    tg_rng aug = t->batch_aug;
    if (t->run.augment) tg_augment_skip(&aug, 2 * (size_t)start); /* the pairs before this share */
    tg_shape s4 = tg_shape4((int)count, 1, t->data.ds.height, t->data.ds.width);
    tg_status st;
    if ((st = tg_pairs_batch(&t->data.ds, &t->train_pairs, t->batch_start + (size_t)start,
                             (size_t)count, t->run.augment ? &t->aug : NULL, &aug, t->xa, t->xb,
                             t->y)) ||
        (st = tg_input_set(t->m->a, s4, t->xa)) || (st = tg_input_set(t->m->b, s4, t->xb)) ||
        (st = tg_input_set(t->m->y, tg_shape1((int)count), t->y)) ||
        (st = tg_graph_forward(t->m->graph, t->m->loss)))
        return st;
    *loss = tg_node_data(t->m->loss)[0];
    return tg_graph_backward(t->m->graph, t->m->loss);
}

static tg_status append_metrics(trainer *t, const tg_train_result *r, const val_result *v, float lr,
                                double seconds) {
    FILE *mf = fopen(t->metrics_path, "a");
    if (!mf ||
        fprintf(mf, "%lld,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g,%.3f,%.2f\n", (long long)t->epoch,
                r->train_loss, v->loss, v->accuracy, v->auc, v->threshold, lr, v->mean_dist,
                seconds, r->pairs_per_second) < 0 ||
        fclose(mf))
        return tg_error(TG_ERR_IO, "cannot append to %s: %s", t->metrics_path, strerror(errno));
    return TG_OK;
}

static tg_status train_run(const tg_train_opts *o, tg_train_result *r) {
    trainer t = {0};
    tg_status st;
    memset(r, 0, sizeof *r);
    tg_train_opts quiet;
    if (tg_comm_rank(o->comm) > 0) { /* dist: rank 0 alone reports progress */
        quiet = *o;
        quiet.progress = -1;
        o = &quiet;
    }
    t.o = o;
    t.log = o->log ? o->log : stderr;
    if (!o->run_dir) return tg_error(TG_ERR_INVALID, "training needs a run directory");
    int made_dir = is_root(&t) && access(o->run_dir, F_OK) != 0;
    st = is_root(&t) ? tg_mkdir_p(o->run_dir) : TG_OK;
    if (!st) st = setup(&t, o);
    /* dist: every rank learns whether all set up, then the data-parallel state */
    if (o->comm) st = tg_comm_agree(o->comm, st);
    if (st || (st = tg_train_dist_start(o->comm, (tg_reduce)t.run.reduce, &t.run.shards, t.m->graph,
                                        t.run.batch, t.run.seed, &t.own_comm, &t.dist)))
        goto done;
    if (t.dist && t.m->triplet_loss) {
        st = tg_error(TG_ERR_INVALID,
                      "%s:%d: triplet training runs in one process: the "
                      "data-parallel step splits pair batches, not P x K ones",
                      t.def->source, t.def->triplet_line);
        goto done;
    }
    if (o->progress >= 0)
        fprintf(t.log, "%s %s: %zu training images, %zu %s per epoch, %d epochs, batch %d%s\n",
                o->resume ? "resuming" : "training", t.def->source, t.data.n_train,
                (size_t)t.run.pairs_per_epoch, t.m->triplet_loss ? "images (P x K)" : "pairs",
                t.run.epochs, t.run.batch, t.run.augment ? ", augmented" : "");
    int n_batches = t.run.pairs_per_epoch / t.run.batch;
    int hw_h = t.data.ds.height, hw_w = t.data.ds.width;
    tg_shape s4 = tg_shape4(t.run.batch, 1, hw_h, hw_w);
    double margin = tg_op_attr_index(t.m->loss->op, "margin") >= 0
                        ? tg_node_attr_float(t.m->loss, "margin")
                        : 1.0;
    val_result v = {0};
    int validated = 0;
    char note[4200];
    while (t.epoch < t.run.epochs) {
        if (stop_requested(&t)) {
            r->interrupted = 1;
            break;
        }
        tg_rng epoch_start = t.pairs_rng; /* saved on interruption: the pairs can be redrawn */
        tg_pairs_free(&t.train_pairs);
        if (t.m->triplet_loss
                ? (st = tg_triplet_epoch_sample(&t.trip, n_batches, &t.pairs_rng))
                : (st = tg_pairs_sample(&t.data.ds, t.data.train, t.data.n_train,
                                        (size_t)t.run.pairs_per_epoch, t.run.similar_frac,
                                        t.run.balance == TG_BALANCE_PAIRS, &t.pairs_rng,
                                        &t.train_pairs))) {
            st = tg_run_pairs_error(st, "training");
            goto done;
        }
        /* metrics.csv's lr: the rate of the epoch's last step (a warm-up ramps within it) */
        float lr = (float)tg_schedule_step_lr(&t.sched, (int)t.epoch, n_batches - 1, n_batches);
        double t0 = now_seconds();
        int done_here = 0;
        tg_graph_set_training(t.m->graph, 1);
        for (int b = t.run.step_in_epoch; b < n_batches; b++) {
            tg_step_result step;
            tg_diag_before_step(t.diag);
            tg_step_opts so = {.lr =
                                   (float)tg_schedule_step_lr(&t.sched, (int)t.epoch, b, n_batches),
                               .clip = t.def->train.clip};
            if (t.dist) { /* dist: this rank's shares of the batch, gradients combined */
                t.batch_start = (size_t)b * (size_t)t.run.batch;
                t.batch_aug = t.aug_rng;
                st = tg_dist_train_step(t.dist, t.step, t.run.batch, shard_pass, &t, t.opt, &so,
                                        &step);
                if (t.run.augment) tg_augment_skip(&t.aug_rng, 2 * (size_t)t.run.batch);
            } else if (t.m->triplet_loss) { /* P x K labelled images; the triplet loss */
                tg_triplet_epoch_batch(&t.trip, &t.data.ds, b, t.run.augment ? &t.aug : NULL,
                                       &t.aug_rng, t.xa, t.y);
                if ((st = tg_input_set(t.m->a, s4, t.xa)) ||
                    (st = tg_input_set(t.m->labels, tg_shape1(t.run.batch), t.y)))
                    goto done;
                st = tg_train_step(t.m->graph, t.m->triplet_loss, t.opt, &so, &step);
                if (!st) tg_triplet_epoch_observe(&t.trip, t.m);
            } else {
                if ((st =
                         tg_pairs_batch(&t.data.ds, &t.train_pairs, (size_t)b * (size_t)t.run.batch,
                                        (size_t)t.run.batch, t.run.augment ? &t.aug : NULL,
                                        &t.aug_rng, t.xa, t.xb, t.y)) ||
                    (st = tg_input_set(t.m->a, s4, t.xa)) ||
                    (st = tg_input_set(t.m->b, s4, t.xb)) ||
                    (st = tg_input_set(t.m->y, tg_shape1(t.run.batch), t.y)))
                    goto done;
                st = tg_train_step(t.m->graph, t.m->loss, t.opt, &so, &step);
            }
            if (st == TG_ERR_NUMERIC) {
                char why[256];
                snprintf(why, sizeof why, "%s", tg_last_error());
                st = tg_error(TG_ERR_NUMERIC,
                              "training diverged at epoch %lld, batch %d (%s); "
                              "%s; try a lower learning rate (--lr) or gradient clipping (clip= on "
                              "the train line)",
                              (long long)t.epoch + 1, b + 1, why, kept_note(&t, note, sizeof note));
            }
            if (st) goto done;
            /* Every rank holds the same parameters, moments and statistics after a step, so
             * every rank reaches this verdict alone, with no extra exchange. */
            const char *bad = nonfinite_state(&t);
            if (bad) {
                st = tg_error(TG_ERR_NUMERIC,
                              "training diverged at epoch %lld, batch %d: %s are "
                              "no longer finite; %s; try a lower learning rate (--lr), gradient "
                              "clipping (clip= on the train line) or check the data's norm=",
                              (long long)t.epoch + 1, b + 1, bad, kept_note(&t, note, sizeof note));
                goto done;
            }
            tg_diag_after_step(t.diag, margin);
            t.run.partial_loss += step.loss;
            t.step++;
            t.run.step_in_epoch = b + 1;
            done_here++;
            double el = now_seconds() - t0, rate = done_here * t.run.batch / (el > 0 ? el : 1e-9);
            progress(&t, b, n_batches, t.run.partial_loss / (b + 1), rate,
                     (n_batches - b - 1) * t.run.batch / (rate > 0 ? rate : 1));
            if (stop_requested(&t) && b + 1 < n_batches) {
                t.pairs_rng = epoch_start;
                r->interrupted = 1;
                break;
            }
        }
        if (r->interrupted) break;
        double seconds = now_seconds() - t0;
        r->pairs_per_second = done_here * t.run.batch / (seconds > 0 ? seconds : 1e-9);
        r->train_loss = t.run.partial_loss / n_batches;
        t.run.partial_loss = 0;
        t.run.step_in_epoch = 0;
        if (t.ema >= 0) use_average(&t, 1); /* validated, and saved as best.tgc */
        if ((st = validate(&t, &v))) goto done;
        if (t.dist && (st = tg_dist_check_same(t.dist))) goto done; /* ranks still in step */
        validated = 1;
        if ((st = tg_diag_epoch(t.diag, t.epoch + 1, t.val_dist, t.val_labels, t.val_pairs.n,
                                margin)))
            goto done;
        t.run.threshold = v.threshold;
        tg_schedule_observe(&t.sched, v.loss);
        t.epoch++;
        r->collapsed = v.max_dist < 1e-2 * margin;
        t.collapsed_epochs = r->collapsed ? t.collapsed_epochs + 1 : 0;
        if (r->collapsed && o->progress >= 0)
            fprintf(t.log,
                    "%swarning: the embedding has collapsed (validation distances at most %.2g "
                    "with margin %g); normalise it (normalize=true on the siamese line) or pick a "
                    "margin for the distance scale\n",
                    o->progress == 1 ? "\n" : "", v.max_dist, margin);
        const int best = v.loss < t.best_val;
        if (best) {
            t.best_val = v.loss;
            t.run.best_epoch = (int)t.epoch;
            t.run.since_best = 0;
        } else {
            t.run.since_best++;
        }
        /* The metrics row first: a resume keeps the rows up to last.tgc's epoch. */
        const char *paths[2] = {t.best_path, t.last_path};
        if ((st = ROOT_WRITES(&t, append_metrics(&t, r, &v, lr, seconds)))) goto done;
        if (t.ema >= 0) { /* best.tgc: the average; last.tgc: the training weights */
            st = best ? ROOT_WRITES(&t, save_checkpoint(&t, t.best_path)) : TG_OK;
            use_average(&t, 0);
            if (st || (st = ROOT_WRITES(&t, save_checkpoint(&t, t.last_path)))) goto done;
        } else if ((st = ROOT_WRITES(&t,
                                     save_checkpoints(&t, best ? paths : paths + 1, best ? 2 : 1))))
            goto done;
        if (o->progress >= 0)
            fprintf(t.log, "%sepoch %lld/%d  train %.4f  val %.4f  acc %.3f  auc %.3f  %.1f %s/s\n",
                    o->progress == 1 ? "\r" : "", (long long)t.epoch, t.run.epochs, r->train_loss,
                    v.loss, v.accuracy, v.auc, r->pairs_per_second,
                    t.m->triplet_loss ? "images" : "pairs");
        if (t.m->triplet_loss && o->progress >= 0) {
            double active, ap, an;
            tg_triplet_epoch_figures(&t.trip, &active, &ap, &an);
            fprintf(t.log, "  triplets: %.1f%% active, mean d(a,p) %.4f, mean d(a,n) %.4f\n",
                    100.0 * active, ap, an);
        }
        if (o->collapse_stop > 0 && t.collapsed_epochs >= o->collapse_stop) {
            st = tg_error(TG_ERR_NUMERIC,
                          "stopped: the embedding has collapsed for %d epochs in a row (every "
                          "validation distance at most %.2g, margin %g); %s keeps epoch %d. "
                          "Normalise the embedding (normalize=true on the siamese line), lower the "
                          "learning rate (--lr) or pick a margin for the distance scale",
                          t.collapsed_epochs, v.max_dist, margin, t.best_path, t.run.best_epoch);
            goto done;
        }
        if (t.early_stop > 0 && t.run.since_best >= t.early_stop) {
            r->early_stopped = 1;
            break;
        }
    }
    if (r->interrupted) {
        if ((st = ROOT_WRITES(&t, save_checkpoint(&t, t.last_path)))) goto done;
        if (o->progress >= 0)
            fprintf(t.log, "\ninterrupted: state saved to %s; continue with --resume\n",
                    t.last_path);
    }
    r->epochs_done = (int)t.epoch;
    r->best_epoch = t.run.best_epoch;
    r->best_val_loss = t.best_val;
    r->val_loss = v.loss;
    r->val_accuracy = v.accuracy;
    r->val_auc = v.auc;
    r->threshold = t.run.threshold;
    if (validated) st = ROOT_WRITES(&t, write_report(&t, r));
done:
    if (st && made_dir && access(t.last_path, F_OK) != 0) {
        /* A run that failed before its first checkpoint leaves nothing behind. */
        char path[4200];
        snprintf(path, sizeof path, "%s/diagnostics.csv", o->run_dir);
        remove(t.metrics_path);
        remove(path);
        rmdir(o->run_dir);
    }
    teardown(&t);
    return st;
}

/* The thread count is the caller's OpenMP setting: use o->threads for this run
 * and give the caller back its own. */
tg_status tg_train(const tg_train_opts *o, tg_train_result *r) {
    int caller_threads = tg_threads_get();
    tg_threads_set(o->threads);
    tg_status st = train_run(o, r);
    tg_threads_set(caller_threads);
    return st;
}
