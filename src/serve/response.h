/* response.h - OpenAI response objects as JSON text: streaming chunks (chat.completion.chunk,
 * text_completion), whole responses (chat.completion, text_completion) and usage, in exactly
 * the shapes OpenAI's API sends. */
#ifndef MLCC_SERVE_RESPONSE_H
#define MLCC_SERVE_RESPONSE_H

#include <stddef.h>
#include <stdint.h>

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
} serve_choice;

/* A streaming chunk for choice `index`. role: the chat's first chunk of the choice (delta
 * {"role": "assistant", "content": ""}); text (may be NULL) the new text; finish_reason (may
 * be NULL) ends the choice (chat: delta {}). malloc'ed. */
char *serve_chunk_json(const serve_response_info *info, int index, int role, const char *text, size_t len,
                       const char *finish_reason);
/* The last chunk of a stream with include_usage: choices [] and the usage. */
char *serve_usage_chunk_json(const serve_response_info *info, const serve_usage *usage);
/* The whole response of a non-streaming request. */
char *serve_response_json(const serve_response_info *info, const serve_choice *choices, int nchoices,
                          const serve_usage *usage);

/* The length of the longest prefix of s that ends on a UTF-8 character boundary (a trailing
 * incomplete sequence, up to 3 bytes, is held back for the next piece). */
size_t serve_utf8_complete_prefix(const char *s, size_t len);

#endif
