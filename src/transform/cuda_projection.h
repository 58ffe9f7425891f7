/* cuda_projection.h - the names of the CUDA runtime's projection functions (packed functions of
 * runtime/cuda_linear.c and cuda_linear_q4.c), in one place for the passes that write and read
 * them: cuda_dispatch.c (matmuls into projections), fuse_gemv.c (a norm and silu * up into
 * them) and half_activations.c (which of them take float16 activations).
 *
 * A name is "mlcc.cuda.linear_" + the weight's kind ("f16"; "q4f16": 4 bits, zero point 7;
 * "q4f16_zp8": zero point 8) + the form's suffix ("", "_silu", "_norm", "_norm_silu", "_add"). */
#ifndef MLCC_TRANSFORM_CUDA_PROJECTION_H
#define MLCC_TRANSFORM_CUDA_PROJECTION_H

typedef enum { CUDA_PROJ_F16, CUDA_PROJ_Q4, CUDA_PROJ_Q4_ZP8, CUDA_PROJ_KINDS } cuda_proj_kind;

/* The plain form (x, weights), silu * up over gate and up rows, RMSNorm's input as x (a, gamma,
 * eps, weights), both, and the residual added as y is stored (x, weights, r). */
typedef enum {
    CUDA_PROJ_PLAIN,
    CUDA_PROJ_SILU,
    CUDA_PROJ_NORM,
    CUDA_PROJ_NORM_SILU,
    CUDA_PROJ_ADD,
    CUDA_PROJ_FORMS
} cuda_proj_form;

/* The packed function's name (static storage). */
const char *cuda_projection_name(cuda_proj_kind kind, cuda_proj_form form);

/* 1 and the kind and form when name is one of them (either pointer may be NULL), else 0. */
int cuda_projection_parse(const char *name, cuda_proj_kind *kind, cuda_proj_form *form);

#endif
