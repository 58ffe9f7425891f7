/* calls.c - the call nodes that are not computations themselves: call_tir (a PrimFunc of the
 * module in destination-passing style), call_dps_packed (a library function on DLTensors) and
 * call_packed (any packed function). Their struct info is what the caller states in sinfo_args;
 * they are never legalized. */
#include <string.h>

#include "op/op_util.h"
#include "support/error.h"

static rx_sinfo *out_sinfo(const rx_expr *call) {
    if (call->call.nsinfo_args == 1) return call->call.sinfo_args[0];
    return rx_sinfo_tuple(call->call.sinfo_args, call->call.nsinfo_args);
}

static rx_sinfo *infer_dps(const rx_expr *call) {
    const char *name = call->call.callee->op->name;
    int is_tir = strcmp(name, "call_tir") == 0;
    if (call->call.nargs < 2) {
        mlcc_set_error("%s: expects a callee and a tuple of arguments", name);
        return NULL;
    }
    rx_expr *callee = call->call.args[0];
    if (is_tir ? callee->kind != RX_GLOBAL_VAR : callee->kind != RX_STRING_IMM) {
        mlcc_set_error("%s: the callee must be %s", name, is_tir ? "a global PrimFunc" : "a function name");
        return NULL;
    }
    if (call->call.args[1]->kind != RX_TUPLE) {
        mlcc_set_error("%s: the arguments must be a tuple", name);
        return NULL;
    }
    if (call->call.nsinfo_args < 1) {
        mlcc_set_error("%s: no output struct info (out_sinfo)", name);
        return NULL;
    }
    for (int i = 0; i < call->call.nsinfo_args; i++) {
        rx_sinfo *s = call->call.sinfo_args[i];
        int ok = s->kind == SI_TENSOR || s->kind == SI_TUPLE;
        for (int j = 0; s->kind == SI_TUPLE && j < s->nfields; j++) ok &= s->fields[j]->kind == SI_TENSOR;
        if (!ok) {
            mlcc_set_error("%s: outputs must be tensors", name);
            return NULL;
        }
    }
    return out_sinfo(call);
}

static rx_sinfo *infer_packed(const rx_expr *call) {
    if (call->call.nargs < 1 || call->call.args[0]->kind != RX_STRING_IMM) {
        mlcc_set_error("call_packed: the first operand must be the function name");
        return NULL;
    }
    return call->call.nsinfo_args ? out_sinfo(call) : rx_sinfo_object();
}

static const rx_op_def call_ops[] = {
    {"call_tir", infer_dps, NULL},
    {"call_dps_packed", infer_dps, NULL},
    {"call_packed", infer_packed, NULL},
};

void op_register_calls(void) {
    for (size_t i = 0; i < sizeof call_ops / sizeof call_ops[0]; i++) op_register(&call_ops[i]);
}

static rx_expr *dps_call(const char *op, rx_expr *callee, rx_expr **args, int nargs, rx_sinfo *out) {
    for (int i = 0; i < nargs; i++)
        if (!args[i]) return NULL;
    rx_attrs none = {NULL, 0};
    rx_expr *a[2] = {callee, rx_tuple(args, nargs)};
    return rx_call(rx_op_ref(op_get(op)), a, 2, none, &out, 1);
}

rx_expr *op_call_tir(rx_expr *prim_gv, rx_expr **args, int nargs, rx_sinfo *out_sinfo) {
    return dps_call("call_tir", prim_gv, args, nargs, out_sinfo);
}

rx_expr *op_call_dps_packed(const char *func, rx_expr **args, int nargs, rx_sinfo *out_sinfo) {
    return dps_call("call_dps_packed", rx_string_imm(func), args, nargs, out_sinfo);
}

rx_expr *op_call_packed(const char *func, rx_expr **args, int nargs, rx_sinfo *ret_sinfo) {
    rx_expr **a = ir_alloc(sizeof(rx_expr *) * (size_t)(nargs + 2));
    a[0] = rx_string_imm(func);
    for (int i = 0; i < nargs; i++) {
        if (!args[i]) return NULL;
        a[i + 1] = args[i];
    }
    rx_attrs none = {NULL, 0};
    return rx_call(rx_op_ref(op_get("call_packed")), a, nargs + 1, none, ret_sinfo ? &ret_sinfo : NULL, ret_sinfo ? 1 : 0);
}
