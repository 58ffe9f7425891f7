/* build.h - the compiler's driver: IRModule -> model library (DESIGN.md §2, §3.9).
 *
 * legalize -> canonicalize bindings -> annotate op patterns -> fuse ops -> fuse TIR ->
 * dead-code elimination -> VM lowering (with static memory
 * planning) -> C codegen of every kernel -> one shared object with the VM program and the
 * metadata. mlcc_build writes it to a file (ahead of time, `mlcc compile`); mlcc_build_vm
 * compiles through the JIT cache and returns a ready VM. */
#ifndef MLCC_CODEGEN_BUILD_H
#define MLCC_CODEGEN_BUILD_H

#include <jansson.h>

#include "ir/module.h"
#include "runtime/vm.h"
#include "support/strbuf.h"

typedef struct mlcc_build_options {
    json_t *metadata;        /* extra metadata fields (borrowed; may be NULL) */
    const char *print_after; /* a pass name or "*": print the module after it into `printed` */
    mlcc_strbuf *printed;
} mlcc_build_options;

/* target: "c" (the default everywhere a target is not named) or "cuda" (default GPU
 * schedules, CUDA codegen; the VM of mlcc_build_vm_target runs on cuda:0). */
char *mlcc_build_source_target(const mlcc_ir_module *m, const mlcc_build_options *opt, const char *target);
int mlcc_build_target(const mlcc_ir_module *m, const mlcc_build_options *opt, const char *target,
                      const char *out_path);
MLCCVM *mlcc_build_vm_target(const mlcc_ir_module *m, const mlcc_build_options *opt, const char *target);
/* The CUDA C++ source of every kernel of the module's cuda library (malloc'ed): what NVRTC
 * compiles at load; CI compiles it for sm_90 without a GPU. */
char *mlcc_build_cuda_kernel_source(const mlcc_ir_module *m, const mlcc_build_options *opt);
/* Target "vulkan": default GPU schedules, GLSL compute shaders (codegen_vulkan), the VM of
 * mlcc_build_vm_target on vulkan:0. The GLSL of every kernel of the module's Vulkan library
 * (malloc'ed), for inspection and compile-only tests. */
char *mlcc_build_vulkan_glsl(const mlcc_ir_module *m, const mlcc_build_options *opt);

/* The library's C source for the module (malloc'ed), or NULL + error. */
char *mlcc_build_source(const mlcc_ir_module *m, const mlcc_build_options *opt);
int mlcc_build(const mlcc_ir_module *m, const mlcc_build_options *opt, const char *out_path);
/* Compiles through the JIT cache and creates a CPU VM over the result. */
MLCCVM *mlcc_build_vm(const mlcc_ir_module *m, const mlcc_build_options *opt);

#endif
