/* phi3.c - Phi3ForCausalLM: llama with fused projections (qkv_proj = [q; k; v] rows,
 * gate_up_proj = [gate; up] rows) and a sliding window on every layer when set. Partial
 * rotary embeddings (phi-4-mini) are not supported yet. */
#include "models/arch.h"

#include "support/error.h"

int arch_phi3_configure(json_t *j, const char *file, mlcc_model_config *cfg, decoder_spec *spec) {
    double partial = 1.0;
    if (cfg_float_opt(j, file, "partial_rotary_factor", &partial)) return -1;
    if (partial != 1.0) return mlcc_set_error("%s: field 'partial_rotary_factor' %g is not supported (only 1)", file, partial);
    spec->fused_qkv = spec->fused_gate_up = 1;
    if (!json_object_get(j, "rms_norm_eps")) cfg->rms_eps = 1e-5; /* Phi3Config's default (1e-6 elsewhere) */
    for (int64_t i = 0; i < cfg->layers; i++) cfg->layer_window[i] = cfg->sliding_window;
    return 0;
}
