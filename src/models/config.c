/* config.c - reading config.json / GGUF metadata into mlcc_model_config, and the rotary
 * frequencies (default, linear and llama3 scaling as transformers computes them). */
#include "models/config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "quant/awq.h"
#include "support/alloc.h"
#include "support/error.h"

int cfg_int_opt(json_t *j, const char *file, const char *key, int64_t *out) {
    json_t *v = json_object_get(j, key);
    if (!v || json_is_null(v)) return 0;
    if (json_is_integer(v)) {
        *out = json_integer_value(v);
        return 0;
    }
    if (json_is_real(v) && json_real_value(v) == floor(json_real_value(v))) { /* 2.0, 1e3 */
        double d = json_real_value(v);
        /* jansson reads an integer beyond int64 as a real: casting that would be undefined */
        if (!(d > -9.2e18 && d < 9.2e18)) return mlcc_set_error("%s: field '%s' = %g is out of range", file, key, d);
        *out = (int64_t)d;
        return 0;
    }
    return mlcc_set_error("%s: field '%s' must be an integer", file, key);
}

int cfg_int(json_t *j, const char *file, const char *key, int64_t *out) {
    json_t *v = json_object_get(j, key);
    if (!v || json_is_null(v)) return mlcc_set_error("%s: missing field '%s'", file, key);
    if (cfg_int_opt(j, file, key, out)) return -1;
    if (*out <= 0 || *out > ((int64_t)1 << 31)) return mlcc_set_error("%s: field '%s' out of range (%lld)", file, key, (long long)*out);
    return 0;
}

int cfg_float_opt(json_t *j, const char *file, const char *key, double *out) {
    json_t *v = json_object_get(j, key);
    if (!v || json_is_null(v)) return 0;
    if (!json_is_number(v)) return mlcc_set_error("%s: field '%s' must be a number", file, key);
    *out = json_number_value(v);
    return 0;
}

int cfg_bool_opt(json_t *j, const char *file, const char *key, int *out) {
    json_t *v = json_object_get(j, key);
    if (!v || json_is_null(v)) return 0;
    if (!json_is_boolean(v)) return mlcc_set_error("%s: field '%s' must be true or false", file, key);
    *out = json_is_true(v);
    return 0;
}

/* rope_scaling / rope_parameters: {"rope_type" (or "type"), "factor", ...}. */
static int read_rope(json_t *r, const char *file, const char *field, mlcc_model_config *cfg) {
    if (!r || json_is_null(r)) return 0;
    if (!json_is_object(r)) return mlcc_set_error("%s: field '%s' must be an object", file, field);
    if (cfg_float_opt(r, file, "rope_theta", &cfg->rope_theta)) return -1;
    json_t *t = json_object_get(r, "rope_type");
    if (!t) t = json_object_get(r, "type");
    const char *type = json_is_string(t) ? json_string_value(t) : "default";
    if (strcmp(type, "default") == 0) {
        cfg->rope = ROPE_DEFAULT;
        return 0;
    }
    cfg->rope_factor = 0;
    if (cfg_float_opt(r, file, "factor", &cfg->rope_factor)) return -1;
    if (!(cfg->rope_factor > 0)) return mlcc_set_error("%s: %s.factor must be a positive number", file, field);
    if (strcmp(type, "linear") == 0) {
        cfg->rope = ROPE_LINEAR;
        return 0;
    }
    if (strcmp(type, "llama3") == 0) {
        cfg->rope = ROPE_LLAMA3;
        cfg->low_freq_factor = 1, cfg->high_freq_factor = 4, cfg->rope_original_max = 0;
        if (cfg_float_opt(r, file, "low_freq_factor", &cfg->low_freq_factor) ||
            cfg_float_opt(r, file, "high_freq_factor", &cfg->high_freq_factor) ||
            cfg_int(r, file, "original_max_position_embeddings", &cfg->rope_original_max))
            return -1;
        if (!(cfg->high_freq_factor > cfg->low_freq_factor))
            return mlcc_set_error("%s: %s: high_freq_factor must exceed low_freq_factor", file, field);
        return 0;
    }
    return mlcc_set_error("%s: %s: rope_type '%s' is not supported (default, linear, llama3)", file, field, type);
}

static int read_activation(json_t *j, const char *file, mlcc_model_config *cfg) {
    const char *key = json_object_get(j, "hidden_activation") ? "hidden_activation" : "hidden_act";
    json_t *v = json_object_get(j, key);
    if (!v || json_is_null(v)) return 0; /* the architecture's default stays */
    if (!json_is_string(v)) return mlcc_set_error("%s: field '%s' must be a string", file, key);
    const char *s = json_string_value(v);
    if (!strcmp(s, "silu") || !strcmp(s, "swish")) cfg->act = ACT_SILU;
    else if (!strcmp(s, "gelu_pytorch_tanh") || !strcmp(s, "gelu_new") || !strcmp(s, "gelu_fast")) cfg->act = ACT_GELU_TANH;
    else if (!strcmp(s, "gelu")) cfg->act = ACT_GELU;
    else return mlcc_set_error("%s: field '%s': activation '%s' is not supported", file, key, s);
    return 0;
}

/* layer_types: ["sliding_attention", "full_attention", ...] (transformers 4.5x+). */
static int read_layer_types(json_t *j, const char *file, mlcc_model_config *cfg) {
    json_t *lt = json_object_get(j, "layer_types");
    if (!lt || json_is_null(lt)) return 0;
    if (!json_is_array(lt) || (int64_t)json_array_size(lt) != cfg->layers)
        return mlcc_set_error("%s: field 'layer_types' must be an array of num_hidden_layers strings", file);
    for (int64_t i = 0; i < cfg->layers; i++) {
        const char *s = json_string_value(json_array_get(lt, (size_t)i));
        if (!s) return mlcc_set_error("%s: layer_types[%lld] is not a string", file, (long long)i);
        if (!strcmp(s, "sliding_attention")) cfg->layer_window[i] = cfg->sliding_window;
        else if (!strcmp(s, "full_attention")) cfg->layer_window[i] = 0;
        else return mlcc_set_error("%s: layer_types[%lld]: '%s' is not supported", file, (long long)i, s);
    }
    return 0;
}

/* rope_freq_factors (an mlcc field; a model converted from GGUF keeps llama.cpp's
 * rope_freqs.weight exactly): head_dim / 2 positive divisors of the default frequencies, used
 * instead of rope_scaling's formula, as llama.cpp uses them. */
static int read_rope_freq_factors(json_t *j, const char *file, mlcc_model_config *cfg) {
    json_t *f = json_object_get(j, "rope_freq_factors");
    if (!f || json_is_null(f)) return 0;
    int64_t half = cfg->head_dim / 2;
    if (!json_is_array(f) || (int64_t)json_array_size(f) != half)
        return mlcc_set_error("%s: field 'rope_freq_factors' must be an array of head_dim / 2 = %lld numbers", file, (long long)half);
    cfg->rope_freq_factors = mlcc_xmalloc(sizeof(double) * (size_t)half);
    for (int64_t k = 0; k < half; k++) {
        json_t *v = json_array_get(f, (size_t)k);
        cfg->rope_freq_factors[k] = json_is_number(v) ? json_number_value(v) : 0;
        if (!(cfg->rope_freq_factors[k] > 0)) return mlcc_set_error("%s: rope_freq_factors[%lld] is not a positive number", file, (long long)k);
    }
    if (cfg->rope == ROPE_LLAMA3) cfg->rope = ROPE_DEFAULT;
    return 0;
}

int model_config_from_json(json_t *j, const char *file, mlcc_model_config *cfg) {
    memset(cfg, 0, sizeof *cfg);
    if (!json_is_object(j)) return mlcc_set_error("%s: not a JSON object", file);
    json_t *mt = json_object_get(j, "model_type");
    if (!json_is_string(mt)) return mlcc_set_error("%s: missing field 'model_type'", file);
    snprintf(cfg->model_type, sizeof cfg->model_type, "%s", json_string_value(mt));
    if (cfg_int(j, file, "hidden_size", &cfg->hidden) || cfg_int(j, file, "num_hidden_layers", &cfg->layers) ||
        cfg_int(j, file, "num_attention_heads", &cfg->heads) || cfg_int(j, file, "intermediate_size", &cfg->intermediate) ||
        cfg_int(j, file, "vocab_size", &cfg->vocab))
        return -1;
    if (cfg->layers > MODEL_MAX_LAYERS) return mlcc_set_error("%s: num_hidden_layers %lld is too many", file, (long long)cfg->layers);
    cfg->kv_heads = cfg->heads;
    cfg->head_dim = 0;
    cfg->max_positions = 4096;
    cfg->rms_eps = 1e-6;
    cfg->rope_theta = 10000;
    cfg->act = ACT_SILU;
    cfg->bos_id = cfg->eos_id = -1;
    if (cfg_int_opt(j, file, "num_key_value_heads", &cfg->kv_heads) || cfg_int_opt(j, file, "head_dim", &cfg->head_dim) ||
        cfg_int_opt(j, file, "max_position_embeddings", &cfg->max_positions) ||
        cfg_float_opt(j, file, "rms_norm_eps", &cfg->rms_eps) || cfg_float_opt(j, file, "rope_theta", &cfg->rope_theta) ||
        cfg_bool_opt(j, file, "tie_word_embeddings", &cfg->tie_embeddings) ||
        cfg_bool_opt(j, file, "attention_bias", &cfg->attention_bias) || cfg_int_opt(j, file, "bos_token_id", &cfg->bos_id) ||
        read_activation(j, file, cfg))
        return -1;
    model_config_add_eos(j, cfg);
    if (cfg->head_dim == 0) {
        if (cfg->hidden % cfg->heads) return mlcc_set_error("%s: hidden_size is not a multiple of num_attention_heads (give head_dim)", file);
        cfg->head_dim = cfg->hidden / cfg->heads;
    }
    if (cfg->head_dim <= 0 || cfg->head_dim % 2 || cfg->head_dim > 4096)
        return mlcc_set_error("%s: field 'head_dim' must be even and in 2..4096 (got %lld)", file, (long long)cfg->head_dim);
    if (!(cfg->rms_eps >= 0)) return mlcc_set_error("%s: field 'rms_norm_eps' must not be negative", file);
    if (cfg->kv_heads <= 0 || cfg->heads % cfg->kv_heads)
        return mlcc_set_error("%s: num_attention_heads %lld is not a multiple of num_key_value_heads %lld", file,
                              (long long)cfg->heads, (long long)cfg->kv_heads);
    if (read_rope(json_object_get(j, "rope_scaling"), file, "rope_scaling", cfg) ||
        read_rope(json_object_get(j, "rope_parameters"), file, "rope_parameters", cfg))
        return -1;
    if (!(cfg->rope_theta > 0)) return mlcc_set_error("%s: field 'rope_theta' must be positive", file);
    if (read_rope_freq_factors(j, file, cfg)) return -1;
    if (cfg_int_opt(j, file, "sliding_window", &cfg->sliding_window)) return -1;
    if (cfg->sliding_window < 0) return mlcc_set_error("%s: field 'sliding_window' must not be negative", file);
    cfg->layer_window = mlcc_xmalloc(sizeof(int64_t) * (size_t)cfg->layers);
    for (int64_t i = 0; i < cfg->layers; i++) cfg->layer_window[i] = 0;
    if (read_layer_types(j, file, cfg)) return -1;
    return awq_config_parse(json_object_get(j, "quantization_config"), file, &cfg->awq_group_size);
}

static void add_eos_id(mlcc_model_config *cfg, json_int_t id) {
    if (id < 0 || id > INT32_MAX || cfg->n_eos == MODEL_MAX_EOS) return;
    for (int i = 0; i < cfg->n_eos; i++)
        if (cfg->eos_ids[i] == id) return;
    cfg->eos_ids[cfg->n_eos++] = (int32_t)id;
    cfg->eos_id = cfg->eos_ids[0];
}

void model_config_add_eos(json_t *j, mlcc_model_config *cfg) {
    json_t *eos = json_object_get(j, "eos_token_id");
    if (json_is_integer(eos)) add_eos_id(cfg, json_integer_value(eos));
    for (size_t i = 0; json_is_array(eos) && i < json_array_size(eos); i++)
        if (json_is_integer(json_array_get(eos, i))) add_eos_id(cfg, json_integer_value(json_array_get(eos, i)));
}

static int gguf_int(const mlcc_gguf *g, const char *key, int64_t *out, int required) {
    if (!mlcc_gguf_find(g, key)) return required ? mlcc_set_error("%s: missing metadata '%s'", g->path, key) : 0;
    return mlcc_gguf_get_int(g, key, out);
}

/* A size (hidden, layers, heads, ...): in 1..2^31, the range config.json's sizes take (see
 * cfg_int), so that the config.json `mlcc convert` writes from it reads back. */
static int gguf_size(const mlcc_gguf *g, const char *key, int64_t *out, int required) {
    if (gguf_int(g, key, out, required)) return -1;
    if (mlcc_gguf_find(g, key) && (*out <= 0 || *out > ((int64_t)1 << 31)))
        return mlcc_set_error("%s: metadata '%s' out of range (%lld)", g->path, key, (long long)*out);
    return 0;
}

/* An optional float that must be finite and positive (zero_ok: or zero). */
static int gguf_float(const mlcc_gguf *g, const char *key, double *out, int zero_ok) {
    if (!mlcc_gguf_find(g, key)) return 0;
    if (mlcc_gguf_get_float(g, key, out)) return -1;
    if (!isfinite(*out) || *out < 0 || (*out == 0 && !zero_ok))
        return mlcc_set_error("%s: metadata '%s' must be a %s finite number (got %g)", g->path, key,
                              zero_ok ? "non-negative" : "positive", *out);
    return 0;
}

/* <arch>.rope.scaling.type (linear) and llama.cpp's Llama-3.1 form: a rope_freqs.weight
 * tensor of per-frequency divisors. */
static int read_gguf_rope_scaling(const mlcc_gguf *g, const char *arch, mlcc_model_config *cfg) {
    char key[128], fkey[128];
    snprintf(key, sizeof key, "%s.rope.scaling.type", arch);
    snprintf(fkey, sizeof fkey, "%s.rope.scaling.factor", arch);
    if (mlcc_gguf_find(g, key)) {
        mlcc_gguf_str type;
        if (mlcc_gguf_get_str(g, key, &type)) return -1;
        if (type.len == 6 && !memcmp(type.data, "linear", 6)) {
            cfg->rope = ROPE_LINEAR;
            if (!mlcc_gguf_find(g, fkey)) return mlcc_set_error("%s: missing metadata '%s'", g->path, fkey);
            if (gguf_float(g, fkey, &cfg->rope_factor, 0)) return -1;
        } else if (!(type.len == 4 && !memcmp(type.data, "none", 4))) {
            return mlcc_set_error("%s: %s '%.*s' is not supported (none, linear)", g->path, key, (int)type.len, type.data);
        }
    }
    const mlcc_gguf_tensor *t = mlcc_gguf_find_tensor(g, "rope_freqs.weight");
    if (!t) return 0;
    int64_t half = cfg->head_dim / 2;
    if (t->type != MLCC_GGML_F32 || t->n_elements != (uint64_t)half)
        return mlcc_set_error("%s: rope_freqs.weight must be F32 with %lld elements", g->path, (long long)half);
    const uint8_t *data = mlcc_gguf_tensor_data(g, t);
    cfg->rope_freq_factors = mlcc_xmalloc(sizeof(double) * (size_t)half);
    for (int64_t k = 0; k < half; k++) {
        float f;
        memcpy(&f, data + 4 * k, 4);
        if (!(f > 0) || !isfinite(f))
            return mlcc_set_error("%s: rope_freqs.weight[%lld] is not a positive finite number", g->path, (long long)k);
        cfg->rope_freq_factors[k] = f;
    }
    return 0;
}

/* "<arch>.<key>" into buf. */
static const char *akey(char *buf, size_t cap, const char *arch, const char *key) {
    snprintf(buf, cap, "%s.%s", arch, key);
    return buf;
}

int model_config_from_gguf(const mlcc_gguf *g, mlcc_model_config *cfg) {
    memset(cfg, 0, sizeof *cfg);
    mlcc_gguf_str a;
    if (mlcc_gguf_get_str(g, "general.architecture", &a)) return -1;
    static const char *const supported[] = {"llama", "qwen2", "qwen3", "phi3"};
    const char *arch = NULL;
    for (size_t i = 0; i < sizeof supported / sizeof supported[0]; i++)
        if (a.len == strlen(supported[i]) && memcmp(a.data, supported[i], a.len) == 0) arch = supported[i];
    if (!arch)
        return mlcc_set_error("%s: general.architecture '%.*s' is not supported (llama, qwen2, qwen3, phi3)", g->path,
                              (int)a.len, a.data);
    if (mlcc_gguf_find_tensor(g, "rope_factors_long.weight"))
        return mlcc_set_error("%s: long-context rope factors (rope_factors_long.weight) are not supported yet", g->path);
    snprintf(cfg->model_type, sizeof cfg->model_type, "%s", arch);
    cfg->max_positions = 4096;
    cfg->rms_eps = 1e-5;
    cfg->rope_theta = 10000;
    cfg->act = ACT_SILU;
    cfg->bos_id = cfg->eos_id = -1;
    char k[128];
    if (gguf_size(g, akey(k, sizeof k, arch, "embedding_length"), &cfg->hidden, 1) ||
        gguf_size(g, akey(k, sizeof k, arch, "block_count"), &cfg->layers, 1) ||
        gguf_size(g, akey(k, sizeof k, arch, "attention.head_count"), &cfg->heads, 1) ||
        gguf_size(g, akey(k, sizeof k, arch, "feed_forward_length"), &cfg->intermediate, 1) ||
        gguf_size(g, akey(k, sizeof k, arch, "context_length"), &cfg->max_positions, 0) ||
        gguf_int(g, "tokenizer.ggml.bos_token_id", &cfg->bos_id, 0) || gguf_int(g, "tokenizer.ggml.eos_token_id", &cfg->eos_id, 0))
        return -1;
    if (cfg->eos_id >= 0 && cfg->eos_id <= INT32_MAX) cfg->eos_ids[cfg->n_eos++] = (int32_t)cfg->eos_id;
    cfg->kv_heads = cfg->heads;
    if (gguf_size(g, akey(k, sizeof k, arch, "attention.head_count_kv"), &cfg->kv_heads, 0)) return -1;
    if (cfg->layers > MODEL_MAX_LAYERS || cfg->heads % cfg->kv_heads)
        return mlcc_set_error("%s: inconsistent %s.* dimensions", g->path, arch);
    /* head size: attention.key_length (qwen3: not hidden / heads), else hidden / heads */
    cfg->head_dim = cfg->hidden % cfg->heads == 0 ? cfg->hidden / cfg->heads : 0;
    if (gguf_int(g, akey(k, sizeof k, arch, "attention.key_length"), &cfg->head_dim, 0)) return -1;
    int64_t value_len = cfg->head_dim;
    if (gguf_int(g, akey(k, sizeof k, arch, "attention.value_length"), &value_len, 0)) return -1;
    if (cfg->head_dim <= 0 || cfg->head_dim % 2 || cfg->head_dim > 4096 || value_len != cfg->head_dim)
        return mlcc_set_error("%s: head size %lld (key) / %lld (value) is not supported", g->path, (long long)cfg->head_dim,
                              (long long)value_len);
    if (gguf_float(g, akey(k, sizeof k, arch, "rope.freq_base"), &cfg->rope_theta, 0) ||
        gguf_float(g, akey(k, sizeof k, arch, "attention.layer_norm_rms_epsilon"), &cfg->rms_eps, 1))
        return -1;
    int64_t rot = cfg->head_dim;
    if (gguf_int(g, akey(k, sizeof k, arch, "rope.dimension_count"), &rot, 0)) return -1;
    if (rot != cfg->head_dim)
        return mlcc_set_error("%s: %s %lld != head size %lld (partial rotary) is not supported", g->path, k, (long long)rot,
                              (long long)cfg->head_dim);
    if (read_gguf_rope_scaling(g, arch, cfg)) return -1;
    const mlcc_gguf_tensor *emb = mlcc_gguf_find_tensor(g, "token_embd.weight");
    if (!emb || emb->n_dims != 2) return mlcc_set_error("%s: missing tensor 'token_embd.weight'", g->path);
    if (emb->dims[1] == 0 || emb->dims[1] > ((uint64_t)1 << 31))
        return mlcc_set_error("%s: tensor 'token_embd.weight' has %llu rows (the vocabulary size must be in 1..2^31)", g->path,
                              (unsigned long long)emb->dims[1]);
    cfg->vocab = (int64_t)emb->dims[1];
    cfg->tie_embeddings = mlcc_gguf_find_tensor(g, "output.weight") == NULL;
    cfg->layer_window = mlcc_xmalloc(sizeof(int64_t) * (size_t)cfg->layers);
    for (int64_t i = 0; i < cfg->layers; i++) cfg->layer_window[i] = 0;
    return 0;
}

void model_config_free(mlcc_model_config *cfg) {
    free(cfg->rope_freq_factors);
    cfg->rope_freq_factors = NULL;
    free(cfg->layer_window);
    cfg->layer_window = NULL;
}

void model_rope_inv_freq(const mlcc_model_config *cfg, double *f) {
    int64_t half = cfg->head_dim / 2;
    for (int64_t k = 0; k < half; k++) {
        double inv = 1.0 / pow(cfg->rope_theta, (double)(2 * k) / (double)cfg->head_dim);
        if (cfg->rope == ROPE_LINEAR) {
            inv /= cfg->rope_factor;
        } else if (cfg->rope == ROPE_LLAMA3) {
            /* transformers' _compute_llama3_parameters: long wavelengths are divided by the
             * factor, short ones kept, the band between interpolated smoothly */
            double old = (double)cfg->rope_original_max;
            double low_wavelen = old / cfg->low_freq_factor, high_wavelen = old / cfg->high_freq_factor;
            double wavelen = 2 * M_PI / inv;
            if (wavelen > low_wavelen) {
                inv /= cfg->rope_factor;
            } else if (wavelen >= high_wavelen) {
                double smooth = (old / wavelen - cfg->low_freq_factor) / (cfg->high_freq_factor - cfg->low_freq_factor);
                inv = (1 - smooth) * inv / cfg->rope_factor + smooth * inv;
            }
        }
        if (cfg->rope_freq_factors) inv /= cfg->rope_freq_factors[k];
        f[k] = inv;
    }
}
