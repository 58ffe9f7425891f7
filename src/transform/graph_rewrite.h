/* graph_rewrite.h - helpers for graph passes: substituting vars in graph expressions, and
 * rebuilding every graph function of a module binding by binding. */
#ifndef MLCC_TRANSFORM_GRAPH_REWRITE_H
#define MLCC_TRANSFORM_GRAPH_REWRITE_H

#include "ir/block_builder.h"
#include "support/hashmap.h"

/* e with every var found in map (var pointer -> rx_expr *) replaced; untouched subtrees are
 * shared. Recurses into tuples, calls, If branches and SeqExprs. */
rx_expr *rx_subst(rx_expr *e, const mlcc_u64map *map);

/* Called for each binding of each graph function (after the binding's value has had the
 * substitution in `subst` applied); it emits what replaces the binding into bb (often the
 * binding itself through bb_emit_binding, or nothing). Returns 0, or -1 with an error. */
typedef int (*rx_binding_fn)(rx_builder *bb, rx_binding b, void *ctx);

/* Rebuilds every graph function of m through fn into a copy of m (PrimFuncs that fn adds
 * through bb land there too). subst, when not NULL, is applied to every value and the body
 * (fn may add entries as it goes). NULL with "<pass>: function '<f>': <error>" on failure. */
mlcc_ir_module *rx_rewrite_module(const mlcc_ir_module *m, const char *pass, rx_binding_fn fn, void *ctx,
                                  mlcc_u64map *subst);

/* The name of the packed function v calls through `call_dps_packed("name", (args...))`, else
 * NULL (its arguments: v->call.args[1], a tuple). */
const char *rx_dps_packed_name(const rx_expr *v);

/* Called for each binding a scan meets, in order (nested sequences included), after the reads
 * of its value have been counted. */
typedef void (*rx_scan_fn)(const rx_binding *b, void *ctx);

/* Walks e: counts in uses (when not NULL; var node -> value.i, the times it is read) every read
 * of a var, and calls visit (when not NULL) on each binding of each SeqExpr. What the analyses
 * of graph passes start with (is a value read once? which vars are bound to which calls?). */
void rx_scan_graph(const rx_expr *e, mlcc_u64map *uses, rx_scan_fn visit, void *ctx);

#endif
