#!/usr/bin/env bash
# `mlcc convert`: a Hugging Face folder (tm-llama3, with its tokenizer) to q4f16_1 writes the
# shards, the index, mlcc-config.json and the tokenizer files, with a progress line;
# `mlcc chat DIR` runs the converted folder; `mlcc compile --quantization q4f16_1` gives a
# library whose `mlcc show --kernels` lists fused dequantize + matmul kernels; an unknown scheme, a missing -o and an existing
# output folder are errors with messages.
set -euo pipefail
td="$MLCC_TESTDATA"
[ -f "$td/models/tm-llama3/config.json" ] || { echo "SKIP: fixtures missing in $td"; exit 77; }
work="$MLCC_BINARY_DIR/convert-cli"
rm -rf "$work"; mkdir -p "$work"
out="$work/tm-llama3-q4f16_1"

"$MLCC" convert "$td/models/tm-llama3" --quantization q4f16_1 -o "$out" 2>"$work/log"
grep -q "^mlcc: writing weights (" "$work/log" && ! grep -q "downloading" "$work/log" || { echo "no progress line, or a wrong one:"; cat "$work/log"; exit 1; }
for f in params.json mlcc-config.json params_shard_0.bin config.json tokenizer.json tokenizer_config.json; do
  [ -f "$out/$f" ] || { echo "missing $f"; ls "$out"; exit 1; }
done
grep -q '"quantization": "q4f16_1"' "$out/mlcc-config.json"
ls "$out" | grep -q safetensors && { echo "weights in the source format were copied"; exit 1; }

reply=$(echo "hello" | "$MLCC" chat "$out" --max-tokens 4 --temperature 0 2>"$work/chat.log") || { cat "$work/chat.log"; exit 1; }
echo "chat reply: $reply"

"$MLCC" compile "$td/models/tm-llama3" --quantization q4f16_1 --max-seq 64 -o "$work/lib.so" 2>"$work/compile.log" \
  || { cat "$work/compile.log"; exit 1; }
"$MLCC" show --kernels "$work/lib.so" >"$work/kernels"
grep -Eq "fused_dequantize[0-9]*_matmul" "$work/kernels" || { echo "no fused dequantize+matmul kernel:"; cat "$work/kernels"; exit 1; }

if "$MLCC" convert "$td/models/tm-llama3" --quantization q5f16_9 -o "$work/x" 2>"$work/err"; then echo "bad scheme accepted"; exit 1; fi
grep -q "unknown quantization 'q5f16_9'" "$work/err"
if "$MLCC" convert "$td/models/tm-llama3" --quantization q4f16_1 2>"$work/err"; then echo "missing -o accepted"; exit 1; fi
if "$MLCC" convert "$td/models/tm-llama3" --quantization q4f16_1 -o "$out" 2>"$work/err"; then echo "overwrote"; exit 1; fi
grep -q "already exists" "$work/err"
rm -rf "$work"
echo "ok"
