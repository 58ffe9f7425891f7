/* attention.h - generators of the paged-attention TensorIR (DESIGN.md §3.3).
 *
 * Attention over the paged KV cache is not derived from tensor expressions: these functions
 * write its PrimFuncs directly in IR form, with data-dependent indexing (a key's page is
 * `page_indices[page_indptr[b] + j // page_size]`, loop extents come from positions and
 * indptr arrays). One configuration (head_dim, query heads, KV heads, page size, dtype, scale,
 * soft-cap) gives three kernels that the runtime KV cache (src/runtime/kv_cache.h) calls per
 * layer through the packed-function ABI:
 *
 *   kv_append(pages[P, 2, KVH, PS, D], k[T, KVH, D], v[T, KVH, D], slots[T] i32,
 *             positions[T] i32)
 *       stores token t's K and V at slot `slots[t]` = page * PS + offset (slots < 0 are
 *       skipped). With rope_theta > 0 it applies rotary embedding (NeoX layout: dimension d
 *       pairs with d + D/2) to K at positions[t] on the way in; else positions are unused.
 *   kv_append(pages, k, v, slots, positions, rope_table[T, 2, D/2] f64)   (rope_table = 1)
 *       the same, K rotated on the way in with the cosines and sines of nn.rope_table exactly
 *       as nn.rope(k, rope_table) computes it (float64 arithmetic, rounded to k's dtype): the
 *       graph's rope of K fused into the append (transform/fuse_rope_append.c).
 *   attn_prefill(q[T, QH, D], pages, token_seq[T] i32, positions[T] i32, page_indptr[NB] i32,
 *                page_indices[NP] i32, out[T, QH, D], window i64)
 *       ragged causal attention: query token t of batch entry token_seq[t] at position
 *       positions[t] attends its sequence's keys 0..positions[t] (already appended), limited to
 *       the last `window` positions when window > 0.
 *   attn_decode(q[B, QH, D], pages, page_indptr[B + 1] i32, page_indices[NP] i32,
 *               last_page_len[B] i32, out[B, QH, D], window i64, num_splits i64)
 *       one query per sequence at its last position; the keys are split into num_splits
 *       chunks computed in parallel, each an online softmax, then merged with the
 *       numerically stable log-sum-exp rule.
 *
 * Page layout: pages[p, 0] holds K and pages[p, 1] holds V of page p, as [KVH, PS, D].
 * Semantics (as transformers): logits = scale * q.k; with soft-cap c, logits = c * tanh(logits
 * / c); a query at position i sees keys j with 0 <= i - j < window (window <= 0: no limit).
 * Query head h reads KV head h / (QH / KVH) (GQA; MQA when KVH = 1). Arithmetic is float32
 * whatever the storage dtypes.
 *
 * The pages are kv_dtype (default: dtype); the sliding window is an argument, so one set of
 * kernels serves layers with different windows.
 *
 * CPU schedule (set here while the schedule primitives are not merged): the outer loop over
 * (token or sequence) x KV head (x split) is parallel, and each task runs all the query heads
 * of its group, so a K/V row is read once per group; keys are taken a page at a time (one
 * online-softmax rescale per page); the loops over head_dim are vectorized, dot products
 * accumulate in `lanes` independent partial sums held in registers, V rows are folded into
 * the accumulator four keys per pass. Each stage is an opaque block ("append", "attention",
 * "attention_split", "merge") that GPU schedules can find by name. */
#ifndef MLCC_GEN_ATTENTION_H
#define MLCC_GEN_ATTENTION_H

#include "ir/tir.h"

typedef struct mlcc_attn_config {
    int head_dim;
    int num_qo_heads;
    int num_kv_heads;
    int page_size;
    mlcc_dtype dtype;    /* of q, k, v and out: float32 or float16 */
    mlcc_dtype kv_dtype; /* of the pages: float32 or float16; zero (bits 0) = dtype. A float16
                          * model on the CPU keeps float32 pages: gcc 12 does not vectorize
                          * loops over _Float16, and decode streams the pages */
    double scale;        /* 0: 1 / sqrt(head_dim) */
    double softcap;      /* 0: off */
    double rope_theta;   /* > 0: kv_append applies rope to K (NeoX layout); 0: off */
    int rope_table;      /* 1: kv_append takes the step's rope table (below) and rotates K with
                          * it; rope_theta must be 0 */
} mlcc_attn_config;

/* Checks the configuration; -1 with an error naming the field. */
int gen_attn_check(const mlcc_attn_config *c);
/* The kernels, named "kv_append", "attn_prefill", "attn_decode"; NULL + error on a bad config.
 * Each is built in the current IR arena. */
mlcc_prim_func *gen_kv_append(const mlcc_attn_config *c);
mlcc_prim_func *gen_attn_prefill(const mlcc_attn_config *c);
mlcc_prim_func *gen_attn_decode(const mlcc_attn_config *c);
/* All three, in that order, into out[3]; 0 or -1 + error. */
int gen_attn_kernels(const mlcc_attn_config *c, mlcc_prim_func *out[3]);

#endif
