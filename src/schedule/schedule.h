/* schedule.h - TensorIR schedule primitives (DESIGN.md §3.5), after tvm.tir.Schedule.
 *
 * A schedule owns a copy of a PrimFunc and transforms it in place, one primitive at a time.
 * Blocks are named by their (unique) block name; loops by their loop var (an EXPR_VAR node:
 * primitives keep the vars of loops they do not replace, and create new vars for the loops they
 * make, so a loop var stays a valid reference until a primitive consumes that loop).
 *
 * Every primitive checks its legality from the block signatures (iter types and domains,
 * bindings, read/write regions) and either succeeds or fails with an error naming the
 * primitive, the block or loop, and the reason, leaving the function untouched. It never
 * produces a wrong program.
 *
 * Every successful primitive appends one instruction to the trace, which prints as replayable
 * Python-like code:
 *     b0 = sch.get_block("C")
 *     l1, l2, l3 = sch.get_loops(b0)
 *     l4, l5 = sch.split(l1, factors=[None, 4])
 *     sch.parallel(l4)
 * sch_replay parses such text and applies it to another schedule (of the original function),
 * which then holds a structurally equal function.
 *
 * IR built by primitives lives in the current IR arena (see tir.h). */
#ifndef MLCC_SCHEDULE_SCHEDULE_H
#define MLCC_SCHEDULE_SCHEDULE_H

#include <stdint.h>

#include "ir/tir.h"

typedef struct mlcc_schedule mlcc_schedule;

/* A factor of sch_split left for the schedule to infer (printed as None). */
#define SCH_INFER INT64_MIN

/* A schedule over a copy of f (f itself is never modified). */
mlcc_schedule *sch_create(const mlcc_prim_func *f);
void sch_free(mlcc_schedule *s);
/* An independent schedule in the same state (function, trace, loop and block handles), to try
 * alternatives from one point (a tuner's fork). */
mlcc_schedule *sch_copy(const mlcc_schedule *s);
/* The function as transformed so far (owned by the schedule; valid until the next primitive
 * replaces its body, so print or copy it before scheduling further if needed). */
mlcc_prim_func *sch_func(mlcc_schedule *s);

/* ---- lookups ---- */
/* The block named `name` (returns the interned name), or NULL with an error. */
const char *sch_get_block(mlcc_schedule *s, const char *name);
/* The loops around block, outermost first, into *out (IR arena memory); returns the count or
 * -1 with an error. */
int sch_get_loops(mlcc_schedule *s, const char *block, mlcc_expr ***out);
/* The extent of a loop (an expression over size vars), or NULL with an error. */
mlcc_expr *sch_loop_extent(mlcc_schedule *s, mlcc_expr *loop);
/* The statement that realizes a block (its bindings, predicate and the block itself; IR arena
 * memory, read-only), or NULL with an error: for rules that look at a block's body. */
const mlcc_stmt *sch_block_realize(mlcc_schedule *s, const char *block);
/* The kind of a loop (an mlcc_for_kind: serial, parallel, ...), or -1 with an error. */
int sch_loop_kind(mlcc_schedule *s, mlcc_expr *loop);
/* Names of all blocks in program order (IR arena memory); returns the count. */
int sch_get_blocks(mlcc_schedule *s, const char ***out);

/* ---- loop transformations ---- */
/* Splits loop into n nested loops of the given extents (outermost first); at most one factor
 * may be SCH_INFER. The product must cover the extent; where it exceeds it, the blocks under
 * the loop get the predicate `i_0 * f + i_1 < extent`. out receives the n new loop vars. */
int sch_split(mlcc_schedule *s, mlcc_expr *loop, const int64_t *factors, int n, mlcc_expr **out);
/* Fuses a perfectly nested chain of loops (outermost first) into one; NULL on error. */
mlcc_expr *sch_fuse(mlcc_schedule *s, mlcc_expr **loops, int n);
/* Reorders loops of one nest: the positions of the given loops in the nest are filled with them
 * in the order given; other loops of the nest stay where they are. */
int sch_reorder(mlcc_schedule *s, mlcc_expr **loops, int n);

/* ---- loop annotations ---- */
int sch_parallel(mlcc_schedule *s, mlcc_expr *loop);
int sch_vectorize(mlcc_schedule *s, mlcc_expr *loop);
int sch_unroll(mlcc_schedule *s, mlcc_expr *loop);
/* Binds a loop to a GPU thread axis ("blockIdx.x", "threadIdx.y", "vthread.x", ...): legal
 * where parallel is, and where no loop around or inside it binds the same axis. */
int sch_bind(mlcc_schedule *s, mlcc_expr *loop, const char *thread);

/* ---- block transformations ---- */
/* Inlines an injective producer into its consumers and removes it (and its buffer). */
int sch_compute_inline(mlcc_schedule *s, const char *block);
/* Inlines an injective consumer into its producer and removes it (and the buffer between). */
int sch_reverse_compute_inline(mlcc_schedule *s, const char *block);
/* Moves a reduction block's init into a new block "<name>_init" placed right before `loop`;
 * returns the new block's name, or NULL with an error. */
const char *sch_decompose_reduction(mlcc_schedule *s, const char *block, mlcc_expr *loop);

/* Moves producer `block` under `loop`, a loop around its consumers, to the start of the loop's
 * body: its own loops are replaced by a nest over the region of its buffer that the consumers
 * read in one iteration of the loop (affine indices relaxed over the loops below; iter vars not
 * in the written indices, such as a reduction's, run whole). Legal when the block writes one
 * buffer, not a parameter, at exactly its spatial iter vars and is its only writer; every reader
 * of the buffer is under the loop; the loop is after the block in the same block scope; no block
 * between the two writes what the block reads; a reduction block does not move under a parallel
 * loop. Iterations that need overlapping regions compute them again (see compute_at.c). */
int sch_compute_at(mlcc_schedule *s, const char *block, mlcc_expr *loop);
/* Moves consumer `block` under `loop`, a loop around its producers, to the end of the loop's
 * body, iterating over exactly the region the producers write in one iteration: their written
 * indices must be dense affine boxes over the loops below, their reductions complete inside the
 * loop, their predicates only clip tails; the block reads each such buffer at exactly its iter
 * vars, and a reduce iter var of the block must get its whole domain. Nothing between the loop
 * and the block writes what the block reads or uses what it writes. */
int sch_reverse_compute_at(mlcc_schedule *s, const char *block, mlcc_expr *loop);

/* Makes block read its read region `index` (a buffer X) from a new buffer "X_<scope>" (scope:
 * "global", "local" or "shared"), filled by a copy block of that name placed right before the
 * function-level statement holding the block; returns the copy block's name (or NULL with an
 * error). Legal when the block is at function scope, does not write X, and nothing in its
 * statement writes X. compute_at then narrows the copy to a tile. */
const char *sch_cache_read(mlcc_schedule *s, const char *block, int index, const char *scope);
/* Makes block write its write region `index` (a buffer Y) into a new buffer "Y_<scope>", copied
 * into Y by a block of that name right after the block's function-level statement; returns the
 * copy block's name. Legal when the block is at function scope and Y's only writer, and nothing
 * else in its statement reads Y. reverse_compute_at then narrows the copy to a tile. */
const char *sch_cache_write(mlcc_schedule *s, const char *block, int index, const char *scope);

/* Splits the reduction of the one block under `loop` (a loop bound only to its reduce iter vars)
 * in two: block "<name>_rf" accumulates partial results, one per iteration of `loop`, into a new
 * buffer "<buffer>_rf" (the output's shape with the loop's extent inserted at `factor_axis`,
 * 0..ndim, or counted from the end as -1..-(ndim + 1), as in TVM; the trace records it from 0) and runs in the block's place, where `loop` is now spatial (so it may run in
 * parallel); the block keeps its name for the write-back, which reduces the partial results
 * over a new nest right after the block's function-level statement. The block is at function
 * scope, its body `Y[s] = Y[s] + (max, min) value` with the combiner's identity as init, Y has no
 * other writer and no other reader in the block's statement. Returns the rfactor block's name. */
const char *sch_rfactor(mlcc_schedule *s, mlcc_expr *loop, int factor_axis);

/* Makes the perfect loop nest under `loop` the body of a new block "<name>_o" over the loops
 * outside it (see blockize.c); returns the new block's name, or NULL with an error. */
const char *sch_blockize(mlcc_schedule *s, mlcc_expr *loop);
/* Blockizes the perfect loop nest under `loop` and replaces it by a call of the CPU tensor
 * intrinsic `intrin` (kernels/cpu/intrin.h), after checking the block computes exactly what the
 * intrinsic does on the tile (see tensorize.c). The nest becomes block "<name>_o". */
int sch_tensorize(mlcc_schedule *s, mlcc_expr *loop, const char *intrin);

/* Pads the stride of dimension `axis` of the buffer that block writes in its write region
 * `index` up to the next factor * k + offset (0 <= offset < factor), e.g. to keep the rows of a
 * tile off one cache set or shared-memory bank. Changes the layout only (codegen allocates the
 * padded size); legal for any buffer the function allocates, never for a parameter. Setting an
 * axis again replaces its alignment. */
int sch_storage_align(mlcc_schedule *s, const char *block, int index, int axis, int64_t factor, int64_t offset);

/* ---- annotations ---- */
/* Sets key = value on a loop or a block (replacing an earlier value of the key); unannotate
 * removes the key. Annotations change no computation; passes and codegen may read them. */
int sch_annotate_loop(mlcc_schedule *s, mlcc_expr *loop, const char *key, int64_t value);
int sch_annotate_block(mlcc_schedule *s, const char *block, const char *key, int64_t value);
int sch_unannotate_loop(mlcc_schedule *s, mlcc_expr *loop, const char *key);
int sch_unannotate_block(mlcc_schedule *s, const char *block, const char *key);

/* ---- trace ---- */
/* The trace as text, one instruction per line (malloc'ed). */
char *sch_trace_str(const mlcc_schedule *s);
int sch_trace_len(const mlcc_schedule *s);
/* Applies a printed trace to s; 0 on success, -1 with an error naming the line. */
int sch_replay(mlcc_schedule *s, const char *trace_text);

#endif
