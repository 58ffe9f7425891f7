/* test_kquant_fusion.c - a k-quant dequantize fuses into its matmul and the fused block is
 * tensorized onto the type's intrinsic (kernels/cpu/gemm_qk.c), for every k-quant type: a module
 * x -> quant.dequantize(q_weight, q_scale, ggml_type) -> linear is built for the CPU (C source,
 * both activation paths) and its source must call mlcc_k_gemm_nt_q<bits>_k_a32 / _a8. A dequantize
 * left out of the fusion (FuseOps' op-pattern analysis once stopped following Q5_K's ~70 loads
 * and called it opaque) would run as a separate float32 dequantize of the whole matrix plus a
 * float GEMM: correct, so only this check notices it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codegen/build.h"
#include "ir/block_builder.h"
#include "op/op.h"
#include "quant/scheme.h"
#include "support/error.h"
#include "test.h"

enum { IN = 512, OUT = 64 };

static mlcc_ir_module *build_module(int ggml_type) {
    mlcc_expr *n = ir_size_var("n");
    int64_t words = IN / 256 * quant_kquant_words((uint32_t)ggml_type), halves = IN / 256 * quant_kquant_halves((uint32_t)ggml_type);
    rx_expr *x = rx_var("x", rx_sinfo_tensor_v(DT_F32, n, ir_int(IN), NULL));
    rx_expr *qw = rx_var("qw", rx_sinfo_tensor_v(DT_U32, ir_int(OUT), ir_int(words), NULL));
    rx_expr *qs = rx_var("qs", rx_sinfo_tensor_v(DT_F16, ir_int(OUT), ir_int(halves), NULL));
    mlcc_ir_module *mod = irmod_new();
    rx_builder *bb = bb_new(mod);
    bb_begin_function(bb, "main", (rx_expr *[]){x, qw, qs}, 3);
    rx_attrs none = {NULL, 0};
    bb_set_function_attrs(bb, rx_attrs_set_int(none, "var_upper_bound:n", 64));
    bb_begin_dataflow(bb);
    rx_expr *w32 = bb_emit(bb, op_dequantize_kquant(qw, qs, ggml_type, IN), "w32");
    rx_expr *out = bb_emit_output(bb, op_linear(x, w32), "out");
    bb_end_dataflow(bb);
    CHECK_MSG(bb_end_function(bb, out) != NULL, "%s", bb_error(bb));
    bb_free(bb);
    return mod;
}

int main(void) {
    static const struct {
        int type, bits;
    } types[] = {{12, 4}, {13, 5}, {14, 6}};
    static const char *const acts[] = {"f32", "int8"};
    for (int t = 0; t < 3; t++)
        for (int a = 0; a < 2; a++) {
            setenv("MLCC_QUANT_ACT", acts[a], 1);
            mlcc_ir_module *mod = build_module(types[t].type);
            char *src = mlcc_build_source_target(mod, NULL, "c"), want[64];
            CHECK_MSG(src != NULL, "ggml type %d: %s", types[t].type, mlcc_last_error());
            snprintf(want, sizeof want, "mlcc_k_gemm_nt_q%d_k_%s(", types[t].bits, a ? "a8" : "a32");
            CHECK_MSG(src && strstr(src, want) != NULL, "ggml type %d, %s activations: the matmul does not call %s", types[t].type,
                      acts[a], want);
            free(src);
        }
    unsetenv("MLCC_QUANT_ACT");
    return test_finish();
}
