/* bench_floor.h - the physical floors a benchmark compares itself with, measured on this
 * machine in the same run (DESIGN.md §8):
 *   - memory read bandwidth: every thread of the pool streams its share of a buffer much larger
 *     than the caches (best of several passes): decode reads every weight once per step, so
 *     bandwidth / bytes per step is the fastest decode can go;
 *   - a GEMM rate: OpenBLAS's sgemm (dlopen'ed, with the pool's thread count) when it is
 *     installed, else a cache-blocked C loop on the pool: prefill needs 2 flops per weight per
 *     token, so rate / flops per token is the fastest prefill can go. */
#ifndef MLCC_ENGINE_BENCH_FLOOR_H
#define MLCC_ENGINE_BENCH_FLOOR_H

#include <stddef.h>

/* Bytes/s reading `bytes` (rounded to 64) with the pool's threads. 0 + error when the buffer
 * cannot be had. */
double mlcc_bench_read_bandwidth(size_t bytes, int passes);

/* Flop/s of an n x n x n float32 matrix product (best of `reps`). *how gets "openblas" or
 * "tiled C loop". */
double mlcc_bench_gemm_rate(int n, int reps, const char **how);

#endif
