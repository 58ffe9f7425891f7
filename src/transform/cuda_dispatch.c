/* cuda_dispatch.c - the CUDA build's library dispatch (issue 17): projections whose weight is
 * float16 (scheme q0f16: `w32 = quant.dequantize(w16)` with bits 0, then `matmul(x, w32,
 * transpose_b)`) become `call_dps_packed("mlcc.cuda.linear_f16", x, w16)`.
 *
 * Why a packed function rather than the TIR matmul rule: the row count of a projection is
 * symbolic (tokens in prefill, sequences in decode), and the best kernel differs by orders of
 * magnitude across it: a few rows stream the weight once (a GEMV at the copy rate), many rows
 * are tensor-core work (cuBLASLt). The runtime side (runtime/cuda_linear.c) chooses per call,
 * once the rows are known. The dequantize binding is left for dead-code elimination.
 *
 * 4-bit weights with float16 scales in groups of 32 (q4f16_1, zero point 7; ggml_q4_0, zero
 * point 8) become `call_dps_packed("mlcc.cuda.linear_q4f16[_zp8]", x, q_weight, q_scale)`
 * (runtime/cuda_linear_q4.c: a fused dequantize-GEMV, or dequantize + cuBLASLt for prefill).
 * Float32 and 8-bit weights keep the generated kernels (the TIR rules are the fallback).
 * The Vulkan build runs the same pass with ctx = "mlcc.vulkan.linear_f16" (runtime/vulkan_linear.c):
 * float16 weights only, Vulkan has no 4-bit kernel yet.
 *
 * On CUDA a residual add of such a projection, `add(r, linear(x, w16))` where the projection's
 * result is read by that add alone, becomes `call_dps_packed("mlcc.cuda.linear_f16_add", x, w16,
 * r)`: cuBLASLt reads r in its epilogue (beta = 1) instead of a separate add kernel reading y and
 * r and writing the sum (a decoder layer has two: after o_proj and after down_proj). A 4-bit one
 * becomes `mlcc.cuda.linear_q4f16[_zp8]_add(x, q_weight, q_scale, r)` (its GEMV and tensor-core
 * GEMM add r as they store y, prefill's cuBLASLt reads it with beta = 1).
 * MLCC_CUDA_FUSE_ADD=0 keeps the add a kernel of its own. */
#include <stdlib.h>
#include <string.h>

#include "op/op.h"
#include "support/error.h"
#include "transform/cuda_projection.h"
#include "transform/graph_rewrite.h"
#include "transform/pass.h"

/* The float16 weight whose plain cast to float32 is `value`, or NULL. */
static rx_expr *f16_weight_of_cast(const rx_expr *value) {
    if (!rx_is_op_call(value, "quant.dequantize") || value->call.nargs != 1) return NULL;
    if (rx_attrs_int(value->call.attrs, "bits", -1) != 0) return NULL;
    rx_expr *w = value->call.args[0];
    const rx_sinfo *s = w->sinfo;
    if (!s || s->kind != SI_TENSOR || s->ndim != 2 || !dtype_eq(s->dtype, DT_F16)) return NULL;
    return w;
}

static int is_2d(const rx_expr *e, mlcc_dtype t) {
    const rx_sinfo *s = e->sinfo;
    return s && s->kind == SI_TENSOR && s->ndim == 2 && dtype_eq(s->dtype, t);
}

/* The packed function for a 4-bit dequantize (`value`) the runtime has a kernel for, or NULL;
 * with_add: its form that adds a residual as it stores y (x, q_weight, q_scale, r). */
static const char *q4_function_of(const rx_expr *value, int with_add) {
    if (!rx_is_op_call(value, "quant.dequantize") || value->call.nargs != 2) return NULL;
    const rx_attrs a = value->call.attrs;
    if (rx_attrs_int(a, "bits", -1) != 4 || rx_attrs_int(a, "group_size", -1) != 32) return NULL;
    if (!is_2d(value->call.args[0], DT_U32) || !is_2d(value->call.args[1], DT_F16)) return NULL;
    switch (rx_attrs_int(a, "zero_point", -1)) {
    case 7: return cuda_projection_name(CUDA_PROJ_Q4, with_add ? CUDA_PROJ_ADD : CUDA_PROJ_PLAIN);
    case 8: return cuda_projection_name(CUDA_PROJ_Q4_ZP8, with_add ? CUDA_PROJ_ADD : CUDA_PROJ_PLAIN);
    default: return NULL;
    }
}

/* MLCC_CUDA_DISPATCH_Q4=0 keeps the generated kernels for 4-bit weights (for comparison). */
static int q4_enabled(void) {
    const char *e = getenv("MLCC_CUDA_DISPATCH_Q4");
    return !e || strcmp(e, "0") != 0;
}

/* ---- which residual adds take their projection (CUDA): a scan of the module first ---- */

typedef struct add_scan {
    mlcc_u64map uses;    /* var -> times read */
    mlcc_u64map casts;   /* var of a float16 dequantize -> its weight */
    mlcc_u64map q4;      /* var of a 4-bit dequantize the pass dispatches -> its call */
    mlcc_u64map linears; /* var bound to a float16- or 4-bit-weight projection the pass dispatches -> that matmul */
    mlcc_u64map folded;  /* such a var read only by one add, which takes it -> the add's var */
    mlcc_u64map adds;    /* var of that add -> the projection's var */
} add_scan;

static int is_f32_tensor(const rx_sinfo *s) {
    return s && s->kind == SI_TENSOR && s->ndim >= 1 && s->shape && dtype_eq(s->dtype, DT_F32);
}

/* The matmul the pass turns into mlcc.*.linear_f16 (x float32, transpose_b, float32 out). */
static int is_projection(const rx_expr *v) {
    return rx_is_op_call(v, "matmul") && v->call.nargs == 2 && rx_attrs_int(v->call.attrs, "transpose_b", 0) == 1 &&
           is_f32_tensor(v->call.args[0]->sinfo) && is_f32_tensor(v->sinfo);
}

/* float16 and 4-bit dequantizes and the projections of their weights (reads: rx_scan_graph) */
static void note_binding(const rx_binding *b, void *ctx) {
    add_scan *s = ctx;
    const rx_expr *v = b->value;
    rx_expr *w16 = f16_weight_of_cast(v);
    if (w16) u64map_set_p(&s->casts, b->var, w16);
    if (q4_function_of(v, 0) && q4_enabled()) u64map_set_p(&s->q4, b->var, (void *)v);
    if (!b->cast && is_projection(v) && (u64map_get_p(&s->casts, v->call.args[1]) || u64map_get_p(&s->q4, v->call.args[1])))
        u64map_set_p(&s->linears, b->var, (void *)v);
}

/* the adds that take a projection read by them alone */
static void decide_adds(add_scan *s, const rx_expr *seq) {
    for (int i = 0; i < seq->seq.nblocks; i++)
        for (int j = 0; j < seq->seq.blocks[i].n; j++) {
            const rx_binding *b = &seq->seq.blocks[i].bindings[j];
            const rx_expr *v = b->value;
            if (b->cast || !rx_is_op_call(v, "add") || v->call.nargs != 2) continue;
            for (int k = 0; k < 2; k++) {
                rx_expr *lin = v->call.args[k], *other = v->call.args[1 - k];
                const mlcc_u64map_entry *u = u64map_find(&s->uses, (uint64_t)(uintptr_t)lin);
                if (!u64map_get_p(&s->linears, lin) || !u || u->value.i != 1 || lin == other ||
                    u64map_get_p(&s->folded, lin) || !rx_sinfo_equal(lin->sinfo, other->sinfo) ||
                    !rx_sinfo_equal(lin->sinfo, v->sinfo))
                    continue;
                u64map_set_p(&s->folded, lin, b->var);
                u64map_set_p(&s->adds, b->var, lin);
                break;
            }
        }
}

static void decide_seq(add_scan *s, const rx_expr *e) {
    if (e->kind == RX_FUNCTION) e = e->func.body;
    if (e->kind == RX_SEQ) decide_adds(s, e);
}

static void scan_module(add_scan *s, const mlcc_ir_module *m) {
    for (int i = 0; i < m->n; i++)
        if (m->entries[i].kind == IRMOD_GRAPH) rx_scan_graph(m->entries[i].graph, &s->uses, note_binding, s);
    for (int i = 0; i < m->n; i++)
        if (m->entries[i].kind == IRMOD_GRAPH) decide_seq(s, m->entries[i].graph);
}

static void add_scan_free(add_scan *s) {
    u64map_free(&s->uses), u64map_free(&s->casts), u64map_free(&s->q4), u64map_free(&s->linears), u64map_free(&s->folded);
    u64map_free(&s->adds);
}

/* ---- the rewrite ---- */

/* MLCC_CUDA_FUSE_ADD=0 keeps residual adds kernels of their own (for comparison). */
static int fuse_add_enabled(void) {
    const char *e = getenv("MLCC_CUDA_FUSE_ADD");
    return !e || strcmp(e, "0") != 0;
}

typedef struct dispatch_ctx {
    mlcc_u64map casts; /* var of a float16 dequantize -> its float16 weight */
    mlcc_u64map q4;    /* var of a 4-bit dequantize -> its call (args: q_weight, q_scale) */
    const char *fn;    /* the packed function for float16 weights */
    int cuda;          /* the 4-bit kernels exist (CUDA only) */
    add_scan *fold;    /* residual adds that take their projection (CUDA), or NULL */
} dispatch_ctx;

static int dispatch_binding(rx_builder *bb, rx_binding b, void *ctx) {
    dispatch_ctx *c = ctx;
    rx_expr *v = b.value;
    rx_expr *w16 = f16_weight_of_cast(v);
    if (w16) u64map_set_p(&c->casts, b.var, w16);
    if (q4_function_of(v, 0)) u64map_set_p(&c->q4, b.var, v);
    if (c->fold && !b.cast && u64map_get_p(&c->fold->folded, b.var)) return 0; /* computed by its add */
    rx_expr *lin = c->fold && !b.cast ? u64map_get_p(&c->fold->adds, b.var) : NULL;
    if (lin) {
        const rx_expr *mm = u64map_get_p(&c->fold->linears, lin);
        rx_expr *r = v->call.args[0] == lin ? v->call.args[1] : v->call.args[0];
        rx_expr *w = u64map_get_p(&c->casts, mm->call.args[1]);
        const rx_expr *q = w ? NULL : u64map_get_p(&c->q4, mm->call.args[1]);
        if (!w && !q) return mlcc_set_error("cuda_dispatch: the weight of a folded projection was not seen"); /* (the scan saw it) */
        if (w) b.value = op_call_dps_packed(cuda_projection_name(CUDA_PROJ_F16, CUDA_PROJ_ADD), (rx_expr *[]){mm->call.args[0], w, r}, 3, v->sinfo);
        else
            b.value = op_call_dps_packed(q4_function_of(q, 1), (rx_expr *[]){mm->call.args[0], q->call.args[0], q->call.args[1], r},
                                         4, v->sinfo);
        bb_emit_binding(bb, b);
        return 0;
    }
    if (is_projection(v)) {
        rx_expr *w = u64map_get_p(&c->casts, v->call.args[1]);
        rx_expr *q = u64map_get_p(&c->q4, v->call.args[1]);
        if (w) b.value = op_call_dps_packed(c->fn, (rx_expr *[]){v->call.args[0], w}, 2, v->sinfo);
        else if (q && c->cuda && q4_enabled())
            b.value = op_call_dps_packed(q4_function_of(q, 0), (rx_expr *[]){v->call.args[0], q->call.args[0], q->call.args[1]}, 3,
                                         v->sinfo);
    }
    bb_emit_binding(bb, b);
    return 0;
}

mlcc_ir_module *pass_cuda_dispatch(const mlcc_ir_module *m, void *ctx) {
    const char *cuda_fn = cuda_projection_name(CUDA_PROJ_F16, CUDA_PROJ_PLAIN);
    dispatch_ctx c = {.fn = ctx ? (const char *)ctx : cuda_fn};
    c.cuda = strcmp(c.fn, cuda_fn) == 0;
    u64map_init(&c.casts);
    u64map_init(&c.q4);
    add_scan fold;
    memset(&fold, 0, sizeof fold);
    u64map_init(&fold.uses), u64map_init(&fold.casts), u64map_init(&fold.q4), u64map_init(&fold.linears);
    u64map_init(&fold.folded), u64map_init(&fold.adds);
    if (c.cuda && fuse_add_enabled()) {
        scan_module(&fold, m);
        c.fold = &fold;
    }
    mlcc_ir_module *out = rx_rewrite_module(m, "cuda_dispatch", dispatch_binding, &c, NULL);
    u64map_free(&c.casts);
    u64map_free(&c.q4);
    add_scan_free(&fold);
    return out;
}
