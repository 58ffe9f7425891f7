/* test_vulkan_attention.c - the paged-attention kernels of src/gen/ (kv_append with rope,
 * attn_prefill, attn_decode with 1, 3, 5 (and a window) and 7 splits) under the vulkan
 * target's schedules, against the same kernels compiled for the CPU, on one random batch of two
 * sequences (37 and 20 tokens, pages of 16, GQA 4:2 heads, head_dim 64), as test_cuda_attention
 * does for CUDA: with float32 pages, and with float16 pages (kv_dtype; where the device has
 * float16) whose appended values agree to 1e-3 (one float16 rounding step) and whose prefill and
 * decode outputs (float32 arithmetic over the same float16 pages) agree to 1e-5. On lavapipe
 * (subgroups of 8) the decode runs its portable schedule; on a GPU with 32-lane subgroups the
 * warp one. Skips without a Vulkan device or glslang. */
#include <stdint.h>

#include "attention_check.h"
#include "codegen/codegen_vulkan.h"
#include "codegen/jit.h"
#include "gen/attention.h"
#include "runtime/vulkan.h"
#include "schedule/gpu_rules.h"
#include "support/error.h"
#include "tensor_util.h"
#include "test.h"

/* One configuration: the vulkan target's schedules (the decode with both its warp and
 * portable forms; which runs depends on the device's subgroups) against the CPU build. */
static void run_config(int f16) {
    mlcc_attn_config cfg = {0};
    cfg.head_dim = TEST_ATTN_D, cfg.num_qo_heads = TEST_ATTN_QH, cfg.num_kv_heads = TEST_ATTN_KVH, cfg.page_size = TEST_ATTN_PS;
    cfg.dtype = DT_F32, cfg.rope_theta = 10000;
    if (f16) cfg.kv_dtype = DT_F16;
    mlcc_prim_func *cpu_funcs[3], *gpu_funcs[3];
    CHECK_MSG(gen_attn_kernels(&cfg, cpu_funcs) == 0, "%s", mlcc_last_error());
    for (int i = 0; i < 3; i++) {
        gpu_funcs[i] = vulkan_schedule(cpu_funcs[i]);
        CHECK_MSG(gpu_funcs[i] != NULL, "%s: %s", cpu_funcs[i]->name, mlcc_last_error());
    }
    if (test_checks_failed) return;
    mlcc_strbuf lib = STRBUF_INIT;
    mlcc_jit_module *gpu = NULL, *cpu = mlcc_jit_build(cpu_funcs, 3);
    CHECK_MSG(codegen_vulkan(gpu_funcs, 3, &lib, NULL) == 0, "%s", mlcc_last_error());
    if (!test_checks_failed) gpu = mlcc_jit_compile_source(sb_cstr(&lib));
    sb_free(&lib);
    CHECK_MSG(cpu && gpu, "%s", mlcc_last_error());
    if (cpu && gpu) test_compare_paged_attention(cpu, gpu, (DLDevice){kDLVulkan, 0}, f16, "vulkan");
    mlcc_jit_free(cpu);
    mlcc_jit_free(gpu);
}

int main(void) {
    if (!mlcc_vulkan_available()) TEST_SKIP("%s", mlcc_vulkan_status());
    if (!mlcc_glsl_compiler_available()) TEST_SKIP("%s", mlcc_glsl_compiler_status());
    ir_scope_begin();
    run_config(0);
    if (mlcc_vulkan_has_float16(0)) run_config(1);
    else printf("float16 pages: not run: vulkan:0 has no float16\n");
    printf("decode attention schedule run: %s\n", mlcc_vulkan_shuffle_size(0) >= 32 ? "warp (subgroupShuffleXor)" : "portable");
    ir_scope_end();
    return test_finish();
}
