#!/usr/bin/env bash
# The expectations of test_grammar_schema_logic.c checked against the independent validator
# (testdata/json-schema/validate.py, Debian's python3-jsonschema): every text the test expects
# the grammar to accept is valid for its schema and every text it expects rejected is invalid,
# so the C test's table is not only its author's reading of JSON Schema.
set -u
py=/usr/bin/python3
[ -x "$py" ] || py=python3
if ! "$py" -c 'import jsonschema' 2>/dev/null; then echo "SKIP: python3-jsonschema missing (scripts/install-deps.sh)"; exit 77; fi
if [ ! -f "$MLCC_TESTDATA/json-schema/validate.py" ]; then echo "SKIP: fixtures missing"; exit 77; fi
exec "$py" - "$MLCC_SOURCE_DIR/tests/unit/test_grammar_schema_logic.c" "$MLCC_TESTDATA/json-schema" <<'PY'
import json, re, sys
sys.path.insert(0, sys.argv[2])
import validate
src = open(sys.argv[1], encoding="utf-8").read()
src = src[: src.index("} reported[]")]
n = bad = 0
for m in re.finditer(r'\{("(?:[^"\\]|\\.)*"), ("(?:[^"\\]|\\.)*"), (\d)\}', src):
    schema, text, expect = json.loads(json.loads(m.group(1))), json.loads(m.group(2)), m.group(3) == "1"
    valid = not list(validate.validator(schema).iter_errors(json.loads(text)))
    n += 1
    if valid != expect:
        bad += 1
        print("MISMATCH: %s on %s: validator says %s, the test expects %s" % (json.dumps(schema), text, valid, expect))
print("%d cases, %d disagree with the validator" % (n, bad))
sys.exit(1 if bad or n < 50 else 0)
PY
