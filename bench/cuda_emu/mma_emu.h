/* mma_emu.h - mma.sync m16n8k16 (float16 in, float32 accumulate) on the CPU, for the shims whose
 * kernels use it (skinny_shim.h, flash_shim.h): each lane posts its registers, a warp barrier,
 * each lane computes its four outputs from the lanes' fragments as PTX lays them out (PTX ISA,
 * "Matrix Fragments for mma.m16n8k16": A 16 x 16 row-major, lane 4 (row % 8) + (k / 2) % 4,
 * register (row / 8) + 2 ((k / 2) / 4); B 16 x 8, lane 4 n + (k / 2) % 4, register (k / 2) / 4;
 * D, lane 4 (row % 8) + col / 2, register 2 (row / 8) + col % 2), a barrier again. The shim
 * defines threadIdx and warp_bar before including it; HALF reads half 0 or 1 of a register. */
struct mma_post {
    unsigned a[4], b[2];
};
static mma_post mma_posts[4096];
template <float (*HALF)(unsigned reg, int hi)>
static inline void emu_mma16816(float *c, unsigned a0, unsigned a1, unsigned a2, unsigned a3, unsigned b0, unsigned b1) {
    unsigned t = threadIdx.x, w = t >> 5, base = w * 32, lane = t & 31;
    mma_posts[t] = {{a0, a1, a2, a3}, {b0, b1}};
    pthread_barrier_wait(&warp_bar[w]);
    for (int e = 0; e < 4; e++) {
        int row = (int)(lane >> 2) + 8 * (e >> 1), col = 2 * (int)(lane & 3) + (e & 1);
        float sum = c[e];
        for (int k = 0; k < 16; k++) {
            int p = k / 2;
            const mma_post &A = mma_posts[base + 4 * (row % 8) + p % 4], &B = mma_posts[base + 4 * col + p % 4];
            sum += HALF(A.a[row / 8 + 2 * (p / 4)], k & 1) * HALF(B.b[p / 4], k & 1);
        }
        c[e] = sum;
    }
    pthread_barrier_wait(&warp_bar[w]); /* every lane has read the posts before they change */
}
