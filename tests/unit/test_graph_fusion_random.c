/* test_graph_fusion_random.c - fusion must not change results: random graphs of elementwise,
 * broadcast, matmul, reduction and normalization ops (some intermediates escaping as outputs)
 * run unfused and fused, through the test graph interpreter, at two symbolic sizes; the
 * results must agree. One module holds all graphs, so each variant compiles once. */
#include "graph_interp.h"
#include "ir/block_builder.h"
#include "op/op.h"
#include "support/error.h"
#include "tensor_util.h"
#include "test.h"
#include "transform/pass.h"

enum { GRAPHS = 12, OPS = 14, C = 8 };

static mlcc_expr *N;
static uint64_t seed = 0x9e3779b97f4a7c15ull;

static int pick(int n) {
    seed = seed * 6364136223846793005ull + 1442695040888963407ull;
    return (int)((seed >> 33) % (uint64_t)n);
}

/* Values of shape [n, C]; bias [C] and weight [C, C] are parameters. */
static void build_graph(rx_builder *bb, int g) {
    rx_expr *x = rx_var("x", rx_sinfo_tensor_v(DT_F32, N, ir_int(C), NULL));
    rx_expr *y = rx_var("y", rx_sinfo_tensor_v(DT_F32, N, ir_int(C), NULL));
    rx_expr *bias = rx_var("bias", rx_sinfo_tensor_v(DT_F32, ir_int(C), NULL));
    rx_expr *w = rx_var("w", rx_sinfo_tensor_v(DT_F32, ir_int(C), ir_int(C), NULL));
    char name[16];
    snprintf(name, sizeof name, "g%d", g);
    bb_begin_function(bb, name, (rx_expr *[]){x, y, bias, w}, 4);
    bb_begin_dataflow(bb);
    rx_expr *vals[OPS + 2] = {x, y}, *outs[OPS + 1];
    int nv = 2, nout = 0;
    for (int i = 0; i < OPS; i++) {
        rx_expr *a = vals[pick(nv)], *b = vals[pick(nv)], *e;
        switch (pick(9)) {
        case 0: e = op_add(a, b); break;
        case 1: e = op_multiply(a, op_unary("sigmoid", b)); break;
        case 2: e = op_subtract(a, bias); break;
        case 3: e = op_unary("tanh", a); break;
        case 4: e = op_unary("nn.silu", a); break;
        case 5: e = op_linear(a, w); break;
        case 6: e = op_multiply(a, op_reduce("max", b, (int64_t[]){1}, 1, 1)); break; /* [n, 1] broadcast */
        case 7: e = op_softmax(a, -1); break;
        default: e = op_rms_norm(a, bias, 1e-5); break;
        }
        /* some intermediates are outputs of the block: fusion must keep them */
        int escapes = pick(5) == 0;
        rx_expr *v = escapes ? bb_emit_output(bb, e, "out") : bb_emit(bb, e, "lv");
        CHECK_MSG(v != NULL, "%s", mlcc_last_error());
        vals[nv++] = v;
        if (escapes) outs[nout++] = v;
    }
    outs[nout++] = bb_emit_output(bb, vals[nv - 1], "gv");
    bb_end_dataflow(bb);
    /* the function returns the last value and every escaping intermediate */
    CHECK_MSG(bb_end_function(bb, rx_tuple(outs, nout)) != NULL, "%s", mlcc_last_error());
}

static mlcc_ir_module *run(const mlcc_ir_module *m, const char **names, int n) {
    mlcc_pass_manager pm;
    pm_init(&pm);
    for (int i = 0; i < n; i++) pm_add_named(&pm, names[i]);
    mlcc_ir_module *out = pm_run(&pm, m);
    CHECK_MSG(out != NULL, "%s", mlcc_last_error());
    pm_free(&pm);
    return out;
}

static mlcc_jit_module *compile(const mlcc_ir_module *m) {
    mlcc_prim_func **prims = malloc(sizeof(mlcc_prim_func *) * (size_t)(m->n + 1));
    int n = 0;
    for (int i = 0; i < m->n; i++)
        if (m->entries[i].kind == IRMOD_PRIM) prims[n++] = m->entries[i].prim;
    mlcc_jit_module *jm = mlcc_jit_build(prims, n);
    CHECK_MSG(jm != NULL, "%s", mlcc_last_error());
    free(prims);
    return jm;
}

int main(void) {
    ir_scope_begin();
    N = ir_size_var("n");
    mlcc_ir_module *mod = irmod_new();
    rx_builder *bb = bb_new(mod);
    for (int g = 0; g < GRAPHS; g++) build_graph(bb, g);
    bb_free(bb);
    const char *plain[] = {"legalize"};
    const char *fused[] = {"legalize", "annotate_op_pattern", "fuse_ops", "fuse_tir", "canonicalize_bindings",
                           "dead_code_elimination"};
    mlcc_ir_module *m0 = run(mod, plain, 1), *m1 = run(mod, fused, 6);
    mlcc_jit_module *j0 = m0 ? compile(m0) : NULL, *j1 = m1 ? compile(m1) : NULL;
    int fused_kernels = 0;
    for (int i = 0; m1 && i < m1->n; i++) fused_kernels += strncmp(m1->entries[i].name, "fused_", 6) == 0;
    CHECK_MSG(fused_kernels >= GRAPHS / 2, "only %d fused kernels", fused_kernels);
    if (j0 && j1) {
        int64_t sizes[2] = {2, 9};
        for (int s = 0; s < 2; s++) {
            int64_t n = sizes[s];
            graph_interp gi = {&N, &n, 1, NULL, 0};
            for (int g = 0; g < GRAPHS; g++) {
                char name[16];
                snprintf(name, sizeof name, "g%d", g);
                rx_expr *fn = irmod_get_graph(mod, name);
                host_tensor *in[4];
                for (int i = 0; i < 4; i++) {
                    in[i] = interp_tensor(&gi, fn->func.params[i]->sinfo);
                    for (int64_t k = 0; k < in[i]->numel; k++) in[i]->data[k] = test_rand_float();
                }
                host_tensor *ra[OPS + 1], *rb[OPS + 1];
                int na = interp_run_all(&gi, m0, j0, name, in, ra, OPS + 1);
                int nb = interp_run_all(&gi, m1, j1, name, in, rb, OPS + 1);
                CHECK_EQ_INT(na, nb);
                for (int r = 0; r < na && r < nb; r++) {
                    double *want = malloc(sizeof(double) * (size_t)(ra[r]->numel + 1));
                    for (int64_t k = 0; k < ra[r]->numel; k++) want[k] = ra[r]->data[k];
                    double err = test_max_rel_error(rb[r]->data, want, ra[r]->numel);
                    CHECK_MSG(ra[r]->numel == rb[r]->numel && err < 1e-5, "graph %d result %d n=%lld: fused differs by %g",
                              g, r, (long long)n, err);
                    free(want);
                }
            }
            interp_free(&gi);
        }
    }
    if (j0) mlcc_jit_free(j0);
    if (j1) mlcc_jit_free(j1);
    ir_scope_end();
    return test_finish();
}
