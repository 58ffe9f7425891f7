/* vulkan_linear.c - y[rows, out] = x[rows, in] @ W[out, in]^T with float32 x and y and a float16
 * W on a Vulkan device: the packed function `mlcc.vulkan.linear_f16` that the Vulkan build's
 * dispatch (transform/cuda_dispatch.c, with this name) calls for every float16-weight
 * projection, as the CUDA build calls mlcc.cuda.linear_f16.
 *
 * Why hand-written GLSL rather than the generated kernels: the row count is known only here, and
 * the two regimes want different kernels. Decode (rows <= MLCC_VULKAN_GEMV_ROWS, default 16)
 * streams W once: 32 invocations per output, each loading 8 halves (16 bytes, a uvec4 unpacked
 * with unpackHalf2x16) per step, up to 16 rows of x per pass over W, float32 sums, the 32 partial
 * sums combined with subgroupAdd where subgroups have 32 lanes (else through shared memory).
 * The generated cross-thread GEMV loads 2 bytes per invocation and reached 2268 GB/s on the
 * H100 where the copy rate is ~3000. Prefill (more rows): 64 x 64 tiles of y per workgroup, 16 k
 * at a time staged in shared memory from 16-byte loads, 4 x 4 outputs per invocation (float32
 * SIMT arithmetic: Debian 12's glslang predates GL_KHR_cooperative_matrix).
 *
 * The 16-byte paths need `in` % 8 == 0 and x, W at 16-byte offsets in their buffers (every model
 * shape and allocation so far); otherwise a scalar kernel (float16_t loads: the device needs
 * storageBuffer16BitAccess, as every q0f16 kernel does) computes one row per pass. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/packed.h"
#include "runtime/projection_args.h"
#include "runtime/vulkan.h"
#include "support/alloc.h"
#include "support/error.h"

enum { MAX_DEVICES = 8, GEMV_OUTS = 8, LANES = 32, TILE = 64 };

/* ---- the kernels ---- */

/* x: vec4[], w: uvec4[] (8 halves), y: float[]; GEMV_R rows of x per pass; 32 x 8 invocations,
 * invocation (lane, j) summing output wg * 8 + j over k = 8 * (lane + 32 i). */
static const char gemv_source[] =
    "#version 450\n"
    "#ifndef MLCC_SUBGROUP_ARITH\n"
    "#define MLCC_SUBGROUP_ARITH 0\n"
    "#endif\n"
    "#if MLCC_SUBGROUP_ARITH\n"
    "#extension GL_KHR_shader_subgroup_basic : require\n"
    "#extension GL_KHR_shader_subgroup_arithmetic : require\n"
    "#endif\n"
    "layout(local_size_x_id = 0, local_size_y_id = 1, local_size_z_id = 2) in;\n"
    "layout(std430, binding = 0) restrict readonly buffer X { vec4 x[]; };\n"
    "layout(std430, binding = 1) restrict readonly buffer W { uvec4 w[]; };\n"
    "layout(std430, binding = 2) restrict writeonly buffer Y { float y[]; };\n"
    "layout(push_constant) uniform Push { uint ox, ow, oy, gx, n, k; } pc;\n"
    "shared float part[GEMV_R][8][32];\n"
    "void main() {\n"
    "    uint wg = gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x;\n"
    "    if (wg >= pc.gx) return;\n"
    "    uint lane = gl_LocalInvocationID.x, j = gl_LocalInvocationID.y, o = wg * 8u + j;\n"
    "    uint k8 = pc.k / 8u, k4 = pc.k / 4u;\n"
    "    float acc[GEMV_R];\n"
    "    for (int r = 0; r < GEMV_R; r++) acc[r] = 0.0;\n"
    "    if (o < pc.n) {\n"
    "        uint wrow = pc.ow + o * k8;\n"
    "        uint i = lane;\n"
    /* four 16-byte loads in flight per invocation before any arithmetic */
    "        for (; i + 96u < k8; i += 128u) {\n"
    "            uvec4 q[4] = uvec4[4](w[wrow + i], w[wrow + i + 32u], w[wrow + i + 64u], w[wrow + i + 96u]);\n"
    "            for (int u = 0; u < 4; u++) {\n"
    "                vec4 lo = vec4(unpackHalf2x16(q[u].x), unpackHalf2x16(q[u].y));\n"
    "                vec4 hi = vec4(unpackHalf2x16(q[u].z), unpackHalf2x16(q[u].w));\n"
    "                uint xi = pc.ox + 2u * (i + 32u * uint(u));\n"
    "                for (int r = 0; r < GEMV_R; r++)\n"
    "                    acc[r] += dot(x[xi + uint(r) * k4], lo) + dot(x[xi + uint(r) * k4 + 1u], hi);\n"
    "            }\n"
    "        }\n"
    "        for (; i < k8; i += 32u) {\n"
    "            uvec4 q = w[wrow + i];\n"
    "            vec4 lo = vec4(unpackHalf2x16(q.x), unpackHalf2x16(q.y));\n"
    "            vec4 hi = vec4(unpackHalf2x16(q.z), unpackHalf2x16(q.w));\n"
    "            uint xi = pc.ox + 2u * i;\n"
    "            for (int r = 0; r < GEMV_R; r++)\n"
    "                acc[r] += dot(x[xi + uint(r) * k4], lo) + dot(x[xi + uint(r) * k4 + 1u], hi);\n"
    "        }\n"
    "    }\n"
    "#if MLCC_SUBGROUP_ARITH\n"
    "    if (gl_SubgroupSize == 32u) {\n" /* each row of 32 invocations is one subgroup */
    "        for (int r = 0; r < GEMV_R; r++) {\n"
    "            float s = subgroupAdd(acc[r]);\n"
    "            if (lane == 0u && o < pc.n) y[pc.oy + uint(r) * pc.n + o] = s;\n"
    "        }\n"
    "        return;\n"
    "    }\n"
    "#endif\n"
    "    for (int r = 0; r < GEMV_R; r++) part[r][j][lane] = acc[r];\n"
    "    barrier();\n"
    "    uint t = j * 32u + lane;\n"
    "    if (t < uint(GEMV_R) * 8u) {\n"
    "        uint r = t / 8u, jj = t % 8u, oo = wg * 8u + jj;\n"
    "        float s = 0.0;\n"
    "        for (int l = 0; l < 32; l++) s += part[r][jj][l];\n"
    "        if (oo < pc.n) y[pc.oy + r * pc.n + oo] = s;\n"
    "    }\n"
    "}\n";

/* The scalar fallback: one row of x, float16_t weights, 32 x 8 invocations as above. */
static const char gemv_scalar_source[] =
    "#version 450\n"
    "#extension GL_EXT_shader_16bit_storage : require\n"
    "#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require\n"
    "layout(local_size_x_id = 0, local_size_y_id = 1, local_size_z_id = 2) in;\n"
    "layout(std430, binding = 0) restrict readonly buffer X { float x[]; };\n"
    "layout(std430, binding = 1) restrict readonly buffer W { float16_t w[]; };\n"
    "layout(std430, binding = 2) restrict writeonly buffer Y { float y[]; };\n"
    "layout(push_constant) uniform Push { uint ox, ow, oy, gx, n, k; } pc;\n"
    "shared float part[8][33];\n"
    "void main() {\n"
    "    uint wg = gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x;\n"
    "    if (wg >= pc.gx) return;\n"
    "    uint lane = gl_LocalInvocationID.x, j = gl_LocalInvocationID.y, o = wg * 8u + j;\n"
    "    float acc = 0.0;\n"
    "    if (o < pc.n)\n"
    "        for (uint i = lane; i < pc.k; i += 32u) acc += x[pc.ox + i] * float(w[pc.ow + o * pc.k + i]);\n"
    "    part[j][lane] = acc;\n"
    "    barrier();\n"
    "    if (lane == 0u && o < pc.n) {\n"
    "        float s = 0.0;\n"
    "        for (int l = 0; l < 32; l++) s += part[j][l];\n"
    "        y[pc.oy + o] = s;\n"
    "    }\n"
    "}\n";

/* 64 x 64 tiles of y, 256 invocations of 4 x 4 outputs; k in steps of 16 through shared memory
 * (k-major, padded). Invocation t loads x[row t/4, 4 k] (a vec4) and, for t < 128, W[col t/2,
 * 8 k] (a uvec4). */
static const char gemm_source[] =
    "#version 450\n"
    "layout(local_size_x_id = 0, local_size_y_id = 1, local_size_z_id = 2) in;\n"
    "layout(std430, binding = 0) restrict readonly buffer X { vec4 x[]; };\n"
    "layout(std430, binding = 1) restrict readonly buffer W { uvec4 w[]; };\n"
    "layout(std430, binding = 2) restrict writeonly buffer Y { float y[]; };\n"
    "layout(push_constant) uniform Push { uint ox, ow, oy, gx, m, n, k; } pc;\n"
    "shared float As[16][68];\n"
    "shared float Bs[16][68];\n"
    "void main() {\n"
    "    uint t = gl_LocalInvocationID.x, tx = t % 16u, ty = t / 16u;\n"
    "    uint col0 = gl_WorkGroupID.x * 64u, row0 = gl_WorkGroupID.y * 64u;\n"
    "    uint k4 = pc.k / 4u, k8 = pc.k / 8u;\n"
    "    float acc[4][4];\n"
    "    for (int i = 0; i < 4; i++) for (int j = 0; j < 4; j++) acc[i][j] = 0.0;\n"
    "    uint ar = t / 4u, ac = t % 4u, bc = t / 2u, bk = t % 2u;\n"
    "    for (uint k0 = 0u; k0 < pc.k; k0 += 16u) {\n"
    "        uint ka = k0 + 4u * ac;\n"
    "        vec4 a = row0 + ar < pc.m && ka < pc.k ? x[pc.ox + (row0 + ar) * k4 + ka / 4u] : vec4(0.0);\n"
    "        As[4u * ac][ar] = a.x; As[4u * ac + 1u][ar] = a.y; As[4u * ac + 2u][ar] = a.z; As[4u * ac + 3u][ar] = a.w;\n"
    "        if (t < 128u) {\n"
    "            uint kb = k0 + 8u * bk;\n"
    "            uvec4 q = col0 + bc < pc.n && kb < pc.k ? w[pc.ow + (col0 + bc) * k8 + kb / 8u] : uvec4(0u);\n"
    "            vec2 h0 = unpackHalf2x16(q.x), h1 = unpackHalf2x16(q.y), h2 = unpackHalf2x16(q.z), h3 = unpackHalf2x16(q.w);\n"
    "            uint s = 8u * bk;\n"
    "            Bs[s][bc] = h0.x; Bs[s + 1u][bc] = h0.y; Bs[s + 2u][bc] = h1.x; Bs[s + 3u][bc] = h1.y;\n"
    "            Bs[s + 4u][bc] = h2.x; Bs[s + 5u][bc] = h2.y; Bs[s + 6u][bc] = h3.x; Bs[s + 7u][bc] = h3.y;\n"
    "        }\n"
    "        barrier();\n"
    "        for (int kk = 0; kk < 16; kk++) {\n"
    "            vec4 av = vec4(As[kk][4u * ty], As[kk][4u * ty + 1u], As[kk][4u * ty + 2u], As[kk][4u * ty + 3u]);\n"
    "            vec4 bv = vec4(Bs[kk][4u * tx], Bs[kk][4u * tx + 1u], Bs[kk][4u * tx + 2u], Bs[kk][4u * tx + 3u]);\n"
    "            for (int i = 0; i < 4; i++) for (int j = 0; j < 4; j++) acc[i][j] += av[i] * bv[j];\n"
    "        }\n"
    "        barrier();\n"
    "    }\n"
    "    for (int i = 0; i < 4; i++) {\n"
    "        uint row = row0 + 4u * ty + uint(i);\n"
    "        if (row >= pc.m) continue;\n"
    "        for (int j = 0; j < 4; j++) {\n"
    "            uint col = col0 + 4u * tx + uint(j);\n"
    "            if (col < pc.n) y[pc.oy + row * pc.n + col] = acc[i][j];\n"
    "        }\n"
    "    }\n"
    "}\n";

/* The GEMV for R = 2^pick rows: gemv_source with "#define GEMV_R R" after its #version line
 * (where the runtime also puts its MLCC_SUBGROUP_ARITH definition). */
static const char *gemv_variant(int pick) {
    static char *text[5];
    static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    pthread_mutex_lock(&lock);
    if (!text[pick]) {
        const char *eol = strchr(gemv_source, '\n') + 1;
        size_t head = (size_t)(eol - gemv_source), n = strlen(gemv_source) + 32;
        char *s = mlcc_xmalloc(n);
        snprintf(s, n, "%.*s#define GEMV_R %d\n%s", (int)head, gemv_source, 1 << pick, eol);
        text[pick] = s;
    }
    pthread_mutex_unlock(&lock);
    return text[pick];
}

/* ---- launching ---- */

/* one kernel slot per device: GEMV of 1, 2, 4, 8, 16 rows, the scalar GEMV, the tiled GEMM */
enum { K_GEMV = 0, K_SCALAR = 5, K_GEMM = 6, NKERNELS = 7 };
static void *slots[MAX_DEVICES][NKERNELS];
static const char *const kernel_names[NKERNELS] = {"linear_f16_gemv_r1", "linear_f16_gemv_r2", "linear_f16_gemv_r4",
                                                   "linear_f16_gemv_r8", "linear_f16_gemv_r16", "linear_f16_gemv_scalar",
                                                   "linear_f16_gemm_tiled"};

static int gemv_rows_limit(void) {
    const char *v = getenv("MLCC_VULKAN_GEMV_ROWS");
    int n = v && *v ? atoi(v) : 16;
    return n < 0 ? 0 : n;
}

static int launch(int id, int which, const char *glsl, const uint32_t grid[3], const uint32_t block[3], const void *x,
                  const void *w, void *y, const uint32_t elem[3], const uint32_t *dims, int ndims) {
    uint32_t push[10] = {0}; /* ox, ow, oy, gx (the runtime's), then dims */
    memcpy(push + 4, dims, sizeof *dims * (size_t)ndims);
    void *bufs[3] = {(void *)x, (void *)w, y};
    uint32_t bytes = (uint32_t)(4 * (4 + ndims) + 7) / 8 * 8;
    return mlcc_vulkan_hooks()->launch(&slots[id][which], id, glsl, kernel_names[which], grid, block, bufs, elem, 3, push,
                                       bytes);
}

int mlcc_vulkan_linear_f16(int device_id, const float *x, const uint16_t *w, float *y, int64_t rows, int64_t out,
                           int64_t in) {
    if (rows <= 0 || out <= 0 || in <= 0 || out > 0x7fffffff || in > 0x7fffffff)
        return mlcc_set_error("mlcc.vulkan.linear_f16: bad shape %lld x %lld x %lld", (long long)rows, (long long)out,
                              (long long)in);
    if (device_id < 0 || device_id >= MAX_DEVICES) return mlcc_set_error("mlcc.vulkan.linear_f16: vulkan:%d out of range", device_id);
    /* device pointers are offsets in a private address space whose blocks start 4096-aligned,
     * so pointer alignment is offset alignment */
    int vec = in % 8 == 0 && ((uintptr_t)x | (uintptr_t)w) % 16 == 0;
    uint32_t n = (uint32_t)out, k = (uint32_t)in;
    if (vec && rows > gemv_rows_limit()) {
        if ((out + TILE - 1) / TILE > 65535 || (rows + TILE - 1) / TILE > 65535)
            return mlcc_set_error("mlcc.vulkan.linear_f16: %lld x %lld is too large for one launch", (long long)rows,
                                  (long long)out);
        uint32_t grid[3] = {(uint32_t)((out + TILE - 1) / TILE), (uint32_t)((rows + TILE - 1) / TILE), 1};
        uint32_t block[3] = {256, 1, 1}, elem[3] = {16, 16, 4}, dims[3] = {(uint32_t)rows, n, k};
        return launch(device_id, K_GEMM, gemm_source, grid, block, x, w, y, elem, dims, 3);
    }
    uint32_t grid[3] = {(uint32_t)((out + GEMV_OUTS - 1) / GEMV_OUTS), 1, 1}, block[3] = {LANES, GEMV_OUTS, 1};
    uint32_t dims[2] = {n, k};
    for (int64_t r = 0; r < rows;) {
        int64_t left = rows - r;
        int pick = !vec ? 0 : left >= 16 ? 4 : left >= 8 ? 3 : left >= 4 ? 2 : left >= 2 ? 1 : 0, take = 1 << pick;
        const float *xr = x + r * in;
        float *yr = y + r * out;
        int rc = vec ? launch(device_id, K_GEMV + pick, gemv_variant(pick), grid, block, xr, w, yr, (uint32_t[]){16, 16, 4}, dims, 2)
                     : launch(device_id, K_SCALAR, gemv_scalar_source, grid, block, xr, w, yr, (uint32_t[]){4, 2, 4}, dims, 2);
        if (rc) return -1;
        r += take;
    }
    return 0;
}

/* ---- the packed function: (x f32 [..., in], w f16 [out, in], y f32 [..., out]) ---- */

static int linear_f16(const MLCCValue *args, const int *codes, int n, MLCCValue *ret, int *ret_code, void *res) {
    (void)ret, (void)ret_code, (void)res;
    const char *fn = "mlcc.vulkan.linear_f16";
    projection_args p;
    if (projection_args_read(fn, kDLVulkan, "Vulkan", "x, w and y", args, codes, n, 1, &p)) return -1;
    const DLTensor *w = p.w[0];
    if (!projection_is_dtype(p.x, kDLFloat, 32) || !projection_is_dtype(w, kDLFloat, 16) || !projection_is_dtype(p.y, kDLFloat, 32))
        return mlcc_set_error("%s: wants float32 x, float16 w, float32 y", fn);
    if (w->ndim != 2 || w->shape[1] != p.in || w->shape[0] != p.out)
        return mlcc_set_error("%s: shapes do not match x[..., in] @ w[out, in]^T = y[..., out]", fn);
    if (p.rows == 0) return 0;
    return mlcc_vulkan_linear_f16(w->device.device_id, projection_data(p.x), projection_data(w), projection_data(p.y), p.rows, p.out, p.in);
}

MLCC_REGISTER_GLOBAL("mlcc.vulkan.linear_f16", linear_f16)
