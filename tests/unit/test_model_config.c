/* test_model_config.c - the model config readers:
 *   - the classic (rope_theta + rope_scaling) and rope_parameters forms read the same;
 *   - llama3 rope scaling: long wavelengths divided by the factor, short ones kept, the band
 *     between interpolated (checked per band against the formula written out here);
 *   - linear scaling; head_dim from hidden / heads or explicit;
 *   - qwen2 / qwen3 sliding windows from max_window_layers (default 28) on; rms_norm_eps
 *     defaults (1e-5 for phi3);
 *   - GGUF metadata: dimensions, tied when output.weight is absent, llama.rope.scaling.type
 *     linear, and llama.cpp's rope_freqs.weight divisors (an in-memory GGUF file); sizes out of
 *     config.json's range, an empty vocabulary, a rope base / norm epsilon of 0, NaN or
 *     infinity refused with the key named. */
#include <math.h>
#include <string.h>

#include "models/arch.h"
#include "support/error.h"
#include "support/json.h"
#include "support/strbuf.h"
#include "test.h"

static int read_json(const char *text, mlcc_model_config *cfg) {
    json_t *j = mlcc_json_loads(text, strlen(text), "test config.json");
    if (!j) return -1;
    int rc = model_config_from_json(j, "config.json", cfg);
    json_decref(j);
    return rc;
}

#define BASE "\"model_type\":\"llama\",\"hidden_size\":64,\"num_hidden_layers\":2,\"num_attention_heads\":4," \
             "\"intermediate_size\":128,\"vocab_size\":100"

static void test_forms(void) {
    mlcc_model_config a, b;
    CHECK_EQ_INT(read_json("{" BASE ",\"rope_theta\":123456.0}", &a), 0);
    CHECK_EQ_INT(read_json("{" BASE ",\"rope_parameters\":{\"rope_theta\":123456.0,\"rope_type\":\"default\"}}", &b), 0);
    CHECK_EQ_INT(a.head_dim, 16);
    CHECK_EQ_INT(a.n_eos, 0);
    CHECK_EQ_INT(a.kv_heads, 4);
    CHECK(a.rope_theta == 123456.0 && b.rope_theta == 123456.0 && a.rope == ROPE_DEFAULT && b.rope == ROPE_DEFAULT);
    double fa[8], fb[8];
    model_rope_inv_freq(&a, fa);
    model_rope_inv_freq(&b, fb);
    CHECK(memcmp(fa, fb, sizeof fa) == 0);
    CHECK_NEAR(fa[3], pow(123456.0, -6.0 / 16), 1e-15);
    model_config_free(&a), model_config_free(&b);
    CHECK_EQ_INT(read_json("{" BASE ",\"eos_token_id\":[7, 9, 7]}", &a), 0);
    CHECK(a.n_eos == 2 && a.eos_ids[0] == 7 && a.eos_ids[1] == 9 && a.eos_id == 7);
    model_config_free(&a);
    /* linear, in both forms */
    CHECK_EQ_INT(read_json("{" BASE ",\"rope_scaling\":{\"type\":\"linear\",\"factor\":4.0}}", &a), 0);
    CHECK_EQ_INT(read_json("{" BASE ",\"rope_parameters\":{\"rope_theta\":10000,\"rope_type\":\"linear\",\"factor\":4}}", &b), 0);
    model_rope_inv_freq(&a, fa);
    model_rope_inv_freq(&b, fb);
    for (int k = 0; k < 8; k++) {
        CHECK_NEAR(fa[k], pow(10000.0, -2.0 * k / 16) / 4, 1e-15);
        CHECK_NEAR(fb[k], fa[k], 1e-18);
    }
    model_config_free(&a), model_config_free(&b);
}

static void test_llama3(void) {
    mlcc_model_config c;
    CHECK_EQ_INT(read_json("{" BASE ",\"head_dim\":32,\"rope_theta\":500000.0,\"rope_scaling\":{\"rope_type\":\"llama3\","
                           "\"factor\":8.0,\"low_freq_factor\":1.0,\"high_freq_factor\":4.0,"
                           "\"original_max_position_embeddings\":64}}",
                           &c),
                 0);
    CHECK_EQ_INT(c.head_dim, 32);
    double f[16];
    model_rope_inv_freq(&c, f);
    int bands[3] = {0, 0, 0};
    for (int k = 0; k < 16; k++) {
        double base = pow(500000.0, -2.0 * k / 32), wavelen = 2 * M_PI / base, want;
        if (wavelen < 64 / 4.0) want = base, bands[0]++;         /* high frequency: kept */
        else if (wavelen > 64 / 1.0) want = base / 8, bands[2]++; /* low frequency: / factor */
        else {
            double s = (64 / wavelen - 1) / (4 - 1);
            want = (1 - s) * base / 8 + s * base, bands[1]++;
        }
        CHECK_NEAR(f[k], want, 1e-15);
    }
    CHECK(bands[0] > 0 && bands[1] > 0 && bands[2] > 0); /* all three bands occur */
    model_config_free(&c);
}

/* ---- a GGUF file in memory ---- */
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
static void kv_u32(mlcc_strbuf *b, const char *k, uint32_t v) {
    put_str(b, k), put_u32(b, MLCC_GGUF_UINT32), put_u32(b, v);
}
static void kv_f32(mlcc_strbuf *b, const char *k, float v) {
    put_str(b, k), put_u32(b, MLCC_GGUF_FLOAT32), put(b, &v, 4);
}
static void kv_str(mlcc_strbuf *b, const char *k, const char *v) {
    put_str(b, k), put_u32(b, MLCC_GGUF_STRING), put_str(b, v);
}

static void test_gguf(void) {
    enum { HIDDEN = 32, HEADS = 2, VOCAB = 10 };
    mlcc_strbuf b = STRBUF_INIT;
    put(&b, "GGUF", 4), put_u32(&b, 3), put_u64(&b, 2), put_u64(&b, 9);
    kv_str(&b, "general.architecture", "llama");
    kv_u32(&b, "llama.embedding_length", HIDDEN);
    kv_u32(&b, "llama.block_count", 3);
    kv_u32(&b, "llama.attention.head_count", HEADS);
    kv_u32(&b, "llama.attention.head_count_kv", 1);
    kv_u32(&b, "llama.feed_forward_length", 48);
    kv_f32(&b, "llama.rope.freq_base", 1000.0f);
    kv_str(&b, "llama.rope.scaling.type", "linear");
    kv_f32(&b, "llama.rope.scaling.factor", 2.0f);
    /* tensors: token_embd [VOCAB rows of HIDDEN], rope_freqs [head_dim / 2] */
    put_str(&b, "token_embd.weight"), put_u32(&b, 2), put_u64(&b, HIDDEN), put_u64(&b, VOCAB), put_u32(&b, 0), put_u64(&b, 0);
    put_str(&b, "rope_freqs.weight"), put_u32(&b, 1), put_u64(&b, 8), put_u32(&b, 0), put_u64(&b, 4 * HIDDEN * VOCAB);
    while (b.len % 32) put(&b, "", 1);
    float zero = 0, factors[8] = {1, 1, 2, 2, 4, 4, 8, 8};
    for (int i = 0; i < HIDDEN * VOCAB; i++) put(&b, &zero, 4);
    put(&b, factors, sizeof factors);
    mlcc_gguf *g = mlcc_gguf_open_memory(b.data, b.len, "test.gguf");
    CHECK_MSG(g != NULL, "%s", mlcc_last_error());
    mlcc_model_config c;
    if (g) {
        CHECK_MSG(model_config_from_gguf(g, &c) == 0, "%s", mlcc_last_error());
        CHECK_EQ_INT(c.hidden, HIDDEN);
        CHECK_EQ_INT(c.layers, 3);
        CHECK_EQ_INT(c.kv_heads, 1);
        CHECK_EQ_INT(c.head_dim, 16);
        CHECK_EQ_INT(c.vocab, VOCAB);
        CHECK_EQ_INT(c.tie_embeddings, 1);
        double f[8];
        model_rope_inv_freq(&c, f);
        for (int k = 0; k < 8; k++) CHECK_NEAR(f[k], pow(1000.0, -2.0 * k / 16) / 2 / factors[k], 1e-12);
        model_config_free(&c);
        mlcc_gguf_close(g);
    }
    sb_free(&b);
}

/* A small llama GGUF (hidden 32, 1 layer, 2 heads) with token_embd.weight [rows][cols] (no
 * data when either is 0) and one more f32 and / or u32 key (NULL: none; a u32 key replaces the
 * base key of that name): model_config_from_gguf's result, its error in err. */
static int gguf_config(uint64_t cols, uint64_t rows, const char *fkey, float fval, const char *ukey, uint32_t uval) {
    static const char *const keys[] = {"llama.embedding_length", "llama.block_count", "llama.attention.head_count",
                                       "llama.feed_forward_length"};
    static const uint32_t vals[] = {32, 1, 2, 48};
    mlcc_strbuf b = STRBUF_INIT;
    put(&b, "GGUF", 4), put_u32(&b, 3), put_u64(&b, 1), put_u64(&b, 0); /* n_kv: set below */
    uint64_t n_kv = 5;
    int replaced = 0;
    kv_str(&b, "general.architecture", "llama");
    for (int i = 0; i < 4; i++) {
        int mine = ukey && !strcmp(ukey, keys[i]);
        replaced |= mine;
        kv_u32(&b, keys[i], mine ? uval : vals[i]);
    }
    if (ukey && !replaced) kv_u32(&b, ukey, uval), n_kv++;
    if (fkey) kv_f32(&b, fkey, fval), n_kv++;
    memcpy(b.data + 16, &n_kv, 8);
    put_str(&b, "token_embd.weight"), put_u32(&b, 2), put_u64(&b, cols), put_u64(&b, rows), put_u32(&b, 0), put_u64(&b, 0);
    while (b.len % 32) put(&b, "", 1);
    float zero = 0;
    for (uint64_t i = 0; i < cols * rows; i++) put(&b, &zero, 4);
    mlcc_gguf *g = mlcc_gguf_open_memory(b.data, b.len, "test.gguf");
    CHECK_MSG(g != NULL, "%s", mlcc_last_error());
    int rc = -2;
    if (g) {
        mlcc_model_config c;
        rc = model_config_from_gguf(g, &c);
        model_config_free(&c);
        mlcc_gguf_close(g);
    }
    sb_free(&b);
    return rc;
}

/* Values the config.json reader refuses are refused in GGUF metadata too, with the key named
 * (they were taken as they came: a config.json written from them did not read back, or a
 * rope base of 0 / NaN made every rotary frequency NaN). */
static void test_gguf_bad_values(void) {
    CHECK_MSG(gguf_config(32, 10, NULL, 0, NULL, 0) == 0, "%s", mlcc_last_error());
    CHECK(gguf_config(32, 0, NULL, 0, NULL, 0) == -1 && strstr(mlcc_last_error(), "'token_embd.weight' has 0 rows"));
    CHECK(gguf_config(0, (uint64_t)1 << 40, NULL, 0, NULL, 0) == -1 && strstr(mlcc_last_error(), "has 1099511627776 rows"));
    CHECK(gguf_config(32, 10, "llama.rope.freq_base", 0, NULL, 0) == -1 &&
          strstr(mlcc_last_error(), "test.gguf: metadata 'llama.rope.freq_base' must be a positive finite number"));
    CHECK(gguf_config(32, 10, "llama.rope.freq_base", NAN, NULL, 0) == -1 && strstr(mlcc_last_error(), "'llama.rope.freq_base'"));
    CHECK(gguf_config(32, 10, "llama.rope.freq_base", INFINITY, NULL, 0) == -1 && strstr(mlcc_last_error(), "'llama.rope.freq_base'"));
    CHECK(gguf_config(32, 10, "llama.attention.layer_norm_rms_epsilon", -1e-5f, NULL, 0) == -1 &&
          strstr(mlcc_last_error(), "'llama.attention.layer_norm_rms_epsilon' must be a non-negative finite number"));
    CHECK(gguf_config(32, 10, "llama.attention.layer_norm_rms_epsilon", NAN, NULL, 0) == -1);
    CHECK(gguf_config(32, 10, NULL, 0, "llama.context_length", 0) == -1 &&
          strstr(mlcc_last_error(), "metadata 'llama.context_length' out of range (0)"));
    CHECK(gguf_config(32, 10, NULL, 0, "llama.feed_forward_length", 4000000000u) == -1 &&
          strstr(mlcc_last_error(), "metadata 'llama.feed_forward_length' out of range (4000000000)"));
}

static void test_arch_hooks(void) {
    /* gemma2 without layer_types: even layers slide; its scalars default as transformers' */
    const char *text = "{\"model_type\":\"gemma2\",\"hidden_size\":64,\"num_hidden_layers\":4,\"num_attention_heads\":4,"
                       "\"intermediate_size\":128,\"vocab_size\":100,\"sliding_window\":16,\"head_dim\":16}";
    json_t *j = mlcc_json_loads(text, strlen(text), "gemma2");
    mlcc_model_config c;
    decoder_spec spec = {0};
    CHECK_EQ_INT(model_config_from_json(j, "config.json", &c), 0);
    CHECK_EQ_INT(model_arch_find(c.model_type, "config.json")->configure(j, "config.json", &c, &spec), 0);
    CHECK(c.layer_window[0] == 16 && c.layer_window[1] == 0 && c.layer_window[2] == 16 && c.layer_window[3] == 0);
    CHECK(spec.sandwich_norms && spec.norm_plus_one && spec.embed_scale && c.tie_embeddings && c.act == ACT_GELU_TANH);
    CHECK(c.attn_softcap == 50 && c.final_softcap == 30 && c.query_pre_attn_scalar == 256);
    model_config_free(&c);
    json_decref(j);
}

/* qwen2 / qwen3 with use_sliding_window: the window applies from layer max_window_layers on,
 * which defaults to 28 (as in transformers' Qwen2Config and Qwen3Config) */
static void test_qwen_windows(void) {
    static const char *const texts[] = {
        "{\"model_type\":\"qwen2\",\"hidden_size\":64,\"num_hidden_layers\":30,\"num_attention_heads\":4,"
        "\"intermediate_size\":128,\"vocab_size\":100,\"use_sliding_window\":true,\"sliding_window\":16}",
        "{\"model_type\":\"qwen3\",\"hidden_size\":64,\"num_hidden_layers\":30,\"num_attention_heads\":4,\"head_dim\":16,"
        "\"intermediate_size\":128,\"vocab_size\":100,\"use_sliding_window\":true,\"sliding_window\":16}",
        "{\"model_type\":\"qwen2\",\"hidden_size\":64,\"num_hidden_layers\":30,\"num_attention_heads\":4,"
        "\"intermediate_size\":128,\"vocab_size\":100,\"use_sliding_window\":true,\"sliding_window\":16,\"max_window_layers\":2}",
    };
    static const int first_sliding[] = {28, 28, 2};
    for (int t = 0; t < 3; t++) {
        json_t *j = mlcc_json_loads(texts[t], strlen(texts[t]), "qwen");
        mlcc_model_config c;
        decoder_spec spec = {0};
        CHECK_EQ_INT(model_config_from_json(j, "config.json", &c), 0);
        CHECK_EQ_INT(model_arch_find(c.model_type, "config.json")->configure(j, "config.json", &c, &spec), 0);
        for (int l = 0; l < 30; l++) CHECK_EQ_INT(c.layer_window[l], l >= first_sliding[t] ? 16 : 0);
        model_config_free(&c);
        json_decref(j);
    }
}

/* rms_norm_eps left out: 1e-5 for phi3 (Phi3Config), 1e-6 for the others */
static void test_eps_defaults(void) {
    static const char *const types[] = {"llama", "phi3", "gemma2"};
    static const double eps[] = {1e-6, 1e-5, 1e-6};
    for (int t = 0; t < 3; t++) {
        char text[512];
        snprintf(text, sizeof text,
                 "{\"model_type\":\"%s\",\"hidden_size\":64,\"num_hidden_layers\":2,\"num_attention_heads\":4,"
                 "\"intermediate_size\":128,\"vocab_size\":100}",
                 types[t]);
        json_t *j = mlcc_json_loads(text, strlen(text), types[t]);
        mlcc_model_config c;
        decoder_spec spec = {0};
        CHECK_EQ_INT(model_config_from_json(j, "config.json", &c), 0);
        CHECK_EQ_INT(model_arch_find(c.model_type, "config.json")->configure(j, "config.json", &c, &spec), 0);
        CHECK_MSG(c.rms_eps == eps[t], "%s: rms_eps %g, want %g", types[t], c.rms_eps, eps[t]);
        model_config_free(&c);
        json_decref(j);
    }
}

/* Integer fields written as whole floats are read; a number beyond int64 (jansson reads it as
 * a real) is an error naming the field, not an undefined cast (found by fuzz_model_config). */
static void test_int_fields(void) {
    mlcc_model_config c;
    CHECK_EQ_INT(read_json("{\"model_type\":\"llama\",\"hidden_size\":64.0,\"num_hidden_layers\":2,\"num_attention_heads\":4,"
                           "\"intermediate_size\":1.28e2,\"vocab_size\":100}", &c), 0);
    CHECK(c.hidden == 64 && c.intermediate == 128);
    model_config_free(&c);
    static const char *const bad[] = {"88888888888888888888888888888888888888", "-1e300", "9.3e18"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char text[512];
        snprintf(text, sizeof text, "{\"model_type\":\"llama\",\"hidden_size\":64,\"num_hidden_layers\":%s,"
                 "\"num_attention_heads\":4,\"intermediate_size\":128,\"vocab_size\":100}", bad[i]);
        CHECK_MSG(read_json(text, &c) != 0 && strstr(mlcc_last_error(), "'num_hidden_layers'") &&
                      strstr(mlcc_last_error(), "out of range"),
                  "%s: %s", bad[i], mlcc_last_error());
    }
    CHECK(read_json("{" BASE ",\"max_position_embeddings\":2.5}", &c) != 0 && strstr(mlcc_last_error(), "must be an integer"));
}

int main(void) {
    test_int_fields();
    test_forms();
    test_llama3();
    test_gguf();
    test_gguf_bad_values();
    test_arch_hooks();
    test_qwen_windows();
    test_eps_defaults();
    return test_finish();
}
