/* test_tir_printer.c - golden text of the TensorIR printer (functions from te, expressions with
 * every precedence level, loops of each kind, predicates, allocations), and structural
 * equality/hashing (equal up to names, unequal on any structural change). */
#include "ir/printer.h"
#include "ir/structural.h"
#include "te/te.h"
#include "test.h"

static te_tensor *A, *B;

static mlcc_expr *matmul_body(mlcc_expr **i, void *c) {
    (void)c;
    return ir_mul(te_load2(A, i[0], i[2]), te_load2(B, i[2], i[1]));
}

static mlcc_expr *relu_body(mlcc_expr **i, void *c) {
    te_tensor *src = c;
    return ir_max(te_load2(src, i[0], i[1]), ir_float(DT_F32, 0.0));
}

static mlcc_prim_func *make_matmul(const char *name) {
    mlcc_expr *n = ir_size_var("n");
    A = te_placeholder("A", DT_F32, (mlcc_expr *[]){n, ir_int(64)}, 2);
    B = te_placeholder("B", DT_F32, (mlcc_expr *[]){ir_int(64), ir_int(32)}, 2);
    te_set_axis_names((const char *[]){"i", "j", "k", NULL});
    te_tensor *C = te_reduce("C", DT_F32, (mlcc_expr *[]){n, ir_int(32)}, 2, TE_SUM, (mlcc_expr *[]){ir_int(64)}, 1, matmul_body, NULL);
    te_tensor *D = te_compute("D", DT_F32, (mlcc_expr *[]){n, ir_int(32)}, 2, relu_body, C);
    return te_create_prim_func(name, (te_tensor *[]){A, B, D}, 3);
}

static void test_func_golden(void) {
    char *text = tir_func_to_string(make_matmul("matmul_relu"));
    CHECK_EQ_STR(text,
                 "@T.prim_func\n"
                 "def matmul_relu(A: T.Buffer((n, 64), \"float32\"), B: T.Buffer((64, 32), \"float32\"), D: T.Buffer((n, 32), \"float32\")):\n"
                 "    n = T.int64()\n"
                 "    C = T.alloc_buffer((n, 32), \"float32\")\n"
                 "    for i, j, k in T.grid(n, 32, 64):\n"
                 "        with T.block(\"C\"):\n"
                 "            v_i = T.axis.spatial(n, i)\n"
                 "            v_j = T.axis.spatial(32, j)\n"
                 "            v_k = T.axis.reduce(64, k)\n"
                 "            T.reads(A[v_i, v_k], B[v_k, v_j])\n"
                 "            T.writes(C[v_i, v_j])\n"
                 "            with T.init():\n"
                 "                C[v_i, v_j] = T.float32(0.0)\n"
                 "            C[v_i, v_j] = C[v_i, v_j] + A[v_i, v_k] * B[v_k, v_j]\n"
                 "    for i0, i1 in T.grid(n, 32):\n"
                 "        with T.block(\"D\"):\n"
                 "            v_i0 = T.axis.spatial(n, i0)\n"
                 "            v_i1 = T.axis.spatial(32, i1)\n"
                 "            T.reads(C[v_i0, v_i1])\n"
                 "            T.writes(D[v_i0, v_i1])\n"
                 "            D[v_i0, v_i1] = T.max(C[v_i0, v_i1], T.float32(0.0))\n");
    free(text);
}

static void check_expr(mlcc_expr *e, const char *want) {
    char *s = tir_expr_to_string(e);
    CHECK_EQ_STR(s, want);
    free(s);
}

static void test_expr_golden(void) {
    mlcc_expr *x = ir_var("x", DT_I64), *y = ir_var("y", DT_I64), *f = ir_var("f", DT_F32);
    check_expr(ir_mul(ir_add(x, ir_int(3)), y), "(x + 3) * y");
    check_expr(ir_add(x, ir_mul(ir_int(3), y)), "x + 3 * y");
    check_expr(ir_sub(x, ir_sub(y, ir_int(1))), "x - (y - 1)");
    check_expr(ir_sub(ir_sub(x, y), ir_int(1)), "x - y - 1");
    check_expr(ir_floordiv(ir_add(x, ir_int(7)), ir_int(8)), "(x + 7) // 8");
    check_expr(ir_floormod(x, ir_int(8)), "x % 8");
    check_expr(ir_div(x, y), "T.truncdiv(x, y)");
    check_expr(ir_binary(EXPR_MOD, x, y), "T.truncmod(x, y)");
    check_expr(ir_and(ir_lt(x, y), ir_or(ir_ge(x, ir_int(0)), ir_ne(y, ir_int(2)))), "x < y and (x >= 0 or y != 2)");
    check_expr(ir_not(ir_eq(x, y)), "not x == y");
    check_expr(ir_select(ir_le(x, y), ir_min(x, y), ir_max(x, ir_int(-4))), "T.Select(x <= y, T.min(x, y), T.max(x, -4))");
    check_expr(ir_cast(DT_F32, x), "T.Cast(\"float32\", x)");
    check_expr(ir_call1("exp", ir_div(f, ir_float(DT_F32, 2.5))), "T.exp(f / T.float32(2.5))");
    check_expr(ir_float(DT_F16, -INFINITY), "T.float16(\"-inf\")");
    check_expr(ir_const_int(DT_I32, 5), "T.int32(5)");
    check_expr(ir_mul(x, ir_int(-2)), "x * (-2)");
    check_expr(ir_ramp(x, ir_int(1), 4), "T.Ramp(x, 1, 4)");
    check_expr(ir_broadcast(f, 8), "T.Broadcast(f, 8)");
    /* constructors fold constants and identities */
    check_expr(ir_add(ir_int(2), ir_int(3)), "5");
    check_expr(ir_mul(x, ir_int(1)), "x");
    check_expr(ir_floordiv(ir_int(-7), ir_int(2)), "-4");
    check_expr(ir_floormod(ir_int(-7), ir_int(2)), "1");
    /* names are made unique */
    mlcc_expr *x2 = ir_var("x", DT_I64);
    check_expr(ir_add(x, x2), "x + x_1");
}

static void test_stmt_golden(void) {
    mlcc_expr *n = ir_size_var("n"), *i = ir_var("i", DT_I64), *j = ir_var("j", DT_I64);
    mlcc_buffer *buf = ir_buffer_v("Y", DT_F32, n, NULL);
    mlcc_buffer *tmp = ir_buffer_scoped("T", DT_F32, (mlcc_expr *[]){ir_int(4)}, 1, "local");
    mlcc_stmt *store = ir_store(buf, ir_load(tmp, &j, 1), &i, 1);
    mlcc_stmt *inner = ir_for(j, ir_int(0), ir_int(4), FOR_VECTORIZED, ir_if(ir_lt(i, n), store, NULL));
    mlcc_stmt *s = ir_for(i, ir_int(2), n, FOR_PARALLEL, ir_allocate(tmp, inner));
    char *text = tir_stmt_to_string(s);
    CHECK_EQ_STR(text,
                 "for i in T.parallel(2, 2 + n):\n"
                 "    T = T.alloc_buffer((4,), \"float32\", scope=\"local\")\n"
                 "    for j in T.vectorized(4):\n"
                 "        if i < n:\n"
                 "            Y[i] = T[j]");
    free(text);
}

static void test_structural(void) {
    mlcc_prim_func *a = make_matmul("f"), *b = make_matmul("f");
    CHECK(a != b);
    CHECK(tir_structural_equal(a, b));
    CHECK(tir_structural_hash(a) == tir_structural_hash(b));
    /* a changed loop extent makes them differ */
    mlcc_prim_func *c = prim_func_copy(b);
    mlcc_stmt *first = c->body->seq.stmts[0];
    mlcc_stmt *changed = ir_for(first->for_.var, first->for_.min, ir_add(first->for_.extent, ir_int(1)), FOR_SERIAL, first->for_.body);
    c->body = ir_seq2(changed, c->body->seq.stmts[1]);
    CHECK(!tir_structural_equal(a, c));
    CHECK(tir_structural_hash(a) != tir_structural_hash(c));
    /* expressions: equal up to var identity when used consistently */
    mlcc_expr *x = ir_var("x", DT_I64), *y = ir_var("y", DT_I64), *z = ir_var("z", DT_I64);
    CHECK(tir_expr_structural_equal(ir_add(x, ir_mul(x, y)), ir_add(y, ir_mul(y, z))));
    CHECK(!tir_expr_structural_equal(ir_add(x, ir_mul(x, y)), ir_add(y, ir_mul(z, y))));
    CHECK(!tir_expr_structural_equal(ir_add(x, ir_int(1)), ir_add(x, ir_int(2))));
    CHECK(!tir_expr_structural_equal(ir_float(DT_F32, 1.0), ir_float(DT_F64, 1.0)));
}

int main(void) {
    ir_scope_begin();
    test_func_golden();
    test_expr_golden();
    test_stmt_golden();
    test_structural();
    ir_scope_end();
    return test_finish();
}
