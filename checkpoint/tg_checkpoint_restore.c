/* A loaded checkpoint: its accessors, and restoring it into a graph, optimizer and schedule.
 * Restore checks every name, kind and shape before it writes anything, so a mismatched model
 * leaves the caller's objects as they were. */
#include "checkpoint/tg_checkpoint_impl.h"
#include "autograd/tg_node_impl.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int find_index(const ck_index *idx, int n, const char *name) {
    int lo = 0, hi = n - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2, c = strcmp(name, idx[mid].name);
        if (c == 0) return idx[mid].i;
        if (c < 0)
            hi = mid - 1;
        else
            lo = mid + 1;
    }
    return -1;
}

static const char *kind_of(int state) {
    return state ? "state tensor" : "parameter";
}

/* Every model tensor must be in the checkpoint with the same kind and shape, and no more. */
static tg_status check_tensors(const tg_checkpoint *ck, const tg_graph *g, int64_t *n_train) {
    char a[64], b[64];
    int np = tg_graph_param_count(g);
    *n_train = 0;
    for (int i = 0; i < np; i++) {
        const tg_node *p = tg_graph_param_at(g, i);
        int state = (p->flags & TG_NODE_STATE) != 0;
        int j = tg_checkpoint_tensor_find(ck, p->name);
        if (j < 0)
            return tg_error(TG_ERR_MISMATCH,
                            "restoring checkpoint '%s': the model's %s '%s' %s is not in the "
                            "checkpoint; was it saved from a different model?",
                            ck->path, kind_of(state), p->name,
                            tg_shape_str(&p->value.shape, a, sizeof a));
        const ck_tensor *t = &ck->tensors[j];
        if (t->state != state)
            return tg_error(TG_ERR_MISMATCH,
                            "restoring checkpoint '%s': '%s' is a %s in the checkpoint but a %s in "
                            "the model",
                            ck->path, p->name, kind_of(t->state), kind_of(state));
        if (!tg_shape_equal(&t->shape, &p->value.shape))
            return tg_error(TG_ERR_MISMATCH,
                            "restoring checkpoint '%s': tensor '%s' has shape %s in the checkpoint "
                            "but %s in the model; was it saved from a different model?",
                            ck->path, p->name, tg_shape_str(&t->shape, a, sizeof a),
                            tg_shape_str(&p->value.shape, b, sizeof b));
        /* Training stops before it would save a non-finite value: one here is damage
         * that the CRCs did not see (or an edit), and would turn every output into NaN. */
        const int64_t n = tg_shape_numel(&t->shape);
        for (int64_t e = 0; e < n; e++)
            if (!isfinite(t->data[e]))
                return tg_error(TG_ERR_FORMAT,
                                "restoring checkpoint '%s': %s '%s' holds a non-finite value "
                                "(%g at element %lld)",
                                ck->path, kind_of(state), p->name, (double)t->data[e],
                                (long long)e);
        if (!state) *n_train += n;
    }
    if (ck->n_tensors == np) return TG_OK;
    /* Names are unique on both sides and every model tensor matched: some stored one is extra. */
    for (int j = 0; j < ck->n_tensors; j++) {
        const tg_node *n = tg_graph_find(g, ck->tensors[j].name);
        if (!n || !(n->flags & (TG_NODE_PARAM | TG_NODE_STATE)))
            return tg_error(TG_ERR_MISMATCH,
                            "restoring checkpoint '%s': its %s '%s' %s is not in the model; was it "
                            "saved from a different model?",
                            ck->path, kind_of(ck->tensors[j].state), ck->tensors[j].name,
                            tg_shape_str(&ck->tensors[j].shape, a, sizeof a));
    }
    return tg_error(TG_ERR_MISMATCH,
                    "restoring checkpoint '%s': %d tensors stored, %d in the model", ck->path,
                    ck->n_tensors, np);
}

static tg_status check_optimizer(const tg_checkpoint *ck, const tg_optimizer *opt,
                                 int64_t n_train) {
    if (!ck->has_opt)
        return tg_error(TG_ERR_MISMATCH,
                        "restoring checkpoint '%s': it holds no optimizer state, so training "
                        "cannot resume from it (its weights can be restored without an optimizer: "
                        "eval, embed, predict, export)",
                        ck->path);
    tg_optimizer_kind kind = tg_optimizer_config_of(opt)->kind;
    if (kind != ck->opt_cfg.kind)
        return tg_error(TG_ERR_MISMATCH,
                        "restoring checkpoint '%s': its optimizer is %s but the given one is %s",
                        ck->path, tg_optimizer_kind_name(ck->opt_cfg.kind),
                        tg_optimizer_kind_name(kind));
    int64_t size = tg_optimizer_size(opt);
    if (size != ck->opt_size || size != n_train)
        return tg_error(TG_ERR_MISMATCH,
                        "restoring checkpoint '%s': its optimizer state covers %lld values, the "
                        "given optimizer %lld and the model %lld",
                        ck->path, (long long)ck->opt_size, (long long)size, (long long)n_train);
    int n = tg_optimizer_state_count(opt);
    for (int i = 0; i < n; i++)
        if (tg_checkpoint_optimizer_state_index(ck, tg_optimizer_state_name(opt, i)) < 0)
            return tg_error(TG_ERR_MISMATCH,
                            "restoring checkpoint '%s': its optimizer has no state array '%s'",
                            ck->path, tg_optimizer_state_name(opt, i));
    if (n != ck->n_arrays)
        return tg_error(TG_ERR_MISMATCH,
                        "restoring checkpoint '%s': its optimizer has %d state arrays, the given "
                        "one %d (different settings, e.g. momentum or centering?)",
                        ck->path, ck->n_arrays, n);
    return TG_OK;
}

/* Check the schedule and build its restored state in *out. */
static tg_status check_schedule(const tg_checkpoint *ck, const tg_schedule *sched,
                                tg_schedule *out) {
    if (!ck->has_sched)
        return tg_error(TG_ERR_MISMATCH,
                        "restoring checkpoint '%s': it holds no schedule state; pass no schedule",
                        ck->path);
    if (sched->cfg.kind != ck->sched_cfg.kind)
        return tg_error(TG_ERR_MISMATCH,
                        "restoring checkpoint '%s': its schedule is %s but the given one is %s",
                        ck->path, tg_schedule_kind_name(ck->sched_cfg.kind),
                        tg_schedule_kind_name(sched->cfg.kind));
    *out = *sched;
    int n = tg_schedule_state_count(sched);
    if (n != ck->n_sched)
        return tg_error(TG_ERR_MISMATCH,
                        "restoring checkpoint '%s': its schedule has %d state values, the given "
                        "one %d",
                        ck->path, ck->n_sched, n);
    for (int i = 0; i < n; i++) {
        const char *name = tg_schedule_state_name(sched, i);
        int j = 0;
        while (j < ck->n_sched && strcmp(ck->sched_state[j].name, name) != 0) j++;
        if (j == ck->n_sched)
            return tg_error(TG_ERR_MISMATCH,
                            "restoring checkpoint '%s': its schedule has no state value '%s'",
                            ck->path, name);
        tg_status st = tg_schedule_state_set(out, i, ck->sched_state[j].v);
        if (st)
            return tg_error_context(TG_ERR_FORMAT,
                                    "restoring checkpoint '%s': stored state: ", ck->path);
    }
    return TG_OK;
}

tg_status tg_checkpoint_restore(const tg_checkpoint *ck, tg_graph *g, tg_optimizer *opt,
                                tg_schedule *sched) {
    if (!ck || !g) return tg_error(TG_ERR_INVALID, "tg_checkpoint_restore: no checkpoint or graph");
    int64_t n_train;
    tg_schedule new_sched;
    tg_status st = check_tensors(ck, g, &n_train);
    if (!st && opt) st = check_optimizer(ck, opt, n_train);
    if (!st && sched) st = check_schedule(ck, sched, &new_sched);
    if (st) return st;

    /* Everything fits: now write. */
    for (int i = 0; i < tg_graph_param_count(g); i++) {
        tg_node *p = tg_graph_param_at(g, i);
        const ck_tensor *t = &ck->tensors[tg_checkpoint_tensor_find(ck, p->name)];
        memcpy(p->value.data, t->data, (size_t)tg_shape_numel(&t->shape) * sizeof(float));
    }
    for (int i = 0; i < ck->n_rngs; i++) /* left as is when none was saved */
        if (strcmp(ck->rngs[i].name, "graph") == 0) *tg_graph_rng(g) = ck->rngs[i].rng;
    if (opt) {
        if ((st = tg_optimizer_set_steps(opt, ck->opt_steps))) return st; /* >= 0 when loaded */
        /* By parameter name: the model's flat order (its creation order) may differ from
         * the checkpoint's, so each parameter's slice is copied from where TENS put it. */
        for (int i = 0; i < tg_optimizer_state_count(opt); i++) {
            int j = tg_checkpoint_optimizer_state_index(ck, tg_optimizer_state_name(opt, i));
            float *dst = tg_optimizer_state_data(opt, i);
            int64_t off = 0;
            for (int k = 0; k < tg_graph_param_count(g); k++) {
                const tg_node *p = tg_graph_param_at(g, k);
                if (p->flags & TG_NODE_STATE) continue;
                const ck_tensor *t = &ck->tensors[tg_checkpoint_tensor_find(ck, p->name)];
                int64_t n = tg_shape_numel(&t->shape);
                memcpy(dst + off, ck->arrays[j].data + t->flat_offset, (size_t)n * sizeof(float));
                off += n;
            }
        }
    }
    if (sched) *sched = new_sched;
    return TG_OK;
}

/* ---- accessors ---- */

const char *tg_checkpoint_path(const tg_checkpoint *ck) {
    return ck->path;
}

void tg_checkpoint_version(const tg_checkpoint *ck, unsigned *major, unsigned *minor) {
    if (major) *major = ck->major;
    if (minor) *minor = ck->minor;
}

const char *tg_checkpoint_model_text(const tg_checkpoint *ck, size_t *len) {
    if (len) *len = ck->model_len;
    return ck->model;
}

int64_t tg_checkpoint_epoch(const tg_checkpoint *ck) {
    return ck->epoch;
}
int64_t tg_checkpoint_step(const tg_checkpoint *ck) {
    return ck->step;
}

int tg_checkpoint_best(const tg_checkpoint *ck, double *best) {
    if (ck->has_best && best) *best = ck->best;
    return ck->has_best;
}

int tg_checkpoint_tensor_count(const tg_checkpoint *ck) {
    return ck->n_tensors;
}

const char *tg_checkpoint_tensor_name(const tg_checkpoint *ck, int i) {
    return i >= 0 && i < ck->n_tensors ? ck->tensors[i].name : NULL;
}
const tg_shape *tg_checkpoint_tensor_shape(const tg_checkpoint *ck, int i) {
    return i >= 0 && i < ck->n_tensors ? &ck->tensors[i].shape : NULL;
}
int tg_checkpoint_tensor_is_state(const tg_checkpoint *ck, int i) {
    return i >= 0 && i < ck->n_tensors ? ck->tensors[i].state : 0;
}
const float *tg_checkpoint_tensor_data(const tg_checkpoint *ck, int i) {
    return i >= 0 && i < ck->n_tensors ? ck->tensors[i].data : NULL;
}
int tg_checkpoint_tensor_find(const tg_checkpoint *ck, const char *name) {
    return name ? find_index(ck->by_name, ck->n_tensors, name) : -1;
}

const tg_optimizer_config *tg_checkpoint_optimizer_config(const tg_checkpoint *ck) {
    return ck->has_opt ? &ck->opt_cfg : NULL;
}
int64_t tg_checkpoint_optimizer_steps(const tg_checkpoint *ck) {
    return ck->has_opt ? ck->opt_steps : 0;
}
int64_t tg_checkpoint_optimizer_size(const tg_checkpoint *ck) {
    return ck->has_opt ? ck->opt_size : 0;
}
int tg_checkpoint_optimizer_state_count(const tg_checkpoint *ck) {
    return ck->has_opt ? ck->n_arrays : 0;
}
const char *tg_checkpoint_optimizer_state_name(const tg_checkpoint *ck, int i) {
    return i >= 0 && i < tg_checkpoint_optimizer_state_count(ck) ? ck->arrays[i].name : NULL;
}
const float *tg_checkpoint_optimizer_state_data(const tg_checkpoint *ck, int i) {
    return i >= 0 && i < tg_checkpoint_optimizer_state_count(ck) ? ck->arrays[i].data : NULL;
}
int tg_checkpoint_optimizer_state_index(const tg_checkpoint *ck, const char *name) {
    for (int i = 0; name && i < tg_checkpoint_optimizer_state_count(ck); i++)
        if (strcmp(ck->arrays[i].name, name) == 0) return i;
    return -1;
}

const tg_schedule_config *tg_checkpoint_schedule_config(const tg_checkpoint *ck) {
    return ck->has_sched ? &ck->sched_cfg : NULL;
}

tg_status tg_checkpoint_rng_get(const tg_checkpoint *ck, const char *name, tg_rng *rng) {
    for (int i = 0; name && i < ck->n_rngs; i++)
        if (strcmp(ck->rngs[i].name, name) == 0) {
            *rng = ck->rngs[i].rng;
            return TG_OK;
        }
    return tg_error(TG_ERR_UNKNOWN, "checkpoint '%s' holds no RNG named '%s'", ck->path,
                    name ? name : "(null)");
}

const char *tg_checkpoint_meta_get(const tg_checkpoint *ck, const char *key) {
    for (int i = 0; key && i < ck->n_meta; i++)
        if (strcmp(ck->meta[i].key, key) == 0) return ck->meta[i].value;
    return NULL;
}
int tg_checkpoint_meta_count(const tg_checkpoint *ck) {
    return ck->n_meta;
}
const char *tg_checkpoint_meta_key(const tg_checkpoint *ck, int i) {
    return i >= 0 && i < ck->n_meta ? ck->meta[i].key : NULL;
}
const char *tg_checkpoint_meta_value(const tg_checkpoint *ck, int i) {
    return i >= 0 && i < ck->n_meta ? ck->meta[i].value : NULL;
}
