/* legalize.c - ops -> call_tir of te-built PrimFuncs (see pass.h). */
#include "op/op.h"
#include "support/error.h"
#include "transform/graph_rewrite.h"
#include "transform/pass.h"

static int legalize_binding(rx_builder *bb, rx_binding b, void *ctx) {
    (void)ctx;
    rx_expr *v = b.value;
    if (v->kind == RX_CALL && v->call.callee->kind == RX_OP && v->call.callee->op->legalize) {
        rx_expr *nv = v->call.callee->op->legalize(bb, v);
        if (!nv) {
            mlcc_prefix_error("binding '%s' (R.%s)", b.var->var.name, v->call.callee->op->name);
            return -1;
        }
        b.value = nv;
    }
    bb_emit_binding(bb, b);
    return 0;
}

mlcc_ir_module *pass_legalize(const mlcc_ir_module *m, void *ctx) {
    (void)ctx;
    return rx_rewrite_module(m, "legalize", legalize_binding, NULL, NULL);
}
