/* gguf_names.c - llama.cpp's tensor names for Hugging Face ones (see model.h). */
#include <stdio.h>
#include <string.h>

#include "models/model.h"

void model_gguf_tensor_name(const char *hf, char *out, size_t cap) {
    static const char *const map[][2] = {
        {"self_attn.q_proj", "attn_q"},   {"self_attn.k_proj", "attn_k"},     {"self_attn.v_proj", "attn_v"},
        {"self_attn.o_proj", "attn_output"}, {"mlp.gate_proj", "ffn_gate"},    {"mlp.up_proj", "ffn_up"},
        {"mlp.down_proj", "ffn_down"},    {"input_layernorm", "attn_norm"},   {"post_attention_layernorm", "ffn_norm"},
        {"self_attn.q_norm", "attn_q_norm"}, {"self_attn.k_norm", "attn_k_norm"},
        {"self_attn.qkv_proj", "attn_qkv"}, {"mlp.gate_up_proj", "ffn_up"}, /* phi3: fused */
    };
    out[0] = 0;
    if (!strcmp(hf, "model.embed_tokens.weight")) snprintf(out, cap, "token_embd.weight");
    else if (!strcmp(hf, "model.norm.weight")) snprintf(out, cap, "output_norm.weight");
    else if (!strcmp(hf, "lm_head.weight")) snprintf(out, cap, "output.weight");
    int layer, pos = 0;
    if (sscanf(hf, "model.layers.%d.%n", &layer, &pos) != 1 || pos == 0) return;
    const char *rest = hf + pos;
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++) {
        size_t len = strlen(map[i][0]);
        if (strncmp(rest, map[i][0], len) == 0 && rest[len] == '.') {
            snprintf(out, cap, "blk.%d.%s%s", layer, map[i][1], rest + len);
            return;
        }
    }
}
