/* test_cuda_models.c - every tiny Hugging Face checkpoint of testdata/hf-tiny run on CUDA
 * (library compiled for the cuda target, weights and paged KV cache on the GPU):
 *   - prefill logits of the prompt match transformers' float64 reference (relative 1e-4, as on
 *     the CPU) and the CPU build's logits (relative 1e-5);
 *   - decode, one token at a time through batch_decode and the KV cache on the GPU, matches the
 *     prefill logits (relative 1e-4);
 *   - the greedy continuation equals meta.json's greedy_out;
 *   - the same in float16 (scheme q0f16: f16 weights, f32 activations and KV; projections
 *     through mlcc.cuda.linear_f16, cuBLASLt rounding activations to f16 in prefill): against
 *     the CPU's q0f16 build 1e-2, transformers' float32 model 3e-2, decode vs prefill 1e-2
 *     (relative to the largest logit); the greedy continuation is reported, not required;
 *   - afterwards no device memory is still allocated (the caching allocator's count).
 * Skips without a CUDA device. MLCC_TEST_MODEL=NAME runs one fixture. */
#include <dirent.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "loader/safetensors.h"
#include "models/model.h"
#include "runtime/cuda.h"
#include "support/error.h"
#include "support/json.h"
#include "test.h"

enum { MAX_TOKENS = 100, GREEDY = 16 };

static int read_ids(json_t *a, int32_t *out, int cap) {
    if (!json_is_array(a)) return -1;
    int n = (int)json_array_size(a);
    if (n > cap) n = cap;
    for (int i = 0; i < n; i++) out[i] = (int32_t)json_integer_value(json_array_get(a, (size_t)i));
    return n;
}

static double rel_error(const float *got, const float *ref, int64_t n) {
    double err = 0, scale = 1e-30;
    for (int64_t i = 0; i < n; i++) {
        double e = fabs((double)got[i] - ref[i]);
        if (e > err || isnan(e)) err = isnan(e) ? INFINITY : e;
        if (fabs(ref[i]) > scale) scale = fabs(ref[i]);
    }
    return err / scale;
}

typedef struct tolerances {
    const char *quant; /* NULL: float32 */
    double vs_cpu, vs_ref, decode;
    int greedy_must_match;
} tolerances;

static const tolerances f32_tol = {NULL, 1e-5, 1e-4, 1e-4, 1}, f16_tol = {"q0f16", 1e-2, 3e-2, 1e-2, 0};

static void run_fixture(const char *name, const char *dir, const tolerances *tol) {
    char path[1200];
    snprintf(path, sizeof path, "%s/meta.json", dir);
    json_t *meta = mlcc_json_load_file(path);
    if (!meta) return;
    int32_t tokens[MAX_TOKENS], greedy[GREEDY];
    int n = read_ids(json_object_get(meta, "tokens"), tokens, MAX_TOKENS);
    int ng = read_ids(json_object_get(meta, "greedy_out"), greedy, GREEDY);
    json_decref(meta);
    if (n <= 0 || ng <= 0) return;
    mlcc_model *gpu = mlcc_model_open(dir, &(mlcc_model_options){.max_seq = 128, .logit_rows = 128, .device = "cuda",
                                                                  .quantization = tol->quant});
    mlcc_model *cpu = mlcc_model_open(dir, &(mlcc_model_options){.max_seq = 128, .logit_rows = 128, .quantization = tol->quant});
    CHECK_MSG(gpu && cpu, "%s: %s", name, mlcc_last_error());
    if (!gpu || !cpu) {
        mlcc_model_free(gpu), mlcc_model_free(cpu);
        return;
    }
    int64_t vocab = gpu->cfg.vocab;
    MLCCNDArray *lg = NULL, *lc = NULL;
    CHECK_MSG(mlcc_model_prefill(gpu, tokens, n, &lg) == 0, "%s: prefill: %s", name, mlcc_last_error());
    CHECK_MSG(mlcc_model_prefill(cpu, tokens, n, &lc) == 0, "%s: cpu prefill: %s", name, mlcc_last_error());
    if (lg && lc) {
        double e = rel_error(lg->dl.data, lc->dl.data, n * vocab);
        CHECK_MSG(e <= tol->vs_cpu, "%s: cuda vs cpu prefill logits: %g", name, e);
        printf("%s %s: prefill of %d tokens: cuda vs cpu %.3g", name, tol->quant ? tol->quant : "f32", n, e);
        snprintf(path, sizeof path, "%s/ref.safetensors", dir);
        mlcc_safetensors *st = safetensors_open(path);
        const mlcc_st_tensor *t = st ? safetensors_find(st, "logits") : NULL;
        if (t && t->ndim == 2 && t->shape[0] == n && t->shape[1] == vocab) {
            float *ref = malloc(sizeof(float) * (size_t)(n * vocab));
            safetensors_read_f32(t, ref);
            double r = rel_error(lg->dl.data, ref, n * vocab);
            CHECK_MSG(r <= tol->vs_ref, "%s: cuda vs transformers: %g", name, r);
            printf(", vs transformers %.3g", r);
            free(ref);
        }
        if (st) safetensors_close(st);
        /* decode through the KV cache on the GPU */
        MLCCKVCache *kv = mlcc_model_create_kv_cache(gpu, 1, 128);
        CHECK_MSG(kv && mlcc_kv_cache_add_sequence(kv, 0) == 0, "%s: %s", name, mlcc_last_error());
        double worst = 0;
        for (int i = 0; kv && i < n; i++) {
            MLCCNDArray *step = NULL;
            int rc = mlcc_model_step(gpu, kv, (int64_t[]){0}, (int64_t[]){1}, 1, tokens + i, NULL, 0, &step);
            CHECK_MSG(rc == 0, "%s: decode %d: %s", name, i, mlcc_last_error());
            if (rc) break;
            double e2 = rel_error(step->dl.data, (const float *)lg->dl.data + (int64_t)i * vocab, vocab);
            if (e2 > worst) worst = e2;
            mlcc_ndarray_release(step);
        }
        CHECK_MSG(worst <= tol->decode, "%s: decode vs prefill: %g", name, worst);
        printf(", decode vs prefill %.3g", worst);
        if (kv) mlcc_kv_cache_release(kv);
        int32_t out[GREEDY];
        CHECK_MSG(mlcc_model_greedy(gpu, tokens, n, ng, out) == 0, "%s: greedy: %s", name, mlcc_last_error());
        int same = 1;
        for (int i = 0; i < ng; i++) same &= out[i] == greedy[i];
        CHECK_MSG(same || !tol->greedy_must_match, "%s: greedy continuation differs from transformers'", name);
        printf(", greedy %s\n", same ? "same" : "DIFFERENT");
    }
    mlcc_ndarray_release(lg);
    mlcc_ndarray_release(lc);
    mlcc_model_free(gpu);
    mlcc_model_free(cpu);
}

int main(void) {
    if (!mlcc_cuda_available()) TEST_SKIP("%s", mlcc_cuda_status());
    char *root = test_data_path("hf-tiny");
    const char *only = getenv("MLCC_TEST_MODEL");
    DIR *d = opendir(root);
    CHECK(d != NULL);
    int ran = 0;
    mlcc_cuda_mem_stats before = mlcc_cuda_memory_stats(0);
    for (struct dirent *e; d && (e = readdir(d));) {
        if (e->d_name[0] == '.' || (only && strcmp(only, e->d_name))) continue;
        char dir[1024];
        snprintf(dir, sizeof dir, "%s/%s", root, e->d_name);
        run_fixture(e->d_name, dir, &f32_tol);
        run_fixture(e->d_name, dir, &f16_tol);
        ran++;
    }
    if (d) closedir(d);
    CHECK(ran > 0);
    /* every model, KV cache and step freed its device memory (the allocator's count) */
    mlcc_cuda_linear_release(0);
    mlcc_cuda_mem_stats after = mlcc_cuda_memory_stats(0);
    CHECK_MSG(after.in_use == before.in_use, "%zu bytes still in use on cuda:0 (%zu before)", after.in_use, before.in_use);
    printf("device memory: %ld cuMemAlloc calls, %ld reuses from the cache, %zu bytes in use at the end\n",
           after.device_allocs, after.reuses, after.in_use);
    free(root);
    return test_finish();
}
