/* bench_cuda_flash.c - the prefill attention kernel (runtime/cuda_attention.c) alone, on one
 * layer of the Llama-3-8B shape (32 query / 8 KV heads, head_dim 128, pages of 16 half K/V
 * values), one sequence of T new tokens (causal, no prefix), q half as the engine gives it
 * (mlcc_cuda_prefill_qkv's), output half: what a q0f16 prefill runs 32 times. Each kernel the
 * device can take: on sm_90 the persistent warp-specialized wgmma one (the default), the 64-key
 * warp-specialized one (MLCC_CUDA_FLASH_WS_PERSIST=0), the 8-warp wgmma one
 * (MLCC_CUDA_FLASH_WS=0), and the mma.sync one (MLCC_CUDA_FLASH_WGMMA=0), plus any
 * settings given as BENCH_FLASH_SETS="VAR=V,VAR=V;..."
 * (each set applied on top of the default). BENCH_FLASH_FOLD=1 times what the model runs by
 * default instead: q read in place from a half qkv row of (32 + 2 x 8) heads and rotated by a
 * float64 rope table while it is staged (mlcc_cuda_prefill_args.q_row, rope_table).
 * BENCH_FLASH_DECODE="B:K,..." times batched decode instead (what a q0f16 step from 16
 * sequences runs): B sequences of K keys each (the last one new), a token a block, q half
 * (rotated and scaled already, as mlcc_cuda_prefill_qkv leaves it), half pages, float32 output,
 * by default and with each of BENCH_FLASH_SETS, with the K/V bytes read a second (GB/s).
 * Per kernel: microseconds a call (the mean of REPS
 * launched back to back after a warm-up, synchronized once) and TFLOP/s counting the causal
 * products only (4 D flops per (query row, visible key)). Outputs are not checked here:
 * test_cuda_flash_attention compares every kernel against the CPU build.
 *
 * build: make build && cc -O2 -Iinclude -Isrc bench/bench_cuda_flash.c -Lbuild -lmlcc \
 *        -lmlcc_runtime -lm -Wl,-rpath,$PWD/build -o build/bench_cuda_flash
 * run:   build/bench_cuda_flash [T ...]   (default 512 2048 4096; needs a CUDA device) */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <math.h>
#include <string.h>
#include <time.h>

#include "mlcc/mlcc_runtime.h"
#include "runtime/cuda.h"
#include "support/error.h"

enum { REPS = 20, QH = 32, KVH = 8, D = 128, PAGE = 16 };
static const double SCALE = 0.08838834764831845; /* 1 / sqrt(D) */

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* A device array of n values of type t filled from host (NULL: left as allocated). */
static MLCCNDArray *device_array(DLDataType t, int64_t n, const void *host) {
    MLCCNDArray *a = mlcc_ndarray_empty(1, &n, t, (DLDevice){kDLCUDA, 0});
    if (a && host && mlcc_ndarray_copy_from_bytes(a, host, (size_t)n * (t.bits / 8)) != 0) {
        mlcc_ndarray_release(a);
        return NULL;
    }
    return a;
}

static uint16_t random_half(uint64_t *s, float amplitude) {
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return mlcc_f32_to_f16(amplitude * ((float)(*s >> 40) / (float)(1 << 24) - 0.5f));
}

/* Sets the variables of "VAR=V,VAR=V" (or unsets them again); returns 0, or -1 on an item that
 * is not VAR=V. */
static int apply_set(const char *set, int unset) {
    char *copy = strdup(set), *save = NULL;
    int rc = 0;
    for (char *item = strtok_r(copy, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(item, '=');
        if (!eq || eq == item) {
            fprintf(stderr, "bench_cuda_flash: '%s' in BENCH_FLASH_SETS is not VAR=VALUE\n", item);
            rc = -1;
            continue;
        }
        *eq = '\0';
        if (unset) unsetenv(item);
        else setenv(item, eq + 1, 1);
    }
    free(copy);
    return rc;
}

/* Mean microseconds a call over REPS calls after one warm-up call; < 0 on failure. */
static double time_kernel(const mlcc_cuda_prefill_args *a) {
    if (mlcc_cuda_flash_prefill(0, a) != 0 || mlcc_cuda_synchronize(0) != 0) return -1;
    double t0 = now();
    for (int r = 0; r < REPS; r++)
        if (mlcc_cuda_flash_prefill(0, a) != 0) return -1;
    if (mlcc_cuda_synchronize(0) != 0) return -1;
    return (now() - t0) / REPS * 1e6;
}

/* One setting's row of the table (its variables unset again afterwards); 0 or -1. */
static int time_set(const mlcc_cuda_prefill_args *a, int64_t T, double flops, const char *set) {
    if (apply_set(set, 0) != 0) return -1;
    double us = time_kernel(a);
    apply_set(set, 1);
    if (us < 0) {
        fprintf(stderr, "bench_cuda_flash: T %lld, %s: %s\n", (long long)T, set, mlcc_last_error());
        return -1;
    }
    printf("| %lld | %s | %.1f | %.0f |\n", (long long)T, set, us, flops / (us * 1e-6) / 1e12);
    return 0;
}

static int run_length(int64_t T, const char *sets, int fold) {
    /* fold: q is the first QH heads of a qkv row (QH + 2 KVH heads), rotated by the kernel */
    const int64_t q_row = fold ? (int64_t)(QH + 2 * KVH) * D : (int64_t)QH * D;
    int64_t pages = (T + PAGE - 1) / PAGE, qn = T * q_row, on = T * QH * D, pn = pages * 2 * KVH * PAGE * D;
    uint16_t *q = malloc(sizeof(uint16_t) * (size_t)qn), *kv = malloc(sizeof(uint16_t) * (size_t)pn);
    int32_t *seq = malloc(sizeof(int32_t) * (size_t)T), *pos = malloc(sizeof(int32_t) * (size_t)T);
    int32_t *idx = malloc(sizeof(int32_t) * (size_t)pages), indptr[2] = {0, (int32_t)pages};
    double *table = malloc(sizeof(double) * (size_t)(T * D)); /* [T, 2, D / 2]: cos, then sin */
    uint64_t s = 1;
    for (int64_t t = 0; t < T; t++)
        for (int i = 0; i < D / 2; i++) {
            double angle = (double)t * pow(500000.0, -2.0 * i / D);
            table[t * D + i] = cos(angle), table[t * D + D / 2 + i] = sin(angle);
        }
    /* q carries the softmax scale times log2 e, as mlcc_cuda_prefill_qkv leaves it */
    for (int64_t i = 0; i < qn; i++) q[i] = random_half(&s, fold ? 3.0f : 3.0f * mlcc_cuda_flash_q_scale(SCALE, 0));
    for (int64_t i = 0; i < pn; i++) kv[i] = random_half(&s, 2.0f);
    for (int64_t t = 0; t < T; t++) seq[t] = 0, pos[t] = (int32_t)t;
    for (int64_t p = 0; p < pages; p++) idx[p] = (int32_t)p;
    DLDataType f16 = {kDLFloat, 16, 1};
    DLDataType f64 = {kDLFloat, 64, 1};
    MLCCNDArray *dq = device_array(f16, qn, q), *dkv = device_array(f16, pn, kv), *dout = device_array(f16, on, NULL);
    MLCCNDArray *drope = device_array(f64, T * D, table);
    MLCCNDArray *dseq = device_array(MLCC_DTYPE_I32, T, seq), *dpos = device_array(MLCC_DTYPE_I32, T, pos);
    MLCCNDArray *dptr = device_array(MLCC_DTYPE_I32, 2, indptr), *didx = device_array(MLCC_DTYPE_I32, pages, idx);
    free(q), free(kv), free(seq), free(pos), free(idx), free(table);
    MLCCNDArray *all[8] = {dq, dkv, dout, dseq, dpos, dptr, didx, drope};
    int rc = 0;
    for (int i = 0; i < 8; i++) rc |= all[i] == NULL;
    if (rc) {
        fprintf(stderr, "bench_cuda_flash: %s\n", mlcc_last_error());
        for (int i = 0; i < 8; i++) mlcc_ndarray_release(all[i]);
        return -1;
    }
    mlcc_cuda_prefill_args a = {.q = dq->dl.data, .q_f16 = 1, .pages = dkv->dl.data, .token_seq = dseq->dl.data,
                                .positions = dpos->dl.data, .page_indptr = dptr->dl.data, .page_indices = didx->dl.data,
                                .out = dout->dl.data, .out_f16 = 1, .num_tokens = T, .num_qo_heads = QH,
                                .num_kv_heads = KVH, .head_dim = D, .page_size = PAGE, .scale = SCALE,
                                .pages_f16 = 1, .q_row = q_row, .rope_table = fold ? drope->dl.data : NULL};
    double flops = 4.0 * D * QH * (double)T * (double)(T + 1) / 2; /* sum over tokens of (position + 1) keys */
    /* each kernel the device takes, then BENCH_FLASH_SETS's */
    int hopper = mlcc_cuda_device_arch(0) == 90;
    const char *kernels[4] = {hopper ? "MLCC_CUDA_FLASH_WGMMA=1,MLCC_CUDA_FLASH_WS=1" : NULL,
                              hopper ? "MLCC_CUDA_FLASH_WGMMA=1,MLCC_CUDA_FLASH_WS=1,MLCC_CUDA_FLASH_WS_PERSIST=0" : NULL,
                              hopper ? "MLCC_CUDA_FLASH_WGMMA=1,MLCC_CUDA_FLASH_WS=0" : NULL, "MLCC_CUDA_FLASH_WGMMA=0"};
    for (int k = 0; k < 4 && rc == 0; k++)
        if (kernels[k]) rc = time_set(&a, T, flops, kernels[k]);
    char *list = strdup(sets ? sets : ""), *save = NULL;
    for (char *set = strtok_r(list, ";", &save); set && rc == 0; set = strtok_r(NULL, ";", &save))
        rc = time_set(&a, T, flops, set);
    free(list);
    for (int i = 0; i < 8; i++) mlcc_ndarray_release(all[i]);
    return rc;
}

/* One row of the decode table: the kernel under set's variables (NULL: the default); 0 or -1. */
static int time_decode_set(const mlcc_cuda_prefill_args *a, const char *what, double bytes, const char *set) {
    if (set && apply_set(set, 0) != 0) return -1;
    double us = time_kernel(a);
    if (set) apply_set(set, 1);
    if (us < 0) {
        fprintf(stderr, "bench_cuda_flash: %s, %s: %s\n", what, set ? set : "default", mlcc_last_error());
        return -1;
    }
    printf("| %s | %s | %.1f | %.0f GB/s |\n", what, set ? set : "default", us, bytes / (us * 1e-6) / 1e9);
    return 0;
}

/* Batched decode: B sequences of K keys, each its own pages, one new token each (position
 * K - 1). The sequences' pages interleave (page p of sequence b is p B + b, as pages handed out
 * step by step go), or with BENCH_FLASH_CONTIGUOUS=1 each sequence's pages are consecutive (as a
 * prompt's are). */
static int run_decode(int64_t B, int64_t K, const char *sets) {
    int64_t per = (K + PAGE - 1) / PAGE, pages = B * per, qn = B * QH * D, pn = pages * 2 * KVH * PAGE * D;
    uint16_t *q = malloc(sizeof(uint16_t) * (size_t)qn), *kv = malloc(sizeof(uint16_t) * (size_t)pn);
    int32_t *seq = malloc(sizeof(int32_t) * (size_t)B), *pos = malloc(sizeof(int32_t) * (size_t)B);
    int32_t *idx = malloc(sizeof(int32_t) * (size_t)pages), *indptr = malloc(sizeof(int32_t) * (size_t)(B + 1));
    const char *layout = getenv("BENCH_FLASH_CONTIGUOUS");
    int contiguous = layout && atoi(layout) != 0;
    uint64_t s = 1;
    for (int64_t i = 0; i < qn; i++) q[i] = random_half(&s, 3.0f * mlcc_cuda_flash_q_scale(SCALE, 0));
    for (int64_t i = 0; i < pn; i++) kv[i] = random_half(&s, 2.0f);
    for (int64_t b = 0; b < B; b++) {
        seq[b] = (int32_t)b, pos[b] = (int32_t)(K - 1), indptr[b] = (int32_t)(b * per);
        for (int64_t p = 0; p < per; p++) idx[b * per + p] = (int32_t)(contiguous ? b * per + p : p * B + b);
    }
    indptr[B] = (int32_t)pages;
    DLDataType f16 = {kDLFloat, 16, 1};
    MLCCNDArray *dq = device_array(f16, qn, q), *dkv = device_array(f16, pn, kv), *dout = device_array(MLCC_DTYPE_F32, qn, NULL);
    MLCCNDArray *dseq = device_array(MLCC_DTYPE_I32, B, seq), *dpos = device_array(MLCC_DTYPE_I32, B, pos);
    MLCCNDArray *dptr = device_array(MLCC_DTYPE_I32, B + 1, indptr), *didx = device_array(MLCC_DTYPE_I32, pages, idx);
    free(q), free(kv), free(seq), free(pos), free(idx), free(indptr);
    MLCCNDArray *all[7] = {dq, dkv, dout, dseq, dpos, dptr, didx};
    int rc = 0;
    for (int i = 0; i < 7; i++) rc |= all[i] == NULL;
    mlcc_cuda_prefill_args a = {0};
    if (!rc)
        a = (mlcc_cuda_prefill_args){.q = dq->dl.data, .q_f16 = 1, .pages = dkv->dl.data, .token_seq = dseq->dl.data,
                                     .positions = dpos->dl.data, .page_indptr = dptr->dl.data, .page_indices = didx->dl.data,
                                     .out = dout->dl.data, .num_tokens = B, .num_qo_heads = QH, .num_kv_heads = KVH,
                                     .head_dim = D, .page_size = PAGE, .scale = SCALE, .pages_f16 = 1, .tokens_per_block = 1};
    double bytes = (double)B * K * KVH * D * 2 * 2; /* K and V as half */
    char what[64];
    snprintf(what, sizeof what, "decode %lld x %lld keys%s", (long long)B, (long long)K, contiguous ? ", pages in order" : "");
    if (rc) fprintf(stderr, "bench_cuda_flash: %s: %s\n", what, mlcc_last_error());
    else rc = time_decode_set(&a, what, bytes, NULL);
    char *list = strdup(sets ? sets : ""), *save = NULL;
    for (char *set = strtok_r(list, ";", &save); set && !rc; set = strtok_r(NULL, ";", &save))
        rc = time_decode_set(&a, what, bytes, set);
    free(list);
    for (int i = 0; i < 7; i++) mlcc_ndarray_release(all[i]);
    return rc;
}

int main(int argc, char **argv) {
    if (!mlcc_cuda_available()) {
        printf("bench_cuda_flash: no CUDA device (%s)\n", mlcc_cuda_status());
        return 77;
    }
    const char *sets = getenv("BENCH_FLASH_SETS"), *fold = getenv("BENCH_FLASH_FOLD"), *decode = getenv("BENCH_FLASH_DECODE");
    if (decode && *decode) {
        printf("| decode | setting | us a call | K/V read |\n|---|---|---|---|\n");
        char *list = strdup(decode), *save = NULL;
        int rc = 0;
        for (char *item = strtok_r(list, ",", &save); item && rc == 0; item = strtok_r(NULL, ",", &save)) {
            long long B = 0, K = 0;
            if (sscanf(item, "%lld:%lld", &B, &K) != 2 || B < 1 || B > 4096 || K < 1 || K > 65536) {
                fprintf(stderr, "bench_cuda_flash: BENCH_FLASH_DECODE item '%s': expected B:K (1-4096 sequences, 1-65536 keys)\n", item);
                rc = 2;
                break;
            }
            rc = run_decode(B, K, sets);
        }
        free(list);
        return rc ? 1 : 0;
    }
    printf("| tokens | setting | us a call | TFLOP/s (causal) |\n|---|---|---|---|\n");
    int64_t defaults[3] = {512, 2048, 4096};
    int n = argc > 1 ? argc - 1 : 3, rc = 0;
    for (int i = 0; i < n && rc == 0; i++) {
        int64_t T = argc > 1 ? atoll(argv[i + 1]) : defaults[i];
        if (T < 1 || T > 65536) {
            fprintf(stderr, "bench_cuda_flash: %s tokens: expected 1 to 65536\n", argv[i + 1]);
            return 2;
        }
        rc = run_length(T, sets, fold && atoi(fold) != 0);
    }
    return rc ? 1 : 0;
}
