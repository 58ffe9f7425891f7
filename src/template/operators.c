/* operators.c - the binary operators, comparisons and `in` with CPython's semantics on the
 * same values: int/float promotion, floor division and modulo signs, str/list concatenation
 * and repetition, printf-style `%`, TypeErrors worded as Python words them, and markupsafe's
 * escaping when a Markup string takes part in `+`. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "template/interp.h"

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


int binary_op(interp *in, int op, jv a, jv b, jv *out) {
    static const char *const names[] = {"+", "-", "*", "/", "//", "%", "**"};
    if (a.kind == JV_UNDEF) return rt_undefined(in, a);
    /* str % Undefined is str.__mod__ (it never asks the Undefined) */
    if (op == OP_MOD && a.kind == JV_STR) return string_percent_format(in, a, b, out);
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

int compare_op(interp *in, int op, jv a, jv b, int *result) {
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
