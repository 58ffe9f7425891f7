/* bench_cuda.c - generated CUDA kernels on the GPU against the memory floor measured in the
 * same run (a device-to-device copy of the same bytes): the decode GEMV of a Llama-3-8B MLP
 * (y[1, 14336] = x[1, 4096] @ W[14336, 4096]^T, float32 weights) under the two default GPU
 * rules (cross-thread reduction; one thread per output), and the paged decode attention of one
 * Llama-3-8B layer (32 query heads, 8 KV heads, head_dim 128, pages of 16) over a 4096-token
 * context at several KV splits.
 *
 * build: make build && cc -O2 -Iinclude -Isrc bench/bench_cuda.c -Lbuild -lmlcc \
 *        -lmlcc_runtime -lm -Wl,-rpath,$PWD/build -o build/bench_cuda
 * run:   build/bench_cuda            (needs a CUDA device; prints one line per kernel) */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "codegen/codegen_cuda.h"
#include "codegen/jit.h"
#include "gen/attention.h"
#include "runtime/cuda.h"
#include "schedule/gpu_rules.h"
#include "support/clock.h"
#include "support/error.h"
#include "te/te.h"

enum { K = 4096, N = 14336, REPS = 50 };

static te_tensor *X, *W;

static mlcc_expr *gemv_body(mlcc_expr **i, void *c) {
    (void)c;
    return ir_mul(te_load2(X, i[0], i[2]), te_load2(W, i[1], i[2]));
}

static double time_packed(MLCCPackedCFunc fn, MLCCValue *args, int *codes, int n) {
    MLCCValue ret;
    int rc;
    fn(args, codes, n, &ret, &rc, NULL); /* warm-up: compiles and loads */
    mlcc_cuda_synchronize(0);
    double t0 = mlcc_now_seconds();
    for (int r = 0; r < REPS; r++)
        if (fn(args, codes, n, &ret, &rc, NULL) != 0) {
            fprintf(stderr, "%s\n", mlcc_last_error());
            exit(1);
        }
    mlcc_cuda_synchronize(0);
    return (mlcc_now_seconds() - t0) / REPS;
}

static double time_call(MLCCPackedCFunc fn, DLTensor **ts, int n) {
    MLCCValue args[4];
    int codes[4];
    for (int i = 0; i < n; i++) args[i].v_tensor = ts[i], codes[i] = MLCC_TYPE_DLTENSOR;
    return time_packed(fn, args, codes, n);
}

/* Prefill GEMM: y[2048, 14336] = x[2048, 4096] @ W[14336, 4096]^T (the tiled matmul rule). */
static void bench_prefill_gemm(void) {
    mlcc_expr *n = ir_size_var("n");
    X = te_placeholder("x", DT_F32, (mlcc_expr *[]){n, ir_int(K)}, 2);
    W = te_placeholder("w", DT_F32, (mlcc_expr *[]){ir_int(N), ir_int(K)}, 2);
    te_tensor *Y = te_reduce("y", DT_F32, (mlcc_expr *[]){n, ir_int(N)}, 2, TE_SUM, (mlcc_expr *[]){ir_int(K)}, 1,
                             gemv_body, NULL);
    mlcc_prim_func *f = gpu_default_schedule(te_create_prim_func("linear", (te_tensor *[]){X, W, Y}, 3));
    mlcc_jit_module *m = f ? mlcc_jit_build_cuda(&f, 1) : NULL;
    if (!m) {
        fprintf(stderr, "gemm: %s\n", mlcc_last_error());
        return;
    }
    DLDevice gpu = {kDLCUDA, 0};
    int64_t rows = 2048;
    MLCCNDArray *x = mlcc_ndarray_empty(2, (int64_t[]){rows, K}, MLCC_DTYPE_F32, gpu);
    MLCCNDArray *w = mlcc_ndarray_empty(2, (int64_t[]){N, K}, MLCC_DTYPE_F32, gpu);
    MLCCNDArray *y = mlcc_ndarray_empty(2, (int64_t[]){rows, N}, MLCC_DTYPE_F32, gpu);
    mlcc_cuda_memset(0, x->dl.data, 0, mlcc_ndarray_nbytes(x));
    mlcc_cuda_memset(0, w->dl.data, 0, mlcc_ndarray_nbytes(w));
    double t = time_call(mlcc_jit_get_function(m, "linear"), (DLTensor *[]){&x->dl, &w->dl, &y->dl}, 3);
    printf("linear (tiled) [%lld,%d] @ [%d,%d]^T f32: %.3f ms, %.1f TFLOP/s\n", (long long)rows, K, N, K, t * 1e3,
           2.0 * rows * K * N / t / 1e12);
    mlcc_ndarray_release(x), mlcc_ndarray_release(w), mlcc_ndarray_release(y);
    mlcc_jit_free(m);
}

enum { HD = 128, QH = 32, KVH = 8, PS = 16, CTX = 4096 };

static void bench_decode_attention(double floor_bw) {
    mlcc_attn_config c = {0};
    c.head_dim = HD, c.num_qo_heads = QH, c.num_kv_heads = KVH, c.page_size = PS, c.dtype = DT_F32;
    mlcc_prim_func *f = gen_attn_decode(&c);
    mlcc_prim_func *g = f ? gpu_default_schedule(f) : NULL;
    mlcc_jit_module *m = g ? mlcc_jit_build_cuda(&g, 1) : NULL;
    if (!m) {
        fprintf(stderr, "attention: %s\n", mlcc_last_error());
        return;
    }
    DLDevice gpu = {kDLCUDA, 0};
    int64_t np = CTX / PS;
    MLCCNDArray *q = mlcc_ndarray_empty(3, (int64_t[]){1, QH, HD}, MLCC_DTYPE_F32, gpu);
    MLCCNDArray *out = mlcc_ndarray_empty(3, (int64_t[]){1, QH, HD}, MLCC_DTYPE_F32, gpu);
    MLCCNDArray *pages = mlcc_ndarray_empty(5, (int64_t[]){np, 2, KVH, PS, HD}, MLCC_DTYPE_F32, gpu);
    MLCCNDArray *indptr = mlcc_ndarray_empty(1, (int64_t[]){2}, MLCC_DTYPE_I32, gpu);
    MLCCNDArray *indices = mlcc_ndarray_empty(1, &np, MLCC_DTYPE_I32, gpu);
    MLCCNDArray *last = mlcc_ndarray_empty(1, (int64_t[]){1}, MLCC_DTYPE_I32, gpu);
    mlcc_cuda_memset(0, pages->dl.data, 0, mlcc_ndarray_nbytes(pages));
    mlcc_cuda_memset(0, q->dl.data, 0, mlcc_ndarray_nbytes(q));
    int32_t ip[2] = {0, (int32_t)np}, lp[1] = {PS}, *idx = malloc(sizeof(int32_t) * (size_t)np);
    for (int64_t i = 0; i < np; i++) idx[i] = (int32_t)i;
    mlcc_ndarray_copy_from_bytes(indptr, ip, sizeof ip);
    mlcc_ndarray_copy_from_bytes(indices, idx, sizeof(int32_t) * (size_t)np);
    mlcc_ndarray_copy_from_bytes(last, lp, sizeof lp);
    free(idx);
    double bytes = (double)mlcc_ndarray_nbytes(pages);
    int splits[] = {1, 8, 33, 128};
    for (int i = 0; i < 4; i++) {
        MLCCValue a[8];
        int codes[8] = {7, 7, 7, 7, 7, 7, MLCC_TYPE_INT, MLCC_TYPE_INT};
        DLTensor *ts[6] = {&q->dl, &pages->dl, &indptr->dl, &indices->dl, &last->dl, &out->dl};
        for (int k = 0; k < 6; k++) a[k].v_tensor = ts[k];
        a[6].v_int64 = 0, a[7].v_int64 = splits[i];
        double t = time_packed(mlcc_jit_get_function(m, "attn_decode"), a, codes, 8);
        printf("attn_decode ctx %d, %dq/%dkv heads x %d, %3d splits: %.3f ms, KV read %.0f GB/s = %.1f%% of the copy rate\n",
               CTX, QH, KVH, HD, splits[i], t * 1e3, bytes / t / 1e9, 100 * bytes / t / floor_bw);
    }
    mlcc_ndarray_release(q), mlcc_ndarray_release(out), mlcc_ndarray_release(pages);
    mlcc_ndarray_release(indptr), mlcc_ndarray_release(indices), mlcc_ndarray_release(last);
    mlcc_jit_free(m);
}

int main(void) {
    if (!mlcc_cuda_available()) {
        printf("no CUDA device: %s\n", mlcc_cuda_status());
        return 0;
    }
    printf("%s\n", mlcc_cuda_status());
    ir_scope_begin();
    mlcc_expr *one = ir_int(1);
    X = te_placeholder("x", DT_F32, (mlcc_expr *[]){one, ir_int(K)}, 2);
    W = te_placeholder("w", DT_F32, (mlcc_expr *[]){ir_int(N), ir_int(K)}, 2);
    te_tensor *Y = te_reduce("y", DT_F32, (mlcc_expr *[]){one, ir_int(N)}, 2, TE_SUM, (mlcc_expr *[]){ir_int(K)}, 1,
                             gemv_body, NULL);
    mlcc_prim_func *f = te_create_prim_func("gemv", (te_tensor *[]){X, W, Y}, 3);
    mlcc_prim_func *cross = gpu_default_schedule(f), *serial = gpu_default_schedule_ex(f, INT64_MAX);
    serial->name = "gemv_thread_per_output";
    mlcc_prim_func *funcs[2] = {cross, serial};
    mlcc_jit_module *m = mlcc_jit_build_cuda(funcs, 2);
    if (!m) {
        fprintf(stderr, "%s\n", mlcc_last_error());
        return 1;
    }
    DLDevice gpu = {kDLCUDA, 0};
    MLCCNDArray *x = mlcc_ndarray_empty(2, (int64_t[]){1, K}, MLCC_DTYPE_F32, gpu);
    MLCCNDArray *w = mlcc_ndarray_empty(2, (int64_t[]){N, K}, MLCC_DTYPE_F32, gpu);
    MLCCNDArray *w2 = mlcc_ndarray_empty(2, (int64_t[]){N, K}, MLCC_DTYPE_F32, gpu);
    MLCCNDArray *y = mlcc_ndarray_empty(2, (int64_t[]){1, N}, MLCC_DTYPE_F32, gpu);
    mlcc_cuda_memset(0, w->dl.data, 0, mlcc_ndarray_nbytes(w));
    mlcc_cuda_memset(0, x->dl.data, 0, mlcc_ndarray_nbytes(x));
    double bytes = (double)N * K * 4;
    /* the floor: a copy reads and writes the weight bytes */
    mlcc_ndarray_copy(w2, w);
    mlcc_cuda_synchronize(0);
    double t0 = mlcc_now_seconds();
    for (int r = 0; r < REPS; r++) mlcc_ndarray_copy(w2, w);
    mlcc_cuda_synchronize(0);
    double copy = (mlcc_now_seconds() - t0) / REPS, floor_bw = 2 * bytes / copy;
    printf("device copy of %.0f MB: %.3f ms, %.0f GB/s (read + write)\n", bytes / 1e6, copy * 1e3, floor_bw / 1e9);
    const char *names[2] = {"gemv", "gemv_thread_per_output"};
    for (int i = 0; i < 2; i++) {
        double t = time_call(mlcc_jit_get_function(m, names[i]), (DLTensor *[]){&x->dl, &w->dl, &y->dl}, 3);
        printf("%-24s [1,%d] @ [%d,%d]^T f32: %.3f ms, %.0f GB/s = %.1f%% of the copy rate\n", names[i], K, N, K,
               t * 1e3, bytes / t / 1e9, 100 * (bytes / t) / floor_bw);
    }
    mlcc_ndarray_release(x), mlcc_ndarray_release(w), mlcc_ndarray_release(w2), mlcc_ndarray_release(y);
    mlcc_jit_free(m);
    bench_decode_attention(floor_bw);
    bench_prefill_gemm();
    ir_scope_end();
    return 0;
}
