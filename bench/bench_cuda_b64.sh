#!/usr/bin/env bash
# bench_cuda_b64.sh - issue 17's batched-decode goal in ONE run on the lent GPU: a random-weight
# Llama-3-8B (bench/configs/Llama-3-8B.json, float16) through `mlcc bench --device cuda
# --quantization q0f16 --prompt-len 512 --gen-len 32 --batch 16,64` with the skinny tensor-core
# matmul off (the default: cuBLASLt from 3 rows) and on (MLCC_CUDA_SKINNY=1), then Hugging Face
# transformers on the same config in the same run: bfloat16 random weights on the GPU, batch 64
# (and 16) greedy decode after a 512-token prompt, eager and sdpa attention.
# usage (on the device, from a bundle made by scripts/device-bundle.sh with build/mlcc, this
# script, bench/bench_transformers.py and the config beside it): bash bench_cuda_b64.sh OUTDIR
# (SKIP_HF=1: mlcc only; BATCHES=16,64; an env.sh beside it, as device-bundle.sh writes, is
# sourced). Writing the random weights takes ~30-150 s.
set -uo pipefail
out=${1:-/tmp}
here=$(cd "$(dirname "$0")" && pwd)
[ -f "$here/env.sh" ] && . "$here/env.sh"
cfg=$here/Llama-3-8B.json
batches=${BATCHES:-16,64}
export MLCC_HOME=${MLCC_HOME:-/tmp/mlcc-home}
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,memory.total --format=csv
scratch=$(sh "$here/scratch_dir.sh" 2>/dev/null || echo /tmp) # /dev/shm when it has room (scratch_dir.sh)
SECONDS=0
mlcc debug random-model --config "$cfg" --out $scratch/mlcc-b64 --quantization f16 --seed 1 | tail -1
for skinny in 0 1; do
    echo "=== MLCC_CUDA_SKINNY=$skinny (at ${SECONDS} s)"
    MLCC_CUDA_SKINNY=$skinny mlcc bench $scratch/mlcc-b64 --device cuda --quantization q0f16 --prompt-len 512 \
        --gen-len 32 --batch "$batches" --repeat 1 2>&1 | grep -v "^\[mlcc bench\]" | tee -a "$out/mlcc_b64.txt"
done
rm -rf $scratch/mlcc-b64
echo "mlcc bench: ${SECONDS} s"
[ "${SKIP_HF:-0}" = 1 ] && exit 0
PYTHONUNBUFFERED=1 python3 "$here/bench_transformers.py" "$cfg" --prompts "" --batches "$batches" --decode-prompt 512 \
    --steps 16 --dtype bfloat16 --attn eager,sdpa 2>&1 | grep -v Warning | tee "$out/transformers_b64.txt"
echo "total ${SECONDS} s"
