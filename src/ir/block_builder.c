/* block_builder.c - builds graph functions in A-normal form with deduced struct info
 * (see block_builder.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ir/block_builder.h"
#include "ir/structural.h"
#include "support/alloc.h"
#include "support/error.h"
#include "support/hashmap.h"
#include "support/vec.h"

typedef MLCC_VEC(rx_binding) binding_vec;
typedef MLCC_VEC(rx_block) block_vec;

/* A block suspended while a nested one (an If branch being rebuilt) is open. */
typedef struct saved_block {
    int open, dataflow;
    binding_vec bindings;
} saved_block;

struct rx_builder {
    mlcc_ir_module *mod;
    /* the function being built */
    const char *func_name;
    rx_expr **params;
    int nparams;
    rx_attrs func_attrs;
    int func_private;
    block_vec blocks;
    /* the open block */
    int block_open, block_dataflow;
    binding_vec bindings;
    MLCC_VEC(saved_block) saved;
    /* structural hash -> name of a PrimFunc in mod, for deduplication */
    mlcc_u64map prim_by_hash;
    int prim_index_built;
    char *error; /* the first error (malloc'ed) */
};

rx_builder *bb_new(mlcc_ir_module *mod) {
    rx_builder *bb = mlcc_xmalloc(sizeof *bb);
    memset(bb, 0, sizeof *bb);
    bb->mod = mod;
    u64map_init(&bb->prim_by_hash);
    return bb;
}

void bb_free(rx_builder *bb) {
    if (!bb) return;
    vec_free(&bb->blocks);
    vec_free(&bb->bindings);
    for (size_t i = 0; i < bb->saved.len; i++) vec_free(&bb->saved.data[i].bindings);
    vec_free(&bb->saved);
    u64map_free(&bb->prim_by_hash);
    free(bb->error);
    free(bb);
}

mlcc_ir_module *bb_module(rx_builder *bb) {
    return bb->mod;
}

const char *bb_error(rx_builder *bb) {
    return bb->error;
}

/* Records the current thread error as the builder's first error; returns NULL for chaining. */
static rx_expr *fail(rx_builder *bb) {
    if (!bb->error) bb->error = mlcc_xstrdup(mlcc_last_error());
    return NULL;
}

/* ---- blocks ---- */

void bb_begin_block(rx_builder *bb, int is_dataflow) {
    if (bb->block_open) {
        saved_block sv = {1, bb->block_dataflow, {NULL, 0, 0}};
        sv.bindings = *(binding_vec *)&bb->bindings;
        vec_push(&bb->saved, sv);
        memset(&bb->bindings, 0, sizeof bb->bindings);
    }
    bb->block_open = 1;
    bb->block_dataflow = is_dataflow;
    vec_clear(&bb->bindings);
}

rx_block bb_end_block(rx_builder *bb) {
    rx_block b;
    b.is_dataflow = bb->block_dataflow;
    b.n = (int)bb->bindings.len;
    b.bindings = ir_alloc(sizeof(rx_binding) * (bb->bindings.len + 1));
    if (b.n) memcpy(b.bindings, bb->bindings.data, sizeof(rx_binding) * bb->bindings.len);
    bb->block_open = 0;
    bb->block_dataflow = 0;
    vec_clear(&bb->bindings);
    if (bb->saved.len) {
        saved_block sv = vec_pop(&bb->saved);
        vec_free(&bb->bindings);
        bb->bindings = sv.bindings;
        bb->block_open = 1;
        bb->block_dataflow = sv.dataflow;
    }
    return b;
}

int bb_in_dataflow(rx_builder *bb) {
    return bb->block_open && bb->block_dataflow;
}

static void close_block(rx_builder *bb) {
    if (!bb->block_open) return;
    rx_block b = bb_end_block(bb);
    if (b.n) vec_push(&bb->blocks, b);
}

void bb_begin_dataflow(rx_builder *bb) {
    close_block(bb);
    bb_begin_block(bb, 1);
}

int bb_end_dataflow(rx_builder *bb) {
    if (!bb_in_dataflow(bb)) return mlcc_set_error("block builder: end_dataflow without a dataflow block");
    close_block(bb);
    return 0;
}

void bb_emit_binding(rx_builder *bb, rx_binding b) {
    if (!bb->block_open) bb_begin_block(bb, 0);
    vec_push(&bb->bindings, b);
}

/* ---- functions ---- */

void bb_add_function_param(rx_builder *bb, rx_expr *param) {
    rx_expr **p = ir_alloc(sizeof(rx_expr *) * (size_t)(bb->nparams + 2));
    if (bb->nparams) memcpy(p, bb->params, sizeof(rx_expr *) * (size_t)bb->nparams);
    p[bb->nparams++] = param;
    bb->params = p;
}

void bb_begin_function(rx_builder *bb, const char *name, rx_expr **params, int nparams) {
    bb->func_name = mlcc_intern(name);
    bb->params = ir_alloc(sizeof(rx_expr *) * (size_t)(nparams + 1));
    if (nparams) memcpy(bb->params, params, sizeof(rx_expr *) * (size_t)nparams);
    bb->nparams = nparams;
    bb->func_attrs.n = 0;
    bb->func_attrs.items = NULL;
    bb->func_private = 0;
    vec_clear(&bb->blocks);
    bb->block_open = 0;
}

void bb_set_function_attrs(rx_builder *bb, rx_attrs attrs) {
    bb->func_attrs = attrs;
}

void bb_set_function_private(rx_builder *bb) {
    bb->func_private = 1;
}

rx_expr *bb_end_function(rx_builder *bb, rx_expr *result) {
    if (bb->block_open && bb->block_dataflow && !bb->error) {
        mlcc_set_error("function '%s': a dataflow block is still open", bb->func_name);
        fail(bb);
    }
    rx_expr *body = NULL;
    if (!bb->error && result) {
        if (bb_in_dataflow(bb)) close_block(bb);
        body = bb_normalize(bb, result);
        if (body && body->kind == RX_DATAFLOW_VAR) {
            mlcc_set_error("function '%s': returns dataflow var '%s'; emit it with bb_emit_output",
                           bb->func_name, body->var.name);
            body = fail(bb);
        }
    }
    close_block(bb);
    if (bb->error) {
        mlcc_set_error("%s", bb->error);
        return NULL;
    }
    if (!body) {
        mlcc_set_error("function '%s': no result", bb->func_name);
        return fail(bb);
    }
    rx_expr *seq = rx_seq(bb->blocks.data, (int)bb->blocks.len, body);
    rx_attrs attrs = bb->func_private ? bb->func_attrs : rx_attrs_set_str(bb->func_attrs, "global_symbol", bb->func_name);
    rx_expr *fn = rx_function_new(bb->params, bb->nparams, seq, body->sinfo, attrs);
    vec_clear(&bb->blocks);
    if (irmod_add_graph(bb->mod, bb->func_name, fn)) return fail(bb);
    rx_expr *gv = rx_global_var(bb->func_name);
    gv->sinfo = fn->sinfo;
    return gv;
}

rx_expr *bb_add_graph_func(rx_builder *bb, rx_expr *func, const char *name_hint) {
    const char *name = irmod_unique_name(bb->mod, name_hint);
    irmod_add_graph(bb->mod, name, func);
    rx_expr *gv = rx_global_var(name);
    gv->sinfo = func->sinfo;
    return gv;
}

/* ---- PrimFuncs ---- */

static void index_prims(rx_builder *bb) {
    if (bb->prim_index_built) return;
    bb->prim_index_built = 1;
    for (int i = 0; i < bb->mod->n; i++)
        if (bb->mod->entries[i].kind == IRMOD_PRIM) {
            uint64_t h = tir_structural_hash(bb->mod->entries[i].prim);
            if (!u64map_find(&bb->prim_by_hash, h))
                u64map_upsert(&bb->prim_by_hash, h, NULL)->value.p = (void *)bb->mod->entries[i].name;
        }
}

rx_expr *bb_add_prim_func(rx_builder *bb, mlcc_prim_func *f, const char *name_hint) {
    index_prims(bb);
    uint64_t h = tir_structural_hash(f);
    mlcc_u64map_entry *hit = u64map_find(&bb->prim_by_hash, h);
    if (hit) {
        mlcc_prim_func *old = irmod_get_prim(bb->mod, hit->value.p);
        if (old && tir_structural_equal(old, f)) {
            rx_expr *gv = rx_global_var(hit->value.p);
            gv->sinfo = rx_sinfo_func(NULL, -1, rx_sinfo_object());
            return gv;
        }
    }
    const char *name = irmod_unique_name(bb->mod, name_hint);
    mlcc_prim_func *named = prim_func_copy(f);
    named->name = name;
    irmod_add_prim(bb->mod, name, named);
    if (!hit) u64map_upsert(&bb->prim_by_hash, h, NULL)->value.p = (void *)name;
    rx_expr *gv = rx_global_var(name);
    gv->sinfo = rx_sinfo_func(NULL, -1, rx_sinfo_object());
    return gv;
}

/* ---- normalization and deduction ---- */

/* The most specific struct info describing values of both a and b (for If). */
static rx_sinfo *unify_sinfo(rx_sinfo *a, rx_sinfo *b) {
    if (rx_sinfo_equal(a, b)) return a;
    if (a->kind != b->kind) return rx_sinfo_object();
    if (a->kind == SI_TENSOR) {
        mlcc_dtype t = dtype_eq(a->dtype, b->dtype) ? a->dtype : DT_VOID;
        return rx_sinfo_tensor_ndim(a->ndim == b->ndim ? a->ndim : -1, t);
    }
    if (a->kind == SI_SHAPE) return rx_sinfo_shape(NULL, a->ndim == b->ndim ? a->ndim : -1);
    if (a->kind == SI_PRIM) return dtype_eq(a->dtype, b->dtype) ? a : rx_sinfo_prim(DT_VOID);
    if (a->kind == SI_TUPLE && a->nfields == b->nfields) {
        rx_sinfo **fs = ir_alloc(sizeof(rx_sinfo *) * (size_t)(a->nfields + 1));
        for (int i = 0; i < a->nfields; i++) fs[i] = unify_sinfo(a->fields[i], b->fields[i]);
        return rx_sinfo_tuple(fs, a->nfields);
    }
    return rx_sinfo_object();
}

rx_sinfo *bb_infer(rx_builder *bb, const rx_expr *e) {
    switch (e->kind) {
    case RX_IF: {
        rx_sinfo *c = e->if_.cond->sinfo;
        int scalar_bool = c && ((c->kind == SI_PRIM && dtype_is_bool(c->dtype)) ||
                                (c->kind == SI_TENSOR && c->ndim == 0 && dtype_is_bool(c->dtype)));
        if (!scalar_bool) {
            mlcc_set_error("If: the condition must be a boolean scalar");
            return NULL;
        }
        if (!e->if_.then_->sinfo || !e->if_.else_->sinfo) {
            mlcc_set_error("If: a branch has no struct info");
            return NULL;
        }
        return unify_sinfo(e->if_.then_->sinfo, e->if_.else_->sinfo);
    }
    case RX_GLOBAL_VAR: return e->sinfo ? e->sinfo : irmod_global_sinfo(bb->mod, e->var.name);
    case RX_TUPLE: {
        rx_sinfo **fs = ir_alloc(sizeof(rx_sinfo *) * (size_t)(e->tuple.n + 1));
        for (int i = 0; i < e->tuple.n; i++) {
            fs[i] = e->tuple.fields[i]->sinfo;
            if (!fs[i]) {
                mlcc_set_error("tuple field %d has no struct info", i);
                return NULL;
            }
        }
        return rx_sinfo_tuple(fs, e->tuple.n);
    }
    case RX_TUPLE_GET_ITEM: {
        rx_sinfo *t = e->get_item.tuple->sinfo;
        if (!t || t->kind != SI_TUPLE) {
            mlcc_set_error("TupleGetItem: operand is not a tuple");
            return NULL;
        }
        if (e->get_item.index < 0 || e->get_item.index >= t->nfields) {
            mlcc_set_error("TupleGetItem: index %d out of range for a tuple of %d fields", e->get_item.index,
                           t->nfields);
            return NULL;
        }
        return t->fields[e->get_item.index];
    }
    case RX_CALL: {
        rx_expr *callee = e->call.callee;
        if (callee->kind == RX_OP) {
            if (!callee->op->infer) return rx_sinfo_object();
            return callee->op->infer(e);
        }
        rx_sinfo *fs = callee->kind == RX_GLOBAL_VAR ? bb_infer(bb, callee) : callee->sinfo;
        if (!fs) return NULL;
        if (fs->kind != SI_FUNC) {
            mlcc_set_error("call: callee is not a function");
            return NULL;
        }
        if (callee->kind == RX_GLOBAL_VAR && irmod_get_prim(bb->mod, callee->var.name)) {
            mlcc_set_error("call: '%s' is a PrimFunc; call it through call_tir", callee->var.name);
            return NULL;
        }
        rx_bindings bound = {.n = 0};
        if (fs->nfields >= 0) {
            if (fs->nfields != e->call.nargs) {
                mlcc_set_error("call: function expects %d arguments, got %d", fs->nfields, e->call.nargs);
                return NULL;
            }
            for (int i = 0; i < e->call.nargs; i++)
                if (e->call.args[i]->sinfo && !rx_sinfo_match_param(fs->fields[i], e->call.args[i]->sinfo, &bound)) {
                    char *want = rx_sinfo_to_string(fs->fields[i]), *got = rx_sinfo_to_string(e->call.args[i]->sinfo);
                    mlcc_set_error("call: argument %d is %s, the function expects %s", i, got, want);
                    free(want);
                    free(got);
                    return NULL;
                }
        }
        return rx_sinfo_substitute(fs->ret, &bound);
    }
    default:
        if (!e->sinfo) {
            mlcc_set_error("expression has no struct info");
            return NULL;
        }
        return e->sinfo;
    }
}

static rx_expr *emit_var(rx_builder *bb, rx_expr *value, const char *hint, int output);

/* An argument position: leaves and tuples of leaves stay inline, anything else is bound. */
static rx_expr *normalize_arg(rx_builder *bb, rx_expr *a) {
    if (!a) return NULL;
    if (rx_is_leaf(a)) return bb_normalize(bb, a);
    if (a->kind == RX_TUPLE) return bb_normalize(bb, a);
    rx_expr *n = bb_normalize(bb, a);
    if (!n) return NULL;
    return emit_var(bb, n, "lv", 0);
}

rx_expr *bb_normalize(rx_builder *bb, rx_expr *e) {
    if (!e) return NULL;
    switch (e->kind) {
    case RX_GLOBAL_VAR:
        if (e->sinfo) return e;
        {
            rx_sinfo *s = bb_infer(bb, e);
            return s ? rx_with_sinfo(e, s) : NULL;
        }
    case RX_TUPLE: {
        rx_expr **fs = ir_alloc(sizeof(rx_expr *) * (size_t)(e->tuple.n + 1));
        int changed = 0;
        for (int i = 0; i < e->tuple.n; i++) {
            rx_expr *f = e->tuple.fields[i];
            fs[i] = rx_is_leaf(f) ? bb_normalize(bb, f) : normalize_arg(bb, f);
            if (!fs[i]) return NULL;
            if (f->kind == RX_TUPLE && fs[i] != f) changed = 1;
            changed |= fs[i] != f;
        }
        rx_expr *t = changed ? rx_tuple(fs, e->tuple.n) : e;
        if (t->sinfo) return t;
        rx_sinfo *s = bb_infer(bb, t);
        return s ? rx_with_sinfo(t, s) : NULL;
    }
    case RX_TUPLE_GET_ITEM: {
        rx_expr *t = e->get_item.tuple;
        rx_expr *nt = t->kind == RX_TUPLE ? bb_normalize(bb, t) : normalize_arg(bb, t);
        if (!nt) return NULL;
        rx_expr *g = nt == t ? e : rx_tuple_get_item(nt, e->get_item.index);
        if (g->sinfo) return g;
        rx_sinfo *s = bb_infer(bb, g);
        return s ? rx_with_sinfo(g, s) : NULL;
    }
    case RX_CALL: {
        rx_expr **args = ir_alloc(sizeof(rx_expr *) * (size_t)(e->call.nargs + 1));
        int changed = 0;
        for (int i = 0; i < e->call.nargs; i++) {
            args[i] = normalize_arg(bb, e->call.args[i]);
            if (!args[i]) return NULL;
            changed |= args[i] != e->call.args[i];
        }
        rx_expr *callee = e->call.callee;
        if (callee->kind == RX_GLOBAL_VAR && !callee->sinfo) {
            callee = bb_normalize(bb, callee);
            if (!callee) return NULL;
            changed = 1;
        }
        rx_expr *c = changed ? rx_call(callee, args, e->call.nargs, e->call.attrs, e->call.sinfo_args,
                                       e->call.nsinfo_args)
                             : e;
        if (c->sinfo) return c;
        rx_sinfo *s = bb_infer(bb, c);
        return s ? rx_with_sinfo(c, s) : NULL;
    }
    case RX_IF: {
        if (e->sinfo) return e;
        rx_expr *cond = normalize_arg(bb, e->if_.cond);
        if (!cond) return NULL;
        rx_expr *i = cond == e->if_.cond ? (rx_expr *)e : rx_if(cond, e->if_.then_, e->if_.else_);
        rx_sinfo *s = bb_infer(bb, i);
        return s ? rx_with_sinfo(i, s) : NULL;
    }
    default:
        if (!e->sinfo) {
            mlcc_set_error("expression of kind %d has no struct info", (int)e->kind);
            return NULL;
        }
        return e;
    }
}

static rx_expr *emit_var(rx_builder *bb, rx_expr *value, const char *hint, int output) {
    int dataflow = bb_in_dataflow(bb) && !output;
    rx_expr *var = dataflow ? rx_dataflow_var(hint, value->sinfo) : rx_var(hint, value->sinfo);
    rx_binding b = {var, value, NULL};
    bb_emit_binding(bb, b);
    return var;
}

rx_expr *bb_emit(rx_builder *bb, rx_expr *value, const char *name_hint) {
    if (bb->error || !value) return NULL;
    rx_expr *n = bb_normalize(bb, value);
    if (!n) return fail(bb);
    return emit_var(bb, n, name_hint ? name_hint : "lv", 0);
}

rx_expr *bb_emit_output(rx_builder *bb, rx_expr *value, const char *name_hint) {
    if (bb->error || !value) return NULL;
    rx_expr *n = bb_normalize(bb, value);
    if (!n) return fail(bb);
    return emit_var(bb, n, name_hint ? name_hint : "gv", 1);
}

rx_expr *bb_match_cast(rx_builder *bb, rx_expr *value, rx_sinfo *sinfo, const char *name_hint) {
    if (bb->error || !value) return NULL;
    rx_expr *n = normalize_arg(bb, value);
    if (!n) return fail(bb);
    rx_sinfo *have = n->sinfo;
    int ok = have->kind == SI_OBJECT || have->kind == sinfo->kind;
    if (ok && sinfo->kind == SI_TENSOR) {
        if (have->ndim >= 0 && sinfo->ndim >= 0 && have->ndim != sinfo->ndim) ok = 0;
        if (!dtype_is_void(have->dtype) && !dtype_is_void(sinfo->dtype) && !dtype_eq(have->dtype, sinfo->dtype))
            ok = 0;
    }
    if (!ok) {
        char *a = rx_sinfo_to_string(have), *b = rx_sinfo_to_string(sinfo);
        mlcc_set_error("match_cast: value of %s can never match %s", a, b);
        free(a);
        free(b);
        return fail(bb);
    }
    const char *hint = name_hint ? name_hint : "lv";
    rx_expr *var = bb_in_dataflow(bb) ? rx_dataflow_var(hint, sinfo) : rx_var(hint, sinfo);
    rx_binding b = {var, n, sinfo};
    bb_emit_binding(bb, b);
    return var;
}
