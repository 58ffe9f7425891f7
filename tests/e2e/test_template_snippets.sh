#!/usr/bin/env bash
# Jinja semantics, one feature at a time: every snippet of tests/template/snippets.json
# (operators, Python printing of values, Undefined, filters, tests, methods, loops, macros,
# scoping, whitespace control with \n and \r\n, ...) is rendered by Debian's python3-jinja2
# with transformers' setup and by `mlcc template`; outputs and failures must agree.
set -euo pipefail
D="$MLCC_TESTDATA/templates"
[ -f "$D/render.py" ] || { echo "SKIP: $D/render.py is missing (make test unpacks ../shared/testdata)"; exit 77; }
python3 -c 'import jinja2' 2>/dev/null || { echo "SKIP: python3-jinja2 is not installed (scripts/install-deps.sh)"; exit 77; }
python3 "$MLCC_SOURCE_DIR/tests/template/snippet_diff.py" --mlcc "$MLCC" --render "$D/render.py" \
  "$MLCC_SOURCE_DIR/tests/template/snippets.json"
