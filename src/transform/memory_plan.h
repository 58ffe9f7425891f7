/* memory_plan.h - static storage planning for tensors with symbolic sizes (DESIGN.md §3.7).
 *
 * A function with a dynamic `n` must not allocate per call. Given every tensor a function
 * allocates (its size in bytes as an expression over size vars, and its lifetime as the range of
 * instruction positions from its definition to its last use) and declared upper bounds of the
 * size vars (`var_upper_bound`, e.g. n <= prefill_chunk_size), the planner assigns tensors to a
 * fixed set of storages whose constant sizes cover the worst case: two tensors share a storage
 * only when their lifetimes do not overlap. The storages are allocated once; each call places
 * its tensors in them at offset 0.
 *
 * Greedy in order of first use: a tensor takes the free storage whose size is closest to its
 * need (growing it if none is big enough), so sizes stay tight. */
#ifndef MLCC_TRANSFORM_MEMORY_PLAN_H
#define MLCC_TRANSFORM_MEMORY_PLAN_H

#include <stdint.h>

#include "ir/tir.h"

typedef struct mlcc_mem_request {
    const char *name;     /* for messages */
    mlcc_expr *bytes;     /* size in bytes over size vars */
    int first_use, last_use; /* inclusive instruction positions */
    int storage;          /* out: the storage index */
    int64_t upper_bytes;  /* out: the size at the bounds */
} mlcc_mem_request;

typedef struct mlcc_mem_plan {
    int64_t *storage_bytes; /* malloc'ed */
    int num_storages;
    int64_t total_bytes;
} mlcc_mem_plan;

/* 0 on success; -1 with an error naming a tensor whose size has no upper bound (a size var
 * without a declared bound). vars/upper_bounds: the bounds (vars are >= 0 as size vars). */
int mlcc_memory_plan(mlcc_mem_request *reqs, int n, mlcc_expr **vars, const int64_t *upper_bounds,
                     int nvars, mlcc_mem_plan *out);
void mlcc_mem_plan_free(mlcc_mem_plan *plan);

#endif
