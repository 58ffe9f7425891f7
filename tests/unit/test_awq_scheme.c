/* test_awq_scheme.c - the AWQ pieces below the model (quant/awq.h, quant/scheme.h):
 *   - awq_config_parse: no quantization_config is "not AWQ"; AutoAWQ's and transformers' key
 *     spellings (bits / w_bit, group_size / q_group_size, version "GEMM" / "gemm") are read;
 *     bits 8, group 256, zero_point false, version "gemv", a missing bits, another
 *     quant_method are errors naming config.json and the field;
 *   - awq_repack against a decoder written here from AutoAWQ's layout (qweight [in, out / 8],
 *     nibble p holding column 8c + {0, 2, 4, 6, 1, 3, 5, 7}[p]; qzeros likewise): the values
 *     quant_unpack gives from the repacked pair equal (code - zero) * scale exactly, for
 *     random codes, zeros and scales, groups of 32, 64 and 128;
 *   - quant_pack for q4f16_awq (round to nearest, min-max zero point): every value within half
 *     a step (plus float16 rounding of the scale) of the input, zero points in 0..15, codes
 *     in 0..15, a partial last group (in % 128 != 0) and a constant positive row (the range
 *     is widened to hold 0, so it does not clip) included, and deterministic. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mlcc/mlcc_runtime.h"
#include "quant/awq.h"
#include "quant/scheme.h"
#include "support/error.h"
#include "test.h"

static int parse(const char *text, int *group) {
    json_t *j = json_loads(text, 0, NULL);
    CHECK_MSG(j != NULL, "bad test JSON %s", text);
    int rc = awq_config_parse(j, "config.json", group);
    json_decref(j);
    return rc;
}

static void check_config(void) {
    int g = -1;
    CHECK(awq_config_parse(NULL, "config.json", &g) == 0 && g == 0);
    CHECK(parse("{\"quant_method\": \"awq\", \"bits\": 4, \"group_size\": 128, \"zero_point\": true, \"version\": \"gemm\"}", &g) == 0 &&
          g == 128);
    CHECK(parse("{\"quant_method\": \"AWQ\", \"w_bit\": 4, \"q_group_size\": 64, \"version\": \"GEMM\"}", &g) == 0 && g == 64);
    static const struct {
        const char *json, *field;
    } bad[] = {
        {"{\"quant_method\": \"awq\", \"bits\": 8, \"group_size\": 128}", "quantization_config.bits"},
        {"{\"quant_method\": \"awq\", \"bits\": 4, \"group_size\": 256}", "quantization_config.group_size"},
        {"{\"quant_method\": \"awq\", \"bits\": 4, \"group_size\": 128, \"zero_point\": false}", "quantization_config.zero_point"},
        {"{\"quant_method\": \"awq\", \"bits\": 4, \"group_size\": 128, \"version\": \"gemv\"}", "quantization_config.version"},
        {"{\"quant_method\": \"awq\", \"group_size\": 128}", "quantization_config.bits"},
        {"{\"quant_method\": \"gptq\", \"bits\": 4, \"group_size\": 128}", "quantization_config.quant_method"},
        {"[1]", "quantization_config"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = parse(bad[i].json, &g);
        const char *err = mlcc_last_error();
        CHECK_MSG(rc != 0 && strstr(err, "config.json") && strstr(err, bad[i].field), "%s: rc %d, error '%s'", bad[i].json, rc, err);
    }
}

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint32_t rnd32(void) {
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (uint32_t)(rng >> 16);
}

static void put32(uint8_t *p, uint32_t v) {
    for (int b = 0; b < 4; b++) p[b] = (uint8_t)(v >> (8 * b));
}

static void check_repack(int G) {
    static const int order[8] = {0, 2, 4, 6, 1, 3, 5, 7};
    const int64_t in = 4 * G, out = 24, ng = in / G;
    int *code = malloc(sizeof(int) * (size_t)(in * out)), *zero = malloc(sizeof(int) * (size_t)(ng * out));
    float *scale = malloc(sizeof(float) * (size_t)(ng * out));
    uint8_t *qw = calloc((size_t)(in * out / 2), 1), *qz = calloc((size_t)(ng * out / 2), 1), *sc = malloc((size_t)(2 * ng * out));
    for (int64_t i = 0; i < in * out; i++) code[i] = (int)(rnd32() & 15);
    for (int64_t i = 0; i < ng * out; i++) {
        zero[i] = (int)(rnd32() & 15);
        uint16_t h = mlcc_f32_to_f16(((float)(rnd32() % 1000) + 1.0f) * 1e-4f);
        scale[i] = mlcc_f16_to_f32(h);
        sc[2 * i] = (uint8_t)h, sc[2 * i + 1] = (uint8_t)(h >> 8);
    }
    /* AutoAWQ's packing: code[j][o] and zero[g][o] are [rows, out] here */
    for (int64_t j = 0; j < in; j++)
        for (int64_t c = 0; c < out / 8; c++) {
            uint32_t w = 0;
            for (int p = 0; p < 8; p++) w |= (uint32_t)code[j * out + 8 * c + order[p]] << (4 * p);
            put32(qw + 4 * (j * (out / 8) + c), w);
        }
    for (int64_t g = 0; g < ng; g++)
        for (int64_t c = 0; c < out / 8; c++) {
            uint32_t w = 0;
            for (int p = 0; p < 8; p++) w |= (uint32_t)zero[g * out + 8 * c + order[p]] << (4 * p);
            put32(qz + 4 * (g * (out / 8) + c), w);
        }
    const mlcc_quant_scheme *s = quant_scheme_awq(G);
    CHECK(s != NULL && s->group_zero && s->group_size == G);
    if (!s) return;
    uint32_t *packed = malloc(sizeof(uint32_t) * (size_t)(out * quant_packed_cols(s, in)));
    uint16_t *pairs = malloc(sizeof(uint16_t) * (size_t)(out * quant_scale_cols(s, in)));
    float *w = malloc(sizeof(float) * (size_t)(out * in));
    awq_repack(qw, qz, sc, in, out, G, packed, pairs);
    quant_unpack(s, packed, pairs, out, in, w);
    int bad = 0;
    for (int64_t o = 0; o < out; o++)
        for (int64_t j = 0; j < in; j++) {
            int64_t g = j / G;
            float want = (float)(code[j * out + o] - zero[g * out + o]) * scale[g * out + o];
            bad += w[o * in + j] != want;
        }
    CHECK_MSG(bad == 0, "groups of %d: %d values differ from AutoAWQ's", G, bad);
    free(code), free(zero), free(scale), free(qw), free(qz), free(sc), free(packed), free(pairs), free(w);
}

static void check_pack(void) {
    const mlcc_quant_scheme *s = quant_scheme_find("q4f16_awq");
    CHECK(s && s->group_zero);
    if (!s) return;
    const int64_t rows = 5, in = 300; /* groups of 128, 128 and 44 */
    float *w = malloc(sizeof(float) * rows * in), *back = malloc(sizeof(float) * rows * in);
    for (int64_t i = 0; i < rows * in; i++) w[i] = ((float)(rnd32() % 20001) / 10000.0f - 1.0f) * (i % 7 == 0 ? 3.0f : 1.0f) + 0.3f;
    for (int64_t j = 0; j < in; j++) w[2 * in + j] = 0.5f; /* a constant row: range 0 */
    int64_t pc = quant_packed_cols(s, in), sc = quant_scale_cols(s, in);
    CHECK_EQ_INT(sc, 6);
    uint32_t *p1 = malloc(sizeof(uint32_t) * rows * pc), *p2 = malloc(sizeof(uint32_t) * rows * pc);
    uint16_t *s1 = malloc(sizeof(uint16_t) * rows * sc), *s2 = malloc(sizeof(uint16_t) * rows * sc);
    quant_pack(s, w, rows, in, p1, s1);
    quant_pack(s, w, rows, in, p2, s2);
    CHECK(!memcmp(p1, p2, sizeof(uint32_t) * rows * pc) && !memcmp(s1, s2, sizeof(uint16_t) * rows * sc));
    quant_unpack(s, p1, s1, rows, in, back);
    int bad = 0;
    for (int64_t r = 0; r < rows; r++)
        for (int64_t j = 0; j < in; j++) {
            float step = mlcc_f16_to_f32(s1[r * sc + 2 * (j / 128)]), z = mlcc_f16_to_f32(s1[r * sc + 2 * (j / 128) + 1]);
            bad += !(z >= 0 && z <= 15 && z == floorf(z));
            /* half a step, and the range 15 * step may fall short of max - min by the scale's
             * float16 rounding (2^-11 relative) */
            bad += !(fabsf(back[r * in + j] - w[r * in + j]) <= 0.5f * step + 15.0f * step * 1e-3f + 1e-6f);
        }
    CHECK_MSG(bad == 0, "%d values off by more than half a step", bad);
    free(w), free(back), free(p1), free(p2), free(s1), free(s2);
}

int main(void) {
    check_config();
    check_repack(32);
    check_repack(64);
    check_repack(128);
    check_pack();
    return test_finish();
}
