#!/usr/bin/env bash
# `mlcc convert FILE.gguf`: tm-llama3-f16.gguf converted with no --quantization (native: F16 as
# stored) writes the shards, the index, config.json, generation_config.json, tokenizer.json and
# tokenizer_config.json (chat template) and no GGUF, with a progress line; `mlcc chat DIR` runs it
# with no GGUF beside it and replies as `mlcc chat FILE.gguf` does (greedy); q4f16_1 conversion
# works from the CLI, and `--quantization ggml_q4_0` on a Q4_0 file writes native's bytes; the
# written tokenizer.json, read by Hugging Face tokenizers (npm, tests/peers/tokenizer_diff.js),
# gives the ids of mlcc's GGUF tokenizer on seeded random texts (mixed scripts, emoji,
# special-token fragments, random code points), for byte-level vocabularies (Llama-3, q-llama)
# and a SentencePiece one (a GGUF made from the Llama-2 tokenizer by gguf_spm_model.py), and mlcc
# reads the folder's tokenizer.json to the same ids; a truncated GGUF file and `--quantization
# native` on a folder are errors with messages.
set -euo pipefail
td="$MLCC_TESTDATA"
gguf="$td/gguf/tm-llama3-f16.gguf"
[ -f "$gguf" ] || { echo "SKIP: fixtures missing in $td"; exit 77; }
work="$MLCC_BINARY_DIR/convert-gguf-cli"
rm -rf "$work"; mkdir -p "$work"
out="$work/tm-llama3"

"$MLCC" convert "$gguf" -o "$out" 2>"$work/log" || { cat "$work/log"; exit 1; }
grep -q "^mlcc: writing weights (" "$work/log" && ! grep -q "downloading" "$work/log" || { echo "no progress line, or a wrong one:"; cat "$work/log"; exit 1; }
for f in params.json mlcc-config.json params_shard_0.bin config.json generation_config.json tokenizer.json tokenizer_config.json; do
  [ -f "$out/$f" ] || { echo "missing $f"; ls "$out"; exit 1; }
done
grep -q '"quantization": "q0f16"' "$out/mlcc-config.json" || { cat "$out/mlcc-config.json"; exit 1; }
grep -q '"chat_template"' "$out/tokenizer_config.json" || { echo "no chat template in tokenizer_config.json"; exit 1; }
if ls "$out" | grep -q '\.gguf'; then echo "a GGUF file was copied"; exit 1; fi

a=$(echo "hello there" | "$MLCC" chat "$gguf" --max-tokens 6 --temperature 0 2>"$work/chat-gguf.log") || { cat "$work/chat-gguf.log"; exit 1; }
b=$(echo "hello there" | "$MLCC" chat "$out" --max-tokens 6 --temperature 0 2>"$work/chat-dir.log") || { cat "$work/chat-dir.log"; exit 1; }
echo "chat replies: GGUF '$a', converted '$b'"
[ "$a" = "$b" ] || { echo "the converted folder replies differently"; exit 1; }

"$MLCC" convert "$td/gguf/q-llama-f16.gguf" --quantization q4f16_1 -o "$work/q4" --quiet
grep -q '"quantization": "q4f16_1"' "$work/q4/mlcc-config.json"
"$MLCC" convert "$td/gguf/q-llama-q4_0.gguf" -o "$work/q-llama" --quiet
grep -q '"quantization": "ggml_q4_0"' "$work/q-llama/mlcc-config.json"
# naming the file's own scheme keeps its blocks as native does
"$MLCC" convert "$td/gguf/q-llama-q4_0.gguf" --quantization ggml_q4_0 -o "$work/q-llama-named" --quiet
cmp "$work/q-llama/params_shard_0.bin" "$work/q-llama-named/params_shard_0.bin"

head -c 100000 "$td/gguf/q-llama-f32.gguf" >"$work/cut.gguf"
if "$MLCC" convert "$work/cut.gguf" -o "$work/x" 2>"$work/err"; then echo "a truncated GGUF file converted"; exit 1; fi
grep -q "cut.gguf" "$work/err" || { echo "the error does not name the file:"; cat "$work/err"; exit 1; }
if "$MLCC" convert "$work/q4" --quantization native -o "$work/x" 2>"$work/err"; then echo "native on a folder accepted"; exit 1; fi
grep -q "native is for GGUF files" "$work/err"

# the tokenizer files against Hugging Face tokenizers
peers="$MLCC_SOURCE_DIR/tests/peers"
count=2000
ldd "$MLCC" 2>/dev/null | grep -q libasan && count=300
if ! command -v node >/dev/null || ! (cd "$peers" && node -e "require('tokenizers')") 2>/dev/null; then
  echo "note: npm tokenizers is not installed (scripts/install-deps.sh): the tokenizer.json comparison did not run"
else
  pairs=("$gguf=$out/tokenizer.json" "$out=$out/tokenizer.json" "$td/gguf/q-llama-q4_0.gguf=$work/q-llama/tokenizer.json")
  llama2="$td/tokenizers/llama2/tokenizer.json"
  if [ -f "$llama2" ] && command -v python3 >/dev/null; then
    python3 "$MLCC_SOURCE_DIR/tests/e2e/gguf_spm_model.py" "$llama2" "$work/spm.gguf"
    "$MLCC" convert "$work/spm.gguf" -o "$work/spm" --quiet
    pairs+=("$work/spm.gguf=$work/spm/tokenizer.json")
  else
    echo "note: no python3 or Llama-2 tokenizer: the SentencePiece vocabulary was not compared"
  fi
  (cd "$peers" && node tokenizer_diff.js "$MLCC" "$count" 20261126 "$work" "${pairs[@]}")
fi
rm -rf "$work"
echo "ok"
