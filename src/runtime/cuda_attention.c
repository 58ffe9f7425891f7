/* cuda_attention.c - the prefill attention of a KV cache on a CUDA device on tensor cores: a
 * FlashAttention-2 style kernel (mma.sync m16n8k16, half inputs, float32 accumulation, online
 * softmax) that computes what the generated `attn_prefill` computes (src/gen/attn_prefill.c:
 * ragged causal attention over the paged cache, GQA, sliding window, soft-cap).
 *
 * Why hand-written (issue 17 allows it "only where TIR cannot express it yet"): our TIR has no
 * tensorize, no warp-level matrix fragments and no ldmatrix/mma intrinsics, so the generated
 * kernel (schedule/gpu_attention.c) reduces with float32 FMAs and re-reads K/V per query token
 * (5.2 ms a layer at 2048 tokens on the H100). The kernel is NVRTC source compiled once per
 * device (cached on disk like every CUDA module).
 *
 * Precision: q (times the scale), K, V (when the pages are float32) and the softmax weights P
 * are rounded to half for the tensor cores; scores, the softmax statistics and the output accumulate in float32. The KV
 * cache uses it only when the model allows float16 math (a float16 or 4-bit weight scheme,
 * whose projections already round x to half); float32 models keep the generated kernel.
 * Measured against the float32 kernel: test_cuda_flash_attention.
 *
 * Layout: a block of NW warps (8 by default; MLCC_CUDA_FLASH_WARPS=4) takes 16 NW query rows of
 * one KV head, the rows being (token, query head of the group) pairs, token-major, so a K/V tile
 * in shared memory serves the whole GQA group; keys come in tiles of 64 (float32 pages rounded to
 * half, or half pages copied, into shared memory, rows padded by 8 halves against bank
 * conflicts). A block whose tokens belong to
 * several sequences makes one pass over the keys per sequence. With half pages the tiles come
 * through cp.async into two buffers, the next tile's copy overlapping this one's math
 * (MLCC_CUDA_FLASH_PIPE=0: through registers, one buffer). Blocks run in reverse token order,
 * the KV heads interleaved, so the longest rows (the last tokens) of every head start first.
 * MLCC_CUDA_FLASH_MT=2 (half pages, cp.async): blocks of 4 warps of 32 rows each (two m-tiles), Q kept in shared memory, so each K/V fragment
 * loaded from shared memory feeds two mma (see m_tiles below).
 *
 * On Hopper (sm_90) a prefill with a half q (mlcc_cuda_prefill_qkv's, the engine's) runs the same
 * kernel body on wgmma instead (WG; a second module compiled for sm_90a, head_dim 64 and 128): the
 * block's two warpgroups take 64 rows each, Q stays in shared memory, S = Q K^T reads both
 * operands from shared memory and O += P V takes P from registers, the tiles laid out as wgmma's
 * 128-byte swizzle reads them. At 2048 tokens (Llama-3-8B shape, H100, 2026-11-27) 167 us a layer
 * against 194 us for mma.sync; MLCC_CUDA_FLASH_WGMMA=0 keeps mma.sync. Warp-specialized (WS)
 * blocks have a third, producer warpgroup that alone copies K/V tiles into a ring of buffers on
 * mbarriers, and the two consumer warpgroups may take turns on the tensor cores (138 us a layer
 * in the model against 163 us for the 8-warp kernel; MLCC_CUDA_FLASH_WS=0 keeps that one). By
 * default those blocks are persistent (PERSIST: 128-key tiles, a block a multiprocessor taking
 * the items in turn, the producer staging each item's Q ahead of the consumers; 137.6 us a layer
 * in the model against 166.6 us, H200).
 *
 * With a half qkv, the kernel may read q in place (q_row: the row width) and rotate and scale it
 * while it stages Q (a rope table with a half q), so mlcc_cuda_prefill_qkv stores K and V alone. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/cuda.h"
#include "runtime/cuda_mbarrier.h"
#include "runtime/cuda_pdl.h"
#include "support/env.h"
#include "support/error.h"
#include "support/log.h"
#include "support/strbuf.h"

static const char kernel_source[] = MLCC_CUDA_PDL_HELPERS MLCC_PDL_DECLARATION " mlcc_flash_prefill_ mlcc_prefill_qkv_\n"
    "#include <cuda_fp16.h>\n"
    "/* FlashAttention-2 style prefill over the paged KV cache (see cuda_attention.c). A block of\n"
    " * NW warps takes BM = 16 NW query rows of one KV head: TM = BM / G consecutive tokens, each\n"
    " * with the G query heads of the group (row r: token r / G, head r % G), so every K/V tile in\n"
    " * shared memory serves the whole group. Keys go in tiles of BN = 64: K and V read from the\n"
    " * pages (float32 rounded to half, or half copied) into shared memory; S = Q K^T and O += P V on mma.sync\n"
    " * m16n8k16 (half inputs, float32 accumulators); the online softmax runs on the accumulator\n"
    " * fragments (each row spread over the 4 lanes of a quad). Tokens of different sequences in\n"
    " * one block are taken as segments, one pass over the keys each. */\n"
    "#define NEG_INF __int_as_float(0xff800000)\n"
    "\n"
    "__device__ __forceinline__ unsigned pack_half2(float lo, float hi) {\n"
    "    __half2 h = __floats2half2_rn(lo, hi);\n"
    "    return *reinterpret_cast<unsigned *>(&h);\n"
    "}\n"
    "\n"
    "/* 2^x by the SFU alone (ex2.approx.ftz: exp2f adds a denormal fix-up around it); 2^-inf = 0 */\n"
    "__device__ __forceinline__ float fast_exp2(float x) {\n"
    "    float y;\n"
    "    asm(\"ex2.approx.ftz.f32 %0, %1;\" : \"=f\"(y) : \"f\"(x));\n"
    "    return y;\n"
    "}\n"
    "\n"
    "__device__ __forceinline__ void mma16816(float *c, const unsigned *a, unsigned b0, unsigned b1) {\n"
    "    asm volatile(\"mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, \"\n"
    "                 \"{%0,%1,%2,%3};\\n\"\n"
    "                 : \"+f\"(c[0]), \"+f\"(c[1]), \"+f\"(c[2]), \"+f\"(c[3])\n"
    "                 : \"r\"(a[0]), \"r\"(a[1]), \"r\"(a[2]), \"r\"(a[3]), \"r\"(b0), \"r\"(b1));\n"
    "}\n"
    "\n"
    "/* 16 bytes global -> shared without registers; src_bytes 0 fills zeros (a key past the end) */\n"
    "__device__ __forceinline__ void cp_async16(void *dst, const void *src, int src_bytes) {\n"
    "    unsigned addr = (unsigned)__cvta_generic_to_shared(dst);\n"
    "    asm volatile(\"cp.async.cg.shared.global [%0], [%1], 16, %2;\\n\" ::\"r\"(addr), \"l\"(src), \"r\"(src_bytes));\n"
    "}\n"
    "__device__ __forceinline__ void cp_async_commit() { asm volatile(\"cp.async.commit_group;\\n\" ::); }\n"
    "template <int N> __device__ __forceinline__ void cp_async_wait() { asm volatile(\"cp.async.wait_group %0;\\n\" ::\"n\"(N)); }\n"
    "\n"
    "__device__ __forceinline__ void ldmatrix_x4(unsigned *r, const __half *p) {\n"
    "    unsigned addr = (unsigned)__cvta_generic_to_shared(p);\n"
    "    asm volatile(\"ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\\n\"\n"
    "                 : \"=r\"(r[0]), \"=r\"(r[1]), \"=r\"(r[2]), \"=r\"(r[3])\n"
    "                 : \"r\"(addr));\n"
    "}\n"
    "__device__ __forceinline__ void ldmatrix_x2(unsigned *r, const __half *p) {\n"
    "    unsigned addr = (unsigned)__cvta_generic_to_shared(p);\n"
    "    asm volatile(\"ldmatrix.sync.aligned.m8n8.x2.shared.b16 {%0,%1}, [%2];\\n\" : \"=r\"(r[0]), \"=r\"(r[1]) : \"r\"(addr));\n"
    "}\n"
    "\n"
    "__device__ __forceinline__ void ldmatrix_x4_trans(unsigned *r, const __half *p) {\n"
    "    unsigned addr = (unsigned)__cvta_generic_to_shared(p);\n"
    "    asm volatile(\"ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\\n\"\n"
    "                 : \"=r\"(r[0]), \"=r\"(r[1]), \"=r\"(r[2]), \"=r\"(r[3])\n"
    "                 : \"r\"(addr));\n"
    "}\n"
    "\n"
    "\n"
    "/* Hopper's warpgroup MMA (wgmma.mma_async, sm_90a): templates, instantiated by the _wg kernels\n"
    " * alone, which only the sm_90a module has. The four warps 4i .. 4i + 3 of a block issue it\n"
    " * together for their 64 rows; B (and for wgmma_ss A too) is read from shared memory through a\n"
    " * descriptor: address / 16 in bits 0-13, LBO / 16 from bit 16, SBO / 16 from bit 32, the\n"
    " * 128-byte swizzle in bits 62-63 (tile_at's layout). The accumulators of a warp are the\n"
    " * fragments of mma.sync's m16n8 C tiles of its 16 rows, N / 8 of them. */\n"
    "__device__ __forceinline__ unsigned long long wg_desc(const __half *p, unsigned lbo, unsigned sbo) {\n"
    "    const unsigned a = (unsigned)__cvta_generic_to_shared(p);\n"
    "    return (unsigned long long)((a & 0x3ffff) >> 4) | (unsigned long long)(lbo >> 4) << 16 |\n"
    "           (unsigned long long)(sbo >> 4) << 32 | 1ull << 62;\n"
    "}\n"
    "#define WG_D4(d, j) \"+f\"(d[j][0]), \"+f\"(d[j][1]), \"+f\"(d[j][2]), \"+f\"(d[j][3])\n"
    "#define WG_D32(d) WG_D4(d, 0), WG_D4(d, 1), WG_D4(d, 2), WG_D4(d, 3), WG_D4(d, 4), WG_D4(d, 5), WG_D4(d, 6), WG_D4(d, 7)\n"
    "#define WG_D64(d) WG_D32(d), WG_D4(d, 8), WG_D4(d, 9), WG_D4(d, 10), WG_D4(d, 11), WG_D4(d, 12), WG_D4(d, 13), \\\n"
    "                  WG_D4(d, 14), WG_D4(d, 15)\n"
    "#define WG_R32 \"{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, \" \\\n"
    "               \"%20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31}\"\n"
    "#define WG_R64 \"{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, \" \\\n"
    "               \"%20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, \" \\\n"
    "               \"%38, %39, %40, %41, %42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, \" \\\n"
    "               \"%56, %57, %58, %59, %60, %61, %62, %63}\"\n"
    "/* d (+)= A B, m64nNk16, A and B from shared memory, both K-major; accumulate 0: d = A B */\n"
    "template <int N>\n"
    "__device__ __forceinline__ void wgmma_ss(float (&d)[N / 8][4], unsigned long long a, unsigned long long b,\n"
    "                                         int accumulate) {\n"
    "    static_assert(N == 64 || N == 128, \"the S tile is 64 or 128 keys\");\n"
    "    if constexpr (N == 64)\n"
    "        asm volatile(\"{\\n.reg .pred p;\\nsetp.ne.b32 p, %34, 0;\\n\"\n"
    "                     \"wgmma.mma_async.sync.aligned.m64n64k16.f32.f16.f16 \" WG_R32 \", %32, %33, p, 1, 1, 0, 0;\\n}\\n\"\n"
    "                     : WG_D32(d) : \"l\"(a), \"l\"(b), \"r\"(accumulate));\n"
    "    else\n"
    "        asm volatile(\"{\\n.reg .pred p;\\nsetp.ne.b32 p, %66, 0;\\n\"\n"
    "                     \"wgmma.mma_async.sync.aligned.m64n128k16.f32.f16.f16 \" WG_R64 \", %64, %65, p, 1, 1, 0, 0;\\n}\\n\"\n"
    "                     : WG_D64(d) : \"l\"(a), \"l\"(b), \"r\"(accumulate));\n"
    "}\n"
    "/* d += A B, m64nNk16, A from registers (mma.sync's A fragments), B from shared memory MN-major */\n"
    "template <int N>\n"
    "__device__ __forceinline__ void wgmma_rs(float (&d)[N / 8][4], const unsigned (&a)[4], unsigned long long b) {\n"
    "    static_assert(N == 64 || N == 128, \"head_dim 64 or 128\");\n"
    "    if constexpr (N == 64)\n"
    "        asm volatile(\"{\\n.reg .pred p;\\nsetp.ne.b32 p, %37, 0;\\n\"\n"
    "                     \"wgmma.mma_async.sync.aligned.m64n64k16.f32.f16.f16 \" WG_R32\n"
    "                     \", {%32, %33, %34, %35}, %36, p, 1, 1, 1;\\n}\\n\"\n"
    "                     : WG_D32(d) : \"r\"(a[0]), \"r\"(a[1]), \"r\"(a[2]), \"r\"(a[3]), \"l\"(b), \"r\"(1));\n"
    "    else\n"
    "        asm volatile(\"{\\n.reg .pred p;\\nsetp.ne.b32 p, %69, 0;\\n\"\n"
    "                     \"wgmma.mma_async.sync.aligned.m64n128k16.f32.f16.f16 \" WG_R64\n"
    "                     \", {%64, %65, %66, %67}, %68, p, 1, 1, 1;\\n}\\n\"\n"
    "                     : WG_D64(d) : \"r\"(a[0]), \"r\"(a[1]), \"r\"(a[2]), \"r\"(a[3]), \"l\"(b), \"r\"(1));\n"
    "}\n"
    "/* Before MMAs on d: wgmma.fence orders the registers' earlier accesses before the asynchronous\n"
    " * MMAs read them; PIN: d's earlier writes (O rescaled) pinned before the fence */\n"
    "template <int N, bool PIN> __device__ __forceinline__ void wg_fence(float (&d)[N / 8][4]) {\n"
    "#pragma unroll\n"
    "    for (int j = 0; j < (PIN ? N / 8 : 0); j++)\n"
    "#pragma unroll\n"
    "        for (int e = 0; e < 4; e++) asm volatile(\"\" : \"+f\"(d[j][e])::\"memory\");\n"
    "    asm volatile(\"wgmma.fence.sync.aligned;\\n\" ::: \"memory\");\n"
    "}\n"
    "/* After them: commit (wg_commit), then wait until at most PENDING groups are in flight (the\n"
    " * latest ones) and pin d's registers behind the wait (the compiler sees the asm's outputs as\n"
    " * ready at the MMA itself) */\n"
    "__device__ __forceinline__ void wg_commit() { asm volatile(\"wgmma.commit_group.sync.aligned;\\n\" ::: \"memory\"); }\n"
    "template <int N, int PENDING = 0> __device__ __forceinline__ void wg_wait(float (&d)[N / 8][4]) {\n"
    "    asm volatile(\"wgmma.wait_group.sync.aligned %0;\\n\" ::\"n\"(PENDING) : \"memory\");\n"
    "#pragma unroll\n"
    "    for (int j = 0; j < N / 8; j++)\n"
    "#pragma unroll\n"
    "        for (int e = 0; e < 4; e++) asm volatile(\"\" : \"+f\"(d[j][e])::\"memory\");\n"
    "}\n"
    "/* mbarriers (cuda_mbarrier.h: the warp-specialized kernel's K/V ring) and named barriers */\n"
    MLCC_CUDA_MBARRIER_HELPERS
    "/* arrives on b once this thread's earlier cp.async copies have landed (b's count includes it) */\n"
    "__device__ __forceinline__ void cp_async_arrive(unsigned long long *b) {\n"
    "    asm volatile(\"cp.async.mbarrier.arrive.noinc.shared::cta.b64 [%0];\\n\" ::\"r\"(smem_u32(b)) : \"memory\");\n"
    "}\n"
    "__device__ __forceinline__ void named_sync(int id, int threads) {\n"
    "    asm volatile(\"bar.sync %0, %1;\\n\" ::\"r\"(id), \"r\"(threads) : \"memory\");\n"
    "}\n"
    "__device__ __forceinline__ void named_arrive(int id, int threads) {\n"
    "    asm volatile(\"bar.arrive %0, %1;\\n\" ::\"r\"(id), \"r\"(threads) : \"memory\");\n"
    "}\n"
    "/* shared memory written by threads (st.shared, cp.async) made visible to wgmma's async proxy */\n"
    "template <bool WG> __device__ __forceinline__ void async_proxy_fence() {\n"
    "    if constexpr (WG) asm volatile(\"fence.proxy.async.shared::cta;\\n\" ::: \"memory\");\n"
    "}\n"
    "/* Where halves c .. c + 7 (c a multiple of 8) of row r of a K, V or Q tile of `rows` rows go in\n"
    " * shared memory: rows of D + 8 halves for mma.sync (the padding against bank conflicts), or for\n"
    " * wgmma (WG) column blocks of 64 halves: 128-byte rows whose 16-byte chunks are XOR-swizzled by\n"
    " * the row, the layout of wgmma's 128-byte swizzle (blocks 1024-byte aligned) */\n"
    "template <bool WG, int D> __device__ __forceinline__ int tile_at(int r, int c, int rows) {\n"
    "    if constexpr (WG) return (c >> 6) * rows * 64 + r * 64 + ((((c >> 3) & 7) ^ (r & 7)) << 3);\n"
    "    else return r * (D + 8) + c;\n"
    "}\n"
    "\n"
    "/* The NeoX rotation of element x of q (in the first half of the head when first, paired with y\n"
    " * D/2 further; in the second, with y D/2 before) in float64, rounded to float32: mlcc_rope_q's */\n"
    "__device__ __forceinline__ float rope_one(float x, float y, double c, double s, bool first) {\n"
    "    return first ? (float)((double)x * c + (-1.0 * (double)y) * s) : (float)((double)x * c + (1.0 * (double)y) * s);\n"
    "}\n"
    "\n"
    "extern __shared__ __align__(16) unsigned char flash_smem[];\n"
    "\n"
    "/* One K/V tile's copy (cp.async, 16 bytes a step) from the pages of a sequence into kd, vd (rows\n"
    " * of D + 8 halves): keys k0 .. k0 + BN - 1, those from kmax on as zeros (0 bytes copied from key\n"
    " * k0's row, k0 < kmax), without branches, by the NT threads numbered tid; POW2: the page size is\n"
    " * 1 << ps_shift. */\n"
    "template <bool POW2, int D, int BN, int NT, typename KV, bool WG>\n"
    "__device__ __forceinline__ void copy_tile(__half *kd, __half *vd, const KV *head_pages, const int *seq_pages,\n"
    "                                          int page_stride, long long v_offset, int k0, int kmax, int PS, int ps_shift,\n"
    "                                          int tid) {\n"
    "    constexpr int C8 = D / 8, PER = (BN * C8 + NT - 1) / NT;\n"
    "#pragma unroll\n"
    "    for (int u = 0; u < PER; u++) {\n"
    "        const int i = tid + u * NT, j = i / C8, c = i % C8;\n"
    "        if (PER * NT != BN * C8 && i >= BN * C8) break;\n"
    "        const int key = k0 + j < kmax ? k0 + j : k0, bytes = k0 + j < kmax ? 16 : 0;\n"
    "        const int slot = POW2 ? key >> ps_shift : key / PS, row = POW2 ? key & (PS - 1) : key % PS;\n"
    "        const KV *kp = head_pages + (long long)seq_pages[slot] * page_stride + (row * D + 8 * c); /* one wide multiply */\n"
    "        cp_async16(kd + tile_at<WG, D>(j, 8 * c, BN), kp, bytes);\n"
    "        cp_async16(vd + tile_at<WG, D>(j, 8 * c, BN), kp + v_offset, bytes);\n"
    "    }\n"
    "}\n"
    "\n"
    "/* PIPE (half pages only): K/V tiles come through cp.async into two buffers, the next tile's\n"
    " * copy in flight while this one is computed (shared memory 4 BN LD halves instead of 2).\n"
    " * MT: 16-row m-tiles per warp. MT = 1 keeps the warp's Q fragments in registers; MT = 2 (PIPE\n"
    " * only) keeps Q in shared memory (after the K/V buffers) and gives every K and V fragment read\n"
    " * from shared memory two mma instead of one (the kernel's shared-memory traffic per mma halves),\n"
    " * at 32 rows a warp (o, s: 2x the accumulators). BN: keys a tile (64; 32 halves s's registers).\n"
    " * WS (wgmma with NW = 12): warp-specialized as FlashAttention-3 is: warps 8-11 (the producer)\n"
    " * copy the K/V tiles into a ring of STAGES buffers, each guarded by a `full` and an `empty`\n"
    " * mbarrier, so the two consumer warpgroups (warps 0-7, BM = 128 rows) never wait at a block-wide\n"
    " * barrier; with ping-pong (fast bit 1 clear) they take turns issuing their MMAs through named\n"
    " * barriers 1 and 2, so one's softmax runs while the other's products occupy the tensor cores.\n"
    " * PERSIST (WS, 128-key tiles): persistent blocks, one a multiprocessor, each taking several of the\n"
    " * grid's 128-row items in turn; the producer stages each item's Q (rotated, scaled) into one of\n"
    " * two Q buffers (`qfull` / `qempty` mbarriers) and runs ahead into the next item's tiles while\n"
    " * the consumers finish the last, so neither the page lookups nor Q's staging at an item's start\n"
    " * leave the tensor cores idle. */\n"
    "template <int D, int NW, typename KV, bool PIPE, int MT, int BN, typename QT, typename OT, bool WG, bool PERSIST>\n"
    "__device__ __forceinline__ void flash_prefill(const QT *__restrict__ q, const KV *__restrict__ pages,\n"
    "                                              const int *__restrict__ token_seq, const int *__restrict__ positions,\n"
    "                                              const int *__restrict__ page_indptr, const int *__restrict__ page_indices,\n"
    "                                              OT *__restrict__ out, int T, int QH, int KVH, int PS, int G,\n"
    "                                              long long window, float scale, float softcap, int TB, int fast,\n"
    "                                              const double *__restrict__ rope, long long q_row) {\n"
    "    constexpr bool WS = WG && NW == 12;\n"
    "    static_assert(!PERSIST || (WS && BN == 128), \"persistent: the warp-specialized kernel with 128-key tiles\");\n"
    "    constexpr int CW = WS ? 8 : NW, STAGES = WS && BN == 64 ? 3 : 2; /* warps with rows; K/V buffers */\n"
    "    constexpr int BM = 16 * MT * CW, NT = 32 * NW, QNT = 32 * CW, LD = WG ? D : D + 8, KD = D / 16, ND = D / 8,\n"
    "                  C4 = D / 4, R = 2 * MT;\n"
    "    constexpr bool QREG = MT == 1 && !WG;\n"
    "    static_assert(!WG || (PIPE && MT == 1 && (BN == 64 || (WS && BN == 128)) && sizeof(QT) == 2 && D % 64 == 0 &&\n"
    "                          NW % 4 == 0),\n"
    "                  \"wgmma: half q and pages through cp.async, warpgroups of 64 rows, 64-key tiles (or 128, WS)\");\n"
    "    static_assert(QREG || PIPE, \"MT > 1 needs the cp.async layout (Q after the two K/V buffers)\");\n"
    "    static_assert(!(QREG && PIPE) || BM <= 2 * BN, \"Q is staged in the second K/V buffer\");\n"
    "    /* wgmma's swizzled tiles start 1024-byte aligned (the host asks for 1 KB more) */\n"
    "    const unsigned align = WG ? (1024 - ((unsigned)__cvta_generic_to_shared(flash_smem) & 1023)) & 1023 : 0;\n"
    "    __half *smem = reinterpret_cast<__half *>(flash_smem + align);\n"
    "    __half *Ks = smem, *Vs = smem + BN * LD;\n"
    "    /* Q's staging area: MT = 1 stages it in the second K/V buffer (PIPE; the first one receives the\n"
    "     * first tile meanwhile) or the first (registers path), MT > 1 keeps it after the buffers */\n"
    "    __half *Qs = QREG ? (PIPE ? smem + 2 * BN * LD : smem) : smem + 2 * STAGES * BN * LD;\n"
    "    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, grp = lane >> 2, tig = lane & 3;\n"
    "    /* blocks longest first across all KV heads (blockIdx.x = rank * KVH + head: the last tokens,\n"
    "     * with the most keys, of every head before the shorter ones), so the short blocks fill the\n"
    "     * tail of the grid; with the heads as gridDim.y the later heads' long blocks came last */\n"
    "    const int TM = TB > 0 ? TB : BM / G, items = PERSIST ? KVH * ((T + TM - 1) / TM) : (int)gridDim.x;\n"
    "    /* (warp-uniform; warpgroup-uniform for wgmma) a warp with no rows only loads tiles */\n"
    "    const bool computes = WG ? warp < CW && (warp >> 2) * 64 < TM * G : warp * 16 * MT < TM * G;\n"
    "    int kvh = 0, t0 = 0, t_end = 0; /* the item's KV head and tokens */\n"
    "    /* PERSIST: two Q buffers after the K/V ring, then (with a rope table) the item's rows of the table\n"
    "     * (TM x D float64, the producer's); WS: the ring's barriers after those (full[STAGES], then\n"
    "     * empty[STAGES]; PERSIST: then the Q buffers' qfull[2], qempty[2]) */\n"
    "    double *tab = reinterpret_cast<double *>(smem + (2 * STAGES * BN + (PERSIST ? 2 : 1) * BM) * LD);\n"
    "    unsigned long long *full = reinterpret_cast<unsigned long long *>(tab + (PERSIST && rope ? TM * D : 0)),\n"
    "                       *empty = full + STAGES, *qfull = empty + STAGES, *qempty = qfull + 2;\n"
    "    const float LOG2E = 1.4426950408889634f;\n"
    "    /* fast (MLCC_CUDA_FLASH_FAST, the default) without a soft-cap: q carries scale * log2(e), so\n"
    "     * scores come out in log2 units, and a tile every row of the warp sees whole skips the mask */\n"
    "    const bool prescaled = (fast & 1) && softcap <= 0.f;\n"
    "    const bool pingpong = WS && !(fast & 2) && TM * G > 64; /* (block-uniform: both warpgroups have rows) */\n"
    "    const int wgi = warp >> 2; /* WS: the consumer warpgroup, 0 or 1 */\n"
    "    const float qmul = prescaled ? scale * LOG2E : scale, lmul = prescaled ? 1.f : LOG2E;\n"
    "\n"
    "    /* page addressing: a key's page through the sequence's page list; page sizes that are powers of\n"
    "     * two (every cache the engine makes) by shift and mask, other sizes by division */\n"
    "    const int ps_shift = (PS & (PS - 1)) == 0 ? __ffs(PS) - 1 : -1;\n"
    "    const int page_stride = 2 * KVH * PS * D; /* < 2^31 (mlcc_cuda_flash_prefill checks) */\n"
    "    const long long v_offset = (long long)KVH * PS * D;\n"
    "    const KV *head_pages = pages;\n"
    "    /* item k of this block (false: none): item = rank * KVH + head; PERSIST takes rounds of gridDim.x\n"
    "     * items snaking (even rounds ascending, odd ones descending), so that each block's long and\n"
    "     * short items even out; otherwise the block's one item is blockIdx.x */\n"
    "    auto take_item = [&](int k) {\n"
    "        const int P = gridDim.x, item = !PERSIST ? (k == 0 ? (int)blockIdx.x : items) :\n"
    "                                       k & 1 ? (k + 1) * P - 1 - (int)blockIdx.x : k * P + (int)blockIdx.x;\n"
    "        if (item >= items) return false;\n"
    "        kvh = item % KVH, t0 = (items / KVH - 1 - item / KVH) * TM, t_end = min(t0 + TM, T);\n"
    "        head_pages = pages + (long long)kvh * PS * D;\n"
    "        return true;\n"
    "    };\n"
    "    take_item(0); /* (PERSIST: the host launches no more blocks than items) */\n"
    "    /* q of token t for row r of the item (its query head kvh * G + r % G) */\n"
    "    auto q_head = [&](int t, int r) { return q + (long long)t * q_row + (kvh * G + r % G) * D; };\n"
    "    auto key_row = [&](const int *seq_pages, int key) {\n"
    "        const int slot = ps_shift >= 0 ? key >> ps_shift : key / PS, row = ps_shift >= 0 ? key & (PS - 1) : key % PS;\n"
    "        return head_pages + (long long)seq_pages[slot] * page_stride + row * D;\n"
    "    };\n"
    "    /* the segment starting at token seg (a sequence's tokens are consecutive): where it ends and\n"
    "     * the keys its rows see, [kmin, kmax); every warp finds it, its lanes taking 32 tokens a round */\n"
    "    auto segment = [&](int seg, int &seg_end, int &kmin, int &kmax) {\n"
    "        const int seq = token_seq[seg];\n"
    "        int lo = 0x7fffffff, hi = 0;\n"
    "        seg_end = seg;\n"
    "        for (int base = seg; base < t_end; base += 32) {\n"
    "            const int t = base + lane;\n"
    "            const unsigned same = __ballot_sync(0xffffffffu, t < t_end && token_seq[t] == seq);\n"
    "            const int n = same == 0xffffffffu ? 32 : __ffs(~same) - 1; /* lane 0 (token seg) is always in */\n"
    "            if (lane < n) {\n"
    "                const int p = positions[t];\n"
    "                hi = max(hi, p + 1);\n"
    "                lo = min(lo, window > 0 ? (int)max(0LL, (long long)p - window + 1) : 0);\n"
    "            }\n"
    "            seg_end = base + n;\n"
    "            if (n < 32) break;\n"
    "        }\n"
    "#pragma unroll\n"
    "        for (int o = 16; o > 0; o >>= 1) {\n"
    "            hi = max(hi, __shfl_xor_sync(0xffffffffu, hi, o));\n"
    "            lo = min(lo, __shfl_xor_sync(0xffffffffu, lo, o));\n"
    "        }\n"
    "        kmin = lo, kmax = hi;\n"
    "    };\n"
    "    /* PIPE: the copy of one K/V tile of the sequence into buffer b (copy_tile; k0 < kmax) */\n"
    "    constexpr int PNT = WS ? NT - QNT : NT; /* the threads that copy tiles */\n"
    "    auto copy_into = [&](const int *seq_pages, int k0, int kmax, int b, int tid) {\n"
    "        __half *kd = smem + b * 2 * BN * LD, *vd = kd + BN * LD;\n"
    "        if (ps_shift >= 0)\n"
    "            copy_tile<true, D, BN, PNT, KV, WG>(kd, vd, head_pages, seq_pages, page_stride, v_offset, k0, kmax, PS,\n"
    "                                                ps_shift, tid);\n"
    "        else\n"
    "            copy_tile<false, D, BN, PNT, KV, WG>(kd, vd, head_pages, seq_pages, page_stride, v_offset, k0, kmax, PS,\n"
    "                                                 ps_shift, tid);\n"
    "    };\n"
    "    auto issue_tile = [&](const int *seq_pages, int k0, int kmax, int b) {\n"
    "        copy_into(seq_pages, k0, kmax, b, threadIdx.x);\n"
    "        cp_async_commit();\n"
    "    };\n"
    "    /* Q (scaled, rounded to half) staged through shared memory (MT = 1: into A fragments), loads\n"
    "     * in batches ahead of their stores; with a rope table [T, 2, D/2] (float64) q is rotated on the\n"
    "     * way, as mlcc_rope_q would have (the NeoX pairs d, d + D/2 in float64, rounded to float32),\n"
    "     * saving that kernel's pass over q. A token's q row starts q_row elements after the last's. */\n"
    "    auto stage_q = [&](__half *Qd, int tid) {\n"
    "        if constexpr (sizeof(QT) == 2) { /* q half: rotated and scaled already (mlcc_prefill_qkv's) and\n"
    "                                          * copied, or with a rope table the projection's, done here */\n"
    "            constexpr int C8 = D / 8, QPER8 = (BM * C8 + QNT - 1) / QNT, QB8 = QPER8 % 4 == 0 ? 4 : QPER8 % 2 == 0 ? 2 : 1;\n"
    "#pragma unroll\n"
    "            for (int b = 0; b < QPER8; b += QB8) {\n"
    "                uint4 qv[QB8];\n"
    "#pragma unroll\n"
    "                for (int u = 0; u < QB8; u++) {\n"
    "                    const int i = tid + (b + u) * QNT, r = i / C8, c = i % C8, t = t0 + r / G;\n"
    "                    qv[u] = make_uint4(0, 0, 0, 0);\n"
    "                    if (i < BM * C8 && r < TM * G && t < t_end) {\n"
    "                        const QT *row = q_head(t, r);\n"
    "                        qv[u] = *reinterpret_cast<const uint4 *>(row + 8 * c);\n"
    "                        if (rope) {\n"
    "                            constexpr int H = D / 2; /* a multiple of 8: D = 64, 80, 96, 128 */\n"
    "                            const bool first = 8 * c < H;\n"
    "                            const uint4 w = *reinterpret_cast<const uint4 *>(row + (first ? 8 * c + H : 8 * c - H));\n"
    "                            const double *cs = rope + (long long)t * 2 * H + (first ? 8 * c : 8 * c - H), *sn = cs + H;\n"
    "                            const __half *x = reinterpret_cast<const __half *>(&qv[u]);\n"
    "                            const __half *y = reinterpret_cast<const __half *>(&w);\n"
    "                            float o[8];\n"
    "#pragma unroll\n"
    "                            for (int e = 0; e < 8; e++)\n"
    "                                o[e] = rope_one(__half2float(x[e]), __half2float(y[e]), cs[e], sn[e], first) * qmul;\n"
    "                            qv[u] = make_uint4(pack_half2(o[0], o[1]), pack_half2(o[2], o[3]), pack_half2(o[4], o[5]),\n"
    "                                               pack_half2(o[6], o[7]));\n"
    "                        }\n"
    "                    }\n"
    "                }\n"
    "#pragma unroll\n"
    "                for (int u = 0; u < QB8; u++) {\n"
    "                    const int i = tid + (b + u) * QNT, r = i / C8, c = i % C8;\n"
    "                    if (i >= BM * C8) break;\n"
    "                    *reinterpret_cast<uint4 *>(Qd + tile_at<WG, D>(r, 8 * c, BM)) = qv[u];\n"
    "                }\n"
    "            }\n"
    "        } else {\n"
    "            constexpr int QPER = (BM * C4 + NT - 1) / NT, QB = QPER % 4 == 0 ? 4 : QPER % 2 == 0 ? 2 : 1;\n"
    "#pragma unroll\n"
    "            for (int b = 0; b < QPER; b += QB) {\n"
    "                float4 qv[QB];\n"
    "#pragma unroll\n"
    "                for (int u = 0; u < QB; u++) {\n"
    "                    const int i = tid + (b + u) * NT, r = i / C4, c = i % C4, t = t0 + r / G;\n"
    "                    float4 v = make_float4(0.f, 0.f, 0.f, 0.f);\n"
    "                    if (i < BM * C4 && r < TM * G && t < t_end) {\n"
    "                        const float *row = q_head(t, r);\n"
    "                        v = *reinterpret_cast<const float4 *>(row + 4 * c);\n"
    "                        if (rope) {\n"
    "                            constexpr int H = D / 2;\n"
    "                            const bool first = 4 * c < H;\n"
    "                            const float4 w = *reinterpret_cast<const float4 *>(row + (first ? 4 * c + H : 4 * c - H));\n"
    "                            const double *cs = rope + (long long)t * 2 * H, *sn = cs + H;\n"
    "                            const int k = first ? 4 * c : 4 * c - H;\n"
    "                            const float x[4] = {v.x, v.y, v.z, v.w}, y[4] = {w.x, w.y, w.z, w.w};\n"
    "                            float o4[4];\n"
    "#pragma unroll\n"
    "                            for (int e = 0; e < 4; e++) o4[e] = rope_one(x[e], y[e], cs[k + e], sn[k + e], first);\n"
    "                            v = make_float4(o4[0], o4[1], o4[2], o4[3]);\n"
    "                        }\n"
    "                    }\n"
    "                    qv[u] = v;\n"
    "                }\n"
    "#pragma unroll\n"
    "                for (int u = 0; u < QB; u++) {\n"
    "                    const int i = tid + (b + u) * NT, r = i / C4, c = i % C4;\n"
    "                    if (i >= BM * C4) break;\n"
    "                    unsigned *dst = reinterpret_cast<unsigned *>(Qd + r * LD + 4 * c);\n"
    "                    dst[0] = pack_half2(qv[u].x * qmul, qv[u].y * qmul);\n"
    "                    dst[1] = pack_half2(qv[u].z * qmul, qv[u].w * qmul);\n"
    "                }\n"
    "            }\n"
    "        }\n"
    "    };\n"
    "    /* PERSIST: the producer's staging of an item's Q into Qd, without holding q in registers: the rows\n"
    "     * and the item's rows of the rope table copied by cp.async (16-byte chunks; zeros past the\n"
    "     * item's tokens), then each NeoX pair of chunks rotated in place in float32 and scaled. A\n"
    "     * token's cos / sin are rounded to float32 once for all the heads of its group: converting\n"
    "     * float64 per head (as the other kernels' q staging does) cost ~20 us at 2048 tokens. The\n"
    "     * rotation's float32 rounding (2^-24) is far below the half q's (2^-11). */\n"
    "    auto producer_q = [&](__half *Qd, int tid) {\n"
    "        constexpr int C8 = D / 8, H = D / 2, PT = NT - QNT;\n"
    "#pragma unroll 1\n"
    "        for (int i = tid; i < BM * C8; i += PT) {\n"
    "            const int r = i / C8, c = i % C8, t = t0 + r / G;\n"
    "            const bool ok = r < TM * G && t < t_end;\n"
    "            const QT *src = q_head(ok ? t : t0, r) + 8 * c;\n"
    "            cp_async16(Qd + tile_at<WG, D>(r, 8 * c, BM), src, ok ? 16 : 0);\n"
    "        }\n"
    "        if (rope)\n"
    "#pragma unroll 1\n"
    "            for (int i = tid; i < TM * H; i += PT) { /* a token's D values, 2 a copy */\n"
    "                const int r = i / H, c = i % H, t = t0 + r;\n"
    "                cp_async16(tab + r * D + 2 * c, rope + (long long)(t < t_end ? t : t0) * D + 2 * c, t < t_end ? 16 : 0);\n"
    "            }\n"
    "        cp_async_commit();\n"
    "        cp_async_wait<0>();\n"
    "        named_sync(4, PT); /* every producer thread's copies landed */\n"
    "        if (!rope) return;\n"
    "#pragma unroll 1\n"
    "        for (int i = tid; i < TM * (C8 / 2); i += PT) {\n"
    "            const int tt = i / (C8 / 2), c = i % (C8 / 2);\n"
    "            if (tt * G >= BM || t0 + tt >= t_end) continue; /* zeros */\n"
    "            float cs[8], sn[8];\n"
    "#pragma unroll\n"
    "            for (int e = 0; e < 8; e++)\n"
    "                cs[e] = __double2float_rn(tab[tt * D + 8 * c + e]), sn[e] = __double2float_rn(tab[tt * D + H + 8 * c + e]);\n"
    "#pragma unroll 1\n"
    "            for (int r = tt * G; r < tt * G + G; r++) { /* the group's heads of token tt */\n"
    "                uint4 *xp = reinterpret_cast<uint4 *>(Qd + tile_at<WG, D>(r, 8 * c, BM));\n"
    "                uint4 *yp = reinterpret_cast<uint4 *>(Qd + tile_at<WG, D>(r, 8 * c + H, BM));\n"
    "                uint4 xv = *xp, yv = *yp;\n"
    "                unsigned *xw = reinterpret_cast<unsigned *>(&xv), *yw = reinterpret_cast<unsigned *>(&yv);\n"
    "#pragma unroll\n"
    "                for (int e = 0; e < 8; e += 2) { /* a pair of values of each chunk a step, packed again in place */\n"
    "                    const float2 x = __half22float2(*reinterpret_cast<const __half2 *>(&xw[e / 2]));\n"
    "                    const float2 y = __half22float2(*reinterpret_cast<const __half2 *>(&yw[e / 2]));\n"
    "                    xw[e / 2] = pack_half2(__fmaf_rn(x.x, cs[e], -y.x * sn[e]) * qmul,\n"
    "                                           __fmaf_rn(x.y, cs[e + 1], -y.y * sn[e + 1]) * qmul);\n"
    "                    yw[e / 2] = pack_half2(__fmaf_rn(y.x, cs[e], x.x * sn[e]) * qmul,\n"
    "                                           __fmaf_rn(y.y, cs[e + 1], x.y * sn[e + 1]) * qmul);\n"
    "                }\n"
    "                *xp = xv, *yp = yv;\n"
    "            }\n"
    "        }\n"
    "    };\n"
    "    int seg = t0, seg_end, kmin, kmax;\n"
    "    if constexpr (!PERSIST) segment(seg, seg_end, kmin, kmax);\n"
    "    if constexpr (WS) {\n"
    "        if (threadIdx.x == 0) {\n"
    "            for (int b = 0; b < STAGES; b++) mbar_init(&full[b], PNT), mbar_init(&empty[b], QNT);\n"
    "            if constexpr (PERSIST)\n"
    "                for (int b = 0; b < 2; b++) mbar_init(&qfull[b], PNT), mbar_init(&qempty[b], QNT);\n"
    "        }\n"
    "        __syncthreads();\n"
    "        if (warp >= CW) { /* the producer: every tile of every segment, in the consumers' order */\n"
    "            if constexpr (BN == 128)\n"
    "                asm volatile(\"setmaxnreg.dec.sync.aligned.u32 %0;\\n\" ::\"n\"(PERSIST ? 88 : 80) : \"memory\");\n"
    "            int it = 0;\n"
    "            for (int k = 0; take_item(k); k++) {\n"
    "                if constexpr (PERSIST) { /* this item's Q, once the consumers are done with the buffer's last */\n"
    "                    mbar_wait(&qempty[k & 1], ((k >> 1) & 1) ^ 1);\n"
    "                    producer_q(smem + (2 * STAGES * BN + (k & 1) * BM) * LD, threadIdx.x - QNT);\n"
    "                    async_proxy_fence<WG>();\n"
    "                    mbar_arrive(&qfull[k & 1]);\n"
    "                }\n"
    "                for (seg = t0; seg < t_end; seg = seg_end) {\n"
    "                    if (PERSIST || seg != t0) segment(seg, seg_end, kmin, kmax);\n"
    "                    const int *seq_pages = page_indices + page_indptr[token_seq[seg]];\n"
    "                    for (int k0 = kmin; k0 < kmax; k0 += BN, it++) {\n"
    "                        const int b = it % STAGES;\n"
    "                        mbar_wait(&empty[b], ((it / STAGES) & 1) ^ 1); /* a fresh barrier passes parity 1 */\n"
    "                        copy_into(seq_pages, k0, kmax, b, threadIdx.x - QNT);\n"
    "                        cp_async_arrive(&full[b]);\n"
    "                    }\n"
    "                }\n"
    "            }\n"
    "            cp_async_commit(); /* its copies land before it leaves */\n"
    "            cp_async_wait<0>();\n"
    "            return;\n"
    "        }\n"
    "        /* 128-key tiles: the consumers take the registers the producer gave back (80 + 2 x 208 <=\n"
    "         * 3 x 168, or PERSIST's 88: an inc the pool cannot serve waits forever; with 40 or 72 the\n"
    "         * producer's copy loop spilled) */\n"
    "        if constexpr (BN == 128) asm volatile(\"setmaxnreg.inc.sync.aligned.u32 208;\\n\" ::: \"memory\");\n"
    "    } else if constexpr (PIPE) { /* the first tile's copy overlaps Q's staging */\n"
    "        if (kmin < kmax) issue_tile(page_indices + page_indptr[token_seq[seg]], kmin, kmax, 0);\n"
    "    }\n"
    "    if constexpr (!PERSIST) stage_q(Qs, threadIdx.x);\n"
    "\n"
    "    async_proxy_fence<WG>();\n"
    "    if constexpr (WS) {\n"
    "        if constexpr (!PERSIST) named_sync(3, QNT); /* the consumers alone */\n"
    "        if (pingpong && wgi == 0) named_arrive(1, 2 * 128); /* warpgroup 0 takes the first turn */\n"
    "    } else {\n"
    "        __syncthreads();\n"
    "    }\n"
    "    int it = 0; /* WS: tiles consumed */\n"
    "    /* this thread's rows: m-tile mt's rows grp and grp + 8 are rows[2 mt], rows[2 mt + 1] */\n"
    "    int rows[R];\n"
    "#pragma unroll\n"
    "    for (int i = 0; i < R; i++) rows[i] = warp * 16 * MT + (i >> 1) * 16 + grp + (i & 1) * 8;\n"
    "    unsigned qa[QREG ? KD : 1][4];\n"
    "    if constexpr (QREG) {\n"
    "#pragma unroll\n"
    "        for (int kk = 0; kk < KD; kk++) {\n"
    "            const __half *base = Qs + kk * 16 + tig * 2;\n"
    "            qa[kk][0] = *reinterpret_cast<const unsigned *>(base + rows[0] * LD);\n"
    "            qa[kk][1] = *reinterpret_cast<const unsigned *>(base + rows[1] * LD);\n"
    "            qa[kk][2] = *reinterpret_cast<const unsigned *>(base + rows[0] * LD + 8);\n"
    "            qa[kk][3] = *reinterpret_cast<const unsigned *>(base + rows[1] * LD + 8);\n"
    "        }\n"
    "        __syncthreads();\n"
    "    }\n"
    "\n"
    "    /* this thread's rows: token (or -1), position; the first key in the window follows from it\n"
    "     * (MT > 1 keeps only the positions in registers: the rest is recomputed where used) */\n"
    "    auto token_of = [&](int h) {\n"
    "        int t = t0 + rows[h] / G;\n"
    "        return rows[h] < TM * G && t < t_end ? t : -1;\n"
    "    };\n"
    "    auto first_key = [&](int p) { return window > 0 ? (int)max(0LL, (long long)p - window + 1) : 0; };\n"
    "    int pos[R], tok[R];\n"
    "    for (int k = 0; take_item(k); k++) { /* (one item unless PERSIST) */\n"
    "        if constexpr (PERSIST) { /* this item's Q, staged by the producer */\n"
    "            mbar_wait(&qfull[k & 1], (k >> 1) & 1);\n"
    "            Qs = smem + (2 * STAGES * BN + (k & 1) * BM) * LD;\n"
    "            async_proxy_fence<WG>();\n"
    "            seg = t0;\n"
    "        }\n"
    "#pragma unroll\n"
    "        for (int h = 0; h < R; h++) {\n"
    "            tok[h] = token_of(h);\n"
    "            pos[h] = tok[h] >= 0 ? positions[tok[h]] : -1;\n"
    "        }\n"
    "\n"
    "        for (; seg < t_end; seg = seg_end) {\n"
    "            if (PERSIST || seg != t0) segment(seg, seg_end, kmin, kmax);\n"
    "            auto active = [&](int h) { return tok[h] >= seg && tok[h] < seg_end; };\n"
    "            const int *seq_pages = page_indices + page_indptr[token_seq[seg]];\n"
    "\n"
    "            float o[MT][ND][4], m[R], l[R];\n"
    "#pragma unroll\n"
    "            for (int h = 0; h < R; h++) m[h] = NEG_INF, l[h] = 0.f;\n"
    "#pragma unroll\n"
    "            for (int mt = 0; mt < MT; mt++)\n"
    "#pragma unroll\n"
    "                for (int nd = 0; nd < ND; nd++) o[mt][nd][0] = o[mt][nd][1] = o[mt][nd][2] = o[mt][nd][3] = 0.f;\n"
    "\n"
    "            int buf = 0;\n"
    "            if constexpr (WS) {\n"
    "                if (pingpong) named_sync(1 + wgi, 2 * 128); /* this warpgroup's turn: the first S */\n"
    "            } else if constexpr (PIPE) {\n"
    "                if (seg != t0 && kmin < kmax) issue_tile(seq_pages, kmin, kmax, 0);\n"
    "            }\n"
    "\n"
    "            for (int k0 = kmin; k0 < kmax; k0 += BN) {\n"
    "                /* K and V tile: float32 pages -> half, rows of LD halves (padding: no bank conflicts);\n"
    "                 * half pages: 16-byte copies */\n"
    "                if constexpr (WS) {\n"
    "                    const int b = it % STAGES;\n"
    "                    mbar_wait(&full[b], (it / STAGES) & 1);\n"
    "                    Ks = smem + b * 2 * BN * LD, Vs = Ks + BN * LD;\n"
    "                    async_proxy_fence<WG>();\n"
    "                } else if constexpr (PIPE) {\n"
    "                    if (k0 + BN < kmax) { /* the buffer it fills was released by the last iteration's barrier */\n"
    "                        issue_tile(seq_pages, k0 + BN, kmax, buf ^ 1);\n"
    "                        cp_async_wait<1>();\n"
    "                    } else {\n"
    "                        cp_async_wait<0>();\n"
    "                    }\n"
    "                    Ks = smem + buf * 2 * BN * LD, Vs = Ks + BN * LD;\n"
    "                    async_proxy_fence<WG>();\n"
    "                } else if constexpr (sizeof(KV) == 2) {\n"
    "                    constexpr int C8 = D / 8, PER8 = (BN * C8 + NT - 1) / NT, BATCH8 = PER8 % 4 == 0 ? 4 : PER8 % 2 == 0 ? 2 : 1;\n"
    "#pragma unroll\n"
    "                    for (int b = 0; b < PER8; b += BATCH8) {\n"
    "                        uint4 kv[BATCH8][2];\n"
    "#pragma unroll\n"
    "                        for (int u = 0; u < BATCH8; u++) {\n"
    "                            int i = threadIdx.x + (b + u) * NT, j = i / C8, c = i % C8, key = k0 + j;\n"
    "                            kv[u][0] = kv[u][1] = make_uint4(0, 0, 0, 0);\n"
    "                            if (i < BN * C8 && key < kmax) {\n"
    "                                const KV *kp = key_row(seq_pages, key) + 8 * c;\n"
    "                                kv[u][0] = *reinterpret_cast<const uint4 *>(kp);\n"
    "                                kv[u][1] = *reinterpret_cast<const uint4 *>(kp + v_offset);\n"
    "                            }\n"
    "                        }\n"
    "#pragma unroll\n"
    "                        for (int u = 0; u < BATCH8; u++) {\n"
    "                            int i = threadIdx.x + (b + u) * NT, j = i / C8, c = i % C8;\n"
    "                            if (i >= BN * C8) continue; /* BN C8 not a multiple of NT (D = 80, 8 warps) */\n"
    "                            *reinterpret_cast<uint4 *>(Ks + j * LD + 8 * c) = kv[u][0];\n"
    "                            *reinterpret_cast<uint4 *>(Vs + j * LD + 8 * c) = kv[u][1];\n"
    "                        }\n"
    "                    }\n"
    "                } else {\n"
    "                constexpr int PER = BN * C4 / NT, BATCH = PER % 4 == 0 ? 4 : PER % 2 == 0 ? 2 : 1;\n"
    "#pragma unroll\n"
    "                for (int b = 0; b < PER; b += BATCH) {\n"
    "                    float4 kv[BATCH][2];\n"
    "#pragma unroll\n"
    "                    for (int u = 0; u < BATCH; u++) {\n"
    "                        int i = threadIdx.x + (b + u) * NT, j = i / C4, c = i % C4, key = k0 + j;\n"
    "                        kv[u][0] = kv[u][1] = make_float4(0.f, 0.f, 0.f, 0.f);\n"
    "                        if (key < kmax) {\n"
    "                            const KV *kp = key_row(seq_pages, key) + 4 * c;\n"
    "                            kv[u][0] = *reinterpret_cast<const float4 *>(kp);\n"
    "                            kv[u][1] = *reinterpret_cast<const float4 *>(kp + v_offset);\n"
    "                        }\n"
    "                    }\n"
    "#pragma unroll\n"
    "                    for (int u = 0; u < BATCH; u++) {\n"
    "                        int i = threadIdx.x + (b + u) * NT, j = i / C4, c = i % C4;\n"
    "                        unsigned *kd = reinterpret_cast<unsigned *>(Ks + j * LD + 4 * c);\n"
    "                        unsigned *vd = reinterpret_cast<unsigned *>(Vs + j * LD + 4 * c);\n"
    "                        kd[0] = pack_half2(kv[u][0].x, kv[u][0].y), kd[1] = pack_half2(kv[u][0].z, kv[u][0].w);\n"
    "                        vd[0] = pack_half2(kv[u][1].x, kv[u][1].y), vd[1] = pack_half2(kv[u][1].z, kv[u][1].w);\n"
    "                    }\n"
    "                }\n"
    "                }\n"
    "                if constexpr (!WS) __syncthreads();\n"
    "\n"
    "                if (computes) {\n"
    "                /* S = Q K^T: 16 MT rows x BN keys per warp; K's B fragments by ldmatrix, two k-steps a\n"
    "                 * load, each serving the warp's MT m-tiles (MT > 1: Q's A fragments by ldmatrix too) */\n"
    "                float s[MT][BN / 8][4];\n"
    "                if constexpr (WG) { /* the warpgroup's 64 rows of Q and the tile's keys from shared memory */\n"
    "                    const __half *qw = Qs + (warp >> 2) * 64 * 64;\n"
    "                    wg_fence<BN, false>(s[0]);\n"
    "#pragma unroll\n"
    "                    for (int ks = 0; ks < KD; ks++)\n"
    "                        wgmma_ss<BN>(s[0], wg_desc(qw + (ks >> 2) * BM * 64 + (ks & 3) * 16, 16, 1024),\n"
    "                                     wg_desc(Ks + (ks >> 2) * BN * 64 + (ks & 3) * 16, 16, 1024), ks > 0);\n"
    "                    wg_commit();\n"
    "                    if (pingpong) named_arrive(1 + (wgi ^ 1), 2 * 128); /* the other's turn */\n"
    "                    wg_wait<BN>(s[0]);\n"
    "                } else {\n"
    "#pragma unroll\n"
    "                for (int mt = 0; mt < MT; mt++)\n"
    "#pragma unroll\n"
    "                    for (int nb = 0; nb < BN / 8; nb++) s[mt][nb][0] = s[mt][nb][1] = s[mt][nb][2] = s[mt][nb][3] = 0.f;\n"
    "#pragma unroll\n"
    "                for (int kk = 0; kk + 1 < KD; kk += 2) {\n"
    "                    unsigned qf[MT][2][4];\n"
    "                    if constexpr (!QREG) {\n"
    "#pragma unroll\n"
    "                        for (int mt = 0; mt < MT; mt++)\n"
    "#pragma unroll\n"
    "                            for (int u = 0; u < 2; u++)\n"
    "                                ldmatrix_x4(qf[mt][u], Qs + (warp * 16 * MT + mt * 16 + (lane & 15)) * LD + (kk + u) * 16 +\n"
    "                                                           (lane >> 4) * 8);\n"
    "                    }\n"
    "#pragma unroll\n"
    "                    for (int nb = 0; nb < BN / 8; nb++) {\n"
    "                        unsigned kb[4];\n"
    "                        ldmatrix_x4(kb, Ks + (nb * 8 + (lane & 7)) * LD + (lane >> 3) * 8 + kk * 16);\n"
    "#pragma unroll\n"
    "                        for (int mt = 0; mt < MT; mt++) {\n"
    "                            mma16816(s[mt][nb], QREG ? qa[kk] : qf[mt][0], kb[0], kb[1]);\n"
    "                            mma16816(s[mt][nb], QREG ? qa[kk + 1] : qf[mt][1], kb[2], kb[3]);\n"
    "                        }\n"
    "                    }\n"
    "                }\n"
    "                if constexpr (KD % 2 == 1) { /* D = 80: the last k-step alone */\n"
    "                    unsigned qf[MT][4];\n"
    "                    if constexpr (!QREG) {\n"
    "#pragma unroll\n"
    "                        for (int mt = 0; mt < MT; mt++)\n"
    "                            ldmatrix_x4(qf[mt], Qs + (warp * 16 * MT + mt * 16 + (lane & 15)) * LD + (KD - 1) * 16 +\n"
    "                                                    (lane >> 4) * 8);\n"
    "                    }\n"
    "#pragma unroll\n"
    "                    for (int nb = 0; nb < BN / 8; nb++) {\n"
    "                        unsigned kb[2];\n"
    "                        ldmatrix_x2(kb, Ks + (nb * 8 + (lane & 7)) * LD + ((lane >> 3) & 1) * 8 + (KD - 1) * 16);\n"
    "#pragma unroll\n"
    "                        for (int mt = 0; mt < MT; mt++) mma16816(s[mt][nb], QREG ? qa[KD - 1] : qf[mt], kb[0], kb[1]);\n"
    "                    }\n"
    "                }\n"
    "                } /* WG */\n"
    "                /* soft-cap, causal / window mask, in log2 units; a tile whose keys all rows of the warp\n"
    "                 * see (all but the diagonal's, with no window) needs neither (warp-uniform test) */\n"
    "                float mx[R];\n"
    "#pragma unroll\n"
    "                for (int h = 0; h < R; h++) mx[h] = NEG_INF;\n"
    "                bool whole = false;\n"
    "                if (prescaled) {\n"
    "                    bool mine = true;\n"
    "#pragma unroll\n"
    "                    for (int h = 0; h < R; h++) mine = mine && active(h) && k0 + BN - 1 <= pos[h] && k0 >= first_key(pos[h]);\n"
    "                    whole = __all_sync(0xffffffffu, mine);\n"
    "                }\n"
    "                if (whole) {\n"
    "#pragma unroll\n"
    "                    for (int mt = 0; mt < MT; mt++)\n"
    "#pragma unroll\n"
    "                        for (int nb = 0; nb < BN / 8; nb++)\n"
    "#pragma unroll\n"
    "                            for (int e = 0; e < 4; e++) mx[2 * mt + (e >> 1)] = fmaxf(mx[2 * mt + (e >> 1)], s[mt][nb][e]);\n"
    "                } else {\n"
    "#pragma unroll\n"
    "                for (int mt = 0; mt < MT; mt++)\n"
    "#pragma unroll\n"
    "                for (int nb = 0; nb < BN / 8; nb++)\n"
    "#pragma unroll\n"
    "                    for (int e = 0; e < 4; e++) {\n"
    "                        int h = 2 * mt + (e >> 1), key = k0 + nb * 8 + tig * 2 + (e & 1);\n"
    "                        float x = s[mt][nb][e];\n"
    "                        if (softcap > 0.f) x = softcap * tanhf(x / softcap);\n"
    "                        x = active(h) && key <= pos[h] && key >= first_key(pos[h]) ? x * lmul : NEG_INF;\n"
    "                        s[mt][nb][e] = x;\n"
    "                        mx[h] = fmaxf(mx[h], x);\n"
    "                    }\n"
    "                }\n"
    "                float corr[R], base[R];\n"
    "                bool moved = false;\n"
    "#pragma unroll\n"
    "                for (int h = 0; h < R; h++) {\n"
    "                    mx[h] = fmaxf(mx[h], __shfl_xor_sync(0xffffffffu, mx[h], 1));\n"
    "                    mx[h] = fmaxf(mx[h], __shfl_xor_sync(0xffffffffu, mx[h], 2));\n"
    "                    float mnew = fmaxf(m[h], mx[h]);\n"
    "                    base[h] = mnew == NEG_INF ? 0.f : mnew; /* a row with no key yet: every weight 0 */\n"
    "                    corr[h] = fast_exp2(m[h] - base[h]);\n"
    "                    moved = moved || mnew != m[h];\n"
    "                    m[h] = mnew;\n"
    "                    l[h] *= corr[h];\n"
    "                }\n"
    "#pragma unroll\n"
    "                for (int mt = 0; mt < MT; mt++)\n"
    "#pragma unroll\n"
    "                for (int nb = 0; nb < BN / 8; nb++)\n"
    "#pragma unroll\n"
    "                    for (int e = 0; e < 4; e++) {\n"
    "                        float p = fast_exp2(s[mt][nb][e] - base[2 * mt + (e >> 1)]);\n"
    "                        s[mt][nb][e] = p;\n"
    "                        l[2 * mt + (e >> 1)] += p;\n"
    "                    }\n"
    "                /* O rescaled only when a row's max moved (otherwise every corr is 1): after the first\n"
    "                 * tiles most do not, and the multiplies were a tenth of the kernel's instructions */\n"
    "                if (__any_sync(0xffffffffu, moved))\n"
    "#pragma unroll\n"
    "                for (int mt = 0; mt < MT; mt++)\n"
    "#pragma unroll\n"
    "                for (int nd = 0; nd < ND; nd++) {\n"
    "                    o[mt][nd][0] *= corr[2 * mt], o[mt][nd][1] *= corr[2 * mt];\n"
    "                    o[mt][nd][2] *= corr[2 * mt + 1], o[mt][nd][3] *= corr[2 * mt + 1];\n"
    "                }\n"
    "                /* O += P V: the S accumulators are P's A fragments (as half); V through ldmatrix.trans,\n"
    "                 * each fragment serving the MT m-tiles; for wgmma V is read MN-major (d contiguous,\n"
    "                 * the transpose in the instruction), its column blocks BN 128 bytes apart */\n"
    "                if constexpr (WG) {\n"
    "                    unsigned pa[BN / 16][4];\n"
    "#pragma unroll\n"
    "                    for (int kk = 0; kk < BN / 16; kk++) {\n"
    "                        pa[kk][0] = pack_half2(s[0][2 * kk][0], s[0][2 * kk][1]);\n"
    "                        pa[kk][1] = pack_half2(s[0][2 * kk][2], s[0][2 * kk][3]);\n"
    "                        pa[kk][2] = pack_half2(s[0][2 * kk + 1][0], s[0][2 * kk + 1][1]);\n"
    "                        pa[kk][3] = pack_half2(s[0][2 * kk + 1][2], s[0][2 * kk + 1][3]);\n"
    "#pragma unroll\n"
    "                        for (int e = 0; e < 4; e++) asm volatile(\"\" : \"+r\"(pa[kk][e])::\"memory\");\n"
    "                    }\n"
    "                    if (pingpong) named_sync(1 + wgi, 2 * 128); /* this warpgroup's turn: P V, then the next S */\n"
    "                    wg_fence<D, true>(o[0]);\n"
    "#pragma unroll\n"
    "                    for (int kk = 0; kk < BN / 16; kk++)\n"
    "                        wgmma_rs<D>(o[0], pa[kk], wg_desc(Vs + kk * 16 * 64, BN * 128, 1024));\n"
    "                    wg_commit();\n"
    "                    wg_wait<D>(o[0]);\n"
    "                } else\n"
    "#pragma unroll\n"
    "                for (int kk = 0; kk < BN / 16; kk++) {\n"
    "                    unsigned pa[MT][4];\n"
    "#pragma unroll\n"
    "                    for (int mt = 0; mt < MT; mt++) {\n"
    "                        pa[mt][0] = pack_half2(s[mt][2 * kk][0], s[mt][2 * kk][1]);\n"
    "                        pa[mt][1] = pack_half2(s[mt][2 * kk][2], s[mt][2 * kk][3]);\n"
    "                        pa[mt][2] = pack_half2(s[mt][2 * kk + 1][0], s[mt][2 * kk + 1][1]);\n"
    "                        pa[mt][3] = pack_half2(s[mt][2 * kk + 1][2], s[mt][2 * kk + 1][3]);\n"
    "                    }\n"
    "                    const __half *vr = Vs + (kk * 16 + (lane & 7) + ((lane >> 3) & 1) * 8) * LD + (lane >> 4) * 8;\n"
    "#pragma unroll\n"
    "                    for (int nd2 = 0; nd2 < ND / 2; nd2++) {\n"
    "                        unsigned vb[4];\n"
    "                        ldmatrix_x4_trans(vb, vr + nd2 * 16);\n"
    "#pragma unroll\n"
    "                        for (int mt = 0; mt < MT; mt++) {\n"
    "                            mma16816(o[mt][2 * nd2], pa[mt], vb[0], vb[1]);\n"
    "                            mma16816(o[mt][2 * nd2 + 1], pa[mt], vb[2], vb[3]);\n"
    "                        }\n"
    "                    }\n"
    "                }\n"
    "                } /* computes */\n"
    "                if constexpr (WS) {\n"
    "                    mbar_arrive(&empty[it % STAGES]); /* this thread's reads are done */\n"
    "                    it++;\n"
    "                } else {\n"
    "                    __syncthreads();\n"
    "                    buf ^= 1;\n"
    "                }\n"
    "            }\n"
    "            if (pingpong) named_arrive(1 + (wgi ^ 1), 2 * 128); /* the other's turn: its last P V */\n"
    "            /* the rows of this segment: O / l */\n"
    "#pragma unroll\n"
    "            for (int h = 0; h < R; h++) {\n"
    "                l[h] += __shfl_xor_sync(0xffffffffu, l[h], 1);\n"
    "                l[h] += __shfl_xor_sync(0xffffffffu, l[h], 2);\n"
    "                if (!active(h)) continue;\n"
    "                float inv = l[h] > 0.f ? 1.f / l[h] : 0.f;\n"
    "                OT *dst = out + ((long long)tok[h] * QH + kvh * G + rows[h] % G) * D + tig * 2;\n"
    "                const int mt = h >> 1, e = (h & 1) * 2;\n"
    "#pragma unroll\n"
    "                for (int nd = 0; nd < ND; nd++)\n"
    "                    if constexpr (sizeof(OT) == 2) /* half out: the next projection's x */\n"
    "                        *reinterpret_cast<unsigned *>(dst + nd * 8) = pack_half2(o[mt][nd][e] * inv, o[mt][nd][e + 1] * inv);\n"
    "                    else\n"
    "                        *reinterpret_cast<float2 *>(dst + nd * 8) = make_float2(o[mt][nd][e] * inv, o[mt][nd][e + 1] * inv);\n"
    "            }\n"
    "        }\n"
    "        if constexpr (PERSIST) mbar_arrive(&qempty[k & 1]); /* its S products are done: the buffer is free */\n"
    "    }\n"
    "}\n"
    "\n"
    "/* A combined projection output qkv [T, (QH + 2 KVH) D] (half in a prefill, float32 in a decode\n"
    " * step; columns q | k | v) made ready for the flash kernel in one pass: q rotated with the rope\n"
    " * table [T, 2, D/2] (float64, as mlcc_rope_q rotates it), times qmul (the kernel's scale, times\n"
    " * log2 e when it computes in log2 units) and rounded to half into q16 [T, QH, D]; K rotated the\n"
    " * same way (as the append's rope_k_table: float64, rounded to float32) and V stored into their\n"
    " * half pages at slots[t] (a token whose slot is < 0 is not stored). A thread takes 4 NeoX pairs\n"
    " * (d..d+3 with d+H..d+H+3) of one head of one token; H = D / 2 a multiple of 4. */\n"
    "template <typename X> struct four;\n"
    "template <> struct four<__half> { typedef uint2 type; };\n"
    "template <> struct four<float> { typedef float4 type; };\n"
    "template <typename X>\n"
    "__device__ __forceinline__ void prefill_qkv(const X *__restrict__ qkv, __half *__restrict__ q16,\n"
    "                                            __half *__restrict__ pages,\n"
    "                                            const int *__restrict__ slots, const double *__restrict__ table, long long T,\n"
    "                                            int QH, int KVH, int D, int PS, float qmul) {\n"
    "    /* q16 NULL: K and V alone (the flash kernel rotates q while it loads it) */\n"
    "    const int H = D / 2, P = H / 4, heads = QH + 2 * KVH, h0 = q16 ? 0 : QH, here = heads - h0;\n"
    "    const long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;\n"
    "    if (i >= T * here * P) return;\n"
    "    const long long th = i / P, t = th / here;\n"
    "    const int h = h0 + (int)(th % here), k = 4 * (int)(i % P);\n"
    "    typedef typename four<X>::type V4;\n"
    "    const X *row = qkv + (t * heads + h) * D;\n"
    "    const V4 xr = *reinterpret_cast<const V4 *>(row + k), yr = *reinterpret_cast<const V4 *>(row + H + k);\n"
    "    const X *xs = reinterpret_cast<const X *>(&xr), *ys = reinterpret_cast<const X *>(&yr);\n"
    "    float a[4], b[4];\n"
    "#pragma unroll\n"
    "    for (int e = 0; e < 4; e++) {\n"
    "        const float x = (float)xs[e], y = (float)ys[e];\n"
    "        if (h < QH + KVH) { /* q and K: the NeoX rotation in float64 */\n"
    "            const double c = table[t * 2 * H + k + e], s = table[(t * 2 + 1) * H + k + e];\n"
    "            a[e] = rope_one(x, y, c, s, true);\n"
    "            b[e] = rope_one(y, x, c, s, false);\n"
    "        } else {\n"
    "            a[e] = x, b[e] = y;\n"
    "        }\n"
    "    }\n"
    "    if (h < QH) {\n"
    "        __half *dst = q16 + (t * QH + h) * D + k;\n"
    "        uint2 lo, hi;\n"
    "        lo.x = pack_half2(a[0] * qmul, a[1] * qmul), lo.y = pack_half2(a[2] * qmul, a[3] * qmul);\n"
    "        hi.x = pack_half2(b[0] * qmul, b[1] * qmul), hi.y = pack_half2(b[2] * qmul, b[3] * qmul);\n"
    "        *reinterpret_cast<uint2 *>(dst) = lo;\n"
    "        *reinterpret_cast<uint2 *>(dst + H) = hi;\n"
    "        return;\n"
    "    }\n"
    "    const int slot = slots[t];\n"
    "    if (slot < 0) return;\n"
    "    const int is_v = h >= QH + KVH, kvh = h - QH - (is_v ? KVH : 0);\n"
    "    __half *dst = pages + ((((long long)(slot / PS) * 2 + is_v) * KVH + kvh) * PS + slot % PS) * D + k;\n"
    "    uint2 lo, hi;\n"
    "    lo.x = pack_half2(a[0], a[1]), lo.y = pack_half2(a[2], a[3]);\n"
    "    hi.x = pack_half2(b[0], b[1]), hi.y = pack_half2(b[2], b[3]);\n"
    "    *reinterpret_cast<uint2 *>(dst) = lo;\n"
    "    *reinterpret_cast<uint2 *>(dst + H) = hi;\n"
    "}\n"
    "extern \"C\" __global__ void mlcc_prefill_qkv_h(const __half *qkv, __half *q16, __half *pages, const int *slots,\n"
    "                                              const double *table, long long T, int QH, int KVH, int D, int PS,\n"
    "                                              float qmul) {\n"
    "    mlcc_pdl_begin(0, 0);\n"
    "    prefill_qkv<__half>(qkv, q16, pages, slots, table, T, QH, KVH, D, PS, qmul);\n"
    "}\n"
    "extern \"C\" __global__ void mlcc_prefill_qkv_f(const float *qkv, __half *q16, __half *pages, const int *slots,\n"
    "                                              const double *table, long long T, int QH, int KVH, int D, int PS,\n"
    "                                              float qmul) {\n"
    "    mlcc_pdl_begin(0, 0);\n"
    "    prefill_qkv<float>(qkv, q16, pages, slots, table, T, QH, KVH, D, PS, qmul);\n"
    "}\n"
    "\n"
    "#define FLASH(D, NW, KV, PIPE, MT, BN, SUFFIX, QT, OT) FLASH_T(D, NW, KV, PIPE, MT, BN, SUFFIX, QT, OT, false)\n"
    "#define FLASH_T(D, NW, KV, PIPE, MT, BN, SUFFIX, QT, OT, WG) FLASH_O(D, NW, KV, PIPE, MT, BN, SUFFIX, QT, OT, WG, false)\n"
    "#define FLASH_O(D, NW, KV, PIPE, MT, BN, SUFFIX, QT, OT, WG, PERSIST)                                                  \\\n"
    "    extern \"C\" __global__ void __launch_bounds__(32 * NW) mlcc_flash_prefill_##D##_##NW##SUFFIX(                     \\\n"
    "        const QT *q, const KV *pages, const int *token_seq, const int *positions, const int *page_indptr,          \\\n"
    "        const int *page_indices, OT *out, int T, int QH, int KVH, int PS, int G, long long window, float scale,    \\\n"
    "        float softcap, int TB, int fast, const double *rope, long long q_row) {                                       \\\n"
    "        mlcc_pdl_begin(0, 0);                                                                                         \\\n"
    "        flash_prefill<D, NW, KV, PIPE, MT, BN, QT, OT, WG, PERSIST>(q, pages, token_seq, positions, page_indptr,         \\\n"
    "                                                           page_indices, out, T, QH, KVH, PS, G, window, scale,        \\\n"
    "                                                           softcap, TB, fast, rope, q_row);                            \\\n"
    "    }\n"
    "/* float32 pages, half pages, half pages through cp.async; the last with q as half (_hpq), and\n"
    " * with the output half too (_hpqh) */\n"
    "#define FLASH_BOTH(D, NW)                                                                                             \\\n"
    "    FLASH(D, NW, float, false, 1, 64, , float, float) FLASH(D, NW, __half, false, 1, 64, _h, float, float)            \\\n"
    "    FLASH(D, NW, __half, true, 1, 64, _hp, float, float) FLASH(D, NW, __half, true, 1, 64, _hpq, __half, float)       \\\n"
    "    FLASH(D, NW, __half, true, 1, 64, _hpqh, __half, __half)\n"
    "/* two m-tiles a warp (half pages through cp.async, 4 warps over 128 rows), tiles of 64 and 32 keys */\n"
    "#define FLASH_MT2(D)                                                                                                  \\\n"
    "    FLASH(D, 4, __half, true, 2, 64, _hp2, float, float) FLASH(D, 4, __half, true, 2, 32, _hp2s, float, float)\n"
    "/* the sm_90a module (MLCC_WGMMA_KERNELS) holds the wgmma kernels alone: 8 warps, half q and\n"
    " * pages, float32 (_wg) or half (_wgh) output; the warp-specialized ones with 12 (_ws, _wsh), with\n"
    " * 128-key tiles (_wsb, _wsbh) and those persistent (_wsp, _wsph) */\n"
    "#ifdef MLCC_WGMMA_KERNELS\n"
    "#define FLASH_WG(D)                                                                                                   \\\n"
    "    FLASH_T(D, 8, __half, true, 1, 64, _wg, __half, float, true)                                                      \\\n"
    "    FLASH_T(D, 8, __half, true, 1, 64, _wgh, __half, __half, true)                                                    \\\n"
    "    FLASH_T(D, 12, __half, true, 1, 64, _ws, __half, float, true)                                                     \\\n"
    "    FLASH_T(D, 12, __half, true, 1, 64, _wsh, __half, __half, true)                                                   \\\n"
    "    FLASH_T(D, 12, __half, true, 1, 128, _wsb, __half, float, true)                                                   \\\n"
    "    FLASH_T(D, 12, __half, true, 1, 128, _wsbh, __half, __half, true)                                                 \\\n"
    "    FLASH_O(D, 12, __half, true, 1, 128, _wsp, __half, float, true, true)                                             \\\n"
    "    FLASH_O(D, 12, __half, true, 1, 128, _wsph, __half, __half, true, true)\n"
    "FLASH_WG(64)\n"
    "FLASH_WG(128)\n"
    "#else\n"
    "FLASH_BOTH(64, 4)\n"
    "FLASH_BOTH(80, 4)\n"
    "FLASH_BOTH(96, 4)\n"
    "FLASH_BOTH(128, 4)\n"
    "FLASH_BOTH(64, 8)\n"
    "FLASH_BOTH(80, 8)\n"
    "FLASH_BOTH(96, 8)\n"
    "FLASH_BOTH(128, 8)\n"
    "FLASH_MT2(64)\n"
    "FLASH_MT2(80)\n"
    "FLASH_MT2(96)\n"
    "FLASH_MT2(128)\n"
    "#endif\n";

const char *mlcc_cuda_flash_prefill_kernel_source(void) {
    return kernel_source;
}

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

/* The wgmma kernels' module source: the same text with MLCC_WGMMA_KERNELS (only the _wg
 * instances), compiled for sm_90a. Built once under the lock, kept for the process. */
static const char *wgmma_source_locked(void) {
    static char *source;
    if (!source) {
        mlcc_strbuf sb = STRBUF_INIT;
        sb_append(&sb, MLCC_ARCH_SPECIFIC_DECLARATION "\n#define MLCC_WGMMA_KERNELS\n");
        sb_append(&sb, kernel_source);
        source = sb_detach(&sb);
    }
    return source;
}

const char *mlcc_cuda_flash_prefill_wgmma_source(void) {
    pthread_mutex_lock(&lock);
    const char *source = wgmma_source_locked();
    pthread_mutex_unlock(&lock);
    return source;
}

enum { MAX_DEVICES = 16, NUM_DIMS = 4 };
static const int head_dims[NUM_DIMS] = {64, 80, 96, 128};

typedef struct flash_device {
    int ready;
    mlcc_cuda_module *module;
    void *kernel[NUM_DIMS][2][5]; /* [head dim][4 or 8 warps][float32 pages, half, half through cp.async, and q half,
                                   * and q and out half] */
    void *mt2[NUM_DIMS][2];       /* two m-tiles a warp (half pages, cp.async): [head dim][tiles of 64, 32 keys] */
    void *prepare[2];             /* mlcc_prefill_qkv_{f,h}: float32 or half qkv (half pages) */
    int wg_state;                 /* the wgmma module: 0 not tried, 1 loaded, -1 not for this device */
    mlcc_cuda_module *wg_module;
    void *wg[4][2][2]; /* [8 warps, warp-specialized 12: plain, 128-key tiles, persistent][head dim 64, 128][float32, half out] */
} flash_device;

static flash_device devices[MAX_DEVICES];

static int dim_index(int head_dim) {
    for (int i = 0; i < NUM_DIMS; i++)
        if (head_dims[i] == head_dim) return i;
    return -1;
}

/* 8 by default: 213 us against 272 us with 4 per layer at 2048 tokens (Llama-3-8B shape, H100,
 * 2026-11-26; 2 blocks of 8 warps fit a multiprocessor at 226 registers a thread) */
static int warps(void) {
    const char *v = getenv("MLCC_CUDA_FLASH_WARPS");
    return v && atoi(v) == 4 ? 4 : 8;
}

/* MLCC_CUDA_FLASH_PIPE=0: half pages through registers (load, then store to shared memory,
 * then compute) instead of the cp.async double buffer; read per call (tests switch it). */
static int pipelined(void) {
    const char *v = getenv("MLCC_CUDA_FLASH_PIPE");
    return !(v && strcmp(v, "0") == 0);
}

/* MLCC_CUDA_FLASH_MT=2: prefill with half pages through cp.async runs blocks of 4 warps, each
 * warp over two 16-row m-tiles, so every K/V fragment read from shared memory feeds two mma (Q
 * stays in shared memory); MLCC_CUDA_FLASH_BN=64 | 32 (default 32: no register spills at
 * head_dim 96 and 128, ptxas -v) sets its keys a tile. Read per call. */
static int m_tiles(void) {
    const char *v = getenv("MLCC_CUDA_FLASH_MT");
    return v && atoi(v) == 2 ? 2 : 1;
}

static int mt2_keys(void) {
    const char *v = getenv("MLCC_CUDA_FLASH_BN");
    return v && atoi(v) == 64 ? 64 : 32;
}

/* MLCC_CUDA_FLASH_FAST=0: every tile through the mask and q scaled by the scale alone (the
 * softmax as before 2026-11-26's seventh session); read per call. */
static int fast_softmax(void) {
    const char *v = getenv("MLCC_CUDA_FLASH_FAST");
    return !(v && strcmp(v, "0") == 0);
}

/* MLCC_CUDA_FLASH_WGMMA=0: prefill keeps the mma.sync kernel on Hopper too; read per call. */
static int wgmma_allowed(void) {
    const char *v = getenv("MLCC_CUDA_FLASH_WGMMA");
    return !(v && strcmp(v, "0") == 0);
}

int mlcc_cuda_flash_prefill_supports(int head_dim, int num_qo_heads, int num_kv_heads) {
    if (dim_index(head_dim) < 0 || num_kv_heads <= 0 || num_qo_heads % num_kv_heads) return 0;
    int group = num_qo_heads / num_kv_heads;
    return group >= 1 && group <= 64 && num_kv_heads <= 65535; /* a block holds >= 1 token's group */
}

static int device_ready(int id, flash_device **out) {
    if (id < 0 || id >= MAX_DEVICES) return mlcc_set_error("cuda flash prefill: device %d out of range", id);
    flash_device *d = &devices[id];
    *out = d;
    if (d->ready) return 0;
    d->module = mlcc_cuda_module_load_source(id, kernel_source);
    if (!d->module) return mlcc_prefix_error("cuda flash prefill kernels");
    for (int i = 0; i < NUM_DIMS; i++)
        for (int w = 0; w < 2; w++)
            for (int h = 0; h < 5; h++) {
                static const char *const suffix[5] = {"", "_h", "_hp", "_hpq", "_hpqh"};
                char name[64];
                snprintf(name, sizeof name, "mlcc_flash_prefill_%d_%d%s", head_dims[i], w ? 8 : 4, suffix[h]);
                if (!(d->kernel[i][w][h] = mlcc_cuda_module_kernel(d->module, name))) return -1;
            }
    for (int i = 0; i < NUM_DIMS; i++)
        for (int b = 0; b < 2; b++) {
            char name[64];
            snprintf(name, sizeof name, "mlcc_flash_prefill_%d_4_hp2%s", head_dims[i], b ? "s" : "");
            if (!(d->mt2[i][b] = mlcc_cuda_module_kernel(d->module, name))) return -1;
        }
    if (!(d->prepare[0] = mlcc_cuda_module_kernel(d->module, "mlcc_prefill_qkv_f")) ||
        !(d->prepare[1] = mlcc_cuda_module_kernel(d->module, "mlcc_prefill_qkv_h")))
        return -1;
    d->ready = 1;
    return 0;
}

/* The warp-specialized wgmma kernels (a producer warpgroup, a ring of K/V buffers on mbarriers)
 * by default: the 64-key one took 138 us a layer against 163 us for the 8-warp one in the model
 * at 2048 tokens (Llama-3-8B shape, H100, 2026-11-27, MLCC_CUDA_PROFILE); MLCC_CUDA_FLASH_WS=0
 * runs the 8-warp kernel. Read per call. */
static int warp_specialized(void) {
    return mlcc_env_int("MLCC_CUDA_FLASH_WS", 1) != 0;
}

/* MLCC_CUDA_FLASH_WS_KEYS=128 (with MLCC_CUDA_FLASH_WS_PERSIST=0, or where the persistent kernel
 * does not fit): the warp-specialized kernel with tiles of 128 keys (two buffers; the consumers
 * take the producer's registers through setmaxnreg: 208 a thread, no spills): 104 us against
 * 111 us for 64-key tiles (bench_cuda_flash, 2048 tokens, H200). Read per call. */
static int ws_keys(void) {
    return mlcc_env_int("MLCC_CUDA_FLASH_WS_KEYS", 64) == 128 ? 128 : 64;
}

/* The warp-specialized kernel with 128-key tiles, persistent (a block a multiprocessor taking the
 * items in turn, the producer staging each item's Q into one of two buffers ahead of the
 * consumers), by default: bench_cuda_flash at 2048 tokens (H200, q rotated in the kernel) 112 us
 * against 135 us for the 64-key kernel, 98.8 against 110.8 with q rotated by the prep kernel.
 * MLCC_CUDA_FLASH_WS_PERSIST=0 runs the kernels MLCC_CUDA_FLASH_WS_KEYS picks. Read per call. */
static int ws_persistent(void) {
    return mlcc_env_int("MLCC_CUDA_FLASH_WS_PERSIST", 1) == 1;
}

/* MLCC_CUDA_FLASH_PERSIST_BLOCKS=N: the persistent kernel's blocks (default 0: one a
 * multiprocessor); tests take few, so that each block takes several items */
static int persist_blocks(void) {
    return mlcc_env_int("MLCC_CUDA_FLASH_PERSIST_BLOCKS", 0);
}

/* MLCC_CUDA_FLASH_PINGPONG: the consumer warpgroups' turns, by default with 64-key tiles only
 * (bench_cuda_flash, 2048 tokens, H100 / H200: 64-key 112 us with turns against 114 without;
 * 128-key 109 against 106, persistent 103 against 98). */
static int pingpong_off(int keys) {
    return mlcc_env_int("MLCC_CUDA_FLASH_PINGPONG", keys == 64) == 0;
}

/* Which wgmma kernel the switches above ask for (wg's first index): 0 the 8-warp one, 1 the
 * warp-specialized one, 2 with 128-key tiles, 3 those persistent. */
enum { WG_PLAIN, WG_WS, WG_WS_KEYS128, WG_WS_PERSIST };
static int wgmma_kind(void) {
    if (!warp_specialized()) return WG_PLAIN;
    return ws_persistent() ? WG_WS_PERSIST : ws_keys() == 128 ? WG_WS_KEYS128 : WG_WS;
}

/* Keys a K/V tile of the wgmma kernel of that kind holds */
static int kind_keys(int kind) {
    return kind >= WG_WS_KEYS128 ? 128 : 64;
}

/* Shared memory of a wgmma kernel of that kind: two warpgroups of 64 rows, Q after the K/V
 * buffers (unpadded), 1 KB for the alignment; warp-specialized: three K/V buffers (two of 128
 * keys) and their mbarriers; persistent: two Q buffers, theirs, and with a rope table the
 * item's rows of it (128 / group tokens, head_dim float64 values each). */
static size_t wgmma_shared_bytes(int kind, int head_dim, int group, int rope) {
    int ws = kind != WG_PLAIN, per = kind == WG_WS_PERSIST, bn = kind_keys(kind);
    int stages = ws && bn == 64 ? 3 : 2;
    size_t bytes = (size_t)(2 * stages * bn + (per ? 2 : 1) * 128) * head_dim * 2 + 1024;
    if (ws) bytes += (size_t)(2 * stages + (per ? 4 : 0)) * 8;
    if (per && rope) bytes += (size_t)(128 / group) * head_dim * 8;
    return bytes;
}

/* The persistent kernel copies the rope table by 16 bytes and keeps an item's rows of it in
 * shared memory: with a table not 16-byte aligned, or rows that do not fit (GQA groups under 4
 * at head_dim 128), the 128-key kernel runs instead. */
static int persistent_fits(int device_id, const mlcc_cuda_prefill_args *a, int group) {
    if ((uintptr_t)a->rope_table % 16) return 0;
    int limit = mlcc_cuda_device_shared_optin(device_id); /* (227 KB on sm_90) */
    return limit > 0 && wgmma_shared_bytes(WG_WS_PERSIST, a->head_dim, group, a->rope_table != NULL) <= (size_t)limit;
}

/* The wgmma kernel of that kind for head_dim (64 or 128) and the output type, loading the sm_90a
 * module at the first call on an sm_90 device; NULL (no error) where it does not apply. Under
 * the lock. */
static void *wgmma_kernel(int id, flash_device *d, int kind, int head_dim, int out_f16) {
    if (d->wg_state == 0) {
        d->wg_state = -1;
        if (mlcc_cuda_device_arch(id) == 90) {
            d->wg_module = mlcc_cuda_module_load_source(id, wgmma_source_locked());
            int ok = d->wg_module != NULL;
            static const char *const kinds[4] = {"8_wg", "12_ws", "12_wsb", "12_wsp"};
            for (int w = 0; ok && w < 4; w++)
                for (int i = 0; ok && i < 2; i++)
                    for (int o = 0; ok && o < 2; o++) {
                        char name[64];
                        snprintf(name, sizeof name, "mlcc_flash_prefill_%d_%s%s", i ? 128 : 64, kinds[w], o ? "h" : "");
                        ok = (d->wg[w][i][o] = mlcc_cuda_module_kernel(d->wg_module, name)) != NULL;
                    }
            if (ok) d->wg_state = 1;
            else LOG_WARN("cuda flash prefill: the wgmma kernels did not load (%s); the mma.sync kernel runs", mlcc_last_error());
        }
    }
    if (d->wg_state != 1 || (head_dim != 64 && head_dim != 128)) return NULL;
    return d->wg[kind][head_dim == 128][out_f16 != 0];
}

int mlcc_cuda_flash_prefill(int device_id, const mlcc_cuda_prefill_args *a) {
    if (!mlcc_cuda_flash_prefill_supports(a->head_dim, a->num_qo_heads, a->num_kv_heads))
        return mlcc_set_error("cuda flash prefill: head_dim %d with %d query / %d KV heads is not covered", a->head_dim,
                              a->num_qo_heads, a->num_kv_heads);
    if (((uintptr_t)a->q | (uintptr_t)a->pages | (uintptr_t)a->out) % 16)
        return mlcc_set_error("cuda flash prefill: q, pages and out must be 16-byte aligned");
    if (a->rope_table && (a->head_dim / 2) % 4)
        return mlcc_set_error("cuda flash prefill: rotating q while loading it needs head_dim / 2 a multiple of 4 (%d)",
                              a->head_dim);
    if (a->q_f16 && !a->pages_f16) return mlcc_set_error("cuda flash prefill: a half q needs half pages");
    long long q_row = a->q_row ? a->q_row : (long long)a->num_qo_heads * a->head_dim;
    if (q_row < (long long)a->num_qo_heads * a->head_dim || q_row % (a->q_f16 ? 8 : 4))
        return mlcc_set_error("cuda flash prefill: q rows %lld elements apart (at least %d x %d, 16-byte steps)", q_row,
                              a->num_qo_heads, a->head_dim);
    if (a->out_f16 && !a->q_f16) return mlcc_set_error("cuda flash prefill: a half output needs a half q");
    if (a->rope_table && a->q_f16 && (a->head_dim / 2) % 8)
        return mlcc_set_error("cuda flash prefill: rotating a half q needs head_dim / 2 a multiple of 8 (%d)", a->head_dim);
    if (a->num_tokens <= 0) return 0;
    if (a->num_tokens > 0x7fffffff) return mlcc_set_error("cuda flash prefill: %lld tokens is too many", (long long)a->num_tokens);
    if (a->page_size <= 0 || 2LL * a->num_kv_heads * a->page_size * a->head_dim > 0x7fffffff)
        return mlcc_set_error("cuda flash prefill: page_size %d (a page of %d KV heads must hold < 2^31 values)", a->page_size,
                              a->num_kv_heads);
    int nw = warps(), group = a->num_qo_heads / a->num_kv_heads;
    if (group > 16 * nw) nw = 8; /* (group <= 64 by supports: one token's group fits 64 rows) */
    int tb = a->tokens_per_block == 1 ? 1 : 0;
    if (tb) nw = 4; /* one token: its group (<= 64 rows) in the first warps, the others only load tiles */
    int64_t tokens_per_block = tb ? 1 : 16 * nw / group, blocks = (a->num_tokens + tokens_per_block - 1) / tokens_per_block;
    int variant = a->q_f16 ? 3 + (a->out_f16 != 0) : a->pages_f16 ? (pipelined() ? 2 : 1) : 0;
    pthread_mutex_lock(&lock);
    flash_device *d = NULL;
    int rc = device_ready(device_id, &d);
    int kind = wgmma_kind();
    if (kind == WG_WS_PERSIST && !persistent_fits(device_id, a, group)) kind = WG_WS_KEYS128;
    void *wg = !rc && variant >= 3 && !tb && wgmma_allowed() ? wgmma_kernel(device_id, d, kind, a->head_dim, a->out_f16) : NULL;
    pthread_mutex_unlock(&lock);
    if (rc) return -1;
    void *kernel = d->kernel[dim_index(a->head_dim)][nw == 8][variant];
    uint32_t shared = (uint32_t)((variant >= 2 ? 4 : 2) * 64 * (a->head_dim + 8) * 2); /* BN = 64 keys, rows of D + 8 halves */
    int fast = fast_softmax(), persistent_blocks = 0;
    if (wg) { /* two warpgroups of 64 rows; Q after the K/V buffers, unpadded, 1 KB for the alignment */
        int ws = kind != WG_PLAIN, per = kind == WG_WS_PERSIST;
        nw = ws ? 12 : 8, tokens_per_block = 128 / group, blocks = (a->num_tokens + tokens_per_block - 1) / tokens_per_block;
        kernel = wg;
        shared = (uint32_t)wgmma_shared_bytes(kind, a->head_dim, group, a->rope_table != NULL);
        if (per) { /* a block a multiprocessor, at most one an item */
            int sms = persist_blocks() > 0 ? persist_blocks() : mlcc_cuda_device_sm_count(device_id);
            if (sms <= 0) return mlcc_prefix_error("cuda flash prefill");
            persistent_blocks = blocks * a->num_kv_heads < sms ? (int)(blocks * a->num_kv_heads) : sms;
        }
        if (ws && pingpong_off(kind_keys(kind))) fast |= 2;
    } else if (variant == 2 && !tb && m_tiles() == 2) { /* 4 warps x 32 rows; Q after the two K/V buffers */
        int bn = mt2_keys();
        nw = 4, tokens_per_block = 128 / group, blocks = (a->num_tokens + tokens_per_block - 1) / tokens_per_block;
        kernel = d->mt2[dim_index(a->head_dim)][bn == 32];
        shared = (uint32_t)((4 * bn + 128) * (a->head_dim + 8) * 2);
    }
    int T = (int)a->num_tokens, QH = a->num_qo_heads, KVH = a->num_kv_heads, PS = a->page_size;
    long long window = a->window;
    float scale = (float)a->scale, softcap = (float)a->softcap;
    void *args[] = {(void *)&a->q,        (void *)&a->pages,        (void *)&a->token_seq, (void *)&a->positions,
                    (void *)&a->page_indptr, (void *)&a->page_indices, (void *)&a->out,   &T, &QH, &KVH, &PS, &group,
                    &window,              &scale,                   &softcap,              &tb, &fast, (void *)&a->rope_table,
                    &q_row};
    if (blocks * KVH > 0x7fffffff)
        return mlcc_set_error("cuda flash prefill: %lld blocks is too many", (long long)(blocks * KVH));
    /* rank * KVH + head (persistent: blocks taking those items in turn) */
    uint32_t grid[3] = {(uint32_t)(persistent_blocks ? persistent_blocks : blocks * KVH), 1, 1}, block[3] = {(uint32_t)(32 * nw), 1, 1};
    double t0 = mlcc_cuda_profiling() ? mlcc_cuda_profile_begin(device_id) : 0;
    rc = mlcc_cuda_launch(device_id, kernel, grid, block, shared, args);
    if (t0 > 0) mlcc_cuda_profile_end(device_id, tb ? "attn_decode (flash, a block per sequence)" : "attn_prefill (flash, tensor cores)", t0);
    return rc ? mlcc_prefix_error("cuda flash prefill") : 0;
}

float mlcc_cuda_flash_q_scale(double scale, double softcap) {
    float s = (float)scale; /* as the kernel: its float scale, times a float log2 e */
    return fast_softmax() && (float)softcap <= 0.f ? s * 1.4426950408889634f : s;
}

int mlcc_cuda_prefill_qkv(int device_id, const mlcc_cuda_prefill_qkv_args *a) {
    int D = a->head_dim, QH = a->num_qo_heads, KVH = a->num_kv_heads, PS = a->page_size;
    if (D <= 0 || (D / 2) % 4 || D % 2 || QH <= 0 || KVH <= 0 || PS <= 0)
        return mlcc_set_error("cuda prefill q, k, v: head_dim %d (half of it a multiple of 4), %d query / %d KV heads, "
                              "page_size %d",
                              D, QH, KVH, PS);
    if ((uintptr_t)a->qkv % (a->qkv_f16 ? 8 : 16) || (uintptr_t)a->q16 % 8 || !a->rope_table || !a->slots || !a->pages)
        return mlcc_set_error("cuda prefill q, k, v: qkv must be %d-byte and q16 8-byte aligned, with pages, slots and a rope "
                              "table",
                              a->qkv_f16 ? 8 : 16);
    long long threads = (long long)a->num_tokens * ((a->q16 ? QH : 0) + 2 * KVH) * (D / 8); /* q16 NULL: K, V alone */
    if (threads <= 0) return 0;
    pthread_mutex_lock(&lock);
    flash_device *d = NULL;
    int rc = device_ready(device_id, &d);
    pthread_mutex_unlock(&lock);
    if (rc) return -1;
    long long T = a->num_tokens;
    float q_scale = a->q_scale;
    void *args[] = {(void *)&a->qkv, (void *)&a->q16, (void *)&a->pages, (void *)&a->slots, (void *)&a->rope_table,
                    &T, &QH, &KVH, &D, &PS, &q_scale};
    uint32_t grid[3] = {(uint32_t)((threads + 255) / 256), 1, 1}, block[3] = {256, 1, 1};
    double t0 = mlcc_cuda_profiling() ? mlcc_cuda_profile_begin(device_id) : 0;
    rc = mlcc_cuda_launch(device_id, d->prepare[a->qkv_f16 != 0], grid, block, 0, args);
    if (t0 > 0) mlcc_cuda_profile_end(device_id, "q, k, v for the flash prefill (rope, append)", t0);
    return rc ? mlcc_prefix_error("cuda prefill q, k, v") : 0;
}
