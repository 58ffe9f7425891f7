/* test_kv_cache_cuda_decode.c - the KV cache's CUDA decode through the one-kernel attention
 * (runtime/cuda_decode_attention.c: q's rope in the kernel, the append folded in, splits chosen
 * by the cache) against a CPU cache running the generated kernels, step by step: three
 * sequences joining and leaving the batch over 40 decode steps (batches of 1 to 3, pages of 4
 * so most steps cross or fill a page), two layers, the second with a window of 5, q unrotated
 * on the CUDA side (attention_rope_q) and rotated by the test (every other step) or by the CPU
 * cache (attention_rope_q's host path) on the CPU side, K rotated by the append on both. Each
 * step's outputs agree to 1e-5 of the largest; at the end the pages of every sequence agree
 * (the folded append stored the rotated K and V where the CPU's append did). Splits of 3 keys
 * (MLCC_CUDA_DECODE_MIN_KEYS) so sequences take several. Every other step the CUDA cache takes
 * q, k, v as the column ranges of one [n, (QH + 2 KVH) D] tensor (attention_qkv: the kernel
 * reads them in place with a row stride), and every fourth the CPU cache does too (its copy
 * of the ranges apart). Without a GPU it skips; on a machine
 * without one bench/cuda_emu/run_decode.sh runs it with the kernel on the CPU. */
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

enum { LAYERS = 2, QH = 4, KVH = 2, D = 32, PS = 4, PAGES = 64, STEPS = 40, NSEQ = 3, W = (QH + 2 * KVH) * D };

/* nn.rope with a table on one row (float64, rounded to float32) */
static void rope_row(const float *x, const double *table, float *y) {
    int H = D / 2;
    for (int d = 0; d < D; d++) {
        double partner = d < H ? -(double)x[d + H] : (double)x[d - H];
        y[d] = (float)((double)x[d] * table[d % H] + partner * table[H + d % H]);
    }
}

static MLCCKVCache *new_cache(DLDevice dev, MLCCFunction **kernels) {
    static const int32_t window[LAYERS] = {0, 5};
    mlcc_kv_cache_config cfg = {.num_layers = LAYERS, .num_qo_heads = QH, .num_kv_heads = KVH, .head_dim = D,
                                .page_size = PS, .num_pages = PAGES, .dtype = MLCC_DTYPE_F32, .device = dev,
                                .sliding_window = window, .attn_scale = 1.0 / sqrt((double)D)};
    if (kernels) cfg.append = kernels[0], cfg.prefill = kernels[1], cfg.decode = kernels[2];
    MLCCKVCache *c = mlcc_kv_cache_new(&cfg);
    CHECK_MSG(c != NULL, "%s", mlcc_last_error());
    return c;
}

int main(void) {
    if (!mlcc_cuda_available()) TEST_SKIP("%s", mlcc_cuda_status());
    ir_scope_begin();
    mlcc_attn_config ac = {.head_dim = D, .num_qo_heads = QH, .num_kv_heads = KVH, .page_size = PS, .dtype = DT_F32, .rope_table = 1};
    MLCCFunction *kernels[3];
    mlcc_jit_module *jit = NULL;
    CHECK_MSG(test_attn_cpu_functions(&ac, kernels, &jit) == 0, "%s", mlcc_last_error());
    if (!jit) return test_finish();
    setenv("MLCC_CUDA_DECODE_MIN_KEYS", "3", 1); /* several splits at these lengths */
    DLDevice gpu = {kDLCUDA, 0};
    MLCCKVCache *cpu = new_cache(MLCC_CPU, kernels), *cuda = new_cache(gpu, NULL);
    unsetenv("MLCC_CUDA_DECODE_MIN_KEYS");
    if (!cpu || !cuda) return test_finish();
    for (int s = 0; s < NSEQ; s++) CHECK(mlcc_kv_cache_add_sequence(cpu, s) == 0 && mlcc_kv_cache_add_sequence(cuda, s) == 0);

    double worst = 0;
    for (int step = 0; step < STEPS && !test_checks_failed; step++) {
        /* sequence 0 always; 1 from step 3; 2 in steps 8..29 */
        int64_t ids[NSEQ], lens[NSEQ] = {1, 1, 1};
        int n = 0;
        ids[n++] = 0;
        if (step >= 3) ids[n++] = 1;
        if (step >= 8 && step < 30) ids[n++] = 2;
        CHECK_MSG(mlcc_kv_cache_begin_forward(cpu, ids, lens, n) == 0 && mlcc_kv_cache_begin_forward(cuda, ids, lens, n) == 0, "%s",
                  mlcc_last_error());
        const mlcc_kv_forward *f = mlcc_kv_cache_forward(cpu);
        CHECK(f && f->is_decode && f->num_tokens == n);
        if (test_checks_failed) break;
        double table[NSEQ * D];
        for (int t = 0; t < n; t++)
            for (int i = 0; i < D / 2; i++) {
                double angle = f->positions[t] * pow(10000.0, -2.0 * i / D);
                table[t * D + i] = cos(angle), table[t * D + D / 2 + i] = sin(angle);
            }
        int64_t qs[3] = {n, QH, D}, ks[3] = {n, KVH, D}, ts[3] = {n, 2, D / 2};
        for (int layer = 0; layer < LAYERS; layer++) {
            float q[NSEQ * QH * D], qr[NSEQ * QH * D], k[NSEQ * KVH * D], v[NSEQ * KVH * D], want[NSEQ * QH * D], got[NSEQ * QH * D];
            for (int i = 0; i < n * QH * D; i++) q[i] = 2 * test_rand_float();
            for (int i = 0; i < n * KVH * D; i++) k[i] = test_rand_float(), v[i] = test_rand_float();
            for (int r = 0; r < n * QH; r++) rope_row(q + r * D, table + (r / QH) * D, qr + r * D);
            int cpu_rotates = step % 2; /* the CPU cache rotates q itself (attention_rope_q's host path) */
            MLCCNDArray *a[5] = {test_ndarray_from(3, qs, MLCC_DTYPE_F32, MLCC_CPU, cpu_rotates ? q : qr), test_ndarray_from(3, ks, MLCC_DTYPE_F32, MLCC_CPU, k),
                                 test_ndarray_from(3, ks, MLCC_DTYPE_F32, MLCC_CPU, v), test_ndarray_from(3, ts, MLCC_DTYPE_F64, MLCC_CPU, table),
                                 test_ndarray_from(3, qs, MLCC_DTYPE_F32, MLCC_CPU, NULL)};
            MLCCNDArray *g[5] = {test_ndarray_from(3, qs, MLCC_DTYPE_F32, gpu, q), test_ndarray_from(3, ks, MLCC_DTYPE_F32, gpu, k),
                                 test_ndarray_from(3, ks, MLCC_DTYPE_F32, gpu, v), test_ndarray_from(3, ts, MLCC_DTYPE_F64, gpu, table),
                                 test_ndarray_from(3, qs, MLCC_DTYPE_F32, gpu, NULL)};
            /* q | k | v in the rows of one tensor, as the combined projection writes them */
            float qkv[NSEQ * W];
            for (int t = 0; t < n; t++) {
                memcpy(qkv + t * W, q + t * QH * D, sizeof(float) * QH * D);
                memcpy(qkv + t * W + QH * D, k + t * KVH * D, sizeof(float) * KVH * D);
                memcpy(qkv + t * W + (QH + KVH) * D, v + t * KVH * D, sizeof(float) * KVH * D);
            }
            int64_t ws[2] = {n, W};
            int cuda_in_place = step % 2, cpu_split = step % 4 == 3;
            MLCCNDArray *aqkv = test_ndarray_from(2, ws, MLCC_DTYPE_F32, MLCC_CPU, qkv), *gqkv = test_ndarray_from(2, ws, MLCC_DTYPE_F32, gpu, qkv);
            for (int i = 0; i < 5; i++) CHECK_MSG(a[i] && g[i] && aqkv && gqkv, "%s", mlcc_last_error());
            if (!test_checks_failed) {
                if (cpu_split)
                    CHECK_MSG(mlcc_kv_cache_attention_qkv(cpu, layer, &aqkv->dl, &a[3]->dl, &a[4]->dl) == 0, "cpu: %s", mlcc_last_error());
                else
                    CHECK_MSG(mlcc_kv_cache_attention_rope_q(cpu, layer, &a[0]->dl, &a[1]->dl, &a[2]->dl, &a[3]->dl, cpu_rotates, &a[4]->dl) == 0,
                              "cpu: %s", mlcc_last_error());
                if (cuda_in_place)
                    CHECK_MSG(mlcc_kv_cache_attention_qkv(cuda, layer, &gqkv->dl, &g[3]->dl, &g[4]->dl) == 0, "cuda: %s", mlcc_last_error());
                else
                    CHECK_MSG(mlcc_kv_cache_attention_rope_q(cuda, layer, &g[0]->dl, &g[1]->dl, &g[2]->dl, &g[3]->dl, 1, &g[4]->dl) == 0,
                              "cuda: %s", mlcc_last_error());
                memcpy(want, a[4]->dl.data, sizeof(float) * (size_t)(n * QH * D));
                CHECK(mlcc_ndarray_copy_to_bytes(g[4], got, sizeof(float) * (size_t)(n * QH * D)) == 0);
                double e = test_rel_diff(got, want, (size_t)(n * QH * D));
                if (e > worst) worst = e;
                CHECK_MSG(e < 1e-5, "step %d layer %d (%d sequences): error %g", step, layer, n, e);
            }
            for (int i = 0; i < 5; i++) mlcc_ndarray_release(a[i]), mlcc_ndarray_release(g[i]);
            mlcc_ndarray_release(aqkv), mlcc_ndarray_release(gqkv);
        }
        CHECK(mlcc_kv_cache_end_forward(cpu) == 0 && mlcc_kv_cache_end_forward(cuda) == 0);
    }
    /* the pages: every page a sequence holds, K and V, the same values */
    for (int layer = 0; layer < LAYERS && !test_checks_failed; layer++) {
        MLCCNDArray *pc = mlcc_kv_cache_pages(cpu, layer), *pg = mlcc_kv_cache_pages(cuda, layer);
        size_t count = (size_t)mlcc_ndarray_numel(pc);
        float *hc = pc->dl.data, *hg = malloc(sizeof(float) * count);
        CHECK(mlcc_ndarray_copy_to_bytes(pg, hg, sizeof(float) * count) == 0);
        /* both caches hand out pages in the same order, so the same page ids hold the same tokens */
        size_t used = (size_t)(PAGES - mlcc_kv_cache_free_pages(cpu)) * 2 * KVH * PS * D;
        CHECK_EQ_INT(mlcc_kv_cache_free_pages(cpu), mlcc_kv_cache_free_pages(cuda));
        double e = test_rel_diff(hg, hc, used);
        printf("layer %d: pages of %lld keys, max difference %.2e\n", layer, (long long)(used / (2 * KVH * D)), e);
        CHECK_MSG(e < 1e-6, "layer %d: the pages differ (%g)", layer, e);
        free(hg);
    }
    printf("%d decode steps x %d layers: max error %.2e of the largest output\n", STEPS, LAYERS, worst);
    mlcc_kv_cache_release(cpu);
    mlcc_kv_cache_release(cuda);
    for (int i = 0; i < 3; i++) mlcc_object_release(&kernels[i]->obj);
    mlcc_jit_free(jit);
    ir_scope_end();
    return test_finish();
}
