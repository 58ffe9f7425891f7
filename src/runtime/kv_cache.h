/* kv_cache.h - the paged KV cache: a runtime object (MLCC_OBJECT_KV_CACHE) that owns the K/V
 * pages of every layer, a free-page pool, sequences with page tables, and the per-step arrays
 * the attention kernels read (DESIGN.md §3.3).
 *
 * Pages: per layer one NDArray [num_pages, 2, num_kv_heads, page_size, head_dim] in the KV
 * dtype (index 0 of dim 1 is K, 1 is V). A page holds page_size consecutive tokens of one
 * sequence. Pages are reference-counted: `fork` makes a child that shares its parent's full
 * pages and gets a private copy of the last partial one (prefix sharing); a page that is still
 * shared when a sequence must write into it (after pop_n) is copied first (copy-on-write), so
 * no sequence ever changes another's tokens.
 *
 * A step: begin_forward(seq_ids, lengths) reserves room for `lengths[i]` new tokens of each
 * sequence, advances the lengths, and builds (int32, for the kernels):
 *   qo_indptr[b+1]     new tokens of entry b are rows qo_indptr[b] .. qo_indptr[b+1)
 *   page_indptr[b+1]   its pages are page_indices[page_indptr[b] .. page_indptr[b+1])
 *   page_indices[...]  page ids, in sequence order
 *   last_page_len[b]   tokens in its last page (1..page_size)
 *   positions[t]       position of new token t in its sequence
 *   token_seq[t]       batch entry of new token t
 *   append_slots[t]    page * page_size + offset where token t's K/V go
 * then, per layer, attention(layer, q, k, v, out) appends K/V and runs the prefill kernel (or
 * the decode kernel when every entry adds exactly one token); end_forward closes the step.
 * The kernels come from the compiler's attention generator (src/gen/attention.h) as packed
 * functions; the cache calls them with the argument lists documented there.
 *
 * Running out of pages is reported as MLCC_KV_OUT_OF_PAGES with a message, and leaves the
 * cache exactly as it was: the engine can preempt a sequence (remove it) and retry. */
#ifndef MLCC_RUNTIME_KV_CACHE_H
#define MLCC_RUNTIME_KV_CACHE_H

#include <stdint.h>

#include "mlcc/mlcc_runtime.h"

/* Returned (instead of -1) when the pool has too few free pages; nothing was changed. */
#define MLCC_KV_OUT_OF_PAGES (-2)

typedef struct MLCCKVCache MLCCKVCache;

typedef struct mlcc_kv_cache_config {
    int num_layers;
    int num_qo_heads;
    int num_kv_heads;
    int head_dim;
    int page_size;
    int64_t num_pages;
    DLDataType dtype;              /* of q, k, v, out */
    DLDataType kv_dtype;           /* of the pages; {0} = dtype */
    DLDevice device;               /* only the CPU for now */
    const int32_t *sliding_window; /* per layer (copied), <= 0 = none; NULL = none anywhere */
    MLCCFunction *append;          /* kernels (retained): kv_append, attn_prefill, attn_decode */
    MLCCFunction *prefill;
    MLCCFunction *decode;
    /* What the kernels compute, for a device's library attention: the logit scale (0: unknown,
     * the kernels alone are used), the soft-cap (0: none), and whether float16 arithmetic is
     * acceptable (a float16 or 4-bit model). On CUDA with attn_f16 the prefill attention runs on
     * tensor cores (runtime/cuda_attention.c) when it covers the shape (MLCC_CUDA_FLASH=0: off). */
    double attn_scale, attn_softcap;
    int attn_f16;
} mlcc_kv_cache_config;

/* The per-step arrays of the current forward (host memory, valid until end_forward). */
typedef struct mlcc_kv_forward {
    int num_seqs;
    int64_t num_tokens;
    int64_t num_pages; /* entries of page_indices */
    const int32_t *qo_indptr, *page_indptr, *page_indices, *last_page_len;
    const int32_t *positions, *token_seq, *append_slots;
    int is_decode; /* every entry adds one token */
} mlcc_kv_forward;

/* NULL + error on a bad config or when the pages cannot be allocated. The kernels may be NULL
 * for a cache used only for page management (attention then fails). */
MLCCKVCache *mlcc_kv_cache_new(const mlcc_kv_cache_config *cfg);
#define mlcc_kv_cache_release(c) mlcc_object_release((MLCCObject *)(c))
/* The cache behind an object, or NULL. */
MLCCKVCache *mlcc_kv_cache_from_object(MLCCObject *obj);

int mlcc_kv_cache_add_sequence(MLCCKVCache *c, int64_t seq_id);
int mlcc_kv_cache_remove_sequence(MLCCKVCache *c, int64_t seq_id);
/* A new sequence child_id holding the first fork_pos tokens of parent_id (fork_pos -1: all).
 * Full pages are shared; a partial last page is copied (one free page needed). */
int mlcc_kv_cache_fork_sequence(MLCCKVCache *c, int64_t parent_id, int64_t child_id,
                                int64_t fork_pos);
/* Drops the last n tokens of a sequence (speculation rollback); pages left empty are released. */
int mlcc_kv_cache_pop_n(MLCCKVCache *c, int64_t seq_id, int64_t n);
/* Tokens in the sequence, or -1 + error when it does not exist. */
int64_t mlcc_kv_cache_seq_length(const MLCCKVCache *c, int64_t seq_id);

int mlcc_kv_cache_begin_forward(MLCCKVCache *c, const int64_t *seq_ids, const int64_t *lengths,
                                int n);
int mlcc_kv_cache_end_forward(MLCCKVCache *c);
/* NULL when no forward is open. */
const mlcc_kv_forward *mlcc_kv_cache_forward(const MLCCKVCache *c);
/* On a GPU: uploads the open step's int32 arrays now (otherwise done at the first attention),
 * so a step captured as a CUDA graph makes no host-to-device copy; no-op on the CPU. */
int mlcc_kv_cache_upload_steps(MLCCKVCache *c);
/* The length of the page_indices array the open step's kernels get (on a GPU padded past the
 * step's pages, so a captured decode graph serves a sequence for many tokens). */
int64_t mlcc_kv_cache_step_pages(const MLCCKVCache *c);
/* That padding: num_pages rounded up to a multiple of max(8 * num_seqs, a quarter of the
 * largest power of two <= num_pages). */
int64_t mlcc_kv_cache_page_bucket(int64_t num_pages, int64_t num_seqs);
/* Identifies where the step arrays live on the device: differs between caches and changes
 * when the arrays are moved (grown), so a captured graph that baked them in can tell. */
uint64_t mlcc_kv_cache_device_epoch(const MLCCKVCache *c);
/* The open step's positions (int32 [num_tokens]) into out, which lives on the cache's device:
 * from the host, or on CUDA a device-to-device copy from the uploaded step arrays. */
int mlcc_kv_cache_copy_positions(MLCCKVCache *c, DLTensor *out);
/* Appends the step's K/V ([tokens, KVH, D]) into layer's pages and computes attention of q
 * ([tokens, QH, D]) into out. Tensors must be compact, on the cache's device, in its dtype. */
int mlcc_kv_cache_attention(MLCCKVCache *c, int layer, DLTensor *q, DLTensor *k, DLTensor *v,
                            DLTensor *out);
/* The same with K not yet rotated: rope_table ([tokens, 2, head_dim / 2] float64, the step's
 * nn.rope_table) goes to the append kernel as its sixth argument, which rotates K with it (a
 * kernel generated with rope_table = 1: gen/attention.h). rope_table NULL: the call above. */
int mlcc_kv_cache_attention_rope(MLCCKVCache *c, int layer, DLTensor *q, DLTensor *k, DLTensor *v,
                                 DLTensor *rope_table, DLTensor *out);

/* The same with q not yet rotated either (rope_q 1; rope_table required): the CUDA decode kernel
 * rotates q while loading it; every other path rotates q in place first (q's only reader must be
 * this call: transform/fuse_rope_q.c). rope_q 0: the call above. */
int mlcc_kv_cache_attention_rope_q(MLCCKVCache *c, int layer, DLTensor *q, DLTensor *k, DLTensor *v,
                                   DLTensor *rope_table, int rope_q, DLTensor *out);

/* attention_rope_q (rope_q 1) with q, k and v the column ranges of one combined projection's
 * output qkv ([tokens, (QH + 2 KVH) head_dim]: q | k | v, compact; transform/attention_qkv.c):
 * the CUDA decode kernel reads them in place; every other path copies them apart first (one
 * kernel instead of the three slice kernels). A cache on the CPU or CUDA. */
int mlcc_kv_cache_attention_qkv(MLCCKVCache *c, int layer, DLTensor *qkv, DLTensor *rope_table, DLTensor *out);

/* Fixes the number of key chunks decode splits into (0: chosen from the threads and KV heads,
 * the same for every step, so results do not depend on the batch). */
void mlcc_kv_cache_set_decode_splits(MLCCKVCache *c, int splits);

int64_t mlcc_kv_cache_free_pages(const MLCCKVCache *c);
int64_t mlcc_kv_cache_total_pages(const MLCCKVCache *c);
int mlcc_kv_cache_num_sequences(const MLCCKVCache *c);
/* The pages of layer (borrowed), for tests and tools. */
MLCCNDArray *mlcc_kv_cache_pages(MLCCKVCache *c, int layer);
/* Checks the page accounting: every page's count equals the number of sequences using it,
 * free pages are exactly those with count 0, each once. 0, or -1 + error describing the
 * first inconsistency. */
int mlcc_kv_cache_check(const MLCCKVCache *c);

#endif
