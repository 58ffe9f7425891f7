#!/usr/bin/env bash
# run_flash.sh - test_cuda_flash_attention on a machine without a GPU: the flash attention's
# mma.sync kernels (runtime/cuda_attention.c) run on the CPU (shim.h, shim_decode.h,
# flash_shim.h, flash_driver.cpp) in place of the GPU, against the test's CPU reference, so a
# change to the kernel's indexing, masks, softmax or tile pipeline is checked before a GPU is at
# hand. The driver reports an sm_80 device: the sm_90a wgmma kernels are not run. Slow (a thread
# per CUDA thread, mma.sync and ldmatrix through barriers): the decode cases by default, about
# three minutes on two cores, most of it NVRTC compiling the module for sm_80 once.
#
#   bench/cuda_emu/run_flash.sh [BUILD_DIR]     (default build; needs g++, gcc, NVRTC)
#   MLCC_TEST_FLASH_CASES=0,8,9 bench/cuda_emu/run_flash.sh    (the test's case indices)
set -euo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${1:-$src/build}" && pwd)
T=$(mktemp -d /tmp/mlcc-flash-emu.XXXXXX)
trap 'rm -rf "$T"' EXIT
# the kernel source: the C string literals of kernel_source in runtime/cuda_attention.c, from its
# first comment on (the PDL and mbarrier helpers are macros there, flash_shim.h here), without
# the inline-PTX helpers (pack_half2 .. async_proxy_fence) and the shared memory declaration
PYTHONPATH="$src/bench/cuda_emu" python3 - "$src/src/runtime/cuda_attention.c" >"$T/flash.cu" <<'PY'
import sys
from c_literal import literal
src = literal(sys.argv[1], "kernel_source[]", ";\n\nconst char *mlcc_cuda_flash_prefill_kernel_source")
src = src[src.index("/* FlashAttention-2"):]
a = src.index("__device__ __forceinline__ unsigned pack_half2")
b = src.index("template <bool WG, int D> __device__ __forceinline__ int tile_at")
src = src[:a] + "/* (the inline-PTX helpers: flash_shim.h) */\n" + src[b:]
src = src.replace("extern __shared__ __align__(16) unsigned char flash_smem[];\n", "")
sys.stdout.write(src)
PY
gcc -O2 -fPIC -c -DcuLaunchKernel=null_cuLaunchKernel -DcuLaunchKernelEx=null_cuLaunchKernelEx \
    -DcuModuleGetFunction=null_cuModuleGetFunction -DcuDeviceGetAttribute=null_cuDeviceGetAttribute \
    "$src/bench/null_cuda_driver.c" -o "$T/null.o"
# -fno-strict-aliasing: the kernel reads half pairs through reinterpret_cast (fine for nvcc)
g++ -std=c++17 -O1 -fPIC -ffp-contract=off -fno-strict-aliasing -w -shared -I"$T" -I"$src/bench/cuda_emu" \
    "$src/bench/cuda_emu/flash_driver.cpp" "$T/null.o" -o "$T/libcuda.so.1" -lpthread -ldl
cd "$build"
export MLCC_CUDA_DRIVER=$T/libcuda.so.1 MLCC_CUBLASLT=$T/none MLCC_HOME=$T/home
MLCC_TEST_FLASH_CASES=${MLCC_TEST_FLASH_CASES-8,9} stdbuf -oL -eL ./test_cuda_flash_attention
