/* test_arith_property.c - property tests of the arithmetic analyzer against the reference
 * evaluator (arith_eval_int).
 *
 * Seeded random integer expression trees (+ - *, floordiv/floormod/truncdiv/truncmod by
 * constants and by variables, min, max, select, comparisons, and/or/not) over variables with
 * constant, symbolic (j in [0, n), k in [y, y + n)) and size-var ranges, plus conditions at
 * the edge of their bounds, are evaluated at many random points inside those ranges
 * (endpoints favoured); a fifth of the trees are simplified knowing nothing of the ranges:
 *   - simplify(e) has the value of e wherever e evaluates (no division by zero);
 *   - simplify is a normal form: simplifying its output again prints the same (where no
 *     coefficient overflows);
 *   - arith_const_bounds(e) = [lo, hi] contains every sampled value;
 *   - arith_prove(c) = 1 only for conditions true at every sampled point;
 *   - a quarter of the trees have constants near the int64 limits: wherever the original does
 *     not overflow, the simplified expression (evaluated with wrap-around) must agree.
 * MLCC_ARITH_SEED, MLCC_ARITH_TREES and MLCC_ARITH_DEPTH override the seed, the number of
 * trees (20000) and the depth range. */
#include <inttypes.h>
#include <stdint.h>
#include <stdlib.h>

#include "arith/analyzer.h"
#include "ir/printer.h"
#include "test.h"

#define NVARS 6
#define POINTS 24
#define MAX_REPORTS 8

enum { VX, VY, VN, VJ, VK, VZ };

static uint64_t rng_state;

static uint64_t rng(void) {
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1DULL;
}

/* uniform in [lo, hi] */
static int64_t rand_in(int64_t lo, int64_t hi) {
    return lo + (int64_t)(rng() % (uint64_t)(hi - lo + 1));
}

static mlcc_expr *vars[NVARS];

/* The ranges of one scenario (the analyzer is told them unless `blind`). */
typedef struct scenario {
    int blind;
    int64_t x_lo, x_hi;     /* x in [x_lo, x_hi] (arith_bind_bounds) */
    int64_t y_min, y_ext;   /* y in [y_min, y_min + y_ext) (constant range) */
    int64_t n_hi;           /* n: size var in [1, n_hi] (bounds) */
    int n_declared;         /* else the analyzer only knows n >= 0 (and j in [0, n)) */
    /* j in [0, n), k in [y, y + n): symbolic ranges; z: nothing known */
} scenario;

static void make_scenario(scenario *s) {
    s->blind = rng() % 5 == 0;
    s->x_lo = rand_in(-40, 10);
    s->x_hi = s->x_lo + rand_in(0, 50);
    s->y_min = rand_in(-20, 20);
    s->y_ext = rand_in(1, 40);
    s->n_hi = rand_in(1, 64);
    s->n_declared = rng() % 3 != 0;
}

static void bind_scenario(arith_analyzer *a, const scenario *s) {
    if (s->blind) return;
    arith_bind_bounds(a, vars[VX], s->x_lo, s->x_hi);
    arith_bind_range(a, vars[VY], ir_int(s->y_min), ir_int(s->y_ext));
    if (s->n_declared) arith_bind_bounds(a, vars[VN], 1, s->n_hi);
    arith_bind_range(a, vars[VJ], ir_int(0), vars[VN]);
    arith_bind_range(a, vars[VK], vars[VY], vars[VN]);
}

static int64_t pick(int64_t lo, int64_t hi) {
    uint64_t r = rng() % 10;
    if (r == 0) return lo;
    if (r == 1) return hi;
    return rand_in(lo, hi);
}

static void sample_point(const scenario *s, int64_t *v) {
    if (s->blind) {
        for (int i = 0; i < NVARS; i++) v[i] = pick(-60, 60);
        v[VN] = pick(0, 60); /* a size var is still >= 0 */
        return;
    }
    v[VX] = pick(s->x_lo, s->x_hi);
    v[VY] = pick(s->y_min, s->y_min + s->y_ext - 1);
    v[VN] = pick(1, s->n_hi);
    v[VJ] = pick(0, v[VN] - 1);
    v[VK] = pick(v[VY], v[VY] + v[VN] - 1);
    v[VZ] = pick(-80, 80);
}

static mlcc_expr *gen_int(int depth);

static mlcc_expr *gen_cond(int depth) {
    static const mlcc_expr_kind cmps[] = {EXPR_EQ, EXPR_NE, EXPR_LT, EXPR_LE, EXPR_GT, EXPR_GE};
    uint64_t r = rng() % 10;
    if (depth > 0 && r == 0) return ir_and(gen_cond(depth - 1), gen_cond(depth - 1));
    if (depth > 0 && r == 1) return ir_or(gen_cond(depth - 1), gen_cond(depth - 1));
    if (depth > 0 && r == 2) return ir_not(gen_cond(depth - 1));
    return ir_binary(cmps[rng() % 6], gen_int(depth), gen_int(depth));
}

/* In "big" trees constants reach toward the int64 limits, so coefficient folding, bounds and
 * divisions meet overflow; points where the original overflows are skipped (its value is not
 * defined there), every other point must still agree. */
static int big;

static int64_t big_const(void) {
    int64_t v;
    switch (rng() % 4) {
    case 0: v = (int64_t)(rng() >> 1); break;
    case 1: v = ((int64_t)1 << (rng() % 63)) + rand_in(-2, 2); break;
    case 2: v = INT64_MAX - rand_in(0, 3); break;
    default: v = INT64_MIN + rand_in(0, 3); break;
    }
    return rng() % 2 && v != INT64_MIN ? -v : v;
}

static mlcc_expr *gen_leaf(void) {
    if (rng() % 3 == 0) return ir_int(big && rng() % 2 ? big_const() : rand_in(-10, 10));
    return vars[rng() % NVARS];
}

static mlcc_expr *gen_int(int depth) {
    if (depth <= 0 || rng() % 6 == 0) return gen_leaf();
    static const int64_t divisors[] = {1, 2, 3, 4, 5, 7, 8, 16, 32};
    int64_t d = divisors[rng() % 9];
    if (big && rng() % 4 == 0) d = big_const() & INT64_MAX;
    if (d == 0) d = 1;
    if (rng() % 12 == 0) {
        /* a symbolic divisor (n, or a var that may be negative or 0) and multiples of it */
        mlcc_expr *d = rng() % 2 ? vars[VN] : vars[rng() % NVARS];
        mlcc_expr *num = rng() % 2 ? ir_add(ir_mul(gen_int(depth - 1), d), gen_int(depth - 1)) : gen_int(depth - 1);
        switch (rng() % 3) {
        case 0: return ir_floordiv(num, d);
        case 1: return ir_floormod(num, d);
        default: return ir_add(ir_mul(ir_floordiv(num, d), d), ir_floormod(num, d));
        }
    }
    switch (rng() % 16) {
    case 0:
    case 1:
    case 2: return ir_add(gen_int(depth - 1), gen_int(depth - 1));
    case 3:
    case 4: return ir_sub(gen_int(depth - 1), gen_int(depth - 1));
    case 5:
    case 6: return ir_mul(gen_int(depth - 1), ir_int(big && rng() % 2 ? big_const() : rand_in(-6, 6)));
    case 7: return ir_mul(gen_int(depth - 1), rng() % 2 ? gen_leaf() : gen_int(depth - 2));
    case 8:
    case 9: return ir_floordiv(gen_int(depth - 1), ir_int(d));
    case 10:
    case 11: return ir_floormod(gen_int(depth - 1), ir_int(d));
    case 12: return ir_min(gen_int(depth - 1), gen_int(depth - 1));
    case 13: return ir_max(gen_int(depth - 1), gen_int(depth - 1));
    case 14: return ir_select(gen_cond(depth - 2), gen_int(depth - 1), gen_int(depth - 1));
    default: return ir_binary(rng() % 2 ? EXPR_DIV : EXPR_MOD, gen_int(depth - 1), ir_int(d));
    }
}

/* A condition at the edge of what is true: e compared with a constant next to one of its
 * bounds, or with itself shifted by -1, 0 or 1. Half of these are provable, the rest false at
 * some point, so they probe the prover where a wrong answer would show. */
static mlcc_expr *gen_edge_cond(arith_analyzer *a, int depth) {
    static const mlcc_expr_kind cmps[] = {EXPR_EQ, EXPR_NE, EXPR_LT, EXPR_LE, EXPR_GT, EXPR_GE};
    mlcc_expr *e = gen_int(depth);
    mlcc_expr_kind k = cmps[rng() % 6];
    if (rng() % 3 == 0) return ir_binary(k, e, ir_add(e, ir_int(rand_in(-1, 1))));
    int64_t lo, hi;
    arith_const_bounds(a, e, &lo, &hi);
    int64_t edge = rng() % 2 ? lo : hi;
    if (edge <= INT64_MIN + 2 || edge >= INT64_MAX - 2) edge = 0; /* edge + 2 must not overflow */
    mlcc_expr *c = ir_binary(k, e, ir_int(edge + rand_in(-1, 1)));
    if (rng() % 2) return c;
    /* two conditions on one expression, joined: implied, exclusive or covering pairs */
    mlcc_expr *e2 = rng() % 2 ? e : ir_add(e, ir_int(rand_in(-2, 2)));
    mlcc_expr *c2 = ir_binary(cmps[rng() % 6], ir_int(edge + rand_in(-2, 2)), e2);
    return rng() % 2 ? ir_and(c, c2) : ir_or(c2, c);
}

static int reports;

static void report(const char *what, mlcc_expr *e, mlcc_expr *s, const int64_t *v, const char *detail) {
    test_checks_failed++;
    if (reports++ >= MAX_REPORTS) return;
    char *es = tir_expr_to_string(e);
    char *ss = s ? tir_expr_to_string(s) : NULL;
    fprintf(stderr, "FAIL %s\n  expr: %s\n", what, es);
    if (ss) fprintf(stderr, "  simplified: %s\n", ss);
    if (v)
        fprintf(stderr, "  at x=%" PRId64 " y=%" PRId64 " n=%" PRId64 " j=%" PRId64 " k=%" PRId64 " z=%" PRId64 "\n",
                v[0], v[1], v[2], v[3], v[4], v[5]);
    if (detail) fprintf(stderr, "  %s\n", detail);
    free(es);
    free(ss);
}

typedef struct stats {
    long trees, points, proved, bounded, changed;
} stats;

static void check_tree(arith_analyzer *a, const scenario *sc, mlcc_expr *e, int is_cond, stats *st) {
    mlcc_expr *s = arith_simplify(a, e);
    char *s1 = tir_expr_to_string(s);
    char *s2 = tir_expr_to_string(arith_simplify(a, s));
    char *orig = tir_expr_to_string(e);
    /* (a coefficient overflow makes the simplifier keep structure, which need not be a fixed
     * point: the normal-form property is checked where constants stay small) */
    if (strcmp(s1, s2) != 0 && !big) {
        char msg[2048];
        snprintf(msg, sizeof msg, "simplified again: %.1900s", s2);
        report("not a normal form", e, s, NULL, msg);
    } else {
        test_checks_passed++;
    }
    if (strcmp(s1, orig) != 0) st->changed++;
    free(s1);
    free(s2);
    free(orig);

    int proved = is_cond && arith_prove(a, e);
    int64_t lo = INT64_MIN, hi = INT64_MAX;
    if (!is_cond) arith_const_bounds(a, e, &lo, &hi);
    st->proved += proved;
    st->bounded += lo != INT64_MIN || hi != INT64_MAX;
    st->trees++;
    for (int p = 0; p < POINTS; p++) {
        int64_t v[NVARS], want, got;
        sample_point(sc, v);
        /* skip division by zero and overflow in the original */
        if (arith_eval_int_strict(e, vars, v, NVARS, &want) != 0) continue;
        st->points++;
        if (arith_eval_int(s, vars, v, NVARS, &got) != 0) {
            report("simplified does not evaluate", e, s, v, NULL);
            continue;
        }
        char msg[128];
        snprintf(msg, sizeof msg, "original %" PRId64 ", simplified %" PRId64, want, got);
        if (got != want) report("value changed", e, s, v, msg);
        else test_checks_passed++;
        if (proved && !want) report("proved but false", e, s, v, NULL);
        if (want < lo || want > hi) {
            snprintf(msg, sizeof msg, "value %" PRId64 " outside bounds [%" PRId64 ", %" PRId64 "]", want, lo, hi);
            report("bounds", e, s, v, msg);
        }
    }
}

int main(void) {
    const char *seed_env = getenv("MLCC_ARITH_SEED"), *trees_env = getenv("MLCC_ARITH_TREES");
    uint64_t seed = seed_env ? strtoull(seed_env, NULL, 0) : 0x5eed2026ULL;
    long ntrees = trees_env ? strtol(trees_env, NULL, 0) : 20000;
    const char *depth_env = getenv("MLCC_ARITH_DEPTH");
    int max_depth = depth_env ? atoi(depth_env) : 4;
    if (max_depth < 1) max_depth = 1;
    rng_state = seed ? seed : 1;
    vars[VX] = ir_var("x", DT_I64);
    vars[VY] = ir_var("y", DT_I64);
    vars[VN] = ir_size_var("n");
    vars[VJ] = ir_var("j", DT_I64);
    vars[VK] = ir_var("k", DT_I64);
    vars[VZ] = ir_var("z", DT_I64);
    stats st = {0};
    for (long t = 0; t < ntrees; t++) {
        ir_scope_begin();
        scenario sc;
        make_scenario(&sc);
        arith_analyzer *a = arith_new();
        bind_scenario(a, &sc);
        big = rng() % 4 == 0;
        int depth = 2 + (int)(rng() % (uint64_t)max_depth);
        int kind = (int)(rng() % 6);
        mlcc_expr *e = kind < 4 ? gen_int(depth) : kind == 4 ? gen_cond(depth) : gen_edge_cond(a, depth);
        int is_cond = kind >= 4;
        check_tree(a, &sc, e, is_cond, &st);
        arith_free(a);
        ir_scope_end();
    }
    printf("seed %#" PRIx64 ": %ld trees (%ld changed by simplify), %ld points evaluated, %ld conditions "
           "proved, %ld expressions with a finite bound\n",
           seed, st.trees, st.changed, st.points, st.proved, st.bounded);
    /* the test must have exercised something */
    CHECK(st.points > st.trees * POINTS / 3);
    CHECK(st.proved > 0);
    CHECK(st.bounded > st.trees / 4);
    return test_finish();
}
