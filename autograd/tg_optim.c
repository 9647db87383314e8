/* Optimizer steps as single elementwise loops over the flat buffers. Scalars that
 * depend on the step (bias corrections) are computed once in double; the per-element
 * arithmetic is float, as in PyTorch, and independent of the thread count. */
#include "autograd/tg_optim.h"

#include <math.h>
#include <stdio.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "autograd/tg_setting.h"

/* Below this many parameters a step runs on one thread: spawning costs more. */
#define TG_OPTIM_PARALLEL_MIN 32768
#ifdef _OPENMP
#define TG_OPTIM_FOR _Pragma("omp parallel for simd if (n >= TG_OPTIM_PARALLEL_MIN)")
#else
#define TG_OPTIM_FOR
#endif

#define TG_OPTIM_MAX_STATE 4 /* rmsprop with momentum and centering, and an ema */

struct tg_optimizer {
    tg_optimizer_config cfg;
    int64_t n;
    int64_t steps;
    int n_state;
    const char *state_name[TG_OPTIM_MAX_STATE];
    float *state[TG_OPTIM_MAX_STATE];
};

static const char *const kind_names[] = {"sgd", "adam", "adamw", "rmsprop"};
#define N_KINDS ((int)(sizeof kind_names / sizeof kind_names[0]))

tg_optimizer_config tg_optimizer_defaults(tg_optimizer_kind kind) {
    tg_optimizer_config c = {0};
    c.kind = kind;
    c.beta1 = 0.9;
    c.beta2 = 0.999;
    c.eps = 1e-8;
    c.alpha = 0.99;
    if (kind == TG_OPTIM_ADAMW) c.weight_decay = 0.01;
    return c;
}

tg_status tg_optimizer_kind_parse(const char *name, tg_optimizer_kind *kind) {
    for (int k = 0; name && k < N_KINDS; k++) {
        if (strcasecmp(name, kind_names[k]) == 0) {
            *kind = (tg_optimizer_kind)k;
            return TG_OK;
        }
    }
    return tg_error(TG_ERR_UNKNOWN, "unknown optimizer '%s' (expected sgd, adam, adamw or rmsprop)",
                    name ? name : "(null)");
}

const char *tg_optimizer_kind_name(tg_optimizer_kind kind) {
    return (int)kind >= 0 && (int)kind < N_KINDS ? kind_names[kind] : "?";
}

/* Which kinds use which key: bit k set when kind k reads the field. */
#define K_SGD (1u << TG_OPTIM_SGD)
#define K_ADAM (1u << TG_OPTIM_ADAM)
#define K_ADAMW (1u << TG_OPTIM_ADAMW)
#define K_RMS (1u << TG_OPTIM_RMSPROP)

/* The optimizer's settings: the one table that the text setter, the model-file
 * parser, the checkpoint writer and loader read (through tg_optimizer_setting_*). */
#define REAL(name, kinds)                                                                          \
    { #name, kinds, TG_SETTING_REAL, offsetof(tg_optimizer_config, name), NULL }
#define FLAG(name, kinds)                                                                          \
    { #name, kinds, TG_SETTING_FLAG, offsetof(tg_optimizer_config, name), NULL }
static const tg_setting config_keys[] = {
    REAL(momentum, K_SGD | K_RMS),
    REAL(dampening, K_SGD),
    FLAG(nesterov, K_SGD),
    REAL(weight_decay, K_SGD | K_ADAM | K_ADAMW | K_RMS),
    REAL(beta1, K_ADAM | K_ADAMW),
    REAL(beta2, K_ADAM | K_ADAMW),
    REAL(eps, K_ADAM | K_ADAMW | K_RMS),
    REAL(alpha, K_RMS),
    FLAG(centered, K_RMS),
    REAL(ema, K_SGD | K_ADAM | K_ADAMW | K_RMS),
};
static const tg_settings settings = {config_keys, (int)(sizeof config_keys / sizeof config_keys[0]),
                                     "optimizer"};

int tg_optimizer_setting_count(void) {
    return settings.n;
}
const char *tg_optimizer_setting_name(int i) {
    return i >= 0 && i < settings.n ? config_keys[i].key : NULL;
}
int tg_optimizer_setting_find(const char *name) {
    return tg_settings_find(&settings, name);
}
int tg_optimizer_setting_used(int i, tg_optimizer_kind kind) {
    return tg_settings_used(&settings, i, (int)kind);
}
double tg_optimizer_setting_get(const tg_optimizer_config *cfg, int i) {
    return tg_settings_get(&settings, cfg, i);
}
tg_status tg_optimizer_setting_put(tg_optimizer_config *cfg, int i, double v) {
    return tg_settings_put(&settings, cfg, i, v, tg_optimizer_kind_name(cfg->kind));
}

tg_status tg_optimizer_config_set(tg_optimizer_config *cfg, const char *key, const char *value) {
    if ((int)cfg->kind < 0 || (int)cfg->kind >= N_KINDS)
        return tg_error(TG_ERR_INVALID, "optimizer: kind %d is not a known optimizer",
                        (int)cfg->kind);
    return tg_settings_set_text(&settings, cfg, (int)cfg->kind, tg_optimizer_kind_name(cfg->kind),
                                key, value);
}

/* 1 when lo <= v < hi (hi_open) or lo <= v <= hi; NaN fails every range. */
static int in_range(double v, double lo, double hi, int hi_open) {
    return v >= lo && (hi_open ? v < hi : v <= hi);
}

/* A validation error about setting `key`: its index goes to *bad_setting. */
#define bad(bad_setting, key, ...) tg_settings_invalid(&settings, bad_setting, key, __VA_ARGS__)

tg_status tg_optimizer_config_validate(const tg_optimizer_config *c, int *bad_setting) {
    if (bad_setting) *bad_setting = -1;
    if (!c) return tg_error(TG_ERR_INVALID, "optimizer: config is NULL");
    if ((int)c->kind < 0 || (int)c->kind >= N_KINDS)
        return tg_error(TG_ERR_INVALID, "optimizer: kind %d is not a known optimizer",
                        (int)c->kind);
    const char *k = kind_names[c->kind];
    if (!in_range(c->weight_decay, 0.0, INFINITY, 1))
        return bad(bad_setting, "weight_decay", "%s: weight_decay must be finite and >= 0, got %g",
                   k, c->weight_decay);
    if (!in_range(c->ema, 0.0, 1.0, 1))
        return bad(bad_setting, "ema", "%s: ema must be in [0,1), got %g", k, c->ema);
    switch (c->kind) {
    case TG_OPTIM_SGD:
        if (!in_range(c->momentum, 0.0, 1.0, 1))
            return bad(bad_setting, "momentum", "sgd: momentum must be in [0,1), got %g",
                       c->momentum);
        if (!in_range(c->dampening, 0.0, 1.0, 0))
            return bad(bad_setting, "dampening", "sgd: dampening must be in [0,1], got %g",
                       c->dampening);
        if (c->nesterov != 0 && c->nesterov != 1)
            return bad(bad_setting, "nesterov", "sgd: nesterov must be 0 or 1, got %d",
                       c->nesterov);
        if (c->nesterov && (c->momentum <= 0.0 || c->dampening != 0.0))
            return bad(bad_setting, "nesterov",
                       "sgd: nesterov needs momentum > 0 and dampening 0, got momentum %g, "
                       "dampening %g",
                       c->momentum, c->dampening);
        break;
    case TG_OPTIM_ADAM:
    case TG_OPTIM_ADAMW:
        if (!in_range(c->beta1, 0.0, 1.0, 1))
            return bad(bad_setting, "beta1", "%s: beta1 must be in [0,1), got %g", k, c->beta1);
        if (!in_range(c->beta2, 0.0, 1.0, 1))
            return bad(bad_setting, "beta2", "%s: beta2 must be in [0,1), got %g", k, c->beta2);
        if (!(c->eps > 0.0 && isfinite(c->eps)))
            return bad(bad_setting, "eps", "%s: eps must be finite and > 0, got %g", k, c->eps);
        break;
    case TG_OPTIM_RMSPROP:
        if (!in_range(c->alpha, 0.0, 1.0, 1))
            return bad(bad_setting, "alpha", "rmsprop: alpha must be in [0,1), got %g", c->alpha);
        if (!(c->eps > 0.0 && isfinite(c->eps)))
            return bad(bad_setting, "eps", "rmsprop: eps must be finite and > 0, got %g", c->eps);
        if (!in_range(c->momentum, 0.0, 1.0, 1))
            return bad(bad_setting, "momentum", "rmsprop: momentum must be in [0,1), got %g",
                       c->momentum);
        if (c->centered != 0 && c->centered != 1)
            return bad(bad_setting, "centered", "rmsprop: centered must be 0 or 1, got %d",
                       c->centered);
        break;
    }
    return TG_OK;
}

tg_optimizer *tg_optimizer_new(const tg_optimizer_config *cfg, int64_t n) {
    if (tg_optimizer_config_validate(cfg, NULL) != TG_OK) return NULL;
    if (n < 1) {
        tg_error(TG_ERR_INVALID, "%s: the number of parameters must be >= 1, got %lld",
                 kind_names[cfg->kind], (long long)n);
        return NULL;
    }
    tg_optimizer *opt = calloc(1, sizeof *opt);
    if (!opt) goto nomem;
    opt->cfg = *cfg;
    opt->n = n;
    switch (cfg->kind) {
    case TG_OPTIM_SGD:
        if (cfg->momentum > 0.0) opt->state_name[opt->n_state++] = "momentum_buffer";
        break;
    case TG_OPTIM_ADAM:
    case TG_OPTIM_ADAMW:
        opt->state_name[opt->n_state++] = "exp_avg";
        opt->state_name[opt->n_state++] = "exp_avg_sq";
        break;
    case TG_OPTIM_RMSPROP:
        opt->state_name[opt->n_state++] = "square_avg";
        if (cfg->momentum > 0.0) opt->state_name[opt->n_state++] = "momentum_buffer";
        if (cfg->centered) opt->state_name[opt->n_state++] = "grad_avg";
        break;
    }
    if (cfg->ema > 0.0) opt->state_name[opt->n_state++] = "ema"; /* last: tg_optimizer_step */
    for (int i = 0; i < opt->n_state; i++) {
        opt->state[i] = calloc((size_t)n, sizeof(float));
        if (!opt->state[i]) goto nomem;
    }
    return opt;
nomem:
    tg_optimizer_free(opt);
    tg_error(TG_ERR_NOMEM, "%s: out of memory for %lld parameters of state", kind_names[cfg->kind],
             (long long)n);
    return NULL;
}

void tg_optimizer_free(tg_optimizer *opt) {
    if (!opt) return;
    for (int i = 0; i < opt->n_state; i++) free(opt->state[i]);
    free(opt);
}

void tg_optimizer_reset(tg_optimizer *opt) {
    opt->steps = 0;
    for (int i = 0; i < opt->n_state; i++) memset(opt->state[i], 0, (size_t)opt->n * sizeof(float));
}

const tg_optimizer_config *tg_optimizer_config_of(const tg_optimizer *opt) {
    return &opt->cfg;
}
int64_t tg_optimizer_size(const tg_optimizer *opt) {
    return opt->n;
}
int64_t tg_optimizer_steps(const tg_optimizer *opt) {
    return opt->steps;
}
int tg_optimizer_state_count(const tg_optimizer *opt) {
    return opt->n_state;
}

tg_status tg_optimizer_set_steps(tg_optimizer *opt, int64_t steps) {
    if (steps < 0)
        return tg_error(TG_ERR_INVALID, "optimizer: step count must be >= 0, got %lld",
                        (long long)steps);
    opt->steps = steps;
    return TG_OK;
}

const char *tg_optimizer_state_name(const tg_optimizer *opt, int i) {
    return i >= 0 && i < opt->n_state ? opt->state_name[i] : NULL;
}

float *tg_optimizer_state_data(tg_optimizer *opt, int i) {
    return i >= 0 && i < opt->n_state ? opt->state[i] : NULL;
}

int tg_optimizer_state_find(const tg_optimizer *opt, const char *name) {
    for (int i = 0; i < opt->n_state; i++)
        if (strcmp(opt->state_name[i], name) == 0) return i;
    return -1;
}

/* SGD (torch.optim.SGD): d = g + wd*p; with momentum, buf = d on the first step and
 * mu*buf + (1-dampening)*d after; Nesterov steps along d + mu*buf, otherwise along buf. */
static void sgd_step(tg_optimizer *opt, float *restrict p, const float *restrict g, int64_t n,
                     float lr) {
    const float wd = (float)opt->cfg.weight_decay;
    if (opt->cfg.momentum <= 0.0) { /* no buffer (state 0, if any, is the ema) */
        TG_OPTIM_FOR
        for (int64_t i = 0; i < n; i++) p[i] -= lr * (g[i] + wd * p[i]);
        return;
    }
    float *restrict buf = opt->state[0];
    const float mu = (float)opt->cfg.momentum;
    /* On the first step buf is zero, and 0*buf + 1*d == d exactly. */
    const float keep = opt->steps == 0 ? 0.0f : mu;
    const float take = opt->steps == 0 ? 1.0f : (float)(1.0 - opt->cfg.dampening);
    if (opt->cfg.nesterov) {
        TG_OPTIM_FOR
        for (int64_t i = 0; i < n; i++) {
            float d = g[i] + wd * p[i];
            float b = keep * buf[i] + take * d;
            buf[i] = b;
            p[i] -= lr * (d + mu * b);
        }
    } else {
        TG_OPTIM_FOR
        for (int64_t i = 0; i < n; i++) {
            float d = g[i] + wd * p[i];
            float b = keep * buf[i] + take * d;
            buf[i] = b;
            p[i] -= lr * b;
        }
    }
}

/* Adam and AdamW (torch.optim.Adam/AdamW): AdamW first decays p by (1 - lr*wd); Adam adds
 * wd*p to the gradient. Then m = b1*m + (1-b1)*g, v = b2*v + (1-b2)*g^2 and
 * p -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps). */
static void adam_step(tg_optimizer *opt, float *restrict p, const float *restrict g, int64_t n,
                      float lr) {
    const tg_optimizer_config *c = &opt->cfg;
    const double t = (double)(opt->steps + 1);
    const int decoupled = c->kind == TG_OPTIM_ADAMW;
    const float decay = decoupled ? (float)(1.0 - (double)lr * c->weight_decay) : 1.0f;
    const float l2 = decoupled ? 0.0f : (float)c->weight_decay;
    const float b1 = (float)c->beta1, b2 = (float)c->beta2;
    const float a1 = (float)(1.0 - c->beta1), a2 = (float)(1.0 - c->beta2);
    const float step_size = (float)((double)lr / (1.0 - pow(c->beta1, t)));
    const float bc2_sqrt = (float)sqrt(1.0 - pow(c->beta2, t));
    const float eps = (float)c->eps;
    float *restrict m = opt->state[0], *restrict v = opt->state[1];
    TG_OPTIM_FOR
    for (int64_t i = 0; i < n; i++) {
        float pi = p[i] * decay;
        float gi = g[i] + l2 * pi;
        float mi = b1 * m[i] + a1 * gi;
        float vi = b2 * v[i] + a2 * gi * gi;
        m[i] = mi;
        v[i] = vi;
        p[i] = pi - step_size * mi / (sqrtf(vi) / bc2_sqrt + eps);
    }
}

/* RMSprop (torch.optim.RMSprop): g += wd*p; v = alpha*v + (1-alpha)*g^2; centered also
 * tracks ga = alpha*ga + (1-alpha)*g and uses v - ga^2 (clamped at 0 against rounding);
 * avg = sqrt(.) + eps; with momentum buf = mu*buf + g/avg, p -= lr*buf, else p -= lr*g/avg.
 * The two optional buffers make this loop branchy; it is not worth four copies. */
static void rmsprop_step(tg_optimizer *opt, float *restrict p, const float *restrict g, int64_t n,
                         float lr) {
    const tg_optimizer_config *c = &opt->cfg;
    const float wd = (float)c->weight_decay, eps = (float)c->eps;
    const float al = (float)c->alpha, a1 = (float)(1.0 - c->alpha), mu = (float)c->momentum;
    int s = 0;
    float *restrict v = opt->state[s++];
    float *restrict buf = c->momentum > 0.0 ? opt->state[s++] : NULL;
    float *restrict ga = c->centered ? opt->state[s++] : NULL;
    TG_OPTIM_FOR
    for (int64_t i = 0; i < n; i++) {
        float gi = g[i] + wd * p[i];
        float vi = al * v[i] + a1 * gi * gi;
        v[i] = vi;
        float var = vi;
        if (ga) {
            float gai = al * ga[i] + a1 * gi;
            ga[i] = gai;
            var = fmaxf(vi - gai * gai, 0.0f);
        }
        float u = gi / (sqrtf(var) + eps);
        if (buf) {
            u += mu * buf[i];
            buf[i] = u;
        }
        p[i] -= lr * u;
    }
}

/* The moving average of the parameters after step t = opt->steps (1 on the first step, where
 * it starts from the parameters): decay min(ema, (1 + t) / (10 + t)), TensorFlow's
 * ExponentialMovingAverage with num_updates, so the first steps' weights, drawn at
 * initialisation, fade within a few dozen steps. */
static void ema_step(tg_optimizer *opt, const float *restrict p, int64_t n) {
    float *restrict avg = opt->state[opt->n_state - 1];
    const double t = (double)opt->steps, warm = (1.0 + t) / (10.0 + t);
    const double d = opt->cfg.ema < warm ? opt->cfg.ema : warm;
    if (opt->steps == 1) memcpy(avg, p, (size_t)n * sizeof *avg);
    TG_OPTIM_FOR
    for (int64_t i = 0; i < n; i++) avg[i] = (float)(d * avg[i] + (1.0 - d) * p[i]);
}

tg_status tg_optimizer_step(tg_optimizer *opt, float *params, const float *grads, int64_t n,
                            float lr) {
    if (!opt || !params || !grads)
        return tg_error(TG_ERR_INVALID, "optimizer step: optimizer, params and grads must not "
                                        "be NULL");
    const char *k = kind_names[opt->cfg.kind];
    if (n != opt->n)
        return tg_error(TG_ERR_MISMATCH,
                        "%s step: %lld parameters given, the optimizer was made for %lld", k,
                        (long long)n, (long long)opt->n);
    if (!(lr >= 0.0f && isfinite(lr)))
        return tg_error(TG_ERR_INVALID, "%s step: lr must be finite and >= 0, got %g", k,
                        (double)lr);
    switch (opt->cfg.kind) {
    case TG_OPTIM_SGD:
        sgd_step(opt, params, grads, n, lr);
        break;
    case TG_OPTIM_ADAM:
    case TG_OPTIM_ADAMW:
        adam_step(opt, params, grads, n, lr);
        break;
    case TG_OPTIM_RMSPROP:
        rmsprop_step(opt, params, grads, n, lr);
        break;
    }
    opt->steps++;
    if (opt->cfg.ema > 0.0) ema_step(opt, params, n);
    return TG_OK;
}

/* The squares of x[0..n) summed in double by eight accumulators, element i into
 * accumulator i % 8, then added in order: independent chains the compiler may
 * vectorise without changing a bit of the result. */
static double sum_squares(const float *x, int64_t n) {
    double acc[8] = {0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++) acc[k] += (double)x[i + k] * (double)x[i + k];
    for (; i < n; i++) acc[i % 8] += (double)x[i] * (double)x[i];
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

/* At most this many pieces, and pieces of at least this many floats. */
#define NORM_PIECES 1024
#define NORM_PIECE_MIN 8192

double tg_grad_norm(const float *grads, int64_t n) {
    /* Pieces of a size fixed by n alone, summed in order: the same norm on any
     * number of threads. */
    int64_t piece = (n + NORM_PIECES - 1) / NORM_PIECES;
    if (piece < NORM_PIECE_MIN) piece = NORM_PIECE_MIN;
    const int pieces = (int)((n + piece - 1) / piece);
    double part[NORM_PIECES];
#pragma omp parallel for schedule(static) if (pieces > 1)
    for (int p = 0; p < pieces; p++) {
        const int64_t lo = (int64_t)p * piece;
        part[p] = sum_squares(grads + lo, n - lo < piece ? n - lo : piece);
    }
    double sum = 0.0;
    for (int p = 0; p < pieces; p++) sum += part[p];
    return sqrt(sum);
}

float tg_clip_grad_norm(float *grads, int64_t n, float max_norm) {
    if (!(max_norm > 0.0f)) {
        tg_error(TG_ERR_INVALID, "clip_grad_norm: max_norm must be > 0, got %g", (double)max_norm);
        return NAN;
    }
    double norm = tg_grad_norm(grads, n);
    if (!isfinite((float)norm)) { /* beyond FLT_MAX counts as Inf: the run has diverged */
        tg_error(TG_ERR_NUMERIC,
                 "clip_grad_norm: the gradient norm is %s; the run has diverged (lower the "
                 "learning rate or clip harder)",
                 isnan(norm) ? "NaN" : "Inf");
        return isnan(norm) ? NAN : INFINITY;
    }
    if (norm > (double)max_norm) {
        const double scale = (double)max_norm / norm;
        TG_OPTIM_FOR
        for (int64_t i = 0; i < n; i++) grads[i] = (float)((double)grads[i] * scale);
    }
    return (float)norm;
}
