#!/usr/bin/env bash
# Differential test: 500 seeded random conversations (roles, tools, tool calls, content parts,
# unicode, empty and long contents) through every fixture template, rendered by Debian's
# python3-jinja2 with transformers' setup (testdata/templates/render.py) and by
# `mlcc template --batch`; every render must match byte for byte, every Jinja2 error must be an
# mlcc error too.
set -euo pipefail
D="$MLCC_TESTDATA/templates"
[ -f "$D/render.py" ] || { echo "SKIP: $D/render.py is missing (make test unpacks ../shared/testdata)"; exit 77; }
# Debian's interpreter and python3-jinja2 (the reference), even when another python3 is first on PATH
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
"$PY" -c 'import jinja2' 2>/dev/null || { echo "SKIP: python3-jinja2 is not installed (scripts/install-deps.sh)"; exit 77; }
"$PY" "$MLCC_SOURCE_DIR/tests/template/template_diff.py" --mlcc "$MLCC" --render "$D/render.py" \
  --specials "$D/specials.json" --count 500 --seed 1 "$D"/*.jinja
