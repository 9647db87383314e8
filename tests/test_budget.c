/* The memory budget (issue 10, failure 5): small files that used to allocate gigabytes are
 * refused from their headers, before allocating, with a message naming the budget; a model
 * summary allocates no weights; decompression stops past what a header promised. */
#include <check.h>

#include "tests/tg_check.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <zlib.h>

#include "tests/test_datasets_fixtures.h"
#include "twingrad.h"

#define MIB (UINT64_C(1) << 20)

static char *dir;

static void setup(void) {
    dir = fx_tmpdir();
    tg_memory_budget_set(0);
}
static void teardown(void) {
    fx_rmtree(dir);
    free(dir);
    tg_memory_budget_set(0);
}

/* The process's peak resident set so far, in MiB (Check runs each test in its own child). */
static long peak_mib(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss / 1024;
}

static void expect_over_budget(tg_status st, const char *what) {
    ck_assert_msg(st == TG_ERR_LIMIT, "%s: got %s (%s), wanted TG_ERR_LIMIT", what,
                  tg_status_name(st), tg_last_error());
    ck_assert_msg(strstr(tg_last_error(), "memory budget") != NULL, "%s: %s", what,
                  tg_last_error());
}

START_TEST(test_budget_default_set_parse_and_check) {
    uint64_t def = tg_memory_budget_default();
    ck_assert_uint_ge(def, 256 * MIB);
    ck_assert_uint_eq(tg_memory_budget(), def);
    tg_memory_budget_set(64 * MIB);
    ck_assert_uint_eq(tg_memory_budget(), 64 * MIB);
    ck_assert_int_eq(tg_memory_check(64 * MIB, "x"), TG_OK);
    expect_over_budget(tg_memory_check(64 * MIB + 1, "a thing"), "check");
    ck_assert_ptr_nonnull(strstr(tg_last_error(), "a thing needs 64.0 MiB"));
    tg_memory_budget_set(0);
    ck_assert_uint_eq(tg_memory_budget(), def);
    uint64_t b;
    ck_assert_int_eq(tg_memory_parse("512M", &b), TG_OK);
    ck_assert_uint_eq(b, 512 * MIB);
    ck_assert_int_eq(tg_memory_parse("1.5GiB", &b), TG_OK);
    ck_assert_uint_eq(b, 1536 * MIB);
    ck_assert_int_eq(tg_memory_parse("1000", &b), TG_OK);
    ck_assert_uint_eq(b, 1000);
    ck_assert_int_eq(tg_memory_parse("2k", &b), TG_OK);
    ck_assert_uint_eq(b, 2048);
    const char *bad[] = {"", "x", "-1G", "0", "3X", "1GG", "nan", "1e30T"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(tg_memory_parse(bad[i], &b) == TG_ERR_INVALID, "'%s' parsed", bad[i]);
}
END_TEST

/* A 16-byte IDX header: 0 images of 65536x65536 (the dataset used to calloc the source image). */
START_TEST(test_idx_header_with_no_images_is_costed_before_reading) {
    const uint8_t hdr[16] = {0, 0, 8, 3, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0};
    const uint8_t lab[8] = {0, 0, 8, 1, 0, 0, 0, 0};
    const char *pi = fx_path(dir, "i.idx"), *pl = fx_path(dir, "l.idx");
    ck_assert_int_eq(fx_write(pi, hdr, sizeof hdr), 0);
    ck_assert_int_eq(fx_write(pl, lab, sizeof lab), 0);
    tg_memory_budget_set(256 * MIB);
    tg_dataset_opts o = tg_dataset_opts_default(0, 0);
    tg_dataset ds;
    long before = peak_mib();
    expect_over_budget(tg_dataset_load_idx(pi, pl, NULL, &o, &ds), "0 x 65536 x 65536");
    ck_assert_ptr_nonnull(strstr(tg_last_error(), pi));
    ck_assert_int_lt(peak_mib() - before, 64);
}
END_TEST

/* A gzip IDX holding one 8192x8192 image: 64 MiB of bytes and 256 MiB of floats, refused
 * from the header under a 128 MiB budget before anything is decompressed. */
START_TEST(test_idx_gzip_image_over_budget_is_refused_from_the_header) {
    const char *pi = fx_path(dir, "big.idx.gz"), *pl = fx_path(dir, "big-l.idx");
    uint32_t dims[3] = {1, 8192, 8192}, ldims[1] = {1};
    uint8_t *px = calloc(8192 * 8192, 1), lab = 0;
    ck_assert_ptr_nonnull(px);
    ck_assert_int_eq(tg_idx_write(pi, TG_IDX_U8, 3, dims, px, 1), TG_OK);
    ck_assert_int_eq(tg_idx_write(pl, TG_IDX_U8, 1, ldims, &lab, 0), TG_OK);
    free(px);
    tg_memory_budget_set(128 * MIB);
    tg_dataset_opts o = tg_dataset_opts_default(0, 0);
    tg_dataset ds;
    long before = peak_mib();
    expect_over_budget(tg_dataset_load_idx(pi, pl, NULL, &o, &ds), "8192x8192 gzip");
    ck_assert_int_lt(peak_mib() - before, 32);
    /* The raw array alone is over a 32 MiB budget too. */
    tg_memory_budget_set(32 * MIB);
    tg_idx idx;
    expect_over_budget(tg_idx_read(pi, 0, &idx), "tg_idx_read");
    ck_assert_ptr_null(idx.data);
    tg_idx_free(&idx);
}
END_TEST

/* A header promising 16 bytes followed by 64 MiB of zeros: decompression stops at once. */
START_TEST(test_idx_gzip_bomb_stops_past_the_declared_size) {
    const char *p = fx_path(dir, "bomb.idx.gz");
    gzFile f = gzopen(p, "wb9");
    ck_assert_ptr_nonnull(f);
    const uint8_t hdr[12] = {0, 0, 8, 2, 0, 0, 0, 4, 0, 0, 0, 4};
    ck_assert_int_eq(gzwrite(f, hdr, sizeof hdr), (int)sizeof hdr);
    static uint8_t zeros[1 << 20];
    for (int i = 0; i < 64; i++)
        ck_assert_int_eq(gzwrite(f, zeros, sizeof zeros), (int)sizeof zeros);
    ck_assert_int_eq(gzclose(f), Z_OK);
    long before = peak_mib();
    tg_idx idx;
    ck_assert_int_eq(tg_idx_read(p, 0, &idx), TG_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(tg_last_error(), "trailing bytes"));
    ck_assert_int_lt(peak_mib() - before, 16);
}
END_TEST

/* A 113-byte PNG whose text (or sPLT) chunk declares 1 GiB: libpng allocated it before
 * reading; the chunk list is now checked against the file first. */
START_TEST(test_png_chunk_longer_than_the_file_allocates_nothing) {
    const char *types[] = {"tEXt", "zTXt", "iTXt", "sPLT"};
    for (int k = 0; k < 4; k++) {
        uint8_t png[113] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13, 'I', 'H', 'D',
                            'R',  0,   0,   0,   4,    0,    0,    0,    4, 8, 0, 0,  0,   0};
        uLong crc = crc32(0, png + 12, 17);
        for (int i = 0; i < 4; i++) png[29 + i] = (uint8_t)(crc >> (24 - 8 * i));
        const uint8_t len[4] = {0x40, 0, 0, 0};
        memcpy(png + 33, len, 4);
        memcpy(png + 37, types[k], 4);
        memcpy(png + 41, "Comment\0hello", 13);
        long before = peak_mib();
        tg_image img;
        tg_status st = tg_image_decode(png, sizeof png, "t.png", 0, &img);
        ck_assert_msg(st == TG_ERR_FORMAT, "%s: %s", types[k], tg_status_name(st));
        ck_assert_ptr_nonnull(strstr(tg_last_error(), "declares 1073741824 bytes"));
        ck_assert_msg(peak_mib() - before < 64, "%s chunk: peak grew by %ld MiB", types[k],
                      peak_mib() - before);
    }
}
END_TEST

/* A 10 MB CSV line of commas cost 415 MB: now the header is refused at its column limit,
 * and a data record at its first field beyond the header's count. */
START_TEST(test_csv_line_of_commas_is_refused_where_it_starts) {
    size_t n = 10u << 20;
    char *text = malloc(n + 16);
    ck_assert_ptr_nonnull(text);
    memset(text, ',', n);
    text[n] = '\n';
    long before = peak_mib();
    tg_csv csv;
    ck_assert_int_eq(tg_csv_parse(text, n + 1, "commas.csv", &csv), TG_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(tg_last_error(), "commas.csv:1:4097: the header has more than"));
    memcpy(text, "a,b\n", 4); /* a header of 2 columns, then the commas as a record */
    ck_assert_int_eq(tg_csv_parse(text, n + 1, "commas.csv", &csv), TG_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(tg_last_error(), "commas.csv:2:3: record has more than 2"));
    ck_assert_int_lt(peak_mib() - before, 16);
    /* Many short records: what the parse holds is checked against the budget. */
    tg_memory_budget_set(1 * MIB);
    for (size_t i = 4; i + 2 <= n; i += 2) text[i] = ',', text[i + 1] = '\n';
    expect_over_budget(tg_csv_parse(text, n, "rows.csv", &csv), "1 MiB of short rows");
    ck_assert_ptr_nonnull(strstr(tg_last_error(), "rows.csv:"));
    free(text);
}
END_TEST

/* Images over the budget are refused from their headers. */
START_TEST(test_png_and_jpeg_over_budget_are_refused_from_the_header) {
    static uint8_t g[512 * 512];
    const char *pj = fx_path(dir, "b.jpg");
    ck_assert_int_eq(fx_jpeg(pj, 512, 512, 1, g, 0), 0);
    const char *pp = fx_path(dir, "b.png");
    ck_assert_int_eq(tg_png_write_gray8(pp, 512, 512, g), TG_OK);
    tg_memory_budget_set(1 * MIB); /* 512x512 floats are 1 MiB; with a row, more */
    tg_image img;
    expect_over_budget(tg_image_load(pj, 0, &img), "JPEG");
    ck_assert_ptr_nonnull(strstr(tg_last_error(), "a 512x512 JPEG"));
    expect_over_budget(tg_image_load(pp, 0, &img), "PNG");
    ck_assert_ptr_nonnull(strstr(tg_last_error(), "a 512x512 PNG"));
    /* PGM too: a complete 512x512 raster is 1 MiB of floats, refused one byte below that. */
    static uint8_t pgm[15 + 512 * 512];
    memcpy(pgm, "P5\n512 512\n255\n", 15);
    const char *pg = fx_path(dir, "b.pgm");
    ck_assert_int_eq(fx_write(pg, pgm, sizeof pgm), 0);
    tg_memory_budget_set(1 * MIB - 1);
    expect_over_budget(tg_image_load(pg, 0, &img), "PGM");
    ck_assert_ptr_nonnull(strstr(tg_last_error(), "a 512x512 P5 image"));
    tg_memory_budget_set(2 * MIB);
    ck_assert_int_eq(tg_image_load(pg, 0, &img), TG_OK);
    tg_image_free(&img);
    ck_assert_int_eq(tg_image_load(pj, 0, &img), TG_OK);
    tg_image_free(&img);
    ck_assert_int_eq(tg_image_load(pp, 0, &img), TG_OK);
    tg_image_free(&img);
}
END_TEST

/* A 72-byte model file with 2^38 weights (1 TiB): a summary allocates none of them, and a
 * build is refused from the shapes before any weight exists. */
START_TEST(test_model_summary_allocates_no_weights_and_build_checks_the_budget) {
    const char *text =
        "input 1024 1024 1\nflatten\nfc: dense units=262144\nsiamese normalize=true\n";
    tg_model_def *def;
    ck_assert_int_eq(tg_model_def_parse_text("big.tg", text, &def), TG_OK);
    long before = peak_mib();
    tg_model *m;
    ck_assert_msg(tg_model_build_shapes(def, 0, &m) == TG_OK, "%s", tg_last_error());
    tg_model_stats s;
    ck_assert_int_eq(tg_model_stats_get(m, 0, &s), TG_OK);
    ck_assert_int_eq(s.params, (INT64_C(1) << 38) + 262144);
    char buf[8192];
    ck_assert_int_gt(tg_model_summary_str(m, 0, buf, sizeof buf), 0);
    ck_assert_ptr_nonnull(strstr(buf, "274,878,169,088"));
    /* It cannot run. */
    ck_assert_int_eq(tg_graph_forward(m->graph, m->loss), TG_ERR_STATE);
    ck_assert_ptr_null(tg_graph_param_data(m->graph, NULL));
    ck_assert_int_eq(tg_input_set(m->a, tg_shape4(1, 1, 1024, 1024), NULL), TG_ERR_STATE);
    tg_model_free(m);
    m = (tg_model *)1;
    expect_over_budget(tg_model_build(def, 0, &m), "build");
    ck_assert_ptr_null(m);
    ck_assert_ptr_nonnull(strstr(tg_last_error(), "big.tg: the model at batch 32"));
    ck_assert_int_lt(peak_mib() - before, 64);
    tg_model_def_free(def);
}
END_TEST

/* The ops' own memory counts: a Winograd F(4x4, 3x3) conv's transformed weights (36 per
 * 3x3 kernel) are four times its weights, more than the parameters and activations that
 * the budget counted before (38 MiB here, against 126 MiB with the ops' scratch). */
START_TEST(test_model_build_counts_the_ops_scratch) {
    const char *text = "input 4 4 512\n"
                       "c: conv2d filters=512 kernel=3 pad=same algo=winograd4\n"
                       "flatten\nfc: dense units=8\nsiamese normalize=true\n";
    tg_model_def *def;
    ck_assert_int_eq(tg_model_def_parse_text("wino.tg", text, &def), TG_OK);
    tg_model *m;
    ck_assert_msg(tg_model_build_shapes(def, 0, &m) == TG_OK, "%s", tg_last_error());
    ck_assert_uint_ge(tg_graph_op_bytes(m->graph), UINT64_C(36) * 512 * 512 * sizeof(float));
    tg_model_free(m);
    tg_memory_budget_set(64 * MIB);
    expect_over_budget(tg_model_build(def, 0, &m), "build");
    ck_assert_ptr_nonnull(strstr(tg_last_error(), "wino.tg: the model at batch 32"));
    tg_memory_budget_set(256 * MIB);
    ck_assert_msg(tg_model_build(def, 0, &m) == TG_OK, "%s", tg_last_error());
    tg_model_free(m);
    tg_model_def_free(def);
}
END_TEST

/* A checkpoint section is costed against the budget before it is read. */
START_TEST(test_checkpoint_section_over_budget_is_refused) {
    tg_graph *g = tg_graph_new(1);
    ck_assert_ptr_nonnull(tg_graph_param(g, "w", tg_shape2(1024, 1024), TG_INIT_ZEROS));
    const char *p = fx_path(dir, "w.tgc");
    tg_checkpoint_data d = {.graph = g, .compression = 1};
    ck_assert_msg(tg_checkpoint_save(p, &d) == TG_OK, "%s", tg_last_error());
    tg_graph_free(g);
    tg_memory_budget_set(4 * MIB); /* 4 MiB of zeros inflate from a few KiB */
    tg_checkpoint *ck;
    expect_over_budget(tg_checkpoint_load(p, &ck), "TENS");
    ck_assert_ptr_nonnull(strstr(tg_last_error(), "section TENS"));
    tg_memory_budget_set(16 * MIB);
    ck_assert_msg(tg_checkpoint_load(p, &ck) == TG_OK, "%s", tg_last_error());
    tg_checkpoint_free(ck);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("budget");
    TCase *t = tcase_create("budget");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_set_timeout(t, 120);
    tcase_add_test(t, test_budget_default_set_parse_and_check);
    tcase_add_test(t, test_idx_header_with_no_images_is_costed_before_reading);
    tcase_add_test(t, test_idx_gzip_image_over_budget_is_refused_from_the_header);
    tcase_add_test(t, test_idx_gzip_bomb_stops_past_the_declared_size);
    tcase_add_test(t, test_png_chunk_longer_than_the_file_allocates_nothing);
    tcase_add_test(t, test_csv_line_of_commas_is_refused_where_it_starts);
    tcase_add_test(t, test_png_and_jpeg_over_budget_are_refused_from_the_header);
    tcase_add_test(t, test_model_summary_allocates_no_weights_and_build_checks_the_budget);
    tcase_add_test(t, test_model_build_counts_the_ops_scratch);
    tcase_add_test(t, test_checkpoint_section_over_budget_is_refused);
    suite_add_tcase(s, t);
    return s;
}

int main(void) {
    return tg_check_run(suite());
}
