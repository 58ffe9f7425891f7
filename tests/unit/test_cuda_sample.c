/* test_cuda_sample.c - greedy sampling on the GPU (runtime/cuda_sample.c) against the host
 * sampler: the kernel compiles with NVRTC for sm_90; on a GPU, for random rows at several
 * vocabulary sizes (odd ones, one below a block, the 128k of Llama 3), rows with ties (the
 * first index wins), -inf entries and NaN (which loses to any number), the arg-max equals
 * mlcc_sample's at temperature 0 and the log probability is within 1e-4 of
 * mlcc_log_softmax_at (double), with rows split over blocks (sizes across 1, 2, 3 and
 * 1024+ blocks) and with MLCC_CUDA_GREEDY_SPLIT=0. Without NVRTC it skips; without a GPU after
 * the compile. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "greedy_check.h"
#include "runtime/cuda.h"
#include "support/error.h"
#include "tensor_util.h"
#include "test.h"

static void check_rows(int64_t rows, int64_t vocab, int special) {
    float *logits = test_greedy_rows(rows, vocab, special, 0);
    MLCCNDArray *d = mlcc_ndarray_empty(1, (int64_t[]){rows * vocab}, MLCC_DTYPE_F32, (DLDevice){kDLCUDA, 0});
    CHECK_MSG(d && mlcc_ndarray_copy_from_bytes(d, logits, sizeof(float) * (size_t)(rows * vocab)) == 0, "%s", mlcc_last_error());
    int32_t *ids = malloc(sizeof(int32_t) * (size_t)rows);
    double *lps = malloc(sizeof(double) * (size_t)rows);
    int rc = mlcc_cuda_greedy(0, d ? d->dl.data : NULL, rows, vocab, ids, lps);
    CHECK_MSG(rc == 0, "%s", mlcc_last_error());
    if (rc == 0) {
        double worst = test_check_greedy(logits, rows, vocab, ids, lps, "cuda");
        printf("greedy %lld x %lld: ids equal, logprob error %.3g\n", (long long)rows, (long long)vocab, worst);
    }
    mlcc_ndarray_release(d);
    free(logits), free(ids), free(lps);
}

int main(void) {
    if (!mlcc_nvrtc_available()) TEST_SKIP("%s", mlcc_nvrtc_status());
    char *ptx = NULL;
    CHECK_MSG(mlcc_nvrtc_compile_ptx(mlcc_cuda_sample_kernel_source(), 90, &ptx) == 0, "%s", mlcc_last_error());
    CHECK(ptx && strstr(ptx, ".entry mlcc_greedy_split") != NULL);
    free(ptx);
    if (!mlcc_cuda_available()) {
        if (test_checks_failed) return test_finish();
        TEST_SKIP("%s", mlcc_cuda_status());
    }
    for (int split = 1; split >= 0; split--) { /* rows split over blocks, then one block a row */
        if (!split) setenv("MLCC_CUDA_GREEDY_SPLIT", "0", 1);
        check_rows(1, 1, 0);
        check_rows(3, 1000, 1);
        check_rows(5, 1023, 1);
        check_rows(4, 2049, 1); /* two blocks */
        check_rows(4, 4097, 1);
        check_rows(8, 32001, 1);
        check_rows(2, 128256, 0);
        check_rows(1, 128256, 1); /* batch-1 decode: a tie across blocks */
        check_rows(64, 128256, 1);
        check_rows(64, 128256, 1); /* the blocks' counters start from 0 again */
        if (split) check_rows(1, 3000001, 1); /* more than 1024 blocks' worth: longer chunks */
    }
    unsetenv("MLCC_CUDA_GREEDY_SPLIT");
    CHECK_EQ_INT(mlcc_cuda_synchronize(0), 0);
    return test_finish();
}
