/* request.c - parsing and checking OpenAI request bodies (see request.h).
 *
 * Type errors read like OpenAI's ("Invalid type for 'temperature': expected a number, but got
 * a string instead."), range errors name the field and its bounds. A JSON null counts as an
 * absent field, as OpenAI's API treats it. */
#include "serve/request.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "serve/structured.h"
#include "support/alloc.h"
#include "support/json.h"
#include "support/strbuf.h"

int serve_error_set(serve_error *err, int status, const char *type, const char *code, const char *param,
                    const char *fmt, ...) {
    err->status = status;
    err->type = type;
    err->code = code;
    snprintf(err->param, sizeof err->param, "%s", param ? param : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    return -1;
}

char *serve_error_json(const serve_error *err) {
    /* message and param may quote the request (a field name, jansson's "near '...'"), cut
     * anywhere: as strict strings, invalid UTF-8 there made the whole error JSON NULL */
    json_t *inner = json_object();
    json_object_set_new(inner, "message", mlcc_json_string_lossy(err->message, strlen(err->message)));
    json_object_set_new(inner, "type", json_string(err->type ? err->type : "invalid_request_error"));
    json_object_set_new(inner, "param", err->param[0] ? mlcc_json_string_lossy(err->param, strlen(err->param)) : json_null());
    json_object_set_new(inner, "code", err->code ? json_string(err->code) : json_null());
    json_t *root = json_pack("{s:o}", "error", inner);
    char *s = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    return s;
}

static int bad_request(serve_error *err, const char *param, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int bad_request(serve_error *err, const char *param, const char *fmt, ...) {
    err->status = 400;
    err->type = "invalid_request_error";
    err->code = NULL;
    snprintf(err->param, sizeof err->param, "%s", param ? param : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    return -1;
}

const char *serve_json_type_name(const json_t *v) {
    switch (v ? json_typeof(v) : JSON_NULL) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER: return "an integer";
    case JSON_REAL: return "a number";
    case JSON_TRUE:
    case JSON_FALSE: return "a boolean";
    default: return "null";
    }
}

int serve_error_wrong_type(serve_error *err, const char *param, const char *expected, const json_t *got) {
    return serve_error_set(err, 400, "invalid_request_error", "invalid_type", param,
                           "Invalid type for '%s': expected %s, but got %s instead.", param, expected,
                           serve_json_type_name(got));
}

/* The field, or NULL when absent or null. */
static json_t *field(json_t *root, const char *key) {
    json_t *v = json_object_get(root, key);
    return json_is_null(v) ? NULL : v;
}

/* A number field within [lo, hi]; untouched when absent. */
static int get_number(json_t *root, const char *key, double lo, double hi, float *out, serve_error *err) {
    json_t *v = field(root, key);
    if (!v) return 0;
    if (!json_is_number(v)) return serve_error_wrong_type(err, key, "a number", v);
    double d = json_number_value(v);
    if (!(d >= lo && d <= hi))
        return bad_request(err, key, "'%s' is %g; it must be between %g and %g.", key, d, lo, hi);
    *out = (float)d;
    return 0;
}

/* An integer (an integral number is accepted too) within [lo, hi]; untouched when absent. */
static int get_integer(json_t *root, const char *key, int64_t lo, int64_t hi, int64_t *out, int *present,
                       serve_error *err) {
    json_t *v = field(root, key);
    if (present) *present = 0;
    if (!v) return 0;
    int64_t x;
    if (json_is_integer(v)) x = json_integer_value(v);
    else if (json_is_real(v) && json_real_value(v) == floor(json_real_value(v)) && fabs(json_real_value(v)) < 9e18)
        x = (int64_t)json_real_value(v);
    else return serve_error_wrong_type(err, key, "an integer", v);
    if (x < lo || x > hi)
        return bad_request(err, key, "'%s' is %lld; it must be between %lld and %lld.", key, (long long)x, (long long)lo,
                           (long long)hi);
    *out = x;
    if (present) *present = 1;
    return 0;
}

static int get_bool(json_t *root, const char *key, int *out, serve_error *err) {
    json_t *v = field(root, key);
    if (!v) return 0;
    if (!json_is_boolean(v)) return serve_error_wrong_type(err, key, "a boolean", v);
    *out = json_is_true(v);
    return 0;
}

/* ---- chat messages ---- */

/* A message's content as one string: a string, or text parts joined with newlines. */
static int message_content(json_t *content, const char *where, mlcc_strbuf *out, serve_error *err) {
    char param[128];
    if (json_is_string(content)) {
        sb_append_n(out, json_string_value(content), json_string_length(content));
        return 0;
    }
    snprintf(param, sizeof param, "%s.content", where);
    if (!json_is_array(content)) return serve_error_wrong_type(err, param, "a string or an array of content parts", content);
    for (size_t i = 0; i < json_array_size(content); i++) {
        json_t *part = json_array_get(content, i);
        snprintf(param, sizeof param, "%s.content[%zu]", where, i);
        if (!json_is_object(part)) return serve_error_wrong_type(err, param, "an object", part);
        json_t *type = json_object_get(part, "type"), *text = json_object_get(part, "text");
        snprintf(param, sizeof param, "%s.content[%zu].type", where, i);
        if (!json_is_string(type)) return serve_error_wrong_type(err, param, "a string", type ? type : json_null());
        if (strcmp(json_string_value(type), "text") != 0)
            return bad_request(err, param, "Content parts of type '%s' are not supported; only 'text'.",
                               json_string_value(type));
        snprintf(param, sizeof param, "%s.content[%zu].text", where, i);
        if (!json_is_string(text)) return serve_error_wrong_type(err, param, "a string", text ? text : json_null());
        if (i) sb_append_char(out, '\n');
        sb_append_n(out, json_string_value(text), json_string_length(text));
    }
    return 0;
}

static int parse_messages(json_t *root, serve_request *r, serve_error *err) {
    json_t *msgs = json_object_get(root, "messages");
    if (!msgs || json_is_null(msgs)) return bad_request(err, "messages", "Missing required parameter: 'messages'.");
    if (!json_is_array(msgs)) return serve_error_wrong_type(err, "messages", "an array", msgs);
    if (json_array_size(msgs) == 0)
        return bad_request(err, "messages", "'messages' is empty; it needs at least one message.");
    static const char *const roles[] = {"system", "developer", "user", "assistant", "tool"};
    r->messages = json_array();
    for (size_t i = 0; i < json_array_size(msgs); i++) {
        json_t *m = json_array_get(msgs, i);
        char where[64], param[96];
        snprintf(where, sizeof where, "messages[%zu]", i);
        if (!json_is_object(m)) return serve_error_wrong_type(err, where, "an object", m);
        json_t *role = json_object_get(m, "role");
        snprintf(param, sizeof param, "%s.role", where);
        if (!role) return bad_request(err, param, "Missing required parameter: '%s'.", param);
        if (!json_is_string(role)) return serve_error_wrong_type(err, param, "a string", role);
        const char *rs = json_string_value(role);
        int known = 0;
        for (size_t k = 0; k < sizeof roles / sizeof *roles; k++) known |= strcmp(rs, roles[k]) == 0;
        if (!known)
            return bad_request(err, param,
                               "Invalid value: '%.64s'. Supported values are: 'system', 'developer', 'user', "
                               "'assistant' and 'tool'.",
                               rs);
        json_t *content = json_object_get(m, "content");
        mlcc_strbuf text = STRBUF_INIT;
        if (content && !json_is_null(content)) {
            if (message_content(content, where, &text, err) != 0) {
                sb_free(&text);
                return -1;
            }
        } else if (strcmp(rs, "assistant") != 0) {
            snprintf(param, sizeof param, "%s.content", where);
            return bad_request(err, param, "Missing required parameter: '%s'.", param);
        }
        /* templates know "system"; OpenAI's newer "developer" role means the same */
        const char *role_out = strcmp(rs, "developer") == 0 ? "system" : rs;
        json_t *copy = json_pack("{s:s,s:s%}", "role", role_out, "content", sb_cstr(&text), text.len);
        sb_free(&text);
        if (!copy) {
            snprintf(param, sizeof param, "%s.content", where);
            return bad_request(err, param, "'%s' is not valid UTF-8.", param);
        }
        json_t *name = json_object_get(m, "name");
        if (json_is_string(name)) json_object_set(copy, "name", name);
        /* a tool-use conversation, passed on to templates that render it */
        json_t *calls = json_object_get(m, "tool_calls"), *call_id = json_object_get(m, "tool_call_id");
        if (json_is_array(calls)) json_object_set(copy, "tool_calls", calls);
        if (json_is_string(call_id)) json_object_set(copy, "tool_call_id", call_id);
        json_array_append_new(r->messages, copy);
    }
    return 0;
}

/* ---- completions prompts ---- */

static int parse_ids(json_t *arr, const char *param, int vocab_size, serve_prompt *p, serve_error *err) {
    size_t n = json_array_size(arr);
    if (n == 0) return bad_request(err, param, "'%s' is an empty list of token ids.", param);
    p->ids = mlcc_xmalloc(sizeof(int32_t) * n);
    for (size_t i = 0; i < n; i++) {
        json_t *v = json_array_get(arr, i);
        if (!json_is_integer(v)) return serve_error_wrong_type(err, param, "an array of token ids (integers)", v);
        json_int_t id = json_integer_value(v);
        if (id < 0 || id >= vocab_size)
            return bad_request(err, param, "Token id %lld in '%s' is outside the vocabulary (0 to %d).", (long long)id,
                               param, vocab_size - 1);
        p->ids[i] = (int32_t)id;
        p->nids = i + 1;
    }
    return 0;
}

static void add_text_prompt(serve_request *r, json_t *s) {
    serve_prompt *p = &r->prompts[r->nprompts++];
    p->text_len = json_string_length(s);
    p->text = mlcc_xmalloc(p->text_len + 1);
    memcpy(p->text, json_string_value(s), p->text_len + 1);
}

static int parse_prompt(json_t *root, serve_request *r, int vocab_size, serve_error *err) {
    json_t *prompt = json_object_get(root, "prompt");
    if (!prompt || json_is_null(prompt)) return bad_request(err, "prompt", "Missing required parameter: 'prompt'.");
    if (json_is_string(prompt)) {
        r->prompts = mlcc_xcalloc(1, sizeof *r->prompts);
        add_text_prompt(r, prompt);
        return 0;
    }
    const char *expected = "a string, an array of strings, an array of token ids or an array of arrays of token ids";
    if (!json_is_array(prompt)) return serve_error_wrong_type(err, "prompt", expected, prompt);
    size_t n = json_array_size(prompt);
    if (n == 0) return bad_request(err, "prompt", "'prompt' is an empty array.");
    json_t *first = json_array_get(prompt, 0);
    if (json_is_integer(first)) { /* one prompt of token ids */
        r->prompts = mlcc_xcalloc(1, sizeof *r->prompts);
        r->nprompts = 1;
        return parse_ids(prompt, "prompt", vocab_size, &r->prompts[0], err);
    }
    if (n > SERVE_MAX_PROMPTS)
        return bad_request(err, "prompt", "'prompt' has %zu prompts; at most %d are accepted.", n, SERVE_MAX_PROMPTS);
    r->prompts = mlcc_xcalloc(n, sizeof *r->prompts);
    for (size_t i = 0; i < n; i++) {
        json_t *item = json_array_get(prompt, i);
        char param[48];
        snprintf(param, sizeof param, "prompt[%zu]", i);
        if (json_is_string(item)) add_text_prompt(r, item);
        else if (json_is_array(item)) {
            r->nprompts++;
            if (parse_ids(item, param, vocab_size, &r->prompts[r->nprompts - 1], err) != 0) return -1;
        } else return serve_error_wrong_type(err, param, "a string or an array of token ids", item);
    }
    return 0;
}

/* ---- sampling and output controls ---- */

static int parse_stop(json_t *root, serve_request *r, serve_error *err) {
    json_t *stop = field(root, "stop");
    if (!stop) return 0;
    if (json_is_string(stop)) {
        if (json_string_length(stop)) r->stop[r->nstop++] = mlcc_xstrdup(json_string_value(stop));
        return 0;
    }
    if (!json_is_array(stop)) return serve_error_wrong_type(err, "stop", "a string or an array of strings", stop);
    if (json_array_size(stop) > SERVE_MAX_STOP)
        return bad_request(err, "stop", "'stop' has %zu strings; at most %d are accepted.", json_array_size(stop),
                           SERVE_MAX_STOP);
    for (size_t i = 0; i < json_array_size(stop); i++) {
        json_t *s = json_array_get(stop, i);
        if (!json_is_string(s)) return serve_error_wrong_type(err, "stop", "a string or an array of strings", s);
        /* the stop matcher works on C strings: a NUL inside would silently shorten it */
        if (strlen(json_string_value(s)) != json_string_length(s))
            return bad_request(err, "stop", "'stop' strings must not contain NUL characters.");
        if (json_string_length(s)) r->stop[r->nstop++] = mlcc_xstrdup(json_string_value(s));
    }
    return 0;
}

static int parse_logit_bias(json_t *root, serve_request *r, int vocab_size, serve_error *err) {
    json_t *bias = field(root, "logit_bias");
    if (!bias) return 0;
    if (!json_is_object(bias)) return serve_error_wrong_type(err, "logit_bias", "an object", bias);
    size_t n = json_object_size(bias);
    if (n > 1024) return bad_request(err, "logit_bias", "'logit_bias' has %zu entries; at most 1024.", n);
    r->bias_ids = mlcc_xmalloc(sizeof(int32_t) * (n ? n : 1));
    r->bias_values = mlcc_xmalloc(sizeof(float) * (n ? n : 1));
    const char *key;
    json_t *v;
    int count = 0;
    json_object_foreach(bias, key, v) {
        char *end;
        errno = 0;
        long id = strtol(key, &end, 10);
        if (end == key || *end || errno || id < 0 || id >= vocab_size)
            return bad_request(err, "logit_bias", "'logit_bias' key '%.32s' is not a token id (0 to %d).", key,
                               vocab_size - 1);
        if (!json_is_number(v)) return serve_error_wrong_type(err, "logit_bias", "numbers as values", v);
        double d = json_number_value(v);
        if (!(d >= -100 && d <= 100))
            return bad_request(err, "logit_bias", "'logit_bias' value %g for token %ld is outside -100 to 100.", d, id);
        r->bias_ids[count] = (int32_t)id;
        r->bias_values[count] = (float)d;
        count++;
    }
    r->gen.sampling.bias_ids = r->bias_ids;
    r->gen.sampling.bias_values = r->bias_values;
    r->gen.sampling.nbias = count;
    return 0;
}

/* Chat: logprobs (boolean) and top_logprobs (0 to 20, needs logprobs); completions: logprobs
 * (0 to 5 alternatives; present means token logprobs are returned). */
static int parse_logprobs(json_t *root, serve_request *r, serve_error *err) {
    json_t *v = field(root, "logprobs");
    int64_t top = 0;
    int present = 0;
    if (r->kind == SERVE_CHAT) {
        if (v && !json_is_boolean(v)) return serve_error_wrong_type(err, "logprobs", "a boolean", v);
        r->logprobs = json_is_true(v);
        if (get_integer(root, "top_logprobs", 0, 20, &top, &present, err)) return -1;
        if (present && !r->logprobs)
            return bad_request(err, "top_logprobs", "'top_logprobs' needs 'logprobs' set to true.");
    } else {
        if (get_integer(root, "logprobs", 0, 5, &top, &present, err)) return -1;
        r->logprobs = present;
    }
    r->gen.top_logprobs = (int)top;
    return 0;
}

/* Fields we accept only in their "off" form. */
static int parse_unsupported(json_t *root, serve_kind kind, serve_error *err) {
    json_t *v;
    (void)kind;
    if ((v = field(root, "echo")) && json_is_true(v))
        return bad_request(err, "echo", "'echo' is not supported by this server yet.");
    if ((v = field(root, "suffix")) && !(json_is_string(v) && json_string_length(v) == 0))
        return bad_request(err, "suffix", "'suffix' is not supported by this server.");
    return 0;
}

static int parse_controls(json_t *root, serve_request *r, int vocab_size, serve_error *err) {
    mlcc_sampling_params *s = &r->gen.sampling;
    int64_t x;
    int present;
    if (get_number(root, "temperature", 0, 2, &s->temperature, err) || get_number(root, "top_p", 0, 1, &s->top_p, err) ||
        get_number(root, "min_p", 0, 1, &s->min_p, err) ||
        get_number(root, "presence_penalty", -2, 2, &s->presence_penalty, err) ||
        get_number(root, "frequency_penalty", -2, 2, &s->frequency_penalty, err) ||
        get_number(root, "repetition_penalty", 0.01, 100, &s->repetition_penalty, err))
        return -1;
    if (json_is_number(field(root, "top_p")) && !(s->top_p > 0))
        return bad_request(err, "top_p", "'top_p' must be greater than 0 (and at most 1).");
    if (get_integer(root, "top_k", -1, vocab_size, &x, &present, err)) return -1;
    if (present) s->top_k = x < 0 ? 0 : (int)x;
    x = 1;
    if (get_integer(root, "n", 1, SERVE_MAX_N, &x, NULL, err)) return -1;
    r->n = (int)x;
    const char *keys[] = {"max_tokens", "max_completion_tokens"};
    for (int i = 0; i < 2; i++) {
        if (get_integer(root, keys[i], 1, 1 << 30, &x, &present, err)) return -1;
        if (present) r->gen.max_tokens = (int)x;
    }
    json_t *seed = field(root, "seed");
    if (seed) {
        if (!json_is_integer(seed)) return serve_error_wrong_type(err, "seed", "an integer", seed);
        r->gen.seed = (uint64_t)json_integer_value(seed);
        r->gen.has_seed = 1;
    }
    if (get_bool(root, "ignore_eos", &r->gen.ignore_eos, err) || get_bool(root, "stream", &r->stream, err)) return -1;
    json_t *so = field(root, "stream_options");
    if (so) {
        if (!json_is_object(so)) return serve_error_wrong_type(err, "stream_options", "an object", so);
        json_t *iu = field(so, "include_usage");
        if (iu && !json_is_boolean(iu)) return serve_error_wrong_type(err, "stream_options.include_usage", "a boolean", iu);
        r->include_usage = json_is_true(iu);
    }
    json_t *v;
    if ((v = field(root, "model")) && !json_is_string(v)) return serve_error_wrong_type(err, "model", "a string", v);
    if (v) r->model = mlcc_xstrdup(json_string_value(v));
    if ((v = field(root, "user")) && !json_is_string(v)) return serve_error_wrong_type(err, "user", "a string", v);
    if (parse_stop(root, r, err) || parse_logit_bias(root, r, vocab_size, err)) return -1;
    return 0;
}

int serve_request_parse(const char *body, size_t len, serve_kind kind, int vocab_size, serve_request *out,
                        serve_error *err) {
    memset(out, 0, sizeof *out);
    out->kind = kind;
    out->gen = mlcc_gen_defaults();
    out->n = 1;
    json_error_t jerr;
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return bad_request(err, NULL, "We could not parse the JSON body of your request: line %d, column %d: %s.",
                           jerr.line, jerr.column, jerr.text);
    int rc = -1;
    if (!json_is_object(root)) {
        bad_request(err, NULL, "The request body must be a JSON object, not %s.", serve_json_type_name(root));
        goto done;
    }
    if (parse_controls(root, out, vocab_size, err) || parse_logprobs(root, out, err) || parse_unsupported(root, kind, err) ||
        serve_structured_parse(root, out, err))
        goto done;
    if (kind == SERVE_CHAT ? parse_messages(root, out, err) : parse_prompt(root, out, vocab_size, err)) goto done;
    rc = 0;
done:
    json_decref(root);
    if (rc != 0) serve_request_free(out);
    return rc;
}

void serve_request_free(serve_request *r) {
    free(r->model);
    json_decref(r->messages);
    for (int i = 0; i < r->nprompts; i++) {
        free(r->prompts[i].text);
        free(r->prompts[i].ids);
    }
    free(r->prompts);
    for (int i = 0; i < r->nstop; i++) free(r->stop[i]);
    free(r->bias_ids);
    free(r->bias_values);
    mlcc_grammar_free(r->grammar);
    json_decref(r->tools);
    memset(r, 0, sizeof *r);
}
