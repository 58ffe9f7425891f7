#!/usr/bin/env bash
# Differential test: `mlcc tokenize` against Hugging Face tokenizers 0.23.2 (npm, the official
# Node binding of the Rust library) on 20,000 seeded random strings per fixture tokenizer (and
# for tm-llama3-f16.gguf's vocabulary against models/tm-llama3/tokenizer.json),
# encoding with and without special tokens and decoding with and without skipping them; then
# 5,000 strings each on synthetic tokenizers (synthetic_tokenizers.js) that exercise Unigram,
# WordPiece and the components the fixtures lack.
# MLCC_TOKENIZER_DIFF_COUNT overrides the count (the printed report names it).
set -euo pipefail
peers="$MLCC_SOURCE_DIR/tests/peers"
count="${MLCC_TOKENIZER_DIFF_COUNT:-20000}"
scount="${MLCC_TOKENIZER_SYNTH_COUNT:-5000}"
# Under AddressSanitizer the comparison itself was already made by the normal build; fewer
# strings still run every code path under the sanitizer and keep CI inside its time budget.
sanitized=0
if ldd "$MLCC" 2>/dev/null | grep -q libasan; then
  sanitized=1
  count="${MLCC_TOKENIZER_DIFF_COUNT:-3000}"
  scount="${MLCC_TOKENIZER_SYNTH_COUNT:-1500}"
  echo "sanitizer build: $count strings on three of the six tokenizers (all six, 20000 each, in the normal build)"
fi
command -v node >/dev/null || { echo "SKIP: node is not installed"; exit 77; }
tokdir="$MLCC_TESTDATA/tokenizers"
[ -f "$tokdir/llama3_1/tokenizer.json" ] || { echo "SKIP: fixtures missing in $tokdir"; exit 77; }
# the binding must load its native library and tokenize, or there is no reference
if ! (cd "$peers" && node -e "
  const {Tokenizer} = require('tokenizers');
  Tokenizer.fromFile('$tokdir/llama3_1/tokenizer.json').encode('ok', null, {addSpecialTokens: false})
    .then(e => { if (!e.getIds().length) process.exit(1); });" ) 2>/dev/null; then
  echo "SKIP: npm tokenizers is not installed or its native binary does not load (run scripts/install-deps.sh)"
  exit 77
fi
work="$MLCC_BINARY_DIR/tokenizer-diff"
rm -rf "$work"
files=()
names="llama3_1 qwen3 deepseek_v3 gemma3 llama2 gptoss"
[ "$sanitized" = 1 ] && names="llama3_1 deepseek_v3 llama2"
for t in $names; do files+=("$tokdir/$t/tokenizer.json"); done
# the Llama-3 vocabulary inside a GGUF file, against the model directory's tokenizer.json
gguf="$MLCC_TESTDATA/gguf/tm-llama3-f16.gguf"
if [ -f "$gguf" ] && [ "$sanitized" = 0 ]; then files+=("$gguf=$MLCC_TESTDATA/models/tm-llama3/tokenizer.json"); fi
cd "$peers"
echo "differential test: $count random strings x ${#files[@]} tokenizers x (2 encode + 2 decode modes)"
node tokenizer_diff.js "$MLCC" "$count" 20261125 "$work" "${files[@]}"
synth=()
while read -r f; do synth+=("$f"); done < <(node synthetic_tokenizers.js "$tokdir/llama3_1/tokenizer.json" "$work/synthetic")
echo "synthetic tokenizers: $scount random strings x ${#synth[@]} tokenizers"
node tokenizer_diff.js "$MLCC" "$scount" 20261126 "$work" "${synth[@]}"
