#!/usr/bin/env sh
# scratch_dir.sh - prints where the device bench scripts (bench_cuda_*.sh, bench_vulkan_llama8b.sh)
# write their random-weight models: /dev/shm when it has 40 GB free, else /tmp. On the lent GPU
# machine 16 GB took ~200 s to write to /tmp and 23 s to its RAM-backed /dev/shm (BENCHMARKS.md,
# "Twenty-second session"). Bundle it beside the script; without it the scripts use /tmp.
free=$(df -Pk /dev/shm 2>/dev/null | awk 'NR == 2 {print $4}')
if [ "${free:-0}" -gt 41943040 ] 2>/dev/null; then echo /dev/shm; else echo /tmp; fi
