/* cpu_dispatch.c - the CPU build's library dispatch (issue 19): float32 projections y = x W^T
 * (`matmul(x, w, transpose_b)` of a float32 weight the graph takes as a parameter or a constant)
 * become
 *
 *     call_dps_packed("mlcc.cpu.sgemm", x, w, kernel, min_rows)
 *
 * where `kernel` is the projection legalized as usual (a PrimFunc that default_schedule
 * schedules like any other) and min_rows the rule's row threshold. The runtime side
 * (runtime/cpu_sgemm.c) sends calls of at least min_rows rows to OpenBLAS's sgemm and runs the
 * kernel for the others, or for every call when OpenBLAS does not load: the row count is
 * symbolic here (the prompt's length in prefill, the batch in decode).
 *
 * The rule (bench/bench_cpu_dispatch.c's figures in BENCHMARKS.md, "OpenBLAS dispatch for
 * float32 prefill"): on TinyLlama's layers OpenBLAS ties the compiled kernel at 64 rows and wins
 * by 1.0-1.5x from 96 rows on (CPU_DISPATCH_MIN_ROWS); below, down to decode's one row, the
 * kernel is faster (up to 2.8x at 8 rows: it streams the weights once, OpenBLAS packs them) and
 * keeps every row's result bitwise the same whatever the row count. Weights with fewer than
 * CPU_DISPATCH_MIN_OUT rows (outputs) or CPU_DISPATCH_MIN_IN columns keep the kernel alone:
 * tiny models have nothing to gain.
 *
 * A dispatched projection is no longer fused with its elementwise epilogue (a residual add,
 * the SwiGLU product): fuse_ops sees an opaque library call, and the epilogue becomes a kernel
 * of its own applied after. Float16/bfloat16 and quantized weights (a dequantize feeds the
 * matmul) keep the generated kernels: OpenBLAS has no such GEMM.
 *
 * The pass runs for the C target unless MLCC_CPU_BLAS=0 at compile time (build.c);
 * MLCC_CPU_BLAS=1 dispatches every float32 projection with min_rows 1 (all calls to OpenBLAS). */
#include <stdlib.h>
#include <string.h>

#include "op/op.h"
#include "support/error.h"
#include "transform/graph_rewrite.h"
#include "transform/pass.h"

static int is_f32_tensor(const rx_sinfo *s) {
    return s && s->kind == SI_TENSOR && s->ndim >= 1 && s->shape && dtype_eq(s->dtype, DT_F32);
}

typedef struct dispatch_ctx {
    int64_t min_rows;        /* the rule's row threshold, passed to the runtime */
    int64_t min_out, min_in; /* smaller weights keep the kernel alone */
} dispatch_ctx;

/* 1 when w is a float32 [out, in] weight of static shape, at least the rule's size, read
 * straight from a parameter or a constant (not computed in the graph: a dequantize's output). */
static int is_dispatched_weight(const dispatch_ctx *c, const rx_expr *w) {
    if (w->kind != RX_VAR && w->kind != RX_CONSTANT) return 0;
    const rx_sinfo *s = w->sinfo;
    if (!is_f32_tensor(s) || s->ndim != 2) return 0;
    if (s->shape[0]->kind != EXPR_INT || s->shape[1]->kind != EXPR_INT) return 0;
    return s->shape[0]->int_value >= c->min_out && s->shape[1]->int_value >= c->min_in;
}

static int dispatch_binding(rx_builder *bb, rx_binding b, void *ctx) {
    dispatch_ctx *c = ctx;
    rx_expr *v = b.value;
    if (!b.cast && rx_is_op_call(v, "matmul") && v->call.nargs == 2 && rx_attrs_int(v->call.attrs, "transpose_b", 0) == 1 &&
        is_f32_tensor(v->call.args[0]->sinfo) && is_f32_tensor(v->sinfo)) {
        if (is_dispatched_weight(c, v->call.args[1])) {
            /* the fallback kernel: the matmul legalized as the legalize pass would */
            rx_expr *tir = v->call.callee->op->legalize(bb, v);
            if (!tir) return mlcc_prefix_error("binding '%s' (R.matmul)", b.var->var.name);
            rx_expr *kernel = tir->call.args[0];
            rx_expr *args[4] = {v->call.args[0], v->call.args[1], kernel, rx_prim_value(ir_int(c->min_rows))};
            b.value = op_call_dps_packed("mlcc.cpu.sgemm", args, 4, v->sinfo);
        }
    }
    bb_emit_binding(bb, b);
    return 0;
}

/* MLCC_CPU_BLAS: "0" off (build.c skips the pass), "1" every projection, else the rule. */
static int forced_on(void) {
    const char *e = getenv("MLCC_CPU_BLAS");
    return e && !strcmp(e, "1");
}

mlcc_ir_module *pass_cpu_dispatch(const mlcc_ir_module *m, void *ctx) {
    (void)ctx;
    dispatch_ctx c = {CPU_DISPATCH_MIN_ROWS, CPU_DISPATCH_MIN_OUT, CPU_DISPATCH_MIN_IN};
    if (forced_on()) c.min_rows = c.min_out = c.min_in = 1;
    return rx_rewrite_module(m, "cpu_dispatch", dispatch_binding, &c, NULL);
}
