/* cuda_sample_topp.h - sampling with temperature, top-k, top-p, min-p, repetition / presence /
 * frequency penalties and logit bias on a CUDA device (cuda_sample_topp.c), in the order and
 * with the semantics of the host sampler (engine/sampler.c), so that the logits of a sampled
 * decode step stay on the GPU. */
#ifndef MLCC_RUNTIME_CUDA_SAMPLE_TOPP_H
#define MLCC_RUNTIME_CUDA_SAMPLE_TOPP_H

#include <stdint.h>

/* One row's request. The penalties' tokens come as a list of distinct ids: every id of the
 * prompt and the output when repetition_penalty != 1 (else only the output's), each with its
 * number of occurrences in the output (mlcc_penalty_counts builds it). uniform: the draw in
 * [0, 1), taken from the request's own generator (mlcc_sampler_peek_uniform). */
typedef struct mlcc_cuda_sample_row {
    float temperature, top_p, min_p, repetition_penalty, presence_penalty, frequency_penalty;
    int top_k;
    const int32_t *bias_ids;
    const float *bias_values;
    int nbias;
    const int32_t *pen_ids, *pen_counts;
    int npen;
    double uniform;
} mlcc_cuda_sample_row;

/* For each row r of logits [rows, vocab] (float32 on the device; the rows are overwritten by
 * the processed logits): ids[r] the token mlcc_sample would give with rows[r]'s parameters and
 * uniform, logprobs[r] its log-softmax under the unprocessed row (float32 on the device), and
 * drew[r] 1 when the uniform was used (temperature > 0, top_k != 1 and some token > -inf: the
 * caller then advances its generator). Waits for the stream; 12 bytes per row come back. */
int mlcc_cuda_sample(int device_id, float *logits, int64_t rows, int64_t vocab, const mlcc_cuda_sample_row *rows_params,
                     int32_t *ids, double *logprobs, int *drew);
const char *mlcc_cuda_sample_topp_kernel_source(void);

#endif
