/* globals.c - the global functions a chat template can call: Jinja2's range, dict and
 * namespace, and transformers' raise_exception and strftime_now. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "template/builtins.h"

enum { G_RANGE, G_NAMESPACE, G_DICT, G_RAISE, G_STRFTIME, G_JOINER, G_CYCLER, G_COUNT };
static const char *const global_names[G_COUNT] = {"range",        "namespace", "dict",  "raise_exception",
                                                  "strftime_now", "joiner",    "cycler"};

int lookup_global(const char *name, jv *out) {
    for (int i = 0; i < G_COUNT; i++)
        if (!strcmp(name, global_names[i])) {
            *out = jv_func_new(FN_BUILTIN, global_names[i]);
            out->u.fn->id = i;
            return 1;
        }
    return 0;
}

static int g_range(interp *in, const args *a, jv *out) {
    if (a->nkw) return rt_fail(in, "TypeError: range() takes no keyword arguments");
    if (a->npos < 1 || a->npos > 3) return rt_fail(in, "TypeError: range expected 1 to 3 arguments, got %zu", a->npos);
    int64_t v[3] = {0, 0, 0};
    for (size_t i = 0; i < a->npos; i++) {
        if (!jv_is_intlike(a->pos[i]))
            return rt_fail(in, "TypeError: '%s' object cannot be interpreted as an integer", jv_type_name(a->pos[i]));
        v[i] = a->pos[i].u.i;
    }
    int64_t start = 0, stop, step = 1;
    if (a->npos == 1) stop = v[0];
    else {
        start = v[0];
        stop = v[1];
        if (a->npos == 3) step = v[2];
    }
    if (step == 0) return rt_fail(in, "ValueError: range() arg 3 must not be zero");
    int64_t n = 0;
    if (step > 0 && start < stop) n = (int64_t)(((__int128)stop - start - 1) / step + 1);
    else if (step < 0 && start > stop) n = (int64_t)(((__int128)start - stop - 1) / (-(__int128)step) + 1);
    if (n > TEMPLATE_MAX_RANGE)
        return rt_fail(in, "OverflowError: Range too big. The sandbox blocks ranges larger than MAX_RANGE (%d).",
                       TEMPLATE_MAX_RANGE);
    jv l = jv_list_new((size_t)n);
    for (int64_t i = 0; i < n; i++) jv_list_push(l, jv_int(start + i * step));
    *out = l;
    return 0;
}

/* namespace(dict?, **kwargs) and dict(dict?, **kwargs): keyword arguments in call order. */
static int fill_mapping(interp *in, const char *what, const args *a, jv_dict *d) {
    if (a->npos > 1) return rt_fail(in, "TypeError: %s expected at most 1 positional argument", what);
    if (a->npos == 1) {
        jv src = a->pos[0];
        if (src.kind == JV_DICT) {
            for (size_t i = 0; i < src.u.d->n; i++) jv_dict_set(d, jv_retain(src.u.d->keys[i]), jv_retain(src.u.d->vals[i]));
        } else if (src.kind == JV_LIST) {
            for (size_t i = 0; i < src.u.l->n; i++) {
                jv p = src.u.l->items[i];
                if (p.kind != JV_LIST || p.u.l->n != 2)
                    return rt_fail(in, "ValueError: %s sequence element #%zu has the wrong length", what, i);
                jv_dict_set(d, jv_retain(p.u.l->items[0]), jv_retain(p.u.l->items[1]));
            }
        } else return rt_fail(in, "TypeError: '%s' object is not iterable", jv_type_name(src));
    }
    for (size_t k = 0; k < a->nkw; k++)
        if (a->kwnames[k][0] != '\x01') jv_dict_set_str(d, a->kwnames[k], jv_retain(a->kw[k]));
    return 0;
}

static int g_strftime(interp *in, const args *a, jv *out) {
    if (a->npos != 1 || a->pos[0].kind != JV_STR) return rt_fail(in, "TypeError: strftime_now expects one format string");
    struct tm tm;
    const char *fixed = getenv("MLCC_FIXED_TIME");
    if (fixed && *fixed) {
        /* seconds since the epoch, or an ISO 8601 UTC time ("2026-11-24T12:00:00Z") */
        memset(&tm, 0, sizeof tm);
        const char *end = strptime(fixed, "%Y-%m-%dT%H:%M:%S", &tm);
        if (!end) end = strptime(fixed, "%Y-%m-%d %H:%M:%S", &tm);
        if (end && (*end == 0 || !strcmp(end, "Z") || !strcmp(end, "+00:00"))) {
            time_t t = timegm(&tm);
            gmtime_r(&t, &tm);
        } else {
            time_t t = (time_t)strtoll(fixed, NULL, 10);
            gmtime_r(&t, &tm);
        }
    } else {
        time_t t = time(NULL);
        localtime_r(&t, &tm);
    }
    jv_str *fmt = a->pos[0].u.s;
    if (fmt->len == 0 || fmt->len > 1000) {
        *out = jv_cstr("");
        return 0;
    }
    char buf[4096];
    size_t n = strftime(buf, sizeof buf, fmt->data, &tm);
    *out = jv_str_n(buf, n);
    return 0;
}

int call_global(interp *in, int id, const args *a, jv *out) {
    switch (id) {
    case G_RANGE: return g_range(in, a, out);
    case G_NAMESPACE: {
        jv ns = jv_ns_new();
        if (fill_mapping(in, "namespace", a, ns.u.ns->attrs) < 0) {
            jv_release(ns);
            return -1;
        }
        vec_push(&in->namespaces, jv_retain(ns));
        *out = ns;
        return 0;
    }
    case G_DICT: {
        jv d = jv_dict_new();
        if (fill_mapping(in, "dict", a, d.u.d) < 0) {
            jv_release(d);
            return -1;
        }
        *out = d;
        return 0;
    }
    case G_RAISE: {
        jv msg = a->npos ? jv_to_str(a->pos[0]) : jv_cstr("");
        rt_fail(in, "%s", msg.u.s->data);
        in->raised = 1;
        jv_release(msg);
        return -1;
    }
    case G_STRFTIME: return g_strftime(in, a, out);
    case G_CYCLER: {
        if (a->npos == 0) return rt_fail(in, "RuntimeError: at least one item has to be provided");
        jv c = jv_func_new(FN_CYCLER, "cycler");
        jv items = jv_tuple_new(a->npos);
        for (size_t i = 0; i < a->npos; i++) jv_list_push(items, jv_retain(a->pos[i]));
        c.u.fn->self = items;
        *out = c;
        return 0;
    }
    case G_JOINER: {
        BIND(in, "joiner", a, "sep");
        jv j = jv_func_new(FN_JOINER, "joiner");
        j.u.fn->self = sl[0] ? jv_to_str(*sl[0]) : jv_cstr(", ");
        *out = j;
        return 0;
    }
    }
    return rt_fail(in, "internal error: unknown global");
}
