/* arch.h - what distinguishes one decoder-only architecture from another, and the table of
 * supported Hugging Face model_types. Each architecture is one small file (llama.c, qwen2.c,
 * ...) with a configure hook that reads its own config fields and fills a decoder_spec; the
 * shared graph builder (decoder.c, from layers.c pieces) turns the spec into graph functions. */
#ifndef MLCC_MODELS_ARCH_H
#define MLCC_MODELS_ARCH_H

#include <jansson.h>

#include "models/config.h"

typedef struct decoder_spec {
    int qkv_bias;         /* q/k/v projections have biases (qwen2) */
    int o_bias;           /* o_proj has a bias (llama attention_bias) */
    int mlp_bias;         /* gate/up/down have biases (llama mlp_bias) */
    int qk_norm;          /* RMSNorm of each q/k head before rope (qwen3) */
    int fused_qkv;        /* self_attn.qkv_proj (phi3) */
    int fused_gate_up;    /* mlp.gate_up_proj (phi3) */
    int embed_scale;      /* embeddings times sqrt(hidden) (gemma) */
    int norm_plus_one;    /* RMSNorm weight is (1 + w) (gemma) */
    int sandwich_norms;   /* post_attention_layernorm on the attention output, and
                             pre_/post_feedforward_layernorm around the MLP (gemma2) */
} decoder_spec;

typedef struct model_arch {
    const char *model_type;
    /* Reads the architecture's own fields of config.json (after the common ones) and fills
     * spec; -1 + error naming the file and field. */
    int (*configure)(json_t *j, const char *file, mlcc_model_config *cfg, decoder_spec *spec);
} model_arch;

/* The architecture for a model_type, or NULL + error listing the supported ones. */
const model_arch *model_arch_find(const char *model_type, const char *file);

/* The architecture hooks (one file each). */
int arch_llama_configure(json_t *j, const char *file, mlcc_model_config *cfg, decoder_spec *spec);
int arch_mistral_configure(json_t *j, const char *file, mlcc_model_config *cfg, decoder_spec *spec);
int arch_qwen2_configure(json_t *j, const char *file, mlcc_model_config *cfg, decoder_spec *spec);
int arch_qwen3_configure(json_t *j, const char *file, mlcc_model_config *cfg, decoder_spec *spec);
int arch_phi3_configure(json_t *j, const char *file, mlcc_model_config *cfg, decoder_spec *spec);
int arch_gemma_configure(json_t *j, const char *file, mlcc_model_config *cfg, decoder_spec *spec);
int arch_gemma2_configure(json_t *j, const char *file, mlcc_model_config *cfg, decoder_spec *spec);

#endif
