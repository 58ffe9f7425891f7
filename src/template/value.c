/* value.c - construction, reference counting, comparison and printing of template values
 * (value.h). Printing follows CPython's str()/repr() byte for byte, since templates print lists,
 * dicts, floats and None through them. */
#include "template/value.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "support/alloc.h"
#include "template/ustr.h"

jv jv_str_n(const char *s, size_t len) {
    jv_str *p = mlcc_xmalloc(sizeof(jv_str) + len + 1);
    p->rc = 1;
    p->ncp = -1;
    p->len = len;
    p->markup = 0;
    if (len) memcpy(p->data, s, len);
    p->data[len] = 0;
    jv v = {JV_STR, {0}};
    v.u.s = p;
    return v;
}

jv jv_cstr(const char *s) { return jv_str_n(s, strlen(s)); }

jv jv_str_take_sb(mlcc_strbuf *sb) {
    jv v = jv_str_n(sb->data ? sb->data : "", sb->len);
    sb_free(sb);
    return v;
}

jv jv_undef_hint(const char *fmt, ...) {
    mlcc_strbuf sb = STRBUF_INIT;
    va_list ap;
    va_start(ap, fmt);
    sb_vprintf(&sb, fmt, ap);
    va_end(ap);
    jv s = jv_str_take_sb(&sb);
    jv v = {JV_UNDEF, {0}};
    v.u.s = s.u.s;
    return v;
}

jv jv_list_new(size_t cap) {
    jv_list *l = mlcc_xcalloc(1, sizeof *l);
    l->rc = 1;
    l->depth = 1;
    l->cap = cap;
    l->items = cap ? mlcc_xmalloc(cap * sizeof(jv)) : NULL;
    jv v = {JV_LIST, {0}};
    v.u.l = l;
    return v;
}

jv jv_tuple_new(size_t cap) {
    jv v = jv_list_new(cap);
    v.u.l->is_tuple = 1;
    return v;
}

jv jv_dict_new(void) {
    jv_dict *d = mlcc_xcalloc(1, sizeof *d);
    d->rc = 1;
    d->depth = 1;
    jv v = {JV_DICT, {0}};
    v.u.d = d;
    return v;
}

jv jv_ns_new(void) {
    jv_ns *ns = mlcc_xcalloc(1, sizeof *ns);
    ns->rc = 1;
    ns->attrs = jv_dict_new().u.d;
    jv v = {JV_NS, {0}};
    v.u.ns = ns;
    return v;
}

jv jv_func_new(jv_func_kind kind, const char *name) {
    jv_func *f = mlcc_xcalloc(1, sizeof *f);
    f->rc = 1;
    f->kind = kind;
    f->name = name;
    f->self = jv_none();
    jv v = {JV_FUNC, {0}};
    v.u.fn = f;
    return v;
}

static int32_t *refcount_of(jv v) {
    switch (v.kind) {
    case JV_UNDEF: return v.u.s ? &v.u.s->rc : NULL;
    case JV_STR: return &v.u.s->rc;
    case JV_LIST: return &v.u.l->rc;
    case JV_DICT: return &v.u.d->rc;
    case JV_NS: return &v.u.ns->rc;
    case JV_FUNC: return &v.u.fn->rc;
    case JV_LOOP: return &v.u.loop->rc;
    default: return NULL;
    }
}

jv jv_retain(jv v) {
    int32_t *rc = refcount_of(v);
    if (rc && *rc != JV_IMMORTAL) ++*rc;
    return v;
}

static void scope_ref_release(jv_scope_ref *r) {
    if (r && --r->rc == 0) free(r);
}

static void dict_free(jv_dict *d) {
    for (size_t i = 0; i < d->n; i++) {
        jv_release(d->keys[i]);
        jv_release(d->vals[i]);
    }
    free(d->keys);
    free(d->vals);
    free(d);
}

void jv_release(jv v) {
    int32_t *rc = refcount_of(v);
    if (!rc || *rc == JV_IMMORTAL || --*rc > 0) return;
    switch (v.kind) {
    case JV_UNDEF:
    case JV_STR: free(v.u.s); break;
    case JV_LIST:
        for (size_t i = 0; i < v.u.l->n; i++) jv_release(v.u.l->items[i]);
        free(v.u.l->lazy_error);
        free(v.u.l->items);
        free(v.u.l);
        break;
    case JV_DICT: dict_free(v.u.d); break;
    case JV_NS:
        dict_free(v.u.ns->attrs);
        free(v.u.ns);
        break;
    case JV_FUNC:
        jv_release(v.u.fn->self);
        scope_ref_release(v.u.fn->scope);
        free(v.u.fn);
        break;
    case JV_LOOP: {
        jv items = {JV_LIST, {0}};
        items.u.l = v.u.loop->items;
        jv_release(items);
        jv_release(v.u.loop->last_changed);
        scope_ref_release(v.u.loop->scope);
        free(v.u.loop);
        break;
    }
    default: break;
    }
}

int32_t jv_depth(jv v) {
    if (v.kind == JV_LIST) return v.u.l->depth;
    if (v.kind == JV_DICT) return v.u.d->depth;
    return 0;
}

void jv_list_push(jv list, jv item) {
    jv_list *l = list.u.l;
    if (jv_depth(item) + 1 > l->depth) l->depth = jv_depth(item) + 1;
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 4;
        l->items = mlcc_xrealloc(l->items, l->cap * sizeof(jv));
    }
    l->items[l->n++] = item;
}

/* Python hashes 1, 1.0 and True alike; lookups use equality, which is the same relation. */
static int key_equal(jv a, jv b) {
    if (a.kind == JV_STR && b.kind == JV_STR)
        return a.u.s->len == b.u.s->len && memcmp(a.u.s->data, b.u.s->data, a.u.s->len) == 0;
    return jv_equal(a, b);
}

jv *jv_dict_get(const jv_dict *d, jv key) {
    for (size_t i = 0; i < d->n; i++)
        if (key_equal(d->keys[i], key)) return &d->vals[i];
    return NULL;
}

jv *jv_dict_get_str(const jv_dict *d, const char *key, size_t len) {
    for (size_t i = 0; i < d->n; i++) {
        jv k = d->keys[i];
        if (k.kind == JV_STR && k.u.s->len == len && memcmp(k.u.s->data, key, len) == 0)
            return &d->vals[i];
    }
    return NULL;
}

void jv_dict_set(jv_dict *d, jv key, jv val) {
    jv *slot = jv_dict_get(d, key);
    if (slot) {
        jv_release(*slot);
        *slot = val;
        jv_release(key);
        if (jv_depth(val) + 1 > d->depth) d->depth = jv_depth(val) + 1;
        return;
    }
    if (d->n == d->cap) {
        d->cap = d->cap ? d->cap * 2 : 4;
        d->keys = mlcc_xrealloc(d->keys, d->cap * sizeof(jv));
        d->vals = mlcc_xrealloc(d->vals, d->cap * sizeof(jv));
    }
    d->keys[d->n] = key;
    d->vals[d->n] = val;
    d->n++;
    if (jv_depth(val) + 1 > d->depth) d->depth = jv_depth(val) + 1;
    if (jv_depth(key) + 1 > d->depth) d->depth = jv_depth(key) + 1;
}

void jv_dict_set_str(jv_dict *d, const char *key, jv val) { jv_dict_set(d, jv_cstr(key), val); }

size_t jv_str_ncp(jv_str *s) {
    if (s->ncp < 0) s->ncp = (int32_t)u8_count(s->data, s->len);
    return (size_t)s->ncp;
}

int jv_truthy(jv v) {
    switch (v.kind) {
    case JV_UNDEF:
    case JV_NONE: return 0;
    case JV_BOOL:
    case JV_INT: return v.u.i != 0;
    case JV_FLOAT: return v.u.f != 0.0;
    case JV_STR: return v.u.s->len != 0;
    case JV_LIST: return v.u.l->iter ? 1 : v.u.l->n != 0;
    case JV_DICT: return v.u.d->n != 0;
    default: return 1;
    }
}

int jv_equal(jv a, jv b) {
    if (jv_is_num(a) && jv_is_num(b)) {
        if (jv_is_intlike(a) && jv_is_intlike(b)) return a.u.i == b.u.i;
        return jv_num(a) == jv_num(b);
    }
    if (a.kind != b.kind) return 0;
    switch (a.kind) {
    case JV_UNDEF:
    case JV_NONE: return 1;
    case JV_STR:
        return a.u.s->len == b.u.s->len && memcmp(a.u.s->data, b.u.s->data, a.u.s->len) == 0;
    case JV_LIST:
        if (a.u.l->iter || b.u.l->iter) return a.u.l == b.u.l;
        if ((a.u.l->view != NULL) != (b.u.l->view != NULL)) return 0;
        if (a.u.l->n != b.u.l->n || a.u.l->is_tuple != b.u.l->is_tuple) return 0;
        for (size_t i = 0; i < a.u.l->n; i++)
            if (!jv_equal(a.u.l->items[i], b.u.l->items[i])) return 0;
        return 1;
    case JV_DICT:
        if (a.u.d->n != b.u.d->n) return 0;
        for (size_t i = 0; i < a.u.d->n; i++) {
            jv *o = jv_dict_get(b.u.d, a.u.d->keys[i]);
            if (!o || !jv_equal(a.u.d->vals[i], *o)) return 0;
        }
        return 1;
    case JV_NS: return a.u.ns == b.u.ns;
    case JV_FUNC: return a.u.fn == b.u.fn;
    case JV_LOOP: return a.u.loop == b.u.loop;
    default: return 0;
    }
}

int jv_compare(jv a, jv b) {
    if (jv_is_num(a) && jv_is_num(b)) {
        if (jv_is_intlike(a) && jv_is_intlike(b)) return a.u.i < b.u.i ? -1 : a.u.i > b.u.i;
        double x = jv_num(a), y = jv_num(b);
        return x < y ? -1 : x > y ? 1 : 0;
    }
    if (a.kind == JV_STR && b.kind == JV_STR) {
        /* UTF-8 byte order is code point order */
        size_t n = a.u.s->len < b.u.s->len ? a.u.s->len : b.u.s->len;
        int c = memcmp(a.u.s->data, b.u.s->data, n);
        if (c) return c < 0 ? -1 : 1;
        return a.u.s->len < b.u.s->len ? -1 : a.u.s->len > b.u.s->len;
    }
    if (a.kind == JV_LIST && b.kind == JV_LIST && a.u.l->is_tuple == b.u.l->is_tuple && !a.u.l->iter &&
        !b.u.l->iter) {
        size_t n = a.u.l->n < b.u.l->n ? a.u.l->n : b.u.l->n;
        for (size_t i = 0; i < n; i++) {
            if (jv_equal(a.u.l->items[i], b.u.l->items[i])) continue;
            return jv_compare(a.u.l->items[i], b.u.l->items[i]);
        }
        return a.u.l->n < b.u.l->n ? -1 : a.u.l->n > b.u.l->n;
    }
    return 2;
}

const char *jv_type_name(jv v) {
    switch (v.kind) {
    case JV_UNDEF: return "Undefined";
    case JV_NONE: return "NoneType";
    case JV_BOOL: return "bool";
    case JV_INT: return "int";
    case JV_FLOAT: return "float";
    case JV_STR: return v.u.s->markup ? "Markup" : "str";
    case JV_LIST: return v.u.l->iter ? v.u.l->iter : v.u.l->view ? v.u.l->view : v.u.l->is_tuple ? "tuple" : "list";
    case JV_DICT: return "dict";
    case JV_NS: return "Namespace";
    case JV_FUNC: return v.u.fn->kind == FN_MACRO ? "Macro" : "function";
    case JV_LOOP: return "LoopContext";
    }
    return "object";
}

/* repr(float): the shortest digits that round-trip, laid out as CPython's float_repr does
 * (positional for 1e-4 <= |x| < 1e16, else d.ddde+XX). */
void py_float_repr(mlcc_strbuf *sb, double f) {
    if (isnan(f)) {
        sb_append(sb, "nan");
        return;
    }
    if (isinf(f)) {
        sb_append(sb, f < 0 ? "-inf" : "inf");
        return;
    }
    if (f == 0) {
        sb_append(sb, signbit(f) ? "-0.0" : "0.0");
        return;
    }
    char buf[64];
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, sizeof buf, "%.*e", prec - 1, f);
        if (strtod(buf, NULL) == f) break;
    }
    /* buf = [-]d[.ddd]e[+-]XX */
    const char *p = buf;
    int neg = 0;
    if (*p == '-') {
        neg = 1;
        p++;
    }
    char digits[32];
    int nd = 0;
    while (*p && *p != 'e') {
        if (*p != '.') digits[nd++] = *p;
        p++;
    }
    int exp10 = atoi(p + 1);
    while (nd > 1 && digits[nd - 1] == '0') nd--;
    int decpt = exp10 + 1;
    if (neg) sb_append_char(sb, '-');
    if (decpt > -4 && decpt <= 16) {
        if (decpt <= 0) {
            sb_append(sb, "0.");
            for (int i = 0; i < -decpt; i++) sb_append_char(sb, '0');
            sb_append_n(sb, digits, (size_t)nd);
        } else if (decpt >= nd) {
            sb_append_n(sb, digits, (size_t)nd);
            for (int i = nd; i < decpt; i++) sb_append_char(sb, '0');
            sb_append(sb, ".0");
        } else {
            sb_append_n(sb, digits, (size_t)decpt);
            sb_append_char(sb, '.');
            sb_append_n(sb, digits + decpt, (size_t)(nd - decpt));
        }
    } else {
        sb_append_char(sb, digits[0]);
        if (nd > 1) {
            sb_append_char(sb, '.');
            sb_append_n(sb, digits + 1, (size_t)(nd - 1));
        }
        int e = decpt - 1;
        sb_printf(sb, "e%c%02d", e < 0 ? '-' : '+', e < 0 ? -e : e);
    }
}

static int py_isprintable(uint32_t c) {
    if (c == ' ') return 1;
    int k = utf8proc_category((utf8proc_int32_t)c);
    switch (k) {
    case UTF8PROC_CATEGORY_CC:
    case UTF8PROC_CATEGORY_CF:
    case UTF8PROC_CATEGORY_CS:
    case UTF8PROC_CATEGORY_CO:
    case UTF8PROC_CATEGORY_CN:
    case UTF8PROC_CATEGORY_ZL:
    case UTF8PROC_CATEGORY_ZP:
    case UTF8PROC_CATEGORY_ZS: return 0;
    default: return 1;
    }
}

static void str_repr(mlcc_strbuf *sb, const char *s, size_t len) {
    int has_sq = memchr(s, '\'', len) != NULL, has_dq = memchr(s, '"', len) != NULL;
    char q = has_sq && !has_dq ? '"' : '\'';
    sb_append_char(sb, q);
    size_t i = 0;
    while (i < len) {
        uint32_t c;
        size_t n = u8_decode(s, len, i, &c);
        if (c == (uint32_t)q || c == '\\') {
            sb_append_char(sb, '\\');
            sb_append_char(sb, (char)c);
        } else if (c == '\t') sb_append(sb, "\\t");
        else if (c == '\n') sb_append(sb, "\\n");
        else if (c == '\r') sb_append(sb, "\\r");
        else if (c < 0x20 || c == 0x7f) sb_printf(sb, "\\x%02x", c);
        else if (c < 0x7f) sb_append_char(sb, (char)c);
        else if (py_isprintable(c)) sb_append_n(sb, s + i, n);
        else if (c < 0x100) sb_printf(sb, "\\x%02x", c);
        else if (c < 0x10000) sb_printf(sb, "\\u%04x", c);
        else sb_printf(sb, "\\U%08x", c);
        i += n;
    }
    sb_append_char(sb, q);
}

static void append_value_d(mlcc_strbuf *sb, jv v, int repr, int ns_depth);
static void append_value(mlcc_strbuf *sb, jv v, int repr) { append_value_d(sb, v, repr, 0); }

static void append_value_d(mlcc_strbuf *sb, jv v, int repr, int ns_depth) {
    switch (v.kind) {
    case JV_UNDEF:
        if (repr) sb_append(sb, "Undefined");
        break;
    case JV_NONE: sb_append(sb, "None"); break;
    case JV_BOOL: sb_append(sb, v.u.i ? "True" : "False"); break;
    case JV_INT: sb_printf(sb, "%lld", (long long)v.u.i); break;
    case JV_FLOAT: py_float_repr(sb, v.u.f); break;
    case JV_STR:
        if (repr && v.u.s->markup) {
            sb_append(sb, "Markup(");
            str_repr(sb, v.u.s->data, v.u.s->len);
            sb_append_char(sb, ')');
        } else if (repr) str_repr(sb, v.u.s->data, v.u.s->len);
        else sb_append_n(sb, v.u.s->data, v.u.s->len);
        break;
    case JV_LIST: {
        jv_list *l = v.u.l;
        if (l->iter) {
            /* Python prints the object's address, which no two runs share */
            if (l->iter_name) sb_printf(sb, "<%s object %s at %p>", l->iter, l->iter_name, (void *)l);
            else sb_printf(sb, "<%s object at %p>", l->iter, (void *)l);
            break;
        }
        if (l->view) sb_printf(sb, "%s(", l->view);
        sb_append_char(sb, l->is_tuple ? '(' : '[');
        for (size_t i = 0; i < l->n; i++) {
            if (i) sb_append(sb, ", ");
            append_value_d(sb, l->items[i], 1, ns_depth);
        }
        if (l->is_tuple && l->n == 1) sb_append_char(sb, ',');
        sb_append_char(sb, l->is_tuple ? ')' : ']');
        if (l->view) sb_append_char(sb, ')');
        break;
    }
    case JV_DICT: {
        jv_dict *d = v.u.d;
        sb_append_char(sb, '{');
        for (size_t i = 0; i < d->n; i++) {
            if (i) sb_append(sb, ", ");
            append_value_d(sb, d->keys[i], 1, ns_depth);
            sb_append(sb, ": ");
            append_value_d(sb, d->vals[i], 1, ns_depth);
        }
        sb_append_char(sb, '}');
        break;
    }
    case JV_NS: {
        jv d = {JV_DICT, {0}};
        d.u.d = v.u.ns->attrs;
        sb_append(sb, "<Namespace ");
        /* namespaces are the one value that can contain itself */
        if (ns_depth > 20) sb_append(sb, "{...}");
        else append_value_d(sb, d, 1, ns_depth + 1);
        sb_append(sb, ">");
        break;
    }
    case JV_FUNC:
        if (v.u.fn->kind == FN_MACRO) sb_printf(sb, "<Macro '%s'>", v.u.fn->name);
        else if (v.u.fn->kind == FN_CYCLER) sb_printf(sb, "<jinja2.utils.Cycler object at %p>", (void *)v.u.fn);
        else sb_printf(sb, "<built-in function %s>", v.u.fn->name);
        break;
    case JV_LOOP:
        sb_printf(sb, "<LoopContext %zu/%zu>", v.u.loop->index + 1, v.u.loop->items->n);
        break;
    }
}

void jv_append_str(mlcc_strbuf *sb, jv v) { append_value(sb, v, 0); }
void jv_append_repr(mlcc_strbuf *sb, jv v) { append_value(sb, v, 1); }

jv jv_to_str(jv v) {
    if (v.kind == JV_STR) return jv_retain(v);
    mlcc_strbuf sb = STRBUF_INIT;
    append_value(&sb, v, 0);
    return jv_str_take_sb(&sb);
}

jv jv_from_json(json_t *j) {
    switch (json_typeof(j)) {
    case JSON_NULL: return jv_none();
    case JSON_TRUE: return jv_bool(1);
    case JSON_FALSE: return jv_bool(0);
    case JSON_INTEGER: return jv_int((int64_t)json_integer_value(j));
    case JSON_REAL: return jv_float(json_real_value(j));
    case JSON_STRING: return jv_str_n(json_string_value(j), json_string_length(j));
    case JSON_ARRAY: {
        jv l = jv_list_new(json_array_size(j));
        for (size_t i = 0; i < json_array_size(j); i++)
            jv_list_push(l, jv_from_json(json_array_get(j, i)));
        return l;
    }
    case JSON_OBJECT: {
        jv d = jv_dict_new();
        const char *key;
        json_t *val;
        void *it = json_object_iter(j);
        while (it) {
            key = json_object_iter_key(it);
            val = json_object_iter_value(it);
            jv_dict_set(d.u.d, jv_str_n(key, json_object_iter_key_len(it)), jv_from_json(val));
            it = json_object_iter_next(j, it);
        }
        return d;
    }
    }
    return jv_none();
}
