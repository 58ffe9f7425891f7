#!/usr/bin/env bash
# Jinja semantics, one feature at a time: every snippet of tests/template/snippets.json
# (operators, Python printing of values, Undefined, filters, tests, methods, loops, macros,
# scoping, whitespace control with \n and \r\n, ...) and 1000 seeded random expressions
# (tests/template/random_exprs.py) are rendered by Debian's python3-jinja2 with transformers'
# setup and by `mlcc template`; outputs and failures must agree.
set -euo pipefail
D="$MLCC_TESTDATA/templates"
[ -f "$D/render.py" ] || { echo "SKIP: $D/render.py is missing (make test unpacks ../shared/testdata)"; exit 77; }
# Debian's interpreter and python3-jinja2 (the reference), even when another python3 is first on PATH
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
"$PY" -c 'import jinja2' 2>/dev/null || { echo "SKIP: python3-jinja2 is not installed (scripts/install-deps.sh)"; exit 77; }
"$PY" "$MLCC_SOURCE_DIR/tests/template/snippet_diff.py" --mlcc "$MLCC" --render "$D/render.py" \
  --random 1000 --seed 1 "$MLCC_SOURCE_DIR/tests/template/snippets.json"
