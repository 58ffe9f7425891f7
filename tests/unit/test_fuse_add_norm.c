/* test_fuse_add_norm.c - transform/fuse_add_norm.c (the CUDA build's residual add + RMSNorm as
 * one PrimFunc with two outputs): the adds whose norm weight is a parameter are fused, the one
 * whose weight is computed after it (gemma's 1 + w) and a broadcast add are not; the rewritten
 * module, run by the VM on the CPU, gives the same bits as the original at several n (the
 * sum, read again by the next residual add, and the norms). On a GPU the fused function is one
 * kernel (test_gpu_row) and test_cuda_graph / test_cuda_models compare it with the CPU. */
#include "codegen/build.h"
#include "ir/block_builder.h"
#include "ir/module.h"
#include "op/op.h"
#include "support/error.h"
#include "tensor_util.h"
#include "test.h"
#include "transform/pass.h"

enum { D = 40, BOUND = 40 };

static mlcc_ir_module *build_module(void) {
    mlcc_expr *n = ir_size_var("n");
    rx_expr *x = rx_var("x", rx_sinfo_tensor_v(DT_F32, n, ir_int(D), NULL));
    rx_expr *g1 = rx_var("g1", rx_sinfo_tensor_v(DT_F32, ir_int(D), NULL));
    rx_expr *g2 = rx_var("g2", rx_sinfo_tensor_v(DT_F32, ir_int(D), NULL));
    rx_expr *w = rx_var("w", rx_sinfo_tensor_v(DT_F32, ir_int(D), ir_int(D), NULL));
    mlcc_ir_module *mod = irmod_new();
    rx_builder *bb = bb_new(mod);
    bb_begin_function(bb, "main", (rx_expr *[]){x, g1, g2, w}, 4);
    rx_attrs none = {NULL, 0};
    bb_set_function_attrs(bb, rx_attrs_set_int(none, "var_upper_bound:n", BOUND));
    bb_begin_dataflow(bb);
    rx_expr *y = bb_emit(bb, op_linear(x, w), "y");
    rx_expr *r1 = bb_emit(bb, op_add(x, y), "r1"); /* fused */
    rx_expr *n1 = bb_emit(bb, op_rms_norm(r1, g1, 1e-5), "n1");
    rx_expr *y2 = bb_emit(bb, op_linear(n1, w), "y2");
    rx_expr *r2 = bb_emit(bb, op_add(r1, y2), "r2"); /* fused */
    rx_expr *n2 = bb_emit(bb, op_rms_norm(r2, g2, 1e-6), "n2");
    rx_expr *r3 = bb_emit(bb, op_add(r2, n2), "r3"); /* not: its weight is computed after it */
    rx_expr *one = bb_emit(bb, op_add(g1, g2), "one");
    rx_expr *n3 = bb_emit(bb, op_rms_norm(r3, one, 1e-5), "n3");
    rx_expr *r4 = bb_emit(bb, op_add(n3, g2), "r4"); /* not: a broadcast */
    rx_expr *n4 = bb_emit(bb, op_rms_norm(r4, g1, 1e-5), "n4");
    rx_expr *out = bb_emit_output(bb, op_add(n4, r2), "out");
    bb_end_dataflow(bb);
    rx_expr *f = bb_end_function(bb, out);
    CHECK_MSG(f != NULL, "%s", bb_error(bb));
    bb_free(bb);
    return mod;
}

int main(void) {
    ir_scope_begin();
    mlcc_ir_module *mod = build_module();
    mlcc_ir_module *fused = pass_fuse_add_norm(mod, NULL);
    CHECK_MSG(fused != NULL, "%s", mlcc_last_error());
    if (!fused) return test_finish();
    mlcc_strbuf text = STRBUF_INIT;
    irmod_print(fused, &text);
    CHECK_MSG(test_count_substr(sb_cstr(&text), "R.call_tir(cls.add_rms_norm") == 2, "%s", sb_cstr(&text));
    CHECK_MSG(test_count_substr(sb_cstr(&text), "R.nn.rms_norm(") == 2, "%s", sb_cstr(&text));
    sb_free(&text);

    MLCCVM *apart = mlcc_build_vm(mod, NULL), *together = mlcc_build_vm(fused, NULL);
    CHECK_MSG(apart && together, "%s", mlcc_last_error());
    int64_t sizes[] = {1, 5, BOUND, 17};
    for (int i = 0; apart && together && i < 4; i++) {
        int64_t sx[2] = {sizes[i], D}, sg[1] = {D}, sw[2] = {D, D};
        MLCCNDArray *in[4] = {test_random_ndarray(2, sx), test_random_ndarray(1, sg), test_random_ndarray(1, sg),
                              test_random_ndarray(2, sw)};
        MLCCNDArray *want = test_vm_main(apart, in, 4), *got = test_vm_main(together, in, 4);
        CHECK_MSG(want && got, "n=%lld: %s", (long long)sizes[i], mlcc_last_error());
        if (want && got) {
            CHECK_EQ_INT(got->dl.shape[0], sizes[i]);
            CHECK_MSG(memcmp(want->dl.data, got->dl.data, sizeof(float) * (size_t)(sizes[i] * D)) == 0,
                      "n=%lld: fused and apart differ", (long long)sizes[i]);
        }
        mlcc_ndarray_release(want), mlcc_ndarray_release(got);
        for (int k = 0; k < 4; k++) mlcc_ndarray_release(in[k]);
    }
    mlcc_vm_free(apart);
    mlcc_vm_free(together);
    ir_scope_end();
    return test_finish();
}
