/* twingrad export: a trained checkpoint's tower as an ONNX model. */
#include <getopt.h>
#include <stdio.h>

#include "cli/tg_cli.h"
#include "eval/tg_eval.h"
#include "export/tg_onnx.h"

static void export_usage(FILE *out) {
    fprintf(out,
            "usage: twingrad export CHECKPOINT --onnx FILE.onnx\n"
            "Write the embedding tower of CHECKPOINT as an ONNX model (opset %d): input\n"
            "'%s' (N, C, H, W) float with a dynamic batch N, output '%s' (N, D), in eval\n"
            "mode (batch norm with its running statistics, no dropout, the head's\n"
            "normalisation included). An op with no ONNX mapping is an error naming it.\n",
            TG_ONNX_OPSET, TG_ONNX_INPUT, TG_ONNX_OUTPUT);
}

int tg_cmd_export(int argc, char **argv) {
    static const struct option longopts[] = {
        {"onnx", required_argument, 0, 'o'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    const char *onnx = NULL;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 'o':
            onnx = optarg;
            break;
        case 'h':
            export_usage(stdout);
            return TG_EXIT_OK;
        default:
            return tg_cli_fail("export", TG_EXIT_USAGE, "unknown or incomplete option '%s'",
                               tg_cli_refused(argc, argv));
        }
    }
    if (!onnx)
        return tg_cli_fail("export", TG_EXIT_USAGE,
                           "needs --onnx FILE; see 'twingrad export --help'");
    if (optind != argc - 1)
        return tg_cli_fail(
            "export", TG_EXIT_USAGE,
            "expected one CHECKPOINT, got %d arguments; see 'twingrad export --help'",
            argc - optind);
    tg_trained t;
    if (tg_trained_load(argv[optind], &t))
        return tg_cli_fail("export", TG_EXIT_FAILURE, "%s", tg_last_error());
    int code = TG_EXIT_OK;
    if (tg_onnx_export(t.model, onnx))
        code = tg_cli_fail("export", TG_EXIT_FAILURE, "%s", tg_last_error());
    else
        printf("wrote %s (input %s %dx%dx%d, output %s %d floats)\n", onnx, TG_ONNX_INPUT,
               t.def->channels, t.def->height, t.def->width, TG_ONNX_OUTPUT, t.model->embed_dim);
    tg_trained_free(&t);
    return code;
}
