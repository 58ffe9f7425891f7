/* fuzz_arith.c - the arithmetic analyzer on expressions decoded from arbitrary bytes.
 *
 * The input is a small stack program (one op per byte) building an int64 expression over
 * four variables whose ranges the first bytes choose (one of them symbolic: j in [0, n)).
 * The simplified expression must evaluate like the original at points inside the ranges
 * (wherever the original neither divides by zero nor overflows), constant bounds must hold
 * there, and a condition the prover accepts must be true there. Any mismatch aborts. */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arith/analyzer.h"
#include "ir/printer.h"

#define MAX_STACK 32
#define MAX_OPS 200
#define POINTS 12

typedef struct reader {
    const uint8_t *p;
    size_t n, i;
} reader;

static int next_byte(reader *r) {
    return r->i < r->n ? r->p[r->i++] : -1;
}

static int64_t next_i64(reader *r) {
    uint64_t v = 0;
    for (int k = 0; k < 8; k++) v = v << 8 | (uint64_t)(next_byte(r) & 0xff);
    return (int64_t)v;
}

static void fail(const char *what, mlcc_expr *e, mlcc_expr *s) {
    char *es = tir_expr_to_string(e), *ss = tir_expr_to_string(s);
    fprintf(stderr, "fuzz_arith: %s\n  expr: %s\n  simplified: %s\n", what, es, ss);
    abort();
}

static void run(const uint8_t *data, size_t size) {
    reader r = {data, size, 0};
    mlcc_expr *x = ir_var("x", DT_I64), *y = ir_var("y", DT_I64), *n = ir_size_var("n"), *j = ir_var("j", DT_I64);
    mlcc_expr *vars[4] = {x, y, n, j};
    int64_t x_lo = (int8_t)next_byte(&r), x_ext = (next_byte(&r) & 63) + 1;
    int64_t y_lo = (int8_t)next_byte(&r), y_ext = (next_byte(&r) & 63) + 1;
    int64_t n_hi = (next_byte(&r) & 63) + 1;
    arith_analyzer *a = arith_new();
    arith_bind_bounds(a, x, x_lo, x_lo + x_ext - 1);
    arith_bind_range(a, y, ir_int(y_lo), ir_int(y_ext));
    arith_bind_bounds(a, n, 1, n_hi);
    arith_bind_range(a, j, ir_int(0), n);

    mlcc_expr *st[MAX_STACK];
    int sp = 0, op;
    for (int steps = 0; steps < MAX_OPS && (op = next_byte(&r)) >= 0; steps++) {
        int k = op % 16, arg = op / 16;
        if (k < 4) {
            if (sp < MAX_STACK) st[sp++] = vars[k];
        } else if (k == 4) {
            if (sp < MAX_STACK) st[sp++] = ir_int(arg - 8);
        } else if (k == 5) {
            if (sp < MAX_STACK) st[sp++] = ir_int(arg & 1 ? next_i64(&r) : (int8_t)next_byte(&r));
        } else if (k == 6 && sp >= 4) {
            sp -= 3; /* select(a < b, c, d) */
            st[sp - 1] = ir_select(ir_lt(st[sp - 1], st[sp]), st[sp + 1], st[sp + 2]);
        } else if (k == 10 || k == 11 || k == 14 || k == 15) {
            /* division by a positive constant 1..16 of the top of the stack */
            if (sp < 1) continue;
            mlcc_expr *d = ir_int(arg + 1);
            mlcc_expr_kind kind = k == 10 ? EXPR_FLOORDIV : k == 11 ? EXPR_FLOORMOD : k == 14 ? EXPR_DIV : EXPR_MOD;
            st[sp - 1] = ir_binary(kind, st[sp - 1], d);
        } else if (k >= 7 && sp >= 2) {
            static const mlcc_expr_kind bin[] = {EXPR_ADD, EXPR_SUB, EXPR_MUL, 0, 0, EXPR_MIN, EXPR_MAX};
            st[sp - 2] = ir_binary(bin[k - 7], st[sp - 2], st[sp - 1]);
            sp--;
        }
    }
    if (sp == 0) {
        arith_free(a);
        return;
    }
    mlcc_expr *e = st[sp - 1];
    mlcc_expr *cond = sp >= 2 ? ir_le(st[sp - 2], e) : ir_ge(e, ir_int(0));
    mlcc_expr *s = arith_simplify(a, e), *sc = arith_simplify(a, cond);
    int proved = arith_prove(a, cond);
    int64_t lo, hi;
    arith_const_bounds(a, e, &lo, &hi);
    uint64_t seed = 0x9e3779b97f4a7c15ULL ^ size;
    for (int p = 0; p < POINTS; p++) {
        int64_t v[4];
        seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
        uint64_t bits = seed >> 16;
        v[2] = 1 + (int64_t)(bits % (uint64_t)n_hi);
        v[0] = x_lo + (int64_t)((bits >> 8) % (uint64_t)x_ext);
        v[1] = y_lo + (int64_t)((bits >> 16) % (uint64_t)y_ext);
        v[3] = (int64_t)((bits >> 24) % (uint64_t)v[2]);
        int64_t want, got;
        if (arith_eval_int_strict(e, vars, v, 4, &want) == 0) {
            if (arith_eval_int(s, vars, v, 4, &got) != 0 || got != want) fail("value changed", e, s);
            if (want < lo || want > hi) fail("value outside bounds", e, s);
        }
        if (arith_eval_int_strict(cond, vars, v, 4, &want) == 0) {
            if (arith_eval_int(sc, vars, v, 4, &got) != 0 || got != want) fail("condition changed", cond, sc);
            if (proved && !want) fail("proved but false", cond, sc);
        }
    }
    arith_free(a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    ir_scope_begin();
    run(data, size);
    ir_scope_end();
    return 0;
}
