/* structured.h - structured generation in OpenAI requests (issue 16): `response_format`
 * (json_object, json_schema), the `mlcc_grammar` extension (EBNF or regex), `tools` with
 * `tool_choice`, compiled into the grammar a request's sequences follow; and tool calls read
 * back from the constrained text into OpenAI's `tool_calls` shape. */
#ifndef MLCC_SERVE_STRUCTURED_H
#define MLCC_SERVE_STRUCTURED_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "serve/request.h"

/* Reads response_format, mlcc_grammar, grammar_options, tools and tool_choice from a request
 * body into r (r->grammar, r->tool_call). An invalid or unsupported schema or grammar is a 400
 * naming the field and carrying the grammar compiler's message. */
int serve_structured_parse(json_t *root, serve_request *r, serve_error *err);

/* The tool_calls array ([{"id", "type": "function", "function": {"name", "arguments"}}]) for
 * the text a tool-call grammar produced ({"name": ..., "arguments": {...}}), or NULL when the
 * text is not a complete call (e.g. it was cut by max_tokens). id_seed makes the call ids
 * unique per choice. */
json_t *serve_tool_calls_from_text(const char *text, size_t len, const char *id_seed, int index);

/* The same for a free reply under tool_choice "auto": the calls when the text (spaces aside) is
 * one call's JSON or a run of <tool_call>JSON</tool_call> blocks (Hermes/Qwen style), each
 * naming one of tools (the request's array); else NULL (the reply is text). */
json_t *serve_tool_calls_auto(const char *text, size_t len, json_t *tools, const char *id_seed, int index);

/* The grammar cache's counters (requests that found their grammar compiled, those that
 * compiled it, grammars held). */
void serve_structured_cache_stats(uint64_t *hits, uint64_t *misses, int *entries);

#endif
