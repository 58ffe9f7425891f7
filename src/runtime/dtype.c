/* dtype.c - DLDataType helpers for the runtime: sizes, names, and exact conversions between
 * float32 and the 16-bit float formats (IEEE half and bfloat16) that loaders use when a weight
 * file's type differs from the one a model library wants. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mlcc/mlcc_runtime.h"
#include "support/dtype_name.h"
#include "support/error.h"

int mlcc_dtype_eq(DLDataType a, DLDataType b) {
    return a.code == b.code && a.bits == b.bits && a.lanes == b.lanes;
}

size_t mlcc_dtype_bytes(DLDataType t) {
    if (t.bits == 1 && t.lanes == 1) return 1; /* bool: one byte in memory */
    size_t bits = (size_t)t.bits * t.lanes;
    return bits % 8 ? 0 : bits / 8;
}

const char *mlcc_dtype_str(DLDataType t, char *buf) {
    const char *base;
    if (t.code == kDLUInt && t.bits == 1)
        base = "bool";
    else if (t.code == kDLOpaqueHandle)
        base = "handle";
    else {
        switch (t.code) {
        case kDLInt: base = "int"; break;
        case kDLUInt: base = "uint"; break;
        case kDLFloat: base = "float"; break;
        case kDLBfloat: base = "bfloat"; break;
        case kDLComplex: base = "complex"; break;
        default: base = "code?"; break;
        }
    }
    if (strcmp(base, "bool") == 0 || strcmp(base, "handle") == 0)
        snprintf(buf, 32, "%s", base);
    else if (strcmp(base, "code?") == 0)
        snprintf(buf, 32, "code%u_%u", t.code, t.bits);
    else
        snprintf(buf, 32, "%s%u", base, t.bits);
    if (t.lanes > 1) snprintf(buf + strlen(buf), 32 - strlen(buf), "x%u", t.lanes);
    return buf;
}

int mlcc_dtype_parse(const char *s, DLDataType *out) {
    uint8_t code, bits;
    uint16_t lanes;
    if (mlcc_dtype_name_parse(s, &code, &bits, &lanes) != 0) return -1;
    *out = (DLDataType){code, bits, lanes};
    return 0;
}

static uint32_t float_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static float bits_float(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}

float mlcc_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
    if (exp == 0x1f) return bits_float(sign | 0x7f800000u | (mant << 13)); /* inf, NaN payload */
    if (exp != 0) return bits_float(sign | ((exp + 112) << 23) | (mant << 13));
    if (mant == 0) return bits_float(sign);
    /* Subnormal: mant * 2^-24. Normalise so the leading one becomes the implicit bit. */
    int shift = 0;
    while (!(mant & 0x400)) {
        mant <<= 1;
        shift++;
    }
    return bits_float(sign | ((uint32_t)(127 - 14 - shift) << 23) | ((mant & 0x3ff) << 13));
}

uint16_t mlcc_f32_to_f16(float f) {
    uint32_t x = float_bits(f);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000);
    uint32_t exp = (x >> 23) & 0xff, mant = x & 0x7fffff;
    if (exp == 0xff) {
        if (!mant) return sign | 0x7c00;
        uint16_t m = (uint16_t)(mant >> 13);
        return sign | 0x7c00 | (m ? m : 0x200); /* keep the top payload bits; stay a NaN */
    }
    int e = (int)exp - 127 + 15; /* the biased half exponent */
    if (e >= 31) return sign | 0x7c00;
    if (e <= 0) {
        /* Subnormal half (or zero): the result is round(value * 2^24). */
        if (e < -10) return sign; /* below 2^-25: rounds to zero */
        uint32_t full = mant | 0x800000;
        int shift = 14 - e; /* 14..24 */
        uint32_t m = full >> shift, rem = full & ((1u << shift) - 1), half = 1u << (shift - 1);
        if (rem > half || (rem == half && (m & 1))) m++; /* may carry into the smallest normal */
        return sign | (uint16_t)m;
    }
    uint16_t h = sign | (uint16_t)(e << 10) | (uint16_t)(mant >> 13);
    uint32_t rem = mant & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (h & 1))) h++; /* a carry moves into the exponent */
    return h;
}

float mlcc_bf16_to_f32(uint16_t h) {
    return bits_float((uint32_t)h << 16);
}

uint16_t mlcc_f32_to_bf16(float f) {
    uint32_t x = float_bits(f);
    if ((x & 0x7fffffff) > 0x7f800000) {
        uint16_t h = (uint16_t)(x >> 16);
        return (h & 0x7f) ? h : (uint16_t)(h | 0x40); /* keep it a NaN */
    }
    x += 0x7fff + ((x >> 16) & 1);
    return (uint16_t)(x >> 16);
}

void mlcc_f16_to_f32_n(float *dst, const uint16_t *src, size_t n) {
    for (size_t i = 0; i < n; i++) dst[i] = mlcc_f16_to_f32(src[i]);
}

void mlcc_bf16_to_f32_n(float *dst, const uint16_t *src, size_t n) {
    for (size_t i = 0; i < n; i++) dst[i] = mlcc_bf16_to_f32(src[i]);
}

void mlcc_f32_to_f16_n(uint16_t *dst, const float *src, size_t n) {
    for (size_t i = 0; i < n; i++) dst[i] = mlcc_f32_to_f16(src[i]);
}

void mlcc_f32_to_bf16_n(uint16_t *dst, const float *src, size_t n) {
    for (size_t i = 0; i < n; i++) dst[i] = mlcc_f32_to_bf16(src[i]);
}
