/* vm_exec.c - VM executables: building, JSON serialization, printing (see vm.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "runtime/vm.h"
#include "support/alloc.h"
#include "support/error.h"
#include "support/json.h"

mlcc_vm_exec *mlcc_vm_exec_new(void) {
    return mlcc_xcalloc(1, sizeof(mlcc_vm_exec));
}

void mlcc_vm_exec_free(mlcc_vm_exec *e) {
    if (!e) return;
    for (int i = 0; i < e->num_funcs; i++) {
        for (int k = 0; k < e->funcs[i].num_instrs; k++) free(e->funcs[i].instrs[k].args);
        free(e->funcs[i].instrs);
        free(e->funcs[i].name);
    }
    free(e->funcs);
    for (int i = 0; i < e->num_callees; i++) free(e->callees[i].name);
    free(e->callees);
    for (int i = 0; i < e->num_consts; i++) mlcc_value_release(e->consts[i], e->const_codes[i]);
    free(e->consts);
    free(e->const_codes);
    free(e);
}

int mlcc_vm_exec_add_function(mlcc_vm_exec *e, const char *name, int num_params, int num_regs,
                              int heap_size) {
    e->funcs = mlcc_xrealloc(e->funcs, sizeof(mlcc_vm_function) * (size_t)(e->num_funcs + 1));
    mlcc_vm_function *f = &e->funcs[e->num_funcs];
    memset(f, 0, sizeof *f);
    f->name = mlcc_xstrdup(name);
    f->num_params = num_params;
    f->num_regs = num_regs;
    f->heap_size = heap_size;
    return e->num_funcs++;
}

int mlcc_vm_exec_callee(mlcc_vm_exec *e, const char *name) {
    for (int i = 0; i < e->num_callees; i++)
        if (strcmp(e->callees[i].name, name) == 0) return i;
    e->callees = mlcc_xrealloc(e->callees, sizeof(mlcc_vm_callee) * (size_t)(e->num_callees + 1));
    mlcc_vm_callee *c = &e->callees[e->num_callees];
    c->name = mlcc_xstrdup(name);
    c->kind = VM_CALLEE_PACKED;
    c->vm_index = -1;
    return e->num_callees++;
}

int mlcc_vm_exec_add_const(mlcc_vm_exec *e, MLCCValue v, int type_code) {
    e->consts = mlcc_xrealloc(e->consts, sizeof(MLCCValue) * (size_t)(e->num_consts + 1));
    e->const_codes = mlcc_xrealloc(e->const_codes, sizeof(int) * (size_t)(e->num_consts + 1));
    if (type_code == MLCC_TYPE_OBJECT) mlcc_object_retain(v.v_handle);
    e->consts[e->num_consts] = v;
    e->const_codes[e->num_consts] = type_code;
    return e->num_consts++;
}

static mlcc_vm_instr *push_instr(mlcc_vm_exec *e, int func, mlcc_vm_opcode op) {
    mlcc_vm_function *f = &e->funcs[func];
    f->instrs = mlcc_xrealloc(f->instrs, sizeof(mlcc_vm_instr) * (size_t)(f->num_instrs + 1));
    mlcc_vm_instr *in = &f->instrs[f->num_instrs++];
    memset(in, 0, sizeof *in);
    in->op = op;
    in->dst = -1;
    return in;
}

void mlcc_vm_emit_call(mlcc_vm_exec *e, int func, int dst, int callee, const mlcc_vm_arg *args,
                       int nargs) {
    mlcc_vm_instr *in = push_instr(e, func, VM_OP_CALL);
    in->dst = dst;
    in->callee = callee;
    in->nargs = nargs;
    in->args = mlcc_xmalloc(sizeof(mlcc_vm_arg) * (size_t)(nargs > 0 ? nargs : 1));
    mlcc_memcpy(in->args, args, sizeof(mlcc_vm_arg) * (size_t)nargs);
}

void mlcc_vm_emit_ret(mlcc_vm_exec *e, int func, int reg) {
    push_instr(e, func, VM_OP_RET)->reg = reg;
}

void mlcc_vm_emit_goto(mlcc_vm_exec *e, int func, int offset) {
    push_instr(e, func, VM_OP_GOTO)->offset = offset;
}

void mlcc_vm_emit_if(mlcc_vm_exec *e, int func, int reg, int offset) {
    mlcc_vm_instr *in = push_instr(e, func, VM_OP_IF);
    in->reg = reg;
    in->offset = offset;
}

void mlcc_vm_exec_link(mlcc_vm_exec *e) {
    for (int i = 0; i < e->num_callees; i++) {
        e->callees[i].kind = VM_CALLEE_PACKED;
        e->callees[i].vm_index = -1;
        for (int f = 0; f < e->num_funcs; f++)
            if (strcmp(e->callees[i].name, e->funcs[f].name) == 0) {
                e->callees[i].kind = VM_CALLEE_VM;
                e->callees[i].vm_index = f;
            }
    }
}

/* ---- base64 for constant tensor bytes ---- */

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static char *base64_encode(const unsigned char *p, size_t n) {
    char *out = mlcc_xmalloc((n + 2) / 3 * 4 + 1), *o = out;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0) | (i + 2 < n ? p[i + 2] : 0);
        *o++ = b64[v >> 18 & 63];
        *o++ = b64[v >> 12 & 63];
        *o++ = i + 1 < n ? b64[v >> 6 & 63] : '=';
        *o++ = i + 2 < n ? b64[v & 63] : '=';
    }
    *o = '\0';
    return out;
}

static int base64_value(char c) {
    const char *p = c ? strchr(b64, c) : NULL;
    return p ? (int)(p - b64) : -1;
}

/* Decodes into out (exactly `want` bytes expected); 0 on success. */
static int base64_decode(const char *s, unsigned char *out, size_t want) {
    size_t len = strlen(s), k = 0;
    if (len % 4) return -1;
    for (size_t i = 0; i < len; i += 4) {
        int v[4];
        for (int j = 0; j < 4; j++) v[j] = s[i + j] == '=' ? 0 : base64_value(s[i + j]);
        if (v[0] < 0 || v[1] < 0 || v[2] < 0 || v[3] < 0) return -1;
        uint32_t x = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
        unsigned char bytes[3] = {(unsigned char)(x >> 16), (unsigned char)(x >> 8), (unsigned char)x};
        int count = 3 - (s[i + 2] == '=') - (s[i + 3] == '=');
        for (int j = 0; j < count; j++) {
            if (k >= want) return -1;
            out[k++] = bytes[j];
        }
    }
    return k == want ? 0 : -1;
}

/* ---- JSON ---- */

static const char *arg_kind_names[] = {"reg", "imm", "const", "func", "heap", "vm", "heap_load"};
enum { NUM_ARG_KINDS = 7 };
static const char *op_names[] = {"call", "ret", "goto", "if"};

static json_t *const_to_json(MLCCValue v, int code) {
    switch (code) {
    case MLCC_TYPE_INT: return json_pack("{s:s,s:I}", "type", "int", "value", (json_int_t)v.v_int64);
    case MLCC_TYPE_FLOAT: return json_pack("{s:s,s:f}", "type", "float", "value", v.v_float64);
    case MLCC_TYPE_STR: return json_pack("{s:s,s:s}", "type", "str", "value", v.v_str);
    case MLCC_TYPE_OBJECT: break;
    default: return json_pack("{s:s}", "type", "null");
    }
    MLCCObject *obj = v.v_handle;
    if (obj->type_index == MLCC_OBJECT_STRING) {
        MLCCString *s = (MLCCString *)obj;
        return json_pack("{s:s,s:s%}", "type", "str", "value", s->data, s->len);
    }
    if (obj->type_index == MLCC_OBJECT_SHAPE) {
        MLCCShape *s = (MLCCShape *)obj;
        json_t *dims = json_array();
        for (int i = 0; i < s->ndim; i++) json_array_append_new(dims, json_integer(s->dims[i]));
        return json_pack("{s:s,s:o}", "type", "shape", "value", dims);
    }
    if (obj->type_index == MLCC_OBJECT_NDARRAY) {
        MLCCNDArray *a = (MLCCNDArray *)obj;
        size_t n = mlcc_ndarray_nbytes(a);
        unsigned char *bytes = mlcc_xmalloc(n ? n : 1);
        json_t *out = NULL;
        if (mlcc_ndarray_copy_to_bytes(a, bytes, n) == 0) {
            char dt[32];
            json_t *shape = json_array();
            for (int i = 0; i < a->dl.ndim; i++) json_array_append_new(shape, json_integer(a->dl.shape[i]));
            char *data = base64_encode(bytes, n);
            out = json_pack("{s:s,s:s,s:o,s:s}", "type", "ndarray", "dtype", mlcc_dtype_str(a->dl.dtype, dt),
                            "shape", shape, "data", data);
            free(data);
        }
        free(bytes);
        return out ? out : json_pack("{s:s}", "type", "null");
    }
    return json_pack("{s:s}", "type", "null");
}

char *mlcc_vm_exec_to_json(const mlcc_vm_exec *e) {
    json_t *root = json_object();
    json_object_set_new(root, "format", json_string("mlcc-vm-1"));
    json_t *funcs = json_array();
    for (int i = 0; i < e->num_funcs; i++) {
        const mlcc_vm_function *f = &e->funcs[i];
        json_t *code = json_array();
        for (int k = 0; k < f->num_instrs; k++) {
            const mlcc_vm_instr *in = &f->instrs[k];
            json_t *j = json_pack("{s:s}", "op", op_names[in->op]);
            if (in->op == VM_OP_CALL) {
                json_object_set_new(j, "dst", json_integer(in->dst));
                json_object_set_new(j, "callee", json_integer(in->callee));
                json_t *args = json_array();
                for (int a = 0; a < in->nargs; a++)
                    json_array_append_new(args, json_pack("[s,I]", arg_kind_names[in->args[a].kind], (json_int_t)in->args[a].value));
                json_object_set_new(j, "args", args);
            } else {
                json_object_set_new(j, "reg", json_integer(in->reg));
                json_object_set_new(j, "offset", json_integer(in->offset));
            }
            json_array_append_new(code, j);
        }
        json_array_append_new(funcs, json_pack("{s:s,s:i,s:i,s:i,s:o}", "name", f->name, "num_params", f->num_params,
                                               "num_regs", f->num_regs, "heap_size", f->heap_size, "code", code));
    }
    json_object_set_new(root, "functions", funcs);
    json_t *callees = json_array();
    for (int i = 0; i < e->num_callees; i++) json_array_append_new(callees, json_string(e->callees[i].name));
    json_object_set_new(root, "callees", callees);
    json_t *consts = json_array();
    for (int i = 0; i < e->num_consts; i++) json_array_append_new(consts, const_to_json(e->consts[i], e->const_codes[i]));
    json_object_set_new(root, "constants", consts);
    char *text = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    return text;
}

static int const_from_json(mlcc_vm_exec *e, json_t *j, int index) {
    const char *type = json_string_value(json_object_get(j, "type"));
    json_t *value = json_object_get(j, "value");
    MLCCValue v = {0};
    if (!type) return mlcc_set_error("constants[%d]: missing \"type\"", index);
    if (strcmp(type, "int") == 0 && json_is_integer(value)) {
        v.v_int64 = json_integer_value(value);
        mlcc_vm_exec_add_const(e, v, MLCC_TYPE_INT);
    } else if (strcmp(type, "float") == 0 && json_is_number(value)) {
        v.v_float64 = json_number_value(value);
        mlcc_vm_exec_add_const(e, v, MLCC_TYPE_FLOAT);
    } else if (strcmp(type, "str") == 0 && json_is_string(value)) {
        MLCCString *s = mlcc_string_new(json_string_value(value), json_string_length(value));
        v.v_handle = s;
        mlcc_vm_exec_add_const(e, v, MLCC_TYPE_OBJECT);
        mlcc_object_release(&s->obj);
    } else if (strcmp(type, "shape") == 0 && json_is_array(value)) {
        size_t n = json_array_size(value);
        if (n > MLCC_MAX_NDIM) return mlcc_set_error("constants[%d]: shape has %zu dims", index, n);
        int64_t dims[MLCC_MAX_NDIM];
        for (size_t i = 0; i < n; i++) {
            if (!json_is_integer(json_array_get(value, i))) return mlcc_set_error("constants[%d]: shape entry %zu is not an integer", index, i);
            dims[i] = json_integer_value(json_array_get(value, i));
        }
        MLCCShape *s = mlcc_shape_new((int)n, dims);
        v.v_handle = s;
        mlcc_vm_exec_add_const(e, v, MLCC_TYPE_OBJECT);
        mlcc_object_release(&s->obj);
    } else if (strcmp(type, "ndarray") == 0) {
        const char *dts = json_string_value(json_object_get(j, "dtype"));
        const char *data = json_string_value(json_object_get(j, "data"));
        json_t *shape = json_object_get(j, "shape");
        DLDataType dt;
        if (!dts || !data || !json_is_array(shape) || mlcc_dtype_parse(dts, &dt) != 0)
            return mlcc_set_error("constants[%d]: ndarray needs dtype, shape and data", index);
        size_t n = json_array_size(shape);
        if (n > MLCC_MAX_NDIM) return mlcc_set_error("constants[%d]: ndarray has %zu dims", index, n);
        int64_t dims[MLCC_MAX_NDIM];
        for (size_t i = 0; i < n; i++) {
            json_t *d = json_array_get(shape, i);
            if (!json_is_integer(d) || json_integer_value(d) < 0) return mlcc_set_error("constants[%d]: bad shape entry %zu", index, i);
            dims[i] = json_integer_value(d);
        }
        size_t nbytes;
        if (mlcc_shape_nbytes((int)n, dims, dt, &nbytes) != 0 || nbytes / 3 * 4 > strlen(data) + 4)
            return mlcc_set_error("constants[%d]: data does not match the shape", index);
        MLCCNDArray *a = mlcc_ndarray_empty((int)n, dims, dt, MLCC_CPU);
        if (!a) return -1;
        unsigned char *bytes = mlcc_xmalloc(nbytes ? nbytes : 1);
        int rc = base64_decode(data, bytes, nbytes);
        if (rc == 0) rc = mlcc_ndarray_copy_from_bytes(a, bytes, nbytes);
        free(bytes);
        if (rc != 0) {
            mlcc_ndarray_release(a);
            return mlcc_set_error("constants[%d]: data is not %zu bytes of base64", index, nbytes);
        }
        v.v_handle = a;
        mlcc_vm_exec_add_const(e, v, MLCC_TYPE_OBJECT);
        mlcc_ndarray_release(a);
    } else {
        return mlcc_set_error("constants[%d]: unknown constant type '%s' or bad value", index, type);
    }
    return 0;
}

static int int_field(json_t *obj, const char *key, int64_t lo, int64_t hi, int64_t *out, const char *where, int index) {
    json_t *v = json_object_get(obj, key);
    if (!json_is_integer(v)) return mlcc_set_error("%s[%d]: \"%s\" must be an integer", where, index, key);
    *out = json_integer_value(v);
    if (*out < lo || *out > hi) return mlcc_set_error("%s[%d]: \"%s\" = %lld is out of range", where, index, key, (long long)*out);
    return 0;
}

static int function_from_json(mlcc_vm_exec *e, json_t *jf, int fi) {
    int64_t np, nr, hs;
    const char *name = json_string_value(json_object_get(jf, "name"));
    if (!name) return mlcc_set_error("functions[%d]: missing \"name\"", fi);
    if (int_field(jf, "num_params", 0, 1 << 16, &np, "functions", fi) || int_field(jf, "num_regs", np, 1 << 20, &nr, "functions", fi) ||
        int_field(jf, "heap_size", 0, 1 << 20, &hs, "functions", fi))
        return -1;
    int f = mlcc_vm_exec_add_function(e, name, (int)np, (int)nr, (int)hs);
    json_t *code = json_object_get(jf, "code");
    if (!json_is_array(code)) return mlcc_set_error("functions[%d] (%s): missing \"code\"", fi, name);
    int ninstr = (int)json_array_size(code);
    for (int k = 0; k < ninstr; k++) {
        json_t *ji = json_array_get(code, k);
        const char *op = json_string_value(json_object_get(ji, "op"));
        if (!op) return mlcc_set_error("%s: instruction %d: missing \"op\"", name, k);
        if (strcmp(op, "call") == 0) {
            int64_t dst, callee;
            if (int_field(ji, "dst", -1, nr - 1, &dst, name, k) || int_field(ji, "callee", 0, INT32_MAX, &callee, name, k)) return -1;
            json_t *args = json_object_get(ji, "args");
            if (!json_is_array(args)) return mlcc_set_error("%s: instruction %d: missing \"args\"", name, k);
            int nargs = (int)json_array_size(args);
            if (nargs > MLCC_VM_MAX_CALL_ARGS)
                return mlcc_set_error("%s: instruction %d: %d arguments (at most %d)", name, k, nargs, MLCC_VM_MAX_CALL_ARGS);
            mlcc_vm_arg *a = mlcc_xcalloc((size_t)(nargs ? nargs : 1), sizeof *a);
            for (int i = 0; i < nargs; i++) {
                json_t *ja = json_array_get(args, i);
                const char *kind = json_string_value(json_array_get(ja, 0));
                json_t *val = json_array_get(ja, 1);
                int found = -1;
                for (int t = 0; kind && t < NUM_ARG_KINDS; t++)
                    if (strcmp(kind, arg_kind_names[t]) == 0) found = t;
                if (found < 0 || !json_is_integer(val)) {
                    free(a);
                    return mlcc_set_error("%s: instruction %d: argument %d is malformed", name, k, i);
                }
                a[i].kind = (mlcc_vm_arg_kind)found;
                a[i].value = json_integer_value(val);
            }
            mlcc_vm_emit_call(e, f, (int)dst, (int)callee, a, nargs);
            free(a);
        } else if (strcmp(op, "ret") == 0 || strcmp(op, "goto") == 0 || strcmp(op, "if") == 0) {
            int64_t reg, offset;
            if (int_field(ji, "reg", 0, nr > 0 ? nr - 1 : 0, &reg, name, k) || int_field(ji, "offset", -ninstr, ninstr, &offset, name, k)) return -1;
            if (op[0] == 'r') mlcc_vm_emit_ret(e, f, (int)reg);
            else if (op[0] == 'g') mlcc_vm_emit_goto(e, f, (int)offset);
            else mlcc_vm_emit_if(e, f, (int)reg, (int)offset);
        } else {
            return mlcc_set_error("%s: instruction %d: unknown op '%s'", name, k, op);
        }
    }
    return 0;
}

/* Every index in range and every jump inside the function: checked once at load, so the
 * interpreter needs no checks on its hot path. */
int mlcc_vm_exec_validate(const mlcc_vm_exec *e) {
    for (int fi = 0; fi < e->num_funcs; fi++) {
        const mlcc_vm_function *f = &e->funcs[fi];
        for (int k = 0; k < f->num_instrs; k++) {
            const mlcc_vm_instr *in = &f->instrs[k];
            if (in->op == VM_OP_CALL) {
                if (in->callee < 0 || in->callee >= e->num_callees) return mlcc_set_error("%s: instruction %d: callee %d out of range", f->name, k, in->callee);
                for (int i = 0; i < in->nargs; i++) {
                    const mlcc_vm_arg *a = &in->args[i];
                    if ((a->kind == VM_ARG_REG && (a->value < 0 || a->value >= f->num_regs)) ||
                        (a->kind == VM_ARG_CONST && (a->value < 0 || a->value >= e->num_consts)) ||
                        (a->kind == VM_ARG_FUNC && (a->value < 0 || a->value >= e->num_callees)) ||
                        (a->kind == VM_ARG_HEAP_LOAD && (a->value < 0 || a->value >= f->heap_size)))
                        return mlcc_set_error("%s: instruction %d: argument %d out of range", f->name, k, i);
                }
            } else if (in->op == VM_OP_GOTO || in->op == VM_OP_IF) {
                if (k + in->offset < 0 || k + in->offset >= f->num_instrs || in->offset == 0)
                    return mlcc_set_error("%s: instruction %d: jump to %d is outside the function", f->name, k, k + in->offset);
            }
            if ((in->op == VM_OP_RET || in->op == VM_OP_IF) && (in->reg < 0 || in->reg >= f->num_regs))
                return mlcc_set_error("%s: instruction %d: register %d out of range", f->name, k, in->reg);
        }
        if (f->num_instrs == 0 || (f->instrs[f->num_instrs - 1].op != VM_OP_RET && f->instrs[f->num_instrs - 1].op != VM_OP_GOTO))
            return mlcc_set_error("%s: the last instruction must be ret or goto", f->name);
    }
    return 0;
}

mlcc_vm_exec *mlcc_vm_exec_from_json(const char *text, size_t len) {
    json_t *root = mlcc_json_loads(text, len, "vm program");
    if (!root) return NULL;
    mlcc_vm_exec *e = mlcc_vm_exec_new();
    const char *format = json_string_value(json_object_get(root, "format"));
    json_t *funcs = json_object_get(root, "functions"), *callees = json_object_get(root, "callees"),
           *consts = json_object_get(root, "constants");
    int rc = 0;
    if (!format || strcmp(format, "mlcc-vm-1") != 0) rc = mlcc_set_error("vm program: \"format\" must be \"mlcc-vm-1\"");
    else if (!json_is_array(funcs) || !json_is_array(callees) || !json_is_array(consts))
        rc = mlcc_set_error("vm program: needs \"functions\", \"callees\" and \"constants\" arrays");
    for (size_t i = 0; rc == 0 && i < json_array_size(callees); i++) {
        const char *name = json_string_value(json_array_get(callees, i));
        if (!name) rc = mlcc_set_error("vm program: callees[%zu] is not a string", i);
        else {
            e->callees = mlcc_xrealloc(e->callees, sizeof(mlcc_vm_callee) * (size_t)(e->num_callees + 1));
            e->callees[e->num_callees].name = mlcc_xstrdup(name);
            e->callees[e->num_callees].kind = VM_CALLEE_PACKED;
            e->callees[e->num_callees].vm_index = -1;
            e->num_callees++;
        }
    }
    for (size_t i = 0; rc == 0 && i < json_array_size(consts); i++) rc = const_from_json(e, json_array_get(consts, i), (int)i);
    for (size_t i = 0; rc == 0 && i < json_array_size(funcs); i++) rc = function_from_json(e, json_array_get(funcs, i), (int)i);
    json_decref(root);
    if (rc == 0) rc = mlcc_vm_exec_validate(e);
    if (rc != 0) {
        mlcc_prefix_error("loading the VM program");
        mlcc_vm_exec_free(e);
        return NULL;
    }
    mlcc_vm_exec_link(e);
    return e;
}

void mlcc_vm_exec_print(const mlcc_vm_exec *e, mlcc_strbuf *out) {
    for (int fi = 0; fi < e->num_funcs; fi++) {
        const mlcc_vm_function *f = &e->funcs[fi];
        sb_printf(out, "vm.function %s(params=%d, regs=%d, heap=%d):\n", f->name, f->num_params, f->num_regs, f->heap_size);
        for (int k = 0; k < f->num_instrs; k++) {
            const mlcc_vm_instr *in = &f->instrs[k];
            sb_printf(out, "  %3d: ", k);
            switch (in->op) {
            case VM_OP_CALL:
                if (in->dst >= 0) sb_printf(out, "%%%d = ", in->dst);
                sb_printf(out, "call %s(", e->callees[in->callee].name);
                for (int i = 0; i < in->nargs; i++) {
                    const mlcc_vm_arg *a = &in->args[i];
                    if (i) sb_append(out, ", ");
                    switch (a->kind) {
                    case VM_ARG_REG: sb_printf(out, "%%%lld", (long long)a->value); break;
                    case VM_ARG_IMM: sb_printf(out, "%lld", (long long)a->value); break;
                    case VM_ARG_CONST: sb_printf(out, "c[%lld]", (long long)a->value); break;
                    case VM_ARG_FUNC: sb_printf(out, "@%s", e->callees[a->value].name); break;
                    case VM_ARG_HEAP: sb_append(out, "heap"); break;
                    case VM_ARG_VM: sb_append(out, "vm"); break;
                    case VM_ARG_HEAP_LOAD: sb_printf(out, "heap[%lld]", (long long)a->value); break;
                    }
                }
                sb_append(out, ")\n");
                break;
            case VM_OP_RET: sb_printf(out, "ret %%%d\n", in->reg); break;
            case VM_OP_GOTO: sb_printf(out, "goto %d\n", k + in->offset); break;
            case VM_OP_IF: sb_printf(out, "if %%%d else goto %d\n", in->reg, k + in->offset); break;
            }
        }
    }
}
