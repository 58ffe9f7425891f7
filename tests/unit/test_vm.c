/* test_vm.c - the VM runs a two-layer MLP with a symbolic batch n through compiled kernels and
 * matches float64 loops; the program survives a JSON round trip; malformed programs and
 * mismatched inputs are clear errors. */
#include <dlpack/dlpack.h>

#include "codegen/jit.h"
#include "runtime/vm.h"
#include "support/error.h"
#include "te/te.h"
#include "test.h"

enum { IN = 8, HID = 16, OUT = 4, MAX_N = 64 };

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

static mlcc_jit_module *build_kernels(void) {
    mlcc_expr *n = ir_size_var("n");
    X = te_placeholder("x", DT_F32, (mlcc_expr *[]){n, ir_int(IN)}, 2);
    W = te_placeholder("w", DT_F32, (mlcc_expr *[]){ir_int(IN), ir_int(HID)}, 2);
    te_tensor *mm = te_reduce("mm", DT_F32, (mlcc_expr *[]){n, ir_int(HID)}, 2, TE_SUM, (mlcc_expr *[]){ir_int(IN)}, 1, dense_relu, NULL);
    RELU_IN = mm;
    te_tensor *h = te_compute("h", DT_F32, (mlcc_expr *[]){n, ir_int(HID)}, 2, relu, NULL);
    mlcc_prim_func *f1 = te_create_prim_func("dense_relu", (te_tensor *[]){X, W, h}, 3);
    X = te_placeholder("h", DT_F32, (mlcc_expr *[]){n, ir_int(HID)}, 2);
    W = te_placeholder("w", DT_F32, (mlcc_expr *[]){ir_int(HID), ir_int(OUT)}, 2);
    te_tensor *y = te_reduce("y", DT_F32, (mlcc_expr *[]){n, ir_int(OUT)}, 2, TE_SUM, (mlcc_expr *[]){ir_int(HID)}, 1, dense_relu, NULL);
    mlcc_prim_func *f2 = te_create_prim_func("dense", (te_tensor *[]){X, W, y}, 3);
    return mlcc_jit_build((mlcc_prim_func *[]){f1, f2}, 2);
}

static mlcc_vm_arg R(int r) { return (mlcc_vm_arg){VM_ARG_REG, r}; }
static mlcc_vm_arg I(int64_t v) { return (mlcc_vm_arg){VM_ARG_IMM, v}; }
static mlcc_vm_arg C(int c) { return (mlcc_vm_arg){VM_ARG_CONST, c}; }
static mlcc_vm_arg HEAP(void) { return (mlcc_vm_arg){VM_ARG_HEAP, 0}; }
static mlcc_vm_arg VMARG(void) { return (mlcc_vm_arg){VM_ARG_VM, 0}; }

/* main(x[n, IN], w1[IN, HID], w2[HID, OUT]) -> y[n, OUT], storages sized for n <= MAX_N */
static mlcc_vm_exec *build_program(void) {
    mlcc_vm_exec *e = mlcc_vm_exec_new();
    int f = mlcc_vm_exec_add_function(e, "main", 3, 9, 1);
    MLCCString *s_x = mlcc_string_new("main: x", 7), *s_f32 = mlcc_string_new("float32", 7);
    int c_x = mlcc_vm_exec_add_const(e, (MLCCValue){.v_handle = s_x}, MLCC_TYPE_OBJECT);
    int c_f32 = mlcc_vm_exec_add_const(e, (MLCCValue){.v_handle = s_f32}, MLCC_TYPE_OBJECT);
    mlcc_object_release(&s_x->obj);
    mlcc_object_release(&s_f32->obj);
    int match = mlcc_vm_exec_callee(e, "vm.builtin.match_shape"), storage = mlcc_vm_exec_callee(e, "vm.builtin.alloc_storage"),
        mkshape = mlcc_vm_exec_callee(e, "vm.builtin.make_shape"), tensor = mlcc_vm_exec_callee(e, "vm.builtin.alloc_tensor"),
        k1 = mlcc_vm_exec_callee(e, "dense_relu"), k2 = mlcc_vm_exec_callee(e, "dense");
    mlcc_vm_emit_call(e, f, -1, match, (mlcc_vm_arg[]){R(0), HEAP(), I(2), I(VM_MATCH_STORE_TO_HEAP), I(0), I(VM_MATCH_ASSERT_EQ_IMM), I(IN), C(c_x)}, 8);
    mlcc_vm_emit_call(e, f, 3, storage, (mlcc_vm_arg[]){VMARG(), I(MAX_N * HID * 4)}, 2);
    mlcc_vm_emit_call(e, f, 4, mkshape, (mlcc_vm_arg[]){HEAP(), I(2), I(VM_MAKE_LOAD_HEAP), I(0), I(VM_MAKE_USE_IMM), I(HID)}, 6);
    mlcc_vm_emit_call(e, f, 5, tensor, (mlcc_vm_arg[]){R(3), I(0), R(4), C(c_f32)}, 4);
    mlcc_vm_emit_call(e, f, -1, k1, (mlcc_vm_arg[]){R(0), R(1), R(5)}, 3);
    mlcc_vm_emit_call(e, f, 6, storage, (mlcc_vm_arg[]){VMARG(), I(MAX_N * OUT * 4)}, 2);
    mlcc_vm_emit_call(e, f, 7, mkshape, (mlcc_vm_arg[]){HEAP(), I(2), I(VM_MAKE_LOAD_HEAP), I(0), I(VM_MAKE_USE_IMM), I(OUT)}, 6);
    mlcc_vm_emit_call(e, f, 8, tensor, (mlcc_vm_arg[]){R(6), I(0), R(7), C(c_f32)}, 4);
    mlcc_vm_emit_call(e, f, -1, k2, (mlcc_vm_arg[]){R(5), R(2), R(8)}, 3);
    mlcc_vm_emit_ret(e, f, 8);
    mlcc_vm_exec_link(e);
    return e;
}

static uint64_t rng = 99;
static float rnd(void) {
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((double)(rng >> 11) / (double)(1ull << 53) - 0.5);
}

static MLCCNDArray *random_array(int64_t rows, int64_t cols) {
    MLCCNDArray *a = mlcc_ndarray_empty(2, (int64_t[]){rows, cols}, MLCC_DTYPE_F32, MLCC_CPU);
    float *p = a->dl.data;
    for (int64_t i = 0; i < rows * cols; i++) p[i] = rnd();
    return a;
}

static int run_mlp(MLCCVM *vm, MLCCNDArray *x, MLCCNDArray *w1, MLCCNDArray *w2, MLCCValue *ret, int *code) {
    MLCCValue args[3] = {{.v_handle = x}, {.v_handle = w1}, {.v_handle = w2}};
    int codes[3] = {MLCC_TYPE_OBJECT, MLCC_TYPE_OBJECT, MLCC_TYPE_OBJECT};
    return mlcc_vm_invoke(vm, "main", args, codes, 3, ret, code);
}

static void check_mlp(MLCCVM *vm, int64_t n) {
    MLCCNDArray *x = random_array(n, IN), *w1 = random_array(IN, HID), *w2 = random_array(HID, OUT);
    MLCCValue ret;
    int code;
    int rc = run_mlp(vm, x, w1, w2, &ret, &code);
    CHECK_MSG(rc == 0, "%s", mlcc_last_error());
    if (rc == 0) {
        CHECK_EQ_INT(code, MLCC_TYPE_OBJECT);
        MLCCNDArray *y = ret.v_handle;
        CHECK_EQ_INT(y->dl.shape[0], n);
        CHECK_EQ_INT(y->dl.shape[1], OUT);
        const float *px = x->dl.data, *p1 = w1->dl.data, *p2 = w2->dl.data, *py = y->dl.data;
        double max_err = 0;
        for (int64_t r = 0; r < n; r++)
            for (int o = 0; o < OUT; o++) {
                double acc = 0;
                for (int h = 0; h < HID; h++) {
                    double hv = 0;
                    for (int i = 0; i < IN; i++) hv += (double)px[r * IN + i] * p1[i * HID + h];
                    acc += (hv > 0 ? hv : 0) * p2[h * OUT + o];
                }
                max_err = fmax(max_err, fabs(acc - py[r * OUT + o]));
            }
        CHECK_MSG(max_err < 1e-5, "n=%lld max error %g", (long long)n, max_err);
        mlcc_value_release(ret, code);
    }
    mlcc_ndarray_release(x);
    mlcc_ndarray_release(w1);
    mlcc_ndarray_release(w2);
}

static void test_mlp(void) {
    mlcc_jit_module *mod = build_kernels();
    CHECK_MSG(mod != NULL, "%s", mlcc_last_error());
    if (!mod) return;
    mlcc_vm_exec *exec = build_program();
    MLCCVM *vm = mlcc_vm_create(exec, mlcc_jit_module_handle(mod), MLCC_CPU);
    CHECK_MSG(vm != NULL, "%s", mlcc_last_error());
    if (vm) {
        check_mlp(vm, 1);
        check_mlp(vm, 13);
        check_mlp(vm, 64);
        /* a wrong inner dimension is caught by match_shape, naming the input */
        MLCCNDArray *x = random_array(3, IN + 1), *w1 = random_array(IN, HID), *w2 = random_array(HID, OUT);
        MLCCValue ret;
        int code;
        CHECK(run_mlp(vm, x, w1, w2, &ret, &code) != 0);
        CHECK_MSG(strstr(mlcc_last_error(), "main: x") != NULL, "%s", mlcc_last_error());
        mlcc_ndarray_release(x);
        /* a wrong weight shape is caught by the kernel's entry check */
        x = random_array(3, IN);
        MLCCNDArray *bad_w1 = random_array(IN, HID + 1);
        CHECK(run_mlp(vm, x, bad_w1, w2, &ret, &code) != 0);
        CHECK_MSG(strstr(mlcc_last_error(), "dense_relu") != NULL, "%s", mlcc_last_error());
        mlcc_ndarray_release(x);
        mlcc_ndarray_release(bad_w1);
        mlcc_ndarray_release(w1);
        mlcc_ndarray_release(w2);
        mlcc_vm_free(vm);
    }

    /* JSON round trip: same text again, and the loaded program runs */
    char *json = mlcc_vm_exec_to_json(exec);
    mlcc_vm_exec *loaded = mlcc_vm_exec_from_json(json, strlen(json));
    CHECK_MSG(loaded != NULL, "%s", mlcc_last_error());
    if (loaded) {
        char *again = mlcc_vm_exec_to_json(loaded);
        CHECK_EQ_STR(again, json);
        free(again);
        MLCCVM *vm2 = mlcc_vm_create(loaded, mlcc_jit_module_handle(mod), MLCC_CPU);
        CHECK(vm2 != NULL);
        if (vm2) check_mlp(vm2, 7);
        mlcc_vm_free(vm2);
        mlcc_vm_exec_free(loaded);
    }
    free(json);
    mlcc_vm_exec_free(exec);
    mlcc_jit_free(mod);
}

static void expect_bad_program(const char *json, const char *needle) {
    mlcc_vm_exec *e = mlcc_vm_exec_from_json(json, strlen(json));
    CHECK(e == NULL);
    CHECK_MSG(strstr(mlcc_last_error(), needle) != NULL, "wanted '%s' in: %s", needle, mlcc_last_error());
    mlcc_vm_exec_free(e);
}

static void test_malformed(void) {
    expect_bad_program("{", "vm program:1:");
    expect_bad_program("{\"format\":\"x\",\"functions\":[],\"callees\":[],\"constants\":[]}", "format");
    expect_bad_program("{\"format\":\"mlcc-vm-1\",\"functions\":[{\"name\":\"f\",\"num_params\":0,\"num_regs\":1,\"heap_size\":0,"
                       "\"code\":[{\"op\":\"call\",\"dst\":0,\"callee\":5,\"args\":[]},{\"op\":\"ret\",\"reg\":0,\"offset\":0}]}],"
                       "\"callees\":[],\"constants\":[]}", "callee 5 out of range");
    expect_bad_program("{\"format\":\"mlcc-vm-1\",\"functions\":[{\"name\":\"f\",\"num_params\":0,\"num_regs\":1,\"heap_size\":0,"
                       "\"code\":[{\"op\":\"goto\",\"reg\":0,\"offset\":7}]}],\"callees\":[],\"constants\":[]}", "\"offset\"");
    expect_bad_program("{\"format\":\"mlcc-vm-1\",\"functions\":[{\"name\":\"f\",\"num_params\":0,\"num_regs\":1,\"heap_size\":0,"
                       "\"code\":[{\"op\":\"goto\",\"reg\":0,\"offset\":-1},{\"op\":\"ret\",\"reg\":0,\"offset\":0}]}],\"callees\":[],\"constants\":[]}",
                       "outside the function");
    expect_bad_program("{\"format\":\"mlcc-vm-1\",\"functions\":[{\"name\":\"f\",\"num_params\":0,\"num_regs\":1,\"heap_size\":0,"
                       "\"code\":[{\"op\":\"ret\",\"reg\":3,\"offset\":0}]}],\"callees\":[],\"constants\":[]}", "\"reg\"");
    expect_bad_program("{\"format\":\"mlcc-vm-1\",\"functions\":[],\"callees\":[],\"constants\":[{\"type\":\"ndarray\",\"dtype\":\"float32\","
                       "\"shape\":[4],\"data\":\"AAAA\"}]}", "constants[0]");
    /* an unknown callee is reported when the VM is created */
    const char *ok = "{\"format\":\"mlcc-vm-1\",\"functions\":[{\"name\":\"f\",\"num_params\":0,\"num_regs\":1,\"heap_size\":0,"
                     "\"code\":[{\"op\":\"call\",\"dst\":0,\"callee\":0,\"args\":[]},{\"op\":\"ret\",\"reg\":0,\"offset\":0}]}],"
                     "\"callees\":[\"no.such.function\"],\"constants\":[]}";
    mlcc_vm_exec *e = mlcc_vm_exec_from_json(ok, strlen(ok));
    CHECK(e != NULL);
    if (e) {
        CHECK(mlcc_vm_create(e, NULL, MLCC_CPU) == NULL);
        CHECK_MSG(strstr(mlcc_last_error(), "no.such.function") != NULL, "%s", mlcc_last_error());
        mlcc_vm_exec_free(e);
    }
}

int main(void) {
    ir_scope_begin();
    test_mlp();
    test_malformed();
    ir_scope_end();
    return test_finish();
}
