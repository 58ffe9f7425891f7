/* test_graph_fusion.c - fuse_ops groups call_tir bindings by TVM's rules and fuse_tir merges
 * each group into one PrimFunc.
 *   - partition: which bindings end up in which fused function, for chains of elementwise,
 *     broadcast, injective, reduction and matmul kernels (golden printed main functions);
 *   - numerics: an MLP block (gate/up/down linear layers, silu, residual add, rms_norm) run
 *     through a small graph interpreter written here, before and after fusion, at two
 *     symbolic sizes, against float64 loops. */
#include <math.h>

#include "codegen/jit.h"
#include "ir/block_builder.h"
#include "ir/printer.h"
#include "op/op.h"
#include "support/error.h"
#include "support/hashmap.h"
#include "tensor_util.h"
#include "golden.h"
#include "graph_interp.h"
#include "test.h"
#include "transform/pass.h"

static mlcc_expr *N;

static mlcc_jit_module *compile_module(const mlcc_ir_module *m);

static mlcc_ir_module *run_passes(const mlcc_ir_module *m, const char **names, int n) {
    mlcc_pass_manager pm;
    pm_init(&pm);
    for (int i = 0; i < n; i++) CHECK_EQ_INT(pm_add_named(&pm, names[i]), 0);
    mlcc_ir_module *out = pm_run(&pm, m);
    CHECK_MSG(out != NULL, "%s", mlcc_last_error());
    pm_free(&pm);
    return out;
}

static const char *fuse_pipeline[] = {"legalize", "annotate_op_pattern", "fuse_ops", "canonicalize_bindings"};

/* The call lines of main after fusion, one "<callee>(<args>)" per binding. */
static char *call_summary(const mlcc_ir_module *m) {
    mlcc_strbuf sb = STRBUF_INIT;
    rx_expr *fn = irmod_get_graph(m, "main");
    if (!fn) return sb_detach(&sb);
    rx_expr *seq = fn->func.body;
    for (int b = 0; b < seq->seq.nblocks; b++)
        for (int j = 0; j < seq->seq.blocks[b].n; j++) {
            rx_expr *v = seq->seq.blocks[b].bindings[j].value;
            if (rx_is_op_call(v, "call_tir")) sb_printf(&sb, "%s;", v->call.args[0]->var.name);
            else if (v->kind == RX_CALL && v->call.callee->kind == RX_GLOBAL_VAR) sb_printf(&sb, "%s;", v->call.callee->var.name);
            else sb_append(&sb, "other;");
        }
    return sb_detach(&sb);
}

typedef rx_expr *(*body_fn)(rx_builder *bb, rx_expr **p);

static mlcc_ir_module *one_function(rx_sinfo **ps, int n, body_fn body) {
    rx_expr *params[4];
    for (int i = 0; i < n; i++) {
        char name[16];
        snprintf(name, sizeof name, "p%d", i);
        params[i] = rx_var(name, ps[i]);
    }
    mlcc_ir_module *mod = irmod_new();
    rx_builder *bb = bb_new(mod);
    bb_begin_function(bb, "main", params, n);
    bb_begin_dataflow(bb);
    rx_expr *r = body(bb, params);
    rx_expr *gv = bb_emit_output(bb, r, "gv");
    bb_end_dataflow(bb);
    CHECK_MSG(bb_end_function(bb, gv) != NULL, "%s", mlcc_last_error());
    bb_free(bb);
    return mod;
}

static rx_expr *ew_chain(rx_builder *bb, rx_expr **p) {
    rx_expr *a = bb_emit(bb, op_unary("exp", p[0]), "a");
    rx_expr *b = bb_emit(bb, op_add(a, p[1]), "b"); /* broadcast of a [64] bias */
    return bb_emit(bb, op_unary("tanh", b), "c");
}

static rx_expr *matmul_epilogue(rx_builder *bb, rx_expr **p) {
    rx_expr *a = bb_emit(bb, op_linear(p[0], p[2]), "a");
    rx_expr *b = bb_emit(bb, op_add(a, p[0]), "b");
    rx_expr *c = bb_emit(bb, op_unary("nn.gelu", b), "c");
    return bb_emit(bb, op_reduce("sum", c, (int64_t[]){1}, 1, 0), "d"); /* a reduction is not an epilogue */
}

static rx_expr *into_reduction(rx_builder *bb, rx_expr **p) {
    rx_expr *a = bb_emit(bb, op_unary("exp", p[0]), "a");
    rx_expr *t = bb_emit(bb, op_permute_dims(a, NULL, 0), "t"); /* injective */
    rx_expr *u = bb_emit(bb, op_unary("sqrt", t), "u");
    return bb_emit(bb, op_reduce("max", u, (int64_t[]){0}, 1, 0), "m");
}

/* a is read by two consumers that meet again at d: both branches join one group */
static rx_expr *diamond(rx_builder *bb, rx_expr **p) {
    rx_expr *a = bb_emit(bb, op_unary("exp", p[0]), "a");
    rx_expr *b = bb_emit(bb, op_unary("tanh", a), "b");
    rx_expr *c = bb_emit(bb, op_unary("sigmoid", a), "c");
    return bb_emit(bb, op_multiply(b, c), "d");
}

/* an intermediate that is also an output cannot be fused away */
static rx_expr *escaping(rx_builder *bb, rx_expr **p) {
    rx_expr *a = bb_emit(bb, op_unary("exp", p[0]), "a");
    rx_expr *out = bb_emit_output(bb, a, "escapes");
    return bb_emit(bb, op_unary("tanh", out), "b");
}

/* the same PrimFunc twice in one group: inlined twice with fresh vars and unique block names */
static rx_expr *repeated(rx_builder *bb, rx_expr **p) {
    rx_expr *a = bb_emit(bb, op_add(p[0], p[1]), "a");
    rx_expr *b = bb_emit(bb, op_add(a, p[1]), "b");
    return bb_emit(bb, op_unary("exp", b), "c");
}

/* two identical groups (as every layer of a model) share one fused PrimFunc */
static rx_expr *two_layers(rx_builder *bb, rx_expr **p) {
    rx_expr *h = p[0];
    for (int l = 0; l < 2; l++) {
        rx_expr *m = bb_emit(bb, op_linear(h, p[2]), "m");
        rx_expr *a = bb_emit(bb, op_add(m, p[1]), "a");
        h = bb_emit(bb, op_unary("tanh", a), "t");
    }
    return h;
}

/* a constant operand becomes a parameter of the fused kernel */
static rx_expr *with_constant(rx_builder *bb, rx_expr **p) {
    float k = 0.5f;
    rx_expr *a = bb_emit(bb, op_multiply(p[0], rx_constant(DT_F32, NULL, 0, &k)), "a");
    return bb_emit(bb, op_unary("tanh", a), "t");
}

static void check_partition(const char *what, body_fn body, const char *want) {
    rx_sinfo *ps[3] = {rx_sinfo_tensor_v(DT_F32, N, ir_int(64), NULL), rx_sinfo_tensor_v(DT_F32, ir_int(64), NULL),
                       rx_sinfo_tensor_v(DT_F32, ir_int(64), ir_int(64), NULL)};
    mlcc_ir_module *m = run_passes(one_function(ps, 3, body), fuse_pipeline, 4);
    char *got = call_summary(m);
    CHECK_MSG(strcmp(got, want) == 0, "%s: got %s, want %s", what, got, want);
    free(got);
}

static void test_partitions(void) {
    check_partition("elementwise chain", ew_chain, "fused_exp_add_tanh;");
    check_partition("matmul epilogue", matmul_epilogue, "fused_matmul_add_gelu;sum;");
    /* exp joins the injective permute; sqrt joins the reduction in phase 0, so the permute
     * (phase 1, injective paths only) cannot reach the reduction's group: as TVM partitions */
    check_partition("into a reduction", into_reduction, "fused_exp_permute_dims;fused_sqrt_max;");
    check_partition("diamond", diamond, "fused_exp_tanh_sigmoid_multiply;");
    check_partition("escaping", escaping, "exp;tanh;");
    check_partition("repeated", repeated, "fused_add_add_exp;");
    check_partition("with a constant", with_constant, "fused_multiply_tanh;");
    {
        rx_sinfo *ps1[1] = {rx_sinfo_tensor_v(DT_F32, N, ir_int(64), NULL)};
        const char *all[] = {"legalize", "annotate_op_pattern", "fuse_ops", "fuse_tir"};
        mlcc_ir_module *plainm = run_passes(one_function(ps1, 1, with_constant), all, 1);
        mlcc_ir_module *fusedm = run_passes(one_function(ps1, 1, with_constant), all, 4);
        mlcc_jit_module *ja = plainm ? compile_module(plainm) : NULL, *jb = fusedm ? compile_module(fusedm) : NULL;
        if (ja && jb) {
            int64_t n = 5;
            graph_interp gi = {&N, &n, 1, NULL, 0};
            host_tensor *x = interp_tensor(&gi, ps1[0]);
            for (int64_t k = 0; k < x->numel; k++) x->data[k] = test_rand_float();
            host_tensor *a = interp_run(&gi, plainm, ja, "main", &x), *b = interp_run(&gi, fusedm, jb, "main", &x);
            CHECK(a && b);
            for (int64_t k = 0; a && b && k < x->numel; k++) CHECK_NEAR(b->data[k], tanh(0.5 * x->data[k]), 1e-6);
            interp_free(&gi);
        }
        if (ja) mlcc_jit_free(ja);
        if (jb) mlcc_jit_free(jb);
    }
    /* before fuse_tir each group has its own Primitive function; fuse_tir shares the kernel */
    check_partition("two layers", two_layers, "fused_matmul_add_tanh;fused_matmul_add_tanh1;");
    rx_sinfo *ps2[3] = {rx_sinfo_tensor_v(DT_F32, N, ir_int(64), NULL), rx_sinfo_tensor_v(DT_F32, ir_int(64), NULL),
                        rx_sinfo_tensor_v(DT_F32, ir_int(64), ir_int(64), NULL)};
    const char *to_tir[] = {"legalize", "annotate_op_pattern", "fuse_ops", "fuse_tir", "canonicalize_bindings"};
    mlcc_ir_module *layers = run_passes(one_function(ps2, 3, two_layers), to_tir, 5);
    char *sum = layers ? call_summary(layers) : NULL;
    CHECK_EQ_STR(sum, "fused_matmul_add_tanh;fused_matmul_add_tanh;");
    free(sum);
    CHECK(layers && irmod_lookup(layers, "fused_matmul_add_tanh1") == NULL);

    rx_sinfo *ps[2] = {rx_sinfo_tensor_v(DT_F32, N, ir_int(64), NULL), rx_sinfo_tensor_v(DT_F32, ir_int(64), NULL)};
    const char *passes[] = {"legalize", "annotate_op_pattern", "fuse_ops", "fuse_tir"};
    mlcc_ir_module *m = run_passes(one_function(ps, 2, repeated), passes, 4);
    mlcc_prim_func *f = m ? irmod_get_prim(m, "fused_add_add_exp") : NULL;
    CHECK(f != NULL);
    if (f) {
        char *text = tir_func_to_string(f);
        CHECK_MSG(strstr(text, "T.block(\"T_add\")") && strstr(text, "T.block(\"T_add_1\")") &&
                      strstr(text, "T.block(\"T_exp\")"),
                  "%s", text);
        CHECK(strstr(text, "for i0_1, i1_1 in T.grid(n, 64)") != NULL); /* fresh loop vars */
        free(text);
        CHECK(irmod_get_prim(m, "add") == NULL && irmod_lookup(m, "fused_add_add_exp") != NULL);
    }
}

enum { H = 16, F = 24 };

static mlcc_ir_module *build_mlp(void) {
    rx_expr *x = rx_var("x", rx_sinfo_tensor_v(DT_F32, N, ir_int(H), NULL));
    rx_expr *wg = rx_var("w_gate", rx_sinfo_tensor_v(DT_F32, ir_int(F), ir_int(H), NULL));
    rx_expr *wu = rx_var("w_up", rx_sinfo_tensor_v(DT_F32, ir_int(F), ir_int(H), NULL));
    rx_expr *wd = rx_var("w_down", rx_sinfo_tensor_v(DT_F32, ir_int(H), ir_int(F), NULL));
    rx_expr *nw = rx_var("norm_w", rx_sinfo_tensor_v(DT_F32, ir_int(H), NULL));
    mlcc_ir_module *mod = irmod_new();
    rx_builder *bb = bb_new(mod);
    bb_begin_function(bb, "main", (rx_expr *[]){x, wg, wu, wd, nw}, 5);
    bb_begin_dataflow(bb);
    rx_expr *gate = bb_emit(bb, op_unary("nn.silu", op_linear(x, wg)), "lv");
    rx_expr *up = bb_emit(bb, op_linear(x, wu), "lv");
    rx_expr *act = bb_emit(bb, op_multiply(gate, up), "lv");
    rx_expr *down = bb_emit(bb, op_linear(act, wd), "lv");
    rx_expr *res = bb_emit(bb, op_add(down, x), "lv");
    rx_expr *norm = bb_emit(bb, op_rms_norm(res, nw, 1e-5), "lv");
    rx_expr *gv = bb_emit_output(bb, norm, "gv");
    bb_end_dataflow(bb);
    CHECK(bb_end_function(bb, gv) != NULL);
    bb_free(bb);
    return mod;
}

static void mlp_reference(const float *x, const float *wg, const float *wu, const float *wd, const float *nw, int64_t n,
                          double *out) {
    double act[F], res[H];
    for (int64_t r = 0; r < n; r++) {
        for (int f = 0; f < F; f++) {
            double g = 0, u = 0;
            for (int h = 0; h < H; h++) g += (double)x[r * H + h] * wg[f * H + h], u += (double)x[r * H + h] * wu[f * H + h];
            act[f] = g / (1 + exp(-g)) * u;
        }
        double ss = 0;
        for (int h = 0; h < H; h++) {
            double d = 0;
            for (int f = 0; f < F; f++) d += act[f] * wd[h * F + f];
            res[h] = d + x[r * H + h];
            ss += res[h] * res[h];
        }
        double scale = 1 / sqrt(ss / H + 1e-5);
        for (int h = 0; h < H; h++) out[r * H + h] = res[h] * scale * nw[h];
    }
}

static mlcc_jit_module *compile_module(const mlcc_ir_module *m) {
    mlcc_prim_func *prims[64];
    int n = 0;
    for (int i = 0; i < m->n && n < 64; i++)
        if (m->entries[i].kind == IRMOD_PRIM) prims[n++] = m->entries[i].prim;
    mlcc_jit_module *jm = mlcc_jit_build(prims, n);
    CHECK_MSG(jm != NULL, "%s", mlcc_last_error());
    return jm;
}

static void test_mlp_numerics(void) {
    mlcc_ir_module *mod = build_mlp();
    const char *plain[] = {"legalize", "canonicalize_bindings"};
    const char *fused[] = {"legalize", "annotate_op_pattern", "fuse_ops", "fuse_tir", "canonicalize_bindings",
                           "dead_code_elimination"};
    mlcc_ir_module *m0 = run_passes(mod, plain, 2), *m1 = run_passes(mod, fused, 6);
    if (!m0 || !m1) return;
    char *text = irmod_to_string(m1);
    CHECK_GOLDEN("graph_mlp_fused.txt", text);
    free(text);
    char *summary = call_summary(m1);
    CHECK_EQ_STR(summary, "matmul;fused_matmul_silu_multiply;fused_matmul1_add;rms_norm;");
    free(summary);
    mlcc_jit_module *j0 = compile_module(m0), *j1 = compile_module(m1);
    if (!j0 || !j1) return;
    int64_t sizes[2] = {1, 13};
    for (int s = 0; s < 2; s++) {
        int64_t n = sizes[s];
        graph_interp gi = {&N, &n, 1, NULL, 0};
        rx_expr *fn = irmod_get_graph(mod, "main");
        host_tensor *in[5];
        for (int i = 0; i < 5; i++) {
            in[i] = interp_tensor(&gi, fn->func.params[i]->sinfo);
            for (int64_t k = 0; k < in[i]->numel; k++) in[i]->data[k] = test_rand_float();
        }
        double *want = malloc(sizeof(double) * (size_t)(n * H));
        mlp_reference(in[0]->data, in[1]->data, in[2]->data, in[3]->data, in[4]->data, n, want);
        for (int v = 0; v < 2; v++) {
            host_tensor *r = interp_run(&gi, v ? m1 : m0, v ? j1 : j0, "main", in);
            CHECK(r != NULL);
            if (r) {
                double err = test_max_rel_error(r->data, want, n * H);
                CHECK_MSG(err < 1e-5, "%s n=%lld: relative error %g", v ? "fused" : "unfused", (long long)n, err);
            }
        }
        interp_free(&gi);
        free(want);
    }
    mlcc_jit_free(j0);
    mlcc_jit_free(j1);
}

int main(void) {
    ir_scope_begin();
    N = ir_size_var("n");
    test_partitions();
    test_mlp_numerics();
    ir_scope_end();
    return test_finish();
}
