/* twingrad cv: k-fold cross-validation of a model file on a data spec. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli/tg_cli.h"
#include "train/tg_cv.h"

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig) {
    (void)sig;
    stop_requested = 1;
}

static void cv_usage(FILE *out) {
    fprintf(out,
            "usage: twingrad cv MODEL --data SPEC [--folds K] [options]\n"
            "Cross-validate MODEL on SPEC: K folds, stratified by class and grouped by patient\n"
            "(the spec's group column), or the spec's fold=COL column. One training run per\n"
            "fold in OUT/fold-k (rerun the same command to resume after an interruption);\n"
            "each held-out fold is scored with pairs and with k-NN against its own training\n"
            "folds. Per-fold, mean +- sd and pooled metrics go to OUT/cv.csv, ROC curves to\n"
            "OUT/cv.html.\n\n"
            "  --data SPEC        images (docs/datasets.md)\n"
            "  --folds K          number of folds, 2..1000 (default 5)\n"
            "  --cv-seed N        seed of the fold assignment (default 1)\n"
            "  --out DIR          output folder (default runs/<model name>-cv)\n"
            "  --val F            validation share carved from each training fold (default 0:\n"
            "                     every training-fold image trains; validation on them)\n"
            "  --epochs N, --batch N, --lr X, --seed N, --pairs N, --early-stop N,\n"
            "  --schedule S, --ema D, --knn K, --augment, --no-augment, --threads N   as for\n"
            "                     train\n"
            "  --knn-rule R       class-mean (default) or vote, as for eval\n"
            "  --progress bar|lines|quiet\n");
}

static void default_out(const char *model, char *buf, size_t size) {
    const char *base = strrchr(model, '/');
    base = base ? base + 1 : model;
    snprintf(buf, size, "runs/%.*s-cv", (int)strcspn(base, "."), base);
}

int tg_cmd_cv(int argc, char **argv) {
    static const struct option longopts[] = {{"data", required_argument, 0, 'd'},
                                             {"out", required_argument, 0, 'o'},
                                             {"folds", required_argument, 0, 'K'},
                                             {"cv-seed", required_argument, 0, 'c'},
                                             {"val", required_argument, 0, 'v'},
                                             {"epochs", required_argument, 0, 'e'},
                                             {"batch", required_argument, 0, 'b'},
                                             {"lr", required_argument, 0, 'l'},
                                             {"ema", required_argument, 0, 'M'},
                                             {"seed", required_argument, 0, 's'},
                                             {"pairs", required_argument, 0, 'p'},
                                             {"early-stop", required_argument, 0, 'E'},
                                             {"schedule", required_argument, 0, 'C'},
                                             {"knn", required_argument, 0, 'k'},
                                             {"knn-rule", required_argument, 0, 'R'},
                                             {"augment", no_argument, 0, 'a'},
                                             {"no-augment", no_argument, 0, 'A'},
                                             {"threads", required_argument, 0, 't'},
                                             {"progress", required_argument, 0, 'P'},
                                             {"help", no_argument, 0, 'h'},
                                             {0, 0, 0, 0}};
    tg_cv_opts o = tg_cv_opts_default();
    o.train.progress = isatty(STDERR_FILENO) ? 1 : 0;
    long v;
    double d;
    int c;
    optind = 1;
    opterr = 0;
#define BAD(...) return tg_cli_fail("cv", TG_EXIT_USAGE, __VA_ARGS__)
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 'd':
            o.train.data_spec = optarg;
            break;
        case 'o':
            o.train.run_dir = optarg;
            break;
        case 'a':
        case 'A':
            o.train.augment = c == 'a';
            break;
        case 'C':
            o.train.schedule = optarg;
            break;
        case 'R':
            if (tg_knn_rule_parse(optarg, &o.knn_rule)) BAD("--knn-rule: %s", tg_last_error());
            break;
        case 'K':
            if (tg_cli_parse_long(optarg, 2, 1000, &v))
                BAD("--folds: expected 2..1000, got '%s'", optarg);
            o.folds = (int)v;
            break;
        case 'c':
        case 's':
            if (tg_cli_parse_long(optarg, 0, 0x7fffffffL, &v))
                BAD("--%s: expected a non-negative integer, got '%s'",
                    c == 'c' ? "cv-seed" : "seed", optarg);
            if (c == 'c') {
                o.cv_seed = (uint64_t)v;
            } else {
                o.train.seed = (uint64_t)v;
                o.train.has_seed = 1;
            }
            break;
        case 'v':
            if (tg_cli_parse_double(optarg, &d) || d < 0 || d >= 1)
                BAD("--val: expected a fraction in [0, 1), got '%s'", optarg);
            o.train.val_frac = d;
            break;
        case 'l':
            if (tg_cli_parse_double(optarg, &d) || d <= 0)
                BAD("--lr: expected a positive number, got '%s'", optarg);
            o.train.lr = d;
            break;
        case 'M':
            if (tg_cli_parse_double(optarg, &d) || !(d >= 0 && d < 1))
                BAD("--ema: expected a decay in [0, 1), got '%s'", optarg);
            o.train.ema = d;
            break;
        case 'e':
        case 'b':
        case 'p':
        case 'E':
        case 'k':
        case 't': {
            /* train's limits (cmd_train.c), as the usage says */
            long hi = c == 'b'   ? 65536
                      : c == 'k' ? 1000
                      : c == 't' ? 1024
                      : c == 'p' ? 100000000
                                 : 1000000;
            long lo = c == 'E' ? 0 : 1;
            const char *name = c == 'e'   ? "epochs"
                               : c == 'b' ? "batch"
                               : c == 'p' ? "pairs"
                               : c == 'E' ? "early-stop"
                               : c == 'k' ? "knn"
                                          : "threads";
            if (tg_cli_parse_long(optarg, lo, hi, &v))
                BAD("--%s: expected %ld..%ld, got '%s'", name, lo, hi, optarg);
            int *field = c == 'e'   ? &o.train.epochs
                         : c == 'b' ? &o.train.batch
                         : c == 'p' ? &o.train.pairs_per_epoch
                         : c == 'E' ? &o.train.early_stop
                         : c == 'k' ? &o.train.knn_k
                                    : &o.train.threads;
            *field = (int)v;
            break;
        }
        case 'P':
            if (!strcmp(optarg, "bar"))
                o.train.progress = 1;
            else if (!strcmp(optarg, "lines"))
                o.train.progress = 0;
            else if (!strcmp(optarg, "quiet"))
                o.train.progress = -1;
            else
                BAD("--progress: expected bar, lines or quiet, got '%s'", optarg);
            break;
        case 'h':
            cv_usage(stdout);
            return TG_EXIT_OK;
        default:
            BAD("unknown or incomplete option '%s'; see 'twingrad cv --help'",
                tg_cli_refused(argc, argv));
        }
    }
    if (optind >= argc) BAD("which model file? usage: twingrad cv MODEL --data SPEC --folds K");
    o.train.model_path = argv[optind++];
    if (optind < argc) BAD("unexpected argument '%s'", argv[optind]);
    if (!o.train.data_spec) BAD("--data SPEC is required");
#undef BAD
    int code;
    if (o.train.schedule &&
        (code = tg_cli_check_schedule("cv", o.train.model_path, o.train.schedule, o.train.lr)))
        return code;
    char out[4096];
    if (!o.train.run_dir) {
        default_out(o.train.model_path, out, sizeof out);
        o.train.run_dir = out;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESETHAND;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    o.train.stop = &stop_requested;
    tg_cv_result r;
    if (tg_cv(&o, &r)) return tg_cli_fail("cv", TG_EXIT_FAILURE, "%s", tg_last_error());
    if (r.interrupted) {
        fprintf(stderr, "interrupted: rerun the same command to resume\n");
        tg_cv_result_free(&r);
        return TG_EXIT_INTERRUPTED;
    }
    printf("%d folds: k-NN accuracy %.4f +- %.4f, AUC %.4f +- %.4f; pairs AUC %.4f +- %.4f\n",
           r.folds, r.mean_accuracy, r.sd_accuracy, r.mean_auc, r.sd_auc, r.mean_pair_auc,
           r.sd_pair_auc);
    printf("pooled over the held-out images: accuracy %.4f, AUC %.4f\n", r.pooled_accuracy,
           r.pooled_auc);
    printf("per fold: %s/cv.csv; report: %s/cv.html\n", o.train.run_dir, o.train.run_dir);
    tg_cv_result_free(&r);
    return TG_EXIT_OK;
}
