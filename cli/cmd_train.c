/* twingrad train: a model file and a data spec in, a run directory out. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli/tg_cli.h"
#include "train/tg_train.h"

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig) {
    (void)sig;
    stop_requested = 1;
}

static void train_usage(FILE *out) {
    fprintf(
        out,
        "usage: twingrad train MODEL --data SPEC [options]\n"
        "       twingrad train --resume --out RUN_DIR [--epochs N]\n"
        "Train the Siamese model in MODEL (a .tg file) on the images named by SPEC.\n"
        "Per epoch: validation loss, pair accuracy and AUC; metrics.csv, last.tgc and\n"
        "best.tgc in RUN_DIR, and report.html at the end. Ctrl-C (or SIGTERM) finishes\n"
        "the current batch, saves RUN_DIR/last.tgc and stops; --resume continues exactly.\n\n"
        "  --data SPEC        images: csv:FILE,image=COL,label=COL,positive=L,...;\n"
        "                     folders:DIR; idx:IMAGES,LABELS; synth:DIR (docs/datasets.md)\n"
        "  --out DIR          run directory (default runs/<model name>)\n"
        "  --resume           continue the run in --out from last.tgc\n"
        "  --epochs N, --batch N, --lr X, --seed N   override the model's train line\n"
        "  --early-stop N     stop after N epochs without a better validation loss (0: never)\n"
        "  --schedule 'KIND key=value ...'   e.g. 'constant' or 'cosine t_max=20' (train line's\n"
        "                     otherwise)\n"
        "  --collapse-stop N  fail after N collapsed epochs in a row (default 3; 0: only warn)\n"
        "  --ema D            validate and keep (best.tgc) a moving average of the weights\n"
        "                     with decay D in [0, 1), 0: none (train line's ema= otherwise)\n"
        "  --threads N        threads for kernels and BLAS (default: one per core)\n"
        "  --val F, --test F  validation and test fractions (default 0.15 each); --val 0:\n"
        "                     train on every non-test image, validate on the training images\n"
        "  --group auto|yes|no  split by the spec's group column (default auto)\n"
        "  --balance pairs|undersample  class balance (default pairs: keep every image)\n"
        "  --pairs N          training pairs per epoch (default twice the training images)\n"
        "  --similar F        share of similar pairs (default 0.5)\n"
        "  --augment, --no-augment  mild shifts, rotations, brightness and contrast, or\n"
        "                     none (default: the model's train line, augment=)\n"
        "  --knn K            k for k-NN evaluation (default 5)\n"
        "  --progress bar|lines|quiet   (default: bar on a terminal, lines otherwise)\n"
        "  --reduce fast|fixed  data-parallel combination of gradients (default fast);\n"
        "                     fixed: the same bits on any number of ranks dividing --shards\n"
        "  --shards N         micro-batches per batch (default: one per rank)\n"
        "Under mpirun or srun (a build with MPI) every rank takes its share of each\n"
        "batch; rank 0 writes the files. See docs/distributed.md.\n"
        "  --diagnostics      per-epoch gradient norms, update sizes, active margin terms\n"
        "                     and distance histograms in RUN_DIR/diagnostics.csv\n");
}

/* "runs/<file stem>" for models/siamese_xray.tg */
static void default_run_dir(const char *model, char *buf, size_t size) {
    const char *base = strrchr(model, '/');
    base = base ? base + 1 : model;
    size_t len = strcspn(base, ".");
    snprintf(buf, size, "runs/%.*s", (int)len, base);
}

int tg_cmd_train(int argc, char **argv) {
    static const struct option longopts[] = {
        {"data", required_argument, 0, 'd'},
        {"out", required_argument, 0, 'o'},
        {"resume", no_argument, 0, 'R'},
        {"epochs", required_argument, 0, 'e'},
        {"batch", required_argument, 0, 'b'},
        {"lr", required_argument, 0, 'l'},
        {"seed", required_argument, 0, 's'},
        {"threads", required_argument, 0, 't'},
        {"val", required_argument, 0, 'v'},
        {"test", required_argument, 0, 'T'},
        {"group", required_argument, 0, 'g'},
        {"balance", required_argument, 0, 'B'},
        {"pairs", required_argument, 0, 'p'},
        {"similar", required_argument, 0, 'S'},
        {"augment", no_argument, 0, 'a'},
        {"no-augment", no_argument, 0, 'A'},
        {"knn", required_argument, 0, 'k'},
        {"progress", required_argument, 0, 'P'},
        {"help", no_argument, 0, 'h'},
        {"reduce", required_argument, 0, 'r'},
        {"shards", required_argument, 0, 'n'},
        {"diagnostics", no_argument, 0, 'D'},
        {"early-stop", required_argument, 0, 'E'},
        {"schedule", required_argument, 0, 'C'},
        {"collapse-stop", required_argument, 0, 'X'},
        {"ema", required_argument, 0, 'M'},
        {"stop-after-steps", required_argument, 0, 'Z'}, /* hidden: tests interrupt here */
        {0, 0, 0, 0}};
    tg_train_opts o = tg_train_opts_default();
    o.progress = isatty(STDERR_FILENO) ? 1 : 0;
    long v;
    double d;
    int c, fracs_given = 0; /* bit 0 --val, bit 1 --test */
    optind = 1;
    opterr = 0;
#define BAD(...) return tg_cli_fail("train", TG_EXIT_USAGE, __VA_ARGS__)
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 'd':
            o.data_spec = optarg;
            break;
        case 'o':
            o.run_dir = optarg;
            break;
        case 'R':
            o.resume = 1;
            break;
        case 'a':
        case 'A':
            o.augment = c == 'a';
            break;
        case 'D':
            o.diagnostics = 1;
            break;
        case 'C':
            o.schedule = optarg;
            break;
        case 'E':
        case 'X':
            if (tg_cli_parse_long(optarg, 0, 1000000, &v))
                BAD("--%s: expected 0..1000000, got '%s'",
                    c == 'E' ? "early-stop" : "collapse-stop", optarg);
            if (c == 'E')
                o.early_stop = (int)v;
            else
                o.collapse_stop = (int)v;
            break;
        case 'e':
            if (tg_cli_parse_long(optarg, 1, 1000000, &v))
                BAD("--epochs: expected 1..1000000, got '%s'", optarg);
            o.epochs = (int)v;
            break;
        case 'b':
            if (tg_cli_parse_long(optarg, 1, 65536, &v))
                BAD("--batch: expected 1..65536, got '%s'", optarg);
            o.batch = (int)v;
            break;
        case 'l':
            if (tg_cli_parse_double(optarg, &d) || d <= 0)
                BAD("--lr: expected a positive number, got '%s'", optarg);
            o.lr = d;
            break;
        case 'M':
            if (tg_cli_parse_double(optarg, &d) || !(d >= 0 && d < 1))
                BAD("--ema: expected a decay in [0, 1), got '%s'", optarg);
            o.ema = d;
            break;
        case 's':
            if (tg_cli_parse_long(optarg, 0, 0x7fffffffL, &v))
                BAD("--seed: expected a non-negative integer, got '%s'", optarg);
            o.seed = (uint64_t)v;
            o.has_seed = 1;
            break;
        case 't':
            if (tg_cli_parse_long(optarg, 1, 1024, &v))
                BAD("--threads: expected 1..1024, got '%s'", optarg);
            o.threads = (int)v;
            break;
        case 'v':
        case 'T':
            if (tg_cli_parse_double(optarg, &d) || d < 0 || d >= 1 || (c == 'T' && d == 0))
                BAD("--%s: expected a fraction in %s, got '%s'", c == 'v' ? "val" : "test",
                    c == 'v' ? "[0, 1)" : "(0, 1)", optarg);
            if (c == 'v')
                o.val_frac = d;
            else
                o.test_frac = d;
            fracs_given |= c == 'v' ? 1 : 2;
            break;
        case 'g':
            if (!strcmp(optarg, "auto"))
                o.by_group = -1;
            else if (!strcmp(optarg, "yes"))
                o.by_group = 1;
            else if (!strcmp(optarg, "no"))
                o.by_group = 0;
            else
                BAD("--group: expected auto, yes or no, got '%s'", optarg);
            break;
        case 'B':
            if (!strcmp(optarg, "pairs"))
                o.balance = TG_BALANCE_PAIRS;
            else if (!strcmp(optarg, "undersample"))
                o.balance = TG_BALANCE_UNDERSAMPLE;
            else
                BAD("--balance: expected pairs or undersample, got '%s'", optarg);
            break;
        case 'p':
            if (tg_cli_parse_long(optarg, 1, 100000000, &v))
                BAD("--pairs: expected a positive count, got '%s'", optarg);
            o.pairs_per_epoch = (int)v;
            break;
        case 'S':
            if (tg_cli_parse_double(optarg, &d) || d <= 0 || d >= 1)
                BAD("--similar: expected a fraction in (0, 1), got '%s'", optarg);
            o.similar_frac = d;
            break;
        case 'k':
            if (tg_cli_parse_long(optarg, 1, 1000, &v))
                BAD("--knn: expected 1..1000, got '%s'", optarg);
            o.knn_k = (int)v;
            break;
        case 'P':
            if (!strcmp(optarg, "bar"))
                o.progress = 1;
            else if (!strcmp(optarg, "lines"))
                o.progress = 0;
            else if (!strcmp(optarg, "quiet"))
                o.progress = -1;
            else
                BAD("--progress: expected bar, lines or quiet, got '%s'", optarg);
            break;
        case 'r':
            if (tg_reduce_parse(optarg, &o.reduce))
                BAD("--reduce: expected fast or fixed, got '%s'", optarg);
            break;
        case 'n':
            if (tg_cli_parse_long(optarg, 1, 4096, &v))
                BAD("--shards: expected 1..4096, got '%s'", optarg);
            o.shards = (int)v;
            break;
        case 'Z':
            if (tg_cli_parse_long(optarg, 1, 0x7fffffffL, &v))
                BAD("--stop-after-steps: expected a positive count, got '%s'", optarg);
            o.stop_after_steps = v;
            break;
        case 'h':
            train_usage(stdout);
            return TG_EXIT_OK;
        default:
            BAD("unknown or incomplete option '%s'; see 'twingrad train --help'",
                tg_cli_refused(argc, argv));
        }
    }
    char run_dir[4096];
    if (o.resume) {
        if (!o.run_dir) BAD("--resume needs --out RUN_DIR");
        if (o.schedule) BAD("--schedule applies to a new run; a resumed run keeps its schedule");
        if (optind < argc) o.model_path = argv[optind++];
    } else {
        if (optind >= argc) BAD("which model file? usage: twingrad train MODEL --data SPEC");
        o.model_path = argv[optind++];
        if (!o.data_spec) BAD("--data SPEC is required (e.g. --data synth:data/synth)");
        if (!o.run_dir) {
            default_run_dir(o.model_path, run_dir, sizeof run_dir);
            o.run_dir = run_dir;
        }
        if (o.val_frac + o.test_frac >= 1)
            BAD("--val %g%s and --test %g%s leave no image to train on: val + test must be < 1",
                o.val_frac, fracs_given & 1 ? "" : " (the default)", o.test_frac,
                fracs_given & 2 ? "" : " (the default)");
    }
    if (optind < argc) BAD("unexpected argument '%s'", argv[optind]);
#undef BAD
    int code;
    if (o.schedule && (code = tg_cli_check_schedule("train", o.model_path, o.schedule, o.lr)))
        return code;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESETHAND; /* a second Ctrl-C stops at once */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    o.stop = &stop_requested;
    if (o.resume && (o.reduce != TG_REDUCE_FAST || o.shards))
        return tg_cli_fail("train", TG_EXIT_USAGE,
                           "--reduce and --shards are kept from the "
                           "run's start; resume without them");
    if (tg_comm_launched()) {
        if (tg_comm_mpi_world(&o.comm))
            return tg_cli_fail("train", TG_EXIT_USAGE, "started by an MPI launcher: %s",
                               tg_last_error());
        /* mpirun forwards SIGUSR1 to every rank: a stop that needs no sigkill timeout. */
        sigaction(SIGUSR1, &sa, NULL);
    }
    int rank = tg_comm_rank(o.comm), ranks = tg_comm_size(o.comm);
    tg_train_result r;
    tg_status st = tg_train(&o, &r);
    if (st && tg_comm_failed(o.comm)) {
        /* The ranks lost touch: say where, then end them all rather than leave any waiting. */
        tg_cli_fail("train", TG_EXIT_FAILURE, "rank %d of %d: %s", rank, ranks, tg_last_error());
        tg_comm_abort(o.comm, TG_EXIT_FAILURE);
    }
    /* Rank 0 says why before MPI is finalised: once any rank has exited non-zero,
     * mpirun may end the others before they print. */
    if (st && rank == 0) tg_cli_fail("train", TG_EXIT_FAILURE, "%s", tg_last_error());
    tg_comm_free(o.comm); /* every rank got here together: finalises MPI */
    if (st) return TG_EXIT_FAILURE;
    if (r.interrupted) return TG_EXIT_INTERRUPTED;
    if (o.progress >= 0 && rank == 0) {
        if (r.early_stopped)
            fprintf(stderr, "early stop after epoch %d: no better validation loss since epoch %d\n",
                    r.epochs_done, r.best_epoch);
        fprintf(
            stderr,
            "done: %d epochs; best validation loss %.4f at epoch %d; report in %s/report.html\n",
            r.epochs_done, r.best_val_loss, r.best_epoch, o.run_dir);
        if (r.collapsed)
            fprintf(stderr,
                    "warning: the embedding collapsed; see the report for what to change\n");
    }
    return TG_EXIT_OK;
}
