/* Real data sets, when they are on this machine: the Fashion-MNIST test set (Debian's
 * dataset-fashion-mnist) and the Figure 1 chest X-ray sample in ../shared. A test whose data
 * is absent is reported as skipped, and then the program exits 77 (automake's SKIP). */
#include <check.h>

#include "tests/tg_check.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "tests/test_datasets_fixtures.h"
#include "datasets/tg_csv.h"
#include "datasets/tg_dataset.h"
#include "datasets/tg_image.h"

static char *dir;

static void setup(void) {
    dir = fx_tmpdir();
}
static void teardown(void) {
    fx_rmtree(dir);
    free(dir);
}

START_TEST(test_fashion_mnist_test_set_loads_if_installed) {
    const char *base = "/usr/share/datasets/fashion-mnist";
    struct stat st;
    if (stat(base, &st) != 0) {
        TG_SKIP("/usr/share/datasets/fashion-mnist is not installed (dataset-fashion-mnist)");
        return;
    }
    tg_dataset_opts o = tg_dataset_opts_default(0, 0);
    tg_dataset ds;
    ck_assert_msg(
        tg_dataset_load_spec("idx:/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz,"
                             "/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz",
                             &o, &ds) == TG_OK,
        "%s", tg_last_error());
    ck_assert_uint_eq(ds.n, 10000);
    ck_assert_int_eq(ds.width, 28);
    ck_assert_int_eq(ds.n_classes, 10);
    for (int c = 0; c < 10; c++) ck_assert_uint_eq(tg_dataset_class_count(&ds, c), 1000);
    tg_dataset_free(&ds);
}
END_TEST

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

START_TEST(test_figure1_sample_loads_in_full_with_accurate_summary) {
    const char *fig = fx_figure1_dir();
    if (!fig) {
        TG_SKIP("the Figure 1 sample is absent (../shared or $TG_SHARED_DIR)");
        return;
    }
    /* Every one of the 55 image files decodes. */
    int decoded = 0, files = 0;
    char list[2048];
    snprintf(list, sizeof list, "%s/images", fig);
    tg_dataset_opts o = tg_dataset_opts_default(150, 150);
    o.on_error = TG_ON_ERROR_STOP;
    tg_csv csv;
    ck_assert_int_eq(tg_csv_read(fx_path(fig, "metadata.csv"), &csv), TG_OK);
    ck_assert_uint_eq(csv.n_rows, 55);
    int col = tg_csv_column(&csv, "patientid");
    for (size_t r = 0; r < csv.n_rows; r++) {
        char png[4096], jpg[4096];
        snprintf(png, sizeof png, "%s/%s.png", list, tg_csv_cell(&csv, r, (size_t)col));
        snprintf(jpg, sizeof jpg, "%s/%s.jpg", list, tg_csv_cell(&csv, r, (size_t)col));
        struct stat st;
        const char *p = stat(png, &st) == 0 ? png : jpg;
        files++;
        tg_image img;
        if (tg_image_load(p, 0, &img) == TG_OK && img.width >= 224 && img.height >= 224) decoded++;
        tg_image_free(&img);
    }
    tg_csv_free(&csv);
    ck_assert_int_eq(files, 55);
    ck_assert_int_eq(decoded, 55);
    /* Through the CSV layout: 35 COVID-19, 5 others, 15 without a label. */
    char spec[8192], cache[4096];
    snprintf(cache, sizeof cache, "%s/fig1.tgc", dir);
    snprintf(spec, sizeof spec,
             "csv:%s/metadata.csv,images=%s/images,image=patientid,label=finding,"
             "positive=COVID-19,negative=*,group=patientid,cache=%s",
             fig, fig, cache);
    tg_dataset ds, again;
    double t0 = now();
    ck_assert_msg(tg_dataset_load_spec(spec, &o, &ds) == TG_OK, "%s", tg_last_error());
    double t1 = now();
    ck_assert_int_eq(tg_dataset_load_spec(spec, &o, &again), TG_OK);
    double t2 = now();
    ck_assert_uint_eq(ds.n, 40);
    ck_assert_uint_eq(ds.summary.rows, 55);
    ck_assert_uint_eq(tg_dataset_class_count(&ds, 1), 35);
    ck_assert_uint_eq(tg_dataset_class_count(&ds, 0), 5);
    ck_assert_uint_eq(ds.summary.empty_label, 15);
    ck_assert_uint_eq(ds.summary.excluded_label, 0);
    ck_assert_uint_eq(ds.summary.n_skips, 0);
    ck_assert_uint_eq(ds.n_groups, 40);
    ck_assert_uint_eq(again.summary.cache_hits, 40);
    ck_assert_mem_eq(ds.images, again.images, sizeof(float) * 40 * 150 * 150);
    for (size_t i = 0; i < 40 * 150 * 150; i++) ck_assert(ds.images[i] >= 0 && ds.images[i] <= 1);
    printf("Figure 1: first load %.3f s, cached load %.3f s\n", t1 - t0, t2 - t1);
    tg_dataset_summary_print(&again, stdout);
    tg_dataset_free(&ds);
    tg_dataset_free(&again);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("datasets_real");
    TCase *t = tcase_create("real");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_set_timeout(t, 300);
    tcase_add_test(t, test_fashion_mnist_test_set_loads_if_installed);
    tcase_add_test(t, test_figure1_sample_loads_in_full_with_accurate_summary);
    suite_add_tcase(s, t);
    return s;
}

int main(void) {
    return tg_check_run(suite());
}
