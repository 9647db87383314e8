/* Optimizers, gradient clipping and learning-rate schedules, each checked against
 * steps worked out by hand: literal values where the arithmetic is short, and otherwise
 * the textbook formula written out again here in double precision. */
#include <check.h>

#include "tests/tg_check.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "autograd/tg_optim.h"
#include "autograd/tg_schedule.h"

#define N 4
#define STEPS 6

/* A quadratic bowl with a different curvature per coordinate: g = c * (p - t). */
static const double P0[N] = {0.5, -1.2, 2.0, 0.03};
static const double TARGET[N] = {0.1, 0.4, -0.7, 1.5};
static const double CURV[N] = {1.0, 2.5, 0.3, 4.0};

static void bowl_grad_f(const float *p, float *g) {
    for (int i = 0; i < N; i++) g[i] = (float)CURV[i] * (p[i] - (float)TARGET[i]);
}
static void bowl_grad_d(const double *p, double *g) {
    for (int i = 0; i < N; i++) g[i] = CURV[i] * (p[i] - TARGET[i]);
}
/* The learning rate changes every step, as a schedule would make it. */
static double lr_at(double base, int t) {
    return base * (1.0 - 0.05 * t);
}

/* Hand-written reference steps in double; t counts from 1; s0..s2 start at zero. */
typedef void (*ref_step_fn)(const tg_optimizer_config *c, double *p, const double *g, double lr,
                            int t, double *s0, double *s1, double *s2);

static void ref_sgd(const tg_optimizer_config *c, double *p, const double *g, double lr, int t,
                    double *buf, double *unused1, double *unused2) {
    (void)unused1, (void)unused2;
    for (int i = 0; i < N; i++) {
        double d = g[i] + c->weight_decay * p[i];
        if (c->momentum != 0.0) {
            buf[i] = t == 1 ? d : c->momentum * buf[i] + (1.0 - c->dampening) * d;
            d = c->nesterov ? d + c->momentum * buf[i] : buf[i];
        }
        p[i] -= lr * d;
    }
}

/* Adam as in Kingma & Ba: bias-corrected moments m_hat, v_hat; AdamW decays p first. */
static void ref_adam(const tg_optimizer_config *c, double *p, const double *g, double lr, int t,
                     double *m, double *v, double *unused) {
    (void)unused;
    for (int i = 0; i < N; i++) {
        double gi = g[i];
        if (c->kind == TG_OPTIM_ADAMW)
            p[i] -= lr * c->weight_decay * p[i];
        else
            gi += c->weight_decay * p[i];
        m[i] = c->beta1 * m[i] + (1.0 - c->beta1) * gi;
        v[i] = c->beta2 * v[i] + (1.0 - c->beta2) * gi * gi;
        double m_hat = m[i] / (1.0 - pow(c->beta1, t));
        double v_hat = v[i] / (1.0 - pow(c->beta2, t));
        p[i] -= lr * m_hat / (sqrt(v_hat) + c->eps);
    }
}

static void ref_rmsprop(const tg_optimizer_config *c, double *p, const double *g, double lr, int t,
                        double *sq, double *buf, double *gavg) {
    (void)t;
    for (int i = 0; i < N; i++) {
        double gi = g[i] + c->weight_decay * p[i];
        sq[i] = c->alpha * sq[i] + (1.0 - c->alpha) * gi * gi;
        double var = sq[i];
        if (c->centered) {
            gavg[i] = c->alpha * gavg[i] + (1.0 - c->alpha) * gi;
            var -= gavg[i] * gavg[i];
        }
        double step = gi / (sqrt(var) + c->eps);
        if (c->momentum > 0.0) {
            buf[i] = c->momentum * buf[i] + step;
            step = buf[i];
        }
        p[i] -= lr * step;
    }
}

/* Run STEPS steps of the optimizer and of the reference from P0; compare after each step. */
static void check_against_reference(const tg_optimizer_config *cfg, ref_step_fn ref, double base_lr,
                                    double tol) {
    tg_optimizer *opt = tg_optimizer_new(cfg, N);
    ck_assert_msg(opt != NULL, "%s", tg_last_error());
    float p[N], g[N];
    double pd[N], gd[N], s0[N] = {0}, s1[N] = {0}, s2[N] = {0};
    for (int i = 0; i < N; i++) p[i] = (float)P0[i], pd[i] = (double)(float)P0[i];
    for (int t = 1; t <= STEPS; t++) {
        double lr = lr_at(base_lr, t);
        bowl_grad_f(p, g);
        bowl_grad_d(pd, gd);
        ck_assert_int_eq(tg_optimizer_step(opt, p, g, N, (float)lr), TG_OK);
        ref(cfg, pd, gd, (double)(float)lr, t, s0, s1, s2);
        for (int i = 0; i < N; i++)
            ck_assert_msg(fabs(p[i] - pd[i]) <= tol * (1.0 + fabs(pd[i])),
                          "%s step %d, p[%d] = %.9g, by hand %.9g",
                          tg_optimizer_kind_name(cfg->kind), t, i, (double)p[i], pd[i]);
        /* Each step must actually move the parameters, or the comparison proves nothing. */
        ck_assert(fabs(pd[0] - P0[0]) > 1e-4);
    }
    ck_assert_int_eq(tg_optimizer_steps(opt), STEPS);
    tg_optimizer_free(opt);
}

/* Single-precision steps against double references: a few float roundings per step. */
#define TOL 1e-6

START_TEST(test_sgd_plain_matches_hand_steps) {
    /* Literal: p = 1, constant g = 2, lr 0.1 -> p = 0.8, 0.6, 0.4. */
    tg_optimizer_config c = tg_optimizer_defaults(TG_OPTIM_SGD);
    tg_optimizer *opt = tg_optimizer_new(&c, 1);
    float p = 1.0f, g = 2.0f;
    const double want[] = {0.8, 0.6, 0.4};
    for (int t = 0; t < 3; t++) {
        ck_assert_int_eq(tg_optimizer_step(opt, &p, &g, 1, 0.1f), TG_OK);
        ck_assert_double_eq_tol(p, want[t], 1e-6);
    }
    ck_assert_int_eq(tg_optimizer_state_count(opt), 0);
    tg_optimizer_free(opt);
    check_against_reference(&c, ref_sgd, 0.1, TOL);
    c.weight_decay = 0.05;
    check_against_reference(&c, ref_sgd, 0.1, TOL);
}
END_TEST

START_TEST(test_sgd_momentum_matches_hand_steps) {
    /* Literal: p = 1, constant g = 1, momentum 0.9, lr 0.1: buf = 1, 1.9, 2.71 and
     * p = 0.9, 0.71, 0.439 (PyTorch: the first step takes buf = g, no dampening). */
    tg_optimizer_config c = tg_optimizer_defaults(TG_OPTIM_SGD);
    c.momentum = 0.9;
    tg_optimizer *opt = tg_optimizer_new(&c, 1);
    float p = 1.0f, g = 1.0f;
    const double want_p[] = {0.9, 0.71, 0.439}, want_buf[] = {1.0, 1.9, 2.71};
    for (int t = 0; t < 3; t++) {
        ck_assert_int_eq(tg_optimizer_step(opt, &p, &g, 1, 0.1f), TG_OK);
        ck_assert_double_eq_tol(p, want_p[t], 1e-6);
        ck_assert_double_eq_tol(tg_optimizer_state_data(opt, 0)[0], want_buf[t], 1e-6);
    }
    tg_optimizer_free(opt);
    check_against_reference(&c, ref_sgd, 0.1, TOL);
    c.dampening = 0.3;
    c.weight_decay = 0.01;
    check_against_reference(&c, ref_sgd, 0.1, TOL);
}
END_TEST

START_TEST(test_sgd_nesterov_matches_hand_steps) {
    /* Literal: p = 1, constant g = 1, momentum 0.9, lr 0.1, Nesterov: the step is
     * g + 0.9*buf = 1.9, then 1 + 0.9*1.9 = 2.71, so p = 0.81, 0.539. */
    tg_optimizer_config c = tg_optimizer_defaults(TG_OPTIM_SGD);
    c.momentum = 0.9;
    c.nesterov = 1;
    tg_optimizer *opt = tg_optimizer_new(&c, 1);
    float p = 1.0f, g = 1.0f;
    const double want[] = {0.81, 0.539};
    for (int t = 0; t < 2; t++) {
        ck_assert_int_eq(tg_optimizer_step(opt, &p, &g, 1, 0.1f), TG_OK);
        ck_assert_double_eq_tol(p, want[t], 1e-6);
    }
    tg_optimizer_free(opt);
    check_against_reference(&c, ref_sgd, 0.1, TOL);
    c.weight_decay = 0.02;
    check_against_reference(&c, ref_sgd, 0.1, TOL);
}
END_TEST

START_TEST(test_adam_matches_hand_steps) {
    /* Literal: with a constant gradient m_hat = g and v_hat = g^2 at every step, so each step
     * moves p by lr * g / (|g| + eps): p = 1, g = 0.5, lr 0.01 -> 1 - 0.01*t*(0.5/(0.5+1e-8)). */
    tg_optimizer_config c = tg_optimizer_defaults(TG_OPTIM_ADAM);
    tg_optimizer *opt = tg_optimizer_new(&c, 1);
    float p = 1.0f, g = 0.5f;
    for (int t = 1; t <= 3; t++) {
        ck_assert_int_eq(tg_optimizer_step(opt, &p, &g, 1, 0.01f), TG_OK);
        ck_assert_double_eq_tol(p, 1.0 - 0.01 * t * (0.5 / (0.5 + 1e-8)), 1e-6);
    }
    ck_assert_str_eq(tg_optimizer_state_name(opt, 0), "exp_avg");
    ck_assert_str_eq(tg_optimizer_state_name(opt, 1), "exp_avg_sq");
    /* m after 3 steps: 0.5 * (1 - 0.9^3) = 0.1355; v: 0.25 * (1 - 0.999^3) = 0.00074925025. */
    ck_assert_double_eq_tol(tg_optimizer_state_data(opt, 0)[0], 0.1355, 1e-7);
    ck_assert_double_eq_tol(tg_optimizer_state_data(opt, 1)[0], 0.00074925025, 1e-9);
    tg_optimizer_free(opt);
    check_against_reference(&c, ref_adam, 0.05, TOL);
    c.beta1 = 0.8;
    c.beta2 = 0.99;
    c.eps = 1e-3;
    c.weight_decay = 0.1;
    check_against_reference(&c, ref_adam, 0.05, TOL);
}
END_TEST

START_TEST(test_adamw_matches_hand_steps) {
    /* Literal: g = 0 leaves only the decoupled decay: p *= (1 - lr*wd) = 1 - 0.1*0.5 each step
     * (m = v = 0, so the Adam part is 0 / (0 + eps) = 0). */
    tg_optimizer_config c = tg_optimizer_defaults(TG_OPTIM_ADAMW);
    c.weight_decay = 0.5;
    tg_optimizer *opt = tg_optimizer_new(&c, 1);
    float p = 2.0f, g = 0.0f;
    for (int t = 1; t <= 3; t++) {
        ck_assert_int_eq(tg_optimizer_step(opt, &p, &g, 1, 0.1f), TG_OK);
        ck_assert_double_eq_tol(p, 2.0 * pow(0.95, t), 1e-6);
    }
    tg_optimizer_free(opt);
    check_against_reference(&c, ref_adam, 0.05, TOL);
    ck_assert_double_eq(tg_optimizer_defaults(TG_OPTIM_ADAMW).weight_decay, 0.01);
    c = tg_optimizer_defaults(TG_OPTIM_ADAMW);
    check_against_reference(&c, ref_adam, 0.05, TOL);
}
END_TEST

START_TEST(test_adam_and_adamw_differ_only_by_decay_placement) {
    /* With weight decay 0 the two are the same algorithm, bit for bit. */
    tg_optimizer_config a = tg_optimizer_defaults(TG_OPTIM_ADAM);
    tg_optimizer_config w = tg_optimizer_defaults(TG_OPTIM_ADAMW);
    w.weight_decay = 0.0;
    tg_optimizer *oa = tg_optimizer_new(&a, N), *ow = tg_optimizer_new(&w, N);
    float pa[N], pw[N], g[N];
    for (int i = 0; i < N; i++) pa[i] = pw[i] = (float)P0[i];
    for (int t = 1; t <= STEPS; t++) {
        bowl_grad_f(pa, g);
        tg_optimizer_step(oa, pa, g, N, 0.01f);
        bowl_grad_f(pw, g);
        tg_optimizer_step(ow, pw, g, N, 0.01f);
    }
    ck_assert_mem_eq(pa, pw, sizeof pa);
    tg_optimizer_free(oa);
    tg_optimizer_free(ow);
}
END_TEST

START_TEST(test_rmsprop_matches_hand_steps) {
    /* Literal: the first step with v = 0: v = (1-alpha) g^2, so p -= lr * g / (sqrt(0.01) |g| +
     * eps) = lr * 10 (for g > 0 and eps negligible): p = 1 - 0.01*10/(1 + 1e-7) with g = 1. */
    tg_optimizer_config c = tg_optimizer_defaults(TG_OPTIM_RMSPROP);
    tg_optimizer *opt = tg_optimizer_new(&c, 1);
    float p = 1.0f, g = 1.0f;
    ck_assert_int_eq(tg_optimizer_step(opt, &p, &g, 1, 0.01f), TG_OK);
    ck_assert_double_eq_tol(p, 1.0 - 0.01 / (0.1 + 1e-8), 1e-6);
    /* Second step, same g: v = 0.99*0.01 + 0.01 = 0.0199. */
    ck_assert_int_eq(tg_optimizer_step(opt, &p, &g, 1, 0.01f), TG_OK);
    ck_assert_double_eq_tol(p, 1.0 - 0.01 / (0.1 + 1e-8) - 0.01 / (sqrt(0.0199) + 1e-8), 1e-6);
    ck_assert_int_eq(tg_optimizer_state_count(opt), 1);
    ck_assert_str_eq(tg_optimizer_state_name(opt, 0), "square_avg");
    tg_optimizer_free(opt);
    check_against_reference(&c, ref_rmsprop, 0.01, TOL);
    c.weight_decay = 0.1;
    c.alpha = 0.9;
    check_against_reference(&c, ref_rmsprop, 0.01, TOL);
}
END_TEST

START_TEST(test_rmsprop_momentum_and_centered_match_hand_steps) {
    tg_optimizer_config c = tg_optimizer_defaults(TG_OPTIM_RMSPROP);
    c.momentum = 0.8;
    check_against_reference(&c, ref_rmsprop, 0.01, TOL);
    c.momentum = 0.0;
    c.centered = 1;
    check_against_reference(&c, ref_rmsprop, 0.01, TOL);
    c.momentum = 0.5;
    c.weight_decay = 0.01;
    c.alpha = 0.95;
    check_against_reference(&c, ref_rmsprop, 0.01, TOL);
    tg_optimizer *opt = tg_optimizer_new(&c, 3);
    ck_assert_int_eq(tg_optimizer_state_count(opt), 3);
    ck_assert_int_eq(tg_optimizer_state_find(opt, "square_avg"), 0);
    ck_assert_int_eq(tg_optimizer_state_find(opt, "momentum_buffer"), 1);
    ck_assert_int_eq(tg_optimizer_state_find(opt, "grad_avg"), 2);
    ck_assert_int_eq(tg_optimizer_state_find(opt, "exp_avg"), -1);
    ck_assert_ptr_null(tg_optimizer_state_name(opt, 3));
    ck_assert_ptr_null(tg_optimizer_state_data(opt, -1));
    tg_optimizer_free(opt);
}
END_TEST

/* Five steps, save the state, five more; a fresh optimizer restored from the saved state
 * and run for the same five steps must land on the very same bits. */
static void check_resume_bit_identical(const tg_optimizer_config *cfg) {
    const int64_t n = 5;
    float p[5] = {0.3f, -0.8f, 1.7f, 0.02f, -2.5f}, g[5];
    float saved_p[5], saved_state[4][5];
    tg_optimizer *a = tg_optimizer_new(cfg, n);
    ck_assert_msg(a != NULL, "%s", tg_last_error());
    int64_t saved_steps = 0;
    for (int t = 0; t < 10; t++) {
        if (t == 5) {
            memcpy(saved_p, p, sizeof p);
            saved_steps = tg_optimizer_steps(a);
            for (int s = 0; s < tg_optimizer_state_count(a); s++)
                memcpy(saved_state[s], tg_optimizer_state_data(a, s), sizeof saved_state[s]);
        }
        for (int i = 0; i < n; i++) g[i] = (float)(i + 1) * p[i] - 0.5f + 0.1f * (float)t;
        ck_assert_int_eq(tg_optimizer_step(a, p, g, n, (float)lr_at(0.02, t)), TG_OK);
    }
    ck_assert_int_eq(saved_steps, 5);

    tg_optimizer *b = tg_optimizer_new(cfg, n);
    ck_assert_int_eq(tg_optimizer_state_count(b), tg_optimizer_state_count(a));
    ck_assert_int_eq(tg_optimizer_set_steps(b, saved_steps), TG_OK);
    for (int s = 0; s < tg_optimizer_state_count(b); s++) {
        ck_assert_str_eq(tg_optimizer_state_name(b, s), tg_optimizer_state_name(a, s));
        memcpy(tg_optimizer_state_data(b, s), saved_state[s], sizeof saved_state[s]);
    }
    for (int t = 5; t < 10; t++) {
        for (int i = 0; i < n; i++) g[i] = (float)(i + 1) * saved_p[i] - 0.5f + 0.1f * (float)t;
        ck_assert_int_eq(tg_optimizer_step(b, saved_p, g, n, (float)lr_at(0.02, t)), TG_OK);
    }
    ck_assert_mem_eq(saved_p, p, sizeof p);
    for (int s = 0; s < tg_optimizer_state_count(b); s++)
        ck_assert_mem_eq(tg_optimizer_state_data(b, s), tg_optimizer_state_data(a, s),
                         (size_t)n * sizeof(float));
    ck_assert_int_eq(tg_optimizer_steps(b), 10);
    tg_optimizer_free(a);
    tg_optimizer_free(b);
}

START_TEST(test_optimizer_resume_is_bit_identical) {
    tg_optimizer_config c = tg_optimizer_defaults(TG_OPTIM_SGD);
    c.momentum = 0.9;
    c.nesterov = 1;
    c.weight_decay = 1e-3;
    check_resume_bit_identical(&c);
    c = tg_optimizer_defaults(TG_OPTIM_ADAM);
    check_resume_bit_identical(&c);
    c = tg_optimizer_defaults(TG_OPTIM_ADAMW);
    check_resume_bit_identical(&c);
    c = tg_optimizer_defaults(TG_OPTIM_RMSPROP);
    c.momentum = 0.5;
    c.centered = 1;
    check_resume_bit_identical(&c);
    c.ema = 0.9; /* four arrays: the average resumes too */
    check_resume_bit_identical(&c);
    c = tg_optimizer_defaults(TG_OPTIM_ADAM);
    c.ema = 0.5;
    check_resume_bit_identical(&c);
}
END_TEST

START_TEST(test_ema_follows_the_parameters_by_hand) {
    /* SGD with lr 0.1 and g = 1: p = 1 - 0.1 t after step t. The average starts from p at
     * step 1, then avg = d avg + (1 - d) p with d = min(0.5, (1 + t) / (10 + t)), in double. */
    tg_optimizer_config c = tg_optimizer_defaults(TG_OPTIM_SGD);
    ck_assert_int_eq(tg_optimizer_config_set(&c, "ema", "0.5"), TG_OK);
    tg_optimizer *opt = tg_optimizer_new(&c, 1);
    ck_assert_int_eq(tg_optimizer_state_count(opt), 1);
    ck_assert_str_eq(tg_optimizer_state_name(opt, 0), "ema");
    float p = 1.0f, g = 1.0f, avg = 0.0f;
    for (int t = 1; t <= 12; t++) {
        ck_assert_int_eq(tg_optimizer_step(opt, &p, &g, 1, 0.1f), TG_OK);
        const double warm = (1.0 + t) / (10.0 + t), d = warm < 0.5 ? warm : 0.5;
        avg = t == 1 ? p : (float)(d * avg + (1.0 - d) * p);
        ck_assert_msg(tg_optimizer_state_data(opt, 0)[0] == avg, "step %d: %.9g, by hand %.9g", t,
                      (double)tg_optimizer_state_data(opt, 0)[0], (double)avg);
    }
    /* it lags the parameters (which fall): above p, below the first step's */
    ck_assert(avg > p && avg < 0.9f);
    /* the parameters are the optimizer's alone: an average changes none of them */
    tg_optimizer_config plain = tg_optimizer_defaults(TG_OPTIM_SGD);
    tg_optimizer *ref = tg_optimizer_new(&plain, 1);
    float q = 1.0f;
    for (int t = 1; t <= 12; t++) tg_optimizer_step(ref, &q, &g, 1, 0.1f);
    ck_assert_mem_eq(&p, &q, sizeof p);
    tg_optimizer_reset(opt); /* forgotten: the next step starts from the parameters again */
    p = 3.0f;
    tg_optimizer_step(opt, &p, &g, 1, 0.1f);
    ck_assert(tg_optimizer_state_data(opt, 0)[0] == p);
    c.ema = 1.0;
    int bad = -2;
    ck_assert_int_eq(tg_optimizer_config_validate(&c, &bad), TG_ERR_INVALID);
    ck_assert_str_eq(tg_optimizer_setting_name(bad), "ema");
    tg_optimizer_free(opt);
    tg_optimizer_free(ref);
}
END_TEST

START_TEST(test_optimizer_reset_forgets_state) {
    tg_optimizer_config c = tg_optimizer_defaults(TG_OPTIM_ADAM);
    tg_optimizer *opt = tg_optimizer_new(&c, 1);
    float p1 = 1.0f, p2 = 1.0f, g = 0.3f;
    tg_optimizer_step(opt, &p1, &g, 1, 0.01f);
    tg_optimizer_step(opt, &p1, &g, 1, 0.01f);
    tg_optimizer_reset(opt);
    ck_assert_int_eq(tg_optimizer_steps(opt), 0);
    p1 = 1.0f;
    tg_optimizer_step(opt, &p1, &g, 1, 0.01f);
    tg_optimizer *fresh = tg_optimizer_new(&c, 1);
    tg_optimizer_step(fresh, &p2, &g, 1, 0.01f);
    ck_assert_mem_eq(&p1, &p2, sizeof p1);
    tg_optimizer_free(opt);
    tg_optimizer_free(fresh);
}
END_TEST

START_TEST(test_optimizer_step_result_is_independent_of_thread_count) {
#ifdef _OPENMP
    const int64_t n = 200000; /* above the threshold where the step goes parallel */
    float *p1 = malloc(n * sizeof *p1), *p4 = malloc(n * sizeof *p4), *g = malloc(n * sizeof *g);
    for (int64_t i = 0; i < n; i++) {
        p1[i] = p4[i] = sinf((float)i);
        g[i] = cosf(0.37f * (float)i);
    }
    tg_optimizer_config c = tg_optimizer_defaults(TG_OPTIM_ADAMW);
    tg_optimizer *o1 = tg_optimizer_new(&c, n), *o4 = tg_optimizer_new(&c, n);
    int threads = omp_get_max_threads();
    omp_set_num_threads(1);
    for (int t = 0; t < 3; t++) tg_optimizer_step(o1, p1, g, n, 1e-3f);
    omp_set_num_threads(4);
    for (int t = 0; t < 3; t++) tg_optimizer_step(o4, p4, g, n, 1e-3f);
    omp_set_num_threads(threads);
    ck_assert_mem_eq(p1, p4, (size_t)n * sizeof *p1);
    tg_optimizer_free(o1);
    tg_optimizer_free(o4);
    free(p1);
    free(p4);
    free(g);
#endif
}
END_TEST

START_TEST(test_optimizer_step_rejects_bad_calls) {
    tg_optimizer_config c = tg_optimizer_defaults(TG_OPTIM_SGD);
    tg_optimizer *opt = tg_optimizer_new(&c, 2);
    float p[2] = {1, 2}, g[2] = {1, 1};
    ck_assert_int_eq(tg_optimizer_step(opt, p, g, 3, 0.1f), TG_ERR_MISMATCH);
    ck_assert_ptr_nonnull(strstr(tg_last_error(), "3 parameters"));
    ck_assert_int_eq(tg_optimizer_step(opt, p, g, 2, -0.1f), TG_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(tg_last_error(), "lr"));
    ck_assert_int_eq(tg_optimizer_step(opt, p, g, 2, NAN), TG_ERR_INVALID);
    ck_assert_int_eq(tg_optimizer_step(opt, NULL, g, 2, 0.1f), TG_ERR_INVALID);
    ck_assert(p[0] == 1.0f && p[1] == 2.0f);
    ck_assert_int_eq(tg_optimizer_steps(opt), 0);
    ck_assert_int_eq(tg_optimizer_set_steps(opt, -1), TG_ERR_INVALID);
    tg_optimizer_free(opt);
    ck_assert_ptr_null(tg_optimizer_new(&c, 0));
    ck_assert_ptr_nonnull(strstr(tg_last_error(), ">= 1"));
    tg_optimizer_free(NULL);
}
END_TEST

START_TEST(test_optimizer_rejects_invalid_configs) {
    static const struct {
        tg_optimizer_kind kind;
        const char *field;
        double value;
    } bad[] = {
        {TG_OPTIM_SGD, "momentum", -0.1},
        {TG_OPTIM_SGD, "momentum", 1.0},
        {TG_OPTIM_SGD, "dampening", 1.5},
        {TG_OPTIM_SGD, "weight_decay", -1e-4},
        {TG_OPTIM_SGD, "weight_decay", NAN},
        {TG_OPTIM_ADAM, "beta1", 1.0},
        {TG_OPTIM_ADAM, "beta1", -0.5},
        {TG_OPTIM_ADAM, "beta2", 1.0},
        {TG_OPTIM_ADAM, "eps", 0.0},
        {TG_OPTIM_ADAMW, "eps", INFINITY},
        {TG_OPTIM_ADAMW, "weight_decay", INFINITY},
        {TG_OPTIM_RMSPROP, "alpha", 1.0},
        {TG_OPTIM_RMSPROP, "eps", -1e-8},
        {TG_OPTIM_RMSPROP, "momentum", NAN},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        tg_optimizer_config c = tg_optimizer_defaults(bad[i].kind);
        double *f = strcmp(bad[i].field, "momentum") == 0       ? &c.momentum
                    : strcmp(bad[i].field, "dampening") == 0    ? &c.dampening
                    : strcmp(bad[i].field, "weight_decay") == 0 ? &c.weight_decay
                    : strcmp(bad[i].field, "beta1") == 0        ? &c.beta1
                    : strcmp(bad[i].field, "beta2") == 0        ? &c.beta2
                    : strcmp(bad[i].field, "eps") == 0          ? &c.eps
                                                                : &c.alpha;
        *f = bad[i].value;
        tg_error_clear();
        ck_assert_ptr_null(tg_optimizer_new(&c, 3));
        ck_assert_int_eq(tg_optimizer_config_validate(&c, NULL), TG_ERR_INVALID);
        ck_assert_msg(strstr(tg_last_error(), bad[i].field) != NULL, "case %zu: '%s'", i,
                      tg_last_error());
        ck_assert_ptr_nonnull(strstr(tg_last_error(), tg_optimizer_kind_name(bad[i].kind)));
    }
    tg_optimizer_config c = tg_optimizer_defaults(TG_OPTIM_SGD);
    c.nesterov = 1; /* without momentum */
    ck_assert_int_eq(tg_optimizer_config_validate(&c, NULL), TG_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(tg_last_error(), "nesterov"));
    c.momentum = 0.9;
    c.dampening = 0.1; /* Nesterov needs zero dampening */
    ck_assert_int_eq(tg_optimizer_config_validate(&c, NULL), TG_ERR_INVALID);
    c.dampening = 0.0;
    ck_assert_int_eq(tg_optimizer_config_validate(&c, NULL), TG_OK);
    c.kind = (tg_optimizer_kind)17;
    ck_assert_int_eq(tg_optimizer_config_validate(&c, NULL), TG_ERR_INVALID);
    ck_assert_int_eq(tg_optimizer_config_validate(NULL, NULL), TG_ERR_INVALID);
}
END_TEST

START_TEST(test_optimizer_names_and_settings_parse_from_text) {
    tg_optimizer_kind k;
    ck_assert_int_eq(tg_optimizer_kind_parse("adamw", &k), TG_OK);
    ck_assert_int_eq(k, TG_OPTIM_ADAMW);
    ck_assert_int_eq(tg_optimizer_kind_parse("Adam", &k), TG_OK);
    ck_assert_int_eq(k, TG_OPTIM_ADAM);
    ck_assert_int_eq(tg_optimizer_kind_parse("sgd", &k), TG_OK);
    ck_assert_int_eq(k, TG_OPTIM_SGD);
    ck_assert_int_eq(tg_optimizer_kind_parse("RMSprop", &k), TG_OK);
    ck_assert_int_eq(k, TG_OPTIM_RMSPROP);
    ck_assert_str_eq(tg_optimizer_kind_name(k), "rmsprop");
    ck_assert_int_eq(tg_optimizer_kind_parse("adamx", &k), TG_ERR_UNKNOWN);
    ck_assert_ptr_nonnull(strstr(tg_last_error(), "'adamx'"));
    ck_assert_int_eq(tg_optimizer_kind_parse(NULL, &k), TG_ERR_UNKNOWN);

    tg_optimizer_config c = tg_optimizer_defaults(TG_OPTIM_ADAM);
    ck_assert_int_eq(tg_optimizer_config_set(&c, "beta2", "0.99"), TG_OK);
    ck_assert_double_eq(c.beta2, 0.99);
    ck_assert_int_eq(tg_optimizer_config_set(&c, "weight_decay", "1e-4"), TG_OK);
    ck_assert_double_eq(c.weight_decay, 1e-4);
    ck_assert_int_eq(tg_optimizer_config_set(&c, "momentum", "0.9"), TG_ERR_ATTR);
    ck_assert_ptr_nonnull(strstr(tg_last_error(), "adam does not take 'momentum'"));
    ck_assert_int_eq(tg_optimizer_config_set(&c, "beta3", "0.9"), TG_ERR_UNKNOWN);
    ck_assert_ptr_nonnull(strstr(tg_last_error(), "'beta3'"));
    ck_assert_int_eq(tg_optimizer_config_set(&c, "beta1", "0.9x"), TG_ERR_ATTR);
    ck_assert_int_eq(tg_optimizer_config_set(&c, "beta1", ""), TG_ERR_ATTR);
    ck_assert_double_eq(c.beta1, 0.9);

    c = tg_optimizer_defaults(TG_OPTIM_SGD);
    ck_assert_int_eq(tg_optimizer_config_set(&c, "nesterov", "1"), TG_OK);
    ck_assert_int_eq(c.nesterov, 1);
    ck_assert_int_eq(tg_optimizer_config_set(&c, "nesterov", "2"), TG_ERR_ATTR);
    ck_assert_int_eq(tg_optimizer_config_set(&c, "eps", "1e-8"), TG_ERR_ATTR);
}
END_TEST

/* The gradient norm is shared among the threads in pieces fixed by the length: the
 * same bits on 1, 2 and 3 threads, and within a few ulps of a long-double sum, for
 * lengths around the piece boundaries (a last piece of one float, of 8191, ...). */
START_TEST(test_grad_norm_is_exact_and_independent_of_thread_count) {
    const int64_t lengths[] = {5, 8193, 16385, 6000001};
    float *g = malloc(6000001 * sizeof *g);
    for (int64_t i = 0; i < 6000001; i++) g[i] = sinf(0.1f * (float)i) * (float)(1 + i % 7);
    for (int li = 0; li < 4; li++) {
        const int64_t n = lengths[li];
        long double ref = 0.0L;
        for (int64_t i = 0; i < n; i++) ref += (long double)g[i] * (long double)g[i];
        double norm[3];
#ifdef _OPENMP
        int threads = omp_get_max_threads();
        for (int t = 0; t < 3; t++) {
            omp_set_num_threads(t + 1);
            norm[t] = tg_grad_norm(g, n);
        }
        omp_set_num_threads(threads);
#else
        for (int t = 0; t < 3; t++) norm[t] = tg_grad_norm(g, n);
#endif
        ck_assert_mem_eq(&norm[0], &norm[1], sizeof(double));
        ck_assert_mem_eq(&norm[0], &norm[2], sizeof(double));
        ck_assert_msg(fabs(norm[0] - (double)sqrtl(ref)) <= 1e-13 * (double)sqrtl(ref),
                      "n %lld: norm %.17g, long-double reference %.17Lg", (long long)n, norm[0],
                      sqrtl(ref));
    }
    free(g);
}
END_TEST

START_TEST(test_clip_scales_exactly_to_max_norm) {
    float g[4] = {3.0f, -4.0f, 0.0f, 12.0f}; /* norm 13 */
    ck_assert_float_eq(tg_clip_grad_norm(g, 4, 1.0f), 13.0f);
    ck_assert_double_eq_tol(g[0], 3.0 / 13.0, 1e-7);
    ck_assert_double_eq_tol(g[1], -4.0 / 13.0, 1e-7);
    ck_assert_float_eq(g[2], 0.0f);
    ck_assert_double_eq_tol(g[3], 12.0 / 13.0, 1e-7);
    ck_assert_double_eq_tol(tg_grad_norm(g, 4), 1.0, 1e-7);
    /* Clipping the clipped gradients again changes (almost) nothing. */
    ck_assert_double_eq_tol(tg_clip_grad_norm(g, 4, 1.0f), 1.0, 1e-7);
}
END_TEST

START_TEST(test_clip_leaves_small_gradients_alone) {
    float g[3] = {0.3f, 0.4f, -0.1f}, orig[3];
    memcpy(orig, g, sizeof g);
    ck_assert_double_eq_tol(tg_clip_grad_norm(g, 3, 1.0f), sqrt(0.26), 1e-7);
    ck_assert_mem_eq(g, orig, sizeof g);
    /* +inf only measures. */
    float big[2] = {3e3f, 4e3f};
    ck_assert_float_eq(tg_clip_grad_norm(big, 2, INFINITY), 5e3f);
    ck_assert_float_eq(big[1], 4e3f);
    /* A sum of squares beyond float range is still measured right, in double. */
    float huge[2] = {3e30f, 4e30f};
    ck_assert_double_eq_tol(tg_clip_grad_norm(huge, 2, 1.0f), 5e30, 1e24);
    ck_assert_double_eq_tol(huge[0], 0.6, 1e-7);
}
END_TEST

START_TEST(test_clip_reports_nan_and_inf_and_leaves_grads) {
    float g[3] = {1.0f, NAN, 2.0f}, orig[3];
    memcpy(orig, g, sizeof g);
    tg_error_clear();
    ck_assert(isnan(tg_clip_grad_norm(g, 3, 1.0f)));
    ck_assert_mem_eq(g, orig, sizeof g);
    ck_assert_ptr_nonnull(strstr(tg_last_error(), "NaN"));
    float h[2] = {INFINITY, 1.0f};
    ck_assert(isinf(tg_clip_grad_norm(h, 2, 1.0f)));
    ck_assert_float_eq(h[1], 1.0f);
    ck_assert_ptr_nonnull(strstr(tg_last_error(), "Inf"));
    /* Finite floats whose norm overflows float are reported as Inf too. */
    float k[2] = {3e38f, 3e38f};
    ck_assert(isinf(tg_clip_grad_norm(k, 2, 1.0f)));
    ck_assert_float_eq(k[0], 3e38f);
    /* An invalid max_norm is an error, not a silent no-op. */
    float m[1] = {5.0f};
    ck_assert(isnan(tg_clip_grad_norm(m, 1, 0.0f)));
    ck_assert_ptr_nonnull(strstr(tg_last_error(), "max_norm"));
    ck_assert(isnan(tg_clip_grad_norm(m, 1, NAN)));
    ck_assert_float_eq(m[0], 5.0f);
}
END_TEST

/* ---- schedules */

/* Field by field: struct padding makes memcmp of two schedules meaningless. */
static int same_plateau_state(const tg_schedule *a, const tg_schedule *b) {
    return a->lr == b->lr && a->best == b->best && a->bad_epochs == b->bad_epochs &&
           a->cooldown_left == b->cooldown_left;
}

static tg_schedule make_schedule(tg_schedule_config c) {
    tg_schedule s;
    ck_assert_msg(tg_schedule_init(&s, &c) == TG_OK, "%s", tg_last_error());
    return s;
}

START_TEST(test_schedule_constant_step_exponential_by_hand) {
    tg_schedule s = make_schedule(tg_schedule_defaults(TG_SCHEDULE_CONSTANT, 0.3));
    ck_assert_double_eq(tg_schedule_lr(&s, 0), 0.3);
    ck_assert_double_eq(tg_schedule_lr(&s, 1000), 0.3);

    tg_schedule_config c = tg_schedule_defaults(TG_SCHEDULE_STEP, 0.1);
    c.step_size = 3;
    c.gamma = 0.5;
    s = make_schedule(c);
    const double step_want[] = {0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.025, 0.025, 0.025, 0.0125};
    for (int e = 0; e < 10; e++)
        ck_assert_double_eq_tol(tg_schedule_lr(&s, e), step_want[e], 1e-15);
    ck_assert_double_eq(tg_schedule_lr(&s, -4), 0.1);

    c = tg_schedule_defaults(TG_SCHEDULE_EXPONENTIAL, 2.0);
    c.gamma = 0.5;
    s = make_schedule(c);
    const double exp_want[] = {2.0, 1.0, 0.5, 0.25, 0.125};
    for (int e = 0; e < 5; e++) ck_assert_double_eq(tg_schedule_lr(&s, e), exp_want[e]);
    ck_assert_double_eq(tg_schedule_defaults(TG_SCHEDULE_STEP, 1).gamma, 0.1);
}
END_TEST

START_TEST(test_schedule_cosine_by_hand) {
    tg_schedule_config c = tg_schedule_defaults(TG_SCHEDULE_COSINE, 0.1);
    c.t_max = 4;
    c.min_lr = 0.001;
    tg_schedule s = make_schedule(c);
    /* cos(pi/4) = sqrt(2)/2: epoch 1 is min + (lr - min) * (1 + sqrt(2)/2) / 2. */
    const double r = sqrt(2.0) / 2.0;
    const double want[] = {0.1,   0.001 + 0.099 * (1 + r) / 2, 0.0505, 0.001 + 0.099 * (1 - r) / 2,
                           0.001, 0.001 + 0.099 * (1 - r) / 2};
    for (int e = 0; e < 6; e++) ck_assert_double_eq_tol(tg_schedule_lr(&s, e), want[e], 1e-15);
}
END_TEST

START_TEST(test_schedule_warmup_ramps_per_step_then_follows_the_schedule) {
    /* cosine over 4 epochs with a 2-epoch warm-up at 5 steps per epoch: step k of the first
     * 10 (0-based, counted across epochs) runs at (k + 1) / 10 of the epoch's cosine rate. */
    tg_schedule_config c = tg_schedule_defaults(TG_SCHEDULE_COSINE, 0.1);
    c.t_max = 4;
    ck_assert_int_eq(tg_schedule_config_set(&c, "warmup", "2"), TG_OK);
    tg_schedule s = make_schedule(c);
    for (int e = 0; e < 4; e++)
        for (int b = 0; b < 5; b++) {
            int k = e * 5 + b;
            double want = tg_schedule_lr(&s, e) * (k < 10 ? (k + 1) / 10.0 : 1.0);
            ck_assert_msg(fabs(tg_schedule_step_lr(&s, e, b, 5) - want) <= 1e-15,
                          "epoch %d step %d: %.17g, by hand %.17g", e, b,
                          tg_schedule_step_lr(&s, e, b, 5), want);
        }
    ck_assert_double_eq_tol(tg_schedule_step_lr(&s, 0, 0, 5), 0.01, 1e-15);
    ck_assert_double_eq(tg_schedule_step_lr(&s, 2, 0, 5), tg_schedule_lr(&s, 2));
    /* No warm-up: exactly the epoch's rate (runs without it are unchanged, bit for bit). */
    c.warmup = 0;
    s = make_schedule(c);
    for (int b = 0; b < 5; b++)
        ck_assert(tg_schedule_step_lr(&s, 1, b, 5) == tg_schedule_lr(&s, 1));
    int bad = -2;
    c.warmup = -1;
    ck_assert_int_eq(tg_schedule_config_validate(&c, &bad), TG_ERR_INVALID);
    ck_assert_str_eq(tg_schedule_setting_name(bad), "warmup");
}
END_TEST

START_TEST(test_schedule_plateau_min_rel_by_hand) {
    /* Traced by hand with PyTorch's rules: better means < best * 0.9; after more than 2 bad
     * epochs lr halves (floor 0.2) and one epoch of cooldown follows. */
    tg_schedule_config c = tg_schedule_defaults(TG_SCHEDULE_PLATEAU, 1.0);
    c.factor = 0.5;
    c.patience = 2;
    c.threshold = 0.1;
    c.cooldown = 1;
    c.min_lr = 0.2;
    tg_schedule s = make_schedule(c);
    const double metric[] = {10, 9.5, 9.2, 9.1, 9.3, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8};
    const double want[] = {1,    1,    1,    0.5, 0.5, 0.5, 0.5, 0.5, 0.25,
                           0.25, 0.25, 0.25, 0.2, 0.2, 0.2, 0.2, 0.2};
    ck_assert_double_eq(tg_schedule_lr(&s, 0), 1.0);
    for (int e = 0; e < 17; e++) {
        ck_assert_int_eq(tg_schedule_observe(&s, metric[e]), TG_OK);
        ck_assert_msg(tg_schedule_lr(&s, e + 1) == want[e], "epoch %d: lr %g, by hand %g", e,
                      tg_schedule_lr(&s, e + 1), want[e]);
    }
    ck_assert_double_eq(s.best, 8.0);
}
END_TEST

START_TEST(test_schedule_plateau_max_abs_by_hand) {
    /* mode max, threshold 0.01 absolute, patience 0: every epoch not 0.01 above the best
     * reduces lr tenfold. */
    tg_schedule_config c = tg_schedule_defaults(TG_SCHEDULE_PLATEAU, 0.1);
    ck_assert_int_eq(tg_schedule_config_set(&c, "mode", "max"), TG_OK);
    ck_assert_int_eq(tg_schedule_config_set(&c, "threshold_mode", "abs"), TG_OK);
    ck_assert_int_eq(tg_schedule_config_set(&c, "threshold", "0.01"), TG_OK);
    ck_assert_int_eq(tg_schedule_config_set(&c, "patience", "0"), TG_OK);
    tg_schedule s = make_schedule(c);
    const double metric[] = {0.5, 0.505, 0.6, 0.6};
    const double want[] = {0.1, 0.01, 0.01, 0.001};
    for (int e = 0; e < 4; e++) {
        ck_assert_int_eq(tg_schedule_observe(&s, metric[e]), TG_OK);
        ck_assert_double_eq_tol(tg_schedule_lr(&s, e + 1), want[e], 1e-17);
    }
}
END_TEST

START_TEST(test_schedule_plateau_resume_is_identical) {
    tg_schedule_config c = tg_schedule_defaults(TG_SCHEDULE_PLATEAU, 0.5);
    c.patience = 1;
    c.cooldown = 2;
    c.factor = 0.3;
    const double metric[] = {3, 2.9, 2.95, 2.99, 2.5, 2.6, 2.7, 2.7, 2.8, 2.4, 2.41, 2.42};
    tg_schedule a = make_schedule(c), b = make_schedule(c);
    double saved[4], lr_a[12];
    for (int e = 0; e < 12; e++) {
        if (e == 6) { /* mid-cooldown after the reduction at epoch 3 */
            ck_assert_int_eq(tg_schedule_state_count(&a), 4);
            for (int i = 0; i < 4; i++) saved[i] = tg_schedule_state_get(&a, i);
        }
        tg_schedule_observe(&a, metric[e]);
        lr_a[e] = tg_schedule_lr(&a, e + 1);
    }
    ck_assert(lr_a[11] < 0.5);
    const char *names[] = {"lr", "best", "bad_epochs", "cooldown_left"};
    for (int i = 0; i < 4; i++) {
        ck_assert_str_eq(tg_schedule_state_name(&b, i), names[i]);
        ck_assert_int_eq(tg_schedule_state_set(&b, i, saved[i]), TG_OK);
    }
    for (int e = 6; e < 12; e++) {
        tg_schedule_observe(&b, metric[e]);
        ck_assert(tg_schedule_lr(&b, e + 1) == lr_a[e]);
    }
    ck_assert(same_plateau_state(&a, &b));
    /* Bad state values are refused. */
    ck_assert_int_eq(tg_schedule_state_set(&b, 0, -1.0), TG_ERR_INVALID);
    ck_assert_int_eq(tg_schedule_state_set(&b, 2, 1.5), TG_ERR_INVALID);
    ck_assert_int_eq(tg_schedule_state_set(&b, 3, -1.0), TG_ERR_INVALID);
    ck_assert_int_eq(tg_schedule_state_set(&b, 1, NAN), TG_ERR_INVALID);
    ck_assert_int_eq(tg_schedule_state_set(&b, 4, 0.0), TG_ERR_INVALID);
    ck_assert(isnan(tg_schedule_state_get(&b, 4)));
    ck_assert_ptr_null(tg_schedule_state_name(&b, 4));
    /* Stateless kinds have nothing to save. */
    tg_schedule k = make_schedule(tg_schedule_defaults(TG_SCHEDULE_CONSTANT, 0.1));
    ck_assert_int_eq(tg_schedule_state_count(&k), 0);
}
END_TEST

START_TEST(test_schedule_plateau_refuses_nan_metric) {
    tg_schedule_config c = tg_schedule_defaults(TG_SCHEDULE_PLATEAU, 0.5);
    c.patience = 0;
    tg_schedule s = make_schedule(c);
    tg_schedule_observe(&s, 1.0);
    tg_schedule before = s;
    ck_assert_int_eq(tg_schedule_observe(&s, NAN), TG_ERR_NUMERIC);
    ck_assert_ptr_nonnull(strstr(tg_last_error(), "NaN"));
    ck_assert_int_eq(tg_schedule_observe(&s, -INFINITY), TG_ERR_NUMERIC);
    ck_assert(same_plateau_state(&s, &before));
    /* Other kinds ignore the metric. */
    tg_schedule k = make_schedule(tg_schedule_defaults(TG_SCHEDULE_CONSTANT, 0.1));
    ck_assert_int_eq(tg_schedule_observe(&k, NAN), TG_OK);
}
END_TEST

START_TEST(test_schedule_rejects_invalid_configs) {
    tg_schedule s;
    tg_schedule_config c = tg_schedule_defaults(TG_SCHEDULE_CONSTANT, 0.0);
    ck_assert_int_eq(tg_schedule_init(&s, &c), TG_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(tg_last_error(), "lr"));
    c = tg_schedule_defaults(TG_SCHEDULE_STEP, 0.1); /* step_size not set */
    ck_assert_int_eq(tg_schedule_init(&s, &c), TG_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(tg_last_error(), "step_size"));
    c.step_size = 2;
    c.gamma = 0.0;
    ck_assert_int_eq(tg_schedule_init(&s, &c), TG_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(tg_last_error(), "gamma"));
    c = tg_schedule_defaults(TG_SCHEDULE_EXPONENTIAL, 0.1);
    c.gamma = 1.5;
    ck_assert_int_eq(tg_schedule_init(&s, &c), TG_ERR_INVALID);
    c = tg_schedule_defaults(TG_SCHEDULE_COSINE, 0.1); /* t_max not set */
    ck_assert_int_eq(tg_schedule_init(&s, &c), TG_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(tg_last_error(), "t_max"));
    c.t_max = 10;
    c.min_lr = 0.2;
    ck_assert_int_eq(tg_schedule_init(&s, &c), TG_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(tg_last_error(), "min_lr"));
    c = tg_schedule_defaults(TG_SCHEDULE_PLATEAU, 0.1);
    c.factor = 1.0;
    ck_assert_int_eq(tg_schedule_init(&s, &c), TG_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(tg_last_error(), "factor"));
    c.factor = 0.5;
    c.patience = -1;
    ck_assert_int_eq(tg_schedule_init(&s, &c), TG_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(tg_last_error(), "patience"));
    c.patience = 3;
    c.threshold = -0.1;
    ck_assert_int_eq(tg_schedule_init(&s, &c), TG_ERR_INVALID);
    c.threshold = 0.1;
    c.cooldown = -2;
    ck_assert_int_eq(tg_schedule_init(&s, &c), TG_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(tg_last_error(), "cooldown"));
    c.cooldown = 0;
    ck_assert_int_eq(tg_schedule_init(&s, &c), TG_OK);
    ck_assert_int_eq(tg_schedule_config_validate(NULL, NULL), TG_ERR_INVALID);
}
END_TEST

START_TEST(test_schedule_names_and_settings_parse_from_text) {
    tg_schedule_kind k;
    const char *names[] = {"constant", "step", "exponential", "cosine", "plateau"};
    for (int i = 0; i < 5; i++) {
        ck_assert_int_eq(tg_schedule_kind_parse(names[i], &k), TG_OK);
        ck_assert_int_eq(k, i);
        ck_assert_str_eq(tg_schedule_kind_name(k), names[i]);
    }
    ck_assert_int_eq(tg_schedule_kind_parse("Cosine", &k), TG_OK);
    ck_assert_int_eq(tg_schedule_kind_parse("linear", &k), TG_ERR_UNKNOWN);
    ck_assert_ptr_nonnull(strstr(tg_last_error(), "'linear'"));

    tg_schedule_config c = tg_schedule_defaults(TG_SCHEDULE_COSINE, 0.1);
    ck_assert_int_eq(tg_schedule_config_set(&c, "t_max", "100"), TG_OK);
    ck_assert_int_eq(c.t_max, 100);
    ck_assert_int_eq(tg_schedule_config_set(&c, "lr", "3e-4"), TG_OK);
    ck_assert_double_eq(c.lr, 3e-4);
    ck_assert_int_eq(tg_schedule_config_set(&c, "t_max", "1.5"), TG_ERR_ATTR);
    ck_assert_ptr_nonnull(strstr(tg_last_error(), "whole number"));
    ck_assert_int_eq(tg_schedule_config_set(&c, "patience", "3"), TG_ERR_ATTR);
    ck_assert_ptr_nonnull(strstr(tg_last_error(), "cosine does not take 'patience'"));
    ck_assert_int_eq(tg_schedule_config_set(&c, "cycles", "3"), TG_ERR_UNKNOWN);
    ck_assert_int_eq(tg_schedule_config_set(&c, "warmup", "3"), TG_OK); /* every kind */
    ck_assert_int_eq(c.warmup, 3);
    c = tg_schedule_defaults(TG_SCHEDULE_PLATEAU, 0.1);
    ck_assert_int_eq(tg_schedule_config_set(&c, "mode", "maximum"), TG_ERR_ATTR);
    ck_assert_int_eq(tg_schedule_config_set(&c, "threshold_mode", "relative"), TG_ERR_ATTR);
    ck_assert_int_eq(tg_schedule_config_set(&c, "factor", "0.2"), TG_OK);
    ck_assert_double_eq(c.factor, 0.2);
    ck_assert_int_eq(tg_schedule_config_set(&c, "cooldown", "2"), TG_OK);
    ck_assert_int_eq(c.cooldown, 2);
}
END_TEST

/* One table per schema: every setting is found by its name, set from text and read
 * back as a number through the same table, and its kinds are the ones it is set on. */
START_TEST(test_setting_tables_round_trip_every_setting) {
    ck_assert_int_eq(tg_optimizer_setting_count(), 10);
    for (int i = 0; i < tg_optimizer_setting_count(); i++) {
        const char *name = tg_optimizer_setting_name(i);
        ck_assert_int_eq(tg_optimizer_setting_find(name), i);
        int used_by = 0;
        for (int k = TG_OPTIM_SGD; k <= TG_OPTIM_RMSPROP; k++) {
            tg_optimizer_config c = tg_optimizer_defaults((tg_optimizer_kind)k);
            tg_status st = tg_optimizer_config_set(&c, name, "1");
            ck_assert_int_eq(st, tg_optimizer_setting_used(i, (tg_optimizer_kind)k) ? TG_OK
                                                                                    : TG_ERR_ATTR);
            if (st == TG_OK) ck_assert(tg_optimizer_setting_get(&c, i) == 1.0);
            used_by += st == TG_OK;
        }
        ck_assert_msg(used_by > 0, "%s is read by no optimizer", name);
    }
    ck_assert_int_eq(tg_optimizer_setting_find("betta1"), -1);
    ck_assert_ptr_null(tg_optimizer_setting_name(10));
    tg_optimizer_config c = tg_optimizer_defaults(TG_OPTIM_SGD);
    ck_assert_int_eq(tg_optimizer_setting_put(&c, tg_optimizer_setting_find("nesterov"), 0.5),
                     TG_ERR_ATTR);
    int bad = -2;
    c.momentum = 2.0;
    ck_assert_int_eq(tg_optimizer_config_validate(&c, &bad), TG_ERR_INVALID);
    ck_assert_str_eq(tg_optimizer_setting_name(bad), "momentum");

    ck_assert_int_eq(tg_schedule_setting_count(), 12);
    for (int i = 0; i < tg_schedule_setting_count(); i++) {
        const char *name = tg_schedule_setting_name(i);
        ck_assert_int_eq(tg_schedule_setting_find(name), i);
        for (int k = TG_SCHEDULE_CONSTANT; k <= TG_SCHEDULE_PLATEAU; k++) {
            tg_schedule_config sc = tg_schedule_defaults((tg_schedule_kind)k, 0.1);
            const char *text = !strcmp(name, "mode")             ? "max"
                               : !strcmp(name, "threshold_mode") ? "abs"
                                                                 : "1";
            tg_status st = tg_schedule_config_set(&sc, name, text);
            ck_assert_int_eq(st, tg_schedule_setting_used(i, (tg_schedule_kind)k) ? TG_OK
                                                                                  : TG_ERR_ATTR);
            if (st == TG_OK) ck_assert(tg_schedule_setting_get(&sc, i) == 1.0);
        }
    }
    tg_schedule_config sc = tg_schedule_defaults(TG_SCHEDULE_COSINE, 0.1);
    ck_assert_int_eq(tg_schedule_setting_put(&sc, tg_schedule_setting_find("t_max"), 2.5),
                     TG_ERR_ATTR);
    ck_assert_int_eq(tg_schedule_config_validate(&sc, &bad), TG_ERR_INVALID); /* t_max unset */
    ck_assert_str_eq(tg_schedule_setting_name(bad), "t_max");
}
END_TEST

static Suite *optim_suite(void) {
    Suite *s = suite_create("optim");
    TCase *o = tcase_create("optimizers");
    tcase_add_test(o, test_sgd_plain_matches_hand_steps);
    tcase_add_test(o, test_sgd_momentum_matches_hand_steps);
    tcase_add_test(o, test_sgd_nesterov_matches_hand_steps);
    tcase_add_test(o, test_adam_matches_hand_steps);
    tcase_add_test(o, test_adamw_matches_hand_steps);
    tcase_add_test(o, test_adam_and_adamw_differ_only_by_decay_placement);
    tcase_add_test(o, test_rmsprop_matches_hand_steps);
    tcase_add_test(o, test_rmsprop_momentum_and_centered_match_hand_steps);
    tcase_add_test(o, test_optimizer_resume_is_bit_identical);
    tcase_add_test(o, test_optimizer_reset_forgets_state);
    tcase_add_test(o, test_ema_follows_the_parameters_by_hand);
    tcase_add_test(o, test_optimizer_step_result_is_independent_of_thread_count);
    tcase_add_test(o, test_optimizer_step_rejects_bad_calls);
    tcase_add_test(o, test_optimizer_rejects_invalid_configs);
    tcase_add_test(o, test_optimizer_names_and_settings_parse_from_text);
    suite_add_tcase(s, o);
    TCase *c = tcase_create("clipping");
    tcase_add_test(c, test_grad_norm_is_exact_and_independent_of_thread_count);
    tcase_add_test(c, test_clip_scales_exactly_to_max_norm);
    tcase_add_test(c, test_clip_leaves_small_gradients_alone);
    tcase_add_test(c, test_clip_reports_nan_and_inf_and_leaves_grads);
    suite_add_tcase(s, c);
    TCase *l = tcase_create("schedules");
    tcase_add_test(l, test_schedule_constant_step_exponential_by_hand);
    tcase_add_test(l, test_schedule_cosine_by_hand);
    tcase_add_test(l, test_schedule_warmup_ramps_per_step_then_follows_the_schedule);
    tcase_add_test(l, test_schedule_plateau_min_rel_by_hand);
    tcase_add_test(l, test_schedule_plateau_max_abs_by_hand);
    tcase_add_test(l, test_schedule_plateau_resume_is_identical);
    tcase_add_test(l, test_schedule_plateau_refuses_nan_metric);
    tcase_add_test(l, test_schedule_rejects_invalid_configs);
    tcase_add_test(l, test_schedule_names_and_settings_parse_from_text);
    tcase_add_test(l, test_setting_tables_round_trip_every_setting);
    suite_add_tcase(s, l);
    return s;
}

int main(void) {
    return tg_check_run(optim_suite());
}
