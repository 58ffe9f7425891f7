/* lower_quant_prep.c - int8 activations prepared once per quantized matmul (docs/quantization.md).
 *
 * A GEMM_NT_Q or GEMM_NT_QK intrinsic with int8 activations (kernels/cpu/gemm_q.c, gemm_qk.c)
 * quantizes and reorders its rows of A at every call, and the default schedule (schedule_quant.c) calls one per column tile
 * in a parallel loop: 8 tiles of a 2048-column layer, 125 of a 32000-row LM head, each preparing
 * the same rows again (~15% of a 128-row prefill call). This pass, on the loop form before C
 * codegen, rewrites a parallel loop whose body makes exactly one such call, on rows that do not
 * change inside the loop (A's address, M, K and lda free of the loop's variables, A not written
 * in it):
 *     parallel for jo: ... NAME(C, A, QW, S, M, N, K, ldc, lda, ldq, lds, acc) ...
 * into
 *     allocate P[NAME_prep_bytes(M, K)] int8:
 *         for m in [0, M) (in parallel from 4 rows on): NAME_prep_row(P, A, M, K, lda, m)
 *         parallel for jo: ... NAME_pre(C, A, P, QW, S, M, N, K, ldc, lda, ldq, lds, acc) ...
 * NAME_pre computes what NAME does from the prepared rows (NAME is prep_row for each row then
 * _pre), so results are bitwise unchanged. Loops are not searched below a parallel loop (the
 * code generator runs only the outermost one in parallel). MLCC_QUANT_SHARED_PREP=0 turns the
 * pass off (the calls prepare their own rows, as before). */
#include "transform/lower_quant_prep.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ir/functor.h"
#include "kernels/cpu/intrin.h"
#include "support/hashmap.h"

enum { PREP_PARALLEL_MIN_ROWS = 4 };

typedef struct scan {
    mlcc_expr *call;       /* the int8 GEMM_NT_Q call */
    const cpu_intrin *q;
    int calls;             /* how many such calls */
    mlcc_expr *vars[64];   /* loop vars bound inside the loop, the loop's own first */
    int nvars, too_many;
} scan;

static int is_int8_quant_call(const mlcc_expr *e, const cpu_intrin **q) {
    if (e->kind != EXPR_CALL || e->call.nargs != 12) return 0;
    const cpu_intrin *in = cpu_intrin_find(e->call.op);
    if (!in || (in->kind != CPU_INTRIN_GEMM_NT_Q && in->kind != CPU_INTRIN_GEMM_NT_QK) || !in->int8_act ||
        strcmp(in->name, e->call.op))
        return 0;
    *q = in;
    return 1;
}

static int scan_expr(ir_visitor *v, mlcc_expr *e) {
    scan *sc = v->ctx;
    const cpu_intrin *q;
    if (is_int8_quant_call(e, &q)) sc->call = e, sc->q = q, sc->calls++;
    return 1;
}

static int scan_stmt(ir_visitor *v, mlcc_stmt *s) {
    scan *sc = v->ctx;
    if (s->kind == STMT_FOR) {
        if (sc->nvars < 64) sc->vars[sc->nvars++] = s->for_.var;
        else sc->too_many = 1;
    }
    return 1;
}

/* The buffer whose element's address is e (address_of(load)), or NULL. */
static mlcc_buffer *addressed_buffer(const mlcc_expr *e) {
    if (e->kind != EXPR_CALL || strcmp(e->call.op, "address_of") || e->call.nargs != 1) return NULL;
    const mlcc_expr *l = e->call.args[0];
    return l->kind == EXPR_LOAD ? l->load.buffer : NULL;
}

typedef struct writes {
    const mlcc_buffer *buf;
    int written;
} writes;

/* Does the loop store to buf, or pass its address to a call as an output (first argument)? */
static int writes_stmt(ir_visitor *v, mlcc_stmt *s) {
    writes *w = v->ctx;
    if (s->kind == STMT_STORE && s->store.buffer == w->buf) w->written = 1;
    return 1;
}
static int writes_expr(ir_visitor *v, mlcc_expr *e) {
    writes *w = v->ctx;
    if (e->kind == EXPR_CALL && e->call.nargs > 0 && strcmp(e->call.op, "address_of") &&
        addressed_buffer(e->call.args[0]) == w->buf)
        w->written = 1;
    return 1;
}

typedef struct swap {
    const mlcc_expr *from;
    mlcc_expr *to;
} swap;

static mlcc_expr *swap_call(ir_mutator *m, mlcc_expr *e) {
    swap *s = m->ctx;
    return e == s->from ? s->to : NULL;
}

/* The rewrite of parallel loop s, or NULL when it does not apply. */
static mlcc_stmt *share_prep(mlcc_stmt *s) {
    scan sc = {0};
    sc.vars[sc.nvars++] = s->for_.var;
    ir_visitor v = {scan_expr, scan_stmt, &sc};
    ir_visit_stmt(&v, s->for_.body);
    if (sc.calls != 1 || sc.too_many) return NULL;
    mlcc_expr **a = sc.call->call.args;
    mlcc_expr *A = a[1], *M = a[4], *K = a[6], *lda = a[8];
    mlcc_buffer *abuf = addressed_buffer(A);
    if (!abuf) return NULL;
    for (int i = 0; i < sc.nvars; i++)
        if (expr_uses_var(A, sc.vars[i]) || expr_uses_var(M, sc.vars[i]) || expr_uses_var(K, sc.vars[i]) ||
            expr_uses_var(lda, sc.vars[i]))
            return NULL;
    writes w = {abuf, 0};
    ir_visitor wv = {writes_expr, writes_stmt, &w};
    ir_visit_stmt(&wv, s->for_.body);
    if (w.written) return NULL;

    char name[256];
    mlcc_expr *bytes = ir_call(DT_I64, mlcc_intern(cpu_intrin_quant_companion_name(sc.q, CPU_QPREP_BYTES, name, sizeof name)),
                               (mlcc_expr *[]){M, K}, 2);
    mlcc_buffer *P = ir_buffer(mlcc_intern("qprep"), dtype_make(DT_INT, 8, 1), (mlcc_expr *[]){bytes}, 1);
    mlcc_expr *paddr = ir_call(DT_HANDLE_T, "address_of", (mlcc_expr *[]){ir_load(P, (mlcc_expr *[]){ir_int(0)}, 1)}, 1);
    /* few rows (decode's one): a plain loop, no parallel region at all */
    mlcc_stmt *loops[2];
    for (int par = 0; par < 2; par++) {
        mlcc_expr *m = ir_var("qprep_m", DT_I64);
        const char *fn = mlcc_intern(cpu_intrin_quant_companion_name(sc.q, CPU_QPREP_ROW, name, sizeof name));
        mlcc_expr *row = ir_call(DT_VOID, fn, (mlcc_expr *[]){paddr, A, M, K, lda, m}, 6);
        loops[par] = ir_for(m, ir_int(0), M, par ? FOR_PARALLEL : FOR_SERIAL, ir_evaluate(row));
    }
    mlcc_stmt *prep = ir_if(ir_ge(M, ir_int(PREP_PARALLEL_MIN_ROWS)), loops[1], loops[0]);
    mlcc_expr *args[13] = {a[0], A, paddr};
    for (int i = 2; i < 12; i++) args[i + 1] = a[i];
    swap sw = {sc.call, ir_call(DT_VOID, mlcc_intern(cpu_intrin_quant_companion_name(sc.q, CPU_QPREP_GEMM, name, sizeof name)),
                                args, 13)};
    ir_mutator mu = {swap_call, NULL, NULL, &sw};
    return ir_allocate(P, ir_seq2(prep, ir_mutate_stmt(&mu, s)));
}

static mlcc_stmt *visit_stmt(ir_mutator *m, mlcc_stmt *s) {
    (void)m;
    if (s->kind != STMT_FOR || s->for_.kind != FOR_PARALLEL) return NULL;
    mlcc_stmt *r = share_prep(s);
    return r ? r : s; /* never below a parallel loop */
}

mlcc_prim_func *lower_quant_prep(const mlcc_prim_func *f) {
    const char *env = getenv("MLCC_QUANT_SHARED_PREP"); /* =0: every call prepares its own rows */
    if (env && !strcmp(env, "0")) return (mlcc_prim_func *)f;
    ir_mutator m = {NULL, visit_stmt, NULL, NULL};
    mlcc_stmt *body = ir_mutate_stmt(&m, f->body);
    if (body == f->body) return (mlcc_prim_func *)f;
    mlcc_prim_func *out = prim_func_copy(f);
    out->body = body;
    return out;
}
