/* test_cuda_nvrtc.c - NVRTC through the runtime, without a GPU: a kernel compiles to PTX and
 * to a cubin for sm_90, the cubin cache serves a second request without compiling, a compile
 * error carries NVRTC's log with the line, and half/bfloat16 headers are found. Skips (77)
 * where no libnvrtc is installed. */
#include <stdlib.h>
#include <unistd.h>

#include "runtime/cuda.h"
#include "test.h"

static const char good[] =
    "#include <cuda_fp16.h>\n#include <cuda_bf16.h>\n"
    "extern \"C\" __global__ void scale(__half *y, const __nv_bfloat16 *x, long long n) {\n"
    "    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;\n"
    "    if (i < n) y[i] = __float2half(__bfloat162float(x[i]) * 2.0f);\n"
    "}\n";

static const char bad[] = "extern \"C\" __global__ void broken(float *y) {\n"
                          "    y[0] = undefined_name;\n"
                          "}\n";

int main(void) {
    if (!mlcc_nvrtc_available()) TEST_SKIP("%s", mlcc_nvrtc_status());
    printf("%s\n", mlcc_nvrtc_status());
    char home[] = "/tmp/mlcc_nvrtc_test_XXXXXX";
    CHECK(mkdtemp(home) != NULL);
    setenv("MLCC_HOME", home, 1);
    unsetenv("MLCC_JIT_POLICY");

    char *ptx = NULL;
    CHECK_MSG(mlcc_nvrtc_compile_ptx(good, 90, &ptx) == 0, "%s", mlcc_last_error());
    CHECK(ptx && strstr(ptx, ".entry scale") != NULL);
    CHECK(ptx && strstr(ptx, ".target sm_90") != NULL);
    free(ptx);

    mlcc_cuda_stats s0 = mlcc_cuda_get_stats();
    char *cubin = NULL, *again = NULL;
    size_t len = 0, len2 = 0;
    CHECK_MSG(mlcc_nvrtc_compile(good, 90, &cubin, &len) == 0, "%s", mlcc_last_error());
    CHECK(len > 4 && memcmp(cubin, "\177ELF", 4) == 0);
    CHECK_EQ_INT(mlcc_nvrtc_compile(good, 90, &again, &len2), 0);
    mlcc_cuda_stats s1 = mlcc_cuda_get_stats();
    CHECK_EQ_INT(s1.nvrtc_compiles - s0.nvrtc_compiles, 1);
    CHECK_EQ_INT(s1.cache_hits - s0.cache_hits, 1);
    CHECK(len == len2 && again && memcmp(cubin, again, len) == 0);
    free(cubin), free(again);

    /* another arch is another cache entry */
    CHECK_EQ_INT(mlcc_nvrtc_compile(good, 80, &cubin, &len), 0);
    CHECK_EQ_INT(mlcc_cuda_get_stats().nvrtc_compiles - s1.nvrtc_compiles, 1);
    free(cubin);

    CHECK(mlcc_nvrtc_compile(bad, 90, &cubin, &len) != 0);
    const char *err = mlcc_last_error();
    CHECK_MSG(strstr(err, "undefined_name") && strstr(err, "(2)"), "%s", err);
    CHECK(mlcc_nvrtc_compile(good, 7, &cubin, &len) != 0);

    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", home);
    CHECK(system(cmd) == 0);
    return test_finish();
}
