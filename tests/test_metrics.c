/* Metrics (ROC, AUC, thresholds, confusion, k-NN) and the HTML report. */
#include <check.h>

#include "tests/tg_check.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "eval/tg_metrics.h"
#include "eval/tg_report.h"
#include "autograd/tg_rng.h"

START_TEST(test_roc_matches_worked_example) {
    /* The scikit-learn documentation example: AUC 0.75. */
    float s[4] = {0.1f, 0.4f, 0.35f, 0.8f};
    int y[4] = {0, 0, 1, 1};
    tg_roc roc;
    ck_assert_int_eq(tg_roc_compute(s, y, 4, &roc), TG_OK);
    ck_assert_double_eq_tol(roc.auc, 0.75, 1e-12);
    double fpr[] = {0, 0, 0.5, 0.5, 1}, tpr[] = {0, 0.5, 0.5, 1, 1};
    ck_assert_int_eq(roc.n, 5);
    for (int i = 0; i < 5; i++) {
        ck_assert_double_eq_tol(roc.fpr[i], fpr[i], 1e-12);
        ck_assert_double_eq_tol(roc.tpr[i], tpr[i], 1e-12);
    }
    tg_roc_free(&roc);
}
END_TEST

START_TEST(test_auc_extremes_and_ties) {
    float s[4] = {1, 2, 3, 4};
    int up[4] = {0, 0, 1, 1}, down[4] = {1, 1, 0, 0};
    ck_assert_double_eq(tg_auc(s, up, 4), 1.0);
    ck_assert_double_eq(tg_auc(s, down, 4), 0.0);
    float same[4] = {5, 5, 5, 5};
    ck_assert_double_eq(tg_auc(same, up, 4), 0.5);
    int one_class[4] = {1, 1, 1, 1};
    ck_assert(isnan(tg_auc(s, one_class, 4)));
    float bad[2] = {NAN, 1};
    tg_roc roc;
    ck_assert_int_eq(tg_roc_compute(bad, up, 2, &roc), TG_ERR_NUMERIC);
}
END_TEST

/* AUC equals the probability that a random positive outscores a random negative. */
START_TEST(test_auc_equals_pairwise_probability) {
    tg_rng r;
    tg_rng_seed(&r, 5);
    enum { N = 300 };
    float s[N];
    int y[N];
    for (int i = 0; i < N; i++) {
        y[i] = (int)tg_rng_below(&r, 2);
        s[i] = (float)tg_rng_below(&r, 20) + (float)y[i] * 3.0f; /* many ties */
    }
    double wins = 0, pairs = 0;
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++)
            if (y[i] == 1 && y[j] == 0) {
                pairs++;
                wins += s[i] > s[j] ? 1.0 : s[i] == s[j] ? 0.5 : 0.0;
            }
    ck_assert_double_eq_tol(tg_auc(s, y, N), wins / pairs, 1e-12);
}
END_TEST

START_TEST(test_confusion_and_best_threshold) {
    float s[6] = {0.9f, 0.8f, 0.6f, 0.4f, 0.3f, 0.1f};
    int y[6] = {1, 1, 0, 1, 0, 0};
    tg_confusion c = tg_confusion_at(s, y, 6, 0.5);
    ck_assert_int_eq(c.tp, 2);
    ck_assert_int_eq(c.fp, 1);
    ck_assert_int_eq(c.fn, 1);
    ck_assert_int_eq(c.tn, 2);
    ck_assert_double_eq_tol(tg_confusion_accuracy(&c), 4.0 / 6, 1e-12);
    ck_assert_double_eq_tol(tg_confusion_sensitivity(&c), 2.0 / 3, 1e-12);
    ck_assert_double_eq_tol(tg_confusion_specificity(&c), 2.0 / 3, 1e-12);
    double acc;
    double t = tg_best_threshold(s, y, 6, &acc);
    ck_assert_double_eq_tol(acc, 5.0 / 6, 1e-12); /* between 0.8 and 0.6 */
    ck_assert(t > 0.6 && t < 0.8);
    c = tg_confusion_at(s, y, 6, t);
    ck_assert_double_eq_tol(tg_confusion_accuracy(&c), acc, 1e-12);
    /* Separable: the threshold falls between the classes. */
    float s2[4] = {0.2f, 0.1f, 0.7f, 0.9f};
    int y2[4] = {0, 0, 1, 1};
    t = tg_best_threshold(s2, y2, 4, &acc);
    ck_assert_double_eq(acc, 1.0);
    ck_assert(t > 0.2 && t < 0.7);
    /* A NaN score chooses no threshold (it used to loop for ever: NaN is in no group). */
    float s3[4] = {NAN, 0.2f, 0.5f, 1.0f};
    t = tg_best_threshold(s3, y2, 4, &acc);
    ck_assert(isnan(t) && isnan(acc));
}
END_TEST

/* Brute force: the mean distance from query q (d floats) to the k nearest of the
 * references labelled c (all of them when fewer), by repeated selection in double. */
static double brute_class_mean(const float *ref, const int *labels, int n_ref, const float *q,
                               int d, int k, int c) {
    double dd[512], mean = 0;
    int m = 0, used[512] = {0};
    for (int j = 0; j < n_ref; j++)
        if (labels[j] == c) {
            double a = 0;
            for (int e = 0; e < d; e++) a += pow((double)q[e] - ref[j * d + e], 2);
            dd[m++] = sqrt(a);
        }
    int kc = k < m ? k : m;
    for (int t = 0; t < kc; t++) {
        int best = -1;
        for (int j = 0; j < m; j++)
            if (!used[j] && (best < 0 || dd[j] < dd[best])) best = j;
        used[best] = 1;
        mean += dd[best] / kc;
    }
    return m ? mean : INFINITY;
}

/* The graded k-NN score against a brute force: mean distance to the k nearest of
 * class 0 minus to the k nearest of class 1; a class with fewer than k uses all. */
START_TEST(test_knn_margin_score_matches_brute_force) {
    tg_rng r;
    tg_rng_seed(&r, 4);
    enum { NR = 40, NQ = 25, D = 3, K = 5 };
    float ref[NR * D], q[NQ * D], score[NQ];
    int labels[NR];
    for (int i = 0; i < NR; i++) {
        labels[i] = i < 3 ? 0 : 1; /* class 0 has only 3 references: fewer than k */
        for (int d = 0; d < D; d++)
            ref[i * D + d] = (float)tg_rng_normal(&r) + 2.0f * (float)labels[i];
    }
    for (int i = 0; i < NQ * D; i++) q[i] = (float)tg_rng_normal(&r) + 1.0f;
    ck_assert_int_eq(tg_knn_margin_score(ref, labels, NR, q, NQ, D, K, score), TG_OK);
    for (int i = 0; i < NQ; i++)
        ck_assert_double_eq_tol(score[i],
                                brute_class_mean(ref, labels, NR, q + i * D, D, K, 0) -
                                    brute_class_mean(ref, labels, NR, q + i * D, D, K, 1),
                                1e-4);
    /* One class only among the references: an error, not a meaningless score. */
    int ones[NR];
    for (int i = 0; i < NR; i++) ones[i] = 1;
    ck_assert_int_ne(tg_knn_margin_score(ref, ones, NR, q, NQ, D, K, score), TG_OK);
}
END_TEST

START_TEST(test_knn_matches_brute_force) {
    tg_rng r;
    tg_rng_seed(&r, 9);
    enum { NR = 300, NQ = 270, D = 5, K = 5, C = 3 };
    float *ref = malloc(sizeof(float) * NR * D), *q = malloc(sizeof(float) * NQ * D);
    int labels[NR], pred[NQ], nb[NQ * K];
    float score[NQ], dist[NQ * K];
    for (int i = 0; i < NR; i++) {
        labels[i] = (int)tg_rng_below(&r, C);
        for (int d = 0; d < D; d++) ref[i * D + d] = (float)tg_rng_normal(&r) + (float)labels[i];
    }
    for (int i = 0; i < NQ * D; i++) q[i] = (float)tg_rng_normal(&r);
    ck_assert_int_eq(tg_knn_classify(ref, labels, NR, q, NQ, D, K, C, pred, score, nb, dist),
                     TG_OK);
    for (int i = 0; i < NQ; i++) {
        /* brute force: repeated selection of the smallest double distance */
        double dd[NR];
        int used[NR] = {0}, votes[C] = {0}, pos = 0;
        for (int j = 0; j < NR; j++) {
            double a = 0;
            for (int d = 0; d < D; d++) a += pow((double)q[i * D + d] - ref[j * D + d], 2);
            dd[j] = sqrt(a);
        }
        for (int k = 0; k < K; k++) {
            int best = -1;
            for (int j = 0; j < NR; j++)
                if (!used[j] && (best < 0 || dd[j] < dd[best])) best = j;
            used[best] = 1;
            ck_assert_int_eq(nb[i * K + k], best);
            ck_assert_double_eq_tol(dist[i * K + k], dd[best], 1e-4);
            votes[labels[best]]++;
            pos += labels[best] == 1;
        }
        ck_assert_int_ge(votes[pred[i]], votes[0]);
        ck_assert_int_ge(votes[pred[i]], votes[1]);
        ck_assert_int_ge(votes[pred[i]], votes[2]);
        ck_assert_float_eq_tol(score[i], (float)pos / K, 1e-7f);
    }
    free(ref);
    free(q);
}
END_TEST

START_TEST(test_knn_tie_goes_to_nearest_and_bad_args_fail) {
    float ref[4] = {0, 1, 3, 10}, q[1] = {1.2f};
    int lab[4] = {0, 1, 0, 1}, pred, nb[2];
    /* k = 2: one vote each; the nearest (index 1, label 1) decides. */
    ck_assert_int_eq(tg_knn_classify(ref, lab, 4, q, 1, 1, 2, 2, &pred, NULL, nb, NULL), TG_OK);
    ck_assert_int_eq(nb[0], 1);
    ck_assert_int_eq(pred, 1);
    ck_assert_int_ne(tg_knn_classify(ref, lab, 4, q, 1, 1, 5, 2, &pred, NULL, NULL, NULL), TG_OK);
    int badlab[4] = {0, 1, 2, 0};
    ck_assert_int_ne(tg_knn_classify(ref, badlab, 4, q, 1, 1, 1, 2, &pred, NULL, NULL, NULL),
                     TG_OK);
}
END_TEST

/* The class-mean rule against a brute force over three classes (one of them with
 * fewer than k references), and the case it exists for: a minority class whose few
 * references are nearest, outvoted by a majority class under TG_KNN_VOTE. */
START_TEST(test_knn_class_mean_rule) {
    tg_rng r;
    tg_rng_seed(&r, 11);
    enum { NR = 60, NQ = 30, D = 4, K = 5, C = 3 };
    float ref[NR * D], q[NQ * D], cd[NQ * C];
    int labels[NR], pred[NQ];
    for (int i = 0; i < NR; i++) {
        labels[i] = i < 2 ? 2 : (int)tg_rng_below(&r, 2); /* class 2: two references */
        for (int d = 0; d < D; d++) ref[i * D + d] = (float)tg_rng_normal(&r) + (float)labels[i];
    }
    for (int i = 0; i < NQ * D; i++) q[i] = (float)tg_rng_normal(&r) + 1.0f;
    ck_assert_int_eq(tg_knn_class_distances(ref, labels, NR, q, NQ, D, K, C, cd), TG_OK);
    ck_assert_int_eq(tg_knn_predict(ref, labels, NR, q, NQ, D, K, C, TG_KNN_CLASS_MEAN, pred, NULL),
                     TG_OK);
    for (int i = 0; i < NQ; i++) {
        int best = 0;
        for (int c = 0; c < C; c++) {
            ck_assert_double_eq_tol(cd[i * C + c],
                                    brute_class_mean(ref, labels, NR, q + i * D, D, K, c), 1e-4);
            if (cd[i * C + c] < cd[i * C + best]) best = c;
        }
        ck_assert_int_eq(pred[i], best);
    }
    /* 1-D: negatives at 0 and 0.1, positives at 0.5 .. 1.0; query 0.3, k = 5. The
     * five nearest are 0.1, 0.5, 0.0, 0.6, 0.7: three positives win the vote, but
     * the negatives are nearer (mean 0.25 against 0.4 over five positives). */
    float r1[8] = {0.0f, 0.1f, 0.5f, 0.6f, 0.7f, 0.8f, 0.9f, 1.0f}, q1[1] = {0.3f}, s1;
    int l1[8] = {0, 0, 1, 1, 1, 1, 1, 1}, p1;
    ck_assert_int_eq(tg_knn_predict(r1, l1, 8, q1, 1, 1, 5, 2, TG_KNN_VOTE, &p1, &s1), TG_OK);
    ck_assert_int_eq(p1, 1);
    ck_assert_float_eq_tol(s1, 0.6f, 1e-6f);
    ck_assert_int_eq(tg_knn_predict(r1, l1, 8, q1, 1, 1, 5, 2, TG_KNN_CLASS_MEAN, &p1, &s1), TG_OK);
    ck_assert_int_eq(p1, 0);
    ck_assert_float_eq_tol(s1, 0.25f - 0.4f, 1e-5f);
    /* A score needs two classes; two classes need both among the references. */
    ck_assert_int_ne(tg_knn_predict(ref, labels, NR, q, NQ, D, K, C, TG_KNN_CLASS_MEAN, pred, cd),
                     TG_OK);
    int ones[8] = {1, 1, 1, 1, 1, 1, 1, 1};
    ck_assert_int_ne(tg_knn_predict(r1, ones, 8, q1, 1, 1, 5, 2, TG_KNN_CLASS_MEAN, &p1, NULL),
                     TG_OK);
    /* Names round-trip; an unknown one is refused. */
    tg_knn_rule rule;
    ck_assert_int_eq(tg_knn_rule_parse("vote", &rule), TG_OK);
    ck_assert_int_eq(rule, TG_KNN_VOTE);
    ck_assert_int_eq(tg_knn_rule_parse(tg_knn_rule_name(TG_KNN_CLASS_MEAN), &rule), TG_OK);
    ck_assert_int_eq(rule, TG_KNN_CLASS_MEAN);
    ck_assert_int_ne(tg_knn_rule_parse("majority", &rule), TG_OK);
}
END_TEST

START_TEST(test_report_writes_charts_atomically) {
    char dir[] = "/tmp/tg_report_XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char path[256], tmp[300];
    snprintf(path, sizeof path, "%s/report.html", dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    tg_report *r = tg_report_open(path, "Run <1> & co");
    ck_assert_ptr_nonnull(r);
    double x[3] = {1, 2, 3}, a[3] = {1.0, 0.5, 0.25}, b[3] = {1.1, NAN, 0.4};
    const double *ys[2] = {a, b};
    const char *names[2] = {"train", "validation"};
    tg_report_line_chart(r, "Loss", "epoch", "loss", x, 3, ys, names, 2);
    float s[4] = {0.1f, 0.4f, 0.35f, 0.8f};
    int y[4] = {0, 0, 1, 1};
    tg_roc roc;
    ck_assert_int_eq(tg_roc_compute(s, y, 4, &roc), TG_OK);
    tg_report_roc(r, "ROC", &roc);
    tg_roc_free(&roc);
    tg_confusion c = {3, 1, 4, 2};
    tg_report_confusion(r, "Confusion", &c, "COVID-19", "normal");
    tg_report_kv(r, "accuracy", "%.2f", 0.875);
    ck_assert_int_eq(access(path, F_OK), -1); /* nothing visible before close */
    ck_assert_int_eq(tg_report_close(r), TG_OK);
    ck_assert_int_eq(access(tmp, F_OK), -1);
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = 0;
    fclose(f);
    ck_assert_int_eq((int)(strstr(buf, "<svg") != NULL) +
                         (int)(strstr(strstr(buf, "<svg") + 1, "<svg") != NULL),
                     2);
    ck_assert_ptr_nonnull(strstr(buf, "AUC 0.7500"));
    ck_assert_ptr_nonnull(strstr(buf, "Run &lt;1&gt; &amp; co"));
    ck_assert_ptr_nonnull(strstr(buf, "<td>3</td><td>2</td>")); /* tp, fn */
    ck_assert_ptr_nonnull(strstr(buf, "</html>"));
    remove(path);
    rmdir(dir);
    ck_assert_ptr_null(tg_report_open("/nonexistent-dir/x/report.html", "x"));
}
END_TEST

int main(void) {
    Suite *s = suite_create("metrics");
    TCase *tc = tcase_create("metrics");
    tcase_add_test(tc, test_roc_matches_worked_example);
    tcase_add_test(tc, test_auc_extremes_and_ties);
    tcase_add_test(tc, test_auc_equals_pairwise_probability);
    tcase_add_test(tc, test_confusion_and_best_threshold);
    tcase_add_test(tc, test_knn_matches_brute_force);
    tcase_add_test(tc, test_knn_margin_score_matches_brute_force);
    tcase_add_test(tc, test_knn_tie_goes_to_nearest_and_bad_args_fail);
    tcase_add_test(tc, test_knn_class_mean_rule);
    tcase_add_test(tc, test_report_writes_charts_atomically);
    suite_add_tcase(s, tc);
    return tg_check_run(s);
}
