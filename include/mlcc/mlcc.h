/* mlcc.h - the public C API of mlcc's LLM engine (DESIGN.md §5): load a model, submit
 * OpenAI-style requests as JSON, receive OpenAI response JSON through a callback.
 *
 *     char *err = NULL;
 *     mlcc_llm *llm = mlcc_llm_create("path/to/model", "{\"max_seq\": 2048}", &err);
 *     if (!llm) { fprintf(stderr, "%s\n", err); mlcc_llm_free_string(err); return 1; }
 *     uint64_t id;
 *     char *error_json = NULL;
 *     int status = mlcc_llm_submit(llm, "{\"messages\": [{\"role\": \"user\", \"content\": \"Hi\"}],"
 *                                       " \"stream\": true}", -1, MLCC_LLM_CHAT, on_response, ctx,
 *                                  &id, &error_json);
 *     ... on_response gets chunk JSON as it is generated; the last call has final = 1 ...
 *     mlcc_llm_destroy(llm);
 *
 * Requests (the bodies of OpenAI's /v1/chat/completions and /v1/completions): model, messages
 * (string content or text content parts) or prompt (a string, strings, token ids, or arrays of
 * token ids), max_tokens / max_completion_tokens, temperature, top_p, n, stop, seed,
 * presence_penalty, frequency_penalty, logit_bias, logprobs / top_logprobs, stream,
 * stream_options.include_usage, user,
 * and the extensions top_k, min_p, repetition_penalty, ignore_eos. Structured generation:
 * response_format ({"type": "json_object"} or {"type": "json_schema", "json_schema": {"name",
 * "schema", "strict"}}), tools with tool_choice ("required" or a named function constrain the
 * reply to a call, answered as message.tool_calls with finish_reason "tool_calls"; "auto" shows
 * the tools to the chat template and leaves generation free; "none" ignores them), and the
 * extensions mlcc_grammar ({"type": "ebnf" | "regex", "value"}) and grammar_options
 * ({"flexible_whitespace", "max_string_chars", "max_number_digits"}); an invalid or unsupported
 * schema or grammar is refused (400) naming the field (docs/serve.md). Unknown fields are ignored;
 * a field of the wrong type or out of range is refused with an OpenAI error object naming it
 * ("param").
 *
 * Responses are exactly what the HTTP API sends:
 * - stream false: one call (final = 1, status 200) with the whole `chat.completion` or
 *   `text_completion` object, usage included;
 * - stream true: one call per chunk (`chat.completion.chunk` / `text_completion`); the chunk
 *   giving the last choice's finish_reason, or with stream_options.include_usage the usage
 *   chunk after it (choices []), comes with final = 1;
 * - on failure after submission (an engine error, or an abort): a final call with an error
 *   object ({"error": {"message", "type", "param", "code"}}) and its HTTP status (500, or 499
 *   for a request that was aborted).
 * Every accepted request gets exactly one final call, after which its callback is not called
 * again. Callbacks run on the engine's thread (which serves every request: continuous
 * batching): they must return quickly and must not call mlcc_llm_*.
 *
 * Thread safety: every function may be called from any thread, concurrently, except
 * mlcc_llm_destroy, which must be the last call. Strings returned are malloc'ed (free them
 * with mlcc_llm_free_string). */
#ifndef MLCC_H
#define MLCC_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mlcc_llm mlcc_llm;

typedef enum mlcc_llm_kind {
    MLCC_LLM_CHAT = 0,      /* /v1/chat/completions */
    MLCC_LLM_COMPLETION = 1 /* /v1/completions */
} mlcc_llm_kind;

/* json: one response object (NUL-terminated, valid only during the call); status: its HTTP
 * status (200, or an error's); final: 1 on the request's last call. */
typedef void (*mlcc_llm_callback)(void *user, const char *json, int status, int final);

/* Loads a model: a Hugging Face folder, a .gguf file, or HF://org/repo[/file.gguf] (downloaded
 * into the cache). options_json (NULL or "{}" for defaults):
 *   "mode": "interactive" (batch 1), "local" (batch 4) or "server" (default: batch and KV cache
 *           as large as memory allows);
 *   "max_seq": context window, prompt + output (default: the mode's; capped by the model's);
 *   "max_batch": most sequences decoded together (default: the mode's);
 *   "threads": CPU threads (default: MLCC_NUM_THREADS, else all CPUs);
 *   "model_id": the name requests' "model" must match and responses carry (default: the
 *               model's folder or file name, or org/repo for HF://);
 *   "max_waiting": requests that may wait in the queue before new ones get 429 (default 256);
 *   "quiet": true to skip the start-up log on stderr.
 * NULL on failure, with a message in *error (when error is not NULL). */
mlcc_llm *mlcc_llm_create(const char *model, const char *options_json, char **error);

/* Submits a request (len bytes of JSON, or NUL-terminated when len < 0). Returns 0 when the
 * request is queued (its id in *request_id, when not NULL): cb will be called as described
 * above. Otherwise returns the HTTP status of the refusal (400 bad request, 404 unknown model,
 * 429 queue full, 503 shutting down) and, when error_json is not NULL, sets *error_json to the
 * OpenAI error object; cb is never called for it. */
int mlcc_llm_submit(mlcc_llm *llm, const char *request_json, ptrdiff_t len, mlcc_llm_kind kind,
                    mlcc_llm_callback cb, void *user, uint64_t *request_id, char **error_json);

/* Aborts a request, waiting or running: its final call (status 499) comes after the engine's
 * current step, and its KV cache pages go back to the pool. 0 when the request was still open,
 * -1 when it is unknown or already finished. */
int mlcc_llm_abort(mlcc_llm *llm, uint64_t request_id);

/* Engine metrics as JSON: requests by outcome, prompt and generated tokens, running and
 * waiting requests, the engine's sequences and largest decode batch, KV cache pages used and in
 * all, time-to-first-token, inter-token and end-to-end latency histograms. */
char *mlcc_llm_metrics(mlcc_llm *llm);

/* The model id requests are matched against (owned by llm). */
const char *mlcc_llm_model_id(const mlcc_llm *llm);

/* Aborts every open request (their final calls are made before it returns) and frees llm. */
void mlcc_llm_destroy(mlcc_llm *llm);

void mlcc_llm_free_string(char *s);

#ifdef __cplusplus
}
#endif

#endif
