/* linear.c - the canonical form of int64 sums: c + k1*t1 + ... + kn*tn over simplified atoms.
 *
 * Like terms are collected by structural equality of their atoms; coefficient arithmetic is
 * checked, and a form whose coefficients overflowed is flagged so callers keep the original
 * expression instead. Products of sums are expanded when small (so (x + 1) * y - x * y
 * cancels) and products of atoms are flattened and sorted (x * (y * z) == z * y * x).
 * The printing order puts products first, then larger |coefficient| first (row-major index
 * expressions such as b * n * 64 + i * 64 + j or i * 32 + j read naturally), positive terms
 * before subtracted ones, the constant last. */
#include <stdlib.h>
#include <string.h>

#include "arith/arith_impl.h"
#include "support/alloc.h"

/* Products of two sums expand into at most this many terms; larger ones stay as one atom. */
#define MAX_EXPANDED_TERMS 16

void lin_init(arith_lin *l) {
    memset(l, 0, sizeof *l);
}

void lin_free(arith_lin *l) {
    free(l->terms);
    memset(l, 0, sizeof *l);
}

void lin_copy(arith_lin *dst, const arith_lin *src) {
    lin_init(dst);
    dst->c = src->c;
    dst->overflow = src->overflow;
    for (int i = 0; i < src->n; i++) lin_add_term(dst, src->terms[i].atom, src->terms[i].coef);
}

static int64_t checked_mul(arith_lin *l, int64_t a, int64_t b) {
    int64_t r;
    if (__builtin_mul_overflow(a, b, &r)) l->overflow = 1;
    return r;
}

static int64_t checked_add(arith_lin *l, int64_t a, int64_t b) {
    int64_t r;
    if (__builtin_add_overflow(a, b, &r)) l->overflow = 1;
    return r;
}

void lin_add_const(arith_lin *l, int64_t v, int64_t scale) {
    l->c = checked_add(l, l->c, checked_mul(l, v, scale));
}

void lin_add_term(arith_lin *l, mlcc_expr *atom, int64_t coef) {
    if (coef == 0) return;
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 4;
        l->terms = mlcc_xrealloc(l->terms, sizeof(arith_term) * (size_t)l->cap);
    }
    l->terms[l->n].atom = atom;
    l->terms[l->n].coef = coef;
    l->n++;
}

void lin_add_expr(arith_lin *l, mlcc_expr *e, int64_t scale) {
    switch (e->kind) {
    case EXPR_INT: lin_add_const(l, e->int_value, scale); return;
    case EXPR_ADD:
        lin_add_expr(l, e->bin.a, scale);
        lin_add_expr(l, e->bin.b, scale);
        return;
    case EXPR_SUB:
        lin_add_expr(l, e->bin.a, scale);
        lin_add_expr(l, e->bin.b, checked_mul(l, scale, -1));
        return;
    case EXPR_MUL:
        if (e->bin.b->kind == EXPR_INT) {
            lin_add_expr(l, e->bin.a, checked_mul(l, scale, e->bin.b->int_value));
            return;
        }
        if (e->bin.a->kind == EXPR_INT) {
            lin_add_expr(l, e->bin.b, checked_mul(l, scale, e->bin.a->int_value));
            return;
        }
        break;
    default: break;
    }
    lin_add_term(l, e, scale);
}

void lin_add_lin(arith_lin *l, const arith_lin *o, int64_t scale) {
    if (o->overflow) l->overflow = 1;
    lin_add_const(l, o->c, scale);
    for (int i = 0; i < o->n; i++) lin_add_term(l, o->terms[i].atom, checked_mul(l, o->terms[i].coef, scale));
}

static int term_atom_cmp(const void *x, const void *y) {
    const arith_term *a = x, *b = y;
    return arith_expr_compare(a->atom, b->atom);
}

static void sort_and_merge(arith_lin *l) {
    if (l->n > 1) qsort(l->terms, (size_t)l->n, sizeof(arith_term), term_atom_cmp);
    int out = 0;
    for (int i = 0; i < l->n; i++) {
        if (out > 0 && arith_expr_compare(l->terms[out - 1].atom, l->terms[i].atom) == 0) {
            l->terms[out - 1].coef = checked_add(l, l->terms[out - 1].coef, l->terms[i].coef);
        } else {
            l->terms[out++] = l->terms[i];
        }
    }
    l->n = out;
    out = 0;
    for (int i = 0; i < l->n; i++)
        if (l->terms[i].coef != 0) l->terms[out++] = l->terms[i];
    l->n = out;
}

static int is_divmod_by(const mlcc_expr *e, mlcc_expr_kind kind) {
    return e->kind == kind && e->bin.b->kind == EXPR_INT && e->bin.b->int_value > 0;
}

static void remove_term(arith_lin *l, int i) {
    memmove(&l->terms[i], &l->terms[i + 1], sizeof(arith_term) * (size_t)(l->n - i - 1));
    l->n--;
}

/* One fusion step, or 0 when none applies:
 *   k*c * (x // c) + k * (x % c)  ->  k * x
 *   k * x - k*c * (x // c)        ->  k * (x % c)   (x an atom) */
static int fuse_divmod_once(arith_lin *l) {
    for (int i = 0; i < l->n; i++) {
        mlcc_expr *d = l->terms[i].atom;
        if (!is_divmod_by(d, EXPR_FLOORDIV)) continue;
        int64_t c = d->bin.b->int_value, kd = l->terms[i].coef;
        if (kd % c != 0 || kd / c == INT64_MIN) continue;
        int64_t k = kd / c;
        for (int j = 0; j < l->n; j++) {
            mlcc_expr *m = l->terms[j].atom;
            if (is_divmod_by(m, EXPR_FLOORMOD) && m->bin.b->int_value == c && l->terms[j].coef == k &&
                arith_expr_compare(m->bin.a, d->bin.a) == 0) {
                mlcc_expr *x = d->bin.a;
                remove_term(l, i > j ? i : j);
                remove_term(l, i > j ? j : i);
                lin_add_expr(l, x, k);
                return 1;
            }
            if (j != i && l->terms[j].coef == -k && arith_expr_compare(l->terms[j].atom, d->bin.a) == 0) {
                mlcc_expr *mod = ir_floormod(d->bin.a, d->bin.b);
                remove_term(l, i > j ? i : j);
                remove_term(l, i > j ? j : i);
                lin_add_term(l, mod, -k);
                return 1;
            }
        }
    }
    return 0;
}

/* x // d * d for a non-constant atom d: the product atom's factors are x // d and d. */
static mlcc_expr *sym_floordiv_times_divisor(const mlcc_expr *atom) {
    if (atom->kind != EXPR_MUL) return NULL;
    const mlcc_expr *p = atom->bin.a, *q = atom->bin.b;
    for (int swap = 0; swap < 2; swap++) {
        const mlcc_expr *d = swap ? q : p, *other = swap ? p : q;
        if (d->kind == EXPR_FLOORDIV && d->bin.b->kind != EXPR_INT && arith_expr_compare(d->bin.b, other) == 0)
            return (mlcc_expr *)d;
    }
    return NULL;
}

/* The same fusions for a symbolic divisor d (any d != 0; d == 0 makes the input fail):
 *   k * (x // d * d) + k * (x % d)  ->  k * x,   k * x - k * (x // d * d)  ->  k * (x % d) */
static int fuse_sym_divmod_once(arith_lin *l) {
    for (int i = 0; i < l->n; i++) {
        mlcc_expr *d = sym_floordiv_times_divisor(l->terms[i].atom);
        if (!d) continue;
        int64_t k = l->terms[i].coef;
        if (k == INT64_MIN) continue;
        for (int j = 0; j < l->n; j++) {
            mlcc_expr *m = l->terms[j].atom;
            int is_mod = m->kind == EXPR_FLOORMOD && l->terms[j].coef == k && arith_expr_compare(m->bin.a, d->bin.a) == 0 &&
                         arith_expr_compare(m->bin.b, d->bin.b) == 0;
            int is_x = j != i && l->terms[j].coef == -k && arith_expr_compare(m, d->bin.a) == 0;
            if (!is_mod && !is_x) continue;
            mlcc_expr *x = d->bin.a, *mod = ir_floormod(d->bin.a, d->bin.b);
            remove_term(l, i > j ? i : j);
            remove_term(l, i > j ? j : i);
            if (is_mod) lin_add_expr(l, x, k);
            else lin_add_term(l, mod, -k);
            return 1;
        }
    }
    return 0;
}

void lin_normalize(arith_lin *l) {
    sort_and_merge(l);
    for (int guard = 0; guard < 64 && !l->overflow && (fuse_divmod_once(l) || fuse_sym_divmod_once(l)); guard++)
        sort_and_merge(l);
}

int lin_is_const(const arith_lin *l) {
    return l->n == 0;
}

int64_t lin_coef_gcd(const arith_lin *l) {
    int64_t g = 0;
    for (int i = 0; i < l->n; i++) g = arith_gcd(g, l->terms[i].coef);
    return g;
}

static uint64_t abs_u64(int64_t v) {
    return v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
}

/* Factors in a product atom (x * y * z has 3). */
static int degree(const mlcc_expr *e) {
    if (e->kind == EXPR_MUL && e->bin.a->kind != EXPR_INT && e->bin.b->kind != EXPR_INT)
        return degree(e->bin.a) + degree(e->bin.b);
    return 1;
}

static int term_print_cmp(const void *x, const void *y) {
    const arith_term *a = x, *b = y;
    int da = degree(a->atom), db = degree(b->atom);
    if (da != db) return da > db ? -1 : 1;
    uint64_t ka = abs_u64(a->coef), kb = abs_u64(b->coef);
    if (ka != kb) return ka > kb ? -1 : 1;
    return arith_expr_compare(a->atom, b->atom);
}

static mlcc_expr *term_expr(mlcc_expr *atom, int64_t k) {
    return k == 1 ? atom : ir_mul(atom, ir_int(k));
}

mlcc_expr *lin_to_expr(const arith_lin *l) {
    if (l->n == 0) return ir_int(l->c);
    arith_term *t = mlcc_xmalloc(sizeof(arith_term) * (size_t)l->n);
    mlcc_memcpy(t, l->terms, sizeof(arith_term) * (size_t)l->n);
    if (l->n > 1) qsort(t, (size_t)l->n, sizeof(arith_term), term_print_cmp);
    mlcc_expr *acc = NULL;
    for (int i = 0; i < l->n; i++)
        if (t[i].coef > 0) acc = acc ? ir_add(acc, term_expr(t[i].atom, t[i].coef)) : term_expr(t[i].atom, t[i].coef);
    int64_t c = l->c;
    if (!acc && c != 0) {
        acc = ir_int(c); /* 5 - x */
        c = 0;
    }
    for (int i = 0; i < l->n; i++) {
        if (t[i].coef > 0) continue;
        if (!acc) acc = term_expr(t[i].atom, t[i].coef); /* x * -1 */
        else if (t[i].coef == INT64_MIN) acc = ir_add(acc, term_expr(t[i].atom, t[i].coef));
        else acc = ir_sub(acc, term_expr(t[i].atom, -t[i].coef));
    }
    free(t);
    if (c > 0 || c == INT64_MIN) acc = ir_add(acc, ir_int(c));
    else if (c < 0) acc = ir_sub(acc, ir_int(-c));
    return acc;
}

/* ---- products ---- */

static void collect_factors(mlcc_expr *e, mlcc_expr ***f, int *n, int *cap) {
    if (e->kind == EXPR_MUL && e->bin.a->kind != EXPR_INT && e->bin.b->kind != EXPR_INT) {
        collect_factors(e->bin.a, f, n, cap);
        collect_factors(e->bin.b, f, n, cap);
        return;
    }
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 4;
        *f = mlcc_xrealloc(*f, sizeof(mlcc_expr *) * (size_t)*cap);
    }
    (*f)[(*n)++] = e;
}

static int factor_cmp(const void *x, const void *y) {
    return arith_expr_compare(*(mlcc_expr *const *)x, *(mlcc_expr *const *)y);
}

/* The product of two atoms: factors flattened and sorted, left-nested. */
static mlcc_expr *atom_product(mlcc_expr *x, mlcc_expr *y) {
    mlcc_expr **f = NULL;
    int n = 0, cap = 0;
    collect_factors(x, &f, &n, &cap);
    collect_factors(y, &f, &n, &cap);
    if (n > 1) qsort(f, (size_t)n, sizeof(mlcc_expr *), factor_cmp);
    mlcc_expr *acc = f[0];
    for (int i = 1; i < n; i++) acc = ir_mul(acc, f[i]);
    free(f);
    return acc;
}

mlcc_expr *lin_atom_without_factor(mlcc_expr *atom, const mlcc_expr *factor) {
    if (arith_expr_compare(atom, factor) == 0) return ir_int(1);
    mlcc_expr **f = NULL;
    int n = 0, cap = 0;
    collect_factors(atom, &f, &n, &cap);
    mlcc_expr *out = NULL;
    int removed = 0;
    for (int i = 0; i < n; i++) {
        if (!removed && arith_expr_compare(f[i], factor) == 0) {
            removed = 1;
            continue;
        }
        out = out ? ir_mul(out, f[i]) : f[i]; /* the factors stay sorted */
    }
    free(f);
    return removed && n > 1 ? out : NULL;
}

/* out += a * b (both normalized forms), expanding every pair of terms. */
static void lin_mul_into(arith_lin *out, const arith_lin *a, const arith_lin *b) {
    if (a->overflow || b->overflow) out->overflow = 1;
    for (int i = 0; i < a->n; i++) {
        for (int j = 0; j < b->n; j++)
            lin_add_term(out, atom_product(a->terms[i].atom, b->terms[j].atom), checked_mul(out, a->terms[i].coef, b->terms[j].coef));
        lin_add_term(out, a->terms[i].atom, checked_mul(out, a->terms[i].coef, b->c));
    }
    for (int j = 0; j < b->n; j++) lin_add_term(out, b->terms[j].atom, checked_mul(out, b->terms[j].coef, a->c));
    lin_add_const(out, a->c, b->c);
}

static void push_expr(mlcc_expr ***v, int *n, int *cap, mlcc_expr *e) {
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 4;
        *v = mlcc_xrealloc(*v, sizeof(mlcc_expr *) * (size_t)*cap);
    }
    (*v)[(*n)++] = e;
}

/* The factors of a product tree before simplification: a * (b * c) has a, b, c. Working on
 * the whole tree at once (instead of bottom-up) makes the expand-or-not decision the same
 * when the result is simplified again. */
static void raw_factors(mlcc_expr *e, mlcc_expr ***v, int *n, int *cap) {
    if (e->kind == EXPR_MUL && arith_is_index(e) && arith_is_index(e->bin.a) && arith_is_index(e->bin.b)) {
        raw_factors(e->bin.a, v, n, cap);
        raw_factors(e->bin.b, v, n, cap);
        return;
    }
    push_expr(v, n, cap, e);
}

mlcc_expr *lin_product(arith_analyzer *a, mlcc_expr *e) {
    mlcc_expr **raw = NULL, **atoms = NULL, **sums = NULL;
    int nraw = 0, craw = 0, natoms = 0, catoms = 0, nsums = 0, csums = 0;
    raw_factors(e, &raw, &nraw, &craw);
    arith_lin acc; /* the constant and atom factors, then the expansion */
    lin_init(&acc);
    int64_t k = 1;
    int64_t count = 1; /* terms of the full expansion */
    for (int i = 0; i < nraw; i++) {
        mlcc_expr *s = arith_simp(a, raw[i]);
        arith_lin l;
        lin_init(&l);
        lin_add_expr(&l, s, 1);
        lin_normalize(&l);
        if (l.overflow) acc.overflow = 1;
        if (lin_is_const(&l)) {
            k = checked_mul(&acc, k, l.c);
        } else if (l.n == 1 && l.c == 0) {
            k = checked_mul(&acc, k, l.terms[0].coef);
            collect_factors(l.terms[0].atom, &atoms, &natoms, &catoms);
        } else {
            push_expr(&sums, &nsums, &csums, s);
            int64_t t = l.n + (l.c != 0);
            count = count > MAX_EXPANDED_TERMS ? count : count * t;
        }
        lin_free(&l);
    }
    mlcc_expr *out = NULL;
    if (acc.overflow) goto done;
    if (k == 0) {
        out = ir_int(0);
        goto done;
    }
    if (count <= MAX_EXPANDED_TERMS) {
        mlcc_expr *mono = NULL;
        for (int i = 0; i < natoms; i++) mono = mono ? atom_product(mono, atoms[i]) : atoms[i];
        if (mono) lin_add_term(&acc, mono, k);
        else acc.c = k;
        for (int i = 0; i < nsums; i++) {
            arith_lin f, next;
            lin_init(&f);
            lin_init(&next);
            lin_add_expr(&f, sums[i], 1);
            lin_normalize(&f);
            lin_mul_into(&next, &acc, &f);
            lin_normalize(&next);
            lin_free(&f);
            lin_free(&acc);
            acc = next;
        }
    } else {
        /* too big to expand: one atom, its factors (sums included) sorted */
        for (int i = 0; i < nsums; i++) push_expr(&atoms, &natoms, &catoms, sums[i]);
        qsort(atoms, (size_t)natoms, sizeof(mlcc_expr *), factor_cmp);
        mlcc_expr *prod = atoms[0];
        for (int i = 1; i < natoms; i++) prod = ir_mul(prod, atoms[i]);
        lin_add_term(&acc, prod, k);
    }
    lin_normalize(&acc);
    if (!acc.overflow) out = lin_to_expr(&acc);
done:
    lin_free(&acc);
    free(raw);
    free(atoms);
    free(sums);
    return out;
}
