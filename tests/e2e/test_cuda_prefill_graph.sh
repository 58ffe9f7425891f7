#!/usr/bin/env bash
# test_cuda_prefill_graph.sh - the CUDA build's prefill graph where three passes meet: fuse_rope_q
# (q's rope into mlcc.kv_cache.attention_rope_q), attention_qkv (that call on the combined
# projection's output, its slices gone) and half_activations (float16 between kernels and
# float16 projections in prefill). Through bench/null_cuda_driver.c (no GPU: kernels are
# counted, not run), `mlcc bench --device cuda` builds hf-tiny/llama in q0f16 and prints the
# module after half_activations. Checks, in batch_prefill: attention through attention_qkv in
# each layer on the qkv projection's output, that output float16 (the attention ends as
# o_proj's x), the attention's output and its view float16 too, no q/k/v slices left, the norms
# before qkv and gate_up writing float16;
# in batch_decode (decode's half activations): float16 exactly where every reader is a float16
# projection's x, so the silu * up output of each layer (down_proj's x) and the attention's
# output and its view (o_proj's x), every other projection output float32; with
# MLCC_CUDA_HALF_DECODE=0 nothing in decode float16. Skips without gcc or NVRTC.
set -u
MLCC=${MLCC:?MLCC must name the mlcc binary}
SRC=${MLCC_SOURCE_DIR:?}
TINY=${MLCC_TESTDATA:?}/hf-tiny/llama
[ -f "$TINY/config.json" ] || { echo "SKIP: $TINY missing (run make test to unpack fixtures)"; exit 77; }
command -v gcc >/dev/null || { echo "SKIP: gcc not installed"; exit 77; }
ldconfig -p 2>/dev/null | grep -q 'libnvrtc.so.1[23]' || ls /usr/local/cuda/lib64/libnvrtc.so.1[23] >/dev/null 2>&1 ||
    { echo "SKIP: no NVRTC (libnvrtc.so.13 / .12)"; exit 77; }
T=$(mktemp -d /tmp/mlcc-prefill-graph.XXXXXX)
trap 'rm -rf "$T"' EXIT
gcc -O2 -shared -fPIC -o "$T/libcuda.so.1" "$SRC/bench/null_cuda_driver.c" || { echo "FAIL: building the null driver"; exit 1; }
build_ir() { # output file, extra environment assignments
    local out=$1; shift
    env "$@" MLCC_CUDA_DRIVER=$T/libcuda.so.1 MLCC_CUBLASLT=$T/none MLCC_HOME=$T/home MLCC_NUM_THREADS=1 \
        MLCC_PRINT_AFTER=half_activations "$MLCC" bench "$TINY" --device cuda --quantization q0f16 \
        --prompt-len 8 --gen-len 2 --batch 1 --repeat 1 --floor-mb 8 --json >"$T/out" 2>"$out" ||
        { echo "FAIL: mlcc bench on the null driver ($*): $(tail -3 "$out")"; exit 1; }
}
build_ir "$T/ir"
build_ir "$T/ir32" MLCC_CUDA_HALF_DECODE=0
prefill=$(sed -n '/def batch_prefill(/,/def batch_decode(/p' "$T/ir")
decode=$(sed -n '/def batch_decode(/,/@R.function/p' "$T/ir")
decode32=$(sed -n '/def batch_decode(/,/@R.function/p' "$T/ir32")
pass=0 fail=0
check() { # description, count, expected
    if [ "$2" -eq "$3" ]; then pass=$((pass + 1)); else echo "FAIL: $1: $2, expected $3"; fail=$((fail + 1)); fi
}
check "batch_prefill: attention_qkv calls on a qkv projection" \
    "$(grep -c 'mlcc\.kv_cache\.attention_qkv"), (kv_cache, R.prim_value([01]), proj[0-9]*, rope_table)' <<<"$prefill")" 2
check "batch_prefill: attention_rope_q calls left" "$(grep -c 'mlcc\.kv_cache\.attention_rope_q' <<<"$prefill")" 0
check "batch_prefill: slices left (gate_up's two, fused with silu)" "$(grep -c 'strided_slice' <<<"$prefill")" 2
check "batch_prefill: float16 attention outputs and their views (o_proj's x)" \
    "$(grep -c 'dtype="float16") = R.call_\(dps_packed(R.str("mlcc.kv_cache.attention_qkv")\|packed(R.str("vm.builtin.reshape"), attn\)' <<<"$prefill")" 4
check "batch_prefill: float16 qkv projections" \
    "$(grep -c 'dtype="float16") = R.call_dps_packed(R.str("mlcc.cuda.linear_f16"), (norm[0-9]*, model_layers_[01]_self_attn_qkv_proj' <<<"$prefill")" 2
check "batch_prefill: norms writing float16" "$(grep -c 'dtype="float16") = R.call_tir(cls.rms_norm_f16' <<<"$prefill")" 5
check "batch_decode: float16 silu * up outputs (down_proj's x)" \
    "$(grep -c 'dtype="float16") = R.call_dps_packed(R.str("mlcc.cuda.linear_f16_silu")' <<<"$decode")" 2
check "batch_decode: float16 projection outputs" "$(grep -c 'dtype="float16") = R.call_dps_packed(R.str("mlcc.cuda.linear' <<<"$decode")" 2
check "batch_decode: float16 attention outputs and their views (o_proj's x)" \
    "$(grep -c 'dtype="float16") = R.call_\(dps_packed(R.str("mlcc.kv_cache.attention_qkv")\|packed(R.str("vm.builtin.reshape"), attn\)' <<<"$decode")" 4
check "batch_decode with MLCC_CUDA_HALF_DECODE=0: float16 values" "$(grep -c 'dtype="float16") = ' <<<"$decode32")" 0
check "batch_prefill with MLCC_CUDA_HALF_DECODE=0: float16 qkv projections (prefill unchanged)" \
    "$(sed -n '/def batch_prefill(/,/def batch_decode(/p' "$T/ir32" | grep -c 'dtype="float16") = R.call_dps_packed(R.str("mlcc.cuda.linear_f16"), (norm[0-9]*, model_layers_[01]_self_attn_qkv_proj')" 2
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
