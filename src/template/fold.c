/* fold.c - constant folding as Jinja2's optimizer does it, because it is observable: Jinja2
 * evaluates constant expressions at compile time through as_const(), where `x[a:b]` goes
 * through environment.getitem (a TypeError becomes undefined) while at run time it is plain
 * Python slicing (which raises), and a {{ }} whose whole expression is constant is printed
 * from that compile-time value. So every expression is tried bottom-up (names, calls and
 * context filters make it "Impossible"); a result Python can repr safely (None, bool, int,
 * float, str) replaces the node, and constant outputs are replaced by their printed text.
 * One more visible artefact is kept: a folded negative number is written back unparenthesized,
 * so `-2 ** y` computes -(2 ** y) when y is not constant. */
#include <math.h>

#include "support/vec.h"
#include "template/parser.h"

static int is_safe_scalar(jv v) {
    return v.kind == JV_NONE || v.kind == JV_BOOL || v.kind == JV_INT || v.kind == JV_FLOAT || v.kind == JV_STR;
}

/* Turns e into the constant v (taking it). */
static void make_const(mlcc_template *t, expr *e, jv v) {
    if (v.kind == JV_STR && v.u.s->rc != JV_IMMORTAL) {
        /* shared by every render from now on (see const_expr in parser.c) */
        jv_str_ncp(v.u.s);
        v.u.s->rc = JV_IMMORTAL;
        vec_push(&t->consts, v);
    }
    e->kind = E_CONST;
    e->value = v;
}

static int is_negative_number(jv v) {
    if (v.kind == JV_INT) return v.u.i < 0;
    if (v.kind == JV_FLOAT) return signbit(v.u.f) != 0;
    return 0;
}

static void fold_expr(mlcc_template *t, expr *e) {
    if (!e || e->kind == E_CONST) return;
    fold_expr(t, e->a);
    fold_expr(t, e->b);
    fold_expr(t, e->c);
    for (size_t i = 0; i < e->n; i++) fold_expr(t, e->items[i]);
    for (size_t i = 0; i < e->args.npos; i++) fold_expr(t, e->args.pos[i]);
    for (size_t i = 0; i < e->args.nkw; i++) fold_expr(t, e->args.kw[i]);
    fold_expr(t, e->args.star);
    fold_expr(t, e->args.starstar);
    if (e->kind == E_NAME || e->kind == E_CALL) return;
    jv v;
    if (template_eval_const(t, e, &v) < 0) {
        if (e->kind == E_BINOP && e->op == OP_POW && e->a->kind == E_CONST && is_negative_number(e->a->value))
            e->folded = 1;
        return;
    }
    if (is_safe_scalar(v)) make_const(t, e, v);
    else jv_release(v);
}

/* {{ expr }} with a constant expression prints the compile-time value, whatever it is. */
static void fold_output(mlcc_template *t, expr *e) {
    fold_expr(t, e);
    if (e->kind == E_CONST) return;
    jv v;
    if (template_eval_const(t, e, &v) < 0) return;
    jv s = jv_to_str(v);
    jv_release(v);
    if (s.u.s->rc == JV_IMMORTAL) make_const(t, e, s);
    else {
        /* jv_to_str may hand back v itself for a str; copy so the constant owns its string */
        jv copy = jv_str_n(s.u.s->data, s.u.s->len);
        copy.u.s->markup = s.u.s->markup;
        jv_release(s);
        make_const(t, e, copy);
    }
}

static void fold_body(mlcc_template *t, stmt_list *body);

static void fold_stmt(mlcc_template *t, stmt *s) {
    if (s->kind == S_OUTPUT) fold_output(t, s->e);
    else fold_expr(t, s->e);
    fold_expr(t, s->cond);
    for (size_t i = 0; i < s->nparams; i++) fold_expr(t, s->defaults[i]);
    for (size_t i = 0; i < s->nwith; i++) fold_expr(t, s->values[i]);
    fold_body(t, &s->body);
    fold_body(t, &s->else_body);
}

static void fold_body(mlcc_template *t, stmt_list *body) {
    for (size_t i = 0; i < body->n; i++) fold_stmt(t, body->items[i]);
}

void template_fold_constants(mlcc_template *t) { fold_body(t, &t->body); }
