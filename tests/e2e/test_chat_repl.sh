#!/usr/bin/env bash
# `mlcc chat` driven through a pseudo-terminal (tmux): the REPL starts on a fixture model with a
# real tokenizer and template, answers, and handles /set, /stats, /reset, unknown settings,
# Esc+Enter multi-line input and /exit. Also the one-shot form (`echo hi | mlcc chat MODEL`).
set -u
model="$MLCC_TESTDATA/models/tm-llama3"
if [ ! -d "$model" ]; then echo "SKIP: fixture $model missing"; exit 77; fi
if ! command -v tmux >/dev/null; then echo "0 passed, 1 failed"; echo "tmux is missing (scripts/install-deps.sh installs it)"; exit 1; fi
session="mlcc-chat-test-$$"
sock="$(mktemp -u /tmp/mlcc-tmux-XXXXXX)"
t() { tmux -S "$sock" "$@"; }
cleanup() { t kill-server >/dev/null 2>&1; rm -f "$sock"; }
trap cleanup EXIT
pass=0; fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAILED: $1"; t capture-pane -p -t "$session" -S -200 | tail -40; }

# waits (bounded) until the pane shows $1; returns 1 on timeout
wait_for() {
    for _ in $(seq 1 600); do
        if t capture-pane -p -t "$session" -S -300 2>/dev/null | grep -qF -- "$1"; then return 0; fi
        sleep 0.2
    done
    return 1
}
count() { t capture-pane -p -t "$session" -S -300 | grep -cF -- "$1"; }

t new-session -d -s "$session" -x 200 -y 50 \
    "MLCC_HOME='$MLCC_HOME' MLCC_NUM_THREADS=2 '$MLCC' chat '$model' --max-seq 256; echo MLCC-EXITED-\$?; sleep 30"
wait_for ">>>" && ok || bad "no prompt"
t send-keys -t "$session" "/set temperature=0;max_tokens=6;seed=3" Enter
t send-keys -t "$session" "Hello there" Enter
# the reply ends with a new prompt (capture-pane trims the space after ">>>")
for _ in $(seq 1 300); do [ "$(count '>>>')" -ge 3 ] && break; sleep 0.2; done
[ "$(count '>>>')" -ge 3 ] && ok || bad "no reply to the first message"
t send-keys -t "$session" "/stats" Enter
wait_for "decode:  6 tokens" && ok || bad "/stats"
wait_for "prefill:" && ok || bad "/stats prefill line"
t send-keys -t "$session" "/set bogus=1" Enter
wait_for "unknown setting 'bogus'" && ok || bad "/set with an unknown key"
t send-keys -t "$session" "/reset" Enter
wait_for "new conversation" && ok || bad "/reset"
# Esc then Enter continues the message on a new line instead of sending it
t send-keys -t "$session" "first line" Escape Enter
t send-keys -t "$session" "second line" Enter
before=$(count "decode:")
t send-keys -t "$session" "/stats" Enter
wait_for "second line" && ok || bad "multi-line input"
for _ in $(seq 1 300); do [ "$(count 'decode:')" -gt "$before" ] && break; sleep 0.2; done
t send-keys -t "$session" "/help" Enter
wait_for "/set k=v;k=v" && ok || bad "/help"
t send-keys -t "$session" "/exit" Enter
wait_for "MLCC-EXITED-0" && ok || bad "/exit"

# one-shot form: a reply, exit status 0, and the start-up log on stderr
out=$(echo "Hi" | MLCC_NUM_THREADS=2 "$MLCC" chat "$model" --max-seq 256 --max-tokens 4 --seed 1 2>/tmp/mlcc-chat-err.$$)
rc=$?
[ $rc -eq 0 ] && [ -n "$out" ] && ok || bad "one-shot chat (rc $rc)"
grep -q "memory: parameters" /tmp/mlcc-chat-err.$$ && ok || bad "start-up log"
rm -f /tmp/mlcc-chat-err.$$
# a missing model is a clear error
msg=$("$MLCC" chat /nonexistent/model 2>&1 </dev/null)
[ $? -ne 0 ] && grep -q "/nonexistent/model" <<<"$msg" && ok || bad "missing model error: $msg"

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
