#!/usr/bin/env bash
# bench_tokenizer.sh - encode throughput (MB/s, one thread, one call over the whole text) of
# `mlcc tokenize --bench` and of npm tokenizers (HF) on the same mixed-language text, for the
# Llama-3, Qwen3, Llama-2 (SentencePiece) and Gemma-3 tokenizers; also the token counts, which
# must agree. usage: bench/bench_tokenizer.sh [MB]   (run after `make build`; fixtures unpacked)
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
mb="${1:-8}"
td="$here/build/testdata/tokenizers"
text="$here/build/bench-text.txt"
python3 "$here/bench/make_bench_text.py" "$text" "$mb"
echo "text: $(wc -c < "$text") bytes, $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"
printf "%-10s %14s %14s %12s %12s\n" tokenizer "mlcc MB/s" "HF MB/s" "mlcc tokens" "HF tokens"
for t in llama3_1 qwen3 llama2 gemma3; do
  m=$("$here/build/mlcc" tokenize --tokenizer "$td/$t/tokenizer.json" --bench "$text" --repeat 3)
  h=$(NODE_PATH="$here/tests/peers/node_modules" node "$here/bench/bench_tokenizer_hf.js" "$td/$t/tokenizer.json" "$text" 3)
  get() { python3 -c "import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])" "$1" "$2"; }
  printf "%-10s %14s %14s %12s %12s\n" "$t" "$(get "$m" mb_per_s)" "$(get "$h" mb_per_s)" "$(get "$m" tokens)" "$(get "$h" tokens)"
done
