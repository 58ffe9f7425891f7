/* test_interp.c - the block-level TensorIR reference interpreter against hand computations:
 * loops, blocks with init and predicates, bounds and domain errors, casts, intrinsics, integer
 * division, size-var binding and poison in fresh intermediates. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "ir/interp.h"
#include "support/error.h"
#include "te/te.h"
#include "test.h"
#include "tir_kernels.h"

static mlcc_expr *f32(double v) {
    return ir_float(DT_F32, v);
}

/* matmul through te, against a triple loop in C */
static void test_matmul(void) {
    mlcc_prim_func *f = kernel_build(K_MATMUL);
    int64_t n = 5;
    double a[5 * 8], b[8 * 6], c[5 * 6];
    for (int i = 0; i < 40; i++) a[i] = (double)(float)(0.25 * (i % 7) - 0.5);
    for (int i = 0; i < 48; i++) b[i] = (double)(float)(0.125 * (i % 5) + 0.1);
    for (int i = 0; i < 30; i++) c[i] = 99;
    int64_t sa[2] = {n, 8}, sb[2] = {8, 6}, sc[2] = {n, 6};
    tir_interp_arg args[3] = {{.f64 = a, .shape = sa, .ndim = 2}, {.f64 = b, .shape = sb, .ndim = 2},
                              {.f64 = c, .shape = sc, .ndim = 2}};
    CHECK_EQ_INT(tir_interp_run(f, args, 3), 0);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < 6; j++) {
            float acc = 0;
            for (int k = 0; k < 8; k++) acc += (float)a[i * 8 + k] * (float)b[k * 6 + j];
            CHECK_NEAR(c[i * 6 + j], acc, 1e-6);
        }
    /* a shape that contradicts another binding of n */
    int64_t bad[2] = {n + 1, 6};
    args[2].shape = bad;
    CHECK_EQ_INT(tir_interp_run(f, args, 3), -1);
    CHECK(strstr(mlcc_last_error(), "dimension 0 is 5, the array given has 6") != NULL);
}

/* A hand-built block: predicate skips, init at the first reduce iteration, domain check. */
static mlcc_prim_func *predicated_sum(int with_predicate, int64_t split, mlcc_expr *out_shape) {
    mlcc_expr *n = ir_size_var("n");
    mlcc_buffer *A = ir_buffer_v("A", DT_F32, n, NULL);
    mlcc_buffer *S = ir_buffer_v("S", DT_F32, out_shape, NULL);
    mlcc_expr *k0 = ir_var("k0", DT_I64), *k1 = ir_var("k1", DT_I64), *vk = ir_var("vk", DT_I64);
    mlcc_block *b = ir_block_new("S");
    b->niters = 1;
    b->iters = ir_alloc(sizeof(mlcc_iter_var));
    b->iters[0].var = vk;
    b->iters[0].dom = ir_range(ir_int(0), n);
    b->iters[0].type = ITER_REDUCE;
    mlcc_expr *zero = ir_int(0);
    b->init = ir_store(S, f32(10), &zero, 1);
    b->body = ir_store(S, ir_add(ir_load(S, &zero, 1), ir_load(A, &vk, 1)), &zero, 1);
    mlcc_expr *val = ir_add(ir_mul(k0, ir_int(split)), k1);
    mlcc_stmt *st = ir_block_realize(&val, with_predicate ? ir_lt(val, n) : NULL, b);
    st = ir_for(k1, ir_int(0), ir_int(split), FOR_UNROLLED, st);
    mlcc_expr *ext = ir_floordiv(ir_add(n, ir_int(split - 1)), ir_int(split));
    st = ir_for(k0, ir_int(0), ext, FOR_PARALLEL, st);
    return ir_prim_func("psum", (mlcc_buffer *[]){A, S}, 2, st);
}

static void test_predicate_and_init(void) {
    /* extent ceil(n / 4) with predicate: sums A exactly once, init (10) once */
    mlcc_prim_func *f = predicated_sum(1, 4, ir_int(1));
    double a[7] = {1, 2, 3, 4, 5, 6, 7}, s[1] = {-1};
    int64_t sa[1] = {7}, ss[1] = {1};
    tir_interp_arg args[2] = {{.f64 = a, .shape = sa, .ndim = 1}, {.f64 = s, .shape = ss, .ndim = 1}};
    CHECK_EQ_INT(tir_interp_run(f, args, 2), 0);
    CHECK_NEAR(s[0], 38, 0);

    /* without the predicate, the binding leaves the block's domain: an error, not a crash */
    f = predicated_sum(0, 4, ir_int(1));
    CHECK_EQ_INT(tir_interp_run(f, args, 2), -1);
    CHECK(strstr(mlcc_last_error(), "outside its domain [0, 7)") != NULL);
}

static void test_out_of_bounds(void) {
    mlcc_expr *n = ir_size_var("n");
    mlcc_buffer *A = ir_buffer_v("A", DT_F32, n, NULL);
    mlcc_buffer *B = ir_buffer_v("B", DT_F32, n, NULL);
    mlcc_expr *i = ir_var("i", DT_I64);
    mlcc_expr *ip1 = ir_add(i, ir_int(1));
    mlcc_stmt *st = ir_for(i, ir_int(0), n, FOR_SERIAL, ir_store(B, ir_load(A, &ip1, 1), &i, 1));
    mlcc_prim_func *f = ir_prim_func("shift", (mlcc_buffer *[]){A, B}, 2, st);
    double a[3] = {1, 2, 3}, b[3];
    int64_t sh[1] = {3};
    tir_interp_arg args[2] = {{.f64 = a, .shape = sh, .ndim = 1}, {.f64 = b, .shape = sh, .ndim = 1}};
    CHECK_EQ_INT(tir_interp_run(f, args, 2), -1);
    CHECK(strstr(mlcc_last_error(), "out-of-bounds load A[3] (shape [3])") != NULL);
    /* wrong argument count, missing data */
    CHECK_EQ_INT(tir_interp_run(f, args, 1), -1);
    tir_interp_arg noint[2] = {{.i64 = NULL, .shape = sh, .ndim = 1}, args[1]};
    CHECK_EQ_INT(tir_interp_run(f, noint, 2), -1);
    CHECK(strstr(mlcc_last_error(), "needs f64 data") != NULL);
}

/* Expressions: casts round to their dtype, intrinsics, floor division, select. */
static double eval_scalar(mlcc_expr *e) {
    mlcc_buffer *O = ir_buffer_v("O", DT_F64, ir_int(1), NULL);
    mlcc_expr *zero = ir_int(0);
    mlcc_stmt *st = ir_store(O, dtype_is_float(e->dtype) ? ir_cast(DT_F64, e) : ir_cast(DT_F64, e), &zero, 1);
    mlcc_prim_func *f = ir_prim_func("scalar", (mlcc_buffer *[]){O}, 1, st);
    double o[1] = {NAN};
    int64_t sh[1] = {1};
    tir_interp_arg arg = {.f64 = o, .shape = sh, .ndim = 1};
    if (tir_interp_run(f, &arg, 1)) return -12345;
    return o[0];
}

static void test_expressions(void) {
    CHECK(eval_scalar(ir_cast(DT_F32, ir_float(DT_F64, 0.1))) == (double)0.1f);
    CHECK(eval_scalar(ir_cast(DT_F16, ir_float(DT_F64, 0.1))) == 0.0999755859375);
    CHECK(eval_scalar(ir_cast(DT_F16, ir_float(DT_F64, 70000))) == INFINITY);
    CHECK(eval_scalar(ir_cast(DT_BF16, ir_float(DT_F64, 1.00390625 + 1e-9))) == 1.0078125);
    CHECK(eval_scalar(ir_add(f32(1), f32(1e-8))) == 1.0); /* float32 arithmetic rounds */
    CHECK_NEAR(eval_scalar(ir_call1("exp", ir_float(DT_F64, 1))), M_E, 1e-15);
    CHECK_NEAR(eval_scalar(ir_call1("sigmoid", ir_float(DT_F64, 0))), 0.5, 0);
    CHECK_NEAR(eval_scalar(ir_call1("rsqrt", ir_float(DT_F64, 4))), 0.5, 0);
    CHECK_NEAR(eval_scalar(ir_call2("pow", ir_float(DT_F64, 2), ir_float(DT_F64, 10))), 1024, 0);
    CHECK_NEAR(eval_scalar(ir_call1("erf", ir_float(DT_F64, 0.5))), erf(0.5), 0);
    CHECK_NEAR(eval_scalar(ir_call1("tanh", ir_float(DT_F64, 0.5))), tanh(0.5), 0);
    CHECK_NEAR(eval_scalar(ir_call1("floor", ir_float(DT_F64, -1.5))), -2, 0);
    CHECK_NEAR(eval_scalar(ir_call1("ceil", ir_float(DT_F64, -1.5))), -1, 0);
    CHECK_NEAR(eval_scalar(ir_call1("fabs", ir_float(DT_F64, -1.5))), 1.5, 0);
    CHECK_NEAR(eval_scalar(ir_call1("log", ir_float(DT_F64, 1))), 0, 0);
    CHECK_NEAR(eval_scalar(ir_call1("sqrt", ir_float(DT_F64, 9))), 3, 0);
    mlcc_expr *x = ir_var("x", DT_I64); /* unbound: must be an error, not a crash */
    CHECK(eval_scalar(ir_add(x, ir_int(1))) == -12345);
    CHECK(strstr(mlcc_last_error(), "variable 'x' is not bound") != NULL);
    /* floor division and modulo of negatives, truncating ones, through a var to avoid folding */
    mlcc_expr *n = ir_size_var("n");
    mlcc_buffer *A = ir_buffer_v("A", DT_I64, n, NULL);
    mlcc_buffer *O = ir_buffer_v("O", DT_I64, ir_int(6), NULL);
    mlcc_expr *idx[6] = {ir_int(0), ir_int(1), ir_int(2), ir_int(3), ir_int(4), ir_int(5)};
    mlcc_expr *a0 = ir_load(A, &idx[0], 1);
    mlcc_stmt *st[6] = {
        ir_store(O, ir_floordiv(a0, ir_int(4)), &idx[0], 1),
        ir_store(O, ir_floormod(a0, ir_int(4)), &idx[1], 1),
        ir_store(O, ir_binary(EXPR_DIV, a0, ir_int(4)), &idx[2], 1),
        ir_store(O, ir_binary(EXPR_MOD, a0, ir_int(4)), &idx[3], 1),
        ir_store(O, ir_select(ir_lt(a0, ir_int(0)), ir_int(1), ir_int(2)), &idx[4], 1),
        ir_store(O, ir_cast(DT_I64, ir_cast(DT_I32, ir_mul(a0, ir_int(1LL << 31)))), &idx[5], 1),
    };
    mlcc_prim_func *f = ir_prim_func("ints", (mlcc_buffer *[]){A, O}, 2, ir_seq(st, 6));
    int64_t a[1] = {-7}, o[6];
    int64_t sa[1] = {1}, so[1] = {6};
    tir_interp_arg args[2] = {{.i64 = a, .shape = sa, .ndim = 1}, {.i64 = o, .shape = so, .ndim = 1}};
    CHECK_EQ_INT(tir_interp_run(f, args, 2), 0);
    CHECK_EQ_INT(o[0], -2);
    CHECK_EQ_INT(o[1], 1);
    CHECK_EQ_INT(o[2], -1);
    CHECK_EQ_INT(o[3], -3);
    CHECK_EQ_INT(o[4], 1);
    CHECK_EQ_INT(o[5], (int64_t)(int32_t)(uint32_t)((uint64_t)-7 << 31)); /* wraps to 32 bits */
}

/* An intermediate nobody writes reads as NaN, so a forgotten write shows in results. */
static void test_poison(void) {
    mlcc_expr *n = ir_size_var("n");
    mlcc_buffer *T = ir_buffer_v("T", DT_F32, n, NULL);
    mlcc_buffer *O = ir_buffer_v("O", DT_F32, n, NULL);
    mlcc_expr *i = ir_var("i", DT_I64);
    mlcc_stmt *st = ir_for(i, ir_int(0), n, FOR_VECTORIZED, ir_store(O, ir_load(T, &i, 1), &i, 1));
    mlcc_prim_func *f = ir_prim_func("poison", (mlcc_buffer *[]){O}, 1, st);
    prim_func_add_alloc(f, T);
    double o[2] = {0, 0};
    int64_t sh[1] = {2};
    tir_interp_arg arg = {.f64 = o, .shape = sh, .ndim = 1};
    CHECK_EQ_INT(tir_interp_run(f, &arg, 1), 0);
    CHECK(isnan(o[0]) && isnan(o[1]));
}

/* if/else, a scoped allocation, evaluate, thread-bound and unrolled loops. */
static void test_statements(void) {
    mlcc_expr *n = ir_size_var("n");
    mlcc_buffer *A = ir_buffer_v("A", DT_F32, n, NULL);
    mlcc_buffer *O = ir_buffer_v("O", DT_F32, n, NULL);
    mlcc_buffer *T = ir_buffer_v("T", DT_F32, ir_int(1), NULL);
    mlcc_expr *i = ir_var("i", DT_I64), *zero = ir_int(0);
    /* O[i] = A[i] < 0 ? -A[i] : A[i] + 1, through a one-element scratch buffer */
    mlcc_expr *a = ir_load(A, &i, 1);
    mlcc_stmt *branch = ir_if(ir_lt(a, f32(0)), ir_store(T, ir_sub(f32(0), a), &zero, 1),
                              ir_store(T, ir_add(a, f32(1)), &zero, 1));
    mlcc_stmt *body = ir_seq((mlcc_stmt *[]){branch, ir_evaluate(ir_call1("exp", a)),
                                             ir_store(O, ir_load(T, &zero, 1), &i, 1)}, 3);
    mlcc_stmt *st = ir_for_thread(i, ir_int(0), n, "threadIdx.x", ir_allocate(T, body));
    mlcc_prim_func *f = ir_prim_func("stmts", (mlcc_buffer *[]){A, O}, 2, st);
    double av[4] = {-2, 0.5, -0.25, 3}, ov[4] = {0};
    int64_t sh[1] = {4};
    tir_interp_arg args[2] = {{.f64 = av, .shape = sh, .ndim = 1}, {.f64 = ov, .shape = sh, .ndim = 1}};
    CHECK_EQ_INT(tir_interp_run(f, args, 2), 0);
    CHECK(ov[0] == 2 && ov[1] == 1.5 && ov[2] == 0.25 && ov[3] == 4);
    /* the same with the loop reversed (thread-bound loops are parallel) */
    tir_interp_opts opts = {1, 0};
    for (int k = 0; k < 4; k++) ov[k] = 0;
    CHECK_EQ_INT(tir_interp_run_opts(f, args, 2, &opts), 0);
    CHECK(ov[0] == 2 && ov[3] == 4);
    /* an iteration budget stops a run */
    opts.max_iterations = 3;
    CHECK_EQ_INT(tir_interp_run_opts(f, args, 2, &opts), -1);
    CHECK(strstr(mlcc_last_error(), "iteration budget") != NULL);
}

/* The te kernels agree with themselves for every size (determinism of the harness). */
static void test_kernels_run(void) {
    for (int k = 0; k < K_COUNT; k++) {
        mlcc_prim_func *f = kernel_build(k);
        for (int64_t n = 1; n <= 33; n += 16) CHECK_MSG(kernel_compare(f, f, n, 7) == 0, "%s: %s", kernel_name(k), mlcc_last_error());
    }
    /* softmax rows sum to 1 */
    mlcc_prim_func *f = kernel_build(K_SOFTMAX);
    int len;
    double *all = kernel_run(f, 3, 11, &len);
    CHECK(all && len == 48);
    if (all) {
        for (int r = 0; r < 3; r++) {
            double sum = 0;
            for (int j = 0; j < 8; j++) sum += all[24 + r * 8 + j];
            CHECK_NEAR(sum, 1, 1e-6);
        }
        free(all);
    }
}

int main(void) {
    test_matmul();
    test_predicate_and_init();
    test_out_of_bounds();
    test_expressions();
    test_poison();
    test_statements();
    test_kernels_run();
    return test_finish();
}
