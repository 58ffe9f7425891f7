/* vm.h - the register-based virtual machine that runs graph functions (DESIGN.md §4).
 *
 * An executable holds VM functions, a table of callees and constants. Each VM function has a
 * frame of registers (tagged values owning their references) and a shape heap: an int64 array
 * where symbolic sizes (`n`) live once matched from inputs. Four instructions:
 *   CALL dst, callee, args   - call a packed function (a kernel of the model library, a runtime
 *                              builtin such as vm.builtin.alloc_tensor, or another VM function);
 *                              dst -1 discards the result
 *   RET reg                  - return a register's value
 *   GOTO offset              - pc += offset
 *   IF reg, offset           - continue when reg != 0, else pc += offset
 * Call arguments are registers, int immediates, constants, callees (as function objects), the
 * frame's shape heap (an int64 DLTensor, so generated shape functions can compute into it), one
 * value of the heap (a symbolic size as an int), or the VM itself (for builtins that need its
 * device).
 *
 * Executables serialize to JSON (constant tensors' bytes in base64), which the compiler embeds
 * in the model library as `mlcc_library_vm_program`; the runtime loads it with the library. */
#ifndef MLCC_RUNTIME_VM_H
#define MLCC_RUNTIME_VM_H

#include <stddef.h>
#include <stdint.h>

#include "mlcc/mlcc_runtime.h"
#include "support/strbuf.h"

typedef enum { VM_OP_CALL, VM_OP_RET, VM_OP_GOTO, VM_OP_IF } mlcc_vm_opcode;

/* Most arguments of one call instruction (a graph function called from another passes all of
 * its weights). Calls of packed functions are still limited to MLCC_MAX_ARGS by their ABI. */
#define MLCC_VM_MAX_CALL_ARGS 65536

typedef enum {
    VM_ARG_REG,   /* value = register index */
    VM_ARG_IMM,   /* value = int64 immediate */
    VM_ARG_CONST, /* value = constant index */
    VM_ARG_FUNC,  /* value = callee index, passed as a function object */
    VM_ARG_HEAP,  /* the frame's shape heap */
    VM_ARG_VM,    /* the VM (a handle) */
    VM_ARG_HEAP_LOAD, /* value = heap slot: passes the int64 stored there */
} mlcc_vm_arg_kind;

typedef struct mlcc_vm_arg {
    mlcc_vm_arg_kind kind;
    int64_t value;
} mlcc_vm_arg;

typedef struct mlcc_vm_instr {
    mlcc_vm_opcode op;
    int32_t dst;    /* CALL: destination register or -1 */
    int32_t callee; /* CALL: index into the callee table */
    int32_t reg;    /* RET / IF: the register */
    int32_t offset; /* GOTO / IF: relative jump */
    int32_t nargs;
    mlcc_vm_arg *args;
} mlcc_vm_instr;

typedef enum {
    VM_CALLEE_PACKED, /* by name: the model library first, then the global registry */
    VM_CALLEE_VM,     /* a VM function of this executable */
} mlcc_vm_callee_kind;

typedef struct mlcc_vm_callee {
    char *name;
    mlcc_vm_callee_kind kind;
    int32_t vm_index; /* VM_CALLEE_VM: function index */
} mlcc_vm_callee;

typedef struct mlcc_vm_function {
    char *name;
    int32_t num_params; /* parameters arrive in registers 0..num_params-1 */
    int32_t num_regs;
    int32_t heap_size;
    int32_t num_instrs;
    mlcc_vm_instr *instrs;
} mlcc_vm_function;

typedef struct mlcc_vm_exec {
    mlcc_vm_function *funcs;
    int32_t num_funcs;
    mlcc_vm_callee *callees;
    int32_t num_callees;
    MLCCValue *consts;     /* owned references for objects */
    int *const_codes;
    int32_t num_consts;
} mlcc_vm_exec;

/* ---- building (used by the compiler's VM lowering and by tests) ---- */
mlcc_vm_exec *mlcc_vm_exec_new(void);
void mlcc_vm_exec_free(mlcc_vm_exec *e);
/* Adds a function; returns its index. */
int mlcc_vm_exec_add_function(mlcc_vm_exec *e, const char *name, int num_params, int num_regs,
                              int heap_size);
/* The callee index for a name (added once). */
int mlcc_vm_exec_callee(mlcc_vm_exec *e, const char *name);
/* Adds a constant (objects are retained); returns its index. */
int mlcc_vm_exec_add_const(mlcc_vm_exec *e, MLCCValue v, int type_code);
void mlcc_vm_emit_call(mlcc_vm_exec *e, int func, int dst, int callee, const mlcc_vm_arg *args,
                       int nargs);
void mlcc_vm_emit_ret(mlcc_vm_exec *e, int func, int reg);
void mlcc_vm_emit_goto(mlcc_vm_exec *e, int func, int offset);
void mlcc_vm_emit_if(mlcc_vm_exec *e, int func, int reg, int offset);
/* Resolves VM callees (names of this executable's functions) after all are added. */
void mlcc_vm_exec_link(mlcc_vm_exec *e);
/* Checks every index and jump (mlcc_vm_create and loading do this); 0 or -1 + error. */
int mlcc_vm_exec_validate(const mlcc_vm_exec *e);

/* ---- serialization and printing ---- */
char *mlcc_vm_exec_to_json(const mlcc_vm_exec *e);
/* NULL with an error naming the field on malformed input. */
mlcc_vm_exec *mlcc_vm_exec_from_json(const char *text, size_t len);
void mlcc_vm_exec_print(const mlcc_vm_exec *e, mlcc_strbuf *out);

/* ---- running ---- */
typedef struct MLCCVM MLCCVM;

/* lib (may be NULL) provides the kernels; it is retained. Callees are resolved here: a name
 * found neither in lib nor in the registry is an error naming it. */
MLCCVM *mlcc_vm_create(const mlcc_vm_exec *exec, MLCCModule *lib, DLDevice device);
void mlcc_vm_free(MLCCVM *vm);
/* Loads a model library (kernels + the embedded VM program `mlcc_library_vm_program`) and
 * creates a VM over it; the VM owns both. Needs only the runtime. */
MLCCVM *mlcc_vm_load_library(const char *path, DLDevice device);
const mlcc_vm_exec *mlcc_vm_exec_of(const MLCCVM *vm);
/* The path of the model library the VM runs (NULL when it has none). */
const char *mlcc_vm_library_path(const MLCCVM *vm);
/* The metadata JSON text of that library (DESIGN.md §3.9), or NULL. */
const char *mlcc_vm_metadata(const MLCCVM *vm);
/* The storage of a static memory plan's slot, allocated on the first call (or when a larger
 * one is asked for) and kept for the VM's life (borrowed). The builtin
 * vm.builtin.planned_storage(vm, slot, nbytes) returns it, so planned programs allocate
 * nothing per call. */
MLCCStorage *mlcc_vm_planned_storage(MLCCVM *vm, int slot, size_t nbytes);
/* How many planned storages were allocated so far (tests check repeated calls add none). */
long mlcc_vm_planned_allocations(const MLCCVM *vm);
DLDevice mlcc_vm_device(const MLCCVM *vm);
/* The device of the VM whose function runs on this thread (the CPU outside any): builtins
 * such as create_kv_cache put their memory there. */
DLDevice mlcc_vm_current_device(void);
/* Runs a function. Arguments are borrowed; an object result is a new reference. */
int mlcc_vm_invoke(MLCCVM *vm, const char *func, const MLCCValue *args, const int *type_codes,
                   int nargs, MLCCValue *ret, int *ret_type_code);

/* Runtime tuples (results with several fields). */
typedef struct MLCCTuple {
    MLCCObject obj;
    int size;
    MLCCValue *values; /* owned references */
    int *codes;
} MLCCTuple;
MLCCTuple *mlcc_tuple_new(const MLCCValue *values, const int *codes, int n);

/* match_shape / make_shape modes */
enum {
    VM_MATCH_ASSERT_EQ_IMM = 0,
    VM_MATCH_STORE_TO_HEAP = 1,
    VM_MATCH_NO_OP = 2,
    VM_MATCH_ASSERT_EQ_HEAP = 3,
};
enum { VM_MAKE_USE_IMM = 0, VM_MAKE_LOAD_HEAP = 1 };

#endif
