/* test_serve_structured.c - structured generation through the C API (include/mlcc/mlcc.h) on
 * the fixture model tm-llama3 (random weights, the real Llama-3 tokenizer): only the grammar
 * keeps the output valid. At temperature 1 over several seeds (n choices, choice j seeded
 * seed + j), every reply to a response_format json_schema / json_object request parses as JSON,
 * ends with "stop" and is accepted whole by a matcher of the schema compiled here on its own
 * (plus hand-written checks of what each schema demands); regex and EBNF replies (the
 * mlcc_grammar extension) match the regex with PCRE2 and the EBNF's alternatives; a required or
 * named tool choice answers OpenAI-shaped tool_calls (finish_reason "tool_calls", arguments a
 * JSON string valid for the function's parameters), streamed as a tool_calls delta; "none"
 * gives text; a template that knows tools (tm-qwen3) gets them in its prompt unless "none"; invalid or unsupported schemas, grammars and tool choices are 400s naming the
 * field and the keyword. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "grammar/grammar.h"
#include "mlcc/mlcc.h"
#include "support/error.h"
#include "test.h"

#define SEEDS 4

typedef struct collector {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    json_t *events;
    int done, status;
} collector;

static void on_response(void *user, const char *json, int status, int final) {
    collector *c = user;
    pthread_mutex_lock(&c->lock);
    json_t *v = json_loads(json, 0, NULL);
    json_array_append_new(c->events, v ? v : json_string("INVALID JSON"));
    if (final) {
        c->done = 1;
        c->status = status;
        pthread_cond_broadcast(&c->cond);
    }
    pthread_mutex_unlock(&c->lock);
}

/* Submits req (stolen) and waits for its final call. Returns the submit status; *out gets the
 * events (or the error object when refused). */
static int run(mlcc_llm *llm, json_t *req, json_t **out) {
    char *body = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    collector c = {.events = json_array()};
    pthread_mutex_init(&c.lock, NULL);
    pthread_cond_init(&c.cond, NULL);
    char *error_json = NULL;
    int rc = mlcc_llm_submit(llm, body, -1, MLCC_LLM_CHAT, on_response, &c, NULL, &error_json);
    free(body);
    if (rc == 0) {
        struct timespec deadline;
        clock_gettime(CLOCK_REALTIME, &deadline);
        deadline.tv_sec += 300;
        pthread_mutex_lock(&c.lock);
        while (!c.done)
            if (pthread_cond_timedwait(&c.cond, &c.lock, &deadline) != 0) {
                fprintf(stderr, "FAILED: a request got no final call within 300 s\n");
                exit(1);
            }
        pthread_mutex_unlock(&c.lock);
        if (c.status != 200) rc = c.status;
        *out = c.events;
    } else {
        json_decref(c.events);
        *out = json_loads(error_json ? error_json : "{}", 0, NULL);
    }
    mlcc_llm_free_string(error_json);
    pthread_mutex_destroy(&c.lock);
    pthread_cond_destroy(&c.cond);
    return rc;
}

/* A chat request at temperature 1 with n seeded choices. */
static json_t *request(uint64_t seed, int n, int max_tokens) {
    return json_pack("{s:[{s:s,s:s}],s:f,s:I,s:i,s:i,s:{s:i,s:i}}", "messages", "role", "user", "content",
                     "Reply in the requested format.", "temperature", 1.0, "seed", (json_int_t)seed, "n", n,
                     "max_tokens", max_tokens, "grammar_options", "max_string_chars", 16, "max_number_digits", 6);
}

/* The whole of text is in the language of grammar g (a fresh matcher over a one-token vocab,
 * fed raw bytes, then able to stop). */
static int grammar_accepts(mlcc_grammar *g, const char *text) {
    const char *tokens[] = {"x"};
    int32_t stop = 0;
    mlcc_grammar_vocab *v = mlcc_grammar_vocab_from_bytes(tokens, NULL, 1, &stop, 1);
    mlcc_grammar_matcher *m = mlcc_grammar_matcher_new(g, v);
    int ok = mlcc_grammar_accept_bytes(m, text, strlen(text)) == 0 && mlcc_grammar_can_terminate(m);
    mlcc_grammar_matcher_free(m);
    mlcc_grammar_vocab_free(v);
    return ok;
}

static mlcc_grammar *schema_grammar(json_t *schema, int strict) {
    mlcc_grammar_options opt = mlcc_grammar_default_options();
    opt.strict_properties = strict;
    opt.max_string_chars = 16;
    opt.max_number_digits = 6;
    char *text = json_dumps(schema, JSON_COMPACT | JSON_ENCODE_ANY);
    mlcc_grammar *g = mlcc_grammar_from_json_schema(text, strlen(text), &opt);
    free(text);
    CHECK_MSG(g != NULL, "the test's own schema compile: %s", mlcc_last_error());
    return g;
}

static json_t *choice_message(json_t *resp, size_t i) {
    return json_object_get(json_array_get(json_object_get(resp, "choices"), i), "message");
}

static const char *choice_finish(json_t *resp, size_t i) {
    const char *f = json_string_value(json_object_get(json_array_get(json_object_get(resp, "choices"), i), "finish_reason"));
    return f ? f : "(none)";
}

/* ---- response_format ---- */

typedef int (*instance_check)(json_t *v);

static int check_person(json_t *v) { /* 036: exactly id (integer) and name (string) */
    return json_is_object(v) && json_object_size(v) == 2 && json_is_integer(json_object_get(v, "id")) &&
           json_is_string(json_object_get(v, "name"));
}

static int check_any_of(json_t *v) { /* 042: a string of <= 3 characters, or an integer >= 10 */
    if (json_is_string(v)) return json_string_length(v) <= 3 * 4;
    return json_is_integer(v) && json_integer_value(v) >= 10;
}

static int check_bounds(json_t *v) { /* below: an object with an integer 1..5 and a list of 1..3 booleans */
    json_t *k = json_object_get(v, "k"), *flags = json_object_get(v, "flags");
    if (!json_is_integer(k) || json_integer_value(k) < 1 || json_integer_value(k) > 5) return 0;
    if (!json_is_array(flags) || json_array_size(flags) < 1 || json_array_size(flags) > 3) return 0;
    for (size_t i = 0; i < json_array_size(flags); i++)
        if (!json_is_boolean(json_array_get(flags, i))) return 0;
    return 1;
}

static void test_schema(mlcc_llm *llm, const char *schema_text, instance_check check, int expect_variety) {
    json_t *schema = json_loads(schema_text, 0, NULL);
    CHECK(schema != NULL);
    mlcc_grammar *g = schema_grammar(schema, 1);
    json_t *req = request(101, SEEDS, 200);
    json_object_set_new(req, "response_format",
                        json_pack("{s:s,s:{s:s,s:O,s:b}}", "type", "json_schema", "json_schema", "name", "t", "schema",
                                  schema, "strict", 1));
    json_t *ev;
    int rc = run(llm, req, &ev);
    CHECK_EQ_INT(rc, 0);
    json_t *resp = json_array_get(ev, 0);
    char *first = NULL;
    int differ = 0;
    for (size_t i = 0; rc == 0 && i < SEEDS; i++) {
        const char *text = json_string_value(json_object_get(choice_message(resp, i), "content"));
        CHECK_MSG(text != NULL, "choice %zu has no content", i);
        if (!text) continue;
        CHECK_EQ_STR(choice_finish(resp, i), "stop");
        json_t *v = json_loads(text, JSON_DECODE_ANY, NULL);
        CHECK_MSG(v != NULL, "reply is not JSON: %s", text);
        CHECK_MSG(v && check(v), "reply breaks the schema %s: %s", schema_text, text);
        CHECK_MSG(g && grammar_accepts(g, text), "the schema's matcher refuses the reply %s", text);
        json_decref(v);
        if (!first) first = strdup(text);
        else differ |= strcmp(first, text) != 0;
    }
    if (expect_variety) CHECK_MSG(differ, "all %d seeds gave the same reply for %s", SEEDS, schema_text);
    free(first);
    mlcc_grammar_free(g);
    json_decref(ev);
    json_decref(schema);
}

static void test_json_object(mlcc_llm *llm) {
    json_t *req = request(7, SEEDS, 200);
    json_object_set_new(req, "response_format", json_pack("{s:s}", "type", "json_object"));
    json_t *ev;
    CHECK_EQ_INT(run(llm, req, &ev), 0);
    json_t *resp = json_array_get(ev, 0);
    for (size_t i = 0; i < SEEDS; i++) {
        const char *text = json_string_value(json_object_get(choice_message(resp, i), "content"));
        const char *fin = choice_finish(resp, i);
        if (strcmp(fin, "length") == 0) continue; /* free-form objects may run long; the rest must parse */
        CHECK_EQ_STR(fin, "stop");
        json_t *v = text ? json_loads(text, 0, NULL) : NULL;
        CHECK_MSG(json_is_object(v), "json_object reply is not an object: %s", text ? text : "(null)");
        json_decref(v);
    }
    json_decref(ev);
}

/* ---- mlcc_grammar: regex and EBNF ---- */

static void test_regex_and_ebnf(mlcc_llm *llm) {
    const char *regex = "[a-z]{2,4}-[0-9]{3}(x|yz)?";
    json_t *req = request(3, SEEDS, 40);
    json_object_set_new(req, "mlcc_grammar", json_pack("{s:s,s:s}", "type", "regex", "value", regex));
    json_t *ev;
    CHECK_EQ_INT(run(llm, req, &ev), 0);
    int errcode;
    PCRE2_SIZE erroff;
    char anchored[128];
    snprintf(anchored, sizeof anchored, "^(?:%s)$", regex);
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)anchored, PCRE2_ZERO_TERMINATED, 0, &errcode, &erroff, NULL);
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
    json_t *resp = json_array_get(ev, 0);
    for (size_t i = 0; i < SEEDS; i++) {
        const char *text = json_string_value(json_object_get(choice_message(resp, i), "content"));
        CHECK_EQ_STR(choice_finish(resp, i), "stop");
        CHECK_MSG(text && pcre2_match(re, (PCRE2_SPTR)text, strlen(text), 0, 0, md, NULL) >= 0,
                  "regex reply %s does not match %s", text ? text : "(null)", regex);
    }
    pcre2_match_data_free(md);
    pcre2_code_free(re);
    json_decref(ev);

    req = request(11, SEEDS, 40);
    json_object_set_new(req, "mlcc_grammar",
                        json_pack("{s:s,s:s}", "type", "ebnf", "value", "root ::= answer \".\"\nanswer ::= \"yes\" | \"no\" | \"maybe\""));
    CHECK_EQ_INT(run(llm, req, &ev), 0);
    resp = json_array_get(ev, 0);
    for (size_t i = 0; i < SEEDS; i++) {
        const char *text = json_string_value(json_object_get(choice_message(resp, i), "content"));
        CHECK_EQ_STR(choice_finish(resp, i), "stop");
        CHECK_MSG(text && (!strcmp(text, "yes.") || !strcmp(text, "no.") || !strcmp(text, "maybe.")),
                  "EBNF reply %s", text ? text : "(null)");
    }
    json_decref(ev);
}

/* ---- tools ---- */

static const char *weather_params =
    "{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\",\"maxLength\":8},"
    "\"unit\":{\"enum\":[\"c\",\"f\"]}},\"required\":[\"city\",\"unit\"]}";
static const char *add_params =
    "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"},\"b\":{\"type\":\"integer\"}},"
    "\"required\":[\"a\",\"b\"]}";

static json_t *tools_value(void) {
    return json_pack("[{s:s,s:{s:s,s:s,s:o}},{s:s,s:{s:s,s:o}}]", "type", "function", "function", "name", "get_weather",
                     "description", "Weather in a city", "parameters", json_loads(weather_params, 0, NULL), "type",
                     "function", "function", "name", "add", "parameters", json_loads(add_params, 0, NULL));
}

/* One tool call in OpenAI's shape; its arguments valid for the named function. */
static void check_tool_call(json_t *call, const char *only_name, mlcc_grammar *weather, mlcc_grammar *add) {
    CHECK(json_is_string(json_object_get(call, "id")) &&
          strncmp(json_string_value(json_object_get(call, "id")), "call_", 5) == 0);
    CHECK_EQ_STR(json_string_value(json_object_get(call, "type")), "function");
    json_t *fn = json_object_get(call, "function");
    const char *name = json_string_value(json_object_get(fn, "name"));
    const char *args = json_string_value(json_object_get(fn, "arguments"));
    CHECK_MSG(name && args, "tool call without name or arguments string");
    if (!name || !args) return;
    if (only_name) CHECK_EQ_STR(name, only_name);
    CHECK_MSG(!strcmp(name, "get_weather") || !strcmp(name, "add"), "unknown function %s", name);
    json_t *a = json_loads(args, 0, NULL);
    CHECK_MSG(json_is_object(a), "arguments are not a JSON object: %s", args);
    mlcc_grammar *g = !strcmp(name, "add") ? add : weather;
    CHECK_MSG(grammar_accepts(g, args), "arguments of %s break its parameters: %s", name, args);
    if (!strcmp(name, "add"))
        CHECK(json_is_integer(json_object_get(a, "a")) && json_is_integer(json_object_get(a, "b")) && json_object_size(a) == 2);
    else {
        const char *unit = json_string_value(json_object_get(a, "unit"));
        CHECK(json_is_string(json_object_get(a, "city")) && unit && (!strcmp(unit, "c") || !strcmp(unit, "f")));
    }
    json_decref(a);
}

static void test_tools(mlcc_llm *llm) {
    json_t *wp = json_loads(weather_params, 0, NULL), *ap = json_loads(add_params, 0, NULL);
    mlcc_grammar *weather = schema_grammar(wp, 1), *add = schema_grammar(ap, 1);
    /* required: either function; named: that one */
    for (int named = 0; named < 2; named++) {
        json_t *req = request(21 + (uint64_t)named, SEEDS, 120);
        json_object_set_new(req, "tools", tools_value());
        json_object_set_new(req, "tool_choice", named ? json_pack("{s:s,s:{s:s}}", "type", "function", "function", "name", "add")
                                                      : json_string("required"));
        json_t *ev;
        CHECK_EQ_INT(run(llm, req, &ev), 0);
        json_t *resp = json_array_get(ev, 0);
        for (size_t i = 0; i < SEEDS; i++) {
            json_t *msg = choice_message(resp, i);
            CHECK_EQ_STR(choice_finish(resp, i), "tool_calls");
            CHECK(json_is_null(json_object_get(msg, "content")));
            CHECK_EQ_STR(json_string_value(json_object_get(msg, "role")), "assistant");
            json_t *calls = json_object_get(msg, "tool_calls");
            CHECK_MSG(json_array_size(calls) == 1, "expected one tool call");
            if (json_array_size(calls) == 1) check_tool_call(json_array_get(calls, 0), named ? "add" : NULL, weather, add);
        }
        json_decref(ev);
    }
    /* streamed: role chunk, one tool_calls delta, then finish_reason "tool_calls" */
    json_t *req = request(31, 1, 120);
    json_object_set_new(req, "tools", tools_value());
    json_object_set_new(req, "tool_choice", json_string("required"));
    json_object_set_new(req, "stream", json_true());
    json_t *ev;
    CHECK_EQ_INT(run(llm, req, &ev), 0);
    int deltas = 0;
    const char *last_finish = NULL;
    size_t i;
    json_t *chunk;
    json_array_foreach(ev, i, chunk) {
        CHECK_EQ_STR(json_string_value(json_object_get(chunk, "object")), "chat.completion.chunk");
        json_t *ch = json_array_get(json_object_get(chunk, "choices"), 0);
        json_t *calls = json_object_get(json_object_get(ch, "delta"), "tool_calls");
        if (calls) {
            deltas++;
            CHECK_EQ_INT((int)json_integer_value(json_object_get(json_array_get(calls, 0), "index")), 0);
            check_tool_call(json_array_get(calls, 0), NULL, weather, add);
        }
        if (json_is_string(json_object_get(ch, "finish_reason"))) last_finish = json_string_value(json_object_get(ch, "finish_reason"));
    }
    CHECK_EQ_INT(deltas, 1);
    CHECK_EQ_STR(last_finish ? last_finish : "(none)", "tool_calls");
    json_decref(ev);
    /* none: text, no tool calls */
    req = request(41, 1, 8);
    json_object_set_new(req, "tools", tools_value());
    json_object_set_new(req, "tool_choice", json_string("none"));
    CHECK_EQ_INT(run(llm, req, &ev), 0);
    json_t *msg = choice_message(json_array_get(ev, 0), 0);
    CHECK(json_is_string(json_object_get(msg, "content")) && !json_object_get(msg, "tool_calls"));
    CHECK(strcmp(choice_finish(json_array_get(ev, 0), 0), "tool_calls") != 0);
    json_decref(ev);
    /* auto: the model chooses. Free text stays text; a reply that is a call (forced here by the
     * regex extension, as a model that chose to call would write it) comes back as tool_calls,
     * streamed too */
    for (int stream = 0; stream < 2; stream++) {
        req = request(51, 1, 8);
        json_object_set_new(req, "tools", tools_value());
        json_object_set_new(req, "tool_choice", json_string("auto"));
        CHECK_EQ_INT(run(llm, req, &ev), 0);
        msg = choice_message(json_array_get(ev, 0), 0);
        CHECK(json_is_string(json_object_get(msg, "content")) && !json_object_get(msg, "tool_calls"));
        json_decref(ev);
        req = request(52, 1, 60);
        json_object_set_new(req, "tools", tools_value());
        json_object_set_new(req, "tool_choice", json_string("auto"));
        json_object_set_new(req, "mlcc_grammar", json_pack("{s:s,s:s}", "type", "regex", "value",
                                                           "\\{\"name\":\"add\",\"arguments\":\\{\"a\":[0-9],\"b\":[0-9]\\}\\}"));
        if (stream) json_object_set_new(req, "stream", json_true());
        CHECK_EQ_INT(run(llm, req, &ev), 0);
        json_t *calls = NULL;
        const char *finish = NULL;
        json_array_foreach(ev, i, chunk) {
            json_t *ch = json_array_get(json_object_get(chunk, "choices"), 0);
            json_t *m = json_object_get(ch, stream ? "delta" : "message");
            if (json_object_get(m, "tool_calls")) calls = json_object_get(m, "tool_calls");
            if (json_is_string(json_object_get(ch, "finish_reason"))) finish = json_string_value(json_object_get(ch, "finish_reason"));
        }
        CHECK_EQ_STR(finish ? finish : "(none)", "tool_calls");
        CHECK_MSG(json_array_size(calls) == 1, "auto%s: expected one tool call", stream ? " (streamed)" : "");
        if (json_array_size(calls) == 1) check_tool_call(json_array_get(calls, 0), "add", weather, add);
        json_decref(ev);
    }
    mlcc_grammar_free(weather);
    mlcc_grammar_free(add);
    json_decref(wp);
    json_decref(ap);
}

/* ---- refusals ---- */

static void expect_400(mlcc_llm *llm, const char *key, json_t *value, const char *param, const char *needle) {
    json_t *req = request(1, 1, 8);
    json_object_set_new(req, key, value);
    if (strcmp(key, "tool_choice") == 0) json_object_set_new(req, "tools", tools_value());
    json_t *err;
    CHECK_EQ_INT(run(llm, req, &err), 400);
    json_t *e = json_object_get(err, "error");
    const char *msg = json_string_value(json_object_get(e, "message"));
    CHECK_EQ_STR(json_string_value(json_object_get(e, "param")), param);
    CHECK_MSG(msg && strstr(msg, needle), "error message '%s' lacks '%s'", msg ? msg : "(null)", needle);
    json_decref(err);
}

static void test_refusals(mlcc_llm *llm) {
    expect_400(llm, "response_format",
               json_pack("{s:s,s:{s:s,s:{s:s,s:{s:s}}}}", "type", "json_schema", "json_schema", "name", "x", "schema",
                         "type", "array", "contains", "type", "string"),
               "response_format.json_schema.schema", "'contains'");
    expect_400(llm, "response_format",
               json_pack("{s:s,s:{s:s,s:{s:s}}}", "type", "json_schema", "json_schema", "name", "x", "schema", "type", "bogus"),
               "response_format.json_schema.schema", "bogus");
    expect_400(llm, "response_format", json_pack("{s:s}", "type", "xml"), "response_format.type", "xml");
    expect_400(llm, "response_format", json_pack("{s:s,s:i}", "type", "json_schema", "json_schema", 3),
               "response_format.json_schema", "an object");
    expect_400(llm, "mlcc_grammar", json_pack("{s:s,s:s}", "type", "regex", "value", "([a-z"), "mlcc_grammar.value", "regex");
    expect_400(llm, "mlcc_grammar", json_pack("{s:s,s:s}", "type", "ebnf", "value", "root ::= missing"),
               "mlcc_grammar.value", "missing");
    expect_400(llm, "mlcc_grammar", json_pack("{s:s,s:s}", "type", "lark", "value", "x"), "mlcc_grammar.type", "lark");
    expect_400(llm, "tool_choice", json_pack("{s:s,s:{s:s}}", "type", "function", "function", "name", "nope"),
               "tool_choice.function.name", "nope");
    expect_400(llm, "tool_choice", json_string("sometimes"), "tool_choice", "sometimes");
    expect_400(llm, "tools",
               json_pack("[{s:s,s:{s:s,s:{s:s,s:{s:s}}}}]", "type", "function", "function", "name", "f", "parameters", "type",
                         "array", "contains", "type", "string"),
               "tools[0].function.parameters", "contains");
    expect_400(llm, "tools", json_pack("[{s:s}]", "type", "retrieval"), "tools[0].type", "function");
    /* tool_choice required without tools */
    json_t *req = request(1, 1, 8), *err;
    json_object_set_new(req, "tool_choice", json_string("required"));
    CHECK_EQ_INT(run(llm, req, &err), 400);
    CHECK_EQ_STR(json_string_value(json_object_get(json_object_get(err, "error"), "param")), "tool_choice");
    json_decref(err);
}

static int prompt_tokens_of(json_t *ev) {
    return (int)json_integer_value(json_object_get(json_object_get(json_array_get(ev, 0), "usage"), "prompt_tokens"));
}

/* tm-qwen3's template renders `tools`: "auto" (and "required") put them in the prompt, "none"
 * leaves the prompt as without tools; a tool-use conversation (assistant tool_calls, a tool
 * result) renders; a required call works with this tokenizer too. */
static void test_tools_in_template(const char *model) {
    char *err = NULL;
    mlcc_llm *llm = mlcc_llm_create(model, "{\"max_seq\": 1024, \"max_batch\": 2, \"quiet\": true}", &err);
    CHECK_MSG(llm != NULL, "create %s: %s", model, err ? err : "");
    mlcc_llm_free_string(err);
    if (!llm) return;
    json_t *ev;
    CHECK_EQ_INT(run(llm, request(1, 1, 1), &ev), 0);
    int plain = prompt_tokens_of(ev);
    json_decref(ev);
    const char *choices[] = {"auto", "none", "required"};
    for (int i = 0; i < 3; i++) {
        json_t *req = request(1, 1, 120);
        json_object_set_new(req, "tools", tools_value());
        json_object_set_new(req, "tool_choice", json_string(choices[i]));
        CHECK_EQ_INT(run(llm, req, &ev), 0);
        int with = prompt_tokens_of(ev);
        if (i == 1) CHECK_EQ_INT(with, plain);
        else CHECK_MSG(with > plain + 20, "tools not in the prompt with tool_choice %s: %d vs %d tokens", choices[i], with, plain);
        if (i == 2) {
            json_t *calls = json_object_get(choice_message(json_array_get(ev, 0), 0), "tool_calls");
            CHECK_EQ_STR(choice_finish(json_array_get(ev, 0), 0), "tool_calls");
            CHECK_EQ_INT((int)json_array_size(calls), 1);
        }
        json_decref(ev);
    }
    json_t *req = request(1, 1, 4);
    json_object_set_new(req, "tools", tools_value());
    json_t *turns = json_pack("[{s:s,s:n,s:[{s:s,s:s,s:{s:s,s:s}}]},{s:s,s:s,s:s}]", "role", "assistant", "content",
                                "tool_calls", "id", "call_1", "type", "function", "function", "name", "add", "arguments",
                                "{\"a\":1,\"b\":2}", "role", "tool", "tool_call_id", "call_1", "content", "3");
    json_array_extend(json_object_get(req, "messages"), turns);
    json_decref(turns);
    CHECK_EQ_INT(run(llm, req, &ev), 0);
    CHECK(prompt_tokens_of(ev) > plain + 20);
    json_decref(ev);
    mlcc_llm_destroy(llm);
}

int main(void) {
    char *model = test_data_path("models/tm-llama3");
    char *cfg = test_data_path("models/tm-llama3/config.json");
    if (access(cfg, R_OK) != 0) TEST_SKIP("fixture %s missing", cfg);
    char *err = NULL;
    mlcc_llm *llm = mlcc_llm_create(model, "{\"max_seq\": 512, \"max_batch\": 4, \"quiet\": true}", &err);
    CHECK_MSG(llm != NULL, "create: %s", err ? err : "");
    if (llm) {
        test_refusals(llm);
        test_schema(llm, "{\"type\":\"object\",\"properties\":{\"id\":{\"type\":\"integer\"},\"name\":{\"type\":\"string\"}},"
                         "\"required\":[\"id\",\"name\"],\"additionalProperties\":false}",
                    check_person, 1);
        test_schema(llm, "{\"anyOf\":[{\"type\":\"string\",\"maxLength\":3},{\"type\":\"integer\",\"minimum\":10}]}",
                    check_any_of, 1);
        test_schema(llm, "{\"type\":\"object\",\"properties\":{\"k\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":5},"
                         "\"flags\":{\"type\":\"array\",\"items\":{\"type\":\"boolean\"},\"minItems\":1,\"maxItems\":3}},"
                         "\"required\":[\"k\",\"flags\"]}",
                    check_bounds, 1);
        test_json_object(llm);
        test_regex_and_ebnf(llm);
        test_tools(llm);
        mlcc_llm_destroy(llm);
    }
    mlcc_llm_free_string(err);
    char *qwen = test_data_path("models/tm-qwen3");
    test_tools_in_template(qwen);
    free(qwen);
    free(model);
    free(cfg);
    return test_finish();
}
