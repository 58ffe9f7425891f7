/* cuda_pdl.h - programmatic dependent launch (PDL, sm_90+): the device-side convention every
 * kernel that may start before its predecessor has finished follows, as one CUDA C++ string
 * that kernel sources (hand-written and generated) put in front of their code.
 *
 * A kernel launched with CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION may be scheduled
 * while the previous kernel in the stream drains. It must run mlcc_pdl_wait() (PTX
 * griddepcontrol.wait: blocks until the preceding grid has completed and its writes are
 * visible) before it reads anything an earlier kernel wrote or writes anything an earlier
 * kernel reads. What it does before the wait may only touch memory no kernel writes (weights):
 * mlcc_pdl_prefetch() pulls a range into L2, so a GEMV's weight stream starts during the
 * previous kernel's tail. mlcc_pdl_launch_dependents() lets the next grid be scheduled early
 * (safe because that grid waits in turn). Without the attribute, or below sm_90, the wait and
 * the trigger are no-ops.
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
    "static __device__ __forceinline__ void mlcc_pdl_wait(void) { MLCC_PDL_ASM(\"griddepcontrol.wait;\"); }\n" \
    "static __device__ __forceinline__ void mlcc_pdl_launch_dependents(void) {\n"                  \
    "    MLCC_PDL_ASM(\"griddepcontrol.launch_dependents;\");\n"                                   \
    "}\n"                                                                                          \
    "/* [p, p + bytes) into L2, a 128-byte line per thread of the block at a time */\n"           \
    "static __device__ __forceinline__ void mlcc_pdl_prefetch(const void *p, long long bytes) {\n" \
    "    const char *c = (const char *)p;\n"                                                      \
    "    for (long long off = (long long)threadIdx.x * 128; off < bytes; off += (long long)blockDim.x * 128)\n" \
    "        asm volatile(\"prefetch.global.L2 [%0];\" ::\"l\"(c + off));\n"                      \
    "}\n"                                                                                          \
    "/* The one line a kernel starts with: its weights [p, p + bytes) towards L2 (0 bytes: none),\n" \
    " * then the wait, then the next kernel may be scheduled. */\n"                                \
    "static __device__ __forceinline__ void mlcc_pdl_begin(const void *p, long long bytes) {\n"   \
    "    mlcc_pdl_prefetch(p, bytes);\n"                                                          \
    "    mlcc_pdl_wait();\n"                                                                      \
    "    mlcc_pdl_launch_dependents();\n"                                                         \
    "}\n"

#endif
