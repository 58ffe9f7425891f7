/* kv_cache.c - the paged KV cache (see kv_cache.h). */
#include "runtime/kv_cache.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/cuda.h"
#include "runtime/cuda_decode_attention.h"
#include "runtime/vulkan.h"
#include "runtime/device.h"
#include "runtime/object.h"
#include "support/alloc.h"
#include "support/env.h"
#include "support/error.h"
#include "support/vec.h"

typedef MLCC_VEC(int32_t) i32_vec;

typedef struct kv_seq {
    int64_t id;
    int64_t length;
    i32_vec pages; /* ceil(length / page_size) pages, in order */
} kv_seq;

struct MLCCKVCache {
    MLCCObject obj;
    mlcc_kv_cache_config cfg;
    int32_t *window;     /* per layer */
    MLCCNDArray **pages; /* per layer */
    size_t page_bytes;   /* one page of one layer: K and V */
    int32_t *refs;       /* per page: sequences using it */
    int32_t *free_list;  /* a stack of free page ids */
    int64_t num_free;
    MLCC_VEC(kv_seq *) seqs;
    int decode_splits; /* 0 = chosen per step */
    int flash;         /* prefill (and batched decode) attention through mlcc_cuda_flash_prefill */
    /* CUDA decode in one kernel (cuda_decode_attention.c): its workspace (partials, counters) for
     * decode_blocks blocks, NULL when off; the append folded into it; splits per SM, keys per split */
    MLCCNDArray *decode_ws;
    MLCCNDArray *q_rope; /* q rotated for the paths that do not fold its rope (rope_q_copy) */
    MLCCNDArray *qkv_split; /* q, k, v of a combined projection made compact (attention_qkv) */
    MLCCNDArray *q_half;    /* a half q, rotated and scaled, for the flash kernel (attention_qkv, CUDA) */
    MLCCNDArray *out_f32;   /* the attention's float32 output before its rounding to a half out (attention_qkv) */
    int64_t decode_blocks;
    int decode_fold, decode_waves, decode_min_keys;

    /* the open forward */
    int in_forward;
    MLCC_VEC(kv_seq *) batch;
    i32_vec qo_indptr, page_indptr, page_indices, last_page_len, positions, token_seq, append_slots;
    mlcc_kv_forward fwd;
    /* a cache on a GPU: the step's arrays uploaded once per step, at the first attention */
    MLCCNDArray *device_steps;
    uint64_t device_epoch; /* a new value whenever device_steps is (re)allocated */
    int steps_uploaded;
    DLTensor steps_dl[6];
    int64_t steps_shape[6];
};

/* ---- pages ---- */

static int32_t page_alloc(MLCCKVCache *c) {
    int32_t p = c->free_list[--c->num_free];
    c->refs[p] = 1;
    return p;
}

static void page_release(MLCCKVCache *c, int32_t p) {
    if (--c->refs[p] == 0) c->free_list[c->num_free++] = p;
}

/* Copies page src to page dst in every layer (on the cache's device). */
static void page_copy(MLCCKVCache *c, int32_t dst, int32_t src) {
    DLDevice dev = c->cfg.device;
    const MLCCDeviceAPI *api = mlcc_device_api(dev);
    for (int l = 0; l < c->cfg.num_layers && api; l++) {
        char *base = c->pages[l]->dl.data;
        api->copy(base + (size_t)src * c->page_bytes, dev, base + (size_t)dst * c->page_bytes, dev,
                  c->page_bytes, NULL);
    }
}

/* Zeroes a layer's pages wherever they live. */
static int zero_pages(MLCCNDArray *pages) {
    size_t n = mlcc_ndarray_nbytes(pages);
    if (pages->dl.device.device_type == kDLCPU) {
        memset(pages->dl.data, 0, n);
        return 0;
    }
    if (pages->dl.device.device_type == kDLCUDA)
        return mlcc_cuda_memset(pages->dl.device.device_id, pages->dl.data, 0, n);
    if (pages->dl.device.device_type == kDLVulkan)
        return mlcc_vulkan_memset(pages->dl.device.device_id, pages->dl.data, 0, n);
    return mlcc_set_error("kv cache: cannot clear pages on this device");
}

static int64_t pages_for(const MLCCKVCache *c, int64_t tokens) {
    return (tokens + c->cfg.page_size - 1) / c->cfg.page_size;
}

static int out_of_pages(const MLCCKVCache *c, const char *what, int64_t need) {
    mlcc_set_error("kv cache: out of pages: %s needs %lld free pages, %lld of %lld are free", what,
                   (long long)need, (long long)c->num_free, (long long)c->cfg.num_pages);
    return MLCC_KV_OUT_OF_PAGES;
}

/* ---- the object ---- */

static void kv_cache_delete(MLCCObject *obj) {
    MLCCKVCache *c = (MLCCKVCache *)obj;
    for (size_t i = 0; i < c->seqs.len; i++) {
        vec_free(&c->seqs.data[i]->pages);
        free(c->seqs.data[i]);
    }
    vec_free(&c->seqs);
    vec_free(&c->batch);
    i32_vec *arrays[] = {&c->qo_indptr, &c->page_indptr, &c->page_indices, &c->last_page_len,
                         &c->positions, &c->token_seq,   &c->append_slots};
    for (size_t i = 0; i < sizeof arrays / sizeof arrays[0]; i++)
        vec_free(arrays[i]);
    if (c->pages)
        for (int l = 0; l < c->cfg.num_layers; l++)
            mlcc_ndarray_release(c->pages[l]);
    mlcc_ndarray_release(c->device_steps);
    mlcc_ndarray_release(c->decode_ws);
    mlcc_ndarray_release(c->q_rope);
    mlcc_ndarray_release(c->qkv_split);
    mlcc_ndarray_release(c->q_half);
    mlcc_ndarray_release(c->out_f32);
    free(c->pages);
    free(c->window);
    free(c->refs);
    free(c->free_list);
    mlcc_object_release(c->cfg.append ? &c->cfg.append->obj : NULL);
    mlcc_object_release(c->cfg.prefill ? &c->cfg.prefill->obj : NULL);
    mlcc_object_release(c->cfg.decode ? &c->cfg.decode->obj : NULL);
    free(c);
}

static int is_float_type(DLDataType t) {
    return (t.code == kDLFloat || t.code == kDLBfloat) && t.lanes == 1 && mlcc_dtype_bytes(t) > 0;
}

static int check_config(const mlcc_kv_cache_config *cfg) {
    if (cfg->num_layers <= 0)
        return mlcc_set_error("kv cache: num_layers %d must be >= 1", cfg->num_layers);
    if (cfg->num_kv_heads <= 0)
        return mlcc_set_error("kv cache: num_kv_heads %d must be >= 1", cfg->num_kv_heads);
    if (cfg->num_qo_heads <= 0 || cfg->num_qo_heads % cfg->num_kv_heads)
        return mlcc_set_error(
            "kv cache: num_qo_heads %d must be a positive multiple of num_kv_heads %d",
            cfg->num_qo_heads, cfg->num_kv_heads);
    if (cfg->head_dim <= 0)
        return mlcc_set_error("kv cache: head_dim %d must be >= 1", cfg->head_dim);
    if (cfg->page_size <= 0)
        return mlcc_set_error("kv cache: page_size %d must be >= 1", cfg->page_size);
    /* append slots (page * page_size + offset) are int32 for the kernels */
    if (cfg->num_pages <= 0 || cfg->num_pages > INT32_MAX / cfg->page_size)
        return mlcc_set_error("kv cache: num_pages %lld must be in [1, %d] for page_size %d",
                              (long long)cfg->num_pages, INT32_MAX / cfg->page_size,
                              cfg->page_size);
    if (cfg->device.device_type != kDLCPU && cfg->device.device_type != kDLCUDA && cfg->device.device_type != kDLVulkan)
        return mlcc_set_error("kv cache: only the CPU, CUDA and Vulkan devices are supported");
    if (!is_float_type(cfg->dtype)) return mlcc_set_error("kv cache: dtype must be a float type");
    if (cfg->kv_dtype.bits != 0 && !is_float_type(cfg->kv_dtype))
        return mlcc_set_error("kv cache: kv_dtype must be a float type");
    return 0;
}

/* The CUDA tensor-core prefill: float32 q/out, float32 or float16 pages, a known scale, float16
 * math allowed. */
static int uses_flash_prefill(const mlcc_kv_cache_config *cfg) {
    const char *env = getenv("MLCC_CUDA_FLASH");
    if (env && strcmp(env, "0") == 0) return 0;
    DLDataType f32 = {kDLFloat, 32, 1}, f16 = {kDLFloat, 16, 1};
    return cfg->device.device_type == kDLCUDA && cfg->attn_f16 && cfg->attn_scale > 0 && cfg->attn_softcap >= 0 &&
           mlcc_dtype_eq(cfg->dtype, f32) && (mlcc_dtype_eq(cfg->kv_dtype, f32) || mlcc_dtype_eq(cfg->kv_dtype, f16)) &&
           mlcc_cuda_flash_prefill_supports(cfg->head_dim, cfg->num_qo_heads, cfg->num_kv_heads);
}

/* The CUDA decode in one kernel: float32 q/k/v/out, float32 or float16 pages, a known scale, a
 * shape it covers; MLCC_CUDA_DECODE_FUSED=0 keeps the generated split and merge kernels. Float32
 * arithmetic, so float32 models take it too. Sets up its workspace (partials of up to
 * 1024 blocks and the counters, zeroed); 0 when off or unavailable. */
enum { DECODE_BLOCKS = 1024 };
static int setup_decode_kernel(MLCCKVCache *c) {
    const mlcc_kv_cache_config *cfg = &c->cfg;
    DLDataType f32 = {kDLFloat, 32, 1}, f16 = {kDLFloat, 16, 1};
    if (cfg->device.device_type != kDLCUDA || mlcc_env_int("MLCC_CUDA_DECODE_FUSED", 1) == 0 || cfg->attn_scale <= 0 ||
        cfg->attn_softcap < 0 || !mlcc_dtype_eq(cfg->dtype, f32) ||
        !(mlcc_dtype_eq(cfg->kv_dtype, f32) || mlcc_dtype_eq(cfg->kv_dtype, f16)) ||
        !mlcc_cuda_decode_attention_supports(cfg->head_dim, cfg->num_qo_heads, cfg->num_kv_heads))
        return 0;
    int64_t bytes = (int64_t)mlcc_cuda_decode_workspace_bytes(cfg->head_dim, cfg->num_qo_heads, cfg->num_kv_heads, DECODE_BLOCKS);
    c->decode_ws = mlcc_ndarray_empty(1, &bytes, (DLDataType){kDLUInt, 8, 1}, cfg->device);
    if (!c->decode_ws || mlcc_cuda_memset(cfg->device.device_id, c->decode_ws->dl.data, 0, (size_t)bytes)) {
        mlcc_ndarray_release(c->decode_ws);
        c->decode_ws = NULL;
        return -1;
    }
    c->decode_blocks = DECODE_BLOCKS;
    c->decode_fold = mlcc_env_int("MLCC_CUDA_DECODE_APPEND", 1) != 0;
    c->decode_waves = mlcc_env_int("MLCC_CUDA_DECODE_WAVES", 2);
    c->decode_min_keys = mlcc_env_int("MLCC_CUDA_DECODE_MIN_KEYS", 32);
    return 0;
}

MLCCKVCache *mlcc_kv_cache_new(const mlcc_kv_cache_config *cfg) {
    if (check_config(cfg)) return NULL;
    MLCCKVCache *c = calloc(1, sizeof *c);
    if (!c) {
        mlcc_set_error("kv cache: out of memory");
        return NULL;
    }
    mlcc_object_init(&c->obj, MLCC_OBJECT_KV_CACHE, kv_cache_delete);
    c->cfg = *cfg;
    if (c->cfg.kv_dtype.bits == 0) c->cfg.kv_dtype = cfg->dtype;
    c->cfg.sliding_window = NULL;
    mlcc_object_retain(cfg->append ? &cfg->append->obj : NULL);
    mlcc_object_retain(cfg->prefill ? &cfg->prefill->obj : NULL);
    mlcc_object_retain(cfg->decode ? &cfg->decode->obj : NULL);
    c->window = mlcc_xmalloc(sizeof(int32_t) * (size_t)cfg->num_layers);
    for (int l = 0; l < cfg->num_layers; l++)
        c->window[l] = cfg->sliding_window ? cfg->sliding_window[l] : 0;

    int64_t shape[5] = {cfg->num_pages, 2, cfg->num_kv_heads, cfg->page_size, cfg->head_dim};
    c->page_bytes = (size_t)2 * (size_t)cfg->num_kv_heads * (size_t)cfg->page_size *
                    (size_t)cfg->head_dim * mlcc_dtype_bytes(c->cfg.kv_dtype);
    c->pages = calloc((size_t)cfg->num_layers, sizeof(MLCCNDArray *));
    c->refs = calloc((size_t)cfg->num_pages, sizeof(int32_t));
    c->free_list = malloc(sizeof(int32_t) * (size_t)cfg->num_pages);
    if (!c->pages || !c->refs || !c->free_list) {
        mlcc_set_error("kv cache: out of memory for %lld pages", (long long)cfg->num_pages);
        kv_cache_delete(&c->obj);
        return NULL;
    }
    for (int l = 0; l < cfg->num_layers; l++) {
        c->pages[l] = mlcc_ndarray_empty(5, shape, c->cfg.kv_dtype, cfg->device);
        if (!c->pages[l]) {
            mlcc_prefix_error("kv cache: pages of layer %d", l);
            kv_cache_delete(&c->obj);
            return NULL;
        }
        if (zero_pages(c->pages[l]) != 0) {
            mlcc_prefix_error("kv cache: pages of layer %d", l);
            kv_cache_delete(&c->obj);
            return NULL;
        }
    }
    c->flash = uses_flash_prefill(&c->cfg);
    if (setup_decode_kernel(c)) {
        mlcc_prefix_error("kv cache: the decode attention's workspace");
        kv_cache_delete(&c->obj);
        return NULL;
    }
    /* the stack pops page 0 first */
    for (int64_t i = 0; i < cfg->num_pages; i++)
        c->free_list[i] = (int32_t)(cfg->num_pages - 1 - i);
    c->num_free = cfg->num_pages;
    return c;
}

MLCCKVCache *mlcc_kv_cache_from_object(MLCCObject *obj) {
    return MLCC_OBJECT_AS(obj, MLCC_OBJECT_KV_CACHE, MLCCKVCache);
}

/* ---- sequences ---- */

static kv_seq *find_seq(const MLCCKVCache *c, int64_t id, size_t *index) {
    for (size_t i = 0; i < c->seqs.len; i++)
        if (c->seqs.data[i]->id == id) {
            if (index) *index = i;
            return c->seqs.data[i];
        }
    return NULL;
}

static kv_seq *get_seq(const MLCCKVCache *c, int64_t id, const char *op) {
    kv_seq *s = find_seq(c, id, NULL);
    if (!s) mlcc_set_error("kv cache: %s: no sequence %lld", op, (long long)id);
    return s;
}

static int not_in_forward(const MLCCKVCache *c, const char *op) {
    if (c->in_forward)
        return mlcc_set_error("kv cache: %s during a forward step (call end_forward first)", op);
    return 0;
}

static kv_seq *new_seq(MLCCKVCache *c, int64_t id) {
    kv_seq *s = mlcc_xmalloc(sizeof *s);
    memset(s, 0, sizeof *s);
    s->id = id;
    vec_push(&c->seqs, s);
    return s;
}

int mlcc_kv_cache_add_sequence(MLCCKVCache *c, int64_t seq_id) {
    if (not_in_forward(c, "add_sequence")) return -1;
    if (find_seq(c, seq_id, NULL))
        return mlcc_set_error("kv cache: add_sequence: sequence %lld exists", (long long)seq_id);
    new_seq(c, seq_id);
    return 0;
}

int mlcc_kv_cache_remove_sequence(MLCCKVCache *c, int64_t seq_id) {
    if (not_in_forward(c, "remove_sequence")) return -1;
    size_t index;
    kv_seq *s = find_seq(c, seq_id, &index);
    if (!s) return mlcc_set_error("kv cache: remove_sequence: no sequence %lld", (long long)seq_id);
    for (size_t i = 0; i < s->pages.len; i++)
        page_release(c, s->pages.data[i]);
    vec_free(&s->pages);
    free(s);
    c->seqs.data[index] = vec_last(&c->seqs);
    c->seqs.len--;
    return 0;
}

int mlcc_kv_cache_fork_sequence(MLCCKVCache *c, int64_t parent_id, int64_t child_id,
                                int64_t fork_pos) {
    if (not_in_forward(c, "fork_sequence")) return -1;
    kv_seq *parent = get_seq(c, parent_id, "fork_sequence");
    if (!parent) return -1;
    if (find_seq(c, child_id, NULL))
        return mlcc_set_error("kv cache: fork_sequence: sequence %lld exists", (long long)child_id);
    if (fork_pos == -1) fork_pos = parent->length;
    if (fork_pos < 0 || fork_pos > parent->length)
        return mlcc_set_error(
            "kv cache: fork_sequence: position %lld outside sequence %lld of length %lld",
            (long long)fork_pos, (long long)parent_id, (long long)parent->length);
    int64_t full = fork_pos / c->cfg.page_size;
    int partial = fork_pos % c->cfg.page_size != 0;
    if (partial && c->num_free < 1) return out_of_pages(c, "fork_sequence", 1);
    kv_seq *child = new_seq(c, child_id); /* may move c->seqs, not parent */
    child->length = fork_pos;
    for (int64_t i = 0; i < full; i++) {
        int32_t p = parent->pages.data[i];
        c->refs[p]++;
        vec_push(&child->pages, p);
    }
    if (partial) {
        int32_t p = page_alloc(c);
        page_copy(c, p, parent->pages.data[full]);
        vec_push(&child->pages, p);
    }
    return 0;
}

int mlcc_kv_cache_pop_n(MLCCKVCache *c, int64_t seq_id, int64_t n) {
    if (not_in_forward(c, "pop_n")) return -1;
    kv_seq *s = get_seq(c, seq_id, "pop_n");
    if (!s) return -1;
    if (n < 0 || n > s->length)
        return mlcc_set_error(
            "kv cache: pop_n: cannot drop %lld tokens of sequence %lld of length %lld",
            (long long)n, (long long)seq_id, (long long)s->length);
    s->length -= n;
    int64_t keep = pages_for(c, s->length);
    while ((int64_t)s->pages.len > keep)
        page_release(c, vec_pop(&s->pages));
    return 0;
}

int64_t mlcc_kv_cache_seq_length(const MLCCKVCache *c, int64_t seq_id) {
    kv_seq *s = get_seq(c, seq_id, "seq_length");
    return s ? s->length : -1;
}

/* ---- a forward step ---- */

/* A shared partial last page must be copied before the sequence writes into it. */
static int needs_copy_on_write(const MLCCKVCache *c, const kv_seq *s) {
    return s->length % c->cfg.page_size != 0 && c->refs[vec_last(&s->pages)] > 1;
}

/* Whether s, appended after the batch entries already in c->batch, will copy its last page:
 * of k appenders sharing a partial page used by r sequences, the first min(k, r - 1) copy it
 * and the last one, then its only user, writes in place (as begin_forward does). */
static int copies_before_write(const MLCCKVCache *c, const kv_seq *s) {
    if (!needs_copy_on_write(c, s)) return 0;
    int32_t page = vec_last(&s->pages);
    int64_t earlier = 0;
    for (size_t b = 0; b < c->batch.len; b++) {
        const kv_seq *o = c->batch.data[b];
        if (o->length % c->cfg.page_size != 0 && vec_last(&o->pages) == page) earlier++;
    }
    return earlier + 1 <= c->refs[page] - 1;
}

static int check_batch(MLCCKVCache *c, const int64_t *seq_ids, const int64_t *lengths, int n,
                       int64_t *need) {
    if (c->in_forward)
        return mlcc_set_error("kv cache: begin_forward: the previous step was not ended");
    if (n <= 0) return mlcc_set_error("kv cache: begin_forward: empty batch");
    int64_t tokens = 0, pages = 0;
    *need = 0;
    vec_clear(&c->batch);
    for (int i = 0; i < n; i++) {
        kv_seq *s = get_seq(c, seq_ids[i], "begin_forward");
        if (!s) return -1;
        for (int k = 0; k < i; k++)
            if (seq_ids[k] == seq_ids[i])
                return mlcc_set_error("kv cache: begin_forward: sequence %lld appears twice",
                                      (long long)seq_ids[i]);
        if (lengths[i] <= 0 || lengths[i] > INT32_MAX - s->length)
            return mlcc_set_error(
                "kv cache: begin_forward: sequence %lld: cannot add %lld tokens to %lld",
                (long long)seq_ids[i], (long long)lengths[i], (long long)s->length);
        tokens += lengths[i];
        int64_t total_pages = pages_for(c, s->length + lengths[i]);
        pages += total_pages;
        *need += total_pages - (int64_t)s->pages.len + copies_before_write(c, s);
        vec_push(&c->batch, s);
    }
    if (tokens > INT32_MAX || pages > INT32_MAX)
        return mlcc_set_error("kv cache: begin_forward: %lld tokens over %lld pages is too large",
                              (long long)tokens, (long long)pages);
    return 0;
}

static void build_arrays(MLCCKVCache *c, const int64_t *lengths, const int64_t *old_len) {
    int ps = c->cfg.page_size;
    i32_vec *arrays[] = {&c->qo_indptr, &c->page_indptr, &c->page_indices, &c->last_page_len,
                         &c->positions, &c->token_seq,   &c->append_slots};
    for (size_t i = 0; i < sizeof arrays / sizeof arrays[0]; i++)
        vec_clear(arrays[i]);
    vec_push(&c->qo_indptr, 0);
    vec_push(&c->page_indptr, 0);
    int decode = 1;
    for (size_t b = 0; b < c->batch.len; b++) {
        kv_seq *s = c->batch.data[b];
        for (int64_t t = 0; t < lengths[b]; t++) {
            int64_t pos = old_len[b] + t;
            vec_push(&c->positions, (int32_t)pos);
            vec_push(&c->token_seq, (int32_t)b);
            vec_push(&c->append_slots, (int32_t)(s->pages.data[pos / ps] * (int64_t)ps + pos % ps));
        }
        for (size_t p = 0; p < s->pages.len; p++)
            vec_push(&c->page_indices, s->pages.data[p]);
        vec_push(&c->qo_indptr, (int32_t)c->positions.len);
        vec_push(&c->page_indptr, (int32_t)c->page_indices.len);
        vec_push(&c->last_page_len, (int32_t)(s->length - (int64_t)(s->pages.len - 1) * ps));
        if (lengths[b] != 1) decode = 0;
    }
    mlcc_kv_forward *f = &c->fwd;
    f->num_seqs = (int)c->batch.len;
    f->num_tokens = (int64_t)c->positions.len;
    f->num_pages = (int64_t)c->page_indices.len;
    f->qo_indptr = c->qo_indptr.data;
    f->page_indptr = c->page_indptr.data;
    f->page_indices = c->page_indices.data;
    f->last_page_len = c->last_page_len.data;
    f->positions = c->positions.data;
    f->token_seq = c->token_seq.data;
    f->append_slots = c->append_slots.data;
    f->is_decode = decode;
}

int mlcc_kv_cache_begin_forward(MLCCKVCache *c, const int64_t *seq_ids, const int64_t *lengths,
                                int n) {
    int64_t need = 0;
    if (check_batch(c, seq_ids, lengths, n, &need)) return -1;
    if (need > c->num_free) return out_of_pages(c, "begin_forward", need);
    int64_t *old_len = mlcc_xmalloc(sizeof(int64_t) * (size_t)n);
    for (int b = 0; b < n; b++) {
        kv_seq *s = c->batch.data[b];
        old_len[b] = s->length;
        if (needs_copy_on_write(c, s)) {
            int32_t shared = vec_last(&s->pages), own = page_alloc(c);
            page_copy(c, own, shared);
            page_release(c, shared);
            s->pages.data[s->pages.len - 1] = own;
        }
        s->length += lengths[b];
        while ((int64_t)s->pages.len < pages_for(c, s->length))
            vec_push(&s->pages, page_alloc(c));
    }
    build_arrays(c, lengths, old_len);
    free(old_len);
    c->in_forward = 1;
    c->steps_uploaded = 0;
    return 0;
}

int mlcc_kv_cache_end_forward(MLCCKVCache *c) {
    if (!c->in_forward) return mlcc_set_error("kv cache: end_forward without begin_forward");
    c->in_forward = 0;
    return 0;
}

const mlcc_kv_forward *mlcc_kv_cache_forward(const MLCCKVCache *c) {
    return c->in_forward ? &c->fwd : NULL;
}

/* ---- attention ---- */

typedef struct host_array {
    DLTensor dl;
    int64_t shape[1];
} host_array;

static DLTensor *host_i32(host_array *a, const int32_t *data, int64_t n) {
    memset(a, 0, sizeof *a);
    a->shape[0] = n;
    a->dl.data = (void *)data;
    a->dl.device = MLCC_CPU;
    a->dl.ndim = 1;
    a->dl.dtype = MLCC_DTYPE_I32;
    a->dl.shape = a->shape;
    return &a->dl;
}

static void *tensor_data(const DLTensor *t) {
    return (char *)t->data + t->byte_offset;
}

static int check_tensor(const MLCCKVCache *c, const DLTensor *t, const char *name, int heads) {
    char buf[160];
    if (!t) return mlcc_set_error("kv cache: attention: %s is NULL", name);
    if (t->ndim != 3 || t->shape[0] != c->fwd.num_tokens || t->shape[1] != heads ||
        t->shape[2] != c->cfg.head_dim || !mlcc_dtype_eq(t->dtype, c->cfg.dtype) ||
        t->device.device_type != c->cfg.device.device_type || !mlcc_tensor_is_contiguous(t)) {
        char want[32];
        return mlcc_set_error("kv cache: attention: %s is %s, expected [%lld, %d, %d] %s, compact, "
                              "on the cache's device",
                              name, mlcc_tensor_describe(t, buf, sizeof buf),
                              (long long)c->fwd.num_tokens, heads, c->cfg.head_dim,
                              mlcc_dtype_str(c->cfg.dtype, want));
    }
    return 0;
}

static int call_kernel(MLCCFunction *f, const char *what, const MLCCValue *args, const int *codes,
                       int n) {
    if (!f) return mlcc_set_error("kv cache: attention: no %s kernel was given", what);
    MLCCValue ret;
    int ret_code;
    if (mlcc_func_call(f, args, codes, n, &ret, &ret_code))
        return mlcc_prefix_error("kv cache: %s kernel", what);
    mlcc_value_release(ret, ret_code);
    return 0;
}

/* Chunks the keys of each sequence are split into in decode. The decode kernel runs one task
 * per (sequence, KV head, chunk); splitting keeps the threads busy when a batch has fewer
 * (sequence, KV head) pairs than threads. On the CPU the count depends only on the cache
 * (threads and KV heads), never on the step's batch or lengths: a sequence's chunks, and so the
 * order its partial softmaxes are merged in, are then the same whatever else is in the batch, so
 * a request decodes bit for bit the same alone or batched. On a GPU it follows the batch. */
static int64_t decode_splits(const MLCCKVCache *c) {
    if (c->decode_splits > 0) return c->decode_splits;
    int64_t heads = c->cfg.num_kv_heads;
    if (c->cfg.device.device_type == kDLCUDA) {
        /* On a GPU each task is a thread block: about two blocks per multiprocessor (132 on an
         * H100) over the whole batch. The GPU gives up the batch-independence of the CPU rule: its
         * projections already differ by row count (GEMV or cuBLASLt), and at batch 64 the CPU rule's
         * 33 splits made blocks of ~2 keys per warp whose set-up and partial sums were most of
         * the decode attention's time. */
        int64_t tasks = heads * (c->fwd.num_seqs > 0 ? c->fwd.num_seqs : 1);
        int64_t splits = (2 * 132 + tasks - 1) / tasks;
        return splits > 32 ? 32 : splits;
    }
    int64_t workers = mlcc_threadpool_size();
    int64_t splits = (2 * workers + heads - 1) / heads;
    return splits < 1 ? 1 : splits > 32 ? 32 : splits;
}

/* A new device epoch (kv_cache.h): captured graphs that baked in the old arrays are not replayed. */
static void new_device_epoch(MLCCKVCache *c) {
    static uint64_t epochs;
    c->device_epoch = __atomic_add_fetch(&epochs, 1, __ATOMIC_RELAXED);
}

/* The length of page_indices as a device step uploads it: the step's pages rounded up to a
 * multiple of max(8 pages a sequence, a quarter of the largest power of two not above them),
 * the entries past the pages repeating the last one (kernels read page_indices only through
 * page_indptr). A captured decode graph bakes in this length (models/decode_graph.c keys its
 * graphs by it): with the exact count a sequence at batch 1 started a new key, an ordinary step
 * and a capture every 16 tokens (page_size 16), which cost the float16 Llama-3-8B shape on the
 * H100 its ITL p99 (6.7 against 5.54 ms p50) and ~2% of its mean rate; now once in 128 tokens
 * early in a sequence, and once in a growth of a quarter later. */
int64_t mlcc_kv_cache_page_bucket(int64_t num_pages, int64_t num_seqs) {
    int64_t step = 8 * (num_seqs > 0 ? num_seqs : 1), octave = 1;
    if (num_pages <= 0) return num_pages;
    while (octave * 2 <= num_pages) octave *= 2;
    if (octave / 4 > step) step = octave / 4;
    return (num_pages + step - 1) / step * step;
}

static int64_t uploaded_pages(const mlcc_kv_forward *f) {
    if (mlcc_env_int("MLCC_CUDA_GRAPH_PAGE_BUCKET", 1) == 0) return f->num_pages; /* the exact count (measurements) */
    return mlcc_kv_cache_page_bucket(f->num_pages, f->num_seqs);
}

int64_t mlcc_kv_cache_step_pages(const MLCCKVCache *c) {
    return c->cfg.device.device_type == kDLCPU ? c->fwd.num_pages : uploaded_pages(&c->fwd);
}

/* The step's int32 arrays for the kernels: the host vectors on the CPU; on a GPU, copies
 * uploaded in one transfer at the first attention of the step (every layer reads the same),
 * page_indices padded to uploaded_pages(). Order: slots, positions, token_seq, page_indptr,
 * page_indices, last_page_len. */
static int step_arrays(MLCCKVCache *c, host_array *h, DLTensor **out) {
    const mlcc_kv_forward *f = &c->fwd;
    const int32_t *data[6] = {f->append_slots, f->positions, f->token_seq, f->page_indptr, f->page_indices,
                              f->last_page_len};
    int64_t len[6] = {f->num_tokens, f->num_tokens, f->num_tokens, f->num_seqs + 1, f->num_pages,
                      f->num_seqs};
    if (c->cfg.device.device_type == kDLCPU) {
        for (int i = 0; i < 6; i++) out[i] = host_i32(&h[i], data[i], len[i]);
        return 0;
    }
    int64_t real_pages = len[4];
    len[4] = uploaded_pages(f);
    if (!c->steps_uploaded) {
        int64_t total = 0;
        for (int i = 0; i < 6; i++) total += len[i];
        if (!c->device_steps || mlcc_ndarray_numel(c->device_steps) < total) {
            mlcc_ndarray_release(c->device_steps);
            int64_t cap = total * 2 + 64;
            c->device_steps = mlcc_ndarray_empty(1, &cap, MLCC_DTYPE_I32, c->cfg.device);
            if (!c->device_steps) return mlcc_prefix_error("kv cache: step arrays");
            new_device_epoch(c);
        }
        int32_t *staging = mlcc_xmalloc(sizeof(int32_t) * (size_t)(total ? total : 1));
        int64_t at = 0;
        for (int i = 0; i < 6; i++) {
            int64_t have = i == 4 ? real_pages : len[i];
            if (have) memcpy(staging + at, data[i], sizeof(int32_t) * (size_t)have);
            for (int64_t j = have; j < len[i]; j++) staging[at + j] = have ? data[i][have - 1] : 0;
            c->steps_shape[i] = len[i];
            c->steps_dl[i] = c->device_steps->dl;
            c->steps_dl[i].data = (int32_t *)c->device_steps->dl.data + at;
            c->steps_dl[i].shape = &c->steps_shape[i];
            at += len[i];
        }
        const MLCCDeviceAPI *api = mlcc_copy_api(MLCC_CPU, c->cfg.device);
        int rc = api ? api->copy(staging, MLCC_CPU, c->device_steps->dl.data, c->cfg.device,
                                 sizeof(int32_t) * (size_t)total, NULL)
                     : -1;
        free(staging);
        if (rc) return mlcc_prefix_error("kv cache: uploading the step arrays");
        c->steps_uploaded = 1;
    }
    for (int i = 0; i < 6; i++) out[i] = &c->steps_dl[i];
    return 0;
}

int mlcc_kv_cache_upload_steps(MLCCKVCache *c) {
    if (!c->in_forward) return mlcc_set_error("kv cache: upload_steps outside begin_forward/end_forward");
    host_array hosts[6];
    DLTensor *steps[6];
    return step_arrays(c, hosts, steps);
}

uint64_t mlcc_kv_cache_device_epoch(const MLCCKVCache *c) {
    return c->device_epoch;
}

int mlcc_kv_cache_copy_positions(MLCCKVCache *c, DLTensor *out) {
    const mlcc_kv_forward *f = &c->fwd;
    size_t bytes = sizeof(int32_t) * (size_t)f->num_tokens;
    void *dst = (char *)out->data + out->byte_offset;
    if (c->cfg.device.device_type != kDLCUDA || out->device.device_type != kDLCUDA) { /* (Vulkan: as before) */
        const MLCCDeviceAPI *api = mlcc_copy_api(MLCC_CPU, out->device);
        return api ? api->copy(f->positions, MLCC_CPU, dst, out->device, bytes, NULL) : -1;
    }
    host_array hosts[6];
    DLTensor *steps[6];
    if (step_arrays(c, hosts, steps)) return -1;
    const MLCCDeviceAPI *api = mlcc_copy_api(out->device, out->device);
    return api ? api->copy((char *)steps[1]->data + steps[1]->byte_offset, out->device, dst, out->device, bytes, NULL) : -1;
}

/* The rope table of the fused append: [tokens, 2, head_dim / 2] float64, compact, on the
 * cache's device. */
static int check_rope_table(const MLCCKVCache *c, const DLTensor *t) {
    char buf[96];
    if (t->ndim != 3 || t->shape[0] != c->fwd.num_tokens || t->shape[1] != 2 || t->shape[2] != c->cfg.head_dim / 2 ||
        t->dtype.code != kDLFloat || t->dtype.bits != 64 || t->dtype.lanes != 1 ||
        t->device.device_type != c->cfg.device.device_type || !mlcc_tensor_is_contiguous(t))
        return mlcc_set_error("kv cache: attention: rope_table is %s, expected [%lld, 2, %d] float64, compact, on the "
                              "cache's device",
                              mlcc_tensor_describe(t, buf, sizeof buf), (long long)c->fwd.num_tokens, c->cfg.head_dim / 2);
    return 0;
}

/* The batch from which a decode step on CUDA takes the tensor-core kernel with a block per
 * (sequence, KV head) instead of the generated split-KV kernel (MLCC_CUDA_FLASH_DECODE; 0:
 * never). The generated kernel reduces each key's dot products across a warp with shuffles, a
 * key per warp at a time: at batch 64 and ~540 keys it ran at ~40% of the copy rate
 * (BENCHMARKS.md); with few sequences its splits over the keys keep more multiprocessors busy. */
static int64_t flash_decode_batch(void) {
    const char *v = getenv("MLCC_CUDA_FLASH_DECODE");
    if (!v || !*v) return 16;
    long long n = atoll(v);
    return n <= 0 ? INT64_MAX : n;
}

/* *buf (one of the cache's step buffers) holding at least n elements of type t on the cache's
 * device. It grows with the step's tokens; a new one is a new device epoch, since a captured
 * decode graph baked in the old one. what names it in errors. */
static int step_buffer(MLCCKVCache *c, MLCCNDArray **buf, int64_t n, DLDataType t, const char *what) {
    if (*buf && mlcc_ndarray_numel(*buf) >= n) return 0;
    if (c->cfg.device.device_type == kDLCUDA && mlcc_cuda_capturing(c->cfg.device.device_id))
        return mlcc_set_error("%s: the buffer would grow during a graph capture", what);
    mlcc_ndarray_release(*buf);
    *buf = mlcc_ndarray_empty(1, &n, t, c->cfg.device);
    if (!*buf) return -1;
    new_device_epoch(c);
    return 0;
}

/* q rotated with the step's rope table into a buffer of the cache (q itself may share its
 * storage with other values), for the paths that do not rotate it while loading it; *out is
 * then that buffer's view. */
static int rope_q_copy(MLCCKVCache *c, const DLTensor *q, const DLTensor *table, DLTensor *out) {
    int64_t T = c->fwd.num_tokens, n = T * c->cfg.num_qo_heads * c->cfg.head_dim;
    int QH = c->cfg.num_qo_heads, D = c->cfg.head_dim, H = D / 2;
    DLDataType f32 = {kDLFloat, 32, 1};
    if ((c->cfg.device.device_type != kDLCPU && c->cfg.device.device_type != kDLCUDA) || !mlcc_dtype_eq(c->cfg.dtype, f32))
        return mlcc_set_error("rotating q needs a float32 cache on the CPU or CUDA");
    if (step_buffer(c, &c->q_rope, n, f32, "rotating q")) return -1;
    *out = *q;
    out->data = c->q_rope->dl.data, out->byte_offset = 0;
    size_t bytes = sizeof(float) * (size_t)n;
    if (c->cfg.device.device_type == kDLCUDA)
        return mlcc_cuda_rope_q(c->cfg.device.device_id, tensor_data(q), out->data, tensor_data(table), T, QH, D);
    memcpy(out->data, tensor_data(q), bytes);
    float *x = out->data;
    const double *tab = tensor_data(table);
    for (int64_t t = 0; t < T; t++)
        for (int h = 0; h < QH; h++) {
            float *row = x + (t * QH + h) * D;
            for (int k = 0; k < H; k++) { /* nn.rope with a table: x cos + (sign partner) sin, float64 */
                double cs = tab[t * 2 * H + k], sn = tab[(t * 2 + 1) * H + k], x1 = row[k], x2 = row[k + H];
                row[k] = (float)(x1 * cs + (-1.0 * x2) * sn);
                row[k + H] = (float)(x2 * cs + (1.0 * x1) * sn);
            }
        }
    return 0;
}

/* The decode step in one kernel (cuda_decode_attention.c): the splits from the longest
 * sequence's keys in this layer's window; the append folded in unless MLCC_CUDA_DECODE_APPEND=0. */
static int decode_one_kernel(MLCCKVCache *c, int layer, DLTensor **steps, DLTensor *q, DLTensor *k, DLTensor *v,
                             DLTensor *table, int rope_q, int64_t q_stride, int64_t kv_stride, DLTensor *out) {
    const mlcc_kv_forward *f = &c->fwd;
    int PS = c->cfg.page_size;
    int64_t window = c->window[layer], max_keys = 1;
    for (int b = 0; b < f->num_seqs; b++) {
        int64_t len = (int64_t)(f->page_indptr[b + 1] - f->page_indptr[b] - 1) * PS + f->last_page_len[b];
        if (window > 0 && len > window) len = window;
        if (len > max_keys) max_keys = len;
    }
    /* the splits for the longest the keys get while a captured graph of this page count replays
     * (mlcc_kv_cache_step_pages): they are its grid; blocks past a sequence's keys return */
    int64_t pages = f->num_pages > 0 ? f->num_pages : 1, room = uploaded_pages(f);
    max_keys = (max_keys * (room > pages ? room : pages) + pages - 1) / pages;
    int dev = c->cfg.device.device_id;
    mlcc_cuda_decode_args a = {
        .q = tensor_data(q), .pages = tensor_data(&c->pages[layer]->dl), .page_indptr = tensor_data(steps[3]),
        .page_indices = tensor_data(steps[4]), .last_page_len = tensor_data(steps[5]), .out = tensor_data(out),
        .out_f16 = out->dtype.bits == 16,
        .rope_table = table ? tensor_data(table) : NULL, .rope_q = rope_q, .q_stride = q_stride, .kv_stride = kv_stride,
        .k = c->decode_fold ? tensor_data(k) : NULL, .v = c->decode_fold ? tensor_data(v) : NULL,
        .slots = c->decode_fold ? tensor_data(steps[0]) : NULL, .rope_k = c->decode_fold && table,
        .batch = f->num_seqs, .num_qo_heads = c->cfg.num_qo_heads, .num_kv_heads = c->cfg.num_kv_heads,
        .head_dim = c->cfg.head_dim, .page_size = PS, .window = window, .scale = c->cfg.attn_scale,
        .softcap = c->cfg.attn_softcap, .pages_f16 = c->cfg.kv_dtype.bits == 16,
        .splits = mlcc_cuda_decode_choose_splits(dev, f->num_seqs, c->cfg.num_kv_heads, max_keys, c->decode_min_keys,
                                                 c->decode_waves, c->decode_blocks),
        .min_keys = c->decode_min_keys, .workspace = c->decode_ws->dl.data, .workspace_blocks = c->decode_blocks};
    return mlcc_cuda_decode_attention(dev, &a) ? mlcc_prefix_error("kv cache: attention") : 0;
}

static int aligned16(const DLTensor *t) {
    return (uintptr_t)tensor_data(t) % 16 == 0;
}

/* Whether the open step's attention is the CUDA decode kernel's (cuda_decode_attention.c):
 * decode with fewer sequences than the batched flash path takes. */
static int takes_one_kernel(const MLCCKVCache *c) {
    return c->fwd.is_decode && c->decode_ws && !(c->flash && c->fwd.num_seqs >= flash_decode_batch());
}

/* Whether the open step's attention is the flash kernel's (cuda_attention.c): prefill, and
 * decode from flash_decode_batch() sequences. */
static int takes_flash(const MLCCKVCache *c) {
    return c->flash && (!c->fwd.is_decode || c->fwd.num_seqs >= flash_decode_batch());
}

/* The flash kernel over the layer's pages with the step's arrays: q float32 (rotated, or by
 * the kernel with rope), or half (q_f16: rotated and scaled by mlcc_cuda_prefill_qkv, or by the
 * kernel with rope), its rows q_row elements apart (0: compact); out float32 or half. */
static int run_flash(MLCCKVCache *c, int layer, DLTensor **steps, const void *q, int q_f16, int64_t q_row,
                     const double *rope, DLTensor *out) {
    mlcc_cuda_prefill_args fa = {
        .q = q, .q_f16 = q_f16, .pages = tensor_data(&c->pages[layer]->dl), .token_seq = tensor_data(steps[2]),
        .positions = tensor_data(steps[1]), .page_indptr = tensor_data(steps[3]), .page_indices = tensor_data(steps[4]),
        .out = tensor_data(out), .out_f16 = out->dtype.bits == 16, .num_tokens = c->fwd.num_tokens,
        .num_qo_heads = c->cfg.num_qo_heads, .num_kv_heads = c->cfg.num_kv_heads, .head_dim = c->cfg.head_dim,
        .page_size = c->cfg.page_size, .window = c->window[layer], .scale = c->cfg.attn_scale,
        .softcap = c->cfg.attn_softcap, .pages_f16 = c->cfg.kv_dtype.bits == 16, .tokens_per_block = c->fwd.is_decode,
        .rope_table = rope, .q_row = q_row};
    return mlcc_cuda_flash_prefill(c->cfg.device.device_id, &fa) ? mlcc_prefix_error("kv cache: attention") : 0;
}

int mlcc_kv_cache_attention(MLCCKVCache *c, int layer, DLTensor *q, DLTensor *k, DLTensor *v,
                            DLTensor *out) {
    return mlcc_kv_cache_attention_rope(c, layer, q, k, v, NULL, out);
}

int mlcc_kv_cache_attention_rope(MLCCKVCache *c, int layer, DLTensor *q, DLTensor *k, DLTensor *v,
                                 DLTensor *rope_table, DLTensor *out) {
    return mlcc_kv_cache_attention_rope_q(c, layer, q, k, v, rope_table, 0, out);
}

int mlcc_kv_cache_attention_rope_q(MLCCKVCache *c, int layer, DLTensor *q, DLTensor *k, DLTensor *v,
                                   DLTensor *rope_table, int rope_q, DLTensor *out) {
    if (!c->in_forward)
        return mlcc_set_error("kv cache: attention outside begin_forward/end_forward");
    if (layer < 0 || layer >= c->cfg.num_layers)
        return mlcc_set_error("kv cache: attention: layer %d outside [0, %d)", layer,
                              c->cfg.num_layers);
    if (rope_q && !rope_table) return mlcc_set_error("kv cache: attention: rotating q needs the rope table");
    if (check_tensor(c, q, "q", c->cfg.num_qo_heads) ||
        check_tensor(c, k, "k", c->cfg.num_kv_heads) ||
        check_tensor(c, v, "v", c->cfg.num_kv_heads) ||
        check_tensor(c, out, "out", c->cfg.num_qo_heads) || (rope_table && check_rope_table(c, rope_table)))
        return -1;
    const mlcc_kv_forward *f = &c->fwd;
    host_array hosts[6];
    DLTensor *steps[6];
    if (step_arrays(c, hosts, steps)) return -1;
    DLTensor *pages = &c->pages[layer]->dl;
    MLCCValue a[8];
    int codes[8];
    for (int i = 0; i < 8; i++)
        codes[i] = MLCC_TYPE_DLTENSOR;

    int one_kernel = takes_one_kernel(c) && aligned16(q) && aligned16(k) && aligned16(v) && aligned16(out) && aligned16(pages);
    a[0].v_tensor = pages, a[1].v_tensor = k, a[2].v_tensor = v;
    a[3].v_tensor = steps[0];
    a[4].v_tensor = steps[1];
    a[5].v_tensor = rope_table;
    if (!(one_kernel && c->decode_fold) && call_kernel(c->cfg.append, "append", a, codes, rope_table ? 6 : 5)) return -1;
    if (one_kernel) return decode_one_kernel(c, layer, steps, q, k, v, rope_table, rope_q, 0, 0, out);
    /* MLCC_CUDA_FLASH_ROPE=1: the flash kernel rotates q while loading it, instead of the rope
     * pass first. Slower on the H100 (Llama-3-8B shape, 2048 tokens, ncu: the flash kernel
     * 276 -> 313 us, the pass saved 31; 4 layers 270.1k against 277.5k tok/s): the float64
     * rotation lengthens every block's prologue, which the separate pass spreads thin. */
    int flash_path = takes_flash(c);
    int rope_in_flash = rope_q && flash_path && aligned16(q) && mlcc_env_int("MLCC_CUDA_FLASH_ROPE", 0) == 1;
    DLTensor q_rotated;
    if (rope_q && !rope_in_flash) {
        if (rope_q_copy(c, q, rope_table, &q_rotated)) return mlcc_prefix_error("kv cache: attention");
        q = &q_rotated;
    }

    if (f->is_decode && !flash_path) {
        a[0].v_tensor = q, a[1].v_tensor = pages;
        a[2].v_tensor = steps[3];
        a[3].v_tensor = steps[4];
        a[4].v_tensor = steps[5];
        a[5].v_tensor = out;
        a[6].v_int64 = c->window[layer], codes[6] = MLCC_TYPE_INT;
        a[7].v_int64 = decode_splits(c), codes[7] = MLCC_TYPE_INT;
        return call_kernel(c->cfg.decode, "decode", a, codes, 8);
    }
    if (flash_path)
        return run_flash(c, layer, steps, tensor_data(q), 0, 0, rope_in_flash ? tensor_data(rope_table) : NULL, out);
    a[0].v_tensor = q, a[1].v_tensor = pages;
    a[2].v_tensor = steps[2];
    a[3].v_tensor = steps[1];
    a[4].v_tensor = steps[3];
    a[5].v_tensor = steps[4];
    a[6].v_tensor = out;
    a[7].v_int64 = c->window[layer], codes[7] = MLCC_TYPE_INT;
    return call_kernel(c->cfg.prefill, "prefill", a, codes, 8);
}

/* q, k, v of one [T, (QH + 2 KVH) D] projection output (columns q | k | v; float32, or half on
 * CUDA) copied into a buffer of the cache as three compact float32 arrays, one after the other;
 * their views into q, k, v. */
static int split_qkv(MLCCKVCache *c, const DLTensor *qkv, DLTensor *q, DLTensor *k, DLTensor *v, int64_t shapes[3][3]) {
    int64_t T = c->fwd.num_tokens, D = c->cfg.head_dim, QW = c->cfg.num_qo_heads * D, KW = c->cfg.num_kv_heads * D;
    int64_t W = QW + 2 * KW, n = T * W;
    if (step_buffer(c, &c->qkv_split, n, c->cfg.dtype, "splitting q, k, v")) return -1;
    float *src = tensor_data(qkv), *dst = c->qkv_split->dl.data;
    if (c->cfg.device.device_type == kDLCUDA) {
        if (mlcc_cuda_split_columns(c->cfg.device.device_id, src, qkv->dtype.bits == 16, dst, T, (int)QW, (int)KW, (int)KW))
            return -1;
    } else {
        for (int64_t t = 0; t < T; t++) {
            memcpy(dst + t * QW, src + t * W, sizeof(float) * (size_t)QW);
            memcpy(dst + T * QW + t * KW, src + t * W + QW, sizeof(float) * (size_t)KW);
            memcpy(dst + T * (QW + KW) + t * KW, src + t * W + QW + KW, sizeof(float) * (size_t)KW);
        }
    }
    DLTensor *parts[3] = {q, k, v};
    float *starts[3] = {dst, dst + T * QW, dst + T * (QW + KW)};
    for (int i = 0; i < 3; i++) {
        shapes[i][0] = T, shapes[i][1] = (i ? KW : QW) / D, shapes[i][2] = D;
        *parts[i] = (DLTensor){.data = starts[i], .device = c->cfg.device, .ndim = 3, .dtype = c->cfg.dtype, .shape = shapes[i]};
    }
    return 0;
}

/* The flash attention straight from qkv (mlcc_cuda_prefill_qkv: q rotated and scaled into the
 * q_half buffer, K and V appended; qkv half in prefill functions, float32 in decode steps), when
 * the step takes the flash kernel (prefill, batched decode) with half pages (the kernel with a
 * half q); MLCC_CUDA_FLASH_QKV=0 turns it off (the split and the separate passes instead). */
static int flash_takes_qkv(const MLCCKVCache *c, const DLTensor *qkv) {
    return takes_flash(c) && c->cfg.kv_dtype.bits == 16 && (c->cfg.head_dim / 2) % 4 == 0 &&
           (uintptr_t)tensor_data(qkv) % (qkv->dtype.bits == 16 ? 8 : 16) == 0 && mlcc_env_int("MLCC_CUDA_FLASH_QKV", 1) != 0;
}

static int flash_from_qkv(MLCCKVCache *c, int layer, DLTensor *qkv, DLTensor *rope_table, DLTensor *out) {
    const mlcc_kv_forward *f = &c->fwd;
    host_array hosts[6];
    DLTensor *steps[6];
    if (step_arrays(c, hosts, steps)) return -1;
    int64_t T = f->num_tokens, n = T * c->cfg.num_qo_heads * c->cfg.head_dim, D = c->cfg.head_dim;
    int dev = c->cfg.device.device_id;
    void *pages = tensor_data(&c->pages[layer]->dl);
    /* a half qkv whose rows keep q 16-byte aligned: the flash kernel reads q in place, rotating
     * and scaling it as it loads it (MLCC_CUDA_FLASH_QFOLD=0: mlcc_cuda_prefill_qkv writes it) */
    int64_t W = (c->cfg.num_qo_heads + 2 * c->cfg.num_kv_heads) * D;
    int fold = qkv->dtype.bits == 16 && (D / 2) % 8 == 0 && W % 8 == 0 && (uintptr_t)tensor_data(qkv) % 16 == 0 &&
               mlcc_env_int("MLCC_CUDA_FLASH_QFOLD", 1) != 0;
    if (!fold && step_buffer(c, &c->q_half, n, (DLDataType){kDLFloat, 16, 1}, "q for the flash kernel")) return -1;
    mlcc_cuda_prefill_qkv_args pa = {
        .qkv = tensor_data(qkv), .q16 = fold ? NULL : c->q_half->dl.data, .pages = pages, .slots = tensor_data(steps[0]),
        .rope_table = tensor_data(rope_table), .num_tokens = T, .num_qo_heads = c->cfg.num_qo_heads,
        .num_kv_heads = c->cfg.num_kv_heads, .head_dim = c->cfg.head_dim, .page_size = c->cfg.page_size,
        .qkv_f16 = qkv->dtype.bits == 16,
        .q_scale = mlcc_cuda_flash_q_scale(c->cfg.attn_scale, c->cfg.attn_softcap)};
    if (mlcc_cuda_prefill_qkv(dev, &pa)) return mlcc_prefix_error("kv cache: attention");
    if (fold) return run_flash(c, layer, steps, tensor_data(qkv), 1, W, tensor_data(rope_table), out);
    return run_flash(c, layer, steps, c->q_half->dl.data, 1, 0, NULL, out);
}

/* Whether the decode kernel (cuda_decode_attention.c) takes the step's attention_qkv, reading
 * q, k, v in place and writing out as it is (float32 or half) */
static int decode_reads_qkv(const MLCCKVCache *c, int layer, const DLTensor *qkv, const DLTensor *out) {
    int64_t D = c->cfg.head_dim, QW = c->cfg.num_qo_heads * D, KW = c->cfg.num_kv_heads * D;
    return qkv->dtype.bits == 32 && takes_one_kernel(c) && c->decode_fold && aligned16(qkv) && aligned16(out) &&
           aligned16(&c->pages[layer]->dl) && QW % 4 == 0 && KW % 4 == 0;
}

/* attention_qkv, when the flash path from qkv does not take the step: the decode kernel reading
 * q, k, v in place, or (out float32) the split and the rest */
static int attention_qkv_split(MLCCKVCache *c, int layer, DLTensor *qkv, DLTensor *rope_table, DLTensor *out) {
    int64_t D = c->cfg.head_dim, QW = c->cfg.num_qo_heads * D, KW = c->cfg.num_kv_heads * D, W = QW + 2 * KW;
    float *base = tensor_data(qkv);
    if (decode_reads_qkv(c, layer, qkv, out)) {
        host_array hosts[6];
        DLTensor *steps[6];
        if (step_arrays(c, hosts, steps)) return -1;
        DLTensor q = {.data = base}, k = {.data = base + QW}, v = {.data = base + QW + KW};
        return decode_one_kernel(c, layer, steps, &q, &k, &v, rope_table, 1, W, W, out);
    }
    DLTensor q, k, v;
    int64_t shapes[3][3];
    if (split_qkv(c, qkv, &q, &k, &v, shapes)) return mlcc_prefix_error("kv cache: attention");
    return mlcc_kv_cache_attention_rope_q(c, layer, &q, &k, &v, rope_table, 1, out);
}

int mlcc_kv_cache_attention_qkv(MLCCKVCache *c, int layer, DLTensor *qkv, DLTensor *rope_table, DLTensor *out) {
    if (!c->in_forward) return mlcc_set_error("kv cache: attention outside begin_forward/end_forward");
    if (layer < 0 || layer >= c->cfg.num_layers)
        return mlcc_set_error("kv cache: attention: layer %d outside [0, %d)", layer, c->cfg.num_layers);
    int64_t T = c->fwd.num_tokens, D = c->cfg.head_dim, QW = c->cfg.num_qo_heads * D, KW = c->cfg.num_kv_heads * D;
    int64_t W = QW + 2 * KW;
    char buf[160], want[32];
    DLDataType f16 = {kDLFloat, 16, 1};
    int cuda = c->cfg.device.device_type == kDLCUDA;
    /* half_activations: a prefill's qkv, and out when it is the next projection's x */
    int half = qkv && cuda && mlcc_dtype_eq(qkv->dtype, f16), out_half = out && cuda && mlcc_dtype_eq(out->dtype, f16);
    if (!qkv || qkv->ndim != 2 || qkv->shape[0] != T || qkv->shape[1] != W || !(half || mlcc_dtype_eq(qkv->dtype, c->cfg.dtype)) ||
        qkv->device.device_type != c->cfg.device.device_type || !mlcc_tensor_is_contiguous(qkv))
        return mlcc_set_error("kv cache: attention: qkv is %s, expected [%lld, %lld] %s%s (q | k | v), compact, on the "
                              "cache's device",
                              qkv ? mlcc_tensor_describe(qkv, buf, sizeof buf) : "NULL", (long long)T, (long long)W,
                              mlcc_dtype_str(c->cfg.dtype, want), cuda ? " or float16" : "");
    if ((c->cfg.device.device_type != kDLCPU && c->cfg.device.device_type != kDLCUDA) ||
        !mlcc_dtype_eq(c->cfg.dtype, MLCC_DTYPE_F32))
        return mlcc_set_error("kv cache: attention: q, k, v from one tensor need a float32 cache on the CPU or CUDA");
    if (!rope_table) return mlcc_set_error("kv cache: attention: rotating q needs the rope table");
    DLTensor out32 = out ? *out : (DLTensor){0};
    out32.dtype = c->cfg.dtype; /* (checked as the cache's dtype; a half out has the same shape) */
    if (check_tensor(c, out_half ? &out32 : out, "out", c->cfg.num_qo_heads) || check_rope_table(c, rope_table)) return -1;
    if (cuda && flash_takes_qkv(c, qkv)) return flash_from_qkv(c, layer, qkv, rope_table, out);
    /* a half out (half_activations: o_proj's x, prefill or decode): the decode kernel and the
     * flash kernel write it; the other paths write float32 into a buffer of the cache, rounded
     * to half after */
    if (!out_half || decode_reads_qkv(c, layer, qkv, out)) return attention_qkv_split(c, layer, qkv, rope_table, out);
    int64_t n = T * QW;
    if (step_buffer(c, &c->out_f32, n, MLCC_DTYPE_F32, "the attention's float32 output")) return -1;
    out32.data = c->out_f32->dl.data, out32.byte_offset = 0;
    if (attention_qkv_split(c, layer, qkv, rope_table, &out32)) return -1;
    return mlcc_cuda_f32_to_f16(c->cfg.device.device_id, out32.data, tensor_data(out), n) ? mlcc_prefix_error("kv cache: attention")
                                                                                          : 0;
}

/* ---- inspection ---- */

int64_t mlcc_kv_cache_free_pages(const MLCCKVCache *c) {
    return c->num_free;
}
int64_t mlcc_kv_cache_total_pages(const MLCCKVCache *c) {
    return c->cfg.num_pages;
}
int mlcc_kv_cache_num_sequences(const MLCCKVCache *c) {
    return (int)c->seqs.len;
}

MLCCNDArray *mlcc_kv_cache_pages(MLCCKVCache *c, int layer) {
    return layer >= 0 && layer < c->cfg.num_layers ? c->pages[layer] : NULL;
}

void mlcc_kv_cache_set_decode_splits(MLCCKVCache *c, int splits) {
    c->decode_splits = splits > 0 ? splits : 0;
}

int mlcc_kv_cache_check(const MLCCKVCache *c) {
    int64_t n = c->cfg.num_pages;
    int32_t *count = calloc((size_t)n, sizeof(int32_t));
    char *is_free = calloc((size_t)n, 1);
    int rc = 0;
    for (size_t i = 0; i < c->seqs.len && !rc; i++) {
        const kv_seq *s = c->seqs.data[i];
        if ((int64_t)s->pages.len != pages_for(c, s->length))
            rc = mlcc_set_error("kv cache check: sequence %lld of length %lld holds %zu pages",
                                (long long)s->id, (long long)s->length, s->pages.len);
        for (size_t p = 0; p < s->pages.len && !rc; p++) {
            int32_t page = s->pages.data[p];
            if (page < 0 || page >= n)
                rc = mlcc_set_error("kv cache check: sequence %lld holds page %d", (long long)s->id,
                                    page);
            else
                count[page]++;
        }
    }
    for (int64_t i = 0; i < c->num_free && !rc; i++) {
        int32_t p = c->free_list[i];
        if (p < 0 || p >= n || is_free[p])
            rc = mlcc_set_error("kv cache check: free list entry %d is bad or repeated", p);
        else
            is_free[p] = 1;
    }
    for (int64_t p = 0; p < n && !rc; p++) {
        if (count[p] != c->refs[p])
            rc = mlcc_set_error("kv cache check: page %lld has count %d but %d users", (long long)p,
                                c->refs[p], count[p]);
        else if ((count[p] == 0) != (is_free[p] == 1))
            rc = mlcc_set_error("kv cache check: page %lld with %d users is %sin the free list",
                                (long long)p, count[p], is_free[p] ? "" : "not ");
    }
    free(count);
    free(is_free);
    return rc;
}
