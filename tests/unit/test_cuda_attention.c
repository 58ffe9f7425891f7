/* test_cuda_attention.c - the paged-attention kernels of src/gen/ (kv_append with rope,
 * attn_prefill, attn_decode with 1, 3, 5 (and a window) and 7 splits) under the GPU schedules
 * (the warp-cooperative decode and prefill; with a soft-cap, the default rule; kv_append with the
 * default rule's thread per dimension without rope, a thread per task with it), against the
 * same kernels compiled for the CPU, on one random batch of two sequences (37 and 20 tokens,
 * pages of 16, GQA 4:2 heads, head_dim 64, float32): the pages after append, the prefill
 * output for every token and the decode output agree to 1e-5 (relative to the largest value).
 * Without NVRTC it skips; without a GPU it checks that the CUDA source compiles for sm_90. */
#include <stdint.h>

#include "attention_check.h"
#include "codegen/codegen_cuda.h"
#include "codegen/jit.h"
#include "gen/attention.h"
#include "runtime/cuda.h"
#include "schedule/gpu_rules.h"
#include "support/error.h"
#include "tensor_util.h"
#include "test.h"

/* One configuration: the GPU schedules (the warp-cooperative decode, or with a soft-cap the
 * default rule's one thread per task) against the CPU build. */
static void run_config(double softcap, double rope_theta) {
    mlcc_attn_config cfg = {0};
    cfg.head_dim = TEST_ATTN_D, cfg.num_qo_heads = TEST_ATTN_QH, cfg.num_kv_heads = TEST_ATTN_KVH, cfg.page_size = TEST_ATTN_PS;
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
    if (cpu && gpu) test_compare_paged_attention(cpu, gpu, (DLDevice){kDLCUDA, 0}, 0, "cuda");
    mlcc_jit_free(cpu);
    mlcc_jit_free(gpu);
}

/* A group of 32 query heads at head_dim 64: the warp-cooperative kernels' warp states would take
 * 66 KB of static shared memory (ptxas rejected the module), so both keep the default rule, and
 * the module compiles. */
static void wide_group(void) {
    mlcc_attn_config cfg = {0};
    cfg.head_dim = 64, cfg.num_qo_heads = 32, cfg.num_kv_heads = 1, cfg.page_size = TEST_ATTN_PS;
    cfg.dtype = DT_F32, cfg.rope_theta = 10000;
    mlcc_prim_func *cpu_funcs[3], *gpu_funcs[3];
    CHECK_MSG(gen_attn_kernels(&cfg, cpu_funcs) == 0, "%s", mlcc_last_error());
    CHECK(gpu_schedule_attn_decode(cpu_funcs[2]) == NULL && gpu_schedule_attn_decode(cpu_funcs[1]) == NULL);
    for (int i = 0; i < 3; i++) {
        gpu_funcs[i] = gpu_default_schedule(cpu_funcs[i]);
        CHECK_MSG(gpu_funcs[i] != NULL, "%s: %s", cpu_funcs[i]->name, mlcc_last_error());
    }
    if (test_checks_failed) return;
    mlcc_strbuf lib = STRBUF_INIT, dev = STRBUF_INIT;
    CHECK_MSG(codegen_cuda(gpu_funcs, 3, &lib, &dev) == 0, "%s", mlcc_last_error());
    char *cubin = NULL;
    size_t len = 0;
    CHECK_MSG(mlcc_nvrtc_compile(sb_cstr(&dev), 90, &cubin, &len) == 0, "%s", mlcc_last_error());
    free(cubin);
    sb_free(&lib);
    sb_free(&dev);
}

int main(void) {
    if (!mlcc_nvrtc_available()) TEST_SKIP("%s", mlcc_nvrtc_status());
    ir_scope_begin();
    wide_group();
    run_config(0, 10000);
    run_config(30, 10000);
    run_config(0, 0); /* kv_append without rope: a thread per dimension */
    ir_scope_end();
    if (!mlcc_cuda_available() && !test_checks_failed) TEST_SKIP("%s", mlcc_cuda_status());
    return test_finish();
}
