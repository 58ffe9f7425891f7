#!/usr/bin/env bash
# attention_qkv (transform/attention_qkv.c) on the graph: with MLCC_CUDA_ROPE_Q=cpu
# MLCC_CUDA_ATTN_QKV=cpu the CPU build of hf-tiny/llama calls mlcc.kv_cache.attention_qkv in
# every layer of batch_decode and of batch_prefill on the qkv projection's output, and their
# q/k/v slices are gone (the two slices of gate_up stay); without the switch the CPU build is
# unchanged (the pass is the CUDA build's). The logits: test_attention_qkv.
set -u
dir=$(mktemp -d /tmp/mlcc-attnqkv-XXXXXX)
trap 'rm -rf "$dir"' EXIT
[ -d "$MLCC_TESTDATA/hf-tiny/llama" ] || { echo "SKIP: fixture hf-tiny/llama missing"; exit 77; }
pass=0; fail=0
expect() { # what count want
  [ "$2" -eq "$3" ] && pass=$((pass + 1)) || { echo "FAILED: $1: $2, expected $3"; fail=$((fail + 1)); }
}
after_pass() { # function env...: the graph after attention_qkv (or the last pass before it)
  local fn=$1; shift
  env "$@" "$MLCC" compile "$MLCC_TESTDATA/hf-tiny/llama" -o "$dir/l.so" --max-seq 64 --print-after '*' 2>"$dir/log" ||
    { echo "FAILED: compile: $(tail -3 "$dir/log")"; fail=$((fail + 1)); return; }
  awk '/^# IR after attention_qkv/{p=1} /^# IR after legalize/{p=0} p' "$dir/log" | sed -n "/def $fn(/,/@R.function/p"
}
g=$(after_pass batch_decode MLCC_CUDA_ROPE_Q=cpu MLCC_CUDA_ATTN_QKV=cpu)
expect "attention_qkv calls in batch_decode" "$(grep -c 'mlcc\.kv_cache\.attention_qkv"), (kv_cache, R.prim_value([01]), proj[0-9]*, rope_table)' <<<"$g")" 2
expect "attention_rope_q calls left in batch_decode" "$(grep -c 'attention_rope_q' <<<"$g")" 0
expect "slices left in batch_decode (gate_up's)" "$(grep -c 'R\.strided_slice(' <<<"$g")" 4
g=$(after_pass batch_prefill MLCC_CUDA_ROPE_Q=cpu MLCC_CUDA_ATTN_QKV=cpu)
expect "attention_qkv calls in batch_prefill" "$(grep -c 'mlcc\.kv_cache\.attention_qkv"), (kv_cache, R.prim_value([01]), proj[0-9]*, rope_table)' <<<"$g")" 2
expect "attention_rope_q calls left in batch_prefill" "$(grep -c 'attention_rope_q' <<<"$g")" 0
expect "slices left in batch_prefill (gate_up's)" "$(grep -c 'R\.strided_slice(' <<<"$g")" 4
g=$(env -u MLCC_CUDA_ATTN_QKV MLCC_CUDA_ROPE_Q=cpu "$MLCC" compile "$MLCC_TESTDATA/hf-tiny/llama" -o "$dir/l.so" --max-seq 64 --print-after fuse_ops 2>&1 >/dev/null | sed -n '/def batch_decode(/,/@R.function/p')
expect "attention_qkv calls without the switch on the CPU" "$(grep -c 'attention_qkv' <<<"$g")" 0
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
