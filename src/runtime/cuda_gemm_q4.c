/* cuda_gemm_q4.c - y[rows, out] = x[rows, in] @ W[out, in]^T for 3-64 rows of x (batched decode)
 * with a 4-bit group-quantized W (q4f16_1 / ggml_q4_0 words and float16 scales, as in
 * cuda_linear_q4.c), on tensor cores: the packed words are read once per call and turned into
 * float16 in registers right before mma.sync m16n8k16 (float16 in, float32 accumulate), where the
 * path it replaces wrote the whole weight out as float16 first (14336 x 4096: 105 us a call at
 * any row count) and then read it back through cuBLASLt.
 *
 * Why this layout: mma's B fragment wants, per lane (g = lane / 4, t = lane % 4), four values of
 * output column g at mma-k 2t, 2t+1, 2t+8, 2t+9. A k16 step's sum does not care which actual k
 * stands at which mma-k as long as x (the A fragment) uses the same map, so lane t is given a
 * whole group of 32 values of its row (one 16-byte load: four words, one scale), and its 8 k16
 * steps take the word's nibbles in the pairs (0, 4), (1, 5) then (2, 6), (3, 7): the pairs that
 * `(v >> s) & 0x000F000F | 0x64006400` turns into a half2 of 1024 + q in one lop3. x is staged in
 * shared memory as float16 in the same order (x0 x4 x1 x5 x2 x6 x3 x7 per 8 values), rows of 18
 * words and group planes 8 words off a bank multiple, so the A fragments load without conflicts.
 *
 * A block (8 warps) takes 128 outputs (a warp 16: two n8 tiles) and all 16-64 rows (1-4 m16
 * tiles) over a range of K; the K ranges of one output tile are split over a thread-block
 * cluster of S = 1, 2, 4 or 8 blocks (sm_90) so the 4096-output projections still fill the
 * device, and the S partial tiles meet through distributed shared memory in a fixed order: no
 * workspace, no second launch, no atomics (results do not depend on timing). Each round a warp
 * loads the next round's P = 2 slices (128 values of K each) of weights, and for up to 32 rows
 * the next round's x, while it computes this one (staging the weights by cp.async three rounds
 * ahead instead was slower on the H200, session 35, and was removed). Rows beyond 64 go through
 * in chunks of 64 (prefill: slower than dequantize + cuBLASLt, so only when
 * MLCC_CUDA_Q4_MMA_ROWS is raised). Wants in % 32 == 0 and 16-byte aligned x and q_weight.
 *
 * A second set of kernels (`_half`) reads x and the residual and writes y as float16: prefill's
 * half activations (transform/half_activations.c) at a short prompt's rows. x was rounded to
 * float16 for the mma anyway, and y is the float32 sum (plus r) rounded once, so the results are
 * the bits of widening x and r to float32 around the float32 kernel and rounding its y, without
 * those three conversion kernels a projection (session 36: a 16-token prompt's TTFT took 5.2-5.4
 * ms with them against 4.7 ms with float32 activations). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "runtime/cuda.h"
#include "runtime/cuda_gemm_q4.h"
#include "support/error.h"
#include "support/hashmap.h"

static const char *const kernel_source =
    "#include <cuda_fp16.h>\n"
    "__device__ __forceinline__ uint4 ld_stream16(const void *p) {\n"
    "    uint4 v;\n"
    "    asm(\"ld.global.nc.L1::no_allocate.v4.u32 {%0, %1, %2, %3}, [%4];\" : \"=r\"(v.x), \"=r\"(v.y), \"=r\"(v.z), \"=r\"(v.w) : \"l\"(p));\n"
    "    return v;\n"
    "}\n"
    "__device__ __forceinline__ unsigned h2u(__half2 h) { return *reinterpret_cast<unsigned *>(&h); }\n"
    "/* the nibbles at bits 0-3 and 16-19 of v as the half2 (q - zero) * s: 1024 + q exactly (the\n"
    " * exponent of 1024 in float16), minus 1024 + zero exactly, one rounding in the product */\n"
    "__device__ __forceinline__ unsigned dequant2(unsigned v, __half2 z, __half2 s) {\n"
    "    unsigned h = (v & 0x000F000Fu) | 0x64006400u;\n"
    "    return h2u(__hmul2(__hsub2(*reinterpret_cast<__half2 *>(&h), z), s));\n"
    "}\n"
    "__device__ __forceinline__ void mma16816(float (&c)[4], const unsigned (&a)[4], unsigned b0, unsigned b1) {\n"
    "    asm volatile(\"mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};\"\n"
    "                 : \"+f\"(c[0]), \"+f\"(c[1]), \"+f\"(c[2]), \"+f\"(c[3])\n"
    "                 : \"r\"(a[0]), \"r\"(a[1]), \"r\"(a[2]), \"r\"(a[3]), \"r\"(b0), \"r\"(b1));\n"
    "}\n"
    "__device__ __forceinline__ void cluster_barrier() {\n"
    "    asm volatile(\"barrier.cluster.arrive.release.aligned;\\n\\tbarrier.cluster.wait.acquire.aligned;\" ::: \"memory\");\n"
    "}\n"
    "/* a float of block `rank`'s shared memory at the address this block has it at */\n"
    "__device__ __forceinline__ float ld_cluster(const float *p, unsigned rank) {\n"
    "    unsigned a = (unsigned)__cvta_generic_to_shared(p), r;\n"
    "    float v;\n"
    "    asm volatile(\"mapa.shared::cluster.u32 %0, %1, %2;\" : \"=r\"(r) : \"r\"(a), \"r\"(rank));\n"
    "    asm volatile(\"ld.shared::cluster.f32 %0, [%1];\" : \"=f\"(v) : \"r\"(r) : \"memory\");\n"
    "    return v;\n"
    "}\n"
    "/* one round's weights for a lane: P slices x J n8 tiles of a group (16 bytes) and its scale */\n"
    "template <int P, int J>\n"
    "__device__ __forceinline__ void load_round(uint4 (&q)[P][J], __half2 (&sc)[P][J], const unsigned *__restrict__ qw,\n"
    "                                           const __half *__restrict__ qs, int row0, int s0, int s_end, int t, int N,\n"
    "                                           int G, int W) {\n"
    "#pragma unroll\n"
    "    for (int p = 0; p < P; p++)\n"
    "#pragma unroll\n"
    "        for (int j = 0; j < J; j++) {\n"
    "            int row = row0 + j * 8, grp = (s0 + p) * 4 + t;\n"
    "            row = row < N ? row : N - 1; /* a tail tile repeats the last row, unwritten */\n"
    "            const bool ok = s0 + p < s_end && grp < G; /* else zero weights: scale 0 */\n"
    "            q[p][j] = ok ? ld_stream16(qw + (long long)row * W + 4 * grp) : make_uint4(0u, 0u, 0u, 0u);\n"
    "            sc[p][j] = __half2half2(ok ? qs[(long long)row * G + grp] : __float2half(0.f));\n"
    "        }\n"
    "}\n"
    "/* x for a round, CH = P * MT chunks of 8 values a thread: slice p, row m, chunk of 16 in the slice.\n"
    " * H: x is float16, a chunk's 8 halves in one 16-byte load kept as the bits of xa (xb unused). */\n"
    "template <int CH, int MT, int H>\n"
    "__device__ __forceinline__ void load_x(float4 (&xa)[CH], float4 (&xb)[CH], const void *__restrict__ x, int M, int K,\n"
    "                                       int s0, int s_end, int c0 = 0) {\n"
    "#pragma unroll\n"
    "    for (int i = 0; i < CH; i++) {\n"
    "        const int c = c0 + threadIdx.x + i * 256, chunk = c & 15, m = (c >> 4) % (MT * 16), p = (c >> 4) / (MT * 16);\n"
    "        const int k = (s0 + p) * 128 + chunk * 8;\n"
    "        xa[i] = xb[i] = make_float4(0.f, 0.f, 0.f, 0.f);\n"
    "        if (m < M && s0 + p < s_end && k < K) {\n"
    "            if (H) {\n"
    "                const uint4 v = __ldg(reinterpret_cast<const uint4 *>(static_cast<const __half *>(x) + (long long)m * K + k));\n"
    "                xa[i] = make_float4(__uint_as_float(v.x), __uint_as_float(v.y), __uint_as_float(v.z), __uint_as_float(v.w));\n"
    "            } else {\n"
    "                const float4 *xp = reinterpret_cast<const float4 *>(static_cast<const float *>(x) + (long long)m * K + k);\n"
    "                xa[i] = __ldg(xp), xb[i] = __ldg(xp + 1);\n"
    "            }\n"
    "        }\n"
    "    }\n"
    "}\n"
    "/* ... as float16 into the group planes, each 8 values in the order x0 x4 x1 x5 x2 x6 x3 x7 (from\n"
    " * halves: the same values, so the same bits as rounding their float32 widening) */\n"
    "template <int CH, int MT, int PLANE, int H>\n"
    "__device__ __forceinline__ void store_x(const float4 (&xa)[CH], const float4 (&xb)[CH], unsigned *smem, int c0 = 0) {\n"
    "#pragma unroll\n"
    "    for (int i = 0; i < CH; i++) {\n"
    "        const int c = c0 + threadIdx.x + i * 256, chunk = c & 15, m = (c >> 4) % (MT * 16), p = (c >> 4) / (MT * 16);\n"
    "        const float4 a = xa[i], b = xb[i];\n"
    "        unsigned *dst = smem + (p * 4 + (chunk >> 2)) * PLANE + m * 18 + (chunk & 3) * 4;\n"
    "        if (H) { /* words (x0 x1) (x2 x3) (x4 x5) (x6 x7) */\n"
    "            const unsigned w0 = __float_as_uint(a.x), w1 = __float_as_uint(a.y), w2 = __float_as_uint(a.z), w3 = __float_as_uint(a.w);\n"
    "            reinterpret_cast<uint2 *>(dst)[0] = make_uint2(__byte_perm(w0, w2, 0x5410), __byte_perm(w0, w2, 0x7632));\n"
    "            reinterpret_cast<uint2 *>(dst)[1] = make_uint2(__byte_perm(w1, w3, 0x5410), __byte_perm(w1, w3, 0x7632));\n"
    "        } else {\n"
    "            reinterpret_cast<uint2 *>(dst)[0] = make_uint2(h2u(__floats2half2_rn(a.x, b.x)), h2u(__floats2half2_rn(a.y, b.y)));\n"
    "            reinterpret_cast<uint2 *>(dst)[1] = make_uint2(h2u(__floats2half2_rn(a.z, b.z)), h2u(__floats2half2_rn(a.w, b.w)));\n"
    "        }\n"
    "    }\n"
    "}\n"
    "/* shared memory in words: the x planes, which the partial tile reuses */\n"
    "template <int MT> __host__ __device__ constexpr int x_words() { return 2 * 4 * (288 * MT + 8) > MT * 2048 ? 2 * 4 * (288 * MT + 8) : MT * 2048; }\n"
    "/* H: x, res and y are float16 (prefill's half activations), else float32 */\n"
    "template <int MT, int S, int H>\n"
    "__device__ __forceinline__ void gemm_q4(const void *__restrict__ x, const unsigned *__restrict__ qw,\n"
    "                                        const __half *__restrict__ qs, void *__restrict__ y,\n"
    "                                        const void *__restrict__ res, int M, int N, int K, int zero, unsigned *shared) {\n"
    "    constexpr int P = 2, J = 2, PLANE = 288 * MT + 8; /* words a group plane: MT * 16 rows of 18 */\n"
    "    constexpr bool XPRE = MT <= 2; /* x loaded a round ahead too (registers allow two blocks an SM) */\n"
    "    unsigned *const smem = shared; /* x planes, then the partial tile */\n"
    "    const int G = K >> 5, W = K >> 3, slices = (G + 3) >> 2;\n"
    "    const int rank = S > 1 ? (int)(blockIdx.x % S) : 0, n0 = (int)(blockIdx.x / S) * 128;\n"
    "    const int per = (slices + S - 1) / S, s_begin = rank * per, s_end = min(slices, s_begin + per);\n"
    "    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;\n"
    "    const __half2 z2 = __float2half2_rn(1024.f + (float)zero);\n"
    "    float acc[MT][J][4];\n"
    "#pragma unroll\n"
    "    for (int mt = 0; mt < MT; mt++)\n"
    "#pragma unroll\n"
    "        for (int j = 0; j < J; j++)\n"
    "#pragma unroll\n"
    "            for (int e = 0; e < 4; e++) acc[mt][j][e] = 0.f;\n"
    "    float4 xa[P * MT], xb[P * MT];\n"
    "    if (XPRE) load_x<P * MT, MT, H>(xa, xb, x, M, K, s_begin, s_end);\n"
    "    uint4 qn[P][J];\n"
    "    __half2 sn[P][J];\n"
    "    load_round<P, J>(qn, sn, qw, qs, n0 + warp * 8 * J + g, s_begin, s_end, t, N, G, W);\n"
    "    for (int s0 = s_begin; s0 < s_end; s0 += P) {\n"
    "        uint4 q[P][J];\n"
    "        __half2 sc[P][J];\n"
    "#pragma unroll\n"
    "        for (int p = 0; p < P; p++)\n"
    "#pragma unroll\n"
    "            for (int j = 0; j < J; j++) q[p][j] = qn[p][j], sc[p][j] = sn[p][j];\n"
    "        if (s0 + P < s_end) /* the next round's weights in flight while this one computes */\n"
    "            load_round<P, J>(qn, sn, qw, qs, n0 + warp * 8 * J + g, s0 + P, s_end, t, N, G, W);\n"
    "        __syncthreads(); /* the last round's steps have read their x */\n"
    "        if (XPRE) store_x<P * MT, MT, PLANE, H>(xa, xb, smem);\n"
    "        else /* a chunk at a time: 64 registers of x would halve the blocks an SM */\n"
    "            for (int i = 0; i < P * MT; i++) {\n"
    "                float4 a[1], b[1];\n"
    "                load_x<1, MT, H>(a, b, x, M, K, s0, s_end, i * 256);\n"
    "                store_x<1, MT, PLANE, H>(a, b, smem, i * 256);\n"
    "            }\n"
    "        if (XPRE && s0 + P < s_end) load_x<P * MT, MT, H>(xa, xb, x, M, K, s0 + P, s_end); /* the next round's x in flight */\n"
    "        __syncthreads();\n"
    "#pragma unroll\n"
    "        for (int p = 0; p < P; p++) {\n"
    "            const unsigned *xs = smem + (p * 4 + t) * PLANE;\n"
    "#pragma unroll\n"
    "            for (int i = 0; i < 8; i++) {\n"
    "                unsigned a[MT][4];\n"
    "#pragma unroll\n"
    "                for (int mt = 0; mt < MT; mt++) {\n"
    "                    const uint2 lo = *reinterpret_cast<const uint2 *>(xs + (mt * 16 + g) * 18 + 2 * i);\n"
    "                    const uint2 hi = *reinterpret_cast<const uint2 *>(xs + (mt * 16 + g + 8) * 18 + 2 * i);\n"
    "                    a[mt][0] = lo.x, a[mt][1] = hi.x, a[mt][2] = lo.y, a[mt][3] = hi.y;\n"
    "                }\n"
    "#pragma unroll\n"
    "                for (int j = 0; j < J; j++) {\n"
    "                    const int w = i >> 1;\n"
    "                    unsigned v = w == 0 ? q[p][j].x : w == 1 ? q[p][j].y : w == 2 ? q[p][j].z : q[p][j].w;\n"
    "                    v >>= (i & 1) * 8; /* even steps: nibbles (0, 4), (1, 5); odd: (2, 6), (3, 7) */\n"
    "                    const unsigned b0 = dequant2(v, z2, sc[p][j]), b1 = dequant2(v >> 4, z2, sc[p][j]);\n"
    "#pragma unroll\n"
    "                    for (int mt = 0; mt < MT; mt++) mma16816(acc[mt][j], a[mt], b0, b1);\n"
    "                }\n"
    "            }\n"
    "        }\n"
    "    }\n"
    "    /* the block's [MT * 16, 128] partial tile in shared memory, then each block of the cluster\n"
    "     * sums 1 / S of it over the S blocks (in rank order) and writes y */\n"
    "    __syncthreads();\n"
    "    float *red = reinterpret_cast<float *>(smem);\n"
    "#pragma unroll\n"
    "    for (int mt = 0; mt < MT; mt++)\n"
    "#pragma unroll\n"
    "        for (int j = 0; j < J; j++) {\n"
    "            const int col = warp * 8 * J + j * 8 + 2 * t, row = mt * 16 + g;\n"
    "            red[row * 128 + col] = acc[mt][j][0], red[row * 128 + col + 1] = acc[mt][j][1];\n"
    "            red[(row + 8) * 128 + col] = acc[mt][j][2], red[(row + 8) * 128 + col + 1] = acc[mt][j][3];\n"
    "        }\n"
    "    if (S > 1) cluster_barrier();\n"
    "    else __syncthreads();\n"
    "    constexpr int E = MT * 16 * 128 / S;\n"
    "    for (int e = rank * E + threadIdx.x; e < (rank + 1) * E; e += 256) {\n"
    "        const int m = e >> 7, n = n0 + (e & 127);\n"
    "        if (m >= M || n >= N) continue;\n"
    "        float v = 0.f;\n"
    "#pragma unroll\n"
    "        for (int r = 0; r < S; r++) v += S > 1 ? ld_cluster(red + e, (unsigned)r) : red[e];\n"
    "        const long long i = (long long)m * N + n;\n"
    "        if (H) /* the float32 sum (plus r) rounded once, as a float32 y rounded afterwards */\n"
    "            static_cast<__half *>(y)[i] = __float2half_rn(res ? v + __half2float(static_cast<const __half *>(res)[i]) : v);\n"
    "        else /* the residual add after the projection, when given */\n"
    "            static_cast<float *>(y)[i] = res ? v + static_cast<const float *>(res)[i] : v;\n"
    "    }\n"
    "    if (S > 1) cluster_barrier(); /* no block leaves while another still reads its tile */\n"
    "}\n"
    "/* names: mlcc_gemm_q4[_half]_MT_S */\n"
    "#define GEMM_Q4F(MT, S, NAME, H) extern \"C\" __global__ void __cluster_dims__(S, 1, 1) __launch_bounds__(256) mlcc_gemm_q4##NAME##_##MT##_##S(\\\n"
    "    const void *x, const unsigned *qw, const __half *qs, void *y, const void *res, int M, int N, int K, int zero) {\\\n"
    "    __shared__ __align__(16) unsigned smem[x_words<MT>()];\\\n"
    "    gemm_q4<MT, S, H>(x, qw, qs, y, res, M, N, K, zero, smem); }\n"
    "#define GEMM_Q4(MT, S) GEMM_Q4F(MT, S, , 0) GEMM_Q4F(MT, S, _half, 1)\n"
    "GEMM_Q4(1, 1)\nGEMM_Q4(1, 2)\nGEMM_Q4(1, 4)\nGEMM_Q4(1, 8)\n"
    "GEMM_Q4(2, 1)\nGEMM_Q4(2, 2)\nGEMM_Q4(2, 4)\nGEMM_Q4(2, 8)\n"
    "GEMM_Q4(3, 1)\nGEMM_Q4(3, 2)\nGEMM_Q4(3, 4)\nGEMM_Q4(3, 8)\n"
    "GEMM_Q4(4, 1)\nGEMM_Q4(4, 2)\nGEMM_Q4(4, 4)\nGEMM_Q4(4, 8)\n";

const char *mlcc_cuda_gemm_q4_kernel_source(void) {
    return kernel_source;
}

enum { MAX_DEVICES = 16, TILE_ROWS = 64, TILE_OUT = 128 };

typedef struct gemm_device {
    mlcc_cuda_module *module;
    void *kernel[2][4][4]; /* [float32, float16 x, res and y][m16 tiles - 1][log2 blocks a cluster] */
} gemm_device;

static gemm_device devices[MAX_DEVICES];
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static int device_ready(int id, gemm_device **out) {
    if (id < 0 || id >= MAX_DEVICES) return mlcc_set_error("mlcc.cuda.gemm_q4: device %d out of range", id);
    gemm_device *d = &devices[id];
    *out = d;
    if (d->kernel[1][3][3]) return 0;
    if (!d->module && !(d->module = mlcc_cuda_module_load_source(id, kernel_source)))
        return mlcc_prefix_error("mlcc.cuda.gemm_q4 kernels");
    for (int h = 0; h < 2; h++)
        for (int m = 0; m < 4; m++)
            for (int s = 0; s < 4; s++) {
                char name[64];
                snprintf(name, sizeof name, "mlcc_gemm_q4%s_%d_%d", h ? "_half" : "", m + 1, 1 << s);
                if (!(d->kernel[h][m][s] = mlcc_cuda_module_kernel(d->module, name))) return -1;
            }
    return 0;
}

int mlcc_cuda_gemm_q4_rows(void) {
    const char *v = getenv("MLCC_CUDA_Q4_MMA_ROWS"); /* read per call: tests and benches switch it */
    int n = v && *v ? atoi(v) : TILE_ROWS;
    return n < 0 ? 0 : n;
}

/* Blocks a cluster: the fewest that give two blocks per multiprocessor (132 on the H100 and
 * H200) while each block still gets two rounds of P slices of K. */
static int cluster_blocks(int64_t out, int64_t in) {
    int64_t tiles = (out + TILE_OUT - 1) / TILE_OUT, slices = (in / 32 + 3) / 4, p = 2;
    int s = 1;
    while (s < 8 && tiles * s < 264 && slices >= 2 * p * (s * 2)) s *= 2;
    return s;
}

int mlcc_cuda_gemm_q4(int device_id, const void *x, const uint32_t *qw, const uint16_t *qs, const void *res, void *y,
                      int64_t rows, int64_t out, int64_t in, int zero_point, int half) {
    if (rows <= 0 || out <= 0 || in <= 0 || in % 32 || out > 0x7fffffff || in > 0x7fffffff || ((uintptr_t)x | (uintptr_t)qw) % 16)
        return mlcc_set_error("mlcc.cuda.gemm_q4: unsupported shape %lld x %lld x %lld or alignment", (long long)rows,
                              (long long)out, (long long)in);
    pthread_mutex_lock(&lock);
    gemm_device *d = NULL;
    int rc = device_ready(device_id, &d);
    pthread_mutex_unlock(&lock);
    if (rc) return rc;
    double t0 = mlcc_cuda_profiling() ? mlcc_cuda_profile_begin(device_id) : 0;
    int n = (int)out, k = (int)in;
    size_t size = half ? 2 : 4; /* bytes a value of x, res and y */
    for (int64_t r = 0; r < rows && rc == 0; r += TILE_ROWS) {
        int m = (int)(rows - r < TILE_ROWS ? rows - r : TILE_ROWS), mt = (m + 15) / 16;
        int s = cluster_blocks(out, in), ls = s == 1 ? 0 : s == 2 ? 1 : s == 4 ? 2 : 3;
        uint32_t grid[3] = {(uint32_t)((out + TILE_OUT - 1) / TILE_OUT * s), 1, 1}, block[3] = {256, 1, 1};
        const void *xr = (const char *)x + (size_t)(r * in) * size, *rr = res ? (const char *)res + (size_t)(r * out) * size : NULL;
        void *yr = (char *)y + (size_t)(r * out) * size;
        void *args[] = {&xr, &qw, &qs, &yr, &rr, &m, &n, &k, &zero_point};
        rc = mlcc_cuda_launch(device_id, d->kernel[half != 0][mt - 1][ls], grid, block, 0, args);
    }
    if (t0 > 0) {
        char name[96];
        snprintf(name, sizeof name, "linear_q4 (mma GEMM%s) rows %lld, %lld x %lld", half ? ", half" : "", (long long)rows, (long long)out,
                 (long long)in);
        mlcc_cuda_profile_end(device_id, mlcc_intern(name), t0);
    }
    return rc;
}
