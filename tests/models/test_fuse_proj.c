/* test_fuse_proj.c - separate q/k/v and gate/up matrices combined at load (models/fuse_proj.c)
 * compute what the separate ones compute. For each fixture and scheme the model is opened with
 * MLCC_FUSE_PROJ=0 (the reference: seven projections a layer, as the checkpoint stores them)
 * and with combining on, and
 *   - the combined library really has qkv_proj / gate_up_proj parameters marked combined (and
 *     the reference none), with the shapes the parts add up to;
 *   - the logits of a 40-token prefill (two chunks, so the paged KV cache is crossed) are equal
 *     bit for bit: the CPU kernels sum each output over the input in one order whatever the
 *     number of outputs, so concatenated rows give identical values (the test prints the
 *     largest difference where they are not and fails);
 *   - greedy decoding (prefill, then one-row decode steps) gives the same 8 tokens.
 * Fixtures: hf-tiny llama (GQA 4:2) as f32, q0f16, q4f16_1, q8f16_1; llama-bf16 (q0bf16);
 * qwen2 (q/k/v biases, concatenated too); llama-tied-mqa (one KV head, intermediate 97);
 * the GGUF files q-llama-{f16,q8_0,q4_0} on their own blocks (q/k rows un-permuted per part);
 * a Q4_K_M-like GGUF whose layer 1 stores v as Q6_K and q/k as Q4_K: that layer's q/k/v stay
 * separate while its gate/up and layer 0's q/k/v combine; phi3 (fused in the checkpoint)
 * is unchanged; and a folder converted (q4f16_1) without combining loads into the combined
 * library, its parts assembled by name, as one converted with combining loads separate
 * parameters from the combined rows. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "models/model.h"
#include "models/random_model.h"
#include "models/weight_store.h"
#include "support/error.h"
#include "support/file.h"
#include "test.h"

enum { NTOK = 40, NGEN = 8 };

typedef struct run {
    float *logits; /* [NTOK, vocab] */
    int32_t gen[NGEN];
    int64_t vocab;
    int combined;       /* parameters marked combined */
    int fused_qkv[2], fused_gu[2]; /* layers 0 and 1 have a qkv_proj / gate_up_proj parameter */
    int pairs;          /* quantized pairs */
} run;

static int has_param(const mlcc_model *m, int layer, const char *what) {
    char prefix[128];
    int len = snprintf(prefix, sizeof prefix, "model.layers.%d.%s.", layer, what);
    for (int i = 0; i < m->params.n; i++)
        if (!strncmp(m->params.items[i].name, prefix, (size_t)len)) return 1;
    return 0;
}

/* Opens path with combining on or off and fills r; 0 or -1 (checks failed). */
static int open_and_run(const char *path, const char *quantization, int combine, run *r) {
    setenv("MLCC_FUSE_PROJ", combine ? "1" : "0", 1);
    mlcc_model_options opt = {.max_seq = 64, .prefill_chunk = 32, .logit_rows = 32, .quantization = quantization};
    mlcc_model *m = mlcc_model_open(path, &opt);
    unsetenv("MLCC_FUSE_PROJ");
    CHECK_MSG(m != NULL, "%s (%s, combine %d): %s", path, quantization ? quantization : "as stored", combine, mlcc_last_error());
    if (!m) return -1;
    memset(r, 0, sizeof *r);
    r->vocab = m->cfg.vocab;
    for (int i = 0; i < m->params.n; i++) {
        const model_param *p = &m->params.items[i];
        r->combined += p->combined;
        r->pairs += p->role == PARAM_Q_WEIGHT;
        if (p->combined && strstr(p->name, "qkv_proj")) /* rows: q + k + v */
            CHECK_EQ_INT(p->shape[0], (m->cfg.heads + 2 * m->cfg.kv_heads) * m->cfg.head_dim);
        if (p->combined && strstr(p->name, "gate_up_proj")) CHECK_EQ_INT(p->shape[0], 2 * m->cfg.intermediate);
    }
    for (int l = 0; l < 2 && l < m->cfg.layers; l++)
        r->fused_qkv[l] = has_param(m, l, "self_attn.qkv_proj"), r->fused_gu[l] = has_param(m, l, "mlp.gate_up_proj");
    int32_t ids[NTOK];
    for (int i = 0; i < NTOK; i++) ids[i] = (int32_t)((i * 53 + 7) % m->cfg.vocab);
    MLCCNDArray *out = NULL;
    int rc = mlcc_model_prefill(m, ids, NTOK, &out);
    CHECK_MSG(rc == 0, "%s: prefill: %s", path, mlcc_last_error());
    if (rc == 0) {
        r->logits = malloc(sizeof(float) * (size_t)(NTOK * r->vocab));
        memcpy(r->logits, out->dl.data, sizeof(float) * (size_t)(NTOK * r->vocab));
        rc = mlcc_model_greedy(m, ids, NTOK, NGEN, r->gen);
        CHECK_MSG(rc == 0, "%s: greedy: %s", path, mlcc_last_error());
    }
    mlcc_ndarray_release(out);
    mlcc_model_free(m);
    return rc;
}

/* The two runs agree bit for bit and in their greedy tokens. */
static void compare(const char *what, const run *a, const run *b) {
    if (!a->logits || !b->logits) return;
    int64_t n = NTOK * a->vocab, differ = 0;
    double md = 0, mr = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = a->logits[i] > b->logits[i] ? a->logits[i] - b->logits[i] : b->logits[i] - a->logits[i];
        differ += memcmp(&a->logits[i], &b->logits[i], sizeof(float)) != 0;
        md = d > md ? d : md;
        mr = a->logits[i] > mr ? a->logits[i] : -a->logits[i] > mr ? -a->logits[i] : mr;
    }
    printf("%-34s combined params %2d (separate %d): %lld of %lld logits differ, max |diff| %.3g of max |logit| %.3g\n", what,
           b->combined, a->combined, (long long)differ, (long long)n, md, mr);
    CHECK_MSG(differ == 0, "%s: combined logits differ from the separate ones (%lld values, max %g)", what, (long long)differ, md);
    CHECK_MSG(!memcmp(a->gen, b->gen, sizeof a->gen), "%s: greedy tokens differ (%d %d %d ... vs %d %d %d ...)", what, a->gen[0],
              a->gen[1], a->gen[2], b->gen[0], b->gen[1], b->gen[2]);
}

/* A fixture whose q/k/v and gate/up all combine (want_combined: 0 for a checkpoint that has
 * fused tensors of its own). */
static void check_fixture(const char *rel, const char *quantization, int want_combined) {
    char *path = test_data_path(rel);
    char what[160];
    snprintf(what, sizeof what, "%s %s", rel, quantization ? quantization : "(as stored)");
    run sep, comb;
    if (open_and_run(path, quantization, 0, &sep) == 0 && open_and_run(path, quantization, 1, &comb) == 0) {
        CHECK_MSG(sep.combined == 0, "%s: MLCC_FUSE_PROJ=0 still combined %d parameters", what, sep.combined);
        if (want_combined) {
            CHECK_MSG(comb.combined > 0 && comb.fused_qkv[0] && comb.fused_gu[0] && comb.fused_qkv[1] && comb.fused_gu[1],
                      "%s: q/k/v and gate/up were not combined in every layer", what);
            CHECK_MSG(!sep.fused_qkv[0] && !sep.fused_gu[0], "%s: the reference has combined parameters", what);
        } else {
            CHECK_MSG(comb.combined == 0, "%s: a checkpoint with its own fused tensors got combined ones", what);
        }
        compare(what, &sep, &comb);
        free(sep.logits);
        free(comb.logits);
    }
    free(path);
}

static const char kquant_config[] =
    "{\"architectures\": [\"LlamaForCausalLM\"], \"model_type\": \"llama\", \"hidden_size\": 256,\n"
    " \"intermediate_size\": 512, \"num_attention_heads\": 4, \"num_key_value_heads\": 2, \"num_hidden_layers\": 2,\n"
    " \"vocab_size\": 512, \"max_position_embeddings\": 256, \"rms_norm_eps\": 1e-5, \"rope_theta\": 10000.0,\n"
    " \"tie_word_embeddings\": false, \"bos_token_id\": 1, \"eos_token_id\": 2, \"hidden_act\": \"silu\"}\n";

/* A Q4_K_M-like file (random_model's q4_k: layer 1's attn_v and ffn_down are Q6_K): layer 1's
 * q/k/v must stay separate, the rest combine. */
static void check_mixed_types(const char *dir) {
    char cfg[512], path[512];
    snprintf(cfg, sizeof cfg, "%s/config.json", dir);
    snprintf(path, sizeof path, "%s/q4_k_m.gguf", dir);
    CHECK(mlcc_write_file_atomic(cfg, kquant_config, sizeof kquant_config - 1) == 0);
    mlcc_random_model_spec s = {cfg, path, RANDOM_MODEL_GGUF, "q4_k", 7, 0};
    CHECK_MSG(mlcc_random_model_write(&s) == 0, "q4_k: %s", mlcc_last_error());
    setenv("MLCC_QUANT_ACT", "f32", 1); /* float activations: the k-quant kernels' exact path */
    run sep, comb;
    if (open_and_run(path, NULL, 0, &sep) == 0 && open_and_run(path, NULL, 1, &comb) == 0) {
        CHECK_MSG(comb.fused_qkv[0] && comb.fused_gu[0] && comb.fused_gu[1], "mixed types: layer 0 q/k/v or the gate/ups not combined");
        CHECK_MSG(!comb.fused_qkv[1], "mixed types: layer 1 (v Q6_K, q/k Q4_K) was combined");
        CHECK_EQ_INT(sep.pairs, 16);  /* 7 matrices a layer, embedding, head */
        CHECK_EQ_INT(comb.pairs, 12); /* layer 0: 4; layer 1: q, k, v, o, gate_up, down */
        compare("q4_k_m.gguf (v Q6_K in layer 1)", &sep, &comb);
        free(sep.logits);
        free(comb.logits);
    }
    unsetenv("MLCC_QUANT_ACT");
}

/* A folder converted with combining off (on), opened with it on (off): the parts found by
 * name (cut from the combined tensors' rows); the logits equal those of the source opened the
 * same way. */
static void check_converted(const char *dir, int convert_combined) {
    char *src = test_data_path("hf-tiny/llama"), out[512], what[80];
    snprintf(out, sizeof out, "%s/llama-q4f16_1-%d", dir, convert_combined);
    snprintf(what, sizeof what, "converted %s, opened %s", convert_combined ? "combined" : "separate",
             convert_combined ? "separate" : "combined");
    mlcc_model_options opt = {.max_seq = 64, .prefill_chunk = 32, .logit_rows = 32, .quantization = "q4f16_1"};
    setenv("MLCC_FUSE_PROJ", convert_combined ? "1" : "0", 1);
    mlcc_model *m = mlcc_model_load_uncompiled(src, &opt);
    unsetenv("MLCC_FUSE_PROJ");
    CHECK_MSG(m != NULL, "%s: %s", src, mlcc_last_error());
    weight_store_options wo = {.quiet = 1};
    int rc = m ? weight_store_write(m, src, out, &wo) : -1;
    CHECK_MSG(rc == 0, "convert: %s", mlcc_last_error());
    mlcc_model_free(m);
    run direct, converted;
    if (rc == 0 && open_and_run(src, "q4f16_1", !convert_combined, &direct) == 0) {
        if (open_and_run(out, NULL, !convert_combined, &converted) == 0) {
            CHECK_MSG(converted.fused_qkv[0] == !convert_combined && converted.fused_gu[1] == !convert_combined,
                      "%s: combined %d, want %d", what, converted.fused_qkv[0], !convert_combined);
            compare(what, &direct, &converted);
            free(converted.logits);
        }
        free(direct.logits);
    }
    free(src);
}

int main(void) {
    char *probe = test_data_path("hf-tiny/llama/config.json");
    int have = access(probe, R_OK) == 0;
    free(probe);
    if (!have) TEST_SKIP("testdata/hf-tiny not found (make test unpacks it)");
    check_fixture("hf-tiny/llama", NULL, 1);
    check_fixture("hf-tiny/llama", "q0f16", 1);
    check_fixture("hf-tiny/llama", "q4f16_1", 1);
    check_fixture("hf-tiny/llama", "q8f16_1", 1);
    check_fixture("hf-tiny/llama-bf16", NULL, 1);
    check_fixture("hf-tiny/qwen2", NULL, 1);
    check_fixture("hf-tiny/llama-tied-mqa", NULL, 1);
    check_fixture("hf-tiny/phi3", NULL, 0);
    check_fixture("gguf/q-llama-f16.gguf", NULL, 1);
    check_fixture("gguf/q-llama-q8_0.gguf", NULL, 1);
    check_fixture("gguf/q-llama-q4_0.gguf", NULL, 1);
    char dir[] = "/tmp/mlcc-fuse-proj-XXXXXX";
    if (!mkdtemp(dir)) return test_finish();
    check_mixed_types(dir);
    check_converted(dir, 0);
    check_converted(dir, 1);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) printf("note: could not remove %s\n", dir);
    return test_finish();
}
