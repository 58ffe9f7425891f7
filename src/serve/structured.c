/* structured.c - response_format, the mlcc_grammar extension and tools (see structured.h).
 *
 * Every form becomes one mlcc_grammar owned by the request and shared by its choices:
 *   {"type": "json_object"}                          any JSON object;
 *   {"type": "json_schema", "json_schema": {"name", "schema", "strict"}}
 *                                                    that schema (strict: no properties beyond
 *                                                    those listed, as OpenAI's strict mode);
 *   "mlcc_grammar": {"type": "ebnf"|"regex", "value": "..."}   (extension) that grammar;
 *   tools + tool_choice "required" or {"type": "function", "function": {"name"}}
 *                                                    {"name": <an allowed function>,
 *                                                     "arguments": <its parameters schema>}.
 * tool_choice "auto" (the default with tools) and "none" leave generation free; under "auto" a
 * reply that is only tool calls is returned as tool_calls (serve_tool_calls_auto). The extension
 * "grammar_options" ({"flexible_whitespace", "max_string_chars", "max_number_digits"}) tunes
 * the JSON grammars (grammar.h's mlcc_grammar_options). */
#include "serve/structured.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grammar/grammar.h"
#include "support/error.h"

#define BAD(err, param, ...) serve_error_set(err, 400, "invalid_request_error", NULL, param, __VA_ARGS__)

/* The field, or NULL when absent or null. */
static json_t *field(json_t *obj, const char *key) {
    json_t *v = json_object_get(obj, key);
    return json_is_null(v) ? NULL : v;
}

static int parse_grammar_options(json_t *root, mlcc_grammar_options *opt, serve_error *err) {
    json_t *o = field(root, "grammar_options");
    if (!o) return 0;
    if (!json_is_object(o)) return serve_error_wrong_type(err, "grammar_options", "an object", o);
    json_t *v;
    if ((v = field(o, "flexible_whitespace"))) {
        if (!json_is_boolean(v)) return serve_error_wrong_type(err, "grammar_options.flexible_whitespace", "a boolean", v);
        opt->flexible_whitespace = json_is_true(v);
    }
    static const char *const ints[] = {"max_string_chars", "max_number_digits"};
    for (int i = 0; i < 2; i++) {
        char param[64];
        snprintf(param, sizeof param, "grammar_options.%s", ints[i]);
        if (!(v = field(o, ints[i]))) continue;
        if (!json_is_integer(v)) return serve_error_wrong_type(err, param, "an integer", v);
        json_int_t x = json_integer_value(v);
        if (x < 0 || x > 1000000) return BAD(err, param, "'%s' is %lld; it must be between 0 and 1000000.", param, (long long)x);
        *(i == 0 ? &opt->max_string_chars : &opt->max_number_digits) = (int)x;
    }
    return 0;
}

/* The server's compiled grammars, by source (a request repeating a schema skips compiling and
 * shares the mask cache): one for the process, made on first use. */
#define GRAMMAR_CACHE_CAPACITY 64
static mlcc_grammar_cache *grammar_cache;
static pthread_once_t grammar_cache_once = PTHREAD_ONCE_INIT;

static void make_grammar_cache(void) {
    grammar_cache = mlcc_grammar_cache_new(GRAMMAR_CACHE_CAPACITY);
}

static mlcc_grammar *cached_grammar(mlcc_grammar_kind kind, const char *text, size_t len, const mlcc_grammar_options *opt,
                                    const char *what) {
    pthread_once(&grammar_cache_once, make_grammar_cache);
    return mlcc_grammar_cache_get(grammar_cache, kind, text, len, opt, what);
}

void serve_structured_cache_stats(uint64_t *hits, uint64_t *misses, int *entries) {
    pthread_once(&grammar_cache_once, make_grammar_cache);
    mlcc_grammar_cache_stats(grammar_cache, hits, misses, entries);
}

static mlcc_grammar *json_object_grammar(const mlcc_grammar_options *opt) {
    static const char any_object[] = "{\"type\":\"object\"}";
    return cached_grammar(MLCC_GRAMMAR_JSON_SCHEMA, any_object, sizeof any_object - 1, opt, NULL);
}

/* Compiles schema (a JSON value) with opt; a failure is a 400 on param. */
static mlcc_grammar *compile_schema(json_t *schema, const mlcc_grammar_options *opt, const char *param,
                                    serve_error *err) {
    char *text = json_dumps(schema, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
    mlcc_grammar *g = text ? cached_grammar(MLCC_GRAMMAR_JSON_SCHEMA, text, strlen(text), opt, NULL) : NULL;
    free(text);
    if (!g) BAD(err, param, "Invalid schema for '%s': %s", param, mlcc_last_error());
    return g;
}

static int parse_response_format(json_t *root, const mlcc_grammar_options *base, serve_request *r, serve_error *err) {
    json_t *rf = field(root, "response_format");
    if (!rf) return 0;
    if (!json_is_object(rf)) return serve_error_wrong_type(err, "response_format", "an object", rf);
    json_t *type = json_object_get(rf, "type");
    if (!json_is_string(type)) return serve_error_wrong_type(err, "response_format.type", "a string", type);
    const char *t = json_string_value(type);
    mlcc_grammar_options opt = *base;
    if (strcmp(t, "text") == 0) return 0;
    if (strcmp(t, "json_object") == 0) {
        r->grammar = json_object_grammar(&opt);
        if (!r->grammar) return BAD(err, "response_format", "The JSON grammar failed to build: %s", mlcc_last_error());
        return 0;
    }
    if (strcmp(t, "json_schema") != 0)
        return BAD(err, "response_format.type",
                   "Invalid value: '%.64s'. Supported values are: 'text', 'json_object' and 'json_schema'.", t);
    json_t *js = json_object_get(rf, "json_schema");
    if (!json_is_object(js)) return serve_error_wrong_type(err, "response_format.json_schema", "an object", js);
    json_t *name = json_object_get(js, "name");
    if (!name) return BAD(err, "response_format.json_schema.name", "Missing required parameter: 'response_format.json_schema.name'.");
    if (!json_is_string(name)) return serve_error_wrong_type(err, "response_format.json_schema.name", "a string", name);
    json_t *strict = field(js, "strict");
    if (strict && !json_is_boolean(strict)) return serve_error_wrong_type(err, "response_format.json_schema.strict", "a boolean", strict);
    opt.strict_properties = json_is_true(strict);
    json_t *schema = field(js, "schema");
    if (!schema) { /* OpenAI: no schema means any JSON object */
        r->grammar = json_object_grammar(&opt);
        if (!r->grammar) return BAD(err, "response_format", "The JSON grammar failed to build: %s", mlcc_last_error());
        return 0;
    }
    if (!json_is_object(schema) && !json_is_boolean(schema))
        return serve_error_wrong_type(err, "response_format.json_schema.schema", "an object", schema);
    r->grammar = compile_schema(schema, &opt, "response_format.json_schema.schema", err);
    return r->grammar ? 0 : -1;
}

static int parse_mlcc_grammar(json_t *root, serve_request *r, serve_error *err) {
    json_t *g = field(root, "mlcc_grammar");
    if (!g) return 0;
    if (!json_is_object(g)) return serve_error_wrong_type(err, "mlcc_grammar", "an object", g);
    if (r->grammar) return BAD(err, "mlcc_grammar", "'mlcc_grammar' and a JSON 'response_format' cannot be combined.");
    json_t *type = json_object_get(g, "type"), *value = json_object_get(g, "value");
    if (!json_is_string(type)) return serve_error_wrong_type(err, "mlcc_grammar.type", "a string", type);
    if (!json_is_string(value)) return serve_error_wrong_type(err, "mlcc_grammar.value", "a string", value);
    const char *t = json_string_value(type);
    const char *text = json_string_value(value);
    size_t len = json_string_length(value);
    if (strcmp(t, "ebnf") == 0) r->grammar = cached_grammar(MLCC_GRAMMAR_EBNF, text, len, NULL, "mlcc_grammar.value");
    else if (strcmp(t, "regex") == 0) r->grammar = cached_grammar(MLCC_GRAMMAR_REGEX, text, len, NULL, NULL);
    else return BAD(err, "mlcc_grammar.type", "Invalid value: '%.64s'. Supported values are: 'ebnf' and 'regex'.", t);
    if (!r->grammar) return BAD(err, "mlcc_grammar.value", "Invalid %s grammar: %s", t, mlcc_last_error());
    return 0;
}

/* ---- tools ---- */

/* The function name tool_choice names, "" for "required", NULL for "auto"/"none" (*none set). */
static int parse_tool_choice(json_t *root, int have_tools, const char **named, int *required, int *none,
                             serve_error *err) {
    json_t *tc = field(root, "tool_choice");
    *named = NULL;
    *required = *none = 0;
    if (!tc) {
        *none = !have_tools;
        return 0;
    }
    if (json_is_string(tc)) {
        const char *s = json_string_value(tc);
        if (strcmp(s, "none") == 0) *none = 1;
        else if (strcmp(s, "required") == 0) *required = 1;
        else if (strcmp(s, "auto") != 0)
            return BAD(err, "tool_choice", "Invalid value: '%.64s'. Supported values are: 'none', 'auto' and 'required'.", s);
    } else if (json_is_object(tc)) {
        json_t *type = json_object_get(tc, "type"), *fn = json_object_get(tc, "function");
        if (!json_is_string(type) || strcmp(json_string_value(type), "function") != 0)
            return BAD(err, "tool_choice.type", "'tool_choice.type' must be 'function'.");
        if (!json_is_object(fn)) return serve_error_wrong_type(err, "tool_choice.function", "an object", fn);
        json_t *name = json_object_get(fn, "name");
        if (!json_is_string(name)) return serve_error_wrong_type(err, "tool_choice.function.name", "a string", name);
        *named = json_string_value(name);
        *required = 1;
    } else return serve_error_wrong_type(err, "tool_choice", "a string or an object", tc);
    if (*required && !have_tools)
        return BAD(err, "tool_choice", "'tool_choice' requires a tool call, but no 'tools' were given.");
    return 0;
}

/* {"type":"object","properties":{"name":{"const":NAME},"arguments":PARAMS},...} */
static json_t *call_schema(const char *name, json_t *params) {
    json_t *props = json_pack("{s:{s:s},s:O}", "name", "const", name, "arguments", params);
    return json_pack("{s:s,s:o,s:[s,s],s:b}", "type", "object", "properties", props, "required", "name", "arguments",
                     "additionalProperties", 0);
}

static int parse_tools(json_t *root, const mlcc_grammar_options *base, serve_request *r, serve_error *err) {
    json_t *tools = field(root, "tools");
    if (tools && !json_is_array(tools)) return serve_error_wrong_type(err, "tools", "an array", tools);
    size_t ntools = tools ? json_array_size(tools) : 0;
    const char *named;
    int required, none;
    if (parse_tool_choice(root, ntools > 0, &named, &required, &none, err)) return -1;
    json_t *alts = json_array();
    int found = 0;
    mlcc_grammar_options opt = *base;
    opt.strict_properties = 1; /* arguments carry the listed parameters only */
    for (size_t i = 0; i < ntools; i++) {
        char param[96];
        json_t *t = json_array_get(tools, i);
        snprintf(param, sizeof param, "tools[%zu]", i);
        if (!json_is_object(t)) goto wrong_obj;
        json_t *type = json_object_get(t, "type");
        snprintf(param, sizeof param, "tools[%zu].type", i);
        if (!json_is_string(type) || strcmp(json_string_value(type), "function") != 0) {
            BAD(err, param, "'%s' must be 'function'.", param);
            goto fail;
        }
        json_t *fn = json_object_get(t, "function");
        snprintf(param, sizeof param, "tools[%zu].function", i);
        if (!json_is_object(fn)) {
            t = fn;
            goto wrong_obj;
        }
        json_t *name = json_object_get(fn, "name");
        snprintf(param, sizeof param, "tools[%zu].function.name", i);
        if (!json_is_string(name) || json_string_length(name) == 0) {
            serve_error_wrong_type(err, param, "a non-empty string", name);
            goto fail;
        }
        json_t *params = field(fn, "parameters");
        snprintf(param, sizeof param, "tools[%zu].function.parameters", i);
        if (params && !json_is_object(params)) {
            t = params;
            goto wrong_obj;
        }
        /* every tool's parameters compiled alone, so a bad schema is refused whatever
         * tool_choice says, and the error names this tool */
        json_t *p = params ? json_incref(params) : json_pack("{s:s}", "type", "object");
        mlcc_grammar *g = compile_schema(p, &opt, param, err);
        if (!g) {
            json_decref(p);
            goto fail;
        }
        mlcc_grammar_free(g);
        if (required && (!named || strcmp(named, json_string_value(name)) == 0)) {
            found = 1;
            json_array_append_new(alts, call_schema(json_string_value(name), p));
        }
        json_decref(p);
        continue;
    wrong_obj:
        serve_error_wrong_type(err, param, "an object", t);
        goto fail;
    }
    if (required && !found) {
        if (named) BAD(err, "tool_choice.function.name", "No tool named '%.64s' is among 'tools'.", named);
        else BAD(err, "tools", "'tools' has no function to call.");
        goto fail;
    }
    if (ntools && !none) r->tools = json_incref(tools); /* rendered by templates that know tools */
    r->tool_auto = ntools && !none && !required;
    if (required) {
        if (r->grammar) {
            BAD(err, "tool_choice", "A required tool call cannot be combined with a JSON 'response_format' or 'mlcc_grammar'.");
            goto fail;
        }
        json_t *schema = json_array_size(alts) == 1 ? json_incref(json_array_get(alts, 0)) : json_pack("{s:O}", "anyOf", alts);
        r->grammar = compile_schema(schema, &opt, "tools", err);
        json_decref(schema);
        if (!r->grammar) goto fail;
        r->tool_call = 1;
    }
    json_decref(alts);
    return 0;
fail:
    json_decref(alts);
    return -1;
}

int serve_structured_parse(json_t *root, serve_request *r, serve_error *err) {
    mlcc_grammar_options opt = mlcc_grammar_default_options();
    if (parse_grammar_options(root, &opt, err) || parse_response_format(root, &opt, r, err) ||
        parse_mlcc_grammar(root, r, err))
        return -1;
    if (r->kind == SERVE_CHAT) return parse_tools(root, &opt, r, err);
    if (field(root, "tools")) return BAD(err, "tools", "'tools' is a chat completions field.");
    return 0;
}

/* ---- reading tool calls back ---- */

/* The arguments are passed on as the model wrote them, not re-serialized: a JSON number may
 * exceed what jansson's integers hold (a schema without bounds allows any digits). So the text
 * is scanned for the span of the top-level "arguments" value. */

static size_t skip_ws(const char *s, size_t i, size_t n) {
    while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')) i++;
    return i;
}

/* The end of the JSON value starting at i (the text is known to be valid JSON). */
static size_t skip_value(const char *s, size_t i, size_t n) {
    int depth = 0;
    while (i < n) {
        char c = s[i];
        if (c == '"') {
            for (i++; i < n && s[i] != '"'; i++)
                if (s[i] == '\\') i++;
            i++;
            if (depth == 0) return i;
            continue;
        }
        if (c == '{' || c == '[') depth++;
        else if (c == '}' || c == ']') {
            if (depth == 0) return i;
            if (--depth == 0) return i + 1;
        } else if (depth == 0 && (c == ',' || c == ' ' || c == '\t' || c == '\n' || c == '\r')) return i;
        i++;
    }
    return n;
}

/* [start, end) of the top-level member "arguments" of the object text; 0 when absent. */
static int arguments_span(const char *s, size_t n, size_t *start, size_t *end) {
    size_t i = skip_ws(s, 0, n);
    if (i >= n || s[i] != '{') return 0;
    i++;
    while (1) {
        i = skip_ws(s, i, n);
        if (i >= n || s[i] != '"') return 0;
        size_t key = i;
        i = skip_value(s, i, n);
        int is_args = i - key == 11 && memcmp(s + key, "\"arguments\"", 11) == 0;
        i = skip_ws(s, i, n);
        if (i >= n || s[i] != ':') return 0;
        i = skip_ws(s, i + 1, n);
        size_t v = i;
        i = skip_value(s, i, n);
        if (is_args) {
            *start = v;
            *end = i;
            return 1;
        }
        i = skip_ws(s, i, n);
        if (i >= n || s[i] != ',') return 0;
        i++;
    }
}

json_t *serve_tool_calls_from_text(const char *text, size_t len, const char *id_seed, int index) {
    /* integers as reals: only the name is read from the parse; it checks the text is JSON */
    json_t *call = json_loadb(text, len, JSON_DECODE_INT_AS_REAL, NULL);
    json_t *name = json_object_get(call, "name");
    size_t a0, a1;
    if (!json_is_string(name) || !json_object_get(call, "arguments") || !arguments_span(text, len, &a0, &a1)) {
        json_decref(call);
        return NULL;
    }
    /* ids like OpenAI's "call_..." and unique within a response */
    char id[96];
    size_t seed_len = strlen(id_seed);
    const char *tail = seed_len > 24 ? id_seed + seed_len - 24 : id_seed;
    snprintf(id, sizeof id, "call_%s_%d", tail, index);
    json_t *out = json_pack("[{s:s,s:s,s:{s:O,s:s%}}]", "id", id, "type", "function", "function", "name", name,
                            "arguments", text + a0, a1 - a0);
    json_decref(call);
    return out;
}

/* One call read from the JSON text [p, p + n) when it names one of tools: appended to calls. */
static int auto_call(const char *p, size_t n, json_t *tools, const char *id_seed, int index, int k, json_t *calls) {
    json_t *one = serve_tool_calls_from_text(p, n, id_seed, index);
    if (!one) return -1;
    json_t *call = json_array_get(one, 0), *fn = json_object_get(call, "function");
    const char *name = json_string_value(json_object_get(fn, "name"));
    int listed = 0;
    size_t i;
    json_t *t;
    json_array_foreach(tools, i, t) {
        const char *tn = json_string_value(json_object_get(json_object_get(t, "function"), "name"));
        listed |= tn && name && strcmp(tn, name) == 0;
    }
    if (!listed) {
        json_decref(one);
        return -1;
    }
    if (k > 0) { /* ids unique within the choice */
        char id[112];
        snprintf(id, sizeof id, "%s_%d", json_string_value(json_object_get(call, "id")), k);
        json_object_set_new(call, "id", json_string(id));
    }
    json_array_append(calls, call);
    json_decref(one);
    return 0;
}

json_t *serve_tool_calls_auto(const char *text, size_t len, json_t *tools, const char *id_seed, int index) {
    static const char open[] = "<tool_call>", close[] = "</tool_call>";
    const size_t nopen = sizeof open - 1, nclose = sizeof close - 1;
    if (!json_is_array(tools)) return NULL;
    json_t *calls = json_array();
    size_t i = skip_ws(text, 0, len);
    if (i < len && text[i] == '{') { /* the whole reply is one call */
        if (auto_call(text + i, len - i, tools, id_seed, index, 0, calls)) goto none;
        return calls;
    }
    for (int k = 0; i < len; k++) {
        if (len - i < nopen || memcmp(text + i, open, nopen) != 0) goto none;
        i += nopen;
        const char *end = NULL;
        for (size_t j = i; j + nclose <= len && !end; j++)
            if (memcmp(text + j, close, nclose) == 0) end = text + j;
        if (!end || auto_call(text + i, (size_t)(end - text) - i, tools, id_seed, index, k, calls)) goto none;
        i = skip_ws(text, (size_t)(end - text) + nclose, len);
    }
    if (json_array_size(calls)) return calls;
none:
    json_decref(calls);
    return NULL;
}
