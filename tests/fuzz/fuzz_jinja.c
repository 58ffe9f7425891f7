/* fuzz_jinja.c - fuzz target for the Jinja interpreter: parses the input as a template and
 * renders it with a small chat context, under tight step and size limits so that runaway
 * loops end quickly. Any crash, sanitizer report or leak is a bug; errors are fine. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "support/error.h"
#include "template/template.h"

static const char *const context_json =
    "{\"messages\": [{\"role\": \"system\", \"content\": \"sys\"}, {\"role\": \"user\", \"content\": \"hi \\u00e9\"},"
    " {\"role\": \"assistant\", \"content\": null, \"tool_calls\": [{\"id\": \"call_1\", \"type\": \"function\","
    " \"function\": {\"name\": \"f\", \"arguments\": {\"a\": [1, 2.5, true, null]}}}]},"
    " {\"role\": \"tool\", \"content\": \"42\"}, {\"role\": \"user\", \"content\": [{\"type\": \"text\", \"text\": \"x\"}]}],"
    " \"tools\": [{\"type\": \"function\", \"function\": {\"name\": \"f\", \"description\": \"d\","
    " \"parameters\": {\"type\": \"object\", \"properties\": {\"a\": {\"type\": \"array\"}}}}}],"
    " \"documents\": null, \"add_generation_prompt\": true, \"bos_token\": \"<s>\", \"eos_token\": \"</s>\"}";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static json_t *context;
    if (!context) {
        json_error_t err;
        context = json_loads(context_json, 0, &err);
        if (!context) abort();
    }
    mlcc_template *t = mlcc_template_parse((const char *)data, size, "fuzz.jinja");
    if (!t) return 0;
    mlcc_template_limits limits = {200000, 1 << 20};
    size_t len;
    char *out = mlcc_template_render_limited(t, context, &limits, NULL, &len);
    free(out);
    mlcc_template_free(t);
    return 0;
}
