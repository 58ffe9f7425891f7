/* half_activations.c - float16 activations between kernels and the float16 projections of a
 * prefill (CUDA build, issue 17).
 *
 * cuBLASLt multiplies float16 operands, so mlcc.cuda.linear_f16 used to round each float32 x
 * to half in a kernel of its own before the matmul, and wrote y in float32 for the next kernel
 * to read. At 2048 tokens of the Llama-3-8B shape that rounding was ~120 us a layer and the
 * gate_up output alone 235 MB written and read again in float32. After fuse_tir, in the
 * prefill functions (name containing "prefill"; decode below):
 *
 *   - a kernel output read only as the x of mlcc.cuda.linear_f16[_add] (the norms before
 *     qkv_proj and gate_up_proj, silu * up before down_proj, the final norm before lm_head)
 *     is written as float16 by that kernel: its PrimFunc stores cast(float16, value);
 *   - the output of the KV cache's attention_qkv read only (through views) as the x of
 *     projections (o_proj) is float16: the flash kernel writes it so, and the projection's
 *     rounding of x goes (other paths round their float32 output in a kernel, kv_cache.c);
 *   - the output of mlcc.cuda.linear_f16 (not _add: its sum is the float32 residual stream)
 *     read only by kernels (call_tir: q/k/v's slices, silu * up) or as the qkv of the KV
 *     cache's attention_qkv (which reads a half qkv: its flash path rotates and appends it in
 *     one kernel, runtime/kv_cache.c) becomes float16: cuBLASLt rounds in its epilogue and the
 *     readers load cast(float32, value); only where the chain of readers ends as projections'
 *     x (ends_in_projections: not the residual stream, not the soft-capped logits);
 *   - the residual stream: the sum of mlcc.cuda.linear_f16_add (o_proj + r, down + r) read only
 *     by kernels, as projections' x and as the next sum's r is float16 (cuBLASLt adds r in its
 *     epilogue in float32 and rounds once; C has D's dtype, so the runtime copies a residual of
 *     the other dtype into y first: the first sum reads the float32 embeddings). The norms then
 *     read 2 bytes a value instead of 4, and each sum writes and reads back half the bytes: at
 *     2048 tokens of the Llama-3-8B shape 64 MB a layer less. Each sum is rounded to half (2^-11
 *     relative) where float32 kept it, as Hugging Face's and MLC LLM's float16 models do; decode
 *     keeps its float32 stream. A sum read by anything else (a view, the function's result)
 *     stays float32.
 *
 * Arithmetic stays float32 inside every kernel and every matmul accumulates in float32; what
 * changes is where values are rounded to half: x at the same point as before (bit for bit the
 * old rounding), gate/up and q/k/v after the matmul (new: relative 2^-11 on those values).
 * A PrimFunc called with retyped operands is cloned (its other calls keep float32). Kernels
 * that read their own output, or write it in a reduction's init, keep float32 outputs.
 *
 * In decode functions (batch_decode, whose steps take 1..64 rows) two values become float16,
 * each where every reader is a float16 projection's x: silu * up, which fuse_gemv's gate_up call
 * writes (for down_proj), and the KV cache's attention output (for o_proj; the decode and flash
 * kernels store it rounded). At batch 64 each was rounded for cuBLASLt by a kernel of its own
 * (two launches a layer, and the float32 copies written and read back); at 1-2 rows the block
 * GEMV reads the half x as it is, so batch 1 gains the same rounding, not a kernel, and the
 * decode and prefill of a token round at the same points. Everything else in decode (q/k/v,
 * the residual stream, the norms folded into the GEMVs) stays float32.
 *
 * 4-bit models (session 35): in prefill functions mlcc.cuda.linear_q4f16[_zp8][_add] counts as
 * a projection as linear_f16[_add] does, by the same rules (x, q/k/v and gate_up's outputs, the
 * residual sums). For a prompt's rows its runtime dequantizes W to float16 and takes the
 * float16 path, which reads and writes the half values as they are; at a short prompt's rows it
 * widens x and r and rounds y around its packed kernels (mlcc_cuda_linear_q4_mixed). Before, the
 * 4-bit prefill ran float32 activations: every cuBLASLt call rounded its x in a kernel of its own
 * and silu * up read and wrote float32 (H200, Llama-3-8B q4f16_1: TTFT 16.9 / 17.1 ms at 512
 * tokens against 19.7 / 20.0, 53.6 against 58.9 at 2048). Decode functions keep the 4-bit
 * projections float32: their GEMVs round x to int8 themselves.
 *
 * MLCC_CUDA_HALF_ACT=0 turns the pass off, =x keeps projection outputs float32 (the residual
 * sums too); MLCC_CUDA_HALF_RESIDUAL=0 keeps the residual sums float32; MLCC_CUDA_HALF_DECODE=0
 * keeps decode functions float32; MLCC_CUDA_HALF_Q4=0 keeps 4-bit prefills float32. */
#include <stdlib.h>
#include <string.h>

#include "ir/functor.h"
#include "op/op.h"
#include "support/alloc.h"
#include "support/error.h"
#include "support/hashmap.h"
#include "support/strbuf.h"
#include "transform/cuda_projection.h"
#include "transform/graph_rewrite.h"
#include "transform/pass.h"

enum { MAX_OPERANDS = 64 };

/* Whether v calls a CUDA projection of these weights, and which form (cuda_projection.h) */
static int projection_of(const rx_expr *v, int q4, cuda_proj_form *form) {
    cuda_proj_kind kind;
    return cuda_projection_parse(rx_dps_packed_name(v), &kind, form) && (kind != CUDA_PROJ_F16) == q4;
}

static int is_linear_call(const rx_expr *v, int with_add) {
    cuda_proj_form form;
    return projection_of(v, 0, &form) && (form == CUDA_PROJ_PLAIN || (with_add && form == CUDA_PROJ_ADD));
}

/* gate_up with silu * up folded in (transform/fuse_gemv.c: decode functions) */
static int is_silu_projection(const rx_expr *v) {
    cuda_proj_form form;
    return projection_of(v, 0, &form) && (form == CUDA_PROJ_SILU || form == CUDA_PROJ_NORM_SILU);
}

static int is_linear_add(const rx_expr *v) {
    cuda_proj_form form;
    return projection_of(v, 0, &form) && form == CUDA_PROJ_ADD;
}

/* A 4-bit projection, mlcc.cuda.linear_q4f16[_zp8] (x, q_weight, q_scale) or its _add (+ r): its
 * runtime dequantizes W to float16 for a prompt's rows and takes the float16 path, which reads
 * and writes half values as they are (mlcc_cuda_linear_q4_mixed). Prefill functions only:
 * decode's 4-bit GEMVs round a float32 x to int8 themselves. */
static int is_q4_linear(const rx_expr *v, int with_add) {
    cuda_proj_form form;
    return projection_of(v, 1, &form) && (form == CUDA_PROJ_PLAIN || (with_add && form == CUDA_PROJ_ADD));
}

static int is_call_tir(const rx_expr *v) {
    return v && v->kind == RX_CALL && rx_is_op_call(v, "call_tir") && v->call.nargs == 2 &&
           v->call.args[0]->kind == RX_GLOBAL_VAR && v->call.args[1]->kind == RX_TUPLE;
}

static int is_f32_dense(const rx_sinfo *s) {
    if (!s || s->kind != SI_TENSOR || s->ndim < 1 || !s->shape || !dtype_eq(s->dtype, DT_F32)) return 0;
    for (int d = 0; d < s->ndim; d++)
        if (!s->shape[d]) return 0;
    return 1;
}

/* ---- the scan: which vars of the prefill functions become float16 ---- */

typedef struct use_info {
    int total;      /* reads anywhere */
    int linear_x;   /* reads as the x of a float16 projection */
    int kernel_arg; /* reads that take float16: operands of call_tir, attention_qkv's qkv */
    int residual;   /* reads as the residual r of mlcc.cuda.linear_f16_add */
} use_info;

typedef struct scan {
    mlcc_u64map uses;     /* var -> use_info * */
    mlcc_u64map half;     /* var -> 1: its value becomes float16 */
    int outputs_too;      /* projection outputs too (not only x) */
    int residual_too;     /* the residual stream too (linear_f16_add's sums) */
    int q4;               /* the function being scanned counts 4-bit projections (a prefill's) */
} scan;

/* a projection whose x, y (and r) may be float16 in the function being scanned */
static int is_projection(const scan *s, const rx_expr *v, int with_add) {
    return is_linear_call(v, with_add) || (s->q4 && is_q4_linear(v, with_add));
}

static int is_projection_add(const scan *s, const rx_expr *v) {
    return is_linear_add(v) || (s->q4 && is_q4_linear(v, 1) && !is_q4_linear(v, 0));
}

/* the residual r of a projection's _add form (its last operand), or NULL */
static const rx_expr *residual_operand(const scan *s, const rx_expr *v) {
    if (!is_projection_add(s, v)) return NULL;
    const rx_expr *t = v->call.args[1];
    int n = is_linear_add(v) ? 3 : 4;
    return t->tuple.n == n ? t->tuple.fields[n - 1] : NULL;
}

static use_info *info_of(scan *s, const rx_expr *var) {
    use_info *u = u64map_get_p(&s->uses, var);
    if (!u) {
        u = mlcc_xmalloc(sizeof *u);
        memset(u, 0, sizeof *u);
        u64map_set_p(&s->uses, var, u);
    }
    return u;
}

static int is_packed(const rx_expr *v, const char *op, const char *name) {
    return v && v->kind == RX_CALL && rx_is_op_call(v, op) && v->call.nargs >= 1 && v->call.args[0]->kind == RX_STRING_IMM &&
           !strcmp(v->call.args[0]->str, name);
}

/* attention_qkv(cache, layer, qkv, rope_table): the KV cache's attention on the combined
 * projection output (transform/attention_qkv.c) */
static int is_attention_qkv(const rx_expr *v) {
    const char *f = rx_dps_packed_name(v);
    return f && !strcmp(f, "mlcc.kv_cache.attention_qkv") && v->call.args[1]->tuple.n == 4;
}

static void count_reads(scan *s, const rx_expr *e) {
    if (!e) return;
    switch (e->kind) {
    case RX_VAR:
    case RX_DATAFLOW_VAR: info_of(s, e)->total++; return;
    case RX_TUPLE:
        for (int i = 0; i < e->tuple.n; i++) count_reads(s, e->tuple.fields[i]);
        return;
    case RX_TUPLE_GET_ITEM: count_reads(s, e->get_item.tuple); return;
    case RX_CALL:
        count_reads(s, e->call.callee);
        for (int i = 0; i < e->call.nargs; i++) count_reads(s, e->call.args[i]);
        if (is_projection(s, e, 1)) {
            const rx_expr *t = e->call.args[1], *r = residual_operand(s, e);
            if (t->tuple.n >= 2 && rx_is_var(t->tuple.fields[0])) info_of(s, t->tuple.fields[0])->linear_x++;
            if (r && rx_is_var(r)) info_of(s, r)->residual++;
        } else if (is_call_tir(e)) {
            const rx_expr *t = e->call.args[1];
            for (int i = 0; i < t->tuple.n; i++)
                if (rx_is_var(t->tuple.fields[i])) info_of(s, t->tuple.fields[i])->kernel_arg++;
        } else if (is_attention_qkv(e)) {
            const rx_expr *qkv = e->call.args[1]->tuple.fields[2];
            if (rx_is_var(qkv)) info_of(s, qkv)->kernel_arg++;
        }
        return;
    case RX_IF:
        count_reads(s, e->if_.cond);
        count_reads(s, e->if_.then_);
        count_reads(s, e->if_.else_);
        return;
    case RX_SEQ:
        for (int i = 0; i < e->seq.nblocks; i++)
            for (int j = 0; j < e->seq.blocks[i].n; j++) count_reads(s, e->seq.blocks[i].bindings[j].value);
        count_reads(s, e->seq.body);
        return;
    case RX_FUNCTION: count_reads(s, e->func.body); return;
    default: return;
    }
}

/* how many times e reads var */
static int reads_of(const rx_expr *e, const rx_expr *var) {
    if (!e) return 0;
    int n = 0;
    switch (e->kind) {
    case RX_VAR:
    case RX_DATAFLOW_VAR: return e == var;
    case RX_TUPLE:
        for (int i = 0; i < e->tuple.n; i++) n += reads_of(e->tuple.fields[i], var);
        return n;
    case RX_TUPLE_GET_ITEM: return reads_of(e->get_item.tuple, var);
    case RX_CALL:
        for (int i = 0; i < e->call.nargs; i++) n += reads_of(e->call.args[i], var);
        return n;
    case RX_IF: return 1000; /* (never in prefill functions) counts as an unknown reader */
    case RX_SEQ: return 1000;
    default: return 0;
    }
}


/* Does var's value end, through a chain of single readers (kernels, view reshapes, the KV
 * cache's attention), as the x of float16 projections? Then rounding it to half only moves a
 * rounding the chain's projection does anyway nearer. A value read twice further down (the
 * residual stream: the next norm and the next add) or by anything else (the function's
 * result, a projection's residual r) is not: so gate_up's output (silu * up -> down's x) and
 * qkv's (slices -> rope -> attention -> o_proj's x) qualify, while a projection whose output
 * is normed into the residual stream (gemma's sandwich norms, or the residual adds left to
 * kernels) or soft-capped into the logits keeps float32. root: var may have several readers. */
static int ends_in_projections(const rx_expr *seq, const scan *s, const rx_expr *var, int root, int depth) {
    const use_info *u = u64map_get_p(&s->uses, var);
    if (!u || u->total == 0 || depth > 24 || (!root && u->total != 1)) return 0;
    int found = 0;
    for (int i = 0; i < seq->seq.nblocks; i++)
        for (int j = 0; j < seq->seq.blocks[i].n; j++) {
            const rx_binding *b = &seq->seq.blocks[i].bindings[j];
            int k = reads_of(b->value, var);
            if (!k) continue;
            found += k;
            const rx_expr *v = b->value;
            if (is_projection(s, v, 1)) {
                const rx_expr *t = v->call.args[1];
                if (k != 1 || t->tuple.fields[0] != var) return 0; /* read as w or r */
                continue;
            }
            int passes = is_call_tir(v) || is_packed(v, "call_packed", "vm.builtin.reshape") ||
                         is_packed(v, "call_dps_packed", "mlcc.kv_cache.attention") ||
                         is_packed(v, "call_dps_packed", "mlcc.kv_cache.attention_rope_q") || /* fuse_rope_q.c's */
                         is_attention_qkv(v);
            if (!passes || b->cast || b->var->kind != RX_DATAFLOW_VAR || !b->var->sinfo || b->var->sinfo->kind != SI_TENSOR ||
                !ends_in_projections(seq, s, b->var, 0, depth + 1))
                return 0;
        }
    return found == u->total; /* every read was a binding's (not the function's result) */
}

/* Whether binding b of a prefill function becomes float16 (the rules at the top of the file) */
static int prefill_half(const scan *s, const rx_expr *seq, const rx_binding *b, const use_info *u) {
    if (is_call_tir(b->value) && u->linear_x == u->total) return 1;
    if (s->outputs_too && is_projection(s, b->value, 0) && u->kernel_arg == u->total && ends_in_projections(seq, s, b->var, 1, 0))
        return 1;
    if (s->outputs_too && is_attention_qkv(b->value) && ends_in_projections(seq, s, b->var, 1, 0))
        return 1; /* the flash kernel writes it as half */
    return s->residual_too && is_projection_add(s, b->value) &&
           u->kernel_arg + u->linear_x + u->residual == u->total; /* the residual stream */
}

/* In decode functions (batch_decode: 1..64 rows a step) only the two values whose rounding for
 * cuBLASLt was a kernel of its own become float16, where every reader is a float16 projection's
 * x: silu * up (gate_up's fused call writes it half, for down_proj) and the attention's output
 * (the decode and flash kernels write it half, for o_proj). At 1-2 rows the block GEMV reads a
 * half x as it is; the rest of decode (q/k/v, the residual stream, the norms folded into the
 * GEMVs) stays float32. */
static int decode_half_value(const scan *s, const rx_expr *seq, const rx_binding *b, const use_info *u) {
    return (is_silu_projection(b->value) && u->linear_x == u->total) ||
           (is_attention_qkv(b->value) && ends_in_projections(seq, s, b->var, 1, 0));
}

/* Marks the float32 values of function body seq that become float16 (prefill's or decode's rules) */
static void decide(scan *s, const rx_expr *seq, int prefill) {
    if (!seq || seq->kind != RX_SEQ) return;
    for (int i = 0; i < seq->seq.nblocks; i++) {
        const rx_block *blk = &seq->seq.blocks[i];
        if (!blk->is_dataflow) continue; /* values leaving a dataflow block stay as they are */
        for (int j = 0; j < blk->n; j++) {
            const rx_binding *b = &blk->bindings[j];
            if (b->cast || b->var->kind != RX_DATAFLOW_VAR || !is_f32_dense(b->var->sinfo)) continue;
            const use_info *u = u64map_get_p(&s->uses, b->var);
            if (!u || u->total == 0) continue;
            if (prefill ? prefill_half(s, seq, b, u) : decode_half_value(s, seq, b, u)) u64map_set_p(&s->half, b->var, (void *)1);
        }
    }
}

static int is_prefill(const char *name) {
    return name && strstr(name, "prefill") != NULL;
}

/* ---- retyping a PrimFunc's operands ---- */

typedef struct retype {
    mlcc_buffer *from[MAX_OPERANDS], *to[MAX_OPERANDS];
    int n;
    int bad; /* a retyped output is read back or written by a reduction's init */
} retype;

static mlcc_buffer *find_new(const retype *r, const mlcc_buffer *b) {
    for (int i = 0; i < r->n; i++)
        if (r->from[i] == b) return r->to[i];
    return NULL;
}

static mlcc_buffer *map_buffer(ir_mutator *m, mlcc_buffer *b) {
    mlcc_buffer *nb = find_new(m->ctx, b);
    return nb ? nb : b;
}

/* loads of a retyped operand read half and widen to float32 at once */
static mlcc_expr *map_expr(ir_mutator *m, mlcc_expr *e) {
    if (e->kind != EXPR_LOAD || !find_new(m->ctx, e->load.buffer)) return NULL;
    mlcc_expr *l = ir_mutate_expr_children(m, e);
    return ir_cast(e->dtype, l);
}

/* stores into a retyped output round the float32 value once */
static mlcc_stmt *map_stmt(ir_mutator *m, mlcc_stmt *s) {
    if (s->kind != STMT_STORE || !find_new(m->ctx, s->store.buffer)) return NULL;
    mlcc_stmt *ns = ir_mutate_stmt_children(m, s);
    return ir_store(ns->store.buffer, ir_cast(ns->store.buffer->dtype, ns->store.value), ns->store.indices, ns->store.nidx);
}

typedef struct out_check {
    const mlcc_buffer *out;
    int read; /* loaded somewhere, or stored by a block's init */
} out_check;

static int check_expr(ir_visitor *v, mlcc_expr *e) {
    out_check *c = v->ctx;
    if (e->kind == EXPR_LOAD && e->load.buffer == c->out) c->read = 1;
    return 1;
}

static int stores_into(mlcc_stmt *s, const mlcc_buffer *b);

static int check_stmt(ir_visitor *v, mlcc_stmt *s) {
    out_check *c = v->ctx;
    if (s->kind == STMT_BLOCK_REALIZE && s->realize.block->init && stores_into(s->realize.block->init, c->out)) c->read = 1;
    return 1;
}

typedef struct store_find {
    const mlcc_buffer *b;
    int found;
} store_find;

static int find_store(ir_visitor *v, mlcc_stmt *s) {
    store_find *f = v->ctx;
    if (s->kind == STMT_STORE && s->store.buffer == f->b) f->found = 1;
    return 1;
}

static int stores_into(mlcc_stmt *s, const mlcc_buffer *b) {
    store_find f = {b, 0};
    ir_visitor v = {NULL, find_store, &f};
    ir_visit_stmt(&v, s);
    return f.found;
}

/* The buffer parameters of f in order: call_tir's operands (inputs, then outputs). */
static int buffer_params(const mlcc_prim_func *f, int *index, int max) {
    int n = 0;
    for (int i = 0; i < f->nparams && n < max; i++)
        if (f->params[i].buffer) index[n++] = i;
    return n;
}

/* A copy of f whose operands flagged in `mask` (by call_tir position) are float16; NULL when
 * an output cannot be retyped. */
static mlcc_prim_func *retyped_func(const mlcc_prim_func *f, const int *mask, int nops, int nin) {
    int index[MAX_OPERANDS];
    if (buffer_params(f, index, MAX_OPERANDS) < nops) return NULL;
    retype r = {.n = 0};
    for (int k = 0; k < nops; k++) {
        if (!mask[k]) continue;
        mlcc_buffer *b = f->params[index[k]].buffer;
        if (!dtype_eq(b->dtype, DT_F32)) return NULL;
        if (k >= nin) {
            out_check c = {b, 0};
            ir_visitor v = {check_expr, check_stmt, &c};
            ir_visit_stmt(&v, f->body);
            if (c.read) return NULL;
        }
        r.from[r.n] = b;
        r.to[r.n] = ir_buffer_scoped(b->name, DT_F16, b->shape, b->ndim, b->scope);
        r.n++;
    }
    mlcc_prim_func *g = prim_func_copy(f);
    for (int k = 0, j = 0; k < nops; k++)
        if (mask[k]) g->params[index[k]].buffer = r.to[j++];
    ir_mutator m = {map_expr, map_stmt, map_buffer, &r};
    g->body = ir_mutate_stmt(&m, f->body);
    return g;
}

/* ---- the rewrite ---- */

typedef struct rewrite_ctx {
    scan *s;
    const mlcc_ir_module *in;
    mlcc_u64map *subst;   /* var -> its float16 replacement (applied by rx_rewrite_module) */
    mlcc_u64map made;     /* the float16 vars this pass made -> 1 */
    mlcc_strmap clones;   /* "<func>/<mask>" -> the clone's global var */
} rewrite_ctx;

static rx_sinfo *as_half(const rx_sinfo *s) {
    return rx_sinfo_tensor(s->shape, s->ndim, DT_F16);
}

/* The global var of f's clone with the operands in mask float16 (made once per mask); NULL
 * when f cannot take them. */
static rx_expr *clone_for(rx_builder *bb, rewrite_ctx *c, const char *name, const int *mask, int nops, int nin) {
    mlcc_strbuf key = STRBUF_INIT;
    sb_printf(&key, "%s/", name);
    for (int k = 0; k < nops; k++) sb_append(&key, mask[k] ? "h" : "f");
    rx_expr *gv = strmap_get_p(&c->clones, sb_cstr(&key));
    if (!gv) {
        const mlcc_prim_func *f = irmod_get_prim(c->in, name);
        mlcc_prim_func *g = f ? retyped_func(f, mask, nops, nin) : NULL;
        if (g) {
            mlcc_strbuf hint = STRBUF_INIT;
            sb_printf(&hint, "%s_f16", name);
            gv = bb_add_prim_func(bb, g, sb_cstr(&hint));
            sb_free(&hint);
            strmap_set_p(&c->clones, sb_cstr(&key), gv);
        }
    }
    sb_free(&key);
    return gv;
}

/* v = call_tir(f, args) with the args this pass made float16 read as such, and its output
 * float16 when out_half (a single tensor output, and f allows it; *out_done says whether it
 * did). v itself when nothing changes; NULL + error when f cannot read a float16 argument. A
 * kernel with several outputs (fuse_add_norm's add + norm, read with the projection's output
 * when MLCC_CUDA_FUSE_ADD=0) takes float16 inputs and keeps its outputs. */
static rx_expr *retype_call_tir(rx_builder *bb, rewrite_ctx *c, rx_expr *v, int out_half, int *out_done) {
    const rx_expr *t = v->call.args[1];
    const rx_sinfo *os = v->call.nsinfo_args == 1 ? v->call.sinfo_args[0] : NULL;
    int nin = t->tuple.n, nout = !os ? 0 : os->kind == SI_TUPLE ? os->nfields : os->kind == SI_TENSOR ? 1 : 0;
    int nops = nin + nout, mask[MAX_OPERANDS] = {0}, any = 0;
    *out_done = 0;
    for (int i = 0; i < nin && i < MAX_OPERANDS; i++) any |= mask[i] = u64map_get_p(&c->made, t->tuple.fields[i]) != NULL;
    if (nout == 0 || nops > MAX_OPERANDS) return any ? NULL : v;
    const char *name = v->call.args[0]->var.name;
    rx_expr *gv = NULL;
    if (out_half && nout == 1) {
        mask[nin] = 1;
        gv = clone_for(bb, c, name, mask, nops, nin);
        mask[nin] = gv != NULL;
        *out_done = gv != NULL;
    }
    if (!gv && any) gv = clone_for(bb, c, name, mask, nops, nin);
    if (!gv) return any ? NULL : v;
    rx_sinfo *out = *out_done ? as_half(os) : v->call.sinfo_args[0];
    return op_call_tir(gv, t->tuple.fields, nin, out);
}

static int rewrite_binding(rx_builder *bb, rx_binding b, void *ctx) {
    rewrite_ctx *c = ctx;
    int half = !b.cast && u64map_get_p(&c->s->half, b.var) != NULL, done = 0;
    rx_expr *v = b.value;
    if (!b.cast && is_call_tir(v)) {
        rx_expr *nv = retype_call_tir(bb, c, v, half, &done);
        if (!nv)
            return mlcc_set_error("half_activations: %s cannot take float16 operands", v->call.args[0]->var.name);
        b.value = nv;
    } else if (half && (is_linear_call(v, 1) || is_q4_linear(v, 1) || is_attention_qkv(v) || is_silu_projection(v))) {
        const rx_expr *t = v->call.args[1];
        b.value = op_call_dps_packed(v->call.args[0]->str, t->tuple.fields, t->tuple.n, as_half(v->call.sinfo_args[0]));
        done = 1;
    } else if (!b.cast && is_packed(v, "call_packed", "vm.builtin.reshape") && v->call.nargs == 3 &&
               u64map_get_p(&c->made, v->call.args[1]) && v->call.nsinfo_args == 1) {
        /* a view of a half value (the attention's output on its way to o_proj) is half */
        b.value = op_call_packed("vm.builtin.reshape", v->call.args + 1, 2, as_half(v->call.sinfo_args[0]));
        done = 1;
    }
    if (!done) {
        bb_emit_binding(bb, b);
        return 0;
    }
    rx_expr *nvar = bb_emit(bb, b.value, b.var->var.name);
    if (!nvar) return mlcc_set_error("half_activations: %s", bb_error(bb));
    u64map_set_p(c->subst, b.var, nvar);
    u64map_set_p(&c->made, nvar, (void *)1);
    return 0;
}

/* MLCC_CUDA_HALF_ACT: 0 off, x only the projections' inputs, else (default) both */
static const char *mode(void) {
    const char *v = getenv("MLCC_CUDA_HALF_ACT");
    return v && *v ? v : "1";
}

/* MLCC_CUDA_HALF_DECODE=0 keeps decode functions float32 */
static int decode_half(void) {
    const char *v = getenv("MLCC_CUDA_HALF_DECODE");
    return !(v && strcmp(v, "0") == 0);
}

/* MLCC_CUDA_HALF_Q4=0 keeps 4-bit models' prefills float32 */
static int q4_half(void) {
    const char *v = getenv("MLCC_CUDA_HALF_Q4");
    return !(v && strcmp(v, "0") == 0);
}

/* MLCC_CUDA_HALF_RESIDUAL=0 keeps the residual stream float32 (with outputs on) */
static int residual_half(void) {
    const char *v = getenv("MLCC_CUDA_HALF_RESIDUAL");
    return !(v && strcmp(v, "0") == 0);
}

mlcc_ir_module *pass_half_activations(const mlcc_ir_module *m, void *ctx) {
    (void)ctx;
    const char *md = mode();
    scan s = {.outputs_too = strcmp(md, "x") != 0};
    s.residual_too = s.outputs_too && residual_half();
    u64map_init(&s.uses);
    u64map_init(&s.half);
    int decode = strcmp(md, "0") != 0 && decode_half();
    if (strcmp(md, "0") != 0)
        for (int i = 0; i < m->n; i++) {
            if (m->entries[i].kind != IRMOD_GRAPH) continue;
            int prefill = is_prefill(m->entries[i].name);
            if (!prefill && !decode) continue;
            s.q4 = prefill && q4_half();
            count_reads(&s, m->entries[i].graph);
            const rx_expr *f = m->entries[i].graph, *body = f->kind == RX_FUNCTION ? f->func.body : f;
            decide(&s, body, prefill);
        }
    mlcc_u64map subst;
    u64map_init(&subst);
    rewrite_ctx c = {.s = &s, .in = m, .subst = &subst};
    u64map_init(&c.made);
    strmap_init(&c.clones);
    mlcc_ir_module *out = rx_rewrite_module(m, "half_activations", rewrite_binding, &c, &subst);
    for (size_t i = 0; i < s.uses.cap; i++)
        if (s.uses.slots[i].used) free(s.uses.slots[i].value.p);
    u64map_free(&s.uses);
    u64map_free(&s.half);
    u64map_free(&subst);
    u64map_free(&c.made);
    strmap_free(&c.clones);
    return out;
}
