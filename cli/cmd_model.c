/* twingrad summary, twingrad synth: model files and synthetic data. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/tg_cli.h"
#include "models/tg_model.h"
#include "datasets/tg_synth.h"

int tg_cmd_summary(int argc, char **argv) {
    static const struct option longopts[] = {
        {"batch", required_argument, 0, 'b'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    long batch = 0;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 'b':
            if (tg_cli_parse_long(optarg, 1, 65536, &batch))
                return tg_cli_fail("summary", TG_EXIT_USAGE, "--batch: expected 1..65536, got '%s'",
                                   optarg);
            break;
        case 'h':
            printf("usage: twingrad summary MODEL [--batch N]\n"
                   "Print the layer table of MODEL (op, output shape, parameters, FLOPs), the\n"
                   "totals and the activation memory for a batch of N pairs (default: the\n"
                   "model's training batch; with a triplet line, classes x per_class images).\n");
            return TG_EXIT_OK;
        default:
            return tg_cli_fail("summary", TG_EXIT_USAGE, "unknown or incomplete option '%s'",
                               tg_cli_refused(argc, argv));
        }
    }
    if (optind != argc - 1)
        return tg_cli_fail("summary", TG_EXIT_USAGE, "usage: twingrad summary MODEL [--batch N]");
    tg_model_def *def = NULL;
    tg_model *m = NULL;
    int code = TG_EXIT_OK;
    /* Shapes only: a summary allocates and initialises no weights, whatever the file says. */
    if (tg_model_def_parse_file(argv[optind], &def) || tg_model_build_shapes(def, (int)batch, &m) ||
        tg_model_summary(m, (int)batch, stdout))
        code = tg_cli_fail("summary", TG_EXIT_FAILURE, "%s", tg_last_error());
    tg_model_free(m);
    tg_model_def_free(def);
    return code;
}

int tg_cmd_synth(int argc, char **argv) {
    static const struct option longopts[] = {{"out", required_argument, 0, 'o'},
                                             {"positive", required_argument, 0, 'p'},
                                             {"negative", required_argument, 0, 'n'},
                                             {"unlabeled", required_argument, 0, 'u'},
                                             {"size", required_argument, 0, 's'},
                                             {"difficulty", required_argument, 0, 'd'},
                                             {"per-patient", required_argument, 0, 'g'},
                                             {"seed", required_argument, 0, 'S'},
                                             {"help", no_argument, 0, 'h'},
                                             {0, 0, 0, 0}};
    tg_synth_opts so = tg_synth_opts_default();
    const char *out = NULL;
    long v, seed = 1;
    double d;
    int c;
    optind = 1;
    opterr = 0;
#define BAD(...) return tg_cli_fail("synth", TG_EXIT_USAGE, __VA_ARGS__)
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 'o':
            out = optarg;
            break;
        case 'p':
        case 'n':
        case 'u':
            if (tg_cli_parse_long(optarg, 0, 1000000, &v))
                BAD("--%s: expected 0..1000000, got '%s'",
                    c == 'p'   ? "positive"
                    : c == 'n' ? "negative"
                               : "unlabeled",
                    optarg);
            if (c == 'p')
                so.n_positive = (int)v;
            else if (c == 'n')
                so.n_negative = (int)v;
            else
                so.n_unlabeled = (int)v;
            break;
        case 's':
            if (tg_cli_parse_long(optarg, 16, 4096, &v))
                BAD("--size: expected 16..4096, got '%s'", optarg);
            so.width = so.height = (int)v;
            break;
        case 'd':
            if (tg_cli_parse_double(optarg, &d) || d < 0 || d > 1)
                BAD("--difficulty: expected 0..1, got '%s'", optarg);
            so.difficulty = (float)d;
            break;
        case 'g':
            if (tg_cli_parse_long(optarg, 1, 26, &v))
                BAD("--per-patient: expected 1..26, got '%s'", optarg);
            so.max_per_patient = (int)v;
            break;
        case 'S':
            if (tg_cli_parse_long(optarg, 0, 0x7fffffffL, &seed))
                BAD("--seed: expected a non-negative integer, got '%s'", optarg);
            break;
        case 'h':
            printf(
                "usage: twingrad synth --out DIR [--positive N] [--negative N] [--unlabeled N]\n"
                "                      [--size PX] [--difficulty 0..1] [--per-patient N] [--seed "
                "N]\n"
                "Write a seeded synthetic chest X-ray set: DIR/metadata.csv and DIR/images/*.png,\n"
                "laid out like the public COVID-19 collections (finding column: COVID-19 or\n"
                "No finding). Defaults: 280 positive, 70 negative, 256 px, difficulty 0.5.\n"
                "Train on it with --data synth:DIR.\n");
            return TG_EXIT_OK;
        default:
            BAD("unknown or incomplete option '%s'", tg_cli_refused(argc, argv));
        }
    }
    if (!out || optind != argc) BAD("usage: twingrad synth --out DIR [options]");
#undef BAD
    tg_rng rng;
    tg_rng_seed(&rng, (uint64_t)seed);
    if (tg_synth_write(out, &so, &rng))
        return tg_cli_fail("synth", TG_EXIT_FAILURE, "%s", tg_last_error());
    printf("wrote %d images to %s (metadata.csv, images/)\n",
           so.n_positive + so.n_negative + so.n_unlabeled, out);
    return TG_EXIT_OK;
}
