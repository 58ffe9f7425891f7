/* tensorize.c - tensorize a loop nest onto a CPU tensor intrinsic (see schedule.h), after TVM's
 * blockize + tensorize (tir/schedule/primitive/blockize_tensorize.cc).
 *
 * The loop given must hold a perfect nest of loops over one block (what the intrinsic's tile
 * covers). Matching works on the block signature and body, with the block's bindings
 * substituted so that every access is a function of the nest's loop vars:
 *   - the body is C[c] = C[c] + A[a] * B[b] (casts to C's type allowed on A and B), the init
 *     stores 0 to C[c];
 *   - each flat element offset is affine in the nest's loops (checked by re-expansion);
 *   - one loop (m) moves A and C only, one (n) moves B and C (unit stride in C), one (k) moves
 *     A and B with unit stride and not C, and k alone binds the block's reduce iter var over
 *     its whole domain, so each output element's whole reduction happens inside one call.
 * The nest becomes a block "<name>_o" (the blockize step): its iter vars are the loops outside
 * the nest that the old bindings used, its read/write regions the tile's footprint, and its
 * body one call of the intrinsic on the addresses of the tile's first elements. Anything else
 * is refused with the reason; the function is then unchanged.
 *
 * A quantized intrinsic (GEMM_NT_Q) matches the fused dequantize + matmul block instead: the
 * body is C[c] = C[c] + A[a] * deq where deq is exactly quant_dequant_value (quant/
 * dequant_expr.h) of the intrinsic's bits and zero point over a uint32 word load QW[r, j // per]
 * and a scale load S[r, j // 32] of the intrinsic's scale type (rebuilt and compared
 * structurally, so any other arithmetic is refused); a group_zero intrinsic's groups have
 * group_size values and their scale and zero point loads S[r, (j // group) * 2 (+ 1)]. The logical weight W[r, j] then plays B's
 * role above (j must start at 0: a tile holds whole rows), and the call passes the addresses of
 * the tile's first word and scale with the row strides of QW and S. A k-quant intrinsic
 * (GEMM_NT_QK) matches the same way against quant_kquant_value (the whole row of super-blocks:
 * the tile's reduction must start at the row's first value). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arith/analyzer.h"
#include "ir/functor.h"
#include "kernels/cpu/intrin.h"
#include "quant/dequant_expr.h"
#include "quant/scheme.h"
#include "schedule/state.h"
#include "support/error.h"

#define PRIM "tensorize"
#define NEST 3

typedef struct tile_access {
    mlcc_buffer *buf;
    mlcc_expr **idx; /* indices over loop vars (bindings substituted) */
    int nidx;
    mlcc_expr *coef[NEST]; /* flat-offset coefficient of each nest loop */
} tile_access;

static mlcc_expr *strip_cast(mlcc_expr *e, mlcc_dtype to) {
    while (e->kind == EXPR_CAST && dtype_eq(e->dtype, to) && dtype_is_float(e->un.a->dtype)) e = e->un.a;
    return e;
}

/* The element offset in b's layout (row strides padded where storage_align set them: the
 * intrinsic then gets the padded leading dimension). */
static mlcc_expr *flat_offset(const mlcc_buffer *b, mlcc_expr **idx, int nidx) {
    return ir_buffer_offset(b, idx, nidx);
}

/* e with every nest var set to 0, except vars[keep] set to 1 (keep = -1: none). */
static mlcc_expr *at_unit(mlcc_expr *e, mlcc_expr **vars, int keep) {
    mlcc_expr *vals[NEST];
    for (int i = 0; i < NEST; i++) vals[i] = ir_int(i == keep);
    return arith_simplify_expr(expr_substitute(e, vars, vals, NEST));
}

/* Coefficients of e in the nest vars; 0 when e is affine in them (verified by re-expansion). */
static int affine_coefs(mlcc_expr *e, mlcc_expr **vars, mlcc_expr **coef, mlcc_expr **base) {
    *base = at_unit(e, vars, -1);
    mlcc_expr *sum = *base;
    for (int i = 0; i < NEST; i++) {
        coef[i] = arith_simplify_expr(ir_sub(at_unit(e, vars, i), *base));
        sum = ir_add(sum, ir_mul(coef[i], vars[i]));
    }
    return expr_is_int(arith_simplify_expr(ir_sub(e, sum)), 0) ? 0 : -1;
}

static int is_zero(mlcc_expr *e) { return expr_is_int(e, 0); }
static int is_one(mlcc_expr *e) { return expr_is_int(e, 1); }

/* The footprint of an access over the nest: per dimension [lo, hi] at the nest's corners when
 * the index is affine with nonnegative coefficients, else the whole dimension. */
static mlcc_region tile_region(const tile_access *t, mlcc_expr **vars, mlcc_expr **extents) {
    mlcc_region r = {t->buf, ir_alloc(sizeof(mlcc_range) * (size_t)t->buf->ndim), 0};
    arith_analyzer *an = arith_new();
    for (int d = 0; d < t->nidx; d++) {
        mlcc_expr *coef[NEST], *base;
        int ok = affine_coefs(t->idx[d], vars, coef, &base) == 0;
        mlcc_expr *ext = ir_int(1);
        for (int i = 0; ok && i < NEST; i++) {
            if (!arith_prove(an, ir_ge(coef[i], ir_int(0)))) ok = 0;
            ext = ir_add(ext, ir_mul(coef[i], ir_sub(extents[i], ir_int(1))));
        }
        r.ranges[d] = ok ? ir_range(base, arith_simplify_expr(ext)) : ir_range(ir_int(0), t->buf->shape[d]);
    }
    arith_free(an);
    return r;
}

static mlcc_expr *address_of(const tile_access *t, mlcc_expr **vars) {
    mlcc_expr *zero[NEST] = {ir_int(0), ir_int(0), ir_int(0)};
    mlcc_expr **idx = ir_alloc(sizeof(mlcc_expr *) * (size_t)t->nidx);
    for (int d = 0; d < t->nidx; d++) idx[d] = arith_simplify_expr(expr_substitute(t->idx[d], vars, zero, NEST));
    return ir_call(DT_HANDLE_T, "address_of", (mlcc_expr *[]){ir_load(t->buf, idx, t->nidx)}, 1);
}

/* Fills an access's buffer and indices (block vars replaced by their bindings). */
static void bind_access(tile_access *t, mlcc_buffer *buf, mlcc_expr **idx, int nidx, const mlcc_stmt *realize) {
    const mlcc_block *b = realize->realize.block;
    mlcc_expr **ivars = ir_alloc(sizeof(mlcc_expr *) * (size_t)(b->niters + 1));
    for (int i = 0; i < b->niters; i++) ivars[i] = b->iters[i].var;
    t->buf = buf;
    t->nidx = nidx;
    t->idx = ir_alloc(sizeof(mlcc_expr *) * (size_t)(nidx + 1));
    for (int d = 0; d < nidx; d++)
        t->idx[d] = arith_simplify_expr(expr_substitute(idx[d], ivars, realize->realize.iter_values, b->niters));
}

/* Fills an access from a load/store's buffer and block-var indices; its flat offset must be
 * affine in the nest's loops. */
static int make_access(tile_access *t, mlcc_buffer *buf, mlcc_expr **idx, int nidx, const mlcc_stmt *realize,
                       mlcc_expr **vars) {
    const mlcc_block *b = realize->realize.block;
    bind_access(t, buf, idx, nidx, realize);
    mlcc_expr *base;
    if (affine_coefs(flat_offset(buf, t->idx, nidx), vars, t->coef, &base))
        return mlcc_set_error("%s: the offset of %s in block '%s' is not affine in the tiled loops", PRIM, buf->name,
                              b->name);
    return 0;
}

/* The tile's roles: which nest position is m, n and k (the loop vars in order given). */
static int assign_roles(const tile_access *c, const tile_access *a, const tile_access *bw, int *m, int *n, int *k) {
    *m = *n = *k = -1;
    for (int i = 0; i < NEST; i++) {
        if (!is_zero(a->coef[i]) && is_zero(bw->coef[i]) && !is_zero(c->coef[i])) *m = i;
        else if (is_zero(a->coef[i]) && !is_zero(bw->coef[i]) && is_one(c->coef[i])) *n = i;
        else if (is_one(a->coef[i]) && is_one(bw->coef[i]) && is_zero(c->coef[i])) *k = i;
    }
    return *m >= 0 && *n >= 0 && *k >= 0 && *m != *n && *n != *k && *m != *k ? 0 : -1;
}

/* Checks the block's reduce iter var is bound to k alone over its whole domain, and that no
 * spatial iter var depends on k. */
static int check_reduction(const mlcc_stmt *realize, mlcc_stmt *kloop) {
    const mlcc_block *b = realize->realize.block;
    mlcc_expr *kv = kloop->for_.var;
    int nreduce = 0;
    for (int i = 0; i < b->niters; i++) {
        mlcc_expr *val = realize->realize.iter_values[i];
        if (b->iters[i].type == ITER_REDUCE) {
            nreduce++;
            if (val != kv || !is_zero(b->iters[i].dom.min) || !is_zero(kloop->for_.min) ||
                !arith_expr_equal(arith_simplify_expr(b->iters[i].dom.extent), arith_simplify_expr(kloop->for_.extent)))
                return mlcc_set_error("%s: the reduce iter var '%s' of block '%s' must be bound to the reduction loop "
                                      "'%s' over its whole domain", PRIM, b->iters[i].var->var.name, b->name,
                                      kv->var.name);
        } else if (b->iters[i].type != ITER_SPATIAL || expr_uses_var(val, kv)) {
            return mlcc_set_error("%s: iter var '%s' of block '%s' depends on the reduction loop '%s'", PRIM,
                                  b->iters[i].var->var.name, b->name, kv->var.name);
        }
    }
    if (nreduce != 1) return mlcc_set_error("%s: block '%s' must have exactly one reduce iter var", PRIM, b->name);
    return 0;
}

/* Matches the body: C[c] = C[c] + A * B with init C[c] = 0; fills the three loads/stores. */
static int match_body(const mlcc_block *b, mlcc_stmt **store, mlcc_expr **x, mlcc_expr **y) {
    mlcc_stmt *st = b->body, *init = b->init;
    if (!init) return mlcc_set_error("%s: block '%s' is not a reduction (it has no init)", PRIM, b->name);
    if (!st || st->kind != STMT_STORE || b->nwrites != 1 || b->nalloc)
        return mlcc_set_error("%s: the body of block '%s' is not a single store", PRIM, b->name);
    mlcc_expr *v = st->store.value, *acc = NULL, *prod = NULL;
    if (v->kind == EXPR_ADD) {
        acc = v->bin.a, prod = v->bin.b;
        if (prod->kind == EXPR_LOAD && prod->load.buffer == st->store.buffer) acc = v->bin.b, prod = v->bin.a;
    }
    if (!acc || acc->kind != EXPR_LOAD || acc->load.buffer != st->store.buffer || prod->kind != EXPR_MUL)
        return mlcc_set_error("%s: block '%s' does not compute %s[...] += x * y", PRIM, b->name, st->store.buffer->name);
    for (int d = 0; d < st->store.nidx; d++)
        if (!sch_expr_equal(acc->load.indices[d], st->store.indices[d]))
            return mlcc_set_error("%s: block '%s' accumulates into another element than it stores", PRIM, b->name);
    if (init->kind != STMT_STORE || init->store.buffer != st->store.buffer || init->store.value->kind != EXPR_FLOAT ||
        init->store.value->float_value != 0.0)
        return mlcc_set_error("%s: the init of block '%s' does not store 0", PRIM, b->name);
    for (int d = 0; d < st->store.nidx; d++)
        if (!sch_expr_equal(init->store.indices[d], st->store.indices[d]))
            return mlcc_set_error("%s: the init of block '%s' stores another element", PRIM, b->name);
    *store = st;
    *x = strip_cast(prod->bin.a, st->store.buffer->dtype);
    *y = strip_cast(prod->bin.b, st->store.buffer->dtype);
    return 0;
}

static int find_word_load(ir_visitor *v, mlcc_expr *e) {
    mlcc_expr **out = v->ctx;
    if (!*out && e->kind == EXPR_LOAD && e->load.nidx == 2 && e->load.buffer->dtype.code == DT_UINT &&
        e->load.buffer->dtype.bits == 32)
        *out = e;
    return *out == NULL;
}

static mlcc_expr *load2(mlcc_buffer *buf, mlcc_expr *i0, mlcc_expr *i1) {
    mlcc_expr **idx = ir_alloc(sizeof(mlcc_expr *) * 2);
    idx[0] = i0, idx[1] = i1;
    return ir_load(buf, idx, 2);
}

/* y is the dequantized value of `in`'s layout (see the file comment): the word and scale loads
 * and the value index j, in block vars. */
static int match_dequant(const cpu_intrin *in, const mlcc_block *b, mlcc_expr *y, mlcc_expr **word, mlcc_expr **scale,
                         mlcc_expr **j) {
    mlcc_expr *w = NULL, *sc = y->kind == EXPR_MUL ? y->bin.b : NULL;
    if (sc && sc->kind == EXPR_CAST) sc = sc->un.a;
    if (y->kind == EXPR_MUL) {
        ir_visitor v = {find_word_load, NULL, &w};
        ir_visit_expr(&v, y->bin.a);
    }
    int per = 32 / in->bits;
    mlcc_expr *wi = w ? w->load.indices[1] : NULL;
    if (!w || !sc || sc->kind != EXPR_LOAD || sc->load.nidx != 2 || wi->kind != EXPR_FLOORDIV ||
        !expr_is_int(wi->bin.b, per))
        return mlcc_set_error("%s: the weight operand of block '%s' is not a dequantized %d-bit word", PRIM, b->name,
                              in->bits);
    char ts[24], tw[24];
    if (!dtype_eq(sc->load.buffer->dtype, in->scale))
        return mlcc_set_error("%s: block '%s' has %s scales, intrinsic '%s' takes %s", PRIM, b->name,
                              dtype_str(sc->load.buffer->dtype, ts), in->name, dtype_str(in->scale, tw));
    mlcc_expr *jx = wi->bin.a, *row = w->load.indices[0], *want;
    mlcc_expr *word_load = load2(w->load.buffer, row, ir_floordiv(jx, ir_int(per)));
    int group = in->group_size ? in->group_size : 32;
    if (in->group_zero)
        want = quant_dequant_value_zero(word_load, jx, load2(sc->load.buffer, row, quant_group_zero_col(jx, group, 0)),
                                        load2(sc->load.buffer, row, quant_group_zero_col(jx, group, 1)), in->bits);
    else
        want = quant_dequant_value(word_load, jx, load2(sc->load.buffer, row, ir_floordiv(jx, ir_int(group))), in->bits,
                                   in->zero_point);
    if (!sch_expr_equal(want, y))
        return mlcc_set_error("%s: the weight operand of block '%s' is not the dequantized value of intrinsic '%s' "
                              "(%d bits, zero point %s%d, groups of %d)", PRIM, b->name, in->name, in->bits,
                              in->group_zero ? "per group, not " : "", in->zero_point, group);
    *word = w, *scale = sc, *j = jx;
    return 0;
}

static int find_scale_load(ir_visitor *v, mlcc_expr *e) {
    mlcc_expr **out = v->ctx;
    if (!*out && e->kind == EXPR_LOAD && e->load.nidx == 2 && e->load.buffer->dtype.code == DT_FLOAT &&
        e->load.buffer->dtype.bits == 16)
        *out = e;
    return *out == NULL;
}

typedef struct kq_match {
    mlcc_buffer *w, *s;
    mlcc_expr *row;
} kq_match;

static mlcc_expr *kq_load(void *ctx, int which, mlcc_expr *col) {
    kq_match *k = ctx;
    return load2(which ? k->s : k->w, k->row, col);
}

/* y is the dequantized value of a k-quant row (GEMM_NT_QK: quant_kquant_value of the ggml type
 * the intrinsic keeps in zero_point): found from its first word and float16 scale loads, whose
 * scale index is (j // 256) * halves (+ 1); rebuilt and compared. *word and *scale become loads
 * of the row's block of j (index (j // 256) * words), the tile's start when j is 0. */
static int match_dequant_kquant(const cpu_intrin *in, const mlcc_block *b, mlcc_expr *y, mlcc_expr **word,
                                mlcc_expr **scale, mlcc_expr **j) {
    mlcc_expr *w = NULL, *sc = NULL;
    ir_visitor v = {find_word_load, NULL, &w};
    ir_visit_expr(&v, y);
    ir_visitor vs = {find_scale_load, NULL, &sc};
    ir_visit_expr(&vs, y);
    mlcc_expr *si = sc ? sc->load.indices[1] : NULL;
    if (si && si->kind == EXPR_ADD) si = si->bin.a;
    if (si && si->kind == EXPR_MUL) si = si->bin.a;
    if (!w || !si || si->kind != EXPR_FLOORDIV || !expr_is_int(si->bin.b, 256))
        return mlcc_set_error("%s: the weight operand of block '%s' is not a dequantized k-quant row", PRIM, b->name);
    kq_match k = {w->load.buffer, sc->load.buffer, w->load.indices[0]};
    mlcc_expr *jx = si->bin.a, *want = quant_kquant_value(in->zero_point, jx, kq_load, &k);
    if (!want || !sch_expr_equal(want, y))
        return mlcc_set_error("%s: the weight operand of block '%s' is not the dequantized value of intrinsic '%s' "
                              "(ggml type %d)", PRIM, b->name, in->name, in->zero_point);
    mlcc_expr *blk = ir_floordiv(jx, ir_int(256));
    *word = load2(k.w, k.row, ir_mul(blk, ir_int(quant_kquant_words((uint32_t)in->zero_point))));
    *scale = load2(k.s, k.row, ir_mul(blk, ir_int(quant_kquant_halves((uint32_t)in->zero_point))));
    *j = jx;
    return 0;
}

/* The loops outside the nest (within the block's scope) that the bindings use. */
static int outer_loops(const sch_path *p, const mlcc_stmt *realize, mlcc_stmt **out) {
    int start = 0, n = 0;
    for (int i = 0; i < p->n - 1; i++)
        if (p->nodes[i]->kind == STMT_BLOCK_REALIZE) start = i + 1;
    for (int i = start; i < p->n - 1; i++) {
        if (p->nodes[i]->kind != STMT_FOR) continue;
        for (int j = 0; j < realize->realize.block->niters; j++)
            if (expr_uses_var(realize->realize.iter_values[j], p->nodes[i]->for_.var)) {
                out[n++] = p->nodes[i];
                break;
            }
    }
    return n;
}

int sch_tensorize(mlcc_schedule *s, mlcc_expr *loop, const char *intrin_name) {
    const cpu_intrin *in = cpu_intrin_find(intrin_name);
    if (!in) return mlcc_set_error("%s: no tensor intrinsic named '%s'", PRIM, intrin_name ? intrin_name : "(null)");
    if (!loop || loop->kind != EXPR_VAR) return mlcc_set_error("%s: expected a loop var", PRIM);
    const char *rv = sch_loop_rv(s, loop, PRIM);
    sch_path p;
    if (!rv) return -1;
    if (sch_find_loop(s, loop, &p)) return mlcc_set_error("%s: loop '%s' is not in the function", PRIM, loop->var.name);
    /* the nest: a perfect chain of NEST loops ending in one block */
    mlcc_stmt *nest[NEST], *cur = p.nodes[p.n - 1];
    int depth = 0;
    while (cur->kind == STMT_FOR && depth < NEST) nest[depth++] = cur, cur = cur->for_.body;
    if (depth != NEST || cur->kind != STMT_BLOCK_REALIZE)
        return mlcc_set_error("%s: loop '%s' must hold a perfect nest of %d loops over one block", PRIM, loop->var.name,
                              NEST);
    mlcc_stmt *realize = cur;
    const mlcc_block *b = realize->realize.block;
    if (!expr_is_int(realize->realize.predicate, 1))
        return mlcc_set_error("%s: block '%s' has a predicate (a split that does not divide); the intrinsic covers "
                              "whole tiles only", PRIM, b->name);
    mlcc_expr *vars[NEST], *extents[NEST];
    for (int i = 0; i < NEST; i++) {
        vars[i] = nest[i]->for_.var, extents[i] = nest[i]->for_.extent;
        if (!is_zero(nest[i]->for_.min) || nest[i]->for_.kind != FOR_SERIAL)
            return mlcc_set_error("%s: loop '%s' must be a serial loop from 0", PRIM, vars[i]->var.name);
    }
    mlcc_stmt *store = NULL;
    mlcc_expr *x = NULL, *y = NULL;
    if (match_body(b, &store, &x, &y)) return -1;
    int kquant = in->kind == CPU_INTRIN_GEMM_NT_QK, quant = in->kind == CPU_INTRIN_GEMM_NT_Q || kquant;
    tile_access c, a, w, qw = {0}, qs = {0}; /* qw, qs: a quantized weight's words and scales */
    if (quant) {
        if (x->kind != EXPR_LOAD) {
            mlcc_expr *t = x;
            x = y, y = t;
        }
        mlcc_expr *word = NULL, *scale = NULL, *j = NULL;
        if (x->kind != EXPR_LOAD) return mlcc_set_error("%s: block '%s' has no activation load", PRIM, b->name);
        if (kquant ? match_dequant_kquant(in, b, y, &word, &scale, &j) : match_dequant(in, b, y, &word, &scale, &j))
            return -1;
        /* the logical weight W[row, j] over a row of (words * per) values (k-quants: 256 per block) */
        mlcc_expr *shape[2] = {word->load.buffer->shape[0],
                               kquant ? ir_mul(ir_floordiv(word->load.buffer->shape[1],
                                                           ir_int(quant_kquant_words((uint32_t)in->zero_point))), ir_int(256))
                                      : ir_mul(word->load.buffer->shape[1], ir_int(32 / in->bits))};
        mlcc_buffer *logical = ir_buffer(word->load.buffer->name, DT_F32, shape, 2);
        mlcc_expr *widx[2] = {word->load.indices[0], j};
        bind_access(&qw, word->load.buffer, word->load.indices, 2, realize);
        bind_access(&qs, scale->load.buffer, scale->load.indices, 2, realize);
        if (make_access(&c, store->store.buffer, store->store.indices, store->store.nidx, realize, vars) ||
            make_access(&a, x->load.buffer, x->load.indices, x->load.nidx, realize, vars) ||
            make_access(&w, logical, widx, 2, realize, vars))
            return -1;
        if (!is_zero(at_unit(w.idx[1], vars, -1)))
            return mlcc_set_error("%s: block '%s': the tile must start at a row's first value", PRIM, b->name);
    } else {
        if (x->kind != EXPR_LOAD || y->kind != EXPR_LOAD)
            return mlcc_set_error("%s: the operands of block '%s' are not buffer loads", PRIM, b->name);
        if (make_access(&c, store->store.buffer, store->store.indices, store->store.nidx, realize, vars) ||
            make_access(&a, x->load.buffer, x->load.indices, x->load.nidx, realize, vars) ||
            make_access(&w, y->load.buffer, y->load.indices, y->load.nidx, realize, vars))
            return -1;
    }
    int m, n, k;
    if (assign_roles(&c, &a, &w, &m, &n, &k)) {
        tile_access t = a;
        a = w, w = t;
        if (quant || assign_roles(&c, &a, &w, &m, &n, &k))
            return mlcc_set_error("%s: block '%s' is not a GEMM tile C[m, n] += A[m, k] * B[n, k] over the loops under "
                                  "'%s' (contiguous k, unit stride in C's n)", PRIM, b->name, loop->var.name);
    }
    if (quant && !is_one(arith_simplify_expr(ir_sub(at_unit(w.idx[0], vars, n), at_unit(w.idx[0], vars, -1)))))
        return mlcc_set_error("%s: block '%s': consecutive columns must read consecutive weight rows", PRIM, b->name);
    if (!dtype_eq(a.buf->dtype, in->a) || (!quant && !dtype_eq(w.buf->dtype, in->b)) || !dtype_eq(c.buf->dtype, in->c)) {
        char ta[24], tb[24], tc[24];
        return mlcc_set_error("%s: block '%s' computes %s += %s * %s, which intrinsic '%s' does not", PRIM, b->name,
                              dtype_str(c.buf->dtype, tc), dtype_str(a.buf->dtype, ta), dtype_str(w.buf->dtype, tb),
                              in->name);
    }
    if (check_reduction(realize, nest[k])) return -1;
    /* blockize: the outer block iterates over the loops outside the nest */
    mlcc_stmt *outer[SCH_MAX_DEPTH];
    int nouter = outer_loops(&p, realize, outer);
    char oname[256];
    snprintf(oname, sizeof oname, "%s_o", b->name);
    mlcc_block *ob = ir_block_new(mlcc_intern(oname));
    ob->niters = nouter;
    ob->iters = ir_alloc(sizeof(mlcc_iter_var) * (size_t)(nouter + 1));
    mlcc_expr **ovars = ir_alloc(sizeof(mlcc_expr *) * (size_t)(nouter + 1));
    mlcc_expr **ivals = ir_alloc(sizeof(mlcc_expr *) * (size_t)(nouter + 1));
    for (int i = 0; i < nouter; i++) {
        char name[160];
        snprintf(name, sizeof name, "v_%s", outer[i]->for_.var->var.name);
        ovars[i] = outer[i]->for_.var;
        ob->iters[i].var = ir_var(name, outer[i]->for_.var->dtype);
        ob->iters[i].dom = ir_range(outer[i]->for_.min, outer[i]->for_.extent);
        ob->iters[i].type = ITER_SPATIAL;
        ivals[i] = ob->iters[i].var;
    }
    mlcc_region reads[3] = {tile_region(&a, vars, extents), tile_region(quant ? &qw : &w, vars, extents),
                            quant ? tile_region(&qs, vars, extents) : (mlcc_region){0}};
    mlcc_region write = tile_region(&c, vars, extents);
    ob->nreads = quant ? 3 : 2;
    ob->reads = ir_alloc(sizeof(mlcc_region) * 3);
    for (int i = 0; i < ob->nreads; i++) ob->reads[i] = sch_region_substitute(reads[i], ovars, ivals, nouter);
    ob->nwrites = 1;
    ob->writes = ir_alloc(sizeof(mlcc_region));
    ob->writes[0] = sch_region_substitute(write, ovars, ivals, nouter);
    mlcc_expr *args[12];
    int nargs = 0;
    args[nargs++] = address_of(&c, vars);
    args[nargs++] = address_of(&a, vars);
    args[nargs++] = address_of(quant ? &qw : &w, vars);
    if (quant) args[nargs++] = address_of(&qs, vars);
    args[nargs++] = extents[m], args[nargs++] = extents[n], args[nargs++] = extents[k];
    args[nargs++] = c.coef[m], args[nargs++] = a.coef[m];
    if (quant) args[nargs++] = qw.buf->shape[1], args[nargs++] = qs.buf->shape[1];
    else args[nargs++] = w.coef[n];
    args[nargs++] = ir_int(0);
    for (int i = 0; i < nargs; i++) args[i] = expr_substitute(args[i], ovars, ivals, nouter);
    ob->body = ir_evaluate(ir_call(DT_VOID, mlcc_intern(in->name), args, nargs));
    mlcc_stmt *r = ir_block_realize(ovars, ir_bool(1), ob);
    sch_commit(s, sch_path_replace(&p, r));
    char line[256];
    snprintf(line, sizeof line, "sch.tensorize(%s, \"%s\")", rv, in->name);
    sch_record(s, line);
    return 0;
}
