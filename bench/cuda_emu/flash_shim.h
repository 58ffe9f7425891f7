/* flash_shim.h - what the flash attention's mma.sync kernels (runtime/cuda_attention.c) use
 * beyond shim.h and shim_decode.h, on the CPU (for flash_driver.cpp): the warp votes, ldmatrix
 * (each lane posts its row address, a warp barrier, each lane gathers its fragment as PTX lays
 * it out), mma.sync m16n8k16 from the lanes' fragments (mma_emu.h), cp.async as a plain 16-byte
 * copy (or zeros) done when it returns, 2^x through exp2f, and the kernel's helper functions
 * that are inline PTX in its source (run_flash.sh cuts them out). The Hopper-only helpers
 * (wgmma, mbarriers, named barriers) are declared so the template compiles; the driver reports
 * an sm_80 device, so no kernel that uses them is launched. Checks indexing, staging, masks, the
 * online softmax and the pipeline's buffer order; nothing about speed or the memory model. */
#include <stdio.h>
#include <stdlib.h>

static dim3_ gridDim;
static unsigned char *emu_dyn_smem;
#define flash_smem emu_dyn_smem
#define __align__(x)

static inline int __ffs(int x) { return __builtin_ffs(x); }
static inline float __double2float_rn(double d) { return (float)d; }
static inline float __fmaf_rn(float a, float b, float c) { volatile float p = a * b; return p + c; }
static inline unsigned __cvta_generic_to_shared(const void *p) { return (unsigned)((const unsigned char *)p - emu_dyn_smem); }

/* a warp's vote: every lane posts its predicate, a barrier, each lane reads all 32 */
static unsigned vote_slot[4096];
static inline unsigned __ballot_sync(unsigned, int pred) {
    unsigned t = threadIdx.x, w = t >> 5, r = 0;
    pthread_barrier_wait(&warp_bar[w]);
    vote_slot[t] = pred != 0;
    pthread_barrier_wait(&warp_bar[w]);
    for (unsigned l = 0; l < 32; l++) r |= vote_slot[w * 32 + l] << l;
    pthread_barrier_wait(&warp_bar[w]);
    return r;
}
static inline bool __all_sync(unsigned m, int pred) { return __ballot_sync(m, pred) == 0xffffffffu; }
static inline bool __any_sync(unsigned m, int pred) { return __ballot_sync(m, pred) != 0; }
static inline void __syncwarp() { pthread_barrier_wait(&warp_bar[threadIdx.x >> 5]); }

static inline unsigned pack_half2(float lo, float hi) {
    __half2 h = __floats2half2_rn(lo, hi);
    unsigned u;
    memcpy(&u, &h, 4);
    return u;
}
static inline float fast_exp2(float x) { return exp2f(x); }

static inline float half_bits(unsigned reg, int hi) {
    uint16_t bits = (uint16_t)(hi ? reg >> 16 : reg & 0xffff);
    __half h;
    memcpy(&h, &bits, 2);
    return __half2float(h);
}
#include "mma_emu.h"
static inline void mma16816(float *c, const unsigned *a, unsigned b0, unsigned b1) {
    emu_mma16816<half_bits>(c, a[0], a[1], a[2], a[3], b0, b1);
}

/* ldmatrix .m8n8 .b16: lanes 8i .. 8i + 7 give the row addresses of matrix i; lane l receives
 * row l / 4, halves 2 (l % 4) and 2 (l % 4) + 1 of each matrix (.trans: column l / 4, rows
 * 2 (l % 4) and 2 (l % 4) + 1) */
static const __half *ldm_slot[4096];
template <int N, bool TRANS> static inline void ldmatrix(unsigned *r, const __half *p) {
    unsigned t = threadIdx.x, w = t >> 5, base = w * 32, lane = t & 31;
    pthread_barrier_wait(&warp_bar[w]);
    ldm_slot[t] = p;
    pthread_barrier_wait(&warp_bar[w]);
    for (int i = 0; i < N; i++) {
        __half lo, hi;
        if (TRANS) {
            lo = ldm_slot[base + 8 * i + 2 * (lane % 4)][lane / 4];
            hi = ldm_slot[base + 8 * i + 2 * (lane % 4) + 1][lane / 4];
        } else {
            lo = ldm_slot[base + 8 * i + lane / 4][2 * (lane % 4)];
            hi = ldm_slot[base + 8 * i + lane / 4][2 * (lane % 4) + 1];
        }
        uint16_t l, h;
        memcpy(&l, &lo, 2), memcpy(&h, &hi, 2);
        r[i] = (unsigned)l | (unsigned)h << 16;
    }
    pthread_barrier_wait(&warp_bar[w]);
}
static inline void ldmatrix_x4(unsigned *r, const __half *p) { ldmatrix<4, false>(r, p); }
static inline void ldmatrix_x2(unsigned *r, const __half *p) { ldmatrix<2, false>(r, p); }
static inline void ldmatrix_x4_trans(unsigned *r, const __half *p) { ldmatrix<4, true>(r, p); }

/* cp.async: the copy is done when it returns; src_bytes 0 fills zeros */
static inline void cp_async16(void *dst, const void *src, int src_bytes) {
    if (src_bytes == 16) memcpy(dst, src, 16);
    else memset(dst, 0, 16);
}
static inline void cp_async_commit() {}
template <int N> static inline void cp_async_wait() {}

/* cuda_pdl.h's device side: kernels run one after another here */
static inline void mlcc_pdl_begin(const void *, long long) {}

/* Hopper only (never launched here): declared for the template */
static inline void emu_hopper_only() {
    fprintf(stderr, "flash_shim: a Hopper-only helper ran (the driver reports sm_80)\n");
    abort();
}
static inline unsigned smem_u32(const void *p) { return __cvta_generic_to_shared(p); }
static inline void mbar_init(unsigned long long *, int) { emu_hopper_only(); }
static inline void mbar_arrive(unsigned long long *) { emu_hopper_only(); }
static inline void mbar_wait(unsigned long long *, int) { emu_hopper_only(); }
static inline void cp_async_arrive(unsigned long long *) { emu_hopper_only(); }
static inline void named_sync(int, int) { emu_hopper_only(); }
static inline void named_arrive(int, int) { emu_hopper_only(); }
template <bool WG> static inline void async_proxy_fence() {}
static inline unsigned long long wg_desc(const __half *, unsigned, unsigned) { emu_hopper_only(); return 0; }
template <int N> static inline void wgmma_ss(float (&)[N / 8][4], unsigned long long, unsigned long long, bool) { emu_hopper_only(); }
template <int N> static inline void wgmma_rs(float (&)[N / 8][4], const unsigned (&)[4], unsigned long long) { emu_hopper_only(); }
template <int N, bool PIN> static inline void wg_fence(float (&)[N / 8][4]) { emu_hopper_only(); }
static inline void wg_commit() { emu_hopper_only(); }
template <int N, int PENDING = 0> static inline void wg_wait(float (&)[N / 8][4]) { emu_hopper_only(); }
