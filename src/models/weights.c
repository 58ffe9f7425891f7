/* weights.c - binding the graph's weight parameters to data: Hugging Face safetensors by name,
 * or GGUF through llama.cpp's tensor names, read as float32 and then stored as each parameter
 * wants: float32 as is, float16 (q0f16), or quantized into q_weight + q_scale (quant/scheme.h).
 * A converted folder (mlcc convert) is read by convert.c instead. A parameter combining
 * separate projections (fuse_proj.h) is filled part by part through the same routines.
 *
 * llama.cpp's llama converter permutes the rows of attn_q / attn_k within each head (it
 * interleaves the two rotary halves for its own rope layout); the permutation is undone here
 * so the Hugging Face "rotate half" rope applies to GGUF weights unchanged. */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hub/progress.h"
#include "loader/ggml_dequant.h"
#include "loader/gguf.h"
#include "loader/safetensors.h"
#include "models/fuse_proj.h"
#include "models/model.h"
#include "quant/awq.h"
#include "quant/scheme.h"
#include "support/alloc.h"
#include "support/error.h"
#include "support/log.h"

/* Parameter i (a quantized pair: both) from the float32 values of its source tensor. */
static void store_param(mlcc_model *m, int i, const float *src) {
    const model_param *p = &m->params.items[i];
    m->weights[i] = model_new_weight(m, i);
    if (p->role == PARAM_PLAIN) {
        quant_store_float(p->dtype, src, p->source_shape[0] * (p->ndim == 2 ? p->source_shape[1] : 1), m->weights[i]->dl.data);
        return;
    }
    int w = p->role == PARAM_Q_WEIGHT ? i : p->partner, sc = p->role == PARAM_Q_WEIGHT ? p->partner : i;
    if (!m->weights[w]) m->weights[w] = model_new_weight(m, w);
    if (!m->weights[sc]) m->weights[sc] = model_new_weight(m, sc);
    quant_pack(p->quant ? p->quant : m->params.quant, src, p->source_shape[0], p->source_shape[1], m->weights[w]->dl.data, m->weights[sc]->dl.data);
}

static int64_t source_elements(const model_param *p) {
    return p->source_shape[0] * (p->ndim == 2 ? p->source_shape[1] : 1);
}

static void shape_str(char *buf, size_t cap, int ndim, const int64_t *shape) {
    if (ndim == 1) snprintf(buf, cap, "[%lld]", (long long)shape[0]);
    else snprintf(buf, cap, "[%lld, %lld]", (long long)shape[0], (long long)shape[1]);
}

/* AutoAWQ's tensor `<prefix>.<suffix>` of the layer whose weight is `source`, checked for
 * dtype and shape [d0, d1]; NULL + error naming it otherwise. */
static const mlcc_st_tensor *awq_tensor(const mlcc_safetensors *st, const char *path, const char *source, const char *suffix,
                                        int is_int, int64_t d0, int64_t d1) {
    char name[300];
    size_t len = strlen(source);
    snprintf(name, sizeof name, "%.*s.%s", (int)(len > 7 ? len - 7 : len), source, suffix);
    const mlcc_st_tensor *t = safetensors_find(st, name);
    const char *where = safetensors_num_files(st) == 1 && safetensors_count(st) ? safetensors_at(st, 0)->file : path;
    if (!t) return mlcc_set_error("%s: missing tensor '%s' (an AWQ checkpoint stores '%s' as qweight, qzeros and scales)", where,
                                  name, source), NULL;
    int ok = is_int ? t->dtype == ST_I32 || t->dtype == ST_U32 : t->dtype == ST_F16;
    if (!ok)
        return mlcc_set_error("%s: AWQ tensor '%s' is %s, expected %s", t->file, name, safetensors_dtype_name(t->dtype),
                              is_int ? "I32" : "F16"), NULL;
    if (t->ndim != 2 || t->shape[0] != d0 || t->shape[1] != d1) {
        char got[64] = "[...]";
        if (t->ndim == 1 || t->ndim == 2) shape_str(got, sizeof got, t->ndim, t->shape);
        return mlcc_set_error("%s: AWQ tensor '%s' has shape %s, the config implies [%lld, %lld]", t->file, name, got,
                              (long long)d0, (long long)d1), NULL;
    }
    return t;
}

/* Matrix parameter i from an AutoAWQ layer (qweight, qzeros, scales): repacked exactly when
 * the model's scheme is the AWQ layout of the same group size, else dequantized to float32
 * and stored as the parameter's scheme says. */
static int load_awq_param(mlcc_model *m, const mlcc_safetensors *st, const char *path, int i) {
    const model_param *p = &m->params.items[i];
    int64_t out = p->source_shape[0], in = p->source_shape[1], group = m->cfg.awq_group_size;
    const char *where = safetensors_num_files(st) == 1 && safetensors_count(st) ? safetensors_at(st, 0)->file : path;
    if (p->ndim != 2 || in % group || out % 8)
        return mlcc_set_error("%s: tensor '%s' [%lld, %lld]: an AWQ layer needs in_features a multiple of the group size %lld and "
                              "out_features a multiple of 8", where, p->source, (long long)out, (long long)in, (long long)group);
    const mlcc_st_tensor *qw = awq_tensor(st, path, p->source, "qweight", 1, in, out / 8);
    const mlcc_st_tensor *qz = qw ? awq_tensor(st, path, p->source, "qzeros", 1, in / group, out / 8) : NULL;
    const mlcc_st_tensor *sc = qz ? awq_tensor(st, path, p->source, "scales", 0, in / group, out) : NULL;
    if (!sc) return -1;
    const mlcc_quant_scheme *awq = quant_scheme_awq((int)group);
    const mlcc_quant_scheme *q = quant_scheme_for_matrix(m->params.quant, p->source);
    uint32_t *packed = mlcc_xmalloc(sizeof(uint32_t) * (size_t)(out * quant_packed_cols(awq, in)));
    uint16_t *scales = mlcc_xmalloc(sizeof(uint16_t) * (size_t)(out * quant_scale_cols(awq, in)));
    awq_repack(qw->data, qz->data, sc->data, in, out, (int)group, packed, scales);
    if (p->role != PARAM_PLAIN && q == awq) {
        int w = p->role == PARAM_Q_WEIGHT ? i : p->partner, s = p->role == PARAM_Q_WEIGHT ? p->partner : i;
        m->weights[w] = model_new_weight(m, w);
        m->weights[s] = model_new_weight(m, s);
        memcpy(m->weights[w]->dl.data, packed, mlcc_ndarray_nbytes(m->weights[w]));
        memcpy(m->weights[s]->dl.data, scales, mlcc_ndarray_nbytes(m->weights[s]));
    } else {
        float *tmp = mlcc_xmalloc(sizeof(float) * (size_t)(out * in));
        quant_unpack(awq, packed, scales, out, in, tmp);
        store_param(m, i, tmp);
        free(tmp);
    }
    free(packed);
    free(scales);
    return 0;
}

/* Is `name` one of AutoAWQ's tensors of a layer the graph takes as `<prefix>.weight`? */
static int is_awq_part(const mlcc_model *m, const char *name) {
    const char *dot = strrchr(name, '.');
    if (!m->cfg.awq_group_size || !dot || (strcmp(dot, ".qweight") && strcmp(dot, ".qzeros") && strcmp(dot, ".scales"))) return 0;
    char source[300];
    snprintf(source, sizeof source, "%.*s.weight", (int)(dot - name), name);
    for (int k = 0; k < m->params.n; k++)
        if (fuse_proj_param_reads(&m->cfg, &m->params.items[k], source)) return 1;
    return 0;
}

/* Tensors of the checkpoint that no weight parameter takes: a config that leaves out a feature
 * the checkpoint has (say biases) would otherwise go unnoticed. Rotary tables are derived, not
 * weights. */
static void warn_unused(const mlcc_model *m, const mlcc_safetensors *st, const char *path) {
    size_t unused = 0;
    const char *first = NULL;
    for (size_t i = 0; i < safetensors_count(st); i++) {
        const char *name = safetensors_at(st, i)->name;
        if (strstr(name, "rotary_emb.inv_freq") || is_awq_part(m, name)) continue;
        int used = 0;
        for (int k = 0; k < m->params.n && !used; k++) used = fuse_proj_param_reads(&m->cfg, &m->params.items[k], name);
        if (!used && !unused++) first = name;
    }
    if (unused)
        LOG_WARN("%s: %zu tensor(s) the %s graph does not use (the first: '%s'); does config.json describe this checkpoint?",
                 path, unused, m->cfg.model_type, first);
}

/* Whether a safetensors dtype holds exactly the elements of t (F16 / BF16). */
static int st_dtype_is(mlcc_st_dtype st, mlcc_dtype t) {
    return t.lanes == 1 && t.bits == 16 && ((st == ST_F16 && t.code == DT_FLOAT) || (st == ST_BF16 && t.code == DT_BFLOAT));
}

/* The progress line of reading a large checkpoint (on: from PROGRESS_BYTES of tensors on, unless
 * the model was opened quiet), counted in the source tensors' bytes. */
#define PROGRESS_BYTES ((int64_t)256 << 20)

typedef struct read_progress {
    mlcc_progress line;
    int on;
    int64_t done;
} read_progress;

static void read_progress_begin(read_progress *r, const mlcc_model *m, int64_t total) {
    r->on = total >= PROGRESS_BYTES && !m->quiet, r->done = 0;
    if (r->on)
        mlcc_progress_begin(&r->line, NULL, m->quant && m->quant->bits ? "reading and quantizing weights" : "reading weights",
                            total, 0, 0);
}

static void read_progress_add(read_progress *r, uint64_t bytes) {
    if (r->on) mlcc_progress_update(&r->line, r->done += (int64_t)bytes);
}

static void read_progress_end(read_progress *r, int ok) {
    if (r->on) mlcc_progress_end(&r->line, ok);
}

/* The safetensors checkpoint being read: its tensors, its path for errors, the progress. */
typedef struct st_source {
    const mlcc_safetensors *st;
    const char *path;
    read_progress progress;
} st_source;

static void count_read(st_source *src, const mlcc_st_tensor *t) {
    read_progress_add(&src->progress, t->nbytes);
}

/* Parameter i (a quantized pair: both halves) from its safetensors tensor. */
static int load_st_param(mlcc_model *m, st_source *src, int i) {
    const mlcc_safetensors *st = src->st;
    const char *path = src->path;
    const model_param *p = &m->params.items[i];
    const mlcc_st_tensor *t = safetensors_find(st, p->source);
    if (!t && m->cfg.awq_group_size && p->ndim == 2) return load_awq_param(m, st, path, i);
    if (!t) {
        /* one file: name it; a sharded set: the folder holding its index */
        const char *where = safetensors_num_files(st) == 1 && safetensors_count(st) ? safetensors_at(st, 0)->file : path;
        return mlcc_set_error("%s: missing tensor '%s'", where, p->source);
    }
    int same = t->ndim == p->ndim;
    for (int d = 0; same && d < p->ndim; d++) same = t->shape[d] == p->source_shape[d];
    if (!same) {
        char want[64], got[64] = "[...]";
        shape_str(want, sizeof want, p->ndim, p->source_shape);
        if (t->ndim == 1 || t->ndim == 2) shape_str(got, sizeof got, t->ndim, t->shape);
        return mlcc_set_error("%s: tensor '%s' has shape %s (ndim %d), the config implies %s", t->file, p->source, got, t->ndim, want);
    }
    if (p->role == PARAM_PLAIN && dtype_eq(p->dtype, DT_F32)) {
        m->weights[i] = model_new_weight(m, i);
        if (safetensors_read_f32(t, m->weights[i]->dl.data)) return mlcc_prefix_error("%s: tensor '%s'", t->file, p->source);
        count_read(src, t);
        return 0;
    }
    if (p->role == PARAM_PLAIN && st_dtype_is(t->dtype, p->dtype)) { /* as stored: copied */
        DLDataType dt = {p->dtype.code, p->dtype.bits, p->dtype.lanes};
        m->weights[i] = safetensors_load_ndarray(t, dt, MLCC_CPU);
        if (!m->weights[i]) return mlcc_prefix_error("%s: tensor '%s'", t->file, p->source);
        count_read(src, t);
        return 0;
    }
    float *tmp = mlcc_xmalloc(sizeof(float) * (size_t)source_elements(p));
    int rc = 0;
    if (safetensors_read_f32(t, tmp)) rc = mlcc_prefix_error("%s: tensor '%s'", t->file, p->source);
    else store_param(m, i, tmp), count_read(src, t);
    free(tmp);
    return rc;
}

static int load_st_part(mlcc_model *part, int i, void *ctx) {
    return load_st_param(part, ctx, i);
}

static int load_safetensors(mlcc_model *m, const char *path) {
    mlcc_safetensors *st = safetensors_open(path);
    if (!st) return -1;
    model_weight_arena_begin(m);
    int64_t total = 0;
    for (size_t k = 0; k < safetensors_count(st); k++) total += (int64_t)safetensors_at(st, k)->nbytes;
    st_source src = {.st = st, .path = path};
    read_progress_begin(&src.progress, m, total);
    int rc = 0;
    for (int i = 0; i < m->params.n && rc == 0; i++) {
        if (m->weights[i]) continue; /* the other half of a quantized pair */
        rc = m->params.items[i].combined ? fuse_proj_load(m, i, load_st_part, &src) : load_st_param(m, &src, i);
    }
    read_progress_end(&src.progress, rc == 0);
    if (rc == 0) warn_unused(m, st, path);
    model_weight_arena_end(m);
    safetensors_close(st);
    return rc;
}

/* Rows of head h: llama.cpp's row h*D + 2i + j holds Hugging Face row h*D + j*D/2 + i (rows
 * of row_bytes bytes: float32 values, or a quantized weight's packed words or scales). */
static void unpermute_rows(void *data, int64_t rows, size_t row_bytes, int64_t heads) {
    int64_t hd = rows / heads, half = hd / 2;
    char *w = data, *tmp = mlcc_xmalloc(row_bytes * (size_t)hd);
    for (int64_t h = 0; h < heads; h++) {
        char *base = w + (size_t)(h * hd) * row_bytes;
        for (int64_t i = 0; i < half; i++)
            for (int j = 0; j < 2; j++) memcpy(tmp + (size_t)(j * half + i) * row_bytes, base + (size_t)(2 * i + j) * row_bytes, row_bytes);
        memcpy(base, tmp, row_bytes * (size_t)hd);
    }
    free(tmp);
}

/* The heads whose rows llama.cpp permuted in tensor `name` (0: none). Only its llama
 * converter permutes (its other architectures use the NeoX rope, the Hugging Face layout). */
static int64_t permuted_heads(const mlcc_model *m, const char *name) {
    size_t len = strlen(name);
    if (strcmp(m->cfg.model_type, "llama") != 0 || len <= 14) return 0;
    if (!strcmp(name + len - 14, ".attn_q.weight")) return m->cfg.heads;
    if (!strcmp(name + len - 14, ".attn_k.weight")) return m->cfg.kv_heads;
    return 0;
}

/* A quantized pair straight from GGUF blocks of the scheme's native type (no float detour). */
static int repack_gguf_param(mlcc_model *m, const mlcc_gguf *g, const mlcc_gguf_tensor *t, int i, const char *name) {
    const model_param *p = &m->params.items[i];
    const mlcc_quant_scheme *q = p->quant ? p->quant : m->params.quant;
    int64_t rows = p->source_shape[0], in = p->source_shape[1];
    int k = quant_is_kquant(q);
    uint64_t block = k ? (uint64_t)quant_kquant_words(q->ggml_type) * 4 + 2 * (uint64_t)quant_kquant_halves(q->ggml_type)
                       : q->bits == 4 ? 18 : 34;
    int64_t group = k ? 256 : 32;
    if (in % group || t->n_bytes != (uint64_t)(rows * (in / group)) * block)
        return mlcc_set_error("%s: tensor '%s': %llu bytes do not hold %lld rows of %lld values in blocks of %lld", g->path, name,
                              (unsigned long long)t->n_bytes, (long long)rows, (long long)in, (long long)group);
    int w = p->role == PARAM_Q_WEIGHT ? i : p->partner, sc = p->role == PARAM_Q_WEIGHT ? p->partner : i;
    m->weights[w] = model_new_weight(m, w);
    m->weights[sc] = model_new_weight(m, sc);
    quant_repack_ggml(q, mlcc_gguf_tensor_data(g, t), rows, in, m->weights[w]->dl.data, m->weights[sc]->dl.data);
    int64_t heads = permuted_heads(m, name);
    if (heads) {
        unpermute_rows(m->weights[w]->dl.data, rows, sizeof(uint32_t) * (size_t)quant_packed_cols(q, in), heads);
        unpermute_rows(m->weights[sc]->dl.data, rows, sizeof(uint16_t) * (size_t)quant_scale_cols(q, in), heads);
    }
    return 0;
}

/* The ggml type whose values are exactly the elements of dtype (F32, F16, BF16), or -1. */
static int ggml_float_type(mlcc_dtype t) {
    if (t.lanes != 1) return -1;
    if (t.code == DT_FLOAT && t.bits == 32) return MLCC_GGML_F32;
    if (t.code == DT_FLOAT && t.bits == 16) return MLCC_GGML_F16;
    if (t.code == DT_BFLOAT && t.bits == 16) return MLCC_GGML_BF16;
    return -1;
}

/* A parameter stored in the file's own float type (weights as stored): its bytes are copied
 * (no float32 detour, which took most of the load time of an F16 model). */
static int copy_gguf_param(mlcc_model *m, const mlcc_gguf *g, const mlcc_gguf_tensor *t, int i, const char *name) {
    const model_param *p = &m->params.items[i];
    int64_t n = source_elements(p);
    size_t elem = (size_t)p->dtype.bits / 8;
    if (t->n_bytes != (uint64_t)n * elem)
        return mlcc_set_error("%s: tensor '%s': %llu bytes do not hold %lld values of %zu bytes", g->path, name,
                              (unsigned long long)t->n_bytes, (long long)n, elem);
    m->weights[i] = model_new_weight(m, i);
    memcpy(m->weights[i]->dl.data, mlcc_gguf_tensor_data(g, t), (size_t)t->n_bytes);
    int64_t heads = permuted_heads(m, name);
    if (heads) unpermute_rows(m->weights[i]->dl.data, p->source_shape[0], elem * (size_t)p->source_shape[1], heads);
    return 0;
}

/* A GGUF tensor of `rows` rows dequantized to float32: by row ranges on the thread pool when it is
 * large and its rows take whole bytes each (ggml rows are whole blocks); any failure is
 * reported by the one-call form, which names it. */
typedef struct dequant_job {
    uint32_t type;
    const uint8_t *data;
    size_t row_bytes;
    int64_t in;
    float *out;
    atomic_int failed;
} dequant_job;

static void dequant_rows(int64_t begin, int64_t end, int task, void *ctx) {
    (void)task;
    dequant_job *j = ctx;
    if (ggml_dequantize_f32(j->type, j->data + (size_t)begin * j->row_bytes, (size_t)(end - begin) * j->row_bytes,
                            (uint64_t)((end - begin) * j->in), j->out + begin * j->in))
        atomic_store(&j->failed, 1);
}

static int dequantize_tensor(const mlcc_gguf *g, const mlcc_gguf_tensor *t, int64_t rows, float *out) {
    const uint8_t *data = mlcc_gguf_tensor_data(g, t);
    if (rows >= 2 && t->n_elements >= (1u << 20) && t->n_bytes % (uint64_t)rows == 0 && t->n_elements % (uint64_t)rows == 0) {
        dequant_job job = {t->type, data, (size_t)(t->n_bytes / (uint64_t)rows), (int64_t)(t->n_elements / (uint64_t)rows), out, 0};
        mlcc_parallel_for(rows, dequant_rows, &job);
        if (!atomic_load(&job.failed)) return 0;
    }
    return ggml_dequantize_f32(t->type, data, t->n_bytes, t->n_elements, out);
}

/* The GGUF tensor of parameter p (its name in name[256]), checked to have p's shape; NULL +
 * error naming it. */
static const mlcc_gguf_tensor *gguf_source_tensor(const mlcc_gguf *g, const model_param *p, char *name) {
    model_gguf_tensor_name(p->source, name, 256);
    if (!name[0]) return mlcc_set_error("%s: no GGUF tensor corresponds to '%s'", g->path, p->source), NULL;
    const mlcc_gguf_tensor *t = mlcc_gguf_find_tensor(g, name);
    if (!t) return mlcc_set_error("%s: missing tensor '%s'", g->path, name), NULL;
    /* ggml lists dims innermost first: [in, out] is the row-major [out, in] */
    int same = (int)t->n_dims == p->ndim;
    for (int d = 0; same && d < p->ndim; d++) same = (int64_t)t->dims[p->ndim - 1 - d] == p->source_shape[d];
    if (!same) {
        char want[64];
        shape_str(want, sizeof want, p->ndim, p->source_shape);
        mlcc_set_error("%s: tensor '%s' has %u dims (%llu, %llu), the metadata implies %s", g->path, name, t->n_dims,
                       (unsigned long long)t->dims[0], (unsigned long long)(t->n_dims > 1 ? t->dims[1] : 1), want);
        return NULL;
    }
    return t;
}

/* Parameter i from its GGUF tensor (*read: that tensor, when one was read). */
static int load_gguf_tensor(mlcc_model *m, const mlcc_gguf *g, int i, const mlcc_gguf_tensor **read) {
    const model_param *p = &m->params.items[i];
    if (m->weights[i]) return 0; /* the other half of a quantized pair */
    char name[256];
    const mlcc_gguf_tensor *t = gguf_source_tensor(g, p, name);
    if (!t) return -1;
    *read = t;
    const mlcc_quant_scheme *q = p->quant ? p->quant : m->params.quant;
    if (p->role != PARAM_PLAIN && q->ggml_type && q->ggml_type == t->type) return repack_gguf_param(m, g, t, i, name);
    if (p->role == PARAM_PLAIN && ggml_float_type(p->dtype) == (int)t->type) return copy_gguf_param(m, g, t, i, name);
    float *dst = mlcc_xmalloc(sizeof(float) * (size_t)source_elements(p));
    if (dequantize_tensor(g, t, p->source_shape[0], dst)) {
        free(dst);
        return mlcc_prefix_error("%s: tensor '%s'", g->path, name);
    }
    int64_t heads = permuted_heads(m, name);
    if (heads) unpermute_rows(dst, p->source_shape[0], sizeof(float) * (size_t)p->source_shape[1], heads);
    store_param(m, i, dst);
    free(dst);
    return 0;
}

/* The GGUF file being read and the progress. */
typedef struct gguf_source {
    const mlcc_gguf *g;
    read_progress progress;
} gguf_source;

static int load_gguf_param(mlcc_model *m, gguf_source *src, int i) {
    const mlcc_gguf_tensor *t = NULL;
    int rc = load_gguf_tensor(m, src->g, i, &t);
    if (rc == 0 && t) read_progress_add(&src->progress, t->n_bytes);
    return rc;
}

static int load_gguf_part(mlcc_model *part, int i, void *src) {
    return load_gguf_param(part, src, i);
}

/* Values the graph's weights read from the checkpoint: each source tensor once (a quantized
 * pair comes from one tensor; tied embeddings read the embedding twice). */
static double source_values(const mlcc_model *m) {
    double n = 0;
    for (int i = 0; i < m->params.n; i++) {
        const model_param *p = &m->params.items[i];
        int seen = p->role == PARAM_Q_SCALE;
        for (int k = 0; k < i && !seen; k++) {
            const model_param *q = &m->params.items[k];
            seen = source_elements(q) == source_elements(p) && !strcmp(q->source, p->source);
        }
        if (!seen) n += (double)source_elements(p);
    }
    return n;
}

/* The sizes in the metadata are checked against each tensor as it is read, but the weights'
 * storage is allocated before (weight_arena.c): a few bytes of metadata could ask for any
 * amount of memory. So the tensors of the parameters read whole are checked first (naming a
 * missing or misshapen one), and a file whose tensors hold fewer values than the graph's
 * weights take (the combined q/k/v and gate/up ones too) is refused. */
static int gguf_holds_weights(const mlcc_model *m, const mlcc_gguf *g) {
    char name[256];
    for (int i = 0; i < m->params.n; i++)
        if (!m->params.items[i].combined && !gguf_source_tensor(g, &m->params.items[i], name)) return -1;
    double held = 0, need = source_values(m);
    for (uint64_t k = 0; k < g->n_tensors; k++) held += (double)g->tensors[k].n_elements;
    if (need > held)
        return mlcc_set_error("%s: the metadata's sizes (embedding_length, feed_forward_length, block_count, head counts) "
                              "imply %.0f weight values, but the file's tensors hold %.0f",
                              g->path, need, held);
    return 0;
}

static int load_gguf(mlcc_model *m, const char *path) {
    mlcc_gguf *g = mlcc_gguf_open(path);
    if (!g) return -1;
    if (gguf_holds_weights(m, g)) {
        mlcc_gguf_close(g);
        return -1;
    }
    model_weight_arena_begin(m);
    int64_t total = 0;
    for (uint64_t k = 0; k < g->n_tensors; k++) total += (int64_t)g->tensors[k].n_bytes;
    gguf_source src = {.g = g};
    read_progress_begin(&src.progress, m, total);
    int rc = 0;
    for (int i = 0; i < m->params.n && rc == 0; i++) {
        if (m->weights[i]) continue; /* the other half of a quantized pair */
        rc = m->params.items[i].combined ? fuse_proj_load(m, i, load_gguf_part, &src) : load_gguf_param(m, &src, i);
    }
    read_progress_end(&src.progress, rc == 0);
    model_weight_arena_end(m);
    mlcc_gguf_close(g);
    return rc;
}

/* The scheme that holds a matrix of this ggml type as stored: Q4_0 / Q8_0 blocks repacked,
 * F16 / BF16 / F32 values kept (weights as stored: an F16 checkpoint streams half the bytes
 * of float32 per decode token). NULL for other types. */
static const mlcc_quant_scheme *scheme_of_ggml(uint32_t type) {
    if (type == MLCC_GGML_F16) return quant_scheme_find("q0f16");
    if (type == MLCC_GGML_BF16) return quant_scheme_find("q0bf16");
    if (type == MLCC_GGML_F32) return quant_scheme_find("q0f32");
    return quant_scheme_for_ggml(type);
}

/* A GGUF file whose matrices are all of one type runs on that type's scheme; one that mixes
 * types and has k-quant matrices (llama.cpp's Q4_K_M and the like: Q4_K with some Q6_K, maybe
 * F16 or F32 where a row is not whole super-blocks) runs each matrix on its own type's scheme
 * (ggml_mixed), types no scheme holds dequantized to float32. */
const mlcc_quant_scheme *model_gguf_native_scheme(const char *path) {
    mlcc_gguf *g = mlcc_gguf_open(path);
    if (!g) return NULL;
    const mlcc_quant_scheme *q = NULL;
    int mixed = 0, kquant = 0;
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        const mlcc_gguf_tensor *t = &g->tensors[i];
        if (t->n_dims != 2) continue;
        const mlcc_quant_scheme *s = scheme_of_ggml(t->type);
        kquant |= quant_is_kquant(s);
        mixed |= !s || (q && q != s);
        q = s;
    }
    mlcc_gguf_close(g);
    if (mixed && kquant) return quant_scheme_find("ggml_mixed");
    return mixed ? NULL : q;
}

const mlcc_quant_scheme *model_gguf_matrix_scheme(void *gguf, const char *name) {
    char gname[256];
    model_gguf_tensor_name(name, gname, sizeof gname);
    const mlcc_gguf_tensor *t = gname[0] ? mlcc_gguf_find_tensor(gguf, gname) : NULL;
    const mlcc_quant_scheme *s = t ? scheme_of_ggml(t->type) : NULL;
    /* a k-quant row must be whole super-blocks (the loader checks the bytes) */
    if (s && quant_is_kquant(s) && (t->n_dims != 2 || t->dims[0] % 256)) s = NULL;
    return s;
}

const mlcc_quant_scheme *model_safetensors_native_scheme(const char *path) {
    mlcc_safetensors *st = safetensors_open(path);
    if (!st) {
        mlcc_clear_error(); /* the weight loader reports a bad checkpoint with its context */
        return NULL;
    }
    const char *want = NULL;
    int mixed = 0;
    for (size_t i = 0; i < safetensors_count(st) && !mixed; i++) {
        const mlcc_st_tensor *t = safetensors_at(st, i);
        if (t->ndim != 2) continue;
        const char *s = t->dtype == ST_F16 ? "q0f16" : t->dtype == ST_BF16 ? "q0bf16" : t->dtype == ST_F32 ? "q0f32" : NULL;
        mixed = !s || (want && strcmp(want, s));
        want = s;
    }
    safetensors_close(st);
    return want && !mixed ? quant_scheme_find(want) : NULL;
}

int model_load_weights(mlcc_model *m, const char *path, int is_gguf) {
    m->weights = mlcc_xcalloc((size_t)m->params.n, sizeof(MLCCNDArray *));
    return is_gguf ? load_gguf(m, path) : load_safetensors(m, path); /* each places the weights in one arena */
}
