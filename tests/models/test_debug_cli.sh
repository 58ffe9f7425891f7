#!/usr/bin/env bash
# `mlcc debug logits` and `mlcc debug generate` on two fixtures (a Hugging Face folder and a
# quantized GGUF file): the logits file holds F32 `logits` [T, vocab] within 1e-4 (relative to
# max |ref|) of the float64 reference, and generate prints meta.json's greedy ids; bad
# arguments exit non-zero with a message; MLCC_VM_PROFILE prints a per-kernel table.
set -euo pipefail
command -v python3 >/dev/null || { echo "SKIP: python3 is not installed"; exit 77; }
td="$MLCC_TESTDATA"
[ -f "$td/hf-tiny/gemma2/meta.json" ] || { echo "SKIP: fixtures missing in $td"; exit 77; }
work="$MLCC_BINARY_DIR/debug-cli"
# parity within 1e-4 is the exact path's (float activations); 4-bit weights default to int8
# activations (docs/quantization.md), checked with their own bound in test_quant_int8
export MLCC_QUANT_ACT=f32
rm -rf "$work"; mkdir -p "$work"

check() { # model meta ref
  local model="$1" meta="$2" ref="$3"
  local tokens greedy got
  tokens=$(python3 -c "import json,sys; print(','.join(map(str, json.load(open(sys.argv[1]))['tokens'])))" "$meta")
  greedy=$(python3 -c "import json,sys; print(json.dumps(json.load(open(sys.argv[1]))['greedy_out']))" "$meta")
  "$MLCC" debug logits --model "$model" --tokens "$tokens" --out "$work/logits.safetensors"
  python3 - "$work/logits.safetensors" "$ref" <<'PY'
import json, struct, sys
def load(path):
    with open(path, 'rb') as f:
        n = struct.unpack('<Q', f.read(8))[0]
        h = json.loads(f.read(n))
        t = h['logits']
        assert t['dtype'] == 'F32', t
        b, e = t['data_offsets']
        f.seek(8 + n + b)
        data = f.read(e - b)
        return t['shape'], struct.unpack('<%df' % (len(data) // 4), data)
gs, got = load(sys.argv[1])
rs, ref = load(sys.argv[2])
assert gs == rs, (gs, rs)
err = max(abs(a - b) for a, b in zip(got, ref)) / max(abs(b) for b in ref)
print('logits %s: max rel error %.3g' % (gs, err))
sys.exit(0 if err <= 1e-4 else 1)
PY
  got=$("$MLCC" debug generate --model "$model" --tokens "$tokens" --max-tokens 16 | python3 -c "import json,sys; print(json.dumps(json.load(sys.stdin)))")
  echo "generate: $got"
  [ "$got" = "$greedy" ] || { echo "FAIL: want $greedy"; exit 1; }
}

check "$td/hf-tiny/gemma2" "$td/hf-tiny/gemma2/meta.json" "$td/hf-tiny/gemma2/ref.safetensors"
check "$td/gguf/q-llama-q4_0.gguf" "$td/gguf/q-llama-q4_0.meta.json" "$td/gguf/q-llama-q4_0.ref.safetensors"

# MLCC_VM_PROFILE=1: the VM prints its per-callee table (the matmul kernels among them, each
# called once per layer and step) and the output is unchanged
prof=$(MLCC_VM_PROFILE=1 "$MLCC" debug generate --model "$td/hf-tiny/gemma2" --tokens 1,2 --max-tokens 2 2>"$work/prof")
plain=$("$MLCC" debug generate --model "$td/hf-tiny/gemma2" --tokens 1,2 --max-tokens 2)
[ "$prof" = "$plain" ] || { echo "FAIL: profiled output $prof differs from $plain"; exit 1; }
grep -q "VM profile: .* packed callees" "$work/prof" || { echo "FAIL: no profile table"; cat "$work/prof"; exit 1; }
grep -Eq "^fused_[a-z0-9_]*matmul[a-z0-9_]* +[0-9.]+ +[0-9]+ " "$work/prof" || { echo "FAIL: no matmul row"; cat "$work/prof"; exit 1; }
echo "profile: $(head -1 "$work/prof")"

# bad arguments: a message and a non-zero exit, never a crash
for args in "logits --model $td/hf-tiny/gemma2 --tokens 1,x --out $work/x" \
            "generate --model $td/hf-tiny/gemma2 --tokens 1,100000 --max-tokens 2" \
            "generate --model $work/none --tokens 1 --max-tokens 2" \
            "frobnicate --model $td/hf-tiny/gemma2 --tokens 1"; do
  if "$MLCC" debug $args 2>"$work/err"; then echo "FAIL: mlcc debug $args succeeded"; exit 1; fi
  [ -s "$work/err" ] || { echo "FAIL: mlcc debug $args printed no message"; exit 1; }
  echo "error (expected): $(head -1 "$work/err")"
done
echo "ok"
