/* A plugin that registers a good op, then one named like a built-in ("relu"): loading
 * it must fail and leave neither op registered. */
#include <string.h>

#include "autograd/tg_graph.h"
#include "autograd/tg_plugin.h"

static tg_status copy_infer(const tg_node *n, const tg_shape *in, tg_shape *out, tg_shape *p) {
    (void)n;
    (void)p;
    *out = in[0];
    return TG_OK;
}

static tg_status copy_forward(tg_node *n) {
    memcpy(tg_node_data(n), tg_node_data(tg_node_input(n, 0)),
           (size_t)tg_shape_numel(tg_node_shape(n)) * sizeof(float));
    return TG_OK;
}

static const tg_op fine = {.name = "clash_fine",
                           .doc = "y = x",
                           .n_inputs = 1,
                           .infer = copy_infer,
                           .forward = copy_forward};
static const tg_op relu = {.name = "relu",
                           .doc = "y = x, named like a built-in",
                           .n_inputs = 1,
                           .infer = copy_infer,
                           .forward = copy_forward};

TG_PLUGIN_EXPORT tg_status twingrad_plugin_init(int abi);

TG_PLUGIN_EXPORT tg_status twingrad_plugin_init(int abi) {
    (void)abi;
    tg_status st = tg_op_register(&fine);
    return st ? st : tg_op_register(&relu);
}
