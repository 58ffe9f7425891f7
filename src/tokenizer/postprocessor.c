/* postprocessor.c - what add_special_tokens adds around one sequence: TemplateProcessing (its
 * "single" template), RobertaProcessing / BertProcessing (cls ... sep), ByteLevel (offsets
 * only, so nothing here), and Sequence. */
#include <string.h>

#include "support/error.h"
#include "tokenizer/tok_internal.h"

enum pp_kind { PP_TEMPLATE, PP_CLS_SEP, PP_NONE, PP_SEQUENCE };

typedef struct pp_item {
    int is_sequence;
    tok_ids ids; /* the special token's ids */
} pp_item;

struct tok_postproc {
    enum pp_kind kind;
    MLCC_VEC(pp_item) items; /* Template */
    int32_t cls, sep;        /* Roberta / Bert */
    tok_postproc **children;
    size_t n_children;
};

void tok_postproc_free(tok_postproc *p) {
    if (!p) return;
    for (size_t i = 0; i < p->items.len; i++)
        vec_free(&p->items.data[i].ids);
    vec_free(&p->items);
    for (size_t i = 0; i < p->n_children; i++)
        tok_postproc_free(p->children[i]);
    free(p->children);
    free(p);
}

static int read_template(tok_postproc *p, json_t *j, const char *what) {
    json_t *single = json_object_get(j, "single"), *specials = json_object_get(j, "special_tokens");
    if (!json_is_array(single))
        return mlcc_set_error("%s: TemplateProcessing needs an array 'single'", what);
    for (size_t i = 0; i < json_array_size(single); i++) {
        json_t *it = json_array_get(single, i);
        pp_item item = {0};
        json_t *sp = json_object_get(it, "SpecialToken");
        if (json_object_get(it, "Sequence")) {
            item.is_sequence = 1;
        } else if (json_is_object(sp)) {
            const char *name;
            if (tok_json_str(sp, "id", what, &name)) return -1;
            json_t *def = json_object_get(specials, name);
            json_t *ids = json_object_get(def, "ids");
            if (!json_is_array(ids))
                return mlcc_set_error(
                    "%s: special token '%s' of the template is not in 'special_tokens'", what,
                    name);
            for (size_t k = 0; k < json_array_size(ids); k++) {
                json_t *v = json_array_get(ids, k);
                if (!json_is_integer(v)) {
                    vec_free(&item.ids);
                    return mlcc_set_error("%s: special_tokens.%s.ids must be integers", what, name);
                }
                vec_push(&item.ids, (int32_t)json_integer_value(v));
            }
        } else {
            return mlcc_set_error(
                "%s: single[%zu] must be {\"Sequence\": ...} or {\"SpecialToken\": ...}", what, i);
        }
        vec_push(&p->items, item);
    }
    return 0;
}

static int read_pair(json_t *j, const char *key, const char *what, int32_t *id) {
    json_t *v = json_object_get(j, key);
    json_t *x = json_array_get(v, 1);
    if (!json_is_integer(x)) return mlcc_set_error("%s: '%s' must be [\"token\", id]", what, key);
    *id = (int32_t)json_integer_value(x);
    return 0;
}

tok_postproc *tok_postproc_from_json(json_t *j, const char *what) {
    const char *type;
    if (!json_is_object(j)) {
        mlcc_set_error("%s: must be an object", what);
        return NULL;
    }
    if (tok_json_str(j, "type", what, &type)) return NULL;
    tok_postproc *p = mlcc_xcalloc(1, sizeof *p);
    if (!strcmp(type, "TemplateProcessing")) {
        p->kind = PP_TEMPLATE;
        if (read_template(p, j, what)) goto fail;
    } else if (!strcmp(type, "RobertaProcessing") || !strcmp(type, "BertProcessing")) {
        p->kind = PP_CLS_SEP;
        if (read_pair(j, "cls", what, &p->cls) || read_pair(j, "sep", what, &p->sep)) goto fail;
    } else if (!strcmp(type, "ByteLevel")) {
        p->kind = PP_NONE;
    } else if (!strcmp(type, "Sequence")) {
        p->kind = PP_SEQUENCE;
        json_t *arr = json_object_get(j, "processors");
        if (!json_is_array(arr)) {
            mlcc_set_error("%s: Sequence needs an array 'processors'", what);
            goto fail;
        }
        p->children = mlcc_xcalloc(json_array_size(arr) + 1, sizeof *p->children);
        for (size_t i = 0; i < json_array_size(arr); i++) {
            char sub[256];
            snprintf(sub, sizeof sub, "%s.processors[%zu]", what, i);
            tok_postproc *c = tok_postproc_from_json(json_array_get(arr, i), sub);
            if (!c) goto fail;
            p->children[p->n_children++] = c;
        }
    } else {
        mlcc_set_error("%s: unsupported post-processor type '%s'", what, type);
        goto fail;
    }
    return p;
fail:
    tok_postproc_free(p);
    return NULL;
}

void tok_postprocess(const tok_postproc *p, tok_ids *ids) {
    switch (p->kind) {
    case PP_NONE:
        return;
    case PP_SEQUENCE:
        for (size_t i = 0; i < p->n_children; i++)
            tok_postprocess(p->children[i], ids);
        return;
    case PP_CLS_SEP: {
        tok_ids r = {0};
        vec_push(&r, p->cls);
        for (size_t i = 0; i < ids->len; i++)
            vec_push(&r, ids->data[i]);
        vec_push(&r, p->sep);
        vec_free(ids);
        *ids = r;
        return;
    }
    case PP_TEMPLATE: {
        tok_ids r = {0};
        for (size_t i = 0; i < p->items.len; i++) {
            const pp_item *it = &p->items.data[i];
            if (it->is_sequence)
                for (size_t k = 0; k < ids->len; k++)
                    vec_push(&r, ids->data[k]);
            else
                for (size_t k = 0; k < it->ids.len; k++)
                    vec_push(&r, it->ids.data[k]);
        }
        vec_free(ids);
        *ids = r;
        return;
    }
    }
}

size_t tok_postproc_added(const tok_postproc *p) {
    size_t n = 0;
    switch (p->kind) {
    case PP_NONE:
        return 0;
    case PP_CLS_SEP:
        return 2;
    case PP_SEQUENCE:
        for (size_t i = 0; i < p->n_children; i++)
            n += tok_postproc_added(p->children[i]);
        return n;
    case PP_TEMPLATE:
        for (size_t i = 0; i < p->items.len; i++)
            if (!p->items.data[i].is_sequence) n += p->items.data[i].ids.len;
        return n;
    }
    return 0;
}
