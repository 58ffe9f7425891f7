/* qwen3.c - Qwen3ForCausalLM: qwen2's window rules, no q/k/v biases unless attention_bias,
 * and an RMSNorm of every q and k head (over head_dim) before the rotary embedding. */
#include "models/arch.h"

int arch_qwen3_configure(json_t *j, const char *file, mlcc_model_config *cfg, decoder_spec *spec) {
    if (arch_qwen2_configure(j, file, cfg, spec)) return -1;
    spec->qkv_bias = spec->o_bias = cfg->attention_bias;
    spec->qk_norm = 1;
    return 0;
}
