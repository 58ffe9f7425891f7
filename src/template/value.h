/* value.h - the values a Jinja template computes with, modelled on the Python objects Jinja2
 * sees: str, int, float, bool, None, Undefined, list/tuple, dict (insertion ordered),
 * namespace, callables (builtins, bound methods, macros, caller) and loop objects.
 *
 * A jv is a small struct passed by value; strings, containers and objects live on the heap with
 * a reference count. jv_retain/jv_release manage them; functions that "take" a jv consume the
 * caller's reference, functions that "borrow" do not. Containers are never mutated after they
 * are shared (the sandbox is immutable), except namespaces, which the renderer tracks so that
 * reference cycles through them are broken when a render ends. */
#ifndef MLCC_TEMPLATE_VALUE_H
#define MLCC_TEMPLATE_VALUE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "support/strbuf.h"

typedef enum jv_kind {
    JV_UNDEF,
    JV_NONE,
    JV_BOOL,
    JV_INT,
    JV_FLOAT,
    JV_STR,
    JV_LIST,
    JV_DICT,
    JV_NS,
    JV_FUNC,
    JV_LOOP,
} jv_kind;

typedef struct jv_str jv_str;
typedef struct jv_list jv_list;
typedef struct jv_dict jv_dict;
typedef struct jv_ns jv_ns;
typedef struct jv_func jv_func;
typedef struct jv_loop jv_loop;

typedef struct jv {
    uint8_t kind;
    union {
        int64_t i; /* int, bool */
        double f;
        jv_str *s; /* str; for undefined: the hint (may be NULL) */
        jv_list *l;
        jv_dict *d;
        jv_ns *ns;
        jv_func *fn;
        jv_loop *loop;
    } u;
} jv;

struct jv_str {
    int32_t rc;
    int32_t ncp; /* code points, or -1 until counted */
    size_t len;
    int markup; /* a markupsafe.Markup (from |safe / |escape): `+` escapes plain strings added to it */
    char data[]; /* NUL-terminated (may also contain NULs) */
};

struct jv_list {
    int32_t rc;
    int32_t depth; /* nesting depth of lists/dicts inside (1 = flat) */
    int is_tuple;
    /* Non-NULL for what Python would hold as a lazy iterator (the result of select, map,
     * unique, reverse, ...): the type name, e.g. "generator". Such values are always truthy,
     * have no len(), print as "<generator object ...>" and cannot be indexed. */
    const char *iter;
    const char *iter_name; /* for generators: the Jinja function that made it */
    /* For such a lazy value whose computation failed: the error, raised when it is consumed
     * (Python runs a generator's body only then). Owned. */
    char *lazy_error;
    /* Non-NULL for dict views ("dict_keys", "dict_values", "dict_items"): sized and iterable
     * like a list, but not indexable, printed as dict_keys([...]), not JSON serializable. */
    const char *view;
    /* groupby's (grouper, list) pairs: tuples whose items are also .grouper and .list */
    int is_group;
    size_t n, cap;
    jv *items;
};

struct jv_dict {
    int32_t rc;
    int32_t depth;
    size_t n, cap;
    jv *keys, *vals;
};

struct jv_ns {
    int32_t rc;
    jv_dict *attrs;
};

/* Callables. The renderer gives meaning to `node`, `scope` and `id`. */
typedef enum jv_func_kind {
    FN_BUILTIN,  /* a global function: id names it */
    FN_METHOD,   /* a method of `self`: name names it */
    FN_MACRO,    /* node = the macro statement */
    FN_CALLER,   /* node = the call block */
    FN_LOOPCALL, /* loop(...) of a recursive loop, or loop.cycle / loop.changed (name) */
    FN_JOINER,   /* a joiner(sep): self = sep, id = called before */
    FN_CYCLER,   /* a cycler(*items): self = the items, id = position; .next() .reset() .current */
    FN_CYCLER_METHOD, /* cycler.next / cycler.reset: self = the cycler */
} jv_func_kind;

typedef struct jv_scope_ref {
    int32_t rc;
    void *scope; /* NULL once the scope has ended */
} jv_scope_ref;

struct jv_func {
    int32_t rc;
    jv_func_kind kind;
    int id;
    const char *name; /* static or owned by the template */
    jv self;          /* bound object for methods / loop helpers */
    const void *node;
    jv_scope_ref *scope;
};

struct jv_loop {
    int32_t rc;
    jv_list *items;
    size_t index; /* 0-based */
    int depth;    /* 1-based */
    jv last_changed;
    int has_changed;
    const void *node; /* the for statement when recursive */
    jv_scope_ref *scope;
};

/* Constructors (the result holds one reference). */
static inline jv jv_undef(void) {
    jv v = {JV_UNDEF, {0}};
    v.u.s = NULL;
    return v;
}
static inline jv jv_none(void) {
    jv v = {JV_NONE, {0}};
    return v;
}
static inline jv jv_bool(int b) {
    jv v = {JV_BOOL, {0}};
    v.u.i = b ? 1 : 0;
    return v;
}
static inline jv jv_int(int64_t i) {
    jv v = {JV_INT, {0}};
    v.u.i = i;
    return v;
}
static inline jv jv_float(double f) {
    jv v = {JV_FLOAT, {0}};
    v.u.f = f;
    return v;
}
jv jv_undef_hint(const char *fmt, ...) MLCC_PRINTF(1, 2);
jv jv_str_n(const char *s, size_t len);
jv jv_cstr(const char *s);
jv jv_str_take_sb(mlcc_strbuf *sb); /* consumes the buffer's contents */
jv jv_list_new(size_t cap);
jv jv_tuple_new(size_t cap);
jv jv_dict_new(void);
jv jv_ns_new(void);
jv jv_func_new(jv_func_kind kind, const char *name);

/* A reference count that retain/release leave alone (template constants). */
#define JV_IMMORTAL (-1)
jv jv_retain(jv v);
void jv_release(jv v);

/* Lists: push takes the item. */
void jv_list_push(jv list, jv item);
/* Dicts: set takes key and value (replacing keeps the first position, like Python). */
void jv_dict_set(jv_dict *d, jv key, jv val);
void jv_dict_set_str(jv_dict *d, const char *key, jv val);
/* Borrowed value for key, or NULL. */
jv *jv_dict_get(const jv_dict *d, jv key);
jv *jv_dict_get_str(const jv_dict *d, const char *key, size_t len);

static inline int jv_is_str(jv v) { return v.kind == JV_STR; }
static inline int jv_is_num(jv v) { return v.kind == JV_INT || v.kind == JV_FLOAT || v.kind == JV_BOOL; }
static inline int jv_is_intlike(jv v) { return v.kind == JV_INT || v.kind == JV_BOOL; }
static inline double jv_num(jv v) { return v.kind == JV_FLOAT ? v.u.f : (double)v.u.i; }

/* How deeply lists and dicts may nest. Every container records its depth, so printing,
 * comparing and freeing (all recursive) stay within the C stack; the renderer fails past it
 * (JSON input is limited to 2048 levels by jansson, so inputs always fit). */
#define JV_MAX_DEPTH 3000
int32_t jv_depth(jv v);

/* Code point count of a str (cached). */
size_t jv_str_ncp(jv_str *s);

/* Python truthiness and equality (1 == 1.0 == True, lists elementwise, dicts by content). */
int jv_truthy(jv v);
int jv_equal(jv a, jv b);
/* Python ordering for sort/min/max and <: -1/0/1, or 2 when the types do not compare. */
int jv_compare(jv a, jv b);

/* Python type name for messages ("str", "int", "NoneType", "list", ...). */
const char *jv_type_name(jv v);

/* str(v) and repr(v) appended to sb, as Python prints them. */
void jv_append_str(mlcc_strbuf *sb, jv v);
void jv_append_repr(mlcc_strbuf *sb, jv v);
void py_float_repr(mlcc_strbuf *sb, double f);
/* str(v) as a new jv (a str is returned retained as is). */
jv jv_to_str(jv v);

/* JSON input (jansson) -> values; numbers keep int vs float. */
jv jv_from_json(json_t *j);

#endif
