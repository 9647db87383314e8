/* Write the seed corpora of the fuzz harnesses into OUTDIR/<harness>/: the repository's model
 * files and small ones, checkpoints (compressed and stored, with and without optimizer and
 * schedule) and the same checkpoints as section lists for fuzz_checkpoint_sections, CSVs,
 * IDX files of every element type, PNGs of every colour type, depth and interlacing,
 * JPEGs (gray, RGB, CMYK, EXIF), Netpbm files and image caches. usage: make_seeds SRCDIR OUTDIR */
#include <dirent.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "tests/fuzz/fuzz_cache_common.h"
#include "tests/test_datasets_fixtures.h"
#include "twingrad.h"

static char out[4096];

static const char *seed_path(const char *harness, const char *name) {
    static char p[8192];
    snprintf(p, sizeof p, "%s/%s", out, harness);
    mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/%s/%s", out, harness, name);
    return p;
}

static void write_seed(const char *harness, const char *name, const void *data, size_t len) {
    if (fx_write(seed_path(harness, name), data, len) != 0) {
        fprintf(stderr, "make_seeds: cannot write %s/%s\n", harness, name);
        exit(1);
    }
}

static void seed_models(const char *srcdir) {
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/models", srcdir);
    DIR *dp = opendir(dir);
    struct dirent *e;
    while (dp && (e = readdir(dp))) {
        size_t n = strlen(e->d_name);
        if (n < 4 || strcmp(e->d_name + n - 3, ".tg") != 0) continue;
        size_t len;
        uint8_t *text = fx_read(fx_path(dir, e->d_name), &len);
        if (text) write_seed("model", e->d_name, text, len);
        free(text);
    }
    if (dp) closedir(dp);
    const char *small[] = {
        "input 4 4 1\nflatten\nfc1: dense units=8 act=relu\nembed: dense units=4\n"
        "siamese distance=l2 loss=contrastive margin=1 normalize=true\n"
        "train optimizer=adam lr=1e-3 batch=4 epochs=2\n",
        "input 8 8 1\nc1: conv2d filters=2 kernel=3 act=relu\np: maxpool2d size=2\n"
        "bn: batchnorm\nd: dropout rate=0.1\ng: global_avgpool\n"
        "siamese normalize=false\ntrain optimizer=sgd momentum=0.9 schedule=step step_size=2\n",
        "input 6 6 1\na: flatten\nb: dense units=3 in=a\nc: dense units=3 in=a\ns: add in=b,c\n"
        "r: reshape shape=3x1\nf: flatten\nsiamese distance=l2\n",
    };
    for (int i = 0; i < 3; i++) {
        char name[32];
        snprintf(name, sizeof name, "small%d.tg", i);
        write_seed("model", name, small[i], strlen(small[i]));
    }
}

/* A saved checkpoint as fuzz_checkpoint_sections reads it: tag, flags, u16 length, payload
 * (the uncompressed payload; flags bit 0 asks the harness to deflate it again). */
static void checkpoint_as_sections(const char *path, const char *name) {
    size_t len;
    uint8_t *f = fx_read(path, &len);
    if (!f || len < 36) exit(1);
    unsigned count = f[12] | f[13] << 8;
    size_t pos = 28, o = 0;
    uint8_t *buf = malloc(len * 1100 + 64);
    for (unsigned s = 0; s < count && pos + 32 <= len; s++) {
        const uint8_t *h = f + pos;
        unsigned flags = h[4];
        uint64_t raw = 0, stored = 0;
        for (int i = 0; i < 8; i++) raw |= (uint64_t)h[8 + i] << (8 * i);
        for (int i = 0; i < 8; i++) stored |= (uint64_t)h[16 + i] << (8 * i);
        uLongf rl = (uLongf)raw;
        uint8_t *payload = malloc(raw + 1);
        if (flags & 1) {
            if (uncompress(payload, &rl, h + 32, (uLong)stored) != Z_OK) exit(1);
        } else {
            memcpy(payload, h + 32, raw);
        }
        if (raw > 65535) raw = 65535;
        memcpy(buf + o, h, 4);
        buf[o + 4] = (uint8_t)(flags & 3);
        buf[o + 5] = (uint8_t)raw;
        buf[o + 6] = (uint8_t)(raw >> 8);
        memcpy(buf + o + 7, payload, raw);
        o += 7 + raw;
        free(payload);
        pos += 32 + stored;
    }
    write_seed("checkpoint_sections", name, buf, o);
    free(buf);
    free(f);
}

static void seed_checkpoints(void) {
    const char *text = "input 4 4 1\nflatten\nfc: dense units=3\nbn: batchnorm\n"
                       "siamese normalize=true\ntrain optimizer=adam lr=1e-3 batch=2 "
                       "schedule=plateau\n";
    tg_model_def *def;
    tg_model *m;
    if (tg_model_def_parse_text("seed.tg", text, &def) || tg_model_build(def, 2, &m)) {
        fprintf(stderr, "make_seeds: %s\n", tg_last_error());
        exit(1);
    }
    int64_t n;
    tg_graph_param_data(m->graph, &n);
    tg_optimizer *opt = tg_optimizer_new(&def->train.optim, n);
    tg_schedule sched;
    tg_schedule_init(&sched, &def->train.schedule);
    tg_rng pairs;
    tg_rng_seed(&pairs, 7);
    tg_checkpoint_rng rngs[] = {{"pairs", &pairs}};
    tg_checkpoint_meta meta[] = {{"data", "synth:data"}, {"threshold", "0.5"}};
    struct {
        const char *name;
        int opt, compression;
    } kinds[] = {{"full.tgc", 1, 0}, {"stored.tgc", 1, TG_CHECKPOINT_STORE}, {"model.tgc", 0, 9}};
    for (int k = 0; k < 3; k++) {
        tg_checkpoint_data d = {.graph = m->graph,
                                .opt = kinds[k].opt ? opt : NULL,
                                .sched = kinds[k].opt ? &sched : NULL,
                                .model_text = text,
                                .epoch = 2,
                                .step = 10,
                                .has_best = 1,
                                .best = 0.25,
                                .rngs = rngs,
                                .n_rngs = 1,
                                .meta = meta,
                                .n_meta = 2,
                                .compression = kinds[k].compression};
        const char *p = seed_path("checkpoint", kinds[k].name);
        if (tg_checkpoint_save(p, &d)) {
            fprintf(stderr, "make_seeds: %s\n", tg_last_error());
            exit(1);
        }
        checkpoint_as_sections(p, kinds[k].name);
    }
    tg_optimizer_free(opt);
    tg_model_free(m);
    tg_model_def_free(def);
}

static void seed_csv(void) {
    const char *csv[] = {
        "patientid,finding,notes\np1,COVID-19,\"a, b\"\np2,No finding,\n",
        "\xef\xbb\xbf"
        "a,b\r\n\"x\"\"y\",\"line\nbreak\"\r\n\r\n1,2",
        "only\n\n\nrow\n",
    };
    for (int i = 0; i < 3; i++) {
        char name[32];
        snprintf(name, sizeof name, "s%d.csv", i);
        write_seed("csv", name, csv[i], strlen(csv[i]));
    }
}

static void seed_idx(void) {
    uint8_t u8[2 * 4 * 4];
    float f32[6];
    for (int i = 0; i < 32; i++) u8[i] = (uint8_t)(i * 7);
    for (int i = 0; i < 6; i++) f32[i] = (float)i / 3;
    uint32_t d3[3] = {2, 4, 4}, d1[1] = {2}, d2[2] = {2, 3};
    struct {
        const char *name;
        tg_idx_type type;
        int ndim;
        const uint32_t *dims;
        const void *data;
    } seeds[] = {{"images.idx", TG_IDX_U8, 3, d3, u8},
                 {"labels.idx", TG_IDX_U8, 1, d1, u8},
                 {"f32.idx", TG_IDX_F32, 2, d2, f32},
                 {"i16.idx", TG_IDX_I16, 1, d1, u8}};
    for (int i = 0; i < 4; i++) {
        const char *p = seed_path("idx", seeds[i].name);
        if (tg_idx_write(p, seeds[i].type, seeds[i].ndim, seeds[i].dims, seeds[i].data, 0)) exit(1);
        size_t len;
        uint8_t *b = fx_read(p, &len); /* the gzip harness compresses the plain bytes itself */
        write_seed("idx_gz", seeds[i].name, b, len);
        free(b);
        char gz[64];
        snprintf(gz, sizeof gz, "%s.gz", seeds[i].name);
        if (tg_idx_write(seed_path("idx", gz), seeds[i].type, seeds[i].ndim, seeds[i].dims,
                         seeds[i].data, 1))
            exit(1);
    }
}

static void seed_images(void) {
    enum { W = 9, H = 7 };
    uint16_t s[W * H * 4];
    uint8_t px[W * H * 4], pal[3 * 4] = {0, 0, 0, 255, 0, 0, 0, 255, 0, 255, 255, 255};
    uint8_t trns[2] = {0, 128};
    for (int i = 0; i < W * H * 4; i++)
        s[i] = (uint16_t)(i * 997 % 65536), px[i] = (uint8_t)(i * 13);
    struct {
        const char *name;
        int color, depth, interlace;
    } pngs[] = {{"g8.png", PNG_COLOR_TYPE_GRAY, 8, 0},
                {"g16.png", PNG_COLOR_TYPE_GRAY, 16, 0},
                {"g1.png", PNG_COLOR_TYPE_GRAY, 1, 0},
                {"g4i.png", PNG_COLOR_TYPE_GRAY, 4, 1},
                {"rgb8.png", PNG_COLOR_TYPE_RGB, 8, 0},
                {"rgba16.png", PNG_COLOR_TYPE_RGB_ALPHA, 16, 1},
                {"ga8.png", PNG_COLOR_TYPE_GRAY_ALPHA, 8, 0},
                {"pal.png", PNG_COLOR_TYPE_PALETTE, 8, 0}};
    for (size_t i = 0; i < sizeof pngs / sizeof pngs[0]; i++) {
        uint16_t v[W * H * 4];
        int maxv = (1 << pngs[i].depth) - 1;
        for (int k = 0; k < W * H * 4; k++)
            v[k] =
                (uint16_t)(pngs[i].color == PNG_COLOR_TYPE_PALETTE ? s[k] % 4 : s[k] % (maxv + 1));
        int palette = pngs[i].color == PNG_COLOR_TYPE_PALETTE;
        if (fx_png(seed_path("png", pngs[i].name), W, H, pngs[i].color, pngs[i].depth,
                   pngs[i].interlace, v, palette ? pal : NULL, palette ? 4 : 0,
                   palette ? trns : NULL, palette ? 2 : 0))
            exit(1);
    }
    struct {
        const char *name;
        int comps, exif;
    } jpgs[] = {{"gray.jpg", 1, 0}, {"rgb.jpg", 3, 1}, {"cmyk.jpg", 4, 0}};
    for (int i = 0; i < 3; i++) {
        const char *p = seed_path("jpeg", jpgs[i].name);
        if (fx_jpeg(p, 40, 24, jpgs[i].comps, px, jpgs[i].exif)) exit(1);
        size_t len;
        uint8_t *b = fx_read(p, &len);
        uint8_t *mode = malloc(len + 1); /* first byte: the harness's full/scaled switch */
        memcpy(mode + 1, b, len);
        mode[0] = 0x00;
        write_seed("jpeg", jpgs[i].name, mode, len + 1);
        char scaled[64];
        snprintf(scaled, sizeof scaled, "scaled-%s", jpgs[i].name);
        mode[0] = 0x85;
        write_seed("jpeg", scaled, mode, len + 1);
        free(mode);
        free(b);
    }
}

/* Netpbm files of every kind: plain and binary, gray and colour, 8- and 16-bit, comments. */
static void seed_pnm(void) {
    static const char plain_gray[] = "P2\n# a comment\n3 2\n255\n0 128 255\n1 2 3\n";
    static const char plain_rgb[] = "P3 2 1 65535 0 1 2 65535 300 7\n";
    write_seed("pnm", "p2.pgm", plain_gray, sizeof plain_gray - 1);
    write_seed("pnm", "p3.ppm", plain_rgb, sizeof plain_rgb - 1);
    uint8_t buf[64];
    int n = snprintf((char *)buf, sizeof buf, "P5\n3 2\n255\n");
    for (int i = 0; i < 6; i++) buf[n + i] = (uint8_t)(i * 40);
    write_seed("pnm", "p5.pgm", buf, (size_t)n + 6);
    n = snprintf((char *)buf, sizeof buf, "P5 2 2 1000\n"); /* two bytes a sample */
    for (int i = 0; i < 8; i++) buf[n + i] = (uint8_t)(i % 2 ? i * 30 : 3);
    write_seed("pnm", "p5-16.pgm", buf, (size_t)n + 8);
    n = snprintf((char *)buf, sizeof buf, "P6\n#c\n2 2 255\n");
    for (int i = 0; i < 12; i++) buf[n + i] = (uint8_t)(i * 21);
    write_seed("pnm", "p6.ppm", buf, (size_t)n + 12);
}

/* Image caches for fuzz_cache's key and items (fuzz_cache_common.h), written by
 * tg_cache_write and stored uncompressed (the harness compresses its input): one with all
 * of the harness's items, one with a stale entry beside another path. */
static void seed_cache(void) {
    float px[FUZZ_CACHE_ITEMS][FUZZ_CACHE_PIXELS];
    for (int i = 0; i < FUZZ_CACHE_ITEMS * FUZZ_CACHE_PIXELS; i++)
        px[i / FUZZ_CACHE_PIXELS][i % FUZZ_CACHE_PIXELS] = (float)i / 17.0f;
    tg_cache_item all[FUZZ_CACHE_ITEMS];
    fuzz_cache_items(all, px);
    tg_cache_item other[2] = {{"a.png", 101, 5, px[0], 0}, {"e.png", 1, 1, px[1], 0}};
    struct {
        const char *name;
        const tg_cache_item *items;
        size_t n;
    } caches[] = {{"all.raw", all, FUZZ_CACHE_ITEMS}, {"stale.raw", other, 2}};
    for (int c = 0; c < 2; c++) {
        const char *tmp = seed_path("cache", "tmp.tgc");
        if (tg_cache_write(tmp, &fuzz_cache_key, caches[c].items, caches[c].n) != TG_OK) exit(1);
        gzFile f = gzopen(tmp, "rb");
        uint8_t raw[4096];
        int len = f ? gzread(f, raw, sizeof raw) : -1;
        if (f) gzclose(f);
        remove(tmp);
        if (len <= 0) exit(1);
        write_seed("cache", caches[c].name, raw, (size_t)len);
    }
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: make_seeds SRCDIR OUTDIR\n");
        return 2;
    }
    snprintf(out, sizeof out, "%s", argv[2]);
    mkdir(out, 0755);
    seed_models(argv[1]);
    seed_checkpoints();
    seed_csv();
    seed_idx();
    seed_images();
    seed_pnm();
    seed_cache();
    return 0;
}
