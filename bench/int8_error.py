#!/usr/bin/env python3
"""int8_error.py - the int8-activation error of mlcc and of llama.cpp on one GGUF fixture, in the
same units, against the fixture's float64 reference logits (testdata/gguf/X.ref.safetensors).

llama.cpp only gives probabilities (bench/llamacpp/logprobs_llamacpp.mjs), i.e. logits up to a
constant per row, so every run is compared through log-softmax: per row the difference of
log-probabilities minus its mean over the vocabulary is the logit error up to that constant.
Printed per run: max |error| / max |ref logit| (the measure of tests/models/test_quant_int8.c,
with the row constant removed), rms error / rms ref logit, max |log-prob error| over the tokens
whose reference probability is above 1e-3, and top-1 agreement on rows whose top-2 gap is above
2% of the row's max |logit| (as the test counts them).

usage: bench/int8_error.py REF.safetensors NAME=FILE ... (FILE: a safetensors with `logits`
       [T, vocab], as `mlcc debug logits` writes, or the JSON of logprobs_llamacpp.mjs)"""
import json, math, struct, sys


def read_logits(path):
    if path.endswith(".json"):
        return json.load(open(path))["logprobs"]
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        head = json.loads(f.read(n))
        t = head["logits"]
        f.seek(8 + n + t["data_offsets"][0])
        raw = f.read(t["data_offsets"][1] - t["data_offsets"][0])
    fmt = {"F32": "f", "F64": "d"}[t["dtype"]]
    vals = struct.unpack("<%d%s" % (len(raw) // struct.calcsize(fmt), fmt), raw)
    rows, vocab = t["shape"][0], t["shape"][1]
    return [list(vals[r * vocab:(r + 1) * vocab]) for r in range(rows)]


def log_softmax(row):
    m = max(row)
    s = m + math.log(sum(math.exp(v - m) for v in row))
    return [v - s for v in row]


def main():
    ref = read_logits(sys.argv[1])
    maxref = max(abs(v) for r in ref for v in r)
    rmsref = math.sqrt(sum(v * v for r in ref for v in r) / sum(len(r) for r in ref))
    print("| run | max err / max abs logit | rms err / rms logit | max abs logprob err (p > 1e-3) | top-1 |")
    print("|---|---|---|---|---|")
    for arg in sys.argv[2:]:
        name, path = arg.split("=", 1)
        got = read_logits(path)
        n = min(len(got), len(ref))
        emax = esq = lpmax = 0.0
        cnt = rows = agree = 0
        for i in range(n):
            lr, lg = log_softmax(ref[i]), log_softmax(got[i])
            d = [a - b for a, b in zip(lg, lr)]
            mean = sum(d) / len(d)
            for k, v in enumerate(d):
                e = abs(v - mean)
                emax, esq, cnt = max(emax, e), esq + e * e, cnt + 1
                if math.exp(lr[k]) > 1e-3:
                    lpmax = max(lpmax, abs(v))
            srt = sorted(range(len(ref[i])), key=lambda k: -ref[i][k])
            if ref[i][srt[0]] - ref[i][srt[1]] > 0.02 * max(abs(v) for v in ref[i]):
                rows += 1
                agree += max(range(len(got[i])), key=lambda k: got[i][k]) == srt[0]
        print(f"| {name} | {emax / maxref:.3g} | {math.sqrt(esq / cnt) / rmsref:.3g} | {lpmax:.3g} | {agree}/{rows} |")


if __name__ == "__main__":
    main()
