/* test_awq.c - AutoAWQ checkpoints (scheme q4f16_awq, quant/awq.h, docs/quantization.md).
 *
 * No AWQ checkpoint is among the fixtures, so this test writes them: from the float32 weights
 * of an hf-tiny fixture, every decoder-layer matrix is quantized by a quantizer written here
 * (AutoAWQ's pseudo_quantize_tensor with zero_point: per group of G inputs scale = (max - min)
 * / 15 rounded to float16, zero = clamp(-round(min / scale), 0, 15), q = clamp(round(w /
 * scale) + zero, 0, 15)) and packed as AutoAWQ's GEMM format (qweight int32 [in, out / 8] with
 * the interleaved nibble order {0, 2, 4, 6, 1, 3, 5, 7}, qzeros int32 [in / G, out / 8] packed
 * the same way, scales float16 [in / G, out]); every other tensor is stored float16, as
 * AutoAWQ saves a model, and config.json gets quantization_config {quant_method "awq", bits 4,
 * group_size G, zero_point true, version "gemm"}. Beside it goes the float32 checkpoint of the
 * values that AWQ checkpoint stands for ((q - zero) * scale, exact in float32). Then:
 *   - opened as stored, the checkpoint runs as q4f16_awq (G = 128) / q4f16_awq_g64, its
 *     matmuls fused with the dequantize and tensorized onto the AWQ intrinsic;
 *   - the repack is lossless: quant_unpack of the loaded q_weight / q_scale gives exactly the
 *     test's dequantized values;
 *   - logits equal the float32 run of the dequantized checkpoint within 1e-4 relative, and
 *     decode through the KV cache gives the prefill's logits (1e-4); with int8 activations
 *     (MLCC_QUANT_ACT=int8, the default on AVX-512 VNNI hosts) the a8 kernels are used, within
 *     5e-2 of max |logit| of the exact path with the same top-1 on 90% of the rows;
 *   - against the fixture's float64 reference (the unquantized weights): mean KL(ref || awq)
 *     over the 50 rows at most 0.5 and top-1 agreement on at least 50% of the rows whose
 *     top-2 gap is above 2% of max |logit| (4-bit weights on uniform random weights and tiny
 *     logit gaps; measured: see the printed lines and docs/quantization.md);
 *   - opened with quantization q0f32, an AWQ checkpoint is dequantized at load: the logits of
 *     the float32 checkpoint within 1e-5;
 *   - converted (weight_store_write) as q4f16_awq, the folder gives the same logits bit for bit;
 *   - a float checkpoint asked for q4f16_awq (round to nearest, min-max zero points) equals the
 *     float32 run with its weights replaced by quant_unpack's values (1e-4);
 *   - malformed checkpoints are errors naming the field or tensor: bits 8, version "gemv", a
 *     missing qzeros, a qweight of the wrong shape, float32 scales.
 * MLCC_TEST_KEEP=1 keeps the written checkpoints (the path is printed). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "loader/safetensors.h"
#include "models/model.h"
#include "models/weight_store.h"
#include "quant/scheme.h"
#include "support/error.h"
#include "support/file.h"
#include "support/json.h"
#include "logits_check.h"
#include "tensor_util.h"
#include "test.h"

enum { NTOK = 50 };

typedef enum { FAULT_NONE, FAULT_BITS8, FAULT_GEMV, FAULT_NO_QZEROS, FAULT_SHAPE, FAULT_SCALES_F32 } fault;

static const char *const victim = "model.layers.1.mlp.down_proj";

/* ---- the test's own AutoAWQ writer ---- */

static const int awq_order[8] = {0, 2, 4, 6, 1, 3, 5, 7};

typedef struct tensor_out {
    char name[256];
    mlcc_st_dtype dtype;
    int ndim;
    int64_t shape[2];
    void *data;
} tensor_out;

typedef struct writer {
    tensor_out *awq, *flt; /* the AWQ checkpoint's tensors, the dequantized float32 one's */
    int nawq, nflt;
} writer;

static tensor_out *add(tensor_out **list, int *n, const char *name, mlcc_st_dtype dt, int ndim, int64_t d0, int64_t d1) {
    *list = realloc(*list, sizeof **list * (size_t)(*n + 1));
    tensor_out *t = &(*list)[(*n)++];
    snprintf(t->name, sizeof t->name, "%s", name);
    t->dtype = dt, t->ndim = ndim, t->shape[0] = d0, t->shape[1] = d1;
    t->data = calloc((size_t)(d0 * (ndim == 2 ? d1 : 1)), safetensors_dtype_size(dt));
    return t;
}

static float f16_round(float x) {
    return mlcc_f16_to_f32(mlcc_f32_to_f16(x));
}

/* One matrix W [out, in] as AutoAWQ stores it, and its dequantized values into deq [out, in]. */
static void quantize_layer(writer *w, const char *prefix, const float *W, int64_t out, int64_t in, int G, fault f, float *deq) {
    int64_t ng = in / G;
    int32_t *q = malloc(sizeof(int32_t) * (size_t)(out * in));
    int32_t *zero = malloc(sizeof(int32_t) * (size_t)(out * ng));
    float *scale = malloc(sizeof(float) * (size_t)(out * ng));
    for (int64_t o = 0; o < out; o++)
        for (int64_t g = 0; g < ng; g++) {
            const float *x = W + o * in + g * G;
            float mx = x[0], mn = x[0];
            for (int i = 1; i < G; i++) mx = fmaxf(mx, x[i]), mn = fminf(mn, x[i]);
            float s = f16_round(fmaxf(mx - mn, 1e-5f) / 15.0f);
            int z = (int)fminf(fmaxf(-rintf(mn / s), 0.0f), 15.0f);
            scale[o * ng + g] = s, zero[o * ng + g] = z;
            for (int i = 0; i < G; i++) {
                int v = (int)rintf(x[i] / s) + z;
                v = v < 0 ? 0 : v > 15 ? 15 : v;
                q[o * in + g * G + i] = v;
                deq[o * in + g * G + i] = (float)(v - z) * s;
            }
        }
    char name[256];
    int64_t qrows = f == FAULT_SHAPE && !strcmp(prefix, victim) ? in - 8 : in;
    snprintf(name, sizeof name, "%s.qweight", prefix);
    uint32_t *qw = add(&w->awq, &w->nawq, name, ST_I32, 2, qrows, out / 8)->data;
    for (int64_t j = 0; j < qrows; j++)
        for (int64_t c = 0; c < out / 8; c++)
            for (int p = 0; p < 8; p++) qw[j * (out / 8) + c] |= (uint32_t)q[(8 * c + awq_order[p]) * in + j] << (4 * p);
    if (!(f == FAULT_NO_QZEROS && !strcmp(prefix, victim))) {
        snprintf(name, sizeof name, "%s.qzeros", prefix);
        uint32_t *qz = add(&w->awq, &w->nawq, name, ST_I32, 2, ng, out / 8)->data;
        for (int64_t g = 0; g < ng; g++)
            for (int64_t c = 0; c < out / 8; c++)
                for (int p = 0; p < 8; p++) qz[g * (out / 8) + c] |= (uint32_t)zero[(8 * c + awq_order[p]) * ng + g] << (4 * p);
    }
    snprintf(name, sizeof name, "%s.scales", prefix);
    if (f == FAULT_SCALES_F32 && !strcmp(prefix, victim)) {
        float *sc = add(&w->awq, &w->nawq, name, ST_F32, 2, ng, out)->data;
        for (int64_t g = 0; g < ng; g++)
            for (int64_t o = 0; o < out; o++) sc[g * out + o] = scale[o * ng + g];
    } else {
        uint16_t *sc = add(&w->awq, &w->nawq, name, ST_F16, 2, ng, out)->data;
        for (int64_t g = 0; g < ng; g++)
            for (int64_t o = 0; o < out; o++) sc[g * out + o] = mlcc_f32_to_f16(scale[o * ng + g]);
    }
    free(q), free(zero), free(scale);
}

static int is_layer_matrix(const mlcc_st_tensor *t) {
    size_t n = strlen(t->name);
    return t->ndim == 2 && !strncmp(t->name, "model.layers.", 13) && n > 7 && !strcmp(t->name + n - 7, ".weight");
}

static int write_st(const char *dir, const tensor_out *ts, int n) {
    mlcc_st_write_tensor *w = calloc((size_t)n, sizeof *w);
    for (int i = 0; i < n; i++) w[i] = (mlcc_st_write_tensor){ts[i].name, ts[i].dtype, ts[i].ndim, ts[i].shape, ts[i].data};
    char *path = mlcc_path_join(dir, "model.safetensors");
    int rc = safetensors_write(path, w, (size_t)n, NULL);
    free(path), free(w);
    return rc;
}

static int write_config(const char *src, const char *dir, int G, fault f) {
    char *in = mlcc_path_join(src, "config.json"), *out = mlcc_path_join(dir, "config.json");
    json_t *j = mlcc_json_load_file(in);
    int rc = -1;
    if (j) {
        if (G) {
            json_t *qc = json_pack("{s:s, s:i, s:i, s:b, s:s, s:n}", "quant_method", "awq", "bits", f == FAULT_BITS8 ? 8 : 4,
                                   "group_size", G, "zero_point", 1, "version", f == FAULT_GEMV ? "gemv" : "gemm",
                                   "modules_to_not_convert");
            json_object_set_new(j, "quantization_config", qc);
        }
        rc = json_dump_file(j, out, JSON_INDENT(2));
        json_decref(j);
    }
    free(in), free(out);
    return rc;
}

/* Writes the AWQ checkpoint of fixture `src` into awq_dir and, unless NULL, the dequantized
 * float32 checkpoint into flt_dir. */
static int write_checkpoints(const char *src, int G, fault f, const char *awq_dir, const char *flt_dir) {
    mlcc_safetensors *st = safetensors_open(src);
    CHECK_MSG(st != NULL, "%s", mlcc_last_error());
    if (!st) return -1;
    writer w = {0};
    for (size_t i = 0; i < safetensors_count(st); i++) {
        const mlcc_st_tensor *t = safetensors_at(st, i);
        int64_t d0 = t->shape[0], d1 = t->ndim == 2 ? t->shape[1] : 1, n = d0 * d1;
        float *x = malloc(sizeof(float) * (size_t)n);
        safetensors_read_f32(t, x);
        float *deq = add(&w.flt, &w.nflt, t->name, ST_F32, t->ndim, d0, d1)->data;
        if (is_layer_matrix(t)) {
            char prefix[200];
            snprintf(prefix, sizeof prefix, "%.*s", (int)strlen(t->name) - 7, t->name);
            quantize_layer(&w, prefix, x, d0, d1, G, f, deq);
        } else {
            uint16_t *h = add(&w.awq, &w.nawq, t->name, ST_F16, t->ndim, d0, d1)->data;
            for (int64_t k = 0; k < n; k++) h[k] = mlcc_f32_to_f16(x[k]), deq[k] = mlcc_f16_to_f32(h[k]);
        }
        free(x);
    }
    safetensors_close(st);
    int rc = mlcc_mkdirs(awq_dir) || write_config(src, awq_dir, G, f) || write_st(awq_dir, w.awq, w.nawq);
    if (rc == 0 && flt_dir) rc = mlcc_mkdirs(flt_dir) || write_config(src, flt_dir, 0, f) || write_st(flt_dir, w.flt, w.nflt);
    for (int i = 0; i < w.nawq; i++) free(w.awq[i].data);
    for (int i = 0; i < w.nflt; i++) free(w.flt[i].data);
    free(w.awq), free(w.flt);
    CHECK_MSG(rc == 0, "writing the checkpoints: %s", mlcc_last_error());
    return rc;
}

/* ---- checks ---- */

static double max_rel_diff(const MLCCNDArray *a, const MLCCNDArray *b) {
    return a && b ? test_rel_diff(a->dl.data, b->dl.data, (size_t)(a->dl.shape[0] * a->dl.shape[1])) : INFINITY;
}

static void check_reference(const char *label, const char *fixture, const float *got, int64_t vocab) {
    char refp[1200];
    snprintf(refp, sizeof refp, "%s/ref.safetensors", fixture);
    float *ref = test_read_ref_logits(refp, NTOK, vocab);
    if (!ref) return;
    test_agreement a = test_compare_logits(ref, got, NTOK, vocab, 0.02);
    printf("%s vs the float64 reference: top-1 %d/%d, mean KL %.3g\n", label, a.agree, a.rows, a.mean_kl);
    CHECK_MSG(a.mean_kl <= 0.5, "%s: mean KL %g above 0.5", label, a.mean_kl);
    CHECK_MSG(2 * a.agree >= a.rows, "%s: top-1 agrees on %d of %d rows", label, a.agree, a.rows);
    free(ref);
}

/* The library fuses dequantize into matmul and tensorizes onto the AWQ intrinsic. */
static void check_kernels(const char *label, mlcc_model *m, int G, const char *path) {
    json_t *meta = json_loads(mlcc_vm_metadata(m->vm), 0, NULL), *k;
    char want[64];
    snprintf(want, sizeof want, "mlcc_k_gemm_nt_q4awq_g%d_f16_%s", G, path);
    int fused = 0, tensorized = 0;
    size_t i;
    json_array_foreach(json_object_get(meta, "kernels"), i, k) {
        const char *name = json_string_value(json_object_get(k, "name")), *origin = json_string_value(json_object_get(k, "origin"));
        if (name && strstr(name, "dequantize") && strstr(name, "matmul")) fused++;
        if (origin && strstr(origin, want)) tensorized++;
    }
    CHECK_MSG(fused > 0, "%s: no fused dequantize + matmul kernel", label);
    CHECK_MSG(tensorized > 0, "%s: no kernel tensorized onto %s", label, want);
    json_decref(meta);
}

/* quant_unpack of every loaded pair equals the float32 checkpoint's values exactly. */
static void check_lossless(const char *label, const char *awq_dir, const char *flt_dir) {
    mlcc_model *a = mlcc_model_load_uncompiled(awq_dir, NULL);
    mlcc_model *f = mlcc_model_load_uncompiled(flt_dir, &(mlcc_model_options){.quantization = "q0f32"});
    CHECK_MSG(a && f, "%s: %s", label, mlcc_last_error());
    int pairs = 0, bad = 0;
    for (int i = 0; a && f && i < a->params.n; i++) {
        const model_param *p = &a->params.items[i];
        if (p->role != PARAM_Q_WEIGHT) continue;
        int64_t n = p->source_shape[0] * p->source_shape[1];
        float *w = malloc(sizeof(float) * (size_t)n);
        quant_unpack(a->quant, a->weights[i]->dl.data, a->weights[p->partner]->dl.data, p->source_shape[0], p->source_shape[1], w);
        for (int k = 0; k < f->params.n; k++)
            if (!strcmp(f->params.items[k].name, p->source)) {
                pairs++;
                bad += memcmp(w, f->weights[k]->dl.data, sizeof(float) * (size_t)n) != 0;
            }
        free(w);
    }
    CHECK_MSG(pairs > 4 && bad == 0, "%s: %d of %d repacked layers differ from the AWQ values", label, bad, pairs);
    mlcc_model_free(a);
    mlcc_model_free(f);
}

static void check_decode(const char *label, mlcc_model *m, const int32_t *ids, const MLCCNDArray *logits) {
    int64_t vocab = m->cfg.vocab;
    mlcc_model_kv kv;
    CHECK(mlcc_model_kv_init(m, &kv) == 0);
    float *row = malloc(sizeof(float) * (size_t)vocab);
    double md = 0, mr = 0;
    for (int i = 0; i < 8 && mlcc_model_forward(m, &kv, &ids[i], 1, row) == 0; i++)
        for (int64_t v = 0; v < vocab; v++) {
            float want = ((const float *)logits->dl.data)[i * vocab + v];
            md = fmax(md, fabs(row[v] - want)), mr = fmax(mr, fabs(want));
        }
    CHECK_MSG(md <= 1e-4 * mr, "%s: decode differs from prefill by %g", label, md / mr);
    free(row);
    mlcc_model_kv_free(&kv);
}

static void check_converted(const char *label, const char *awq_dir, const char *out, const int32_t *ids, const MLCCNDArray *want) {
    mlcc_model *m = mlcc_model_load_uncompiled(awq_dir, NULL);
    CHECK_MSG(m != NULL, "%s: %s", label, mlcc_last_error());
    if (!m) return;
    weight_store_options w = {.quiet = 1};
    int rc = weight_store_write(m, awq_dir, out, &w);
    CHECK_MSG(rc == 0, "%s: convert: %s", label, mlcc_last_error());
    mlcc_model_free(m);
    if (rc) return;
    mlcc_model *c = test_open_model(out, NULL);
    MLCCNDArray *got = test_prefill_logits(c, ids, NTOK);
    CHECK_MSG(c && !strcmp(c->quant->name, "q4f16_awq"), "%s: converted scheme %s", label, c ? c->quant->name : "-");
    CHECK_MSG(got && want && !memcmp(got->dl.data, want->dl.data, mlcc_ndarray_nbytes(want)),
              "%s: the converted folder's logits differ", label);
    mlcc_ndarray_release(got);
    mlcc_model_free(c);
}

/* The int8-activation path (MLCC_QUANT_ACT=int8, the default for 4 bits on AVX-512 VNNI hosts):
 * its own kernels, within 5e-2 of max |logit| of the exact path (the activations' rounding, as
 * for q4f16_1: docs/quantization.md), the same top-1 on 90% of the rows, decode = prefill. */
static void check_int8(const char *label, const char *awq_dir, const int32_t *ids, const MLCCNDArray *exact, int G) {
    setenv("MLCC_QUANT_ACT", "int8", 1);
    mlcc_model *m = test_open_model(awq_dir, NULL);
    MLCCNDArray *got = test_prefill_logits(m, ids, NTOK);
    if (m) check_kernels(label, m, G, "a8");
    double d = max_rel_diff(got, exact);
    int agree = 0;
    for (int r = 0; got && exact && r < NTOK; r++) {
        const float *a = (const float *)exact->dl.data + r * m->cfg.vocab, *b = (const float *)got->dl.data + r * m->cfg.vocab;
        agree += test_argmax(a, m->cfg.vocab) == test_argmax(b, m->cfg.vocab);
    }
    printf("%s int8 activations vs float activations: %.3g of max |logit|, top-1 %d/%d\n", label, d, agree, NTOK);
    CHECK_MSG(d <= 5e-2, "%s int8: differs from the float path by %g", label, d);
    CHECK_MSG(10 * agree >= 9 * NTOK, "%s int8: top-1 agrees on %d of %d rows", label, agree, NTOK);
    if (m && got) check_decode(label, m, ids, got);
    mlcc_ndarray_release(got);
    mlcc_model_free(m);
    setenv("MLCC_QUANT_ACT", "f32", 1);
}

/* One fixture with groups of G: the checks of the file comment. */
static void check_fixture(const char *name, int G, const char *scheme, const char *tmp, int more) {
    char *fixture = test_data_path("hf-tiny"), src[900], metap[1000], awq_dir[1100], flt_dir[1100], conv[1100], label[128];
    snprintf(src, sizeof src, "%s/%s", fixture, name);
    snprintf(metap, sizeof metap, "%s/meta.json", src);
    snprintf(awq_dir, sizeof awq_dir, "%s/%s-awq", tmp, name);
    snprintf(flt_dir, sizeof flt_dir, "%s/%s-deq", tmp, name);
    snprintf(conv, sizeof conv, "%s/%s-converted", tmp, name);
    snprintf(label, sizeof label, "%s %s", name, scheme);
    free(fixture);
    int32_t ids[NTOK];
    CHECK_MSG(test_read_fixture_tokens(metap, ids, NTOK) == NTOK, "%s: 50 tokens expected", metap);
    if (write_checkpoints(src, G, FAULT_NONE, awq_dir, flt_dir)) return;
    check_lossless(label, awq_dir, flt_dir);
    mlcc_model *m = test_open_model(awq_dir, NULL), *f = test_open_model(flt_dir, "q0f32");
    if (m) CHECK_EQ_STR(m->quant->name, scheme);
    MLCCNDArray *got = test_prefill_logits(m, ids, NTOK), *want = test_prefill_logits(f, ids, NTOK);
    double d = max_rel_diff(got, want);
    printf("%s vs float32 with the dequantized weights: %.3g relative\n", label, d);
    CHECK_MSG(d <= 1e-4, "%s: differs from float32 with the dequantized weights by %g", label, d);
    if (m) check_kernels(label, m, G, "a32");
    if (m && got) {
        check_reference(label, src, got->dl.data, m->cfg.vocab);
        check_decode(label, m, ids, got);
    }
    mlcc_model_free(m);
    mlcc_model_free(f);
    if (more) check_int8(label, awq_dir, ids, want, G);
    if (more) {
        mlcc_model *deq = test_open_model(awq_dir, "q0f32"); /* dequantized at load */
        MLCCNDArray *dl = test_prefill_logits(deq, ids, NTOK);
        double dd = max_rel_diff(dl, want);
        CHECK_MSG(dd <= 1e-5, "%s as q0f32: differs from the float32 checkpoint by %g", label, dd);
        mlcc_ndarray_release(dl);
        mlcc_model_free(deq);
        check_converted(label, awq_dir, conv, ids, got);
    }
    mlcc_ndarray_release(got);
    mlcc_ndarray_release(want);
}

/* A float checkpoint quantized to q4f16_awq at load (round to nearest) computes what
 * quant_unpack says. */
static void check_rtn(const char *name) {
    char *fixture = test_data_path("hf-tiny"), src[900], metap[1000];
    snprintf(src, sizeof src, "%s/%s", fixture, name);
    snprintf(metap, sizeof metap, "%s/meta.json", src);
    free(fixture);
    int32_t ids[NTOK];
    CHECK(test_read_fixture_tokens(metap, ids, NTOK) == NTOK);
    mlcc_model *q = test_open_model(src, "q4f16_awq"), *f = test_open_model(src, "q0f32");
    if (q && f) {
        for (int i = 0; i < f->params.n; i++) {
            const model_param *p = &f->params.items[i];
            float *w = f->weights[i]->dl.data;
            if (p->ndim != 2) continue;
            int64_t n = p->shape[0] * p->shape[1];
            if (strncmp(p->name, "model.layers.", 13)) {
                for (int64_t k = 0; k < n; k++) w[k] = f16_round(w[k]); /* embedding / LM head: float16 */
                continue;
            }
            for (int k = 0; k < q->params.n; k++) {
                const model_param *qp = &q->params.items[k];
                if (qp->role == PARAM_Q_WEIGHT && !strcmp(qp->source, p->name))
                    quant_unpack(q->quant, q->weights[k]->dl.data, q->weights[qp->partner]->dl.data, p->shape[0], p->shape[1], w);
            }
        }
    }
    MLCCNDArray *got = test_prefill_logits(q, ids, NTOK), *want = test_prefill_logits(f, ids, NTOK);
    double d = max_rel_diff(got, want);
    printf("%s q4f16_awq from float32 (round to nearest) vs its dequantized values: %.3g relative\n", name, d);
    CHECK_MSG(d <= 1e-4, "%s: q4f16_awq from float32 differs from its dequantized values by %g", name, d);
    mlcc_ndarray_release(got);
    mlcc_ndarray_release(want);
    mlcc_model_free(q);
    mlcc_model_free(f);
}

static void check_fault(const char *tmp, fault f, const char *want1, const char *want2) {
    char *fixture = test_data_path("hf-tiny/llama3-rope"), dir[1100];
    snprintf(dir, sizeof dir, "%s/fault%d", tmp, (int)f);
    if (write_checkpoints(fixture, 128, f, dir, NULL) == 0) {
        mlcc_model *m = mlcc_model_load_uncompiled(dir, NULL);
        const char *err = m ? "(opened)" : mlcc_last_error();
        CHECK_MSG(!m && strstr(err, want1) && strstr(err, want2), "fault %d: error '%s' should name '%s' and '%s'", (int)f, err,
                  want1, want2);
        mlcc_model_free(m);
    }
    free(fixture);
}

int main(void) {
    char *probe = test_data_path("hf-tiny/llama3-rope/meta.json");
    int have = mlcc_file_exists(probe);
    free(probe);
    if (!have) TEST_SKIP("no hf-tiny fixtures (run `make test` to unpack the test data)");
    setenv("MLCC_QUANT_ACT", "f32", 1); /* the exact path; check_int8 takes the other one */
    char tmp[] = "/tmp/mlcc-awq-XXXXXX";
    CHECK(mkdtemp(tmp) != NULL);
    check_fixture("llama3-rope", 128, "q4f16_awq", tmp, 1);
    check_fixture("qwen2", 64, "q4f16_awq_g64", tmp, 0);
    check_rtn("llama3-rope");
    check_fault(tmp, FAULT_BITS8, "config.json", "quantization_config.bits");
    check_fault(tmp, FAULT_GEMV, "config.json", "quantization_config.version");
    check_fault(tmp, FAULT_NO_QZEROS, "missing tensor", "model.layers.1.mlp.down_proj.qzeros");
    check_fault(tmp, FAULT_SHAPE, "model.layers.1.mlp.down_proj.qweight", "shape");
    check_fault(tmp, FAULT_SCALES_F32, "model.layers.1.mlp.down_proj.scales", "F32");
    char cmd[1100];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    if (getenv("MLCC_TEST_KEEP")) printf("kept %s\n", tmp); /* the written checkpoints, to look at */
    else CHECK(system(cmd) == 0);
    return test_finish();
}
