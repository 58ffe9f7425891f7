/* greedy_check.h - greedy sampling on a device (CUDA, Vulkan) against the host sampler: the
 * rows the tests feed it and the comparison of its ids and log probabilities. */
#ifndef MLCC_TEST_GREEDY_CHECK_H
#define MLCC_TEST_GREEDY_CHECK_H

#include <stdint.h>

/* (skip + rows) x vocab random logits (caller frees); the last `rows` are the ones checked. With
 * `special`, rows cycle through a tie of two maxima (the first index must win), every other
 * entry -inf, a NaN beside the maximum (NaN loses to any number), and a plain row. */
float *test_greedy_rows(int64_t rows, int64_t vocab, int special, int64_t skip);

/* CHECKs that a device's ids [rows] are mlcc_sample's at temperature 0 for each row of logits
 * [rows, vocab] and its log probabilities lps within 1e-4 of mlcc_log_softmax_at (rows with a
 * NaN not compared: the host's sum is NaN too); names up to five differing rows with `device`.
 * Returns the largest log probability error. */
double test_check_greedy(float *logits, int64_t rows, int64_t vocab, const int32_t *ids, const double *lps,
                         const char *device);

#endif
