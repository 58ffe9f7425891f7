#!/usr/bin/env bash
# Fusion that matters on CPU (issue 19), checked on the graph FuseOps leaves (--print-after
# fuse_ops) for the fixture models: per decoder layer the residual adds run in the epilogues of
# o_proj and down_proj (fused_matmul*_add), SwiGLU's silu(gate) and * up in the epilogues of
# gate_proj and up_proj, Q's rope with the reshape of its projection (its cosines and sines
# computed once per step for all layers), K's rope in the KV cache's append kernel (the
# attention call takes the rope table; test_fuse_rope_append checks the logits); the logits soft-cap
# (gemma2: / cap, tanh, * cap) in the LM head's epilogue; and no add, silu, multiply, divide or
# tanh is left as a kernel of its own in batch_decode; with q/k/v and gate/up combined
# (models/fuse_proj.c, the default) the parts' slices fuse into their readers. (The fused
# kernels' numbers are the fixtures' parity tests: test_hf_tiny, test_fuse_proj.)
set -u
dir=$(mktemp -d /tmp/mlcc-cpufusion-XXXXXX)
trap 'rm -rf "$dir"' EXIT
pass=0; fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAILED: $*"; }

# decode_graph MODEL: prints batch_decode after fuse_ops
decode_graph() {
  "$MLCC" compile "$MLCC_TESTDATA/hf-tiny/$1" -o "$dir/$1.so" --max-seq 64 --print-after fuse_ops 2>"$dir/$1.log" ||
    { bad "compile $1: $(tail -3 "$dir/$1.log")"; return; }
  sed -n '/def batch_decode(/,/@R.function/p' "$dir/$1.log"
}
count() { grep -c -E "$1" <<<"$2"; }

for m in llama gemma2; do
  [ -d "$MLCC_TESTDATA/hf-tiny/$m" ] || { echo "SKIP: fixture hf-tiny/$m missing"; exit 77; }
done

# the checkpoint's seven projections a layer (combining off: models/fuse_proj.c)
g=$(MLCC_FUSE_PROJ=0 decode_graph llama)
layers=$(count "mlcc\.kv_cache\.attention" "$g")
[ "$layers" -eq 2 ] && ok || bad "llama: expected 2 layers, found $layers"
[ "$(count "= cls\.fused_matmul[0-9]*_add[0-9]*\(" "$g")" -eq 4 ] && ok || bad "llama: residual adds not in 4 matmul epilogues:
$g"
[ "$(count "act: .*= cls\.fused_matmul[0-9]*_silu[0-9]*\(" "$g")" -eq 1 ] && ok || bad "llama: silu(gate) not in gate_proj's epilogue"
[ "$(count "= cls\.fused_matmul[0-9]*_silu[0-9]*\(" "$g")" -eq 2 ] && ok || bad "llama: silu(gate) kernels"
[ "$(count "= cls\.fused_matmul[0-9]*_multiply[0-9]*\(.*, act[0-9]*\)" "$g")" -eq 2 ] && ok || bad "llama: * up not in up_proj's epilogue"
[ "$(count "= cls\.fused_reshape[0-9]*_rope[0-9]*\(" "$g")" -eq 2 ] && ok || bad "llama: Q's rope not fused with its reshape"
[ "$(count "mlcc\.kv_cache\.attention\"\), \(kv_cache, R\.prim_value\([0-9]+\), q_rope[0-9]*, heads[0-9]*, heads[0-9]*, rope_table\)" "$g")" -eq 2 ] &&
  ok || bad "llama: K's rope not in the KV append (the attention does not take K unrotated and the table)"
[ "$(count "k_rope" "$g")" -eq 0 ] && ok || bad "llama: K's rope left as a kernel"
[ "$(count "call_tir\(cls\.(add|silu|multiply|divide|tanh|rope)[0-9]*," "$g")" -eq 0 ] && ok || bad "llama: an elementwise op left as a kernel of its own:
$(grep -E "call_tir\(cls\.(add|silu|multiply|divide|tanh|rope)" <<<"$g")"
# kernel calls per decode step: per layer norm, q, k, v, k's and v's reshapes, q's rope, attention, its
# reshape, o_proj+add, norm, gate+silu, up+multiply, down+add; around them the input's
# reshape, positions, the rope table, the final norm, LM head and the logits' reshape
calls=$(count "= (R\.call_tir|R\.call_dps_packed|cls\.fused)" "$g")
[ "$calls" -eq $((2 * 14 + 6)) ] && ok || bad "llama: $calls calls in batch_decode, expected $((2 * 14 + 6))"
# the ropes' cosines and sines: one kernel per step, read by every rope
[ "$(count "rope_table: .*= R\.call_tir\(cls\.rope_table" "$g")" -eq 1 ] && ok || bad "llama: no single rope_table kernel"
[ "$(count "= cls\.fused_reshape[0-9]*_rope[0-9]*\(proj[0-9]*, rope_table\)" "$g")" -eq 2 ] && ok || bad "llama: the ropes do not read the table"

# combined (the default): q/k/v one matmul and gate/up one; q's slice, reshape and rope one
# kernel reading the table, k's and v's slices one kernel each (for the KV append), the gate's
# and up's slices with silu and * up one kernel; per layer 12 calls instead of 14
g=$(decode_graph llama)
[ "$(count "= R\.call_tir\(cls\.matmul[0-9]*, \(norm[0-9]*, model_layers_[0-9]+_self_attn_qkv_proj_weight\)" "$g")" -eq 2 ] && ok ||
  bad "llama combined: q/k/v not one matmul per layer"
[ "$(count "= R\.call_tir\(cls\.matmul[0-9]*, \(norm[0-9]*, model_layers_[0-9]+_mlp_gate_up_proj_weight\)" "$g")" -eq 2 ] && ok ||
  bad "llama combined: gate/up not one matmul per layer"
[ "$(count "q_rope[0-9]*: .*= cls\.fused_strided_slice[0-9]*_reshape[0-9]*_rope[0-9]*\(proj[0-9]*, rope_table\)" "$g")" -eq 2 ] && ok ||
  bad "llama combined: Q's slice, reshape and rope not one kernel reading the table"
[ "$(count "gated[0-9]*: .*= cls\.fused_strided_slice[0-9]*_strided_slice[0-9]*_silu[0-9]*_multiply[0-9]*\(proj[0-9]*\)" "$g")" -eq 2 ] && ok ||
  bad "llama combined: silu(gate) * up not one kernel over the gate/up output"
[ "$(count "call_tir\(cls\.(add|silu|multiply|divide|tanh|rope|strided_slice|split)[0-9]*," "$g")" -eq 0 ] && ok ||
  bad "llama combined: an elementwise op or a slice left as a kernel of its own"
calls=$(count "= (R\.call_tir|R\.call_dps_packed|cls\.fused)" "$g")
[ "$calls" -eq $((2 * 12 + 6)) ] && ok || bad "llama combined: $calls calls in batch_decode, expected $((2 * 12 + 6))"

g=$(decode_graph gemma2)
[ "$(count "logits_capped: .*= cls\.fused_matmul[0-9]*_divide[0-9]*_tanh[0-9]*_multiply[0-9]*\(" "$g")" -eq 1 ] && ok ||
  bad "gemma2: the soft-cap not in the LM head's epilogue:
$(grep -E "logits|capped" <<<"$g")"
[ "$(count "call_tir\(cls\.(divide|tanh|gelu_tanh|multiply)[0-9]*," "$g")" -eq 0 ] && ok || bad "gemma2: an elementwise op left as a kernel of its own"
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
