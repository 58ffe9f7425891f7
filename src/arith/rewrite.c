/* rewrite.c - the simplifier: a bottom-up pass that puts int64 index arithmetic in canonical
 * form (linear.c, divmod.c) and resolves min/max, comparisons, select and logic wherever the
 * prover (bounds.c) decides them. Everything else (floats, loads, calls, narrower ints) keeps
 * its structure, with its integer sub-expressions simplified.
 *
 * Every rewrite here is an identity over the integers for all values in the known ranges;
 * when a step cannot be done exactly (a coefficient would overflow, a proof fails) the node
 * is rebuilt from its simplified children instead. */
#include <stdlib.h>

#include "arith/arith_impl.h"
#include "support/alloc.h"

/* Nested min/max chains longer than this are not flattened (pairwise proofs are quadratic). */
#define MAX_MINMAX_ARGS 8

/* ---- generic rebuilding ---- */

static mlcc_expr *rebuild_binary(mlcc_expr *e, mlcc_expr *x, mlcc_expr *y) {
    if (x == e->bin.a && y == e->bin.b) return e;
    return ir_binary(e->kind, x, y);
}

/* *out: the simplified list, or NULL when nothing changed. */
static void simp_list(arith_analyzer *a, mlcc_expr **in, int n, mlcc_expr ***out) {
    mlcc_expr **args = NULL;
    for (int i = 0; i < n; i++) {
        mlcc_expr *s = arith_simp(a, in[i]);
        if (s != in[i] && !args) {
            args = ir_alloc(sizeof(mlcc_expr *) * (size_t)n);
            for (int j = 0; j < i; j++) args[j] = in[j];
        }
        if (args) args[i] = s;
    }
    *out = args;
}

static mlcc_expr *simp_children(arith_analyzer *a, mlcc_expr *e) {
    mlcc_expr **args;
    switch (e->kind) {
    case EXPR_INT:
    case EXPR_FLOAT:
    case EXPR_VAR: return e;
    case EXPR_NOT: {
        mlcc_expr *x = arith_simp(a, e->un.a);
        return x == e->un.a ? e : ir_not(x);
    }
    case EXPR_CAST: {
        mlcc_expr *x = arith_simp(a, e->un.a);
        return x == e->un.a ? e : ir_cast(e->dtype, x);
    }
    case EXPR_SELECT: {
        mlcc_expr *c = arith_simp(a, e->select.cond), *t = arith_simp(a, e->select.t), *f = arith_simp(a, e->select.f);
        if (c == e->select.cond && t == e->select.t && f == e->select.f) return e;
        return ir_select(c, t, f);
    }
    case EXPR_CALL:
        simp_list(a, e->call.args, e->call.nargs, &args);
        return args ? ir_call(e->dtype, e->call.op, args, e->call.nargs) : e;
    case EXPR_LOAD:
        simp_list(a, e->load.indices, e->load.nidx, &args);
        return args ? ir_load(e->load.buffer, args, e->load.nidx) : e;
    case EXPR_RAMP: {
        mlcc_expr *b = arith_simp(a, e->ramp.base), *s = arith_simp(a, e->ramp.stride);
        return b == e->ramp.base && s == e->ramp.stride ? e : ir_ramp(b, s, e->dtype.lanes);
    }
    case EXPR_BROADCAST: {
        mlcc_expr *v = arith_simp(a, e->broadcast.value);
        return v == e->broadcast.value ? e : ir_broadcast(v, e->dtype.lanes);
    }
    default: return rebuild_binary(e, arith_simp(a, e->bin.a), arith_simp(a, e->bin.b));
    }
}

/* ---- proofs on differences ---- */

/* sign * (x - y) + add, normalized. */
static void diff_lin(mlcc_expr *x, mlcc_expr *y, int64_t sign, int64_t add, arith_lin *out) {
    lin_init(out);
    lin_add_expr(out, x, sign);
    lin_add_expr(out, y, -sign);
    lin_add_const(out, add, 1);
    lin_normalize(out);
}

/* sign * l + add <= 0 ? */
static int prove_lin(arith_analyzer *a, const arith_lin *l, int64_t sign, int64_t add) {
    arith_lin t;
    lin_init(&t);
    lin_add_lin(&t, l, sign);
    lin_add_const(&t, add, 1);
    lin_normalize(&t);
    int ok = !t.overflow && lin_prove_le0(a, &t);
    lin_free(&t);
    return ok;
}

/* x <= y for every value (x, y simplified int64 expressions)? */
static int prove_le(arith_analyzer *a, mlcc_expr *x, mlcc_expr *y) {
    arith_lin d;
    diff_lin(x, y, 1, 0, &d);
    int ok = !d.overflow && lin_prove_le0(a, &d);
    lin_free(&d);
    return ok;
}

/* ---- sums, products, division ---- */

static mlcc_expr *simp_sum(arith_analyzer *a, mlcc_expr *e, mlcc_expr *x, mlcc_expr *y) {
    arith_lin l;
    lin_init(&l);
    lin_add_expr(&l, x, 1);
    lin_add_expr(&l, y, e->kind == EXPR_SUB ? -1 : 1);
    lin_normalize(&l);
    mlcc_expr *out = l.overflow ? rebuild_binary(e, x, y) : lin_to_expr(&l);
    lin_free(&l);
    (void)a;
    return out;
}

static mlcc_expr *simp_divmod(arith_analyzer *a, mlcc_expr *e, mlcc_expr *x, mlcc_expr *y) {
    if (y->kind != EXPR_INT && (e->kind == EXPR_FLOORDIV || e->kind == EXPR_FLOORMOD)) {
        arith_lin l;
        lin_init(&l);
        lin_add_expr(&l, x, 1);
        lin_normalize(&l);
        mlcc_expr *out = l.overflow ? NULL : arith_divmod_symbolic(a, &l, y, e->kind == EXPR_FLOORMOD);
        lin_free(&l);
        return out ? out : rebuild_binary(e, x, y);
    }
    if (y->kind != EXPR_INT || y->int_value <= 0) return rebuild_binary(e, x, y);
    mlcc_expr_kind k = e->kind;
    if (k == EXPR_DIV || k == EXPR_MOD) {
        /* truncating division agrees with floor division for a non-negative dividend */
        if (!prove_le(a, ir_int(0), x)) return rebuild_binary(e, x, y);
        k = k == EXPR_DIV ? EXPR_FLOORDIV : EXPR_FLOORMOD;
    }
    arith_lin l;
    lin_init(&l);
    lin_add_expr(&l, x, 1);
    lin_normalize(&l);
    mlcc_expr *out = NULL;
    if (!l.overflow)
        out = k == EXPR_FLOORDIV ? arith_floordiv_const(a, &l, y->int_value) : arith_floormod_const(a, &l, y->int_value);
    lin_free(&l);
    return out ? out : rebuild_binary(e, x, y);
}

/* ---- min / max ---- */

static void collect_minmax(mlcc_expr *e, mlcc_expr_kind kind, mlcc_expr ***args, int *n, int *cap) {
    if (e->kind == kind) {
        collect_minmax(e->bin.a, kind, args, n, cap);
        collect_minmax(e->bin.b, kind, args, n, cap);
        return;
    }
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 4;
        *args = mlcc_xrealloc(*args, sizeof(mlcc_expr *) * (size_t)*cap);
    }
    (*args)[(*n)++] = e;
}

/* min/max operands: structural order, constants last (T.min(i, 6)). */
static int minmax_arg_cmp(const void *x, const void *y) {
    const mlcc_expr *a = *(mlcc_expr *const *)x, *b = *(mlcc_expr *const *)y;
    if ((a->kind == EXPR_INT) != (b->kind == EXPR_INT)) return a->kind == EXPR_INT ? 1 : -1;
    return arith_expr_compare(a, b);
}

/* min(x, max(x, y)) = x and max(x, min(x, y)) = x */
static int absorbs(mlcc_expr *x, mlcc_expr *other, mlcc_expr_kind kind) {
    mlcc_expr_kind dual = kind == EXPR_MIN ? EXPR_MAX : EXPR_MIN;
    return other->kind == dual && (arith_expr_compare(other->bin.a, x) == 0 || arith_expr_compare(other->bin.b, x) == 0);
}

static mlcc_expr *simp_minmax(arith_analyzer *a, mlcc_expr *e, mlcc_expr *x, mlcc_expr *y) {
    mlcc_expr_kind kind = e->kind;
    if (x->kind == EXPR_INT && y->kind == EXPR_INT) return ir_binary(kind, x, y);
    mlcc_expr **args = NULL;
    int n = 0, cap = 0;
    collect_minmax(x, kind, &args, &n, &cap);
    collect_minmax(y, kind, &args, &n, &cap);
    if (n > MAX_MINMAX_ARGS) {
        free(args);
        return minmax_arg_cmp(&x, &y) > 0 ? ir_binary(kind, y, x) : ir_binary(kind, x, y);
    }
    /* drop every argument that another one provably beats (or absorbs) */
    for (int i = 0; i < n; i++) {
        for (int j = 0; j < n && args[i]; j++) {
            if (i == j || !args[j]) continue;
            int wins = kind == EXPR_MIN ? prove_le(a, args[j], args[i]) : prove_le(a, args[i], args[j]);
            if (wins || absorbs(args[j], args[i], kind)) args[i] = NULL;
        }
    }
    int m = 0;
    for (int i = 0; i < n; i++)
        if (args[i]) args[m++] = args[i];
    if (m > 1) qsort(args, (size_t)m, sizeof(mlcc_expr *), minmax_arg_cmp);
    mlcc_expr *acc = args[0];
    for (int i = 1; i < m; i++) acc = ir_binary(kind, acc, args[i]);
    free(args);
    return acc;
}

/* ---- comparisons ---- */

/* 1 true, 0 false, -1 unknown: the comparison `kind` of d (= lhs - rhs) with 0. */
static int decide_compare(arith_analyzer *a, mlcc_expr_kind kind, const arith_lin *d) {
    switch (kind) {
    case EXPR_LT: return prove_lin(a, d, 1, 1) ? 1 : prove_lin(a, d, -1, 0) ? 0 : -1;
    case EXPR_LE: return prove_lin(a, d, 1, 0) ? 1 : prove_lin(a, d, -1, 1) ? 0 : -1;
    case EXPR_GT: return prove_lin(a, d, -1, 1) ? 1 : prove_lin(a, d, 1, 0) ? 0 : -1;
    case EXPR_GE: return prove_lin(a, d, -1, 0) ? 1 : prove_lin(a, d, 1, 1) ? 0 : -1;
    case EXPR_EQ:
    case EXPR_NE: {
        int eq = -1;
        int64_t g = lin_coef_gcd(d);
        if (lin_is_const(d)) eq = d->c == 0;
        else if (g > 1 && d->c % g != 0) eq = 0;
        else if (prove_lin(a, d, 1, 1) || prove_lin(a, d, -1, 1)) eq = 0;
        else if (prove_lin(a, d, 1, 0) && prove_lin(a, d, -1, 0)) eq = 1;
        if (eq < 0) return -1;
        return kind == EXPR_EQ ? eq : !eq;
    }
    default: return -1;
    }
}

/* Splits terms * (1/g) into positive ones (lhs) and negated negative ones (rhs). */
static void split_sides(const arith_lin *s, int64_t g, arith_lin *lhs, arith_lin *rhs) {
    lin_init(lhs);
    lin_init(rhs);
    for (int i = 0; i < s->n; i++) {
        int64_t k = s->terms[i].coef / g;
        if (k > 0) lin_add_term(lhs, s->terms[i].atom, k);
        else if (k == INT64_MIN) rhs->overflow = 1; /* the caller then keeps the input */
        else lin_add_term(rhs, s->terms[i].atom, -k);
    }
}

static mlcc_expr *side_expr(arith_lin *l, int64_t c) {
    l->c = c;
    lin_normalize(l);
    return lin_to_expr(l);
}

static int side_fits(arith_analyzer *a, arith_lin *l, int64_t c) {
    l->c = c;
    lin_normalize(l);
    return lin_value_fits(a, l);
}

/* The canonical text of `s + c' <= 0` (s has terms) or `s + c' ==/!= 0`: terms divided by
 * their gcd, positive ones on the left, subtracted ones moved to the right with the constant:
 * i * 4 + j < n, x <= y, x == y + 1, n >= 1. NULL if a constant would overflow, or if a
 * side's value might overflow where the input's sides did not (lin_value_fits). */
static mlcc_expr *compare_form(arith_analyzer *a, mlcc_expr_kind kind, const arith_lin *s, int64_t cprime) {
    int64_t g = lin_coef_gcd(s);
    if (g <= 0) g = 1;
    if (cprime == INT64_MIN) return NULL;
    arith_lin lhs, rhs;
    split_sides(s, g, &lhs, &rhs);
    mlcc_expr *out = NULL;
    if (kind == EXPR_EQ || kind == EXPR_NE) {
        int64_t k = -cprime / g; /* exact: the caller checked divisibility */
        if (!side_fits(a, &lhs, 0) || !side_fits(a, &rhs, lhs.n > 0 ? k : 0)) goto done;
        if (lhs.n > 0) out = ir_binary(kind, side_expr(&lhs, 0), side_expr(&rhs, k));
        else if (k != INT64_MIN) out = ir_binary(kind, side_expr(&rhs, 0), ir_int(-k));
    } else {
        int64_t k = arith_floordiv64(-cprime, g); /* lhs - rhs <= k */
        int64_t rk = lhs.n == 0 ? 0 : k == 0 || k == INT64_MAX ? k : k + 1;
        if (!side_fits(a, &lhs, 0) || !side_fits(a, &rhs, rk)) goto done;
        if (lhs.n > 0) {
            if (k == 0) out = ir_le(side_expr(&lhs, 0), side_expr(&rhs, 0));
            else if (k == INT64_MAX) out = ir_le(side_expr(&lhs, 0), side_expr(&rhs, k));
            else out = ir_lt(side_expr(&lhs, 0), side_expr(&rhs, k + 1));
        } else if (k != INT64_MIN) {
            out = ir_ge(side_expr(&rhs, 0), ir_int(-k)); /* rhs >= -k */
        }
    }
done:
    lin_free(&lhs);
    lin_free(&rhs);
    return out;
}

static mlcc_expr *simp_compare(arith_analyzer *a, mlcc_expr *e, mlcc_expr *x, mlcc_expr *y) {
    arith_lin d;
    diff_lin(x, y, 1, 0, &d);
    mlcc_expr *out = NULL;
    if (d.overflow) goto done;
    int truth = decide_compare(a, e->kind, &d);
    if (truth >= 0) {
        out = ir_bool(truth);
        goto done;
    }
    if (lin_is_const(&d)) goto done;
    if ((e->kind == EXPR_EQ || e->kind == EXPR_NE) && d.terms[0].coef < 0) {
        /* x == y and y == x print alike: the first atom gets a positive coefficient */
        arith_lin neg;
        lin_init(&neg);
        lin_add_lin(&neg, &d, -1);
        lin_free(&d);
        d = neg;
        if (d.overflow) goto done;
    }
    arith_lin s;
    lin_init(&s);
    int64_t cprime = 0;
    switch (e->kind) {
    case EXPR_LE:
    case EXPR_EQ:
    case EXPR_NE: lin_add_lin(&s, &d, 1); cprime = d.c; break;
    case EXPR_LT: lin_add_lin(&s, &d, 1); cprime = d.c == INT64_MAX ? INT64_MIN : d.c + 1; break;
    case EXPR_GE: lin_add_lin(&s, &d, -1); cprime = s.c; break;
    case EXPR_GT: lin_add_lin(&s, &d, -1); cprime = s.c == INT64_MAX ? INT64_MIN : s.c + 1; break;
    default: break;
    }
    if (!s.overflow) out = compare_form(a, e->kind == EXPR_EQ || e->kind == EXPR_NE ? e->kind : EXPR_LE, &s, cprime);
    lin_free(&s);
done:
    lin_free(&d);
    return out ? out : rebuild_binary(e, x, y);
}

/* ---- logic and select ---- */

static mlcc_expr_kind negate_compare(mlcc_expr_kind k) {
    switch (k) {
    case EXPR_EQ: return EXPR_NE;
    case EXPR_NE: return EXPR_EQ;
    case EXPR_LT: return EXPR_GE;
    case EXPR_LE: return EXPR_GT;
    case EXPR_GT: return EXPR_LE;
    default: return EXPR_LT; /* GE */
    }
}

static mlcc_expr *simp_not(arith_analyzer *a, mlcc_expr *e) {
    mlcc_expr *x = arith_simp(a, e->un.a);
    if (x->kind == EXPR_INT) return ir_const_int(e->dtype, !x->int_value);
    if (x->kind == EXPR_NOT) return x->un.a;
    if (expr_is_compare(x->kind) && arith_is_index(x->bin.a) && arith_is_index(x->bin.b))
        return arith_simp(a, ir_binary(negate_compare(x->kind), x->bin.a, x->bin.b));
    return x == e->un.a ? e : ir_not(x);
}

/* Inequalities as `l <= 0` (integers): x < y is x - y + 1 <= 0, x >= y is y - x <= 0. */
static int as_le0(const mlcc_expr *c, arith_lin *out) {
    if (c->kind < EXPR_LT || c->kind > EXPR_GE || !arith_is_index(c->bin.a) || !arith_is_index(c->bin.b)) return 0;
    int flip = c->kind == EXPR_GT || c->kind == EXPR_GE;
    int strict = c->kind == EXPR_LT || c->kind == EXPR_GT;
    diff_lin(c->bin.a, c->bin.b, flip ? -1 : 1, strict, out);
    if (!out->overflow) return 1;
    lin_free(out);
    return 0;
}

/* How two inequalities li <= 0, lj <= 0 relate when their sum or difference is constant:
 * IMPLIES (li <= 0 gives lj <= 0), IMPLIED, and for lj = e - li (both hold iff e <= li <= 0)
 * EXCLUSIVE when e > 0 and COVERING (one always holds) when e <= 1. */
enum { REL_IMPLIES = 1, REL_IMPLIED = 2, REL_EXCLUSIVE = 4, REL_COVERING = 8 };

static int relate(const arith_lin *li, const arith_lin *lj) {
    arith_lin d;
    lin_init(&d);
    lin_add_lin(&d, li, 1);
    lin_add_lin(&d, lj, -1);
    lin_normalize(&d);
    int r = 0;
    if (!d.overflow && lin_is_const(&d)) {
        r = d.c >= 0 ? REL_IMPLIES : REL_IMPLIED; /* li = lj + d */
    } else {
        lin_free(&d);
        lin_init(&d);
        lin_add_lin(&d, li, 1);
        lin_add_lin(&d, lj, 1);
        lin_normalize(&d);
        if (!d.overflow && lin_is_const(&d)) r = (d.c > 0 ? REL_EXCLUSIVE : 0) | (d.c <= 1 ? REL_COVERING : 0);
    }
    lin_free(&d);
    return r;
}

static void collect_logic(mlcc_expr *e, mlcc_expr_kind kind, mlcc_expr ***v, int *n, int *cap) {
    if (e->kind == kind) {
        collect_logic(e->bin.a, kind, v, n, cap);
        collect_logic(e->bin.b, kind, v, n, cap);
        return;
    }
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 4;
        *v = mlcc_xrealloc(*v, sizeof(mlcc_expr *) * (size_t)*cap);
    }
    (*v)[(*n)++] = e;
}

/* A chain of and (or): duplicates and implied (implying) inequalities dropped, contradictory
 * (complementary) pairs decided: x < 5 and x < 3 is x < 3; x < 3 or x >= 3 is True. */
static mlcc_expr *merge_logic(mlcc_expr *e, mlcc_expr *x, mlcc_expr *y) {
    int is_and = e->kind == EXPR_AND;
    mlcc_expr **v = NULL;
    int n = 0, cap = 0;
    collect_logic(x, e->kind, &v, &n, &cap);
    collect_logic(y, e->kind, &v, &n, &cap);
    mlcc_expr *out = NULL;
    if (n > MAX_MINMAX_ARGS * 2) goto done;
    for (int i = 0; i < n && !out; i++) {
        for (int j = i + 1; j < n && v[i] && !out; j++) {
            if (!v[j]) continue;
            if (arith_expr_compare(v[i], v[j]) == 0) {
                v[j] = NULL;
                continue;
            }
            arith_lin li, lj;
            if (!as_le0(v[i], &li)) continue;
            if (!as_le0(v[j], &lj)) {
                lin_free(&li);
                continue;
            }
            int r = relate(&li, &lj);
            lin_free(&li);
            lin_free(&lj);
            if (r & REL_IMPLIES) v[is_and ? j : i] = NULL;
            else if (r & REL_IMPLIED) v[is_and ? i : j] = NULL;
            else if ((r & REL_EXCLUSIVE) && is_and) out = ir_const_int(e->dtype, 0);
            else if ((r & REL_COVERING) && !is_and) out = ir_const_int(e->dtype, 1);
        }
    }
    if (!out) {
        for (int i = 0; i < n; i++)
            if (v[i]) out = out ? ir_binary(e->kind, out, v[i]) : v[i];
    }
done:
    free(v);
    return out ? out : rebuild_binary(e, x, y);
}

static mlcc_expr *simp_and_or(arith_analyzer *a, mlcc_expr *e) {
    int is_and = e->kind == EXPR_AND;
    mlcc_expr *x = arith_simp(a, e->bin.a);
    if (x->kind == EXPR_INT && e->dtype.lanes == 1 && (x->int_value != 0) != is_and) return ir_const_int(e->dtype, !is_and);
    mlcc_expr *y = arith_simp(a, e->bin.b);
    if (x->kind == EXPR_INT || y->kind == EXPR_INT || e->dtype.lanes != 1) return rebuild_binary(e, x, y);
    return merge_logic(e, x, y);
}

static mlcc_expr *simp_select(arith_analyzer *a, mlcc_expr *e) {
    mlcc_expr *c = arith_simp(a, e->select.cond);
    if (c->kind == EXPR_INT) return arith_simp(a, c->int_value ? e->select.t : e->select.f);
    mlcc_expr *t = arith_simp(a, e->select.t), *f = arith_simp(a, e->select.f);
    if (arith_expr_compare(t, f) == 0) return t;
    if (c == e->select.cond && t == e->select.t && f == e->select.f) return e;
    return ir_select(c, t, f);
}

/* ---- dispatch ---- */

static mlcc_expr *simp_node(arith_analyzer *a, mlcc_expr *e);

mlcc_expr *arith_simp(arith_analyzer *a, mlcc_expr *e) {
    if (e->kind == EXPR_INT || e->kind == EXPR_FLOAT || e->kind == EXPR_VAR) return e;
    if (!a->memo) return simp_node(a, e);
    mlcc_expr *done = u64map_get_p(a->memo, e);
    if (done) return done;
    mlcc_expr *s = simp_node(a, e);
    u64map_set_p(a->memo, e, s);
    return s;
}

mlcc_expr *arith_simp_top(arith_analyzer *a, mlcc_expr *e) {
    if (a->memo) return arith_simp(a, e);
    mlcc_u64map memo;
    u64map_init(&memo);
    a->memo = &memo;
    mlcc_expr *s = arith_simp(a, e);
    a->memo = NULL;
    u64map_free(&memo);
    return s;
}

static mlcc_expr *simp_node(arith_analyzer *a, mlcc_expr *e) {
    switch (e->kind) {
    case EXPR_ADD:
    case EXPR_SUB:
    case EXPR_MUL:
    case EXPR_DIV:
    case EXPR_MOD:
    case EXPR_FLOORDIV:
    case EXPR_FLOORMOD:
    case EXPR_MIN:
    case EXPR_MAX: {
        if (!arith_is_index(e)) return simp_children(a, e);
        if (e->kind == EXPR_MUL && arith_is_index(e->bin.a) && arith_is_index(e->bin.b)) {
            mlcc_expr *p = lin_product(a, e);
            if (p) return p;
        }
        mlcc_expr *x = arith_simp(a, e->bin.a), *y = arith_simp(a, e->bin.b);
        if (!arith_is_index(x) || !arith_is_index(y)) return rebuild_binary(e, x, y);
        switch (e->kind) {
        case EXPR_ADD:
        case EXPR_SUB: return simp_sum(a, e, x, y);
        case EXPR_MUL: return rebuild_binary(e, x, y); /* the product overflowed */
        case EXPR_MIN:
        case EXPR_MAX: return simp_minmax(a, e, x, y);
        default: return simp_divmod(a, e, x, y);
        }
    }
    case EXPR_EQ:
    case EXPR_NE:
    case EXPR_LT:
    case EXPR_LE:
    case EXPR_GT:
    case EXPR_GE: {
        mlcc_expr *x = arith_simp(a, e->bin.a), *y = arith_simp(a, e->bin.b);
        if (!arith_is_index(x) || !arith_is_index(y)) return rebuild_binary(e, x, y);
        return simp_compare(a, e, x, y);
    }
    case EXPR_AND:
    case EXPR_OR: return simp_and_or(a, e);
    case EXPR_NOT: return simp_not(a, e);
    case EXPR_SELECT: return simp_select(a, e);
    default: return simp_children(a, e);
    }
}
