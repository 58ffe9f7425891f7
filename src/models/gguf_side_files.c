/* gguf_side_files.c - config.json, generation_config.json and the tokenizer files of a model
 * converted from a GGUF file (see gguf_side_files.h). */
#include "models/gguf_side_files.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "support/error.h"
#include "support/file.h"
#include "support/log.h"
#include "tokenizer/gguf_export.h"

static const char *architecture_class(const char *model_type) {
    static const char *const names[][2] = {
        {"llama", "LlamaForCausalLM"}, {"qwen2", "Qwen2ForCausalLM"}, {"qwen3", "Qwen3ForCausalLM"}, {"phi3", "Phi3ForCausalLM"}};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (!strcmp(names[i][0], model_type)) return names[i][1];
    return NULL;
}

/* llama.cpp's converter writes rope_freqs.weight from rope_scaling "llama3" (factor, low / high
 * frequency factors, original context) in float32; does `factors` match it for the usual low 1,
 * high 4 and one of a few original contexts? Then *orig gets that context. */
static int llama3_fit(const mlcc_model_config *cfg, double factor, int64_t *orig) {
    static const int64_t contexts[] = {8192, 4096, 16384, 32768, 131072};
    int64_t half = cfg->head_dim / 2;
    for (size_t c = 0; c < sizeof contexts / sizeof contexts[0]; c++) {
        double old = (double)contexts[c], low = 1, high = 4;
        int ok = 1;
        for (int64_t k = 0; k < half && ok; k++) {
            float freq = (float)(1.0 / pow(cfg->rope_theta, (double)(float)(2 * k) / (double)cfg->head_dim));
            double wavelen = 2 * M_PI / freq, want;
            if (wavelen < old / high) want = 1;
            else if (wavelen > old / low) want = factor;
            else {
                double smooth = (old / wavelen - low) / (high - low);
                want = 1 / ((1 - smooth) / factor + smooth);
            }
            ok = fabs(want - cfg->rope_freq_factors[k]) <= 1e-5 * want;
        }
        if (ok) {
            *orig = contexts[c];
            return 1;
        }
    }
    return 0;
}

static json_t *rope_scaling(const mlcc_model_config *cfg) {
    if (cfg->rope == ROPE_LINEAR) return json_pack("{s:s,s:f}", "rope_type", "linear", "factor", cfg->rope_factor);
    if (!cfg->rope_freq_factors) return json_null();
    double factor = 1;
    for (int64_t k = 0; k < cfg->head_dim / 2; k++)
        if (cfg->rope_freq_factors[k] > factor) factor = cfg->rope_freq_factors[k];
    int64_t orig;
    if (factor > 1 && llama3_fit(cfg, factor, &orig))
        return json_pack("{s:s,s:f,s:f,s:f,s:I}", "rope_type", "llama3", "factor", factor, "low_freq_factor", 1.0,
                         "high_freq_factor", 4.0, "original_max_position_embeddings", (json_int_t)orig);
    return json_null();
}

static json_t *eos_ids(const mlcc_model_config *cfg) {
    if (cfg->n_eos == 0) return json_null();
    if (cfg->n_eos == 1) return json_integer(cfg->eos_ids[0]);
    json_t *a = json_array();
    for (int i = 0; i < cfg->n_eos; i++) json_array_append_new(a, json_integer(cfg->eos_ids[i]));
    return a;
}

json_t *gguf_hf_config(const mlcc_model_config *cfg, const decoder_spec *spec) {
    const char *arch = architecture_class(cfg->model_type);
    if (!arch) return mlcc_set_error("model type '%s' has no Hugging Face architecture here", cfg->model_type), NULL;
    json_t *j = json_object();
    json_object_set_new(j, "architectures", json_pack("[s]", arch));
    json_object_set_new(j, "model_type", json_string(cfg->model_type));
    json_object_set_new(j, "hidden_size", json_integer(cfg->hidden));
    json_object_set_new(j, "intermediate_size", json_integer(cfg->intermediate));
    json_object_set_new(j, "num_hidden_layers", json_integer(cfg->layers));
    json_object_set_new(j, "num_attention_heads", json_integer(cfg->heads));
    json_object_set_new(j, "num_key_value_heads", json_integer(cfg->kv_heads));
    json_object_set_new(j, "head_dim", json_integer(cfg->head_dim));
    json_object_set_new(j, "max_position_embeddings", json_integer(cfg->max_positions));
    json_object_set_new(j, "vocab_size", json_integer(cfg->vocab));
    json_object_set_new(j, "rms_norm_eps", json_real(cfg->rms_eps));
    json_object_set_new(j, "rope_theta", json_real(cfg->rope_theta));
    json_object_set_new(j, "rope_scaling", rope_scaling(cfg));
    if (cfg->rope_freq_factors) { /* exact, as the GGUF file has them (mlcc reads these over rope_scaling) */
        json_t *f = json_array();
        for (int64_t k = 0; k < cfg->head_dim / 2; k++) json_array_append_new(f, json_real(cfg->rope_freq_factors[k]));
        json_object_set_new(j, "rope_freq_factors", f);
    }
    json_object_set_new(j, "hidden_act", json_string("silu"));
    json_object_set_new(j, "tie_word_embeddings", json_boolean(cfg->tie_embeddings));
    /* qwen2's q/k/v biases come with the architecture; llama's and qwen3's are off in GGUF files */
    json_object_set_new(j, "attention_bias", json_boolean(strcmp(cfg->model_type, "qwen2") && spec->qkv_bias));
    if (!strcmp(cfg->model_type, "llama")) json_object_set_new(j, "mlp_bias", json_boolean(spec->mlp_bias));
    json_object_set_new(j, "sliding_window", json_null());
    if (!strncmp(cfg->model_type, "qwen", 4)) json_object_set_new(j, "use_sliding_window", json_false());
    json_object_set_new(j, "bos_token_id", cfg->bos_id >= 0 ? json_integer(cfg->bos_id) : json_null());
    json_object_set_new(j, "eos_token_id", eos_ids(cfg));
    return j;
}

static int write_json(json_t *j, const char *dir, const char *name) {
    char *s = json_dumps(j, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
    char *path = mlcc_path_join(dir, name);
    int rc = s ? mlcc_write_file_atomic(path, s, strlen(s)) : mlcc_set_error("%s: cannot serialize", path);
    if (rc) mlcc_prefix_error("writing %s", path);
    free(s);
    free(path);
    return rc;
}

int gguf_side_files_write(const char *gguf, const mlcc_model_config *cfg, const decoder_spec *spec, const char *dir) {
    json_t *config = gguf_hf_config(cfg, spec), *tok = NULL, *tok_cfg = NULL;
    if (!config) return mlcc_prefix_error("%s", gguf);
    json_t *gen = json_pack("{s:o,s:o}", "bos_token_id", cfg->bos_id >= 0 ? json_integer(cfg->bos_id) : json_null(), "eos_token_id",
                            eos_ids(cfg));
    int rc = write_json(config, dir, "config.json");
    if (rc == 0) rc = write_json(gen, dir, "generation_config.json");
    if (rc == 0 && (rc = tok_gguf_export(gguf, &tok, &tok_cfg)) == 1) {
        LOG_WARN("%s has no vocabulary (tokenizer.ggml.model): the converted model has no tokenizer files", gguf);
        rc = 0;
    } else if (rc == 0) {
        rc = write_json(tok, dir, "tokenizer.json");
        if (rc == 0) rc = write_json(tok_cfg, dir, "tokenizer_config.json");
    }
    json_decref(config), json_decref(gen), json_decref(tok), json_decref(tok_cfg);
    return rc;
}
