/* cuda_skinny.h - the float16 tensor-core matmul for 1..64 rows of x (cuda_skinny.c). */
#ifndef MLCC_RUNTIME_CUDA_SKINNY_H
#define MLCC_RUNTIME_CUDA_SKINNY_H

#include <stdint.h>

/* y[rows, out] = x[rows, in] @ w[out, in]^T (+ r when r is not NULL; r may be y): x float32
 * (x_f32) or float16, w float16, y and r float32, device pointers; enqueued on the device's
 * current stream. Returns 0, -1 on an error (the thread's error says why), or 1 when it does
 * not apply (more than 64 rows, in % 8 != 0, x or w not 16-byte aligned): the caller takes
 * another path. */
int mlcc_cuda_skinny_f16(int device_id, const void *x, int x_f32, const uint16_t *w, const float *r, float *y,
                         int64_t rows, int64_t out, int64_t in);
/* The most rows it takes: MLCC_CUDA_SKINNY_ROWS (default 64) with MLCC_CUDA_SKINNY=1, else 0. */
int mlcc_cuda_skinny_max_rows(void);
/* 1: it reads float32 x itself (MLCC_CUDA_SKINNY_XF32, default 1); 0: x rounded to half first. */
int mlcc_cuda_skinny_x_f32(void);
/* The CUDA C++ source of its kernels (tests compile it with NVRTC where there is no GPU). */
const char *mlcc_cuda_skinny_kernel_source(void);

#endif
