#!/usr/bin/env bash
# Regenerates the Unicode tables of src/tokenizer/tok_unicode.c (EXTRA: characters tokenizers'
# Oniguruma treats as assigned but PCRE2/utf8proc do not) and src/tokenizer/normalizer.c
# (OPAQUE: characters tokenizers' normalization tables do not know), by asking npm tokenizers
# itself, and the per-component predicates of src/tokenizer/tok_unicode_tables.c. Writes
# ranges.json, opaque.json and predicates.json into a work folder; the C tables are made from them.
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
echo "tables in $work: ranges.json (EXTRA), opaque.json (OPAQUE), predicates.json (tok_unicode_tables.c)"
