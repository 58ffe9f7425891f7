/* reduction.c - decompose_reduction (see schedule.h), after TVM's
 * tir/schedule/primitive/reduction.cc.
 *
 * The init of a reduction block moves into a block of its own, "<name>_init", over the block's
 * spatial iter vars, placed right before the given loop and surrounded by copies of the loops
 * between that loop and the block that its bindings use. The loop must be above every loop
 * that the reduce iter vars are bound to: the init nest then runs, for each point, before
 * every update of that point. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ir/functor.h"
#include "ir/printer.h"
#include "schedule/state.h"
#include "support/error.h"

static int uses_any(mlcc_expr *e, mlcc_expr **vars, int n) {
    for (int i = 0; i < n; i++)
        if (expr_uses_var(e, vars[i])) return 1;
    return 0;
}

const char *sch_decompose_reduction(mlcc_schedule *s, const char *name, mlcc_expr *loop) {
    const char *prim = "decompose_reduction";
    sch_path p;
    if (!name || sch_find_block(s, name, &p)) {
        mlcc_set_error("%s: no block named '%s'", prim, name ? name : "(null)");
        return NULL;
    }
    if (!loop || loop->kind != EXPR_VAR) {
        mlcc_set_error("%s: expected a loop var", prim);
        return NULL;
    }
    const char *lrv = sch_loop_rv(s, loop, prim);
    if (!lrv) return NULL;
    mlcc_stmt *realize = p.nodes[p.n - 1];
    const mlcc_block *b = realize->realize.block;
    if (!b->init) {
        mlcc_set_error("%s: block '%s' is not a reduction (it has no init)", prim, name);
        return NULL;
    }
    /* the loops of the block's scope, outermost first, and where `loop` is among them */
    int start = 0;
    for (int i = 0; i < p.n - 1; i++)
        if (p.nodes[i]->kind == STMT_BLOCK_REALIZE) start = i + 1;
    mlcc_stmt *loops[SCH_MAX_DEPTH];
    int nloops = 0, at = -1;
    for (int i = start; i < p.n - 1; i++) {
        if (p.nodes[i]->kind != STMT_FOR) continue;
        if (p.nodes[i]->for_.var == loop) at = nloops;
        loops[nloops++] = p.nodes[i];
    }
    if (at < 0) {
        mlcc_set_error("%s: loop '%s' is not a loop around block '%s'", prim, loop->var.name, name);
        return NULL;
    }
    for (int q = 0; q < at; q++)
        for (int i = 0; i < b->niters; i++)
            if (b->iters[i].type != ITER_SPATIAL && expr_uses_var(realize->realize.iter_values[i], loops[q]->for_.var)) {
                mlcc_set_error("%s: loop '%s' is above loop '%s', yet the reduce iter var '%s' of block '%s' is bound "
                               "to it; decompose at a loop above every reduction loop",
                               prim, loops[q]->for_.var->var.name, loop->var.name, b->iters[i].var->var.name, name);
                return NULL;
            }
    /* the init block: spatial iter vars, fresh */
    mlcc_block *ib = ir_block_new("");
    char bname[256];
    snprintf(bname, sizeof bname, "%s_init", name);
    ib->name = ir_strdup(bname);
    sch_path dup;
    if (!sch_find_block(s, ib->name, &dup)) {
        mlcc_set_error("%s: a block named '%s' exists already", prim, ib->name);
        return NULL;
    }
    ib->iters = ir_alloc(sizeof(mlcc_iter_var) * (size_t)(b->niters + 1));
    mlcc_expr **old_vars = ir_alloc(sizeof(mlcc_expr *) * (size_t)(b->niters + 1));
    mlcc_expr **new_vars = ir_alloc(sizeof(mlcc_expr *) * (size_t)(b->niters + 1));
    mlcc_expr **bind = ir_alloc(sizeof(mlcc_expr *) * (size_t)(b->niters + 1));
    int ns = 0;
    for (int i = 0; i < b->niters; i++) {
        if (b->iters[i].type != ITER_SPATIAL) {
            if (stmt_uses_var(b->init, b->iters[i].var)) {
                mlcc_set_error("%s: the init of block '%s' uses its reduce iter var '%s'", prim, name,
                               b->iters[i].var->var.name);
                return NULL;
            }
            continue;
        }
        char vn[256];
        snprintf(vn, sizeof vn, "%s_init", b->iters[i].var->var.name);
        old_vars[ns] = b->iters[i].var;
        new_vars[ns] = ir_var(vn, b->iters[i].var->dtype);
        ib->iters[ns] = b->iters[i];
        ib->iters[ns].var = new_vars[ns];
        bind[ns] = realize->realize.iter_values[i];
        ns++;
    }
    ib->niters = ns;
    ib->nwrites = b->nwrites;
    ib->writes = ir_alloc(sizeof(mlcc_region) * (size_t)(b->nwrites + 1));
    for (int i = 0; i < b->nwrites; i++) ib->writes[i] = sch_region_substitute(b->writes[i], old_vars, new_vars, ns);
    ib->body = stmt_substitute(b->init, old_vars, new_vars, ns);

    /* copies of the loops from `loop` down that the spatial bindings use */
    mlcc_expr *copied_old[SCH_MAX_DEPTH], *copied_new[SCH_MAX_DEPTH], *dropped[SCH_MAX_DEPTH];
    mlcc_stmt *copied_for[SCH_MAX_DEPTH];
    int nc = 0, nd = 0;
    for (int q = at; q < nloops; q++) {
        mlcc_expr *v = loops[q]->for_.var;
        int used = 0;
        for (int i = 0; i < ns && !used; i++) used = expr_uses_var(bind[i], v);
        if (!used) {
            int reduce_use = 0;
            for (int i = 0; i < b->niters && !reduce_use; i++) reduce_use = expr_uses_var(realize->realize.iter_values[i], v);
            if (!reduce_use && !expr_is_int(loops[q]->for_.extent, 1)) {
                /* it repeats the whole reduction, init included: one init would not do */
                mlcc_set_error("%s: block '%s' does not depend on loop '%s', which repeats its reduction", prim, name,
                               v->var.name);
                return NULL;
            }
            dropped[nd++] = v;
            continue;
        }
        char vn[256];
        snprintf(vn, sizeof vn, "%s_init", v->var.name);
        copied_old[nc] = v;
        copied_new[nc] = ir_var(vn, v->dtype);
        copied_for[nc] = loops[q];
        nc++;
    }
    for (int k = 0; k < nc; k++)
        if (uses_any(copied_for[k]->for_.extent, dropped, nd) || uses_any(copied_for[k]->for_.min, dropped, nd)) {
            mlcc_set_error("%s: the range of loop '%s' depends on a reduction loop", prim, copied_old[k]->var.name);
            return NULL;
        }
    /* predicate: keep the conjuncts over the copied loops, drop those only about the others */
    mlcc_expr *conj[64];
    int nconj = sch_conjuncts(realize->realize.predicate, conj, 64);
    if (nconj > 64) {
        mlcc_set_error("%s: the predicate of block '%s' is too long", prim, name);
        return NULL;
    }
    mlcc_expr *pred = ir_bool(1);
    for (int i = 0; i < nconj; i++) {
        int on_dropped = uses_any(conj[i], dropped, nd), on_copied = uses_any(conj[i], copied_old, nc);
        if (on_dropped && on_copied) {
            char *text = tir_expr_to_string(conj[i]);
            mlcc_set_error("%s: the predicate %s of block '%s' mixes reduction and spatial loops", prim, text, name);
            free(text);
            return NULL;
        }
        if (!on_dropped) pred = ir_and(pred, expr_substitute(conj[i], copied_old, copied_new, nc));
    }
    for (int i = 0; i < ns; i++) bind[i] = expr_substitute(bind[i], copied_old, copied_new, nc);
    mlcc_stmt *init_nest = ir_block_realize(bind, pred, ib);
    for (int k = nc - 1; k >= 0; k--) {
        mlcc_stmt *f = ir_alloc(sizeof *f);
        *f = *copied_for[k];
        f->for_.var = copied_new[k];
        f->for_.min = expr_substitute(copied_for[k]->for_.min, copied_old, copied_new, nc);
        f->for_.extent = expr_substitute(copied_for[k]->for_.extent, copied_old, copied_new, nc);
        f->for_.body = init_nest;
        init_nest = f;
    }

    /* the update block loses its init; the init nest goes right before `loop` */
    const char *brv = sch_block_rv(s, name);
    mlcc_block *ub = ir_block_copy(b);
    ub->init = NULL;
    mlcc_stmt *body = sch_path_replace(&p, ir_block_realize(realize->realize.iter_values, realize->realize.predicate, ub));
    mlcc_stmt *saved = s->func->body;
    s->func->body = body;
    sch_path lp;
    if (sch_find_loop(s, loop, &lp)) {
        s->func->body = saved;
        mlcc_set_error("%s: internal error: loop '%s' vanished", prim, loop->var.name);
        return NULL;
    }
    sch_commit(s, sch_path_replace(&lp, ir_seq2(init_nest, lp.nodes[lp.n - 1])));
    const char *irv = sch_new_block_rv(s, ib->name);
    char line[256];
    snprintf(line, sizeof line, "%s = sch.decompose_reduction(%s, %s)", irv, brv, lrv);
    sch_record(s, line);
    return ib->name;
}
