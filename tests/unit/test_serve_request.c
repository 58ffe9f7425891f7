/* test_serve_request.c - the OpenAI request parser (serve/request.h) on the field forms real
 * clients send: content parts joined, "developer" read as "system", every prompt form of
 * /v1/completions, stop as a string or a list, logit_bias, sampling extensions, nulls as absent
 * fields, and the error JSON shape. (Errors naming fields are tested through the C API in
 * tests/models/test_serve_api.c; the fuzz target covers arbitrary bytes.) */
#include <string.h>

#include "serve/request.h"
#include "test.h"

static int parse(const char *body, serve_kind kind, serve_request *r, serve_error *e) {
    return serve_request_parse(body, strlen(body), kind, 1000, r, e);
}

static void test_chat_fields(void) {
    serve_request r;
    serve_error e;
    const char *body = "{\"model\": \"m\", \"messages\": ["
                       "{\"role\": \"developer\", \"content\": \"rules\"},"
                       "{\"role\": \"user\", \"content\": [{\"type\": \"text\", \"text\": \"a\"}, {\"type\": \"text\", \"text\": \"b\"}]},"
                       "{\"role\": \"assistant\", \"content\": null}],"
                       "\"temperature\": 0, \"top_p\": 0.5, \"top_k\": 7, \"min_p\": 0.05, \"repetition_penalty\": 1.2,"
                       "\"presence_penalty\": 1, \"frequency_penalty\": -0.5, \"max_completion_tokens\": 9, \"seed\": 5,"
                       "\"stop\": \"END\", \"n\": 3, \"stream\": true, \"stream_options\": {\"include_usage\": true},"
                       "\"logit_bias\": {\"17\": -100, \"3\": 2.5}, \"user\": \"x\", \"unknown_field\": [1, {}],"
                       "\"logprobs\": false, \"tools\": [], \"response_format\": {\"type\": \"text\"}}";
    CHECK_MSG(parse(body, SERVE_CHAT, &r, &e) == 0, "%s", e.message);
    CHECK_EQ_STR(r.model, "m");
    CHECK_EQ_INT((int)json_array_size(r.messages), 3);
    CHECK_EQ_STR(json_string_value(json_object_get(json_array_get(r.messages, 0), "role")), "system");
    CHECK_EQ_STR(json_string_value(json_object_get(json_array_get(r.messages, 1), "content")), "a\nb");
    CHECK_EQ_STR(json_string_value(json_object_get(json_array_get(r.messages, 2), "content")), "");
    CHECK(r.gen.sampling.temperature == 0.0f);
    CHECK(r.gen.sampling.top_p == 0.5f);
    CHECK_EQ_INT(r.gen.sampling.top_k, 7);
    CHECK(r.gen.sampling.min_p == 0.05f);
    CHECK(r.gen.sampling.repetition_penalty == 1.2f);
    CHECK(r.gen.sampling.presence_penalty == 1.0f);
    CHECK(r.gen.sampling.frequency_penalty == -0.5f);
    CHECK_EQ_INT(r.gen.max_tokens, 9);
    CHECK(r.gen.has_seed && r.gen.seed == 5);
    CHECK_EQ_INT(r.nstop, 1);
    CHECK_EQ_STR(r.stop[0], "END");
    CHECK_EQ_INT(r.n, 3);
    CHECK(r.stream && r.include_usage);
    CHECK_EQ_INT(r.gen.sampling.nbias, 2);
    int found = 0;
    for (int i = 0; i < r.gen.sampling.nbias; i++)
        found += (r.bias_ids[i] == 17 && r.bias_values[i] == -100.0f) + (r.bias_ids[i] == 3 && r.bias_values[i] == 2.5f);
    CHECK_EQ_INT(found, 2);
    serve_request_free(&r);

    /* nulls are absent fields; defaults */
    CHECK(parse("{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}], \"temperature\": null, \"stop\": null, "
                "\"seed\": null, \"max_tokens\": null, \"n\": null}",
                SERVE_CHAT, &r, &e) == 0);
    CHECK(r.gen.sampling.temperature == 1.0f);
    CHECK(!r.gen.has_seed && r.gen.max_tokens == 0 && r.n == 1 && r.nstop == 0 && !r.stream);
    CHECK(r.model == NULL);
    serve_request_free(&r);
}

static void test_prompt_forms(void) {
    serve_request r;
    serve_error e;
    CHECK(parse("{\"prompt\": \"hello\"}", SERVE_COMPLETION, &r, &e) == 0);
    CHECK_EQ_INT(r.nprompts, 1);
    CHECK_EQ_STR(r.prompts[0].text, "hello");
    serve_request_free(&r);
    CHECK(parse("{\"prompt\": [1, 2, 3]}", SERVE_COMPLETION, &r, &e) == 0);
    CHECK(r.nprompts == 1 && r.prompts[0].text == NULL && r.prompts[0].nids == 3 && r.prompts[0].ids[2] == 3);
    serve_request_free(&r);
    CHECK(parse("{\"prompt\": [\"a\", [4, 5], \"b\"], \"stop\": [\"x\", \"\", \"y\"]}", SERVE_COMPLETION, &r, &e) == 0);
    CHECK_EQ_INT(r.nprompts, 3);
    CHECK(r.prompts[1].nids == 2 && r.prompts[1].ids[0] == 4);
    CHECK_EQ_STR(r.prompts[2].text, "b");
    CHECK_EQ_INT(r.nstop, 2); /* the empty stop string is dropped */
    serve_request_free(&r);
    /* errors name the element */
    CHECK(parse("{\"prompt\": [\"a\", [4, 1000]]}", SERVE_COMPLETION, &r, &e) != 0);
    CHECK_EQ_STR(e.param, "prompt[1]");
    CHECK_EQ_INT(e.status, 400);
    CHECK(parse("{\"prompt\": [\"a\", 7]}", SERVE_COMPLETION, &r, &e) != 0);
    CHECK_EQ_STR(e.param, "prompt[1]");
    CHECK(parse("{\"prompt\": \"a\", \"logprobs\": 2}", SERVE_COMPLETION, &r, &e) == 0);
    CHECK(r.logprobs && r.gen.top_logprobs == 2);
    serve_request_free(&r);
    CHECK(parse("{\"prompt\": \"a\", \"logprobs\": 0}", SERVE_COMPLETION, &r, &e) == 0);
    CHECK(r.logprobs && r.gen.top_logprobs == 0);
    serve_request_free(&r);
    CHECK(parse("{\"prompt\": \"a\", \"logprobs\": 6}", SERVE_COMPLETION, &r, &e) != 0);
    CHECK_EQ_STR(e.param, "logprobs");
    CHECK(parse("{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}], \"top_logprobs\": 2}", SERVE_CHAT, &r,
                &e) != 0);
    CHECK_EQ_STR(e.param, "top_logprobs"); /* without logprobs: true */
    CHECK(parse("{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}], \"logprobs\": true, \"top_logprobs\": 21}",
                SERVE_CHAT, &r, &e) != 0);
    CHECK_EQ_STR(e.param, "top_logprobs");
    CHECK(parse("{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}], \"logprobs\": true, \"top_logprobs\": 3}",
                SERVE_CHAT, &r, &e) == 0);
    CHECK(r.logprobs && r.gen.top_logprobs == 3);
    serve_request_free(&r);
}

static void test_error_json(void) {
    serve_request r;
    serve_error e;
    CHECK(parse("{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}], \"max_tokens\": \"9\"}", SERVE_CHAT, &r, &e) != 0);
    char *s = serve_error_json(&e);
    json_t *v = json_loads(s, 0, NULL);
    json_t *inner = json_object_get(v, "error");
    CHECK_EQ_STR(json_string_value(json_object_get(inner, "param")), "max_tokens");
    CHECK_EQ_STR(json_string_value(json_object_get(inner, "type")), "invalid_request_error");
    CHECK_EQ_STR(json_string_value(json_object_get(inner, "code")), "invalid_type");
    CHECK(strstr(json_string_value(json_object_get(inner, "message")), "'max_tokens'") != NULL);
    json_decref(v);
    free(s);
    CHECK(parse("{\"a\": 1, \"a\": 2}", SERVE_CHAT, &r, &e) != 0); /* duplicate keys are ambiguous */
    CHECK(strstr(e.message, "JSON") != NULL);
}

/* A valid UTF-8 body with a bad escape before a two-byte character: jansson's error quotes the
 * text "near" it cut after the character's first byte, so the message is invalid UTF-8. The
 * error JSON was NULL then (the client got "{}"); the cut byte is now U+FFFD and the message
 * still names the line and column (found by fuzz_serve_request under libFuzzer). */
static void test_error_json_quotes_cut_utf8(void) {
    serve_request r;
    serve_error e;
    CHECK(parse("{\"stop\": \"\\u0\xC3\xA9\"}", SERVE_COMPLETION, &r, &e) != 0);
    CHECK_EQ_INT(e.status, 400);
    char *s = serve_error_json(&e);
    CHECK(s != NULL);
    json_t *v = s ? json_loads(s, 0, NULL) : NULL;
    const char *msg = json_string_value(json_object_get(json_object_get(v, "error"), "message"));
    CHECK(msg && strstr(msg, "line 1, column 14") && strstr(msg, "\xEF\xBF\xBD"));
    json_decref(v);
    free(s);
}

int main(void) {
    test_chat_fields();
    test_prompt_forms();
    test_error_json();
    test_error_json_quotes_cut_utf8();
    return test_finish();
}
