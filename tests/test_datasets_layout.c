/* CSV reader, IDX files, the folder / CSV / IDX layouts, spec strings and the decoded-image
 * cache, on fixtures the tests write (real data sets: tests/test_datasets_real.c). */
#include <check.h>

#include "tests/tg_check.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <utime.h>
#include <zlib.h>

#include "tests/test_datasets_fixtures.h"
#include "datasets/tg_cache.h"
#include "datasets/tg_csv.h"
#include "datasets/tg_dataset.h"
#include "datasets/tg_idx.h"

static char *dir;

static void setup(void) {
    dir = fx_tmpdir();
}
static void teardown(void) {
    fx_rmtree(dir);
    free(dir);
}

static tg_status parse(const char *text, tg_csv *csv) {
    return tg_csv_parse(text, strlen(text), "m.csv", csv);
}

/* Parsing must fail with exactly this "m.csv:line:col:" prefix. */
static void expect_csv_error(const char *text, const char *where) {
    tg_csv csv;
    ck_assert_int_eq(parse(text, &csv), TG_ERR_FORMAT);
    ck_assert_msg(strncmp(tg_last_error(), where, strlen(where)) == 0, "want '%s', got '%s'", where,
                  tg_last_error());
    ck_assert_ptr_null(csv.cells);
}

START_TEST(test_csv_quotes_commas_newlines_crlf_and_bom) {
    const char *t = "\xEF\xBB\xBFid,note,label\r\n"
                    "a,\"x, y\",COVID-19\r\n"
                    "b,\"two\nlines \"\"quoted\"\"\",\r\n"
                    "\r\n"
                    "c,,No finding";
    tg_csv csv;
    ck_assert_int_eq(parse(t, &csv), TG_OK);
    ck_assert_uint_eq(csv.n_cols, 3);
    ck_assert_uint_eq(csv.n_rows, 3);
    ck_assert_str_eq(csv.header[0], "id"); /* BOM stripped */
    ck_assert_str_eq(tg_csv_cell(&csv, 0, 1), "x, y");
    ck_assert_str_eq(tg_csv_cell(&csv, 1, 1), "two\nlines \"quoted\"");
    ck_assert_str_eq(tg_csv_cell(&csv, 1, 2), "");
    ck_assert_str_eq(tg_csv_cell(&csv, 2, 2), "No finding"); /* last line without newline */
    ck_assert_int_eq(csv.lines[0], 2);
    ck_assert_int_eq(csv.lines[1], 3);
    ck_assert_int_eq(csv.lines[2], 6); /* the quoted newline and the blank line count */
    ck_assert_int_eq(tg_csv_column(&csv, "label"), 2);
    ck_assert_int_eq(tg_csv_column(&csv, "nope"), -1);
    tg_csv_free(&csv);
}
END_TEST

START_TEST(test_csv_errors_report_exact_line_and_column) {
    expect_csv_error("a,b\n1,2\nx,\"open\n\nstill open", "m.csv:3:3:"); /* opening quote */
    expect_csv_error("a,b\n1,ab\"c\n", "m.csv:2:5:");                   /* stray quote */
    expect_csv_error("a,b\n\"q\"x,2\n", "m.csv:2:4:");                  /* text after quote */
    expect_csv_error("a,b\n1,2,3\n", "m.csv:2:5:");                     /* surplus field */
    expect_csv_error("a,b,c\n1,2\n", "m.csv:2:4:");                     /* missing field */
    expect_csv_error("a,b\n\"x\ny\",2,3\n", "m.csv:3:6:");              /* after a quoted newline */
    expect_csv_error("", "m.csv:1:1:");
    tg_csv csv;
    ck_assert_int_eq(tg_csv_read(fx_path(dir, "none.csv"), &csv), TG_ERR_IO);
}
END_TEST

START_TEST(test_idx_round_trip_plain_and_gzip) {
    uint32_t dims[3] = {3, 2, 2};
    uint8_t img[12];
    for (int i = 0; i < 12; i++) img[i] = (uint8_t)(i * 20);
    int32_t ints[3] = {-5, 70000, 1};
    float fl[2] = {1.5f, -2.25f};
    for (int gz = 0; gz < 2; gz++) {
        const char *p = fx_path(dir, gz ? "u8.idx.gz" : "u8.idx");
        ck_assert_int_eq(tg_idx_write(p, TG_IDX_U8, 3, dims, img, gz), TG_OK);
        size_t len;
        uint8_t *raw = fx_read(p, &len);
        if (gz)
            ck_assert(raw[0] == 0x1f && raw[1] == 0x8b);
        else
            ck_assert_uint_eq(len, 4 + 12 + 12);
        free(raw);
        tg_idx x;
        ck_assert_int_eq(tg_idx_read(p, 0, &x), TG_OK);
        ck_assert_int_eq(x.ndim, 3);
        ck_assert_uint_eq(x.dims[0], 3);
        ck_assert_uint_eq(x.count, 12);
        ck_assert_mem_eq(x.data, img, 12);
        tg_idx_free(&x);
        uint32_t d1 = 3, d2 = 2;
        p = fx_path(dir, gz ? "i32.gz" : "i32");
        ck_assert_int_eq(tg_idx_write(p, TG_IDX_I32, 1, &d1, ints, gz), TG_OK);
        ck_assert_int_eq(tg_idx_read(p, 0, &x), TG_OK);
        ck_assert_mem_eq(x.data, ints, sizeof ints);
        tg_idx_free(&x);
        p = fx_path(dir, gz ? "f32.gz" : "f32");
        ck_assert_int_eq(tg_idx_write(p, TG_IDX_F32, 1, &d2, fl, gz), TG_OK);
        ck_assert_int_eq(tg_idx_read(p, 0, &x), TG_OK);
        ck_assert_mem_eq(x.data, fl, sizeof fl);
        tg_idx_free(&x);
    }
}
END_TEST

START_TEST(test_idx_rejects_bad_headers_truncation_and_trailing_bytes) {
    uint32_t dims[2] = {4, 4};
    uint8_t d[16] = {0};
    const char *p = fx_path(dir, "a.idx"), *q = fx_path(dir, "b.idx");
    ck_assert_int_eq(tg_idx_write(p, TG_IDX_U8, 2, dims, d, 0), TG_OK);
    size_t len;
    uint8_t *raw = fx_read(p, &len);
    tg_idx x;
    fx_write(q, raw, len - 1); /* truncated plain file: header vs size */
    ck_assert_int_eq(tg_idx_read(q, 0, &x), TG_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(tg_last_error(), "b.idx"));
    uint8_t *more = malloc(len + 1);
    memcpy(more, raw, len);
    more[len] = 7;
    fx_write(q, more, len + 1); /* trailing byte */
    ck_assert_int_eq(tg_idx_read(q, 0, &x), TG_ERR_FORMAT);
    raw[2] = 0x07; /* unknown type */
    fx_write(q, raw, len);
    ck_assert_int_eq(tg_idx_read(q, 0, &x), TG_ERR_FORMAT);
    raw[2] = 0x08;
    raw[0] = 1; /* bad magic */
    fx_write(q, raw, len);
    ck_assert_int_eq(tg_idx_read(q, 0, &x), TG_ERR_FORMAT);
    /* A forged header declaring 2^32-1 x 2^32-1 bytes on a tiny file. */
    uint8_t forged[12] = {0, 0, 0x08, 2, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    fx_write(q, forged, sizeof forged);
    ck_assert_int_eq(tg_idx_read(q, 0, &x), TG_ERR_LIMIT);
    /* A gzip file whose header promises more than the stream holds. */
    uint8_t big[4] = {0, 0, 0x10, 0};
    const char *g = fx_path(dir, "t.gz");
    uint32_t dd[2] = {4096, 1};
    uint8_t *zeros = calloc(4096, 1);
    ck_assert_int_eq(tg_idx_write(g, TG_IDX_U8, 2, dd, zeros, 1), TG_OK);
    uint8_t *graw = fx_read(g, &len);
    fx_write(g, graw, len / 2);
    ck_assert_int_eq(tg_idx_read(g, 0, &x), TG_ERR_FORMAT);
    (void)big;
    free(graw);
    free(zeros);
    free(raw);
    free(more);
}
END_TEST

/* Write a gzip file of len1 bytes of d, then, as a second gzip member, the next len2. */
static void write_two_members(const char *path, const uint8_t *d, size_t len1, size_t len2) {
    gzFile g = gzopen(path, "wb");
    ck_assert_int_eq(gzwrite(g, d, (unsigned)len1), (int)len1);
    ck_assert_int_eq(gzclose(g), Z_OK);
    g = gzopen(path, "ab"); /* appending starts a new member */
    ck_assert_int_eq(gzwrite(g, d + len1, (unsigned)len2), (int)len2);
    ck_assert_int_eq(gzclose(g), Z_OK);
}

/* The reason for every refusal, and bytes after a gzip stream are refused as the docs say;
 * concatenated gzip members are still one stream. */
START_TEST(test_idx_errors_say_why_and_gzip_trailing_junk_is_refused) {
    tg_idx x;
    char want[1024];
    const char *e = fx_path(dir, "empty.idx");
    fx_write(e, "", 0);
    ck_assert_int_eq(tg_idx_read(e, 0, &x), TG_ERR_FORMAT);
    snprintf(want, sizeof want, "%s: empty file; not an IDX file", e);
    ck_assert_str_eq(tg_last_error(), want);
    fx_write(e, "\0\0\x08", 3);
    ck_assert_int_eq(tg_idx_read_header(e, &x), TG_ERR_FORMAT);
    snprintf(want, sizeof want, "%s: too short for an IDX header (3 of 4 bytes)", e);
    ck_assert_str_eq(tg_last_error(), want);
    const char *m = fx_path(dir, "missing.idx");
    ck_assert_int_eq(tg_idx_read(m, 0, &x), TG_ERR_IO);
    snprintf(want, sizeof want, "%s: cannot open: %s", m, strerror(ENOENT));
    ck_assert_str_eq(tg_last_error(), want);
    ck_assert_int_eq(tg_idx_read(dir, 0, &x), TG_ERR_IO);
    snprintf(want, sizeof want, "%s: read error: %s", dir, strerror(EISDIR));
    ck_assert_str_eq(tg_last_error(), want);

    uint32_t dims[2] = {4, 4};
    uint8_t d[16];
    for (int i = 0; i < 16; i++) d[i] = (uint8_t)(i * 3);
    const char *p = fx_path(dir, "a.idx"), *g = fx_path(dir, "a.idx.gz");
    ck_assert_int_eq(tg_idx_write(p, TG_IDX_U8, 2, dims, d, 0), TG_OK);
    ck_assert_int_eq(tg_idx_write(g, TG_IDX_U8, 2, dims, d, 1), TG_OK);
    size_t plen, glen;
    uint8_t *raw = fx_read(p, &plen), *graw = fx_read(g, &glen);
    uint8_t *junk = malloc(glen + 4);
    memcpy(junk, graw, glen);
    memcpy(junk + glen, "JUNK", 4);
    for (size_t extra = 1; extra <= 4; extra++) { /* one junk byte up to four */
        fx_write(g, junk, glen + extra);
        ck_assert_int_eq(tg_idx_read(g, 0, &x), TG_ERR_FORMAT);
        snprintf(want, sizeof want, "%s: trailing bytes after the end of the gzip stream", g);
        ck_assert_str_eq(tg_last_error(), want);
    }
    /* Two members that together hold the file: read as one. */
    write_two_members(g, raw, 10, plen - 10);
    ck_assert_msg(tg_idx_read(g, 0, &x) == TG_OK, "%s", tg_last_error());
    ck_assert_uint_eq(x.count, 16);
    ck_assert_int_eq(memcmp(x.data, d, 16), 0);
    tg_idx_free(&x);
    /* A second member after the whole array is more data than the header declares. */
    uint8_t *twice = malloc(2 * plen);
    memcpy(twice, raw, plen);
    memcpy(twice + plen, raw, plen);
    write_two_members(g, twice, plen, plen);
    ck_assert_int_eq(tg_idx_read(g, 0, &x), TG_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(tg_last_error(), "trailing bytes after the 16-byte array"));
    free(twice);
    free(junk);
    free(raw);
    free(graw);
}
END_TEST

/* Folder layout: two classes, mixed formats, a text file and a broken image. */
static void make_folders(const char *root) {
    mkdir(root, 0755);
    mkdir(fx_path(root, "cat"), 0755);
    mkdir(fx_path(root, "dog"), 0755);
    uint8_t px[16 * 16];
    for (int i = 0; i < 256; i++) px[i] = (uint8_t)i;
    tg_png_write_gray8(fx_path(root, "cat/a.png"), 16, 16, px);
    tg_png_write_gray8(fx_path(root, "cat/b.png"), 16, 16, px);
    fx_jpeg(fx_path(root, "dog/c.jpg"), 16, 16, 1, px, 0);
    const char *pgm = "P2 2 2 255 0 255 255 0\n";
    fx_write(fx_path(root, "dog/d.pgm"), pgm, strlen(pgm));
    fx_write(fx_path(root, "dog/README.txt"), "notes", 5);
    fx_write(fx_path(root, "dog/broken.png"), "\x89PNG\r\n\x1a\nxx", 10);
    fx_write(fx_path(root, "loose.txt"), "x", 1);
}

START_TEST(test_folders_layout_loads_classes_and_records_skips) {
    char root[4096];
    snprintf(root, sizeof root, "%s/f", dir);
    make_folders(root);
    tg_dataset_opts o = tg_dataset_opts_default(8, 8);
    tg_dataset ds;
    ck_assert_int_eq(tg_dataset_load_folders(root, &o, &ds), TG_OK);
    ck_assert_uint_eq(ds.n, 4);
    ck_assert_int_eq(ds.n_classes, 2);
    ck_assert_str_eq(ds.class_names[0], "cat");
    ck_assert_str_eq(ds.class_names[1], "dog");
    ck_assert_uint_eq(tg_dataset_class_count(&ds, 0), 2);
    ck_assert_uint_eq(tg_dataset_class_count(&ds, 1), 2);
    ck_assert_uint_eq(ds.summary.rows, 6);
    ck_assert_uint_eq(ds.summary.not_image, 1);
    ck_assert_uint_eq(ds.summary.decode_failed, 1);
    ck_assert_uint_eq(ds.summary.n_skips, 2);
    ck_assert_uint_eq(ds.n_groups, 4); /* no group column: each image its own group */
    char *text = NULL;
    size_t tl = 0;
    FILE *f = open_memstream(&text, &tl);
    tg_dataset_summary_print(&ds, f);
    fclose(f);
    ck_assert_ptr_nonnull(strstr(text, "broken.png"));
    ck_assert_ptr_nonnull(strstr(text, "README.txt"));
    free(text);
    tg_dataset_free(&ds);
    o.on_error = TG_ON_ERROR_STOP;
    ck_assert_int_ne(tg_dataset_load_folders(root, &o, &ds), TG_OK);
    ck_assert_ptr_nonnull(strstr(tg_last_error(), "dog/README.txt"));
    ck_assert_ptr_null(ds.images);
}
END_TEST

/* CSV layout with stems, file names, empty and excluded labels, a missing file, groups. */
static void make_csv_dataset(const char *root) {
    mkdir(root, 0755);
    mkdir(fx_path(root, "images"), 0755);
    uint8_t px[10 * 10];
    for (int i = 0; i < 100; i++) px[i] = (uint8_t)(i * 2);
    tg_png_write_gray8(fx_path(root, "images/p1a.png"), 10, 10, px);
    tg_png_write_gray8(fx_path(root, "images/p1b.png"), 10, 10, px);
    fx_jpeg(fx_path(root, "images/p2.jpg"), 10, 10, 1, px, 1);
    tg_png_write_gray8(fx_path(root, "images/p3.png"), 10, 10, px);
    tg_png_write_gray8(fx_path(root, "images/p4.png"), 10, 10, px);
    tg_png_write_gray8(fx_path(root, "images/p5.png"), 10, 10, px);
    const char *csv = "patientid,patient,finding,notes\n"
                      "p1a,P1,COVID-19,\"first, of two\"\n"
                      "p1b,P1,COVID-19,\n"
                      "p2,P2,No finding,\n"
                      "p3,P3,,unknown\n"
                      "p4,P4,Pneumonia,\n"
                      "p5,P5,Tuberculosis,\n"
                      "p6,P6,COVID-19,no image file\n"
                      "p3.png,P3b,No finding,\n";
    fx_write(fx_path(root, "metadata.csv"), csv, strlen(csv));
}

/* split= and fold= columns: a user-given split and cross-validation folds, per row;
 * cv=k/K in a spec turns fold k into the test part. */
START_TEST(test_csv_split_and_fold_columns) {
    char root[4096];
    snprintf(root, sizeof root, "%s/s", dir);
    make_csv_dataset(root);
    const char *csv = "patientid,patient,finding,part,fold\n"
                      "p1a,P1,COVID-19,train,7\n"
                      "p1b,P1,COVID-19,TRAIN,7\n"
                      "p2,P2,No finding,Validation,3\n"
                      "p4,P4,No finding,test,3\n";
    fx_write(fx_path(root, "split.csv"), csv, strlen(csv));
    const char *pos[] = {"COVID-19"}, *neg[] = {"*"};
    tg_csv_layout L = {fx_path(root, "split.csv"), NULL,   "patientid", "finding", "patient",
                       {pos, 1, neg, 1},           "part", "fold",      0};
    tg_dataset_opts o = tg_dataset_opts_default(6, 6);
    tg_dataset ds;
    ck_assert_msg(tg_dataset_load_csv(&L, &o, &ds) == TG_OK, "%s", tg_last_error());
    ck_assert_uint_eq(ds.n, 4);
    int parts[] = {TG_PART_TRAIN, TG_PART_TRAIN, TG_PART_VAL, TG_PART_TEST};
    int folds[] = {1, 1, 0, 0}; /* the values 3 and 7, numbered in order */
    for (int i = 0; i < 4; i++) {
        ck_assert_int_eq(ds.parts[i], parts[i]);
        ck_assert_int_eq(ds.folds[i], folds[i]);
    }
    ck_assert_int_eq(ds.n_folds, 2);
    tg_dataset_free(&ds);
    /* Without the columns there are no parts or folds. */
    L.split_column = L.fold_column = NULL;
    ck_assert_int_eq(tg_dataset_load_csv(&L, &o, &ds), TG_OK);
    ck_assert_ptr_null(ds.parts);
    ck_assert_ptr_null(ds.folds);
    tg_dataset_free(&ds);
    /* cv=2/2 with the fold column: the second fold (value 7) is the test part. */
    char spec[8192];
    snprintf(spec, sizeof spec,
             "csv:%s,image=patientid,label=finding,positive=COVID-19,"
             "negative=*,group=patient,fold=fold,cv=2/2",
             fx_path(root, "split.csv"));
    ck_assert_msg(tg_dataset_load_spec(spec, &o, &ds) == TG_OK, "%s", tg_last_error());
    int cv_parts[] = {TG_PART_TEST, TG_PART_TEST, TG_PART_TRAIN, TG_PART_TRAIN};
    for (int i = 0; i < 4; i++) ck_assert_int_eq(ds.parts[i], cv_parts[i]);
    tg_dataset_free(&ds);
    /* cv= with a fold count the column does not have, and with split=: errors. */
    snprintf(spec, sizeof spec,
             "csv:%s,image=patientid,label=finding,positive=COVID-19,"
             "negative=*,fold=fold,cv=1/3",
             fx_path(root, "split.csv"));
    ck_assert_int_ne(tg_dataset_load_spec(spec, &o, &ds), TG_OK);
    ck_assert_ptr_nonnull(strstr(tg_last_error(), "2 distinct values"));
    snprintf(spec, sizeof spec,
             "csv:%s,image=patientid,label=finding,positive=COVID-19,"
             "negative=*,split=part,cv=1/2",
             fx_path(root, "split.csv"));
    ck_assert_int_ne(tg_dataset_load_spec(spec, &o, &ds), TG_OK);
    /* A value that is no split names its CSV line. */
    const char *bad = "patientid,patient,finding,part,fold\n"
                      "p1a,P1,COVID-19,train,1\n"
                      "p2,P2,No finding,tset,x\n";
    fx_write(fx_path(root, "bad.csv"), bad, strlen(bad));
    L.csv_path = fx_path(root, "bad.csv");
    L.split_column = "part";
    ck_assert_int_ne(tg_dataset_load_csv(&L, &o, &ds), TG_OK);
    ck_assert_ptr_nonnull(strstr(tg_last_error(), "bad.csv:3"));
    ck_assert_ptr_nonnull(strstr(tg_last_error(), "expected train, val or test"));
    L.split_column = NULL;
    L.fold_column = "fold";
    ck_assert_int_ne(tg_dataset_load_csv(&L, &o, &ds), TG_OK);
    ck_assert_ptr_nonnull(strstr(tg_last_error(), "expected an integer"));
}
END_TEST

START_TEST(test_csv_layout_resolves_stems_counts_skips_and_groups) {
    char root[4096];
    snprintf(root, sizeof root, "%s/c", dir);
    make_csv_dataset(root);
    const char *pos[] = {"COVID-19"}, *neg[] = {"No finding", "Pneumonia"};
    tg_csv_layout L = {fx_path(root, "metadata.csv"),
                       NULL,
                       "patientid",
                       "finding",
                       "patient",
                       {pos, 1, neg, 2},
                       NULL,
                       NULL,
                       0};
    tg_dataset_opts o = tg_dataset_opts_default(6, 6);
    tg_dataset ds;
    ck_assert_int_eq(tg_dataset_load_csv(&L, &o, &ds), TG_OK);
    ck_assert_uint_eq(ds.n, 5); /* p1a p1b p2 p4 p3.png */
    ck_assert_uint_eq(ds.summary.rows, 8);
    ck_assert_uint_eq(ds.summary.empty_label, 1);
    ck_assert_uint_eq(ds.summary.excluded_label, 1); /* Tuberculosis */
    ck_assert_uint_eq(ds.summary.missing_file, 1);   /* p6 */
    ck_assert_uint_eq(tg_dataset_class_count(&ds, 1), 2);
    ck_assert_uint_eq(tg_dataset_class_count(&ds, 0), 3);
    ck_assert_str_eq(ds.class_names[1], "COVID-19");
    ck_assert_str_eq(ds.class_names[0], "No finding|Pneumonia");
    ck_assert_uint_eq(ds.n_groups, 4);
    ck_assert_int_eq(ds.groups[0], ds.groups[1]); /* P1's two images */
    ck_assert_int_ne(ds.groups[0], ds.groups[2]);
    ck_assert_ptr_nonnull(strstr(ds.paths[2], "p2.jpg"));
    ck_assert_ptr_nonnull(strstr(ds.summary.skips[0].what, "metadata.csv:8"));
    tg_dataset_free(&ds);
    /* "every other label" takes Tuberculosis in as a negative too. */
    const char *star[] = {"*"};
    L.labels.negative = star;
    L.labels.n_negative = 1;
    ck_assert_int_eq(tg_dataset_load_csv(&L, &o, &ds), TG_OK);
    ck_assert_uint_eq(ds.n, 6);
    ck_assert_str_eq(ds.class_names[0], "not COVID-19");
    tg_dataset_free(&ds);
    /* No positive labels: one class per distinct label, sorted. */
    L.labels.n_positive = 0;
    L.labels.n_negative = 0;
    ck_assert_int_eq(tg_dataset_load_csv(&L, &o, &ds), TG_OK);
    ck_assert_int_eq(ds.n_classes, 4);
    ck_assert_str_eq(ds.class_names[0], "COVID-19");
    ck_assert_str_eq(ds.class_names[3], "Tuberculosis");
    tg_dataset_free(&ds);
    L.label_column = "diagnosis";
    ck_assert_int_eq(tg_dataset_load_csv(&L, &o, &ds), TG_ERR_UNKNOWN);
    ck_assert_ptr_nonnull(strstr(tg_last_error(), "patientid, patient, finding, notes"));
}
END_TEST

/* Issue 10, failure 6: an image field may not leave the images folder (an absolute path or a
 * ".." component) unless the layout allows it (outside=yes in a spec). */
START_TEST(test_csv_image_paths_stay_inside_the_images_folder) {
    char root[4096];
    snprintf(root, sizeof root, "%s/o", dir);
    mkdir(root, 0755);
    mkdir(fx_path(root, "images"), 0755);
    mkdir(fx_path(root, "images/sub"), 0755);
    uint8_t px[10 * 10] = {0};
    ck_assert_int_eq(tg_png_write_gray8(fx_path(root, "secret.png"), 10, 10, px), TG_OK);
    ck_assert_int_eq(tg_png_write_gray8(fx_path(root, "images/in.png"), 10, 10, px), TG_OK);
    ck_assert_int_eq(tg_png_write_gray8(fx_path(root, "images/sub/deep.png"), 10, 10, px), TG_OK);
    char abs_secret[4200];
    snprintf(abs_secret, sizeof abs_secret, "%s/secret.png", root);
    const char *bad[] = {"../secret.png", "sub/../../secret", abs_secret, "./../secret.png",
                         "sub//..//..//secret.png"};
    const char *pos[] = {"b"}, *neg[] = {"a"};
    tg_dataset_opts o = tg_dataset_opts_default(6, 6);
    tg_dataset ds;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char csv[8192];
        snprintf(csv, sizeof csv, "file,label\nin.png,a\nsub/deep.png,b\n%s,b\n", bad[i]);
        ck_assert_int_eq(fx_write(fx_path(root, "m.csv"), csv, strlen(csv)), 0);
        tg_csv_layout L = {fx_path(root, "m.csv"), NULL, "file", "label", NULL,
                           {pos, 1, neg, 1},       NULL, NULL,   0};
        ck_assert_msg(tg_dataset_load_csv(&L, &o, &ds) == TG_ERR_INVALID, "'%s' was followed",
                      bad[i]);
        ck_assert_msg(strstr(tg_last_error(), "m.csv:4: image") != NULL &&
                          strstr(tg_last_error(), "leaves the images folder") != NULL,
                      "%s", tg_last_error());
        L.allow_outside = 1;
        ck_assert_msg(tg_dataset_load_csv(&L, &o, &ds) == TG_OK, "%s", tg_last_error());
        ck_assert_uint_eq(ds.n, 3);
        ck_assert_ptr_nonnull(strstr(ds.paths[2], "secret"));
        tg_dataset_free(&ds);
    }
    /* The spec key, and names that merely contain dots, which stay inside. */
    char spec[4200];
    snprintf(spec, sizeof spec, "csv:%s,image=file,label=label,positive=b,size=6",
             fx_path(root, "m.csv"));
    ck_assert_int_eq(tg_dataset_load_spec(spec, &o, &ds), TG_ERR_INVALID);
    snprintf(spec, sizeof spec, "csv:%s,image=file,label=label,positive=b,size=6,outside=yes",
             fx_path(root, "m.csv"));
    ck_assert_msg(tg_dataset_load_spec(spec, &o, &ds) == TG_OK, "%s", tg_last_error());
    tg_dataset_free(&ds);
    snprintf(spec, sizeof spec, "csv:%s,image=file,label=label,outside=maybe",
             fx_path(root, "m.csv"));
    ck_assert_int_eq(tg_dataset_load_spec(spec, &o, &ds), TG_ERR_ATTR);
    ck_assert_int_eq(tg_png_write_gray8(fx_path(root, "images/..x.png"), 10, 10, px), TG_OK);
    const char *ok = "file,label\nin.png,a\n..x.png,b\n./sub/deep.png,b\n";
    ck_assert_int_eq(fx_write(fx_path(root, "m.csv"), ok, strlen(ok)), 0);
    tg_csv_layout L = {fx_path(root, "m.csv"), NULL, "file", "label", NULL,
                       {pos, 1, neg, 1},       NULL, NULL,   0};
    ck_assert_msg(tg_dataset_load_csv(&L, &o, &ds) == TG_OK, "%s", tg_last_error());
    ck_assert_uint_eq(ds.n, 3);
    tg_dataset_free(&ds);
}
END_TEST

START_TEST(test_spec_strings_load_and_report_bad_keys_with_column) {
    char root[1024], spec[8192];
    snprintf(root, sizeof root, "%s/c", dir);
    make_csv_dataset(root);
    tg_dataset_opts o = tg_dataset_opts_default(6, 6);
    tg_dataset ds;
    snprintf(spec, sizeof spec,
             "csv:%s/metadata.csv,image=patientid,label=finding,positive=COVID-19,"
             "negative=No finding|Pneumonia,group=patient,size=12x7,norm=minmax,aspect=pad",
             root);
    ck_assert_msg(tg_dataset_load_spec(spec, &o, &ds) == TG_OK, "%s", tg_last_error());
    ck_assert_uint_eq(ds.n, 5);
    ck_assert_int_eq(ds.width, 12);
    ck_assert_int_eq(ds.height, 7);
    tg_dataset_free(&ds);
    snprintf(spec, sizeof spec, "csv:%s/metadata.csv,image=patientid,label=finding,colour=red",
             root);
    ck_assert_int_eq(tg_dataset_load_spec(spec, &o, &ds), TG_ERR_UNKNOWN);
    char want[64];
    snprintf(want, sizeof want, "spec:1:%zu: unknown key 'colour'", strlen(spec) - 9);
    ck_assert_msg(strncmp(tg_last_error(), want, strlen(want)) == 0, "%s", tg_last_error());
    ck_assert_int_eq(tg_dataset_load_spec("zip:foo", &o, &ds), TG_ERR_UNKNOWN);
    ck_assert_int_eq(tg_dataset_load_spec("nocolon", &o, &ds), TG_ERR_ATTR);
    snprintf(spec, sizeof spec, "folders:%s,size=0x5", root);
    ck_assert_int_eq(tg_dataset_load_spec(spec, &o, &ds), TG_ERR_ATTR);
    ck_assert_int_eq(tg_dataset_load_spec("idx:only-one", &o, &ds), TG_ERR_ATTR);
    /* An escaped comma stays inside a label. */
    const char *csv = "f,l\np1a,\"a,b\"\np2,c\n";
    fx_write(fx_path(root, "comma.csv"), csv, strlen(csv));
    snprintf(spec, sizeof spec,
             "csv:%s/comma.csv,images=%s/images,image=f,label=l,positive=a\\,b,"
             "negative=*",
             root, root);
    ck_assert_msg(tg_dataset_load_spec(spec, &o, &ds) == TG_OK, "%s", tg_last_error());
    ck_assert_uint_eq(tg_dataset_class_count(&ds, 1), 1);
    ck_assert_str_eq(ds.class_names[1], "a,b");
    tg_dataset_free(&ds);
}
END_TEST

/* A spec must fail with this error status and message, which starts with spec:1:COL
 * where COL is the column of `at` in the spec. */
static void expect_spec_error(const char *spec, tg_status want, const char *at, const char *msg) {
    tg_dataset_opts o = tg_dataset_opts_default(6, 6);
    tg_dataset ds;
    ck_assert_msg(tg_dataset_load_spec(spec, &o, &ds) == want, "%s: %s", spec, tg_last_error());
    const char *p = strstr(spec, at);
    ck_assert_ptr_nonnull(p);
    char prefix[1024];
    snprintf(prefix, sizeof prefix, "spec:1:%d: %s", (int)(p - spec) + 1, msg);
    ck_assert_msg(strncmp(tg_last_error(), prefix, strlen(prefix)) == 0, "want '%s', got '%s'",
                  prefix, tg_last_error());
}

/* The CSV fixture in root and the start of a spec for it in base. */
static void spec_fixture(char *root, size_t root_size, char *base, size_t base_size) {
    snprintf(root, root_size, "%s/c", dir);
    make_csv_dataset(root);
    snprintf(base, base_size, "csv:%s/metadata.csv,image=patientid,label=finding", root);
}

#define SPEC(...) (snprintf(spec, sizeof spec, __VA_ARGS__), spec)

/* A repeated key is named at its second use, not called unknown. */
START_TEST(test_spec_refuses_a_repeated_key) {
    char root[1024], base[2048], spec[4096];
    spec_fixture(root, sizeof root, base, sizeof base);
    expect_spec_error(SPEC("%s,size=8,norm=none,size=9", base), TG_ERR_ATTR, "size=9",
                      "key 'size' given twice (first at column");
    expect_spec_error(SPEC("synth:%s,label=finding,label=notes", root), TG_ERR_ATTR, "label=notes",
                      "key 'label' given twice");
}
END_TEST

/* strtof takes nan and inf: each is refused at its own key, and the image normaliser
 * names the mean when the mean is bad (tests/test_datasets_image.c). */
START_TEST(test_spec_refuses_non_finite_numbers_at_their_key) {
    char root[1024], base[2048], spec[4096];
    spec_fixture(root, sizeof root, base, sizeof base);
    expect_spec_error(SPEC("%s,norm=fixed,mean=nan,std=1", base), TG_ERR_ATTR,
                      "mean=", "mean=nan: expected a finite number");
    expect_spec_error(SPEC("%s,norm=fixed,mean=0,std=inf", base), TG_ERR_ATTR,
                      "std=", "std=inf: expected a finite number");
    expect_spec_error(SPEC("%s,pad=-inf", base), TG_ERR_ATTR,
                      "pad=", "pad=-inf: expected a finite");
}
END_TEST

/* Label lists that cannot work: empty, an empty entry, '*' as a positive, one label on both
 * sides, negatives without positives (which would be ignored). */
START_TEST(test_spec_refuses_label_lists_that_cannot_work) {
    char root[1024], base[2048], spec[4096];
    spec_fixture(root, sizeof root, base, sizeof base);
    expect_spec_error(SPEC("%s,positive=,negative=*", base), TG_ERR_ATTR,
                      "positive=", "positive=: an empty positive label");
    expect_spec_error(SPEC("%s,positive=COVID-19|,negative=*", base), TG_ERR_ATTR,
                      "positive=", "positive=COVID-19|: an empty positive label");
    expect_spec_error(SPEC("%s,positive=COVID-19,negative=", base), TG_ERR_ATTR,
                      "negative=", "negative=: an empty negative label");
    expect_spec_error(SPEC("%s,positive=*,negative=COVID-19", base), TG_ERR_ATTR, "positive=",
                      "positive=*: '*' (every other label) is only for the negative labels");
    expect_spec_error(SPEC("%s,positive=COVID-19,negative=No finding|COVID-19", base), TG_ERR_ATTR,
                      "negative=", "negative=No finding|COVID-19: label 'COVID-19' is both");
    expect_spec_error(SPEC("%s,negative=COVID-19", base), TG_ERR_ATTR,
                      "negative=", "negative=COVID-19: negative labels need positive labels");
    /* synth's default positive (COVID-19) against the user's negative. */
    expect_spec_error(SPEC("synth:%s,negative=COVID-19", root), TG_ERR_ATTR, "negative=",
                      "negative=COVID-19: label 'COVID-19' is both positive and negative");
    expect_spec_error(SPEC("synth:%s,positive=", root), TG_ERR_ATTR,
                      "positive=", "positive=: an empty positive label");
    expect_spec_error(SPEC("idx:a,b,positive=3,negative=3"), TG_ERR_ATTR,
                      "negative=", "negative=3: label '3' is both");
    expect_spec_error(SPEC("folders:%s,negative=x", root), TG_ERR_UNKNOWN,
                      "negative=", "folders takes its classes from folder names");
    /* A list longer than the 64 labels kept is refused, not cut short (64 are read). */
    char many[1024] = "";
    for (int i = 0; i < 65; i++)
        snprintf(many + strlen(many), sizeof many - strlen(many), "%sL%d", i ? "|" : "", i);
    expect_spec_error(SPEC("%s,positive=COVID-19,negative=%s", base, many), TG_ERR_LIMIT,
                      "negative=", "negative=: at most 64 labels");
    /* The library refuses the same lists from its API, naming the file. */
    const char *pos[] = {"3"}, *neg[] = {"1", "3"};
    tg_label_spec ls = {pos, 1, neg, 2};
    tg_dataset_opts o = tg_dataset_opts_default(6, 6);
    tg_dataset ds;
    ck_assert_int_eq(tg_dataset_load_idx("im", "lb", &ls, &o, &ds), TG_ERR_INVALID);
    ck_assert_str_eq(tg_last_error(), "lb: label '3' is both positive and negative");
}
END_TEST

#undef SPEC

START_TEST(test_idx_layout_loads_binary_and_multiclass) {
    uint32_t di[3] = {5, 3, 4}, dl[1] = {5};
    uint8_t img[60], lab[5] = {3, 1, 3, 7, 1};
    for (int i = 0; i < 60; i++) img[i] = (uint8_t)(i * 4);
    const char *pi = fx_path(dir, "im.gz"), *pl = fx_path(dir, "lb");
    ck_assert_int_eq(tg_idx_write(pi, TG_IDX_U8, 3, di, img, 1), TG_OK);
    ck_assert_int_eq(tg_idx_write(pl, TG_IDX_U8, 1, dl, lab, 0), TG_OK);
    tg_dataset_opts o = tg_dataset_opts_default(0, 0);
    tg_dataset ds;
    ck_assert_int_eq(tg_dataset_load_idx(pi, pl, NULL, &o, &ds), TG_OK);
    ck_assert_uint_eq(ds.n, 5);
    ck_assert_int_eq(ds.width, 4);
    ck_assert_int_eq(ds.height, 3);
    ck_assert_int_eq(ds.n_classes, 3); /* "1", "3", "7" */
    ck_assert_int_eq(ds.labels[0], 1);
    ck_assert_int_eq(ds.labels[3], 2);
    ck_assert_float_eq_tol(tg_dataset_image(&ds, 1)[0], 48.0f / 255.0f, 1e-6);
    tg_dataset_free(&ds);
    const char *pos[] = {"3"}, *neg[] = {"1"};
    tg_label_spec ls = {pos, 1, neg, 1};
    o = tg_dataset_opts_default(8, 6);
    ck_assert_int_eq(tg_dataset_load_idx(pi, pl, &ls, &o, &ds), TG_OK);
    ck_assert_uint_eq(ds.n, 4);
    ck_assert_uint_eq(ds.summary.excluded_label, 1);
    ck_assert_uint_eq(tg_dataset_class_count(&ds, 1), 2);
    ck_assert_int_eq(ds.width, 8);
    tg_dataset_free(&ds);
    ck_assert_int_eq(tg_dataset_load_idx(pl, pi, NULL, &o, &ds), TG_ERR_FORMAT);
}
END_TEST

START_TEST(test_cache_hits_on_second_load_and_matches_decoding) {
    char root[4096], cache[4096];
    snprintf(root, sizeof root, "%s/c", dir);
    snprintf(cache, sizeof cache, "%s/cache.tgc", dir);
    make_csv_dataset(root);
    const char *pos[] = {"COVID-19"}, *neg[] = {"*"};
    tg_csv_layout L = {fx_path(root, "metadata.csv"),
                       NULL,
                       "patientid",
                       "finding",
                       NULL,
                       {pos, 1, neg, 1},
                       NULL,
                       NULL,
                       0};
    tg_dataset_opts o = tg_dataset_opts_default(7, 5);
    o.cache_path = cache;
    o.image.norm = TG_NORM_STANDARDIZE;
    tg_dataset a, b;
    ck_assert_int_eq(tg_dataset_load_csv(&L, &o, &a), TG_OK);
    ck_assert_uint_eq(a.summary.cache_hits, 0);
    ck_assert_int_eq(tg_dataset_load_csv(&L, &o, &b), TG_OK);
    ck_assert_uint_eq(b.summary.cache_hits, a.n);
    ck_assert_uint_eq(a.n, b.n);
    ck_assert_mem_eq(a.images, b.images, sizeof(float) * a.n * 35);
    tg_dataset_free(&b);
    /* A changed file (new mtime) is decoded again; the others still hit. */
    struct utimbuf ut = {time(NULL) + 100, time(NULL) + 100};
    utime(fx_path(root, "images/p2.jpg"), &ut);
    ck_assert_int_eq(tg_dataset_load_csv(&L, &o, &b), TG_OK);
    ck_assert_uint_eq(b.summary.cache_hits, a.n - 1);
    tg_dataset_free(&b);
    /* Another target size: the cache is not used. */
    tg_dataset_opts o2 = o;
    o2.image.width = 9;
    ck_assert_int_eq(tg_dataset_load_csv(&L, &o2, &b), TG_OK);
    ck_assert_uint_eq(b.summary.cache_hits, 0);
    ck_assert_ptr_nonnull(strstr(b.summary.cache_note, "another target size"));
    tg_dataset_free(&b);
    ck_assert_int_eq(tg_dataset_load_csv(&L, &o, &b), TG_OK); /* rebuild for size 7x5 */
    tg_dataset_free(&b);
    /* Corrupt the cache: a flipped byte or a cut file is ignored and rebuilt. */
    size_t len;
    uint8_t *raw = fx_read(cache, &len);
    for (int mode = 0; mode < 3; mode++) {
        uint8_t *bad = malloc(len);
        memcpy(bad, raw, len);
        size_t blen = len;
        if (mode == 0)
            bad[len / 2] ^= 0xff;
        else if (mode == 1)
            blen = len / 3;
        else
            memcpy(bad, "garbage!", 8);
        fx_write(cache, bad, blen);
        free(bad);
        ck_assert_int_eq(tg_dataset_load_csv(&L, &o, &b), TG_OK);
        ck_assert_uint_eq(b.summary.cache_hits, 0);
        ck_assert_ptr_nonnull(strstr(b.summary.cache_note, "ignored"));
        ck_assert_mem_eq(a.images, b.images, sizeof(float) * a.n * 35);
        tg_dataset_free(&b);
        ck_assert_int_eq(tg_dataset_load_csv(&L, &o, &b), TG_OK); /* rebuilt */
        ck_assert_uint_eq(b.summary.cache_hits, a.n);
        tg_dataset_free(&b);
    }
    free(raw);
    tg_dataset_free(&a);
}
END_TEST

START_TEST(test_cache_auto_uses_xdg_cache_home) {
    char root[1024], xdg[1100], spec[4096];
    snprintf(root, sizeof root, "%s/c", dir);
    snprintf(xdg, sizeof xdg, "%s/xdg", dir);
    make_csv_dataset(root);
    setenv("XDG_CACHE_HOME", xdg, 1);
    snprintf(spec, sizeof spec,
             "csv:%s/metadata.csv,image=patientid,label=finding,positive=COVID-19,negative=*,"
             "cache=auto",
             root);
    tg_dataset_opts o = tg_dataset_opts_default(5, 5);
    tg_dataset a, b;
    ck_assert_int_eq(tg_dataset_load_spec(spec, &o, &a), TG_OK);
    ck_assert_int_eq(tg_dataset_load_spec(spec, &o, &b), TG_OK);
    ck_assert_uint_eq(a.summary.cache_hits, 0);
    ck_assert_uint_eq(b.summary.cache_hits, b.n);
    struct stat st;
    ck_assert_int_eq(stat(fx_path(xdg, "twingrad"), &st), 0);
    unsetenv("XDG_CACHE_HOME");
    tg_dataset_free(&a);
    tg_dataset_free(&b);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("datasets_layout");
    TCase *t = tcase_create("layout");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_set_timeout(t, 300);
    tcase_add_test(t, test_csv_quotes_commas_newlines_crlf_and_bom);
    tcase_add_test(t, test_csv_errors_report_exact_line_and_column);
    tcase_add_test(t, test_idx_round_trip_plain_and_gzip);
    tcase_add_test(t, test_idx_rejects_bad_headers_truncation_and_trailing_bytes);
    tcase_add_test(t, test_idx_errors_say_why_and_gzip_trailing_junk_is_refused);
    tcase_add_test(t, test_folders_layout_loads_classes_and_records_skips);
    tcase_add_test(t, test_csv_layout_resolves_stems_counts_skips_and_groups);
    tcase_add_test(t, test_csv_split_and_fold_columns);
    tcase_add_test(t, test_csv_image_paths_stay_inside_the_images_folder);
    tcase_add_test(t, test_spec_strings_load_and_report_bad_keys_with_column);
    tcase_add_test(t, test_spec_refuses_a_repeated_key);
    tcase_add_test(t, test_spec_refuses_non_finite_numbers_at_their_key);
    tcase_add_test(t, test_spec_refuses_label_lists_that_cannot_work);
    tcase_add_test(t, test_idx_layout_loads_binary_and_multiclass);
    tcase_add_test(t, test_cache_hits_on_second_load_and_matches_decoding);
    tcase_add_test(t, test_cache_auto_uses_xdg_cache_home);
    suite_add_tcase(s, t);
    return s;
}

int main(void) {
    return tg_check_run(suite());
}
