/* manip.c - data movement ops: reshape (with -1, symbolic), permute_dims, concat, split, take
 * (row gather, e.g. an embedding lookup), strided_slice, astype. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arith/analyzer.h"
#include "op/op_util.h"
#include "support/error.h"

static rx_attrs no_attrs(void) {
    rx_attrs a = {NULL, 0};
    return a;
}

/* ---- reshape ---- */

/* A product split into its constant part and its symbolic factors. */
typedef struct factors {
    int64_t c;
    mlcc_expr *f[32];
    int n;
    int overflow;
} factors;

static void factor_into(factors *fs, mlcc_expr *e) {
    if (e->kind == EXPR_INT) {
        if (__builtin_mul_overflow(fs->c, e->int_value, &fs->c)) fs->overflow = 1;
    }
    else if (e->kind == EXPR_MUL) factor_into(fs, e->bin.a), factor_into(fs, e->bin.b);
    else if (fs->n < 32) fs->f[fs->n++] = e;
    else fs->overflow = 1;
}

/* Removes common symbolic factors of a and b (by identity / structure). */
static void cancel(factors *a, factors *b) {
    for (int i = 0; i < a->n; i++)
        for (int j = 0; j < b->n; j++)
            if (prim_expr_same(a->f[i], b->f[j])) {
                a->f[i] = a->f[--a->n];
                b->f[j] = b->f[--b->n];
                i--;
                break;
            }
}

static mlcc_expr *factors_product(const factors *fs) {
    mlcc_expr *p = NULL;
    for (int i = 0; i < fs->n; i++) p = p ? ir_mul(p, fs->f[i]) : fs->f[i];
    if (!p) return ir_int(fs->c);
    return fs->c == 1 ? p : ir_mul(p, ir_int(fs->c));
}

static rx_sinfo *infer_reshape(const rx_expr *call) {
    rx_sinfo *x = op_tensor_arg(call, 0);
    if (!x) return NULL;
    rx_sinfo *sh = call->call.nargs > 1 ? call->call.args[1]->sinfo : NULL;
    if (!sh || sh->kind != SI_SHAPE || !sh->shape) {
        mlcc_set_error("reshape: the new shape must be a shape with known values");
        return NULL;
    }
    int nd = sh->ndim, infer_at = -1;
    mlcc_expr **out = ir_alloc(sizeof(mlcc_expr *) * (size_t)(nd + 1));
    factors want = {1, {0}, 0, 0}, have = {1, {0}, 0, 0};
    for (int i = 0; i < nd; i++) {
        out[i] = sh->shape[i];
        if (expr_is_int(out[i], -1)) {
            if (infer_at >= 0) {
                mlcc_set_error("reshape: more than one -1 in the new shape");
                return NULL;
            }
            infer_at = i;
        } else {
            factor_into(&want, out[i]);
        }
    }
    if (!x->shape) {
        if (infer_at >= 0) return rx_sinfo_tensor_ndim(nd, x->dtype);
        return rx_sinfo_tensor(out, nd, x->dtype);
    }
    for (int i = 0; i < x->ndim; i++) factor_into(&have, x->shape[i]);
    mlcc_expr *numel = dims_product(x->shape, x->ndim);
    cancel(&have, &want);
    char *d = NULL;
    if (infer_at >= 0 && want.c == 0) {
        mlcc_set_error("reshape: cannot infer the -1 dimension next to a zero-size one");
        return NULL;
    }
    if (infer_at >= 0) {
        if (want.n == 0 && !want.overflow && !have.overflow && want.c != 0 && have.c % want.c == 0) {
            have.c /= want.c;
            out[infer_at] = factors_product(&have);
        } else if (want.n == 0 && have.n == 0 && want.c != 0 && have.c % want.c != 0) {
            d = op_operand_desc(call, 0);
            mlcc_set_error("reshape: %s has %lld elements, not divisible by %lld", d, (long long)have.c,
                           (long long)want.c);
            free(d);
            return NULL;
        } else {
            mlcc_expr *known = ir_int(1);
            for (int i = 0; i < nd; i++)
                if (i != infer_at) known = ir_mul(known, out[i]);
            out[infer_at] = arith_simplify_expr(ir_floordiv(numel, known));
        }
    } else if (!have.overflow && !want.overflow && have.n == 0 && want.n == 0 && have.c != want.c) {
        d = op_operand_desc(call, 0);
        mlcc_set_error("reshape: cannot reshape %s (%lld elements) to %lld elements", d, (long long)have.c,
                       (long long)want.c);
        free(d);
        return NULL;
    }
    return rx_sinfo_tensor(out, nd, x->dtype);
}

typedef struct reshape_ctx {
    te_tensor *x;
    mlcc_expr **out_shape;
    int out_nd;
} reshape_ctx;

static mlcc_expr *reshape_body(mlcc_expr **idx, void *ctx) {
    reshape_ctx *c = ctx;
    mlcc_expr *flat = ir_int(0);
    for (int d = 0; d < c->out_nd; d++) flat = ir_add(ir_mul(flat, c->out_shape[d]), idx[d]);
    int nd = c->x->buffer->ndim;
    mlcc_expr **in = ir_alloc(sizeof(mlcc_expr *) * (size_t)(nd + 1));
    for (int d = nd - 1; d >= 0; d--) {
        if (d == 0) {
            in[d] = arith_simplify_expr(flat);
        } else {
            in[d] = arith_simplify_expr(ir_floormod(flat, c->x->buffer->shape[d]));
            flat = ir_floordiv(flat, c->x->buffer->shape[d]);
        }
    }
    return te_load(c->x, in, nd);
}

static rx_expr *legalize_reshape(rx_builder *bb, const rx_expr *call) {
    if (!op_tensor_arg_shaped(call, 0) || !call->sinfo->shape) return NULL;
    reshape_ctx c = {leg_input(call, 0, "x"), call->sinfo->shape, call->sinfo->ndim};
    te_tensor *out = te_compute(leg_out_name(call), call->sinfo->dtype, c.out_shape, c.out_nd, reshape_body, &c);
    return leg_finish(bb, call, &c.x, call->call.args, 1, &out, 1);
}

/* ---- permute_dims ---- */

static int permutation(const rx_expr *call, int nd, int *perm) {
    const rx_attr *a = rx_attrs_get(call->call.attrs, "axes");
    if (!a) {
        for (int i = 0; i < nd; i++) perm[i] = nd - 1 - i;
        return 0;
    }
    if (a->nints != nd) return mlcc_set_error("permute_dims: %d axes given for a tensor of %d dimensions", a->nints, nd);
    int seen[16] = {0};
    for (int i = 0; i < nd; i++) {
        if (op_normalize_axis(call, a->ints[i], nd, &perm[i])) return -1;
        if (seen[perm[i]]++) return mlcc_set_error("permute_dims: axis %d repeated", perm[i]);
    }
    return 0;
}

static rx_sinfo *infer_permute(const rx_expr *call) {
    rx_sinfo *x = op_tensor_arg(call, 0);
    if (!x) return NULL;
    if (x->ndim < 0) return x;
    if (x->ndim > 16) {
        mlcc_set_error("permute_dims: more than 16 dimensions");
        return NULL;
    }
    int perm[16];
    if (permutation(call, x->ndim, perm)) return NULL;
    if (!x->shape) return x;
    mlcc_expr *out[16];
    for (int i = 0; i < x->ndim; i++) out[i] = x->shape[perm[i]];
    return rx_sinfo_tensor(out, x->ndim, x->dtype);
}

typedef struct permute_ctx {
    te_tensor *x;
    int perm[16];
} permute_ctx;

static mlcc_expr *permute_body(mlcc_expr **idx, void *ctx) {
    permute_ctx *c = ctx;
    int nd = c->x->buffer->ndim;
    mlcc_expr *in[16];
    for (int d = 0; d < nd; d++) in[c->perm[d]] = idx[d];
    return te_load(c->x, in, nd);
}

static rx_expr *legalize_permute(rx_builder *bb, const rx_expr *call) {
    if (!op_tensor_arg_shaped(call, 0)) return NULL;
    permute_ctx c;
    c.x = leg_input(call, 0, "x");
    if (permutation(call, c.x->buffer->ndim, c.perm)) return NULL;
    te_tensor *out = te_compute(leg_out_name(call), call->sinfo->dtype, call->sinfo->shape, call->sinfo->ndim,
                                permute_body, &c);
    return leg_finish(bb, call, &c.x, call->call.args, 1, &out, 1);
}

/* ---- concat ---- */

static rx_sinfo *infer_concat(const rx_expr *call) {
    rx_sinfo *t = call->call.nargs == 1 ? call->call.args[0]->sinfo : NULL;
    if (!t || t->kind != SI_TUPLE || t->nfields == 0) {
        mlcc_set_error("concat: expects one non-empty tuple of tensors");
        return NULL;
    }
    rx_sinfo *first = t->fields[0];
    for (int i = 0; i < t->nfields; i++)
        if (t->fields[i]->kind != SI_TENSOR || !t->fields[i]->shape || t->fields[i]->ndim > OP_MAX_NDIM) {
            mlcc_set_error("concat: field %d is not a tensor of known shape (and at most %d dimensions)", i, OP_MAX_NDIM);
            return NULL;
        }
    int nd = first->ndim, axis;
    if (op_normalize_axis(call, rx_attrs_int(call->call.attrs, "axis", 0), nd, &axis)) return NULL;
    mlcc_expr **out = ir_alloc(sizeof(mlcc_expr *) * (size_t)(nd + 1));
    for (int d = 0; d < nd; d++) out[d] = first->shape[d];
    for (int i = 1; i < t->nfields; i++) {
        rx_sinfo *f = t->fields[i];
        char *a = rx_sinfo_to_string(first), *b = rx_sinfo_to_string(f);
        int bad = f->ndim != nd || !dtype_eq(f->dtype, first->dtype);
        for (int d = 0; !bad && d < nd; d++)
            if (d != axis && !dim_equal(f->shape[d], first->shape[d])) bad = 1;
        if (bad) {
            mlcc_set_error("concat: field 0 %s and field %d %s differ outside axis %d", a, i, b, axis);
            free(a), free(b);
            return NULL;
        }
        free(a), free(b);
        out[axis] = ir_add(out[axis], f->shape[axis]);
    }
    return rx_sinfo_tensor(out, nd, first->dtype);
}

typedef struct concat_ctx {
    te_tensor **xs;
    int n, axis;
} concat_ctx;

static mlcc_expr *concat_body(mlcc_expr **idx, void *ctx) {
    concat_ctx *c = ctx;
    int nd = c->xs[0]->buffer->ndim;
    mlcc_expr **offsets = ir_alloc(sizeof(mlcc_expr *) * (size_t)(c->n + 1));
    offsets[0] = ir_int(0);
    for (int i = 1; i < c->n; i++) offsets[i] = ir_add(offsets[i - 1], c->xs[i - 1]->buffer->shape[c->axis]);
    mlcc_expr *v = NULL;
    for (int i = c->n - 1; i >= 0; i--) {
        /* indices clamped into the field, so the unselected loads stay in bounds */
        mlcc_expr *in[16];
        for (int d = 0; d < nd; d++) in[d] = idx[d];
        mlcc_expr *last = ir_sub(c->xs[i]->buffer->shape[c->axis], ir_int(1));
        in[c->axis] = ir_min(ir_max(ir_sub(idx[c->axis], offsets[i]), ir_int(0)), last);
        mlcc_expr *load = te_load(c->xs[i], in, nd);
        v = v ? ir_select(ir_lt(idx[c->axis], offsets[i + 1]), load, v) : load;
    }
    return v;
}

static rx_expr *legalize_concat(rx_builder *bb, const rx_expr *call) {
    rx_expr *tup = call->call.args[0];
    if (tup->kind != RX_TUPLE) {
        /* a tuple-valued var (e.g. split's result): bind its fields first */
        int n = tup->sinfo->nfields;
        rx_expr **fields = ir_alloc(sizeof(rx_expr *) * (size_t)(n + 1));
        for (int i = 0; i < n; i++)
            if (!(fields[i] = bb_emit(bb, rx_tuple_get_item(tup, i), "lv"))) return NULL;
        tup = rx_tuple(fields, n);
    }
    concat_ctx c;
    c.n = tup->tuple.n;
    c.xs = ir_alloc(sizeof(te_tensor *) * (size_t)(c.n + 1));
    for (int i = 0; i < c.n; i++) {
        char name[16];
        snprintf(name, sizeof name, "x%d", i);
        c.xs[i] = leg_input_expr(tup->tuple.fields[i], name);
    }
    op_normalize_axis(call, rx_attrs_int(call->call.attrs, "axis", 0), call->sinfo->ndim, &c.axis);
    te_tensor *out = te_compute(leg_out_name(call), call->sinfo->dtype, call->sinfo->shape, call->sinfo->ndim,
                                concat_body, &c);
    return leg_finish(bb, call, c.xs, tup->tuple.fields, c.n, &out, 1);
}

/* ---- split ---- */

/* The split points along the axis (n_parts - 1 of them, as expressions). */
static int split_points(const rx_expr *call, rx_sinfo *x, int axis, mlcc_expr ***points, int *nparts) {
    const rx_attr *ind = rx_attrs_get(call->call.attrs, "indices");
    mlcc_expr *dim = x->shape[axis];
    if (ind) {
        *nparts = ind->nints + 1;
        *points = ir_alloc(sizeof(mlcc_expr *) * (size_t)(*nparts + 1));
        for (int i = 0; i < ind->nints; i++) {
            if (i && ind->ints[i] < ind->ints[i - 1])
                return mlcc_set_error("split: indices must be increasing");
            (*points)[i] = ir_int(ind->ints[i]);
        }
        return 0;
    }
    int64_t sections = rx_attrs_int(call->call.attrs, "sections", 0);
    if (sections <= 0) return mlcc_set_error("split: needs sections > 0 or indices");
    if (dim->kind == EXPR_INT && dim->int_value % sections != 0) {
        char *d = op_operand_desc(call, 0);
        mlcc_set_error("split: %s axis %d of extent %lld is not divisible into %lld sections", d, axis,
                       (long long)dim->int_value, (long long)sections);
        free(d);
        return -1;
    }
    *nparts = (int)sections;
    *points = ir_alloc(sizeof(mlcc_expr *) * (size_t)(*nparts + 1));
    mlcc_expr *part = dim->kind == EXPR_INT ? ir_int(dim->int_value / sections) : ir_floordiv(dim, ir_int(sections));
    for (int i = 0; i + 1 < *nparts; i++) (*points)[i] = ir_mul(part, ir_int(i + 1));
    return 0;
}

static rx_sinfo *infer_split(const rx_expr *call) {
    rx_sinfo *x = op_tensor_arg_shaped(call, 0);
    if (!x) return NULL;
    int axis, nparts;
    mlcc_expr **points;
    if (op_normalize_axis(call, rx_attrs_int(call->call.attrs, "axis", 0), x->ndim, &axis)) return NULL;
    if (split_points(call, x, axis, &points, &nparts)) return NULL;
    rx_sinfo **fields = ir_alloc(sizeof(rx_sinfo *) * (size_t)(nparts + 1));
    for (int p = 0; p < nparts; p++) {
        mlcc_expr **shape = ir_alloc(sizeof(mlcc_expr *) * (size_t)(x->ndim + 1));
        for (int d = 0; d < x->ndim; d++) shape[d] = x->shape[d];
        mlcc_expr *lo = p ? points[p - 1] : ir_int(0), *hi = p + 1 < nparts ? points[p] : x->shape[axis];
        /* indices past the end give empty parts, as numpy */
        shape[axis] = hi->kind == EXPR_INT && lo->kind == EXPR_INT ? ir_int(hi->int_value > lo->int_value ? hi->int_value - lo->int_value : 0)
                                                                  : ir_sub(hi, lo);
        if (x->shape[axis]->kind == EXPR_INT && hi->kind == EXPR_INT && lo->kind == EXPR_INT) {
            int64_t dim = x->shape[axis]->int_value;
            int64_t l = lo->int_value < dim ? lo->int_value : dim, h = hi->int_value < dim ? hi->int_value : dim;
            shape[axis] = ir_int(h > l ? h - l : 0);
        }
        fields[p] = rx_sinfo_tensor(shape, x->ndim, x->dtype);
    }
    return rx_sinfo_tuple(fields, nparts);
}

typedef struct split_ctx {
    te_tensor *x;
    int axis;
    mlcc_expr *offset;
} split_ctx;

static mlcc_expr *split_body(mlcc_expr **idx, void *ctx) {
    split_ctx *c = ctx;
    int nd = c->x->buffer->ndim;
    mlcc_expr *in[16];
    for (int d = 0; d < nd; d++) in[d] = idx[d];
    in[c->axis] = ir_add(idx[c->axis], c->offset);
    return te_load(c->x, in, nd);
}

static rx_expr *legalize_split(rx_builder *bb, const rx_expr *call) {
    rx_sinfo *xs = op_tensor_arg_shaped(call, 0);
    if (!xs) return NULL;
    int axis, nparts;
    mlcc_expr **points;
    op_normalize_axis(call, rx_attrs_int(call->call.attrs, "axis", 0), xs->ndim, &axis);
    if (split_points(call, xs, axis, &points, &nparts)) return NULL;
    te_tensor *x = leg_input(call, 0, "x");
    te_tensor **outs = ir_alloc(sizeof(te_tensor *) * (size_t)(nparts + 1));
    for (int p = 0; p < nparts; p++) {
        split_ctx *c = ir_alloc(sizeof *c);
        c->x = x;
        c->axis = axis;
        c->offset = p ? points[p - 1] : ir_int(0);
        rx_sinfo *f = call->sinfo->fields[p];
        char name[32];
        snprintf(name, sizeof name, "T_split_%d", p);
        outs[p] = te_compute(name, f->dtype, f->shape, f->ndim, split_body, c);
    }
    return leg_finish(bb, call, &x, call->call.args, 1, outs, nparts);
}

/* ---- take ---- */

static rx_sinfo *infer_take(const rx_expr *call) {
    rx_sinfo *x = op_tensor_arg_shaped(call, 0), *ind = x ? op_tensor_arg_shaped(call, 1) : NULL;
    if (!x || !ind) return NULL;
    if (!dtype_is_int(ind->dtype)) {
        char *d = op_operand_desc(call, 1);
        mlcc_set_error("take: indices %s must be integers", d);
        free(d);
        return NULL;
    }
    int axis;
    if (op_normalize_axis(call, rx_attrs_int(call->call.attrs, "axis", 0), x->ndim, &axis)) return NULL;
    int nd = x->ndim - 1 + ind->ndim;
    mlcc_expr **out = ir_alloc(sizeof(mlcc_expr *) * (size_t)(nd + 1));
    int k = 0;
    for (int d = 0; d < axis; d++) out[k++] = x->shape[d];
    for (int d = 0; d < ind->ndim; d++) out[k++] = ind->shape[d];
    for (int d = axis + 1; d < x->ndim; d++) out[k++] = x->shape[d];
    return rx_sinfo_tensor(out, nd, x->dtype);
}

typedef struct take_ctx {
    te_tensor *x, *ind;
    int axis;
} take_ctx;

static mlcc_expr *take_body(mlcc_expr **idx, void *ctx) {
    take_ctx *c = ctx;
    int nd = c->x->buffer->ndim, ni = c->ind->buffer->ndim;
    mlcc_expr *in[16];
    for (int d = 0; d < c->axis; d++) in[d] = idx[d];
    mlcc_expr *row = te_load(c->ind, idx + c->axis, ni);
    if (!dtype_eq(row->dtype, DT_I64)) row = ir_cast(DT_I64, row);
    /* clamped, so a bad id reads a valid row instead of out of bounds */
    in[c->axis] = ir_min(ir_max(row, ir_int(0)), ir_sub(c->x->buffer->shape[c->axis], ir_int(1)));
    for (int d = c->axis + 1; d < nd; d++) in[d] = idx[d - 1 + ni];
    return te_load(c->x, in, nd);
}

static rx_expr *legalize_take(rx_builder *bb, const rx_expr *call) {
    take_ctx c = {leg_input(call, 0, "x"), leg_input(call, 1, "indices"), 0};
    op_normalize_axis(call, rx_attrs_int(call->call.attrs, "axis", 0), c.x->buffer->ndim, &c.axis);
    if (c.x->buffer->ndim + c.ind->buffer->ndim > 16) {
        mlcc_set_error("take: too many dimensions");
        return NULL;
    }
    te_tensor *out = te_compute(leg_out_name(call), call->sinfo->dtype, call->sinfo->shape, call->sinfo->ndim,
                                take_body, &c);
    return leg_finish(bb, call, (te_tensor *[]){c.x, c.ind}, call->call.args, 2, &out, 1);
}

/* ---- strided_slice ---- */

typedef struct slice_spec {
    mlcc_expr *begin[16], *stride[16];
    mlcc_expr *extent[16];
} slice_spec;

static int slice_plan(const rx_expr *call, rx_sinfo *x, slice_spec *sp) {
    const rx_attr *axes = rx_attrs_get(call->call.attrs, "axes"), *begin = rx_attrs_get(call->call.attrs, "begin"),
                  *end = rx_attrs_get(call->call.attrs, "end"), *strides = rx_attrs_get(call->call.attrs, "strides");
    if (!axes || !begin || !end || begin->nints != axes->nints || end->nints != axes->nints ||
        (strides && strides->nints != axes->nints))
        return mlcc_set_error("strided_slice: axes, begin and end (and strides) must have one entry per axis");
    if (x->ndim > 16) return mlcc_set_error("strided_slice: more than 16 dimensions");
    for (int d = 0; d < x->ndim; d++) {
        sp->begin[d] = ir_int(0);
        sp->stride[d] = ir_int(1);
        sp->extent[d] = x->shape[d];
    }
    for (int i = 0; i < axes->nints; i++) {
        int a;
        if (op_normalize_axis(call, axes->ints[i], x->ndim, &a)) return -1;
        int64_t s = strides ? strides->ints[i] : 1, b = begin->ints[i], e = end->ints[i];
        if (s <= 0) return mlcc_set_error("strided_slice: stride %lld on axis %d (only positive strides)", (long long)s, a);
        mlcc_expr *dim = x->shape[a];
        if (dim->kind == EXPR_INT) {
            int64_t n = dim->int_value;
            if (b < 0) b += n;
            if (e < 0) e += n;
            b = b < 0 ? 0 : b > n ? n : b;
            e = e < 0 ? 0 : e > n ? n : e;
            sp->begin[a] = ir_int(b);
            sp->extent[a] = ir_int(e > b ? (e - b + s - 1) / s : 0);
        } else {
            if (b < 0) return mlcc_set_error("strided_slice: negative begin on the symbolic axis %d", a);
            mlcc_expr *be = ir_int(b);
            mlcc_expr *ee = e >= INT32_MAX ? dim : e < 0 ? ir_add(dim, ir_int(e)) : ir_min(ir_int(e), dim);
            sp->begin[a] = be;
            mlcc_expr *len = ir_sub(ee, be);
            sp->extent[a] = s == 1 ? len : ir_floordiv(ir_add(len, ir_int(s - 1)), ir_int(s));
        }
        sp->stride[a] = ir_int(s);
    }
    return 0;
}

static rx_sinfo *infer_slice(const rx_expr *call) {
    rx_sinfo *x = op_tensor_arg_shaped(call, 0);
    if (!x) return NULL;
    slice_spec sp;
    if (slice_plan(call, x, &sp)) return NULL;
    return rx_sinfo_tensor(sp.extent, x->ndim, x->dtype);
}

typedef struct slice_ctx {
    te_tensor *x;
    slice_spec sp;
} slice_ctx;

static mlcc_expr *slice_body(mlcc_expr **idx, void *ctx) {
    slice_ctx *c = ctx;
    int nd = c->x->buffer->ndim;
    mlcc_expr *in[16];
    for (int d = 0; d < nd; d++) in[d] = ir_add(c->sp.begin[d], ir_mul(idx[d], c->sp.stride[d]));
    return te_load(c->x, in, nd);
}

static rx_expr *legalize_slice(rx_builder *bb, const rx_expr *call) {
    slice_ctx c;
    c.x = leg_input(call, 0, "x");
    if (slice_plan(call, call->call.args[0]->sinfo, &c.sp)) return NULL;
    te_tensor *out = te_compute(leg_out_name(call), call->sinfo->dtype, call->sinfo->shape, call->sinfo->ndim,
                                slice_body, &c);
    return leg_finish(bb, call, &c.x, call->call.args, 1, &out, 1);
}

/* ---- astype ---- */

static rx_sinfo *infer_astype(const rx_expr *call) {
    rx_sinfo *x = op_tensor_arg(call, 0);
    const rx_attr *t = rx_attrs_get(call->call.attrs, "dtype");
    if (!x) return NULL;
    if (!t || t->kind != ATTR_DTYPE) {
        mlcc_set_error("astype: needs a dtype");
        return NULL;
    }
    return x->shape ? rx_sinfo_tensor(x->shape, x->ndim, t->dtype) : rx_sinfo_tensor_ndim(x->ndim, t->dtype);
}

static mlcc_expr *astype_body(mlcc_expr **idx, void *ctx) {
    te_tensor *x = ctx;
    return te_load(x, idx, x->buffer->ndim); /* te casts to the stage's dtype */
}

static rx_expr *legalize_astype(rx_builder *bb, const rx_expr *call) {
    if (!op_tensor_arg_shaped(call, 0)) return NULL;
    te_tensor *x = leg_input(call, 0, "x");
    te_tensor *out = te_compute(leg_out_name(call), call->sinfo->dtype, call->sinfo->shape, call->sinfo->ndim,
                                astype_body, x);
    return leg_finish(bb, call, &x, call->call.args, 1, &out, 1);
}

static const rx_op_def manip_ops[] = {
    {"reshape", infer_reshape, legalize_reshape},
    {"permute_dims", infer_permute, legalize_permute},
    {"concat", infer_concat, legalize_concat},
    {"split", infer_split, legalize_split},
    {"take", infer_take, legalize_take},
    {"strided_slice", infer_slice, legalize_slice},
    {"astype", infer_astype, legalize_astype},
};

void op_register_manip(void) {
    for (size_t i = 0; i < sizeof manip_ops / sizeof manip_ops[0]; i++) op_register(&manip_ops[i]);
}

/* ---- constructors ---- */

rx_expr *op_reshape(rx_expr *x, mlcc_expr **shape, int ndim) {
    return op_call("reshape", (rx_expr *[]){x, rx_shape_expr(shape, ndim)}, 2, no_attrs());
}

rx_expr *op_permute_dims(rx_expr *x, const int64_t *axes, int naxes) {
    rx_attrs a = no_attrs();
    if (axes) a = rx_attrs_set_ints(a, "axes", axes, naxes);
    return op_call("permute_dims", &x, 1, a);
}

rx_expr *op_concat(rx_expr **xs, int n, int axis) {
    for (int i = 0; i < n; i++)
        if (!xs[i]) return NULL;
    rx_expr *t = rx_tuple(xs, n);
    return op_call("concat", &t, 1, rx_attrs_set_int(no_attrs(), "axis", axis));
}

rx_expr *op_split(rx_expr *x, int sections, int axis) {
    rx_attrs a = rx_attrs_set_int(rx_attrs_set_int(no_attrs(), "sections", sections), "axis", axis);
    return op_call("split", &x, 1, a);
}

rx_expr *op_split_at(rx_expr *x, const int64_t *indices, int nindices, int axis) {
    rx_attrs a = rx_attrs_set_int(rx_attrs_set_ints(no_attrs(), "indices", indices, nindices), "axis", axis);
    return op_call("split", &x, 1, a);
}

rx_expr *op_take(rx_expr *x, rx_expr *indices, int axis) {
    return op_call("take", (rx_expr *[]){x, indices}, 2, rx_attrs_set_int(no_attrs(), "axis", axis));
}

rx_expr *op_strided_slice(rx_expr *x, const int64_t *axes, const int64_t *begin, const int64_t *end,
                          const int64_t *strides, int n) {
    rx_attrs a = rx_attrs_set_ints(no_attrs(), "axes", axes, n);
    a = rx_attrs_set_ints(a, "begin", begin, n);
    a = rx_attrs_set_ints(a, "end", end, n);
    if (strides) a = rx_attrs_set_ints(a, "strides", strides, n);
    return op_call("strided_slice", &x, 1, a);
}

rx_expr *op_astype(rx_expr *x, mlcc_dtype t) {
    return op_call("astype", &x, 1, rx_attrs_set_dtype(no_attrs(), "dtype", t));
}
