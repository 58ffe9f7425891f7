/* test_quant_scheme.c - the quantization schemes' CPU reference against a float64 model of
 * the layout written here:
 *   - round trip: every dequantized value is within half a quantization step (scale / 2) of
 *     the original, where the float64 scale is max|group| / max_int (f16 scales: plus the
 *     relative rounding of the stored scale, 2^-11); q0f16 within f16 rounding (2^-11 relative);
 *   - bit layout: value j of a row sits in word j / per at bits (j % per) * bits, zero point
 *     max_int, decoded here independently of quant_unpack;
 *   - the tail of a row past `in` (in not a multiple of the group) packs as zero;
 *   - an all-zero group stays zero; unknown names are an error naming the known ones;
 *   - the integers are round-half-away-from-zero of w / scale (libm's lroundf, clamped), for
 *     values at and beside every tie and for a matrix large enough that rows pack on the thread
 *     pool (MLCC_NUM_THREADS=3 set here), against a packing written here with lroundf, bit for bit. */
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

/* The packing of the plain group schemes as its definition says, one value at a time with
 * lroundf: q = clamp(lroundf(w / scale), -maxq, maxq) + zero at bits (j % per) * bits of word
 * j / per, scale as stored (read back from quant_pack's scales, which the round trip above checks). */
static void reference_pack(const mlcc_quant_scheme *s, const float *w, int64_t rows, int64_t in, const void *scales, uint32_t *packed) {
    int per = 32 / s->bits, maxq = (1 << (s->bits - 1)) - 1;
    int64_t pc = (in * s->bits + 31) / 32, sc = (in + 31) / 32;
    memset(packed, 0, sizeof(uint32_t) * (size_t)(rows * pc));
    for (int64_t r = 0; r < rows; r++)
        for (int64_t j = 0; j < in; j++) {
            int64_t at = r * sc + j / 32;
            float scale = s->scale_dtype.bits == 16 ? mlcc_f16_to_f32(((const uint16_t *)scales)[at]) : ((const float *)scales)[at];
            long q = scale > 0 ? lroundf(w[r * in + j] / scale) : 0;
            q = q < -maxq ? -maxq : q > maxq ? maxq : q;
            packed[r * pc + j / per] |= (uint32_t)(q + maxq) << ((j % per) * s->bits);
        }
}

/* Ties: a group whose max is 7 (q4) or 127 (q8) has scale 1 exactly, so w itself is rounded:
 * every k + 0.5 and the floats just below and above it, of both signs; then a 1100 x 1024
 * random matrix (more values than quant_pack packs on one thread). */
static void check_rounding(const char *name) {
    const mlcc_quant_scheme *s = quant_scheme_find(name);
    CHECK(s != NULL);
    if (!s) return;
    int maxq = (1 << (s->bits - 1)) - 1;
    enum { TIES_ROWS = 64 };
    int64_t in = 32, rows = TIES_ROWS;
    float *w = calloc((size_t)(1100 * 1024), sizeof(float));
    for (int64_t r = 0; r < rows; r++) {
        w[r * in] = (float)maxq; /* scale 1 */
        for (int64_t j = 1; j < in; j++) {
            float tie = (float)((r + j) % maxq) + 0.5f; /* at most maxq - 0.5: the scale stays 1 */
            int kind = (int)((r * 31 + j) % 3);
            float v = kind == 0 ? tie : kind == 1 ? nextafterf(tie, 0.0f) : nextafterf(tie, 1e9f);
            w[r * in + j] = (j % 2 ? -v : v);
        }
    }
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 1) {
            rows = 1100, in = 1024;
            for (int64_t i = 0; i < rows * in; i++) w[i] = (float)((uniform() * 2 - 1) * (i % 5 == 0 ? 2.0 : 0.25));
        }
        int64_t pc = quant_packed_cols(s, in), sc = quant_scale_cols(s, in);
        uint32_t *got = malloc(sizeof(uint32_t) * (size_t)(rows * pc)), *want = malloc(sizeof(uint32_t) * (size_t)(rows * pc));
        void *scales = malloc((size_t)(rows * sc * 4));
        quant_pack(s, w, rows, in, got, scales);
        reference_pack(s, w, rows, in, scales, want);
        int64_t differ = 0;
        for (int64_t i = 0; i < rows * pc; i++) differ += got[i] != want[i];
        CHECK_MSG(differ == 0, "%s [%lld x %lld]: %lld words differ from lroundf's packing", name, (long long)rows, (long long)in,
                  (long long)differ);
        free(got), free(want), free(scales);
    }
    free(w);
}

/* The same for a zero-point scheme (q4f16_awq_g32): per group, zero = clamp(-lroundf(lo / scale),
 * 0, 15) with lo = min(0, min w) and q = clamp(lroundf(w / scale) + zero, 0, 15), scale and zero
 * as stored; on ties (w = k + 0.5 of a group whose range makes the scale 1) and a large random
 * matrix. */
static void check_rounding_zero_point(void) {
    const mlcc_quant_scheme *s = quant_scheme_find("q4f16_awq_g32");
    CHECK(s != NULL && s->group_zero && s->group_size == 32);
    if (!s) return;
    int64_t rows = 64, in = 32;
    float *w = calloc((size_t)(1100 * 1024), sizeof(float));
    for (int64_t r = 0; r < rows; r++) {
        w[r * in] = -7.0f, w[r * in + 1] = 8.0f; /* range 15: scale 1, zero 7 */
        for (int64_t j = 2; j < in; j++) {
            float tie = (float)((r + j) % 7) + 0.5f;
            int kind = (int)((r * 31 + j) % 3);
            float v = kind == 0 ? tie : kind == 1 ? nextafterf(tie, 0.0f) : nextafterf(tie, 1e9f);
            w[r * in + j] = j % 2 ? -v : v;
        }
    }
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 1) {
            rows = 1100, in = 1024;
            for (int64_t i = 0; i < rows * in; i++) w[i] = (float)((uniform() * 2 - 1) * (i % 5 == 0 ? 2.0 : 0.25));
        }
        int64_t pc = quant_packed_cols(s, in), sc = quant_scale_cols(s, in), differ = 0, bad_zero = 0;
        uint32_t *got = malloc(sizeof(uint32_t) * (size_t)(rows * pc)), *want = calloc((size_t)(rows * pc), sizeof(uint32_t));
        uint16_t *sz = malloc(sizeof(uint16_t) * (size_t)(rows * sc));
        quant_pack(s, w, rows, in, got, sz);
        for (int64_t r = 0; r < rows; r++)
            for (int64_t g = 0; g < in / 32; g++) {
                float scale = mlcc_f16_to_f32(sz[r * sc + 2 * g]), lo = 0;
                long zero = lroundf(mlcc_f16_to_f32(sz[r * sc + 2 * g + 1]));
                for (int64_t j = g * 32; j < g * 32 + 32; j++) lo = fminf(lo, w[r * in + j]);
                long want_zero = -lroundf(lo / scale);
                bad_zero += zero != (want_zero < 0 ? 0 : want_zero > 15 ? 15 : want_zero);
                for (int64_t j = g * 32; j < g * 32 + 32; j++) {
                    long q = lroundf(w[r * in + j] / scale) + zero;
                    q = q < 0 ? 0 : q > 15 ? 15 : q;
                    want[r * pc + j / 8] |= (uint32_t)q << (4 * (j % 8));
                }
            }
        for (int64_t i = 0; i < rows * pc; i++) differ += got[i] != want[i];
        CHECK_MSG(differ == 0 && bad_zero == 0, "q4f16_awq_g32 [%lld x %lld]: %lld words and %lld zero points differ from lroundf's",
                  (long long)rows, (long long)in, (long long)differ, (long long)bad_zero);
        free(got), free(want), free(sz);
    }
    free(w);
}

int main(void) {
    setenv("MLCC_NUM_THREADS", "3", 1);
    check_rounding_zero_point(); /* the pool's threads pack the large matrices */
    check_rounding("q4f16_1");
    check_rounding("q4f32_1");
    check_rounding("q8f16_1");
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
