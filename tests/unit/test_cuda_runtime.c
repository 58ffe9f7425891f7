/* test_cuda_runtime.c - the CUDA device of the runtime: NDArrays on kDLCUDA (alloc, copies in
 * every direction, views), small uploads through pinned staging (the caller's buffer reused at
 * once, more uploads than slots, order kept), the caching allocator's reuse, memset, streams, and a kernel
 * compiled by NVRTC from source, loaded and launched, checked against the same arithmetic on
 * the CPU. Without a GPU the test checks the clean failure ("no CUDA device ...") and skips. */
#include <stdint.h>

#include "mlcc/mlcc_runtime.h"
#include "runtime/cuda.h"
#include "test.h"

static const char saxpy_source[] =
    "extern \"C\" __global__ void saxpy(float *y, const float *x, float a, long long n) {\n"
    "    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;\n"
    "    if (i < n) y[i] = a * x[i] + y[i];\n"
    "}\n";

static void test_without_device(void) {
    MLCCNDArray *a = mlcc_ndarray_empty(1, (int64_t[]){4}, MLCC_DTYPE_F32, (DLDevice){kDLCUDA, 0});
    CHECK(a == NULL);
    CHECK_MSG(strstr(mlcc_last_error(), "not available") || strstr(mlcc_last_error(), "CUDA"),
              "%s", mlcc_last_error());
    CHECK(mlcc_cuda_device_count() == 0);
    CHECK(mlcc_cuda_status()[0] != '\0');
}

static void test_copies(void) {
    DLDevice gpu = {kDLCUDA, 0};
    enum { N = 1000 };
    float host[N], back[N];
    for (int i = 0; i < N; i++) host[i] = (float)i * 0.5f - 7.0f;
    MLCCNDArray *a = mlcc_ndarray_empty(2, (int64_t[]){10, 100}, MLCC_DTYPE_F32, gpu);
    MLCCNDArray *b = mlcc_ndarray_empty(2, (int64_t[]){10, 100}, MLCC_DTYPE_F32, gpu);
    MLCCNDArray *c = mlcc_ndarray_empty(2, (int64_t[]){10, 100}, MLCC_DTYPE_F32, MLCC_CPU);
    CHECK(a && b && c);
    if (!a || !b || !c) return;
    CHECK_EQ_INT(a->dl.device.device_type, kDLCUDA);
    CHECK_EQ_INT(mlcc_ndarray_copy_from_bytes(a, host, sizeof host), 0);
    CHECK_EQ_INT(mlcc_ndarray_copy(b, a), 0); /* device to device */
    CHECK_EQ_INT(mlcc_ndarray_copy(c, b), 0); /* device to host */
    CHECK(memcmp(c->dl.data, host, sizeof host) == 0);
    memset(back, 0, sizeof back);
    CHECK_EQ_INT(mlcc_ndarray_copy_to_bytes(b, back, sizeof back), 0);
    CHECK(memcmp(back, host, sizeof host) == 0);
    /* a view at an offset of a device array */
    MLCCNDArray *row = mlcc_ndarray_view(a, 100 * sizeof(float) * 3, 1, (int64_t[]){100}, MLCC_DTYPE_F32);
    CHECK(row != NULL);
    if (row) {
        float r[100];
        CHECK_EQ_INT(mlcc_ndarray_copy_to_bytes(row, r, sizeof r), 0);
        CHECK(memcmp(r, host + 300, sizeof r) == 0);
    }
    /* host to device through mlcc_ndarray_copy, then memset */
    CHECK_EQ_INT(mlcc_ndarray_copy(b, c), 0);
    CHECK_EQ_INT(mlcc_cuda_memset(0, b->dl.data, 0, 40), 0);
    CHECK_EQ_INT(mlcc_ndarray_copy_to_bytes(b, back, sizeof back), 0);
    CHECK(back[0] == 0.0f && back[9] == 0.0f && back[10] == host[10]);
    /* a copy size mismatch is refused */
    CHECK(mlcc_ndarray_copy_to_bytes(b, back, 12) != 0);
    mlcc_ndarray_release(row);
    mlcc_ndarray_release(a);
    mlcc_ndarray_release(b);
    mlcc_ndarray_release(c);
}

/* Small uploads return before their copies run (cuda_device.c's staging): the bytes must be
 * taken at the call, land in order, and a slot must wait for its previous copy before reuse. */
static void test_staged_uploads(void) {
    DLDevice gpu = {kDLCUDA, 0};
    enum { ROWS = 40, COLS = 1000 }; /* 4 KB a row: staged; the whole array (160 KB): waited for */
    MLCCNDArray *a = mlcc_ndarray_empty(2, (int64_t[]){ROWS, COLS}, MLCC_DTYPE_F32, gpu);
    MLCCNDArray *b = mlcc_ndarray_empty(2, (int64_t[]){ROWS, COLS}, MLCC_DTYPE_F32, gpu);
    float *host = malloc(sizeof(float) * ROWS * COLS), *back = malloc(sizeof(float) * ROWS * COLS);
    CHECK(a && b && host && back);
    if (!a || !b || !host || !back) goto done;
    for (int i = 0; i < ROWS * COLS; i++) host[i] = -1.0f;
    CHECK_EQ_INT(mlcc_ndarray_copy_from_bytes(a, host, sizeof(float) * ROWS * COLS), 0);
    mlcc_cuda_mem_stats before = mlcc_cuda_memory_stats(0);
    float row[COLS];
    for (int r = 0; r < ROWS; r++) {
        MLCCNDArray *v = mlcc_ndarray_view(a, sizeof(float) * COLS * r, 1, (int64_t[]){COLS}, MLCC_DTYPE_F32);
        CHECK(v != NULL);
        if (!v) continue;
        /* row 7 is written twice: the second upload must win */
        for (int pass = 0; pass < (r == 7 ? 2 : 1); pass++) {
            for (int c = 0; c < COLS; c++) row[c] = (float)(r * COLS + c) + 1000000.0f * pass;
            CHECK_EQ_INT(mlcc_ndarray_copy_from_bytes(v, row, sizeof row), 0);
            for (int c = 0; c < COLS; c++) row[c] = 12345.0f; /* the caller's buffer reused at once */
        }
        mlcc_ndarray_release(v);
    }
    CHECK_EQ_INT(mlcc_ndarray_copy(b, a), 0); /* device to device, after the uploads in the stream */
    CHECK_EQ_INT(mlcc_ndarray_copy_to_bytes(b, back, sizeof(float) * ROWS * COLS), 0);
    size_t bad = 0;
    for (int i = 0; i < ROWS * COLS; i++) bad += back[i] != (float)i + (i / COLS == 7 ? 1000000.0f : 0.0f);
    CHECK_MSG(bad == 0, "%zu of %d values wrong after staged uploads", bad, ROWS * COLS);
    mlcc_cuda_mem_stats after = mlcc_cuda_memory_stats(0);
    const char *off = getenv("MLCC_CUDA_STAGING");
    if (off && strcmp(off, "0") == 0) {
        CHECK_EQ_INT((int)(after.staged_uploads - before.staged_uploads), 0);
    } else {
        long staged = after.staged_uploads - before.staged_uploads, reuses = after.slot_reuses - before.slot_reuses;
        printf("staged uploads %ld, slot reuses %ld\n", staged, reuses);
        /* every row upload was staged (41), unless the driver gave no pinned memory (said in the log) */
        CHECK_MSG(staged == ROWS + 1 || staged == 0, "%ld staged uploads", staged);
        if (staged) CHECK_MSG(reuses >= ROWS + 1 - 8, "%ld slot reuses for %ld uploads through 8 slots", reuses, staged);
        else printf("staging unavailable on this driver: uploads were waited for\n");
    }
done:
    free(host), free(back);
    mlcc_ndarray_release(a);
    mlcc_ndarray_release(b);
}

static void test_allocator(void) {
    DLDevice gpu = {kDLCUDA, 0};
    mlcc_cuda_empty_cache(0);
    mlcc_cuda_mem_stats s0 = mlcc_cuda_memory_stats(0);
    CHECK_EQ_INT(s0.cached, 0);
    MLCCNDArray *a = mlcc_ndarray_empty(1, (int64_t[]){12345}, MLCC_DTYPE_F32, gpu);
    void *first = a ? a->dl.data : NULL;
    mlcc_ndarray_release(a);
    mlcc_cuda_mem_stats s1 = mlcc_cuda_memory_stats(0);
    CHECK(s1.cached > 0);
    CHECK_EQ_INT(s1.in_use, s0.in_use);
    /* the same size again comes from the cache, at the same address */
    MLCCNDArray *b = mlcc_ndarray_empty(1, (int64_t[]){12345}, MLCC_DTYPE_F32, gpu);
    mlcc_cuda_mem_stats s2 = mlcc_cuda_memory_stats(0);
    CHECK(b && b->dl.data == first);
    CHECK_EQ_INT(s2.reuses, s1.reuses + 1);
    CHECK_EQ_INT(s2.device_allocs, s1.device_allocs);
    mlcc_ndarray_release(b);
    /* 1000 allocate/free rounds of mixed sizes leave nothing in use */
    for (int i = 0; i < 1000; i++) {
        MLCCNDArray *t = mlcc_ndarray_empty(1, (int64_t[]){1 + (i % 7) * 1000}, MLCC_DTYPE_F32, gpu);
        CHECK(t != NULL);
        mlcc_ndarray_release(t);
    }
    mlcc_cuda_mem_stats s3 = mlcc_cuda_memory_stats(0);
    CHECK_EQ_INT(s3.in_use, s0.in_use);
    CHECK(s3.device_allocs - s2.device_allocs <= 7);
    mlcc_cuda_empty_cache(0);
    CHECK_EQ_INT(mlcc_cuda_memory_stats(0).cached, 0);
    /* an absurd request fails with a message instead of crashing */
    MLCCNDArray *huge = mlcc_ndarray_empty(1, (int64_t[]){(int64_t)1 << 45}, MLCC_DTYPE_F32, gpu);
    CHECK(huge == NULL);
    CHECK_MSG(strstr(mlcc_last_error(), "cuMemAlloc") != NULL, "%s", mlcc_last_error());
    /* a device that does not exist */
    CHECK(mlcc_ndarray_empty(1, (int64_t[]){4}, MLCC_DTYPE_F32, (DLDevice){kDLCUDA, 99}) == NULL);
}

static void test_kernel(void) {
    mlcc_cuda_module *m = mlcc_cuda_module_load_source(0, saxpy_source);
    CHECK_MSG(m != NULL, "%s", mlcc_last_error());
    if (!m) return;
    void *k = mlcc_cuda_module_kernel(m, "saxpy");
    CHECK(k != NULL);
    CHECK(mlcc_cuda_module_kernel(m, "nope") == NULL);
    DLDevice gpu = {kDLCUDA, 0};
    enum { N = 100003 };
    float *x = malloc(N * sizeof *x), *y = malloc(N * sizeof *y), *out = malloc(N * sizeof *out);
    for (int i = 0; i < N; i++) x[i] = (float)(i % 113) * 0.25f, y[i] = (float)(i % 7) - 3.0f;
    MLCCNDArray *dx = mlcc_ndarray_empty(1, (int64_t[]){N}, MLCC_DTYPE_F32, gpu);
    MLCCNDArray *dy = mlcc_ndarray_empty(1, (int64_t[]){N}, MLCC_DTYPE_F32, gpu);
    mlcc_ndarray_copy_from_bytes(dx, x, N * sizeof *x);
    mlcc_ndarray_copy_from_bytes(dy, y, N * sizeof *y);
    float a = 1.5f;
    long long n = N;
    void *yp = dy->dl.data, *xp = dx->dl.data;
    void *args[] = {&yp, &xp, &a, &n};
    void *stream = mlcc_cuda_stream_create(0);
    CHECK(stream != NULL);
    CHECK_EQ_INT(mlcc_cuda_set_stream(0, stream), 0);
    uint32_t grid[3] = {(N + 255) / 256, 1, 1}, block[3] = {256, 1, 1};
    CHECK_EQ_INT(mlcc_cuda_launch(0, k, grid, block, 0, args), 0);
    CHECK_EQ_INT(mlcc_ndarray_copy_to_bytes(dy, out, N * sizeof *out), 0);
    int bad = 0;
    for (int i = 0; i < N; i++) bad += out[i] != a * x[i] + y[i];
    CHECK_EQ_INT(bad, 0);
    CHECK_EQ_INT(mlcc_cuda_set_stream(0, NULL), 0);
    mlcc_cuda_stream_destroy(0, stream);
    /* an impossible launch reports the driver's error */
    uint32_t block_big[3] = {4096, 1, 1};
    CHECK(mlcc_cuda_launch(0, k, grid, block_big, 0, args) != 0);
    CHECK_MSG(strstr(mlcc_last_error(), "cuLaunchKernel") != NULL, "%s", mlcc_last_error());
    CHECK_EQ_INT(mlcc_cuda_synchronize(0), 0);
    mlcc_ndarray_release(dx);
    mlcc_ndarray_release(dy);
    mlcc_cuda_module_free(m);
    free(x), free(y), free(out);
}

int main(void) {
    printf("%s\n", mlcc_cuda_status());
    if (!mlcc_cuda_available()) {
        test_without_device();
        if (test_checks_failed) return test_finish();
        TEST_SKIP("no CUDA device (%s)", mlcc_cuda_status());
    }
    test_copies();
    test_staged_uploads();
    test_allocator();
    if (mlcc_nvrtc_available()) test_kernel();
    else printf("kernel part skipped: %s\n", mlcc_nvrtc_status());
    return test_finish();
}
