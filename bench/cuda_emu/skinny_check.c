/* skinny_check.c - the skinny matmul (runtime/cuda_skinny.c) through mlcc_cuda_linear_f16_add
 * with MLCC_CUDA_SKINNY=1 against float64, for run_skinny.sh (the kernels run on the CPU there):
 * test_cuda_linear's odd shapes (rows 3..64 that are not multiples of 16, outputs that are not
 * multiples of 128, K that is not a multiple of 64, split-K or not, x as float32 and as half,
 * residuals, one off the 64-byte alignment, blocks of 4 and 8 warps), smaller where the
 * emulation would take minutes.
 * Prints each error relative to sum |x w| (+ |r|); exit 1 if one exceeds 2e-3 or is NaN. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mlcc/mlcc_runtime.h"
#include "runtime/cuda.h"
#include "support/error.h"

static unsigned rng = 1;
static float rnd(void) {
    rng = rng * 1664525u + 1013904223u;
    return (float)(rng >> 8) / 8388608.0f - 1.0f;
}

static uint16_t to_f16(float f) { /* |f| <= 1 */
    union { float f; uint32_t u; } v = {f};
    uint32_t sign = (v.u >> 16) & 0x8000, e = (v.u >> 23) & 0xff, m = v.u & 0x7fffff;
    return e < 113 ? (uint16_t)sign : (uint16_t)(sign | ((e - 112) << 10) | (m >> 13));
}

static float from_f16(uint16_t h) {
    uint32_t e = (h >> 10) & 31, m = h & 1023;
    float v = e == 0 ? ldexpf((float)m, -24) : ldexpf((float)(m | 1024), (int)e - 25);
    return h & 0x8000 ? -v : v;
}

static void *dev(const void *host, size_t n) {
    MLCCNDArray *a = mlcc_ndarray_empty(1, (int64_t[]){(int64_t)n}, (DLDataType){kDLUInt, 8, 1}, (DLDevice){kDLCUDA, 0});
    if (!a || (host && mlcc_ndarray_copy_from_bytes(a, host, n))) {
        fprintf(stderr, "%s\n", mlcc_last_error());
        exit(2);
    }
    return a->dl.data; /* the null driver's device memory is host memory; kept to the end */
}

static int failed;

static void check(int64_t rows, int64_t out, int64_t in, int residual, int r_offset) {
    float *x = malloc(4 * (size_t)(rows * in)), *r = malloc(4 * (size_t)(rows * out + 1));
    uint16_t *w = malloc(2 * (size_t)(out * in));
    for (int64_t i = 0; i < rows * in; i++) x[i] = rnd();
    for (int64_t i = 0; i < out * in; i++) w[i] = to_f16(rnd());
    for (int64_t i = 0; i < rows * out + 1; i++) r[i] = 4 * rnd();
    float *dx = dev(x, 4 * (size_t)(rows * in)), *dr = dev(r, 4 * (size_t)(rows * out + 1)), *dy = dev(NULL, 4 * (size_t)(rows * out));
    uint16_t *dw = dev(w, 2 * (size_t)(out * in));
    memset(dy, 0xff, 4 * (size_t)(rows * out)); /* NaN */
    const float *rr = residual ? dr + r_offset : NULL;
    if (mlcc_cuda_linear_f16_add(0, dx, dw, rr, dy, rows, out, in) || mlcc_cuda_synchronize(0)) {
        fprintf(stderr, "%s\n", mlcc_last_error());
        exit(2);
    }
    double worst = 0;
    for (int64_t i = 0; i < rows; i++)
        for (int64_t o = 0; o < out; o++) {
            double ref = residual ? r[r_offset + i * out + o] : 0, mag = 1e-30 + fabs(ref);
            for (int64_t k = 0; k < in; k++) {
                double p = (double)x[i * in + k] * from_f16(w[o * in + k]);
                ref += p, mag += fabs(p);
            }
            double e = fabs(dy[i * out + o] - ref) / mag;
            if (!(e <= worst)) worst = isnan(e) ? INFINITY : e;
        }
    int bad = !(worst <= 2e-3);
    failed += bad;
    printf("%s %lld x %lld x %lld%s (x %s): %.3g\n", bad ? "FAIL" : "ok  ", (long long)rows, (long long)out, (long long)in,
           residual ? (r_offset ? " + r (unaligned)" : " + r") : "", getenv("MLCC_CUDA_SKINNY_XF32")[0] == '1' ? "f32" : "f16",
           worst);
    fflush(stdout);
    free(x), free(r), free(w);
}

int main(void) {
    if (!mlcc_cuda_available()) {
        fprintf(stderr, "%s\n", mlcc_cuda_status());
        return 2;
    }
    setenv("MLCC_CUDA_SKINNY", "1", 1);
    static const int64_t shapes[][3] = {{3, 100, 72},    {9, 130, 96},    {16, 200, 136}, {33, 260, 1032}, {50, 300, 512},
                                        {64, 140, 264},  {64, 300, 2056}, {63, 129, 1024}, {20, 400, 520}, {47, 250, 1544}};
    for (int xf = 1; xf >= 0; xf--) {
        setenv("MLCC_CUDA_SKINNY_XF32", xf ? "1" : "0", 1);
        for (int i = 0; i < 10; i++) check(shapes[i][0], shapes[i][1], shapes[i][2], 0, 0);
        check(5, 33, 16, 1, 0);
        check(64, 136, 1024, 1, 0);
        check(41, 170, 1032, 1, 1);
    }
    setenv("MLCC_CUDA_SKINNY_WAVES", "1", 1);
    check(30, 300, 512, 1, 0);
    unsetenv("MLCC_CUDA_SKINNY_WAVES");
    setenv("MLCC_CUDA_SKINNY_WARPS", "8", 1); /* blocks of 256 outputs */
    for (int xf = 1; xf >= 0; xf--) {
        setenv("MLCC_CUDA_SKINNY_XF32", xf ? "1" : "0", 1);
        check(64, 300, 2056, 0, 0);
        check(9, 520, 1032, 0, 0);
        check(33, 260, 264, 1, 1);
    }
    printf("%s\n", failed ? "FAILED" : "all passed");
    return failed ? 1 : 0;
}
