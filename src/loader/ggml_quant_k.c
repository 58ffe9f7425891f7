/* ggml_quant_k.c - see ggml_quant_k.h. Block layouts (little-endian):
 *   Q4_K: d f16, dmin f16, scales[12] (6-bit scale and min of 8 sub-blocks, packed as ggml's
 *         get_scale_min_k4 reads them), qs[128] (values 64i + l in the low nibble of byte
 *         32i + l, 64i + 32 + l in its high nibble);
 *   Q5_K: as Q4_K with qh[32] before qs (bit 2i of qh[l]: the fifth bit of value 64i + l, bit
 *         2i + 1: of value 64i + 32 + l);
 *   Q6_K: ql[128] (low 4 bits), qh[64] (high 2 bits), scales[16] int8, d f16. */
#include "loader/ggml_quant_k.h"

#include <math.h>
#include <string.h>

#include "mlcc/mlcc_runtime.h"

#define GROUP_EPS 1e-15f

static int imax(int a, int b) { return a > b ? a : b; }
static int imin(int a, int b) { return a < b ? a : b; }

/* Round to nearest, ties to even, through the float's mantissa (|v| < 2^22), as ggml does. */
static int nearest(float v) {
    float t = v + 12582912.f;
    int32_t i;
    memcpy(&i, &t, sizeof i);
    return (i & 0x007fffff) - 0x00400000;
}

static void put_f16(uint8_t *p, float v) {
    uint16_t h = mlcc_f32_to_f16(v);
    p[0] = (uint8_t)(h & 0xff), p[1] = (uint8_t)(h >> 8);
}

static float get_f16(const uint8_t *p) {
    return mlcc_f16_to_f32((uint16_t)(p[0] | (p[1] << 8)));
}

/* Scale and min (returned negated in *neg_min) of n values on levels 0..nmax, fitted by weighted
 * least squares around nstep + 1 candidate steps (ggml's make_qkx2_quants, squared error). */
static float fit_scale_min(int n, int nmax, const float *x, const float *w, uint8_t *L, float *neg_min, float rmin,
                           float rdelta, int nstep) {
    uint8_t aux[32];
    float lo = x[0], hi = x[0], sum_w = w[0], sum_x = sum_w * x[0];
    for (int i = 1; i < n; i++) {
        if (x[i] < lo) lo = x[i];
        if (x[i] > hi) hi = x[i];
        sum_w += w[i];
        sum_x += w[i] * x[i];
    }
    if (lo > 0) lo = 0;
    if (hi == lo) {
        memset(L, 0, (size_t)n);
        *neg_min = -lo;
        return 0.f;
    }
    float iscale = nmax / (hi - lo), scale = 1 / iscale, best = 0;
    for (int i = 0; i < n; i++) {
        L[i] = (uint8_t)imax(0, imin(nmax, nearest(iscale * (x[i] - lo))));
        float diff = scale * L[i] + lo - x[i];
        best += w[i] * (diff * diff);
    }
    for (int is = 0; is <= nstep; is++) {
        iscale = (rmin + rdelta * is + nmax) / (hi - lo);
        float sum_l = 0, sum_l2 = 0, sum_xl = 0;
        for (int i = 0; i < n; i++) {
            int l = imax(0, imin(nmax, nearest(iscale * (x[i] - lo))));
            aux[i] = (uint8_t)l;
            sum_l += w[i] * l;
            sum_l2 += w[i] * l * l;
            sum_xl += w[i] * l * x[i];
        }
        float D = sum_w * sum_l2 - sum_l * sum_l;
        if (D <= 0) continue;
        float s = (sum_w * sum_xl - sum_x * sum_l) / D, m = (sum_l2 * sum_x - sum_l * sum_xl) / D;
        if (m > 0) m = 0, s = sum_xl / sum_l2;
        float err = 0;
        for (int i = 0; i < n; i++) {
            float diff = s * aux[i] + m - x[i];
            err += w[i] * (diff * diff);
        }
        if (err < best) {
            memcpy(L, aux, (size_t)n);
            best = err, scale = s, lo = m;
        }
    }
    *neg_min = -lo;
    return scale;
}

/* A signed scale of n values on levels -nmax..nmax-1 (stored + nmax in L), weights x^2, the best
 * of 19 candidate steps (ggml's make_qx_quants with rmse_type 1). */
static float fit_signed_scale(int n, int nmax, const float *x, int8_t *L) {
    float max = 0, amax = 0;
    for (int i = 0; i < n; i++)
        if (fabsf(x[i]) > amax) amax = fabsf(x[i]), max = x[i];
    if (amax < GROUP_EPS) {
        memset(L, 0, (size_t)n);
        return 0.f;
    }
    float iscale = -nmax / max, sumlx = 0, suml2 = 0;
    for (int i = 0; i < n; i++) {
        int l = imax(-nmax, imin(nmax - 1, nearest(iscale * x[i])));
        L[i] = (int8_t)(l + nmax);
        float w = x[i] * x[i];
        sumlx += w * x[i] * l;
        suml2 += w * l * l;
    }
    float scale = suml2 ? sumlx / suml2 : 0.0f, best = scale * sumlx;
    for (int is = -9; is <= 9; is++) {
        if (is == 0) continue;
        iscale = -(nmax + 0.1f * is) / max;
        sumlx = suml2 = 0;
        for (int i = 0; i < n; i++) {
            int l = imax(-nmax, imin(nmax - 1, nearest(iscale * x[i])));
            float w = x[i] * x[i];
            sumlx += w * x[i] * l;
            suml2 += w * l * l;
        }
        if (suml2 > 0 && sumlx * sumlx > best * suml2) {
            for (int i = 0; i < n; i++) L[i] = (int8_t)(nmax + imax(-nmax, imin(nmax - 1, nearest(iscale * x[i]))));
            scale = sumlx / suml2, best = scale * sumlx;
        }
    }
    return scale;
}

/* The 6-bit scale and min of sub-block j from Q4_K's 12 packed bytes. */
static void scale_min_k4(int j, const uint8_t *q, uint8_t *d, uint8_t *m) {
    if (j < 4) {
        *d = q[j] & 63, *m = q[j + 4] & 63;
    } else {
        *d = (uint8_t)((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
        *m = (uint8_t)((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
    }
}

/* Q4_K (nmax 15) and Q5_K (nmax 31): the sub-blocks' scales and mins fitted, quantized to 6
 * bits into out[4..16), d and dmin into out[0..4), the levels into L. */
static void quantize_scales_mins(const float *x, uint8_t *out, uint8_t *L, int nmax, float rmin, int nstep) {
    uint8_t *scales = out + 4;
    float w[32], mins[8], sc[8], max_scale = 0, max_min = 0;
    for (int j = 0; j < 8; j++) {
        float sum_x2 = 0;
        for (int l = 0; l < 32; l++) sum_x2 += x[32 * j + l] * x[32 * j + l];
        float av_x = sqrtf(sum_x2 / 32);
        for (int l = 0; l < 32; l++) w[l] = av_x + fabsf(x[32 * j + l]);
        sc[j] = fit_scale_min(32, nmax, x + 32 * j, w, L + 32 * j, &mins[j], rmin, 0.1f, nstep);
        if (sc[j] > max_scale) max_scale = sc[j];
        if (mins[j] > max_min) max_min = mins[j];
    }
    float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f, inv_min = max_min > 0 ? 63.f / max_min : 0.f;
    memset(scales, 0, 12);
    for (int j = 0; j < 8; j++) {
        uint8_t ls = (uint8_t)nearest(inv_scale * sc[j]), lm = (uint8_t)nearest(inv_min * mins[j]);
        ls = ls < 63 ? ls : 63, lm = lm < 63 ? lm : 63;
        if (j < 4) {
            scales[j] = ls, scales[j + 4] = lm;
        } else {
            scales[j + 4] = (uint8_t)((ls & 0xF) | ((lm & 0xF) << 4));
            scales[j - 4] |= (uint8_t)((ls >> 4) << 6);
            scales[j] |= (uint8_t)((lm >> 4) << 6);
        }
    }
    put_f16(out, max_scale / 63.f);
    put_f16(out + 2, max_min / 63.f);
    for (int j = 0; j < 8; j++) {
        uint8_t s, m;
        scale_min_k4(j, scales, &s, &m);
        const float d = get_f16(out) * s;
        if (!d) continue;
        const float dm = get_f16(out + 2) * m;
        for (int i = 0; i < 32; i++) L[32 * j + i] = (uint8_t)imax(0, imin(nmax, nearest((x[32 * j + i] + dm) / d)));
    }
}

void ggml_quantize_block_q4_k(const float *x, uint8_t *out) {
    uint8_t L[GGML_QK_K], *qs = out + 16;
    quantize_scales_mins(x, out, L, 15, -1.f, 20);
    for (int j = 0; j < GGML_QK_K; j += 64)
        for (int l = 0; l < 32; l++) qs[j / 2 + l] = (uint8_t)(L[j + l] | (L[j + l + 32] << 4));
}

void ggml_quantize_block_q5_k(const float *x, uint8_t *out) {
    uint8_t L[GGML_QK_K], *qh = out + 16, *qs = out + 48;
    quantize_scales_mins(x, out, L, 31, -0.5f, 15);
    memset(qh, 0, 32);
    for (int j = 0, bit = 0; j < GGML_QK_K; j += 64, bit += 2)
        for (int l = 0; l < 32; l++) {
            int l1 = L[j + l], l2 = L[j + l + 32];
            if (l1 > 15) l1 -= 16, qh[l] |= (uint8_t)(1 << bit);
            if (l2 > 15) l2 -= 16, qh[l] |= (uint8_t)(2 << bit);
            qs[j / 2 + l] = (uint8_t)(l1 | (l2 << 4));
        }
}

void ggml_quantize_block_q6_k(const float *x, uint8_t *out) {
    int8_t L[GGML_QK_K];
    float sc[16], max_scale = 0, max_abs = 0;
    uint8_t *ql = out, *qh = out + 128;
    int8_t *scales = (int8_t *)(out + 192);
    for (int b = 0; b < 16; b++) {
        sc[b] = fit_signed_scale(16, 32, x + 16 * b, L + 16 * b);
        if (fabsf(sc[b]) > max_abs) max_abs = fabsf(sc[b]), max_scale = sc[b];
    }
    memset(out, 0, GGML_Q6_K_BYTES);
    if (max_abs < GROUP_EPS) {
        put_f16(out + 208, 0.f);
        return;
    }
    float iscale = -128.f / max_scale;
    put_f16(out + 208, 1 / iscale);
    for (int b = 0; b < 16; b++) scales[b] = (int8_t)imin(127, nearest(iscale * sc[b]));
    for (int j = 0; j < 16; j++) {
        float d = get_f16(out + 208) * scales[j];
        if (!d) continue;
        for (int i = 0; i < 16; i++) L[16 * j + i] = (int8_t)(imax(-32, imin(31, nearest(x[16 * j + i] / d))) + 32);
    }
    for (int j = 0; j < GGML_QK_K; j += 128) {
        for (int l = 0; l < 32; l++) {
            uint8_t q1 = L[j + l] & 0xF, q2 = L[j + l + 32] & 0xF, q3 = L[j + l + 64] & 0xF, q4 = L[j + l + 96] & 0xF;
            ql[l] = (uint8_t)(q1 | (q3 << 4));
            ql[l + 32] = (uint8_t)(q2 | (q4 << 4));
            qh[l] = (uint8_t)((L[j + l] >> 4) | ((L[j + l + 32] >> 4) << 2) | ((L[j + l + 64] >> 4) << 4) |
                              ((L[j + l + 96] >> 4) << 6));
        }
        ql += 64;
        qh += 32;
    }
}
