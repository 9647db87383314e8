/* The op reference (docs/ops.md) written from the registry itself, so the docs
 * cannot drift from the code: a test compares the file with this output. */
#include <stdio.h>
#include <string.h>

#include "autograd/tg_op.h"

static const char *type_name(tg_attr_type t) {
    switch (t) {
    case TG_ATTR_INT:
        return "int";
    case TG_ATTR_FLOAT:
        return "float";
    case TG_ATTR_BOOL:
        return "bool";
    case TG_ATTR_ENUM:
        return "enum";
    case TG_ATTR_SHAPE:
        return "shape";
    }
    return "?";
}

static const char *init_name(tg_init init) {
    switch (init) {
    case TG_INIT_ZEROS:
        return "zeros";
    case TG_INIT_ONES:
        return "ones";
    case TG_INIT_GLOROT_UNIFORM:
        return "Glorot uniform";
    case TG_INIT_HE_NORMAL:
        return "He normal";
    case TG_INIT_HE_UNIFORM:
        return "He uniform";
    }
    return "?";
}

static const char *kind_name(tg_input_kind k) {
    switch (k) {
    case TG_IN_REAL:
        return "tensor";
    case TG_IN_LABEL:
        return "labels (0/1, no gradient)";
    case TG_IN_POSITIVE:
        return "non-negative tensor (distances)";
    }
    return "?";
}

/* Write the range column: "1 .. 16777216" for numbers, the choices for enums. */
static void write_range(FILE *out, const tg_attr_spec *a) {
    switch (a->type) {
    case TG_ATTR_INT:
    case TG_ATTR_FLOAT:
        fprintf(out, "%g .. %g", a->min, a->max);
        break;
    case TG_ATTR_ENUM: {
        for (const char *p = a->choices; *p; p++) fputs(*p == '|' ? ", " : (char[]){*p, 0}, out);
        break;
    }
    case TG_ATTR_BOOL:
        fputs("true, false", out);
        break;
    case TG_ATTR_SHAPE:
        fputs("AxBxC", out);
        break;
    }
}

tg_status tg_ops_write_markdown(FILE *out) {
    fputs("# Op reference\n\n"
          "Generated from the op registry by `twingrad ops --markdown`; `make check` fails when "
          "this file and the registry disagree. Every op here is gradient-checked by the test "
          "suite on the example shapes listed.\n\n"
          "Tensors are float32, NCHW, batch first. Attributes are written `key=value` in model "
          "files and in `tg_graph_layer(g, op, name, \"key=value ...\")`.\n\n",
          out);
    fputs("| op | inputs | what it computes |\n|---|---|---|\n", out);
    for (int i = 0; i < tg_op_count(); i++) {
        const tg_op *op = tg_op_at(i);
        fprintf(out, "| [`%s`](#%s) | %d | %s |\n", op->name, op->name, op->n_inputs, op->doc);
    }
    for (int i = 0; i < tg_op_count(); i++) {
        const tg_op *op = tg_op_at(i);
        fprintf(out, "\n## %s\n\n%s.\n\n", op->name, op->doc);
        if (op->formula) fprintf(out, "Formula: `%s`\n\n", op->formula);
        fputs("Inputs: ", out);
        for (int k = 0; k < op->n_inputs; k++)
            fprintf(out, "%s%d: %s", k ? "; " : "", k, kind_name(op->input_kind[k]));
        fputs(".\n\n", out);
        if (op->n_attrs) {
            fputs("| attribute | type | default | range | meaning |\n|---|---|---|---|---|\n", out);
            for (int a = 0; a < op->n_attrs; a++) {
                const tg_attr_spec *s = &op->attrs[a];
                fprintf(out, "| `%s` | %s | %s | ", s->name, type_name(s->type),
                        s->default_value ? s->default_value : "(required)");
                write_range(out, s);
                fprintf(out, " | %s |\n", s->doc ? s->doc : "");
            }
            fputs("\n", out);
        }
        if (op->n_params) {
            fputs("Parameters: ", out);
            for (int p = 0; p < op->n_params; p++)
                fprintf(out, "%s`%s` (%s%s)", p ? ", " : "", op->params[p].name,
                        init_name(op->params[p].init),
                        op->params[p].state ? ", non-trainable state" : "");
            fputs(".\n\n", out);
        }
        fputs("Gradcheck examples:", out);
        for (int e = 0; e < TG_MAX_EXAMPLES && op->examples[e].inputs; e++)
            fprintf(out, "%s `%s`%s%s%s%s", e ? ";" : "", op->examples[e].inputs,
                    op->examples[e].attrs && op->examples[e].attrs[0] ? " with `" : "",
                    op->examples[e].attrs ? op->examples[e].attrs : "",
                    op->examples[e].attrs && op->examples[e].attrs[0] ? "`" : "",
                    op->examples[e].eval_mode ? " (eval mode)" : "");
        fputs(".\n", out);
    }
    return ferror(out) ? tg_error(TG_ERR_IO, "writing the op reference failed") : TG_OK;
}
