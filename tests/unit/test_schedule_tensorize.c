/* test_schedule_tensorize.c - tensorize onto the CPU GEMM_NT intrinsics and the default_schedule
 * pass: golden printed result and replay of the trace; numerical equality of the compiled
 * scheduled kernel with the compiled unscheduled one and with float64 loops written here, at
 * n = 1, 2, 3, 4, 5, 9, 33, 70 (every row tail of the micro-kernel, more rows than one chunk),
 * for column counts and reduction lengths that leave vector, tile and reduction-block tails,
 * with float32 and float16 weights; each row bitwise the same when computed alone (decode's
 * path) as within the call; illegal requests rejected with the reason and no change. */
#include <dlpack/dlpack.h>
#include <math.h>
#include <stdio.h>

#include "codegen/jit.h"
#include "kernels/cpu/intrin.h"
#include "sched_check.h"
#include "support/hashmap.h"
#include "te/te.h"
#include "transform/pass.h"

static te_tensor *A_, *W_;

static mlcc_expr *mm_nt_body(mlcc_expr **i, void *c) {
    (void)c;
    mlcc_expr *w = te_load2(W_, i[1], i[2]);
    if (!dtype_eq(w->dtype, DT_F32)) w = ir_cast(DT_F32, w);
    return ir_mul(te_load2(A_, i[0], i[2]), w);
}

/* C[n, N] = A[n, K] @ W[N, K]^T, as op matmul(transpose_b) legalizes it. */
static mlcc_prim_func *build_mm_nt(const char *name, int64_t N, int64_t K, mlcc_dtype wt) {
    mlcc_expr *n = ir_size_var("n");
    A_ = te_placeholder("A", DT_F32, (mlcc_expr *[]){n, ir_int(K)}, 2);
    W_ = te_placeholder("W", wt, (mlcc_expr *[]){ir_int(N), ir_int(K)}, 2);
    te_set_axis_names((const char *[]){"i", "j", "k", NULL});
    te_tensor *c = te_reduce("C", DT_F32, (mlcc_expr *[]){n, ir_int(N)}, 2, TE_SUM, (mlcc_expr *[]){ir_int(K)}, 1,
                             mm_nt_body, NULL);
    return te_create_prim_func(name, (te_tensor *[]){A_, W_, c}, 3);
}

/* split j by `tile` (0: no split), reorder jo above i, tensorize i, parallel jo. */
static int schedule_mm(mlcc_schedule *s, int64_t tile, const char *intrin) {
    mlcc_expr **l, *j[2];
    if (sch_get_loops(s, sch_get_block(s, "C"), &l) != 3) return -1;
    if (!tile) return sch_tensorize(s, l[0], intrin);
    if (sch_split(s, l[1], (int64_t[]){SCH_INFER, tile}, 2, j)) return -1;
    if (sch_reorder(s, (mlcc_expr *[]){j[0], l[0]}, 2)) return -1;
    if (sch_tensorize(s, l[0], intrin)) return -1;
    return sch_parallel(s, j[0]);
}

static mlcc_prim_func *renamed(mlcc_prim_func *f, const char *name) {
    mlcc_prim_func *c = prim_func_copy(f);
    c->name = mlcc_intern(name);
    return c;
}

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static float rand_float(void) {
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (float)((double)(rng >> 11) / (double)(1ull << 53) * 2.0 - 1.0);
}

static DLTensor tensor(void *data, int bits, int64_t *shape) {
    DLTensor t = {0};
    t.data = data;
    t.device.device_type = kDLCPU;
    t.ndim = 2;
    t.dtype.code = kDLFloat;
    t.dtype.bits = (uint8_t)bits;
    t.dtype.lanes = 1;
    t.shape = shape;
    return t;
}

static int call3(MLCCPackedCFunc fn, DLTensor *a, DLTensor *b, DLTensor *c) {
    MLCCValue args[3] = {{.v_tensor = a}, {.v_tensor = b}, {.v_tensor = c}};
    int codes[3] = {MLCC_TYPE_DLTENSOR, MLCC_TYPE_DLTENSOR, MLCC_TYPE_DLTENSOR};
    MLCCValue ret;
    int ret_code;
    return fn(args, codes, 3, &ret, &ret_code, NULL);
}

typedef struct mm_case {
    int64_t N, K, tile;
    int f16;
} mm_case;

/* Runs `plain` and `sched` (in mod) at several n against float64 loops. */
static void check_numerics(mlcc_jit_module *mod, const char *plain, const char *sched, const mm_case *c) {
    static const int64_t ns[] = {1, 2, 3, 4, 5, 9, 33, 70};
    for (int t = 0; t < 8; t++) {
        int64_t n = ns[t], N = c->N, K = c->K;
        float *a = malloc(sizeof(float) * (size_t)(n * K)), *w = malloc(sizeof(float) * (size_t)(N * K));
        _Float16 *wh = malloc(sizeof(_Float16) * (size_t)(N * K));
        float *c1 = malloc(sizeof(float) * (size_t)(n * N)), *c2 = malloc(sizeof(float) * (size_t)(n * N));
        for (int64_t i = 0; i < n * K; i++) a[i] = rand_float();
        for (int64_t i = 0; i < N * K; i++) {
            w[i] = rand_float();
            wh[i] = (_Float16)w[i];
            if (c->f16) w[i] = (float)wh[i];
        }
        for (int64_t i = 0; i < n * N; i++) c1[i] = c2[i] = NAN; /* the init must overwrite */
        int64_t sa[2] = {n, K}, sw[2] = {N, K}, sc[2] = {n, N};
        DLTensor ta = tensor(a, 32, sa), tw = c->f16 ? tensor(wh, 16, sw) : tensor(w, 32, sw);
        DLTensor t1 = tensor(c1, 32, sc), t2 = tensor(c2, 32, sc);
        CHECK_EQ_INT(call3(mlcc_jit_get_function(mod, plain), &ta, &tw, &t1), 0);
        CHECK_EQ_INT(call3(mlcc_jit_get_function(mod, sched), &ta, &tw, &t2), 0);
        double max_err = 0, max_diff = 0;
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = 0; j < N; j++) {
                double ref = 0;
                for (int64_t k = 0; k < K; k++) ref += (double)a[i * K + k] * (double)w[j * K + k];
                double e = fabs(c2[i * N + j] - ref), d = fabs(c2[i * N + j] - c1[i * N + j]);
                if (!(e <= max_err)) max_err = e; /* NaN sticks */
                if (!(d <= max_diff)) max_diff = d;
            }
        /* each row alone (n = 1, decode's path) gives bitwise the row of the n-row call */
        int64_t s1[2] = {1, K}, s1c[2] = {1, N};
        float *row = malloc(sizeof(float) * (size_t)N);
        int same = 1;
        for (int64_t i = 0; i < n; i++) {
            DLTensor tr = tensor(a + i * K, 32, s1), to = tensor(row, 32, s1c);
            CHECK_EQ_INT(call3(mlcc_jit_get_function(mod, sched), &tr, &tw, &to), 0);
            if (memcmp(row, c2 + i * N, sizeof(float) * (size_t)N) != 0) same = 0;
        }
        CHECK_MSG(same, "%s n=%lld: a row computed alone differs from the same row in the call", sched, (long long)n);
        free(row);
        CHECK_MSG(max_err <= 1e-5 * (double)K, "%s n=%lld: max error %g vs float64", sched, (long long)n, max_err);
        CHECK_MSG(max_diff <= 1e-5 * (double)K, "%s n=%lld: differs from %s by %g", sched, (long long)n, plain, max_diff);
        free(a), free(w), free(wh), free(c1), free(c2);
    }
}

static void test_golden_and_replay(void) {
    mlcc_prim_func *f = build_mm_nt("mm_nt", 24, 37, DT_F32);
    mlcc_schedule *s = sch_create(f);
    CHECK_EQ_INT(schedule_mm(s, 8, "mlcc_k_gemm_nt_f32"), 0);
    char *trace = sch_trace_str(s);
    char *actual = schedule_text(sch_func(s), trace);
    char *expected = golden_text("sched_tensorize_gemm", actual);
    CHECK_MSG(expected != NULL, "golden sched_tensorize_gemm is missing (run with MLCC_UPDATE_GOLDEN=1)");
    if (expected) CHECK_EQ_STR(actual, expected);
    CHECK_MSG(replay_matches(f, s) == 0, "%s", mlcc_last_error());
    /* the outer block's iter var is spatial: parallel was checked against it */
    CHECK(strstr(actual, "T.axis.spatial(3, i1_0)") != NULL || strstr(actual, "T.axis.spatial(3,") != NULL);
    free(trace), free(actual), free(expected);
    sch_free(s);
}

static void test_numerics(void) {
    static const mm_case cases[] = {
        {24, 37, 8, 0}, {24, 37, 8, 1}, {12, 1, 4, 0}, {3, 17, 0, 0}, {3, 17, 0, 1}, {16, 64, 16, 0}, {12, 40, 0, 1}, {40, 300, 0, 0}, {40, 520, 8, 1}, {100, 1100, 0, 0},
    };
    enum { NC = sizeof cases / sizeof cases[0] };
    mlcc_prim_func *funcs[2 * NC];
    char names[2 * NC][32];
    for (int i = 0; i < NC; i++) {
        const mm_case *c = &cases[i];
        snprintf(names[2 * i], 32, "plain%d", i);
        snprintf(names[2 * i + 1], 32, "sched%d", i);
        mlcc_prim_func *f = build_mm_nt(names[2 * i], c->N, c->K, c->f16 ? DT_F16 : DT_F32);
        mlcc_schedule *s = sch_create(f);
        const char *intrin = c->f16 ? "mlcc_k_gemm_nt_f32_f16" : "mlcc_k_gemm_nt_f32";
        CHECK_MSG(schedule_mm(s, c->tile, intrin) == 0, "case %d: %s", i, mlcc_last_error());
        funcs[2 * i] = f;
        funcs[2 * i + 1] = renamed(sch_func(s), names[2 * i + 1]);
        sch_free(s);
    }
    mlcc_jit_module *mod = mlcc_jit_build(funcs, 2 * NC);
    CHECK_MSG(mod != NULL, "jit: %s", mlcc_last_error());
    if (!mod) return;
    for (int i = 0; i < NC; i++) check_numerics(mod, names[2 * i], names[2 * i + 1], &cases[i]);
    mlcc_jit_free(mod);
}

static void test_rejections(void) {
    mlcc_prim_func *f = build_mm_nt("mm_nt", 24, 37, DT_F32);
    mlcc_schedule *s = sch_create(f);
    mlcc_expr **l, *j[2], *k[2];
    sch_get_loops(s, sch_get_block(s, "C"), &l);
    CHECK_REJECTED(s, sch_tensorize(s, l[0], "no_such_intrin"), "no tensor intrinsic named 'no_such_intrin'");
    CHECK_REJECTED(s, sch_tensorize(s, l[0], "mlcc_k_gemm_nt_f32_f16"), "which intrinsic 'mlcc_k_gemm_nt_f32_f16' does not");
    CHECK_REJECTED(s, sch_tensorize(s, l[1], "mlcc_k_gemm_nt_f32"), "must hold a perfect nest of 3 loops");
    /* a split that does not divide leaves a predicate the intrinsic cannot honour */
    CHECK_EQ_INT(sch_split(s, l[1], (int64_t[]){SCH_INFER, 5}, 2, j), 0);
    CHECK_EQ_INT(sch_reorder(s, (mlcc_expr *[]){j[0], l[0]}, 2), 0);
    CHECK_REJECTED(s, sch_tensorize(s, l[0], "mlcc_k_gemm_nt_f32"), "has a predicate");
    sch_free(s);

    /* the reduction split across the tile: one call would not see a whole dot product */
    s = sch_create(build_mm_nt("mm_nt40", 24, 40, DT_F32));
    sch_get_loops(s, sch_get_block(s, "C"), &l);
    CHECK_EQ_INT(sch_split(s, l[2], (int64_t[]){SCH_INFER, 8}, 2, k), 0);
    CHECK_EQ_INT(sch_reorder(s, (mlcc_expr *[]){k[0], l[0], l[1]}, 3), 0);
    CHECK_REJECTED(s, sch_tensorize(s, l[0], "mlcc_k_gemm_nt_f32"), "must be bound to the reduction loop");
    sch_free(s);

    /* not a GEMM_NT: B indexed [k, j] (no unit stride in k for the weights) */
    f = kernel_build(K_MATMUL);
    s = sch_create(f);
    sch_get_loops(s, sch_get_block(s, "C"), &l);
    CHECK_REJECTED(s, sch_tensorize(s, l[0], "mlcc_k_gemm_nt_f32"), "is not a GEMM tile");
    sch_free(s);

    f = kernel_build(K_ELEMWISE);
    s = sch_create(f);
    sch_get_loops(s, sch_get_block(s, "B"), &l);
    CHECK_REJECTED(s, sch_tensorize(s, l[0], "mlcc_k_gemm_nt_f32"), "perfect nest");
    sch_free(s);
}

/* The pass: matmuls get the GEMM rule (f32 and f16 weights); row reductions and injective nests
 * of symbolic size run their outer loops in parallel (injective ones vectorized inside) and
 * compute what they computed unscheduled; an opaque function (op_pattern 8) stays as it is. */
static void test_default_schedule_pass(void) {
    mlcc_ir_module *m = irmod_new();
    irmod_add_prim(m, "mm32", build_mm_nt("mm32", 256, 1024, DT_F32));
    irmod_add_prim(m, "mm16", build_mm_nt("mm16", 100, 4096, DT_F16));
    irmod_add_prim(m, "small", build_mm_nt("small", 256, 64, DT_F32));
    mlcc_prim_func *rowsum = kernel_build(K_ROWSUM), *two = kernel_build(K_TWO_STAGE);
    irmod_add_prim(m, "rowsum", rowsum);
    irmod_add_prim(m, "two_stage", two);
    mlcc_prim_func *opaque = kernel_build(K_TWO_STAGE);
    prim_func_set_attr(opaque, "op_pattern", ir_int(8));
    irmod_add_prim(m, "opaque", opaque);
    mlcc_ir_module *out = pass_default_schedule(m, NULL);
    char *t32 = tir_func_to_string(irmod_get_prim(out, "mm32"));
    char *t16 = tir_func_to_string(irmod_get_prim(out, "mm16"));
    CHECK(strstr(t32, "T.mlcc_k_gemm_nt_f32(") != NULL);
    CHECK(strstr(t32, "T.parallel(8)") != NULL); /* 256 columns in 8 tiles of 32 */
    CHECK(strstr(t16, "T.mlcc_k_gemm_nt_f32_f16(") != NULL);
    CHECK(strstr(t16, "T.parallel(25)") != NULL); /* 100 = 25 tiles of 4 */
    char *tr = tir_func_to_string(irmod_get_prim(out, "rowsum")), *tt = tir_func_to_string(irmod_get_prim(out, "two_stage"));
    CHECK_MSG(strstr(tr, "in T.parallel(n") && !strstr(tr, "T.vectorized"), "%s", tr); /* rows; the reduction stays serial */
    CHECK_MSG(strstr(tt, "in T.parallel(n, annotations={\"parallel_min_iters\": 4096})") && strstr(tt, "in T.vectorized(8)"), "%s", tt);
    /* rowsum's row (10 values) is too small to fork for below 32768 / 10 rows */
    CHECK_MSG(strstr(tr, "in T.parallel(n, annotations={\"parallel_min_iters\": 3277})"), "%s", tr);
    CHECK_MSG(compare_at_sizes(rowsum, irmod_get_prim(out, "rowsum"), 3) == 0, "rowsum: %s", mlcc_last_error());
    CHECK_MSG(compare_at_sizes(two, irmod_get_prim(out, "two_stage"), 4) == 0, "two_stage: %s", mlcc_last_error());
    CHECK(irmod_get_prim(out, "opaque") == opaque);
    free(tr), free(tt);
    /* a small weight matrix: tensorized on one thread */
    char *ts = tir_func_to_string(irmod_get_prim(out, "small"));
    CHECK(strstr(ts, "T.mlcc_k_gemm_nt_f32(") != NULL && strstr(ts, "T.parallel") == NULL);
    free(t32), free(t16), free(ts);
}

/* A small attention over symbolic n (rows) and t (context): S[h, i, j] = Q[i, h, :] . K[j, h, :];
 * P = exp(S); O[i, h, d] = sum_j P[h, i, j] * V[j, h, d]. */
enum { AH = 3, AD = 16 };
static te_tensor *Q_, *K_, *V_, *S_, *P_;
static mlcc_expr *score_body(mlcc_expr **i, void *c) {
    (void)c;
    return ir_mul(te_load3(Q_, i[1], i[0], i[3]), te_load3(K_, i[2], i[0], i[3]));
}
static mlcc_expr *exp_body(mlcc_expr **i, void *c) {
    (void)c;
    return ir_call1("exp", ir_mul(te_load3(S_, i[0], i[1], i[2]), ir_float(DT_F32, 0.25)));
}
static mlcc_expr *pv_body(mlcc_expr **i, void *c) {
    (void)c;
    return ir_mul(te_load3(P_, i[1], i[0], i[3]), te_load3(V_, i[3], i[1], i[2]));
}
static mlcc_prim_func *build_attention(const char *name) {
    mlcc_expr *n = ir_size_var("n"), *t = ir_size_var("t");
    Q_ = te_placeholder("Q", DT_F32, (mlcc_expr *[]){n, ir_int(AH), ir_int(AD)}, 3);
    K_ = te_placeholder("K", DT_F32, (mlcc_expr *[]){t, ir_int(AH), ir_int(AD)}, 3);
    V_ = te_placeholder("V", DT_F32, (mlcc_expr *[]){t, ir_int(AH), ir_int(AD)}, 3);
    S_ = te_reduce("S", DT_F32, (mlcc_expr *[]){ir_int(AH), n, t}, 3, TE_SUM, (mlcc_expr *[]){ir_int(AD)}, 1, score_body, NULL);
    P_ = te_compute("P", DT_F32, (mlcc_expr *[]){ir_int(AH), n, t}, 3, exp_body, NULL);
    te_tensor *o = te_reduce("O", DT_F32, (mlcc_expr *[]){n, ir_int(AH), ir_int(AD)}, 3, TE_SUM, (mlcc_expr *[]){t}, 1,
                             pv_body, NULL);
    return te_create_prim_func(name, (te_tensor *[]){Q_, K_, V_, o}, 4);
}

static int call4(MLCCPackedCFunc fn, DLTensor **t) {
    MLCCValue args[4];
    int codes[4];
    for (int i = 0; i < 4; i++) args[i].v_tensor = t[i], codes[i] = MLCC_TYPE_DLTENSOR;
    MLCCValue ret;
    int ret_code;
    return fn(args, codes, 4, &ret, &ret_code, NULL);
}

/* The attention rule: scores tensorized per head (heads in parallel), exp parallel over
 * (heads x rows), P x V parallel over (rows x heads) and vectorized over d; equal results. */
static void test_attention_rule(void) {
    mlcc_ir_module *m = irmod_new();
    mlcc_prim_func *plain = build_attention("attn_plain");
    irmod_add_prim(m, "attn", build_attention("attn"));
    mlcc_prim_func *sched = irmod_get_prim(pass_default_schedule(m, NULL), "attn");
    char *text = tir_func_to_string(sched);
    CHECK_MSG(strstr(text, "T.mlcc_k_gemm_nt_f32(T.address_of(S[") != NULL, "%s", text);
    CHECK_MSG(strstr(text, "T.parallel(3)") != NULL, "%s", text);          /* heads around the score tiles */
    CHECK_MSG(strstr(text, "T.parallel(n * 3)") != NULL, "%s", text);      /* exp; P x V */
    CHECK_MSG(strstr(text, "T.vectorized(16)") != NULL, "%s", text);       /* P x V over d */
    free(text);
    mlcc_jit_module *mod = mlcc_jit_build((mlcc_prim_func *[]){plain, sched}, 2);
    CHECK_MSG(mod != NULL, "%s", mlcc_last_error());
    if (!mod) return;
    static const int64_t sizes[][2] = {{1, 1}, {1, 9}, {5, 5}, {7, 20}, {33, 40}};
    for (int c = 0; c < 5; c++) {
        int64_t n = sizes[c][0], t = sizes[c][1];
        float *q = malloc(sizeof(float) * (size_t)(n * AH * AD)), *k = malloc(sizeof(float) * (size_t)(t * AH * AD)),
              *v = malloc(sizeof(float) * (size_t)(t * AH * AD)), *o1 = malloc(sizeof(float) * (size_t)(n * AH * AD)),
              *o2 = malloc(sizeof(float) * (size_t)(n * AH * AD));
        for (int64_t i = 0; i < n * AH * AD; i++) q[i] = rand_float();
        for (int64_t i = 0; i < t * AH * AD; i++) k[i] = rand_float(), v[i] = rand_float();
        int64_t sq[3] = {n, AH, AD}, sk[3] = {t, AH, AD};
        DLTensor tq = tensor(q, 32, sq), tk = tensor(k, 32, sk), tv = tensor(v, 32, sk), t1 = tensor(o1, 32, sq),
                 t2 = tensor(o2, 32, sq);
        tq.ndim = tk.ndim = tv.ndim = t1.ndim = t2.ndim = 3;
        CHECK_EQ_INT(call4(mlcc_jit_get_function(mod, "attn_plain"), (DLTensor *[]){&tq, &tk, &tv, &t1}), 0);
        CHECK_EQ_INT(call4(mlcc_jit_get_function(mod, "attn"), (DLTensor *[]){&tq, &tk, &tv, &t2}), 0);
        double worst = 0;
        for (int64_t i = 0; i < n * AH * AD; i++) {
            double d = fabs(o1[i] - o2[i]) / (1 + fabs(o1[i]));
            if (!(d <= worst)) worst = d;
        }
        CHECK_MSG(worst <= 1e-5, "attention n=%lld t=%lld: scheduled differs by %g", (long long)n, (long long)t, worst);
        free(q), free(k), free(v), free(o1), free(o2);
    }
    mlcc_jit_free(mod);
}

static void test_intrinsic_registry(void) {
    CHECK(cpu_intrin_gemm_nt(DT_F32, DT_F32, DT_F32) == cpu_intrin_find("mlcc_k_gemm_nt_f32"));
    CHECK(cpu_intrin_gemm_nt(DT_F32, DT_F16, DT_F32) == cpu_intrin_find("mlcc_k_gemm_nt_f32_f16"));
    CHECK(cpu_intrin_gemm_nt(DT_F16, DT_F16, DT_F16) == NULL);
    CHECK(strstr(cpu_intrin_find("mlcc_k_gemm_nt_f32")->source, "mlcc_k_gemm_nt_f32") != NULL);
}

int main(void) {
    test_intrinsic_registry();
    test_golden_and_replay();
    test_numerics();
    test_rejections();
    test_default_schedule_pass();
    test_attention_rule();
    return test_finish();
}
