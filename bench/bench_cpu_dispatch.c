/* bench_cpu_dispatch.c - the evidence for the CPU library dispatch rule (transform/cpu_dispatch.c):
 * on TinyLlama-1.1B's float32 linear layers, at several row counts, the packed function
 * mlcc.cpu.sgemm the dispatch calls, run three ways in interleaved reps:
 *   - kernel:   the compiled, default-scheduled kernel (MLCC_CPU_BLAS=0 at run time);
 *   - pool:     OpenBLAS, one thread per slice of output columns on the runtime's pool (the
 *               default);
 *   - openblas: OpenBLAS with its own threads (MLCC_CPU_BLAS_THREADS=openblas).
 * Prints paired medians (ms) and the ratios kernel/pool and kernel/openblas (> 1: OpenBLAS
 * faster).
 *
 * build: make build && cc -O2 -Iinclude -Isrc bench/bench_cpu_dispatch.c -Lbuild -lmlcc -lmlcc_runtime -lm \
 *        -Wl,-rpath,$PWD/build -o build/bench_cpu_dispatch
 * run:   MLCC_NUM_THREADS=2 build/bench_cpu_dispatch [--reps 7] [--rows 8,16,32,64,128] */
#include <dlpack/dlpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "codegen/jit.h"
#include "runtime/cpu_blas.h"
#include "support/clock.h"
#include "support/error.h"
#include "te/te.h"
#include "transform/pass.h"

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static te_tensor *A_, *W_;

static mlcc_expr *mm_body(mlcc_expr **i, void *c) {
    (void)c;
    return ir_mul(te_load2(A_, i[0], i[2]), te_load2(W_, i[1], i[2]));
}

/* C[n, N] = A[n, K] W[N, K]^T, as legalize builds a float32 projection */
static mlcc_prim_func *build_mm(const char *name, int64_t N, int64_t K) {
    mlcc_expr *n = ir_size_var("n");
    A_ = te_placeholder("A", DT_F32, (mlcc_expr *[]){n, ir_int(K)}, 2);
    W_ = te_placeholder("W", DT_F32, (mlcc_expr *[]){ir_int(N), ir_int(K)}, 2);
    te_tensor *c = te_reduce("C", DT_F32, (mlcc_expr *[]){n, ir_int(N)}, 2, TE_SUM, (mlcc_expr *[]){ir_int(K)}, 1,
                             mm_body, NULL);
    return te_create_prim_func(name, (te_tensor *[]){A_, W_, c}, 3);
}

static DLTensor tensor(void *data, int64_t *shape) {
    DLTensor t = {0};
    t.data = data;
    t.device.device_type = kDLCPU;
    t.ndim = 2;
    t.dtype.code = kDLFloat;
    t.dtype.bits = 32;
    t.dtype.lanes = 1;
    t.shape = shape;
    return t;
}

typedef struct shape {
    const char *name;
    int64_t N, K;
} shape;

static const shape shapes[] = {
    {"q/o_proj", 2048, 2048}, {"k/v_proj", 256, 2048}, {"gate/up", 5632, 2048}, {"down", 2048, 5632}, {"lm_head", 32000, 2048},
};
enum { NSHAPES = sizeof shapes / sizeof shapes[0], MAX_ROWS = 64 };

/* One call of mlcc.cpu.sgemm (min_rows 1) under the given run-time settings; its seconds. */
static double timed_call(const MLCCFunction *sgemm, MLCCFunction *kernel, DLTensor *a, DLTensor *w, DLTensor *c,
                         const char *blas, const char *threads) {
    setenv("MLCC_CPU_BLAS", blas, 1);
    if (threads) setenv("MLCC_CPU_BLAS_THREADS", threads, 1);
    else unsetenv("MLCC_CPU_BLAS_THREADS");
    MLCCValue args[5] = {{.v_tensor = a}, {.v_tensor = w}, {.v_handle = kernel}, {.v_int64 = 1}, {.v_tensor = c}};
    int codes[5] = {MLCC_TYPE_DLTENSOR, MLCC_TYPE_DLTENSOR, MLCC_TYPE_OBJECT, MLCC_TYPE_INT, MLCC_TYPE_DLTENSOR};
    MLCCValue ret;
    int ret_code;
    double t0 = mlcc_now_seconds();
    if (mlcc_func_call(sgemm, args, codes, 5, &ret, &ret_code)) {
        fprintf(stderr, "mlcc.cpu.sgemm: %s\n", mlcc_last_error());
        exit(1);
    }
    return mlcc_now_seconds() - t0;
}

int main(int argc, char **argv) {
    int reps = 7;
    int64_t rows[MAX_ROWS];
    int nrows = 0;
    const char *row_list = "8,16,32,64,128";
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--reps")) reps = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--rows")) row_list = argv[i + 1];
    }
    for (const char *p = row_list; *p && nrows < MAX_ROWS;) {
        rows[nrows++] = atoll(p);
        p = strchr(p, ',');
        if (!p) break;
        p++;
    }
    if (!getenv("MLCC_NUM_THREADS")) setenv("MLCC_NUM_THREADS", "2", 1);
    if (!mlcc_cpu_blas_sgemm()) {
        fprintf(stderr, "OpenBLAS does not load: nothing to compare\n");
        return 1;
    }
    mlcc_ir_module *m = irmod_new();
    char names[NSHAPES][32];
    for (int s = 0; s < NSHAPES; s++) {
        snprintf(names[s], 32, "mm%d", s);
        irmod_add_prim(m, names[s], build_mm(names[s], shapes[s].N, shapes[s].K));
    }
    mlcc_ir_module *sched = pass_default_schedule(m, NULL);
    mlcc_prim_func *funcs[NSHAPES];
    for (int s = 0; s < NSHAPES; s++) funcs[s] = irmod_get_prim(sched, names[s]);
    mlcc_jit_module *mod = mlcc_jit_build(funcs, NSHAPES);
    const MLCCFunction *sgemm = mlcc_func_get_global("mlcc.cpu.sgemm");
    if (!mod || !sgemm) {
        fprintf(stderr, "%s\n", mlcc_last_error());
        return 1;
    }
    printf("threads %s, %d paired reps, %s\n", getenv("MLCC_NUM_THREADS"), reps, mlcc_cpu_blas_name());
    printf("%-9s %5s | %9s %9s %9s | %11s %15s\n", "layer", "rows", "kernel ms", "pool ms", "own ms", "kernel/pool",
           "kernel/openblas");
    for (int r = 0; r < nrows; r++)
        for (int s = 0; s < NSHAPES; s++) {
            int64_t M = rows[r], N = shapes[s].N, K = shapes[s].K;
            float *a = malloc(sizeof(float) * (size_t)(M * K)), *w = malloc(sizeof(float) * (size_t)(N * K)),
                  *c = malloc(sizeof(float) * (size_t)(M * N));
            for (int64_t i = 0; i < M * K; i++) a[i] = (float)(i % 17) * 0.01f;
            for (int64_t i = 0; i < N * K; i++) w[i] = (float)((i * 7) % 13) * 0.01f;
            int64_t sa[2] = {M, K}, sw[2] = {N, K}, sc[2] = {M, N};
            DLTensor ta = tensor(a, sa), tw = tensor(w, sw), tc = tensor(c, sc);
            MLCCFunction *kernel = mlcc_function_new(names[s], mlcc_jit_get_function(mod, names[s]), NULL, NULL);
            double *t = malloc(sizeof(double) * (size_t)reps * 3);
            for (int i = -1; i < reps; i++) { /* i = -1 warms up */
                double tk = timed_call(sgemm, kernel, &ta, &tw, &tc, "0", NULL);
                double tp = timed_call(sgemm, kernel, &ta, &tw, &tc, "1", NULL);
                double to = timed_call(sgemm, kernel, &ta, &tw, &tc, "1", "openblas");
                if (i >= 0) t[i] = tk, t[reps + i] = tp, t[2 * reps + i] = to;
            }
            double tk = median(t, reps), tp = median(t + reps, reps), to = median(t + 2 * reps, reps);
            printf("%-9s %5lld | %9.3f %9.3f %9.3f | %11.2f %15.2f\n", shapes[s].name, (long long)M, tk * 1e3, tp * 1e3,
                   to * 1e3, tk / tp, tk / to);
            fflush(stdout);
            mlcc_object_release(&kernel->obj);
            free(a), free(w), free(c), free(t);
        }
    mlcc_jit_free(mod);
    return 0;
}
