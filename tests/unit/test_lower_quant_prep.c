/* test_lower_quant_prep.c - transform/lower_quant_prep.c on loops written here (the rewrite's
 * compiled results are checked in test_schedule_tensorize_q.c, on the default schedule's form):
 *   - a parallel loop making one int8 GEMM_NT_Q (or k-quant GEMM_NT_QK) call on loop-invariant
 *     rows becomes: a workspace, the rows prepared (_prep_row: in parallel from 4 rows, else a
 *     plain loop), then the loop calling _pre with the same arguments plus the workspace;
 *   - left alone: a float-activation call, rows that move with the loop (A's address uses the
 *     loop's variable or an inner loop's), A written inside the loop (a store, or A passed as
 *     another call's output), two int8 calls in one loop, a call outside any parallel loop,
 *     and everything with MLCC_QUANT_SHARED_PREP=0. */
#include <stdlib.h>
#include <string.h>

#include "ir/printer.h"
#include "transform/lower_quant_prep.h"
#include "test.h"

static mlcc_buffer *A, *C, *QW, *S, *D;
static mlcc_expr *n;

static mlcc_expr *addr(mlcc_buffer *b, mlcc_expr *i, mlcc_expr *j) {
    return ir_call(DT_HANDLE_T, "address_of", (mlcc_expr *[]){ir_load(b, (mlcc_expr *[]){i, j}, 2)}, 1);
}

/* NAME(C + 64 jo, A row a_row, QW + 64 jo, S + 64 jo, n, 64, 512, 512, 512, 64, 16, 0) */
static mlcc_stmt *gemm(const char *name, mlcc_expr *jo, mlcc_expr *a_row) {
    mlcc_expr *col = ir_mul(jo, ir_int(64));
    mlcc_expr *args[12] = {addr(C, ir_int(0), col), addr(A, a_row, ir_int(0)), addr(QW, col, ir_int(0)), addr(S, col, ir_int(0)),
                           n, ir_int(64), ir_int(512), ir_int(512), ir_int(512), ir_int(64), ir_int(16), ir_int(0)};
    return ir_evaluate(ir_call(DT_VOID, name, args, 12));
}

static mlcc_prim_func *func(mlcc_stmt *body) {
    return ir_prim_func("f", (mlcc_buffer *[]){A, C, QW, S, D}, 5, body);
}

static char *text(const mlcc_prim_func *f) { return tir_func_to_string(f); }

static const char *I8 = "mlcc_k_gemm_nt_q4z8_f16_a8";

static void check_unchanged(const char *what, mlcc_stmt *body) {
    mlcc_prim_func *f = func(body);
    CHECK_MSG(lower_quant_prep(f) == f, "%s: rewritten:\n%s", what, text(lower_quant_prep(f)));
}

int main(void) {
    n = ir_size_var("n");
    A = ir_buffer_v("A", DT_F32, n, ir_int(512), NULL);
    C = ir_buffer_v("C", DT_F32, n, ir_int(512), NULL);
    QW = ir_buffer_v("QW", DT_U32, ir_int(512), ir_int(64), NULL);
    S = ir_buffer_v("S", DT_F16, ir_int(512), ir_int(16), NULL);
    D = ir_buffer_v("D", DT_F32, n, ir_int(512), NULL);
    mlcc_expr *jo = ir_var("jo", DT_I64), *i = ir_var("i", DT_I64);

    /* the rewrite */
    mlcc_prim_func *f = func(ir_for(jo, ir_int(0), ir_int(8), FOR_PARALLEL, gemm(I8, jo, ir_int(0))));
    mlcc_prim_func *g = lower_quant_prep(f);
    CHECK(g != f);
    char *t = text(g);
    CHECK_MSG(strstr(t, "mlcc_k_gemm_nt_q4z8_f16_a8_prep_bytes(n, 512)") != NULL, "%s", t);
    CHECK_MSG(strstr(t, "mlcc_k_gemm_nt_q4z8_f16_a8_prep_row(") != NULL, "%s", t);
    CHECK_MSG(strstr(t, "mlcc_k_gemm_nt_q4z8_f16_a8_pre(") != NULL, "%s", t);
    CHECK_MSG(strstr(t, "mlcc_k_gemm_nt_q4z8_f16_a8(") == NULL, "the per-call form is left:\n%s", t);
    CHECK_MSG(strstr(t, "T.parallel") != NULL && strstr(t, "n >= 4") != NULL, "%s", t);
    free(t);

    /* the k-quant int8 intrinsics (gemm_qk.c) take the same rewrite */
    f = func(ir_for(jo, ir_int(0), ir_int(8), FOR_PARALLEL, gemm("mlcc_k_gemm_nt_q4_k_a8", jo, ir_int(0))));
    g = lower_quant_prep(f);
    t = text(g);
    CHECK_MSG(g != f && strstr(t, "mlcc_k_gemm_nt_q4_k_a8_prep_row(") && strstr(t, "mlcc_k_gemm_nt_q4_k_a8_pre("), "%s", t);
    free(t);
    check_unchanged("k-quant float activations",
                    ir_for(jo, ir_int(0), ir_int(8), FOR_PARALLEL, gemm("mlcc_k_gemm_nt_q4_k_a32", jo, ir_int(0))));

    check_unchanged("float activations",
                    ir_for(jo, ir_int(0), ir_int(8), FOR_PARALLEL, gemm("mlcc_k_gemm_nt_q4z8_f16_a32", jo, ir_int(0))));
    check_unchanged("rows moving with the loop", ir_for(jo, ir_int(0), ir_int(8), FOR_PARALLEL, gemm(I8, jo, jo)));
    check_unchanged("rows moving with an inner loop",
                    ir_for(jo, ir_int(0), ir_int(8), FOR_PARALLEL, ir_for(i, ir_int(0), ir_int(2), FOR_SERIAL, gemm(I8, jo, i))));
    check_unchanged("A stored to", ir_for(jo, ir_int(0), ir_int(8), FOR_PARALLEL,
                                          ir_seq2(gemm(I8, jo, ir_int(0)),
                                                  ir_store(A, ir_float(DT_F32, 0), (mlcc_expr *[]){ir_int(0), jo}, 2))));
    mlcc_expr *out[12] = {addr(A, ir_int(0), ir_int(0)), addr(D, ir_int(0), ir_int(0)), addr(QW, ir_int(0), ir_int(0)),
                          addr(S, ir_int(0), ir_int(0)), n, ir_int(64), ir_int(512), ir_int(512), ir_int(512), ir_int(64),
                          ir_int(16), ir_int(0)};
    check_unchanged("A written by a call", ir_for(jo, ir_int(0), ir_int(8), FOR_PARALLEL,
                                                  ir_seq2(gemm(I8, jo, ir_int(0)), ir_evaluate(ir_call(DT_VOID, "mlcc_k_gemm_nt_q4z8_f16_a32", out, 12)))));
    check_unchanged("two int8 calls", ir_for(jo, ir_int(0), ir_int(8), FOR_PARALLEL,
                                             ir_seq2(gemm(I8, jo, ir_int(0)), gemm(I8, jo, ir_int(0)))));
    check_unchanged("no parallel loop", ir_for(jo, ir_int(0), ir_int(8), FOR_SERIAL, gemm(I8, jo, ir_int(0))));
    setenv("MLCC_QUANT_SHARED_PREP", "0", 1);
    check_unchanged("MLCC_QUANT_SHARED_PREP=0", ir_for(jo, ir_int(0), ir_int(8), FOR_PARALLEL, gemm(I8, jo, ir_int(0))));
    unsetenv("MLCC_QUANT_SHARED_PREP");
    return test_finish();
}
