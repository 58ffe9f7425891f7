/* test_gguf_kquant.c - GGUF files whose matrices are k-quants (Q4_K or Q5_K with a Q6_K output
 * and Q6_K attn_v / ffn_down in layer 1, as llama.cpp's Q4_K_M / Q5_K_M write them; all Q6_K) run
 * on their own blocks: a random-weight llama (hidden 512, FFN 1024, 2 layers, vocab 512: rows of
 * whole 256-value super-blocks, and matrices of 2^18 weights or more, so the default schedule
 * runs their column tiles in parallel and the int8 path prepares the rows once per matmul,
 * transform/lower_quant_prep.c) is written
 * by our GGUF writer (mlcc debug random-model's code, ggml's reference k-quant quantizers)
 * twice: quantized, and as F32 holding the values the quantized blocks stand for
 * (ggml_dequantize_f32, itself checked against independently packed blocks in
 * test_ggml_dequant.c). Its matrices must really be k-quants (the GGUF tensor types are
 * checked), and the quantized file, opened as stored, must
 *   - keep its blocks (scheme ggml_mixed for Q4_K / Q5_K + Q6_K, ggml_q6_k for all Q6_K, and a
 *     q_weight / q_scale pair per matrix, q/k/v and gate/up combined into one matrix where
 *     their types agree: layer 1's Q6_K v keeps its q and k separate),
 *   - give the logits of the F32 file (relative 1e-5 over 24 prompt positions) and of the same
 *     file opened with quantization q0f32 (dequantized to float32 at load: within 1e-4 of the
 *     max |logit|), with the same argmax on every row,
 *   - and greedy-decode (batch-1 steps: the kernels' one-row path) the same 8 tokens as the
 *     q0f32 path;
 * all with float activations (MLCC_QUANT_ACT=f32). With int8 activations (the default on AVX-512
 * VNNI hosts, as llama.cpp computes) the logits must stay within 5e-2 of the max |logit| of the
 * q0f32 path (the activations' rounding; the figure is printed). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "loader/gguf.h"
#include "models/model.h"
#include "models/random_model.h"
#include "support/error.h"
#include "support/file.h"
#include "test.h"

enum { NTOK = 24 };

static const char config[] =
    "{\"architectures\": [\"LlamaForCausalLM\"], \"model_type\": \"llama\", \"hidden_size\": 512,\n"
    " \"intermediate_size\": 1024, \"num_attention_heads\": 8, \"num_key_value_heads\": 2, \"num_hidden_layers\": 2,\n"
    " \"vocab_size\": 512, \"max_position_embeddings\": 256, \"rms_norm_eps\": 1e-5, \"rope_theta\": 10000.0,\n"
    " \"tie_word_embeddings\": false, \"bos_token_id\": 1, \"eos_token_id\": 2, \"hidden_act\": \"silu\"}\n";

enum { NGEN = 8 };

/* Greedy: NGEN tokens after the prompt, one forward step each. */
static void greedy(mlcc_model *m, const int32_t *prompt, int32_t *out) {
    mlcc_model_kv kv;
    CHECK_MSG(mlcc_model_kv_init(m, &kv) == 0, "kv: %s", mlcc_last_error());
    int64_t vocab = m->cfg.vocab;
    float *logits = malloc(sizeof(float) * (size_t)vocab);
    int32_t next = 0;
    for (int t = 0; t < NGEN; t++) {
        int rc = t == 0 ? mlcc_model_forward(m, &kv, prompt, NTOK, logits) : mlcc_model_forward(m, &kv, &next, 1, logits);
        CHECK_MSG(rc == 0, "forward: %s", mlcc_last_error());
        if (rc) break;
        next = 0;
        for (int64_t v = 1; v < vocab; v++)
            if (logits[v] > logits[next]) next = (int32_t)v;
        out[t] = next;
    }
    free(logits);
    mlcc_model_kv_free(&kv);
}

/* The prompt's logits (and, when gen, NGEN greedy tokens); *scheme gets the weights' scheme. */
static MLCCNDArray *prefill(const char *path, const char *quantization, char *scheme, int32_t *gen) {
    mlcc_model_options opt = {.max_seq = 64, .prefill_chunk = 32, .logit_rows = 32, .quantization = quantization};
    mlcc_model *m = mlcc_model_open(path, &opt);
    CHECK_MSG(m != NULL, "%s: %s", path, mlcc_last_error());
    if (!m) return NULL;
    int32_t ids[NTOK];
    for (int i = 0; i < NTOK; i++) ids[i] = (int32_t)((i * 53 + 7) % 500);
    MLCCNDArray *out = NULL;
    CHECK_MSG(mlcc_model_prefill(m, ids, NTOK, &out) == 0, "%s: %s", path, mlcc_last_error());
    if (scheme) {
        int pairs = 0;
        for (int i = 0; i < m->params.n; i++) pairs += m->params.items[i].role == PARAM_Q_WEIGHT;
        snprintf(scheme, 64, "%s/%d", m->quant->name, pairs);
    }
    if (gen) greedy(m, ids, gen);
    mlcc_model_free(m);
    return out;
}

/* max |x - y| / max |y| over the logits, and whether every row has the same argmax. */
static double compare(const MLCCNDArray *a, const MLCCNDArray *b, int *same_argmax) {
    int64_t rows = a->dl.shape[0] * (a->dl.ndim == 3 ? a->dl.shape[1] : 1), vocab = a->dl.shape[a->dl.ndim - 1];
    const float *x = a->dl.data, *y = b->dl.data;
    double md = 0, mr = 0;
    *same_argmax = 1;
    for (int64_t r = 0; r < rows; r++) {
        int64_t ax = 0, ay = 0;
        for (int64_t v = 0; v < vocab; v++) {
            int64_t i = r * vocab + v;
            md = fmax(md, fabs((double)x[i] - y[i])), mr = fmax(mr, fabs((double)y[i]));
            if (x[i] > x[r * vocab + ax]) ax = v;
            if (y[i] > y[r * vocab + ay]) ay = v;
        }
        *same_argmax &= ax == ay;
    }
    return mr > 0 ? md / mr : 1;
}

/* Counts the file's tensors of ggml type `type`. */
static int count_type(const char *path, uint32_t type) {
    mlcc_gguf *g = mlcc_gguf_open(path);
    CHECK_MSG(g != NULL, "%s: %s", path, mlcc_last_error());
    if (!g) return -1;
    int n = 0;
    for (uint64_t i = 0; i < g->n_tensors; i++) n += g->tensors[i].type == type;
    mlcc_gguf_close(g);
    return n;
}

static void check(const char *dir, const char *cfg, const char *quant, uint32_t main_type, int want_main,
                  const char *want_scheme) {
    char qpath[512], fpath[512];
    snprintf(qpath, sizeof qpath, "%s/%s.gguf", dir, quant);
    snprintf(fpath, sizeof fpath, "%s/%s-dequantized.gguf", dir, quant);
    mlcc_random_model_spec s = {cfg, qpath, RANDOM_MODEL_GGUF, quant, 7, 0};
    CHECK_MSG(mlcc_random_model_write(&s) == 0, "%s: %s", quant, mlcc_last_error());
    s.out = fpath, s.dequantized = 1;
    CHECK_MSG(mlcc_random_model_write(&s) == 0, "%s dequantized: %s", quant, mlcc_last_error());
    int n = count_type(qpath, main_type);
    CHECK_MSG(n == want_main, "%s: %d tensors of type %s, want %d", quant, n, mlcc_ggml_type_name(main_type), want_main);
    if (strcmp(quant, "q6_k")) CHECK_EQ_INT(count_type(qpath, MLCC_GGML_Q6_K), 3); /* output, blk.1.attn_v / ffn_down */
    char scheme[64] = "";
    int32_t gen_native[NGEN] = {0}, gen_f32[NGEN] = {0};
    setenv("MLCC_QUANT_ACT", "f32", 1); /* the exact path; the int8 one below */
    MLCCNDArray *a = prefill(qpath, NULL, scheme, gen_native), *b = prefill(fpath, NULL, NULL, NULL);
    MLCCNDArray *c = prefill(qpath, "q0f32", NULL, gen_f32);
    setenv("MLCC_QUANT_ACT", "int8", 1);
    MLCCNDArray *i8 = prefill(qpath, NULL, NULL, NULL);
    unsetenv("MLCC_QUANT_ACT");
    if (i8 && c) {
        int same;
        double e = compare(i8, c, &same);
        printf("%s int8 activations: logits vs the q0f32 path %.3g of max |logit|, argmax %s\n", quant, e,
               same ? "the same on every row" : "differs on some row");
        CHECK_MSG(e <= 5e-2, "%s: int8-activation logits differ from the q0f32 path by %g of max |logit|", quant, e);
    }
    mlcc_ndarray_release(i8);
    CHECK_MSG(!strcmp(scheme, want_scheme), "%s: weights run as %s (scheme/pairs), want %s", quant, scheme, want_scheme);
    if (a && b && c) {
        int same_b, same_c;
        double eb = compare(a, b, &same_b), ec = compare(a, c, &same_c);
        printf("%s (%s): logits vs the dequantized F32 file %.3g, vs the q0f32 path %.3g (of max |logit|)\n", quant, scheme, eb, ec);
        CHECK_MSG(eb <= 1e-5, "%s: logits differ from the dequantized F32 file by %g", quant, eb);
        CHECK_MSG(ec <= 1e-4, "%s: logits differ from the q0f32 path by %g of max |logit|", quant, ec);
        CHECK_MSG(same_b && same_c, "%s: a row's argmax differs", quant);
        CHECK_MSG(!memcmp(gen_native, gen_f32, sizeof gen_native), "%s: greedy tokens differ (%d %d %d ... vs %d %d %d ...)", quant,
                  gen_native[0], gen_native[1], gen_native[2], gen_f32[0], gen_f32[1], gen_f32[2]);
    }
    mlcc_ndarray_release(a), mlcc_ndarray_release(b), mlcc_ndarray_release(c);
}

int main(void) {
    char dir[] = "/tmp/mlcc-kquant-XXXXXX";
    if (!mkdtemp(dir)) TEST_SKIP("cannot create a temporary folder");
    char cfg[512];
    snprintf(cfg, sizeof cfg, "%s/config.json", dir);
    CHECK(mlcc_write_file_atomic(cfg, config, sizeof config - 1) == 0);
    /* 7 matrices per layer; token_embd is a matrix too. Pairs with q/k/v and gate/up combined
     * (fuse_proj.c): 4 per layer, 6 in layer 1 of q4_k / q5_k (its v is Q6_K), plus embedding and head */
    unsetenv("MLCC_FUSE_PROJ");
    check(dir, cfg, "q4_k", MLCC_GGML_Q4_K, 2 * 7 + 1 - 2, "ggml_mixed/12");
    check(dir, cfg, "q5_k", MLCC_GGML_Q5_K, 2 * 7 + 1 - 2, "ggml_mixed/12");
    check(dir, cfg, "q6_k", MLCC_GGML_Q6_K, 2 * 7 + 2, "ggml_q6_k/10");
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) printf("note: could not remove %s\n", dir);
    return test_finish();
}
