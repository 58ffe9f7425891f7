/* test_packed.c - the function registry, calls with typed arguments, argument checks and their
 * messages, objects crossing calls (ownership), functions as values, resources. */
#include <pthread.h>

#include "mlcc/mlcc_runtime.h"
#include "runtime/ndarray.h"
#include "runtime/packed.h"
#include "test.h"

/* add(int|float, int|float) -> float, or int when both are ints. */
static int add_fn(const MLCCValue *args, const int *codes, int n, MLCCValue *ret, int *ret_code,
                  void *res) {
    (void)res;
    if (mlcc_check_num_args(n, 2) != 0) return -1;
    if (codes[0] == MLCC_TYPE_INT && codes[1] == MLCC_TYPE_INT) {
        int64_t a, b;
        mlcc_arg_int(args, codes, n, 0, &a);
        mlcc_arg_int(args, codes, n, 1, &b);
        ret->v_int64 = a + b;
        *ret_code = MLCC_TYPE_INT;
        return 0;
    }
    double a, b;
    if (mlcc_arg_float(args, codes, n, 0, &a) != 0 || mlcc_arg_float(args, codes, n, 1, &b) != 0)
        return -1;
    ret->v_float64 = a + b;
    *ret_code = MLCC_TYPE_FLOAT;
    return 0;
}
MLCC_REGISTER_GLOBAL("test.add", add_fn)

/* scale(tensor float32, factor) in place; returns nothing. */
static int scale_fn(const MLCCValue *args, const int *codes, int n, MLCCValue *ret, int *ret_code,
                    void *res) {
    (void)ret, (void)ret_code, (void)res;
    DLTensor *t;
    double f;
    if (mlcc_check_num_args(n, 2) != 0 || mlcc_arg_tensor(args, codes, n, 0, &t) != 0 ||
        mlcc_arg_float(args, codes, n, 1, &f) != 0)
        return -1;
    if (!mlcc_dtype_eq(t->dtype, MLCC_DTYPE_F32))
        return mlcc_set_error("argument 0 must be float32");
    float *x = t->data;
    for (int64_t i = 0; i < mlcc_tensor_numel(t); i++) x[i] *= (float)f;
    return 0;
}

/* make_shape(ints...) -> Shape object (a new reference for the caller). */
static int make_shape_fn(const MLCCValue *args, const int *codes, int n, MLCCValue *ret,
                         int *ret_code, void *res) {
    (void)res;
    int64_t dims[MLCC_MAX_ARGS];
    for (int i = 0; i < n; i++)
        if (mlcc_arg_int(args, codes, n, i, &dims[i]) != 0) return -1;
    ret->v_handle = mlcc_shape_new(n, dims);
    *ret_code = MLCC_TYPE_OBJECT;
    return 0;
}

/* concat(str, str) -> String object. */
static int concat_fn(const MLCCValue *args, const int *codes, int n, MLCCValue *ret, int *ret_code,
                     void *res) {
    (void)res;
    const char *a, *b;
    if (mlcc_check_num_args(n, 2) != 0 || mlcc_arg_str(args, codes, n, 0, &a) != 0 ||
        mlcc_arg_str(args, codes, n, 1, &b) != 0)
        return -1;
    char buf[256];
    int len = snprintf(buf, sizeof buf, "%s%s", a, b);
    ret->v_handle = mlcc_string_new(buf, (size_t)len);
    *ret_code = MLCC_TYPE_OBJECT;
    return 0;
}

/* apply(fn, x): calls a function passed as a value (callbacks, e.g. KV cache kernels). */
static int apply_fn(const MLCCValue *args, const int *codes, int n, MLCCValue *ret, int *ret_code,
                    void *res) {
    (void)res;
    MLCCObject *obj;
    if (mlcc_check_num_args(n, 2) != 0 ||
        mlcc_arg_object(args, codes, n, 0, MLCC_OBJECT_FUNCTION, &obj) != 0)
        return -1;
    MLCCValue inner[2] = {args[1], args[1]};
    int inner_codes[2] = {codes[1], codes[1]};
    return mlcc_func_call((MLCCFunction *)obj, inner, inner_codes, 2, ret, ret_code);
}

/* counter: the resource is a counter the function increments and returns. */
static int counter_fn(const MLCCValue *args, const int *codes, int n, MLCCValue *ret, int *ret_code,
                      void *res) {
    (void)args, (void)codes, (void)n;
    int64_t *count = res;
    ret->v_int64 = __atomic_add_fetch(count, 1, __ATOMIC_RELAXED);
    *ret_code = MLCC_TYPE_INT;
    return 0;
}

static int silent_failure_fn(const MLCCValue *args, const int *codes, int n, MLCCValue *ret,
                             int *ret_code, void *res) {
    (void)args, (void)codes, (void)n, (void)ret, (void)ret_code, (void)res;
    return 1;
}

static int freed_resources;
static void free_resource(void *p) {
    freed_resources++;
    free(p);
}

static void test_registry(void) {
    MLCCFunction *add = mlcc_func_get_global("test.add");
    CHECK(add != NULL);
    CHECK(mlcc_func_get_global("test.nope") == NULL);
    CHECK(strstr(mlcc_last_error(), "test.nope") != NULL);
    CHECK(mlcc_func_register("test.scale", scale_fn, NULL, 0) == 0);
    CHECK(mlcc_func_register("test.scale", scale_fn, NULL, 0) != 0);
    CHECK(strstr(mlcc_last_error(), "already registered") != NULL);
    CHECK(mlcc_func_register("test.add", scale_fn, NULL, 0) != 0);
    CHECK(mlcc_func_register("", scale_fn, NULL, 0) != 0);
    CHECK(mlcc_func_register("test.make_shape", make_shape_fn, NULL, 0) == 0);
    CHECK(mlcc_func_register("test.concat", concat_fn, NULL, 0) == 0);
    CHECK(mlcc_func_register("test.apply", apply_fn, NULL, 0) == 0);

    /* The runtime registers its own builtins (vm.builtin.*) too: look at the test.* ones,
     * which sort together. */
    size_t n, first = 0, count = 0;
    const char **names = mlcc_func_list_global(&n);
    while (first < n && strncmp(names[first], "test.", 5) != 0) first++;
    while (first + count < n && strncmp(names[first + count], "test.", 5) == 0) count++;
    CHECK_EQ_INT(count, 5);
    CHECK(names[n] == NULL);
    if (count == 5) {
        CHECK_EQ_STR(names[first], "test.add");
        CHECK_EQ_STR(names[first + 1], "test.apply");
        CHECK_EQ_STR(names[first + 4], "test.scale");
    }
    free(names);

    /* Override: the old pointer stays callable, lookups get the new one. */
    int64_t *c1 = calloc(1, sizeof *c1), *c2 = calloc(1, sizeof *c2);
    MLCCFunction *f1 = mlcc_function_new("test.counter", counter_fn, c1, free_resource);
    CHECK(mlcc_func_register_object("test.counter", f1, 0) == 0);
    mlcc_object_release(&f1->obj);
    MLCCFunction *old = mlcc_func_get_global("test.counter");
    MLCCFunction *f2 = mlcc_function_new("test.counter", counter_fn, c2, free_resource);
    CHECK(mlcc_func_register_object("test.counter", f2, 1) == 0);
    mlcc_object_release(&f2->obj);
    MLCCArgs a;
    mlcc_args_init(&a);
    MLCCValue ret;
    int code;
    CHECK(mlcc_call(old, &a, &ret, &code) == 0 && ret.v_int64 == 1);
    CHECK(mlcc_call_global("test.counter", &a, &ret, &code) == 0 && ret.v_int64 == 1);
    CHECK(mlcc_call_global("test.counter", &a, &ret, &code) == 0 && ret.v_int64 == 2);
    CHECK_EQ_INT(*c1, 1);
    CHECK_EQ_INT(freed_resources, 0);

    /* A function object that dies frees its resource. */
    MLCCFunction *tmp =
        mlcc_function_new("tmp", counter_fn, calloc(1, sizeof(int64_t)), free_resource);
    mlcc_object_release(&tmp->obj);
    CHECK_EQ_INT(freed_resources, 1);
}

static void test_calls(void) {
    MLCCArgs a;
    MLCCValue ret;
    int code;
    mlcc_args_init(&a);
    mlcc_args_int(&a, 40);
    mlcc_args_int(&a, 2);
    CHECK(mlcc_call_global("test.add", &a, &ret, &code) == 0);
    CHECK(code == MLCC_TYPE_INT && ret.v_int64 == 42);
    mlcc_args_init(&a);
    mlcc_args_int(&a, 1);
    mlcc_args_float(&a, 0.5);
    CHECK(mlcc_call_global("test.add", &a, &ret, &code) == 0);
    CHECK(code == MLCC_TYPE_FLOAT && ret.v_float64 == 1.5);

    /* Wrong types and counts give messages with the function, index and types. */
    mlcc_args_init(&a);
    mlcc_args_int(&a, 1);
    mlcc_args_str(&a, "x");
    CHECK(mlcc_call_global("test.add", &a, &ret, &code) != 0);
    CHECK_EQ_STR(mlcc_last_error(), "test.add: argument 1: expected float, got str");
    CHECK(code == MLCC_TYPE_NULL);
    mlcc_args_init(&a);
    mlcc_args_int(&a, 1);
    CHECK(mlcc_call_global("test.add", &a, &ret, &code) != 0);
    CHECK_EQ_STR(mlcc_last_error(), "test.add: expected 2 arguments, got 1");
    CHECK(mlcc_call_global("test.missing", &a, &ret, &code) != 0);
    CHECK(strstr(mlcc_last_error(), "no global function named 'test.missing'") != NULL);
    MLCCFunction *silent = mlcc_function_new("test.silent", silent_failure_fn, NULL, NULL);
    CHECK(mlcc_call(silent, &a, &ret, &code) != 0);
    CHECK_EQ_STR(mlcc_last_error(), "test.silent: failed without a message");
    mlcc_object_release(&silent->obj);

    /* Too many arguments. */
    mlcc_args_init(&a);
    for (int i = 0; i < MLCC_MAX_ARGS + 1; i++) mlcc_args_int(&a, i);
    CHECK(a.overflow && a.num == MLCC_MAX_ARGS);
    CHECK(mlcc_call_global("test.make_shape", &a, &ret, &code) != 0);
    CHECK(strstr(mlcc_last_error(), "more than 64 arguments") != NULL);

    /* Tensors as DLTensor or as NDArray objects. */
    int64_t shape[1] = {4};
    MLCCNDArray *x = mlcc_ndarray_empty(1, shape, MLCC_DTYPE_F32, MLCC_CPU);
    float init[4] = {1, 2, 3, 4};
    mlcc_ndarray_copy_from_bytes(x, init, sizeof init);
    mlcc_args_init(&a);
    mlcc_args_tensor(&a, &x->dl);
    mlcc_args_float(&a, 2.0);
    CHECK(mlcc_call_global("test.scale", &a, &ret, &code) == 0 && code == MLCC_TYPE_NULL);
    mlcc_args_init(&a);
    mlcc_args_object(&a, &x->obj);
    mlcc_args_int(&a, 3);
    CHECK(mlcc_call_global("test.scale", &a, &ret, &code) == 0);
    CHECK(((float *)x->dl.data)[3] == 24.0f);
    CHECK_EQ_INT(x->obj.ref_count, 1); /* arguments are borrowed */
    MLCCShape *not_tensor = mlcc_shape_new(1, shape);
    mlcc_args_init(&a);
    mlcc_args_object(&a, &not_tensor->obj);
    mlcc_args_int(&a, 3);
    CHECK(mlcc_call_global("test.scale", &a, &ret, &code) != 0);
    CHECK_EQ_STR(mlcc_last_error(), "test.scale: argument 0: expected tensor, got Shape");
    mlcc_object_release(&not_tensor->obj);
    mlcc_ndarray_release(x);

    /* Returned objects are the caller's. */
    mlcc_args_init(&a);
    mlcc_args_int(&a, 2);
    mlcc_args_int(&a, 7);
    CHECK(mlcc_call_global("test.make_shape", &a, &ret, &code) == 0 && code == MLCC_TYPE_OBJECT);
    MLCCShape *s = MLCC_OBJECT_AS(ret.v_handle, MLCC_OBJECT_SHAPE, MLCCShape);
    CHECK(s && s->ndim == 2 && s->dims[1] == 7 && s->obj.ref_count == 1);
    mlcc_value_release(ret, code);

    /* Strings: literal or String object. */
    MLCCString *world = mlcc_string_new("world", 5);
    mlcc_args_init(&a);
    mlcc_args_str(&a, "hello ");
    mlcc_args_object(&a, &world->obj);
    CHECK(mlcc_call_global("test.concat", &a, &ret, &code) == 0);
    MLCCString *joined = MLCC_OBJECT_AS(ret.v_handle, MLCC_OBJECT_STRING, MLCCString);
    CHECK(joined && strcmp(joined->data, "hello world") == 0);
    mlcc_value_release(ret, code);
    mlcc_object_release(&world->obj);

    /* A function as an argument. */
    mlcc_args_init(&a);
    mlcc_args_object(&a, &mlcc_func_get_global("test.add")->obj);
    mlcc_args_int(&a, 21);
    CHECK(mlcc_call_global("test.apply", &a, &ret, &code) == 0 && ret.v_int64 == 42);
    mlcc_args_init(&a);
    mlcc_args_null(&a);
    mlcc_args_int(&a, 21);
    CHECK(mlcc_call_global("test.apply", &a, &ret, &code) != 0);
    CHECK_EQ_STR(mlcc_last_error(), "test.apply: argument 0: expected Function, got null");

    /* Argument readers on their own. */
    MLCCValue v[2] = {{.v_int64 = 5}, {.v_handle = NULL}};
    int c[2] = {MLCC_TYPE_INT, MLCC_TYPE_HANDLE};
    int64_t i64;
    const char *str;
    DLTensor *t;
    CHECK(mlcc_arg_int(v, c, 2, 2, &i64) != 0);
    CHECK_EQ_STR(mlcc_last_error(), "argument 2 is missing (2 given)");
    CHECK(mlcc_arg_str(v, c, 2, 0, &str) != 0);
    CHECK_EQ_STR(mlcc_last_error(), "argument 0: expected str, got int");
    CHECK(mlcc_arg_tensor(v, c, 2, 1, &t) != 0);
    CHECK_EQ_STR(mlcc_last_error(), "argument 1: expected tensor, got handle");
}

/* Lookups and calls from several threads while another registers. */
static void *caller_thread(void *arg) {
    long bad = 0;
    for (int i = 0; i < 2000; i++) {
        MLCCArgs a;
        MLCCValue ret;
        int code;
        mlcc_args_init(&a);
        mlcc_args_int(&a, i);
        mlcc_args_int(&a, 1);
        if (mlcc_call_global("test.add", &a, &ret, &code) != 0 || ret.v_int64 != i + 1) bad++;
    }
    *(long *)arg = bad;
    return NULL;
}

static void test_threads(void) {
    pthread_t th[4];
    long bad[4];
    for (int i = 0; i < 4; i++) pthread_create(&th[i], NULL, caller_thread, &bad[i]);
    char name[64];
    int reg_failures = 0;
    for (int i = 0; i < 200; i++) {
        snprintf(name, sizeof name, "test.thread.%d", i);
        if (mlcc_func_register(name, add_fn, NULL, 0) != 0) reg_failures++;
    }
    for (int i = 0; i < 4; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < 4; i++) CHECK_EQ_INT(bad[i], 0);
    CHECK_EQ_INT(reg_failures, 0);
    size_t n, tests = 0;
    const char **names = mlcc_func_list_global(&n);
    for (size_t i = 0; i < n; i++) tests += strncmp(names[i], "test.", 5) == 0;
    free(names);
    CHECK_EQ_INT(tests, 206);
}

int main(void) {
    test_registry();
    test_calls();
    test_threads();
    return test_finish();
}
