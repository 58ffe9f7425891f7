#!/usr/bin/env bash
# test_cuda_null_driver.sh - the CUDA host path on a machine without a GPU: bench/null_cuda_driver.c
# (device memory is host memory, kernels are counted, not run) stands in for libcuda.so.1, and
# `mlcc bench --device cuda` runs the tiny llama fixture through the engine in q4f16_1:
# the compiled library, the VM, the 4-bit dispatch (the fused GEMV; dequantize + float16 for the prompt), the
# KV cache's uploads and the engine's GPU sampling hooks run (under ASan in the sanitized
# build). Checks: each run exits 0 with its JSON line and launches kernels; with the hooks
# (default) a greedy run and a run with temperature and top-k launch more kernels than with
# MLCC_GPU_SAMPLING=0 (one sampling kernel per step), so the engine -> runner -> model ->
# mlcc_cuda_greedy / mlcc_cuda_sample wiring is in use. Outputs are
# meaningless (no kernel runs); real numbers come from the GPU tests. Also: the decode steps were
# captured and replayed as CUDA graphs (MLCC_LOG=info's count), fewer captures over a long
# generation with the padded page count than with the exact one. Skips without gcc or NVRTC.
set -u
MLCC=${MLCC:?MLCC must name the mlcc binary}
SRC=${MLCC_SOURCE_DIR:?}
DATA=${MLCC_TESTDATA:?}
TINY=$DATA/hf-tiny/llama
[ -f "$TINY/config.json" ] || { echo "SKIP: $TINY missing (run make test to unpack fixtures)"; exit 77; }
command -v gcc >/dev/null || { echo "SKIP: gcc not installed"; exit 77; }
nvrtc=
for d in ${CUDA_HOME:+$CUDA_HOME/lib64} /usr/local/cuda/lib64; do
    ls "$d"/libnvrtc.so.1[23] >/dev/null 2>&1 && nvrtc=$d
done
[ -n "$nvrtc" ] || ldconfig -p 2>/dev/null | grep -q 'libnvrtc.so.1[23]' || { echo "SKIP: no NVRTC (libnvrtc.so.13 / .12)"; exit 77; }

T=$(mktemp -d /tmp/mlcc-null-cuda.XXXXXX)
trap '[ -n "${KEEP:-}" ] || rm -rf "$T"' EXIT
gcc -O2 -shared -fPIC -o "$T/libcuda.so.1" "$SRC/bench/null_cuda_driver.c" || { echo "FAIL: building the null driver"; exit 1; }
export MLCC_CUDA_DRIVER=$T/libcuda.so.1 MLCC_CUBLASLT=$T/none MLCC_HOME=$T/home MLCC_NUM_THREADS=1

passed=0 failed=0
bad() { failed=$((failed + 1)); echo "FAIL: $*" >&2; }

# prints the launch count of one bench run: $1 the MLCC_GPU_SAMPLING value, $2 the quantization
# (a failure prints why on stderr and 0, which the checks below count)
run_bench() {
    local out=$T/out.txt gpu=$1 quant=$2
    shift 2
    MLCC_LOG=info MLCC_GPU_SAMPLING=$gpu "$MLCC" bench "$TINY" --device cuda --quantization "$quant" --prompt-len 8 --gen-len 6 \
        --batch 1 --repeat 1 --floor-mb 8 --json "$@" >"$out" 2>&1
    local rc=$?
    cp "$out" "$T/out_$gpu.txt"
    if [ $rc -ne 0 ] || ! grep -q '^{' "$out"; then
        echo "mlcc bench --quantization $quant $* (MLCC_GPU_SAMPLING=$gpu) exited $rc or printed no JSON line:" >&2
        tail -n 20 "$out" >&2
        echo 0
        return
    fi
    sed -n 's/^\[fake cuda\] \([0-9]*\) launches$/\1/p' "$out" | tail -n 1
}

# sampling with temperature and top-k: with the hook, one sampling kernel per step
# (runtime/cuda_sample_topp.c) instead of the rows copied to the host sampler
with=$(run_bench 1 q4f16_1 --temperature 0.7 --top-k 40)
without=$(run_bench 0 q4f16_1 --temperature 0.7 --top-k 40)
echo "q4f16_1 sampled: $with launches with GPU sampling, $without without"
if [ "${with:-0}" -gt "${without:-0}" ] && [ "${without:-0}" -gt 0 ]; then passed=$((passed + 1)); else
    bad "q4f16_1: the sampling kernel never ran"; fi
for q in q4f16_1; do
    with=$(run_bench 1 "$q")
    without=$(run_bench 0 "$q")
    echo "$q: $with launches with GPU greedy sampling, $without without"
    if [ "${with:-0}" -gt 0 ] && [ "${without:-0}" -gt 0 ]; then passed=$((passed + 1)); else bad "$q: no kernel launches"; fi
    if [ "${with:-0}" -gt "${without:-0}" ]; then passed=$((passed + 1)); else bad "$q: the greedy-sampling kernel never ran"; fi
done
# CUDA graphs on the host path (models/decode_graph.c): the greedy run's decode steps were
# captured and replayed (the null driver's graph replays the launch count it captured)
line=$(grep -o 'cuda graphs: [0-9]* captures, [0-9]* replays' "$T/out_1.txt" | tail -n 1)
echo "q4f16_1: ${line:-no graphs line}"
if echo "$line" | grep -q 'cuda graphs: [1-9][0-9]* captures, [1-9][0-9]* replays'; then passed=$((passed + 1)); else
    bad "decode steps were not captured and replayed as CUDA graphs"; grep -i -m 5 'graph\|error' "$T/out_1.txt" >&2; fi
# a decode graph is keyed by the padded page count (mlcc_kv_cache_step_pages): 100 tokens of one
# sequence cross six pages of 16 but no bucket of 8 pages, so they need fewer captures than with
# the exact count (MLCC_CUDA_GRAPH_PAGE_BUCKET=0), which starts a key a page
captures() {
    env "$@" MLCC_LOG=info "$MLCC" bench "$TINY" --device cuda --quantization q4f16_1 --prompt-len 8 --gen-len 100 \
        --batch 1 --repeat 1 --floor-mb 8 >"$T/graphs.txt" 2>&1 || { echo "mlcc bench exited $? ($*)" >&2; echo 0; return; }
    grep -o 'cuda graphs: [0-9]* captures' "$T/graphs.txt" | tail -n 1 | grep -o '[0-9][0-9]*' || echo 0
}
padded=$(captures X=1)
exact=$(captures MLCC_CUDA_GRAPH_PAGE_BUCKET=0)
echo "100 tokens at batch 1: $padded graph captures with the padded page count, $exact with the exact one"
if [ "${padded:-0}" -gt 0 ] && [ "${exact:-0}" -gt "${padded:-0}" ]; then passed=$((passed + 1)); else
    bad "graph captures: $padded padded against $exact exact (expected fewer, and some)"; fi
# programmatic dependent launch (runtime/cuda_pdl.h): the fake device is sm_90 and has
# cuLaunchKernelEx, so the kernels declared as waiting go through it with the attribute; with
# MLCC_CUDA_PDL=0 none does, and the launches are the same ones
pdl_on=$(sed -n 's/^\[fake cuda\] \([0-9]*\) programmatic$/\1/p' "$T/out_1.txt" | tail -n 1)
launches_on=$(sed -n 's/^\[fake cuda\] \([0-9]*\) launches$/\1/p' "$T/out_1.txt" | tail -n 1)
launches_off=$(MLCC_CUDA_PDL=0 run_bench 1 q4f16_1)
pdl_off=$(sed -n 's/^\[fake cuda\] \([0-9]*\) programmatic$/\1/p' "$T/out_1.txt" | tail -n 1)
echo "q4f16_1: $launches_on launches, $pdl_on programmatic; MLCC_CUDA_PDL=0: $launches_off launches, $pdl_off programmatic"
if [ "${pdl_on:-0}" -gt 0 ] && [ "${pdl_off:-1}" -eq 0 ] && [ "${launches_on:-0}" -eq "${launches_off:-1}" ]; then
    passed=$((passed + 1)); else bad "programmatic dependent launch: not used, or not turned off by MLCC_CUDA_PDL=0"; fi
# the ablation switch (runtime/cuda_module.c): MLCC_CUDA_SKIP_KERNELS leaves out the kernels it
# names (x's rounding before each 4-bit GEMV here), says so, and only those
launches_skip=$(MLCC_CUDA_SKIP_KERNELS=mlcc_quantize_x8,mlcc_norm_quantize_x8 run_bench 1 q4f16_1)
warned=$(grep -c "MLCC_CUDA_SKIP_KERNELS: kernel 'mlcc_[a-z_]*quantize_x8' will not run" "$T/out_1.txt")
echo "q4f16_1: $launches_on launches; MLCC_CUDA_SKIP_KERNELS=mlcc_quantize_x8,mlcc_norm_quantize_x8: $launches_skip, $warned warnings"
if [ "${launches_skip:-0}" -gt 0 ] && [ "${launches_skip:-0}" -lt "${launches_on:-0}" ] && [ "${warned:-0}" -ge 1 ]; then
    passed=$((passed + 1)); else bad "MLCC_CUDA_SKIP_KERNELS did not leave out the rounding kernels, or did not say so"; fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
