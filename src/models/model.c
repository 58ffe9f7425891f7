/* model.c - opening a model: config, graph, compilation, weights; running prefill. */
#include "models/model.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include <string.h>

#include "codegen/build.h"
#include "ir/module.h"
#include "ir/printer.h"
#include "loader/gguf.h"
#include "models/convert_cache.h"
#include "models/fuse_proj.h"
#include "models/weight_store.h"
#include "models/decode_graph.h"
#include "runtime/cuda.h"
#include "runtime/threadpool.h"
#include "runtime/vulkan.h"
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
 * bounds, the KV layout, the weight parameters (name, shape, dtype, source tensor name) and
 * which of them each function takes, in call order. */
static json_t *model_library_metadata(const mlcc_model *m) {
    const mlcc_model_config *c = &m->cfg;
    const decoder_bounds *b = &m->bounds;
    json_t *params = json_array();
    for (int i = 0; i < m->params.n; i++) {
        const model_param *p = &m->params.items[i];
        json_t *shape = json_array();
        for (int d = 0; d < p->ndim; d++) json_array_append_new(shape, json_integer(p->shape[d]));
        char dt[32];
        const char *q = p->role != PARAM_PLAIN || !dtype_eq(p->dtype, DT_F32) ? m->quant->name : "none";
        json_array_append_new(params, json_pack("{s:s,s:o,s:s,s:s,s:s}", "name", p->name, "shape", shape, "dtype",
                                                dtype_str(p->dtype, dt), "source", p->source, "quantization", q));
    }
    json_t *fn_params = json_object();
    for (int f = 0; f < DEC_FN_COUNT; f++) {
        json_t *list = json_array();
        for (int i = 0; i < m->fn_params[f].n; i++) json_array_append_new(list, json_integer(m->fn_params[f].index[i]));
        json_object_set_new(fn_params, decoder_fn_names[f], list);
    }
    int64_t window = 0;
    for (int64_t i = 0; i < c->layers; i++)
        if (c->layer_window[i] > window) window = c->layer_window[i];
    json_t *meta = json_pack("{s:s,s:{s:I,s:I,s:I,s:I,s:I,s:i},s:{s:I,s:I,s:I,s:s},s:o,s:o}", "model_type", c->model_type, "bounds",
                     "context_window_size", (json_int_t)b->context_window, "prefill_chunk_size", (json_int_t)b->prefill_chunk,
                     "max_batch_size", (json_int_t)b->max_batch, "logit_rows", (json_int_t)b->logit_rows,
                     "sliding_window_size", (json_int_t)window, "page_size", b->page_size, "kv_cache", "num_layers",
                     (json_int_t)c->layers, "num_kv_heads", (json_int_t)c->kv_heads, "head_dim", (json_int_t)c->head_dim,
                     "dtype", b->kv_f16 ? "float16" : "float32", "params", params, "function_params", fn_params);
    json_object_set_new(meta, "quantization", json_string(m->quant->name));
    return meta;
}

/* Moves the loaded weights to the model's device (the VM passes them to kernels there). */
static int weights_to_device(mlcc_model *m) {
    for (int i = 0; i < m->params.n; i++) {
        MLCCNDArray *h = m->weights[i];
        MLCCNDArray *d = mlcc_ndarray_empty(h->dl.ndim, h->dl.shape, h->dl.dtype, m->device);
        if (!d || mlcc_ndarray_copy(d, h) != 0) {
            mlcc_ndarray_release(d);
            return mlcc_prefix_error("weight %s to the device", m->params.items[i].name);
        }
        mlcc_ndarray_release(h);
        m->weights[i] = d;
    }
    return 0;
}

/* "vulkan", "vulkan:N" -> a device (checked to exist). */
static int parse_vulkan_device(const char *s, DLDevice *out) {
    const char *num = s[6] == ':' ? s + 7 : NULL;
    if (s[6] && (!num || !*num)) return mlcc_set_error("unknown device '%s' (cpu, cuda, cuda:N, vulkan, vulkan:N)", s);
    char *end = NULL;
    long id = num ? strtol(num, &end, 10) : 0;
    if (num && (*end || id < 0 || id > 64)) return mlcc_set_error("bad device number in '%s'", s);
    if (!mlcc_vulkan_available()) return mlcc_set_error("device %s: %s", s, mlcc_vulkan_status());
    if (id >= mlcc_vulkan_device_count())
        return mlcc_set_error("device %s: there are %d Vulkan devices", s, mlcc_vulkan_device_count());
    *out = (DLDevice){kDLVulkan, (int32_t)id};
    return 0;
}

/* "cpu", "cuda", "cuda:N", "vulkan", "vulkan:N" -> a device (checked to exist). */
static int parse_device(const char *s, DLDevice *out) {
    *out = MLCC_CPU;
    if (!s || !*s || strcmp(s, "cpu") == 0) return 0;
    if (strncmp(s, "vulkan", 6) == 0) return parse_vulkan_device(s, out);
    if (strncmp(s, "cuda", 4) != 0 || (s[4] && (s[4] != ':' || !s[5])))
        return mlcc_set_error("unknown device '%s' (cpu, cuda, cuda:N)", s);
    char *end = NULL;
    long id = s[4] ? strtol(s + 5, &end, 10) : 0;
    if (s[4] && (*end || id < 0 || id > 64)) return mlcc_set_error("bad device number in '%s'", s);
    if (!mlcc_cuda_available()) return mlcc_set_error("device %s: %s", s, mlcc_cuda_status());
    if (id >= mlcc_cuda_device_count())
        return mlcc_set_error("device %s: there are %d CUDA devices", s, mlcc_cuda_device_count());
    *out = (DLDevice){kDLCUDA, (int32_t)id};
    return 0;
}

/* The model's graph functions (m->params lists the weights they take); under ggml_mixed each
 * matrix's scheme comes from its tensor in the GGUF file. Separate q/k/v (gate/up) matrices
 * run combined unless MLCC_FUSE_PROJ=0. */
static int build_graph(mlcc_model *m, mlcc_ir_module *mod, const char *path) {
    m->params.quant = m->quant;
    m->params.combine = fuse_proj_enabled(); /* q/k/v and gate/up as one matrix each (fuse_proj.c) */
    mlcc_gguf *g = NULL;
    void *stored = NULL; /* a converted folder's matrix_schemes */
    if (quant_is_mixed(m->quant) && weight_store_is_converted(path)) {
        if (!(stored = weight_store_matrix_schemes(path))) return -1;
        m->params.matrix_scheme = weight_store_matrix_scheme;
        m->params.matrix_ctx = stored;
    } else if (quant_is_mixed(m->quant)) {
        if (!is_gguf_file(path) || !(g = mlcc_gguf_open(path)))
            return mlcc_set_error("%s: quantization ggml_mixed takes each matrix's type from a GGUF file", path);
        m->params.matrix_scheme = model_gguf_matrix_scheme;
        m->params.matrix_ctx = g;
    }
    int rc = decoder_build(mod, &m->cfg, &m->spec, &m->bounds, &m->params, m->fn_params);
    if (g) mlcc_gguf_close(g);
    json_decref(stored);
    m->params.matrix_scheme = NULL, m->params.matrix_ctx = NULL;
    return rc;
}

/* The graph (which lists the weights) and the weights: from a converted folder as stored,
 * else read and quantized as m->quant says, through the cache of such conversions when
 * `cached` (not for `mlcc convert`, which writes its own folder). */
static int build_graph_and_weights(mlcc_model *m, mlcc_ir_module *mod, const char *path, int is_gguf, int cached) {
    int rc = build_graph(m, mod, path);
    if (rc) return rc;
    if (weight_store_is_converted(path)) rc = weight_store_load(m, path);
    else rc = cached ? convert_cache_load_weights(m, path, is_gguf) : model_load_weights(m, path, is_gguf);
    mlcc_threadpool_release_team(); /* the loading's parallel loops: their team would slow another thread's kernels */
    return rc;
}

/* Builds the graph, loads and checks the weights (so a bad file is reported before any
 * compiling), then compiles through the JIT cache. */
static int build_and_load(mlcc_model *m, const char *path, int is_gguf) {
    ir_scope_begin();
    mlcc_ir_module *mod = irmod_new();
    int rc = build_graph_and_weights(m, mod, path, is_gguf, 1);
    if (rc == 0) {
        json_t *meta = model_library_metadata(m);
        mlcc_build_options opt = {meta, NULL, NULL};
        const char *target = m->device.device_type == kDLCUDA ? "cuda" : m->device.device_type == kDLVulkan ? "vulkan" : "c";
        m->vm = mlcc_build_vm_target(mod, &opt, target);
        json_decref(meta);
        if (!m->vm) rc = mlcc_prefix_error("compiling %s", m->path);
    }
    if (rc == 0 && m->device.device_type != kDLCPU) rc = weights_to_device(m);
    ir_scope_end();
    return rc;
}

static int on_cpu(const mlcc_model_options *opt) {
    return !opt || !opt->device || !*opt->device || !strcmp(opt->device, "cpu");
}

/* The weight scheme: the options', or a converted folder's (the two must agree). */
static int choose_quantization(mlcc_model *m, const char *path, const mlcc_model_options *opt) {
    const char *want = opt ? opt->quantization : NULL;
    char stored[64] = "";
    if (weight_store_is_converted(path) && weight_store_scheme(path, stored, sizeof stored)) return -1;
    if (stored[0] && want && strcmp(stored, want))
        return mlcc_set_error("%s: converted with quantization %s, but %s was asked for", path, stored, want);
    /* weights run as stored unless a scheme is asked for: a GGUF file of Q4_0 / Q8_0 matrices
     * on its own blocks; on the CPU an F16 / BF16 checkpoint (GGUF or safetensors) as q0f16 /
     * q0bf16 (the GPU backends keep float32 for float checkpoints) */
    if (!want && !stored[0]) {
        int gguf = is_gguf_file(path);
        m->quant = gguf ? model_gguf_native_scheme(path) : NULL;
        /* the GPU backends have no k-quant kernels: float32 there */
        if (m->quant && (m->quant->bits == 0 || quant_is_kquant(m->quant)) && !on_cpu(opt)) m->quant = NULL;
        if (!gguf && on_cpu(opt)) m->quant = model_safetensors_native_scheme(path);
        /* an AutoAWQ checkpoint runs on its own 4-bit codes (repacked exactly) on the CPU; the
         * GPU backends have no AWQ kernel yet and get it dequantized to float32 */
        if (m->cfg.awq_group_size && on_cpu(opt)) m->quant = quant_scheme_awq(m->cfg.awq_group_size);
    }
    if (!m->quant) m->quant = quant_scheme_find(stored[0] ? stored : want);
    if (m->quant && m->quant->group_zero && m->cfg.awq_group_size && m->quant->group_size != m->cfg.awq_group_size)
        return mlcc_set_error("%s: an AWQ checkpoint with groups of %d cannot run as %s (groups of %d): ask for %s", path,
                              m->cfg.awq_group_size, m->quant->name, m->quant->group_size,
                              quant_scheme_awq(m->cfg.awq_group_size)->name);
    if (m->quant && m->quant->group_zero && !on_cpu(opt))
        return mlcc_set_error("%s: %s has CPU kernels only (on %s, open an AWQ checkpoint without a quantization: it is "
                              "dequantized to float32)", path, m->quant->name, opt->device);
    return m->quant ? 0 : mlcc_prefix_error("%s", path);
}

static int64_t at_most(int64_t v, int64_t cap) {
    return v < cap ? v : cap;
}

/* A CUDA model whose weights are not float32 (float16 or 4-bit: its projections round x to half
 * already) keeps its KV pages in float16: half the bytes the decode attention streams (at batch
 * 64 and ~550 tokens the float32 pages were 9 GB a step beside 15 GB of weights) and the
 * tensor-core prefill copies tiles as they are. MLCC_CUDA_KV_F16=0 keeps float32 pages. The CPU
 * keeps float32 pages (gcc does not vectorize _Float16 loops), as does Vulkan. */
static int kv_pages_f16(const mlcc_model *m) {
    const char *env = getenv("MLCC_CUDA_KV_F16");
    if (env && strcmp(env, "0") == 0) return 0;
    const mlcc_quant_scheme *q = m->quant;
    return m->device.device_type == kDLCUDA && q && !(q->bits == 0 && dtype_eq(q->weight_dtype, DT_F32));
}

/* A serving plan on a CUDA device budgets the device's free memory (the weights and the KV
 * pages live there), with the pages' value size; 0 (plan on the host's memory) elsewhere, and
 * for Vulkan, whose heaps are not queried yet. */
static int plan_memory_of_device(const mlcc_model *m, mlcc_plan_memory *mem) {
    size_t free_bytes = 0, total = 0;
    if (m->device.device_type != kDLCUDA || mlcc_cuda_memory_info(m->device.device_id, &free_bytes, &total)) return 0;
    *mem = (mlcc_plan_memory){.available_bytes = (double)free_bytes, .kv_value_bytes = m->bounds.kv_f16 ? 2 : 4};
    snprintf(mem->where, sizeof mem->where, "cuda:%d", m->device.device_id);
    return 1;
}

/* The bounds of the library from the options, with their defaults. */
static int set_bounds(mlcc_model *m, const mlcc_model_options *opt) {
    mlcc_model_options o = opt ? *opt : (mlcc_model_options){0};
    if (o.max_seq < 0 || o.prefill_chunk < 0 || o.max_batch < 0 || o.logit_rows < 0 || o.page_size < 0)
        return mlcc_set_error("model options: sizes must not be negative");
    decoder_bounds *b = &m->bounds;
    b->kv_f16 = kv_pages_f16(m);
    if (o.mode) {
        if (m->quant) o.quantization = m->quant->name; /* the weights' size as stored */
        mlcc_plan_memory mem, *on = NULL;
        if (plan_memory_of_device(m, &mem)) on = &mem;
        if (mlcc_plan_serving(&m->cfg, &o, on, &m->plan)) return -1;
        o.max_seq = m->plan.context_window;
        o.prefill_chunk = m->plan.prefill_chunk;
        o.max_batch = m->plan.max_batch;
    }
    b->context_window = at_most(o.max_seq > 0 ? o.max_seq : 512, m->cfg.max_positions);
    b->prefill_chunk = at_most(o.prefill_chunk > 0 ? o.prefill_chunk : 256, b->context_window);
    b->max_batch = o.max_batch > 0 ? o.max_batch : 1;
    b->logit_rows = at_most(o.logit_rows > b->max_batch ? o.logit_rows : b->max_batch, b->prefill_chunk > b->max_batch ? b->prefill_chunk : b->max_batch);
    b->page_size = o.page_size > 0 ? o.page_size : 16;
    m->max_seq = b->context_window;
    return 0;
}

mlcc_model *mlcc_model_open(const char *path, const mlcc_model_options *opt) {
    mlcc_model *m = mlcc_xcalloc(1, sizeof *m);
    m->path = mlcc_xstrdup(path);
    m->quiet = opt && opt->quiet;
    int gguf = is_gguf_file(path);
    if (parse_device(opt ? opt->device : NULL, &m->device)) goto fail;
    if (read_config(m, path, gguf)) goto fail;
    if (choose_quantization(m, path, opt)) goto fail;
    if (set_bounds(m, opt)) goto fail;
    if (build_and_load(m, path, gguf)) goto fail;
    return m;
fail:
    mlcc_model_free(m);
    return NULL;
}

mlcc_model *mlcc_model_load_uncompiled(const char *path, const mlcc_model_options *opt) {
    mlcc_model *m = mlcc_xcalloc(1, sizeof *m);
    m->path = mlcc_xstrdup(path);
    m->quiet = opt && opt->quiet;
    int gguf = is_gguf_file(path), rc = read_config(m, path, gguf);
    if (rc == 0) rc = choose_quantization(m, path, opt);
    if (rc == 0) rc = set_bounds(m, opt);
    if (rc == 0) {
        ir_scope_begin();
        rc = build_graph_and_weights(m, irmod_new(), path, gguf, 0);
        ir_scope_end();
    }
    if (rc == 0) return m;
    mlcc_model_free(m);
    return NULL;
}

int mlcc_model_print_ir(const char *path, const mlcc_model_options *opt, const char *only, mlcc_strbuf *out) {
    mlcc_model *m = mlcc_xcalloc(1, sizeof *m);
    m->path = mlcc_xstrdup(path);
    int rc = read_config(m, path, is_gguf_file(path));
    if (rc == 0) rc = choose_quantization(m, path, opt);
    if (rc == 0) rc = set_bounds(m, opt);
    if (rc == 0) {
        ir_scope_begin();
        mlcc_ir_module *mod = irmod_new();
        rc = build_graph(m, mod, path);
        if (rc == 0 && !only) irmod_print(mod, out);
        if (rc == 0 && only) {
            mlcc_prim_func *f = irmod_get_prim(mod, only);
            rx_expr *g = f ? NULL : irmod_get_graph(mod, only);
            if (f) tir_print_func(f, out);
            else if (g) rx_print_function(only, g, out);
            else rc = mlcc_set_error("%s: the model has no function named '%s'", path, only);
        }
        ir_scope_end();
    }
    mlcc_model_free(m);
    return rc;
}

void model_release_weights(mlcc_model *m) {
    for (int i = 0; m->weights && i < m->params.n; i++) mlcc_ndarray_release(m->weights[i]);
    free(m->weights);
    m->weights = NULL;
}

void mlcc_model_free(mlcc_model *m) {
    if (!m) return;
    decode_graphs_free(m->graphs); /* first: its graphs' blocks go back to the device's cache */
    model_release_weights(m);
    model_param_list_free(&m->params);
    for (int f = 0; f < DEC_FN_COUNT; f++) model_fn_params_free(&m->fn_params[f]);
    if (m->vm) mlcc_vm_free(m->vm);
    model_config_free(&m->cfg);
    free(m->path);
    free(m);
}

/* Calls graph function fn with the leading arguments lead[nlead] (objects) followed by the
 * function's weights; *out gets the returned object (owned). */
static int invoke(mlcc_model *m, decoder_fn fn, MLCCObject **lead, int nlead, MLCCObject **out) {
    const model_fn_params *w = &m->fn_params[fn];
    int nargs = nlead + w->n;
    MLCCValue *args = mlcc_xmalloc(sizeof(MLCCValue) * (size_t)nargs);
    int *codes = mlcc_xmalloc(sizeof(int) * (size_t)nargs);
    for (int i = 0; i < nlead; i++) args[i].v_handle = lead[i];
    for (int i = 0; i < w->n; i++) args[nlead + i].v_handle = m->weights[w->index[i]];
    for (int i = 0; i < nargs; i++) codes[i] = MLCC_TYPE_OBJECT;
    MLCCValue ret;
    int code, rc = mlcc_vm_invoke(m->vm, decoder_fn_names[fn], args, codes, nargs, &ret, &code);
    free(args);
    free(codes);
    if (rc) return mlcc_prefix_error("%s", decoder_fn_names[fn]);
    if (code != MLCC_TYPE_OBJECT) {
        mlcc_value_release(ret, code);
        return mlcc_set_error("%s: did not return an object", decoder_fn_names[fn]);
    }
    *out = ret.v_handle;
    return 0;
}

/* An int32 input of a model function, on the model's device. */
static MLCCNDArray *i32_array(const mlcc_model *m, const int32_t *v, int64_t n) {
    MLCCNDArray *a = mlcc_ndarray_empty(1, &n, MLCC_DTYPE_I32, m->device);
    if (a && mlcc_ndarray_copy_from_bytes(a, v, sizeof(int32_t) * (size_t)n) != 0) {
        mlcc_ndarray_release(a);
        return NULL;
    }
    return a;
}

MLCCKVCache *mlcc_model_create_kv_cache(mlcc_model *m, int64_t max_batch, int64_t max_total_len) {
    if (max_batch < 1 || max_total_len < 1)
        return mlcc_set_error("create_kv_cache: max_batch %lld and max_total_len %lld must be positive", (long long)max_batch,
                              (long long)max_total_len),
               NULL;
    int64_t dims[5] = {max_batch, max_total_len, m->bounds.prefill_chunk, m->bounds.page_size, 0};
    MLCCShape *shape = mlcc_shape_new(5, dims);
    MLCCValue arg = {.v_handle = shape}, ret;
    int code = MLCC_TYPE_OBJECT, ret_code;
    int rc = mlcc_vm_invoke(m->vm, "create_kv_cache", &arg, &code, 1, &ret, &ret_code);
    mlcc_object_release(&shape->obj);
    if (rc) return mlcc_prefix_error("create_kv_cache"), NULL;
    MLCCKVCache *kv = ret_code == MLCC_TYPE_OBJECT ? mlcc_kv_cache_from_object(ret.v_handle) : NULL;
    if (!kv) {
        mlcc_value_release(ret, ret_code);
        return mlcc_set_error("create_kv_cache: did not return a KV cache"), NULL;
    }
    return kv;
}

/* Checks a step against the bounds and the vocabulary; *decode says whether batch_decode runs it. */
static int check_step(const mlcc_model *m, const int64_t *lengths, int nseq, const int32_t *tokens, const int32_t *rows,
                      int nrows, int64_t *ntokens, int *decode) {
    const decoder_bounds *b = &m->bounds;
    if (nseq < 1) return mlcc_set_error("step: no sequences");
    int64_t n = 0;
    int all_one = 1;
    for (int i = 0; i < nseq; i++) {
        if (lengths[i] < 1) return mlcc_set_error("step: sequence %d takes %lld tokens (at least 1)", i, (long long)lengths[i]);
        n += lengths[i];
        all_one &= lengths[i] == 1;
    }
    *ntokens = n;
    *decode = all_one && !rows && nseq <= b->max_batch;
    if (!*decode && n > b->prefill_chunk)
        return mlcc_set_error("step: %lld tokens exceed the prefill chunk of %lld this library was compiled for", (long long)n,
                              (long long)b->prefill_chunk);
    int64_t want = rows ? nrows : nseq;
    if (!*decode && want > b->logit_rows)
        return mlcc_set_error("step: %lld logit rows exceed the %lld this library was compiled for", (long long)want,
                              (long long)b->logit_rows);
    for (int64_t i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= m->cfg.vocab)
            return mlcc_set_error("step: token %lld (id %d) is outside the vocabulary of %lld", (long long)i, tokens[i],
                                  (long long)m->cfg.vocab);
    for (int i = 0; rows && i < nrows; i++)
        if (rows[i] < 0 || rows[i] >= n) return mlcc_set_error("step: logit row %d is outside 0..%lld", rows[i], (long long)n - 1);
    if (rows && nrows < 1) return mlcc_set_error("step: no logit rows");
    return 0;
}

typedef struct decode_ctx {
    mlcc_model *m;
    MLCCKVCache *kv;
} decode_ctx;

/* A decode step's forward from its ids on the device: embed, then decode / batch_decode. */
static int decode_forward(void *ctx, MLCCNDArray *id_array, MLCCObject **out) {
    decode_ctx *c = ctx;
    mlcc_model *m = c->m;
    int64_t n = id_array->dl.shape[0];
    MLCCObject *ids = &id_array->obj, *embeds;
    if (invoke(m, DEC_FN_EMBED, &ids, 1, &embeds)) return -1;
    MLCCNDArray *view = mlcc_ndarray_view((MLCCNDArray *)embeds, 0, 3, (int64_t[]){n, 1, m->cfg.hidden}, MLCC_DTYPE_F32);
    MLCCObject *lead[2] = {&view->obj, (MLCCObject *)c->kv};
    int rc = invoke(m, n == 1 ? DEC_FN_DECODE : DEC_FN_BATCH_DECODE, lead, 2, out);
    mlcc_ndarray_release(view);
    mlcc_object_release(embeds);
    return rc;
}

/* A prefill step's forward: embed, then batch_prefill for the logit rows (NULL: the last
 * token of each sequence). */
static int prefill_forward(mlcc_model *m, MLCCKVCache *kv, const int64_t *lengths, int nseq, const int32_t *tokens,
                           int64_t n, const int32_t *rows, int nrows, MLCCObject **out) {
    MLCCNDArray *id_array = i32_array(m, tokens, n);
    if (!id_array) return -1;
    MLCCObject *ids = &id_array->obj, *embeds;
    int rc = invoke(m, DEC_FN_EMBED, &ids, 1, &embeds);
    mlcc_object_release(ids);
    if (rc) return -1;
    int32_t *last = NULL;
    if (!rows) {
        last = mlcc_xmalloc(sizeof(int32_t) * (size_t)nseq);
        int64_t end = 0;
        for (int i = 0; i < nseq; i++) last[i] = (int32_t)((end += lengths[i]) - 1);
        rows = last, nrows = nseq;
    }
    MLCCNDArray *view = mlcc_ndarray_view((MLCCNDArray *)embeds, 0, 3, (int64_t[]){1, n, m->cfg.hidden}, MLCC_DTYPE_F32);
    MLCCNDArray *at = i32_array(m, rows, nrows);
    MLCCObject *lead[3] = {&view->obj, &at->obj, (MLCCObject *)kv};
    rc = invoke(m, DEC_FN_PREFILL, lead, 3, out);
    mlcc_ndarray_release(at);
    free(last);
    mlcc_ndarray_release(view);
    mlcc_object_release(embeds);
    return rc;
}

/* The forward of an open step: decode (on CUDA replayed as a graph where it can be) or
 * prefill; logits as [rows, vocab]. */
static int run_step(mlcc_model *m, MLCCKVCache *kv, const int64_t *lengths, int nseq, const int32_t *tokens, int64_t n,
                    const int32_t *rows, int nrows, int decode, int on_device, MLCCNDArray **logits) {
    int64_t vocab = m->cfg.vocab, nout = decode ? n : (rows ? nrows : nseq);
    MLCCObject *out = NULL;
    int rc;
    if (decode) {
        decode_ctx ctx = {m, kv};
        rc = decode_graph_step(&m->graphs, m->device, kv, tokens, n, m->bounds.max_batch, decode_forward, &ctx, &out);
        if (rc == 0) { /* no graph: the ordinary way */
            MLCCNDArray *id_array = i32_array(m, tokens, n);
            if (!id_array) return -1;
            rc = decode_forward(&ctx, id_array, &out);
            mlcc_ndarray_release(id_array);
        } else if (rc > 0) {
            rc = 0;
        }
    } else {
        rc = prefill_forward(m, kv, lengths, nseq, tokens, n, rows, nrows, &out);
    }
    if (rc) return -1;
    if (((MLCCNDArray *)out)->dl.device.device_type != kDLCPU && !on_device) { /* callers read logits on the host */
        *logits = mlcc_ndarray_empty(2, (int64_t[]){nout, vocab}, MLCC_DTYPE_F32, MLCC_CPU);
        if (*logits && mlcc_ndarray_copy(*logits, (MLCCNDArray *)out) != 0) {
            mlcc_ndarray_release(*logits);
            *logits = NULL;
        }
        mlcc_object_release(out);
        return *logits ? 0 : mlcc_prefix_error("step: logits to the host");
    }
    *logits = mlcc_ndarray_view((MLCCNDArray *)out, 0, 2, (int64_t[]){nout, vocab}, MLCC_DTYPE_F32);
    mlcc_object_release(out);
    return *logits ? 0 : mlcc_set_error("step: the logits have an unexpected shape");
}

/* mlcc_model_step; on_device keeps the logits where the model computed them. */
static int model_step(mlcc_model *m, MLCCKVCache *kv, const int64_t *seq_ids, const int64_t *lengths, int nseq,
                      const int32_t *tokens, const int32_t *logit_rows, int nrows, int on_device, MLCCNDArray **logits) {
    *logits = NULL;
    int64_t n = 0;
    int decode = 0;
    if (check_step(m, lengths, nseq, tokens, logit_rows, nrows, &n, &decode)) return -1;
    for (int i = 0; i < nseq; i++) {
        int64_t len = mlcc_kv_cache_seq_length(kv, seq_ids[i]);
        if (len < 0) return -1;
        if (len + lengths[i] > m->bounds.context_window)
            return mlcc_set_error("step: sequence %lld would hold %lld tokens, beyond the context window of %lld",
                                  (long long)seq_ids[i], (long long)(len + lengths[i]), (long long)m->bounds.context_window);
    }
    int rc = mlcc_kv_cache_begin_forward(kv, seq_ids, lengths, nseq);
    if (rc) return rc;
    rc = run_step(m, kv, lengths, nseq, tokens, n, logit_rows, nrows, decode, on_device, logits);
    mlcc_kv_cache_end_forward(kv);
    if (rc) { /* undo the step's tokens so the sequences are as they were */
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", mlcc_last_error());
        for (int i = 0; i < nseq; i++) mlcc_kv_cache_pop_n(kv, seq_ids[i], lengths[i]);
        return mlcc_set_error("%s", msg);
    }
    return 0;
}

int mlcc_model_step(mlcc_model *m, MLCCKVCache *kv, const int64_t *seq_ids, const int64_t *lengths, int nseq,
                    const int32_t *tokens, const int32_t *logit_rows, int nrows, MLCCNDArray **logits) {
    return model_step(m, kv, seq_ids, lengths, nseq, tokens, logit_rows, nrows, 0, logits);
}

int mlcc_model_step_greedy(mlcc_model *m, MLCCKVCache *kv, const int64_t *seq_ids, const int64_t *lengths, int nseq,
                           const int32_t *tokens, int32_t *ids, double *logprobs) {
    MLCCNDArray *logits;
    int rc = model_step(m, kv, seq_ids, lengths, nseq, tokens, NULL, 0, 1, &logits);
    if (rc) return rc;
    const DLTensor *t = &logits->dl;
    const float *data = (const float *)((const char *)t->data + t->byte_offset);
    int64_t rows = t->shape[0], vocab = t->shape[1];
    if (t->device.device_type == kDLCUDA) {
        rc = mlcc_cuda_greedy(t->device.device_id, data, rows, vocab, ids, logprobs);
    } else if (t->device.device_type == kDLVulkan) {
        rc = mlcc_vulkan_greedy(t->device.device_id, data, rows, vocab, ids, logprobs);
    } else {
        rc = mlcc_set_error("step: greedy sampling on the device is for GPU models (the engine samples on the host otherwise)");
    }
    mlcc_ndarray_release(logits);
    return rc;
}

int mlcc_model_step_sample(mlcc_model *m, MLCCKVCache *kv, const int64_t *seq_ids, const int64_t *lengths, int nseq,
                           const int32_t *tokens, const mlcc_cuda_sample_row *rows, int32_t *ids, double *logprobs,
                           int *drew) {
    MLCCNDArray *logits;
    int rc = model_step(m, kv, seq_ids, lengths, nseq, tokens, NULL, 0, 1, &logits);
    if (rc) return rc;
    const DLTensor *t = &logits->dl;
    float *data = (float *)((char *)t->data + t->byte_offset);
    if (t->device.device_type == kDLCUDA)
        rc = mlcc_cuda_sample(t->device.device_id, data, t->shape[0], t->shape[1], rows, ids, logprobs, drew);
    else
        rc = mlcc_set_error("step: sampling on the device is for CUDA models (the engine samples on the host otherwise)");
    mlcc_ndarray_release(logits);
    return rc;
}

int mlcc_model_kv_init(mlcc_model *m, mlcc_model_kv *kv) {
    kv->len = 0;
    kv->cache = mlcc_model_create_kv_cache(m, 1, m->bounds.context_window);
    if (!kv->cache) return -1;
    if (mlcc_kv_cache_add_sequence(kv->cache, 0)) {
        mlcc_kv_cache_release(kv->cache);
        kv->cache = NULL;
        return -1;
    }
    return 0;
}

void mlcc_model_kv_free(mlcc_model_kv *kv) {
    if (kv->cache) mlcc_kv_cache_release(kv->cache);
    kv->cache = NULL;
    kv->len = 0;
}

int mlcc_model_kv_pop(mlcc_model_kv *kv, int64_t n) {
    if (n < 0 || n > kv->len) return mlcc_set_error("pop %lld tokens from a sequence of %lld", (long long)n, (long long)kv->len);
    if (mlcc_kv_cache_pop_n(kv->cache, 0, n)) return -1;
    kv->len -= n;
    return 0;
}

/* Runs ids through sequence 0 of kv in prefill chunks (or one decode step); rows_all asks for
 * every token's logits (into all[n * vocab]), else the last token's go into last[vocab]. On
 * failure the tokens of this call are dropped again. */
static int feed(mlcc_model *m, mlcc_model_kv *kv, const int32_t *ids, int64_t n, float *all, float *last) {
    if (n < 1 || kv->len + n > m->bounds.context_window)
        return mlcc_set_error("forward: %lld + %lld tokens exceed the context window of %lld", (long long)kv->len, (long long)n,
                              (long long)m->bounds.context_window);
    int64_t chunk = all ? m->bounds.logit_rows : m->bounds.prefill_chunk, done = 0, vocab = m->cfg.vocab;
    if (chunk > m->bounds.prefill_chunk) chunk = m->bounds.prefill_chunk;
    int32_t *rows = all ? mlcc_xmalloc(sizeof(int32_t) * (size_t)chunk) : NULL;
    int rc = 0;
    while (rc == 0 && done < n) {
        int64_t len = n - done < chunk ? n - done : chunk, seq = 0;
        for (int64_t i = 0; rows && i < len; i++) rows[i] = (int32_t)i;
        MLCCNDArray *logits;
        rc = mlcc_model_step(m, kv->cache, &seq, &len, 1, ids + done, rows, rows ? (int)len : 0, &logits);
        if (rc == MLCC_KV_OUT_OF_PAGES) rc = mlcc_set_error("forward: the KV cache is out of pages");
        if (rc) break;
        if (all) memcpy(all + done * vocab, logits->dl.data, sizeof(float) * (size_t)(len * vocab));
        else if (done + len == n) memcpy(last, logits->dl.data, sizeof(float) * (size_t)vocab);
        mlcc_ndarray_release(logits);
        done += len;
        kv->len += len;
    }
    free(rows);
    if (rc && done) {
        mlcc_kv_cache_pop_n(kv->cache, 0, done);
        kv->len -= done;
    }
    return rc;
}

int mlcc_model_forward(mlcc_model *m, mlcc_model_kv *kv, const int32_t *ids, int64_t n, float *logits) {
    return feed(m, kv, ids, n, NULL, logits);
}

int mlcc_model_prefill(mlcc_model *m, const int32_t *ids, int64_t n, MLCCNDArray **logits) {
    *logits = NULL;
    if (n < 1 || n > m->bounds.context_window)
        return mlcc_set_error("prefill: %lld tokens (this model was compiled for 1..%lld)", (long long)n,
                              (long long)m->bounds.context_window);
    mlcc_model_kv kv;
    if (mlcc_model_kv_init(m, &kv)) return -1;
    MLCCNDArray *out = mlcc_ndarray_empty(2, (int64_t[]){n, m->cfg.vocab}, MLCC_DTYPE_F32, MLCC_CPU);
    int rc = feed(m, &kv, ids, n, out->dl.data, NULL);
    mlcc_model_kv_free(&kv);
    if (rc) mlcc_ndarray_release(out);
    else *logits = out;
    return rc;
}

static int32_t argmax(const float *row, int64_t vocab) {
    int64_t best = 0;
    for (int64_t v = 1; v < vocab; v++)
        if (row[v] > row[best]) best = v;
    return (int32_t)best;
}

int mlcc_model_greedy(mlcc_model *m, const int32_t *prompt, int64_t n, int steps, int32_t *out) {
    mlcc_model_kv kv;
    if (mlcc_model_kv_init(m, &kv)) return -1;
    float *logits = mlcc_xmalloc(sizeof(float) * (size_t)m->cfg.vocab);
    int rc = mlcc_model_forward(m, &kv, prompt, n, logits);
    for (int s = 0; s < steps && rc == 0; s++) {
        out[s] = argmax(logits, m->cfg.vocab);
        if (s + 1 < steps) rc = mlcc_model_forward(m, &kv, &out[s], 1, logits);
    }
    free(logits);
    mlcc_model_kv_free(&kv);
    return rc;
}
