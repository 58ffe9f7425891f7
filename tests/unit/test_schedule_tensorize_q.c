/* test_schedule_tensorize_q.c - tensorize onto the quantized GEMM_NT_Q intrinsics and the
 * default schedule's rule for fused dequantize + matmul blocks (transform/schedule_quant.c), on a
 * block written here the way FuseTIR leaves one: C[i, j] += A[i, k] * dequant(QW[j, k // 8],
 * S[j, k // 32]) with ggml_q4_0's layout (4 bits, zero point 8, f16 scales) and K = 523 (a ragged
 * last group and word):
 *   - requests that do not match are refused with the reason and no change: another zero point,
 *     another scale type, 8-bit words, the float intrinsic;
 *   - the rule applies (split, parallel, one call of the layout's intrinsic per column tile);
 *   - the compiled scheduled kernel equals the compiled unscheduled one at n = 1, 3, 5, 33 rows:
 *     relative 1e-5 on the exact path (MLCC_QUANT_ACT=f32), and within 2e-2 of the float64 sum
 *     on the int8 path (its activations are rounded to int8; the kernel tests bound it tighter);
 *   - on the int8 path the generated code prepares the rows once before the parallel column
 *     loop (transform/lower_quant_prep.c: _prep_row, then _pre in the loop), and its results
 *     are bitwise those of the same schedule compiled with MLCC_QUANT_SHARED_PREP=0 (each call
 *     preparing its own rows). */
#include <dlpack/dlpack.h>
#include <math.h>
#include <stdio.h>

#include "codegen/codegen_c.h"
#include "codegen/jit.h"
#include "support/strbuf.h"
#include "quant/dequant_expr.h"
#include "sched_check.h"
#include "te/te.h"
#include "transform/schedule_quant.h"

enum { N = 512, K = 523, WORDS = (K + 7) / 8, GROUPS = (K + 31) / 32 };

static te_tensor *A_, *QW_, *S_;

static mlcc_expr *body(mlcc_expr **i, void *c) {
    (void)c;
    mlcc_expr *word = te_load2(QW_, i[1], ir_floordiv(i[2], ir_int(8)));
    mlcc_expr *scale = te_load2(S_, i[1], ir_floordiv(i[2], ir_int(32)));
    return ir_mul(te_load2(A_, i[0], i[2]), quant_dequant_value(word, i[2], scale, 4, 8));
}

static mlcc_prim_func *build(const char *name) {
    mlcc_expr *n = ir_size_var("n");
    A_ = te_placeholder("A", DT_F32, (mlcc_expr *[]){n, ir_int(K)}, 2);
    QW_ = te_placeholder("QW", DT_U32, (mlcc_expr *[]){ir_int(N), ir_int(WORDS)}, 2);
    S_ = te_placeholder("S", DT_F16, (mlcc_expr *[]){ir_int(N), ir_int(GROUPS)}, 2);
    te_set_axis_names((const char *[]){"i", "j", "k", NULL});
    te_tensor *c = te_reduce("C", DT_F32, (mlcc_expr *[]){n, ir_int(N)}, 2, TE_SUM, (mlcc_expr *[]){ir_int(K)}, 1, body, NULL);
    return te_create_prim_func(name, (te_tensor *[]){A_, QW_, S_, c}, 4);
}

static void test_rejections(void) {
    mlcc_schedule *s = sch_create(build("mm_q_rej"));
    mlcc_expr **l;
    CHECK_EQ_INT(sch_get_loops(s, sch_get_block(s, "C"), &l), 3);
    CHECK_REJECTED(s, sch_tensorize(s, l[0], "mlcc_k_gemm_nt_q4z7_f16_a32"), "is not the dequantized value");
    CHECK_REJECTED(s, sch_tensorize(s, l[0], "mlcc_k_gemm_nt_q4z7_f32_a32"), "has float16 scales");
    CHECK_REJECTED(s, sch_tensorize(s, l[0], "mlcc_k_gemm_nt_q8z128_f16_a32"), "not a dequantized 8-bit word");
    CHECK_REJECTED(s, sch_tensorize(s, l[0], "mlcc_k_gemm_nt_f32"), "not buffer loads");
    CHECK_EQ_INT(sch_tensorize(s, l[0], "mlcc_k_gemm_nt_q4z8_f16_a32"), 0);
    char *text = tir_func_to_string(sch_func(s));
    CHECK_MSG(strstr(text, "mlcc_k_gemm_nt_q4z8_f16_a32(") != NULL, "%s", text);
    free(text);
    sch_free(s);
}

static DLTensor tensor(void *data, uint8_t code, int bits, int64_t *shape) {
    DLTensor t = {0};
    t.data = data;
    t.device.device_type = kDLCPU;
    t.ndim = 2;
    t.dtype.code = code;
    t.dtype.bits = (uint8_t)bits;
    t.dtype.lanes = 1;
    t.shape = shape;
    return t;
}

static int call4(MLCCPackedCFunc fn, DLTensor *a, DLTensor *b, DLTensor *c, DLTensor *d) {
    MLCCValue args[4] = {{.v_tensor = a}, {.v_tensor = b}, {.v_tensor = c}, {.v_tensor = d}};
    int codes[4] = {MLCC_TYPE_DLTENSOR, MLCC_TYPE_DLTENSOR, MLCC_TYPE_DLTENSOR, MLCC_TYPE_DLTENSOR};
    MLCCValue ret;
    int ret_code;
    return fn(args, codes, 4, &ret, &ret_code, NULL);
}

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint32_t rnd32(void) {
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (uint32_t)(rng >> 20);
}

/* The rule on a fresh function, compiled beside the unscheduled one; compared on random data. */
static void test_rule(const char *act, double tol) {
    setenv("MLCC_QUANT_ACT", act, 1);
    mlcc_prim_func *plain = build("mm_q_plain"), *f = build("mm_q_sched");
    mlcc_schedule *s = sch_create(f);
    const char *used = NULL;
    CHECK_MSG(schedule_quant_rule(&s, "C", &used) == 0, "%s: %s", act, mlcc_last_error());
    CHECK_MSG(used && strstr(used, !strcmp(act, "int8") ? "q4z8_f16_a8" : "q4z8_f16_a32"), "%s: used %s", act,
              used ? used : "(none)");
    char *text = tir_func_to_string(sch_func(s));
    CHECK_MSG(strstr(text, "T.parallel") != NULL, "%s: no parallel loop:\n%s", act, text);
    free(text);
    int int8 = !strcmp(act, "int8");
    mlcc_prim_func *sched = sch_func(s);
    mlcc_strbuf src = STRBUF_INIT;
    CHECK_EQ_INT(codegen_c(&sched, 1, &src), 0);
    int shared = strstr(sb_cstr(&src), "_prep_row(") != NULL;
    CHECK_MSG(shared == int8, "%s: rows prepared once before the column loop: %d", act, shared);
    sb_free(&src);
    mlcc_jit_module *mod = mlcc_jit_build((mlcc_prim_func *[]){plain, sched}, 2);
    CHECK_MSG(mod != NULL, "jit: %s", mlcc_last_error());
    /* the same schedule with each call preparing its own rows */
    setenv("MLCC_QUANT_SHARED_PREP", "0", 1);
    mlcc_jit_module *own = mlcc_jit_build((mlcc_prim_func *[]){sched}, 1);
    unsetenv("MLCC_QUANT_SHARED_PREP");
    CHECK_MSG(own != NULL, "jit: %s", mlcc_last_error());
    sch_free(s);
    if (!mod || !own) return;
    static uint32_t qw[N * WORDS];
    static _Float16 sc[N * GROUPS];
    for (int i = 0; i < N * WORDS; i++) qw[i] = rnd32() | (uint32_t)rnd32() << 12 | (uint32_t)rnd32() << 24;
    for (int r = 0; r < N; r++) qw[r * WORDS + WORDS - 1] &= (1u << (4 * (K % 8))) - 1; /* values past K are zero */
    for (int i = 0; i < N * GROUPS; i++) sc[i] = (_Float16)(0.01f + (float)(rnd32() % 100) * 1e-4f);
    static const int64_t ns[] = {1, 3, 5, 33};
    for (int t = 0; t < 4; t++) {
        int64_t n = ns[t], sa[2] = {n, K}, sq[2] = {N, WORDS}, ss[2] = {N, GROUPS}, sc2[2] = {n, N};
        float *a = malloc(sizeof(float) * (size_t)(n * K)), *c1 = malloc(sizeof(float) * (size_t)(n * N)),
              *c2 = malloc(sizeof(float) * (size_t)(n * N)), *c3 = malloc(sizeof(float) * (size_t)(n * N));
        for (int64_t i = 0; i < n * K; i++) a[i] = (float)(rnd32() % 2001) / 1000.0f - 1.0f;
        DLTensor ta = tensor(a, kDLFloat, 32, sa), tq = tensor(qw, kDLUInt, 32, sq), ts = tensor(sc, kDLFloat, 16, ss);
        DLTensor t1 = tensor(c1, kDLFloat, 32, sc2), t2 = tensor(c2, kDLFloat, 32, sc2), t3 = tensor(c3, kDLFloat, 32, sc2);
        CHECK_EQ_INT(call4(mlcc_jit_get_function(mod, "mm_q_plain"), &ta, &tq, &ts, &t1), 0);
        CHECK_EQ_INT(call4(mlcc_jit_get_function(mod, "mm_q_sched"), &ta, &tq, &ts, &t2), 0);
        CHECK_EQ_INT(call4(mlcc_jit_get_function(own, "mm_q_sched"), &ta, &tq, &ts, &t3), 0);
        CHECK_MSG(!memcmp(c2, c3, sizeof(float) * (size_t)(n * N)), "%s n=%lld: rows prepared once differ from per call",
                  act, (long long)n);
        double worst = 0;
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = 0; j < N; j++) {
                double mag = 0;
                for (int64_t k = 0; k < K; k++) {
                    int q = (int)((qw[j * WORDS + k / 8] >> (4 * (k % 8))) & 15) - 8;
                    mag += fabs((double)a[i * K + k] * q * (double)sc[j * GROUPS + k / 32]);
                }
                worst = fmax(worst, fabs((double)c2[i * N + j] - c1[i * N + j]) / (mag + 1e-30));
            }
        printf("%s n=%lld: scheduled vs unscheduled %.3g of sum |products|\n", act, (long long)n, worst);
        CHECK_MSG(worst <= tol, "%s n=%lld: scheduled differs from unscheduled by %g", act, (long long)n, worst);
        free(a), free(c1), free(c2), free(c3);
    }
    mlcc_jit_free(mod);
    mlcc_jit_free(own);
    unsetenv("MLCC_QUANT_ACT");
}

int main(void) {
    test_rejections();
    test_rule("f32", 1e-5);
    test_rule("int8", 2e-2);
    return test_finish();
}
