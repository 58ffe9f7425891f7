/* test_template.c - the template engine's API and limits: syntax and runtime errors name the
 * template line and column, raise_exception surfaces its message, deep recursion and deep
 * nesting hit limits instead of crashing, values that reference themselves are freed, NUL
 * characters survive, and the chat context is built as transformers builds it. Rendering
 * semantics are checked against Jinja2 itself by the e2e differential tests. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "support/error.h"
#include "support/strbuf.h"
#include "template/template.h"
#include "test.h"

/* Renders src with a context given as JSON text; returns the output or NULL. */
static char *render(const char *src, const char *ctx_json, mlcc_template_error *err) {
    mlcc_template *t = mlcc_template_parse(src, strlen(src), "t.jinja");
    if (!t) return NULL;
    json_error_t jerr;
    json_t *ctx = json_loads(ctx_json ? ctx_json : "{}", JSON_ALLOW_NUL, &jerr);
    char *out = mlcc_template_render_ex(t, ctx, err);
    json_decref(ctx);
    mlcc_template_free(t);
    return out;
}

static void expect_render(const char *src, const char *ctx, const char *want) {
    char *out = render(src, ctx, NULL);
    CHECK_MSG(out && strcmp(out, want) == 0, "%s: got '%s' (%s), want '%s'", src, out ? out : "(null)",
              out ? "" : mlcc_last_error(), want);
    free(out);
}

/* The error (from parse or render) starts with "t.jinja:LINE:COL: " and contains `needle`. */
static void expect_error(const char *src, const char *ctx, int line, int col, const char *needle) {
    mlcc_template_error err;
    char *out = render(src, ctx, &err);
    CHECK_MSG(out == NULL, "%s: rendered '%s', expected an error", src, out ? out : "");
    free(out);
    char prefix[64];
    snprintf(prefix, sizeof prefix, "t.jinja:%d:%d: ", line, col);
    const char *msg = mlcc_last_error();
    CHECK_MSG(strncmp(msg, prefix, strlen(prefix)) == 0 && strstr(msg, needle), "%s: error '%s', want '%s...%s'",
              src, msg, prefix, needle);
}

static void test_syntax_errors(void) {
    expect_error("{% if x %}\nabc", NULL, 2, 4, "expected 'elif' or 'else' or 'endif'");
    expect_error("{{ 1 + }}", NULL, 1, 8, "unexpected 'end of print statement'");
    expect_error("a\n  {{ x | }}", NULL, 2, 10, "expected a filter or test name");
    expect_error("{% for %}", NULL, 1, 8, "expected an expression");
    expect_error("{% endif %}", NULL, 1, 4, "unexpected 'endif'");
    expect_error("{% frobnicate %}", NULL, 1, 4, "unknown tag 'frobnicate'");
    expect_error("line1\n{{ 'abc }}", NULL, 2, 4, "unterminated string");
    expect_error("{# never closed", NULL, 1, 1, "missing end of comment");
    expect_error("{{ (1 ] }}", NULL, 1, 7, "unexpected ']'");
    expect_error("x\n\n   {{ a $ b }}", NULL, 3, 9, "unexpected char '$'");
    expect_error("{% break %}", NULL, 1, 4, "'break' outside of a loop");
    expect_error("{% macro m(a=1, b) %}{% endmacro %}", NULL, 1, 18, "non-default argument");
    expect_error("{% include 'x.jinja' %}", NULL, 1, 4, "not supported");
    expect_error("{% for m in messages %}\n{{ m.content \n{% endfor %}", NULL, 3, 1, "expected end of print statement");
    /* not UTF-8 */
    CHECK(mlcc_template_parse("\xff\xfe", 2, "t.jinja") == NULL);
    CHECK(strstr(mlcc_last_error(), "UTF-8") != NULL);
}

static void test_runtime_errors(void) {
    expect_error("ok\n  {{ 'a' + 1 }}", NULL, 2, 10, "can only concatenate str (not \"int\") to str");
    expect_error("{% for m in messages %}{% endfor %}", "{\"messages\": null}", 1, 13,
                 "'NoneType' object is not iterable");
    expect_error("{{ x.y.z }}", "{\"x\": {}}", 1, 7, "'dict object' has no attribute 'y'");
    expect_error("{{ 1 // 0 }}", NULL, 1, 6, "ZeroDivisionError");
    expect_error("{{ [1] | nosuch }}", NULL, 1, 8, "No filter named 'nosuch'");
    expect_error("{{ range(200000) | length }}", NULL, 1, 4, "Range too big");
    expect_error("{% set l = [] %}{{ l.append(1) }}", NULL, 1, 21, "unsafe");
    /* raise_exception: the message verbatim, flagged as raised, with its position */
    mlcc_template_error err;
    char *out = render("{% if messages | length == 0 %}\n    {{ raise_exception('No messages: ' ~ 0) }}\n{% endif %}",
                       "{\"messages\": []}", &err);
    CHECK(out == NULL);
    CHECK(err.raised);
    CHECK_EQ_STR(err.message, "No messages: 0");
    CHECK_EQ_INT(err.line, 2);
    CHECK_EQ_INT(err.col, 8);
    CHECK(strstr(mlcc_last_error(), "t.jinja:2:8: ") == mlcc_last_error());
    /* an ordinary failure is not "raised" */
    out = render("{{ 'a' + 1 }}", NULL, &err);
    CHECK(out == NULL && !err.raised);
}

static void test_limits(void) {
    /* unbounded macro recursion stops at a limit */
    expect_error("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", NULL, 1, 20, "RecursionError");
    /* 150 levels work (Jinja2 manages about that much too) */
    expect_render("{% macro f(n) %}{% if n > 0 %}{{ f(n - 1) }}{% else %}done{% endif %}{% endmacro %}{{ f(150) }}",
                  NULL, "done");
    /* a recursive loop that never ends */
    expect_error("{% for x in [1] recursive %}{{ loop([1]) }}{% endfor %}", NULL, 1, 32, "RecursionError");
    /* deeply nested source: parentheses, unary minus, not, if blocks, lists */
    mlcc_strbuf sb = STRBUF_INIT;
    sb_append(&sb, "{{ ");
    for (int i = 0; i < 100000; i++) sb_append_char(&sb, '(');
    sb_append(&sb, "1 }}");
    CHECK(mlcc_template_parse(sb.data, sb.len, "t.jinja") == NULL);
    CHECK(strstr(mlcc_last_error(), "nested more than") != NULL);
    sb_clear(&sb);
    sb_append(&sb, "{{ ");
    for (int i = 0; i < 100000; i++) sb_append(&sb, "not ");
    sb_append(&sb, "1 }}");
    CHECK(mlcc_template_parse(sb.data, sb.len, "t.jinja") == NULL);
    sb_clear(&sb);
    sb_append(&sb, "{{ ");
    for (int i = 0; i < 100000; i++) sb_append(&sb, "- ");
    sb_append(&sb, "1 }}");
    CHECK(mlcc_template_parse(sb.data, sb.len, "t.jinja") == NULL);
    sb_clear(&sb);
    sb_append(&sb, "{{ ");
    for (int i = 0; i < 100000; i++) sb_append(&sb, "[");
    CHECK(mlcc_template_parse(sb.data, sb.len, "t.jinja") == NULL);
    /* operator chains are parsed in a loop, but their trees must stay shallow too */
    sb_clear(&sb);
    sb_append(&sb, "{% for i in range(1) %}{{ 1");
    for (int i = 0; i < 100000; i++) sb_append(&sb, " + 1");
    sb_append(&sb, " }}{% endfor %}");
    CHECK(mlcc_template_parse(sb.data, sb.len, "t.jinja") == NULL);
    CHECK(strstr(mlcc_last_error(), "nested more than") != NULL);
    sb_clear(&sb);
    sb_append(&sb, "{{ x");
    for (int i = 0; i < 100000; i++) sb_append(&sb, ".a");
    sb_append(&sb, " }}");
    CHECK(mlcc_template_parse(sb.data, sb.len, "t.jinja") == NULL);
    sb_clear(&sb);
    sb_append(&sb, "{{ x");
    for (int i = 0; i < 100000; i++) sb_append(&sb, " | upper");
    sb_append(&sb, " }}");
    CHECK(mlcc_template_parse(sb.data, sb.len, "t.jinja") == NULL);
    sb_clear(&sb);
    sb_append(&sb, "{% filter upper");
    for (int i = 0; i < 100000; i++) sb_append(&sb, " | upper");
    sb_append(&sb, " %}x{% endfilter %}");
    CHECK(mlcc_template_parse(sb.data, sb.len, "t.jinja") == NULL);
    /* a long but shallow expression is fine */
    expect_render("{{ [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1] | sum + 1 + 1 + 1 + 1 }}", NULL, "20");
    sb_clear(&sb);
    for (int i = 0; i < 20000; i++) sb_append(&sb, "{% if true %}");
    CHECK(mlcc_template_parse(sb.data, sb.len, "t.jinja") == NULL);
    CHECK(strstr(mlcc_last_error(), "nested more than") != NULL);
    sb_free(&sb);
    /* values nested without bound by a loop */
    expect_error("{% set ns = namespace(x=[]) %}{% for i in range(5000) %}{% set ns.x = [ns.x] %}{% endfor %}",
                 NULL, 1, 71, "nested more than");
}

static void test_values_and_context(void) {
    /* a namespace holding itself is freed (ASan's leak checker runs this) and prints */
    expect_render("{% set ns = namespace(a=1) %}{% set ns.me = ns %}{{ ns.me.me.a }}", NULL, "1");
    /* a caller kept after its call block still works */
    expect_render("{% set ns = namespace() %}{% macro keep() %}{% set ns.c = caller %}{% endmacro %}"
                  "{% call keep() %}body{% endcall %}{{ ns.c() }}",
                  NULL, "body");
    /* NUL characters go through */
    mlcc_template *t = mlcc_template_parse("[{{ s }}]", 9, "t.jinja");
    json_error_t jerr;
    json_t *ctx = json_loads("{\"s\": \"a\\u0000b\"}", JSON_ALLOW_NUL, &jerr);
    size_t len = 0;
    char *out = mlcc_template_render_n(t, ctx, NULL, &len);
    CHECK(out && len == 5 && memcmp(out, "[a\0b]", 5) == 0);
    free(out);
    json_decref(ctx);
    mlcc_template_free(t);
    /* the context transformers builds: tools/documents None, add_generation_prompt False,
     * special tokens, then the request's extra keys (which win) */
    json_t *input = json_loads("{\"messages\": [], \"enable_thinking\": false, \"eos_token\": \"E2\"}", 0, &jerr);
    json_t *specials = json_loads("{\"bos_token\": \"B\", \"eos_token\": \"E\"}", 0, &jerr);
    json_t *chat = mlcc_chat_context(input, specials);
    const char *src = "{{ tools is none }} {{ documents is none }} {{ add_generation_prompt }} {{ bos_token }}"
                      " {{ eos_token }} {{ enable_thinking }}";
    t = mlcc_template_parse(src, strlen(src), "t.jinja");
    CHECK(t != NULL);
    out = t ? mlcc_template_render(t, chat) : NULL;
    CHECK_EQ_STR(out, "True True False B E2 False");
    free(out);
    mlcc_template_free(t);
    json_decref(chat);
    json_decref(input);
    json_decref(specials);
    /* strftime_now follows MLCC_FIXED_TIME */
    setenv("MLCC_FIXED_TIME", "1795521600", 1);
    expect_render("{{ strftime_now('%d %b %Y %H:%M') }}", NULL, "24 Nov 2026 12:00");
    setenv("MLCC_FIXED_TIME", "2026-11-24T12:00:00Z", 1);
    expect_render("{{ strftime_now('%Y-%m-%d %H:%M:%S %A') }}", NULL, "2026-11-24 12:00:00 Tuesday");
    /* keep_trailing_newline=False drops exactly one newline; \r\n becomes \n */
    expect_render("a\r\nb\n\n", NULL, "a\nb\n");
}

static void test_fallbacks(void) {
    const char *names[] = {"chatml", "llama-2", "llama-3", "mistral", "gemma", "phi-3"};
    const char *ctx = "{\"messages\": [{\"role\": \"user\", \"content\": \"Hi\"}, {\"role\": \"assistant\", "
                      "\"content\": \"Yo\"}, {\"role\": \"user\", \"content\": \"Q\"}], "
                      "\"add_generation_prompt\": true, \"bos_token\": \"<s>\", \"eos_token\": \"</s>\"}";
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        const char *src = mlcc_chat_template_builtin(names[i]);
        CHECK_MSG(src != NULL, "%s", names[i]);
        if (!src) continue;
        char *out = render(src, ctx, NULL);
        CHECK_MSG(out && strstr(out, "Hi") && strstr(out, "Yo") && strstr(out, "Q"), "%s: %s", names[i],
                  out ? out : mlcc_last_error());
        free(out);
    }
    expect_render(mlcc_chat_template_builtin("chatml"), ctx,
                  "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nYo<|im_end|>\n<|im_start|>user\nQ<|im_end|>\n"
                  "<|im_start|>assistant\n");
    CHECK(mlcc_chat_template_builtin("no-such-template") == NULL);
}

/* One parsed template rendered by several threads at once gives the same bytes each time. */
typedef struct {
    const mlcc_template *t;
    json_t *ctx;
    const char *want;
    int mismatches;
} thread_job;

static void *render_many(void *arg) {
    thread_job *job = arg;
    for (int i = 0; i < 300; i++) {
        char *out = mlcc_template_render(job->t, job->ctx);
        if (!out || strcmp(out, job->want) != 0) job->mismatches++;
        free(out);
    }
    return NULL;
}

static void test_threads(void) {
    const char *src = "{% set ns = namespace(n=0) %}{% for m in messages %}{% set ns.n = ns.n + 1 %}"
                      "{{ m.role | upper }}: {{ m.content ~ ' ' ~ 'é' * 2 }}{{ ' | ' if not loop.last }}{% endfor %}"
                      "{{ [1, 'a', none] | tojson }}{{ ns.n }}";
    mlcc_template *t = mlcc_template_parse(src, strlen(src), "t.jinja");
    json_error_t jerr;
    json_t *ctx = json_loads("{\"messages\": [{\"role\": \"user\", \"content\": \"a\"}, "
                             "{\"role\": \"assistant\", \"content\": \"b\"}]}", 0, &jerr);
    char *want = mlcc_template_render(t, ctx);
    CHECK_EQ_STR(want, "USER: a éé | ASSISTANT: b éé[1, \"a\", null]2");
    thread_job jobs[4];
    pthread_t threads[4];
    for (int i = 0; i < 4; i++) {
        jobs[i] = (thread_job){t, ctx, want, 0};
        pthread_create(&threads[i], NULL, render_many, &jobs[i]);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(threads[i], NULL);
        CHECK_EQ_INT(jobs[i].mismatches, 0);
    }
    free(want);
    json_decref(ctx);
    mlcc_template_free(t);
}

int main(void) {
    test_syntax_errors();
    test_runtime_errors();
    test_limits();
    test_values_and_context();
    test_fallbacks();
    test_threads();
    return test_finish();
}
