/* bench_attention.c - the generated paged-attention kernels on the CPU, run through the KV
 * cache as the engine runs them: one decode step (append + split-KV decode) for batches of
 * sequences with long contexts, and one ragged prefill. For decode, the physical floor is the
 * time to stream the K/V bytes the step must read at the memory bandwidth measured in the same
 * run (a parallel read of a buffer larger than the caches, interleaved with the kernel runs);
 * the table prints both and their ratio.
 *
 * build: make build && cc -O2 -Iinclude -Isrc bench/bench_attention.c -Lbuild -lmlcc \
 *        -lmlcc_runtime -lm -Wl,-rpath,$PWD/build -o build/bench_attention
 * run:   MLCC_NUM_THREADS=2 build/bench_attention [f16 | f16kv32]
 *        (activations and pages float32; both float16; float16 activations, float32 pages) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codegen/jit.h"
#include "gen/attention.h"
#include "runtime/kv_cache.h"
#include "support/clock.h"
#include "support/error.h"

enum { QH = 32, KVH = 8, D = 128, PS = 16, REPEAT = 7 };

/* ---- the memory floor ---- */

typedef struct stream {
    const float *data;
    float sums[256];
} stream;

static void read_chunk(int64_t begin, int64_t end, int task, void *ctx) {
    stream *s = ctx;
    float acc[16] = {0}; /* independent lanes so the loop vectorizes */
    int64_t i = begin;
    for (; i + 16 <= end; i += 16)
        for (int k = 0; k < 16; k++)
            acc[k] += s->data[i + k];
    float total = 0;
    for (int k = 0; k < 16; k++)
        total += acc[k];
    s->sums[task & 255] += total;
}

/* Bytes per second of a parallel read of a 256 MiB buffer (best of a few). */
static double read_bandwidth(const float *buf, int64_t n) {
    stream s = {buf, {0}};
    double best = 1e30;
    for (int r = 0; r < 3; r++) {
        double t0 = mlcc_now_seconds();
        mlcc_parallel_for(n, read_chunk, &s);
        double t = mlcc_now_seconds() - t0;
        if (t < best) best = t;
    }
    return (double)n * sizeof(float) / best;
}

/* ---- the kernels through the cache ---- */

static MLCCFunction *fns[3];

static int kv32; /* float32 pages under float16 activations */

static MLCCKVCache *make_cache(int64_t pages, int f16) {
    mlcc_kv_cache_config kc = {0};
    kc.num_layers = 1;
    kc.num_qo_heads = QH;
    kc.num_kv_heads = KVH;
    kc.head_dim = D;
    kc.page_size = PS;
    kc.num_pages = pages;
    kc.dtype = f16 ? MLCC_DTYPE_F16 : MLCC_DTYPE_F32;
    kc.kv_dtype = kv32 ? MLCC_DTYPE_F32 : kc.dtype;
    kc.device = MLCC_CPU;
    kc.append = fns[0];
    kc.prefill = fns[1];
    kc.decode = fns[2];
    MLCCKVCache *c = mlcc_kv_cache_new(&kc);
    if (!c) {
        fprintf(stderr, "%s\n", mlcc_last_error());
        exit(1);
    }
    return c;
}

static DLTensor tensor(void *data, int64_t *shape, int64_t rows, int heads, int f16) {
    DLTensor t = {0};
    shape[0] = rows, shape[1] = heads, shape[2] = D;
    t.data = data;
    t.device = MLCC_CPU;
    t.ndim = 3;
    t.dtype = f16 ? MLCC_DTYPE_F16 : MLCC_DTYPE_F32;
    t.shape = shape;
    return t;
}

/* Seconds of one step (begin_forward .. end_forward excluded) adding `add` tokens to each of
 * the n sequences, best of REPEAT; the step is undone after each run. */
static double time_step(MLCCKVCache *c, int n, const int64_t *ids, int64_t add, int f16) {
    size_t es = f16 ? 2 : 4;
    int64_t rows = n * add;
    void *q = calloc((size_t)rows * QH * D, es), *kv = calloc((size_t)rows * KVH * D, es);
    void *out = calloc((size_t)rows * QH * D, es);
    int64_t sq[3], sk[3], so[3];
    DLTensor tq = tensor(q, sq, rows, QH, f16), tk = tensor(kv, sk, rows, KVH, f16),
             to = tensor(out, so, rows, QH, f16);
    int64_t *lens = malloc(sizeof(int64_t) * (size_t)n);
    for (int i = 0; i < n; i++)
        lens[i] = add;
    double best = 1e30;
    for (int r = 0; r < REPEAT; r++) {
        if (mlcc_kv_cache_begin_forward(c, ids, lens, n)) {
            fprintf(stderr, "%s\n", mlcc_last_error());
            exit(1);
        }
        double t0 = mlcc_now_seconds();
        if (mlcc_kv_cache_attention(c, 0, &tq, &tk, &tk, &to)) {
            fprintf(stderr, "%s\n", mlcc_last_error());
            exit(1);
        }
        double t = mlcc_now_seconds() - t0;
        if (t < best) best = t;
        mlcc_kv_cache_end_forward(c);
        for (int i = 0; i < n; i++)
            mlcc_kv_cache_pop_n(c, ids[i], add);
    }
    free(q), free(kv), free(out), free(lens);
    return best;
}

int main(int argc, char **argv) {
    int f16 = argc > 1 && strncmp(argv[1], "f16", 3) == 0;
    kv32 = argc > 1 && strcmp(argv[1], "f16kv32") == 0;
    ir_scope_begin();
    mlcc_attn_config cfg = {0};
    cfg.head_dim = D, cfg.num_qo_heads = QH, cfg.num_kv_heads = KVH, cfg.page_size = PS;
    cfg.dtype = f16 ? DT_F16 : DT_F32;
    cfg.kv_dtype = kv32 ? DT_F32 : cfg.dtype;
    mlcc_prim_func *funcs[3];
    if (gen_attn_kernels(&cfg, funcs)) return fprintf(stderr, "%s\n", mlcc_last_error()), 1;
    mlcc_jit_module *mod = mlcc_jit_build(funcs, 3);
    if (!mod) return fprintf(stderr, "%s\n", mlcc_last_error()), 1;
    const char *names[3] = {"kv_append", "attn_prefill", "attn_decode"};
    for (int i = 0; i < 3; i++)
        fns[i] = mlcc_module_get_function(mlcc_jit_module_handle(mod), names[i]);

    int64_t nfloat = 64ll << 20; /* 256 MiB */
    float *buf = malloc(sizeof(float) * (size_t)nfloat);
    for (int64_t i = 0; i < nfloat; i++)
        buf[i] = (float)(i & 7);
    size_t es = f16 && !kv32 ? 2 : 4; /* bytes of a K/V element */
    printf("attention on the CPU: %d query heads, %d KV heads, head_dim %d, page %d, %s "
           "activations, %s pages, %d threads\n",
           QH, KVH, D, PS, f16 ? "float16" : "float32", es == 2 ? "float16" : "float32",
           mlcc_threadpool_size());
    printf("%-26s %10s %10s %10s %8s\n", "step", "time ms", "KV MB", "floor ms", "ratio");

    static const int batches[3] = {1, 4, 16};
    static const int64_t contexts[2] = {512, 2048};
    for (int bi = 0; bi < 3; bi++)
        for (int ci = 0; ci < 2; ci++) {
            int n = batches[bi];
            int64_t len = contexts[ci];
            MLCCKVCache *c = make_cache((int64_t)n * (len / PS + 2), f16);
            int64_t ids[16];
            for (int i = 0; i < n; i++) {
                ids[i] = i;
                mlcc_kv_cache_add_sequence(c, i);
                int64_t l = len;
                mlcc_kv_cache_begin_forward(c, &ids[i], &l,
                                            1); /* reserve the context (contents: zeros) */
                mlcc_kv_cache_end_forward(c);
            }
            double bw = read_bandwidth(buf, nfloat);
            double t = time_step(c, n, ids, 1, f16);
            double bytes = (double)n * (double)(len + 1) * KVH * D * 2 * (double)es;
            char label[64];
            snprintf(label, sizeof label, "decode b=%d ctx=%lld", n, (long long)len);
            printf("%-26s %10.3f %10.1f %10.3f %8.1f\n", label, t * 1e3, bytes / 1e6,
                   bytes / bw * 1e3, t / (bytes / bw));
            mlcc_kv_cache_release(c);
        }
    /* prefill: one sequence of 512 tokens; work = QK^T and PV over the causal triangle */
    int64_t T = 512, id = 0;
    MLCCKVCache *c = make_cache(T / PS + 2, f16);
    mlcc_kv_cache_add_sequence(c, 0);
    double t = time_step(c, 1, &id, T, f16);
    double flops = 4.0 * D * QH * (double)T * (double)(T + 1) / 2;
    printf("%-26s %10.3f  (%.1f GFLOP/s, %.0f tokens/s)\n", "prefill 1 x 512", t * 1e3,
           flops / t / 1e9, (double)T / t);
    mlcc_kv_cache_release(c);
    free(buf);
    for (int i = 0; i < 3; i++)
        mlcc_object_release(&fns[i]->obj);
    mlcc_jit_free(mod);
    ir_scope_end();
    return 0;
}
