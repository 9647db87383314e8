/* Decode dispatch by magic bytes, resizing (area / bilinear, separable) and
 * normalisation. The decoders themselves live in tg_png.c, tg_jpeg.c, tg_pnm.c. */
#include "datasets/tg_image.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "datasets/tg_ds_util.h"

tg_image_opts tg_image_opts_default(int width, int height) {
    tg_image_opts o;
    memset(&o, 0, sizeof o);
    o.width = width;
    o.height = height;
    o.aspect = TG_ASPECT_STRETCH;
    o.norm = TG_NORM_NONE;
    o.std = 1.0f;
    o.max_pixels = TG_IMAGE_DEFAULT_MAX_PIXELS;
    return o;
}

tg_status tg_image_alloc(tg_image *img, int width, int height) {
    img->width = img->height = 0;
    img->data = NULL;
    if (width <= 0 || height <= 0)
        return tg_error(TG_ERR_INVALID, "image size %dx%d: both sides must be positive", width,
                        height);
    img->data = calloc((size_t)width * (size_t)height, sizeof(float));
    if (!img->data) return tg_error(TG_ERR_NOMEM, "out of memory for a %dx%d image", width, height);
    img->width = width;
    img->height = height;
    return TG_OK;
}

void tg_image_free(tg_image *img) {
    if (!img) return;
    free(img->data);
    img->data = NULL;
    img->width = img->height = 0;
}

tg_image_format tg_image_detect(const uint8_t *buf, size_t len) {
    static const uint8_t png_sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    if (len >= 8 && memcmp(buf, png_sig, 8) == 0) return TG_IMAGE_PNG;
    if (len >= 3 && buf[0] == 0xFF && buf[1] == 0xD8 && buf[2] == 0xFF) return TG_IMAGE_JPEG;
    if (len >= 3 && buf[0] == 'P' && buf[1] && strchr("2356", buf[1]) &&
        (buf[2] == ' ' || buf[2] == '\t' || buf[2] == '\n' || buf[2] == '\r' || buf[2] == '#'))
        return TG_IMAGE_PNM;
    return TG_IMAGE_UNKNOWN;
}

const char *tg_image_format_name(tg_image_format fmt) {
    switch (fmt) {
    case TG_IMAGE_PNG:
        return "png";
    case TG_IMAGE_JPEG:
        return "jpeg";
    case TG_IMAGE_PNM:
        return "pnm";
    case TG_IMAGE_UNKNOWN:
        break;
    }
    return "unknown";
}

tg_status tg_image_decode(const uint8_t *buf, size_t len, const char *name, uint64_t max_pixels,
                          tg_image *out) {
    out->width = out->height = 0;
    out->data = NULL;
    if (max_pixels == 0) max_pixels = TG_IMAGE_DEFAULT_MAX_PIXELS;
    switch (tg_image_detect(buf, len)) {
    case TG_IMAGE_PNG:
        return tg_png_decode(buf, len, name, max_pixels, out);
    case TG_IMAGE_JPEG:
        return tg_jpeg_decode(buf, len, name, max_pixels, out);
    case TG_IMAGE_PNM:
        return tg_pnm_decode(buf, len, name, max_pixels, out);
    case TG_IMAGE_UNKNOWN:
        break;
    }
    if (len == 0) return tg_error(TG_ERR_FORMAT, "%s: empty file", name);
    return tg_error(TG_ERR_FORMAT,
                    "%s: not a PNG, JPEG or PGM/PPM file (unrecognised first bytes); "
                    "the format is found from the contents, not the extension",
                    name);
}

tg_status tg_image_load(const char *path, uint64_t max_pixels, tg_image *out) {
    uint8_t *buf;
    size_t len;
    out->width = out->height = 0;
    out->data = NULL;
    tg_status st = tg_ds_read_file(path, TG_IMAGE_MAX_FILE_BYTES, &buf, &len);
    if (st != TG_OK) return st;
    st = tg_image_decode(buf, len, path, max_pixels, out);
    free(buf);
    return st;
}

tg_status tg_image_load_prepared(const char *path, const tg_image_opts *opts, tg_image *out) {
    tg_image full;
    uint8_t *buf;
    size_t len;
    out->width = out->height = 0;
    out->data = NULL;
    tg_status st = tg_ds_read_file(path, TG_IMAGE_MAX_FILE_BYTES, &buf, &len);
    if (st != TG_OK) return st;
    int resize = opts->width > 0 && opts->height > 0;
    uint64_t maxpx = opts->max_pixels ? opts->max_pixels : TG_IMAGE_DEFAULT_MAX_PIXELS;
    /* A JPEG that will be shrunk is decoded at a reduced DCT scale (see tg_jpeg.c). */
    if (resize && tg_image_detect(buf, len) == TG_IMAGE_JPEG)
        st = tg_jpeg_decode_scaled(buf, len, path, maxpx, opts->width, opts->height, &full);
    else
        st = tg_image_decode(buf, len, path, maxpx, &full);
    free(buf);
    if (st != TG_OK) return st;
    if (resize) {
        st = tg_image_resize(&full, opts->width, opts->height, opts->aspect, opts->pad_value, out);
        tg_image_free(&full);
        if (st != TG_OK) return st;
    } else {
        *out = full;
    }
    st = tg_image_normalize(out->data, (size_t)out->width * (size_t)out->height, opts->norm,
                            opts->mean, opts->std);
    if (st != TG_OK) tg_image_free(out);
    return st;
}

/* Per-axis resampling weights: output i reads count[i] source samples from
 * first[i] on, with weights w[i*maxc + k] that sum to 1. */
typedef struct axis_w {
    int *first, *count, maxc;
    float *w;
} axis_w;

static void axis_free(axis_w *a) {
    free(a->first);
    free(a->count);
    free(a->w);
}

/* Map the source interval [s0, s0+slen) of an axis with src_n samples onto dst_n outputs. */
static tg_status axis_weights(int src_n, double s0, double slen, int dst_n, axis_w *a) {
    double scale = slen / dst_n;
    a->maxc = scale > 1.0 ? (int)ceil(scale) + 2 : 2;
    a->first = malloc(sizeof(int) * (size_t)dst_n);
    a->count = malloc(sizeof(int) * (size_t)dst_n);
    a->w = calloc((size_t)dst_n * (size_t)a->maxc, sizeof(float));
    if (!a->first || !a->count || !a->w) {
        axis_free(a);
        return tg_error(TG_ERR_NOMEM, "out of memory for resize weights");
    }
    for (int i = 0; i < dst_n; i++) {
        float *w = a->w + (size_t)i * (size_t)a->maxc;
        if (scale > 1.0) {
            /* Shrinking: each output is the exact average of the area it covers. */
            double lo = s0 + i * scale, hi = lo + scale;
            int j0 = (int)floor(lo), j1 = (int)ceil(hi);
            if (j0 < 0) j0 = 0;
            if (j1 > src_n) j1 = src_n;
            if (j1 - j0 > a->maxc) j1 = j0 + a->maxc;
            double total = 0;
            for (int j = j0; j < j1; j++) {
                double ov = fmin(hi, j + 1.0) - fmax(lo, (double)j);
                w[j - j0] = ov > 0 ? (float)ov : 0.0f;
                total += w[j - j0];
            }
            if (total <= 0) { /* degenerate interval: fall back to the nearest sample */
                w[0] = 1.0f;
                j1 = j0 + 1;
                total = 1.0;
            }
            for (int j = j0; j < j1; j++) w[j - j0] = (float)(w[j - j0] / total);
            a->first[i] = j0;
            a->count[i] = j1 - j0;
        } else {
            /* Enlarging: bilinear between the two nearest sample centres. */
            double c = s0 + (i + 0.5) * scale - 0.5;
            if (c < 0) c = 0;
            if (c > src_n - 1) c = src_n - 1;
            int j0 = (int)floor(c);
            double f = c - j0;
            if (j0 >= src_n - 1) {
                j0 = src_n - 1;
                f = 0;
            }
            a->first[i] = j0;
            a->count[i] = f > 0 ? 2 : 1;
            w[0] = (float)(1.0 - f);
            w[1] = (float)f;
        }
    }
    return TG_OK;
}

/* Resample src[y0:y0+rh, x0:x0+rw] into an iw x ih window of out at (ox, oy). */
static tg_status resize_region(const tg_image *src, double x0, double y0, double rw, double rh,
                               tg_image *out, int ox, int oy, int iw, int ih) {
    axis_w ax = {0}, ay = {0};
    tg_status st = axis_weights(src->width, x0, rw, iw, &ax);
    if (st != TG_OK) return st;
    st = axis_weights(src->height, y0, rh, ih, &ay);
    if (st != TG_OK) {
        axis_free(&ax);
        return st;
    }
    /* Only the source rows the vertical pass reads go through the horizontal pass. */
    int ry0 = ay.first[0], ry1 = ay.first[ih - 1] + ay.count[ih - 1];
    float *tmp = malloc(sizeof(float) * (size_t)(ry1 - ry0) * (size_t)iw);
    if (!tmp) {
        axis_free(&ax);
        axis_free(&ay);
        return tg_error(TG_ERR_NOMEM, "out of memory resizing a %dx%d image", src->width,
                        src->height);
    }
    for (int y = ry0; y < ry1; y++) {
        const float *row = src->data + (size_t)y * (size_t)src->width;
        float *t = tmp + (size_t)(y - ry0) * (size_t)iw;
        for (int i = 0; i < iw; i++) {
            const float *w = ax.w + (size_t)i * (size_t)ax.maxc;
            const float *s = row + ax.first[i];
            float acc = 0;
            for (int k = 0; k < ax.count[i]; k++) acc += w[k] * s[k];
            t[i] = acc;
        }
    }
    for (int i = 0; i < ih; i++) {
        float *o = out->data + (size_t)(oy + i) * (size_t)out->width + ox;
        const float *w = ay.w + (size_t)i * (size_t)ay.maxc;
        for (int x = 0; x < iw; x++) o[x] = 0;
        for (int k = 0; k < ay.count[i]; k++) {
            const float *t = tmp + (size_t)(ay.first[i] + k - ry0) * (size_t)iw;
            float wk = w[k];
            for (int x = 0; x < iw; x++) o[x] += wk * t[x];
        }
    }
    free(tmp);
    axis_free(&ax);
    axis_free(&ay);
    return TG_OK;
}

tg_status tg_image_resize(const tg_image *src, int width, int height, tg_aspect aspect,
                          float pad_value, tg_image *out) {
    out->width = out->height = 0;
    out->data = NULL;
    if (!src->data || src->width <= 0 || src->height <= 0)
        return tg_error(TG_ERR_INVALID, "resize: empty source image");
    tg_status st = tg_image_alloc(out, width, height);
    if (st != TG_OK) return st;
    double sw = src->width, sh = src->height;
    if (aspect == TG_ASPECT_STRETCH) {
        st = resize_region(src, 0, 0, sw, sh, out, 0, 0, width, height);
    } else if (aspect == TG_ASPECT_CROP) {
        /* Keep the largest centred source window with the target's aspect ratio. */
        double ta = (double)width / height;
        double rw = sw, rh = sh;
        if (sw / sh > ta)
            rw = sh * ta;
        else
            rh = sw / ta;
        st = resize_region(src, (sw - rw) / 2, (sh - rh) / 2, rw, rh, out, 0, 0, width, height);
    } else if (aspect == TG_ASPECT_PAD) {
        double s = fmin(width / sw, height / sh);
        int iw = (int)lround(sw * s), ih = (int)lround(sh * s);
        if (iw < 1) iw = 1;
        if (ih < 1) ih = 1;
        if (iw > width) iw = width;
        if (ih > height) ih = height;
        for (size_t i = 0; i < (size_t)width * (size_t)height; i++) out->data[i] = pad_value;
        st = resize_region(src, 0, 0, sw, sh, out, (width - iw) / 2, (height - ih) / 2, iw, ih);
    } else {
        st = tg_error(TG_ERR_INVALID, "resize: unknown aspect policy %d", (int)aspect);
    }
    if (st != TG_OK) tg_image_free(out);
    return st;
}

tg_status tg_image_normalize(float *px, size_t n, tg_norm norm, float mean, float std) {
    if (norm == TG_NORM_NONE || n == 0) return TG_OK;
    if (norm == TG_NORM_FIXED) {
        if (!isfinite(mean))
            return tg_error(TG_ERR_INVALID,
                            "normalisation: fixed mean must be a finite number (got %g)",
                            (double)mean);
        if (!(std > 0) || !isfinite(std))
            return tg_error(TG_ERR_INVALID,
                            "normalisation: fixed std must be a positive finite number (got %g)",
                            (double)std);
        float inv = 1.0f / std;
        for (size_t i = 0; i < n; i++) px[i] = (px[i] - mean) * inv;
        return TG_OK;
    }
    if (norm == TG_NORM_MINMAX) {
        float lo = px[0], hi = px[0];
        for (size_t i = 1; i < n; i++) {
            if (px[i] < lo) lo = px[i];
            if (px[i] > hi) hi = px[i];
        }
        /* A flat image carries no contrast to stretch: it becomes all zeros. */
        float inv = hi > lo ? 1.0f / (hi - lo) : 0.0f;
        for (size_t i = 0; i < n; i++) px[i] = (px[i] - lo) * inv;
        return TG_OK;
    }
    if (norm == TG_NORM_STANDARDIZE) {
        double s = 0, s2 = 0;
        for (size_t i = 0; i < n; i++) s += px[i];
        double m = s / (double)n;
        for (size_t i = 0; i < n; i++) s2 += (px[i] - m) * (px[i] - m);
        double sd = sqrt(s2 / (double)n);
        /* A flat image is only centred: dividing by ~0 would amplify rounding noise. */
        float inv = sd > 1e-6 ? (float)(1.0 / sd) : 1.0f;
        for (size_t i = 0; i < n; i++) px[i] = (float)(px[i] - m) * inv;
        return TG_OK;
    }
    return tg_error(TG_ERR_INVALID, "normalisation: unknown mode %d", (int)norm);
}

tg_status tg_image_save_png(const char *path, const tg_image *img) {
    size_t n = (size_t)img->width * (size_t)img->height;
    uint8_t *px = malloc(n ? n : 1);
    if (!px) return tg_error(TG_ERR_NOMEM, "%s: out of memory", path);
    for (size_t i = 0; i < n; i++) {
        float v = img->data[i];
        v = v < 0 ? 0 : v > 1 ? 1 : v;
        px[i] = (uint8_t)lrintf(v * 255.0f);
    }
    tg_status st = tg_png_write_gray8(path, img->width, img->height, px);
    free(px);
    return st;
}
