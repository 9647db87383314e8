/* ONNX export: the tower of a built model, layer by layer in build order, as ONNX
 * nodes over named tensors (a layer's output tensor is named after the layer), its
 * parameters as initializers, written with the small protobuf writer of tg_pb.c.
 *
 * Field numbers are those of onnx/onnx.proto (IR version 7). Only the messages the
 * export needs are written: ModelProto, OperatorSetIdProto, GraphProto, NodeProto,
 * AttributeProto, TensorProto, ValueInfoProto, TypeProto.Tensor, TensorShapeProto.
 *
 * Geometry: every window op gets explicit pads [top, left, bottom, right] from the
 * same tg_conv_geom the kernels use, so pad=same (TensorFlow's, extra row at the
 * bottom) and padding=p both export exactly; the spatial size is fixed by the
 * model's input line, only the batch dimension is dynamic. */
#include "export/tg_onnx.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/tg_fs.h"
#include "export/tg_pb.h"
#include "ops/tg_im2col.h"

/* onnx.proto field numbers and enum values used here. */
enum {
    MODEL_IR_VERSION = 1,
    MODEL_PRODUCER = 2,
    MODEL_PRODUCER_VERSION = 3,
    MODEL_DOC = 6,
    MODEL_GRAPH = 7,
    MODEL_OPSET = 8
};
enum { OPSET_VERSION = 2 };
enum { GRAPH_NODE = 1, GRAPH_NAME = 2, GRAPH_INIT = 5, GRAPH_INPUT = 11, GRAPH_OUTPUT = 12 };
enum { NODE_INPUT = 1, NODE_OUTPUT = 2, NODE_NAME = 3, NODE_OP_TYPE = 4, NODE_ATTR = 5 };
enum { ATTR_NAME = 1, ATTR_F = 2, ATTR_I = 3, ATTR_INTS = 8, ATTR_TYPE = 20 };
enum { ATTR_TYPE_FLOAT = 1, ATTR_TYPE_INT = 2, ATTR_TYPE_INTS = 7 };
enum { TENSOR_DIMS = 1, TENSOR_DATA_TYPE = 2, TENSOR_NAME = 8, TENSOR_RAW = 9 };
enum { ELEM_FLOAT = 1, ELEM_INT64 = 7 };
enum {
    VALUE_NAME = 1,
    VALUE_TYPE = 2,
    TYPE_TENSOR = 1,
    TT_ELEM = 1,
    TT_SHAPE = 2,
    SHAPE_DIM = 1,
    DIM_VALUE = 1,
    DIM_PARAM = 2
};

#define NAME_MAX_LEN (TG_MODEL_MAX_NAME + 32)

typedef struct attr {
    const char *name;
    int type; /* ATTR_TYPE_* */
    int64_t i;
    float f;
    const int64_t *ints;
    int n;
} attr;

typedef struct ctx {
    tg_model *m;
    tg_pb graph;
    char (*tensor)[NAME_MAX_LEN]; /* per layer: the ONNX tensor holding its output */
} ctx;

/* ---- writing nodes and initializers ---- */

static void write_attr(tg_pb *node, const attr *a) {
    tg_pb p = {0};
    tg_pb_str(&p, ATTR_NAME, a->name);
    tg_pb_int(&p, ATTR_TYPE, a->type);
    if (a->type == ATTR_TYPE_INT) tg_pb_int(&p, ATTR_I, a->i);
    if (a->type == ATTR_TYPE_FLOAT) tg_pb_float(&p, ATTR_F, a->f);
    if (a->type == ATTR_TYPE_INTS) tg_pb_packed_ints(&p, ATTR_INTS, a->ints, a->n);
    tg_pb_msg(node, NODE_ATTR, &p);
    tg_pb_free(&p);
}

/* One NodeProto: op_type over inputs (n_in names; "" leaves an optional one out) to `out`. */
static void node(ctx *c, const char *op_type, const char *const *in, int n_in, const char *out,
                 const attr *attrs, int n_attrs) {
    tg_pb p = {0};
    for (int i = 0; i < n_in; i++) tg_pb_str(&p, NODE_INPUT, in[i]);
    tg_pb_str(&p, NODE_OUTPUT, out);
    tg_pb_str(&p, NODE_NAME, out);
    tg_pb_str(&p, NODE_OP_TYPE, op_type);
    for (int i = 0; i < n_attrs; i++) write_attr(&p, &attrs[i]);
    tg_pb_msg(&c->graph, GRAPH_NODE, &p);
    tg_pb_free(&p);
}

static void node1(ctx *c, const char *op_type, const char *in, const char *out) {
    node(c, op_type, &in, 1, out, NULL, 0);
}

/* An initializer: a float tensor (data: numel floats) or, with i64, an int64 one. */
static void initializer(ctx *c, const char *name, const int64_t *dims, int ndim, const float *data,
                        const int64_t *i64) {
    tg_pb p = {0};
    int64_t numel = 1;
    for (int i = 0; i < ndim; i++) numel *= dims[i];
    if (ndim) tg_pb_packed_ints(&p, TENSOR_DIMS, dims, ndim);
    tg_pb_int(&p, TENSOR_DATA_TYPE, i64 ? ELEM_INT64 : ELEM_FLOAT);
    tg_pb_str(&p, TENSOR_NAME, name);
    if (i64) {
        /* raw_data is little-endian; int64 by bytes so the host order does not matter */
        uint8_t *raw = malloc((size_t)numel * 8 + 1);
        if (!raw) {
            p.failed = 1;
        } else {
            for (int64_t k = 0; k < numel; k++)
                for (int b = 0; b < 8; b++) raw[k * 8 + b] = (uint8_t)((uint64_t)i64[k] >> (8 * b));
            tg_pb_bytes(&p, TENSOR_RAW, raw, (size_t)numel * 8);
            free(raw);
        }
    } else {
        tg_pb_raw_floats(&p, TENSOR_RAW, data, (size_t)numel);
    }
    tg_pb_msg(&c->graph, GRAPH_INIT, &p);
    tg_pb_free(&p);
}

/* A parameter node as an initializer under its graph name ("conv1.weight"). */
static const char *param_init(ctx *c, tg_node *param) {
    const tg_shape *s = tg_node_shape(param);
    int64_t dims[TG_MAX_DIMS];
    for (int i = 0; i < s->ndim; i++) dims[i] = s->dim[i];
    initializer(c, tg_node_name(param), dims, s->ndim, tg_node_data(param), NULL);
    return tg_node_name(param);
}

static void value_info(tg_pb *graph, int field, const char *name, const tg_shape *s) {
    tg_pb shape = {0}, tensor = {0}, type = {0}, vi = {0};
    for (int i = 0; i < s->ndim; i++) {
        tg_pb dim = {0};
        if (i == 0)
            tg_pb_str(&dim, DIM_PARAM, "N");
        else
            tg_pb_int(&dim, DIM_VALUE, s->dim[i]);
        tg_pb_msg(&shape, SHAPE_DIM, &dim);
        tg_pb_free(&dim);
    }
    tg_pb_int(&tensor, TT_ELEM, ELEM_FLOAT);
    tg_pb_msg(&tensor, TT_SHAPE, &shape);
    tg_pb_msg(&type, TYPE_TENSOR, &tensor);
    tg_pb_str(&vi, VALUE_NAME, name);
    tg_pb_msg(&vi, VALUE_TYPE, &type);
    tg_pb_msg(graph, field, &vi);
    tg_pb_free(&shape);
    tg_pb_free(&tensor);
    tg_pb_free(&type);
    tg_pb_free(&vi);
}

/* ---- op mappings ---- */

/* Integer attribute `name` of an op node (0 when its op has none). */
static int64_t attr_int(const tg_node *n, const char *name) {
    int i = tg_op_attr_index(tg_node_op(n), name);
    return i < 0 ? 0 : tg_node_attrs(n)->v[i].i;
}

static const char *act_op(int64_t act) {
    static const char *const ops[] = {NULL, "Relu", "Sigmoid", "Tanh"}; /* TG_ACT_CHOICES */
    return act >= 0 && act < 4 ? ops[act] : NULL;
}

/* out = act(pre): the layer's last node; with no activation `pre` is renamed `out`. */
static void with_act(ctx *c, int64_t act, const char *pre, const char *out) {
    if (act_op(act)) node1(c, act_op(act), pre, out);
}

/* Explicit ONNX pads [top, left, bottom, right] for a window op's geometry; the
 * bottom/right pads are what the last window needs, never negative. */
static void pads_of(const tg_conv_geom *g, int64_t pads[4]) {
    int64_t pb = (int64_t)(g->ho - 1) * g->stride + g->k - g->h - g->pt;
    int64_t pr = (int64_t)(g->wo - 1) * g->stride + g->k - g->w - g->pl;
    pads[0] = g->pt;
    pads[1] = g->pl;
    pads[2] = pb > 0 ? pb : 0;
    pads[3] = pr > 0 ? pr : 0;
}

static tg_status geom_of(const tg_node *n, tg_pad pad, int k, int stride, tg_conv_geom *g) {
    const tg_shape *x = tg_node_shape(tg_node_input(n, 0));
    return tg_conv_geom_init(g, "window", (int)x->dim[1], (int)x->dim[2], (int)x->dim[3], k, stride,
                             pad, (int)attr_int(n, "padding"));
}

/* A Conv node: x -> out with weight w (and bias b unless NULL), `group` groups. */
static tg_status conv(ctx *c, const tg_node *n, const char *x, const char *w, const char *b,
                      int group, int k, const char *out) {
    tg_conv_geom g;
    tg_status st = geom_of(n, (tg_pad)attr_int(n, "pad"), k, (int)attr_int(n, "stride"), &g);
    if (st) return st;
    int64_t kernel[2] = {k, k}, strides[2] = {g.stride, g.stride}, pads[4], dil[2] = {1, 1};
    pads_of(&g, pads);
    const attr a[] = {{"kernel_shape", ATTR_TYPE_INTS, 0, 0, kernel, 2},
                      {"strides", ATTR_TYPE_INTS, 0, 0, strides, 2},
                      {"pads", ATTR_TYPE_INTS, 0, 0, pads, 4},
                      {"dilations", ATTR_TYPE_INTS, 0, 0, dil, 2},
                      {"group", ATTR_TYPE_INT, group, 0, NULL, 0}};
    const char *in[3] = {x, w, b};
    node(c, "Conv", in, b ? 3 : 2, out, a, 5);
    return TG_OK;
}

/* Names "<layer>/<what>" for a layer's intermediate tensors. */
static const char *inner(char *buf, const char *out, const char *what) {
    snprintf(buf, NAME_MAX_LEN, "%s/%s", out, what);
    return buf;
}

static tg_status emit_conv(ctx *c, tg_node *n, const char *const *in, const char *out) {
    char pre[NAME_MAX_LEN];
    int64_t act = attr_int(n, "act");
    const char *w = param_init(c, tg_node_param(n, 0));
    const char *b = tg_node_param(n, 1) ? param_init(c, tg_node_param(n, 1)) : NULL;
    tg_status st = conv(c, n, in[0], w, b, 1, (int)attr_int(n, "kernel"),
                        act_op(act) ? inner(pre, out, "conv") : out);
    if (!st) with_act(c, act, pre, out);
    return st;
}

/* depthwise_conv2d: a grouped Conv, one group per input channel. Output channel
 * c*M + m reads input channel c: ONNX's group order. */
static tg_status emit_depthwise(ctx *c, tg_node *n, const char *const *in, const char *out) {
    char pre[NAME_MAX_LEN];
    int64_t act = attr_int(n, "act");
    int ch = (int)tg_node_shape(tg_node_input(n, 0))->dim[1];
    const char *w = param_init(c, tg_node_param(n, 0));
    const char *b = tg_node_param(n, 1) ? param_init(c, tg_node_param(n, 1)) : NULL;
    tg_status st = conv(c, n, in[0], w, b, ch, (int)attr_int(n, "kernel"),
                        act_op(act) ? inner(pre, out, "conv") : out);
    if (!st) with_act(c, act, pre, out);
    return st;
}

/* sepconv2d: the grouped depthwise Conv without bias, then a 1x1 Conv with the bias. */
static tg_status emit_sepconv(ctx *c, tg_node *n, const char *const *in, const char *out) {
    char dw[NAME_MAX_LEN], pre[NAME_MAX_LEN];
    int64_t act = attr_int(n, "act");
    int ch = (int)tg_node_shape(tg_node_input(n, 0))->dim[1];
    const char *wd = param_init(c, tg_node_param(n, 0)), *wp = param_init(c, tg_node_param(n, 1));
    const char *b = tg_node_param(n, 2) ? param_init(c, tg_node_param(n, 2)) : NULL;
    tg_status st =
        conv(c, n, in[0], wd, NULL, ch, (int)attr_int(n, "kernel"), inner(dw, out, "depthwise"));
    if (st) return st;
    int64_t one[2] = {1, 1}, zero[4] = {0, 0, 0, 0};
    const attr a[] = {{"kernel_shape", ATTR_TYPE_INTS, 0, 0, one, 2},
                      {"strides", ATTR_TYPE_INTS, 0, 0, one, 2},
                      {"pads", ATTR_TYPE_INTS, 0, 0, zero, 4}};
    const char *pin[3] = {dw, wp, b};
    node(c, "Conv", pin, b ? 3 : 2, act_op(act) ? inner(pre, out, "pointwise") : out, a, 3);
    with_act(c, act, pre, out);
    return TG_OK;
}

/* batchnorm in eval mode: BatchNormalization with the running statistics. */
static tg_status emit_batchnorm(ctx *c, tg_node *n, const char *const *in, const char *out) {
    const char *bin[5] = {in[0]};
    for (int i = 0; i < 4; i++) bin[i + 1] = param_init(c, tg_node_param(n, i));
    const attr a[] = {
        {"epsilon", ATTR_TYPE_FLOAT, 0, (float)tg_node_attr_float(n, "eps"), NULL, 0}};
    node(c, "BatchNormalization", bin, 5, out, a, 1);
    return TG_OK;
}

static tg_status emit_pool(ctx *c, tg_node *n, const char *const *in, const char *out) {
    int k = (int)attr_int(n, "size"), s = (int)attr_int(n, "stride");
    /* the pool ops' pad choices are "valid|same" (valid first, unlike conv) */
    tg_pad pad = attr_int(n, "pad") == 0 ? TG_PAD_VALID : TG_PAD_SAME;
    tg_conv_geom g;
    tg_status st = geom_of(n, pad, k, s > 0 ? s : k, &g);
    if (st) return st;
    int64_t kernel[2] = {k, k}, strides[2] = {g.stride, g.stride}, pads[4];
    pads_of(&g, pads);
    int avg = strcmp(tg_node_op(n)->name, "avgpool2d") == 0;
    /* padding never counts in an average (count_include_pad=0), nor in a max */
    const attr a[] = {{"kernel_shape", ATTR_TYPE_INTS, 0, 0, kernel, 2},
                      {"strides", ATTR_TYPE_INTS, 0, 0, strides, 2},
                      {"pads", ATTR_TYPE_INTS, 0, 0, pads, 4},
                      {"count_include_pad", ATTR_TYPE_INT, 0, 0, NULL, 0}};
    node(c, avg ? "AveragePool" : "MaxPool", in, 1, out, a, avg ? 4 : 3);
    return TG_OK;
}

static tg_status emit_global_avgpool(ctx *c, tg_node *n, const char *const *in, const char *out) {
    (void)n;
    char pooled[NAME_MAX_LEN];
    node1(c, "GlobalAveragePool", in[0], inner(pooled, out, "pool")); /* (N, C, 1, 1) */
    const attr a[] = {{"axis", ATTR_TYPE_INT, 1, 0, NULL, 0}};
    node(c, "Flatten", (const char *[]){pooled}, 1, out, a, 1); /* (N, C) */
    return TG_OK;
}

static tg_status emit_flatten(ctx *c, tg_node *n, const char *const *in, const char *out) {
    (void)n;
    const attr a[] = {{"axis", ATTR_TYPE_INT, 1, 0, NULL, 0}};
    node(c, "Flatten", in, 1, out, a, 1);
    return TG_OK;
}

/* reshape: Reshape to (0, item dims...), 0 copying the (dynamic) batch dimension. */
static tg_status emit_reshape(ctx *c, tg_node *n, const char *const *in, const char *out) {
    char shape_name[NAME_MAX_LEN];
    const tg_shape *s = tg_node_shape(n);
    int64_t target[TG_MAX_DIMS], len = s->ndim;
    target[0] = 0;
    for (int i = 1; i < s->ndim; i++) target[i] = s->dim[i];
    initializer(c, inner(shape_name, out, "shape"), &len, 1, NULL, target);
    node(c, "Reshape", (const char *[]){in[0], shape_name}, 2, out, NULL, 0);
    return TG_OK;
}

/* dense: Gemm(x, W^T) + b on the item flattened to (N, D). */
static tg_status emit_dense(ctx *c, tg_node *n, const char *const *in, const char *out) {
    char flat[NAME_MAX_LEN], pre[NAME_MAX_LEN];
    const char *x = in[0];
    if (tg_node_shape(tg_node_input(n, 0))->ndim != 2) {
        const attr a[] = {{"axis", ATTR_TYPE_INT, 1, 0, NULL, 0}};
        node(c, "Flatten", in, 1, inner(flat, out, "flat"), a, 1);
        x = flat;
    }
    int64_t act = attr_int(n, "act");
    const char *w = param_init(c, tg_node_param(n, 0));
    const char *b = tg_node_param(n, 1) ? param_init(c, tg_node_param(n, 1)) : NULL;
    const attr a[] = {{"transB", ATTR_TYPE_INT, 1, 0, NULL, 0}};
    node(c, "Gemm", (const char *[]){x, w, b}, b ? 3 : 2,
         act_op(act) ? inner(pre, out, "gemm") : out, a, 1);
    with_act(c, act, pre, out);
    return TG_OK;
}

static tg_status emit_unary(ctx *c, tg_node *n, const char *const *in, const char *out) {
    const char *op = strcmp(tg_node_op(n)->name, "relu") == 0      ? "Relu"
                     : strcmp(tg_node_op(n)->name, "sigmoid") == 0 ? "Sigmoid"
                                                                   : "Tanh";
    node1(c, op, in[0], out);
    return TG_OK;
}

static tg_status emit_binary(ctx *c, tg_node *n, const char *const *in, const char *out) {
    const char *op = strcmp(tg_node_op(n)->name, "add") == 0   ? "Add"
                     : strcmp(tg_node_op(n)->name, "sub") == 0 ? "Sub"
                                                               : "Mul";
    node(c, op, in, 2, out, NULL, 0);
    return TG_OK;
}

static tg_status emit_scale(ctx *c, tg_node *n, const char *const *in, const char *out) {
    char alpha_name[NAME_MAX_LEN];
    float alpha = (float)tg_node_attr_float(n, "alpha");
    initializer(c, inner(alpha_name, out, "alpha"), NULL, 0, &alpha, NULL);
    node(c, "Mul", (const char *[]){in[0], alpha_name}, 2, out, NULL, 0);
    return TG_OK;
}

/* l2normalize: x / max(||x||, eps) per item, as ReduceL2 over the item axes, Max, Div
 * (LpNormalization has no eps and works on one axis only). */
static void l2normalize(ctx *c, const char *x, int ndim, float eps, const char *out) {
    char norm[NAME_MAX_LEN], eps_name[NAME_MAX_LEN], safe[NAME_MAX_LEN];
    int64_t axes[TG_MAX_DIMS];
    for (int i = 1; i < ndim; i++) axes[i - 1] = i;
    const attr a[] = {{"axes", ATTR_TYPE_INTS, 0, 0, axes, ndim - 1},
                      {"keepdims", ATTR_TYPE_INT, 1, 0, NULL, 0}};
    node(c, "ReduceL2", &x, 1, inner(norm, out, "norm"), a, 2);
    initializer(c, inner(eps_name, out, "eps"), NULL, 0, &eps, NULL);
    node(c, "Max", (const char *[]){norm, eps_name}, 2, inner(safe, out, "safe_norm"), NULL, 0);
    node(c, "Div", (const char *[]){x, safe}, 2, out, NULL, 0);
}

static tg_status emit_l2normalize(ctx *c, tg_node *n, const char *const *in, const char *out) {
    l2normalize(c, in[0], tg_node_shape(n)->ndim, (float)tg_node_attr_float(n, "eps"), out);
    return TG_OK;
}

typedef tg_status (*emit_fn)(ctx *c, tg_node *n, const char *const *in, const char *out);

/* The exportable ops. dropout has no entry: in eval mode it is the identity. */
static const struct mapping {
    const char *op;
    emit_fn emit;
} mappings[] = {
    {"conv2d", emit_conv},
    {"depthwise_conv2d", emit_depthwise},
    {"sepconv2d", emit_sepconv},
    {"batchnorm", emit_batchnorm},
    {"maxpool2d", emit_pool},
    {"avgpool2d", emit_pool},
    {"global_avgpool", emit_global_avgpool},
    {"flatten", emit_flatten},
    {"reshape", emit_reshape},
    {"dense", emit_dense},
    {"relu", emit_unary},
    {"sigmoid", emit_unary},
    {"tanh", emit_unary},
    {"add", emit_binary},
    {"sub", emit_binary},
    {"mul", emit_binary},
    {"scale", emit_scale},
    {"l2normalize", emit_l2normalize},
};
#define N_MAPPINGS ((int)(sizeof mappings / sizeof mappings[0]))

static tg_status unsupported(const tg_model_def *d, const tg_model_layer *l) {
    char list[512] = "";
    for (int i = 0; i < N_MAPPINGS; i++) {
        size_t used = strlen(list);
        snprintf(list + used, sizeof list - used, "%s, ", mappings[i].op);
    }
    return tg_error(TG_ERR_UNKNOWN,
                    "%s:%d:%d: layer '%s' uses op '%s', which has no ONNX export (ops that export: "
                    "%sdropout)",
                    d->source, l->line, l->col, l->name, l->op->name, list);
}

/* ---- the graph ---- */

static tg_status emit_tower(ctx *c) {
    const tg_model_def *d = c->m->def;
    for (int k = 0; k < d->n_layers; k++) {
        int i = d->order[k];
        const tg_model_layer *l = &d->layers[i];
        tg_node *n = c->m->tower_a[i];
        const char *in[TG_MAX_INPUTS];
        for (int j = 0; j < l->n_inputs; j++)
            in[j] = l->inputs[j] == TG_MODEL_INPUT ? TG_ONNX_INPUT : c->tensor[l->inputs[j]];
        if (strcmp(l->op->name, "dropout") == 0) { /* identity in eval mode: alias the input */
            snprintf(c->tensor[i], NAME_MAX_LEN, "%s", in[0]);
            continue;
        }
        const struct mapping *map = NULL;
        for (int j = 0; j < N_MAPPINGS && !map; j++)
            if (strcmp(mappings[j].op, l->op->name) == 0) map = &mappings[j];
        if (!map) return unsupported(d, l);
        snprintf(c->tensor[i], NAME_MAX_LEN, "%s", l->name);
        tg_status st = map->emit(c, n, in, c->tensor[i]);
        if (st)
            return tg_error_context(st, "%s:%d:%d: exporting layer '%s': ", d->source, l->line,
                                    l->col, l->name);
    }
    /* The head: the normalisation the model applies before its distance, if any. */
    const char *last = c->tensor[d->output];
    const tg_node *emb = c->m->tower_a[d->output];
    if (d->normalize)
        l2normalize(c, last, tg_node_shape(emb)->ndim, (float)tg_node_attr_float(c->m->ea, "eps"),
                    TG_ONNX_OUTPUT);
    else
        node1(c, "Identity", last, TG_ONNX_OUTPUT);
    return TG_OK;
}

tg_status tg_onnx_encode(tg_model *m, uint8_t **data, size_t *size) {
    if (!data || !size)
        return tg_error(TG_ERR_INVALID, "tg_onnx_encode: data and size are required");
    *data = NULL;
    *size = 0;
    if (!m || !m->def) return tg_error(TG_ERR_INVALID, "tg_onnx_encode: model is NULL");
    const tg_model_def *d = m->def;
    if (!tg_graph_param_data(m->graph, NULL)) return TG_ERR_NOMEM; /* parameters packed */
    ctx c = {.m = m};
    c.tensor = calloc((size_t)d->n_layers, sizeof *c.tensor);
    if (!c.tensor) return tg_error(TG_ERR_NOMEM, "tg_onnx_encode: out of memory");
    tg_status st = emit_tower(&c);
    tg_pb model = {0}, opset = {0};
    if (!st) {
        tg_pb_str(&c.graph, GRAPH_NAME, "twingrad_tower");
        tg_shape in = tg_shape4(1, d->channels, d->height, d->width);
        value_info(&c.graph, GRAPH_INPUT, TG_ONNX_INPUT, &in);
        value_info(&c.graph, GRAPH_OUTPUT, TG_ONNX_OUTPUT, tg_node_shape(m->ea));
        char doc[512];
        snprintf(doc, sizeof doc, "embedding tower of %s (eval mode), exported by twingrad",
                 d->source);
        tg_pb_int(&model, MODEL_IR_VERSION, TG_ONNX_IR_VERSION);
        tg_pb_str(&model, MODEL_PRODUCER, "twingrad");
        tg_pb_str(&model, MODEL_PRODUCER_VERSION, PACKAGE_VERSION);
        tg_pb_str(&model, MODEL_DOC, doc);
        tg_pb_msg(&model, MODEL_GRAPH, &c.graph);
        tg_pb_int(&opset, OPSET_VERSION, TG_ONNX_OPSET); /* domain "" (the default) is left out */
        tg_pb_msg(&model, MODEL_OPSET, &opset);
        if (model.failed)
            st = tg_error(TG_ERR_NOMEM, "tg_onnx_encode: out of memory encoding the model");
    }
    tg_pb_free(&c.graph);
    tg_pb_free(&opset);
    free(c.tensor);
    if (st) {
        tg_pb_free(&model);
        return st;
    }
    *data = model.data;
    *size = model.len;
    return TG_OK;
}

tg_status tg_onnx_export(tg_model *m, const char *path) {
    if (!path) return tg_error(TG_ERR_INVALID, "tg_onnx_export: path is NULL");
    uint8_t *data;
    size_t size;
    tg_status st = tg_fs_check_replaceable(path, "tg_onnx_export");
    if (st || (st = tg_onnx_encode(m, &data, &size))) return st;
    size_t n = strlen(path) + 16;
    char *tmp = malloc(n);
    if (!tmp) {
        free(data);
        return tg_error(TG_ERR_NOMEM, "tg_onnx_export: out of memory");
    }
    snprintf(tmp, n, "%s.tmp", path);
    FILE *f = fopen(tmp, "wb");
    int err = f ? 0 : errno;
    if (f) {
        if (fwrite(data, 1, size, f) != size) err = errno ? errno : EIO;
        if (fclose(f) != 0 && !err) err = errno;
        if (!err && rename(tmp, path) != 0) err = errno;
        if (err) remove(tmp);
    }
    if (err) st = tg_error(TG_ERR_IO, "%s: cannot write the ONNX file: %s", path, strerror(err));
    free(tmp);
    free(data);
    return st;
}
