#!/usr/bin/env python3
"""ncu_source.py - where a kernel's time goes, instruction by instruction, from Nsight Compute's
source page (SASS with stall samples and execution counts). Used on the lent GPU (BENCHMARKS.md,
"Tenth session") to find the flash prefill kernel's hot spots:

    ncu --clock-control none --cache-control none -k regex:NAME -s SKIP -c 1 --import-source no \\
        --section SourceCounters --page source --print-source sass --csv mlcc bench ... > src.csv
    python3 bench/ncu_source.py src.csv [segments [N] | top [N] | range FIRST LAST]

The CSV may be gzipped. Prints the total stall samples and the leading stall reasons, then:
  segments N  (default, N = 100) every run of N instructions holding 0.5% of the samples or 1%
              of the executed instructions, with its share of each and its commonest opcodes;
  top N       the N instructions with the most samples (N = 40), in program order, with their
              two leading stall reasons;
  range A B   instructions A..B-1 with their samples and execution counts."""
import csv
import gzip
import sys


def number(text):
    try:
        return float(text.replace(",", ""))
    except ValueError:
        return 0.0


def read_rows(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt") as f:
        lines = f.readlines()
    start = next((i for i, l in enumerate(lines) if l.startswith('"Address"')), None)
    if start is None:
        sys.exit(f"{path}: no source table (expected a header starting with \"Address\")")
    rows = list(csv.reader(lines[start:]))
    return rows[0], rows[1:]


def opcode(source):
    words = source.split()
    if words and words[0].startswith("@"):
        words = words[1:]
    return words[0].split(".")[0] if words else "?"


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    header, rows = read_rows(sys.argv[1])
    col = {name: i for i, name in enumerate(header)}
    samples, executed, source = col["Warp Stall Sampling (All Samples)"], col["Instructions Executed"], col["Source"]
    stalls = [n for n in header if n.startswith("stall_") and "Not Issued" not in n]
    total = sum(number(r[samples]) for r in rows) or 1.0
    total_exec = sum(number(r[executed]) for r in rows) or 1.0
    print(f"{len(rows)} instructions, {total:.0f} samples, {total_exec:.0f} executed")
    by_reason = sorted(((sum(number(r[col[s]]) for r in rows), s) for s in stalls), reverse=True)
    for count, reason in by_reason[:8]:
        print(f"  {reason[6:]:20s} {count:8.0f} {100 * count / total:5.1f}%")
    mode = sys.argv[2] if len(sys.argv) > 2 else "segments"
    if mode == "segments":
        step = int(sys.argv[3]) if len(sys.argv) > 3 else 100
        for a in range(0, len(rows), step):
            seg = rows[a:a + step]
            s, e = sum(number(r[samples]) for r in seg), sum(number(r[executed]) for r in seg)
            if s < 0.005 * total and e < 0.01 * total_exec:
                continue
            ops = {}
            for r in seg:
                ops[opcode(r[source])] = ops.get(opcode(r[source]), 0) + number(r[executed])
            common = " ".join(f"{k}:{v / 1e3:.0f}k" for k, v in sorted(ops.items(), key=lambda x: -x[1])[:5])
            print(f"{a:5d}-{a + step:5d} samples {100 * s / total:4.1f}% executed {100 * e / total_exec:4.1f}%  {common}")
    elif mode == "top":
        n = int(sys.argv[3]) if len(sys.argv) > 3 else 40
        top = sorted(range(len(rows)), key=lambda i: -number(rows[i][samples]))[:n]
        for i in sorted(top):
            r = rows[i]
            reasons = sorted(((number(r[col[s]]), s[6:]) for s in stalls), reverse=True)[:2]
            print(f"{i:5d} {number(r[samples]):7.0f} {number(r[executed]):10.0f}  {r[source][:70]:70s} "
                  + " ".join(f"{name}:{count:.0f}" for count, name in reasons))
    elif mode == "range":
        for i in range(int(sys.argv[3]), min(int(sys.argv[4]), len(rows))):
            r = rows[i]
            print(f"{i:5d} {number(r[samples]):7.0f} {number(r[executed]):10.0f}  {r[source][:90]}")
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
