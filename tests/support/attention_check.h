/* attention_check.h - the paged-attention kernels of src/gen/ (kv_append, attn_prefill,
 * attn_decode) built for a GPU target against the same kernels built for the CPU, on one random
 * batch: what test_cuda_attention and test_vulkan_attention run. */
#ifndef MLCC_TEST_ATTENTION_CHECK_H
#define MLCC_TEST_ATTENTION_CHECK_H

#include "codegen/jit.h"
#include "gen/attention.h"
#include "runtime/device.h"
#include "mlcc/mlcc_runtime.h"

/* The shape the kernels are generated with (gen/attention.h's mlcc_attn_config). */
enum { TEST_ATTN_D = 64, TEST_ATTN_QH = 4, TEST_ATTN_KVH = 2, TEST_ATTN_PS = 16 };

/* Two sequences (37 and 20 tokens, scattered pages of TEST_ATTN_PS): gpu's kv_append (run on
 * gpu_dev) stores the pages cpu's does (to 1e-5; 1e-3 with float16 pages, f16: rope's last
 * float32 bits may round K to the neighbouring float16), and over those pages its attn_prefill
 * (without and with a window of 8) and attn_decode (1, 3, 5 with a window of 9, and 7 splits)
 * agree with cpu's to 1e-5 of the largest output. `name` labels the printed figures. */
void test_compare_paged_attention(mlcc_jit_module *cpu, mlcc_jit_module *gpu, DLDevice gpu_dev, int f16, const char *name);

/* The generated kv_append, attn_prefill and attn_decode of cfg built for the CPU, as the
 * functions a CPU KV cache is configured with (kernels[0], [1], [2]); *jit holds their code
 * (release the functions, then mlcc_jit_free it). 0, or -1 with the error set. */
int test_attn_cpu_functions(const mlcc_attn_config *cfg, MLCCFunction *kernels[3], mlcc_jit_module **jit);

#endif
