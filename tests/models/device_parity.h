/* device_parity.h - one hf-tiny fixture run on a GPU device (CUDA or Vulkan) against the CPU
 * build of the same library and transformers' reference, for test_cuda_models and
 * test_vulkan_models:
 *   - prefill logits of meta.json's tokens vs the CPU build (tol->vs_cpu) and vs
 *     ref.safetensors' logits (tol->vs_ref), relative to the largest logit;
 *   - decode, one token at a time through the KV cache on the device, vs those prefill logits
 *     (tol->decode);
 *   - the greedy continuation vs meta.json's greedy_out (required when tol->greedy_must_match,
 *     reported otherwise).
 * Failures go through the test harness (CHECK); one line per fixture is printed. */
#ifndef MLCC_TESTS_DEVICE_PARITY_H
#define MLCC_TESTS_DEVICE_PARITY_H

#include <stdint.h>

typedef struct device_parity_tol {
    const char *quant; /* the scheme; NULL: float32 */
    double vs_cpu, vs_ref, decode;
    int greedy_must_match;
} device_parity_tol;

/* max |got - ref| / max |ref| over n values (infinite when got has a NaN). */
double parity_rel_error(const float *got, const float *ref, int64_t n);

/* dir: the fixture's folder; device: "cuda", "vulkan", ... */
void device_parity_check(const char *name, const char *dir, const char *device, const device_parity_tol *tol);

#endif
