#!/usr/bin/env bash
# run_row.sh - the generated norm kernels (schedule/gpu_row.c's row kernel, codegen_cuda.c's
# 16-byte words) run on a machine without a GPU: `mlcc bench --device cuda` on the null driver
# builds a one-layer model of each hidden size with MLCC_CUDA_KEEP_SOURCE=1, the norms are cut
# from the kept CUDA source and run on the CPU through shim.h (row_driver.cpp) against float64,
# with x aligned (the word path) and one float off (the serial fallback).
#
#   bench/cuda_emu/run_row.sh [BUILD_DIR]     (default build; needs g++, gcc, NVRTC)
set -euo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${1:-$src/build}" && pwd)
T=$(mktemp -d /tmp/mlcc-row-emu.XXXXXX)
trap 'rm -rf "$T"' EXIT
gcc -O2 -shared -fPIC -o "$T/libcuda.so.1" "$src/bench/null_cuda_driver.c"
: > "$T/cuda_fp16.h"
status=0
# hidden size, threads a block the row rule gives it (8 columns a thread where they tile the row, else 4)
# and its attention heads: query, KV (Llama-3-8B's, Qwen2.5-0.5B's)
for case in "4096 512 32 8" "896 224 14 2"; do
    set -- $case
    H=$1 threads=$2
    python3 - "$src/bench/configs/Llama-3-8B.json" "$T/cfg.json" "$H" "$3" "$4" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c.update(hidden_size=int(sys.argv[3]), intermediate_size=1024, num_hidden_layers=1, num_attention_heads=int(sys.argv[4]),
         num_key_value_heads=int(sys.argv[5]), vocab_size=1000)
json.dump(c, open(sys.argv[2], "w"))
PY
    # (MLCC_CUDA_FUSE_GEMV=0: decode's float32 norm stays a kernel instead of going into the GEMVs)
    MLCC_CUDA_FUSE_GEMV=0 MLCC_CUDA_KEEP_SOURCE=1 MLCC_CUDA_DRIVER=$T/libcuda.so.1 MLCC_CUBLASLT=$T/none MLCC_HOME=$T/home MLCC_NUM_THREADS=1 \
        "$build/mlcc" bench --random-weights "$T/cfg.json" --device cuda --quantization q0f16 --prompt-len 8 --gen-len 2 \
        --batch 1 --repeat 1 --floor-mb 8 --json > "$T/bench.out" 2> "$T/bench.err" ||
        { echo "FAIL: mlcc bench on the null driver: $(tail -3 "$T/bench.err")"; exit 1; }
    # (one cache for both sizes: the hand-written kernels compile once; this size's norms hold H)
    cu=
    for f in "$T"/home/cache/cuda/*.cu; do
        if grep -q "void rms_norm_f16_kernel0" "$f" && grep -q "((int64_t)${H}LL)" "$f"; then cu=$f; fi
    done
    [ -n "$cu" ] || { echo "FAIL: H $H: no kept source with the norms"; exit 1; }
    # the arithmetic helpers (the PDL ones are shim_decode.h's, the typedefs <stdint.h>'s), then the two norms
    grep -E '^static __device__ __forceinline__ [a-z0-9_]+ mlcc_(floor|min|max|abs)' "$cu" > "$T/row.cu"
    awk '/^extern "C" __global__ void rms_norm(_f16)?_kernel0\(/ { on = 1 } on { print } on && /^}/ { on = 0 }' "$cu" >> "$T/row.cu"
    grep -q 'uint4' "$T/row.cu" || { echo "FAIL: H $H: the norms have no 16-byte words"; status=1; }
    g++ -O2 -ffp-contract=off -fno-strict-aliasing -fpermissive -w -I"$T" -I"$src/bench/cuda_emu" \
        "$src/bench/cuda_emu/row_driver.cpp" -o "$T/row_driver" -lpthread
    "$T/row_driver" "$H" "$threads" 1e-5 || status=1
done
exit $status
