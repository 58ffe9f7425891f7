/* gpu_rules.c - default GPU schedules (see gpu_rules.h). */
#include "schedule/gpu_rules.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arith/analyzer.h"
#include "ir/functor.h"
#include "schedule/gpu_nest.h"
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

static int getenv_is_zero(const char *name) {
    const char *v = getenv(name);
    return v && !strcmp(v, "0");
}

static int probe_half_load(ir_visitor *v, mlcc_expr *e) {
    if (e->kind == EXPR_LOAD && e->load.buffer->dtype.bits == 16) *(int *)v->ctx = 1;
    return 1;
}

/* Elements a thread of an elementwise block takes on CUDA: 8 where the block loads or stores
 * 16-bit values, 1 otherwise and where the block is not a plain elementwise store
 * (MLCC_CUDA_ELEMENTS_PER_THREAD=N sets it for every elementwise block).
 * 16-bit values are prefill's half activations, thousands of rows: one element a thread kept
 * too few bytes in flight there (a 2048-token prefill's silu * up, 176 MB moved, ran at 1.2
 * TB/s and the q slice of qkv at 0.8; with 8, 86 and 17 us against 143 and 42). Decode's
 * activations are float32, often one row: there fewer, longer threads lost (batch 1, the
 * 14336-wide silu, 4 a thread on 14 blocks: 4.8 us against 3.3 with one on 56; ncu on the
 * H100). The row count is a variable when the schedule is made, so the types stand for it. */
static int elements_per_thread(const mlcc_stmt *realize, int nspatial, int nloops) {
    const mlcc_block *b = realize->realize.block;
    if (nspatial != nloops || b->init || !b->body || b->body->kind != STMT_STORE) return 1;
    const char *env = getenv("MLCC_CUDA_ELEMENTS_PER_THREAD");
    if (env && atoi(env) >= 1 && atoi(env) <= 16) return atoi(env);
    int half = b->body->store.buffer->dtype.bits == 16;
    ir_visitor v = {probe_half_load, NULL, &half};
    if (!half) ir_visit_expr(&v, b->body->store.value);
    return half ? 8 : 1;
}

/* The constant extent of a loop, or -1. */
static int64_t loop_extent(mlcc_schedule *s, mlcc_expr *loop) {
    sch_path lp;
    if (sch_find_loop(s, loop, &lp) != 0) return -1;
    const mlcc_expr *ext = lp.nodes[lp.n - 1]->for_.extent;
    return ext->kind == EXPR_INT ? ext->int_value : -1;
}

/* The elementwise rule below when the innermost loop is a whole number of blocks' spans
 * (T x V elements): the outer loops and the inner loop's blocks fuse into blockIdx.x, so the
 * row is one division a thread, not one an element (64-bit divisions by 14336 for a Llama-3-8B
 * silu * up; its 2048-token prefill kernel went 91.0 -> 86.3 us on the H100). A thread's V
 * elements are adjacent, in a vectorized loop that codegen_cuda turns into 16-byte loads and
 * stores:
 *     for bx in blockIdx.x(rows * E / (V T)): for tx: for v (vectorized): row = bx / (E / (V T)),
 *         col = (bx % (E / (V T)) * T + tx) * V + v
 * MLCC_CUDA_ELEMENT_WORDS=0 keeps the earlier layout, the elements a block's width apart and
 * the loop unrolled (scalar loads, each coalesced across the warp). */
static int bind_rows(mlcc_schedule *s, mlcc_expr **loops, int nspatial, int v) {
    mlcc_expr *outer = nspatial == 2 ? loops[0] : sch_fuse(s, loops, nspatial - 1);
    mlcc_expr *parts[3];
    if (!outer) return -1;
    int words = !getenv_is_zero("MLCC_CUDA_ELEMENT_WORDS");
    int64_t factors[3] = {SCH_INFER, words ? THREADS_PER_BLOCK : v, words ? v : THREADS_PER_BLOCK};
    if (sch_split(s, loops[nspatial - 1], factors, 3, parts) != 0) return -1;
    mlcc_expr *thread = words ? parts[1] : parts[2], *lane = words ? parts[2] : parts[1];
    if (!words && sch_reorder(s, (mlcc_expr *[]){parts[2], parts[1]}, 2) != 0) return -1;
    mlcc_expr *bx = sch_fuse(s, (mlcc_expr *[]){outer, parts[0]}, 2);
    if (!bx || sch_bind(s, bx, "blockIdx.x") != 0 || sch_bind(s, thread, "threadIdx.x") != 0) return -1;
    return words ? sch_vectorize(s, lane) : sch_unroll(s, lane);
}

/* One thread per output element of the block; on CUDA (per_thread) an elementwise block's thread
 * takes several, a block's width apart (coalesced, their loads in flight together):
 *     for bx: for tx in threadIdx.x(T): for v in 0..V: i = (bx * V + v) * T + tx */
static int bind_block(mlcc_schedule *s, const char *block, int per_thread) {
    mlcc_expr **loops;
    int n = sch_get_loops(s, block, &loops);
    if (n < 0) return -1;
    sch_path p;
    if (sch_find_block(s, block, &p) != 0) return mlcc_set_error("gpu schedule: block %s vanished", block);
    const mlcc_stmt *realize = p.nodes[p.n - 1];
    int nspatial = 0;
    while (nspatial < n && !binds_reduce_iter(realize, loops[nspatial])) nspatial++;
    if (nspatial == 0) return 0; /* runs on one thread */
    if (per_thread && nspatial >= 2) {
        int v = elements_per_thread(realize, nspatial, n);
        int64_t inner = loop_extent(s, loops[nspatial - 1]);
        if (v > 1 && inner > 0 && inner % ((int64_t)v * THREADS_PER_BLOCK) == 0 && !getenv_is_zero("MLCC_CUDA_ELEMENT_ROWS"))
            return bind_rows(s, loops, nspatial, v);
    }
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
    int v = per_thread ? elements_per_thread(realize, nspatial, n) : 1;
    if (v > 1 && threads == THREADS_PER_BLOCK) {
        mlcc_expr *parts[3];
        if (sch_split(s, fused, (int64_t[]){SCH_INFER, v, threads}, 3, parts) != 0) return -1;
        if (sch_reorder(s, (mlcc_expr *[]){parts[0], parts[2], parts[1]}, 3) != 0) return -1;
        if (sch_bind(s, parts[0], "blockIdx.x") != 0 || sch_bind(s, parts[2], "threadIdx.x") != 0) return -1;
        return sch_unroll(s, parts[1]);
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

/* ---- a task whose work is one vectorized loop: a block per task, a thread per element ----
 * kv_append (src/gen/kv_append.c) is such a task: per (token, KV head) a few index registers,
 * then a vectorized loop over head_dim writing K (rotated: rope in float64) and V into the
 * page. A thread per task ran the head_dim iterations one after another (~10 us a layer on
 * the H100 at batch 1, for 8 threads). The iterations of a vectorized loop are independent by
 * the generator's declaration, so each becomes a thread; the code before the loop (loop-free,
 * writing only thread-local registers) runs in every thread. Applies only when that is the
 * whole shape: exactly one loop in the task, vectorized, constant extent up to 1024, stores
 * outside it only to local buffers. MLCC_CUDA_TASK_ELEMENTS=0 keeps a thread per task. */

typedef struct element_scan {
    int loops, vectorized, bad;
    mlcc_stmt *loop; /* the vectorized loop */
    int inside;      /* visiting below it */
} element_scan;

static int is_local(const mlcc_buffer *b) {
    return b->scope && strcmp(b->scope, "local") == 0;
}

static int scan_stmt(ir_visitor *v, mlcc_stmt *s) {
    element_scan *e = v->ctx;
    if (s->kind == STMT_FOR) {
        e->loops++;
        if (s->for_.kind == FOR_VECTORIZED && s->for_.extent->kind == EXPR_INT && s->for_.extent->int_value >= 1 &&
            s->for_.extent->int_value <= 1024 && expr_is_int(s->for_.min, 0)) {
            e->vectorized++;
            e->loop = s;
            /* stores inside the loop may go anywhere: scan them apart */
            return 0;
        }
        return 1;
    }
    if (s->kind == STMT_STORE && !is_local(s->store.buffer)) e->bad = 1;
    return 1;
}

/* Loops or local-buffer stores inside the element loop would break the one-thread-per-element
 * reading; other stores are the point. */
static int scan_loop_body(ir_visitor *v, mlcc_stmt *s) {
    element_scan *e = v->ctx;
    if (s->kind == STMT_FOR) e->bad = 1;
    if (s->kind == STMT_STORE && is_local(s->store.buffer)) e->bad = 1;
    return 1;
}

typedef struct replace_ctx {
    mlcc_stmt *from, *to;
} replace_ctx;

static mlcc_stmt *replace_hook(ir_mutator *m, mlcc_stmt *s) {
    replace_ctx *r = m->ctx;
    return s == r->from ? r->to : NULL;
}

/* root with the statement `from` (by identity) replaced by `to`. */
static mlcc_stmt *stmt_replace_stmt(mlcc_stmt *root, mlcc_stmt *from, mlcc_stmt *to) {
    replace_ctx r = {from, to};
    ir_mutator m = {NULL, replace_hook, NULL, &r};
    return ir_mutate_stmt(&m, root);
}

static mlcc_stmt *bind_element_loop(mlcc_stmt *loop) {
    const char *off = getenv("MLCC_CUDA_TASK_ELEMENTS");
    if (off && strcmp(off, "0") == 0) return NULL;
    element_scan e = {0};
    ir_visitor v = {NULL, scan_stmt, &e};
    ir_visit_stmt(&v, loop->for_.body);
    if (e.loops != 1 || e.vectorized != 1 || e.bad) return NULL;
    ir_visitor inner = {NULL, scan_loop_body, &e};
    ir_visit_stmt(&inner, e.loop->for_.body);
    if (e.bad) return NULL;
    mlcc_expr *var = loop->for_.var, *el = e.loop->for_.var;
    char name[160];
    snprintf(name, sizeof name, "%s_bx", var->var.name);
    mlcc_expr *bx = ir_var(ir_strdup(name), var->dtype);
    snprintf(name, sizeof name, "%s_tx", el->var.name);
    mlcc_expr *tx = ir_var(ir_strdup(name), el->dtype);
    /* the element loop becomes its body with the element var := tx */
    mlcc_stmt *flat = stmt_replace_stmt(loop->for_.body, e.loop, stmt_substitute(e.loop->for_.body, &el, &tx, 1));
    mlcc_expr *task = ir_add(loop->for_.min, bx);
    flat = stmt_substitute(flat, &var, &task, 1);
    mlcc_stmt *threads = ir_for_thread(tx, ir_int(0), e.loop->for_.extent, "threadIdx.x", flat);
    return ir_for_thread(bx, ir_int(0), loop->for_.extent, "blockIdx.x", threads);
}

/* Rewrites the parallel loops at the top of f's body (through its top-level sequence). */
static mlcc_stmt *bind_task_loops(mlcc_stmt *s, int elements) {
    if (!s) return s;
    if (s->kind == STMT_FOR && s->for_.kind == FOR_PARALLEL) {
        mlcc_stmt *b = elements ? bind_element_loop(s) : NULL;
        return b ? b : bind_task_loop(s);
    }
    if (s->kind == STMT_SEQ) {
        mlcc_stmt **items = ir_alloc(sizeof(mlcc_stmt *) * (size_t)s->seq.n);
        for (int i = 0; i < s->seq.n; i++) items[i] = bind_task_loops(s->seq.stmts[i], elements);
        return ir_seq(items, s->seq.n);
    }
    if (s->kind == STMT_ALLOCATE) return ir_allocate(s->alloc.buffer, bind_task_loops(s->alloc.body, elements));
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

static mlcc_prim_func *default_rules(const mlcc_prim_func *f, int64_t cross_thread_min_extent, int elements);

mlcc_prim_func *gpu_default_schedule_ex(const mlcc_prim_func *f, int64_t cross_thread_min_extent) {
    if (gpu_func_has_thread_bindings(f)) return (mlcc_prim_func *)f;
    mlcc_prim_func *attention = gpu_schedule_attn_decode(f);
    if (attention) return attention;
    return default_rules(f, cross_thread_min_extent, 1);
}

mlcc_prim_func *gpu_default_schedule_portable(const mlcc_prim_func *f) {
    if (gpu_func_has_thread_bindings(f)) return (mlcc_prim_func *)f;
    return default_rules(f, GPU_CROSS_THREAD_MIN_EXTENT, 0); /* (element loops: CUDA only, measured there) */
}

static mlcc_prim_func *default_rules(const mlcc_prim_func *f, int64_t cross_thread_min_extent, int elements) {
    mlcc_prim_func *tasks = prim_func_copy(f);
    tasks->body = bind_task_loops(f->body, elements);
    mlcc_schedule *s = sch_create(tasks);
    inline_producers(s);
    /* norms and softmax: one kernel a row (CUDA; MLCC_CUDA_ROW_KERNEL=0 keeps a kernel a nest) */
    const char *row_env = getenv("MLCC_CUDA_ROW_KERNEL");
    int row_done = 0;
    if (elements && cross_thread_min_extent != INT64_MAX && !(row_env && strcmp(row_env, "0") == 0))
        gpu_row_kernel(s, cross_thread_min_extent, &row_done);
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
        if (done < 0 || (!done && bind_block(s, blocks[i], elements) != 0)) {
            mlcc_prefix_error("gpu schedule of %s, block %s", f->name, blocks[i]);
            sch_free(s);
            return NULL;
        }
    }
    mlcc_prim_func *out = prim_func_copy(sch_func(s));
    sch_free(s);
    if (row_done) gpu_drop_unused_allocs(out);
    return out;
}
