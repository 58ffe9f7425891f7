/* compute_at.c - compute_at and reverse_compute_at (see schedule.h), after TVM's
 * tir/schedule/primitive/compute_at.cc.
 *
 * compute_at moves a producer block under a loop of its consumers: its own loops are removed
 * and a new nest over its iter vars is placed at the start of the loop's body, iterating over
 * the region of its buffer that the consumers read in one iteration of the loop. That region
 * comes from the consumers' read regions with their bindings substituted, relaxed over the
 * loops between the loop and the consumer (an affine index spans [its minimum, its maximum]);
 * computing more than is read is harmless, so the relaxation may over-approximate.
 * reverse_compute_at moves a consumer under a loop of its producer, to the end of the loop's
 * body, iterating over what the producer writes in one iteration. Here an over-approximation
 * would read elements not yet written, so the region must be exact: each written range is
 * dense and affine in the loops under the loop (mixed-radix coefficients, as split and fuse
 * leave them, starting at the range's width: a tensorized tile's block writes [0, n) x
 * [j0 * 64, j0 * 64 + 64) with no loop under it), every loop feeding a reduction of the
 * producer is under the loop, and the producer's predicate only clips the tail of its domain.
 *
 * Both regenerate the block's loops from its iter vars: an iter var determined by the region
 * (the block writes, resp. reads, the buffer at exactly its iter vars) runs over the region, the
 * others over their whole domain; a region that sticks out of an iter var's domain is clipped by
 * the block's predicate. Extent-1 loops are not made (the binding is the region's start). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arith/analyzer.h"
#include "ir/functor.h"
#include "ir/printer.h"
#include "schedule/state.h"
#include "support/error.h"

typedef struct {
    const char *prim;
    int reverse;
    mlcc_schedule *s;
    const mlcc_block *b; /* the block that moves */
    mlcc_stmt *loop;     /* the target loop */
    mlcc_range *need;    /* per iter var of b: its range, or min == NULL for the whole domain */
} mover;

/* The nearest block realize above the path's target (NULL: the function body). */
static const mlcc_stmt *scope_of(const sch_path *p) {
    for (int i = p->n - 2; i >= 0; i--)
        if (p->nodes[i]->kind == STMT_BLOCK_REALIZE) return p->nodes[i];
    return NULL;
}

static int index_of(mlcc_stmt **rs, int nr, const mlcc_stmt *st) {
    for (int i = 0; i < nr; i++)
        if (rs[i] == st) return i;
    return -1;
}

static const char *expr_text(mlcc_expr *e, char *buf, size_t cap) {
    char *t = tir_expr_to_string(e);
    snprintf(buf, cap, "%s", t);
    free(t);
    return buf;
}

/* ---- affine indices over a nest ---- */

/* e with the nest vars all 0, or vars[keep] = 1. */
static mlcc_expr *at_unit(mlcc_expr *e, mlcc_expr **vars, int n, int keep) {
    mlcc_expr **vals = ir_alloc(sizeof(mlcc_expr *) * (size_t)(n + 1));
    for (int i = 0; i < n; i++) vals[i] = ir_int(i == keep);
    return arith_simplify_expr(expr_substitute(e, vars, vals, n));
}

/* Splits e = base + sum coef[i] * vars[i]; -1 when e is not affine in vars. */
static int affine(mlcc_expr *e, mlcc_expr **vars, int n, mlcc_expr **base, mlcc_expr **coef) {
    *base = at_unit(e, vars, n, -1);
    mlcc_expr *sum = *base;
    for (int i = 0; i < n; i++) {
        coef[i] = arith_simplify_expr(ir_sub(at_unit(e, vars, n, i), *base));
        sum = ir_add(sum, ir_mul(coef[i], vars[i]));
    }
    return expr_is_int(arith_simplify_expr(ir_sub(e, sum)), 0) ? 0 : -1;
}

/* The range [min, min + extent) of `r` spans as the nest vars run over [0, extents). */
static int relax_range(arith_analyzer *an, mlcc_range r, mlcc_expr **vars, mlcc_expr **extents, int n,
                       mlcc_range *out) {
    mlcc_expr *base, **coef = ir_alloc(sizeof(mlcc_expr *) * (size_t)(n + 1));
    if (affine(r.min, vars, n, &base, coef)) return -1;
    mlcc_expr *lo = base, *hi = base;
    for (int i = 0; i < n; i++) {
        if (expr_is_int(coef[i], 0)) continue;
        mlcc_expr *span = ir_mul(coef[i], ir_sub(extents[i], ir_int(1)));
        if (arith_prove(an, ir_ge(coef[i], ir_int(0)))) hi = ir_add(hi, span);
        else if (arith_prove(an, ir_le(coef[i], ir_int(0)))) lo = ir_add(lo, span);
        else return -1;
    }
    out->min = arith_simplify_expr(lo);
    out->extent = arith_simplify_expr(ir_add(ir_sub(hi, lo), r.extent));
    return 0;
}

/* Does the range [e, e + width) tile a dense box as the nest vars run: coefficients width,
 * width*e1, width*e1*e2, ... in some order (what split and fuse produce)? width 0 stands for a
 * symbolic width: then no nest var may move the range. Marks the vars used in *used. */
static int dense_range(mlcc_expr *e, int64_t width, mlcc_expr **vars, mlcc_expr **extents, int n, int *used) {
    mlcc_expr *base, **coef = ir_alloc(sizeof(mlcc_expr *) * (size_t)(n + 1));
    if (affine(e, vars, n, &base, coef)) return 0;
    int order[SCH_MAX_DEPTH], m = 0;
    for (int i = 0; i < n; i++) {
        if (expr_is_int(coef[i], 0)) continue;
        if (coef[i]->kind != EXPR_INT) return 0;
        if (used[i]) return 0; /* one loop feeding two dimensions: not a box */
        used[i] = 1;
        order[m++] = i;
    }
    for (int a = 1; a < m; a++) /* by |coefficient| */
        for (int c = a; c > 0 && llabs(coef[order[c]]->int_value) < llabs(coef[order[c - 1]]->int_value); c--) {
            int t = order[c];
            order[c] = order[c - 1];
            order[c - 1] = t;
        }
    if (m && width <= 0) return 0;
    int64_t want = width;
    for (int a = 0; a < m; a++) {
        if (llabs(coef[order[a]]->int_value) != want) return 0;
        if (a + 1 == m) break;
        mlcc_expr *ext = arith_simplify_expr(extents[order[a]]);
        if (ext->kind != EXPR_INT) return 0;
        want *= ext->int_value;
    }
    return 1;
}

/* ---- checks shared by both directions ---- */

/* Loops from the path's start of scope down to its target that lie below node index `from`. */
static int loops_below(const sch_path *p, int from, mlcc_expr **vars, mlcc_expr **extents, const char **bad) {
    int n = 0;
    for (int i = from + 1; i < p->n - 1; i++) {
        const mlcc_stmt *st = p->nodes[i];
        if (st->kind != STMT_FOR) continue;
        if (!expr_is_int(st->for_.min, 0)) {
            *bad = st->for_.var->var.name;
            return -1;
        }
        vars[n] = st->for_.var;
        extents[n++] = st->for_.extent;
    }
    return n;
}

static int path_index(const sch_path *p, const mlcc_stmt *st) {
    for (int i = 0; i < p->n; i++)
        if (p->nodes[i] == st) return i;
    return -1;
}

/* Does block realize r use buffer buf (declared or loaded)? */
static int realize_reads(mlcc_stmt *r, const mlcc_buffer *buf) {
    return sch_block_reads(r->realize.block, buf) || sch_stmt_loads_buffer(r, buf);
}

/* Does the block of realize `w` write a buffer that realize `r` reads? Returns that buffer. */
static const mlcc_buffer *writes_what_reads(mlcc_stmt *w, mlcc_stmt *r) {
    const mlcc_block *wb = w->realize.block;
    for (int i = 0; i < wb->nwrites; i++)
        if (realize_reads(r, wb->writes[i].buffer)) return wb->writes[i].buffer;
    return NULL;
}

/* Sets need[iter] from the range of dimension d of a buffer that block b accesses at exactly
 * its iter vars (idx = the region's point); merges with an earlier range of the same iter. */
static int set_need(mover *mv, const mlcc_region *acc, int d, mlcc_range r, const char *other) {
    const mlcc_block *b = mv->b;
    mlcc_expr *v = acc->ranges[d].min;
    int it = -1;
    for (int i = 0; i < b->niters; i++)
        if (b->iters[i].var == v) it = i;
    if (it < 0 || !expr_is_int(acc->ranges[d].extent, 1))
        return mlcc_set_error("%s: block '%s' does not %s '%s' at exactly its iter vars (dimension %d)", mv->prim,
                              b->name, mv->reverse ? "read" : "write", acc->buffer->name, d);
    mlcc_range *n = &mv->need[it];
    if (n->min && !(arith_expr_equal(n->min, r.min) && arith_expr_equal(n->extent, r.extent)))
        return mlcc_set_error("%s: iter var '%s' of block '%s' needs two different ranges (through '%s')", mv->prim,
                              v->var.name, b->name, other);
    *n = r;
    return 0;
}

/* ---- compute_at: the region the consumers read ---- */

/* Merges range r into *acc (the union, when the two differ by constants). */
static int union_range(mlcc_range *acc, mlcc_range r) {
    if (!acc->min) {
        *acc = r;
        return 0;
    }
    if (arith_expr_equal(acc->min, r.min) && arith_expr_equal(acc->extent, r.extent)) return 0;
    mlcc_expr *dlo = arith_simplify_expr(ir_sub(r.min, acc->min));
    mlcc_expr *dhi = arith_simplify_expr(ir_sub(ir_add(r.min, r.extent), ir_add(acc->min, acc->extent)));
    if (dlo->kind != EXPR_INT || dhi->kind != EXPR_INT) return -1;
    mlcc_expr *lo = dlo->int_value < 0 ? r.min : acc->min;
    mlcc_expr *hi = dhi->int_value > 0 ? ir_add(r.min, r.extent) : ir_add(acc->min, acc->extent);
    acc->min = lo;
    acc->extent = arith_simplify_expr(ir_sub(hi, lo));
    return 0;
}

static int consumer_needs(mover *mv, const mlcc_buffer *x, mlcc_range *dims) {
    mlcc_schedule *s = mv->s;
    mlcc_stmt **cs;
    int nc = sch_collect_realizes(mv->loop->for_.body, 1, &cs), found = 0;
    const char *lname = mv->loop->for_.var->var.name;
    for (int c = 0; c < nc; c++) {
        mlcc_stmt *cr = cs[c];
        const mlcc_block *cb = cr->realize.block;
        if (!realize_reads(cr, x)) continue;
        if (!sch_block_reads(cb, x))
            return mlcc_set_error("%s: block '%s' loads '%s' without declaring the read", mv->prim, cb->name, x->name);
        sch_path cp;
        if (sch_find_block(s, cb->name, &cp)) return mlcc_set_error("%s: internal error: block '%s' vanished", mv->prim, cb->name);
        mlcc_expr *vars[SCH_MAX_DEPTH], *ext[SCH_MAX_DEPTH];
        const char *bad = NULL;
        int n = loops_below(&cp, path_index(&cp, mv->loop), vars, ext, &bad);
        if (n < 0) return mlcc_set_error("%s: loop '%s' under loop '%s' does not start at 0", mv->prim, bad, lname);
        arith_analyzer *an = arith_new();
        for (int i = 0; i < n; i++) arith_bind_range(an, vars[i], ir_int(0), ext[i]);
        mlcc_expr **ivars = ir_alloc(sizeof(mlcc_expr *) * (size_t)(cb->niters + 1));
        for (int i = 0; i < cb->niters; i++) ivars[i] = cb->iters[i].var;
        int rc = 0;
        for (int k = 0; !rc && k < cb->nreads; k++) {
            if (cb->reads[k].buffer != x) continue;
            found = 1;
            mlcc_region r = sch_region_substitute(cb->reads[k], ivars, cr->realize.iter_values, cb->niters);
            for (int d = 0; !rc && d < x->ndim; d++) {
                mlcc_range need = {ir_int(0), x->shape[d]};
                char t[200];
                if (!r.whole && relax_range(an, r.ranges[d], vars, ext, n, &need))
                    rc = mlcc_set_error("%s: the index %s of '%s' in block '%s' is not affine in the loops under '%s'",
                                        mv->prim, expr_text(r.ranges[d].min, t, sizeof t), x->name, cb->name, lname);
                mlcc_expr *dep = rc ? NULL : sch_foreign_var(s, need.extent, NULL, 0);
                if (dep)
                    rc = mlcc_set_error("%s: the extent of the region of '%s' that block '%s' reads under loop '%s' "
                                        "depends on '%s'", mv->prim, x->name, cb->name, lname, dep->var.name);
                if (!rc && union_range(&dims[d], need))
                    rc = mlcc_set_error("%s: blocks read regions of '%s' under loop '%s' whose union in dimension %d "
                                        "has no constant size (block '%s')", mv->prim, x->name, lname, d, cb->name);
            }
        }
        arith_free(an);
        if (rc) return -1;
    }
    if (!found) return mlcc_set_error("%s: no block under loop '%s' reads '%s'", mv->prim, lname, x->name);
    return 0;
}

/* ---- reverse_compute_at: the region the producer writes, exactly ---- */

static int producer_writes(mover *mv, mlcc_stmt *pr, const mlcc_buffer *x) {
    mlcc_schedule *s = mv->s;
    const mlcc_block *pb = pr->realize.block;
    const char *lname = mv->loop->for_.var->var.name;
    sch_path pp;
    if (sch_find_block(s, pb->name, &pp)) return mlcc_set_error("%s: internal error: block '%s' vanished", mv->prim, pb->name);
    int at = path_index(&pp, mv->loop);
    mlcc_expr *vars[SCH_MAX_DEPTH], *ext[SCH_MAX_DEPTH];
    const char *bad = NULL;
    int n = loops_below(&pp, at, vars, ext, &bad);
    if (n < 0) return mlcc_set_error("%s: loop '%s' under loop '%s' does not start at 0", mv->prim, bad, lname);
    /* a reduction still running outside the loop is unfinished at the end of an iteration */
    for (int i = 0; i < pb->niters; i++) {
        if (pb->iters[i].type == ITER_SPATIAL) continue;
        for (int q = 0; q <= at; q++)
            if (pp.nodes[q]->kind == STMT_FOR && expr_uses_var(pr->realize.iter_values[i], pp.nodes[q]->for_.var))
                return mlcc_set_error("%s: loop '%s' (at or above loop '%s') runs the reduction of producer '%s': its "
                                      "result is not complete within one iteration", mv->prim,
                                      pp.nodes[q]->for_.var->var.name, lname, pb->name);
    }
    const mlcc_region *w = NULL;
    for (int k = 0; k < pb->nwrites; k++)
        if (pb->writes[k].buffer == x) w = &pb->writes[k];
    mlcc_expr **ivars = ir_alloc(sizeof(mlcc_expr *) * (size_t)(pb->niters + 1));
    for (int i = 0; i < pb->niters; i++) ivars[i] = pb->iters[i].var;
    mlcc_region r = sch_region_substitute(*w, ivars, pr->realize.iter_values, pb->niters);
    if (r.whole) return mlcc_set_error("%s: producer '%s' writes all of '%s' in one step", mv->prim, pb->name, x->name);
    /* the predicate may only clip the tail of a written dimension (split's `i0 * f + i1 < n`) */
    mlcc_expr *conj[64];
    int nconj = sch_conjuncts(pr->realize.predicate, conj, 64);
    if (nconj > 64) return mlcc_set_error("%s: the predicate of producer '%s' is too long", mv->prim, pb->name);
    for (int c = 0; c < nconj; c++) {
        int ok = 0, spatial_use = 0;
        for (int i = 0; i < pb->niters; i++)
            if (pb->iters[i].type == ITER_SPATIAL)
                for (int q = 0; q < n; q++)
                    spatial_use |= expr_uses_var(conj[c], vars[q]) && expr_uses_var(pr->realize.iter_values[i], vars[q]);
        if (!spatial_use) continue; /* about reduction loops or outer loops only: every element is still written */
        if (conj[c]->kind == EXPR_LT)
            for (int d = 0; d < x->ndim && !ok; d++)
                ok = arith_expr_equal(conj[c]->bin.a, arith_simplify_expr(r.ranges[d].min)) &&
                     arith_expr_equal(arith_simplify_expr(conj[c]->bin.b), arith_simplify_expr(x->shape[d]));
        if (!ok) {
            char t[200];
            return mlcc_set_error("%s: the predicate %s of producer '%s' does more than clip the tail of '%s'",
                                  mv->prim, expr_text(conj[c], t, sizeof t), pb->name, x->name);
        }
    }
    arith_analyzer *an = arith_new();
    for (int i = 0; i < n; i++) arith_bind_range(an, vars[i], ir_int(0), ext[i]);
    int used[SCH_MAX_DEPTH] = {0}, rc = 0;
    const mlcc_region *acc = NULL;
    for (int k = 0; k < mv->b->nreads; k++)
        if (mv->b->reads[k].buffer == x) acc = &mv->b->reads[k];
    if (!acc || acc->whole) rc = mlcc_set_error("%s: block '%s' does not read '%s' at exactly its iter vars", mv->prim,
                                                mv->b->name, x->name);
    for (int d = 0; !rc && d < x->ndim; d++) {
        char t[200];
        mlcc_range need;
        mlcc_expr *idx = arith_simplify_expr(r.ranges[d].min), *width = arith_simplify_expr(r.ranges[d].extent);
        int64_t w = width->kind == EXPR_INT ? width->int_value : 0;
        if ((width->kind == EXPR_INT && w < 1) || !dense_range(idx, w, vars, ext, n, used) ||
            relax_range(an, (mlcc_range){idx, width}, vars, ext, n, &need))
            rc = mlcc_set_error("%s: producer '%s' writes '%s' at %s, not a dense box over the loops under '%s'",
                                mv->prim, pb->name, x->name, expr_text(idx, t, sizeof t), lname);
        mlcc_expr *dep = rc ? NULL : sch_foreign_var(s, need.extent, NULL, 0);
        if (dep)
            rc = mlcc_set_error("%s: the extent of the region of '%s' that producer '%s' writes under loop '%s' "
                                "depends on '%s'", mv->prim, x->name, pb->name, lname, dep->var.name);
        if (!rc) rc = set_need(mv, acc, d, need, x->name);
    }
    arith_free(an);
    return rc;
}

/* ---- the regenerated nest ---- */

static mlcc_stmt *regenerate(mover *mv) {
    const mlcc_block *b = mv->b;
    mlcc_expr **vals = ir_alloc(sizeof(mlcc_expr *) * (size_t)(b->niters + 1));
    mlcc_expr *lvars[SCH_MAX_DEPTH], *lext[SCH_MAX_DEPTH];
    int nl = 0;
    mlcc_expr *pred = ir_bool(1);
    for (int i = 0; i < b->niters; i++) {
        const mlcc_iter_var *iv = &b->iters[i];
        mlcc_range r = mv->need[i].min ? mv->need[i] : iv->dom;
        mlcc_expr *ext = arith_simplify_expr(r.extent);
        if (expr_is_int(ext, 1)) {
            vals[i] = r.min;
        } else {
            char name[32];
            snprintf(name, sizeof name, "ax%d", nl);
            lvars[nl] = ir_var(name, iv->var->dtype);
            lext[nl] = ext;
            vals[i] = ir_add(r.min, lvars[nl++]);
        }
        if (mv->need[i].min) { /* clip what sticks out of the domain */
            pred = ir_and(pred, ir_ge(vals[i], iv->dom.min));
            pred = ir_and(pred, ir_lt(vals[i], ir_add(iv->dom.min, iv->dom.extent)));
        }
    }
    mlcc_stmt *body = ir_block_realize(vals, pred, (mlcc_block *)b);
    for (int k = nl - 1; k >= 0; k--) body = ir_for(lvars[k], ir_int(0), lext[k], FOR_SERIAL, body);
    return body;
}

/* ---- the primitive ---- */

static int move_block(mlcc_schedule *s, const char *name, mlcc_expr *loop, int reverse) {
    const char *prim = reverse ? "reverse_compute_at" : "compute_at";
    sch_path bp, lp;
    if (!name || sch_find_block(s, name, &bp)) return mlcc_set_error("%s: no block named '%s'", prim, name ? name : "(null)");
    if (!loop || loop->kind != EXPR_VAR) return mlcc_set_error("%s: expected a loop var", prim);
    const char *lrv = sch_loop_rv(s, loop, prim);
    if (!lrv) return -1;
    if (sch_find_loop(s, loop, &lp)) return mlcc_set_error("%s: loop '%s' does not exist (any more)", prim, loop->var.name);
    mlcc_stmt *realize = bp.nodes[bp.n - 1], *lst = lp.nodes[lp.n - 1];
    const mlcc_block *b = realize->realize.block;
    const char *ln = loop->var.name;
    if (path_index(&bp, lst) >= 0)
        return mlcc_set_error("%s: loop '%s' is a loop around block '%s' itself", prim, ln, name);
    if (scope_of(&bp) != scope_of(&lp))
        return mlcc_set_error("%s: loop '%s' and block '%s' are not in the same block scope", prim, ln, name);
    for (int i = 0; i < lp.n; i++) {
        const mlcc_stmt *st = lp.nodes[i];
        if (st->kind == STMT_FOR && (st->for_.kind == FOR_VECTORIZED || st->for_.kind == FOR_THREAD_BINDING))
            return mlcc_set_error("%s: loop '%s' is %s; a block cannot move under it", prim, st->for_.var->var.name,
                                  st->for_.kind == FOR_VECTORIZED ? "vectorized" : "bound to a thread axis");
    }
    if (b->nwrites != 1) return mlcc_set_error("%s: block '%s' writes %d buffers (1 supported)", prim, name, b->nwrites);
    if (b->niters >= SCH_MAX_DEPTH) return mlcc_set_error("%s: block '%s' has too many iter vars", prim, name);
    const mlcc_buffer *y = b->writes[0].buffer;

    /* program order: all realizes; the loop's lie in [l0, l1], the block's in [p0, p1] */
    mlcc_stmt **rs, **under, **inside;
    int nr = sch_collect_realizes(s->func->body, 0, &rs);
    int nu = sch_collect_realizes(lst, 0, &under);
    int ni = sch_collect_realizes(realize, 0, &inside);
    if (!nu) return mlcc_set_error("%s: loop '%s' holds no block", prim, ln);
    int l0 = index_of(rs, nr, under[0]), l1 = l0 + nu - 1, p0 = index_of(rs, nr, realize), p1 = p0 + ni - 1;
    if (!reverse && p0 > l1) return mlcc_set_error("%s: block '%s' comes after loop '%s'", prim, name, ln);
    if (reverse && p0 < l0) return mlcc_set_error("%s: block '%s' comes before loop '%s'", prim, name, ln);

    mover mv = {prim, reverse, s, b, lst, ir_alloc(sizeof(mlcc_range) * (size_t)(b->niters + 1))};
    memset(mv.need, 0, sizeof(mlcc_range) * (size_t)(b->niters + 1));
    if (!reverse) {
        if (sch_is_param_buffer(s, y))
            return mlcc_set_error("%s: the buffer '%s' of block '%s' is an output of the function", prim, y->name, name);
        for (int r = 0; r < nr; r++) {
            if (r >= p0 && r <= p1) continue;
            const mlcc_block *o = rs[r]->realize.block;
            if (sch_block_writes(o, y))
                return mlcc_set_error("%s: buffer '%s' of block '%s' is also written by block '%s'", prim, y->name, name, o->name);
            if (realize_reads(rs[r], y) && (r < l0 || r > l1))
                return mlcc_set_error("%s: block '%s' reads '%s' outside loop '%s'", prim, o->name, y->name, ln);
            const mlcc_buffer *z = r > p1 && r <= l1 ? writes_what_reads(rs[r], realize) : NULL;
            if (z)
                return mlcc_set_error("%s: block '%s' writes '%s', which block '%s' reads, before the place under loop "
                                      "'%s'", prim, o->name, z->name, name, ln);
        }
        if (b->init)
            for (int i = 0; i < lp.n; i++)
                if (lp.nodes[i]->kind == STMT_FOR && lp.nodes[i]->for_.kind == FOR_PARALLEL)
                    return mlcc_set_error("%s: block '%s' is a reduction and loop '%s' runs in parallel: iterations "
                                          "that need the same elements would reduce into them at once", prim, name,
                                          lp.nodes[i]->for_.var->var.name);
        /* the block writes its buffer at exactly its spatial iter vars; reduce iters run whole */
        mlcc_range *dims = ir_alloc(sizeof(mlcc_range) * (size_t)(y->ndim + 1));
        memset(dims, 0, sizeof(mlcc_range) * (size_t)(y->ndim + 1));
        if (b->writes[0].whole)
            return mlcc_set_error("%s: block '%s' does not write '%s' at exactly its iter vars", prim, name, y->name);
        int nspatial = 0;
        for (int i = 0; i < b->niters; i++) nspatial += b->iters[i].type == ITER_SPATIAL;
        if (nspatial != y->ndim)
            return mlcc_set_error("%s: block '%s' has %d spatial iter vars for the %d dimensions of '%s'", prim, name,
                                  nspatial, y->ndim, y->name);
        if (consumer_needs(&mv, y, dims)) return -1;
        for (int d = 0; d < y->ndim; d++)
            if (set_need(&mv, &b->writes[0], d, dims[d], y->name)) return -1;
        for (int i = 0; i < b->niters; i++)
            if (b->iters[i].type != ITER_SPATIAL && mv.need[i].min)
                return mlcc_set_error("%s: block '%s' writes '%s' at its reduce iter var '%s'", prim, name, y->name,
                                      b->iters[i].var->var.name);
    } else {
        int nprod = 0;
        for (int r = 0; r < nr; r++) {
            if (r >= p0 && r <= p1) continue;
            const mlcc_block *o = rs[r]->realize.block;
            if (r >= l0 && r < p0 && (sch_block_writes(o, y) || realize_reads(rs[r], y)))
                return mlcc_set_error("%s: block '%s' %s '%s', which block '%s' writes, %s", prim, o->name,
                                      sch_block_writes(o, y) ? "writes" : "reads", y->name, name,
                                      r <= l1 ? "under the loop" : "between the loop and the block");
            const mlcc_buffer *z = r > l1 && r < p0 ? writes_what_reads(rs[r], realize) : NULL;
            if (z)
                return mlcc_set_error("%s: block '%s' writes '%s', which block '%s' reads, between loop '%s' and it",
                                      prim, o->name, z->name, name, ln);
        }
        /* each buffer the block reads that a block under the loop writes */
        for (int u = 0; u < nu; u++) {
            mlcc_stmt *pr = under[u];
            const mlcc_block *pb = pr->realize.block;
            for (int k = 0; k < pb->nwrites; k++) {
                const mlcc_buffer *x = pb->writes[k].buffer;
                if (!realize_reads(realize, x)) continue;
                for (int r = 0; r < nr; r++)
                    if (rs[r] != pr && sch_block_writes(rs[r]->realize.block, x))
                        return mlcc_set_error("%s: buffer '%s' read by block '%s' has another writer, block '%s'",
                                              prim, x->name, name, rs[r]->realize.block->name);
                mlcc_stmt **top;
                int nt = sch_collect_realizes(lst->for_.body, 1, &top), is_top = 0;
                for (int t = 0; t < nt; t++) is_top |= top[t] == pr;
                if (!is_top)
                    return mlcc_set_error("%s: producer '%s' of '%s' is nested in another block under loop '%s'",
                                          prim, pb->name, x->name, ln);
                if (producer_writes(&mv, pr, x)) return -1;
                nprod++;
            }
        }
        if (!nprod) return mlcc_set_error("%s: block '%s' reads no buffer that a block under loop '%s' writes", prim, name, ln);
        for (int i = 0; i < b->niters; i++) {
            const mlcc_iter_var *iv = &b->iters[i];
            if (iv->type == ITER_SPATIAL || !mv.need[i].min) continue;
            arith_analyzer *an = arith_new();
            int whole = arith_prove_equal(an, mv.need[i].min, iv->dom.min) &&
                        arith_prove_equal(an, mv.need[i].extent, iv->dom.extent);
            arith_free(an);
            if (!whole)
                return mlcc_set_error("%s: one iteration of loop '%s' produces only part of the range of the reduce "
                                      "iter var '%s' of block '%s'", prim, ln, iv->var->var.name, name);
            mv.need[i].min = NULL; /* its whole domain, unclipped */
        }
    }

    const char *brv = sch_block_rv(s, name);
    mlcc_stmt *nest = regenerate(&mv);
    mlcc_stmt *saved = s->func->body;
    s->func->body = sch_path_replace(&bp, NULL);
    if (!s->func->body || sch_find_loop(s, loop, &lp)) {
        s->func->body = saved;
        return mlcc_set_error("%s: internal error: loop '%s' vanished", prim, ln);
    }
    lst = lp.nodes[lp.n - 1];
    mlcc_stmt *body = reverse ? ir_seq2(lst->for_.body, nest) : ir_seq2(nest, lst->for_.body);
    sch_commit(s, sch_path_replace(&lp, ir_for_update(lst, lst->for_.min, lst->for_.extent, body)));
    char line[256];
    snprintf(line, sizeof line, "sch.%s(%s, %s)", prim, brv, lrv);
    sch_record(s, line);
    return 0;
}

int sch_compute_at(mlcc_schedule *s, const char *block, mlcc_expr *loop) {
    return move_block(s, block, loop, 0);
}

int sch_reverse_compute_at(mlcc_schedule *s, const char *block, mlcc_expr *loop) {
    return move_block(s, block, loop, 1);
}
