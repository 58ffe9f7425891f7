/* graph_interp.c - see graph_interp.h. */
#include "graph_interp.h"

#include "support/error.h"
#include "support/hashmap.h"
#include "tensor_util.h"
#include "test.h"

static int64_t eval_dim(graph_interp *gi, const mlcc_expr *e) {
    switch (e->kind) {
    case EXPR_INT: return e->int_value;
    case EXPR_VAR:
        for (int i = 0; i < gi->nsize; i++)
            if (gi->size_vars[i] == e) return gi->size_values[i];
        return -1;
    case EXPR_ADD: return eval_dim(gi, e->bin.a) + eval_dim(gi, e->bin.b);
    case EXPR_SUB: return eval_dim(gi, e->bin.a) - eval_dim(gi, e->bin.b);
    case EXPR_MUL: return eval_dim(gi, e->bin.a) * eval_dim(gi, e->bin.b);
    case EXPR_FLOORDIV: return eval_dim(gi, e->bin.a) / eval_dim(gi, e->bin.b);
    default: return -1;
    }
}

host_tensor *interp_tensor(graph_interp *gi, const rx_sinfo *s) {
    host_tensor *t = calloc(1, sizeof *t);
    t->ndim = s->ndim;
    t->numel = 1;
    for (int d = 0; d < s->ndim && d < 8; d++) t->shape[d] = eval_dim(gi, s->shape[d]), t->numel *= t->shape[d];
    t->data = calloc((size_t)t->numel + 1, sizeof(float));
    gi->owned = realloc(gi->owned, sizeof(host_tensor *) * (size_t)(gi->nowned + 1));
    gi->owned[gi->nowned++] = t;
    return t;
}

/* The tensor a var or constant argument stands for (constants are copied into owned tensors). */
static host_tensor *lookup(graph_interp *gi, mlcc_u64map *env, const rx_expr *e) {
    host_tensor *t = u64map_get_p(env, e);
    if (!t && e->kind == RX_CONSTANT && dtype_eq(e->constant.dtype, DT_F32)) {
        t = interp_tensor(gi, e->sinfo);
        memcpy(t->data, e->constant.data, e->constant.nbytes);
        u64map_set_p(env, e, t);
    }
    CHECK_MSG(t != NULL, "interpreter: no value for '%s'", rx_is_var(e) ? e->var.name : "?");
    return t;
}

int interp_run_all(graph_interp *gi, const mlcc_ir_module *m, mlcc_jit_module *jm, const char *name,
                   host_tensor **inputs, host_tensor **results, int max) {
    rx_expr *fn = irmod_get_graph(m, name);
    CHECK_MSG(fn != NULL, "interpreter: no graph function '%s'", name);
    if (!fn) return 0;
    mlcc_u64map env;
    u64map_init(&env);
    for (int i = 0; i < fn->func.nparams; i++) u64map_set_p(&env, fn->func.params[i], inputs[i]);
    rx_expr *seq = fn->func.body;
    int ok = 1;
    for (int b = 0; ok && b < seq->seq.nblocks; b++)
        for (int j = 0; ok && j < seq->seq.blocks[b].n; j++) {
            rx_binding *bd = &seq->seq.blocks[b].bindings[j];
            rx_expr *v = bd->value;
            if (rx_is_var(v)) {
                u64map_set_p(&env, bd->var, lookup(gi, &env, v));
                continue;
            }
            if (!rx_is_op_call(v, "call_tir")) {
                CHECK_MSG(0, "interpreter: binding '%s' is not call_tir", bd->var->var.name);
                ok = 0;
                break;
            }
            rx_expr *tuple = v->call.args[1];
            host_tensor *out = interp_tensor(gi, v->call.sinfo_args[0]);
            DLTensor ts[16];
            DLTensor *args[16];
            int k = 0;
            for (; k < tuple->tuple.n && k < 15; k++) {
                host_tensor *t = lookup(gi, &env, tuple->tuple.fields[k]);
                if (!t) {
                    u64map_free(&env);
                    return 0;
                }
                ts[k] = test_tensor(t->data, kDLFloat, 32, t->ndim, t->shape);
                args[k] = &ts[k];
            }
            ts[k] = test_tensor(out->data, kDLFloat, 32, out->ndim, out->shape);
            args[k] = &ts[k];
            MLCCPackedCFunc kernel = mlcc_jit_get_function(jm, v->call.args[0]->var.name);
            CHECK_MSG(kernel != NULL, "%s", mlcc_last_error());
            if (!kernel) {
                ok = 0;
                break;
            }
            int rc = test_call_tensors(kernel, args, k + 1);
            CHECK_MSG(rc == 0, "kernel %s: %s", v->call.args[0]->var.name, mlcc_last_error());
            u64map_set_p(&env, bd->var, out);
        }
    rx_expr *body = seq->seq.body;
    int n = 0;
    if (ok && body->kind == RX_TUPLE) {
        for (int i = 0; i < body->tuple.n && n < max; i++)
            if ((results[n] = lookup(gi, &env, body->tuple.fields[i])) != NULL) n++;
    } else if (ok && max > 0 && (results[0] = lookup(gi, &env, body)) != NULL) {
        n = 1;
    }
    u64map_free(&env);
    return n;
}

host_tensor *interp_run(graph_interp *gi, const mlcc_ir_module *m, mlcc_jit_module *jm, const char *name,
                        host_tensor **inputs) {
    host_tensor *r[16];
    return interp_run_all(gi, m, jm, name, inputs, r, 16) ? r[0] : NULL;
}

void interp_free(graph_interp *gi) {
    for (int i = 0; i < gi->nowned; i++) free(gi->owned[i]->data), free(gi->owned[i]);
    free(gi->owned);
    gi->owned = NULL;
    gi->nowned = 0;
}
