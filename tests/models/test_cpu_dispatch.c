/* test_cpu_dispatch.c - the CPU build's library dispatch of float32 projections (issue 19):
 *   - the rule: cpu_dispatch turns `linear(x, w)` of a model-sized float32 weight parameter
 *     into call_dps_packed mlcc.cpu.sgemm; a small weight, or one computed in the graph (a
 *     float16 weight's dequantize), keeps the kernel; MLCC_CPU_BLAS=1 dispatches every float32
 *     weight, MLCC_CPU_BLAS=0 none;
 *   - the packed function on a compiled graph at several row counts, through OpenBLAS and
 *     through the compiled kernel (MLCC_CPU_BLAS=0 at run time), against float64;
 *   - OpenBLAS missing (MLCC_CPU_BLAS_LIB naming no file, in a child process): the same
 *     results bit for bit as the kernel, and an info line saying why;
 *   - f32 fixtures (hf-tiny llama, qwen2, gemma2; q-llama-f32.gguf) compiled with the dispatch
 *     forced on: prefill logits within 1e-5 (relative) of the compiled path.
 * Without OpenBLAS the OpenBLAS comparisons skip (the fallback checks still run). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "codegen/build.h"
#include "ir/block_builder.h"
#include "models/model.h"
#include "op/op.h"
#include "runtime/cpu_blas.h"
#include "support/error.h"
#include "support/file.h"
#include "support/json.h"
#include "support/log.h"
#include "tensor_util.h"
#include "transform/pass.h"
#include "test.h"

enum { IN = 72, OUT = 48, BOUND = 64 };

/* main(x[n, in], w[out, in]) = silu(x @ w^T); w float32, or float16 cast up in the graph. */
static mlcc_ir_module *linear_module(int64_t in, int64_t out, int f16) {
    mlcc_expr *n = ir_size_var("n");
    rx_expr *x = rx_var("x", rx_sinfo_tensor_v(DT_F32, n, ir_int(in), NULL));
    rx_expr *w = rx_var("w", rx_sinfo_tensor_v(f16 ? DT_F16 : DT_F32, ir_int(out), ir_int(in), NULL));
    mlcc_ir_module *mod = irmod_new();
    rx_builder *bb = bb_new(mod);
    bb_begin_function(bb, "main", (rx_expr *[]){x, w}, 2);
    rx_attrs none = {NULL, 0};
    bb_set_function_attrs(bb, rx_attrs_set_int(none, "var_upper_bound:n", BOUND));
    bb_begin_dataflow(bb);
    rx_expr *w32 = f16 ? bb_emit(bb, op_dequantize(w, NULL, 0, 0, 0, in), "w32") : w;
    rx_expr *y = bb_emit(bb, op_linear(x, w32), "y");
    rx_expr *res = bb_emit_output(bb, op_unary("nn.silu", y), "out");
    bb_end_dataflow(bb);
    CHECK_MSG(bb_end_function(bb, res) != NULL, "%s", bb_error(bb));
    bb_free(bb);
    return mod;
}

/* 1 when the C build of mod (under MLCC_CPU_BLAS=mode, NULL: unset) calls mlcc.cpu.sgemm. */
static int dispatched(mlcc_ir_module *mod, const char *mode) {
    if (mode) setenv("MLCC_CPU_BLAS", mode, 1);
    else unsetenv("MLCC_CPU_BLAS");
    char *src = mlcc_build_source_target(mod, NULL, "c");
    CHECK_MSG(src != NULL, "%s", mlcc_last_error());
    int found = src && strstr(src, "mlcc.cpu.sgemm") != NULL;
    free(src);
    unsetenv("MLCC_CPU_BLAS");
    return found;
}

static void check_rule(void) {
    mlcc_ir_module *big = linear_module(CPU_DISPATCH_MIN_IN, CPU_DISPATCH_MIN_OUT, 0);
    mlcc_ir_module *narrow = linear_module(CPU_DISPATCH_MIN_IN, CPU_DISPATCH_MIN_OUT / 4, 0);
    mlcc_ir_module *f16 = linear_module(CPU_DISPATCH_MIN_IN, CPU_DISPATCH_MIN_OUT, 1);
    CHECK_MSG(dispatched(big, NULL), "a %dx%d float32 weight is not dispatched", CPU_DISPATCH_MIN_OUT, CPU_DISPATCH_MIN_IN);
    CHECK_MSG(!dispatched(big, "0"), "MLCC_CPU_BLAS=0 still dispatches");
    CHECK_MSG(!dispatched(narrow, NULL), "a narrow weight is dispatched by the rule");
    CHECK_MSG(dispatched(narrow, "1"), "MLCC_CPU_BLAS=1 does not dispatch a narrow weight");
    CHECK_MSG(!dispatched(f16, "1"), "a float16 weight's dequantize is dispatched to sgemm");
}

/* Runs main(x, w) of vm with n random rows into y (n x OUT); 0 or -1. */
static int run_linear(MLCCVM *vm, int64_t n, const float *x, const float *w, float *y) {
    int64_t sx[2] = {n, IN}, sw[2] = {OUT, IN};
    MLCCNDArray *hx = mlcc_ndarray_empty(2, sx, MLCC_DTYPE_F32, MLCC_CPU), *hw = mlcc_ndarray_empty(2, sw, MLCC_DTYPE_F32, MLCC_CPU);
    memcpy(hx->dl.data, x, sizeof(float) * (size_t)(n * IN));
    memcpy(hw->dl.data, w, sizeof(float) * (size_t)(OUT * IN));
    MLCCValue a[2], r;
    int codes[2] = {MLCC_TYPE_OBJECT, MLCC_TYPE_OBJECT}, rc_code;
    a[0].v_handle = hx, a[1].v_handle = hw;
    int rc = mlcc_vm_invoke(vm, "main", a, codes, 2, &r, &rc_code);
    if (rc == 0) {
        MLCCNDArray *out = r.v_handle;
        memcpy(y, out->dl.data, sizeof(float) * (size_t)(n * OUT));
        mlcc_ndarray_release(out);
    }
    mlcc_ndarray_release(hx), mlcc_ndarray_release(hw);
    return rc;
}

static const int64_t row_counts[] = {1, 3, 17, 64};

/* The graph built with the dispatch forced on; each row count run through the kernel
 * (MLCC_CPU_BLAS=0 at run time) and the rule (min_rows 1: OpenBLAS when it loads) against
 * float64. same_bits: the two must agree bit for bit (OpenBLAS missing). Returns failures. */
static int check_graph(int same_bits) {
    int failed_before = test_checks_failed;
    setenv("MLCC_CPU_BLAS", "1", 1);
    MLCCVM *vm = mlcc_build_vm(linear_module(IN, OUT, 0), NULL);
    unsetenv("MLCC_CPU_BLAS");
    CHECK_MSG(vm != NULL, "%s", mlcc_last_error());
    for (int i = 0; vm && i < (int)(sizeof row_counts / sizeof row_counts[0]); i++) {
        int64_t n = row_counts[i];
        float *x = malloc(sizeof(float) * (size_t)(n * IN)), *w = malloc(sizeof(float) * OUT * IN);
        float *by_kernel = malloc(sizeof(float) * (size_t)(n * OUT)), *by_rule = malloc(sizeof(float) * (size_t)(n * OUT));
        double *ref = malloc(sizeof(double) * (size_t)(n * OUT));
        for (int64_t j = 0; j < n * IN; j++) x[j] = test_rand_float();
        for (int64_t j = 0; j < OUT * IN; j++) w[j] = test_rand_float();
        for (int64_t r = 0; r < n; r++)
            for (int64_t o = 0; o < OUT; o++) {
                double s = 0;
                for (int64_t k = 0; k < IN; k++) s += (double)x[r * IN + k] * w[o * IN + k];
                ref[r * OUT + o] = s / (1 + exp(-s));
            }
        setenv("MLCC_CPU_BLAS", "0", 1);
        int rc = run_linear(vm, n, x, w, by_kernel);
        unsetenv("MLCC_CPU_BLAS");
        rc = rc || run_linear(vm, n, x, w, by_rule);
        CHECK_MSG(rc == 0, "n=%lld: %s", (long long)n, mlcc_last_error());
        if (rc == 0) {
            double ek = test_max_rel_error(by_kernel, ref, n * OUT), er = test_max_rel_error(by_rule, ref, n * OUT);
            printf("n=%lld: kernel %.3g, %s %.3g (vs float64)\n", (long long)n, ek, same_bits ? "fallback" : "OpenBLAS", er);
            CHECK_MSG(ek < 1e-5 && er < 1e-5, "n=%lld: kernel %g, dispatched %g", (long long)n, ek, er);
            if (same_bits)
                CHECK_MSG(memcmp(by_kernel, by_rule, sizeof(float) * (size_t)(n * OUT)) == 0, "n=%lld: the fallback is not the kernel",
                          (long long)n);
        }
        free(x), free(w), free(by_kernel), free(by_rule), free(ref);
    }
    mlcc_vm_free(vm);
    return test_checks_failed - failed_before;
}

/* In a child (OpenBLAS is loaded once per process): a library file that does not exist; the
 * calls fall back to the kernel and an info line on stderr says why. */
static void check_fallback(void) {
    char log_path[] = "/tmp/mlcc-cpu-dispatch-XXXXXX";
    int fd = mkstemp(log_path);
    CHECK(fd >= 0);
    if (fd < 0) return;
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fd, 2);
        setenv("MLCC_CPU_BLAS_LIB", "/nonexistent/libopenblas.so.0", 1);
        mlcc_log_set_level(MLCC_LOG_INFO);
        int failures = check_graph(1);
        CHECK(mlcc_cpu_blas_name() == NULL);
        fflush(stdout);
        _exit(failures || mlcc_cpu_blas_name() ? 1 : 0);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    size_t len = 0;
    char *log = mlcc_read_file(log_path, &len);
    CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the fallback run failed (status %d):\n%s", status, log ? log : "");
    CHECK_MSG(log && strstr(log, "OpenBLAS not loaded") && strstr(log, "compiled kernels"), "no info line: %s", log ? log : "?");
    free(log);
    close(fd);
    unlink(log_path);
}

/* Prefill logits of a fixture compiled under MLCC_CPU_BLAS=mode; NULL on failure. */
static MLCCNDArray *prefill(const char *path, const char *mode, const int32_t *ids, int n) {
    setenv("MLCC_CPU_BLAS", mode, 1);
    mlcc_model_options opt = {.max_seq = 128, .prefill_chunk = 64, .logit_rows = 64};
    mlcc_model *m = mlcc_model_open(path, &opt);
    CHECK_MSG(m != NULL, "%s: %s", path, mlcc_last_error());
    MLCCNDArray *logits = NULL;
    if (m) {
        /* the dispatch on: calls at run time go to OpenBLAS (unset = the rule, min_rows 1) */
        if (!strcmp(mode, "1")) unsetenv("MLCC_CPU_BLAS");
        CHECK_MSG(mlcc_model_prefill(m, ids, n, &logits) == 0, "%s: %s", path, mlcc_last_error());
        mlcc_model_free(m);
    }
    unsetenv("MLCC_CPU_BLAS");
    return logits;
}

static void check_fixture(const char *rel, const char *meta_rel) {
    char *path = test_data_path(rel), *meta_path = test_data_path(meta_rel);
    json_t *meta = mlcc_json_load_file(meta_path);
    CHECK_MSG(meta != NULL, "%s", mlcc_last_error());
    json_t *toks = json_object_get(meta, "tokens");
    int32_t ids[64];
    int n = (int)json_array_size(toks);
    if (n > 64) n = 64;
    for (int i = 0; i < n; i++) ids[i] = (int32_t)json_integer_value(json_array_get(toks, (size_t)i));
    json_decref(meta);
    MLCCNDArray *want = n ? prefill(path, "0", ids, n) : NULL, *got = want ? prefill(path, "1", ids, n) : NULL;
    if (want && got) {
        int64_t count = want->dl.shape[0] * want->dl.shape[1];
        const float *a = got->dl.data, *b = want->dl.data;
        double mx = 0, diff = 0;
        for (int64_t i = 0; i < count; i++) mx = fmax(mx, fabs(b[i])), diff = fmax(diff, fabs((double)a[i] - b[i]));
        printf("%-28s %d tokens: OpenBLAS vs compiled, max rel difference %.3g\n", rel, n, diff / mx);
        CHECK_MSG(diff <= 1e-5 * mx, "%s: dispatched logits differ by %g (relative)", rel, diff / mx);
    }
    mlcc_ndarray_release(want), mlcc_ndarray_release(got);
    free(path), free(meta_path);
}

int main(void) {
    check_fallback(); /* first: the child must not inherit a loaded OpenBLAS */
    check_rule();
    if (!mlcc_cpu_blas_sgemm()) TEST_SKIP("OpenBLAS does not load (libopenblas.so.0): only the fallback was checked");
    printf("OpenBLAS: %s\n", mlcc_cpu_blas_name());
    check_graph(0);
    check_fixture("hf-tiny/llama", "hf-tiny/llama/meta.json");
    check_fixture("hf-tiny/qwen2", "hf-tiny/qwen2/meta.json");
    check_fixture("hf-tiny/gemma2", "hf-tiny/gemma2/meta.json");
    check_fixture("gguf/q-llama-f32.gguf", "gguf/q-llama-f32.meta.json");
    return test_finish();
}
