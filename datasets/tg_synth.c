/* Synthetic chest radiographs. Geometry is in units of the image size so any
 * resolution looks alike. Anatomy is drawn per patient and jittered per image,
 * so several images of one patient are alike but not identical (which is what
 * makes a leak across splits visible). Intensities: air dark, bone bright. */
#include "datasets/tg_synth.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "datasets/tg_ds_util.h"
#include "datasets/tg_image.h"

tg_synth_opts tg_synth_opts_default(void) {
    tg_synth_opts o = {280, 70, 0, 256, 256, 0.5f, 1};
    return o;
}

typedef struct anatomy {
    float cx, cy;         /* chest centre */
    float lung_w, lung_h; /* lung half-axes */
    float lung_dx;        /* lung centre offset from the midline */
    float tilt;           /* lung tilt, radians */
    float heart_r, heart_dx;
    float rib_spacing, rib_curve, rib_phase;
    float tissue, air; /* soft-tissue and lung brightness */
} anatomy;

static float U(tg_rng *r, float lo, float hi) {
    return tg_rng_uniform_range(r, lo, hi);
}

static void draw_anatomy(anatomy *a, tg_rng *r) {
    a->cx = U(r, 0.47f, 0.53f);
    a->cy = U(r, 0.50f, 0.56f);
    a->lung_w = U(r, 0.13f, 0.17f);
    a->lung_h = U(r, 0.26f, 0.32f);
    a->lung_dx = U(r, 0.18f, 0.22f);
    a->tilt = U(r, -0.12f, 0.12f);
    a->heart_r = U(r, 0.11f, 0.15f);
    a->heart_dx = U(r, 0.03f, 0.08f);
    a->rib_spacing = U(r, 0.060f, 0.075f);
    a->rib_curve = U(r, 1.2f, 2.0f);
    a->rib_phase = U(r, 0.0f, 1.0f);
    a->tissue = U(r, 0.50f, 0.62f);
    a->air = U(r, 0.12f, 0.22f);
}

/* Per-image jitter of a patient's anatomy (positioning, exposure). */
static void jitter(anatomy *a, tg_rng *r) {
    a->cx += U(r, -0.015f, 0.015f);
    a->cy += U(r, -0.015f, 0.015f);
    a->tilt += U(r, -0.03f, 0.03f);
    a->tissue *= U(r, 0.95f, 1.05f);
    a->air *= U(r, 0.9f, 1.1f);
}

static float smoothstep(float e0, float e1, float x) {
    float t = (x - e0) / (e1 - e0);
    t = t < 0 ? 0 : t > 1 ? 1 : t;
    return t * t * (3 - 2 * t);
}

/* 1 inside the ellipse, 0 outside, with a soft rim of relative width `soft`. */
static float ellipse(float x, float y, float cx, float cy, float rx, float ry, float soft) {
    float dx = (x - cx) / rx, dy = (y - cy) / ry;
    return 1.0f - smoothstep(1.0f - soft, 1.0f + soft, sqrtf(dx * dx + dy * dy));
}

/* Smooth value noise on a g x g lattice, bilinearly interpolated; in [-1,1]. */
typedef struct noise {
    int g;
    float v[17 * 17];
} noise;

static void noise_init(noise *n, int g, tg_rng *r) {
    n->g = g;
    for (int i = 0; i < (g + 1) * (g + 1); i++) n->v[i] = U(r, -1, 1);
}

static float noise_at(const noise *n, float x, float y) {
    float gx = x * (float)n->g, gy = y * (float)n->g;
    int i = (int)gx, j = (int)gy;
    if (i < 0) i = 0;
    if (j < 0) j = 0;
    if (i >= n->g) i = n->g - 1;
    if (j >= n->g) j = n->g - 1;
    float fx = smoothstep(0, 1, gx - (float)i), fy = smoothstep(0, 1, gy - (float)j);
    const float *v = n->v;
    int s = n->g + 1;
    return (1 - fy) * ((1 - fx) * v[j * s + i] + fx * v[j * s + i + 1]) +
           fy * ((1 - fx) * v[(j + 1) * s + i] + fx * v[(j + 1) * s + i + 1]);
}

typedef struct blob {
    float x, y, r, amp;
} blob;

#define MAX_BLOBS 8

/* A point inside one lung, biased to the lower and outer zones where COVID-19
 * ground-glass opacities are typically seen. */
static void lung_point(const anatomy *a, tg_rng *r, float *x, float *y) {
    float side = tg_rng_uniform(r) < 0.5 ? -1.0f : 1.0f;
    float t = (float)sqrt(tg_rng_uniform(r)); /* more mass towards the rim */
    float ang = U(r, 0, 2 * (float)M_PI);
    float px = t * cosf(ang) * 0.8f, py = t * sinf(ang) * 0.8f;
    if (py < 0 && tg_rng_uniform(r) < 0.6) py = -py;        /* lower zones */
    if (px * side < 0 && tg_rng_uniform(r) < 0.6) px = -px; /* peripheral */
    *x = a->cx + side * a->lung_dx + px * a->lung_w;
    *y = a->cy - 0.04f + py * a->lung_h;
}

static void render(const anatomy *a, int positive, float d, float *out, int w, int h, tg_rng *r) {
    /* Lesions: positives get diffuse opacities; at higher difficulty negatives
     * may carry one small faint nodule-like distractor. */
    blob bl[MAX_BLOBS];
    int nb = 0;
    if (positive) {
        nb = 1 + (int)tg_rng_below(r, d < 0.5f ? 4 : 3);
        for (int k = 0; k < nb; k++) {
            lung_point(a, r, &bl[k].x, &bl[k].y);
            bl[k].r = U(r, 0.06f, 0.14f);
            bl[k].amp = U(r, 0.6f, 1.0f) * 0.40f * (1.0f - 0.75f * d);
        }
    } else if (tg_rng_uniform(r) < 0.6 * d) {
        lung_point(a, r, &bl[0].x, &bl[0].y);
        bl[0].r = U(r, 0.02f, 0.04f);
        bl[0].amp = U(r, 0.3f, 0.6f) * 0.40f * (1.0f - 0.75f * d);
        nb = 1;
    }
    noise tex, shade;
    noise_init(&tex, 16, r);  /* lesion texture: patchy, not a clean disc */
    noise_init(&shade, 4, r); /* broad exposure unevenness */
    float sigma = 0.012f + 0.035f * d, gain = U(r, 0.9f, 1.1f);
    float st = sinf(a->tilt), ct = cosf(a->tilt);
    for (int j = 0; j < h; j++) {
        float y = ((float)j + 0.5f) / (float)h;
        for (int i = 0; i < w; i++) {
            float x = ((float)i + 0.5f) / (float)w;
            float body = ellipse(x, y, a->cx, a->cy + 0.08f, 0.44f, 0.60f, 0.08f);
            float v = 0.06f + body * a->tissue;
            /* Lungs: air replaces tissue; the rotated frame tilts both fields. */
            float lung = 0;
            for (int s = -1; s <= 1; s += 2) {
                float lx = a->cx + (float)s * a->lung_dx, ly = a->cy - 0.04f;
                float rx = ct * (x - lx) + st * (y - ly) * (float)s,
                      ry = -st * (x - lx) * (float)s + ct * (y - ly);
                float m = ellipse(rx, ry, 0, 0, a->lung_w, a->lung_h, 0.12f);
                lung = m > lung ? m : lung;
            }
            v -= lung * (a->tissue - a->air);
            /* Heart (to the patient's left = image right) and spine overlay the lungs. */
            float heart = ellipse(x, y, a->cx + a->heart_dx, a->cy + 0.12f, a->heart_r,
                                  a->heart_r * 0.85f, 0.3f);
            float spine = 1.0f - smoothstep(0.035f, 0.06f, fabsf(x - a->cx));
            v += 0.55f * heart * (a->tissue - a->air) * lung + 0.12f * spine * body;
            /* Ribs: bright bands curving down towards the sides, over the chest only. */
            float dxm = fabsf(x - a->cx);
            float ry = y - a->rib_curve * dxm * dxm - 0.12f;
            float ph = ry / a->rib_spacing + a->rib_phase;
            float band = 1.0f - smoothstep(0.06f, 0.18f, fabsf(ph - floorf(ph) - 0.5f));
            v += 0.07f * band * body * (dxm > 0.05f) * (y > 0.12f && y < 0.78f);
            /* Clavicles. */
            float cl = fabsf(y - (0.17f + 0.25f * (dxm - 0.05f)));
            v += 0.12f * (1.0f - smoothstep(0.008f, 0.02f, cl)) * (dxm > 0.04f && dxm < 0.3f);
            /* Opacities raise lung density: hazy, textured, fading at the edge. */
            float op = 0;
            for (int k = 0; k < nb; k++) {
                float ex = (x - bl[k].x) / bl[k].r, ey = (y - bl[k].y) / bl[k].r;
                float e = expf(-(ex * ex + ey * ey));
                op += bl[k].amp * e * (0.65f + 0.35f * noise_at(&tex, x, y));
            }
            v += op * lung;
            v = v * gain + 0.04f * noise_at(&shade, x, y);
            v += sigma * (float)tg_rng_normal(r);
            out[(size_t)j * (size_t)w + (size_t)i] = v < 0 ? 0 : v > 1 ? 1 : v;
        }
    }
}

tg_status tg_synth_render(float *out, int width, int height, int positive, float difficulty,
                          tg_rng *rng) {
    if (width < 8 || height < 8 || width > 8192 || height > 8192)
        return tg_error(TG_ERR_INVALID, "synth: image size %dx%d not in 8..8192", width, height);
    anatomy a;
    draw_anatomy(&a, rng);
    float d = difficulty < 0 ? 0 : difficulty > 1 ? 1 : difficulty;
    render(&a, positive, d, out, width, height, rng);
    return TG_OK;
}

/* 1 for a name synth writes: SYN-<5 digits>[a-z].png. */
static int synth_name(const char *name) {
    if (strncmp(name, "SYN-", 4)) return 0;
    for (int i = 4; i < 9; i++)
        if (name[i] < '0' || name[i] > '9') return 0;
    const char *rest = name + 9 + (name[9] >= 'a' && name[9] <= 'z');
    return !strcmp(rest, ".png");
}

/* Remove the images of a set written here before: a smaller set would otherwise leave
 * them beside its own, listed nowhere. Only synth's own names are touched. */
static tg_status remove_earlier_set(const char *images) {
    DIR *d = opendir(images);
    if (!d) return TG_OK; /* nothing there yet */
    tg_status st = TG_OK;
    struct dirent *e;
    while (st == TG_OK && (e = readdir(d))) {
        if (!synth_name(e->d_name)) continue;
        char path[4200];
        snprintf(path, sizeof path, "%s/%s", images, e->d_name);
        if (remove(path) != 0)
            st = tg_error(TG_ERR_IO, "%s: cannot remove the earlier set's image: %s", path,
                          strerror(errno));
    }
    closedir(d);
    return st;
}

tg_status tg_synth_write(const char *dir, const tg_synth_opts *o, tg_rng *rng) {
    if (o->n_positive < 0 || o->n_negative < 0 || o->n_unlabeled < 0 || o->max_per_patient < 1 ||
        o->max_per_patient > 26 || !(o->difficulty >= 0 && o->difficulty <= 1))
        return tg_error(TG_ERR_INVALID,
                        "synth: counts must be >= 0, max_per_patient 1..26, difficulty 0..1");
    if (o->width < 8 || o->height < 8 || o->width > 8192 || o->height > 8192)
        return tg_error(TG_ERR_INVALID, "synth: image size %dx%d not in 8..8192", o->width,
                        o->height);
    char *images = tg_ds_path_join(dir, "images"), *csv_path = tg_ds_path_join(dir, "metadata.csv");
    size_t npx = (size_t)o->width * (size_t)o->height;
    float *px = malloc(npx * sizeof *px);
    uint8_t *px8 = malloc(npx);
    FILE *csv = NULL;
    tg_status st = TG_OK;
    if (!images || !csv_path || !px || !px8) {
        st = tg_error(TG_ERR_NOMEM, "synth: out of memory");
        goto done;
    }
    if ((st = tg_mkdir_p(dir)) != TG_OK || (st = tg_mkdir_p(images)) != TG_OK ||
        (st = remove_earlier_set(images)) != TG_OK)
        goto done;
    csv = fopen(csv_path, "wb");
    if (!csv) {
        st = tg_error(TG_ERR_IO, "%s: cannot create: %s", csv_path, strerror(errno));
        goto done;
    }
    fprintf(csv, "patientid,patient,sex,age,finding,view,modality,filename,notes\r\n");
    int patient = 0;
    float d = o->difficulty;
    /* Class blocks in a fixed order: positives, negatives, unlabeled. */
    for (int cls = 0; cls < 3 && st == TG_OK; cls++) {
        int left = cls == 0 ? o->n_positive : cls == 1 ? o->n_negative : o->n_unlabeled;
        while (left > 0 && st == TG_OK) {
            int k = 1 + (int)tg_rng_below(rng, (uint64_t)o->max_per_patient);
            if (k > left) k = left;
            left -= k;
            patient++;
            anatomy base;
            draw_anatomy(&base, rng);
            int age = 25 + (int)tg_rng_below(rng, 60);
            char sex = tg_rng_uniform(rng) < 0.5 ? 'M' : 'F';
            /* Unlabeled images are drawn as positives or negatives at random. */
            int positive = cls == 0 || (cls == 2 && tg_rng_uniform(rng) < 0.5);
            for (int m = 0; m < k && st == TG_OK; m++) {
                char id[48], pid[32], file[64], path[4096];
                snprintf(pid, sizeof pid, "SYN-%05d", patient);
                if (o->max_per_patient > 1)
                    snprintf(id, sizeof id, "%s%c", pid, 'a' + m);
                else
                    snprintf(id, sizeof id, "%s", pid);
                snprintf(file, sizeof file, "%s.png", id);
                snprintf(path, sizeof path, "%s/%s", images, file);
                anatomy a = base;
                jitter(&a, rng);
                render(&a, positive, d, px, o->width, o->height, rng);
                for (size_t i = 0; i < npx; i++) px8[i] = (uint8_t)lrintf(px[i] * 255.0f);
                if ((st = tg_png_write_gray8(path, o->width, o->height, px8)) != TG_OK) break;
                const char *finding = cls == 0 ? "COVID-19" : cls == 1 ? "No finding" : "";
                /* Notes exercise CSV quoting: commas and doubled quotes. */
                fprintf(csv,
                        "%s,%s,%c,%d,%s,PA,X-ray,%s,\"synthetic, difficulty %.2f, "
                        "\"\"image %d of %d\"\"\"\r\n",
                        id, pid, sex, age, finding, file, (double)d, m + 1, k);
            }
        }
    }
    if (csv) {
        if (ferror(csv) && st == TG_OK) st = tg_error(TG_ERR_IO, "%s: write failed", csv_path);
        if (fclose(csv) != 0 && st == TG_OK) st = tg_error(TG_ERR_IO, "%s: write failed", csv_path);
    }
done:
    free(images);
    free(csv_path);
    free(px);
    free(px8);
    return st;
}
