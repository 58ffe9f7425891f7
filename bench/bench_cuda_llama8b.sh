#!/usr/bin/env bash
# bench_cuda_llama8b.sh - the issue-17 benchmark in ONE run on the lent GPU: a random-weight
# Llama-3-8B (bench/configs/Llama-3-8B.json) in float16 and 4-bit (q4f16_1) through `mlcc bench --device cuda`
# (prefill 512 and 2048 tokens, TTFT, decode at batch 1, 16, 64, the copy rate and the cuBLASLt
# f16 GEMM rate measured in the same process), then Hugging Face transformers on the same config
# (f16 random weights on the GPU, sdpa and eager attention) in the same run.
# usage (on the device, from a bundle made by scripts/device-bundle.sh with build/mlcc, this
# script, bench/bench_transformers.py and the config beside it): bash bench_cuda_llama8b.sh OUTDIR
# (SKIP_HF=1: mlcc only). Writing the random weights takes ~30-150 s on the lent H100. Prefill
# figures are the median of 5 runs (--repeat 5): single runs spread by up to 10% between
# processes (BENCHMARKS.md, "Eleventh session"). Transformers runs with sdpa and with eager
# attention (eager decodes faster at batch 1 and 64 on the H100, sdpa prefills faster).
set -uo pipefail
out=${1:-/tmp}
here=$(cd "$(dirname "$0")" && pwd)
cfg=$here/Llama-3-8B.json
export MLCC_HOME=${MLCC_HOME:-/tmp/mlcc-home}
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,memory.total --format=csv
scratch=$(sh "$here/scratch_dir.sh" 2>/dev/null || echo /tmp) # /dev/shm when it has room (scratch_dir.sh)
SECONDS=0
# the 16 GB of random f16 weights are written once; each scheme loads them (q4f16_1 quantizes at load)
mlcc debug random-model --config "$cfg" --out $scratch/mlcc-l8b --quantization f16 | tail -1
for q in q0f16 q4f16_1; do
    mlcc bench $scratch/mlcc-l8b --device cuda --quantization $q --prompt-len 512 --prefill-also 2048 \
        --gen-len 32 --batch 1,16,64 --repeat 5 2>&1 | tee -a "$out/mlcc.txt"
done
rm -rf $scratch/mlcc-l8b
echo "mlcc bench: ${SECONDS} s"
[ "${SKIP_HF:-0}" = 1 ] && exit 0
PYTHONUNBUFFERED=1 python3 "$here/bench_transformers.py" "$cfg" --prompts 512,2048 --batches 1,16,64 --steps 16 \
    --attn sdpa,eager 2>&1 |
    grep -v Warning | tee "$out/transformers.txt"
echo "total ${SECONDS} s"
