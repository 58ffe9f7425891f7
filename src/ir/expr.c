/* expr.c - constructors and small queries for graph expressions (see graph.h). */
#include <string.h>

#include "ir/graph.h"
#include "support/hashmap.h"

static rx_expr *new_expr(rx_expr_kind kind, rx_sinfo *sinfo) {
    rx_expr *e = ir_alloc(sizeof *e);
    memset(e, 0, sizeof *e);
    e->kind = kind;
    e->sinfo = sinfo;
    return e;
}

static void *copy_array(const void *src, size_t elem, int n) {
    void *d = ir_alloc(elem * (size_t)(n + 1));
    if (n > 0 && src) memcpy(d, src, elem * (size_t)n);
    return d;
}

rx_expr *rx_var(const char *name, rx_sinfo *sinfo) {
    rx_expr *e = new_expr(RX_VAR, sinfo);
    e->var.name = ir_strdup(name);
    return e;
}

rx_expr *rx_dataflow_var(const char *name, rx_sinfo *sinfo) {
    rx_expr *e = new_expr(RX_DATAFLOW_VAR, sinfo);
    e->var.name = ir_strdup(name);
    return e;
}

rx_expr *rx_global_var(const char *name) {
    rx_expr *e = new_expr(RX_GLOBAL_VAR, NULL);
    e->var.name = mlcc_intern(name);
    return e;
}

rx_expr *rx_op_ref(const rx_op_def *op) {
    rx_expr *e = new_expr(RX_OP, rx_sinfo_object());
    e->op = op;
    return e;
}

int64_t rx_constant_numel(const rx_expr *c) {
    int64_t n = 1;
    for (int i = 0; i < c->constant.ndim; i++) n *= c->constant.shape[i];
    return n;
}

rx_expr *rx_constant(mlcc_dtype t, const int64_t *shape, int ndim, const void *data) {
    mlcc_expr **dims = ir_alloc(sizeof(mlcc_expr *) * (size_t)(ndim + 1));
    for (int i = 0; i < ndim; i++) dims[i] = ir_int(shape[i]);
    rx_expr *e = new_expr(RX_CONSTANT, rx_sinfo_tensor(dims, ndim, t));
    e->constant.dtype = t;
    e->constant.ndim = ndim;
    e->constant.shape = copy_array(shape, sizeof(int64_t), ndim);
    e->constant.nbytes = (size_t)rx_constant_numel(e) * (size_t)dtype_bytes(t) * t.lanes;
    e->constant.data = ir_alloc(e->constant.nbytes + 1);
    if (data && e->constant.nbytes) memcpy(e->constant.data, data, e->constant.nbytes);
    return e;
}

rx_expr *rx_tuple(rx_expr **fields, int n) {
    rx_expr *e = new_expr(RX_TUPLE, NULL);
    e->tuple.fields = copy_array(fields, sizeof(rx_expr *), n);
    e->tuple.n = n;
    /* a tuple of typed leaves knows its struct info at once */
    rx_sinfo **fs = ir_alloc(sizeof(rx_sinfo *) * (size_t)(n + 1));
    for (int i = 0; i < n; i++) {
        if (!fields[i]->sinfo) return e;
        fs[i] = fields[i]->sinfo;
    }
    e->sinfo = rx_sinfo_tuple(fs, n);
    return e;
}

rx_expr *rx_tuple_get_item(rx_expr *tuple, int index) {
    rx_expr *e = new_expr(RX_TUPLE_GET_ITEM, NULL);
    e->get_item.tuple = tuple;
    e->get_item.index = index;
    return e;
}

rx_expr *rx_call(rx_expr *callee, rx_expr **args, int nargs, rx_attrs attrs, rx_sinfo **sinfo_args,
                 int nsinfo_args) {
    rx_expr *e = new_expr(RX_CALL, NULL);
    e->call.callee = callee;
    e->call.args = copy_array(args, sizeof(rx_expr *), nargs);
    e->call.nargs = nargs;
    e->call.attrs = attrs;
    e->call.sinfo_args = copy_array(sinfo_args, sizeof(rx_sinfo *), nsinfo_args);
    e->call.nsinfo_args = nsinfo_args;
    return e;
}

rx_expr *rx_shape_expr(mlcc_expr **values, int ndim) {
    rx_expr *e = new_expr(RX_SHAPE_EXPR, rx_sinfo_shape(values, ndim));
    e->shape_expr.values = copy_array(values, sizeof(mlcc_expr *), ndim);
    e->shape_expr.ndim = ndim;
    return e;
}

rx_expr *rx_prim_value(mlcc_expr *value) {
    rx_expr *e = new_expr(RX_PRIM_VALUE, rx_sinfo_prim(value->dtype));
    e->prim_value = value;
    return e;
}

rx_expr *rx_string_imm(const char *s) {
    rx_expr *e = new_expr(RX_STRING_IMM, rx_sinfo_object());
    e->str = ir_strdup(s);
    return e;
}

rx_expr *rx_if(rx_expr *cond, rx_expr *then_, rx_expr *else_) {
    rx_expr *e = new_expr(RX_IF, NULL);
    e->if_.cond = cond;
    e->if_.then_ = then_;
    e->if_.else_ = else_;
    return e;
}

rx_expr *rx_seq(rx_block *blocks, int nblocks, rx_expr *body) {
    rx_expr *e = new_expr(RX_SEQ, body->sinfo);
    e->seq.blocks = copy_array(blocks, sizeof(rx_block), nblocks);
    e->seq.nblocks = nblocks;
    e->seq.body = body;
    return e;
}

rx_expr *rx_function_new(rx_expr **params, int nparams, rx_expr *body, rx_sinfo *ret, rx_attrs attrs) {
    rx_expr *e = new_expr(RX_FUNCTION, NULL);
    e->func.params = copy_array(params, sizeof(rx_expr *), nparams);
    e->func.nparams = nparams;
    e->func.body = body;
    e->func.ret = ret ? ret : (body->sinfo ? body->sinfo : rx_sinfo_object());
    e->func.attrs = attrs;
    rx_sinfo **ps = ir_alloc(sizeof(rx_sinfo *) * (size_t)(nparams + 1));
    for (int i = 0; i < nparams; i++) ps[i] = params[i]->sinfo;
    e->sinfo = rx_sinfo_func(ps, nparams, e->func.ret);
    return e;
}

rx_expr *rx_with_sinfo(const rx_expr *e, rx_sinfo *sinfo) {
    rx_expr *c = ir_alloc(sizeof *c);
    *c = *e;
    c->sinfo = sinfo;
    return c;
}

int rx_is_op_call(const rx_expr *e, const char *name) {
    return e && e->kind == RX_CALL && e->call.callee->kind == RX_OP && strcmp(e->call.callee->op->name, name) == 0;
}

int rx_is_leaf(const rx_expr *e) {
    switch (e->kind) {
    case RX_VAR:
    case RX_DATAFLOW_VAR:
    case RX_GLOBAL_VAR:
    case RX_OP:
    case RX_CONSTANT:
    case RX_SHAPE_EXPR:
    case RX_PRIM_VALUE:
    case RX_STRING_IMM: return 1;
    default: return 0;
    }
}
