/* run_model_library.c - loads a model library with the runtime alone and runs one function on
 * float32 tensors read from a file. Linked against libmlcc_runtime only, so it proves a saved
 * library needs no compiler.
 *
 * usage: run_model_library LIB FUNC IN OUT R0xC0 R1xC1 ... - reads the inputs' bytes from IN
 * in order, writes the result's bytes to OUT. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mlcc/mlcc_runtime.h"
#include "runtime/vm.h"

int main(int argc, char **argv) {
    if (argc < 6) {
        fprintf(stderr, "usage: %s LIB FUNC IN OUT SHAPE...\n", argv[0]);
        return 2;
    }
    MLCCVM *vm = mlcc_vm_load_library(argv[1], MLCC_CPU);
    if (!vm) {
        fprintf(stderr, "error: %s\n", mlcc_last_error());
        return 1;
    }
    FILE *in = fopen(argv[3], "rb");
    if (!in) {
        perror(argv[3]);
        return 1;
    }
    int nargs = argc - 5;
    MLCCValue args[16];
    int codes[16];
    MLCCNDArray *arrays[16];
    for (int i = 0; i < nargs && i < 16; i++) {
        int64_t shape[2];
        if (sscanf(argv[5 + i], "%ldx%ld", &shape[0], &shape[1]) != 2) {
            fprintf(stderr, "bad shape %s\n", argv[5 + i]);
            return 2;
        }
        arrays[i] = mlcc_ndarray_empty(2, shape, MLCC_DTYPE_F32, MLCC_CPU);
        size_t nbytes = mlcc_ndarray_nbytes(arrays[i]);
        if (fread(arrays[i]->dl.data, 1, nbytes, in) != nbytes) {
            fprintf(stderr, "short input\n");
            return 1;
        }
        args[i].v_handle = arrays[i];
        codes[i] = MLCC_TYPE_OBJECT;
    }
    fclose(in);
    MLCCValue ret;
    int code;
    int rc = mlcc_vm_invoke(vm, argv[2], args, codes, nargs, &ret, &code);
    if (rc != 0) fprintf(stderr, "error: %s\n", mlcc_last_error());
    for (int i = 0; i < nargs; i++) mlcc_ndarray_release(arrays[i]);
    if (rc != 0) {
        mlcc_vm_free(vm);
        return 1;
    }
    MLCCNDArray *out = code == MLCC_TYPE_OBJECT ? ret.v_handle : NULL;
    if (!out || out->obj.type_index != MLCC_OBJECT_NDARRAY) {
        fprintf(stderr, "error: %s did not return a tensor\n", argv[2]);
        mlcc_value_release(ret, code);
        mlcc_vm_free(vm);
        return 1;
    }
    FILE *f = fopen(argv[4], "wb");
    size_t nbytes = mlcc_ndarray_nbytes(out);
    int ok = f && fwrite(out->dl.data, 1, nbytes, f) == nbytes;
    if (f) fclose(f);
    mlcc_value_release(ret, code);
    mlcc_vm_free(vm);
    return ok ? 0 : 1;
}
