/* ROC/AUC, thresholds, confusion matrices and k-NN over embeddings. */
#include "eval/tg_metrics.h"

#include "autograd/tg_blas.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct scored {
    float score;
    int label;
} scored;

/* Descending score; equal scores keep no particular order (ties are grouped below). */
static int by_score_desc(const void *a, const void *b) {
    float x = ((const scored *)a)->score, y = ((const scored *)b)->score;
    return (x < y) - (x > y);
}

static scored *sorted_copy(const float *scores, const int *labels, int n, int64_t *pos) {
    scored *s = malloc((size_t)n * sizeof *s);
    if (!s) return NULL;
    *pos = 0;
    for (int i = 0; i < n; i++) {
        s[i].score = scores[i];
        s[i].label = labels[i] != 0;
        *pos += s[i].label;
    }
    qsort(s, (size_t)n, sizeof *s, by_score_desc);
    return s;
}

tg_status tg_roc_compute(const float *scores, const int *labels, int n, tg_roc *roc) {
    memset(roc, 0, sizeof *roc);
    if (n < 1) return tg_error(TG_ERR_INVALID, "ROC: no scores");
    for (int i = 0; i < n; i++)
        if (!isfinite(scores[i])) return tg_error(TG_ERR_NUMERIC, "ROC: score %d is not finite", i);
    int64_t pos;
    scored *s = sorted_copy(scores, labels, n, &pos);
    if (!s) return tg_error(TG_ERR_NOMEM, "ROC: out of memory");
    int64_t neg = n - pos;
    if (pos == 0 || neg == 0) {
        free(s);
        return tg_error(TG_ERR_INVALID,
                        "ROC: needs both classes, got %lld positive and %lld negative",
                        (long long)pos, (long long)neg);
    }
    roc->fpr = malloc(((size_t)n + 1) * sizeof(double));
    roc->tpr = malloc(((size_t)n + 1) * sizeof(double));
    roc->threshold = malloc(((size_t)n + 1) * sizeof(double));
    if (!roc->fpr || !roc->tpr || !roc->threshold) {
        free(s);
        tg_roc_free(roc);
        return tg_error(TG_ERR_NOMEM, "ROC: out of memory");
    }
    /* One point per distinct score: lowering the threshold past a group of equal
     * scores moves the curve diagonally, which is what counts ties as one half. */
    int64_t tp = 0, fp = 0;
    double auc = 0.0;
    roc->fpr[0] = roc->tpr[0] = 0.0;
    roc->threshold[0] = INFINITY;
    roc->n = 1;
    for (int i = 0; i < n;) {
        int j = i;
        int64_t tp0 = tp, fp0 = fp;
        while (j < n && s[j].score == s[i].score) {
            tp += s[j].label;
            fp += !s[j].label;
            j++;
        }
        auc += (double)(fp - fp0) * (double)(tp + tp0) / 2.0;
        roc->fpr[roc->n] = (double)fp / (double)neg;
        roc->tpr[roc->n] = (double)tp / (double)pos;
        roc->threshold[roc->n] = s[i].score;
        roc->n++;
        i = j;
    }
    roc->auc = auc / ((double)pos * (double)neg);
    free(s);
    return TG_OK;
}

void tg_roc_free(tg_roc *roc) {
    free(roc->fpr);
    free(roc->tpr);
    free(roc->threshold);
    memset(roc, 0, sizeof *roc);
}

double tg_auc(const float *scores, const int *labels, int n) {
    tg_roc roc;
    if (tg_roc_compute(scores, labels, n, &roc)) return NAN;
    double auc = roc.auc;
    tg_roc_free(&roc);
    return auc;
}

tg_confusion tg_confusion_at(const float *scores, const int *labels, int n, double threshold) {
    tg_confusion c = {0, 0, 0, 0};
    for (int i = 0; i < n; i++) {
        int predicted = scores[i] >= threshold, actual = labels[i] != 0;
        if (predicted && actual)
            c.tp++;
        else if (predicted)
            c.fp++;
        else if (actual)
            c.fn++;
        else
            c.tn++;
    }
    return c;
}

static double ratio(int64_t a, int64_t b) {
    return b ? (double)a / (double)b : NAN;
}
double tg_confusion_accuracy(const tg_confusion *c) {
    return ratio(c->tp + c->tn, c->tp + c->tn + c->fp + c->fn);
}
double tg_confusion_sensitivity(const tg_confusion *c) {
    return ratio(c->tp, c->tp + c->fn);
}
double tg_confusion_specificity(const tg_confusion *c) {
    return ratio(c->tn, c->tn + c->fp);
}

double tg_best_threshold(const float *scores, const int *labels, int n, double *accuracy) {
    /* A NaN equals no score, its own group included: the grouping below would not move. */
    for (int i = 0; i < n; i++)
        if (!isfinite(scores[i])) {
            if (accuracy) *accuracy = NAN;
            return NAN;
        }
    int64_t pos;
    scored *s = n > 0 ? sorted_copy(scores, labels, n, &pos) : NULL;
    if (!s) {
        if (accuracy) *accuracy = NAN;
        return 0.0;
    }
    /* Threshold above everything: all negative, correct = number of negatives.
     * Each step down past a group of equal scores turns that group positive. */
    int64_t correct = n - pos, best = correct;
    double best_t = (double)s[0].score + 1.0;
    for (int i = 0; i < n;) {
        int j = i;
        while (j < n && s[j].score == s[i].score) {
            correct += s[j].label ? 1 : -1;
            j++;
        }
        if (correct > best) {
            best = correct;
            best_t =
                j < n ? ((double)s[i].score + (double)s[j].score) / 2.0 : (double)s[i].score - 1.0;
        }
        i = j;
    }
    free(s);
    if (accuracy) *accuracy = (double)best / n;
    return best_t;
}

/* Insert (d, idx) into the sorted top-k lists if it belongs there. */
static void topk_insert(float *kd, int *ki, int k, int *count, float d, int idx) {
    if (*count == k && !(d < kd[k - 1])) return; /* equal distance: the earlier index stays */
    int pos = *count < k ? (*count)++ : k - 1;
    while (pos > 0 && kd[pos - 1] > d) {
        kd[pos] = kd[pos - 1];
        ki[pos] = ki[pos - 1];
        pos--;
    }
    kd[pos] = d;
    ki[pos] = idx;
}

#define KNN_BLOCK 256

tg_status tg_knn_classify(const float *ref, const int *ref_labels, int n_ref, const float *query,
                          int n_query, int dim, int k, int n_classes, int *pred, float *score,
                          int *neighbours, float *dist) {
    if (n_ref < 1 || n_query < 0 || dim < 1 || k < 1 || n_classes < 1)
        return tg_error(TG_ERR_INVALID,
                        "k-NN: bad sizes (references %d, queries %d, dim %d, k %d, "
                        "classes %d)",
                        n_ref, n_query, dim, k, n_classes);
    if (k > n_ref)
        return tg_error(TG_ERR_INVALID, "k-NN: k = %d is more than the %d references", k, n_ref);
    for (int r = 0; r < n_ref; r++)
        if (ref_labels[r] < 0 || ref_labels[r] >= n_classes)
            return tg_error(TG_ERR_INVALID, "k-NN: reference %d has label %d, outside 0..%d", r,
                            ref_labels[r], n_classes - 1);
    float *ref_sq = malloc((size_t)n_ref * sizeof(float));
    float *dots = malloc((size_t)KNN_BLOCK * (size_t)n_ref * sizeof(float));
    float *kd = malloc((size_t)KNN_BLOCK * (size_t)k * sizeof(float));
    int *ki = malloc((size_t)KNN_BLOCK * (size_t)k * sizeof(int));
    int *votes = malloc((size_t)KNN_BLOCK * (size_t)n_classes * sizeof(int));
    tg_status st = TG_OK;
    if (!ref_sq || !dots || !kd || !ki || !votes) {
        st = tg_error(TG_ERR_NOMEM, "k-NN: out of memory");
        goto done;
    }
    for (int r = 0; r < n_ref; r++) {
        double acc = 0;
        for (int c = 0; c < dim; c++)
            acc += (double)ref[(size_t)r * dim + c] * ref[(size_t)r * dim + c];
        ref_sq[r] = (float)acc;
    }
    /* |q - r|^2 = |q|^2 + |r|^2 - 2 q.r, the dot products by GEMM, a block of queries at a time. */
    for (int q0 = 0; q0 < n_query; q0 += KNN_BLOCK) {
        int nb = n_query - q0 < KNN_BLOCK ? n_query - q0 : KNN_BLOCK;
        const float *qb = query + (size_t)q0 * dim;
        tg_sgemm(CblasNoTrans, CblasTrans, nb, n_ref, dim, 1.0f, qb, dim, ref, dim, 0.0f, dots,
                 n_ref);
#pragma omp parallel for schedule(static)
        for (int i = 0; i < nb; i++) {
            double qsq = 0;
            for (int c = 0; c < dim; c++)
                qsq += (double)qb[(size_t)i * dim + c] * qb[(size_t)i * dim + c];
            float *mykd = kd + (size_t)i * k;
            int *myki = ki + (size_t)i * k, count = 0;
            for (int r = 0; r < n_ref; r++) {
                float d2 = (float)qsq + ref_sq[r] - 2.0f * dots[(size_t)i * n_ref + r];
                topk_insert(mykd, myki, k, &count, d2 > 0.0f ? d2 : 0.0f, r);
            }
            /* The GEMM form loses precision for near neighbours (d^2 = 2 - 2cos for unit
             * vectors cancels to ~1e-7, so d ~ 3e-4): recompute the chosen ones exactly
             * and re-sort them. */
            for (int j = 0; j < count; j++) {
                double acc = 0;
                const float *rv = ref + (size_t)myki[j] * dim, *qv = qb + (size_t)i * dim;
                for (int c = 0; c < dim; c++)
                    acc += ((double)qv[c] - rv[c]) * ((double)qv[c] - rv[c]);
                mykd[j] = (float)acc;
            }
            for (int j = 1; j < count; j++)
                for (int p = j; p > 0 && (mykd[p - 1] > mykd[p] ||
                                          (mykd[p - 1] == mykd[p] && myki[p - 1] > myki[p]));
                     p--) {
                    float td = mykd[p];
                    int ti = myki[p];
                    mykd[p] = mykd[p - 1];
                    myki[p] = myki[p - 1];
                    mykd[p - 1] = td;
                    myki[p - 1] = ti;
                }
            int *v = votes + (size_t)i * n_classes, positives = 0;
            memset(v, 0, (size_t)n_classes * sizeof(int));
            for (int j = 0; j < k; j++) {
                v[ref_labels[myki[j]]]++;
                positives += ref_labels[myki[j]] == 1;
            }
            /* Majority; a tie goes to the class of the nearest neighbour among the tied. */
            int best = -1;
            for (int j = 0; j < k; j++) {
                int c = ref_labels[myki[j]];
                if (best < 0 || v[c] > v[best]) best = c;
            }
            size_t q = (size_t)q0 + (size_t)i;
            if (pred) pred[q] = best;
            if (score) score[q] = (float)positives / (float)k;
            for (int j = 0; j < k; j++) {
                if (neighbours) neighbours[q * (size_t)k + (size_t)j] = myki[j];
                if (dist) dist[q * (size_t)k + (size_t)j] = sqrtf(mykd[j]);
            }
        }
    }
done:
    free(ref_sq);
    free(dots);
    free(kd);
    free(ki);
    free(votes);
    return st;
}

const char *tg_knn_rule_name(tg_knn_rule rule) {
    return rule == TG_KNN_CLASS_MEAN ? "class-mean" : rule == TG_KNN_VOTE ? "vote" : NULL;
}

tg_status tg_knn_rule_parse(const char *name, tg_knn_rule *out) {
    for (tg_knn_rule r = TG_KNN_CLASS_MEAN; r <= TG_KNN_VOTE; r++)
        if (name && !strcmp(name, tg_knn_rule_name(r))) {
            *out = r;
            return TG_OK;
        }
    return tg_error(TG_ERR_INVALID, "unknown k-NN rule '%s' (choose class-mean or vote)",
                    name ? name : "");
}

tg_status tg_knn_class_distances(const float *ref, const int *ref_labels, int n_ref,
                                 const float *query, int n_query, int dim, int k, int n_classes,
                                 float *class_dist) {
    if (n_ref < 1 || n_query < 0 || dim < 1 || k < 1 || n_classes < 1)
        return tg_error(TG_ERR_INVALID,
                        "k-NN: bad sizes (references %d, queries %d, dim %d, k %d, "
                        "classes %d)",
                        n_ref, n_query, dim, k, n_classes);
    for (int r = 0; r < n_ref; r++)
        if (ref_labels[r] < 0 || ref_labels[r] >= n_classes)
            return tg_error(TG_ERR_INVALID, "k-NN: reference %d has label %d, outside 0..%d", r,
                            ref_labels[r], n_classes - 1);
    float *sub = malloc((size_t)n_ref * (size_t)dim * sizeof(float));
    int *zeros = calloc((size_t)n_ref, sizeof(int));
    float *dist = malloc((size_t)(n_query ? n_query : 1) * (size_t)k * sizeof(float));
    tg_status st = TG_OK;
    if (!sub || !zeros || !dist) {
        st = tg_error(TG_ERR_NOMEM, "k-NN: out of memory");
        goto done;
    }
    for (int c = 0; c < n_classes && !st; c++) {
        /* This class's references alone: the k nearest of them for every query. */
        int m = 0;
        for (int r = 0; r < n_ref; r++)
            if (ref_labels[r] == c)
                memcpy(sub + (size_t)m++ * dim, ref + (size_t)r * dim, (size_t)dim * sizeof(float));
        int kc = k < m ? k : m;
        if (m && (st = tg_knn_classify(sub, zeros, m, query, n_query, dim, kc, 1, NULL, NULL, NULL,
                                       dist)))
            break;
        for (int i = 0; i < n_query; i++) {
            double mean = 0;
            for (int j = 0; j < kc; j++) mean += dist[(size_t)i * kc + j];
            class_dist[(size_t)i * n_classes + c] = m ? (float)(mean / kc) : INFINITY;
        }
    }
done:
    free(sub);
    free(zeros);
    free(dist);
    return st;
}

static tg_status knn_need_both_classes(const int *ref_labels, int n_ref, const char *what) {
    int count[2] = {0, 0};
    for (int r = 0; r < n_ref; r++) {
        if (ref_labels[r] != 0 && ref_labels[r] != 1)
            return tg_error(TG_ERR_INVALID,
                            "%s: reference %d has label %d; two classes (0, 1) only", what, r,
                            ref_labels[r]);
        count[ref_labels[r]]++;
    }
    if (!count[0] || !count[1])
        return tg_error(TG_ERR_INVALID, "%s: the references hold only class %d", what,
                        count[0] ? 0 : 1);
    return TG_OK;
}

tg_status tg_knn_margin_score(const float *ref, const int *ref_labels, int n_ref,
                              const float *query, int n_query, int dim, int k, float *score) {
    tg_status st = knn_need_both_classes(ref_labels, n_ref, "k-NN score");
    if (st) return st;
    float *cd = malloc((size_t)(n_query ? n_query : 1) * 2 * sizeof(float));
    if (!cd) return tg_error(TG_ERR_NOMEM, "k-NN score: out of memory");
    st = tg_knn_class_distances(ref, ref_labels, n_ref, query, n_query, dim, k, 2, cd);
    for (int i = 0; i < n_query && !st; i++) score[i] = cd[2 * i] - cd[2 * i + 1];
    free(cd);
    return st;
}

tg_status tg_knn_predict(const float *ref, const int *ref_labels, int n_ref, const float *query,
                         int n_query, int dim, int k, int n_classes, tg_knn_rule rule, int *pred,
                         float *score) {
    if (score && n_classes != 2)
        return tg_error(TG_ERR_INVALID, "k-NN: a score needs two classes, not %d", n_classes);
    if (rule == TG_KNN_VOTE)
        return tg_knn_classify(ref, ref_labels, n_ref, query, n_query, dim, k, n_classes, pred,
                               score, NULL, NULL);
    if (rule != TG_KNN_CLASS_MEAN) return tg_error(TG_ERR_INVALID, "k-NN: unknown rule %d", rule);
    if (n_classes == 2) {
        tg_status st = knn_need_both_classes(ref_labels, n_ref, "k-NN");
        if (st) return st;
    }
    float *cd = malloc((size_t)(n_query ? n_query : 1) * (size_t)n_classes * sizeof(float));
    if (!cd) return tg_error(TG_ERR_NOMEM, "k-NN: out of memory");
    tg_status st =
        tg_knn_class_distances(ref, ref_labels, n_ref, query, n_query, dim, k, n_classes, cd);
    for (int i = 0; i < n_query && !st; i++) {
        const float *row = cd + (size_t)i * n_classes;
        int best = 0; /* the smallest mean distance; a tie goes to the lower class */
        for (int c = 1; c < n_classes; c++)
            if (row[c] < row[best]) best = c;
        if (pred) pred[i] = best;
        if (score) score[i] = row[0] - row[1];
    }
    free(cd);
    return st;
}
