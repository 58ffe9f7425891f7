#!/usr/bin/env bash
# compare_llamacpp.sh - mlcc and llama.cpp on the same GGUF file, interleaved in one run (issue 19's
# method: this machine is noisy, so only paired figures from one run mean anything).
#   bench/compare_llamacpp.sh [CONFIG.json] [QUANT] [ROUNDS]
# QUANT: any `mlcc debug random-model --quantization` of a GGUF file: f16, q8_0, q4_0, q4_k
# (llama.cpp's Q4_K_M layout: matrices Q4_K; output and some layers' attn_v / ffn_down Q6_K; mlcc
# runs it as ggml_mixed), q5_k (Q5_K_M: the same with Q5_K), q6_k.
# defaults: bench/configs/TinyLlama-1.1B.json, f16, 3 rounds; 2 threads, batch 1, a 128-token
# prompt and 64 generated tokens (PROMPT, GEN, THREADS override). Writes the random-weight GGUF
# once (mlcc debug random-model), then each round runs `mlcc bench --json` and llama.cpp
# (bench/llamacpp, node-llama-cpp's prebuilt CPU binaries) one after the other, and prints each
# round and the medians with mlcc's floors. Needs: make build; cd bench/llamacpp &&
# NODE_LLAMA_CPP_SKIP_DOWNLOAD=true npm install. MODELS=DIR keeps the GGUF in DIR and reuses it
# in later runs (a 22-layer F16 file takes a while to write); GGUF=FILE runs a file written before.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
CONFIG=${1:-$ROOT/bench/configs/TinyLlama-1.1B.json}
QUANT=${2:-f16}
case "$QUANT" in f32 | f16 | q8_0 | q4_0 | q4_k | q5_k | q6_k) ;; *) echo "QUANT must be f32, f16, q8_0, q4_0, q4_k, q5_k or q6_k" >&2; exit 2 ;; esac
ROUNDS=${3:-3}
PROMPT=${PROMPT:-128} GEN=${GEN:-64} THREADS=${THREADS:-2}
MLCC=${MLCC:-$ROOT/build/mlcc}
[ -d "$ROOT/bench/llamacpp/node_modules/node-llama-cpp" ] || {
    echo "install the peer first: cd bench/llamacpp && NODE_LLAMA_CPP_SKIP_DOWNLOAD=true npm install" >&2
    exit 2
}
T=$(mktemp -d /tmp/mlcc-compare.XXXXXX)
trap 'rm -rf "$T"' EXIT
if [ -n "${GGUF:-}" ]; then
    echo "using $GGUF (GGUF set: no model written; CONFIG and QUANT only label the output)"
elif [ -n "${MODELS:-}" ]; then
    mkdir -p "$MODELS"
    GGUF=$MODELS/$(basename "$CONFIG" .json)-$QUANT-seed1.gguf
    [ -s "$GGUF" ] || "$MLCC" debug random-model --config "$CONFIG" --out "$GGUF" --quantization "$QUANT" --seed 1
else
    GGUF=$T/model-$QUANT.gguf
    "$MLCC" debug random-model --config "$CONFIG" --out "$GGUF" --quantization "$QUANT" --seed 1
fi
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) CPUs; $(date -u +%F)"
echo "model: $(basename "$CONFIG" .json) $QUANT ($(du -h "$GGUF" | cut -f1)), prompt $PROMPT, gen $GEN, threads $THREADS"
for r in $(seq "$ROUNDS"); do
    "$MLCC" bench "$GGUF" --prompt-len "$PROMPT" --gen-len "$GEN" --batch 1 --threads "$THREADS" --repeat 1 --json 2>/dev/null |
        tail -1 >"$T/mlcc.$r.json"
    (cd "$ROOT/bench/llamacpp" && node llamacpp_bench.mjs "$GGUF" --prompt-len "$PROMPT" --gen-len "$GEN" --threads "$THREADS" --repeat 1) |
        tail -1 >"$T/llama.$r.json"
done
python3 - "$T" "$ROUNDS" <<'PY'
import json, statistics, sys
d, n = sys.argv[1], int(sys.argv[2])
m = [json.load(open(f"{d}/mlcc.{r}.json")) for r in range(1, n + 1)]
l = [json.load(open(f"{d}/llama.{r}.json")) for r in range(1, n + 1)]
print("| round | mlcc prefill tok/s | llama.cpp prefill tok/s | mlcc decode tok/s | llama.cpp decode tok/s |")
print("|---|---|---|---|---|")
for r in range(n):
    print(f"| {r + 1} | {m[r]['prefill_tok_s']:.3g} | {l[r]['prefill_tok_s']:.3g} | {m[r]['decode_tok_s']['1']:.3g} | {l[r]['decode_tok_s']:.3g} |")
med = lambda v: statistics.median(v)
mp, lp = med([x["prefill_tok_s"] for x in m]), med([x["prefill_tok_s"] for x in l])
md, ld = med([x["decode_tok_s"]["1"] for x in m]), med([x["decode_tok_s"] for x in l])
fd, fp = med([x["floor_decode_tok_s"] for x in m]), med([x["floor_prefill_tok_s"] for x in m])
print(f"| median | {mp:.3g} | {lp:.3g} | {md:.3g} | {ld:.3g} |")
print(f"mlcc / llama.cpp: prefill {mp / lp:.2f}, decode {md / ld:.2f}")
ff = med([x["floor_decode_file_tok_s"] for x in m])
print(f"decode floor with the file's {m[0]['file_weight_mb_per_step']:.0f} MB per token: {ff:.2f} tok/s "
      f"(mlcc {md / ff:.0%} of it, llama.cpp {ld / ff:.0%})")
print(f"floors as mlcc runs it (weights as mlcc holds them): decode {fd:.2f} tok/s ({m[0]['decode_bound']['1']}), prefill {fp:.1f} tok/s;"
      f" bandwidth {med([x['bandwidth_gb_s'] for x in m]):.1f} GB/s, GEMM {med([x['gemm_gflop_s'] for x in m]):.1f} GFLOP/s ({m[0]['gemm_impl']})")
PY
