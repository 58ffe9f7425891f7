/* gemm_q.c - the quantized GEMM_NT intrinsics (see intrin.h): C[M, N] (= or +=) A[M, K] W[N, K]^T
 * where W is stored packed as quant/scheme.c lays it out (q_weight uint32 [N, ldq], value k of a
 * row in word k / per at bits bits * (k % per); q_scale [N, lds], one scale per 32 values):
 *     W[n, k] = (q(n, k) - zero_point) * scale[n, k / 32]
 * One instance per (bits, zero point, scale type, activation path) that a scheme uses:
 * q4f16_1 / q4f32_1 (4 bits, zero 7), ggml_q4_0 (4, 8), q8f16_1 (8, 127), ggml_q8_0 (8, 128).
 *
 * Two activation paths (docs/quantization.md says which is the default where):
 *   - float ("_a32", exact): each 32-value block of a weight row is dequantized into two
 *     vectors and multiplied into float32 activations with f32 FMAs. The activations are first
 *     copied once per call into the block's nibble order (the even values of a block then its
 *     odd ones, for 4 bits), so a block's 16 bytes unpack with one zero-extension, one shift and
 *     two table look-ups (vpermps maps a 4-bit code straight to the float q - zero_point).
 *   - int8 ("_a8", as llama.cpp computes): each row of A is quantized once per call to int8 per
 *     32-block (scale amax / 127, round to nearest even; or once per matmul: each int8 instance
 *     also defines NAME_prep_bytes / NAME_prep_row / NAME_pre, the preparation and the GEMM on
 *     prepared rows, which transform/lower_quant_prep.c calls around a parallel column loop),
 *     and the dot products run on integers:
 *     vpdpbusd multiplies the unsigned weight codes by the signed activations, four products
 *     per 32-bit lane. The reduction runs in groups of 16 blocks, one lane per block: a block's
 *     exact integer sum (started at -zero_point times the sum of its activations, which folds
 *     the zero point in) is converted once and scaled by its two scales into an f32 lane.
 *     Prefill lays weights and activations out so that 8 vpdpbusd fill a block's lane (each
 *     weight step loaded once for 4 rows); decode streams the packed row as stored and adds
 *     its partial lanes into the same block sums (see the path's comment). Integer sums are
 *     exact, so the path only adds the activation rounding (tests/unit/test_cpu_intrin_q.c).
 * Float path: a chunk of work is a 32-value block, the reduction runs in blocks of MLCC_QKC
 * values (MLCC_QKC8 on the int8 path) whose lane sums are reduced and added in order, and tiles
 * only change which rows and columns are computed together, so a row's result does not depend
 * on how many rows the call has (decode gives prefill's logits bitwise). Ragged K is handled by
 * copying the last, partial chunk of each row into zeroed scratch (never reading past a row).
 *
 * With MLCC_QUANT_AMX=1 on an AMX-INT8 host, 4-bit int8 calls of 16 rows or more run on the AMX
 * tiles (same integers, same float steps; see the path's comment and docs/quantization.md).
 * The vector code needs AVX-512 F/BW/VL (+VNNI for the int8 path); the float path also has an
 * AVX2 + FMA + F16C version; elsewhere a plain C version computes the same formulas one value at
 * a time, except that on aarch64 with dotprod the 4-bit int8 path sums each block with two SDOTs
 * (the same integers; tests/unit/test_cpu_intrin_neon.c runs it under qemu). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cpu/intrin.h"

#define MLCC_SRC(...) #__VA_ARGS__ "\n"

/* Helpers shared by every instance, emitted once (guarded: each instance carries them). */
static const char q_common[] =
    "#ifndef MLCC_Q_COMMON\n#define MLCC_Q_COMMON\n#include <stdint.h>\n#include <stdlib.h>\n#include <string.h>\n"
    "#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__)\n#define MLCC_Q_AVX512 1\n"
    "#else\n#define MLCC_Q_AVX512 0\n#endif\n"
    "#if MLCC_Q_AVX512 && defined(__AVX512VNNI__)\n#define MLCC_Q_VNNI 1\n#else\n#define MLCC_Q_VNNI 0\n#endif\n"
    "#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)\n#define MLCC_Q_AVX2 1\n#else\n#define MLCC_Q_AVX2 0\n#endif\n"
    "#if defined(__aarch64__) && defined(__ARM_NEON) && defined(__ARM_FEATURE_DOTPROD)\n#include <arm_neon.h>\n"
    "#define MLCC_Q_SDOT 1\n#else\n#define MLCC_Q_SDOT 0\n#endif\n"
    "#define MLCC_QKC 1024\n#ifndef MLCC_QKC8\n#define MLCC_QKC8 8192\n#endif\n#ifndef MLCC_QPF\n#define MLCC_QPF 1\n#endif\n#ifndef MLCC_QNR\n#define MLCC_QNR 8\n#endif\n#ifndef MLCC_QMR\n#define MLCC_QMR 4\n#endif\n#ifndef MLCC_QNC\n#define MLCC_QNC 3\n#endif\n#ifndef MLCC_QPF_LOCALITY\n#define MLCC_QPF_LOCALITY 2\n#endif\n#ifndef MLCC_QDPF_BYTES\n#define MLCC_QDPF_BYTES 8192\n#endif\n#ifndef MLCC_QDPF_LOCALITY\n#define MLCC_QDPF_LOCALITY 3\n#endif\n"
    MLCC_SRC(
    /* x rounded to the nearest integer, ties to even (|x| < 2^22; no libm) */
    static inline float mlcc_q_rne(float x) { return (x + 12582912.0f) - 12582912.0f; }
    /* Row a[0..K) quantized to int8 per 32-block into q[0..Kp) (zero past K) and d[Kp / 32]:
     * d = amax / 127, q = round(a * 127 / amax). The int8 path's definition, every ISA. */
    static void mlcc_q_quantize_row(const float *a, int64_t K, int64_t Kp, int8_t *q, float *d) {
        int64_t b0 = 0;
    )
    "#if MLCC_Q_AVX512\n"
    MLCC_SRC(
        /* the same formula, 16 blocks at a time: their absolute maxima reduced together (a
         * transposing tree), both divisions as one vector division each, then each block's
         * values scaled, rounded (vcvtps2dq: nearest even) and narrowed */
        const __m512 c127 = _mm512_set1_ps(127.0f);
        for (; b0 + 16 <= Kp / 32; b0 += 16) {
            __m512 m[16], v[32];
            for (int b = 0; b < 16; b++) {
                int64_t k = (b0 + b) * 32, r = K - k;
                __mmask16 m0 = r >= 16 ? 0xFFFF : r <= 0 ? 0 : (__mmask16)((1u << r) - 1);
                __mmask16 m1 = r >= 32 ? 0xFFFF : r <= 16 ? 0 : (__mmask16)((1u << (r - 16)) - 1);
                v[2 * b] = _mm512_maskz_loadu_ps(m0, a + k), v[2 * b + 1] = _mm512_maskz_loadu_ps(m1, a + k + 16);
                m[b] = _mm512_max_ps(_mm512_abs_ps(v[2 * b]), _mm512_abs_ps(v[2 * b + 1]));
            }
            for (int i = 0; i < 8; i++)
                m[i] = _mm512_max_ps(_mm512_shuffle_f32x4(m[2 * i], m[2 * i + 1], 0x44), _mm512_shuffle_f32x4(m[2 * i], m[2 * i + 1], 0xEE));
            for (int i = 0; i < 4; i++)
                m[i] = _mm512_max_ps(_mm512_shuffle_f32x4(m[2 * i], m[2 * i + 1], 0x88), _mm512_shuffle_f32x4(m[2 * i], m[2 * i + 1], 0xDD));
            for (int i = 0; i < 2; i++)
                m[i] = _mm512_max_ps(_mm512_shuffle_ps(m[2 * i], m[2 * i + 1], 0x44), _mm512_shuffle_ps(m[2 * i], m[2 * i + 1], 0xEE));
            __m512 amax = _mm512_max_ps(_mm512_shuffle_ps(m[0], m[1], 0x88), _mm512_shuffle_ps(m[0], m[1], 0xDD));
            amax = _mm512_permutexvar_ps(_mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15), amax);
            __mmask16 nz = _mm512_cmp_ps_mask(amax, _mm512_setzero_ps(), _CMP_GT_OQ);
            float id[16];
            _mm512_storeu_ps(id, _mm512_maskz_div_ps(nz, c127, amax));
            _mm512_storeu_ps(d + b0, _mm512_div_ps(amax, c127));
            /* two blocks per 64 bytes: saturating packs (int32 -> int16 -> int8, which leave
             * dword 4 k + m holding values 4 k.. of input m) and one dword permute back to the
             * values' order: half the shuffle-port work of four vpmovsdb */
            const __m512i order = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
            for (int b = 0; b < 16; b += 2) {
                __m512 v0 = _mm512_set1_ps(id[b]), v1 = _mm512_set1_ps(id[b + 1]);
                __m512i i0 = _mm512_cvtps_epi32(_mm512_mul_ps(v[2 * b], v0)), i1 = _mm512_cvtps_epi32(_mm512_mul_ps(v[2 * b + 1], v0));
                __m512i i2 = _mm512_cvtps_epi32(_mm512_mul_ps(v[2 * b + 2], v1)), i3 = _mm512_cvtps_epi32(_mm512_mul_ps(v[2 * b + 3], v1));
                __m512i p = _mm512_packs_epi16(_mm512_packs_epi32(i0, i1), _mm512_packs_epi32(i2, i3));
                _mm512_storeu_si512(q + (b0 + b) * 32, _mm512_permutexvar_epi32(order, p));
            }
        }
        /* the blocks past the last 16 one at a time, by the same vector steps */
        for (; b0 < Kp / 32; b0++) {
            int64_t k = b0 * 32, r = K - k;
            __mmask16 m0 = r >= 16 ? 0xFFFF : r <= 0 ? 0 : (__mmask16)((1u << r) - 1);
            __mmask16 m1 = r >= 32 ? 0xFFFF : r <= 16 ? 0 : (__mmask16)((1u << (r - 16)) - 1);
            __m512 v0 = _mm512_maskz_loadu_ps(m0, a + k), v1 = _mm512_maskz_loadu_ps(m1, a + k + 16);
            float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(v0), _mm512_abs_ps(v1)));
            __m512 vid = _mm512_set1_ps(amax > 0.0f ? 127.0f / amax : 0.0f);
            d[b0] = amax / 127.0f;
            _mm_storeu_si128((__m128i *)(q + k), _mm512_cvtsepi32_epi8(_mm512_cvtps_epi32(_mm512_mul_ps(v0, vid))));
            _mm_storeu_si128((__m128i *)(q + k + 16), _mm512_cvtsepi32_epi8(_mm512_cvtps_epi32(_mm512_mul_ps(v1, vid))));
        }
    )
    "#endif\n"
    MLCC_SRC(
        for (int64_t b = b0; b < Kp / 32; b++) {
            float amax = 0.0f;
            for (int64_t k = b * 32; k < b * 32 + 32 && k < K; k++) {
                float v = a[k] < 0 ? -a[k] : a[k];
                amax = v > amax ? v : amax;
            }
            float id = amax > 0.0f ? 127.0f / amax : 0.0f;
            d[b] = amax / 127.0f;
            for (int64_t k = b * 32; k < b * 32 + 32; k++) q[k] = (int8_t)(k < K ? mlcc_q_rne(a[k] * id) : 0.0f);
        }
    }
    static inline int64_t mlcc_q_round_up(int64_t x, int64_t m) { return (x + m - 1) / m * m; }
    )
    "#if MLCC_Q_VNNI\n"
    MLCC_SRC(
    /* d[0..3]: 128-bit lane k of d[i] holds 4 partial sums of block 4 i + k -> lane L: block L's sum */
    static inline __m512i mlcc_q_hsum4(const __m512i *d) {
        __m512i e01 = _mm512_add_epi32(_mm512_unpacklo_epi32(d[0], d[1]), _mm512_unpackhi_epi32(d[0], d[1]));
        __m512i e23 = _mm512_add_epi32(_mm512_unpacklo_epi32(d[2], d[3]), _mm512_unpackhi_epi32(d[2], d[3]));
        __m512i f = _mm512_add_epi32(_mm512_unpacklo_epi64(e01, e23), _mm512_unpackhi_epi64(e01, e23));
        return _mm512_permutexvar_epi32(_mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15), f);
    }
    /* d[0..7]: lanes 0-7 of d[i] hold 8 partial sums of block 2 i, lanes 8-15 of block 2 i + 1 -> lane L: block L's sum */
    static inline __m512i mlcc_q_hsum8(const __m512i *d) {
        __m512i e01 = _mm512_add_epi32(_mm512_unpacklo_epi32(d[0], d[1]), _mm512_unpackhi_epi32(d[0], d[1]));
        __m512i e23 = _mm512_add_epi32(_mm512_unpacklo_epi32(d[2], d[3]), _mm512_unpackhi_epi32(d[2], d[3]));
        __m512i e45 = _mm512_add_epi32(_mm512_unpacklo_epi32(d[4], d[5]), _mm512_unpackhi_epi32(d[4], d[5]));
        __m512i e67 = _mm512_add_epi32(_mm512_unpacklo_epi32(d[6], d[7]), _mm512_unpackhi_epi32(d[6], d[7]));
        __m512i f0 = _mm512_add_epi32(_mm512_unpacklo_epi64(e01, e23), _mm512_unpackhi_epi64(e01, e23));
        __m512i f1 = _mm512_add_epi32(_mm512_unpacklo_epi64(e45, e67), _mm512_unpackhi_epi64(e45, e67));
        __m512i g = _mm512_add_epi32(_mm512_shuffle_i32x4(f0, f1, 0x88), _mm512_shuffle_i32x4(f0, f1, 0xDD));
        return _mm512_permutexvar_epi32(_mm512_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7, 8, 12, 9, 13, 10, 14, 11, 15), g);
    }
    /* in[c] (c < 4): dword 4 b + p is part p of block 4 c + b -> out[p]: lane L is part p of block L */
    static inline void mlcc_q_transpose4(const __m512i *in, __m512i *out) {
        const __m512i a1 = _mm512_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28, 1, 5, 9, 13, 17, 21, 25, 29);
        const __m512i b1 = _mm512_add_epi32(a1, _mm512_set1_epi32(2));
        const __m512i lo = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23);
        const __m512i hi = _mm512_add_epi32(lo, _mm512_set1_epi32(8));
        __m512i ra0 = _mm512_permutex2var_epi32(in[0], a1, in[1]), ra1 = _mm512_permutex2var_epi32(in[2], a1, in[3]);
        __m512i rb0 = _mm512_permutex2var_epi32(in[0], b1, in[1]), rb1 = _mm512_permutex2var_epi32(in[2], b1, in[3]);
        out[0] = _mm512_permutex2var_epi32(ra0, lo, ra1), out[1] = _mm512_permutex2var_epi32(ra0, hi, ra1);
        out[2] = _mm512_permutex2var_epi32(rb0, lo, rb1), out[3] = _mm512_permutex2var_epi32(rb0, hi, rb1);
    }
    /* in[c] (c < 8): dword 8 b + p is part p of block 2 c + b -> out[p]: lane L is part p of block L */
    static inline void mlcc_q_transpose8(const __m512i *in, __m512i *out) {
        const __m512i a1 = _mm512_setr_epi32(0, 8, 16, 24, 1, 9, 17, 25, 2, 10, 18, 26, 3, 11, 19, 27);
        const __m512i b1 = _mm512_add_epi32(a1, _mm512_set1_epi32(4));
        const __m512i a2 = _mm512_setr_epi32(0, 1, 2, 3, 16, 17, 18, 19, 4, 5, 6, 7, 20, 21, 22, 23);
        const __m512i b2 = _mm512_add_epi32(a2, _mm512_set1_epi32(8));
        const __m512i lo = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23);
        const __m512i hi = _mm512_add_epi32(lo, _mm512_set1_epi32(8));
        __m512i l1[2][4];
        for (int j = 0; j < 4; j++)
            l1[0][j] = _mm512_permutex2var_epi32(in[2 * j], a1, in[2 * j + 1]), l1[1][j] = _mm512_permutex2var_epi32(in[2 * j], b1, in[2 * j + 1]);
        for (int h = 0; h < 2; h++) {
            __m512i ua0 = _mm512_permutex2var_epi32(l1[h][0], a2, l1[h][1]), ua1 = _mm512_permutex2var_epi32(l1[h][2], a2, l1[h][3]);
            __m512i ub0 = _mm512_permutex2var_epi32(l1[h][0], b2, l1[h][1]), ub1 = _mm512_permutex2var_epi32(l1[h][2], b2, l1[h][3]);
            out[4 * h + 0] = _mm512_permutex2var_epi32(ua0, lo, ua1), out[4 * h + 1] = _mm512_permutex2var_epi32(ua0, hi, ua1);
            out[4 * h + 2] = _mm512_permutex2var_epi32(ub0, lo, ub1), out[4 * h + 3] = _mm512_permutex2var_epi32(ub0, hi, ub1);
        }
    }
    )
    "#endif\n"
    "#if MLCC_Q_VNNI && defined(__AMX_INT8__) && defined(__AMX_TILE__) && defined(__AVX512VBMI__) && defined(__linux__)\n"
    "#define MLCC_Q_AMX 1\n#include <sys/syscall.h>\n#include <unistd.h>\n"
    MLCC_SRC(
    /* Whether to use the AMX tiles: only with MLCC_QUANT_AMX=1 (measured no faster than the VNNI
     * code with two threads: docs/quantization.md), and if Linux hands them out (on request, once
     * per process, for all its threads). */
    static int mlcc_q_amx_ok(void) {
        static int ok = -1;
        int v = __atomic_load_n(&ok, __ATOMIC_RELAXED);
        if (v < 0) {
            const char *on = getenv("MLCC_QUANT_AMX");
            v = on && on[0] == '1' && syscall(SYS_arch_prctl, 0x1023 /* ARCH_REQ_XCOMP_PERM */, 18 /* XTILEDATA */) == 0;
            __atomic_store_n(&ok, v, __ATOMIC_RELAXED);
        }
        return v;
    }
    /* The tiles of the 4-bit prefill, two sets (tmm0-2, tmm3-5): int32 results (16 x 16), 16
     * weight rows x 32 values, 16 activation rows of one block (8 rows of 16 x 4 values). */
    static void mlcc_q_amx_config(void) {
        /* static: gcc does not see ldtilecfg read its operand, and drops stores to a local one */
        static const struct { uint8_t palette, start, reserved[14]; uint16_t colsb[16]; uint8_t rows[16]; } c
            __attribute__((aligned(64))) = {1, 0, {0}, {64, 32, 64, 64, 32, 64}, {16, 16, 8, 16, 16, 8}};
        _tile_loadconfig(&c);
    }
    /* 16 x 16 dwords transposed in place: r[j] lane i = r[i] lane j before */
    static inline void mlcc_q_transpose16(__m512i *r) {
        __m512i t[16], u[16];
        for (int i = 0; i < 8; i++)
            t[2 * i] = _mm512_unpacklo_epi32(r[2 * i], r[2 * i + 1]), t[2 * i + 1] = _mm512_unpackhi_epi32(r[2 * i], r[2 * i + 1]);
        for (int i = 0; i < 4; i++) {
            u[4 * i] = _mm512_unpacklo_epi64(t[4 * i], t[4 * i + 2]), u[4 * i + 1] = _mm512_unpackhi_epi64(t[4 * i], t[4 * i + 2]);
            u[4 * i + 2] = _mm512_unpacklo_epi64(t[4 * i + 1], t[4 * i + 3]), u[4 * i + 3] = _mm512_unpackhi_epi64(t[4 * i + 1], t[4 * i + 3]);
        }
        /* u[4 i + j] 128-bit lane l: column 4 l + j of rows 4 i..4 i + 3 */
        for (int j = 0; j < 4; j++) {
            __m512i v0 = _mm512_shuffle_i32x4(u[j], u[4 + j], 0x44), v1 = _mm512_shuffle_i32x4(u[j], u[4 + j], 0xEE);
            __m512i v2 = _mm512_shuffle_i32x4(u[8 + j], u[12 + j], 0x44), v3 = _mm512_shuffle_i32x4(u[8 + j], u[12 + j], 0xEE);
            r[j] = _mm512_shuffle_i32x4(v0, v2, 0x88), r[4 + j] = _mm512_shuffle_i32x4(v0, v2, 0xDD);
            r[8 + j] = _mm512_shuffle_i32x4(v1, v3, 0x88), r[12 + j] = _mm512_shuffle_i32x4(v1, v3, 0xDD);
        }
    }
    )
    "#else\n#define MLCC_Q_AMX 0\n#endif\n"
    "#endif\n";

/* One instance over MLCC_QN (the function), MLCC_QBITS (4 or 8), MLCC_QZP (zero point),
 * MLCC_QST (the scale type) and MLCC_QI8 (1: int8 activations). */
static const char q_template[] =
    MLCC_SRC(
    /* Code q of value k of a packed row (the scalar definition). */
    static inline int MLCC_CAT(MLCC_QN, _code)(const uint32_t *row, int64_t k) {
        return (int)((row[k / (32 / MLCC_QBITS)] >> (MLCC_QBITS * (k % (32 / MLCC_QBITS)))) & ((1u << MLCC_QBITS) - 1));
    }
    )
    "#if !MLCC_Q_AVX512 || (MLCC_QI8 && !MLCC_Q_VNNI)\n"
    "#if MLCC_QI8\n"
    MLCC_SRC(
    /* The prepared activations (see MLCC_QN_pre): per row its int8 values (Kp) and scales. */
    static inline int64_t MLCC_CAT(MLCC_QN, _prep_bytes)(int64_t M, int64_t K) {
        int64_t Kp = mlcc_q_round_up(K, 32);
        return M * (Kp + Kp / 8);
    }
    static inline void MLCC_CAT(MLCC_QN, _prep_row)(void *P, const float *A, int64_t M, int64_t K, int64_t lda, int64_t m) {
        int64_t Kp = mlcc_q_round_up(K, 32);
        char *row = (char *)P + m * (Kp + Kp / 8);
        (void)M;
        mlcc_q_quantize_row(A + m * lda, K, Kp, (int8_t *)row, (float *)(row + Kp));
    }
    )
    "#if MLCC_QBITS == 4 && MLCC_Q_SDOT\n"
    MLCC_SRC(
    /* The integer sum of block b of a packed row against its int8 activations, ARM dotprod:
     * byte i of the block holds codes 2i (low nibble) and 2i + 1 (high), so the activations
     * are loaded deinterleaved (even, odd) and two SDOTs sum the products (exact: the same
     * int32 as the scalar loop; past K the activations are zero). A block reaching past the
     * row's bytes (RB) is read through a zeroed copy. */
    static inline int32_t MLCC_CAT(MLCC_QN, _sdot)(const uint32_t *row, const int8_t *q, int64_t b, int64_t RB) {
        const uint8_t *wb = (const uint8_t *)row + b * 16;
        uint8_t t[16];
        if ((b + 1) * 16 > RB) {
            memset(t, 0, sizeof t);
            memcpy(t, wb, (size_t)(RB - b * 16));
            wb = t;
        }
        const uint8x16_t raw = vld1q_u8(wb);
        const int8x16_t zp = vdupq_n_s8(MLCC_QZP);
        const int8x16_t lo = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(raw, vdupq_n_u8(15))), zp);
        const int8x16_t hi = vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(raw, 4)), zp);
        const int8x16x2_t a = vld2q_s8(q + b * 32);
        return vaddvq_s32(vdotq_s32(vdotq_s32(vdupq_n_s32(0), lo, a.val[0]), hi, a.val[1]));
    }
    )
    "#endif\n"
    MLCC_SRC(
    static __attribute__((unused)) void MLCC_CAT(MLCC_QN, _pre)(float *C, const float *A, const void *Pv, const void *QWv,
                                                                const void *Sv, int64_t M, int64_t N, int64_t K, int64_t ldc,
                                                                int64_t lda, int64_t ldq, int64_t lds, int64_t acc) {
        const uint32_t *QW = (const uint32_t *)QWv;
        const MLCC_QST *S = (const MLCC_QST *)Sv;
        int64_t Kp = mlcc_q_round_up(K, 32);
        (void)A, (void)lda;
        for (int64_t m = 0; m < M; m++) {
            const int8_t *q = (const int8_t *)Pv + m * (Kp + Kp / 8);
            const float *d = (const float *)(q + Kp);
            for (int64_t n = 0; n < N; n++) {
                float total = 0.0f;
                for (int64_t k0 = 0; k0 < Kp; k0 += MLCC_QKC) {
                    float part = 0.0f;
                    for (int64_t b = k0 / 32; b < (k0 + MLCC_QKC < Kp ? k0 + MLCC_QKC : Kp) / 32; b++) {
    )
    "#if MLCC_QBITS == 4 && MLCC_Q_SDOT\n"
    MLCC_SRC(
                        int32_t s = MLCC_CAT(MLCC_QN, _sdot)(QW + n * ldq, q, b, (K + 7) / 8 * 4);
    )
    "#else\n"
    MLCC_SRC(
                        int32_t s = 0;
                        for (int64_t k = b * 32; k < b * 32 + 32 && k < K; k++)
                            s += (MLCC_CAT(MLCC_QN, _code)(QW + n * ldq, k) - MLCC_QZP) * q[k];
    )
    "#endif\n"
    MLCC_SRC(
                        part += (float)s * (d[b] * (float)S[n * lds + b]);
                    }
                    total += part;
                }
                C[m * ldc + n] = acc ? C[m * ldc + n] + total : total;
            }
        }
    }
    )
    "#elif MLCC_Q_AVX2\n"
    MLCC_SRC(
    /* float path, AVX2 + FMA + F16C: the AVX-512 version's structure with 8 lanes. Each row is
     * first copied in the blocks' unpacking order (4 bits: a block's even values, then its odd
     * ones); a block of a column decodes into four vectors of scaled values. */
    enum { MLCC_CAT(MLCC_QN, _BPK) = MLCC_QKC / 32 };
    static inline __attribute__((always_inline)) void MLCC_CAT(MLCC_QN, _a2dec)(
        const uint32_t *QW, const MLCC_QST *S, int64_t b, int64_t RB, __m256 *w) {
        const int BB = 4 * MLCC_QBITS;
        const uint8_t *wb = (const uint8_t *)QW + b * BB;
        uint8_t t[32];
        if ((b + 1) * BB > RB) {
            memset(t, 0, sizeof t);
            memcpy(t, wb, (size_t)(RB - b * BB));
            wb = t;
        }
        __m128i v[4];
        if (MLCC_QBITS == 4) {
            __m128i raw = _mm_loadu_si128((const __m128i *)wb), nib = _mm_set1_epi8(0x0F);
            __m128i lo = _mm_and_si128(raw, nib), hi = _mm_and_si128(_mm_srli_epi16(raw, 4), nib);
            v[0] = lo, v[1] = _mm_srli_si128(lo, 8), v[2] = hi, v[3] = _mm_srli_si128(hi, 8);
        } else {
            __m128i r0 = _mm_loadu_si128((const __m128i *)wb), r1 = _mm_loadu_si128((const __m128i *)(wb + 16));
            v[0] = r0, v[1] = _mm_srli_si128(r0, 8), v[2] = r1, v[3] = _mm_srli_si128(r1, 8);
        }
        const __m256 s = _mm256_set1_ps((float)S[b]), zp = _mm256_set1_ps((float)MLCC_QZP);
        for (int i = 0; i < 4; i++) w[i] = _mm256_mul_ps(_mm256_sub_ps(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(v[i])), zp), s);
    }
    static inline float MLCC_CAT(MLCC_QN, _a2sum)(__m256 v) {
        __m128 x = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
        x = _mm_add_ps(x, _mm_movehl_ps(x, x));
        x = _mm_add_ss(x, _mm_movehdup_ps(x));
        return _mm_cvtss_f32(x);
    }
    static void MLCC_QN(float *C, const float *A, const void *QWv, const void *Sv, int64_t M, int64_t N, int64_t K,
                        int64_t ldc, int64_t lda, int64_t ldq, int64_t lds, int64_t acc) {
        const uint32_t *QW = (const uint32_t *)QWv;
        const MLCC_QST *S = (const MLCC_QST *)Sv;
        int64_t Kp = mlcc_q_round_up(K, 32), nb = Kp / 32;
        int64_t RB = (K + 32 / MLCC_QBITS - 1) / (32 / MLCC_QBITS) * 4;
        const int64_t BPK = MLCC_CAT(MLCC_QN, _BPK);
        float *Ap = (float *)aligned_alloc(64, sizeof(float) * (size_t)(M * Kp));
        float *pre = (float *)aligned_alloc(64, sizeof(float) * (size_t)(4 * BPK * 32));
        if (!Ap || !pre) abort();
        for (int64_t m = 0; m < M; m++)
            for (int64_t b = 0; b < nb; b++)
                for (int i = 0; i < 32; i++) {
                    int64_t k = b * 32 + (MLCC_QBITS == 4 ? (i < 16 ? 2 * i : 2 * (i - 16) + 1) : i);
                    Ap[m * Kp + b * 32 + i] = k < K ? A[m * lda + k] : 0.0f;
                }
        /* per reduction block and 4 columns: decode once, then every row (the same values and
         * order for any M, so a row alone gives the same result) */
        for (int64_t b0 = 0; b0 < nb; b0 += BPK) {
            int64_t b1 = b0 + BPK < nb ? b0 + BPK : nb;
            for (int64_t n = 0; n < N; n += 4) {
                int nr = N - n < 4 ? (int)(N - n) : 4;
                for (int j = 0; j < nr; j++)
                    for (int64_t b = b0; b < b1; b++) {
                        __m256 w[4];
                        MLCC_CAT(MLCC_QN, _a2dec)(QW + (n + j) * ldq, S + (n + j) * lds, b, RB, w);
                        for (int i = 0; i < 4; i++) _mm256_store_ps(pre + (j * BPK + (b - b0)) * 32 + 8 * i, w[i]);
                    }
                for (int64_t m = 0; m < M; m++) {
                    const float *ar = Ap + m * Kp;
                    for (int j = 0; j < nr; j++) {
                        __m256 t = _mm256_setzero_ps();
                        for (int64_t b = b0; b < b1; b++) {
                            const float *w = pre + (j * BPK + (b - b0)) * 32;
                            for (int i = 0; i < 4; i++)
                                t = _mm256_fmadd_ps(_mm256_loadu_ps(ar + b * 32 + 8 * i), _mm256_load_ps(w + 8 * i), t);
                        }
                        float v = MLCC_CAT(MLCC_QN, _a2sum)(t), *o = C + m * ldc + n + j;
                        if (b0) *o += v;
                        else *o = acc ? *o + v : v;
                    }
                }
            }
        }
        free(pre);
        free(Ap);
    }
    )
    "#else\n"
    MLCC_SRC(
    static void MLCC_QN(float *C, const float *A, const void *QWv, const void *Sv, int64_t M, int64_t N, int64_t K,
                        int64_t ldc, int64_t lda, int64_t ldq, int64_t lds, int64_t acc) {
        const uint32_t *QW = (const uint32_t *)QWv;
        const MLCC_QST *S = (const MLCC_QST *)Sv;
        for (int64_t m = 0; m < M; m++)
            for (int64_t n = 0; n < N; n++) {
                float total = 0.0f;
                for (int64_t k = 0; k < K; k++)
                    total += A[m * lda + k] *
                             ((float)(MLCC_CAT(MLCC_QN, _code)(QW + n * ldq, k) - MLCC_QZP) * (float)S[n * lds + k / 32]);
                C[m * ldc + n] = acc ? C[m * ldc + n] + total : total;
            }
    }
    )
    "#endif\n"
    "#elif MLCC_QI8\n"
    MLCC_SRC(
    /* int8 path, AVX-512 VNNI. The reduction runs in groups of 16 blocks (512 values): one
     * 32-bit lane per block, so a group's integer block sums fill one vector and are scaled
     * with one convert, one multiply and one FMA. Per row the prepared activations hold
     * bias[g] (16 int32: -zero_point * the block's activation sum) and sa[g] (16 floats: the
     * blocks' activation scales), and the int8 values in one of two orders:
     *   - decode (M == 1), "chunk order": per 64-byte weight chunk the activations its bytes
     *     meet (4 bits: the values of the low nibbles, then of the high), so a chunk is one
     *     load and, at 4 bits, two masks; its dot products land 4 (8 at 8 bits) lanes per
     *     block and mlcc_q_hsum4/8 add them into block order;
     *   - prefill (M > 1), "step order": 8 vectors per group, vector t holding in lane L the
     *     4 values of block L that step t of every block multiplies (mlcc_q_transpose4/8 of
     *     the chunk order), the weights decoded once per call into the same order, so a
     *     block's sum is 8 vpdpbusd into one lane and nothing is added across lanes.
     * Both orders give the same integer block sums, and the float steps (convert, scale, FMA
     * into the group lanes, in group order, then one reduction per MLCC_QKC8 values) are the
     * same, so a row's result does not depend on M. */
    typedef struct { int8_t *x; int32_t *bias; float *sa; } MLCC_CAT(MLCC_QN, _rows);
    enum { MLCC_CAT(MLCC_QN, _XB) = MLCC_QBITS == 4 ? 128 : 64 };  /* activations per chunk */
    enum { MLCC_CAT(MLCC_QN, _CPG) = MLCC_QBITS == 4 ? 4 : 8 };    /* chunks per group */
    enum { MLCC_CAT(MLCC_QN, _GPK) = MLCC_QKC8 / 512 };            /* groups per reduction block */
    /* Chunk c of one weight row (64 bytes), read through a zeroed copy past the row's RB bytes. */
    static inline __attribute__((always_inline)) __m512i MLCC_CAT(MLCC_QN, _chunk)(const uint32_t *QW, int64_t c, int64_t RB) {
        const uint8_t *wb = (const uint8_t *)QW + c * 64;
        if ((c + 1) * 64 <= RB) return _mm512_loadu_si512(wb);
        uint8_t t[64] = {0};
        if (RB > c * 64) memcpy(t, wb, (size_t)(RB - c * 64));
        return _mm512_loadu_si512(t);
    }
    /* The 16 weight scales of group g of a row as floats (zero past the row's NS scales). */
    static inline __attribute__((always_inline)) __m512 MLCC_CAT(MLCC_QN, _scales)(const MLCC_QST *S, int64_t g, int64_t NS) {
        const MLCC_QST *sp = S + g * 16;
        MLCC_QST st[16];
        if ((g + 1) * 16 > NS) {
            memset(st, 0, sizeof st);
            if (NS > g * 16) memcpy(st, sp, sizeof(MLCC_QST) * (size_t)(NS - g * 16));
            sp = st;
        }
        if (sizeof(MLCC_QST) == 2) return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)sp));
        return _mm512_loadu_ps((const float *)sp);
    }
    /* Group g of a weight row in step order (8 vectors) and its scales; for prefill. */
    static inline __attribute__((always_inline)) void MLCC_CAT(MLCC_QN, _wsteps)(const uint32_t *QW, const MLCC_QST *S, int64_t g,
                                                                                int64_t RB, int64_t NS, __m512i *w, __m512 *sw) {
        const int CPG = MLCC_CAT(MLCC_QN, _CPG);
        __m512i v[8];
        for (int i = 0; i < CPG; i++) v[i] = MLCC_CAT(MLCC_QN, _chunk)(QW, g * CPG + i, RB);
        if (MLCC_QBITS == 4) {
            const __m512i nib = _mm512_set1_epi8(0x0F);
            __m512i hi[4];
            for (int i = 0; i < 4; i++) hi[i] = _mm512_and_si512(_mm512_srli_epi16(v[i], 4), nib), v[i] = _mm512_and_si512(v[i], nib);
            mlcc_q_transpose4(v, w);
            mlcc_q_transpose4(hi, w + 4);
        } else {
            mlcc_q_transpose8(v, w);
        }
        *sw = MLCC_CAT(MLCC_QN, _scales)(S, g, NS);
    }
    /* Decode: group g of a row into tot (the lanes' running sums); wb: the group's CPG chunks,
     * sp: its 16 scales. Every chunk load prefetches `prefetch` bytes ahead (0: none). */
    static inline __attribute__((always_inline)) __m512 MLCC_CAT(MLCC_QN, _dgroup_at)(
        const MLCC_CAT(MLCC_QN, _rows) *P, const uint8_t *wb, const MLCC_QST *sp, int64_t g, int64_t prefetch, __m512 tot) {
        const int CPG = MLCC_CAT(MLCC_QN, _CPG), XB = MLCC_CAT(MLCC_QN, _XB);
        const __m512i nib = _mm512_set1_epi8(0x0F), zero = _mm512_setzero_si512();
        const int8_t *xa = P->x + g * CPG * XB;
        __m512i d[8], s;
        _Pragma("GCC unroll 8") for (int i = 0; i < CPG; i++) {
            if (prefetch) __builtin_prefetch(wb + 64 * i + prefetch, 0, MLCC_QDPF_LOCALITY);
            __m512i x = _mm512_loadu_si512(wb + 64 * i);
            if (MLCC_QBITS == 4) {
                d[i] = _mm512_dpbusd_epi32(zero, _mm512_and_si512(x, nib), _mm512_loadu_si512(xa + XB * i));
                d[i] = _mm512_dpbusd_epi32(d[i], _mm512_and_si512(_mm512_srli_epi16(x, 4), nib), _mm512_loadu_si512(xa + XB * i + 64));
            } else {
                d[i] = _mm512_dpbusd_epi32(zero, x, _mm512_loadu_si512(xa + XB * i));
            }
        }
        s = MLCC_QBITS == 4 ? mlcc_q_hsum4(d) : mlcc_q_hsum8(d);
        s = _mm512_add_epi32(s, _mm512_loadu_si512(P->bias + g * 16));
        /* the scales as far ahead in their own array (a group's 16 take 1/8 or 1/16 of its bytes) */
        if (prefetch) __builtin_prefetch((const char *)sp + prefetch / (CPG * 64 / (16 * (int64_t)sizeof(MLCC_QST))), 0, MLCC_QDPF_LOCALITY);
        __m512 sw = MLCC_CAT(MLCC_QN, _scales)(sp, 0, 16);
        return _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), _mm512_mul_ps(sw, _mm512_loadu_ps(P->sa + g * 16)), tot);
    }
    /* The same for a group that runs past the row's RB bytes or NS scales: through zeroed copies
     * (the rows' whole groups go straight to _dgroup_at, with no bounds checks in the loop). */
    static __attribute__((noinline)) __m512 MLCC_CAT(MLCC_QN, _dgroup_ragged)(
        const MLCC_CAT(MLCC_QN, _rows) *P, const uint32_t *QW, const MLCC_QST *S, int64_t g, int64_t RB, int64_t NS, __m512 tot) {
        const int64_t GB = MLCC_CAT(MLCC_QN, _CPG) * 64;
        uint8_t wb[512] __attribute__((aligned(64))) = {0};
        MLCC_QST sp[16] = {0};
        if (RB > g * GB) memcpy(wb, (const uint8_t *)QW + g * GB, (size_t)(RB - g * GB < GB ? RB - g * GB : GB));
        if (NS > g * 16) memcpy(sp, S + g * 16, sizeof(MLCC_QST) * (size_t)(NS - g * 16 < 16 ? NS - g * 16 : 16));
        return MLCC_CAT(MLCC_QN, _dgroup_at)(P, wb, sp, g, 0, tot);
    }
    /* The reduction of one MLCC_QKC8 block into C (the first block stores or accumulates). */
    static inline __attribute__((always_inline)) void MLCC_CAT(MLCC_QN, _store)(float *o, __m512 tot, int first, int64_t acc) {
        float v = _mm512_reduce_add_ps(tot);
        if (!first) *o += v;
        else *o = acc ? *o + v : v;
    }
    /* Prefill tile: mr rows x nr columns over groups g0..g1; pre holds the columns' groups in
     * step order (9 vectors per group: 8 steps, then the scales). */
    static inline __attribute__((always_inline)) void MLCC_CAT(MLCC_QN, _ptile)(
        float *C, const MLCC_CAT(MLCC_QN, _rows) *P, int64_t g0, int64_t g1, int64_t ldc, int first, int64_t acc,
        const __m512i *pre, int64_t pstride, const int mr, const int nr) {
        __m512 tot[MLCC_QMR][MLCC_QNC];
        _Pragma("GCC unroll 8") for (int r = 0; r < mr; r++) _Pragma("GCC unroll 8") for (int j = 0; j < nr; j++)
            tot[r][j] = _mm512_setzero_ps();
        for (int64_t g = g0; g < g1; g++) {
            __m512i s[MLCC_QMR][MLCC_QNC];
            _Pragma("GCC unroll 8") for (int r = 0; r < mr; r++) {
                __m512i b = _mm512_loadu_si512(P[r].bias + g * 16);
                _Pragma("GCC unroll 8") for (int j = 0; j < nr; j++) s[r][j] = b;
            }
            const __m512i *pg = pre + (g - g0) * 9;
            _Pragma("GCC unroll 8") for (int t = 0; t < 8; t++) {
                __m512i w[MLCC_QNC];
                _Pragma("GCC unroll 8") for (int j = 0; j < nr; j++) w[j] = _mm512_load_si512(pg + j * pstride + t);
                _Pragma("GCC unroll 8") for (int r = 0; r < mr; r++) {
                    __m512i a = _mm512_loadu_si512(P[r].x + (g * 8 + t) * 64);
                    _Pragma("GCC unroll 8") for (int j = 0; j < nr; j++) s[r][j] = _mm512_dpbusd_epi32(s[r][j], w[j], a);
                }
            }
            _Pragma("GCC unroll 8") for (int r = 0; r < mr; r++) {
                __m512 sa = _mm512_loadu_ps(P[r].sa + g * 16);
                _Pragma("GCC unroll 8") for (int j = 0; j < nr; j++)
                    tot[r][j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s[r][j]),
                                                _mm512_mul_ps(_mm512_castsi512_ps(pg[j * pstride + 8]), sa), tot[r][j]);
            }
        }
        _Pragma("GCC unroll 8") for (int r = 0; r < mr; r++) _Pragma("GCC unroll 8") for (int j = 0; j < nr; j++)
            MLCC_CAT(MLCC_QN, _store)(C + r * ldc + j, tot[r][j], first, acc);
    }
    /* Prepares row a (K values) into P (chunk order when decode, else step order): quantized
     * into P->x and P->sa, then each group reordered in place (read whole before written). */
    static void MLCC_CAT(MLCC_QN, _prep)(MLCC_CAT(MLCC_QN, _rows) *P, const float *a, int64_t K, int64_t Kp, int decode) {
        const int64_t NG = Kp / 512;
        const __m512i ones = _mm512_set1_epi8(1), zero = _mm512_setzero_si512(), nzp = _mm512_set1_epi32(-MLCC_QZP);
        mlcc_q_quantize_row(a, K, Kp, P->x, P->sa);
        for (int64_t g = 0; g < NG; g++) {
            const int8_t *qg = P->x + g * 512;
            __m512i v[8], sums[8];
            for (int i = 0; i < 8; i++)
                v[i] = _mm512_loadu_si512(qg + 64 * i), sums[i] = _mm512_dpbusd_epi32(zero, ones, v[i]);
            _mm512_storeu_si512(P->bias + g * 16, _mm512_mullo_epi32(mlcc_q_hsum8(sums), nzp));
            int8_t *x = P->x + g * 512;
            if (MLCC_QBITS == 8) {
                if (!decode) {
                    __m512i t[8];
                    mlcc_q_transpose8(v, t);
                    for (int i = 0; i < 8; i++) _mm512_storeu_si512(x + 64 * i, t[i]);
                }
                continue;
            }
            /* 4 bits: per 128-value chunk, the even values (low nibbles' partners), then the odd */
            __m512i lo[4], hi[4];
    )
    "#ifdef __AVX512VBMI__\n"
    MLCC_SRC(
            /* one two-table byte permute each (bytes 2 i, then 2 i + 1, of the 128) */
            const __m512i ev = _mm512_set_epi8(126, 124, 122, 120, 118, 116, 114, 112, 110, 108, 106, 104, 102, 100, 98, 96,
                                               94, 92, 90, 88, 86, 84, 82, 80, 78, 76, 74, 72, 70, 68, 66, 64, 62, 60, 58,
                                               56, 54, 52, 50, 48, 46, 44, 42, 40, 38, 36, 34, 32, 30, 28, 26, 24, 22, 20,
                                               18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
            const __m512i od = _mm512_add_epi8(ev, _mm512_set1_epi8(1));
            for (int c = 0; c < 4; c++)
                lo[c] = _mm512_permutex2var_epi8(v[2 * c], ev, v[2 * c + 1]), hi[c] = _mm512_permutex2var_epi8(v[2 * c], od, v[2 * c + 1]);
    )
    "#else\n"
    MLCC_SRC(
            for (int c = 0; c < 4; c++) {
                __m512i q0 = v[2 * c], q1 = v[2 * c + 1];
                lo[c] = _mm512_inserti64x4(_mm512_castsi256_si512(_mm512_cvtepi16_epi8(q0)), _mm512_cvtepi16_epi8(q1), 1);
                hi[c] = _mm512_inserti64x4(_mm512_castsi256_si512(_mm512_cvtepi16_epi8(_mm512_srai_epi16(q0, 8))),
                                           _mm512_cvtepi16_epi8(_mm512_srai_epi16(q1, 8)), 1);
            }
    )
    "#endif\n"
    MLCC_SRC(
            if (decode) {
                for (int c = 0; c < 4; c++) _mm512_storeu_si512(x + 128 * c, lo[c]), _mm512_storeu_si512(x + 128 * c + 64, hi[c]);
            } else {
                __m512i t[8];
                mlcc_q_transpose4(lo, t);
                mlcc_q_transpose4(hi, t + 4);
                for (int i = 0; i < 8; i++) _mm512_storeu_si512(x + 64 * i, t[i]);
            }
        }
    }
    )
    "#if MLCC_QBITS == 4 && MLCC_Q_AMX\n"
    MLCC_SRC(
    /* Prefill on the AMX tiles (4 bits, M >= 16; see mlcc_q_amx_ok). The same integer block sums
     * as above from tdpbssd, one 32-value block per instruction: tile A holds 16 weight rows'
     * signed values (code - zero point) of the block, evens then odds (the nibble order, no
     * transpose), tile B 16 activation rows' values of the block in the same order, laid out
     * in the tiles' 4-byte pairs (prepared once per call). The int32 results (16 weight rows x
     * 16 activation rows) are then scaled and added in the float steps of the other paths: per
     * (row, column) lane L = block % 16 of a group runs fma(sum, sw * sa, lane) in block order,
     * and the 16 lanes are added with _mm512_reduce_add_ps's tree per MLCC_QKC8 values; so a
     * row's result stays bitwise that of decode. */
    static void MLCC_CAT(MLCC_QN, _amx)(float *C, const float *A, const uint32_t *QW, const MLCC_QST *S, int64_t M,
                                        int64_t N, int64_t K, int64_t ldc, int64_t lda, int64_t ldq, int64_t lds,
                                        int64_t acc) {
        int64_t Kp = mlcc_q_round_up(K, 512), NB = Kp / 32, Mp = mlcc_q_round_up(M, 16);
        int64_t RB = (K + 7) / 8 * 4, NS = (K + 31) / 32;
        const int64_t BPK = MLCC_QKC8 / 32; /* blocks per reduction block */
        /* scratch: activations in tile order (Mp x Kp), their scales (Mp x NB, tile order), 16 rows
         * being quantized, a strip of 32 weight rows (32 x Kp) and its scales, two steps' int32
         * results (32 x 32), the 16 lanes of float sums of a 32 x 32 output tile */
        size_t bytes = (size_t)(Mp * Kp + Mp * NB * 4 + 16 * Kp + 16 * NB * 4 + 32 * Kp + 32 * NB * 4 + 3 * 1104 * 4 +
                                32 * 4 + 16 * 1024 * 4);
        char *mem = (char *)aligned_alloc(64, (size_t)mlcc_q_round_up((int64_t)bytes, 64));
        if (!mem) abort();
        int8_t *X = (int8_t *)mem;
        float *SA = (float *)(X + Mp * Kp);
        int8_t *rows = (int8_t *)(SA + Mp * NB);
        float *rd = (float *)(rows + 16 * Kp);
        int8_t *W = (int8_t *)(rd + 16 * NB);
        float *SW = (float *)(W + 32 * Kp);
        int32_t *ib = (int32_t *)(SW + 32 * NB);
        float *lanes = (float *)(ib + 3 * 1104 + 32); /* offsets that keep ib, lanes 4 KiB apart from each other (no false store forwarding) */
        /* activations: quantized (the one definition), each block into nibble order, then per
         * pair of blocks the 16 rows' 16 dwords transposed: dword r of row i -> row r of the
         * block's B tile, bytes 4 i.. */
        const __m512i perm = _mm512_set_epi8(63, 61, 59, 57, 55, 53, 51, 49, 47, 45, 43, 41, 39, 37, 35, 33, 62, 60, 58, 56,
                                             54, 52, 50, 48, 46, 44, 42, 40, 38, 36, 34, 32, 31, 29, 27, 25, 23, 21, 19, 17,
                                             15, 13, 11, 9, 7, 5, 3, 1, 30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4,
                                             2, 0);
        for (int64_t mt = 0; mt < Mp / 16; mt++) {
            for (int i = 0; i < 16; i++) {
                int64_t m = mt * 16 + i;
                int8_t *q = rows + i * Kp;
                if (m >= M) {
                    memset(q, 0, (size_t)Kp);
                    memset(rd + i * NB, 0, sizeof(float) * (size_t)NB);
                    continue;
                }
                mlcc_q_quantize_row(A + m * lda, K, Kp, q, rd + i * NB);
                for (int64_t k = 0; k < Kp; k += 64)
                    _mm512_storeu_si512(q + k, _mm512_permutexvar_epi8(perm, _mm512_loadu_si512(q + k)));
            }
            for (int64_t b = 0; b < NB; b += 2) {
                __m512i r[16];
                for (int i = 0; i < 16; i++) r[i] = _mm512_loadu_si512(rows + i * Kp + b * 32);
                mlcc_q_transpose16(r);
                for (int j = 0; j < 16; j++) _mm512_storeu_si512(X + (mt * NB + b) * 512 + 64 * j, r[j]);
            }
            for (int64_t b = 0; b < NB; b++)
                for (int i = 0; i < 16; i++) SA[(mt * NB + b) * 16 + i] = rd[i * NB + b];
        }
        mlcc_q_amx_config();
        const __m512i nib = _mm512_set1_epi8(0x0F), zp = _mm512_set1_epi8(MLCC_QZP);
        const __m512i e0 = _mm512_setr_epi64(0, 1, 8, 9, 2, 3, 10, 11), e1 = _mm512_setr_epi64(4, 5, 12, 13, 6, 7, 14, 15);
        for (int64_t n0 = 0; n0 < N; n0 += 32) {
            /* the strip's weights: per 64-byte chunk (4 blocks) low and high nibbles, each block
             * as its 16 low then 16 high values, minus the zero point; zero rows past N */
            for (int j = 0; j < 32; j++) {
                int64_t n = n0 + j;
                if (n >= N) {
                    for (int64_t b = 0; b < NB; b++) memset(W + ((j / 16) * NB + b) * 512 + (j % 16) * 32, 0, 32);
                    memset(SW + j * NB, 0, sizeof(float) * (size_t)NB);
                    continue;
                }
                for (int64_t c = 0; c < Kp / 128; c++) {
                    __m512i x = MLCC_CAT(MLCC_QN, _chunk)(QW + n * ldq, c, RB);
                    __m512i lo = _mm512_and_si512(x, nib), hi = _mm512_and_si512(_mm512_srli_epi16(x, 4), nib);
                    __m512i v0 = _mm512_sub_epi8(_mm512_permutex2var_epi64(lo, e0, hi), zp);
                    __m512i v1 = _mm512_sub_epi8(_mm512_permutex2var_epi64(lo, e1, hi), zp);
                    int8_t *wb = W + ((j / 16) * NB + 4 * c) * 512 + (j % 16) * 32;
                    _mm256_storeu_si256((__m256i *)wb, _mm512_castsi512_si256(v0));
                    _mm256_storeu_si256((__m256i *)(wb + 512), _mm512_extracti64x4_epi64(v0, 1));
                    _mm256_storeu_si256((__m256i *)(wb + 1024), _mm512_castsi512_si256(v1));
                    _mm256_storeu_si256((__m256i *)(wb + 1536), _mm512_extracti64x4_epi64(v1, 1));
                }
                for (int64_t b = 0; b < NB; b++) SW[j * NB + b] = b < NS ? (float)S[n * lds + b] : 0.0f;
            }
            /* per 16 activation rows and 16 weight rows: the blocks lane by lane (lane L: blocks
             * L, 16 + L, ... of the reduction block, so each lane's sums run in block order, in
             * 16 registers), each step's int32 tile stored and scaled one step later, while the
             * next step's product runs on the other set of tiles */
            for (int64_t mt = 0; mt < Mp / 16; mt++)
                for (int nh = 0; nh < 2 && n0 + 16 * nh < N; nh++) {
                    const int8_t *Xt = X + mt * NB * 512, *Wt = W + nh * NB * 512;
                    const float *SAt = SA + mt * NB * 16, *SWt = SW + 16 * nh * NB;
                    for (int64_t k0 = 0; k0 < NB; k0 += BPK) {
                        int64_t k1 = k0 + BPK < NB ? k0 + BPK : NB, G = (k1 - k0) / 16, steps = k1 - k0;
                        __m512 tot[16];
                        for (int64_t s = 0; s <= steps + 1; s++) {
                            /* step s's product, step s - 1's store, step s - 2's scaling */
                            int64_t b = k0 + 16 * (s % G) + s / G;
                            if (s < steps && s % 2 == 0) {
                                _tile_zero(0);
                                _tile_loadd(1, Wt + b * 512, 32);
                                _tile_loadd(2, Xt + b * 512, 64);
                                _tile_dpbssd(0, 1, 2);
                            } else if (s < steps) {
                                _tile_zero(3);
                                _tile_loadd(4, Wt + b * 512, 32);
                                _tile_loadd(5, Xt + b * 512, 64);
                                _tile_dpbssd(3, 4, 5);
                            }
                            if (s >= 1 && s - 1 < steps) {
                                if ((s - 1) % 2 == 0) _tile_stored(0, ib + ((s - 1) % 3) * 1104, 64);
                                else _tile_stored(3, ib + ((s - 1) % 3) * 1104, 64);
                            }
                            if (s >= 2) {
                                /* ib[n][m] (16 x 16) into its lane's sums */
                                int64_t q = s - 2, bq = k0 + 16 * (q % G) + q / G;
                                const int32_t *in = ib + (q % 3) * 1104;
                                __m512 sa = _mm512_loadu_ps(SAt + bq * 16);
                                if (q % G == 0)
                                    _Pragma("GCC unroll 16") for (int i = 0; i < 16; i++) tot[i] = _mm512_setzero_ps();
                                _Pragma("GCC unroll 16") for (int i = 0; i < 16; i++)
                                    tot[i] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_load_si512(in + 16 * i)),
                                                             _mm512_mul_ps(_mm512_set1_ps(SWt[i * NB + bq]), sa), tot[i]);
                                if (q % G == G - 1) {
                                    float *lane = lanes + (q / G) * 256;
                                    _Pragma("GCC unroll 16") for (int i = 0; i < 16; i++) _mm512_store_ps(lane + 16 * i, tot[i]);
                                }
                            }
                        }
                        /* _mm512_reduce_add_ps's order over the 16 lanes ((L, L + 8), then + 4, + 2, + 1),
                         * transposed back to rows of C */
                        __m512i r[16];
                        for (int i = 0; i < 16; i++) {
                            __m512 t[8];
                            for (int l = 0; l < 8; l++) t[l] = _mm512_add_ps(_mm512_load_ps(lanes + (l + 8) * 256 + 16 * i), _mm512_load_ps(lanes + l * 256 + 16 * i));
                            for (int l = 0; l < 4; l++) t[l] = _mm512_add_ps(t[l + 4], t[l]);
                            for (int l = 0; l < 2; l++) t[l] = _mm512_add_ps(t[l], t[l + 2]);
                            r[i] = _mm512_castps_si512(_mm512_add_ps(t[0], t[1]));
                        }
                        mlcc_q_transpose16(r);
                        int64_t nn = N - n0 - 16 * nh;
                        __mmask16 mk = nn >= 16 ? 0xFFFF : (__mmask16)((1u << nn) - 1);
                        for (int j = 0; j < 16 && mt * 16 + j < M; j++) {
                            float *out = C + (mt * 16 + j) * ldc + n0 + 16 * nh;
                            __m512 v = _mm512_castsi512_ps(r[j]);
                            if (k0 || acc) v = _mm512_add_ps(_mm512_maskz_loadu_ps(mk, out), v);
                            _mm512_mask_storeu_ps(out, mk, v);
                        }
                    }
                }
        }
        _tile_release();
        free(mem);
    }
    static inline int MLCC_CAT(MLCC_QN, _amx_ok)(int64_t M) { return M >= 16 && mlcc_q_amx_ok(); }
    )
    "#else\n"
    MLCC_SRC(
    static inline void MLCC_CAT(MLCC_QN, _amx)(float *C, const float *A, const uint32_t *QW, const MLCC_QST *S, int64_t M,
                                               int64_t N, int64_t K, int64_t ldc, int64_t lda, int64_t ldq, int64_t lds,
                                               int64_t acc) {
        (void)C, (void)A, (void)QW, (void)S, (void)M, (void)N, (void)K, (void)ldc, (void)lda, (void)ldq, (void)lds, (void)acc;
    }
    static inline int MLCC_CAT(MLCC_QN, _amx_ok)(int64_t M) { (void)M; return 0; }
    )
    "#endif\n"
    MLCC_SRC(
    /* The prepared activations (MLCC_QN_pre reads them): per row bias (NG x 16 int32), sa
     * (NG x 16 floats) and x (Kp int8) as _prep lays them out. */
    static inline int64_t MLCC_CAT(MLCC_QN, _prep_bytes)(int64_t M, int64_t K) {
        int64_t Kp = mlcc_q_round_up(K, 512);
        return M * (Kp + Kp / 512 * 128);
    }
    static inline MLCC_CAT(MLCC_QN, _rows) MLCC_CAT(MLCC_QN, _row_at)(const void *P, int64_t K, int64_t m) {
        int64_t Kp = mlcc_q_round_up(K, 512), NG = Kp / 512;
        char *base = (char *)P + m * (Kp + NG * 128);
        MLCC_CAT(MLCC_QN, _rows) r = {(int8_t *)(base + NG * 128), (int32_t *)base, (float *)(base + NG * 64)};
        return r;
    }
    static inline void MLCC_CAT(MLCC_QN, _prep_row)(void *P, const float *A, int64_t M, int64_t K, int64_t lda, int64_t m) {
        MLCC_CAT(MLCC_QN, _rows) r = MLCC_CAT(MLCC_QN, _row_at)(P, K, m);
        MLCC_CAT(MLCC_QN, _prep)(&r, A + m * lda, K, mlcc_q_round_up(K, 512), M == 1);
    }
    /* The GEMM on activations prepared by _prep_row (A itself only for the AMX tiles, which lay
     * out their own). */
    static __attribute__((unused)) void MLCC_CAT(MLCC_QN, _pre)(float *C, const float *A, const void *Pv, const void *QWv,
                                                                const void *Sv, int64_t M, int64_t N, int64_t K, int64_t ldc,
                                                                int64_t lda, int64_t ldq, int64_t lds, int64_t acc) {
        const uint32_t *QW = (const uint32_t *)QWv;
        const MLCC_QST *S = (const MLCC_QST *)Sv;
        int64_t Kp = mlcc_q_round_up(K, 512), NG = Kp / 512;
        if (MLCC_CAT(MLCC_QN, _amx_ok)(M)) {
            MLCC_CAT(MLCC_QN, _amx)(C, A, QW, S, M, N, K, ldc, lda, ldq, lds, acc);
            return;
        }
        int64_t RB = (K + 32 / MLCC_QBITS - 1) / (32 / MLCC_QBITS) * 4, NS = (K + 31) / 32;
        const int64_t GPK = MLCC_CAT(MLCC_QN, _GPK);
        MLCC_CAT(MLCC_QN, _rows) *P = (MLCC_CAT(MLCC_QN, _rows) *)malloc(sizeof(*P) * (size_t)M);
        if (!P) abort();
        for (int64_t m = 0; m < M; m++) P[m] = MLCC_CAT(MLCC_QN, _row_at)(Pv, K, m);
        /* Prefill: per reduction block and MLCC_QNC columns, their weights decoded once into
         * step order, then every tile of MLCC_QMR rows. */
        __m512i pre[MLCC_QNC * 9 * MLCC_CAT(MLCC_QN, _GPK)] __attribute__((aligned(64)));
        const int64_t ps = 9 * GPK;
        for (int64_t g0 = 0; M > 1 && g0 < NG; g0 += GPK) {
            int64_t g1 = g0 + GPK < NG ? g0 + GPK : NG;
            for (int64_t n = 0; n < N; n += MLCC_QNC) {
                int nr = N - n < MLCC_QNC ? (int)(N - n) : MLCC_QNC;
                for (int j = 0; j < nr; j++)
                    for (int64_t g = g0; g < g1; g++) {
                        __m512i *w = pre + j * ps + (g - g0) * 9;
                        __m512 sw;
                        MLCC_CAT(MLCC_QN, _wsteps)(QW + (n + j) * ldq, S + (n + j) * lds, g, RB, NS, w, &sw);
                        w[8] = _mm512_castps_si512(sw);
                    }
                int64_t m = 0;
                float *Cn = C + n;
                if (nr == MLCC_QNC) {
                    for (; m + MLCC_QMR <= M; m += MLCC_QMR)
                        MLCC_CAT(MLCC_QN, _ptile)(Cn + m * ldc, P + m, g0, g1, ldc, g0 == 0, acc, pre, ps, MLCC_QMR, MLCC_QNC);
                    for (; m < M; m++) MLCC_CAT(MLCC_QN, _ptile)(Cn + m * ldc, P + m, g0, g1, ldc, g0 == 0, acc, pre, ps, 1, MLCC_QNC);
                } else {
                    for (int j = 0; j < nr; j++) {
                        for (m = 0; m + MLCC_QMR <= M; m += MLCC_QMR)
                            MLCC_CAT(MLCC_QN, _ptile)(Cn + m * ldc + j, P + m, g0, g1, ldc, g0 == 0, acc, pre + j * ps, ps, MLCC_QMR, 1);
                        for (; m < M; m++)
                            MLCC_CAT(MLCC_QN, _ptile)(Cn + m * ldc + j, P + m, g0, g1, ldc, g0 == 0, acc, pre + j * ps, ps, 1, 1);
                    }
                }
            }
        }
        /* Decode (one row): the weight rows are read one after the other, each front to back
         * (a reduction block at a time: the same block sums, added in the same order, as the
         * prefill loop above). (Interleaving a tile's rows chunk by chunk streamed ~10% slower.)
         * Every chunk load prefetches MLCC_QDPF_BYTES ahead into L1 (prefetcht0), and every group
         * its scales as far ahead: on the 2-core EPYC VM a stream with this much arithmetic per
         * byte barely overlaps its memory reads with the work unless told what comes next, and
         * 8 KiB into L1 beat prefetcht1 (into L2), 4 or 16-64 KiB, and rows-relative distances
         * (BENCHMARKS.md, thirty-second session). */
        /* the groups that lie whole inside every row, GB bytes each */
        const int64_t GB = MLCC_CAT(MLCC_QN, _CPG) * 64, whole = RB / GB < NS / 16 ? RB / GB : NS / 16;
        for (int64_t n = 0; M == 1 && n < N;) {
            int nr = n + MLCC_QNR <= N ? MLCC_QNR : 1;
            int64_t pf = nr == MLCC_QNR ? MLCC_QDPF_BYTES : 0;
            for (int64_t g0 = 0; g0 < NG; g0 += GPK) {
                int64_t g1 = g0 + GPK < NG ? g0 + GPK : NG;
                __m512 tot[MLCC_QNR];
                for (int j = 0; j < nr; j++) tot[j] = _mm512_setzero_ps();
                for (int j = 0; j < nr; j++) {
                    const uint32_t *QWj = QW + (n + j) * ldq;
                    const MLCC_QST *Sj = S + (n + j) * lds;
                    const uint8_t *wj = (const uint8_t *)QWj;
                    int64_t g = g0, gw = g1 < whole ? g1 : whole;
                    /* the prefetch as a constant where it is 0, so that loop has no prefetch test */
                    if (pf)
                        for (; g < gw; g++) tot[j] = MLCC_CAT(MLCC_QN, _dgroup_at)(P, wj + g * GB, Sj + g * 16, g, pf, tot[j]);
                    else
                        for (; g < gw; g++) tot[j] = MLCC_CAT(MLCC_QN, _dgroup_at)(P, wj + g * GB, Sj + g * 16, g, 0, tot[j]);
                    for (; g < g1; g++) tot[j] = MLCC_CAT(MLCC_QN, _dgroup_ragged)(P, QWj, Sj, g, RB, NS, tot[j]);
                }
                for (int j = 0; j < nr; j++) MLCC_CAT(MLCC_QN, _store)(C + n + j, tot[j], g0 == 0, acc);
            }
            n += nr;
        }
        free(P);
    }
    )
    "#else\n"
    MLCC_SRC(
    enum { MLCC_CAT(MLCC_QN, _BPK) = MLCC_QKC / 32 }; /* blocks per reduction block */
    /* Block b of one weight row as two vectors of scaled values (w0: the block's even values at
     * 4 bits, its first 16 at 8; w1: the rest); a ragged last block is read through a zeroed copy. */
    static inline __attribute__((always_inline)) void MLCC_CAT(MLCC_QN, _fdec)(
        const uint32_t *QW, const MLCC_QST *S, int64_t b, int64_t RB, int64_t prefetch, __m512 *w0, __m512 *w1) {
        const int BB = 4 * MLCC_QBITS; /* bytes per 32-value block */
        const __m512 table = _mm512_setr_ps(0 - MLCC_QZP, 1 - MLCC_QZP, 2 - MLCC_QZP, 3 - MLCC_QZP, 4 - MLCC_QZP,
                                            5 - MLCC_QZP, 6 - MLCC_QZP, 7 - MLCC_QZP, 8 - MLCC_QZP, 9 - MLCC_QZP,
                                            10 - MLCC_QZP, 11 - MLCC_QZP, 12 - MLCC_QZP, 13 - MLCC_QZP, 14 - MLCC_QZP,
                                            15 - MLCC_QZP);
        const __m512 zp = _mm512_set1_ps((float)MLCC_QZP);
        const uint8_t *wb = (const uint8_t *)QW + b * BB;
        uint8_t t[32];
        if ((b + 1) * BB > RB) {
            memset(t, 0, sizeof t);
            memcpy(t, wb, (size_t)(RB - b * BB));
            wb = t;
        } else if (prefetch && (b * BB) % 64 == 0) {
            __builtin_prefetch(wb + prefetch, 0, MLCC_QPF_LOCALITY);
        }
        __m512 s = _mm512_set1_ps((float)S[b]);
        if (MLCC_QBITS == 4) {
            __m512i dw = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)wb));
            *w0 = _mm512_mul_ps(_mm512_permutexvar_ps(dw, table), s);
            *w1 = _mm512_mul_ps(_mm512_permutexvar_ps(_mm512_srli_epi32(dw, 4), table), s);
        } else {
            *w0 = _mm512_mul_ps(_mm512_sub_ps(_mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)wb))), zp), s);
            *w1 = _mm512_mul_ps(_mm512_sub_ps(_mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(wb + 16)))), zp), s);
        }
    }
    /* float path, AVX-512. The prepared activations hold each row in the blocks' unpacking
     * order (zero past K): 32 floats per block. pre: the columns' blocks already decoded. */
    static inline __attribute__((always_inline)) void MLCC_CAT(MLCC_QN, _ftile)(
        float *C, const float *Ap, int64_t ldap, const uint32_t *QW, const MLCC_QST *S, int64_t b0, int64_t b1,
        int64_t ldc, int64_t ldq, int64_t lds, int64_t RB, int first, int64_t acc, const float *pre, const int mr,
        const int nr) {
        __m512 tot[4][8];
        _Pragma("GCC unroll 4") for (int r = 0; r < mr; r++) _Pragma("GCC unroll 8") for (int j = 0; j < nr; j++)
            tot[r][j] = _mm512_setzero_ps();
        for (int64_t b = b0; b < b1; b++) {
            _Pragma("GCC unroll 8") for (int j = 0; j < nr; j++) {
                __m512 w0, w1;
                if (pre) {
                    const float *w = pre + (j * MLCC_CAT(MLCC_QN, _BPK) + (b - b0)) * 32;
                    w0 = _mm512_load_ps(w), w1 = _mm512_load_ps(w + 16);
                } else {
                    MLCC_CAT(MLCC_QN, _fdec)(QW + j * ldq, S + j * lds, b, RB, mr == 1 ? MLCC_QPF * nr * ldq * 4 : 0, &w0, &w1);
                }
                _Pragma("GCC unroll 4") for (int r = 0; r < mr; r++) {
                    tot[r][j] = _mm512_fmadd_ps(_mm512_loadu_ps(Ap + r * ldap + b * 32), w0, tot[r][j]);
                    tot[r][j] = _mm512_fmadd_ps(_mm512_loadu_ps(Ap + r * ldap + b * 32 + 16), w1, tot[r][j]);
                }
            }
        }
        _Pragma("GCC unroll 4") for (int r = 0; r < mr; r++) _Pragma("GCC unroll 8") for (int j = 0; j < nr; j++) {
            float v = _mm512_reduce_add_ps(tot[r][j]);
            float *o = C + r * ldc + j;
            if (!first) *o += v;
            else *o = acc ? *o + v : v;
        }
    }
    static void MLCC_QN(float *C, const float *A, const void *QWv, const void *Sv, int64_t M, int64_t N, int64_t K,
                        int64_t ldc, int64_t lda, int64_t ldq, int64_t lds, int64_t acc) {
        const uint32_t *QW = (const uint32_t *)QWv;
        const MLCC_QST *S = (const MLCC_QST *)Sv;
        int64_t Kp = mlcc_q_round_up(K, 32), nb = Kp / 32;
        int64_t RB = (K + 32 / MLCC_QBITS - 1) / (32 / MLCC_QBITS) * 4;
        float *Ap = (float *)aligned_alloc(64, sizeof(float) * (size_t)(M * Kp));
        if (!Ap) abort();
        for (int64_t m = 0; m < M; m++)
            for (int64_t b = 0; b < nb; b++)
                for (int i = 0; i < 32; i++) {
                    int64_t k = b * 32 + (MLCC_QBITS == 4 ? (i < 16 ? 2 * i : 2 * (i - 16) + 1) : i);
                    Ap[m * Kp + b * 32 + i] = k < K ? A[m * lda + k] : 0.0f;
                }
        const int64_t BPK = MLCC_CAT(MLCC_QN, _BPK);
        /* prefill: 4 columns' weights over one reduction block, decoded once for all rows */
        float pre[4 * MLCC_CAT(MLCC_QN, _BPK) * 32] __attribute__((aligned(64)));
        for (int64_t b0 = 0; b0 < nb; b0 += BPK) {
            int64_t b1 = b0 + BPK < nb ? b0 + BPK : nb;
            int first = b0 == 0;
            int64_t n = 0;
            if (M == 1) break; /* decode: below, row by row */
            for (; n < N; n += 4) {
                int nr = N - n < 4 ? (int)(N - n) : 4;
                for (int j = 0; j < nr; j++)
                    for (int64_t b = b0; b < b1; b++) {
                        __m512 w0, w1;
                        float *w = pre + (j * BPK + (b - b0)) * 32;
                        MLCC_CAT(MLCC_QN, _fdec)(QW + (n + j) * ldq, S + (n + j) * lds, b, RB, 0, &w0, &w1);
                        _mm512_store_ps(w, w0), _mm512_store_ps(w + 16, w1);
                    }
                int64_t m = 0;
                if (nr == 4) {
                    for (; m + 4 <= M; m += 4)
                        MLCC_CAT(MLCC_QN, _ftile)(C + m * ldc + n, Ap + m * Kp, Kp, QW, S, b0, b1, ldc, ldq, lds, RB, first, acc, pre, 4, 4);
                    for (; m < M; m++)
                        MLCC_CAT(MLCC_QN, _ftile)(C + m * ldc + n, Ap + m * Kp, Kp, QW, S, b0, b1, ldc, ldq, lds, RB, first, acc, pre, 1, 4);
                } else {
                    for (int j = 0; j < nr; j++)
                        for (m = 0; m < M; m++)
                            MLCC_CAT(MLCC_QN, _ftile)(C + m * ldc + n + j, Ap + m * Kp, Kp, QW, S, b0, b1, ldc, ldq, lds, RB, first, acc, pre + j * BPK * 32, 1, 1);
                }
            }
        }
        /* Decode: a tile of 8 weight rows through all its reduction blocks, prefetching the next
         * tile's rows (as the int8 path does: same sums in the same order as above). */
        for (int64_t n = 0; M == 1 && n < N;) {
            int full = n + 8 <= N;
            for (int64_t b0 = 0; b0 < nb; b0 += BPK) {
                int64_t b1 = b0 + BPK < nb ? b0 + BPK : nb;
                if (full)
                    MLCC_CAT(MLCC_QN, _ftile)(C + n, Ap, Kp, QW + n * ldq, S + n * lds, b0, b1, ldc, ldq, lds, RB, b0 == 0, acc, 0, 1, 8);
                else
                    MLCC_CAT(MLCC_QN, _ftile)(C + n, Ap, Kp, QW + n * ldq, S + n * lds, b0, b1, ldc, ldq, lds, RB, b0 == 0, acc, 0, 1, 1);
            }
            n += full ? 8 : 1;
        }
        free(Ap);
    }
    )
    "#endif\n"
    "#if MLCC_QI8\n"
    MLCC_SRC(
    /* int8 path: the activations prepared (quantized) once, then the GEMM. A parallel loop of
     * calls on the same rows (the default schedule's column tiles) can share one prepared copy:
     * the code generator calls _prep_row for each row before the loop and _pre in it
     * (transform/lower_quant_prep.c). */
    static void MLCC_QN(float *C, const float *A, const void *QWv, const void *Sv, int64_t M, int64_t N, int64_t K,
                        int64_t ldc, int64_t lda, int64_t ldq, int64_t lds, int64_t acc) {
        if (M <= 0) return;
        void *P = aligned_alloc(64, (size_t)mlcc_q_round_up(MLCC_CAT(MLCC_QN, _prep_bytes)(M, K), 64));
        if (!P) abort();
        for (int64_t m = 0; m < M; m++) MLCC_CAT(MLCC_QN, _prep_row)(P, A, M, K, lda, m);
        MLCC_CAT(MLCC_QN, _pre)(C, A, P, QWv, Sv, M, N, K, ldc, lda, ldq, lds, acc);
        free(P);
    }
    )
    "#endif\n";

typedef struct q_variant {
    int bits, zero_point, f32_scale, int8_act;
} q_variant;

/* The layouts the schemes use (quant/scheme.c), each with both activation paths. */
static const q_variant variants[] = {
    {4, 7, 0, 0}, {4, 7, 0, 1},     /* q4f16_1 */
    {4, 7, 1, 0}, {4, 7, 1, 1},     /* q4f32_1 */
    {4, 8, 0, 0}, {4, 8, 0, 1},     /* ggml_q4_0 */
    {8, 127, 0, 0}, {8, 127, 0, 1}, /* q8f16_1 */
    {8, 128, 0, 0}, {8, 128, 0, 1}, /* ggml_q8_0 */
};
enum { NVARIANTS = sizeof variants / sizeof variants[0] };

static char names[NVARIANTS][64];
static char *sources[NVARIANTS];
static cpu_intrin intrins[NVARIANTS];
enum { MAX_OTHER = 16 }; /* room for other files' GEMM_NT_Q intrinsics (gemm_awq.c) */
static const cpu_intrin *list[NVARIANTS + MAX_OTHER + 1];

static void fill(void) {
    for (int i = 0; i < NVARIANTS; i++) {
        const q_variant *v = &variants[i];
        snprintf(names[i], sizeof names[i], "mlcc_k_gemm_nt_q%dz%d_%s_%s", v->bits, v->zero_point,
                 v->f32_scale ? "f32" : "f16", v->int8_act ? "a8" : "a32");
        size_t n = sizeof q_common + sizeof q_template + 1024;
        char *s = malloc(n);
        snprintf(s, n, "%s#define MLCC_QN %s\n#define MLCC_QBITS %d\n#define MLCC_QZP %d\n#define MLCC_QST %s\n"
                 "#define MLCC_QI8 %d\n%s#undef MLCC_QN\n#undef MLCC_QBITS\n#undef MLCC_QZP\n#undef MLCC_QST\n"
                 "#undef MLCC_QI8\n", q_common, names[i], v->bits, v->zero_point, v->f32_scale ? "float" : "_Float16",
                 v->int8_act, q_template);
        sources[i] = s;
        intrins[i] = (cpu_intrin){names[i], CPU_INTRIN_GEMM_NT_Q, {DT_FLOAT, 32, 1}, {DT_UINT, 32, 1},
                                  {DT_FLOAT, 32, 1}, s, v->bits, v->zero_point,
                                  v->f32_scale ? (mlcc_dtype){DT_FLOAT, 32, 1} : (mlcc_dtype){DT_FLOAT, 16, 1},
                                  v->int8_act, 0, 0};
        list[i] = &intrins[i];
    }
    int n = NVARIANTS;
    const cpu_intrin *const *awq = cpu_intrin_awq_list();
    for (int i = 0; awq[i] && n < NVARIANTS + MAX_OTHER; i++) list[n++] = awq[i];
    list[n] = NULL;
}

const cpu_intrin *const *cpu_intrin_quant_list(void) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, fill);
    return list;
}

const cpu_intrin *cpu_intrin_gemm_nt_q(int bits, int zero_point, mlcc_dtype scale, int int8_act) {
    const cpu_intrin *const *l = cpu_intrin_quant_list();
    for (int i = 0; l[i]; i++)
        if (l[i]->bits == bits && l[i]->zero_point == zero_point && dtype_eq(l[i]->scale, scale) &&
            l[i]->int8_act == int8_act)
            return l[i];
    return NULL;
}

static const char *const companion_suffix[] = {"_prep_bytes", "_prep_row", "_pre"};

/* The GEMM_NT_Q and GEMM_NT_QK (gemm_qk.c) int8 instances both define the companions. */
const cpu_intrin *cpu_intrin_quant_companion(const char *name, cpu_qprep_kind *kind) {
    for (int list = 0; list < 2; list++) {
        const cpu_intrin *const *l = list ? cpu_intrin_kquant_list() : cpu_intrin_quant_list();
        for (int i = 0; l[i]; i++) {
            size_t n = strlen(l[i]->name);
            if (!l[i]->int8_act || strncmp(name, l[i]->name, n)) continue;
            for (int k = 0; k < 3; k++)
                if (!strcmp(name + n, companion_suffix[k])) {
                    if (kind) *kind = (cpu_qprep_kind)k;
                    return l[i];
                }
        }
    }
    return NULL;
}

const char *cpu_intrin_quant_companion_name(const cpu_intrin *q, cpu_qprep_kind kind, char *buf, size_t size) {
    snprintf(buf, size, "%s%s", q->name, companion_suffix[kind]);
    return buf;
}
