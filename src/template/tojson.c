/* tojson.c - the `tojson` filter as transformers defines it: Python's
 * json.dumps(x, ensure_ascii=False, indent=indent, separators=separators, sort_keys=sort_keys),
 * byte for byte (float repr, key coercion, escaping, indentation), and not Jinja's own
 * HTML-safe tojson. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "support/alloc.h"
#include "template/builtins.h"
#include "template/ustr.h"

static void json_str_out(mlcc_strbuf *sb, const char *s, size_t len, int ensure_ascii) {
    sb_append_char(sb, '"');
    size_t i = 0;
    while (i < len) {
        uint32_t c;
        size_t n = u8_decode(s, len, i, &c);
        switch (c) {
        case '"': sb_append(sb, "\\\""); break;
        case '\\': sb_append(sb, "\\\\"); break;
        case '\n': sb_append(sb, "\\n"); break;
        case '\r': sb_append(sb, "\\r"); break;
        case '\t': sb_append(sb, "\\t"); break;
        case '\b': sb_append(sb, "\\b"); break;
        case '\f': sb_append(sb, "\\f"); break;
        default:
            if (c < 0x20) sb_printf(sb, "\\u%04x", c);
            else if (ensure_ascii && c >= 0x7f) {
                if (c >= 0x10000) {
                    uint32_t v = c - 0x10000;
                    sb_printf(sb, "\\u%04x\\u%04x", 0xd800 + (v >> 10), 0xdc00 + (v & 0x3ff));
                } else sb_printf(sb, "\\u%04x", c);
            } else sb_append_n(sb, s + i, n);
        }
        i += n;
    }
    sb_append_char(sb, '"');
}

static void json_float(mlcc_strbuf *sb, double f) {
    if (isnan(f)) sb_append(sb, "NaN");
    else if (isinf(f)) sb_append(sb, f > 0 ? "Infinity" : "-Infinity");
    else py_float_repr(sb, f);
}

static void newline_indent(mlcc_strbuf *sb, const json_opts *o, int level) {
    sb_append_char(sb, '\n');
    for (int i = 0; i < level; i++) sb_append_n(sb, o->indent, o->indent_len);
}

/* A dict key as json.dumps coerces it; -1 for keys it rejects. */
static int json_key(interp *in, mlcc_strbuf *sb, jv k, int ensure_ascii) {
    mlcc_strbuf tmp = STRBUF_INIT;
    switch (k.kind) {
    case JV_STR: json_str_out(sb, k.u.s->data, k.u.s->len, ensure_ascii); return 0;
    case JV_INT: sb_printf(&tmp, "%lld", (long long)k.u.i); break;
    case JV_BOOL: sb_append(&tmp, k.u.i ? "true" : "false"); break;
    case JV_NONE: sb_append(&tmp, "null"); break;
    case JV_FLOAT: json_float(&tmp, k.u.f); break;
    default:
        return rt_fail(in, "TypeError: keys must be str, int, float, bool or None, not %s", jv_type_name(k));
    }
    json_str_out(sb, sb_cstr(&tmp), tmp.len, ensure_ascii);
    sb_free(&tmp);
    return 0;
}

int to_json(interp *in, mlcc_strbuf *sb, jv v, const json_opts *o, int level) {
    if (level > 1000) return rt_fail(in, "RecursionError: maximum recursion depth exceeded in tojson");
    if (sb->len > in->max_size)
        return rt_fail(in, "MemoryError: tojson output exceeds the render's limit (%zu bytes)", in->max_size);
    switch (v.kind) {
    case JV_NONE: sb_append(sb, "null"); return 0;
    case JV_BOOL: sb_append(sb, v.u.i ? "true" : "false"); return 0;
    case JV_INT: sb_printf(sb, "%lld", (long long)v.u.i); return 0;
    case JV_FLOAT: json_float(sb, v.u.f); return 0;
    case JV_STR: json_str_out(sb, v.u.s->data, v.u.s->len, o->ensure_ascii); return 0;
    case JV_LIST: {
        jv_list *l = v.u.l;
        if (l->iter || l->view)
            return rt_fail(in, "TypeError: Object of type %s is not JSON serializable", l->iter ? l->iter : l->view);
        if (l->n == 0) {
            sb_append(sb, "[]");
            return 0;
        }
        sb_append_char(sb, '[');
        for (size_t i = 0; i < l->n; i++) {
            if (i) sb_append_n(sb, o->item_sep, o->item_sep_len);
            if (o->indent) newline_indent(sb, o, level + 1);
            if (to_json(in, sb, l->items[i], o, level + 1) < 0) return -1;
        }
        if (o->indent) newline_indent(sb, o, level);
        sb_append_char(sb, ']');
        return 0;
    }
    case JV_DICT: {
        jv_dict *d = v.u.d;
        if (d->n == 0) {
            sb_append(sb, "{}");
            return 0;
        }
        size_t *order = mlcc_xmalloc(d->n * sizeof(size_t));
        for (size_t i = 0; i < d->n; i++) order[i] = i;
        if (o->sort_keys && sort_index(in, d->keys, d->n, 0, order) < 0) {
            free(order);
            return -1;
        }
        sb_append_char(sb, '{');
        for (size_t i = 0; i < d->n; i++) {
            size_t k = order[i];
            if (i) sb_append_n(sb, o->item_sep, o->item_sep_len);
            if (o->indent) newline_indent(sb, o, level + 1);
            if (json_key(in, sb, d->keys[k], o->ensure_ascii) < 0 ||
                (sb_append_n(sb, o->key_sep, o->key_sep_len), to_json(in, sb, d->vals[k], o, level + 1)) < 0) {
                free(order);
                return -1;
            }
        }
        free(order);
        if (o->indent) newline_indent(sb, o, level);
        sb_append_char(sb, '}');
        return 0;
    }
    default:
        return rt_fail(in, "TypeError: Object of type %s is not JSON serializable", jv_type_name(v));
    }
}
