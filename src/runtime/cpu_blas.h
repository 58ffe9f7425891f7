/* cpu_blas.h - OpenBLAS on the CPU, loaded at run time (dlopen), for the f32 GEMMs the CPU
 * build's library dispatch sends it (mlcc.cpu.sgemm, cpu_sgemm.c) and the GEMM floor of
 * `mlcc bench` (engine/bench_floor.c).
 *
 * Why dlopen and not a link: a model library and the runtime must work on a machine without
 * OpenBLAS (the dispatch then falls back to the compiled kernels, with one info line), and
 * OpenBLAS's worker threads exist only in processes that call it. */
#ifndef MLCC_RUNTIME_CPU_BLAS_H
#define MLCC_RUNTIME_CPU_BLAS_H

/* cblas_sgemm: C = alpha op(A) op(B) + beta C. */
typedef void (*mlcc_cblas_sgemm_fn)(int order, int trans_a, int trans_b, int m, int n, int k, float alpha,
                                     const float *a, int lda, const float *b, int ldb, float beta, float *c, int ldc);

enum { MLCC_CBLAS_ROW_MAJOR = 101, MLCC_CBLAS_NO_TRANS = 111, MLCC_CBLAS_TRANS = 112 };

/* OpenBLAS's cblas_sgemm, loaded once per process (MLCC_CPU_BLAS_LIB names another library
 * file; else libopenblas.so.0, then libopenblas.so), or NULL when it cannot be loaded (an info
 * line says so, once). */
mlcc_cblas_sgemm_fn mlcc_cpu_blas_sgemm(void);

/* Sets the threads OpenBLAS runs each call with (openblas_set_num_threads) when that differs
 * from the last count set; 1 makes every call run on its calling thread alone. */
void mlcc_cpu_blas_set_threads(int n);

/* The file the library came from ("libopenblas.so.0"), or NULL when none was loaded. */
const char *mlcc_cpu_blas_name(void);

#endif
