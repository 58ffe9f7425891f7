/* struct_info.c - struct info values (see graph.h): constructors, equality, subtyping,
 * printing, and the attribute lists shared by calls and functions. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "ir/graph.h"
#include "ir/functor.h"
#include "ir/printer.h"
#include "support/alloc.h"
#include "support/hashmap.h"

static rx_sinfo *new_sinfo(rx_sinfo_kind kind) {
    rx_sinfo *s = ir_alloc(sizeof *s);
    memset(s, 0, sizeof *s);
    s->kind = kind;
    s->dtype = DT_VOID;
    s->ndim = -1;
    return s;
}

static mlcc_expr **copy_exprs(mlcc_expr **v, int n) {
    if (!v) return NULL;
    mlcc_expr **c = ir_alloc(sizeof(mlcc_expr *) * (size_t)(n + 1));
    if (n) memcpy(c, v, sizeof(mlcc_expr *) * (size_t)n);
    return c;
}

rx_sinfo *rx_sinfo_object(void) {
    return new_sinfo(SI_OBJECT);
}

rx_sinfo *rx_sinfo_prim(mlcc_dtype t) {
    rx_sinfo *s = new_sinfo(SI_PRIM);
    s->dtype = t;
    return s;
}

rx_sinfo *rx_sinfo_shape(mlcc_expr **values, int ndim) {
    rx_sinfo *s = new_sinfo(SI_SHAPE);
    s->ndim = ndim;
    s->shape = ndim >= 0 ? copy_exprs(values, ndim) : NULL;
    return s;
}

rx_sinfo *rx_sinfo_tensor(mlcc_expr **shape, int ndim, mlcc_dtype t) {
    rx_sinfo *s = new_sinfo(SI_TENSOR);
    s->ndim = ndim;
    s->dtype = t;
    s->shape = ndim >= 0 ? copy_exprs(shape, ndim) : NULL;
    return s;
}

rx_sinfo *rx_sinfo_tensor_ndim(int ndim, mlcc_dtype t) {
    return rx_sinfo_tensor(NULL, ndim, t);
}

rx_sinfo *rx_sinfo_tensor_v(mlcc_dtype t, ...) {
    mlcc_expr *dims[16];
    int n = 0;
    va_list ap;
    va_start(ap, t);
    for (mlcc_expr *e; n < 16 && (e = va_arg(ap, mlcc_expr *)) != NULL;) dims[n++] = e;
    va_end(ap);
    return rx_sinfo_tensor(dims, n, t);
}

rx_sinfo *rx_sinfo_tuple(rx_sinfo **fields, int n) {
    rx_sinfo *s = new_sinfo(SI_TUPLE);
    s->nfields = n;
    s->fields = ir_alloc(sizeof(rx_sinfo *) * (size_t)(n + 1));
    if (n) memcpy(s->fields, fields, sizeof(rx_sinfo *) * (size_t)n);
    return s;
}

rx_sinfo *rx_sinfo_func(rx_sinfo **params, int nparams, rx_sinfo *ret) {
    rx_sinfo *s = new_sinfo(SI_FUNC);
    if (params) {
        s->fields = ir_alloc(sizeof(rx_sinfo *) * (size_t)(nparams + 1));
        if (nparams) memcpy(s->fields, params, sizeof(rx_sinfo *) * (size_t)nparams);
        s->nfields = nparams;
    } else {
        s->nfields = -1; /* opaque: any arguments */
    }
    s->ret = ret ? ret : rx_sinfo_object();
    return s;
}

/* ---- equality ---- */

int prim_expr_same(const mlcc_expr *a, const mlcc_expr *b) {
    if (a == b) return 1;
    if (!a || !b || a->kind != b->kind || !dtype_eq(a->dtype, b->dtype)) return 0;
    switch (a->kind) {
    case EXPR_INT: return a->int_value == b->int_value;
    case EXPR_FLOAT: return a->float_value == b->float_value;
    case EXPR_VAR: return 0; /* vars are equal only to themselves */
    case EXPR_NOT:
    case EXPR_CAST: return prim_expr_same(a->un.a, b->un.a);
    case EXPR_SELECT:
        return prim_expr_same(a->select.cond, b->select.cond) && prim_expr_same(a->select.t, b->select.t) &&
               prim_expr_same(a->select.f, b->select.f);
    case EXPR_CALL:
        if (a->call.op != b->call.op || a->call.nargs != b->call.nargs) return 0;
        for (int i = 0; i < a->call.nargs; i++)
            if (!prim_expr_same(a->call.args[i], b->call.args[i])) return 0;
        return 1;
    default:
        if (expr_is_binary(a->kind)) return prim_expr_same(a->bin.a, b->bin.a) && prim_expr_same(a->bin.b, b->bin.b);
        return 0;
    }
}

static int shapes_same(mlcc_expr **a, mlcc_expr **b, int n) {
    if (!a || !b) return a == b;
    for (int i = 0; i < n; i++)
        if (!prim_expr_same(a[i], b[i])) return 0;
    return 1;
}

int rx_sinfo_equal(const rx_sinfo *a, const rx_sinfo *b) {
    if (a == b) return 1;
    if (!a || !b || a->kind != b->kind) return 0;
    switch (a->kind) {
    case SI_OBJECT: return 1;
    case SI_PRIM: return dtype_eq(a->dtype, b->dtype);
    case SI_SHAPE: return a->ndim == b->ndim && shapes_same(a->shape, b->shape, a->ndim);
    case SI_TENSOR:
        return dtype_eq(a->dtype, b->dtype) && a->ndim == b->ndim && shapes_same(a->shape, b->shape, a->ndim);
    case SI_TUPLE:
    case SI_FUNC:
        if (a->nfields != b->nfields) return 0;
        for (int i = 0; i < a->nfields; i++)
            if (!rx_sinfo_equal(a->fields[i], b->fields[i])) return 0;
        return a->kind == SI_TUPLE || rx_sinfo_equal(a->ret, b->ret);
    }
    return 0;
}

int rx_sinfo_is_base_of(const rx_sinfo *base, const rx_sinfo *sub) {
    if (base->kind == SI_OBJECT) return 1;
    if (base->kind != sub->kind) return 0;
    switch (base->kind) {
    case SI_OBJECT: return 1;
    case SI_PRIM: return dtype_is_void(base->dtype) || dtype_eq(base->dtype, sub->dtype);
    case SI_SHAPE:
    case SI_TENSOR:
        if (base->kind == SI_TENSOR && !dtype_is_void(base->dtype) && !dtype_eq(base->dtype, sub->dtype)) return 0;
        if (base->ndim < 0) return 1;
        if (base->ndim != sub->ndim) return 0;
        if (!base->shape) return 1;
        return shapes_same(base->shape, sub->shape, base->ndim);
    case SI_TUPLE:
        if (base->nfields != sub->nfields) return 0;
        for (int i = 0; i < base->nfields; i++)
            if (!rx_sinfo_is_base_of(base->fields[i], sub->fields[i])) return 0;
        return 1;
    case SI_FUNC:
        if (base->nfields < 0) return 1;
        return rx_sinfo_equal(base, sub);
    }
    return 0;
}

/* ---- calls of functions with symbolic shapes ---- */

static mlcc_expr *bound_value(const rx_bindings *b, const mlcc_expr *var) {
    for (int i = 0; i < b->n; i++)
        if (b->vars[i] == var) return b->values[i];
    return NULL;
}

static int match_dims(mlcc_expr **param, mlcc_expr **arg, int ndim, rx_bindings *b) {
    if (!param) return 1;
    if (!arg) return 0;
    for (int d = 0; d < ndim; d++) {
        mlcc_expr *p = param[d];
        if (p->kind == EXPR_VAR) {
            mlcc_expr *v = bound_value(b, p);
            if (v) {
                if (!prim_expr_same(v, arg[d])) return 0;
            } else {
                if (b->n == RX_MAX_BINDINGS) return 0;
                b->vars[b->n] = p, b->values[b->n] = arg[d], b->n++;
            }
        } else if (!prim_expr_same(expr_substitute(p, b->vars, b->values, b->n), arg[d])) {
            return 0;
        }
    }
    return 1;
}

int rx_sinfo_match_param(const rx_sinfo *param, const rx_sinfo *arg, rx_bindings *b) {
    if (param->kind == SI_OBJECT) return 1;
    if (param->kind != arg->kind) return 0;
    switch (param->kind) {
    case SI_SHAPE:
    case SI_TENSOR:
        if (param->kind == SI_TENSOR && !dtype_is_void(param->dtype) && !dtype_eq(param->dtype, arg->dtype)) return 0;
        if (param->ndim < 0) return 1;
        return param->ndim == arg->ndim && match_dims(param->shape, arg->shape, param->ndim, b);
    case SI_TUPLE:
        if (param->nfields != arg->nfields) return 0;
        for (int i = 0; i < param->nfields; i++)
            if (!rx_sinfo_match_param(param->fields[i], arg->fields[i], b)) return 0;
        return 1;
    default: return rx_sinfo_is_base_of(param, arg);
    }
}

rx_sinfo *rx_sinfo_substitute(const rx_sinfo *s, const rx_bindings *b) {
    if (!s || b->n == 0) return (rx_sinfo *)s;
    switch (s->kind) {
    case SI_SHAPE:
    case SI_TENSOR: {
        if (!s->shape) return (rx_sinfo *)s;
        mlcc_expr **dims = ir_alloc(sizeof(mlcc_expr *) * (size_t)(s->ndim > 0 ? s->ndim : 1));
        for (int d = 0; d < s->ndim; d++) dims[d] = expr_substitute(s->shape[d], (mlcc_expr **)b->vars, (mlcc_expr **)b->values, b->n);
        return s->kind == SI_SHAPE ? rx_sinfo_shape(dims, s->ndim) : rx_sinfo_tensor(dims, s->ndim, s->dtype);
    }
    case SI_TUPLE: {
        rx_sinfo **fields = ir_alloc(sizeof(rx_sinfo *) * (size_t)(s->nfields > 0 ? s->nfields : 1));
        for (int i = 0; i < s->nfields; i++) fields[i] = rx_sinfo_substitute(s->fields[i], b);
        return rx_sinfo_tuple(fields, s->nfields);
    }
    default: return (rx_sinfo *)s;
    }
}

/* ---- printing ---- */

static void print_dims(mlcc_expr **shape, int ndim, mlcc_strbuf *out) {
    for (int i = 0; i < ndim; i++) {
        if (i) sb_append(out, ", ");
        tir_print_expr(shape[i], out);
    }
}

void rx_sinfo_print(const rx_sinfo *s, mlcc_strbuf *out) {
    char tb[24];
    switch (s->kind) {
    case SI_OBJECT: sb_append(out, "R.Object"); return;
    case SI_PRIM: sb_printf(out, "R.Prim(\"%s\")", dtype_str(s->dtype, tb)); return;
    case SI_SHAPE:
        if (s->shape) {
            sb_append(out, "R.Shape([");
            print_dims(s->shape, s->ndim, out);
            sb_append(out, "])");
        } else if (s->ndim >= 0) {
            sb_printf(out, "R.Shape(ndim=%d)", s->ndim);
        } else {
            sb_append(out, "R.Shape");
        }
        return;
    case SI_TENSOR:
        sb_append(out, "R.Tensor(");
        if (s->shape) {
            sb_append(out, "(");
            print_dims(s->shape, s->ndim, out);
            sb_append(out, s->ndim == 1 ? ",)" : ")");
            if (!dtype_is_void(s->dtype)) sb_printf(out, ", dtype=\"%s\"", dtype_str(s->dtype, tb));
        } else {
            int any = 0;
            if (!dtype_is_void(s->dtype)) sb_printf(out, "dtype=\"%s\"", dtype_str(s->dtype, tb)), any = 1;
            if (s->ndim >= 0) sb_printf(out, "%sndim=%d", any ? ", " : "", s->ndim);
        }
        sb_append(out, ")");
        return;
    case SI_TUPLE:
        sb_append(out, "R.Tuple(");
        for (int i = 0; i < s->nfields; i++) {
            if (i) sb_append(out, ", ");
            rx_sinfo_print(s->fields[i], out);
        }
        sb_append(out, ")");
        return;
    case SI_FUNC:
        sb_append(out, "R.Callable(");
        if (s->nfields >= 0) {
            sb_append(out, "(");
            for (int i = 0; i < s->nfields; i++) {
                if (i) sb_append(out, ", ");
                rx_sinfo_print(s->fields[i], out);
            }
            sb_append(out, "), ");
            rx_sinfo_print(s->ret, out);
        }
        sb_append(out, ")");
        return;
    }
}

char *rx_sinfo_to_string(const rx_sinfo *s) {
    mlcc_strbuf sb = STRBUF_INIT;
    rx_sinfo_print(s, &sb);
    return sb_detach(&sb);
}

typedef struct var_list {
    mlcc_expr ***vars;
    int *n, *cap;
} var_list;

static void push_var(var_list *l, mlcc_expr *v) {
    for (int i = 0; i < *l->n; i++)
        if ((*l->vars)[i] == v) return;
    if (*l->n == *l->cap) {
        int cap = *l->cap ? *l->cap * 2 : 8;
        mlcc_expr **grown = ir_alloc(sizeof(mlcc_expr *) * (size_t)cap);
        if (*l->n) memcpy(grown, *l->vars, sizeof(mlcc_expr *) * (size_t)*l->n);
        *l->vars = grown;
        *l->cap = cap;
    }
    (*l->vars)[(*l->n)++] = v;
}

static int visit_var(ir_visitor *v, mlcc_expr *e) {
    if (e->kind == EXPR_VAR) push_var(v->ctx, e);
    return 1;
}

void rx_sinfo_collect_vars(const rx_sinfo *s, mlcc_expr ***vars, int *n, int *cap) {
    var_list l = {vars, n, cap};
    ir_visitor v = {visit_var, NULL, &l};
    if ((s->kind == SI_TENSOR || s->kind == SI_SHAPE) && s->shape)
        for (int i = 0; i < s->ndim; i++) ir_visit_expr(&v, s->shape[i]);
    if (s->kind == SI_TUPLE || s->kind == SI_FUNC)
        for (int i = 0; i < s->nfields; i++) rx_sinfo_collect_vars(s->fields[i], vars, n, cap);
    if (s->kind == SI_FUNC) rx_sinfo_collect_vars(s->ret, vars, n, cap);
}

/* ---- attributes ---- */

static rx_attrs attrs_with(rx_attrs a, rx_attr item) {
    rx_attrs r;
    r.items = ir_alloc(sizeof(rx_attr) * (size_t)(a.n + 1));
    r.n = 0;
    int replaced = 0;
    for (int i = 0; i < a.n; i++) {
        if (a.items[i].key == item.key) {
            r.items[r.n++] = item;
            replaced = 1;
        } else {
            r.items[r.n++] = a.items[i];
        }
    }
    if (!replaced) r.items[r.n++] = item;
    return r;
}

static rx_attr attr_new(const char *key, rx_attr_kind kind) {
    rx_attr a;
    memset(&a, 0, sizeof a);
    a.key = mlcc_intern(key);
    a.kind = kind;
    return a;
}

rx_attrs rx_attrs_set_int(rx_attrs a, const char *key, int64_t v) {
    rx_attr x = attr_new(key, ATTR_INT);
    x.i = v;
    return attrs_with(a, x);
}

rx_attrs rx_attrs_set_float(rx_attrs a, const char *key, double v) {
    rx_attr x = attr_new(key, ATTR_FLOAT);
    x.f = v;
    return attrs_with(a, x);
}

rx_attrs rx_attrs_set_str(rx_attrs a, const char *key, const char *v) {
    rx_attr x = attr_new(key, ATTR_STR);
    x.s = ir_strdup(v);
    return attrs_with(a, x);
}

rx_attrs rx_attrs_set_ints(rx_attrs a, const char *key, const int64_t *v, int n) {
    rx_attr x = attr_new(key, ATTR_INTS);
    x.ints = ir_alloc(sizeof(int64_t) * (size_t)(n + 1));
    if (n) memcpy(x.ints, v, sizeof(int64_t) * (size_t)n);
    x.nints = n;
    return attrs_with(a, x);
}

rx_attrs rx_attrs_set_dtype(rx_attrs a, const char *key, mlcc_dtype t) {
    rx_attr x = attr_new(key, ATTR_DTYPE);
    x.dtype = t;
    return attrs_with(a, x);
}

const rx_attr *rx_attrs_get(rx_attrs a, const char *key) {
    for (int i = 0; i < a.n; i++)
        if (strcmp(a.items[i].key, key) == 0) return &a.items[i];
    return NULL;
}

int64_t rx_attrs_int(rx_attrs a, const char *key, int64_t dflt) {
    const rx_attr *x = rx_attrs_get(a, key);
    return x && x->kind == ATTR_INT ? x->i : dflt;
}

double rx_attrs_float(rx_attrs a, const char *key, double dflt) {
    const rx_attr *x = rx_attrs_get(a, key);
    if (x && x->kind == ATTR_FLOAT) return x->f;
    if (x && x->kind == ATTR_INT) return (double)x->i;
    return dflt;
}

const char *rx_attrs_str(rx_attrs a, const char *key) {
    const rx_attr *x = rx_attrs_get(a, key);
    return x && x->kind == ATTR_STR ? x->s : NULL;
}
