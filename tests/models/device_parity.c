/* device_parity.c - an hf-tiny fixture on a GPU device against the CPU and transformers (see
 * device_parity.h). */
#include "device_parity.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "loader/safetensors.h"
#include "models/model.h"
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

double parity_rel_error(const float *got, const float *ref, int64_t n) {
    double err = 0, scale = 1e-30;
    for (int64_t i = 0; i < n; i++) {
        double e = fabs((double)got[i] - ref[i]);
        if (e > err || isnan(e)) err = isnan(e) ? INFINITY : e;
        if (fabs(ref[i]) > scale) scale = fabs(ref[i]);
    }
    return err / scale;
}

/* The prefill logits against transformers' (ref.safetensors), when the fixture has them. */
static void check_reference(const char *name, const char *dir, const char *device, const device_parity_tol *tol,
                            const float *logits, int n, int64_t vocab) {
    char path[1200];
    snprintf(path, sizeof path, "%s/ref.safetensors", dir);
    mlcc_safetensors *st = safetensors_open(path);
    const mlcc_st_tensor *t = st ? safetensors_find(st, "logits") : NULL;
    if (t && t->ndim == 2 && t->shape[0] == n && t->shape[1] == vocab) {
        float *ref = malloc(sizeof(float) * (size_t)(n * vocab));
        safetensors_read_f32(t, ref);
        double r = parity_rel_error(logits, ref, n * vocab);
        CHECK_MSG(r <= tol->vs_ref, "%s: %s vs transformers: %g", name, device, r);
        printf(", vs transformers %.3g", r);
        free(ref);
    }
    if (st) safetensors_close(st);
}

/* Decode through the KV cache on the device, one token at a time: the worst row against the
 * prefill logits. */
static void check_decode(const char *name, mlcc_model *m, const int32_t *tokens, int n, const float *prefill,
                         const device_parity_tol *tol) {
    int64_t vocab = m->cfg.vocab;
    MLCCKVCache *kv = mlcc_model_create_kv_cache(m, 1, 128);
    CHECK_MSG(kv && mlcc_kv_cache_add_sequence(kv, 0) == 0, "%s: %s", name, mlcc_last_error());
    double worst = 0;
    for (int i = 0; kv && i < n; i++) {
        MLCCNDArray *step = NULL;
        int rc = mlcc_model_step(m, kv, (int64_t[]){0}, (int64_t[]){1}, 1, tokens + i, NULL, 0, &step);
        CHECK_MSG(rc == 0, "%s: decode %d: %s", name, i, mlcc_last_error());
        if (rc) break;
        double e = parity_rel_error(step->dl.data, prefill + (int64_t)i * vocab, vocab);
        if (e > worst) worst = e;
        mlcc_ndarray_release(step);
    }
    CHECK_MSG(worst <= tol->decode, "%s: decode vs prefill: %g", name, worst);
    printf(", decode vs prefill %.3g", worst);
    if (kv) mlcc_kv_cache_release(kv);
}

void device_parity_check(const char *name, const char *dir, const char *device, const device_parity_tol *tol) {
    char path[1200];
    snprintf(path, sizeof path, "%s/meta.json", dir);
    json_t *meta = mlcc_json_load_file(path);
    CHECK_MSG(meta != NULL, "%s: %s", name, mlcc_last_error());
    if (!meta) return;
    int32_t tokens[MAX_TOKENS], greedy[GREEDY];
    int n = read_ids(json_object_get(meta, "tokens"), tokens, MAX_TOKENS);
    int ng = read_ids(json_object_get(meta, "greedy_out"), greedy, GREEDY);
    json_decref(meta);
    if (n <= 0 || ng <= 0) return;
    mlcc_model_options o = {.max_seq = 128, .logit_rows = 128, .quantization = tol->quant};
    mlcc_model *cpu = mlcc_model_open(dir, &o);
    o.device = device;
    mlcc_model *gpu = mlcc_model_open(dir, &o);
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
        double e = parity_rel_error(lg->dl.data, lc->dl.data, n * vocab);
        CHECK_MSG(e <= tol->vs_cpu, "%s: %s vs cpu prefill logits: %g", name, device, e);
        printf("%s %s: prefill of %d tokens: %s vs cpu %.3g", name, tol->quant ? tol->quant : "f32", n, device, e);
        check_reference(name, dir, device, tol, lg->dl.data, n, vocab);
        check_decode(name, gpu, tokens, n, lg->dl.data, tol);
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
