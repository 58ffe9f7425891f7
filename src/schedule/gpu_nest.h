/* gpu_nest.h - what the GPU reduction rules share (internal): a te-style reduction nest
 * (loops that each bind one block iter, spatial ones first, an update C[i] = C[i] (+) value),
 * found in a schedule, and its replacement by loops written for the GPU. */
#ifndef MLCC_SCHEDULE_GPU_NEST_H
#define MLCC_SCHEDULE_GPU_NEST_H

#include "schedule/gpu_rules.h"
#include "schedule/state.h"

enum { GPU_MAX_NEST = 16 };

typedef struct gpu_reduction_nest {
    sch_path path;           /* from the body down to the block realize */
    const mlcc_block *block;
    mlcc_expr_kind kind;     /* the combiner: add, max, min, mul */
    mlcc_expr *value;        /* the other operand of the update, over the block's iter vars */
    int first;               /* path index of the outermost loop */
    int nloops, nspatial;
    mlcc_expr *extents[GPU_MAX_NEST];
} gpu_reduction_nest;

/* 1 when block is such a nest (r filled), else 0. */
int gpu_match_reduction(mlcc_schedule *s, const char *block, gpu_reduction_nest *r);
/* The constant reduce extent, or -1 when symbolic. */
int64_t gpu_reduce_extent(const gpu_reduction_nest *r);
/* The cross-thread form of the nest (gpu_reduction.c). */
mlcc_stmt *gpu_cross_thread_nest(const gpu_reduction_nest *r);
/* Replaces the nest with `with` and commits. */
void gpu_replace_nest(mlcc_schedule *s, const gpu_reduction_nest *r, mlcc_stmt *with);

/* The reduction + broadcast rule (gpu_row.c): a function of row reductions and row-wise
 * elementwise nests over the same rows becomes one kernel, a thread block per row; rows
 * shorter than min_extent are left alone. *applied says whether it was rewritten. */
int gpu_row_kernel(mlcc_schedule *s, int64_t min_extent, int *applied);
/* Removes f's intermediates that nothing reads or writes any more (f is a copy it may edit). */
void gpu_drop_unused_allocs(mlcc_prim_func *f);
#endif
