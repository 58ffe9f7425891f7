/* model.c - opening a model: config, graph, compilation, weights; running prefill. */
#include "models/model.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include <string.h>

#include "codegen/build.h"
#include "ir/module.h"
#include "loader/gguf.h"
#include "support/alloc.h"
#include "support/error.h"
#include "support/file.h"
#include "support/json.h"

static int is_gguf_file(const char *path) {
    size_t len = strlen(path);
    return len > 5 && strcmp(path + len - 5, ".gguf") == 0;
}

static int read_config(mlcc_model *m, const char *path, int is_gguf) {
    if (is_gguf) {
        mlcc_gguf *g = mlcc_gguf_open(path);
        if (!g) return -1;
        int rc = model_config_from_gguf(g, &m->cfg);
        mlcc_gguf_close(g);
        /* llama.cpp's qwen2 / qwen3 / phi3 files: q/k/v biases / q/k norms / fused projections,
         * as in transformers */
        memset(&m->spec, 0, sizeof m->spec);
        m->spec.qkv_bias = !strcmp(m->cfg.model_type, "qwen2");
        m->spec.qk_norm = !strcmp(m->cfg.model_type, "qwen3");
        m->spec.fused_qkv = m->spec.fused_gate_up = !strcmp(m->cfg.model_type, "phi3");
        return rc;
    }
    struct stat sb;
    if (stat(path, &sb) != 0) return mlcc_set_error("%s: %s", path, strerror(errno));
    if (!S_ISDIR(sb.st_mode)) return mlcc_set_error("%s: not a model folder (config.json + safetensors) or a .gguf file", path);
    char *file = mlcc_path_join(path, "config.json");
    json_t *j = mlcc_json_load_file(file);
    int rc = -1;
    if (j && model_config_from_json(j, file, &m->cfg) == 0) {
        const model_arch *arch = model_arch_find(m->cfg.model_type, file);
        memset(&m->spec, 0, sizeof m->spec);
        if (arch && arch->configure(j, file, &m->cfg, &m->spec) == 0) rc = 0;
    }
    if (rc == 0) { /* generation_config.json may list more end-of-sequence ids */
        char *gen = mlcc_path_join(path, "generation_config.json");
        json_t *g = access(gen, R_OK) == 0 ? json_load_file(gen, 0, NULL) : NULL;
        if (g) model_config_add_eos(g, &m->cfg);
        json_decref(g);
        free(gen);
    }
    json_decref(j);
    free(file);
    return rc;
}

/* What the model library records about the model (DESIGN.md §3.9): the architecture, the
 * bounds, the KV layout a cache would need, and the weight parameters in call order (name,
 * shape, dtype, source tensor name). */
static json_t *model_library_metadata(const mlcc_model *m) {
    const mlcc_model_config *c = &m->cfg;
    json_t *params = json_array();
    for (int i = 0; i < m->params.n; i++) {
        const model_param *p = &m->params.items[i];
        json_t *shape = json_array();
        for (int d = 0; d < p->ndim; d++) json_array_append_new(shape, json_integer(p->shape[d]));
        json_array_append_new(params, json_pack("{s:s,s:o,s:s,s:s}", "name", p->name, "shape", shape, "dtype", "float32",
                                                "source", p->name));
    }
    int64_t window = 0;
    for (int64_t i = 0; i < c->layers; i++)
        if (c->layer_window[i] > window) window = c->layer_window[i];
    return json_pack("{s:s,s:{s:I,s:I,s:I,s:I},s:{s:I,s:I,s:I,s:s},s:o}", "model_type", c->model_type, "bounds",
                     "context_window_size", (json_int_t)m->max_seq, "prefill_chunk_size", (json_int_t)m->max_seq,
                     "max_batch_size", (json_int_t)1, "sliding_window_size", (json_int_t)window, "kv_cache", "num_layers",
                     (json_int_t)c->layers, "num_kv_heads", (json_int_t)c->kv_heads, "head_dim", (json_int_t)c->head_dim,
                     "dtype", "float32", "params", params);
}

/* Builds the graph (which lists the weights), loads and checks the weights (so a bad file is
 * reported before any compiling), then compiles through the JIT cache. */
static int build_and_load(mlcc_model *m, const char *path, int is_gguf) {
    ir_scope_begin();
    mlcc_ir_module *mod = irmod_new();
    int rc = decoder_build(mod, &m->cfg, &m->spec, m->max_seq, &m->params);
    if (rc == 0) rc = model_load_weights(m, path, is_gguf);
    if (rc == 0) {
        json_t *meta = model_library_metadata(m);
        mlcc_build_options opt = {meta, NULL, NULL};
        m->vm = mlcc_build_vm(mod, &opt);
        json_decref(meta);
        if (!m->vm) rc = mlcc_prefix_error("compiling %s", m->path);
    }
    ir_scope_end();
    return rc;
}

mlcc_model *mlcc_model_open(const char *path, const mlcc_model_options *opt) {
    mlcc_model *m = mlcc_xcalloc(1, sizeof *m);
    m->path = mlcc_xstrdup(path);
    int gguf = is_gguf_file(path);
    if (read_config(m, path, gguf)) goto fail;
    m->max_seq = opt && opt->max_seq > 0 ? opt->max_seq : 512;
    if (m->max_seq > m->cfg.max_positions) m->max_seq = m->cfg.max_positions;
    if (build_and_load(m, path, gguf)) goto fail;
    return m;
fail:
    mlcc_model_free(m);
    return NULL;
}

void mlcc_model_free(mlcc_model *m) {
    if (!m) return;
    if (m->weights)
        for (int i = 0; i < m->params.n; i++) mlcc_ndarray_release(m->weights[i]);
    free(m->weights);
    model_param_list_free(&m->params);
    if (m->vm) mlcc_vm_free(m->vm);
    model_config_free(&m->cfg);
    free(m->path);
    free(m);
}

static MLCCNDArray *i32_array(const int32_t *v, int64_t n) {
    MLCCNDArray *a = mlcc_ndarray_empty(1, &n, MLCC_DTYPE_I32, MLCC_CPU);
    memcpy(a->dl.data, v, sizeof(int32_t) * (size_t)n);
    return a;
}

/* Runs prefill (positions NULL) or prefill_at. */
static int run_prefill(mlcc_model *m, const int32_t *ids, int64_t n, const int32_t *positions, int64_t b,
                       MLCCNDArray **logits) {
    const char *fn = positions ? "prefill_at" : "prefill";
    *logits = NULL;
    if (n < 1 || n > m->max_seq)
        return mlcc_set_error("%s: %lld tokens (this model was compiled for 1..%lld)", fn, (long long)n, (long long)m->max_seq);
    for (int64_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= m->cfg.vocab)
            return mlcc_set_error("%s: token %lld (id %d) is outside the vocabulary of %lld", fn, (long long)i, ids[i],
                                  (long long)m->cfg.vocab);
    if (positions && (b < 1 || b > n)) return mlcc_set_error("%s: %lld logit positions for %lld tokens", fn, (long long)b, (long long)n);
    for (int64_t i = 0; positions && i < b; i++)
        if (positions[i] < 0 || positions[i] >= n)
            return mlcc_set_error("%s: logit position %d is outside 0..%lld", fn, positions[i], (long long)n - 1);
    int first = positions ? 2 : 1, nargs = first + m->params.n;
    MLCCValue *args = mlcc_xmalloc(sizeof(MLCCValue) * (size_t)nargs);
    int *codes = mlcc_xmalloc(sizeof(int) * (size_t)nargs);
    args[0].v_handle = i32_array(ids, n);
    if (positions) args[1].v_handle = i32_array(positions, b);
    for (int i = 0; i < m->params.n; i++) args[first + i].v_handle = m->weights[i];
    for (int i = 0; i < nargs; i++) codes[i] = MLCC_TYPE_OBJECT;
    MLCCValue ret;
    int code;
    int rc = mlcc_vm_invoke(m->vm, fn, args, codes, nargs, &ret, &code);
    for (int i = 0; i < first; i++) mlcc_ndarray_release((MLCCNDArray *)args[i].v_handle);
    free(args);
    free(codes);
    if (rc) return mlcc_prefix_error("%s", fn);
    if (code != MLCC_TYPE_OBJECT) {
        mlcc_value_release(ret, code);
        return mlcc_set_error("%s: did not return a tensor", fn);
    }
    *logits = ret.v_handle;
    return 0;
}

int mlcc_model_prefill(mlcc_model *m, const int32_t *ids, int64_t n, MLCCNDArray **logits) {
    return run_prefill(m, ids, n, NULL, 0, logits);
}

int mlcc_model_prefill_at(mlcc_model *m, const int32_t *ids, int64_t n, const int32_t *positions, int64_t b,
                          MLCCNDArray **logits) {
    return run_prefill(m, ids, n, positions, b, logits);
}

int mlcc_model_last_logits(mlcc_model *m, const int32_t *ids, int64_t n, float *logits) {
    int32_t last = (int32_t)(n - 1);
    MLCCNDArray *out;
    if (run_prefill(m, ids, n, &last, 1, &out)) return -1;
    memcpy(logits, out->dl.data, sizeof(float) * (size_t)m->cfg.vocab);
    mlcc_ndarray_release(out);
    return 0;
}

static MLCCNDArray *empty_cache(const mlcc_model *m, int64_t len) {
    int64_t shape[4] = {m->cfg.layers, len, m->cfg.kv_heads, m->cfg.head_dim};
    return mlcc_ndarray_empty(4, shape, MLCC_DTYPE_F32, MLCC_CPU);
}

void mlcc_model_kv_init(const mlcc_model *m, mlcc_model_kv *kv) {
    kv->k = empty_cache(m, 0);
    kv->v = empty_cache(m, 0);
    kv->len = 0;
}

void mlcc_model_kv_free(mlcc_model_kv *kv) {
    mlcc_ndarray_release(kv->k);
    mlcc_ndarray_release(kv->v);
    kv->k = kv->v = NULL;
    kv->len = 0;
}

/* The first keep rows of every layer of a cache tensor. */
static MLCCNDArray *truncated(const mlcc_model *m, const MLCCNDArray *a, int64_t len, int64_t keep) {
    MLCCNDArray *out = empty_cache(m, keep);
    size_t row = sizeof(float) * (size_t)(m->cfg.kv_heads * m->cfg.head_dim);
    for (int64_t l = 0; l < m->cfg.layers; l++)
        memcpy((char *)out->dl.data + (size_t)(l * keep) * row, (const char *)a->dl.data + (size_t)(l * len) * row,
               (size_t)keep * row);
    return out;
}

int mlcc_model_kv_pop(const mlcc_model *m, mlcc_model_kv *kv, int64_t n) {
    if (n < 0 || n > kv->len) return mlcc_set_error("pop %lld tokens from a sequence of %lld", (long long)n, (long long)kv->len);
    MLCCNDArray *k = truncated(m, kv->k, kv->len, kv->len - n), *v = truncated(m, kv->v, kv->len, kv->len - n);
    mlcc_ndarray_release(kv->k);
    mlcc_ndarray_release(kv->v);
    kv->k = k, kv->v = v, kv->len -= n;
    return 0;
}

int mlcc_model_forward(mlcc_model *m, mlcc_model_kv *kv, const int32_t *ids, int64_t n, float *logits) {
    if (n < 1 || kv->len + n > m->max_seq)
        return mlcc_set_error("forward: %lld + %lld tokens exceed the context window of %lld", (long long)kv->len, (long long)n,
                              (long long)m->max_seq);
    for (int64_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= m->cfg.vocab)
            return mlcc_set_error("forward: token %lld (id %d) is outside the vocabulary of %lld", (long long)i, ids[i],
                                  (long long)m->cfg.vocab);
    int32_t *pos = mlcc_xmalloc(sizeof(int32_t) * (size_t)n), last = (int32_t)(n - 1);
    for (int64_t i = 0; i < n; i++) pos[i] = (int32_t)(kv->len + i);
    int nargs = 5 + m->params.n;
    MLCCValue *args = mlcc_xmalloc(sizeof(MLCCValue) * (size_t)nargs);
    int *codes = mlcc_xmalloc(sizeof(int) * (size_t)nargs);
    args[0].v_handle = i32_array(ids, n);
    args[1].v_handle = i32_array(pos, n);
    args[2].v_handle = i32_array(&last, 1);
    args[3].v_handle = kv->k;
    args[4].v_handle = kv->v;
    for (int i = 0; i < m->params.n; i++) args[5 + i].v_handle = m->weights[i];
    for (int i = 0; i < nargs; i++) codes[i] = MLCC_TYPE_OBJECT;
    MLCCValue ret;
    int code;
    int rc = mlcc_vm_invoke(m->vm, "forward_kv", args, codes, nargs, &ret, &code);
    for (int i = 0; i < 3; i++) mlcc_ndarray_release((MLCCNDArray *)args[i].v_handle);
    free(args), free(codes), free(pos);
    if (rc) return mlcc_prefix_error("forward_kv");
    MLCCTuple *t = code == MLCC_TYPE_OBJECT ? ret.v_handle : NULL;
    if (!t || t->obj.type_index != MLCC_OBJECT_TUPLE || t->size != 3) {
        mlcc_value_release(ret, code);
        return mlcc_set_error("forward_kv: did not return (logits, k, v)");
    }
    const MLCCNDArray *out = t->values[0].v_handle;
    memcpy(logits, out->dl.data, sizeof(float) * (size_t)m->cfg.vocab);
    mlcc_ndarray_release(kv->k);
    mlcc_ndarray_release(kv->v);
    kv->k = t->values[1].v_handle, kv->v = t->values[2].v_handle;
    mlcc_object_retain(&kv->k->obj);
    mlcc_object_retain(&kv->v->obj);
    kv->len += n;
    mlcc_value_release(ret, code);
    return 0;
}

static int32_t argmax(const float *row, int64_t vocab) {
    int64_t best = 0;
    for (int64_t v = 1; v < vocab; v++)
        if (row[v] > row[best]) best = v;
    return (int32_t)best;
}

int mlcc_model_greedy(mlcc_model *m, const int32_t *prompt, int64_t n, int steps, int32_t *out) {
    int32_t *seq = mlcc_xmalloc(sizeof(int32_t) * (size_t)(n + steps));
    float *logits = mlcc_xmalloc(sizeof(float) * (size_t)m->cfg.vocab);
    memcpy(seq, prompt, sizeof(int32_t) * (size_t)n);
    int rc = 0;
    for (int s = 0; s < steps && rc == 0; s++) {
        rc = mlcc_model_last_logits(m, seq, n + s, logits);
        if (rc == 0) out[s] = seq[n + s] = argmax(logits, m->cfg.vocab);
    }
    free(logits);
    free(seq);
    return rc;
}
