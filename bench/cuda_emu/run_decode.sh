#!/usr/bin/env bash
# run_decode.sh - test_cuda_decode_attention and test_kv_cache_cuda_decode on a machine without a GPU: the one-kernel decode
# attention's CUDA source (runtime/cuda_decode_attention.c) runs on the CPU (shim.h,
# shim_decode.h, decode_driver.cpp) in place of the GPU, so its logic (splits, the merge by the
# last block, the counters' reset, q's rope, the folded append) is checked against the test's
# float64 reference before a GPU is at hand. Slow (a thread per CUDA thread): a few minutes.
#
#   bench/cuda_emu/run_decode.sh [BUILD_DIR]     (default build; needs g++, gcc, NVRTC)
set -euo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${1:-$src/build}" && pwd)
T=$(mktemp -d /tmp/mlcc-cuda-emu.XXXXXX)
trap 'rm -rf "$T"' EXIT
# the kernel sources: the C string literals of runtime/cuda_decode_attention.c, without the
# extern "C" instantiations of the decode template (the driver instantiates it per head_dim)
PYTHONPATH="$src/bench/cuda_emu" python3 - "$src/src/runtime/cuda_decode_attention.c" "$T" <<'PY'
import sys
from c_literal import literal
src, out = sys.argv[1], sys.argv[2]
open(out + "/decode.cu", "w").write(literal(src, "kernel_source").split("#define DECODE(GM)")[0])
open(out + "/rope.cu", "w").write(literal(src, "rope_source"))
open(out + "/split.cu", "w").write(literal(src, "split_source"))
open(out + "/cuda_fp16.h", "w").write("")
PY
gcc -O2 -fPIC -c -DcuLaunchKernel=null_cuLaunchKernel -DcuLaunchKernelEx=null_cuLaunchKernelEx \
    -DcuModuleGetFunction=null_cuModuleGetFunction \
    "$src/bench/null_cuda_driver.c" -o "$T/null.o"
# -fno-strict-aliasing: the kernel reads half pairs through reinterpret_cast (fine for nvcc)
g++ -O2 -fPIC -ffp-contract=off -fno-strict-aliasing -fpermissive -w -shared -I"$T" -I"$src/bench/cuda_emu" \
    -DDEC_NW="${MLCC_CUDA_DECODE_WARPS:-8}" -DDEC_EARLY_KV="${MLCC_CUDA_DECODE_EARLY_KV:-0}" \
    "$src/bench/cuda_emu/decode_driver.cpp" "$T/null.o" -o "$T/libcuda.so.1" -lpthread
cd "$build"
export MLCC_CUDA_DRIVER=$T/libcuda.so.1 MLCC_CUBLASLT=$T/none MLCC_HOME=$T/home
MLCC_TEST_DECODE_CASES=${MLCC_TEST_DECODE_CASES-3456} stdbuf -oL -eL ./test_cuda_decode_attention
# the KV cache's decode steps through the kernel against the CPU cache
stdbuf -oL -eL ./test_kv_cache_cuda_decode
