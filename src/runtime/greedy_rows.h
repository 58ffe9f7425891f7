/* greedy_rows.h - the result the greedy kernels of CUDA (cuda_sample.c) and Vulkan
 * (vulkan_sample.c) write for `rows` rows: the chosen ids (int32) of every row, then their log
 * probabilities (float32), one after the other; copied to the host and unpacked here. */
#ifndef MLCC_RUNTIME_GREEDY_ROWS_H
#define MLCC_RUNTIME_GREEDY_ROWS_H

#include <stdint.h>
#include <string.h>

static inline void mlcc_greedy_rows_unpack(const char *host, int64_t rows, int32_t *ids, double *logprobs) {
    for (int64_t r = 0; r < rows; r++) {
        float lp;
        memcpy(&ids[r], host + r * 4, 4);
        memcpy(&lp, host + (size_t)rows * 4 + (size_t)r * 4, 4);
        logprobs[r] = lp;
    }
}

#endif
