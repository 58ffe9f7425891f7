#!/usr/bin/env bash
# `mlcc convert` of a checkpoint large enough for its threaded paths (the float16 read in ranges,
# the rows packed in parallel, ggml's k-quant quantizer by row ranges, the GGUF tensors
# dequantized by row ranges, the sha256 sums a tensor per task): a one-layer model of hidden 2048
# and a 32000 vocabulary (182M parameters, 364 MB of float16), written by `mlcc debug
# random-model` as safetensors (float16, bfloat16) and as GGUF (Q4_K), converted to q4f16_1 (a
# smaller float16 one to ggml_q4_k) on 3 threads and on 1: the folders byte for byte the same (the
# one-thread run is the sequential definition that the model tests check against their
# references). The 3-thread run of the float16 checkpoint shows its two progress lines (it is over
# 256 MiB), a --quiet run none. The converted folder, opened as `mlcc chat` opens it (its tensors'
# checksums checked on the pool), converts again to the same bytes; a changed byte is an error
# naming its tensor. (No generation: compiling a model this wide takes minutes on CI.)
set -euo pipefail
work="$MLCC_BINARY_DIR/convert-threads"
rm -rf "$work"; mkdir -p "$work"
trap 'rm -rf "$work"' EXIT
cat >"$work/config.json" <<'EOF'
{"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 2048,
 "intermediate_size": 5632, "num_hidden_layers": 1, "num_attention_heads": 16,
 "num_key_value_heads": 4, "vocab_size": 32000, "max_position_embeddings": 512,
 "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "tie_word_embeddings": false,
 "bos_token_id": 1, "eos_token_id": 2}
EOF
fail() { echo "FAIL: $*"; exit 1; }
"$MLCC" debug random-model --config "$work/config.json" --out "$work/f16" --quantization f16 --seed 3 >/dev/null
"$MLCC" debug random-model --config "$work/config.json" --out "$work/bf16" --quantization bf16 --seed 4 >/dev/null
"$MLCC" debug random-model --config "$work/config.json" --out "$work/m.gguf" --quantization q4_k --seed 5 >/dev/null

convert() { # source, output, threads, extra arguments (q4f16_1 unless they name a scheme)
    local src=$1 out=$2 threads=$3
    shift 3
    case " $* " in *" --quantization "*) ;; *) set -- --quantization q4f16_1 "$@" ;; esac
    MLCC_NUM_THREADS=$threads "$MLCC" convert "$src" -o "$out" "$@" 2>"$out.log" ||
        { cat "$out.log"; fail "mlcc convert $src ($threads threads)"; }
}
same() { # two converted folders, what they are
    cmp "$1/params.json" "$2/params.json" || fail "$3: params.json differ"
    for f in "$1"/params_shard_*.bin; do
        cmp "$f" "$2/$(basename "$f")" || fail "$3: $(basename "$f") differs"
    done
    echo "$3: the same bytes ($(ls "$1"/params_shard_*.bin | wc -l) shards)"
}

convert "$work/f16" "$work/f16-t3" 3
grep -q "^mlcc: reading and quantizing weights (" "$work/f16-t3.log" || { cat "$work/f16-t3.log"; fail "no reading progress line"; }
grep -q "^mlcc: writing weights (" "$work/f16-t3.log" || { cat "$work/f16-t3.log"; fail "no writing progress line"; }
convert "$work/f16" "$work/f16-t1" 1 --quiet
[ ! -s "$work/f16-t1.log" ] || { cat "$work/f16-t1.log"; fail "--quiet printed"; }
same "$work/f16-t3" "$work/f16-t1" "float16 safetensors on 3 threads and on 1"
rm -rf "$work/f16-t1" "$work/f16"

# ggml_q4_k (ggml's reference quantizer searches each sub-block's scale: ~10x q4f16_1's time, so
# a smaller model: hidden 1024, 19M parameters, every matrix over the threaded size)
sed 's/"hidden_size": 2048/"hidden_size": 1024/; s/"intermediate_size": 5632/"intermediate_size": 2816/; s/"vocab_size": 32000/"vocab_size": 4096/' \
    "$work/config.json" >"$work/small.json"
"$MLCC" debug random-model --config "$work/small.json" --out "$work/small" --quantization f16 --seed 6 >/dev/null
convert "$work/small" "$work/k-t3" 3 --quantization ggml_q4_k --quiet
convert "$work/small" "$work/k-t1" 1 --quantization ggml_q4_k --quiet
same "$work/k-t3" "$work/k-t1" "float16 safetensors to ggml_q4_k on 3 threads and on 1"
rm -rf "$work/small" "$work/k-t3" "$work/k-t1"

convert "$work/bf16" "$work/bf16-t3" 3 --quiet
convert "$work/bf16" "$work/bf16-t1" 1 --quiet
same "$work/bf16-t3" "$work/bf16-t1" "bfloat16 safetensors on 3 threads and on 1"
rm -rf "$work/bf16-t1" "$work/bf16-t3" "$work/bf16"

convert "$work/m.gguf" "$work/gguf-t3" 3 --quiet
convert "$work/m.gguf" "$work/gguf-t1" 1 --quiet
same "$work/gguf-t3" "$work/gguf-t1" "Q4_K GGUF on 3 threads and on 1"

# the converted folder opens (every tensor read, then their sha256 sums checked on the pool) and
# converts to the same bytes; a byte changed inside its first tensor is an error naming it
convert "$work/f16-t3" "$work/again" 3 --quiet
same "$work/f16-t3" "$work/again" "the converted folder converted again"
first=$(grep -o '"name": "[^"]*"' "$work/f16-t3/params.json" | head -1 | cut -d'"' -f4)
printf '\x5a' | dd of="$work/f16-t3/params_shard_0.bin" bs=1 seek=1000 conv=notrunc status=none
if MLCC_NUM_THREADS=3 "$MLCC" convert "$work/f16-t3" --quantization q4f16_1 -o "$work/damaged" --quiet 2>"$work/damaged.log"; then
    fail "a damaged shard converted"
fi
grep -q "tensor '$first': sha256 mismatch" "$work/damaged.log" || { cat "$work/damaged.log"; fail "the error does not name '$first'"; }
echo "damaged shard: $(cat "$work/damaged.log")"
echo "all passed"
