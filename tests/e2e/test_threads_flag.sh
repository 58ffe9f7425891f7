#!/usr/bin/env bash
# `mlcc --threads N COMMAND ...` (and --threads=N) runs the command; a count that is not a
# number from 1 to 4096 is refused with a message before any command runs.
set -u
pass=0; fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAILED: $*"; }

"$MLCC" --threads 2 --version | grep -q "^mlcc " && ok || bad "--threads 2 --version"
"$MLCC" --threads=1 --version | grep -q "^mlcc " && ok || bad "--threads=1 --version"
for v in 0 -3 abc 2x 5000 ""; do
  msg=$("$MLCC" --threads "$v" --version 2>&1); rc=$?
  [ $rc -eq 2 ] && grep -q "needs a count from 1 to 4096, got '$v'" <<<"$msg" && ok || bad "--threads '$v': rc $rc: $msg"
done
msg=$("$MLCC" --threads 2>&1); [ $? -eq 2 ] && grep -q "needs a count" <<<"$msg" && ok || bad "--threads without a value: $msg"
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
