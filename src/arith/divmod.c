/* divmod.c - floordiv and floormod of a canonical sum by a positive constant c.
 *
 * Terms whose coefficient c divides move out of the division exactly:
 *     (x * 8 + y + 10) // 8  =  x + 1 + (y + 2) // 8,   (x * 8 + y) % 8  =  y % 8
 * and what remains is resolved by its bounds (0 <= y < 8 gives y // 8 = 0, y % 8 = y), by a
 * common factor (x * 4 // 8 = x // 2, x * 4 % 8 = (x % 2) * 4) or by nesting
 * (x // 4 // 8 = x // 32, (x % 32) % 8 = x % 8). All of these hold for every integer value,
 * negative ones included, because floor division is used throughout.
 *
 * Overflow: a numerator regrouped from the input (y + 2 above) is only divided when its value
 * provably fits in int64 (lin_value_fits), since it might overflow where the input's
 * numerator did not; otherwise the whole numerator is divided. Remainders modulo a power of
 * two are exempt: wrap-around modulo 2^64 leaves them unchanged. */
#include "arith/arith_impl.h"

static int64_t lin_div_exact(arith_lin *l, int64_t g) {
    l->c /= g;
    for (int i = 0; i < l->n; i++) l->terms[i].coef /= g;
    return g;
}

/* If l lies within one period [m*c, (m+1)*c) for every value, sets *m. */
static int same_period(arith_analyzer *a, const arith_lin *l, int64_t c, int64_t *m) {
    int64_t lo, hi;
    lin_bounds(a, l, &lo, &hi);
    if (lo != ARITH_NEG_INF && hi != ARITH_POS_INF) {
        int64_t q = arith_floordiv64(lo, c);
        if (q == arith_floordiv64(hi, c)) {
            *m = q;
            return 1;
        }
    }
    /* symbolic ranges: upper bound through substitution, lower bound as -upper(-l) */
    arith_lin neg;
    lin_init(&neg);
    lin_add_lin(&neg, l, -1);
    int64_t up = lin_upper(a, l), nl = neg.overflow ? ARITH_POS_INF : lin_upper(a, &neg);
    lin_free(&neg);
    if (up == ARITH_POS_INF || nl == ARITH_POS_INF || nl == ARITH_NEG_INF) return 0;
    int64_t q = arith_floordiv64(-nl, c);
    if (q != arith_floordiv64(up, c)) return 0;
    *m = q;
    return 1;
}

static int is_divmod_const(const mlcc_expr *e, mlcc_expr_kind kind) {
    return e->kind == kind && e->bin.b->kind == EXPR_INT && e->bin.b->int_value > 0;
}

/* The gcd of a form's coefficients, its constant and c (1 when there is none). */
static int64_t common_factor(const arith_lin *l, int64_t c) {
    int64_t g = arith_gcd(arith_gcd(lin_coef_gcd(l), l->c), c);
    return g > 1 ? g : 1;
}

/* Writes r as g * (*hi) + m * g + b with 0 <= b < g for every value, where g > 1 is a proper
 * divisor of c shared by some of r's coefficients: *hi gets the terms g divides (over g), plus m,
 * *lo the others with r's constant less m * g. Of the candidates (one per term), the largest g
 * whose other terms stay in one period wins; 0 if none does. For example 64 * f + i with
 * 0 <= i < 64, divided by 2048: g = 64, *hi = f, *lo = i, so the quotient is f // 32. */
static int64_t split_below_factor(arith_analyzer *a, const arith_lin *r, int64_t c, arith_lin *hi, arith_lin *lo) {
    int64_t best = 0;
    for (int i = 0; i < r->n; i++) {
        int64_t g = arith_gcd(r->terms[i].coef, c), m; /* (the gcd takes negative values, INT64_MIN too) */
        if (g <= best || g == c) continue;
        arith_lin h, l;
        lin_init(&h);
        lin_init(&l);
        for (int j = 0; j < r->n; j++) {
            if (r->terms[j].coef % g == 0) lin_add_term(&h, r->terms[j].atom, r->terms[j].coef / g);
            else lin_add_term(&l, r->terms[j].atom, r->terms[j].coef);
        }
        l.c = r->c;
        int ok = l.n > 0 && !h.overflow && !l.overflow && same_period(a, &l, g, &m);
        if (ok) {
            lin_add_const(&h, m, 1);
            lin_add_const(&l, m, -g);
            lin_normalize(&h);
            lin_normalize(&l);
            ok = !h.overflow && !l.overflow;
        }
        if (ok) {
            if (best) lin_free(hi), lin_free(lo);
            *hi = h, *lo = l, best = g;
        } else {
            lin_free(&h);
            lin_free(&l);
        }
    }
    return best;
}

mlcc_expr *arith_floordiv_const(arith_analyzer *a, arith_lin *num, int64_t c) {
    int64_t g = common_factor(num, c);
    if (g > 1) {
        /* (g * y) // (g * c') = y // c', first: the value of y fits wherever g * y does */
        arith_lin y;
        lin_copy(&y, num);
        lin_div_exact(&y, g);
        mlcc_expr *out = arith_floordiv_const(a, &y, c / g);
        lin_free(&y);
        return out;
    }
    arith_lin q, r, hi, lo;
    lin_init(&q);
    lin_init(&r);
    for (int i = 0; i < num->n; i++) {
        if (num->terms[i].coef % c == 0) lin_add_term(&q, num->terms[i].atom, num->terms[i].coef / c);
        else lin_add_term(&r, num->terms[i].atom, num->terms[i].coef);
    }
    q.c = arith_floordiv64(num->c, c);
    r.c = arith_floormod64(num->c, c);
    if ((q.n > 0 || q.c != 0) && !lin_value_fits(a, &r)) {
        /* the remainder part might overflow on its own: divide the whole numerator */
        lin_free(&q);
        lin_free(&r);
        lin_init(&q);
        lin_copy(&r, num);
    }
    int64_t m;
    if (lin_is_const(&r)) {
        lin_add_const(&q, arith_floordiv64(r.c, c), 1); /* 0 unless nothing was split off */
    } else if (same_period(a, &r, c, &m)) {
        lin_add_const(&q, m, 1);
    } else if ((m = split_below_factor(a, &r, c, &hi, &lo)) > 0) {
        /* (g * h + l) // (g * c') = h // c' for 0 <= l < g */
        mlcc_expr *inner = arith_floordiv_const(a, &hi, c / m);
        lin_free(&hi);
        lin_free(&lo);
        if (!inner) {
            lin_free(&q);
            lin_free(&r);
            return NULL;
        }
        lin_add_expr(&q, inner, 1);
    } else {
        /* no common factor is left in r: it would divide num and c too */
        mlcc_expr *inner;
        int64_t a2;
        if (r.n == 1 && r.terms[0].coef == 1 && is_divmod_const(r.terms[0].atom, EXPR_FLOORDIV) &&
            !__builtin_mul_overflow(r.terms[0].atom->bin.b->int_value, c, &a2) &&
            !__builtin_mul_overflow(r.c, r.terms[0].atom->bin.b->int_value, &m)) {
            /* (x // a + k) // c = (x + k * a) // (a * c) */
            arith_lin nested;
            lin_init(&nested);
            lin_add_expr(&nested, r.terms[0].atom->bin.a, 1);
            lin_add_const(&nested, m, 1);
            lin_normalize(&nested);
            inner = nested.overflow || (m != 0 && !lin_value_fits(a, &nested)) ? NULL : arith_floordiv_const(a, &nested, a2);
            if (!inner) inner = ir_floordiv(lin_to_expr(&r), ir_int(c));
            lin_free(&nested);
        } else {
            inner = ir_floordiv(lin_to_expr(&r), ir_int(c));
        }
        lin_add_expr(&q, inner, 1);
    }
    lin_normalize(&q);
    mlcc_expr *out = q.overflow ? NULL : lin_to_expr(&q);
    lin_free(&q);
    lin_free(&r);
    return out;
}

/* Adds k * t to r, where r will be taken modulo c: k * (x % (c * j)) is congruent to k * x
 * modulo c, so such remainders are unwrapped (recursively: ((x % 8 + y) % 32) % 4 has x). */
static void add_mod_term(arith_lin *r, mlcc_expr *t, int64_t k, int64_t c, int depth) {
    if (k % c == 0) return;
    if (depth < 16 && is_divmod_const(t, EXPR_FLOORMOD) && t->bin.b->int_value % c == 0) {
        arith_lin inner;
        lin_init(&inner);
        lin_add_expr(&inner, t->bin.a, 1);
        if (inner.overflow) r->overflow = 1;
        lin_add_const(r, inner.c, k);
        for (int i = 0; i < inner.n; i++) {
            int64_t kk;
            if (__builtin_mul_overflow(inner.terms[i].coef, k, &kk)) r->overflow = 1;
            add_mod_term(r, inner.terms[i].atom, kk, c, depth + 1);
        }
        lin_free(&inner);
        return;
    }
    lin_add_term(r, t, k);
}

static mlcc_expr *scaled(mlcc_expr *e, int64_t g) {
    if (!e) return NULL;
    arith_lin s;
    lin_init(&s);
    lin_add_expr(&s, e, g);
    lin_normalize(&s);
    mlcc_expr *out = s.overflow ? NULL : lin_to_expr(&s);
    lin_free(&s);
    return out;
}

mlcc_expr *arith_floormod_const(arith_analyzer *a, arith_lin *num, int64_t c) {
    int64_t g0 = common_factor(num, c);
    if (g0 > 1) {
        /* (g * y) % (g * c') = (y % c') * g */
        arith_lin y;
        lin_copy(&y, num);
        lin_div_exact(&y, g0);
        mlcc_expr *out = scaled(arith_floormod_const(a, &y, c / g0), g0);
        lin_free(&y);
        return out;
    }
    arith_lin r;
    lin_init(&r);
    r.c = num->c;
    for (int i = 0; i < num->n; i++) add_mod_term(&r, num->terms[i].atom, num->terms[i].coef, c, 0);
    lin_normalize(&r);
    r.c = arith_floormod64(r.c, c);
    /* re-collecting may cancel or create terms divisible by c */
    int drop = 0;
    for (int i = 0; i < r.n; i++)
        if (r.terms[i].coef % c == 0) drop = 1;
    if (drop) {
        arith_lin again;
        lin_init(&again);
        for (int i = 0; i < r.n; i++)
            if (r.terms[i].coef % c != 0) lin_add_term(&again, r.terms[i].atom, r.terms[i].coef);
        again.c = r.c;
        again.overflow = r.overflow;
        lin_free(&r);
        r = again;
    }
    /* modulo a power of two, wrap-around does not change the remainder; otherwise the reduced
     * numerator must not overflow on its own */
    if ((c & (c - 1)) != 0 && !lin_value_fits(a, &r)) {
        lin_free(&r);
        lin_copy(&r, num);
    }
    mlcc_expr *out = NULL;
    arith_lin hi, lo;
    int64_t m;
    if (r.overflow) {
        /* keep the caller's expression */
    } else if (lin_is_const(&r)) {
        out = ir_int(r.c);
    } else if (same_period(a, &r, c, &m)) {
        lin_add_const(&r, m, -c);
        lin_normalize(&r);
        out = r.overflow ? NULL : lin_to_expr(&r);
    } else if ((m = split_below_factor(a, &r, c, &hi, &lo)) > 0) {
        /* (g * h + l) % (g * c') = (h % c') * g + l for 0 <= l < g */
        mlcc_expr *high = scaled(arith_floormod_const(a, &hi, c / m), m);
        if (high) {
            lin_add_expr(&lo, high, 1);
            lin_normalize(&lo);
            out = lo.overflow ? NULL : lin_to_expr(&lo);
        }
        lin_free(&hi);
        lin_free(&lo);
    } else {
        int64_t g = arith_gcd(arith_gcd(lin_coef_gcd(&r), r.c), c);
        if (g > 1) {
            /* (g * y) % (g * c') = (y % c') * g */
            lin_div_exact(&r, g);
            out = scaled(arith_floormod_const(a, &r, c / g), g);
        } else {
            out = ir_floormod(lin_to_expr(&r), ir_int(c));
        }
    }
    lin_free(&r);
    return out;
}

/* ---- symbolic divisors ---- */

/* 0 <= r < den for every value? */
static int within_divisor(arith_analyzer *a, const arith_lin *r, const arith_lin *den) {
    arith_lin t;
    lin_init(&t);
    lin_add_lin(&t, r, -1); /* -r <= 0 */
    lin_normalize(&t);
    int ok = !t.overflow && lin_prove_le0(a, &t);
    lin_free(&t);
    if (!ok) return 0;
    lin_init(&t);
    lin_add_lin(&t, r, 1); /* r - den + 1 <= 0 */
    lin_add_lin(&t, den, -1);
    lin_add_const(&t, 1, 1);
    lin_normalize(&t);
    ok = !t.overflow && lin_prove_le0(a, &t);
    lin_free(&t);
    return ok;
}

/* d >= 1? Proved from the bounds, or from a var of the numerator whose range [min, max] has
 * max - min + 1 <= d: the var has a value only when its range is not empty, so d >= 1 holds
 * wherever the expression is evaluated (j in [0, n) in (i * n + j) // n). */
static int divisor_positive(arith_analyzer *a, const arith_lin *d, const arith_lin *num) {
    arith_lin t;
    lin_init(&t);
    lin_add_lin(&t, d, -1); /* 1 - d <= 0 */
    lin_add_const(&t, 1, 1);
    lin_normalize(&t);
    int ok = !t.overflow && lin_prove_le0(a, &t);
    lin_free(&t);
    for (int i = 0; i < num->n && !ok; i++) {
        if (num->terms[i].atom->kind != EXPR_VAR) continue;
        arith_var_info *info = arith_var_lookup(a, num->terms[i].atom);
        if (!info || !info->min) continue;
        lin_init(&t);
        lin_add_expr(&t, info->max, 1); /* (max - min + 1) - d <= 0 */
        lin_add_expr(&t, info->min, -1);
        lin_add_const(&t, 1, 1);
        lin_add_lin(&t, d, -1);
        lin_normalize(&t);
        ok = !t.overflow && lin_prove_le0(a, &t);
        lin_free(&t);
    }
    return ok;
}

/* For a divisor d = d0 * A (A an atom, d0 > 0), terms that are multiples of d move out of the
 * division exactly as for constants, for any d != 0 (with d == 0 the input fails anyway):
 *     (i * n + j) // n = i + j // n,   (i * n + j) % n = j % n
 * and 0 <= j < n (j in [0, n)) then makes j // n = 0 and j % n = j. */
mlcc_expr *arith_divmod_symbolic(arith_analyzer *a, const arith_lin *num, mlcc_expr *den, int is_mod) {
    arith_lin d, q, r;
    lin_init(&d);
    lin_init(&q);
    lin_init(&r);
    mlcc_expr *out = NULL;
    lin_add_expr(&d, den, 1);
    lin_normalize(&d);
    if (d.overflow || d.n != 1 || d.c != 0 || d.terms[0].coef <= 0) goto done;
    mlcc_expr *atom = d.terms[0].atom;
    int64_t d0 = d.terms[0].coef;
    r.c = num->c;
    for (int i = 0; i < num->n; i++) {
        mlcc_expr *rest = num->terms[i].coef % d0 == 0 ? lin_atom_without_factor(num->terms[i].atom, atom) : NULL;
        if (rest) lin_add_expr(&q, rest, num->terms[i].coef / d0);
        else lin_add_term(&r, num->terms[i].atom, num->terms[i].coef);
    }
    lin_normalize(&q);
    lin_normalize(&r);
    if (q.overflow || r.overflow) goto done;
    if (q.n == 0 && q.c == 0) {
        /* nothing to split off: only the range can decide */
    } else if (!(lin_is_const(&r) && r.c == 0) && (!lin_value_fits(a, &r) || !divisor_positive(a, &d, num))) {
        /* a new numerator must fit, and must not meet a divisor of -1 (INT64_MIN / -1 traps) */
        lin_free(&q); /* leaves it empty */
        lin_free(&r);
        lin_copy(&r, num);
    }
    int zero = lin_is_const(&r) && r.c == 0;
    if (zero || within_divisor(a, &r, &d)) {
        out = is_mod ? lin_to_expr(&r) : lin_to_expr(&q);
    } else if (q.n > 0 || q.c != 0) {
        if (is_mod) {
            out = ir_floormod(lin_to_expr(&r), den);
        } else {
            lin_add_term(&q, ir_floordiv(lin_to_expr(&r), den), 1);
            lin_normalize(&q);
            if (!q.overflow) out = lin_to_expr(&q);
        }
    }
done:
    lin_free(&d);
    lin_free(&q);
    lin_free(&r);
    return out;
}
