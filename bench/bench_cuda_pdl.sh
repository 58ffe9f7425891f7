#!/usr/bin/env bash
# bench_cuda_pdl.sh - batch-1 decode with programmatic dependent launch and the split greedy
# kernel on and off, in ONE call on the lent GPU (issue 17; docs/cuda.md "Programmatic dependent
# launch"): a random-weight Llama-3-8B (the config beside this script), then `mlcc bench` in
# q0f16 at batch 1 and 16 and in q4f16_1 at batch 1, each with
#   PDL + prefetch (MLCC_CUDA_PDL_PREFETCH=1) | PDL (default) | MLCC_CUDA_PDL=0 | MLCC_CUDA_PDL=0 MLCC_CUDA_GREEDY_SPLIT=0
# usage (on the device, from a bundle made by scripts/device-bundle.sh with build/mlcc, this
# script and bench/configs/Llama-3-8B.json beside it): bash bench_cuda_pdl.sh [OUTDIR]
# Takes ~6 minutes on the H100 (writing the weights ~30 s; each q4f16_1 process converts them,
# ~25 s, and compiles its kernels: give each run 200 s). QUICK=1: q0f16 only.
set -uo pipefail
out=${1:-/tmp}
here=$(cd "$(dirname "$0")" && pwd)
export MLCC_HOME=${MLCC_HOME:-/tmp/mlcc-home}
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm --format=csv,noheader
scratch=$(sh "$here/scratch_dir.sh" 2>/dev/null || echo /tmp) # /dev/shm when it has room (scratch_dir.sh)
[ -d $scratch/mlcc-l8b ] || mlcc debug random-model --config "$here/Llama-3-8B.json" --out $scratch/mlcc-l8b --quantization f16 --seed 1 | tail -1
variants=("MLCC_CUDA_PDL_PREFETCH=1" "MLCC_CUDA_PDL=1" "MLCC_CUDA_PDL=0" "MLCC_CUDA_PDL=0 MLCC_CUDA_GREEDY_SPLIT=0")
run() { # quantization batches variant
    echo "=== $1 --batch $2, $3 (at ${SECONDS}s)"
    env $3 timeout 200 mlcc bench $scratch/mlcc-l8b --device cuda --quantization "$1" --prompt-len 512 --gen-len 32 \
        --batch "$2" --repeat 1 > "$out/pdl_run.txt" 2>&1
    echo "rc $?"
    grep -A3 "^ batch" "$out/pdl_run.txt" | grep -v "^--"
}
for v in "${variants[@]}"; do run q0f16 1,16 "$v"; done
[ "${QUICK:-0}" = 1 ] && exit 0
for v in "MLCC_CUDA_PDL=1" "MLCC_CUDA_PDL=0 MLCC_CUDA_GREEDY_SPLIT=0"; do run q4f16_1 1 "$v"; done
echo "total ${SECONDS}s"
