/* fuse_gemv.c - decode's RMSNorms and silu(gate) * up computed by the GEMVs of their
 * projections (CUDA build, issue 17).
 *
 * At batch 1 a decoder layer's two norms and its silu * up are kernels of one row (~3.5 us
 * each under Nsight Compute on the H100, mostly launch and ramp: BENCHMARKS.md), and each writes
 * a row that the next kernel reads back. After cuda_dispatch, in the functions that are not
 * prefills (their many rows go to cuBLASLt, and half_activations rounds their norms to half):
 *
 *     h = nn.rms_norm(a, gamma)                 y = call_dps_packed("mlcc.cuda.linear_f16_norm",
 *     y = linear_f16(h, w)                 ->                       (a, gamma, eps, w))
 *
 *     gu = linear_f16(x, w)                     (gate and up: the last axis's halves [0, I), [I, 2I))
 *     m = multiply(nn.silu(gu[..., :I]), gu[..., I:])
 *                                          ->   m = call_dps_packed("mlcc.cuda.linear_f16_silu", (x, w))
 *
 * and both at once (linear_f16_norm_silu) for the norm before gate_up, when asked. A 4-bit
 * gate_up (linear_q4f16[_zp8]) takes silu * up the same way (linear_q4f16[_zp8]_silu), and 4-bit
 * projections take their norms (linear_q4f16[_zp8]_norm, _norm_silu; MLCC_CUDA_FUSE_GEMV_NORM_Q4=0
 * keeps them apart): a * gamma is rounded to int8 per group of 32, which the row's scale 1 / rms
 * does not change, and the sums are multiplied by that scale (see norms_into_q4); only where gamma
 * is a parameter of the function (gamma_is_parameter). The norm is taken where
 * every reader of h is a projection's x; silu * up where gu, its two slices and the silu are read
 * by that chain alone. eps becomes a float32 constant of one element (packed arguments carry no
 * floats). The runtime (runtime/cuda_linear.c) computes the norm as its GEMV reads x, and the
 * silu * up from a gate row's and an up row's sums in one block, for 1-2 rows; in kernels of
 * their own around the matmul for more. MLCC_CUDA_FUSE_GEMV=0 turns the pass off. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "op/op.h"
#include "support/env.h"
#include "support/error.h"
#include "support/hashmap.h"
#include "transform/cuda_projection.h"
#include "transform/graph_rewrite.h"
#include "transform/pass.h"

typedef struct gated_chain {
    rx_expr *gu, *gate, *up, *act; /* the vars of the chain */
} gated_chain;

typedef struct gemv_scan {
    mlcc_u64map uses;        /* var -> times read */
    mlcc_u64map slices;      /* var of a last-axis strided_slice -> its value */
    mlcc_u64map silus;       /* var of nn.silu -> its value */
    mlcc_u64map norms;       /* var of a float32 nn.rms_norm -> its value */
    mlcc_u64map projections; /* var of a linear_f16 or linear_q4f16[_zp8] call -> its value */
    mlcc_u64map chains;      /* var of multiply(silu(gate), up) over one projection -> gated_chain */
    mlcc_u64map norm_reads;  /* var of a norm -> times read as a projection's x */
    mlcc_u64map dropped;     /* vars whose bindings go: a fused norm, the fused chains' gu, slices, silu */
    mlcc_u64map bound;       /* every var a binding defines (so not a parameter) */
} gemv_scan;

static const rx_sinfo *f32_tensor(const rx_expr *e) {
    const rx_sinfo *s = e ? e->sinfo : NULL;
    if (!s || s->kind != SI_TENSOR || s->ndim < 1 || !s->shape || !dtype_eq(s->dtype, DT_F32)) return NULL;
    return s;
}

/* 1 + the cuda_proj_kind of v when it is a plain projection (its arguments: x and one weight
 * for float16, two for 4 bits), else 0 */
static int projection_kind(const rx_expr *v) {
    const char *f = rx_dps_packed_name(v);
    cuda_proj_kind kind;
    cuda_proj_form form;
    if (!f || !cuda_projection_parse(f, &kind, &form) || form != CUDA_PROJ_PLAIN) return 0;
    const rx_expr *args = v->call.args[1];
    return args->kind == RX_TUPLE && args->tuple.n == (kind == CUDA_PROJ_F16 ? 2 : 3) ? (int)kind + 1 : 0;
}

/* the x and weights of a projection call */
static rx_expr *call_arg(const rx_expr *v, int i) {
    return v->call.args[1]->tuple.fields[i];
}

/* [begin, end) of a stride-1 strided_slice of the last axis of a float32 tensor, or 0 */
static int last_axis_slice(const rx_expr *v, int64_t *begin, int64_t *end) {
    const rx_attr *axes = rx_attrs_get(v->call.attrs, "axes"), *b = rx_attrs_get(v->call.attrs, "begin");
    const rx_attr *e = rx_attrs_get(v->call.attrs, "end"), *st = rx_attrs_get(v->call.attrs, "strides");
    const rx_sinfo *in = f32_tensor(v->call.args[0]);
    if (!in || !axes || !b || !e || axes->nints != 1 || b->nints != 1 || e->nints != 1) return 0;
    if (st && (st->nints != 1 || st->ints[0] != 1)) return 0;
    int64_t axis = axes->ints[0] < 0 ? axes->ints[0] + in->ndim : axes->ints[0];
    if (axis != in->ndim - 1) return 0;
    *begin = b->ints[0], *end = e->ints[0];
    return 1;
}

/* The chain when v = multiply(silu(gu[..., :I]), gu[..., I:2I]) for a linear_f16 gu whose last
 * axis is 2I (NULL otherwise). */
static gated_chain *chain_of(gemv_scan *s, const rx_expr *v) {
    if (!rx_is_op_call(v, "multiply") || v->call.nargs != 2 || !f32_tensor(v)) return NULL;
    rx_expr *act = v->call.args[0], *up = v->call.args[1];
    const rx_expr *act_v = u64map_get_p(&s->silus, act), *up_v = u64map_get_p(&s->slices, up);
    rx_expr *gate = act_v ? act_v->call.args[0] : NULL;
    const rx_expr *gate_v = gate ? u64map_get_p(&s->slices, gate) : NULL;
    if (!gate_v || !up_v || gate_v->call.args[0] != up_v->call.args[0]) return NULL;
    rx_expr *gu = gate_v->call.args[0];
    const rx_sinfo *gs = f32_tensor(gu);
    int64_t gb, ge, ub, ue;
    if (!u64map_get_p(&s->projections, gu) || !last_axis_slice(gate_v, &gb, &ge) || !last_axis_slice(up_v, &ub, &ue)) return NULL;
    const mlcc_expr *last = gs->shape[gs->ndim - 1];
    if (last->kind != EXPR_INT || gb != 0 || ge <= 0 || ub != ge || ue != 2 * ge || last->int_value != 2 * ge) return NULL;
    gated_chain *c = ir_alloc(sizeof *c);
    *c = (gated_chain){gu, gate, up, act};
    return c;
}

static int env_is_one(const char *name) {
    const char *v = getenv(name);
    return v && !strcmp(v, "1");
}

/* Whether norms go into 4-bit projections: yes unless MLCC_CUDA_FUSE_GEMV_NORM_Q4=0. History:
 * when each int8 GEMV block read all of x from L2 (16 KB a block, about what its 8 rows of
 * weights take from memory), gamma doubled that and L2 became the limit: 318-324 tok/s with the
 * norms in (H100, 2026-11-27) against 379 apart. Since x is rounded once per projection (session
 * 17), one row's norm runs in that kernel (mlcc_norm_quantize_x8): 404-405 tok/s with the norms
 * in, 405-414 apart on the H100, so it stayed off. Session 28 (H200) measured each small kernel's
 * cost inside the step (MLCC_CUDA_SKIP_KERNELS): the norm kernel 2.0 us, mlcc_quantize_x8 1.85,
 * mlcc_norm_quantize_x8 3.4, its gamma loaded after PDL's wait; with gamma loaded before it
 * (a weight: no kernel writes it) 2.5 us, and the 4-bit step at batch 1 decoded 482.5-488.0 tok/s
 * in eight runs with the norms in against 465.6-475.2 in seven apart. */
static int norms_into_q4(void) {
    return mlcc_env_int("MLCC_CUDA_FUSE_GEMV_NORM_Q4", 1) != 0;
}

/* Whether a 4-bit projection may take norm's gamma: a parameter of the function, not a value it
 * computes (gemma's 1 + w), since mlcc_norm_quantize_x8 reads gamma before PDL's wait, which only
 * memory that no kernel writes allows. */
static int gamma_is_parameter(const gemv_scan *s, const rx_expr *norm) {
    return !u64map_get_p(&s->bound, norm->call.args[1]);
}

static void note_binding(const rx_binding *b, void *ctx) {
    gemv_scan *s = ctx;
    const rx_expr *v = b->value;
    if (b->cast) return;
    int64_t begin, end;
    if (rx_is_op_call(v, "strided_slice") && v->call.nargs == 1 && last_axis_slice(v, &begin, &end))
        u64map_set_p(&s->slices, b->var, (void *)v);
    if (rx_is_op_call(v, "nn.silu") && v->call.nargs == 1 && f32_tensor(v)) u64map_set_p(&s->silus, b->var, (void *)v);
    if (rx_is_op_call(v, "nn.rms_norm") && v->call.nargs == 2 && f32_tensor(v) && f32_tensor(v->call.args[0])) {
        const rx_sinfo *w = f32_tensor(v->call.args[1]);
        if (w && w->ndim == 1) u64map_set_p(&s->norms, b->var, (void *)v);
    }
    if (projection_kind(v)) u64map_set_p(&s->projections, b->var, (void *)v);
    int kind = projection_kind(v);
    const rx_expr *norm = kind ? u64map_get_p(&s->norms, call_arg(v, 0)) : NULL;
    if (norm && (kind == 1 || (norms_into_q4() && gamma_is_parameter(s, norm))))
        u64map_upsert(&s->norm_reads, (uint64_t)(uintptr_t)call_arg(v, 0), NULL)->value.i++;
    gated_chain *c = chain_of(s, v);
    if (c) u64map_set_p(&s->chains, b->var, c);
    u64map_set_p(&s->bound, b->var, (void *)1);
}

static int64_t uses_of(const gemv_scan *s, const rx_expr *var) {
    const mlcc_u64map_entry *e = u64map_find(&s->uses, (uint64_t)(uintptr_t)var);
    return e ? e->value.i : 0;
}

/* Whether the norm before a fused gate_up of this kind goes into its GEMV too. float16: not
 * unless MLCC_CUDA_FUSE_GEMV_NORM_SILU=1: the GEMV doing both took 83.8 us a call against 76.7 for
 * gate_up alone (ncu, H100, Llama-3-8B shape; its 14336 blocks each read gamma and square x
 * again), more than the norm kernel it saves, and batch 1 decoded at 161-167 tok/s with it
 * against 173.5 without (32 layers, 2026-11-26). Two gate and two up rows a block, so that half
 * as many blocks read x and gamma, did not pay either: 178.8 and 179.7 tok/s against 181.4 and
 * 181.8 (2026-11-27). 4-bit: as its other projections. */
static int norm_into_silu(int kind) {
    return kind > 1 ? norms_into_q4() : env_is_one("MLCC_CUDA_FUSE_GEMV_NORM_SILU");
}

/* Which bindings go, now that every read is counted: the chains whose parts nothing else reads,
 * and the norms read only as projections' x. */
static void decide(gemv_scan *s) {
    mlcc_u64map kept; /* norms that stay kernels although only projections read them */
    u64map_init(&kept);
    for (size_t i = 0; i < s->chains.cap; i++) {
        if (!s->chains.slots[i].used) continue;
        gated_chain *c = s->chains.slots[i].value.p;
        if (uses_of(s, c->gu) != 2 || uses_of(s, c->gate) != 1 || uses_of(s, c->up) != 1 || uses_of(s, c->act) != 1) {
            s->chains.slots[i].value.p = NULL;
            continue;
        }
        rx_expr *parts[4] = {c->gu, c->gate, c->up, c->act};
        for (int k = 0; k < 4; k++) u64map_set_p(&s->dropped, parts[k], (void *)1);
        const rx_expr *proj = u64map_get_p(&s->projections, c->gu);
        if (!norm_into_silu(projection_kind(proj))) u64map_set_p(&kept, call_arg(proj, 0), (void *)1);
    }
    for (size_t i = 0; i < s->norm_reads.cap; i++) {
        const mlcc_u64map_entry *e = &s->norm_reads.slots[i];
        const void *norm = (const void *)(uintptr_t)e->key;
        if (e->used && uses_of(s, norm) == e->value.i && !u64map_get_p(&kept, norm)) u64map_set_p(&s->dropped, norm, (void *)1);
    }
    u64map_free(&kept);
}

/* The fused call for projection `proj`, silu * up when silu: (x or the norm's a, gamma, eps, then
 * the projection's weights). */
static rx_expr *fused_call(gemv_scan *s, const rx_expr *proj, int silu, rx_sinfo *sinfo) {
    int kind = projection_kind(proj), nw = kind > 1 ? 2 : 1;
    rx_expr *x = call_arg(proj, 0), *args[5];
    const rx_expr *norm = u64map_get_p(&s->dropped, x) ? u64map_get_p(&s->norms, x) : NULL;
    int n = 0;
    if (norm) {
        float eps = (float)rx_attrs_float(norm->call.attrs, "epsilon", 1e-5);
        int64_t one = 1;
        args[n++] = norm->call.args[0], args[n++] = norm->call.args[1], args[n++] = rx_constant(DT_F32, &one, 1, &eps);
    } else {
        args[n++] = x;
    }
    for (int i = 0; i < nw; i++) args[n++] = call_arg(proj, 1 + i);
    cuda_proj_form form = norm && silu ? CUDA_PROJ_NORM_SILU : norm ? CUDA_PROJ_NORM : silu ? CUDA_PROJ_SILU : CUDA_PROJ_PLAIN;
    return op_call_dps_packed(cuda_projection_name((cuda_proj_kind)(kind - 1), form), args, n, sinfo);
}

static int rewrite_binding(rx_builder *bb, rx_binding b, void *ctx) {
    gemv_scan *s = ctx;
    if (!b.cast && u64map_get_p(&s->dropped, b.var)) return 0; /* computed by a fused call */
    const gated_chain *c = b.cast ? NULL : u64map_get_p(&s->chains, b.var);
    if (c) b.value = fused_call(s, u64map_get_p(&s->projections, c->gu), 1, b.var->sinfo);
    else if (!b.cast && projection_kind(b.value) && u64map_get_p(&s->dropped, call_arg(b.value, 0)))
        b.value = fused_call(s, b.value, 0, b.var->sinfo);
    bb_emit_binding(bb, b);
    return 0;
}

mlcc_ir_module *pass_fuse_gemv(const mlcc_ir_module *m, void *ctx) {
    (void)ctx;
    gemv_scan s;
    mlcc_u64map *maps[] = {&s.uses,   &s.slices,     &s.silus,   &s.norms, &s.projections,
                           &s.chains, &s.norm_reads, &s.dropped, &s.bound};
    for (int i = 0; i < 9; i++) u64map_init(maps[i]);
    for (int i = 0; i < m->n; i++)
        if (m->entries[i].kind == IRMOD_GRAPH && !strstr(m->entries[i].name, "prefill"))
            rx_scan_graph(m->entries[i].graph, &s.uses, note_binding, &s);
    decide(&s);
    mlcc_ir_module *out = rx_rewrite_module(m, "fuse_gemv", rewrite_binding, &s, NULL);
    for (int i = 0; i < 9; i++) u64map_free(maps[i]);
    return out;
}
