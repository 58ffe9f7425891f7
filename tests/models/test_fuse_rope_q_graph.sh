#!/usr/bin/env bash
# fuse_rope_q (transform/fuse_rope_q.c) on the graph: with MLCC_CUDA_ROPE_Q=cpu the CPU build of
# hf-tiny/llama calls mlcc.kv_cache.attention_rope_q in every layer of batch_decode and keeps no
# rope of q (K's is already in the append); without it the CPU build is unchanged (the pass is
# the CUDA build's). The logits: test_fuse_rope_q.
set -u
dir=$(mktemp -d /tmp/mlcc-ropeq-XXXXXX)
trap 'rm -rf "$dir"' EXIT
[ -d "$MLCC_TESTDATA/hf-tiny/llama" ] || { echo "SKIP: fixture hf-tiny/llama missing"; exit 77; }
pass=0; fail=0
graph() { # after fuse_rope_q (or the last pass before it), batch_decode only
  env "$@" "$MLCC" compile "$MLCC_TESTDATA/hf-tiny/llama" -o "$dir/l.so" --max-seq 64 --print-after '*' 2>"$dir/log" ||
    { echo "FAILED: compile: $(tail -3 "$dir/log")"; fail=$((fail + 1)); return; }
  awk '/^# IR after fuse_rope_q/{p=1} /^# IR after legalize/{p=0} p' "$dir/log" | sed -n '/def batch_decode(/,/@R.function/p'
}
g=$(graph MLCC_CUDA_ROPE_Q=cpu)
n=$(grep -c 'mlcc\.kv_cache\.attention_rope_q' <<<"$g")
[ "$n" -eq 2 ] && pass=$((pass + 1)) || { echo "FAILED: $n attention_rope_q calls in batch_decode, expected 2"; fail=$((fail + 1)); }
r=$(grep -c 'R\.nn\.rope(' <<<"$g")
[ "$r" -eq 0 ] && pass=$((pass + 1)) || { echo "FAILED: $r ropes left in batch_decode"; fail=$((fail + 1)); }
g=$(env -u MLCC_CUDA_ROPE_Q "$MLCC" compile "$MLCC_TESTDATA/hf-tiny/llama" -o "$dir/l.so" --max-seq 64 --print-after fuse_ops 2>&1 >/dev/null | sed -n '/def batch_decode(/,/@R.function/p')
n=$(grep -c 'attention_rope_q' <<<"$g")
[ "$n" -eq 0 ] && pass=$((pass + 1)) || { echo "FAILED: the CPU build folded q's rope without the switch"; fail=$((fail + 1)); }
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
