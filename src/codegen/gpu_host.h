/* gpu_host.h - the C host wrapper of a lowered GPU function, shared by codegen_cuda and
 * codegen_vulkan: the packed-function signature, the argument checks (count, scalar types,
 * tensor ranks, dtypes, device, symbolic shapes bound from the first tensor that has them and
 * checked on the others, row-major strides), the data pointers, the host's part of the body
 * (sequences, the choices between kernels made by the call's sizes, device workspaces between
 * kernels, allocated where the body says and freed at `done:` on every path), and the function's
 * end. Each kernel's launch is the backend's; what else differs between backends comes in a
 * gpu_host_backend. */
#ifndef MLCC_CODEGEN_GPU_HOST_H
#define MLCC_CODEGEN_GPU_HOST_H

#include "codegen/gpu_kernel.h"
#include "ir/tir.h"
#include "support/strbuf.h"

typedef struct gpu_host_backend {
    int device_type;          /* the tensors' DLDeviceType: 2 CUDA, 7 Vulkan */
    const char *host_call;    /* a call the host may evaluate in a condition (gpu_host_condition), or NULL */
    const char *device;       /* as messages name a device: "cuda" (cuda:0) */
    const char *device_title; /* as messages name the API: "CUDA" */
    const char *hooks;        /* the runtime's hook table in the library: "mlcc_library_cuda" */
    /* The backend's host writer: where it writes (swapped while the body is written), its
     * indentation, and how it names nodes, spells host types and writes host expressions. */
    void *writer;
    mlcc_strbuf **out;
    int *indent;
    const char *(*name)(void *writer, const void *node, const char *base);
    const char *(*type)(void *writer, mlcc_dtype t);
    void (*expr)(void *writer, const mlcc_expr *e);
    /* Writes the launch of the kernel statement s through the writer. Returns 0 or -1. */
    int (*kernel)(void *ctx, mlcc_stmt *s);
    void *kernel_ctx;
    gpu_buffer_vec *workspaces; /* the device buffers the body allocates, in order (filled here) */
} gpu_host_backend;

/* Writes `int32_t mlcc_fn_NAME(args...) { ... }` for the lowered function f. Returns 0, or -1
 * when a kernel could not be written; workspaces is emptied. */
int gpu_host_emit_function(const gpu_host_backend *b, const mlcc_prim_func *f);

#endif
