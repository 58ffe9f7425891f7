/* gpu_kernel.h - what the CUDA and Vulkan generators share about a kernel: which statement of a
 * lowered function becomes a kernel and what it needs (its global buffers, the scalars it reads,
 * the extents of its launch axes), where threads must meet at a barrier, and what the host
 * wrapper may evaluate. The kernel text and the launch call are each generator's own. */
#ifndef MLCC_CODEGEN_GPU_KERNEL_H
#define MLCC_CODEGEN_GPU_KERNEL_H

#include "ir/tir.h"
#include "support/hashmap.h"
#include "support/strbuf.h"
#include "support/vec.h"

/* The six launch axes, in the order of cuLaunchKernel's dimensions (Vulkan: workgroups, then
 * invocations): the thread tags of `bind`. */
extern const char *const gpu_thread_tags[6];

/* 1 when tag is one of gpu_thread_tags (its index in *axis when axis is not NULL). */
int gpu_is_thread_tag(const char *tag, int *axis);

typedef MLCC_VEC(mlcc_expr *) gpu_expr_vec;
typedef MLCC_VEC(mlcc_buffer *) gpu_buffer_vec;

/* What one kernel needs: its parameters and its launch extents. */
typedef struct gpu_kernel_info {
    gpu_buffer_vec buffers;  /* global buffers it touches, first use first */
    gpu_expr_vec scalars;    /* vars it reads that it does not define */
    gpu_expr_vec extents[6]; /* distinct extents of the loops bound to each axis */
    mlcc_u64map defined;     /* loop vars and in-kernel buffers */
    mlcc_u64map seen;        /* buffers/vars already listed */
    mlcc_u64map stored;      /* buffers it writes */
    int uses_shared;         /* it allocates shared memory */
} gpu_kernel_info;

/* Fills k (zeroed by the caller) from the kernel's statement. */
void gpu_kernel_info_collect(gpu_kernel_info *k, mlcc_stmt *s);
void gpu_kernel_info_free(gpu_kernel_info *k);

/* 1 when e reads a var of `defined` (a launch extent must not: the host computes it). */
int gpu_uses_defined_var(mlcc_expr *e, const mlcc_u64map *defined);

/* Storage scopes: global (device memory the host allocates) and shared (per block). */
int gpu_is_global_scope(const mlcc_buffer *b);
int gpu_is_shared_scope(const mlcc_buffer *b);

/* Which accesses to shared memory a statement makes, and whether a barrier must separate a
 * statement with accesses a from a later one with accesses b (b reads what a wrote, or
 * overwrites what a read). */
enum { GPU_SHARED_READS = 1, GPU_SHARED_WRITES = 2 };
int gpu_shared_access(mlcc_stmt *s);
int gpu_needs_barrier(int a, int b);

/* 1 when the host wrapper can evaluate cond: no loads of device memory and no calls, except
 * calls to host_call (a target's host-side intrinsic; NULL for none). */
int gpu_host_condition(mlcc_expr *cond, const char *host_call);

/* Appends s to out as a C string literal, in lines of about 100 characters. */
void gpu_append_c_string(mlcc_strbuf *out, const char *s);

#endif
