#!/usr/bin/env bash
# examples/ir_gated_mlp: the public compiler API (mlcc_ir.h) builds, prints, fuses, compiles and
# runs a gated MLP with symbolic n, matching float64.
set -u
dir=$(mktemp -d /tmp/mlcc-example-XXXXXX)
trap 'rm -rf "$dir"' EXIT
out=$("$MLCC_BINARY_DIR/ir_gated_mlp" "$dir" 2>&1)
rc=$?
fail=0
[ $rc -eq 0 ] || { echo "exit status $rc"; fail=1; }
for want in '@R.function' 'x: R.Tensor((n, 8), dtype="float32")' '== after fuse_tir ==' 'fused_matmul' 'max |error| vs float64'; do
    grep -qF -- "$want" <<<"$out" || { echo "missing: $want"; fail=1; }
done
[ -f "$dir/gated_mlp.so" ] || { echo "no library written"; fail=1; }
if [ $fail -ne 0 ]; then echo "$out"; echo "0 passed, 1 failed"; exit 1; fi
echo "1 passed, 0 failed"
