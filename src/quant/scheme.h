/* scheme.h - weight quantization schemes, named as MLC LLM names them (docs/quantization.md
 * gives each layout bit by bit):
 *
 *   q0f32, q0f16, q0bf16   no quantization: weights stored as float32 / float16 / bfloat16
 *   q4f16_1, q4f32_1       4-bit symmetric, groups of 32 along the input dimension, 8 values
 *                          per uint32 (value k of a word in bits 4k..4k+3), one float16 /
 *                          float32 scale per group: w = (q - 7) * scale, q in 0..14
 *   q8f16_1                8-bit symmetric, groups of 32, 4 values per uint32, float16 scales:
 *                          w = (q - 127) * scale, q in 0..254
 *   ggml_q4_0, ggml_q8_0   the same packing with zero points 8 and 128: llama.cpp's Q4_0
 *                          (w = (q - 8) d, q in 0..15) and Q8_0 (w = q d, q in -128..127)
 *                          blocks of 32 repacked exactly, so GGUF files run without requantizing
 *   q4f16_awq              4-bit asymmetric, groups of 128, the same 8 values per uint32, and
 *                          per group a float16 scale and a zero point (0..15, stored as float16
 *                          beside the scale): w = (q - zero) * scale, q in 0..15. AutoAWQ's
 *                          GEMM checkpoints (qweight / qzeros / scales) repack into it exactly
 *                          (quant/awq.h); q4f16_awq_g64 / _g32 are the same with groups of 64 /
 *                          32. Only decoder-layer matrices are quantized: the embedding and the
 *                          LM head stay float16, as AutoAWQ leaves them.
 *   ggml_q4_k, ggml_q5_k, ggml_q6_k
 *                          llama.cpp's k-quant super-blocks of 256 kept as they are, split in two:
 *                          each block's float16 d (Q4_K, Q5_K: d and dmin) goes to q_scale, the
 *                          rest of its bytes (Q4_K: scales[12] qs[128], 35 words; Q5_K:
 *                          scales[12] qh[32] qs[128], 43 words; Q6_K: ql[128] qh[64]
 *                          scales[16], 52 words) to q_weight, in ggml's byte order;
 *                          group_size is the super-block (256), bits the code width
 *   ggml_mixed             every matrix of a GGUF file as its tensor stores it (per matrix one of
 *                          the schemes above, or q0f16 / q0f32): Q4_K_M files mix Q4_K and Q6_K,
 *                          Q5_K_M files Q5_K and Q6_K
 *
 * A weight [out, in] becomes q_weight uint32 [out, ceil(in * bits / 32)] and q_scale
 * [out, ceil(in / group)] (the tail of a row past `in` is zero); with per-group zero points
 * (group_zero) q_scale is [out, 2 * ceil(in / group)]: (scale, zero) for each group. Activations and the
 * computation stay float32; the dequantize op turns the pair back into float32 [out, in]
 * inside the consumer's kernel. This file is also the CPU reference of the layout (the
 * converter and the loader quantize through it). */
#ifndef MLCC_QUANT_SCHEME_H
#define MLCC_QUANT_SCHEME_H

#include <stdint.h>

#include "ir/dtype.h"

typedef struct mlcc_quant_scheme {
    const char *name;
    int bits;               /* 4 or 8; 0: not quantized */
    int group_size;         /* values per scale */
    mlcc_dtype weight_dtype; /* bits 0: the storage type of the weights; else uint32 */
    mlcc_dtype scale_dtype;  /* float16 or float32 (bits > 0) */
    int zero_point;          /* w = (q - zero_point) * scale */
    uint32_t ggml_type;      /* the GGUF block type these bits repack from exactly (0: none) */
    int group_zero;          /* 1: each group has its own zero point, stored after its scale in
                              * q_scale (zero_point unused); only decoder-layer matrices are
                              * quantized, the embedding and LM head are float16 (AWQ) */
} mlcc_quant_scheme;

/* The scheme named `name` (NULL: q0f32). NULL + error listing the known names when unknown. */
const mlcc_quant_scheme *quant_scheme_find(const char *name);
/* Names of every scheme, comma separated, for messages. */
const char *quant_scheme_names(void);

/* Whether s keeps k-quant super-blocks (ggml_q4_k, _q5_k, _q6_k); whether it is ggml_mixed. */
int quant_is_kquant(const mlcc_quant_scheme *s);
int quant_is_mixed(const mlcc_quant_scheme *s);
/* Per super-block of ggml type Q4_K / Q5_K / Q6_K: the uint32 words of q_weight (35, 43, 52)
 * and the float16 values of q_scale (2: d, dmin; 1: d). 0 words for other types. */
int quant_kquant_words(uint32_t ggml_type);
int quant_kquant_halves(uint32_t ggml_type);

/* Values per uint32 word (32 / bits). */
static inline int quant_per_word(const mlcc_quant_scheme *s) { return 32 / s->bits; }
/* The largest magnitude quantizing gives: 2^(bits-1) - 1 (7 or 127). */
static inline int quant_max_int(const mlcc_quant_scheme *s) { return (1 << (s->bits - 1)) - 1; }
/* Words of a packed row of `in` values, and q_scale elements of a row (scales, and zero points
 * for group_zero schemes). */
int64_t quant_packed_cols(const mlcc_quant_scheme *s, int64_t in);
int64_t quant_scale_cols(const mlcc_quant_scheme *s, int64_t in);

/* Quantizes rows x in float32 into packed[rows, packed_cols] and scales[rows, scale_cols]
 * (float16 stored as uint16, or float32, per the scheme). Deterministic. group_zero schemes
 * round to nearest with AutoAWQ's min-max zero point (docs/quantization.md), not AWQ's
 * activation-aware search. */
void quant_pack(const mlcc_quant_scheme *s, const float *w, int64_t rows, int64_t in, uint32_t *packed, void *scales);
/* The float32 values the packed form stands for (what the dequantize op computes). */
void quant_unpack(const mlcc_quant_scheme *s, const uint32_t *packed, const void *scales, int64_t rows, int64_t in, float *w);

/* The scheme whose packing holds GGUF block type `ggml_type` exactly (Q4_0, Q8_0, Q4_K, Q5_K,
 * Q6_K), or NULL. */
const mlcc_quant_scheme *quant_scheme_for_ggml(uint32_t ggml_type);
/* Repacks rows of GGUF blocks (Q4_0 / Q8_0 per s->ggml_type, `in` a multiple of 32; Q4_K /
 * Q5_K / Q6_K, `in` a multiple of 256) into
 * packed and scales. The values are exactly those ggml's dequantizer gives. */
void quant_repack_ggml(const mlcc_quant_scheme *s, const void *blocks, int64_t rows, int64_t in, uint32_t *packed, uint16_t *scales);

/* The scheme matrix `name` (a Hugging Face tensor name) is stored in under s: s itself, or for a
 * group_zero scheme q0f16 for matrices outside the decoder layers (embedding, LM head). */
const mlcc_quant_scheme *quant_scheme_for_matrix(const mlcc_quant_scheme *s, const char *name);
/* The AWQ scheme with groups of group_size (128, 64 or 32), or NULL. */
const mlcc_quant_scheme *quant_scheme_awq(int group_size);

/* bits 0: float32 -> the storage dtype (a float32 copy, or float16 rounded to nearest even). */
void quant_store_float(mlcc_dtype t, const float *src, int64_t n, void *dst);

#endif
