/* tests.c - Jinja2's builtin tests (`x is defined`, `x is string`, ...), as jinja2/tests.py
 * defines them on Python values (e.g. booleans are numbers, Undefined is iterable). */
#include <math.h>
#include <string.h>

#include "template/builtins.h"
#include "template/ustr.h"

static int one_arg(interp *in, const args *a, const char *name, const jv **arg) {
    if (a->npos + a->nkw < 1) return rt_fail(in, "TypeError: test '%s' needs an argument", name);
    *arg = a->npos ? &a->pos[0] : &a->kw[0];
    return 0;
}

static int parity(interp *in, jv v, int *r, int want_odd) {
    if (jv_is_intlike(v)) *r = (int)(((v.u.i % 2) + 2) % 2) == want_odd;
    else if (v.kind == JV_FLOAT) *r = fmod(fabs(v.u.f), 2.0) == (want_odd ? 1.0 : 0.0);
    else return rt_fail(in, "TypeError: unsupported operand type(s) for %%: '%s' and 'int'", jv_type_name(v));
    return 0;
}

static int case_test(jv v, int upper) {
    jv s = jv_to_str(v);
    int cased = 0, ok = 1;
    size_t i = 0;
    while (i < s.u.s->len) {
        uint32_t c;
        i += u8_decode(s.u.s->data, s.u.s->len, i, &c);
        if (upper ? py_islower_cp(c) : py_isupper_cp(c)) ok = 0;
        if (py_iscased(c) && (upper ? py_isupper_cp(c) : py_islower_cp(c))) cased = 1;
    }
    jv_release(s);
    return ok && cased;
}

int apply_test(interp *in, const char *name, jv v, const args *a, int *r) {
    const jv *arg = NULL;
    if (!strcmp(name, "defined")) *r = v.kind != JV_UNDEF;
    else if (!strcmp(name, "undefined")) *r = v.kind == JV_UNDEF;
    else if (!strcmp(name, "none")) *r = v.kind == JV_NONE;
    else if (!strcmp(name, "boolean")) *r = v.kind == JV_BOOL;
    else if (!strcmp(name, "false")) *r = v.kind == JV_BOOL && !v.u.i;
    else if (!strcmp(name, "true")) *r = v.kind == JV_BOOL && v.u.i;
    else if (!strcmp(name, "integer")) *r = v.kind == JV_INT;
    else if (!strcmp(name, "float")) *r = v.kind == JV_FLOAT;
    else if (!strcmp(name, "number")) *r = jv_is_num(v);
    else if (!strcmp(name, "string")) *r = v.kind == JV_STR;
    else if (!strcmp(name, "mapping")) *r = v.kind == JV_DICT;
    else if (!strcmp(name, "iterable"))
        *r = v.kind == JV_STR || v.kind == JV_LIST || v.kind == JV_DICT || v.kind == JV_UNDEF || v.kind == JV_LOOP;
    else if (!strcmp(name, "sequence"))
        *r = v.kind == JV_STR || (v.kind == JV_LIST && !v.u.l->iter && !v.u.l->view) || v.kind == JV_DICT ||
             v.kind == JV_UNDEF;
    else if (!strcmp(name, "callable")) *r = v.kind == JV_FUNC || v.kind == JV_LOOP || v.kind == JV_UNDEF; /* Undefined has __call__ */
    else if (!strcmp(name, "escaped")) *r = 0;
    else if (!strcmp(name, "lower")) *r = case_test(v, 0);
    else if (!strcmp(name, "upper")) *r = case_test(v, 1);
    else if (!strcmp(name, "even")) return parity(in, v, r, 0);
    else if (!strcmp(name, "odd")) return parity(in, v, r, 1);
    else if (!strcmp(name, "divisibleby")) {
        if (one_arg(in, a, name, &arg) < 0) return -1;
        if (jv_is_intlike(v) && jv_is_intlike(*arg)) {
            if (arg->u.i == 0) return rt_fail(in, "ZeroDivisionError: integer division or modulo by zero");
            *r = arg->u.i == -1 || v.u.i % arg->u.i == 0; /* INT64_MIN % -1 overflows in C */
        } else if (jv_is_num(v) && jv_is_num(*arg)) {
            if (jv_num(*arg) == 0) return rt_fail(in, "ZeroDivisionError: float modulo");
            *r = fmod(jv_num(v), jv_num(*arg)) == 0;
        } else return rt_fail(in, "TypeError: divisibleby needs numbers");
    } else if (!strcmp(name, "sameas")) {
        if (one_arg(in, a, name, &arg) < 0) return -1;
        if (v.kind != arg->kind) *r = 0;
        else if (v.kind == JV_LIST || v.kind == JV_DICT || v.kind == JV_STR || v.kind == JV_NS ||
                 v.kind == JV_FUNC)
            *r = v.u.l == arg->u.l;
        else *r = jv_equal(v, *arg);
    } else if (!strcmp(name, "eq") || !strcmp(name, "equalto") || !strcmp(name, "==")) {
        if (one_arg(in, a, name, &arg) < 0) return -1;
        *r = jv_equal(v, *arg);
    } else if (!strcmp(name, "ne") || !strcmp(name, "!=")) {
        if (one_arg(in, a, name, &arg) < 0) return -1;
        *r = !jv_equal(v, *arg);
    } else if (!strcmp(name, "lt") || !strcmp(name, "lessthan") || !strcmp(name, "<") || !strcmp(name, "le") ||
               !strcmp(name, "<=") || !strcmp(name, "gt") || !strcmp(name, "greaterthan") ||
               !strcmp(name, ">") || !strcmp(name, "ge") || !strcmp(name, ">=")) {
        if (one_arg(in, a, name, &arg) < 0) return -1;
        if (v.kind == JV_UNDEF) return rt_undefined(in, v);
        int c = jv_compare(v, *arg);
        if (c == 2)
            return rt_fail(in, "TypeError: '%s' not supported between instances of '%s' and '%s'", name,
                           jv_type_name(v), jv_type_name(*arg));
        int lt = !strcmp(name, "lt") || !strcmp(name, "lessthan") || !strcmp(name, "<");
        int le = !strcmp(name, "le") || !strcmp(name, "<=");
        int gt = !strcmp(name, "gt") || !strcmp(name, "greaterthan") || !strcmp(name, ">");
        *r = lt ? c < 0 : le ? c <= 0 : gt ? c > 0 : c >= 0;
    } else if (!strcmp(name, "in")) {
        if (one_arg(in, a, name, &arg) < 0) return -1;
        jv seq = *arg;
        if (seq.kind == JV_STR) {
            if (v.kind != JV_STR)
                return rt_fail(in, "TypeError: 'in <string>' requires string as left operand, not %s", jv_type_name(v));
            *r = v.u.s->len == 0 || memmem(seq.u.s->data, seq.u.s->len, v.u.s->data, v.u.s->len) != NULL;
        } else if (seq.kind == JV_LIST) {
            *r = 0;
            for (size_t i = 0; i < seq.u.l->n && !*r; i++) *r = jv_equal(seq.u.l->items[i], v);
        } else if (seq.kind == JV_DICT) *r = jv_dict_get(seq.u.d, v) != NULL;
        else if (seq.kind == JV_UNDEF) *r = 0;
        else return rt_fail(in, "TypeError: argument of type '%s' is not iterable", jv_type_name(seq));
    } else if (!strcmp(name, "filter")) {
        *r = v.kind == JV_STR && filter_exists(v.u.s->data);
    } else if (!strcmp(name, "test")) {
        *r = v.kind == JV_STR && test_exists(v.u.s->data);
    } else return rt_fail(in, "TemplateAssertionError: No test named '%s'.", name);
    return 0;
}

int test_exists(const char *name) {
    static const char *const names[] = {
        "defined", "undefined", "none",  "boolean", "false", "true",     "integer",     "float", "number",
        "string",  "mapping",   "iterable", "sequence", "callable", "escaped", "lower", "upper", "even",
        "odd",     "divisibleby", "sameas", "eq", "equalto", "==", "ne", "!=", "lt", "lessthan", "<", "le",
        "<=", "gt", "greaterthan", ">", "ge", ">=", "in", "filter", "test"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (!strcmp(names[i], name)) return 1;
    return 0;
}
