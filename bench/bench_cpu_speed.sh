#!/usr/bin/env bash
# The CPU-speed benchmarks of issue 19 in one run (BENCHMARKS.md, "CPU schedules"):
#   1. bench_gemm: the scheduled GEMM/GEMV kernels on TinyLlama-1.1B's linear layers vs
#      OpenBLAS and the floors measured in the same run (paired medians);
#   2. bench_model before/after: the default schedule off (MLCC_DEFAULT_SCHEDULE=0) and on,
#      interleaved, on a small random llama and on the tm-llama3 fixture;
#   3. bench_model on a 4-layer TinyLlama-shaped model (after only: unscheduled it takes minutes).
# usage: bench/bench_cpu_speed.sh [REPS]   (after `make build`; MLCC_NUM_THREADS defaults to 2)
set -eu
reps=${1:-3}
root=$(cd "$(dirname "$0")/.." && pwd)
b="$root/build"
export MLCC_NUM_THREADS=${MLCC_NUM_THREADS:-2} OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive} OPENBLAS_THREAD_TIMEOUT=4
export MLCC_HOME=${MLCC_HOME:-$b/bench-home}
cc -O2 -march=native -fopenmp -I"$root/include" -I"$root/src" "$root/bench/bench_gemm.c" -L"$b" -lmlcc -lmlcc_runtime \
  -lopenblas -lm -Wl,-rpath,"$b" -o "$b/bench_gemm"
cc -O2 -I"$root/include" -I"$root/src" "$root/bench/bench_model.c" -L"$b" -lmlcc -lmlcc_runtime -ljansson -lm \
  -Wl,-rpath,"$b" -o "$b/bench_model"
echo "== $(date -u +%FT%TZ) $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2) load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== bench_gemm (threads $MLCC_NUM_THREADS)"
"$b/bench_gemm" --reps 7
small="--hidden 256 --layers 4 --vocab 8000 --prompt 64 --decode 16"
fixture="--model ${MLCC_TESTDATA_MODELS:-$b/testdata/models}/tm-llama3 --prompt 64 --decode 16"
for r in $(seq "$reps"); do
  for s in 0 1; do
    echo "== small llama, schedule $s, run $r"; MLCC_DEFAULT_SCHEDULE=$s "$b/bench_model" $small | tail -2
    if [ -d "${MLCC_TESTDATA_MODELS:-$b/testdata/models}/tm-llama3" ]; then
      echo "== tm-llama3, schedule $s, run $r"; MLCC_DEFAULT_SCHEDULE=$s "$b/bench_model" $fixture | tail -2
    fi
  done
done
for r in $(seq "$reps"); do
  echo "== TinyLlama-shaped, 4 layers, run $r"
  "$b/bench_model" --hidden 2048 --layers 4 --kv-heads 4 --ffn 5632 --vocab 32000 --prompt 128 --decode 16 | tail -3
done
echo "== end load: $(cut -d' ' -f1-3 /proc/loadavg)"
