#!/usr/bin/python3
"""Chat-template rendering speed: mlcc vs Python Jinja2 (transformers' setup), same inputs.

usage: template_bench.py --mlcc BUILD/mlcc --templates DIR [--count N]
For every DIR/*.jinja: N seeded random conversations (tests/template/template_diff.py's
generator) rendered by `mlcc template --batch` (CPU time of the process, so JSON parsing of the
batch and printing of the results are included) and by Jinja2 with the template compiled once
(the cost transformers pays per request after its template cache is warm).
"""
import argparse
import importlib.util
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time

here = os.path.dirname(os.path.abspath(__file__))


def load(path, name):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mlcc", required=True)
    ap.add_argument("--templates", required=True)
    ap.add_argument("--count", type=int, default=2000)
    args = ap.parse_args()
    gen = load(os.path.join(here, "..", "tests", "template", "template_diff.py"), "template_diff")
    render = load(os.path.join(args.templates, "render.py"), "render")
    specials_path = os.path.join(args.templates, "specials.json")
    specials = json.load(open(specials_path)) if os.path.exists(specials_path) else {}
    rng = random.Random(5)
    convs = [gen.rand_conversation(rng, i) for i in range(args.count)]
    env = dict(os.environ, MLCC_FIXED_TIME="1795521600")
    print(f"{'template':32s} {'mlcc us':>9s} {'jinja2 us':>10s} {'speedup':>8s}")
    with tempfile.TemporaryDirectory() as tmp:
        for name in sorted(os.listdir(args.templates)):
            if not name.endswith(".jinja"):
                continue
            path = os.path.join(args.templates, name)
            tokens = specials.get(name[:-6], {"bos_token": "<s>", "eos_token": "</s>"})
            inputs = [dict(c, **tokens) for c in convs]
            batch = os.path.join(tmp, "in.json")
            json.dump(inputs, open(batch, "w"))
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            subprocess.run([args.mlcc, "template", "--template", path, "--input", batch, "--batch"],
                           stdout=subprocess.DEVNULL, check=True, env=env)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            mlcc_us = (after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime) * 1e6 / len(inputs)
            text = open(path, encoding="utf-8").read()
            e = render.ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                                     extensions=[render.GenerationBlock, render.jinja2.ext.loopcontrols])
            e.filters["tojson"] = render.tojson
            e.globals["raise_exception"] = render.raise_exception
            e.globals["strftime_now"] = render.strftime_now
            t = e.from_string(text)
            start = time.process_time()
            for inp in inputs:
                kw = {k: v for k, v in inp.items() if k not in ("messages", "tools", "documents", "add_generation_prompt")}
                try:
                    t.render(messages=inp["messages"], tools=inp.get("tools"), documents=inp.get("documents"),
                             add_generation_prompt=inp.get("add_generation_prompt", False), **kw)
                except Exception:
                    pass
            jinja_us = (time.process_time() - start) * 1e6 / len(inputs)
            print(f"{name[:-6]:32s} {mlcc_us:9.1f} {jinja_us:10.1f} {jinja_us / mlcc_us:7.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
