/* cuda.h - the CUDA device of the runtime (DESIGN.md §4), internal interface.
 *
 * Nothing here links against CUDA: the driver (libcuda.so.1) and NVRTC (libnvrtc.so.13 or .12)
 * are opened with dlopen on first use, so every binary runs where CUDA is absent and reports
 * why ("no CUDA device: libcuda.so.1 not found"). Once the driver initialises, the "cuda"
 * device table is registered with mlcc_device_register, and NDArrays on kDLCUDA work through
 * the ordinary storage/NDArray calls (alloc, copy, sync).
 *
 * Pieces: cuda_loader.c (finding and opening the libraries), cuda_device.c (contexts, streams,
 * the caching allocator, copies), cuda_module.c (NVRTC compile with a disk cache, modules,
 * kernel launch, and the hooks generated model libraries call). */
#ifndef MLCC_RUNTIME_CUDA_H
#define MLCC_RUNTIME_CUDA_H

#include <stddef.h>
#include <stdint.h>

#include "mlcc/mlcc_runtime.h"

/* ---- availability ---- */
/* Initialises the driver once. 1 when at least one device is usable, 0 otherwise (then
 * mlcc_cuda_status() says why). Never fails hard. */
int mlcc_cuda_available(void);
int mlcc_cuda_device_count(void);
/* One line: what was found ("cuda: driver 13.0 (/usr/lib/.../libcuda.so.1), 1 device: NVIDIA
 * H100 80GB HBM3 sm_90, 79 GiB; nvrtc 13.0 (/usr/local/cuda/lib64/libnvrtc.so.13)") or why
 * there is no device. Valid for the process. */
const char *mlcc_cuda_status(void);
/* Compute capability of a device as 10*major + minor (90 for sm_90); -1 + error. */
int mlcc_cuda_device_arch(int device_id);
/* Its multiprocessors (132 on an H100 SXM); -1 + error. */
int mlcc_cuda_device_sm_count(int device_id);
/* The most dynamic shared memory a block may opt in to, in bytes (232448, 227 KB, on sm_90);
 * -1 + error. */
int mlcc_cuda_device_shared_optin(int device_id);

/* NVRTC alone (no GPU needed): 1 when a libnvrtc was opened; its path and version. */
int mlcc_nvrtc_available(void);
const char *mlcc_nvrtc_status(void);

/* ---- memory ---- */
typedef struct mlcc_cuda_mem_stats {
    size_t in_use;     /* bytes handed out and not yet freed */
    size_t cached;     /* bytes freed into the cache, kept for reuse */
    long device_allocs; /* cuMemAlloc calls */
    long reuses;        /* allocations served from the cache */
    long staged_uploads; /* host-to-device copies through pinned staging (cuda_device.c) */
    long slot_reuses;    /* of those, how many reused a slot (each after an event sync on its previous copy) */
} mlcc_cuda_mem_stats;
mlcc_cuda_mem_stats mlcc_cuda_memory_stats(int device_id);
/* Returns every cached block to the driver. */
void mlcc_cuda_empty_cache(int device_id);
/* The device's free and total memory in bytes (cuMemGetInfo); 0, or -1 with an error. */
int mlcc_cuda_memory_info(int device_id, size_t *free_bytes, size_t *total_bytes);
/* Waits for all work on the device. */
int mlcc_cuda_synchronize(int device_id);
/* Fills nbytes at a device pointer with a byte value. */
int mlcc_cuda_memset(int device_id, void *ptr, int value, size_t nbytes);

/* ---- streams ---- */
/* A new stream (NULL + error); the stream kernels and copies use when none is given is the
 * device's current stream (the legacy default stream unless set). */
void *mlcc_cuda_stream_create(int device_id);
void mlcc_cuda_stream_destroy(int device_id, void *stream);
int mlcc_cuda_set_stream(int device_id, void *stream);
void *mlcc_cuda_get_stream(int device_id);

/* ---- NVRTC and modules ---- */
/* Compiles CUDA C++ source into a cubin for sm_<arch> (arch 90 -> sm_90) through the disk cache
 * MLCC_HOME/cache/cuda (keyed by source, arch, NVRTC version and options; MLCC_JIT_POLICY as
 * for the C JIT). *out is malloc'ed. On a compile error the message holds NVRTC's log. */
int mlcc_nvrtc_compile(const char *source, int arch, char **out, size_t *out_len);
/* A source containing this line is compiled for the architecture-specific target (sm_90a for
 * arch 90: wgmma); its module loads only on a device of exactly that architecture. */
#define MLCC_ARCH_SPECIFIC_DECLARATION "// mlcc-arch-specific"
/* Compiles to PTX text (for inspection and tests that have NVRTC but no GPU). */
int mlcc_nvrtc_compile_ptx(const char *source, int arch, char **ptx);

typedef struct mlcc_cuda_module mlcc_cuda_module;
/* Compiles (cached) and loads source on a device. */
mlcc_cuda_module *mlcc_cuda_module_load_source(int device_id, const char *source);
void mlcc_cuda_module_free(mlcc_cuda_module *m);
/* A kernel handle of the module (borrowed, for mlcc_cuda_launch), or NULL + error. */
void *mlcc_cuda_module_kernel(mlcc_cuda_module *m, const char *name);
/* 1 when the kernel's source declares that it waits for its predecessor (cuda_pdl.h), so
 * mlcc_cuda_launch may start it early (programmatic dependent launch). */
int mlcc_cuda_kernel_waits(const void *kernel);
/* The same from a source's "// mlcc-pdl:" lines, without a GPU (tests). */
int mlcc_cuda_source_declares_wait(const char *source, const char *kernel);
/* One kernel of a fixed source (a hand-written kernel file's), compiled and loaded on each
 * device at its first use and kept for the process:
 *     static mlcc_cuda_kernel_once greedy = {.source = kernel_source, .name = "mlcc_greedy_split"};
 *     void *k = mlcc_cuda_kernel_once_get(&greedy, device_id); // NULL + error */
enum { MLCC_CUDA_ONCE_DEVICES = 16 };
typedef struct mlcc_cuda_kernel_once {
    const char *source, *name;
    mlcc_cuda_module *module[MLCC_CUDA_ONCE_DEVICES];
    void *kernel[MLCC_CUDA_ONCE_DEVICES];
} mlcc_cuda_kernel_once;
void *mlcc_cuda_kernel_once_get(mlcc_cuda_kernel_once *k, int device_id);
/* Work this thread has put into streams so far (launches, copies, fills, library calls, graph
 * replays): a result one kernel leaves for a later call (mlcc_cuda_offer_x8) holds only while
 * this has not moved. */
unsigned long long mlcc_cuda_stream_work(void);
void mlcc_cuda_note_stream_work(void);
/* A kernel just launched by this thread (the decode attention) also wrote row x [groups * 32]
 * rounded to int8 groups at xq, in mlcc_quantize_x8's layout (cuda_linear_q4.c): the next
 * one-row 4-bit projection of x on this thread takes them instead of rounding x, if no other
 * work went into the stream between (mlcc_cuda_stream_work). */
void mlcc_cuda_offer_x8(int device_id, const float *x, const int *xq, int groups);
/* Launches a kernel on the device's current stream. args: one pointer per kernel parameter,
 * pointing at its value (the driver's convention). A kernel that waits (above) goes through
 * cuLaunchKernelEx with programmatic stream serialization on sm_90+ unless MLCC_CUDA_PDL=0. */
int mlcc_cuda_launch(int device_id, void *kernel, const uint32_t grid[3], const uint32_t block[3],
                     uint32_t shared_bytes, void **args);
/* The same with the grid's blocks in thread-block clusters of (cluster_x, 1, 1) (sm_90+, a driver
 * with cuLaunchKernelEx; grid[0] a multiple of cluster_x, at most 16: above 8 the kernel is
 * allowed non-portable sizes first). cluster_x 1 is mlcc_cuda_launch. */
int mlcc_cuda_launch_cluster(int device_id, void *kernel, const uint32_t grid[3], const uint32_t block[3],
                             uint32_t shared_bytes, void **args, uint32_t cluster_x);
/* mlcc_cuda_pdl_hold(1) ... (0): the launches between, on this thread, go without programmatic
 * dependent launch, so each starts after the previous kernel has finished. For a kernel that
 * loads its "weights" before its wait (cuda_pdl.h) when a kernel has just written them, as the
 * 4-bit path's float16 workspace. Nests. */
void mlcc_cuda_pdl_hold(int on);
/* Whether the device can launch clusters (sm_90+ and cuLaunchKernelEx in the driver). */
int mlcc_cuda_clusters_supported(int device_id);

typedef struct mlcc_cuda_stats {
    long nvrtc_compiles; /* NVRTC invocations by this process */
    long cache_hits;     /* cubins read from the disk cache */
    long launches;
    long pdl_launches; /* of which with programmatic stream serialization */
} mlcc_cuda_stats;
mlcc_cuda_stats mlcc_cuda_get_stats(void);

/* ---- library matmuls (cuda_linear.c) ----
 * y[rows, out] = x[rows, in] @ w[out, in]^T: x and y float32, w float16, all device pointers;
 * a GEMV for rows <= MLCC_CUDA_GEMV_ROWS (default 2), else cuBLASLt on float16 tensor cores
 * (x rounded to float16). Enqueued on the device's current stream. The packed function
 * "mlcc.cuda.linear_f16" (x, w, y) wraps it. */
int mlcc_cuda_linear_f16(int device_id, const float *x, const uint16_t *w, float *y, int64_t rows, int64_t out, int64_t in);
/* y = x @ w^T + r (r float32 like y, may not alias it): the residual read in cuBLASLt's epilogue
 * (beta = 1), or added by the GEMV as it stores y. "mlcc.cuda.linear_f16_add" (x, w, r, y) wraps it. */
int mlcc_cuda_linear_f16_add(int device_id, const float *x, const uint16_t *w, const float *r, float *y, int64_t rows,
                             int64_t out, int64_t in);
/* The same with x, r and y each float32 or float16 (x_half, r_half, y_half): prefill's half
 * activations and half residual stream (transform/half_activations.c). r may not alias y. */
int mlcc_cuda_linear_f16_mixed(int device_id, const void *x, int x_half, const uint16_t *w, const void *r, int r_half,
                               void *y, int y_half, int64_t rows, int64_t out, int64_t in);
/* What a projection computes around its matmul (transform/fuse_gemv.c, decode) */
typedef struct mlcc_linear_fusion {
    const float *gamma; /* not NULL: x is nn.rms_norm(a, gamma, eps), gamma [in], float32 on the device */
    const float *eps;   /* RMSNorm's epsilon, one float32 on the device */
    int silu_mul;       /* w is [gate; up] (out = 2I rows): y [rows, I] = silu(x gate^T) * (x up^T) */
} mlcc_linear_fusion;
/* y = x @ w^T with f's fusions, a [rows, in] and w [out, in] as mlcc_cuda_linear_f16: for 1-2
 * rows one GEMV kernel does it all; otherwise the norm and the silu * up are kernels of their
 * own around the matmul (the normed x in float16 where cuBLASLt takes it). The packed functions
 * "mlcc.cuda.linear_f16_norm" (a, gamma, eps, w, y), "mlcc.cuda.linear_f16_silu" (a, w, y) and
 * "mlcc.cuda.linear_f16_norm_silu" (a, gamma, eps, w, y) wrap it. y is float32, or float16 when
 * y_half (with silu * up only: the next projection's x, transform/half_activations.c). */
int mlcc_cuda_linear_f16_fused(int device_id, const mlcc_linear_fusion *f, const float *a, const uint16_t *w, void *y,
                               int y_half, int64_t rows, int64_t out, int64_t in);
/* y [rows, in] (float32) = nn.rms_norm(a, f->gamma, *f->eps), a kernel of its own. */
int mlcc_cuda_rms_norm_rows(int device_id, const mlcc_linear_fusion *f, const float *a, float *y, int64_t rows, int64_t in);
/* y[n] += r[n] (float32), a kernel of its own. */
int mlcc_cuda_add_f32(int device_id, float *y, const float *r, int64_t n);
/* y [rows, half_out] = silu(gu[:, :half_out]) * gu[:, half_out:], gu [rows, 2 half_out], float32. */
int mlcc_cuda_silu_mul(int device_id, const float *gu, float *y, int64_t rows, int64_t half_out);
/* y[n] (float16) = x[n] (float32) rounded to nearest, on the device's current stream. */
int mlcc_cuda_f32_to_f16(int device_id, const float *x, void *y, int64_t n);
/* y[n] (float32) = x[n] (float16), on the device's current stream. */
int mlcc_cuda_f16_to_f32(int device_id, const void *x, float *y, int64_t n);
/* Returns the cuBLASLt workspace of a device to the allocator (before a leak count). */
void mlcc_cuda_linear_release(int device_id);
/* What was found: "cuBLASLt 130000 (/usr/local/cuda/lib64/libcublasLt.so.13)" or why not. */
const char *mlcc_cublaslt_status(void);
/* The CUDA C++ source of its kernels (tests compile it with NVRTC where there is no GPU). */
const char *mlcc_cuda_linear_kernel_source(void);

/* ---- 4-bit group-quantized matmuls (cuda_linear_q4.c) ----
 * y[rows, out] = x[rows, in] @ W^T, W given as q_weight uint32 [out, ceil(in / 8)] and q_scale
 * float16 [out, ceil(in / 32)] (docs/quantization.md; W = (q - zero_point) * s): a fused
 * dequantize-GEMV for rows <= MLCC_CUDA_Q4_GEMV_ROWS (4), else W dequantized to float16 and the
 * float16 path above. "mlcc.cuda.linear_q4f16" (zero point 7, q4f16_1) and
 * "mlcc.cuda.linear_q4f16_zp8" (ggml_q4_0) wrap it: (x, q_weight, q_scale, y). */
int mlcc_cuda_linear_q4(int device_id, const float *x, const uint32_t *qw, const uint16_t *qs, float *y, int64_t rows,
                        int64_t out, int64_t in, int zero_point);
/* The gate_up projection with silu * up (transform/fuse_gemv.c): W [out = 2I, in] holds the gate
 * rows then the up rows; y [rows, I] = silu(x gate^T) * (x up^T). One int8 block GEMV for 1-2
 * rows; otherwise mlcc_cuda_linear_q4 into a workspace, then mlcc_cuda_silu_mul. The packed
 * functions "mlcc.cuda.linear_q4f16_silu" and "..._zp8_silu" (x, q_weight, q_scale, y) wrap it. */
int mlcc_cuda_linear_q4_silu(int device_id, const float *x, const uint32_t *qw, const uint16_t *qs, float *y, int64_t rows,
                             int64_t out, int64_t in, int zero_point);
/* The projection with f's fusions (may be NULL) and a residual res (NULL: none; not with silu * up):
 * a is RMSNorm's input when f->gamma is set; y = proj + res. One int8 block GEMV for 1-2 rows
 * (it rounds a * gamma per group and scales its sums by the row's 1 / rms); otherwise the norm,
 * mlcc_cuda_linear_q4, silu * up and the add as kernels. The packed functions
 * "mlcc.cuda.linear_q4f16[_zp8]_add" (x, q_weight, q_scale, r, y), "..._norm" and "..._norm_silu"
 * (a, gamma, eps, q_weight, q_scale, y) wrap it. */
int mlcc_cuda_linear_q4_fused(int device_id, const mlcc_linear_fusion *f, const float *a, const uint32_t *qw, const uint16_t *qs,
                              const float *res, float *y, int64_t rows, int64_t out, int64_t in, int zero_point);
/* mlcc_cuda_linear_q4 (+ r) with x, r and y each float32 or float16 (x_half, r_half, y_half):
 * prefill's half activations (transform/half_activations.c). "mlcc.cuda.linear_q4f16[_zp8][_add]"
 * take it when an operand is float16. r may not alias y. */
int mlcc_cuda_linear_q4_mixed(int device_id, const void *x, int x_half, const uint32_t *qw, const uint16_t *qs, const void *r,
                              int r_half, void *y, int y_half, int64_t rows, int64_t out, int64_t in, int zero_point);
const char *mlcc_cuda_linear_q4_kernel_source(void);

/* ---- greedy sampling on the GPU (cuda_sample.c) ----
 * For each row of logits [rows, vocab] (float32, on the device): ids[r] the arg-max (the host
 * sampler's choice: first largest, NaN loses) and logprobs[r] its log-softmax. Waits for the
 * stream; only 8 bytes per row come back. */
int mlcc_cuda_greedy(int device_id, const float *logits, int64_t rows, int64_t vocab, int32_t *ids, double *logprobs);
const char *mlcc_cuda_sample_kernel_source(void);

/* ---- prefill attention on tensor cores (cuda_attention.c) ----
 * What the generated attn_prefill computes (gen/attention.h: ragged causal attention of q
 * [tokens, QH, D] over the pages [P, 2, KVH, PS, D] (float32 or float16), GQA, window, soft-cap) with half
 * inputs on mma.sync and float32 accumulation. The int32 step arrays and all tensors are device
 * pointers; q, pages and out 16-byte aligned. Enqueued on the device's current stream. */
typedef struct mlcc_cuda_prefill_args {
    const void *q; /* [num_tokens, num_qo_heads, head_dim]: float32, or half when q_f16 */
    const void *pages; /* float32, or float16 when pages_f16 */
    const int32_t *token_seq, *positions, *page_indptr, *page_indices;
    void *out;             /* like q: float32, or half when out_f16 */
    int64_t num_tokens;
    int num_qo_heads, num_kv_heads, head_dim, page_size;
    int64_t window;        /* <= 0: none */
    double scale, softcap; /* logits = scale q.k; softcap > 0: softcap * tanh(logits / softcap) */
    int pages_f16;
    /* tokens a block takes: 0 = as many as its 16 NW rows hold (prefill); 1 = one (batched
     * decode: a block per (sequence, KV head), its first warp computing, all of them loading) */
    int tokens_per_block;
    /* NULL, or the step's rope table [num_tokens, 2, head_dim / 2] (float64): q is then rotated
     * while it is loaded, as mlcc_cuda_rope_q rotates it (head_dim / 2 a multiple of 4) */
    const double *rope_table;
    /* q is half (needs half pages, pages_f16): rotated and multiplied by mlcc_cuda_flash_q_scale
     * already (mlcc_cuda_prefill_qkv wrote it), or with a rope_table as the projection left it
     * (the kernel rotates and scales it while loading it: head_dim / 2 a multiple of 8) */
    int q_f16;
    int out_f16; /* out is half (only with q_f16): the next projection's x (half_activations) */
    /* elements from one token's q row to the next's: 0 = num_qo_heads * head_dim (q compact); a
     * combined projection's row width reads q in place from qkv (16-byte steps) */
    int64_t q_row;
} mlcc_cuda_prefill_args;
/* 1 when the kernel covers the shape (head_dim 64, 80, 96 or 128; a GQA group of <= 64). */
int mlcc_cuda_flash_prefill_supports(int head_dim, int num_qo_heads, int num_kv_heads);
int mlcc_cuda_flash_prefill(int device_id, const mlcc_cuda_prefill_args *a);
/* What the flash kernel multiplies q by before rounding it to half: the scale, times log2 e when
 * it computes the softmax in log2 units (no soft-cap; MLCC_CUDA_FLASH_FAST, read per call). */
float mlcc_cuda_flash_q_scale(double scale, double softcap);

/* A combined projection output made ready for the flash kernel in one pass (cuda_attention.c):
 * qkv [num_tokens, (QH + 2 KVH) D] (half when qkv_f16, else float32), columns q | k | v; q
 * rotated with the rope table [num_tokens, 2, D / 2] (float64), times q_scale, into q16
 * [num_tokens, QH, D] half; K rotated and V stored into the half pages ([pages, 2, KVH,
 * page_size, D]) at slots[t] (page * page_size + offset; < 0: not stored), as the append kernel
 * stores them. D / 2 a multiple of 4; qkv 8-byte (half) or 16-byte (float32) aligned, q16 8.
 * q16 NULL: K and V alone (the flash kernel then reads q from qkv: q_row, rope_table). */
typedef struct mlcc_cuda_prefill_qkv_args {
    const void *qkv;
    void *q16, *pages;
    const int32_t *slots;
    const double *rope_table;
    int64_t num_tokens;
    int num_qo_heads, num_kv_heads, head_dim, page_size, qkv_f16;
    float q_scale;
} mlcc_cuda_prefill_qkv_args;
int mlcc_cuda_prefill_qkv(int device_id, const mlcc_cuda_prefill_qkv_args *a);
const char *mlcc_cuda_flash_prefill_kernel_source(void);
/* The source of the sm_90a module: on an sm_90 device (Hopper) prefill with a half q runs on
 * wgmma kernels at head_dim 64 and 128 unless MLCC_CUDA_FLASH_WGMMA=0. */
const char *mlcc_cuda_flash_prefill_wgmma_source(void);

/* ---- ceilings (cuda_floor.c), for benchmarks ----
 * Device-to-device copy rate, bytes read + written per second (best of reps); 0 on failure. */
double mlcc_cuda_copy_bandwidth(int device_id, size_t bytes, int reps);
/* Flop/s of an n x n x n product through mlcc_cuda_linear_f16 (cuBLASLt f16); 0 on failure. */
double mlcc_cuda_gemm_f16_rate(int device_id, int n, int reps);

/* ---- CUDA graphs (cuda_graph.c) and the allocator's capture pools (cuda_device.c) ----
 * mlcc_cuda_capture_begin starts capturing the device's stream (its own stream, created and
 * made current on first use: the legacy default stream cannot be captured) on this thread;
 * the work enqueued until mlcc_cuda_capture_end(1) becomes a graph (not run: launch it). Every
 * block the allocator hands out meanwhile belongs to the graph until mlcc_cuda_graph_free
 * (freed blocks are reused only by the same capture), since each replay touches them. No
 * synchronizing call may run during a capture (upload inputs first). capture_end(0) discards
 * (after a failure in between: the caller's error stands). MLCC_CUDA_GRAPHS=0 turns graphs off
 * (mlcc_cuda_graphs_enabled; also off under MLCC_CUDA_PROFILE). */
typedef struct mlcc_cuda_graph mlcc_cuda_graph;
typedef struct mlcc_cuda_pool mlcc_cuda_pool;
int mlcc_cuda_graphs_enabled(void);
int mlcc_cuda_capture_begin(int device_id);
mlcc_cuda_graph *mlcc_cuda_capture_end(int keep);
int mlcc_cuda_graph_launch(mlcc_cuda_graph *g);
void mlcc_cuda_graph_free(mlcc_cuda_graph *g);
/* Graphs captured and launches so far in this process. */
void mlcc_cuda_graph_counts(long *captured, long *launched);
int mlcc_cuda_use_own_stream(int device_id);
mlcc_cuda_pool *mlcc_cuda_pool_begin(int device_id);
void mlcc_cuda_pool_end(mlcc_cuda_pool *pool);
void mlcc_cuda_pool_free(mlcc_cuda_pool *pool);
/* 1 while a graph capture of device_id's stream is under way (work that synchronizes, such as
 * timing with events, must wait until it ends). */
int mlcc_cuda_capturing(int device_id);

/* ---- MLCC_CUDA_PROFILE=1 (cuda_profile.c): per-kernel GPU times between CUDA events (or
 * =sync: synchronized around each launch), table at exit ----
 * begin returns a token (0: not recorded) for end; a window (a step) closes where the host waits
 * for the device anyway (mlcc_cuda_profile_window, called after device-to-host copies). */
int mlcc_cuda_profiling(void);
double mlcc_cuda_profile_begin(int device_id);
void mlcc_cuda_profile_end(int device_id, const char *name, double t0);
void mlcc_cuda_profile_window(void);

/* ---- the hooks of generated libraries ----
 * A CUDA model library defines `const mlcc_cuda_library_hooks *mlcc_library_cuda;` (NULL in
 * the file); the loader points it at this table, so generated host code launches kernels and
 * takes workspace memory without linking against the runtime. `slot` is a per-kernel static in
 * the library that caches the loaded kernel. */
typedef struct mlcc_cuda_library_hooks {
    int (*launch)(void **slot, int device_id, const char *source, const char *kernel,
                  const uint32_t grid[3], const uint32_t block[3], uint32_t shared_bytes,
                  void **args);
    void *(*alloc)(int device_id, size_t nbytes);
    void (*free)(int device_id, void *ptr);
} mlcc_cuda_library_hooks;
const mlcc_cuda_library_hooks *mlcc_cuda_hooks(void);

#endif
