/* gpu_rules.h - default GPU schedules (DESIGN.md §3.5), kept apart from the CPU rules.
 *
 * For a PrimFunc without thread bindings: injective producers are inlined into their
 * consumers where legal; then every remaining block's leading spatial loops are fused, split
 * by the threads per block and bound to blockIdx.x / threadIdx.x, so each thread computes one
 * output element (a reduction runs its reduce loops serially in that thread: the fallback for
 * reductions and matmuls). A block with no spatial loop (a full reduction to a scalar) runs on
 * one thread. A function that already binds threads (a generator's own schedule) is returned
 * as it is. */
#ifndef MLCC_SCHEDULE_GPU_RULES_H
#define MLCC_SCHEDULE_GPU_RULES_H

#include "ir/tir.h"

/* The scheduled copy of f (f itself when it already binds threads), or NULL with an error. */
mlcc_prim_func *gpu_default_schedule(const mlcc_prim_func *f);
/* Does f bind any loop to a GPU thread axis? */
int gpu_func_has_thread_bindings(const mlcc_prim_func *f);

#endif
