/* random_model.c - writing seeded random-weight models (see random_model.h). The list of
 * tensors (names and shapes) comes from the same graph builder that loads models, so every
 * architecture mlcc runs can be written. */
#include "models/random_model.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ir/module.h"
#include "ir/tir.h"
#include "loader/ggml_dequant.h"
#include "loader/ggml_quant.h"
#include "loader/gguf.h"
#include "loader/gguf_write.h"
#include "loader/safetensors.h"
#include "models/arch.h"
#include "models/decoder.h"
#include "models/synthetic_vocab.h"
#include "mlcc/mlcc_runtime.h"
#include "models/model.h"
#include "support/alloc.h"
#include "support/error.h"
#include "support/file.h"
#include "support/json.h"

typedef struct random_model {
    json_t *json;
    const char *file;
    mlcc_model_config cfg;
    decoder_spec spec;
    model_param_list params;
    double std;
} random_model;

/* ---- values ---- */

static uint64_t splitmix64(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static uint64_t fnv1a(const char *s) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 0x100000001b3ull;
    return h;
}

static int is_norm_weight(const char *name) {
    size_t n = strlen(name);
    return n > 11 && strcmp(name + n - 7, ".weight") == 0 && (strstr(name, "norm.") || strstr(name, "layernorm."));
}

void random_model_tensor_values(uint64_t seed, const char *name, int norm_plus_one, double std, float *x, int64_t n) {
    uint64_t s = seed ^ fnv1a(name);
    int norm = is_norm_weight(name);
    /* uniform on [-a, a] has standard deviation a / sqrt(3) */
    double a = norm ? 0.1 : std * sqrt(3.0), base = norm && !norm_plus_one ? 1.0 : 0.0;
    for (int64_t i = 0; i < n; i++) {
        double u = (double)(splitmix64(&s) >> 11) * 0x1.0p-53; /* [0, 1) */
        x[i] = (float)(base + (2 * u - 1) * a);
    }
}

/* ---- the model's tensors ---- */

static int read_model(random_model *r, const char *config) {
    memset(r, 0, sizeof *r);
    r->file = config;
    r->json = mlcc_json_load_file(config);
    if (!r->json) return -1;
    if (model_config_from_json(r->json, config, &r->cfg)) return -1;
    const model_arch *arch = model_arch_find(r->cfg.model_type, config);
    if (!arch || arch->configure(r->json, config, &r->cfg, &r->spec)) return -1;
    r->std = 0.02;
    if (cfg_float_opt(r->json, config, "initializer_range", &r->std)) return -1;
    if (!(r->std > 0 && r->std < 10)) return mlcc_set_error("%s: field 'initializer_range' must be in (0, 10)", config);
    /* the graph lists the weights; small bounds, since nothing is compiled */
    decoder_bounds b = {.context_window = 64, .prefill_chunk = 64, .max_batch = 1, .logit_rows = 1, .page_size = 16};
    model_fn_params fns[DEC_FN_COUNT];
    memset(fns, 0, sizeof fns);
    ir_scope_begin();
    int rc = decoder_build(irmod_new(), &r->cfg, &r->spec, &b, &r->params, fns);
    ir_scope_end();
    for (int f = 0; f < DEC_FN_COUNT; f++) model_fn_params_free(&fns[f]);
    return rc;
}

static void free_model(random_model *r) {
    model_param_list_free(&r->params);
    model_config_free(&r->cfg);
    json_decref(r->json);
}

static int64_t param_count(const model_param *p) {
    int64_t n = 1;
    for (int d = 0; d < p->ndim; d++) n *= p->shape[d];
    return n;
}

static float *param_values(const random_model *r, const model_param *p, uint64_t seed) {
    int64_t n = param_count(p);
    float *x = mlcc_xmalloc(sizeof(float) * (size_t)n);
    random_model_tensor_values(seed, p->name, r->spec.norm_plus_one, r->std, x, n);
    return x;
}

/* ---- Hugging Face folder ---- */

/* The tensors' values in the file's type, made by several threads (a tensor's values depend on
 * the seed and its name only, so the file is the same): writing the 16 GB of a Llama-3-8B shape
 * on the GPU machine took minutes of device time on one core. */
typedef struct fill_job {
    const random_model *r;
    uint64_t seed;
    mlcc_st_dtype dt;
    void **data;
    int n, next;
    pthread_mutex_t lock;
} fill_job;

static void *fill_tensors(void *arg) {
    fill_job *j = arg;
    for (;;) {
        pthread_mutex_lock(&j->lock);
        int i = j->next++;
        pthread_mutex_unlock(&j->lock);
        if (i >= j->n) return NULL;
        const model_param *p = &j->r->params.items[i];
        float *x = param_values(j->r, p, j->seed);
        int64_t count = param_count(p);
        if (j->dt == ST_F32) {
            j->data[i] = x;
            continue;
        }
        uint16_t *h = mlcc_xmalloc(sizeof(uint16_t) * (size_t)count);
        if (j->dt == ST_F16) mlcc_f32_to_f16_n(h, x, (size_t)count);
        else mlcc_f32_to_bf16_n(h, x, (size_t)count);
        free(x);
        j->data[i] = h;
    }
}

static int write_folder(random_model *r, const mlcc_random_model_spec *s, const char *q) {
    mlcc_st_dtype dt;
    if (!strcmp(q, "f32")) dt = ST_F32;
    else if (!strcmp(q, "f16")) dt = ST_F16;
    else if (!strcmp(q, "bf16")) dt = ST_BF16;
    else return mlcc_set_error("--quantization %s: a safetensors folder holds f32, f16 or bf16 (q8_0 / q4_0 are GGUF types)", q);
    if (mlcc_mkdirs(s->out)) return -1;
    int n = r->params.n, rc = 0;
    mlcc_st_write_tensor *t = mlcc_xcalloc((size_t)n, sizeof *t);
    void **data = mlcc_xcalloc((size_t)n, sizeof *data);
    fill_job job = {r, s->seed, dt, data, n, 0, PTHREAD_MUTEX_INITIALIZER};
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    int nthreads = cpus < 1 ? 1 : cpus > 16 ? 16 : (int)cpus, started = 0;
    if (nthreads > n) nthreads = n;
    pthread_t threads[16];
    for (int i = 1; i < nthreads; i++) started += pthread_create(&threads[started], NULL, fill_tensors, &job) == 0;
    fill_tensors(&job);
    for (int i = 0; i < started; i++) pthread_join(threads[i], NULL);
    for (int i = 0; i < n; i++) {
        const model_param *p = &r->params.items[i];
        t[i] = (mlcc_st_write_tensor){p->name, dt, p->ndim, p->shape, data[i]};
    }
    char *path = mlcc_path_join(s->out, "model.safetensors");
    const char *meta[] = {"format", "pt", NULL};
    rc = safetensors_write(path, t, (size_t)n, meta);
    free(path);
    for (int i = 0; i < n; i++) free(data[i]);
    free(data);
    free(t);
    if (rc) return -1;
    json_t *cfg = json_deep_copy(r->json);
    json_object_set_new(cfg, "torch_dtype", json_string(dt == ST_F32 ? "float32" : dt == ST_F16 ? "float16" : "bfloat16"));
    char *text = json_dumps(cfg, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(cfg);
    path = mlcc_path_join(s->out, "config.json");
    rc = mlcc_write_file_atomic(path, text, strlen(text));
    free(path);
    free(text);
    if (rc) return -1;
    text = synthetic_vocab_tokenizer_json(r->cfg.vocab);
    path = mlcc_path_join(s->out, "tokenizer.json");
    rc = mlcc_write_file_atomic(path, text, strlen(text));
    free(path);
    free(text);
    return rc;
}

/* ---- GGUF ---- */


/* llama.cpp's converter interleaves the two rotary halves of each head's q/k rows: its row
 * h*D + 2i + j holds Hugging Face row h*D + j*D/2 + i. */
static void permute_rows(float *w, int64_t rows, int64_t cols, int64_t heads) {
    int64_t hd = rows / heads, half = hd / 2;
    float *tmp = mlcc_xmalloc(sizeof(float) * (size_t)(hd * cols));
    for (int64_t h = 0; h < heads; h++) {
        float *base = w + h * hd * cols;
        for (int64_t i = 0; i < half; i++)
            for (int j = 0; j < 2; j++)
                memcpy(tmp + (2 * i + j) * cols, base + (j * half + i) * cols, sizeof(float) * (size_t)cols);
        memcpy(base, tmp, sizeof(float) * (size_t)(hd * cols));
    }
    free(tmp);
}

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* The GGUF architecture of a model_type, or NULL + error. */
static const char *gguf_arch(const random_model *r) {
    const char *mt = r->cfg.model_type;
    if (!strcmp(mt, "llama") || !strcmp(mt, "mistral")) return "llama";
    if (!strcmp(mt, "qwen2") || !strcmp(mt, "qwen3") || !strcmp(mt, "phi3")) return mt;
    return mlcc_set_error("%s: model_type '%s' cannot be written as GGUF yet (llama, mistral, qwen2, qwen3, phi3)", r->file, mt),
           NULL;
}

static void put_metadata(mlcc_gguf_writer *w, const random_model *r, const char *arch, uint32_t file_type) {
    const mlcc_model_config *c = &r->cfg;
    char k[128];
#define AKEY(name) (snprintf(k, sizeof k, "%s.%s", arch, name), k)
    mlcc_gguf_writer_kv_str(w, "general.architecture", arch);
    mlcc_gguf_writer_kv_str(w, "general.name", "mlcc random weights");
    mlcc_gguf_writer_kv_u32(w, "general.file_type", file_type);
    mlcc_gguf_writer_kv_u32(w, "general.quantization_version", 2);
    mlcc_gguf_writer_kv_u32(w, AKEY("context_length"), (uint32_t)c->max_positions);
    mlcc_gguf_writer_kv_u32(w, AKEY("embedding_length"), (uint32_t)c->hidden);
    mlcc_gguf_writer_kv_u32(w, AKEY("block_count"), (uint32_t)c->layers);
    mlcc_gguf_writer_kv_u32(w, AKEY("feed_forward_length"), (uint32_t)c->intermediate);
    mlcc_gguf_writer_kv_u32(w, AKEY("attention.head_count"), (uint32_t)c->heads);
    mlcc_gguf_writer_kv_u32(w, AKEY("attention.head_count_kv"), (uint32_t)c->kv_heads);
    mlcc_gguf_writer_kv_f32(w, AKEY("rope.freq_base"), (float)c->rope_theta);
    mlcc_gguf_writer_kv_f32(w, AKEY("attention.layer_norm_rms_epsilon"), (float)c->rms_eps);
    mlcc_gguf_writer_kv_u32(w, AKEY("rope.dimension_count"), (uint32_t)c->head_dim);
    if (c->head_dim * c->heads != c->hidden) {
        mlcc_gguf_writer_kv_u32(w, AKEY("attention.key_length"), (uint32_t)c->head_dim);
        mlcc_gguf_writer_kv_u32(w, AKEY("attention.value_length"), (uint32_t)c->head_dim);
    }
    if (c->rope == ROPE_LINEAR) {
        mlcc_gguf_writer_kv_str(w, AKEY("rope.scaling.type"), "linear");
        mlcc_gguf_writer_kv_f32(w, AKEY("rope.scaling.factor"), (float)c->rope_factor);
    }
#undef AKEY
    /* a byte-level vocabulary as long as the embedding table */
    int64_t n = c->vocab;
    char **tokens = mlcc_xmalloc(sizeof(char *) * (size_t)n);
    int32_t *types = mlcc_xmalloc(sizeof(int32_t) * (size_t)n);
    for (int64_t i = 0; i < n; i++) tokens[i] = synthetic_vocab_token(i), types[i] = 1;
    mlcc_gguf_writer_kv_str(w, "tokenizer.ggml.model", "gpt2");
    mlcc_gguf_writer_kv_str(w, "tokenizer.ggml.pre", "default");
    mlcc_gguf_writer_kv_str_array(w, "tokenizer.ggml.tokens", (const char *const *)tokens, (uint64_t)n);
    mlcc_gguf_writer_kv_i32_array(w, "tokenizer.ggml.token_type", types, (uint64_t)n);
    mlcc_gguf_writer_kv_str_array(w, "tokenizer.ggml.merges", NULL, 0);
    if (c->bos_id >= 0 && c->bos_id < n) mlcc_gguf_writer_kv_u32(w, "tokenizer.ggml.bos_token_id", (uint32_t)c->bos_id);
    if (c->eos_id >= 0 && c->eos_id < n) mlcc_gguf_writer_kv_u32(w, "tokenizer.ggml.eos_token_id", (uint32_t)c->eos_id);
    for (int64_t i = 0; i < n; i++) free(tokens[i]);
    free(tokens);
    free(types);
}

/* llama.cpp's use_more_bits: the layers whose attn_v and ffn_down Q4_K_M stores as Q6_K (the
 * first and last eighth, every third between). */
static int uses_more_bits(const char *gguf_name, int64_t layers) {
    int layer, pos = 0;
    if (sscanf(gguf_name, "blk.%d.%n", &layer, &pos) != 1 || !pos) return 0;
    if (strcmp(gguf_name + pos, "attn_v.weight") && strcmp(gguf_name + pos, "ffn_down.weight")) return 0;
    return layer < layers / 8 || layer >= 7 * layers / 8 || (layer - layers / 8) % 3 == 2;
}

/* The ggml type a weight is stored as: 2-D weights take the requested type (F16 when their
 * rows are not whole blocks, as llama.cpp falls back), 1-D ones F32. */
static uint32_t weight_type(const model_param *p, uint32_t want, const char *gguf_name, int64_t layers) {
    if (p->ndim != 2) return MLCC_GGML_F32;
    if ((want == MLCC_GGML_Q8_0 || want == MLCC_GGML_Q4_0) && p->shape[1] % 32) return MLCC_GGML_F16;
    /* as Q4_K_M and Q5_K_M do: the output and some layers' attn_v / ffn_down in Q6_K */
    if ((want == MLCC_GGML_Q4_K || want == MLCC_GGML_Q5_K) && (!strcmp(gguf_name, "output.weight") || uses_more_bits(gguf_name, layers)))
        want = MLCC_GGML_Q6_K;
    if ((want == MLCC_GGML_Q4_K || want == MLCC_GGML_Q5_K || want == MLCC_GGML_Q6_K) && p->shape[1] % 256) return MLCC_GGML_F16;
    return want;
}

/* rope_freqs.weight for llama3 rope scaling: llama.cpp divides each frequency by its factor. */
static float *llama3_rope_factors(const mlcc_model_config *c) {
    int64_t half = c->head_dim / 2;
    double *scaled = mlcc_xmalloc(sizeof(double) * (size_t)half);
    model_rope_inv_freq(c, scaled);
    float *f = mlcc_xmalloc(sizeof(float) * (size_t)half);
    for (int64_t k = 0; k < half; k++) f[k] = (float)((1.0 / pow(c->rope_theta, (double)(2 * k) / (double)c->head_dim)) / scaled[k]);
    free(scaled);
    return f;
}

static int write_gguf(random_model *r, const mlcc_random_model_spec *s, const char *q) {
    uint32_t type, file_type;
    if (!strcmp(q, "f32")) type = MLCC_GGML_F32, file_type = 0;
    else if (!strcmp(q, "f16")) type = MLCC_GGML_F16, file_type = 1;
    else if (!strcmp(q, "q8_0")) type = MLCC_GGML_Q8_0, file_type = 7;
    else if (!strcmp(q, "q4_0")) type = MLCC_GGML_Q4_0, file_type = 2;
    else if (!strcmp(q, "q4_k")) type = MLCC_GGML_Q4_K, file_type = 15;
    else if (!strcmp(q, "q5_k")) type = MLCC_GGML_Q5_K, file_type = 17;
    else if (!strcmp(q, "q6_k")) type = MLCC_GGML_Q6_K, file_type = 18;
    else return mlcc_set_error("--quantization %s: a GGUF file is written as f32, f16, q8_0, q4_0, q4_k, q5_k or q6_k", q);
    if (s->dequantized) file_type = 0;
    const char *arch = gguf_arch(r);
    if (!arch) return -1;
    int n = r->params.n, rc = 0, permute = !strcmp(arch, "llama");
    mlcc_gguf_writer *w = mlcc_gguf_writer_new(32);
    put_metadata(w, r, arch, file_type);
    float *rope_factors = r->cfg.rope == ROPE_LLAMA3 ? llama3_rope_factors(&r->cfg) : NULL;
    int rope_index = -1;
    if (rope_factors) rope_index = mlcc_gguf_writer_add_tensor(w, "rope_freqs.weight", MLCC_GGML_F32, 1, (uint64_t[]){(uint64_t)(r->cfg.head_dim / 2)});
    char name[256];
    for (int i = 0; i < n && rc == 0; i++) {
        const model_param *p = &r->params.items[i];
        model_gguf_tensor_name(p->name, name, sizeof name);
        if (!name[0]) rc = mlcc_set_error("%s: tensor '%s' has no llama.cpp name", r->file, p->name);
        uint64_t dims[2] = {(uint64_t)p->shape[p->ndim - 1], p->ndim == 2 ? (uint64_t)p->shape[0] : 1};
        uint32_t t = s->dequantized ? MLCC_GGML_F32 : weight_type(p, type, name, r->cfg.layers);
        if (rc == 0 && mlcc_gguf_writer_add_tensor(w, name, t, p->ndim, dims) < 0) rc = -1;
    }
    if (rc == 0) rc = mlcc_gguf_writer_begin(w, s->out);
    if (rc == 0 && rope_factors) rc = mlcc_gguf_writer_tensor_data(w, rope_index, rope_factors, sizeof(float) * (size_t)(r->cfg.head_dim / 2));
    for (int i = 0; i < n && rc == 0; i++) {
        const model_param *p = &r->params.items[i];
        float *x = param_values(r, p, s->seed);
        model_gguf_tensor_name(p->name, name, sizeof name);
        if (permute && p->ndim == 2 && ends_with(name, ".attn_q.weight")) permute_rows(x, p->shape[0], p->shape[1], r->cfg.heads);
        if (permute && p->ndim == 2 && ends_with(name, ".attn_k.weight")) permute_rows(x, p->shape[0], p->shape[1], r->cfg.kv_heads);
        int idx = i + (rope_factors ? 1 : 0);
        uint64_t size = mlcc_gguf_writer_tensor_size(w, idx);
        uint32_t t = weight_type(p, type, name, r->cfg.layers);
        uint64_t count = (uint64_t)param_count(p);
        void *buf = mlcc_xmalloc(ggml_quant_size(t, count));
        rc = ggml_quantize(t, x, count, buf);
        /* the reference form: the values the quantized blocks stand for, as F32 */
        if (rc == 0 && s->dequantized) rc = ggml_dequantize_f32(t, buf, ggml_quant_size(t, count), count, x);
        if (rc == 0) rc = mlcc_gguf_writer_tensor_data(w, idx, s->dequantized ? (void *)x : buf, size);
        free(buf);
        free(x);
    }
    if (rc == 0) rc = mlcc_gguf_writer_finish(w);
    mlcc_gguf_writer_free(w);
    free(rope_factors);
    return rc;
}

int mlcc_random_model_describe(const char *config, int64_t *params, int *tensors) {
    random_model r;
    int rc = read_model(&r, config);
    *params = 0, *tensors = rc == 0 ? r.params.n : 0;
    for (int i = 0; rc == 0 && i < r.params.n; i++) *params += param_count(&r.params.items[i]);
    free_model(&r);
    return rc;
}

int mlcc_random_model_write(const mlcc_random_model_spec *s) {
    random_model r;
    int rc = read_model(&r, s->config);
    const char *q = s->quantization ? s->quantization : "f32";
    if (rc == 0) rc = s->format == RANDOM_MODEL_GGUF ? write_gguf(&r, s, q) : write_folder(&r, s, q);
    free_model(&r);
    return rc;
}
