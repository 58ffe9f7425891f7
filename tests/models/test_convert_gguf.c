/* test_convert_gguf.c - `mlcc convert FILE.gguf` (weight_store_write from a GGUF file):
 *   - each q-llama fixture (F32, F16, Q8_0, Q4_0) converted as stored ("native": no scheme
 *     asked for) keeps the scheme the loader runs the file on (q0f32, q0f16, ggml_q8_0,
 *     ggml_q4_0) and the converted folder, opened alone, gives the GGUF file's logits bit for
 *     bit (the same kernels on the same values);
 *   - converted to q4f16_1 and q0f32, the folder gives exactly the logits of the GGUF file
 *     opened with that scheme, and (F32 file) of the Hugging Face checkpoint q-llama-hf with
 *     that scheme (the same float values, the same quantizer: tolerance 0);
 *   - the folder holds config.json (read back: the GGUF's configuration), generation_config.json,
 *     tokenizer.json and tokenizer_config.json, and no .gguf; converting twice gives identical
 *     files (deterministic);
 *   - tm-llama3-f16.gguf (Llama-3 vocabulary and chat template): the folder's tokenizer encodes
 *     texts (multilingual, special tokens, bytes) to the GGUF tokenizer's ids, its chat prompt
 *     renders to the GGUF's prompt ids (and the fixture's prompt_ids), and its logits equal the
 *     GGUF's;
 *   - random-weight GGUF files written by mlcc's GGUF writer: a Llama-3.1-style rope
 *     (rope_freqs.weight: config.json keeps the factors and names rope_scaling llama3), a Q4_K
 *     file with a Q6_K output (ggml_mixed: each matrix's scheme is recorded), qwen2 (q/k/v
 *     biases) and phi3 (fused projections): the folder's logits equal the GGUF's exactly;
 *   - on the fly: opening a GGUF file with q4f16_1 caches a folder that has the tokenizer too;
 *   - errors: a truncated GGUF file names the file; a tensor of an unsupported type (Q8_1, or
 *     no ggml type) names the file and the tensor; a truncated shard and a damaged byte of the output name the shard. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/conversation.h"
#include "models/convert_cache.h"
#include "models/model.h"
#include "models/random_model.h"
#include "models/weight_store.h"
#include "support/error.h"
#include "support/file.h"
#include "support/json.h"
#include "tokenizer/tokenizer.h"
#include "test.h"

enum { NTOK = 12 };
static const int32_t ids[NTOK] = {30, 402, 324, 282, 407, 124, 442, 171, 495, 163, 183, 199};
static char base[] = "/tmp/mlcc-convert-gguf-XXXXXX";

static MLCCNDArray *logits_of(const char *path, const char *quant, char *scheme) {
    mlcc_model_options opt = {.max_seq = 32, .prefill_chunk = 16, .logit_rows = 16, .quantization = quant};
    mlcc_model *m = mlcc_model_open(path, &opt);
    CHECK_MSG(m != NULL, "%s (%s): %s", path, quant ? quant : "as stored", mlcc_last_error());
    if (!m) return NULL;
    MLCCNDArray *l = NULL;
    CHECK_MSG(mlcc_model_prefill(m, ids, NTOK, &l) == 0, "%s: %s", path, mlcc_last_error());
    if (scheme) snprintf(scheme, 64, "%s", m->quant->name);
    mlcc_model_free(m);
    return l;
}

/* Both logits exist and are equal bit for bit. */
static void check_same(MLCCNDArray *a, MLCCNDArray *b, const char *what) {
    int same = a && b && a->dl.shape[0] == b->dl.shape[0] && a->dl.shape[1] == b->dl.shape[1] &&
               memcmp(a->dl.data, b->dl.data, sizeof(float) * (size_t)(a->dl.shape[0] * a->dl.shape[1])) == 0;
    CHECK_MSG(same, "%s: logits differ", what);
    mlcc_ndarray_release(a), mlcc_ndarray_release(b);
}

static int convert(const char *src, const char *quant, const char *out) {
    mlcc_model_options opt = {.quantization = quant};
    mlcc_model *m = mlcc_model_load_uncompiled(src, &opt);
    int rc = m ? weight_store_write(m, src, out, &(weight_store_options){.shard_bytes = 65536, .force = 1, .quiet = 1}) : -1;
    CHECK_MSG(rc == 0, "converting %s to %s: %s", src, quant ? quant : "native", mlcc_last_error());
    mlcc_model_free(m);
    return rc;
}

static char *out_dir(const char *name) {
    return mlcc_path_join(base, name);
}

static int same_file(const char *a, const char *b, const char *name) {
    char *pa = mlcc_path_join(a, name), *pb = mlcc_path_join(b, name);
    size_t la = 0, lb = 0;
    char *x = mlcc_read_file(pa, &la), *y = mlcc_read_file(pb, &lb);
    int same = x && y && la == lb && memcmp(x, y, la) == 0;
    free(x), free(y), free(pa), free(pb);
    return same;
}

/* Native conversion of one q-llama fixture: the scheme, the files, and bit-equal logits. */
static void check_native(const char *type, const char *want_scheme) {
    char name[64], *gguf, *dir = NULL;
    snprintf(name, sizeof name, "gguf/q-llama-%s.gguf", type);
    gguf = test_data_path(name);
    snprintf(name, sizeof name, "native-%s", type);
    dir = out_dir(name);
    if (convert(gguf, NULL, dir) == 0) {
        char scheme[64] = "";
        CHECK(weight_store_scheme(dir, scheme, sizeof scheme) == 0);
        CHECK_MSG(!strcmp(scheme, want_scheme), "%s: native scheme %s, expected %s", type, scheme, want_scheme);
        static const char *const files[] = {"config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json",
                                            "params.json", "params_shard_0.bin"};
        for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
            char *f = mlcc_path_join(dir, files[i]);
            CHECK_MSG(mlcc_file_exists(f), "%s: no %s", type, files[i]);
            free(f);
        }
        char got[64] = "";
        MLCCNDArray *from_gguf = logits_of(gguf, NULL, NULL), *from_dir = logits_of(dir, NULL, got);
        CHECK_MSG(!strcmp(got, want_scheme), "%s: the folder runs as %s", type, got);
        check_same(from_gguf, from_dir, type);
    }
    free(gguf), free(dir);
}

/* GGUF converted to q4f16_1 / q0f32 = the GGUF opened with that scheme = q-llama-hf with it. */
static void check_requantized(const char *quant) {
    char *gguf = test_data_path("gguf/q-llama-f32.gguf"), *hf = test_data_path("gguf/q-llama-hf");
    char *dir = out_dir(quant);
    if (convert(gguf, quant, dir) == 0) {
        char got[64] = "";
        MLCCNDArray *from_dir = logits_of(dir, NULL, got);
        CHECK_EQ_STR(got, quant);
        MLCCNDArray *copy = from_dir ? mlcc_ndarray_empty(2, from_dir->dl.shape, from_dir->dl.dtype, MLCC_CPU) : NULL;
        if (copy) mlcc_ndarray_copy(copy, from_dir);
        check_same(logits_of(gguf, quant, NULL), from_dir, quant);
        check_same(logits_of(hf, quant, NULL), copy, "q-llama-hf");
    }
    free(gguf), free(hf), free(dir);
}

/* config.json read back gives the configuration read from the GGUF file. */
static void check_config(const char *gguf, const char *dir) {
    mlcc_model *a = mlcc_model_load_uncompiled(gguf, &(mlcc_model_options){.quantization = "q0f32"});
    mlcc_model *b = mlcc_model_load_uncompiled(dir, NULL);
    CHECK_MSG(a && b, "%s", mlcc_last_error());
    if (a && b) {
        const mlcc_model_config *x = &a->cfg, *y = &b->cfg;
        CHECK_EQ_STR(x->model_type, y->model_type);
        CHECK(x->hidden == y->hidden && x->layers == y->layers && x->heads == y->heads && x->kv_heads == y->kv_heads);
        CHECK(x->head_dim == y->head_dim && x->intermediate == y->intermediate && x->vocab == y->vocab);
        CHECK(x->max_positions == y->max_positions && x->tie_embeddings == y->tie_embeddings);
        CHECK(x->rms_eps == y->rms_eps && x->rope_theta == y->rope_theta && x->rope == y->rope);
        CHECK(x->bos_id == y->bos_id && x->n_eos == y->n_eos && (x->n_eos == 0 || x->eos_ids[0] == y->eos_ids[0]));
        CHECK(!x->rope_freq_factors == !y->rope_freq_factors);
        for (int64_t k = 0; x->rope_freq_factors && y->rope_freq_factors && k < x->head_dim / 2; k++)
            CHECK(x->rope_freq_factors[k] == y->rope_freq_factors[k]);
        CHECK(!memcmp(&a->spec, &b->spec, sizeof a->spec));
    }
    mlcc_model_free(a), mlcc_model_free(b);
}

static void check_deterministic(void) {
    char *gguf = test_data_path("gguf/q-llama-q4_0.gguf"), *a = out_dir("twice-a"), *b = out_dir("twice-b");
    if (convert(gguf, NULL, a) == 0 && convert(gguf, NULL, b) == 0) {
        static const char *const files[] = {"params.json", "params_shard_0.bin", "config.json", "generation_config.json",
                                            "tokenizer.json", "tokenizer_config.json", "mlcc-config.json"};
        for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) CHECK_MSG(same_file(a, b, files[i]), "%s differs", files[i]);
        check_config(gguf, a);
    }
    free(gguf), free(a), free(b);
}

/* tm-llama3-f16.gguf: tokenizer, chat prompt and logits of the folder equal the GGUF's. */
static void check_llama3_tokenizer(void) {
    char *gguf = test_data_path("gguf/tm-llama3-f16.gguf"), *meta_path = test_data_path("models/tm-llama3/meta.json");
    char *dir = out_dir("tm-llama3");
    if (!mlcc_file_exists(gguf) || convert(gguf, NULL, dir)) {
        CHECK_MSG(mlcc_file_exists(gguf), "no %s", gguf);
        free(gguf), free(meta_path), free(dir);
        return;
    }
    check_config(gguf, dir);
    mlcc_tokenizer *tg = mlcc_tokenizer_load(gguf), *td = mlcc_tokenizer_load(dir);
    CHECK_MSG(tg && td, "tokenizers: %s", mlcc_last_error());
    static const char *const texts[] = {
        "Hello, world! 123456 don't",
        "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nhi<|eot_id|>",
        "Grüße aus Köln — naïve café, Ελληνικά, русский, 日本語のテキスト, 한국어, العربية",
        "emoji 👩‍👩‍👧 🇫🇷 and tabs\t\tand\r\nnewlines\n\n\n   spaces",
        "<|reserved_special_token_5|> partial <|eot_ and bytes \x01\x7f \xc3\xa9",
        "def f(x):\n    return x ** 2  # comment",
    };
    for (size_t i = 0; tg && td && i < sizeof texts / sizeof texts[0]; i++)
        for (int special = 0; special < 2; special++) {
            int32_t *a = NULL, *b = NULL;
            size_t na = 0, nb = 0;
            CHECK(mlcc_tokenizer_encode(tg, texts[i], strlen(texts[i]), special, &a, &na) == 0);
            CHECK(mlcc_tokenizer_encode(td, texts[i], strlen(texts[i]), special, &b, &nb) == 0);
            CHECK_MSG(na == nb && na > 0 && !memcmp(a, b, na * sizeof *a), "text %zu (special %d): ids differ", i, special);
            char *da = mlcc_tokenizer_decode(tg, a, na, 0, NULL), *db = mlcc_tokenizer_decode(td, b, nb, 0, NULL);
            CHECK_MSG(da && db && !strcmp(da, db) && (special || !strcmp(da, texts[i])), "text %zu: decode differs", i);
            free(a), free(b), free(da), free(db);
        }
    CHECK(tg && td && mlcc_tokenizer_bos_id(tg) == mlcc_tokenizer_bos_id(td) && mlcc_tokenizer_eos_id(tg) == mlcc_tokenizer_eos_id(td));
    /* the chat prompt: rendered by the folder's template = the GGUF's = the fixture's ids */
    json_t *meta = mlcc_json_load_file(meta_path);
    json_t *conv = json_object_get(meta, "conversation"), *want = json_object_get(meta, "prompt_ids");
    mlcc_chat_template ctg, ctd;
    int ok = tg && td && conv && mlcc_conversation_template(gguf, tg, NULL, &ctg) == 0;
    CHECK_MSG(ok, "GGUF template: %s", mlcc_last_error());
    if (ok) {
        int ok2 = mlcc_conversation_template(dir, td, NULL, &ctd) == 0;
        CHECK_MSG(ok2, "folder template: %s", mlcc_last_error());
        int32_t *a = NULL, *b = NULL;
        size_t na = 0, nb = 0;
        if (ok2) {
            CHECK(mlcc_conversation_prompt_ids(&ctg, tg, conv, 1, &a, &na) == 0);
            CHECK(mlcc_conversation_prompt_ids(&ctd, td, conv, 1, &b, &nb) == 0);
            CHECK_MSG(na == nb && na > 0 && !memcmp(a, b, na * sizeof *a), "chat prompt ids differ (%zu vs %zu)", na, nb);
            CHECK_MSG(na == json_array_size(want), "%zu prompt ids, the fixture has %zu", na, json_array_size(want));
            for (size_t i = 0; i < na && i < json_array_size(want); i++)
                CHECK(a[i] == json_integer_value(json_array_get(want, i)));
            mlcc_chat_template_free(&ctd);
        }
        free(a), free(b);
        mlcc_chat_template_free(&ctg);
    }
    json_decref(meta);
    mlcc_tokenizer_free(tg), mlcc_tokenizer_free(td);
    check_same(logits_of(gguf, NULL, NULL), logits_of(dir, NULL, NULL), "tm-llama3");
    free(gguf), free(meta_path), free(dir);
}

/* A random-weight GGUF file from config text: converted natively, the same logits. */
static void check_random(const char *label, const char *config, const char *quant, const char *want_scheme) {
    char cfg_name[96], gguf_name[96], dir_name[96];
    snprintf(cfg_name, sizeof cfg_name, "%s.json", label);
    snprintf(gguf_name, sizeof gguf_name, "%s.gguf", label);
    snprintf(dir_name, sizeof dir_name, "%s-native", label);
    char *cfg = out_dir(cfg_name), *gguf = out_dir(gguf_name), *dir = out_dir(dir_name);
    CHECK(mlcc_write_file_atomic(cfg, config, strlen(config)) == 0);
    mlcc_random_model_spec s = {.config = cfg, .out = gguf, .format = RANDOM_MODEL_GGUF, .quantization = quant, .seed = 7};
    int rc = mlcc_random_model_write(&s);
    CHECK_MSG(rc == 0, "%s: %s", label, mlcc_last_error());
    if (rc == 0 && convert(gguf, NULL, dir) == 0) {
        char got[64] = "";
        check_config(gguf, dir);
        check_same(logits_of(gguf, NULL, NULL), logits_of(dir, NULL, got), label);
        CHECK_MSG(!strcmp(got, want_scheme), "%s: the folder runs as %s, expected %s", label, got, want_scheme);
    }
    free(cfg), free(gguf), free(dir);
}

static void check_random_models(void) {
    static const char llama3[] =
        "{\"model_type\": \"llama\", \"hidden_size\": 64, \"intermediate_size\": 128, \"num_attention_heads\": 4,"
        " \"num_key_value_heads\": 2, \"num_hidden_layers\": 2, \"vocab_size\": 512, \"max_position_embeddings\": 256,"
        " \"rms_norm_eps\": 1e-5, \"rope_theta\": 500000.0, \"tie_word_embeddings\": true, \"bos_token_id\": 1,"
        " \"eos_token_id\": 2, \"rope_scaling\": {\"rope_type\": \"llama3\", \"factor\": 8.0, \"low_freq_factor\": 1.0,"
        " \"high_freq_factor\": 4.0, \"original_max_position_embeddings\": 8192}}";
    check_random("llama3-rope", llama3, "f32", "q0f32");
    char *dir = out_dir("llama3-rope-native"), *cfg = mlcc_path_join(dir, "config.json");
    json_t *j = mlcc_json_load_file(cfg), *rs = json_object_get(j, "rope_scaling");
    CHECK_MSG(json_array_size(json_object_get(j, "rope_freq_factors")) == 8, "config.json keeps the 8 rope factors");
    CHECK_MSG(!strcmp(json_string_value(json_object_get(rs, "rope_type")) ? json_string_value(json_object_get(rs, "rope_type")) : "",
                      "llama3") &&
                  json_number_value(json_object_get(rs, "factor")) == 8.0 &&
                  json_integer_value(json_object_get(rs, "original_max_position_embeddings")) == 8192,
              "rope_scaling llama3 recovered for other tools");
    json_decref(j);
    free(cfg), free(dir);
    static const char q4k[] =
        "{\"model_type\": \"llama\", \"hidden_size\": 256, \"intermediate_size\": 512, \"num_attention_heads\": 4,"
        " \"num_key_value_heads\": 2, \"num_hidden_layers\": 1, \"vocab_size\": 512, \"max_position_embeddings\": 256,"
        " \"rms_norm_eps\": 1e-5, \"rope_theta\": 10000.0, \"tie_word_embeddings\": false, \"bos_token_id\": 1,"
        " \"eos_token_id\": 2}";
    check_random("llama-q4_k", q4k, "q4_k", "ggml_mixed");
    static const char qwen2[] =
        "{\"model_type\": \"qwen2\", \"hidden_size\": 64, \"intermediate_size\": 128, \"num_attention_heads\": 4,"
        " \"num_key_value_heads\": 2, \"num_hidden_layers\": 2, \"vocab_size\": 512, \"max_position_embeddings\": 256,"
        " \"rms_norm_eps\": 1e-6, \"rope_theta\": 1000000.0, \"tie_word_embeddings\": false, \"bos_token_id\": 1,"
        " \"eos_token_id\": 2}";
    check_random("qwen2", qwen2, "q8_0", "ggml_q8_0");
    static const char phi3[] =
        "{\"model_type\": \"phi3\", \"hidden_size\": 64, \"intermediate_size\": 128, \"num_attention_heads\": 4,"
        " \"num_key_value_heads\": 4, \"num_hidden_layers\": 2, \"vocab_size\": 512, \"max_position_embeddings\": 256,"
        " \"rms_norm_eps\": 1e-5, \"rope_theta\": 10000.0, \"tie_word_embeddings\": false, \"bos_token_id\": 1,"
        " \"eos_token_id\": 2}";
    check_random("phi3", phi3, "f16", "q0f16");
}

/* On the fly: the GGUF file opened with q4f16_1 leaves a cached folder with the side files. */
static void check_cache(void) {
    char *gguf = test_data_path("gguf/q-llama-f16.gguf");
    setenv("MLCC_JIT_POLICY", "ON", 1);
    mlcc_model_options opt = {.max_seq = 32, .prefill_chunk = 16, .quantization = "q4f16_1"};
    mlcc_model *m = mlcc_model_open(gguf, &opt);
    CHECK_MSG(m != NULL, "%s", mlcc_last_error());
    char *dir = m ? convert_cache_dir(gguf, m->quant) : NULL;
    CHECK_MSG(dir && weight_store_is_converted(dir), "no cached conversion of %s", gguf);
    if (dir) {
        char *tok = mlcc_path_join(dir, "tokenizer.json"), *cfg = mlcc_path_join(dir, "config.json");
        CHECK_MSG(mlcc_file_exists(tok) && mlcc_file_exists(cfg), "the cached folder has no tokenizer.json / config.json");
        free(tok), free(cfg);
    }
    mlcc_model_free(m);
    free(dir), free(gguf);
}

/* Conversion of a damaged GGUF file fails with an error naming the file (and the tensor). */
static void check_bad_gguf(void) {
    char *src = test_data_path("gguf/q-llama-f32.gguf"), *bad = out_dir("bad.gguf"), *dir = out_dir("bad-out");
    size_t len = 0;
    char *data = mlcc_read_file(src, &len);
    CHECK(data && len > 4096);
    if (!data) return;
    mlcc_write_file_atomic(bad, data, len - 3000); /* truncated inside the tensor data */
    mlcc_model *m = mlcc_model_load_uncompiled(bad, NULL);
    CHECK_MSG(!m && strstr(mlcc_last_error(), bad), "truncated: %s", mlcc_last_error());
    mlcc_model_free(m);
    /* blk.0.ffn_down.weight's type becomes Q8_1 (9: known to ggml, no dequantizer here) or 99
     * (no ggml type): conversion fails naming the file and the tensor, and writes nothing */
    const char *name = "blk.0.ffn_down.weight";
    char *at = memmem(data, len, name, strlen(name));
    CHECK(at != NULL);
    for (int k = 0; at && k < 2; k++) {
        uint32_t ndims, type = k ? 99 : 9;
        memcpy(&ndims, at + strlen(name), 4);
        memcpy(at + strlen(name) + 4 + 8 * ndims, &type, 4);
        mlcc_write_file_atomic(bad, data, len);
        for (int q = 0; q < 2; q++) {
            m = mlcc_model_load_uncompiled(bad, &(mlcc_model_options){.quantization = q ? "q4f16_1" : NULL});
            int failed = !m || weight_store_write(m, bad, dir, &(weight_store_options){.quiet = 1}) != 0;
            const char *err = mlcc_last_error();
            CHECK_MSG(!m && failed && strstr(err, bad) && strstr(err, name) && strstr(err, k ? "unknown ggml type 99" : "Q8_1"),
                      "type %u (%s): %s", type, q ? "q4f16_1" : "native", err);
            mlcc_model_free(m);
        }
        CHECK(!mlcc_file_exists(dir));
    }
    free(data), free(src), free(bad), free(dir);
}

/* A truncated shard and a damaged byte of the output are errors naming the shard. */
static void check_damaged_output(void) {
    char *good = out_dir("native-q4_0"), *bad = out_dir("damaged");
    for (int cut = 0; cut < 2; cut++) {
        char cmd[1200];
        snprintf(cmd, sizeof cmd, "rm -rf '%s' && cp -r '%s' '%s'", bad, good, bad);
        CHECK(system(cmd) == 0);
        char *shard = mlcc_path_join(bad, "params_shard_0.bin");
        size_t len = 0;
        char *data = mlcc_read_file(shard, &len);
        CHECK(data && len > 200);
        if (data && len > 200) {
            if (!cut) data[len / 2] ^= 0x10;
            mlcc_write_file_atomic(shard, data, cut ? len - 100 : len);
        }
        free(data);
        mlcc_model *m = mlcc_model_load_uncompiled(bad, NULL);
        const char *err = mlcc_last_error();
        CHECK_MSG(!m && strstr(err, "params_shard_0.bin") && strstr(err, cut ? "truncated" : "sha256 mismatch"), "%s", err);
        mlcc_model_free(m);
        free(shard);
    }
    free(good), free(bad);
}

int main(void) {
    char *probe = test_data_path("gguf/q-llama-f32.gguf");
    if (!mlcc_file_exists(probe)) TEST_SKIP("fixtures missing: %s", probe);
    free(probe);
    CHECK(mkdtemp(base) != NULL);
    setenv("MLCC_QUANT_ACT", "f32", 1);
    check_native("f32", "q0f32");
    check_native("f16", "q0f16");
    check_native("q8_0", "ggml_q8_0");
    check_native("q4_0", "ggml_q4_0");
    check_requantized("q4f16_1");
    check_requantized("q0f32");
    check_deterministic();
    check_llama3_tokenizer();
    check_random_models();
    check_cache();
    check_bad_gguf();
    check_damaged_output();
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", base);
    CHECK(system(cmd) == 0);
    return test_finish();
}
