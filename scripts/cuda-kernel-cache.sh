#!/usr/bin/env bash
# Compile a model's CUDA kernels here, on a machine without a GPU, into an MLCC_HOME whose cache
# a lent GPU machine (the `device` tool) then starts from.
#
# mlcc compiles its kernels with NVRTC at first use and caches the cubins under
# MLCC_HOME/cache/cuda, keyed by the source, the architecture, the NVRTC version and the options
# (src/runtime/cuda_module.c). NVRTC needs no GPU, and bench/null_cuda_driver.c stands in for the
# driver (an H100's attributes: sm_90, 132 multiprocessors), so `mlcc bench --device cuda` here
# compiles the kernels the same run compiles there. With the same NVRTC version on both machines
# the keys match, and the first run there skips the compilation (measured: 29 s instead of
# 113-177 s for the Llama-3-8B shape, BENCHMARKS.md, session 26). Kernels depend on the shapes
# but not on the layer count: a two-layer model of the same config (full vocabulary) compiles
# what the 32-layer one needs.
#
# usage: scripts/cuda-kernel-cache.sh MLCC MODEL HOME [mlcc bench arguments ...]
#   e.g. scripts/cuda-kernel-cache.sh build/mlcc /tmp/l2 .dev/cache --quantization q0f16 --batch 1,64
# then carry HOME to the device and copy HOME/cache into its MLCC_HOME before the first run.
# Runs `mlcc bench` twice, as a device session does (a 16-token warm-up, then PROMPT_LEN tokens,
# default 512: long prompts take other prefill kernels); outputs are meaningless (no kernel
# runs). Needs gcc and NVRTC (libnvrtc.so.13 / .12).
set -euo pipefail

if [ $# -lt 3 ]; then
    echo "usage: $0 MLCC MODEL HOME [mlcc bench arguments ...]" >&2
    exit 2
fi
mlcc=$1 model=$2 home=$3
shift 3
src=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d /tmp/mlcc-kernel-cache.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
gcc -O2 -shared -fPIC -o "$tmp/libcuda.so.1" "$src/bench/null_cuda_driver.c"
mkdir -p "$home"
run() {
    MLCC_CUDA_DRIVER=$tmp/libcuda.so.1 MLCC_CUBLASLT=$tmp/none MLCC_HOME=$home \
        "$mlcc" bench "$model" --device cuda "$@" >"$tmp/log" 2>&1 ||
        { echo "$0: mlcc bench $* failed:" >&2; tail -5 "$tmp/log" >&2; exit 1; }
}
run --prompt-len 16 --gen-len 4 --batch 1 --repeat 1 "$@"
run --prompt-len "${PROMPT_LEN:-512}" --gen-len 4 --repeat 1 --floor-mb 512 "$@"
echo "$home/cache/cuda: $(ls "$home/cache/cuda" | grep -c '\.cubin$') cubins, $(du -sh "$home/cache/cuda" | cut -f1)"
