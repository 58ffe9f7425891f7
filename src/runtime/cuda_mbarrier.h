/* cuda_mbarrier.h - shared-memory mbarriers (sm_90), as one CUDA C++ string that hand-written
 * kernel sources put in front of the kernels that use them: the warp-specialized flash
 * attention's K/V ring (cuda_attention.c) and the streaming 4-bit GEMV's ring of weight stages
 * (cuda_linear_q4.c). A producer's copies arrive on a stage's `full` barrier as they land; the
 * consumers arrive on its `empty` one when they are done with it; waits are by phase parity.
 * Unused, the functions emit nothing, so modules compiled for older GPUs may include them. */
#ifndef MLCC_RUNTIME_CUDA_MBARRIER_H
#define MLCC_RUNTIME_CUDA_MBARRIER_H

#define MLCC_CUDA_MBARRIER_HELPERS                                                                 \
    "static __device__ __forceinline__ unsigned smem_u32(const void *p) {\n"                       \
    "    return (unsigned)__cvta_generic_to_shared(p);\n"                                          \
    "}\n"                                                                                          \
    "static __device__ __forceinline__ void mbar_init(unsigned long long *b, int count) {\n"       \
    "    asm volatile(\"mbarrier.init.shared::cta.b64 [%0], %1;\\n\" ::\"r\"(smem_u32(b)), \"r\"(count) : \"memory\");\n" \
    "}\n"                                                                                          \
    "static __device__ __forceinline__ void mbar_arrive(unsigned long long *b) {\n"                \
    "    asm volatile(\"mbarrier.arrive.shared::cta.b64 _, [%0];\\n\" ::\"r\"(smem_u32(b)) : \"memory\");\n" \
    "}\n"                                                                                          \
    "static __device__ __forceinline__ void mbar_wait(unsigned long long *b, int parity) {\n"      \
    "    asm volatile(\"{\\n.reg .pred p;\\nWAIT:\\n\"\n"                                           \
    "                 \"mbarrier.try_wait.parity.shared::cta.b64 p, [%0], %1;\\n\"\n"               \
    "                 \"@!p bra WAIT;\\n}\\n\" ::\"r\"(smem_u32(b)), \"r\"(parity) : \"memory\");\n" \
    "}\n"

#endif
