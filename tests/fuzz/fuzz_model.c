/* libFuzzer: the model-file parser, then a shape-only build, its summary (what
 * `twingrad summary` does; no weights are allocated however large the model) and the
 * ops' own memory that tg_model_build adds to the cost it checks. */
#include <string.h>

#include "tests/fuzz/fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_init();
    char *text = malloc(size + 1);
    if (!text) return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    tg_model_def *def = NULL;
    if (tg_model_def_parse_text("fuzz.tg", text, &def) == TG_OK) {
        tg_model *m = NULL;
        if (tg_model_build_shapes(def, 0, &m) == TG_OK) {
            char buf[4096];
            tg_model_summary_str(m, 0, buf, sizeof buf);
            (void)tg_graph_op_bytes(m->graph);
        }
        tg_model_free(m);
    }
    tg_model_def_free(def);
    free(text);
    return 0;
}
