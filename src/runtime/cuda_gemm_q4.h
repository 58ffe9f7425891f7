/* cuda_gemm_q4.h - the 4-bit tensor-core GEMM for 3-64 rows (cuda_gemm_q4.c), called by
 * cuda_linear_q4.c's dispatch between its GEMV and the dequantize + cuBLASLt path. */
#ifndef MLCC_RUNTIME_CUDA_GEMM_Q4_H
#define MLCC_RUNTIME_CUDA_GEMM_Q4_H

#include <stdint.h>

/* y[rows, out] = x[rows, in] @ W^T (+ res [rows, out] when not NULL, added as y is stored), W as
 * q_weight words [out, in / 8] and float16 scales [out, in / 32] with the given zero point; x,
 * res and y float32, or all three float16 where `half`. Wants in % 32 == 0 and 16-byte aligned x
 * and qw (an error otherwise). Rows beyond 64 go in chunks of 64. Queued on the device's stream. */
int mlcc_cuda_gemm_q4(int device_id, const void *x, const uint32_t *qw, const uint16_t *qs, const void *res, void *y,
                      int64_t rows, int64_t out, int64_t in, int zero_point, int half);
/* Rows up to which mlcc.cuda.linear_q4 takes this GEMM (MLCC_CUDA_Q4_MMA_ROWS, default 64; 0:
 * never, the dequantize + cuBLASLt path as before). */
int mlcc_cuda_gemm_q4_rows(void);
const char *mlcc_cuda_gemm_q4_kernel_source(void);

#endif
