#!/usr/bin/env bash
# The build pipeline's default_schedule step: in a compiled model library every matmul kernel
# (plain or fused with its epilogue) is tensorized onto a GEMM_NT intrinsic of the registry,
# and `mlcc show --kernels` says so; MLCC_DEFAULT_SCHEDULE=0 leaves them unscheduled;
# --print-after default_schedule shows the intrinsic calls, parallel column tiles and the
# attention kernel's schedule.
set -u
model="$MLCC_TESTDATA/hf-tiny/llama"
[ -d "$model" ] || { echo "SKIP: fixture $model missing"; exit 77; }
dir=$(mktemp -d /tmp/mlcc-cpusched-XXXXXX)
trap 'rm -rf "$dir"' EXIT
pass=0; fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAILED: $*"; }

"$MLCC" compile "$model" -o "$dir/on.so" --max-seq 64 --print-after default_schedule 2>"$dir/log" && ok || bad "compile"
kernels=$("$MLCC" show --kernels "$dir/on.so")
nmm=$(grep -c "matmul" <<<"$kernels")
nt=$(grep "matmul" <<<"$kernels" | grep -c "tensorized: mlcc_k_gemm_nt_f32$")
[ "$nmm" -ge 4 ] && [ "$nt" -eq "$nmm" ] && ok || bad "$nt of $nmm matmul kernels tensorized:
$kernels"
grep -q "T.mlcc_k_gemm_nt_f32(T.address_of(" "$dir/log" && ok || bad "--print-after default_schedule shows no intrinsic call"
# attention over the context, where the model computes it with the attention op (the paged
# KV-cache kernels of src/gen are scheduled by their generator and left alone): scores
# tensorized per head in parallel, softmax and P x V in parallel over (heads x rows), P x V
# vectorized over the head dimension (test_schedule_tensorize checks the rule on its own)
attn=$(sed -n '/def attention1\?(/,/def /p' "$dir/log")
if [ -n "$attn" ]; then
  grep -q "T.mlcc_k_gemm_nt_f32(T.address_of(attn_score" <<<"$attn" && grep -q "T.parallel(n \\* 4)" <<<"$attn" &&
    grep -q "T.vectorized(16)" <<<"$attn" && ok || bad "attention kernel not scheduled: $attn"
fi
MLCC_DEFAULT_SCHEDULE=0 "$MLCC" compile "$model" -o "$dir/off.so" --max-seq 64 2>/dev/null && ok || bad "compile unscheduled"
"$MLCC" show --kernels "$dir/off.so" | grep -q "tensorized" && bad "MLCC_DEFAULT_SCHEDULE=0 still tensorized" || ok
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
