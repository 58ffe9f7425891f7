/* module.h - IRModule: the unit the compiler transforms (DESIGN.md §3.6-3.7).
 *
 * A module maps names to functions, each either a graph function (rx_function) or a PrimFunc;
 * calls between them go through global vars (rx_global_var(name)), resolved by name here. The
 * order of insertion is kept, so printing and iteration are deterministic. Module attributes
 * are a key/value list (e.g. "target", bounds). Like all IR, a module lives in the IR arena;
 * passes take a module and return a new one (irmod_copy, then replace), leaving the input
 * untouched. */
#ifndef MLCC_IR_MODULE_H
#define MLCC_IR_MODULE_H

#include "ir/graph.h"
#include "support/strbuf.h"

typedef enum { IRMOD_GRAPH, IRMOD_PRIM } irmod_func_kind;

typedef struct irmod_entry {
    const char *name; /* interned */
    irmod_func_kind kind;
    rx_expr *graph;            /* IRMOD_GRAPH: an RX_FUNCTION */
    mlcc_prim_func *prim;      /* IRMOD_PRIM */
} irmod_entry;

typedef struct mlcc_ir_module {
    irmod_entry *entries;
    int n, cap;
    rx_attrs attrs;
} mlcc_ir_module;

mlcc_ir_module *irmod_new(void);
/* A shallow copy: the entry list is copied, functions shared. */
mlcc_ir_module *irmod_copy(const mlcc_ir_module *m);
/* Adds a function under name; -1 + error when the name is taken. */
int irmod_add_graph(mlcc_ir_module *m, const char *name, rx_expr *func);
int irmod_add_prim(mlcc_ir_module *m, const char *name, mlcc_prim_func *f);
/* Replaces (or adds) the function under name. */
void irmod_set_graph(mlcc_ir_module *m, const char *name, rx_expr *func);
void irmod_set_prim(mlcc_ir_module *m, const char *name, mlcc_prim_func *f);
int irmod_remove(mlcc_ir_module *m, const char *name); /* 0 when removed, -1 when absent */
const irmod_entry *irmod_lookup(const mlcc_ir_module *m, const char *name);
rx_expr *irmod_get_graph(const mlcc_ir_module *m, const char *name);
mlcc_prim_func *irmod_get_prim(const mlcc_ir_module *m, const char *name);
/* A name not yet in the module: base, base1, base2, ... (interned). */
const char *irmod_unique_name(const mlcc_ir_module *m, const char *base);
/* The struct info of calling global `name`: a graph function's Func sinfo, or for a PrimFunc
 * an opaque Func (PrimFuncs are called through call_tir). NULL + error when absent. */
rx_sinfo *irmod_global_sinfo(const mlcc_ir_module *m, const char *name);

/* Prints the whole module as TVMScript-like text (graph_printer.c). */
void irmod_print(const mlcc_ir_module *m, mlcc_strbuf *out);
char *irmod_to_string(const mlcc_ir_module *m); /* malloc'ed */
/* One graph function (named `name` in the output). */
void rx_print_function(const char *name, const rx_expr *func, mlcc_strbuf *out);
void rx_print_expr(const rx_expr *e, mlcc_strbuf *out);

#endif
