#!/usr/bin/env bash
# Runs bench/bench_serve.mjs against `build/mlcc serve MODEL` (default: the tm-llama3 fixture,
# random weights, so only the serving path and a tiny model's decode are measured).
# usage: bench/bench_serve.sh [MODEL] [TOKENS]
set -eu
root="$(cd "$(dirname "$0")/.." && pwd)"
model="${1:-$root/build/testdata/models/tm-llama3}"
log="$(mktemp)"
"$root/build/mlcc" serve "$model" --port 0 --max-seq 256 ${MLCC_SERVE_FLAGS:-} 2>"$log" &
pid=$!
trap 'kill $pid 2>/dev/null; rm -f "$log"' EXIT
for _ in $(seq 600); do grep -q 'serving' "$log" && break; sleep 0.2; done
port=$(grep -o 'http://127.0.0.1:[0-9]*' "$log" | sed 's/.*://')
node "$root/bench/bench_serve.mjs" "http://127.0.0.1:$port" "${2:-64}"
