/* test_vm_lower.c - graph functions built with the block builder go through legalize, VM
 * lowering with static memory planning and C codegen, and run on the VM:
 *   - a gated MLP with a residual (linear, silu * linear, linear, add) and symbolic n matches
 *     float64 loops at several n;
 *   - with `var_upper_bound:n`, the temporaries live in a bounded set of planned storages: the
 *     program allocates per call only the result, and repeated calls at any n allocate nothing
 *     new; an n past the bound is a clear error, not an overflow;
 *   - the library writes to disk, and `mlcc show --memory` reports the plan. */
#include "codegen/build.h"
#include "ir/block_builder.h"
#include "op/op.h"
#include "support/error.h"
#include "test.h"
#include "tensor_util.h"

enum { D = 16, H = 24, BOUND = 64 };

static mlcc_ir_module *build_module(int with_bound) {
    mlcc_expr *n = ir_size_var("n");
    rx_expr *x = rx_var("x", rx_sinfo_tensor_v(DT_F32, n, ir_int(D), NULL));
    rx_expr *w1 = rx_var("w1", rx_sinfo_tensor_v(DT_F32, ir_int(H), ir_int(D), NULL));
    rx_expr *w2 = rx_var("w2", rx_sinfo_tensor_v(DT_F32, ir_int(H), ir_int(D), NULL));
    rx_expr *w3 = rx_var("w3", rx_sinfo_tensor_v(DT_F32, ir_int(D), ir_int(H), NULL));
    mlcc_ir_module *mod = irmod_new();
    rx_builder *bb = bb_new(mod);
    bb_begin_function(bb, "main", (rx_expr *[]){x, w1, w2, w3}, 4);
    if (with_bound) {
        rx_attrs none = {NULL, 0};
        bb_set_function_attrs(bb, rx_attrs_set_int(none, "var_upper_bound:n", BOUND));
    }
    bb_begin_dataflow(bb);
    rx_expr *h1 = bb_emit(bb, op_linear(x, w1), "h1");
    rx_expr *g = bb_emit(bb, op_unary("nn.silu", h1), "g");
    rx_expr *h2 = bb_emit(bb, op_linear(x, w2), "h2");
    rx_expr *m = bb_emit(bb, op_multiply(g, h2), "m");
    rx_expr *y = bb_emit(bb, op_linear(m, w3), "y");
    rx_expr *r = bb_emit_output(bb, op_add(y, x), "r");
    bb_end_dataflow(bb);
    rx_expr *f = bb_end_function(bb, r);
    CHECK_MSG(f != NULL, "%s", bb_error(bb));
    bb_free(bb);
    return mod;
}

static MLCCNDArray *random_array(int64_t rows, int64_t cols) {
    MLCCNDArray *a = mlcc_ndarray_empty(2, (int64_t[]){rows, cols}, MLCC_DTYPE_F32, MLCC_CPU);
    float *p = a->dl.data;
    for (int64_t i = 0; i < rows * cols; i++) p[i] = test_rand_float();
    return a;
}

static int run(MLCCVM *vm, int64_t n, int check) {
    MLCCNDArray *x = random_array(n, D), *w1 = random_array(H, D), *w2 = random_array(H, D), *w3 = random_array(D, H);
    MLCCValue args[4] = {{.v_handle = x}, {.v_handle = w1}, {.v_handle = w2}, {.v_handle = w3}};
    int codes[4] = {MLCC_TYPE_OBJECT, MLCC_TYPE_OBJECT, MLCC_TYPE_OBJECT, MLCC_TYPE_OBJECT};
    MLCCValue ret;
    int code;
    int rc = mlcc_vm_invoke(vm, "main", args, codes, 4, &ret, &code);
    if (rc == 0 && check) {
        MLCCNDArray *out = ret.v_handle;
        CHECK_EQ_INT(out->dl.shape[0], n);
        const float *px = x->dl.data, *p1 = w1->dl.data, *p2 = w2->dl.data, *p3 = w3->dl.data;
        double *want = malloc(sizeof(double) * (size_t)(n * D));
        for (int64_t i = 0; i < n; i++) {
            double mid[H];
            for (int h = 0; h < H; h++) {
                double a = 0, b = 0;
                for (int k = 0; k < D; k++) {
                    a += (double)px[i * D + k] * p1[h * D + k];
                    b += (double)px[i * D + k] * p2[h * D + k];
                }
                mid[h] = a / (1 + exp(-a)) * b;
            }
            for (int o = 0; o < D; o++) {
                double acc = 0;
                for (int h = 0; h < H; h++) acc += mid[h] * p3[o * H + h];
                want[i * D + o] = acc + px[i * D + o];
            }
        }
        double err = test_max_rel_error(out->dl.data, want, n * D);
        CHECK_MSG(err < 1e-5, "n=%lld: relative error %g", (long long)n, err);
        free(want);
    }
    if (rc == 0) mlcc_value_release(ret, code);
    mlcc_ndarray_release(x);
    mlcc_ndarray_release(w1);
    mlcc_ndarray_release(w2);
    mlcc_ndarray_release(w3);
    return rc;
}

static int count_calls(const mlcc_vm_exec *e, const char *callee) {
    int count = 0;
    for (int f = 0; f < e->num_funcs; f++)
        for (int k = 0; k < e->funcs[f].num_instrs; k++) {
            const mlcc_vm_instr *in = &e->funcs[f].instrs[k];
            if (in->op == VM_OP_CALL && strcmp(e->callees[in->callee].name, callee) == 0) count++;
        }
    return count;
}

static void test_planned(void) {
    mlcc_ir_module *mod = build_module(1);
    MLCCVM *vm = mlcc_build_vm(mod, NULL);
    CHECK_MSG(vm != NULL, "%s", mlcc_last_error());
    if (!vm) return;
    const mlcc_vm_exec *e = mlcc_vm_exec_of(vm);
    /* only the escaping result is allocated per call; every other kernel output (fusion leaves
     * a few) lives in a planned storage */
    if (getenv("MLCC_TEST_PRINT")) {
        mlcc_strbuf sb = STRBUF_INIT;
        mlcc_vm_exec_print(e, &sb);
        fputs(sb_cstr(&sb), stdout);
        sb_free(&sb);
    }
    int kernels = 0;
    for (int i = 0; i < e->num_callees; i++)
        kernels += strncmp(e->callees[i].name, "vm.builtin.", 11) != 0 && strncmp(e->callees[i].name, "shape_func", 10) != 0;
    CHECK_EQ_INT(count_calls(e, "vm.builtin.alloc_storage"), 1);
    CHECK_EQ_INT(count_calls(e, "vm.builtin.planned_storage"), kernels - 1);
    CHECK(kernels >= 2 && kernels < 6); /* fused: fewer kernels than the six ops */
    int64_t sizes[] = {1, 5, BOUND, 33};
    long planned = -1;
    for (int i = 0; i < 4; i++) {
        int rc = run(vm, sizes[i], 1);
        CHECK_MSG(rc == 0, "n=%lld: %s", (long long)sizes[i], mlcc_last_error());
        if (i == 0) planned = mlcc_vm_planned_allocations(vm);
    }
    CHECK(planned >= 2 && planned <= 3); /* h1/h2/g/m/y need at most three at once */
    CHECK_EQ_INT(mlcc_vm_planned_allocations(vm), planned);
    /* past the declared bound: a clear error, not a write past the storage */
    CHECK(run(vm, BOUND + 1, 0) != 0);
    CHECK_MSG(strstr(mlcc_last_error(), "storage") != NULL, "%s", mlcc_last_error());
    mlcc_vm_free(vm);
}

static void test_unbounded(void) {
    /* without a bound every temporary is allocated per call, and results still match */
    mlcc_ir_module *mod = build_module(0);
    MLCCVM *vm = mlcc_build_vm(mod, NULL);
    CHECK_MSG(vm != NULL, "%s", mlcc_last_error());
    if (!vm) return;
    CHECK_EQ_INT(count_calls(mlcc_vm_exec_of(vm), "vm.builtin.planned_storage"), 0);
    CHECK_EQ_INT(run(vm, 100, 1), 0);
    mlcc_vm_free(vm);
}

static void test_print_after(void) {
    mlcc_ir_module *mod = build_module(1);
    mlcc_strbuf printed = STRBUF_INIT;
    mlcc_build_options opt = {NULL, "legalize", &printed};
    char *src = mlcc_build_source(mod, &opt);
    CHECK(src != NULL);
    CHECK_MSG(strstr(sb_cstr(&printed), "R.call_tir") != NULL, "%s", sb_cstr(&printed));
    CHECK(src && strstr(src, "mlcc_library_vm_program") != NULL);
    free(src);
    sb_free(&printed);
}

int main(void) {
    ir_scope_begin();
    test_rng_seed(3);
    test_planned();
    test_unbounded();
    test_print_after();
    ir_scope_end();
    return test_finish();
}
