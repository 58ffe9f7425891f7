/* cuda_decode_attention.c - decode attention (one new token per sequence, fewer sequences than
 * the batched flash path takes) over the paged KV cache in ONE kernel: the keys of a (sequence,
 * KV head) are split over blocks (flash-decoding) and the last block of the pair to finish
 * merges the splits, so the generated pair (split kernel, then merge kernel) becomes one
 * launch; q's rope is applied while q is loaded, and the KV append can be folded in (the block
 * that owns the sequence's last key takes it from k / v and stores it into its page).
 *
 * Why hand-written (issue 17: hand-written CUDA "only where TIR cannot express it yet"): the
 * merge needs a global atomic counter per (sequence, KV head) and a memory fence between the
 * blocks' partial results and the last block's reads (the threadFenceReduction pattern); our
 * TIR has neither atomics nor fences, nor a way to end a block early on a data-dependent test.
 *
 * Layout: block (split, KV head, sequence) of 4 warps; a K/V row is read by D/8 lanes (padded
 * to a power of two), 8 values each (16-byte loads of half pages), so a warp takes 32 / TR keys
 * at once and a lane keeps 4 rounds of keys' loads in flight (2 for groups of 8) before using
 * them; every lane holds the G query heads of the KV head's group, so a K/V row is read once
 * per group. Per lane group an online softmax in float32 (expf, as the generated kernel); the
 * lane groups meet through shuffles, the warps through shared memory. A sequence takes
 * min(splits, ceil(keys / min_keys)) splits (blocks past that return at once), splits chosen
 * per step from the longest sequence and the multiprocessor count (two blocks per
 * multiprocessor over batch x KV heads: one wave), so a short context does not pay for 32
 * splits. The partials (float32 acc, max, sum per head) and the counters live in a workspace
 * of the KV cache; the merging block resets its counter, so the kernel can be replayed in a
 * CUDA graph. With MLCC_CUDA_DECODE_CLUSTER=1 (sm_90) the splits of a pair are instead one
 * thread-block cluster whose partials meet in distributed shared memory (measured slower on
 * the H100, so off by default; docs/cuda.md). Float32 arithmetic throughout (q, K, V as
 * stored): the generated kernel's numbers to float rounding, for float32 and float16 models.
 *
 * For one sequence with float32 out, the block that writes a pair's output also rounds it to
 * int8 groups for the 4-bit o_proj after it (round_out_x8, mlcc_cuda_offer_x8): one rounding
 * kernel a layer fewer, +1.4-4% batch-1 4-bit decode on the H200 (session 33; docs/cuda.md);
 * MLCC_CUDA_DECODE_XQ=0 turns it off.
 *
 * Also here: q rotated by the rope table (into a buffer of the KV cache), for the steps the
 * decode kernel does not serve (prefill, batched decode, shapes it does not cover) when the
 * graph hands the cache an unrotated q (transform/fuse_rope_q.c).
 *
 * Tests: test_cuda_decode_attention (against float64 on the GPU; without one,
 * bench/cuda_emu/run_decode.sh runs it with this source on the CPU). */
#include "runtime/cuda_decode_attention.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/cuda.h"
#include "runtime/cuda_api.h"
#include "runtime/cuda_pdl.h"
#include "support/alloc.h"
#include "support/env.h"
#include "support/error.h"
#include "support/log.h"
#include "support/strbuf.h"

static const char *const kernel_source =
    "#include <cuda_fp16.h>\n"
    "/* Decode attention in one kernel (see cuda_decode_attention.c). Block (split s, KV head, sequence)\n"
    " * of NW warps; a K/V row is read by TR lanes, 8 values each (16 bytes of half, 32 of float), so\n"
    " * a warp takes KPW = 32 / TR keys at once and every lane group keeps U keys' loads in flight.\n"
    " * DEC_D (head_dim), DEC_KV (the page type) and DEC_NW (warps a block) are defined before this\n"
    " * source; DEC_PDL where the module is declared for programmatic dependent launch. */\n"
    "/* warps a block of group GM: DEC_NW, fewer where their partial sums (NW x GM x D floats of shared\n"
    " * memory) would pass 32 KB */\n"
    "__host__ __device__ constexpr int dec_warps(int GM, int D) {\n"
    "    return DEC_NW * GM * D <= 8192 ? DEC_NW : 8192 / (GM * D) > 0 ? 8192 / (GM * D) : 1;\n"
    "}\n"
    "#define SMAX 64\n"
    "#define NEG_INF __int_as_float(0xff800000)\n"
    "#define FULL 0xffffffffu\n"
    "\n"
    "struct decode_params {\n"
    "    const float *q;\n"
    "    void *pages;\n"
    "    const int *page_indptr, *page_indices, *last_page_len;\n"
    "    float *out;\n"
    "    const double *table;\n"
    "    const float *k, *v;\n"
    "    const int *slots;\n"
    "    float *part_acc, *part_ml;\n"
    "    int *counters;\n"
    "    long long window;\n"
    "    long long q_stride, kv_stride; /* floats from one sequence's q (k, v) row to the next */\n"
    "    float scale, softcap;\n"
    "    int QH, KVH, PS, G, S, min_keys, rope_q, rope_k, fold;\n"
    "    int D, pages_f16; /* (the module's DEC_D and page type: for checks and the CPU emulation) */\n"
    "    int cluster; /* the S blocks of a (sequence, KV head) are a thread-block cluster: merge through DSMEM */\n"
    "    int out_f16; /* out holds half values (the next projection's x: transform/half_activations.c) */\n"
    "    int *xq; /* not NULL (one sequence, float out): out also rounded to int8 groups here (round_out_x8) */\n"
    "};\n"
    "/* out[i], float32 or rounded to half; put_out4: out[4 c .. 4 c + 4) from obase, 16-byte aligned */\n"
    "__device__ __forceinline__ void put_out(const decode_params &p, long long i, float v) {\n"
    "    if (p.out_f16) reinterpret_cast<__half *>(p.out)[i] = __float2half_rn(v);\n"
    "    else p.out[i] = v;\n"
    "}\n"
    "__device__ __forceinline__ void put_out4(const decode_params &p, long long obase, int c, float4 a) {\n"
    "    if (p.out_f16) {\n"
    "        __half2 h[2] = {__floats2half2_rn(a.x, a.y), __floats2half2_rn(a.z, a.w)};\n"
    "        reinterpret_cast<uint2 *>(reinterpret_cast<__half *>(p.out) + obase)[c] = *reinterpret_cast<uint2 *>(h);\n"
    "    } else {\n"
    "        reinterpret_cast<float4 *>(p.out + obase)[c] = a;\n"
    "    }\n"
    "}\n"
    "\n"
    "/* 8 values of a K / V row as loaded (half pages: 4 registers, not 8), converted to float where\n"
    " * they are used: a V row once for all G heads */\n"
    "template <typename KV> struct raw8;\n"
    "template <> struct raw8<float> { float4 a, b; };\n"
    "template <> struct raw8<__half> { uint4 a; };\n"
    "__device__ __forceinline__ void load_raw8(const float *p, raw8<float> &r) {\n"
    "    r.a = *reinterpret_cast<const float4 *>(p), r.b = *reinterpret_cast<const float4 *>(p + 4);\n"
    "}\n"
    "__device__ __forceinline__ void load_raw8(const __half *p, raw8<__half> &r) { r.a = *reinterpret_cast<const uint4 *>(p); }\n"
    "__device__ __forceinline__ void unpack8(const raw8<float> &r, float *x) {\n"
    "    x[0] = r.a.x, x[1] = r.a.y, x[2] = r.a.z, x[3] = r.a.w, x[4] = r.b.x, x[5] = r.b.y, x[6] = r.b.z, x[7] = r.b.w;\n"
    "}\n"
    "__device__ __forceinline__ void unpack8(const raw8<__half> &r, float *x) {\n"
    "    const unsigned w[4] = {r.a.x, r.a.y, r.a.z, r.a.w};\n"
    "#pragma unroll\n"
    "    for (int i = 0; i < 4; i++) {\n"
    "        float2 f = __half22float2(*reinterpret_cast<const __half2 *>(&w[i]));\n"
    "        x[2 * i] = f.x, x[2 * i + 1] = f.y;\n"
    "    }\n"
    "}\n"
    "/* x (already rounded to the page type) as loaded values */\n"
    "__device__ __forceinline__ void pack8(const float *x, raw8<float> &r) {\n"
    "    r.a = make_float4(x[0], x[1], x[2], x[3]), r.b = make_float4(x[4], x[5], x[6], x[7]);\n"
    "}\n"
    "__device__ __forceinline__ void pack8(const float *x, raw8<__half> &r) {\n"
    "    unsigned w[4];\n"
    "#pragma unroll\n"
    "    for (int i = 0; i < 4; i++) {\n"
    "        __half2 h = __floats2half2_rn(x[2 * i], x[2 * i + 1]);\n"
    "        w[i] = *reinterpret_cast<unsigned *>(&h);\n"
    "    }\n"
    "    r.a = make_uint4(w[0], w[1], w[2], w[3]);\n"
    "}\n"
    "/* x rounded to the page type (in place) and stored at p */\n"
    "__device__ __forceinline__ void round_store8(float *p, float *x) {\n"
    "    *reinterpret_cast<float4 *>(p) = make_float4(x[0], x[1], x[2], x[3]);\n"
    "    *reinterpret_cast<float4 *>(p + 4) = make_float4(x[4], x[5], x[6], x[7]);\n"
    "}\n"
    "__device__ __forceinline__ void round_store8(__half *p, float *x) {\n"
    "    unsigned w[4];\n"
    "#pragma unroll\n"
    "    for (int i = 0; i < 4; i++) {\n"
    "        __half2 h = __floats2half2_rn(x[2 * i], x[2 * i + 1]);\n"
    "        w[i] = *reinterpret_cast<unsigned *>(&h);\n"
    "        float2 f = __half22float2(h);\n"
    "        x[2 * i] = f.x, x[2 * i + 1] = f.y;\n"
    "    }\n"
    "    *reinterpret_cast<uint4 *>(p) = make_uint4(w[0], w[1], w[2], w[3]);\n"
    "}\n"
    "/* a 128-byte line towards L2 (a hint; nothing on the CPU emulation) */\n"
    "__device__ __forceinline__ void prefetch_l2(const void *p) {\n"
    "#if defined(__CUDA_ARCH__)\n"
    "    asm volatile(\"prefetch.global.L2 [%0];\" ::\"l\"(p));\n"
    "#endif\n"
    "}\n"
    "__device__ __forceinline__ void round_only8(float *x, const float *) {}\n"
    "__device__ __forceinline__ void round_only8(float *x, const __half *) {\n"
    "#pragma unroll\n"
    "    for (int i = 0; i < 8; i++) x[i] = __half2float(__float2half_rn(x[i]));\n"
    "}\n"
    "\n"
    "/* dims [d0, d0 + 8) of row x (D floats) rotated with the table row t (as nn.rope with a table:\n"
    " * NeoX pairs d, d + D/2; float64 arithmetic, rounded to float32) */\n"
    "template <int D>\n"
    "__device__ __forceinline__ void rope8(const float *x, const double *table, long long t, int d0, float *y) {\n"
    "    constexpr int H = D / 2;\n"
    "    const double *cs = table + t * 2 * H, *sn = cs + H;\n"
    "    const int p0 = d0 < H ? d0 + H : d0 - H; /* the partners: contiguous (H is a multiple of 8) */\n"
    "    const double sign = d0 < H ? -1.0 : 1.0;\n"
    "#pragma unroll\n"
    "    for (int e = 0; e < 8; e++) {\n"
    "        int i = (d0 + e) % H;\n"
    "        y[e] = (float)((double)x[d0 + e] * cs[i] + (sign * (double)x[p0 + e]) * sn[i]);\n"
    "    }\n"
    "}\n"
    "\n"
    "/* q (rotated, scaled) for the group's heads of KV head kvh, into shared memory and back as this\n"
    " * lane's 8 dims. The lanes of a block hold the same dims NW * KPW times over: rotating its own\n"
    " * (4 heads x 8 in float64 at GQA 4) was most of a short kernel's instructions, so each element\n"
    " * is rotated once here (the same float64 expression as rope8). */\n"
    "template <int D, int GM, int NT>\n"
    "__device__ __forceinline__ void stage_q(const decode_params &p, int b, int kvh, int d0, bool dims, float (*sq)[D],\n"
    "                                        float (&qv)[GM][8]) {\n"
    "    constexpr int H = D / 2;\n"
    "    const float *qrow = p.q + (long long)b * p.q_stride + (long long)kvh * p.G * D;\n"
    "    const double *cs = p.rope_q ? p.table + (long long)b * 2 * H : nullptr, *sn = cs + H;\n"
    "    for (int i = threadIdx.x; i < p.G * D; i += NT) {\n"
    "        const int g = i / D, d = i % D, k = d % H;\n"
    "        float x;\n"
    "        if (p.rope_q) {\n"
    "            const double x1 = qrow[g * D + k], x2 = qrow[g * D + k + H];\n"
    "            x = d < H ? (float)(x1 * cs[k] + (-1.0 * x2) * sn[k]) : (float)(x2 * cs[k] + (1.0 * x1) * sn[k]);\n"
    "        } else {\n"
    "            x = qrow[i];\n"
    "        }\n"
    "        sq[g][d] = x * p.scale;\n"
    "    }\n"
    "    __syncthreads();\n"
    "#pragma unroll\n"
    "    for (int g = 0; g < GM; g++)\n"
    "#pragma unroll\n"
    "        for (int e = 0; e < 8; e++) qv[g][e] = g < p.G && dims ? sq[g][d0 + e] : 0.f;\n"
    "}\n"
    "\n"
    "#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900\n"
    "#define DEC_CLUSTERS 1\n"
    "/* Thread-block clusters (sm_90): the blocks' partials meet in distributed shared memory, so the\n"
    " * merge needs no global partials, fence, counter or second round trip through L2. */\n"
    "__device__ __forceinline__ void cluster_sync() {\n"
    "    asm volatile(\"barrier.cluster.arrive.release.aligned;\\n\\tbarrier.cluster.wait.acquire.aligned;\" ::: \"memory\");\n"
    "}\n"
    "/* *local in the shared memory of the cluster's block `rank` */\n"
    "__device__ __forceinline__ float ld_cluster(const float *local, unsigned rank) {\n"
    "    unsigned a = (unsigned)__cvta_generic_to_shared(local), r;\n"
    "    float v;\n"
    "    asm volatile(\"mapa.shared::cluster.u32 %0, %1, %2;\" : \"=r\"(r) : \"r\"(a), \"r\"(rank));\n"
    "    asm volatile(\"ld.shared::cluster.f32 %0, [%1];\" : \"=f\"(v) : \"r\"(r) : \"memory\");\n"
    "    return v;\n"
    "}\n"
    "/* The cluster's S blocks (rank = split) each hold a partial (acc [G][D], max, sum per head);\n"
    " * block s merges outputs [s * per, (s + 1) * per) of the pair's G x D over the sb splits with\n"
    " * keys, in the global merge's arithmetic. The second barrier keeps every block's shared memory\n"
    " * alive until all have read it. */\n"
    "template <int D, int GM, int NT>\n"
    "__device__ __forceinline__ void cluster_merge(const float (*acc)[D], const float *pm, const float *pl, int sb, int s,\n"
    "                                              int S, int G, const decode_params &p, long long obase) {\n"
    "    cluster_sync();\n"
    "    const int per = (G * D + S - 1) / S, end = min(G * D, (s + 1) * per);\n"
    "    for (int i = s * per + threadIdx.x; i < end; i += NT) {\n"
    "        const int g = i / D, d = i % D;\n"
    "        float m[16];\n"
    "        float mx = NEG_INF;\n"
    "#pragma unroll\n"
    "        for (int ss = 0; ss < 16; ss++) {\n"
    "            m[ss] = ss < sb ? ld_cluster(&pm[g], ss) : NEG_INF;\n"
    "            mx = fmaxf(mx, m[ss]);\n"
    "        }\n"
    "        const float base = mx == NEG_INF ? 0.f : mx;\n"
    "        float sum = 0.f;\n"
    "        for (int ss = 0; ss < sb; ss++) sum += ld_cluster(&pl[g], ss) * expf(m[ss] - base);\n"
    "        const float inv = sum > 0.f ? 1.f / sum : 0.f;\n"
    "        float a = 0.f;\n"
    "#pragma unroll\n"
    "        for (int ss = 0; ss < 16; ss++)\n"
    "            if (ss < sb) a += ld_cluster(&acc[g][d], ss) * (expf(m[ss] - base) * inv);\n"
    "        put_out(p, obase + i, a);\n"
    "    }\n"
    "    cluster_sync();\n"
    "}\n"
    "#else\n"
    "#define DEC_CLUSTERS 0 /* (and the CPU emulation: the merge through memory) */\n"
    "#endif\n"
    "\n"
    "/* The pair's G x D outputs, just stored by this block, rounded to int8 in groups of 32 into p.xq\n"
    " * for the 4-bit projection that reads them next (o_proj), as cuda_linear_q4.c's mlcc_quantize_x8\n"
    " * lays a row out and with its float steps (bitwise its integers, d and sums): words [groups][8]\n"
    " * (in dp4a order: word 2w the values 8w + 0, 2, 4, 6, word 2w + 1 the odd ones, low byte first),\n"
    " * then d [groups] floats, then the sums [groups] ints. Eight threads a group, four values each;\n"
    " * every thread of the block takes part in each round (the shuffles stay within whole warps). */\n"
    "template <int D, int NT>\n"
    "__device__ __forceinline__ void round_out_x8(const decode_params &p, long long obase, int G) {\n"
    "    if (!p.xq) return;\n"
    "    __syncthreads(); /* the block's stores of out are visible to its threads */\n"
    "    const int lanes = G * D / 4, groups = p.QH * D / 32;\n"
    "    for (int base = 0; base < lanes; base += NT) {\n"
    "        const int i = base + (int)threadIdx.x, li = i & 7;\n"
    "        const float4 v = i < lanes ? reinterpret_cast<const float4 *>(p.out + obase)[i] : make_float4(0.f, 0.f, 0.f, 0.f);\n"
    "        float m = fmaxf(fmaxf(fabsf(v.x), fabsf(v.y)), fmaxf(fabsf(v.z), fabsf(v.w)));\n"
    "#pragma unroll\n"
    "        for (int o = 1; o < 8; o <<= 1) m = fmaxf(m, __shfl_xor_sync(FULL, m, o));\n"
    "        const float id = m > 0.f ? 127.f / m : 0.f, magic = 12582912.f;\n"
    "        const unsigned qx = __float_as_uint(fmaf(v.x, id, magic)) & 255u, qy = __float_as_uint(fmaf(v.y, id, magic)) & 255u;\n"
    "        const unsigned qz = __float_as_uint(fmaf(v.z, id, magic)) & 255u, qw = __float_as_uint(fmaf(v.w, id, magic)) & 255u;\n"
    "        int sum = (int)(signed char)qx + (int)(signed char)qy + (int)(signed char)qz + (int)(signed char)qw;\n"
    "#pragma unroll\n"
    "        for (int o = 1; o < 8; o <<= 1) sum += __shfl_xor_sync(FULL, sum, o);\n"
    "        /* lane 2w holds values 8w + 0..3, lane 2w + 1 8w + 4..7: the pair makes words 2w, 2w + 1 */\n"
    "        const unsigned even = qx | qz << 8, odd = qy | qw << 8;\n"
    "        const unsigned even2 = __shfl_xor_sync(FULL, even, 1), odd2 = __shfl_xor_sync(FULL, odd, 1);\n"
    "        if (i >= lanes) continue;\n"
    "        const long long g = obase / 32 + i / 8;\n"
    "        if ((li & 1) == 0) p.xq[8 * g + li] = (int)(even | even2 << 16), p.xq[8 * g + li + 1] = (int)(odd | odd2 << 16);\n"
    "        if (li == 0) {\n"
    "            reinterpret_cast<float *>(p.xq + 8LL * groups)[g] = m * (1.f / 127.f);\n"
    "            p.xq[9LL * groups + g] = sum;\n"
    "        }\n"
    "    }\n"
    "}\n"
    "\n"
    "template <int D, typename KV, int GM>\n"
    "__device__ __forceinline__ void decode(const decode_params &p) {\n"
    "    constexpr int TR0 = D / 8;                                     /* lanes that hold a row */\n"
    "    constexpr int TR = TR0 <= 2 ? TR0 : TR0 <= 4 ? 4 : TR0 <= 8 ? 8 : TR0 <= 16 ? 16 : 32; /* lanes a key (a power of 2) */\n"
    "    constexpr int KPW = 32 / TR;                                   /* keys a warp takes at once */\n"
    "    constexpr int NW = dec_warps(GM, D), NT = 32 * NW;\n"
    "    constexpr int U0 = (GM >= 8 ? 8 : 16) * DEC_UMUL;\n"
    "    constexpr int U = U0 / NW > 0 ? U0 / NW : 1; /* key rounds in flight */\n"
    "    constexpr int KB = NW * KPW * U;                               /* keys a block takes per pass */\n"
    "    __shared__ float sm_acc[NW][GM][D];\n"
    "    __shared__ float sm_m[NW][GM], sm_l[NW][GM];\n"
    "    __shared__ float sm_w[SMAX][GM], sm_sum[SMAX][GM];\n"
    "    __shared__ float sm_total[GM];\n"
    "    __shared__ int sm_last;\n"
    "    __shared__ float sm_pm[GM], sm_pl[GM]; /* the block's partial (max, sum) per head, for the cluster */\n"
    "    __shared__ float sm_q[GM][D];\n"
    "    const int s = blockIdx.x, kvh = blockIdx.y, b = blockIdx.z, G = p.G;\n"
    "    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, kg = lane / TR, r = lane % TR, d0 = r * 8;\n"
    "    const bool dims = r < TR0;\n"
    "\n"
    "    /* the sequence's keys [lo, len) and this split's part [k0, k1) */\n"
    "    const int pbeg = p.page_indptr[b], npages = p.page_indptr[b + 1] - pbeg;\n"
    "    const int len = (npages - 1) * p.PS + p.last_page_len[b];\n"
    "    const int lo = p.window > 0 ? (int)max(0LL, (long long)len - p.window) : 0, n = len - lo;\n"
    "    const int sb = max(1, min(p.S, (n + p.min_keys - 1) / p.min_keys));\n"
    "    const bool cluster = DEC_CLUSTERS && p.cluster;\n"
    "    if (s >= sb && (!cluster || sb == 1)) return; /* a cluster's idle blocks stay for its barriers */\n"
    "    const int chunk = (n + sb - 1) / sb, k0 = lo + s * chunk, k1 = min(len, k0 + chunk);\n"
    "\n"
    "    /* Before the wait of programmatic dependent launch (when the module declares it: then the\n"
    "     * block may start while the projection before it, q, k, v, drains) it reads only what no\n"
    "     * kernel of this step writes (the step's page tables, uploaded before its first kernel) and\n"
    "     * asks L2 for the K / V rows of its keys (a hint: the new key's slot, written below, is\n"
    "     * among them). */\n"
    "#if defined(DEC_PDL) || defined(DEC_PREFETCH)\n"
    "    {\n"
    "        constexpr int LINES = (D * (int)sizeof(KV) + 127) / 128; /* 128-byte lines a row spans */\n"
    "        const char *pg = reinterpret_cast<const char *>(p.pages);\n"
    "        const long long row = (long long)D * sizeof(KV), page_bytes = 2LL * p.KVH * p.PS * row;\n"
    "        for (int i = threadIdx.x; i < (k1 - k0) * 2 * LINES; i += NT) {\n"
    "            const int j = k0 + i / (2 * LINES), v = (i / LINES) & 1, line = i % LINES;\n"
    "            const long long page = p.page_indices[pbeg + j / p.PS];\n"
    "            prefetch_l2(pg + page * page_bytes + ((long long)(v * p.KVH + kvh) * p.PS + j % p.PS) * row + line * 128);\n"
    "        }\n"
    "        /* and the sequence's row of the rope table (cos, sin: D doubles), which q's staging reads */\n"
    "        if (p.rope_q && threadIdx.x < (D * 8 + 127) / 128)\n"
    "            prefetch_l2(reinterpret_cast<const char *>(p.table + (long long)b * D) + threadIdx.x * 128);\n"
    "    }\n"
    "#endif\n"
    "    KV *pages = reinterpret_cast<KV *>(p.pages);\n"
    "    const long long head_off = (long long)kvh * p.PS * D, v_off = (long long)p.KVH * p.PS * D;\n"
    "    const long long page_stride = 2LL * p.KVH * p.PS * D;\n"
    "    const int *seq_pages = p.page_indices + pbeg;\n"
    "    raw8<KV> kr[U], vr[U];\n"
    "    int key[U];\n"
    "    /* The K / V rows of the keys [j0, j0 + KB) into kr, vr (as loaded; each converted where it is\n"
    "     * used). DEC_EARLY_KV: the first pass's are asked for before q is staged (measured slower). */\n"
    "    auto load_keys = [&](int j0, int part) { /* part: 1 the stored rows, 2 the others, 3 both */\n"
    "#pragma unroll\n"
    "        for (int u = 0; u < U; u++) {\n"
    "            key[u] = j0 + (u * NW + warp) * KPW + kg;\n"
    "            const bool mine = key[u] < k1 && dims, fresh = p.fold && key[u] == len - 1;\n"
    "            if (mine && !fresh) {\n"
    "                if (!(part & 1)) continue;\n"
    "                const long long page = seq_pages[key[u] / p.PS];\n"
    "                const KV *kp = pages + page * page_stride + head_off + (long long)(key[u] % p.PS) * D + d0;\n"
    "                load_raw8(kp, kr[u]);\n"
    "                load_raw8(kp + v_off, vr[u]);\n"
    "                continue;\n"
    "            }\n"
    "            if (!(part & 2)) continue;\n"
    "            float kx[8], vx[8];\n"
    "#pragma unroll\n"
    "            for (int e = 0; e < 8; e++) kx[e] = vx[e] = 0.f;\n"
    "            if (mine) { /* the new token: from k / v, stored into its page */\n"
    "                const float *krow = p.k + (long long)b * p.kv_stride + kvh * D, *vrow = p.v + (long long)b * p.kv_stride + kvh * D;\n"
    "                if (p.rope_k) rope8<D>(krow, p.table, b, d0, kx);\n"
    "                else\n"
    "#pragma unroll\n"
    "                    for (int e = 0; e < 8; e++) kx[e] = krow[d0 + e];\n"
    "#pragma unroll\n"
    "                for (int e = 0; e < 8; e++) vx[e] = vrow[d0 + e];\n"
    "                const int slot = p.slots[b];\n"
    "                if (slot >= 0) {\n"
    "                    KV *kp = pages + (long long)(slot / p.PS) * page_stride + head_off + (long long)(slot % p.PS) * D + d0;\n"
    "                    round_store8(kp, kx);\n"
    "                    round_store8(kp + v_off, vx);\n"
    "                } else {\n"
    "                    round_only8(kx, pages), round_only8(vx, pages);\n"
    "                }\n"
    "            }\n"
    "            pack8(kx, kr[u]), pack8(vx, vr[u]);\n"
    "        }\n"
    "    };\n"
    "    /* DEC_EARLY_KV 2: the first pass's stored K / V rows into registers before the wait, where\n"
    "     * the new key is folded in (p.fold): the rows then come from pages that only earlier steps\n"
    "     * wrote, and those have finished (a step begins with the upload of its page tables, a copy\n"
    "     * that waits for all earlier work; with the early trigger the part before the wait may\n"
    "     * overlap any earlier kernel of this step); the new key's row (from k / v) after it.\n"
    "     * Without the fold an append kernel may have written them just now. */\n"
    "    const bool early_stored = DEC_EARLY_KV == 2 && p.fold;\n"
    "    if (early_stored) load_keys(k0, 1);\n"
    "    mlcc_pdl_wait();\n"
    "    mlcc_pdl_launch_dependents();\n"
    "    if (DEC_EARLY_KV == 1) load_keys(k0, 3);\n"
    "\n"
    "    float qv[GM][8]; /* q after the wait: it is what the kernel before writes */\n"
    "    stage_q<D, GM, NT>(p, b, kvh, d0, dims, sm_q, qv);\n"
    "\n"
    "    float m[GM], l[GM], acc[GM][8];\n"
    "#pragma unroll\n"
    "    for (int g = 0; g < GM; g++) {\n"
    "        m[g] = NEG_INF, l[g] = 0.f;\n"
    "#pragma unroll\n"
    "        for (int e = 0; e < 8; e++) acc[g][e] = 0.f;\n"
    "    }\n"
    "    for (int j0 = k0; j0 < k1; j0 += KB) {\n"
    "        if (j0 != k0 || !DEC_EARLY_KV) load_keys(j0, 3);\n"
    "        else if (DEC_EARLY_KV == 2) load_keys(j0, early_stored ? 2 : 3);\n"
    "        /* scores: each lane's part, summed over the TR lanes of its key */\n"
    "        float sc[U][GM];\n"
    "#pragma unroll\n"
    "        for (int u = 0; u < U; u++) {\n"
    "            float kx[8];\n"
    "            unpack8(kr[u], kx);\n"
    "#pragma unroll\n"
    "            for (int g = 0; g < GM; g++) {\n"
    "                float dot = 0.f;\n"
    "#pragma unroll\n"
    "                for (int e = 0; e < 8; e++) dot += qv[g][e] * kx[e];\n"
    "#pragma unroll\n"
    "                for (int o = TR / 2; o >= 1; o >>= 1) dot += __shfl_xor_sync(FULL, dot, o);\n"
    "                if (p.softcap > 0.f) dot = p.softcap * tanhf(dot / p.softcap);\n"
    "                sc[u][g] = key[u] < k1 ? dot : NEG_INF;\n"
    "            }\n"
    "        }\n"
    "        /* online softmax over the U keys (each V row converted once, for all G heads) */\n"
    "        float base[GM];\n"
    "#pragma unroll\n"
    "        for (int g = 0; g < GM; g++) {\n"
    "            float mx = m[g];\n"
    "#pragma unroll\n"
    "            for (int u = 0; u < U; u++) mx = fmaxf(mx, sc[u][g]);\n"
    "            base[g] = mx == NEG_INF ? 0.f : mx;\n"
    "            const float corr = expf(m[g] - base[g]);\n"
    "            l[g] *= corr;\n"
    "#pragma unroll\n"
    "            for (int e = 0; e < 8; e++) acc[g][e] *= corr;\n"
    "            m[g] = mx;\n"
    "        }\n"
    "#pragma unroll\n"
    "        for (int u = 0; u < U; u++) {\n"
    "            float vx[8];\n"
    "            unpack8(vr[u], vx);\n"
    "#pragma unroll\n"
    "            for (int g = 0; g < GM; g++) {\n"
    "                const float w = expf(sc[u][g] - base[g]);\n"
    "                l[g] += w;\n"
    "#pragma unroll\n"
    "                for (int e = 0; e < 8; e++) acc[g][e] += w * vx[e];\n"
    "            }\n"
    "        }\n"
    "    }\n"
    "    /* the warp's KPW lane groups merged (lanes r, r + TR, ... hold the same dims) */\n"
    "#pragma unroll\n"
    "    for (int o = TR; o < 32; o <<= 1)\n"
    "#pragma unroll\n"
    "        for (int g = 0; g < GM; g++) {\n"
    "            const float mo = __shfl_xor_sync(FULL, m[g], o), lo2 = __shfl_xor_sync(FULL, l[g], o);\n"
    "            const float mx = fmaxf(m[g], mo), base = mx == NEG_INF ? 0.f : mx;\n"
    "            const float c1 = expf(m[g] - base), c2 = expf(mo - base);\n"
    "            l[g] = l[g] * c1 + lo2 * c2;\n"
    "#pragma unroll\n"
    "            for (int e = 0; e < 8; e++) acc[g][e] = acc[g][e] * c1 + __shfl_xor_sync(FULL, acc[g][e], o) * c2;\n"
    "            m[g] = mx;\n"
    "        }\n"
    "    if (kg == 0) {\n"
    "#pragma unroll\n"
    "        for (int g = 0; g < GM; g++) {\n"
    "            if (dims)\n"
    "#pragma unroll\n"
    "                for (int e = 0; e < 8; e++) sm_acc[warp][g][d0 + e] = acc[g][e];\n"
    "            if (r == 0) sm_m[warp][g] = m[g], sm_l[warp][g] = l[g];\n"
    "        }\n"
    "    }\n"
    "    __syncthreads();\n"
    "\n"
    "    /* the block's result: the warps merged; one split: the output, else a partial */\n"
    "    const long long blk = ((long long)b * p.KVH + kvh) * p.S + s;\n"
    "    const long long obase = ((long long)b * p.QH + (long long)kvh * G) * D; /* the pair's first output */\n"
    "    for (int i = threadIdx.x; i < G * D; i += NT) {\n"
    "        const int g = i / D, d = i % D;\n"
    "        float mx = NEG_INF;\n"
    "#pragma unroll\n"
    "        for (int w = 0; w < NW; w++) mx = fmaxf(mx, sm_m[w][g]);\n"
    "        const float base = mx == NEG_INF ? 0.f : mx;\n"
    "        float sum = 0.f, a = 0.f;\n"
    "#pragma unroll\n"
    "        for (int w = 0; w < NW; w++) {\n"
    "            const float c = expf(sm_m[w][g] - base);\n"
    "            sum += sm_l[w][g] * c;\n"
    "            a += sm_acc[w][g][d] * c;\n"
    "        }\n"
    "        if (sb == 1) {\n"
    "            put_out(p, obase + i, sum > 0.f ? a / sum : 0.f);\n"
    "        } else if (cluster) { /* q's staging is done with: its shared memory takes the partial */\n"
    "            sm_q[g][d] = a;\n"
    "            if (d == 0) sm_pm[g] = mx, sm_pl[g] = sum;\n"
    "        } else {\n"
    "            p.part_acc[blk * G * D + i] = a;\n"
    "            if (d == 0) p.part_ml[(blk * G + g) * 2] = mx, p.part_ml[(blk * G + g) * 2 + 1] = sum;\n"
    "        }\n"
    "    }\n"
    "    if (sb == 1) {\n"
    "        round_out_x8<D, NT>(p, obase, G);\n"
    "        return;\n"
    "    }\n"
    "#if DEC_CLUSTERS\n"
    "    if (cluster) {\n"
    "        cluster_merge<D, GM, NT>(sm_q, sm_pm, sm_pl, sb, s, p.S, G, p, obase);\n"
    "        return;\n"
    "    }\n"
    "#endif\n"
    "\n"
    "    /* the last block of the (sequence, KV head) to finish merges the sb partials, then resets\n"
    "     * the counter for the next launch (a layer, a graph replay) */\n"
    "    __threadfence();\n"
    "    __syncthreads();\n"
    "    int *counter = p.counters + (long long)b * p.KVH + kvh;\n"
    "    if (threadIdx.x == 0) {\n"
    "        const int done = atomicAdd(counter, 1);\n"
    "        sm_last = done == sb - 1;\n"
    "        if (sm_last) atomicExch(counter, 0);\n"
    "    }\n"
    "    __syncthreads();\n"
    "    if (!sm_last) return;\n"
    "    __threadfence();\n"
    "    /* every split's (max, sum) loaded at once, one pair a thread (the G threads below used to\n"
    "     * load them in a loop, one round trip after another) */\n"
    "    const long long blk0 = ((long long)b * p.KVH + kvh) * p.S;\n"
    "    for (int i = threadIdx.x; i < sb * G; i += NT) {\n"
    "        const int ss = i / G, g = i % G;\n"
    "        const float2 ml = __ldcg(reinterpret_cast<const float2 *>(p.part_ml) + (blk0 + ss) * G + g);\n"
    "        sm_w[ss][g] = ml.x, sm_sum[ss][g] = ml.y;\n"
    "    }\n"
    "    __syncthreads();\n"
    "    if (threadIdx.x < G) { /* the largest split max of head g and the total weight */\n"
    "        const int g = threadIdx.x;\n"
    "        float mx = NEG_INF, sum = 0.f;\n"
    "        for (int ss = 0; ss < sb; ss++) mx = fmaxf(mx, sm_w[ss][g]);\n"
    "        const float base = mx == NEG_INF ? 0.f : mx;\n"
    "        for (int ss = 0; ss < sb; ss++) sum += sm_sum[ss][g] * expf(sm_w[ss][g] - base);\n"
    "        sm_total[g] = base;\n"
    "        sm_m[0][g] = sum > 0.f ? 1.f / sum : 0.f;\n"
    "    }\n"
    "    __syncthreads();\n"
    "    for (int i = threadIdx.x; i < sb * G; i += NT) {\n"
    "        const int ss = i / G, g = i % G;\n"
    "        sm_w[ss][g] = expf(sm_w[ss][g] - sm_total[g]) * sm_m[0][g];\n"
    "    }\n"
    "    __syncthreads();\n"
    "    constexpr int C4 = D / 4;\n"
    "    for (int c = threadIdx.x; c < G * C4; c += NT) {\n"
    "        const int g = c / C4;\n"
    "        const float4 *src = reinterpret_cast<const float4 *>(p.part_acc + blk0 * G * D) + c;\n"
    "        float4 a = make_float4(0.f, 0.f, 0.f, 0.f);\n"
    "        /* 16 loads in flight: one round trip for up to 16 splits */\n"
    "#pragma unroll 16\n"
    "        for (int ss = 0; ss < sb; ss++) {\n"
    "            const float4 x = __ldcg(src + (long long)ss * G * C4);\n"
    "            const float w = sm_w[ss][g];\n"
    "            a.x += x.x * w, a.y += x.y * w, a.z += x.z * w, a.w += x.w * w;\n"
    "        }\n"
    "        put_out4(p, obase, c, a);\n"
    "    }\n"
    "    round_out_x8<D, NT>(p, obase, G);\n"
    "}\n"
    "\n"
    "#define DECODE(GM)                                                                                     \\\n"
    "    extern \"C\" __global__ void __launch_bounds__(32 * dec_warps(GM, DEC_D)) mlcc_decode_attn_g##GM(const decode_params p) { \\\n"
    "        decode<DEC_D, DEC_KV, GM>(p);                                                                  \\\n"
    "    }\n"
    "DECODE(1)\n"
    "DECODE(2)\n"
    "DECODE(4)\n"
    "DECODE(8)\n";

static const char *const rope_source =
    "/* q [T, QH, D] rotated with the rope table [T, 2, D/2] float64 into out (may be q): a thread per\n"
    " * pair (d, d + D/2), the float64 expression of nn.rope with a table, rounded to float32. */\n"
    "extern \"C\" __global__ void mlcc_rope_q(const float *q, float *out, const double *table, long long pairs, int QH, int D) {\n"
    "    const long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;\n"
    "    if (i >= pairs) return;\n"
    "    const int H = D / 2, k = (int)(i % H);\n"
    "    const long long row = i / H, t = row / QH;\n"
    "    const double c = table[t * 2 * H + k], s = table[(t * 2 + 1) * H + k];\n"
    "    const double x1 = q[row * D + k], x2 = q[row * D + k + H];\n"
    "    out[row * D + k] = (float)(x1 * c + (-1.0 * x2) * s);\n"
    "    out[row * D + k + H] = (float)(x2 * c + (1.0 * x1) * s);\n"
    "}\n";

static const char *const split_source =
    "#include <cuda_fp16.h>\n"
    "/* src [T, w0 + w1 + w2] (float32, or half widened) into three compact float32 arrays one after\n"
    " * the other in dst: [T, w0], [T, w1], [T, w2] (q, k and v of a combined projection); a thread\n"
    " * per element. */\n"
    "__device__ __forceinline__ float widen(float x) { return x; }\n"
    "__device__ __forceinline__ float widen(__half x) { return __half2float(x); }\n"
    "template <typename S> __device__ __forceinline__ void split_columns(const S *src, float *dst, long long T, int w0, int w1, int w2) {\n"
    "    const long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x, W = w0 + w1 + w2;\n"
    "    if (i >= T * W) return;\n"
    "    const long long t = i / W;\n"
    "    int j = (int)(i % W);\n"
    "    float *d = dst;\n"
    "    int w = w0;\n"
    "    if (j >= w0) {\n"
    "        d += T * w0, j -= w0, w = w1;\n"
    "        if (j >= w1) d += T * w1, j -= w1, w = w2;\n"
    "    }\n"
    "    d[t * w + j] = widen(src[i]);\n"
    "}\n"
    "extern \"C\" __global__ void mlcc_split_columns(const float *src, float *dst, long long T, int w0, int w1, int w2) {\n"
    "    split_columns(src, dst, T, w0, w1, w2);\n"
    "}\n"
    "extern \"C\" __global__ void mlcc_split_columns_h(const __half *src, float *dst, long long T, int w0, int w1, int w2) {\n"
    "    split_columns(src, dst, T, w0, w1, w2);\n"
    "}\n";

const char *mlcc_cuda_split_columns_kernel_source(void) {
    return split_source;
}

const char *mlcc_cuda_decode_attention_kernel_source(void) {
    return kernel_source;
}
const char *mlcc_cuda_rope_q_kernel_source(void) {
    return rope_source;
}

/* the kernel's parameter block (struct decode_params in the source: the same layout) */
typedef struct decode_params {
    const float *q;
    void *pages;
    const int32_t *page_indptr, *page_indices, *last_page_len;
    float *out;
    const double *table;
    const float *k, *v;
    const int32_t *slots;
    float *part_acc, *part_ml;
    int32_t *counters;
    long long window;
    long long q_stride, kv_stride;
    float scale, softcap;
    int QH, KVH, PS, G, S, min_keys, rope_q, rope_k, fold;
    int D, pages_f16, cluster, out_f16;
    int *xq;
} decode_params;

enum { MAX_DEVICES = 16, NUM_DIMS = 7, NUM_GROUPS = 4, MAX_SPLITS = 64, MAX_CLUSTER = 16 };
static const int head_dims[NUM_DIMS] = {16, 32, 64, 80, 96, 128, 256};
static const int group_caps[NUM_GROUPS] = {1, 2, 4, 8};

typedef struct decode_module {
    mlcc_cuda_module *module;
    void *kernel[NUM_GROUPS];
    int warps;          /* the module's DEC_NW */
    int cluster_failed; /* a cluster launch failed: the splits merge through memory from then on */
} decode_module;

static decode_module modules[MAX_DEVICES][NUM_DIMS][2]; /* [device][head dim][float32, float16 pages] */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static mlcc_cuda_kernel_once rope_kernel = {.source = rope_source, .name = "mlcc_rope_q"};
static mlcc_cuda_kernel_once split_kernel = {.source = split_source, .name = "mlcc_split_columns"};
static mlcc_cuda_kernel_once split_half_kernel = {.source = split_source, .name = "mlcc_split_columns_h"};

static int dim_index(int head_dim) {
    for (int i = 0; i < NUM_DIMS; i++)
        if (head_dims[i] == head_dim) return i;
    return -1;
}

static int group_index(int group) {
    for (int i = 0; i < NUM_GROUPS; i++)
        if (group <= group_caps[i]) return i;
    return -1;
}

int mlcc_cuda_decode_attention_supports(int head_dim, int num_qo_heads, int num_kv_heads) {
    if (dim_index(head_dim) < 0 || num_kv_heads <= 0 || num_qo_heads % num_kv_heads) return 0;
    return group_index(num_qo_heads / num_kv_heads) >= 0 && num_kv_heads <= 65535;
}

/* Warps a block: 8, MLCC_CUDA_DECODE_WARPS (1-16) for measurements. Isolated under ncu on the H100
 * (batch 1, Llama-3-8B shape, 544 keys, 17 splits) more warps looked slower: 4 warps 15.3 us,
 * 8 warps 20.9 and 16 warps 26.5. Inside the step, which is what counts, 8 is faster on the H200
 * (session 28, batch 1, 512 + 64 keys, norms in the 4-bit GEMVs): 484.7-500.1 tok/s in seven runs
 * against 482.5-489.1 in eight with 4, +1.3% in the mean (16: 462.6-469.1); float16 238.9 / 239.9 against 238.0 /
 * 235.8. Half the keys a warp is a shorter chain of dependent instructions. */
static int configured_warps(void) {
    const char *env = getenv("MLCC_CUDA_DECODE_WARPS");
    int w = env ? atoi(env) : 0;
    return w >= 1 && w <= 16 ? w : 8;
}

/* dec_warps of the kernel source: the block size of the group-cap kernel */
static int block_warps(int warps, int group_cap, int head_dim) {
    int fit = 8192 / (group_cap * head_dim);
    return warps * group_cap * head_dim <= 8192 ? warps : fit > 0 ? fit : 1;
}

static int env_is_one(const char *name) {
    const char *v = getenv(name);
    return v && !strcmp(v, "1");
}

/* Whether the splits merge in thread-block clusters (sm_90+): only with MLCC_CUDA_DECODE_CLUSTER=1.
 * On the H100 (session 13, ncu, 4 layers of the Llama-3-8B shape, 516-519 keys) the kernel took
 * 16.2-16.3 us with 16 splits in clusters against 14.8 us with 17 merged through memory: the
 * fence, counter and L2 round trips it saves cost less than co-scheduling 16 blocks on one GPC
 * and both cluster barriers. Kept, tested, for other shapes and GPUs. */
static int cluster_wanted(int device_id) {
    return env_is_one("MLCC_CUDA_DECODE_CLUSTER") && mlcc_cuda_clusters_supported(device_id);
}

/* Multiplier of the keys a lane group has in flight (DEC_UMUL), MLCC_CUDA_DECODE_UMUL=1|2 (for
 * measurements; default 1): 2 lets 16 splits cover ~1000 keys in one pass, but took 254
 * registers and 25.6 against 14.8 us on the H100 (same call as above). */
static int keys_multiplier(void) {
    const char *v = getenv("MLCC_CUDA_DECODE_UMUL");
    return v && !strcmp(v, "2") ? 2 : 1;
}

/* MLCC_CUDA_DECODE_EARLY_KV: 1 the first pass's K / V loads after the wait but before q's staging
 * (slower on the H100, below); 2 its stored rows before the wait (session 28, see the kernel) */
static int early_kv(void) {
    int v = mlcc_env_int("MLCC_CUDA_DECODE_EARLY_KV", 0);
    return v == 1 || v == 2 ? v : 0;
}

static char *source_with_warps(int head_dim, int pages_f16, int warps, int umul) {
    char head[192];
    /* MLCC_CUDA_DECODE_EARLY_KV=1: the first pass's K / V loads before q's staging; slower on the
     * H100 (session 13, ncu, 4 layers, 516-519 keys: 14.55 against 13.45 us, two runs each) */
    snprintf(head, sizeof head, "#define DEC_D %d\n#define DEC_KV %s\n#define DEC_NW %d\n#define DEC_UMUL %d\n#define DEC_EARLY_KV %d\n",
             head_dim, pages_f16 ? "__half" : "float", warps, umul, early_kv());
    mlcc_strbuf sb = STRBUF_INIT;
    sb_append(&sb, head);
    /* The kernels are declared for programmatic dependent launch (cuda_pdl.h) unless
     * MLCC_CUDA_DECODE_PDL=0: a block may then start while the qkv projection drains, reading the
     * step's page tables and prefetching its K / V rows into L2 before the wait. On the H200
     * (session 27, 4-bit Llama-3-8B shape, batch 1, 512 keys) that was faster in three pairs of
     * the same calls: 467.6 / 466.7 / 470.0 against 454.9 / 463.3 / 461.6 tok/s. On the H100
     * (session 13) it had been slower (359.3 against 365.4 at 4 bits, 163.9 against 167.5 in
     * float16), before the later changes to the projections around it. Undeclared, they launch
     * after the previous kernel and the wait is a no-op; MLCC_CUDA_DECODE_PREFETCH=1 then keeps
     * the L2 prefetch (before q's loads; for measurements). */
    if (mlcc_env_int("MLCC_CUDA_DECODE_PDL", 1) != 0) sb_append(&sb, "#define DEC_PDL 1\n" MLCC_PDL_DECLARATION " mlcc_decode_attn_g\n");
    else if (env_is_one("MLCC_CUDA_DECODE_PREFETCH")) sb_append(&sb, "#define DEC_PREFETCH 1\n");
    sb_append(&sb, MLCC_CUDA_PDL_HELPERS);
    sb_append(&sb, kernel_source);
    return sb_detach(&sb);
}

char *mlcc_cuda_decode_attention_source_for(int head_dim, int pages_f16) {
    return source_with_warps(head_dim, pages_f16, configured_warps(), keys_multiplier());
}

/* the partials of one block: G x D accumulators, then G (max, sum) pairs */
static size_t partial_floats(int head_dim, int group) {
    return (size_t)group * (size_t)head_dim + 2 * (size_t)group;
}

/* Bytes of the partials and counters; the rounded row (round_out_x8: 40 bytes a group of 32 of
 * one sequence's output) follows them. */
static size_t partials_bytes(int head_dim, int group, int64_t blocks) {
    size_t bytes = (size_t)blocks * partial_floats(head_dim, group) * sizeof(float) + (size_t)blocks * sizeof(int32_t);
    return (bytes + 15) / 16 * 16;
}

size_t mlcc_cuda_decode_workspace_bytes(int head_dim, int num_qo_heads, int num_kv_heads, int64_t blocks) {
    int group = num_kv_heads > 0 ? num_qo_heads / num_kv_heads : 1;
    size_t x8 = (size_t)num_qo_heads * (size_t)head_dim / 32 * 40;
    return partials_bytes(head_dim, group, blocks) + (x8 + 15) / 16 * 16;
}

/* Whether one sequence's output is also rounded for the 4-bit projection after the attention
 * (yes unless MLCC_CUDA_DECODE_XQ=0): the kernel writes the groups that mlcc_quantize_x8 would,
 * and offers them (mlcc_cuda_offer_x8), so o_proj runs no rounding kernel of its own. Float32
 * out, head_dim a multiple of 32, no clusters. Session 33 (H200, Llama-3-8B q4f16_1, three
 * interleaved rounds): 545.4, 550.1, 552.2 tok/s against 537.8, 531.5, 530.7 without. */
static int x8_wanted(const mlcc_cuda_decode_args *a) {
    return mlcc_env_int("MLCC_CUDA_DECODE_XQ", 1) != 0 && a->batch == 1 && !a->out_f16 && a->head_dim % 32 == 0 && a->workspace;
}

static int sm_count(int device_id) {
    int n = mlcc_cuda_device_sm_count(device_id);
    return n > 0 ? n : 132; /* (an H100) where the driver does not say */
}

int mlcc_cuda_decode_choose_splits(int device_id, int64_t batch, int num_kv_heads, int64_t max_keys, int min_keys,
                                   int waves, int64_t workspace_blocks) {
    int64_t pairs = batch * (num_kv_heads > 0 ? num_kv_heads : 1);
    if (min_keys < 1) min_keys = 1;
    if (waves < 1) waves = 1;
    int64_t by_keys = (max_keys + min_keys - 1) / min_keys;
    int64_t by_sms = (int64_t)waves * sm_count(device_id) / pairs;
    int64_t by_space = workspace_blocks / pairs;
    int64_t s = by_keys < by_sms ? by_keys : by_sms;
    if (s > by_space) s = by_space;
    if (s > MAX_SPLITS) s = MAX_SPLITS;
    return s < 2 ? 1 : (int)s;
}

static decode_module *module_ready(int device_id, int head_dim, int pages_f16) {
    if (device_id < 0 || device_id >= MAX_DEVICES) {
        mlcc_set_error("cuda decode attention: device %d out of range", device_id);
        return NULL;
    }
    decode_module *m = &modules[device_id][dim_index(head_dim)][pages_f16 ? 1 : 0];
    if (m->kernel[NUM_GROUPS - 1]) return m;
    if (!m->module) {
        m->warps = configured_warps();
        char *src = source_with_warps(head_dim, pages_f16, m->warps, keys_multiplier());
        m->module = mlcc_cuda_module_load_source(device_id, src);
        free(src);
        if (!m->module) {
            mlcc_prefix_error("cuda decode attention kernels (head_dim %d)", head_dim);
            return NULL;
        }
    }
    for (int i = 0; i < NUM_GROUPS; i++) {
        char name[48];
        snprintf(name, sizeof name, "mlcc_decode_attn_g%d", group_caps[i]);
        if (!(m->kernel[i] = mlcc_cuda_module_kernel(m->module, name))) return NULL;
    }
    return m;
}

int mlcc_cuda_decode_attention(int device_id, const mlcc_cuda_decode_args *a) {
    if (!mlcc_cuda_decode_attention_supports(a->head_dim, a->num_qo_heads, a->num_kv_heads))
        return mlcc_set_error("cuda decode attention: head_dim %d with %d query / %d KV heads is not covered", a->head_dim,
                              a->num_qo_heads, a->num_kv_heads);
    int64_t q_stride = a->q_stride ? a->q_stride : (int64_t)a->num_qo_heads * a->head_dim;
    int64_t kv_stride = a->kv_stride ? a->kv_stride : (int64_t)a->num_kv_heads * a->head_dim;
    if (((uintptr_t)a->q | (uintptr_t)a->pages | (uintptr_t)a->out | (uintptr_t)a->k | (uintptr_t)a->v |
         (uintptr_t)a->workspace) % 16)
        return mlcc_set_error("cuda decode attention: q, pages, out, k, v and the workspace must be 16-byte aligned");
    if (q_stride < (int64_t)a->num_qo_heads * a->head_dim || kv_stride < (int64_t)a->num_kv_heads * a->head_dim ||
        q_stride % 4 || kv_stride % 4)
        return mlcc_set_error("cuda decode attention: row strides %lld (q) and %lld (k, v) must hold a row and be multiples "
                              "of 4 floats",
                              (long long)q_stride, (long long)kv_stride);
    if (a->batch <= 0) return 0;
    if (a->batch > 65535) return mlcc_set_error("cuda decode attention: %lld sequences is too many", (long long)a->batch);
    if (a->page_size <= 0) return mlcc_set_error("cuda decode attention: page_size %d", a->page_size);
    if ((a->rope_q || a->rope_k) && !a->rope_table)
        return mlcc_set_error("cuda decode attention: a rope of q or K without a rope table");
    if (a->rope_k && !a->k) return mlcc_set_error("cuda decode attention: rope_k without k (the folded append)");
    if (a->k && (!a->v || !a->slots)) return mlcc_set_error("cuda decode attention: k without v or slots");
    int group = a->num_qo_heads / a->num_kv_heads, splits = a->splits < 1 ? 1 : a->splits;
    if (splits > MAX_SPLITS) splits = MAX_SPLITS;
    int64_t pairs = a->batch * a->num_kv_heads;
    if (splits > 1 && (!a->workspace || pairs * splits > a->workspace_blocks))
        return mlcc_set_error("cuda decode attention: %d splits of %lld (sequence, KV head) pairs need a workspace of %lld "
                              "blocks (%lld given)",
                              splits, (long long)pairs, (long long)(pairs * splits), (long long)a->workspace_blocks);
    pthread_mutex_lock(&lock);
    decode_module *m = module_ready(device_id, a->head_dim, a->pages_f16);
    pthread_mutex_unlock(&lock);
    if (!m) return -1;
    float *ws = a->workspace;
    int64_t blocks = a->workspace_blocks;
    decode_params p = {
        .q = a->q, .pages = a->pages, .page_indptr = a->page_indptr, .page_indices = a->page_indices,
        .last_page_len = a->last_page_len, .out = a->out, .table = a->rope_table, .k = a->k, .v = a->v, .slots = a->slots,
        .part_acc = ws, .part_ml = ws ? ws + (size_t)blocks * group * a->head_dim : NULL,
        .counters = ws ? (int32_t *)(ws + (size_t)blocks * partial_floats(a->head_dim, group)) : NULL,
        .window = a->window, .q_stride = q_stride, .kv_stride = kv_stride, .scale = (float)a->scale, .softcap = (float)a->softcap,
        .QH = a->num_qo_heads, .KVH = a->num_kv_heads, .PS = a->page_size, .G = group, .S = splits,
        .min_keys = a->min_keys < 1 ? 1 : a->min_keys, .rope_q = a->rope_q != 0,
        .rope_k = a->rope_k != 0, .fold = a->k != NULL, .D = a->head_dim, .pages_f16 = a->pages_f16 != 0,
        .out_f16 = a->out_f16 != 0,
        .xq = x8_wanted(a) ? (int *)((char *)ws + partials_bytes(a->head_dim, group, blocks)) : NULL};
    void *args[] = {&p};
    int gi = group_index(group);
    uint32_t grid[3] = {(uint32_t)splits, (uint32_t)a->num_kv_heads, (uint32_t)a->batch};
    uint32_t block[3] = {32u * (uint32_t)block_warps(m->warps, group_caps[gi], a->head_dim), 1, 1};
    double t0 = mlcc_cuda_profiling() ? mlcc_cuda_profile_begin(device_id) : 0;
    int rc = -1;
    if (splits > 1 && !m->cluster_failed && cluster_wanted(device_id)) { /* a cluster holds at most 16 blocks: the splits of one pair */
        p.cluster = 1, p.xq = NULL; /* (cluster_merge does not round) */
        p.S = splits < MAX_CLUSTER ? splits : MAX_CLUSTER;
        grid[0] = (uint32_t)p.S;
        rc = mlcc_cuda_launch_cluster(device_id, m->kernel[gi], grid, block, 0, args, grid[0]);
        if (rc != 0) { /* e.g. a driver that cannot place the cluster: the global merge from now on */
            LOG_WARN("cuda decode attention: cluster launch failed (%s); merging splits through memory",
                          mlcc_last_error());
            m->cluster_failed = 1;
            p.cluster = 0, p.S = splits, grid[0] = (uint32_t)splits;
        }
    }
    if (rc != 0) rc = mlcc_cuda_launch(device_id, m->kernel[gi], grid, block, 0, args);
    if (rc == 0 && p.xq) mlcc_cuda_offer_x8(device_id, a->out, p.xq, a->num_qo_heads * a->head_dim / 32);
    if (t0 > 0)
        mlcc_cuda_profile_end(device_id, a->k ? "attn_decode (one kernel, append folded)" : "attn_decode (one kernel)", t0);
    return rc ? mlcc_prefix_error("cuda decode attention") : 0;
}

int mlcc_cuda_rope_q(int device_id, const float *q, float *out, const double *rope_table, int64_t tokens, int num_qo_heads,
                     int head_dim) {
    if (head_dim <= 0 || head_dim % 2) return mlcc_set_error("cuda rope q: head_dim %d must be even", head_dim);
    long long pairs = (long long)tokens * num_qo_heads * (head_dim / 2);
    if (pairs <= 0) return 0;
    void *f = mlcc_cuda_kernel_once_get(&rope_kernel, device_id);
    if (!f) return mlcc_prefix_error("cuda rope q kernel");
    int qh = num_qo_heads, d = head_dim;
    void *args[] = {(void *)&q, &out, (void *)&rope_table, &pairs, &qh, &d};
    uint32_t grid[3] = {(uint32_t)((pairs + 255) / 256), 1, 1}, block[3] = {256, 1, 1};
    double t0 = mlcc_cuda_profiling() ? mlcc_cuda_profile_begin(device_id) : 0;
    int rc = mlcc_cuda_launch(device_id, f, grid, block, 0, args);
    if (t0 > 0) mlcc_cuda_profile_end(device_id, "rope of q", t0);
    return rc ? mlcc_prefix_error("cuda rope q") : 0;
}

int mlcc_cuda_split_columns(int device_id, const void *src, int src_f16, float *dst, int64_t rows, int w0, int w1, int w2) {
    if (w0 < 0 || w1 < 0 || w2 < 0) return mlcc_set_error("cuda split columns: widths %d, %d, %d", w0, w1, w2);
    long long n = (long long)rows * (w0 + w1 + w2);
    if (n <= 0) return 0;
    void *f = mlcc_cuda_kernel_once_get(src_f16 ? &split_half_kernel : &split_kernel, device_id);
    if (!f) return mlcc_prefix_error("cuda split columns kernel");
    long long T = rows;
    void *args[] = {(void *)&src, &dst, &T, &w0, &w1, &w2};
    uint32_t grid[3] = {(uint32_t)((n + 255) / 256), 1, 1}, block[3] = {256, 1, 1};
    double t0 = mlcc_cuda_profiling() ? mlcc_cuda_profile_begin(device_id) : 0;
    int rc = mlcc_cuda_launch(device_id, f, grid, block, 0, args);
    if (t0 > 0) mlcc_cuda_profile_end(device_id, "q, k, v split", t0);
    return rc ? mlcc_prefix_error("cuda split columns") : 0;
}
