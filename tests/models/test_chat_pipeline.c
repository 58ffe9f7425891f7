/* test_chat_pipeline.c - what `mlcc chat` does, on the fixture models with real tokenizers and
 * templates (testdata/models, and the self-contained GGUF): the conversation rendered by the
 * model's template and tokenized without special tokens equals `prompt_ids` (transformers'
 * apply_chat_template); a plain prompt tokenized with special tokens does too (tm-llama2, no
 * template); and the engine at temperature 0 streams exactly the text of `greedy_ids`. */
#include <stdlib.h>
#include <string.h>

#include "engine/conversation.h"
#include "engine/engine.h"
#include "models/runner.h"
#include "support/error.h"
#include "support/json.h"
#include "support/strbuf.h"
#include "test.h"

static void collect(void *ctx, const char *text, size_t len) {
    sb_append_n(ctx, text, len);
}

static int ids_of(json_t *meta, const char *key, int32_t *out, int cap) {
    json_t *a = json_object_get(meta, key);
    int n = (int)json_array_size(a);
    for (int i = 0; i < n && i < cap; i++) out[i] = (int32_t)json_integer_value(json_array_get(a, (size_t)i));
    return n < cap ? n : cap;
}

static void check_model(const char *model_rel, const char *meta_rel, int chat) {
    char *model_path = test_data_path(model_rel), *meta_path = test_data_path(meta_rel);
    json_t *meta = mlcc_json_load_file(meta_path);
    mlcc_tokenizer *tok = meta ? mlcc_tokenizer_load(model_path) : NULL;
    CHECK_MSG(tok != NULL, "%s: %s", model_rel, mlcc_last_error());
    if (!tok) goto done_meta;
    int32_t want[512], greedy[16];
    int nwant = ids_of(meta, "prompt_ids", want, 512), ngreedy = ids_of(meta, "greedy_ids", greedy, 16);
    int32_t *ids = NULL;
    size_t n = 0;
    if (chat) {
        mlcc_chat_template ct;
        int rc = mlcc_conversation_template(model_path, tok, NULL, &ct);
        CHECK_MSG(rc == 0, "%s: %s", model_rel, mlcc_last_error());
        if (rc == 0) {
            rc = mlcc_conversation_prompt_ids(&ct, tok, json_object_get(meta, "conversation"), 1, &ids, &n);
            CHECK_MSG(rc == 0, "%s: %s", model_rel, mlcc_last_error());
            mlcc_chat_template_free(&ct);
        }
    } else {
        const char *prompt = json_string_value(json_object_get(meta, "prompt"));
        CHECK(mlcc_tokenizer_encode(tok, prompt, strlen(prompt), 1, &ids, &n) == 0);
    }
    CHECK_MSG((int)n == nwant && ids && memcmp(ids, want, sizeof(int32_t) * n) == 0, "%s: prompt ids differ (%zu vs %d)",
              model_rel, n, nwant);

    mlcc_model_options opt = {.max_seq = 256};
    mlcc_model *m = mlcc_model_open(model_path, &opt);
    CHECK_MSG(m != NULL, "%s: %s", model_rel, mlcc_last_error());
    if (m && ids) {
        mlcc_model_runner runner;
        CHECK_EQ_INT(mlcc_model_runner_init(&runner, m, 0), 0);
        mlcc_engine *e = mlcc_engine_new(&runner, tok, m->cfg.eos_ids, m->cfg.n_eos);
        mlcc_gen_config cfg = mlcc_gen_defaults();
        cfg.sampling.temperature = 0;
        cfg.ignore_eos = 1;
        cfg.max_tokens = ngreedy;
        mlcc_strbuf text = STRBUF_INIT;
        mlcc_gen_result r;
        CHECK(mlcc_engine_generate(e, ids, n, &cfg, collect, &text, &r) == 0);
        char *expect = mlcc_tokenizer_decode(tok, greedy, (size_t)ngreedy, 1, NULL);
        CHECK_MSG(strcmp(sb_cstr(&text), expect) == 0, "%s: greedy text\n  got:  %s\n  want: %s", model_rel, sb_cstr(&text), expect);
        CHECK_EQ_INT(r.completion_tokens, ngreedy);
        free(expect);
        sb_free(&text);
        mlcc_engine_free(e);
        mlcc_model_runner_free(&runner);
    }
    if (m) mlcc_model_free(m);
    free(ids);
    mlcc_tokenizer_free(tok);
done_meta:
    json_decref(meta);
    free(model_path);
    free(meta_path);
}

int main(void) {
    ir_scope_begin();
    check_model("models/tm-llama3", "models/tm-llama3/meta.json", 1);
    check_model("models/tm-qwen3", "models/tm-qwen3/meta.json", 1);
    check_model("models/tm-llama2", "models/tm-llama2/meta.json", 0);
    check_model("gguf/tm-llama3-f16.gguf", "models/tm-llama3/meta.json", 1);
    ir_scope_end();
    return test_finish();
}
