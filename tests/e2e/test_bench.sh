#!/usr/bin/env bash
# test_bench.sh - `mlcc bench`, `mlcc debug random-model` and `mlcc bench serve`, end to end:
#  - bench on a tiny fixture with --json: the last line parses and every figure is a positive
#    number (speeds, floors, latencies, memory), the batch sizes are the ones asked for, and the
#    engine really decoded the 3 requests of batch 3 in one step (max_decode_batch); 16
#    prompts that take several prefill steps still get a steady window of all 16;
#  - random-model writes a Hugging Face folder that `mlcc debug logits` runs, and GGUF files of
#    the same seed whose logits match the folder's: exactly for F32 (names, shapes and the q/k
#    row permutation are right), within the quantization error for F16 / Q8_0 / Q4_0; a
#    different seed gives different logits; bench --random-weights runs;
#  - bench serve against a stand-in OpenAI server (tests/bench/fake_openai_server.py): counts,
#    tokens from usage, concurrency as asked, the request body, errors and a truncated stream.
#  - --device cuda / vulkan where there is one, else the reason before any work.
# No timing assertions: the machine is shared and noisy.
set -u
MLCC=${MLCC:?MLCC must name the mlcc binary}
SRC=${MLCC_SOURCE_DIR:?}
DATA=${MLCC_TESTDATA:?}
TINY=$DATA/hf-tiny/llama
[ -f "$TINY/config.json" ] || { echo "SKIP: $TINY missing (run make test to unpack fixtures)"; exit 77; }
command -v python3 >/dev/null || { echo "SKIP: python3 not installed"; exit 77; }

T=$(mktemp -d /tmp/mlcc-bench-test.XXXXXX)
SERVER=
cleanup() { [ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null; wait 2>/dev/null; [ -n "${KEEP:-}" ] || rm -rf "$T"; }
trap cleanup EXIT
: >"$T/logits.err"
export MLCC_NUM_THREADS=1 # the tiny model runs faster on one thread than two fighting over a busy machine

passed=0 failed=0
ok() { passed=$((passed + 1)); }
bad() { failed=$((failed + 1)); echo "FAIL (line ${BASH_LINENO[1]}): $*" >&2; }
check() { if eval "$1"; then ok; else bad "$1${2:+ ($2)}"; fi; }
# py FILE 'python expression over j (the last line of FILE as JSON)': prints its value
py() { python3 -c "import json,sys; j=json.loads(open(sys.argv[1]).read().strip().splitlines()[-1]); print($2)" "$1" 2>&1; }

# ---- mlcc bench --json ----
"$MLCC" bench "$TINY" --prompt-len 12 --gen-len 6 --batch 1,3 --repeat 1 --seed 3 --floor-mb 16 --json >"$T/bench.out" 2>"$T/bench.err"; rc=$?
check '[ $rc -eq 0 ]' "$(cat "$T/bench.err")"
check '[ "$(py "$T/bench.out" "sorted(j[\"decode_tok_s\"].keys()) == [\"1\", \"3\"]")" = True ]' "$(tail -1 "$T/bench.out")"
for key in prefill_tok_s floor_decode_tok_s floor_prefill_tok_s ttft_ms itl_p50_ms itl_p99_ms peak_rss_mb bandwidth_gb_s gemm_gflop_s weight_mb_per_step; do
    check '[ "$(py "$T/bench.out" "isinstance(j[\"'$key'\"], (int, float)) and j[\"'$key'\"] > 0")" = True ]' "$key: $(tail -1 "$T/bench.out")"
done
check '[ "$(py "$T/bench.out" "all(v > 0 for v in j[\"decode_tok_s\"].values()) and all(v > 0 for v in j[\"floor_decode_tok_s_by_batch\"].values())")" = True ]'
check '[ "$(py "$T/bench.out" "j[\"batches\"] == [1, 3] and j[\"prompt_len\"] == 12 and j[\"gen_len\"] == 6 and j[\"device\"] == \"cpu\"")" = True ]'
# the floor of batch 3 is above that of batch 1 (the weights are read once per step for all)
check '[ "$(py "$T/bench.out" "j[\"floor_decode_tok_s_by_batch\"][\"3\"] > j[\"floor_decode_tok_s_by_batch\"][\"1\"]")" = True ]'
check 'grep -q "^floors: memory read" "$T/bench.out"'
check '[ "$(py "$T/bench.out" "j[\"max_decode_batch\"] == {\"1\": 1, \"3\": 3} and all(j[\"decode_steady\"].values())")" = True ]' "$(tail -1 "$T/bench.out")"
# prompts that take several prefill steps (16 x 200 tokens, chunks of 256: the context bound):
# the first requests decode while the later prompts prefill, so each generates gen_len + the
# prefill steps, and the steady window exists with all 16 in every step (before: the first
# finished their 8 tokens before the last started, no steady window, a largest step of 9)
"$MLCC" bench "$TINY" --prompt-len 200 --gen-len 8 --batch 16 --repeat 1 --seed 3 --floor-mb 16 --json >"$T/b16.out" 2>"$T/b16.err"
check '[ "$(py "$T/b16.out" "j[\"max_decode_batch\"] == {\"16\": 16} and j[\"decode_steady\"] == {\"16\": True}")" = True ]' "$(tail -1 "$T/b16.out") $(tail -2 "$T/b16.err")"
# bad options: clear errors, exit 2
"$MLCC" bench "$TINY" --batch 0 >"$T/e.out" 2>&1; rc=$?; check '[ $rc -eq 2 ] && grep -q -- "--batch" "$T/e.out"' "$(cat "$T/e.out")"
"$MLCC" bench >"$T/e.out" 2>&1; rc=$?; check '[ $rc -eq 2 ]'
"$MLCC" bench "$TINY" --device metal >"$T/e.out" 2>&1; rc=$?; check '[ $rc -eq 2 ] && grep -q "cpu, auto, cuda, cuda:N, vulkan or vulkan:N" "$T/e.out"' "$(cat "$T/e.out")"
# --device cuda runs where a GPU is; elsewhere it says why not, before any work
"$MLCC" bench "$TINY" --device cuda --prompt-len 4 --gen-len 2 --batch 1 --repeat 1 --floor-mb 16 >"$T/e.out" 2>&1; rc=$?
check '[ $rc -eq 0 ] || { [ $rc -eq 2 ] && grep -q "device cuda: no CUDA device" "$T/e.out"; }' "$(cat "$T/e.out")"
# --device vulkan (lavapipe on CI): float16 weights through mlcc.vulkan.linear_f16, the shader copy
# rate and that GEMM's rate as floors
"$MLCC" bench "$TINY" --device vulkan --quantization q0f16 --prompt-len 4 --gen-len 3 --batch 1,2 --repeat 1 --floor-mb 16 --json >"$T/vk.out" 2>&1; rc=$?
if [ $rc -eq 0 ]; then
    check '[ "$(py "$T/vk.out" "j[\"device\"] == \"vulkan\" and j[\"bandwidth_gb_s\"] > 0 and j[\"gemm_gflop_s\"] > 0 and all(v > 0 for v in j[\"decode_tok_s\"].values())")" = True ]' "$(tail -1 "$T/vk.out")"
    check 'grep -q "mlcc.vulkan.linear_f16" "$T/vk.out"' "$(tail -3 "$T/vk.out")"
else
    check '[ $rc -eq 2 ] && grep -q "device vulkan: no Vulkan device" "$T/vk.out"' "$(tail -3 "$T/vk.out")"
fi
"$MLCC" bench "$TINY" --prompt-len 500 --gen-len 100 --batch 1 >"$T/e.out" 2>&1; rc=$?
check '[ $rc -eq 1 ] && grep -q "context window" "$T/e.out"' "$(tail -2 "$T/e.out")"

# ---- random-model ----
TOK=1,17,200,33,311,4,90,91,92,7 # < 389, the smallest vocabulary used below
logits() { "$MLCC" debug logits --model "$1" --tokens $TOK --out "$2" 2>>"$T/logits.err"; }
"$MLCC" debug random-model --config "$TINY/config.json" --out "$T/rand" --seed 11 2>"$T/rm.err"; rc=$?
check '[ $rc -eq 0 ] && [ -f "$T/rand/model.safetensors" ] && [ -f "$T/rand/tokenizer.json" ] && [ -f "$T/rand/config.json" ]' "$(cat "$T/rm.err")"
check 'logits "$T/rand" "$T/rand.st"' "$(cat "$T/logits.err")"
for q in f32 f16 q8_0 q4_0; do
    "$MLCC" debug random-model --config "$TINY/config.json" --out "$T/rand-$q.gguf" --quantization $q --seed 11 2>"$T/rm.err"
    check '[ $? -eq 0 ]' "$(cat "$T/rm.err")"
    check 'logits "$T/rand-$q.gguf" "$T/rand-$q.st"' "$(cat "$T/logits.err")"
done
"$MLCC" debug random-model --config "$TINY/config.json" --out "$T/rand12" --seed 12 2>"$T/rm.err" && logits "$T/rand12" "$T/rand12.st"
# max |a - b| / max |b| of the logits tensors of two safetensors files
reldiff() {
    python3 - "$1" "$2" <<'PY'
import json, struct, sys, array
def load(p):
    b = open(p, "rb").read(); n = struct.unpack("<Q", b[:8])[0]; t = json.loads(b[8:8 + n])["logits"]
    s, e = t["data_offsets"]; a = array.array("f"); a.frombytes(b[8 + n + s:8 + n + e]); return a
a, b = load(sys.argv[1]), load(sys.argv[2])
print(max(abs(x - y) for x, y in zip(a, b)) / max(abs(y) for y in b) if len(a) == len(b) else "shape")
PY
}
lt() { python3 -c "import sys; sys.exit(0 if float(sys.argv[1]) $2 float(sys.argv[3]) else 1)" "$1" "<" "$3" 2>/dev/null; }
check 'lt "$(reldiff "$T/rand-f32.st" "$T/rand.st")" "<" 1e-5' "f32: $(reldiff "$T/rand-f32.st" "$T/rand.st")"
check 'lt "$(reldiff "$T/rand-f16.st" "$T/rand.st")" "<" 5e-3' "f16: $(reldiff "$T/rand-f16.st" "$T/rand.st")"
check 'lt "$(reldiff "$T/rand-q8_0.st" "$T/rand.st")" "<" 3e-2' "q8_0: $(reldiff "$T/rand-q8_0.st" "$T/rand.st")"
check 'lt "$(reldiff "$T/rand-q4_0.st" "$T/rand.st")" "<" 0.4' "q4_0: $(reldiff "$T/rand-q4_0.st" "$T/rand.st")"
# quantization error grows as bits shrink, and another seed is another model
check 'lt "$(reldiff "$T/rand-q8_0.st" "$T/rand.st")" "<" "$(reldiff "$T/rand-q4_0.st" "$T/rand.st")"'
check 'lt 0.5 "<" "$(reldiff "$T/rand12.st" "$T/rand.st")"' "seed 12 vs 11: $(reldiff "$T/rand12.st" "$T/rand.st")"
# the other GGUF architectures and features: llama3 rope (rope_freqs.weight), qwen3 (q/k norms,
# head_dim != hidden / heads), phi3 (fused projections), tied embeddings with rows that are not
# whole Q8_0 blocks (intermediate 97: those weights fall back to F16)
for case in llama3-rope:f32:1e-5 qwen3:f32:1e-5 phi3:f32:1e-5 llama-tied-mqa:q8_0:3e-2; do
    IFS=: read -r fx q tol <<<"$case"
    "$MLCC" debug random-model --config "$DATA/hf-tiny/$fx/config.json" --out "$T/$fx" --seed 5 2>"$T/rm.err" &&
        "$MLCC" debug random-model --config "$DATA/hf-tiny/$fx/config.json" --out "$T/$fx.gguf" --quantization $q --seed 5 2>>"$T/rm.err"
    check '[ $? -eq 0 ]' "$fx: $(cat "$T/rm.err")"
    check 'logits "$T/$fx" "$T/$fx.st" && logits "$T/$fx.gguf" "$T/$fx.gguf.st"' "$fx: $(tail -2 "$T/logits.err")"
    check 'lt "$(reldiff "$T/$fx.gguf.st" "$T/$fx.st")" "<" $tol' "$fx $q: $(reldiff "$T/$fx.gguf.st" "$T/$fx.st")"
done
# unsupported combinations are refused by name
"$MLCC" debug random-model --config "$TINY/config.json" --out "$T/x" --quantization q4_0 >"$T/e.out" 2>&1; rc=$?
check '[ $rc -eq 1 ] && grep -q "GGUF types" "$T/e.out"' "$(cat "$T/e.out")"
"$MLCC" debug random-model --config "$DATA/hf-tiny/gemma/config.json" --out "$T/g.gguf" >"$T/e.out" 2>&1; rc=$?
check '[ $rc -eq 1 ] && grep -q "cannot be written as GGUF" "$T/e.out"' "$(cat "$T/e.out")"
echo '{"model_type": "llama", "hidden_size": 64}' >"$T/badcfg.json"
"$MLCC" debug random-model --config "$T/badcfg.json" --out "$T/y" >"$T/e.out" 2>&1; rc=$?
check '[ $rc -eq 1 ] && grep -q "badcfg.json: missing field" "$T/e.out"' "$(cat "$T/e.out")"
# bench/configs: the shapes of the public models, checked by their published parameter counts
while read -r name count; do
    out=$("$MLCC" debug random-model --config "$SRC/bench/configs/$name.json" --dry-run 2>&1)
    check '[ "${out%% *}" = "$count" ]' "$name: $out"
done <<'COUNTS'
Llama-3-8B 8030261248
Llama-3.2-1B 1235814400
Qwen2.5-7B 7615616512
Qwen2.5-0.5B 494032768
Mistral-7B 7241732096
Gemma-2-2B 2614341888
Phi-3-mini 3821079552
TinyLlama-1.1B 1100048384
COUNTS
# bench on random weights of a config (qwen2: biases; the GGUF form too)
"$MLCC" bench --random-weights "$DATA/hf-tiny/qwen2/config.json" --prompt-len 8 --gen-len 4 --batch 2 --repeat 1 --floor-mb 16 --json >"$T/rw.out" 2>"$T/rw.err"; rc=$?
check '[ $rc -eq 0 ] && [ "$(py "$T/rw.out" "j[\"decode_tok_s\"][\"2\"] > 0")" = True ]' "$(tail -3 "$T/rw.err")"
"$MLCC" bench "$T/rand-q8_0.gguf" --prompt-len 8 --gen-len 4 --batch 1 --repeat 1 --floor-mb 16 --json >"$T/gg.out" 2>"$T/gg.err"; rc=$?
check '[ $rc -eq 0 ] && [ "$(py "$T/gg.out" "j[\"prefill_tok_s\"] > 0")" = True ]' "$(tail -3 "$T/gg.err")"
# Q8_0 stores 34 bytes per 32 weights, and a file of Q8_0 matrices runs on them natively
# (docs/quantization.md): the bytes a step reads are the file's
check '[ "$(py "$T/gg.out" "0.95 < j[\"file_weight_mb_per_step\"] / j[\"weight_mb_per_step\"] < 1.05")" = True ]' "$(tail -1 "$T/gg.out")"

# llama.cpp itself reads the GGUF files (when bench/llamacpp's peer is installed: it is large, so
# not one of the test peers) and its greedy tokens equal mlcc's on the same file: all 8 for
# F32 / F16; for Q8_0 / Q4_0 the first 3, since llama.cpp also rounds the activations to 8 bits
# in its quantized dot products, which may flip a near-tie later on
NLC=$SRC/bench/llamacpp
if [ -d "$NLC/node_modules/node-llama-cpp" ] && command -v node >/dev/null; then
    for q in f32 f16 q8_0 q4_0; do
        (cd "$NLC" && timeout 120 node llamacpp_bench.mjs "$T/rand-$q.gguf" --check) >"$T/nlc.out" 2>"$T/nlc.err"
        check '[ "$(py "$T/nlc.out" "j[\"loaded\"]")" = True ]' "llama.cpp on $q: $(tail -3 "$T/nlc.err")"
        ids=$(py "$T/nlc.out" "\",\".join(map(str, j[\"prompt\"]))")
        want=$(py "$T/nlc.out" "j[\"tokens\"]")
        got=$("$MLCC" debug generate --model "$T/rand-$q.gguf" --tokens "$ids" --max-tokens 8 2>&1)
        case $q in f32 | f16) n=8 ;; *) n=3 ;; esac
        check '[ "$(echo "$got" | cut -d, -f1-$n)" = "$(echo "$want" | cut -d, -f1-$n)" ]' "$q: llama.cpp $want, mlcc $got"
    done
else
    echo "note: llama.cpp parity skipped (cd bench/llamacpp && NODE_LLAMA_CPP_SKIP_DOWNLOAD=true npm install)"
fi

# ---- bench serve against a stand-in server ----
start_server() {
    rm -f "$T/port"
    python3 "$SRC/tests/bench/fake_openai_server.py" --port-file "$T/port" --log "$T/server.log" "$@" &
    SERVER=$!
    for _ in $(seq 100); do [ -s "$T/port" ] && break; sleep 0.05; done
    PORT=$(cat "$T/port")
}
stop_server() { kill "$SERVER" 2>/dev/null; wait "$SERVER" 2>/dev/null; SERVER=; }
start_server
"$MLCC" bench serve --url "http://127.0.0.1:$PORT" --concurrency 3 --requests 8 --prompt-len 20 --gen-len 5 --model tiny --json >"$T/s.out" 2>"$T/s.err"; rc=$?
check '[ $rc -eq 0 ]' "$(cat "$T/s.out" "$T/s.err")"
check '[ "$(py "$T/s.out" "(j[\"ok\"], j[\"errors\"], j[\"output_tokens\"], j[\"concurrency\"])")" = "(8, 0, 40, 3)" ]' "$(tail -1 "$T/s.out")"
check '[ "$(py "$T/s.out" "all(j[k] > 0 for k in (\"ttft_p50_ms\", \"itl_p50_ms\", \"itl_p99_ms\", \"latency_p99_ms\", \"output_tok_s\"))")" = True ]'
check '[ "$(wc -l <"$T/server.log")" -eq 8 ]'
check '[ "$(python3 -c "import json,sys; print(max(json.loads(l)[\"inflight\"] for l in open(sys.argv[1])))" "$T/server.log")" -le 3 ]'
check '[ "$(python3 -c "
import json,sys
b=[json.loads(l) for l in open(sys.argv[1])][0]
print(b[\"path\"], b[\"body\"][\"model\"], b[\"body\"][\"stream\"], b[\"body\"][\"max_tokens\"], len(b[\"body\"][\"messages\"][0][\"content\"].split()))" "$T/server.log")" = "/v1/chat/completions tiny True 5 20" ]'
stop_server
rm -f "$T/server.log"
start_server --fail-every 3
"$MLCC" bench serve --url "http://127.0.0.1:$PORT/v1/completions" --api completions --concurrency 2 --requests 6 --gen-len 4 --json >"$T/s.out" 2>"$T/s.err"; rc=$?
check '[ $rc -eq 1 ]'
check '[ "$(py "$T/s.out" "(j[\"ok\"], j[\"errors\"], j[\"output_tokens\"], j[\"first_error\"] == \"HTTP 500\")")" = "(4, 2, 16, True)" ]' "$(tail -1 "$T/s.out")"
check 'grep -q "\"prompt\"" "$T/server.log"'
stop_server
start_server --no-done
"$MLCC" bench serve --url "http://127.0.0.1:$PORT" --requests 2 --gen-len 3 --json >"$T/s.out" 2>"$T/s.err"; rc=$?
check '[ $rc -eq 1 ] && [ "$(py "$T/s.out" "j[\"first_error\"]")" = "the stream ended without [DONE]" ]' "$(tail -1 "$T/s.out")"
stop_server
"$MLCC" bench serve --url "ftp://x" >"$T/e.out" 2>&1; rc=$?; check '[ $rc -eq 2 ] && grep -q "http://" "$T/e.out"'

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
