#!/usr/bin/env bash
# bench_tokenizer.sh - encode throughput, one thread, one encode call per line, of
# `mlcc tokenize --bench` and of npm tokenizers (HF, TOKENIZERS_PARALLELISM=false) on the same
# mixed-language text, for Llama-3, Qwen3, Llama-2 and Gemma-3 (SentencePiece). Prints MB/s by
# wall time and by CPU time (the steadier figure on a shared machine) and the token counts,
# which must agree. usage: bench/bench_tokenizer.sh [MB]  (after `make build` and `make test`,
# which unpacks the fixtures into build/testdata)
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
mb="${1:-8}"
td="$here/build/testdata/tokenizers"
text="$here/build/bench-text.txt"
python3 "$here/bench/make_bench_text.py" "$text" "$mb"
echo "text: $(wc -c < "$text") bytes, $(wc -l < "$text") lines; $(nproc) cores,$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2); load $(cut -d' ' -f1-3 /proc/loadavg)"
printf "%-10s %11s %11s %11s %11s %10s %10s\n" tokenizer "mlcc wall" "mlcc cpu" "HF wall" "HF cpu" "mlcc tok" "HF tok"
get() { python3 -c "import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])" "$1" "$2"; }
for t in llama3_1 qwen3 llama2 gemma3; do
  m=$("$here/build/mlcc" tokenize --tokenizer "$td/$t/tokenizer.json" --bench "$text" --repeat 3)
  h=$(NODE_PATH="$here/tests/peers/node_modules" node "$here/bench/bench_tokenizer_hf.js" "$td/$t/tokenizer.json" "$text" 3)
  printf "%-10s %11s %11s %11s %11s %10s %10s\n" "$t" "$(get "$m" mb_per_s)" "$(get "$m" cpu_mb_per_s)" \
    "$(get "$h" mb_per_s)" "$(get "$h" cpu_mb_per_s)" "$(get "$m" tokens)" "$(get "$h" tokens)"
done
echo "(MB/s; one encode per line; best of 3)"
