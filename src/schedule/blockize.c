/* blockize.c - blockize (see schedule.h), after TVM's tir/schedule/primitive/blockize_tensorize.cc.
 *
 * The loop must hold a perfect nest of loops over one block. The nest becomes the body of a new
 * block "<name>_o" whose iter vars stand for the loops outside the nest that the inner block's
 * bindings (or predicate) use: reduce where such a loop feeds a reduce iter var, else spatial.
 * Its read/write regions are the inner block's, relaxed over the nest's loops: an index affine
 * in them with coefficients of known sign spans [its minimum, its maximum] over the nest; any
 * other index spans the whole dimension. The inner block keeps its body and init, its bindings
 * rewritten over the new iter vars. A reduction block whose reduction runs partly outside the
 * nest keeps an init only at its own level, so that case is refused until decompose_reduction
 * has moved the init out. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arith/analyzer.h"
#include "ir/functor.h"
#include "schedule/state.h"
#include "support/error.h"
#include "support/hashmap.h"

#define PRIM "blockize"

/* e with nest vars set: all 0, or vars[keep] = 1. */
static mlcc_expr *at_unit(mlcc_expr *e, mlcc_expr **vars, int n, int keep) {
    mlcc_expr **vals = ir_alloc(sizeof(mlcc_expr *) * (size_t)(n + 1));
    for (int i = 0; i < n; i++) vals[i] = ir_int(i == keep);
    return arith_simplify_expr(expr_substitute(e, vars, vals, n));
}

/* The range of `min + [0, extent)` over the nest, or the whole dimension `dim`. */
static mlcc_range relax(arith_analyzer *an, mlcc_range r, mlcc_expr **vars, mlcc_expr **extents, int n, mlcc_expr *dim) {
    mlcc_expr *base = at_unit(r.min, vars, n, -1), *lo = base, *hi = base, *sum = base;
    for (int i = 0; i < n; i++) {
        mlcc_expr *c = arith_simplify_expr(ir_sub(at_unit(r.min, vars, n, i), base));
        sum = ir_add(sum, ir_mul(c, vars[i]));
        mlcc_expr *span = ir_mul(c, ir_sub(extents[i], ir_int(1)));
        if (arith_prove(an, ir_ge(c, ir_int(0)))) hi = ir_add(hi, span);
        else if (arith_prove(an, ir_le(c, ir_int(0)))) lo = ir_add(lo, span);
        else return ir_range(ir_int(0), dim);
    }
    if (!expr_is_int(arith_simplify_expr(ir_sub(r.min, sum)), 0)) return ir_range(ir_int(0), dim);
    return ir_range(arith_simplify_expr(lo), arith_simplify_expr(ir_add(ir_sub(hi, lo), r.extent)));
}

static mlcc_region *relax_regions(const mlcc_region *in, int count, const mlcc_stmt *realize, mlcc_expr **vars,
                                  mlcc_expr **extents, int n) {
    const mlcc_block *b = realize->realize.block;
    mlcc_expr **ivars = ir_alloc(sizeof(mlcc_expr *) * (size_t)(b->niters + 1));
    for (int i = 0; i < b->niters; i++) ivars[i] = b->iters[i].var;
    mlcc_region *out = ir_alloc(sizeof(mlcc_region) * (size_t)(count + 1));
    arith_analyzer *an = arith_new();
    for (int i = 0; i < n; i++) arith_bind_range(an, vars[i], ir_int(0), extents[i]);
    for (int k = 0; k < count; k++) {
        mlcc_region r = sch_region_substitute(in[k], ivars, realize->realize.iter_values, b->niters);
        if (r.whole) {
            out[k] = r;
            continue;
        }
        mlcc_range *ranges = ir_alloc(sizeof(mlcc_range) * (size_t)(r.buffer->ndim + 1));
        for (int d = 0; d < r.buffer->ndim; d++) ranges[d] = relax(an, r.ranges[d], vars, extents, n, r.buffer->shape[d]);
        out[k] = (mlcc_region){r.buffer, ranges, 0};
    }
    arith_free(an);
    return out;
}

static int uses_var(const mlcc_stmt *realize, const mlcc_expr *v, int reduce_only) {
    const mlcc_block *b = realize->realize.block;
    for (int i = 0; i < b->niters; i++)
        if ((!reduce_only || b->iters[i].type == ITER_REDUCE) && expr_uses_var(realize->realize.iter_values[i], v)) return 1;
    return !reduce_only && expr_uses_var(realize->realize.predicate, v);
}

const char *sch_blockize(mlcc_schedule *s, mlcc_expr *loop) {
    if (!loop || loop->kind != EXPR_VAR) {
        mlcc_set_error("%s: expected a loop var", PRIM);
        return NULL;
    }
    const char *rv = sch_loop_rv(s, loop, PRIM);
    sch_path p;
    if (!rv) return NULL;
    if (sch_find_loop(s, loop, &p)) {
        mlcc_set_error("%s: loop '%s' is not in the function", PRIM, loop->var.name);
        return NULL;
    }
    /* the nest: a chain of loops ending in one block realize */
    mlcc_stmt *nest[SCH_MAX_DEPTH], *cur = p.nodes[p.n - 1];
    int n = 0;
    while (cur->kind == STMT_FOR && n < SCH_MAX_DEPTH) nest[n++] = cur, cur = cur->for_.body;
    if (cur->kind != STMT_BLOCK_REALIZE) {
        mlcc_set_error("%s: loop '%s' must hold a perfect nest of loops over one block", PRIM, loop->var.name);
        return NULL;
    }
    mlcc_stmt *realize = cur;
    const mlcc_block *b = realize->realize.block;
    mlcc_expr **vars = ir_alloc(sizeof(mlcc_expr *) * (size_t)n), **extents = ir_alloc(sizeof(mlcc_expr *) * (size_t)n);
    for (int i = 0; i < n; i++) {
        vars[i] = nest[i]->for_.var, extents[i] = nest[i]->for_.extent;
        if (!expr_is_int(nest[i]->for_.min, 0)) {
            mlcc_set_error("%s: loop '%s' does not start at 0", PRIM, vars[i]->var.name);
            return NULL;
        }
    }
    /* the loops outside the nest (in the block's scope) that the block depends on */
    int start = 0, nouter = 0;
    for (int i = 0; i < p.n - 1; i++)
        if (p.nodes[i]->kind == STMT_BLOCK_REALIZE) start = i + 1;
    mlcc_stmt **outer = ir_alloc(sizeof(mlcc_stmt *) * (size_t)(p.n + 1));
    for (int i = start; i < p.n - 1; i++)
        if (p.nodes[i]->kind == STMT_FOR && uses_var(realize, p.nodes[i]->for_.var, 0)) outer[nouter++] = p.nodes[i];
    char name[256];
    snprintf(name, sizeof name, "%s_o", b->name);
    sch_path taken;
    if (sch_find_block(s, mlcc_intern(name), &taken) == 0) {
        mlcc_set_error("%s: a block named '%s' exists already", PRIM, name);
        return NULL;
    }
    mlcc_block *ob = ir_block_new(mlcc_intern(name));
    ob->niters = nouter;
    ob->iters = ir_alloc(sizeof(mlcc_iter_var) * (size_t)(nouter + 1));
    mlcc_expr **ovars = ir_alloc(sizeof(mlcc_expr *) * (size_t)(nouter + 1));
    mlcc_expr **ivals = ir_alloc(sizeof(mlcc_expr *) * (size_t)(nouter + 1));
    for (int i = 0; i < nouter; i++) {
        mlcc_expr *v = outer[i]->for_.var;
        int reduce = uses_var(realize, v, 1);
        if (reduce && b->init) {
            mlcc_set_error("%s: loop '%s' outside the nest runs the reduction of block '%s', whose init would then "
                           "repeat (decompose_reduction first)", PRIM, v->var.name, b->name);
            return NULL;
        }
        snprintf(name, sizeof name, "v_%s", v->var.name);
        ovars[i] = v;
        ob->iters[i] = (mlcc_iter_var){ir_var(name, v->dtype), ir_range(outer[i]->for_.min, outer[i]->for_.extent),
                                       reduce ? ITER_REDUCE : ITER_SPATIAL};
        ivals[i] = ob->iters[i].var;
    }
    mlcc_region *reads = relax_regions(b->reads, b->nreads, realize, vars, extents, n);
    mlcc_region *writes = relax_regions(b->writes, b->nwrites, realize, vars, extents, n);
    ob->nreads = b->nreads, ob->nwrites = b->nwrites;
    ob->reads = ir_alloc(sizeof(mlcc_region) * (size_t)(b->nreads + 1));
    ob->writes = ir_alloc(sizeof(mlcc_region) * (size_t)(b->nwrites + 1));
    for (int i = 0; i < b->nreads; i++) ob->reads[i] = sch_region_substitute(reads[i], ovars, ivals, nouter);
    for (int i = 0; i < b->nwrites; i++) ob->writes[i] = sch_region_substitute(writes[i], ovars, ivals, nouter);
    /* the nest, its inner realize rewritten over the new iter vars */
    mlcc_expr **values = ir_alloc(sizeof(mlcc_expr *) * (size_t)(b->niters + 1));
    for (int i = 0; i < b->niters; i++) values[i] = expr_substitute(realize->realize.iter_values[i], ovars, ivals, nouter);
    mlcc_stmt *body = ir_block_realize(values, expr_substitute(realize->realize.predicate, ovars, ivals, nouter),
                                       realize->realize.block);
    for (int i = n - 1; i >= 0; i--) body = ir_for_update(nest[i], nest[i]->for_.min, nest[i]->for_.extent, body);
    ob->body = body;
    sch_commit(s, sch_path_replace(&p, ir_block_realize(ovars, ir_bool(1), ob)));
    const char *brv = sch_new_block_rv(s, ob->name);
    char line[300];
    snprintf(line, sizeof line, "%s = sch.blockize(%s)", brv, rv);
    sch_record(s, line);
    return ob->name;
}
