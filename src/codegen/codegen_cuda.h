/* codegen_cuda.h - emits a CUDA model library for lowered PrimFuncs (DESIGN.md §3.8).
 *
 * The output is one C translation unit, codegen_c's for the host kernels (below) followed by
 * the CUDA part, with the same exported symbols
 * (mlcc_fn_<name> packed wrappers, mlcc_library_function_names, mlcc_library_set_error), plus
 * the CUDA C++ source of every kernel embedded as a string (`mlcc_cuda_source`) and the hook
 * table pointer `mlcc_library_cuda` that the runtime loader fills (runtime/cuda.h). At the first
 * call the runtime compiles the source with NVRTC for the device's arch (cached on disk).
 *
 * How a PrimFunc becomes kernels: after lowering, its body's top-level sequence is split; every
 * statement there becomes one kernel (global-scope allocations between them become device
 * workspaces that the host takes and gives back). Loops bound to blockIdx.* / threadIdx.* give
 * the launch dimensions, computed by the host wrapper from the shape variables; a statement with
 * no bound loop runs as one thread. Buffers in "shared" scope become __shared__ arrays, "local"
 * ones per-thread arrays; __syncthreads() separates statements of a kernel that write shared
 * memory from those that read it. float16 / bfloat16 are __half / __nv_bfloat16, computed in
 * float and rounded once per operation (as IEEE half arithmetic does).
 *
 * The wrapper checks, before launching, the argument count and kinds, and for every tensor its
 * ndim, dtype, CUDA device (all on one device), compact layout and shape, like codegen_c's. */
#ifndef MLCC_CODEGEN_CODEGEN_CUDA_H
#define MLCC_CODEGEN_CODEGEN_CUDA_H

#include "ir/tir.h"
#include "support/strbuf.h"

/* Emits the library's C translation unit (block-form PrimFuncs are lowered first). If
 * device_source is not NULL it also receives the CUDA C++ source alone (for inspection and
 * NVRTC-only tests). 0, or -1 with an error naming the function and the construct. */
int codegen_cuda(mlcc_prim_func **funcs, int nfuncs, mlcc_strbuf *out, mlcc_strbuf *device_source);

/* Kernels that run on the host in a CUDA library: the VM's shape functions, which read and
 * write its shape heap (host memory). codegen_cuda emits them with codegen_c. */
int codegen_cuda_is_host_kernel(const mlcc_prim_func *f);

/* Codegen + host compile (through the C JIT cache) + load of CUDA PrimFuncs (already
 * scheduled with thread bindings; see schedule/gpu_rules.h). Loading needs a CUDA device. */
struct mlcc_jit_module *mlcc_jit_build_cuda(mlcc_prim_func **funcs, int nfuncs);

#endif
