#!/usr/bin/env bash
# `mlcc serve` end to end: the server on a fixture model (real Llama-3 tokenizer and template,
# random weights) driven by the official `openai` npm client (tests/peers/serve_openai.mjs:
# chat and completions, streaming or not, greedy text equal to transformers', usage, stop, seed,
# n=2, 32 concurrent streams (batches of 4), 4xx errors naming the field, API key, body limit, metrics,
# disconnects cancelling requests; structured generation: response_format json_schema and tools
# with tool_choice, replies validated by python3-jsonschema) and by curl (SSE framing, CORS, unknown paths and methods,
# /health, Prometheus text), then a graceful SIGTERM that lets an open request finish.
set -u
model="$MLCC_TESTDATA/models/tm-llama3"
peers="$MLCC_SOURCE_DIR/tests/peers"
[ -d "$model" ] || { echo "SKIP: fixture $model missing"; exit 77; }
command -v node >/dev/null || { echo "SKIP: node is not installed"; exit 77; }
command -v curl >/dev/null || { echo "SKIP: curl is not installed"; exit 77; }
[ -f "$peers/node_modules/openai/package.json" ] || { echo "SKIP: npm openai is not installed (scripts/install-deps.sh)"; exit 77; }

pass=0; fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAILED: $1"; }
log="$(mktemp /tmp/mlcc-serve-XXXXXX.log)"
key="test-key-$$"
"$MLCC" serve "$model" --port 0 --max-seq 256 --max-batch 4 --api-key "$key" --max-body 65536 --cors --grace 600 2>"$log" &
server=$!
cleanup() { kill "$server" 2>/dev/null; wait "$server" 2>/dev/null; rm -f "$log"; }
trap cleanup EXIT
port=""
for _ in $(seq 1 1200); do
    port=$(grep -o 'serving .* on http://127.0.0.1:[0-9]*' "$log" | sed 's/.*://')
    [ -n "$port" ] && break
    kill -0 "$server" 2>/dev/null || break
    sleep 0.2
done
if [ -z "$port" ]; then echo "FAILED: the server did not start"; cat "$log"; echo "0 passed, 1 failed"; exit 1; fi
base="http://127.0.0.1:$port"
auth=(-H "Authorization: Bearer $key")

# ---- the openai client ----
out=$(cd "$peers" && node serve_openai.mjs "$base" "$key" "$model" 2>&1)
echo "$out" | grep -v '^[0-9]* passed' | head -40
n_ok=$(echo "$out" | sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\1/p')
n_bad=$(echo "$out" | sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\2/p')
[ -n "$n_ok" ] || { bad "openai client run did not finish"; n_ok=0; n_bad=0; }
pass=$((pass + n_ok)); fail=$((fail + n_bad))

# ---- curl: framing, CORS, paths ----
sse=$(curl -sN "${auth[@]}" "$base/v1/chat/completions" -d '{"messages":[{"role":"user","content":"hi"}],"max_tokens":3,"temperature":0,"stream":true}')
[ "$(echo "$sse" | grep -c '^data: ')" -eq 6 ] && ok || bad "SSE: role + 3 content + finish chunks + [DONE] ($sse)"
[ "$(echo "$sse" | grep '^data: ' | tail -1)" = "data: [DONE]" ] && ok || bad "SSE ends with [DONE]"
hdr=$(curl -s -D - -o /dev/null "${auth[@]}" "$base/v1/chat/completions" -d '{"messages":[{"role":"user","content":"hi"}],"max_tokens":1,"stream":true}')
grep -qi '^content-type: text/event-stream' <<<"$hdr" && ok || bad "SSE content type ($hdr)"
grep -qi '^access-control-allow-origin: \*' <<<"$hdr" && ok || bad "CORS header on responses"
pre=$(curl -s -D - -o /dev/null -X OPTIONS -H "Origin: http://example.com" -H "Access-Control-Request-Method: POST" "$base/v1/chat/completions")
grep -q '^HTTP/1.1 204' <<<"$pre" && grep -qi 'access-control-allow-methods' <<<"$pre" && ok || bad "CORS preflight ($pre)"
code=$(curl -s -o /tmp/mlcc-serve-404.$$ -w '%{http_code}' "${auth[@]}" "$base/v1/nothing")
[ "$code" = 404 ] && grep -q '"error"' /tmp/mlcc-serve-404.$$ && ok || bad "unknown path: $code"
# a model name that decodes to invalid UTF-8 (quoted in the message): the error JSON was NULL
# and the server crashed on it
code=$(curl -s -o /tmp/mlcc-serve-404.$$ -w '%{http_code}' "${auth[@]}" "$base/v1/models/%ff")
[ "$code" = 404 ] && python3 -c 'import json,sys; json.load(open(sys.argv[1]))["error"]["message"]' /tmp/mlcc-serve-404.$$ && ok || bad "model name of invalid UTF-8: $code"
code=$(curl -s -o /dev/null -w '%{http_code}' "${auth[@]}" "$base/v1/chat/completions")
[ "$code" = 405 ] && ok || bad "GET on a POST endpoint: $code"
code=$(curl -s -o /dev/null -w '%{http_code}' "$base/v1/models")
[ "$code" = 401 ] && ok || bad "no API key: $code"
[ "$(curl -s "$base/health")" = '{"status":"ok"}' ] && ok || bad "/health"
prom=$(curl -s -D - "$base/metrics")
grep -qi '^content-type: text/plain; version=0.0.4' <<<"$prom" && ok || bad "metrics content type"
grep -q '^# TYPE mlcc_time_to_first_token_seconds histogram' <<<"$prom" && grep -q '^mlcc_requests_waiting 0' <<<"$prom" && ok || bad "Prometheus text"
# garbage that is not HTTP at all, then the server still answers
printf 'GARBAGE \x01\x02\r\n\r\n' | curl -s --max-time 2 telnet://127.0.0.1:$port >/dev/null 2>&1
[ "$(curl -s "$base/health")" = '{"status":"ok"}' ] && ok || bad "serving after garbage"
# malformed HTTP: each gets an answer or a closed connection, never a crash
raw() { timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$port; printf '%b' \"\$1\" >&3; cat <&3" _ "$1" 2>/dev/null | head -c 200; }
big_header=$(head -c 70000 /dev/zero | tr '\0' 'a')
for req in 'BREW /v1/models HTTP/1.1\r\nHost: x\r\n\r\n' \
           'POST /v1/chat/completions HTTP/1.1\r\nContent-Length: 100\r\n\r\n{"messages"' \
           'POST /v1/chat/completions HTTP/1.1\r\nContent-Length: 99999999999\r\n\r\n{}' \
           'POST /v1/chat/completions HTTP/1.1\r\nContent-Length: -5\r\n\r\n' \
           'POST /v1/completions HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nZZ\r\nxx\r\n0\r\n\r\n' \
           "GET /health HTTP/1.1\\r\\nX-Big: $big_header\\r\\n\\r\\n" \
           'GET /v1/models/%zz%00 HTTP/1.1\r\n\r\n' 'GET http://[::1 HTTP/1.1\r\n\r\n'; do
    raw "$req" >/dev/null
done
[ "$(curl -s "$base/health")" = '{"status":"ok"}' ] && ok || bad "serving after malformed HTTP"
chunked=$(curl -s "${auth[@]}" -H 'Transfer-Encoding: chunked' "$base/v1/completions" -d '{"prompt":[1,2,3],"max_tokens":2,"temperature":0}')
grep -q '"completion_tokens":2' <<<"$chunked" && ok || bad "chunked request body: $chunked"
rm -f /tmp/mlcc-serve-404.$$

# ---- graceful shutdown: an open request finishes, then the server exits 0 ----
curl -s "${auth[@]}" "$base/v1/completions" -d '{"prompt":"hi","max_tokens":40,"ignore_eos":true}' >/tmp/mlcc-serve-last.$$ &
client=$!
for _ in $(seq 1 100); do grep -q '^mlcc_requests_running 1' <<<"$(curl -s "$base/metrics")" && break; sleep 0.05; done
kill -TERM "$server"
wait "$client"
grep -q '"completion_tokens":40' /tmp/mlcc-serve-last.$$ && ok || bad "the open request finished during shutdown: $(head -c 300 /tmp/mlcc-serve-last.$$)"
rm -f /tmp/mlcc-serve-last.$$
wait "$server"; rc=$?
[ $rc -eq 0 ] && ok || { bad "server exit status $rc"; tail -5 "$log"; }
grep -q 'SIGTERM' "$log" && ok || bad "shutdown logged"

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
