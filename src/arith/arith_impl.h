/* arith_impl.h - internals shared by the files of the arithmetic analyzer (not a public API).
 *
 * The analyzer works on a canonical form of int64 index expressions: a linear combination
 *     c + k1 * t1 + k2 * t2 + ...
 * of "atoms" ti (vars, products of atoms, floordiv/floormod by constants, min/max, select,
 * loads, ...), each atom itself simplified. Sums are built, compared and bounded in that form
 * (linear.c), then printed back to expressions in a deterministic order.
 *
 * Bounds use INT64_MIN as "no lower bound" and INT64_MAX as "no upper bound"; any bound
 * computation that overflows gives up to those values (never a wrong finite bound). */
#ifndef MLCC_ARITH_IMPL_H
#define MLCC_ARITH_IMPL_H

#include <stdint.h>

#include "arith/analyzer.h"
#include "support/hashmap.h"

#define ARITH_NEG_INF INT64_MIN
#define ARITH_POS_INF INT64_MAX

/* What is known about one variable. */
typedef struct arith_var_info {
    int64_t lo, hi;          /* from arith_bind_bounds (or unbounded) */
    mlcc_expr *min, *max;    /* from arith_bind_range: inclusive symbolic range, or NULL */
    int symbolic;            /* min or max mentions other variables */
} arith_var_info;

struct arith_analyzer {
    mlcc_u64map vars; /* var pointer -> arith_var_info* */
    int bound_depth;  /* recursion guard for bounds through symbolic ranges */
    int prove_budget; /* relaxation steps left in the current proof */
    mlcc_u64map *memo; /* during one top-level simplification: node -> its simplified form, so
                          a shared subtree (a DAG) is simplified once */
};

/* ---- order.c ---- */
int arith_expr_compare(const mlcc_expr *a, const mlcc_expr *b);

/* ---- linear.c: canonical sums ---- */
typedef struct arith_term {
    mlcc_expr *atom;
    int64_t coef;
} arith_term;

typedef struct arith_lin {
    int64_t c;
    arith_term *terms;
    int n, cap;
    int overflow; /* a coefficient overflowed: the form is unusable */
} arith_lin;

void lin_init(arith_lin *l);
void lin_free(arith_lin *l);
void lin_copy(arith_lin *dst, const arith_lin *src);
void lin_add_const(arith_lin *l, int64_t v, int64_t scale);
void lin_add_term(arith_lin *l, mlcc_expr *atom, int64_t coef);
/* Adds scale * e, decomposing e's sums and constant multiples (e must be simplified). */
void lin_add_expr(arith_lin *l, mlcc_expr *e, int64_t scale);
void lin_add_lin(arith_lin *l, const arith_lin *o, int64_t scale);
/* Sorts atoms, merges like terms, drops zeros and fuses (x // c) * c + x % c into x. */
void lin_normalize(arith_lin *l);
int lin_is_const(const arith_lin *l);
/* The expression of a normalized form, terms in the printing order. */
mlcc_expr *lin_to_expr(const arith_lin *l);
/* The canonical form of a product tree (int64): factors simplified, expanded when the result
 * is small, else one sorted product atom. NULL if a coefficient would overflow. */
mlcc_expr *lin_product(arith_analyzer *a, mlcc_expr *e);
/* The product atom with one factor equal to `factor` removed (1 if atom is that factor), or
 * NULL when the factor does not occur. */
mlcc_expr *lin_atom_without_factor(mlcc_expr *atom, const mlcc_expr *factor);
/* gcd of |coefficients| (not the constant); 0 when there are no terms. */
int64_t lin_coef_gcd(const arith_lin *l);

/* ---- bounds.c ---- */
void arith_bounds_of(arith_analyzer *a, mlcc_expr *e, int64_t *lo, int64_t *hi);
void lin_bounds(arith_analyzer *a, const arith_lin *l, int64_t *lo, int64_t *hi);
/* Upper bound of a normalized form, also substituting symbolic var ranges (j in [0, n)). */
int64_t lin_upper(arith_analyzer *a, const arith_lin *l);
/* 1 when l <= 0 for every value of the variables in their ranges. */
int lin_prove_le0(arith_analyzer *a, const arith_lin *l);
arith_var_info *arith_var_lookup(arith_analyzer *a, const mlcc_expr *var);
/* Does l's true (unwrapped) value provably fit in int64 wherever the input did not overflow?
 * Yes for a constant, for one atom other than a product (atoms are values the input computes,
 * or bounded by such values), and for a form whose bounds are finite. A sum regrouped from
 * the input may overflow in int64 where the input did not (x * 8 + y fits, y * 3 alone need
 * not); that is harmless inside + - * (wrap-around gives the same final value) but not where
 * the value feeds a division, a remainder or a comparison, so those rewrites check this. */
int lin_value_fits(arith_analyzer *a, const arith_lin *l);

/* ---- divmod.c ---- */
mlcc_expr *arith_floordiv_const(arith_analyzer *a, arith_lin *num, int64_t c);
mlcc_expr *arith_floormod_const(arith_analyzer *a, arith_lin *num, int64_t c);
/* num // den or num % den (is_mod) for a divisor den = d0 * atom; NULL if nothing applies. */
mlcc_expr *arith_divmod_symbolic(arith_analyzer *a, const arith_lin *num, mlcc_expr *den, int is_mod);

/* ---- rewrite.c ---- */
mlcc_expr *arith_simp(arith_analyzer *a, mlcc_expr *e);
/* arith_simp with a memo table for the call (the public entry points use this). */
mlcc_expr *arith_simp_top(arith_analyzer *a, mlcc_expr *e);
/* An int64 scalar: the type the canonical form handles. */
static inline int arith_is_index(const mlcc_expr *e) {
    return e->dtype.code == DT_INT && e->dtype.bits == 64 && e->dtype.lanes == 1;
}

/* ---- integer helpers ---- */
static inline int64_t arith_floordiv64(int64_t a, int64_t b) {
    int64_t q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}
static inline int64_t arith_floormod64(int64_t a, int64_t b) {
    int64_t m = a % b;
    return (m != 0 && ((m < 0) != (b < 0))) ? m + b : m;
}
/* A common divisor of a and b: the greatest, except that 1 stands in for 2^63 (which int64
 * cannot hold); 0 only when both are 0. Callers divide by it or test divisibility, for which
 * any common divisor is sound. */
static inline int64_t arith_gcd(int64_t a, int64_t b) {
    uint64_t x = a < 0 ? (uint64_t)0 - (uint64_t)a : (uint64_t)a;
    uint64_t y = b < 0 ? (uint64_t)0 - (uint64_t)b : (uint64_t)b;
    while (y) {
        uint64_t t = x % y;
        x = y;
        y = t;
    }
    return x > (uint64_t)INT64_MAX ? 1 : (int64_t)x;
}

#endif
