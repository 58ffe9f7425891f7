/* test_gguf_arch.c - GGUF files of the qwen2, qwen3 and phi3 architectures, as llama.cpp's
 * converter lays them out (arch-prefixed metadata, blk.N.* names, biases, attn_q_norm /
 * attn_k_norm, phi3's fused attn_qkv and ffn_up (gate and up),
 * qwen3's attention.key_length != embedding_length / head_count, no q/k row permutation:
 * their rope is the NeoX = Hugging Face layout), written here from the hf-tiny checkpoints
 * with this test's own name table; the logits must match the float64 references of those
 * checkpoints within 1e-4, in F32 and in F16. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loader/gguf.h"
#include "loader/safetensors.h"
#include "models/model.h"
#include "support/error.h"
#include "support/file.h"
#include "support/json.h"
#include "support/strbuf.h"
#include "test.h"

static void put(mlcc_strbuf *b, const void *p, size_t n) {
    sb_append_n(b, p, n);
}
static void put_u32(mlcc_strbuf *b, uint32_t v) {
    put(b, &v, 4);
}
static void put_u64(mlcc_strbuf *b, uint64_t v) {
    put(b, &v, 8);
}
static void put_str(mlcc_strbuf *b, const char *s) {
    put_u64(b, strlen(s));
    put(b, s, strlen(s));
}
static void kv_u32(mlcc_strbuf *b, const char *arch, const char *key, uint32_t v) {
    char k[128];
    snprintf(k, sizeof k, "%s.%s", arch, key);
    put_str(b, k), put_u32(b, MLCC_GGUF_UINT32), put_u32(b, v);
}
static void kv_f32(mlcc_strbuf *b, const char *arch, const char *key, float v) {
    char k[128];
    snprintf(k, sizeof k, "%s.%s", arch, key);
    put_str(b, k), put_u32(b, MLCC_GGUF_FLOAT32), put(b, &v, 4);
}

/* llama.cpp's name for a Hugging Face tensor name (this test's own table). */
static void gguf_name(const char *hf, char *out, size_t cap) {
    static const char *const map[][2] = {
        {"self_attn.q_proj", "attn_q"},     {"self_attn.k_proj", "attn_k"},   {"self_attn.v_proj", "attn_v"},
        {"self_attn.o_proj", "attn_output"}, {"mlp.gate_proj", "ffn_gate"},    {"mlp.up_proj", "ffn_up"},
        {"mlp.down_proj", "ffn_down"},      {"input_layernorm", "attn_norm"}, {"post_attention_layernorm", "ffn_norm"},
        {"self_attn.q_norm", "attn_q_norm"}, {"self_attn.k_norm", "attn_k_norm"},
        {"self_attn.qkv_proj", "attn_qkv"},  {"mlp.gate_up_proj", "ffn_up"}};
    if (!strcmp(hf, "model.embed_tokens.weight")) snprintf(out, cap, "token_embd.weight");
    else if (!strcmp(hf, "model.norm.weight")) snprintf(out, cap, "output_norm.weight");
    else if (!strcmp(hf, "lm_head.weight")) snprintf(out, cap, "output.weight");
    else {
        int layer, pos = 0;
        sscanf(hf, "model.layers.%d.%n", &layer, &pos);
        const char *rest = hf + pos, *dot = strrchr(rest, '.');
        snprintf(out, cap, "?");
        for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
            if ((size_t)(dot - rest) == strlen(map[i][0]) && !strncmp(rest, map[i][0], strlen(map[i][0])))
                snprintf(out, cap, "blk.%d.%s%s", layer, map[i][1], dot);
    }
}

static uint16_t to_f16(float f) {
    _Float16 h = (_Float16)f;
    uint16_t u;
    memcpy(&u, &h, 2);
    return u;
}

/* Writes the checkpoint in dir as a GGUF file; 2-D weights as F16 when half. */
static int write_gguf(const char *dir, const char *arch, const char *out, int half) {
    char path[512];
    snprintf(path, sizeof path, "%s/config.json", dir);
    json_t *cfg = mlcc_json_load_file(path);
    mlcc_safetensors *st = safetensors_open(dir);
    if (!cfg || !st) return -1;
    int64_t hidden = json_integer_value(json_object_get(cfg, "hidden_size"));
    int64_t heads = json_integer_value(json_object_get(cfg, "num_attention_heads"));
    json_t *hd = json_object_get(cfg, "head_dim");
    mlcc_strbuf b = STRBUF_INIT;
    size_t n = safetensors_count(st);
    put(&b, "GGUF", 4), put_u32(&b, 3), put_u64(&b, n), put_u64(&b, 10);
    put_str(&b, "general.architecture"), put_u32(&b, MLCC_GGUF_STRING), put_str(&b, arch);
    kv_u32(&b, arch, "embedding_length", (uint32_t)hidden);
    kv_u32(&b, arch, "block_count", (uint32_t)json_integer_value(json_object_get(cfg, "num_hidden_layers")));
    kv_u32(&b, arch, "attention.head_count", (uint32_t)heads);
    kv_u32(&b, arch, "attention.head_count_kv", (uint32_t)json_integer_value(json_object_get(cfg, "num_key_value_heads")));
    kv_u32(&b, arch, "feed_forward_length", (uint32_t)json_integer_value(json_object_get(cfg, "intermediate_size")));
    kv_u32(&b, arch, "context_length", 512);
    kv_u32(&b, arch, "attention.key_length", (uint32_t)(hd ? json_integer_value(hd) : hidden / heads));
    kv_f32(&b, arch, "rope.freq_base", (float)json_number_value(json_object_get(cfg, "rope_theta")));
    kv_f32(&b, arch, "attention.layer_norm_rms_epsilon", (float)json_number_value(json_object_get(cfg, "rms_norm_eps")));
    uint64_t offset = 0;
    for (size_t i = 0; i < n; i++) {
        const mlcc_st_tensor *t = safetensors_at(st, i);
        char name[256];
        gguf_name(t->name, name, sizeof name);
        put_str(&b, name), put_u32(&b, (uint32_t)t->ndim);
        for (int d = t->ndim - 1; d >= 0; d--) put_u64(&b, (uint64_t)t->shape[d]);
        int f16 = half && t->ndim == 2;
        put_u32(&b, f16 ? MLCC_GGML_F16 : MLCC_GGML_F32), put_u64(&b, offset);
        offset += (t->nbytes / 4 * (f16 ? 2 : 4) + 31) / 32 * 32;
    }
    while (b.len % 32) put(&b, "", 1);
    for (size_t i = 0; i < n; i++) {
        const mlcc_st_tensor *t = safetensors_at(st, i);
        size_t count = t->nbytes / 4;
        float *f = malloc(t->nbytes);
        safetensors_read_f32(t, f);
        for (size_t k = 0; k < count; k++) {
            if (half && t->ndim == 2) {
                uint16_t h = to_f16(f[k]);
                put(&b, &h, 2);
            } else {
                put(&b, &f[k], 4);
            }
        }
        while (b.len % 32) put(&b, "", 1);
        free(f);
    }
    int rc = mlcc_write_file_atomic(out, b.data, b.len);
    sb_free(&b);
    safetensors_close(st);
    json_decref(cfg);
    return rc;
}

static void check(const char *fixture, const char *arch, int half) {
    char rel[128], out[256], path[512];
    snprintf(rel, sizeof rel, "hf-tiny/%s", fixture);
    char *dir = test_data_path(rel);
    snprintf(out, sizeof out, "%s/gguf-arch-%s-%s.gguf", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", fixture, half ? "f16" : "f32");
    CHECK_MSG(write_gguf(dir, arch, out, half) == 0, "%s", mlcc_last_error());
    snprintf(path, sizeof path, "%s/meta.json", dir);
    json_t *meta = mlcc_json_load_file(path);
    json_t *tok = json_object_get(meta, "tokens");
    int32_t ids[64];
    int n = (int)json_array_size(tok);
    for (int i = 0; i < n && i < 64; i++) ids[i] = (int32_t)json_integer_value(json_array_get(tok, (size_t)i));
    json_decref(meta);
    mlcc_model *m = mlcc_model_open(out, &(mlcc_model_options){.max_seq = 128, .logit_rows = 128});
    CHECK_MSG(m != NULL, "%s: %s", out, mlcc_last_error());
    if (m) {
        CHECK(!strcmp(m->cfg.model_type, arch));
        MLCCNDArray *logits;
        int rc = mlcc_model_prefill(m, ids, n, &logits);
        CHECK_MSG(rc == 0, "%s", mlcc_last_error());
        snprintf(path, sizeof path, "%s/ref.safetensors", dir);
        mlcc_safetensors *st = safetensors_open(path);
        const mlcc_st_tensor *t = st ? safetensors_find(st, "logits") : NULL;
        if (rc == 0 && t) {
            float *ref = malloc(t->nbytes);
            safetensors_read_f32(t, ref);
            const float *got = logits->dl.data;
            double mx = 0, diff = 0;
            for (size_t i = 0; i < t->nbytes / 4; i++) mx = fmax(mx, fabs(ref[i])), diff = fmax(diff, fabs(got[i] - ref[i]));
            printf("%s as GGUF %s (%s): max rel error %.3g\n", fixture, half ? "F16" : "F32", arch, diff / mx);
            /* F16 weights round: the reference is of the F32 weights, so allow the rounding */
            CHECK_MSG(diff / mx <= (half ? 2e-3 : 1e-4), "%s: relative error %g", out, diff / mx);
            free(ref);
            mlcc_ndarray_release(logits);
        }
        safetensors_close(st);
        mlcc_model_free(m);
    }
    remove(out);
    free(dir);
}

int main(void) {
    check("qwen2", "qwen2", 0);
    check("qwen3", "qwen3", 0);
    check("qwen2", "qwen2", 1);
    check("phi3", "phi3", 0);
    return test_finish();
}
