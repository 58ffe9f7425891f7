/* rfactor.c - rfactor (see schedule.h), after TVM's tir/schedule/primitive/reduction.cc.
 *
 * A reduction block B, Y[s] = Y[s] op f(...) over reduce iter vars bound to loops, is split in
 * two. The rfactor block "B_rf" runs in B's place over B's loops and keeps partial results in a
 * new buffer Y_rf, Y's shape with the extent of `loop` inserted at `factor_axis`: the iter vars
 * it gets for the loops of the reduction are spatial for `loop` (it indexes Y_rf) and reduce
 * for the others, so each partial result has its own init. The write-back block, which keeps
 * the name B, then reduces Y_rf over that axis into Y, in a new loop nest over B's spatial
 * domain right after B's function-level statement. Partial results are independent, so the
 * loop may then run in parallel: the basis of parallel reductions.
 *
 * The combiner is recognized from the body: op is +, max or min of the loaded Y[s] and a value
 * not reading Y, and the init stores op's identity (0, lowest, highest): the partial results
 * then start from the identity as well. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arith/analyzer.h"
#include "ir/functor.h"
#include "ir/printer.h"
#include "schedule/state.h"
#include "support/error.h"

#define PRIM "rfactor"

typedef struct {
    const mlcc_buffer *y;
    mlcc_buffer *rf;
    int axis;
    mlcc_expr *at; /* the index of the new axis */
} rf_redirect;

static mlcc_expr **insert_index(mlcc_expr **idx, int n, int axis, mlcc_expr *at) {
    mlcc_expr **out = ir_alloc(sizeof(mlcc_expr *) * (size_t)(n + 2));
    for (int d = 0, k = 0; d <= n; d++) {
        if (d == axis) out[k++] = at;
        if (d < n) out[k++] = idx[d];
    }
    return out;
}

static mlcc_expr *redirect_load(ir_mutator *m, mlcc_expr *e) {
    rf_redirect *r = m->ctx;
    if (e->kind != EXPR_LOAD || e->load.buffer != r->y) return NULL;
    return ir_load(r->rf, insert_index(e->load.indices, e->load.nidx, r->axis, r->at), e->load.nidx + 1);
}

static mlcc_stmt *redirect_store(ir_mutator *m, mlcc_stmt *st) {
    rf_redirect *r = m->ctx;
    if (st->kind != STMT_STORE || st->store.buffer != r->y) return NULL;
    return ir_store(r->rf, ir_mutate_expr(m, st->store.value),
                    insert_index(st->store.indices, st->store.nidx, r->axis, r->at), st->store.nidx + 1);
}

static mlcc_region region_insert(mlcc_region reg, mlcc_buffer *rf, int axis, mlcc_range at) {
    mlcc_region out = {rf, ir_alloc(sizeof(mlcc_range) * (size_t)(rf->ndim + 1)), 0};
    for (int d = 0, k = 0; d <= reg.buffer->ndim; d++) {
        if (d == axis) out.ranges[k++] = at;
        if (d < reg.buffer->ndim)
            out.ranges[k++] = reg.whole ? ir_range(ir_int(0), reg.buffer->shape[d]) : reg.ranges[d];
    }
    return out;
}

/* The combiner of `value` = op(Y[idx], rhs) with Y = store's buffer: the op kind, *rhs set. */
static mlcc_expr_kind combiner(const mlcc_stmt *store, mlcc_expr **rhs) {
    mlcc_expr *v = store->store.value;
    if (v->kind != EXPR_ADD && v->kind != EXPR_MAX && v->kind != EXPR_MIN) return EXPR_KIND_COUNT;
    mlcc_expr *self = ir_load(store->store.buffer, store->store.indices, store->store.nidx);
    if (sch_expr_equal(v->bin.a, self)) *rhs = v->bin.b;
    else if (sch_expr_equal(v->bin.b, self)) *rhs = v->bin.a;
    else return EXPR_KIND_COUNT;
    if (sch_expr_loads_buffer(*rhs, store->store.buffer)) return EXPR_KIND_COUNT;
    return v->kind;
}

static mlcc_expr *identity(mlcc_expr_kind op, mlcc_dtype t) {
    return op == EXPR_ADD ? ir_zero(t) : op == EXPR_MAX ? ir_min_value(t) : ir_max_value(t);
}

const char *sch_rfactor(mlcc_schedule *s, mlcc_expr *loop, int factor_axis) {
    if (!loop || loop->kind != EXPR_VAR) {
        mlcc_set_error("%s: expected a loop var", PRIM);
        return NULL;
    }
    const char *lrv = sch_loop_rv(s, loop, PRIM);
    sch_path lp;
    if (!lrv) return NULL;
    if (sch_find_loop(s, loop, &lp)) {
        mlcc_set_error("%s: loop '%s' does not exist (any more)", PRIM, loop->var.name);
        return NULL;
    }
    const char *ln = loop->var.name;
    mlcc_stmt *lst = lp.nodes[lp.n - 1];
    /* the one block under the loop */
    mlcc_stmt **under;
    if (sch_collect_realizes(lst, 1, &under) != 1) {
        mlcc_set_error("%s: loop '%s' must hold exactly one block", PRIM, ln);
        return NULL;
    }
    mlcc_stmt *realize = under[0];
    const mlcc_block *b = realize->realize.block;
    sch_path bp;
    sch_find_block(s, b->name, &bp);
    for (int i = 0; i < bp.n - 1; i++)
        if (bp.nodes[i]->kind == STMT_BLOCK_REALIZE) {
            mlcc_set_error("%s: block '%s' is nested in block '%s' (only the function's own blocks are handled)", PRIM,
                           b->name, bp.nodes[i]->realize.block->name);
            return NULL;
        }
    if (!b->init || b->nwrites != 1 || !b->body || b->body->kind != STMT_STORE || b->init->kind != STMT_STORE ||
        b->body->store.buffer != b->writes[0].buffer || b->nalloc) {
        mlcc_set_error("%s: block '%s' is not a reduction whose body and init are one store to the buffer it writes",
                       PRIM, b->name);
        return NULL;
    }
    if (b->niters >= SCH_MAX_DEPTH - 1) {
        mlcc_set_error("%s: block '%s' has too many iter vars", PRIM, b->name);
        return NULL;
    }
    mlcc_stmt *store = b->body;
    mlcc_buffer *y = store->store.buffer;
    mlcc_expr *rhs;
    mlcc_expr_kind op = combiner(store, &rhs);
    if (op == EXPR_KIND_COUNT) {
        mlcc_set_error("%s: the body of block '%s' is not '%s[...] = %s[...] + (or max, min) a value that does not read "
                       "it'", PRIM, b->name, y->name, y->name);
        return NULL;
    }
    if (!sch_expr_equal(b->init->store.value, identity(op, y->dtype))) {
        mlcc_set_error("%s: the init of block '%s' is not the identity of its combiner", PRIM, b->name);
        return NULL;
    }
    if (factor_axis < 0 && factor_axis >= -(y->ndim + 1)) factor_axis += y->ndim + 1; /* from the end, as TVM */
    if (factor_axis < 0 || factor_axis > y->ndim) {
        mlcc_set_error("%s: factor_axis %d is out of range for the %d dimensions of '%s'", PRIM, factor_axis, y->ndim,
                       y->name);
        return NULL;
    }
    if (!expr_is_int(lst->for_.min, 0)) {
        mlcc_set_error("%s: loop '%s' does not start at 0", PRIM, ln);
        return NULL;
    }
    if (sch_foreign_var(s, lst->for_.extent, NULL, 0)) {
        mlcc_set_error("%s: the extent of loop '%s' depends on another loop", PRIM, ln);
        return NULL;
    }
    /* the loop feeds the reduction only; the loops of the reduction (in the block's scope) */
    int uses = 0;
    for (int i = 0; i < b->niters; i++) {
        if (!expr_uses_var(realize->realize.iter_values[i], loop)) continue;
        if (b->iters[i].type != ITER_REDUCE) {
            mlcc_set_error("%s: loop '%s' is bound to the %s iter var '%s' of block '%s'", PRIM, ln,
                           b->iters[i].type == ITER_SPATIAL ? "spatial" : "opaque", b->iters[i].var->var.name, b->name);
            return NULL;
        }
        uses = 1;
    }
    if (!uses) {
        mlcc_set_error("%s: loop '%s' does not run the reduction of block '%s'", PRIM, ln, b->name);
        return NULL;
    }
    for (int i = 0; i < b->niters; i++)
        if (b->iters[i].type == ITER_OPAQUE) {
            mlcc_set_error("%s: block '%s' has an opaque iter var '%s'", PRIM, b->name, b->iters[i].var->var.name);
            return NULL;
        }
    mlcc_stmt *rloops[SCH_MAX_DEPTH];
    int nrl = 0;
    for (int i = 0; i < bp.n - 1; i++) {
        mlcc_stmt *st = bp.nodes[i];
        if (st->kind != STMT_FOR) continue;
        int red = 0, spat = 0;
        for (int k = 0; k < b->niters; k++) {
            int u = expr_uses_var(realize->realize.iter_values[k], st->for_.var);
            if (b->iters[k].type == ITER_REDUCE) red |= u;
            else spat |= u;
        }
        if (red && spat) {
            mlcc_set_error("%s: loop '%s' feeds both spatial and reduce iter vars of block '%s'", PRIM,
                           st->for_.var->var.name, b->name);
            return NULL;
        }
        if (red) rloops[nrl++] = st;
    }
    for (int k = 0; k < b->niters; k++) {
        if (b->iters[k].type != ITER_REDUCE) continue;
        mlcc_expr **lv = ir_alloc(sizeof(mlcc_expr *) * (size_t)(nrl + 1));
        for (int q = 0; q < nrl; q++) lv[q] = rloops[q]->for_.var;
        mlcc_expr *other = sch_foreign_var(s, realize->realize.iter_values[k], lv, nrl);
        if (other) {
            mlcc_set_error("%s: the reduce iter var '%s' of block '%s' is bound to '%s', not a loop of its scope", PRIM,
                           b->iters[k].var->var.name, b->name, other->var.name);
            return NULL;
        }
    }
    /* each partial result must get its init: for every value of `loop`, the reduction's first
     * step (the other reduction loops at their start) must pass the predicate; else a split
     * that overshoots (k = 10 as 3 x 5) leaves partial results no step ever writes */
    mlcc_expr *conj[64];
    int nconj = sch_conjuncts(realize->realize.predicate, conj, 64);
    if (nconj > 64) {
        mlcc_set_error("%s: the predicate of block '%s' is too long", PRIM, b->name);
        return NULL;
    }
    mlcc_expr *others[SCH_MAX_DEPTH], *starts[SCH_MAX_DEPTH];
    int no = 0;
    for (int q = 0; q < nrl; q++)
        if (rloops[q] != lst) others[no] = rloops[q]->for_.var, starts[no++] = rloops[q]->for_.min;
    arith_analyzer *an = arith_new();
    mlcc_expr **size_vars;
    int nsize = prim_func_size_vars(s->func, &size_vars);
    for (int i = 0; i < nsize; i++) arith_bind_bounds(an, size_vars[i], 0, INT64_MAX);
    arith_bind_range(an, loop, lst->for_.min, lst->for_.extent);
    for (int c = 0; c < nconj; c++) {
        int about_reduction = 0;
        for (int q = 0; q < nrl; q++) about_reduction |= expr_uses_var(conj[c], rloops[q]->for_.var);
        if (!about_reduction || arith_prove(an, expr_substitute(conj[c], others, starts, no))) continue;
        char *text = tir_expr_to_string(conj[c]);
        mlcc_set_error("%s: under the predicate %s of block '%s', some iterations of loop '%s' run no step of the "
                       "reduction: their partial results would never be initialized", PRIM, text, b->name, ln);
        free(text);
        arith_free(an);
        return NULL;
    }
    arith_free(an);
    /* nothing else in the block's statement touches Y: the write-back goes after it */
    int t = sch_top_index(s, b->name);
    mlcc_stmt **rs;
    int nr = sch_collect_realizes(s->func->body, 0, &rs);
    for (int r = 0; r < nr; r++) {
        const mlcc_block *o = rs[r]->realize.block;
        if (o == b) continue;
        if (sch_block_writes(o, y)) {
            mlcc_set_error("%s: buffer '%s' of block '%s' is also written by block '%s'", PRIM, y->name, b->name, o->name);
            return NULL;
        }
        if (sch_top_index(s, o->name) == t && (sch_block_reads(o, y) || sch_stmt_loads_buffer(rs[r], y))) {
            mlcc_set_error("%s: block '%s' reads '%s' in the same loop nest as block '%s'", PRIM, o->name, y->name, b->name);
            return NULL;
        }
    }
    char name[300];
    snprintf(name, sizeof name, "%s_rf", b->name);
    const char *rf_name = mlcc_intern(name);
    sch_path taken;
    if (!sch_find_block(s, rf_name, &taken)) {
        mlcc_set_error("%s: a block named '%s' exists already", PRIM, rf_name);
        return NULL;
    }

    /* the partial-result buffer */
    mlcc_expr **shape = insert_index(y->shape, y->ndim, factor_axis, lst->for_.extent);
    snprintf(name, sizeof name, "%s_rf", y->name);
    mlcc_buffer *rf = ir_buffer_scoped(ir_strdup(name), y->dtype, shape, y->ndim + 1, y->scope);

    /* the rfactor block: one iter var per reduction loop, spatial for `loop` */
    mlcc_block *fb = ir_block_copy(b);
    fb->name = rf_name;
    fb->iters = ir_alloc(sizeof(mlcc_iter_var) * (size_t)(b->niters + nrl + 1));
    mlcc_expr **vals = ir_alloc(sizeof(mlcc_expr *) * (size_t)(b->niters + nrl + 1));
    mlcc_expr **rvars = ir_alloc(sizeof(mlcc_expr *) * (size_t)(b->niters + 1));
    mlcc_expr **rvals = ir_alloc(sizeof(mlcc_expr *) * (size_t)(b->niters + 1));
    mlcc_expr **lvars = ir_alloc(sizeof(mlcc_expr *) * (size_t)(nrl + 1));
    mlcc_expr **lnew = ir_alloc(sizeof(mlcc_expr *) * (size_t)(nrl + 1));
    mlcc_expr *vr = NULL;
    int ni = 0, nred = 0;
    for (int k = 0; k < b->niters; k++)
        if (b->iters[k].type == ITER_SPATIAL) {
            fb->iters[ni] = b->iters[k];
            vals[ni++] = realize->realize.iter_values[k];
        }
    for (int q = 0; q < nrl; q++) {
        mlcc_stmt *st = rloops[q];
        snprintf(name, sizeof name, "v%s", st->for_.var->var.name);
        lvars[q] = st->for_.var;
        lnew[q] = ir_var(name, st->for_.var->dtype);
        int is_rf = st == lst;
        if (is_rf) vr = lnew[q];
        fb->iters[ni] = (mlcc_iter_var){lnew[q], ir_range(st->for_.min, st->for_.extent), is_rf ? ITER_SPATIAL : ITER_REDUCE};
        vals[ni++] = st->for_.var;
    }
    fb->niters = ni;
    for (int k = 0; k < b->niters; k++)
        if (b->iters[k].type == ITER_REDUCE) {
            rvars[nred] = b->iters[k].var;
            rvals[nred++] = expr_substitute(realize->realize.iter_values[k], lvars, lnew, nrl);
        }
    rf_redirect rd = {y, rf, factor_axis, vr};
    ir_mutator m = {redirect_load, redirect_store, NULL, &rd};
    fb->body = ir_mutate_stmt(&m, stmt_substitute(b->body, rvars, rvals, nred));
    fb->init = ir_mutate_stmt(&m, stmt_substitute(b->init, rvars, rvals, nred));
    fb->reads = ir_alloc(sizeof(mlcc_region) * (size_t)(b->nreads + 1));
    fb->nreads = 0;
    for (int i = 0; i < b->nreads; i++) {
        mlcc_region r = sch_region_substitute(b->reads[i], rvars, rvals, nred);
        fb->reads[fb->nreads++] = r.buffer == y ? region_insert(r, rf, factor_axis, ir_range(vr, ir_int(1))) : r;
    }
    fb->writes = ir_alloc(sizeof(mlcc_region));
    fb->writes[0] = region_insert(b->writes[0], rf, factor_axis, ir_range(vr, ir_int(1)));
    mlcc_stmt *rf_realize = ir_block_realize(vals, realize->realize.predicate, fb);

    /* the write-back block: Y[s] = Y[s] op Y_rf[s, r], over B's spatial domain and r */
    mlcc_block *wb = ir_block_new(b->name);
    wb->iters = ir_alloc(sizeof(mlcc_iter_var) * (size_t)(b->niters + 2));
    mlcc_expr **svars = ir_alloc(sizeof(mlcc_expr *) * (size_t)(b->niters + 1));
    mlcc_expr **snew = ir_alloc(sizeof(mlcc_expr *) * (size_t)(b->niters + 1));
    mlcc_expr *loops[SCH_MAX_DEPTH], *exts[SCH_MAX_DEPTH], *wvals[SCH_MAX_DEPTH];
    int ns = 0;
    for (int k = 0; k < b->niters; k++) {
        if (b->iters[k].type != ITER_SPATIAL) continue;
        svars[ns] = b->iters[k].var;
        snprintf(name, sizeof name, "%s", b->iters[k].var->var.name);
        snew[ns] = ir_var(name, b->iters[k].var->dtype);
        wb->iters[ns] = (mlcc_iter_var){snew[ns], b->iters[k].dom, ITER_SPATIAL};
        snprintf(name, sizeof name, "ax%d", ns);
        loops[ns] = ir_var(name, DT_I64);
        exts[ns] = b->iters[k].dom.extent;
        wvals[ns] = ir_add(b->iters[k].dom.min, loops[ns]);
        ns++;
    }
    snprintf(name, sizeof name, "v%s", ln);
    mlcc_expr *vr2 = ir_var(name, vr->dtype);
    wb->iters[ns] = (mlcc_iter_var){vr2, ir_range(ir_int(0), lst->for_.extent), ITER_REDUCE};
    snprintf(name, sizeof name, "ax%d", ns);
    loops[ns] = ir_var(name, DT_I64);
    exts[ns] = lst->for_.extent;
    wvals[ns] = loops[ns];
    wb->niters = ns + 1;
    int nd = store->store.nidx;
    mlcc_expr **idx = ir_alloc(sizeof(mlcc_expr *) * (size_t)(nd + 1));
    for (int d = 0; d < nd; d++) idx[d] = expr_substitute(store->store.indices[d], svars, snew, ns);
    mlcc_expr *self = ir_load(y, idx, nd);
    mlcc_expr *part = ir_load(rf, insert_index(idx, nd, factor_axis, vr2), nd + 1);
    wb->body = ir_store(y, ir_binary(op, self, part), idx, nd);
    wb->init = ir_store(y, identity(op, y->dtype), idx, nd);
    wb->nreads = wb->nwrites = 1;
    wb->reads = ir_alloc(sizeof(mlcc_region));
    wb->writes = ir_alloc(sizeof(mlcc_region));
    wb->writes[0] = sch_region_substitute(b->writes[0], svars, snew, ns);
    wb->reads[0] = region_insert(wb->writes[0], rf, factor_axis, ir_range(vr2, ir_int(1)));
    mlcc_stmt *wnest = ir_block_realize(wvals, ir_bool(1), wb);
    for (int k = ns; k >= 0; k--) wnest = ir_for(loops[k], ir_int(0), exts[k], FOR_SERIAL, wnest);

    /* install: the rfactor block in B's place, the write-back after B's statement */
    mlcc_stmt *saved = s->func->body;
    s->func->body = sch_path_replace(&bp, rf_realize);
    mlcc_stmt *body = s->func->body;
    int n = body->kind == STMT_SEQ ? body->seq.n : 1;
    if (t < 0 || t >= n) {
        s->func->body = saved;
        mlcc_set_error("%s: internal error: block '%s' is not in a function-level statement", PRIM, b->name);
        return NULL;
    }
    mlcc_stmt **xs = ir_alloc(sizeof(mlcc_stmt *) * (size_t)(n + 2));
    int k = 0;
    for (int i = 0; i < n; i++) {
        xs[k++] = body->kind == STMT_SEQ ? body->seq.stmts[i] : body;
        if (i == t) xs[k++] = wnest;
    }
    prim_func_add_alloc(s->func, rf);
    sch_commit(s, ir_seq(xs, k));
    /* the name b->name now means the write-back block; the old handle moves to B_rf */
    const char *frv = sch_new_block_rv(s, rf_name);
    char line[300];
    snprintf(line, sizeof line, "%s = sch.rfactor(%s, %d)", frv, lrv, factor_axis);
    sch_record(s, line);
    return rf_name;
}
