/* llama.c - LlamaForCausalLM (and MistralForCausalLM: the same graph, with a sliding window on
 * every layer when sliding_window is set). */
#include "models/arch.h"

int arch_llama_configure(json_t *j, const char *file, mlcc_model_config *cfg, decoder_spec *spec) {
    spec->qkv_bias = spec->o_bias = cfg->attention_bias;
    return cfg_bool_opt(j, file, "mlp_bias", &spec->mlp_bias);
}

int arch_mistral_configure(json_t *j, const char *file, mlcc_model_config *cfg, decoder_spec *spec) {
    (void)j, (void)file, (void)spec;
    if (!json_object_get(j, "layer_types"))
        for (int64_t i = 0; i < cfg->layers; i++) cfg->layer_window[i] = cfg->sliding_window;
    return 0;
}
