/* qwen2.c - Qwen2ForCausalLM: llama with biases on q/k/v. Its sliding window applies only when
 * use_sliding_window is true (as transformers' Qwen2Config decides). */
#include "models/arch.h"

int arch_qwen2_configure(json_t *j, const char *file, mlcc_model_config *cfg, decoder_spec *spec) {
    spec->qkv_bias = 1;
    int use_sliding = 0;
    if (cfg_bool_opt(j, file, "use_sliding_window", &use_sliding)) return -1;
    if (!use_sliding) {
        cfg->sliding_window = 0;
        for (int64_t i = 0; i < cfg->layers; i++) cfg->layer_window[i] = 0;
    } else if (!json_object_get(j, "layer_types")) {
        int64_t first = 28; /* Qwen2Config's (and Qwen3Config's) default max_window_layers */
        if (cfg_int_opt(j, file, "max_window_layers", &first)) return -1;
        for (int64_t i = 0; i < cfg->layers; i++) cfg->layer_window[i] = i >= first ? cfg->sliding_window : 0;
    }
    return 0;
}
