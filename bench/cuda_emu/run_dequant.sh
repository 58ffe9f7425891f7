#!/usr/bin/env bash
# run_dequant.sh - the 4-bit path's dequantize kernel (runtime/cuda_linear_q4.c, a thread per word)
# on a machine without a GPU: its CUDA source runs on the CPU (shim.h, shim_decode.h,
# dequant_driver.cpp) against the formula for every value. Seconds.
#
#   bench/cuda_emu/run_dequant.sh      (needs g++ with _Float16, python3)
set -euo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
T=$(mktemp -d /tmp/mlcc-dequant-emu.XXXXXX)
trap 'rm -rf "$T"' EXIT
# the kernel source's nib() and the kernel (from "w16[o, j]" to the end of the literal)
PYTHONPATH="$src/bench/cuda_emu" python3 - "$src/src/runtime/cuda_linear_q4.c" > "$T/dequant.cu" <<'PY'
import re, sys
from c_literal import literal
cu = literal(sys.argv[1], "kernel_source")
nib = re.search(r"__device__ __forceinline__ float nib\(.*?\n}\n", cu, re.S).group(0)
sys.stdout.write(nib + cu[cu.index("/* w16[o, j]"):])
PY
g++ -O2 -std=c++17 -ffp-contract=off -fpermissive -w -I"$T" -I"$src/bench/cuda_emu" "$src/bench/cuda_emu/dequant_driver.cpp" \
    -o "$T/dequant" -lpthread
"$T/dequant"
