/* test_serve_tool_calls.c - tool calls read back from constrained text (serve/structured.h):
 * OpenAI's shape, the arguments passed on byte for byte (numbers beyond 64 bits, whitespace,
 * strings holding braces and escaped quotes), members in either order, and text that is not
 * a complete call (cut by max_tokens) refused. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "serve/structured.h"
#include "test.h"

/* The arguments string of the single call read from text, or NULL. */
static char *args_of(const char *text, const char **name) {
    json_t *calls = serve_tool_calls_from_text(text, strlen(text), "chatcmpl-abc", 2);
    if (!calls) return NULL;
    CHECK_EQ_INT((int)json_array_size(calls), 1);
    json_t *c = json_array_get(calls, 0);
    CHECK_EQ_STR(json_string_value(json_object_get(c, "id")), "call_chatcmpl-abc_2");
    CHECK_EQ_STR(json_string_value(json_object_get(c, "type")), "function");
    json_t *fn = json_object_get(c, "function");
    static char name_buf[64];
    snprintf(name_buf, sizeof name_buf, "%s", json_string_value(json_object_get(fn, "name")));
    *name = name_buf;
    char *args = strdup(json_string_value(json_object_get(fn, "arguments")));
    json_decref(calls);
    return args;
}

static void expect(const char *text, const char *want_name, const char *want_args) {
    const char *name = NULL;
    char *args = args_of(text, &name);
    CHECK_MSG(args != NULL, "no call read from %s", text);
    if (!args) return;
    CHECK_EQ_STR(name, want_name);
    CHECK_EQ_STR(args, want_args);
    free(args);
}

/* tool_choice "auto": a free reply that is only calls of listed tools becomes tool_calls */
static void test_auto(void) {
    json_t *tools = json_pack("[{s:s,s:{s:s}},{s:s,s:{s:s}}]", "type", "function", "function", "name", "add", "type", "function",
                              "function", "name", "mul");
    json_t *c = serve_tool_calls_auto(" {\"name\":\"add\",\"arguments\":{\"a\":1}}\n", 36, tools, "x", 0);
    CHECK(c != NULL && json_array_size(c) == 1);
    if (c) CHECK_EQ_STR(json_string_value(json_object_get(json_object_get(json_array_get(c, 0), "function"), "arguments")), "{\"a\":1}");
    json_decref(c);
    const char *two = "<tool_call>\n{\"name\": \"add\", \"arguments\": {}}\n</tool_call>\n<tool_call>{\"name\":\"mul\",\"arguments\":{\"b\":[2]}}</tool_call>";
    c = serve_tool_calls_auto(two, strlen(two), tools, "x", 1);
    CHECK(c != NULL && json_array_size(c) == 2);
    if (c && json_array_size(c) == 2) {
        CHECK_EQ_STR(json_string_value(json_object_get(json_object_get(json_array_get(c, 1), "function"), "name")), "mul");
        CHECK(strcmp(json_string_value(json_object_get(json_array_get(c, 0), "id")),
                     json_string_value(json_object_get(json_array_get(c, 1), "id"))) != 0);
    }
    json_decref(c);
    /* text, an unknown tool, text around a call, an unclosed block: not calls */
    const char *not_calls[] = {"The answer is 3.", "{\"name\":\"div\",\"arguments\":{}}",
                               "Sure: <tool_call>{\"name\":\"add\",\"arguments\":{}}</tool_call>",
                               "<tool_call>{\"name\":\"add\",\"arguments\":{}}", "{\"name\":\"add\"}", ""};
    for (size_t i = 0; i < sizeof not_calls / sizeof *not_calls; i++) {
        c = serve_tool_calls_auto(not_calls[i], strlen(not_calls[i]), tools, "x", 0);
        CHECK_MSG(c == NULL, "calls read from %s", not_calls[i]);
        json_decref(c);
    }
    json_decref(tools);
}

int main(void) {
    expect("{\"name\":\"f\",\"arguments\":{\"x\":1}}", "f", "{\"x\":1}");
    expect("{\"name\":\"big\",\"arguments\":{\"x\":123456789012345678901234567890}}", "big",
           "{\"x\":123456789012345678901234567890}");
    expect(" { \"name\" : \"g\" ,\n \"arguments\" : { \"s\": \"}{\\\"],\" , \"l\": [1, {\"a\": []}] } } ", "g",
           "{ \"s\": \"}{\\\"],\" , \"l\": [1, {\"a\": []}] }");
    expect("{\"arguments\":{},\"name\":\"h\"}", "h", "{}");
    expect("{\"name\":\"n\",\"arguments\":-2.5e3}", "n", "-2.5e3");
    const char *name;
    const char *bad[] = {"{\"name\":\"f\",\"arguments\":{\"x\":1", "{\"name\":\"f\"}", "{\"arguments\":{}}",
                         "[1,2]", "", "{\"name\":3,\"arguments\":{}}", "{\"name\":\"f\",\"arguments\":{\"x\":\"}"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char *a = args_of(bad[i], &name);
        CHECK_MSG(a == NULL, "a call read from incomplete text %s", bad[i]);
        free(a);
    }
    test_auto();
    return test_finish();
}
