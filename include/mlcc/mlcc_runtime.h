/* mlcc_runtime.h - the runtime's public C API: the packed-function ABI that generated kernels,
 * runtime builtins and the VM share, on DLPack tensors (DESIGN.md §4).
 *
 * A packed function takes an array of tagged values and returns one tagged value:
 *     int fn(const MLCCValue *args, const int *type_codes, int num_args,
 *            MLCCValue *ret, int *ret_type_code, void *resource);
 * It returns 0 on success and nonzero on failure, after recording a message (see
 * mlcc_last_error in the runtime, or the library's error hook for generated code). */
#ifndef MLCC_RUNTIME_H
#define MLCC_RUNTIME_H

#include <stdint.h>

#include <dlpack/dlpack.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef union MLCCValue {
    int64_t v_int64;
    double v_float64;
    void *v_handle;
    const char *v_str;
    DLTensor *v_tensor;
} MLCCValue;

/* Type codes of MLCCValue. */
enum {
    MLCC_TYPE_INT = 0,
    MLCC_TYPE_FLOAT = 2,
    MLCC_TYPE_HANDLE = 3,
    MLCC_TYPE_NULL = 4,
    MLCC_TYPE_DLTENSOR = 7,
    MLCC_TYPE_OBJECT = 8, /* a runtime object (NDArray, shape, KV cache, function, ...) */
    MLCC_TYPE_STR = 11,
};

typedef int (*MLCCPackedCFunc)(const MLCCValue *args, const int *type_codes, int num_args,
                               MLCCValue *ret, int *ret_type_code, void *resource);

/* The message of the last failure on this thread ("" when none). */
const char *mlcc_last_error(void);

#ifdef __cplusplus
}
#endif

#endif
