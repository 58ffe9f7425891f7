/* eval.c - the renderer: executes statements and evaluates expressions with Jinja2's
 * semantics. Scoping follows Jinja2: every loop iteration, macro call, call block and with
 * block gets a fresh child scope (so `set` inside a loop does not survive the iteration; use a
 * namespace), `if` shares its scope, and names resolve outward to the context and the globals.
 * Macros and call blocks are closures over the scope they were defined in. Value access is in
 * access.c, the operators in operators.c, filters/tests/methods/globals in their own files. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support/alloc.h"
#include "support/error.h"
#include "template/interp.h"
#include "template/lexer.h"
#include "template/ustr.h"

/* ---- errors ---- */

int rt_fail(interp *in, const char *fmt, ...) {
    if (in->failed) return -1;
    in->failed = 1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(in->err, sizeof in->err, fmt, ap);
    va_end(ap);
    return -1;
}

int rt_undefined(interp *in, jv undef) {
    if (undef.kind == JV_UNDEF && undef.u.s) return rt_fail(in, "UndefinedError: %s", undef.u.s->data);
    return rt_fail(in, "UndefinedError: a value is undefined");
}

int rt_tick(interp *in, unsigned long long n) {
    in->steps += n;
    if (in->steps > in->max_steps)
        return rt_fail(in, "the render took more than %llu steps (a runaway loop?)", in->max_steps);
    return 0;
}

/* Attaches the position of e to an error that has none yet; returns -1. */
static int at(interp *in, const expr *e) {
    if (in->failed && in->err_line == 0 && e) {
        in->err_line = e->line;
        in->err_col = e->col;
    }
    return -1;
}

static int at_stmt(interp *in, const stmt *s) {
    if (in->failed && in->err_line == 0) {
        in->err_line = s->line;
        in->err_col = s->col;
    }
    return R_ERR;
}

/* ---- scopes ---- */

static scope *scope_new(scope *parent) {
    scope *s = mlcc_xcalloc(1, sizeof *s);
    s->parent = parent;
    s->vars = jv_dict_new().u.d;
    return s;
}

static void scope_free(scope *s) {
    if (s->ref) {
        s->ref->scope = NULL;
        if (--s->ref->rc == 0) free(s->ref);
    }
    jv d = {JV_DICT, {0}};
    d.u.d = s->vars;
    jv_release(d);
    free(s);
}

static jv_scope_ref *scope_ref(scope *s) {
    if (!s->ref) {
        s->ref = mlcc_xcalloc(1, sizeof *s->ref);
        s->ref->rc = 1;
        s->ref->scope = s;
    }
    s->ref->rc++;
    return s->ref;
}

static jv *scope_find(scope *s, const char *name, size_t len) {
    for (; s; s = s->parent) {
        jv *v = jv_dict_get_str(s->vars, name, len);
        if (v) return v;
    }
    return NULL;
}

static void scope_set(scope *s, const char *name, jv v) { jv_dict_set_str(s->vars, name, v); }

static int lookup_name(interp *in, scope *s, const char *name, jv *out) {
    if (in->folding) return rt_fail(in, "not constant");
    jv *v = scope_find(s, name, strlen(name));
    if (v) {
        *out = jv_retain(*v);
        return 0;
    }
    if (lookup_global(name, out)) return 0;
    (void)in;
    *out = jv_undef_hint("'%s' is undefined", name);
    return 0;
}

/* ---- output ---- */

static int exec_list(interp *in, scope *s, const stmt_list *body);
static int eval(interp *in, scope *s, const expr *e, jv *out);

/* Runs body with output captured into a fresh string. */
static int capture(interp *in, scope *s, const stmt_list *body, jv *out) {
    mlcc_strbuf buf = STRBUF_INIT, *saved = in->out;
    in->out = &buf;
    int rc = exec_list(in, s, body);
    in->out = saved;
    if (rc == R_ERR) {
        sb_free(&buf);
        return R_ERR;
    }
    *out = jv_str_take_sb(&buf);
    return rc;
}

/* ---- calls ---- */

static void args_free(args *a) {
    for (size_t i = 0; i < a->npos; i++) jv_release(a->pos[i]);
    for (size_t i = 0; i < a->nkw; i++) jv_release(a->kw[i]);
    free(a->pos);
    free(a->kw);
    free(a->kwnames);
    memset(a, 0, sizeof *a);
}

static void args_add_kw(args *a, const char *name, jv v) {
    a->kw = mlcc_xrealloc(a->kw, (a->nkw + 1) * sizeof(jv));
    a->kwnames = mlcc_xrealloc(a->kwnames, (a->nkw + 1) * sizeof(char *));
    a->kw[a->nkw] = v;
    a->kwnames[a->nkw] = name;
    a->nkw++;
}

static void args_add_pos(args *a, jv v) {
    a->pos = mlcc_xrealloc(a->pos, (a->npos + 1) * sizeof(jv));
    a->pos[a->npos++] = v;
}

static int eval_args(interp *in, scope *s, const call_args *ca, args *out) {
    memset(out, 0, sizeof *out);
    for (size_t i = 0; i < ca->npos; i++) {
        jv v;
        if (eval(in, s, ca->pos[i], &v) < 0) goto fail;
        args_add_pos(out, v);
    }
    if (ca->star) {
        jv v, l;
        if (eval(in, s, ca->star, &v) < 0) goto fail;
        int rc = iterate_value(in, v, &l);
        jv_release(v);
        if (rc < 0) {
            at(in, ca->star);
            goto fail;
        }
        for (size_t i = 0; i < l.u.l->n; i++) args_add_pos(out, jv_retain(l.u.l->items[i]));
        jv_release(l);
    }
    for (size_t i = 0; i < ca->nkw; i++) {
        jv v;
        if (eval(in, s, ca->kw[i], &v) < 0) goto fail;
        args_add_kw(out, ca->kwnames[i], v);
    }
    if (ca->starstar) {
        jv v;
        if (eval(in, s, ca->starstar, &v) < 0) goto fail;
        if (v.kind != JV_DICT) {
            rt_fail(in, "TypeError: argument after ** must be a mapping, not %s", jv_type_name(v));
            jv_release(v);
            at(in, ca->starstar);
            goto fail;
        }
        for (size_t i = 0; i < v.u.d->n; i++) {
            jv k = v.u.d->keys[i];
            if (k.kind != JV_STR) {
                rt_fail(in, "TypeError: keywords must be strings");
                jv_release(v);
                goto fail;
            }
            /* the key string lives as long as the dict; keep the dict alive via a kw arg copy */
            args_add_kw(out, k.u.s->data, jv_retain(v.u.d->vals[i]));
        }
        /* the keyword names point into v: keep it alive under a hidden name until the call ends */
        args_add_kw(out, "\x01keepalive", v);
    }
    return 0;
fail:
    args_free(out);
    return -1;
}

int bind_args(interp *in, const char *what, const args *a, size_t n, const char *const *names,
              const jv **slots) {
    for (size_t i = 0; i < n; i++) slots[i] = NULL;
    if (a->npos > n) return rt_fail(in, "TypeError: %s takes at most %zu argument(s) (%zu given)", what, n, a->npos);
    for (size_t i = 0; i < a->npos; i++) slots[i] = &a->pos[i];
    for (size_t k = 0; k < a->nkw; k++) {
        if (a->kwnames[k][0] == '\x01') continue;
        size_t i = 0;
        while (i < n && strcmp(names[i], a->kwnames[k]) != 0) i++;
        if (i == n) return rt_fail(in, "TypeError: %s got an unexpected keyword argument '%s'", what, a->kwnames[k]);
        if (slots[i]) return rt_fail(in, "TypeError: %s got multiple values for argument '%s'", what, names[i]);
        slots[i] = &a->kw[k];
    }
    return 0;
}

static int call_macro(interp *in, jv_func *fn, const args *a, jv *out) {
    const stmt *m = fn->node;
    if (in->depth >= TEMPLATE_MAX_CALL_DEPTH)
        return rt_fail(in, "RecursionError: maximum recursion depth exceeded (%d nested macro calls)",
                       TEMPLATE_MAX_CALL_DEPTH);
    scope *parent = fn->scope && fn->scope->scope ? fn->scope->scope : in->root;
    scope *s = scope_new(parent);
    int is_caller = fn->kind == FN_CALLER;
    const char *what = fn->name;
    int rc = -1;
    size_t np = m->nparams;
    int wants_varargs = m->recursive & MACRO_USES_VARARGS, wants_kwargs = m->recursive & MACRO_USES_KWARGS,
        wants_caller = m->recursive & MACRO_USES_CALLER;
    if (a->npos > np && !wants_varargs && !is_caller) {
        rt_fail(in, "TypeError: macro '%s' takes not more than %zu argument(s)", what, np);
        goto done;
    }
    for (size_t i = 0; i < np && i < a->npos; i++) scope_set(s, m->params[i], jv_retain(a->pos[i]));
    jv kwargs = jv_dict_new();
    jv caller = jv_undef();
    int has_caller = 0;
    for (size_t k = 0; k < a->nkw; k++) {
        const char *name = a->kwnames[k];
        if (name[0] == '\x01') continue;
        size_t i = 0;
        while (i < np && strcmp(m->params[i], name) != 0) i++;
        if (i < np) {
            if (i < a->npos) {
                rt_fail(in, "TypeError: macro '%s' got multiple values for argument '%s'", what, name);
                jv_release(kwargs);
                goto done;
            }
            scope_set(s, name, jv_retain(a->kw[k]));
        } else if (!strcmp(name, "caller") && !is_caller) {
            if (!wants_caller) {
                rt_fail(in, "TypeError: macro '%s' was invoked with a caller but does not use it", what);
                jv_release(kwargs);
                goto done;
            }
            jv_release(caller);
            caller = jv_retain(a->kw[k]);
            has_caller = 1;
        } else if (wants_kwargs || is_caller) {
            jv_dict_set_str(kwargs.u.d, name, jv_retain(a->kw[k]));
        } else {
            rt_fail(in, "TypeError: macro '%s' takes no keyword argument '%s'", what, name);
            jv_release(kwargs);
            goto done;
        }
    }
    /* defaults are evaluated in the macro's scope, so they may use earlier parameters */
    in->depth++;
    for (size_t i = a->npos; i < np; i++) {
        if (jv_dict_get_str(s->vars, m->params[i], strlen(m->params[i]))) continue;
        jv v;
        if (m->defaults[i]) {
            if (eval(in, s, m->defaults[i], &v) < 0) {
                in->depth--;
                jv_release(kwargs);
                jv_release(caller);
                goto done;
            }
        } else v = jv_undef_hint("parameter '%s' was not provided", m->params[i]);
        scope_set(s, m->params[i], v);
    }
    jv varargs = jv_tuple_new(0);
    for (size_t i = np; i < a->npos; i++) jv_list_push(varargs, jv_retain(a->pos[i]));
    scope_set(s, "varargs", varargs);
    scope_set(s, "kwargs", kwargs);
    if (has_caller) scope_set(s, "caller", caller);
    else jv_release(caller);
    rc = capture(in, s, &m->body, out);
    in->depth--;
    if (rc > 0) rc = 0;
done:
    scope_free(s);
    return rc < 0 ? -1 : 0;
}

static int run_for(interp *in, scope *s, const stmt *f, jv iterable, int depth);

static int call_loop_helper(interp *in, jv_func *fn, const args *a, jv *out) {
    jv_loop *l = fn->self.u.loop;
    if (!strcmp(fn->name, "cycle")) {
        if (a->npos == 0) return rt_fail(in, "TypeError: no items for cycling given");
        *out = jv_retain(a->pos[l->index % a->npos]);
        return 0;
    }
    if (!strcmp(fn->name, "changed")) {
        jv t = jv_tuple_new(a->npos);
        for (size_t i = 0; i < a->npos; i++) jv_list_push(t, jv_retain(a->pos[i]));
        int changed = !l->has_changed || !jv_equal(t, l->last_changed);
        jv_release(l->last_changed);
        l->last_changed = t;
        l->has_changed = 1;
        *out = jv_bool(changed);
        return 0;
    }
    return rt_fail(in, "TypeError: unknown loop helper");
}

int call_value(interp *in, jv fn, const args *a, jv *out) {
    if (fn.kind == JV_LOOP) {
        jv_loop *l = fn.u.loop;
        if (!l->node) return rt_fail(in, "TypeError: the loop is not recursive ('recursive' is missing)");
        if (a->npos != 1) return rt_fail(in, "TypeError: loop() takes exactly one argument");
        if (in->depth >= TEMPLATE_MAX_CALL_DEPTH)
            return rt_fail(in, "RecursionError: maximum recursion depth exceeded in a recursive loop");
        scope *s = l->scope && l->scope->scope ? l->scope->scope : in->root;
        mlcc_strbuf buf = STRBUF_INIT, *saved = in->out;
        in->out = &buf;
        in->depth++;
        int rc = run_for(in, s, l->node, a->pos[0], l->depth + 1);
        in->depth--;
        in->out = saved;
        if (rc < 0) {
            sb_free(&buf);
            return -1;
        }
        *out = jv_str_take_sb(&buf);
        return 0;
    }
    if (fn.kind == JV_UNDEF) return rt_undefined(in, fn);
    if (fn.kind != JV_FUNC) return rt_fail(in, "TypeError: '%s' object is not callable", jv_type_name(fn));
    jv_func *f = fn.u.fn;
    switch (f->kind) {
    case FN_BUILTIN: return call_global(in, f->id, a, out);
    case FN_METHOD: return call_method(in, f->self, f->name, a, out);
    case FN_MACRO:
    case FN_CALLER: return call_macro(in, f, a, out);
    case FN_LOOPCALL: return call_loop_helper(in, f, a, out);
    case FN_CYCLER: return rt_fail(in, "TypeError: 'Cycler' object is not callable");
    case FN_CYCLER_METHOD: {
        jv_func *c = f->self.u.fn;
        size_t n = c->self.u.l->n;
        if (!strcmp(f->name, "reset")) {
            c->id = 0;
            *out = jv_none();
        } else {
            *out = jv_retain(c->self.u.l->items[(size_t)c->id % n]);
            c->id = (int)(((size_t)c->id + 1) % n);
        }
        return 0;
    }
    case FN_JOINER:
        /* '' the first time, the separator afterwards */
        *out = f->id ? jv_retain(f->self) : jv_cstr("");
        f->id = 1;
        return 0;
    }
    return rt_fail(in, "TypeError: object is not callable");
}

static int eval_call(interp *in, scope *s, const expr *e, jv caller, jv *out) {
    jv fn;
    if (eval(in, s, e->a, &fn) < 0) return -1;
    args a;
    if (eval_args(in, s, &e->args, &a) < 0) {
        jv_release(fn);
        return -1;
    }
    if (caller.kind != JV_UNDEF) args_add_kw(&a, "caller", jv_retain(caller));
    int rc = call_value(in, fn, &a, out);
    args_free(&a);
    jv_release(fn);
    return rc < 0 ? at(in, e) : 0;
}

/* ---- expressions ---- */

static int eval_seq(interp *in, scope *s, const expr *e, jv seq, jv *out) {
    for (size_t i = 0; i < e->n; i++) {
        jv v;
        if (eval(in, s, e->items[i], &v) < 0) {
            jv_release(seq);
            return -1;
        }
        jv_list_push(seq, v);
    }
    *out = seq;
    return 0;
}

static int eval_inner(interp *in, scope *s, const expr *e, jv *out) {
    switch (e->kind) {
    case E_CONST: *out = jv_retain(e->value); return 0;
    case E_NAME: return lookup_name(in, s, e->name, out);
    case E_LIST: return eval_seq(in, s, e, jv_list_new(e->n), out);
    case E_TUPLE: return eval_seq(in, s, e, jv_tuple_new(e->n), out);
    case E_DICT: {
        jv d = jv_dict_new();
        for (size_t i = 0; i + 1 < e->n; i += 2) {
            jv k, v;
            if (eval(in, s, e->items[i], &k) < 0) goto dict_fail;
            if (k.kind == JV_LIST && !k.u.l->is_tuple) {
                jv_release(k);
                rt_fail(in, "TypeError: unhashable type: 'list'");
                goto dict_fail;
            }
            if (k.kind == JV_DICT) {
                jv_release(k);
                rt_fail(in, "TypeError: unhashable type: 'dict'");
                goto dict_fail;
            }
            if (eval(in, s, e->items[i + 1], &v) < 0) {
                jv_release(k);
                goto dict_fail;
            }
            jv_dict_set(d.u.d, k, v);
        }
        *out = d;
        return 0;
    dict_fail:
        jv_release(d);
        return -1;
    }
    case E_ATTR: {
        jv obj;
        if (eval(in, s, e->a, &obj) < 0) return -1;
        int rc = get_attr(in, obj, e->name, strlen(e->name), out);
        jv_release(obj);
        return rc;
    }
    case E_ITEM: {
        jv obj, key;
        if (eval(in, s, e->a, &obj) < 0) return -1;
        if (eval(in, s, e->b, &key) < 0) {
            jv_release(obj);
            return -1;
        }
        int rc = get_item(in, obj, key, out);
        jv_release(obj);
        jv_release(key);
        return rc;
    }
    case E_SLICE: {
        jv obj, parts[3] = {jv_none(), jv_none(), jv_none()};
        if (!e->a) {
            /* a slice inside a tuple subscript (x[1, :]): Python builds a slice object that no
             * container accepts as a key, so the lookup ends undefined; None stands in for it */
            *out = jv_none();
            return 0;
        }
        if (eval(in, s, e->a, &obj) < 0) return -1;
        int rc = 0;
        for (int i = 0; i < 3 && rc == 0; i++)
            if (e->items[i]) rc = eval(in, s, e->items[i], &parts[i]);
        /* as_const goes through environment.getitem, which turns a TypeError into undefined;
         * at run time slicing is plain Python and raises */
        if (rc == 0 && in->folding && obj.kind != JV_STR && !(obj.kind == JV_LIST && !obj.u.l->iter && !obj.u.l->view) &&
            obj.kind != JV_UNDEF)
            *out = jv_undef_hint("'%s object' has no element slice", jv_type_name(obj));
        else if (rc == 0) rc = slice_value(in, obj, parts[0], parts[1], parts[2], out);
        for (int i = 0; i < 3; i++) jv_release(parts[i]);
        jv_release(obj);
        return rc;
    }
    case E_CALL:
        if (in->folding) return rt_fail(in, "not constant");
        return eval_call(in, s, e, jv_undef(), out);
    case E_FILTER: {
        jv v;
        if (in->folding && (!e->a || e->args.star || e->args.starstar || !strcmp(e->name, "map") ||
                            !strcmp(e->name, "select") || !strcmp(e->name, "reject") ||
                            !strcmp(e->name, "selectattr") || !strcmp(e->name, "rejectattr")))
            return rt_fail(in, "not constant"); /* filters that need the render context */
        if (e->a) {
            if (eval(in, s, e->a, &v) < 0) return -1;
        } else v = jv_retain(in->block_input);
        args a;
        if (eval_args(in, s, &e->args, &a) < 0) {
            jv_release(v);
            return -1;
        }
        int rc = apply_filter(in, e->name, v, &a, out);
        args_free(&a);
        jv_release(v);
        return rc;
    }
    case E_TEST: {
        jv v;
        if (eval(in, s, e->a, &v) < 0) return -1;
        args a;
        if (eval_args(in, s, &e->args, &a) < 0) {
            jv_release(v);
            return -1;
        }
        int r = 0, rc = apply_test(in, e->name, v, &a, &r);
        args_free(&a);
        jv_release(v);
        if (rc < 0) return -1;
        *out = jv_bool(e->negated ? !r : r);
        return 0;
    }
    case E_BINOP: {
        jv a, b;
        if (eval(in, s, e->a, &a) < 0) return -1;
        if (eval(in, s, e->b, &b) < 0) {
            jv_release(a);
            return -1;
        }
        int rc;
        if (e->folded && jv_is_num(a)) {
            /* Jinja2 folds "-2" to a constant and emits "-2 ** y": Python computes -(2 ** y) */
            jv pos = a.kind == JV_FLOAT ? jv_float(-a.u.f) : jv_int(-a.u.i), r;
            rc = binary_op(in, e->op, pos, b, &r);
            if (rc == 0) rc = r.kind == JV_FLOAT ? (*out = jv_float(-r.u.f), 0) : (*out = jv_int(-r.u.i), 0);
        } else rc = binary_op(in, e->op, a, b, out);
        jv_release(a);
        jv_release(b);
        return rc;
    }
    case E_NEG:
    case E_POS: {
        jv a;
        if (eval(in, s, e->a, &a) < 0) return -1;
        int rc = 0;
        if (a.kind == JV_UNDEF) rc = rt_undefined(in, a);
        else if (jv_is_intlike(a)) {
            if (e->kind == E_NEG && a.u.i == INT64_MIN) rc = rt_fail(in, "OverflowError: integer overflow");
            else *out = jv_int(e->kind == E_NEG ? -a.u.i : a.u.i);
        } else if (a.kind == JV_FLOAT) *out = jv_float(e->kind == E_NEG ? -a.u.f : a.u.f);
        else
            rc = rt_fail(in, "TypeError: bad operand type for unary %c: '%s'", e->kind == E_NEG ? '-' : '+',
                         jv_type_name(a));
        jv_release(a);
        return rc;
    }
    case E_NOT: {
        jv a;
        if (eval(in, s, e->a, &a) < 0) return -1;
        *out = jv_bool(!jv_truthy(a));
        jv_release(a);
        return 0;
    }
    case E_AND:
    case E_OR: {
        jv a;
        if (eval(in, s, e->a, &a) < 0) return -1;
        int t = jv_truthy(a);
        if ((e->kind == E_AND && !t) || (e->kind == E_OR && t)) {
            *out = a;
            return 0;
        }
        jv_release(a);
        return eval(in, s, e->b, out);
    }
    case E_CMP: {
        jv left;
        if (eval(in, s, e->items[0], &left) < 0) return -1;
        int result = 1;
        for (size_t i = 1; i < e->n && result; i++) {
            jv right;
            if (eval(in, s, e->items[i], &right) < 0) {
                jv_release(left);
                return -1;
            }
            int rc = compare_op(in, e->ops[i - 1], left, right, &result);
            jv_release(left);
            left = right;
            if (rc < 0) {
                jv_release(left);
                return -1;
            }
        }
        jv_release(left);
        *out = jv_bool(result);
        return 0;
    }
    case E_CONCAT: {
        mlcc_strbuf sb = STRBUF_INIT;
        for (size_t i = 0; i < e->n; i++) {
            jv v;
            if (eval(in, s, e->items[i], &v) < 0) {
                sb_free(&sb);
                return -1;
            }
            jv_append_str(&sb, v);
            jv_release(v);
        }
        *out = jv_str_take_sb(&sb);
        return 0;
    }
    case E_COND: {
        jv c;
        if (eval(in, s, e->a, &c) < 0) return -1;
        int t = jv_truthy(c);
        jv_release(c);
        if (t) return eval(in, s, e->b, out);
        if (e->c) return eval(in, s, e->c, out);
        *out = jv_undef_hint("the inline if-expression on line %d evaluated to false and no else section "
                             "was defined.",
                             e->line);
        return 0;
    }
    }
    return rt_fail(in, "internal error: unknown expression");
}

static int eval(interp *in, scope *s, const expr *e, jv *out) {
    if (rt_tick(in, 1) < 0 || eval_inner(in, s, e, out) < 0) return at(in, e);
    if (jv_depth(*out) > JV_MAX_DEPTH) {
        jv_release(*out);
        rt_fail(in, "RecursionError: lists and dicts nested more than %d levels deep", JV_MAX_DEPTH);
        return at(in, e);
    }
    size_t size = out->kind == JV_STR ? out->u.s->len : out->kind == JV_LIST ? out->u.l->n
                : out->kind == JV_DICT ? out->u.d->n : 0;
    if (size > in->max_size) {
        jv_release(*out);
        rt_fail(in, "MemoryError: a value of %zu bytes/items exceeds the render's limit (%zu)", size, in->max_size);
        return at(in, e);
    }
    return 0;
}

/* ---- statements ---- */

static int assign(interp *in, scope *s, const expr *target, jv v) {
    if (target->kind == E_NAME) {
        scope_set(s, target->name, v);
        return 0;
    }
    if (target->kind == E_ATTR) {
        jv *ns = scope_find(s, target->a->name, strlen(target->a->name));
        if (!ns || ns->kind != JV_NS) {
            jv_release(v);
            return rt_fail(in, "TemplateRuntimeError: cannot assign attribute on non-namespace object");
        }
        jv_dict_set_str(ns->u.ns->attrs, target->name, v);
        return 0;
    }
    /* tuple unpacking */
    jv l;
    if (iterate_value(in, v, &l) < 0) {
        jv_release(v);
        return rt_fail(in, "TypeError: cannot unpack non-iterable %s object", jv_type_name(v));
    }
    jv_release(v);
    if (l.u.l->n != target->n) {
        size_t got = l.u.l->n;
        jv_release(l);
        if (got > target->n) return rt_fail(in, "ValueError: too many values to unpack (expected %zu)", target->n);
        return rt_fail(in, "ValueError: not enough values to unpack (expected %zu, got %zu)", target->n, got);
    }
    for (size_t i = 0; i < target->n; i++)
        if (assign(in, s, target->items[i], jv_retain(l.u.l->items[i])) < 0) {
            jv_release(l);
            return -1;
        }
    jv_release(l);
    return 0;
}

static int run_for(interp *in, scope *s, const stmt *f, jv iterable, int depth) {
    jv items;
    /* A list is walked live, by index, as Python's list iterator does, so a body that pops
     * from the list it loops over sees the change; other iterables are snapshots. */
    if (iterable.kind == JV_LIST && !iterable.u.l->iter && !iterable.u.l->view && !iterable.u.l->lazy_error &&
        !f->cond)
        items = jv_retain(iterable);
    else if (iterate_value(in, iterable, &items) < 0)
        return at(in, f->e);
    if (f->cond) {
        jv kept = jv_list_new(items.u.l->n);
        for (size_t i = 0; i < items.u.l->n; i++) {
            scope *fs = scope_new(s);
            jv c;
            int rc = assign(in, fs, f->target, jv_retain(items.u.l->items[i]));
            if (rc == 0) rc = eval(in, fs, f->cond, &c);
            scope_free(fs);
            if (rc < 0) {
                jv_release(kept);
                jv_release(items);
                return at(in, f->cond);
            }
            if (jv_truthy(c)) jv_list_push(kept, jv_retain(items.u.l->items[i]));
            jv_release(c);
        }
        jv_release(items);
        items = kept;
    }
    if (items.u.l->n == 0) {
        jv_release(items);
        if (!f->else_body.n) return 0;
        scope *es = scope_new(s);
        int rc = exec_list(in, es, &f->else_body);
        scope_free(es);
        return rc == R_ERR ? R_ERR : 0;
    }
    jv_loop *l = mlcc_xcalloc(1, sizeof *l);
    l->rc = 1;
    l->items = items.u.l;
    l->depth = depth;
    l->last_changed = jv_none();
    if (f->recursive) {
        l->node = f;
        l->scope = scope_ref(s);
    }
    jv loopv = {JV_LOOP, {0}};
    loopv.u.loop = l;
    int rc = 0;
    for (size_t i = 0; i < items.u.l->n; i++) {
        l->index = i;
        scope *is = scope_new(s);
        scope_set(is, "loop", jv_retain(loopv));
        if (assign(in, is, f->target, jv_retain(items.u.l->items[i])) < 0) {
            scope_free(is);
            rc = at_stmt(in, f);
            break;
        }
        rc = exec_list(in, is, &f->body);
        scope_free(is);
        if (rc == R_ERR) break;
        if (rc == R_BREAK) {
            rc = 0;
            break;
        }
        rc = 0;
    }
    jv_release(loopv);
    return rc;
}

static int emit(interp *in, jv v) {
    jv_append_str(in->out, v);
    if (in->out->len > in->max_size)
        return rt_fail(in, "MemoryError: the output exceeds the render's limit (%zu bytes)", in->max_size);
    return 0;
}

static int exec_stmt(interp *in, scope *s, const stmt *st) {
    switch (st->kind) {
    case S_DATA:
        sb_append_n(in->out, st->text, st->len);
        if (in->out->len > in->max_size) {
            rt_fail(in, "MemoryError: the output exceeds the render's limit (%zu bytes)", in->max_size);
            return at_stmt(in, st);
        }
        return 0;
    case S_OUTPUT: {
        jv v;
        if (eval(in, s, st->e, &v) < 0) return R_ERR;
        int rc = emit(in, v);
        jv_release(v);
        return rc < 0 ? at_stmt(in, st) : 0;
    }
    case S_IF: {
        jv c;
        if (eval(in, s, st->e, &c) < 0) return R_ERR;
        int t = jv_truthy(c);
        jv_release(c);
        return exec_list(in, s, t ? &st->body : &st->else_body);
    }
    case S_FOR: {
        jv it;
        if (eval(in, s, st->e, &it) < 0) return R_ERR;
        int rc = run_for(in, s, st, it, 1);
        jv_release(it);
        return rc < 0 ? at_stmt(in, st) : 0;
    }
    case S_SET: {
        jv v;
        if (eval(in, s, st->e, &v) < 0) return R_ERR;
        return assign(in, s, st->target, v) < 0 ? at_stmt(in, st) : 0;
    }
    case S_SETBLOCK: {
        jv body;
        scope *bs = scope_new(s);
        int rc = capture(in, bs, &st->body, &body);
        scope_free(bs);
        if (rc == R_ERR) return R_ERR;
        if (st->e) {
            jv saved = in->block_input, v;
            in->block_input = body;
            rc = eval(in, s, st->e, &v);
            in->block_input = saved;
            jv_release(body);
            if (rc < 0) return R_ERR;
            body = v;
        }
        return assign(in, s, st->target, body) < 0 ? at_stmt(in, st) : 0;
    }
    case S_MACRO: {
        jv f = jv_func_new(FN_MACRO, st->name);
        f.u.fn->node = st;
        f.u.fn->scope = scope_ref(s);
        scope_set(s, st->name, f);
        return 0;
    }
    case S_CALLBLOCK: {
        jv caller = jv_func_new(FN_CALLER, "caller");
        caller.u.fn->node = st;
        caller.u.fn->scope = scope_ref(s);
        jv v;
        int rc = eval_call(in, s, st->e, caller, &v);
        jv_release(caller);
        if (rc < 0) return R_ERR;
        rc = emit(in, v);
        jv_release(v);
        return rc < 0 ? at_stmt(in, st) : 0;
    }
    case S_FILTERBLOCK: {
        jv body, v;
        scope *bs = scope_new(s);
        int rc = capture(in, bs, &st->body, &body);
        scope_free(bs);
        if (rc == R_ERR) return R_ERR;
        jv saved = in->block_input;
        in->block_input = body;
        rc = eval(in, s, st->e, &v);
        in->block_input = saved;
        jv_release(body);
        if (rc < 0) return R_ERR;
        rc = emit(in, v);
        jv_release(v);
        return rc < 0 ? at_stmt(in, st) : 0;
    }
    case S_BREAK: return R_BREAK;
    case S_CONTINUE: return R_CONTINUE;
    case S_WITH: {
        scope *ws = scope_new(s);
        for (size_t i = 0; i < st->nwith; i++) {
            jv v;
            if (eval(in, s, st->values[i], &v) < 0 || assign(in, ws, st->targets[i], v) < 0) {
                scope_free(ws);
                return at_stmt(in, st);
            }
        }
        int rc = exec_list(in, ws, &st->body);
        scope_free(ws);
        return rc;
    }
    case S_BLOCK: {
        scope *bs = scope_new(s);
        int rc = exec_list(in, bs, &st->body);
        scope_free(bs);
        return rc;
    }
    }
    return R_OK;
}

static int exec_list(interp *in, scope *s, const stmt_list *body) {
    for (size_t i = 0; i < body->n; i++) {
        if (rt_tick(in, 1) < 0) return at_stmt(in, body->items[i]);
        int rc = exec_stmt(in, s, body->items[i]);
        if (rc != R_OK) return rc;
    }
    return R_OK;
}

/* ---- entry point ---- */

char *mlcc_template_render_limited(const mlcc_template *t, json_t *context, const mlcc_template_limits *limits,
                                   mlcc_template_error *err, size_t *len) {
    if (err) memset(err, 0, sizeof *err);
    if (len) *len = 0;
    if (!json_is_object(context)) {
        mlcc_set_error("%s: the render context must be a JSON object", t->name);
        return NULL;
    }
    interp in;
    memset(&in, 0, sizeof in);
    in.t = t;
    in.root = scope_new(NULL);
    in.block_input = jv_undef();
    in.max_steps = limits && limits->max_steps ? limits->max_steps : MLCC_TEMPLATE_DEFAULT_MAX_STEPS;
    in.max_size = limits && limits->max_size ? limits->max_size : MLCC_TEMPLATE_DEFAULT_MAX_SIZE;
    jv ctx = jv_from_json(context);
    for (size_t i = 0; i < ctx.u.d->n; i++)
        jv_dict_set(in.root->vars, jv_retain(ctx.u.d->keys[i]), jv_retain(ctx.u.d->vals[i]));
    jv_release(ctx);
    mlcc_strbuf out = STRBUF_INIT;
    in.out = &out;
    int rc = exec_list(&in, in.root, &t->body);
    scope_free(in.root);
    /* namespaces may reference themselves: empty them all before letting go */
    for (size_t i = 0; i < in.namespaces.len; i++) {
        jv_ns *ns = in.namespaces.data[i].u.ns;
        jv_dict *d = ns->attrs;
        for (size_t k = 0; k < d->n; k++) {
            jv_release(d->keys[k]);
            jv_release(d->vals[k]);
        }
        d->n = 0;
    }
    for (size_t i = 0; i < in.namespaces.len; i++) jv_release(in.namespaces.data[i]);
    vec_free(&in.namespaces);
    if (rc == R_ERR) {
        sb_free(&out);
        mlcc_set_error("%s:%d:%d: %s%s", t->name, in.err_line, in.err_col,
                       in.raised ? "template error (raise_exception): " : "", in.err);
        if (err) {
            err->line = in.err_line;
            err->col = in.err_col;
            err->raised = in.raised;
            snprintf(err->message, sizeof err->message, "%s", in.err);
        }
        return NULL;
    }
    if (len) *len = out.len;
    return out.data ? sb_detach(&out) : mlcc_xstrdup("");
}

int template_eval_const(const mlcc_template *t, const expr *e, jv *out) {
    interp in;
    memset(&in, 0, sizeof in);
    in.t = t;
    in.root = scope_new(NULL);
    in.block_input = jv_undef();
    in.folding = 1;
    /* tight bounds: a constant that is costly to compute is left to render time */
    in.max_steps = 100000;
    in.max_size = 1 << 20;
    mlcc_strbuf sink = STRBUF_INIT;
    in.out = &sink;
    int rc = eval(&in, in.root, e, out);
    sb_free(&sink);
    scope_free(in.root);
    for (size_t i = 0; i < in.namespaces.len; i++) jv_release(in.namespaces.data[i]);
    vec_free(&in.namespaces);
    return rc;
}

char *mlcc_template_render_n(const mlcc_template *t, json_t *context, mlcc_template_error *err, size_t *len) {
    return mlcc_template_render_limited(t, context, NULL, err, len);
}

char *mlcc_template_render_ex(const mlcc_template *t, json_t *context, mlcc_template_error *err) {
    return mlcc_template_render_n(t, context, err, NULL);
}

char *mlcc_template_render(const mlcc_template *t, json_t *context) {
    return mlcc_template_render_n(t, context, NULL, NULL);
}
