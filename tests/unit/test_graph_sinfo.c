/* test_graph_sinfo.c - struct-info deduction by the block builder and the ops, with symbolic
 * shapes: matmul [n, 64] x [64, 32] -> [n, 32], broadcast [n, 1] + [1, m] -> [n, m], reshape
 * with -1 over a symbolic n, reductions, slicing, take, split, concat; and the errors a
 * mismatch gives (naming the op, the operands and both shapes). */
#include "ir/block_builder.h"
#include "op/op.h"
#include "support/error.h"
#include "test.h"

static mlcc_expr *N, *M;

static rx_expr *tensor_var(const char *name, mlcc_dtype t, mlcc_expr *d0, mlcc_expr *d1) {
    return rx_var(name, d1 ? rx_sinfo_tensor_v(t, d0, d1, NULL) : rx_sinfo_tensor_v(t, d0, NULL));
}

/* The printed struct info of emitting value in a fresh function over params. */
static char *deduce(rx_expr **params, int nparams, rx_expr *value) {
    mlcc_ir_module *mod = irmod_new();
    rx_builder *bb = bb_new(mod);
    bb_begin_function(bb, "f", params, nparams);
    bb_begin_dataflow(bb);
    rx_expr *v = bb_emit(bb, value, "lv");
    char *s = v ? rx_sinfo_to_string(v->sinfo) : NULL;
    bb_free(bb);
    return s;
}

#define EXPECT_SINFO(params, n, value, want)                                                       \
    do {                                                                                           \
        char *got_ = deduce(params, n, value);                                                     \
        CHECK_MSG(got_ != NULL, "%s", mlcc_last_error());                                          \
        if (got_) CHECK_EQ_STR(got_, want);                                                        \
        free(got_);                                                                                \
    } while (0)

#define EXPECT_ERROR(params, n, value, needle)                                                     \
    do {                                                                                           \
        mlcc_clear_error();                                                                        \
        char *got_ = deduce(params, n, value);                                                     \
        CHECK_MSG(got_ == NULL, "expected an error, got %s", got_ ? got_ : "");                    \
        CHECK_MSG(strstr(mlcc_last_error(), needle) != NULL, "error '%s' lacks '%s'",              \
                  mlcc_last_error(), needle);                                                      \
        free(got_);                                                                                \
    } while (0)

static void test_matmul(void) {
    rx_expr *x = tensor_var("x", DT_F32, N, ir_int(64)), *w = tensor_var("w", DT_F32, ir_int(64), ir_int(32));
    rx_expr *p[] = {x, w};
    EXPECT_SINFO(p, 2, op_matmul(x, w), "R.Tensor((n, 32), dtype=\"float32\")");
    /* linear: weight stored [out, in] */
    rx_expr *wt = tensor_var("wt", DT_F32, ir_int(128), ir_int(64));
    rx_expr *p2[] = {x, wt};
    EXPECT_SINFO(p2, 2, op_linear(x, wt), "R.Tensor((n, 128), dtype=\"float32\")");
    /* batched with broadcast batch dims */
    rx_expr *a = rx_var("a", rx_sinfo_tensor_v(DT_F32, ir_int(4), N, ir_int(16), NULL));
    rx_expr *b = rx_var("b", rx_sinfo_tensor_v(DT_F32, ir_int(1), ir_int(16), M, NULL));
    rx_expr *p3[] = {a, b};
    EXPECT_SINFO(p3, 2, op_matmul(a, b), "R.Tensor((4, n, m), dtype=\"float32\")");
    /* 1-D right operand */
    rx_expr *v = tensor_var("v", DT_F32, ir_int(64), NULL);
    rx_expr *p4[] = {x, v};
    EXPECT_SINFO(p4, 2, op_matmul(x, v), "R.Tensor((n,), dtype=\"float32\")");
    /* mismatched reduction dims */
    rx_expr *w2 = tensor_var("w2", DT_F32, ir_int(32), ir_int(8));
    rx_expr *p5[] = {x, w2};
    EXPECT_ERROR(p5, 2, op_matmul(x, w2), "matmul: reduction dimensions differ between x: Tensor((n, 64), \"float32\") "
                                          "and w2: Tensor((32, 8), \"float32\")");
}

static void test_broadcast(void) {
    rx_expr *x = tensor_var("x", DT_F32, N, ir_int(1)), *y = tensor_var("y", DT_F32, ir_int(1), M);
    rx_expr *p[] = {x, y};
    EXPECT_SINFO(p, 2, op_add(x, y), "R.Tensor((n, m), dtype=\"float32\")");
    rx_expr *a = tensor_var("a", DT_F32, N, ir_int(64)), *b = tensor_var("b", DT_F32, ir_int(64), NULL);
    rx_expr *p2[] = {a, b};
    EXPECT_SINFO(p2, 2, op_multiply(a, b), "R.Tensor((n, 64), dtype=\"float32\")");
    /* the error the issue describes */
    rx_expr *c = tensor_var("x", DT_F32, N, ir_int(64)), *d = tensor_var("y", DT_F32, N, ir_int(32));
    rx_expr *p3[] = {c, d};
    EXPECT_ERROR(p3, 2, op_add(c, d),
                 "add: cannot broadcast x: Tensor((n, 64), \"float32\") with y: Tensor((n, 32), \"float32\")");
    /* n against m cannot be proven equal */
    rx_expr *e = tensor_var("e", DT_F32, N, NULL), *f = tensor_var("f", DT_F32, M, NULL);
    rx_expr *p4[] = {e, f};
    EXPECT_ERROR(p4, 2, op_subtract(e, f), "not provably equal");
    /* dtypes must agree */
    rx_expr *h = tensor_var("h", DT_F16, N, ir_int(64));
    rx_expr *p5[] = {a, h};
    EXPECT_ERROR(p5, 2, op_add(a, h), "add: dtype mismatch between a: Tensor((n, 64), \"float32\") and h: "
                                      "Tensor((n, 64), \"float16\")");
    /* a non-tensor operand */
    rx_expr *s = rx_var("s", rx_sinfo_shape(NULL, 2));
    rx_expr *p6[] = {a, s};
    EXPECT_ERROR(p6, 2, op_add(a, s), "add: s: R.Shape(ndim=2) is not a tensor");
}

static void test_shape_ops(void) {
    rx_expr *x = tensor_var("x", DT_F32, N, ir_int(64));
    rx_expr *p[] = {x};
    EXPECT_SINFO(p, 1, op_reshape(x, (mlcc_expr *[]){ir_int(-1), ir_int(8), ir_int(8)}, 3),
                 "R.Tensor((n, 8, 8), dtype=\"float32\")");
    EXPECT_SINFO(p, 1, op_reshape(x, (mlcc_expr *[]){N, ir_int(4), ir_int(-1)}, 3),
                 "R.Tensor((n, 4, 16), dtype=\"float32\")");
    EXPECT_SINFO(p, 1, op_reshape(x, (mlcc_expr *[]){ir_int(-1)}, 1), "R.Tensor((n * 64,), dtype=\"float32\")");
    EXPECT_ERROR(p, 1, op_reshape(x, (mlcc_expr *[]){ir_int(-1), ir_int(-1)}, 2), "more than one -1");
    EXPECT_ERROR(p, 1, op_reshape(x, (mlcc_expr *[]){ir_int(0), ir_int(-1)}, 2), "zero-size");
    rx_expr *c = tensor_var("c", DT_F32, ir_int(6), ir_int(4));
    rx_expr *pc[] = {c};
    EXPECT_ERROR(pc, 1, op_reshape(c, (mlcc_expr *[]){ir_int(5), ir_int(5)}, 2),
                 "reshape: cannot reshape c: Tensor((6, 4), \"float32\") (24 elements) to 25 elements");
    EXPECT_SINFO(p, 1, op_permute_dims(x, NULL, 0), "R.Tensor((64, n), dtype=\"float32\")");
    EXPECT_SINFO(p, 1, op_reduce("sum", x, (int64_t[]){1}, 1, 0), "R.Tensor((n,), dtype=\"float32\")");
    EXPECT_SINFO(p, 1, op_reduce("max", x, (int64_t[]){-1}, 1, 1), "R.Tensor((n, 1), dtype=\"float32\")");
    EXPECT_SINFO(p, 1, op_reduce("mean", x, NULL, 0, 0), "R.Tensor((), dtype=\"float32\")");
    EXPECT_ERROR(p, 1, op_reduce("sum", x, (int64_t[]){2}, 1, 0), "sum: axis 2 is out of range");
    EXPECT_SINFO(p, 1, op_strided_slice(x, (int64_t[]){1}, (int64_t[]){8}, (int64_t[]){24}, (int64_t[]){2}, 1),
                 "R.Tensor((n, 8), dtype=\"float32\")");
    EXPECT_SINFO(p, 1, op_split(x, 4, 1),
                 "R.Tuple(R.Tensor((n, 16), dtype=\"float32\"), R.Tensor((n, 16), dtype=\"float32\"), "
                 "R.Tensor((n, 16), dtype=\"float32\"), R.Tensor((n, 16), dtype=\"float32\"))");
    EXPECT_ERROR(p, 1, op_split(x, 3, 1), "not divisible into 3 sections");
    rx_expr *y = tensor_var("y", DT_F32, M, ir_int(64));
    rx_expr *pxy[] = {x, y};
    EXPECT_SINFO(pxy, 2, op_concat((rx_expr *[]){x, y}, 2, 0), "R.Tensor((n + m, 64), dtype=\"float32\")");
    EXPECT_SINFO(p, 1, op_astype(x, DT_F16), "R.Tensor((n, 64), dtype=\"float16\")");
    /* embedding lookup */
    rx_expr *table = tensor_var("table", DT_F32, ir_int(1000), ir_int(64)), *ids = tensor_var("ids", DT_I32, N, NULL);
    rx_expr *pt[] = {table, ids};
    EXPECT_SINFO(pt, 2, op_take(table, ids, 0), "R.Tensor((n, 64), dtype=\"float32\")");
    EXPECT_ERROR(pt, 2, op_take(table, x, 0), "take: indices x: Tensor((n, 64), \"float32\") must be integers");
    EXPECT_SINFO(p, 0, op_full((mlcc_expr *[]){N, ir_int(3)}, 2, 1.5, DT_F32), "R.Tensor((n, 3), dtype=\"float32\")");
}

static void test_nn(void) {
    rx_expr *x = tensor_var("x", DT_F32, N, ir_int(64)), *w = tensor_var("w", DT_F32, ir_int(64), NULL);
    rx_expr *p[] = {x, w};
    EXPECT_SINFO(p, 2, op_rms_norm(x, w, 1e-5), "R.Tensor((n, 64), dtype=\"float32\")");
    EXPECT_SINFO(p, 2, op_softmax(x, -1), "R.Tensor((n, 64), dtype=\"float32\")");
    EXPECT_SINFO(p, 2, op_unary("nn.silu", x), "R.Tensor((n, 64), dtype=\"float32\")");
    rx_expr *w2 = tensor_var("w2", DT_F32, ir_int(32), NULL);
    rx_expr *p2[] = {x, w2};
    EXPECT_ERROR(p2, 2, op_rms_norm(x, w2, 1e-5), "nn.rms_norm: w2: Tensor((32,), \"float32\") does not match the last axis "
                                                  "of x: Tensor((n, 64), \"float32\")");
    EXPECT_ERROR(p, 2, op_softmax(x, 0), "only the last axis");
    rx_expr *ids = tensor_var("ids", DT_I32, N, NULL);
    rx_expr *p3[] = {ids};
    EXPECT_ERROR(p3, 1, op_unary("exp", ids), "exp: ids: Tensor((n,), \"int32\") is not a float tensor");
    EXPECT_ERROR(p, 2, op_unary("nn.frobnicate", x), "unknown op 'nn.frobnicate'");
    CHECK(op_get("nn.frobnicate") == NULL && op_get("nn.rms_norm") != NULL);
}

/* Nested calls are bound to their own vars; errors stick to the builder; match_cast binds. */
static void test_builder(void) {
    rx_expr *x = tensor_var("x", DT_F32, N, ir_int(64)), *w = tensor_var("w", DT_F32, ir_int(64), ir_int(64));
    mlcc_ir_module *mod = irmod_new();
    rx_builder *bb = bb_new(mod);
    bb_begin_function(bb, "main", (rx_expr *[]){x, w}, 2);
    bb_begin_dataflow(bb);
    rx_expr *lv = bb_emit(bb, op_add(op_matmul(x, w), x), "lv");
    CHECK(lv != NULL && lv->kind == RX_DATAFLOW_VAR);
    rx_expr *gv = bb_emit_output(bb, lv, "gv");
    CHECK(gv != NULL && gv->kind == RX_VAR);
    bb_end_dataflow(bb);
    rx_expr *obj = rx_var("o", rx_sinfo_tensor_ndim(2, DT_F32));
    (void)obj;
    CHECK(bb_end_function(bb, gv) != NULL);
    rx_expr *fn = irmod_get_graph(mod, "main");
    CHECK(fn != NULL);
    if (fn) {
        CHECK_EQ_INT(fn->func.body->seq.nblocks, 1);
        CHECK_EQ_INT(fn->func.body->seq.blocks[0].n, 3); /* matmul bound first, then add, then gv */
        CHECK(rx_is_op_call(fn->func.body->seq.blocks[0].bindings[0].value, "matmul"));
    }

    /* a failing emit makes the function fail with that first error */
    rx_expr *y = tensor_var("y", DT_F32, N, ir_int(32));
    bb_begin_function(bb, "bad", (rx_expr *[]){x, y}, 2);
    bb_begin_dataflow(bb);
    rx_expr *a = bb_emit(bb, op_add(x, y), "a");
    CHECK(a == NULL);
    rx_expr *b = bb_emit(bb, op_unary("exp", a), "b");
    CHECK(b == NULL);
    bb_end_dataflow(bb);
    mlcc_clear_error();
    CHECK(bb_end_function(bb, b) == NULL);
    CHECK_MSG(strstr(mlcc_last_error(), "add: cannot broadcast") != NULL, "%s", mlcc_last_error());
    bb_free(bb);

    /* match_cast: an unknown-shape tensor gets a fresh symbolic shape */
    mlcc_ir_module *mod2 = irmod_new();
    bb = bb_new(mod2);
    rx_expr *u = rx_var("u", rx_sinfo_tensor_ndim(2, DT_F32));
    bb_begin_function(bb, "cast", &u, 1);
    mlcc_expr *k = ir_size_var("k");
    rx_expr *mc = bb_match_cast(bb, u, rx_sinfo_tensor_v(DT_F32, k, ir_int(4), NULL), "uc");
    CHECK(mc != NULL);
    rx_expr *r = bb_emit(bb, op_reduce("sum", mc, (int64_t[]){1}, 1, 0), "r");
    CHECK(r != NULL);
    if (r) {
        char *s = rx_sinfo_to_string(r->sinfo);
        CHECK_EQ_STR(s, "R.Tensor((k,), dtype=\"float32\")");
        free(s);
    }
    CHECK(bb_match_cast(bb, u, rx_sinfo_tensor_v(DT_F32, k, NULL), "bad") == NULL);
    bb_free(bb);
}

/* A call of a function with symbolic parameters binds its size variables to the caller's
 * extents: f(x: [n, 4], y: [n]) -> [n, 8] called with [3, 4], [3] gives [3, 8]; a second use of
 * n must agree; fixed extents must match. */
static void test_call_binding(void) {
    mlcc_expr *n = ir_size_var("n");
    rx_sinfo *px = rx_sinfo_tensor_v(DT_F32, n, ir_int(4), NULL), *py = rx_sinfo_tensor_v(DT_F32, n, NULL);
    rx_sinfo *ret = rx_sinfo_tensor_v(DT_F32, n, ir_int(8), NULL);
    rx_bindings b = {.n = 0};
    CHECK(rx_sinfo_match_param(px, rx_sinfo_tensor_v(DT_F32, ir_int(3), ir_int(4), NULL), &b));
    CHECK(rx_sinfo_match_param(py, rx_sinfo_tensor_v(DT_F32, ir_int(3), NULL), &b));
    char *got = rx_sinfo_to_string(rx_sinfo_substitute(ret, &b));
    CHECK_EQ_STR(got, "R.Tensor((3, 8), dtype=\"float32\")");
    free(got);
    rx_bindings c = {.n = 0};
    CHECK(rx_sinfo_match_param(px, rx_sinfo_tensor_v(DT_F32, M, ir_int(4), NULL), &c));
    CHECK(!rx_sinfo_match_param(py, rx_sinfo_tensor_v(DT_F32, ir_int(3), NULL), &c)); /* n is m already */
    rx_bindings d = {.n = 0};
    CHECK(!rx_sinfo_match_param(px, rx_sinfo_tensor_v(DT_F32, ir_int(3), ir_int(5), NULL), &d)); /* 4 != 5 */
    CHECK(!rx_sinfo_match_param(px, rx_sinfo_tensor_v(DT_I32, ir_int(3), ir_int(4), NULL), &d)); /* dtype */
}

int main(void) {
    ir_scope_begin();
    N = ir_size_var("n");
    M = ir_size_var("m");
    test_matmul();
    test_broadcast();
    test_shape_ops();
    test_nn();
    test_builder();
    test_call_binding();
    ir_scope_end();
    return test_finish();
}
