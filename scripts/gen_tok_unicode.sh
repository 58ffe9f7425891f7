#!/usr/bin/env bash
# Regenerates the Unicode tables of src/tokenizer/tok_unicode.c (EXTRA: characters tokenizers'
# Oniguruma treats as assigned but PCRE2/utf8proc do not) and src/tokenizer/normalizer.c
# (OPAQUE: characters tokenizers' normalization tables do not know), by asking npm tokenizers
# itself, and the per-component predicates of src/tokenizer/tok_unicode_tables.c (rewritten).
# Takes a few minutes (about 3 million probe strings). usage: scripts/gen_tok_unicode.sh [WORKDIR]
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
work="${1:-$(mktemp -d)}"
cd "$work"
flags="$(pkg-config --cflags --libs libpcre2-8 libutf8proc)"
cc "$here/scripts/tok_unicode/unassigned.c" -o unassigned $flags && ./unassigned > cn13.txt
NODE_PATH="$here/tests/peers/node_modules" node "$here/scripts/tok_unicode/probe_categories.js"
cc "$here/scripts/tok_unicode/normalization_candidates.c" -o ncands $flags && ./ncands > ncands.txt
NODE_PATH="$here/tests/peers/node_modules" node "$here/scripts/tok_unicode/probe_normalization.js"
python3 "$here/scripts/tok_unicode/compare_normalization.py"
NODE_PATH="$here/tests/peers/node_modules" node "$here/scripts/tok_unicode/probe_predicates.js"
python3 "$here/scripts/tok_unicode/write_tables.py" "$work" "$here" > "$work/initializers.txt"
clang-format -i "$here/src/tokenizer/tok_unicode_tables.c" "$here/src/tokenizer/tok_unicode_tables.h" || true
echo "rewrote src/tokenizer/tok_unicode_tables.{c,h}; EXTRA and OPAQUE initializers in $work/initializers.txt"
