/* gpu_reduction.c - the GPU rule for reductions over a long axis (see gpu_rules.h): one thread
 * block per output element, its threads striding over the reduce axis (consecutive threads read
 * consecutive elements: coalesced, the GEMV of decode), then a tree reduction in shared memory:
 *
 *     for bx in blockIdx.x(N):                      N = product of the spatial extents
 *       red = shared[T]
 *       for tx in threadIdx.x(T):
 *         acc = init
 *         for ko in range(ceil(K / T)):  k = ko * T + tx; if k < K: acc = acc (+) value(bx, k)
 *         red[tx] = acc
 *       for s in T/2, T/4, ..., 1:  for tx in threadIdx.x(T): if tx < s: red[tx] = red[tx] (+) red[tx + s]
 *       for tx in threadIdx.x(T): if tx == 0: C[bx] = red[0]
 *
 * It is written as loops, not through schedule primitives (there is no rfactor yet), and
 * replaces the block's nest; codegen_cuda puts the barriers between the stages. The sum is
 * taken in another order than the CPU's serial loop, so results differ by rounding only. */
#include <stdio.h>
#include <string.h>

#include "arith/analyzer.h"
#include "ir/functor.h"
#include "schedule/gpu_rules.h"
#include "schedule/gpu_nest.h"
#include "support/error.h"

enum { MAX_THREADS = 256, WARP = 32 };

/* The update C[idx] = C[idx] (+) value: the combiner kind and value, or 0. */
static int match_update(const mlcc_stmt *body, mlcc_expr_kind *kind, mlcc_expr **value) {
    if (!body || body->kind != STMT_STORE) return 0;
    mlcc_expr *v = body->store.value;
    if (v->kind != EXPR_ADD && v->kind != EXPR_MAX && v->kind != EXPR_MIN && v->kind != EXPR_MUL) return 0;
    for (int side = 0; side < 2; side++) {
        mlcc_expr *self = side ? v->bin.b : v->bin.a, *other = side ? v->bin.a : v->bin.b;
        if (self->kind != EXPR_LOAD || self->load.buffer != body->store.buffer || self->load.nidx != body->store.nidx)
            continue;
        int same = 1;
        for (int i = 0; i < body->store.nidx; i++) same &= sch_expr_equal(self->load.indices[i], body->store.indices[i]);
        if (!same || sch_expr_loads_buffer(other, body->store.buffer)) continue;
        *kind = v->kind;
        *value = other;
        return 1;
    }
    return 0;
}

/* index of loop j of a row-major fusion of loops with these extents */
static mlcc_expr *unfuse(mlcc_expr *fused, mlcc_expr *const *extents, int n, int j) {
    mlcc_expr *inner = ir_int(1);
    for (int k = j + 1; k < n; k++) inner = ir_mul(inner, extents[k]);
    mlcc_expr *idx = ir_floordiv(fused, inner);
    return j == 0 ? idx : ir_floormod(idx, extents[j]);
}

static mlcc_stmt *thread_loop(mlcc_expr *tx, int threads, mlcc_stmt *body) {
    return ir_for_thread(tx, ir_int(0), ir_int(threads), "threadIdx.x", body);
}

int gpu_match_reduction(mlcc_schedule *s, const char *block, gpu_reduction_nest *r) {
    memset(r, 0, sizeof *r);
    if (sch_find_block(s, block, &r->path) != 0) return 0;
    sch_path *p = &r->path;
    mlcc_stmt *realize = p->nodes[p->n - 1];
    const mlcc_block *b = realize->realize.block;
    r->block = b;
    if (!b->init || b->nalloc || !expr_is_int(realize->realize.predicate, 1)) return 0;
    if (b->init->kind != STMT_STORE || !b->body || b->body->kind != STMT_STORE ||
        b->init->store.buffer != b->body->store.buffer)
        return 0;
    if (!match_update(b->body, &r->kind, &r->value)) return 0;
    /* the nest: loops straight down to the realize, each binding one iter (te's form) */
    int first = 0;
    while (first < p->n && p->nodes[first]->kind != STMT_FOR) first++;
    int nloops = p->n - 1 - first;
    if (nloops <= 0 || nloops > GPU_MAX_NEST || nloops != b->niters) return 0;
    for (int i = 0; i < nloops; i++) {
        const mlcc_stmt *l = p->nodes[first + i];
        if (l->kind != STMT_FOR || l->for_.kind != FOR_SERIAL || !expr_is_int(l->for_.min, 0)) return 0;
        if (i + 1 < nloops && l->for_.body != p->nodes[first + i + 1]) return 0; /* perfectly nested */
        r->extents[i] = l->for_.extent;
        if (realize->realize.iter_values[i] != l->for_.var) return 0;
    }
    int nspatial = 0;
    while (nspatial < nloops && b->iters[nspatial].type == ITER_SPATIAL) nspatial++;
    for (int i = nspatial; i < nloops; i++)
        if (b->iters[i].type != ITER_REDUCE) return 0;
    if (nspatial == nloops) return 0;
    r->first = first;
    r->nloops = nloops;
    r->nspatial = nspatial;
    return 1;
}

void gpu_replace_nest(mlcc_schedule *s, const gpu_reduction_nest *r, mlcc_stmt *with) {
    sch_path outer = r->path;
    outer.n = r->first + 1; /* up to the nest's outermost loop */
    sch_commit(s, sch_path_replace(&outer, with));
}

int64_t gpu_reduce_extent(const gpu_reduction_nest *r) {
    mlcc_expr *K = ir_int(1);
    for (int i = r->nspatial; i < r->nloops; i++) K = ir_mul(K, r->extents[i]);
    K = arith_simplify_expr(K);
    return K->kind == EXPR_INT ? K->int_value : -1;
}

mlcc_stmt *gpu_cross_thread_nest(const gpu_reduction_nest *r) {
    const mlcc_block *b = r->block;
    int nloops = r->nloops, nspatial = r->nspatial;
    mlcc_expr *const *extents = r->extents;
    mlcc_expr_kind kind = r->kind;
    mlcc_expr *value = r->value;
    mlcc_expr *K = ir_int(1), *N = ir_int(1);
    for (int i = 0; i < nspatial; i++) N = ir_mul(N, extents[i]);
    for (int i = nspatial; i < nloops; i++) K = ir_mul(K, extents[i]);
    K = arith_simplify_expr(K);
    N = arith_simplify_expr(N);
    int threads = MAX_THREADS;
    if (K->kind == EXPR_INT && K->int_value < MAX_THREADS) threads = (int)((K->int_value + WARP - 1) / WARP * WARP);

    mlcc_buffer *out = b->body->store.buffer;
    mlcc_dtype t = out->dtype;
    mlcc_expr *bx = ir_var("red_bx", DT_I64), *tx = ir_var("red_tx", DT_I64), *ko = ir_var("red_ko", DT_I64);
    mlcc_expr *tx2 = ir_var("red_tx", DT_I64);
    mlcc_buffer *red = ir_buffer_scoped("red_buf", t, (mlcc_expr *[]){ir_int(threads)}, 1, "shared");
    mlcc_buffer *acc = ir_buffer_scoped("red_acc", t, (mlcc_expr *[]){ir_int(1)}, 1, "local");
    mlcc_expr *zero = ir_int(0);

    /* iter var -> its value at (bx, k) */
    mlcc_expr *k = ir_add(ir_mul(ko, ir_int(threads)), tx);
    mlcc_expr *iter_vars[GPU_MAX_NEST], *iter_vals[GPU_MAX_NEST];
    for (int i = 0; i < nloops; i++) {
        iter_vars[i] = b->iters[i].var;
        iter_vals[i] = i < nspatial ? unfuse(bx, extents, nspatial, i) : unfuse(k, extents + nspatial, nloops - nspatial, i - nspatial);
    }
    mlcc_expr *v = expr_substitute(value, iter_vars, iter_vals, nloops);
    mlcc_expr *identity = expr_substitute(b->init->store.value, iter_vars, iter_vals, nloops);

    /* stage 1: per-thread partial */
    mlcc_expr *acc0 = ir_load(acc, &zero, 1);
    mlcc_stmt *update = ir_store(acc, ir_binary(kind, acc0, v), &zero, 1);
    int exact = K->kind == EXPR_INT && K->int_value % threads == 0;
    if (!exact) update = ir_if(ir_lt(k, K), update, NULL);
    mlcc_expr *trips = arith_simplify_expr(ir_floordiv(ir_add(K, ir_int(threads - 1)), ir_int(threads)));
    mlcc_stmt *stage1 = ir_seq((mlcc_stmt *[]){ir_store(acc, identity, &zero, 1),
                                               ir_for(ko, ir_int(0), trips, FOR_SERIAL, update),
                                               ir_store(red, ir_load(acc, &zero, 1), &tx, 1)}, 3);
    stage1 = thread_loop(tx, threads, ir_allocate(acc, stage1));
    /* stage 2: tree in shared memory (threads is a multiple of 32, not always a power of 2) */
    mlcc_stmt *stages[32];
    int nst = 0;
    stages[nst++] = stage1;
    int width = 1;
    while (width < threads) width *= 2;
    for (int half = width / 2; half >= 1; half /= 2) {
        mlcc_expr *tv = ir_var("red_tx", DT_I64);
        mlcc_expr *other = ir_add(tv, ir_int(half));
        mlcc_stmt *step = ir_store(red, ir_binary(kind, ir_load(red, &tv, 1), ir_load(red, &other, 1)), &tv, 1);
        step = ir_if(ir_and(ir_lt(tv, ir_int(half)), ir_lt(other, ir_int(threads))), step, NULL);
        stages[nst++] = thread_loop(tv, threads, step);
    }
    /* stage 3: the result */
    mlcc_expr **out_idx = ir_alloc(sizeof(mlcc_expr *) * (size_t)b->body->store.nidx);
    for (int i = 0; i < b->body->store.nidx; i++) out_idx[i] = expr_substitute(b->body->store.indices[i], iter_vars, iter_vals, nloops);
    mlcc_stmt *write = ir_store(out, ir_load(red, &zero, 1), out_idx, b->body->store.nidx);
    stages[nst++] = thread_loop(tx2, threads, ir_if(ir_eq(tx2, ir_int(0)), write, NULL));
    return ir_for_thread(bx, ir_int(0), N, "blockIdx.x", ir_allocate(red, ir_seq(stages, nst)));
}

int gpu_cross_thread_reduction(mlcc_schedule *s, const char *block, int64_t min_extent, int *applied) {
    *applied = 0;
    gpu_reduction_nest r;
    if (!gpu_match_reduction(s, block, &r)) return 0;
    int64_t K = gpu_reduce_extent(&r);
    if (K >= 0 && K < min_extent) return 0;
    gpu_replace_nest(s, &r, gpu_cross_thread_nest(&r));
    *applied = 1;
    return 0;
}
