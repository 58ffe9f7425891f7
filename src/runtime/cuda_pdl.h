/* cuda_pdl.h - programmatic dependent launch (PDL, sm_90+): the device-side convention every
 * kernel that may start before its predecessor has finished follows, as one CUDA C++ string
 * that kernel sources (hand-written and generated) put in front of their code.
 *
 * A kernel launched with CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION may be scheduled
 * while the previous kernel in the stream drains. It must run mlcc_pdl_wait() (PTX
 * griddepcontrol.wait: blocks until the preceding grid has completed and its writes are
 * visible) before it reads anything an earlier kernel wrote or writes anything an earlier
 * kernel reads. What it does before the wait may only load memory no kernel writes (weights);
 * mlcc_pdl_prefetch() asks for a range in L2 (a hint: L2 is coherent, so it is safe for any
 * memory), so a GEMV's weight stream starts during the previous kernel's tail. mlcc_pdl_launch_dependents() lets the next grid be scheduled early
 * (safe because that grid waits in turn). Without the attribute, or below sm_90, the wait and
 * the trigger are no-ops.
 *
 * The early trigger (MLCC_PDL_EARLY_TRIGGER, defined by cuda_module.c unless
 * MLCC_CUDA_PDL_EARLY_TRIGGER=0): mlcc_pdl_wait() lets the next grid be scheduled first, so it
 * is scheduled as soon as every block of this grid has started, not when this grid's
 * predecessor has finished. A decode step's GEMV then loads its weights while the kernel two
 * before it still streams its own, instead of after the small kernel between them (a norm, a
 * rounding) has waited, so memory does not idle at the boundaries (4-bit batch 1 on the H200:
 * 558-568 against 527-540 tok/s, session 34). Still safe: a grid completes only after its wait
 * returned, that is after its predecessor completed, so completions keep the stream's order and
 * a kernel past its wait sees every earlier kernel's writes. What is new is that the part before
 * the wait may now overlap any earlier kernel, not only the one before: hence the rule above,
 * "no kernel writes", not "the previous kernel does not write". The next grid is scheduled only
 * once all of this grid's blocks have started, so it never takes the place of this grid's later
 * waves.
 *
 * Which kernels of a module wait is declared in the source by a line
 *     // mlcc-pdl: <name prefix> [<name prefix> ...]     ("*": every kernel)
 * cuda_module.c reads these lines when a kernel is fetched and launches only declared kernels
 * with the attribute (MLCC_CUDA_PDL=0: none). A module without the line launches as before, so
 * a model library built before this convention stays correct. */
#ifndef MLCC_RUNTIME_CUDA_PDL_H
#define MLCC_RUNTIME_CUDA_PDL_H

/* The declaration line cuda_module.c looks for. */
#define MLCC_PDL_DECLARATION "// mlcc-pdl:"

#define MLCC_CUDA_PDL_HELPERS                                                                      \
    "#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900\n"                                         \
    "#define MLCC_PDL_ASM(s) asm volatile(s ::: \"memory\")\n"                                     \
    "#else\n"                                                                                      \
    "#define MLCC_PDL_ASM(s)\n"                                                                    \
    "#endif\n"                                                                                     \
    "#if defined(MLCC_PDL_EARLY_TRIGGER)\n"                                                        \
    "static __device__ __forceinline__ void mlcc_pdl_wait(void) {\n"                               \
    "    MLCC_PDL_ASM(\"griddepcontrol.launch_dependents;\");\n"                                   \
    "    MLCC_PDL_ASM(\"griddepcontrol.wait;\");\n"                                                \
    "}\n"                                                                                          \
    "#else\n"                                                                                      \
    "static __device__ __forceinline__ void mlcc_pdl_wait(void) { MLCC_PDL_ASM(\"griddepcontrol.wait;\"); }\n" \
    "#endif\n"                                                                                     \
    "static __device__ __forceinline__ void mlcc_pdl_launch_dependents(void) {\n"                  \
    "    MLCC_PDL_ASM(\"griddepcontrol.launch_dependents;\");\n"                                   \
    "}\n"                                                                                          \
    "/* [p, p + bytes) towards L2 (the whole 16-byte-aligned inside of it), as one bulk prefetch\n" \
    " * that the block's first thread hands to the copy engine: no per-line instructions (a\n"     \
    " * 128-byte line per thread doubled the GEMVs' load instructions). Compiled out below sm_90\n" \
    " * and when the module was loaded with MLCC_CUDA_PDL_PREFETCH=0 (MLCC_PDL_NO_PREFETCH). */\n" \
    "static __device__ __forceinline__ void mlcc_pdl_prefetch(const void *p, long long bytes) {\n" \
    "#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900 && !defined(MLCC_PDL_NO_PREFETCH)\n"    \
    "    if (threadIdx.x != 0 || threadIdx.y != 0 || threadIdx.z != 0 || bytes <= 0) return;\n"  \
    "    unsigned long long a = ((unsigned long long)p + 15) & ~15ull;\n"                         \
    "    unsigned long long e = ((unsigned long long)p + (unsigned long long)bytes) & ~15ull;\n"   \
    "    if (e <= a) return;\n"                                                                   \
    "    if (e - a > 0x7ffffff0ull) e = a + 0x7ffffff0ull;\n"                                     \
    "    asm volatile(\"cp.async.bulk.prefetch.L2.global [%0], %1;\" ::\"l\"(a), \"r\"((unsigned)(e - a)) : \"memory\");\n" \
    "#endif\n"                                                                                    \
    "}\n"                                                                                          \
    "/* The one line a kernel starts with: its weights [p, p + bytes) towards L2 (0 bytes: none),\n" \
    " * then the wait, then the next kernel may be scheduled. */\n"                                \
    "static __device__ __forceinline__ void mlcc_pdl_begin(const void *p, long long bytes) {\n"   \
    "    mlcc_pdl_prefetch(p, bytes);\n"                                                          \
    "    mlcc_pdl_wait();\n"                                                                      \
    "    mlcc_pdl_launch_dependents();\n"                                                         \
    "}\n"

#endif
