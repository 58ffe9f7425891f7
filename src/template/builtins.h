/* builtins.h - helpers shared by the filter, test, method and global function files. */
#ifndef MLCC_TEMPLATE_BUILTINS_H
#define MLCC_TEMPLATE_BUILTINS_H

#include "template/interp.h"

/* Binds `a` to the listed parameter names, declaring `sl` (const jv *sl[N]) for the slots. */
#define BIND(in, what, a, ...)                                                                     \
    static const char *const bind_names_[] = {__VA_ARGS__};                                        \
    const jv *sl[sizeof bind_names_ / sizeof bind_names_[0]];                                      \
    if (bind_args((in), (what), (a), sizeof bind_names_ / sizeof bind_names_[0], bind_names_, sl) < 0) \
        return -1

/* Argument helpers: the slot's value or the default. */
static inline int arg_truthy(const jv *slot, int dflt) { return slot ? jv_truthy(*slot) : dflt; }
int arg_int(interp *in, const jv *slot, int64_t dflt, const char *what, int64_t *out);
/* A str argument (borrowed), or NULL with an error when it is not a str. */
jv_str *arg_str(interp *in, const jv *slot, const char *what);

/* int(f) for a finite double: 0, or -1 when it is outside int64 (Python would make a big int,
 * which mlcc does not have). */
static inline int float_to_int64(double f, int64_t *out) {
    if (!(f > -9223372036854775808.0 && f < 9223372036854775808.0)) return -1;
    *out = (int64_t)f;
    return 0;
}

/* Python's format(value, spec) for str/int/float/bool/None. */
int py_format_spec(interp *in, jv v, const char *spec, size_t spec_len, mlcc_strbuf *sb);
/* str.format(*args, **kwargs). */
int py_str_format(interp *in, jv_str *fmt, const args *a, jv *out);
/* Sorting helper: sorts items (a list, in place) by key values (parallel array); stable.
 * -1 with a TypeError when keys do not compare. */
int sort_by_keys(interp *in, jv *items, jv *keys, size_t n, int reverse);
/* The stable order of keys[0..n) as an index permutation (-1 when keys do not compare). */
int sort_index(interp *in, const jv *keys, size_t n, int reverse, size_t *idx);
/* The key Jinja compares by for case-insensitive sort/unique/dictsort. */
jv ignore_case(jv v);
/* Attribute getter for selectattr/map/sort(attribute=...): "a.b.0" through getitem. */
int attr_path(interp *in, jv item, jv_str *path, jv *out);

#endif
