/* gpu_matmul.c - the GPU rule for matmuls (see gpu_rules.h): a reduction nest whose update is
 * C[rows.., col] += a(rows.., k) * b(col, k), the rows fused into one M axis, becomes
 *
 *   if M <= GPU_MATMUL_MIN_ROWS:  the cross-thread reduction (decode: one block per output)
 *   else: 64 x 64 output tiles, one thread block (16 x 16 threads, 4 x 4 outputs each) per
 *         tile; the K axis in steps of 16, staging a 64 x 16 slice of a and of b in shared
 *         memory (stored k-major with a padded stride, so the inner loop reads without bank
 *         conflicts), then every thread accumulates its 4 x 4 outputs from them.
 *
 * M is symbolic in a model's functions (the prompt length), so both kernels are compiled and
 * the host picks one per call. a and b are any expressions (casts, dequantization inlined into
 * them): they are evaluated when a tile is staged. Plain SIMT float32 arithmetic: tensor cores
 * (mma.sync) and cuBLASLt dispatch are the next steps. */
#include <string.h>

#include "arith/analyzer.h"
#include "ir/functor.h"
#include "schedule/gpu_nest.h"

enum { TILE = 64, TK = 16, THREADS = 16, MICRO = 4, STRIDE = TILE + 1, GPU_MATMUL_MIN_ROWS = 8 };

static int uses_any(mlcc_expr *e, mlcc_expr *const *vars, int n) {
    for (int i = 0; i < n; i++)
        if (expr_uses_var(e, vars[i])) return 1;
    return 0;
}

static mlcc_expr *unfuse(mlcc_expr *fused, mlcc_expr *const *extents, int n, int j) {
    mlcc_expr *inner = ir_int(1);
    for (int k = j + 1; k < n; k++) inner = ir_mul(inner, extents[k]);
    mlcc_expr *idx = ir_floordiv(fused, inner);
    return j == 0 ? idx : ir_floormod(idx, extents[j]);
}

static mlcc_expr *v64(const char *name) {
    return ir_var(name, DT_I64);
}
static mlcc_expr *ld(mlcc_buffer *b, mlcc_expr *i) {
    return ir_load(b, &i, 1);
}
static mlcc_stmt *st(mlcc_buffer *b, mlcc_expr *i, mlcc_expr *v) {
    return ir_store(b, v, &i, 1);
}
static mlcc_stmt *unrolled(mlcc_expr *v, int n, mlcc_stmt *body) {
    return ir_for(v, ir_int(0), ir_int(n), FOR_UNROLLED, body);
}

/* The block iters' values for a row index, a column index and a k index. */
static void iter_values(const gpu_reduction_nest *r, mlcc_expr *row, mlcc_expr *col, mlcc_expr *k,
                        mlcc_expr **vars, mlcc_expr **vals) {
    int ns = r->nspatial;
    for (int i = 0; i < r->nloops; i++) {
        vars[i] = r->block->iters[i].var;
        vals[i] = i < ns - 1 ? unfuse(row, r->extents, ns - 1, i) : i == ns - 1 ? col : k;
    }
}

static mlcc_stmt *tiled_nest(const gpu_reduction_nest *r, mlcc_expr *pa, mlcc_expr *pb) {
    int ns = r->nspatial, n = r->nloops;
    mlcc_expr *M = ir_int(1);
    for (int i = 0; i < ns - 1; i++) M = ir_mul(M, r->extents[i]);
    M = arith_simplify_expr(M);
    mlcc_expr *N = r->extents[ns - 1], *K = r->extents[ns];
    mlcc_dtype t = r->block->body->store.buffer->dtype;
    mlcc_buffer *As = ir_buffer_scoped("mm_a", t, (mlcc_expr *[]){ir_int(TK * STRIDE)}, 1, "shared");
    mlcc_buffer *Bs = ir_buffer_scoped("mm_b", t, (mlcc_expr *[]){ir_int(TK * STRIDE)}, 1, "shared");
    mlcc_buffer *acc = ir_buffer_scoped("mm_acc", t, (mlcc_expr *[]){ir_int(MICRO * MICRO)}, 1, "local");
    mlcc_expr *by = v64("mm_by"), *bx = v64("mm_bx"), *ty = v64("mm_ty"), *tx = v64("mm_tx");
    mlcc_expr *ko = v64("mm_ko"), *p = v64("mm_p"), *kk = v64("mm_kk");
    mlcc_expr *a1 = v64("mm_i"), *b1 = v64("mm_j"), *a2 = v64("mm_i"), *b2 = v64("mm_j"), *a3 = v64("mm_i"), *b3 = v64("mm_j");
    mlcc_expr *vars[GPU_MAX_NEST], *vals[GPU_MAX_NEST];

    /* acc = init at the thread's outputs */
    mlcc_expr *row1 = ir_add(ir_mul(by, ir_int(TILE)), ir_add(ir_mul(ty, ir_int(MICRO)), a1));
    mlcc_expr *col1 = ir_add(ir_mul(bx, ir_int(TILE)), ir_add(ir_mul(tx, ir_int(MICRO)), b1));
    iter_values(r, row1, col1, ir_int(0), vars, vals);
    mlcc_expr *identity = expr_substitute(r->block->init->store.value, vars, vals, n);
    mlcc_stmt *init = unrolled(a1, MICRO, unrolled(b1, MICRO, st(acc, ir_add(ir_mul(a1, ir_int(MICRO)), b1), identity)));

    /* stage a 64 x 16 slice of a and of b: element e of 1024, four per thread */
    mlcc_expr *e = ir_add(ir_mul(p, ir_int(THREADS * THREADS)), ir_add(ir_mul(ty, ir_int(THREADS)), tx));
    mlcc_expr *rr = ir_floordiv(e, ir_int(TK)), *cc = ir_floormod(e, ir_int(TK));
    mlcc_expr *kidx = ir_add(ir_mul(ko, ir_int(TK)), cc);
    mlcc_expr *slot = ir_add(ir_mul(cc, ir_int(STRIDE)), rr);
    mlcc_expr *arow = ir_add(ir_mul(by, ir_int(TILE)), rr), *bcol = ir_add(ir_mul(bx, ir_int(TILE)), rr);
    iter_values(r, arow, ir_int(0), kidx, vars, vals);
    mlcc_expr *a_val = expr_substitute(pa, vars, vals, n);
    iter_values(r, ir_int(0), bcol, kidx, vars, vals);
    mlcc_expr *b_val = expr_substitute(pb, vars, vals, n);
    mlcc_expr *zero = ir_zero(t);
    mlcc_stmt *load = unrolled(p, TILE * TK / (THREADS * THREADS), ir_seq2(
        ir_if(ir_and(ir_lt(arow, M), ir_lt(kidx, K)), st(As, slot, ir_cast(t, a_val)), st(As, slot, zero)),
        ir_if(ir_and(ir_lt(bcol, N), ir_lt(kidx, K)), st(Bs, slot, ir_cast(t, b_val)), st(Bs, slot, zero))));
    /* every thread: its 4 x 4 outputs from the staged slice */
    mlcc_expr *ai = ir_add(ir_mul(kk, ir_int(STRIDE)), ir_add(ir_mul(ty, ir_int(MICRO)), a2));
    mlcc_expr *bi = ir_add(ir_mul(kk, ir_int(STRIDE)), ir_add(ir_mul(tx, ir_int(MICRO)), b2));
    mlcc_expr *ci = ir_add(ir_mul(a2, ir_int(MICRO)), b2);
    mlcc_stmt *compute = unrolled(kk, TK, unrolled(a2, MICRO, unrolled(b2, MICRO,
        st(acc, ci, ir_add(ld(acc, ci), ir_mul(ld(As, ai), ld(Bs, bi)))))));
    mlcc_expr *steps = arith_simplify_expr(ir_floordiv(ir_add(K, ir_int(TK - 1)), ir_int(TK)));
    mlcc_stmt *kloop = ir_for(ko, ir_int(0), steps, FOR_SERIAL, ir_seq2(load, compute));

    /* write back what lies inside C */
    mlcc_expr *row3 = ir_add(ir_mul(by, ir_int(TILE)), ir_add(ir_mul(ty, ir_int(MICRO)), a3));
    mlcc_expr *col3 = ir_add(ir_mul(bx, ir_int(TILE)), ir_add(ir_mul(tx, ir_int(MICRO)), b3));
    iter_values(r, row3, col3, ir_int(0), vars, vals);
    const mlcc_stmt *upd = r->block->body;
    mlcc_expr **out_idx = ir_alloc(sizeof(mlcc_expr *) * (size_t)upd->store.nidx);
    for (int i = 0; i < upd->store.nidx; i++) out_idx[i] = expr_substitute(upd->store.indices[i], vars, vals, n);
    mlcc_stmt *write = unrolled(a3, MICRO, unrolled(b3, MICRO, ir_if(ir_and(ir_lt(row3, M), ir_lt(col3, N)),
        ir_store(upd->store.buffer, ld(acc, ir_add(ir_mul(a3, ir_int(MICRO)), b3)), out_idx, upd->store.nidx), NULL)));

    mlcc_stmt *thread = ir_allocate(acc, ir_seq((mlcc_stmt *[]){init, kloop, write}, 3));
    thread = ir_for_thread(ty, ir_int(0), ir_int(THREADS), "threadIdx.y",
                           ir_for_thread(tx, ir_int(0), ir_int(THREADS), "threadIdx.x", thread));
    mlcc_stmt *blocks = ir_allocate(As, ir_allocate(Bs, thread));
    mlcc_expr *row_tiles = arith_simplify_expr(ir_floordiv(ir_add(M, ir_int(TILE - 1)), ir_int(TILE)));
    mlcc_expr *col_tiles = arith_simplify_expr(ir_floordiv(ir_add(N, ir_int(TILE - 1)), ir_int(TILE)));
    return ir_for_thread(by, ir_int(0), row_tiles, "blockIdx.y", ir_for_thread(bx, ir_int(0), col_tiles, "blockIdx.x", blocks));
}

int gpu_matmul(mlcc_schedule *s, const char *block, int *applied) {
    *applied = 0;
    gpu_reduction_nest r;
    if (!gpu_match_reduction(s, block, &r)) return 0;
    int ns = r.nspatial;
    if (r.kind != EXPR_ADD || ns < 2 || r.nloops != ns + 1 || r.value->kind != EXPR_MUL) return 0;
    mlcc_dtype t = r.block->body->store.buffer->dtype;
    if (!dtype_eq(t, DT_F32)) return 0;
    mlcc_expr *N = arith_simplify_expr(r.extents[ns - 1]);
    if (N->kind != EXPR_INT || N->int_value < TILE) return 0;
    int64_t K = gpu_reduce_extent(&r);
    if (K >= 0 && K < TK) return 0;
    mlcc_expr *rows[GPU_MAX_NEST];
    for (int i = 0; i < ns - 1; i++) rows[i] = r.block->iters[i].var;
    mlcc_expr *col = r.block->iters[ns - 1].var;
    mlcc_expr *pa = r.value->bin.a, *pb = r.value->bin.b;
    if (expr_uses_var(pa, col) || uses_any(pb, rows, ns - 1)) {
        mlcc_expr *x = pa;
        pa = pb, pb = x;
    }
    if (expr_uses_var(pa, col) || uses_any(pb, rows, ns - 1)) return 0;
    mlcc_expr *M = ir_int(1);
    for (int i = 0; i < ns - 1; i++) M = ir_mul(M, r.extents[i]);
    M = arith_simplify_expr(M);
    if (M->kind == EXPR_INT && M->int_value <= GPU_MATMUL_MIN_ROWS) return 0; /* the cross-thread rule */
    mlcc_stmt *tiled = tiled_nest(&r, pa, pb);
    mlcc_stmt *with = M->kind == EXPR_INT ? tiled
                                          : ir_if(ir_le(M, ir_int(GPU_MATMUL_MIN_ROWS)), gpu_cross_thread_nest(&r), tiled);
    gpu_replace_nest(s, &r, with);
    *applied = 1;
    return 0;
}
