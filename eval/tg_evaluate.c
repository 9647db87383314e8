/* Evaluation of a trained checkpoint the way the seed paper reports it: pair
 * verification on the test split at the threshold chosen on validation, then
 * k-NN classification of single test images against the training images. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint/tg_checkpoint.h"
#include "eval/tg_report.h"
#include "eval/tg_run.h"
#include "autograd/tg_threads.h"
#include "eval/tg_eval.h"

#define TEST_STREAM 0x74657374ULL /* "test": the fixed test pairs */

/* Some images of a dataset. */
typedef struct subset {
    const tg_dataset *ds;
    const size_t *idx;
    size_t n;
} subset;

/* split: "test" (the run's test split) or "test set" (eval --test), for the advice. */
static tg_status pair_eval(tg_model *m, subset test, const char *split, uint64_t seed,
                           double threshold, tg_eval_result *r, tg_roc *roc) {
    tg_pairs pairs = {0};
    tg_status st = tg_run_pairs_error(
        tg_run_fixed_pairs(test.ds, test.idx, test.n, seed ^ TEST_STREAM, &pairs), split);
    if (st) return st;
    float *dist = malloc(pairs.n * sizeof(float));
    int *labels = malloc(pairs.n * sizeof(int));
    if (!dist || !labels) st = tg_error(TG_ERR_NOMEM, "out of memory");
    if (!st) st = tg_run_pair_distances(m, test.ds, &pairs, dist, labels, NULL);
    if (!st) {
        r->n_pairs = (int)pairs.n;
        r->threshold = threshold;
        r->pairs = tg_confusion_at(dist, labels, (int)pairs.n, threshold);
        r->pair_accuracy = tg_confusion_accuracy(&r->pairs);
        st = tg_roc_compute(dist, labels, (int)pairs.n, roc);
        r->pair_auc = st ? NAN : roc->auc;
    }
    free(dist);
    free(labels);
    tg_pairs_free(&pairs);
    return st;
}

static tg_status knn_eval(tg_model *m, subset refs, subset test, int k, tg_knn_rule rule,
                          tg_eval_result *r, tg_roc *roc) {
    size_t n_ref = refs.n, n_test = test.n, dim = (size_t)m->embed_dim;
    float *ref = malloc(n_ref * dim * sizeof(float)), *q = malloc(n_test * dim * sizeof(float));
    float *score = malloc(n_test * sizeof(float));
    int *ref_labels = malloc(n_ref * sizeof(int)), *truth = malloc(n_test * sizeof(int));
    int *pred = malloc(n_test * sizeof(int));
    tg_status st = TG_OK;
    if (!ref || !q || !score || !ref_labels || !truth || !pred) {
        st = tg_error(TG_ERR_NOMEM, "out of memory");
        goto done;
    }
    if (k > (int)n_ref) k = (int)n_ref;
    tg_eval_labels(refs.ds, refs.idx, n_ref, ref_labels);
    tg_eval_labels(test.ds, test.idx, n_test, truth);
    if ((st = tg_eval_embed(m, refs.ds, refs.idx, n_ref, ref)) ||
        (st = tg_eval_embed(m, test.ds, test.idx, n_test, q)) ||
        (st = tg_knn_predict(ref, ref_labels, (int)n_ref, q, (int)n_test, (int)dim, k,
                             refs.ds->n_classes, rule, pred, NULL)))
        goto done;
    r->knn_rule = rule;
    r->n_test = (int)n_test;
    r->n_reference = (int)n_ref;
    r->k = k;
    r->n_classes = refs.ds->n_classes;
    int correct = 0;
    for (size_t i = 0; i < n_test; i++) correct += pred[i] == truth[i];
    r->knn_accuracy = (double)correct / (double)n_test;
    r->truth = malloc(n_test * sizeof(int));
    r->predicted = malloc(n_test * sizeof(int));
    if (!r->truth || !r->predicted) {
        st = tg_error(TG_ERR_NOMEM, "out of memory");
        goto done;
    }
    memcpy(r->truth, truth, n_test * sizeof(int));
    memcpy(r->predicted, pred, n_test * sizeof(int));
    r->knn_sensitivity = r->knn_specificity = r->knn_auc = NAN;
    if (refs.ds->n_classes == 2) {
        /* The AUC ranks the graded score (mean distance to the k nearest negatives
         * minus to the k nearest positives), whatever the rule; the confusion matrix
         * counts the rule's decisions. */
        if ((st = tg_knn_margin_score(ref, ref_labels, (int)n_ref, q, (int)n_test, (int)dim, k,
                                      score)))
            goto done;
        if (!tg_roc_compute(score, truth, (int)n_test, roc)) r->knn_auc = roc->auc;
        if (!(r->scores = malloc(n_test * sizeof(float)))) {
            st = tg_error(TG_ERR_NOMEM, "out of memory");
            goto done;
        }
        memcpy(r->scores, score, n_test * sizeof(float));
        for (size_t i = 0; i < n_test; i++) score[i] = (float)pred[i];
        r->knn = tg_confusion_at(score, truth, (int)n_test, 0.5);
        r->knn_sensitivity = tg_confusion_sensitivity(&r->knn);
        r->knn_specificity = tg_confusion_specificity(&r->knn);
    }
done:
    free(ref);
    free(q);
    free(score);
    free(ref_labels);
    free(truth);
    free(pred);
    return st;
}

/* The test images k-NN got wrong, one per line: path, true class, decision and, for two
 * classes, the graded score; at most `most` lines (0: all), then how many were left out. */
static void misclassified_lines(FILE *f, const tg_eval_result *r, const tg_dataset *ds,
                                const size_t *idx, int most) {
    int wrong = 0, shown = 0;
    for (int i = 0; i < r->n_test; i++) wrong += r->predicted[i] != r->truth[i];
    fprintf(f, "k-NN misclassified %d of %d test images%s\n", wrong, r->n_test, wrong ? ":" : "");
    for (int i = 0; i < r->n_test; i++) {
        if (r->predicted[i] == r->truth[i]) continue;
        if (most > 0 && shown == most) {
            fprintf(f, "  ... and %d more (eval.html lists them all)\n", wrong - shown);
            break;
        }
        fprintf(f, "  %s  %s, called %s", ds->paths[idx[i]], ds->class_names[r->truth[i]],
                ds->class_names[r->predicted[i]]);
        if (r->scores) fprintf(f, "  (score %+.4f)", (double)r->scores[i]);
        fputc('\n', f);
        shown++;
    }
}

static tg_status write_eval_report(const char *path, const tg_eval_opts *o, const tg_dataset *ds,
                                   const size_t *test_idx, const tg_eval_result *r,
                                   const tg_roc *pair_roc, const tg_roc *knn_roc) {
    tg_report *rep = tg_report_open(path, "twingrad evaluation");
    if (!rep) return TG_ERR_IO;
    tg_report_kv(rep, "checkpoint", "%s", o->checkpoint);
    tg_report_kv(rep, "test images, reference (training) images", "%d, %d", r->n_test,
                 r->n_reference);
    tg_report_heading(rep, "Pairs (test split)");
    tg_report_kv(rep, "pairs", "%d", r->n_pairs);
    tg_report_kv(rep, "threshold (chosen on validation)", "%.4f", r->threshold);
    tg_report_kv(rep, "pair accuracy", "%.4f", r->pair_accuracy);
    tg_report_kv(rep, "pair AUC", "%.4f", r->pair_auc);
    if (pair_roc->n) tg_report_roc(rep, "ROC, dissimilar pairs by distance", pair_roc);
    tg_report_confusion(rep, "Pairs at the threshold", &r->pairs, "dissimilar", "similar");
    tg_report_heading(rep, "Single images by k-NN");
    tg_report_kv(rep, "k", "%d", r->k);
    tg_report_kv(rep, "decision", "%s",
                 r->knn_rule == TG_KNN_VOTE
                     ? "vote: the majority class of the k nearest references"
                     : "class-mean: the class whose own k nearest references are nearest on "
                       "average");
    tg_report_kv(rep, "accuracy", "%.4f", r->knn_accuracy);
    if (r->n_classes == 2) {
        const char *pos = ds->class_names[1], *neg = ds->class_names[0];
        tg_report_kv(rep, "sensitivity (class 1)", "%.4f", r->knn_sensitivity);
        tg_report_kv(rep, "specificity", "%.4f", r->knn_specificity);
        tg_report_kv(rep, "AUC of the k-NN score",
                     "%.4f (score: mean distance to the k nearest "
                     "of class 0 minus to the k nearest of class 1)",
                     r->knn_auc);
        if (knn_roc->n) tg_report_roc(rep, "ROC of the k-NN score", knn_roc);
        tg_report_confusion(rep, "k-NN classification", &r->knn, pos, neg);
    }
    char *text = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&text, &len);
    if (m) {
        misclassified_lines(m, r, ds, test_idx, 0);
        if (fclose(m) == 0) {
            tg_report_heading(rep, "Misclassified test images");
            tg_report_pre(rep, text);
        }
    }
    free(text);
    return tg_report_close(rep);
}

void tg_eval_result_free(tg_eval_result *r) {
    free(r->scores);
    free(r->truth);
    free(r->predicted);
    r->scores = NULL;
    r->truth = NULL;
    r->predicted = NULL;
}

tg_status tg_trained_load(const char *path, tg_trained *t) {
    tg_checkpoint *ck = NULL;
    memset(t, 0, sizeof *t);
    tg_status st = tg_checkpoint_load(path, &ck);
    if (st) return st;
    tg_run_record rec;
    if ((st = tg_run_record_from_checkpoint(ck, &rec))) goto done;
    t->data_spec = rec.data_spec; /* taken over */
    t->seed = rec.seed;
    t->threshold = rec.threshold;
    t->knn_k = rec.knn_k;
    t->val_frac = rec.val_frac;
    t->test_frac = rec.test_frac;
    t->by_group = rec.by_group;
    t->balance = (tg_balance)rec.balance;
    if ((st = tg_run_model_from_checkpoint(ck, &t->def)) ||
        (st = tg_model_build_for_restore(t->def, rec.batch, &t->model)) ||
        (st = tg_checkpoint_restore(ck, t->model->graph, NULL, NULL)))
        goto done;
    tg_graph_set_training(t->model->graph, 0);
done:
    tg_checkpoint_free(ck);
    if (st) tg_trained_free(t);
    return st;
}

void tg_trained_free(tg_trained *t) {
    tg_model_free(t->model);
    tg_model_def_free(t->def);
    free(t->data_spec);
    memset(t, 0, sizeof *t);
}

/* Every image of ds, as a subset. */
static tg_status whole(const tg_dataset *ds, size_t **idx, subset *out) {
    *idx = malloc((ds->n ? ds->n : 1) * sizeof **idx);
    if (!*idx) return tg_error(TG_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < ds->n; i++) (*idx)[i] = i;
    *out = (subset){ds, *idx, ds->n};
    return TG_OK;
}

/* Classes must mean the same in references and test images. */
static tg_status same_classes(const tg_dataset *a, const tg_dataset *b) {
    int same = a->n_classes == b->n_classes;
    for (int c = 0; same && c < a->n_classes; c++)
        same = strcmp(a->class_names[c], b->class_names[c]) == 0;
    return same ? TG_OK
                : tg_error(TG_ERR_MISMATCH,
                           "the reference and test sets have different classes "
                           "(%d and %d, or other names); use the same label settings for both",
                           a->n_classes, b->n_classes);
}

static tg_status evaluate(const tg_eval_opts *o, tg_eval_result *r) {
    tg_trained t;
    tg_run_data d = {0};
    tg_dataset ref_ds = {0}, test_ds = {0};
    size_t *ref_idx = NULL, *test_idx = NULL;
    tg_roc pair_roc = {0}, knn_roc = {0};
    memset(r, 0, sizeof *r);
    tg_status st = tg_trained_load(o->checkpoint, &t);
    if (st) return st;
    if (!isfinite(t.threshold)) {
        st = tg_error(TG_ERR_FORMAT, "%s: no validation threshold stored", o->checkpoint);
        goto done;
    }
    subset refs, test;
    const tg_dataset *shown;
    if (o->test_spec) {
        /* Separate sets (an official test set): every image of each. */
        tg_dataset_opts dopts = tg_dataset_opts_default(t.def->width, t.def->height);
        dopts.log = o->log;
        const char *ref_spec = o->reference_spec ? o->reference_spec : t.data_spec;
        if ((st = tg_dataset_load_spec(ref_spec, &dopts, &ref_ds)) ||
            (st = tg_dataset_load_spec(o->test_spec, &dopts, &test_ds)) ||
            (st = same_classes(&ref_ds, &test_ds)) || (st = whole(&ref_ds, &ref_idx, &refs)) ||
            (st = whole(&test_ds, &test_idx, &test)))
            goto done;
        shown = &test_ds;
    } else {
        /* The test split of the training data, the training split as references. */
        if ((st = tg_run_data_load(t.def, o->data_spec ? o->data_spec : t.data_spec, t.val_frac,
                                   t.test_frac, t.by_group, t.balance, t.seed, o->log, &d)))
            goto done;
        refs = (subset){&d.ds, d.split.train, d.split.n_train};
        test = (subset){&d.ds, d.split.test, d.split.n_test};
        shown = &d.ds;
    }
    int k = o->knn_k > 0 ? o->knn_k : t.knn_k;
    if ((st = pair_eval(t.model, test, o->test_spec ? "test set" : "test", t.seed, t.threshold, r,
                        &pair_roc)) ||
        (st = knn_eval(t.model, refs, test, k, o->knn_rule, r, &knn_roc)))
        goto done;
    if (o->log) {
        fprintf(o->log, "test pairs: %d  accuracy %.4f  AUC %.4f  (threshold %.4f)\n", r->n_pairs,
                r->pair_accuracy, r->pair_auc, r->threshold);
        fprintf(o->log, "k-NN (k=%d, %s, %d references): %d test images  accuracy %.4f", r->k,
                tg_knn_rule_name(r->knn_rule), r->n_reference, r->n_test, r->knn_accuracy);
        if (r->n_classes == 2)
            fprintf(o->log, "  sensitivity %.4f  specificity %.4f  AUC %.4f", r->knn_sensitivity,
                    r->knn_specificity, r->knn_auc);
        fputc('\n', o->log);
        misclassified_lines(o->log, r, shown, test.idx, 10);
    }
    if (o->report_path)
        st = write_eval_report(o->report_path, o, shown, test.idx, r, &pair_roc, &knn_roc);
done:
    if (st) tg_eval_result_free(r);
    tg_roc_free(&pair_roc);
    tg_roc_free(&knn_roc);
    tg_run_data_free(&d);
    tg_dataset_free(&ref_ds);
    tg_dataset_free(&test_ds);
    free(ref_idx);
    free(test_idx);
    tg_trained_free(&t);
    return st;
}

/* Runs on o->threads threads and gives the caller back its own thread count. */
tg_status tg_evaluate(const tg_eval_opts *o, tg_eval_result *r) {
    int caller_threads = tg_threads_get();
    tg_threads_set(o->threads);
    tg_status st = evaluate(o, r);
    tg_threads_set(caller_threads);
    return st;
}
