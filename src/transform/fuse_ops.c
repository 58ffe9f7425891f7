/* fuse_ops.c - groups call_tir bindings for fusion (see pass.h), after TVM's GraphPartitioner.
 *
 * Within one dataflow block, each binding is a node; its consumers are the later bindings that
 * read its var; an output var (visible after the block) has an outside consumer. The immediate
 * post-dominator of a node is the nearest node every path from it passes through (none when
 * some path leaves the block). A node is merged, together with every node on the paths in
 * between, into its post-dominator's group when (patterns of the groups, TVM's rules):
 *   out-ewise-fusable (matmul)  - every node up to the dominator is elementwise (phase 0);
 *   elementwise/broadcast       - the dominator is injective or a reduction and the nodes in
 *                                 between are at most injective (phase 0);
 *   injective                   - everything up to the dominator is at most injective (phase 1).
 * Reductions and opaque nodes start no fusion. Each group of two or more nodes becomes a
 * private function marked "Primitive" (one output: the group's root), called in its place. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support/alloc.h"
#include "support/error.h"
#include "support/hashmap.h"
#include "support/strbuf.h"
#include "transform/pass.h"

enum { MAX_GROUP_NODES = 256 };

typedef struct fnode {
    rx_binding b;
    mlcc_op_pattern pattern;
    int *consumers;
    int ncons;
    int external; /* used after the block */
    int ipdom;    /* -1: none */
    int depth;    /* in the post-dominator tree (the virtual sink has depth 0) */
    int parent;   /* union-find */
    mlcc_op_pattern group_pattern; /* valid at roots */
    int group_size;                /* valid at roots */
} fnode;

typedef struct block_graph {
    fnode *nodes;
    int n;
    mlcc_u64map index; /* var -> node index */
    const mlcc_ir_module *mod;
} block_graph;

static mlcc_op_pattern binding_pattern(const mlcc_ir_module *mod, const rx_binding *b) {
    if (b->cast || !rx_is_op_call(b->value, "call_tir")) return OP_PATTERN_OPAQUE;
    if (b->value->call.nsinfo_args != 1 || b->value->call.sinfo_args[0]->kind != SI_TENSOR) return OP_PATTERN_OPAQUE;
    mlcc_prim_func *f = irmod_get_prim(mod, b->value->call.args[0]->var.name);
    mlcc_expr *p = f ? prim_func_get_attr(f, "op_pattern") : NULL;
    return p && p->kind == EXPR_INT ? (mlcc_op_pattern)p->int_value : OP_PATTERN_OPAQUE;
}

static void add_consumer(fnode *n, int c) {
    for (int i = 0; i < n->ncons; i++)
        if (n->consumers[i] == c) return;
    n->consumers = mlcc_xrealloc(n->consumers, sizeof(int) * (size_t)(n->ncons + 1));
    n->consumers[n->ncons++] = c;
}

/* Records node `user` as a consumer of every block var that e reads. */
static void link_uses(block_graph *g, const rx_expr *e, int user) {
    switch (e->kind) {
    case RX_VAR:
    case RX_DATAFLOW_VAR: {
        mlcc_u64map_entry *en = u64map_find(&g->index, (uint64_t)(uintptr_t)e);
        if (en) add_consumer(&g->nodes[en->value.i], user);
        return;
    }
    case RX_TUPLE:
        for (int i = 0; i < e->tuple.n; i++) link_uses(g, e->tuple.fields[i], user);
        return;
    case RX_TUPLE_GET_ITEM: link_uses(g, e->get_item.tuple, user); return;
    case RX_CALL:
        for (int i = 0; i < e->call.nargs; i++) link_uses(g, e->call.args[i], user);
        return;
    case RX_IF:
    case RX_SEQ:
    case RX_FUNCTION:
        /* nested scopes may read any earlier var: keep every earlier binding as it is */
        for (int i = 0; i < user; i++) g->nodes[i].external = 1;
        return;
    default: return;
    }
}

static int find_root(block_graph *g, int i) {
    while (g->nodes[i].parent != i) {
        g->nodes[i].parent = g->nodes[g->nodes[i].parent].parent;
        i = g->nodes[i].parent;
    }
    return i;
}

static int lca(block_graph *g, int a, int b) {
    while (a != b) {
        if (a < 0 || b < 0) return -1;
        if (g->nodes[a].depth >= g->nodes[b].depth) a = g->nodes[a].ipdom;
        else b = g->nodes[b].ipdom;
    }
    return a;
}

/* Post-dominators, from the last binding backwards (consumers come later). */
static void compute_post_dominators(block_graph *g) {
    for (int i = g->n - 1; i >= 0; i--) {
        fnode *n = &g->nodes[i];
        int d = -1;
        if (!n->external && n->ncons > 0) {
            d = n->consumers[0];
            for (int k = 1; k < n->ncons && d >= 0; k++) d = lca(g, d, n->consumers[k]);
        }
        n->ipdom = d;
        n->depth = d < 0 ? 1 : g->nodes[d].depth + 1;
    }
}

typedef int (*path_cond)(mlcc_op_pattern group_kind, int is_sink);

/* Every node on a path from src (exclusive) to sink (inclusive) satisfies cond with its
 * group's pattern. */
static int check_path_from(block_graph *g, int node, int sink, path_cond cond, char *visited) {
    if (visited[node]) return 1;
    visited[node] = 1;
    if (!cond(g->nodes[find_root(g, node)].group_pattern, node == sink)) return 0;
    if (node == sink) return 1;
    for (int k = 0; k < g->nodes[node].ncons; k++)
        if (!check_path_from(g, g->nodes[node].consumers[k], sink, cond, visited)) return 0;
    return 1;
}

static int check_path(block_graph *g, int src, int sink, path_cond cond) {
    char *visited = mlcc_xcalloc((size_t)g->n + 1, 1);
    int ok = 1;
    for (int k = 0; ok && k < g->nodes[src].ncons; k++) ok = check_path_from(g, g->nodes[src].consumers[k], sink, cond, visited);
    free(visited);
    return ok;
}

/* The max own pattern of the nodes between src (exclusive) and sink (inclusive): the pattern
 * of the post-dominance relation, as TVM's edge patterns combine. */
static mlcc_op_pattern path_pattern_from(block_graph *g, int node, int sink, char *visited) {
    if (visited[node]) return OP_PATTERN_ELEMWISE;
    visited[node] = 1;
    mlcc_op_pattern p = g->nodes[node].pattern;
    if (node == sink) return p;
    for (int k = 0; k < g->nodes[node].ncons; k++) {
        mlcc_op_pattern q = path_pattern_from(g, g->nodes[node].consumers[k], sink, visited);
        if (q > p) p = q;
    }
    return p;
}

static mlcc_op_pattern dom_pattern(block_graph *g, int src, int sink) {
    char *visited = mlcc_xcalloc((size_t)g->n + 1, 1);
    mlcc_op_pattern p = OP_PATTERN_ELEMWISE;
    for (int k = 0; k < g->nodes[src].ncons; k++) {
        mlcc_op_pattern q = path_pattern_from(g, g->nodes[src].consumers[k], sink, visited);
        if (q > p) p = q;
    }
    free(visited);
    return p;
}

static void merge_into(block_graph *g, int node, int target_root) {
    int r = find_root(g, node);
    if (r == target_root) return;
    fnode *t = &g->nodes[target_root], *s = &g->nodes[r];
    s->parent = target_root;
    t->group_size += s->group_size;
    if (s->group_pattern > t->group_pattern) t->group_pattern = s->group_pattern;
}

static void commit_from(block_graph *g, int node, int sink, int target, char *visited) {
    if (node == sink || visited[node]) return;
    visited[node] = 1;
    merge_into(g, node, target);
    for (int k = 0; k < g->nodes[node].ncons; k++) commit_from(g, g->nodes[node].consumers[k], sink, target, visited);
}

/* Merges src and everything between it and sink into sink's group. */
static void commit_fuse(block_graph *g, int src, int sink) {
    char *visited = mlcc_xcalloc((size_t)g->n + 1, 1);
    commit_from(g, src, sink, find_root(g, sink), visited);
    free(visited);
}

/* The size the merged group would have (src's group, the nodes in between, sink's group). */
static int merged_size(block_graph *g, int src, int sink) {
    return g->nodes[find_root(g, src)].group_size + g->nodes[find_root(g, sink)].group_size + 1;
}

static int cond_upto_broadcast(mlcc_op_pattern k, int is_sink) {
    (void)is_sink;
    return k <= OP_PATTERN_BROADCAST;
}

static int cond_into_injective_or_reduce(mlcc_op_pattern k, int is_sink) {
    if (!is_sink) return k <= OP_PATTERN_INJECTIVE;
    return k <= OP_PATTERN_BROADCAST || k == OP_PATTERN_COMM_REDUCE || k == OP_PATTERN_INJECTIVE ||
           k == OP_PATTERN_OUT_EWISE_FUSABLE;
}

static int cond_upto_injective(mlcc_op_pattern k, int is_sink) {
    (void)is_sink;
    return k <= OP_PATTERN_INJECTIVE;
}

/* A dequantize PrimFunc (op/quantize.c marks it) goes into the matmul that is its only
 * consumer before the pattern rules run (they would keep an injective producer out of an
 * out-ewise-fusable group): the fused kernel then reads the packed weight, as MLC LLM's
 * FuseDequantizeMatmulEwise arranges. */
static void fuse_dequantize(block_graph *g) {
    for (int i = 0; i < g->n; i++) {
        fnode *n = &g->nodes[i];
        if (n->external || n->ncons != 1 || n->pattern == OP_PATTERN_OPAQUE) continue;
        mlcc_prim_func *f = irmod_get_prim(g->mod, n->b.value->call.args[0]->var.name);
        mlcc_expr *mark = f ? prim_func_get_attr(f, "mlcc.dequantize") : NULL;
        int c = n->consumers[0];
        if (mark && g->nodes[c].pattern == OP_PATTERN_OUT_EWISE_FUSABLE && find_root(g, c) == c) commit_fuse(g, i, c);
    }
}

static void partition(block_graph *g) {
    fuse_dequantize(g);
    for (int phase = 0; phase < 2; phase++)
        for (int i = 0; i < g->n; i++) {
            fnode *n = &g->nodes[i];
            int d = n->ipdom;
            mlcc_op_pattern gp = g->nodes[find_root(g, i)].group_pattern;
            if (d < 0 || gp == OP_PATTERN_OPAQUE || n->pattern == OP_PATTERN_OPAQUE) continue;
            if (g->nodes[d].pattern == OP_PATTERN_OPAQUE) continue;
            if (find_root(g, i) == find_root(g, d)) continue;
            if (merged_size(g, i, d) > MAX_GROUP_NODES) continue;
            mlcc_op_pattern dp = dom_pattern(g, i, d);
            if (gp == OP_PATTERN_OUT_EWISE_FUSABLE) {
                if (phase == 0 && dp == OP_PATTERN_ELEMWISE && check_path(g, i, d, cond_upto_broadcast)) commit_fuse(g, i, d);
            } else if (gp <= OP_PATTERN_BROADCAST) {
                if (phase == 0 && (dp <= OP_PATTERN_INJECTIVE || dp == OP_PATTERN_COMM_REDUCE) &&
                    check_path(g, i, d, cond_into_injective_or_reduce))
                    commit_fuse(g, i, d);
            } else if (gp == OP_PATTERN_INJECTIVE) {
                if (phase == 1 && check_path(g, i, d, cond_upto_injective)) commit_fuse(g, i, d);
            }
        }
}

/* ---- rewriting ---- */

typedef struct fuse_state {
    mlcc_ir_module *out;
} fuse_state;

/* The group's inputs: vars from outside it, and constants (which become parameters too, so the
 * fused kernel reads them like any other tensor). */
static void collect_inputs(block_graph *g, const rx_expr *e, int root, rx_expr ***ins, int *nin) {
    switch (e->kind) {
    case RX_CONSTANT:
    case RX_VAR:
    case RX_DATAFLOW_VAR: {
        mlcc_u64map_entry *en = u64map_find(&g->index, (uint64_t)(uintptr_t)e);
        if (en && find_root(g, (int)en->value.i) == root) return; /* produced inside the group */
        for (int i = 0; i < *nin; i++)
            if ((*ins)[i] == e) return;
        *ins = mlcc_xrealloc(*ins, sizeof(rx_expr *) * (size_t)(*nin + 1));
        (*ins)[(*nin)++] = (rx_expr *)e;
        return;
    }
    case RX_TUPLE:
        for (int i = 0; i < e->tuple.n; i++) collect_inputs(g, e->tuple.fields[i], root, ins, nin);
        return;
    case RX_CALL:
        for (int i = 0; i < e->call.nargs; i++) collect_inputs(g, e->call.args[i], root, ins, nin);
        return;
    default: return;
    }
}

/* The Primitive function for the group rooted at `root`; returns the call replacing it. */
static rx_expr *make_group_function(fuse_state *st, block_graph *g, int root) {
    rx_expr **ins = NULL;
    int nin = 0;
    mlcc_strbuf name = STRBUF_INIT;
    sb_append(&name, "fused");
    for (int i = 0; i < g->n; i++) {
        if (find_root(g, i) != root) continue;
        collect_inputs(g, g->nodes[i].b.value, root, &ins, &nin);
        sb_printf(&name, "_%s", g->nodes[i].b.value->call.args[0]->var.name);
    }
    /* parameters: fresh vars standing for the inputs */
    mlcc_u64map subst;
    u64map_init(&subst);
    rx_expr **params = ir_alloc(sizeof(rx_expr *) * (size_t)(nin + 1));
    for (int i = 0; i < nin; i++) {
        params[i] = rx_var(ins[i]->kind == RX_CONSTANT ? "cst" : ins[i]->var.name, ins[i]->sinfo);
        u64map_set_p(&subst, ins[i], params[i]);
    }
    rx_block blk;
    blk.is_dataflow = 1;
    blk.n = 0;
    blk.bindings = ir_alloc(sizeof(rx_binding) * (size_t)(g->n + 1));
    rx_expr *result = NULL;
    for (int i = 0; i < g->n; i++) {
        if (find_root(g, i) != root) continue;
        rx_binding b = g->nodes[i].b;
        rx_expr **args = ir_alloc(sizeof(rx_expr *) * (size_t)(b.value->call.args[1]->tuple.n + 1));
        rx_expr *tuple = b.value->call.args[1];
        for (int k = 0; k < tuple->tuple.n; k++) {
            rx_expr *a = tuple->tuple.fields[k];
            rx_expr *to = u64map_get_p(&subst, a);
            args[k] = to ? to : a;
        }
        rx_expr *nt = rx_tuple(args, tuple->tuple.n);
        rx_expr *call = rx_call(b.value->call.callee, (rx_expr *[]){b.value->call.args[0], nt}, 2, b.value->call.attrs,
                                b.value->call.sinfo_args, b.value->call.nsinfo_args);
        call = rx_with_sinfo(call, b.value->sinfo);
        rx_expr *v = i == root ? rx_var("gv", b.var->sinfo) : rx_dataflow_var(b.var->var.name, b.var->sinfo);
        u64map_set_p(&subst, b.var, v);
        rx_binding nb = {v, call, NULL};
        blk.bindings[blk.n++] = nb;
        if (i == root) result = v;
    }
    u64map_free(&subst);
    rx_attrs attrs = rx_attrs_set_int((rx_attrs){NULL, 0}, "Primitive", 1);
    rx_expr *fn = rx_function_new(params, nin, rx_seq(&blk, 1, result), result->sinfo, attrs);
    const char *fname = irmod_unique_name(st->out, sb_cstr(&name));
    sb_free(&name);
    irmod_add_graph(st->out, fname, fn);
    rx_expr *gv = rx_global_var(fname);
    gv->sinfo = fn->sinfo;
    rx_expr *c = rx_call(gv, ins, nin, (rx_attrs){NULL, 0}, NULL, 0);
    free(ins);
    return rx_with_sinfo(c, result->sinfo);
}

static rx_block fuse_block(fuse_state *st, const rx_block *blk) {
    block_graph g;
    memset(&g, 0, sizeof g);
    g.mod = st->out;
    g.n = blk->n;
    g.nodes = mlcc_xcalloc((size_t)blk->n + 1, sizeof(fnode));
    u64map_init(&g.index);
    for (int i = 0; i < blk->n; i++) {
        fnode *n = &g.nodes[i];
        n->b = blk->bindings[i];
        n->pattern = binding_pattern(st->out, &n->b);
        n->external = n->b.var->kind == RX_VAR;
        n->parent = i;
        n->group_pattern = n->pattern;
        n->group_size = 1;
        link_uses(&g, n->b.value, i); /* reads only earlier bindings, indexed already */
        u64map_upsert(&g.index, (uint64_t)(uintptr_t)n->b.var, NULL)->value.i = i;
    }
    compute_post_dominators(&g);
    partition(&g);

    rx_block out;
    out.is_dataflow = blk->is_dataflow;
    out.n = 0;
    out.bindings = ir_alloc(sizeof(rx_binding) * (size_t)(blk->n + 1));
    /* a group's root is the last of its nodes in binding order (it post-dominates the rest) */
    for (int i = 0; i < g.n; i++) {
        int r = find_root(&g, i);
        if (g.nodes[r].group_size < 2) {
            out.bindings[out.n++] = g.nodes[i].b;
        } else if (r == i) {
            rx_binding b = {g.nodes[i].b.var, make_group_function(st, &g, r), NULL};
            out.bindings[out.n++] = b;
        }
    }
    for (int i = 0; i < g.n; i++) free(g.nodes[i].consumers);
    free(g.nodes);
    u64map_free(&g.index);
    return out;
}

mlcc_ir_module *pass_fuse_ops(const mlcc_ir_module *m, void *ctx) {
    (void)ctx;
    fuse_state st = {irmod_copy(m)};
    for (int i = 0; i < m->n; i++) {
        const irmod_entry *e = &m->entries[i];
        if (e->kind != IRMOD_GRAPH || rx_attrs_int(e->graph->func.attrs, "Primitive", 0)) continue;
        rx_expr *body = e->graph->func.body;
        if (body->kind != RX_SEQ) continue;
        rx_block *blocks = ir_alloc(sizeof(rx_block) * (size_t)(body->seq.nblocks + 1));
        for (int b = 0; b < body->seq.nblocks; b++)
            blocks[b] = body->seq.blocks[b].is_dataflow ? fuse_block(&st, &body->seq.blocks[b]) : body->seq.blocks[b];
        rx_expr *seq = rx_seq(blocks, body->seq.nblocks, body->seq.body);
        rx_expr *f = e->graph;
        irmod_set_graph(st.out, e->name, rx_function_new(f->func.params, f->func.nparams, seq, f->func.ret, f->func.attrs));
    }
    return st.out;
}
