/* test_schedule_storage_align.c - storage_align: golden printed result, the padded layout in the
 * generated C (allocation size, strides), numerical equality with the unscheduled kernel
 * (interpreter and compiled C, symbolic and constant shapes, with cache_read + compute_at),
 * replay of the trace, and rejection of illegal requests with the reason and no change. */
#include "codegen/codegen_c.h"
#include "sched_check.h"
#include "sched_jit.h"
#include "support/strbuf.h"
#include "te/te.h"

static te_tensor *A_, *B_;

static mlcc_expr *times3(mlcc_expr **i, void *c) {
    (void)c;
    return ir_mul(te_load2(A_, i[0], i[1]), ir_float(DT_F32, 3));
}

static mlcc_expr *plus1(mlcc_expr **i, void *c) {
    (void)c;
    return ir_add(te_load2(B_, i[0], i[1]), ir_float(DT_F32, 1));
}

/* B = A * 3 (intermediate), C = B + 1, over a constant (6, 12) shape. */
static mlcc_prim_func *two_stage_const(void) {
    mlcc_expr *shape[2] = {ir_int(6), ir_int(12)};
    A_ = te_placeholder("A", DT_F32, shape, 2);
    te_set_axis_names((const char *[]){"i", "j", NULL});
    B_ = te_compute("B", DT_F32, shape, 2, times3, NULL);
    te_set_axis_names((const char *[]){"i", "j", NULL});
    te_tensor *c = te_compute("C", DT_F32, shape, 2, plus1, NULL);
    return te_create_prim_func("two_stage_const", (te_tensor *[]){A_, c}, 2);
}

static char *c_source(mlcc_prim_func *f) {
    mlcc_strbuf sb = STRBUF_INIT;
    if (codegen_c(&f, 1, &sb)) {
        sb_free(&sb);
        return NULL;
    }
    return sb_detach(&sb);
}

static void test_symbolic(void) {
    mlcc_prim_func *f = kernel_build(K_TWO_STAGE);
    mlcc_schedule *s = sch_create(f);
    CHECK_EQ_INT(sch_storage_align(s, sch_get_block(s, "B"), 0, 0, 16, 1), 0); /* row stride 8 -> 17 */
    check_schedule("sched_storage_align", f, s);
    CHECK_MSG(jit_compare_at_sizes(f, sch_func(s), 3) == 0, "%s", mlcc_last_error());
    char *src = c_source(sch_func(s));
    CHECK(src != NULL);
    /* n * 17 elements, element (i, j) at i * 17 + j */
    CHECK_MSG(src && strstr(src, "B_elems = (n * (int64_t)17LL)") && strstr(src, "B[((i * (int64_t)17LL) + j)]"), "%s",
              src ? src : mlcc_last_error());
    free(src);
    sch_free(s);
}

static void test_constant(void) {
    mlcc_prim_func *f = two_stage_const();
    mlcc_schedule *s = sch_create(f);
    CHECK_EQ_INT(sch_storage_align(s, "B", 0, 0, 16, 4), 0); /* row stride 12 -> 20: 6 * 20 elements */
    char *src = c_source(sch_func(s)), *plain = c_source(f);
    CHECK_MSG(src && strstr(src, "[120]"), "%s", src ? src : mlcc_last_error());
    CHECK_MSG(plain && strstr(plain, "[72]") && !strstr(plain, "[120]"), "%s", plain ? plain : "");
    free(src);
    free(plain);
    int64_t one = 1;
    CHECK_MSG(jit_compare(f, sch_func(s), &one, 1, 9) == 0, "%s", mlcc_last_error());
    /* again on the same axis: replaced, not stacked */
    CHECK_EQ_INT(sch_storage_align(s, "B", 0, 0, 32, 0), 0);
    src = c_source(sch_func(s));
    CHECK_MSG(src && strstr(src, "[192]"), "%s", src ? src : mlcc_last_error());
    free(src);
    CHECK_MSG(jit_compare(f, sch_func(s), &one, 1, 10) == 0, "%s", mlcc_last_error());
    CHECK_MSG(replay_matches(f, s) == 0, "%s", mlcc_last_error());
    sch_free(s);
}

static void test_with_cache_tile(void) {
    /* the rows of A a 4-row tile of the matmul needs, in a local copy with padded rows */
    mlcc_prim_func *f = kernel_build(K_MATMUL);
    mlcc_schedule *s = sch_create(f);
    mlcc_expr **l, *o[2];
    sch_get_loops(s, sch_get_block(s, "C"), &l);
    CHECK_EQ_INT(sch_split(s, l[0], (int64_t[]){SCH_INFER, 4}, 2, o), 0);
    const char *c = sch_cache_read(s, "C", 0, "local");
    CHECK(c != NULL);
    CHECK_EQ_INT(sch_compute_at(s, c, o[0]), 0);
    CHECK_EQ_INT(sch_storage_align(s, c, 0, 0, 32, 8), 0);
    CHECK_MSG(compare_at_sizes(f, sch_func(s), 2) == 0, "%s", mlcc_last_error());
    CHECK_MSG(replay_matches(f, s) == 0, "%s", mlcc_last_error());
    CHECK_MSG(jit_compare_at_sizes(f, sch_func(s), 4) == 0, "%s", mlcc_last_error());
    sch_free(s);
}

static te_tensor *X_, *W_, *M_;

static mlcc_expr *mm_nt(mlcc_expr **i, void *c) {
    (void)c;
    return ir_mul(te_load2(X_, i[0], i[2]), te_load2(W_, i[1], i[2]));
}

static mlcc_expr *relu(mlcc_expr **i, void *c) {
    (void)c;
    return ir_max(te_load2(M_, i[0], i[1]), ir_float(DT_F32, 0));
}

/* M = X[n, 37] @ W[24, 37]^T (intermediate), O = relu(M). */
static mlcc_prim_func *mm_relu_nt(void) {
    mlcc_expr *n = ir_size_var("n");
    X_ = te_placeholder("X", DT_F32, (mlcc_expr *[]){n, ir_int(37)}, 2);
    W_ = te_placeholder("W", DT_F32, (mlcc_expr *[]){ir_int(24), ir_int(37)}, 2);
    te_set_axis_names((const char *[]){"i", "j", "k", NULL});
    M_ = te_reduce("M", DT_F32, (mlcc_expr *[]){n, ir_int(24)}, 2, TE_SUM, (mlcc_expr *[]){ir_int(37)}, 1, mm_nt, NULL);
    te_set_axis_names((const char *[]){"i", "j", NULL});
    te_tensor *o = te_compute("O", DT_F32, (mlcc_expr *[]){n, ir_int(24)}, 2, relu, NULL);
    return te_create_prim_func("mm_relu_nt", (te_tensor *[]){X_, W_, o}, 3);
}

/* A tensorized GEMM writing an aligned buffer gets the padded leading dimension; aligning the
 * buffer after tensorize (the call's strides fixed) is refused. */
static void test_tensorized(void) {
    mlcc_prim_func *f = mm_relu_nt();
    mlcc_schedule *s = sch_create(f);
    mlcc_expr **l, *j[2];
    CHECK_EQ_INT(sch_storage_align(s, sch_get_block(s, "M"), 0, 0, 32, 4), 0); /* rows of 24 -> 36 */
    sch_get_loops(s, "M", &l);
    CHECK_EQ_INT(sch_split(s, l[1], (int64_t[]){SCH_INFER, 8}, 2, j), 0);
    CHECK_EQ_INT(sch_reorder(s, (mlcc_expr *[]){j[0], l[0]}, 2), 0);
    CHECK_EQ_INT(sch_tensorize(s, l[0], "mlcc_k_gemm_nt_f32"), 0);
    char *text = tir_func_to_string(sch_func(s));
    CHECK_MSG(strstr(text, ", n, 8, 37, 36, 37, 37, 0)"), "%s", text); /* ldc 36 */
    free(text);
    CHECK_MSG(jit_compare_at_sizes(f, sch_func(s), 8) == 0, "%s", mlcc_last_error());
    CHECK_MSG(replay_matches(f, s) == 0, "%s", mlcc_last_error());
    sch_free(s);

    f = mm_relu_nt();
    s = sch_create(f);
    sch_get_loops(s, sch_get_block(s, "M"), &l);
    CHECK_EQ_INT(sch_tensorize(s, l[0], "mlcc_k_gemm_nt_f32"), 0);
    CHECK_REJECTED(s, sch_storage_align(s, "M_o", 0, 0, 32, 4), "'M' (written by block 'M_o') is passed to an intrinsic call");
    sch_free(s);
}

static void test_errors(void) {
    mlcc_prim_func *f = kernel_build(K_TWO_STAGE);
    mlcc_schedule *s = sch_create(f);
    CHECK_REJECTED(s, sch_storage_align(s, "C", 0, 0, 16, 0), "'C' (written by block 'C') is a parameter of the function");
    CHECK_REJECTED(s, sch_storage_align(s, "B", 1, 0, 16, 0), "block 'B' has 1 write region(s); index 1 is out of range");
    CHECK_REJECTED(s, sch_storage_align(s, "B", 0, 2, 16, 0), "axis 2 is out of range for the 2 dimensions of 'B'");
    CHECK_REJECTED(s, sch_storage_align(s, "B", 0, 0, 0, 0), "factor 0 and offset 0 of 'B' (block 'B') need");
    CHECK_REJECTED(s, sch_storage_align(s, "B", 0, 0, 8, 8), "factor 8 and offset 8");
    CHECK_REJECTED(s, sch_storage_align(s, "Q", 0, 0, 8, 1), "no block named 'Q'");
    sch_free(s);
}

int main(void) {
    test_symbolic();
    test_constant();
    test_with_cache_tile();
    test_tensorized();
    test_errors();
    return test_finish();
}
