/* The Siamese builder: a parsed definition into one graph. Each tower layer is a
 * tg_layer created once and applied to both inputs, so the towers share one set
 * of parameters; then the optional normalisation, the distance and the loss. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/tg_budget.h"
#include "models/tg_model_parse.h"
#include "autograd/tg_node_impl.h"

void tg_model_free(tg_model *m) {
    if (!m) return;
    tg_graph_free(m->graph);
    tg_model_def_free(m->def);
    free(m->layers);
    free(m->tower_a);
    free(m->tower_b);
    free(m);
}

/* A build error located at a line of the model file; the graph's message follows. */
static tg_status located(const tg_model_def *d, int line, int col, tg_status st) {
    return tg_error_context(st ? st : TG_ERR_INVALID, "%s:%d:%d: ", d->source, line, col);
}

/* Apply every tower layer, in build order, to image input x; nodes[i] gets layer i's node. */
static tg_status build_tower(tg_model *m, tg_node *x, tg_node **nodes) {
    const tg_model_def *d = m->def;
    for (int k = 0; k < d->n_layers; k++) {
        int i = d->order[k];
        const tg_model_layer *l = &d->layers[i];
        tg_node *in[TG_MAX_INPUTS];
        for (int j = 0; j < l->n_inputs; j++)
            in[j] = l->inputs[j] == TG_MODEL_INPUT ? x : nodes[l->inputs[j]];
        tg_error_clear();
        nodes[i] = tg_layer_apply(m->layers[i], in, l->n_inputs);
        if (!nodes[i]) return located(d, l->line, l->col, TG_ERR_SHAPE);
    }
    return TG_OK;
}

/* How a model is built: initialised (training), zero-filled for a restore, or shapes only. */
enum build_mode { BUILD_INIT, BUILD_FOR_RESTORE, BUILD_SHAPES };

static tg_status build(tg_model *m, int batch, enum build_mode mode) {
    tg_model_def *d = m->def;
    int n = d->n_layers;
    m->layers = calloc((size_t)n, sizeof *m->layers);
    m->tower_a = calloc((size_t)n, sizeof *m->tower_a);
    m->tower_b = calloc((size_t)n, sizeof *m->tower_b);
    m->graph = mode == BUILD_SHAPES ? tg_graph_new_shape_only() : tg_graph_new(d->train.seed);
    if (!m->layers || !m->tower_a || !m->tower_b || !m->graph)
        return tg_error(TG_ERR_NOMEM, "%s: out of memory building the model", d->source);
    tg_graph *g = m->graph;
    tg_graph_set_init(g, mode == BUILD_INIT);
    tg_graph_set_grad_reuse(g, 1); /* only parameter gradients are read after backward */
    tg_graph_set_value_plan(g, TG_VALUES_BACKWARD); /* only the values backward reads */
    /* Each dimension is within the input line's limits, yet a batch of images is one
     * tensor: say so in the model's terms rather than as an invalid input shape. */
    int64_t per_image = (int64_t)d->channels * d->height * d->width;
    if ((int64_t)batch > TG_MAX_NUMEL / per_image)
        return tg_error(TG_ERR_LIMIT,
                        "%s:%d:1: the input is too large: a batch of %d images of %dx%dx%d is "
                        "%lld elements, over the limit of 2^40 = %lld elements per tensor (at "
                        "most %lld images of this size per batch)",
                        d->source, d->input_line, batch, d->height, d->width, d->channels,
                        (long long)batch * per_image, (long long)TG_MAX_NUMEL,
                        (long long)(TG_MAX_NUMEL / per_image));
    tg_shape img = tg_shape4(batch, d->channels, d->height, d->width);
    m->a = tg_graph_input(g, "a", img);
    m->b = m->a ? tg_graph_input(g, "b", img) : NULL;
    m->y = m->b ? tg_graph_input(g, "y", tg_shape1(batch)) : NULL;
    if (!m->y) return located(d, d->input_line, 1, TG_ERR_SHAPE);
    for (int k = 0; k < n; k++) {
        int i = d->order[k];
        const tg_model_layer *l = &d->layers[i];
        m->layers[i] = tg_graph_layer_new(g, l->op, l->name, &l->parsed);
        if (!m->layers[i]) return located(d, l->line, l->col, TG_ERR_ATTR);
    }
    tg_status st;
    if ((st = build_tower(m, m->a, m->tower_a)) || (st = build_tower(m, m->b, m->tower_b)))
        return st;
    m->ea = m->tower_a[d->output];
    m->eb = m->tower_b[d->output];
    int sl = d->siamese_line, sc = d->siamese_col;
    if (d->normalize) {
        tg_layer *norm = tg_graph_layer(g, "l2normalize", "normalize", NULL);
        m->ea = tg_layer_apply1(norm, m->ea);
        m->eb = tg_layer_apply1(norm, m->eb);
        if (!m->eb) return located(d, sl, sc, TG_ERR_SHAPE);
    }
    char buf[64], buf2[64];
    m->distance =
        tg_graph_op(g, d->distance->name, "distance", NULL, (tg_node *[]){m->ea, m->eb}, 2);
    if (!m->distance) {
        /* say what the op was given: an op that fits no head slot fails on shapes */
        tg_error_context(TG_ERR_SHAPE,
                         "distance=%s, given the two embeddings %s: ", d->distance->name,
                         tg_shape_str(&m->ea->value.shape, buf, sizeof buf));
        return located(d, sl, sc, TG_ERR_SHAPE);
    }
    m->loss =
        tg_layer_apply2(tg_graph_layer_new(g, d->loss, "loss", &d->loss_parsed), m->distance, m->y);
    if (!m->loss) {
        tg_error_context(TG_ERR_SHAPE,
                         "loss=%s, given the pair distances %s and labels %s: ", d->loss->name,
                         tg_shape_str(&m->distance->value.shape, buf, sizeof buf),
                         tg_shape_str(&m->y->value.shape, buf2, sizeof buf2));
        return located(d, sl, sc, TG_ERR_SHAPE);
    }
    if (tg_shape_numel(&m->loss->value.shape) != 1)
        return tg_error(TG_ERR_SHAPE, "%s:%d:%d: loss op '%s' gives %s; the loss must be a scalar",
                        d->source, sl, sc, d->loss->name,
                        tg_shape_str(&m->loss->value.shape, buf, sizeof buf));
    m->loss->flags |= TG_NODE_LOSS;
    /* What training, evaluation and the diagnostics read after a forward. */
    tg_node *read[] = {m->loss, m->distance,           m->ea,
                       m->eb,   m->tower_a[d->output], m->tower_b[d->output]};
    for (size_t i = 0; i < sizeof read / sizeof *read; i++) tg_node_keep_value(read[i], 1);
    m->embed_dim = (int)tg_shape_item_numel(&m->ea->value.shape);
    return d->triplet_line ? tg_model_build_triplet(m, batch) : TG_OK;
}

static tg_status build_model(const tg_model_def *def, int batch, enum build_mode mode,
                             tg_model **out) {
    if (!out) return tg_error(TG_ERR_INVALID, "tg_model_build: out is NULL");
    *out = NULL;
    if (!def || !def->text) return tg_error(TG_ERR_INVALID, "tg_model_build: def is NULL");
    /* A triplet model trains on batches of classes x per_class images (the train line's
     * batch does not apply): the default is that batch, so a shape-only build (twingrad
     * summary) meets what training will build. */
    if (batch <= 0)
        batch =
            def->triplet_line ? def->triplet_classes * def->triplet_per_class : def->train.batch;
    if (batch < 1 || batch > (1 << 20))
        return tg_error(TG_ERR_INVALID, "tg_model_build: batch %d is not in [1, %d]", batch,
                        1 << 20);
    tg_model *m = calloc(1, sizeof *m);
    if (!m) return tg_error(TG_ERR_NOMEM, "tg_model_build: out of memory");
    /* The model's own copy of the definition, with the caller's settings. */
    tg_status st = (m->def = tg_model_def_copy(def)) ? TG_OK : TG_ERR_NOMEM;
    if (!st) {
        m->train = &m->def->train;
        m->batch = batch;
        st = build(m, batch, mode);
    }
    if (st) {
        tg_model_free(m);
        return st;
    }
    *out = m;
    return TG_OK;
}

tg_status tg_model_build_shapes(const tg_model_def *def, int batch, tg_model **out) {
    return build_model(def, batch, BUILD_SHAPES, out);
}

/* Build with values, after checking what they will cost against the memory budget. */
static tg_status build_within_budget(const tg_model_def *def, int batch, enum build_mode mode,
                                     tg_model **out) {
    tg_model *shapes;
    tg_status st = build_model(def, batch, BUILD_SHAPES, &shapes);
    if (st) {
        if (out) *out = NULL;
        return st;
    }
    /* Parameters: value, gradient, and a transient second copy while they are packed into
     * the flat buffers; state: value and that copy; activations of both towers; the ops'
     * own memory (what they keep for backward, their scratch: a Winograd conv's
     * transformed weights are four times its weights). */
    tg_model_stats s;
    tg_model_stats_get(shapes, batch, &s);
    uint64_t cost =
        tg_cost_add(tg_cost_mul(12, (uint64_t)s.params),
                    tg_cost_add(tg_cost_mul(8, (uint64_t)s.state), (uint64_t)s.total_bytes));
    cost = tg_cost_add(cost, tg_graph_op_bytes(shapes->graph));
    char what[300];
    snprintf(what, sizeof what, "%s: the model at batch %d", def->source, shapes->batch);
    tg_model_free(shapes);
    if ((st = tg_memory_check(cost, what))) {
        *out = NULL;
        return st;
    }
    return build_model(def, batch, mode, out);
}

tg_status tg_model_build(const tg_model_def *def, int batch, tg_model **out) {
    return build_within_budget(def, batch, BUILD_INIT, out);
}

tg_status tg_model_build_for_restore(const tg_model_def *def, int batch, tg_model **out) {
    return build_within_budget(def, batch, BUILD_FOR_RESTORE, out);
}

tg_status tg_model_embed(tg_model *m, const float *images, int64_t n, float *out) {
    if (!m || (n > 0 && (!images || !out)))
        return tg_error(TG_ERR_INVALID, "tg_model_embed: model, images and out are required");
    if (n < 0) return tg_error(TG_ERR_INVALID, "tg_model_embed: n = %lld", (long long)n);
    const tg_model_def *d = m->def;
    int64_t item = (int64_t)d->channels * d->height * d->width;
    int was_training = tg_graph_training(m->graph);
    tg_value_plan plan = tg_graph_value_plan(m->graph);
    tg_graph_set_training(m->graph, 0);
    tg_graph_set_value_plan(m->graph, TG_VALUES_TARGET); /* no backward follows */
    tg_status st = TG_OK;
    for (int64_t off = 0; off < n && !st; off += m->batch) {
        int64_t k = n - off < m->batch ? n - off : m->batch;
        st =
            tg_input_set(m->a, tg_shape4(k, d->channels, d->height, d->width), images + off * item);
        if (!st) st = tg_graph_forward(m->graph, m->ea);
        if (!st) {
            const tg_shape *s = &m->ea->value.shape;
            if (s->dim[0] != k || tg_shape_item_numel(s) != m->embed_dim)
                st = tg_error(TG_ERR_SHAPE, "tg_model_embed: the embedding changed shape");
            else
                memcpy(out + off * m->embed_dim, m->ea->value.data,
                       (size_t)(k * m->embed_dim) * sizeof(float));
        }
    }
    tg_graph_set_training(m->graph, was_training);
    tg_graph_set_value_plan(m->graph, plan);
    return st;
}
