/* test_arith_simplify.c - golden tests of the arithmetic analyzer: simplified expressions
 * compared with their expected printed form, proofs that must succeed, proofs that must not
 * (false or unknowable conditions), and constant bounds. */
#include <stdint.h>
#include <stdlib.h>

#include "arith/analyzer.h"
#include "ir/printer.h"
#include "test.h"

static mlcc_expr *x, *y, *z, *n, *m, *i, *j, *k, *f;

#define I(v) ir_int(v)
#define ADD ir_add
#define SUB ir_sub
#define MUL ir_mul
#define FDIV ir_floordiv
#define FMOD ir_floormod
#define MIN ir_min
#define MAX ir_max

static void expect(arith_analyzer *a, mlcc_expr *e, const char *want, int line) {
    mlcc_expr *s = arith_simplify(a, e);
    char *got = tir_expr_to_string(s);
    if (strcmp(got, want) != 0) {
        char *in = tir_expr_to_string(e);
        fprintf(stderr, "line %d: simplify(%s)\n", line, in);
        free(in);
    }
    CHECK_EQ_STR(got, want);
    /* a normal form: simplifying again changes nothing */
    char *again = tir_expr_to_string(arith_simplify(a, s));
    CHECK_EQ_STR(again, want);
    free(again);
    free(got);
}
#define EXPECT(a, e, want) expect(a, e, want, __LINE__)

static void expect_prove(arith_analyzer *a, mlcc_expr *cond, int want, int line) {
    int got = arith_prove(a, cond);
    if (got != want) {
        char *s = tir_expr_to_string(cond);
        fprintf(stderr, "line %d: prove(%s) = %d, expected %d\n", line, s, got, want);
        free(s);
    }
    CHECK_EQ_INT(got, want);
}
#define PROVE(a, c) expect_prove(a, c, 1, __LINE__)
#define NO_PROOF(a, c) expect_prove(a, c, 0, __LINE__)

static void make_vars(void) {
    x = ir_var("x", DT_I64);
    y = ir_var("y", DT_I64);
    z = ir_var("z", DT_I64);
    n = ir_size_var("n");
    m = ir_size_var("m");
    i = ir_var("i", DT_I64);
    j = ir_var("j", DT_I64);
    k = ir_var("k", DT_I64);
    f = ir_var("f", DT_I64);
}

/* Unbounded variables: only identities valid for all integers. */
static void test_affine(void) {
    arith_analyzer *a = arith_new();
    EXPECT(a, SUB(ADD(MUL(x, I(4)), y), MUL(x, I(4))), "y");
    EXPECT(a, ADD(ADD(x, I(3)), I(4)), "x + 7");
    EXPECT(a, SUB(ADD(x, I(3)), I(5)), "x - 2");
    EXPECT(a, ADD(y, MUL(x, I(4))), "x * 4 + y");
    EXPECT(a, ADD(MUL(I(2), ADD(x, y)), MUL(I(3), SUB(x, y))), "x * 5 - y");
    EXPECT(a, SUB(x, x), "0");
    EXPECT(a, SUB(I(0), x), "x * (-1)");
    EXPECT(a, SUB(I(5), x), "5 - x");
    EXPECT(a, MUL(MUL(x, I(3)), I(4)), "x * 12");
    EXPECT(a, MUL(I(6), I(7)), "42");
    EXPECT(a, ADD(ADD(z, x), y), "x + y + z");
    EXPECT(a, ADD(ADD(y, z), x), "x + y + z");
    EXPECT(a, SUB(SUB(I(0), x), y), "x * (-1) - y");
    EXPECT(a, ADD(SUB(n, I(1)), I(1)), "n");
    EXPECT(a, ADD(MUL(i, I(32)), j), "i * 32 + j");
    EXPECT(a, ADD(j, MUL(I(32), i)), "i * 32 + j");
    /* products: flattened, sorted, expanded when small */
    EXPECT(a, MUL(y, x), "x * y");
    EXPECT(a, SUB(MUL(MUL(x, y), z), MUL(z, MUL(y, x))), "0");
    EXPECT(a, SUB(MUL(ADD(x, I(1)), y), MUL(x, y)), "y");
    EXPECT(a, MUL(ADD(x, I(1)), ADD(x, I(-1))), "x * x - 1");
    /* row-major flattening with symbolic strides: products first */
    EXPECT(a, ADD(j, MUL(i, n)), "i * n + j");
    EXPECT(a, ADD(ADD(j, MUL(i, I(64))), MUL(MUL(k, n), I(64))), "k * n * 64 + i * 64 + j");
    EXPECT(a, ADD(MUL(j, I(4)), MUL(n, i)), "i * n + j * 4");
    EXPECT(a, MUL(MUL(x, I(4)), MUL(y, I(2))), "x * y * 8");
    /* a DAG whose tree is 2^60 nodes: shared subtrees are simplified once */
    mlcc_expr *d = x;
    for (int t = 0; t < 60; t++) d = ADD(d, d);
    char *ds = tir_expr_to_string(arith_simplify(a, d));
    CHECK_EQ_STR(ds, "x * 1152921504606846976");
    free(ds);
    arith_free(a);
}

static void test_divmod(void) {
    arith_analyzer *a = arith_new();
    /* valid for every integer value */
    EXPECT(a, FDIV(ADD(MUL(x, I(8)), y), I(8)), "x + y // 8");
    EXPECT(a, FMOD(ADD(MUL(x, I(8)), y), I(8)), "y % 8");
    EXPECT(a, ADD(MUL(FDIV(x, I(4)), I(4)), FMOD(x, I(4))), "x");
    EXPECT(a, ADD(FMOD(x, I(4)), MUL(FDIV(x, I(4)), I(4))), "x");
    EXPECT(a, SUB(x, MUL(FDIV(x, I(4)), I(4))), "x % 4");
    EXPECT(a, FDIV(FDIV(x, I(4)), I(8)), "x // 32");
    /* x + 4 could overflow where x // 4 + 1 does not: rewritten only for bounded x (below) */
    EXPECT(a, FDIV(ADD(FDIV(x, I(4)), I(1)), I(8)), "(x // 4 + 1) // 8");
    EXPECT(a, FMOD(FMOD(x, I(32)), I(8)), "x % 8");
    EXPECT(a, FMOD(ADD(FMOD(x, I(8)), I(1)), I(4)), "(x + 1) % 4");
    EXPECT(a, FDIV(ADD(x, I(16)), I(8)), "x // 8 + 2");
    EXPECT(a, FDIV(ADD(x, I(19)), I(8)), "(x + 19) // 8");
    EXPECT(a, FMOD(ADD(x, I(19)), I(8)), "(x + 3) % 8");
    EXPECT(a, FDIV(MUL(x, I(4)), I(8)), "x // 2");
    EXPECT(a, FMOD(MUL(x, I(4)), I(8)), "x % 2 * 4");
    EXPECT(a, FDIV(MUL(x, I(8)), I(4)), "x * 2");
    EXPECT(a, FMOD(MUL(x, I(8)), I(4)), "0");
    EXPECT(a, FDIV(I(-7), I(2)), "-4");
    EXPECT(a, FMOD(I(-7), I(2)), "1");
    EXPECT(a, FDIV(ADD(n, I(3)), I(4)), "(n + 3) // 4");
    EXPECT(a, MUL(FDIV(ADD(n, I(3)), I(4)), I(4)), "(n + 3) // 4 * 4");
    EXPECT(a, FDIV(x, I(1)), "x");
    EXPECT(a, FDIV(x, I(0)), "x // 0"); /* left for evaluation to report */
    /* truncating division is not floor division for negative values */
    EXPECT(a, ir_div(ADD(MUL(x, I(8)), y), I(8)), "T.truncdiv(x * 8 + y, 8)");
    EXPECT(a, ir_div(n, I(4)), "n // 4");
    EXPECT(a, ir_binary(EXPR_MOD, ADD(n, I(8)), I(4)), "n % 4");
    /* with ranges */
    arith_bind_bounds(a, x, -1000000, 1000000);
    EXPECT(a, FDIV(ADD(FDIV(x, I(4)), I(1)), I(8)), "(x + 4) // 32");
    EXPECT(a, FDIV(ADD(x, I(19)), I(8)), "(x + 3) // 8 + 2");
    EXPECT(a, ir_eq(SUB(x, y), I(1)), "x - y == 1"); /* y is still unbounded */
    arith_bind_range(a, y, I(0), I(8));
    EXPECT(a, ir_eq(SUB(x, y), I(1)), "x == y + 1");
    arith_bind_range(a, z, I(0), I(4));
    EXPECT(a, FDIV(ADD(MUL(x, I(8)), y), I(8)), "x");
    EXPECT(a, FMOD(ADD(MUL(x, I(8)), y), I(8)), "y");
    EXPECT(a, FDIV(ADD(ADD(MUL(x, I(8)), z), I(3)), I(8)), "x");
    EXPECT(a, FMOD(ADD(ADD(MUL(x, I(8)), z), I(4)), I(8)), "z + 4");
    EXPECT(a, FDIV(SUB(ADD(MUL(x, I(8)), y), I(8)), I(8)), "x - 1");
    EXPECT(a, FDIV(y, I(8)), "0");
    EXPECT(a, FMOD(ADD(y, I(16)), I(8)), "y");
    /* a divisor's factor 8 below which the other terms stay: (x * 8 + y) over 32 is x over 4 */
    EXPECT(a, FDIV(ADD(MUL(x, I(8)), y), I(32)), "x // 4");
    EXPECT(a, FMOD(ADD(MUL(x, I(8)), y), I(32)), "x % 4 * 8 + y");
    EXPECT(a, FDIV(ADD(ADD(MUL(x, I(8)), z), I(3)), I(32)), "x // 4");
    EXPECT(a, FDIV(SUB(ADD(MUL(x, I(8)), y), I(8)), I(32)), "(x + 3) // 4 - 1");
    EXPECT(a, FMOD(SUB(ADD(MUL(x, I(8)), y), I(8)), I(32)), "(x + 3) % 4 * 8 + y");
    EXPECT(a, FDIV(ADD(MUL(x, I(8)), ADD(y, I(1))), I(32)), "(x * 8 + y + 1) // 32"); /* y + 1 reaches 8 */
    /* a fused loop f in [0, 128) split back as (f // 32, f % 32) */
    arith_bind_range(a, f, I(0), I(128));
    EXPECT(a, FDIV(f, I(32)), "f // 32");
    EXPECT(a, ADD(MUL(FDIV(f, I(32)), I(32)), FMOD(f, I(32))), "f");
    EXPECT(a, FDIV(FMOD(f, I(32)), I(32)), "0");
    EXPECT(a, FDIV(f, I(128)), "0");
    EXPECT(a, ir_div(f, I(32)), "f // 32");
    EXPECT(a, ir_binary(EXPR_MOD, f, I(32)), "f % 32");
    /* symbolic divisors: any divisor d != 0 for the identities, ranges for the rest */
    EXPECT(a, ADD(MUL(FDIV(x, n), n), FMOD(x, n)), "x");
    EXPECT(a, SUB(x, MUL(FDIV(x, n), n)), "x % n");
    /* splitting needs n >= 1: with n == -1 a new numerator INT64_MIN would trap */
    EXPECT(a, FDIV(ADD(MUL(f, n), z), n), "(f * n + z) // n");
    arith_bind_bounds(a, n, 1, 1 << 20);
    EXPECT(a, FDIV(ADD(MUL(f, n), z), n), "f + z // n");
    EXPECT(a, FMOD(ADD(MUL(f, n), z), n), "z % n");
    EXPECT(a, FDIV(MUL(f, MUL(n, I(4))), MUL(n, I(2))), "f * 2");
    EXPECT(a, FDIV(x, n), "x // n");
    arith_bind_range(a, j, I(0), n);
    EXPECT(a, FDIV(j, n), "0");
    EXPECT(a, FMOD(j, n), "j");
    EXPECT(a, FDIV(ADD(MUL(x, n), j), n), "x");
    EXPECT(a, FMOD(ADD(MUL(x, n), j), n), "j");
    /* n >= 1 follows from j having a value in [0, n), with no bounds declared for m */
    mlcc_expr *jm = ir_var("jm", DT_I64);
    arith_bind_range(a, jm, I(0), m);
    EXPECT(a, FDIV(ADD(MUL(x, m), jm), m), "x");
    EXPECT(a, FMOD(ADD(MUL(x, m), jm), m), "jm");
    EXPECT(a, FDIV(ADD(MUL(x, m), z), m), "(m * x + z) // m");
    /* i * 4 + k over i in [0, 8), k in [0, 4): the split's inverse */
    arith_bind_range(a, i, I(0), I(8));
    arith_bind_range(a, k, I(0), I(4));
    EXPECT(a, FDIV(ADD(MUL(i, I(4)), k), I(4)), "i");
    EXPECT(a, FMOD(ADD(MUL(i, I(4)), k), I(4)), "k");
    EXPECT(a, FDIV(ADD(MUL(i, I(4)), k), I(32)), "0");
    arith_free(a);
}

static void test_minmax(void) {
    arith_analyzer *a = arith_new();
    EXPECT(a, MIN(x, ADD(x, I(1))), "x");
    EXPECT(a, MAX(x, ADD(x, I(1))), "x + 1");
    EXPECT(a, MIN(ADD(x, I(5)), SUB(x, I(2))), "x - 2");
    EXPECT(a, MIN(I(3), I(9)), "3");
    EXPECT(a, MAX(I(3), I(9)), "9");
    EXPECT(a, MIN(y, x), "T.min(x, y)");
    EXPECT(a, MIN(x, y), "T.min(x, y)");
    EXPECT(a, MIN(x, MIN(y, x)), "T.min(x, y)");
    EXPECT(a, MIN(MIN(x, I(4)), MIN(y, I(2))), "T.min(T.min(x, y), 2)");
    EXPECT(a, MIN(x, MAX(x, y)), "x");
    EXPECT(a, MAX(MIN(x, y), x), "x");
    EXPECT(a, MAX(n, I(0)), "n");
    EXPECT(a, MIN(n, I(-1)), "-1");
    EXPECT(a, SUB(MIN(x, y), MIN(y, x)), "0");
    arith_bind_range(a, i, I(0), I(8));
    EXPECT(a, MIN(i, I(7)), "i");
    EXPECT(a, MIN(i, I(6)), "T.min(i, 6)");
    EXPECT(a, MAX(MUL(i, I(4)), I(28)), "28");
    arith_bind_range(a, j, I(0), n);
    EXPECT(a, MIN(j, n), "j");
    EXPECT(a, MIN(j, SUB(n, I(1))), "j");
    EXPECT(a, MAX(j, n), "n");
    arith_free(a);
}

static void test_compare_select_logic(void) {
    arith_analyzer *a = arith_new();
    EXPECT(a, ir_lt(x, ADD(x, I(1))), "True");
    EXPECT(a, ir_lt(ADD(x, I(1)), x), "False");
    EXPECT(a, ir_eq(ADD(x, y), ADD(y, x)), "True");
    EXPECT(a, ir_ne(ADD(x, y), ADD(y, x)), "False");
    EXPECT(a, ir_lt(ADD(x, I(1)), I(6)), "x < 5");
    EXPECT(a, ir_le(ADD(x, I(1)), I(6)), "x < 6");
    EXPECT(a, ir_lt(x, ADD(y, I(1))), "x <= y");
    EXPECT(a, ir_lt(ADD(MUL(i, I(4)), j), n), "i * 4 + j < n");
    EXPECT(a, ir_ge(x, I(3)), "x >= 3");
    EXPECT(a, ir_gt(x, I(3)), "x >= 4");
    EXPECT(a, ir_lt(MUL(x, I(4)), I(8)), "x < 2");
    EXPECT(a, ir_lt(MUL(x, I(4)), I(9)), "x < 3");
    EXPECT(a, ir_eq(MUL(x, I(4)), I(9)), "False");
    EXPECT(a, ir_eq(MUL(x, I(4)), I(8)), "x == 2");
    EXPECT(a, ir_eq(SUB(x, y), I(1)), "x - y == 1"); /* y + 1 might overflow */
    EXPECT(a, ir_ne(I(3), x), "x != 3");
    EXPECT(a, ir_ge(n, I(0)), "True");
    EXPECT(a, ir_lt(n, I(0)), "False");
    EXPECT(a, ir_ge(n, I(1)), "n >= 1");
    EXPECT(a, ir_not(ir_lt(x, y)), "y <= x");
    EXPECT(a, ir_not(ir_not(ir_lt(x, y))), "x < y");
    EXPECT(a, ir_select(ir_lt(x, ADD(x, I(1))), y, z), "y");
    EXPECT(a, ir_select(ir_lt(x, y), ADD(z, I(1)), ADD(I(1), z)), "z + 1");
    EXPECT(a, ir_select(ir_lt(x, y), z, x), "T.Select(x < y, z, x)");
    EXPECT(a, ir_and(ir_lt(x, ADD(x, I(1))), ir_lt(x, y)), "x < y");
    EXPECT(a, ir_and(ir_lt(x, y), ir_gt(x, ADD(x, I(1)))), "False");
    EXPECT(a, ir_or(ir_lt(x, y), ir_le(x, x)), "True");
    EXPECT(a, ir_or(ir_lt(x, y), ir_lt(y, x)), "x < y or y < x");
    /* chains: implied inequalities dropped, complementary pairs decided */
    EXPECT(a, ir_and(ir_lt(x, I(5)), ir_lt(x, I(3))), "x < 3");
    EXPECT(a, ir_or(ir_lt(x, I(5)), ir_lt(x, I(3))), "x < 5");
    EXPECT(a, ir_and(ir_and(ir_lt(x, y), ir_ge(z, I(0))), ir_le(x, y)), "x < y and z >= 0");
    EXPECT(a, ir_and(ir_lt(x, I(3)), ir_ge(x, I(3))), "False");
    EXPECT(a, ir_and(ir_lt(x, I(3)), ir_ge(x, I(2))), "x < 3 and x >= 2");
    EXPECT(a, ir_or(ir_lt(x, I(3)), ir_ge(x, I(3))), "True");
    EXPECT(a, ir_or(ir_lt(x, I(3)), ir_ge(x, I(4))), "x < 3 or x >= 4");
    EXPECT(a, ir_and(ir_eq(x, y), ir_eq(y, x)), "x == y");
    EXPECT(a, ir_and(ir_lt(ADD(MUL(i, I(4)), j), n), ir_lt(ADD(j, MUL(I(4), i)), n)), "i * 4 + j < n");
    arith_free(a);
}

/* Loads and float math keep their structure; their integer parts are simplified. */
static void test_structure_kept(void) {
    arith_analyzer *a = arith_new();
    mlcc_buffer *A = ir_buffer_v("A", DT_F32, n, NULL);
    mlcc_expr *idx = ADD(MUL(FDIV(x, I(4)), I(4)), FMOD(x, I(4)));
    mlcc_expr *ld = ir_load(A, &idx, 1);
    EXPECT(a, ld, "A[x]");
    EXPECT(a, ir_add(ld, ir_float(DT_F32, 1.0)), "A[x] + T.float32(1.0)");
    EXPECT(a, ir_call1("exp", ir_mul(ld, ld)), "T.exp(A[x] * A[x])");
    mlcc_buffer *P = ir_buffer_v("page_table", DT_I64, n, NULL);
    mlcc_expr *pidx = FDIV(ADD(MUL(j, I(16)), I(3)), I(16));
    mlcc_expr *pl = ir_load(P, &pidx, 1);
    EXPECT(a, ADD(MUL(pl, I(16)), FMOD(j, I(16))), "page_table[j] * 16 + j % 16");
    EXPECT(a, SUB(ADD(pl, x), pl), "x");
    /* int32 arithmetic is left alone (its overflow differs from int64) */
    mlcc_expr *w = ir_var("w", DT_I32);
    EXPECT(a, ir_sub(ir_add(w, ir_const_int(DT_I32, 1)), ir_const_int(DT_I32, 1)), "w + T.int32(1) - T.int32(1)");
    arith_free(a);
}

static void test_prove(void) {
    arith_analyzer *a = arith_new();
    arith_bind_bounds(a, n, 1, 4096);
    arith_bind_range(a, j, I(0), n);
    arith_bind_range(a, i, I(0), I(16));
    arith_bind_range(a, k, I(0), I(4));
    PROVE(a, ir_lt(j, n));
    PROVE(a, ir_le(j, SUB(n, I(1))));
    PROVE(a, ir_ge(j, I(0)));
    PROVE(a, ir_ge(n, I(1)));
    PROVE(a, ir_le(n, I(4096)));
    PROVE(a, ir_lt(ADD(MUL(i, I(4)), k), I(64)));
    PROVE(a, ir_ge(ADD(MUL(i, I(4)), k), I(0)));
    PROVE(a, ir_eq(FDIV(ADD(MUL(i, I(4)), k), I(4)), i));
    PROVE(a, ir_le(MIN(j, I(7)), j));
    PROVE(a, ir_le(MIN(n, I(4)), n));
    PROVE(a, ir_ge(MAX(j, I(3)), I(3)));
    PROVE(a, ir_ge(MUL(FDIV(ADD(n, I(3)), I(4)), I(4)), n));
    PROVE(a, ir_lt(MUL(FDIV(ADD(n, I(3)), I(4)), I(4)), ADD(n, I(4))));
    PROVE(a, ir_le(MUL(n, I(4096)), MUL(n, I(8192))));
    PROVE(a, ir_and(ir_lt(j, n), ir_ge(j, I(0))));
    PROVE(a, ir_or(ir_lt(j, I(0)), ir_lt(j, n)));
    PROVE(a, ir_ne(n, I(0)));
    PROVE(a, ir_lt(FMOD(x, I(8)), I(8)));
    PROVE(a, ir_ge(FMOD(x, I(8)), I(0)));
    PROVE(a, ir_le(SUB(MUL(FDIV(x, I(8)), I(8)), x), I(0)));
    PROVE(a, ir_lt(ir_select(ir_lt(x, y), j, I(0)), n));
    PROVE(a, ir_eq(ADD(MUL(FDIV(j, I(16)), I(16)), FMOD(j, I(16))), j));
    /* a fused loop over n * 32 and a split by 4 of an extent n (non-divisible) */
    mlcc_expr *fu = ir_var("fused", DT_I64), *io = ir_var("io", DT_I64), *ii = ir_var("ii", DT_I64);
    arith_bind_range(a, fu, I(0), MUL(n, I(32)));
    arith_bind_range(a, io, I(0), FDIV(ADD(n, I(3)), I(4)));
    arith_bind_range(a, ii, I(0), I(4));
    PROVE(a, ir_lt(FDIV(fu, I(32)), n));
    PROVE(a, ir_lt(FMOD(fu, I(32)), I(32)));
    PROVE(a, ir_lt(ADD(MUL(io, I(4)), ii), ADD(n, I(3))));
    PROVE(a, ir_lt(io, n));
    NO_PROOF(a, ir_lt(ADD(MUL(io, I(4)), ii), n));
    NO_PROOF(a, ir_lt(FDIV(fu, I(32)), SUB(n, I(1))));
    /* false ones */
    NO_PROOF(a, ir_lt(j, SUB(n, I(1))));
    NO_PROOF(a, ir_gt(n, I(1)));
    NO_PROOF(a, ir_lt(ADD(MUL(i, I(4)), k), I(63)));
    NO_PROOF(a, ir_eq(x, y));
    NO_PROOF(a, ir_lt(x, ADD(x, I(-1))));
    NO_PROOF(a, ir_ge(MIN(j, I(7)), I(1)));
    NO_PROOF(a, ir_and(ir_lt(j, n), ir_lt(x, I(0))));
    /* true but beyond interval reasoning: must answer 0, never crash */
    NO_PROOF(a, ir_ge(MUL(x, x), I(0)));
    NO_PROOF(a, ir_lt(x, I(0)));
    arith_free(a);
}

static void expect_bounds(arith_analyzer *a, mlcc_expr *e, int64_t lo, int64_t hi, int line) {
    int64_t glo, ghi;
    arith_const_bounds(a, e, &glo, &ghi);
    if (glo != lo || ghi != hi) fprintf(stderr, "line %d: bounds [%lld, %lld]\n", line, (long long)glo, (long long)ghi);
    CHECK_EQ_INT(glo, lo);
    CHECK_EQ_INT(ghi, hi);
}
#define BOUNDS(a, e, lo, hi) expect_bounds(a, e, lo, hi, __LINE__)

static void test_bounds(void) {
    arith_analyzer *a = arith_new();
    arith_bind_bounds(a, n, 1, 1024);
    arith_bind_range(a, j, I(0), n);
    arith_bind_range(a, i, I(0), I(16));
    arith_bind_range(a, k, I(-4), I(8));
    BOUNDS(a, I(5), 5, 5);
    BOUNDS(a, x, INT64_MIN, INT64_MAX);
    BOUNDS(a, m, 0, INT64_MAX);
    BOUNDS(a, i, 0, 15);
    BOUNDS(a, k, -4, 3);
    BOUNDS(a, j, 0, 1023);
    BOUNDS(a, SUB(j, n), -1024, -1);
    BOUNDS(a, ADD(MUL(i, I(4)), k), -4, 63);
    BOUNDS(a, SUB(I(10), MUL(i, I(2))), -20, 10);
    BOUNDS(a, FDIV(k, I(2)), -2, 1);
    BOUNDS(a, FMOD(k, I(8)), 0, 7);
    BOUNDS(a, FMOD(i, I(32)), 0, 15);
    BOUNDS(a, FMOD(x, I(32)), 0, 31);
    BOUNDS(a, ir_div(k, I(2)), -2, 1);
    BOUNDS(a, ir_binary(EXPR_MOD, k, I(3)), -2, 2);
    BOUNDS(a, MIN(i, k), -4, 3);
    BOUNDS(a, MAX(i, k), 0, 15);
    BOUNDS(a, MUL(i, k), -60, 45);
    BOUNDS(a, ir_select(ir_lt(x, y), i, k), -4, 15);
    BOUNDS(a, ir_lt(x, y), 0, 1);
    BOUNDS(a, FDIV(ADD(n, I(3)), I(4)), 1, 256);
    BOUNDS(a, SUB(x, x), 0, 0);
    BOUNDS(a, ADD(x, I(1)), INT64_MIN, INT64_MAX);
    BOUNDS(a, MUL(m, I(4)), 0, INT64_MAX);
    arith_free(a);
}

int main(void) {
    make_vars();
    test_affine();
    test_divmod();
    test_minmax();
    test_compare_select_logic();
    test_structure_kept();
    test_prove();
    test_bounds();
    return test_finish();
}
