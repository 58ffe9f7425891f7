#!/usr/bin/env bash
# test_cuda_row_emu.sh - the generated norm kernels of a CUDA build run without a GPU: through
# bench/null_cuda_driver.c, `mlcc bench --device cuda` builds one-layer models of hidden size 4096
# (512 threads x 8 columns a thread, 16-byte words) and 896 (224 x 4) and keeps the CUDA source;
# bench/cuda_emu/run_row.sh cuts the two norm kernels from it and runs them on the CPU (shim.h)
# against float64, on an aligned x (the word path) and on x one float off (the serial fallback).
# Skips without gcc, g++ or NVRTC.
set -u
SRC=${MLCC_SOURCE_DIR:?}
BIN=${MLCC_BINARY_DIR:?}
command -v gcc >/dev/null || { echo "SKIP: gcc not installed"; exit 77; }
command -v g++ >/dev/null || { echo "SKIP: g++ not installed"; exit 77; }
ldconfig -p 2>/dev/null | grep -q 'libnvrtc.so.1[23]' || ls /usr/local/cuda/lib64/libnvrtc.so.1[23] >/dev/null 2>&1 ||
    { echo "SKIP: no NVRTC (libnvrtc.so.13 / .12)"; exit 77; }
bash "$SRC/bench/cuda_emu/run_row.sh" "$BIN"
