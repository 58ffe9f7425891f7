/* test_model_library.c - a model library (kernels + VM program + metadata in one shared object)
 * is built and written, then loaded and run in a separate process linked against the runtime
 * alone (tests/standalone/run_model_library), and its output matches float64. */
#include <sys/wait.h>
#include <unistd.h>

#include "codegen/library.h"
#include "mlp_fixture.h"
#include "support/error.h"
#include "support/file.h"
#include "test.h"

static uint64_t rng = 7;
static float rnd(void) {
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((double)(rng >> 11) / (double)(1ull << 53) - 0.5);
}

static int run_process(char *const argv[]) {
    pid_t pid = fork();
    if (pid == 0) {
        execv(argv[0], argv);
        _exit(127);
    }
    int status;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

int main(void) {
    ir_scope_begin();
    char dir[] = "/tmp/mlcc-lib-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char *lib = mlcc_path_join(dir, "mlp.so");
    int nk;
    mlcc_prim_func **kernels = mlp_kernels(&nk);
    mlcc_vm_exec *program = mlp_build_program();
    json_t *extra = json_pack("{s:s,s:{s:i}}", "model_type", "test-mlp", "bounds", "max_batch_size", MLP_MAX_N);
    mlcc_library_spec spec = {kernels, nk, program, extra};
    int rc = mlcc_build_library(&spec, lib);
    CHECK_MSG(rc == 0, "%s", mlcc_last_error());

    /* the metadata names the kernels with their origins, the functions and the builtins */
    json_t *meta = mlcc_library_metadata(&spec);
    CHECK_EQ_STR(json_string_value(json_object_get(meta, "model_type")), "test-mlp");
    CHECK_EQ_INT(json_array_size(json_object_get(meta, "kernels")), 2);
    CHECK(strstr(json_string_value(json_object_get(json_array_get(json_object_get(meta, "kernels"), 0), "origin")), "te:") != NULL);
    CHECK_EQ_STR(json_string_value(json_object_get(json_array_get(json_object_get(meta, "functions"), 0), "name")), "main");
    CHECK_EQ_INT(json_array_size(json_object_get(meta, "runtime_builtins")), 5);
    json_decref(meta);
    json_decref(extra);

    int64_t n = 11;
    size_t nx = (size_t)n * MLP_IN, n1 = MLP_IN * MLP_HID, n2 = MLP_HID * MLP_OUT;
    float *in = malloc(sizeof(float) * (nx + n1 + n2));
    for (size_t i = 0; i < nx + n1 + n2; i++) in[i] = rnd();
    char *in_path = mlcc_path_join(dir, "in.bin"), *out_path = mlcc_path_join(dir, "out.bin");
    CHECK(mlcc_write_file_atomic(in_path, in, sizeof(float) * (nx + n1 + n2)) == 0);

    const char *bindir = getenv("MLCC_BINARY_DIR");
    char *runner = mlcc_path_join(bindir ? bindir : ".", "run_model_library");
    char shape_x[32], shape_1[32], shape_2[32];
    snprintf(shape_x, sizeof shape_x, "%ldx%d", (long)n, MLP_IN);
    snprintf(shape_1, sizeof shape_1, "%dx%d", MLP_IN, MLP_HID);
    snprintf(shape_2, sizeof shape_2, "%dx%d", MLP_HID, MLP_OUT);
    char *argv[] = {runner, lib, "main", in_path, out_path, shape_x, shape_1, shape_2, NULL};
    CHECK_EQ_INT(run_process(argv), 0);

    size_t out_len = 0;
    float *out = (float *)mlcc_read_file(out_path, &out_len);
    CHECK(out && out_len == sizeof(float) * (size_t)n * MLP_OUT);
    if (out && out_len == sizeof(float) * (size_t)n * MLP_OUT) {
        double max_err = mlp_max_error(in, in + nx, in + nx + n1, out, n);
        CHECK_MSG(max_err < 1e-5, "max error %g", max_err);
    }
    /* a wrong input shape (same bytes, [n*IN, 1]) fails in the separate process with a message */
    snprintf(shape_x, sizeof shape_x, "%ldx1", (long)n * MLP_IN);
    CHECK_EQ_INT(run_process(argv), 1);

    /* `mlcc show` lists the kernels with their origins and prints the VM program */
    char *mlcc = mlcc_path_join(bindir ? bindir : ".", "mlcc");
    char *show_path = mlcc_path_join(dir, "show.txt");
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "'%s' show --kernels '%s' > '%s' && '%s' show --program '%s' >> '%s'", mlcc, lib,
             show_path, mlcc, lib, show_path);
    CHECK_EQ_INT(system(cmd), 0);
    char *shown = mlcc_read_file(show_path, NULL);
    CHECK(shown && strstr(shown, "dense_relu") && strstr(shown, "te: mm h") && strstr(shown, "vm.builtin.alloc_tensor") &&
          strstr(shown, "vm.function main(params=3"));
    if (shown) fputs(shown, stdout);
    free(shown);
    unlink(show_path);
    free(show_path);
    free(mlcc);

    free(out);
    unlink(in_path);
    unlink(out_path);
    unlink(lib);
    rmdir(dir);
    free(in), free(in_path), free(out_path), free(runner), free(lib);
    mlcc_vm_exec_free(program);
    ir_scope_end();
    return test_finish();
}
