/* eval.c - the renderer: executes statements and evaluates expressions with Jinja2's
 * semantics. Scoping follows Jinja2: every loop iteration, macro call, call block and with
 * block gets a fresh child scope (so `set` inside a loop does not survive the iteration; use a
 * namespace), `if` shares its scope, and names resolve outward to the context and the globals.
 * Arithmetic, comparison and `in` behave as the Python operators do on the same values. */
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

/* ---- attribute and item access ---- */

static const char *obj_desc(jv v, char *buf, size_t n) {
    if (v.kind == JV_NONE) return "None";
    snprintf(buf, n, "%s object", jv_type_name(v));
    return buf;
}

static jv bound_method(jv obj, const char *name) {
    jv f = jv_func_new(FN_METHOD, name);
    f.u.fn->self = jv_retain(obj);
    return f;
}

static int loop_attr(interp *in, jv_loop *l, const char *name, jv *out) {
    size_t n = l->items->n, i = l->index;
    if (!strcmp(name, "index")) *out = jv_int((int64_t)i + 1);
    else if (!strcmp(name, "index0")) *out = jv_int((int64_t)i);
    else if (!strcmp(name, "revindex")) *out = jv_int((int64_t)(n - i));
    else if (!strcmp(name, "revindex0")) *out = jv_int((int64_t)(n - i - 1));
    else if (!strcmp(name, "first")) *out = jv_bool(i == 0);
    else if (!strcmp(name, "last")) *out = jv_bool(i + 1 == n);
    else if (!strcmp(name, "length")) *out = jv_int((int64_t)n);
    else if (!strcmp(name, "depth")) *out = jv_int(l->depth);
    else if (!strcmp(name, "depth0")) *out = jv_int(l->depth - 1);
    else if (!strcmp(name, "previtem"))
        *out = i > 0 ? jv_retain(l->items->items[i - 1]) : jv_undef_hint("there is no previous item");
    else if (!strcmp(name, "nextitem"))
        *out = i + 1 < n ? jv_retain(l->items->items[i + 1]) : jv_undef_hint("there is no next item");
    else if (!strcmp(name, "cycle") || !strcmp(name, "changed")) {
        jv self = {JV_LOOP, {0}};
        self.u.loop = l;
        jv f = jv_func_new(FN_LOOPCALL, !strcmp(name, "cycle") ? "cycle" : "changed");
        f.u.fn->self = jv_retain(self);
        *out = f;
    } else *out = jv_undef_hint("'LoopContext object' has no attribute '%s'", name);
    (void)in;
    return 0;
}

int get_attr(interp *in, jv obj, const char *name, size_t len, jv *out) {
    char buf[64];
    if (obj.kind == JV_UNDEF) return rt_undefined(in, obj);
    if (name[0] == '_') {
        *out = jv_undef_hint("access to attribute '%s' of '%s' object is unsafe.", name, jv_type_name(obj));
        return 0;
    }
    if (obj.kind == JV_NS) {
        jv *v = jv_dict_get_str(obj.u.ns->attrs, name, len);
        *out = v ? jv_retain(*v) : jv_undef_hint("'Namespace object' has no attribute '%s'", name);
        return 0;
    }
    if (obj.kind == JV_LOOP) return loop_attr(in, obj.u.loop, name, out);
    if (obj.kind == JV_LIST && obj.u.l->is_group && obj.u.l->n == 2 &&
        (!strcmp(name, "grouper") || !strcmp(name, "list"))) {
        *out = jv_retain(obj.u.l->items[name[0] == 'g' ? 0 : 1]);
        return 0;
    }
    if (jv_is_num(obj)) {
        /* the number attributes Python exposes */
        int is_float = obj.kind == JV_FLOAT;
        if (!strcmp(name, "real") || (!is_float && !strcmp(name, "numerator"))) {
            *out = is_float ? jv_float(obj.u.f) : jv_int(obj.u.i);
            return 0;
        }
        if (!strcmp(name, "imag")) {
            *out = is_float ? jv_float(0.0) : jv_int(0);
            return 0;
        }
        if (!is_float && !strcmp(name, "denominator")) {
            *out = jv_int(1);
            return 0;
        }
    }
    int mk = method_kind(obj, name);
    if (mk > 0) {
        *out = bound_method(obj, name);
        return 0;
    }
    if (mk < 0) {
        *out = jv_undef_hint("access to attribute '%s' of '%s' object is unsafe.", name, jv_type_name(obj));
        return 0;
    }
    if (obj.kind == JV_DICT) {
        jv *v = jv_dict_get_str(obj.u.d, name, len);
        if (v) {
            *out = jv_retain(*v);
            return 0;
        }
    }
    *out = jv_undef_hint("'%s' has no attribute '%s'", obj_desc(obj, buf, sizeof buf), name);
    return 0;
}

jv str_slice_cp(jv_str *s, size_t from, size_t to) {
    size_t a = u8_offset(s->data, s->len, from);
    size_t b = to <= from ? a : a + u8_offset(s->data + a, s->len - a, to - from);
    return jv_str_n(s->data + a, b - a);
}

int get_item(interp *in, jv obj, jv key, jv *out) {
    char buf[64];
    if (obj.kind == JV_UNDEF) return rt_undefined(in, obj);
    if (obj.kind == JV_DICT) {
        jv *v = jv_dict_get(obj.u.d, key);
        if (v) {
            *out = jv_retain(*v);
            return 0;
        }
    } else if (((obj.kind == JV_LIST && !obj.u.l->iter && !obj.u.l->view) || obj.kind == JV_STR) &&
               jv_is_intlike(key)) {
        int64_t n = obj.kind == JV_LIST ? (int64_t)obj.u.l->n : (int64_t)jv_str_ncp(obj.u.s);
        int64_t i = key.u.i < 0 ? key.u.i + n : key.u.i;
        if (i >= 0 && i < n) {
            if (obj.kind == JV_LIST) *out = jv_retain(obj.u.l->items[i]);
            else *out = str_slice_cp(obj.u.s, (size_t)i, (size_t)i + 1);
            return 0;
        }
    }
    if (key.kind == JV_STR && obj.kind != JV_DICT) return get_attr(in, obj, key.u.s->data, key.u.s->len, out);
    if (key.kind == JV_STR && key.u.s->data[0] != '_' && method_kind(obj, key.u.s->data) != 0)
        return get_attr(in, obj, key.u.s->data, key.u.s->len, out);
    mlcc_strbuf kb = STRBUF_INIT;
    jv_append_repr(&kb, key);
    *out = jv_undef_hint("'%s' has no element %s", obj_desc(obj, buf, sizeof buf), sb_cstr(&kb));
    sb_free(&kb);
    return 0;
}

int iterate_value(interp *in, jv v, jv *out) {
    switch (v.kind) {
    case JV_LIST: {
        if (v.u.l->lazy_error) return rt_fail(in, "%s", v.u.l->lazy_error);
        jv l = jv_list_new(v.u.l->n);
        for (size_t i = 0; i < v.u.l->n; i++) jv_list_push(l, jv_retain(v.u.l->items[i]));
        *out = l;
        return 0;
    }
    case JV_DICT: {
        jv l = jv_list_new(v.u.d->n);
        for (size_t i = 0; i < v.u.d->n; i++) jv_list_push(l, jv_retain(v.u.d->keys[i]));
        *out = l;
        return 0;
    }
    case JV_STR: {
        jv l = jv_list_new(v.u.s->len);
        size_t i = 0;
        while (i < v.u.s->len) {
            uint32_t cp;
            size_t n = u8_decode(v.u.s->data, v.u.s->len, i, &cp);
            jv_list_push(l, jv_str_n(v.u.s->data + i, n));
            i += n;
        }
        *out = l;
        return 0;
    }
    case JV_UNDEF: *out = jv_list_new(0); return 0;
    default: return rt_fail(in, "TypeError: '%s' object is not iterable", jv_type_name(v));
    }
}

/* ---- slicing ---- */

static int slice_index(interp *in, jv v, int64_t *out, int *present) {
    if (v.kind == JV_NONE || v.kind == JV_UNDEF) {
        *present = 0;
        return 0;
    }
    if (!jv_is_intlike(v))
        return rt_fail(in, "TypeError: slice indices must be integers or None, not %s", jv_type_name(v));
    *present = 1;
    *out = v.u.i;
    return 0;
}

/* Python's PySlice_AdjustIndices. */
static int64_t slice_adjust(int64_t n, int64_t *start, int64_t *stop, int64_t step, int has_start,
                            int has_stop) {
    if (!has_start) *start = step < 0 ? n - 1 : 0;
    else if (*start < 0) {
        *start += n;
        if (*start < 0) *start = step < 0 ? -1 : 0;
    } else if (*start >= n) *start = step < 0 ? n - 1 : n;
    if (!has_stop) *stop = step < 0 ? -1 : n;
    else if (*stop < 0) {
        *stop += n;
        if (*stop < 0) *stop = step < 0 ? -1 : 0;
    } else if (*stop >= n) *stop = step < 0 ? n - 1 : n;
    if (step < 0) return *stop < *start ? (*start - *stop - 1) / (-step) + 1 : 0;
    return *start < *stop ? (*stop - *start - 1) / step + 1 : 0;
}

static int do_slice(interp *in, jv obj, jv a, jv b, jv c, jv *out) {
    int64_t start = 0, stop = 0, step = 1;
    int hs = 0, he = 0, hp = 0;
    if (slice_index(in, a, &start, &hs) < 0 || slice_index(in, b, &stop, &he) < 0 ||
        slice_index(in, c, &step, &hp) < 0)
        return -1;
    if (!hp) step = 1;
    if (step == 0) return rt_fail(in, "ValueError: slice step cannot be zero");
    if (step == INT64_MIN) step = INT64_MIN + 1; /* same selection; keeps -step defined */
    if (obj.kind == JV_UNDEF) return rt_undefined(in, obj);
    if (obj.kind == JV_LIST && !obj.u.l->iter && !obj.u.l->view) {
        int64_t n = slice_adjust((int64_t)obj.u.l->n, &start, &stop, step, hs, he);
        jv l = obj.u.l->is_tuple ? jv_tuple_new((size_t)n) : jv_list_new((size_t)n);
        for (int64_t k = 0, i = start; k < n; k++, i += step) jv_list_push(l, jv_retain(obj.u.l->items[i]));
        *out = l;
        return 0;
    }
    if (obj.kind == JV_STR) {
        jv_str *s = obj.u.s;
        int64_t ncp = (int64_t)jv_str_ncp(s);
        int64_t n = slice_adjust(ncp, &start, &stop, step, hs, he);
        if (step == 1) {
            *out = str_slice_cp(s, (size_t)start, (size_t)(start + n));
            return 0;
        }
        /* offsets of every code point, then pick */
        size_t *offs = mlcc_xmalloc(((size_t)ncp + 1) * sizeof(size_t));
        size_t i = 0, k = 0;
        while (i < s->len) {
            uint32_t cp;
            offs[k++] = i;
            i += u8_decode(s->data, s->len, i, &cp);
        }
        offs[k] = s->len;
        mlcc_strbuf sb = STRBUF_INIT;
        for (int64_t m = 0, j = start; m < n; m++, j += step)
            sb_append_n(&sb, s->data + offs[j], offs[j + 1] - offs[j]);
        free(offs);
        *out = jv_str_take_sb(&sb);
        return 0;
    }
    /* slices bypass Jinja's getitem (Python slicing directly), so other types raise */
    if (obj.kind == JV_DICT) return rt_fail(in, "TypeError: unhashable type: 'slice'");
    return rt_fail(in, "TypeError: '%s' object is not subscriptable", jv_type_name(obj));
}

/* ---- operators ---- */

static int type_error2(interp *in, const char *op, jv a, jv b) {
    return rt_fail(in, "TypeError: unsupported operand type(s) for %s: '%s' and '%s'", op, jv_type_name(a),
                   jv_type_name(b));
}

static double py_fmod(double a, double b) {
    double m = fmod(a, b);
    if (m != 0 && ((b < 0) != (m < 0))) m += b;
    else if (m == 0) m = copysign(0.0, b); /* CPython's float_rem */
    return m;
}

static int repeat_seq(interp *in, jv seq, int64_t times, jv *out) {
    if (times < 0) times = 0;
    if (seq.kind == JV_STR) {
        if (seq.u.s->len && (uint64_t)times > in->max_size / seq.u.s->len)
            return rt_fail(in, "MemoryError: the repeated string would be too large");
        mlcc_strbuf sb = STRBUF_INIT;
        for (int64_t i = 0; i < times; i++) sb_append_n(&sb, seq.u.s->data, seq.u.s->len);
        *out = jv_str_take_sb(&sb);
        return 0;
    }
    if (seq.u.l->n && (uint64_t)times > in->max_size / seq.u.l->n)
        return rt_fail(in, "MemoryError: the repeated list would be too large");
    jv l = seq.u.l->is_tuple ? jv_tuple_new(0) : jv_list_new(0);
    for (int64_t i = 0; i < times; i++)
        for (size_t k = 0; k < seq.u.l->n; k++) jv_list_push(l, jv_retain(seq.u.l->items[k]));
    *out = l;
    return 0;
}

int string_percent_format(interp *in, jv fmt, jv argv, jv *out); /* methods.c */

static int arith(interp *in, int op, jv a, jv b, jv *out) {
    static const char *const names[] = {"+", "-", "*", "/", "//", "%", "**"};
    if (a.kind == JV_UNDEF) return rt_undefined(in, a);
    if (b.kind == JV_UNDEF) return rt_undefined(in, b);
    if (jv_is_num(a) && jv_is_num(b)) {
        int ints = jv_is_intlike(a) && jv_is_intlike(b);
        int64_t x = a.u.i, y = b.u.i, r;
        double fx = jv_num(a), fy = jv_num(b);
        switch (op) {
        case OP_ADD:
            if (ints) {
                if (__builtin_add_overflow(x, y, &r)) return rt_fail(in, "OverflowError: integer overflow");
                *out = jv_int(r);
            } else *out = jv_float(fx + fy);
            return 0;
        case OP_SUB:
            if (ints) {
                if (__builtin_sub_overflow(x, y, &r)) return rt_fail(in, "OverflowError: integer overflow");
                *out = jv_int(r);
            } else *out = jv_float(fx - fy);
            return 0;
        case OP_MUL:
            if (ints) {
                if (__builtin_mul_overflow(x, y, &r)) return rt_fail(in, "OverflowError: integer overflow");
                *out = jv_int(r);
            } else *out = jv_float(fx * fy);
            return 0;
        case OP_DIV:
            if (fy == 0) return rt_fail(in, "ZeroDivisionError: division by zero");
            *out = jv_float(fx / fy);
            return 0;
        case OP_FLOORDIV:
            if (ints) {
                if (y == 0) return rt_fail(in, "ZeroDivisionError: integer division or modulo by zero");
                if (x == INT64_MIN && y == -1) return rt_fail(in, "OverflowError: integer overflow");
                int64_t q = x / y;
                if ((x % y != 0) && ((x < 0) != (y < 0))) q--;
                *out = jv_int(q);
            } else {
                if (fy == 0) return rt_fail(in, "ZeroDivisionError: float floor division by zero");
                /* CPython's float_floor_div */
                double mod = fmod(fx, fy), div = (fx - mod) / fy, fl;
                if (mod != 0 && ((fy < 0) != (mod < 0))) div -= 1.0;
                if (div != 0) {
                    fl = floor(div);
                    if (div - fl > 0.5) fl += 1.0;
                } else fl = copysign(0.0, fx / fy);
                *out = jv_float(fl);
            }
            return 0;
        case OP_MOD:
            if (ints) {
                if (y == 0) return rt_fail(in, "ZeroDivisionError: integer division or modulo by zero");
                if (y == -1) {
                    *out = jv_int(0);
                    return 0;
                }
                int64_t m = x % y;
                if (m != 0 && ((m < 0) != (y < 0))) m += y;
                *out = jv_int(m);
            } else {
                if (fy == 0) return rt_fail(in, "ZeroDivisionError: float modulo");
                *out = jv_float(py_fmod(fx, fy));
            }
            return 0;
        case OP_POW:
            if (ints && y >= 0) {
                int64_t res = 1, base = x;
                int64_t e = y;
                while (e > 0) {
                    if (e & 1 && __builtin_mul_overflow(res, base, &res))
                        return rt_fail(in, "OverflowError: integer overflow");
                    e >>= 1;
                    if (e && __builtin_mul_overflow(base, base, &base))
                        return rt_fail(in, "OverflowError: integer overflow");
                }
                *out = jv_int(res);
            } else {
                if (fx == 0 && fy < 0)
                    return rt_fail(in, "ZeroDivisionError: 0.0 cannot be raised to a negative power");
                double r = pow(fx, fy);
                if (isinf(r) && isfinite(fx) && isfinite(fy))
                    return rt_fail(in, "OverflowError: (34, 'Numerical result out of range')");
                *out = jv_float(r);
            }
            return 0;
        }
    }
    if (op == OP_ADD && ((a.kind == JV_STR && a.u.s->markup) || (b.kind == JV_STR && b.u.s->markup &&
                                                                a.kind == JV_STR))) {
        /* Markup + str and str + Markup (Python tries the subclass's __radd__ first) escape the
         * plain str (markupsafe); the result stays Markup */
        if (b.kind != JV_STR) return type_error2(in, "+", a, b);
        mlcc_strbuf sb = STRBUF_INIT;
        if (a.u.s->markup) sb_append_n(&sb, a.u.s->data, a.u.s->len);
        else html_escape(&sb, a.u.s->data, a.u.s->len);
        if (b.u.s->markup) sb_append_n(&sb, b.u.s->data, b.u.s->len);
        else html_escape(&sb, b.u.s->data, b.u.s->len);
        *out = jv_str_take_sb(&sb);
        out->u.s->markup = 1;
        return 0;
    }
    if (op == OP_ADD) {
        if (a.kind == JV_STR && b.kind == JV_STR) {
            mlcc_strbuf sb = STRBUF_INIT;
            sb_reserve(&sb, a.u.s->len + b.u.s->len + 1);
            sb_append_n(&sb, a.u.s->data, a.u.s->len);
            sb_append_n(&sb, b.u.s->data, b.u.s->len);
            *out = jv_str_take_sb(&sb);
            return 0;
        }
        if (a.kind == JV_LIST && b.kind == JV_LIST && a.u.l->is_tuple == b.u.l->is_tuple && !a.u.l->iter &&
            !b.u.l->iter && !a.u.l->view && !b.u.l->view) {
            jv l = a.u.l->is_tuple ? jv_tuple_new(a.u.l->n + b.u.l->n) : jv_list_new(a.u.l->n + b.u.l->n);
            for (size_t i = 0; i < a.u.l->n; i++) jv_list_push(l, jv_retain(a.u.l->items[i]));
            for (size_t i = 0; i < b.u.l->n; i++) jv_list_push(l, jv_retain(b.u.l->items[i]));
            *out = l;
            return 0;
        }
        if (a.kind == JV_STR || (a.kind == JV_LIST && !a.u.l->iter && !a.u.l->view))
            return rt_fail(in, "TypeError: can only concatenate %s (not \"%s\") to %s", jv_type_name(a),
                           jv_type_name(b), jv_type_name(a));
    }
    if (op == OP_MUL) {
        if ((a.kind == JV_STR || (a.kind == JV_LIST && !a.u.l->iter && !a.u.l->view)) && jv_is_intlike(b)) {
            if (repeat_seq(in, a, b.u.i, out) < 0) return -1;
            if (a.kind == JV_STR) out->u.s->markup = a.u.s->markup;
            return 0;
        }
        if ((b.kind == JV_STR || (b.kind == JV_LIST && !b.u.l->iter && !b.u.l->view)) && jv_is_intlike(a))
            return repeat_seq(in, b, a.u.i, out);
    }
    if (op == OP_MOD && a.kind == JV_STR) return string_percent_format(in, a, b, out);
    return type_error2(in, names[op], a, b);
}

static int contains(interp *in, jv container, jv item, int *result) {
    switch (container.kind) {
    case JV_STR:
        if (item.kind != JV_STR)
            return rt_fail(in, "TypeError: 'in <string>' requires string as left operand, not %s",
                           jv_type_name(item));
        *result = item.u.s->len == 0 ||
                  memmem(container.u.s->data, container.u.s->len, item.u.s->data, item.u.s->len) != NULL;
        return 0;
    case JV_LIST:
        if (container.u.l->lazy_error) return rt_fail(in, "%s", container.u.l->lazy_error);
        *result = 0;
        for (size_t i = 0; i < container.u.l->n && !*result; i++)
            *result = jv_equal(container.u.l->items[i], item);
        return 0;
    case JV_DICT:
        if (item.kind == JV_DICT || (item.kind == JV_LIST && !item.u.l->is_tuple))
            return rt_fail(in, "TypeError: unhashable type: '%s'", jv_type_name(item));
        *result = jv_dict_get(container.u.d, item) != NULL;
        return 0;
    case JV_UNDEF: *result = 0; return 0;
    default:
        return rt_fail(in, "TypeError: argument of type '%s' is not iterable", jv_type_name(container));
    }
}

static int compare_op(interp *in, int op, jv a, jv b, int *result) {
    static const char *const names[] = {"==", "!=", "<", "<=", ">", ">="};
    switch (op) {
    case CMP_EQ: *result = jv_equal(a, b); return 0;
    case CMP_NE: *result = !jv_equal(a, b); return 0;
    case CMP_IN: return contains(in, b, a, result);
    case CMP_NOTIN:
        if (contains(in, b, a, result) < 0) return -1;
        *result = !*result;
        return 0;
    default: break;
    }
    if (a.kind == JV_UNDEF) return rt_undefined(in, a);
    if (b.kind == JV_UNDEF) return rt_undefined(in, b);
    int c = jv_compare(a, b);
    if (c == 2)
        return rt_fail(in, "TypeError: '%s' not supported between instances of '%s' and '%s'", names[op],
                       jv_type_name(a), jv_type_name(b));
    switch (op) {
    case CMP_LT: *result = c < 0; break;
    case CMP_LE: *result = c <= 0; break;
    case CMP_GT: *result = c > 0; break;
    default: *result = c >= 0; break;
    }
    return 0;
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
        if (rc == 0 && e->folded && obj.kind != JV_STR && !(obj.kind == JV_LIST && !obj.u.l->iter && !obj.u.l->view) &&
            obj.kind != JV_UNDEF)
            *out = jv_undef_hint("'%s object' has no element slice", jv_type_name(obj));
        else if (rc == 0) rc = do_slice(in, obj, parts[0], parts[1], parts[2], out);
        for (int i = 0; i < 3; i++) jv_release(parts[i]);
        jv_release(obj);
        return rc;
    }
    case E_CALL: return eval_call(in, s, e, jv_undef(), out);
    case E_FILTER: {
        jv v;
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
            rc = arith(in, e->op, pos, b, &r);
            if (rc == 0) rc = r.kind == JV_FLOAT ? (*out = jv_float(-r.u.f), 0) : (*out = jv_int(-r.u.i), 0);
        } else rc = arith(in, e->op, a, b, out);
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
    if (iterate_value(in, iterable, &items) < 0) return at(in, f->e);
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

char *mlcc_template_render_n(const mlcc_template *t, json_t *context, mlcc_template_error *err, size_t *len) {
    return mlcc_template_render_limited(t, context, NULL, err, len);
}

char *mlcc_template_render_ex(const mlcc_template *t, json_t *context, mlcc_template_error *err) {
    return mlcc_template_render_n(t, context, err, NULL);
}

char *mlcc_template_render(const mlcc_template *t, json_t *context) {
    return mlcc_template_render_n(t, context, NULL, NULL);
}
