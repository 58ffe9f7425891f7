/* ir_api.c - the public compiler API of include/mlcc/mlcc_ir.h over the internal layers. */
#include "mlcc/mlcc_ir.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codegen/build.h"
#include "ir/block_builder.h"
#include "op/op.h"
#include "support/alloc.h"
#include "support/error.h"
#include "support/vec.h"

struct mlcc_ir_builder {
    mlcc_ir_module *mod;
    rx_builder *bb;
    MLCC_VEC(rx_expr *) params;
    int started;
};

void mlcc_ir_scope_begin(void) {
    ir_scope_begin();
}

void mlcc_ir_scope_end(void) {
    ir_scope_end();
}

mlcc_ir_dim mlcc_ir_const(int64_t v) {
    return ir_int(v);
}

mlcc_ir_dim mlcc_ir_size_var(const char *name) {
    return ir_size_var(name);
}

mlcc_ir_builder *mlcc_ir_builder_new(void) {
    mlcc_ir_builder *b = mlcc_xcalloc(1, sizeof *b);
    b->mod = irmod_new();
    b->bb = bb_new(b->mod);
    return b;
}

mlcc_ir_value mlcc_ir_param(mlcc_ir_builder *b, const char *name, const char *dtype, int ndim, const mlcc_ir_dim *shape) {
    mlcc_dtype t;
    if (b->started) {
        mlcc_set_error("mlcc_ir_param: parameters come before the first op");
        return NULL;
    }
    if (dtype_parse(dtype, &t) != 0) return NULL;
    rx_expr *v = rx_var(name, rx_sinfo_tensor((mlcc_expr **)shape, ndim, t));
    vec_push(&b->params, v);
    return v;
}

static void start(mlcc_ir_builder *b) {
    if (b->started) return;
    b->started = 1;
    bb_begin_function(b->bb, "main", b->params.data, (int)b->params.len);
    bb_begin_dataflow(b->bb);
}

mlcc_ir_value mlcc_ir_op(mlcc_ir_builder *b, const char *op, const mlcc_ir_value *args, int nargs, const char *name) {
    start(b);
    rx_attrs none = {NULL, 0};
    rx_expr *call = op_call(op, (rx_expr **)args, nargs, none);
    rx_expr *v = call ? bb_emit(b->bb, call, name) : NULL;
    if (!v && bb_error(b->bb)) mlcc_set_error("%s", bb_error(b->bb));
    return v;
}

mlcc_ir_module *mlcc_ir_builder_finish(mlcc_ir_builder *b, const char *func_name, mlcc_ir_value result, int64_t bound) {
    start(b);
    mlcc_ir_module *mod = NULL;
    if (bound > 0) {
        rx_attrs attrs = {NULL, 0};
        mlcc_expr **vars = NULL;
        int n = 0, cap = 0;
        for (size_t i = 0; i < b->params.len; i++) rx_sinfo_collect_vars(b->params.data[i]->sinfo, &vars, &n, &cap);
        for (int i = 0; i < n; i++) {
            char key[256];
            snprintf(key, sizeof key, "var_upper_bound:%s", vars[i]->var.name);
            attrs = rx_attrs_set_int(attrs, key, bound);
        }
        bb_set_function_attrs(b->bb, attrs);
    }
    rx_expr *out = result ? bb_emit_output(b->bb, result, "gv") : NULL;
    bb_end_dataflow(b->bb);
    rx_expr *fn = out ? bb_end_function(b->bb, out) : NULL;
    if (fn && strcmp(func_name, "main") != 0) {
        irmod_remove(b->mod, "main");
        irmod_add_graph(b->mod, func_name, fn);
    }
    if (fn) mod = b->mod;
    else mlcc_set_error("%s", bb_error(b->bb) ? bb_error(b->bb) : "mlcc_ir_builder_finish: no result");
    bb_free(b->bb);
    vec_free(&b->params);
    free(b);
    return mod;
}

char *mlcc_ir_module_print(const mlcc_ir_module *m) {
    return irmod_to_string(m);
}

char *mlcc_ir_module_print_after(const mlcc_ir_module *m, const char *pass) {
    mlcc_strbuf printed = STRBUF_INIT;
    mlcc_build_options opt = {NULL, pass, &printed};
    char *src = mlcc_build_source(m, &opt);
    if (!src) {
        sb_free(&printed);
        return NULL;
    }
    free(src);
    if (printed.len == 0) {
        sb_free(&printed);
        mlcc_set_error("no pass named '%s' ran", pass);
        return NULL;
    }
    return sb_detach(&printed);
}

int mlcc_ir_build_library(const mlcc_ir_module *m, const char *path) {
    return mlcc_build(m, NULL, path);
}
