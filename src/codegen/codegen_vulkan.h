/* codegen_vulkan.h - emits a Vulkan model library for lowered PrimFuncs (DESIGN.md §3.8,
 * issue 20).
 *
 * The output is one C translation unit, like codegen_cuda's: codegen_c's host kernels (the VM's
 * shape functions), then one GLSL compute shader per kernel embedded as a string
 * (`mlcc_vk_<func>_kernel<i>`), then the packed wrappers mlcc_fn_<name> that check their
 * arguments (tensors on one Vulkan device, dtype, shape, compact) and launch the kernels through
 * the hook table `mlcc_library_vulkan`, which the runtime loader fills (runtime/vulkan.h). The
 * runtime compiles each shader to SPIR-V with glslang at its first call (cached on disk).
 *
 * A PrimFunc becomes kernels as for CUDA: after lowering, each statement of its top-level
 * sequence is one kernel, global allocations between them device workspaces; loops bound to
 * blockIdx.* / threadIdx.* give the workgroup counts and sizes, the size being a specialization
 * constant so the host picks it per call. Supported element types: float32, float64 (without
 * intrinsics), int32, int64, uint32, uint64; others fail with an error naming the function. */
#ifndef MLCC_CODEGEN_CODEGEN_VULKAN_H
#define MLCC_CODEGEN_CODEGEN_VULKAN_H

#include "ir/tir.h"
#include "support/strbuf.h"

/* Emits the library's C translation unit (block-form PrimFuncs are lowered first). If glsl is
 * not NULL it also receives every kernel's GLSL. 0, or -1 with an error. */
/* The default GPU schedule of f for the vulkan target: the portable rules, and for the paged
 * decode attention both its warp schedule (32-lane subgroup shuffles) and the portable one,
 * the host choosing per call by the device's subgroup size. */
mlcc_prim_func *vulkan_schedule(const mlcc_prim_func *f);

int codegen_vulkan(mlcc_prim_func **funcs, int nfuncs, mlcc_strbuf *out, mlcc_strbuf *glsl);

#endif
