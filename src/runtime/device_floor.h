/* device_floor.h - what cuda_floor.c and vulkan_floor.c share: the timing loop of a floor and
 * the GEMM floor's inputs. A floor is the best rate over a few batches of calls, each batch
 * synchronized and timed on the host clock (each is many milliseconds long). */
#ifndef MLCC_RUNTIME_DEVICE_FLOOR_H
#define MLCC_RUNTIME_DEVICE_FLOOR_H

#include <stddef.h>
#include <stdint.h>

#include "mlcc/mlcc_runtime.h"

/* One call of the measured operation (i counts the calls of a batch); 0, or -1 on failure. */
typedef int (*device_floor_op)(void *ctx, int i);

/* The best of reps batches, each `calls` calls of op then sync(device_id): calls * work /
 * seconds. Stops at the first failure and returns the best rate so far (0 if none). */
double device_floor_best_rate(int reps, int calls, double work, device_floor_op op, void *ctx,
                              int (*sync)(int device_id), int device_id);

/* nn pseudo-random float32 activations and float16 weights (as bits) in [-0.5, 0.5): random
 * data, since zeros would run faster than real inputs; the same values on every backend. */
void device_floor_gemm_inputs(size_t nn, float *x, uint16_t *w);

/* n bytes on device_type:id (NULL when they cannot be had). */
MLCCNDArray *device_floor_bytes(int device_type, int id, size_t n);

/* A backend's float16-weight linear layer: y[rows, out] = x[rows, in] * w[out, in]^T. */
typedef int (*device_floor_linear_f16)(int device_id, const float *x, const uint16_t *w, float *y,
                                       int64_t rows, int64_t out, int64_t in);

/* FLOP/s of linear on n x n x n (float32 activations, float16 weights from
 * device_floor_gemm_inputs) on device_type:device_id, the best of reps batches of `calls`
 * calls after one warm-up call (plans, pipelines, kernels); 0 on failure. */
double device_floor_gemm_f16_rate(int device_type, int device_id, int n, int reps, int calls,
                                  device_floor_linear_f16 linear, int (*sync)(int device_id));

#endif
