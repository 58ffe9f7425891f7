/* graph_printer.c - prints IRModules and graph functions as TVMScript-like text:
 *
 *     @I.ir_module
 *     class Module:
 *         @T.prim_func
 *         def add(...): ...            (through the TIR printer)
 *
 *         @R.function
 *         def main(x: R.Tensor((n, 64), dtype="float32")) -> R.Tensor((n, 64), dtype="float32"):
 *             n = T.int64()
 *             with R.dataflow():
 *                 lv: R.Tensor((n, 64), dtype="float32") = R.add(x, x)
 *                 gv: R.Tensor((n, 64), dtype="float32") = lv
 *                 R.output(gv)
 *             return gv
 *
 * Var names are made unique within a function (a second `lv` prints as `lv1`), as TVM does. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ir/module.h"
#include "ir/printer.h"
#include "support/hashmap.h"

typedef struct gprinter {
    mlcc_strbuf *out;
    int indent;
    mlcc_u64map names; /* var -> unique name */
    mlcc_strmap used;
} gprinter;

static void gp_init(gprinter *p, mlcc_strbuf *out, int indent) {
    p->out = out;
    p->indent = indent;
    u64map_init(&p->names);
    strmap_init(&p->used);
}

static void gp_free(gprinter *p) {
    u64map_free(&p->names);
    strmap_free(&p->used);
}

static void newline(gprinter *p) {
    sb_append_char(p->out, '\n');
    sb_indent(p->out, p->indent * 4);
}

static const char *var_name(gprinter *p, const rx_expr *v) {
    const char *known = u64map_get_p(&p->names, v);
    if (known) return known;
    char buf[160];
    snprintf(buf, sizeof buf, "%s", v->var.name);
    for (int i = 1; strmap_find(&p->used, buf, strlen(buf)); i++) snprintf(buf, sizeof buf, "%s%d", v->var.name, i);
    mlcc_strmap_entry *e = strmap_upsert(&p->used, buf, strlen(buf), NULL);
    u64map_set_p(&p->names, v, e->key);
    return e->key;
}

static void print_expr(gprinter *p, const rx_expr *e);

static void print_attr_value(gprinter *p, const rx_attr *a) {
    char tb[24];
    switch (a->kind) {
    case ATTR_INT: sb_printf(p->out, "%" PRId64, a->i); return;
    case ATTR_FLOAT: sb_printf(p->out, "%.9g", a->f); return;
    case ATTR_STR: sb_printf(p->out, "\"%s\"", a->s); return;
    case ATTR_DTYPE: sb_printf(p->out, "\"%s\"", dtype_str(a->dtype, tb)); return;
    case ATTR_INTS:
        sb_append_char(p->out, '[');
        for (int i = 0; i < a->nints; i++) sb_printf(p->out, "%s%" PRId64, i ? ", " : "", a->ints[i]);
        sb_append_char(p->out, ']');
        return;
    }
}

static void print_dims(gprinter *p, mlcc_expr **v, int n) {
    for (int i = 0; i < n; i++) {
        if (i) sb_append(p->out, ", ");
        tir_print_expr(v[i], p->out);
    }
}

static void print_constant(gprinter *p, const rx_expr *e) {
    char tb[24];
    dtype_str(e->constant.dtype, tb);
    if (e->constant.ndim == 0) {
        double v = 0;
        mlcc_dtype t = e->constant.dtype;
        const void *d = e->constant.data;
        if (t.code == DT_FLOAT && t.bits == 32) v = *(const float *)d;
        else if (t.code == DT_FLOAT && t.bits == 64) v = *(const double *)d;
        else if (t.code == DT_INT && t.bits == 32) v = *(const int32_t *)d;
        else if (t.code == DT_INT && t.bits == 64) v = (double)*(const int64_t *)d;
        sb_printf(p->out, "R.const(%.9g, \"%s\")", v, tb);
        return;
    }
    sb_append(p->out, "R.const(<");
    for (int i = 0; i < e->constant.ndim; i++) sb_printf(p->out, "%s%" PRId64, i ? ", " : "", e->constant.shape[i]);
    sb_printf(p->out, "> \"%s\")", tb);
}

static void print_call(gprinter *p, const rx_expr *e) {
    const rx_expr *callee = e->call.callee;
    int is_dps = 0;
    if (callee->kind == RX_OP) {
        sb_printf(p->out, "R.%s(", callee->op->name);
        is_dps = strcmp(callee->op->name, "call_tir") == 0 || strcmp(callee->op->name, "call_dps_packed") == 0;
    } else {
        print_expr(p, callee);
        sb_append_char(p->out, '(');
    }
    int first = 1;
    for (int i = 0; i < e->call.nargs; i++) {
        if (!first) sb_append(p->out, ", ");
        first = 0;
        print_expr(p, e->call.args[i]);
    }
    for (int i = 0; i < e->call.attrs.n; i++) {
        if (!first) sb_append(p->out, ", ");
        first = 0;
        sb_printf(p->out, "%s=", e->call.attrs.items[i].key);
        print_attr_value(p, &e->call.attrs.items[i]);
    }
    if (e->call.nsinfo_args) {
        if (!first) sb_append(p->out, ", ");
        sb_append(p->out, is_dps ? "out_sinfo=" : "sinfo_args=");
        if (e->call.nsinfo_args > 1 || !is_dps) sb_append_char(p->out, '[');
        for (int i = 0; i < e->call.nsinfo_args; i++) {
            if (i) sb_append(p->out, ", ");
            rx_sinfo_print(e->call.sinfo_args[i], p->out);
        }
        if (e->call.nsinfo_args > 1 || !is_dps) sb_append_char(p->out, ']');
    }
    sb_append_char(p->out, ')');
}

static void print_expr(gprinter *p, const rx_expr *e) {
    switch (e->kind) {
    case RX_VAR:
    case RX_DATAFLOW_VAR: sb_append(p->out, var_name(p, e)); return;
    case RX_GLOBAL_VAR: sb_printf(p->out, "cls.%s", e->var.name); return;
    case RX_OP: sb_printf(p->out, "R.%s", e->op->name); return;
    case RX_CONSTANT: print_constant(p, e); return;
    case RX_TUPLE:
        sb_append_char(p->out, '(');
        for (int i = 0; i < e->tuple.n; i++) {
            if (i) sb_append(p->out, ", ");
            print_expr(p, e->tuple.fields[i]);
        }
        sb_append(p->out, e->tuple.n == 1 ? ",)" : ")");
        return;
    case RX_TUPLE_GET_ITEM:
        print_expr(p, e->get_item.tuple);
        sb_printf(p->out, "[%d]", e->get_item.index);
        return;
    case RX_CALL: print_call(p, e); return;
    case RX_SHAPE_EXPR:
        sb_append(p->out, "R.shape([");
        print_dims(p, e->shape_expr.values, e->shape_expr.ndim);
        sb_append(p->out, "])");
        return;
    case RX_PRIM_VALUE:
        sb_append(p->out, "R.prim_value(");
        tir_print_expr(e->prim_value, p->out);
        sb_append_char(p->out, ')');
        return;
    case RX_STRING_IMM: sb_printf(p->out, "R.str(\"%s\")", e->str); return;
    case RX_IF: sb_append(p->out, "R.If(...)"); return;
    case RX_SEQ: sb_append(p->out, "R.SeqExpr(...)"); return;
    case RX_FUNCTION: sb_append(p->out, "R.function(...)"); return;
    }
}

static void print_blocks(gprinter *p, const rx_expr *seq);

static void print_binding(gprinter *p, const rx_binding *b) {
    if (b->value->kind == RX_IF) {
        /* if c: <then> v = then_result  else: <else> v = else_result */
        const rx_expr *br[2] = {b->value->if_.then_, b->value->if_.else_};
        newline(p);
        sb_append(p->out, "if ");
        print_expr(p, b->value->if_.cond);
        sb_append_char(p->out, ':');
        for (int k = 0; k < 2; k++) {
            if (k) {
                newline(p);
                sb_append(p->out, "else:");
            }
            p->indent++;
            const rx_expr *body = br[k];
            if (body->kind == RX_SEQ) {
                print_blocks(p, body);
                body = body->seq.body;
            }
            newline(p);
            sb_printf(p->out, "%s: ", var_name(p, b->var));
            rx_sinfo_print(b->var->sinfo, p->out);
            sb_append(p->out, " = ");
            print_expr(p, body);
            p->indent--;
        }
        return;
    }
    newline(p);
    sb_printf(p->out, "%s: ", var_name(p, b->var));
    rx_sinfo_print(b->var->sinfo, p->out);
    sb_append(p->out, " = ");
    if (b->cast) {
        sb_append(p->out, "R.match_cast(");
        print_expr(p, b->value);
        sb_append(p->out, ", ");
        rx_sinfo_print(b->cast, p->out);
        sb_append_char(p->out, ')');
    } else {
        print_expr(p, b->value);
    }
}

static void print_blocks(gprinter *p, const rx_expr *seq) {
    for (int i = 0; i < seq->seq.nblocks; i++) {
        const rx_block *blk = &seq->seq.blocks[i];
        if (!blk->is_dataflow) {
            for (int j = 0; j < blk->n; j++) print_binding(p, &blk->bindings[j]);
            continue;
        }
        newline(p);
        sb_append(p->out, "with R.dataflow():");
        p->indent++;
        for (int j = 0; j < blk->n; j++) print_binding(p, &blk->bindings[j]);
        int nout = 0;
        for (int j = 0; j < blk->n; j++) nout += blk->bindings[j].var->kind == RX_VAR;
        if (nout) {
            newline(p);
            sb_append(p->out, "R.output(");
            int k = 0;
            for (int j = 0; j < blk->n; j++)
                if (blk->bindings[j].var->kind == RX_VAR)
                    sb_printf(p->out, "%s%s", k++ ? ", " : "", var_name(p, blk->bindings[j].var));
            sb_append_char(p->out, ')');
        }
        p->indent--;
    }
}

/* Size vars declared by the signature and by match_cast, in order of appearance. */
static void collect_size_vars(const rx_expr *fn, mlcc_expr ***vars, int *n, int *cap) {
    for (int i = 0; i < fn->func.nparams; i++) rx_sinfo_collect_vars(fn->func.params[i]->sinfo, vars, n, cap);
    const rx_expr *body = fn->func.body;
    if (body->kind != RX_SEQ) return;
    for (int i = 0; i < body->seq.nblocks; i++)
        for (int j = 0; j < body->seq.blocks[i].n; j++)
            if (body->seq.blocks[i].bindings[j].cast)
                rx_sinfo_collect_vars(body->seq.blocks[i].bindings[j].cast, vars, n, cap);
}

static void print_function(gprinter *p, const char *name, const rx_expr *fn) {
    char tb[24];
    sb_append(p->out, "@R.function");
    newline(p);
    sb_printf(p->out, "def %s(", name);
    for (int i = 0; i < fn->func.nparams; i++) {
        if (i) sb_append(p->out, ", ");
        sb_printf(p->out, "%s: ", var_name(p, fn->func.params[i]));
        rx_sinfo_print(fn->func.params[i]->sinfo, p->out);
    }
    sb_append(p->out, ") -> ");
    rx_sinfo_print(fn->func.ret, p->out);
    sb_append_char(p->out, ':');
    p->indent++;
    int nshown = 0;
    for (int i = 0; i < fn->func.attrs.n; i++) {
        const rx_attr *a = &fn->func.attrs.items[i];
        if (strcmp(a->key, "global_symbol") == 0 && a->kind == ATTR_STR && strcmp(a->s, name) == 0) continue;
        if (!nshown++) {
            newline(p);
            sb_append(p->out, "R.func_attr({");
        } else {
            sb_append(p->out, ", ");
        }
        sb_printf(p->out, "\"%s\": ", a->key);
        print_attr_value(p, a);
    }
    if (nshown) sb_append(p->out, "})");
    mlcc_expr **vars = NULL;
    int nvars = 0, cap = 0;
    collect_size_vars(fn, &vars, &nvars, &cap);
    for (int i = 0; i < nvars; i++) {
        newline(p);
        sb_printf(p->out, "%s = T.%s()", vars[i]->var.name, dtype_str(vars[i]->dtype, tb));
    }
    const rx_expr *body = fn->func.body;
    if (body->kind == RX_SEQ) {
        print_blocks(p, body);
        body = body->seq.body;
    }
    newline(p);
    sb_append(p->out, "return ");
    print_expr(p, body);
    p->indent--;
}

void rx_print_function(const char *name, const rx_expr *func, mlcc_strbuf *out) {
    gprinter p;
    gp_init(&p, out, 0);
    print_function(&p, name, func);
    sb_append_char(out, '\n');
    gp_free(&p);
}

void rx_print_expr(const rx_expr *e, mlcc_strbuf *out) {
    gprinter p;
    gp_init(&p, out, 0);
    print_expr(&p, e);
    gp_free(&p);
}

/* Appends text with every line indented by `spaces` (blank lines stay empty). */
static void append_indented(mlcc_strbuf *out, const char *text, int spaces) {
    const char *s = text;
    while (*s) {
        const char *nl = strchr(s, '\n');
        size_t len = nl ? (size_t)(nl - s) : strlen(s);
        if (len) {
            sb_indent(out, spaces);
            sb_append_n(out, s, len);
        }
        sb_append_char(out, '\n');
        if (!nl) break;
        s = nl + 1;
    }
}

void irmod_print(const mlcc_ir_module *m, mlcc_strbuf *out) {
    sb_append(out, "@I.ir_module\nclass Module:\n");
    if (m->attrs.n) {
        gprinter p;
        gp_init(&p, out, 1);
        sb_append(out, "    I.module_attrs({");
        for (int i = 0; i < m->attrs.n; i++) {
            sb_printf(out, "%s\"%s\": ", i ? ", " : "", m->attrs.items[i].key);
            print_attr_value(&p, &m->attrs.items[i]);
        }
        sb_append(out, "})\n");
        gp_free(&p);
    }
    for (int i = 0; i < m->n; i++) {
        if (i || m->attrs.n) sb_append_char(out, '\n');
        mlcc_strbuf fn = STRBUF_INIT;
        if (m->entries[i].kind == IRMOD_PRIM) {
            tir_print_func(m->entries[i].prim, &fn);
        } else {
            gprinter p;
            gp_init(&p, &fn, 0);
            print_function(&p, m->entries[i].name, m->entries[i].graph);
            sb_append_char(&fn, '\n');
            gp_free(&p);
        }
        /* the TIR printer ends with a newline; drop it so entries are separated by one blank */
        if (fn.len && fn.data[fn.len - 1] == '\n') fn.data[--fn.len] = '\0';
        append_indented(out, sb_cstr(&fn), 4);
        sb_free(&fn);
    }
}

char *irmod_to_string(const mlcc_ir_module *m) {
    mlcc_strbuf sb = STRBUF_INIT;
    irmod_print(m, &sb);
    return sb_detach(&sb);
}
