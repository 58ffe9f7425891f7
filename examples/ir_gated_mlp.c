/* ir_gated_mlp.c - the public compiler API end to end: build a graph function with a symbolic
 * batch n (y = silu(x @ w) * x), print it before and after fusion, compile it into a model
 * library, load the library with the runtime alone and run it.
 *
 * usage: ir_gated_mlp OUT_DIR   (writes OUT_DIR/gated_mlp.so) */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "mlcc/mlcc_ir.h"
#include "mlcc/mlcc_runtime.h"
#include "runtime/vm.h"

enum { D = 8, ROWS = 5 };

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s OUT_DIR\n", argv[0]);
        return 2;
    }
    char lib[4096];
    snprintf(lib, sizeof lib, "%s/gated_mlp.so", argv[1]);

    mlcc_ir_scope_begin();
    mlcc_ir_builder *b = mlcc_ir_builder_new();
    mlcc_ir_dim n = mlcc_ir_size_var("n");
    mlcc_ir_value x = mlcc_ir_param(b, "x", "float32", 2, (mlcc_ir_dim[]){n, mlcc_ir_const(D)});
    mlcc_ir_value w = mlcc_ir_param(b, "w", "float32", 2, (mlcc_ir_dim[]){mlcc_ir_const(D), mlcc_ir_const(D)});
    mlcc_ir_value h = mlcc_ir_op(b, "matmul", (mlcc_ir_value[]){x, w}, 2, "h");
    mlcc_ir_value g = mlcc_ir_op(b, "nn.silu", &h, 1, "g");
    mlcc_ir_value y = mlcc_ir_op(b, "multiply", (mlcc_ir_value[]){g, x}, 2, "y");
    mlcc_ir_module *m = mlcc_ir_builder_finish(b, "main", y, 256);
    if (!m) {
        fprintf(stderr, "error: %s\n", mlcc_last_error());
        return 1;
    }
    char *text = mlcc_ir_module_print(m);
    printf("== as built ==\n%s\n", text);
    free(text);
    text = mlcc_ir_module_print_after(m, "fuse_tir");
    if (text) printf("== after fuse_tir ==\n%s\n", text);
    free(text);
    if (mlcc_ir_build_library(m, lib) != 0) {
        fprintf(stderr, "error: %s\n", mlcc_last_error());
        return 1;
    }
    mlcc_ir_scope_end();

    /* the runtime alone from here on */
    MLCCVM *vm = mlcc_vm_load_library(lib, MLCC_CPU);
    if (!vm) {
        fprintf(stderr, "error: %s\n", mlcc_last_error());
        return 1;
    }
    MLCCNDArray *xa = mlcc_ndarray_empty(2, (int64_t[]){ROWS, D}, MLCC_DTYPE_F32, MLCC_CPU);
    MLCCNDArray *wa = mlcc_ndarray_empty(2, (int64_t[]){D, D}, MLCC_DTYPE_F32, MLCC_CPU);
    float *px = xa->dl.data, *pw = wa->dl.data;
    for (int i = 0; i < ROWS * D; i++) px[i] = (float)((i % 7) - 3) * 0.25f;
    for (int i = 0; i < D * D; i++) pw[i] = (float)((i % 5) - 2) * 0.125f;
    MLCCValue args[2] = {{.v_handle = xa}, {.v_handle = wa}}, ret;
    int codes[2] = {MLCC_TYPE_OBJECT, MLCC_TYPE_OBJECT}, code;
    int rc = mlcc_vm_invoke(vm, "main", args, codes, 2, &ret, &code);
    double max_err = 0;
    if (rc == 0) {
        const float *py = ((MLCCNDArray *)ret.v_handle)->dl.data;
        for (int r = 0; r < ROWS; r++)
            for (int c = 0; c < D; c++) {
                double hv = 0;
                for (int k = 0; k < D; k++) hv += (double)px[r * D + k] * pw[k * D + c];
                double want = hv / (1 + exp(-hv)) * px[r * D + c];
                max_err = fmax(max_err, fabs(want - py[r * D + c]));
            }
        mlcc_value_release(ret, code);
        printf("ran %s on n = %d: max |error| vs float64 = %.3g\n", lib, ROWS, max_err);
    } else {
        fprintf(stderr, "error: %s\n", mlcc_last_error());
    }
    mlcc_ndarray_release(xa);
    mlcc_ndarray_release(wa);
    mlcc_vm_free(vm);
    return rc == 0 && max_err < 1e-5 ? 0 : 1;
}
