/* bench_gemm_q.c - the quantized GEMM_NT intrinsics (kernels/cpu/gemm_q.c) on the linear layers
 * of a TinyLlama-1.1B-shaped model (hidden 2048, FFN 5632, k/v 256, vocab 32000), called the way
 * the default schedule calls them (parallel over column tiles of up to 256, schedule_quant.c),
 * against the read floor measured in the same run:
 *   - decode (1 row): GB/s of packed weights + scales streamed, vs a plain parallel read
 *     (AVX-512 loads, the same threads) of the same bytes. The weights rotate over copies
 *     totalling >= 1 GiB so each call finds them in memory, as decode does, in transparent
 *     huge pages as the models' weights (MLCC_BENCH_SMALL_PAGES=1: 4 KiB pages; MLCC_BENCH_HOT=1:
 *     one copy, read from the caches where it fits: what the kernel does when memory is not the
 *     limit);
 *   - prefill (--rows, default 128): GFLOP/s (2 M N K per call).
 * Layouts: ggml_q4_0 (4 bits) and ggml_q8_0 (8 bits), each with float activations (a32, exact)
 * and int8 activations (a8: each call prepares its rows; "a8 shared": the rows prepared once
 * for all column tiles, as the generated code does, transform/lower_quant_prep.c). Runs are interleaved (kernel, floor) and paired medians reported.
 * The sources are the registry's, compiled here by cc -O2 -march=native -fopenmp (as the JIT does).
 *
 * build: make build && cc -O2 -Iinclude -Isrc bench/bench_gemm_q.c -Lbuild -lmlcc -lmlcc_runtime \
 *        -Wl,-rpath,$PWD/build -o build/bench_gemm_q
 * run:   build/bench_gemm_q [--threads 2] [--reps 7] [--rows 128] [--only "q4_0 a8"]
 *        [--cpu-time 1]
 *        (--only: the rows whose "matrix layout" label contains the text; --cpu-time 1: time with
 *        the process's CPU time instead of the wall clock, i.e. rates per CPU-second, steadier on a
 *        loaded machine for compute-bound rows; MLCC_BENCH_CFLAGS: extra cc flags) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kernels/cpu/intrin.h"
#include "support/file.h"
#include "support/strbuf.h"

static const char driver[] =
    "#include <omp.h>\n#include <stdio.h>\n#include <time.h>\n#include <immintrin.h>\n#include <sys/mman.h>\n"
    "typedef void (*qfn)(float *, const float *, const void *, const void *, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t);\n"
    "typedef int64_t (*pbfn)(int64_t, int64_t);\n"
    "typedef void (*prfn)(void *, const float *, int64_t, int64_t, int64_t, int64_t);\n"
    "typedef void (*pgfn)(float *, const float *, const void *, const void *, const void *, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t);\n"
    "static clockid_t clk = CLOCK_MONOTONIC;\n"
    "static double now(void) { struct timespec t; clock_gettime(clk, &t); return t.tv_sec + 1e-9 * t.tv_nsec; }\n"
    "static int cmp(const void *a, const void *b) { double x = *(const double *)a, y = *(const double *)b; return x < y ? -1 : x > y; }\n"
    "static double med(double *v, int n) { qsort(v, n, sizeof *v, cmp); return v[n / 2]; }\n"
    "static int64_t tile_of(int64_t n) { static const int64_t w[] = {256, 128, 64, 32, 16, 8, 4};\n"
    "    for (int i = 0; i < 7; i++) if (n % w[i] == 0 && n / w[i] >= 8) return w[i];\n"
    "    for (int i = 0; i < 7; i++) if (n % w[i] == 0 && n > w[i]) return w[i]; return n; }\n"
    "static void call(qfn f, float *C, const float *A, const uint8_t *QW, const uint16_t *S, int64_t M, int64_t N, int64_t K, int64_t ldq, int64_t lds) {\n"
    "    int64_t t = tile_of(N);\n"
    "    #pragma omp parallel for schedule(static)\n"
    "    for (int64_t j = 0; j < N / t; j++) f(C + j * t, A, QW + j * t * ldq * 4, S + j * t * lds, M, t, K, N, K, ldq, lds, 0);\n"
    "}\n"
    "/* as the generated code calls the int8 path (transform/lower_quant_prep.c): rows prepared once, then the column tiles */\n"
    "static void call_shared(pbfn pb, prfn pr, pgfn pg, float *C, const float *A, const uint8_t *QW, const uint16_t *S, int64_t M, int64_t N, int64_t K, int64_t ldq, int64_t lds) {\n"
    "    int64_t t = tile_of(N);\n"
    "    void *P = aligned_alloc(64, (pb(M, K) + 63) / 64 * 64);\n"
    "    #pragma omp parallel for schedule(static) if (M >= 4)\n"
    "    for (int64_t m = 0; m < M; m++) pr(P, A, M, K, K, m);\n"
    "    #pragma omp parallel for schedule(static)\n"
    "    for (int64_t j = 0; j < N / t; j++) pg(C + j * t, A, P, QW + j * t * ldq * 4, S + j * t * lds, M, t, K, N, K, ldq, lds, 0);\n"
    "    free(P);\n"
    "}\n"
    "static volatile float sink;\n"
    "static void read_floor(const uint8_t *p, int64_t bytes) {\n"
    "    float total = 0;\n"
    "    #pragma omp parallel reduction(+ : total)\n"
    "    { __m512 s = _mm512_setzero_ps(); int nt = omp_get_num_threads(), id = omp_get_thread_num();\n"
    "      int64_t per = bytes / 64 / nt * 64, lo = id * per, hi = id == nt - 1 ? bytes / 64 * 64 : lo + per;\n"
    "      for (int64_t i = lo; i < hi; i += 256) { s = _mm512_add_ps(s, _mm512_loadu_ps((const float *)(p + i)));\n"
    "        s = _mm512_add_ps(s, _mm512_loadu_ps((const float *)(p + i + 64))); s = _mm512_add_ps(s, _mm512_loadu_ps((const float *)(p + i + 128)));\n"
    "        s = _mm512_add_ps(s, _mm512_loadu_ps((const float *)(p + i + 192))); }\n"
    "      total += _mm512_reduce_add_ps(s); }\n"
    "    sink = total;\n"
    "}\n"
    "int main(int argc, char **argv) {\n"
    "    int reps = argc > 1 ? atoi(argv[1]) : 7, rows = argc > 2 ? atoi(argv[2]) : 128;\n"
    "    const char *only = argc > 3 ? argv[3] : \"\";\n"
    "    if (argc > 4 && atoi(argv[4])) clk = CLOCK_PROCESS_CPUTIME_ID;\n"
    "    static const struct { const char *name; int64_t N, K; } shapes[] = {{\"q/o 2048x2048\", 2048, 2048}, {\"k/v 256x2048\", 256, 2048},\n"
    "        {\"gate/up 5632x2048\", 5632, 2048}, {\"down 2048x5632\", 2048, 5632}, {\"lm_head 32000x2048\", 32000, 2048}};\n"
    "    static const struct { const char *name; qfn fn; int bits; pbfn pb; prfn pr; pgfn pg; } kinds[] = {\n"
    "        {\"q4_0 a8\", mlcc_k_gemm_nt_q4z8_f16_a8, 4, 0, 0, 0}, {\"q4_0 a8 shared\", 0, 4, mlcc_k_gemm_nt_q4z8_f16_a8_prep_bytes, mlcc_k_gemm_nt_q4z8_f16_a8_prep_row, mlcc_k_gemm_nt_q4z8_f16_a8_pre},\n"
    "        {\"q4_0 a32\", mlcc_k_gemm_nt_q4z8_f16_a32, 4, 0, 0, 0},\n"
    "        {\"q8_0 a8\", mlcc_k_gemm_nt_q8z128_f16_a8, 8, 0, 0, 0}, {\"q8_0 a8 shared\", 0, 8, mlcc_k_gemm_nt_q8z128_f16_a8_prep_bytes, mlcc_k_gemm_nt_q8z128_f16_a8_prep_row, mlcc_k_gemm_nt_q8z128_f16_a8_pre},\n"
    "        {\"q8_0 a32\", mlcc_k_gemm_nt_q8z128_f16_a32, 8, 0, 0, 0}};\n"
    "    printf(\"threads %d, isa avx512 %d vnni %d; decode: GB/s of weights+scales, floor = parallel read of the same bytes; prefill %d rows: GFLOP/s%s\\n\", omp_get_max_threads(), MLCC_Q_AVX512, MLCC_Q_VNNI, rows, clk == CLOCK_MONOTONIC ? \"\" : \" (per CPU-second: times are the process's CPU time)\");\n"
    "    printf(\"| matrix | layout | decode ms | GB/s | floor GB/s | of floor | prefill ms | GFLOP/s |\\n|---|---|---|---|---|---|---|---|\\n\");\n"
    "    for (int s = 0; s < 5; s++) for (int k = 0; k < 6; k++) {\n"
    "        char label[96]; snprintf(label, sizeof label, \"%s %s\", shapes[s].name, kinds[k].name);\n"
    "        if (*only && !strstr(label, only)) continue;\n"
    "        int64_t N = shapes[s].N, K = shapes[s].K, ldq = K * kinds[k].bits / 32, lds = K / 32;\n"
    "        int64_t bytes = N * ldq * 4 + N * lds * 2, ncopy = (int64_t)(1 << 30) / bytes + 1;\n"
    "        if (getenv(\"MLCC_BENCH_HOT\")) ncopy = 1; /* one copy: from the caches where it fits (compute vs memory) */\n"
    "        /* 2 MiB-aligned and advised for transparent huge pages, as the models' weights are\n"
    "         * (models/weight_arena.c): with 4 KiB pages both the kernel and the plain read pay a\n"
    "         * TLB miss every 4 KiB (MLCC_BENCH_SMALL_PAGES=1 keeps them, for comparison) */\n"
    "        size_t wsize = (size_t)((bytes * ncopy + (1 << 21) - 1) >> 21 << 21);\n"
    "        uint8_t *W = aligned_alloc(1 << 21, wsize);\n"
    "        if (!getenv(\"MLCC_BENCH_SMALL_PAGES\")) madvise(W, wsize, MADV_HUGEPAGE);\n"
    "        for (int64_t i = 0; i < bytes * ncopy; i++) W[i] = (uint8_t)(i * 2654435761u >> 13);\n"
    "        for (int64_t c = 0; c < ncopy; c++) { uint16_t *S = (uint16_t *)(W + c * bytes + N * ldq * 4); for (int64_t i = 0; i < N * lds; i++) S[i] = 0x2000; }\n"
    "        float *A = malloc(sizeof(float) * rows * K), *C = malloc(sizeof(float) * rows * N);\n"
    "        for (int64_t i = 0; i < rows * K; i++) A[i] = (float)((i * 7919) % 2001) / 1000.0f - 1.0f;\n"
    "        double td[64], tf[64], tp[64]; int64_t c = 0;\n"
    "#define RUN(m) (kinds[k].fn ? call(kinds[k].fn, C, A, w, (const uint16_t *)(w + N * ldq * 4), m, N, K, ldq, lds) : call_shared(kinds[k].pb, kinds[k].pr, kinds[k].pg, C, A, w, (const uint16_t *)(w + N * ldq * 4), m, N, K, ldq, lds))\n"
    "        for (int r = 0; r < reps + 1; r++) {\n"
    "            double t0 = now(); uint8_t *w = W + (c++ % ncopy) * bytes;\n"
    "            RUN(1);\n"
    "            double t1 = now(); w = W + (c++ % ncopy) * bytes; read_floor(w, bytes); double t2 = now();\n"
    "            w = W + (c++ % ncopy) * bytes;\n"
    "            RUN(rows);\n"
    "            double t3 = now();\n"
    "            if (r) td[r - 1] = t1 - t0, tf[r - 1] = t2 - t1, tp[r - 1] = t3 - t2;\n"
    "        }\n"
    "        double d = med(td, reps), f = med(tf, reps), p = med(tp, reps);\n"
    "        printf(\"| %s | %s | %.3f | %.1f | %.1f | %.0f%% | %.2f | %.1f |\\n\", shapes[s].name, kinds[k].name, d * 1e3, bytes / d / 1e9, bytes / f / 1e9, 100 * f / d, p * 1e3, 2.0 * rows * N * K / p / 1e9);\n"
    "        fflush(stdout);\n"
    "        free(W); free(A); free(C);\n"
    "    }\n"
    "    return 0;\n"
    "}\n";

int main(int argc, char **argv) {
    int threads = 2, reps = 7, rows = 128, cpu_time = 0;
    const char *only = "";
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--threads")) threads = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--reps")) reps = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--rows")) rows = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--only")) only = argv[i + 1];
        else if (!strcmp(argv[i], "--cpu-time")) cpu_time = atoi(argv[i + 1]);
    }
    if (reps < 1 || reps > 63) reps = 7;
    char dir[] = "/tmp/mlcc-bench-q-XXXXXX";
    if (!mkdtemp(dir)) return perror("mkdtemp"), 1;
    mlcc_strbuf src = STRBUF_INIT;
    sb_append(&src, "#include <stdint.h>\n#include <stdlib.h>\n");
    sb_append(&src, cpu_intrin_common_source());
    const cpu_intrin *const *q = cpu_intrin_quant_list();
    for (int i = 0; q[i]; i++) sb_append(&src, q[i]->source);
    sb_append(&src, driver);
    for (const char *c = only; *c; c++)
        if (!strchr("abcdefghijklmnopqrstuvwxyz0123456789_/ .x", *c)) return fprintf(stderr, "--only: unexpected character\n"), 2;
    char path[256], exe[256], cmd[1280];
    snprintf(path, sizeof path, "%s/bench.c", dir);
    snprintf(exe, sizeof exe, "%s/bench", dir);
    mlcc_write_file_atomic(path, src.data, src.len);
    sb_free(&src);
    /* MLCC_BENCH_CFLAGS: extra flags (e.g. -DMLCC_QDPF_BYTES=4096: the int8 decode prefetches 4 KiB ahead instead of 8; -DMLCC_QNR=16: 16 rows per tile) */
    const char *extra = getenv("MLCC_BENCH_CFLAGS") ? getenv("MLCC_BENCH_CFLAGS") : "";
    snprintf(cmd, sizeof cmd, "cc -std=gnu11 -O2 -march=native -fopenmp %s -o %s %s -lm && OMP_NUM_THREADS=%d OMP_WAIT_POLICY=passive %s %d %d '%s' %d",
             extra, exe, path, threads, exe, reps, rows, only, cpu_time);
    int rc = system(cmd);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    return rc == 0 ? 0 : 1;
}
