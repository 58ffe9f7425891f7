/* graph_interp.h - a small interpreter for legalized graph functions, for tests until the VM
 * exists: runs a function's bindings in order, where each is call_tir (its output allocated
 * from the out_sinfo shape, the kernel taken from a JIT module), a var alias, or a tuple of
 * vars; float32 tensors only. Symbolic dims are evaluated with the values given per var. */
#ifndef MLCC_TEST_GRAPH_INTERP_H
#define MLCC_TEST_GRAPH_INTERP_H

#include <stdint.h>

#include "codegen/jit.h"
#include "ir/module.h"

typedef struct host_tensor {
    float *data;
    int64_t shape[8];
    int ndim;
    int64_t numel;
} host_tensor;

typedef struct graph_interp {
    mlcc_expr **size_vars; /* symbolic dims and their values */
    int64_t *size_values;
    int nsize;
    host_tensor **owned; /* every tensor allocated by a run, freed by interp_free */
    int nowned;
} graph_interp;

/* A tensor shaped as s (a float32 tensor sinfo with a shape), zero-filled, owned by gi. */
host_tensor *interp_tensor(graph_interp *gi, const rx_sinfo *s);
/* Runs function `name` of m on inputs; the result tensor, or NULL with a recorded test
 * failure. A function returning a tuple of vars gives its fields in results[0..] (at most
 * max) and returns the first. */
host_tensor *interp_run(graph_interp *gi, const mlcc_ir_module *m, mlcc_jit_module *jm, const char *name,
                        host_tensor **inputs);
int interp_run_all(graph_interp *gi, const mlcc_ir_module *m, mlcc_jit_module *jm, const char *name,
                   host_tensor **inputs, host_tensor **results, int max);
void interp_free(graph_interp *gi);

#endif
