/* test_op_attention.c - nn.attention and nn.rope, compiled through the build driver with
 * symbolic sequence lengths and run on the VM against float64 loops written from the
 * definitions: attention with grouped KV heads, queries at the end of a longer key sequence
 * (n < m), a sliding window and a soft-cap; rope at given positions and at 0..n-1. */
#include <math.h>

#include "codegen/build.h"
#include "ir/block_builder.h"
#include "op/op.h"
#include "support/error.h"
#include "tensor_util.h"
#include "test.h"

enum { H = 4, KV = 2, D = 8 };

static MLCCNDArray *rand3(int64_t a, int64_t b, int64_t c) {
    MLCCNDArray *t = mlcc_ndarray_empty(3, (int64_t[]){a, b, c}, MLCC_DTYPE_F32, MLCC_CPU);
    float *p = t->dl.data;
    for (int64_t i = 0; i < a * b * c; i++) p[i] = test_rand_float() * 2;
    return t;
}

static MLCCVM *build_attention(int64_t window, double softcap, double scale) {
    mlcc_expr *n = ir_size_var("n"), *m = ir_size_var("m");
    rx_expr *q = rx_var("q", rx_sinfo_tensor_v(DT_F32, n, ir_int(H), ir_int(D), NULL));
    rx_expr *k = rx_var("k", rx_sinfo_tensor_v(DT_F32, m, ir_int(KV), ir_int(D), NULL));
    rx_expr *v = rx_var("v", rx_sinfo_tensor_v(DT_F32, m, ir_int(KV), ir_int(D), NULL));
    mlcc_ir_module *mod = irmod_new();
    rx_builder *bb = bb_new(mod);
    bb_begin_function(bb, "main", (rx_expr *[]){q, k, v}, 3);
    bb_begin_dataflow(bb);
    rx_expr *o = bb_emit_output(bb, op_attention(q, k, v, scale, window, softcap), "o");
    bb_end_dataflow(bb);
    CHECK_MSG(bb_end_function(bb, o) != NULL, "%s", bb_error(bb));
    bb_free(bb);
    MLCCVM *vm = mlcc_build_vm(mod, NULL);
    CHECK_MSG(vm != NULL, "%s", mlcc_last_error());
    return vm;
}

static void check_attention(MLCCVM *vm, int64_t n, int64_t m, int64_t window, double softcap, double scale) {
    MLCCNDArray *q = rand3(n, H, D), *k = rand3(m, KV, D), *v = rand3(m, KV, D);
    MLCCValue args[3] = {{.v_handle = q}, {.v_handle = k}, {.v_handle = v}}, ret;
    int codes[3] = {MLCC_TYPE_OBJECT, MLCC_TYPE_OBJECT, MLCC_TYPE_OBJECT}, code;
    int rc = mlcc_vm_invoke(vm, "main", args, codes, 3, &ret, &code);
    CHECK_MSG(rc == 0, "%s", mlcc_last_error());
    if (rc == 0) {
        const float *pq = q->dl.data, *pk = k->dl.data, *pv = v->dl.data;
        double *want = calloc((size_t)(n * H * D), sizeof(double));
        for (int64_t i = 0; i < n; i++)
            for (int h = 0; h < H; h++) {
                int kh = h / (H / KV);
                int64_t pos = m - n + i;
                double s[64], mx = -INFINITY, sum = 0;
                for (int64_t j = 0; j < m; j++) {
                    int visible = pos - j >= 0 && (window == 0 || pos - j < window);
                    double dot = 0;
                    for (int d = 0; d < D; d++) dot += (double)pq[(i * H + h) * D + d] * pk[(j * KV + kh) * D + d];
                    dot *= scale;
                    if (softcap > 0) dot = softcap * tanh(dot / softcap);
                    s[j] = visible ? dot : -INFINITY;
                    mx = fmax(mx, s[j]);
                }
                for (int64_t j = 0; j < m; j++) sum += s[j] = exp(s[j] - mx);
                for (int d = 0; d < D; d++) {
                    double acc = 0;
                    for (int64_t j = 0; j < m; j++) acc += s[j] * pv[(j * KV + kh) * D + d];
                    want[(i * H + h) * D + d] = acc / sum;
                }
            }
        MLCCNDArray *out = ret.v_handle;
        double err = test_max_rel_error(out->dl.data, want, n * H * D);
        CHECK_MSG(err < 1e-5, "n=%lld m=%lld window=%lld softcap=%g: relative error %g", (long long)n, (long long)m,
                  (long long)window, softcap, err);
        free(want);
        mlcc_value_release(ret, code);
    }
    mlcc_ndarray_release(q), mlcc_ndarray_release(k), mlcc_ndarray_release(v);
}

static void test_attention(void) {
    MLCCVM *vm = build_attention(0, 0, 1 / sqrt((double)D));
    if (vm) {
        check_attention(vm, 7, 7, 0, 0, 1 / sqrt((double)D));
        check_attention(vm, 3, 11, 0, 0, 1 / sqrt((double)D)); /* queries after a history */
        check_attention(vm, 1, 20, 0, 0, 1 / sqrt((double)D)); /* one decode step */
        mlcc_vm_free(vm);
    }
    vm = build_attention(4, 2.5, 0.3);
    if (vm) {
        check_attention(vm, 12, 12, 4, 2.5, 0.3);
        check_attention(vm, 5, 30, 4, 2.5, 0.3);
        mlcc_vm_free(vm);
    }
}

static void test_rope(int with_positions) {
    mlcc_expr *n = ir_size_var("n");
    rx_expr *x = rx_var("x", rx_sinfo_tensor_v(DT_F32, n, ir_int(H), ir_int(D), NULL));
    rx_expr *pos = rx_var("pos", rx_sinfo_tensor_v(DT_I32, n, NULL));
    double freq[D / 2];
    for (int k = 0; k < D / 2; k++) freq[k] = 1.0 / pow(10000.0, 2.0 * k / D) * (k == 1 ? 0.125 : 1.0);
    int64_t half = D / 2;
    mlcc_ir_module *mod = irmod_new();
    rx_builder *bb = bb_new(mod);
    bb_begin_function(bb, "main", (rx_expr *[]){x, pos}, with_positions ? 2 : 1);
    bb_begin_dataflow(bb);
    rx_expr *o = bb_emit_output(bb, op_rope(x, rx_constant(DT_F64, &half, 1, freq), with_positions ? pos : NULL), "o");
    bb_end_dataflow(bb);
    CHECK_MSG(bb_end_function(bb, o) != NULL, "%s", bb_error(bb));
    bb_free(bb);
    MLCCVM *vm = mlcc_build_vm(mod, NULL);
    CHECK_MSG(vm != NULL, "%s", mlcc_last_error());
    if (!vm) return;
    int64_t len = 9;
    MLCCNDArray *a = rand3(len, H, D), *p = mlcc_ndarray_empty(1, &len, MLCC_DTYPE_I32, MLCC_CPU);
    int32_t *pp = p->dl.data;
    for (int i = 0; i < len; i++) pp[i] = with_positions ? 1000 + 137 * i : i;
    MLCCValue args[2] = {{.v_handle = a}, {.v_handle = p}}, ret;
    int codes[2] = {MLCC_TYPE_OBJECT, MLCC_TYPE_OBJECT}, code;
    int rc = mlcc_vm_invoke(vm, "main", args, codes, with_positions ? 2 : 1, &ret, &code);
    CHECK_MSG(rc == 0, "%s", mlcc_last_error());
    if (rc == 0) {
        const float *px = a->dl.data;
        double want[9 * H * D];
        for (int i = 0; i < len; i++)
            for (int h = 0; h < H; h++)
                for (int d = 0; d < D; d++) {
                    const float *row = px + (i * H + h) * D;
                    double ang = pp[i] * freq[d % (D / 2)];
                    double rot = d < D / 2 ? -row[d + D / 2] : row[d - D / 2];
                    want[(i * H + h) * D + d] = row[d] * cos(ang) + rot * sin(ang);
                }
        MLCCNDArray *out = ret.v_handle;
        double err = test_max_rel_error(out->dl.data, want, len * H * D);
        CHECK_MSG(err < 1e-6, "rope (positions %d): relative error %g", with_positions, err);
        mlcc_value_release(ret, code);
    }
    mlcc_ndarray_release(a), mlcc_ndarray_release(p);
    mlcc_vm_free(vm);
}

/* nn.rope reading nn.rope_table's cosines and sines gives bitwise the rope that computes them
 * (the decoder's graph uses the table; the direct form is the reference), at several lengths. */
static void test_rope_table(void) {
    mlcc_expr *n = ir_size_var("n");
    rx_expr *x = rx_var("x", rx_sinfo_tensor_v(DT_F32, n, ir_int(H), ir_int(D), NULL));
    rx_expr *pos = rx_var("pos", rx_sinfo_tensor_v(DT_I32, n, NULL));
    double freq[D / 2];
    for (int k = 0; k < D / 2; k++) freq[k] = 1.0 / pow(500000.0, 2.0 * k / D) * (k == 2 ? 0.25 : 1.0);
    int64_t half = D / 2;
    mlcc_ir_module *mod = irmod_new();
    for (int with_table = 0; with_table < 2; with_table++) {
        rx_builder *bb = bb_new(mod);
        bb_begin_function(bb, with_table ? "table" : "direct", (rx_expr *[]){x, pos}, 2);
        bb_begin_dataflow(bb);
        rx_expr *f = rx_constant(DT_F64, &half, 1, freq), *o;
        if (with_table) {
            rx_expr *t = bb_emit(bb, op_rope_table(f, pos), "t");
            o = bb_emit_output(bb, op_rope_with_table(x, t), "o");
        } else {
            o = bb_emit_output(bb, op_rope(x, f, pos), "o");
        }
        bb_end_dataflow(bb);
        CHECK_MSG(bb_end_function(bb, o) != NULL, "%s", bb_error(bb));
        bb_free(bb);
    }
    MLCCVM *vm = mlcc_build_vm(mod, NULL);
    CHECK_MSG(vm != NULL, "%s", mlcc_last_error());
    if (!vm) return;
    int64_t lens[3] = {1, 9, 70};
    for (int l = 0; l < 3; l++) {
        int64_t len = lens[l];
        MLCCNDArray *a = rand3(len, H, D), *p = mlcc_ndarray_empty(1, &len, MLCC_DTYPE_I32, MLCC_CPU);
        int32_t *pp = p->dl.data;
        for (int i = 0; i < len; i++) pp[i] = 3 + 977 * i;
        MLCCValue args[2] = {{.v_handle = a}, {.v_handle = p}}, ret[2];
        int codes[2] = {MLCC_TYPE_OBJECT, MLCC_TYPE_OBJECT}, code[2];
        int rc = mlcc_vm_invoke(vm, "direct", args, codes, 2, &ret[0], &code[0]);
        CHECK_MSG(rc == 0, "%s", mlcc_last_error());
        int rc2 = rc == 0 ? mlcc_vm_invoke(vm, "table", args, codes, 2, &ret[1], &code[1]) : -1;
        CHECK_MSG(rc2 == 0, "%s", mlcc_last_error());
        if (rc == 0 && rc2 == 0) {
            MLCCNDArray *o0 = ret[0].v_handle, *o1 = ret[1].v_handle;
            size_t bytes = (size_t)(len * H * D) * sizeof(float);
            CHECK_MSG(memcmp(o0->dl.data, o1->dl.data, bytes) == 0, "rope with the table differs at n = %lld",
                      (long long)len);
        }
        if (rc == 0) mlcc_value_release(ret[0], code[0]);
        if (rc2 == 0) mlcc_value_release(ret[1], code[1]);
        mlcc_ndarray_release(a), mlcc_ndarray_release(p);
    }
    mlcc_vm_free(vm);

    /* a table of the wrong shape is refused */
    rx_builder *bb = bb_new(mod);
    rx_expr *t = rx_var("t", rx_sinfo_tensor_v(DT_F64, n, ir_int(2), ir_int(D), NULL));
    bb_begin_function(bb, "bad", (rx_expr *[]){x, t}, 2);
    CHECK(bb_emit(bb, op_rope_with_table(x, t), "r") == NULL);
    CHECK_MSG(strstr(mlcc_last_error(), "nn.rope: table"), "%s", mlcc_last_error());
    bb_free(bb);
}

static void test_shape_errors(void) {
    mlcc_expr *n = ir_size_var("n");
    rx_expr *q = rx_var("q", rx_sinfo_tensor_v(DT_F32, n, ir_int(3), ir_int(D), NULL));
    rx_expr *k = rx_var("k", rx_sinfo_tensor_v(DT_F32, n, ir_int(2), ir_int(D), NULL));
    mlcc_ir_module *mod = irmod_new();
    rx_builder *bb = bb_new(mod);
    bb_begin_function(bb, "main", (rx_expr *[]){q, k}, 2);
    CHECK(bb_emit(bb, op_attention(q, k, k, 1, 0, 0), "o") == NULL);
    CHECK_MSG(strstr(mlcc_last_error(), "nn.attention") && strstr(mlcc_last_error(), "multiple of kv_heads"), "%s",
              mlcc_last_error());
    bb_free(bb);
    bb = bb_new(mod);
    bb_begin_function(bb, "rope", &q, 1);
    int64_t three = 3;
    double f[3] = {1, 1, 1};
    CHECK(bb_emit(bb, op_rope(q, rx_constant(DT_F64, &three, 1, f), NULL), "r") == NULL);
    CHECK_MSG(strstr(mlcc_last_error(), "nn.rope"), "%s", mlcc_last_error());
    bb_free(bb);
}

int main(void) {
    ir_scope_begin();
    test_rng_seed(11);
    test_attention();
    test_rope(1);
    test_rope(0);
    test_rope_table();
    test_shape_errors();
    ir_scope_end();
    return test_finish();
}
