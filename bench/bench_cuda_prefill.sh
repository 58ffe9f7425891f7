#!/usr/bin/env bash
# bench_cuda_prefill.sh - issue 17's prefill figures with this session's switches on and off, in
# ONE run on the lent GPU (BENCHMARKS.md, "CUDA prefill: half activations ..."): a random-weight
# Llama-3-8B shape (32 layers) through `mlcc bench --prompt-len 512 --prefill-also 2048`, all
# switches on, then off; 4 layers at 2048 tokens with each switch off alone; the 4-layer profile
# with cuBLASLt's candidate timing logged.
# usage (on the device, from a bundle made by scripts/device-bundle.sh with build/mlcc, this
# script and bench/configs/Llama-3-8B.json beside it): bash bench_cuda_prefill.sh OUTDIR
set -uo pipefail
out=${1:-/tmp}
here=$(cd "$(dirname "$0")" && pwd)
export MLCC_HOME=${MLCC_HOME:-/tmp/mlcc-home}
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
scratch=$(sh "$here/scratch_dir.sh" 2>/dev/null || echo /tmp) # /dev/shm when it has room (scratch_dir.sh)
sed 's/"num_hidden_layers": 32/"num_hidden_layers": 4/' "$here/Llama-3-8B.json" > /tmp/l4.json
mlcc debug random-model --config "$here/Llama-3-8B.json" --out $scratch/l32 --quantization f16 --seed 1 > "$out/w32.txt" 2>&1 &
writer=$!
mlcc debug random-model --config /tmp/l4.json --out $scratch/l4 --quantization f16 --seed 1 > "$out/w4.txt" 2>&1
off="MLCC_CUDA_HALF_ACT=0 MLCC_CUDA_FLASH_FAST=0 MLCC_CUDA_LT_TUNE_RESIDUAL=0"
b4="mlcc bench $scratch/l4 --device cuda --quantization q0f16 --prompt-len 2048 --gen-len 2 --batch 1 --repeat 2 --floor-mb 256"
MLCC_LOG=info MLCC_CUDA_PROFILE=1 $b4 > "$out/profile4.txt" 2>&1
grep "cuBLASLt 2048\|rows 2048\|attn_prefill" "$out/profile4.txt"
wait $writer
b32="mlcc bench $scratch/l32 --device cuda --quantization q0f16 --prompt-len 512 --prefill-also 2048 --gen-len 8 --batch 1 --repeat 1"
for setting in "X=1" "$off"; do
    echo "== 32 layers: $setting"
    env $setting $b32 2>&1 | grep "^prefill\|^ *1 \|^floors"
done
for setting in "X=1" "$off" MLCC_CUDA_HALF_ACT=0 MLCC_CUDA_FLASH_FAST=0 MLCC_CUDA_LT_TUNE_RESIDUAL=0 "MLCC_CUDA_FLASH_MT=2 MLCC_CUDA_FLASH_BN=64"; do
    echo "== 4 layers: $setting: $(env $setting $b4 2>&1 | grep -m1 '^prefill')"
done
