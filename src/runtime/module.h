/* module.h - model libraries: shared objects made by the compiler, loaded with dlopen.
 *
 * The symbol contract every generated library follows (docs/model-library.md has the long
 * form; the runtime checks it in mlcc_module_load):
 *
 *   int32_t mlcc_fn_<name>(const MLCCValue *args, const int *type_codes, int num_args,
 *                          MLCCValue *ret, int *ret_type_code, void *resource);
 *       one per exported function, the packed ABI of mlcc_runtime.h; <name> is
 *       [A-Za-z0-9_]+. It checks ndim, dtype and shapes of its arguments on entry and returns
 *       nonzero after reporting through the error hook. `resource` is the runtime's handle of
 *       the module: opaque to the kernel.
 *   const char *mlcc_library_function_names[];
 *       NULL-terminated list of the exported <name>s (required), so the runtime can list the
 *       functions without guessing symbols.
 *   const char mlcc_library_metadata[];
 *       optional: a NUL-terminated JSON document (format version, target, bounds, memory plan,
 *       parameters, kernels and their origins; DESIGN.md §3.9).
 *   void (*mlcc_library_set_error)(const char *msg);
 *       required: a global function pointer, NULL in the file. The loader sets it right after
 *       dlopen to a runtime function that records msg as this thread's last error, so a kernel
 *       reports failures with `mlcc_library_set_error("add: argument 2 ...")` without linking
 *       against libmlcc_runtime. The message should start with the function's name.
 *   const mlcc_cuda_library_hooks *mlcc_library_cuda;
 *       optional, in CUDA libraries: NULL in the file; the loader points it at the runtime's
 *       kernel-launch and workspace functions (runtime/cuda.h), and refuses the library when
 *       no CUDA device is usable.
 *   const int32_t mlcc_library_abi_version;
 *       optional: MLCC_LIBRARY_ABI_VERSION when present; a library built for another version of
 *       the ABI is refused.
 *
 * Libraries should be linked with -Wl,-Bsymbolic (or make the hook hidden behind a local alias)
 * so their references to their own symbols cannot be interposed by another loaded object. */
#ifndef MLCC_RUNTIME_MODULE_H
#define MLCC_RUNTIME_MODULE_H

#include "mlcc/mlcc_runtime.h"

#define MLCC_LIBRARY_ABI_VERSION 1
#define MLCC_LIBRARY_FN_PREFIX "mlcc_fn_"

#endif
