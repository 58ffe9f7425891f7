/* interp.h - the renderer's internal interface: the interpreter state shared by the evaluator
 * (eval.c) and the builtins (filters.c, tests.c, methods.c, globals.c, tojson.c). */
#ifndef MLCC_TEMPLATE_INTERP_H
#define MLCC_TEMPLATE_INTERP_H

#include "support/vec.h"
#include "template/ast.h"
#include "template/parser.h"
#include "template/value.h"

/* How deep macro calls and recursive loops may go (Python's recursion limit, roughly). */
#define TEMPLATE_MAX_CALL_DEPTH 200
/* The sandbox's limit on range() (jinja2.sandbox.MAX_RANGE). */
#define TEMPLATE_MAX_RANGE 100000

typedef struct scope {
    struct scope *parent;
    jv_dict *vars;
    jv_scope_ref *ref; /* handed to macros defined here; cleared when the scope ends */
} scope;

typedef struct interp {
    const mlcc_template *t;
    scope *root;
    mlcc_strbuf *out;
    int depth;
    MLCC_VEC(jv) namespaces; /* every namespace created, to break cycles at the end */
    jv block_input;          /* the body of a filter block while its filters run */
    unsigned long long steps, max_steps;
    int folding; /* evaluating for constant folding: names and calls are "Impossible" */
    size_t max_size;
    /* the first error */
    int failed;
    int err_line, err_col;
    int raised;
    char err[512];
} interp;

/* Status of statement execution. */
enum { R_ERR = -1, R_OK = 0, R_BREAK = 1, R_CONTINUE = 2 };

/* Evaluated call arguments (borrowed by callees). */
typedef struct args {
    jv *pos;
    size_t npos;
    const char **kwnames;
    jv *kw;
    size_t nkw;
} args;

/* Records an error (the first one wins); returns -1. Positions are attached by the evaluator. */
int rt_fail(interp *in, const char *fmt, ...) MLCC_PRINTF(2, 3);
/* Fails with the hint of an undefined value ("'x' is undefined"). */
int rt_undefined(interp *in, jv undef);

/* Counts n units of work; fails once the render's step budget is spent. */
int rt_tick(interp *in, unsigned long long n);

/* Binds args to parameter names: slots[i] points at the argument or is NULL when absent. */
int bind_args(interp *in, const char *what, const args *a, size_t n, const char *const *names,
              const jv **slots);

/* Attribute and item access with the sandbox's rules (value.attr / value[key]). */
int get_attr(interp *in, jv obj, const char *name, size_t len, jv *out);
int get_item(interp *in, jv obj, jv key, jv *out);
/* Slicing (value[a:b:c]) and the operators (access.c, operators.c). */
int slice_value(interp *in, jv obj, jv start, jv stop, jv step, jv *out);
int binary_op(interp *in, int op, jv a, jv b, jv *out);   /* binop: + - * / // % ** */
int compare_op(interp *in, int op, jv a, jv b, int *result); /* cmpop: == != < <= > >= in, not in */
int string_percent_format(interp *in, jv fmt, jv argv, jv *out); /* str % args (methods.c) */

/* Calls a callable value. */
int call_value(interp *in, jv fn, const args *a, jv *out);
/* Iterates a value as Python would (str: characters, dict: keys); a new list. */
int iterate_value(interp *in, jv v, jv *out_list);

/* filters.c / tests.c */
int apply_filter(interp *in, const char *name, jv value, const args *a, jv *out);
int apply_test(interp *in, const char *name, jv value, const args *a, int *result);
int filter_exists(const char *name);
int test_exists(const char *name);

/* methods.c: 1 = a safe method of obj's type, -1 = a method the immutable sandbox forbids. */
int method_kind(jv obj, const char *name);
int call_method(interp *in, jv self, const char *name, const args *a, jv *out);

/* globals.c */
int lookup_global(const char *name, jv *out);
int call_global(interp *in, int id, const args *a, jv *out);

/* tojson.c: json.dumps(v, ensure_ascii, indent, separators, sort_keys). */
typedef struct json_opts {
    int ensure_ascii;
    const char *indent; /* NULL: compact */
    size_t indent_len;
    const char *item_sep, *key_sep;
    size_t item_sep_len, key_sep_len;
    int sort_keys;
} json_opts;
int to_json(interp *in, mlcc_strbuf *sb, jv v, const json_opts *o, int level);

/* Small helpers shared by the builtins. */
jv str_slice_cp(jv_str *s, size_t from, size_t to); /* code point range */
int python_str_of(interp *in, jv v, jv *out);       /* str(v) */
void string_split(jv_str *s, const char *sep, size_t seplen, int64_t maxsplit, int from_right,
                  jv *out_list);
void html_escape(mlcc_strbuf *sb, const char *s, size_t n);
void string_splitlines(const char *s, size_t len, int keepends, jv *out_list);

#endif
