/* test_graph_print.c - golden printed IR of a small module (an MLP block: gate/up matmuls,
 * silu * up, down matmul, residual add, rms_norm; plus a dead binding and a var alias) before
 * and after legalize, canonicalize_bindings, dead_code_elimination and annotate_op_pattern,
 * run through the pass manager with print_after; and the op-pattern kinds of legalized ops. */
#include "ir/block_builder.h"
#include "op/op.h"
#include "support/error.h"
#include "golden.h"
#include "test.h"
#include "transform/pass.h"

static mlcc_ir_module *build_mlp(void) {
    mlcc_expr *n = ir_size_var("n");
    mlcc_expr *h = ir_int(64), *f = ir_int(128);
    rx_expr *x = rx_var("x", rx_sinfo_tensor_v(DT_F32, n, h, NULL));
    rx_expr *wg = rx_var("w_gate", rx_sinfo_tensor_v(DT_F32, f, h, NULL));
    rx_expr *wu = rx_var("w_up", rx_sinfo_tensor_v(DT_F32, f, h, NULL));
    rx_expr *wd = rx_var("w_down", rx_sinfo_tensor_v(DT_F32, h, f, NULL));
    rx_expr *nw = rx_var("norm_w", rx_sinfo_tensor_v(DT_F32, h, NULL));
    mlcc_ir_module *mod = irmod_new();
    rx_builder *bb = bb_new(mod);
    bb_begin_function(bb, "main", (rx_expr *[]){x, wg, wu, wd, nw}, 5);
    bb_begin_dataflow(bb);
    rx_expr *gate = bb_emit(bb, op_unary("nn.silu", op_linear(x, wg)), "lv");
    rx_expr *up = bb_emit(bb, op_linear(x, wu), "lv");
    rx_expr *act = bb_emit(bb, op_multiply(gate, up), "lv");
    rx_expr *alias = bb_emit(bb, act, "alias");
    bb_emit(bb, op_unary("exp", x), "unused");
    rx_expr *down = bb_emit(bb, op_matmul(alias, op_permute_dims(wd, NULL, 0)), "lv");
    rx_expr *res = bb_emit(bb, op_add(down, x), "lv");
    rx_expr *norm = bb_emit(bb, op_rms_norm(res, nw, 1e-5), "lv");
    rx_expr *gv = bb_emit_output(bb, norm, "gv");
    bb_end_dataflow(bb);
    rx_expr *fn = bb_end_function(bb, gv);
    CHECK_MSG(fn != NULL, "%s", mlcc_last_error());
    bb_free(bb);
    return mod;
}

static void test_mlp_golden(void) {
    mlcc_ir_module *mod = build_mlp();
    mlcc_strbuf all = STRBUF_INIT;
    sb_append(&all, "# IR built\n");
    irmod_print(mod, &all);

    mlcc_pass_manager pm;
    pm_init(&pm);
    CHECK_EQ_INT(pm_add_named(&pm, "legalize"), 0);
    CHECK_EQ_INT(pm_add_named(&pm, "canonicalize_bindings"), 0);
    CHECK_EQ_INT(pm_add_named(&pm, "dead_code_elimination"), 0);
    CHECK_EQ_INT(pm_add_named(&pm, "annotate_op_pattern"), 0);
    CHECK(pm_add_named(&pm, "fuse_everything") != 0);
    CHECK(strstr(mlcc_last_error(), "unknown pass 'fuse_everything'") != NULL);
    pm_print_after(&pm, "*");
    pm_set_print_sink(&pm, &all);
    mlcc_ir_module *out = pm_run(&pm, mod);
    CHECK_MSG(out != NULL, "%s", mlcc_last_error());
    CHECK_GOLDEN("graph_mlp.txt", sb_cstr(&all));
    CHECK_EQ_INT(pm.ntimings, 4);
    if (out) {
        /* DCE removed the unused exp and its PrimFunc; the input module is unchanged */
        CHECK(irmod_get_prim(out, "exp") == NULL);
        CHECK(irmod_lookup(mod, "main") != NULL && irmod_lookup(mod, "exp") == NULL);
        CHECK_EQ_INT(out->n, 8); /* main + matmul (shared by gate and up), silu, multiply, permute_dims,
                                    matmul1, add, rms_norm */
    }
    sb_free(&all);

    /* print_after by name prints that pass only */
    pm_free(&pm);
    pm_init(&pm);
    pm_add_named(&pm, "legalize");
    pm_add_named(&pm, "dead_code_elimination");
    mlcc_strbuf one = STRBUF_INIT;
    pm_print_after(&pm, "dead_code_elimination");
    pm_set_print_sink(&pm, &one);
    CHECK(pm_run(&pm, mod) != NULL);
    CHECK(strstr(sb_cstr(&one), "# IR after dead_code_elimination") != NULL);
    CHECK(strstr(sb_cstr(&one), "# IR after legalize") == NULL);
    sb_free(&one);
    pm_free(&pm);
}

/* The op_pattern kind annotate_op_pattern gives the PrimFunc that legalizes `value`. */
static int pattern_of(rx_expr **params, int nparams, rx_expr *value) {
    mlcc_ir_module *mod = irmod_new();
    rx_builder *bb = bb_new(mod);
    bb_begin_function(bb, "main", params, nparams);
    rx_expr *v = bb_emit(bb, value, "gv");
    rx_expr *fn = bb_end_function(bb, v);
    bb_free(bb);
    if (!fn) return -1;
    mlcc_ir_module *m = pass_annotate_op_pattern(pass_legalize(mod, NULL), NULL);
    for (int i = 0; m && i < m->n; i++)
        if (m->entries[i].kind == IRMOD_PRIM) {
            mlcc_expr *a = prim_func_get_attr(m->entries[i].prim, "op_pattern");
            return a && a->kind == EXPR_INT ? (int)a->int_value : -1;
        }
    return -1;
}

static void test_op_patterns(void) {
    mlcc_expr *n = ir_size_var("n");
    rx_expr *x = rx_var("x", rx_sinfo_tensor_v(DT_F32, n, ir_int(64), NULL));
    rx_expr *y = rx_var("y", rx_sinfo_tensor_v(DT_F32, n, ir_int(64), NULL));
    rx_expr *b = rx_var("b", rx_sinfo_tensor_v(DT_F32, ir_int(64), NULL));
    rx_expr *c = rx_var("c", rx_sinfo_tensor_v(DT_F32, n, ir_int(1), NULL));
    rx_expr *w = rx_var("w", rx_sinfo_tensor_v(DT_F32, ir_int(32), ir_int(64), NULL));
    rx_expr *ids = rx_var("ids", rx_sinfo_tensor_v(DT_I32, n, NULL));
    rx_expr *p[] = {x, y, b, c, w, ids};
    CHECK_EQ_INT(pattern_of(p, 6, op_add(x, y)), OP_PATTERN_ELEMWISE);
    CHECK_EQ_INT(pattern_of(p, 6, op_unary("nn.gelu", x)), OP_PATTERN_ELEMWISE);
    CHECK_EQ_INT(pattern_of(p, 6, op_add(x, b)), OP_PATTERN_ELEMWISE); /* one load elementwise wins */
    CHECK_EQ_INT(pattern_of(p, 6, op_add(c, b)), OP_PATTERN_BROADCAST);
    CHECK_EQ_INT(pattern_of(p, 6, op_permute_dims(x, NULL, 0)), OP_PATTERN_INJECTIVE);
    CHECK_EQ_INT(pattern_of(p, 6, op_reshape(x, (mlcc_expr *[]){ir_int(-1), ir_int(8), ir_int(8)}, 3)),
                 OP_PATTERN_INJECTIVE);
    CHECK_EQ_INT(pattern_of(p, 6, op_reduce("sum", x, (int64_t[]){1}, 1, 0)), OP_PATTERN_COMM_REDUCE);
    CHECK_EQ_INT(pattern_of(p, 6, op_linear(x, w)), OP_PATTERN_OUT_EWISE_FUSABLE);
    CHECK_EQ_INT(pattern_of(p, 6, op_softmax(x, -1)), OP_PATTERN_OUT_EWISE_FUSABLE);
    CHECK_EQ_INT(pattern_of(p, 6, op_rms_norm(x, b, 1e-6)), OP_PATTERN_OUT_EWISE_FUSABLE);
    CHECK_EQ_INT(pattern_of(p, 6, op_take(w, ids, 0)), OP_PATTERN_INJECTIVE); /* gathered row: store vars only */
}

int main(void) {
    ir_scope_begin();
    test_mlp_golden();
    test_op_patterns();
    ir_scope_end();
    return test_finish();
}
