/* ast.h - the parse tree of a Jinja template: expressions and statements, allocated in the
 * template's arena. Every node keeps its source line and column for error messages. */
#ifndef MLCC_TEMPLATE_AST_H
#define MLCC_TEMPLATE_AST_H

#include <stddef.h>

#include "support/arena.h"
#include "support/vec.h"
#include "template/value.h"

typedef enum expr_kind {
    E_CONST,
    E_NAME,
    E_LIST,
    E_TUPLE,
    E_DICT, /* items: key, value, key, value, ... */
    E_ATTR, /* a.name */
    E_ITEM, /* a[b] */
    E_SLICE, /* a[items[0]:items[1]:items[2]] (entries may be NULL) */
    E_CALL,  /* a(args) */
    E_FILTER, /* a|name(args); a NULL = the body of a filter block / set block */
    E_TEST,   /* a is [not] name(args) */
    E_BINOP,  /* a op b: + - * / // % ** */
    E_NEG,
    E_POS,
    E_NOT,
    E_AND,
    E_OR,
    E_CMP,    /* items[0] ops[0] items[1] ops[1] items[2] ... */
    E_CONCAT, /* items joined with ~ */
    E_COND,   /* b if a else c (c may be NULL) */
} expr_kind;

typedef enum binop {
    OP_ADD,
    OP_SUB,
    OP_MUL,
    OP_DIV,
    OP_FLOORDIV,
    OP_MOD,
    OP_POW,
} binop;

typedef enum cmpop { CMP_EQ, CMP_NE, CMP_LT, CMP_LE, CMP_GT, CMP_GE, CMP_IN, CMP_NOTIN } cmpop;

typedef struct expr expr;

typedef struct call_args {
    expr **pos;
    size_t npos;
    const char **kwnames;
    expr **kw;
    size_t nkw;
    expr *star, *starstar;
} call_args;

struct expr {
    expr_kind kind;
    int line, col;
    jv value;         /* E_CONST */
    const char *name; /* E_NAME, E_ATTR, E_FILTER, E_TEST */
    int op;           /* binop */
    int negated;      /* E_TEST */
    int folded;       /* E_BINOP **: the left side is a folded negative constant (see fold.c) */
    expr *a, *b, *c;
    expr **items;
    int *ops; /* E_CMP */
    size_t n;
    call_args args;
};

typedef enum stmt_kind {
    S_DATA,
    S_OUTPUT,
    S_IF,
    S_FOR,
    S_SET,
    S_SETBLOCK,
    S_MACRO,
    S_CALLBLOCK,
    S_FILTERBLOCK,
    S_BREAK,
    S_CONTINUE,
    S_WITH,
    S_BLOCK, /* block, generation, autoescape: render the body in place */
} stmt_kind;

typedef struct stmt stmt;

#define MACRO_USES_VARARGS 1
#define MACRO_USES_KWARGS 2
#define MACRO_USES_CALLER 4

typedef struct stmt_list {
    stmt **items;
    size_t n;
} stmt_list;

struct stmt {
    stmt_kind kind;
    int line, col;
    const char *text; /* S_DATA */
    size_t len;
    expr *e;      /* OUTPUT value, IF test, FOR iterable, SET value, CALLBLOCK call, filters */
    expr *target; /* FOR / SET target (E_NAME, E_TUPLE of names, or E_ATTR on a name) */
    expr *cond;   /* FOR ... if cond */
    int recursive; /* FOR: a recursive loop; MACRO: MACRO_USES_* flags */
    stmt_list body, else_body;
    /* macro / caller signature */
    const char *name;
    const char **params;
    expr **defaults; /* NULL entries: no default */
    size_t nparams;
    /* with */
    expr **targets, **values;
    size_t nwith;
};

#endif
