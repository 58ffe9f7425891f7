/* scheme.c - the quantization schemes and their CPU reference (see scheme.h). */
#include "quant/scheme.h"

#include <math.h>
#include <string.h>

#include "mlcc/mlcc_runtime.h"
#include "support/error.h"

static const mlcc_quant_scheme schemes[] = {
    {"q0f32", 0, 0, {DT_FLOAT, 32, 1}, {DT_FLOAT, 32, 1}},
    {"q0f16", 0, 0, {DT_FLOAT, 16, 1}, {DT_FLOAT, 16, 1}},
    {"q4f16_1", 4, 32, {DT_UINT, 32, 1}, {DT_FLOAT, 16, 1}},
    {"q4f32_1", 4, 32, {DT_UINT, 32, 1}, {DT_FLOAT, 32, 1}},
    {"q8f16_1", 8, 32, {DT_UINT, 32, 1}, {DT_FLOAT, 16, 1}},
};

const char *quant_scheme_names(void) {
    return "q0f32, q0f16, q4f16_1, q4f32_1, q8f16_1";
}

const mlcc_quant_scheme *quant_scheme_find(const char *name) {
    if (!name) return &schemes[0];
    for (size_t i = 0; i < sizeof schemes / sizeof schemes[0]; i++)
        if (!strcmp(schemes[i].name, name)) return &schemes[i];
    mlcc_set_error("unknown quantization '%s' (known: %s)", name, quant_scheme_names());
    return NULL;
}

int64_t quant_packed_cols(const mlcc_quant_scheme *s, int64_t in) {
    return (in + quant_per_word(s) - 1) / quant_per_word(s);
}

int64_t quant_scale_cols(const mlcc_quant_scheme *s, int64_t in) {
    return (in + s->group_size - 1) / s->group_size;
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

void quant_pack(const mlcc_quant_scheme *s, const float *w, int64_t rows, int64_t in, uint32_t *packed, void *scales) {
    int64_t pc = quant_packed_cols(s, in), sc = quant_scale_cols(s, in);
    int per = quant_per_word(s), maxq = quant_max_int(s);
    memset(packed, 0, sizeof(uint32_t) * (size_t)(rows * pc));
    for (int64_t r = 0; r < rows; r++) {
        const float *row = w + r * in;
        for (int64_t g = 0; g < sc; g++) {
            int64_t begin = g * s->group_size, end = begin + s->group_size < in ? begin + s->group_size : in;
            float scale = group_scale(s, row + begin, end - begin, scales, r * sc + g);
            for (int64_t j = begin; j < end; j++) {
                long q = scale > 0 ? lroundf(row[j] / scale) : 0;
                q += maxq;
                if (q < 0) q = 0;
                if (q > 2 * maxq) q = 2 * maxq;
                packed[r * pc + j / per] |= (uint32_t)q << (s->bits * (int)(j % per));
            }
        }
    }
}

void quant_unpack(const mlcc_quant_scheme *s, const uint32_t *packed, const void *scales, int64_t rows, int64_t in, float *w) {
    int64_t pc = quant_packed_cols(s, in), sc = quant_scale_cols(s, in);
    int per = quant_per_word(s), maxq = quant_max_int(s);
    uint32_t mask = (1u << s->bits) - 1;
    for (int64_t r = 0; r < rows; r++)
        for (int64_t j = 0; j < in; j++) {
            int64_t at = r * sc + j / s->group_size;
            float scale = is_f16(s->scale_dtype) ? mlcc_f16_to_f32(((const uint16_t *)scales)[at]) : ((const float *)scales)[at];
            uint32_t q = (packed[r * pc + j / per] >> (s->bits * (int)(j % per))) & mask;
            w[r * in + j] = (float)((int)q - maxq) * scale;
        }
}

void quant_store_float(mlcc_dtype t, const float *src, int64_t n, void *dst) {
    if (is_f16(t)) mlcc_f32_to_f16_n(dst, src, (size_t)n);
    else memcpy(dst, src, sizeof(float) * (size_t)n);
}
