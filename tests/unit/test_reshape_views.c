/* test_reshape_views.c - transform/reshape_views.c (the CUDA build's reshapes as views): the
 * pass turns the reshapes a function does not return into vm.builtin.reshape views and keeps
 * the returned one a copy; the rewritten module, run by the VM on the CPU (the builtin is the
 * same on every device), gives the same bits as the original at several n, with a projection
 * reading a view while later tensors are planned (a view must keep its storage alive). */
#include "codegen/build.h"
#include "ir/block_builder.h"
#include "ir/module.h"
#include "op/op.h"
#include "support/error.h"
#include "tensor_util.h"
#include "test.h"
#include "transform/pass.h"

enum { A = 3, B = 4, D = A * B, BOUND = 40 };

static mlcc_ir_module *build_module(void) {
    mlcc_expr *n = ir_size_var("n");
    rx_expr *x = rx_var("x", rx_sinfo_tensor_v(DT_F32, n, ir_int(D), NULL));
    rx_expr *g = rx_var("g", rx_sinfo_tensor_v(DT_F32, ir_int(B), NULL));
    rx_expr *w = rx_var("w", rx_sinfo_tensor_v(DT_F32, ir_int(D), ir_int(D), NULL));
    mlcc_ir_module *mod = irmod_new();
    rx_builder *bb = bb_new(mod);
    bb_begin_function(bb, "main", (rx_expr *[]){x, g, w}, 3);
    rx_attrs none = {NULL, 0};
    bb_set_function_attrs(bb, rx_attrs_set_int(none, "var_upper_bound:n", BOUND));
    bb_begin_dataflow(bb);
    rx_expr *heads = bb_emit(bb, op_reshape(x, (mlcc_expr *[]){n, ir_int(A), ir_int(B)}, 3), "heads");
    rx_expr *scaled = bb_emit(bb, op_multiply(heads, g), "scaled");
    rx_expr *flat = bb_emit(bb, op_reshape(scaled, (mlcc_expr *[]){n, ir_int(-1)}, 2), "flat");
    rx_expr *y = bb_emit(bb, op_linear(flat, w), "y");
    rx_expr *z = bb_emit(bb, op_linear(y, w), "z");
    rx_expr *r = bb_emit(bb, op_add(z, flat), "r");
    rx_expr *out = bb_emit_output(bb, op_reshape(r, (mlcc_expr *[]){n, ir_int(A), ir_int(B)}, 3), "out");
    bb_end_dataflow(bb);
    rx_expr *f = bb_end_function(bb, out);
    CHECK_MSG(f != NULL, "%s", bb_error(bb));
    bb_free(bb);
    return mod;
}

int main(void) {
    ir_scope_begin();
    mlcc_ir_module *mod = build_module();
    mlcc_ir_module *views = pass_reshape_views(mod, NULL);
    CHECK_MSG(views != NULL, "%s", mlcc_last_error());
    if (!views) return test_finish();
    mlcc_strbuf text = STRBUF_INIT;
    irmod_print(views, &text);
    CHECK_MSG(test_count_substr(sb_cstr(&text), "vm.builtin.reshape") == 2, "%s", sb_cstr(&text));
    CHECK_MSG(test_count_substr(sb_cstr(&text), "R.reshape(") == 1, "%s", sb_cstr(&text)); /* the returned one */
    sb_free(&text);

    MLCCVM *copies = mlcc_build_vm(mod, NULL), *viewed = mlcc_build_vm(views, NULL);
    CHECK_MSG(copies && viewed, "%s", mlcc_last_error());
    int64_t sizes[] = {1, 5, BOUND, 17};
    for (int i = 0; copies && viewed && i < 4; i++) {
        int64_t sx[2] = {sizes[i], D}, sg[1] = {B}, sw[2] = {D, D};
        MLCCNDArray *in[3] = {test_random_ndarray(2, sx), test_random_ndarray(1, sg), test_random_ndarray(2, sw)};
        MLCCNDArray *want = test_vm_main(copies, in, 3), *got = test_vm_main(viewed, in, 3);
        CHECK_MSG(want && got, "n=%lld: %s", (long long)sizes[i], mlcc_last_error());
        if (want && got) {
            CHECK_EQ_INT(got->dl.ndim, 3);
            CHECK_EQ_INT(got->dl.shape[0], sizes[i]);
            CHECK_MSG(memcmp(want->dl.data, got->dl.data, sizeof(float) * (size_t)(sizes[i] * D)) == 0,
                      "n=%lld: views and copies differ", (long long)sizes[i]);
        }
        mlcc_ndarray_release(want), mlcc_ndarray_release(got);
        for (int k = 0; k < 3; k++) mlcc_ndarray_release(in[k]);
    }
    mlcc_vm_free(copies);
    mlcc_vm_free(viewed);
    ir_scope_end();
    return test_finish();
}
