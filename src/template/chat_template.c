/* chat_template.c - finding a model's chat template and special tokens the way transformers
 * does (chat_template.jinja, else tokenizer_config.json's chat_template, else
 * chat_template.json), and the built-in templates for models that ship none. */
#include <stdlib.h>
#include <string.h>

#include "support/alloc.h"
#include "support/error.h"
#include "support/file.h"
#include "support/json.h"
#include "template/template.h"

static const struct {
    const char *name;
    const char *source;
} builtins[] = {
    {"chatml",
     "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + "
     "'<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"},
    {"llama-2",
     "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}{% set system_message = "
     "messages[0]['content'] %}{% else %}{% set loop_messages = messages %}{% set system_message = false %}{% endif %}"
     "{% for message in loop_messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
     "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
     "{% if loop.index0 == 0 and system_message != false %}{% set content = '<<SYS>>\\n' + system_message + "
     "'\\n<</SYS>>\\n\\n' + message['content'] %}{% else %}{% set content = message['content'] %}{% endif %}"
     "{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}"
     "{% elif message['role'] == 'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %}"},
    {"llama-3",
     "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = "
     "'<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'+ message['content'] | trim + "
     "'<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}"
     "{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}"},
    {"mistral",
     "{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
     "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
     "{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}"
     "{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token}}{% else %}"
     "{{ raise_exception('Only user and assistant roles are supported!') }}{% endif %}{% endfor %}"},
    {"gemma",
     "{{ bos_token }}{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') }}"
     "{% endif %}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
     "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
     "{% if (message['role'] == 'assistant') %}{% set role = 'model' %}{% else %}{% set role = message['role'] %}"
     "{% endif %}{{ '<start_of_turn>' + role + '\\n' + message['content'] | trim + '<end_of_turn>\\n' }}{% endfor %}"
     "{% if add_generation_prompt %}{{'<start_of_turn>model\\n'}}{% endif %}"},
    {"phi-3",
     "{% for message in messages %}{{ '<|' + message['role'] + '|>\\n' + message['content'] + '<|end|>\\n' }}"
     "{% endfor %}{% if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% else %}{{ eos_token }}{% endif %}"},
};

const char *mlcc_chat_template_builtin(const char *name) {
    for (size_t i = 0; i < sizeof builtins / sizeof builtins[0]; i++)
        if (!strcmp(builtins[i].name, name)) return builtins[i].source;
    return NULL;
}

const char *mlcc_chat_template_builtin_names(void) { return "chatml llama-2 llama-3 mistral gemma phi-3"; }

/* Special tokens as transformers' special_tokens_map: strings, or AddedToken objects. */
static json_t *read_specials(json_t *config) {
    static const char *const keys[] = {"bos_token", "eos_token", "unk_token", "sep_token",
                                       "pad_token", "cls_token", "mask_token"};
    json_t *out = json_object();
    for (size_t i = 0; config && i < sizeof keys / sizeof keys[0]; i++) {
        json_t *v = json_object_get(config, keys[i]);
        if (json_is_object(v)) v = json_object_get(v, "content");
        if (json_is_string(v)) json_object_set(out, keys[i], v);
    }
    json_t *extra = config ? json_object_get(config, "additional_special_tokens") : NULL;
    if (json_is_array(extra)) {
        json_t *list = json_array();
        size_t i;
        json_t *v;
        json_array_foreach(extra, i, v) {
            if (json_is_object(v)) v = json_object_get(v, "content");
            if (json_is_string(v)) json_array_append(list, v);
        }
        json_object_set_new(out, "additional_special_tokens", list);
    }
    return out;
}

/* tokenizer_config.json's chat_template: a string, or [{name, template}] ("default" first). */
static char *template_from_config(json_t *config, const char *path, const char **tool_use) {
    json_t *ct = config ? json_object_get(config, "chat_template") : NULL;
    *tool_use = NULL;
    if (!ct || json_is_null(ct)) return NULL;
    if (json_is_string(ct)) return mlcc_xstrdup(json_string_value(ct));
    if (json_is_array(ct)) {
        size_t i;
        json_t *v;
        const char *first = NULL, *dflt = NULL;
        json_array_foreach(ct, i, v) {
            const char *name = json_string_value(json_object_get(v, "name"));
            const char *tmpl = json_string_value(json_object_get(v, "template"));
            if (!tmpl) continue;
            if (name && !strcmp(name, "default")) dflt = tmpl;
            if (name && !strcmp(name, "tool_use")) *tool_use = tmpl;
            if (!first) first = tmpl;
        }
        if (dflt) return mlcc_xstrdup(dflt);
        if (first) return mlcc_xstrdup(first);
    }
    mlcc_set_error("%s: field 'chat_template' must be a string or a list of {name, template}", path);
    return NULL;
}

int mlcc_chat_template_load_model(const char *dir, const char *fallback, mlcc_chat_template *out) {
    memset(out, 0, sizeof *out);
    char *config_path = mlcc_path_join(dir, "tokenizer_config.json");
    char *jinja_path = mlcc_path_join(dir, "chat_template.jinja");
    char *json_path = mlcc_path_join(dir, "chat_template.json");
    json_t *config = NULL;
    const char *name = NULL, *tool_use = NULL;
    int rc = -1;
    if (mlcc_file_exists(config_path) && !(config = mlcc_json_load_file(config_path))) goto done;
    out->specials = read_specials(config);
    if (mlcc_file_exists(jinja_path)) {
        size_t len;
        if (!(out->source = mlcc_read_file(jinja_path, &len))) goto done;
        name = jinja_path;
    } else if (config && json_object_get(config, "chat_template")) {
        mlcc_clear_error();
        if (!(out->source = template_from_config(config, config_path, &tool_use))) goto done;
        name = config_path;
    } else if (mlcc_file_exists(json_path)) {
        json_t *j = mlcc_json_load_file(json_path);
        if (!j) goto done;
        const char *unused;
        out->source = template_from_config(j, json_path, &unused);
        json_decref(j);
        if (!out->source) goto done;
        name = json_path;
    } else if (fallback) {
        const char *src = mlcc_chat_template_builtin(fallback);
        if (!src) {
            mlcc_set_error("unknown built-in chat template '%s' (known: %s)", fallback,
                           mlcc_chat_template_builtin_names());
            goto done;
        }
        out->source = mlcc_xstrdup(src);
        name = fallback;
    } else {
        mlcc_set_error("%s: the model has no chat template (no chat_template.jinja, no chat_template in "
                       "tokenizer_config.json); pick a built-in one (%s)",
                       dir, mlcc_chat_template_builtin_names());
        goto done;
    }
    if (!(out->tmpl = mlcc_template_parse(out->source, strlen(out->source), name))) goto done;
    if (tool_use && !(out->tool_use = mlcc_template_parse(tool_use, strlen(tool_use), name))) goto done;
    rc = 0;
done:
    if (rc < 0) mlcc_chat_template_free(out);
    json_decref(config);
    free(config_path);
    free(jinja_path);
    free(json_path);
    return rc;
}

const mlcc_template *mlcc_chat_template_select(const mlcc_chat_template *ct, json_t *input) {
    json_t *tools = input ? json_object_get(input, "tools") : NULL;
    if (ct->tool_use && tools && !json_is_null(tools)) return ct->tool_use;
    return ct->tmpl;
}

void mlcc_chat_template_free(mlcc_chat_template *ct) {
    mlcc_template_free(ct->tmpl);
    mlcc_template_free(ct->tool_use);
    free(ct->source);
    json_decref(ct->specials);
    memset(ct, 0, sizeof *ct);
}
