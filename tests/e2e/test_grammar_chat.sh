#!/usr/bin/env bash
# `mlcc chat --json-schema` / `--regex` in the one-shot form (`echo hi | mlcc chat
# MODEL ...`) on a fixture model with random weights: the reply on stdout is valid for the schema
# according to the independent validator (testdata/json-schema/validate.py, Debian's
# python3-jsonschema) or matches the regex (python's re); an unsupported schema is refused with
# an error naming the keyword and its JSON pointer, and so are two grammars at once.
set -u
model="$MLCC_TESTDATA/models/tm-llama2" # 32k vocabulary: quick to load
schemas="$MLCC_TESTDATA/json-schema/schemas"
if [ ! -d "$model" ] || [ ! -d "$schemas" ]; then echo "SKIP: fixtures missing"; exit 77; fi
py=/usr/bin/python3
[ -x "$py" ] || py=python3
if ! "$py" -c 'import jsonschema' 2>/dev/null; then echo "SKIP: python3-jsonschema missing (scripts/install-deps.sh)"; exit 77; fi
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
pass=0; fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAILED: $1"; }
chat() { echo "Give me data." | MLCC_NUM_THREADS=2 "$MLCC" chat "$model" --max-seq 512 --temperature 1 "$@" 2>"$tmp/err"; }

# schemas whose replies are bounded (random weights: unbounded strings or numbers would run to
# max_tokens; the C API's mlcc_grammar_options can cap those, the CLI uses the defaults)
seed=0
for s in 047-string-length.json 049-format-date.json 056-integer-bounds.json; do
    seed=$((seed + 1))
    if chat --seed "$seed" --json-schema "$schemas/$s" > "$tmp/out"; then
        if "$py" "$MLCC_TESTDATA/json-schema/validate.py" "$schemas/$s" "$tmp/out" 2>"$tmp/verr"; then ok
        else bad "$s seed $seed: invalid reply $(head -c 300 "$tmp/out"): $(cat "$tmp/verr")"; fi
    else bad "$s seed $seed: chat failed: $(tail -3 "$tmp/err")"; fi
done

if chat --seed 5 --regex '[a-z]{3,6}-[0-9]{2}' > "$tmp/out" &&
   "$py" -c 'import re,sys; t=open(sys.argv[1]).read().rstrip("\n"); sys.exit(0 if re.fullmatch(r"[a-z]{3,6}-[0-9]{2}", t) else 1)' "$tmp/out"; then ok
else bad "regex reply: $(head -c 200 "$tmp/out")"; fi

if chat --json --grammar x.gbnf > "$tmp/out"; then bad "two grammars were accepted"
elif grep -q "only one of" "$tmp/err"; then ok
else bad "unclear error for two grammars: $(cat "$tmp/err")"; fi

echo '{"type": "array", "contains": {"type": "string"}}' > "$tmp/unsupported.json"
if chat --json-schema "$tmp/unsupported.json" > "$tmp/out"; then bad "an unsupported schema was accepted"
elif grep -q "unsupported keyword 'contains'" "$tmp/err" && grep -q "at '#'" "$tmp/err"; then ok
else bad "unclear error for an unsupported schema: $(cat "$tmp/err")"; fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
