#!/usr/bin/env bash
# test_hub.sh - HF:// downloads against a local stand-in for the Hugging Face hub
# (tests/hub/hub_server.py: the hub's URL layout, a 302 to a second "CDN" port for large files,
# Range, and knobs to cut connections, corrupt bytes, require a token). Covers a fresh download
# checked byte for byte against the fixture, offline reuse, resume within a run and across runs,
# a checksum mismatch refused, 401/403/404 wording, sharded safetensors, one GGUF file, the
# download policies, disk full (a file size limit), the terminal progress bar, and mlcc cache.
set -u
MLCC=${MLCC:?MLCC must name the mlcc binary}
SRC=${MLCC_SOURCE_DIR:?}
FIXTURE=${MLCC_TESTDATA:?}/models/tm-llama3
[ -f "$FIXTURE/tokenizer.json" ] || { echo "SKIP: $FIXTURE/tokenizer.json missing (run make test to unpack fixtures)"; exit 77; }
command -v python3 >/dev/null || { echo "SKIP: python3 not installed"; exit 77; }

T=$(mktemp -d /tmp/mlcc-hub-test.XXXXXX)
SERVER=
cleanup() { [ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null; wait 2>/dev/null; [ -n "${KEEP:-}" ] || rm -rf "$T"; }
trap cleanup EXIT

passed=0 failed=0
ok() { passed=$((passed + 1)); }
bad() { failed=$((failed + 1)); echo "FAIL (line ${BASH_LINENO[1]}): $*" >&2; }
check() { if eval "$1"; then ok; else bad "$1${2:+ ($2)}"; fi; }
check_eq() { if [ "$1" = "$2" ]; then ok; else bad "expected [$2], got [$1]"; fi; }
check_has() { if grep -qF -- "$2" "$1"; then ok; else bad "$1 lacks [$2]; it has: $(cat "$1")"; fi; }
check_lacks() { if grep -qF -- "$2" "$1"; then bad "$1 has [$2]"; else ok; fi; }

# ---- repos: the fixture model, a sharded one, a GGUF one ----
mkdir -p "$T/sharded" "$T/gguf"
cp "$FIXTURE/config.json" "$FIXTURE/tokenizer_config.json" "$T/sharded/"
echo '{"version":"1.0","model":{"type":"BPE","vocab":{},"merges":[]}}' > "$T/sharded/tokenizer.json"
head -c 1500000 /dev/urandom > "$T/sharded/model-00001-of-00002.safetensors"
head -c 300000 /dev/urandom > "$T/sharded/model-00002-of-00002.safetensors"
head -c 1000 /dev/urandom > "$T/sharded/pytorch_model.bin"
cat > "$T/sharded/model.safetensors.index.json" <<'JSON'
{"metadata": {"total_size": 1800000},
 "weight_map": {"a.weight": "model-00001-of-00002.safetensors",
                "b.weight": "model-00002-of-00002.safetensors",
                "c.weight": "model-00001-of-00002.safetensors"}}
JSON
head -c 1200000 /dev/urandom > "$T/gguf/small-q4_0.gguf"
head -c 2000 /dev/urandom > "$T/gguf/small-f16.gguf"
echo "# readme" > "$T/gguf/README.md"

python3 "$SRC/tests/hub/hub_server.py" --repo "tm/llama3=$FIXTURE" --repo "tm/sharded=$T/sharded" \
    --repo "tm/gguf=$T/gguf" --port-file "$T/ports" --log "$T/log" --knobs "$T/knobs" \
    --lifetime 600 2>"$T/server.err" &
SERVER=$!
for _ in $(seq 100); do [ -s "$T/ports" ] && break; sleep 0.1; done
[ -s "$T/ports" ] || { echo "FAIL: the hub server did not start: $(cat "$T/server.err")"; exit 1; }
read -r HUB_PORT CDN_PORT < "$T/ports"
EP=http://127.0.0.1:$HUB_PORT
DEAD=http://127.0.0.1:$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')

# mlcc with a cache folder ($HOME_DIR) and endpoint ($ENDPOINT); stdout, stderr, status in $T/out,
# $T/err, $RC. Extra environment as VAR=value arguments before the mlcc arguments.
HOME_DIR=$T/home ENDPOINT=$EP
run() {
    local envs=()
    while [[ $# -gt 0 && $1 == *=* && $1 != HF://* ]]; do envs+=("$1"); shift; done
    env -u HF_TOKEN -u HUGGING_FACE_HUB_TOKEN -u HF_TOKEN_PATH -u MLCC_DOWNLOAD_POLICY -u HF_HUB_OFFLINE \
        HF_HOME="$T/no-hf-home" MLCC_HOME="$HOME_DIR" HF_ENDPOINT="$ENDPOINT" MLCC_HUB_TIMEOUT=10 \
        "${envs[@]}" \
        timeout 120 "$MLCC" "$@" >"$T/out" 2>"$T/err"
    RC=$?
}
knobs() { echo "$1" > "$T/knobs.tmp" && mv "$T/knobs.tmp" "$T/knobs"; }
log_mark() { MARK=$(wc -l < "$T/log"); }
log_since() { tail -n +$((MARK + 1)) "$T/log"; }
sha() { sha256sum "$1" | cut -d' ' -f1; }
COMMIT=$(python3 -c 'import json, sys, urllib.request as u; print(json.load(u.urlopen(sys.argv[1], timeout=10))["sha"])' "$EP/api/models/tm/llama3/revision/main")
REPO_DIR=$T/home/hub/models--tm--llama3
SNAP=$REPO_DIR/snapshots/$COMMIT

# ---- 1. fresh download: the right files, byte for byte; large ones through the CDN, tokenless ----
knobs '{}'
log_mark
run download HF://tm/llama3
check_eq "$RC" 0
check_eq "$(cat "$T/out")" "$SNAP"
for f in config.json generation_config.json tokenizer.json tokenizer_config.json model.safetensors; do
    check "cmp -s '$FIXTURE/$f' '$SNAP/$f'" "$f differs from the fixture"
done
check "[ ! -e '$SNAP/meta.json' ] && [ ! -e '$SNAP/tokenizer.json.gz' ]" "only the files a model needs"
check_eq "$(cat "$REPO_DIR/refs/main")" "$COMMIT"
check "[ -z \"\$(ls '$REPO_DIR/blobs' | grep incomplete)\" ]" "no partial files left"
log_since > "$T/l1"
check_has "$T/l1" "cdn GET /tm/llama3/model.safetensors?signature=abc range=- auth=no"
check_lacks "$T/l1" "meta.json"
check_has "$T/err" "mlcc: downloading tm/llama3/model.safetensors (3.9 MiB)"
check_has "$T/err" "mlcc: tm/llama3/model.safetensors: done, 3.9 MiB in"

# ---- 2. offline reuse: the cache answers without the network ----
log_mark
ENDPOINT=$DEAD run download HF://tm/llama3
check_eq "$RC" 0
check_eq "$(cat "$T/out")" "$SNAP"
run MLCC_DOWNLOAD_POLICY=OFF download HF://tm/llama3
check_eq "$RC" 0
check_eq "$(cat "$T/out")" "$SNAP"
run MLCC_DOWNLOAD_POLICY=readonly download "HF://tm/llama3@$COMMIT"
check_eq "$(cat "$T/out")" "$SNAP"
check_eq "$(log_since | wc -l)" 0

# a blob gone from the cache means the snapshot is not whole any more: fetched again
rm "$REPO_DIR/blobs/$(sha "$FIXTURE/model.safetensors")"
run MLCC_DOWNLOAD_POLICY=OFF download HF://tm/llama3
check_eq "$RC" 1
run download --quiet HF://tm/llama3
check_eq "$RC" 0
check "cmp -s '$FIXTURE/model.safetensors' '$SNAP/model.safetensors'"
check "[ ! -s '$T/err' ]" "--quiet prints nothing"

# ---- 3. offline and not cached; policies ----
HOME_DIR=$T/empty ENDPOINT=$DEAD run download HF://tm/llama3
check_eq "$RC" 1
check_has "$T/err" "mlcc download: cannot reach $DEAD ("
check_has "$T/err" "): are you offline? HF://tm/llama3 is not in the cache either (looked in $T/empty/hub/models--tm--llama3)"
HOME_DIR=$T/empty run MLCC_DOWNLOAD_POLICY=OFF download HF://tm/llama3@v1
check_eq "$(cat "$T/err")" "mlcc download: HF://tm/llama3@v1 is not in the cache (looked in $T/empty/hub/models--tm--llama3) and MLCC_DOWNLOAD_POLICY=OFF forbids downloading it"
run MLCC_DOWNLOAD_POLICY=sometimes download HF://tm/llama3
check_eq "$(cat "$T/err")" "mlcc download: MLCC_DOWNLOAD_POLICY=sometimes: expected ON, OFF, REDO or READONLY"
check "[ ! -e '$T/empty/hub/models--tm--llama3/refs' ]" "a failed resolve writes no ref"

# REDO downloads again what the cache has
log_mark
run MLCC_DOWNLOAD_POLICY=REDO download HF://tm/llama3
check_eq "$RC" 0
check_eq "$(log_since | grep -c 'GET /tm/llama3/model.safetensors')" 1
check "cmp -s '$FIXTURE/model.safetensors' '$SNAP/model.safetensors'"

# ---- 4. resume after a cut connection, within one run ----
HOME_DIR=$T/h4
knobs '{"script": {"model.safetensors": ["cut:1000000"], "config.json": ["cut:100"]}}'
log_mark
run download HF://tm/llama3
check_eq "$RC" 0
log_since > "$T/l4"
check_has "$T/l4" "cdn GET /tm/llama3/model.safetensors?signature=abc range=bytes=1000000- auth=no"
check_has "$T/l4" "hub GET /tm/llama3/resolve/$COMMIT/config.json range=bytes=100- auth=no"
check "cmp -s '$FIXTURE/model.safetensors' '$T/h4/hub/models--tm--llama3/snapshots/$COMMIT/model.safetensors'"
check "cmp -s '$FIXTURE/config.json' '$T/h4/hub/models--tm--llama3/snapshots/$COMMIT/config.json'"

# ---- 5. resume across runs: cut, then the server fails until the retries are spent ----
HOME_DIR=$T/h5
MSHA=$(sha "$FIXTURE/model.safetensors")
knobs '{"script": {"model.safetensors": ["cut:1500000", "503", "503", "503"]}}'
run MLCC_HUB_RETRIES=1 download HF://tm/llama3
check_eq "$RC" 1
check_has "$T/err" "mlcc download: tm/llama3/model.safetensors: http://127.0.0.1:$HUB_PORT/tm/llama3/resolve/$COMMIT/model.safetensors: HTTP 503 (the partial download, 1500000 bytes, is kept in $T/h5/hub/models--tm--llama3/blobs/$MSHA.incomplete; run again to resume)"
check_eq "$(stat -c %s "$T/h5/hub/models--tm--llama3/blobs/$MSHA.incomplete")" 1500000
check "[ ! -e '$T/h5/hub/models--tm--llama3/snapshots/$COMMIT/model.safetensors' ]" "no link to a partial file"
check "[ ! -e '$T/h5/hub/models--tm--llama3/refs/main' ]" "no ref before the snapshot is whole"
check "[ ! -e '$T/h5/hub/models--tm--llama3/manifests/$COMMIT.json' ]" "no manifest before the snapshot is whole"
knobs '{}'
log_mark
run download HF://tm/llama3
check_eq "$RC" 0
check_has "$T/err" "mlcc: downloading tm/llama3/model.safetensors (3.9 MiB, resuming at 1.4 MiB)"
log_since > "$T/l5"
check_has "$T/l5" "cdn GET /tm/llama3/model.safetensors?signature=abc range=bytes=1500000- auth=no"
check "cmp -s '$FIXTURE/model.safetensors' '$T/h5/hub/models--tm--llama3/snapshots/$COMMIT/model.safetensors'"

# ---- 6. checksum mismatch refused, nothing kept ----
HOME_DIR=$T/h6
knobs '{"corrupt": ["model.safetensors"]}'
run download HF://tm/llama3
check_eq "$RC" 1
check_has "$T/err" "mlcc download: tm/llama3/model.safetensors: sha256 mismatch: expected $MSHA, got "
check_has "$T/err" "; the download was discarded"
check "[ ! -e '$T/h6/hub/models--tm--llama3/blobs/$MSHA.incomplete' ] && [ ! -e '$T/h6/hub/models--tm--llama3/blobs/$MSHA' ]"
check "[ ! -e '$T/h6/hub/models--tm--llama3/snapshots/$COMMIT/model.safetensors' ]"
# a size that does not match what the hub announced is refused the same way
knobs '{"wrong_size": ["model.safetensors"]}'
run download HF://tm/llama3
check_eq "$(tail -n 1 "$T/err")" "mlcc download: tm/llama3/model.safetensors: size mismatch: expected 4115673 bytes, got 4115672; the download was discarded"
check "[ ! -e '$T/h6/hub/models--tm--llama3/blobs/$MSHA.incomplete' ]"
knobs '{}'

# ---- 7. not found: repository, revision, file ----
run download HF://tm/nope
check_eq "$(cat "$T/err")" "mlcc download: HF://tm/nope: repository not found on $EP (check the name; a private or gated repository also needs HF_TOKEN)"
run download HF://tm/llama3@v9
check_eq "$(cat "$T/err")" "mlcc download: HF://tm/llama3: revision 'v9' not found"
run download HF://tm/gguf/absent.gguf
check_eq "$(cat "$T/err")" "mlcc download: HF://tm/gguf: file 'absent.gguf' not found at revision main"
run download HF://tm/gguf
check_eq "$(cat "$T/err")" "mlcc download: HF://tm/gguf has no config.json; it has GGUF files (small-f16.gguf, small-q4_0.gguf): name one, as in HF://tm/gguf/small-f16.gguf"
run download HF://tm/llama3/model.safetensors
check_eq "$(cat "$T/err")" "mlcc download: HF://tm/llama3/model.safetensors: 'model.safetensors' is not a .gguf file path (only one GGUF file can be named after the repository: HF://org/repo[@revision][/file.gguf])"
check_eq "$RC" 1

# ---- 8. gated: 401 without a token, 403 with a wrong one; the token never reaches the CDN ----
HOME_DIR=$T/h8
knobs '{"token": "hf_secret"}'
run download HF://tm/llama3
check_eq "$(cat "$T/err")" "mlcc download: HF://tm/llama3: access denied (HTTP 401): the model is gated or private; request access on $EP/tm/llama3, then set HF_TOKEN to an access token ($EP/settings/tokens)"
run HF_TOKEN=hf_wrong download HF://tm/llama3
check_eq "$(cat "$T/err")" "mlcc download: HF://tm/llama3: access denied (HTTP 403) with the token in HF_TOKEN: it is not valid, or its account has no access to this gated or private model (request access on $EP/tm/llama3)"
log_mark
run HF_TOKEN=hf_secret download HF://tm/llama3
check_eq "$RC" 0
log_since > "$T/l8"
check_has "$T/l8" "hub GET /api/models/tm/llama3/revision/main range=- auth=yes"
check_has "$T/l8" "cdn GET /tm/llama3/model.safetensors?signature=abc range=- auth=no"
check "cmp -s '$FIXTURE/model.safetensors' '$T/h8/hub/models--tm--llama3/snapshots/$COMMIT/model.safetensors'"
# a gated repo: its model info is public, its files are not; the token of
# `huggingface-cli login` (a file) works too
knobs '{"token": "hf_secret", "gated": true}'
HOME_DIR=$T/h8g run download HF://tm/llama3
check_eq "$(cat "$T/err")" "mlcc download: HF://tm/llama3: access denied (HTTP 401): the model is gated or private; request access on $EP/tm/llama3, then set HF_TOKEN to an access token ($EP/settings/tokens)"
mkdir -p "$T/hfhome" && printf 'hf_stale\n' > "$T/hfhome/token"
HOME_DIR=$T/h8g run HF_HOME="$T/hfhome" download HF://tm/llama3
check_eq "$(cat "$T/err")" "mlcc download: HF://tm/llama3: access denied (HTTP 403) with the token in $T/hfhome/token: it is not valid, or its account has no access to this gated or private model (request access on $EP/tm/llama3)"
printf 'hf_secret\n' > "$T/hfhome/token"
HOME_DIR=$T/h8g run HF_HOME="$T/hfhome" download HF://tm/llama3
check_eq "$RC" 0
knobs '{}'

# ---- 8b. a renamed repo: the hub redirects the old name within itself ----
HOME_DIR=$T/h8b
knobs '{"renamed": {"tm/old-llama3": "tm/llama3"}}'
log_mark
run download HF://tm/old-llama3
check_eq "$RC" 0
check_eq "$(cat "$T/out")" "$T/h8b/hub/models--tm--old-llama3/snapshots/$COMMIT"
check "cmp -s '$FIXTURE/model.safetensors' '$T/h8b/hub/models--tm--old-llama3/snapshots/$COMMIT/model.safetensors'"
check_has <(log_since) "hub HEAD /tm/llama3/resolve/$COMMIT/model.safetensors range=- auth=no"
knobs '{}'

# ---- 9. sharded safetensors: the index and its shards, nothing else ----
HOME_DIR=$T/h9
run download HF://tm/sharded
check_eq "$RC" 0
S9=$(cat "$T/out")
check_eq "$(cd "$S9" && ls | tr '\n' ' ')" "config.json model-00001-of-00002.safetensors model-00002-of-00002.safetensors model.safetensors.index.json tokenizer.json tokenizer_config.json "
for f in model-00001-of-00002.safetensors model-00002-of-00002.safetensors model.safetensors.index.json; do
    check "cmp -s '$T/sharded/$f' '$S9/$f'"
done

# ---- 10. one GGUF file ----
log_mark
run download HF://tm/gguf/small-q4_0.gguf
check_eq "$RC" 0
G=$(cat "$T/out")
check "[[ '$G' == '$T/h9/hub/models--tm--gguf/snapshots/'*/small-q4_0.gguf ]]" "$G"
check "cmp -s '$T/gguf/small-q4_0.gguf' '$G'"
check_eq "$(log_since | grep -c small-f16)" 0
ENDPOINT=$DEAD run download HF://tm/gguf/small-q4_0.gguf
check_eq "$(cat "$T/out")" "$G"
ENDPOINT=$DEAD run download HF://tm/gguf/small-f16.gguf
check_eq "$RC" 1

# ---- 11. disk full (a file size limit stands in for a full disk), then resume ----
HOME_DIR=$T/h11
TSHA=$(sha "$FIXTURE/tokenizer.json")
(trap '' XFSZ; ulimit -f 2000; run download HF://tm/llama3; echo "$RC" > "$T/rc11")
check_eq "$(cat "$T/rc11")" 1
check_has "$T/err" "mlcc download: disk full while writing $T/h11/hub/models--tm--llama3/blobs/$TSHA.incomplete (File too large): free some space and run again; the partial download is kept and will resume"
check_eq "$(stat -c %s "$T/h11/hub/models--tm--llama3/blobs/$TSHA.incomplete")" 2048000
log_mark
run download HF://tm/llama3
check_eq "$RC" 0
check_has <(log_since) "cdn GET /tm/llama3/tokenizer.json?signature=abc range=bytes=2048000- auth=no"
check "cmp -s '$FIXTURE/tokenizer.json' '$T/h11/hub/models--tm--llama3/snapshots/$COMMIT/tokenizer.json'"

# ---- 12. two downloads of one model at once share the work safely ----
HOME_DIR=$T/h12
run download --quiet HF://tm/llama3 & run2_pid=$!
env MLCC_HOME="$T/h12" HF_ENDPOINT="$EP" timeout 120 "$MLCC" download --quiet HF://tm/llama3 >"$T/out12" 2>"$T/err12"
rc12=$?
wait $run2_pid
check_eq "$rc12" 0
check_eq "$(cat "$T/out12")" "$T/h12/hub/models--tm--llama3/snapshots/$COMMIT"
check "cmp -s '$FIXTURE/model.safetensors' '$T/h12/hub/models--tm--llama3/snapshots/$COMMIT/model.safetensors'"

# ---- 13. the progress bar on a terminal ----
if command -v script >/dev/null; then
    HOME_DIR=$T/h13
    env MLCC_HOME="$T/h13" HF_ENDPOINT="$EP" timeout 120 script -qec "'$MLCC' download HF://tm/llama3" /dev/null > "$T/tty" 2>&1
    check "grep -q \$'\\r' '$T/tty'" "a carriage return updates the line"
    check_has "$T/tty" "tm/llama3/model.safetensors  100%  3.9 MiB / 3.9 MiB"
    check_has "$T/tty" "ETA"
    check "grep -q 'model.safetensors  100%.* in [0-9.]* s' '$T/tty'" "the final line says how long it took"
    check_lacks "$T/tty" "mlcc: downloading"
else
    echo "note: script(1) not installed; the terminal progress bar is not checked"
fi

# ---- 14. mlcc cache list | rm ----
HOME_DIR=$T/h9
run cache list
check_eq "$RC" 0
check "grep -E '^tm/gguf +main +[0-9a-f]{12} +1 +1.1 MiB  $T/h9/hub/models--tm--gguf/snapshots/' '$T/out' >/dev/null" "$(cat "$T/out")"
check "grep -E '^tm/sharded +main +[0-9a-f]{12} +6 +1.8 MiB  ' '$T/out' >/dev/null" "$(cat "$T/out")"
check_has "$T/out" "2 snapshots, 2.9 MiB in $T/h9/hub"
run MLCC_DOWNLOAD_POLICY=READONLY cache rm tm/sharded
check_eq "$(cat "$T/err")" "mlcc cache rm: MLCC_DOWNLOAD_POLICY=READONLY: the cache is not changed"
run cache rm tm/sharded
check_eq "$RC" 0
check "[ ! -e '$T/h9/hub/models--tm--sharded' ]"
run cache list
check_lacks "$T/out" "tm/sharded"
check_has "$T/out" "tm/gguf"
run cache rm HF://tm/sharded
check_eq "$(cat "$T/err")" "mlcc cache rm: tm/sharded is not in the cache (no $T/h9/hub/models--tm--sharded)"
HOME_DIR=$T/none run cache list
check_eq "$(cat "$T/out")" "no models in the cache ($T/none/hub)"
mkdir -p "$T/h9/jit/ab" && head -c 3000 /dev/zero > "$T/h9/jit/ab/lib.so" && ln -s .. "$T/h9/jit/ab/loop"
run cache list
check_has "$T/out" "other caches in $T/h9:"
check "grep -E '^  jit +1 files +2.9 KiB\$' '$T/out' >/dev/null" "$(cat "$T/out")"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
