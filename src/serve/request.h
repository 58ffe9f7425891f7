/* request.h - an OpenAI request body (chat completion or completion) parsed and checked.
 *
 * The parser reads untrusted bytes (HTTP bodies): any input gives either a request or an
 * error in OpenAI's shape naming the offending field (`param`, e.g. "messages[1].content"),
 * never a crash. Unknown fields are ignored, as OpenAI does. */
#ifndef MLCC_SERVE_REQUEST_H
#define MLCC_SERVE_REQUEST_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "engine/engine.h"

#define SERVE_MAX_N 16     /* choices per request */
#define SERVE_MAX_STOP 16  /* stop strings */
#define SERVE_MAX_PROMPTS 64

/* An error answered to the client: HTTP status + OpenAI's {"error": {...}} fields. */
typedef struct serve_error {
    int status;
    const char *type; /* "invalid_request_error", "not_found_error", "server_error", ... */
    const char *code; /* NULL or e.g. "model_not_found" */
    char param[128];  /* "" when the error concerns no one field */
    char message[512];
} serve_error;

/* Sets err and returns -1. param may be NULL. */
int serve_error_set(serve_error *err, int status, const char *type, const char *code, const char *param,
                    const char *fmt, ...) __attribute__((format(printf, 6, 7)));
/* "Invalid type for 'param': expected ..., but got ... instead." (400, code invalid_type); -1. */
int serve_error_wrong_type(serve_error *err, const char *param, const char *expected, const json_t *got);
/* "an object", "a string", ... "null" (also for NULL), as OpenAI's messages name JSON types. */
const char *serve_json_type_name(const json_t *v);
/* {"error": {"message", "type", "param", "code"}} as a malloc'ed string. */
char *serve_error_json(const serve_error *err);

typedef enum serve_kind { SERVE_CHAT, SERVE_COMPLETION } serve_kind;

/* One completions prompt: text (tokenized with the tokenizer's special tokens) or token ids. */
typedef struct serve_prompt {
    char *text; /* NULL when ids are given */
    size_t text_len;
    int32_t *ids;
    size_t nids;
} serve_prompt;

typedef struct serve_request {
    serve_kind kind;
    char *model;       /* NULL when absent */
    json_t *messages;  /* chat: [{role, content: string}...], content parts joined */
    serve_prompt *prompts; /* completions */
    int nprompts;
    mlcc_gen_config gen; /* sampling, seed, max_tokens (0: up to the context), ignore_eos */
    char *stop[SERVE_MAX_STOP];
    int nstop;
    int32_t *bias_ids;
    float *bias_values;
    int n;
    int stream;
    int include_usage;
    int logprobs; /* return token logprobs (gen.top_logprobs alternatives each) */
    /* structured generation (serve/structured.h): the grammar every choice follows (owned;
     * NULL: free text); tool_call: replies are tool calls, returned as "tool_calls" */
    mlcc_grammar *grammar;
    int tool_call;
    /* tool_choice "auto" with tools: a reply that is only tool calls (a call's JSON, or
     * <tool_call>...</tool_call> blocks of them, naming listed tools) returns as "tool_calls" */
    int tool_auto;
    json_t *tools; /* the tools the chat template is given (NULL: none, or tool_choice "none") */
} serve_request;

/* Parses and checks a request body. vocab_size bounds token ids (prompt, logit_bias). 0, or
 * -1 with err filled (status 400). On failure *out holds nothing to free. */
int serve_request_parse(const char *body, size_t len, serve_kind kind, int vocab_size, serve_request *out,
                        serve_error *err);
void serve_request_free(serve_request *r);

#endif
