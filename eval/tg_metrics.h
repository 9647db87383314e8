/* Evaluation metrics for Siamese models: ROC curves and AUC, threshold choice,
 * confusion matrices, and k-nearest-neighbour classification of embeddings.
 * Scores are "higher means positive"; labels are 0 or 1 unless said otherwise. */
#ifndef TG_METRICS_H
#define TG_METRICS_H

#include <stdint.h>

#include "autograd/tg_error.h"
#include "autograd/tg_export.h"

TG_API_BEGIN

typedef struct tg_roc {
    int n;             /* points on the curve, from (0,0) to (1,1) */
    double *fpr, *tpr; /* false and true positive rates per point */
    double *threshold; /* score threshold per point (predict positive when score >= it) */
    double auc;        /* area under the curve; ties between classes count one half */
} tg_roc;

/* The ROC curve of `scores` against 0/1 `labels` (n items, both classes present). */
tg_status tg_roc_compute(const float *scores, const int *labels, int n, tg_roc *roc);
/* Free the curve's arrays. */
void tg_roc_free(tg_roc *roc);
/* AUC alone (Mann-Whitney U with ties as one half); NaN when a class is absent. */
double tg_auc(const float *scores, const int *labels, int n);

typedef struct tg_confusion {
    int64_t tp, fp, tn, fn;
} tg_confusion;

/* Counts when predicting positive for score >= threshold. */
tg_confusion tg_confusion_at(const float *scores, const int *labels, int n, double threshold);
double tg_confusion_accuracy(const tg_confusion *c);
double tg_confusion_sensitivity(const tg_confusion *c); /* tp / (tp + fn), recall */
double tg_confusion_specificity(const tg_confusion *c); /* tn / (tn + fp) */
/* The threshold with the best accuracy (midway between neighbouring scores);
 * writes that accuracy to *accuracy when not NULL. NaN for both when a score is not
 * finite (no threshold is chosen). */
double tg_best_threshold(const float *scores, const int *labels, int n, double *accuracy);

/* k-NN: for each of n_query embeddings (dim floats each) find the k nearest of
 * n_ref reference embeddings by Euclidean distance (ties: lower index first),
 * vote by their labels (0..n_classes-1; a tied vote goes to the class of the
 * nearest tied neighbour). Outputs, each optional (NULL to skip):
 * pred (n_query), score (n_query: the fraction of the k neighbours with label 1),
 * neighbours (n_query * k indices) and dist (n_query * k distances). */
tg_status tg_knn_classify(const float *ref, const int *ref_labels, int n_ref, const float *query,
                          int n_query, int dim, int k, int n_classes, int *pred, float *score,
                          int *neighbours, float *dist);

/* How a k-NN classifier decides. TG_KNN_CLASS_MEAN (the default): the class whose
 * own k nearest references are nearest on average (the mean distance to the k
 * nearest references of each class, the smallest wins; a class with fewer than k
 * references uses all of them). Every class gets k neighbours however rare it
 * is, so a 4:1 reference set does not outvote the minority class. TG_KNN_VOTE:
 * the majority of the k nearest references of any class (tg_knn_classify). */
typedef enum tg_knn_rule { TG_KNN_CLASS_MEAN = 0, TG_KNN_VOTE = 1 } tg_knn_rule;
/* "class-mean" or "vote"; NULL for an unknown value. */
const char *tg_knn_rule_name(tg_knn_rule rule);
/* Parse a rule's name; TG_ERR_INVALID (naming both choices) for anything else. */
tg_status tg_knn_rule_parse(const char *name, tg_knn_rule *out);

/* For each of n_query embeddings and each class c in 0..n_classes-1, the mean
 * Euclidean distance to the k nearest references labelled c (all of them when
 * fewer than k; INFINITY when none): class_dist (n_query * n_classes). */
tg_status tg_knn_class_distances(const float *ref, const int *ref_labels, int n_ref,
                                 const float *query, int n_query, int dim, int k, int n_classes,
                                 float *class_dist);

/* A k-NN prediction by `rule` for each query: pred (n_query, optional) and, for
 * two classes, score (n_query, optional; higher means class 1): under
 * TG_KNN_CLASS_MEAN the graded score of tg_knn_margin_score (class 1 when it is
 * above 0; a tie goes to class 0), under TG_KNN_VOTE the share of neighbours in
 * class 1. score must be NULL when n_classes != 2. */
tg_status tg_knn_predict(const float *ref, const int *ref_labels, int n_ref, const float *query,
                         int n_query, int dim, int k, int n_classes, tg_knn_rule rule, int *pred,
                         float *score);

/* A graded k-NN score for two classes: for each query, the mean distance to its
 * k nearest class-0 references minus the mean distance to its k nearest class-1
 * references (fewer when a class has fewer than k). Higher means class 1; unlike
 * the share of positive neighbours (k + 1 values) it ranks every query, so its ROC
 * is not a staircase; its sign is the TG_KNN_CLASS_MEAN decision. Both classes
 * must be present among the references. */
tg_status tg_knn_margin_score(const float *ref, const int *ref_labels, int n_ref,
                              const float *query, int n_query, int dim, int k, float *score);

TG_API_END

#endif
