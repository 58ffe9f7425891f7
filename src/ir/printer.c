/* printer.c - TVMScript-like text for TensorIR (see printer.h). */
#include "ir/printer.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support/hashmap.h"

typedef struct printer {
    mlcc_strbuf *out;
    int indent;
    mlcc_u64map names;     /* node pointer -> printed name (char *, owned by names_used) */
    mlcc_strmap used;      /* printed names in use */
} printer;

static void print_expr(printer *p, const mlcc_expr *e, int parent_prec);
static void print_stmt(printer *p, const mlcc_stmt *s);

/* The unique printed name of a var or buffer (by identity). */
static const char *name_of(printer *p, const void *node, const char *base) {
    mlcc_u64map_entry *e = u64map_find(&p->names, (uint64_t)(uintptr_t)node);
    if (e) return e->value.p;
    char buf[256];
    snprintf(buf, sizeof buf, "%s", base && *base ? base : "v");
    for (int k = 1; strmap_find(&p->used, buf, strlen(buf)); k++)
        snprintf(buf, sizeof buf, "%s_%d", base && *base ? base : "v", k);
    mlcc_strmap_entry *ue = strmap_upsert(&p->used, buf, strlen(buf), NULL);
    u64map_set_p(&p->names, node, ue->key);
    return ue->key;
}

static void newline(printer *p) {
    sb_append_char(p->out, '\n');
    sb_indent(p->out, p->indent * 4);
}

static const char *dt(mlcc_dtype t, char *buf) {
    return dtype_str(t, buf);
}

/* Python precedence levels, low to high. */
enum { PREC_LOWEST = 0, PREC_OR = 1, PREC_AND = 2, PREC_NOT = 3, PREC_CMP = 4, PREC_ADD = 6,
       PREC_MUL = 7, PREC_UNARY = 8, PREC_ATOM = 10 };

static int binary_prec(mlcc_expr_kind k, const char **op) {
    switch (k) {
    case EXPR_ADD: *op = " + "; return PREC_ADD;
    case EXPR_SUB: *op = " - "; return PREC_ADD;
    case EXPR_MUL: *op = " * "; return PREC_MUL;
    case EXPR_FLOORDIV: *op = " // "; return PREC_MUL;
    case EXPR_FLOORMOD: *op = " % "; return PREC_MUL;
    case EXPR_EQ: *op = " == "; return PREC_CMP;
    case EXPR_NE: *op = " != "; return PREC_CMP;
    case EXPR_LT: *op = " < "; return PREC_CMP;
    case EXPR_LE: *op = " <= "; return PREC_CMP;
    case EXPR_GT: *op = " > "; return PREC_CMP;
    case EXPR_GE: *op = " >= "; return PREC_CMP;
    case EXPR_AND: *op = " and "; return PREC_AND;
    case EXPR_OR: *op = " or "; return PREC_OR;
    default: *op = NULL; return PREC_ATOM;
    }
}

static void print_float(printer *p, double v, mlcc_dtype t) {
    char tb[24];
    if (isinf(v)) sb_printf(p->out, "T.%s(\"%sinf\")", dt(t, tb), v < 0 ? "-" : "");
    else if (isnan(v)) sb_printf(p->out, "T.%s(\"nan\")", dt(t, tb));
    else {
        char num[64];
        snprintf(num, sizeof num, "%.17g", v);
        /* shortest representation that round-trips */
        for (int prec = 1; prec <= 17; prec++) {
            snprintf(num, sizeof num, "%.*g", prec, v);
            if (strtod(num, NULL) == v) break;
        }
        if (!strpbrk(num, ".e")) strcat(num, ".0");
        sb_printf(p->out, "T.%s(%s)", dt(t, tb), num);
    }
}

static void print_args(printer *p, mlcc_expr **args, int n) {
    for (int i = 0; i < n; i++) {
        if (i) sb_append(p->out, ", ");
        print_expr(p, args[i], PREC_LOWEST);
    }
}

static void print_expr(printer *p, const mlcc_expr *e, int parent_prec) {
    char tb[24];
    switch (e->kind) {
    case EXPR_INT:
        if (dtype_is_bool(e->dtype)) sb_append(p->out, e->int_value ? "True" : "False");
        else if (dtype_eq(e->dtype, DT_I64)) {
            if (e->int_value < 0 && parent_prec > PREC_ADD) sb_printf(p->out, "(%lld)", (long long)e->int_value);
            else sb_printf(p->out, "%lld", (long long)e->int_value);
        } else sb_printf(p->out, "T.%s(%lld)", dt(e->dtype, tb), (long long)e->int_value);
        return;
    case EXPR_FLOAT: print_float(p, e->float_value, e->dtype); return;
    case EXPR_VAR: sb_append(p->out, name_of(p, e, e->var.name)); return;
    case EXPR_NOT:
        if (parent_prec > PREC_NOT) sb_append_char(p->out, '(');
        sb_append(p->out, "not ");
        print_expr(p, e->un.a, PREC_NOT);
        if (parent_prec > PREC_NOT) sb_append_char(p->out, ')');
        return;
    case EXPR_CAST:
        sb_printf(p->out, "T.Cast(\"%s\", ", dt(e->dtype, tb));
        print_expr(p, e->un.a, PREC_LOWEST);
        sb_append_char(p->out, ')');
        return;
    case EXPR_SELECT:
        sb_append(p->out, "T.Select(");
        print_expr(p, e->select.cond, PREC_LOWEST);
        sb_append(p->out, ", ");
        print_expr(p, e->select.t, PREC_LOWEST);
        sb_append(p->out, ", ");
        print_expr(p, e->select.f, PREC_LOWEST);
        sb_append_char(p->out, ')');
        return;
    case EXPR_CALL:
        sb_printf(p->out, "T.%s(", e->call.op);
        print_args(p, e->call.args, e->call.nargs);
        sb_append_char(p->out, ')');
        return;
    case EXPR_LOAD:
        sb_printf(p->out, "%s[", name_of(p, e->load.buffer, e->load.buffer->name));
        print_args(p, e->load.indices, e->load.nidx);
        sb_append_char(p->out, ']');
        return;
    case EXPR_RAMP:
        sb_append(p->out, "T.Ramp(");
        print_expr(p, e->ramp.base, PREC_LOWEST);
        sb_append(p->out, ", ");
        print_expr(p, e->ramp.stride, PREC_LOWEST);
        sb_printf(p->out, ", %d)", e->dtype.lanes);
        return;
    case EXPR_BROADCAST:
        sb_append(p->out, "T.Broadcast(");
        print_expr(p, e->broadcast.value, PREC_LOWEST);
        sb_printf(p->out, ", %d)", e->dtype.lanes);
        return;
    case EXPR_MIN:
    case EXPR_MAX:
    case EXPR_DIV:
    case EXPR_MOD: {
        const char *fn = e->kind == EXPR_MIN ? "T.min" : e->kind == EXPR_MAX ? "T.max"
                         : e->kind == EXPR_MOD ? "T.truncmod"
                         : dtype_is_float(e->dtype) ? NULL : "T.truncdiv";
        if (!fn) break; /* float division prints as an operator below */
        sb_printf(p->out, "%s(", fn);
        print_expr(p, e->bin.a, PREC_LOWEST);
        sb_append(p->out, ", ");
        print_expr(p, e->bin.b, PREC_LOWEST);
        sb_append_char(p->out, ')');
        return;
    }
    default: break;
    }
    const char *op;
    int prec = binary_prec(e->kind, &op);
    if (e->kind == EXPR_DIV) {
        op = " / ";
        prec = PREC_MUL;
    }
    int paren = prec < parent_prec;
    if (paren) sb_append_char(p->out, '(');
    /* Left-associative: the right operand needs parentheses at equal precedence; comparisons
     * do not chain in this IR, so both sides of a comparison get the higher level. */
    print_expr(p, e->bin.a, prec == PREC_CMP ? prec + 1 : prec);
    sb_append(p->out, op);
    print_expr(p, e->bin.b, prec + 1);
    if (paren) sb_append_char(p->out, ')');
}

static void print_shape(printer *p, mlcc_expr **shape, int ndim) {
    sb_append_char(p->out, '(');
    for (int i = 0; i < ndim; i++) {
        if (i) sb_append(p->out, ", ");
        print_expr(p, shape[i], PREC_LOWEST);
    }
    if (ndim == 1) sb_append_char(p->out, ',');
    sb_append_char(p->out, ')');
}

static void print_buffer_decl(printer *p, const mlcc_buffer *b) {
    char tb[24];
    sb_printf(p->out, "%s = T.alloc_buffer(", name_of(p, b, b->name));
    print_shape(p, b->shape, b->ndim);
    sb_printf(p->out, ", \"%s\"", dt(b->dtype, tb));
    if (strcmp(b->scope, "global") != 0) sb_printf(p->out, ", scope=\"%s\"", b->scope);
    if (b->align) { /* storage_align: (axis, factor, offset) per padded dimension */
        sb_append(p->out, ", storage_align=[");
        for (int d = 0, k = 0; d < b->ndim; d++)
            if (b->align[d].factor > 0)
                sb_printf(p->out, "%s(%d, %lld, %lld)", k++ ? ", " : "", d, (long long)b->align[d].factor,
                          (long long)b->align[d].offset);
        sb_append_char(p->out, ']');
    }
    sb_append_char(p->out, ')');
}

static void print_region(printer *p, const mlcc_region *r) {
    sb_printf(p->out, "%s[", name_of(p, r->buffer, r->buffer->name));
    if (r->whole) {
        for (int d = 0; d < r->buffer->ndim; d++) sb_append(p->out, d ? ", :" : ":");
        sb_append_char(p->out, ']');
        return;
    }
    for (int d = 0; d < r->buffer->ndim; d++) {
        if (d) sb_append(p->out, ", ");
        print_expr(p, r->ranges[d].min, PREC_LOWEST);
        if (!expr_is_int(r->ranges[d].extent, 1)) {
            sb_append(p->out, ":");
            print_expr(p, ir_add(r->ranges[d].min, r->ranges[d].extent), PREC_LOWEST);
        }
    }
    sb_append_char(p->out, ']');
}

static void print_annotations(printer *p, const mlcc_annotation *a, int n) {
    sb_append_char(p->out, '{');
    for (int i = 0; i < n; i++) {
        if (i) sb_append(p->out, ", ");
        sb_printf(p->out, "\"%s\": ", a[i].key);
        print_expr(p, a[i].value, PREC_LOWEST);
    }
    sb_append_char(p->out, '}');
}

static int is_plain_loop(const mlcc_stmt *s) {
    return s->kind == STMT_FOR && s->for_.kind == FOR_SERIAL && expr_is_int(s->for_.min, 0) &&
           s->for_.nannotations == 0;
}

static void print_for(printer *p, const mlcc_stmt *s) {
    if (is_plain_loop(s) && is_plain_loop(s->for_.body)) {
        /* a perfect nest of plain loops prints as T.grid */
        const mlcc_stmt *loops[16];
        int n = 0;
        const mlcc_stmt *cur = s;
        while (n < 16 && is_plain_loop(cur)) {
            loops[n++] = cur;
            cur = cur->for_.body;
        }
        sb_append(p->out, "for ");
        for (int i = 0; i < n; i++)
            sb_printf(p->out, "%s%s", i ? ", " : "", name_of(p, loops[i]->for_.var, loops[i]->for_.var->var.name));
        sb_append(p->out, " in T.grid(");
        for (int i = 0; i < n; i++) {
            if (i) sb_append(p->out, ", ");
            print_expr(p, loops[i]->for_.extent, PREC_LOWEST);
        }
        sb_append(p->out, "):");
        p->indent++;
        newline(p);
        print_stmt(p, cur);
        p->indent--;
        return;
    }
    static const char *kinds[] = {"range", "T.parallel", "T.vectorized", "T.unroll", "T.thread_binding"};
    sb_printf(p->out, "for %s in %s(", name_of(p, s->for_.var, s->for_.var->var.name), kinds[s->for_.kind]);
    if (!expr_is_int(s->for_.min, 0)) {
        print_expr(p, s->for_.min, PREC_LOWEST);
        sb_append(p->out, ", ");
        print_expr(p, ir_add(s->for_.min, s->for_.extent), PREC_LOWEST);
    } else {
        print_expr(p, s->for_.extent, PREC_LOWEST);
    }
    if (s->for_.kind == FOR_THREAD_BINDING) sb_printf(p->out, ", thread=\"%s\"", s->for_.thread_tag);
    if (s->for_.nannotations) {
        sb_append(p->out, ", annotations=");
        print_annotations(p, s->for_.annotations, s->for_.nannotations);
    }
    sb_append(p->out, "):");
    p->indent++;
    newline(p);
    print_stmt(p, s->for_.body);
    p->indent--;
}

static void print_block(printer *p, const mlcc_stmt *s) {
    const mlcc_block *b = s->realize.block;
    sb_printf(p->out, "with T.block(\"%s\"):", b->name);
    p->indent++;
    for (int i = 0; i < b->niters; i++) {
        const mlcc_iter_var *iv = &b->iters[i];
        static const char *types[] = {"spatial", "reduce", "opaque"};
        newline(p);
        sb_printf(p->out, "%s = T.axis.%s(", name_of(p, iv->var, iv->var->var.name), types[iv->type]);
        if (expr_is_int(iv->dom.min, 0)) {
            print_expr(p, iv->dom.extent, PREC_LOWEST);
        } else {
            sb_append_char(p->out, '(');
            print_expr(p, iv->dom.min, PREC_LOWEST);
            sb_append(p->out, ", ");
            print_expr(p, ir_add(iv->dom.min, iv->dom.extent), PREC_LOWEST);
            sb_append_char(p->out, ')');
        }
        sb_append(p->out, ", ");
        print_expr(p, s->realize.iter_values[i], PREC_LOWEST);
        sb_append_char(p->out, ')');
    }
    if (!expr_is_int(s->realize.predicate, 1)) {
        newline(p);
        sb_append(p->out, "T.where(");
        print_expr(p, s->realize.predicate, PREC_LOWEST);
        sb_append_char(p->out, ')');
    }
    newline(p);
    sb_append(p->out, "T.reads(");
    for (int i = 0; i < b->nreads; i++) {
        if (i) sb_append(p->out, ", ");
        print_region(p, &b->reads[i]);
    }
    sb_append_char(p->out, ')');
    newline(p);
    sb_append(p->out, "T.writes(");
    for (int i = 0; i < b->nwrites; i++) {
        if (i) sb_append(p->out, ", ");
        print_region(p, &b->writes[i]);
    }
    sb_append_char(p->out, ')');
    if (b->nannotations) {
        newline(p);
        sb_append(p->out, "T.block_attr(");
        print_annotations(p, b->annotations, b->nannotations);
        sb_append_char(p->out, ')');
    }
    for (int i = 0; i < b->nalloc; i++) {
        newline(p);
        print_buffer_decl(p, b->alloc_buffers[i]);
    }
    if (b->init) {
        newline(p);
        sb_append(p->out, "with T.init():");
        p->indent++;
        newline(p);
        print_stmt(p, b->init);
        p->indent--;
    }
    newline(p);
    print_stmt(p, b->body);
    p->indent--;
}

static void print_stmt(printer *p, const mlcc_stmt *s) {
    if (!s) {
        sb_append(p->out, "T.evaluate(0)");
        return;
    }
    switch (s->kind) {
    case STMT_FOR: print_for(p, s); return;
    case STMT_BLOCK_REALIZE: print_block(p, s); return;
    case STMT_STORE:
        sb_printf(p->out, "%s[", name_of(p, s->store.buffer, s->store.buffer->name));
        print_args(p, s->store.indices, s->store.nidx);
        sb_append(p->out, "] = ");
        print_expr(p, s->store.value, PREC_LOWEST);
        return;
    case STMT_ALLOCATE:
        print_buffer_decl(p, s->alloc.buffer);
        newline(p);
        print_stmt(p, s->alloc.body);
        return;
    case STMT_IF:
        sb_append(p->out, "if ");
        print_expr(p, s->if_.cond, PREC_LOWEST);
        sb_append_char(p->out, ':');
        p->indent++;
        newline(p);
        print_stmt(p, s->if_.then_);
        p->indent--;
        if (s->if_.else_) {
            newline(p);
            sb_append(p->out, "else:");
            p->indent++;
            newline(p);
            print_stmt(p, s->if_.else_);
            p->indent--;
        }
        return;
    case STMT_SEQ:
        for (int i = 0; i < s->seq.n; i++) {
            if (i) newline(p);
            print_stmt(p, s->seq.stmts[i]);
        }
        return;
    case STMT_EVALUATE:
        sb_append(p->out, "T.evaluate(");
        print_expr(p, s->eval.value, PREC_LOWEST);
        sb_append_char(p->out, ')');
        return;
    }
}

static void printer_init(printer *p, mlcc_strbuf *out) {
    p->out = out;
    p->indent = 0;
    u64map_init(&p->names);
    strmap_init(&p->used);
}

static void printer_free(printer *p) {
    u64map_free(&p->names);
    strmap_free(&p->used);
}

void tir_print_func(const mlcc_prim_func *f, mlcc_strbuf *out) {
    printer p;
    printer_init(&p, out);
    char tb[24];
    mlcc_expr **size_vars;
    int nsize = prim_func_size_vars(f, &size_vars);
    /* size vars and parameter buffers claim their names first, in signature order */
    for (int i = 0; i < nsize; i++) name_of(&p, size_vars[i], size_vars[i]->var.name);
    sb_printf(out, "@T.prim_func\ndef %s(", f->name);
    for (int i = 0; i < f->nparams; i++) {
        const mlcc_param *prm = &f->params[i];
        if (i) sb_append(out, ", ");
        if (prm->buffer) {
            sb_printf(out, "%s: T.Buffer(", name_of(&p, prm->buffer, prm->buffer->name));
            print_shape(&p, prm->buffer->shape, prm->buffer->ndim);
            sb_printf(out, ", \"%s\")", dt(prm->buffer->dtype, tb));
        } else {
            sb_printf(out, "%s: T.%s", name_of(&p, prm->var, prm->var->var.name), dt(prm->var->dtype, tb));
        }
    }
    sb_append(out, "):");
    p.indent = 1;
    if (f->nattrs) {
        newline(&p);
        sb_append(out, "T.func_attr(");
        print_annotations(&p, f->attrs, f->nattrs);
        sb_append_char(out, ')');
    }
    for (int i = 0; i < nsize; i++) {
        newline(&p);
        sb_printf(out, "%s = T.%s()", name_of(&p, size_vars[i], NULL), dt(size_vars[i]->dtype, tb));
    }
    for (int i = 0; i < f->nalloc; i++) {
        newline(&p);
        print_buffer_decl(&p, f->alloc_buffers[i]);
    }
    newline(&p);
    print_stmt(&p, f->body);
    sb_append_char(out, '\n');
    printer_free(&p);
}

void tir_print_stmt(const mlcc_stmt *s, mlcc_strbuf *out) {
    printer p;
    printer_init(&p, out);
    print_stmt(&p, s);
    printer_free(&p);
}

void tir_print_expr(const mlcc_expr *e, mlcc_strbuf *out) {
    printer p;
    printer_init(&p, out);
    print_expr(&p, e, PREC_LOWEST);
    printer_free(&p);
}

char *tir_func_to_string(const mlcc_prim_func *f) {
    mlcc_strbuf sb = STRBUF_INIT;
    tir_print_func(f, &sb);
    return sb_detach(&sb);
}

char *tir_expr_to_string(const mlcc_expr *e) {
    mlcc_strbuf sb = STRBUF_INIT;
    tir_print_expr(e, &sb);
    return sb_detach(&sb);
}

char *tir_stmt_to_string(const mlcc_stmt *s) {
    mlcc_strbuf sb = STRBUF_INIT;
    tir_print_stmt(s, &sb);
    return sb_detach(&sb);
}
