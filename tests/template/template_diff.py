#!/usr/bin/python3
"""Differential test: random conversations rendered by Python Jinja2 (set up exactly as
transformers sets it up: testdata/templates/render.py) and by `mlcc template --batch`.

usage: template_diff.py --mlcc BUILD/mlcc --render RENDER_PY [--count N] [--seed S]
                        [--specials SPECIALS.json] TEMPLATE.jinja...

One Python process renders every conversation of every template; mlcc renders each template's
batch in one process. Every Jinja2 render must match byte for byte, and where Jinja2 raised,
mlcc must fail too. Prints a summary; exit 1 on any difference.
"""
import argparse
import importlib.util
import json
import os
import random
import subprocess
import sys
import tempfile

WORDS = ["hello", "world", "compiler", "the", "a", "tensor", "Pittsburgh", "weather", "café", "naïve",
         "你好", "世界", "Привет", "مرحبا", "😀", "👋🏽", "🇫🇷", "x", "42", "3.14", "-7", "\t", "  ", "\n",
         "{{ x }}", "{% if %}", "{#", "<|im_end|>", "</s>", "[INST]", "<think>", "</think>", "\\n", "'", '"',
         "\\", "%s", "{}", "{0}", "\u00a0", "\u2028", "\u200b", "ß", "İ", "\x07", "\x1f", "\u0000"]


def rand_text(rng, long_ok=True):
    r = rng.random()
    if r < 0.08:
        return ""
    if r < 0.12:
        return rng.choice(["  padded  ", "\n\nnewlines\n\n", " ", "\n"])
    n = rng.randint(1, 12)
    if long_ok and rng.random() < 0.05:
        n = rng.randint(200, 600)
    words = [rng.choice(WORDS) for _ in range(n)]
    return " ".join(words) if rng.random() < 0.8 else "".join(words)


def rand_schema(rng, depth=0):
    t = rng.choice(["string", "integer", "number", "boolean", "array", "object", ["string", "null"]])
    s = {"type": t}
    if rng.random() < 0.6:
        s["description"] = rand_text(rng, False)
    if t == "string" and rng.random() < 0.3:
        s["enum"] = [rand_text(rng, False) for _ in range(rng.randint(1, 3))]
    if t == "array" and depth < 2:
        s["items"] = rand_schema(rng, depth + 1)
    if t == "object" and depth < 2 and rng.random() < 0.7:
        s["properties"] = {f"p{i}": rand_schema(rng, depth + 1) for i in range(rng.randint(0, 3))}
    if t in ("integer", "number") and rng.random() < 0.3:
        s["minimum"] = rng.choice([0, 1, -5, 2.5])
    if rng.random() < 0.1:
        s["default"] = rng.choice([None, True, 3, 1.5, "x", [1, 2], {"k": "v"}])
    return s


def rand_tool(rng):
    props = {f"arg_{i}": rand_schema(rng) for i in range(rng.randint(0, 4))}
    fn = {"name": rng.choice(["get_weather", "search", "calc", "lookup_éü", "f"]),
          "description": rand_text(rng, False),
          "parameters": {"type": "object", "properties": props,
                         "required": [k for k in props if rng.random() < 0.5]}}
    if rng.random() < 0.1:
        fn["return"] = {"type": "string", "description": "the result"}
    return {"type": "function", "function": fn}


def rand_args(rng):
    d = {}
    for i in range(rng.randint(0, 3)):
        d[rng.choice(["city", "q", "n", "unit", "ünï", "flag"])] = rng.choice(
            [rand_text(rng, False), rng.randint(-100, 100), rng.random() * 100, True, False, None,
             [1, "two", 3.0], {"nested": [None, {"a": 1}]}, 1e20, 1.0, 0.1])
    return d


def rand_tool_call(rng):
    args = rand_args(rng)
    if rng.random() < 0.4:
        args = json.dumps(args, ensure_ascii=rng.random() < 0.5)
    call = {"type": "function", "function": {"name": rng.choice(["get_weather", "search", "calc"]),
                                             "arguments": args}}
    if rng.random() < 0.8:
        call["id"] = rng.choice(["call12345", "abcdefghi", "c1", "call_" + str(rng.randint(0, 10**6))])
    return call


def rand_content(rng):
    r = rng.random()
    if r < 0.12:
        parts = []
        for _ in range(rng.randint(1, 3)):
            r2 = rng.random()
            if r2 < 0.8:
                parts.append({"type": "text", "text": rand_text(rng)})
            elif r2 < 0.9:
                parts.append({"type": "image"})
            else:
                parts.append({"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}})
        return parts
    if r < 0.14:
        return None
    return rand_text(rng)


def rand_conversation(rng, index):
    msgs = []
    if rng.random() < 0.5:
        msgs.append({"role": "system", "content": rand_content(rng) if rng.random() < 0.3 else rand_text(rng)})
    turns = rng.randint(1, 6)
    strict = rng.random() < 0.7  # mostly well-formed alternation, like real requests
    for t in range(turns):
        role = ("user" if t % 2 == 0 else "assistant") if strict else rng.choice(
            ["user", "assistant", "system", "tool", "user"])
        if role == "user":
            msgs.append({"role": "user", "content": rand_content(rng) if rng.random() < 0.3 else rand_text(rng)})
        elif role == "assistant":
            m = {"role": "assistant", "content": rand_text(rng) if rng.random() < 0.9 else rand_content(rng)}
            if rng.random() < 0.15:
                m["content"] = "<think>\n" + rand_text(rng, False) + "\n</think>\n\n" + rand_text(rng, False)
            if rng.random() < 0.25:
                m["tool_calls"] = [rand_tool_call(rng) for _ in range(rng.randint(1, 2))]
                if rng.random() < 0.5:
                    m["content"] = rng.choice([None, ""])
                msgs.append(m)
                for c in m["tool_calls"]:
                    r = {"role": "tool", "content": rand_text(rng, False) if rng.random() < 0.8 else json.dumps(rand_args(rng))}
                    if "id" in c:
                        r["tool_call_id"] = c["id"]
                    r["name"] = c["function"]["name"]
                    msgs.append(r)
                continue
            if rng.random() < 0.1:
                m["reasoning_content"] = rand_text(rng, False)
            msgs.append(m)
        else:
            msgs.append({"role": role, "content": rand_text(rng) if rng.random() < 0.8 else rand_content(rng)})
        if rng.random() < 0.05:
            msgs[-1]["name"] = rng.choice(["alice", "bob_2"])
    inp = {"messages": msgs, "add_generation_prompt": rng.random() < 0.6}
    if rng.random() < 0.3:
        inp["tools"] = [rand_tool(rng) for _ in range(rng.randint(1, 3))]
    if rng.random() < 0.2:
        inp["enable_thinking"] = rng.random() < 0.5
    if rng.random() < 0.05:
        inp["date_string"] = "01 Jan 2025"
    if rng.random() < 0.05:
        inp["documents"] = [{"title": "doc", "text": rand_text(rng, False)}]
    if rng.random() < 0.05:
        del inp["add_generation_prompt"]
    return inp


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mlcc", required=True)
    ap.add_argument("--render", required=True, help="path of testdata/templates/render.py")
    ap.add_argument("--count", type=int, default=500)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--specials", help="JSON: template name -> {bos_token, eos_token}")
    ap.add_argument("--show", type=int, default=3, help="differences to print per template")
    ap.add_argument("templates", nargs="+")
    args = ap.parse_args()

    spec = importlib.util.spec_from_file_location("render", args.render)
    render = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(render)
    # render.render builds its environment per call; compiling a template once per source (the
    # environments are configured identically) keeps 500 x N renders fast.
    compiled = {}
    base_env = render.ImmutableSandboxedEnvironment

    class CachingEnvironment(base_env):
        def from_string(self, source, *a, **k):
            if source not in compiled:
                compiled[source] = base_env.from_string(self, source, *a, **k)
            return compiled[source]

    render.ImmutableSandboxedEnvironment = CachingEnvironment
    specials = json.load(open(args.specials, encoding="utf-8")) if args.specials else {}
    rng = random.Random(args.seed)
    convs = [rand_conversation(rng, i) for i in range(args.count)]
    env = dict(os.environ, MLCC_FIXED_TIME="1795521600")  # render.py's fixed clock

    total = bad = raised = 0
    with tempfile.TemporaryDirectory() as tmp:
        for path in args.templates:
            name = os.path.basename(path)[: -len(".jinja")] if path.endswith(".jinja") else os.path.basename(path)
            text = open(path, encoding="utf-8").read()
            tokens = specials.get(name, {"bos_token": "<s>", "eos_token": "</s>"})
            inputs = [dict(c, **tokens) for c in convs]
            want = []
            for inp in inputs:
                try:
                    want.append(("ok", render.render(text, inp)))
                except Exception as e:  # the template's own error
                    want.append(("error", f"{type(e).__name__}: {e}"))
            batch = os.path.join(tmp, "inputs.json")
            with open(batch, "w", encoding="utf-8") as f:
                json.dump(inputs, f, ensure_ascii=False)
            p = subprocess.run([args.mlcc, "template", "--template", path, "--input", batch, "--batch"],
                               capture_output=True, env=env)
            if p.returncode != 0:
                print(f"{name}: mlcc failed: {p.stderr.decode(errors='replace')}")
                bad += len(inputs)
                total += len(inputs)
                continue
            got = json.loads(p.stdout)
            shown = 0
            for i, ((kind, value), g) in enumerate(zip(want, got)):
                total += 1
                if kind == "error":
                    raised += 1
                ok = ("error" in g) if kind == "error" else (g.get("ok") == value)
                if not ok:
                    bad += 1
                    if shown < args.show:
                        shown += 1
                        print(f"--- {name} conversation #{i}: Jinja2 {kind}")
                        print("input:", json.dumps(inputs[i], ensure_ascii=False)[:2000])
                        print("jinja2:", repr(value)[:3000])
                        print("mlcc:  ", repr(g.get("ok", g.get("error")))[:3000])
    print(f"template_diff: {total - bad}/{total} renders agree ({raised} Jinja2 errors), "
          f"{len(args.templates)} templates x {args.count} conversations, seed {args.seed}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
