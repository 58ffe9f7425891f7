/* test_module.c - loading a model library: compiles tests/fixtures/example_model_library.c
 * with the system cc into a temporary folder, loads it, lists and calls its functions on
 * NDArrays, checks results, metadata, errors raised inside the library (through the error
 * hook, on the calling thread), the thread-count hook, and the loader's errors for libraries that break the contract. */
#include <jansson.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include "mlcc/mlcc_runtime.h"
#include "runtime/module.h"
#include "runtime/ndarray.h"
#include "runtime/threadpool.h"
#include "test.h"

static char tmpdir[] = "/tmp/mlcc-test-module-XXXXXX";
static const char *source_dir;

/* Compiles the example with extra flags into tmpdir/NAME; returns the malloc'ed path. */
static char *compile_example(const char *name, const char *defines) {
    char *out = malloc(strlen(tmpdir) + strlen(name) + 2);
    sprintf(out, "%s/%s", tmpdir, name);
    char cmd[4096];
    snprintf(cmd, sizeof cmd,
             "cc -shared -fPIC -O2 -Wl,-Bsymbolic %s -I'%s/include' -o '%s' "
             "'%s/tests/fixtures/example_model_library.c' 2>'%s/cc.log'",
             defines, source_dir, out, source_dir, tmpdir);
    if (system(cmd) != 0) {
        char log[256];
        snprintf(log, sizeof log, "cat '%s/cc.log' >&2", tmpdir);
        if (system(log) != 0) fprintf(stderr, "(no compiler log)\n");
        CHECK_MSG(0, "compiling %s failed", name);
        free(out);
        return NULL;
    }
    return out;
}

static MLCCNDArray *vector(int n, const float *values) {
    int64_t shape[1] = {n};
    MLCCNDArray *a = mlcc_ndarray_empty(1, shape, MLCC_DTYPE_F32, MLCC_CPU);
    if (values) mlcc_ndarray_copy_from_bytes(a, values, (size_t)n * sizeof(float));
    return a;
}

static void *failing_call_thread(void *arg) {
    MLCCFunction *sum = arg;
    MLCCArgs a;
    MLCCValue ret;
    int code;
    mlcc_args_init(&a);
    mlcc_args_int(&a, 1);
    int rc = mlcc_call(sum, &a, &ret, &code);
    return rc != 0 &&
                   strcmp(mlcc_last_error(), "sum: argument 0 must be a tensor (type code 0)") == 0
               ? arg
               : NULL;
}

static void test_example_library(const char *path) {
    MLCCModule *m = mlcc_module_load(path);
    CHECK_MSG(m != NULL, "%s", mlcc_last_error());
    if (!m) return;
    CHECK_EQ_INT(mlcc_module_num_functions(m), 3);
    CHECK_EQ_STR(mlcc_module_function_name(m, 0), "add");
    CHECK_EQ_STR(mlcc_module_function_name(m, 2), "sum");
    CHECK(mlcc_module_function_name(m, 3) == NULL);
    CHECK_EQ_STR(mlcc_module_path(m), path);

    /* the thread-count hook now answers with the runtime pool's count, and follows it */
    int (*const *threads)(void) = mlcc_module_get_symbol(m, "mlcc_library_thread_count");
    CHECK(threads && *threads == mlcc_threadpool_thread_count);
    if (threads && *threads) {
        CHECK_EQ_INT((*threads)(), mlcc_threadpool_thread_count());
        int before = mlcc_threadpool_size();
        CHECK(mlcc_threadpool_set_size(3) == 0);
        CHECK_EQ_INT((*threads)(), 3);
        CHECK(mlcc_threadpool_set_size(before) == 0);
        CHECK_EQ_INT((*threads)(), before);
    }

    const char *meta = mlcc_module_metadata(m);
    CHECK(meta != NULL);
    json_t *j = meta ? json_loads(meta, 0, NULL) : NULL;
    CHECK(j && json_integer_value(json_object_get(j, "format_version")) == 1);
    CHECK(j && json_array_size(json_object_get(j, "kernels")) == 3);
    json_decref(j);

    MLCCFunction *add = mlcc_module_get_function(m, "add");
    MLCCFunction *scale = mlcc_module_get_function(m, "scale");
    MLCCFunction *sum = mlcc_module_get_function(m, "sum");
    CHECK(add && scale && sum);
    CHECK(mlcc_module_get_function(m, "mul") == NULL);
    CHECK(strstr(mlcc_last_error(), "has no function 'mul'") != NULL);
    /* The functions keep the library loaded after the module handle goes. */
    mlcc_module_release(m);
    if (!add || !scale || !sum) return;

    enum { N = 37 };
    float av[N], bv[N], out[N];
    for (int i = 0; i < N; i++) av[i] = (float)i * 0.25f, bv[i] = 100.0f - (float)i;
    MLCCNDArray *a = vector(N, av), *b = vector(N, bv), *c = vector(N, NULL);
    MLCCArgs args;
    MLCCValue ret;
    int code;
    mlcc_args_init(&args);
    mlcc_args_tensor(&args, &a->dl);
    mlcc_args_object(&args, &b->obj); /* an NDArray object works as well as a DLTensor */
    mlcc_args_tensor(&args, &c->dl);
    CHECK_MSG(mlcc_call(add, &args, &ret, &code) == 0, "%s", mlcc_last_error());
    mlcc_ndarray_copy_to_bytes(c, out, sizeof out);
    int wrong = 0;
    for (int i = 0; i < N; i++) wrong += out[i] != av[i] + bv[i];
    CHECK_EQ_INT(wrong, 0);

    mlcc_args_init(&args);
    mlcc_args_tensor(&args, &c->dl);
    mlcc_args_float(&args, 0.5);
    CHECK(mlcc_call(scale, &args, &ret, &code) == 0 && code == MLCC_TYPE_NULL);
    mlcc_args_init(&args);
    mlcc_args_tensor(&args, &c->dl);
    CHECK(mlcc_call(sum, &args, &ret, &code) == 0 && code == MLCC_TYPE_FLOAT);
    double expect = 0;
    for (int i = 0; i < N; i++) expect += (double)((av[i] + bv[i]) * 0.5f);
    CHECK_NEAR(ret.v_float64, expect, 1e-9);

    /* A view works like any tensor: sum of the last 5 elements. */
    int64_t five[1] = {5};
    MLCCNDArray *tail = mlcc_ndarray_view(c, (N - 5) * sizeof(float), 1, five, MLCC_DTYPE_F32);
    mlcc_args_init(&args);
    mlcc_args_object(&args, &tail->obj);
    CHECK(mlcc_call(sum, &args, &ret, &code) == 0);
    expect = 0;
    for (int i = N - 5; i < N; i++) expect += (double)((av[i] + bv[i]) * 0.5f);
    CHECK_NEAR(ret.v_float64, expect, 1e-9);
    mlcc_ndarray_release(tail);

    /* Errors raised inside the library reach mlcc_last_error, word for word. */
    MLCCNDArray *short_out = vector(3, NULL);
    mlcc_args_init(&args);
    mlcc_args_tensor(&args, &a->dl);
    mlcc_args_tensor(&args, &b->dl);
    mlcc_args_tensor(&args, &short_out->dl);
    CHECK(mlcc_call(add, &args, &ret, &code) != 0);
    CHECK_EQ_STR(mlcc_last_error(),
                 "add: argument 2 has shape[0] = 3, expected 37 (as argument 0)");
    int64_t s37[1] = {N};
    MLCCNDArray *ints = mlcc_ndarray_empty(1, s37, MLCC_DTYPE_I32, MLCC_CPU);
    args.values[1].v_tensor = &ints->dl;
    CHECK(mlcc_call(add, &args, &ret, &code) != 0);
    CHECK_EQ_STR(mlcc_last_error(), "add: argument 1 must be float32");
    mlcc_args_init(&args);
    CHECK(mlcc_call(sum, &args, &ret, &code) != 0);
    CHECK_EQ_STR(mlcc_last_error(), "sum: expected 1 argument, got 0");
    /* ... and on the thread that made the call. */
    pthread_t th;
    void *result = NULL;
    pthread_create(&th, NULL, failing_call_thread, sum);
    pthread_join(th, &result);
    CHECK(result == sum);
    CHECK_EQ_STR(mlcc_last_error(), "sum: expected 1 argument, got 0");

    mlcc_ndarray_release(ints);
    mlcc_ndarray_release(short_out);
    mlcc_ndarray_release(a);
    mlcc_ndarray_release(b);
    mlcc_ndarray_release(c);
    mlcc_object_release(&add->obj);
    mlcc_object_release(&scale->obj);
    mlcc_object_release(&sum->obj);
}

static void expect_load_error(const char *name, const char *defines, const char *message) {
    char *path = compile_example(name, defines);
    if (!path) return;
    MLCCModule *m = mlcc_module_load(path);
    CHECK(m == NULL);
    CHECK_MSG(strstr(mlcc_last_error(), message) != NULL && strstr(mlcc_last_error(), path) != NULL,
              "message: %s", mlcc_last_error());
    mlcc_module_release(m);
    unlink(path);
    free(path);
}

int main(void) {
    source_dir = getenv("MLCC_SOURCE_DIR");
    if (!source_dir) TEST_SKIP("MLCC_SOURCE_DIR is not set (run through ctest)");
    if (system("command -v cc >/dev/null 2>&1") != 0)
        TEST_SKIP("no system C compiler (cc) on PATH");
    if (!mkdtemp(tmpdir)) TEST_SKIP("cannot create a temporary folder");

    char *path = compile_example("libexample.so", "");
    if (path) test_example_library(path);

    expect_load_error("libnonames.so", "-DBROKEN_NO_NAMES",
                      "no mlcc_library_function_names symbol");
    expect_load_error("libmissing.so", "-DBROKEN_MISSING_FN",
                      "function 'not_there' is listed but mlcc_fn_not_there is not exported");
    expect_load_error("libabi.so", "-DBROKEN_ABI", "ABI version 999");
    expect_load_error("libnohook.so", "-DBROKEN_NO_HOOK", "no mlcc_library_set_error hook");
    CHECK(mlcc_module_load("/nonexistent/libnothing.so") == NULL);
    CHECK(strstr(mlcc_last_error(), "loading model library /nonexistent/libnothing.so: ") != NULL);

    if (path) unlink(path);
    free(path);
    char cleanup[256];
    snprintf(cleanup, sizeof cleanup, "%s/cc.log", tmpdir);
    unlink(cleanup);
    rmdir(tmpdir);
    return test_finish();
}
