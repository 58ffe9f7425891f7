/* test_codegen_cuda.c - TensorIR kernels (elementwise, broadcast, softmax, RMS norm, matmul,
 * float16 and bfloat16) under the default GPU schedule, emitted as CUDA C++:
 *   - everywhere NVRTC exists: the generated source compiles for sm_90 (no GPU needed);
 *   - on a GPU: the kernels run on random inputs of odd sizes and match float64 loops written
 *     here; entry checks reject a CPU tensor or a wrong shape with a message.
 * Skips (77) without NVRTC; the run part prints why it is skipped without a device. */
#include <dlpack/dlpack.h>
#include <stdint.h>
#include <unistd.h>

#include "codegen/codegen_cuda.h"
#include "codegen/jit.h"
#include "ir/printer.h"
#include "runtime/cuda.h"
#include "ir/functor.h"
#include "schedule/gpu_rules.h"
#include "schedule/schedule.h"
#include "support/error.h"
#include "te/te.h"
#include "pdl_check.h"
#include "te_bodies.h"
#include "tensor_util.h"
#include "test.h"

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static float rand_float(void) {
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((double)(rng >> 11) / (double)(1ull << 53) * 2.0 - 1.0);
}

/* what the bodies read (te_bodies.h; set before each te call) */
static test_te T;

/* 16-bit: y = silu(h) * 2 in the tensor's own type; the sum of a row in float32 */
static mlcc_expr *silu_body(mlcc_expr **i, void *c) {
    const test_te *t = c;
    mlcc_expr *h = te_load2(t->x, i[0], i[1]);
    return ir_mul(ir_mul(h, ir_call1("sigmoid", h)), ir_float(h->dtype, 2.0));
}
static mlcc_expr *gemv_body(mlcc_expr **i, void *c) {
    const test_te *t = c;
    return ir_mul(te_load2(t->x, i[0], i[2]), te_load2(t->y, i[1], i[2]));
}
static mlcc_expr *linear3_body(mlcc_expr **i, void *c) {
    const test_te *t = c;
    return ir_mul(te_load3(t->x, i[0], i[1], i[3]), te_load2(t->y, i[2], i[3]));
}
static mlcc_expr *widen_sum_body(mlcc_expr **i, void *c) {
    const test_te *t = c;
    return ir_cast(DT_F32, te_load2(t->x, i[0], i[1]));
}

enum { COLS = 37, K = 24, NFUNCS = 16, ROW_COLS = 2048, WIDE_K = 300, WIDE_N = 33, WIDE_COLS = 1000, LIN_K = 200, LIN_N = 100,
       B3_K = 50, B3_N = 70 };

/* x[i, j] * x[i, j + ROW_COLS] + exp(x[i, j]): two halves of a row, as silu * up reads them */
static mlcc_expr *halves_body(mlcc_expr **i, void *c) {
    const test_te *t = c;
    mlcc_expr *x = te_load2(t->x, i[0], i[1]), *y = te_load2(t->x, i[0], ir_add(i[1], ir_int(ROW_COLS)));
    return ir_add(ir_mul(x, y), ir_call1("exp", x));
}

static mlcc_prim_func *funcs[NFUNCS];

static void build_kernels(void) {
    mlcc_expr *n = ir_size_var("n");
    mlcc_expr *cols = ir_int(COLS);
    T.cols = cols;
    T.x = te_placeholder("X", DT_F32, (mlcc_expr *[]){n, cols}, 2);
    T.y = te_placeholder("Y", DT_F32, (mlcc_expr *[]){n, cols}, 2);
    T.w = te_placeholder("W", DT_F32, (mlcc_expr *[]){cols}, 1);
    mlcc_expr *shape[2] = {n, cols};
    te_tensor *out_ew = te_compute("Z", DT_F32, shape, 2, test_te_add_mul, &T);
    funcs[0] = te_create_prim_func("ew", (te_tensor *[]){T.x, T.y, out_ew}, 3);
    te_tensor *out_bc = te_compute("Z", DT_F32, shape, 2, test_te_sub_w, &T);
    funcs[1] = te_create_prim_func("bcast", (te_tensor *[]){T.x, T.w, out_bc}, 3);
    T.rowmax = te_reduce("M", DT_F32, &n, 1, TE_MAX, &cols, 1, test_te_x, &T);
    T.exps = te_compute("E", DT_F32, shape, 2, test_te_exp_minus_max, &T);
    T.rowsum = te_reduce("S", DT_F32, &n, 1, TE_SUM, &cols, 1, test_te_exps, &T);
    te_tensor *out_sm = te_compute("P", DT_F32, shape, 2, test_te_softmax_div, &T);
    funcs[2] = te_create_prim_func("softmax", (te_tensor *[]){T.x, out_sm}, 2);
    T.sumsq = te_reduce("SQ", DT_F32, &n, 1, TE_SUM, &cols, 1, test_te_square, &T);
    te_tensor *out_rms = te_compute("R", DT_F32, shape, 2, test_te_rms, &T);
    funcs[3] = te_create_prim_func("rms_norm", (te_tensor *[]){T.x, T.w, out_rms}, 3);
    te_tensor *A = te_placeholder("A", DT_F32, (mlcc_expr *[]){n, ir_int(K)}, 2);
    te_tensor *B = te_placeholder("B", DT_F32, (mlcc_expr *[]){ir_int(K), cols}, 2);
    T.x = A, T.y = B;
    te_tensor *out_mm = te_reduce("C", DT_F32, shape, 2, TE_SUM, (mlcc_expr *[]){ir_int(K)}, 1, test_te_matmul, &T);
    funcs[4] = te_create_prim_func("matmul", (te_tensor *[]){A, B, out_mm}, 3);
    /* a full reduction to one value: no spatial loop, one thread */
    T.x = te_placeholder("X", DT_F32, (mlcc_expr *[]){n, cols}, 2);
    te_tensor *total = te_reduce("T", DT_F32, NULL, 0, TE_SUM, shape, 2, test_te_x, &T);
    funcs[5] = te_create_prim_func("total", (te_tensor *[]){T.x, total}, 2);
    for (int k = 0; k < 2; k++) {
        mlcc_dtype t = k == 0 ? DT_F16 : DT_BF16;
        T.x = te_placeholder("H", t, (mlcc_expr *[]){n, cols}, 2);
        te_tensor *out = te_compute("O", t, shape, 2, silu_body, &T);
        funcs[6 + k] = te_create_prim_func(k == 0 ? "silu_f16" : "silu_bf16", (te_tensor *[]){T.x, out}, 2);
    }
    T.x = te_placeholder("H", DT_F16, (mlcc_expr *[]){n, cols}, 2);
    te_tensor *rs = te_reduce("RS", DT_F32, &n, 1, TE_SUM, &cols, 1, widen_sum_body, &T);
    funcs[8] = te_create_prim_func("rowsum_f16", (te_tensor *[]){T.x, rs}, 2);
    /* long reductions: the cross-thread rule (300 is not a multiple of the 256 threads) */
    T.x = te_placeholder("A", DT_F32, (mlcc_expr *[]){n, ir_int(WIDE_K)}, 2);
    T.y = te_placeholder("B", DT_F32, (mlcc_expr *[]){ir_int(WIDE_N), ir_int(WIDE_K)}, 2);
    te_tensor *gv = te_reduce("C", DT_F32, (mlcc_expr *[]){n, ir_int(WIDE_N)}, 2, TE_SUM, (mlcc_expr *[]){ir_int(WIDE_K)}, 1, gemv_body, &T);
    funcs[9] = te_create_prim_func("gemv_wide", (te_tensor *[]){T.x, T.y, gv}, 3);
    T.x = te_placeholder("X", DT_F32, (mlcc_expr *[]){n, ir_int(WIDE_COLS)}, 2);
    mlcc_expr *wide = ir_int(WIDE_COLS);
    te_tensor *mx = te_reduce("M", DT_F32, &n, 1, TE_MAX, &wide, 1, test_te_x, &T);
    funcs[10] = te_create_prim_func("rowmax_wide", (te_tensor *[]){T.x, mx}, 2);
    /* matmuls: 64 x 64 tiles when n > 8, the cross-thread rule below */
    T.x = te_placeholder("A", DT_F32, (mlcc_expr *[]){n, ir_int(LIN_K)}, 2);
    T.y = te_placeholder("W", DT_F32, (mlcc_expr *[]){ir_int(LIN_N), ir_int(LIN_K)}, 2);
    te_tensor *lin = te_reduce("C", DT_F32, (mlcc_expr *[]){n, ir_int(LIN_N)}, 2, TE_SUM, (mlcc_expr *[]){ir_int(LIN_K)}, 1, gemv_body, &T);
    funcs[11] = te_create_prim_func("linear", (te_tensor *[]){T.x, T.y, lin}, 3);
    T.x = te_placeholder("A", DT_F32, (mlcc_expr *[]){ir_int(2), n, ir_int(B3_K)}, 3);
    T.y = te_placeholder("W", DT_F32, (mlcc_expr *[]){ir_int(B3_N), ir_int(B3_K)}, 2);
    te_tensor *l3 = te_reduce("C", DT_F32, (mlcc_expr *[]){ir_int(2), n, ir_int(B3_N)}, 3, TE_SUM, (mlcc_expr *[]){ir_int(B3_K)}, 1,
                              linear3_body, &T);
    funcs[12] = te_create_prim_func("linear3", (te_tensor *[]){T.x, T.y, l3}, 3);
    /* rows of whole thread-block spans (2048 floats = 2 x 256 threads x 4 a thread, as
     * MLCC_CUDA_ELEMENTS_PER_THREAD=4 asks): the rows rule */
    T.x = te_placeholder("X", DT_F32, (mlcc_expr *[]){n, ir_int(2 * ROW_COLS)}, 2);
    te_tensor *ew_rows = te_compute("Z", DT_F32, (mlcc_expr *[]){n, ir_int(ROW_COLS)}, 2, halves_body, &T);
    funcs[13] = te_create_prim_func("ew_rows", (te_tensor *[]){T.x, ew_rows}, 2);
    /* half in, float32 out (prefill's q slice widens so): 8 elements a thread too */
    T.x = te_placeholder("H", DT_F16, (mlcc_expr *[]){n, cols}, 2);
    te_tensor *widened = te_compute("W32", DT_F32, shape, 2, widen_sum_body, &T);
    funcs[14] = te_create_prim_func("widen_f16", (te_tensor *[]){T.x, widened}, 2);
    /* the rows rule on halves (8 a thread: one 16-byte word) */
    T.x = te_placeholder("X", DT_F16, (mlcc_expr *[]){n, ir_int(2 * ROW_COLS)}, 2);
    te_tensor *ew_rows_h = te_compute("Z", DT_F16, (mlcc_expr *[]){n, ir_int(ROW_COLS)}, 2, halves_body, &T);
    funcs[15] = te_create_prim_func("ew_rows_f16", (te_tensor *[]){T.x, ew_rows_h}, 2);
}

/* the extent of the first loop of a kind (unrolled, vectorized) under a threadIdx binding (0 if none) */
typedef struct elements_probe {
    mlcc_for_kind kind;
    int under_thread;
    int64_t extent;
} elements_probe;

static int probe_elements(ir_visitor *v, mlcc_stmt *st) {
    elements_probe *u = v->ctx;
    if (st->kind != STMT_FOR || u->extent) return !u->extent;
    if (st->for_.kind == FOR_THREAD_BINDING && st->for_.thread_tag && !strcmp(st->for_.thread_tag, "threadIdx.x")) u->under_thread = 1;
    if (st->for_.kind == u->kind && u->under_thread && st->for_.extent->kind == EXPR_INT) u->extent = st->for_.extent->int_value;
    return 1;
}

static int64_t loop_elements(const mlcc_prim_func *f, mlcc_for_kind kind) {
    elements_probe u = {kind, 0, 0};
    ir_visitor v = {NULL, probe_elements, &u};
    ir_visit_stmt(&v, f->body);
    return u.extent;
}

static int64_t unrolled_elements(const mlcc_prim_func *f) {
    return loop_elements(f, FOR_UNROLLED);
}

/* 1 when a floordiv / floormod of the kernel source's first kernel takes the thread's index
 * (the var bound to threadIdx.x) in its dividend, 0 when none does, -1 without such a var */
static int divides_thread_index(const char *src) {
    const char *bind = strstr(src, " = (int64_t)threadIdx.x");
    if (!bind) return -1;
    const char *name = bind;
    while (name > src && name[-1] != ' ') name--;
    char var[64];
    snprintf(var, sizeof var, "%.*s", (int)(bind - name), name);
    for (const char *p = src; (p = strstr(p, "mlcc_floor")) != NULL; p++) {
        const char *open = strchr(p, '('), *q = open + 1;
        int depth = 0;
        while (*q && (depth > 0 || *q != ',')) depth += *q == '(' ? 1 : *q == ')' ? -1 : 0, q++;
        for (const char *v = open; v && v < q; v = strstr(v + 1, var))
            if (v != open && strncmp(v, var, strlen(var)) == 0) return 1;
    }
    return 0;
}

/* an elementwise block storing halves gives a thread 8 of them, coalesced; float32 outputs keep
 * one (MLCC_CUDA_ELEMENTS_PER_THREAD=N sets it); a reduction's thread keeps one row */
static void test_elements_per_thread(void) {
    mlcc_prim_func *ew = gpu_default_schedule(funcs[0]), *h = gpu_default_schedule(funcs[6]);
    mlcc_prim_func *mm = gpu_default_schedule(funcs[4]);
    CHECK_MSG(ew && h && mm, "%s", mlcc_last_error());
    if (!ew || !h || !mm) return;
    CHECK_EQ_INT((int)unrolled_elements(ew), 0);
    CHECK_EQ_INT((int)unrolled_elements(h), 8);
    mlcc_prim_func *widen = gpu_default_schedule(funcs[14]);
    CHECK(widen && unrolled_elements(widen) == 8);
    CHECK_EQ_INT((int)unrolled_elements(mm), 0);
    setenv("MLCC_CUDA_ELEMENTS_PER_THREAD", "1", 1);
    mlcc_prim_func *one = gpu_default_schedule(funcs[6]);
    unsetenv("MLCC_CUDA_ELEMENTS_PER_THREAD");
    CHECK(one && unrolled_elements(one) == 0);
    /* whole spans a row: the row is one division a block, none an element (4 floats a thread,
     * adjacent, in a vectorized loop: one 16-byte word; MLCC_CUDA_ELEMENT_WORDS=0 unrolls them
     * a block apart) */
    for (int words = 1; words >= 0; words--) {
        setenv("MLCC_CUDA_ELEMENTS_PER_THREAD", "4", 1);
        if (!words) setenv("MLCC_CUDA_ELEMENT_WORDS", "0", 1);
        mlcc_prim_func *rows = gpu_default_schedule(funcs[13]);
        unsetenv("MLCC_CUDA_ELEMENTS_PER_THREAD");
        unsetenv("MLCC_CUDA_ELEMENT_WORDS");
        CHECK_MSG(rows != NULL, "%s", mlcc_last_error());
        if (!rows) return;
        CHECK_EQ_INT((int)loop_elements(rows, words ? FOR_VECTORIZED : FOR_UNROLLED), 4);
        CHECK_EQ_INT((int)loop_elements(rows, words ? FOR_UNROLLED : FOR_VECTORIZED), 0);
        mlcc_strbuf lib = STRBUF_INIT, dev = STRBUF_INIT;
        CHECK(codegen_cuda(&rows, 1, &lib, &dev) == 0);
        const char *body = strstr(sb_cstr(&dev), "ew_rows_kernel0(");
        CHECK_MSG(body && divides_thread_index(body) == 0, "a division of the thread's index:\n%s", body ? body : sb_cstr(&dev));
        /* X's two halves and Z move as words; the serial loop stays for misaligned views */
        CHECK_EQ_INT(test_count_substr(body ? body : "", "(const uint4 *)"), words ? 3 : 0);
        sb_free(&lib), sb_free(&dev);
    }
    mlcc_prim_func *rows_h = gpu_default_schedule(funcs[15]);
    CHECK(rows_h && loop_elements(rows_h, FOR_VECTORIZED) == 8);
}

/* ---- words: which operands of a vectorized loop move as 16-byte words ----
 * Z[i, j] = X[j, i] * W[i] + X[i, j] over 64 x 64 halves, j's 8 lanes vectorized by hand: X[i, j]
 * (contiguous in the lane) and Z are words; X[j, i] (a column) and W[i] (the same for every
 * lane) stay scalar loads in the unrolled lanes. */
enum { WORD_N = 64, WORD_LANES = 8 };

static MLCCNDArray *to_device(const void *data, int ndim, const int64_t *shape, DLDataType t);
static int call(mlcc_jit_module *m, const char *name, MLCCNDArray **ts, int n);

static mlcc_expr *word_mix_body(mlcc_expr **i, void *c) {
    const test_te *t = c;
    return ir_add(ir_mul(te_load2(t->x, i[1], i[0]), te_load1(t->w, i[0])), te_load2(t->x, i[0], i[1]));
}

static mlcc_prim_func *word_mix_func(void) {
    test_te t = {0};
    mlcc_expr *n = ir_int(WORD_N);
    t.x = te_placeholder("X", DT_F16, (mlcc_expr *[]){n, n}, 2);
    t.w = te_placeholder("W", DT_F16, &n, 1);
    te_tensor *z = te_compute("Z", DT_F16, (mlcc_expr *[]){n, n}, 2, word_mix_body, &t);
    mlcc_schedule *s = sch_create(te_create_prim_func("word_mix", (te_tensor *[]){t.x, t.w, z}, 3));
    mlcc_expr **loops, *j[2], *ij[2];
    const char **blocks;
    mlcc_prim_func *f = NULL;
    if (sch_get_blocks(s, &blocks) == 1 && sch_get_loops(s, blocks[0], &loops) == 2 &&
        sch_split(s, loops[1], (int64_t[]){SCH_INFER, WORD_LANES}, 2, j) == 0) {
        mlcc_expr *fused = sch_fuse(s, (mlcc_expr *[]){loops[0], j[0]}, 2);
        if (fused && sch_split(s, fused, (int64_t[]){SCH_INFER, 64}, 2, ij) == 0 && sch_bind(s, ij[0], "blockIdx.x") == 0 &&
            sch_bind(s, ij[1], "threadIdx.x") == 0 && sch_vectorize(s, j[1]) == 0)
            f = prim_func_copy(sch_func(s));
    }
    sch_free(s);
    return f;
}

static void test_word_operands(void) {
    mlcc_prim_func *f = word_mix_func();
    CHECK_MSG(f != NULL, "%s", mlcc_last_error());
    if (!f) return;
    mlcc_strbuf lib = STRBUF_INIT, dev = STRBUF_INIT;
    CHECK_MSG(codegen_cuda(&f, 1, &lib, &dev) == 0, "%s", mlcc_last_error());
    const char *src = sb_cstr(&dev);
    /* one word load (X[i, j..]) and one word store (Z); the two scalar loads inside the lanes */
    CHECK_MSG(test_count_substr(src, "(const uint4 *)") == 2, "%s", src);
    CHECK_MSG(test_count_substr(src, "& 15)") == 2, "the alignment test of X and Z:\n%s", src);
    const char *lanes = strstr(src, "#pragma unroll");
    CHECK_MSG(lanes && strstr(lanes, "X[") && strstr(lanes, "W["), "X's column and W in the lanes:\n%s", src);
    char *ptx = NULL;
    CHECK_MSG(mlcc_nvrtc_compile_ptx(src, 90, &ptx) == 0, "%s\n%s", mlcc_last_error(), src);
    free(ptx);
    /* MLCC_CUDA_WORDS=0: the serial loop only */
    setenv("MLCC_CUDA_WORDS", "0", 1);
    mlcc_strbuf lib0 = STRBUF_INIT, dev0 = STRBUF_INIT;
    CHECK(codegen_cuda(&f, 1, &lib0, &dev0) == 0 && test_count_substr(sb_cstr(&dev0), "uint4") == 0);
    unsetenv("MLCC_CUDA_WORDS");
    sb_free(&lib0), sb_free(&dev0);
    if (mlcc_cuda_available()) { /* against float64 of the half inputs: one rounding of the result */
        mlcc_jit_module *m = mlcc_jit_build_cuda(&f, 1);
        CHECK_MSG(m != NULL, "%s", mlcc_last_error());
        int64_t shx[2] = {WORD_N, WORD_N}, shw[1] = {WORD_N}, nx = WORD_N * WORD_N;
        uint16_t hx[WORD_N * WORD_N], hw[WORD_N], hz[WORD_N * WORD_N];
        float got[WORD_N * WORD_N];
        double want[WORD_N * WORD_N];
        for (int64_t i = 0; i < nx; i++) hx[i] = mlcc_f32_to_f16(rand_float());
        for (int i = 0; i < WORD_N; i++) hw[i] = mlcc_f32_to_f16(rand_float());
        for (int i = 0; i < WORD_N; i++)
            for (int k = 0; k < WORD_N; k++)
                want[i * WORD_N + k] = (double)mlcc_f16_to_f32(hx[k * WORD_N + i]) * mlcc_f16_to_f32(hw[i]) +
                                       mlcc_f16_to_f32(hx[i * WORD_N + k]);
        MLCCNDArray *gx = to_device(hx, 2, shx, MLCC_DTYPE_F16), *gw = to_device(hw, 1, shw, MLCC_DTYPE_F16);
        MLCCNDArray *gz = to_device(NULL, 2, shx, MLCC_DTYPE_F16);
        CHECK_MSG(m && call(m, "word_mix", (MLCCNDArray *[]){gx, gw, gz}, 3) == 0, "%s", mlcc_last_error());
        CHECK(mlcc_ndarray_copy_to_bytes(gz, hz, sizeof hz) == 0);
        for (int64_t i = 0; i < nx; i++) got[i] = mlcc_f16_to_f32(hz[i]);
        CHECK_MSG(test_max_rel_error(got, want, nx) < 2e-3, "word_mix");
        mlcc_ndarray_release(gx), mlcc_ndarray_release(gw), mlcc_ndarray_release(gz);
        if (m) mlcc_jit_free(m);
    }
    sb_free(&lib), sb_free(&dev);
}

static int schedule_all(void) {
    for (int i = 0; i < NFUNCS; i++) {
        if (i == 13) setenv("MLCC_CUDA_ELEMENTS_PER_THREAD", "4", 1); /* ew_rows: the rows rule on floats */
        mlcc_prim_func *s = gpu_default_schedule(funcs[i]);
        unsetenv("MLCC_CUDA_ELEMENTS_PER_THREAD");
        CHECK_MSG(s != NULL, "%s", mlcc_last_error());
        if (!s) return -1;
        CHECK(gpu_func_has_thread_bindings(s) || i == 5);
        if (i >= 9 && i <= 12) { /* the long reductions take the cross-thread rule, the matmuls tiles too */
            mlcc_strbuf lib = STRBUF_INIT, dev = STRBUF_INIT;
            CHECK(codegen_cuda(&s, 1, &lib, &dev) == 0 && strstr(sb_cstr(&dev), "__shared__") != NULL);
            sb_free(&lib), sb_free(&dev);
        }
        funcs[i] = s;
    }
    return 0;
}

static void test_nvrtc_compiles(void) {
    mlcc_strbuf lib = STRBUF_INIT, dev = STRBUF_INIT;
    CHECK_MSG(codegen_cuda(funcs, NFUNCS, &lib, &dev) == 0, "%s", mlcc_last_error());
    CHECK(strstr(sb_cstr(&dev), "blockIdx.x") != NULL);
    CHECK(strstr(sb_cstr(&dev), "__half") != NULL && strstr(sb_cstr(&dev), "__nv_bfloat16") != NULL);
    CHECK(strstr(sb_cstr(&lib), "mlcc_fn_rms_norm") != NULL);
    char *ptx = NULL;
    int rc = mlcc_nvrtc_compile_ptx(sb_cstr(&dev), 90, &ptx);
    CHECK_MSG(rc == 0, "%s\n--- source:\n%s", mlcc_last_error(), sb_cstr(&dev));
    CHECK(ptx && strstr(ptx, ".entry softmax_kernel0") != NULL);
    free(ptx);
    /* programmatic dependent launch: every generated kernel is declared as waiting and waits */
    int declared = 0;
    CHECK_EQ_INT(pdl_check_source(sb_cstr(&dev), &declared), 0);
    CHECK(declared >= NFUNCS);
    /* the host part compiles with the system compiler too (loading it needs a device) */
    char so[] = "/tmp/mlcc_cuda_host_XXXXXX";
    int fd = mkstemp(so);
    CHECK(fd >= 0);
    if (fd >= 0) {
        close(fd);
        CHECK_MSG(mlcc_jit_compile_to_file(sb_cstr(&lib), so) == 0, "%s", mlcc_last_error());
        unlink(so);
    }
    if (getenv("MLCC_PRINT_CUDA")) printf("%s\n", sb_cstr(&dev));
    sb_free(&lib);
    sb_free(&dev);
}

/* ---- running on the device ---- */

static MLCCNDArray *to_device(const void *data, int ndim, const int64_t *shape, DLDataType t) {
    MLCCNDArray *a = mlcc_ndarray_empty(ndim, shape, t, (DLDevice){kDLCUDA, 0});
    if (a && data) mlcc_ndarray_copy_from_bytes(a, data, mlcc_ndarray_nbytes(a));
    return a;
}

static int call(mlcc_jit_module *m, const char *name, MLCCNDArray **ts, int n) {
    MLCCPackedCFunc fn = mlcc_jit_get_function(m, name);
    if (!fn) return -1;
    MLCCValue args[8], ret;
    int codes[8], ret_code;
    for (int i = 0; i < n; i++) args[i].v_tensor = &ts[i]->dl, codes[i] = MLCC_TYPE_DLTENSOR;
    return fn(args, codes, n, &ret, &ret_code, NULL);
}

static void run_size(mlcc_jit_module *m, int64_t rows) {
    mlcc_jit_module *m_lib = m;
    int64_t sh2[2] = {rows, COLS}, sh1[1] = {COLS}, sha[2] = {rows, K}, shb[2] = {K, COLS}, shr[1] = {rows};
    int64_t nx = rows * COLS;
    float *x = malloc(sizeof(float) * nx), *y = malloc(sizeof(float) * nx), *w = malloc(sizeof(float) * COLS);
    float *z = malloc(sizeof(float) * nx), *a = malloc(sizeof(float) * rows * K), *b = malloc(sizeof(float) * K * COLS);
    double *ref = malloc(sizeof(double) * nx);
    for (int64_t i = 0; i < nx; i++) x[i] = rand_float() * 3, y[i] = rand_float();
    for (int i = 0; i < COLS; i++) w[i] = rand_float();
    for (int64_t i = 0; i < rows * K; i++) a[i] = rand_float();
    for (int i = 0; i < K * COLS; i++) b[i] = rand_float();
    MLCCNDArray *dx = to_device(x, 2, sh2, MLCC_DTYPE_F32), *dy = to_device(y, 2, sh2, MLCC_DTYPE_F32);
    MLCCNDArray *dw = to_device(w, 1, sh1, MLCC_DTYPE_F32), *dz = to_device(NULL, 2, sh2, MLCC_DTYPE_F32);
    MLCCNDArray *da = to_device(a, 2, sha, MLCC_DTYPE_F32), *db = to_device(b, 2, shb, MLCC_DTYPE_F32);
    MLCCNDArray *dt = to_device(NULL, 0, NULL, MLCC_DTYPE_F32), *dr = to_device(NULL, 1, shr, MLCC_DTYPE_F32);

    CHECK_MSG(call(m, "ew", (MLCCNDArray *[]){dx, dy, dz}, 3) == 0, "%s", mlcc_last_error());
    mlcc_ndarray_copy_to_bytes(dz, z, sizeof(float) * nx);
    for (int64_t i = 0; i < nx; i++) ref[i] = (double)x[i] * y[i] + exp((double)x[i]);
    CHECK_MSG(test_max_rel_error(z, ref, nx) < 1e-6, "ew n=%lld", (long long)rows);

    CHECK_EQ_INT(call(m, "bcast", (MLCCNDArray *[]){dx, dw, dz}, 3), 0);
    mlcc_ndarray_copy_to_bytes(dz, z, sizeof(float) * nx);
    for (int64_t r = 0; r < rows; r++)
        for (int c = 0; c < COLS; c++) ref[r * COLS + c] = (double)x[r * COLS + c] - w[c];
    CHECK_MSG(test_max_rel_error(z, ref, nx) < 1e-6, "bcast n=%lld", (long long)rows);

    CHECK_MSG(call(m, "softmax", (MLCCNDArray *[]){dx, dz}, 2) == 0, "%s", mlcc_last_error());
    mlcc_ndarray_copy_to_bytes(dz, z, sizeof(float) * nx);
    for (int64_t r = 0; r < rows; r++) {
        double mx = -INFINITY, sum = 0;
        for (int c = 0; c < COLS; c++) mx = fmax(mx, x[r * COLS + c]);
        for (int c = 0; c < COLS; c++) sum += exp(x[r * COLS + c] - mx);
        for (int c = 0; c < COLS; c++) ref[r * COLS + c] = exp(x[r * COLS + c] - mx) / sum;
    }
    CHECK_MSG(test_max_rel_error(z, ref, nx) < 1e-6, "softmax n=%lld", (long long)rows);

    CHECK_MSG(call(m, "rms_norm", (MLCCNDArray *[]){dx, dw, dz}, 3) == 0, "%s", mlcc_last_error());
    mlcc_ndarray_copy_to_bytes(dz, z, sizeof(float) * nx);
    for (int64_t r = 0; r < rows; r++) {
        double ss = 0;
        for (int c = 0; c < COLS; c++) ss += (double)x[r * COLS + c] * x[r * COLS + c];
        double scale = 1 / sqrt(ss / COLS + 1e-5);
        for (int c = 0; c < COLS; c++) ref[r * COLS + c] = x[r * COLS + c] * scale * w[c];
    }
    CHECK_MSG(test_max_rel_error(z, ref, nx) < 1e-6, "rms_norm n=%lld", (long long)rows);

    CHECK_MSG(call(m, "matmul", (MLCCNDArray *[]){da, db, dz}, 3) == 0, "%s", mlcc_last_error());
    mlcc_ndarray_copy_to_bytes(dz, z, sizeof(float) * nx);
    for (int64_t r = 0; r < rows; r++)
        for (int c = 0; c < COLS; c++) {
            double s = 0;
            for (int k = 0; k < K; k++) s += (double)a[r * K + k] * b[k * COLS + c];
            ref[r * COLS + c] = s;
        }
    CHECK_MSG(test_max_rel_error(z, ref, nx) < 1e-6, "matmul n=%lld", (long long)rows);

    CHECK_MSG(call(m, "total", (MLCCNDArray *[]){dx, dt}, 2) == 0, "%s", mlcc_last_error());
    float tot;
    mlcc_ndarray_copy_to_bytes(dt, &tot, sizeof tot);
    double want = 0;
    for (int64_t i = 0; i < nx; i++) want += x[i];
    CHECK_NEAR(tot, want, 1e-4 * (1 + fabs(want)) + 1e-3);

    /* 16-bit kernels: inputs rounded to the type; the reference rounds each operation too */
    for (int k = 0; k < 2; k++) {
        uint16_t *h = malloc(2 * nx), *o = malloc(2 * nx);
        float *hf = malloc(sizeof(float) * nx), *of = malloc(sizeof(float) * nx);
        if (k == 0) mlcc_f32_to_f16_n(h, x, nx), mlcc_f16_to_f32_n(hf, h, nx);
        else mlcc_f32_to_bf16_n(h, x, nx), mlcc_bf16_to_f32_n(hf, h, nx);
        DLDataType t = k == 0 ? MLCC_DTYPE_F16 : MLCC_DTYPE_BF16;
        MLCCNDArray *dh = to_device(h, 2, sh2, t), *dout = to_device(NULL, 2, sh2, t);
        CHECK_MSG(call(m, k == 0 ? "silu_f16" : "silu_bf16", (MLCCNDArray *[]){dh, dout}, 2) == 0, "%s", mlcc_last_error());
        mlcc_ndarray_copy_to_bytes(dout, o, 2 * nx);
        if (k == 0) mlcc_f16_to_f32_n(of, o, nx);
        else mlcc_bf16_to_f32_n(of, o, nx);
        for (int64_t i = 0; i < nx; i++) ref[i] = hf[i] / (1 + exp(-(double)hf[i])) * 2;
        double err = test_max_rel_error(of, ref, nx);
        CHECK_MSG(err < (k == 0 ? 4e-3 : 3e-2), "silu %s n=%lld err %g", k ? "bf16" : "f16", (long long)rows, err);
        if (k == 0) {
            CHECK_MSG(call(m, "rowsum_f16", (MLCCNDArray *[]){dh, dr}, 2) == 0, "%s", mlcc_last_error());
            float *rs = malloc(sizeof(float) * rows);
            mlcc_ndarray_copy_to_bytes(dr, rs, sizeof(float) * rows);
            for (int64_t r = 0; r < rows; r++) {
                double s = 0;
                for (int c = 0; c < COLS; c++) s += hf[r * COLS + c];
                ref[r] = s;
            }
            CHECK_MSG(test_max_rel_error(rs, ref, rows) < 1e-6, "rowsum_f16 n=%lld", (long long)rows);
            free(rs);
        }
        mlcc_ndarray_release(dh);
        mlcc_ndarray_release(dout);
        free(h), free(o), free(hf), free(of);
    }

    {
        int64_t sa[2] = {rows, WIDE_K}, sb[2] = {WIDE_N, WIDE_K}, sc[2] = {rows, WIDE_N}, sw[2] = {rows, WIDE_COLS};
        float *ha = malloc(sizeof(float) * rows * WIDE_K), *hb = malloc(sizeof(float) * WIDE_N * WIDE_K);
        float *hw = malloc(sizeof(float) * rows * WIDE_COLS), *hc = malloc(sizeof(float) * rows * WIDE_COLS);
        double *want = malloc(sizeof(double) * rows * WIDE_COLS);
        for (int64_t i = 0; i < rows * WIDE_K; i++) ha[i] = rand_float();
        for (int64_t i = 0; i < WIDE_N * WIDE_K; i++) hb[i] = rand_float();
        for (int64_t i = 0; i < rows * WIDE_COLS; i++) hw[i] = rand_float() * 5;
        MLCCNDArray *ga = to_device(ha, 2, sa, MLCC_DTYPE_F32), *gb = to_device(hb, 2, sb, MLCC_DTYPE_F32);
        MLCCNDArray *gc = to_device(NULL, 2, sc, MLCC_DTYPE_F32), *gw = to_device(hw, 2, sw, MLCC_DTYPE_F32);
        CHECK_MSG(call(m, "gemv_wide", (MLCCNDArray *[]){ga, gb, gc}, 3) == 0, "%s", mlcc_last_error());
        mlcc_ndarray_copy_to_bytes(gc, hc, sizeof(float) * rows * WIDE_N);
        for (int64_t r = 0; r < rows; r++)
            for (int j = 0; j < WIDE_N; j++) {
                double acc = 0;
                for (int k = 0; k < WIDE_K; k++) acc += (double)ha[r * WIDE_K + k] * hb[j * WIDE_K + k];
                want[r * WIDE_N + j] = acc;
            }
        CHECK_MSG(test_max_rel_error(hc, want, rows * WIDE_N) < 1e-5, "gemv_wide n=%lld", (long long)rows);
        CHECK_MSG(call(m, "rowmax_wide", (MLCCNDArray *[]){gw, dr}, 2) == 0, "%s", mlcc_last_error());
        mlcc_ndarray_copy_to_bytes(dr, hc, sizeof(float) * rows);
        for (int64_t r = 0; r < rows; r++) {
            double best = -INFINITY;
            for (int k = 0; k < WIDE_COLS; k++) best = fmax(best, hw[r * WIDE_COLS + k]);
            want[r] = best;
        }
        CHECK_MSG(test_max_rel_error(hc, want, rows) == 0, "rowmax_wide n=%lld", (long long)rows);
        mlcc_ndarray_release(ga), mlcc_ndarray_release(gb), mlcc_ndarray_release(gc), mlcc_ndarray_release(gw);
        free(ha), free(hb), free(hw), free(hc), free(want);
    }

    for (int which = 0; which < 2; which++) {
        int64_t bt = which ? 2 : 1, kk = which ? B3_K : LIN_K, nn = which ? B3_N : LIN_N, m = bt * rows;
        float *ha = malloc(sizeof(float) * m * kk), *hw = malloc(sizeof(float) * nn * kk), *hc = malloc(sizeof(float) * m * nn);
        double *want = malloc(sizeof(double) * m * nn);
        for (int64_t i = 0; i < m * kk; i++) ha[i] = rand_float();
        for (int64_t i = 0; i < nn * kk; i++) hw[i] = rand_float();
        int64_t sa3[3] = {bt, rows, kk}, sc3[3] = {bt, rows, nn}, sa2[2] = {rows, kk}, sc2[2] = {rows, nn}, sw[2] = {nn, kk};
        MLCCNDArray *ga = which ? to_device(ha, 3, sa3, MLCC_DTYPE_F32) : to_device(ha, 2, sa2, MLCC_DTYPE_F32);
        MLCCNDArray *gc = which ? to_device(NULL, 3, sc3, MLCC_DTYPE_F32) : to_device(NULL, 2, sc2, MLCC_DTYPE_F32);
        MLCCNDArray *gw = to_device(hw, 2, sw, MLCC_DTYPE_F32);
        const char *name = which ? "linear3" : "linear";
        CHECK_MSG(call(m_lib, name, (MLCCNDArray *[]){ga, gw, gc}, 3) == 0, "%s", mlcc_last_error());
        mlcc_ndarray_copy_to_bytes(gc, hc, sizeof(float) * m * nn);
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < nn; j++) {
                double acc = 0;
                for (int64_t k = 0; k < kk; k++) acc += (double)ha[i * kk + k] * hw[j * kk + k];
                want[i * nn + j] = acc;
            }
        CHECK_MSG(test_max_rel_error(hc, want, m * nn) < 1e-5, "%s n=%lld", name, (long long)rows);
        mlcc_ndarray_release(ga), mlcc_ndarray_release(gc), mlcc_ndarray_release(gw);
        free(ha), free(hw), free(hc), free(want);
    }

    {
        /* the rows rule: 2048 columns, two blocks a row */
        int64_t shx[2] = {rows, 2 * ROW_COLS}, shw[2] = {rows, ROW_COLS}, nw = rows * ROW_COLS;
        float *hx = malloc(sizeof(float) * 2 * nw), *hz = malloc(sizeof(float) * nw);
        double *want = malloc(sizeof(double) * nw);
        for (int64_t i = 0; i < 2 * nw; i++) hx[i] = rand_float();
        for (int64_t r = 0; r < rows; r++)
            for (int j = 0; j < ROW_COLS; j++) {
                double x = hx[r * 2 * ROW_COLS + j], y = hx[r * 2 * ROW_COLS + ROW_COLS + j];
                want[r * ROW_COLS + j] = x * y + exp(x);
            }
        MLCCNDArray *gx = to_device(hx, 2, shx, MLCC_DTYPE_F32), *gz = to_device(NULL, 2, shw, MLCC_DTYPE_F32);
        CHECK_MSG(call(m, "ew_rows", (MLCCNDArray *[]){gx, gz}, 2) == 0, "%s", mlcc_last_error());
        CHECK(mlcc_ndarray_copy_to_bytes(gz, hz, sizeof(float) * nw) == 0);
        CHECK_MSG(test_max_rel_error(hz, want, nw) < 1e-5, "ew_rows n=%lld", (long long)rows);
        mlcc_ndarray_release(gx), mlcc_ndarray_release(gz);
        free(hx), free(hz), free(want);
    }

    for (int shift = 0; shift < 2; shift++) {
        /* the rows rule on halves: 16-byte words; views one element in (misaligned) take the
         * serial loop. Against float64 of the rounded inputs: one float16 rounding of the result. */
        int64_t shx[2] = {rows, 2 * ROW_COLS}, shw[2] = {rows, ROW_COLS}, nw = rows * ROW_COLS;
        uint16_t *hx = malloc(sizeof(uint16_t) * (2 * nw + 1)), *hz = malloc(sizeof(uint16_t) * nw);
        double *want = malloc(sizeof(double) * nw);
        float *got = malloc(sizeof(float) * nw);
        for (int64_t i = 0; i < 2 * nw + 1; i++) hx[i] = mlcc_f32_to_f16(rand_float());
        const uint16_t *x0 = hx + shift;
        for (int64_t r = 0; r < rows; r++)
            for (int j = 0; j < ROW_COLS; j++) {
                double x = mlcc_f16_to_f32(x0[r * 2 * ROW_COLS + j]), y = mlcc_f16_to_f32(x0[r * 2 * ROW_COLS + ROW_COLS + j]);
                want[r * ROW_COLS + j] = x * y + exp(x);
            }
        int64_t whole_x = 2 * nw + 1, whole_z = nw + 1;
        MLCCNDArray *bx = to_device(hx, 1, &whole_x, MLCC_DTYPE_F16), *bz = to_device(NULL, 1, &whole_z, MLCC_DTYPE_F16);
        MLCCNDArray *gx = mlcc_ndarray_view(bx, 2 * shift, 2, shx, MLCC_DTYPE_F16);
        MLCCNDArray *gz = mlcc_ndarray_view(bz, 2 * shift, 2, shw, MLCC_DTYPE_F16);
        CHECK_MSG(gx && gz && call(m, "ew_rows_f16", (MLCCNDArray *[]){gx, gz}, 2) == 0, "%s", mlcc_last_error());
        CHECK(gz && mlcc_ndarray_copy_to_bytes(gz, hz, sizeof(uint16_t) * nw) == 0);
        for (int64_t i = 0; i < nw; i++) got[i] = mlcc_f16_to_f32(hz[i]);
        CHECK_MSG(test_max_rel_error(got, want, nw) < 1e-3, "ew_rows_f16 n=%lld shift %d", (long long)rows, shift);
        mlcc_ndarray_release(gx), mlcc_ndarray_release(gz), mlcc_ndarray_release(bx), mlcc_ndarray_release(bz);
        free(hx), free(hz), free(want), free(got);
    }

    if (rows == 7) {
        /* a CPU tensor, a wrong shape: errors, never a launch on bad memory */
        MLCCNDArray *cpu = mlcc_ndarray_empty(2, sh2, MLCC_DTYPE_F32, MLCC_CPU);
        CHECK(call(m, "ew", (MLCCNDArray *[]){dx, cpu, dz}, 3) != 0);
        CHECK_MSG(strstr(mlcc_last_error(), "CUDA device") != NULL, "%s", mlcc_last_error());
        CHECK(call(m, "matmul", (MLCCNDArray *[]){dx, db, dz}, 3) != 0);
        CHECK_MSG(strstr(mlcc_last_error(), "A.shape[1]") != NULL, "%s", mlcc_last_error());
        mlcc_ndarray_release(cpu);
    }
    MLCCNDArray *all[] = {dx, dy, dw, dz, da, db, dt, dr};
    for (int i = 0; i < 8; i++) mlcc_ndarray_release(all[i]);
    free(x), free(y), free(w), free(z), free(a), free(b), free(ref);
}

static void test_run(void) {
    mlcc_jit_module *m = mlcc_jit_build_cuda(funcs, NFUNCS);
    CHECK_MSG(m != NULL, "%s", mlcc_last_error());
    if (!m) return;
    int64_t sizes[] = {1, 7, 33, 1000};
    for (int i = 0; i < 4; i++) run_size(m, sizes[i]);
    CHECK_EQ_INT(mlcc_cuda_synchronize(0), 0);
    mlcc_jit_free(m);
}

int main(void) {
    if (!mlcc_nvrtc_available()) TEST_SKIP("%s", mlcc_nvrtc_status());
    ir_scope_begin();
    build_kernels();
    test_elements_per_thread();
    test_word_operands();
    if (schedule_all() == 0) {
        test_nvrtc_compiles();
        if (mlcc_cuda_available()) test_run();
        else printf("running part skipped: %s\n", mlcc_cuda_status());
    }
    ir_scope_end();
    return test_finish();
}
