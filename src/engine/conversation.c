/* conversation.c - conversation -> prompt ids (see conversation.h). */
#include "engine/conversation.h"

#include <stdlib.h>
#include <string.h>

#include "loader/gguf.h"
#include "support/error.h"

static int is_gguf(const char *path) {
    size_t n = strlen(path);
    return n > 5 && strcmp(path + n - 5, ".gguf") == 0;
}

static int gguf_template(const char *path, mlcc_tokenizer *tok, const char *fallback, mlcc_chat_template *ct) {
    memset(ct, 0, sizeof *ct);
    mlcc_gguf *g = mlcc_gguf_open(path);
    if (!g) return -1;
    mlcc_gguf_str s;
    int has = mlcc_gguf_get_str(g, "tokenizer.chat_template", &s) == 0;
    const char *nul = has ? memchr(s.data, 0, (size_t)s.len) : NULL;
    if (nul) { /* the template is a C string from here on: it would end there, silently */
        mlcc_set_error("%s: metadata 'tokenizer.chat_template' holds a NUL byte (at byte %zu)", path, (size_t)(nul - s.data));
        mlcc_gguf_close(g);
        return -1;
    }
    if (has) {
        ct->source = strndup(s.data, s.len);
    } else if (fallback && mlcc_chat_template_builtin(fallback)) {
        ct->source = strdup(mlcc_chat_template_builtin(fallback));
    }
    mlcc_gguf_close(g);
    if (!ct->source) return mlcc_set_error("%s has no chat template (tokenizer.chat_template)", path);
    ct->tmpl = mlcc_template_parse(ct->source, strlen(ct->source), has ? "tokenizer.chat_template" : fallback);
    if (!ct->tmpl) {
        free(ct->source);
        ct->source = NULL;
        return -1;
    }
    ct->specials = json_object();
    int32_t bos = mlcc_tokenizer_bos_id(tok), eos = mlcc_tokenizer_eos_id(tok);
    const char *bos_text = bos >= 0 ? mlcc_tokenizer_id_to_token(tok, bos) : NULL;
    const char *eos_text = eos >= 0 ? mlcc_tokenizer_id_to_token(tok, eos) : NULL;
    if (bos_text) json_object_set_new(ct->specials, "bos_token", json_string(bos_text));
    if (eos_text) json_object_set_new(ct->specials, "eos_token", json_string(eos_text));
    return 0;
}

int mlcc_conversation_template(const char *model_path, mlcc_tokenizer *tok, const char *fallback,
                               mlcc_chat_template *out) {
    if (is_gguf(model_path)) return gguf_template(model_path, tok, fallback, out);
    return mlcc_chat_template_load_model(model_path, fallback, out);
}

int mlcc_conversation_prompt_ids(const mlcc_chat_template *ct, mlcc_tokenizer *tok, json_t *messages,
                                 int add_generation_prompt, int32_t **ids, size_t *n) {
    json_t *input = json_pack("{s:O,s:b}", "messages", messages, "add_generation_prompt", add_generation_prompt);
    json_t *ctx = mlcc_chat_context(input, ct->specials);
    mlcc_template_error err;
    size_t len = 0;
    char *prompt = mlcc_template_render_n(mlcc_chat_template_select(ct, input), ctx, &err, &len);
    json_decref(ctx);
    json_decref(input);
    if (!prompt) return -1;
    int rc = mlcc_tokenizer_encode(tok, prompt, len, 0, ids, n);
    free(prompt);
    return rc;
}
