#!/usr/bin/env python3
"""ncu_summary.py - kernel durations from an Nsight Compute CSV, in launch order and summed by
(kernel, grid). Used on the lent GPU (BENCHMARKS.md, "Ninth session") to read what each kernel
of a decode step or a prefill costs, without the 1-2 us per kernel that event timing adds:

    ncu --clock-control none --cache-control none --metrics gpu__time_duration.sum --csv --page raw \\
        [-k regex:NAME] mlcc bench MODEL --device cuda ... > run.csv
    python3 bench/ncu_summary.py run.csv [LAST_N]

Prints every kernel (us, name, grid, block), or the last LAST_N, then the totals by kernel and
grid, largest first. ncu runs kernels one at a time, so each figure includes the launch and the
ramp that programmatic dependent launch overlaps in a real step."""
import collections
import csv
import sys


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    rows = [r for r in csv.reader(open(sys.argv[1])) if len(r) > 10]
    if len(rows) < 2:
        sys.exit(f"{sys.argv[1]}: no ncu rows (run ncu with --csv --page raw)")
    head = rows[0]
    try:
        name, time = head.index("Kernel Name"), head.index("gpu__time_duration.sum")
        grid, block = head.index("Grid Size"), head.index("Block Size")
    except ValueError as e:
        sys.exit(f"{sys.argv[1]}: {e} (collect --metrics gpu__time_duration.sum)")
    if rows[1][time] != "ns":
        sys.exit(f"{sys.argv[1]}: durations in {rows[1][time]!r}, expected ns")
    kernels = [(r[name][:60], float(r[time].replace(",", "")) / 1000, r[grid], r[block]) for r in rows[2:]]
    last = int(sys.argv[2]) if len(sys.argv) > 2 else len(kernels)
    print(f"{len(kernels)} kernels; the last {last}:")
    for k, us, g, b in kernels[-last:]:
        print(f"{us:9.2f}  {k:60s} {g} {b}")
    totals = collections.OrderedDict()
    for k, us, g, _ in kernels[-last:]:
        t = totals.setdefault((k, g), [0, 0.0])
        t[0] += 1
        t[1] += us
    print("by kernel and grid:")
    for (k, g), (n, us) in sorted(totals.items(), key=lambda x: -x[1][1]):
        print(f"{us:10.1f} us {n:5d} x {us / n:8.2f}  {k} {g}")


if __name__ == "__main__":
    main()
