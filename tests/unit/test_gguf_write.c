/* test_gguf_write.c - the GGUF writer and ggml's reference quantizers.
 *  - Quantizers against ggml itself: the fixtures gguf/q-llama-{q8_0,q4_0}.gguf were written by
 *    ggml's reference quantizers; dequantizing each block and quantizing it again must give the
 *    file's bytes exactly (a block's dequantized values quantize back to the same scale and
 *    codes under the reference rules, and any deviation in rounding, scale choice or nibble
 *    order shows up as a byte difference).
 *  - Error bounds on random data: |x - dequant(quant(x))| <= d/2 (Q8_0), <= d (Q4_0, whose top
 *    code is clamped), plus the scale's f16 rounding; F16 equal to the runtime's round-to-nearest-even conversion.
 *  - Writer round trip through the reader: every metadata type, tensors of each type, default
 *    and non-default alignment; then misuse gives errors. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "loader/ggml_dequant.h"
#include "loader/ggml_quant.h"
#include "loader/gguf.h"
#include "loader/gguf_write.h"
#include "mlcc/mlcc_runtime.h"
#include "support/error.h"
#include "test.h"

static uint64_t rng = 42;
static float frand(void) {
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((double)(rng >> 11) * 0x1.0p-53 * 2 - 1);
}

static void requantize_fixture(const char *rel, uint32_t type) {
    char *path = test_data_path(rel);
    mlcc_gguf *g = mlcc_gguf_open(path);
    if (!g) {
        free(path);
        TEST_SKIP("%s: %s", rel, mlcc_last_error());
    }
    int checked = 0;
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        const mlcc_gguf_tensor *t = &g->tensors[i];
        if (t->type != type) continue;
        float *x = malloc(sizeof(float) * t->n_elements);
        uint8_t *back = malloc(t->n_bytes);
        const uint8_t *orig = mlcc_gguf_tensor_data(g, t);
        CHECK(ggml_dequantize_f32(t->type, orig, t->n_bytes, t->n_elements, x) == 0);
        CHECK_EQ_INT((long long)ggml_quant_size(type, t->n_elements), (long long)t->n_bytes);
        CHECK(ggml_quantize(type, x, t->n_elements, back) == 0);
        uint64_t diff = 0;
        for (uint64_t k = 0; k < t->n_bytes; k++) diff += back[k] != orig[k];
        CHECK_MSG(diff == 0, "%s: tensor %.*s: %llu of %llu bytes differ from ggml's", rel, (int)t->name.len, t->name.data,
                  (unsigned long long)diff, (unsigned long long)t->n_bytes);
        checked++;
        free(x);
        free(back);
    }
    CHECK_MSG(checked > 0, "%s: no %s tensors", rel, mlcc_ggml_type_name(type));
    mlcc_gguf_close(g);
    free(path);
}

static void test_error_bounds(void) {
    enum { N = 32 * 64 };
    static float x[N], y[N];
    static uint8_t q[N * 4];
    for (int i = 0; i < N; i++) x[i] = frand() * (i % 64 == 5 ? 0 : (float)(1 + i % 7)); /* some blocks with a zero */
    for (int i = 0; i < 32; i++) x[i] = 0; /* one all-zero block: d = 0, codes 0 / 8 */
    uint32_t types[2] = {MLCC_GGML_Q8_0, MLCC_GGML_Q4_0};
    for (int t = 0; t < 2; t++) {
        CHECK(ggml_quantize(types[t], x, N, q) == 0);
        CHECK(ggml_dequantize_f32(types[t], q, ggml_quant_size(types[t], N), N, y) == 0);
        size_t bs = t == 0 ? 34 : 18;
        int bad = 0;
        for (int b = 0; b < N / 32; b++) {
            float d = fabsf(mlcc_f16_to_f32((uint16_t)(q[b * bs] | q[b * bs + 1] << 8)));
            float amax = 0;
            for (int j = 0; j < 32; j++) amax = fmaxf(amax, fabsf(x[b * 32 + j]));
            /* the scale is the block's range over the code range, rounded to f16 */
            if (fabsf(d - amax / (t == 0 ? 127.0f : 8.0f)) > 1e-3f * amax) bad++;
            for (int j = 0; j < 32; j++) {
                float err = fabsf(x[b * 32 + j] - y[b * 32 + j]);
                /* rounding x / d to a code, plus the scale's rounding to f16 (2^-11 relative)
                 * times the largest code */
                if (err > (t == 0 ? 0.5f + 127 / 2048.0f : 1.0f + 8 / 2048.0f) * d + 1e-7f) bad++;
            }
        }
        CHECK_MSG(bad == 0, "%s: %d elements or scales outside the bounds", mlcc_ggml_type_name(types[t]), bad);
    }
    /* k-quants: per 256-value super-block, the rms error relative to the block's rms (a fitted
     * scale and min on 15 levels, or a signed scale on 63: 0.074 and 0.019 measured) */
    uint32_t ktypes[2] = {MLCC_GGML_Q4_K, MLCC_GGML_Q6_K};
    for (int t = 0; t < 2; t++) {
        CHECK(ggml_quantize(ktypes[t], x, N, q) == 0);
        CHECK(ggml_dequantize_f32(ktypes[t], q, ggml_quant_size(ktypes[t], N), N, y) == 0);
        double worst = 0;
        for (int b = 0; b < N / 256; b++) {
            double e2 = 0, x2 = 0;
            for (int j = 0; j < 256; j++) {
                double d = x[b * 256 + j] - y[b * 256 + j];
                e2 += d * d, x2 += (double)x[b * 256 + j] * x[b * 256 + j];
            }
            if (x2 > 0) worst = fmax(worst, sqrt(e2 / x2));
            else CHECK_MSG(e2 == 0, "%s: an all-zero block decodes to nonzero values", mlcc_ggml_type_name(ktypes[t]));
        }
        printf("%s: worst relative rms error per super-block %.3g\n", mlcc_ggml_type_name(ktypes[t]), worst);
        CHECK_MSG(worst <= (t == 0 ? 0.15 : 0.04), "%s: relative rms error %g", mlcc_ggml_type_name(ktypes[t]), worst);
    }
    CHECK(ggml_quantize(MLCC_GGML_F16, x, N, q) == 0);
    int bad = 0;
    for (int i = 0; i < N; i++) bad += (uint16_t)(q[2 * i] | q[2 * i + 1] << 8) != mlcc_f32_to_f16(x[i]);
    CHECK_EQ_INT(bad, 0);
    /* not whole blocks; unsupported type */
    CHECK(ggml_quantize(MLCC_GGML_Q8_0, x, 33, q) != 0);
    CHECK(strstr(mlcc_last_error(), "blocks of 32") != NULL);
    CHECK(ggml_quantize(MLCC_GGML_Q2_K, x, 256, q) != 0);
    CHECK(ggml_quantize(MLCC_GGML_Q4_K, x, 255, q) != 0);
}

static void round_trip(uint32_t alignment) {
    char path[64];
    snprintf(path, sizeof path, "test_gguf_write_%u_%d.gguf", alignment, (int)getpid());
    enum { ROWS = 3, COLS = 64 };
    static float w[ROWS * COLS];
    for (int i = 0; i < ROWS * COLS; i++) w[i] = frand();
    uint32_t types[4] = {MLCC_GGML_F32, MLCC_GGML_F16, MLCC_GGML_Q8_0, MLCC_GGML_Q4_0};
    static uint8_t enc[4][ROWS * COLS * 4];
    mlcc_gguf_writer *wr = mlcc_gguf_writer_new(alignment);
    mlcc_gguf_writer_kv_str(wr, "general.architecture", "llama");
    mlcc_gguf_writer_kv_u32(wr, "llama.block_count", 7);
    mlcc_gguf_writer_kv_i32(wr, "test.neg", -5);
    mlcc_gguf_writer_kv_f32(wr, "test.eps", 1e-5f);
    mlcc_gguf_writer_kv_bool(wr, "test.flag", 1);
    const char *strs[3] = {"a", "", "\xc4\xa0hello"};
    mlcc_gguf_writer_kv_str_array(wr, "test.strs", strs, 3);
    int32_t ints[4] = {1, -2, 3, 1 << 30};
    mlcc_gguf_writer_kv_i32_array(wr, "test.ints", ints, 4);
    mlcc_gguf_writer_kv_str_array(wr, "test.empty", NULL, 0);
    char name[32];
    for (int t = 0; t < 4; t++) {
        snprintf(name, sizeof name, "t%d.weight", t);
        CHECK_EQ_INT(mlcc_gguf_writer_add_tensor(wr, name, types[t], 2, (uint64_t[]){COLS, ROWS}), t);
        CHECK(ggml_quantize(types[t], w, ROWS * COLS, enc[t]) == 0);
    }
    CHECK_EQ_INT(mlcc_gguf_writer_add_tensor(wr, "norm", MLCC_GGML_F32, 1, (uint64_t[]){5}), 4);
    CHECK(mlcc_gguf_writer_add_tensor(wr, "bad", MLCC_GGML_Q4_0, 2, (uint64_t[]){40, 2}) < 0); /* rows not whole blocks */
    CHECK(mlcc_gguf_writer_begin(wr, path) == 0);
    CHECK(mlcc_gguf_writer_tensor_data(wr, 1, enc[1], mlcc_gguf_writer_tensor_size(wr, 1)) != 0); /* out of order */
    for (int t = 0; t < 4; t++) CHECK(mlcc_gguf_writer_tensor_data(wr, t, enc[t], mlcc_gguf_writer_tensor_size(wr, t)) == 0);
    CHECK(mlcc_gguf_writer_finish(wr) != 0); /* one tensor missing */
    CHECK(mlcc_gguf_writer_tensor_data(wr, 4, w, 3) != 0); /* wrong size */
    CHECK(mlcc_gguf_writer_tensor_data(wr, 4, w, 20) == 0);
    CHECK(access(path, F_OK) != 0); /* not there before finish */
    CHECK(mlcc_gguf_writer_finish(wr) == 0);
    mlcc_gguf_writer_free(wr);

    mlcc_gguf *g = mlcc_gguf_open(path);
    CHECK_MSG(g != NULL, "reader: %s", mlcc_last_error());
    if (!g) return;
    CHECK_EQ_INT(g->version, 3);
    CHECK_EQ_INT((long long)g->alignment, alignment);
    int64_t v;
    double f;
    int b;
    mlcc_gguf_str s;
    CHECK(mlcc_gguf_get_str(g, "general.architecture", &s) == 0 && s.len == 5 && !memcmp(s.data, "llama", 5));
    CHECK(mlcc_gguf_get_int(g, "llama.block_count", &v) == 0 && v == 7);
    CHECK(mlcc_gguf_get_int(g, "test.neg", &v) == 0 && v == -5);
    CHECK(mlcc_gguf_get_float(g, "test.eps", &f) == 0 && f == (double)1e-5f);
    CHECK(mlcc_gguf_get_bool(g, "test.flag", &b) == 0 && b == 1);
    const mlcc_gguf_kv *a = mlcc_gguf_get_array(g, "test.strs", MLCC_GGUF_STRING);
    CHECK(a && a->arr_n == 3 && a->arr_strings[1].len == 0 && a->arr_strings[2].len == 7 &&
          !memcmp(a->arr_strings[2].data, "\xc4\xa0hello", 7));
    a = mlcc_gguf_get_array(g, "test.ints", MLCC_GGUF_INT32);
    CHECK(a && a->arr_n == 4 && mlcc_gguf_arr_int(a, 1) == -2 && mlcc_gguf_arr_int(a, 3) == 1 << 30);
    a = mlcc_gguf_get_array(g, "test.empty", MLCC_GGUF_STRING);
    CHECK(a && a->arr_n == 0);
    static float got[ROWS * COLS], want[ROWS * COLS];
    for (int t = 0; t < 4; t++) {
        snprintf(name, sizeof name, "t%d.weight", t);
        const mlcc_gguf_tensor *ti = mlcc_gguf_find_tensor(g, name);
        CHECK_MSG(ti != NULL, "tensor %s", name);
        if (!ti) continue;
        CHECK(ti->type == types[t] && ti->n_dims == 2 && ti->dims[0] == COLS && ti->dims[1] == ROWS);
        CHECK_EQ_INT((long long)(ti->offset % alignment), 0);
        CHECK(memcmp(mlcc_gguf_tensor_data(g, ti), enc[t], ti->n_bytes) == 0);
        CHECK(ggml_dequantize_f32(ti->type, mlcc_gguf_tensor_data(g, ti), ti->n_bytes, ti->n_elements, got) == 0);
        CHECK(ggml_dequantize_f32(types[t], enc[t], ggml_quant_size(types[t], ROWS * COLS), ROWS * COLS, want) == 0);
        CHECK(memcmp(got, want, sizeof got) == 0);
        if (t == 0) CHECK(memcmp(got, w, sizeof got) == 0);
    }
    const mlcc_gguf_tensor *norm = mlcc_gguf_find_tensor(g, "norm");
    CHECK(norm && norm->n_dims == 1 && norm->dims[0] == 5 && !memcmp(mlcc_gguf_tensor_data(g, norm), w, 20));
    mlcc_gguf_close(g);
    unlink(path);
}

int main(void) {
    test_error_bounds();
    round_trip(32);
    round_trip(64);
    requantize_fixture("gguf/q-llama-q8_0.gguf", MLCC_GGML_Q8_0);
    requantize_fixture("gguf/q-llama-q4_0.gguf", MLCC_GGML_Q4_0);
    return test_finish();
}
