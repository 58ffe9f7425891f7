/* bench_gemm.c - the scheduled matmul kernels (default_schedule: GEMM_NT intrinsic, parallel
 * over column tiles) on the linear layers of a TinyLlama-1.1B-shaped model (hidden 2048, FFN
 * 5632, 32 heads / 4 KV heads so k/v project to 256, vocab 32000), against OpenBLAS
 * (cblas_sgemm, C = A B^T; cblas_sgemv for one row) and against the physical floors measured in the same run:
 *   - bandwidth: a GEMV (decode, 1 row) must stream its whole weight matrix, so its floor is
 *     the time of a plain parallel read (AVX-512 loads, 2 threads) of a weight matrix of the
 *     same size. The weights rotate over copies totalling >= 1 GiB (larger than the caches,
 *     the 480 MiB L3 included) so that each call, and each floor read, finds them in memory
 *     as decode does.
 *   - compute: 2 threads of independent AVX-512 (or AVX2) FMA chains, in GFLOP/s.
 * Runs are interleaved (ours, OpenBLAS, ours with f16 weights, bandwidth) and the table
 * reports paired medians. Kernels run with MLCC_NUM_THREADS (default 2) threads, OpenBLAS with
 * the same count.
 *
 * build: make build && cc -O2 -march=native -fopenmp -Iinclude -Isrc bench/bench_gemm.c -Lbuild -lmlcc \
 *        -lmlcc_runtime -lopenblas -lm -Wl,-rpath,$PWD/build -o build/bench_gemm
 * run:   MLCC_NUM_THREADS=2 build/bench_gemm [--reps 9] [--rows 128] */
#include <cblas.h>
#include <dlpack/dlpack.h>
#include <immintrin.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "codegen/jit.h"
#include "support/clock.h"
#include "support/error.h"
#include "te/te.h"
#include "transform/pass.h"

void openblas_set_num_threads(int);

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* ---- floors ---- */

/* Bytes per second of one parallel read of buf (n floats, a multiple of 8 * 4096): each thread
 * reads 8 streams at once, as the GEMV reads 8 weight rows. */
static double read_bandwidth(const float *buf, int64_t n, int threads) {
    double t0 = mlcc_now_seconds(), total = 0;
    int64_t stream = n / 8;
#pragma omp parallel for num_threads(threads) reduction(+ : total) schedule(static)
    for (int64_t c = 0; c < stream / 512; c++) {
#ifdef __AVX512F__
        __m512 s[8];
        for (int j = 0; j < 8; j++) s[j] = _mm512_setzero_ps();
        for (int64_t i = c * 512; i < (c + 1) * 512; i += 16) {
#pragma GCC unroll 8
            for (int j = 0; j < 8; j++) s[j] = _mm512_add_ps(s[j], _mm512_loadu_ps(buf + j * stream + i));
        }
        for (int j = 0; j < 8; j++) total += _mm512_reduce_add_ps(s[j]);
#else
        float s = 0;
        for (int64_t i = c * 512; i < (c + 1) * 512; i++)
            for (int j = 0; j < 8; j++) s += buf[j * stream + i];
        total += s;
#endif
    }
    double t = mlcc_now_seconds() - t0;
    if (total == 12345.678) printf(" ");
    return (double)(stream / 512 * 512 * 8) * 4 / t;
}

static double fma_peak(int threads) {
    double t0 = mlcc_now_seconds(), sink = 0;
    int64_t iters = 400000000;
#pragma omp parallel num_threads(threads) reduction(+ : sink)
    {
#ifdef __AVX512F__
        __m512 a[12], x = _mm512_set1_ps(0.999f), y = _mm512_set1_ps(1e-7f);
        for (int i = 0; i < 12; i++) a[i] = _mm512_set1_ps((float)i);
        for (int64_t it = 0; it < iters / 16; it++) {
#pragma GCC unroll 12
            for (int i = 0; i < 12; i++) a[i] = _mm512_fmadd_ps(a[i], x, y);
        }
        for (int i = 0; i < 12; i++) sink += _mm512_reduce_add_ps(a[i]);
#else
        __m256 a[12], x = _mm256_set1_ps(0.999f), y = _mm256_set1_ps(1e-7f);
        for (int i = 0; i < 12; i++) a[i] = _mm256_set1_ps((float)i);
        for (int64_t it = 0; it < iters / 8; it++) {
#pragma GCC unroll 12
            for (int i = 0; i < 12; i++) a[i] = _mm256_fmadd_ps(a[i], x, y);
        }
        float t[8];
        for (int i = 0; i < 12; i++) { _mm256_storeu_ps(t, a[i]); sink += t[0]; }
#endif
    }
    double t = mlcc_now_seconds() - t0;
    if (sink == 12345.678) printf(" ");
    return (double)iters * 12 * 2 * threads / t; /* flops: iters lanes x 12 chains x (mul + add) */
}

/* ---- kernels ---- */

static te_tensor *A_, *W_;

static mlcc_expr *mm_body(mlcc_expr **i, void *c) {
    (void)c;
    mlcc_expr *w = te_load2(W_, i[1], i[2]);
    if (!dtype_eq(w->dtype, DT_F32)) w = ir_cast(DT_F32, w);
    return ir_mul(te_load2(A_, i[0], i[2]), w);
}

static mlcc_prim_func *build_mm(const char *name, int64_t N, int64_t K, mlcc_dtype wt) {
    mlcc_expr *n = ir_size_var("n");
    A_ = te_placeholder("A", DT_F32, (mlcc_expr *[]){n, ir_int(K)}, 2);
    W_ = te_placeholder("W", wt, (mlcc_expr *[]){ir_int(N), ir_int(K)}, 2);
    te_tensor *c = te_reduce("C", DT_F32, (mlcc_expr *[]){n, ir_int(N)}, 2, TE_SUM, (mlcc_expr *[]){ir_int(K)}, 1,
                             mm_body, NULL);
    return te_create_prim_func(name, (te_tensor *[]){A_, W_, c}, 3);
}

static DLTensor tensor(void *data, int bits, int64_t *shape) {
    DLTensor t = {0};
    t.data = data;
    t.device.device_type = kDLCPU;
    t.ndim = 2;
    t.dtype.code = kDLFloat;
    t.dtype.bits = (uint8_t)bits;
    t.dtype.lanes = 1;
    t.shape = shape;
    return t;
}

static void call3(MLCCPackedCFunc fn, DLTensor *a, DLTensor *b, DLTensor *c) {
    MLCCValue args[3] = {{.v_tensor = a}, {.v_tensor = b}, {.v_tensor = c}};
    int codes[3] = {MLCC_TYPE_DLTENSOR, MLCC_TYPE_DLTENSOR, MLCC_TYPE_DLTENSOR};
    MLCCValue ret;
    int ret_code;
    if (fn(args, codes, 3, &ret, &ret_code, NULL)) {
        fprintf(stderr, "kernel failed: %s\n", mlcc_last_error());
        exit(1);
    }
}

typedef struct shape {
    const char *name;
    int64_t N, K;
} shape;

static const shape shapes[] = {
    {"q/o_proj", 2048, 2048}, {"k/v_proj", 256, 2048}, {"gate/up", 5632, 2048}, {"down", 2048, 5632}, {"lm_head", 32000, 2048},
};
enum { NSHAPES = sizeof shapes / sizeof shapes[0] };

int main(int argc, char **argv) {
    int reps = 9;
    int64_t rows = 128;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--reps")) reps = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--rows")) rows = atoll(argv[i + 1]);
    }
    const char *nt = getenv("MLCC_NUM_THREADS");
    int threads = nt && atoi(nt) > 0 ? atoi(nt) : 2;
    if (!nt) setenv("MLCC_NUM_THREADS", "2", 1);
    openblas_set_num_threads(threads);

    /* every kernel, scheduled by the build pipeline's pass, in one library */
    mlcc_ir_module *m = irmod_new();
    char names[NSHAPES][2][32];
    for (int s = 0; s < NSHAPES; s++) {
        snprintf(names[s][0], 32, "mm%d_f32", s);
        snprintf(names[s][1], 32, "mm%d_f16", s);
        irmod_add_prim(m, names[s][0], build_mm(names[s][0], shapes[s].N, shapes[s].K, DT_F32));
        irmod_add_prim(m, names[s][1], build_mm(names[s][1], shapes[s].N, shapes[s].K, DT_F16));
    }
    mlcc_ir_module *sched = pass_default_schedule(m, NULL);
    mlcc_prim_func *funcs[2 * NSHAPES];
    for (int s = 0; s < NSHAPES; s++)
        for (int w = 0; w < 2; w++) funcs[2 * s + w] = irmod_get_prim(sched, names[s][w]);
    mlcc_jit_module *mod = mlcc_jit_build(funcs, 2 * NSHAPES);
    if (!mod) {
        fprintf(stderr, "%s\n", mlcc_last_error());
        return 1;
    }

    double peak = fma_peak(threads);
    printf("threads %d, FMA peak %.1f GFLOP/s, %d paired reps, GEMM rows %lld\n", threads, peak / 1e9, reps,
           (long long)rows);
    printf("%-9s %5s | %8s %7s %6s | %8s %7s | %6s | %8s %6s | %6s %8s %5s %5s\n", "layer", "rows", "ours ms", "GFLOP/s",
           "GB/s", "BLAS ms", "GFLOP/s", "o/BLAS", "f16 ms", "GB/s", "BW GB/s", "floor ms", "f32/fl", "f16/fl");
    for (int s = 0; s < NSHAPES; s++) {
        int64_t N = shapes[s].N, K = shapes[s].K;
        for (int pass = 0; pass < 2; pass++) {
            int64_t M = pass == 0 ? 1 : rows;
            size_t wbytes = sizeof(float) * (size_t)(N * K);
            int copies = M == 1 ? (int)((((size_t)1 << 30) + wbytes - 1) / wbytes) : 1;
            float **w = malloc(sizeof(float *) * (size_t)copies);
            _Float16 **wh = malloc(sizeof(_Float16 *) * (size_t)copies);
            for (int c = 0; c < copies; c++) {
                w[c] = malloc(wbytes);
                wh[c] = malloc(wbytes / 2);
                for (int64_t i = 0; i < N * K; i++) w[c][i] = (float)((i * 7 + c) % 13) * 0.01f, wh[c][i] = (_Float16)w[c][i];
            }
            float *a = malloc(sizeof(float) * (size_t)(M * K)), *out = malloc(sizeof(float) * (size_t)(M * N));
            for (int64_t i = 0; i < M * K; i++) a[i] = (float)(i % 17) * 0.01f;
            double *t_ours = malloc(sizeof(double) * (size_t)reps * 4), *t_blas = t_ours + reps, *t_f16 = t_blas + reps,
                   *bw = t_f16 + reps;
            int64_t sa[2] = {M, K}, sw[2] = {N, K}, sc[2] = {M, N};
            DLTensor ta = tensor(a, 32, sa), tc = tensor(out, 32, sc);
            MLCCPackedCFunc f32 = mlcc_jit_get_function(mod, names[s][0]), f16 = mlcc_jit_get_function(mod, names[s][1]);
            for (int r = -1; r < reps; r++) { /* r = -1 warms up */
                int c = (r + 1) % copies;
                DLTensor tw = tensor(w[c], 32, sw), twh = tensor(wh[c], 16, sw);
                double t0 = mlcc_now_seconds();
                call3(f32, &ta, &tw, &tc);
                double t1 = mlcc_now_seconds();
                c = (c + 1) % copies;
                if (M == 1) /* OpenBLAS's own GEMV path for one row */
                    cblas_sgemv(CblasRowMajor, CblasNoTrans, (int)N, (int)K, 1.0f, w[c], (int)K, a, 1, 0.0f, out, 1);
                else
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)M, (int)N, (int)K, 1.0f, a, (int)K, w[c],
                                (int)K, 0.0f, out, (int)N);
                double t2 = mlcc_now_seconds();
                c = (c + 1) % copies;
                twh = tensor(wh[c], 16, sw);
                call3(f16, &ta, &twh, &tc);
                double t3 = mlcc_now_seconds();
                if (r >= 0) {
                    t_ours[r] = t1 - t0, t_blas[r] = t2 - t1, t_f16[r] = t3 - t2;
                    bw[r] = M == 1 ? read_bandwidth(w[(c + 1) % copies], N * K, threads) : 0;
                }
            }
            double to = median(t_ours, reps), tb = median(t_blas, reps), th = median(t_f16, reps), b = median(bw, reps);
            double flops = 2.0 * (double)M * (double)N * (double)K;
            if (M == 1) {
                double floor32 = (double)wbytes / b, floor16 = floor32 / 2;
                printf("%-9s %5lld | %8.3f %7.1f %6.1f | %8.3f %7.1f | %6.2f | %8.3f %6.1f | %6.1f %8.3f %5.2f %5.2f\n",
                       shapes[s].name, (long long)M, to * 1e3, flops / to / 1e9, (double)wbytes / to / 1e9, tb * 1e3,
                       flops / tb / 1e9, tb / to, th * 1e3, (double)wbytes / 2 / th / 1e9, b / 1e9, floor32 * 1e3,
                       floor32 / to, floor16 / th);
            } else {
                double floorc = flops / peak;
                printf("%-9s %5lld | %8.3f %7.1f %6s | %8.3f %7.1f | %6.2f | %8.3f %6s | %6s %8.3f %5.2f %5.2f\n",
                       shapes[s].name, (long long)M, to * 1e3, flops / to / 1e9, "", tb * 1e3, flops / tb / 1e9, tb / to,
                       th * 1e3, "", "peak", floorc * 1e3, floorc / to, floorc / th);
            }
            fflush(stdout);
            for (int c = 0; c < copies; c++) free(w[c]), free(wh[c]);
            free(w), free(wh), free(a), free(out), free(t_ours);
        }
    }
    mlcc_jit_free(mod);
    return 0;
}
