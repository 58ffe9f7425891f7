/* gpu_rules.h - default GPU schedules (DESIGN.md §3.5), kept apart from the CPU rules.
 *
 * For a PrimFunc without thread bindings: injective producers are inlined into their
 * consumers where legal; then every remaining block's leading spatial loops are fused, split
 * by the threads per block and bound to blockIdx.x / threadIdx.x, so each thread computes one
 * output element (a reduction runs its reduce loops serially in that thread: the fallback for
 * reductions and matmuls). A block with no spatial loop (a full reduction to a scalar) runs on
 * one thread. A function that already binds threads (a generator's own schedule) is returned
 * as it is. Matmuls get tiles staged in shared memory (gpu_matmul.c). Reductions over a long
 * axis instead get a thread block per output element and a
 * cross-thread reduction (GPU_CROSS_THREAD_MIN_EXTENT, gpu_reduction.c). */
#ifndef MLCC_SCHEDULE_GPU_RULES_H
#define MLCC_SCHEDULE_GPU_RULES_H

#include <stdint.h>

#include "ir/tir.h"

/* Reductions whose reduce extent is at least this (or symbolic) get one thread block per
 * output element, with a cross-thread reduction in shared memory (gpu_reduction.c). */
#define GPU_CROSS_THREAD_MIN_EXTENT 64

/* The cross-thread reduction rule on one block of a schedule: *applied says whether the block
 * matched (an update C[i] = C[i] (+) value of a te-style reduction nest) and was replaced. */
struct mlcc_schedule;
int gpu_cross_thread_reduction(struct mlcc_schedule *s, const char *block, int64_t min_extent, int *applied);

/* The matmul rule (gpu_matmul.c): C[rows.., col] += a(rows.., k) * b(col, k) in float32 gets
 * 64 x 64 tiles staged through shared memory, and the cross-thread reduction when the rows are
 * few (decode); both compiled, the host picks per call. *applied as above. */
int gpu_matmul(struct mlcc_schedule *s, const char *block, int *applied);

/* The scheduled copy of f (f itself when it already binds threads), or NULL with an error. */
mlcc_prim_func *gpu_default_schedule(const mlcc_prim_func *f);
/* The same with the cross-thread threshold given (INT64_MAX: never; benchmarks compare). */
mlcc_prim_func *gpu_default_schedule_ex(const mlcc_prim_func *f, int64_t cross_thread_min_extent);
/* The GPU form of gen_attn_decode's and gen_attn_prefill's functions (gpu_attention.c), or
 * NULL when f is not one it
 * recognises (then the default rule applies). */
mlcc_prim_func *gpu_schedule_attn_decode(const mlcc_prim_func *f);
/* The default rules without the decode-attention rewrite (which assumes 32-lane warp
 * shuffles): for targets whose subgroup size is not known to be 32 (Vulkan). */
mlcc_prim_func *gpu_default_schedule_portable(const mlcc_prim_func *f);
/* Does f bind any loop to a GPU thread axis? */
int gpu_func_has_thread_bindings(const mlcc_prim_func *f);

#endif
