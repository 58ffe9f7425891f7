/* test_cuda_graph.c - graph functions compiled for CUDA (default GPU schedules, CUDA codegen,
 * VM on cuda:0) against the same module compiled for the CPU: a gated MLP with a residual
 * (linear, silu * linear, linear, add) and a softmax/RMS-norm head, symbolic n, at several n,
 * with planned storages on the device. Without NVRTC it skips; without a GPU it still checks
 * that the whole library's CUDA source compiles for sm_90, then skips the run. */
#include "codegen/build.h"
#include "codegen/codegen_cuda.h"
#include "ir/block_builder.h"
#include "op/op.h"
#include "runtime/cuda.h"
#include "support/error.h"
#include "tensor_util.h"
#include "test.h"

enum { D = 16, H = 40, BOUND = 64 };

static mlcc_ir_module *build_module(void) {
    mlcc_expr *n = ir_size_var("n");
    rx_expr *x = rx_var("x", rx_sinfo_tensor_v(DT_F32, n, ir_int(D), NULL));
    rx_expr *w1 = rx_var("w1", rx_sinfo_tensor_v(DT_F32, ir_int(H), ir_int(D), NULL));
    rx_expr *w2 = rx_var("w2", rx_sinfo_tensor_v(DT_F32, ir_int(H), ir_int(D), NULL));
    rx_expr *w3 = rx_var("w3", rx_sinfo_tensor_v(DT_F32, ir_int(D), ir_int(H), NULL));
    rx_expr *gamma = rx_var("gamma", rx_sinfo_tensor_v(DT_F32, ir_int(D), NULL));
    mlcc_ir_module *mod = irmod_new();
    rx_builder *bb = bb_new(mod);
    bb_begin_function(bb, "main", (rx_expr *[]){x, w1, w2, w3, gamma}, 5);
    rx_attrs none = {NULL, 0};
    bb_set_function_attrs(bb, rx_attrs_set_int(none, "var_upper_bound:n", BOUND));
    bb_begin_dataflow(bb);
    rx_expr *h1 = bb_emit(bb, op_linear(x, w1), "h1");
    rx_expr *g = bb_emit(bb, op_unary("nn.silu", h1), "g");
    rx_expr *h2 = bb_emit(bb, op_linear(x, w2), "h2");
    rx_expr *m = bb_emit(bb, op_multiply(g, h2), "m");
    rx_expr *y = bb_emit(bb, op_linear(m, w3), "y");
    rx_expr *r = bb_emit(bb, op_add(y, x), "r");
    rx_expr *nrm = bb_emit(bb, op_rms_norm(r, gamma, 1e-5), "nrm");
    rx_expr *p = bb_emit_output(bb, op_softmax(nrm, -1), "p");
    bb_end_dataflow(bb);
    rx_expr *f = bb_end_function(bb, p);
    CHECK_MSG(f != NULL, "%s", bb_error(bb));
    bb_free(bb);
    return mod;
}

static MLCCNDArray *on_device(const MLCCNDArray *a) {
    MLCCNDArray *d = mlcc_ndarray_empty(a->dl.ndim, a->dl.shape, a->dl.dtype, (DLDevice){kDLCUDA, 0});
    if (d) mlcc_ndarray_copy(d, a);
    return d;
}

static void compare(MLCCVM *cpu, MLCCVM *gpu, int64_t n) {
    int64_t sx[2] = {n, D}, s1[2] = {H, D}, s3[2] = {D, H}, sg[1] = {D};
    MLCCNDArray *host[5] = {test_random_ndarray(2, sx), test_random_ndarray(2, s1), test_random_ndarray(2, s1),
                            test_random_ndarray(2, s3), test_random_ndarray(1, sg)};
    MLCCNDArray *dev[5];
    for (int i = 0; i < 5; i++) dev[i] = on_device(host[i]);
    MLCCNDArray *want = test_vm_main(cpu, host, 5);
    CHECK_MSG(want != NULL, "cpu n=%lld: %s", (long long)n, mlcc_last_error());
    MLCCNDArray *got = test_vm_main(gpu, dev, 5);
    CHECK_MSG(got != NULL, "cuda n=%lld: %s", (long long)n, mlcc_last_error());
    if (want && got) {
        CHECK_EQ_INT(got->dl.device.device_type, kDLCUDA);
        CHECK_EQ_INT(got->dl.shape[0], n);
        float *back = malloc(sizeof(float) * n * D);
        CHECK_EQ_INT(mlcc_ndarray_copy_to_bytes(got, back, sizeof(float) * n * D), 0);
        double *ref = malloc(sizeof(double) * n * D);
        const float *w = want->dl.data;
        for (int64_t i = 0; i < n * D; i++) ref[i] = w[i];
        double err = test_max_rel_error(back, ref, n * D);
        CHECK_MSG(err < 1e-5, "n=%lld: cuda vs cpu relative error %g", (long long)n, err);
        free(back);
        free(ref);
    }
    mlcc_ndarray_release(want);
    mlcc_ndarray_release(got);
    for (int i = 0; i < 5; i++) mlcc_ndarray_release(host[i]), mlcc_ndarray_release(dev[i]);
}

int main(void) {
    if (!mlcc_nvrtc_available()) TEST_SKIP("%s", mlcc_nvrtc_status());
    mlcc_ir_module *mod = build_module();
    /* everything the library holds compiles for sm_90 */
    char *src = mlcc_build_source_target(mod, NULL, "cuda");
    CHECK_MSG(src != NULL, "%s", mlcc_last_error());
    CHECK(src && strstr(src, "mlcc_cuda_source[]") != NULL);
    free(src);
    char *kernels = mlcc_build_cuda_kernel_source(mod, NULL), *ptx = NULL;
    CHECK_MSG(kernels != NULL, "%s", mlcc_last_error());
    if (kernels) {
        CHECK_MSG(mlcc_nvrtc_compile_ptx(kernels, 90, &ptx) == 0, "%s", mlcc_last_error());
        CHECK(ptx && strstr(ptx, ".entry") != NULL);
    }
    free(kernels);
    free(ptx);
    if (!mlcc_cuda_available()) {
        /* the library builds; loading it says why it cannot run here */
        MLCCVM *none = mlcc_build_vm_target(mod, NULL, "cuda");
        CHECK(none == NULL);
        CHECK_MSG(strstr(mlcc_last_error(), "runs on CUDA") != NULL, "%s", mlcc_last_error());
        CHECK(mlcc_build_vm_target(mod, NULL, "metal") == NULL);
        CHECK_MSG(strstr(mlcc_last_error(), "unknown target") != NULL, "%s", mlcc_last_error());
        if (test_checks_failed) return test_finish();
        TEST_SKIP("%s", mlcc_cuda_status());
    }
    MLCCVM *cpu = mlcc_build_vm(mod, NULL);
    CHECK_MSG(cpu != NULL, "%s", mlcc_last_error());
    MLCCVM *gpu = mlcc_build_vm_target(mod, NULL, "cuda");
    CHECK_MSG(gpu != NULL, "%s", mlcc_last_error());
    if (cpu && gpu) {
        int64_t sizes[] = {1, 5, BOUND, 33, 2};
        for (int i = 0; i < 5; i++) compare(cpu, gpu, sizes[i]);
        long planned = mlcc_vm_planned_allocations(gpu);
        compare(cpu, gpu, 17);
        CHECK_EQ_INT(mlcc_vm_planned_allocations(gpu), planned);
    }
    mlcc_vm_free(cpu);
    mlcc_vm_free(gpu);
    CHECK_EQ_INT(mlcc_cuda_synchronize(0), 0);
    return test_finish();
}
