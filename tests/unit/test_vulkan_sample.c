/* test_vulkan_sample.c - greedy sampling on a Vulkan device (runtime/vulkan_sample.c) against
 * the host sampler, as test_cuda_sample does for CUDA: random rows at several vocabulary sizes
 * (odd ones, one below a workgroup, the 128k of Llama 3), rows with ties (the first index wins),
 * -inf entries and NaN (which loses to any number), logits that start inside their buffer; the
 * arg-max equals mlcc_sample's at temperature 0 and the log probability is within 1e-4 of
 * mlcc_log_softmax_at (double). On CI the device is lavapipe. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "greedy_check.h"
#include "runtime/ndarray.h"
#include "runtime/vulkan.h"
#include "support/error.h"
#include "tensor_util.h"
#include "test.h"

/* rows x vocab logits; `skip` rows before them in the device buffer (an offset view) */
static void check_rows(int64_t rows, int64_t vocab, int special, int64_t skip) {
    int64_t n = (rows + skip) * vocab;
    float *all = test_greedy_rows(rows, vocab, special, skip), *logits = all + skip * vocab;
    MLCCNDArray *d = mlcc_ndarray_empty(1, (int64_t[]){n}, MLCC_DTYPE_F32, (DLDevice){kDLVulkan, 0});
    CHECK_MSG(d && mlcc_ndarray_copy_from_bytes(d, all, sizeof(float) * (size_t)n) == 0, "%s", mlcc_last_error());
    int32_t *ids = malloc(sizeof(int32_t) * (size_t)rows);
    double *lps = malloc(sizeof(double) * (size_t)rows);
    const float *dev = d ? (const float *)d->dl.data + skip * vocab : NULL;
    int rc = d ? mlcc_vulkan_greedy(0, dev, rows, vocab, ids, lps) : -1;
    CHECK_MSG(rc == 0, "%s", mlcc_last_error());
    if (rc == 0) {
        double worst = test_check_greedy(logits, rows, vocab, ids, lps, "vulkan");
        printf("greedy %lld x %lld (offset %lld rows): ids equal, logprob error %.3g\n", (long long)rows, (long long)vocab,
               (long long)skip, worst);
    }
    mlcc_ndarray_release(d);
    free(all), free(ids), free(lps);
}

int main(void) {
    if (!mlcc_vulkan_available()) TEST_SKIP("%s", mlcc_vulkan_status());
    if (!mlcc_glsl_compiler_available()) TEST_SKIP("%s", mlcc_glsl_compiler_status());
    test_rng_seed(11);
    check_rows(1, 1, 0, 0);
    check_rows(3, 1000, 1, 0);
    check_rows(5, 255, 1, 1);
    check_rows(8, 32001, 1, 2);
    check_rows(2, 128256, 0, 0);
    check_rows(16, 128256, 1, 0);
    /* errors: a bad shape is refused before any launch */
    int32_t id;
    double lp;
    CHECK(mlcc_vulkan_greedy(0, NULL, 0, 10, &id, &lp) != 0 && strstr(mlcc_last_error(), "bad shape"));
    CHECK_EQ_INT(mlcc_vulkan_synchronize(0), 0);
    return test_finish();
}
