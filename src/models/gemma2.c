/* gemma2.c - Gemma2ForCausalLM: gemma plus logit soft-caps (attention and final), sliding
 * window on alternating layers (even layers slide unless layer_types says otherwise), norms
 * before and after both the attention and the MLP, and scores scaled by
 * query_pre_attn_scalar^-1/2 instead of head_dim^-1/2. */
#include "models/arch.h"

#include "support/error.h"

int arch_gemma2_configure(json_t *j, const char *file, mlcc_model_config *cfg, decoder_spec *spec) {
    if (arch_gemma_configure(j, file, cfg, spec)) return -1;
    spec->sandwich_norms = 1;
    cfg->query_pre_attn_scalar = 256;
    cfg->attn_softcap = 50, cfg->final_softcap = 30;
    if (cfg_float_opt(j, file, "query_pre_attn_scalar", &cfg->query_pre_attn_scalar) ||
        cfg_float_opt(j, file, "attn_logit_softcapping", &cfg->attn_softcap) ||
        cfg_float_opt(j, file, "final_logit_softcapping", &cfg->final_softcap))
        return -1;
    if (!(cfg->query_pre_attn_scalar > 0) || cfg->attn_softcap < 0 || cfg->final_softcap < 0)
        return mlcc_set_error("%s: query_pre_attn_scalar must be positive and the soft-caps not negative", file);
    /* null soft-caps switch them off */
    if (json_is_null(json_object_get(j, "attn_logit_softcapping"))) cfg->attn_softcap = 0;
    if (json_is_null(json_object_get(j, "final_logit_softcapping"))) cfg->final_softcap = 0;
    if (!json_object_get(j, "layer_types"))
        for (int64_t i = 0; i < cfg->layers; i++) cfg->layer_window[i] = i % 2 == 0 ? cfg->sliding_window : 0;
    return 0;
}
