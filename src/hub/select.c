/* select.c - the files a model needs from a repo (see select.h). */
#include "hub/select.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "hub/uri.h"
#include "support/alloc.h"
#include "support/error.h"
#include "support/json.h"
#include "support/strbuf.h"

static int has(char *const *files, size_t count, const char *name) {
    for (size_t i = 0; i < count; i++)
        if (strcmp(files[i], name) == 0) return 1;
    return 0;
}

static int already(const mlcc_hub_names *v, const char *name) {
    return has(v->data, v->len, name);
}

/* "a.gguf, b.gguf" (up to a few), for messages that point at a GGUF alternative. */
static char *gguf_list(char *const *files, size_t count) {
    mlcc_strbuf sb = STRBUF_INIT;
    int shown = 0;
    for (size_t i = 0; i < count; i++) {
        size_t n = strlen(files[i]);
        if (n > 5 && strcasecmp(files[i] + n - 5, ".gguf") == 0) {
            if (shown++ < 4) sb_printf(&sb, "%s%s", shown > 1 ? ", " : "", files[i]);
        }
    }
    if (shown > 4) sb_printf(&sb, " and %d more", shown - 4);
    return sb_detach(&sb);
}

static int missing(const char *repo, char *const *files, size_t count, const char *what) {
    char *ggufs = gguf_list(files, count);
    if (ggufs[0]) {
        char *first = mlcc_xstrndup(ggufs, strcspn(ggufs, ", "));
        mlcc_set_error("HF://%s has no %s; it has GGUF files (%s): name one, as in HF://%s/%s",
                       repo, what, ggufs, repo, first);
        free(first);
    } else
        mlcc_set_error("HF://%s has no %s: it is not a model mlcc can load", repo, what);
    free(ggufs);
    return -1;
}

int mlcc_hub_select_files(const char *repo, char *const *files, size_t count, mlcc_hub_names *out) {
    static const char *optional[] = {"generation_config.json",  "tokenizer.json",
                                     "tokenizer_config.json",   "tokenizer.model",
                                     "special_tokens_map.json", "chat_template.jinja"};
    if (!has(files, count, "config.json")) return missing(repo, files, count, "config.json");
    if (!has(files, count, "tokenizer.json") && !has(files, count, "tokenizer.model"))
        return missing(repo, files, count, "tokenizer.json or tokenizer.model");
    const char *weights = has(files, count, "model.safetensors.index.json")
                              ? "model.safetensors.index.json"
                          : has(files, count, "model.safetensors") ? "model.safetensors"
                                                                   : NULL;
    if (!weights)
        return missing(repo, files, count,
                       "safetensors weights (model.safetensors or model.safetensors.index.json)");
    vec_push(out, mlcc_xstrdup("config.json"));
    for (size_t i = 0; i < sizeof optional / sizeof optional[0]; i++)
        if (has(files, count, optional[i])) vec_push(out, mlcc_xstrdup(optional[i]));
    vec_push(out, mlcc_xstrdup(weights));
    return 0;
}

int mlcc_hub_index_shards(const char *index_path, char *const *files, size_t count,
                          mlcc_hub_names *out) {
    json_t *root = mlcc_json_load_file(index_path);
    if (!root) return -1;
    json_t *map = json_object_get(root, "weight_map");
    int rc = 0;
    if (!json_is_object(map) || json_object_size(map) == 0) {
        rc = mlcc_set_error("%s: no \"weight_map\" object", index_path);
    } else {
        const char *tensor;
        json_t *v;
        json_object_foreach(map, tensor, v) {
            const char *shard = json_string_value(v);
            if (!shard || !mlcc_hub_safe_relpath(shard)) {
                rc = mlcc_set_error("%s: weight_map[\"%s\"] is not a file name in the repo",
                                    index_path, tensor);
                break;
            }
            if (!has(files, count, shard)) {
                rc = mlcc_set_error("%s: weight_map[\"%s\"] names %s, which the repo does not have",
                                    index_path, tensor, shard);
                break;
            }
            if (!already(out, shard)) vec_push(out, mlcc_xstrdup(shard));
        }
    }
    json_decref(root);
    return rc;
}

void mlcc_hub_names_free(mlcc_hub_names *v) {
    for (size_t i = 0; i < v->len; i++)
        free(v->data[i]);
    vec_free(v);
}
