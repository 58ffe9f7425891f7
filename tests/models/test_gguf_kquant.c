/* test_gguf_kquant.c - GGUF files whose matrices are k-quants (Q4_K with a Q6_K output, as
 * llama.cpp's Q4_K_M writes them; all Q6_K) run: a random-weight llama (hidden 256, FFN 512,
 * 2 layers, vocab 512: rows of whole 256-value super-blocks) is written by our GGUF writer
 * (mlcc debug random-model's code, ggml's reference k-quant quantizers) twice: quantized, and
 * as F32 holding the values the quantized blocks stand for (ggml_dequantize_f32, itself checked
 * against independently packed blocks in test_ggml_dequant.c). The quantized file, dequantized
 * at load, must give the logits of the F32 file (relative 1e-5 over 24 prompt positions) and
 * its matrices must really be k-quants (the GGUF tensor types are checked). */
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
    "{\"architectures\": [\"LlamaForCausalLM\"], \"model_type\": \"llama\", \"hidden_size\": 256,\n"
    " \"intermediate_size\": 512, \"num_attention_heads\": 4, \"num_key_value_heads\": 2, \"num_hidden_layers\": 2,\n"
    " \"vocab_size\": 512, \"max_position_embeddings\": 256, \"rms_norm_eps\": 1e-5, \"rope_theta\": 10000.0,\n"
    " \"tie_word_embeddings\": false, \"bos_token_id\": 1, \"eos_token_id\": 2, \"hidden_act\": \"silu\"}\n";

static MLCCNDArray *prefill(const char *path) {
    mlcc_model_options opt = {.max_seq = 64, .prefill_chunk = 32, .logit_rows = 32};
    mlcc_model *m = mlcc_model_open(path, &opt);
    CHECK_MSG(m != NULL, "%s: %s", path, mlcc_last_error());
    if (!m) return NULL;
    int32_t ids[NTOK];
    for (int i = 0; i < NTOK; i++) ids[i] = (int32_t)((i * 53 + 7) % 500);
    MLCCNDArray *out = NULL;
    CHECK_MSG(mlcc_model_prefill(m, ids, NTOK, &out) == 0, "%s: %s", path, mlcc_last_error());
    mlcc_model_free(m);
    return out;
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

static void check(const char *dir, const char *cfg, const char *quant, uint32_t main_type, int want_main) {
    char qpath[512], fpath[512];
    snprintf(qpath, sizeof qpath, "%s/%s.gguf", dir, quant);
    snprintf(fpath, sizeof fpath, "%s/%s-dequantized.gguf", dir, quant);
    mlcc_random_model_spec s = {cfg, qpath, RANDOM_MODEL_GGUF, quant, 7, 0};
    CHECK_MSG(mlcc_random_model_write(&s) == 0, "%s: %s", quant, mlcc_last_error());
    s.out = fpath, s.dequantized = 1;
    CHECK_MSG(mlcc_random_model_write(&s) == 0, "%s dequantized: %s", quant, mlcc_last_error());
    int n = count_type(qpath, main_type);
    CHECK_MSG(n == want_main, "%s: %d tensors of type %s, want %d", quant, n, mlcc_ggml_type_name(main_type), want_main);
    if (!strcmp(quant, "q4_k")) CHECK_EQ_INT(count_type(qpath, MLCC_GGML_Q6_K), 1); /* output.weight */
    MLCCNDArray *a = prefill(qpath), *b = prefill(fpath);
    if (a && b) {
        int64_t n_el = a->dl.shape[0] * a->dl.shape[1];
        const float *x = a->dl.data, *y = b->dl.data;
        double md = 0, mr = 0;
        for (int64_t i = 0; i < n_el; i++) md = fmax(md, fabs((double)x[i] - y[i])), mr = fmax(mr, fabs((double)y[i]));
        printf("%s: logits vs the dequantized F32 file: %.3g (relative)\n", quant, md / mr);
        CHECK_MSG(mr > 0 && md <= 1e-5 * mr, "%s: logits differ from the dequantized F32 file by %g", quant, md / mr);
    }
    mlcc_ndarray_release(a), mlcc_ndarray_release(b);
}

int main(void) {
    char dir[] = "/tmp/mlcc-kquant-XXXXXX";
    if (!mkdtemp(dir)) TEST_SKIP("cannot create a temporary folder");
    char cfg[512];
    snprintf(cfg, sizeof cfg, "%s/config.json", dir);
    CHECK(mlcc_write_file_atomic(cfg, config, sizeof config - 1) == 0);
    /* 7 matrices per layer; token_embd is a matrix too */
    check(dir, cfg, "q4_k", MLCC_GGML_Q4_K, 2 * 7 + 1);
    check(dir, cfg, "q6_k", MLCC_GGML_Q6_K, 2 * 7 + 2);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) printf("note: could not remove %s\n", dir);
    return test_finish();
}
