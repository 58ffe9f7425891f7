/* gpu_row.c - the GPU "reduction + broadcast" rule (TVM dlight's RMSNorm rule): a function made
 * of row reductions and row-wise elementwise nests over the same rows (RMSNorm, LayerNorm,
 * softmax, an add feeding a norm) becomes ONE kernel with a thread block per row:
 *
 *     for bx in blockIdx.x(rows):
 *       for each nest, in order:
 *         reduction R_i[row] = (+)_k value(row, k):   per-thread partial over k = ko * T + tx,
 *                                                      warp shuffles, the warps' values through
 *                                                      shared memory into red_i[0] (float32; other
 *                                                      types a shared-memory tree)
 *         elementwise S[row, j] = value(row, j):       for tx: for jo: j = jo * T + tx
 *
 * with every later read of R_i[row] turned into red_i[0] (the intermediate row vector is no
 * longer written unless the function returns it). Before, each nest was its own kernel (RMSNorm:
 * a reduction kernel and a thread-per-element kernel, ~4.5 us each at batch 1 on the H100), and
 * the intermediate went through global memory between them.
 *
 * An elementwise nest may precede a reduction (the residual add whose sum is both an output and
 * the norm's input): its element (row, j) is written by thread j % T and read back, by the same
 * index mapping, only by that thread, so no barrier is needed for the global array; that is why
 * every nest must read an earlier elementwise output exactly at its own (row, k) and an earlier
 * reduction exactly at its own row. The reduce axis and the row length must be the same one
 * (constant or symbolic) extent H; shorter rows than GPU_CROSS_THREAD_MIN_EXTENT keep the
 * thread-per-element rules. Sums are taken in another order than the two-kernel form (T up to
 * 1024 threads instead of 256), so results differ by rounding only. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arith/analyzer.h"
#include "ir/functor.h"
#include "schedule/gpu_nest.h"
#include "schedule/gpu_rules.h"

enum { ROW_MAX_NESTS = 8, ROW_MAX_THREADS = 1024, ROW_ELEMS_PER_THREAD = 4, ROW_WORD_LANES = 8, WARP = 32 };

typedef struct row_nest {
    gpu_reduction_nest n; /* for an elementwise nest: kind unused, value = the stored value */
    int reduce;           /* 1 reduction, 0 elementwise */
    mlcc_buffer *out;
    mlcc_buffer *red;     /* a reduction's row value, in shared memory: [0] (or the tree's) */
    mlcc_buffer *warps;   /* float32: the warps' values */
} row_nest;

/* A te-style elementwise nest: loops each binding one spatial iter, straight down to a block
 * whose body stores value at its iters. */
static int match_spatial(mlcc_schedule *s, const char *block, gpu_reduction_nest *r) {
    memset(r, 0, sizeof *r);
    if (sch_find_block(s, block, &r->path) != 0) return 0;
    sch_path *p = &r->path;
    mlcc_stmt *realize = p->nodes[p->n - 1];
    const mlcc_block *b = realize->realize.block;
    r->block = b;
    if (b->init || b->nalloc || !expr_is_int(realize->realize.predicate, 1)) return 0;
    if (!b->body || b->body->kind != STMT_STORE || b->body->store.nidx != b->niters) return 0;
    int first = 0;
    while (first < p->n && p->nodes[first]->kind != STMT_FOR) first++;
    int nloops = p->n - 1 - first;
    if (nloops <= 0 || nloops > GPU_MAX_NEST || nloops != b->niters) return 0;
    for (int i = 0; i < nloops; i++) {
        const mlcc_stmt *l = p->nodes[first + i];
        if (l->kind != STMT_FOR || l->for_.kind != FOR_SERIAL || !expr_is_int(l->for_.min, 0)) return 0;
        if (i + 1 < nloops && l->for_.body != p->nodes[first + i + 1]) return 0;
        if (realize->realize.iter_values[i] != l->for_.var || b->iters[i].type != ITER_SPATIAL) return 0;
        if (b->body->store.indices[i] != b->iters[i].var) return 0;
        r->extents[i] = l->for_.extent;
    }
    if (sch_expr_loads_buffer(b->body->store.value, b->body->store.buffer)) return 0;
    r->first = first;
    r->nloops = r->nspatial = nloops;
    r->value = b->body->store.value;
    return 1;
}

/* ---- reads of earlier nests' outputs ---- */

typedef struct read_check {
    const mlcc_buffer *buf;
    mlcc_expr *const *want; /* the indices every load of buf must have */
    int nwant;
    int bad;
} read_check;

static int check_load(ir_visitor *v, mlcc_expr *e) {
    read_check *c = v->ctx;
    if (e->kind != EXPR_LOAD || e->load.buffer != c->buf) return 1;
    if (e->load.nidx != c->nwant) c->bad = 1;
    for (int i = 0; !c->bad && i < c->nwant; i++)
        if (e->load.indices[i] != c->want[i]) c->bad = 1;
    return 1;
}

/* Does nest `user` read `from`'s output only at the index `from` writes for user's (row, k)? */
static int reads_in_step(const row_nest *user, const row_nest *from, int rows) {
    mlcc_expr *want[GPU_MAX_NEST];
    for (int i = 0; i < user->n.block->niters; i++) want[i] = user->n.block->iters[i].var;
    read_check c = {from->out, want, from->reduce ? rows : rows + 1, 0};
    ir_visitor v = {check_load, NULL, &c};
    ir_visit_expr(&v, user->n.value);
    return !c.bad;
}

typedef struct load_swap {
    const mlcc_buffer *from;
    mlcc_buffer *to;
} load_swap;

static mlcc_expr *swap_hook(ir_mutator *m, mlcc_expr *e) {
    load_swap *w = m->ctx;
    if (e->kind != EXPR_LOAD || e->load.buffer != w->from) return NULL;
    mlcc_expr *zero = ir_int(0);
    return ir_load(w->to, &zero, 1);
}

/* value with the reads of earlier reductions' outputs taken from shared memory */
static mlcc_expr *from_trees(mlcc_expr *value, const row_nest *nests, int upto) {
    for (int j = 0; j < upto; j++) {
        if (!nests[j].reduce) continue;
        load_swap w = {nests[j].out, nests[j].red};
        ir_mutator m = {swap_hook, NULL, NULL, &w};
        value = ir_mutate_expr(&m, value);
    }
    return value;
}

static int is_param(const mlcc_prim_func *f, const mlcc_buffer *b) {
    for (int i = 0; i < f->nparams; i++)
        if (f->params[i].buffer == b) return 1;
    return 0;
}

static mlcc_expr *unfuse(mlcc_expr *fused, mlcc_expr *const *extents, int n, int j) {
    mlcc_expr *inner = ir_int(1);
    for (int k = j + 1; k < n; k++) inner = ir_mul(inner, extents[k]);
    mlcc_expr *idx = ir_floordiv(fused, inner);
    return j == 0 ? idx : ir_floormod(idx, extents[j]);
}

static mlcc_stmt *thread_loop(mlcc_expr *tx, int threads, mlcc_stmt *body) {
    return ir_for_thread(tx, ir_int(0), ir_int(threads), "threadIdx.x", body);
}

/* The column a thread's step takes: k = o * T + tx; with lanes L > 1 (words, below),
 * k = (o * T + tx) * L + v. */
static mlcc_expr *row_column(mlcc_expr *o, mlcc_expr *tx, mlcc_expr *v, int threads, int lanes) {
    mlcc_expr *k = ir_add(ir_mul(o, ir_int(threads)), tx);
    return lanes > 1 ? ir_add(ir_mul(k, ir_int(lanes)), v) : k;
}

/* for tx: [init;] for o in ceil(H / T): k = o * T + tx; if k < H: body(k) -- the stage one
 * nest's share of a row; `pre` and `post` run in the thread before and after the loop. With
 * lanes L > 1 (H a multiple of T L), a thread's L adjacent columns a step are a vectorized
 * loop, which codegen_cuda moves as 16-byte words:
 *     for o in H / (T L): for v in L (vectorized): k = (o * T + tx) * L + v: body(k) */
static mlcc_stmt *strided(mlcc_expr *H, int threads, int lanes, mlcc_expr *o, mlcc_expr *v, mlcc_expr *k, mlcc_stmt *body,
                          mlcc_stmt *pre, mlcc_stmt *post) {
    int exact = H->kind == EXPR_INT && H->int_value % ((int64_t)threads * lanes) == 0;
    if (!exact) body = ir_if(ir_lt(k, H), body, NULL);
    if (lanes > 1) body = ir_for(v, ir_int(0), ir_int(lanes), FOR_VECTORIZED, body);
    int64_t span = (int64_t)threads * lanes;
    mlcc_expr *trips = arith_simplify_expr(ir_floordiv(ir_add(H, ir_int(span - 1)), ir_int(span)));
    mlcc_stmt *loop = ir_for(o, ir_int(0), trips, FOR_SERIAL, body);
    return ir_seq((mlcc_stmt *[]){pre, loop, post}, 3);
}

/* acc[0] combined over the 32 lanes of the warp, in every lane (a butterfly of shuffles) */
static mlcc_stmt *warp_combine(mlcc_buffer *acc, mlcc_expr_kind kind) {
    mlcc_expr *zero = ir_int(0);
    mlcc_stmt *steps[5];
    for (int k = 0, m = WARP / 2; m >= 1; m /= 2, k++) {
        mlcc_expr *args[2] = {ir_load(acc, &zero, 1), ir_int(m)};
        steps[k] = ir_store(acc, ir_binary(kind, ir_load(acc, &zero, 1), ir_call(DT_F32, "cuda.shfl_xor", args, 2)), &zero, 1);
    }
    return ir_seq(steps, 5);
}

/* The stages of nest i of the kernel (appended to stages). */
static int nest_stages(const mlcc_prim_func *f, row_nest *nests, int i, int rows, mlcc_expr *const *row_idx,
                       mlcc_expr *H, int threads, int lanes, mlcc_stmt **stages, int nst) {
    row_nest *r = &nests[i];
    const mlcc_block *b = r->n.block;
    mlcc_expr *tx = ir_var("row_tx", DT_I64), *o = ir_var("row_o", DT_I64), *v = ir_var("row_v", DT_I64);
    mlcc_expr *k = row_column(o, tx, v, threads, lanes);
    mlcc_expr *vars[GPU_MAX_NEST], *vals[GPU_MAX_NEST];
    for (int j = 0; j < b->niters; j++) vars[j] = b->iters[j].var, vals[j] = j < rows ? row_idx[j] : k;
    mlcc_expr *value = from_trees(expr_substitute(r->n.value, vars, vals, b->niters), nests, i);
    mlcc_expr *zero = ir_int(0);
    if (!r->reduce) {
        mlcc_expr **idx = ir_alloc(sizeof(mlcc_expr *) * (size_t)(rows + 1));
        for (int j = 0; j <= rows; j++) idx[j] = vals[j];
        mlcc_stmt *store = ir_store(r->out, value, idx, rows + 1);
        stages[nst++] = thread_loop(tx, threads, strided(H, threads, lanes, o, v, k, store, NULL, NULL));
        return nst;
    }
    /* a reduction: partials, then the tree */
    mlcc_dtype t = r->out->dtype;
    mlcc_buffer *acc = ir_buffer_scoped("row_acc", t, (mlcc_expr *[]){ir_int(1)}, 1, "local");
    mlcc_expr *identity = from_trees(expr_substitute(b->init->store.value, vars, vals, b->niters), nests, i);
    mlcc_stmt *update = ir_store(acc, ir_binary(r->n.kind, ir_load(acc, &zero, 1), value), &zero, 1);
    mlcc_stmt *init = ir_store(acc, identity, &zero, 1);
    if (dtype_eq(t, DT_F32)) {
        /* float32: warp shuffles, then the warps' values through shared memory (two barriers
         * where a shared-memory tree of 1024 threads takes ten) */
        r->warps = ir_buffer_scoped("row_warps", t, (mlcc_expr *[]){ir_int(WARP)}, 1, "shared");
        r->red = ir_buffer_scoped("row_red", t, (mlcc_expr *[]){ir_int(1)}, 1, "shared");
        mlcc_expr *lane = ir_floormod(tx, ir_int(WARP)), *warp = ir_floordiv(tx, ir_int(WARP));
        mlcc_stmt *publish = ir_if(ir_eq(lane, ir_int(0)), ir_store(r->warps, ir_load(acc, &zero, 1), &warp, 1), NULL);
        mlcc_stmt *body = strided(H, threads, lanes, o, v, k, update, init, ir_seq2(warp_combine(acc, r->n.kind), publish));
        stages[nst++] = thread_loop(tx, threads, ir_allocate(acc, body));
        mlcc_expr *tv = ir_var("row_tx", DT_I64);
        mlcc_buffer *acc2 = ir_buffer_scoped("row_acc", t, (mlcc_expr *[]){ir_int(1)}, 1, "local");
        mlcc_expr *mine = ir_select(ir_lt(tv, ir_int(threads / WARP)), ir_load(r->warps, &tv, 1), identity);
        mlcc_stmt *last = ir_seq((mlcc_stmt *[]){ir_store(acc2, mine, &zero, 1), warp_combine(acc2, r->n.kind),
                                                 ir_if(ir_eq(tv, ir_int(0)), ir_store(r->red, ir_load(acc2, &zero, 1), &zero, 1), NULL)}, 3);
        stages[nst++] = thread_loop(tv, threads, ir_if(ir_lt(tv, ir_int(WARP)), ir_allocate(acc2, last), NULL));
    } else {
        r->red = ir_buffer_scoped("row_red", t, (mlcc_expr *[]){ir_int(threads)}, 1, "shared");
        mlcc_stmt *body = strided(H, threads, lanes, o, v, k, update, init, ir_store(r->red, ir_load(acc, &zero, 1), &tx, 1));
        stages[nst++] = thread_loop(tx, threads, ir_allocate(acc, body));
        int width = 1;
        while (width < threads) width *= 2;
        for (int half = width / 2; half >= 1; half /= 2) {
            mlcc_expr *tv = ir_var("row_tx", DT_I64);
            mlcc_expr *other = ir_add(tv, ir_int(half));
            mlcc_stmt *step = ir_store(r->red, ir_binary(r->n.kind, ir_load(r->red, &tv, 1), ir_load(r->red, &other, 1)), &tv, 1);
            step = ir_if(ir_and(ir_lt(tv, ir_int(half)), ir_lt(other, ir_int(threads))), step, NULL);
            stages[nst++] = thread_loop(tv, threads, step);
        }
    }
    if (is_param(f, r->out)) { /* the function returns the row values too */
        mlcc_expr *tv = ir_var("row_tx", DT_I64);
        mlcc_expr **idx = ir_alloc(sizeof(mlcc_expr *) * (size_t)(rows > 0 ? rows : 1));
        for (int j = 0; j < rows; j++) idx[j] = row_idx[j];
        mlcc_stmt *write = ir_store(r->out, ir_load(r->red, &zero, 1), idx, rows);
        stages[nst++] = thread_loop(tv, threads, ir_if(ir_eq(tv, ir_int(0)), write, NULL));
    }
    return nst;
}

typedef struct nest_swap {
    mlcc_stmt *seq;                /* the sequence holding the nests */
    mlcc_stmt *from[ROW_MAX_NESTS];
    mlcc_stmt *to;                 /* replaces from[0]; the others go */
    int n;
} nest_swap;

static mlcc_stmt *nest_hook(ir_mutator *m, mlcc_stmt *s) {
    nest_swap *w = m->ctx;
    if (s != w->seq) return NULL;
    mlcc_stmt **items = ir_alloc(sizeof(mlcc_stmt *) * (size_t)s->seq.n);
    int k = 0;
    for (int i = 0; i < s->seq.n; i++) {
        int which = -1;
        for (int j = 0; j < w->n; j++)
            if (s->seq.stmts[i] == w->from[j]) which = j;
        if (which < 0) items[k++] = s->seq.stmts[i];
        else if (which == 0) items[k++] = w->to;
    }
    return ir_seq(items, k);
}

int gpu_row_kernel(mlcc_schedule *s, int64_t min_extent, int *applied) {
    *applied = 0;
    const char **blocks;
    int nblocks = sch_get_blocks(s, &blocks);
    if (nblocks < 2 || nblocks > ROW_MAX_NESTS) return 0;
    row_nest nests[ROW_MAX_NESTS];
    memset(nests, 0, sizeof nests);
    int rows = -1, reductions = 0;
    mlcc_expr *H = NULL;
    for (int i = 0; i < nblocks; i++) {
        row_nest *r = &nests[i];
        if (gpu_match_reduction(s, blocks[i], &r->n)) r->reduce = 1;
        else if (!match_spatial(s, blocks[i], &r->n)) return 0;
        for (int k = 0; k < r->n.first; k++)
            if (r->n.path.nodes[k]->kind == STMT_BLOCK_REALIZE || r->n.path.nodes[k]->kind == STMT_FOR) return 0;
        /* all in one sequence, side by side */
        if (r->n.first < 1 || r->n.path.nodes[r->n.first - 1]->kind != STMT_SEQ ||
            r->n.path.nodes[r->n.first - 1] != nests[0].n.path.nodes[nests[0].n.first - 1])
            return 0;
        int nrows = r->reduce ? r->n.nspatial : r->n.nloops - 1;
        if (nrows < 1 || r->n.nloops != nrows + 1) return 0; /* one reduce axis / one row axis */
        if (rows < 0) rows = nrows, H = r->n.extents[nrows];
        if (nrows != rows || !sch_expr_equal(r->n.extents[rows], H)) return 0;
        for (int k = 0; k < rows; k++)
            if (!sch_expr_equal(r->n.extents[k], nests[0].n.extents[k])) return 0;
        r->out = r->n.block->body->store.buffer;
        if (r->reduce) {
            reductions++;
            for (int k = 0; k < r->n.block->body->store.nidx; k++)
                if (r->n.block->body->store.indices[k] != r->n.block->iters[k].var) return 0;
        }
        for (int j = 0; j < i; j++)
            if (nests[j].out == r->out || !reads_in_step(r, &nests[j], rows)) return 0;
    }
    if (!reductions || nests[nblocks - 1].reduce) return 0;
    /* side by side with nothing between them: the kernel runs them all where the first was */
    const mlcc_stmt *seq = nests[0].n.path.nodes[nests[0].n.first - 1];
    int at = -1;
    for (int k = 0; k < seq->seq.n; k++)
        if (seq->seq.stmts[k] == nests[0].n.path.nodes[nests[0].n.first]) at = k;
    if (at < 0 || at + nblocks > seq->seq.n) return 0;
    for (int i = 1; i < nblocks; i++)
        if (seq->seq.stmts[at + i] != nests[i].n.path.nodes[nests[i].n.first]) return 0;
    H = arith_simplify_expr(H);
    if (H->kind == EXPR_INT && H->int_value < min_extent) return 0;
    int threads = ROW_MAX_THREADS;
    if (H->kind == EXPR_INT && H->int_value < (int64_t)ROW_MAX_THREADS * ROW_ELEMS_PER_THREAD) {
        int64_t want = (H->int_value + ROW_ELEMS_PER_THREAD - 1) / ROW_ELEMS_PER_THREAD;
        threads = (int)((want + WARP - 1) / WARP * WARP);
    }
    /* L = 8 adjacent columns a thread, as 16-byte words, where T L tile the row exactly with T a
     * whole number of warps (a Llama-3-8B norm: 512 threads x 8; MLCC_CUDA_ROW_WORDS=4 takes 4,
     * =0 keeps k = o * T + tx). Measured on the H100 (ncu, 2048-token prefill, 2026-11-26): the
     * norm to half 17.6 us with 8, 21.5 with 4 (1024 threads), 21.2 strided; at batch 1, one
     * row, 3.6-3.7 us each way. Two blocks of 512 keep more rows in flight on a multiprocessor
     * than one of 1024. */
    const char *words_env = getenv("MLCC_CUDA_ROW_WORDS");
    int lanes = words_env && *words_env ? atoi(words_env) : ROW_WORD_LANES;
    if (lanes != 4 && lanes != 8) lanes = 1;
    for (; lanes >= 4; lanes /= 2) { /* 8 where they tile the row, else 4 (Qwen2.5-0.5B's 896) */
        int64_t t = H->kind == EXPR_INT ? H->int_value / lanes : 0;
        t = (t < ROW_MAX_THREADS ? t : ROW_MAX_THREADS) / WARP * WARP;
        if (t >= WARP && H->int_value % (t * lanes) == 0) {
            threads = (int)t;
            break;
        }
    }
    if (lanes < 4) lanes = 1;

    const mlcc_prim_func *f = sch_func(s);
    mlcc_expr *bx = ir_var("row_bx", DT_I64);
    mlcc_expr *N = ir_int(1), *row_idx[GPU_MAX_NEST];
    for (int k = 0; k < rows; k++) N = ir_mul(N, nests[0].n.extents[k]);
    for (int k = 0; k < rows; k++) row_idx[k] = unfuse(bx, nests[0].n.extents, rows, k);
    mlcc_stmt *stages[ROW_MAX_NESTS * 16];
    int nst = 0;
    for (int i = 0; i < nblocks; i++) nst = nest_stages(f, nests, i, rows, row_idx, H, threads, lanes, stages, nst);
    mlcc_stmt *kernel = ir_seq(stages, nst);
    for (int i = nblocks - 1; i >= 0; i--)
        if (nests[i].red) kernel = ir_allocate(nests[i].red, nests[i].warps ? ir_allocate(nests[i].warps, kernel) : kernel);
    kernel = ir_for_thread(bx, ir_int(0), arith_simplify_expr(N), "blockIdx.x", kernel);

    nest_swap w = {nests[0].n.path.nodes[nests[0].n.first - 1], {0}, kernel, nblocks};
    for (int i = 0; i < nblocks; i++) w.from[i] = nests[i].n.path.nodes[nests[i].n.first];
    ir_mutator m = {NULL, nest_hook, NULL, &w};
    sch_commit(s, ir_mutate_stmt(&m, f->body));
    *applied = 1;
    return 0;
}

/* ---- intermediates the rule left unused ---- */

typedef struct use_scan {
    const mlcc_buffer *buf;
    int used;
} use_scan;

static int use_expr(ir_visitor *v, mlcc_expr *e) {
    use_scan *u = v->ctx;
    if (e->kind == EXPR_LOAD && e->load.buffer == u->buf) u->used = 1;
    return !u->used;
}

static int use_stmt(ir_visitor *v, mlcc_stmt *s) {
    use_scan *u = v->ctx;
    if (s->kind == STMT_STORE && s->store.buffer == u->buf) u->used = 1;
    return !u->used;
}

void gpu_drop_unused_allocs(mlcc_prim_func *f) {
    int k = 0;
    for (int i = 0; i < f->nalloc; i++) {
        use_scan u = {f->alloc_buffers[i], 0};
        ir_visitor v = {use_expr, use_stmt, &u};
        ir_visit_stmt(&v, f->body);
        if (u.used) f->alloc_buffers[k++] = f->alloc_buffers[i];
    }
    f->nalloc = k;
}
