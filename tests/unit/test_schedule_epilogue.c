/* test_schedule_epilogue.c - an elementwise epilogue run inside a tensorized GEMM's column tile
 * with reverse_compute_at: by hand (golden printed result, replay) and by the default_schedule
 * pass's epilogue-in-tile rule (residual add and ReLU after a parallel GEMM), each compiled
 * through the C codegen and compared with the unscheduled kernel at n = 1, 5, 16, 33 (within
 * 1e-4: the micro-kernel sums 1024 products in another order) and, bitwise, with the pass's
 * result when MLCC_SCHEDULE_EPILOGUE=0 keeps the epilogue in a nest of its own. */
#include "sched_check.h"
#include "sched_jit.h"
#include "te/te.h"
#include "transform/pass.h"

static const int64_t sizes[] = {1, 5, 16, 33};

static te_tensor *A_, *W_, *C_, *R_;

static mlcc_expr *mm_nt_body(mlcc_expr **i, void *c) {
    (void)c;
    return ir_mul(te_load2(A_, i[0], i[2]), te_load2(W_, i[1], i[2]));
}

static mlcc_expr *relu_body(mlcc_expr **i, void *c) {
    (void)c;
    return ir_max(te_load2(C_, i[0], i[1]), ir_float(DT_F32, 0));
}

static mlcc_expr *add_body(mlcc_expr **i, void *c) {
    (void)c;
    return ir_add(te_load2(R_, i[0], i[1]), te_load2(C_, i[0], i[1]));
}

/* C = A[n, K] @ W[N, K]^T (intermediate), then O = relu(C) or O = R + C (a residual add). */
static mlcc_prim_func *build_mm_epilogue(const char *name, int64_t N, int64_t K, int residual) {
    mlcc_expr *n = ir_size_var("n");
    A_ = te_placeholder("A", DT_F32, (mlcc_expr *[]){n, ir_int(K)}, 2);
    W_ = te_placeholder("W", DT_F32, (mlcc_expr *[]){ir_int(N), ir_int(K)}, 2);
    R_ = te_placeholder("R", DT_F32, (mlcc_expr *[]){n, ir_int(N)}, 2);
    te_set_axis_names((const char *[]){"i", "j", "k", NULL});
    C_ = te_reduce("C", DT_F32, (mlcc_expr *[]){n, ir_int(N)}, 2, TE_SUM, (mlcc_expr *[]){ir_int(K)}, 1, mm_nt_body, NULL);
    te_set_axis_names((const char *[]){"i", "j", NULL});
    te_tensor *o = te_compute("O", DT_F32, (mlcc_expr *[]){n, ir_int(N)}, 2, residual ? add_body : relu_body, NULL);
    if (residual) return te_create_prim_func(name, (te_tensor *[]){A_, W_, R_, o}, 4);
    return te_create_prim_func(name, (te_tensor *[]){A_, W_, o}, 3);
}

static void test_by_hand(void) {
    mlcc_prim_func *f = build_mm_epilogue("mm_relu_nt", 24, 37, 0);
    mlcc_schedule *s = sch_create(f);
    mlcc_expr **l, *j[2], **lo;
    sch_get_loops(s, sch_get_block(s, "C"), &l);
    CHECK_EQ_INT(sch_split(s, l[1], (int64_t[]){SCH_INFER, 8}, 2, j), 0);
    CHECK_EQ_INT(sch_reorder(s, (mlcc_expr *[]){j[0], l[0]}, 2), 0);
    CHECK_EQ_INT(sch_tensorize(s, l[0], "mlcc_k_gemm_nt_f32"), 0);
    CHECK_EQ_INT(sch_parallel(s, j[0]), 0);
    CHECK_EQ_INT(sch_reverse_compute_at(s, sch_get_block(s, "O"), j[0]), 0);
    CHECK_EQ_INT(sch_get_loops(s, "O", &lo), 3);
    CHECK_EQ_INT(sch_vectorize(s, lo[2]), 0);
    char *trace = sch_trace_str(s);
    char *actual = schedule_text(sch_func(s), trace);
    char *expected = golden_text("sched_epilogue_in_tile", actual);
    CHECK_MSG(expected != NULL, "golden sched_epilogue_in_tile is missing (run with MLCC_UPDATE_GOLDEN=1)");
    if (expected) CHECK_EQ_STR(actual, expected);
    CHECK_MSG(replay_matches(f, s) == 0, "%s", mlcc_last_error());
    CHECK_MSG(jit_compare_at_sizes(f, sch_func(s), 3) == 0, "%s", mlcc_last_error());
    free(trace), free(actual), free(expected);
    sch_free(s);
}

static void test_pass(void) {
    mlcc_prim_func *add = build_mm_epilogue("mm_add", 256, 1024, 1), *relu = build_mm_epilogue("mm_relu", 256, 1024, 0);
    mlcc_ir_module *m = irmod_new();
    irmod_add_prim(m, "mm_add", add);
    irmod_add_prim(m, "mm_relu", relu);
    mlcc_ir_module *out = pass_default_schedule(m, NULL);
    const mlcc_prim_func *in_tile = irmod_get_prim(out, "mm_add");
    for (int k = 0; k < 2; k++) {
        const mlcc_prim_func *ref = k ? relu : add, *got = irmod_get_prim(out, k ? "mm_relu" : "mm_add");
        char *text = tir_func_to_string(got);
        /* one parallel loop (the column tiles), the epilogue inside it, vectorized over 32 columns */
        const char *par = strstr(text, "T.parallel(8)");
        CHECK_MSG(par && !strstr(par + 1, "T.parallel") && strstr(par, "with T.block(\"O\")") &&
                      strstr(par, "T.vectorized(32)"), "%s", text);
        free(text);
        CHECK_MSG(jit_compare_tol(ref, got, sizes, 4, 17 + (uint64_t)k, 1e-4) == 0, "%s: %s", ref->name, mlcc_last_error());
    }
    /* switched off: the epilogue gets the parallel-nest rule, after the GEMM's nest */
    setenv("MLCC_SCHEDULE_EPILOGUE", "0", 1);
    out = pass_default_schedule(m, NULL);
    unsetenv("MLCC_SCHEDULE_EPILOGUE");
    char *text = tir_func_to_string(irmod_get_prim(out, "mm_add"));
    const char *par = strstr(text, "T.parallel(8)");
    CHECK_MSG(par && strstr(par + 1, "T.parallel(n"), "%s", text);
    free(text);
    CHECK_MSG(jit_compare_tol(in_tile, irmod_get_prim(out, "mm_add"), sizes, 4, 19, 0) == 0, "%s", mlcc_last_error());
}

int main(void) {
    test_by_hand();
    test_pass();
    return test_finish();
}
