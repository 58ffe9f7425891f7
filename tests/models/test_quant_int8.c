/* test_quant_int8.c - the quantized matmuls' two activation paths on the GGUF fixtures
 * (testdata/gguf q-llama-q4_0 / q-llama-q8_0: 50 prompt tokens, float64 reference logits):
 *   - every fused dequantize + matmul kernel is tensorized onto the GEMM_NT_Q intrinsic of the
 *     path asked for (MLCC_QUANT_ACT=f32 / int8; the library metadata names it);
 *   - scheduled == unscheduled: the exact path's logits equal, relative 1e-5, those of the
 *     library built with MLCC_DEFAULT_SCHEDULE=0 (scalar loops);
 *   - the int8 path (activations quantized per 32-block, as llama.cpp does): max |logits - ref|
 *     / max |ref| <= 5e-2 (measured 2.6e-2 on Q4_0, 2.9e-2 on Q8_0: each matmul adds ~0.5% rms
 *     relative error on these 64-wide random layers; llama.cpp's int8 activations give 2.7e-2 /
 *     2.2e-2 on the same files, bench/int8_error.py) and the top-1 token equal to the
 *     reference's on at least 90% of the rows whose top-2 gap is above 2% of max |logit|;
 *   - decode over the KV cache gives the int8 path's prefill logits (relative 1e-4).
 * MLCC_TEST_MODEL=q4_0|q8_0 runs one fixture. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loader/safetensors.h"
#include "models/model.h"
#include "support/error.h"
#include "support/json.h"
#include "logits_check.h"
#include "test.h"

enum { NTOK = 50 };

/* Counts kernels tensorized onto a quantized intrinsic whose name ends in `suffix`. */
static int count_tensorized(mlcc_model *m, const char *suffix, int *fused) {
    json_t *meta = json_loads(mlcc_vm_metadata(m->vm), 0, NULL), *k;
    int n = 0;
    size_t i;
    *fused = 0;
    json_array_foreach(json_object_get(meta, "kernels"), i, k) {
        const char *name = json_string_value(json_object_get(k, "name"));
        const char *origin = json_string_value(json_object_get(k, "origin"));
        if (!name || !strstr(name, "dequantize") || !strstr(name, "matmul")) continue;
        (*fused)++;
        const char *t = origin ? strstr(origin, "mlcc_k_gemm_nt_q") : NULL;
        if (t && strstr(t, suffix)) n++;
    }
    json_decref(meta);
    return n;
}

/* Opens file with the path `act` (and the default schedule on or off), prefills the tokens. */
static MLCCNDArray *run(const char *file, const char *act, int scheduled, const int32_t *ids, mlcc_model **keep) {
    setenv("MLCC_QUANT_ACT", act, 1);
    setenv("MLCC_DEFAULT_SCHEDULE", scheduled ? "1" : "0", 1);
    mlcc_model_options opt = {.max_seq = 64, .prefill_chunk = 64, .logit_rows = 64};
    mlcc_model *m = mlcc_model_open(file, &opt);
    unsetenv("MLCC_DEFAULT_SCHEDULE");
    CHECK_MSG(m != NULL, "%s: %s", file, mlcc_last_error());
    if (!m) return NULL;
    if (scheduled) {
        int fused = 0, n = count_tensorized(m, strcmp(act, "int8") ? "_a32" : "_a8", &fused);
        CHECK_MSG(fused > 0 && n == fused, "%s %s: %d of %d fused matmul kernels tensorized", file, act, n, fused);
    }
    MLCCNDArray *logits = NULL;
    CHECK_MSG(mlcc_model_prefill(m, ids, NTOK, &logits) == 0, "%s: %s", file, mlcc_last_error());
    if (keep) *keep = m;
    else mlcc_model_free(m);
    return logits;
}

static double max_rel(const float *a, const float *b, int64_t n) {
    double md = 0, mr = 0;
    for (int64_t i = 0; i < n; i++) md = fmax(md, fabs((double)a[i] - b[i])), mr = fmax(mr, fabs((double)b[i]));
    return md / mr;
}

static int64_t argmax(const float *row, int64_t n, float *second) {
    int64_t best = 0;
    for (int64_t v = 1; v < n; v++)
        if (row[v] > row[best]) best = v;
    float s = -INFINITY;
    for (int64_t v = 0; v < n; v++)
        if (v != best && row[v] > s) s = row[v];
    *second = s;
    return best;
}

static void check_file(const char *name) {
    char rel[128], refrel[128];
    snprintf(rel, sizeof rel, "gguf/%s.gguf", name);
    snprintf(refrel, sizeof refrel, "gguf/%s.ref.safetensors", name);
    char *file = test_data_path(rel), *refpath = test_data_path(refrel);
    /* the reference rows are the logits after each token of the meta's prompt */
    char metarel[128];
    snprintf(metarel, sizeof metarel, "gguf/%s.meta.json", name);
    char *metapath = test_data_path(metarel);
    json_t *meta = json_load_file(metapath, 0, NULL);
    json_t *toks = meta ? json_object_get(meta, "tokens") : NULL;
    CHECK_MSG(toks && json_array_size(toks) >= NTOK, "%s: no tokens", metapath);
    if (!toks || json_array_size(toks) < NTOK) goto out;
    int32_t ids[NTOK];
    for (int i = 0; i < NTOK; i++) ids[i] = (int32_t)json_integer_value(json_array_get(toks, (size_t)i));
    mlcc_model *m8 = NULL;
    MLCCNDArray *exact = run(file, "f32", 1, ids, NULL), *plain = run(file, "f32", 0, ids, NULL);
    MLCCNDArray *i8 = run(file, "int8", 1, ids, &m8);
    if (!exact || !plain || !i8 || !m8) goto done;
    int64_t vocab = i8->dl.shape[1], n = NTOK * vocab;
    double d = max_rel(exact->dl.data, plain->dl.data, n);
    printf("%s: scheduled exact path vs unscheduled: %.3g\n", name, d);
    CHECK_MSG(d <= 1e-5, "%s: the scheduled exact path differs from the unscheduled kernels by %g", name, d);
    float *ref = test_read_ref_logits(refpath, NTOK, vocab);
    if (ref) {
        double e = max_rel(i8->dl.data, ref, n), ee = max_rel(exact->dl.data, ref, n);
        int rows = 0, agree = 0;
        for (int i = 0; i < NTOK; i++) {
            float s2, g2, mx = 0;
            for (int64_t v = 0; v < vocab; v++) mx = fmaxf(mx, fabsf(ref[i * vocab + v]));
            int64_t want = argmax(ref + i * vocab, vocab, &s2);
            if (ref[i * vocab + want] - s2 <= 0.02f * mx) continue;
            rows++;
            agree += argmax((const float *)i8->dl.data + i * vocab, vocab, &g2) == want;
        }
        printf("%s: int8 path vs reference %.3g (exact path %.3g), top-1 %d/%d\n", name, e, ee, agree, rows);
        CHECK_MSG(e <= 5e-2, "%s: int8 path differs from the reference by %g", name, e);
        CHECK_MSG(agree >= 0.9 * rows, "%s: int8 path top-1 agrees on %d of %d rows", name, agree, rows);
        free(ref);
    }
    /* decode through the KV cache on the int8 library gives its prefill rows */
    mlcc_model_kv kv;
    CHECK_MSG(mlcc_model_kv_init(m8, &kv) == 0, "%s", mlcc_last_error());
    float *row = malloc(sizeof(float) * (size_t)vocab);
    double md = 0, mr = 0;
    for (int i = 0; i < 8 && mlcc_model_forward(m8, &kv, &ids[i], 1, row) == 0; i++)
        for (int64_t v = 0; v < vocab; v++) {
            float want = ((const float *)i8->dl.data)[i * vocab + v];
            md = fmax(md, fabs(row[v] - want)), mr = fmax(mr, fabs(want));
        }
    CHECK_MSG(mr > 0 && md <= 1e-4 * mr, "%s int8: decode differs from prefill by %g", name, md / mr);
    free(row);
    mlcc_model_kv_free(&kv);
done:
    mlcc_ndarray_release(exact), mlcc_ndarray_release(plain), mlcc_ndarray_release(i8);
    if (m8) mlcc_model_free(m8);
out:
    if (meta) json_decref(meta);
    free(file), free(refpath), free(metapath);
}

int main(void) {
    const char *only = getenv("MLCC_TEST_MODEL");
    if (!only || !strcmp(only, "q4_0")) check_file("q-llama-q4_0");
    if (!only || !strcmp(only, "q8_0")) check_file("q-llama-q8_0");
    unsetenv("MLCC_QUANT_ACT");
    return test_finish();
}
