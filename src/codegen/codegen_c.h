/* codegen_c.h - emits C11 source for lowered PrimFuncs (DESIGN.md §3.8).
 *
 * Each PrimFunc becomes a static implementation function over raw pointers and scalars, plus an
 * exported packed-function wrapper `mlcc_fn_<name>` with the runtime ABI
 * (include/mlcc/mlcc_runtime.h). The wrapper checks, before touching memory, the argument
 * count and kinds, and for every tensor its ndim, dtype, CPU device, compact layout and shape
 * (binding symbolic sizes such as `n` at their first appearance and checking every other
 * appearance), and reports a mismatch through the library's error hook instead of reading out
 * of bounds. Parallel loops become OpenMP `parallel for`, vectorized loops `omp simd`, unrolled
 * loops `GCC unroll`.
 *
 * The source also defines the model-library symbols: `mlcc_library_function_names` (a NULL-
 * terminated list), `mlcc_library_set_error` (a hook the loader sets) and
 * `mlcc_library_num_threads`. */
#ifndef MLCC_CODEGEN_CODEGEN_C_H
#define MLCC_CODEGEN_CODEGEN_C_H

#include "ir/tir.h"
#include "support/strbuf.h"

/* Emits one translation unit for the functions (block-form PrimFuncs are lowered first).
 * 0 on success; -1 with an error naming the function and construct it cannot emit. */
int codegen_c(mlcc_prim_func **funcs, int nfuncs, mlcc_strbuf *out);

/* Helpers the GPU generators share with this one: the constant element count of a buffer (-1
 * when a dimension is symbolic), and whether s is a C identifier (a name a wrapper can carry). */
int64_t codegen_const_elems(const mlcc_buffer *b);
int codegen_is_c_identifier(const char *s);

#endif
