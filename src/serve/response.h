/* response.h - OpenAI response objects as JSON text: streaming chunks (chat.completion.chunk,
 * text_completion), whole responses (chat.completion, text_completion) and usage, in exactly
 * the shapes OpenAI's API sends. */
#ifndef MLCC_SERVE_RESPONSE_H
#define MLCC_SERVE_RESPONSE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "serve/request.h"

typedef struct serve_response_info {
    serve_kind kind;
    const char *id; /* "chatcmpl-..." / "cmpl-..." */
    const char *model;
    int64_t created;
    int include_usage; /* streaming: chunks carry "usage": null, then a usage chunk */
} serve_response_info;

typedef struct serve_usage {
    int prompt_tokens, completion_tokens;
} serve_usage;

/* One choice of a finished response. */
typedef struct serve_choice {
    const char *text;
    size_t len;
    const char *finish_reason;
    json_t *logprobs; /* borrowed; NULL: null */
    json_t *tool_calls; /* borrowed; non-NULL: the message has these tool calls, content null */
} serve_choice;

/* A streaming chunk for choice `index`. role: the chat's first chunk of the choice (delta
 * {"role": "assistant", "content": ""}); text (may be NULL) the new text; finish_reason (may
 * be NULL) ends the choice (chat: delta {}); logprobs (stolen; NULL: null) from
 * serve_logprobs_value. malloc'ed. */
char *serve_chunk_json(const serve_response_info *info, int index, int role, const char *text, size_t len,
                       const char *finish_reason, json_t *logprobs);

/* One token's logprob entry in the chat shape: {"token", "logprob", "bytes", "top_logprobs":
 * [{"token", "logprob", "bytes"}...]}; tops[i] are NUL-terminated token texts. */
json_t *serve_logprob_entry(const char *token, size_t len, double logprob, const char *const *tops,
                            const double *top_logprobs, int ntop);
/* The "logprobs" value of a choice from entries (stolen): chat {"content": [...], "refusal":
 * null}; completions {"tokens", "token_logprobs", "top_logprobs", "text_offset"}, offsets
 * counted from *text_offset (advanced). */
json_t *serve_logprobs_value(serve_kind kind, json_t *entries, size_t *text_offset);
/* A chat chunk whose delta carries tool_calls (from serve_tool_calls_from_text; borrowed),
 * each with its "index" in the list, as OpenAI streams them. */
char *serve_tool_call_chunk_json(const serve_response_info *info, int index, json_t *tool_calls);
/* The last chunk of a stream with include_usage: choices [] and the usage. */
char *serve_usage_chunk_json(const serve_response_info *info, const serve_usage *usage);
/* The whole response of a non-streaming request. */
char *serve_response_json(const serve_response_info *info, const serve_choice *choices, int nchoices,
                          const serve_usage *usage);

/* The length of the longest prefix of s that ends on a UTF-8 character boundary (a trailing
 * incomplete sequence, up to 3 bytes, is held back for the next piece). */
size_t serve_utf8_complete_prefix(const char *s, size_t len);

#endif
