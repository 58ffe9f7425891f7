/* template.h - mlcc's chat-template engine: a Jinja interpreter that renders Hugging Face chat
 * templates byte for byte as transformers does (Jinja2's ImmutableSandboxedEnvironment with
 * trim_blocks, lstrip_blocks and loopcontrols; tojson as json.dumps; raise_exception and
 * strftime_now globals), plus loading a model's template and built-in fallbacks. */
#ifndef MLCC_TEMPLATE_TEMPLATE_H
#define MLCC_TEMPLATE_TEMPLATE_H

#include <jansson.h>
#include <stddef.h>

typedef struct mlcc_template mlcc_template;

/* Parses a template source. NULL with "NAME:LINE:COL: syntax error: ..." recorded on failure. */
mlcc_template *mlcc_template_parse(const char *src, size_t len, const char *name);
void mlcc_template_free(mlcc_template *t);

/* Details of a failed render. */
typedef struct mlcc_template_error {
    int line, col;
    int raised;        /* 1: the template called raise_exception (a client error: HTTP 400) */
    char message[512]; /* without the position, e.g. the raise_exception text */
} mlcc_template_error;

/* Renders with `context` (a JSON object: every key becomes a template variable). Returns a
 * malloc'ed UTF-8 string, or NULL with "NAME:LINE:COL: message" recorded (and *err filled when
 * err != NULL). Thread-safe: a template may be rendered by several threads at once. */
char *mlcc_template_render(const mlcc_template *t, json_t *context);
char *mlcc_template_render_ex(const mlcc_template *t, json_t *context, mlcc_template_error *err);
/* The same, also giving the length (the prompt may contain NUL characters). */
char *mlcc_template_render_n(const mlcc_template *t, json_t *context, mlcc_template_error *err, size_t *len);

/* Bounds on one render, so a hostile template cannot hang or exhaust memory: evaluation steps
 * (statements + expressions + work inside filters), and the size of any string or container
 * (bytes / items). Zero fields take the defaults below. */
typedef struct mlcc_template_limits {
    unsigned long long max_steps;
    size_t max_size;
} mlcc_template_limits;
#define MLCC_TEMPLATE_DEFAULT_MAX_STEPS 100000000ull
#define MLCC_TEMPLATE_DEFAULT_MAX_SIZE ((size_t)256 << 20)
char *mlcc_template_render_limited(const mlcc_template *t, json_t *context, const mlcc_template_limits *limits,
                                   mlcc_template_error *err, size_t *len);

/* Builds the context transformers passes to a chat template from a request-like JSON object:
 * messages, tools (None when absent), documents (None when absent), add_generation_prompt
 * (False when absent), then the special tokens (bos_token, eos_token, ... from `specials`,
 * may be NULL), then every other key of `input` (overriding). Returns a new reference. */
json_t *mlcc_chat_context(json_t *input, json_t *specials);

/* A model's chat template and special tokens. */
typedef struct mlcc_chat_template {
    mlcc_template *tmpl;
    char *source;                  /* the template text */
    mlcc_template *tool_use;       /* the "tool_use" template of a named list, or NULL */
    json_t *specials;              /* {"bos_token": "...", "eos_token": "...", ...} as strings */
} mlcc_chat_template;

/* The template transformers would pick: "tool_use" when the request has tools and the model
 * names one, else the default. */
const mlcc_template *mlcc_chat_template_select(const mlcc_chat_template *ct, json_t *input);

/* Loads DIR/chat_template.jinja (or tokenizer_config.json's chat_template, a string or a list
 * of {name, template} where "default" is used) and the special tokens of tokenizer_config.json
 * (strings or {"content": ...} objects). When the model ships no template, `fallback` names a
 * built-in one (NULL: fail). Returns 0, or -1 with an error. */
int mlcc_chat_template_load_model(const char *dir, const char *fallback, mlcc_chat_template *out);
/* A built-in template by name ("chatml", "llama-2", "llama-3", "mistral", "gemma", "phi-3",
 * "qwen"...); NULL when unknown. */
const char *mlcc_chat_template_builtin(const char *name);
/* Space-separated names of the built-ins (static). */
const char *mlcc_chat_template_builtin_names(void);
void mlcc_chat_template_free(mlcc_chat_template *ct);

/* The clock strftime_now uses: MLCC_FIXED_TIME when set (seconds since the epoch, or an ISO
 * 8601 UTC time such as 2026-11-24T12:00:00Z), else the local time now. */

#endif
