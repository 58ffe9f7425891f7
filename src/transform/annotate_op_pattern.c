/* annotate_op_pattern.c - classifies each PrimFunc for fusion, as TVM's AnalyzeOpPatternKind:
 *
 * per block (one store expected), each load is compared with the store's indices:
 *   elementwise  the same index vars        B[i, j] = A[i, j]
 *   broadcast    a subsequence of them      C[i, j] = A[j]   (unit dims read at 0 skipped)
 *   injective    only store vars used       B[i, j] = A[j, i], A[(i * 8 + j) // 64]
 * a block with loads outside that (reduction over k) is: a multiply-accumulate into its own
 * output -> out-ewise-fusable (matmul); a pure reduction (reduce vars used directly) ->
 * comm-reduce; otherwise out-ewise-fusable; no reduce axis -> opaque. The function's kind is
 * the max over blocks, except that an output block after a comm-reduce makes the whole
 * out-ewise-fusable (softmax, norms). No blocks at all: opaque. */
#include <string.h>

#include "ir/functor.h"
#include "transform/pass.h"

typedef struct access {
    mlcc_buffer *buffer;
    mlcc_expr **indices;
    int n;
} access;

/* Loads per block the analysis follows (more: opaque). A k-quant dequantize reads each byte
 * through a select tree, so one value can mean ~70 load visits (Q5_K's fifth bit). */
enum { MAX_LOADS = 128 };

typedef struct block_scan {
    access loads[MAX_LOADS];
    int nloads;
    access store;
    int nstores, store_conflict, too_many;
} block_scan;

static int same_indices(mlcc_expr **a, int na, mlcc_expr **b, int nb) {
    if (na != nb) return 0;
    for (int i = 0; i < na; i++)
        if (a[i] != b[i]) return 0;
    return 1;
}

static int scan_expr(ir_visitor *v, mlcc_expr *e) {
    block_scan *s = v->ctx;
    if (e->kind == EXPR_LOAD) {
        if (s->nloads < MAX_LOADS) {
            access a = {e->load.buffer, e->load.indices, e->load.nidx};
            s->loads[s->nloads++] = a;
        } else {
            s->too_many = 1;
        }
    }
    return 1;
}

static int scan_stmt(ir_visitor *v, mlcc_stmt *st) {
    block_scan *s = v->ctx;
    if (st->kind == STMT_STORE) {
        if (s->nstores && !same_indices(s->store.indices, s->store.n, st->store.indices, st->store.nidx))
            s->store_conflict = 1;
        s->store.buffer = st->store.buffer;
        s->store.indices = st->store.indices;
        s->store.n = st->store.nidx;
        s->nstores++;
    }
    return 1;
}

static int is_broadcast(const access *st, const access *ld) {
    int j = 0;
    for (int i = 0; i < ld->n; i++) {
        if (expr_is_int(ld->buffer->shape[i], 1) && expr_is_int(ld->indices[i], 0)) continue;
        while (j < st->n && st->indices[j] != ld->indices[i]) j++;
        if (j == st->n) return 0;
    }
    return 1;
}

typedef struct var_check {
    const access *st;
    int bad;
} var_check;

static int check_var(ir_visitor *v, mlcc_expr *e) {
    var_check *c = v->ctx;
    if (e->kind != EXPR_VAR) return 1;
    int found = 0;
    for (int i = 0; i < c->st->n; i++) found |= c->st->indices[i] == e;
    if (!found) c->bad = 1;
    return 1;
}

static int is_injective(const access *st, const access *ld) {
    for (int i = 0; i < st->n; i++)
        if (st->indices[i]->kind != EXPR_VAR) return 0;
    var_check c = {st, 0};
    ir_visitor v = {check_var, NULL, &c};
    for (int i = 0; i < ld->n; i++) ir_visit_expr(&v, ld->indices[i]);
    return !c.bad;
}

static mlcc_expr *strip_cast(mlcc_expr *e) {
    while (e->kind == EXPR_CAST) e = e->un.a;
    return e;
}

/* Some store var does not appear in the load's indices: the load is reused across it. */
static int allows_reuse(const access *st, mlcc_expr *load) {
    for (int i = 0; i < st->n; i++) {
        if (st->indices[i]->kind != EXPR_VAR) return 0;
    }
    for (int i = 0; i < st->n; i++) {
        int used = 0;
        for (int k = 0; k < load->load.nidx; k++) used |= expr_uses_var(load->load.indices[k], st->indices[i]);
        if (!used) return 1;
    }
    return 0;
}

/* C[i, j] = C[i, j] + A[..] * B[..] with both factors reused across some output axis. */
static int is_fma(const mlcc_stmt *body) {
    if (body->kind != STMT_STORE) return 0;
    mlcc_expr *v = strip_cast(body->store.value);
    if (v->kind != EXPR_ADD) return 0;
    mlcc_expr *acc = strip_cast(v->bin.a), *mul = strip_cast(v->bin.b);
    if (mul->kind != EXPR_MUL || acc->kind != EXPR_LOAD || acc->load.buffer != body->store.buffer ||
        !same_indices(acc->load.indices, acc->load.nidx, body->store.indices, body->store.nidx))
        return 0;
    mlcc_expr *a = strip_cast(mul->bin.a), *b = strip_cast(mul->bin.b);
    if (a->kind != EXPR_LOAD || b->kind != EXPR_LOAD) return 0;
    access st = {body->store.buffer, body->store.indices, body->store.nidx};
    return allows_reuse(&st, a) && allows_reuse(&st, b);
}

/* Every index that mentions a reduce var is exactly that var. */
static int is_pure_reduce(const mlcc_block *b, const access *ld) {
    for (int i = 0; i < ld->n; i++)
        for (int k = 0; k < b->niters; k++) {
            if (b->iters[k].type != ITER_REDUCE) continue;
            if (expr_uses_var(ld->indices[i], b->iters[k].var) && ld->indices[i] != b->iters[k].var) return 0;
        }
    return 1;
}

typedef struct analysis {
    const mlcc_prim_func *f;
    mlcc_op_pattern kind;
    int nblocks;
} analysis;

static int is_output_block(const analysis *a, const mlcc_block *b) {
    for (int w = 0; w < b->nwrites; w++)
        for (int p = 0; p < a->f->nparams; p++)
            if (a->f->params[p].buffer == b->writes[w].buffer) return 1;
    return 0;
}

static mlcc_op_pattern max_kind(mlcc_op_pattern a, mlcc_op_pattern b) {
    return a > b ? a : b;
}

static void analyze_block(analysis *a, const mlcc_block *b) {
    a->nblocks++;
    block_scan s;
    memset(&s, 0, sizeof s);
    ir_visitor v = {scan_expr, scan_stmt, &s};
    ir_visit_stmt(&v, b->body);
    if (!s.nstores || s.store_conflict || s.too_many) {
        a->kind = OP_PATTERN_OPAQUE;
        return;
    }
    mlcc_op_pattern pair = OP_PATTERN_ELEMWISE;
    int has_elemwise = 0;
    for (int i = 0; i < s.nloads; i++) {
        const access *ld = &s.loads[i];
        if (same_indices(s.store.indices, s.store.n, ld->indices, ld->n)) {
            has_elemwise = 1;
        } else if (is_broadcast(&s.store, ld)) {
            pair = max_kind(pair, OP_PATTERN_BROADCAST);
        } else if (is_injective(&s.store, ld)) {
            pair = max_kind(pair, OP_PATTERN_INJECTIVE);
        } else {
            pair = OP_PATTERN_OPAQUE;
            break;
        }
    }
    if (pair == OP_PATTERN_BROADCAST && has_elemwise) pair = OP_PATTERN_ELEMWISE;
    if (pair != OP_PATTERN_OPAQUE) {
        if (is_output_block(a, b) && a->kind == OP_PATTERN_COMM_REDUCE) a->kind = OP_PATTERN_OUT_EWISE_FUSABLE;
        else a->kind = max_kind(a->kind, pair);
        return;
    }
    int has_reduce = 0;
    for (int k = 0; k < b->niters; k++) has_reduce |= b->iters[k].type == ITER_REDUCE;
    if (!has_reduce) {
        a->kind = OP_PATTERN_OPAQUE;
        return;
    }
    if (is_fma(b->body)) {
        a->kind = max_kind(a->kind, OP_PATTERN_OUT_EWISE_FUSABLE);
        return;
    }
    for (int i = 0; i < s.nloads; i++)
        if (!is_pure_reduce(b, &s.loads[i])) {
            a->kind = max_kind(a->kind, OP_PATTERN_OUT_EWISE_FUSABLE);
            return;
        }
    a->kind = max_kind(a->kind, OP_PATTERN_COMM_REDUCE);
}

static int visit_blocks(ir_visitor *v, mlcc_stmt *s) {
    if (s->kind != STMT_BLOCK_REALIZE) return 1;
    analyze_block(v->ctx, s->realize.block);
    return 0; /* the block's body was scanned as a unit */
}

mlcc_op_pattern analyze_op_pattern(const mlcc_prim_func *f) {
    analysis a = {f, OP_PATTERN_ELEMWISE, 0};
    ir_visitor v = {NULL, visit_blocks, &a};
    ir_visit_stmt(&v, f->body);
    return a.nblocks ? a.kind : OP_PATTERN_OPAQUE;
}

const char *op_pattern_name(mlcc_op_pattern p) {
    switch (p) {
    case OP_PATTERN_ELEMWISE: return "elementwise";
    case OP_PATTERN_BROADCAST: return "broadcast";
    case OP_PATTERN_INJECTIVE: return "injective";
    case OP_PATTERN_COMM_REDUCE: return "comm-reduce";
    case OP_PATTERN_OUT_EWISE_FUSABLE: return "out-ewise-fusable";
    case OP_PATTERN_TUPLE: return "tuple";
    case OP_PATTERN_OPAQUE: return "opaque";
    }
    return "?";
}

mlcc_ir_module *pass_annotate_op_pattern(const mlcc_ir_module *m, void *ctx) {
    (void)ctx;
    mlcc_ir_module *out = irmod_copy(m);
    for (int i = 0; i < out->n; i++) {
        if (out->entries[i].kind != IRMOD_PRIM) continue;
        mlcc_prim_func *f = prim_func_copy(out->entries[i].prim);
        prim_func_set_attr(f, "op_pattern", ir_int(analyze_op_pattern(f)));
        out->entries[i].prim = f;
    }
    return out;
}
