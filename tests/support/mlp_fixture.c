/* mlp_fixture.c - a two-layer MLP (dense+relu, dense) with a symbolic batch n: its kernels
 * built with te and a hand-written VM program, shared by the VM and model-library tests. */
#include "mlp_fixture.h"

#include <math.h>

#include "te/te.h"

static te_tensor *X, *W;

static mlcc_expr *dense_relu(mlcc_expr **i, void *c) {
    (void)c;
    return ir_mul(te_load2(X, i[0], i[2]), te_load2(W, i[2], i[1]));
}

static te_tensor *RELU_IN;
static mlcc_expr *relu(mlcc_expr **i, void *c) {
    (void)c;
    return ir_max(te_load2(RELU_IN, i[0], i[1]), ir_float(DT_F32, 0));
}

mlcc_prim_func **mlp_kernels(int *count) {
    mlcc_expr *n = ir_size_var("n");
    X = te_placeholder("x", DT_F32, (mlcc_expr *[]){n, ir_int(MLP_IN)}, 2);
    W = te_placeholder("w", DT_F32, (mlcc_expr *[]){ir_int(MLP_IN), ir_int(MLP_HID)}, 2);
    te_tensor *mm = te_reduce("mm", DT_F32, (mlcc_expr *[]){n, ir_int(MLP_HID)}, 2, TE_SUM, (mlcc_expr *[]){ir_int(MLP_IN)}, 1, dense_relu, NULL);
    RELU_IN = mm;
    te_tensor *h = te_compute("h", DT_F32, (mlcc_expr *[]){n, ir_int(MLP_HID)}, 2, relu, NULL);
    mlcc_prim_func *f1 = te_create_prim_func("dense_relu", (te_tensor *[]){X, W, h}, 3);
    X = te_placeholder("h", DT_F32, (mlcc_expr *[]){n, ir_int(MLP_HID)}, 2);
    W = te_placeholder("w", DT_F32, (mlcc_expr *[]){ir_int(MLP_HID), ir_int(MLP_OUT)}, 2);
    te_tensor *y = te_reduce("y", DT_F32, (mlcc_expr *[]){n, ir_int(MLP_OUT)}, 2, TE_SUM, (mlcc_expr *[]){ir_int(MLP_HID)}, 1, dense_relu, NULL);
    mlcc_prim_func *f2 = te_create_prim_func("dense", (te_tensor *[]){X, W, y}, 3);
    mlcc_prim_func **funcs = ir_alloc(sizeof(mlcc_prim_func *) * 2);
    funcs[0] = f1;
    funcs[1] = f2;
    *count = 2;
    return funcs;
}

mlcc_jit_module *mlp_build_kernels(void) {
    int n;
    mlcc_prim_func **funcs = mlp_kernels(&n);
    return mlcc_jit_build(funcs, n);
}

static mlcc_vm_arg R(int r) { return (mlcc_vm_arg){VM_ARG_REG, r}; }
static mlcc_vm_arg I(int64_t v) { return (mlcc_vm_arg){VM_ARG_IMM, v}; }
static mlcc_vm_arg C(int c) { return (mlcc_vm_arg){VM_ARG_CONST, c}; }
static mlcc_vm_arg HEAP(void) { return (mlcc_vm_arg){VM_ARG_HEAP, 0}; }
static mlcc_vm_arg VMARG(void) { return (mlcc_vm_arg){VM_ARG_VM, 0}; }

/* main(x[n, IN], w1[IN, HID], w2[HID, OUT]) -> y[n, OUT], storages sized for n <= MAX_N */
mlcc_vm_exec *mlp_build_program(void) {
    mlcc_vm_exec *e = mlcc_vm_exec_new();
    int f = mlcc_vm_exec_add_function(e, "main", 3, 9, 1);
    MLCCString *s_x = mlcc_string_new("main: x", 7), *s_f32 = mlcc_string_new("float32", 7);
    int c_x = mlcc_vm_exec_add_const(e, (MLCCValue){.v_handle = s_x}, MLCC_TYPE_OBJECT);
    int c_f32 = mlcc_vm_exec_add_const(e, (MLCCValue){.v_handle = s_f32}, MLCC_TYPE_OBJECT);
    mlcc_object_release(&s_x->obj);
    mlcc_object_release(&s_f32->obj);
    int match = mlcc_vm_exec_callee(e, "vm.builtin.match_shape"), storage = mlcc_vm_exec_callee(e, "vm.builtin.alloc_storage"),
        planned = mlcc_vm_exec_callee(e, "vm.builtin.planned_storage"),
        mkshape = mlcc_vm_exec_callee(e, "vm.builtin.make_shape"), tensor = mlcc_vm_exec_callee(e, "vm.builtin.alloc_tensor"),
        k1 = mlcc_vm_exec_callee(e, "dense_relu"), k2 = mlcc_vm_exec_callee(e, "dense");
    mlcc_vm_emit_call(e, f, -1, match, (mlcc_vm_arg[]){R(0), HEAP(), I(2), I(VM_MATCH_STORE_TO_HEAP), I(0), I(VM_MATCH_ASSERT_EQ_IMM), I(MLP_IN), C(c_x)}, 8);
    /* the hidden activation lives in a planned storage (made once per VM); the result, which
     * escapes to the caller, gets fresh storage each call */
    mlcc_vm_emit_call(e, f, 3, planned, (mlcc_vm_arg[]){VMARG(), I(0), I(MLP_MAX_N * MLP_HID * 4)}, 3);
    mlcc_vm_emit_call(e, f, 4, mkshape, (mlcc_vm_arg[]){HEAP(), I(2), I(VM_MAKE_LOAD_HEAP), I(0), I(VM_MAKE_USE_IMM), I(MLP_HID)}, 6);
    mlcc_vm_emit_call(e, f, 5, tensor, (mlcc_vm_arg[]){R(3), I(0), R(4), C(c_f32)}, 4);
    mlcc_vm_emit_call(e, f, -1, k1, (mlcc_vm_arg[]){R(0), R(1), R(5)}, 3);
    mlcc_vm_emit_call(e, f, 6, storage, (mlcc_vm_arg[]){VMARG(), I(MLP_MAX_N * MLP_OUT * 4)}, 2);
    mlcc_vm_emit_call(e, f, 7, mkshape, (mlcc_vm_arg[]){HEAP(), I(2), I(VM_MAKE_LOAD_HEAP), I(0), I(VM_MAKE_USE_IMM), I(MLP_OUT)}, 6);
    mlcc_vm_emit_call(e, f, 8, tensor, (mlcc_vm_arg[]){R(6), I(0), R(7), C(c_f32)}, 4);
    mlcc_vm_emit_call(e, f, -1, k2, (mlcc_vm_arg[]){R(5), R(2), R(8)}, 3);
    mlcc_vm_emit_ret(e, f, 8);
    mlcc_vm_exec_link(e);
    return e;
}

double mlp_max_error(const float *x, const float *w1, const float *w2, const float *y, int64_t n) {
    double max_err = 0;
    for (int64_t r = 0; r < n; r++)
        for (int o = 0; o < MLP_OUT; o++) {
            double acc = 0;
            for (int h = 0; h < MLP_HID; h++) {
                double hv = 0;
                for (int i = 0; i < MLP_IN; i++) hv += (double)x[r * MLP_IN + i] * w1[i * MLP_HID + h];
                acc += (hv > 0 ? hv : 0) * w2[h * MLP_OUT + o];
            }
            max_err = fmax(max_err, fabs(acc - y[r * MLP_OUT + o]));
        }
    return max_err;
}
