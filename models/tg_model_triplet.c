/* The triplet line of a model file, and the triplet head the builder adds for it:
 *   triplet mining=batch_hard margin=0.2 average=valid classes=8 per_class=4
 * Training then steps on a triplet loss over triplets mined in batches of P classes
 * x K images (embeddings computed once per image); the siamese line still defines
 * the pair distance that validation, evaluation and k-NN use. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/tg_node_impl.h"
#include "models/tg_model_parse.h"

tg_status tg_mp_parse_triplet(tg_mp_parser *p, const tg_mp_token *toks, int n) {
    tg_model_def *d = p->def;
    if (d->triplet_line)
        return tg_mp_error(p, p->line, toks[0].col, TG_ERR_FORMAT,
                           "a second 'triplet' line (the first is at line %d)", d->triplet_line);
    const tg_op *mine = tg_op_find("triplet_mine"), *loss = tg_op_find("triplet_loss");
    if (!mine || !loss)
        return tg_mp_error(p, p->line, toks[0].col, TG_ERR_UNKNOWN,
                           "the registry lacks the ops triplet_mine and triplet_loss");
    d->triplet_line = p->line;
    d->triplet_classes = 8;
    d->triplet_per_class = 4;
    tg_attrs ma, la;
    tg_attrs_init(mine, &ma);
    tg_attrs_init(loss, &la);
    char key[TG_MP_MAX_KEY], value[TG_MP_MAX_VALUE];
    char mattrs[TG_MODEL_MAX_LINE + 1] = "", lattrs[TG_MODEL_MAX_LINE + 1] = "";
    int vcol;
    tg_status st;
    for (int i = 1; i < n; i++) {
        if ((st = tg_mp_split_kv(p, &toks[i], key, value, &vcol))) return st;
        if ((st = tg_mp_check_duplicate(p, toks, 1, i, key))) return st;
        long long v;
        if (strcmp(key, "classes") == 0 || strcmp(key, "per_class") == 0) {
            /* two or more: a triplet needs a second image of its class and another class */
            if (!tg_mp_parse_int(value, 2, 1024, &v))
                return tg_mp_error(p, p->line, vcol, TG_ERR_ATTR,
                                   "triplet %s: expected a whole number in [2, 1024], got '%s'",
                                   key, value);
            *(strcmp(key, "classes") == 0 ? &d->triplet_classes : &d->triplet_per_class) = (int)v;
            continue;
        }
        const tg_op *op = tg_op_attr_index(mine, key) >= 0   ? mine
                          : tg_op_attr_index(loss, key) >= 0 ? loss
                                                             : NULL;
        if (!op)
            return tg_mp_error(p, p->line, toks[i].col, TG_ERR_ATTR,
                               "unknown triplet setting '%s' (expected mining, margin, average, "
                               "classes, per_class)",
                               key);
        if (tg_attrs_set(op, op == mine ? &ma : &la, key, value))
            return tg_mp_error_ctx(p, p->line, vcol, TG_ERR_ATTR, "triplet: ");
        char *dst = op == mine ? mattrs : lattrs;
        size_t used = strlen(dst);
        snprintf(dst + used, sizeof mattrs - used, "%s%.*s", used ? " " : "", toks[i].len,
                 toks[i].s);
    }
    d->triplet_mine_attrs = tg_mp_dup(mattrs, strlen(mattrs));
    d->triplet_loss_attrs = tg_mp_dup(lattrs, strlen(lattrs));
    if (!d->triplet_mine_attrs || !d->triplet_loss_attrs)
        return tg_error(TG_ERR_NOMEM, "out of memory parsing %s", p->src);
    return TG_OK;
}

/* labels (N) -> with the embeddings ea (N, D): pairwise_l2 -> triplet_mine -> triplet_loss. */
tg_status tg_model_build_triplet(tg_model *m, int batch) {
    const tg_model_def *d = m->def;
    tg_graph *g = m->graph;
    tg_error_clear();
    m->labels = tg_graph_input(g, "triplet.labels", tg_shape1(batch));
    m->pairwise =
        m->labels ? tg_graph_op(g, "pairwise_l2", "triplet.pairwise", NULL, &m->ea, 1) : NULL;
    m->mined = m->pairwise ? tg_graph_op(g, "triplet_mine", "triplet.mined", d->triplet_mine_attrs,
                                         (tg_node *[]){m->pairwise, m->labels}, 2)
                           : NULL;
    m->triplet_loss = m->mined ? tg_graph_op(g, "triplet_loss", "triplet.loss",
                                             d->triplet_loss_attrs, &m->mined, 1)
                               : NULL;
    /* Say which batch the head was built for: training's is classes x per_class. */
    int pk = d->triplet_classes * d->triplet_per_class;
    if (!m->triplet_loss && batch == pk)
        return tg_error_context(TG_ERR_SHAPE,
                                "%s:%d:1: the triplet head (classes=%d x per_class=%d = %d images "
                                "per batch): ",
                                d->source, d->triplet_line, d->triplet_classes,
                                d->triplet_per_class, pk);
    if (!m->triplet_loss)
        return tg_error_context(TG_ERR_SHAPE, "%s:%d:1: the triplet head at batch %d: ", d->source,
                                d->triplet_line, batch);
    m->triplet_loss->flags |= TG_NODE_LOSS;
    tg_node_keep_value(m->mined, 1); /* the epoch's triplet statistics read it */
    tg_node_keep_value(m->triplet_loss, 1);
    return TG_OK;
}
