/* access.c - reaching into values as Jinja2's sandbox does: value.attr (Python attribute,
 * then item; methods become bound callables; names starting with "_" and mutating methods are
 * refused), value[key] (item, then attribute), iteration (str: characters, dict: keys,
 * Undefined: nothing) and slicing (plain Python slicing, which bypasses getitem). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support/alloc.h"
#include "template/interp.h"
#include "template/ustr.h"

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
    /* the list may shrink while it is looped over (list.pop), so every index is checked */
    int64_t n = (int64_t)l->items->n, i = (int64_t)l->index;
    if (!strcmp(name, "index")) *out = jv_int(i + 1);
    else if (!strcmp(name, "index0")) *out = jv_int(i);
    else if (!strcmp(name, "revindex")) *out = jv_int(n - i);
    else if (!strcmp(name, "revindex0")) *out = jv_int(n - i - 1);
    else if (!strcmp(name, "first")) *out = jv_bool(i == 0);
    else if (!strcmp(name, "last")) *out = jv_bool(i + 1 >= n);
    else if (!strcmp(name, "length")) *out = jv_int(n);
    else if (!strcmp(name, "depth")) *out = jv_int(l->depth);
    else if (!strcmp(name, "depth0")) *out = jv_int(l->depth - 1);
    else if (!strcmp(name, "previtem"))
        *out = i > 0 && i - 1 < n ? jv_retain(l->items->items[i - 1]) : jv_undef_hint("there is no previous item");
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
    if (obj.kind == JV_FUNC && obj.u.fn->kind == FN_CYCLER) {
        if (!strcmp(name, "current")) {
            *out = jv_retain(obj.u.fn->self.u.l->items[(size_t)obj.u.fn->id % obj.u.fn->self.u.l->n]);
            return 0;
        }
        if (!strcmp(name, "next") || !strcmp(name, "reset")) {
            jv m = jv_func_new(FN_CYCLER_METHOD, name[0] == 'n' ? "next" : "reset");
            m.u.fn->self = jv_retain(obj);
            *out = m;
            return 0;
        }
    }
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

int slice_value(interp *in, jv obj, jv a, jv b, jv c, jv *out) {
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
