/* response.c - OpenAI response JSON (see response.h). Text is always valid UTF-8 here: the
 * engine's streaming detokenizer emits whole characters; anything else is replaced by U+FFFD
 * rather than producing invalid JSON. */
#include "serve/response.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "support/json.h"

size_t serve_utf8_complete_prefix(const char *s, size_t len) {
    /* look back at most 3 bytes for the lead byte of an unfinished sequence */
    for (size_t back = 1; back <= 3 && back <= len; back++) {
        unsigned char c = (unsigned char)s[len - back];
        if ((c & 0xC0) == 0x80) continue; /* continuation byte */
        size_t need = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 1;
        return need > back ? len - back : len;
    }
    return len;
}

static json_t *envelope(const serve_response_info *info, const char *object) {
    return json_pack("{s:s,s:s,s:I,s:s}", "id", info->id, "object", object, "created", (json_int_t)info->created, "model",
                     info->model);
}

static json_t *usage_value(const serve_usage *u) {
    return json_pack("{s:i,s:i,s:i}", "prompt_tokens", u->prompt_tokens, "completion_tokens", u->completion_tokens,
                     "total_tokens", u->prompt_tokens + u->completion_tokens);
}

static char *dump(json_t *root) {
    char *s = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(root);
    return s;
}

static json_t *finish_value(const char *finish_reason) {
    return finish_reason ? json_string(finish_reason) : json_null();
}

char *serve_chunk_json(const serve_response_info *info, int index, int role, const char *text, size_t len,
                       const char *finish_reason, json_t *logprobs) {
    int chat = info->kind == SERVE_CHAT;
    json_t *root = envelope(info, chat ? "chat.completion.chunk" : "text_completion");
    json_t *choice = json_pack("{s:i}", "index", index);
    if (chat) {
        json_t *delta = json_object();
        if (role) json_object_set_new(delta, "role", json_string("assistant"));
        if (role || text) json_object_set_new(delta, "content", mlcc_json_string_lossy(text, text ? len : 0));
        json_object_set_new(choice, "delta", delta);
    } else {
        json_object_set_new(choice, "text", mlcc_json_string_lossy(text, text ? len : 0));
    }
    json_object_set_new(choice, "logprobs", logprobs ? logprobs : json_null());
    json_object_set_new(choice, "finish_reason", finish_value(finish_reason));
    json_object_set_new(root, "choices", json_pack("[o]", choice));
    if (info->include_usage) json_object_set_new(root, "usage", json_null());
    return dump(root);
}

char *serve_tool_call_chunk_json(const serve_response_info *info, int index, json_t *tool_calls) {
    json_t *root = envelope(info, "chat.completion.chunk");
    json_t *calls = json_deep_copy(tool_calls);
    size_t i;
    json_t *call;
    json_array_foreach(calls, i, call) json_object_set_new(call, "index", json_integer((json_int_t)i));
    json_t *choice = json_pack("{s:i,s:{s:o},s:n,s:n}", "index", index, "delta", "tool_calls", calls, "logprobs",
                               "finish_reason");
    json_object_set_new(root, "choices", json_pack("[o]", choice));
    if (info->include_usage) json_object_set_new(root, "usage", json_null());
    return dump(root);
}

char *serve_usage_chunk_json(const serve_response_info *info, const serve_usage *usage) {
    json_t *root = envelope(info, info->kind == SERVE_CHAT ? "chat.completion.chunk" : "text_completion");
    json_object_set_new(root, "choices", json_array());
    json_object_set_new(root, "usage", usage_value(usage));
    return dump(root);
}

char *serve_response_json(const serve_response_info *info, const serve_choice *choices, int nchoices,
                          const serve_usage *usage) {
    int chat = info->kind == SERVE_CHAT;
    json_t *root = envelope(info, chat ? "chat.completion" : "text_completion");
    json_t *list = json_array();
    for (int i = 0; i < nchoices; i++) {
        json_t *c = json_pack("{s:i}", "index", i);
        json_t *text = mlcc_json_string_lossy(choices[i].text, choices[i].len);
        if (chat && choices[i].tool_calls) {
            json_decref(text);
            json_object_set_new(c, "message", json_pack("{s:s,s:n,s:n,s:O}", "role", "assistant", "content", "refusal",
                                                        "tool_calls", choices[i].tool_calls));
        } else if (chat)
            json_object_set_new(c, "message",
                                json_pack("{s:s,s:o,s:n}", "role", "assistant", "content", text, "refusal"));
        else json_object_set_new(c, "text", text);
        json_object_set_new(c, "logprobs", choices[i].logprobs ? json_incref(choices[i].logprobs) : json_null());
        json_object_set_new(c, "finish_reason", finish_value(choices[i].finish_reason));
        json_array_append_new(list, c);
    }
    json_object_set_new(root, "choices", list);
    json_object_set_new(root, "usage", usage_value(usage));
    return dump(root);
}

/* ---- logprobs ---- */

static json_t *bytes_value(const char *s, size_t len) {
    json_t *a = json_array();
    for (size_t i = 0; i < len; i++) json_array_append_new(a, json_integer((unsigned char)s[i]));
    return a;
}

/* -inf (a token the filters ruled out) is not JSON: the most negative double stands in. */
static json_t *logprob_number(double lp) {
    return json_real(lp >= -1.7e308 ? lp : -1.7e308);
}

json_t *serve_logprob_entry(const char *token, size_t len, double logprob, const char *const *tops,
                            const double *top_logprobs, int ntop) {
    json_t *top = json_array();
    for (int i = 0; i < ntop; i++) {
        size_t n = strlen(tops[i]);
        json_array_append_new(top, json_pack("{s:o,s:o,s:o}", "token", mlcc_json_string_lossy(tops[i], n), "logprob",
                                             logprob_number(top_logprobs[i]), "bytes", bytes_value(tops[i], n)));
    }
    return json_pack("{s:o,s:o,s:o,s:o}", "token", mlcc_json_string_lossy(token, len), "logprob", logprob_number(logprob), "bytes",
                     bytes_value(token, len), "top_logprobs", top);
}

json_t *serve_logprobs_value(serve_kind kind, json_t *entries, size_t *text_offset) {
    if (kind == SERVE_CHAT) return json_pack("{s:o,s:n}", "content", entries, "refusal");
    json_t *tokens = json_array(), *lps = json_array(), *tops = json_array(), *offsets = json_array();
    size_t i;
    json_t *e;
    json_array_foreach(entries, i, e) {
        json_array_append(tokens, json_object_get(e, "token"));
        json_array_append(lps, json_object_get(e, "logprob"));
        json_t *alts = json_object(), *alt;
        size_t j;
        json_array_foreach(json_object_get(e, "top_logprobs"), j, alt)
            json_object_set(alts, json_string_value(json_object_get(alt, "token")), json_object_get(alt, "logprob"));
        json_array_append_new(tops, alts);
        json_array_append_new(offsets, json_integer((json_int_t)*text_offset));
        *text_offset += json_array_size(json_object_get(e, "bytes"));
    }
    json_decref(entries);
    return json_pack("{s:o,s:o,s:o,s:o}", "tokens", tokens, "token_logprobs", lps, "top_logprobs", tops, "text_offset",
                     offsets);
}
