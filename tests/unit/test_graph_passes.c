/* test_graph_passes.c - the graph passes on targeted modules: canonicalize_bindings folds
 * alias chains (also outside dataflow blocks and inside If branches), dead-code elimination
 * keeps side effects and public functions and drops unreachable ones, legalize rewrites If
 * branches and shares structurally equal PrimFuncs; plus the IR pieces these rely on: calls
 * between graph functions, tuples from split, constants, packed calls, module attributes. */
#include "ir/block_builder.h"
#include "op/op.h"
#include "support/error.h"
#include "test.h"
#include "transform/pass.h"

static mlcc_expr *N;

static rx_sinfo *tensor_n64(void) {
    return rx_sinfo_tensor_v(DT_F32, N, ir_int(64), NULL);
}

static char *function_text(const mlcc_ir_module *m, const char *name) {
    mlcc_strbuf sb = STRBUF_INIT;
    rx_expr *f = irmod_get_graph(m, name);
    if (f) rx_print_function(name, f, &sb);
    return sb_detach(&sb);
}

#define CHECK_FUNCTION(mod, name, want)                                                            \
    do {                                                                                           \
        char *got_ = function_text(mod, name);                                                     \
        CHECK_EQ_STR(got_, want);                                                                  \
        free(got_);                                                                                \
    } while (0)

static void test_canonicalize(void) {
    rx_expr *x = rx_var("x", tensor_n64());
    mlcc_ir_module *mod = irmod_new();
    rx_builder *bb = bb_new(mod);
    bb_begin_function(bb, "main", &x, 1);
    rx_expr *p0 = bb_emit(bb, x, "p0"); /* outside dataflow: plain vars */
    bb_begin_dataflow(bb);
    rx_expr *a = bb_emit(bb, p0, "a");
    rx_expr *b = bb_emit(bb, a, "b");
    rx_expr *c = bb_emit(bb, op_unary("exp", b), "c");
    rx_expr *d = bb_emit(bb, op_add(c, b), "d");
    rx_expr *gv = bb_emit_output(bb, d, "gv");
    rx_expr *gv2 = bb_emit_output(bb, c, "gv2");
    bb_end_dataflow(bb);
    rx_expr *t = bb_emit(bb, rx_tuple((rx_expr *[]){gv, gv2}, 2), "t");
    CHECK(bb_end_function(bb, t) != NULL);
    bb_free(bb);
    mlcc_ir_module *out = pass_canonicalize_bindings(mod, NULL);
    CHECK_MSG(out != NULL, "%s", mlcc_last_error());
    CHECK_FUNCTION(out, "main",
                   "@R.function\n"
                   "def main(x: R.Tensor((n, 64), dtype=\"float32\")) -> R.Tuple(R.Tensor((n, 64), dtype=\"float32\"), "
                   "R.Tensor((n, 64), dtype=\"float32\")):\n"
                   "    n = T.int64()\n"
                   "    with R.dataflow():\n"
                   "        gv2: R.Tensor((n, 64), dtype=\"float32\") = R.exp(x)\n"
                   "        gv: R.Tensor((n, 64), dtype=\"float32\") = R.add(gv2, x)\n"
                   "        R.output(gv2, gv)\n"
                   "    t: R.Tuple(R.Tensor((n, 64), dtype=\"float32\"), R.Tensor((n, 64), dtype=\"float32\")) = (gv, gv2)\n"
                   "    return t\n");
    /* the input module is untouched */
    CHECK_EQ_INT(irmod_get_graph(mod, "main")->func.body->seq.blocks[1].n, 6);
}

static void test_dce(void) {
    rx_expr *x = rx_var("x", tensor_n64());
    mlcc_ir_module *mod = irmod_new();
    rx_builder *bb = bb_new(mod);
    /* a private helper, called from main */
    rx_expr *hx = rx_var("hx", tensor_n64());
    bb_begin_function(bb, "helper", &hx, 1);
    bb_set_function_private(bb);
    rx_expr *hv = bb_emit(bb, op_unary("tanh", hx), "hv");
    rx_expr *helper = bb_end_function(bb, hv);
    CHECK(helper != NULL);
    /* a private function nobody calls */
    rx_expr *ox = rx_var("ox", tensor_n64());
    bb_begin_function(bb, "orphan", &ox, 1);
    bb_set_function_private(bb);
    rx_expr *ov = bb_emit(bb, op_unary("exp", ox), "ov");
    CHECK(bb_end_function(bb, ov) != NULL);
    bb_begin_function(bb, "main", &x, 1);
    rx_expr *h = bb_emit(bb, rx_call(helper, &x, 1, (rx_attrs){NULL, 0}, NULL, 0), "h");
    CHECK(h != NULL);
    if (h) {
        char *s = rx_sinfo_to_string(h->sinfo);
        CHECK_EQ_STR(s, "R.Tensor((n, 64), dtype=\"float32\")");
        free(s);
    }
    /* an unused packed call outside dataflow is kept (it may have effects) */
    bb_emit(bb, op_call_packed("vm.builtin.print", &x, 1, NULL), "printed");
    bb_begin_dataflow(bb);
    rx_expr *d1 = bb_emit(bb, op_unary("exp", x), "dead1");
    bb_emit(bb, op_unary("exp", d1), "dead2"); /* dead2 uses dead1: both go, in two rounds */
    rx_expr *live = bb_emit(bb, op_add(h, x), "live");
    rx_expr *gv = bb_emit_output(bb, live, "gv");
    bb_end_dataflow(bb);
    CHECK(bb_end_function(bb, gv) != NULL);
    bb_free(bb);
    mlcc_ir_module *legal = pass_legalize(mod, NULL);
    CHECK_MSG(legal != NULL, "%s", mlcc_last_error());
    mlcc_ir_module *out = pass_dead_code_elimination(legal, NULL);
    CHECK_MSG(out != NULL, "%s", mlcc_last_error());
    if (!out) return;
    CHECK(irmod_lookup(out, "orphan") == NULL);
    CHECK(irmod_lookup(out, "helper") != NULL);
    CHECK(irmod_get_prim(out, "tanh") != NULL);
    CHECK(irmod_get_prim(out, "add") != NULL);
    CHECK(irmod_get_prim(out, "exp") == NULL); /* only the dead bindings and orphan used it */
    CHECK_FUNCTION(out, "main",
                   "@R.function\n"
                   "def main(x: R.Tensor((n, 64), dtype=\"float32\")) -> R.Tensor((n, 64), dtype=\"float32\"):\n"
                   "    n = T.int64()\n"
                   "    h: R.Tensor((n, 64), dtype=\"float32\") = cls.helper(x)\n"
                   "    printed: R.Object = R.call_packed(R.str(\"vm.builtin.print\"), x)\n"
                   "    with R.dataflow():\n"
                   "        live: R.Tensor((n, 64), dtype=\"float32\") = R.call_tir(cls.add, (h, x), "
                   "out_sinfo=R.Tensor((n, 64), dtype=\"float32\"))\n"
                   "        gv: R.Tensor((n, 64), dtype=\"float32\") = live\n"
                   "        R.output(gv)\n"
                   "    return gv\n");
}

/* An If whose branches are built as nested blocks: legalize and canonicalize reach inside. */
static void test_if(void) {
    rx_expr *x = rx_var("x", tensor_n64());
    rx_expr *flag = rx_var("flag", rx_sinfo_prim(DT_BOOL));
    mlcc_ir_module *mod = irmod_new();
    rx_builder *bb = bb_new(mod);
    bb_begin_function(bb, "main", (rx_expr *[]){x, flag}, 2);
    bb_begin_block(bb, 0);
    rx_expr *t0 = bb_emit(bb, op_unary("exp", x), "t0");
    rx_expr *t1 = bb_emit(bb, t0, "t1");
    rx_block then_blk = bb_end_block(bb);
    bb_begin_block(bb, 0);
    rx_expr *e0 = bb_emit(bb, op_unary("negative", x), "e0");
    rx_block else_blk = bb_end_block(bb);
    rx_expr *r = bb_emit(bb, rx_if(flag, rx_seq(&then_blk, 1, t1), rx_seq(&else_blk, 1, e0)), "r");
    CHECK_MSG(r != NULL, "%s", mlcc_last_error());
    rx_expr *fn = bb_end_function(bb, r);
    CHECK_MSG(fn != NULL, "%s", mlcc_last_error());
    bb_free(bb);
    if (!fn) return;
    mlcc_ir_module *out = pass_canonicalize_bindings(pass_legalize(mod, NULL), NULL);
    CHECK_MSG(out != NULL, "%s", mlcc_last_error());
    CHECK_FUNCTION(out, "main",
                   "@R.function\n"
                   "def main(x: R.Tensor((n, 64), dtype=\"float32\"), flag: R.Prim(\"bool\")) -> R.Tensor((n, 64), "
                   "dtype=\"float32\"):\n"
                   "    n = T.int64()\n"
                   "    if flag:\n"
                   "        t0: R.Tensor((n, 64), dtype=\"float32\") = R.call_tir(cls.exp, (x,), out_sinfo=R.Tensor((n, "
                   "64), dtype=\"float32\"))\n"
                   "        r: R.Tensor((n, 64), dtype=\"float32\") = t0\n"
                   "    else:\n"
                   "        e0: R.Tensor((n, 64), dtype=\"float32\") = R.call_tir(cls.negative, (x,), "
                   "out_sinfo=R.Tensor((n, 64), dtype=\"float32\"))\n"
                   "        r: R.Tensor((n, 64), dtype=\"float32\") = e0\n"
                   "    return r\n");
    /* a non-boolean condition is an error */
    bb = bb_new(irmod_new());
    bb_begin_function(bb, "bad", &x, 1);
    mlcc_clear_error();
    CHECK(bb_emit(bb, rx_if(x, rx_seq(NULL, 0, x), rx_seq(NULL, 0, x)), "r") == NULL);
    CHECK(strstr(mlcc_last_error(), "condition must be a boolean scalar") != NULL);
    bb_free(bb);
}

static void test_tuples_constants_packed(void) {
    rx_expr *x = rx_var("x", rx_sinfo_tensor_v(DT_F32, N, ir_int(12), NULL));
    mlcc_ir_module *mod = irmod_new();
    mod->attrs = rx_attrs_set_int(mod->attrs, "max_n", 4096);
    rx_builder *bb = bb_new(mod);
    bb_begin_function(bb, "main", &x, 1);
    bb_begin_dataflow(bb);
    rx_expr *parts = bb_emit(bb, op_split(x, 3, 1), "parts");
    rx_expr *p1 = bb_emit(bb, rx_tuple_get_item(parts, 1), "p1");
    float half = 0.5f;
    rx_expr *k = rx_constant(DT_F32, NULL, 0, &half);
    rx_expr *scaled = bb_emit(bb, op_multiply(p1, k), "scaled");
    rx_expr *lib = bb_emit(bb, op_call_dps_packed("mlcc.kernels.scale", &scaled, 1,
                                                  rx_sinfo_tensor_v(DT_F32, N, ir_int(4), NULL)), "lib");
    mlcc_clear_error();
    CHECK(bb_emit(bb, rx_tuple_get_item(parts, 3), "oops") == NULL);
    CHECK(strstr(mlcc_last_error(), "index 3 out of range") != NULL);
    bb_free(bb);
    (void)lib;

    bb = bb_new(mod);
    bb_begin_function(bb, "main", &x, 1);
    bb_begin_dataflow(bb);
    parts = bb_emit(bb, op_split(x, 3, 1), "parts");
    p1 = bb_emit(bb, rx_tuple_get_item(parts, 1), "p1");
    scaled = bb_emit(bb, op_multiply(p1, k), "scaled");
    lib = bb_emit(bb, op_call_dps_packed("mlcc.kernels.scale", &scaled, 1,
                                         rx_sinfo_tensor_v(DT_F32, N, ir_int(4), NULL)), "lib");
    rx_expr *gv = bb_emit_output(bb, lib, "gv");
    bb_end_dataflow(bb);
    CHECK(bb_end_function(bb, gv) != NULL);
    bb_free(bb);
    mlcc_ir_module *out = pass_legalize(mod, NULL);
    CHECK_MSG(out != NULL, "%s", mlcc_last_error());
    if (!out) return;
    char *text = irmod_to_string(out);
    CHECK(strstr(text, "I.module_attrs({\"max_n\": 4096})") != NULL);
    CHECK(strstr(text, "parts: R.Tuple(R.Tensor((n, 4), dtype=\"float32\"), R.Tensor((n, 4), dtype=\"float32\"), "
                       "R.Tensor((n, 4), dtype=\"float32\")) = R.call_tir(cls.split, (x,), out_sinfo=R.Tuple(") != NULL);
    CHECK(strstr(text, "p1: R.Tensor((n, 4), dtype=\"float32\") = parts[1]") != NULL);
    CHECK(strstr(text, "R.call_tir(cls.multiply, (p1, R.const(0.5, \"float32\"))") != NULL);
    CHECK(strstr(text, "lib: R.Tensor((n, 4), dtype=\"float32\") = R.call_dps_packed(R.str(\"mlcc.kernels.scale\"), "
                       "(scaled,), out_sinfo=R.Tensor((n, 4), dtype=\"float32\"))") != NULL);
    CHECK(strstr(text, "def split(x: T.Buffer((n, 12), \"float32\"), T_split_0: T.Buffer((n, 4), \"float32\"), "
                       "T_split_1: T.Buffer((n, 4), \"float32\"), T_split_2: T.Buffer((n, 4), \"float32\"))") != NULL);
    if (!strstr(text, "parts[1]")) printf("%s", text);
    free(text);

    /* concat of a tuple-valued var: legalize binds the fields first */
    mlcc_ir_module *mod2 = irmod_new();
    bb = bb_new(mod2);
    bb_begin_function(bb, "main", &x, 1);
    bb_begin_dataflow(bb);
    parts = bb_emit(bb, op_split(x, 2, 1), "parts");
    rx_expr *joined = bb_emit(bb, op_call("concat", &parts, 1, rx_attrs_set_int((rx_attrs){NULL, 0}, "axis", 1)), "joined");
    CHECK_MSG(joined != NULL, "%s", mlcc_last_error());
    gv = bb_emit_output(bb, joined, "gv");
    bb_end_dataflow(bb);
    CHECK(bb_end_function(bb, gv) != NULL);
    bb_free(bb);
    out = pass_legalize(mod2, NULL);
    CHECK_MSG(out != NULL, "%s", mlcc_last_error());
    if (!out) return;
    char *main_text = function_text(out, "main");
    CHECK_MSG(strstr(main_text, "lv: R.Tensor((n, 6), dtype=\"float32\") = parts[0]") &&
                  strstr(main_text, "lv1: R.Tensor((n, 6), dtype=\"float32\") = parts[1]") &&
                  strstr(main_text, "R.call_tir(cls.concat, (lv, lv1), out_sinfo=R.Tensor((n, 12), dtype=\"float32\"))"),
              "%s", main_text);
    free(main_text);
}

/* Two graph functions legalizing the same computation share one PrimFunc; a call with a wrong
 * argument is rejected. */
static void test_dedupe_and_calls(void) {
    mlcc_ir_module *mod = irmod_new();
    rx_builder *bb = bb_new(mod);
    for (int f = 0; f < 2; f++) {
        rx_expr *x = rx_var("x", tensor_n64());
        bb_begin_function(bb, f ? "g" : "f", &x, 1);
        rx_expr *v = bb_emit(bb, op_unary("sigmoid", x), "v");
        CHECK(bb_end_function(bb, v) != NULL);
    }
    rx_expr *y = rx_var("y", rx_sinfo_tensor_v(DT_F32, N, ir_int(32), NULL));
    bb_begin_function(bb, "caller", &y, 1);
    mlcc_clear_error();
    CHECK(bb_emit(bb, rx_call(rx_global_var("f"), &y, 1, (rx_attrs){NULL, 0}, NULL, 0), "r") == NULL);
    CHECK_MSG(strstr(mlcc_last_error(), "argument 0 is R.Tensor((n, 32), dtype=\"float32\"), the function expects "
                                        "R.Tensor((n, 64), dtype=\"float32\")") != NULL,
              "%s", mlcc_last_error());
    bb_free(bb);
    mlcc_ir_module *out = pass_legalize(mod, NULL);
    CHECK(out != NULL);
    int nprim = 0;
    for (int i = 0; out && i < out->n; i++) nprim += out->entries[i].kind == IRMOD_PRIM;
    CHECK_EQ_INT(nprim, 1);
    CHECK(irmod_add_prim(out, "sigmoid", out->entries[out->n - 1].prim) != 0);
    CHECK(strstr(mlcc_last_error(), "'sigmoid' already defined") != NULL);
}

int main(void) {
    ir_scope_begin();
    N = ir_size_var("n");
    test_canonicalize();
    test_dce();
    test_if();
    test_tuples_constants_packed();
    test_dedupe_and_calls();
    ir_scope_end();
    return test_finish();
}
