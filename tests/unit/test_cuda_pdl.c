/* test_cuda_pdl.c - programmatic dependent launch (runtime/cuda_pdl.h, cuda_module.c).
 *
 * Without a GPU (NVRTC only): the helpers compile to griddepcontrol.wait / launch_dependents /
 * cp.async.bulk.prefetch.L2 for sm_90 and to nothing below (nor with MLCC_PDL_NO_PREFETCH); the "// mlcc-pdl:" declarations are read
 * as documented; every kernel a hand-written source declares as waiting has the wait in its
 * PTX. On a GPU: a producer that lets its dependents start at once and then works for a while,
 * followed by a declared consumer that adds the producer's output into an accumulator, 60
 * times in a row: the accumulator equals the host's sums with PDL (launched through
 * cuLaunchKernelEx on sm_90) and with MLCC_CUDA_PDL=0 (plain launches), directly and replayed
 * from a captured CUDA graph. A consumer that read before its wait would see the previous
 * round's values. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mlcc/mlcc_runtime.h"
#include "pdl_check.h"
#include "runtime/cuda.h"
#include "runtime/cuda_pdl.h"
#include "support/error.h"
#include "test.h"

static const char chain_source[] = MLCC_CUDA_PDL_HELPERS MLCC_PDL_DECLARATION " consume relay\n"
    "/* y = x * step + i, slowly: the trigger first, so a dependent may start meanwhile */\n"
    "extern \"C\" __global__ void produce(float *y, const float *x, float step, int n) {\n"
    "    mlcc_pdl_wait();\n"
    "    mlcc_pdl_launch_dependents();\n"
    "    int i = blockIdx.x * blockDim.x + threadIdx.x;\n"
    "    long long t0 = clock64();\n"
    "    while (clock64() - t0 < 20000) {}\n"
    "    if (i < n) y[i] = x[i] * step + (float)i;\n"
    "}\n"
    "/* nothing but the wait: with the early trigger (the default) its dependent, consume, may be\n"
    " * scheduled while produce still runs, and must still see produce's y after its own wait */\n"
    "extern \"C\" __global__ void relay(int n) {\n"
    "    mlcc_pdl_begin(0, 0);\n"
    "}\n"
    "extern \"C\" __global__ void consume(float *acc, const float *y, const float *x, int n) {\n"
    "    mlcc_pdl_begin(x, (long long)n * 4);\n"
    "    int i = blockIdx.x * blockDim.x + threadIdx.x;\n"
    "    if (i < n) acc[i] += y[i];\n"
    "}\n";

static void test_helpers_compile(void) {
    static const char src[] = MLCC_CUDA_PDL_HELPERS
        "extern \"C\" __global__ void k(float *y, const float *w) {\n"
        "    mlcc_pdl_begin(w, 4096);\n"
        "    y[threadIdx.x] = w[threadIdx.x];\n"
        "}\n";
    char *ptx = NULL;
    CHECK_MSG(mlcc_nvrtc_compile_ptx(src, 90, &ptx) == 0, "%s", mlcc_last_error());
    CHECK(ptx && strstr(ptx, "griddepcontrol.wait") && strstr(ptx, "griddepcontrol.launch_dependents") &&
          strstr(ptx, "cp.async.bulk.prefetch.L2.global"));
    free(ptx);
    char *cubin = NULL; /* ptxas takes the bulk prefetch too */
    size_t cubin_len = 0;
    CHECK_MSG(mlcc_nvrtc_compile(src, 90, &cubin, &cubin_len) == 0 && cubin_len > 0, "%s", mlcc_last_error());
    free(cubin);
    ptx = NULL;
    CHECK_MSG(mlcc_nvrtc_compile_ptx(src, 80, &ptx) == 0, "%s", mlcc_last_error());
    CHECK(ptx && !strstr(ptx, "griddepcontrol") && !strstr(ptx, "prefetch")); /* below sm_90: no such instruction */
    free(ptx);
    ptx = NULL;
    char *no_prefetch = malloc(strlen(src) + 64);
    snprintf(no_prefetch, strlen(src) + 64, "#define MLCC_PDL_NO_PREFETCH\n%s", src); /* MLCC_CUDA_PDL_PREFETCH=0 */
    CHECK_MSG(mlcc_nvrtc_compile_ptx(no_prefetch, 90, &ptx) == 0, "%s", mlcc_last_error());
    CHECK(ptx && strstr(ptx, "griddepcontrol.wait") && !strstr(ptx, "prefetch"));
    free(ptx);
    free(no_prefetch);
    /* MLCC_PDL_EARLY_TRIGGER (cuda_module.c's default): the trigger before the wait, else after it */
    for (int early = 0; early < 2; early++) {
        char *edited = malloc(strlen(src) + 64);
        snprintf(edited, strlen(src) + 64, "%s%s", early ? "#define MLCC_PDL_EARLY_TRIGGER\n" : "", src);
        ptx = NULL;
        CHECK_MSG(mlcc_nvrtc_compile_ptx(edited, 90, &ptx) == 0, "%s", mlcc_last_error());
        const char *wait = ptx ? strstr(ptx, "griddepcontrol.wait") : NULL;
        const char *trigger = ptx ? strstr(ptx, "griddepcontrol.launch_dependents") : NULL;
        CHECK_MSG(wait && trigger && (early ? trigger < wait : trigger > wait), "early trigger %d: the trigger is %s the wait",
                  early, trigger && wait && trigger < wait ? "before" : "after or without");
        free(ptx);
        free(edited);
    }
}

/* MLCC_CUDA_WEIGHT_EVICT_FIRST=1: the GEMV sources' weight loads carry an evict-first L2 policy
 * (createpolicy + ld...L2::cache_hint) and still go through ptxas; without it, none. */
static void test_weight_hint_compiles(void) {
    const char *sources[] = {mlcc_cuda_linear_kernel_source(), mlcc_cuda_linear_q4_kernel_source()};
    for (int i = 0; i < 2; i++) {
        size_t n = strlen(sources[i]) + 64;
        char *hinted = malloc(n);
        snprintf(hinted, n, "#define MLCC_WEIGHT_EVICT_FIRST\n%s", sources[i]);
        char *ptx = NULL;
        CHECK_MSG(mlcc_nvrtc_compile_ptx(hinted, 90, &ptx) == 0, "%s", mlcc_last_error());
        CHECK_MSG(ptx && strstr(ptx, "createpolicy.fractional.L2::evict_first") &&
                      strstr(ptx, "ld.global.nc.L1::no_allocate.L2::cache_hint.v4.u32"),
                  "source %d: no evict-first weight loads in the PTX", i);
        free(ptx);
        char *cubin = NULL;
        size_t len = 0;
        CHECK_MSG(mlcc_nvrtc_compile(hinted, 90, &cubin, &len) == 0 && len > 0, "%s", mlcc_last_error());
        free(cubin);
        ptx = NULL;
        CHECK_MSG(mlcc_nvrtc_compile_ptx(sources[i], 90, &ptx) == 0, "%s", mlcc_last_error());
        CHECK(ptx && !strstr(ptx, "createpolicy"));
        free(ptx);
        free(hinted);
    }
}

/* The PTX of entry `name` in ptx (up to the next entry), or NULL */
static char *entry_body(const char *ptx, const char *name) {
    char head[96];
    snprintf(head, sizeof head, ".entry %s(", name);
    const char *b = ptx ? strstr(ptx, head) : NULL;
    if (!b) return NULL;
    const char *e = strstr(b + 1, ".entry ");
    size_t n = e ? (size_t)(e - b) : strlen(b);
    char *body = malloc(n + 1);
    memcpy(body, b, n);
    body[n] = 0;
    return body;
}

/* MLCC_CUDA_EARLY_WEIGHTS (the default, MLCC_EARLY_WEIGHTS in the source): the block GEMVs issue
 * a weight load before griddepcontrol.wait; without it every load comes after the wait. */
static void test_early_weights_compile(void) {
    const char *sources[] = {mlcc_cuda_linear_kernel_source(), mlcc_cuda_linear_q4_kernel_source()};
    const char *entries[] = {"mlcc_gemv_f16ns_2_1", "mlcc_gemv_q4i_norm_silu_16_1"};
    for (int i = 0; i < 2; i++)
        for (int early = 0; early < 2; early++) {
            size_t n = strlen(sources[i]) + 96;
            char *src = malloc(n);
            snprintf(src, n, "%s#define MLCC_WEIGHT_EVICT_FIRST\n%s", early ? "#define MLCC_EARLY_WEIGHTS\n" : "", sources[i]);
            char *ptx = NULL;
            CHECK_MSG(mlcc_nvrtc_compile_ptx(src, 90, &ptx) == 0, "%s", mlcc_last_error());
            char *body = entry_body(ptx, entries[i]);
            const char *wait = body ? strstr(body, "griddepcontrol.wait") : NULL;
            const char *load = body ? strstr(body, "ld.global.nc.L1::no_allocate.L2::cache_hint.v4.u32") : NULL;
            CHECK_MSG(wait && load && (early ? load < wait : load > wait), "%s%s: the first weight load is %s the wait",
                      entries[i], early ? " (early)" : "", load && wait && load < wait ? "before" : "after or without");
            free(body);
            free(ptx);
            if (early) { /* and through ptxas */
                char *cubin = NULL;
                size_t len = 0;
                CHECK_MSG(mlcc_nvrtc_compile(src, 90, &cubin, &len) == 0 && len > 0, "%s", mlcc_last_error());
                free(cubin);
            }
            free(src);
        }
}

static void test_declarations(void) {
    CHECK(mlcc_cuda_source_declares_wait("// mlcc-pdl: *\nkernels", "anything"));
    CHECK(mlcc_cuda_source_declares_wait("x\n// mlcc-pdl: mlcc_gemv_ mlcc_add\n", "mlcc_gemv_f16b_1_1"));
    CHECK(mlcc_cuda_source_declares_wait("x\n// mlcc-pdl: mlcc_gemv_ mlcc_add\n", "mlcc_add_f32"));
    CHECK(!mlcc_cuda_source_declares_wait("x\n// mlcc-pdl: mlcc_gemv_ mlcc_add\n", "mlcc_f32_to_f16"));
    CHECK(mlcc_cuda_source_declares_wait("// mlcc-pdl: a\n// mlcc-pdl:\tb\n", "b1"));
    CHECK(!mlcc_cuda_source_declares_wait("/* no declaration */ mlcc_pdl_wait();", "mlcc_pdl_wait"));
    CHECK(!mlcc_cuda_source_declares_wait("// mlcc-pdl:", "k")); /* an empty line declares nothing */
    CHECK(!mlcc_cuda_source_declares_wait("// mlcc-pdl: k1\n", "k"));
}

/* Every declared entry of the hand-written sources waits. */
static void test_hand_written_sources(void) {
    struct { const char *name, *source; int min_declared; } sources[] = {
        {"cuda_linear.c", mlcc_cuda_linear_kernel_source(), 24},
        {"cuda_linear_q4.c", mlcc_cuda_linear_q4_kernel_source(), 24},
        {"cuda_sample.c", mlcc_cuda_sample_kernel_source(), 1},
        {"cuda_attention.c", mlcc_cuda_flash_prefill_kernel_source(), 24},
        {"the chain above", chain_source, 1},
    };
    for (size_t i = 0; i < sizeof sources / sizeof sources[0]; i++) {
        int declared = 0;
        int missing = pdl_check_source(sources[i].source, &declared);
        CHECK_MSG(missing == 0, "%s: %d declared kernels without the wait", sources[i].name, missing);
        CHECK_MSG(declared >= sources[i].min_declared, "%s: %d kernels declared, expected >= %d", sources[i].name,
                  declared, sources[i].min_declared);
        printf("%s: %d kernels declared as waiting, all with griddepcontrol.wait\n", sources[i].name, declared);
    }
}

enum { N = 300000, ROUNDS = 60 };

/* ROUNDS x (produce, [relay,] consume), directly or through a captured graph; acc's sums vs the
 * host. */
static void run_chain(void *produce, void *relay, void *consume, int use_graph, const char *label) {
    DLDevice gpu = {kDLCUDA, 0};
    float *x = malloc(N * sizeof *x), *acc = malloc(N * sizeof *acc);
    double *want = calloc(N, sizeof *want);
    for (int i = 0; i < N; i++) x[i] = (float)(i % 17) - 8.0f;
    MLCCNDArray *dx = mlcc_ndarray_empty(1, (int64_t[]){N}, MLCC_DTYPE_F32, gpu);
    MLCCNDArray *dy = mlcc_ndarray_empty(1, (int64_t[]){N}, MLCC_DTYPE_F32, gpu);
    MLCCNDArray *dacc = mlcc_ndarray_empty(1, (int64_t[]){N}, MLCC_DTYPE_F32, gpu);
    CHECK(dx && dy && dacc);
    if (!dx || !dy || !dacc) return;
    CHECK_EQ_INT(mlcc_ndarray_copy_from_bytes(dx, x, N * sizeof *x), 0);
    CHECK_EQ_INT(mlcc_cuda_memset(0, dy->dl.data, 0, N * sizeof(float)), 0);
    CHECK_EQ_INT(mlcc_cuda_memset(0, dacc->dl.data, 0, N * sizeof(float)), 0);
    void *xp = dx->dl.data, *yp = dy->dl.data, *ap = dacc->dl.data;
    int n = N;
    uint32_t grid[3] = {(N + 255) / 256, 1, 1}, block[3] = {256, 1, 1};
    mlcc_cuda_graph *g = NULL;
    CHECK_EQ_INT(mlcc_cuda_synchronize(0), 0); /* the graph runs on the device's own stream */
    if (use_graph) CHECK_EQ_INT(mlcc_cuda_capture_begin(0), 0);
    for (int r = 0; r < ROUNDS; r++) {
        float step = (float)(r % 5) + 0.5f;
        void *pargs[] = {&yp, &xp, &step, &n};
        void *cargs[] = {&ap, &yp, &xp, &n};
        CHECK_EQ_INT(mlcc_cuda_launch(0, produce, grid, block, 0, pargs), 0);
        if (relay) CHECK_EQ_INT(mlcc_cuda_launch(0, relay, (uint32_t[3]){1, 1, 1}, (uint32_t[3]){32, 1, 1}, 0, (void *[]){&n}), 0);
        CHECK_EQ_INT(mlcc_cuda_launch(0, consume, grid, block, 0, cargs), 0);
        for (int i = 0; i < N; i++) want[i] += (double)(x[i] * step + (float)i);
    }
    if (use_graph) {
        g = mlcc_cuda_capture_end(1);
        CHECK_MSG(g != NULL, "%s", mlcc_last_error());
        if (g) CHECK_EQ_INT(mlcc_cuda_graph_launch(g), 0);
    }
    CHECK_EQ_INT(mlcc_ndarray_copy_to_bytes(dacc, acc, N * sizeof *acc), 0);
    int bad = 0;
    for (int i = 0; i < N; i++) {
        double tol = 1e-6 * fabs(want[i]) + 1e-3;
        if (fabs(acc[i] - want[i]) > tol && bad++ < 3) printf("%s: acc[%d] = %g, want %g\n", label, i, acc[i], want[i]);
    }
    CHECK_MSG(bad == 0, "%s: %d of %d sums differ", label, bad, N);
    mlcc_cuda_graph_free(g);
    mlcc_ndarray_release(dx), mlcc_ndarray_release(dy), mlcc_ndarray_release(dacc);
    free(x), free(acc), free(want);
}

static void test_chain(void) {
    mlcc_cuda_module *m = mlcc_cuda_module_load_source(0, chain_source);
    CHECK_MSG(m != NULL, "%s", mlcc_last_error());
    if (!m) return;
    void *produce = mlcc_cuda_module_kernel(m, "produce"), *consume = mlcc_cuda_module_kernel(m, "consume");
    void *relay = mlcc_cuda_module_kernel(m, "relay");
    CHECK(produce && consume && relay);
    if (!produce || !consume || !relay) return;
    CHECK(!mlcc_cuda_kernel_waits(produce) && mlcc_cuda_kernel_waits(consume));
    CHECK(mlcc_cuda_module_kernel(m, "consume") == consume); /* one handle per name */
    int pdl_device = mlcc_cuda_device_arch(0) >= 90;
    unsetenv("MLCC_CUDA_PDL");
    long before = mlcc_cuda_get_stats().pdl_launches;
    run_chain(produce, NULL, consume, 0, "pdl");
    long pdl = mlcc_cuda_get_stats().pdl_launches - before;
    printf("sm_%d: %ld of %d launches with programmatic stream serialization\n", mlcc_cuda_device_arch(0), pdl,
           2 * ROUNDS);
    if (pdl_device) CHECK_EQ_INT(pdl, ROUNDS); /* the consumers; assumes the driver has cuLaunchKernelEx (12.x+) */
    run_chain(produce, NULL, consume, 1, "pdl, graph");
    /* a kernel between them (in the model: a norm between two projections) */
    run_chain(produce, relay, consume, 0, "pdl, relay");
    run_chain(produce, relay, consume, 1, "pdl, relay, graph");
    setenv("MLCC_CUDA_PDL_EARLY_TRIGGER", "0", 1); /* read when a module loads: the trigger after the wait */
    mlcc_cuda_module *late = mlcc_cuda_module_load_source(0, chain_source);
    unsetenv("MLCC_CUDA_PDL_EARLY_TRIGGER");
    CHECK_MSG(late != NULL, "%s", mlcc_last_error());
    if (late) {
        run_chain(mlcc_cuda_module_kernel(late, "produce"), mlcc_cuda_module_kernel(late, "relay"),
                  mlcc_cuda_module_kernel(late, "consume"), 0, "pdl, relay, MLCC_CUDA_PDL_EARLY_TRIGGER=0");
        mlcc_cuda_module_free(late);
    }
    setenv("MLCC_CUDA_PDL", "0", 1);
    before = mlcc_cuda_get_stats().pdl_launches;
    run_chain(produce, NULL, consume, 0, "MLCC_CUDA_PDL=0");
    run_chain(produce, NULL, consume, 1, "MLCC_CUDA_PDL=0, graph");
    CHECK_EQ_INT(mlcc_cuda_get_stats().pdl_launches - before, 0);
    unsetenv("MLCC_CUDA_PDL");
    mlcc_cuda_pdl_hold(1); /* (nested) holds launch without the attribute too, and release */
    mlcc_cuda_pdl_hold(1);
    before = mlcc_cuda_get_stats().pdl_launches;
    run_chain(produce, NULL, consume, 0, "held");
    mlcc_cuda_pdl_hold(0);
    run_chain(produce, NULL, consume, 0, "held once more");
    CHECK_EQ_INT(mlcc_cuda_get_stats().pdl_launches - before, 0);
    mlcc_cuda_pdl_hold(0);
    run_chain(produce, NULL, consume, 0, "released");
    if (pdl_device) CHECK_EQ_INT(mlcc_cuda_get_stats().pdl_launches - before, ROUNDS);
    CHECK_EQ_INT(mlcc_cuda_synchronize(0), 0);
    mlcc_cuda_module_free(m);
}

int main(void) {
    if (!mlcc_nvrtc_available()) TEST_SKIP("%s", mlcc_nvrtc_status());
    test_helpers_compile();
    test_weight_hint_compiles();
    test_early_weights_compile();
    test_declarations();
    test_hand_written_sources();
    if (!mlcc_cuda_available()) {
        if (test_checks_failed) return test_finish();
        TEST_SKIP("no CUDA device (%s); the NVRTC part passed", mlcc_cuda_status());
    }
    test_chain();
    return test_finish();
}
