/* bench_gemm_qk.c - the k-quant GEMM_NT intrinsics (kernels/cpu/gemm_qk.c) on one thread, on a
 * TinyLlama-1.1B FFN-down-shaped matrix (N 2048 weight rows of K 5632 values, 6.5 MB as Q4_K:
 * past L2, so decode streams it from L3 / memory), decode (M 1) and prefill (M 32, 128; --rows
 * LIST to choose, e.g. --rows 1,128):
 * milliseconds per call (best of --reps) and billions of weights x rows per second, for both
 * activation paths (a32: float, a8: int8). Timed with the thread's CPU time (a loaded machine
 * preempts the thread; CPU time leaves that out), so these are compute rates per CPU-second.
 *
 * build: make build && cc -O2 -Iinclude -Isrc bench/bench_gemm_qk.c -Lbuild -lmlcc -lmlcc_runtime \
 *        -Wl,-rpath,$PWD/build -o build/bench_gemm_qk
 * run:   build/bench_gemm_qk [--reps 7] [--rows 1,32,128] [--only a8] [--cflags "-DMLCC_QK_TR=4"]
 * The sources are the registry's, compiled here by cc -O2 -march=native (as the JIT does). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kernels/cpu/intrin.h"
#include "support/strbuf.h"

static const char driver[] =
    "#include <stdio.h>\n#include <time.h>\n"
    "typedef void (*qfn)(float *, const float *, const void *, const void *, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t);\n"
    "static double now(void) { struct timespec t; clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t); return t.tv_sec + t.tv_nsec * 1e-9; }\n"
    "static void run(const char *name, qfn fn, int words, int halves, int64_t M, int reps) {\n"
    "    int64_t N = 2048, K = 5632, ldq = K / 256 * words, lds = K / 256 * halves;\n"
    "    uint32_t *Q = malloc(4 * N * ldq); uint16_t *S = malloc(2 * N * lds);\n"
    "    for (int64_t i = 0; i < N * ldq; i++) Q[i] = (uint32_t)(i * 2654435761u);\n"
    "    for (int64_t i = 0; i < N * lds; i++) S[i] = 0x2000;\n"
    "    float *A = malloc(4 * M * K), *C = malloc(4 * M * N);\n"
    "    for (int64_t i = 0; i < M * K; i++) A[i] = (float)(i % 7) * 0.1f - 0.3f;\n"
    "    double best = 1e9;\n"
    "    for (int r = 0; r < reps; r++) { double t0 = now(); fn(C, A, Q, S, M, N, K, N, K, ldq, lds, 0); double dt = now() - t0; if (dt < best) best = dt; }\n"
    "    printf(\"| %s | %lld | %.3f | %.1f |\\n\", name, (long long)M, best * 1e3, (double)N * K * M / best / 1e9);\n"
    "    free(Q); free(S); free(A); free(C);\n"
    "}\n";

int main(int argc, char **argv) {
    int reps = 7, rows[8] = {1, 32, 128}, nrows = 3;
    const char *only = "", *cflags = "";
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--reps")) reps = atoi(argv[i + 1]);
        if (!strcmp(argv[i], "--only")) only = argv[i + 1];
        if (!strcmp(argv[i], "--cflags")) cflags = argv[i + 1];
        if (!strcmp(argv[i], "--rows")) {
            nrows = 0;
            for (char *p = argv[i + 1]; *p && nrows < 8; p += strspn(p, ","))
                rows[nrows++] = (int)strtol(p, &p, 10);
        }
    }
    char dir[] = "/tmp/mlcc-bench-qk-XXXXXX";
    if (!mkdtemp(dir)) return 1;
    mlcc_strbuf src = STRBUF_INIT;
    sb_append(&src, "#include <stdint.h>\n#include <stdlib.h>\n");
    sb_append(&src, cpu_intrin_common_source());
    const cpu_intrin *const *q = cpu_intrin_kquant_list();
    for (int i = 0; q[i]; i++) sb_append(&src, q[i]->source);
    sb_append(&src, driver);
    sb_printf(&src, "int main(void) {\n    printf(\"| intrinsic | rows M | ms per call | G weights x rows / s |\\n|---|---|---|---|\\n\");\n");
    for (int m = 0; m < nrows; m++)
        for (int i = 0; q[i]; i++)
            if (strstr(q[i]->name, only))
                sb_printf(&src, "    run(\"%s\", %s, %d, %d, %d, %d);\n", q[i]->name, q[i]->name,
                          q[i]->zero_point == 12 ? 35 : q[i]->zero_point == 13 ? 43 : 52, q[i]->zero_point == 14 ? 1 : 2,
                          rows[m], reps);
    sb_append(&src, "    return 0;\n}\n");
    char path[256], exe[256], cmd[1024];
    snprintf(path, sizeof path, "%s/b.c", dir);
    snprintf(exe, sizeof exe, "%s/b", dir);
    FILE *f = fopen(path, "w");
    if (!f) return 1;
    fputs(sb_cstr(&src), f);
    fclose(f);
    sb_free(&src);
    snprintf(cmd, sizeof cmd, "cc -std=gnu11 -O2 -march=native %s %s -o %s 2>/dev/null && %s; rm -rf %s", cflags, path, exe, exe, dir);
    return system(cmd) == 0 ? 0 : 1;
}
