/* jit.h - compiles generated C into a shared object with the system compiler and loads it.
 *
 * Objects are cached on disk under MLCC_HOME/cache/kernels, keyed by the SHA-256 of the source,
 * the compiler (path and `--version` banner) and the flags, and written atomically, so
 * concurrent processes and tests share one cache safely. MLCC_JIT_POLICY (as in MLC LLM):
 *   ON (default) use the cache, compile what is missing;  OFF never touch the cache;
 *   REDO recompile and overwrite;  READONLY use the cache, never write it.
 * MLCC_CC overrides the compiler. Counters let tests check that a cached module is not
 * compiled again. */
#ifndef MLCC_CODEGEN_JIT_H
#define MLCC_CODEGEN_JIT_H

#include "ir/tir.h"
#include "mlcc/mlcc_runtime.h"

typedef struct mlcc_jit_module mlcc_jit_module;

typedef enum { MLCC_JIT_POLICY_ON, MLCC_JIT_POLICY_OFF, MLCC_JIT_POLICY_REDO, MLCC_JIT_POLICY_READONLY } mlcc_jit_policy;

/* MLCC_JIT_POLICY from the environment (ON when unset; an unknown value warns and gives ON).
 * It also governs the cache of weights converted on the fly (models/convert_cache.h). */
mlcc_jit_policy mlcc_jit_policy_get(void);

typedef struct mlcc_jit_stats {
    long compiles;   /* compiler invocations by this process */
    long cache_hits; /* modules loaded from the disk cache */
} mlcc_jit_stats;

/* Compiles (or finds in the cache) and loads a C translation unit. NULL + error on failure
 * (the error includes the compiler's messages). */
mlcc_jit_module *mlcc_jit_compile_source(const char *source);
/* Compiles a C translation unit into a shared object at out_path (atomically: a crash never
 * leaves a partial file there), bypassing the cache. */
int mlcc_jit_compile_to_file(const char *source, const char *out_path);
/* Codegen + compile + load of PrimFuncs (block form or lowered). */
mlcc_jit_module *mlcc_jit_build(mlcc_prim_func **funcs, int nfuncs);
/* The packed function `name` of the module, or NULL + error. */
MLCCPackedCFunc mlcc_jit_get_function(mlcc_jit_module *m, const char *name);
const char *mlcc_jit_module_path(const mlcc_jit_module *m);
/* The runtime module underneath (borrowed). */
MLCCModule *mlcc_jit_module_handle(mlcc_jit_module *m);
void mlcc_jit_free(mlcc_jit_module *m);
mlcc_jit_stats mlcc_jit_get_stats(void);

#endif
