/* bench_fuse_proj.c - prefill and decode on the CPU with q/k/v and gate/up separate
 * (MLCC_FUSE_PROJ=0) and combined (models/fuse_proj.c), both libraries open in one process and
 * run in alternation (ABBA order, round by round), so the two sides see the same load on a
 * shared machine; prints each round, the medians and the median of the paired ratios.
 *
 * build: make build && cc -O2 -Iinclude -Isrc bench/bench_fuse_proj.c -Lbuild -lmlcc -lmlcc_runtime \
 *        -ljansson -lm -Wl,-rpath,$PWD/build -o build/bench_fuse_proj
 * run:   MLCC_NUM_THREADS=2 build/bench_fuse_proj MODEL [--prompt 64] [--decode 16] [--rounds 7]
 *        [--quantization Q]      (MODEL: a GGUF file or a Hugging Face folder) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/model.h"
#include "support/clock.h"
#include "support/error.h"

static mlcc_model *open_model(const char *path, const char *quant, int64_t prompt, int64_t decode, int combine) {
    setenv("MLCC_FUSE_PROJ", combine ? "1" : "0", 1);
    mlcc_model_options opt = {.max_seq = prompt + decode + 8, .prefill_chunk = prompt, .quantization = quant};
    double t = mlcc_now_seconds();
    mlcc_model *m = mlcc_model_open(path, &opt);
    if (!m) fprintf(stderr, "%s: %s\n", path, mlcc_last_error()), exit(1);
    int combined = 0;
    for (int i = 0; i < m->params.n; i++) combined += m->params.items[i].combined;
    printf("%s: open %.1f s, %d parameters, %d combined\n", combine ? "combined" : "separate", mlcc_now_seconds() - t, m->params.n, combined);
    return m;
}

/* One prefill of `prompt` tokens and `decode` one-token steps: their tokens/s. */
static void run_once(mlcc_model *m, int64_t prompt, int64_t decode, double *prefill_tps, double *decode_tps) {
    int32_t *ids = malloc(sizeof(int32_t) * (size_t)prompt);
    for (int64_t i = 0; i < prompt; i++) ids[i] = (int32_t)((i * 7919 + 13) % m->cfg.vocab);
    float *logits = malloc(sizeof(float) * (size_t)m->cfg.vocab);
    mlcc_model_kv kv;
    if (mlcc_model_kv_init(m, &kv)) fprintf(stderr, "%s\n", mlcc_last_error()), exit(1);
    double t = mlcc_now_seconds();
    if (mlcc_model_forward(m, &kv, ids, prompt, logits)) fprintf(stderr, "%s\n", mlcc_last_error()), exit(1);
    *prefill_tps = (double)prompt / (mlcc_now_seconds() - t);
    int32_t next = 1;
    t = mlcc_now_seconds();
    for (int64_t s = 0; s < decode; s++)
        if (mlcc_model_forward(m, &kv, &next, 1, logits)) fprintf(stderr, "%s\n", mlcc_last_error()), exit(1);
    *decode_tps = (double)decode / (mlcc_now_seconds() - t);
    mlcc_model_kv_free(&kv);
    free(logits);
    free(ids);
}

static int by_value(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, by_value);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int main(int argc, char **argv) {
    const char *path = NULL, *quant = NULL;
    int64_t prompt = 64, decode = 16;
    int rounds = 7;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--prompt") && i + 1 < argc) prompt = atoll(argv[++i]);
        else if (!strcmp(argv[i], "--decode") && i + 1 < argc) decode = atoll(argv[++i]);
        else if (!strcmp(argv[i], "--rounds") && i + 1 < argc) rounds = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--quantization") && i + 1 < argc) quant = argv[++i];
        else path = argv[i];
    }
    if (!path || prompt < 1 || decode < 1 || rounds < 1 || rounds > 99) {
        fprintf(stderr, "usage: bench_fuse_proj MODEL [--prompt 64] [--decode 16] [--rounds 7] [--quantization Q]\n");
        return 2;
    }
    mlcc_model *m[2] = {open_model(path, quant, prompt, decode, 0), open_model(path, quant, prompt, decode, 1)};
    double p[2][99], d[2][99], pr[99], dr[99];
    run_once(m[0], prompt, decode, &p[0][0], &d[0][0]); /* warm-up: first touches of the weights */
    run_once(m[1], prompt, decode, &p[1][0], &d[1][0]);
    printf("| round | prefill separate | prefill combined | decode separate | decode combined |\n|---|---|---|---|---|\n");
    for (int r = 0; r < rounds; r++) {
        for (int k = 0; k < 2; k++) {
            int side = r % 2 ? 1 - k : k; /* ABBA: neither side always runs first */
            run_once(m[side], prompt, decode, &p[side][r], &d[side][r]);
        }
        pr[r] = p[1][r] / p[0][r], dr[r] = d[1][r] / d[0][r];
        printf("| %d | %.4g | %.4g | %.4g | %.4g |\n", r + 1, p[0][r], p[1][r], d[0][r], d[1][r]);
        fflush(stdout);
    }
    double mp0 = median(p[0], rounds), mp1 = median(p[1], rounds), md0 = median(d[0], rounds), md1 = median(d[1], rounds);
    printf("| median | %.4g | %.4g | %.4g | %.4g |\n", mp0, mp1, md0, md1);
    printf("combined / separate, median of the paired ratios: prefill %.3f, decode %.3f\n", median(pr, rounds), median(dr, rounds));
    mlcc_model_free(m[0]);
    mlcc_model_free(m[1]);
    return 0;
}
