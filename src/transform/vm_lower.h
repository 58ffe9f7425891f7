/* vm_lower.h - lowers the graph functions of a legalized IRModule to a VM program.
 *
 * Input: every graph function's bindings are call_tir / call_dps_packed / call_packed calls,
 * calls of other graph functions, tuples, tuple items, aliases, constants, shapes, prim values,
 * strings, match_casts and Ifs (legalize has replaced the ops). Output: a VM executable, the
 * PrimFuncs it calls (the module's, plus generated shape functions that compute composite
 * symbolic sizes such as `n * 2` into the shape heap), and the memory plan.
 *
 * Per function: parameters are checked (ndim, dtype) and their shapes matched into the heap
 * (first sight of a size var stores it, later sights assert equality, constants are asserted).
 * call_tir becomes explicit allocation + a kernel call in destination-passing style. Tensors
 * that do not escape the function live in planned storages sized for the declared upper bounds
 * of the size vars (function attrs "var_upper_bound:<name>" = int, or module attrs of the same
 * form) and allocated once per VM, so repeated calls allocate nothing; escaping tensors (the
 * result) and tensors whose size has no bound get fresh storage per call. */
#ifndef MLCC_TRANSFORM_VM_LOWER_H
#define MLCC_TRANSFORM_VM_LOWER_H

#include <jansson.h>

#include "ir/module.h"
#include "runtime/vm.h"

typedef struct mlcc_vm_lowered {
    mlcc_vm_exec *exec;
    mlcc_prim_func **kernels; /* IR arena */
    int nkernels;
    json_t *memory; /* {"functions": {name: {"planned_storages": n, "planned_bytes": b, "dynamic_allocations": k}}, "temporary_bytes": total} */
} mlcc_vm_lowered;

/* 0 on success; -1 with an error naming the function and binding it cannot lower. */
int mlcc_vm_lower(const mlcc_ir_module *m, mlcc_vm_lowered *out);
void mlcc_vm_lowered_free(mlcc_vm_lowered *l);

#endif
