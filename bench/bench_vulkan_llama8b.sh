#!/usr/bin/env bash
# bench_vulkan_llama8b.sh - issue 20's benchmark in ONE run on the lent GPU: a random-weight
# Llama-3-8B (bench/configs/Llama-3-8B.json) in float16, written once, then the same
# `mlcc bench` command through --device cuda and --device vulkan (prefill 512 tokens, decode at
# batch 1 and 16; each process measures its device's floors: the copy rate and the GEMM its
# prefill uses), Vulkan again with a barrier after every dispatch (MLCC_VULKAN_BARRIERS=all), the
# per-kernel device time of a Vulkan decode, and the Vulkan tests on the GPU's driver first
# (if the model test fails there, the benches run with MLCC_VULKAN_BARRIERS=all).
# usage (on the device, from the root of a bundle made by scripts/device-bundle.sh with
# build/mlcc, build/bench_model, the test_vulkan_* binaries and glslangValidator, plus this
# script, Llama-3-8B.json and testdata/hf-tiny/llama beside bin/; the Vulkan loader unpacked and
# VK_DRIVER_FILES set as docs/vulkan.md says): bash bench_vulkan_llama8b.sh OUTDIR
# The random weights (15 GB) are written while the tests run: ~33 s on the lent H200.
set -uo pipefail
out=${1:-/tmp}
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"
export MLCC_HOME=${MLCC_HOME:-/tmp/mlcc-home} MLCC_TESTDATA=${MLCC_TESTDATA:-$here/testdata}
scratch=$(sh "$here/scratch_dir.sh" 2>/dev/null || echo /tmp) # /dev/shm when it has room (scratch_dir.sh)
model=${MODEL_DIR:-$scratch/llama3-8b-f16}
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem --format=csv,noheader
SECONDS=0
bin/mlcc debug random-model --config Llama-3-8B.json --out "$model" --quantization f16 --seed 1 &
writer=$!
MLCC_LOG=info bin/test_vulkan_linear 2>&1 | grep -E "Found|passed|FAIL" | tail -4
bin/test_vulkan_runtime 2>&1 | tail -1
bin/test_vulkan_graph 2>&1 | tail -1
if ! bin/test_vulkan_models >"$out/models.txt" 2>&1; then
    echo "test_vulkan_models failed: the benches run with MLCC_VULKAN_BARRIERS=all"
    export MLCC_VULKAN_BARRIERS=all
fi
tail -4 "$out/models.txt"
wait $writer || exit 1
echo "model written and tests run: ${SECONDS} s"
for dev in cuda vulkan; do
    bin/mlcc bench "$model" --device $dev --quantization q0f16 --prompt-len 512 --gen-len 32 --batch 1,16 --repeat 1 --json \
        >"$out/bench_$dev.txt" 2>&1
    grep -v "^\[mlcc bench\]" "$out/bench_$dev.txt" | tail -12
done
MLCC_VULKAN_BARRIERS=all bin/mlcc bench "$model" --device vulkan --quantization q0f16 --prompt-len 512 --gen-len 32 \
    --batch 1 --repeat 1 2>&1 | grep -E "^ +1 |prefill \("
MLCC_VULKAN_PROFILE=1 bin/bench_model --model "$model" --quantization q0f16 --prompt 64 --decode 16 --device vulkan 2>&1 |
    sed -n '/^decode:/,$p' | head -24
echo "total ${SECONDS} s"
