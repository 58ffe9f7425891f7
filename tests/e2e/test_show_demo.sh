#!/usr/bin/env bash
# `mlcc show-demo` prints the matmul before and after its schedule (with the trace), compiles
# both, runs them at a non-divisible n and reports a match with the float64 reference.
set -u
out=$("$MLCC" show-demo --n 37 2>&1)
rc=$?
fail=0
check() { if ! grep -qF -- "$1" <<<"$out"; then echo "missing: $1"; fail=1; fi; }
[ $rc -eq 0 ] || { echo "exit status $rc"; fail=1; }
check "for i, j, k in T.grid(n, 128, 256):"
check 'l4, l5 = sch.split(l2, factors=[None, 16])'
check "for i in T.parallel(n):"
check "T.vectorized(16)"
check 'with T.block("C_init"):'
check "run at n = 37"
check "OK: both match the reference"
# bad arguments are clear errors
if "$MLCC" show-demo --n 0 >/dev/null 2>&1; then echo "--n 0 accepted"; fail=1; fi
if [ $fail -ne 0 ]; then echo "$out"; echo "0 passed, 1 failed"; exit 1; fi
echo "1 passed, 0 failed"
