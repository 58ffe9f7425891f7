#!/usr/bin/env bash
# `mlcc compile MODEL -o LIB` writes a model library ahead of time; `mlcc show` lists its kernels
# with their origins and its planned memory; every call the library makes outside its own
# kernels is a runtime builtin of the allow-list (DESIGN.md §3.9: vm.builtin.*, mlcc.kv_cache.*,
# BLAS through the dispatch: mlcc.cpu.sgemm, here with MLCC_CPU_BLAS=1);
# --print-after shows a stage; bad input is a clear error.
set -u
model="$MLCC_TESTDATA/hf-tiny/llama"
[ -d "$model" ] || { echo "SKIP: fixture $model missing"; exit 77; }
dir=$(mktemp -d /tmp/mlcc-compile-XXXXXX)
trap 'rm -rf "$dir"' EXIT
pass=0; fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAILED: $*"; }

"$MLCC" compile "$model" -o "$dir/llama.so" --max-seq 64 --print-after fuse_tir 2>"$dir/log"
[ $? -eq 0 ] && [ -s "$dir/llama.so" ] && ok || { bad "compile"; cat "$dir/log"; }
grep -q "@R.function" "$dir/log" && grep -q "@T.prim_func" "$dir/log" && ok || bad "--print-after fuse_tir"
kernels=$("$MLCC" show --kernels "$dir/llama.so")
[ $? -eq 0 ] && ok || bad "show --kernels"
# every kernel line names an origin
nk=$(awk '/^kernels/{k=1;next} /^runtime builtins/{k=0} k && NF>=2' <<<"$kernels" | wc -l)
nbad=$(awk '/^kernels/{k=1;next} /^runtime builtins/{k=0} k && (NF<2 || $2=="unknown")' <<<"$kernels" | wc -l)
[ "$nk" -gt 5 ] && [ "$nbad" -eq 0 ] && ok || bad "kernels without origins ($nk kernels, $nbad bad)"
# the allow-list: builtins only from the runtime's namespaces
outside=$(awk '/^runtime builtins/{b=1;next} b' <<<"$kernels" | grep -v -E '^  (vm\.builtin\.|mlcc\.kv_cache\.|mlcc\.cpu\.sgemm$)' || true)
[ -z "$outside" ] && ok || bad "calls outside the allow-list: $outside"
MLCC_CPU_BLAS=1 "$MLCC" compile "$model" -o "$dir/llama-blas.so" --max-seq 64 2>"$dir/log" || bad "compile with MLCC_CPU_BLAS=1: $(tail -3 "$dir/log")"
"$MLCC" show --kernels "$dir/llama-blas.so" | grep -q -E '^  mlcc\.cpu\.sgemm$' && ok || bad "MLCC_CPU_BLAS=1: no mlcc.cpu.sgemm builtin"
"$MLCC" show --memory "$dir/llama.so" | grep -q "temporary_bytes" && ok || bad "show --memory"
# the functions of the model library contract, attention through the paged KV cache with the
# generated kernels in the library
program=$("$MLCC" show --program "$dir/llama.so")
for f in embed batch_prefill batch_decode decode create_kv_cache; do
    grep -q "vm.function $f(" <<<"$program" && ok || bad "show --program: no function $f"
done
for k in kv_append attn_prefill attn_decode; do
    grep -qE "^  $k +gen: " <<<"$kernels" && ok || bad "kernel $k (from the attention generator) not listed"
done
grep -q "mlcc.kv_cache.attention" <<<"$kernels" && ok || bad "attention does not go through the KV cache"
# the generated attention kernels print like any other PrimFunc
ir=$("$MLCC" show --ir --kernel attn_decode "$model" 2>&1)
grep -q "@T.prim_func" <<<"$ir" && grep -q "attn_decode" <<<"$ir" && grep -q "attention_split" <<<"$ir" && ok || bad "show --ir --kernel attn_decode: $ir"
"$MLCC" show --ir "$model" | grep -q "def create_kv_cache" && ok || bad "show --ir: no create_kv_cache"
msg=$("$MLCC" show --ir --kernel nope "$model" 2>&1); [ $? -ne 0 ] && grep -q "nope" <<<"$msg" && ok || bad "show --ir unknown kernel: $msg"
# kernels stay model-agnostic: nothing under src/kernels reads a model config
readers=$(grep -rlE '#include "models/|config\.json|mlcc_model_config' "$MLCC_SOURCE_DIR/src/kernels" 2>/dev/null || true)
[ -z "$readers" ] && ok || bad "src/kernels reads model configs: $readers"
# errors
msg=$("$MLCC" compile /nonexistent -o "$dir/x.so" 2>&1); [ $? -ne 0 ] && grep -q "/nonexistent" <<<"$msg" && ok || bad "missing model: $msg"
msg=$("$MLCC" show --kernels "$dir/log" 2>&1); [ $? -ne 0 ] && grep -q "log" <<<"$msg" && ok || bad "not a library: $msg"
[ ! -e "$dir/x.so" ] && ok || bad "a failed compile left a file"
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
