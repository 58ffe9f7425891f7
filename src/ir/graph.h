/* graph.h - the graph-level IR (DESIGN.md §3.6): Relax-like functions over tensors.
 *
 * A graph Function takes Vars and returns a SeqExpr: binding blocks (dataflow or not) that bind
 * Vars to values (calls of ops, of PrimFuncs through call_tir, of other graph functions, tuples,
 * constants, ...), then a body. Every expression carries struct info (rx_sinfo): what is known
 * about its value statically - a Tensor with a symbolic shape and a dtype, a Shape, a Tuple, a
 * Prim scalar, an opaque Object or a Func. Shapes are TIR PrimExprs, so the `n` in
 * `R.Tensor((n, 64))` is the same mlcc_expr (by pointer) as the `n` in the PrimFuncs the
 * function calls.
 *
 * Memory model: as TensorIR (tir.h) - nodes come from the IR arena (ir_alloc), are immutable
 * once built, may be shared, and are identified by pointer (a Var is its pointer). Passes build
 * new nodes. Struct info objects are immutable values too.
 *
 * Ops (R.add, R.matmul, ...) are rx_op_def records held by the registry in src/op/; this layer
 * only knows their name and the two hooks the block builder and legalize call. */
#ifndef MLCC_IR_GRAPH_H
#define MLCC_IR_GRAPH_H

#include <stddef.h>
#include <stdint.h>

#include "ir/tir.h"
#include "support/strbuf.h"

typedef struct rx_sinfo rx_sinfo;
typedef struct rx_expr rx_expr;
typedef struct rx_function rx_function;
typedef struct rx_op_def rx_op_def;
typedef struct rx_builder rx_builder;

/* ---- struct info ---- */
typedef enum {
    SI_OBJECT, /* nothing known */
    SI_PRIM,   /* a scalar of `dtype` */
    SI_SHAPE,  /* a shape: ndim values (values NULL when only ndim is known; ndim -1: unknown) */
    SI_TENSOR, /* ndim -1: unknown rank; shape NULL: rank known, extents not; dtype may be void */
    SI_TUPLE,  /* fields */
    SI_FUNC,   /* params (NULL when opaque) -> ret */
} rx_sinfo_kind;

struct rx_sinfo {
    rx_sinfo_kind kind;
    mlcc_dtype dtype;  /* SI_TENSOR, SI_PRIM; DT_VOID when unknown */
    int ndim;          /* SI_TENSOR, SI_SHAPE; -1 when unknown */
    mlcc_expr **shape; /* SI_TENSOR / SI_SHAPE: ndim int64 PrimExprs, or NULL */
    rx_sinfo **fields; /* SI_TUPLE fields; SI_FUNC params */
    int nfields;
    rx_sinfo *ret; /* SI_FUNC */
};

rx_sinfo *rx_sinfo_object(void);
rx_sinfo *rx_sinfo_prim(mlcc_dtype t);
rx_sinfo *rx_sinfo_shape(mlcc_expr **values, int ndim); /* values copied; NULL: ndim only */
rx_sinfo *rx_sinfo_tensor(mlcc_expr **shape, int ndim, mlcc_dtype t); /* shape copied */
rx_sinfo *rx_sinfo_tensor_ndim(int ndim, mlcc_dtype t); /* ndim -1: unknown rank */
/* Convenience: a tensor whose shape is given as PrimExprs terminated by NULL. */
rx_sinfo *rx_sinfo_tensor_v(mlcc_dtype t, ...);
rx_sinfo *rx_sinfo_tuple(rx_sinfo **fields, int n);
rx_sinfo *rx_sinfo_func(rx_sinfo **params, int nparams, rx_sinfo *ret);

/* Size variables of a called function's parameters bound to the caller's extents. */
enum { RX_MAX_BINDINGS = 32 };
typedef struct rx_bindings {
    mlcc_expr *vars[RX_MAX_BINDINGS];
    mlcc_expr *values[RX_MAX_BINDINGS];
    int n;
} rx_bindings;
/* Whether arg fits the parameter param of a called function, binding param's size variables
 * (a variable dimension binds at its first use, later uses must agree); 1 or 0. */
int rx_sinfo_match_param(const rx_sinfo *param, const rx_sinfo *arg, rx_bindings *b);
/* s with the bound variables replaced by their values (the call's result struct info). */
rx_sinfo *rx_sinfo_substitute(const rx_sinfo *s, const rx_bindings *b);

/* Shapes compare by structure with vars by identity (n == n, n != m); no arithmetic. */
int prim_expr_same(const mlcc_expr *a, const mlcc_expr *b);
int rx_sinfo_equal(const rx_sinfo *a, const rx_sinfo *b);
/* Is every value described by `sub` also described by `base` (a Tensor((n, 4)) is a
 * Tensor(ndim=2) is an Object)? Used to check arguments against parameters. */
int rx_sinfo_is_base_of(const rx_sinfo *base, const rx_sinfo *sub);
/* `R.Tensor((n, 64), dtype="float32")`; size vars print by name. */
void rx_sinfo_print(const rx_sinfo *s, mlcc_strbuf *out);
char *rx_sinfo_to_string(const rx_sinfo *s); /* malloc'ed */
/* The size vars in s (shapes, fields), appended to *vars without duplicates. */
void rx_sinfo_collect_vars(const rx_sinfo *s, mlcc_expr ***vars, int *n, int *cap);

/* ---- attributes of calls and functions: a small key/value list ---- */
typedef enum { ATTR_INT, ATTR_FLOAT, ATTR_STR, ATTR_INTS, ATTR_DTYPE } rx_attr_kind;

typedef struct rx_attr {
    const char *key; /* interned */
    rx_attr_kind kind;
    int64_t i;       /* ATTR_INT */
    double f;        /* ATTR_FLOAT */
    const char *s;   /* ATTR_STR */
    int64_t *ints;   /* ATTR_INTS */
    int nints;
    mlcc_dtype dtype; /* ATTR_DTYPE */
} rx_attr;

typedef struct rx_attrs {
    rx_attr *items;
    int n;
} rx_attrs;

/* Functional updates: each returns a new list with key set (replacing an existing entry). */
rx_attrs rx_attrs_set_int(rx_attrs a, const char *key, int64_t v);
rx_attrs rx_attrs_set_float(rx_attrs a, const char *key, double v);
rx_attrs rx_attrs_set_str(rx_attrs a, const char *key, const char *v);
rx_attrs rx_attrs_set_ints(rx_attrs a, const char *key, const int64_t *v, int n);
rx_attrs rx_attrs_set_dtype(rx_attrs a, const char *key, mlcc_dtype t);
const rx_attr *rx_attrs_get(rx_attrs a, const char *key);
int64_t rx_attrs_int(rx_attrs a, const char *key, int64_t dflt);
double rx_attrs_float(rx_attrs a, const char *key, double dflt);
const char *rx_attrs_str(rx_attrs a, const char *key); /* NULL when absent */

/* ---- expressions ---- */
typedef enum {
    RX_VAR,
    RX_DATAFLOW_VAR,  /* a var local to a dataflow block */
    RX_GLOBAL_VAR,    /* a function of the module, by name */
    RX_OP,            /* an operator (callee of a Call) */
    RX_CONSTANT,      /* a host tensor */
    RX_TUPLE,
    RX_TUPLE_GET_ITEM,
    RX_CALL,
    RX_SHAPE_EXPR,    /* a shape value from PrimExprs: R.shape([n, 64]) */
    RX_PRIM_VALUE,    /* a scalar PrimExpr as a value */
    RX_STRING_IMM,
    RX_IF,
    RX_SEQ,
    RX_FUNCTION,
} rx_expr_kind;

typedef struct rx_binding {
    rx_expr *var;   /* RX_VAR or RX_DATAFLOW_VAR */
    rx_expr *value;
    rx_sinfo *cast; /* match_cast: the struct info the value is matched against; else NULL */
} rx_binding;

typedef struct rx_block {
    int is_dataflow;
    rx_binding *bindings;
    int n;
} rx_block;

struct rx_function {
    rx_expr **params; /* vars */
    int nparams;
    rx_expr *body;    /* usually a SeqExpr */
    rx_sinfo *ret;
    rx_attrs attrs;   /* "global_symbol" (string), ... */
};

struct rx_expr {
    rx_expr_kind kind;
    rx_sinfo *sinfo; /* deduced struct info; NULL until normalized (ops, tuples of them) */
    union {
        struct {
            const char *name;
        } var; /* RX_VAR, RX_DATAFLOW_VAR, RX_GLOBAL_VAR */
        const rx_op_def *op;
        struct {
            mlcc_dtype dtype;
            int ndim;
            int64_t *shape;
            void *data; /* dense row-major bytes */
            size_t nbytes;
        } constant;
        struct {
            rx_expr **fields;
            int n;
        } tuple;
        struct {
            rx_expr *tuple;
            int index;
        } get_item;
        struct {
            rx_expr *callee; /* RX_OP, RX_GLOBAL_VAR, or any function-valued expr */
            rx_expr **args;
            int nargs;
            rx_attrs attrs;
            rx_sinfo **sinfo_args; /* call_tir / call_dps_packed: output struct info */
            int nsinfo_args;
        } call;
        struct {
            mlcc_expr **values;
            int ndim;
        } shape_expr;
        mlcc_expr *prim_value;
        const char *str;
        struct {
            rx_expr *cond, *then_, *else_; /* branches are SeqExprs */
        } if_;
        struct {
            rx_block *blocks;
            int nblocks;
            rx_expr *body;
        } seq;
        rx_function func;
    };
};

/* Constructors. Vars need struct info; the rest get theirs from rx_infer_sinfo / the block
 * builder (constants, shapes, prim values and strings have theirs at once). */
rx_expr *rx_var(const char *name, rx_sinfo *sinfo);
rx_expr *rx_dataflow_var(const char *name, rx_sinfo *sinfo);
rx_expr *rx_global_var(const char *name);
rx_expr *rx_op_ref(const rx_op_def *op);
/* A constant tensor; data (nbytes = numel * dtype bytes) is copied into the arena. */
rx_expr *rx_constant(mlcc_dtype t, const int64_t *shape, int ndim, const void *data);
rx_expr *rx_tuple(rx_expr **fields, int n);
rx_expr *rx_tuple_get_item(rx_expr *tuple, int index);
rx_expr *rx_call(rx_expr *callee, rx_expr **args, int nargs, rx_attrs attrs, rx_sinfo **sinfo_args,
                 int nsinfo_args);
rx_expr *rx_shape_expr(mlcc_expr **values, int ndim);
rx_expr *rx_prim_value(mlcc_expr *value);
rx_expr *rx_string_imm(const char *s);
rx_expr *rx_if(rx_expr *cond, rx_expr *then_, rx_expr *else_);
rx_expr *rx_seq(rx_block *blocks, int nblocks, rx_expr *body);
rx_expr *rx_function_new(rx_expr **params, int nparams, rx_expr *body, rx_sinfo *ret, rx_attrs attrs);
/* A copy of e with sinfo set (exprs are immutable; this is how a deducer attaches its answer). */
rx_expr *rx_with_sinfo(const rx_expr *e, rx_sinfo *sinfo);

static inline int rx_is_var(const rx_expr *e) {
    return e->kind == RX_VAR || e->kind == RX_DATAFLOW_VAR;
}
/* Is e a call of the op named `name` (interned or not)? */
int rx_is_op_call(const rx_expr *e, const char *name);
/* Is e a leaf that needs no binding (var, constant, shape, prim value, string, global, op)? */
int rx_is_leaf(const rx_expr *e);
/* Elements of a constant / product of a constant shape. */
int64_t rx_constant_numel(const rx_expr *c);

/* ---- operators ---- */
struct rx_op_def {
    const char *name; /* interned: "add", "matmul", "nn.softmax", "call_tir", ... */
    /* Struct info of a call whose arguments are normalized (each has sinfo). NULL + error
     * (naming the op, operands and shapes) when the arguments do not fit. */
    rx_sinfo *(*infer)(const rx_expr *call);
    /* Rewrites a call into call_tir of a PrimFunc added through bb (NULL: not legalizable;
     * returns NULL + error on failure). */
    rx_expr *(*legalize)(rx_builder *bb, const rx_expr *call);
};

#endif
