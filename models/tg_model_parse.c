/* The model-file parser: lines into a tg_model_def. Ops and their attributes are
 * looked up in the registry and checked through each op's schema, one key at a
 * time, so every error points at the file, line and column of the culprit. The
 * siamese and train lines are read by tg_model_head.c. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/tg_model_parse.h"

#define MAX_TOKENS (TG_MODEL_MAX_LINE / 2 + 1)

static const char *const keywords[] = {"plugin", "input", "siamese", "triplet", "train"};
static const char *const reserved[] = {"input", "a", "b", "y", "distance", "loss", "normalize"};

/* ---- tokens and names ---- */

static int tok_is(const tg_mp_token *t, const char *word) {
    return (size_t)t->len == strlen(word) && strncmp(t->s, word, (size_t)t->len) == 0;
}

static int valid_name(const char *s) {
    if (!(isalpha((unsigned char)s[0]) || s[0] == '_')) return 0;
    for (const char *c = s; *c; c++)
        if (!(isalnum((unsigned char)*c) || *c == '_')) return 0;
    return 1;
}

/* ---- the input line: input H W C ---- */

static tg_status parse_input(tg_mp_parser *p, const tg_mp_token *toks, int n) {
    tg_model_def *d = p->def;
    if (d->input_line)
        return tg_mp_error(p, p->line, toks[0].col, TG_ERR_FORMAT,
                           "a second 'input' line (the first is at line %d)", d->input_line);
    const char *what[3] = {"height", "width", "channels"};
    long long hi[3] = {TG_MODEL_MAX_DIM, TG_MODEL_MAX_DIM, TG_MODEL_MAX_CHANNELS};
    long long v[3];
    for (int i = 0; i < 3; i++) {
        if (i + 1 >= n) {
            const tg_mp_token *last = &toks[n - 1];
            return tg_mp_error(
                p, p->line, last->col + last->len, TG_ERR_FORMAT,
                "expected the input %s after '%.*s' (input HEIGHT WIDTH CHANNELS, e.g. "
                "input 150 150 1)",
                what[i], last->len, last->s);
        }
        char buf[32];
        const tg_mp_token *t = &toks[i + 1];
        if (!tg_mp_copy(buf, sizeof buf, t->s, t->len) || !tg_mp_parse_int(buf, 1, hi[i], &v[i]))
            return tg_mp_error(p, p->line, t->col, TG_ERR_ATTR,
                               "input %s must be a whole number in [1, %lld], got '%.*s'", what[i],
                               hi[i], t->len, t->s);
    }
    if (n > 4)
        return tg_mp_error(p, p->line, toks[4].col, TG_ERR_FORMAT,
                           "unexpected '%.*s': the input line is input HEIGHT WIDTH CHANNELS",
                           toks[4].len, toks[4].s);
    d->height = (int)v[0];
    d->width = (int)v[1];
    d->channels = (int)v[2];
    d->input_line = p->line;
    p->input_col = toks[0].col;
    return TG_OK;
}

/* ---- layer lines: [name:] op key=value ... [in=x[,y]] ---- */

static int is_reserved(const char *name) {
    for (int i = 0; i < TG_MP_COUNT(reserved); i++)
        if (strcmp(name, reserved[i]) == 0) return 1;
    return 0;
}

static int find_layer(const tg_model_def *d, const char *name) {
    for (int i = 0; i < d->n_layers; i++)
        if (strcmp(d->layers[i].name, name) == 0) return i;
    return -1;
}

int tg_model_def_find(const tg_model_def *def, const char *name) {
    return def && name ? find_layer(def, name) : -1;
}

static tg_status parse_in(tg_mp_parser *p, tg_mp_pending *pe, const tg_mp_token *t, int vcol,
                          const char *value, const tg_op *op) {
    const char *s = value;
    pe->n_in_names = 0;
    for (;;) {
        const char *comma = strchr(s, ',');
        int len = comma ? (int)(comma - s) : (int)strlen(s);
        int col = vcol + (int)(s - value);
        if (len == 0)
            return tg_mp_error(p, p->line, col, TG_ERR_FORMAT, "expected a layer name in in=");
        if (pe->n_in_names == TG_MAX_INPUTS)
            return tg_mp_error(p, p->line, col, TG_ERR_ATTR, "in= names more than %d layers",
                               TG_MAX_INPUTS);
        char *dst = pe->in_names[pe->n_in_names];
        if (!tg_mp_copy(dst, TG_MODEL_MAX_NAME, s, len))
            return tg_mp_error(p, p->line, col, TG_ERR_LIMIT, "layer name longer than %d bytes",
                               TG_MODEL_MAX_NAME - 1);
        pe->in_cols[pe->n_in_names++] = col;
        if (!comma) break;
        s = comma + 1;
    }
    if (pe->n_in_names != op->n_inputs)
        return tg_mp_error(p, p->line, t->col, TG_ERR_ATTR,
                           "op '%s' takes %d input%s, in= names %d", op->name, op->n_inputs,
                           op->n_inputs == 1 ? "" : "s", pe->n_in_names);
    return TG_OK;
}

static tg_status parse_layer(tg_mp_parser *p, const tg_mp_token *toks, int n) {
    tg_model_def *d = p->def;
    if (d->n_layers == TG_MODEL_MAX_LAYERS)
        return tg_mp_error(p, p->line, toks[0].col, TG_ERR_LIMIT, "more than %d layers",
                           TG_MODEL_MAX_LAYERS);
    if (d->n_layers == p->cap_layers) {
        int ncap = p->cap_layers ? p->cap_layers * 2 : 16;
        tg_model_layer *l = realloc(d->layers, (size_t)ncap * sizeof *l);
        if (!l) return tg_error(TG_ERR_NOMEM, "out of memory parsing %s", p->src);
        d->layers = l;
        tg_mp_pending *pe = realloc(p->pend, (size_t)ncap * sizeof *pe);
        if (!pe) return tg_error(TG_ERR_NOMEM, "out of memory parsing %s", p->src);
        p->pend = pe;
        p->cap_layers = ncap;
    }
    tg_model_layer *l = &d->layers[d->n_layers];
    tg_mp_pending *pe = &p->pend[d->n_layers];
    memset(l, 0, sizeof *l);
    memset(pe, 0, sizeof *pe);
    l->line = p->line;
    /* The optional "name:" prefix, written "name: op" or "name:op". */
    tg_mp_token op_tok = toks[0];
    int next = 1;
    const char *colon = memchr(toks[0].s, ':', (size_t)toks[0].len);
    if (colon) {
        int nlen = (int)(colon - toks[0].s);
        if (nlen == 0)
            return tg_mp_error(p, p->line, toks[0].col, TG_ERR_FORMAT,
                               "expected a layer name before ':'");
        if (!tg_mp_copy(l->name, sizeof l->name, toks[0].s, nlen))
            return tg_mp_error(p, p->line, toks[0].col, TG_ERR_LIMIT,
                               "layer name longer than %d bytes", TG_MODEL_MAX_NAME - 1);
        if (!valid_name(l->name))
            return tg_mp_error(
                p, p->line, toks[0].col, TG_ERR_FORMAT,
                "bad layer name '%s': use letters, digits and '_', not starting with a "
                "digit",
                l->name);
        if (is_reserved(l->name))
            return tg_mp_error(
                p, p->line, toks[0].col, TG_ERR_FORMAT,
                "layer name '%s' is reserved (input, a, b, y, distance, loss, normalize)", l->name);
        int dup = find_layer(d, l->name);
        if (dup >= 0)
            return tg_mp_error(p, p->line, toks[0].col, TG_ERR_FORMAT,
                               "duplicate layer name '%s' (first defined at line %d)", l->name,
                               d->layers[dup].line);
        pe->named = 1;
        pe->name_col = toks[0].col;
        int rest = toks[0].len - nlen - 1;
        if (rest > 0) {
            op_tok = (tg_mp_token){colon + 1, rest, toks[0].col + nlen + 1};
        } else if (n > 1) {
            op_tok = toks[1];
            next = 2;
        } else {
            return tg_mp_error(p, p->line, toks[0].col + toks[0].len, TG_ERR_FORMAT,
                               "expected an op name after '%s:'", l->name);
        }
    }
    l->col = op_tok.col;
    char opname[TG_MP_MAX_KEY];
    const tg_op *op = NULL;
    if (tg_mp_copy(opname, sizeof opname, op_tok.s, op_tok.len)) op = tg_op_find(opname);
    if (!op) {
        if (!tg_mp_copy(opname, sizeof opname, op_tok.s, op_tok.len)) opname[0] = '\0';
        const char *near = opname[0] ? tg_op_nearest(opname) : NULL;
        if (!near && !colon && opname[0])
            near = tg_nearest_name(opname, keywords, TG_MP_COUNT(keywords));
        return tg_mp_error(p, p->line, op_tok.col, TG_ERR_UNKNOWN, "unknown %s '%.*s'%s%s%s",
                           colon ? "op" : "op or keyword", op_tok.len, op_tok.s,
                           near ? " (did you mean '" : "", near ? near : "", near ? "'?)" : "");
    }
    if (tg_op_attr_index(op, "in") >= 0)
        return tg_mp_error(
            p, p->line, op_tok.col, TG_ERR_ATTR,
            "op '%s' has an attribute named 'in', which model files reserve for inputs", op->name);
    l->op = op;
    l->n_inputs = op->n_inputs;
    char label[TG_MODEL_MAX_NAME + 80];
    if (pe->named)
        snprintf(label, sizeof label, "layer '%s' (%s): ", l->name, op->name);
    else
        snprintf(label, sizeof label, "%s: ", op->name);
    /* Attributes, checked one key at a time on a scratch set. */
    tg_attrs scratch;
    tg_attrs_init(op, &scratch);
    char key[TG_MP_MAX_KEY], value[TG_MP_MAX_VALUE];
    char attrs[TG_MODEL_MAX_LINE + 1] = "";
    int vcol;
    tg_status st;
    for (int i = next; i < n; i++) {
        if ((st = tg_mp_split_kv(p, &toks[i], key, value, &vcol))) return st;
        if ((st = tg_mp_check_duplicate(p, toks, next, i, key))) return st;
        if (strcmp(key, "in") == 0) {
            l->in_col = toks[i].col;
            if ((st = parse_in(p, pe, &toks[i], vcol, value, op))) return st;
            continue;
        }
        if (tg_attrs_set(op, &scratch, key, value)) {
            int col = tg_op_attr_index(op, key) < 0 ? toks[i].col : vcol;
            return tg_mp_error_ctx(p, p->line, col, TG_ERR_ATTR, label);
        }
        size_t used = strlen(attrs);
        snprintf(attrs + used, sizeof attrs - used, "%s%.*s", used ? " " : "", toks[i].len,
                 toks[i].s);
    }
    if (tg_attrs_check(op, &scratch))
        return tg_mp_error_ctx(p, p->line, op_tok.col, TG_ERR_ATTR, label);
    if (pe->n_in_names == 0 && op->n_inputs != 1)
        return tg_mp_error(p, p->line, op_tok.col, TG_ERR_ATTR,
                           "op '%s' takes %d inputs: name them with in=x,y", op->name,
                           op->n_inputs);
    l->attrs = tg_mp_dup(attrs, strlen(attrs));
    if (!l->attrs) return tg_error(TG_ERR_NOMEM, "out of memory parsing %s", p->src);
    l->parsed = scratch;
    d->n_layers++;
    return TG_OK;
}

/* ---- one line ---- */

static tg_status parse_line(tg_mp_parser *p, const char *s, int len) {
    tg_mp_token toks[MAX_TOKENS];
    int n;
    tg_status st = tg_mp_tokenize(p, s, len, 1, toks, MAX_TOKENS, &n);
    if (st) return st;
    if (n == 0) return TG_OK;
    if (tok_is(&toks[0], "plugin")) return tg_mp_parse_plugin(p, toks, n);
    if (tok_is(&toks[0], "input")) return parse_input(p, toks, n);
    if (tok_is(&toks[0], "siamese")) return tg_mp_parse_siamese(p, toks, n);
    if (tok_is(&toks[0], "triplet")) return tg_mp_parse_triplet(p, toks, n);
    if (tok_is(&toks[0], "train")) return tg_mp_parse_train(p, toks, n);
    return parse_layer(p, toks, n);
}

/* ---- after the last line: names, references, order ---- */

static tg_status name_layers(tg_mp_parser *p) {
    tg_model_def *d = p->def;
    for (int i = 0; i < d->n_layers; i++) {
        if (p->pend[i].named) continue;
        const char *op = d->layers[i].op->name;
        const char *stem = strlen(op) <= 48 ? op : "layer";
        /* The k-th unnamed use of an op is op_k, skipping names written in the file. */
        int k = 1;
        for (int j = 0; j < i; j++)
            if (!p->pend[j].named && d->layers[j].op == d->layers[i].op) k++;
        for (;; k++) {
            snprintf(d->layers[i].name, TG_MODEL_MAX_NAME, "%s_%d", stem, k);
            int taken = 0;
            for (int j = 0; j < d->n_layers && !taken; j++)
                if (j != i && (p->pend[j].named || j < i) &&
                    strcmp(d->layers[j].name, d->layers[i].name) == 0)
                    taken = 1;
            if (!taken) break;
        }
    }
    return TG_OK;
}

static tg_status resolve_inputs(tg_mp_parser *p) {
    tg_model_def *d = p->def;
    const char **names = malloc((size_t)(d->n_layers + 1) * sizeof *names);
    if (!names) return tg_error(TG_ERR_NOMEM, "out of memory parsing %s", p->src);
    for (int i = 0; i < d->n_layers; i++) names[i] = d->layers[i].name;
    names[d->n_layers] = "input";
    tg_status st = TG_OK;
    for (int i = 0; i < d->n_layers && !st; i++) {
        tg_model_layer *l = &d->layers[i];
        tg_mp_pending *pe = &p->pend[i];
        if (pe->n_in_names == 0) {
            l->inputs[0] = i == 0 ? TG_MODEL_INPUT : i - 1;
            continue;
        }
        for (int k = 0; k < pe->n_in_names; k++) {
            const char *nm = pe->in_names[k];
            int j = strcmp(nm, "input") == 0 ? TG_MODEL_INPUT : find_layer(d, nm);
            if (j == i) {
                st = tg_mp_error(p, l->line, pe->in_cols[k], TG_ERR_FORMAT,
                                 "cyclic in=: layer '%s' takes its own output", l->name);
                break;
            }
            if (j == -1 && strcmp(nm, "input") != 0) {
                const char *near = tg_nearest_name(nm, names, d->n_layers + 1);
                st = tg_mp_error(p, l->line, pe->in_cols[k], TG_ERR_UNKNOWN,
                                 "in= names an unknown layer '%s'%s%s%s", nm,
                                 near ? " (did you mean '" : "", near ? near : "",
                                 near ? "'?)" : "");
                break;
            }
            l->inputs[k] = j;
        }
    }
    free(names);
    return st;
}

/* Kahn's algorithm over the layers, lowest file position first; a leftover is a cycle. */
static tg_status order_layers(tg_mp_parser *p) {
    tg_model_def *d = p->def;
    int n = d->n_layers;
    int *indeg = calloc((size_t)n, sizeof *indeg);
    int *done = calloc((size_t)n, sizeof *done);
    d->order = malloc((size_t)n * sizeof *d->order);
    tg_status st = TG_OK;
    if (!indeg || !done || !d->order) {
        st = tg_error(TG_ERR_NOMEM, "out of memory parsing %s", p->src);
        goto out;
    }
    for (int i = 0; i < n; i++)
        for (int k = 0; k < d->layers[i].n_inputs; k++)
            if (d->layers[i].inputs[k] >= 0) indeg[i]++;
    int count = 0;
    for (;;) {
        int pick = -1;
        for (int i = 0; i < n && pick < 0; i++)
            if (!done[i] && indeg[i] == 0) pick = i;
        if (pick < 0) break;
        done[pick] = 1;
        d->order[count++] = pick;
        for (int i = 0; i < n; i++)
            for (int k = 0; k < d->layers[i].n_inputs; k++)
                if (d->layers[i].inputs[k] == pick) indeg[i]--;
    }
    if (count < n) {
        /* Walk back from a leftover layer through leftover inputs until a layer repeats. */
        int *seen = calloc((size_t)n, sizeof *seen);
        if (!seen) {
            st = tg_error(TG_ERR_NOMEM, "out of memory parsing %s", p->src);
            goto out;
        }
        int v = 0;
        while (done[v]) v++;
        int step = 1;
        while (!seen[v]) {
            seen[v] = step++;
            const tg_model_layer *l = &d->layers[v];
            for (int k = 0; k < l->n_inputs; k++)
                if (l->inputs[k] >= 0 && !done[l->inputs[k]]) {
                    v = l->inputs[k];
                    break;
                }
        }
        /* v starts the cycle: report at the first layer of it (in the file) with an in=. */
        char path[600] = "";
        int start = v, at = -1;
        do {
            size_t used = strlen(path);
            snprintf(path + used, sizeof path - used, "%s <- ", d->layers[v].name);
            if (d->layers[v].in_col && (at < 0 || v < at)) at = v;
            const tg_model_layer *l = &d->layers[v];
            for (int k = 0; k < l->n_inputs; k++)
                if (l->inputs[k] >= 0 && !done[l->inputs[k]] && seen[l->inputs[k]]) {
                    v = l->inputs[k];
                    break;
                }
        } while (v != start);
        size_t used = strlen(path);
        snprintf(path + used, sizeof path - used, "%s", d->layers[start].name);
        if (at < 0) at = start;
        free(seen);
        st = tg_mp_error(
            p, d->layers[at].line, d->layers[at].in_col ? d->layers[at].in_col : d->layers[at].col,
            TG_ERR_FORMAT, "cyclic in=: %s (each layer takes the next one's output)", path);
    }
out:
    free(indeg);
    free(done);
    return st;
}

/* Every layer must feed the embedding; a stray one is almost always a wiring mistake. */
static tg_status check_reachable(tg_mp_parser *p) {
    tg_model_def *d = p->def;
    int n = d->n_layers;
    char *used = calloc((size_t)n, 1);
    if (!used) return tg_error(TG_ERR_NOMEM, "out of memory parsing %s", p->src);
    used[d->output] = 1;
    for (int i = n - 1; i >= 0; i--) { /* reverse build order: consumers before producers */
        int v = d->order[i];
        if (!used[v]) continue;
        for (int k = 0; k < d->layers[v].n_inputs; k++)
            if (d->layers[v].inputs[k] >= 0) used[d->layers[v].inputs[k]] = 1;
    }
    tg_status st = TG_OK;
    for (int i = 0; i < n && !st; i++)
        if (!used[i])
            st = tg_mp_error(p, d->layers[i].line, d->layers[i].col, TG_ERR_FORMAT,
                             "layer '%s' does not lead to the embedding '%s': name it in a later "
                             "layer's in=, or remove it",
                             d->layers[i].name, d->layers[d->output].name);
    free(used);
    return st;
}

static tg_status finish(tg_mp_parser *p) {
    tg_model_def *d = p->def;
    tg_status st;
    if (!d->input_line)
        return tg_mp_error(
            p, 1, 1, TG_ERR_FORMAT,
            "missing the input line (input HEIGHT WIDTH CHANNELS, e.g. input 150 150 1)");
    if (!p->has_siamese)
        return tg_mp_error(p, 1, 1, TG_ERR_FORMAT,
                           "missing the siamese line (e.g. siamese distance=l2 loss=contrastive "
                           "margin=1 normalize=true)");
    if (d->n_layers == 0)
        return tg_mp_error(
            p, d->siamese_line, d->siamese_col, TG_ERR_FORMAT,
            "the tower has no layers: write one op per line before the siamese line");
    if ((st = name_layers(p)) || (st = resolve_inputs(p)) || (st = order_layers(p))) return st;
    d->output = d->n_layers - 1;
    if (p->output_name[0]) {
        d->output = find_layer(d, p->output_name);
        if (d->output < 0) {
            const char **names = malloc((size_t)d->n_layers * sizeof *names);
            if (!names) return tg_error(TG_ERR_NOMEM, "out of memory parsing %s", p->src);
            for (int i = 0; i < d->n_layers; i++) names[i] = d->layers[i].name;
            const char *near = tg_nearest_name(p->output_name, names, d->n_layers);
            st = tg_mp_error(p, p->output_line, p->output_col, TG_ERR_UNKNOWN,
                             "siamese output= names an unknown layer '%s'%s%s%s", p->output_name,
                             near ? " (did you mean '" : "", near ? near : "", near ? "'?)" : "");
            free(names);
            return st;
        }
    }
    return check_reachable(p);
}

/* ---- entry points ---- */

static char *dup_or_null(const char *s, int *oom) {
    if (!s) return NULL;
    char *d = tg_mp_dup(s, strlen(s));
    if (!d) *oom = 1;
    return d;
}

tg_model_def *tg_model_def_copy(const tg_model_def *def) {
    if (!def) return NULL;
    tg_model_def *c = malloc(sizeof *c);
    if (!c) goto oom;
    *c = *def;
    int oom = 0, n = def->n_layers;
    c->source = dup_or_null(def->source, &oom);
    c->text = dup_or_null(def->text, &oom);
    c->loss_attrs = dup_or_null(def->loss_attrs, &oom);
    c->triplet_mine_attrs = dup_or_null(def->triplet_mine_attrs, &oom);
    c->triplet_loss_attrs = dup_or_null(def->triplet_loss_attrs, &oom);
    c->layers = calloc((size_t)(n ? n : 1), sizeof *c->layers);
    c->order = calloc((size_t)(n ? n : 1), sizeof *c->order);
    if (!c->layers || !c->order) oom = 1;
    for (int i = 0; !oom && i < n; i++) {
        c->layers[i] = def->layers[i];
        c->layers[i].attrs = dup_or_null(def->layers[i].attrs, &oom);
        c->order[i] = def->order[i];
    }
    if (!oom) return c;
    c->n_layers = c->layers ? n : 0;
    tg_model_def_free(c);
oom:
    tg_error(TG_ERR_NOMEM, "out of memory copying the model definition");
    return NULL;
}

void tg_model_def_free(tg_model_def *def) {
    if (!def) return;
    for (int i = 0; i < def->n_layers; i++) free(def->layers[i].attrs);
    free(def->layers);
    free(def->order);
    free(def->loss_attrs);
    free(def->triplet_mine_attrs);
    free(def->triplet_loss_attrs);
    free(def->source);
    free(def->text);
    free(def);
}

tg_status tg_model_def_parse_text(const char *name, const char *text, tg_model_def **out) {
    if (!out) return tg_error(TG_ERR_INVALID, "tg_model_def_parse_text: out is NULL");
    *out = NULL;
    if (!text) return tg_error(TG_ERR_INVALID, "tg_model_def_parse_text: text is NULL");
    if (!name) name = "<model>";
    size_t size = strnlen(text, (size_t)TG_MODEL_MAX_FILE + 1);
    if (size > (size_t)TG_MODEL_MAX_FILE)
        return tg_error(TG_ERR_LIMIT, "%s: a model file may hold at most %d bytes", name,
                        TG_MODEL_MAX_FILE);
    tg_model_def *d = calloc(1, sizeof *d);
    if (!d) return tg_error(TG_ERR_NOMEM, "out of memory parsing %s", name);
    d->source = tg_mp_dup(name, strlen(name));
    d->text = tg_mp_dup(text, size);
    d->train.lr = 1e-3;
    d->train.batch = 32;
    d->train.epochs = 10;
    d->train.seed = 1;
    d->train.optim = tg_optimizer_defaults(TG_OPTIM_ADAM);
    d->train.schedule = tg_schedule_defaults(TG_SCHEDULE_CONSTANT, d->train.lr);
    tg_mp_parser p = {.src = name, .def = d};
    tg_status st = TG_OK;
    if (!d->source || !d->text) st = tg_error(TG_ERR_NOMEM, "out of memory parsing %s", name);
    const char *s = text, *end = text + size;
    while (!st && s < end) {
        p.line++;
        const char *nl = memchr(s, '\n', (size_t)(end - s));
        size_t len = nl ? (size_t)(nl - s) : (size_t)(end - s);
        /* a CRLF line's \r is its ending (the lexer skips it), not one of its bytes */
        if (len > TG_MODEL_MAX_LINE + (size_t)(len > 0 && s[len - 1] == '\r')) {
            st = tg_mp_error(&p, p.line, TG_MODEL_MAX_LINE + 1, TG_ERR_LIMIT,
                             "line longer than %d bytes", TG_MODEL_MAX_LINE);
            break;
        }
        st = parse_line(&p, s, (int)len);
        s += len + (nl ? 1 : 0);
    }
    if (!st) st = finish(&p);
    free(p.pend);
    if (st) {
        tg_model_def_free(d);
        return st;
    }
    *out = d;
    return TG_OK;
}

tg_status tg_model_def_parse_file(const char *path, tg_model_def **out) {
    if (!out) return tg_error(TG_ERR_INVALID, "tg_model_def_parse_file: out is NULL");
    *out = NULL;
    if (!path) return tg_error(TG_ERR_INVALID, "tg_model_def_parse_file: path is NULL");
    FILE *f = fopen(path, "rb");
    if (!f) return tg_error(TG_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    char *buf = malloc((size_t)TG_MODEL_MAX_FILE + 2);
    if (!buf) {
        fclose(f);
        return tg_error(TG_ERR_NOMEM, "%s: out of memory", path);
    }
    errno = 0;
    size_t n = fread(buf, 1, (size_t)TG_MODEL_MAX_FILE + 1, f);
    int failed = ferror(f), err = errno; /* before fclose can change errno */
    fclose(f);
    tg_status st;
    if (failed) {
        st = tg_error(TG_ERR_IO, "%s: read error: %s", path, err ? strerror(err) : "unknown error");
    } else if (n > (size_t)TG_MODEL_MAX_FILE) {
        st = tg_error(TG_ERR_LIMIT, "%s: a model file may hold at most %d bytes", path,
                      TG_MODEL_MAX_FILE);
    } else {
        buf[n] = '\0';
        const char *nul = memchr(buf, '\0', n);
        if (nul) {
            int line = 1, col = 1;
            for (const char *c = buf; c < nul; c++) {
                if (*c == '\n') {
                    line++;
                    col = 1;
                } else {
                    col++;
                }
            }
            st = tg_error(TG_ERR_FORMAT, "%s:%d:%d: a NUL byte: this is not a text model file",
                          path, line, col);
        } else {
            st = tg_model_def_parse_text(path, buf, out);
        }
    }
    free(buf);
    return st;
}
