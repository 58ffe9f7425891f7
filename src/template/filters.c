/* filters.c - Jinja2's builtin filters (jinja2/filters.py) with their exact Python semantics,
 * plus transformers' tojson. Each takes the filtered value (borrowed) and the call arguments. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "support/alloc.h"
#include "template/builtins.h"
#include "template/ustr.h"

int arg_int(interp *in, const jv *slot, int64_t dflt, const char *what, int64_t *out) {
    if (!slot) {
        *out = dflt;
        return 0;
    }
    if (jv_is_intlike(*slot)) {
        *out = slot->u.i;
        return 0;
    }
    return rt_fail(in, "TypeError: %s: expected an integer, got %s", what, jv_type_name(*slot));
}

jv_str *arg_str(interp *in, const jv *slot, const char *what) {
    if (slot && slot->kind == JV_STR) return slot->u.s;
    rt_fail(in, "TypeError: %s: expected a string, got %s", what, slot ? jv_type_name(*slot) : "nothing");
    return NULL;
}

jv ignore_case(jv v) {
    if (v.kind != JV_STR) return jv_retain(v);
    mlcc_strbuf sb = STRBUF_INIT;
    py_case(&sb, v.u.s->data, v.u.s->len, CASE_LOWER);
    return jv_str_take_sb(&sb);
}

/* Stable merge sort of an index permutation by keys[]; *bad is set when two keys do not compare
 * (Python's sorted() raises TypeError then). */
static void merge_sort(size_t *idx, size_t *tmp, size_t n, const jv *keys, int reverse, int *bad) {
    if (n < 2) return;
    size_t h = n / 2;
    merge_sort(idx, tmp, h, keys, reverse, bad);
    merge_sort(idx + h, tmp, n - h, keys, reverse, bad);
    size_t i = 0, j = h, k = 0;
    while (i < h && j < n) {
        int c = jv_compare(keys[idx[j]], keys[idx[i]]);
        if (c == 2) {
            *bad = 1;
            c = 0;
        }
        /* take from the right only when strictly before (stability; reverse keeps it too) */
        if (reverse ? c > 0 : c < 0) tmp[k++] = idx[j++];
        else tmp[k++] = idx[i++];
    }
    while (i < h) tmp[k++] = idx[i++];
    while (j < n) tmp[k++] = idx[j++];
    memcpy(idx, tmp, n * sizeof(size_t));
}

int sort_index(interp *in, const jv *keys, size_t n, int reverse, size_t *idx) {
    for (size_t i = 0; i < n; i++) idx[i] = i;
    size_t *tmp = mlcc_xmalloc((n ? n : 1) * sizeof(size_t));
    int bad = 0;
    merge_sort(idx, tmp, n, keys, reverse, &bad);
    free(tmp);
    if (bad) return rt_fail(in, "TypeError: '<' not supported between the values being sorted");
    return rt_tick(in, n);
}

int sort_by_keys(interp *in, jv *items, jv *keys, size_t n, int reverse) {
    size_t *idx = mlcc_xmalloc((n ? n : 1) * sizeof(size_t));
    if (sort_index(in, keys, n, reverse, idx) < 0) {
        free(idx);
        return -1;
    }
    jv *tmp = mlcc_xmalloc((n ? n : 1) * sizeof(jv));
    for (size_t i = 0; i < n; i++) tmp[i] = items[idx[i]];
    if (n) memcpy(items, tmp, n * sizeof(jv));
    free(tmp);
    free(idx);
    return 0;
}

int attr_path(interp *in, jv item, jv_str *path, jv *out) {
    jv cur = jv_retain(item);
    const char *p = path->data, *end = p + path->len;
    while (p <= end) {
        const char *dot = memchr(p, '.', (size_t)(end - p));
        if (!dot) dot = end;
        size_t n = (size_t)(dot - p);
        int digits = n > 0;
        for (size_t i = 0; i < n; i++)
            if (p[i] < '0' || p[i] > '9') digits = 0;
        jv key = digits ? jv_int(strtoll(p, NULL, 10)) : jv_str_n(p, n);
        jv next;
        int rc = get_item(in, cur, key, &next);
        jv_release(key);
        jv_release(cur);
        if (rc < 0) return -1;
        cur = next;
        p = dot + 1;
        if (dot == end) break;
    }
    *out = cur;
    return 0;
}

/* Marks a result as what Jinja returns lazily (a generator); see jv_list.iter. */
static jv lazy(jv list, const char *type) {
    list.u.l->iter = type;
    return list;
}

/* A generator made by the Jinja function `name` (its repr names it). */
static jv generator(jv list, const char *name) {
    list.u.l->iter = "generator";
    list.u.l->iter_name = name;
    return list;
}

/* ---- string filters ---- */

static int f_upper(interp *in, jv v, const args *a, jv *out) {
    (void)in;
    (void)a;
    jv s = jv_to_str(v);
    mlcc_strbuf sb = STRBUF_INIT;
    py_case(&sb, s.u.s->data, s.u.s->len, CASE_UPPER);
    jv_release(s);
    *out = jv_str_take_sb(&sb);
    return 0;
}

static int f_lower(interp *in, jv v, const args *a, jv *out) {
    (void)in;
    (void)a;
    jv s = jv_to_str(v);
    mlcc_strbuf sb = STRBUF_INIT;
    py_case(&sb, s.u.s->data, s.u.s->len, CASE_LOWER);
    jv_release(s);
    *out = jv_str_take_sb(&sb);
    return 0;
}

static int f_capitalize(interp *in, jv v, const args *a, jv *out) {
    (void)in;
    (void)a;
    jv s = jv_to_str(v);
    mlcc_strbuf sb = STRBUF_INIT;
    py_case(&sb, s.u.s->data, s.u.s->len, CASE_CAPITALIZE);
    jv_release(s);
    *out = jv_str_take_sb(&sb);
    return 0;
}

/* Jinja's title: re.split(r"([-\s({\[<]+)") keeping the separators; every piece gets
 * piece[0].upper() + piece[1:].lower(). */
static int f_title(interp *in, jv v, const args *a, jv *out) {
    (void)in;
    (void)a;
    jv s = jv_to_str(v);
    const char *d = s.u.s->data;
    size_t len = s.u.s->len, i = 0;
    mlcc_strbuf sb = STRBUF_INIT;
    int prev_sep = -1;
    while (i < len) {
        uint32_t c;
        size_t n = u8_decode(d, len, i, &c);
        int sep = py_isspace(c) || c == '-' || c == '(' || c == '{' || c == '[' || c == '<';
        py_case(&sb, d + i, n, sep != prev_sep ? CASE_UPPER : CASE_LOWER);
        prev_sep = sep;
        i += n;
    }
    jv_release(s);
    *out = jv_str_take_sb(&sb);
    return 0;
}

static int f_trim(interp *in, jv v, const args *a, jv *out) {
    BIND(in, "trim", a, "chars");
    jv s = jv_to_str(v);
    const char *chars = NULL;
    size_t nchars = 0;
    if (sl[0] && sl[0]->kind == JV_STR) {
        chars = sl[0]->u.s->data;
        nchars = sl[0]->u.s->len;
    } else if (sl[0] && sl[0]->kind != JV_NONE) {
        jv_release(s);
        return rt_fail(in, "TypeError: strip arg must be None or str");
    }
    size_t b, e;
    py_strip(s.u.s->data, s.u.s->len, chars, nchars, 1, 1, &b, &e);
    *out = jv_str_n(s.u.s->data + b, e - b);
    jv_release(s);
    return 0;
}

static int f_string(interp *in, jv v, const args *a, jv *out) {
    (void)in;
    (void)a;
    *out = jv_to_str(v);
    return 0;
}

static int f_safe(interp *in, jv v, const args *a, jv *out) {
    (void)in;
    (void)a;
    if (v.kind == JV_STR && v.u.s->markup) {
        *out = jv_retain(v);
        return 0;
    }
    jv s = jv_to_str(v);
    *out = jv_str_n(s.u.s->data, s.u.s->len);
    out->u.s->markup = 1;
    jv_release(s);
    return 0;
}

void html_escape(mlcc_strbuf *sb, const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        switch (c) {
        case '&': sb_append(sb, "&amp;"); break;
        case '<': sb_append(sb, "&lt;"); break;
        case '>': sb_append(sb, "&gt;"); break;
        case '"': sb_append(sb, "&#34;"); break;
        case '\'': sb_append(sb, "&#39;"); break;
        default: sb_append_char(sb, c);
        }
    }
}

static int escape_impl(jv v, jv *out, int force) {
    if (!force && v.kind == JV_STR && v.u.s->markup) {
        *out = jv_retain(v);
        return 0;
    }
    jv s = jv_to_str(v);
    mlcc_strbuf sb = STRBUF_INIT;
    html_escape(&sb, s.u.s->data, s.u.s->len);
    jv_release(s);
    *out = jv_str_take_sb(&sb);
    out->u.s->markup = 1;
    return 0;
}

static int f_escape(interp *in, jv v, const args *a, jv *out) {
    (void)in;
    (void)a;
    return escape_impl(v, out, 0);
}

static int f_forceescape(interp *in, jv v, const args *a, jv *out) {
    (void)in;
    (void)a;
    return escape_impl(v, out, 1);
}

static void replace_into(mlcc_strbuf *sb, jv_str *s, jv_str *old, jv_str *new, int64_t count) {
    if (old->len == 0) {
        /* Python inserts `new` before every character and at the end */
        size_t i = 0;
        int64_t done = 0;
        while (i <= s->len) {
            if (count < 0 || done < count) {
                sb_append_n(sb, new->data, new->len);
                done++;
            }
            if (i == s->len) break;
            uint32_t cp;
            size_t n = u8_decode(s->data, s->len, i, &cp);
            sb_append_n(sb, s->data + i, n);
            i += n;
        }
        return;
    }
    size_t i = 0;
    int64_t done = 0;
    while (i < s->len) {
        const char *hit = (count < 0 || done < count) ? memmem(s->data + i, s->len - i, old->data, old->len) : NULL;
        if (!hit) break;
        size_t at = (size_t)(hit - s->data);
        sb_append_n(sb, s->data + i, at - i);
        sb_append_n(sb, new->data, new->len);
        i = at + old->len;
        done++;
    }
    sb_append_n(sb, s->data + i, s->len - i);
}

/* Occurrences of old in s (for the empty string: one per character, plus one). */
static size_t count_occurrences(jv_str *s, jv_str *old) {
    if (old->len == 0) return jv_str_ncp(s) + 1;
    size_t n = 0, i = 0;
    const char *hit;
    while (i < s->len && (hit = memmem(s->data + i, s->len - i, old->data, old->len))) {
        n++;
        i = (size_t)(hit - s->data) + old->len;
    }
    return n;
}

int string_replace(interp *in, jv_str *s, const args *a, jv *out) {
    BIND(in, "replace", a, "old", "new", "count");
    jv_str *old = arg_str(in, sl[0], "replace() argument 1"), *new = old ? arg_str(in, sl[1], "replace() argument 2") : NULL;
    if (!old || !new) return -1;
    int64_t count = -1;
    if (sl[2] && sl[2]->kind != JV_NONE && arg_int(in, sl[2], -1, "replace() count", &count) < 0) return -1;
    if (new->len > old->len) {
        size_t hits = count_occurrences(s, old);
        if (count >= 0 && (uint64_t)count < hits) hits = (size_t)count;
        if (hits && (new->len - old->len) > (in->max_size - (s->len < in->max_size ? s->len : in->max_size)) / hits)
            return rt_fail(in, "MemoryError: replace() result exceeds the render's limit (%zu bytes)", in->max_size);
    }
    mlcc_strbuf sb = STRBUF_INIT;
    replace_into(&sb, s, old, new, count);
    *out = jv_str_take_sb(&sb);
    return 0;
}

static int f_replace(interp *in, jv v, const args *a, jv *out) {
    jv s = jv_to_str(v);
    int rc = string_replace(in, s.u.s, a, out);
    jv_release(s);
    return rc;
}

static int f_indent(interp *in, jv v, const args *a, jv *out) {
    BIND(in, "indent", a, "width", "first", "blank");
    mlcc_strbuf ind = STRBUF_INIT;
    if (sl[0] && sl[0]->kind == JV_STR) sb_append_n(&ind, sl[0]->u.s->data, sl[0]->u.s->len);
    else {
        int64_t w;
        if (arg_int(in, sl[0], 4, "indent width", &w) < 0) return -1;
        for (int64_t i = 0; i < w && i < 10000; i++) sb_append_char(&ind, ' ');
    }
    int first = arg_truthy(sl[1], 0), blank = arg_truthy(sl[2], 0);
    if (v.kind != JV_STR) {
        /* Jinja appends "\n" to the value itself */
        sb_free(&ind);
        if (v.kind == JV_UNDEF) return rt_undefined(in, v);
        return rt_fail(in, "TypeError: unsupported operand type(s) for +=: '%s' and 'str'", jv_type_name(v));
    }
    jv s = jv_to_str(v);
    mlcc_strbuf src = STRBUF_INIT;
    sb_append_n(&src, s.u.s->data, s.u.s->len);
    sb_append_char(&src, '\n');
    jv_release(s);
    jv lines;
    string_splitlines(src.data, src.len, 0, &lines);
    sb_free(&src);
    if (ind.len && lines.u.l->n > (in->max_size - (size_t)0) / ind.len) {
        jv_release(lines);
        sb_free(&ind);
        return rt_fail(in, "MemoryError: indent result exceeds the render's limit (%zu bytes)", in->max_size);
    }
    mlcc_strbuf sb = STRBUF_INIT;
    jv_list *l = lines.u.l;
    for (size_t i = 0; i < l->n; i++) {
        jv_str *line = l->items[i].u.s;
        if (i > 0) {
            sb_append_char(&sb, '\n');
            if (blank || line->len) sb_append_n(&sb, ind.data ? ind.data : "", ind.len);
        }
        sb_append_n(&sb, line->data, line->len);
    }
    jv_release(lines);
    if (first) {
        mlcc_strbuf r = STRBUF_INIT;
        sb_append_n(&r, ind.data ? ind.data : "", ind.len);
        sb_append_n(&r, sb.data ? sb.data : "", sb.len);
        sb_free(&sb);
        sb = r;
    }
    sb_free(&ind);
    *out = jv_str_take_sb(&sb);
    return 0;
}

static int f_wordcount(interp *in, jv v, const args *a, jv *out) {
    (void)in;
    (void)a;
    jv s = jv_to_str(v);
    int64_t count = 0;
    int inword = 0;
    size_t i = 0;
    while (i < s.u.s->len) {
        uint32_t c;
        i += u8_decode(s.u.s->data, s.u.s->len, i, &c);
        int w = c == '_' || py_isalnum(c);
        if (w && !inword) count++;
        inword = w;
    }
    jv_release(s);
    *out = jv_int(count);
    return 0;
}

static int f_center(interp *in, jv v, const args *a, jv *out) {
    BIND(in, "center", a, "width");
    int64_t width;
    if (arg_int(in, sl[0], 80, "center width", &width) < 0) return -1;
    jv s = jv_to_str(v);
    int64_t n = (int64_t)jv_str_ncp(s.u.s);
    mlcc_strbuf sb = STRBUF_INIT;
    if (width > n && width < 1000000) {
        int64_t marg = width - n, left = marg / 2 + (marg & width & 1);
        for (int64_t i = 0; i < left; i++) sb_append_char(&sb, ' ');
        sb_append_n(&sb, s.u.s->data, s.u.s->len);
        for (int64_t i = 0; i < marg - left; i++) sb_append_char(&sb, ' ');
    } else sb_append_n(&sb, s.u.s->data, s.u.s->len);
    jv_release(s);
    *out = jv_str_take_sb(&sb);
    return 0;
}

int string_percent_format(interp *in, jv fmt, jv argv, jv *out);

static int f_format(interp *in, jv v, const args *a, jv *out) {
    jv s = jv_to_str(v);
    int rc;
    if (a->npos == 1 && a->pos[0].kind == JV_DICT) rc = string_percent_format(in, s, a->pos[0], out);
    else {
        jv t = jv_tuple_new(a->npos);
        for (size_t i = 0; i < a->npos; i++) jv_list_push(t, jv_retain(a->pos[i]));
        rc = string_percent_format(in, s, t, out);
        jv_release(t);
    }
    jv_release(s);
    return rc;
}

/* ---- sequences ---- */

static int f_length(interp *in, jv v, const args *a, jv *out) {
    (void)a;
    switch (v.kind) {
    case JV_STR: *out = jv_int((int64_t)jv_str_ncp(v.u.s)); return 0;
    case JV_LIST:
        if (v.u.l->iter) return rt_fail(in, "TypeError: object of type '%s' has no len()", v.u.l->iter);
        *out = jv_int((int64_t)v.u.l->n);
        return 0;
    case JV_DICT: *out = jv_int((int64_t)v.u.d->n); return 0;
    case JV_UNDEF: *out = jv_int(0); return 0;
    case JV_LOOP: *out = jv_int((int64_t)v.u.loop->items->n); return 0;
    default: return rt_fail(in, "TypeError: object of type '%s' has no len()", jv_type_name(v));
    }
}

static int f_first(interp *in, jv v, const args *a, jv *out) {
    (void)a;
    jv l;
    if (iterate_value(in, v, &l) < 0) return -1;
    *out = l.u.l->n ? jv_retain(l.u.l->items[0]) : jv_undef_hint("No first item, sequence was empty.");
    jv_release(l);
    return 0;
}

static int f_last(interp *in, jv v, const args *a, jv *out) {
    (void)a;
    if (v.kind == JV_LIST && v.u.l->iter) return rt_fail(in, "TypeError: '%s' object is not reversible", v.u.l->iter);
    jv l;
    if (iterate_value(in, v, &l) < 0) return -1;
    *out = l.u.l->n ? jv_retain(l.u.l->items[l.u.l->n - 1]) : jv_undef_hint("No last item, sequence was empty.");
    jv_release(l);
    return 0;
}

static int f_list(interp *in, jv v, const args *a, jv *out) {
    (void)a;
    return iterate_value(in, v, out);
}

static int f_join(interp *in, jv v, const args *a, jv *out) {
    BIND(in, "join", a, "d", "attribute");
    jv l;
    if (iterate_value(in, v, &l) < 0) return -1;
    jv sep = sl[0] ? jv_to_str(*sl[0]) : jv_cstr("");
    if (sep.u.s->len && l.u.l->n > 1 && l.u.l->n - 1 > in->max_size / sep.u.s->len) {
        jv_release(sep);
        jv_release(l);
        return rt_fail(in, "MemoryError: join result exceeds the render's limit (%zu bytes)", in->max_size);
    }
    mlcc_strbuf sb = STRBUF_INIT;
    int rc = 0;
    for (size_t i = 0; i < l.u.l->n; i++) {
        jv item = jv_retain(l.u.l->items[i]);
        if (sl[1] && sl[1]->kind != JV_NONE) {
            jv path = jv_to_str(*sl[1]), got;
            rc = attr_path(in, item, path.u.s, &got);
            jv_release(path);
            jv_release(item);
            if (rc < 0) break;
            item = got;
        }
        if (i) sb_append_n(&sb, sep.u.s->data, sep.u.s->len);
        jv_append_str(&sb, item);
        jv_release(item);
    }
    jv_release(sep);
    jv_release(l);
    if (rc < 0) {
        sb_free(&sb);
        return -1;
    }
    *out = jv_str_take_sb(&sb);
    return 0;
}

static int f_items(interp *in, jv v, const args *a, jv *out) {
    (void)a;
    if (v.kind == JV_UNDEF) {
        *out = generator(jv_list_new(0), "do_items");
        return 0;
    }
    if (v.kind != JV_DICT) return rt_fail(in, "TypeError: Can only get item pairs from a mapping.");
    jv l = jv_list_new(v.u.d->n);
    for (size_t i = 0; i < v.u.d->n; i++) {
        jv t = jv_tuple_new(2);
        jv_list_push(t, jv_retain(v.u.d->keys[i]));
        jv_list_push(t, jv_retain(v.u.d->vals[i]));
        jv_list_push(l, t);
    }
    *out = a ? generator(l, "do_items") : l; /* dictsort calls this with a == NULL for a real list */
    return 0;
}

static int f_dictsort(interp *in, jv v, const args *a, jv *out) {
    BIND(in, "dictsort", a, "case_sensitive", "by", "reverse");
    if (v.kind != JV_DICT) return rt_fail(in, "TypeError: dictsort expects a mapping, got %s", jv_type_name(v));
    int cs = arg_truthy(sl[0], 0), rev = arg_truthy(sl[2], 0), pos = 0;
    if (sl[1]) {
        jv_str *by = arg_str(in, sl[1], "dictsort by");
        if (!by) return -1;
        if (!strcmp(by->data, "value")) pos = 1;
        else if (strcmp(by->data, "key") != 0)
            return rt_fail(in, "FilterArgumentError: You can only sort by either \"key\" or \"value\"");
    }
    jv items;
    f_items(in, v, NULL, &items);
    size_t n = items.u.l->n;
    jv *keys = mlcc_xmalloc((n ? n : 1) * sizeof(jv));
    for (size_t i = 0; i < n; i++) {
        jv k = items.u.l->items[i].u.l->items[pos];
        keys[i] = cs ? jv_retain(k) : ignore_case(k);
    }
    int rc = sort_by_keys(in, items.u.l->items, keys, n, rev);
    for (size_t i = 0; i < n; i++) jv_release(keys[i]);
    free(keys);
    if (rc < 0) {
        jv_release(items);
        return -1;
    }
    *out = items;
    return 0;
}

static int f_reverse(interp *in, jv v, const args *a, jv *out) {
    (void)a;
    if (v.kind == JV_STR) {
        jv l;
        iterate_value(in, v, &l);
        mlcc_strbuf sb = STRBUF_INIT;
        for (size_t i = l.u.l->n; i > 0; i--) sb_append_n(&sb, l.u.l->items[i - 1].u.s->data, l.u.l->items[i - 1].u.s->len);
        jv_release(l);
        *out = jv_str_take_sb(&sb);
        return 0;
    }
    /* reversed(value) where Python has it (a lazy iterator), else list(value) reversed */
    const char *type = NULL;
    if (v.kind == JV_LIST && v.u.l->view) type = "dict_reversekeyiterator";
    else if (v.kind == JV_LIST && !v.u.l->iter) type = v.u.l->is_tuple ? "reversed" : "list_reverseiterator";
    else if (v.kind == JV_DICT) type = "dict_reversekeyiterator";
    else if (v.kind == JV_UNDEF) type = "reversed";
    jv l;
    if (iterate_value(in, v, &l) < 0) return rt_fail(in, "FilterArgumentError: argument must be iterable");
    jv_list *x = l.u.l;
    for (size_t i = 0; i < x->n / 2; i++) {
        jv t = x->items[i];
        x->items[i] = x->items[x->n - 1 - i];
        x->items[x->n - 1 - i] = t;
    }
    *out = type ? lazy(l, type) : l;
    return 0;
}

/* Keys for sort/unique/min/max: attribute lookup, then case folding. */
static int make_keys(interp *in, jv list, const jv *attribute, int case_sensitive, jv **keys_out) {
    size_t n = list.u.l->n;
    jv *keys = mlcc_xmalloc((n ? n : 1) * sizeof(jv));
    for (size_t i = 0; i < n; i++) {
        jv k = jv_retain(list.u.l->items[i]);
        if (attribute && attribute->kind != JV_NONE) {
            jv path = jv_to_str(*attribute), got;
            int rc = attr_path(in, k, path.u.s, &got);
            jv_release(path);
            jv_release(k);
            if (rc < 0) {
                for (size_t j = 0; j < i; j++) jv_release(keys[j]);
                free(keys);
                return -1;
            }
            k = got;
        }
        keys[i] = case_sensitive ? k : ignore_case(k);
        if (!case_sensitive) jv_release(k);
    }
    *keys_out = keys;
    return 0;
}

static void free_keys(jv *keys, size_t n) {
    for (size_t i = 0; i < n; i++) jv_release(keys[i]);
    free(keys);
}

static int f_sort(interp *in, jv v, const args *a, jv *out) {
    BIND(in, "sort", a, "reverse", "case_sensitive", "attribute");
    jv l, *keys;
    if (iterate_value(in, v, &l) < 0) return -1;
    if (make_keys(in, l, sl[2], arg_truthy(sl[1], 0), &keys) < 0) {
        jv_release(l);
        return -1;
    }
    int rc = sort_by_keys(in, l.u.l->items, keys, l.u.l->n, arg_truthy(sl[0], 0));
    free_keys(keys, l.u.l->n);
    if (rc < 0) {
        jv_release(l);
        return -1;
    }
    *out = l;
    return 0;
}

static int f_unique(interp *in, jv v, const args *a, jv *out) {
    BIND(in, "unique", a, "case_sensitive", "attribute");
    jv l, *keys;
    if (iterate_value(in, v, &l) < 0) return -1;
    if (make_keys(in, l, sl[1], arg_truthy(sl[0], 0), &keys) < 0) {
        jv_release(l);
        return -1;
    }
    jv r = jv_list_new(l.u.l->n);
    for (size_t i = 0; i < l.u.l->n; i++) {
        if (rt_tick(in, i) < 0) {
            free_keys(keys, l.u.l->n);
            jv_release(l);
            jv_release(r);
            return -1;
        }
        if (keys[i].kind == JV_LIST && !keys[i].u.l->is_tuple) {
            free_keys(keys, l.u.l->n);
            jv_release(l);
            jv_release(r);
            return rt_fail(in, "TypeError: unhashable type: 'list'");
        }
        int seen = 0;
        for (size_t j = 0; j < i && !seen; j++) seen = jv_equal(keys[j], keys[i]);
        if (!seen) jv_list_push(r, jv_retain(l.u.l->items[i]));
    }
    free_keys(keys, l.u.l->n);
    jv_release(l);
    *out = generator(r, "do_unique");
    return 0;
}

static int min_max(interp *in, jv v, const args *a, jv *out, int want_max) {
    BIND(in, want_max ? "max" : "min", a, "case_sensitive", "attribute");
    jv l, *keys;
    if (iterate_value(in, v, &l) < 0) return -1;
    if (make_keys(in, l, sl[1], arg_truthy(sl[0], 0), &keys) < 0) {
        jv_release(l);
        return -1;
    }
    size_t best = 0;
    for (size_t i = 1; i < l.u.l->n; i++) {
        int c = jv_compare(keys[i], keys[best]);
        if (c == 2) {
            free_keys(keys, l.u.l->n);
            jv_release(l);
            return rt_fail(in, "TypeError: values do not compare");
        }
        if (want_max ? c > 0 : c < 0) best = i;
    }
    *out = l.u.l->n ? jv_retain(l.u.l->items[best])
                    : jv_undef_hint("No aggregated item, sequence was empty.");
    free_keys(keys, l.u.l->n);
    jv_release(l);
    return 0;
}
static int f_min(interp *in, jv v, const args *a, jv *out) { return min_max(in, v, a, out, 0); }
static int f_max(interp *in, jv v, const args *a, jv *out) { return min_max(in, v, a, out, 1); }

static int f_sum(interp *in, jv v, const args *a, jv *out) {
    BIND(in, "sum", a, "attribute", "start");
    jv l;
    if (iterate_value(in, v, &l) < 0) return -1;
    jv acc = sl[1] ? jv_retain(*sl[1]) : jv_int(0);
    for (size_t i = 0; i < l.u.l->n; i++) {
        jv item = jv_retain(l.u.l->items[i]), next;
        if (sl[0] && sl[0]->kind != JV_NONE) {
            jv path = jv_to_str(*sl[0]), got;
            int rc = attr_path(in, item, path.u.s, &got);
            jv_release(path);
            jv_release(item);
            if (rc < 0) goto fail;
            item = got;
        }
        if (!jv_is_num(acc) || !jv_is_num(item)) {
            rt_fail(in, "TypeError: unsupported operand type(s) for +: '%s' and '%s'", jv_type_name(acc),
                    jv_type_name(item));
            jv_release(item);
            goto fail;
        }
        int64_t sum;
        if (jv_is_intlike(acc) && jv_is_intlike(item)) {
            if (__builtin_add_overflow(acc.u.i, item.u.i, &sum)) {
                rt_fail(in, "OverflowError: integer overflow");
                jv_release(item);
                goto fail;
            }
            next = jv_int(sum);
        } else next = jv_float(jv_num(acc) + jv_num(item));
        jv_release(item);
        jv_release(acc);
        acc = next;
    }
    jv_release(l);
    *out = acc;
    return 0;
fail:
    jv_release(acc);
    jv_release(l);
    return -1;
}

static int f_batch(interp *in, jv v, const args *a, jv *out) {
    BIND(in, "batch", a, "linecount", "fill_with");
    int64_t n;
    if (arg_int(in, sl[0], 1, "batch linecount", &n) < 0) return -1;
    if (n <= 0) return rt_fail(in, "ValueError: batch size must be positive");
    if ((uint64_t)n > in->max_size) return rt_fail(in, "MemoryError: batch size exceeds the render's limit");
    jv l;
    if (iterate_value(in, v, &l) < 0) return -1;
    jv r = jv_list_new(0), cur = jv_list_new(0);
    for (size_t i = 0; i < l.u.l->n; i++) {
        if ((int64_t)cur.u.l->n == n) {
            jv_list_push(r, cur);
            cur = jv_list_new(0);
        }
        jv_list_push(cur, jv_retain(l.u.l->items[i]));
    }
    if (cur.u.l->n) {
        if (sl[1] && sl[1]->kind != JV_NONE)
            while ((int64_t)cur.u.l->n < n) jv_list_push(cur, jv_retain(*sl[1]));
        jv_list_push(r, cur);
    } else jv_release(cur);
    jv_release(l);
    *out = generator(r, "do_batch");
    return 0;
}

/* ---- select / reject / map ---- */

/* Runs a test by name on item with extra args pos[from..]. */
static int run_test(interp *in, jv item, const args *a, size_t from, int *result) {
    if (a->npos <= from) {
        *result = jv_truthy(item);
        return 0;
    }
    jv_str *name = arg_str(in, &a->pos[from], "test name");
    if (!name) return -1;
    args rest = {a->pos + from + 1, a->npos - from - 1, a->kwnames, a->kw, a->nkw};
    return apply_test(in, name->data, item, &rest, result);
}

static int select_impl(interp *in, jv v, const args *a, jv *out, int by_attr, int keep) {
    jv l;
    if (!jv_truthy(v)) { /* Jinja iterates only `if value` */
        *out = generator(jv_list_new(0), "select_or_reject");
        return 0;
    }
    if (by_attr && a->npos == 0) return rt_fail(in, "TypeError: Missing parameter for attribute name");
    if (iterate_value(in, v, &l) < 0) return -1;
    jv r = jv_list_new(l.u.l->n);
    for (size_t i = 0; i < l.u.l->n; i++) {
        jv item = jv_retain(l.u.l->items[i]);
        if (by_attr) {
            jv path = jv_to_str(a->pos[0]), got;
            int rc = attr_path(in, item, path.u.s, &got);
            jv_release(path);
            jv_release(item);
            if (rc < 0) goto fail;
            item = got;
        }
        int t;
        int rc = run_test(in, item, a, by_attr ? 1 : 0, &t);
        jv_release(item);
        if (rc < 0) goto fail;
        if (t == keep) jv_list_push(r, jv_retain(l.u.l->items[i]));
    }
    jv_release(l);
    *out = generator(r, "select_or_reject");
    return 0;
fail:
    jv_release(l);
    jv_release(r);
    return -1;
}

static int f_select(interp *in, jv v, const args *a, jv *out) { return select_impl(in, v, a, out, 0, 1); }
static int f_reject(interp *in, jv v, const args *a, jv *out) { return select_impl(in, v, a, out, 0, 0); }
static int f_selectattr(interp *in, jv v, const args *a, jv *out) { return select_impl(in, v, a, out, 1, 1); }
static int f_rejectattr(interp *in, jv v, const args *a, jv *out) { return select_impl(in, v, a, out, 1, 0); }

static int f_map(interp *in, jv v, const args *a, jv *out) {
    const jv *attribute = NULL, *dflt = NULL;
    for (size_t k = 0; k < a->nkw; k++) {
        if (!strcmp(a->kwnames[k], "attribute")) attribute = &a->kw[k];
        else if (!strcmp(a->kwnames[k], "default")) dflt = &a->kw[k];
    }
    jv l;
    if (!jv_truthy(v)) { /* Jinja iterates only `if value` */
        *out = generator(jv_list_new(0), "sync_do_map");
        return 0;
    }
    if (!attribute && a->npos == 0) return rt_fail(in, "FilterArgumentError: map requires a filter argument");
    if (iterate_value(in, v, &l) < 0) return -1;
    jv r = jv_list_new(l.u.l->n);
    for (size_t i = 0; i < l.u.l->n; i++) {
        jv item = l.u.l->items[i], got;
        int rc;
        if (attribute) {
            jv path = jv_to_str(*attribute);
            rc = attr_path(in, item, path.u.s, &got);
            jv_release(path);
            if (rc == 0 && got.kind == JV_UNDEF && dflt) {
                jv_release(got);
                got = jv_retain(*dflt);
            }
        } else {
            jv_str *name = arg_str(in, &a->pos[0], "map filter name");
            if (!name) rc = -1;
            else {
                args rest = {a->pos + 1, a->npos - 1, a->kwnames, a->kw, a->nkw};
                rc = apply_filter(in, name->data, item, &rest, &got);
            }
        }
        if (rc < 0) {
            jv_release(l);
            jv_release(r);
            return -1;
        }
        jv_list_push(r, got);
    }
    jv_release(l);
    *out = generator(r, "sync_do_map");
    return 0;
}

static int f_attr(interp *in, jv v, const args *a, jv *out) {
    BIND(in, "attr", a, "name");
    jv_str *name = arg_str(in, sl[0], "attr name");
    if (!name) return -1;
    if (v.kind == JV_DICT && method_kind(v, name->data) == 0) {
        *out = jv_undef_hint("'dict object' has no attribute '%s'", name->data);
        return 0;
    }
    return get_attr(in, v, name->data, name->len, out);
}

/* ---- numbers ---- */

/* int(str, base) as Python parses it: sign, underscores between digits, a 0x/0o/0b prefix
 * matching the base (base 0 picks the base from the prefix). */
static int parse_py_int(const char *s, size_t len, int base, int64_t *out) {
    size_t a, b;
    py_strip(s, len, NULL, 0, 1, 1, &a, &b);
    if (a == b) return -1;
    char buf[80];
    size_t k = 0, i = a;
    if (s[i] == '+' || s[i] == '-') buf[k++] = s[i++];
    if (i == b) return -1;
    if (b - i >= 2 && s[i] == '0') {
        char p = (char)(s[i + 1] | 0x20);
        int pb = p == 'x' ? 16 : p == 'o' ? 8 : p == 'b' ? 2 : 0;
        if (pb && (base == 0 || base == pb)) {
            base = pb;
            i += 2;
            if (i < b && s[i] == '_') i++;
        }
    }
    if (base == 0) {
        base = 10;
        /* base 0 rejects leading zeros ("010") */
        if (b - i > 1 && s[i] == '0') {
            for (size_t j = i; j < b; j++)
                if (s[j] != '0' && s[j] != '_') return -1;
        }
    }
    if (base < 2 || base > 36) return -1;
    char prev = '_';
    size_t start = k;
    for (; i < b; i++) {
        char c = s[i];
        if (c == '_') {
            if (prev == '_') return -1;
        } else {
            int lc = c | 0x20;
            int d = c >= '0' && c <= '9' ? c - '0' : lc >= 'a' && lc <= 'z' ? lc - 'a' + 10 : 99;
            if (d >= base) return -1;
            if (k + 1 >= sizeof buf) return -1;
            buf[k++] = c;
        }
        prev = c;
    }
    if (prev == '_' || k == start) return -1;
    buf[k] = 0;
    errno = 0;
    char *end;
    long long v = strtoll(buf, &end, base);
    if (*end || errno) return -1;
    *out = v;
    return 0;
}

/* float(str) as Python parses it; -1 when it is not a number. */
static int parse_py_float(const char *s, size_t len, double *out) {
    size_t a, b;
    py_strip(s, len, NULL, 0, 1, 1, &a, &b);
    if (a == b || b - a > 300) return -1;
    char buf[320];
    size_t k = 0;
    for (size_t i = a; i < b; i++)
        if (s[i] != '_') buf[k++] = s[i];
    buf[k] = 0;
    const char *p = buf;
    if (*p == '+' || *p == '-') p++;
    if (!strcasecmp(p, "nan") || !strcasecmp(p, "inf") || !strcasecmp(p, "infinity")) {
        *out = strtod(buf, NULL);
        return 0;
    }
    for (const char *q = p; *q; q++)
        if (!((*q >= '0' && *q <= '9') || *q == '.' || *q == 'e' || *q == 'E' || *q == '+' || *q == '-')) return -1;
    char *end;
    *out = strtod(buf, &end);
    return *end ? -1 : 0;
}

static int f_int(interp *in, jv v, const args *a, jv *out) {
    BIND(in, "int", a, "default", "base");
    int64_t base;
    if (arg_int(in, sl[1], 10, "int base", &base) < 0) return -1;
    int64_t i;
    double f;
    if (v.kind == JV_UNDEF) return rt_undefined(in, v); /* Undefined.__int__ fails */
    if (jv_is_intlike(v)) {
        *out = jv_int(v.u.i);
        return 0;
    }
    if (v.kind == JV_FLOAT) {
        if (isnan(v.u.f)) goto dflt;
        if (isinf(v.u.f)) return rt_fail(in, "OverflowError: cannot convert float infinity to integer");
        if (float_to_int64(v.u.f, &i) < 0) return rt_fail(in, "OverflowError: integer too large for mlcc");
        *out = jv_int(i);
        return 0;
    }
    if (v.kind == JV_STR) {
        if (parse_py_int(v.u.s->data, v.u.s->len, (int)base, &i) == 0) {
            *out = jv_int(i);
            return 0;
        }
        if (parse_py_float(v.u.s->data, v.u.s->len, &f) == 0) {
            if (isnan(f)) goto dflt;
            if (isinf(f)) return rt_fail(in, "OverflowError: cannot convert float infinity to integer");
            if (float_to_int64(f, &i) < 0) return rt_fail(in, "OverflowError: integer too large for mlcc");
            *out = jv_int(i);
            return 0;
        }
    }
dflt:
    *out = sl[0] ? jv_retain(*sl[0]) : jv_int(0);
    return 0;
}

static int f_float(interp *in, jv v, const args *a, jv *out) {
    BIND(in, "float", a, "default");
    double f;
    if (v.kind == JV_UNDEF) return rt_undefined(in, v); /* Undefined.__float__ fails */
    if (jv_is_num(v)) {
        *out = jv_float(jv_num(v));
        return 0;
    }
    if (v.kind == JV_STR && parse_py_float(v.u.s->data, v.u.s->len, &f) == 0) {
        *out = jv_float(f);
        return 0;
    }
    *out = sl[0] ? jv_retain(*sl[0]) : jv_float(0.0);
    return 0;
}

static int f_abs(interp *in, jv v, const args *a, jv *out) {
    (void)a;
    if (v.kind == JV_UNDEF) return rt_undefined(in, v);
    if (jv_is_intlike(v) && v.u.i == INT64_MIN) return rt_fail(in, "OverflowError: integer too large for mlcc");
    if (jv_is_intlike(v)) *out = jv_int(v.u.i < 0 ? -v.u.i : v.u.i);
    else if (v.kind == JV_FLOAT) *out = jv_float(fabs(v.u.f));
    else return rt_fail(in, "TypeError: bad operand type for abs(): '%s'", jv_type_name(v));
    return 0;
}

static int f_round(interp *in, jv v, const args *a, jv *out) {
    BIND(in, "round", a, "precision", "method");
    int64_t prec;
    if (arg_int(in, sl[0], 0, "round precision", &prec) < 0) return -1;
    const char *method = "common";
    if (sl[1]) {
        jv_str *m = arg_str(in, sl[1], "round method");
        if (!m) return -1;
        method = m->data;
    }
    if (strcmp(method, "common") && strcmp(method, "ceil") && strcmp(method, "floor"))
        return rt_fail(in, "FilterArgumentError: method must be common, ceil or floor");
    if (!jv_is_num(v)) return rt_fail(in, "TypeError: type %s doesn't define __round__ method", jv_type_name(v));
    if (prec > 300) prec = 300;
    if (prec < -300) prec = -300;
    if (!strcmp(method, "common")) {
        if (jv_is_intlike(v)) {
            if (prec >= 0) {
                *out = jv_int(v.u.i);
                return 0;
            }
            double p = pow(10, (double)-prec), q = (double)v.u.i / p, r = nearbyint(q);
            int64_t rounded;
            if (float_to_int64(r * p, &rounded) < 0) return rt_fail(in, "OverflowError: integer too large for mlcc");
            *out = jv_int(rounded);
            return 0;
        }
        double x = v.u.f;
        if (!isfinite(x)) {
            *out = jv_float(x);
            return 0;
        }
        if (prec >= 0) {
            char buf[400];
            snprintf(buf, sizeof buf, "%.*f", (int)prec, x);
            *out = jv_float(strtod(buf, NULL));
        } else {
            double p = pow(10, (double)-prec);
            *out = jv_float(nearbyint(x / p) * p);
        }
        return 0;
    }
    double p = pow(10, (double)prec), x = jv_num(v) * p;
    *out = jv_float((!strcmp(method, "ceil") ? ceil(x) : floor(x)) / p);
    return 0;
}

/* ---- values ---- */

static int f_default(interp *in, jv v, const args *a, jv *out) {
    BIND(in, "default", a, "default_value", "boolean");
    int use = v.kind == JV_UNDEF || (arg_truthy(sl[1], 0) && !jv_truthy(v));
    if (use) *out = sl[0] ? jv_retain(*sl[0]) : jv_cstr("");
    else *out = jv_retain(v);
    return 0;
}

static int f_tojson(interp *in, jv v, const args *a, jv *out) {
    BIND(in, "tojson", a, "ensure_ascii", "indent", "separators", "sort_keys");
    json_opts o = {0};
    o.ensure_ascii = arg_truthy(sl[0], 0);
    o.sort_keys = arg_truthy(sl[3], 0);
    mlcc_strbuf ind = STRBUF_INIT;
    if (sl[1] && sl[1]->kind != JV_NONE) {
        if (sl[1]->kind == JV_STR) sb_append_n(&ind, sl[1]->u.s->data, sl[1]->u.s->len);
        else if (jv_is_intlike(*sl[1])) {
            for (int64_t i = 0; i < sl[1]->u.i && i < 1000; i++) sb_append_char(&ind, ' ');
        } else return rt_fail(in, "TypeError: tojson indent must be an int or a str");
        o.indent = sb_cstr(&ind);
        o.indent_len = ind.len;
    }
    o.item_sep = o.indent ? "," : ", ";
    o.key_sep = ": ";
    if (sl[2] && sl[2]->kind != JV_NONE) {
        if (sl[2]->kind != JV_LIST || sl[2]->u.l->n != 2 || sl[2]->u.l->items[0].kind != JV_STR ||
            sl[2]->u.l->items[1].kind != JV_STR) {
            sb_free(&ind);
            return rt_fail(in, "ValueError: tojson separators must be a pair of strings");
        }
        o.item_sep = sl[2]->u.l->items[0].u.s->data;
        o.key_sep = sl[2]->u.l->items[1].u.s->data;
        o.item_sep_len = sl[2]->u.l->items[0].u.s->len;
        o.key_sep_len = sl[2]->u.l->items[1].u.s->len;
    } else {
        o.item_sep_len = strlen(o.item_sep);
        o.key_sep_len = strlen(o.key_sep);
    }
    mlcc_strbuf sb = STRBUF_INIT;
    int rc = to_json(in, &sb, v, &o, 0);
    sb_free(&ind);
    if (rc < 0) {
        sb_free(&sb);
        return -1;
    }
    *out = jv_str_take_sb(&sb);
    return 0;
}

static int f_count(interp *in, jv v, const args *a, jv *out) { return f_length(in, v, a, out); }

/* truncate(s, length=255, killwords=False, end='...', leeway=5) */
static int f_truncate(interp *in, jv v, const args *a, jv *out) {
    BIND(in, "truncate", a, "length", "killwords", "end", "leeway");
    int64_t length, leeway;
    if (arg_int(in, sl[0], 255, "truncate length", &length) < 0) return -1;
    if (sl[3] && sl[3]->kind != JV_NONE) {
        if (arg_int(in, sl[3], 5, "truncate leeway", &leeway) < 0) return -1;
    } else leeway = 5;
    jv end = sl[2] ? jv_to_str(*sl[2]) : jv_cstr("...");
    int64_t end_len = (int64_t)jv_str_ncp(end.u.s);
    if (v.kind != JV_STR) {
        jv_release(end);
        if (v.kind == JV_UNDEF) return rt_undefined(in, v);
        return rt_fail(in, "TypeError: object of type '%s' has no len()", jv_type_name(v));
    }
    if (length < end_len || leeway < 0) {
        jv_release(end);
        return rt_fail(in, "AssertionError: expected length >= %lld and leeway >= 0", (long long)end_len);
    }
    int64_t n = (int64_t)jv_str_ncp(v.u.s);
    if (n <= length + leeway) {
        jv_release(end);
        *out = jv_retain(v);
        return 0;
    }
    jv head = str_slice_cp(v.u.s, 0, (size_t)(length - end_len));
    size_t keep = head.u.s->len;
    if (!arg_truthy(sl[1], 0)) {
        /* drop the last (partial) word: rsplit(" ", 1)[0] */
        const char *sp = NULL;
        for (size_t i = head.u.s->len; i > 0; i--)
            if (head.u.s->data[i - 1] == ' ') {
                sp = head.u.s->data + i - 1;
                break;
            }
        if (sp) keep = (size_t)(sp - head.u.s->data);
    }
    mlcc_strbuf sb = STRBUF_INIT;
    sb_append_n(&sb, head.u.s->data, keep);
    sb_append_n(&sb, end.u.s->data, end.u.s->len);
    jv_release(head);
    jv_release(end);
    *out = jv_str_take_sb(&sb);
    return 0;
}

/* slice(value, slices, fill_with=None): `slices` columns, the first ones one longer */
static int f_slice(interp *in, jv v, const args *a, jv *out) {
    BIND(in, "slice", a, "slices", "fill_with");
    int64_t slices;
    if (arg_int(in, sl[0], 1, "slice count", &slices) < 0) return -1;
    if (slices <= 0 || (uint64_t)slices > in->max_size) return rt_fail(in, "ValueError: slice count must be positive");
    jv l;
    if (iterate_value(in, v, &l) < 0) return -1;
    int64_t n = (int64_t)l.u.l->n, per = n / slices, extra = n % slices, offset = 0;
    jv r = jv_list_new((size_t)slices);
    for (int64_t k = 0; k < slices; k++) {
        int64_t start = offset + k * per, end;
        if (k < extra) offset++;
        end = offset + (k + 1) * per;
        jv col = jv_list_new((size_t)(end - start + 1));
        for (int64_t i = start; i < end; i++) jv_list_push(col, jv_retain(l.u.l->items[i]));
        if (sl[1] && sl[1]->kind != JV_NONE && k >= extra) jv_list_push(col, jv_retain(*sl[1]));
        jv_list_push(r, col);
    }
    jv_release(l);
    *out = generator(r, "sync_do_slice");
    return 0;
}

/* groupby(value, attribute, default=None, case_sensitive=False): sorted (grouper, list) pairs */
static int f_groupby(interp *in, jv v, const args *a, jv *out) {
    BIND(in, "groupby", a, "attribute", "default", "case_sensitive");
    if (!sl[0]) return rt_fail(in, "TypeError: groupby() missing required argument 'attribute'");
    int cs = arg_truthy(sl[2], 0);
    jv l;
    if (iterate_value(in, v, &l) < 0) return -1;
    size_t n = l.u.l->n;
    jv *raw = mlcc_xcalloc(n ? n : 1, sizeof(jv)), *keys = mlcc_xcalloc(n ? n : 1, sizeof(jv));
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        jv path = jv_to_str(*sl[0]);
        rc = attr_path(in, l.u.l->items[i], path.u.s, &raw[i]);
        jv_release(path);
        if (rc == 0 && raw[i].kind == JV_UNDEF && sl[1]) {
            jv_release(raw[i]);
            raw[i] = jv_retain(*sl[1]);
        }
        if (rc == 0) keys[i] = cs ? jv_retain(raw[i]) : ignore_case(raw[i]);
    }
    size_t *idx = mlcc_xmalloc((n ? n : 1) * sizeof(size_t));
    if (rc == 0) rc = sort_index(in, keys, n, 0, idx);
    jv r = jv_list_new(0);
    for (size_t i = 0; i < n && rc == 0;) {
        size_t j = i;
        jv group = jv_list_new(0);
        while (j < n && jv_equal(keys[idx[j]], keys[idx[i]])) jv_list_push(group, jv_retain(l.u.l->items[idx[j++]]));
        jv pair = jv_tuple_new(2);
        pair.u.l->is_group = 1;
        /* case-insensitive groups are named after their first member's own value */
        jv_list_push(pair, jv_retain(cs ? keys[idx[i]] : raw[idx[i]]));
        jv_list_push(pair, group);
        jv_list_push(r, pair);
        i = j;
    }
    for (size_t i = 0; i < n; i++) {
        jv_release(raw[i]);
        jv_release(keys[i]);
    }
    free(raw);
    free(keys);
    free(idx);
    jv_release(l);
    if (rc < 0) {
        jv_release(r);
        return -1;
    }
    *out = r;
    return 0;
}

/* urllib.parse.quote of str(v) as UTF-8 ("/" kept unless for a query string, where spaces
 * become "+"), as Jinja's url_quote does it. */
static void url_quote(mlcc_strbuf *sb, jv v, int for_qs) {
    jv s = jv_to_str(v);
    for (size_t i = 0; i < s.u.s->len; i++) {
        unsigned char c = (unsigned char)s.u.s->data[i];
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
            c == '-' || c == '~' || (c == '/' && !for_qs))
            sb_append_char(sb, (char)c);
        else if (c == ' ' && for_qs) sb_append_char(sb, '+');
        else sb_printf(sb, "%%%02X", c);
    }
    jv_release(s);
}

/* urlencode(value): a str is quoted; a dict or a list of pairs becomes k=v&k=v */
static int f_urlencode(interp *in, jv v, const args *a, jv *out) {
    (void)a;
    mlcc_strbuf sb = STRBUF_INIT;
    if (v.kind == JV_DICT || (v.kind == JV_LIST && !v.u.l->iter)) {
        jv items;
        if (v.kind == JV_DICT) {
            items = jv_list_new(v.u.d->n);
            for (size_t i = 0; i < v.u.d->n; i++) {
                jv t = jv_tuple_new(2);
                jv_list_push(t, jv_retain(v.u.d->keys[i]));
                jv_list_push(t, jv_retain(v.u.d->vals[i]));
                jv_list_push(items, t);
            }
        } else items = jv_retain(v);
        for (size_t i = 0; i < items.u.l->n; i++) {
            jv p = items.u.l->items[i];
            if (p.kind != JV_LIST || p.u.l->n != 2) {
                jv_release(items);
                sb_free(&sb);
                return rt_fail(in, "ValueError: urlencode needs a mapping or (key, value) pairs");
            }
            if (i) sb_append_char(&sb, '&');
            url_quote(&sb, p.u.l->items[0], 1);
            sb_append_char(&sb, '=');
            url_quote(&sb, p.u.l->items[1], 1);
        }
        jv_release(items);
    } else url_quote(&sb, v, 0);
    *out = jv_str_take_sb(&sb);
    return 0;
}

/* filesizeformat(value, binary=False) */
static int f_filesizeformat(interp *in, jv v, const args *a, jv *out) {
    BIND(in, "filesizeformat", a, "binary");
    double bytes;
    if (jv_is_num(v)) bytes = jv_num(v);
    else if (v.kind == JV_STR) bytes = strtod(v.u.s->data, NULL);
    else return rt_fail(in, "TypeError: filesizeformat needs a number");
    int binary = arg_truthy(sl[0], 0);
    double base = binary ? 1024 : 1000;
    static const char *const si[] = {"kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"};
    static const char *const bi[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"};
    mlcc_strbuf sb = STRBUF_INIT;
    if (bytes == 1) sb_append(&sb, "1 Byte");
    else if (bytes < base) sb_printf(&sb, "%.0f Bytes", trunc(bytes)); /* "%d" % float truncates */
    else {
        int i = 0;
        double unit = base * base;
        while (i < 7 && bytes >= unit) {
            unit *= base;
            i++;
        }
        sb_printf(&sb, "%.1f %s", base * bytes / unit, binary ? bi[i] : si[i]);
    }
    *out = jv_str_take_sb(&sb);
    return 0;
}

typedef int (*filter_fn)(interp *, jv, const args *, jv *);
static const struct {
    const char *name;
    filter_fn fn;
} filters[] = {
    {"abs", f_abs},
    {"attr", f_attr},
    {"batch", f_batch},
    {"capitalize", f_capitalize},
    {"center", f_center},
    {"count", f_count},
    {"d", f_default},
    {"default", f_default},
    {"dictsort", f_dictsort},
    {"e", f_escape},
    {"escape", f_escape},
    {"filesizeformat", f_filesizeformat},
    {"first", f_first},
    {"float", f_float},
    {"forceescape", f_forceescape},
    {"format", f_format},
    {"groupby", f_groupby},
    {"indent", f_indent},
    {"int", f_int},
    {"items", f_items},
    {"join", f_join},
    {"last", f_last},
    {"length", f_length},
    {"list", f_list},
    {"lower", f_lower},
    {"map", f_map},
    {"max", f_max},
    {"min", f_min},
    {"reject", f_reject},
    {"rejectattr", f_rejectattr},
    {"replace", f_replace},
    {"reverse", f_reverse},
    {"round", f_round},
    {"safe", f_safe},
    {"select", f_select},
    {"slice", f_slice},
    {"selectattr", f_selectattr},
    {"sort", f_sort},
    {"string", f_string},
    {"sum", f_sum},
    {"title", f_title},
    {"tojson", f_tojson},
    {"trim", f_trim},
    {"truncate", f_truncate},
    {"unique", f_unique},
    {"upper", f_upper},
    {"urlencode", f_urlencode},
    {"wordcount", f_wordcount},
};

int filter_exists(const char *name) {
    for (size_t i = 0; i < sizeof filters / sizeof filters[0]; i++)
        if (!strcmp(filters[i].name, name)) return 1;
    return 0;
}

/* The filters Jinja implements as generators: their errors surface only when the result is
 * consumed, so a failure becomes a lazy value that fails then (see jv_list.lazy_error). */
static int is_generator_filter(const char *name) {
    static const char *const names[] = {"select", "reject", "selectattr", "rejectattr", "map", "unique",
                                        "batch", "items", "slice"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (!strcmp(names[i], name)) return 1;
    return 0;
}

int apply_filter(interp *in, const char *name, jv value, const args *a, jv *out) {
    for (size_t i = 0; i < sizeof filters / sizeof filters[0]; i++) {
        if (strcmp(filters[i].name, name) != 0) continue;
        int rc = filters[i].fn(in, value, a, out);
        if (rc == 0 || !is_generator_filter(name) || in->raised || in->steps > in->max_steps) return rc;
        /* named like the generator the filter would have made */
        static const struct { const char *filter, *fn; } fns[] = {
            {"select", "select_or_reject"}, {"reject", "select_or_reject"}, {"selectattr", "select_or_reject"},
            {"rejectattr", "select_or_reject"}, {"map", "sync_do_map"}, {"unique", "do_unique"},
            {"batch", "do_batch"}, {"items", "do_items"}, {"slice", "sync_do_slice"}};
        const char *fn = "generator";
        for (size_t k = 0; k < sizeof fns / sizeof fns[0]; k++)
            if (!strcmp(fns[k].filter, name)) fn = fns[k].fn;
        jv g = generator(jv_list_new(0), fn);
        g.u.l->lazy_error = mlcc_xstrdup(in->err);
        in->failed = 0;
        in->err[0] = 0;
        in->err_line = in->err_col = 0;
        *out = g;
        return 0;
    }
    return rt_fail(in, "TemplateAssertionError: No filter named '%s'.", name);
}
