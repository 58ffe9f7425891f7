/* bench_epilogue.c - the default schedule's epilogue-in-tile rule (reverse_compute_at of the
 * elementwise epilogue into the GEMM's parallel column tile) against the same kernels with
 * MLCC_SCHEDULE_EPILOGUE=0 (the epilogue as a parallel nest of its own after the GEMM), on the
 * fused layers of a TinyLlama-1.1B-shaped model with float16 weights: gate projection + SiLU
 * (5632 x 2048) and down projection + residual add (2048 x 5632), at 1 row (decode) and 128 rows
 * (prefill). Both variants are compiled into one module and timed interleaved; the table gives
 * the median and the minimum of the runs (this machine is shared: compare within one run).
 *
 * build: make build && cc -O2 -Iinclude -Isrc bench/bench_epilogue.c -Lbuild -lmlcc -lmlcc_runtime -lm \
 *        -Wl,-rpath,$PWD/build -o build/bench_epilogue
 * run:   MLCC_NUM_THREADS=2 build/bench_epilogue [--reps 15] */
#include <dlpack/dlpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "codegen/jit.h"
#include "support/clock.h"
#include "support/error.h"
#include "support/hashmap.h"
#include "te/te.h"
#include "transform/pass.h"

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static te_tensor *A_, *W_, *C_, *R_;

static mlcc_expr *mm_body(mlcc_expr **i, void *c) {
    (void)c;
    return ir_mul(te_load2(A_, i[0], i[2]), ir_cast(DT_F32, te_load2(W_, i[1], i[2])));
}

static mlcc_expr *silu_body(mlcc_expr **i, void *c) {
    (void)c;
    mlcc_expr *x = te_load2(C_, i[0], i[1]);
    return ir_mul(x, ir_call1("sigmoid", x));
}

static mlcc_expr *add_body(mlcc_expr **i, void *c) {
    (void)c;
    return ir_add(te_load2(R_, i[0], i[1]), te_load2(C_, i[0], i[1]));
}

/* O = epilogue(A[n, K] @ W[N, K]^T): SiLU, or + R (residual). Params A, W, (R), O. */
static mlcc_prim_func *build(const char *name, int64_t N, int64_t K, int residual) {
    mlcc_expr *n = ir_size_var("n");
    A_ = te_placeholder("A", DT_F32, (mlcc_expr *[]){n, ir_int(K)}, 2);
    W_ = te_placeholder("W", DT_F16, (mlcc_expr *[]){ir_int(N), ir_int(K)}, 2);
    R_ = te_placeholder("R", DT_F32, (mlcc_expr *[]){n, ir_int(N)}, 2);
    te_set_axis_names((const char *[]){"i", "j", "k", NULL});
    C_ = te_reduce("C", DT_F32, (mlcc_expr *[]){n, ir_int(N)}, 2, TE_SUM, (mlcc_expr *[]){ir_int(K)}, 1, mm_body, NULL);
    te_set_axis_names((const char *[]){"i", "j", NULL});
    te_tensor *o = te_compute("O", DT_F32, (mlcc_expr *[]){n, ir_int(N)}, 2, residual ? add_body : silu_body, NULL);
    if (residual) return te_create_prim_func(name, (te_tensor *[]){A_, W_, R_, o}, 4);
    return te_create_prim_func(name, (te_tensor *[]){A_, W_, o}, 3);
}

/* The function scheduled by default_schedule with the rule on or off, renamed. */
static mlcc_prim_func *scheduled(mlcc_prim_func *f, int epilogue, const char *name) {
    setenv("MLCC_SCHEDULE_EPILOGUE", epilogue ? "1" : "0", 1);
    mlcc_ir_module *m = irmod_new();
    irmod_add_prim(m, "f", f);
    mlcc_prim_func *g = prim_func_copy(irmod_get_prim(pass_default_schedule(m, NULL), "f"));
    g->name = mlcc_intern(name);
    return g;
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

static int call(MLCCPackedCFunc fn, DLTensor **ts, int n) {
    MLCCValue args[4];
    int codes[4];
    for (int i = 0; i < n; i++) args[i].v_tensor = ts[i], codes[i] = MLCC_TYPE_DLTENSOR;
    MLCCValue ret;
    int rc;
    return fn(args, codes, n, &ret, &rc, NULL);
}

int main(int argc, char **argv) {
    int reps = 15;
    for (int i = 1; i + 1 < argc; i++)
        if (!strcmp(argv[i], "--reps")) reps = atoi(argv[++i]);
    if (reps < 1) reps = 1;
    struct {
        const char *label;
        int64_t N, K;
        int residual;
    } layers[] = {{"gate + SiLU 5632 x 2048", 5632, 2048, 0}, {"down + add 2048 x 5632", 2048, 5632, 1}};
    mlcc_prim_func *funcs[4];
    char names[4][16];
    for (int l = 0; l < 2; l++)
        for (int e = 0; e < 2; e++) {
            snprintf(names[2 * l + e], sizeof names[0], "l%d_e%d", l, e);
            funcs[2 * l + e] = scheduled(build("f", layers[l].N, layers[l].K, layers[l].residual), e, names[2 * l + e]);
        }
    mlcc_jit_module *mod = mlcc_jit_build(funcs, 4);
    if (!mod) {
        fprintf(stderr, "bench_epilogue: %s\n", mlcc_last_error());
        return 1;
    }
    printf("| layer | rows | epilogue separate: median / min ms | in tile: median / min ms | in tile / separate (median) |\n");
    printf("|---|---|---|---|---|\n");
    static const int64_t rows[] = {1, 128};
    for (int l = 0; l < 2; l++)
        for (int r = 0; r < 2; r++) {
            int64_t n = rows[r], N = layers[l].N, K = layers[l].K;
            float *a = malloc(sizeof(float) * (size_t)(n * K)), *res = malloc(sizeof(float) * (size_t)(n * N));
            float *o = malloc(sizeof(float) * (size_t)(n * N));
            _Float16 *w = malloc(sizeof(_Float16) * (size_t)(N * K));
            for (int64_t i = 0; i < n * K; i++) a[i] = (float)((i * 7919) % 2000) / 1000.0f - 1.0f;
            for (int64_t i = 0; i < N * K; i++) w[i] = (_Float16)((float)((i * 104729) % 2000) / 40000.0f - 0.025f);
            for (int64_t i = 0; i < n * N; i++) res[i] = 0.5f;
            int64_t sa[2] = {n, K}, sw[2] = {N, K}, so[2] = {n, N};
            DLTensor ta = tensor(a, 32, sa), tw = tensor(w, 16, sw), tr = tensor(res, 32, so), to = tensor(o, 32, so);
            DLTensor *args[4] = {&ta, &tw, &tr, &to};
            int nargs = 4;
            if (!layers[l].residual) args[2] = &to, nargs = 3;
            double *t[2];
            for (int e = 0; e < 2; e++) t[e] = malloc(sizeof(double) * (size_t)reps);
            MLCCPackedCFunc fn[2] = {mlcc_jit_get_function(mod, names[2 * l]), mlcc_jit_get_function(mod, names[2 * l + 1])};
            for (int e = 0; e < 2; e++) call(fn[e], args, nargs); /* warm up */
            for (int k = 0; k < reps; k++)
                for (int e0 = 0; e0 < 2; e0++) {
                    int e = (k & 1) ? 1 - e0 : e0; /* alternate which goes first */
                    double t0 = mlcc_now_seconds();
                    if (call(fn[e], args, nargs)) {
                        fprintf(stderr, "bench_epilogue: %s\n", mlcc_last_error());
                        return 1;
                    }
                    t[e][k] = (mlcc_now_seconds() - t0) * 1e3;
                }
            for (int e = 0; e < 2; e++) qsort(t[e], (size_t)reps, sizeof(double), cmp_double);
            printf("| %s | %lld | %.3f / %.3f | %.3f / %.3f | %.2f |\n", layers[l].label, (long long)n, t[0][reps / 2],
                   t[0][0], t[1][reps / 2], t[1][0], t[1][reps / 2] / t[0][reps / 2]);
            fflush(stdout);
            free(a), free(res), free(o), free(w), free(t[0]), free(t[1]);
        }
    mlcc_jit_free(mod);
    return 0;
}
