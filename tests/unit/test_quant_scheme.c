/* test_quant_scheme.c - the quantization schemes' CPU reference against a float64 model of
 * the layout written here:
 *   - round trip: every dequantized value is within half a quantization step (scale / 2) of
 *     the original, where the float64 scale is max|group| / max_int (f16 scales: plus the
 *     relative rounding of the stored scale, 2^-11); q0f16 within f16 rounding (2^-11 relative);
 *   - bit layout: value j of a row sits in word j / per at bits (j % per) * bits, zero point
 *     max_int, decoded here independently of quant_unpack;
 *   - the tail of a row past `in` (in not a multiple of the group) packs as zero;
 *   - an all-zero group stays zero; unknown names are an error naming the known ones. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mlcc/mlcc_runtime.h"
#include "loader/ggml_dequant.h"
#include "quant/scheme.h"
#include "support/error.h"
#include "test.h"

static uint64_t rng = 88172645463325252ull;
static double uniform(void) {
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (double)(rng >> 11) / 9007199254740992.0;
}

/* float64 decoding of element (r, j) straight from the layout description */
static double reference_value(const mlcc_quant_scheme *s, const uint32_t *packed, const void *scales, int64_t in, int64_t r,
                              int64_t j) {
    int per = 32 / s->bits, maxq = (1 << (s->bits - 1)) - 1;
    int64_t pc = (in * s->bits + 31) / 32, sc = (in + s->group_size - 1) / s->group_size;
    uint64_t word = packed[r * pc + j / per];
    uint64_t q = (word >> ((j % per) * s->bits)) & ((1ull << s->bits) - 1);
    double scale = s->scale_dtype.bits == 16 ? (double)mlcc_f16_to_f32(((const uint16_t *)scales)[r * sc + j / s->group_size])
                                             : (double)((const float *)scales)[r * sc + j / s->group_size];
    return ((double)q - maxq) * scale;
}

static void check_scheme(const char *name, int64_t rows, int64_t in) {
    const mlcc_quant_scheme *s = quant_scheme_find(name);
    CHECK(s != NULL);
    if (!s) return;
    float *w = malloc(sizeof(float) * (size_t)(rows * in)), *back = malloc(sizeof(float) * (size_t)(rows * in));
    for (int64_t i = 0; i < rows * in; i++) w[i] = (float)((uniform() * 2 - 1) * (i % 7 == 0 ? 3.0 : 0.5));
    for (int64_t j = 0; j < in && rows > 1; j++) w[in + j] = 0; /* row 1: all zero */
    if (s->bits == 0) {
        uint16_t *h = malloc(sizeof(uint16_t) * (size_t)(rows * in));
        quant_store_float(s->weight_dtype, w, rows * in, h);
        double worst = 0;
        for (int64_t i = 0; i < rows * in; i++) {
            double err = fabs((double)mlcc_f16_to_f32(h[i]) - (double)w[i]) / (fabs((double)w[i]) + 1e-30);
            if (w[i] != 0 && err > worst) worst = err;
        }
        CHECK_MSG(worst <= 1.0 / 2048, "%s: relative error %g above 2^-11", name, worst);
        free(h);
        free(w), free(back);
        return;
    }
    int64_t pc = quant_packed_cols(s, in), sc = quant_scale_cols(s, in);
    CHECK_EQ_INT(pc, (in * s->bits + 31) / 32);
    CHECK_EQ_INT(sc, (in + 31) / 32);
    uint32_t *packed = malloc(sizeof(uint32_t) * (size_t)(rows * pc));
    void *scales = malloc((size_t)(rows * sc * 4));
    quant_pack(s, w, rows, in, packed, scales);
    quant_unpack(s, packed, scales, rows, in, back);
    int maxq = (1 << (s->bits - 1)) - 1, bad_layout = 0, bad_bound = 0, bad_tail = 0;
    double worst = 0;
    for (int64_t r = 0; r < rows; r++)
        for (int64_t g = 0; g < sc; g++) {
            int64_t begin = g * 32, end = begin + 32 < in ? begin + 32 : in;
            double amax = 0;
            for (int64_t j = begin; j < end; j++) amax = fmax(amax, fabs((double)w[r * in + j]));
            double step = amax / maxq * (s->scale_dtype.bits == 16 ? 1 + 1.0 / 1024 : 1 + 1e-6);
            for (int64_t j = begin; j < end; j++) {
                double ref = reference_value(s, packed, scales, in, r, j);
                if ((float)ref != back[r * in + j]) bad_layout++; /* one f32 rounding of the product */
                double err = fabs(ref - (double)w[r * in + j]);
                if (err > step / 2 * (1 + 1e-6) + 1e-30) bad_bound++;
                if (amax > 0 && err / amax > worst) worst = err / amax;
            }
        }
    /* the words' unused high slots past `in` hold zero */
    int per = 32 / s->bits;
    for (int64_t r = 0; r < rows && in % per; r++)
        if (packed[r * pc + pc - 1] >> ((in % per) * s->bits)) bad_tail++;
    CHECK_MSG(bad_layout == 0, "%s [%lld x %lld]: %d values differ from the float64 decoding of the layout", name, (long long)rows,
              (long long)in, bad_layout);
    CHECK_MSG(bad_bound == 0, "%s [%lld x %lld]: %d values beyond half a step", name, (long long)rows, (long long)in, bad_bound);
    CHECK_MSG(bad_tail == 0, "%s: %d rows with bits set past the end", name, bad_tail);
    CHECK_MSG(worst <= 0.5 / maxq + 1e-3, "%s: worst error %g of the group max", name, worst);
    if (rows > 1)
        for (int64_t j = 0; j < in; j++) CHECK(back[in + j] == 0.0f);
    /* determinism: packing again gives the same bytes */
    uint32_t *again = malloc(sizeof(uint32_t) * (size_t)(rows * pc));
    void *scales2 = malloc((size_t)(rows * sc * 4));
    quant_pack(s, w, rows, in, again, scales2);
    CHECK(memcmp(again, packed, sizeof(uint32_t) * (size_t)(rows * pc)) == 0);
    CHECK(memcmp(scales2, scales, (size_t)(rows * sc * (s->scale_dtype.bits / 8))) == 0);
    free(again), free(scales2), free(packed), free(scales), free(w), free(back);
}

/* A hand-made example of q4f16_1: the group [7, -7, 1, 0, ...] has scale 1, so q = w + 7. */
static void check_known_bits(void) {
    const mlcc_quant_scheme *s = quant_scheme_find("q4f16_1");
    float w[32] = {7, -7, 1, 0, 3, -1, 2, 6};
    uint32_t packed[4];
    uint16_t scale;
    quant_pack(s, w, 1, 32, packed, &scale);
    CHECK_EQ_INT(scale, 0x3c00); /* 1.0 in f16 */
    /* q: 14, 0, 8, 7, 10, 6, 9, 13 -> nibbles from the low end */
    CHECK_EQ_INT(packed[0], 0xd96a780e);
    CHECK_EQ_INT(packed[1], 0x77777777);
    const mlcc_quant_scheme *s8 = quant_scheme_find("q8f16_1");
    float w8[32] = {127, -127, 1, 0};
    uint32_t p8[8];
    quant_pack(s8, w8, 1, 32, p8, &scale);
    CHECK_EQ_INT(p8[0], 0x7f8000feu); /* 254, 0, 128, 127 from the low byte */
}

/* GGUF Q4_0 / Q8_0 blocks repacked into ggml_q4_0 / ggml_q8_0 give exactly the values of
 * ggml's reference dequantizer (loader/ggml_dequant.c), every nibble and byte value included. */
static void check_ggml_repack(uint32_t type, const char *scheme) {
    enum { ROWS = 3, IN = 64 };
    const mlcc_quant_scheme *s = quant_scheme_find(scheme);
    CHECK(s && quant_scheme_for_ggml(type) == s);
    if (!s) return;
    size_t block = type == 2 ? 18 : 34, nbytes = block * ROWS * IN / 32;
    uint8_t *blocks = malloc(nbytes);
    for (size_t b = 0; b < nbytes / block; b++) {
        uint16_t d = mlcc_f32_to_f16((float)(0.01 + 0.1 * uniform()) * (b % 2 ? -1.0f : 1.0f));
        blocks[b * block] = (uint8_t)d, blocks[b * block + 1] = (uint8_t)(d >> 8);
        for (size_t k = 2; k < block; k++) blocks[b * block + k] = (uint8_t)((b * 31 + k * 17) & 255); /* all values occur */
    }
    float *ref = malloc(sizeof(float) * ROWS * IN), *got = malloc(sizeof(float) * ROWS * IN);
    CHECK(ggml_dequantize_f32(type, blocks, nbytes, ROWS * IN, ref) == 0);
    uint32_t packed[ROWS * IN / 4];
    uint16_t scales[ROWS * IN / 32];
    quant_repack_ggml(s, blocks, ROWS, IN, packed, scales);
    quant_unpack(s, packed, scales, ROWS, IN, got);
    int differ = 0;
    for (int i = 0; i < ROWS * IN; i++) differ += ref[i] != got[i];
    CHECK_MSG(differ == 0, "%s: %d values differ from ggml's dequantizer", scheme, differ);
    free(blocks), free(ref), free(got);
}

int main(void) {
    check_ggml_repack(2, "ggml_q4_0");
    check_ggml_repack(8, "ggml_q8_0");
    static const char *const names[] = {"q4f16_1", "q4f32_1", "q8f16_1", "q0f16"};
    static const int64_t shapes[][2] = {{4, 64}, {3, 97}, {5, 40}, {2, 7}, {1, 32}};
    for (size_t i = 0; i < 4; i++)
        for (size_t k = 0; k < 5; k++) check_scheme(names[i], shapes[k][0], shapes[k][1]);
    check_known_bits();
    CHECK(quant_scheme_find(NULL) != NULL && quant_scheme_find(NULL)->bits == 0);
    CHECK(quant_scheme_find("q3f16_0") == NULL);
    CHECK(strstr(mlcc_last_error(), "q4f16_1") != NULL);
    return test_finish();
}
