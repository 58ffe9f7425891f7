/* test_native_scheme.c - a float checkpoint runs with its weights as stored on the CPU: every
 * matrix F16 -> q0f16, BF16 -> q0bf16, F32 -> q0f32 (GGUF and safetensors alike; Q4_0 / Q8_0
 * GGUF files keep their ggml schemes); --quantization overrides; a GPU device keeps float32
 * for float checkpoints. The weights themselves are checked bitwise against the file (a
 * widening of what is stored, so f16/bf16 values must come back exactly; combined q/k/v and
 * gate/up matrices part by part). Numerical parity of
 * these models with their fixtures is test_hf_tiny's. */
#include <string.h>

#include "loader/safetensors.h"
#include "models/fuse_proj.h"
#include "models/model.h"
#include "support/error.h"
#include "test.h"

/* The scheme the model at `rel` gets with `quant` / `device` (NULL: defaults), or "(error)". */
static const char *scheme_of(const char *rel, const char *quant, const char *device) {
    static char name[64];
    char *path = test_data_path(rel);
    mlcc_model_options opt = {.max_seq = 32, .quantization = quant, .device = device};
    mlcc_model *m = mlcc_model_load_uncompiled(path, &opt);
    snprintf(name, sizeof name, "%s", m ? m->quant->name : "(error)");
    if (!m) printf("note: %s: %s\n", rel, mlcc_last_error());
    mlcc_model_free(m);
    free(path);
    return name;
}

/* Rows [row, row + t's rows) of bf16 matrix p (of m) hold tensor t's values bit for bit. */
static void check_rows(const model_param *p, const MLCCNDArray *w, int64_t row, const mlcc_st_tensor *t, const char *name) {
    CHECK_EQ_INT(p->dtype.code, DT_BFLOAT);
    CHECK_EQ_INT(t->dtype, ST_BF16);
    if (t->ndim != 2 || t->shape[1] != p->shape[1] || row + t->shape[0] > p->shape[0]) {
        CHECK_MSG(0, "%s does not fit rows %lld.. of %s", name, (long long)row, p->name);
        return;
    }
    size_t n = (size_t)(t->shape[0] * t->shape[1]);
    const uint16_t *got = (const uint16_t *)w->dl.data + (size_t)(row * p->shape[1]);
    float *want = malloc(sizeof(float) * n);
    CHECK(safetensors_read_f32(t, want) == 0);
    size_t bad = 0;
    for (size_t k = 0; k < n; k++) bad += mlcc_bf16_to_f32(got[k]) != want[k];
    CHECK_MSG(bad == 0, "%s: %zu of %zu values differ", name, bad, n);
    free(want);
}

/* With no quantization asked for, the bf16 checkpoint's matrices are its bf16 values bit for
 * bit (q/k/v and gate/up combined into one matrix: each part's rows in place, fuse_proj.h). */
static void check_bf16_values(void) {
    char *path = test_data_path("hf-tiny/llama-bf16");
    mlcc_model_options opt = {.max_seq = 32};
    mlcc_model *m = mlcc_model_load_uncompiled(path, &opt);
    mlcc_safetensors *st = safetensors_open(path);
    CHECK_MSG(m && st, "%s", mlcc_last_error());
    int matrices = 0;
    for (int i = 0; m && st && i < m->params.n; i++) {
        const model_param *p = &m->params.items[i];
        if (p->ndim != 2) continue;
        fuse_part parts[FUSE_PROJ_MAX_PARTS];
        int nparts = p->combined ? fuse_proj_parts(&m->cfg, p->source, parts) : 0;
        if (!nparts) {
            snprintf(parts[0].name, sizeof parts[0].name, "%s", p->source);
            nparts = 1;
        }
        for (int k = 0, row = 0; k < nparts; k++) {
            const mlcc_st_tensor *t = safetensors_find(st, parts[k].name);
            if (!t) continue;
            check_rows(p, m->weights[i], row, t, parts[k].name);
            row += (int)t->shape[0];
            matrices++;
        }
    }
    CHECK(matrices >= 7);
    if (st) safetensors_close(st);
    mlcc_model_free(m);
    free(path);
}

int main(void) {
    CHECK_EQ_STR(scheme_of("hf-tiny/llama-bf16", NULL, NULL), "q0bf16");
    CHECK_EQ_STR(scheme_of("hf-tiny/llama-bf16", "q0f32", NULL), "q0f32");
    CHECK_EQ_STR(scheme_of("hf-tiny/llama-bf16", "q0f16", "cpu"), "q0f16");
    CHECK_EQ_STR(scheme_of("hf-tiny/llama-bf16", NULL, "cuda"), "q0f32");
    CHECK_EQ_STR(scheme_of("hf-tiny/llama", NULL, NULL), "q0f32");
    CHECK_EQ_STR(scheme_of("gguf/q-llama-f16.gguf", NULL, NULL), "q0f16");
    CHECK_EQ_STR(scheme_of("gguf/q-llama-f16.gguf", NULL, "cuda"), "q0f32");
    CHECK_EQ_STR(scheme_of("gguf/q-llama-f16.gguf", "q4f16_1", NULL), "q4f16_1");
    CHECK_EQ_STR(scheme_of("gguf/q-llama-f32.gguf", NULL, NULL), "q0f32");
    CHECK_EQ_STR(scheme_of("gguf/q-llama-q4_0.gguf", NULL, NULL), "ggml_q4_0");
    check_bf16_values();
    return test_finish();
}
