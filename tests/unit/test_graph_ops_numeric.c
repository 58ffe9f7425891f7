/* test_graph_ops_numeric.c - every legalized op, compiled with mlcc_jit_build and run on random
 * inputs at two sets of symbolic sizes (n, m), compared with float64 loops written here.
 *
 * Each case is a graph function with one op call over symbolic shapes; legalize turns it into
 * call_tir of a PrimFunc, all PrimFuncs are compiled as one module, and the test calls each
 * kernel on DLTensors whose shapes it evaluates from the output struct info. */
#include <math.h>
#include <stdint.h>

#include "codegen/jit.h"
#include "ir/block_builder.h"
#include "op/op.h"
#include "support/error.h"
#include "tensor_util.h"
#include "test.h"
#include "transform/pass.h"

static mlcc_expr *N, *M;
static int64_t n_val, m_val;

/* ---- float64 reference tensors ---- */

typedef struct ref {
    double *d;
    int ndim;
    int64_t shape[8];
    int64_t numel;
} ref;

static int64_t eval_dim(const mlcc_expr *e) {
    switch (e->kind) {
    case EXPR_INT: return e->int_value;
    case EXPR_VAR: return e == N ? n_val : m_val;
    case EXPR_ADD: return eval_dim(e->bin.a) + eval_dim(e->bin.b);
    case EXPR_SUB: return eval_dim(e->bin.a) - eval_dim(e->bin.b);
    case EXPR_MUL: return eval_dim(e->bin.a) * eval_dim(e->bin.b);
    case EXPR_FLOORDIV: return eval_dim(e->bin.a) / eval_dim(e->bin.b);
    case EXPR_MIN: return eval_dim(e->bin.a) < eval_dim(e->bin.b) ? eval_dim(e->bin.a) : eval_dim(e->bin.b);
    default: return -1;
    }
}

static void ref_shape(ref *r, const rx_sinfo *s) {
    r->ndim = s->ndim;
    r->numel = 1;
    for (int i = 0; i < s->ndim; i++) {
        r->shape[i] = eval_dim(s->shape[i]);
        r->numel *= r->shape[i];
    }
    r->d = calloc((size_t)(r->numel + 1), sizeof(double));
}

/* Row-major offset of a multi-index. */
static int64_t offset(const ref *r, const int64_t *idx) {
    int64_t o = 0;
    for (int i = 0; i < r->ndim; i++) o = o * r->shape[i] + idx[i];
    return o;
}

static void unravel(const ref *r, int64_t flat, int64_t *idx) {
    for (int i = r->ndim - 1; i >= 0; i--) {
        idx[i] = flat % r->shape[i];
        flat /= r->shape[i];
    }
}

/* The element of a (numpy-broadcast) at the output multi-index idx of rank out_nd. */
static double bcast_at(const ref *a, const int64_t *idx, int out_nd) {
    int64_t ai[8];
    for (int d = 0; d < a->ndim; d++) {
        int64_t o = idx[d + out_nd - a->ndim];
        ai[d] = a->shape[d] == 1 ? 0 : o;
    }
    return a->d[offset(a, ai)];
}

/* ---- the cases ---- */

typedef void (*ref_fn)(ref *in, ref *out);

typedef struct op_case {
    const char *name;
    int nin;
    mlcc_dtype in_dtype[4];
    rx_sinfo *in_sinfo[4];
    int positive[4]; /* inputs drawn from [0.5, 1.5) */
    rx_expr *(*build)(rx_expr **x);
    ref_fn reference; /* writes out[0..nout) */
    double tol;
    /* filled in */
    const char *kernel;
    rx_sinfo *out_sinfo;
} op_case;

static double apply_binary(const char *name, double a, double b) {
    if (!strcmp(name, "add")) return a + b;
    if (!strcmp(name, "subtract")) return a - b;
    if (!strcmp(name, "multiply")) return a * b;
    if (!strcmp(name, "divide")) return a / b;
    if (!strcmp(name, "maximum")) return fmax(a, b);
    if (!strcmp(name, "minimum")) return fmin(a, b);
    return pow(a, b);
}

static const char *current_op;

static void ref_binary(ref *in, ref *out) {
    int64_t idx[8];
    for (int64_t i = 0; i < out->numel; i++) {
        unravel(out, i, idx);
        out->d[i] = apply_binary(current_op, bcast_at(&in[0], idx, out->ndim), bcast_at(&in[1], idx, out->ndim));
    }
}

static double sigmoid(double x) {
    return 1 / (1 + exp(-x));
}

static void ref_unary(ref *in, ref *out) {
    for (int64_t i = 0; i < out->numel; i++) {
        double x = in[0].d[i], y;
        if (!strcmp(current_op, "exp")) y = exp(x);
        else if (!strcmp(current_op, "log")) y = log(x);
        else if (!strcmp(current_op, "tanh")) y = tanh(x);
        else if (!strcmp(current_op, "sqrt")) y = sqrt(x);
        else if (!strcmp(current_op, "rsqrt")) y = 1 / sqrt(x);
        else if (!strcmp(current_op, "negative")) y = -x;
        else if (!strcmp(current_op, "sigmoid")) y = sigmoid(x);
        else if (!strcmp(current_op, "nn.silu")) y = x * sigmoid(x);
        else if (!strcmp(current_op, "nn.gelu")) y = 0.5 * x * (1 + erf(x / sqrt(2.0)));
        else y = 0.5 * x * (1 + tanh(sqrt(2 / M_PI) * (x + 0.044715 * x * x * x)));
        out->d[i] = y;
    }
}

/* out[..., i, j] = sum_k a[..., i, k] * b[..., k, j] (b[..., j, k] when transposed), batch dims
 * broadcast. */
static int transpose_b;
static void ref_matmul(ref *in, ref *out) {
    ref *a = &in[0], *b = &in[1];
    int64_t K = a->shape[a->ndim - 1];
    int64_t idx[8], ai[8], bi[8];
    for (int64_t f = 0; f < out->numel; f++) {
        unravel(out, f, idx);
        int nb = out->ndim - 2;
        int64_t i = idx[nb], j = idx[nb + 1];
        double s = 0;
        for (int64_t k = 0; k < K; k++) {
            for (int d = 0; d < a->ndim - 2; d++) ai[d] = a->shape[d] == 1 ? 0 : idx[d + nb - (a->ndim - 2)];
            for (int d = 0; d < b->ndim - 2; d++) bi[d] = b->shape[d] == 1 ? 0 : idx[d + nb - (b->ndim - 2)];
            ai[a->ndim - 2] = i, ai[a->ndim - 1] = k;
            if (transpose_b) bi[b->ndim - 2] = j, bi[b->ndim - 1] = k;
            else bi[b->ndim - 2] = k, bi[b->ndim - 1] = j;
            s += a->d[offset(a, ai)] * b->d[offset(b, bi)];
        }
        out->d[f] = s;
    }
}

static void ref_copy(ref *in, ref *out) {
    for (int64_t i = 0; i < out->numel; i++) out->d[i] = in[0].d[i];
}

static void ref_trunc(ref *in, ref *out) {
    for (int64_t i = 0; i < out->numel; i++) out->d[i] = trunc(in[0].d[i]);
}

static const int perm[3] = {2, 0, 1};
static void ref_permute(ref *in, ref *out) {
    int64_t idx[8], src[8] = {0};
    for (int64_t f = 0; f < out->numel; f++) {
        unravel(out, f, idx);
        for (int d = 0; d < 3; d++) src[perm[d]] = idx[d];
        out->d[f] = in[0].d[offset(&in[0], src)];
    }
}

static int concat_axis;
static void ref_concat(ref *in, ref *out) {
    int64_t idx[8];
    for (int64_t f = 0; f < out->numel; f++) {
        unravel(out, f, idx);
        int which = idx[concat_axis] < in[0].shape[concat_axis] ? 0 : 1;
        if (which) idx[concat_axis] -= in[0].shape[concat_axis];
        out->d[f] = in[which].d[offset(&in[which], idx)];
    }
}

/* split (n, 12) into 3 along axis 1: out[p][i, j] = x[i, 4p + j] */
static void ref_split(ref *in, ref *out) {
    int64_t idx[8];
    for (int p = 0; p < 3; p++)
        for (int64_t f = 0; f < out[p].numel; f++) {
            unravel(&out[p], f, idx);
            idx[1] += 4 * p;
            out[p].d[f] = in[0].d[offset(&in[0], idx)];
        }
}

static void ref_take(ref *in, ref *out) {
    int64_t cols = in[0].shape[1];
    for (int64_t r = 0; r < out->shape[0]; r++)
        for (int64_t c = 0; c < cols; c++) out->d[r * cols + c] = in[0].d[(int64_t)in[1].d[r] * cols + c];
}

/* x[:, 1:11:3] */
static void ref_slice_cols(ref *in, ref *out) {
    for (int64_t r = 0; r < out->shape[0]; r++)
        for (int64_t c = 0; c < out->shape[1]; c++) out->d[r * out->shape[1] + c] = in[0].d[r * 12 + 1 + 3 * c];
}

/* x[1:, :] over the symbolic axis */
static void ref_slice_rows(ref *in, ref *out) {
    for (int64_t i = 0; i < out->numel; i++) out->d[i] = in[0].d[in[0].shape[1] + i];
}

static void ref_rms_norm(ref *in, ref *out) {
    int64_t H = in[0].shape[1];
    for (int64_t r = 0; r < in[0].shape[0]; r++) {
        double ss = 0;
        for (int64_t c = 0; c < H; c++) ss += in[0].d[r * H + c] * in[0].d[r * H + c];
        double scale = 1 / sqrt(ss / H + 1e-5);
        for (int64_t c = 0; c < H; c++) out->d[r * H + c] = in[0].d[r * H + c] * scale * in[1].d[c];
    }
}

static void ref_layer_norm(ref *in, ref *out) {
    int64_t H = in[0].shape[1];
    for (int64_t r = 0; r < in[0].shape[0]; r++) {
        double mean = 0, var = 0;
        for (int64_t c = 0; c < H; c++) mean += in[0].d[r * H + c];
        mean /= H;
        for (int64_t c = 0; c < H; c++) var += (in[0].d[r * H + c] - mean) * (in[0].d[r * H + c] - mean);
        var /= H;
        for (int64_t c = 0; c < H; c++)
            out->d[r * H + c] = (in[0].d[r * H + c] - mean) / sqrt(var + 1e-5) * in[1].d[c] + in[2].d[c];
    }
}

static void ref_softmax(ref *in, ref *out) {
    int64_t H = in[0].shape[1];
    for (int64_t r = 0; r < in[0].shape[0]; r++) {
        double mx = -INFINITY, s = 0;
        for (int64_t c = 0; c < H; c++) mx = fmax(mx, in[0].d[r * H + c]);
        for (int64_t c = 0; c < H; c++) s += exp(in[0].d[r * H + c] - mx);
        for (int64_t c = 0; c < H; c++) out->d[r * H + c] = exp(in[0].d[r * H + c] - mx) / s;
    }
}

static void ref_sum_rows(ref *in, ref *out) {
    int64_t H = in[0].shape[1];
    for (int64_t r = 0; r < in[0].shape[0]; r++) {
        double s = 0;
        for (int64_t c = 0; c < H; c++) s += in[0].d[r * H + c];
        out->d[r] = s;
    }
}

static void ref_max_cols(ref *in, ref *out) {
    int64_t H = in[0].shape[1];
    for (int64_t c = 0; c < H; c++) {
        double mx = -INFINITY;
        for (int64_t r = 0; r < in[0].shape[0]; r++) mx = fmax(mx, in[0].d[r * H + c]);
        out->d[c] = mx;
    }
}

static void ref_mean_all(ref *in, ref *out) {
    double s = 0;
    for (int64_t i = 0; i < in[0].numel; i++) s += in[0].d[i];
    out->d[0] = s / (double)in[0].numel;
}

static void ref_fill_15(ref *in, ref *out) {
    (void)in;
    for (int64_t i = 0; i < out->numel; i++) out->d[i] = 1.5;
}

static void ref_zero(ref *in, ref *out) {
    (void)in;
    for (int64_t i = 0; i < out->numel; i++) out->d[i] = 0;
}

/* ---- builders ---- */

static rx_expr *b_binary(rx_expr **x) { return op_binary(current_op, x[0], x[1]); }
static rx_expr *b_unary(rx_expr **x) { return op_unary(current_op, x[0]); }
static rx_expr *b_matmul(rx_expr **x) { return op_matmul(x[0], x[1]); }
static rx_expr *b_linear(rx_expr **x) { return op_linear(x[0], x[1]); }
static rx_expr *b_reshape(rx_expr **x) { return op_reshape(x[0], (mlcc_expr *[]){ir_int(-1), ir_int(2), ir_int(4)}, 3); }
static rx_expr *b_flatten(rx_expr **x) { return op_reshape(x[0], (mlcc_expr *[]){ir_int(-1)}, 1); }
static rx_expr *b_permute(rx_expr **x) { return op_permute_dims(x[0], (int64_t[]){2, 0, 1}, 3); }
static rx_expr *b_concat0(rx_expr **x) { return op_concat(x, 2, 0); }
static rx_expr *b_concat1(rx_expr **x) { return op_concat(x, 2, 1); }
static rx_expr *b_split(rx_expr **x) { return op_split(x[0], 3, 1); }
static rx_expr *b_take(rx_expr **x) { return op_take(x[0], x[1], 0); }
static rx_expr *b_slice_cols(rx_expr **x) {
    return op_strided_slice(x[0], (int64_t[]){1}, (int64_t[]){1}, (int64_t[]){11}, (int64_t[]){3}, 1);
}
static rx_expr *b_slice_rows(rx_expr **x) {
    return op_strided_slice(x[0], (int64_t[]){0}, (int64_t[]){1}, (int64_t[]){INT64_MAX}, NULL, 1);
}
static rx_expr *b_astype(rx_expr **x) { return op_astype(x[0], DT_I32); }
static rx_expr *b_rms_norm(rx_expr **x) { return op_rms_norm(x[0], x[1], 1e-5); }
static rx_expr *b_layer_norm(rx_expr **x) { return op_layer_norm(x[0], x[1], x[2], 1e-5); }
static rx_expr *b_softmax(rx_expr **x) { return op_softmax(x[0], -1); }
static rx_expr *b_sum(rx_expr **x) { return op_reduce("sum", x[0], (int64_t[]){1}, 1, 0); }
static rx_expr *b_max(rx_expr **x) { return op_reduce("max", x[0], (int64_t[]){0}, 1, 1); }
static rx_expr *b_mean(rx_expr **x) { return op_reduce("mean", x[0], NULL, 0, 0); }
static rx_expr *b_full(rx_expr **x) { (void)x; return op_full((mlcc_expr *[]){N, ir_int(3)}, 2, 1.5, DT_F32); }
static rx_expr *b_zeros(rx_expr **x) { (void)x; return op_zeros((mlcc_expr *[]){M, ir_int(2)}, 2, DT_F32); }

static rx_sinfo *T2(mlcc_expr *a, int64_t b) { return rx_sinfo_tensor_v(DT_F32, a, ir_int(b), NULL); }
static rx_sinfo *T1(mlcc_expr *a) { return rx_sinfo_tensor_v(DT_F32, a, NULL); }

enum { MAX_CASES = 64 };
static op_case cases[MAX_CASES];
static int ncases;
static const char *case_op[MAX_CASES];
static int case_transpose[MAX_CASES], case_axis[MAX_CASES];

static op_case *add_case(const char *name, rx_expr *(*build)(rx_expr **), ref_fn reference, int nin, rx_sinfo **in) {
    op_case *c = &cases[ncases];
    memset(c, 0, sizeof *c);
    case_op[ncases] = name;
    ncases++;
    c->name = name;
    c->build = build;
    c->reference = reference;
    c->nin = nin;
    c->tol = 2e-6;
    for (int i = 0; i < nin; i++) c->in_sinfo[i] = in[i];
    return c;
}

static void define_cases(void) {
    mlcc_expr *one = ir_int(1);
    add_case("add", b_binary, ref_binary, 2, (rx_sinfo *[]){T2(N, 8), T1(ir_int(8))});
    add_case("subtract", b_binary, ref_binary, 2, (rx_sinfo *[]){T2(N, 1), rx_sinfo_tensor_v(DT_F32, one, M, NULL)});
    add_case("multiply", b_binary, ref_binary, 2, (rx_sinfo *[]){T2(N, 8), T2(N, 8)});
    op_case *c = add_case("divide", b_binary, ref_binary, 2, (rx_sinfo *[]){T2(N, 8), T2(N, 8)});
    c->positive[1] = 1;
    add_case("maximum", b_binary, ref_binary, 2, (rx_sinfo *[]){T2(N, 8), T2(one, 8)});
    add_case("minimum", b_binary, ref_binary, 2, (rx_sinfo *[]){rx_sinfo_tensor_v(DT_F32, ir_int(2), N, ir_int(3), NULL),
                                                               T2(N, 1)});
    c = add_case("power", b_binary, ref_binary, 2, (rx_sinfo *[]){T2(N, 8), T2(N, 8)});
    c->positive[0] = 1;
    const char *unary[] = {"exp", "log", "tanh", "sqrt", "rsqrt", "negative", "sigmoid", "nn.silu", "nn.gelu",
                           "nn.gelu_tanh"};
    for (int i = 0; i < 10; i++) {
        c = add_case(unary[i], b_unary, ref_unary, 1, (rx_sinfo *[]){T2(N, 8)});
        c->positive[0] = !strcmp(unary[i], "log") || strstr(unary[i], "sqrt") != NULL;
    }
    c = add_case("matmul", b_matmul, ref_matmul, 2, (rx_sinfo *[]){T2(N, 16), rx_sinfo_tensor_v(DT_F32, ir_int(16), M, NULL)});
    c->tol = 1e-5;
    c = add_case("linear", b_linear, ref_matmul, 2, (rx_sinfo *[]){T2(N, 16), T2(ir_int(8), 16)});
    c->tol = 1e-5;
    case_transpose[ncases - 1] = 1;
    c = add_case("matmul_batched", b_matmul, ref_matmul, 2,
                 (rx_sinfo *[]){rx_sinfo_tensor_v(DT_F32, ir_int(2), N, ir_int(4), NULL),
                                rx_sinfo_tensor_v(DT_F32, ir_int(2), ir_int(4), M, NULL)});
    c->tol = 1e-5;
    c = add_case("matmul_bcast", b_matmul, ref_matmul, 2,
                 (rx_sinfo *[]){rx_sinfo_tensor_v(DT_F32, ir_int(3), N, ir_int(4), NULL), T2(ir_int(4), 5)});
    c->tol = 1e-5;
    add_case("reshape", b_reshape, ref_copy, 1, (rx_sinfo *[]){T2(N, 8)});
    add_case("reshape_flat", b_flatten, ref_copy, 1, (rx_sinfo *[]){rx_sinfo_tensor_v(DT_F32, N, ir_int(2), ir_int(4), NULL)});
    add_case("permute_dims", b_permute, ref_permute, 1, (rx_sinfo *[]){rx_sinfo_tensor_v(DT_F32, N, ir_int(3), ir_int(4), NULL)});
    add_case("concat0", b_concat0, ref_concat, 2, (rx_sinfo *[]){T2(N, 8), T2(M, 8)});
    case_axis[ncases - 1] = 0;
    add_case("concat1", b_concat1, ref_concat, 2, (rx_sinfo *[]){T2(N, 3), T2(N, 5)});
    case_axis[ncases - 1] = 1;
    add_case("split", b_split, ref_split, 1, (rx_sinfo *[]){T2(N, 12)});
    add_case("take", b_take, ref_take, 2, (rx_sinfo *[]){T2(ir_int(10), 8), rx_sinfo_tensor_v(DT_I32, N, NULL)});
    add_case("slice_cols", b_slice_cols, ref_slice_cols, 1, (rx_sinfo *[]){T2(N, 12)});
    add_case("slice_rows", b_slice_rows, ref_slice_rows, 1, (rx_sinfo *[]){T2(N, 5)});
    add_case("astype", b_astype, ref_trunc, 1, (rx_sinfo *[]){T2(N, 8)});
    add_case("rms_norm", b_rms_norm, ref_rms_norm, 2, (rx_sinfo *[]){T2(N, 8), T1(ir_int(8))});
    add_case("layer_norm", b_layer_norm, ref_layer_norm, 3, (rx_sinfo *[]){T2(N, 8), T1(ir_int(8)), T1(ir_int(8))});
    add_case("softmax", b_softmax, ref_softmax, 1, (rx_sinfo *[]){T2(N, 8)});
    add_case("sum", b_sum, ref_sum_rows, 1, (rx_sinfo *[]){T2(N, 8)});
    add_case("max", b_max, ref_max_cols, 1, (rx_sinfo *[]){T2(N, 8)});
    add_case("mean", b_mean, ref_mean_all, 1, (rx_sinfo *[]){T2(N, 8)});
    add_case("full", b_full, ref_fill_15, 0, NULL);
    add_case("zeros", b_zeros, ref_zero, 0, NULL);
    /* half precision: storage in float16, norms accumulate in float32 */
    rx_sinfo *h2 = rx_sinfo_tensor_v(DT_F16, N, ir_int(8), NULL), *h1 = rx_sinfo_tensor_v(DT_F16, ir_int(8), NULL);
    c = add_case("add", b_binary, ref_binary, 2, (rx_sinfo *[]){h2, h1});
    c->tol = 1e-3;
    c = add_case("rms_norm", b_rms_norm, ref_rms_norm, 2, (rx_sinfo *[]){h2, h1});
    c->tol = 2e-3;
    c = add_case("softmax", b_softmax, ref_softmax, 1, (rx_sinfo *[]){h2});
    c->tol = 2e-3;
    c = add_case("matmul", b_linear, ref_matmul, 2, (rx_sinfo *[]){rx_sinfo_tensor_v(DT_F16, N, ir_int(16), NULL),
                                                                   rx_sinfo_tensor_v(DT_F16, ir_int(8), ir_int(16), NULL)});
    case_transpose[ncases - 1] = 1;
    c->tol = 4e-3;
}

/* ---- building, legalizing, compiling ---- */

static int build_case(mlcc_ir_module *mod, op_case *c, int index) {
    current_op = case_op[index];
    rx_builder *bb = bb_new(mod);
    rx_expr *params[4];
    for (int i = 0; i < c->nin; i++) {
        char name[16];
        snprintf(name, sizeof name, "x%d", i);
        params[i] = rx_var(name, c->in_sinfo[i]);
    }
    char fname[64];
    snprintf(fname, sizeof fname, "f_%d", index);
    bb_begin_function(bb, fname, params, c->nin);
    bb_begin_dataflow(bb);
    rx_expr *v = bb_emit(bb, c->build(params), "lv");
    rx_expr *gv = bb_emit_output(bb, v, "gv");
    bb_end_dataflow(bb);
    rx_expr *fn = bb_end_function(bb, gv);
    bb_free(bb);
    CHECK_MSG(fn != NULL, "%s: %s", c->name, mlcc_last_error());
    return fn ? 0 : -1;
}

/* The PrimFunc that the legalized function f_<index> calls. */
static void find_kernel(mlcc_ir_module *m, op_case *c, int index) {
    char fname[64];
    snprintf(fname, sizeof fname, "f_%d", index);
    rx_expr *fn = irmod_get_graph(m, fname);
    if (!fn) return;
    rx_expr *seq = fn->func.body;
    for (int b = 0; b < seq->seq.nblocks; b++)
        for (int j = 0; j < seq->seq.blocks[b].n; j++) {
            rx_expr *v = seq->seq.blocks[b].bindings[j].value;
            if (rx_is_op_call(v, "call_tir")) {
                c->kernel = v->call.args[0]->var.name;
                c->out_sinfo = v->call.sinfo_args[0];
            }
        }
}

/* Element k of a host buffer of dtype t, as a double (float32, float16, int32). */
static double element(const void *data, mlcc_dtype t, int64_t k) {
    if (dtype_is_int(t)) return ((const int32_t *)data)[k];
    if (t.bits == 16) return (double)((const _Float16 *)data)[k];
    return ((const float *)data)[k];
}

static void fill_input(op_case *c, int i, ref *r, void **data) {
    ref_shape(r, c->in_sinfo[i]);
    mlcc_dtype t = c->in_sinfo[i]->dtype;
    int is_int = dtype_is_int(t);
    *data = malloc(sizeof(float) * (size_t)(r->numel + 1));
    for (int64_t k = 0; k < r->numel; k++) {
        if (is_int) {
            int32_t id = (int32_t)((test_rand_float() + 1) * 5); /* rows of a 10-row table */
            if (id > 9) id = 9;
            ((int32_t *)*data)[k] = id;
            r->d[k] = id;
        } else {
            float v = test_rand_float() * 3;
            if (c->positive[i]) v = 0.5f + (v + 3) / 6;
            if (t.bits == 16) ((_Float16 *)*data)[k] = (_Float16)v;
            else ((float *)*data)[k] = v;
            r->d[k] = element(*data, t, k); /* the reference sees the rounded input */
        }
    }
}

static void run_case(mlcc_jit_module *jm, op_case *c, int index) {
    current_op = case_op[index];
    transpose_b = case_transpose[index];
    concat_axis = case_axis[index];
    CHECK_MSG(c->kernel != NULL, "%s: no call_tir after legalize", c->name);
    if (!c->kernel) return;
    MLCCPackedCFunc fn = mlcc_jit_get_function(jm, c->kernel);
    CHECK_MSG(fn != NULL, "%s: %s", c->name, mlcc_last_error());
    if (!fn) return;
    int nout = c->out_sinfo->kind == SI_TUPLE ? c->out_sinfo->nfields : 1;
    ref in[4], want[4];
    void *in_data[4];
    float *out_data[4];
    DLTensor ts[8];
    DLTensor *args[8];
    for (int i = 0; i < c->nin; i++) {
        fill_input(c, i, &in[i], &in_data[i]);
        mlcc_dtype t = c->in_sinfo[i]->dtype;
        ts[i] = test_tensor(in_data[i], dtype_is_int(t) ? kDLInt : kDLFloat, t.bits, in[i].ndim, in[i].shape);
        args[i] = &ts[i];
    }
    for (int o = 0; o < nout; o++) {
        rx_sinfo *s = c->out_sinfo->kind == SI_TUPLE ? c->out_sinfo->fields[o] : c->out_sinfo;
        ref_shape(&want[o], s);
        out_data[o] = calloc((size_t)(want[o].numel + 1), sizeof(float));
        ts[c->nin + o] = test_tensor(out_data[o], dtype_is_int(s->dtype) ? kDLInt : kDLFloat, s->dtype.bits, want[o].ndim,
                                     want[o].shape);
        args[c->nin + o] = &ts[c->nin + o];
    }
    int rc = test_call_tensors(fn, args, c->nin + nout);
    CHECK_MSG(rc == 0, "%s (n=%lld, m=%lld): %s", c->name, (long long)n_val, (long long)m_val, mlcc_last_error());
    c->reference(in, want);
    for (int o = 0; rc == 0 && o < nout; o++) {
        rx_sinfo *s = c->out_sinfo->kind == SI_TUPLE ? c->out_sinfo->fields[o] : c->out_sinfo;
        if (dtype_is_int(s->dtype)) {
            int bad = 0;
            for (int64_t k = 0; k < want[o].numel; k++) bad += ((int32_t *)out_data[o])[k] != (int32_t)want[o].d[k];
            CHECK_MSG(bad == 0, "%s (n=%lld): %d wrong elements", c->name, (long long)n_val, bad);
        } else {
            float *got = malloc(sizeof(float) * (size_t)(want[o].numel + 1));
            for (int64_t k = 0; k < want[o].numel; k++) got[k] = (float)element(out_data[o], s->dtype, k);
            double err = test_max_rel_error(got, want[o].d, want[o].numel);
            free(got);
            CHECK_MSG(err <= c->tol, "%s output %d (n=%lld, m=%lld): relative error %g", c->name, o, (long long)n_val,
                      (long long)m_val, err);
        }
    }
    for (int i = 0; i < c->nin; i++) free(in[i].d), free(in_data[i]);
    for (int o = 0; o < nout; o++) free(want[o].d), free(out_data[o]);
}

int main(void) {
    ir_scope_begin();
    N = ir_size_var("n");
    M = ir_size_var("m");
    define_cases();
    mlcc_ir_module *mod = irmod_new();
    for (int i = 0; i < ncases; i++) build_case(mod, &cases[i], i);
    mlcc_ir_module *legal = pass_legalize(mod, NULL);
    CHECK_MSG(legal != NULL, "%s", mlcc_last_error());
    if (!legal) return test_finish();
    mlcc_prim_func *prims[MAX_CASES * 2];
    int nprims = 0;
    for (int i = 0; i < legal->n; i++)
        if (legal->entries[i].kind == IRMOD_PRIM) prims[nprims++] = legal->entries[i].prim;
    for (int i = 0; i < ncases; i++) find_kernel(legal, &cases[i], i);
    mlcc_jit_module *jm = mlcc_jit_build(prims, nprims);
    CHECK_MSG(jm != NULL, "%s", mlcc_last_error());
    if (jm) {
        int64_t sizes[2][2] = {{3, 5}, {17, 2}};
        for (int s = 0; s < 2; s++) {
            n_val = sizes[s][0];
            m_val = sizes[s][1];
            for (int i = 0; i < ncases; i++) run_case(jm, &cases[i], i);
        }
        mlcc_jit_free(jm);
    }
    ir_scope_end();
    return test_finish();
}
