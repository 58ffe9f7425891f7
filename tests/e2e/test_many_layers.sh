#!/usr/bin/env bash
# A model with many layers (hundreds of weight parameters, as every real checkpoint has) builds
# and runs: `decode` passes all of batch_decode's weights in one VM call, past the packed-call
# limit of 64 arguments; create_kv_cache's per-layer window Shape has 33 entries (Llama-3-8B's 32
# layers failed to compile once: "a shape has more than 31 dimensions"); prefill and decode agree.
set -u
dir=$(mktemp -d /tmp/mlcc-layers-XXXXXX)
trap 'rm -rf "$dir"' EXIT
pass=0; fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAILED: $*"; }
cat >"$dir/config.json" <<'JSON'
{"model_type": "llama", "architectures": ["LlamaForCausalLM"], "hidden_size": 16, "intermediate_size": 24,
 "num_hidden_layers": 33, "num_attention_heads": 2, "num_key_value_heads": 1, "vocab_size": 97,
 "max_position_embeddings": 256, "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "tie_word_embeddings": false,
 "bos_token_id": 1, "eos_token_id": 2}
JSON
"$MLCC" debug random-model --config "$dir/config.json" --out "$dir/model" --seed 7 >"$dir/log" 2>&1 && ok || { bad "random-model"; cat "$dir/log"; }
gen=$("$MLCC" debug generate --model "$dir/model" --tokens 3,5,7,11 --max-tokens 6 2>&1)
[ $? -eq 0 ] && grep -qE '^\[[0-9]+(, [0-9]+){5}\]$' <<<"$gen" && ok || bad "generate on 33 layers: $gen"
# the decode path (token by token) gives the logits prefill gives
"$MLCC" debug logits --model "$dir/model" --tokens 3,5,7,11,13 --out "$dir/prefill.safetensors" >/dev/null 2>&1 &&
"$MLCC" debug logits --model "$dir/model" --tokens 3,5,7,11,13 --decode --out "$dir/decode.safetensors" >/dev/null 2>&1 && ok || bad "debug logits"
cmp=$(python3 - "$dir/prefill.safetensors" "$dir/decode.safetensors" <<'PY'
import json, struct, sys
def load(p):
    b = open(p, 'rb').read(); n = struct.unpack('<Q', b[:8])[0]; h = json.loads(b[8:8 + n])
    t = h['logits']; s, e = t['data_offsets']; d = b[8 + n + s:8 + n + e]
    return struct.unpack('<%df' % (len(d) // 4), d)
a, b = load(sys.argv[1]), load(sys.argv[2])
m = max(abs(x) for x in a)
print("ok" if len(a) == len(b) and max(abs(x - y) for x, y in zip(a, b)) <= 1e-4 * m else "differ")
PY
)
[ "$cmp" = ok ] && ok || bad "decode vs prefill logits: $cmp"
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
