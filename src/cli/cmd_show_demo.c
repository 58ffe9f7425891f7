/* cmd_show_demo.c - `mlcc show-demo`: the tensor-level compiler end to end on a matmul with a
 * symbolic n: TensorIR before and after a schedule (with its trace), both compiled to C, run,
 * and checked against a float64 reference. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <dlpack/dlpack.h>

#include "cli/commands.h"
#include "codegen/jit.h"
#include "ir/printer.h"
#include "schedule/schedule.h"
#include "support/clock.h"
#include "support/error.h"
#include "te/te.h"

enum { K_DIM = 256, N_DIM = 128 };

static te_tensor *A, *B;

static mlcc_expr *matmul_body(mlcc_expr **i, void *ctx) {
    (void)ctx;
    return ir_mul(te_load2(A, i[0], i[2]), te_load2(B, i[2], i[1]));
}

static mlcc_prim_func *make_matmul(void) {
    mlcc_expr *n = ir_size_var("n");
    A = te_placeholder("A", DT_F32, (mlcc_expr *[]){n, ir_int(K_DIM)}, 2);
    B = te_placeholder("B", DT_F32, (mlcc_expr *[]){ir_int(K_DIM), ir_int(N_DIM)}, 2);
    te_set_axis_names((const char *[]){"i", "j", "k", NULL});
    te_tensor *C = te_reduce("C", DT_F32, (mlcc_expr *[]){n, ir_int(N_DIM)}, 2, TE_SUM,
                             (mlcc_expr *[]){ir_int(K_DIM)}, 1, matmul_body, NULL);
    return te_create_prim_func("matmul", (te_tensor *[]){A, B, C}, 3);
}

/* i, j, k -> i, j0, k, j1 with j1 (16 wide) vectorized, i parallel, the init split out. */
static int schedule_matmul(mlcc_schedule *s) {
    mlcc_expr **loops;
    if (!sch_get_block(s, "C") || sch_get_loops(s, "C", &loops) != 3) return -1;
    mlcc_expr *i = loops[0], *j = loops[1], *k = loops[2], *jj[2];
    int64_t factors[2] = {SCH_INFER, 16};
    if (sch_split(s, j, factors, 2, jj) != 0) return -1;
    if (sch_reorder(s, (mlcc_expr *[]){i, jj[0], k, jj[1]}, 4) != 0) return -1;
    if (sch_parallel(s, i) != 0 || sch_vectorize(s, jj[1]) != 0) return -1;
    return sch_decompose_reduction(s, "C", k) ? 0 : -1;
}

static DLTensor tensor(float *data, int64_t *shape) {
    DLTensor t;
    memset(&t, 0, sizeof t);
    t.data = data;
    t.device.device_type = kDLCPU;
    t.ndim = 2;
    t.dtype.code = kDLFloat;
    t.dtype.bits = 32;
    t.dtype.lanes = 1;
    t.shape = shape;
    return t;
}

/* Runs the kernel (best of 3) and reports its error against ref. */
static int run_and_check(const char *label, MLCCPackedCFunc fn, DLTensor *ta, DLTensor *tb, DLTensor *tc,
                         const double *ref, int64_t count) {
    MLCCValue args[3] = {{.v_tensor = ta}, {.v_tensor = tb}, {.v_tensor = tc}}, ret;
    int codes[3] = {MLCC_TYPE_DLTENSOR, MLCC_TYPE_DLTENSOR, MLCC_TYPE_DLTENSOR}, ret_code;
    double best = INFINITY;
    for (int rep = 0; rep < 3; rep++) {
        memset(tc->data, 0xff, sizeof(float) * (size_t)count); /* NaN: stale output would show */
        double t0 = mlcc_now_seconds();
        if (fn(args, codes, 3, &ret, &ret_code, NULL) != 0) {
            fprintf(stderr, "mlcc show-demo: %s kernel failed: %s\n", label, mlcc_last_error());
            return -1;
        }
        double dt = mlcc_now_seconds() - t0;
        if (dt < best) best = dt;
    }
    const float *c = tc->data;
    double max_abs = 0, max_ref = 0;
    for (int64_t i = 0; i < count; i++) {
        double e = fabs((double)c[i] - ref[i]);
        if (!(e <= max_abs)) max_abs = isnan(e) ? INFINITY : e;
        if (fabs(ref[i]) > max_ref) max_ref = fabs(ref[i]);
    }
    double flops = 2.0 * (double)count * K_DIM;
    printf("%-12s max |error| = %.3g (relative %.3g), %.3f ms, %.2f GFLOP/s\n", label, max_abs,
           max_abs / (max_ref > 0 ? max_ref : 1), best * 1e3, flops / best * 1e-9);
    return max_abs / (max_ref > 0 ? max_ref : 1) < 1e-5 ? 0 : 1;
}

int cmd_show_demo(int argc, char **argv) {
    int64_t n = 100;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--n") == 0 && i + 1 < argc) {
            n = atoll(argv[++i]);
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            printf("usage: mlcc show-demo [--n ROWS]\n"
                   "Prints a TensorIR matmul C[n, %d] = A[n, %d] @ B[%d, %d] with symbolic n before and after a\n"
                   "schedule (and the schedule's trace), compiles both with the system C compiler, runs them\n"
                   "at n = ROWS (default 100) and reports the error against a float64 reference.\n",
                   N_DIM, K_DIM, K_DIM, N_DIM);
            return 0;
        } else {
            fprintf(stderr, "mlcc show-demo: unknown argument '%s' (see --help)\n", argv[i]);
            return 2;
        }
    }
    if (n < 1 || n > 100000) {
        fprintf(stderr, "mlcc show-demo: --n must be between 1 and 100000\n");
        return 2;
    }
    ir_scope_begin();
    int rc = 1;
    mlcc_prim_func *plain = make_matmul();
    char *text = tir_func_to_string(plain);
    printf("== TensorIR, as written (symbolic n) ==\n%s\n", text);
    free(text);

    mlcc_schedule *s = sch_create(plain);
    if (schedule_matmul(s) != 0) {
        fprintf(stderr, "mlcc show-demo: schedule failed: %s\n", mlcc_last_error());
        sch_free(s);
        ir_scope_end();
        return 1;
    }
    char *trace = sch_trace_str(s);
    mlcc_prim_func *scheduled = prim_func_copy(sch_func(s));
    text = tir_func_to_string(scheduled);
    printf("== schedule trace ==\n%s\n== TensorIR, scheduled ==\n%s\n", trace, text);
    free(text);
    free(trace);
    sch_free(s);

    mlcc_prim_func *sched_named = prim_func_copy(scheduled);
    sched_named->name = "matmul_scheduled";
    mlcc_jit_module *mod = mlcc_jit_build((mlcc_prim_func *[]){plain, sched_named}, 2);
    if (!mod) {
        fprintf(stderr, "mlcc show-demo: compiling failed: %s\n", mlcc_last_error());
        ir_scope_end();
        return 1;
    }
    printf("== compiled with the system C compiler: %s ==\n", mlcc_jit_module_path(mod));

    int64_t sa[2] = {n, K_DIM}, sb[2] = {K_DIM, N_DIM}, sc[2] = {n, N_DIM};
    float *a = malloc(sizeof(float) * (size_t)(n * K_DIM)), *b = malloc(sizeof(float) * K_DIM * N_DIM),
          *c = malloc(sizeof(float) * (size_t)(n * N_DIM));
    double *ref = malloc(sizeof(double) * (size_t)(n * N_DIM));
    uint64_t state = 42;
    for (int64_t i = 0; i < n * K_DIM; i++) {
        state = state * 6364136223846793005ull + 1442695040888963407ull;
        a[i] = (float)((double)(state >> 11) / 9007199254740992.0 - 0.5);
    }
    for (int64_t i = 0; i < K_DIM * N_DIM; i++) {
        state = state * 6364136223846793005ull + 1442695040888963407ull;
        b[i] = (float)((double)(state >> 11) / 9007199254740992.0 - 0.5);
    }
    for (int64_t r = 0; r < n; r++)
        for (int j = 0; j < N_DIM; j++) {
            double acc = 0;
            for (int k = 0; k < K_DIM; k++) acc += (double)a[r * K_DIM + k] * b[k * N_DIM + j];
            ref[r * N_DIM + j] = acc;
        }
    DLTensor ta = tensor(a, sa), tb = tensor(b, sb), tc = tensor(c, sc);
    printf("== run at n = %lld, against a float64 reference ==\n", (long long)n);
    int bad = run_and_check("unscheduled", mlcc_jit_get_function(mod, "matmul"), &ta, &tb, &tc, ref, n * N_DIM);
    if (bad == 0) bad = run_and_check("scheduled", mlcc_jit_get_function(mod, "matmul_scheduled"), &ta, &tb, &tc, ref, n * N_DIM);
    rc = bad ? 1 : 0;
    printf("%s\n", rc == 0 ? "OK: both match the reference" : "FAILED: a result differs from the reference");
    free(a), free(b), free(c), free(ref);
    mlcc_jit_free(mod);
    ir_scope_end();
    return rc;
}
