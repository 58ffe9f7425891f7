/* projection_args.h - the argument checks the library projections share (mlcc.cuda.linear_f16,
 * mlcc.cuda.linear_q4f16[_zp8], mlcc.vulkan.linear_f16): y[..., out] = x[..., in] @ W^T, the
 * call's arguments x, the nw tensors that hold W, then y. */
#ifndef MLCC_RUNTIME_PROJECTION_ARGS_H
#define MLCC_RUNTIME_PROJECTION_ARGS_H

#include <stdint.h>

#include "mlcc/mlcc_runtime.h"

enum { PROJECTION_MAX_WEIGHTS = 4 };

typedef struct projection_args {
    DLTensor *x, *y, *w[PROJECTION_MAX_WEIGHTS];
    int64_t rows; /* the product of x's (and y's) leading axes */
    int64_t in, out;
} projection_args;

/* Reads and checks what every projection needs: 2 + nw tensor arguments, all on one device of
 * device_type (`what` names them in the message, e.g. "x, w and y", `device` the kind, e.g.
 * "CUDA"), x and y of the same rank and leading axes, all compact. The dtypes and the weights'
 * shapes are the caller's to check. 0, or -1 with an error starting with fn. */
int projection_args_read(const char *fn, int device_type, const char *device, const char *what, const MLCCValue *args,
                         const int *codes, int n, int nw, projection_args *p);

/* 1 when t holds scalars of the given DLPack code and bits. */
int projection_is_dtype(const DLTensor *t, int code, int bits);

/* The first element of t (its data at its byte offset). */
void *projection_data(const DLTensor *t);

#endif
