/* gpu_rules.c - default GPU schedules (see gpu_rules.h). */
#include "schedule/gpu_rules.h"

#include "ir/functor.h"
#include "schedule/state.h"
#include "support/error.h"

enum { THREADS_PER_BLOCK = 256, WARP = 32 };

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

static int threads_for(const mlcc_schedule *s, mlcc_expr *fused) {
    (void)s;
    (void)fused;
    return THREADS_PER_BLOCK;
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
    int threads = threads_for(s, fused);
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

mlcc_prim_func *gpu_default_schedule(const mlcc_prim_func *f) {
    if (gpu_func_has_thread_bindings(f)) return (mlcc_prim_func *)f;
    mlcc_schedule *s = sch_create(f);
    inline_producers(s);
    const char **blocks;
    int n = sch_get_blocks(s, &blocks);
    /* only blocks at the top of a loop nest: nested blocks run inside their parent's thread */
    for (int i = 0; i < n; i++) {
        sch_path p;
        if (sch_find_block(s, blocks[i], &p) != 0) continue;
        int nested = 0;
        for (int k = 0; k + 1 < p.n; k++) nested |= p.nodes[k]->kind == STMT_BLOCK_REALIZE;
        if (nested) continue;
        if (bind_block(s, blocks[i]) != 0) {
            mlcc_prefix_error("gpu schedule of %s, block %s", f->name, blocks[i]);
            sch_free(s);
            return NULL;
        }
    }
    mlcc_prim_func *out = prim_func_copy(sch_func(s));
    sch_free(s);
    return out;
}
