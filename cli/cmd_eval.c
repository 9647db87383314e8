/* twingrad eval, twingrad embed: a trained checkpoint applied to data. */
#include <getopt.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/tg_cli.h"
#include "eval/tg_eval.h"
#include "train/tg_train.h"

static void eval_usage(FILE *out) {
    fprintf(out,
            "usage: twingrad eval CHECKPOINT [--data SPEC] [--report FILE] [--knn K]\n"
            "                     [--knn-rule class-mean|vote] [--threads N]\n"
            "       twingrad eval CHECKPOINT --test SPEC [--reference SPEC] [...]\n"
            "Evaluate on the test split of the data the model was trained on (or of SPEC),\n"
            "or with --test on every image of a separate test set, with every image of\n"
            "--reference (default: the training spec) as the k-NN references:\n"
            "pair accuracy at the threshold chosen on validation, ROC AUC and the confusion\n"
            "matrix; then k-NN classification of single test images with the training\n"
            "images as references: accuracy, sensitivity, specificity, AUC of the k-NN score.\n"
            "--knn-rule: class-mean (default) takes the class whose own K nearest references\n"
            "are nearest on average; vote takes the majority of the K nearest.\n"
            "The report goes to FILE (default: eval.html next to the checkpoint).\n");
}

int tg_cmd_eval(int argc, char **argv) {
    static const struct option longopts[] = {{"data", required_argument, 0, 'd'},
                                             {"report", required_argument, 0, 'r'},
                                             {"test", required_argument, 0, 'T'},
                                             {"reference", required_argument, 0, 'R'},
                                             {"knn", required_argument, 0, 'k'},
                                             {"threads", required_argument, 0, 't'},
                                             {"knn-rule", required_argument, 0, 'K'},
                                             {"help", no_argument, 0, 'h'},
                                             {0, 0, 0, 0}};
    tg_eval_opts o = {0};
    long v;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 'd':
            o.data_spec = optarg;
            break;
        case 'r':
            o.report_path = optarg;
            break;
        case 'T':
            o.test_spec = optarg;
            break;
        case 'R':
            o.reference_spec = optarg;
            break;
        case 'k':
            if (tg_cli_parse_long(optarg, 1, 1000, &v))
                return tg_cli_fail("eval", TG_EXIT_USAGE, "--knn: expected 1..1000, got '%s'",
                                   optarg);
            o.knn_k = (int)v;
            break;
        case 'K':
            if (tg_knn_rule_parse(optarg, &o.knn_rule))
                return tg_cli_fail("eval", TG_EXIT_USAGE, "--knn-rule: %s", tg_last_error());
            break;
        case 't':
            if (tg_cli_parse_long(optarg, 1, 1024, &v))
                return tg_cli_fail("eval", TG_EXIT_USAGE, "--threads: expected 1..1024, got '%s'",
                                   optarg);
            o.threads = (int)v;
            break;
        case 'h':
            eval_usage(stdout);
            return TG_EXIT_OK;
        default:
            return tg_cli_fail("eval", TG_EXIT_USAGE, "unknown or incomplete option '%s'",
                               tg_cli_refused(argc, argv));
        }
    }
    if (optind != argc - 1)
        return tg_cli_fail("eval", TG_EXIT_USAGE,
                           "expected one CHECKPOINT, got %d arguments; see 'twingrad eval --help'",
                           argc - optind);
    if (o.reference_spec && !o.test_spec)
        return tg_cli_fail("eval", TG_EXIT_USAGE, "--reference goes with --test");
    if (o.data_spec && o.test_spec)
        return tg_cli_fail("eval", TG_EXIT_USAGE, "--data and --test exclude each other");
    o.checkpoint = argv[optind];
    char report[4096];
    if (!o.report_path) {
        char copy[4096];
        snprintf(copy, sizeof copy, "%s", o.checkpoint);
        snprintf(report, sizeof report, "%s/eval.html", dirname(copy));
        o.report_path = report;
    }
    o.log = stdout;
    tg_eval_result r;
    if (tg_evaluate(&o, &r)) return tg_cli_fail("eval", TG_EXIT_FAILURE, "%s", tg_last_error());
    tg_eval_result_free(&r);
    printf("report: %s\n", o.report_path);
    return TG_EXIT_OK;
}

static void embed_usage(FILE *out) {
    fprintf(out, "usage: twingrad embed CHECKPOINT --data SPEC [--out FILE.csv] [--tensors FILE]\n"
                 "Write the embedding of every image in SPEC as CSV: path,label,e0,e1,...\n"
                 "(to standard output without --out). --tensors also writes the prepared\n"
                 "input images, in CSV order, as raw little-endian float32 (N, C, H, W): the\n"
                 "exact tensors the tower saw, to feed another runtime (e.g. an ONNX export).\n");
}

/* The dataset's images (n, 1, H, W) as little-endian float32, byte by byte. */
static tg_status write_tensors(const char *path, const tg_dataset *ds) {
    FILE *f = fopen(path, "wb");
    if (!f) return tg_error(TG_ERR_IO, "%s: cannot open for writing", path);
    size_t count = ds->n * (size_t)ds->height * (size_t)ds->width;
    for (size_t i = 0; i < count; i++) {
        uint32_t u;
        memcpy(&u, &ds->images[i], sizeof u);
        unsigned char b[4] = {(unsigned char)u, (unsigned char)(u >> 8), (unsigned char)(u >> 16),
                              (unsigned char)(u >> 24)};
        fwrite(b, 1, 4, f);
    }
    if (ferror(f) | fclose(f)) return tg_error(TG_ERR_IO, "%s: write failed", path);
    return TG_OK;
}

int tg_cmd_embed(int argc, char **argv) {
    static const struct option longopts[] = {{"data", required_argument, 0, 'd'},
                                             {"out", required_argument, 0, 'o'},
                                             {"tensors", required_argument, 0, 't'},
                                             {"help", no_argument, 0, 'h'},
                                             {0, 0, 0, 0}};
    const char *spec = NULL, *out_path = NULL, *tensors_path = NULL;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 'd':
            spec = optarg;
            break;
        case 'o':
            out_path = optarg;
            break;
        case 't':
            tensors_path = optarg;
            break;
        case 'h':
            embed_usage(stdout);
            return TG_EXIT_OK;
        default:
            return tg_cli_fail("embed", TG_EXIT_USAGE, "unknown or incomplete option '%s'",
                               tg_cli_refused(argc, argv));
        }
    }
    if (!spec)
        return tg_cli_fail("embed", TG_EXIT_USAGE,
                           "needs --data SPEC; see 'twingrad embed --help'");
    if (optind != argc - 1)
        return tg_cli_fail("embed", TG_EXIT_USAGE,
                           "expected one CHECKPOINT, got %d arguments; see 'twingrad embed --help'",
                           argc - optind);
    tg_trained t;
    tg_dataset ds = {0};
    size_t *idx = NULL;
    float *emb = NULL;
    FILE *out = NULL;
    int code = TG_EXIT_FAILURE;
    if (tg_trained_load(argv[optind], &t))
        return tg_cli_fail("embed", TG_EXIT_FAILURE, "%s", tg_last_error());
    tg_dataset_opts dopts = tg_dataset_opts_default(t.def->width, t.def->height);
    dopts.log = stderr; /* a warning for each file left out */
    if (tg_dataset_load_spec(spec, &dopts, &ds)) {
        tg_cli_fail("embed", TG_EXIT_FAILURE, "%s", tg_last_error());
        goto done;
    }
    if (ds.n == 0) {
        tg_cli_fail("embed", TG_EXIT_FAILURE, "%s: no image could be loaded", spec);
        goto done;
    }
    idx = malloc((ds.n ? ds.n : 1) * sizeof *idx);
    emb = malloc((ds.n ? ds.n : 1) * (size_t)t.model->embed_dim * sizeof(float));
    if (!idx || !emb) {
        tg_cli_fail("embed", TG_EXIT_FAILURE, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < ds.n; i++) idx[i] = i;
    if (tg_eval_embed(t.model, &ds, idx, ds.n, emb)) {
        tg_cli_fail("embed", TG_EXIT_FAILURE, "%s", tg_last_error());
        goto done;
    }
    if (tensors_path && write_tensors(tensors_path, &ds)) {
        tg_cli_fail("embed", TG_EXIT_FAILURE, "%s", tg_last_error());
        goto done;
    }
    out = out_path ? fopen(out_path, "w") : stdout;
    if (!out) {
        tg_cli_fail("embed", TG_EXIT_FAILURE, "cannot write %s", out_path);
        goto done;
    }
    fprintf(out, "path,label");
    for (int k = 0; k < t.model->embed_dim; k++) fprintf(out, ",e%d", k);
    fputc('\n', out);
    for (size_t i = 0; i < ds.n; i++) {
        /* Paths are quoted (RFC 4180) so commas and quotes in names survive. */
        fputc('"', out);
        for (const char *p = ds.paths[i]; *p; p++) {
            if (*p == '"') fputc('"', out);
            fputc(*p, out);
        }
        fprintf(out, "\",%s", ds.class_names[ds.labels[i]]);
        for (int k = 0; k < t.model->embed_dim; k++)
            fprintf(out, ",%.7g", emb[i * (size_t)t.model->embed_dim + (size_t)k]);
        fputc('\n', out);
    }
    if (ferror(out) || (out != stdout && fclose(out) != 0)) {
        out = NULL;
        tg_cli_fail("embed", TG_EXIT_FAILURE, "writing %s failed",
                    out_path ? out_path : "standard output");
        goto done;
    }
    out = NULL;
    code = TG_EXIT_OK;
done:
    if (out && out != stdout) fclose(out);
    free(idx);
    free(emb);
    tg_dataset_free(&ds);
    tg_trained_free(&t);
    return code;
}

static void predict_usage(FILE *out) {
    fprintf(out,
            "usage: twingrad predict CHECKPOINT IMAGE... --reference SPEC [--knn K] [--show N]\n"
            "                        [--knn-rule class-mean|vote]\n"
            "Classify each IMAGE by its K nearest reference images (labelled, from SPEC) in\n"
            "embedding space: class-mean (default) takes the class whose own K nearest\n"
            "references are nearest on average, vote the majority of the K nearest. Prints\n"
            "the class, for two classes the score (class-mean: mean distance to the K nearest\n"
            "of class 0 minus to the K nearest of class 1, positive means class 1; vote: the\n"
            "share of neighbours in class 1), and the N nearest references with their\n"
            "distances (default N = 3).\n"
            "Images are prepared like SPEC's images (its size, aspect and norm keys).\n");
}

int tg_cmd_predict(int argc, char **argv) {
    static const struct option longopts[] = {{"reference", required_argument, 0, 'r'},
                                             {"knn", required_argument, 0, 'k'},
                                             {"show", required_argument, 0, 's'},
                                             {"knn-rule", required_argument, 0, 'K'},
                                             {"help", no_argument, 0, 'h'},
                                             {0, 0, 0, 0}};
    const char *ref_spec = NULL;
    long k = 0, show = 3;
    tg_knn_rule rule = TG_KNN_CLASS_MEAN;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 'r':
            ref_spec = optarg;
            break;
        case 'k':
            if (tg_cli_parse_long(optarg, 1, 1000, &k))
                return tg_cli_fail("predict", TG_EXIT_USAGE, "--knn: expected 1..1000, got '%s'",
                                   optarg);
            break;
        case 'K':
            if (tg_knn_rule_parse(optarg, &rule))
                return tg_cli_fail("predict", TG_EXIT_USAGE, "--knn-rule: %s", tg_last_error());
            break;
        case 's':
            if (tg_cli_parse_long(optarg, 0, 1000, &show))
                return tg_cli_fail("predict", TG_EXIT_USAGE, "--show: expected 0..1000, got '%s'",
                                   optarg);
            break;
        case 'h':
            predict_usage(stdout);
            return TG_EXIT_OK;
        default:
            return tg_cli_fail("predict", TG_EXIT_USAGE, "unknown or incomplete option '%s'",
                               tg_cli_refused(argc, argv));
        }
    }
    if (!ref_spec)
        return tg_cli_fail("predict", TG_EXIT_USAGE,
                           "needs --reference SPEC (the labelled images to compare with); see "
                           "'twingrad predict --help'");
    if (argc - optind < 2)
        return tg_cli_fail("predict", TG_EXIT_USAGE,
                           "expected CHECKPOINT and at least one IMAGE; see 'twingrad predict "
                           "--help'");
    const char *ckpt = argv[optind];
    char **images = argv + optind + 1;
    int n_img = argc - optind - 1, code = TG_EXIT_FAILURE;
    tg_trained t;
    tg_dataset ref = {0};
    size_t *idx = NULL;
    float *ref_emb = NULL, *q = NULL, *q_emb = NULL, *score = NULL, *dist = NULL;
    int *ref_labels = NULL, *pred = NULL, *nb = NULL;
    if (tg_trained_load(ckpt, &t))
        return tg_cli_fail("predict", TG_EXIT_FAILURE, "%s", tg_last_error());
    int w = t.def->width, h = t.def->height, dim = t.model->embed_dim;
    if (k == 0) k = t.knn_k;
    tg_dataset_opts dopts = tg_dataset_opts_default(w, h);
    tg_image_opts iopts;
    if (tg_dataset_spec_image_opts(ref_spec, &dopts.image, &iopts) ||
        tg_dataset_load_spec(ref_spec, &dopts, &ref)) {
        tg_cli_fail("predict", TG_EXIT_FAILURE, "%s", tg_last_error());
        goto done;
    }
    if (ref.width != w || ref.height != h || ref.n < (size_t)k) {
        tg_cli_fail("predict", TG_EXIT_FAILURE,
                    "the reference set has %zu images of %dx%d; the model "
                    "needs at least %ld of %dx%d",
                    ref.n, ref.width, ref.height, k, w, h);
        goto done;
    }
    size_t item = (size_t)w * (size_t)h;
    idx = malloc(ref.n * sizeof *idx);
    ref_emb = malloc(ref.n * (size_t)dim * sizeof(float));
    ref_labels = malloc(ref.n * sizeof(int));
    q = malloc((size_t)n_img * item * sizeof(float));
    q_emb = malloc((size_t)n_img * (size_t)dim * sizeof(float));
    score = malloc((size_t)n_img * sizeof(float));
    pred = malloc((size_t)n_img * sizeof(int));
    nb = malloc((size_t)n_img * (size_t)k * sizeof(int));
    dist = malloc((size_t)n_img * (size_t)k * sizeof(float));
    if (!idx || !ref_emb || !ref_labels || !q || !q_emb || !score || !pred || !nb || !dist) {
        tg_cli_fail("predict", TG_EXIT_FAILURE, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < ref.n; i++) idx[i] = i;
    tg_eval_labels(&ref, idx, ref.n, ref_labels);
    for (int i = 0; i < n_img; i++) {
        tg_image img;
        if (tg_image_load_prepared(images[i], &iopts, &img)) {
            tg_cli_fail("predict", TG_EXIT_FAILURE, "%s", tg_last_error());
            goto done;
        }
        memcpy(q + (size_t)i * item, img.data, item * sizeof(float));
        tg_image_free(&img);
    }
    if (tg_eval_embed(t.model, &ref, idx, ref.n, ref_emb) ||
        tg_model_embed(t.model, q, n_img, q_emb) ||
        tg_knn_classify(ref_emb, ref_labels, (int)ref.n, q_emb, n_img, dim, (int)k, ref.n_classes,
                        NULL, NULL, nb, dist) ||
        tg_knn_predict(ref_emb, ref_labels, (int)ref.n, q_emb, n_img, dim, (int)k, ref.n_classes,
                       rule, pred, ref.n_classes == 2 ? score : NULL)) {
        tg_cli_fail("predict", TG_EXIT_FAILURE, "%s", tg_last_error());
        goto done;
    }
    for (int i = 0; i < n_img; i++) {
        printf("%s\tclass=%s", images[i], ref.class_names[pred[i]]);
        if (ref.n_classes == 2) printf("\tscore=%.3f", score[i]);
        for (int j = 0; j < show && j < k; j++)
            printf("\t%s (%s, d=%.4f)", ref.paths[nb[i * k + j]],
                   ref.class_names[ref.labels[nb[i * k + j]]], dist[i * k + j]);
        putchar('\n');
    }
    code = TG_EXIT_OK;
done:
    free(idx);
    free(ref_emb);
    free(ref_labels);
    free(q);
    free(q_emb);
    free(score);
    free(pred);
    free(nb);
    free(dist);
    tg_dataset_free(&ref);
    tg_trained_free(&t);
    return code;
}
