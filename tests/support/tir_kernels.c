/* tir_kernels.c - kernels and the interpreter harness of the schedule tests (see tir_kernels.h). */
#include "tir_kernels.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ir/interp.h"
#include "support/alloc.h"
#include "support/error.h"
#include "support/file.h"
#include "support/strbuf.h"
#include "ir/printer.h"
#include "ir/structural.h"
#include "te/te.h"

typedef struct {
    te_tensor *a, *b;
} two;

static mlcc_expr *f32(double v) {
    return ir_float(DT_F32, v);
}

static mlcc_expr *elemwise_body(mlcc_expr **ix, void *ctx) {
    two *t = ctx;
    mlcc_expr *a = te_load2(t->a, ix[0], ix[1]);
    return ir_add(ir_mul(ir_call1("exp", a), f32(0.5)), a);
}

static mlcc_expr *bcast_body(mlcc_expr **ix, void *ctx) {
    two *t = ctx;
    return ir_add(te_load2(t->a, ix[0], ix[1]), te_load1(t->b, ix[1]));
}

static mlcc_expr *matmul_body(mlcc_expr **ix, void *ctx) {
    two *t = ctx;
    return ir_mul(te_load2(t->a, ix[0], ix[2]), te_load2(t->b, ix[2], ix[1]));
}

static mlcc_expr *rowsum_body(mlcc_expr **ix, void *ctx) {
    two *t = ctx;
    return te_load2(t->a, ix[0], ix[1]);
}

static mlcc_expr *times3_body(mlcc_expr **ix, void *ctx) {
    two *t = ctx;
    return ir_mul(te_load2(t->a, ix[0], ix[1]), f32(3));
}

static mlcc_expr *plus1_body(mlcc_expr **ix, void *ctx) {
    two *t = ctx;
    return ir_add(te_load2(t->a, ix[0], ix[1]), f32(1));
}

static mlcc_expr *square_body(mlcc_expr **ix, void *ctx) {
    two *t = ctx;
    mlcc_expr *a = te_load2(t->a, ix[0], ix[1]);
    return ir_mul(a, a);
}

static mlcc_expr *relu_bias_body(mlcc_expr **ix, void *ctx) {
    two *t = ctx;
    return ir_add(ir_max(te_load2(t->a, ix[0], ix[1]), f32(0)), te_load1(t->b, ix[1]));
}

static mlcc_expr *relu_body(mlcc_expr **ix, void *ctx) {
    two *t = ctx;
    return ir_max(te_load2(t->a, ix[0], ix[1]), f32(0));
}

static mlcc_expr *transpose_body(mlcc_expr **ix, void *ctx) {
    two *t = ctx;
    return te_load2(t->a, ix[1], ix[0]);
}

static mlcc_expr *transpose3_body(mlcc_expr **ix, void *ctx) {
    two *t = ctx;
    return ir_mul(te_load2(t->a, ix[1], ix[0]), f32(3));
}

static mlcc_expr *exp_sub_body(mlcc_expr **ix, void *ctx) {
    two *t = ctx;
    return ir_call1("exp", ir_sub(te_load2(t->a, ix[0], ix[1]), te_load1(t->b, ix[0])));
}

static mlcc_expr *div_body(mlcc_expr **ix, void *ctx) {
    two *t = ctx;
    return ir_div(te_load2(t->a, ix[0], ix[1]), te_load1(t->b, ix[0]));
}

static const char *names_ij[] = {"i", "j", NULL};
static const char *names_ijk[] = {"i", "j", "k", NULL};
static const char *names_ik[] = {"i", "k", NULL};

const char *kernel_name(kernel_kind k) {
    static const char *names[] = {"elemwise", "bcast_add", "matmul", "rowsum", "two_stage", "epilogue", "softmax", "mm_relu", "transpose"};
    return k < K_COUNT ? names[k] : "?";
}

mlcc_prim_func *kernel_build(kernel_kind k) {
    mlcc_expr *n = ir_size_var("n");
    two t = {0};
    switch (k) {
    case K_ELEMWISE: {
        t.a = te_placeholder("A", DT_F32, (mlcc_expr *[]){n, ir_int(12)}, 2);
        te_set_axis_names(names_ij);
        te_tensor *b = te_compute("B", DT_F32, (mlcc_expr *[]){n, ir_int(12)}, 2, elemwise_body, &t);
        return te_create_prim_func("elemwise", (te_tensor *[]){t.a, b}, 2);
    }
    case K_BCAST_ADD: {
        t.a = te_placeholder("A", DT_F32, (mlcc_expr *[]){n, ir_int(8)}, 2);
        t.b = te_placeholder("bias", DT_F32, (mlcc_expr *[]){ir_int(8)}, 1);
        te_set_axis_names(names_ij);
        te_tensor *c = te_compute("C", DT_F32, (mlcc_expr *[]){n, ir_int(8)}, 2, bcast_body, &t);
        return te_create_prim_func("bcast_add", (te_tensor *[]){t.a, t.b, c}, 3);
    }
    case K_MATMUL: {
        t.a = te_placeholder("A", DT_F32, (mlcc_expr *[]){n, ir_int(8)}, 2);
        t.b = te_placeholder("B", DT_F32, (mlcc_expr *[]){ir_int(8), ir_int(6)}, 2);
        te_set_axis_names(names_ijk);
        te_tensor *c = te_reduce("C", DT_F32, (mlcc_expr *[]){n, ir_int(6)}, 2, TE_SUM, (mlcc_expr *[]){ir_int(8)}, 1,
                                 matmul_body, &t);
        return te_create_prim_func("matmul", (te_tensor *[]){t.a, t.b, c}, 3);
    }
    case K_ROWSUM: {
        t.a = te_placeholder("A", DT_F32, (mlcc_expr *[]){n, ir_int(10)}, 2);
        te_set_axis_names(names_ik);
        te_tensor *s = te_reduce("S", DT_F32, (mlcc_expr *[]){n}, 1, TE_SUM, (mlcc_expr *[]){ir_int(10)}, 1,
                                 rowsum_body, &t);
        return te_create_prim_func("rowsum", (te_tensor *[]){t.a, s}, 2);
    }
    case K_TWO_STAGE: {
        t.a = te_placeholder("A", DT_F32, (mlcc_expr *[]){n, ir_int(8)}, 2);
        te_set_axis_names(names_ij);
        te_tensor *b = te_compute("B", DT_F32, (mlcc_expr *[]){n, ir_int(8)}, 2, times3_body, &t);
        two u = {b, NULL};
        te_set_axis_names(names_ij);
        te_tensor *c = te_compute("C", DT_F32, (mlcc_expr *[]){n, ir_int(8)}, 2, plus1_body, &u);
        return te_create_prim_func("two_stage", (te_tensor *[]){t.a, c}, 2);
    }
    case K_EPILOGUE: {
        t.a = te_placeholder("A", DT_F32, (mlcc_expr *[]){n, ir_int(8)}, 2);
        te_tensor *bias = te_placeholder("bias", DT_F32, (mlcc_expr *[]){ir_int(8)}, 1);
        te_set_axis_names(names_ij);
        te_tensor *b = te_compute("B", DT_F32, (mlcc_expr *[]){n, ir_int(8)}, 2, square_body, &t);
        two u = {b, bias};
        te_set_axis_names(names_ij);
        te_tensor *c = te_compute("C", DT_F32, (mlcc_expr *[]){n, ir_int(8)}, 2, relu_bias_body, &u);
        return te_create_prim_func("epilogue", (te_tensor *[]){t.a, bias, c}, 3);
    }
    case K_SOFTMAX: {
        t.a = te_placeholder("A", DT_F32, (mlcc_expr *[]){n, ir_int(8)}, 2);
        te_set_axis_names(names_ik);
        te_tensor *m = te_reduce("M", DT_F32, (mlcc_expr *[]){n}, 1, TE_MAX, (mlcc_expr *[]){ir_int(8)}, 1,
                                 rowsum_body, &t);
        two u = {t.a, m};
        te_set_axis_names(names_ij);
        te_tensor *e = te_compute("E", DT_F32, (mlcc_expr *[]){n, ir_int(8)}, 2, exp_sub_body, &u);
        two v = {e, NULL};
        te_set_axis_names(names_ik);
        te_tensor *s = te_reduce("S", DT_F32, (mlcc_expr *[]){n}, 1, TE_SUM, (mlcc_expr *[]){ir_int(8)}, 1,
                                 rowsum_body, &v);
        two w = {e, s};
        te_set_axis_names(names_ij);
        te_tensor *o = te_compute("O", DT_F32, (mlcc_expr *[]){n, ir_int(8)}, 2, div_body, &w);
        return te_create_prim_func("softmax", (te_tensor *[]){t.a, o}, 2);
    }
    case K_MM_RELU: {
        t.a = te_placeholder("A", DT_F32, (mlcc_expr *[]){n, ir_int(8)}, 2);
        t.b = te_placeholder("B", DT_F32, (mlcc_expr *[]){ir_int(8), ir_int(6)}, 2);
        te_set_axis_names(names_ijk);
        te_tensor *c = te_reduce("C", DT_F32, (mlcc_expr *[]){n, ir_int(6)}, 2, TE_SUM, (mlcc_expr *[]){ir_int(8)}, 1,
                                 matmul_body, &t);
        two u = {c, NULL};
        te_set_axis_names(names_ij);
        te_tensor *d = te_compute("D", DT_F32, (mlcc_expr *[]){n, ir_int(6)}, 2, relu_body, &u);
        return te_create_prim_func("mm_relu", (te_tensor *[]){t.a, t.b, d}, 3);
    }
    case K_TRANSPOSE: {
        t.a = te_placeholder("A", DT_F32, (mlcc_expr *[]){n, ir_int(5)}, 2);
        static const char *names_ab[] = {"a", "b", NULL};
        te_set_axis_names(names_ab);
        te_tensor *tt = te_compute("T", DT_F32, (mlcc_expr *[]){ir_int(5), n}, 2, transpose_body, &t);
        two u = {tt, NULL};
        te_set_axis_names(names_ij);
        te_tensor *o = te_compute("O", DT_F32, (mlcc_expr *[]){n, ir_int(5)}, 2, transpose3_body, &u);
        return te_create_prim_func("transpose", (te_tensor *[]){t.a, o}, 2);
    }
    default: return NULL;
    }
}

/* Shapes here are built from immediates, n and + / *. */
static int64_t shape_value(const mlcc_expr *e, int64_t n) {
    switch (e->kind) {
    case EXPR_INT: return e->int_value;
    case EXPR_VAR: return n;
    case EXPR_ADD: return shape_value(e->bin.a, n) + shape_value(e->bin.b, n);
    case EXPR_MUL: return shape_value(e->bin.a, n) * shape_value(e->bin.b, n);
    default: return -1;
    }
}

static uint64_t next_random(uint64_t *state) {
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* Is the buffer read anywhere (an input) rather than only written? Parameters that te made
 * from placeholders come first; the last parameter is the output in these kernels. */
double *kernel_run_opts(const mlcc_prim_func *f, int64_t n, uint64_t seed, int *len, int reverse_parallel) {
    tir_interp_arg args[8];
    int64_t shapes[8][8];
    int64_t sizes[8];
    int total = 0;
    if (f->nparams > 8) {
        mlcc_set_error("kernel_run: too many parameters");
        return NULL;
    }
    for (int i = 0; i < f->nparams; i++) {
        mlcc_buffer *b = f->params[i].buffer;
        memset(&args[i], 0, sizeof args[i]);
        sizes[i] = 1;
        for (int d = 0; d < b->ndim; d++) {
            shapes[i][d] = shape_value(b->shape[d], n);
            sizes[i] *= shapes[i][d];
        }
        args[i].shape = shapes[i];
        args[i].ndim = b->ndim;
        total += (int)sizes[i];
    }
    double *all = mlcc_xmalloc(sizeof(double) * (size_t)(total > 0 ? total : 1));
    uint64_t state = seed;
    int off = 0;
    for (int i = 0; i < f->nparams; i++) {
        args[i].f64 = all + off;
        int is_output = i == f->nparams - 1;
        for (int64_t e = 0; e < sizes[i]; e++)
            all[off + e] = is_output ? 777.0 : (double)(float)((double)(next_random(&state) >> 11) / 9007199254740992.0 * 2 - 1);
        off += (int)sizes[i];
    }
    tir_interp_opts opts = {reverse_parallel, 2 * 1000 * 1000};
    if (tir_interp_run_opts(f, args, f->nparams, &opts)) {
        free(all);
        return NULL;
    }
    *len = total;
    return all;
}

double *kernel_run(const mlcc_prim_func *f, int64_t n, uint64_t seed, int *len) {
    return kernel_run_opts(f, n, seed, len, 0);
}

int kernel_compare(const mlcc_prim_func *ref, const mlcc_prim_func *got, int64_t n, uint64_t seed) {
    int la = 0, lb = 0;
    double *a = kernel_run(ref, n, seed, &la);
    if (!a) return mlcc_prefix_error("reference (n=%lld)", (long long)n);
    double *b = kernel_run_opts(got, n, seed, &lb, 1);
    if (!b) {
        free(a);
        return mlcc_prefix_error("scheduled (n=%lld)", (long long)n);
    }
    int rc = 0;
    if (la != lb) rc = mlcc_set_error("sizes differ: %d vs %d", la, lb);
    for (int i = 0; rc == 0 && i < la; i++) {
        double tol = 1e-5 * (1 + fabs(a[i]));
        if (!(fabs(a[i] - b[i]) <= tol) && !(isnan(a[i]) && isnan(b[i])))
            rc = mlcc_set_error("n=%lld: element %d differs: %.9g (reference) vs %.9g", (long long)n, i, a[i], b[i]);
    }
    free(a);
    free(b);
    return rc;
}

char *golden_text(const char *name, const char *actual) {
    const char *root = getenv("MLCC_SOURCE_DIR");
    if (!root) root = ".";
    char rel[256];
    snprintf(rel, sizeof rel, "tests/unit/golden/%s.txt", name);
    char *path = mlcc_path_join(root, rel);
    const char *update = getenv("MLCC_UPDATE_GOLDEN");
    if (update && *update == '1') mlcc_write_file_atomic(path, actual, strlen(actual));
    size_t len;
    char *text = mlcc_read_file(path, &len);
    free(path);
    return text;
}

char *schedule_text(const mlcc_prim_func *f, const char *trace) {
    mlcc_strbuf sb = STRBUF_INIT;
    tir_print_func(f, &sb);
    sb_append(&sb, "\n# trace\n");
    sb_append(&sb, trace);
    return sb_detach(&sb);
}

int replay_matches(const mlcc_prim_func *orig, mlcc_schedule *s) {
    char *trace = sch_trace_str(s);
    mlcc_schedule *r = sch_create(orig);
    int rc = sch_replay(r, trace);
    if (rc == 0) {
        char *a = tir_func_to_string(sch_func(s)), *b = tir_func_to_string(sch_func(r));
        char *ta = sch_trace_str(r);
        if (!tir_structural_equal(sch_func(s), sch_func(r)))
            rc = mlcc_set_error("replayed function is not structurally equal:\n%s\n--- vs\n%s\n--- trace:\n%s", a, b, trace);
        else if (strcmp(a, b) != 0) rc = mlcc_set_error("replayed function differs:\n%s\n--- vs\n%s\n--- trace:\n%s", a, b, trace);
        else if (strcmp(trace, ta) != 0) rc = mlcc_set_error("replayed trace differs:\n%s\n--- vs\n%s", trace, ta);
        free(a);
        free(b);
        free(ta);
    }
    sch_free(r);
    free(trace);
    return rc;
}

int compare_at_sizes(const mlcc_prim_func *ref, const mlcc_prim_func *got, uint64_t seed) {
    static const int64_t sizes[] = {1, 7, 16, 33};
    for (int i = 0; i < 4; i++)
        if (kernel_compare(ref, got, sizes[i], seed + (uint64_t)i)) return -1;
    return 0;
}
