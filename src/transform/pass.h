/* pass.h - module passes and the pass manager (DESIGN.md §3.7).
 *
 * A pass is a named function IRModule -> IRModule (a new module; the input stays valid). The
 * manager runs a list of them in order, times each, and prints the module after the passes
 * named in print_after ("*" for all; the `--print-after=PASS` of the CLI) to a string buffer or
 * stderr. A failing pass stops the run with "pass '<name>': <error>". */
#ifndef MLCC_TRANSFORM_PASS_H
#define MLCC_TRANSFORM_PASS_H

#include "ir/module.h"
#include "support/strbuf.h"

typedef mlcc_ir_module *(*mlcc_pass_fn)(const mlcc_ir_module *m, void *ctx);

typedef struct mlcc_pass {
    const char *name;
    mlcc_pass_fn fn;
    void *ctx;
} mlcc_pass;

typedef struct mlcc_pass_timing {
    const char *name;
    double seconds;
} mlcc_pass_timing;

typedef struct mlcc_pass_manager {
    mlcc_pass *passes;
    int npasses, cap;
    const char **print_after; /* pass names, or "*" */
    int nprint;
    mlcc_strbuf *print_sink;  /* NULL: stderr */
    mlcc_pass_timing *timings; /* one per pass run by the last pm_run */
    int ntimings;
} mlcc_pass_manager;

void pm_init(mlcc_pass_manager *pm);
void pm_free(mlcc_pass_manager *pm);
void pm_add(mlcc_pass_manager *pm, const char *name, mlcc_pass_fn fn, void *ctx);
/* Adds a built-in pass by name; -1 + error naming the known passes when unknown. */
int pm_add_named(mlcc_pass_manager *pm, const char *name);
void pm_print_after(mlcc_pass_manager *pm, const char *name);
void pm_set_print_sink(mlcc_pass_manager *pm, mlcc_strbuf *sink);
/* Runs every pass in order; NULL + error when one fails. */
mlcc_ir_module *pm_run(mlcc_pass_manager *pm, const mlcc_ir_module *m);
/* "legalize  0.12 ms\n..." into out. */
void pm_format_timings(const mlcc_pass_manager *pm, mlcc_strbuf *out);

/* ---- the graph passes ---- */
/* Every op call with a legalization becomes call_tir of a te-built PrimFunc added to the
 * module (structurally equal PrimFuncs are shared). */
mlcc_ir_module *pass_legalize(const mlcc_ir_module *m, void *ctx);
/* Var-to-var bindings folded: `y = x` removed and y's uses read x; an output `gv = lv` of a
 * dataflow var lv makes lv's own binding define gv. */
mlcc_ir_module *pass_canonicalize_bindings(const mlcc_ir_module *m, void *ctx);
/* Unused pure bindings dropped (repeatedly), empty blocks dropped, and functions no longer
 * reachable from the public ones (global_symbol) removed. */
mlcc_ir_module *pass_dead_code_elimination(const mlcc_ir_module *m, void *ctx);
/* The CUDA build's library dispatch: float16-weight projections -> call_dps_packed
 * mlcc.cuda.linear_f16 (cuda_dispatch.c says why); ctx, when not NULL, names another packed
 * function of the same signature (the Vulkan build: "mlcc.vulkan.linear_f16"). */
mlcc_ir_module *pass_cuda_dispatch(const mlcc_ir_module *m, void *ctx);
/* The CPU build's library dispatch: float32 projections -> call_dps_packed mlcc.cpu.sgemm
 * (OpenBLAS from CPU_DISPATCH_MIN_ROWS rows on, the compiled kernel below; cpu_dispatch.c says
 * why). MLCC_CPU_BLAS=1 dispatches every float32 projection, all rows to OpenBLAS. */
mlcc_ir_module *pass_cpu_dispatch(const mlcc_ir_module *m, void *ctx);
/* rope + KV append: the rope of K goes into the KV cache's append kernel (fuse_rope_append.c);
 * all attention calls of the module or none. */
mlcc_ir_module *pass_fuse_rope_append(const mlcc_ir_module *m, void *ctx);
/* the rope of q into the attention call (fuse_rope_q.c; the CUDA build, after the above) */
mlcc_ir_module *pass_fuse_rope_q(const mlcc_ir_module *m, void *ctx);
/* the attention reads q, k, v from the combined projection's output (attention_qkv.c; CUDA
 * build, decode functions, after the above) */
mlcc_ir_module *pass_attention_qkv(const mlcc_ir_module *m, void *ctx);
/* reshape -> a view (call_packed vm.builtin.reshape) unless a function returns it
 * (reshape_views.c; the CUDA build). */
mlcc_ir_module *pass_reshape_views(const mlcc_ir_module *m, void *ctx);
/* decode's RMSNorms and silu(gate) * up computed by their projections' GEMVs (fuse_gemv.c; the
 * CUDA build, after cuda_dispatch). */
mlcc_ir_module *pass_fuse_gemv(const mlcc_ir_module *m, void *ctx);
/* add + the RMSNorm it feeds -> one PrimFunc with two outputs (fuse_add_norm.c; the CUDA
 * build). */
mlcc_ir_module *pass_fuse_add_norm(const mlcc_ir_module *m, void *ctx);
/* float16 activations between kernels and the float16 projections of prefill functions
 * (half_activations.c; the CUDA build, after fuse_tir; MLCC_CUDA_HALF_ACT=0 turns it off). */
mlcc_ir_module *pass_half_activations(const mlcc_ir_module *m, void *ctx);
enum { CPU_DISPATCH_MIN_ROWS = 96, CPU_DISPATCH_MIN_OUT = 256, CPU_DISPATCH_MIN_IN = 256 };
/* The functions of m reachable from its public ones (attr global_symbol), in order. */
mlcc_ir_module *remove_unreachable_functions(const mlcc_ir_module *m);
/* Groups call_tir bindings of each dataflow block by TVM's fusion rules (post-dominator based:
 * elementwise/broadcast chains, injective chains, a matmul (out-ewise-fusable) with its
 * elementwise epilogue, producers into a reduction); each group of two or more becomes a
 * private graph function with attr "Primitive" = 1, called in the group's place. Needs
 * annotate_op_pattern first (PrimFuncs without "op_pattern" count as opaque). */
mlcc_ir_module *pass_fuse_ops(const mlcc_ir_module *m, void *ctx);
/* Each Primitive graph function becomes one PrimFunc (its call_tir PrimFuncs merged, symbolic
 * shapes bound, intermediates as allocated buffers) and its calls call_tir of it; the
 * Primitive functions and PrimFuncs no longer used are dropped. */
mlcc_ir_module *pass_fuse_tir(const mlcc_ir_module *m, void *ctx);
/* Default CPU schedule rules (GEMM/GEMV tensorized onto kernels/cpu intrinsics, parallel over
 * column tiles) applied to every PrimFunc; see default_schedule.c. */
mlcc_ir_module *pass_default_schedule(const mlcc_ir_module *m, void *ctx);
/* Each PrimFunc gets attr "op_pattern" (TVM's kinds, below) computed from its blocks. */
mlcc_ir_module *pass_annotate_op_pattern(const mlcc_ir_module *m, void *ctx);

typedef enum {
    OP_PATTERN_ELEMWISE = 0,
    OP_PATTERN_BROADCAST = 1,
    OP_PATTERN_INJECTIVE = 2,
    OP_PATTERN_COMM_REDUCE = 3,
    OP_PATTERN_OUT_EWISE_FUSABLE = 4,
    OP_PATTERN_TUPLE = 7,
    OP_PATTERN_OPAQUE = 8,
} mlcc_op_pattern;

mlcc_op_pattern analyze_op_pattern(const mlcc_prim_func *f);
const char *op_pattern_name(mlcc_op_pattern p); /* "elementwise", "broadcast", ... */

#endif
