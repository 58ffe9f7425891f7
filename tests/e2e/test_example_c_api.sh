#!/usr/bin/env bash
# examples/c_api_chat: the C API (mlcc.h) example builds and streams a chat reply on a fixture
# model, with usage and metrics that agree with the requested length.
set -u
model="$MLCC_TESTDATA/models/tm-llama3"
[ -d "$model" ] || { echo "SKIP: fixture $model missing"; exit 77; }
out=$("$MLCC_BINARY_DIR/c_api_chat" "$model" "Hello!" 7 256 2>&1)
rc=$?
fail=0
[ $rc -eq 0 ] || { echo "exit status $rc"; fail=1; }
grep -q '^\[usage: [0-9]* prompt + 7 completion tokens\]$' <<<"$out" || { echo "missing usage line"; fail=1; }
grep -qF '[metrics: 1 requests answered 200, 7 tokens generated]' <<<"$out" || { echo "missing metrics line"; fail=1; }
# a model that does not exist: a clear error naming it, exit status 1
err=$("$MLCC_BINARY_DIR/c_api_chat" /nonexistent/model "Hi" 2>&1)
[ $? -eq 1 ] && grep -q '/nonexistent/model' <<<"$err" || { echo "missing-model error: $err"; fail=1; }
if [ $fail -ne 0 ]; then echo "$out"; echo "0 passed, 1 failed"; exit 1; fi
echo "2 passed, 0 failed"
