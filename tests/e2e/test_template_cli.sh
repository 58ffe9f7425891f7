#!/usr/bin/env bash
# `mlcc template` end to end: --template and --model render byte-exact prompts (compared with
# the Jinja2 references in testdata/templates/refs.json), special tokens come from
# tokenizer_config.json (strings or {"content": ...}), raise_exception and syntax errors fail
# with the template's line and column, and built-in fallbacks work.
set -uo pipefail
D="$MLCC_TESTDATA/templates"
[ -f "$D/refs.json" ] || { echo "SKIP: $D/refs.json is missing (make test unpacks ../shared/testdata)"; exit 77; }
T="$(mktemp -d)"
trap 'rm -rf "$T"' EXIT
fail=0
check() { if [ "$1" = 0 ]; then echo "ok: $2"; else echo "FAIL: $2"; fail=1; fi; }
export MLCC_FIXED_TIME=1795521600

# expected prompts and inputs from the fixtures, and two model folders
PY=/usr/bin/python3; [ -x "$PY" ] || PY=python3
"$PY" - "$D" "$T" <<'PY'
import json, os, sys
d, t = sys.argv[1], sys.argv[2]
convs = {c["name"]: c for c in json.load(open(f"{d}/conversations.json"))}
refs = json.load(open(f"{d}/refs.json"))
specials = json.load(open(f"{d}/specials.json"))
for tmpl, conv in [("Llama-3.2-Instruct", "tools-user"), ("Qwen3", "thinking-off-kwarg"),
                   ("Gemma-3-it", "consecutive-users")]:
    json.dump(dict(convs[conv], **specials[tmpl]), open(f"{t}/{tmpl}.in.json", "w"), ensure_ascii=False)
    json.dump(convs[conv], open(f"{t}/{tmpl}.bare.json", "w"), ensure_ascii=False)
    r = refs[tmpl][conv]
    open(f"{t}/{tmpl}.want", "wb").write(r["ok"].encode() if "ok" in r else b"")
# template inside tokenizer_config.json; bos_token as an AddedToken object
os.makedirs(f"{t}/model", exist_ok=True)
json.dump({"chat_template": open(f"{d}/Llama-3.2-Instruct.jinja").read(),
           "bos_token": {"content": specials["Llama-3.2-Instruct"]["bos_token"], "lstrip": False},
           "eos_token": specials["Llama-3.2-Instruct"]["eos_token"]},
          open(f"{t}/model/tokenizer_config.json", "w"))
# chat_template.jinja wins over tokenizer_config.json's chat_template
os.makedirs(f"{t}/model2", exist_ok=True)
json.dump({"chat_template": "ignored", "bos_token": "", "eos_token": "<|im_end|>"},
          open(f"{t}/model2/tokenizer_config.json", "w"))
open(f"{t}/model2/chat_template.jinja", "w").write(open(f"{d}/Qwen3.jinja").read())
# named templates: "default" without tools, "tool_use" when the request has tools
os.makedirs(f"{t}/model3", exist_ok=True)
json.dump({"chat_template": [{"name": "default", "template": open(f"{d}/ChatML.jinja").read()},
                             {"name": "tool_use", "template": open(f"{d}/Hermes-3-Llama-3.1-tool_use.jinja").read()}],
           "bos_token": specials["Hermes-3-Llama-3.1-tool_use"]["bos_token"], "eos_token": "<|im_end|>"},
          open(f"{t}/model3/tokenizer_config.json", "w"))
json.dump(convs["tools-user"], open(f"{t}/tools.json", "w"))
json.dump(convs["system-multi-turn"], open(f"{t}/notools.json", "w"))
open(f"{t}/tools.want", "w").write(refs["Hermes-3-Llama-3.1-tool_use"]["tools-user"]["ok"])
open(f"{t}/notools.want", "w").write(refs["ChatML"]["system-multi-turn"]["ok"])
PY

"$MLCC" template --template "$D/Llama-3.2-Instruct.jinja" --input "$T/Llama-3.2-Instruct.in.json" > "$T/out1"
check $? "--template renders"
cmp -s "$T/out1" "$T/Llama-3.2-Instruct.want"; check $? "--template output is byte-exact"

"$MLCC" template --model "$T/model" --input "$T/Llama-3.2-Instruct.bare.json" > "$T/out2"
check $? "--model renders (tokenizer_config.json chat_template, AddedToken bos)"
cmp -s "$T/out2" "$T/Llama-3.2-Instruct.want"; check $? "--model output is byte-exact"

"$MLCC" template --model "$T/model2" --input "$T/Qwen3.bare.json" > "$T/out3"
check $? "--model renders (chat_template.jinja)"
cmp -s "$T/out3" "$T/Qwen3.want"; check $? "chat_template.jinja output is byte-exact"

"$MLCC" template --model "$T/model3" --input "$T/tools.json" > "$T/out8"
cmp -s "$T/out8" "$T/tools.want"; check $? "named templates: tool_use with tools"
"$MLCC" template --model "$T/model3" --input "$T/notools.json" > "$T/out9"
cmp -s "$T/out9" "$T/notools.want"; check $? "named templates: default without tools"

"$MLCC" template --template "$D/Gemma-3-it.jinja" --input "$T/Gemma-3-it.in.json" > "$T/out4" 2> "$T/err4"
[ $? = 1 ]; check $? "raise_exception fails the command"
grep -q "Gemma-3-it.jinja:[0-9]*:[0-9]*: .*Conversation roles must alternate" "$T/err4"
check $? "raise_exception message names line and column: $(cat "$T/err4")"

printf '{%% for m in messages %%}\n{{ m.content \n{%% endfor %%}' > "$T/bad.jinja"
"$MLCC" template --template "$T/bad.jinja" --input "$T/Qwen3.bare.json" > /dev/null 2> "$T/err5"
[ $? = 1 ]; check $? "a syntax error fails the command"
grep -q "bad.jinja:3:1: syntax error" "$T/err5"; check $? "syntax error names line and column: $(cat "$T/err5")"

mkdir -p "$T/empty"
"$MLCC" template --model "$T/empty" --input "$T/Qwen3.bare.json" > /dev/null 2> "$T/err6"
[ $? = 1 ]; check $? "a model without a template fails clearly: $(cat "$T/err6")"
"$MLCC" template --model "$T/empty" --fallback chatml --input "$T/Qwen3.bare.json" > "$T/out7"
check $? "--fallback chatml renders"
grep -q "<|im_start|>user" "$T/out7"; check $? "chatml fallback output"
"$MLCC" template --builtin llama-3 --input "$T/Qwen3.in.json" > /dev/null
check $? "--builtin llama-3 renders"
exit $fail
