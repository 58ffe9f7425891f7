/* op_util.c - operand checks, symbolic dims and legalization plumbing (see op_util.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arith/analyzer.h"
#include "ir/printer.h"
#include "op/op_util.h"
#include "support/error.h"
#include "support/strbuf.h"

const char *op_short_name(const rx_expr *call) {
    const char *name = call->call.callee->op->name;
    const char *dot = strrchr(name, '.');
    return dot ? dot + 1 : name;
}

static void sinfo_brief(const rx_sinfo *s, mlcc_strbuf *out) {
    char tb[24];
    if (s->kind != SI_TENSOR) {
        rx_sinfo_print(s, out);
        return;
    }
    sb_append(out, "Tensor(");
    if (s->shape) {
        sb_append_char(out, '(');
        for (int i = 0; i < s->ndim; i++) {
            if (i) sb_append(out, ", ");
            tir_print_expr(s->shape[i], out);
        }
        sb_append(out, s->ndim == 1 ? ",)" : ")");
    } else if (s->ndim >= 0) {
        sb_printf(out, "ndim=%d", s->ndim);
    } else {
        sb_append(out, "ndim=?");
    }
    if (!dtype_is_void(s->dtype)) sb_printf(out, ", \"%s\"", dtype_str(s->dtype, tb));
    sb_append_char(out, ')');
}

char *op_operand_desc(const rx_expr *call, int i) {
    mlcc_strbuf sb = STRBUF_INIT;
    const rx_expr *a = call->call.args[i];
    if (rx_is_var(a)) sb_printf(&sb, "%s: ", a->var.name);
    else sb_printf(&sb, "operand %d: ", i);
    if (a->sinfo) sinfo_brief(a->sinfo, &sb);
    else sb_append(&sb, "?");
    return sb_detach(&sb);
}

rx_sinfo *op_tensor_arg(const rx_expr *call, int i) {
    if (i >= call->call.nargs) {
        mlcc_set_error("%s: expects at least %d operands, got %d", call->call.callee->op->name, i + 1,
                       call->call.nargs);
        return NULL;
    }
    rx_sinfo *s = call->call.args[i]->sinfo;
    if (!s || s->kind != SI_TENSOR) {
        char *d = op_operand_desc(call, i);
        mlcc_set_error("%s: %s is not a tensor", call->call.callee->op->name, d);
        free(d);
        return NULL;
    }
    if (s->ndim > OP_MAX_NDIM) {
        /* the ops index with fixed arrays of this size */
        mlcc_set_error("%s: operand %d has %d dimensions (at most %d are supported)", call->call.callee->op->name, i,
                       s->ndim, OP_MAX_NDIM);
        return NULL;
    }
    return s;
}

rx_sinfo *op_tensor_arg_shaped(const rx_expr *call, int i) {
    rx_sinfo *s = op_tensor_arg(call, i);
    if (s && !s->shape) {
        char *d = op_operand_desc(call, i);
        mlcc_set_error("%s: the shape of %s is unknown (match_cast it first)", call->call.callee->op->name, d);
        free(d);
        return NULL;
    }
    return s;
}

int op_check_same_dtype(const rx_expr *call, int i, int j) {
    rx_sinfo *a = call->call.args[i]->sinfo, *b = call->call.args[j]->sinfo;
    if (dtype_is_void(a->dtype) || dtype_is_void(b->dtype) || dtype_eq(a->dtype, b->dtype)) return 0;
    char *da = op_operand_desc(call, i), *db = op_operand_desc(call, j);
    mlcc_set_error("%s: dtype mismatch between %s and %s", call->call.callee->op->name, da, db);
    free(da);
    free(db);
    return -1;
}

int op_normalize_axis(const rx_expr *call, int64_t axis, int ndim, int *out) {
    int64_t a = axis < 0 ? axis + ndim : axis;
    if (a < 0 || a >= ndim)
        return mlcc_set_error("%s: axis %lld is out of range for a tensor of %d dimensions",
                              call->call.callee->op->name, (long long)axis, ndim);
    *out = (int)a;
    return 0;
}

int dim_equal(mlcc_expr *a, mlcc_expr *b) {
    if (prim_expr_same(a, b)) return 1;
    if (expr_is_const(a) && expr_is_const(b)) return 0;
    arith_analyzer *an = arith_new();
    int eq = arith_prove_equal(an, a, b);
    arith_free(an);
    return eq;
}

int dim_differ(mlcc_expr *a, mlcc_expr *b) {
    return a->kind == EXPR_INT && b->kind == EXPR_INT && a->int_value != b->int_value;
}

mlcc_expr *dims_product(mlcc_expr **dims, int n) {
    mlcc_expr *p = ir_int(1);
    for (int i = 0; i < n; i++) p = ir_mul(p, dims[i]);
    return p;
}

/* ---- legalization ---- */

te_tensor *leg_input_expr(const rx_expr *e, const char *name) {
    return te_placeholder(name, e->sinfo->dtype, e->sinfo->shape, e->sinfo->ndim);
}

te_tensor *leg_input(const rx_expr *call, int i, const char *name) {
    return leg_input_expr(call->call.args[i], name);
}

const char *leg_out_name(const rx_expr *call) {
    char buf[96];
    snprintf(buf, sizeof buf, "T_%s", op_short_name(call));
    return ir_strdup(buf);
}

mlcc_expr **leg_out_shape(const rx_expr *call, int *ndim) {
    *ndim = call->sinfo->ndim;
    return call->sinfo->shape;
}

rx_expr *leg_finish(rx_builder *bb, const rx_expr *call, te_tensor **inputs, rx_expr **args, int ninputs,
                    te_tensor **outputs, int noutputs) {
    te_tensor **params = ir_alloc(sizeof(te_tensor *) * (size_t)(ninputs + noutputs + 1));
    for (int i = 0; i < ninputs; i++) params[i] = inputs[i];
    for (int i = 0; i < noutputs; i++) params[ninputs + i] = outputs[i];
    const char *name = op_short_name(call);
    mlcc_prim_func *f = te_create_prim_func(name, params, ninputs + noutputs);
    if (!f) return NULL;
    rx_expr *gv = bb_add_prim_func(bb, f, name);
    rx_expr *c = op_call_tir(gv, args, ninputs, call->sinfo);
    return rx_with_sinfo(c, call->sinfo);
}
