/* intrin.h - the registry of CPU tensor intrinsics (DESIGN.md §3.5): what `tensorize` maps a
 * blockized loop nest onto.
 *
 * An intrinsic has a pattern (the computation a tile must perform, checked by sch_tensorize
 * from the block's signature and body) and an implementation: C source that codegen copies
 * into every library that calls it, so a model library stays self-contained (the runtime
 * loads it without the compiler). The source picks AVX-512, AVX2+FMA+F16C or plain C from the
 * predefined macros of the compiler it is built with (the JIT builds with -march=native, so the
 * host's features decide).
 *
 * GEMM_NT intrinsics compute, for a tile of M rows, N columns and the whole reduction K,
 *     C[m * ldc + n] (= or +=) sum_k A[m * lda + k] * B[n * ldb + k]
 * with f32 accumulation: the form of an LLM linear layer (weights stored [out, in]). M = 1 is
 * the decode GEMV; the implementation splits the tile into register blocks with tails for any
 * M, N and K. Call signature (int64_t sizes, pointers to the tile's first elements):
 *     name(C, A, B, M, N, K, ldc, lda, ldb, accumulate)
 *
 * GEMM_NT_Q intrinsics (gemm_q.c) compute the same with B a quantized weight given as its
 * packed words and scales (docs/quantization.md's layout: `bits`, `zero_point`, one `scale`
 * per 32 values), with float32 activations (exact) or activations quantized to int8 per call
 * (`int8_act`, as llama.cpp does):
 *     name(C, A, QW, S, M, N, K, ldc, lda, ldq, lds, accumulate)
 * ldq and lds are the row strides of QW (uint32 words) and S (scales). With `group_zero`
 * (gemm_awq.c) a group has group_size values and S holds (scale, zero point) per group:
 *     W[n, k] = (q(n, k) - S[n, 2 (k / group_size) + 1]) * S[n, 2 (k / group_size)]
 *
 * GEMM_NT_QK intrinsics (gemm_qk.c) take the same arguments with B a row of llama.cpp k-quant
 * super-blocks (quant/scheme.h: ggml_q4_k, ggml_q5_k, ggml_q6_k; K a multiple of 256): `bits` is
 * the code width (4, 5, 6) and `zero_point` holds the ggml type (12 Q4_K, 13 Q5_K, 14 Q6_K);
 * float or int8 activations, the int8 ones with the same companions as GEMM_NT_Q's. */
#ifndef MLCC_KERNELS_CPU_INTRIN_H
#define MLCC_KERNELS_CPU_INTRIN_H

#include "ir/tir.h"

typedef enum { CPU_INTRIN_GEMM_NT, CPU_INTRIN_GEMM_NT_Q, CPU_INTRIN_GEMM_NT_QK } cpu_intrin_kind;

typedef struct cpu_intrin {
    const char *name;     /* the C function called, e.g. "mlcc_k_gemm_nt_f32" */
    cpu_intrin_kind kind;
    mlcc_dtype a, b, c;   /* element types of A (activations), B (weights), C (output) */
    const char *source;   /* C source defining `name` (and its static helpers) */
    /* GEMM_NT_Q only: the weight layout and the activation path */
    int bits, zero_point;
    mlcc_dtype scale;
    int int8_act;
    int group_size;       /* values per scale (0: 32) */
    int group_zero;       /* 1: per-group zero points beside the scales (zero_point unused) */
} cpu_intrin;

/* The intrinsic called `name`, or NULL. */
const cpu_intrin *cpu_intrin_find(const char *name);
/* The GEMM_NT intrinsic for these element types, or NULL. */
const cpu_intrin *cpu_intrin_gemm_nt(mlcc_dtype a, mlcc_dtype b, mlcc_dtype c);
/* The GEMM_NT_Q intrinsic for this layout and activation path, or NULL. */
const cpu_intrin *cpu_intrin_gemm_nt_q(int bits, int zero_point, mlcc_dtype scale, int int8_act);
/* The int8-activation GEMM_NT_Q or GEMM_NT_QK intrinsic whose companion function `name` is
 * (NAME_prep_bytes, NAME_prep_row or NAME_pre: the activations prepared once for several calls,
 * see gemm_q.c, gemm_qk.c and transform/lower_quant_prep.c), or NULL; *kind (if not NULL) gets the suffix's kind. The
 * companions' sources are the intrinsic's. */
typedef enum { CPU_QPREP_BYTES, CPU_QPREP_ROW, CPU_QPREP_GEMM } cpu_qprep_kind;
const cpu_intrin *cpu_intrin_quant_companion(const char *name, cpu_qprep_kind *kind);
/* The companion name of intrinsic q (int8 activations) of that kind, in buf. */
const char *cpu_intrin_quant_companion_name(const cpu_intrin *q, cpu_qprep_kind kind, char *buf, size_t size);
/* The GEMM_NT_Q intrinsics (a NULL-terminated array; part of cpu_intrin_all). */
const cpu_intrin *const *cpu_intrin_quant_list(void);
/* The per-group-zero-point ones (gemm_awq.c; NULL-terminated; part of the list above). */
const cpu_intrin *const *cpu_intrin_awq_list(void);
/* The GEMM_NT_QK intrinsics (a NULL-terminated array; part of cpu_intrin_all). */
const cpu_intrin *const *cpu_intrin_kquant_list(void);
/* All intrinsics (a NULL-terminated array). */
const cpu_intrin *const *cpu_intrin_all(void);
/* Source shared by every intrinsic (vector helpers), emitted once before any of them. */
const char *cpu_intrin_common_source(void);

#endif
