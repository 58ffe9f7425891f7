/* bench_vulkan.c - generated Vulkan kernels on a Vulkan device against the memory floor
 * measured in the same run (a device-to-device copy of the same bytes), as bench_cuda.c does
 * for CUDA: the decode GEMV of a Llama-3-8B MLP (y[1, 14336] = x[1, 4096] @ W[14336, 4096]^T,
 * float32 weights, then float16 weights) under the default GPU rules (cross-thread reduction;
 * one thread per output), and the prefill GEMM (2048 rows, the tiled matmul rule); and
 * mlcc.vulkan.linear_f16, what q0f16 models run (BENCH_LINEAR_ONLY=1: that alone).
 * With MLCC_VULKAN_PROFILE=1 the device's own timestamps are printed too.
 *
 * build: make build && cc -O2 -Iinclude -Isrc bench/bench_vulkan.c -Lbuild -lmlcc \
 *        -lmlcc_runtime -lm -Wl,-rpath,$PWD/build -o build/bench_vulkan
 * run:   build/bench_vulkan [N]      (vulkan:N, default 0; prints one line per kernel) */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "codegen/codegen_vulkan.h"
#include "codegen/jit.h"
#include "runtime/vulkan.h"
#include "schedule/gpu_rules.h"
#include "support/clock.h"
#include "support/error.h"
#include "te/te.h"

enum { K = 4096, N = 14336, REPS = 50 };

static te_tensor *X, *W;
static int dev_id;

static mlcc_expr *gemv_body(mlcc_expr **i, void *c) {
    (void)c;
    mlcc_expr *w = te_load2(W, i[1], i[2]), *x = te_load2(X, i[0], i[2]);
    if (w->dtype.bits != 32) w = ir_cast(DT_F32, w);
    if (x->dtype.bits != 32) x = ir_cast(DT_F32, x);
    return ir_mul(x, w);
}

static mlcc_jit_module *build(mlcc_prim_func **funcs, int n) {
    mlcc_strbuf src = STRBUF_INIT;
    mlcc_jit_module *m = NULL;
    if (codegen_vulkan(funcs, n, &src, NULL) == 0) m = mlcc_jit_compile_source(sb_cstr(&src));
    sb_free(&src);
    return m;
}

static double time_call(MLCCPackedCFunc fn, DLTensor **ts, int n) {
    MLCCValue args[4], ret;
    int codes[4], rc;
    for (int i = 0; i < n; i++) args[i].v_tensor = ts[i], codes[i] = MLCC_TYPE_DLTENSOR;
    if (fn(args, codes, n, &ret, &rc, NULL) != 0) { /* warm-up: compiles and loads */
        fprintf(stderr, "%s\n", mlcc_last_error());
        exit(1);
    }
    mlcc_vulkan_synchronize(dev_id);
    double t0 = mlcc_now_seconds();
    for (int r = 0; r < REPS; r++) fn(args, codes, n, &ret, &rc, NULL);
    mlcc_vulkan_synchronize(dev_id);
    return (mlcc_now_seconds() - t0) / REPS;
}

static void bench_gemv(mlcc_dtype wt, double floor_bw) {
    mlcc_expr *one = ir_int(1);
    X = te_placeholder("x", DT_F32, (mlcc_expr *[]){one, ir_int(K)}, 2);
    W = te_placeholder("w", wt, (mlcc_expr *[]){ir_int(N), ir_int(K)}, 2);
    te_tensor *Y = te_reduce("y", DT_F32, (mlcc_expr *[]){one, ir_int(N)}, 2, TE_SUM, (mlcc_expr *[]){ir_int(K)}, 1,
                             gemv_body, NULL);
    mlcc_prim_func *f = te_create_prim_func("gemv", (te_tensor *[]){X, W, Y}, 3);
    mlcc_prim_func *cross = gpu_default_schedule(f), *serial = gpu_default_schedule_ex(f, INT64_MAX);
    serial->name = "gemv_thread_per_output";
    mlcc_prim_func *funcs[2] = {cross, serial};
    mlcc_jit_module *m = build(funcs, 2);
    if (!m) {
        fprintf(stderr, "gemv: %s\n", mlcc_last_error());
        return;
    }
    DLDevice gpu = {kDLVulkan, dev_id};
    DLDataType wdt = wt.bits == 16 ? MLCC_DTYPE_F16 : MLCC_DTYPE_F32;
    MLCCNDArray *x = mlcc_ndarray_empty(2, (int64_t[]){1, K}, MLCC_DTYPE_F32, gpu);
    MLCCNDArray *w = mlcc_ndarray_empty(2, (int64_t[]){N, K}, wdt, gpu);
    MLCCNDArray *y = mlcc_ndarray_empty(2, (int64_t[]){1, N}, MLCC_DTYPE_F32, gpu);
    mlcc_vulkan_memset(dev_id, w->dl.data, 0, mlcc_ndarray_nbytes(w));
    mlcc_vulkan_memset(dev_id, x->dl.data, 0, mlcc_ndarray_nbytes(x));
    double bytes = (double)mlcc_ndarray_nbytes(w);
    const char *names[2] = {"gemv", "gemv_thread_per_output"};
    for (int i = 0; i < 2; i++) {
        double t = time_call(mlcc_jit_get_function(m, names[i]), (DLTensor *[]){&x->dl, &w->dl, &y->dl}, 3);
        printf("%-24s [1,%d] @ [%d,%d]^T %s weights: %.3f ms, %.0f GB/s = %.1f%% of the copy rate\n", names[i], K, N, K,
               wt.bits == 16 ? "f16" : "f32", t * 1e3, bytes / t / 1e9, 100 * (bytes / t) / floor_bw);
    }
    mlcc_ndarray_release(x), mlcc_ndarray_release(w), mlcc_ndarray_release(y);
    mlcc_jit_free(m);
}

/* Prefill GEMM: y[2048, 14336] = x[2048, 4096] @ W[14336, 4096]^T (the tiled matmul rule). */
static void bench_prefill_gemm(void) {
    mlcc_expr *n = ir_size_var("n");
    X = te_placeholder("x", DT_F32, (mlcc_expr *[]){n, ir_int(K)}, 2);
    W = te_placeholder("w", DT_F32, (mlcc_expr *[]){ir_int(N), ir_int(K)}, 2);
    te_tensor *Y = te_reduce("y", DT_F32, (mlcc_expr *[]){n, ir_int(N)}, 2, TE_SUM, (mlcc_expr *[]){ir_int(K)}, 1,
                             gemv_body, NULL);
    mlcc_prim_func *f = gpu_default_schedule(te_create_prim_func("linear", (te_tensor *[]){X, W, Y}, 3));
    mlcc_jit_module *m = f ? build(&f, 1) : NULL;
    if (!m) {
        fprintf(stderr, "gemm: %s\n", mlcc_last_error());
        return;
    }
    DLDevice gpu = {kDLVulkan, dev_id};
    int64_t rows = 2048;
    MLCCNDArray *x = mlcc_ndarray_empty(2, (int64_t[]){rows, K}, MLCC_DTYPE_F32, gpu);
    MLCCNDArray *w = mlcc_ndarray_empty(2, (int64_t[]){N, K}, MLCC_DTYPE_F32, gpu);
    MLCCNDArray *y = mlcc_ndarray_empty(2, (int64_t[]){rows, N}, MLCC_DTYPE_F32, gpu);
    mlcc_vulkan_memset(dev_id, x->dl.data, 0, mlcc_ndarray_nbytes(x));
    mlcc_vulkan_memset(dev_id, w->dl.data, 0, mlcc_ndarray_nbytes(w));
    double t = time_call(mlcc_jit_get_function(m, "linear"), (DLTensor *[]){&x->dl, &w->dl, &y->dl}, 3);
    printf("linear (tiled) [%lld,%d] @ [%d,%d]^T f32: %.3f ms, %.1f TFLOP/s\n", (long long)rows, K, N, K, t * 1e3,
           2.0 * rows * K * N / t / 1e12);
    mlcc_ndarray_release(x), mlcc_ndarray_release(w), mlcc_ndarray_release(y);
    mlcc_jit_free(m);
}

/* mlcc.vulkan.linear_f16 (runtime/vulkan_linear.c), the kernel q0f16 models run: the GEMV at 1, 4
 * and 16 rows (one pass over W), the LM head of Llama-3 (128256 x 4096) at 1 row, and the tiled
 * GEMM at 512 and 2048 rows. */
static void bench_linear_f16(double floor_bw) {
    DLDevice gpu = {kDLVulkan, dev_id};
    const int64_t outs[2] = {N, 128256};
    const int64_t rows_of[6] = {1, 4, 16, 1, 512, 2048};
    for (int c = 0; c < 6; c++) {
        int64_t rows = rows_of[c], out = outs[c == 3];
        MLCCNDArray *x = mlcc_ndarray_empty(2, (int64_t[]){rows, K}, MLCC_DTYPE_F32, gpu);
        MLCCNDArray *w = mlcc_ndarray_empty(2, (int64_t[]){out, K}, MLCC_DTYPE_F16, gpu);
        MLCCNDArray *y = mlcc_ndarray_empty(2, (int64_t[]){rows, out}, MLCC_DTYPE_F32, gpu);
        if (!x || !w || !y) {
            fprintf(stderr, "linear_f16: %s\n", mlcc_last_error());
            return;
        }
        mlcc_vulkan_memset(dev_id, w->dl.data, 0x3c, mlcc_ndarray_nbytes(w)); /* 1.0009765625 */
        mlcc_vulkan_memset(dev_id, x->dl.data, 0x3c, mlcc_ndarray_nbytes(x));
        int reps = rows >= 512 ? 5 : REPS;
        if (mlcc_vulkan_linear_f16(dev_id, x->dl.data, w->dl.data, y->dl.data, rows, out, K) != 0 || /* warm-up: compiles */
            mlcc_vulkan_synchronize(dev_id) != 0) {
            fprintf(stderr, "linear_f16 %lld x %lld: %s\n", (long long)rows, (long long)out, mlcc_last_error());
            mlcc_ndarray_release(x), mlcc_ndarray_release(w), mlcc_ndarray_release(y);
            continue;
        }
        double t0 = mlcc_now_seconds();
        for (int r = 0; r < reps; r++) mlcc_vulkan_linear_f16(dev_id, x->dl.data, w->dl.data, y->dl.data, rows, out, K);
        mlcc_vulkan_synchronize(dev_id);
        double t = (mlcc_now_seconds() - t0) / reps, bytes = (double)mlcc_ndarray_nbytes(w);
        if (rows <= 16)
            printf("linear_f16 GEMV [%lld,%d] @ [%lld,%d]^T f16: %.3f ms, %.0f GB/s of weights = %.1f%% of the shader copy rate\n",
                   (long long)rows, K, (long long)out, K, t * 1e3, bytes / t / 1e9, 100 * bytes / t / floor_bw);
        else
            printf("linear_f16 GEMM [%lld,%d] @ [%lld,%d]^T f16: %.3f ms, %.1f TFLOP/s\n", (long long)rows, K, (long long)out,
                   K, t * 1e3, 2.0 * rows * K * out / t / 1e12);
        mlcc_ndarray_release(x), mlcc_ndarray_release(w), mlcc_ndarray_release(y);
    }
}

int main(int argc, char **argv) {
    dev_id = argc > 1 ? atoi(argv[1]) : 0;
    if (!mlcc_vulkan_available()) {
        printf("no Vulkan device: %s\n", mlcc_vulkan_status());
        return 0;
    }
    printf("%s\n", mlcc_vulkan_status());
    ir_scope_begin();
    DLDevice gpu = {kDLVulkan, dev_id};
    MLCCNDArray *a = mlcc_ndarray_empty(2, (int64_t[]){N, K}, MLCC_DTYPE_F32, gpu);
    MLCCNDArray *b = mlcc_ndarray_empty(2, (int64_t[]){N, K}, MLCC_DTYPE_F32, gpu);
    if (!a || !b) {
        fprintf(stderr, "%s\n", mlcc_last_error());
        return 1;
    }
    double bytes = (double)N * K * 4;
    /* the floor: a copy reads and writes the weight bytes */
    mlcc_vulkan_memset(dev_id, a->dl.data, 0, mlcc_ndarray_nbytes(a));
    mlcc_ndarray_copy(b, a);
    mlcc_vulkan_synchronize(dev_id);
    double t0 = mlcc_now_seconds();
    for (int r = 0; r < REPS; r++) mlcc_ndarray_copy(b, a);
    mlcc_vulkan_synchronize(dev_id);
    double copy = (mlcc_now_seconds() - t0) / REPS, floor_bw = 2 * bytes / copy;
    printf("device copy of %.0f MB: %.3f ms, %.0f GB/s (read + write)\n", bytes / 1e6, copy * 1e3, floor_bw / 1e9);
    mlcc_ndarray_release(a), mlcc_ndarray_release(b);
    double shader_bw = mlcc_vulkan_copy_bandwidth(dev_id, (size_t)1 << 30, 5);
    printf("shader copy of 1024 MiB (mlcc_vulkan_copy_bandwidth, the floor of mlcc bench): %.0f GB/s (read + write)\n",
           shader_bw / 1e9);
    if (shader_bw > floor_bw) floor_bw = shader_bw;
    bench_linear_f16(floor_bw);
    if (getenv("BENCH_LINEAR_ONLY")) {
        if (getenv("MLCC_VULKAN_PROFILE")) mlcc_vulkan_profile_report(stdout);
        return 0;
    }
    bench_gemv(DT_F32, floor_bw);
    bench_gemv(DT_F16, floor_bw);
    bench_prefill_gemm();
    if (getenv("MLCC_VULKAN_PROFILE")) mlcc_vulkan_profile_report(stdout);
    ir_scope_end();
    return 0;
}
