/* JPEG through libjpeg-turbo: gray, YCbCr, RGB, CMYK and YCCK to [0,1] gray.
 * libjpeg reports fatal errors by longjmp; decoder state that must survive it
 * lives in a heap context. A truncated file is an error here, not a silent image:
 * libjpeg only warns ("premature end of data" when the bytes run out, "hit marker"
 * when a marker such as EOI cuts the scan data) and pads with gray, so those two
 * warnings stop the decode at once, before any padding is produced. */
#include "datasets/tg_image.h"

#include <limits.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <jerror.h>

#include "autograd/tg_budget.h"
#include "datasets/tg_ds_util.h"

/* Progressive files can hold any number of scans; each one costs a pass over
 * the coefficients, so a crafted file could take minutes. libjpeg-turbo's own
 * TJFLAG_LIMITSCANS uses the same bound. */
#define TG_JPEG_MAX_SCANS 500

typedef struct jpeg_ctx {
    struct jpeg_error_mgr err; /* first: libjpeg hands us a pointer to it */
    struct jpeg_progress_mgr progress;
    jmp_buf jmp;
    int truncated;
    char msg[JMSG_LENGTH_MAX];
    uint8_t *row;
    float *out;
} jpeg_ctx;

static void on_error_exit(j_common_ptr cinfo) {
    jpeg_ctx *c = (jpeg_ctx *)cinfo->err;
    (*cinfo->err->format_message)(cinfo, c->msg);
    longjmp(c->jmp, 1);
}

static void on_emit_message(j_common_ptr cinfo, int level) {
    jpeg_ctx *c = (jpeg_ctx *)cinfo->err;
    if (level >= 0) return; /* trace messages */
    int code = cinfo->err->msg_code;
    if (code == JWRN_JPEG_EOF || code == JWRN_HIT_MARKER) {
        c->truncated = 1;
        snprintf(c->msg, sizeof c->msg, "truncated JPEG (%s)",
                 code == JWRN_JPEG_EOF ? "the data ends early" : "a marker cuts the scan data");
        longjmp(c->jmp, 2);
    }
    cinfo->err->num_warnings++;
}

static void on_progress(j_common_ptr cinfo) {
    if (!cinfo->is_decompressor) return;
    j_decompress_ptr d = (j_decompress_ptr)cinfo;
    if (d->input_scan_number > TG_JPEG_MAX_SCANS) {
        jpeg_ctx *c = (jpeg_ctx *)cinfo->err;
        snprintf(c->msg, sizeof c->msg, "more than %d progressive scans", TG_JPEG_MAX_SCANS);
        longjmp(c->jmp, 1);
    }
}

tg_status tg_jpeg_decode(const uint8_t *buf, size_t len, const char *name, uint64_t max_pixels,
                         tg_image *out) {
    return tg_jpeg_decode_scaled(buf, len, name, max_pixels, 0, 0, out);
}

tg_status tg_jpeg_decode_scaled(const uint8_t *buf, size_t len, const char *name,
                                uint64_t max_pixels, int min_width, int min_height, tg_image *out) {
    out->width = out->height = 0;
    out->data = NULL;
    if (len > (size_t)(unsigned long)-1) return tg_error(TG_ERR_LIMIT, "%s: JPEG too large", name);
    jpeg_ctx *c = calloc(1, sizeof *c);
    struct jpeg_decompress_struct *d = calloc(1, sizeof *d);
    if (!c || !d) {
        free(c);
        free(d);
        return tg_error(TG_ERR_NOMEM, "%s: out of memory for the JPEG decoder", name);
    }
    d->err = jpeg_std_error(&c->err);
    c->err.error_exit = on_error_exit;
    c->err.emit_message = on_emit_message;
    c->progress.progress_monitor = on_progress;
    tg_status st = TG_OK;
    if (setjmp(c->jmp)) {
        st =
            tg_error(TG_ERR_FORMAT, "%s: %s%s", name, c->truncated ? "" : "corrupt JPEG: ", c->msg);
        goto done;
    }
    jpeg_create_decompress(d);
    d->progress = &c->progress;
    jpeg_mem_src(d, buf, (unsigned long)len);
    jpeg_read_header(d, TRUE);
    uint64_t npx;
    if (!tg_ds_mul3(d->image_width, d->image_height, 1, &npx) || npx > max_pixels) {
        st = tg_error(TG_ERR_LIMIT,
                      "%s: JPEG declares %ux%u pixels, over the limit of %llu; "
                      "raise max_pixels if the image is genuine",
                      name, d->image_width, d->image_height, (unsigned long long)max_pixels);
        goto done;
    }
    J_COLOR_SPACE in = d->jpeg_color_space;
    int cmyk = in == JCS_CMYK || in == JCS_YCCK;
    /* Y of YCbCr is already BT.601 luma: asking for gray skips chroma entirely. */
    if (in == JCS_GRAYSCALE || in == JCS_YCbCr)
        d->out_color_space = JCS_GRAYSCALE;
    else if (cmyk)
        d->out_color_space = JCS_CMYK;
    else
        d->out_color_space = JCS_RGB;
    /* DCT scaling: decode at 1/2, 1/4 or 1/8 while the result stays at least twice
     * the size the caller will shrink it to, so the final area average still has
     * several samples per output pixel. A 3000x2500 X-ray for a 150x150 model
     * decodes at 1/8, skipping most of the inverse-DCT and colour work. */
    if (min_width > 0 && min_height > 0) {
        unsigned denom = 8;
        while (denom > 1 && ((d->image_width + denom - 1) / denom < 2 * (unsigned)min_width ||
                             (d->image_height + denom - 1) / denom < 2 * (unsigned)min_height))
            denom /= 2;
        d->scale_num = 1;
        d->scale_denom = denom;
    }
    /* What this image costs, from the header: the gray floats at the output size, a row, and
     * for progressive files libjpeg's coefficient arrays (2 bytes per sample at full size).
     * libjpeg's own pool is capped at the budget too. */
    jpeg_calc_output_dimensions(d);
    uint64_t cost = 4 * (uint64_t)d->output_width * d->output_height +
                    4 * (uint64_t)d->output_width +
                    (d->progressive_mode ? 2 * npx * (uint64_t)d->num_components : 0);
    char what[96];
    snprintf(what, sizeof what, "%s: a %ux%u JPEG", name, d->image_width, d->image_height);
    if ((st = tg_memory_check(cost, what))) goto done;
    d->mem->max_memory_to_use =
        (long)(tg_memory_budget() > (uint64_t)LONG_MAX ? LONG_MAX : tg_memory_budget());
    jpeg_start_decompress(d);
    int w = (int)d->output_width, h = (int)d->output_height, nc = d->output_components;
    int want = d->out_color_space == JCS_GRAYSCALE ? 1 : cmyk ? 4 : 3;
    if (nc != want || w <= 0 || h <= 0) {
        st = tg_error(TG_ERR_FORMAT, "%s: unexpected JPEG output (%d components)", name, nc);
        goto done;
    }
    c->row = malloc((size_t)w * (size_t)nc);
    c->out = malloc(sizeof(float) * (size_t)w * (size_t)h);
    if (!c->row || !c->out) {
        st = tg_error(TG_ERR_NOMEM, "%s: out of memory for %dx%d pixels", name, w, h);
        goto done;
    }
    /* Adobe files store CMYK inverted (255 = no ink). */
    int inverted = d->saw_Adobe_marker;
    const float k255 = 1.0f / 255.0f;
    while (d->output_scanline < d->output_height) {
        int y = (int)d->output_scanline;
        JSAMPROW rowp = c->row;
        if (jpeg_read_scanlines(d, &rowp, 1) != 1) break;
        float *o = c->out + (size_t)y * (size_t)w;
        const uint8_t *r = c->row;
        if (nc == 1) {
            for (int x = 0; x < w; x++) o[x] = r[x] * k255;
        } else if (nc == 3) {
            for (int x = 0; x < w; x++)
                o[x] =
                    (TG_LUMA_R * r[3 * x] + TG_LUMA_G * r[3 * x + 1] + TG_LUMA_B * r[3 * x + 2]) *
                    k255;
        } else {
            for (int x = 0; x < w; x++) {
                float v[4];
                for (int k = 0; k < 4; k++)
                    v[k] = inverted ? r[4 * x + k] * k255 : 1.0f - r[4 * x + k] * k255;
                /* v = 1 - ink; naive CMYK -> RGB: channel = (1 - ink) * (1 - K). */
                o[x] = (TG_LUMA_R * v[0] + TG_LUMA_G * v[1] + TG_LUMA_B * v[2]) * v[3];
            }
        }
    }
    if (d->output_scanline < d->output_height || c->truncated) {
        st = tg_error(TG_ERR_FORMAT, "%s: truncated JPEG (data ends before the last scanline)",
                      name);
        goto done;
    }
    jpeg_finish_decompress(d);
    if (c->truncated) {
        st = tg_error(TG_ERR_FORMAT, "%s: truncated JPEG (no end-of-image marker)", name);
        goto done;
    }
    out->width = w;
    out->height = h;
    out->data = c->out;
    c->out = NULL;
done:
    jpeg_destroy_decompress(d);
    free(c->row);
    free(c->out);
    free(c);
    free(d);
    return st;
}
