/* Cross-validation: one training run per fold through tg_train (the fold is
 * selected by the data spec's cv=k/K key, so the fold's checkpoint knows its own
 * split and resumes and evaluates like any run), then tg_evaluate on the held-out
 * fold, then the per-fold and pooled summaries. */
#include "train/tg_cv.h"

#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "autograd/tg_fs.h"
#include "models/tg_model.h"
#include "eval/tg_eval.h"
#include "eval/tg_metrics.h"
#include "eval/tg_report.h"

tg_cv_opts tg_cv_opts_default(void) {
    tg_cv_opts o;
    memset(&o, 0, sizeof o);
    o.train = tg_train_opts_default();
    o.train.val_frac = 0; /* every image of the training folds trains */
    o.folds = 5;
    o.cv_seed = 1;
    return o;
}

void tg_cv_result_free(tg_cv_result *r) {
    free(r->fold);
    r->fold = NULL;
}

/* Pooled held-out scores of every fold. */
typedef struct pool {
    float *score;
    int *truth;
    int n, cap;
    double correct; /* k-NN votes that were right */
} pool;

static tg_status pool_add(pool *p, const tg_eval_result *e) {
    if (!e->scores) return TG_OK; /* not a two-class dataset: no ROC to pool */
    if (p->n + e->n_test > p->cap) {
        int cap = 2 * (p->n + e->n_test);
        float *s = realloc(p->score, (size_t)cap * sizeof *s);
        if (s) p->score = s;
        int *t = realloc(p->truth, (size_t)cap * sizeof *t);
        if (t) p->truth = t;
        if (!s || !t) return tg_error(TG_ERR_NOMEM, "out of memory");
        p->cap = cap;
    }
    memcpy(p->score + p->n, e->scores, (size_t)e->n_test * sizeof(float));
    memcpy(p->truth + p->n, e->truth, (size_t)e->n_test * sizeof(int));
    p->n += e->n_test;
    return TG_OK;
}

static void mean_sd(const tg_cv_fold *f, int n, size_t offset, double *mean, double *sd) {
    double s = 0, ss = 0;
    for (int i = 0; i < n; i++) s += *(const double *)((const char *)&f[i] + offset);
    *mean = s / n;
    for (int i = 0; i < n; i++) {
        double d = *(const double *)((const char *)&f[i] + offset) - *mean;
        ss += d * d;
    }
    *sd = n > 1 ? sqrt(ss / (n - 1)) : 0.0;
}

/* fold-k/trained: written once the fold's training has finished, so a rerun
 * evaluates it instead of training it again. */
static tg_status marker_write(const char *path, int epochs, int best_epoch) {
    FILE *f = fopen(path, "w");
    if (!f || fprintf(f, "epochs %d best_epoch %d\n", epochs, best_epoch) < 0 || fclose(f))
        return tg_error(TG_ERR_IO, "cannot write %s: %s", path, strerror(errno));
    return TG_OK;
}

static int marker_read(const char *path, int *epochs, int *best_epoch) {
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    int ok = fscanf(f, "epochs %d best_epoch %d", epochs, best_epoch) == 2;
    fclose(f);
    return ok;
}

static tg_status train_fold(const tg_cv_opts *o, int k, const char *dir, const char *spec,
                            tg_cv_fold *f, int *interrupted) {
    char last[4300], marker[4300];
    snprintf(last, sizeof last, "%s/last.tgc", dir);
    snprintf(marker, sizeof marker, "%s/trained", dir);
    FILE *log = o->train.log ? o->train.log : stderr;
    if (marker_read(marker, &f->epochs, &f->best_epoch)) {
        if (o->train.progress >= 0)
            fprintf(log, "fold %d/%d: trained before (%s), evaluating\n", k, o->folds, dir);
        return TG_OK;
    }
    tg_train_opts to = o->train;
    /* The held-out fold is the test part, so test_frac goes unused; keep it clear of a
     * large --val, which would otherwise fail as 'val + test >= 1' over a default. */
    if (to.val_frac + to.test_frac >= 1) to.test_frac = (1 - to.val_frac) / 2;
    to.run_dir = dir;
    to.resume = access(last, F_OK) == 0;
    to.data_spec = to.resume ? NULL : spec; /* a resumed fold keeps its stored spec */
    if (to.resume) to.model_path = NULL;
    if (o->train.progress >= 0)
        fprintf(log, "fold %d/%d: %s %s\n", k, o->folds, to.resume ? "resuming" : "training", dir);
    tg_train_result tr;
    tg_status st = tg_train(&to, &tr);
    if (st) return tg_error_context(st, "fold %d/%d: ", k, o->folds);
    if (tr.interrupted) {
        *interrupted = 1;
        return TG_OK;
    }
    f->epochs = tr.epochs_done;
    f->best_epoch = tr.best_epoch;
    return marker_write(marker, f->epochs, f->best_epoch);
}

static tg_status write_csv(const char *path, const tg_cv_result *r) {
    FILE *f = fopen(path, "w");
    if (!f) return tg_error(TG_ERR_IO, "cannot write %s: %s", path, strerror(errno));
    fprintf(f, "fold,train_images,test_images,epochs,best_epoch,pair_accuracy,pair_auc,"
               "knn_accuracy,sensitivity,specificity,knn_auc\n");
    for (int i = 0; i < r->folds; i++) {
        const tg_cv_fold *x = &r->fold[i];
        fprintf(f, "%d,%d,%d,%d,%d,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g\n", i + 1, x->n_train, x->n_test,
                x->epochs, x->best_epoch, x->pair_accuracy, x->pair_auc, x->knn_accuracy,
                x->knn_sensitivity, x->knn_specificity, x->knn_auc);
    }
    fprintf(f, "mean,,,,,,%.6g,%.6g,,,%.6g\n", r->mean_pair_auc, r->mean_accuracy, r->mean_auc);
    fprintf(f, "sd,,,,,,%.6g,%.6g,,,%.6g\n", r->sd_pair_auc, r->sd_accuracy, r->sd_auc);
    fprintf(f, "pooled,,,,,,,%.6g,,,%.6g\n", r->pooled_accuracy, r->pooled_auc);
    if (ferror(f) | fclose(f))
        return tg_error(TG_ERR_IO, "cannot write %s: %s", path, strerror(errno));
    return TG_OK;
}

static tg_status write_report(const char *path, const tg_cv_opts *o, const tg_cv_result *r,
                              const tg_roc *rocs, const tg_roc *pooled) {
    tg_report *rep = tg_report_open(path, "twingrad cross-validation");
    if (!rep) return TG_ERR_IO;
    tg_report_kv(rep, "model", "%s", o->train.model_path ? o->train.model_path : "(resumed)");
    tg_report_kv(rep, "data", "%s", o->train.data_spec ? o->train.data_spec : "(resumed)");
    tg_report_kv(rep, "folds, fold seed", "%d, %llu", o->folds, (unsigned long long)o->cv_seed);
    tg_report_kv(rep, "k-NN accuracy, mean ± sd", "%.4f ± %.4f", r->mean_accuracy, r->sd_accuracy);
    tg_report_kv(rep, "k-NN score AUC, mean ± sd", "%.4f ± %.4f", r->mean_auc, r->sd_auc);
    tg_report_kv(rep, "pair AUC, mean ± sd", "%.4f ± %.4f", r->mean_pair_auc, r->sd_pair_auc);
    tg_report_kv(rep, "pooled over every held-out image: accuracy, AUC", "%.4f, %.4f",
                 r->pooled_accuracy, r->pooled_auc);
    tg_report_text(rep, "Each fold is held out once; its images are classified by k-NN against "
                        "that fold's training images only. The score ranked by the ROC curves is "
                        "the mean distance to the k nearest negatives minus to the k nearest "
                        "positives.");
    tg_report_heading(rep, "Folds");
    for (int i = 0; i < r->folds; i++) {
        const tg_cv_fold *x = &r->fold[i];
        char key[64];
        snprintf(key, sizeof key, "fold %d", i + 1);
        tg_report_kv(rep, key,
                     "%d training, %d held out; %d epochs (best %d); pairs acc %.4f AUC "
                     "%.4f; k-NN acc %.4f sens %.4f spec %.4f AUC %.4f",
                     x->n_train, x->n_test, x->epochs, x->best_epoch, x->pair_accuracy, x->pair_auc,
                     x->knn_accuracy, x->knn_sensitivity, x->knn_specificity, x->knn_auc);
    }
    tg_report_heading(rep, "ROC curves of the k-NN score");
    if (pooled->n) tg_report_roc(rep, "All held-out images, pooled", pooled);
    for (int i = 0; i < r->folds; i++)
        if (rocs[i].n) {
            char title[64];
            snprintf(title, sizeof title, "Fold %d", i + 1);
            tg_report_roc(rep, title, &rocs[i]);
        }
    return tg_report_close(rep);
}

tg_status tg_cv(const tg_cv_opts *o, tg_cv_result *r) {
    memset(r, 0, sizeof *r);
    if (o->folds < 2 || o->folds > 1000)
        return tg_error(TG_ERR_INVALID, "cross-validation needs 2..1000 folds, not %d", o->folds);
    if (!o->train.model_path || !o->train.data_spec || !o->train.run_dir)
        return tg_error(TG_ERR_INVALID, "cross-validation needs a model file, a data spec and an "
                                        "output folder");
    /* The folds are cv's to set: the user's spec must not (it would meet a second cv= at
     * a column of the spec cv builds, not of the one given). */
    for (const char *s = o->train.data_spec; (s = strchr(s, ',')); s++)
        if (!strncmp(s + 1, "cv=", 3) || !strncmp(s + 1, "cv_seed=", 8))
            return tg_error(TG_ERR_ATTR,
                            "spec:1:%d: %.*s: cross-validation sets the folds itself (--folds, "
                            "--cv-seed); drop it from the data spec",
                            (int)(s + 1 - o->train.data_spec) + 1, (int)strcspn(s + 1, ","), s + 1);
    /* A model file that does not parse stops here, before the output folder exists. */
    tg_model_def *def;
    tg_status st = tg_model_def_parse_file(o->train.model_path, &def);
    tg_model_def_free(def);
    if (st || (st = tg_mkdir_p(o->train.run_dir))) return st;
    r->folds = o->folds;
    r->fold = calloc((size_t)o->folds, sizeof *r->fold);
    tg_roc *rocs = calloc((size_t)o->folds, sizeof *rocs), pooled_roc = {0};
    pool p = {0};
    char *spec = malloc(strlen(o->train.data_spec) + 64);
    if (!r->fold || !rocs || !spec) {
        st = tg_error(TG_ERR_NOMEM, "out of memory");
        goto done;
    }
    FILE *log = o->train.log ? o->train.log : stderr;
    for (int k = 1; k <= o->folds; k++) {
        tg_cv_fold *f = &r->fold[k - 1];
        char dir[4200], ckpt[4300];
        snprintf(dir, sizeof dir, "%s/fold-%d", o->train.run_dir, k);
        snprintf(ckpt, sizeof ckpt, "%s/best.tgc", dir);
        sprintf(spec, "%s,cv=%d/%d,cv_seed=%llu", o->train.data_spec, k, o->folds,
                (unsigned long long)o->cv_seed);
        if ((st = train_fold(o, k, dir, spec, f, &r->interrupted)) || r->interrupted) goto done;
        char report[4300];
        snprintf(report, sizeof report, "%s/eval.html", dir);
        tg_eval_opts eo = {.checkpoint = ckpt,
                           .report_path = report,
                           .knn_k = o->train.knn_k,
                           .knn_rule = o->knn_rule,
                           .threads = o->train.threads};
        tg_eval_result e;
        if ((st = tg_evaluate(&eo, &e))) {
            st = tg_error_context(st, "fold %d/%d: ", k, o->folds);
            goto done;
        }
        f->n_train = e.n_reference;
        f->n_test = e.n_test;
        f->pair_accuracy = e.pair_accuracy;
        f->pair_auc = e.pair_auc;
        f->knn_accuracy = e.knn_accuracy;
        f->knn_sensitivity = e.knn_sensitivity;
        f->knn_specificity = e.knn_specificity;
        f->knn_auc = e.knn_auc;
        p.correct += e.knn_accuracy * e.n_test;
        if (e.scores && tg_roc_compute(e.scores, e.truth, e.n_test, &rocs[k - 1]))
            memset(&rocs[k - 1], 0, sizeof rocs[k - 1]); /* one class only in this fold: no curve */
        st = pool_add(&p, &e);
        tg_eval_result_free(&e);
        if (st) goto done;
        if (o->train.progress >= 0)
            fprintf(log,
                    "fold %d/%d: %d held out against %d training images: pairs AUC %.4f; k-NN "
                    "accuracy %.4f, sensitivity %.4f, specificity %.4f, AUC %.4f\n",
                    k, o->folds, f->n_test, f->n_train, f->pair_auc, f->knn_accuracy,
                    f->knn_sensitivity, f->knn_specificity, f->knn_auc);
    }
    mean_sd(r->fold, r->folds, offsetof(tg_cv_fold, knn_accuracy), &r->mean_accuracy,
            &r->sd_accuracy);
    mean_sd(r->fold, r->folds, offsetof(tg_cv_fold, knn_auc), &r->mean_auc, &r->sd_auc);
    mean_sd(r->fold, r->folds, offsetof(tg_cv_fold, pair_auc), &r->mean_pair_auc, &r->sd_pair_auc);
    int n_held = 0;
    for (int i = 0; i < r->folds; i++) n_held += r->fold[i].n_test;
    r->pooled_accuracy = n_held ? p.correct / n_held : NAN;
    r->pooled_auc = NAN;
    if (p.n && !tg_roc_compute(p.score, p.truth, p.n, &pooled_roc)) r->pooled_auc = pooled_roc.auc;
    char path[4200];
    snprintf(path, sizeof path, "%s/cv.csv", o->train.run_dir);
    if ((st = write_csv(path, r))) goto done;
    snprintf(path, sizeof path, "%s/cv.html", o->train.run_dir);
    st = write_report(path, o, r, rocs, &pooled_roc);
done:
    if (rocs)
        for (int i = 0; i < o->folds; i++) tg_roc_free(&rocs[i]);
    free(rocs);
    tg_roc_free(&pooled_roc);
    free(p.score);
    free(p.truth);
    free(spec);
    if (st) tg_cv_result_free(r);
    return st;
}
