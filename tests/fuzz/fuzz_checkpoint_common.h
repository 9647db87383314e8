/* Shared by the checkpoint harnesses: load a file and touch everything it holds. */
#ifndef TG_FUZZ_CHECKPOINT_COMMON_H
#define TG_FUZZ_CHECKPOINT_COMMON_H

#include <string.h>

#include "tests/fuzz/fuzz_common.h"

static inline void fuzz_load_and_walk(const char *path) {
    tg_checkpoint *ck = NULL;
    if (tg_checkpoint_load(path, &ck) != TG_OK) return;
    volatile double sink = 0;
    size_t len;
    const char *text = tg_checkpoint_model_text(ck, &len);
    sink += text[len];
    for (int i = 0; i < tg_checkpoint_tensor_count(ck); i++) {
        int64_t n = tg_shape_numel(tg_checkpoint_tensor_shape(ck, i));
        const float *x = tg_checkpoint_tensor_data(ck, i);
        if (n > 0) sink += x[0] + x[n - 1];
        sink += tg_checkpoint_tensor_find(ck, tg_checkpoint_tensor_name(ck, i));
    }
    int64_t size = tg_checkpoint_optimizer_size(ck);
    for (int i = 0; i < tg_checkpoint_optimizer_state_count(ck); i++) {
        const float *x = tg_checkpoint_optimizer_state_data(ck, i);
        if (size > 0) sink += x[size - 1];
    }
    for (int i = 0; i < tg_checkpoint_meta_count(ck); i++)
        sink += (double)strlen(tg_checkpoint_meta_value(ck, i));
    tg_rng r;
    if (tg_checkpoint_rng_get(ck, "graph", &r) == TG_OK) sink += (double)r.s[0];
    /* A checkpoint that loads must restore into a model built from its own text when the
     * text is a model and the tensors match; mismatches are errors, never crashes. */
    tg_model_def *def = NULL;
    if (tg_model_def_parse_text("fuzz.tg", text, &def) == TG_OK) {
        tg_model *m = NULL;
        tg_model_stats st;
        if (tg_model_build_shapes(def, 1, &m) == TG_OK && tg_model_stats_get(m, 1, &st) == TG_OK &&
            st.params + st.state < (1 << 16) && st.total_bytes < (1 << 24)) {
            tg_model_free(m);
            m = NULL;
            if (tg_model_build(def, 1, &m) == TG_OK)
                tg_checkpoint_restore(ck, m->graph, NULL, NULL);
        }
        tg_model_free(m);
    }
    tg_model_def_free(def);
    tg_checkpoint_free(ck);
    (void)sink;
}

#endif
