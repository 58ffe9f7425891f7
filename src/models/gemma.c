/* gemma.c - GemmaForCausalLM: embeddings scaled by sqrt(hidden), RMSNorm with (1 + w),
 * GELU-tanh MLP, tied embeddings by default, q/k/v/o biases when attention_bias (as in llama). */
#include "models/arch.h"

int arch_gemma_configure(json_t *j, const char *file, mlcc_model_config *cfg, decoder_spec *spec) {
    spec->embed_scale = spec->norm_plus_one = 1;
    spec->qkv_bias = spec->o_bias = cfg->attention_bias;
    if (!json_object_get(j, "tie_word_embeddings")) cfg->tie_embeddings = 1;
    if (!json_object_get(j, "hidden_activation") && !json_object_get(j, "hidden_act")) cfg->act = ACT_GELU_TANH;
    (void)file;
    return 0;
}
