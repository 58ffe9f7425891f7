#!/usr/bin/env bash
# run.sh - test_cuda_sample_topp on a machine without a GPU: the sampling kernel's CUDA source
# runs on the CPU (shim.h, sample_driver.cpp) in place of the GPU, so its logic (cuts, ties, the
# shared-memory list, the host wrapper's packing) is checked against the host sampler before a
# GPU is at hand. Slow (threads per block): the parameter grid and edge rows take a few minutes
# on two cores; the distribution check and the timings after them take much longer (stop it
# there: the timings mean nothing here). The engine check needs real kernels and fails here.
#
#   bench/cuda_emu/run.sh [BUILD_DIR]      (default build; needs g++, gcc, NVRTC for the compile check)
set -euo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${1:-$src/build}" && pwd)
T=$(mktemp -d /tmp/mlcc-cuda-emu.XXXXXX)
trap 'rm -rf "$T"' EXIT
# the kernel source: the C string literal of kernel_source in runtime/cuda_sample_topp.c
python3 "$src/bench/cuda_emu/c_literal.py" "$src/src/runtime/cuda_sample_topp.c" kernel_source >"$T/topp.cu"
gcc -O2 -fPIC -c -DcuLaunchKernel=null_cuLaunchKernel -DcuModuleGetFunction=null_cuModuleGetFunction \
    "$src/bench/null_cuda_driver.c" -o "$T/null.o"
g++ -O2 -fPIC -ffp-contract=off -fpermissive -w -shared -I"$T" -I"$src/bench/cuda_emu" \
    "$src/bench/cuda_emu/sample_driver.cpp" "$T/null.o" -o "$T/libcuda.so.1" -lpthread
cd "$build"
MLCC_CUDA_DRIVER=$T/libcuda.so.1 MLCC_CUBLASLT=$T/none MLCC_HOME=$T/home MLCC_TESTDATA=${MLCC_TESTDATA:-$build/testdata} \
    stdbuf -oL -eL ./test_cuda_sample_topp
