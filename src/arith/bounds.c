/* bounds.c - constant bounds of integer expressions (interval analysis) and the prover.
 *
 * Intervals propagate bottom-up through the tree; a var's interval comes from its declared
 * bounds, its range (whose symbolic endpoints are bounded in turn, with a depth guard against
 * ranges that mention each other) and VAR_SIZE (>= 0). Interval arithmetic forgets that two
 * occurrences of `n` are the same value, so proofs work on the canonical linear form (where
 * n - n has already cancelled) and first substitute symbolic ranges: j in [0, n) makes
 * j - n <= n - 1 - n = -1. min/max/select atoms are relaxed to their operands the same way. */
#include "arith/arith_impl.h"

#define MAX_BOUND_DEPTH 8
#define MAX_SYMBOLIC_ROUNDS 4
#define PROVE_BUDGET 64

/* ---- saturating interval arithmetic: INT64_MIN / INT64_MAX mean unbounded ---- */

static int64_t lo_add(int64_t a, int64_t b) {
    int64_t r;
    if (a == ARITH_NEG_INF || b == ARITH_NEG_INF || __builtin_add_overflow(a, b, &r) || r == ARITH_POS_INF)
        return ARITH_NEG_INF;
    return r;
}

static int64_t hi_add(int64_t a, int64_t b) {
    int64_t r;
    if (a == ARITH_POS_INF || b == ARITH_POS_INF || __builtin_add_overflow(a, b, &r) || r == ARITH_NEG_INF)
        return ARITH_POS_INF;
    return r;
}

/* k * [lo, hi] */
static void scale(int64_t k, int64_t lo, int64_t hi, int64_t *olo, int64_t *ohi) {
    if (k == 0) {
        *olo = *ohi = 0;
        return;
    }
    int64_t a = k > 0 ? lo : hi, b = k > 0 ? hi : lo; /* the ends giving the low / high product */
    int64_t r;
    int a_inf = a == ARITH_NEG_INF || a == ARITH_POS_INF, b_inf = b == ARITH_NEG_INF || b == ARITH_POS_INF;
    *olo = (a_inf || __builtin_mul_overflow(a, k, &r) || r == ARITH_POS_INF) ? ARITH_NEG_INF : r;
    *ohi = (b_inf || __builtin_mul_overflow(b, k, &r) || r == ARITH_NEG_INF) ? ARITH_POS_INF : r;
}

static void mul_intervals(int64_t alo, int64_t ahi, int64_t blo, int64_t bhi, int64_t *lo, int64_t *hi) {
    int finite = alo != ARITH_NEG_INF && ahi != ARITH_POS_INF && blo != ARITH_NEG_INF && bhi != ARITH_POS_INF;
    *lo = ARITH_NEG_INF;
    *hi = ARITH_POS_INF;
    if (finite) {
        int64_t c[4];
        if (__builtin_mul_overflow(alo, blo, &c[0]) || __builtin_mul_overflow(alo, bhi, &c[1]) ||
            __builtin_mul_overflow(ahi, blo, &c[2]) || __builtin_mul_overflow(ahi, bhi, &c[3]))
            return;
        int64_t mn = c[0], mx = c[0];
        for (int i = 1; i < 4; i++) {
            if (c[i] < mn) mn = c[i];
            if (c[i] > mx) mx = c[i];
        }
        *lo = mn == ARITH_POS_INF ? ARITH_NEG_INF : mn;
        *hi = mx == ARITH_NEG_INF ? ARITH_POS_INF : mx;
    } else if (alo >= 0 && blo >= 0 && alo != ARITH_NEG_INF && blo != ARITH_NEG_INF) {
        int64_t r;
        if (!__builtin_mul_overflow(alo, blo, &r)) *lo = r;
    }
}

/* ---- variables ---- */

arith_var_info *arith_var_lookup(arith_analyzer *a, const mlcc_expr *var) {
    return u64map_get_p(&a->vars, var);
}

static void var_bounds(arith_analyzer *a, mlcc_expr *v, int64_t *lo, int64_t *hi) {
    *lo = (v->var.flags & VAR_SIZE) ? 0 : ARITH_NEG_INF;
    *hi = ARITH_POS_INF;
    arith_var_info *info = arith_var_lookup(a, v);
    if (!info) return;
    if (info->lo > *lo) *lo = info->lo;
    if (info->hi < *hi) *hi = info->hi;
    if (info->min && a->bound_depth < MAX_BOUND_DEPTH) {
        int64_t l1, h1, l2, h2;
        a->bound_depth++;
        arith_bounds_of(a, info->min, &l1, &h1);
        arith_bounds_of(a, info->max, &l2, &h2);
        a->bound_depth--;
        if (l1 > *lo) *lo = l1;
        if (h2 < *hi) *hi = h2;
    }
}

/* ---- structural bounds ---- */

static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }
static int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }

/* Division and remainder, for a divisor known to be >= 1 (else unbounded). */
static void divmod_bounds(arith_analyzer *a, mlcc_expr *e, int64_t *lo, int64_t *hi) {
    int64_t alo, ahi, blo, bhi;
    arith_bounds_of(a, e->bin.a, &alo, &ahi);
    arith_bounds_of(a, e->bin.b, &blo, &bhi);
    *lo = ARITH_NEG_INF;
    *hi = ARITH_POS_INF;
    if (blo < 1) return;
    int a_lo_known = alo != ARITH_NEG_INF, a_hi_known = ahi != ARITH_POS_INF, b_finite = bhi != ARITH_POS_INF;
    switch (e->kind) {
    case EXPR_FLOORDIV:
        /* for b >= 1: a >= 0 gives [0, a], a < 0 gives [a, -1]; tighter for a known divisor
         * (monotone in a; for fixed a, extreme at a divisor end) */
        *lo = min64(alo, 0);
        *hi = ahi >= 0 ? ahi : -1;
        if (a_lo_known && (alo >= 0 ? b_finite : 1)) *lo = alo >= 0 ? arith_floordiv64(alo, bhi) : arith_floordiv64(alo, blo);
        if (a_hi_known && (ahi >= 0 ? 1 : b_finite)) *hi = ahi >= 0 ? arith_floordiv64(ahi, blo) : arith_floordiv64(ahi, bhi);
        return;
    case EXPR_DIV:
        *lo = min64(alo, 0);
        *hi = max64(ahi, 0);
        if (a_lo_known && (alo >= 0 ? b_finite : 1)) *lo = alo >= 0 ? alo / bhi : alo / blo;
        if (a_hi_known && (ahi >= 0 ? 1 : b_finite)) *hi = ahi >= 0 ? ahi / blo : ahi / bhi;
        return;
    case EXPR_FLOORMOD:
        *lo = 0;
        *hi = b_finite ? bhi - 1 : ARITH_POS_INF;
        if (alo >= 0 && ahi < *hi) *hi = ahi;
        int64_t base;
        if (blo == bhi && a_lo_known && a_hi_known && arith_floordiv64(alo, blo) == arith_floordiv64(ahi, blo) &&
            !__builtin_mul_overflow(arith_floordiv64(alo, blo), blo, &base)) {
            *lo = alo - base;
            *hi = ahi - base;
        }
        return;
    case EXPR_MOD:
        /* |a % b| <= |a| and < b, with the sign of a */
        *lo = min64(alo, 0);
        *hi = max64(ahi, 0);
        if (b_finite && *lo < -(bhi - 1)) *lo = -(bhi - 1);
        if (b_finite && *hi > bhi - 1) *hi = bhi - 1;
        return;
    default: return;
    }
}

void arith_bounds_of(arith_analyzer *a, mlcc_expr *e, int64_t *lo, int64_t *hi) {
    int64_t alo, ahi, blo, bhi;
    *lo = ARITH_NEG_INF;
    *hi = ARITH_POS_INF;
    if (e->dtype.lanes != 1) return;
    if (dtype_is_bool(e->dtype)) {
        *lo = 0;
        *hi = 1;
        if (e->kind == EXPR_INT) *lo = *hi = e->int_value != 0;
        return;
    }
    if (!dtype_is_int(e->dtype)) return;
    switch (e->kind) {
    case EXPR_INT: *lo = *hi = e->int_value; return;
    case EXPR_VAR: var_bounds(a, e, lo, hi); return;
    case EXPR_ADD:
    case EXPR_SUB:
        arith_bounds_of(a, e->bin.a, &alo, &ahi);
        arith_bounds_of(a, e->bin.b, &blo, &bhi);
        if (e->kind == EXPR_SUB) scale(-1, blo, bhi, &blo, &bhi);
        *lo = lo_add(alo, blo);
        *hi = hi_add(ahi, bhi);
        break;
    case EXPR_MUL:
        arith_bounds_of(a, e->bin.a, &alo, &ahi);
        arith_bounds_of(a, e->bin.b, &blo, &bhi);
        if (blo == bhi && blo != ARITH_NEG_INF && blo != ARITH_POS_INF) scale(blo, alo, ahi, lo, hi);
        else if (alo == ahi && alo != ARITH_NEG_INF && alo != ARITH_POS_INF) scale(alo, blo, bhi, lo, hi);
        else mul_intervals(alo, ahi, blo, bhi, lo, hi);
        break;
    case EXPR_DIV:
    case EXPR_MOD:
    case EXPR_FLOORDIV:
    case EXPR_FLOORMOD: divmod_bounds(a, e, lo, hi); break;
    case EXPR_MIN:
    case EXPR_MAX:
        arith_bounds_of(a, e->bin.a, &alo, &ahi);
        arith_bounds_of(a, e->bin.b, &blo, &bhi);
        if (e->kind == EXPR_MIN) {
            *lo = alo < blo ? alo : blo;
            *hi = ahi < bhi ? ahi : bhi;
        } else {
            *lo = alo > blo ? alo : blo;
            *hi = ahi > bhi ? ahi : bhi;
        }
        break;
    case EXPR_SELECT:
        arith_bounds_of(a, e->select.t, &alo, &ahi);
        arith_bounds_of(a, e->select.f, &blo, &bhi);
        *lo = alo < blo ? alo : blo;
        *hi = ahi > bhi ? ahi : bhi;
        break;
    case EXPR_CAST:
        if (dtype_is_int(e->un.a->dtype) || dtype_is_bool(e->un.a->dtype)) arith_bounds_of(a, e->un.a, &alo, &ahi);
        else alo = ARITH_NEG_INF, ahi = ARITH_POS_INF;
        if (e->dtype.code == DT_INT && e->dtype.bits == 64 && e->un.a->dtype.code != DT_UINT) {
            *lo = alo;
            *hi = ahi;
        }
        break;
    default: break;
    }
    /* narrower integer types cannot leave their range */
    if (e->dtype.bits < 64) {
        int64_t tlo, thi;
        if (e->dtype.code == DT_INT) {
            tlo = -((int64_t)1 << (e->dtype.bits - 1));
            thi = ((int64_t)1 << (e->dtype.bits - 1)) - 1;
        } else {
            tlo = 0;
            thi = (int64_t)(((uint64_t)1 << e->dtype.bits) - 1);
        }
        if (*lo < tlo || *lo > thi) *lo = tlo;
        if (*hi > thi || *hi < tlo) *hi = thi;
    }
}

/* ---- linear forms ---- */

void lin_bounds(arith_analyzer *a, const arith_lin *l, int64_t *lo, int64_t *hi) {
    *lo = *hi = l->c;
    for (int i = 0; i < l->n && (*lo != ARITH_NEG_INF || *hi != ARITH_POS_INF); i++) {
        int64_t tlo, thi;
        arith_bounds_of(a, l->terms[i].atom, &tlo, &thi);
        scale(l->terms[i].coef, tlo, thi, &tlo, &thi);
        *lo = lo_add(*lo, tlo);
        *hi = hi_add(*hi, thi);
    }
}

int lin_value_fits(arith_analyzer *a, const arith_lin *l) {
    if (l->overflow) return 0;
    if (l->n == 0) return 1;
    if (l->n == 1 && l->c == 0 && l->terms[0].coef == 1 && l->terms[0].atom->kind != EXPR_MUL) return 1;
    int64_t lo, hi;
    lin_bounds(a, l, &lo, &hi);
    return lo != ARITH_NEG_INF && hi != ARITH_POS_INF;
}

/* l with term i replaced by coef * (repl), normalized, into out. */
static void substitute_term(const arith_lin *l, int i, mlcc_expr *repl, int64_t coef, arith_lin *out) {
    lin_init(out);
    out->c = l->c;
    out->overflow = l->overflow;
    for (int j = 0; j < l->n; j++)
        if (j != i) lin_add_term(out, l->terms[j].atom, l->terms[j].coef);
    lin_add_expr(out, repl, coef);
    lin_normalize(out);
}

static int symbolic_var_term(arith_analyzer *a, const arith_term *t, mlcc_expr **end) {
    if (t->atom->kind != EXPR_VAR) return 0;
    arith_var_info *info = arith_var_lookup(a, t->atom);
    if (!info || !info->min || !info->symbolic) return 0;
    *end = t->coef > 0 ? info->max : info->min;
    return 1;
}

int64_t lin_upper(arith_analyzer *a, const arith_lin *l) {
    int64_t lo, hi;
    lin_bounds(a, l, &lo, &hi);
    arith_lin cur;
    lin_copy(&cur, l);
    for (int round = 0; round < MAX_SYMBOLIC_ROUNDS; round++) {
        int i;
        mlcc_expr *end = NULL;
        for (i = 0; i < cur.n; i++)
            if (symbolic_var_term(a, &cur.terms[i], &end)) break;
        if (i == cur.n) break;
        arith_lin next;
        substitute_term(&cur, i, end, cur.terms[i].coef, &next);
        lin_free(&cur);
        cur = next;
        if (cur.overflow) break;
        int64_t l2, h2;
        lin_bounds(a, &cur, &l2, &h2);
        if (h2 < hi) hi = h2;
    }
    lin_free(&cur);
    return hi;
}

static int prove_le0(arith_analyzer *a, const arith_lin *l, int depth);
static int prove_relaxed(arith_analyzer *a, const arith_lin *l, int depth);
static int prove_floordiv_relaxed(arith_analyzer *a, const arith_lin *l, int i, int depth);

/* Tries l with term i replaced by repl (same coefficient). */
static int prove_with(arith_analyzer *a, const arith_lin *l, int i, mlcc_expr *repl, int64_t coef, int depth) {
    arith_lin next;
    substitute_term(l, i, repl, coef, &next);
    int ok = !next.overflow && prove_le0(a, &next, depth - 1);
    lin_free(&next);
    return ok;
}

/* l = k * (x // c) + rest. As c * (x // c) lies in [x - c + 1, x], c * l <= k * x' + c * rest
 * with x' = x for k > 0 and x - c + 1 for k < 0; and since l is an integer, c * l <= c - 1
 * already gives l <= 0. So it suffices to prove k * x' + c * rest - (c - 1) <= 0. */
static int prove_floordiv_relaxed(arith_analyzer *a, const arith_lin *l, int i, int depth) {
    mlcc_expr *t = l->terms[i].atom;
    int64_t k = l->terms[i].coef, c = t->bin.b->int_value;
    arith_lin next;
    lin_init(&next);
    for (int j = 0; j < l->n; j++)
        if (j != i) lin_add_term(&next, l->terms[j].atom, l->terms[j].coef);
    next.c = l->c;
    arith_lin scaled;
    lin_init(&scaled);
    lin_add_lin(&scaled, &next, c);
    lin_add_expr(&scaled, t->bin.a, k);
    if (k < 0) lin_add_const(&scaled, 1 - c, k);
    lin_add_const(&scaled, -(c - 1), 1);
    lin_normalize(&scaled);
    int ok = !scaled.overflow && prove_le0(a, &scaled, depth - 1);
    lin_free(&next);
    lin_free(&scaled);
    return ok;
}

/* l <= 0 is equivalent to l / g <= 0 rounded up, g the gcd of the coefficients (an integer
 * g * s + c <= 0 exactly when s + ceil(c / g) <= 0): -5 * x - 1 <= 0 becomes -x <= 0. */
static void tighten(arith_lin *l) {
    int64_t g = lin_coef_gcd(l);
    if (g <= 1) return;
    for (int i = 0; i < l->n; i++) l->terms[i].coef /= g;
    l->c = -arith_floordiv64(-l->c, g); /* the caller excludes c == INT64_MIN */
}

static int prove_le0(arith_analyzer *a, const arith_lin *orig, int depth) {
    if (orig->overflow) return 0;
    arith_lin t;
    lin_copy(&t, orig);
    if (t.c != INT64_MIN) tighten(&t);
    const arith_lin *l = &t;
    int64_t lo, hi;
    lin_bounds(a, l, &lo, &hi);
    int ok = hi <= 0;
    if (!ok && depth > 0 && a->prove_budget > 0) {
        a->prove_budget--;
        ok = prove_relaxed(a, l, depth);
    }
    lin_free(&t);
    return ok;
}

static int prove_relaxed(arith_analyzer *a, const arith_lin *l, int depth) {
    /* symbolic ranges first: j in [0, n) turns j - n into n - 1 - n */
    for (int i = 0; i < l->n; i++) {
        mlcc_expr *end;
        if (symbolic_var_term(a, &l->terms[i], &end) && prove_with(a, l, i, end, l->terms[i].coef, depth)) return 1;
    }
    /* Relax one atom to something no smaller (for a positive coefficient) and retry. */
    for (int i = 0; i < l->n; i++) {
        mlcc_expr *t = l->terms[i].atom;
        int64_t k = l->terms[i].coef;
        switch (t->kind) {
        case EXPR_MIN:
        case EXPR_MAX:
            if ((t->kind == EXPR_MIN) == (k > 0)) {
                /* k*min(x, y) <= k*x and <= k*y: either suffices */
                if (prove_with(a, l, i, t->bin.a, k, depth) || prove_with(a, l, i, t->bin.b, k, depth)) return 1;
            } else {
                /* the value is one of the two: both must hold */
                if (prove_with(a, l, i, t->bin.a, k, depth) && prove_with(a, l, i, t->bin.b, k, depth)) return 1;
            }
            break;
        case EXPR_SELECT:
            if (prove_with(a, l, i, t->select.t, k, depth) && prove_with(a, l, i, t->select.f, k, depth)) return 1;
            break;
        case EXPR_FLOORDIV:
            if (t->bin.b->kind == EXPR_INT && t->bin.b->int_value > 0 && arith_is_index(t->bin.a) &&
                prove_floordiv_relaxed(a, l, i, depth))
                return 1;
            break;
        default: break;
        }
    }
    return 0;
}

int lin_prove_le0(arith_analyzer *a, const arith_lin *l) {
    a->prove_budget = PROVE_BUDGET;
    return prove_le0(a, l, 4);
}
