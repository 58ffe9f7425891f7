/* loops.c - loop primitives: split, fuse, reorder, and the loop kinds parallel / vectorize /
 * unroll (see schedule.h). Semantics follow TVM's tir/schedule/primitive/loop_transformation.cc
 * and for_kind.cc. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ir/functor.h"
#include "ir/printer.h"
#include "schedule/state.h"
#include "support/error.h"
#include "support/strbuf.h"

static const char *var_name(const mlcc_expr *v) {
    return v && v->kind == EXPR_VAR ? v->var.name : "?";
}

static mlcc_stmt *copy_for(const mlcc_stmt *loop, mlcc_stmt *body) {
    mlcc_stmt *r = ir_alloc(sizeof *r);
    *r = *loop;
    r->for_.body = body;
    return r;
}

/* Finds the loop of var `loop` for primitive `prim`, with its trace name. */
static mlcc_stmt *lookup_loop(mlcc_schedule *s, mlcc_expr *loop, const char *prim, sch_path *p, const char **rv) {
    if (!loop || loop->kind != EXPR_VAR) {
        mlcc_set_error("%s: expected a loop var", prim);
        return NULL;
    }
    if (sch_find_loop(s, loop, p)) {
        mlcc_set_error("%s: loop '%s' does not exist (any more) in '%s'", prim, loop->var.name, s->func->name);
        return NULL;
    }
    if (rv && !(*rv = sch_loop_rv(s, loop, prim))) return NULL;
    return p->nodes[p->n - 1];
}

/* ---- split ---- */

typedef struct {
    mlcc_expr *pred;
} predicate_adder;

/* Conjoins the predicate onto the outermost block realizes below (not into nested blocks: the
 * outer realize's predicate covers them). */
static mlcc_stmt *add_predicate_hook(ir_mutator *m, mlcc_stmt *st) {
    predicate_adder *pa = m->ctx;
    if (st->kind != STMT_BLOCK_REALIZE) return NULL;
    return ir_block_realize(st->realize.iter_values, ir_and(st->realize.predicate, pa->pred), st->realize.block);
}

/* Is there a store that is not inside a block under st? (A predicate could not guard it.) */
static int has_bare_store(mlcc_stmt *st) {
    if (!st) return 0;
    switch (st->kind) {
    case STMT_STORE:
    case STMT_EVALUATE: return 1;
    case STMT_FOR: return has_bare_store(st->for_.body);
    case STMT_ALLOCATE: return has_bare_store(st->alloc.body);
    case STMT_IF: return has_bare_store(st->if_.then_) || has_bare_store(st->if_.else_);
    case STMT_SEQ:
        for (int i = 0; i < st->seq.n; i++)
            if (has_bare_store(st->seq.stmts[i])) return 1;
        return 0;
    default: return 0;
    }
}

int sch_split(mlcc_schedule *s, mlcc_expr *loop, const int64_t *factors, int n, mlcc_expr **out) {
    sch_path p;
    const char *rv = NULL;
    mlcc_stmt *for_ = lookup_loop(s, loop, "split", &p, &rv);
    if (!for_) return -1;
    const char *name = loop->var.name;
    if (n < 2) return mlcc_set_error("split: loop '%s' needs at least 2 factors, got %d", name, n);
    if (!expr_is_int(for_->for_.min, 0))
        return mlcc_set_error("split: loop '%s' does not start at 0", name);
    int infer = -1;
    int64_t product = 1;
    for (int i = 0; i < n; i++) {
        if (factors[i] == SCH_INFER) {
            if (infer >= 0) return mlcc_set_error("split: loop '%s': at most one factor may be inferred (None)", name);
            infer = i;
            continue;
        }
        if (factors[i] <= 0)
            return mlcc_set_error("split: factor %lld of loop '%s' must be positive", (long long)factors[i], name);
        if (product > INT64_MAX / factors[i]) return mlcc_set_error("split: factors of loop '%s' overflow", name);
        product *= factors[i];
    }
    mlcc_expr *extent = for_->for_.extent;
    int exact; /* the factors tile the extent exactly: no predicate needed */
    mlcc_expr **fac = ir_alloc(sizeof(mlcc_expr *) * (size_t)n);
    for (int i = 0; i < n; i++) fac[i] = factors[i] == SCH_INFER ? NULL : ir_int(factors[i]);
    if (infer >= 0) {
        /* ceildiv(extent, product) */
        fac[infer] = product == 1 ? extent : ir_floordiv(ir_add(extent, ir_int(product - 1)), ir_int(product));
        exact = product == 1 || (extent->kind == EXPR_INT && extent->int_value % product == 0);
    } else if (extent->kind == EXPR_INT) {
        if (product < extent->int_value)
            return mlcc_set_error("split: the product of the factors (%lld) of loop '%s' is less than its extent %lld",
                                  (long long)product, name, (long long)extent->int_value);
        exact = product == extent->int_value;
    } else {
        char *text = tir_expr_to_string(extent);
        mlcc_set_error("split: loop '%s' has the symbolic extent %s; give one factor as None (inferred) so the "
                       "product provably covers it", name, text);
        free(text);
        return -1;
    }
    if (!exact && has_bare_store(for_->for_.body))
        return mlcc_set_error("split: loop '%s' holds a store outside any block, which a predicate cannot guard", name);

    mlcc_expr **vars = ir_alloc(sizeof(mlcc_expr *) * (size_t)n);
    mlcc_expr *value = NULL;
    for (int i = 0; i < n; i++) {
        char vn[256];
        snprintf(vn, sizeof vn, "%s_%d", name, i);
        vars[i] = ir_var(vn, loop->dtype);
        value = value ? ir_add(ir_mul(value, fac[i]), vars[i]) : vars[i];
    }
    mlcc_stmt *body = stmt_substitute(for_->for_.body, &loop, &value, 1);
    if (!exact) {
        predicate_adder pa = {ir_lt(value, extent)};
        ir_mutator m = {NULL, add_predicate_hook, NULL, &pa};
        body = ir_mutate_stmt(&m, body);
    }
    for (int i = n - 1; i >= 0; i--) body = ir_for(vars[i], ir_int(0), fac[i], FOR_SERIAL, body);
    sch_commit(s, sch_path_replace(&p, body));

    mlcc_strbuf sb = STRBUF_INIT;
    for (int i = 0; i < n; i++) sb_printf(&sb, "%s%s", i ? ", " : "", sch_new_loop_rv(s, vars[i]));
    sb_printf(&sb, " = sch.split(%s, factors=[", rv);
    for (int i = 0; i < n; i++) {
        if (factors[i] == SCH_INFER) sb_printf(&sb, "%sNone", i ? ", " : "");
        else sb_printf(&sb, "%s%lld", i ? ", " : "", (long long)factors[i]);
    }
    sb_append(&sb, "])");
    sch_record(s, sb_cstr(&sb));
    sb_free(&sb);
    if (out)
        for (int i = 0; i < n; i++) out[i] = vars[i];
    return 0;
}

/* ---- fuse ---- */

mlcc_expr *sch_fuse(mlcc_schedule *s, mlcc_expr **loops, int n) {
    if (n < 2) {
        mlcc_set_error("fuse: needs at least two loops, got %d", n);
        return NULL;
    }
    sch_path p;
    const char **rvs = ir_alloc(sizeof(char *) * (size_t)n);
    mlcc_stmt **fors = ir_alloc(sizeof(mlcc_stmt *) * (size_t)n);
    for (int i = 0; i < n; i++) {
        sch_path q;
        if (!(fors[i] = lookup_loop(s, loops[i], "fuse", i == 0 ? &p : &q, &rvs[i]))) return NULL;
        for (int j = 0; j < i; j++)
            if (loops[j] == loops[i]) {
                mlcc_set_error("fuse: loop '%s' is given twice", loops[i]->var.name);
                return NULL;
            }
    }
    for (int i = 0; i < n; i++) {
        if (!expr_is_int(fors[i]->for_.min, 0)) {
            mlcc_set_error("fuse: loop '%s' does not start at 0", loops[i]->var.name);
            return NULL;
        }
        if (i + 1 < n && fors[i]->for_.body != fors[i + 1]) {
            mlcc_set_error("fuse: loops '%s' and '%s' are not adjacent (the body of '%s' is not the loop '%s')",
                           loops[i]->var.name, loops[i + 1]->var.name, loops[i]->var.name, loops[i + 1]->var.name);
            return NULL;
        }
        for (int j = 0; j < i; j++)
            if (expr_uses_var(fors[i]->for_.extent, loops[j])) {
                mlcc_set_error("fuse: the extent of loop '%s' depends on loop '%s'", loops[i]->var.name,
                               loops[j]->var.name);
                return NULL;
            }
    }
    mlcc_strbuf name = STRBUF_INIT;
    for (int i = 0; i < n; i++) sb_printf(&name, "%s_", loops[i]->var.name);
    sb_append(&name, "fused");
    mlcc_expr *fused = ir_var(sb_cstr(&name), loops[0]->dtype);
    sb_free(&name);
    /* loop i = (fused // product of inner extents) % extent i */
    mlcc_expr **values = ir_alloc(sizeof(mlcc_expr *) * (size_t)n);
    mlcc_expr *inner = ir_int(1);
    for (int i = n - 1; i >= 0; i--) {
        mlcc_expr *v = ir_floordiv(fused, inner);
        values[i] = i > 0 ? ir_floormod(v, fors[i]->for_.extent) : v;
        inner = ir_mul(fors[i]->for_.extent, inner);
    }
    mlcc_stmt *body = stmt_substitute(fors[n - 1]->for_.body, loops, values, n);
    mlcc_stmt *fused_loop = ir_for(fused, ir_int(0), inner, FOR_SERIAL, body);
    sch_commit(s, sch_path_replace(&p, fused_loop));

    mlcc_strbuf sb = STRBUF_INIT;
    sb_printf(&sb, "%s = sch.fuse(", sch_new_loop_rv(s, fused));
    for (int i = 0; i < n; i++) sb_printf(&sb, "%s%s", i ? ", " : "", rvs[i]);
    sb_append(&sb, ")");
    sch_record(s, sb_cstr(&sb));
    sb_free(&sb);
    return fused;
}

/* ---- reorder ---- */

/* Which iter types of block realize r bind loop var v: bit 1 spatial, 2 reduce, 4 opaque. */
static int binding_kinds(const mlcc_stmt *r, const mlcc_expr *v) {
    const mlcc_block *b = r->realize.block;
    int kinds = 0;
    for (int i = 0; i < b->niters; i++)
        if (expr_uses_var(r->realize.iter_values[i], v))
            kinds |= b->iters[i].type == ITER_SPATIAL ? 1 : b->iters[i].type == ITER_REDUCE ? 2 : 4;
    return kinds;
}

/* Is loop `l` one whose order matters to the reduction of block realize r: bound to a reduce
 * iter var (alone or fused with spatial ones), or bound to nothing while repeating the block
 * (the block then redoes its reduction, init included, in each of its iterations)? */
static int orders_reduction(const mlcc_stmt *r, const mlcc_stmt *l) {
    int kinds = binding_kinds(r, l->for_.var);
    return (kinds & 2) || (kinds == 0 && !expr_is_int(l->for_.extent, 1));
}

/* Reordering the nest `chain` into `order` keeps every block under it correct when no block
 * has an opaque iter var bound to loops that move, and each reduction block that still has
 * its init sees the instances of each output point in the same order as before: those differ
 * only in the loops bound to reduce iter vars (bindings being injective, as te and these
 * primitives make them), so these loops must keep their relative order. Otherwise the init
 * could run after updates of the same point. After decompose_reduction any order is fine. */
static int check_reorder_blocks(mlcc_stmt **chain, mlcc_stmt **order, int len) {
    mlcc_stmt **rs;
    int nr = sch_collect_realizes(chain[len - 1]->for_.body, 0, &rs);
    for (int r = 0; r < nr; r++) {
        const mlcc_block *b = rs[r]->realize.block;
        for (int d = 0; d < len; d++)
            if (chain[d] != order[d] && (binding_kinds(rs[r], chain[d]->for_.var) & 4))
                return mlcc_set_error("reorder: block '%s' binds an opaque iter var to loop '%s'", b->name,
                                      chain[d]->for_.var->var.name);
        if (!b->init) continue;
        for (int d = 0, e = 0;; d++, e++) {
            while (d < len && !orders_reduction(rs[r], chain[d])) d++;
            while (e < len && !orders_reduction(rs[r], order[e])) e++;
            if (d >= len || e >= len) break;
            if (chain[d] != order[e])
                return mlcc_set_error("reorder: loops '%s' and '%s' would change their order, which the init of block "
                                      "'%s' relies on (they run its reduction; decompose_reduction first)",
                                      chain[d]->for_.var->var.name, order[e]->for_.var->var.name, b->name);
        }
    }
    return 0;
}

int sch_reorder(mlcc_schedule *s, mlcc_expr **loops, int n) {
    if (n < 1) return mlcc_set_error("reorder: no loops given");
    const char **rvs = ir_alloc(sizeof(char *) * (size_t)n);
    int *depth = ir_alloc(sizeof(int) * (size_t)n);
    sch_path deepest = {.n = 0};
    for (int i = 0; i < n; i++) {
        sch_path q;
        if (!lookup_loop(s, loops[i], "reorder", &q, &rvs[i])) return -1;
        for (int j = 0; j < i; j++)
            if (loops[j] == loops[i]) return mlcc_set_error("reorder: loop '%s' is given twice", loops[i]->var.name);
        depth[i] = q.n - 1;
        if (q.n > deepest.n) deepest = q;
    }
    /* every loop must lie on the path to the deepest one */
    int top = deepest.n;
    for (int i = 0; i < n; i++) {
        if (deepest.nodes[depth[i]]->kind != STMT_FOR || deepest.nodes[depth[i]]->for_.var != loops[i]) {
            const mlcc_expr *other = deepest.nodes[deepest.n - 1]->for_.var;
            return mlcc_set_error("reorder: loops '%s' and '%s' are not in one loop nest", loops[i]->var.name,
                                  other->var.name);
        }
        if (depth[i] < top) top = depth[i];
    }
    int bottom = deepest.n - 1;
    /* between top and bottom: a chain of loops, each the whole body of the one above */
    for (int d = top; d < bottom; d++) {
        mlcc_stmt *st = deepest.nodes[d];
        if (st->kind != STMT_FOR || st->for_.body != deepest.nodes[d + 1])
            return mlcc_set_error("reorder: the nest from loop '%s' to loop '%s' branches (loop '%s' has more than one "
                                  "statement in its body or a block between)",
                                  var_name(deepest.nodes[top]->for_.var), var_name(deepest.nodes[bottom]->for_.var),
                                  var_name(st->kind == STMT_FOR ? st->for_.var : NULL));
    }
    int len = bottom - top + 1;
    mlcc_stmt **chain = ir_alloc(sizeof(mlcc_stmt *) * (size_t)len);
    for (int d = 0; d < len; d++) chain[d] = deepest.nodes[top + d];
    /* positions of the given loops, in nest order, take them in argument order */
    int *is_given = ir_alloc(sizeof(int) * (size_t)len);
    memset(is_given, 0, sizeof(int) * (size_t)len);
    for (int i = 0; i < n; i++) is_given[depth[i] - top] = 1;
    mlcc_stmt **order = ir_alloc(sizeof(mlcc_stmt *) * (size_t)len);
    for (int d = 0, k = 0; d < len; d++) {
        if (!is_given[d]) {
            order[d] = chain[d];
            continue;
        }
        order[d] = deepest.nodes[depth[k]];
        k++;
    }
    /* a loop's range may only use loops that stay outside it */
    for (int d = 0; d < len; d++)
        for (int e = d + 1; e < len; e++)
            if (expr_uses_var(order[d]->for_.extent, order[e]->for_.var) ||
                expr_uses_var(order[d]->for_.min, order[e]->for_.var))
                return mlcc_set_error("reorder: the range of loop '%s' depends on loop '%s', which would be inside it",
                                      order[d]->for_.var->var.name, order[e]->for_.var->var.name);
    if (check_reorder_blocks(chain, order, len)) return -1;
    mlcc_stmt *body = chain[len - 1]->for_.body;
    for (int d = len - 1; d >= 0; d--) body = copy_for(order[d], body);
    sch_path p = deepest;
    p.n = top + 1;
    sch_commit(s, sch_path_replace(&p, body));

    mlcc_strbuf sb = STRBUF_INIT;
    sb_append(&sb, "sch.reorder(");
    for (int i = 0; i < n; i++) sb_printf(&sb, "%s%s", i ? ", " : "", rvs[i]);
    sb_append(&sb, ")");
    sch_record(s, sb_cstr(&sb));
    sb_free(&sb);
    return 0;
}

/* ---- loop kinds ---- */

/* Does a loop under st bind the thread axis `tag`? */
static int stmt_binds_thread(mlcc_stmt *st, const char *tag) {
    if (!st) return 0;
    switch (st->kind) {
    case STMT_FOR:
        if (st->for_.kind == FOR_THREAD_BINDING && !strcmp(st->for_.thread_tag, tag)) return 1;
        return stmt_binds_thread(st->for_.body, tag);
    case STMT_BLOCK_REALIZE:
        return stmt_binds_thread(st->realize.block->init, tag) || stmt_binds_thread(st->realize.block->body, tag);
    case STMT_ALLOCATE: return stmt_binds_thread(st->alloc.body, tag);
    case STMT_IF: return stmt_binds_thread(st->if_.then_, tag) || stmt_binds_thread(st->if_.else_, tag);
    case STMT_SEQ:
        for (int i = 0; i < st->seq.n; i++)
            if (stmt_binds_thread(st->seq.stmts[i], tag)) return 1;
        return 0;
    default: return 0;
    }
}

static int is_thread_tag(const char *tag) {
    static const char *tags[] = {"blockIdx.x", "blockIdx.y", "blockIdx.z", "threadIdx.x", "threadIdx.y",
                                 "threadIdx.z", "vthread.x", "vthread.y", "vthread.z"};
    for (size_t i = 0; i < sizeof tags / sizeof tags[0]; i++)
        if (!strcmp(tag, tags[i])) return 1;
    return 0;
}

/* A loop may run its iterations in parallel (or as vector lanes) when every block under it
 * uses the loop only in the bindings of spatial (data-parallel) iter vars. */
static int check_parallelizable(mlcc_stmt *for_, const char *prim) {
    mlcc_expr *var = for_->for_.var;
    mlcc_stmt **rs;
    int nr = sch_collect_realizes(for_->for_.body, 0, &rs);
    for (int r = 0; r < nr; r++) {
        mlcc_block *b = rs[r]->realize.block;
        for (int i = 0; i < b->niters; i++) {
            if (!expr_uses_var(rs[r]->realize.iter_values[i], var)) continue;
            if (b->iters[i].type == ITER_REDUCE)
                return mlcc_set_error("%s: loop '%s' carries the reduction iter var '%s' of block '%s'", prim,
                                      var->var.name, b->iters[i].var->var.name, b->name);
            if (b->iters[i].type != ITER_SPATIAL)
                return mlcc_set_error("%s: loop '%s' is bound to the opaque iter var '%s' of block '%s'", prim,
                                      var->var.name, b->iters[i].var->var.name, b->name);
        }
    }
    /* a block that does not depend on the loop would write the same elements in every one of
     * its iterations at once */
    nr = sch_collect_realizes(for_->for_.body, 1, &rs);
    for (int r = 0; r < nr && !expr_is_int(for_->for_.extent, 1); r++)
        if (!binding_kinds(rs[r], var))
            return mlcc_set_error("%s: block '%s' does not depend on loop '%s', so its iterations would write the same "
                                  "elements", prim, rs[r]->realize.block->name, var->var.name);
    if (has_bare_store(for_->for_.body))
        return mlcc_set_error("%s: loop '%s' holds a store outside any block, whose dependences are unknown", prim,
                              var->var.name);
    return 0;
}

static int set_loop_kind_tag(mlcc_schedule *s, mlcc_expr *loop, mlcc_for_kind kind, const char *tag, const char *prim);

static int set_loop_kind(mlcc_schedule *s, mlcc_expr *loop, mlcc_for_kind kind, const char *prim) {
    return set_loop_kind_tag(s, loop, kind, NULL, prim);
}

static int set_loop_kind_tag(mlcc_schedule *s, mlcc_expr *loop, mlcc_for_kind kind, const char *tag, const char *prim) {
    sch_path p;
    const char *rv = NULL;
    mlcc_stmt *for_ = lookup_loop(s, loop, prim, &p, &rv);
    if (!for_) return -1;
    if (for_->for_.kind == FOR_THREAD_BINDING)
        return mlcc_set_error("%s: loop '%s' is already bound to %s", prim, loop->var.name, for_->for_.thread_tag);
    if (kind != FOR_UNROLLED && check_parallelizable(for_, prim)) return -1;
    if (tag) {
        /* one loop per thread axis on any path through the function */
        for (int i = 0; i < p.n - 1; i++)
            if (p.nodes[i]->kind == STMT_FOR && p.nodes[i]->for_.kind == FOR_THREAD_BINDING &&
                !strcmp(p.nodes[i]->for_.thread_tag, tag))
                return mlcc_set_error("%s: loop '%s' is inside loop '%s', already bound to %s", prim, loop->var.name,
                                      p.nodes[i]->for_.var->var.name, tag);
        if (stmt_binds_thread(for_->for_.body, tag))
            return mlcc_set_error("%s: loop '%s' contains a loop already bound to %s", prim, loop->var.name, tag);
    }
    mlcc_stmt *r = copy_for(for_, for_->for_.body);
    r->for_.kind = kind;
    r->for_.thread_tag = tag ? mlcc_intern(tag) : NULL;
    sch_commit(s, sch_path_replace(&p, r));
    char line[160];
    if (tag) snprintf(line, sizeof line, "sch.%s(%s, \"%s\")", prim, rv, tag);
    else snprintf(line, sizeof line, "sch.%s(%s)", prim, rv);
    sch_record(s, line);
    return 0;
}

int sch_parallel(mlcc_schedule *s, mlcc_expr *loop) {
    return set_loop_kind(s, loop, FOR_PARALLEL, "parallel");
}

int sch_vectorize(mlcc_schedule *s, mlcc_expr *loop) {
    return set_loop_kind(s, loop, FOR_VECTORIZED, "vectorize");
}

int sch_unroll(mlcc_schedule *s, mlcc_expr *loop) {
    return set_loop_kind(s, loop, FOR_UNROLLED, "unroll");
}

int sch_bind(mlcc_schedule *s, mlcc_expr *loop, const char *thread) {
    if (!thread || !is_thread_tag(thread))
        return mlcc_set_error("bind: '%s' is not a thread axis (blockIdx.x/y/z, threadIdx.x/y/z, vthread.x/y/z)",
                              thread ? thread : "(null)");
    return set_loop_kind_tag(s, loop, FOR_THREAD_BINDING, thread, "bind");
}
