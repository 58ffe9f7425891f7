/* bench_model.c - prefill and decode speed of a compiled model on the CPU, on a random-weight
 * llama written to a temporary folder (so no download is needed), or on a given model.
 *
 * build: make build && cc -O2 -Iinclude -Isrc bench/bench_model.c -Lbuild -lmlcc -lmlcc_runtime \
 *        -ljansson -lm -Wl,-rpath,$PWD/build -o build/bench_model
 * run:   MLCC_NUM_THREADS=2 build/bench_model [--model PATH] [--hidden 512 --layers 8
 *        --vocab 32000 --prompt 128 --decode 32 --kv-heads 4 --ffn 5632] [--device cpu|cuda|vulkan]
 *        [--quantization q4f16_1] [--save DIR]
 *        (--save keeps the random model in DIR: a second run takes --model DIR;
 *        MLCC_VULKAN_PROFILE=1 with a vulkan device prints each kernel's device time)
 *        (heads are hidden / 64; KV heads default to heads / 4, the FFN to 3 x hidden).
 *        TinyLlama-1.1B's layer: --hidden 2048 --kv-heads 4 --ffn 5632 --vocab 32000.
 *        MLCC_DEFAULT_SCHEDULE=0 measures the kernels without the default schedule.
 * Prints compile+load time, prefill tokens/s (prompt through forward_kv in one call), decode
 * tokens/s (one token per forward_kv call), and the weight bytes each decode step streams (as
 * stored: packed words and scales when quantized). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "loader/safetensors.h"
#include "models/model.h"
#include "runtime/vulkan.h"
#include "support/clock.h"
#include "support/error.h"
#include "support/file.h"

static uint64_t rng = 88172645463325252ull;
static float rnd(void) {
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return ((float)(rng >> 40) / (float)(1 << 24) - 0.5f) * 0.1f;
}

typedef struct { char name[128]; int64_t shape[2]; int ndim; float *data; } tensor;

static void add(tensor *ts, int *n, const char *name, int64_t a, int64_t b) {
    tensor *t = &ts[(*n)++];
    snprintf(t->name, sizeof t->name, "%s", name);
    t->shape[0] = a, t->shape[1] = b, t->ndim = b ? 2 : 1;
    int64_t count = a * (b ? b : 1);
    t->data = malloc(sizeof(float) * (size_t)count);
    for (int64_t i = 0; i < count; i++) t->data[i] = b ? rnd() : 1.0f;
}

static int64_t opt_kv_heads, opt_ffn; /* 0: heads / 4 and 3 x hidden */

static char *write_random_llama(int64_t hidden, int64_t layers, int64_t vocab) {
    int64_t heads = hidden / 64, kv = heads / 4 ? heads / 4 : 1, inter = hidden * 3, hd = 64;
    if (opt_kv_heads > 0) kv = opt_kv_heads;
    if (opt_ffn > 0) inter = opt_ffn;
    char *dir = strdup("/tmp/mlcc-bench-model-XXXXXX");
    if (!mkdtemp(dir)) return NULL;
    json_t *cfg = json_pack("{s:s,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:f,s:f,s:b}", "model_type", "llama", "hidden_size",
                            (json_int_t)hidden, "num_hidden_layers", (json_int_t)layers, "num_attention_heads",
                            (json_int_t)heads, "num_key_value_heads", (json_int_t)kv, "intermediate_size", (json_int_t)inter,
                            "vocab_size", (json_int_t)vocab, "max_position_embeddings", (json_int_t)4096, "rms_norm_eps",
                            1e-5, "rope_theta", 10000.0, "tie_word_embeddings", 0);
    char *path = mlcc_path_join(dir, "config.json");
    json_dump_file(cfg, path, 0);
    free(path);
    json_decref(cfg);
    int cap = (int)(9 * layers + 3), n = 0;
    tensor *ts = calloc((size_t)cap, sizeof *ts);
    add(ts, &n, "model.embed_tokens.weight", vocab, hidden);
    add(ts, &n, "model.norm.weight", hidden, 0);
    add(ts, &n, "lm_head.weight", vocab, hidden);
    char name[128];
    static const char *const proj[][2] = {{"self_attn.q_proj", "q"}, {"self_attn.k_proj", "k"}, {"self_attn.v_proj", "v"},
                                          {"self_attn.o_proj", "o"}, {"mlp.gate_proj", "g"},    {"mlp.up_proj", "u"},
                                          {"mlp.down_proj", "d"}};
    for (int64_t l = 0; l < layers; l++) {
        for (int p = 0; p < 7; p++) {
            char k = proj[p][1][0];
            int64_t out = k == 'q' ? heads * hd : k == 'k' || k == 'v' ? kv * hd : k == 'o' || k == 'd' ? hidden : inter;
            int64_t in = k == 'o' ? heads * hd : k == 'd' ? inter : hidden;
            snprintf(name, sizeof name, "model.layers.%lld.%s.weight", (long long)l, proj[p][0]);
            add(ts, &n, name, out, in);
        }
        snprintf(name, sizeof name, "model.layers.%lld.input_layernorm.weight", (long long)l);
        add(ts, &n, name, hidden, 0);
        snprintf(name, sizeof name, "model.layers.%lld.post_attention_layernorm.weight", (long long)l);
        add(ts, &n, name, hidden, 0);
    }
    mlcc_st_write_tensor *w = calloc((size_t)n, sizeof *w);
    for (int i = 0; i < n; i++) w[i] = (mlcc_st_write_tensor){ts[i].name, ST_F32, ts[i].ndim, ts[i].shape, ts[i].data};
    path = mlcc_path_join(dir, "model.safetensors");
    if (safetensors_write(path, w, (size_t)n, NULL)) fprintf(stderr, "%s\n", mlcc_last_error());
    free(path);
    for (int i = 0; i < n; i++) free(ts[i].data);
    free(ts), free(w);
    return dir;
}

int main(int argc, char **argv) {
    const char *model = NULL, *device = NULL, *quant = NULL, *save = NULL;
    int64_t hidden = 512, layers = 8, vocab = 32000, prompt = 128, decode = 32;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--model")) model = argv[i + 1];
        else if (!strcmp(argv[i], "--hidden")) hidden = atoll(argv[i + 1]);
        else if (!strcmp(argv[i], "--layers")) layers = atoll(argv[i + 1]);
        else if (!strcmp(argv[i], "--vocab")) vocab = atoll(argv[i + 1]);
        else if (!strcmp(argv[i], "--prompt")) prompt = atoll(argv[i + 1]);
        else if (!strcmp(argv[i], "--decode")) decode = atoll(argv[i + 1]);
        else if (!strcmp(argv[i], "--kv-heads")) opt_kv_heads = atoll(argv[i + 1]);
        else if (!strcmp(argv[i], "--ffn")) opt_ffn = atoll(argv[i + 1]);
        else if (!strcmp(argv[i], "--device")) device = argv[i + 1];
        else if (!strcmp(argv[i], "--quantization")) quant = argv[i + 1];
        else if (!strcmp(argv[i], "--save")) save = argv[i + 1];
    }
    char *dir = model ? strdup(model) : write_random_llama(hidden, layers, vocab);
    if (save && !model) { /* keep the random model for another run (another device) */
        char cmd[512];
        snprintf(cmd, sizeof cmd, "rm -rf '%s' && mv '%s' '%s'", save, dir, save);
        if (system(cmd)) fprintf(stderr, "could not move %s to %s\n", dir, save);
        free(dir);
        dir = strdup(save);
        model = save;
    }
    int profile = device && !strncmp(device, "vulkan", 6) && getenv("MLCC_VULKAN_PROFILE");
    double t0 = mlcc_now_seconds();
    mlcc_model *m = mlcc_model_open(dir, &(mlcc_model_options){.max_seq = prompt + decode, .device = device, .quantization = quant});
    if (!m) {
        fprintf(stderr, "%s\n", mlcc_last_error());
        return 1;
    }
    double t_open = mlcc_now_seconds() - t0;
    size_t weight_bytes = 0;
    for (int i = 0; i < m->params.n; i++) /* the embedding table is not streamed per step */
        if (strncmp(m->params.items[i].name, "model.embed_tokens.", 19) || m->cfg.tie_embeddings)
            weight_bytes += (size_t)(m->weights[i]->dl.dtype.bits / 8) * (size_t)(m->params.items[i].shape[0] * (m->params.items[i].ndim == 2 ? m->params.items[i].shape[1] : 1));
    int32_t *ids = malloc(sizeof(int32_t) * (size_t)prompt);
    for (int64_t i = 0; i < prompt; i++) ids[i] = (int32_t)((i * 7919) % m->cfg.vocab);
    float *logits = malloc(sizeof(float) * (size_t)m->cfg.vocab);
    mlcc_model_kv kv;
    /* two tokens first, one call each: a GPU library compiles its kernels (NVRTC or glslang,
     * cached) at their first call */
    mlcc_model_kv_init(m, &kv);
    t0 = mlcc_now_seconds();
    if (mlcc_model_forward(m, &kv, ids, 1, logits)) fprintf(stderr, "%s\n", mlcc_last_error());
    /* and one decode step: its kernels (the decode attention) are others than prefill's */
    if (mlcc_model_forward(m, &kv, ids, 1, logits)) fprintf(stderr, "%s\n", mlcc_last_error());
    if (device && !strncmp(device, "vulkan", 6)) {
        /* Vulkan compiles each kernel (and each workgroup size) at its first dispatch, not the
         * whole library at the first call: the prompt's kernels too, before timing */
        mlcc_model_kv_free(&kv);
        mlcc_model_kv_init(m, &kv);
        if (mlcc_model_forward(m, &kv, ids, prompt, logits)) fprintf(stderr, "%s\n", mlcc_last_error());
    }
    double t_first = mlcc_now_seconds() - t0;
    mlcc_model_kv_free(&kv);
    mlcc_model_kv_init(m, &kv);
    t0 = mlcc_now_seconds();
    if (mlcc_model_forward(m, &kv, ids, prompt, logits)) fprintf(stderr, "%s\n", mlcc_last_error());
    double t_prefill = mlcc_now_seconds() - t0;
    if (profile) {
        printf("prefill:\n");
        mlcc_vulkan_profile_report(stdout);
        mlcc_vulkan_profile_reset();
    }
    mlcc_vulkan_stats vk0 = mlcc_vulkan_get_stats();
    t0 = mlcc_now_seconds();
    for (int64_t s = 0; s < decode; s++) {
        int32_t best = 0;
        for (int64_t v = 1; v < m->cfg.vocab; v++)
            if (logits[v] > logits[best]) best = (int32_t)v;
        if (mlcc_model_forward(m, &kv, &best, 1, logits)) fprintf(stderr, "%s\n", mlcc_last_error());
    }
    double t_decode = mlcc_now_seconds() - t0;
    if (device && !strncmp(device, "vulkan", 6) && decode > 0) {
        mlcc_vulkan_stats vk1 = mlcc_vulkan_get_stats();
        printf("vulkan decode step: %.1f dispatches, %.1f submits\n", (double)(vk1.dispatches - vk0.dispatches) / (double)decode,
               (double)(vk1.submits - vk0.submits) / (double)decode);
    }
    if (profile) {
        printf("decode:\n");
        mlcc_vulkan_profile_report(stdout);
    }
    printf("device %s; ", device ? device : "cpu");
    printf("model %s: %s, hidden %lld, layers %lld, vocab %lld, %s, weights read per step %.1f MB\n", model ? model : "random",
           m->cfg.model_type, (long long)m->cfg.hidden, (long long)m->cfg.layers, (long long)m->cfg.vocab, m->quant->name,
           weight_bytes / 1e6);
    printf("open (build + load + compile/JIT cache): %.2f s; first call %.2f s\n", t_open, t_first);
    printf("prefill %lld tokens: %.3f s = %.1f tokens/s\n", (long long)prompt, t_prefill, prompt / t_prefill);
    printf("decode %lld tokens: %.3f s = %.2f tokens/s (%.2f GB/s of weights)\n", (long long)decode, t_decode,
           decode / t_decode, weight_bytes * decode / t_decode / 1e9);
    mlcc_model_kv_free(&kv);
    mlcc_model_free(m);
    if (!model) {
        char cmd[256];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        if (system(cmd)) fprintf(stderr, "could not remove %s\n", dir);
    }
    free(dir), free(ids), free(logits);
    return 0;
}
