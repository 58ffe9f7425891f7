/* cuda_decode_attention.h - decode attention over the paged KV cache in one CUDA kernel (split
 * over the keys and the merge of the splits together; q's rope and the KV append optionally
 * folded in), and q's rope as a kernel of its own for the paths that do not fold it. See
 * cuda_decode_attention.c. */
#ifndef MLCC_RUNTIME_CUDA_DECODE_ATTENTION_H
#define MLCC_RUNTIME_CUDA_DECODE_ATTENTION_H

#include <stddef.h>
#include <stdint.h>

/* What gen/attention.h's attn_decode computes: one query per sequence (q [B, QH, D] float32)
 * at its last position over its pages [P, 2, KVH, PS, D] (float32 or float16), GQA, sliding
 * window, soft-cap; out [B, QH, D] float32 (or float16). All pointers are device pointers; q, pages, out,
 * k, v and the workspace 16-byte aligned. Enqueued on the device's current stream. */
typedef struct mlcc_cuda_decode_args {
    const float *q;
    void *pages; /* float32, or float16 when pages_f16 */
    const int32_t *page_indptr, *page_indices, *last_page_len;
    float *out; /* float32, or float16 values when out_f16 (rounded once, as stored) */
    int out_f16;
    /* rope_table [B, 2, D / 2] float64 (nn.rope_table of the step); rope_q: q is rotated with
     * it as nn.rope(q, table) computes it, while it is loaded (else q is used as given) */
    const double *rope_table;
    int rope_q;
    /* the append folded in: k, v [B, KVH, D] float32 and slots [B] (page * PS + offset): the
     * block that owns a sequence's last key takes it from k / v (K rotated with rope_table when
     * rope_k) and stores it into its page; k NULL: the pages already hold it */
    const float *k, *v;
    const int32_t *slots;
    int rope_k;
    /* floats from one sequence's row of q (of k, v) to the next: q, k and v may be column
     * ranges of one [B, (QH + 2 KVH) D] projection output; 0: compact (QH D, KVH D) */
    int64_t q_stride, kv_stride;
    int64_t batch;
    int num_qo_heads, num_kv_heads, head_dim, page_size;
    int64_t window;        /* <= 0: none */
    double scale, softcap; /* logits = scale q.k; softcap > 0: softcap * tanh(logits / softcap) */
    int pages_f16;
    int splits;    /* the most splits a sequence's keys take (the grid); 1: no merge */
    int min_keys;  /* a sequence takes min(splits, ceil(keys / min_keys)) splits (>= 1) */
    /* from mlcc_cuda_decode_workspace_bytes: partial results of up to workspace_blocks blocks
     * and as many (sequence, KV head) counters, all zero (the kernel leaves them zero) */
    void *workspace;
    int64_t workspace_blocks;
} mlcc_cuda_decode_args;

/* 1 when the kernel covers the shape: head_dim 16, 32, 64, 80, 96, 128 or 256, a GQA group of <= 8. */
int mlcc_cuda_decode_attention_supports(int head_dim, int num_qo_heads, int num_kv_heads);
/* Bytes of a workspace for `blocks` blocks (partials and counters). */
size_t mlcc_cuda_decode_workspace_bytes(int head_dim, int num_qo_heads, int num_kv_heads, int64_t blocks);
/* The split count for a step: enough blocks for `waves` blocks per multiprocessor over batch x
 * KV heads, no more than keys / min_keys, within the workspace; >= 1. */
int mlcc_cuda_decode_choose_splits(int device_id, int64_t batch, int num_kv_heads, int64_t max_keys, int min_keys,
                                   int waves, int64_t workspace_blocks);
int mlcc_cuda_decode_attention(int device_id, const mlcc_cuda_decode_args *a);

/* q [tokens, QH, D] float32 rotated with rope_table [tokens, 2, D / 2] float64 into out (q itself
 * allowed), as nn.rope(q, table) computes it (the float64 expression, rounded to float32). */
int mlcc_cuda_rope_q(int device_id, const float *q, float *out, const double *rope_table, int64_t tokens, int num_qo_heads,
                     int head_dim);

/* src [rows, w0 + w1 + w2] (float32, or half when src_f16) into three compact float32 arrays one
 * after the other at dst: [rows, w0], [rows, w1], [rows, w2] (q, k and v of a combined
 * projection, for the paths that need them compact). */
int mlcc_cuda_split_columns(int device_id, const void *src, int src_f16, float *dst, int64_t rows, int w0, int w1, int w2);

/* The kernel sources (tests compile them with NVRTC where there is no GPU); the decode source
 * expects DEC_D, DEC_KV and DEC_NW defined before it (mlcc_cuda_decode_attention_source_for). */
const char *mlcc_cuda_decode_attention_kernel_source(void);
const char *mlcc_cuda_rope_q_kernel_source(void);
const char *mlcc_cuda_split_columns_kernel_source(void);
/* The full source for one head_dim and page type (malloc'ed). */
char *mlcc_cuda_decode_attention_source_for(int head_dim, int pages_f16);

#endif
