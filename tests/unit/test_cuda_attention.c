/* test_cuda_attention.c - the paged-attention kernels of src/gen/ (kv_append with rope,
 * attn_prefill, attn_decode with 1, 3, 5 (and a window) and 7 splits) under the GPU schedules
 * (the warp-cooperative decode and prefill; with a soft-cap, the default rule; kv_append with the
 * default rule's thread per dimension without rope, a thread per task with it), against the
 * same kernels compiled for the CPU, on one random batch of two sequences (37 and 20 tokens,
 * pages of 16, GQA 4:2 heads, head_dim 64, float32): the pages after append, the prefill
 * output for every token and the decode output agree to 1e-5 (relative to the largest value).
 * Without NVRTC it skips; without a GPU it checks that the CUDA source compiles for sm_90. */
#include <stdint.h>

#include "codegen/codegen_cuda.h"
#include "codegen/jit.h"
#include "gen/attention.h"
#include "runtime/cuda.h"
#include "schedule/gpu_rules.h"
#include "support/error.h"
#include "tensor_util.h"
#include "test.h"

enum { D = 64, QH = 4, KVH = 2, PS = 16, NSEQ = 2, NPAGES = 6 };
static const int seq_len[NSEQ] = {37, 20};
static const int seq_pages[NSEQ][3] = {{4, 0, 2}, {5, 1, -1}}; /* scattered on purpose */

static void compare(mlcc_jit_module *cpu, mlcc_jit_module *gpu) {
    DLDevice cpu_dev = MLCC_CPU, gpu_dev = {kDLCUDA, 0};
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
    float *pages_cpu = malloc(sizeof(float) * pages_n), *pages_gpu = malloc(sizeof(float) * pages_n);
    test_arg append[5] = {test_arg_tensor(MLCC_DTYPE_F32, NULL, 5, pshape), test_arg_tensor(MLCC_DTYPE_F32, k, 3, kshape),
                     test_arg_tensor(MLCC_DTYPE_F32, v, 3, kshape), test_arg_tensor(MLCC_DTYPE_I32, slots, 1, tshape),
                     test_arg_tensor(MLCC_DTYPE_I32, positions, 1, tshape)};
    CHECK_MSG(test_run_args(mlcc_jit_get_function(cpu, "kv_append"), cpu_dev, append, 5, 0, pages_cpu, NULL) == 0, "%s", mlcc_last_error());
    CHECK_MSG(test_run_args(mlcc_jit_get_function(gpu, "kv_append"), gpu_dev, append, 5, 0, pages_gpu, NULL) == 0, "%s", mlcc_last_error());
    double e = test_rel_diff(pages_gpu, pages_cpu, pages_n);
    CHECK_MSG(e < 1e-5, "kv_append: %g", e);

    /* prefill over every token; the pages are the CPU's result for both */
    float *out_cpu = malloc(sizeof(float) * T * QH * D), *out_gpu = malloc(sizeof(float) * T * QH * D);
    int64_t ishape[1] = {NSEQ + 1}, nshape[1] = {np};
    test_arg prefill[8] = {test_arg_tensor(MLCC_DTYPE_F32, q, 3, qshape), test_arg_tensor(MLCC_DTYPE_F32, pages_cpu, 5, pshape),
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
        test_arg decode[8] = {test_arg_tensor(MLCC_DTYPE_F32, q, 3, dq), test_arg_tensor(MLCC_DTYPE_F32, pages_cpu, 5, pshape),
                         test_arg_tensor(MLCC_DTYPE_I32, indptr, 1, ishape), test_arg_tensor(MLCC_DTYPE_I32, indices, 1, nshape),
                         test_arg_tensor(MLCC_DTYPE_I32, last, 1, bshape), test_arg_tensor(MLCC_DTYPE_F32, NULL, 3, dq),
                         test_arg_scalar(splits == 5 ? 9 : 0), test_arg_scalar(splits)}; /* 5 splits with a window of 9 */
        CHECK_MSG(test_run_args(mlcc_jit_get_function(cpu, "attn_decode"), cpu_dev, decode, 8, 5, out_cpu, NULL) == 0, "%s", mlcc_last_error());
        CHECK_MSG(test_run_args(mlcc_jit_get_function(gpu, "attn_decode"), gpu_dev, decode, 8, 5, out_gpu, NULL) == 0, "%s", mlcc_last_error());
        e = test_rel_diff(out_gpu, out_cpu, (size_t)NSEQ * QH * D);
        CHECK_MSG(e < 1e-5, "attn_decode splits %d: %g", splits, e);
    }
    free(k), free(v), free(q), free(pages_cpu), free(pages_gpu), free(out_cpu), free(out_gpu);
}

/* One configuration: the GPU schedules (the warp-cooperative decode, or with a soft-cap the
 * default rule's one thread per task) against the CPU build. */
static void run_config(double softcap, double rope_theta) {
    mlcc_attn_config cfg = {0};
    cfg.head_dim = D, cfg.num_qo_heads = QH, cfg.num_kv_heads = KVH, cfg.page_size = PS;
    cfg.dtype = DT_F32, cfg.rope_theta = rope_theta, cfg.softcap = softcap;
    mlcc_prim_func *cpu_funcs[3], *gpu_funcs[3];
    CHECK_MSG(gen_attn_kernels(&cfg, cpu_funcs) == 0, "%s", mlcc_last_error());
    for (int i = 0; i < 3; i++) {
        gpu_funcs[i] = gpu_default_schedule(cpu_funcs[i]);
        CHECK_MSG(gpu_funcs[i] && gpu_func_has_thread_bindings(gpu_funcs[i]), "%s: %s", cpu_funcs[i]->name, mlcc_last_error());
    }
    /* the decode takes the warp-cooperative form unless there is a soft-cap */
    CHECK((gpu_schedule_attn_decode(cpu_funcs[2]) != NULL) == (softcap == 0));
    CHECK((gpu_schedule_attn_decode(cpu_funcs[1]) != NULL) == (softcap == 0)); /* the prefill likewise */
    if (test_checks_failed) return;
    mlcc_strbuf lib = STRBUF_INIT, dev = STRBUF_INIT;
    CHECK_MSG(codegen_cuda(gpu_funcs, 3, &lib, &dev) == 0, "%s", mlcc_last_error());
    char *ptx = NULL;
    CHECK_MSG(mlcc_nvrtc_compile_ptx(sb_cstr(&dev), 90, &ptx) == 0, "%s", mlcc_last_error());
    CHECK(ptx && strstr(ptx, ".entry attn_decode_kernel1") != NULL);
    CHECK(ptx && (strstr(ptx, "shfl.sync") != NULL) == (softcap == 0));
    if (getenv("MLCC_PRINT_CUDA")) puts(sb_cstr(&dev));
    free(ptx);
    sb_free(&lib);
    sb_free(&dev);
    if (!mlcc_cuda_available()) return;
    mlcc_jit_module *cpu = mlcc_jit_build(cpu_funcs, 3), *gpu = mlcc_jit_build_cuda(gpu_funcs, 3);
    CHECK_MSG(cpu && gpu, "%s", mlcc_last_error());
    if (cpu && gpu) compare(cpu, gpu);
    mlcc_jit_free(cpu);
    mlcc_jit_free(gpu);
}

int main(void) {
    if (!mlcc_nvrtc_available()) TEST_SKIP("%s", mlcc_nvrtc_status());
    ir_scope_begin();
    run_config(0, 10000);
    run_config(30, 10000);
    run_config(0, 0); /* kv_append without rope: a thread per dimension */
    ir_scope_end();
    if (!mlcc_cuda_available() && !test_checks_failed) TEST_SKIP("%s", mlcc_cuda_status());
    return test_finish();
}
