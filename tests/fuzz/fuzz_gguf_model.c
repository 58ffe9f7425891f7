/* fuzz_gguf_model.c - the path a user's GGUF file takes after the container parser (which
 * fuzz_gguf covers), up to compiling, on arbitrary bytes written as model.gguf in a temporary
 * folder:
 *   - model_config_from_gguf (architecture metadata -> configuration); an accepted
 *     configuration is written as config.json (gguf_hf_config) and must read back the same
 *     through model_config_from_json and the architecture's hook, as gguf_side_files.h promises;
 *   - mlcc_model_load_uncompiled (configuration, weight scheme, graph and weights, no compiling)
 *     and, when that loads, gguf_side_files_write (what `mlcc convert` writes beside the weights);
 *   - the tokenizer built from tokenizer.ggml.* (mlcc_tokenizer_load): a fixed text is encoded
 *     and decoded, at once and through the streaming detokenizer; the same vocabulary exported
 *     as tokenizer.json (tok_gguf_export, what `mlcc convert` writes) must encode it the same;
 *   - the chat template of tokenizer.chat_template (mlcc_conversation_template): a fixed
 *     conversation is rendered, under tight limits as fuzz_jinja does (the interpreter's own
 *     limits are fuzz_jinja's business), and tokenized.
 * Every input is accepted or rejected with an error, without a crash, an out-of-bounds read or
 * a leak (the sanitized build). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/conversation.h"
#include "models/gguf_side_files.h"
#include "models/model.h"
#include "native_build.h" /* test_remove_dir */
#include "support/error.h"
#include "support/file.h"
#include "support/log.h"
#include "support/strbuf.h"
#include "tokenizer/gguf_export.h"
#include "tokenizer/tokenizer.h"
#include "fuzz_file.h"

/* In memory where there is a tmpfs: the side files are synced to disk (mlcc_write_file_atomic),
 * which took most of the replay's time on a disk. */
static char shm_dir[] = "/dev/shm/mlcc-fuzz-gguf-model-XXXXXX", tmp_dir[] = "/tmp/mlcc-fuzz-gguf-model-XXXXXX";
static char *dir, *model_path, *side_dir;

static void remove_dir(void) {
    test_remove_dir(dir);
}

static void make_folder(void) {
    dir = mkdtemp(shm_dir) ? shm_dir : mkdtemp(tmp_dir);
    if (!dir) {
        perror("fuzz_gguf_model: mkdtemp");
        abort();
    }
    atexit(remove_dir);
    model_path = mlcc_path_join(dir, "model.gguf");
    side_dir = mlcc_path_join(dir, "side");
    if (mlcc_mkdirs(side_dir) != 0) abort();
    mlcc_log_set_level(MLCC_LOG_ERROR); /* the warnings of damaged files would fill the log */
}

/* Do two configurations agree on what config.json carries? (ids below 0 all mean "none") */
static int same_config(const mlcc_model_config *a, const mlcc_model_config *b) {
    if (strcmp(a->model_type, b->model_type) || a->hidden != b->hidden || a->layers != b->layers || a->heads != b->heads ||
        a->kv_heads != b->kv_heads || a->head_dim != b->head_dim || a->intermediate != b->intermediate ||
        a->vocab != b->vocab || a->max_positions != b->max_positions || a->rms_eps != b->rms_eps ||
        a->rope_theta != b->rope_theta || a->tie_embeddings != b->tie_embeddings ||
        (a->bos_id < 0 ? -1 : a->bos_id) != (b->bos_id < 0 ? -1 : b->bos_id) || a->n_eos != b->n_eos ||
        memcmp(a->eos_ids, b->eos_ids, sizeof a->eos_ids) || a->rope != b->rope ||
        (a->rope == ROPE_LINEAR && a->rope_factor != b->rope_factor) || !a->rope_freq_factors != !b->rope_freq_factors)
        return 0;
    for (int64_t k = 0; a->rope_freq_factors && k < a->head_dim / 2; k++)
        if (a->rope_freq_factors[k] != b->rope_freq_factors[k]) return 0;
    return 1;
}

/* An accepted configuration, written as config.json (gguf_hf_config), must read back the same
 * (gguf_side_files.h promises it: `mlcc convert` writes that file): abort when it does not,
 * since the GGUF reader then accepted what the config.json reader refuses, or the file says
 * something else than the GGUF. */
static void check_config(const mlcc_gguf *g) {
    mlcc_model_config cfg, back;
    decoder_spec spec, back_spec;
    memset(&spec, 0, sizeof spec);
    memset(&back, 0, sizeof back);
    if (model_config_from_gguf(g, &cfg) == 0) {
        json_t *j = gguf_hf_config(&cfg, &spec);
        const model_arch *arch = NULL;
        memset(&back_spec, 0, sizeof back_spec);
        if (!j || model_config_from_json(j, "config.json", &back) != 0 ||
            !(arch = model_arch_find(back.model_type, "config.json")) ||
            arch->configure(j, "config.json", &back, &back_spec) != 0) {
            fprintf(stderr, "fuzz_gguf_model: the GGUF configuration does not read back: %s\n", mlcc_last_error());
            abort();
        }
        if (!same_config(&cfg, &back)) {
            char *text = json_dumps(j, JSON_COMPACT);
            fprintf(stderr, "fuzz_gguf_model: config.json says something else than the GGUF: %s\n", text);
            abort();
        }
        json_decref(j);
    }
    model_config_free(&cfg);
    model_config_free(&back);
}

/* Configuration, graph and weights; then the side files of `mlcc convert`. */
static void load_model(void) {
    mlcc_model_options opt = {.max_seq = 16, .prefill_chunk = 8, .quiet = 1};
    mlcc_model *m = mlcc_model_load_uncompiled(model_path, &opt);
    if (m) gguf_side_files_write(model_path, &m->cfg, &m->spec, side_dir);
    mlcc_model_free(m);
}

static const char text[] = "Hello world, \xC3\xA9t\xC3\xA9 123 <s> \xF0\x9F\x98\x80 ab\n";

/* The same vocabulary written as tokenizer.json (tokenizer/gguf_export.h: "the tokenizer that
 * tok_load_gguf builds", what `mlcc convert` writes) must encode the text to the same ids; a
 * vocabulary the export refuses (tokenizer.json cannot hold it) is skipped. */
static void check_export(mlcc_tokenizer *tok) {
    json_t *tj = NULL, *cj = NULL;
    if (tok_gguf_export(model_path, &tj, &cj) == 0) {
        char *json = json_dumps(tj, JSON_COMPACT);
        mlcc_tokenizer *back = json ? mlcc_tokenizer_from_json(json, strlen(json), "exported tokenizer.json") : NULL;
        if (!back) {
            fprintf(stderr, "fuzz_gguf_model: the exported tokenizer.json does not load: %s\n", mlcc_last_error());
            abort();
        }
        for (int special = 0; special < 2; special++) {
            int32_t *a = NULL, *b = NULL;
            size_t na = 0, nb = 0;
            int ra = mlcc_tokenizer_encode(tok, text, sizeof text - 1, special, &a, &na);
            int rb = mlcc_tokenizer_encode(back, text, sizeof text - 1, special, &b, &nb);
            if (ra != rb || (ra == 0 && (na != nb || memcmp(a, b, na * sizeof *a)))) {
                fprintf(stderr, "fuzz_gguf_model: the GGUF tokenizer and its tokenizer.json differ (special %d)\n", special);
                for (size_t i = 0; ra == 0 && i < na; i++) fprintf(stderr, " %d", a[i]);
                fprintf(stderr, " (GGUF)\n");
                for (size_t i = 0; rb == 0 && i < nb; i++) fprintf(stderr, " %d", b[i]);
                fprintf(stderr, " (tokenizer.json)\n");
                abort();
            }
            free(a), free(b);
        }
        mlcc_tokenizer_free(back);
        free(json);
    }
    json_decref(tj), json_decref(cj);
}

static void encode_decode(mlcc_tokenizer *tok) {
    for (int special = 0; special < 2; special++) {
        int32_t *ids;
        size_t n, len;
        if (mlcc_tokenizer_encode(tok, text, sizeof text - 1, special, &ids, &n)) continue;
        free(mlcc_tokenizer_decode(tok, ids, n, special, &len));
        mlcc_detok *d = mlcc_detok_new(tok, special);
        mlcc_strbuf sb = STRBUF_INIT;
        for (size_t i = 0; i < n; i++) mlcc_detok_push(d, ids[i], &sb);
        mlcc_detok_flush(d, &sb);
        sb_free(&sb);
        mlcc_detok_free(d);
        free(ids);
    }
}

/* mlcc_conversation_prompt_ids, but with fuzz_jinja's limits on the render. */
static void chat(mlcc_tokenizer *tok) {
    static const char messages[] = "[{\"role\": \"system\", \"content\": \"sys\"}, {\"role\": \"user\", \"content\": "
                                   "\"hi \\u00e9\"}, {\"role\": \"assistant\", \"content\": \"ok\"}, {\"role\": "
                                   "\"user\", \"content\": \"again\"}]";
    mlcc_chat_template ct;
    if (mlcc_conversation_template(model_path, tok, NULL, &ct) != 0) return;
    json_error_t jerr;
    json_t *input = json_pack("{s:o,s:b}", "messages", json_loads(messages, 0, &jerr), "add_generation_prompt", 1);
    json_t *ctx = mlcc_chat_context(input, ct.specials);
    mlcc_template_limits limits = {200000, 1 << 20};
    size_t len;
    char *prompt = mlcc_template_render_limited(mlcc_chat_template_select(&ct, input), ctx, &limits, NULL, &len);
    int32_t *ids;
    size_t n;
    if (prompt && mlcc_tokenizer_encode(tok, prompt, len, 0, &ids, &n) == 0) free(ids);
    free(prompt);
    json_decref(ctx);
    json_decref(input);
    mlcc_chat_template_free(&ct);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!model_path) make_folder();
    uint8_t *copy = malloc(size ? size : 1); /* exactly `size` long, so ASan sees reads past the end */
    if (size) memcpy(copy, data, size);
    mlcc_gguf *g = mlcc_gguf_open_memory(copy, size, "fuzz.gguf");
    if (g) check_config(g);
    mlcc_gguf_close(g);
    free(copy);
    if (!g) return 0; /* the reader refuses it: so does every step below (fuzz_gguf's business) */
    fuzz_write_input(model_path, data, size);
    load_model();
    mlcc_tokenizer *tok = mlcc_tokenizer_load(model_path);
    if (tok) {
        encode_decode(tok);
        check_export(tok);
        chat(tok);
    }
    mlcc_tokenizer_free(tok);
    mlcc_clear_error();
    return 0;
}
