/* state.h - the schedule's state and the helpers its primitives share (internal).
 *
 * Primitives find a loop or block as a path of statements from the function body down to it,
 * build the replacement functionally, and install it with sch_path_replace (which rebuilds
 * only the ancestors on the path) and sch_commit (which also simplifies loop extents, block
 * bindings and predicates). A primitive that fails returns before sch_commit, so the function
 * is left as it was. */
#ifndef MLCC_SCHEDULE_STATE_H
#define MLCC_SCHEDULE_STATE_H

#include "schedule/schedule.h"
#include "support/hashmap.h"
#include "support/vec.h"

#define SCH_MAX_DEPTH 256

struct mlcc_schedule {
    mlcc_prim_func *func;
    MLCC_VEC(char *) trace;
    int next_rv;          /* the number of the next random-variable name (b0, l1, ...) */
    mlcc_u64map loop_rv;  /* loop var -> its name in the trace (malloc'ed) */
    mlcc_strmap block_rv; /* block name -> its name in the trace (malloc'ed) */
};

/* Statements from the function body (nodes[0]) down to a target (nodes[n - 1]). */
typedef struct sch_path {
    mlcc_stmt *nodes[SCH_MAX_DEPTH];
    int n;
} sch_path;

/* 0 when found (path filled), -1 otherwise (no error message set). */
int sch_find_loop(mlcc_schedule *s, const mlcc_expr *var, sch_path *p);
int sch_find_block(mlcc_schedule *s, const char *name, sch_path *p);
/* A new function body: the path's target replaced by `with` (NULL removes it, and any loop
 * left empty by the removal). */
mlcc_stmt *sch_path_replace(const sch_path *p, mlcc_stmt *with);
/* Installs a new body, simplified. */
void sch_commit(mlcc_schedule *s, mlcc_stmt *body);

/* All block realizes under root, in program order (IR arena memory); returns the count. Does
 * not descend into the bodies of the blocks it finds when `top_only`. */
int sch_collect_realizes(mlcc_stmt *root, int top_only, mlcc_stmt ***out);
/* The index, within the function body's top-level sequence, of the statement that contains
 * the realize of block `name` (0 when the body is not a sequence). */
int sch_top_index(mlcc_schedule *s, const char *name);
/* Does block b declare a write / read of buf? Does a statement / expression load buf? */
int sch_block_writes(const mlcc_block *b, const mlcc_buffer *buf);
int sch_block_reads(const mlcc_block *b, const mlcc_buffer *buf);
int sch_stmt_loads_buffer(mlcc_stmt *s, const mlcc_buffer *buf);
int sch_expr_loads_buffer(mlcc_expr *e, const mlcc_buffer *buf);
/* Is buf a parameter of the function? */
int sch_is_param_buffer(mlcc_schedule *s, const mlcc_buffer *buf);
/* Removes buf from the function's (or a block's) allocations, in the body given. */
mlcc_stmt *sch_remove_alloc(mlcc_schedule *s, mlcc_stmt *body, const mlcc_buffer *buf);
/* Vars free in e that are neither in vars[0..n) nor size vars / scalar parameters: returns the
 * first such var or NULL. */
mlcc_expr *sch_foreign_var(mlcc_schedule *s, mlcc_expr *e, mlcc_expr **vars, int n);

/* Structural equality of expressions (vars and buffers by identity). */
int sch_expr_equal(const mlcc_expr *a, const mlcc_expr *b);
/* Regions merged per buffer: equal ranges are kept, differing ones widen to the whole
 * dimension. Returns the count; *out in IR arena memory. */
int sch_merge_regions(const mlcc_region *in, int n, mlcc_region **out);
/* A region with every min/extent substituted. */
mlcc_region sch_region_substitute(mlcc_region r, mlcc_expr **vars, mlcc_expr **values, int n);
/* Conjuncts of a predicate (split on `and`), into out (cap entries); returns the count. */
int sch_conjuncts(mlcc_expr *pred, mlcc_expr **out, int cap);

/* ---- trace ---- */
/* The trace name of a loop var / block, or NULL (sets an error naming the primitive). */
const char *sch_loop_rv(mlcc_schedule *s, const mlcc_expr *loop, const char *prim);
const char *sch_block_rv(mlcc_schedule *s, const char *block);
/* A fresh name for a new loop / block result. */
const char *sch_new_loop_rv(mlcc_schedule *s, const mlcc_expr *loop);
const char *sch_new_block_rv(mlcc_schedule *s, const char *block);
/* Appends one instruction line. */
void sch_record(mlcc_schedule *s, const char *line);

#endif
