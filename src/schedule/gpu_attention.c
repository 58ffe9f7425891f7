/* gpu_attention.c - the GPU schedule of the paged decode attention of src/gen/attn_decode.c
 * (see gpu_rules.h): its split stage, written by the generator as one CPU task per (sequence,
 * KV head, split), becomes one thread block per task with the work spread over warps:
 *
 *   block (b, kv head, split), NW warps x 32 lanes; lane l holds dims [l*E, l*E + E) (E = D/32)
 *   warp w takes keys start + w, start + w + NW, ...: the 32 lanes read one K row together
 *   (coalesced; the V row is loaded with it, so its latency hides behind the score), each lane's partial dot products are summed across the warp with
 *   __shfl_xor_sync, and the online softmax runs per warp over its keys (V rows likewise);
 *   the NW warp states are merged through shared memory into the split's (max, sum, output).
 *
 * The prefill attention of src/gen/attn_prefill.c (one CPU task per (token, KV head)) takes the
 * same block: one per (token, KV head), its keys those of the token's sequence up to its
 * position, the block's warp states merged straight into the normalized output (no splits).
 *
 * The merge stage: a block per (sequence, head), a thread per dimension. The rewrite reads
 * the configuration back from the function (buffer shapes, the scale of q_scaled); a function
 * it does not recognise (soft-cap, head_dim not a multiple of 32, another shape) keeps the
 * default rule. It is a rewrite rather than schedule primitives because the generator's
 * blocks are opaque. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "arith/analyzer.h"
#include "ir/functor.h"
#include "schedule/gpu_rules.h"
#include "support/error.h"

enum { WARPS = 8, LANES = 32, MAX_E = 8 };

typedef struct decode_shape {
    int QH, KVH, PS, D, G, E;
    double scale;
    mlcc_buffer *q, *pages, *page_indptr, *page_indices, *last_page_len, *out;
    mlcc_buffer *pm, *pl, *pacc;
    mlcc_expr *window, *splits, *batch;
    int prefill;                          /* gen_attn_prefill's function: no splits */
    mlcc_buffer *token_seq, *positions;   /* prefill */
} decode_shape;

typedef struct probe {
    double scale;
    int found_scale, softcap;
} probe;

static int probe_stmt(ir_visitor *v, mlcc_stmt *s) {
    probe *p = v->ctx;
    if (s->kind == STMT_STORE && strcmp(s->store.buffer->name, "q_scaled") == 0) {
        mlcc_expr *e = s->store.value;
        if (e->kind == EXPR_MUL && e->bin.b->kind == EXPR_FLOAT) p->scale = e->bin.b->float_value, p->found_scale = 1;
    }
    return 1;
}

static int probe_expr(ir_visitor *v, mlcc_expr *e) {
    probe *p = v->ctx;
    if (e->kind == EXPR_CALL && strcmp(e->call.op, "tanh") == 0) p->softcap = 1;
    return 1;
}

static int const_dim(const mlcc_buffer *b, int d, int *out) {
    mlcc_expr *e = arith_simplify_expr(b->shape[d]);
    if (e->kind != EXPR_INT || e->int_value <= 0 || e->int_value > 65536) return 0;
    *out = (int)e->int_value;
    return 1;
}

/* Recognises gen_attn_decode's function and reads its configuration. */
static int recognise(const mlcc_prim_func *f, decode_shape *sh) {
    if (strcmp(f->name, "attn_decode") != 0 || !f->origin || strncmp(f->origin, "gen: paged decode attention", 27) != 0)
        return 0;
    if (f->nparams != 8 || f->nalloc != 3 || !f->body || f->body->kind != STMT_SEQ || f->body->seq.n != 2) return 0;
    for (int i = 0; i < 6; i++)
        if (!f->params[i].buffer) return 0;
    if (f->params[6].buffer || f->params[7].buffer) return 0;
    memset(sh, 0, sizeof *sh);
    sh->q = f->params[0].buffer, sh->pages = f->params[1].buffer, sh->page_indptr = f->params[2].buffer;
    sh->page_indices = f->params[3].buffer, sh->last_page_len = f->params[4].buffer, sh->out = f->params[5].buffer;
    sh->window = f->params[6].var, sh->splits = f->params[7].var;
    sh->pm = f->alloc_buffers[0], sh->pl = f->alloc_buffers[1], sh->pacc = f->alloc_buffers[2];
    if (sh->q->ndim != 3 || sh->pages->ndim != 5 || sh->pacc->ndim != 4) return 0;
    if (!const_dim(sh->q, 1, &sh->QH) || !const_dim(sh->q, 2, &sh->D) || !const_dim(sh->pages, 2, &sh->KVH) ||
        !const_dim(sh->pages, 3, &sh->PS))
        return 0;
    sh->batch = sh->q->shape[0];
    if (sh->D % LANES || sh->D / LANES > MAX_E || sh->QH % sh->KVH) return 0;
    sh->E = sh->D / LANES;
    sh->G = sh->QH / sh->KVH;
    if (sh->G * sh->E > 64) return 0;
    probe p = {0};
    ir_visitor v = {probe_expr, probe_stmt, &p};
    ir_visit_stmt(&v, f->body);
    if (!p.found_scale || p.softcap) return 0;
    sh->scale = p.scale;
    return 1;
}

/* Recognises gen_attn_prefill's function: (q, pages, token_seq, positions, page_indptr,
 * page_indices, out, window), no allocations. */
static int recognise_prefill(const mlcc_prim_func *f, decode_shape *sh) {
    if (strcmp(f->name, "attn_prefill") != 0 || !f->origin || strncmp(f->origin, "gen: paged ragged prefill attention", 35) != 0)
        return 0;
    if (f->nparams != 8 || f->nalloc != 0 || !f->body) return 0;
    for (int i = 0; i < 7; i++)
        if (!f->params[i].buffer) return 0;
    if (f->params[7].buffer) return 0;
    memset(sh, 0, sizeof *sh);
    sh->prefill = 1;
    sh->q = f->params[0].buffer, sh->pages = f->params[1].buffer, sh->token_seq = f->params[2].buffer;
    sh->positions = f->params[3].buffer, sh->page_indptr = f->params[4].buffer, sh->page_indices = f->params[5].buffer;
    sh->out = f->params[6].buffer, sh->window = f->params[7].var;
    if (sh->q->ndim != 3 || sh->pages->ndim != 5 || sh->out->ndim != 3) return 0;
    if (!const_dim(sh->q, 1, &sh->QH) || !const_dim(sh->q, 2, &sh->D) || !const_dim(sh->pages, 2, &sh->KVH) ||
        !const_dim(sh->pages, 3, &sh->PS))
        return 0;
    sh->batch = sh->q->shape[0]; /* tokens */
    if (sh->D % LANES || sh->D / LANES > MAX_E || sh->QH % sh->KVH) return 0;
    sh->E = sh->D / LANES;
    sh->G = sh->QH / sh->KVH;
    if (sh->G * sh->E > 64) return 0;
    probe p = {0};
    ir_visitor v = {probe_expr, probe_stmt, &p};
    ir_visit_stmt(&v, f->body);
    if (!p.found_scale || p.softcap) return 0;
    sh->scale = p.scale;
    return 1;
}

/* ---- small builders ---- */

static mlcc_buffer *local(const char *name, mlcc_dtype t, int n, const char *scope) {
    return ir_buffer_scoped(name, t, (mlcc_expr *[]){ir_int(n)}, 1, scope);
}
static mlcc_expr *ld(mlcc_buffer *b, mlcc_expr *i) {
    return ir_load(b, &i, 1);
}
static mlcc_stmt *st(mlcc_buffer *b, mlcc_expr *i, mlcc_expr *v) {
    return ir_store(b, v, &i, 1);
}
static mlcc_expr *f32(mlcc_expr *e) {
    return dtype_eq(e->dtype, DT_F32) ? e : ir_cast(DT_F32, e);
}
static mlcc_expr *fconst(double v) {
    return ir_float(DT_F32, v);
}
static mlcc_stmt *loop(mlcc_expr *v, int n, mlcc_stmt *body) {
    return ir_for(v, ir_int(0), ir_int(n), FOR_UNROLLED, body);
}
static mlcc_expr *var(const char *name) {
    return ir_var(name, DT_I64);
}
/* acc[i] = the sum of x over the 32 lanes of a warp, in every lane (butterfly of shuffles) */
static mlcc_stmt *warp_sum(mlcc_buffer *acc, mlcc_expr *i, mlcc_expr *x) {
    mlcc_stmt *steps[6];
    steps[0] = st(acc, i, x);
    for (int k = 1, m = 16; m >= 1; m /= 2, k++) {
        mlcc_expr *args[2] = {ld(acc, i), ir_int(m)};
        steps[k] = st(acc, i, ir_add(ld(acc, i), ir_call(DT_F32, "cuda.shfl_xor", args, 2)));
    }
    return ir_seq(steps, 6);
}

static mlcc_stmt *split_kernel(const decode_shape *sh) {
    int G = sh->G, E = sh->E, D = sh->D, PS = sh->PS, KVH = sh->KVH;
    mlcc_expr *S = sh->prefill ? ir_int(1) : sh->splits, *B = sh->batch, *window = sh->window;
    mlcc_expr *bx = var("att_bx"), *tx = var("att_lane"), *ty = var("att_warp");
    /* registers as in the generator: r[0] sequence, r[1] KV head, r[2] split, r[3] keys in the
     * sequence, r[4] first key in the window, r[5] chunk length, r[6] chunk start, r[7] chunk end */
    mlcc_buffer *r = local("att_r", DT_I64, 8, "local");
    mlcc_expr *rv[8];
    for (int i = 0; i < 8; i++) rv[i] = ld(r, ir_int(i));
    mlcc_expr *b = sh->prefill ? rv[2] : rv[0]; /* the sequence whose pages hold the keys */
    mlcc_expr *pages_of_seq = ir_sub(ir_cast(DT_I64, ld(sh->page_indptr, ir_add(b, ir_int(1)))),
                                     ir_cast(DT_I64, ld(sh->page_indptr, b)));
    mlcc_expr *regs[8] = {
        ir_floordiv(bx, ir_mul(ir_int(KVH), S)),
        ir_floormod(ir_floordiv(bx, S), ir_int(KVH)),
        ir_floormod(bx, S),
        sh->prefill ? NULL : ir_add(ir_mul(ir_sub(pages_of_seq, ir_int(1)), ir_int(PS)), ir_cast(DT_I64, ld(sh->last_page_len, b))),
        ir_select(ir_gt(window, ir_int(0)), ir_max(ir_int(0), ir_sub(rv[3], window)), ir_int(0)),
        ir_floordiv(ir_add(ir_sub(rv[3], rv[4]), ir_sub(S, ir_int(1))), S),
        ir_add(rv[4], ir_mul(rv[2], rv[5])),
        ir_max(rv[6], ir_min(rv[3], ir_add(rv[6], rv[5])))};
    if (sh->prefill) { /* r[0] token, r[1] KV head, r[2] its sequence, r[3] keys up to its position,
                        * r[4] first key in the window, r[6..7] the keys taken [r[4], r[3]) */
        regs[0] = ir_floordiv(bx, ir_int(KVH));
        regs[1] = ir_floormod(bx, ir_int(KVH));
        regs[2] = ir_cast(DT_I64, ld(sh->token_seq, rv[0]));
        regs[3] = ir_add(ir_cast(DT_I64, ld(sh->positions, rv[0])), ir_int(1));
        regs[5] = ir_sub(rv[3], rv[4]);
        regs[6] = rv[4];
        regs[7] = rv[3];
    }
    mlcc_stmt *set_regs[8];
    for (int i = 0; i < 8; i++) set_regs[i] = st(r, ir_int(i), regs[i]);

    mlcc_buffer *qv = local("att_q", DT_F32, G * E, "local"), *acc = local("att_acc", DT_F32, G * E, "local");
    mlcc_buffer *m = local("att_m", DT_F32, G, "local"), *l = local("att_l", DT_F32, G, "local");
    mlcc_buffer *kv = local("att_kv", DT_F32, E, "local"), *p = local("att_p", DT_F32, G, "local");
    mlcc_buffer *vv = local("att_vv", DT_F32, E, "local");
    mlcc_buffer *corr = local("att_corr", DT_F32, G, "local");
    mlcc_expr *g1 = var("g"), *e1 = var("e");
    mlcc_expr *head1 = ir_add(ir_mul(rv[1], ir_int(G)), g1);
    mlcc_expr *dim1 = ir_add(ir_mul(tx, ir_int(E)), e1);
    mlcc_expr *qidx[3] = {rv[0], head1, dim1}; /* decode: q row = sequence; prefill: token */
    mlcc_expr *ge1 = ir_add(ir_mul(g1, ir_int(E)), e1);
    mlcc_stmt *init = loop(g1, G, ir_seq((mlcc_stmt *[]){
        loop(e1, E, ir_seq2(st(qv, ge1, ir_mul(f32(ir_load(sh->q, qidx, 3)), fconst(sh->scale))), st(acc, ge1, fconst(0)))),
        st(m, g1, fconst(-INFINITY)), st(l, g1, fconst(0))}, 3));

    /* one key per warp per iteration */
    mlcc_expr *it = var("att_it");
    mlcc_expr *j = ir_add(ir_add(rv[6], ir_mul(it, ir_int(WARPS))), ty);
    mlcc_buffer *pg = local("att_pg", DT_I64, 2, "local"); /* page, offset */
    mlcc_expr *page = ld(pg, ir_int(0)), *off = ld(pg, ir_int(1));
    mlcc_stmt *locate = ir_seq2(
        st(pg, ir_int(0), ir_cast(DT_I64, ld(sh->page_indices, ir_add(ir_cast(DT_I64, ld(sh->page_indptr, b)), ir_floordiv(j, ir_int(PS)))))),
        st(pg, ir_int(1), ir_floormod(j, ir_int(PS))));
    mlcc_expr *e2 = var("e"), *e3 = var("e"), *g2 = var("g"), *g3 = var("g"), *e4 = var("e");
    mlcc_expr *kidx[5] = {page, ir_int(0), rv[1], off, ir_add(ir_mul(tx, ir_int(E)), e2)};
    mlcc_expr *vidx[5] = {page, ir_int(1), rv[1], off, ir_add(ir_mul(tx, ir_int(E)), e3)};
    mlcc_stmt *load_k = loop(e2, E, st(kv, e2, f32(ir_load(sh->pages, kidx, 5))));
    mlcc_stmt *load_v = loop(e3, E, st(vv, e3, f32(ir_load(sh->pages, vidx, 5))));
    mlcc_expr *dot = NULL;
    for (int e = 0; e < E; e++) {
        mlcc_expr *t = ir_mul(ld(qv, ir_add(ir_mul(g2, ir_int(E)), ir_int(e))), ld(kv, ir_int(e)));
        dot = dot ? ir_add(dot, t) : t;
    }
    /* s = the full dot product; m' = max(m, s); corr = e^(m - m'); p = e^(s - m'); l = l corr + p */
    mlcc_buffer *sc = local("att_s", DT_F32, 2, "local"); /* s, m' */
    mlcc_expr *s_v = ld(sc, ir_int(0)), *mnew = ld(sc, ir_int(1));
    mlcc_stmt *score = loop(g2, G, ir_seq((mlcc_stmt *[]){
        warp_sum(sc, ir_int(0), dot),
        st(sc, ir_int(1), ir_max(ld(m, g2), s_v)),
        st(corr, g2, ir_call1("exp", ir_sub(ld(m, g2), mnew))),
        st(p, g2, ir_call1("exp", ir_sub(s_v, mnew))),
        st(l, g2, ir_add(ir_mul(ld(l, g2), ld(corr, g2)), ld(p, g2))),
        st(m, g2, mnew)}, 6));
    mlcc_expr *ge3 = ir_add(ir_mul(g3, ir_int(E)), e4);
    mlcc_stmt *accumulate = loop(g3, G, loop(e4, E, st(acc, ge3, ir_add(ir_mul(ld(acc, ge3), ld(corr, g3)), ir_mul(ld(p, g3), ld(vv, e4))))));
    mlcc_stmt *key = ir_if(ir_lt(j, rv[7]), ir_allocate(pg, ir_allocate(sc, ir_seq((mlcc_stmt *[]){locate, load_k, load_v, score, accumulate}, 5))), NULL);
    mlcc_expr *iters = ir_floordiv(ir_add(ir_sub(rv[7], rv[6]), ir_int(WARPS - 1)), ir_int(WARPS));
    mlcc_stmt *keys = ir_for(it, ir_int(0), iters, FOR_SERIAL, key);

    /* each warp's state into shared memory */
    mlcc_buffer *sm_m = local("att_sm_m", DT_F32, WARPS * G, "shared"), *sm_l = local("att_sm_l", DT_F32, WARPS * G, "shared");
    mlcc_buffer *sm_acc = local("att_sm_acc", DT_F32, WARPS * G * D, "shared");
    mlcc_expr *g4 = var("g"), *e5 = var("e");
    mlcc_stmt *publish = loop(g4, G, ir_seq2(
        ir_if(ir_eq(tx, ir_int(0)), ir_seq2(st(sm_m, ir_add(ir_mul(ty, ir_int(G)), g4), ld(m, g4)),
                                           st(sm_l, ir_add(ir_mul(ty, ir_int(G)), g4), ld(l, g4))), NULL),
        loop(e5, E, st(sm_acc, ir_add(ir_mul(ir_add(ir_mul(ty, ir_int(G)), g4), ir_int(D)), ir_add(ir_mul(tx, ir_int(E)), e5)),
                       ld(acc, ir_add(ir_mul(g4, ir_int(E)), e5))))));
    mlcc_stmt *stage1 = ir_seq((mlcc_stmt *[]){ir_seq(set_regs, 8), init, keys, publish}, 4);
    stage1 = ir_allocate(r, ir_allocate(qv, ir_allocate(acc, ir_allocate(m, ir_allocate(l, ir_allocate(kv, ir_allocate(vv, ir_allocate(p, ir_allocate(corr, stage1)))))))));
    stage1 = ir_for_thread(ty, ir_int(0), ir_int(WARPS), "threadIdx.y", ir_for_thread(tx, ir_int(0), ir_int(LANES), "threadIdx.x", stage1));

    /* stage 2: the block's (g, d) outputs, one per thread per pass; warps with no keys (m = -inf)
     * weigh nothing */
    mlcc_expr *tx2 = var("att_lane"), *ty2 = var("att_warp"), *pass = var("att_pass"), *w = var("w");
    mlcc_buffer *r2 = local("att_r", DT_I64, 3, "local"); /* sequence, KV head, split */
    mlcc_buffer *mm = local("att_merge", DT_F32, 3, "local"); /* max, sum, acc */
    mlcc_expr *r2v[3] = {ld(r2, ir_int(0)), ld(r2, ir_int(1)), ld(r2, ir_int(2))};
    mlcc_expr *gd = ir_add(ir_mul(pass, ir_int(WARPS * LANES)), ir_add(ir_mul(ty2, ir_int(LANES)), tx2));
    mlcc_expr *g5 = ir_floordiv(gd, ir_int(D)), *d5 = ir_floormod(gd, ir_int(D));
    mlcc_expr *wm = ld(sm_m, ir_add(ir_mul(w, ir_int(G)), g5));
    mlcc_expr *weight = ir_select(ir_eq(wm, fconst(-INFINITY)), fconst(0), ir_call1("exp", ir_sub(wm, ld(mm, ir_int(0)))));
    mlcc_expr *w2 = var("w");
    mlcc_expr *wm2 = ld(sm_m, ir_add(ir_mul(w2, ir_int(G)), g5));
    mlcc_expr *head = ir_add(ir_mul(r2v[1], ir_int(G)), g5);
    mlcc_expr *pidx[3] = {r2v[0], head, r2v[2]}, *aidx[4] = {r2v[0], head, r2v[2], d5}, *oidx[3] = {r2v[0], head, d5};
    mlcc_stmt *parts[7] = {
        st(mm, ir_int(0), fconst(-INFINITY)),
        loop(w2, WARPS, st(mm, ir_int(0), ir_max(ld(mm, ir_int(0)), wm2))),
        st(mm, ir_int(1), fconst(0)), st(mm, ir_int(2), fconst(0)),
        loop(w, WARPS, ir_seq2(
            st(mm, ir_int(1), ir_add(ld(mm, ir_int(1)), ir_mul(ld(sm_l, ir_add(ir_mul(w, ir_int(G)), g5)), weight))),
            st(mm, ir_int(2), ir_add(ld(mm, ir_int(2)), ir_mul(ld(sm_acc, ir_add(ir_mul(ir_add(ir_mul(w, ir_int(G)), g5), ir_int(D)), d5)), weight))))),
        sh->prefill ? st(mm, ir_int(0), ld(mm, ir_int(0))) /* (prefill: no split statistics) */
                    : ir_if(ir_eq(d5, ir_int(0)), ir_seq2(ir_store(sh->pm, ld(mm, ir_int(0)), pidx, 3), ir_store(sh->pl, ld(mm, ir_int(1)), pidx, 3)), NULL),
        sh->prefill ? ir_store(sh->out, ir_cast(sh->out->dtype, ir_div(ld(mm, ir_int(2)), ld(mm, ir_int(1)))), oidx, 3)
                    : ir_store(sh->pacc, ld(mm, ir_int(2)), aidx, 4)};
    mlcc_stmt *combine = ir_seq(parts, 7);
    mlcc_expr *r2vals[3] = {ir_floordiv(bx, ir_mul(ir_int(KVH), S)), ir_floormod(ir_floordiv(bx, S), ir_int(KVH)), ir_floormod(bx, S)};
    /* (prefill: S = 1, so these are token, KV head, 0) */
    mlcc_stmt *stage2 = ir_for(pass, ir_int(0), ir_int((G * D + WARPS * LANES - 1) / (WARPS * LANES)), FOR_SERIAL,
                               ir_if(ir_lt(gd, ir_int(G * D)), combine, NULL));
    stage2 = ir_seq((mlcc_stmt *[]){st(r2, ir_int(0), r2vals[0]), st(r2, ir_int(1), r2vals[1]), st(r2, ir_int(2), r2vals[2]), stage2}, 4);
    stage2 = ir_allocate(r2, ir_allocate(mm, stage2));
    stage2 = ir_for_thread(ty2, ir_int(0), ir_int(WARPS), "threadIdx.y", ir_for_thread(tx2, ir_int(0), ir_int(LANES), "threadIdx.x", stage2));

    mlcc_stmt *body = ir_allocate(sm_m, ir_allocate(sm_l, ir_allocate(sm_acc, ir_seq2(stage1, stage2))));
    return ir_for_thread(bx, ir_int(0), ir_mul(ir_mul(B, ir_int(KVH)), S), "blockIdx.x", body);
}

/* The merge of the splits (as the generator's stage two): a block per (sequence, head) of
 * D x R threads (R = MERGE_ROWS, fewer for head_dim > 128). Warp 0 finds the largest split max
 * and the total weight (lanes over
 * the splits, shuffles); then thread (d, y) sums splits y, y + R, ... of dimension d
 * and the R partial sums of d meet in shared memory. Before, a thread per dimension
 * walked all the splits twice, each step waiting on a load: ~10 us at 32 splits on the H100. */
enum { MERGE_ROWS = 8, MERGE_THREADS = 1024 };

/* acc[0] combined over the warp's 32 lanes with max or add, in every lane */
static mlcc_stmt *warp_reduce(mlcc_buffer *acc, int is_max) {
    mlcc_stmt *steps[5];
    for (int k = 0, m = 16; m >= 1; m /= 2, k++) {
        mlcc_expr *args[2] = {ld(acc, ir_int(0)), ir_int(m)};
        mlcc_expr *other = ir_call(DT_F32, "cuda.shfl_xor", args, 2);
        steps[k] = st(acc, ir_int(0), is_max ? ir_max(ld(acc, ir_int(0)), other) : ir_add(ld(acc, ir_int(0)), other));
    }
    return ir_seq(steps, 5);
}

/* the weight of a split of max `pmax`: e^(pmax - largest), 0 for a split without keys */
static mlcc_expr *split_weight(mlcc_expr *pmax, mlcc_expr *largest) {
    return ir_select(ir_eq(pmax, fconst(-INFINITY)), fconst(0), ir_call1("exp", ir_sub(pmax, largest)));
}

static mlcc_stmt *merge_kernel(const decode_shape *sh) {
    int QH = sh->QH, D = sh->D;
    int R = MERGE_THREADS / D < MERGE_ROWS ? MERGE_THREADS / D : MERGE_ROWS; /* rows of threads */
    if (R < 1) R = 1;
    mlcc_expr *S = sh->splits;
    mlcc_expr *bx = var("mrg_bx"), *b = ir_floordiv(bx, ir_int(QH)), *h = ir_floormod(bx, ir_int(QH));
    mlcc_buffer *stats = local("mrg_stats", DT_F32, 2, "shared"); /* largest max, total weight */
    mlcc_buffer *part = local("mrg_part", DT_F32, R * D, "shared");
    mlcc_expr *smax = ld(stats, ir_int(0));

    /* stage 1: warp 0 */
    mlcc_expr *tx = var("mrg_d"), *ty = var("mrg_y"), *it = var("s"), *it2 = var("s");
    mlcc_buffer *a = local("mrg_acc", DT_F32, 1, "local"), *mx = local("mrg_max", DT_F32, 1, "local");
    mlcc_expr *s1 = ir_add(ir_mul(it, ir_int(LANES)), tx), *s2 = ir_add(ir_mul(it2, ir_int(LANES)), tx);
    mlcc_expr *p1[3] = {b, h, s1}, *p2[3] = {b, h, s2};
    mlcc_expr *lane_iters = ir_floordiv(ir_add(S, ir_int(LANES - 1)), ir_int(LANES));
    mlcc_expr *pm2 = ir_load(sh->pm, p2, 3);
    mlcc_expr *w2 = split_weight(pm2, ld(mx, ir_int(0)));
    mlcc_stmt *w0[8] = {
        st(a, ir_int(0), fconst(-INFINITY)),
        ir_for(it, ir_int(0), lane_iters, FOR_SERIAL, ir_if(ir_lt(s1, S), st(a, ir_int(0), ir_max(ld(a, ir_int(0)), ir_load(sh->pm, p1, 3))), NULL)),
        warp_reduce(a, 1), /* every lane: the largest max */
        st(mx, ir_int(0), ld(a, ir_int(0))),
        st(a, ir_int(0), fconst(0)),
        ir_for(it2, ir_int(0), lane_iters, FOR_SERIAL,
               ir_if(ir_lt(s2, S), st(a, ir_int(0), ir_add(ld(a, ir_int(0)), ir_mul(ir_load(sh->pl, p2, 3), w2))), NULL)),
        warp_reduce(a, 0),
        ir_if(ir_eq(tx, ir_int(0)), ir_seq2(st(stats, ir_int(0), ld(mx, ir_int(0))), st(stats, ir_int(1), ld(a, ir_int(0)))), NULL)};
    mlcc_stmt *stage1 = ir_if(ir_and(ir_eq(ty, ir_int(0)), ir_lt(tx, ir_int(LANES))), ir_allocate(a, ir_allocate(mx, ir_seq(w0, 8))), NULL);
    stage1 = ir_for_thread(ty, ir_int(0), ir_int(R), "threadIdx.y", ir_for_thread(tx, ir_int(0), ir_int(D), "threadIdx.x", stage1));

    /* stage 2: thread (d, y) over splits y, y + R, ... */
    mlcc_expr *tx2 = var("mrg_d"), *ty2 = var("mrg_y"), *it3 = var("s");
    mlcc_buffer *a2 = local("mrg_acc", DT_F32, 1, "local");
    mlcc_expr *s3 = ir_add(ir_mul(it3, ir_int(R)), ty2);
    mlcc_expr *p3[3] = {b, h, s3}, *a3[4] = {b, h, s3, tx2};
    mlcc_expr *row_iters = ir_floordiv(ir_add(S, ir_int(R - 1)), ir_int(R));
    mlcc_stmt *sum = ir_for(it3, ir_int(0), row_iters, FOR_SERIAL,
                            ir_if(ir_lt(s3, S), st(a2, ir_int(0), ir_add(ld(a2, ir_int(0)), ir_mul(ir_load(sh->pacc, a3, 4), split_weight(ir_load(sh->pm, p3, 3), smax)))), NULL));
    mlcc_stmt *stage2 = ir_allocate(a2, ir_seq((mlcc_stmt *[]){st(a2, ir_int(0), fconst(0)), sum,
                                                              st(part, ir_add(ir_mul(ty2, ir_int(D)), tx2), ld(a2, ir_int(0)))}, 3));
    stage2 = ir_for_thread(ty2, ir_int(0), ir_int(R), "threadIdx.y", ir_for_thread(tx2, ir_int(0), ir_int(D), "threadIdx.x", stage2));

    /* stage 3: the R partial sums of each d, in order */
    mlcc_expr *tx3 = var("mrg_d"), *ty3 = var("mrg_y"), *y = var("y");
    mlcc_buffer *a4 = local("mrg_acc", DT_F32, 1, "local");
    mlcc_expr *o[3] = {b, h, tx3};
    mlcc_stmt *total = ir_seq((mlcc_stmt *[]){
        st(a4, ir_int(0), fconst(0)),
        loop(y, R, st(a4, ir_int(0), ir_add(ld(a4, ir_int(0)), ld(part, ir_add(ir_mul(y, ir_int(D)), tx3))))),
        ir_store(sh->out, ir_cast(sh->out->dtype, ir_div(ld(a4, ir_int(0)), ld(stats, ir_int(1)))), o, 3)}, 3);
    mlcc_stmt *stage3 = ir_if(ir_eq(ty3, ir_int(0)), ir_allocate(a4, total), NULL);
    stage3 = ir_for_thread(ty3, ir_int(0), ir_int(R), "threadIdx.y", ir_for_thread(tx3, ir_int(0), ir_int(D), "threadIdx.x", stage3));
    mlcc_stmt *body = ir_allocate(stats, ir_allocate(part, ir_seq((mlcc_stmt *[]){stage1, stage2, stage3}, 3)));
    return ir_for_thread(bx, ir_int(0), ir_mul(sh->batch, ir_int(QH)), "blockIdx.x", body);
}

/* Does the split kernel's static shared memory (the warps' states: WARPS x G x (D + 2) floats)
 * fit the 48 KB a kernel may declare statically? A 32-query-head group at head_dim 64 (66 KB)
 * made ptxas reject the whole module; such shapes keep the default rule. */
static int fits_shared(const decode_shape *sh) {
    return (int64_t)WARPS * sh->G * (sh->D + 2) * (int64_t)sizeof(float) <= 48 * 1024;
}

mlcc_prim_func *gpu_schedule_attn_decode(const mlcc_prim_func *f) {
    decode_shape sh;
    if (recognise_prefill(f, &sh)) {
        if (!fits_shared(&sh)) return NULL;
        mlcc_prim_func *out = prim_func_copy(f);
        out->body = split_kernel(&sh);
        return out;
    }
    if (!recognise(f, &sh) || !fits_shared(&sh)) return NULL;
    mlcc_prim_func *out = prim_func_copy(f);
    out->body = ir_seq2(split_kernel(&sh), merge_kernel(&sh));
    return out;
}
