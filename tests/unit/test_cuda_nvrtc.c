/* test_cuda_nvrtc.c - NVRTC through the runtime, without a GPU: a kernel compiles to PTX and
 * to a cubin for sm_90, the cubin cache serves a second request without compiling, a compile
 * error carries NVRTC's log with the line (errors ahead of a long log's warnings), and
 * half/bfloat16 headers are found. Skips (77)
 * where no libnvrtc is installed. */
#include <stdlib.h>
#include <unistd.h>

#include "runtime/cuda.h"
#include "support/strbuf.h"
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

    /* the error ahead of the warnings: 80 unused helpers warn first (a log of ~20 KB, more than
     * the error buffer holds), then ptxas rejects a kernel's static shared memory */
    mlcc_strbuf noisy = STRBUF_INIT;
    for (int i = 0; i < 80; i++)
        sb_printf(&noisy, "static __device__ __forceinline__ float unused_helper_%d(float x) { return x * %d; }\n", i, i);
    sb_append(&noisy, "extern \"C\" __global__ void too_big(float *y) {\n"
                      "    __shared__ float big[20000];\n"
                      "    big[threadIdx.x] = y[threadIdx.x];\n"
                      "    __syncthreads();\n"
                      "    y[threadIdx.x] = big[19999 - threadIdx.x];\n"
                      "}\n");
    CHECK(mlcc_nvrtc_compile(sb_cstr(&noisy), 90, &cubin, &len) != 0);
    err = mlcc_last_error();
    CHECK_MSG(strstr(err, "too_big") && strstr(err, "shared data"), "%s", err);
    sb_free(&noisy);

    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", home);
    CHECK(system(cmd) == 0);
    return test_finish();
}
