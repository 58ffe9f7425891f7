/* vm_lower.c - graph functions to VM bytecode, with static memory planning (see vm_lower.h). */
#include "transform/vm_lower.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arith/analyzer.h"
#include "ir/functor.h"
#include "ir/printer.h"
#include "support/alloc.h"
#include "support/error.h"
#include "support/hashmap.h"
#include "support/strbuf.h"
#include "support/vec.h"
#include "transform/memory_plan.h"

/* A composite size expression and the heap slot that holds its value. */
typedef struct composite {
    mlcc_expr *expr;
    int slot;
} composite;

/* Per-binding facts from the analysis pass. */
typedef struct var_info {
    int def_pos, last_use;
    int escapes;
    int plan_slot;      /* planned storage slot, or -1 for a per-call allocation */
    int64_t plan_bytes; /* size of that storage */
} var_info;

typedef struct lower_ctx {
    const mlcc_ir_module *mod;
    mlcc_vm_lowered *out;
    mlcc_vm_exec *exec;
    int func;
    const char *fname;
    int nregs;
    int heap_size;
    mlcc_u64map args;      /* rx var -> mlcc_vm_arg* (where its value is) */
    mlcc_u64map slots;     /* size var -> heap slot */
    mlcc_u64map info;      /* rx var -> var_info* */
    MLCC_VEC(composite) composites; /* every composite expr with a slot */
    MLCC_VEC(composite) pending;    /* slots not computed yet */
    int shape_funcs;
    int storage_base; /* first planned-storage slot of this function */
    int dynamic_allocs;
    MLCC_VEC(mlcc_prim_func *) kernels;
} lower_ctx;

static int lower_seq(lower_ctx *c, const rx_expr *seq, mlcc_vm_arg *result);

static int fail(lower_ctx *c, const char *what) {
    return mlcc_set_error("vm lowering: function '%s': %s", c->fname, what);
}

static mlcc_vm_arg reg_arg(int r) {
    return (mlcc_vm_arg){VM_ARG_REG, r};
}

static mlcc_vm_arg imm_arg(int64_t v) {
    return (mlcc_vm_arg){VM_ARG_IMM, v};
}

static int new_reg(lower_ctx *c) {
    return c->nregs++;
}

static void bind(lower_ctx *c, const rx_expr *var, mlcc_vm_arg a) {
    mlcc_vm_arg *p = ir_alloc(sizeof *p);
    *p = a;
    u64map_set_p(&c->args, var, p);
}

static void emit(lower_ctx *c, int dst, const char *callee, const mlcc_vm_arg *args, int n) {
    mlcc_vm_emit_call(c->exec, c->func, dst, mlcc_vm_exec_callee(c->exec, callee), args, n);
}

static int const_arg(lower_ctx *c, MLCCObject *obj) {
    MLCCValue v = {.v_handle = obj};
    int k = mlcc_vm_exec_add_const(c->exec, v, MLCC_TYPE_OBJECT);
    mlcc_object_release(obj);
    return k;
}

static mlcc_vm_arg string_arg(lower_ctx *c, const char *s) {
    return (mlcc_vm_arg){VM_ARG_CONST, const_arg(c, &mlcc_string_new(s, strlen(s))->obj)};
}

/* ---- symbolic sizes in the shape heap ---- */

/* Where the value of a size expression is: an immediate, a heap slot, or a composite slot
 * computed by a shape function (queued until flush_shape_funcs). */
static int size_arg(lower_ctx *c, mlcc_expr *e, mlcc_vm_arg *out) {
    e = arith_simplify_expr(e);
    if (e->kind == EXPR_INT) {
        *out = imm_arg(e->int_value);
        return 0;
    }
    mlcc_u64map_entry *s = e->kind == EXPR_VAR ? u64map_find(&c->slots, (uint64_t)(uintptr_t)e) : NULL;
    if (s) {
        *out = (mlcc_vm_arg){VM_ARG_HEAP_LOAD, s->value.i};
        return 0;
    }
    if (e->kind == EXPR_VAR) {
        char msg[256];
        snprintf(msg, sizeof msg, "size var '%s' is used before any input or match_cast defines it", e->var.name);
        return fail(c, msg);
    }
    for (size_t i = 0; i < c->composites.len; i++)
        if (prim_expr_same(c->composites.data[i].expr, e)) {
            *out = (mlcc_vm_arg){VM_ARG_HEAP_LOAD, c->composites.data[i].slot};
            return 0;
        }
    composite k = {e, c->heap_size++};
    vec_push(&c->composites, k);
    vec_push(&c->pending, k);
    *out = (mlcc_vm_arg){VM_ARG_HEAP_LOAD, k.slot};
    return 0;
}

/* Replaces size vars by loads of their heap slots (for shape functions). */
typedef struct {
    lower_ctx *c;
    mlcc_buffer *heap;
} heap_subst;

static mlcc_expr *heap_load_hook(ir_mutator *m, mlcc_expr *e) {
    heap_subst *h = m->ctx;
    if (e->kind != EXPR_VAR) return NULL;
    mlcc_u64map_entry *s = u64map_find(&h->c->slots, (uint64_t)(uintptr_t)e);
    if (!s) return NULL;
    mlcc_expr *idx = ir_int(s->value.i);
    return ir_load(h->heap, &idx, 1);
}

/* Emits one generated kernel that computes every queued composite slot from the heap. */
static int flush_shape_funcs(lower_ctx *c) {
    if (c->pending.len == 0) return 0;
    char name[256];
    snprintf(name, sizeof name, "shape_func_%s_%d", c->fname, c->shape_funcs++);
    for (char *p = name; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9'))) *p = '_';
    /* The heap's size is final only at the end; the kernel takes it as a symbolic length. */
    mlcc_expr *len = ir_size_var("heap_size");
    mlcc_buffer *heap = ir_buffer("H", DT_I64, &len, 1);
    heap_subst hs = {c, heap};
    ir_mutator m = {heap_load_hook, NULL, NULL, &hs};
    mlcc_stmt **stores = ir_alloc(sizeof(mlcc_stmt *) * c->pending.len);
    for (size_t i = 0; i < c->pending.len; i++) {
        mlcc_expr *idx = ir_int(c->pending.data[i].slot);
        stores[i] = ir_store(heap, ir_mutate_expr(&m, c->pending.data[i].expr), &idx, 1);
    }
    mlcc_prim_func *f = ir_prim_func(name, &heap, 1, ir_seq(stores, (int)c->pending.len));
    f->origin = ir_strdup("shape function (symbolic sizes)");
    vec_push(&c->kernels, f);
    vec_clear(&c->pending);
    mlcc_vm_arg heap_arg = {VM_ARG_HEAP, 0};
    emit(c, -1, name, &heap_arg, 1);
    return 0;
}

/* make_shape(heap, ndim, (mode, value)...) into a new register. */
static int make_shape(lower_ctx *c, mlcc_expr **dims, int ndim, int *reg) {
    mlcc_vm_arg args[2 + 2 * MLCC_MAX_NDIM];
    if (ndim > MLCC_MAX_NDIM) return fail(c, "a shape has more than 64 dimensions (MLCC_MAX_NDIM)");
    args[0] = (mlcc_vm_arg){VM_ARG_HEAP, 0};
    args[1] = imm_arg(ndim);
    for (int d = 0; d < ndim; d++) {
        mlcc_vm_arg a;
        if (size_arg(c, dims[d], &a)) return -1;
        args[2 + 2 * d] = imm_arg(a.kind == VM_ARG_IMM ? VM_MAKE_USE_IMM : VM_MAKE_LOAD_HEAP);
        args[3 + 2 * d] = imm_arg(a.value);
    }
    if (flush_shape_funcs(c)) return -1;
    *reg = new_reg(c);
    emit(c, *reg, "vm.builtin.make_shape", args, 2 + 2 * ndim);
    return 0;
}

/* match_shape of a tensor or shape value against dims: stores first sights of size vars. */
static int match_dims(lower_ctx *c, mlcc_vm_arg value, mlcc_expr **dims, int ndim, const char *what) {
    mlcc_vm_arg args[4 + 2 * MLCC_MAX_NDIM];
    if (ndim > MLCC_MAX_NDIM) return fail(c, "a shape has more than 64 dimensions (MLCC_MAX_NDIM)");
    args[0] = value;
    args[1] = (mlcc_vm_arg){VM_ARG_HEAP, 0};
    args[2] = imm_arg(ndim);
    for (int d = 0; d < ndim; d++) {
        mlcc_expr *e = arith_simplify_expr(dims[d]);
        int64_t mode = VM_MATCH_NO_OP, v = 0;
        if (e->kind == EXPR_INT) {
            mode = VM_MATCH_ASSERT_EQ_IMM;
            v = e->int_value;
        } else if (e->kind == EXPR_VAR) {
            mlcc_u64map_entry *s = u64map_find(&c->slots, (uint64_t)(uintptr_t)e);
            if (s) {
                mode = VM_MATCH_ASSERT_EQ_HEAP;
                v = s->value.i;
            } else {
                v = c->heap_size++;
                u64map_upsert(&c->slots, (uint64_t)(uintptr_t)e, NULL)->value.i = v;
                mode = VM_MATCH_STORE_TO_HEAP;
            }
        } /* composite dims are checked by the kernels that use them */
        args[3 + 2 * d] = imm_arg(mode);
        args[4 + 2 * d] = imm_arg(v);
    }
    args[3 + 2 * ndim] = string_arg(c, what);
    emit(c, -1, "vm.builtin.match_shape", args, 4 + 2 * ndim);
    return 0;
}

static int match_sinfo(lower_ctx *c, mlcc_vm_arg value, const rx_sinfo *s, const char *what) {
    if (s->kind == SI_TENSOR) {
        char tb[24];
        mlcc_vm_arg args[4] = {value, imm_arg(s->ndim),
                               string_arg(c, dtype_is_void(s->dtype) ? "" : dtype_str(s->dtype, tb)),
                               string_arg(c, what)};
        emit(c, -1, "vm.builtin.check_tensor_info", args, 4);
        if (s->shape) return match_dims(c, value, s->shape, s->ndim, what);
    } else if (s->kind == SI_SHAPE && s->shape) {
        return match_dims(c, value, s->shape, s->ndim, what);
    }
    return 0;
}

/* ---- values ---- */

static int arg_of(lower_ctx *c, const rx_expr *e, mlcc_vm_arg *out);

static int constant_arg(lower_ctx *c, const rx_expr *e, mlcc_vm_arg *out) {
    DLDataType dt = {e->constant.dtype.code, e->constant.dtype.bits, e->constant.dtype.lanes};
    if (dtype_is_bool(e->constant.dtype)) dt.bits = 1;
    MLCCNDArray *a = mlcc_ndarray_empty(e->constant.ndim, e->constant.shape, dt, MLCC_CPU);
    if (!a) return -1;
    if (mlcc_ndarray_copy_from_bytes(a, e->constant.data, e->constant.nbytes) != 0) {
        mlcc_ndarray_release(a);
        return -1;
    }
    *out = (mlcc_vm_arg){VM_ARG_CONST, const_arg(c, &a->obj)};
    return 0;
}

static int arg_of(lower_ctx *c, const rx_expr *e, mlcc_vm_arg *out) {
    switch (e->kind) {
    case RX_VAR:
    case RX_DATAFLOW_VAR: {
        mlcc_vm_arg *a = u64map_get_p(&c->args, e);
        if (!a) {
            char msg[256];
            snprintf(msg, sizeof msg, "variable '%s' is used before it is defined", e->var.name);
            return fail(c, msg);
        }
        *out = *a;
        return 0;
    }
    case RX_CONSTANT: return constant_arg(c, e, out);
    case RX_PRIM_VALUE: return size_arg(c, e->prim_value, out) || flush_shape_funcs(c);
    case RX_STRING_IMM: *out = string_arg(c, e->str); return 0;
    case RX_GLOBAL_VAR: {
        /* a kernel passed as a value (the attention kernels a KV cache is created with) */
        const irmod_entry *target = irmod_lookup(c->mod, e->var.name);
        if (!target || target->kind != IRMOD_PRIM) return fail(c, "only kernels (PrimFuncs) can be passed as values");
        *out = (mlcc_vm_arg){VM_ARG_FUNC, mlcc_vm_exec_callee(c->exec, e->var.name)};
        return 0;
    }
    case RX_SHAPE_EXPR: {
        int r;
        if (make_shape(c, e->shape_expr.values, e->shape_expr.ndim, &r)) return -1;
        *out = reg_arg(r);
        return 0;
    }
    case RX_TUPLE: {
        mlcc_vm_arg fields[MLCC_MAX_ARGS];
        if (e->tuple.n > MLCC_MAX_ARGS) return fail(c, "a tuple has too many fields");
        for (int i = 0; i < e->tuple.n; i++)
            if (arg_of(c, e->tuple.fields[i], &fields[i])) return -1;
        int r = new_reg(c);
        emit(c, r, "vm.builtin.make_tuple", fields, e->tuple.n);
        *out = reg_arg(r);
        return 0;
    }
    default: return fail(c, "an argument must be a variable, constant, shape, prim value, string, kernel or tuple");
    }
}

/* Storage + tensor for one output of a DPS call. */
static int alloc_output(lower_ctx *c, const rx_sinfo *s, const var_info *vi, mlcc_vm_arg *out) {
    if (s->kind != SI_TENSOR || !s->shape || dtype_is_void(s->dtype))
        return fail(c, "an output of call_tir needs a known shape and dtype");
    mlcc_expr *bytes = ir_int(dtype_bytes(s->dtype) * s->dtype.lanes);
    for (int d = 0; d < s->ndim; d++) bytes = ir_mul(bytes, s->shape[d]);
    int storage = new_reg(c);
    if (vi && vi->plan_slot >= 0) {
        mlcc_vm_arg args[3] = {{VM_ARG_VM, 0}, imm_arg(c->storage_base + vi->plan_slot), imm_arg(vi->plan_bytes)};
        emit(c, storage, "vm.builtin.planned_storage", args, 3);
    } else {
        mlcc_vm_arg size;
        if (size_arg(c, bytes, &size) || flush_shape_funcs(c)) return -1;
        mlcc_vm_arg args[2] = {{VM_ARG_VM, 0}, size};
        emit(c, storage, "vm.builtin.alloc_storage", args, 2);
        c->dynamic_allocs++;
    }
    int shape;
    if (make_shape(c, s->shape, s->ndim, &shape)) return -1;
    char tb[24];
    int tensor = new_reg(c);
    mlcc_vm_arg args[4] = {reg_arg(storage), imm_arg(0), reg_arg(shape), string_arg(c, dtype_str(s->dtype, tb))};
    emit(c, tensor, "vm.builtin.alloc_tensor", args, 4);
    *out = reg_arg(tensor);
    return 0;
}

static int lower_dps(lower_ctx *c, const rx_expr *var, const rx_expr *call, const char *kernel) {
    const rx_expr *tuple = call->call.args[1];
    int nin = tuple->tuple.n;
    const rx_sinfo *outs = var->sinfo;
    int nout = outs->kind == SI_TUPLE ? outs->nfields : 1;
    if (nin + nout > MLCC_MAX_ARGS) return fail(c, "too many kernel arguments");
    mlcc_vm_arg args[MLCC_MAX_ARGS];
    for (int i = 0; i < nin; i++)
        if (arg_of(c, tuple->tuple.fields[i], &args[i])) return -1;
    const var_info *vi = u64map_get_p(&c->info, var);
    for (int k = 0; k < nout; k++)
        if (alloc_output(c, outs->kind == SI_TUPLE ? outs->fields[k] : outs, nout == 1 ? vi : NULL, &args[nin + k])) return -1;
    emit(c, -1, kernel, args, nin + nout);
    if (nout == 1) {
        bind(c, var, args[nin]);
    } else {
        int r = new_reg(c);
        emit(c, r, "vm.builtin.make_tuple", args + nin, nout);
        bind(c, var, reg_arg(r));
    }
    return 0;
}

/* Copies a value into a fresh register (for If results and returned non-registers). */
static int into_reg(lower_ctx *c, mlcc_vm_arg a, int dst) {
    emit(c, dst, "vm.builtin.identity", &a, 1);
    return 0;
}

static mlcc_vm_instr *instr_at(lower_ctx *c, int pc) {
    return &c->exec->funcs[c->func].instrs[pc];
}

static int pc_now(lower_ctx *c) {
    return c->exec->funcs[c->func].num_instrs;
}

static int lower_if(lower_ctx *c, const rx_expr *var, const rx_expr *e) {
    mlcc_vm_arg cond;
    if (arg_of(c, e->if_.cond, &cond)) return -1;
    int cond_reg = (int)cond.value;
    if (cond.kind != VM_ARG_REG) {
        cond_reg = new_reg(c);
        into_reg(c, cond, cond_reg);
    }
    int dst = new_reg(c);
    int if_pc = pc_now(c);
    mlcc_vm_emit_if(c->exec, c->func, cond_reg, 1);
    mlcc_vm_arg r;
    if (lower_seq(c, e->if_.then_, &r)) return -1;
    into_reg(c, r, dst);
    int goto_pc = pc_now(c);
    mlcc_vm_emit_goto(c->exec, c->func, 1);
    instr_at(c, if_pc)->offset = pc_now(c) - if_pc;
    if (lower_seq(c, e->if_.else_, &r)) return -1;
    into_reg(c, r, dst);
    /* the join point needs an instruction to land on */
    int join = new_reg(c);
    mlcc_vm_arg zero = imm_arg(0);
    instr_at(c, goto_pc)->offset = pc_now(c) - goto_pc;
    into_reg(c, zero, join);
    bind(c, var, reg_arg(dst));
    return 0;
}

static int lower_binding(lower_ctx *c, const rx_binding *b) {
    const rx_expr *v = b->value;
    mlcc_vm_arg a;
    if (b->cast) {
        if (arg_of(c, v, &a) || match_sinfo(c, a, b->cast, b->var->var.name)) return -1;
        bind(c, b->var, a);
        return 0;
    }
    switch (v->kind) {
    case RX_CALL: {
        const rx_expr *callee = v->call.callee;
        if (callee->kind == RX_OP) {
            const char *op = callee->op->name;
            if (strcmp(op, "call_tir") == 0) return lower_dps(c, b->var, v, v->call.args[0]->var.name);
            if (strcmp(op, "call_dps_packed") == 0) return lower_dps(c, b->var, v, v->call.args[0]->str);
            if (strcmp(op, "call_packed") == 0) {
                mlcc_vm_arg args[MLCC_MAX_ARGS];
                if (v->call.nargs - 1 > MLCC_MAX_ARGS) return fail(c, "too many arguments");
                for (int i = 1; i < v->call.nargs; i++)
                    if (arg_of(c, v->call.args[i], &args[i - 1])) return -1;
                int r = new_reg(c);
                emit(c, r, v->call.args[0]->str, args, v->call.nargs - 1);
                bind(c, b->var, reg_arg(r));
                return 0;
            }
            char msg[256];
            snprintf(msg, sizeof msg, "op '%s' was not legalized (run legalize first)", op);
            return fail(c, msg);
        }
        if (callee->kind == RX_GLOBAL_VAR) {
            const irmod_entry *target = irmod_lookup(c->mod, callee->var.name);
            if (!target || target->kind != IRMOD_GRAPH) return fail(c, "a call of a global that is not a graph function");
            if (v->call.nargs > MLCC_VM_MAX_CALL_ARGS) return fail(c, "too many arguments");
            mlcc_vm_arg *args = ir_alloc(sizeof(mlcc_vm_arg) * (size_t)(v->call.nargs ? v->call.nargs : 1));
            for (int i = 0; i < v->call.nargs; i++)
                if (arg_of(c, v->call.args[i], &args[i])) return -1;
            int r = new_reg(c);
            emit(c, r, callee->var.name, args, v->call.nargs);
            bind(c, b->var, reg_arg(r));
            return 0;
        }
        return fail(c, "calls of function values are not supported");
    }
    case RX_TUPLE_GET_ITEM: {
        if (arg_of(c, v->get_item.tuple, &a)) return -1;
        mlcc_vm_arg args[2] = {a, imm_arg(v->get_item.index)};
        int r = new_reg(c);
        emit(c, r, "vm.builtin.tuple_getitem", args, 2);
        bind(c, b->var, reg_arg(r));
        return 0;
    }
    case RX_IF: return lower_if(c, b->var, v);
    default:
        if (arg_of(c, v, &a)) return -1;
        bind(c, b->var, a);
        return 0;
    }
}

static int lower_seq(lower_ctx *c, const rx_expr *seq, mlcc_vm_arg *result) {
    if (seq->kind != RX_SEQ) return arg_of(c, seq, result);
    for (int i = 0; i < seq->seq.nblocks; i++)
        for (int j = 0; j < seq->seq.blocks[i].n; j++)
            if (lower_binding(c, &seq->seq.blocks[i].bindings[j])) return -1;
    return arg_of(c, seq->seq.body, result);
}

/* ---- analysis: lifetimes and escapes of the top-level bindings ---- */

static void note_uses(lower_ctx *c, const rx_expr *e, int pos);

static void note_uses_seq(lower_ctx *c, const rx_expr *seq, int pos) {
    for (int i = 0; i < seq->seq.nblocks; i++)
        for (int j = 0; j < seq->seq.blocks[i].n; j++) note_uses(c, seq->seq.blocks[i].bindings[j].value, pos);
    note_uses(c, seq->seq.body, pos);
}

static void note_uses(lower_ctx *c, const rx_expr *e, int pos) {
    switch (e->kind) {
    case RX_VAR:
    case RX_DATAFLOW_VAR: {
        var_info *vi = u64map_get_p(&c->info, e);
        if (vi && vi->last_use < pos) vi->last_use = pos;
        return;
    }
    case RX_TUPLE:
        for (int i = 0; i < e->tuple.n; i++) note_uses(c, e->tuple.fields[i], pos);
        return;
    case RX_TUPLE_GET_ITEM: note_uses(c, e->get_item.tuple, pos); return;
    case RX_CALL:
        for (int i = 0; i < e->call.nargs; i++) note_uses(c, e->call.args[i], pos);
        return;
    case RX_IF:
        note_uses(c, e->if_.cond, pos);
        note_uses(c, e->if_.then_, pos);
        note_uses(c, e->if_.else_, pos);
        return;
    case RX_SEQ: note_uses_seq(c, e, pos); return;
    default: return;
    }
}

/* Marks everything a value may share memory with as escaping / living as long as v. */
static void propagate(lower_ctx *c, const rx_expr *value, const var_info *from) {
    switch (value->kind) {
    case RX_VAR:
    case RX_DATAFLOW_VAR: {
        var_info *vi = u64map_get_p(&c->info, value);
        if (!vi) return;
        if (vi->last_use < from->last_use) vi->last_use = from->last_use;
        vi->escapes |= from->escapes;
        return;
    }
    case RX_TUPLE:
        for (int i = 0; i < value->tuple.n; i++) propagate(c, value->tuple.fields[i], from);
        return;
    case RX_TUPLE_GET_ITEM: propagate(c, value->get_item.tuple, from); return;
    case RX_IF: /* an If's result may be any value its branches return */
        propagate(c, value->if_.then_, from);
        propagate(c, value->if_.else_, from);
        return;
    case RX_SEQ: propagate(c, value->seq.body, from); return;
    case RX_CALL: /* a call of another graph function may return one of its arguments */
        if (value->call.callee->kind == RX_GLOBAL_VAR || (value->call.callee->kind == RX_OP &&
                                                           strcmp(value->call.callee->op->name, "call_packed") == 0))
            for (int i = 0; i < value->call.nargs; i++) propagate(c, value->call.args[i], from);
        return;
    default: return;
    }
}

static int64_t var_bound(const mlcc_ir_module *m, const rx_expr *fn, const char *name) {
    char key[256];
    snprintf(key, sizeof key, "var_upper_bound:%s", name);
    int64_t v = rx_attrs_int(fn->func.attrs, key, -1);
    if (v < 0) v = rx_attrs_int(m->attrs, key, -1);
    return v;
}

static int plan_function(lower_ctx *c, const rx_expr *fn, int *num_storages, int64_t *planned_bytes) {
    const rx_expr *body = fn->func.body;
    *num_storages = 0;
    *planned_bytes = 0;
    if (body->kind != RX_SEQ) return 0;
    /* positions and definitions */
    int pos = 0;
    MLCC_VEC(const rx_binding *) bindings = {0};
    for (int i = 0; i < body->seq.nblocks; i++)
        for (int j = 0; j < body->seq.blocks[i].n; j++) {
            const rx_binding *b = &body->seq.blocks[i].bindings[j];
            var_info *vi = ir_alloc(sizeof *vi);
            vi->def_pos = vi->last_use = pos++;
            vi->plan_slot = -1;
            u64map_set_p(&c->info, b->var, vi);
            vec_push(&bindings, b);
        }
    for (size_t k = 0; k < bindings.len; k++) note_uses(c, bindings.data[k]->value, (int)k);
    var_info ret = {pos, pos, 1, -1, 0};
    propagate(c, body->seq.body, &ret);
    for (size_t k = bindings.len; k-- > 0;) {
        const var_info *vi = u64map_get_p(&c->info, bindings.data[k]->var);
        propagate(c, bindings.data[k]->value, vi);
    }
    /* size vars with declared bounds */
    mlcc_expr **vars = NULL;
    int nvars = 0, cap = 0;
    for (int i = 0; i < fn->func.nparams; i++) rx_sinfo_collect_vars(fn->func.params[i]->sinfo, &vars, &nvars, &cap);
    mlcc_expr **bounded = ir_alloc(sizeof(mlcc_expr *) * (size_t)(nvars + 1));
    int64_t *bounds = ir_alloc(sizeof(int64_t) * (size_t)(nvars + 1));
    int nbounded = 0;
    for (int i = 0; i < nvars; i++) {
        int64_t ub = var_bound(c->mod, fn, vars[i]->var.name);
        if (ub >= 0) {
            bounded[nbounded] = vars[i];
            bounds[nbounded++] = ub;
        }
    }
    /* requests: single-tensor outputs of DPS calls that do not escape and have a bound */
    MLCC_VEC(mlcc_mem_request) reqs = {0};
    MLCC_VEC(var_info *) owners = {0};
    for (size_t k = 0; k < bindings.len; k++) {
        const rx_binding *b = bindings.data[k];
        var_info *vi = u64map_get_p(&c->info, b->var);
        const rx_expr *v = b->value;
        if (b->cast || v->kind != RX_CALL || v->call.callee->kind != RX_OP || vi->escapes) continue;
        const char *op = v->call.callee->op->name;
        if (strcmp(op, "call_tir") && strcmp(op, "call_dps_packed")) continue;
        const rx_sinfo *s = b->var->sinfo;
        if (s->kind != SI_TENSOR || !s->shape) continue;
        mlcc_expr *bytes = ir_int(dtype_bytes(s->dtype) * s->dtype.lanes);
        for (int d = 0; d < s->ndim; d++) bytes = ir_mul(bytes, s->shape[d]);
        mlcc_mem_request r = {b->var->var.name, bytes, vi->def_pos, vi->last_use, -1, 0};
        /* only sizes over bounded vars can be planned */
        int64_t lo, hi;
        arith_analyzer *an = arith_new();
        for (int i = 0; i < nbounded; i++) arith_bind_bounds(an, bounded[i], 0, bounds[i]);
        arith_const_bounds(an, bytes, &lo, &hi);
        arith_free(an);
        if (hi == INT64_MAX) continue;
        vec_push(&reqs, r);
        vec_push(&owners, vi);
    }
    int rc = 0;
    if (reqs.len) {
        mlcc_mem_plan plan;
        rc = mlcc_memory_plan(reqs.data, (int)reqs.len, bounded, bounds, nbounded, &plan);
        if (rc == 0) {
            for (size_t k = 0; k < reqs.len; k++) {
                owners.data[k]->plan_slot = reqs.data[k].storage;
                owners.data[k]->plan_bytes = plan.storage_bytes[reqs.data[k].storage];
            }
            *num_storages = plan.num_storages;
            *planned_bytes = plan.total_bytes;
            mlcc_mem_plan_free(&plan);
        }
    }
    vec_free(&reqs);
    vec_free(&owners);
    vec_free(&bindings);
    return rc;
}

/* ---- functions ---- */

static int lower_function(lower_ctx *c, const char *name, const rx_expr *fn, json_t *mem_funcs, int *storage_slots) {
    c->fname = name;
    c->nregs = fn->func.nparams;
    c->heap_size = 0;
    c->shape_funcs = 0;
    c->dynamic_allocs = 0;
    c->storage_base = *storage_slots;
    u64map_init(&c->args);
    u64map_init(&c->slots);
    u64map_init(&c->info);
    vec_clear(&c->composites);
    vec_clear(&c->pending);
    int nstorages = 0;
    int64_t planned = 0;
    int rc = plan_function(c, fn, &nstorages, &planned);
    if (rc == 0) {
        c->func = mlcc_vm_exec_add_function(c->exec, name, fn->func.nparams, 0, 0);
        for (int i = 0; i < fn->func.nparams; i++) bind(c, fn->func.params[i], reg_arg(i));
        for (int i = 0; i < fn->func.nparams && rc == 0; i++) {
            char what[300];
            snprintf(what, sizeof what, "%s: argument '%s'", name, fn->func.params[i]->var.name);
            rc = match_sinfo(c, reg_arg(i), fn->func.params[i]->sinfo, what);
        }
        mlcc_vm_arg result;
        if (rc == 0) rc = lower_seq(c, fn->func.body, &result);
        if (rc == 0) {
            int r = (int)result.value;
            if (result.kind != VM_ARG_REG) {
                r = new_reg(c);
                into_reg(c, result, r);
            }
            mlcc_vm_emit_ret(c->exec, c->func, r);
            c->exec->funcs[c->func].num_regs = c->nregs;
            c->exec->funcs[c->func].heap_size = c->heap_size;
        }
    }
    if (rc == 0) {
        *storage_slots += nstorages;
        json_object_set_new(mem_funcs, name, json_pack("{s:i,s:I,s:i}", "planned_storages", nstorages, "planned_bytes",
                                                       (json_int_t)planned, "dynamic_allocations", c->dynamic_allocs));
    }
    u64map_free(&c->args);
    u64map_free(&c->slots);
    u64map_free(&c->info);
    return rc;
}

int mlcc_vm_lower(const mlcc_ir_module *m, mlcc_vm_lowered *out) {
    memset(out, 0, sizeof *out);
    lower_ctx c;
    memset(&c, 0, sizeof c);
    c.mod = m;
    c.out = out;
    c.exec = mlcc_vm_exec_new();
    json_t *mem_funcs = json_object();
    int storage_slots = 0, rc = 0;
    int64_t total = 0;
    for (int i = 0; i < m->n && rc == 0; i++) {
        if (m->entries[i].kind == IRMOD_PRIM) {
            vec_push(&c.kernels, m->entries[i].prim);
            continue;
        }
        rc = lower_function(&c, m->entries[i].name, m->entries[i].graph, mem_funcs, &storage_slots);
        if (rc == 0) total += json_integer_value(json_object_get(json_object_get(mem_funcs, m->entries[i].name), "planned_bytes"));
    }
    vec_free(&c.composites);
    vec_free(&c.pending);
    if (rc != 0) {
        json_decref(mem_funcs);
        mlcc_vm_exec_free(c.exec);
        vec_free(&c.kernels);
        return -1;
    }
    mlcc_vm_exec_link(c.exec);
    out->exec = c.exec;
    out->nkernels = (int)c.kernels.len;
    out->kernels = ir_alloc(sizeof(mlcc_prim_func *) * (c.kernels.len + 1));
    mlcc_memcpy(out->kernels, c.kernels.data, sizeof(mlcc_prim_func *) * c.kernels.len);
    vec_free(&c.kernels);
    out->memory = json_pack("{s:o,s:I}", "functions", mem_funcs, "temporary_bytes", (json_int_t)total);
    return 0;
}

void mlcc_vm_lowered_free(mlcc_vm_lowered *l) {
    mlcc_vm_exec_free(l->exec);
    json_decref(l->memory);
    memset(l, 0, sizeof *l);
}
