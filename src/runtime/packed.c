/* packed.c - packed functions: function objects, the process-wide registry of named functions
 * (runtime builtins such as vm.builtin.* register here), calls with typed argument lists, and
 * the argument readers that packed functions use to check what they were given. */
#include "runtime/packed.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/ndarray.h"
#include "support/alloc.h"
#include "support/error.h"
#include "support/hashmap.h"
#include "support/vec.h"

/* Function objects ---------------------------------------------------------------------------- */

static void function_delete(MLCCObject *obj) {
    MLCCFunction *f = (MLCCFunction *)obj;
    if (f->resource_free) f->resource_free(f->resource);
    free(f);
}

MLCCFunction *mlcc_function_new(const char *name, MLCCPackedCFunc fn, void *resource,
                                void (*resource_free)(void *)) {
    MLCCFunction *f = mlcc_xcalloc(1, sizeof *f);
    mlcc_object_init(&f->obj, MLCC_OBJECT_FUNCTION, function_delete);
    f->fn = fn;
    f->resource = resource;
    f->resource_free = resource_free;
    f->name = mlcc_intern(name ? name : "");
    return f;
}

/* The registry ------------------------------------------------------------------------------- */

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static mlcc_strmap registry; /* name -> MLCCFunction* (one reference) */
/* Functions replaced with allow_override stay alive: mlcc_func_get_global hands out borrowed
 * pointers that callers may still hold. */
static MLCC_VEC(MLCCFunction *) retired;

int mlcc_func_register_object(const char *name, MLCCFunction *f, int allow_override) {
    if (!name || !*name) return mlcc_set_error("registering a function without a name");
    pthread_mutex_lock(&registry_lock);
    if (!registry.slots) strmap_init(&registry);
    int inserted;
    mlcc_strmap_entry *e = strmap_upsert(&registry, name, strlen(name), &inserted);
    if (!inserted && !allow_override) {
        pthread_mutex_unlock(&registry_lock);
        return mlcc_set_error("function '%s' is already registered", name);
    }
    if (!inserted) vec_push(&retired, e->value.p);
    mlcc_object_retain(&f->obj);
    e->value.p = f;
    pthread_mutex_unlock(&registry_lock);
    return 0;
}

int mlcc_func_register(const char *name, MLCCPackedCFunc fn, void *resource, int allow_override) {
    MLCCFunction *f = mlcc_function_new(name, fn, resource, NULL);
    int rc = mlcc_func_register_object(name, f, allow_override);
    mlcc_object_release(&f->obj);
    return rc;
}

MLCCFunction *mlcc_func_get_global(const char *name) {
    pthread_mutex_lock(&registry_lock);
    MLCCFunction *f = registry.slots ? strmap_get_p(&registry, name) : NULL;
    pthread_mutex_unlock(&registry_lock);
    if (!f) mlcc_set_error("no global function named '%s'", name);
    return f;
}

static int compare_names(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

const char **mlcc_func_list_global(size_t *count) {
    pthread_mutex_lock(&registry_lock);
    size_t n = 0;
    const char **names = mlcc_xmalloc((registry.count + 1) * sizeof *names);
    for (size_t i = 0; i < registry.cap; i++)
        if (registry.slots[i].key) names[n++] = ((MLCCFunction *)registry.slots[i].value.p)->name;
    pthread_mutex_unlock(&registry_lock);
    qsort(names, n, sizeof *names, compare_names);
    names[n] = NULL;
    *count = n;
    return names;
}

/* Calls ---------------------------------------------------------------------------------------- */

int mlcc_func_call(const MLCCFunction *f, const MLCCValue *args, const int *type_codes,
                   int num_args, MLCCValue *ret, int *ret_type_code) {
    ret->v_int64 = 0;
    *ret_type_code = MLCC_TYPE_NULL;
    mlcc_clear_error();
    if (f->fn(args, type_codes, num_args, ret, ret_type_code, f->resource) == 0) return 0;
    /* Make sure the message says which function failed, once. */
    const char *msg = mlcc_last_error();
    size_t n = strlen(f->name);
    if (!*msg)
        return mlcc_set_error("%s: failed without a message", n ? f->name : "(anonymous function)");
    if (n && !(strncmp(msg, f->name, n) == 0 && msg[n] == ':')) mlcc_prefix_error("%s", f->name);
    return -1;
}

void mlcc_args_init(MLCCArgs *a) {
    a->num = 0;
    a->overflow = 0;
}

static void push(MLCCArgs *a, MLCCValue v, int code) {
    if (a->num == MLCC_MAX_ARGS) {
        a->overflow = 1;
        return;
    }
    a->values[a->num] = v;
    a->type_codes[a->num++] = code;
}

void mlcc_args_int(MLCCArgs *a, int64_t v) {
    push(a, (MLCCValue){.v_int64 = v}, MLCC_TYPE_INT);
}
void mlcc_args_float(MLCCArgs *a, double v) {
    push(a, (MLCCValue){.v_float64 = v}, MLCC_TYPE_FLOAT);
}
void mlcc_args_str(MLCCArgs *a, const char *s) {
    push(a, (MLCCValue){.v_str = s}, MLCC_TYPE_STR);
}
void mlcc_args_handle(MLCCArgs *a, void *p) {
    push(a, (MLCCValue){.v_handle = p}, MLCC_TYPE_HANDLE);
}
void mlcc_args_null(MLCCArgs *a) {
    push(a, (MLCCValue){.v_handle = NULL}, MLCC_TYPE_NULL);
}
void mlcc_args_tensor(MLCCArgs *a, DLTensor *t) {
    push(a, (MLCCValue){.v_tensor = t}, MLCC_TYPE_DLTENSOR);
}
void mlcc_args_object(MLCCArgs *a, MLCCObject *obj) {
    push(a, (MLCCValue){.v_handle = obj}, obj ? MLCC_TYPE_OBJECT : MLCC_TYPE_NULL);
}

int mlcc_call(const MLCCFunction *f, const MLCCArgs *a, MLCCValue *ret, int *ret_type_code) {
    if (a->overflow) {
        *ret_type_code = MLCC_TYPE_NULL;
        return mlcc_set_error("%s: more than %d arguments", f->name, MLCC_MAX_ARGS);
    }
    return mlcc_func_call(f, a->values, a->type_codes, a->num, ret, ret_type_code);
}

int mlcc_call_global(const char *name, const MLCCArgs *a, MLCCValue *ret, int *ret_type_code) {
    MLCCFunction *f = mlcc_func_get_global(name);
    if (!f) {
        *ret_type_code = MLCC_TYPE_NULL;
        return -1;
    }
    return mlcc_call(f, a, ret, ret_type_code);
}

/* Reading arguments ---------------------------------------------------------------------------- */

const char *mlcc_value_type_name(MLCCValue value, int type_code) {
    switch (type_code) {
    case MLCC_TYPE_INT: return "int";
    case MLCC_TYPE_FLOAT: return "float";
    case MLCC_TYPE_HANDLE: return "handle";
    case MLCC_TYPE_NULL: return "null";
    case MLCC_TYPE_DLTENSOR: return "DLTensor";
    case MLCC_TYPE_STR: return "str";
    case MLCC_TYPE_OBJECT:
        return value.v_handle ? mlcc_object_type_name(((MLCCObject *)value.v_handle)->type_index)
                              : "null object";
    default: return "unknown type code";
    }
}

int mlcc_check_num_args(int num_args, int expected) {
    if (num_args != expected)
        return mlcc_set_error("expected %d argument%s, got %d", expected, expected == 1 ? "" : "s",
                              num_args);
    return 0;
}

static int arg_present(int num_args, int i) {
    if (i < 0 || i >= num_args)
        return mlcc_set_error("argument %d is missing (%d given)", i, num_args);
    return 0;
}

static int wrong_type(const MLCCValue *args, const int *type_codes, int i, const char *expected) {
    return mlcc_set_error("argument %d: expected %s, got %s", i, expected,
                          mlcc_value_type_name(args[i], type_codes[i]));
}

int mlcc_arg_int(const MLCCValue *args, const int *type_codes, int num_args, int i, int64_t *out) {
    if (arg_present(num_args, i) != 0) return -1;
    if (type_codes[i] != MLCC_TYPE_INT) return wrong_type(args, type_codes, i, "int");
    *out = args[i].v_int64;
    return 0;
}

int mlcc_arg_float(const MLCCValue *args, const int *type_codes, int num_args, int i, double *out) {
    if (arg_present(num_args, i) != 0) return -1;
    if (type_codes[i] == MLCC_TYPE_INT)
        *out = (double)args[i].v_int64;
    else if (type_codes[i] == MLCC_TYPE_FLOAT)
        *out = args[i].v_float64;
    else
        return wrong_type(args, type_codes, i, "float");
    return 0;
}

int mlcc_arg_str(const MLCCValue *args, const int *type_codes, int num_args, int i,
                 const char **out) {
    if (arg_present(num_args, i) != 0) return -1;
    if (type_codes[i] == MLCC_TYPE_STR && args[i].v_str) {
        *out = args[i].v_str;
        return 0;
    }
    MLCCString *s = type_codes[i] == MLCC_TYPE_OBJECT
                        ? MLCC_OBJECT_AS(args[i].v_handle, MLCC_OBJECT_STRING, MLCCString)
                        : NULL;
    if (!s) return wrong_type(args, type_codes, i, "str");
    *out = s->data;
    return 0;
}

int mlcc_arg_tensor(const MLCCValue *args, const int *type_codes, int num_args, int i,
                    DLTensor **out) {
    if (arg_present(num_args, i) != 0) return -1;
    if (type_codes[i] == MLCC_TYPE_DLTENSOR && args[i].v_tensor) {
        *out = args[i].v_tensor;
        return 0;
    }
    MLCCNDArray *a = type_codes[i] == MLCC_TYPE_OBJECT ? MLCC_AS_NDARRAY(args[i].v_handle) : NULL;
    if (!a) return wrong_type(args, type_codes, i, "tensor");
    *out = &a->dl;
    return 0;
}

int mlcc_arg_object(const MLCCValue *args, const int *type_codes, int num_args, int i,
                    uint32_t type_index, MLCCObject **out) {
    if (arg_present(num_args, i) != 0) return -1;
    MLCCObject *obj = type_codes[i] == MLCC_TYPE_OBJECT ? args[i].v_handle : NULL;
    if (!obj || (type_index && obj->type_index != type_index))
        return wrong_type(args, type_codes, i,
                          type_index ? mlcc_object_type_name(type_index) : "object");
    *out = obj;
    return 0;
}
