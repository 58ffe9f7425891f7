/* scheme.c - the quantization schemes and their CPU reference (see scheme.h). */
#include "quant/scheme.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mlcc/mlcc_runtime.h"
#include "support/error.h"

#include "loader/ggml_dequant.h"
#include "loader/ggml_quant.h"
#include "support/alloc.h"

/* ggml's type ids, as GGUF stores them */
enum { GGML_TYPE_Q4_0 = 2, GGML_TYPE_Q8_0 = 8, GGML_TYPE_Q4_K = 12, GGML_TYPE_Q5_K = 13, GGML_TYPE_Q6_K = 14 };

static const mlcc_quant_scheme schemes[] = {
    {"q0f32", 0, 0, {DT_FLOAT, 32, 1}, {DT_FLOAT, 32, 1}, 0, 0, 0},
    {"q0f16", 0, 0, {DT_FLOAT, 16, 1}, {DT_FLOAT, 16, 1}, 0, 0, 0},
    {"q0bf16", 0, 0, {DT_BFLOAT, 16, 1}, {DT_BFLOAT, 16, 1}, 0, 0, 0},
    {"q4f16_1", 4, 32, {DT_UINT, 32, 1}, {DT_FLOAT, 16, 1}, 7, 0, 0},
    {"q4f32_1", 4, 32, {DT_UINT, 32, 1}, {DT_FLOAT, 32, 1}, 7, 0, 0},
    {"q8f16_1", 8, 32, {DT_UINT, 32, 1}, {DT_FLOAT, 16, 1}, 127, 0, 0},
    {"ggml_q4_0", 4, 32, {DT_UINT, 32, 1}, {DT_FLOAT, 16, 1}, 8, GGML_TYPE_Q4_0, 0},
    {"ggml_q8_0", 8, 32, {DT_UINT, 32, 1}, {DT_FLOAT, 16, 1}, 128, GGML_TYPE_Q8_0, 0},
    {"q4f16_awq", 4, 128, {DT_UINT, 32, 1}, {DT_FLOAT, 16, 1}, 0, 0, 1},
    {"q4f16_awq_g64", 4, 64, {DT_UINT, 32, 1}, {DT_FLOAT, 16, 1}, 0, 0, 1},
    {"q4f16_awq_g32", 4, 32, {DT_UINT, 32, 1}, {DT_FLOAT, 16, 1}, 0, 0, 1},
    /* k-quants: group_size is the super-block (see scheme.h) */
    {"ggml_q4_k", 4, 256, {DT_UINT, 32, 1}, {DT_FLOAT, 16, 1}, 0, GGML_TYPE_Q4_K, 0},
    {"ggml_q5_k", 5, 256, {DT_UINT, 32, 1}, {DT_FLOAT, 16, 1}, 0, GGML_TYPE_Q5_K, 0},
    {"ggml_q6_k", 6, 256, {DT_UINT, 32, 1}, {DT_FLOAT, 16, 1}, 32, GGML_TYPE_Q6_K, 0},
    /* every matrix as its GGUF tensor stores it (a per-matrix choice among the above) */
    {"ggml_mixed", 0, 0, {DT_UINT, 32, 1}, {DT_FLOAT, 16, 1}, 0, 0, 0},
};

const char *quant_scheme_names(void) {
    return "q0f32, q0f16, q0bf16, q4f16_1, q4f32_1, q8f16_1, ggml_q4_0, ggml_q8_0, ggml_q4_k, ggml_q5_k, "
           "ggml_q6_k, ggml_mixed, q4f16_awq, q4f16_awq_g64, q4f16_awq_g32";
}

const mlcc_quant_scheme *quant_scheme_find(const char *name) {
    if (!name) return &schemes[0];
    for (size_t i = 0; i < sizeof schemes / sizeof schemes[0]; i++)
        if (!strcmp(schemes[i].name, name)) return &schemes[i];
    mlcc_set_error("unknown quantization '%s' (known: %s)", name, quant_scheme_names());
    return NULL;
}

int quant_is_kquant(const mlcc_quant_scheme *s) {
    return s && (s->ggml_type == GGML_TYPE_Q4_K || s->ggml_type == GGML_TYPE_Q5_K || s->ggml_type == GGML_TYPE_Q6_K);
}

int quant_is_mixed(const mlcc_quant_scheme *s) {
    return s && !strcmp(s->name, "ggml_mixed");
}

int quant_kquant_words(uint32_t ggml_type) {
    return ggml_type == GGML_TYPE_Q4_K ? 35 : ggml_type == GGML_TYPE_Q5_K ? 43 : ggml_type == GGML_TYPE_Q6_K ? 52 : 0;
}

int quant_kquant_halves(uint32_t ggml_type) {
    return ggml_type == GGML_TYPE_Q6_K ? 1 : 2;
}

int64_t quant_packed_cols(const mlcc_quant_scheme *s, int64_t in) {
    if (quant_is_kquant(s)) return (in / 256) * quant_kquant_words(s->ggml_type);
    return (in + quant_per_word(s) - 1) / quant_per_word(s);
}

int64_t quant_scale_cols(const mlcc_quant_scheme *s, int64_t in) {
    if (quant_is_kquant(s)) return (in / 256) * quant_kquant_halves(s->ggml_type);
    return (in + s->group_size - 1) / s->group_size * (s->group_zero ? 2 : 1);
}

const mlcc_quant_scheme *quant_scheme_for_matrix(const mlcc_quant_scheme *s, const char *name) {
    if (s && s->group_zero && strncmp(name, "model.layers.", 13) != 0) return quant_scheme_find("q0f16");
    return s;
}

const mlcc_quant_scheme *quant_scheme_awq(int group_size) {
    for (size_t i = 0; i < sizeof schemes / sizeof schemes[0]; i++)
        if (schemes[i].group_zero && schemes[i].group_size == group_size) return &schemes[i];
    return NULL;
}

static int is_f16(mlcc_dtype t) {
    return t.code == DT_FLOAT && t.bits == 16;
}

/* The scale of one group as stored, and back as float32 (quantizing divides by the stored
 * value, so the rounding of an f16 scale does not bias the values). */
static float group_scale(const mlcc_quant_scheme *s, const float *w, int64_t n, void *scales, int64_t at) {
    float amax = 0;
    for (int64_t i = 0; i < n; i++) {
        float a = fabsf(w[i]);
        if (a > amax) amax = a;
    }
    float scale = amax / (float)quant_max_int(s);
    if (is_f16(s->scale_dtype)) {
        if (scale > 65504.0f) scale = 65504.0f;
        uint16_t h = mlcc_f32_to_f16(scale);
        /* a scale that rounds down to 0 (or a subnormal below amax's need) rounds up instead */
        if (mlcc_f16_to_f32(h) * (float)quant_max_int(s) < amax && h < 0x7bff) h++;
        ((uint16_t *)scales)[at] = h;
        return mlcc_f16_to_f32(h);
    }
    ((float *)scales)[at] = scale;
    return scale;
}

/* x rounded to the nearest integer, halfway cases away from zero (lroundf's rounding; the
 * schemes' references, MLC LLM's and AutoAWQ's, round so) and clamped to [lo, hi] before it
 * becomes an integer, so NaN gives lo and nothing overflows. x - truncf(x) is exact for every
 * float, so this is lroundf's result wherever that lies in [lo, hi]; written out because
 * lroundf is a libm call per value, a tenth of a model's conversion time. */
static inline long round_clamp(float x, float lo, float hi) {
    float t = truncf(x), f = x - t;
    t += (float)((f >= 0.5f) - (f <= -0.5f)); /* no branch: on real weights either way is a coin toss */
    return !(t >= lo) ? (long)lo : t > hi ? (long)hi : (long)t;
}

/* One group of a group_zero scheme, as AutoAWQ's pseudo_quantize_tensor (zero_point=True)
 * does: scale = max(max - min, 1e-5) / 15 (stored as float16), zero = clamp(-round(min /
 * scale), 0, 15), q = clamp(round(w / scale) + zero, 0, 15) (ties away from zero); but with
 * [min, max] widened to hold 0 (as GPTQ's quantizer does), so a group of one sign has its zero
 * point at an end instead of clipping. */
static void pack_group_zero(const float *w, int64_t begin, int64_t end, uint32_t *row, uint16_t *sz) {
    float lo = 0.0f, hi = 0.0f;
    for (int64_t j = begin; j < end; j++) lo = w[j] < lo ? w[j] : lo, hi = w[j] > hi ? w[j] : hi;
    float range = hi - lo > 1e-5f ? hi - lo : 1e-5f, scale = range / 15.0f;
    if (scale > 65504.0f) scale = 65504.0f;
    sz[0] = mlcc_f32_to_f16(scale);
    scale = mlcc_f16_to_f32(sz[0]);
    long zero = scale > 0 ? -round_clamp(lo / scale, -15.0f, 0.0f) : 0;
    sz[1] = mlcc_f32_to_f16((float)zero);
    for (int64_t j = begin; j < end; j++) {
        long q = (scale > 0 ? round_clamp(w[j] / scale, -16.0f, 16.0f) : 0) + zero;
        q = q < 0 ? 0 : q > 15 ? 15 : q;
        row[j / 8] |= (uint32_t)q << (4 * (int)(j % 8));
    }
}

/* k-quants: ggml's reference quantizer (its search for each sub-block's scale makes it the
 * slowest scheme to pack: rows go to the thread pool in ranges, each range's blocks at their own
 * offset), then the blocks split as quant_repack_ggml does. */
typedef struct kquant_job {
    uint32_t type;
    const float *w;
    int64_t in;
    size_t row_bytes;
    uint8_t *blocks;
} kquant_job;

static void kquant_rows(int64_t begin, int64_t end, int task, void *ctx) {
    (void)task;
    const kquant_job *j = ctx;
    ggml_quantize(j->type, j->w + begin * j->in, (uint64_t)((end - begin) * j->in), j->blocks + (size_t)begin * j->row_bytes);
}

static void kquant_pack(const mlcc_quant_scheme *s, const float *w, int64_t rows, int64_t in, uint32_t *packed, uint16_t *scales) {
    size_t bytes = ggml_quant_size(s->ggml_type, (uint64_t)(rows * in)), row_bytes = ggml_quant_size(s->ggml_type, (uint64_t)in);
    uint8_t *blocks = mlcc_xmalloc(bytes ? bytes : 1);
    kquant_job job = {s->ggml_type, w, in, row_bytes, blocks};
    if (row_bytes && rows > 1 && rows * in >= 65536) mlcc_parallel_for(rows, kquant_rows, &job);
    else ggml_quantize(s->ggml_type, w, (uint64_t)(rows * in), blocks);
    quant_repack_ggml(s, blocks, rows, in, packed, scales);
    free(blocks);
}

/* Rows [begin, end) of a group scheme (the k-quants aside): each row's words and scales are its
 * own, so rows pack independently (quant_pack runs them on the thread pool). */
static void pack_rows(const mlcc_quant_scheme *s, const float *w, int64_t begin, int64_t end, int64_t in, uint32_t *packed,
                      void *scales) {
    int64_t pc = quant_packed_cols(s, in), sc = quant_scale_cols(s, in);
    memset(packed + begin * pc, 0, sizeof(uint32_t) * (size_t)((end - begin) * pc));
    if (s->group_zero) {
        for (int64_t r = begin; r < end; r++)
            for (int64_t g = 0; g < sc / 2; g++) {
                int64_t b = g * s->group_size, e = b + s->group_size < in ? b + s->group_size : in;
                pack_group_zero(w + r * in, b, e, packed + r * pc, (uint16_t *)scales + r * sc + 2 * g);
            }
        return;
    }
    int per = quant_per_word(s), maxq = quant_max_int(s), zero = s->zero_point;
    for (int64_t r = begin; r < end; r++) {
        const float *row = w + r * in;
        for (int64_t g = 0; g < sc; g++) {
            int64_t b = g * s->group_size, e = b + s->group_size < in ? b + s->group_size : in;
            float scale = group_scale(s, row + b, e - b, scales, r * sc + g);
            uint32_t *word = packed + r * pc + b / per; /* value j's word and bit, stepped (no division a value) */
            int shift = s->bits * (int)(b % per);
            for (int64_t j = b; j < e; j++) {
                long q = scale > 0 ? round_clamp(row[j] / scale, (float)-maxq, (float)maxq) : 0;
                *word |= (uint32_t)(q + zero) << shift;
                if ((shift += s->bits) == 32) shift = 0, word++;
            }
        }
    }
}

typedef struct pack_job {
    const mlcc_quant_scheme *s;
    const float *w;
    int64_t in;
    uint32_t *packed;
    void *scales;
} pack_job;

static void pack_rows_body(int64_t begin, int64_t end, int task, void *ctx) {
    (void)task;
    const pack_job *j = ctx;
    pack_rows(j->s, j->w, begin, end, j->in, j->packed, j->scales);
}

void quant_pack(const mlcc_quant_scheme *s, const float *w, int64_t rows, int64_t in, uint32_t *packed, void *scales) {
    if (quant_is_kquant(s)) {
        kquant_pack(s, w, rows, in, packed, scales);
        return;
    }
    pack_job job = {s, w, in, packed, scales};
    if (rows * in < (1 << 20)) pack_rows(s, w, 0, rows, in, packed, scales); /* small: not worth waking the pool */
    else mlcc_parallel_for(rows, pack_rows_body, &job);
}

/* The bytes of one k-quant super-block, and where its float16 d (and dmin) sit in it. */
static size_t kquant_block_bytes(uint32_t ggml_type) {
    return (size_t)quant_kquant_words(ggml_type) * 4 + 2 * (size_t)quant_kquant_halves(ggml_type);
}
static size_t kquant_words_at(uint32_t ggml_type) {
    return ggml_type == GGML_TYPE_Q6_K ? 0 : 4;
}
static size_t kquant_d_at(uint32_t ggml_type) {
    return ggml_type == GGML_TYPE_Q6_K ? 208 : 0;
}

/* k-quants: the ggml blocks put back together, then ggml's dequantizer. */
static void kquant_unpack(const mlcc_quant_scheme *s, const uint32_t *packed, const uint16_t *scales, int64_t rows, int64_t in, float *w) {
    uint32_t t = s->ggml_type;
    int64_t nb = in / 256, words = quant_kquant_words(t), halves = quant_kquant_halves(t);
    size_t bb = kquant_block_bytes(t);
    uint8_t *blocks = mlcc_xmalloc(bb * (size_t)(rows * nb) + 1);
    for (int64_t r = 0; r < rows; r++)
        for (int64_t k = 0; k < nb; k++) {
            uint8_t *b = blocks + bb * (size_t)(r * nb + k);
            memcpy(b + kquant_words_at(t), packed + r * nb * words + k * words, (size_t)words * 4);
            for (int h = 0; h < halves; h++) {
                uint16_t v = scales[(r * nb + k) * halves + h];
                b[kquant_d_at(t) + 2 * h] = (uint8_t)(v & 0xFF), b[kquant_d_at(t) + 2 * h + 1] = (uint8_t)(v >> 8);
            }
        }
    ggml_dequantize_f32(t, blocks, bb * (size_t)(rows * nb), (uint64_t)(rows * in), w);
    free(blocks);
}

void quant_unpack(const mlcc_quant_scheme *s, const uint32_t *packed, const void *scales, int64_t rows, int64_t in, float *w) {
    if (quant_is_kquant(s)) {
        kquant_unpack(s, packed, scales, rows, in, w);
        return;
    }
    int64_t pc = quant_packed_cols(s, in), sc = quant_scale_cols(s, in);
    int per = quant_per_word(s), zero = s->zero_point;
    uint32_t mask = (1u << s->bits) - 1;
    for (int64_t r = 0; r < rows; r++)
        for (int64_t j = 0; j < in; j++) {
            int64_t at = r * sc + (j / s->group_size) * (s->group_zero ? 2 : 1);
            float scale = is_f16(s->scale_dtype) ? mlcc_f16_to_f32(((const uint16_t *)scales)[at]) : ((const float *)scales)[at];
            float z = s->group_zero ? mlcc_f16_to_f32(((const uint16_t *)scales)[at + 1]) : (float)zero;
            uint32_t q = (packed[r * pc + j / per] >> (s->bits * (int)(j % per))) & mask;
            w[r * in + j] = ((float)q - z) * scale;
        }
}

const mlcc_quant_scheme *quant_scheme_for_ggml(uint32_t ggml_type) {
    for (size_t i = 0; i < sizeof schemes / sizeof schemes[0]; i++)
        if (schemes[i].ggml_type && schemes[i].ggml_type == ggml_type) return &schemes[i];
    return NULL;
}

/* Q4_0 block: f16 d, then 16 bytes: element e < 16 in the low nibble of byte e, element
 * e >= 16 in the high nibble of byte e - 16. Q8_0 block: f16 d, then 32 int8. */
/* A k-quant super-block: its float16 d (and dmin) go to the scales, the rest of its bytes, in
 * their order, to the words. */
static void kquant_repack(const mlcc_quant_scheme *s, const uint8_t *b, int64_t rows, int64_t in, uint32_t *packed, uint16_t *scales) {
    uint32_t t = s->ggml_type;
    int64_t nb = in / 256, words = quant_kquant_words(t), halves = quant_kquant_halves(t);
    size_t bb = kquant_block_bytes(t);
    for (int64_t i = 0; i < rows * nb; i++, b += bb) {
        memcpy(packed + i * words, b + kquant_words_at(t), (size_t)words * 4);
        for (int h = 0; h < halves; h++)
            scales[i * halves + h] = (uint16_t)(b[kquant_d_at(t) + 2 * h] | b[kquant_d_at(t) + 2 * h + 1] << 8);
    }
}

void quant_repack_ggml(const mlcc_quant_scheme *s, const void *blocks, int64_t rows, int64_t in, uint32_t *packed, uint16_t *scales) {
    if (quant_is_kquant(s)) {
        kquant_repack(s, blocks, rows, in, packed, scales);
        return;
    }
    const uint8_t *b = blocks;
    int q4 = s->ggml_type == GGML_TYPE_Q4_0, per = quant_per_word(s);
    size_t block_bytes = q4 ? 18 : 34;
    int64_t pc = quant_packed_cols(s, in), nb = in / 32;
    memset(packed, 0, sizeof(uint32_t) * (size_t)(rows * pc));
    for (int64_t r = 0; r < rows; r++)
        for (int64_t k = 0; k < nb; k++, b += block_bytes) {
            scales[r * nb + k] = (uint16_t)(b[0] | b[1] << 8);
            for (int e = 0; e < 32; e++) {
                uint32_t q = q4 ? (e < 16 ? b[2 + e] & 15u : (uint32_t)b[2 + e - 16] >> 4) : (uint32_t)((int8_t)b[2 + e] + 128);
                int64_t j = k * 32 + e;
                packed[r * pc + j / per] |= q << (s->bits * (int)(j % per));
            }
        }
}

void quant_store_float(mlcc_dtype t, const float *src, int64_t n, void *dst) {
    if (is_f16(t)) mlcc_f32_to_f16_n(dst, src, (size_t)n);
    else if (t.code == DT_BFLOAT) mlcc_f32_to_bf16_n(dst, src, (size_t)n);
    else memcpy(dst, src, sizeof(float) * (size_t)n);
}
