#!/usr/bin/env bash
# compare_fuse_proj.sh - one model with its q/k/v and gate/up projections separate
# (MLCC_FUSE_PROJ=0) and combined (the default; models/fuse_proj.c), interleaved in one run so
# the pairs see the same machine load (issue 19's method), with the medians of each side.
#   bench/compare_fuse_proj.sh MODEL [ROUNDS]      (MODEL: a GGUF file or a model folder)
# PROMPT (128), GEN (32), THREADS (2), DEVICE (cpu) and BATCH (1) override; MLCC the binary.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
MODEL=${1:?usage: bench/compare_fuse_proj.sh MODEL [ROUNDS]}
ROUNDS=${2:-3}
PROMPT=${PROMPT:-128} GEN=${GEN:-32} THREADS=${THREADS:-2} DEVICE=${DEVICE:-cpu} BATCH=${BATCH:-1}
MLCC=${MLCC:-$ROOT/build/mlcc}
T=$(mktemp -d /tmp/mlcc-fuseproj.XXXXXX)
trap 'rm -rf "$T"' EXIT
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) CPUs; $(date -u +%F); load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "model: $MODEL, prompt $PROMPT, gen $GEN, batch $BATCH, threads $THREADS, device $DEVICE"
for r in $(seq "$ROUNDS"); do
    for f in 0 1; do
        MLCC_FUSE_PROJ=$f "$MLCC" bench "$MODEL" --device "$DEVICE" --prompt-len "$PROMPT" --gen-len "$GEN" --batch "$BATCH" \
            --threads "$THREADS" --repeat 1 --json 2>/dev/null | tail -1 >"$T/f$f.$r.json"
    done
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "$T" "$ROUNDS" "$BATCH" <<'PY'
import json, statistics, sys
d, n, b = sys.argv[1], int(sys.argv[2]), sys.argv[3].split(",")[0]
runs = {f: [json.load(open(f"{d}/f{f}.{r}.json")) for r in range(1, n + 1)] for f in (0, 1)}
print(f"| round | prefill separate | prefill combined | decode b{b} separate | decode b{b} combined |")
print("|---|---|---|---|---|")
for r in range(n):
    s, c = runs[0][r], runs[1][r]
    print(f"| {r + 1} | {s['prefill_tok_s']:.4g} | {c['prefill_tok_s']:.4g} | {s['decode_tok_s'][b]:.4g} | {c['decode_tok_s'][b]:.4g} |")
med = statistics.median
ps, pc = (med([x["prefill_tok_s"] for x in runs[f]]) for f in (0, 1))
ds, dc = (med([x["decode_tok_s"][b] for x in runs[f]]) for f in (0, 1))
print(f"| median | {ps:.4g} | {pc:.4g} | {ds:.4g} | {dc:.4g} |")
print(f"combined / separate: prefill {pc / ps:.3f}, decode {dc / ds:.3f}")
PY
