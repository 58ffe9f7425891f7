/* vulkan.h - the Vulkan device of the runtime (DESIGN.md §4, issue 20), internal interface.
 *
 * Nothing here links against Vulkan: the loader (libvulkan.so.1) is opened with dlopen and the
 * GLSL compiler (glslangValidator) run as a program on first use, so every binary runs where
 * they are absent and says why ("no Vulkan device: libvulkan.so.1 not found"). Once a device answers,
 * the "vulkan" table is registered with mlcc_device_register and NDArrays on kDLVulkan work
 * through the ordinary storage/NDArray calls.
 *
 * Device pointers. Vulkan memory has no addresses, yet the runtime does pointer arithmetic on
 * tensor data (views, planned storages). Every buffer therefore gets a range of a private
 * address space (vulkan_device.c); the "pointer" an allocation returns is the start of its
 * range, and any pointer inside it resolves to (VkBuffer, byte offset). Kernels bind whole
 * buffers and get the element offset in their push constants.
 *
 * Work is batched: kernel dispatches and device-to-device copies are recorded into one command
 * buffer, with a memory barrier between commands, and submitted when the host needs a result
 * (a copy to or from the host, a synchronize). Pieces: vulkan_device.c (loader, instance,
 * devices, the caching allocator, copies, the batch), vulkan_pipeline.c (glslang and the
 * SPIR-V disk cache, pipelines and the on-disk pipeline cache, dispatches, the library hooks). */
#ifndef MLCC_RUNTIME_VULKAN_H
#define MLCC_RUNTIME_VULKAN_H

#include <stddef.h>
#include <stdio.h>
#include <stdint.h>

#include "mlcc/mlcc_runtime.h"

/* ---- availability ---- */
/* Initialises once. 1 when at least one device is usable, 0 otherwise (then
 * mlcc_vulkan_status() says why). Never fails hard. */
int mlcc_vulkan_available(void);
int mlcc_vulkan_device_count(void);
/* One line: "vulkan: 1 device: vulkan:0 llvmpipe (LLVM 15.0.6, 256 bits) (cpu), Vulkan 1.3"
 * or why there is none. Valid for the process. */
const char *mlcc_vulkan_status(void);

/* What vulkan:N offers kernels (creates the device; 0 when it does not exist): float16
 * tensors (shaderFloat16 + storageBuffer16BitAccess; MLCC_VULKAN_NO_F16=1 turns them off), and
 * the subgroup size with arithmetic (subgroupAdd/Max) in compute shaders (0 when none;
 * MLCC_VULKAN_NO_SUBGROUP=1 turns it off: reductions then go through shared memory). */
int mlcc_vulkan_has_float16(int device_id);
int mlcc_vulkan_subgroup_size(int device_id);
/* The subgroup size when compute shaders can shuffle within subgroups (subgroupShuffleXor),
 * else 0 (MLCC_VULKAN_NO_SUBGROUP=1 too). */
int mlcc_vulkan_shuffle_size(int device_id);

/* The GLSL compiler alone (no device needed): 1 when glslangValidator was found. */
int mlcc_glsl_compiler_available(void);
const char *mlcc_glsl_compiler_status(void);
/* GLSL compute shader -> SPIR-V words (malloc'ed, *nbytes a multiple of 4), through the disk
 * cache MLCC_HOME/cache/vulkan/<sha256>.spv. On a compile error the message holds glslang's log. */
int mlcc_vulkan_compile_glsl(const char *glsl, const char *name, uint32_t **spirv, size_t *nbytes);

/* ---- memory ---- */
typedef struct mlcc_vulkan_mem_stats {
    size_t in_use;      /* bytes handed out and not yet freed */
    size_t cached;      /* bytes freed into the cache, kept for reuse */
    long device_allocs; /* vkAllocateMemory calls */
    long reuses;        /* allocations served from the cache */
} mlcc_vulkan_mem_stats;
mlcc_vulkan_mem_stats mlcc_vulkan_memory_stats(int device_id);
void mlcc_vulkan_empty_cache(int device_id);
/* Fills nbytes (a multiple of 4, at a 4-byte offset) with a byte value, in the batch. */
int mlcc_vulkan_memset(int device_id, void *ptr, int value, size_t nbytes);
/* Submits the recorded batch and waits for it. */
int mlcc_vulkan_synchronize(int device_id);

/* ---- dispatch (vulkan_pipeline.c) ---- */
typedef struct mlcc_vulkan_stats {
    long shader_compiles; /* glslang runs by this process */
    long spirv_cache_hits;
    long pipelines;       /* pipelines created */
    long dispatches;
    long submits;
} mlcc_vulkan_stats;
mlcc_vulkan_stats mlcc_vulkan_get_stats(void);

/* The hooks of generated libraries. A Vulkan model library defines
 * `const mlcc_vulkan_library_hooks *mlcc_library_vulkan;` (NULL in the file); the loader points
 * it at this table. launch: `slot` is a per-kernel static of the library caching the compiled
 * kernel; glsl its shader; buffers the device pointers of its storage buffers (binding i =
 * buffers[i]), elem_bytes their element sizes; push the push-constant block, whose first
 * 4 * (nbuf + 1) bytes the runtime fills: the element offset of each buffer in its VkBuffer,
 * then grid[0] (kernels fold a long x grid into y). */
typedef struct mlcc_vulkan_library_hooks {
    int (*launch)(void **slot, int device_id, const char *glsl, const char *kernel,
                  const uint32_t grid[3], const uint32_t block[3], void *const *buffers,
                  const uint32_t *elem_bytes, int nbuf, void *push, uint32_t push_bytes);
    void *(*alloc)(int device_id, size_t nbytes);
    void (*free)(int device_id, void *ptr);
    /* the subgroup size when kernels can shuffle within subgroups, else 0 (the host picks
     * between a kernel's warp and portable schedules by it) */
    int (*subgroup_size)(int device_id);
} mlcc_vulkan_library_hooks;
const mlcc_vulkan_library_hooks *mlcc_vulkan_hooks(void);

/* ---- profiling: MLCC_VULKAN_PROFILE=1 (read when a device is created) writes a timestamp
 * query before and after every dispatch; durations are collected when the batch completes. */
/* Calls and device milliseconds of the kernels named name (0, or -1 when none ran). */
int mlcc_vulkan_kernel_profile(const char *name, long *calls, double *total_ms);
/* Every kernel's share, slowest first. */
void mlcc_vulkan_profile_report(FILE *out);
/* Forgets what was timed so far (a benchmark times its decode steps alone). */
void mlcc_vulkan_profile_reset(void);

/* ---- float16-weight projections (vulkan_linear.c) ----
 * y[rows, out] = x[rows, in] @ w[out, in]^T, float32 x and y, float16 w, all device pointers of
 * vulkan:N; recorded in the batch. The packed function mlcc.vulkan.linear_f16 calls it. */
int mlcc_vulkan_linear_f16(int device_id, const float *x, const uint16_t *w, float *y, int64_t rows, int64_t out,
                           int64_t in);

/* ---- greedy sampling on the device (vulkan_sample.c) ----
 * For each row of logits[rows, vocab] (float32, a device pointer of vulkan:N), ids[r] the
 * arg-max (the host sampler's tie and NaN rules) and logprobs[r] its log-softmax, computed on the
 * device; waits for the queue. The GLSL is exposed for tests. */
int mlcc_vulkan_greedy(int device_id, const float *logits, int64_t rows, int64_t vocab, int32_t *ids, double *logprobs);
const char *mlcc_vulkan_sample_kernel_source(void);

/* ---- the device's ceilings (vulkan_floor.c), for `mlcc bench --device vulkan` ----
 * The copy rate of a compute shader over a buffer of `bytes` (at most 1 GiB), counting bytes read
 * plus written (as mlcc_cuda_copy_bandwidth), best of reps; the FLOP/s of
 * mlcc_vulkan_linear_f16 on n x n x n. 0 when they cannot be measured. */
double mlcc_vulkan_copy_bandwidth(int device_id, size_t bytes, int reps);
double mlcc_vulkan_gemm_f16_rate(int device_id, int n, int reps);

/* ---- between the two files ---- */
typedef struct mlcc_vk_device mlcc_vk_device;
/* The device (created on first use), or NULL + error. */
mlcc_vk_device *mlcc_vk_get_device(int device_id);
/* Resolves a device pointer to its buffer handle (VkBuffer as uint64), byte offset and the
 * buffer's size. */
int mlcc_vk_resolve(mlcc_vk_device *d, const void *ptr, uint64_t *buffer, size_t *offset, size_t *size);

#endif
