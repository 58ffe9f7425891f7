#!/usr/bin/python3
"""Differential test of Jinja semantics on small templates: each snippet of SNIPPETS.json
(a list of template sources, or of {"template": ..., "context": {...}}) is rendered by Python
Jinja2 with transformers' setup (testdata/templates/render.py) and by `mlcc template`; outputs
must match byte for byte and Jinja2 errors must be mlcc errors.

usage: snippet_diff.py --mlcc BUILD/mlcc --render RENDER_PY SNIPPETS.json...
"""
import argparse
import importlib.util
import json
import os
import re
import subprocess
import sys
import tempfile

DEFAULT_CONTEXT = {
    "messages": [{"role": "system", "content": "Be brief."},
                 {"role": "user", "content": "Hi there, ÄÖÜ 😀"},
                 {"role": "assistant", "content": "Hello!", "tool_calls": [
                     {"id": "call_1", "type": "function",
                      "function": {"name": "f", "arguments": {"a": 1, "b": [1.5, None, True]}}}]},
                 {"role": "user", "content": [{"type": "text", "text": "part"}, {"type": "image"}]}],
    "add_generation_prompt": True,
    "bos_token": "<s>", "eos_token": "</s>",
    "x": 3, "y": 2.5, "s": "Hello World", "n": None, "t": True, "f": False,
    "l": [3, 1, 2], "d": {"b": 2, "a": 1, "c": {"z": [1, {"k": "v"}]}},
    "people": [{"name": "Bo", "age": 30}, {"name": "al", "age": 25}, {"name": "Cy"}],
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mlcc", required=True)
    ap.add_argument("--render", required=True)
    ap.add_argument("--show", type=int, default=50)
    ap.add_argument("--random", type=int, default=0,
                    help="also check N random expressions (tests/template/random_exprs.py)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("snippets", nargs="*")
    args = ap.parse_args()
    spec = importlib.util.spec_from_file_location("render", args.render)
    render = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(render)
    cases = []
    for path in args.snippets:
        for item in json.load(open(path, encoding="utf-8")):
            if isinstance(item, str):
                item = {"template": item}
            cases.append(item)
    if args.random:
        gen = importlib.util.spec_from_file_location(
            "random_exprs", os.path.join(os.path.dirname(os.path.abspath(__file__)), "random_exprs.py"))
        random_exprs = importlib.util.module_from_spec(gen)
        gen.loader.exec_module(random_exprs)
        cases += [{"template": t} for t in random_exprs.generate(args.seed, args.random)]
    env = dict(os.environ, MLCC_FIXED_TIME="1795521600")
    # Python prints lazy objects with their address ("<generator object f at 0x7f...>"): no two
    # runs agree on it, so only the kind of object is compared
    def norm(text):
        return re.sub(r"<([a-z_]+) object[^>]*>", r"<\1 object>", text)
    bad = shown = 0
    wants, batch = [], []
    for case in cases:
        # a fresh copy each time: Jinja2 itself can mutate its input (indent's `s += "\n"`
        # extends a list in place)
        ctx = json.loads(json.dumps(dict(DEFAULT_CONTEXT, **case.get("context", {}))))
        try:
            wants.append(("ok", render.render(case["template"], ctx)))
        except Exception as e:
            wants.append(("error", f"{type(e).__name__}: {e}"))
        batch.append({"template": case["template"], "input": json.loads(json.dumps(dict(DEFAULT_CONTEXT, **case.get("context", {}))))})
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "snippets.json")
        with open(path, "w", encoding="utf-8") as f:
            json.dump(batch, f, ensure_ascii=False)
        # every snippet in one mlcc process (`mlcc template --snippets`)
        p = subprocess.run([args.mlcc, "template", "--snippets", path], capture_output=True, env=env)
        if p.returncode != 0:
            print(f"snippet_diff: mlcc failed: {p.stderr.decode(errors='replace')}")
            return 1
        results = json.loads(p.stdout)
    for case, want, r in zip(cases, wants, results):
        got = ("ok", r["ok"]) if "ok" in r else ("error", r["error"])
        same = got[0] == want[0] and (got[0] == "error" or norm(got[1]) == norm(want[1]))
        if not same:
            bad += 1
            if shown < args.show:
                shown += 1
                print(f"--- {case['template']!r}\n  jinja2: {want[0]}: {want[1]!r}\n  mlcc:   {got[0]}: {got[1]!r}")
    print(f"snippet_diff: {len(cases) - bad}/{len(cases)} snippets agree")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
