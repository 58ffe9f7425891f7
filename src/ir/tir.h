/* tir.h - TensorIR: the loop-level IR (DESIGN.md §3.1).
 *
 * A PrimFunc is a loop program over Buffers. Expressions (PrimExpr) are integer/float scalar or
 * vector computations; statements are loops, block realizations, stores, allocations, ifs and
 * sequences. Blocks are the unit that schedules reason about: a block names its iteration
 * variables (spatial or reduce, each with a domain), the buffer regions it reads and writes, an
 * optional init statement (for reductions) and a body. A BlockRealize binds the block's iter vars
 * to expressions of the surrounding loop variables.
 *
 * Memory model: nodes are immutable once built and may be shared between trees. They are
 * allocated from the current IR arena (ir_arena_current): a process-wide arena by default, or a
 * scoped one that a caller installs with ir_scope_begin/ir_scope_end to release everything a
 * compilation built at once. Transformations build new nodes and never modify old ones (the
 * only in-place updates are on a PrimFunc's body/alloc list by schedule primitives).
 *
 * Identity: a Var or Buffer is identified by its pointer; names are for printing only.
 * Index arithmetic uses int64 throughout (ir_int makes int64 immediates). */
#ifndef MLCC_IR_TIR_H
#define MLCC_IR_TIR_H

#include <stddef.h>
#include <stdint.h>

#include "ir/dtype.h"
#include "support/arena.h"

typedef struct mlcc_expr mlcc_expr;
typedef struct mlcc_stmt mlcc_stmt;
typedef struct mlcc_buffer mlcc_buffer;
typedef struct mlcc_block mlcc_block;
typedef struct mlcc_prim_func mlcc_prim_func;

/* ---- arena ---- */
mlcc_arena *ir_arena_current(void);
/* Installs a fresh arena for IR built on this thread until ir_scope_end frees it. Scopes nest. */
void ir_scope_begin(void);
void ir_scope_end(void);
void *ir_alloc(size_t size);
const char *ir_strdup(const char *s);

/* ---- expressions ---- */
typedef enum {
    EXPR_INT,   /* int_value */
    EXPR_FLOAT, /* float_value */
    EXPR_VAR,   /* var */
    /* binary: bin.a, bin.b */
    EXPR_ADD, EXPR_SUB, EXPR_MUL,
    EXPR_DIV,      /* float division; for ints, truncating division (C semantics) */
    EXPR_MOD,      /* truncating remainder (C %) */
    EXPR_FLOORDIV, EXPR_FLOORMOD,
    EXPR_MIN, EXPR_MAX,
    EXPR_EQ, EXPR_NE, EXPR_LT, EXPR_LE, EXPR_GT, EXPR_GE,
    EXPR_AND, EXPR_OR,
    EXPR_NOT,       /* un.a */
    EXPR_CAST,      /* un.a converted to dtype */
    EXPR_SELECT,    /* select.cond ? select.t : select.f (both evaluated) */
    EXPR_CALL,      /* call.op (interned name) applied to call.args */
    EXPR_LOAD,      /* load.buffer[load.indices] */
    EXPR_RAMP,      /* ramp.base + i * ramp.stride for i in [0, lanes) */
    EXPR_BROADCAST, /* broadcast.value repeated lanes times */
    EXPR_KIND_COUNT
} mlcc_expr_kind;

typedef enum {
    VAR_PLAIN = 0,
    VAR_SIZE = 1, /* a shape variable: known to be >= 0 (e.g. `n`) */
} mlcc_var_flags;

struct mlcc_expr {
    mlcc_expr_kind kind;
    mlcc_dtype dtype;
    union {
        int64_t int_value;
        double float_value;
        struct {
            const char *name;
            int flags; /* mlcc_var_flags */
        } var;
        struct {
            mlcc_expr *a, *b;
        } bin;
        struct {
            mlcc_expr *a;
        } un;
        struct {
            mlcc_expr *cond, *t, *f;
        } select;
        struct {
            const char *op; /* interned: "exp", "log", "sqrt", "rsqrt", "tanh", "erf", "pow",
                               "fabs", "sigmoid", "exp2", "floor", "ceil", "round", ... */
            mlcc_expr **args;
            int nargs;
        } call;
        struct {
            mlcc_buffer *buffer;
            mlcc_expr **indices;
            int nidx;
        } load;
        struct {
            mlcc_expr *base, *stride;
        } ramp;
        struct {
            mlcc_expr *value;
        } broadcast;
    };
};

/* Constructors. Binary constructors fold constants (2 + 3 -> 5) and trivial identities
 * (x + 0, x * 1, x * 0 for ints) so printed IR stays readable; the simplifier in arith/ does
 * the real work. Integer operands of different widths are not mixed: callers cast. */
mlcc_expr *ir_int(int64_t v);                  /* int64 immediate */
mlcc_expr *ir_const_int(mlcc_dtype t, int64_t v); /* immediate of an integer/bool type */
mlcc_expr *ir_float(mlcc_dtype t, double v);
mlcc_expr *ir_bool(int v);
mlcc_expr *ir_var(const char *name, mlcc_dtype t);
mlcc_expr *ir_size_var(const char *name); /* int64, >= 0 */
mlcc_expr *ir_binary(mlcc_expr_kind kind, mlcc_expr *a, mlcc_expr *b);
mlcc_expr *ir_add(mlcc_expr *a, mlcc_expr *b);
mlcc_expr *ir_sub(mlcc_expr *a, mlcc_expr *b);
mlcc_expr *ir_mul(mlcc_expr *a, mlcc_expr *b);
mlcc_expr *ir_div(mlcc_expr *a, mlcc_expr *b);
mlcc_expr *ir_floordiv(mlcc_expr *a, mlcc_expr *b);
mlcc_expr *ir_floormod(mlcc_expr *a, mlcc_expr *b);
mlcc_expr *ir_min(mlcc_expr *a, mlcc_expr *b);
mlcc_expr *ir_max(mlcc_expr *a, mlcc_expr *b);
mlcc_expr *ir_eq(mlcc_expr *a, mlcc_expr *b);
mlcc_expr *ir_ne(mlcc_expr *a, mlcc_expr *b);
mlcc_expr *ir_lt(mlcc_expr *a, mlcc_expr *b);
mlcc_expr *ir_le(mlcc_expr *a, mlcc_expr *b);
mlcc_expr *ir_gt(mlcc_expr *a, mlcc_expr *b);
mlcc_expr *ir_ge(mlcc_expr *a, mlcc_expr *b);
mlcc_expr *ir_and(mlcc_expr *a, mlcc_expr *b);
mlcc_expr *ir_or(mlcc_expr *a, mlcc_expr *b);
mlcc_expr *ir_not(mlcc_expr *a);
mlcc_expr *ir_cast(mlcc_dtype t, mlcc_expr *a);
mlcc_expr *ir_select(mlcc_expr *cond, mlcc_expr *t, mlcc_expr *f);
mlcc_expr *ir_call(mlcc_dtype t, const char *op, mlcc_expr **args, int nargs);
mlcc_expr *ir_call1(const char *op, mlcc_expr *a); /* dtype of a */
mlcc_expr *ir_call2(const char *op, mlcc_expr *a, mlcc_expr *b);
mlcc_expr *ir_load(mlcc_buffer *buf, mlcc_expr **indices, int nidx);
mlcc_expr *ir_ramp(mlcc_expr *base, mlcc_expr *stride, int lanes);
mlcc_expr *ir_broadcast(mlcc_expr *value, int lanes);
/* The identity and bounds of a reduction's combiner in a dtype: 0, -inf (lowest), +inf. */
mlcc_expr *ir_zero(mlcc_dtype t);
mlcc_expr *ir_one(mlcc_dtype t);
mlcc_expr *ir_min_value(mlcc_dtype t);
mlcc_expr *ir_max_value(mlcc_dtype t);

static inline int expr_is_int(const mlcc_expr *e, int64_t v) {
    return e->kind == EXPR_INT && e->int_value == v;
}
static inline int expr_is_const(const mlcc_expr *e) {
    return e->kind == EXPR_INT || e->kind == EXPR_FLOAT;
}
int expr_is_binary(mlcc_expr_kind kind);
int expr_is_compare(mlcc_expr_kind kind);

/* ---- buffers ---- */
/* The stride of a dimension padded up to the next k * factor + offset (set by the schedule's
 * storage_align, e.g. to keep rows of a tile off the same cache set or shared-memory bank). */
typedef struct mlcc_dim_align {
    int64_t factor; /* 0: the dimension keeps its compact stride */
    int64_t offset; /* 0 <= offset < factor */
} mlcc_dim_align;

struct mlcc_buffer {
    const char *name;
    mlcc_dtype dtype;
    int ndim;
    mlcc_expr **shape;  /* ndim PrimExprs over size vars */
    const char *scope;  /* interned: "global", "shared", "local", ... */
    /* ndim entries, or NULL for the compact row-major layout. Only buffers the function
     * allocates carry it: a parameter's layout is the caller's. Codegen lays the buffer out with
     * ir_buffer_offset / ir_buffer_elems; the interpreter ignores it (layout changes no value). */
    const mlcc_dim_align *align;
};

mlcc_buffer *ir_buffer(const char *name, mlcc_dtype t, mlcc_expr **shape, int ndim);
mlcc_buffer *ir_buffer_scoped(const char *name, mlcc_dtype t, mlcc_expr **shape, int ndim,
                              const char *scope);
/* A 1-D..4-D convenience: shape given as expressions, terminated by NULL. */
mlcc_buffer *ir_buffer_v(const char *name, mlcc_dtype t, ...);
/* A copy of b (a new buffer: identity is by pointer) whose dimension `axis` has its stride
 * padded to factor * k + offset; other dimensions keep b's alignment. */
mlcc_buffer *ir_buffer_align(const mlcc_buffer *b, int axis, int64_t factor, int64_t offset);
/* The flat element offset of indices into b's layout: row-major, strides padded where b->align
 * says (unsimplified). */
mlcc_expr *ir_buffer_offset(const mlcc_buffer *b, mlcc_expr **indices, int nidx);
/* The number of elements b's layout spans (its allocation size; unsimplified). */
mlcc_expr *ir_buffer_elems(const mlcc_buffer *b);

/* ---- statements ---- */
typedef enum {
    STMT_FOR,
    STMT_BLOCK_REALIZE,
    STMT_STORE,
    STMT_ALLOCATE, /* alloc.buffer lives (in its scope) for alloc.body */
    STMT_IF,
    STMT_SEQ,
    STMT_EVALUATE, /* eval.value computed for effect (a call) */
} mlcc_stmt_kind;

typedef enum {
    FOR_SERIAL,
    FOR_PARALLEL,
    FOR_VECTORIZED,
    FOR_UNROLLED,
    FOR_THREAD_BINDING, /* for_.thread_tag: "blockIdx.x", "threadIdx.x", ... */
} mlcc_for_kind;

typedef enum { ITER_SPATIAL, ITER_REDUCE, ITER_OPAQUE } mlcc_iter_type;

typedef struct mlcc_range {
    mlcc_expr *min, *extent;
} mlcc_range;

typedef struct mlcc_iter_var {
    mlcc_expr *var;
    mlcc_range dom;
    mlcc_iter_type type;
} mlcc_iter_var;

/* A buffer region: per dimension a [min, min + extent) range. A region with whole = 1 means
 * "the whole buffer" (used for data-dependent accesses such as page_table[b, j // 16]). */
typedef struct mlcc_region {
    mlcc_buffer *buffer;
    mlcc_range *ranges; /* buffer->ndim entries */
    int whole;
} mlcc_region;

typedef struct mlcc_annotation {
    const char *key;   /* interned */
    mlcc_expr *value;  /* an immediate or expression */
} mlcc_annotation;

struct mlcc_block {
    const char *name;
    mlcc_iter_var *iters;
    int niters;
    mlcc_region *reads;
    int nreads;
    mlcc_region *writes;
    int nwrites;
    mlcc_buffer **alloc_buffers; /* buffers local to this block */
    int nalloc;
    mlcc_stmt *init; /* NULL unless a reduction block */
    mlcc_stmt *body;
    mlcc_annotation *annotations;
    int nannotations;
};

struct mlcc_stmt {
    mlcc_stmt_kind kind;
    union {
        struct {
            mlcc_expr *var;
            mlcc_expr *min, *extent;
            mlcc_for_kind kind;
            const char *thread_tag;
            mlcc_stmt *body;
            mlcc_annotation *annotations;
            int nannotations;
        } for_;
        struct {
            mlcc_expr **iter_values; /* block->niters */
            mlcc_expr *predicate;    /* execute only where true (bool immediate 1 if always) */
            mlcc_block *block;
        } realize;
        struct {
            mlcc_buffer *buffer;
            mlcc_expr *value;
            mlcc_expr **indices;
            int nidx;
        } store;
        struct {
            mlcc_buffer *buffer;
            mlcc_stmt *body;
        } alloc;
        struct {
            mlcc_expr *cond;
            mlcc_stmt *then_, *else_; /* else_ may be NULL */
        } if_;
        struct {
            mlcc_stmt **stmts;
            int n;
        } seq;
        struct {
            mlcc_expr *value;
        } eval;
    };
};

mlcc_stmt *ir_for(mlcc_expr *var, mlcc_expr *min, mlcc_expr *extent, mlcc_for_kind kind,
                  mlcc_stmt *body);
mlcc_stmt *ir_for_thread(mlcc_expr *var, mlcc_expr *min, mlcc_expr *extent, const char *tag,
                         mlcc_stmt *body);
/* A copy of loop s with new bounds and body (kind, var, thread tag and annotations kept); s
 * itself when nothing changed. */
mlcc_stmt *ir_for_update(mlcc_stmt *s, mlcc_expr *min, mlcc_expr *extent, mlcc_stmt *body);
mlcc_stmt *ir_store(mlcc_buffer *buf, mlcc_expr *value, mlcc_expr **indices, int nidx);
mlcc_stmt *ir_allocate(mlcc_buffer *buf, mlcc_stmt *body);
mlcc_stmt *ir_if(mlcc_expr *cond, mlcc_stmt *then_, mlcc_stmt *else_);
/* A sequence; NULL entries are dropped, nested sequences flattened, one statement returned
 * as itself. */
mlcc_stmt *ir_seq(mlcc_stmt **stmts, int n);
mlcc_stmt *ir_seq2(mlcc_stmt *a, mlcc_stmt *b);
mlcc_stmt *ir_evaluate(mlcc_expr *value);
mlcc_stmt *ir_block_realize(mlcc_expr **iter_values, mlcc_expr *predicate, mlcc_block *block);
mlcc_block *ir_block_new(const char *name);
/* Copies a block's header (shallow: arrays copied, nodes shared), for rebuilding. */
mlcc_block *ir_block_copy(const mlcc_block *b);
mlcc_range ir_range(mlcc_expr *min, mlcc_expr *extent);
mlcc_region ir_region_point(mlcc_buffer *buf, mlcc_expr **indices); /* extent-1 ranges */
mlcc_region ir_region_whole(mlcc_buffer *buf);

/* ---- functions and modules ---- */
typedef struct mlcc_param {
    mlcc_expr *var;      /* a scalar var (buffer == NULL), or a handle var naming the buffer */
    mlcc_buffer *buffer; /* the buffer the parameter binds, or NULL */
} mlcc_param;

struct mlcc_prim_func {
    const char *name;
    mlcc_param *params;
    int nparams;
    mlcc_buffer **alloc_buffers; /* intermediates (TVM's root-block allocations) */
    int nalloc;
    mlcc_stmt *body;
    mlcc_annotation *attrs; /* e.g. "op_pattern" */
    int nattrs;
    const char *origin; /* what made it: "te: C", an op, a fused group, a generator; may be NULL */
};

/* params: buffers (each becomes a parameter), terminated by NULL. Scalar parameters are added
 * with prim_func_add_scalar_param. */
mlcc_prim_func *ir_prim_func(const char *name, mlcc_buffer **buffers, int nbuffers, mlcc_stmt *body);
void prim_func_add_scalar_param(mlcc_prim_func *f, mlcc_expr *var);
void prim_func_add_alloc(mlcc_prim_func *f, mlcc_buffer *buf);
void prim_func_set_attr(mlcc_prim_func *f, const char *key, mlcc_expr *value);
mlcc_expr *prim_func_get_attr(const mlcc_prim_func *f, const char *key);
/* A shallow copy (arrays copied, nodes shared): schedules work on a copy. */
mlcc_prim_func *prim_func_copy(const mlcc_prim_func *f);
/* The symbolic size vars appearing in parameter buffer shapes, in first-appearance order. */
int prim_func_size_vars(const mlcc_prim_func *f, mlcc_expr ***out);

#endif
