/* attention_check.c - the paged-attention kernels on a GPU target against the CPU build (see
 * attention_check.h). */
#include "attention_check.h"

#include <stdlib.h>
#include <string.h>

#include "support/error.h"
#include "tensor_util.h"
#include "test.h"

enum { D = TEST_ATTN_D, QH = TEST_ATTN_QH, KVH = TEST_ATTN_KVH, PS = TEST_ATTN_PS, NSEQ = 2, NPAGES = 6 };
static const int seq_len[NSEQ] = {37, 20};
static const int seq_pages[NSEQ][3] = {{4, 0, 2}, {5, 1, -1}}; /* scattered on purpose */

/* The pages as float32 (float16 pages converted) into out. */
static void pages_f32(const void *pages, int f16, size_t n, float *out) {
    if (f16) mlcc_f16_to_f32_n(out, pages, n);
    else memcpy(out, pages, sizeof(float) * n);
}

void test_compare_paged_attention(mlcc_jit_module *cpu, mlcc_jit_module *gpu, DLDevice gpu_dev, int f16, const char *name) {
    DLDevice cpu_dev = MLCC_CPU;
    DLDataType pdt = f16 ? MLCC_DTYPE_F16 : MLCC_DTYPE_F32;
    int T = seq_len[0] + seq_len[1];
    float *k = malloc(sizeof(float) * T * KVH * D), *v = malloc(sizeof(float) * T * KVH * D);
    float *q = malloc(sizeof(float) * T * QH * D);
    for (int i = 0; i < T * KVH * D; i++) k[i] = test_rand_float(), v[i] = test_rand_float();
    for (int i = 0; i < T * QH * D; i++) q[i] = test_rand_float();
    int32_t slots[64], positions[64], token_seq[64], indptr[NSEQ + 1] = {0}, indices[8], last[NSEQ];
    int t = 0, np = 0;
    for (int s = 0; s < NSEQ; s++) {
        for (int i = 0; i < seq_len[s]; i++, t++) {
            slots[t] = seq_pages[s][i / PS] * PS + i % PS;
            positions[t] = i;
            token_seq[t] = s;
        }
        for (int p = 0; p * PS < seq_len[s]; p++) indices[np++] = seq_pages[s][p];
        indptr[s + 1] = np;
        last[s] = (seq_len[s] - 1) % PS + 1;
    }
    int64_t pshape[5] = {NPAGES, 2, KVH, PS, D}, kshape[3] = {T, KVH, D}, qshape[3] = {T, QH, D}, tshape[1] = {T};
    size_t pages_n = (size_t)NPAGES * 2 * KVH * PS * D;
    void *pages_cpu = malloc(sizeof(float) * pages_n), *pages_gpu = malloc(sizeof(float) * pages_n);
    float *cpu32 = malloc(sizeof(float) * pages_n), *gpu32 = malloc(sizeof(float) * pages_n);
    test_arg append[5] = {test_arg_tensor(pdt, NULL, 5, pshape), test_arg_tensor(MLCC_DTYPE_F32, k, 3, kshape),
                     test_arg_tensor(MLCC_DTYPE_F32, v, 3, kshape), test_arg_tensor(MLCC_DTYPE_I32, slots, 1, tshape),
                     test_arg_tensor(MLCC_DTYPE_I32, positions, 1, tshape)};
    CHECK_MSG(test_run_args(mlcc_jit_get_function(cpu, "kv_append"), cpu_dev, append, 5, 0, pages_cpu, NULL) == 0, "%s", mlcc_last_error());
    CHECK_MSG(test_run_args(mlcc_jit_get_function(gpu, "kv_append"), gpu_dev, append, 5, 0, pages_gpu, NULL) == 0, "%s", mlcc_last_error());
    pages_f32(pages_cpu, f16, pages_n, cpu32);
    pages_f32(pages_gpu, f16, pages_n, gpu32);
    double e = test_rel_diff(gpu32, cpu32, pages_n);
    /* float16 pages: rope's last float32 bits may round K to the neighbouring float16 */
    CHECK_MSG(e < (f16 ? 1e-3 : 1e-5), "kv_append (%s pages): %g", f16 ? "float16" : "float32", e);
    printf("kv_append, %s pages: %s vs cpu %.3g\n", f16 ? "float16" : "float32", name, e);

    /* prefill over every token; the pages are the CPU's result for both */
    float *out_cpu = malloc(sizeof(float) * T * QH * D), *out_gpu = malloc(sizeof(float) * T * QH * D);
    int64_t ishape[1] = {NSEQ + 1}, nshape[1] = {np};
    test_arg prefill[8] = {test_arg_tensor(MLCC_DTYPE_F32, q, 3, qshape), test_arg_tensor(pdt, pages_cpu, 5, pshape),
                      test_arg_tensor(MLCC_DTYPE_I32, token_seq, 1, tshape), test_arg_tensor(MLCC_DTYPE_I32, positions, 1, tshape),
                      test_arg_tensor(MLCC_DTYPE_I32, indptr, 1, ishape), test_arg_tensor(MLCC_DTYPE_I32, indices, 1, nshape),
                      test_arg_tensor(MLCC_DTYPE_F32, NULL, 3, qshape), test_arg_scalar(0)};
    CHECK_MSG(test_run_args(mlcc_jit_get_function(cpu, "attn_prefill"), cpu_dev, prefill, 8, 6, out_cpu, NULL) == 0, "%s", mlcc_last_error());
    CHECK_MSG(test_run_args(mlcc_jit_get_function(gpu, "attn_prefill"), gpu_dev, prefill, 8, 6, out_gpu, NULL) == 0, "%s", mlcc_last_error());
    e = test_rel_diff(out_gpu, out_cpu, (size_t)T * QH * D);
    CHECK_MSG(e < 1e-5, "attn_prefill: %g", e);
    prefill[7] = test_arg_scalar(8); /* a sliding window */
    CHECK_EQ_INT(test_run_args(mlcc_jit_get_function(cpu, "attn_prefill"), cpu_dev, prefill, 8, 6, out_cpu, NULL), 0);
    CHECK_EQ_INT(test_run_args(mlcc_jit_get_function(gpu, "attn_prefill"), gpu_dev, prefill, 8, 6, out_gpu, NULL), 0);
    e = test_rel_diff(out_gpu, out_cpu, (size_t)T * QH * D);
    CHECK_MSG(e < 1e-5, "attn_prefill window 8: %g", e);

    /* decode: one query per sequence, 1 and 3 splits */
    int64_t dq[3] = {NSEQ, QH, D}, bshape[1] = {NSEQ};
    for (int splits = 1; splits <= 7; splits += 2) {
        test_arg decode[8] = {test_arg_tensor(MLCC_DTYPE_F32, q, 3, dq), test_arg_tensor(pdt, pages_cpu, 5, pshape),
                         test_arg_tensor(MLCC_DTYPE_I32, indptr, 1, ishape), test_arg_tensor(MLCC_DTYPE_I32, indices, 1, nshape),
                         test_arg_tensor(MLCC_DTYPE_I32, last, 1, bshape), test_arg_tensor(MLCC_DTYPE_F32, NULL, 3, dq),
                         test_arg_scalar(splits == 5 ? 9 : 0), test_arg_scalar(splits)}; /* 5 splits with a window of 9 */
        CHECK_MSG(test_run_args(mlcc_jit_get_function(cpu, "attn_decode"), cpu_dev, decode, 8, 5, out_cpu, NULL) == 0, "%s", mlcc_last_error());
        CHECK_MSG(test_run_args(mlcc_jit_get_function(gpu, "attn_decode"), gpu_dev, decode, 8, 5, out_gpu, NULL) == 0, "%s", mlcc_last_error());
        e = test_rel_diff(out_gpu, out_cpu, (size_t)NSEQ * QH * D);
        CHECK_MSG(e < 1e-5, "attn_decode splits %d: %g", splits, e);
        if (splits == 1) printf("attn_decode, %s pages: %s vs cpu %.3g\n", f16 ? "float16" : "float32", name, e);
    }
    free(k), free(v), free(q), free(pages_cpu), free(pages_gpu), free(out_cpu), free(out_gpu), free(cpu32), free(gpu32);
}

int test_attn_cpu_functions(const mlcc_attn_config *cfg, MLCCFunction *kernels[3], mlcc_jit_module **jit) {
    mlcc_prim_func *funcs[3];
    if (gen_attn_kernels(cfg, funcs)) return -1;
    if (!(*jit = mlcc_jit_build(funcs, 3))) return -1;
    static const char *const names[3] = {"kv_append", "attn_prefill", "attn_decode"};
    for (int i = 0; i < 3; i++) kernels[i] = mlcc_function_new(names[i], mlcc_jit_get_function(*jit, names[i]), NULL, NULL);
    return 0;
}
