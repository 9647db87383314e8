/* twingrad: train, evaluate and inspect Siamese networks from the command line. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/tg_cli.h"

typedef struct command {
    const char *name;
    tg_cli_command_fn run;
    const char *summary;
} command;

static const command commands[] = {
    {"train", tg_cmd_train, "train a model file on a data spec (resumable)"},
    {"cv", tg_cmd_cv, "cross-validate a model file: one run per fold, pooled metrics"},
    {"eval", tg_cmd_eval, "evaluate a checkpoint: test pairs, k-NN, report"},
    {"predict", tg_cmd_predict, "classify images by their nearest labelled references"},
    {"embed", tg_cmd_embed, "write embeddings of a data spec as CSV"},
    {"export", tg_cmd_export, "write a checkpoint's tower as an ONNX model"},
    {"summary", tg_cmd_summary, "print a model's layer table, parameters, FLOPs and memory"},
    {"synth", tg_cmd_synth, "write a synthetic chest X-ray data set"},
    {"ops", tg_cmd_ops, "list the registered ops, or write their reference (--markdown)"},
    {"gradcheck", tg_cmd_gradcheck, "gradient-check an op on given shapes and attributes"},
};
#define N_COMMANDS ((int)(sizeof commands / sizeof commands[0]))

int tg_cli_fail(const char *cmd, int code, const char *fmt, ...) {
    va_list ap;
    fprintf(stderr, "twingrad%s%s: ", cmd ? " " : "", cmd ? cmd : "");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return code;
}

const char *tg_cli_refused(int argc, char **argv) {
    static char short_option[3] = "-?";
    const char *arg = argv[optind - 1];
    /* optopt is 0 for an unknown long option; for one missing its value (only possible
     * as the last argument) it is the option's value letter, as for a short option. */
    if (!optopt || (optind == argc && !strncmp(arg, "--", 2))) return arg;
    short_option[1] = (char)optopt;
    return short_option;
}

int tg_cli_parse_long(const char *text, long lo, long hi, long *out) {
    char *end;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (!*text || *end || errno || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

int tg_cli_parse_double(const char *text, double *out) {
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    if (!*text || *end || errno || !isfinite(v)) return -1;
    *out = v;
    return 0;
}

int tg_cli_check_schedule(const char *cmd, const char *model, const char *schedule, double lr) {
    tg_schedule_config sc;
    if (lr <= 0) { /* the train line's rate, which min_lr is checked against */
        tg_model_def *def;
        if (tg_model_def_parse_file(model, &def))
            return tg_cli_fail(cmd, TG_EXIT_FAILURE, "%s", tg_last_error());
        lr = def->train.lr;
        tg_model_def_free(def);
    }
    if (tg_model_schedule_parse("--schedule", schedule, lr, &sc))
        return tg_cli_fail(cmd, TG_EXIT_USAGE, "%s", tg_last_error());
    return TG_EXIT_OK;
}

static void usage(FILE *out) {
    fprintf(out, "usage: twingrad [--plugin FILE.so]... COMMAND [options]   (twingrad COMMAND "
                 "--help for its options)\n\n"
                 "--plugin loads a shared object that registers ops (docs/api.md, Plugins); it\n"
                 "may stand anywhere on the line and be given more than once.\n\n"
                 "commands:\n");
    for (int i = 0; i < N_COMMANDS; i++)
        fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\nevery command also takes:\n"
                 "  --max-memory SIZE  memory budget for what inputs may cost, e.g. 2G or 512M\n"
                 "                     (default: half the physical memory)\n");
}

/* Take --max-memory SIZE (or --max-memory=SIZE) out of argv, wherever it is, and set the
 * library's memory budget. Returns -1 after printing an error for a bad value. */
static int take_max_memory(int *argc, char **argv) {
    int out = 0;
    for (int i = 0; i < *argc; i++) {
        const char *a = argv[i], *value = NULL;
        if (!strcmp(a, "--")) { /* operands from here on */
            while (i < *argc) argv[out++] = argv[i++];
            break;
        }
        if (!strncmp(a, "--max-memory=", 13))
            value = a + 13;
        else if (!strcmp(a, "--max-memory")) {
            if (i + 1 >= *argc) {
                tg_cli_fail(NULL, TG_EXIT_USAGE, "--max-memory needs a size, e.g. 2G");
                return -1;
            }
            value = argv[++i];
        }
        if (!value) {
            argv[out++] = argv[i];
            continue;
        }
        uint64_t bytes;
        if (tg_memory_parse(value, &bytes)) {
            tg_cli_fail(NULL, TG_EXIT_USAGE, "--max-memory: %s", tg_last_error());
            return -1;
        }
        tg_memory_budget_set(bytes);
    }
    *argc = out;
    argv[out] = NULL;
    return 0;
}

/* Load every --plugin FILE (or --plugin=FILE), wherever it stands, and take it out of
 * argv, so that each command sees only its own options. 0 on success. */
static int load_plugins(int *argc, char **argv) {
    int out = 1;
    for (int i = 1; i < *argc; i++) {
        const char *path = NULL;
        if (!strcmp(argv[i], "--plugin")) {
            if (i + 1 >= *argc)
                return tg_cli_fail(NULL, TG_EXIT_USAGE, "--plugin needs a shared object's path");
            path = argv[++i];
        } else if (!strncmp(argv[i], "--plugin=", 9)) {
            path = argv[i] + 9;
        } else if (!strcmp(argv[i], "--")) {
            while (i < *argc) argv[out++] = argv[i++];
            break;
        } else {
            argv[out++] = argv[i];
            continue;
        }
        if (tg_plugin_load(path)) return tg_cli_fail(NULL, TG_EXIT_FAILURE, "%s", tg_last_error());
    }
    *argc = out;
    argv[out] = NULL;
    return 0;
}

/* Library warnings (e.g. a generic BLAS kernel) go to stderr; the rest is in --version. */
static void log_to_stderr(tg_log_level level, const char *message, void *user) {
    (void)user;
    if (level == TG_LOG_WARN) fprintf(stderr, "twingrad: warning: %s\n", message);
}

/* --version: the build, and the CPU, BLAS, kernel and threads that will compute. */
static int print_version(void) {
    printf("twingrad %s\n", PACKAGE_VERSION);
    tg_blas_info info;
    tg_status st = tg_blas_info_get(&info);
    printf("CPU:     %s (%s)\n", info.cpu, info.cpu_isa);
    printf("BLAS:    %s\n", info.library);
    printf("kernel:  %s (%s, %s)\n", info.core, info.core_isa, info.core_origin);
    printf("threads: %d (OpenMP wait: %s)\n", info.threads, info.wait_policy);
    if (info.warning[0]) printf("WARNING: %s\n", info.warning);
    return st ? TG_EXIT_FAILURE : TG_EXIT_OK;
}

int main(int argc, char **argv) {
    tg_threads_bounded_wait(argv); /* first: it may re-execute with the same argv */
    /* Under a file-size limit, a write past it fails with EFBIG, which the library reports
     * with the file's name; the default SIGXFSZ would kill us silently mid-save instead. */
    signal(SIGXFSZ, SIG_IGN);
    if (take_max_memory(&argc, argv)) return TG_EXIT_USAGE;
    int failed = load_plugins(&argc, argv);
    if (failed) return failed;
    if (argc < 2) {
        usage(stderr);
        return TG_EXIT_USAGE;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return TG_EXIT_OK;
    }
    if (!strcmp(argv[1], "--version")) return print_version();
    tg_log_set_handler(log_to_stderr, NULL);
    for (int i = 0; i < N_COMMANDS; i++)
        if (!strcmp(argv[1], commands[i].name)) return commands[i].run(argc - 1, argv + 1);
    const char *names[N_COMMANDS];
    for (int i = 0; i < N_COMMANDS; i++) names[i] = commands[i].name;
    const char *near = tg_nearest_name(argv[1], names, N_COMMANDS);
    return tg_cli_fail(NULL, TG_EXIT_USAGE, "unknown command '%s'%s%s%s; try 'twingrad --help'",
                       argv[1], near ? " (did you mean '" : "", near ? near : "",
                       near ? "'?)" : "");
}
