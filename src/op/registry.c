/* registry.c - the op registry: every op file registers its rx_op_defs once, on first use. */
#include <pthread.h>
#include <string.h>

#include "op/op_util.h"
#include "support/error.h"
#include "support/hashmap.h"

enum { MAX_OPS = 128 };

static const rx_op_def *ops[MAX_OPS];
static int nops;
static pthread_once_t once = PTHREAD_ONCE_INIT;

void op_register(const rx_op_def *op) {
    if (nops < MAX_OPS) ops[nops++] = op;
}

static void init_registry(void) {
    op_register_elementwise();
    op_register_linear();
    op_register_manip();
    op_register_nn();
    op_register_reduce();
    op_register_create();
    op_register_calls();
    op_register_rope();
    op_register_attention();
    op_register_quantize();
}

const rx_op_def *op_get(const char *name) {
    pthread_once(&once, init_registry);
    for (int i = 0; i < nops; i++)
        if (strcmp(ops[i]->name, name) == 0) return ops[i];
    return NULL;
}

const rx_op_def *const *op_list(int *n) {
    pthread_once(&once, init_registry);
    *n = nops;
    return ops;
}

/* An op that cannot be found still makes a call, whose deduction reports the unknown name. */
static rx_sinfo *infer_unknown(const rx_expr *call) {
    mlcc_set_error("unknown op '%s'", call->call.callee->op->name);
    return NULL;
}

rx_expr *op_call(const char *name, rx_expr **args, int nargs, rx_attrs attrs) {
    for (int i = 0; i < nargs; i++)
        if (!args[i]) return NULL;
    const rx_op_def *op = op_get(name);
    if (!op) {
        rx_op_def *unknown = ir_alloc(sizeof *unknown);
        memset(unknown, 0, sizeof *unknown);
        unknown->name = mlcc_intern(name);
        unknown->infer = infer_unknown;
        op = unknown;
    }
    return rx_call(rx_op_ref(op), args, nargs, attrs, NULL, 0);
}
