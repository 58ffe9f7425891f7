#!/usr/bin/env bash
# bench_cuda_ab.sh - decode under several settings (batch 1 unless BATCH says), interleaved, in
# ONE call on the lent GPU: the A/B runs of issue 17's kernel work (BENCHMARKS.md, sessions 28-29).
#
# A random-weight model of the config beside this script (default Llama-3-8B.json) is written
# as float16 once (to /dev/shm when it has room: scratch_dir.sh) and, for q4f16_1, converted once
# with `mlcc convert`; a warm machine keeps both for the next call. Then for ROUNDS rounds, each
# ";"-separated set of environment settings in SETS runs `mlcc bench --device cuda --batch BATCH
# --repeat 1` in a process of its own, and its decode rows are printed.
#
#   QUANT=q4f16_1|q0f16 (default q4f16_1)   SETS="X=1;MLCC_CUDA_Q4_XQ=0" (X=1: the defaults)
#   ROUNDS=2   PL=128 (prompt tokens)   GL=64 (generated tokens)   BATCH=1 (or a list: 16,64)
#   LAYERS=4: the config with 4 decoder layers instead of all. Every layer runs the same kernels,
#   so a setting's effect per layer shows the same, and a cold call writes and converts 2 GB of
#   weights instead of 16 (session 29: 198 s for six runs on a cold H200, 4 layers decoding
#   ~2700 tok/s; the kernels' first compile is most of the rest).
#
# usage (on the device, from a bundle made by scripts/device-bundle.sh with build/mlcc, this
# script, scratch_dir.sh and the config beside it): bash bench_cuda_ab.sh
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
export MLCC_HOME=${MLCC_HOME:-/tmp/mlcc-home}
quant=${QUANT:-q4f16_1}
config=$here/${CONFIG:-Llama-3-8B.json}
[ -f "$config" ] || config=$here/configs/${CONFIG:-Llama-3-8B.json} # run from the checkout's bench/
scratch=$(sh "$here/scratch_dir.sh" 2>/dev/null || echo /tmp)
name=ab-$(basename "$config" .json)-${LAYERS:-all}
if [ -n "${LAYERS:-}" ]; then
    sed -E "s/\"num_hidden_layers\": *[0-9]+/\"num_hidden_layers\": $LAYERS/" "$config" > "$scratch/$name.json"
    config=$scratch/$name.json
fi
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
SECONDS=0
[ -d "$scratch/$name-f16" ] || mlcc debug random-model --config "$config" --out "$scratch/$name-f16" --quantization f16 --seed 1 | tail -1
model=$scratch/$name-f16
qflag=(--quantization q0f16) # the float16 folder runs as float32 unless asked for float16
if [ "$quant" != q0f16 ]; then
    qflag=()
    [ -d "$scratch/$name-$quant" ] || mlcc convert "$scratch/$name-f16" --quantization "$quant" -o "$scratch/$name-$quant" 2>&1 | tail -1
    model=$scratch/$name-$quant
fi
echo "model ready at ${SECONDS}s"
IFS=';' read -ra sets <<< "${SETS:-X=1}"
for round in $(seq "${ROUNDS:-2}"); do
    for s in "${sets[@]}"; do
        # shellcheck disable=SC2086 # a set is several NAME=VALUE words
        rows=$(env $s mlcc bench "$model" "${qflag[@]}" --device cuda --prompt-len "${PL:-128}" --gen-len "${GL:-64}" \
            --batch "${BATCH:-1}" --repeat 1 2>&1 | grep -iE -A8 "^ batch|error" | grep -E "^ +[0-9]+ |rror" | head -8)
        while IFS= read -r row; do printf 'round %s  %-60s %s\n' "$round" "$s" "$row"; done <<< "$rows"
    done
done
echo "total ${SECONDS}s"
