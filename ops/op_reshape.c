/* Views with a new shape: flatten (N, ...) -> (N, D) and reshape to given item dims.
 * The data is copied (tensors are contiguous and own their buffers). */
#include <string.h>

#include "ops/tg_builtin_ops.h"
#include "ops/tg_op_util.h"

static tg_status flatten_infer(const tg_node *n, const tg_shape *in, tg_shape *out,
                               tg_shape *params) {
    (void)n;
    (void)params;
    *out = tg_shape2(in[0].dim[0], tg_shape_item_numel(&in[0]));
    return TG_OK;
}

enum { A_SHAPE };
static const tg_attr_spec reshape_attrs[] = {
    {"shape", TG_ATTR_SHAPE, NULL, 0, 0, NULL, "the item shape without the batch, e.g. 8x4x4"},
};

static tg_status reshape_infer(const tg_node *n, const tg_shape *in, tg_shape *out,
                               tg_shape *params) {
    (void)params;
    const tg_shape *item = &n->attrs.v[A_SHAPE].shape;
    char a[64], b[64];
    if (item->ndim + 1 > TG_MAX_DIMS)
        return tg_error(TG_ERR_SHAPE,
                        "reshape: shape=%s has too many dimensions (at most %d "
                        "besides the batch)",
                        tg_shape_str(item, a, sizeof a), TG_MAX_DIMS - 1);
    if (tg_shape_numel(item) != tg_shape_item_numel(&in[0]))
        return tg_error(TG_ERR_SHAPE,
                        "reshape: input %s has %lld elements per item, shape=%s has %lld",
                        tg_shape_str(&in[0], a, sizeof a), (long long)tg_shape_item_numel(&in[0]),
                        tg_shape_str(item, b, sizeof b), (long long)tg_shape_numel(item));
    out->ndim = item->ndim + 1;
    out->dim[0] = in[0].dim[0];
    for (int i = 0; i < item->ndim; i++) out->dim[i + 1] = item->dim[i];
    return TG_OK;
}

static tg_status copy_forward(tg_node *n) {
    memcpy(n->value.data, tg_in(n, 0), (size_t)tg_numel(&n->value) * sizeof(float));
    return TG_OK;
}

static tg_status copy_backward(tg_node *n) {
    float *dx = tg_din(n, 0);
    if (dx) tg_axpy_add(dx, n->grad.data, 1.0f, tg_numel(&n->value));
    return TG_OK;
}

static double no_flops(const tg_node *n) {
    (void)n;
    return 0.0;
}

const tg_op tg_op_flatten = {
    .name = "flatten",
    .doc = "flatten every item to a vector",
    .formula = "(N, C, H, W) -> (N, C*H*W)",
    .n_inputs = 1,
    .infer = flatten_infer,
    .forward = copy_forward,
    .backward = copy_backward,
    .flops = no_flops,
    .examples = {{"2x3x4x4", ""}, {"3x5", ""}},
};

const tg_op tg_op_reshape = {
    .name = "reshape",
    .doc = "give every item a new shape with the same number of elements",
    .formula = "(N, ...) -> (N, shape...)",
    .n_inputs = 1,
    .attrs = reshape_attrs,
    .n_attrs = 1,
    .infer = reshape_infer,
    .forward = copy_forward,
    .backward = copy_backward,
    .flops = no_flops,
    .examples = {{"2x12", "shape=3x2x2"}, {"2x3x4x4", "shape=48"}},
};
