/* gpu_rules.c - default GPU schedules (see gpu_rules.h). */
#include "schedule/gpu_rules.h"

#include <stdio.h>

#include "arith/analyzer.h"
#include "ir/functor.h"
#include "schedule/state.h"
#include "support/error.h"

enum { THREADS_PER_BLOCK = 256, TASK_THREADS = 64, WARP = 32 };

static int probe_binding(ir_visitor *v, mlcc_stmt *s) {
    int *found = v->ctx;
    if (s->kind == STMT_FOR && s->for_.kind == FOR_THREAD_BINDING) *found = 1;
    return !*found;
}

int gpu_func_has_thread_bindings(const mlcc_prim_func *f) {
    int found = 0;
    ir_visitor v = {NULL, probe_binding, &found};
    ir_visit_stmt(&v, f->body);
    return found;
}

/* Inlines injective producers until nothing more can be inlined. */
static void inline_producers(mlcc_schedule *s) {
    for (int changed = 1; changed;) {
        changed = 0;
        const char **blocks;
        int n = sch_get_blocks(s, &blocks);
        for (int i = 0; i + 1 < n && !changed; i++) {
            if (sch_compute_inline(s, blocks[i]) == 0) changed = 1;
        }
    }
    mlcc_clear_error();
}

/* Is loop var `loop` used by the binding of a reduce iter of the block realize? */
static int binds_reduce_iter(const mlcc_stmt *realize, const mlcc_expr *loop) {
    const mlcc_block *b = realize->realize.block;
    for (int i = 0; i < b->niters; i++)
        if (b->iters[i].type != ITER_SPATIAL && expr_uses_var(realize->realize.iter_values[i], loop)) return 1;
    return 0;
}

/* One thread per output element of the block. */
static int bind_block(mlcc_schedule *s, const char *block) {
    mlcc_expr **loops;
    int n = sch_get_loops(s, block, &loops);
    if (n < 0) return -1;
    sch_path p;
    if (sch_find_block(s, block, &p) != 0) return mlcc_set_error("gpu schedule: block %s vanished", block);
    const mlcc_stmt *realize = p.nodes[p.n - 1];
    int nspatial = 0;
    while (nspatial < n && !binds_reduce_iter(realize, loops[nspatial])) nspatial++;
    if (nspatial == 0) return 0; /* runs on one thread */
    mlcc_expr *fused = nspatial == 1 ? loops[0] : sch_fuse(s, loops, nspatial);
    if (!fused) return -1;
    /* a small constant extent gets one block of just enough warps */
    int threads = THREADS_PER_BLOCK;
    sch_path lp;
    if (sch_find_loop(s, fused, &lp) == 0) {
        const mlcc_expr *ext = lp.nodes[lp.n - 1]->for_.extent;
        if (ext->kind == EXPR_INT && ext->int_value < threads)
            threads = (int)((ext->int_value + WARP - 1) / WARP * WARP);
    }
    mlcc_expr *parts[2];
    if (sch_split(s, fused, (int64_t[]){SCH_INFER, threads}, 2, parts) != 0) return -1;
    if (sch_bind(s, parts[0], "blockIdx.x") != 0) return -1;
    return sch_bind(s, parts[1], "threadIdx.x");
}

/* A top-level loop the generator made parallel (src/gen/ writes such task loops: each
 * iteration an independent task with its own local scratch, in opaque blocks that use the loop
 * var directly) becomes one GPU thread per iteration:
 *     for bx in blockIdx.x(ceil(n / 64)): for tx in threadIdx.x(64): if bx*64+tx < n: body
 * This is a rewrite, not sch_bind: the generator declared the iterations independent, which
 * bind cannot prove through opaque blocks. */
static mlcc_stmt *bind_task_loop(mlcc_stmt *loop) {
    mlcc_expr *var = loop->for_.var, *ext = loop->for_.extent;
    char name[160];
    snprintf(name, sizeof name, "%s_bx", var->var.name);
    mlcc_expr *bx = ir_var(ir_strdup(name), var->dtype);
    snprintf(name, sizeof name, "%s_tx", var->var.name);
    mlcc_expr *tx = ir_var(ir_strdup(name), var->dtype);
    mlcc_expr *task = ir_add(loop->for_.min, ir_add(ir_mul(bx, ir_int(TASK_THREADS)), tx));
    mlcc_stmt *body = stmt_substitute(loop->for_.body, &var, &task, 1);
    body = ir_if(ir_lt(ir_add(ir_mul(bx, ir_int(TASK_THREADS)), tx), ext), body, NULL);
    mlcc_expr *blocks = arith_simplify_expr(ir_floordiv(ir_add(ext, ir_int(TASK_THREADS - 1)), ir_int(TASK_THREADS)));
    mlcc_stmt *inner = ir_for_thread(tx, ir_int(0), ir_int(TASK_THREADS), "threadIdx.x", body);
    return ir_for_thread(bx, ir_int(0), blocks, "blockIdx.x", inner);
}

/* Rewrites the parallel loops at the top of f's body (through its top-level sequence). */
static mlcc_stmt *bind_task_loops(mlcc_stmt *s) {
    if (!s) return s;
    if (s->kind == STMT_FOR && s->for_.kind == FOR_PARALLEL) return bind_task_loop(s);
    if (s->kind == STMT_SEQ) {
        mlcc_stmt **items = ir_alloc(sizeof(mlcc_stmt *) * (size_t)s->seq.n);
        for (int i = 0; i < s->seq.n; i++) items[i] = bind_task_loops(s->seq.stmts[i]);
        return ir_seq(items, s->seq.n);
    }
    if (s->kind == STMT_ALLOCATE) return ir_allocate(s->alloc.buffer, bind_task_loops(s->alloc.body));
    return s;
}

/* Is the block already under a thread-bound loop? */
static int under_binding(const sch_path *p) {
    for (int k = 0; k < p->n; k++)
        if (p->nodes[k]->kind == STMT_FOR && p->nodes[k]->for_.kind == FOR_THREAD_BINDING) return 1;
    return 0;
}

mlcc_prim_func *gpu_default_schedule(const mlcc_prim_func *f) {
    return gpu_default_schedule_ex(f, GPU_CROSS_THREAD_MIN_EXTENT);
}

static mlcc_prim_func *default_rules(const mlcc_prim_func *f, int64_t cross_thread_min_extent);

mlcc_prim_func *gpu_default_schedule_ex(const mlcc_prim_func *f, int64_t cross_thread_min_extent) {
    if (gpu_func_has_thread_bindings(f)) return (mlcc_prim_func *)f;
    mlcc_prim_func *attention = gpu_schedule_attn_decode(f);
    if (attention) return attention;
    mlcc_prim_func *append = gpu_schedule_kv_append(f);
    if (append) return append;
    return default_rules(f, cross_thread_min_extent);
}

mlcc_prim_func *gpu_default_schedule_portable(const mlcc_prim_func *f) {
    if (gpu_func_has_thread_bindings(f)) return (mlcc_prim_func *)f;
    return default_rules(f, GPU_CROSS_THREAD_MIN_EXTENT);
}

static mlcc_prim_func *default_rules(const mlcc_prim_func *f, int64_t cross_thread_min_extent) {
    mlcc_prim_func *tasks = prim_func_copy(f);
    tasks->body = bind_task_loops(f->body);
    mlcc_schedule *s = sch_create(tasks);
    inline_producers(s);
    const char **blocks;
    int n = sch_get_blocks(s, &blocks);
    /* only blocks at the top of a loop nest: nested blocks run inside their parent's thread */
    for (int i = 0; i < n; i++) {
        sch_path p;
        if (sch_find_block(s, blocks[i], &p) != 0) continue;
        int nested = 0;
        for (int k = 0; k + 1 < p.n; k++) nested |= p.nodes[k]->kind == STMT_BLOCK_REALIZE;
        if (nested || under_binding(&p)) continue;
        int done = 0;
        if (cross_thread_min_extent != INT64_MAX && gpu_matmul(s, blocks[i], &done) != 0) done = -1;
        if (done == 0 && gpu_cross_thread_reduction(s, blocks[i], cross_thread_min_extent, &done) != 0) done = -1;
        if (done < 0 || (!done && bind_block(s, blocks[i]) != 0)) {
            mlcc_prefix_error("gpu schedule of %s, block %s", f->name, blocks[i]);
            sch_free(s);
            return NULL;
        }
    }
    mlcc_prim_func *out = prim_func_copy(sch_func(s));
    sch_free(s);
    return out;
}
