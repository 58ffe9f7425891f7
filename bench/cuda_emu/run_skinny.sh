#!/usr/bin/env bash
# run_skinny.sh - the skinny matmul's kernels (runtime/cuda_skinny.c) on a machine without a GPU:
# their CUDA source runs on the CPU (skinny_shim.h, skinny_driver.cpp) in place of the GPU, and
# skinny_check.c compares mlcc_cuda_linear_f16_add's results with float64 at odd shapes, so the
# indexing, the K tails, the row and output tails, split-K and both x paths are checked before a
# GPU is at hand. About a minute on two cores.
#
#   bench/cuda_emu/run_skinny.sh [BUILD_DIR]      (default build; needs g++, gcc, NVRTC)
set -euo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${1:-$src/build}" && pwd)
T=$(mktemp -d /tmp/mlcc-skinny-emu.XXXXXX)
trap 'rm -rf "$T"' EXIT
# the kernel source: the C string literal of kernel_source in runtime/cuda_skinny.c, without the
# fp16 header and with the dynamic shared memory pointed at the driver's buffer
PYTHONPATH="$src/bench/cuda_emu" python3 - "$src/src/runtime/cuda_skinny.c" >"$T/skinny.cu" <<'PY'
import sys
from c_literal import literal
src = literal(sys.argv[1], "kernel_source", ";\n\n")
src = src.replace("#include <cuda_fp16.h>\n", "")
src = src.replace("extern __shared__ uint4 smem[];", "uint4 *smem = reinterpret_cast<uint4 *>(emu_dyn_smem);")
sys.stdout.write(src)
PY
gcc -O2 -fPIC -c -DcuLaunchKernel=null_cuLaunchKernel -DcuLaunchKernelEx=null_cuLaunchKernelEx \
    -DcuModuleGetFunction=null_cuModuleGetFunction \
    "$src/bench/null_cuda_driver.c" -o "$T/null.o"
g++ -O2 -fPIC -ffp-contract=off -w -shared -I"$T" -I"$src/bench/cuda_emu" \
    "$src/bench/cuda_emu/skinny_driver.cpp" "$T/null.o" -o "$T/libcuda.so.1" -lpthread
cc -O2 -I"$src/include" -I"$src/src" "$src/bench/cuda_emu/skinny_check.c" -L"$build" -lmlcc -lmlcc_runtime -lm \
    -Wl,-rpath,"$build" -o "$T/skinny_check"
MLCC_CUDA_DRIVER=$T/libcuda.so.1 MLCC_CUBLASLT=$T/none MLCC_HOME=$T/home "$T/skinny_check"
