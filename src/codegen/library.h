/* library.h - builds a model library: one shared object holding the compiled kernels, the VM
 * program and the metadata JSON (DESIGN.md §3.9), loadable by the runtime alone
 * (mlcc_vm_load_library). */
#ifndef MLCC_CODEGEN_LIBRARY_H
#define MLCC_CODEGEN_LIBRARY_H

#include <jansson.h>

#include "ir/tir.h"
#include "runtime/vm.h"

typedef struct mlcc_library_spec {
    mlcc_prim_func **kernels;
    int nkernels;
    const mlcc_vm_exec *program;
    /* Extra metadata fields (model_type, bounds, memory, parameters, ...); may be NULL.
     * The builder adds format_version, target, functions and kernels. Borrowed. */
    json_t *metadata;
} mlcc_library_spec;

/* The metadata document the library will carry (new reference). */
json_t *mlcc_library_metadata(const mlcc_library_spec *spec);
json_t *mlcc_library_metadata_target(const mlcc_library_spec *spec, const char *target);
/* The library's C source (malloc'ed), or NULL + error. */
char *mlcc_library_source(const mlcc_library_spec *spec);
/* The same for a target: "c" or "cuda" (kernels already scheduled for the GPU). */
char *mlcc_library_source_target(const mlcc_library_spec *spec, const char *target);
/* Writes the shared object to out_path atomically; 0 or -1 + error. */
int mlcc_build_library(const mlcc_library_spec *spec, const char *out_path);

#endif
