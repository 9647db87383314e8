/* Augmentation by inverse mapping: each output pixel samples the source
 * bilinearly at the rotated, shifted, flipped position, so there are no holes. */
#include "datasets/tg_augment.h"

#include <math.h>
#include <string.h>

tg_augment tg_augment_default(void) {
    tg_augment a;
    memset(&a, 0, sizeof a);
    a.max_shift = 0.05f;
    a.max_rotate_deg = 5.0f;
    a.brightness = 0.05f;
    a.contrast = 0.1f;
    a.gamma = 0.4f; /* g in [0.67, 1.49] */
    return a;
}

int tg_augment_active(const tg_augment *a) {
    return a && (a->max_shift > 0 || a->max_rotate_deg > 0 || a->hflip || a->vflip ||
                 a->brightness > 0 || a->contrast > 0 || a->gamma > 0);
}

/* Always seven draws, so turning one option on does not shift the others' stream. */
typedef struct draws {
    float dx, dy, rot, b, c, g;
    double flip;
} draws;

static draws draw(tg_rng *rng) {
    draws u;
    u.dx = tg_rng_uniform_range(rng, -1, 1);
    u.dy = tg_rng_uniform_range(rng, -1, 1);
    u.rot = tg_rng_uniform_range(rng, -1, 1);
    u.flip = tg_rng_uniform(rng);
    u.b = tg_rng_uniform_range(rng, -1, 1);
    u.c = tg_rng_uniform_range(rng, -1, 1);
    u.g = tg_rng_uniform_range(rng, -1, 1);
    return u;
}

void tg_augment_skip(tg_rng *rng, size_t images) {
    for (size_t i = 0; i < images; i++) (void)draw(rng);
}

/* Mean and standard deviation of v[0, n). */
static void moments(const float *v, size_t n, float *mean, float *sd) {
    double s = 0, ss = 0;
    for (size_t i = 0; i < n; i++) s += v[i];
    const double m = s / (double)n;
    for (size_t i = 0; i < n; i++) ss += ((double)v[i] - m) * ((double)v[i] - m);
    *mean = (float)m;
    *sd = (float)sqrt(ss / (double)n);
}

/* v^g on the image's own range, then its mean and sd as before: the ratio of dark
 * to bright structures changes (lungs against soft tissue in an X-ray), which an
 * affine change of brightness and contrast, undone by standardising, cannot do. */
static void apply_gamma(float *v, size_t n, float g) {
    float lo = v[0], hi = v[0], m0, s0, m1, s1;
    for (size_t i = 1; i < n; i++) {
        lo = v[i] < lo ? v[i] : lo;
        hi = v[i] > hi ? v[i] : hi;
    }
    if (!(hi > lo)) return;
    moments(v, n, &m0, &s0);
    for (size_t i = 0; i < n; i++) v[i] = powf((v[i] - lo) / (hi - lo), g);
    moments(v, n, &m1, &s1);
    const float k = s1 > 0 ? s0 / s1 : 0.0f;
    for (size_t i = 0; i < n; i++) v[i] = (v[i] - m1) * k + m0;
}

void tg_augment_apply(const tg_augment *a, const float *src, float *dst, int w, int h,
                      tg_rng *rng) {
    draws u = draw(rng);
    float u_dx = u.dx, u_dy = u.dy, u_rot = u.rot, u_b = u.b, u_c = u.c;
    double u_flip = u.flip;
    size_t n = (size_t)w * (size_t)h;
    if (!tg_augment_active(a)) {
        memcpy(dst, src, n * sizeof *dst);
        return;
    }
    float dx = u_dx * a->max_shift * (float)w, dy = u_dy * a->max_shift * (float)h;
    double th = u_rot * a->max_rotate_deg * M_PI / 180.0;
    float ct = (float)cos(th), sn = (float)sin(th);
    int fx = a->hflip && u_flip < 0.5, fy = a->vflip && fmod(u_flip * 4.0, 1.0) < 0.5;
    float cx = 0.5f * (float)(w - 1), cy = 0.5f * (float)(h - 1);
    for (int y = 0; y < h; y++) {
        for (int x = 0; x < w; x++) {
            /* Output -> source: undo the shift, then the rotation, then the flip. */
            float ox = (float)x - cx - dx, oy = (float)y - cy - dy;
            float sx = ct * ox + sn * oy + cx, sy = -sn * ox + ct * oy + cy;
            if (fx) sx = (float)(w - 1) - sx;
            if (fy) sy = (float)(h - 1) - sy;
            float v = a->fill;
            if (sx > -1.0f && sy > -1.0f && sx < (float)w && sy < (float)h) {
                int x0 = (int)floorf(sx), y0 = (int)floorf(sy);
                float fxw = sx - (float)x0, fyw = sy - (float)y0, acc = 0;
                for (int j = 0; j < 2; j++)
                    for (int i = 0; i < 2; i++) {
                        int xx = x0 + i, yy = y0 + j;
                        float wgt = (i ? fxw : 1 - fxw) * (j ? fyw : 1 - fyw);
                        float s = (xx >= 0 && yy >= 0 && xx < w && yy < h)
                                      ? src[(size_t)yy * (size_t)w + (size_t)xx]
                                      : a->fill;
                        acc += wgt * s;
                    }
                v = acc;
            }
            dst[(size_t)y * (size_t)w + (size_t)x] = v;
        }
    }
    if (a->gamma > 0) apply_gamma(dst, n, expf(u.g * a->gamma));
    if (a->brightness > 0 || a->contrast > 0) {
        double mean = 0;
        for (size_t i = 0; i < n; i++) mean += dst[i];
        float m = (float)(mean / (double)n);
        float gain = 1.0f + u_c * a->contrast, off = u_b * a->brightness;
        for (size_t i = 0; i < n; i++) dst[i] = (dst[i] - m) * gain + m + off;
    }
}
