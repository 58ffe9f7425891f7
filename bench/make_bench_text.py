#!/usr/bin/env python3
"""make_bench_text.py OUT [MB] - a deterministic mixed-language text for tokenizer benchmarks:
English prose, code, Chinese, Japanese, Russian, Arabic, German with accents, numbers, emoji,
whitespace runs; one paragraph per line."""
import random, sys

out, mb = sys.argv[1], float(sys.argv[2]) if len(sys.argv) > 2 else 8
rng = random.Random(20261125)
en = ("the of and to in is that for it as with was on be by at this from have or an are not but "
      "which one all were when there can more if would their what about so out up into time has "
      "model language tokenizer compiler machine learning performance memory kernel").split()
ru = "и в не на я что тот быть с он а весь это как она по но они к у ты из мы за вы так же от сказать".split()
de = "über Straße Mädchen Größe schön für Bäume müssen während Übersetzung".split()
ar = "في من على إلى عن مع هذا التي الذي كان".split()
code = ["def f(x):\n    return x * 2\n", "for (int i = 0; i < n; i++) { sum += a[i]; }",
        "if err != nil {\n\treturn err\n}", "const y = arr.map((v) => v ** 2);", "SELECT * FROM t WHERE id = 42;"]
emoji = ["😀", "👍🏽", "🇫🇷", "👨‍👩‍👧", "🚀", "❤️"]
def zh(n): return "".join(chr(rng.randint(0x4E00, 0x62FF)) for _ in range(n))
def ja(n): return "".join(chr(rng.randint(0x3041, 0x3093)) for _ in range(n))
parts, size = [], 0
while size < mb * 1e6:
    k = rng.random()
    if k < 0.45: p = " ".join(rng.choice(en) for _ in range(rng.randint(20, 80))).capitalize() + "."
    elif k < 0.55: p = zh(rng.randint(20, 120)) + "。"
    elif k < 0.60: p = ja(rng.randint(20, 80)) + "。"
    elif k < 0.68: p = " ".join(rng.choice(ru) for _ in range(rng.randint(10, 50))) + "."
    elif k < 0.72: p = " ".join(rng.choice(de) for _ in range(rng.randint(10, 30)))
    elif k < 0.75: p = " ".join(rng.choice(ar) for _ in range(rng.randint(10, 30)))
    elif k < 0.88: p = rng.choice(code)
    elif k < 0.94: p = " ".join(str(rng.randint(0, 10**rng.randint(1, 9))) for _ in range(10))
    else: p = " ".join(rng.choice(emoji) + rng.choice(en) for _ in range(10)) + "   \t  "
    parts.append(p)
    size += len(p.encode()) + 1
open(out, "w", encoding="utf-8").write("\n".join(parts))
