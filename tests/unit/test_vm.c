/* test_vm.c - the VM runs a two-layer MLP with a symbolic batch n through compiled kernels and
 * matches float64 loops; the program survives a JSON round trip; malformed programs and
 * mismatched inputs are clear errors; MLCC_VM_SKIP leaves out the kernels it names. */
#include <dlpack/dlpack.h>

#include "codegen/jit.h"
#include "mlp_fixture.h"
#include "runtime/vm.h"
#include "support/error.h"
#include "te/te.h"
#include "test.h"

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
    MLCCNDArray *x = random_array(n, MLP_IN), *w1 = random_array(MLP_IN, MLP_HID), *w2 = random_array(MLP_HID, MLP_OUT);
    MLCCValue ret;
    int code;
    int rc = run_mlp(vm, x, w1, w2, &ret, &code);
    CHECK_MSG(rc == 0, "%s", mlcc_last_error());
    if (rc == 0) {
        CHECK_EQ_INT(code, MLCC_TYPE_OBJECT);
        MLCCNDArray *y = ret.v_handle;
        CHECK_EQ_INT(y->dl.shape[0], n);
        CHECK_EQ_INT(y->dl.shape[1], MLP_OUT);
        double max_err = mlp_max_error(x->dl.data, w1->dl.data, w2->dl.data, y->dl.data, n);
        CHECK_MSG(max_err < 1e-5, "n=%lld max error %g", (long long)n, max_err);
        mlcc_value_release(ret, code);
    }
    mlcc_ndarray_release(x);
    mlcc_ndarray_release(w1);
    mlcc_ndarray_release(w2);
}

static void test_mlp(void) {
    mlcc_jit_module *mod = mlp_build_kernels();
    CHECK_MSG(mod != NULL, "%s", mlcc_last_error());
    if (!mod) return;
    mlcc_vm_exec *exec = mlp_build_program();
    MLCCVM *vm = mlcc_vm_create(exec, mlcc_jit_module_handle(mod), MLCC_CPU);
    CHECK_MSG(vm != NULL, "%s", mlcc_last_error());
    if (vm) {
        check_mlp(vm, 1);
        long planned = mlcc_vm_planned_allocations(vm);
        CHECK_EQ_INT(planned, 1);
        check_mlp(vm, 13);
        check_mlp(vm, 64);
        /* repeated calls at any n up to the bound reuse the planned storage */
        CHECK_EQ_INT(mlcc_vm_planned_allocations(vm), planned);
        /* a wrong inner dimension is caught by match_shape, naming the input */
        MLCCNDArray *x = random_array(3, MLP_IN + 1), *w1 = random_array(MLP_IN, MLP_HID), *w2 = random_array(MLP_HID, MLP_OUT);
        MLCCValue ret;
        int code;
        CHECK(run_mlp(vm, x, w1, w2, &ret, &code) != 0);
        CHECK_MSG(strstr(mlcc_last_error(), "main: x") != NULL, "%s", mlcc_last_error());
        mlcc_ndarray_release(x);
        /* a wrong weight shape is caught by the kernel's entry check */
        x = random_array(3, MLP_IN);
        MLCCNDArray *bad_w1 = random_array(MLP_IN, MLP_HID + 1);
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

/* MLCC_VM_SKIP leaves out the kernels it names (the output is then not the MLP's) but never a
 * call whose result the program uses (alloc_tensor here: the run still succeeds). */
static void test_skip(void) {
    mlcc_jit_module *mod = mlp_build_kernels();
    CHECK_MSG(mod != NULL, "%s", mlcc_last_error());
    if (!mod) return;
    mlcc_vm_exec *exec = mlp_build_program();
    setenv("MLCC_VM_SKIP", "alloc_tensor,dense_relu", 1);
    MLCCVM *vm = mlcc_vm_create(exec, mlcc_jit_module_handle(mod), MLCC_CPU);
    unsetenv("MLCC_VM_SKIP");
    CHECK_MSG(vm != NULL, "%s", mlcc_last_error());
    MLCCNDArray *x = random_array(5, MLP_IN), *w1 = random_array(MLP_IN, MLP_HID), *w2 = random_array(MLP_HID, MLP_OUT);
    MLCCValue ret;
    int code;
    int rc = vm ? run_mlp(vm, x, w1, w2, &ret, &code) : -1;
    CHECK_MSG(rc == 0, "%s", mlcc_last_error());
    if (rc == 0) {
        /* the hidden layer was never computed: y is dense(planned storage), not the MLP of x */
        double max_err = mlp_max_error(x->dl.data, w1->dl.data, w2->dl.data, ((MLCCNDArray *)ret.v_handle)->dl.data, 5);
        CHECK_MSG(!(max_err < 1e-5), "MLCC_VM_SKIP=dense_relu: the output is still the MLP's (max error %g)", max_err);
        mlcc_value_release(ret, code);
    }
    mlcc_ndarray_release(x);
    mlcc_ndarray_release(w1);
    mlcc_ndarray_release(w2);
    mlcc_vm_free(vm);
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
    test_skip();
    test_malformed();
    ir_scope_end();
    return test_finish();
}
