/* vm.c - the VM interpreter (see vm.h). */
#include "runtime/vm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "runtime/object.h"
#include "support/alloc.h"
#include "support/error.h"

struct MLCCVM {
    const mlcc_vm_exec *exec;
    MLCCModule *lib;
    DLDevice device;
    MLCCFunction **callees; /* resolved packed callees (NULL for VM functions) */
    char *is_kernel;        /* callee comes from the model library: pass tensors as DLTensor */
    mlcc_vm_exec *owned_exec; /* set when the VM loaded the program itself */
    MLCCStorage **planned;    /* storages of the static memory plan, made on first use */
    int num_planned;
    long planned_allocations;
    int depth;
    MLCCNDArray **device_consts; /* on a GPU VM: device copies of the tensor constants */
    /* MLCC_VM_PROFILE=1: wall time and calls per packed callee, printed to stderr when the VM
     * is freed (the kernels' share of a decode step, without perf) */
    double *prof_ns;
    long *prof_calls;
    /* MLCC_VM_SKIP=a,b: callees whose name contains a or b, called for their effect only, are
     * not called (a diagnostic: a step's time without them; its results are wrong) */
    char *skip;
};

static double now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

typedef struct prof_row {
    const char *name;
    double ns;
    long calls;
} prof_row;

static int by_time_desc(const void *a, const void *b) {
    double x = ((const prof_row *)a)->ns, y = ((const prof_row *)b)->ns;
    return x < y ? 1 : x > y ? -1 : 0;
}

/* The profile table, slowest callee first. */
static void print_profile(const MLCCVM *vm) {
    int n = vm->exec->num_callees;
    prof_row *rows = mlcc_xcalloc((size_t)(n ? n : 1), sizeof *rows);
    double total = 0;
    int k = 0;
    for (int i = 0; i < n; i++) {
        if (!vm->prof_calls[i] || vm->exec->callees[i].kind == VM_CALLEE_VM) continue;
        rows[k++] = (prof_row){vm->exec->callees[i].name, vm->prof_ns[i], vm->prof_calls[i]};
        total += vm->prof_ns[i];
    }
    qsort(rows, (size_t)k, sizeof *rows, by_time_desc);
    fprintf(stderr, "[mlcc] VM profile: %.3f ms in %d packed callees\n%-48s %10s %8s %10s %6s\n", total / 1e6, k, "callee",
            "total ms", "calls", "us/call", "share");
    for (int i = 0; i < k; i++)
        fprintf(stderr, "%-48s %10.3f %8ld %10.2f %5.1f%%\n", rows[i].name, rows[i].ns / 1e6, rows[i].calls,
                rows[i].ns / 1e3 / (double)rows[i].calls, total > 0 ? 100.0 * rows[i].ns / total : 0.0);
    free(rows);
}

enum { VM_MAX_DEPTH = 256 };

static MLCCFunction *resolve(MLCCModule *lib, const char *name, char *is_kernel) {
    *is_kernel = 0;
    if (lib) {
        for (size_t i = 0; i < mlcc_module_num_functions(lib); i++)
            if (strcmp(mlcc_module_function_name(lib, i), name) == 0) {
                *is_kernel = 1;
                return mlcc_module_get_function(lib, name);
            }
    }
    MLCCFunction *f = mlcc_func_get_global(name);
    if (f) mlcc_object_retain(&f->obj);
    return f;
}

/* Kernels read tensor constants (rope tables, ...) where they run. */
static int copy_consts_to_device(MLCCVM *vm) {
    const mlcc_vm_exec *e = vm->exec;
    vm->device_consts = mlcc_xcalloc((size_t)(e->num_consts ? e->num_consts : 1), sizeof(MLCCNDArray *));
    for (int i = 0; i < e->num_consts; i++) {
        if (e->const_codes[i] != MLCC_TYPE_OBJECT || !e->consts[i].v_handle) continue;
        MLCCObject *o = e->consts[i].v_handle;
        if (o->type_index != MLCC_OBJECT_NDARRAY) continue;
        MLCCNDArray *h = (MLCCNDArray *)o;
        MLCCNDArray *d = mlcc_ndarray_empty(h->dl.ndim, h->dl.shape, h->dl.dtype, vm->device);
        if (!d || mlcc_ndarray_copy(d, h) != 0) {
            mlcc_ndarray_release(d);
            return mlcc_prefix_error("vm: constant %d to the device", i);
        }
        vm->device_consts[i] = d;
    }
    return 0;
}

/* MLCC_VM_SKIP (see the struct): which callees to leave out, said once on stderr. */
static void mark_skipped(MLCCVM *vm) {
    const char *list = getenv("MLCC_VM_SKIP");
    if (!list || !*list) return;
    int n = vm->exec->num_callees;
    vm->skip = mlcc_xcalloc((size_t)(n ? n : 1), 1);
    for (int i = 0; i < n; i++) {
        const char *name = vm->exec->callees[i].name;
        for (const char *p = list; *p;) {
            size_t len = strcspn(p, ",");
            if (len && vm->exec->callees[i].kind != VM_CALLEE_VM) {
                for (const char *h = name; *h && !vm->skip[i]; h++)
                    if (!strncmp(h, p, len)) vm->skip[i] = 1;
            }
            p += len + (p[len] == ',');
        }
        if (vm->skip[i]) fprintf(stderr, "[mlcc] MLCC_VM_SKIP: leaving out the calls of %s whose results go unused (results are wrong)\n", name);
    }
}

MLCCVM *mlcc_vm_create(const mlcc_vm_exec *exec, MLCCModule *lib, DLDevice device) {
    if (mlcc_vm_exec_validate(exec) != 0) return NULL;
    MLCCVM *vm = mlcc_xcalloc(1, sizeof *vm);
    vm->exec = exec;
    vm->lib = lib;
    if (lib) mlcc_object_retain(mlcc_module_object(lib));
    vm->device = device;
    vm->callees = mlcc_xcalloc((size_t)(exec->num_callees ? exec->num_callees : 1), sizeof(MLCCFunction *));
    vm->is_kernel = mlcc_xcalloc((size_t)(exec->num_callees ? exec->num_callees : 1), 1);
    const char *prof = getenv("MLCC_VM_PROFILE");
    if (prof && *prof && strcmp(prof, "0")) {
        vm->prof_ns = mlcc_xcalloc((size_t)(exec->num_callees ? exec->num_callees : 1), sizeof(double));
        vm->prof_calls = mlcc_xcalloc((size_t)(exec->num_callees ? exec->num_callees : 1), sizeof(long));
    }
    mark_skipped(vm);
    for (int i = 0; i < exec->num_callees; i++) {
        if (exec->callees[i].kind == VM_CALLEE_VM) continue;
        vm->callees[i] = resolve(lib, exec->callees[i].name, &vm->is_kernel[i]);
        if (!vm->callees[i]) {
            mlcc_set_error("vm: function '%s' is in neither the model library nor the runtime", exec->callees[i].name);
            mlcc_vm_free(vm);
            return NULL;
        }
    }
    if (device.device_type != kDLCPU && copy_consts_to_device(vm) != 0) {
        mlcc_vm_free(vm);
        return NULL;
    }
    return vm;
}

void mlcc_vm_free(MLCCVM *vm) {
    if (!vm) return;
    if (vm->prof_ns) print_profile(vm);
    free(vm->prof_ns);
    free(vm->prof_calls);
    free(vm->skip);
    for (int i = 0; i < vm->exec->num_callees; i++)
        if (vm->callees[i]) mlcc_object_release(&vm->callees[i]->obj);
    free(vm->callees);
    free(vm->is_kernel);
    if (vm->lib) mlcc_module_release(vm->lib);
    for (int i = 0; vm->device_consts && i < vm->exec->num_consts; i++) mlcc_ndarray_release(vm->device_consts[i]);
    free(vm->device_consts);
    mlcc_vm_exec_free(vm->owned_exec);
    for (int i = 0; i < vm->num_planned; i++) mlcc_storage_release(vm->planned[i]);

    free(vm->planned);
    free(vm);
}

DLDevice mlcc_vm_device(const MLCCVM *vm) {
    return vm->device;
}

/* A frame: registers own their values. */
typedef struct frame {
    MLCCValue *regs;
    int *codes;
    int nregs;
    int64_t *heap;
    DLTensor heap_tensor;
    int64_t heap_shape[1];
} frame;

static void set_reg(frame *fr, int r, MLCCValue v, int code) {
    mlcc_value_release(fr->regs[r], fr->codes[r]);
    fr->regs[r] = v;
    fr->codes[r] = code;
}

static int run_function(MLCCVM *vm, int fi, const MLCCValue *args, const int *codes, int nargs,
                        MLCCValue *ret, int *ret_code);

static int call_with(MLCCVM *vm, const mlcc_vm_function *f, const mlcc_vm_instr *in, frame *fr, MLCCValue *args, int *codes);

/* Kernel calls take few arguments (stack arrays); a call of a graph function passes every
 * weight, which can be hundreds. */
static int call_instr(MLCCVM *vm, const mlcc_vm_function *f, const mlcc_vm_instr *in, frame *fr) {
    if (in->nargs <= MLCC_MAX_ARGS) {
        MLCCValue args[MLCC_MAX_ARGS];
        int codes[MLCC_MAX_ARGS];
        return call_with(vm, f, in, fr, args, codes);
    }
    MLCCValue *args = mlcc_xmalloc(sizeof(MLCCValue) * (size_t)in->nargs);
    int *codes = mlcc_xmalloc(sizeof(int) * (size_t)in->nargs);
    int rc = call_with(vm, f, in, fr, args, codes);
    free(args);
    free(codes);
    return rc;
}

static int call_with(MLCCVM *vm, const mlcc_vm_function *f, const mlcc_vm_instr *in, frame *fr, MLCCValue *args, int *codes) {
    const mlcc_vm_exec *e = vm->exec;
    for (int i = 0; i < in->nargs; i++) {
        const mlcc_vm_arg *a = &in->args[i];
        switch (a->kind) {
        case VM_ARG_REG:
            args[i] = fr->regs[a->value];
            codes[i] = fr->codes[a->value];
            break;
        case VM_ARG_IMM:
            args[i].v_int64 = a->value;
            codes[i] = MLCC_TYPE_INT;
            break;
        case VM_ARG_CONST:
            args[i] = e->consts[a->value];
            codes[i] = e->const_codes[a->value];
            if (vm->device_consts && vm->device_consts[a->value]) args[i].v_handle = vm->device_consts[a->value];
            break;
        case VM_ARG_FUNC: {
            MLCCFunction *fn = vm->callees[a->value];
            if (!fn) /* a VM function passed as a value: not supported yet */
                return mlcc_set_error("vm: %s: passing VM function '%s' as a value is not supported", f->name, e->callees[a->value].name);
            args[i].v_handle = &fn->obj;
            codes[i] = MLCC_TYPE_OBJECT;
            break;
        }
        case VM_ARG_HEAP:
            args[i].v_tensor = &fr->heap_tensor;
            codes[i] = MLCC_TYPE_DLTENSOR;
            break;
        case VM_ARG_VM:
            args[i].v_handle = vm;
            codes[i] = MLCC_TYPE_HANDLE;
            break;
        case VM_ARG_HEAP_LOAD:
            args[i].v_int64 = fr->heap[a->value];
            codes[i] = MLCC_TYPE_INT;
            break;
        }
    }
    if (vm->is_kernel[in->callee]) {
        /* Generated kernels take DLTensors (their ABI knows nothing of runtime objects). */
        for (int i = 0; i < in->nargs; i++) {
            MLCCNDArray *arr = codes[i] == MLCC_TYPE_OBJECT ? MLCC_OBJECT_AS(args[i].v_handle, MLCC_OBJECT_NDARRAY, MLCCNDArray) : NULL;
            if (arr) {
                args[i].v_tensor = &arr->dl;
                codes[i] = MLCC_TYPE_DLTENSOR;
            }
        }
    }
    MLCCValue result = {0};
    int result_code = MLCC_TYPE_NULL;
    int rc;
    const mlcc_vm_callee *c = &e->callees[in->callee];
    if (vm->skip && vm->skip[in->callee] && in->dst < 0) return 0;
    if (c->kind == VM_CALLEE_VM) rc = run_function(vm, c->vm_index, args, codes, in->nargs, &result, &result_code);
    else if (!vm->prof_ns) rc = mlcc_func_call(vm->callees[in->callee], args, codes, in->nargs, &result, &result_code);
    else {
        double t0 = now_ns();
        rc = mlcc_func_call(vm->callees[in->callee], args, codes, in->nargs, &result, &result_code);
        vm->prof_ns[in->callee] += now_ns() - t0;
        vm->prof_calls[in->callee]++;
    }
    if (rc != 0) return mlcc_prefix_error("in %s", f->name);
    if (in->dst >= 0) set_reg(fr, in->dst, result, result_code);
    else mlcc_value_release(result, result_code);
    return 0;
}

static int run_function(MLCCVM *vm, int fi, const MLCCValue *args, const int *codes, int nargs,
                        MLCCValue *ret, int *ret_code) {
    const mlcc_vm_function *f = &vm->exec->funcs[fi];
    if (nargs != f->num_params)
        return mlcc_set_error("vm: %s takes %d arguments, got %d", f->name, f->num_params, nargs);
    if (vm->depth >= VM_MAX_DEPTH) return mlcc_set_error("vm: %s: call depth exceeds %d", f->name, VM_MAX_DEPTH);
    vm->depth++;
    frame fr;
    fr.nregs = f->num_regs;
    fr.regs = mlcc_xcalloc((size_t)(f->num_regs ? f->num_regs : 1), sizeof(MLCCValue));
    fr.codes = mlcc_xcalloc((size_t)(f->num_regs ? f->num_regs : 1), sizeof(int));
    for (int r = 0; r < f->num_regs; r++) fr.codes[r] = MLCC_TYPE_NULL;
    fr.heap = mlcc_xcalloc((size_t)(f->heap_size ? f->heap_size : 1), sizeof(int64_t));
    fr.heap_shape[0] = f->heap_size;
    memset(&fr.heap_tensor, 0, sizeof fr.heap_tensor);
    fr.heap_tensor.data = fr.heap;
    fr.heap_tensor.device = MLCC_CPU;
    fr.heap_tensor.ndim = 1;
    fr.heap_tensor.dtype = MLCC_DTYPE_I64;
    fr.heap_tensor.shape = fr.heap_shape;
    for (int i = 0; i < nargs; i++) {
        if (codes[i] == MLCC_TYPE_OBJECT) mlcc_object_retain(args[i].v_handle);
        fr.regs[i] = args[i];
        fr.codes[i] = codes[i];
    }
    int rc = -1, pc = 0;
    for (;;) {
        const mlcc_vm_instr *in = &f->instrs[pc];
        if (in->op == VM_OP_CALL) {
            if (call_instr(vm, f, in, &fr) != 0) break;
            pc++;
        } else if (in->op == VM_OP_RET) {
            *ret = fr.regs[in->reg];
            *ret_code = fr.codes[in->reg];
            if (*ret_code == MLCC_TYPE_OBJECT) mlcc_object_retain(ret->v_handle);
            rc = 0;
            break;
        } else if (in->op == VM_OP_GOTO) {
            pc += in->offset;
        } else {
            int64_t cond = fr.codes[in->reg] == MLCC_TYPE_INT ? fr.regs[in->reg].v_int64 : fr.regs[in->reg].v_handle != NULL;
            pc += cond ? 1 : in->offset;
        }
        if (pc >= f->num_instrs) {
            mlcc_set_error("vm: %s: ran past its last instruction", f->name);
            break;
        }
    }
    for (int r = 0; r < f->num_regs; r++) mlcc_value_release(fr.regs[r], fr.codes[r]);
    free(fr.regs);
    free(fr.codes);
    free(fr.heap);
    vm->depth--;
    return rc;
}

/* The device of the VM running on this thread (builtins that create device state read it). */
static _Thread_local DLDevice current_device = {kDLCPU, 0};

DLDevice mlcc_vm_current_device(void) {
    return current_device;
}

int mlcc_vm_invoke(MLCCVM *vm, const char *func, const MLCCValue *args, const int *type_codes,
                   int nargs, MLCCValue *ret, int *ret_type_code) {
    for (int i = 0; i < vm->exec->num_funcs; i++)
        if (strcmp(vm->exec->funcs[i].name, func) == 0) {
            *ret_type_code = MLCC_TYPE_NULL;
            DLDevice outer = current_device;
            current_device = vm->device;
            int rc = run_function(vm, i, args, type_codes, nargs, ret, ret_type_code);
            current_device = outer;
            return rc;
        }
    return mlcc_set_error("vm: no function '%s' in the program", func);
}

MLCCVM *mlcc_vm_load_library(const char *path, DLDevice device) {
    MLCCModule *lib = mlcc_module_load(path);
    if (!lib) return NULL;
    const char *program = mlcc_module_get_symbol(lib, "mlcc_library_vm_program");
    if (!program) {
        mlcc_set_error("model library %s has no VM program (mlcc_library_vm_program)", path);
        mlcc_module_release(lib);
        return NULL;
    }
    mlcc_vm_exec *exec = mlcc_vm_exec_from_json(program, strlen(program));
    MLCCVM *vm = exec ? mlcc_vm_create(exec, lib, device) : NULL;
    mlcc_module_release(lib); /* the VM holds its own reference */
    if (!vm) {
        mlcc_prefix_error("model library %s", path);
        mlcc_vm_exec_free(exec);
        return NULL;
    }
    vm->owned_exec = exec;
    return vm;
}

const mlcc_vm_exec *mlcc_vm_exec_of(const MLCCVM *vm) {
    return vm->exec;
}

MLCCStorage *mlcc_vm_planned_storage(MLCCVM *vm, int slot, size_t nbytes) {
    if (slot < 0 || slot > 1 << 20) {
        mlcc_set_error("planned storage slot %d out of range", slot);
        return NULL;
    }
    if (slot >= vm->num_planned) {
        vm->planned = mlcc_xrealloc(vm->planned, sizeof(MLCCStorage *) * (size_t)(slot + 1));
        for (int i = vm->num_planned; i <= slot; i++) vm->planned[i] = NULL;
        vm->num_planned = slot + 1;
    }
    MLCCStorage *s = vm->planned[slot];
    if (!s || s->nbytes < nbytes) {
        MLCCStorage *fresh = mlcc_storage_alloc(nbytes, vm->device);
        if (!fresh) return NULL;
        mlcc_storage_release(s);
        vm->planned[slot] = s = fresh;
        vm->planned_allocations++;
    }
    return s;
}

long mlcc_vm_planned_allocations(const MLCCVM *vm) {
    return vm->planned_allocations;
}

const char *mlcc_vm_library_path(const MLCCVM *vm) {
    return vm->lib ? mlcc_module_path(vm->lib) : NULL;
}

const char *mlcc_vm_metadata(const MLCCVM *vm) {
    return vm->lib ? mlcc_module_metadata(vm->lib) : NULL;
}
