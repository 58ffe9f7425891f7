#!/usr/bin/env bash
# test_cuda_dequant_emu.sh - the 4-bit path's dequantize kernel (runtime/cuda_linear_q4.c, a
# thread per word) run without a GPU: bench/cuda_emu/run_dequant.sh cuts it from the source and
# runs it on the CPU (shim.h) against half((q - zero) * s) for every value, with grids smaller
# and larger than the work and rows that are not whole words. Skips without g++ or python3.
set -u
SRC=${MLCC_SOURCE_DIR:?}
command -v g++ >/dev/null || { echo "SKIP: g++ not installed"; exit 77; }
command -v python3 >/dev/null || { echo "SKIP: python3 not installed"; exit 77; }
bash "$SRC/bench/cuda_emu/run_dequant.sh"
