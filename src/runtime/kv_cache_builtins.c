/* kv_cache_builtins.c - the KV cache as packed builtins `mlcc.kv_cache.*`, so the VM (a model
 * library's create_kv_cache, batch_prefill, decode) and the engine reach it through the one
 * calling convention. Sequence ids and step lengths travel as Shape objects.
 *
 *   create(num_layers, num_qo_heads, num_kv_heads, head_dim, page_size, num_pages, dtype,
 *          sliding_window, kv_append, attn_prefill, attn_decode[, kv_dtype[, attn_scale,
 *          attn_softcap, attn_f16]]) -> KVCache
 *       dtype (of q, k, v, out) and kv_dtype (of the pages, default dtype) strings ("float32",
 *       "float16"); attn_scale and attn_softcap what the kernels were generated with, as decimal
 *       strings (the VM passes no floats), attn_f16 1 when float16 arithmetic is acceptable (a
 *       device's tensor-core attention, kv_cache.h); sliding_window an int for every layer or a
 *       Shape with one entry per layer (<= 0: none); the three kernels as function objects.
 *   add_sequence(cache, id)  remove_sequence(cache, id)  fork_sequence(cache, parent, child,
 *       pos)  pop_n(cache, id, n)  end_forward(cache)
 *   begin_forward(cache, ids, lengths) -> int: 0, or 1 when the pool is out of pages (nothing
 *       changed: the engine preempts and retries); other problems are failures
 *   attention(cache, layer, q, k, v, out)
 *   attention(cache, layer, q, k, v, rope_table, out)  K rotated by the append kernel (a fused
 *       rope: mlcc_kv_cache_attention_rope)
 *   attention_rope_q(cache, layer, q, k, v, rope_table, out)  q rotated too (transform/
 *       fuse_rope_q.c: by the CUDA decode kernel, else in place first)
 *   attention_qkv(cache, layer, qkv, rope_table, out)  attention_rope_q with q, k, v the column
 *       ranges of one projection output [n, (QH + 2 KVH) D] (transform/attention_qkv.c)
 *   positions(cache, out)  writes the positions of the open step's tokens into out (int32 [n])
 *   free_pages(cache) -> int   seq_length(cache, id) -> int */
#include <stdlib.h>
#include <string.h>

#include "runtime/device.h"
#include "runtime/kv_cache.h"
#include "runtime/vm.h"
#include "runtime/packed.h"
#include "support/error.h"

static int arg_cache(const MLCCValue *args, const int *codes, int n, MLCCKVCache **out) {
    MLCCObject *obj;
    if (mlcc_arg_object(args, codes, n, 0, MLCC_OBJECT_KV_CACHE, &obj)) return -1;
    *out = mlcc_kv_cache_from_object(obj);
    return 0;
}

static int arg_shape(const MLCCValue *args, const int *codes, int n, int i, MLCCShape **out) {
    MLCCObject *obj;
    if (mlcc_arg_object(args, codes, n, i, MLCC_OBJECT_SHAPE, &obj)) return -1;
    *out = (MLCCShape *)obj;
    return 0;
}

static int arg_function(const MLCCValue *args, const int *codes, int n, int i, MLCCFunction **out) {
    MLCCObject *obj;
    if (mlcc_arg_object(args, codes, n, i, MLCC_OBJECT_FUNCTION, &obj)) return -1;
    *out = (MLCCFunction *)obj;
    return 0;
}

static int set_int(MLCCValue *ret, int *ret_code, int64_t v) {
    ret->v_int64 = v;
    *ret_code = MLCC_TYPE_INT;
    return 0;
}

/* Ints that must fit an int32 field. */
static int arg_small(const MLCCValue *args, const int *codes, int n, int i, int *out) {
    int64_t v;
    if (mlcc_arg_int(args, codes, n, i, &v)) return -1;
    if (v < INT32_MIN || v > INT32_MAX)
        return mlcc_set_error("argument %d: %lld does not fit an int32", i, (long long)v);
    *out = (int)v;
    return 0;
}

/* A float given as a decimal string, finite and >= 0. */
static int arg_decimal(const MLCCValue *args, const int *codes, int n, int i, double *out) {
    const char *s;
    if (mlcc_arg_str(args, codes, n, i, &s)) return -1;
    char *end;
    *out = strtod(s, &end);
    if (end == s || *end || !(*out >= 0) || *out > 1e30)
        return mlcc_set_error("argument %d: \"%s\" is not a finite number >= 0", i, s);
    return 0;
}

static int kv_create(const MLCCValue *args, const int *codes, int n, MLCCValue *ret, int *ret_code,
                     void *res) {
    (void)res;
    if (n != 12 && n != 15 && mlcc_check_num_args(n, 11)) return -1;
    mlcc_kv_cache_config cfg = {0};
    const char *dtype, *kv_dtype = NULL;
    if (arg_small(args, codes, n, 0, &cfg.num_layers) ||
        arg_small(args, codes, n, 1, &cfg.num_qo_heads) ||
        arg_small(args, codes, n, 2, &cfg.num_kv_heads) ||
        arg_small(args, codes, n, 3, &cfg.head_dim) ||
        arg_small(args, codes, n, 4, &cfg.page_size) ||
        mlcc_arg_int(args, codes, n, 5, &cfg.num_pages) ||
        mlcc_arg_str(args, codes, n, 6, &dtype) || arg_function(args, codes, n, 8, &cfg.append) ||
        arg_function(args, codes, n, 9, &cfg.prefill) ||
        arg_function(args, codes, n, 10, &cfg.decode))
        return -1;
    if (mlcc_dtype_parse(dtype, &cfg.dtype)) return -1;
    if (n >= 12 &&
        (mlcc_arg_str(args, codes, n, 11, &kv_dtype) || mlcc_dtype_parse(kv_dtype, &cfg.kv_dtype)))
        return -1;
    if (n == 15 && (arg_decimal(args, codes, n, 12, &cfg.attn_scale) ||
                    arg_decimal(args, codes, n, 13, &cfg.attn_softcap) || arg_small(args, codes, n, 14, &cfg.attn_f16)))
        return -1;
    cfg.device = mlcc_vm_current_device(); /* the model's device */
    int32_t *windows = NULL;
    if (cfg.num_layers > 0 && cfg.num_layers <= 100000) {
        windows = calloc((size_t)cfg.num_layers, sizeof(int32_t));
        if (codes[7] == MLCC_TYPE_INT) {
            for (int l = 0; l < cfg.num_layers; l++)
                windows[l] = (int32_t)(args[7].v_int64 > INT32_MAX ? INT32_MAX : args[7].v_int64);
        } else {
            MLCCShape *w;
            if (arg_shape(args, codes, n, 7, &w)) {
                free(windows);
                return -1;
            }
            if (w->ndim != cfg.num_layers) {
                free(windows);
                return mlcc_set_error("sliding_window has %d entries for %d layers", w->ndim,
                                      cfg.num_layers);
            }
            for (int l = 0; l < cfg.num_layers; l++)
                windows[l] = (int32_t)(w->dims[l] > INT32_MAX ? INT32_MAX : w->dims[l]);
        }
        cfg.sliding_window = windows;
    }
    MLCCKVCache *c = mlcc_kv_cache_new(&cfg);
    free(windows);
    if (!c) return -1;
    ret->v_handle = c;
    *ret_code = MLCC_TYPE_OBJECT;
    return 0;
}

static int kv_add_sequence(const MLCCValue *args, const int *codes, int n, MLCCValue *ret,
                           int *ret_code, void *res) {
    (void)ret, (void)ret_code, (void)res;
    MLCCKVCache *c;
    int64_t id;
    if (mlcc_check_num_args(n, 2) || arg_cache(args, codes, n, &c) ||
        mlcc_arg_int(args, codes, n, 1, &id))
        return -1;
    return mlcc_kv_cache_add_sequence(c, id) ? -1 : 0;
}

static int kv_remove_sequence(const MLCCValue *args, const int *codes, int n, MLCCValue *ret,
                              int *ret_code, void *res) {
    (void)ret, (void)ret_code, (void)res;
    MLCCKVCache *c;
    int64_t id;
    if (mlcc_check_num_args(n, 2) || arg_cache(args, codes, n, &c) ||
        mlcc_arg_int(args, codes, n, 1, &id))
        return -1;
    return mlcc_kv_cache_remove_sequence(c, id) ? -1 : 0;
}

static int kv_fork_sequence(const MLCCValue *args, const int *codes, int n, MLCCValue *ret,
                            int *ret_code, void *res) {
    (void)ret, (void)ret_code, (void)res;
    MLCCKVCache *c;
    int64_t parent, child, pos;
    if (mlcc_check_num_args(n, 4) || arg_cache(args, codes, n, &c) ||
        mlcc_arg_int(args, codes, n, 1, &parent) || mlcc_arg_int(args, codes, n, 2, &child) ||
        mlcc_arg_int(args, codes, n, 3, &pos))
        return -1;
    return mlcc_kv_cache_fork_sequence(c, parent, child, pos) ? -1 : 0;
}

static int kv_pop_n(const MLCCValue *args, const int *codes, int n, MLCCValue *ret, int *ret_code,
                    void *res) {
    (void)ret, (void)ret_code, (void)res;
    MLCCKVCache *c;
    int64_t id, count;
    if (mlcc_check_num_args(n, 3) || arg_cache(args, codes, n, &c) ||
        mlcc_arg_int(args, codes, n, 1, &id) || mlcc_arg_int(args, codes, n, 2, &count))
        return -1;
    return mlcc_kv_cache_pop_n(c, id, count) ? -1 : 0;
}

static int kv_begin_forward(const MLCCValue *args, const int *codes, int n, MLCCValue *ret,
                            int *ret_code, void *res) {
    (void)res;
    MLCCKVCache *c;
    MLCCShape *ids, *lengths;
    if (mlcc_check_num_args(n, 3) || arg_cache(args, codes, n, &c) ||
        arg_shape(args, codes, n, 1, &ids) || arg_shape(args, codes, n, 2, &lengths))
        return -1;
    if (ids->ndim != lengths->ndim)
        return mlcc_set_error("%d sequence ids but %d lengths", ids->ndim, lengths->ndim);
    int rc = mlcc_kv_cache_begin_forward(c, ids->dims, lengths->dims, ids->ndim);
    if (rc == MLCC_KV_OUT_OF_PAGES) return set_int(ret, ret_code, 1);
    return rc ? -1 : set_int(ret, ret_code, 0);
}

static int kv_end_forward(const MLCCValue *args, const int *codes, int n, MLCCValue *ret,
                          int *ret_code, void *res) {
    (void)ret, (void)ret_code, (void)res;
    MLCCKVCache *c;
    if (mlcc_check_num_args(n, 1) || arg_cache(args, codes, n, &c)) return -1;
    return mlcc_kv_cache_end_forward(c) ? -1 : 0;
}

static int kv_attention(const MLCCValue *args, const int *codes, int n, MLCCValue *ret,
                        int *ret_code, void *res) {
    (void)ret, (void)ret_code, (void)res;
    MLCCKVCache *c;
    int layer = 0;
    DLTensor *q, *k, *v, *table = NULL, *out;
    if ((n != 7 && mlcc_check_num_args(n, 6)) || arg_cache(args, codes, n, &c) ||
        arg_small(args, codes, n, 1, &layer) || mlcc_arg_tensor(args, codes, n, 2, &q) ||
        mlcc_arg_tensor(args, codes, n, 3, &k) || mlcc_arg_tensor(args, codes, n, 4, &v) ||
        (n == 7 && mlcc_arg_tensor(args, codes, n, 5, &table)) || mlcc_arg_tensor(args, codes, n, n - 1, &out))
        return -1;
    return mlcc_kv_cache_attention_rope(c, layer, q, k, v, table, out) ? -1 : 0;
}

static int kv_attention_rope_q(const MLCCValue *args, const int *codes, int n, MLCCValue *ret, int *ret_code,
                               void *res) {
    (void)ret, (void)ret_code, (void)res;
    MLCCKVCache *c;
    int layer = 0;
    DLTensor *q, *k, *v, *table, *out;
    if (mlcc_check_num_args(n, 7) || arg_cache(args, codes, n, &c) || arg_small(args, codes, n, 1, &layer) ||
        mlcc_arg_tensor(args, codes, n, 2, &q) || mlcc_arg_tensor(args, codes, n, 3, &k) ||
        mlcc_arg_tensor(args, codes, n, 4, &v) || mlcc_arg_tensor(args, codes, n, 5, &table) ||
        mlcc_arg_tensor(args, codes, n, 6, &out))
        return -1;
    return mlcc_kv_cache_attention_rope_q(c, layer, q, k, v, table, 1, out) ? -1 : 0;
}

static int kv_attention_qkv(const MLCCValue *args, const int *codes, int n, MLCCValue *ret, int *ret_code, void *res) {
    (void)ret, (void)ret_code, (void)res;
    MLCCKVCache *c;
    int layer = 0;
    DLTensor *qkv, *table, *out;
    if (mlcc_check_num_args(n, 5) || arg_cache(args, codes, n, &c) || arg_small(args, codes, n, 1, &layer) ||
        mlcc_arg_tensor(args, codes, n, 2, &qkv) || mlcc_arg_tensor(args, codes, n, 3, &table) ||
        mlcc_arg_tensor(args, codes, n, 4, &out))
        return -1;
    return mlcc_kv_cache_attention_qkv(c, layer, qkv, table, out) ? -1 : 0;
}

static int kv_positions(const MLCCValue *args, const int *codes, int n, MLCCValue *ret,
                        int *ret_code, void *res) {
    (void)ret, (void)ret_code, (void)res;
    MLCCKVCache *c;
    DLTensor *out;
    if (mlcc_check_num_args(n, 2) || arg_cache(args, codes, n, &c) ||
        mlcc_arg_tensor(args, codes, n, 1, &out))
        return -1;
    const mlcc_kv_forward *f = mlcc_kv_cache_forward(c);
    if (!f) return mlcc_set_error("kv_cache.positions: no forward step is open (begin_forward first)");
    if (out->ndim != 1 || out->shape[0] != f->num_tokens || out->dtype.code != kDLInt ||
        out->dtype.bits != 32 || out->dtype.lanes != 1)
        return mlcc_set_error("kv_cache.positions: out must be an int32 [%lld] tensor (the step's tokens)",
                              (long long)f->num_tokens);
    return mlcc_kv_cache_copy_positions(c, out);
}

static int kv_free_pages(const MLCCValue *args, const int *codes, int n, MLCCValue *ret,
                         int *ret_code, void *res) {
    (void)res;
    MLCCKVCache *c;
    if (mlcc_check_num_args(n, 1) || arg_cache(args, codes, n, &c)) return -1;
    return set_int(ret, ret_code, mlcc_kv_cache_free_pages(c));
}

static int kv_seq_length(const MLCCValue *args, const int *codes, int n, MLCCValue *ret,
                         int *ret_code, void *res) {
    (void)res;
    MLCCKVCache *c;
    int64_t id;
    if (mlcc_check_num_args(n, 2) || arg_cache(args, codes, n, &c) ||
        mlcc_arg_int(args, codes, n, 1, &id))
        return -1;
    int64_t len = mlcc_kv_cache_seq_length(c, id);
    return len < 0 ? -1 : set_int(ret, ret_code, len);
}

MLCC_REGISTER_GLOBAL("mlcc.kv_cache.create", kv_create)
MLCC_REGISTER_GLOBAL("mlcc.kv_cache.add_sequence", kv_add_sequence)
MLCC_REGISTER_GLOBAL("mlcc.kv_cache.remove_sequence", kv_remove_sequence)
MLCC_REGISTER_GLOBAL("mlcc.kv_cache.fork_sequence", kv_fork_sequence)
MLCC_REGISTER_GLOBAL("mlcc.kv_cache.pop_n", kv_pop_n)
MLCC_REGISTER_GLOBAL("mlcc.kv_cache.begin_forward", kv_begin_forward)
MLCC_REGISTER_GLOBAL("mlcc.kv_cache.end_forward", kv_end_forward)
MLCC_REGISTER_GLOBAL("mlcc.kv_cache.attention", kv_attention)
MLCC_REGISTER_GLOBAL("mlcc.kv_cache.attention_rope_q", kv_attention_rope_q)
MLCC_REGISTER_GLOBAL("mlcc.kv_cache.attention_qkv", kv_attention_qkv)
MLCC_REGISTER_GLOBAL("mlcc.kv_cache.positions", kv_positions)
MLCC_REGISTER_GLOBAL("mlcc.kv_cache.free_pages", kv_free_pages)
MLCC_REGISTER_GLOBAL("mlcc.kv_cache.seq_length", kv_seq_length)
