/* twingrad ops, twingrad gradcheck: the registry from the command line. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/tg_cli.h"

int tg_cmd_ops(int argc, char **argv) {
    int markdown = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--markdown"))
            markdown = 1;
        else if (!strcmp(argv[i], "--help")) {
            printf("usage: twingrad ops [--markdown]\n"
                   "List every registered op with its inputs and attributes, or with --markdown\n"
                   "write the op reference (docs/ops.md) to standard output.\n");
            return TG_EXIT_OK;
        } else
            return tg_cli_fail("ops", TG_EXIT_USAGE, "unknown option '%s'", argv[i]);
    }
    if (markdown)
        return tg_ops_write_markdown(stdout)
                   ? tg_cli_fail("ops", TG_EXIT_FAILURE, "%s", tg_last_error())
                   : TG_EXIT_OK;
    for (int i = 0; i < tg_op_count(); i++) {
        const tg_op *op = tg_op_at(i);
        printf("%-18s %d input%s  ", op->name, op->n_inputs, op->n_inputs == 1 ? " " : "s");
        for (int a = 0; a < op->n_attrs; a++)
            printf("%s%s=%s", a ? " " : "", op->attrs[a].name,
                   op->attrs[a].default_value ? op->attrs[a].default_value : "?");
        const char *plugin = tg_op_plugin(op);
        printf("%s%s%s%s%s\n", op->n_attrs ? "  " : "", op->doc, plugin ? "  [plugin " : "",
               plugin ? plugin : "", plugin ? "]" : "");
    }
    return TG_EXIT_OK;
}

static void gradcheck_usage(FILE *out) {
    fprintf(out, "usage: twingrad gradcheck OP [--inputs SHAPES] [--attrs \"k=v ...\"] [--eval]\n"
                 "                          [--seed N] [--eps H] [--rtol R] [--probes N]\n"
                 "       twingrad gradcheck --all\n"
                 "Compare OP's backward with central finite differences. SHAPES are the data\n"
                 "input shapes separated by ';' (\"4x3x8x8;4x3x8x8\"); without --inputs every\n"
                 "example the op registers is checked. --all checks every op in the registry.\n"
                 "Exit status 0 when every check passes, 1 when one fails.\n");
}

/* Check one op on one shape set; prints a line; returns 1 when it passed. */
static int check_one(const tg_op *op, const char *inputs, const char *attrs,
                     const tg_gradcheck_opts *o) {
    tg_gradcheck_result r;
    if (tg_gradcheck_op(op->name, inputs, attrs, o, &r)) {
        fprintf(stderr, "twingrad gradcheck: %s\n", tg_last_error());
        return 0;
    }
    printf("%-16s %-24s %-30s %s\n", op->name, inputs, attrs ? attrs : "", r.report);
    return r.passed;
}

static int check_examples(const tg_op *op, tg_gradcheck_opts o, int force_eval) {
    int ok = 1;
    for (int e = 0; e < TG_MAX_EXAMPLES && op->examples[e].inputs; e++) {
        o.eval_mode = force_eval || op->examples[e].eval_mode;
        ok &= check_one(op, op->examples[e].inputs, op->examples[e].attrs, &o);
    }
    return ok;
}

int tg_cmd_gradcheck(int argc, char **argv) {
    static const struct option longopts[] = {
        {"inputs", required_argument, 0, 'i'}, {"attrs", required_argument, 0, 'a'},
        {"eval", no_argument, 0, 'e'},         {"seed", required_argument, 0, 's'},
        {"eps", required_argument, 0, 'h'},    {"rtol", required_argument, 0, 'r'},
        {"probes", required_argument, 0, 'p'}, {"all", no_argument, 0, 'A'},
        {"help", no_argument, 0, 'H'},         {0, 0, 0, 0}};
    const char *inputs = NULL, *attrs = NULL;
    int all = 0, eval = 0;
    tg_gradcheck_opts o = tg_gradcheck_defaults(1);
    o.eps = 0;
    o.rtol = 0;
    long v;
    double d;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 'i':
            inputs = optarg;
            break;
        case 'a':
            attrs = optarg;
            break;
        case 'e':
            eval = 1;
            break;
        case 'A':
            all = 1;
            break;
        case 's':
            if (tg_cli_parse_long(optarg, 0, 0x7fffffffL, &v))
                return tg_cli_fail("gradcheck", TG_EXIT_USAGE,
                                   "--seed: expected a non-negative integer, got '%s'", optarg);
            o.seed = (uint64_t)v;
            break;
        case 'h':
            if (tg_cli_parse_double(optarg, &d) || d <= 0)
                return tg_cli_fail("gradcheck", TG_EXIT_USAGE,
                                   "--eps: expected a positive number, got '%s'", optarg);
            o.eps = d;
            break;
        case 'r':
            if (tg_cli_parse_double(optarg, &d) || d <= 0)
                return tg_cli_fail("gradcheck", TG_EXIT_USAGE,
                                   "--rtol: expected a positive number, got '%s'", optarg);
            o.rtol = d;
            break;
        case 'p':
            if (tg_cli_parse_long(optarg, 1, 1000000, &v))
                return tg_cli_fail("gradcheck", TG_EXIT_USAGE,
                                   "--probes: expected 1..1000000, got '%s'", optarg);
            o.max_probes = (int)v;
            break;
        case 'H':
            gradcheck_usage(stdout);
            return TG_EXIT_OK;
        default:
            return tg_cli_fail("gradcheck", TG_EXIT_USAGE, "unknown or incomplete option '%s'",
                               tg_cli_refused(argc, argv));
        }
    }
    if (all) {
        if (optind < argc || inputs)
            return tg_cli_fail("gradcheck", TG_EXIT_USAGE, "--all takes no op and no --inputs");
        int ok = 1;
        for (int i = 0; i < tg_op_count(); i++) ok &= check_examples(tg_op_at(i), o, eval);
        return ok ? TG_EXIT_OK : TG_EXIT_FAILURE;
    }
    if (optind != argc - 1)
        return tg_cli_fail("gradcheck", TG_EXIT_USAGE,
                           "expected one OP (or --all), got %d arguments; see 'twingrad gradcheck "
                           "--help'",
                           argc - optind);
    const tg_op *op = tg_op_find(argv[optind]);
    if (!op) {
        const char *near = tg_op_nearest(argv[optind]);
        return tg_cli_fail("gradcheck", TG_EXIT_USAGE,
                           "unknown op '%s'%s%s%s; 'twingrad ops' lists them", argv[optind],
                           near ? " (did you mean '" : "", near ? near : "", near ? "'?)" : "");
    }
    if (!inputs) return check_examples(op, o, eval) ? TG_EXIT_OK : TG_EXIT_FAILURE;
    o.eval_mode = eval;
    return check_one(op, inputs, attrs, &o) ? TG_EXIT_OK : TG_EXIT_FAILURE;
}
