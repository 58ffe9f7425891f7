/* fuzz_weight_index.c - a converted model folder's index files (models/weight_store.h) on
 * arbitrary bytes. The first byte picks the file the rest becomes: 0 params.json (the tensors'
 * names, dtypes, shapes, shard files, offsets, sizes and sha256), 1 mlcc-config.json (format,
 * version, scheme, index name). The folder's other files are fixed: a one-layer llama config
 * (hidden size 32, float32) and one shard of 53632 zero bytes. The target describes that shard
 * truly (valid_params: the sha256 of each tensor's zeros; checked to load at the start) and
 * uses it where the input is the other file; the seeds hold the same index, so mutations reach
 * every check, the digests too. mlcc_model_load_uncompiled reads the folder (config, scheme,
 * graph, weights, no compiling): every input loads or fails with an error, without a crash, an
 * out-of-bounds read or a leak (the sanitized build). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/model.h"
#include "native_build.h" /* test_remove_dir */
#include "support/error.h"
#include "support/file.h"
#include "support/sha256.h"
#include "support/strbuf.h"

enum { SHARD_BYTES = 53632 };

static const char config_json[] =
    "{\"architectures\": [\"LlamaForCausalLM\"], \"model_type\": \"llama\", \"hidden_act\": \"silu\",\n"
    " \"hidden_size\": 32, \"intermediate_size\": 64, \"num_attention_heads\": 2, \"num_key_value_heads\": 1,\n"
    " \"num_hidden_layers\": 1, \"vocab_size\": 64, \"max_position_embeddings\": 64, \"rms_norm_eps\": 1e-5,\n"
    " \"rope_theta\": 10000.0, \"tie_word_embeddings\": false, \"torch_dtype\": \"float32\",\n"
    " \"bos_token_id\": 1, \"eos_token_id\": 2}\n";

static const char mlcc_config_json[] = "{\"format\": \"mlcc-weights\", \"version\": 1, \"quantization\": \"q0f32\", "
                                       "\"model_type\": \"llama\", \"source\": \"fuzz\", \"index\": \"params.json\"}\n";

static char dir[] = "/tmp/mlcc-fuzz-weights-XXXXXX";

static void remove_dir(void) {
    test_remove_dir(dir);
}

static void put(const char *name, const void *data, size_t len) {
    char *path = mlcc_path_join(dir, name);
    if (mlcc_write_file_atomic(path, data, len) != 0) {
        fprintf(stderr, "fuzz_weight_index: writing %s failed\n", path);
        abort();
    }
    free(path);
}

/* The folder with the fixed files, made once (removed at exit). */
static void make_folder(void) {
    if (!mkdtemp(dir)) {
        perror("fuzz_weight_index: mkdtemp");
        abort();
    }
    atexit(remove_dir);
    put("config.json", config_json, sizeof config_json - 1);
    void *zeros = calloc(1, SHARD_BYTES);
    put("params_shard_0.bin", zeros, SHARD_BYTES);
    free(zeros);
}

/* The tensors of that config as `mlcc convert --quantization q0f32` lays them out (rows x cols;
 * cols 0: a vector), one after the other in the shard (every size a multiple of 64 bytes). */
static const struct {
    const char *name;
    int rows, cols;
} tensors[] = {
    {"model.embed_tokens.weight", 64, 32},           {"model.layers.0.input_layernorm.weight", 32, 0},
    {"model.layers.0.self_attn.qkv_proj.weight", 64, 32}, {"model.layers.0.self_attn.o_proj.weight", 32, 32},
    {"model.layers.0.post_attention_layernorm.weight", 32, 0}, {"model.layers.0.mlp.gate_up_proj.weight", 128, 32},
    {"model.layers.0.mlp.down_proj.weight", 32, 64},  {"model.norm.weight", 32, 0},
    {"lm_head.weight", 64, 32},
};

/* A params.json that describes the zero shard truly (sha256 of each tensor's zeros). */
static char *valid_params(void) {
    mlcc_strbuf sb = STRBUF_INIT;
    sb_append(&sb, "{\"quantization\": \"q0f32\", \"tensors\": [");
    int64_t offset = 0;
    void *zeros = calloc(1, SHARD_BYTES);
    for (size_t i = 0; i < sizeof tensors / sizeof tensors[0]; i++) {
        int64_t n = (int64_t)tensors[i].rows * (tensors[i].cols ? tensors[i].cols : 1) * 4;
        char hex[65], shape[32];
        sha256_hex(zeros, (size_t)n, hex);
        if (tensors[i].cols) snprintf(shape, sizeof shape, "[%d, %d]", tensors[i].rows, tensors[i].cols);
        else snprintf(shape, sizeof shape, "[%d]", tensors[i].rows);
        sb_printf(&sb, "%s{\"name\": \"%s\", \"dtype\": \"float32\", \"shape\": %s, \"file\": \"params_shard_0.bin\", "
                       "\"offset\": %lld, \"nbytes\": %lld, \"sha256\": \"%s\"}",
                  i ? ", " : "", tensors[i].name, shape, (long long)offset, (long long)n, hex);
        offset += n;
    }
    free(zeros);
    sb_append(&sb, "]}\n");
    return sb_detach(&sb);
}

/* The folder as it now is through mlcc_model_load_uncompiled: 1 it loaded, 0 an error. */
static int loads(void) {
    mlcc_model_options opt = {.max_seq = 16, .prefill_chunk = 8, .quiet = 1};
    mlcc_model *m = mlcc_model_load_uncompiled(dir, &opt);
    mlcc_model_free(m);
    return m != NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static char *params;
    if (!params) {
        make_folder();
        params = valid_params();
        put("params.json", params, strlen(params)); /* the fixed files load (else the harness is wrong) */
        put("mlcc-config.json", mlcc_config_json, sizeof mlcc_config_json - 1);
        if (!loads()) {
            fprintf(stderr, "fuzz_weight_index: the fixed folder does not load: %s\n", mlcc_last_error());
            abort();
        }
    }
    if (size < 1) return 0;
    int config = data[0] % 2; /* else the input is params.json */
    put(config ? "mlcc-config.json" : "params.json", data + 1, size - 1);
    put(config ? "params.json" : "mlcc-config.json", config ? params : mlcc_config_json,
        config ? strlen(params) : sizeof mlcc_config_json - 1);
    loads();
    return 0;
}
