/* test_gpu_row.c - the GPU reduction + broadcast rule (schedule/gpu_row.c): RMSNorm, an add
 * whose sum is both an output and the norm's input, softmax (two reductions) and LayerNorm
 * become one kernel, a thread block per row.
 *   - everywhere: the scheduled functions have one kernel (one blockIdx loop), no
 *     intermediate row vector left; short rows, a read of a reduction at another row and
 *     MLCC_CUDA_ROW_KERNEL=0 keep the old form (a kernel per nest);
 *   - with NVRTC: the CUDA source compiles for sm_90;
 *   - on a GPU: random inputs at odd sizes (rows 1, 3, 70; row lengths 1000 and 4099) against
 *     float64 loops written here. */
#include <dlpack/dlpack.h>
#include <stdint.h>
#include <stdlib.h>

#include "codegen/codegen_cuda.h"
#include "codegen/jit.h"
#include "ir/functor.h"
#include "runtime/cuda.h"
#include "schedule/gpu_rules.h"
#include "support/error.h"
#include "te/te.h"
#include "tensor_util.h"
#include "test.h"

static uint64_t rng = 0x2545f4914f6cdd1dull;

static float rand_float(void) {
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((double)(rng >> 11) / (double)(1ull << 53) * 2.0 - 1.0);
}

/* what the bodies read (set before each te call) */
static te_tensor *A, *B, *X, *W, *Wb, *S1, *S2;
static mlcc_expr *HID;

static mlcc_expr *sum_body(mlcc_expr **i, void *c) {
    (void)c;
    return ir_add(te_load2(A, i[0], i[1]), te_load2(B, i[0], i[1]));
}
static mlcc_expr *sq_body(mlcc_expr **i, void *c) {
    (void)c;
    mlcc_expr *x = te_load2(X, i[0], i[1]);
    return ir_mul(x, x);
}
static mlcc_expr *rms_body(mlcc_expr **i, void *c) {
    (void)c;
    mlcc_expr *mean = ir_div(te_load1(S1, i[0]), ir_cast(DT_F32, HID));
    mlcc_expr *scale = ir_call1("rsqrt", ir_add(mean, ir_float(DT_F32, 1e-5)));
    return ir_mul(ir_mul(te_load2(X, i[0], i[1]), scale), te_load1(W, i[1]));
}
static mlcc_expr *x_body(mlcc_expr **i, void *c) {
    (void)c;
    return te_load2(X, i[0], i[1]);
}
static mlcc_expr *exp_sum_body(mlcc_expr **i, void *c) {
    (void)c;
    return ir_call1("exp", ir_sub(te_load2(X, i[0], i[1]), te_load1(S1, i[0])));
}
static mlcc_expr *softmax_body(mlcc_expr **i, void *c) {
    (void)c;
    return ir_div(ir_call1("exp", ir_sub(te_load2(X, i[0], i[1]), te_load1(S1, i[0]))), te_load1(S2, i[0]));
}
static mlcc_expr *centered(mlcc_expr **i) {
    return ir_sub(te_load2(X, i[0], i[1]), ir_div(te_load1(S1, i[0]), ir_cast(DT_F32, HID)));
}
static mlcc_expr *var_body(mlcc_expr **i, void *c) {
    (void)c;
    mlcc_expr *d = centered(i);
    return ir_mul(d, d);
}
static mlcc_expr *ln_body(mlcc_expr **i, void *c) {
    (void)c;
    mlcc_expr *var = ir_div(te_load1(S2, i[0]), ir_cast(DT_F32, HID));
    mlcc_expr *scale = ir_call1("rsqrt", ir_add(var, ir_float(DT_F32, 1e-5)));
    return ir_add(ir_mul(ir_mul(centered(i), scale), te_load1(W, i[1])), te_load1(Wb, i[1]));
}
/* a reduction read at the next row: not the rule's shape */
static mlcc_expr *shifted_body(mlcc_expr **i, void *c) {
    (void)c;
    return ir_mul(te_load2(X, i[0], i[1]), te_load1(S1, ir_floormod(ir_add(i[0], ir_int(1)), ir_int(4))));
}

enum { NF = 4 };
/* 1000 and 4099: columns strided over the threads (k = o T + tx); 4096: 8 adjacent columns a
 * thread, moved as 16-byte words */
enum { NWIDTHS = 3 };
static const int64_t WIDTHS[NWIDTHS] = {1000, 4099, 4096};

/* funcs[w][k]: rms_norm, add_rms_norm, softmax, layer_norm at row length WIDTHS[w] */
static mlcc_prim_func *funcs[NWIDTHS][NF];

static void build(int w, mlcc_expr *hid) {
    mlcc_expr *n = ir_size_var("n");
    HID = hid;
    mlcc_expr *shape[2] = {n, hid};
    X = te_placeholder("X", DT_F32, shape, 2);
    W = te_placeholder("W", DT_F32, &hid, 1);
    S1 = te_reduce("SQ", DT_F32, &n, 1, TE_SUM, &hid, 1, sq_body, NULL);
    te_tensor *r = te_compute("R", DT_F32, shape, 2, rms_body, NULL);
    funcs[w][0] = te_create_prim_func("rms_norm", (te_tensor *[]){X, W, r}, 3);

    A = te_placeholder("A", DT_F32, shape, 2);
    B = te_placeholder("B", DT_F32, shape, 2);
    te_tensor *sum = te_compute("SUM", DT_F32, shape, 2, sum_body, NULL);
    X = sum;
    S1 = te_reduce("SQ", DT_F32, &n, 1, TE_SUM, &hid, 1, sq_body, NULL);
    r = te_compute("R", DT_F32, shape, 2, rms_body, NULL);
    funcs[w][1] = te_create_prim_func("add_rms_norm", (te_tensor *[]){A, B, W, sum, r}, 5);

    X = te_placeholder("X", DT_F32, shape, 2);
    S1 = te_reduce("MX", DT_F32, &n, 1, TE_MAX, &hid, 1, x_body, NULL);
    S2 = te_reduce("ES", DT_F32, &n, 1, TE_SUM, &hid, 1, exp_sum_body, NULL);
    r = te_compute("P", DT_F32, shape, 2, softmax_body, NULL);
    funcs[w][2] = te_create_prim_func("softmax", (te_tensor *[]){X, r}, 2);

    Wb = te_placeholder("Wb", DT_F32, &hid, 1);
    S1 = te_reduce("XS", DT_F32, &n, 1, TE_SUM, &hid, 1, x_body, NULL);
    S2 = te_reduce("VS", DT_F32, &n, 1, TE_SUM, &hid, 1, var_body, NULL);
    r = te_compute("L", DT_F32, shape, 2, ln_body, NULL);
    funcs[w][3] = te_create_prim_func("layer_norm", (te_tensor *[]){X, W, Wb, r}, 4);
}

typedef struct counts {
    int block_loops, realizes, word_loops; /* word_loops: vectorized loops of 8 */
} counts;

static int count_stmt(ir_visitor *v, mlcc_stmt *s) {
    counts *c = v->ctx;
    if (s->kind == STMT_FOR && s->for_.kind == FOR_VECTORIZED && expr_is_int(s->for_.extent, 8)) c->word_loops++;
    if (s->kind == STMT_FOR && s->for_.kind == FOR_THREAD_BINDING && !strcmp(s->for_.thread_tag, "blockIdx.x"))
        c->block_loops++;
    if (s->kind == STMT_BLOCK_REALIZE) c->realizes++;
    return 1;
}

static counts count(const mlcc_prim_func *f) {
    counts c = {0, 0, 0};
    ir_visitor v = {NULL, count_stmt, &c};
    ir_visit_stmt(&v, f->body);
    return c;
}

static void test_schedule(void) {
    for (int w = 0; w < NWIDTHS; w++)
        for (int k = 0; k < NF; k++) {
            mlcc_prim_func *s = gpu_default_schedule(funcs[w][k]);
            CHECK_MSG(s != NULL, "%s", mlcc_last_error());
            if (!s) continue;
            counts c = count(s);
            CHECK_MSG(c.block_loops == 1 && c.realizes == 0, "%s width %lld: %d kernels, %d blocks left", s->name,
                      (long long)WIDTHS[w], c.block_loops, c.realizes);
            CHECK_MSG(s->nalloc == 0, "%s: %d intermediates left", s->name, s->nalloc);
            /* by default every nest's columns in words where 8 a thread tile the row (4096 = 512 x 8) */
            if (!getenv("MLCC_CUDA_ROW_WORDS"))
                CHECK_MSG((c.word_loops > 0) == (WIDTHS[w] == 4096), "%s width %lld: %d word loops", s->name,
                          (long long)WIDTHS[w], c.word_loops);
            funcs[w][k] = s;
        }
    /* left alone: rows of 37 (thread per element), the switch, a reduction read at another row */
    mlcc_prim_func *scheduled[NF];
    for (int k = 0; k < NF; k++) scheduled[k] = funcs[0][k];
    build(0, ir_int(37));
    mlcc_prim_func *s = gpu_default_schedule(funcs[0][0]);
    CHECK(s && count(s).block_loops == 2);
    build(0, ir_int(1000));
    setenv("MLCC_CUDA_ROW_KERNEL", "0", 1);
    s = gpu_default_schedule(funcs[0][0]);
    CHECK(s && count(s).block_loops == 2);
    unsetenv("MLCC_CUDA_ROW_KERNEL");
    mlcc_expr *rows = ir_int(4), *hid = ir_int(1000), *shape[2] = {rows, hid};
    X = te_placeholder("X", DT_F32, shape, 2);
    S1 = te_reduce("SQ", DT_F32, &rows, 1, TE_SUM, &hid, 1, sq_body, NULL);
    te_tensor *r = te_compute("R", DT_F32, shape, 2, shifted_body, NULL);
    s = gpu_default_schedule(te_create_prim_func("shifted", (te_tensor *[]){X, r}, 2));
    CHECK(s && count(s).block_loops == 2);
    for (int k = 0; k < NF; k++) funcs[0][k] = scheduled[k];
}

/* ---- on the device ---- */

static MLCCNDArray *to_device(const float *data, int ndim, const int64_t *shape) {
    MLCCNDArray *a = mlcc_ndarray_empty(ndim, shape, MLCC_DTYPE_F32, (DLDevice){kDLCUDA, 0});
    if (a && data) mlcc_ndarray_copy_from_bytes(a, data, mlcc_ndarray_nbytes(a));
    return a;
}

static int call(mlcc_jit_module *m, const char *name, MLCCNDArray **ts, int n) {
    MLCCPackedCFunc fn = mlcc_jit_get_function(m, name);
    if (!fn) return -1;
    MLCCValue args[8], ret;
    int codes[8], ret_code;
    for (int i = 0; i < n; i++) args[i].v_tensor = &ts[i]->dl, codes[i] = MLCC_TYPE_DLTENSOR;
    return fn(args, codes, n, &ret, &ret_code, NULL);
}

static void reference(int k, int64_t rows, int64_t h, const float *a, const float *b, const float *w, const float *wb,
                      double *sum, double *out) {
    for (int64_t r = 0; r < rows; r++) {
        const float *x = a + r * h;
        double *o = out + r * h;
        if (k == 1) {
            for (int64_t j = 0; j < h; j++) sum[r * h + j] = (double)(x[j] + b[r * h + j]); /* float32 add */
        }
        double s1 = 0, s2 = 0, mx = -INFINITY;
        for (int64_t j = 0; j < h; j++) {
            double v = k == 1 ? sum[r * h + j] : x[j];
            s1 += v, s2 += v * v, mx = fmax(mx, v);
        }
        if (k <= 1)
            for (int64_t j = 0; j < h; j++) o[j] = (k == 1 ? sum[r * h + j] : x[j]) / sqrt(s2 / h + 1e-5) * w[j];
        if (k == 2) {
            double es = 0;
            for (int64_t j = 0; j < h; j++) es += exp(x[j] - mx);
            for (int64_t j = 0; j < h; j++) o[j] = exp(x[j] - mx) / es;
        }
        if (k == 3) {
            double mean = s1 / h, var = 0;
            for (int64_t j = 0; j < h; j++) var += (x[j] - mean) * (x[j] - mean);
            for (int64_t j = 0; j < h; j++) o[j] = (x[j] - mean) / sqrt(var / h + 1e-5) * w[j] + wb[j];
        }
    }
}

static void run(mlcc_jit_module *m, int64_t rows, int64_t h) {
    static const char *names[NF] = {"rms_norm", "add_rms_norm", "softmax", "layer_norm"};
    int64_t n = rows * h, sh[2] = {rows, h};
    float *a = malloc(sizeof(float) * n), *b = malloc(sizeof(float) * n), *w = malloc(sizeof(float) * h);
    float *wb = malloc(sizeof(float) * h), *got = malloc(sizeof(float) * n);
    double *sum = malloc(sizeof(double) * n), *want = malloc(sizeof(double) * n);
    for (int64_t i = 0; i < n; i++) a[i] = rand_float() * 4 + 0.5f, b[i] = rand_float();
    for (int64_t j = 0; j < h; j++) w[j] = rand_float(), wb[j] = rand_float();
    MLCCNDArray *da = to_device(a, 2, sh), *db = to_device(b, 2, sh), *dw = to_device(w, 1, &h), *dwb = to_device(wb, 1, &h);
    MLCCNDArray *ds = to_device(NULL, 2, sh), *dout = to_device(NULL, 2, sh);
    for (int k = 0; k < NF; k++) {
        MLCCNDArray *args[5][5] = {{da, dw, dout}, {da, db, dw, ds, dout}, {da, dout}, {da, dw, dwb, dout}};
        int nargs[NF] = {3, 5, 2, 4};
        CHECK_MSG(call(m, names[k], args[k], nargs[k]) == 0, "%s: %s", names[k], mlcc_last_error());
        reference(k, rows, h, a, b, w, wb, sum, want);
        mlcc_ndarray_copy_to_bytes(dout, got, sizeof(float) * n);
        double err = test_max_rel_error(got, want, n);
        CHECK_MSG(err < 1e-5, "%s rows %lld h %lld: relative error %g", names[k], (long long)rows, (long long)h, err);
        if (k == 1) {
            mlcc_ndarray_copy_to_bytes(ds, got, sizeof(float) * n);
            CHECK_MSG(test_max_rel_error(got, sum, n) == 0, "add_rms_norm's sum rows %lld h %lld", (long long)rows, (long long)h);
        }
    }
    MLCCNDArray *all[] = {da, db, dw, dwb, ds, dout};
    for (int i = 0; i < 6; i++) mlcc_ndarray_release(all[i]);
    free(a), free(b), free(w), free(wb), free(got), free(sum), free(want);
}

int main(void) {
    ir_scope_begin();
    /* build() leaves its tensors in the globals the bodies read: the widths in turn, the first last */
    mlcc_prim_func *keep[NWIDTHS][NF];
    for (int w = NWIDTHS - 1; w >= 0; w--) {
        build(w, ir_int(WIDTHS[w]));
        for (int k = 0; k < NF; k++) keep[w][k] = funcs[w][k];
    }
    for (int w = 0; w < NWIDTHS; w++)
        for (int k = 0; k < NF; k++) funcs[w][k] = keep[w][k];
    test_schedule();
    if (!mlcc_nvrtc_available()) {
        printf("NVRTC part skipped: %s\n", mlcc_nvrtc_status());
    } else {
        mlcc_strbuf lib = STRBUF_INIT, dev = STRBUF_INIT;
        CHECK_MSG(codegen_cuda(funcs[0], NF, &lib, &dev) == 0, "%s", mlcc_last_error());
        char *ptx = NULL;
        CHECK_MSG(mlcc_nvrtc_compile_ptx(sb_cstr(&dev), 90, &ptx) == 0, "%s", mlcc_last_error());
        free(ptx);
        sb_free(&lib), sb_free(&dev);
        if (mlcc_cuda_available()) {
            for (int w = 0; w < NWIDTHS; w++) {
                mlcc_jit_module *m = mlcc_jit_build_cuda(funcs[w], NF);
                CHECK_MSG(m != NULL, "%s", mlcc_last_error());
                if (!m) continue;
                int64_t rows[3] = {1, 3, 70};
                for (int i = 0; i < 3; i++) run(m, rows[i], WIDTHS[w]);
                mlcc_jit_free(m);
            }
        } else {
            printf("running part skipped: %s\n", mlcc_cuda_status());
        }
    }
    ir_scope_end();
    return test_finish();
}
