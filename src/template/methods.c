/* methods.c - the Python methods templates call on values: str (strip, split, startswith,
 * format, ...), dict (items, keys, values, get) and list (index, count). Methods that mutate
 * are refused, as jinja2's ImmutableSandboxedEnvironment refuses them. Also str.format's and
 * the `%` operator's formatting. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support/alloc.h"
#include "template/builtins.h"
#include "template/ustr.h"

static const char *const str_methods[] = {
    "strip", "lstrip", "rstrip", "split", "rsplit", "splitlines", "startswith", "endswith", "replace",
    "upper", "lower", "title", "capitalize", "swapcase", "casefold", "format", "join", "find", "rfind",
    "index", "rindex", "count", "isdigit", "isalpha", "isalnum", "isspace", "islower", "isupper",
    "isnumeric", "isdecimal", "zfill", "center", "ljust", "rjust", "partition", "rpartition",
    "removeprefix", "removesuffix", "istitle", "isidentifier", "isprintable", "isascii", "expandtabs",
    "encode", "format_map", "maketrans", "translate"};
static const char *const dict_methods[] = {"keys", "values", "items", "get", "copy", "fromkeys"};
static const char *const dict_unsafe[] = {"clear", "pop", "popitem", "setdefault", "update"};
/* jinja2.sandbox's _mutable_spec forbids append, reverse, insert, sort, extend and remove on a
 * MutableSequence, but not pop or clear: templates may pop from a list. */
static const char *const list_methods[] = {"index", "count", "copy", "pop", "clear"};
static const char *const list_unsafe[] = {"append", "extend", "insert", "remove", "reverse", "sort"};

static int in_table(const char *const *t, size_t n, const char *name) {
    for (size_t i = 0; i < n; i++)
        if (!strcmp(t[i], name)) return 1;
    return 0;
}
#define IN(t, name) in_table(t, sizeof t / sizeof t[0], name)

int method_kind(jv obj, const char *name) {
    switch (obj.kind) {
    case JV_STR: return IN(str_methods, name);
    case JV_DICT: return IN(dict_methods, name) ? 1 : IN(dict_unsafe, name) ? -1 : 0;
    case JV_LIST:
        if (obj.u.l->iter || obj.u.l->view) return 0;
        if (obj.u.l->is_tuple) return !strcmp(name, "index") || !strcmp(name, "count");
        return IN(list_methods, name) ? 1 : IN(list_unsafe, name) ? -1 : 0;
    default: return 0;
    }
}

int python_str_of(interp *in, jv v, jv *out) {
    (void)in;
    *out = jv_to_str(v);
    return 0;
}

/* ---- split ---- */

void string_split(jv_str *s, const char *sep, size_t seplen, int64_t maxsplit, int from_right, jv *out) {
    jv l = jv_list_new(0);
    const char *d = s->data;
    size_t len = s->len;
    if (!sep) {
        /* runs of whitespace; no empty strings */
        if (!from_right) {
            size_t i = 0;
            int64_t splits = 0;
            for (;;) {
                while (i < len) {
                    uint32_t c;
                    size_t n = u8_decode(d, len, i, &c);
                    if (!py_isspace(c)) break;
                    i += n;
                }
                if (i >= len) break;
                if (maxsplit >= 0 && splits >= maxsplit) {
                    size_t a, b;
                    py_strip(d + i, len - i, NULL, 0, 0, 1, &a, &b);
                    jv_list_push(l, jv_str_n(d + i, b));
                    break;
                }
                size_t start = i;
                while (i < len) {
                    uint32_t c;
                    size_t n = u8_decode(d, len, i, &c);
                    if (py_isspace(c)) break;
                    i += n;
                }
                jv_list_push(l, jv_str_n(d + start, i - start));
                splits++;
            }
        } else {
            /* collect from the right, then reverse */
            size_t end = len;
            int64_t splits = 0;
            for (;;) {
                size_t a, b;
                py_strip(d, end, NULL, 0, 0, 1, &a, &b);
                end = b;
                if (end == 0) break;
                if (maxsplit >= 0 && splits >= maxsplit) {
                    size_t x, y;
                    py_strip(d, end, NULL, 0, 1, 0, &x, &y);
                    jv_list_push(l, jv_str_n(d + x, end - x));
                    break;
                }
                size_t start = end;
                while (start > 0) {
                    size_t p = start - 1;
                    while (p > 0 && ((unsigned char)d[p] & 0xc0) == 0x80) p--;
                    uint32_t c;
                    u8_decode(d, len, p, &c);
                    if (py_isspace(c)) break;
                    start = p;
                }
                jv_list_push(l, jv_str_n(d + start, end - start));
                end = start;
                splits++;
            }
            jv_list *x = l.u.l;
            for (size_t i = 0; i < x->n / 2; i++) {
                jv t = x->items[i];
                x->items[i] = x->items[x->n - 1 - i];
                x->items[x->n - 1 - i] = t;
            }
        }
        *out = l;
        return;
    }
    if (!from_right) {
        size_t i = 0;
        int64_t splits = 0;
        for (;;) {
            const char *hit = (maxsplit < 0 || splits < maxsplit) ? memmem(d + i, len - i, sep, seplen) : NULL;
            if (!hit) {
                jv_list_push(l, jv_str_n(d + i, len - i));
                break;
            }
            jv_list_push(l, jv_str_n(d + i, (size_t)(hit - d) - i));
            i = (size_t)(hit - d) + seplen;
            splits++;
        }
    } else {
        size_t end = len;
        int64_t splits = 0;
        for (;;) {
            const char *hit = NULL;
            if ((maxsplit < 0 || splits < maxsplit) && end >= seplen)
                for (size_t p = end - seplen + 1; p > 0; p--)
                    if (memcmp(d + p - 1, sep, seplen) == 0) {
                        hit = d + p - 1;
                        break;
                    }
            if (!hit) {
                jv_list_push(l, jv_str_n(d, end));
                break;
            }
            size_t at = (size_t)(hit - d);
            jv_list_push(l, jv_str_n(d + at + seplen, end - at - seplen));
            end = at;
            splits++;
        }
        jv_list *x = l.u.l;
        for (size_t i = 0; i < x->n / 2; i++) {
            jv t = x->items[i];
            x->items[i] = x->items[x->n - 1 - i];
            x->items[x->n - 1 - i] = t;
        }
    }
    *out = l;
}

void string_splitlines(const char *d, size_t len, int keepends, jv *out) {
    jv l = jv_list_new(0);
    size_t i = 0, start = 0;
    while (i < len) {
        uint32_t c;
        size_t n = u8_decode(d, len, i, &c);
        if (py_islinebreak(c)) {
            size_t eol = i + n;
            if (c == '\r' && eol < len && d[eol] == '\n') eol++;
            jv_list_push(l, jv_str_n(d + start, (keepends ? eol : i) - start));
            i = start = eol;
            continue;
        }
        i += n;
    }
    if (start < len) jv_list_push(l, jv_str_n(d + start, len - start));
    *out = l;
}

/* ---- format() spec mini-language ---- */

int py_format_spec(interp *in, jv v, const char *spec, size_t n, mlcc_strbuf *sb) {
    char fill = ' ', align = 0, sign = '-', type = 0;
    int alt = 0, zero = 0, comma = 0;
    long width = -1, prec = -1;
    size_t i = 0;
    if (n >= 2 && (spec[1] == '<' || spec[1] == '>' || spec[1] == '^' || spec[1] == '=')) {
        fill = spec[0];
        align = spec[1];
        i = 2;
    } else if (n >= 1 && (spec[0] == '<' || spec[0] == '>' || spec[0] == '^' || spec[0] == '=')) {
        align = spec[0];
        i = 1;
    }
    if (i < n && (spec[i] == '+' || spec[i] == '-' || spec[i] == ' ')) sign = spec[i++];
    if (i < n && spec[i] == '#') alt = 1, i++;
    if (i < n && spec[i] == '0') zero = 1, i++;
    while (i < n && spec[i] >= '0' && spec[i] <= '9') {
        width = (width < 0 ? 0 : width) * 10 + (spec[i++] - '0');
        if (width > 100000) width = 100000; /* rejected below; keeps the arithmetic in range */
    }
    if (i < n && (spec[i] == ',' || spec[i] == '_')) comma = 1, i++;
    if (i < n && spec[i] == '.') {
        i++;
        prec = 0;
        while (i < n && spec[i] >= '0' && spec[i] <= '9') {
            prec = prec * 10 + (spec[i++] - '0');
            if (prec > 100000) prec = 100000;
        }
    }
    if (i < n) type = spec[i++];
    if (i != n || width > 10000 || prec > 1000) return rt_fail(in, "ValueError: Invalid format specifier");
    (void)alt;
    mlcc_strbuf body = STRBUF_INIT;
    int numeric = jv_is_num(v) && v.kind != JV_BOOL ? 1 : (v.kind == JV_BOOL && type && type != 's');
    if (v.kind == JV_STR || (!numeric && (type == 0 || type == 's'))) {
        if (type && type != 's') return rt_fail(in, "ValueError: Unknown format code '%c' for object of type 'str'", type);
        jv s = jv_to_str(v);
        size_t len = s.u.s->len;
        if (prec >= 0) len = u8_offset(s.u.s->data, s.u.s->len, (size_t)prec);
        sb_append_n(&body, s.u.s->data, len);
        jv_release(s);
        if (!align) align = '<';
    } else if (numeric) {
        double f = jv_num(v);
        char buf[1400]; /* %.1000f of 1e308 needs 1310 */
        if (!type && jv_is_intlike(v)) type = 'd';
        switch (type) {
        case 'd':
            if (!jv_is_intlike(v)) return rt_fail(in, "ValueError: Unknown format code 'd' for object of type 'float'");
            snprintf(buf, sizeof buf, "%lld", (long long)v.u.i);
            break;
        case 'x': case 'X': case 'o': case 'b':
            if (!jv_is_intlike(v)) return rt_fail(in, "ValueError: Unknown format code for object of type 'float'");
            if (type == 'b') {
                unsigned long long u = (unsigned long long)(v.u.i < 0 ? -v.u.i : v.u.i);
                char tmp[80];
                int k = 0;
                do tmp[k++] = (char)('0' + (u & 1)); while (u >>= 1);
                int m = 0;
                if (v.u.i < 0) buf[m++] = '-';
                while (k) buf[m++] = tmp[--k];
                buf[m] = 0;
            } else snprintf(buf, sizeof buf, type == 'x' ? "%llx" : type == 'X' ? "%llX" : "%llo", (long long)v.u.i);
            break;
        case 'f': case 'F': snprintf(buf, sizeof buf, "%.*f", (int)(prec < 0 ? 6 : prec), f); break;
        case 'e': case 'E': snprintf(buf, sizeof buf, type == 'e' ? "%.*e" : "%.*E", (int)(prec < 0 ? 6 : prec), f); break;
        case '%': snprintf(buf, sizeof buf, "%.*f%%", (int)(prec < 0 ? 6 : prec), f * 100); break;
        case 'g': case 'G': snprintf(buf, sizeof buf, type == 'g' ? "%.*g" : "%.*G", (int)(prec < 0 ? 6 : prec == 0 ? 1 : prec), f); break;
        case 0: {
            mlcc_strbuf t = STRBUF_INIT;
            if (prec >= 0) snprintf(buf, sizeof buf, "%.*g", (int)(prec == 0 ? 1 : prec), f);
            else {
                py_float_repr(&t, f);
                snprintf(buf, sizeof buf, "%s", sb_cstr(&t));
            }
            sb_free(&t);
            break;
        }
        default: return rt_fail(in, "ValueError: Unknown format code '%c'", type);
        }
        mlcc_strbuf num = STRBUF_INIT;
        {
            /* with ',' the integer digits are grouped by three */
            const char *q = buf;
            if (*q == '-') sb_append_char(&num, *q++);
            size_t digits = strspn(q, "0123456789");
            for (size_t d = 0; d < digits; d++) {
                sb_append_char(&num, q[d]);
                if (comma && (digits - d - 1) % 3 == 0 && d + 1 < digits) sb_append_char(&num, ',');
            }
            sb_append(&num, q + digits);
        }
        const char *p = sb_cstr(&num);
        int neg = *p == '-';
        if (neg) p++;
        if (neg) sb_append_char(&body, '-');
        else if (sign == '+') sb_append_char(&body, '+');
        else if (sign == ' ') sb_append_char(&body, ' ');
        if (zero && !align) {
            long digits = (long)strlen(p), have = (long)body.len;
            for (long k = have + digits; k < width; k++) sb_append_char(&body, '0');
        }
        sb_append(&body, p);
        sb_free(&num);
        if (!align) align = '>';
    } else {
        jv s = jv_to_str(v);
        sb_append_n(&body, s.u.s->data, s.u.s->len);
        jv_release(s);
        if (!align) align = '<';
    }
    long len = (long)u8_count(body.data ? body.data : "", body.len);
    long pad = width > len ? width - len : 0;
    long left = align == '>' ? pad : align == '^' ? pad / 2 : 0, right = pad - left;
    for (long k = 0; k < left; k++) sb_append_char(sb, fill);
    sb_append_n(sb, body.data ? body.data : "", body.len);
    for (long k = 0; k < right; k++) sb_append_char(sb, fill);
    sb_free(&body);
    return 0;
}

/* str.format: {} {0} {name} {0.attr} {0[key]} with !r/!s and a format spec. */
int py_str_format(interp *in, jv_str *fmt, const args *a, jv *out) {
    mlcc_strbuf sb = STRBUF_INIT;
    const char *d = fmt->data;
    size_t n = fmt->len, i = 0;
    size_t auto_index = 0;
    while (i < n) {
        char c = d[i];
        if (c == '}') {
            if (i + 1 < n && d[i + 1] == '}') {
                sb_append_char(&sb, '}');
                i += 2;
                continue;
            }
            sb_free(&sb);
            return rt_fail(in, "ValueError: Single '}' encountered in format string");
        }
        if (c != '{') {
            sb_append_char(&sb, c);
            i++;
            continue;
        }
        if (i + 1 < n && d[i + 1] == '{') {
            sb_append_char(&sb, '{');
            i += 2;
            continue;
        }
        size_t j = i + 1;
        int depth = 1;
        while (j < n && depth) {
            if (d[j] == '{') depth++;
            else if (d[j] == '}') depth--;
            if (depth) j++;
        }
        if (j >= n) {
            sb_free(&sb);
            return rt_fail(in, "ValueError: expected '}' before end of string");
        }
        /* field = name[.attr|[key]]*[!conv][:spec] */
        const char *f = d + i + 1;
        size_t flen = j - i - 1, k = 0;
        while (k < flen && f[k] != '.' && f[k] != '[' && f[k] != '!' && f[k] != ':') k++;
        jv val;
        if (k == 0) {
            if (auto_index >= a->npos) {
                sb_free(&sb);
                return rt_fail(in, "IndexError: Replacement index %zu out of range for positional args tuple", auto_index);
            }
            val = jv_retain(a->pos[auto_index++]);
        } else if (f[0] >= '0' && f[0] <= '9') {
            size_t idx = (size_t)strtoul(f, NULL, 10);
            if (idx >= a->npos) {
                sb_free(&sb);
                return rt_fail(in, "IndexError: Replacement index %zu out of range for positional args tuple", idx);
            }
            val = jv_retain(a->pos[idx]);
        } else {
            size_t q = 0;
            while (q < a->nkw && !(strlen(a->kwnames[q]) == k && !memcmp(a->kwnames[q], f, k))) q++;
            if (q == a->nkw) {
                sb_free(&sb);
                return rt_fail(in, "KeyError: '%.*s'", (int)k, f);
            }
            val = jv_retain(a->kw[q]);
        }
        while (k < flen && (f[k] == '.' || f[k] == '[')) {
            jv next;
            int rc;
            if (f[k] == '.') {
                size_t s0 = ++k;
                while (k < flen && f[k] != '.' && f[k] != '[' && f[k] != '!' && f[k] != ':') k++;
                char *name = mlcc_xstrndup(f + s0, k - s0);
                rc = get_attr(in, val, name, k - s0, &next);
                free(name);
            } else {
                size_t s0 = ++k;
                while (k < flen && f[k] != ']') k++;
                int digits = k > s0;
                for (size_t t = s0; t < k; t++)
                    if (f[t] < '0' || f[t] > '9') digits = 0;
                jv key = digits ? jv_int(strtoll(f + s0, NULL, 10)) : jv_str_n(f + s0, k - s0);
                rc = get_item(in, val, key, &next);
                jv_release(key);
                if (k < flen) k++;
            }
            jv_release(val);
            if (rc < 0) {
                sb_free(&sb);
                return -1;
            }
            val = next;
        }
        char conv = 0;
        if (k + 1 < flen && f[k] == '!') {
            conv = f[k + 1];
            k += 2;
        }
        const char *spec = "";
        size_t speclen = 0;
        if (k < flen && f[k] == ':') {
            spec = f + k + 1;
            speclen = flen - k - 1;
        }
        if (conv == 'r' || conv == 'a') {
            mlcc_strbuf r = STRBUF_INIT;
            jv_append_repr(&r, val);
            jv_release(val);
            val = jv_str_take_sb(&r);
        } else if (conv == 's') {
            jv s = jv_to_str(val);
            jv_release(val);
            val = s;
        }
        int rc = py_format_spec(in, val, spec, speclen, &sb);
        jv_release(val);
        if (rc < 0) {
            sb_free(&sb);
            return -1;
        }
        i = j + 1;
    }
    *out = jv_str_take_sb(&sb);
    return 0;
}

/* The `%` operator on a str: %s %r %d %i %f %x %% with flags, width and precision. */
int string_percent_format(interp *in, jv fmt, jv argv, jv *out) {
    const char *d = fmt.u.s->data;
    size_t n = fmt.u.s->len, i = 0, next = 0;
    int is_tuple = argv.kind == JV_LIST && argv.u.l->is_tuple;
    mlcc_strbuf sb = STRBUF_INIT;
    while (i < n) {
        if (d[i] != '%') {
            sb_append_char(&sb, d[i++]);
            continue;
        }
        i++;
        if (i < n && d[i] == '%') {
            sb_append_char(&sb, '%');
            i++;
            continue;
        }
        jv val;
        if (i < n && d[i] == '(') {
            size_t e = i + 1;
            while (e < n && d[e] != ')') e++;
            if (argv.kind != JV_DICT || e >= n) {
                sb_free(&sb);
                return rt_fail(in, "TypeError: format requires a mapping");
            }
            jv *v = jv_dict_get_str(argv.u.d, d + i + 1, e - i - 1);
            if (!v) {
                sb_free(&sb);
                return rt_fail(in, "KeyError: '%.*s'", (int)(e - i - 1), d + i + 1);
            }
            val = jv_retain(*v);
            i = e + 1;
        } else if (is_tuple) {
            if (next >= argv.u.l->n) {
                sb_free(&sb);
                return rt_fail(in, "TypeError: not enough arguments for format string");
            }
            val = jv_retain(argv.u.l->items[next++]);
        } else {
            if (next++ > 0) {
                sb_free(&sb);
                return rt_fail(in, "TypeError: not enough arguments for format string");
            }
            val = jv_retain(argv);
        }
        /* flags, width, precision -> a format() spec */
        mlcc_strbuf spec = STRBUF_INIT;
        int left = 0, zero = 0;
        char signc = 0;
        while (i < n && strchr("-+ #0", d[i])) {
            if (d[i] == '-') left = 1;
            else if (d[i] == '0') zero = 1;
            else if (d[i] == '+' || d[i] == ' ') signc = d[i];
            i++;
        }
        if (left) sb_append_char(&spec, '<');
        if (signc) sb_append_char(&spec, signc);
        if (zero && !left) sb_append_char(&spec, '0');
        while (i < n && d[i] >= '0' && d[i] <= '9') sb_append_char(&spec, d[i++]);
        if (i < n && d[i] == '.') {
            sb_append_char(&spec, d[i++]);
            while (i < n && d[i] >= '0' && d[i] <= '9') sb_append_char(&spec, d[i++]);
        }
        char conv = i < n ? d[i++] : 0;
        int rc = 0;
        jv v2 = jv_none();
        switch (conv) {
        case 's': v2 = jv_to_str(val); break;
        case 'r': {
            mlcc_strbuf r = STRBUF_INIT;
            jv_append_repr(&r, val);
            v2 = jv_str_take_sb(&r);
            break;
        }
        case 'c':
            if (val.kind == JV_STR && jv_str_ncp(val.u.s) == 1) v2 = jv_retain(val);
            else if (jv_is_intlike(val) && val.u.i >= 0 && val.u.i <= 0x10ffff && !(val.u.i >= 0xd800 && val.u.i <= 0xdfff)) {
                mlcc_strbuf c = STRBUF_INIT;
                u8_append(&c, (uint32_t)val.u.i);
                v2 = jv_str_take_sb(&c);
            } else rc = rt_fail(in, "TypeError: %%c requires an int or a unicode character");
            break;
        case 'd': case 'i': case 'u':
            if (!jv_is_num(val)) rc = rt_fail(in, "TypeError: %%d format: a real number is required, not %s", jv_type_name(val));
            else {
                int64_t iv = val.u.i;
                if (val.kind == JV_FLOAT && (!isfinite(val.u.f) || float_to_int64(val.u.f, &iv) < 0))
                    rc = rt_fail(in, "OverflowError: %%d of a float outside the integer range");
                v2 = jv_int(iv);
                sb_append_char(&spec, 'd');
            }
            break;
        case 'f': case 'F': case 'e': case 'E': case 'g': case 'G': case 'x': case 'X': case 'o':
            if (!jv_is_num(val)) rc = rt_fail(in, "TypeError: must be real number, not %s", jv_type_name(val));
            else if ((conv == 'x' || conv == 'X' || conv == 'o') && val.kind == JV_FLOAT)
                rc = rt_fail(in, "TypeError: %%%c format: an integer is required, not float", conv);
            else {
                v2 = (conv == 'x' || conv == 'X' || conv == 'o') ? jv_int(val.u.i) : jv_float(jv_num(val));
                sb_append_char(&spec, conv);
            }
            break;
        default: rc = rt_fail(in, "ValueError: unsupported format character '%c'", conv ? conv : '?');
        }
        if (rc == 0) rc = py_format_spec(in, v2, sb_cstr(&spec), spec.len, &sb);
        jv_release(v2);
        jv_release(val);
        sb_free(&spec);
        if (rc < 0) {
            sb_free(&sb);
            return -1;
        }
    }
    /* a lone argument must be used, unless it is a mapping-like object (Python's rule for
     * dicts and lists) */
    if ((is_tuple && next < argv.u.l->n) ||
        (!is_tuple && argv.kind != JV_DICT && argv.kind != JV_LIST && argv.kind != JV_UNDEF && next == 0)) {
        sb_free(&sb);
        return rt_fail(in, "TypeError: not all arguments converted during string formatting");
    }
    *out = jv_str_take_sb(&sb);
    return 0;
}

/* ---- str methods ---- */

int string_replace(interp *in, jv_str *s, const args *a, jv *out); /* filters.c */

static int strip_method(interp *in, jv_str *s, const args *a, int left, int right, jv *out) {
    BIND(in, "strip", a, "chars");
    const char *chars = NULL;
    size_t nchars = 0;
    if (sl[0] && sl[0]->kind == JV_STR) {
        chars = sl[0]->u.s->data;
        nchars = sl[0]->u.s->len;
    } else if (sl[0] && sl[0]->kind != JV_NONE) return rt_fail(in, "TypeError: strip arg must be None or str");
    size_t b, e;
    py_strip(s->data, s->len, chars, nchars, left, right, &b, &e);
    *out = jv_str_n(s->data + b, e - b);
    return 0;
}

static int split_method(interp *in, jv_str *s, const args *a, int from_right, jv *out) {
    BIND(in, "split", a, "sep", "maxsplit");
    int64_t maxsplit;
    if (arg_int(in, sl[1], -1, "split maxsplit", &maxsplit) < 0) return -1;
    if (sl[0] && sl[0]->kind != JV_NONE) {
        jv_str *sep = arg_str(in, sl[0], "split separator");
        if (!sep) return -1;
        if (sep->len == 0) return rt_fail(in, "ValueError: empty separator");
        string_split(s, sep->data, sep->len, maxsplit, from_right, out);
    } else string_split(s, NULL, 0, maxsplit, from_right, out);
    return 0;
}

/* startswith/endswith with a str or a tuple of str (start/end code point bounds). */
static int affix_method(interp *in, jv_str *s, const args *a, int end, jv *out) {
    BIND(in, end ? "endswith" : "startswith", a, "prefix", "start", "end");
    if (!sl[0]) return rt_fail(in, "TypeError: %s takes at least 1 argument", end ? "endswith" : "startswith");
    size_t ncp = jv_str_ncp(s);
    int64_t from = 0, to = (int64_t)ncp;
    if (sl[1] && sl[1]->kind != JV_NONE && arg_int(in, sl[1], 0, "start", &from) < 0) return -1;
    if (sl[2] && sl[2]->kind != JV_NONE && arg_int(in, sl[2], 0, "end", &to) < 0) return -1;
    if (from < 0) from = from + (int64_t)ncp < 0 ? 0 : from + (int64_t)ncp;
    if (to < 0) to = to + (int64_t)ncp < 0 ? 0 : to + (int64_t)ncp;
    if (to > (int64_t)ncp) to = (int64_t)ncp;
    if (from > (int64_t)ncp || from > to) {
        *out = jv_bool(0);
        return 0;
    }
    size_t bf = u8_offset(s->data, s->len, (size_t)from), bt = u8_offset(s->data, s->len, (size_t)to);
    const jv *cands = sl[0];
    size_t count = 1;
    if (sl[0]->kind == JV_LIST && sl[0]->u.l->is_tuple) {
        cands = sl[0]->u.l->items;
        count = sl[0]->u.l->n;
    }
    int hit = 0;
    for (size_t i = 0; i < count && !hit; i++) {
        if (cands[i].kind != JV_STR)
            return rt_fail(in, "TypeError: %s first arg must be str or a tuple of str, not %s",
                           end ? "endswith" : "startswith", jv_type_name(cands[i]));
        jv_str *x = cands[i].u.s;
        if (x->len > bt - bf) continue;
        hit = end ? memcmp(s->data + bt - x->len, x->data, x->len) == 0 : memcmp(s->data + bf, x->data, x->len) == 0;
    }
    *out = jv_bool(hit);
    return 0;
}

/* find/rfind/index/rindex/count: code point positions. */
static int search_method(interp *in, jv_str *s, const char *name, const args *a, jv *out) {
    BIND(in, name, a, "sub", "start", "end");
    jv_str *sub = arg_str(in, sl[0], name);
    if (!sub) return -1;
    size_t ncp = jv_str_ncp(s);
    int64_t from = 0, to = (int64_t)ncp;
    if (sl[1] && sl[1]->kind != JV_NONE && arg_int(in, sl[1], 0, "start", &from) < 0) return -1;
    if (sl[2] && sl[2]->kind != JV_NONE && arg_int(in, sl[2], 0, "end", &to) < 0) return -1;
    if (from < 0) from = from + (int64_t)ncp < 0 ? 0 : from + (int64_t)ncp;
    if (to < 0) to = to + (int64_t)ncp < 0 ? 0 : to + (int64_t)ncp;
    if (to > (int64_t)ncp) to = (int64_t)ncp;
    int count = !strcmp(name, "count"), rev = name[0] == 'r';
    int64_t found = -1, hits = 0;
    if (from <= to) {
        size_t bf = u8_offset(s->data, s->len, (size_t)from), bt = u8_offset(s->data, s->len, (size_t)to);
        if (count && sub->len == 0) hits = to - from + 1;
        else if (count) {
            size_t p = bf;
            while (p + sub->len <= bt) {
                const char *h = memmem(s->data + p, bt - p, sub->data, sub->len);
                if (!h) break;
                hits++;
                p = (size_t)(h - s->data) + sub->len;
            }
        } else if (!rev) {
            const char *h = sub->len ? memmem(s->data + bf, bt - bf, sub->data, sub->len) : s->data + bf;
            if (h) found = (int64_t)u8_count(s->data, (size_t)(h - s->data));
        } else {
            for (size_t p = bt >= sub->len ? bt - sub->len + 1 : 0; p > bf; p--)
                if (memcmp(s->data + p - 1, sub->data, sub->len) == 0) {
                    found = (int64_t)u8_count(s->data, p - 1);
                    break;
                }
            if (found < 0 && bt - bf >= sub->len && memcmp(s->data + bf, sub->data, sub->len) == 0 && sub->len == 0)
                found = to;
        }
    }
    if (count) *out = jv_int(hits);
    else if (found < 0 && (!strcmp(name, "index") || !strcmp(name, "rindex")))
        return rt_fail(in, "ValueError: substring not found");
    else *out = jv_int(found);
    return 0;
}

static int char_class_method(jv_str *s, const char *name, jv *out) {
    int ok = s->len > 0;
    size_t i = 0;
    while (i < s->len && ok) {
        uint32_t c;
        i += u8_decode(s->data, s->len, i, &c);
        if (!strcmp(name, "isdigit") || !strcmp(name, "isdecimal") || !strcmp(name, "isnumeric")) ok = py_isdigit(c);
        else if (!strcmp(name, "isalpha")) ok = py_isalpha(c);
        else if (!strcmp(name, "isalnum")) ok = py_isalnum(c);
        else if (!strcmp(name, "isspace")) ok = py_isspace(c);
        else if (!strcmp(name, "isascii")) ok = c < 128;
    }
    if (!strcmp(name, "isascii") && s->len == 0) ok = 1;
    *out = jv_bool(ok);
    return 0;
}

static int pad_method(interp *in, jv_str *s, const char *name, const args *a, jv *out) {
    BIND(in, name, a, "width", "fillchar");
    int64_t width;
    if (arg_int(in, sl[0], 0, name, &width) < 0) return -1;
    const char *fill = " ";
    size_t fill_len = 1;
    if (sl[1]) {
        jv_str *f = arg_str(in, sl[1], "fillchar");
        if (!f) return -1;
        if (jv_str_ncp(f) != 1) return rt_fail(in, "TypeError: The fill character must be exactly one character long");
        fill = f->data;
        fill_len = f->len;
    }
    int64_t n = (int64_t)jv_str_ncp(s), pad = width > n ? width - n : 0;
    if (pad > 1000000) return rt_fail(in, "MemoryError: padding too large");
    int64_t left = !strcmp(name, "rjust") ? pad : !strcmp(name, "center") ? pad / 2 + (pad & width & 1) : 0;
    mlcc_strbuf sb = STRBUF_INIT;
    for (int64_t i = 0; i < left; i++) sb_append_n(&sb, fill, fill_len);
    sb_append_n(&sb, s->data, s->len);
    for (int64_t i = left; i < pad; i++) sb_append_n(&sb, fill, fill_len);
    *out = jv_str_take_sb(&sb);
    return 0;
}

static int str_method(interp *in, jv self, const char *name, const args *a, jv *out) {
    jv_str *s = self.u.s;
    if (!strcmp(name, "strip")) return strip_method(in, s, a, 1, 1, out);
    if (!strcmp(name, "lstrip")) return strip_method(in, s, a, 1, 0, out);
    if (!strcmp(name, "rstrip")) return strip_method(in, s, a, 0, 1, out);
    if (!strcmp(name, "split")) return split_method(in, s, a, 0, out);
    if (!strcmp(name, "rsplit")) return split_method(in, s, a, 1, out);
    if (!strcmp(name, "splitlines")) {
        BIND(in, "splitlines", a, "keepends");
        string_splitlines(s->data, s->len, arg_truthy(sl[0], 0), out);
        return 0;
    }
    if (!strcmp(name, "startswith")) return affix_method(in, s, a, 0, out);
    if (!strcmp(name, "endswith")) return affix_method(in, s, a, 1, out);
    if (!strcmp(name, "replace")) return string_replace(in, s, a, out);
    if (!strcmp(name, "format")) return py_str_format(in, s, a, out);
    if (!strcmp(name, "upper") || !strcmp(name, "lower") || !strcmp(name, "title") || !strcmp(name, "capitalize") ||
        !strcmp(name, "swapcase") || !strcmp(name, "casefold")) {
        py_case_op op = !strcmp(name, "upper") ? CASE_UPPER : !strcmp(name, "title") ? CASE_TITLE
                      : !strcmp(name, "capitalize") ? CASE_CAPITALIZE : !strcmp(name, "swapcase") ? CASE_SWAP
                                                                                                  : CASE_LOWER;
        mlcc_strbuf sb = STRBUF_INIT;
        py_case(&sb, s->data, s->len, op);
        *out = jv_str_take_sb(&sb);
        return 0;
    }
    if (!strcmp(name, "join")) {
        BIND(in, "join", a, "iterable");
        if (!sl[0]) return rt_fail(in, "TypeError: join() takes exactly one argument");
        jv l;
        if (iterate_value(in, *sl[0], &l) < 0) return -1;
        if (s->len && l.u.l->n > 1 && l.u.l->n - 1 > in->max_size / s->len) {
            jv_release(l);
            return rt_fail(in, "MemoryError: join result exceeds the render's limit (%zu bytes)", in->max_size);
        }
        mlcc_strbuf sb = STRBUF_INIT;
        for (size_t i = 0; i < l.u.l->n; i++) {
            jv item = l.u.l->items[i];
            if (item.kind != JV_STR) {
                sb_free(&sb);
                jv_release(l);
                return rt_fail(in, "TypeError: sequence item %zu: expected str instance, %s found", i, jv_type_name(item));
            }
            if (i) sb_append_n(&sb, s->data, s->len);
            sb_append_n(&sb, item.u.s->data, item.u.s->len);
        }
        jv_release(l);
        *out = jv_str_take_sb(&sb);
        return 0;
    }
    if (!strcmp(name, "find") || !strcmp(name, "rfind") || !strcmp(name, "index") || !strcmp(name, "rindex") ||
        !strcmp(name, "count"))
        return search_method(in, s, name, a, out);
    if (!strncmp(name, "is", 2) && strcmp(name, "islower") && strcmp(name, "isupper") && strcmp(name, "istitle") &&
        strcmp(name, "isidentifier") && strcmp(name, "isprintable"))
        return char_class_method(s, name, out);
    if (!strcmp(name, "islower") || !strcmp(name, "isupper")) {
        int r;
        args none = {0};
        jv self_copy = self;
        if (apply_test(in, name + 2, self_copy, &none, &r) < 0) return -1;
        *out = jv_bool(r);
        return 0;
    }
    if (!strcmp(name, "center") || !strcmp(name, "ljust") || !strcmp(name, "rjust")) return pad_method(in, s, name, a, out);
    if (!strcmp(name, "zfill")) {
        BIND(in, "zfill", a, "width");
        int64_t width;
        if (arg_int(in, sl[0], 0, "zfill", &width) < 0) return -1;
        int64_t n = (int64_t)jv_str_ncp(s), pad = width > n ? width - n : 0;
        if (pad > 1000000) return rt_fail(in, "MemoryError: padding too large");
        mlcc_strbuf sb = STRBUF_INIT;
        size_t i = 0;
        if (s->len && (s->data[0] == '+' || s->data[0] == '-')) sb_append_char(&sb, s->data[i++]);
        for (int64_t k = 0; k < pad; k++) sb_append_char(&sb, '0');
        sb_append_n(&sb, s->data + i, s->len - i);
        *out = jv_str_take_sb(&sb);
        return 0;
    }
    if (!strcmp(name, "partition") || !strcmp(name, "rpartition")) {
        BIND(in, name, a, "sep");
        jv_str *sep = arg_str(in, sl[0], name);
        if (!sep) return -1;
        if (!sep->len) return rt_fail(in, "ValueError: empty separator");
        jv l;
        string_split(s, sep->data, sep->len, 1, name[0] == 'r', &l);
        jv t = jv_tuple_new(3);
        if (l.u.l->n == 2) {
            jv_list_push(t, jv_retain(l.u.l->items[0]));
            jv_list_push(t, jv_str_n(sep->data, sep->len));
            jv_list_push(t, jv_retain(l.u.l->items[1]));
        } else if (name[0] == 'r') {
            jv_list_push(t, jv_cstr(""));
            jv_list_push(t, jv_cstr(""));
            jv_list_push(t, jv_retain(self));
        } else {
            jv_list_push(t, jv_retain(self));
            jv_list_push(t, jv_cstr(""));
            jv_list_push(t, jv_cstr(""));
        }
        jv_release(l);
        *out = t;
        return 0;
    }
    if (!strcmp(name, "removeprefix") || !strcmp(name, "removesuffix")) {
        BIND(in, name, a, "affix");
        jv_str *x = arg_str(in, sl[0], name);
        if (!x) return -1;
        int pre = name[6] == 'p';
        if (x->len <= s->len && !memcmp(pre ? s->data : s->data + s->len - x->len, x->data, x->len))
            *out = pre ? jv_str_n(s->data + x->len, s->len - x->len) : jv_str_n(s->data, s->len - x->len);
        else *out = jv_retain(self);
        return 0;
    }
    return rt_fail(in, "TypeError: str.%s is not supported in templates", name);
}

static int dict_method(interp *in, jv self, const char *name, const args *a, jv *out) {
    jv_dict *d = self.u.d;
    if (!strcmp(name, "items") || !strcmp(name, "keys") || !strcmp(name, "values")) {
        if (a->npos || a->nkw) return rt_fail(in, "TypeError: dict.%s() takes no arguments", name);
        jv l = jv_list_new(d->n);
        for (size_t i = 0; i < d->n; i++) {
            if (name[0] == 'k') jv_list_push(l, jv_retain(d->keys[i]));
            else if (name[0] == 'v') jv_list_push(l, jv_retain(d->vals[i]));
            else {
                jv t = jv_tuple_new(2);
                jv_list_push(t, jv_retain(d->keys[i]));
                jv_list_push(t, jv_retain(d->vals[i]));
                jv_list_push(l, t);
            }
        }
        l.u.l->view = name[0] == 'k' ? "dict_keys" : name[0] == 'v' ? "dict_values" : "dict_items";
        *out = l;
        return 0;
    }
    if (!strcmp(name, "get")) {
        if (a->nkw) return rt_fail(in, "TypeError: dict.get() takes no keyword arguments");
        if (a->npos < 1 || a->npos > 2) return rt_fail(in, "TypeError: get expected 1 or 2 arguments");
        jv *v = jv_dict_get(d, a->pos[0]);
        *out = v ? jv_retain(*v) : a->npos > 1 ? jv_retain(a->pos[1]) : jv_none();
        return 0;
    }
    if (!strcmp(name, "copy")) {
        jv c = jv_dict_new();
        for (size_t i = 0; i < d->n; i++) jv_dict_set(c.u.d, jv_retain(d->keys[i]), jv_retain(d->vals[i]));
        *out = c;
        return 0;
    }
    return rt_fail(in, "TypeError: dict.%s is not supported in templates", name);
}

static int list_method(interp *in, jv self, const char *name, const args *a, jv *out) {
    jv_list *l = self.u.l;
    if (!strcmp(name, "count") || !strcmp(name, "index")) {
        if (a->npos < 1) return rt_fail(in, "TypeError: %s expected an argument", name);
        int64_t hits = 0, first = -1;
        for (size_t i = 0; i < l->n; i++)
            if (jv_equal(l->items[i], a->pos[0])) {
                if (first < 0) first = (int64_t)i;
                hits++;
            }
        if (name[0] == 'c') *out = jv_int(hits);
        else if (first < 0) return rt_fail(in, "ValueError: value is not in list");
        else *out = jv_int(first);
        return 0;
    }
    if (!strcmp(name, "copy")) {
        jv c = jv_list_new(l->n);
        for (size_t i = 0; i < l->n; i++) jv_list_push(c, jv_retain(l->items[i]));
        *out = c;
        return 0;
    }
    if (!strcmp(name, "pop")) {
        /* mutates the list in place, visible through every reference, as in Python */
        if (a->nkw || a->npos > 1) return rt_fail(in, "TypeError: pop expected at most 1 argument");
        if (l->n == 0) return rt_fail(in, "IndexError: pop from empty list");
        int64_t i = (int64_t)l->n - 1;
        if (a->npos) {
            if (!jv_is_intlike(a->pos[0]))
                return rt_fail(in, "TypeError: '%s' object cannot be interpreted as an integer", jv_type_name(a->pos[0]));
            i = a->pos[0].u.i < 0 ? a->pos[0].u.i + (int64_t)l->n : a->pos[0].u.i;
            if (i < 0 || i >= (int64_t)l->n) return rt_fail(in, "IndexError: pop index out of range");
        }
        *out = l->items[i];
        memmove(l->items + i, l->items + i + 1, (l->n - (size_t)i - 1) * sizeof(jv));
        l->n--;
        return 0;
    }
    if (!strcmp(name, "clear")) {
        if (a->npos || a->nkw) return rt_fail(in, "TypeError: list.clear() takes no arguments");
        for (size_t i = 0; i < l->n; i++) jv_release(l->items[i]);
        l->n = 0;
        *out = jv_none();
        return 0;
    }
    return rt_fail(in, "TypeError: list.%s is not supported in templates", name);
}

int call_method(interp *in, jv self, const char *name, const args *a, jv *out) {
    switch (self.kind) {
    case JV_STR: return str_method(in, self, name, a, out);
    case JV_DICT: return dict_method(in, self, name, a, out);
    case JV_LIST: return list_method(in, self, name, a, out);
    default: return rt_fail(in, "TypeError: '%s' object has no method '%s'", jv_type_name(self), name);
    }
}
