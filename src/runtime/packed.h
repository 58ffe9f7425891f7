/* packed.h - packed functions and the global function registry (public part in
 * mlcc/mlcc_runtime.h). Runtime code that defines builtins includes this header. */
#ifndef MLCC_RUNTIME_PACKED_H
#define MLCC_RUNTIME_PACKED_H

#include "mlcc/mlcc_runtime.h"
#include "runtime/object.h"
#include "support/log.h"

/* Registers a builtin when the library loads:
 *     static int alloc_storage(const MLCCValue *args, ...) { ... }
 *     MLCC_REGISTER_GLOBAL("vm.builtin.alloc_storage", alloc_storage)  */
#define MLCC_REGISTER_GLOBAL(name, fn)                                                             \
    __attribute__((constructor)) static void mlcc_register_##fn(void) {                            \
        if (mlcc_func_register(name, fn, NULL, 0) != 0) LOG_ERROR("%s", mlcc_last_error());        \
    }

#endif
