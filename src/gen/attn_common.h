/* attn_common.h - pieces shared by the attention generators (internal to src/gen): the paged
 * KV buffer, small local buffers used as scalar registers, and the online-softmax loop over a
 * range of keys of one sequence that prefill and decode both run. */
#ifndef MLCC_GEN_ATTN_COMMON_H
#define MLCC_GEN_ATTN_COMMON_H

#include "gen/attention.h"

typedef struct attn_gen {
    const mlcc_attn_config *c;
    int lanes; /* independent partial sums of a dot product (divides head_dim) */
    int group; /* query heads per KV head */
    int heads_vec; /* logits vectorized over the group's heads (q_scaled laid out [D][group]) */
    double scale;
    mlcc_dtype kv_dtype; /* of the pages */
    mlcc_buffer *pages;  /* [num_pages, 2, KVH, PS, D] */
} attn_gen;

/* Validates c and fills g (with a fresh pages buffer); -1 + error on a bad config. */
int attn_gen_init(attn_gen *g, const mlcc_attn_config *c);

/* A local (per-iteration) buffer of n elements. */
mlcc_buffer *attn_local(const char *name, mlcc_dtype t, int64_t n);
/* buf[i] for a 1-D buffer, and its store. */
mlcc_expr *attn_ld(mlcc_buffer *buf, mlcc_expr *i);
mlcc_stmt *attn_st(mlcc_buffer *buf, mlcc_expr *i, mlcc_expr *value);
/* An int32 index array element widened to int64. */
mlcc_expr *attn_idx(mlcc_buffer *buf, mlcc_expr *i);
/* A loop `for var in [0, extent)` of the given kind; var is a fresh int64 var. */
mlcc_stmt *attn_loop(mlcc_expr *var, mlcc_expr *extent, mlcc_for_kind kind, mlcc_stmt *body);
/* float32 view of a storage-dtype value. */
mlcc_expr *attn_f32(mlcc_expr *e);
/* Wraps a statement in an opaque block (no iter vars; reads/writes the whole buffers), so the
 * stage is addressable by name for schedules. */
mlcc_stmt *attn_opaque_block(const char *name, mlcc_stmt *body, mlcc_buffer **reads, int nreads,
                             mlcc_buffer **writes, int nwrites);

/* Where the online softmax reads its query and keys. The index expressions should be loads
 * of local registers (see attn_regs): index arithmetic with floordiv/floormod inside the
 * vectorized loops keeps the C compiler from vectorizing them at -O2. */
typedef struct attn_query {
    mlcc_buffer *q; /* [rows, QH, D] */
    mlcc_expr *row; /* q[row, kv_head * group + hi, :] for hi in [0, group) */
    mlcc_expr *kv_head;
    mlcc_expr *seq; /* batch entry: its pages are page_indices[page_indptr[seq] ...] */
    mlcc_buffer *page_indptr, *page_indices;
} attn_query;

/* Local int64 registers: `regs` gets n slots; attn_regs_set stores values[i] into slot i. */
mlcc_stmt *attn_regs_set(mlcc_buffer *regs, mlcc_expr **values, int n);

/* The running state of each head hi of the group: m[hi] (max logit), l[hi] (sum of
 * exp(logit - m)), acc[hi * D .. + D) (sum of exp(logit - m) * v). */
typedef struct attn_state {
    mlcc_buffer *m, *l, *acc;
} attn_state;

/* Initialises the state and folds keys [start, end) of the query's sequence into it, a page
 * at a time: the logits of the page's keys for every head of the group, then one rescale of
 * the state per page. K and V rows are read once for the whole group (GQA). An empty range
 * leaves m = -inf, l = 0, acc = 0. */
mlcc_stmt *attn_online_softmax(const attn_gen *g, const attn_query *q, mlcc_expr *start,
                               mlcc_expr *end, const attn_state *st);
/* Allocates a state's buffers around body. */
attn_state attn_state_new(const attn_gen *g);
mlcc_stmt *attn_state_alloc(const attn_state *st, mlcc_stmt *body);

#endif
