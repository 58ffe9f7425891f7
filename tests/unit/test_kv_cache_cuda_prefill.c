/* test_kv_cache_cuda_prefill.c - the KV cache's attention on a combined qkv (attention_qkv,
 * runtime/kv_cache.c), half as a prefill function has it after half_activations (layer 0) and
 * float32 as decode functions have it (layer 1): on CUDA with half pages the flash path rotates
 * q and K and appends K and V in one kernel (mlcc_cuda_prefill_qkv), then runs the flash kernel
 * on the half q; a step that takes the one-kernel decode splits (and widens) qkv first. Layer
 * 0's output is half too (o_proj's x under half_activations: the flash kernel writes it so,
 * the other paths round their float32 output).
 * Against a CPU cache running the generated kernels on the same values in float32 (attention_qkv's
 * host path), step by step: two prefill chunks of three sequences (37, 5, 70 tokens, then 20
 * and 9 more), a batched decode step of 17 sequences (the flash kernel a block per sequence),
 * then one sequence alone (the one-kernel decode); two layers, the second with a window of 20;
 * head_dim 64, GQA 4, pages of 16. Outputs agree to 4e-3 of the largest (q, K, V and the
 * softmax weights are half on the GPU), the pages to 1e-3 (K and V rounded to half). Without a
 * GPU it skips. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codegen/jit.h"
#include "gen/attention.h"
#include "runtime/cuda.h"
#include "runtime/kv_cache.h"
#include "support/error.h"
#include "attention_check.h"
#include "tensor_util.h"
#include "test.h"

enum { LAYERS = 2, QH = 8, KVH = 2, D = 64, PS = 16, PAGES = 64, NSEQ = 17, W = (QH + 2 * KVH) * D, MAX_T = 128 };

static MLCCKVCache *new_cache(DLDevice dev, MLCCFunction **kernels) {
    static const int32_t window[LAYERS] = {0, 20};
    mlcc_kv_cache_config cfg = {.num_layers = LAYERS, .num_qo_heads = QH, .num_kv_heads = KVH, .head_dim = D,
                                .page_size = PS, .num_pages = PAGES, .dtype = MLCC_DTYPE_F32, .device = dev,
                                .sliding_window = window, .attn_scale = 1.0 / sqrt((double)D)};
    if (kernels) cfg.append = kernels[0], cfg.prefill = kernels[1], cfg.decode = kernels[2];
    else cfg.kv_dtype = (DLDataType){kDLFloat, 16, 1}, cfg.attn_f16 = 1;
    MLCCKVCache *c = mlcc_kv_cache_new(&cfg);
    CHECK_MSG(c != NULL, "%s", mlcc_last_error());
    return c;
}

/* One step: the sequences ids[i] adding lens[i] tokens, both caches, every layer. */
static double step(MLCCKVCache *cpu, MLCCKVCache *cuda, const int64_t *ids, const int64_t *lens, int n, const char *what) {
    DLDevice gpu = {kDLCUDA, 0};
    double worst = 0;
    CHECK_MSG(mlcc_kv_cache_begin_forward(cpu, ids, lens, n) == 0 && mlcc_kv_cache_begin_forward(cuda, ids, lens, n) == 0, "%s",
              mlcc_last_error());
    const mlcc_kv_forward *f = mlcc_kv_cache_forward(cpu);
    if (test_checks_failed || !f) return 1;
    int64_t T = f->num_tokens;
    double *table = malloc(sizeof(double) * (size_t)T * D);
    for (int64_t t = 0; t < T; t++)
        for (int i = 0; i < D / 2; i++) {
            double angle = f->positions[t] * pow(10000.0, -2.0 * i / D);
            table[t * D + i] = cos(angle), table[t * D + D / 2 + i] = sin(angle);
        }
    size_t xn = (size_t)T * W, on = (size_t)T * QH * D;
    uint16_t *qkv16 = malloc(sizeof(uint16_t) * xn);
    float *qkv = malloc(sizeof(float) * xn), *want = malloc(sizeof(float) * on), *got = malloc(sizeof(float) * on);
    int64_t xs[2] = {T, W}, ts[3] = {T, 2, D / 2}, os[3] = {T, QH, D};
    for (int layer = 0; layer < LAYERS && !test_checks_failed; layer++) {
        for (size_t i = 0; i < xn; i++) qkv16[i] = mlcc_f32_to_f16((i % W < QH * D ? 2 : 1) * test_rand_float());
        mlcc_f16_to_f32_n(qkv, qkv16, xn); /* the CPU reads the same values, widened */
        MLCCNDArray *a[3] = {test_ndarray_from(2, xs, MLCC_DTYPE_F32, MLCC_CPU, qkv), test_ndarray_from(3, ts, MLCC_DTYPE_F64, MLCC_CPU, table),
                             test_ndarray_from(3, os, MLCC_DTYPE_F32, MLCC_CPU, NULL)};
        MLCCNDArray *g[3] = {layer == 0 ? test_ndarray_from(2, xs, (DLDataType){kDLFloat, 16, 1}, gpu, qkv16) : test_ndarray_from(2, xs, MLCC_DTYPE_F32, gpu, qkv),
                             test_ndarray_from(3, ts, MLCC_DTYPE_F64, gpu, table),
                             test_ndarray_from(3, os, layer == 0 ? (DLDataType){kDLFloat, 16, 1} : MLCC_DTYPE_F32, gpu, NULL)};
        for (int i = 0; i < 3; i++) CHECK_MSG(a[i] && g[i], "%s", mlcc_last_error());
        if (!test_checks_failed) {
            CHECK_MSG(mlcc_kv_cache_attention_qkv(cpu, layer, &a[0]->dl, &a[1]->dl, &a[2]->dl) == 0, "cpu: %s", mlcc_last_error());
            CHECK_MSG(mlcc_kv_cache_attention_qkv(cuda, layer, &g[0]->dl, &g[1]->dl, &g[2]->dl) == 0, "cuda: %s", mlcc_last_error());
            memcpy(want, a[2]->dl.data, sizeof(float) * on);
            if (layer == 0) { /* half out */
                uint16_t *h = malloc(sizeof(uint16_t) * on);
                CHECK(mlcc_ndarray_copy_to_bytes(g[2], h, sizeof(uint16_t) * on) == 0);
                mlcc_f16_to_f32_n(got, h, on);
                free(h);
            } else {
                CHECK(mlcc_ndarray_copy_to_bytes(g[2], got, sizeof(float) * on) == 0);
            }
            double e = test_rel_diff(got, want, on);
            if (e > worst) worst = e;
            CHECK_MSG(e < 4e-3, "%s, layer %d: error %g", what, layer, e);
        }
        for (int i = 0; i < 3; i++) mlcc_ndarray_release(a[i]), mlcc_ndarray_release(g[i]);
    }
    CHECK(mlcc_kv_cache_end_forward(cpu) == 0 && mlcc_kv_cache_end_forward(cuda) == 0);
    printf("%-44s %3lld tokens: max error %.2e of the largest output\n", what, (long long)T, worst);
    free(table), free(qkv16), free(qkv), free(want), free(got);
    return worst;
}

int main(void) {
    if (!mlcc_cuda_available()) TEST_SKIP("%s", mlcc_cuda_status());
    ir_scope_begin();
    mlcc_attn_config ac = {.head_dim = D, .num_qo_heads = QH, .num_kv_heads = KVH, .page_size = PS, .dtype = DT_F32, .rope_table = 1};
    MLCCFunction *kernels[3];
    mlcc_jit_module *jit = NULL;
    CHECK_MSG(test_attn_cpu_functions(&ac, kernels, &jit) == 0, "%s", mlcc_last_error());
    if (!jit) return test_finish();
    MLCCKVCache *cpu = new_cache(MLCC_CPU, kernels), *cuda = new_cache((DLDevice){kDLCUDA, 0}, NULL);
    if (!cpu || !cuda) return test_finish();
    for (int s = 0; s < NSEQ; s++) CHECK(mlcc_kv_cache_add_sequence(cpu, s) == 0 && mlcc_kv_cache_add_sequence(cuda, s) == 0);

    int64_t ids[NSEQ], ones[NSEQ];
    for (int s = 0; s < NSEQ; s++) ids[s] = s, ones[s] = 1;
    step(cpu, cuda, ids, (int64_t[]){37, 5, 70}, 3, "prefill, 3 sequences (flash from qkv)");
    step(cpu, cuda, (int64_t[]){0, 2}, (int64_t[]){20, 9}, 2, "second chunk, 2 sequences (flash from qkv)");
    step(cpu, cuda, ids, ones, NSEQ, "decode, 17 sequences (flash a block a sequence)");
    step(cpu, cuda, (int64_t[]){1}, ones, 1, "decode, 1 sequence (one kernel, qkv split)");

    /* the pages every sequence holds: the same K and V (half on the GPU) */
    for (int layer = 0; layer < LAYERS && !test_checks_failed; layer++) {
        MLCCNDArray *pc = mlcc_kv_cache_pages(cpu, layer), *pg = mlcc_kv_cache_pages(cuda, layer);
        /* both caches hand out pages in the same order: the first `used` values hold the tokens */
        size_t count = (size_t)mlcc_ndarray_numel(pg), used = (size_t)(PAGES - mlcc_kv_cache_free_pages(cpu)) * 2 * KVH * PS * D;
        CHECK_EQ_INT(mlcc_kv_cache_free_pages(cpu), mlcc_kv_cache_free_pages(cuda));
        uint16_t *h16 = malloc(sizeof(uint16_t) * count);
        float *hg = malloc(sizeof(float) * count);
        CHECK(mlcc_ndarray_copy_to_bytes(pg, h16, sizeof(uint16_t) * count) == 0);
        mlcc_f16_to_f32_n(hg, h16, count);
        double e = test_rel_diff(hg, pc->dl.data, used);
        printf("layer %d: pages of %lld keys, max difference %.2e\n", layer, (long long)(used / (2 * KVH * D)), e);
        CHECK_MSG(e < 1e-3, "layer %d: the pages differ (%g)", layer, e);
        free(h16), free(hg);
    }
    mlcc_kv_cache_release(cpu);
    mlcc_kv_cache_release(cuda);
    for (int i = 0; i < 3; i++) mlcc_object_release(&kernels[i]->obj);
    mlcc_jit_free(jit);
    ir_scope_end();
    return test_finish();
}
