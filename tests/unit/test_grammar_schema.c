/* test_grammar_schema.c - every schema of testdata/json-schema: the ones index.json calls
 * supported compile, the others fail naming the keyword; each known-valid instance of
 * instances.json (checked with the independent validator when the fixtures were made) is
 * accepted by the matcher byte by byte and each known-invalid one is rejected.
 *
 * The grammar writes object members in the schema's order, so an instance is serialised with
 * its keys ordered by where their names first appear in the schema (a serialisation choice; the
 * value is the same JSON). Both whitespace policies are tried: compact text with the compact
 * grammar, indented text with the flexible one. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "grammar/grammar.h"
#include "support/error.h"
#include "support/file.h"
#include "support/hashmap.h"
#include "test.h"

/* pass 0: names under properties/patternProperties; pass 1: names only in required */
static void collect_names(json_t *s, mlcc_strmap *order, int64_t *next, int pass) {
    if (json_is_array(s)) {
        size_t i;
        json_t *x;
        json_array_foreach(s, i, x) collect_names(x, order, next, pass);
        return;
    }
    if (!json_is_object(s)) return;
    const char *k;
    json_t *v;
    json_object_foreach(s, k, v) {
        if (pass == 0 && (!strcmp(k, "properties") || !strcmp(k, "patternProperties")) && json_is_object(v)) {
            const char *pk;
            json_t *pv;
            json_object_foreach(v, pk, pv) {
                int ins;
                mlcc_strmap_entry *e = strmap_upsert(order, pk, strlen(pk), &ins);
                if (ins) e->value.i = (*next)++;
            }
        }
        if (pass == 1 && !strcmp(k, "required") && json_is_array(v)) {
            size_t i;
            json_t *x;
            json_array_foreach(v, i, x) if (json_is_string(x)) {
                int ins;
                mlcc_strmap_entry *e = strmap_upsert(order, json_string_value(x), strlen(json_string_value(x)), &ins);
                if (ins) e->value.i = (*next)++;
            }
        }
        if (strcmp(k, "enum") && strcmp(k, "const") && strcmp(k, "default") && strcmp(k, "examples")) collect_names(v, order, next, pass);
    }
}

typedef struct kv {
    const char *k;
    json_t *v;
    int64_t rank;
    size_t idx;
} kv;

static int cmp_kv(const void *a, const void *b) {
    const kv *x = a, *y = b;
    if (x->rank != y->rank) return x->rank < y->rank ? -1 : 1;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

static json_t *reorder(json_t *inst, mlcc_strmap *order) {
    if (json_is_array(inst)) {
        json_t *out = json_array();
        size_t i;
        json_t *x;
        json_array_foreach(inst, i, x) json_array_append_new(out, reorder(x, order));
        return out;
    }
    if (!json_is_object(inst)) return json_incref(inst);
    size_t n = json_object_size(inst), i = 0;
    kv *a = calloc(n ? n : 1, sizeof *a);
    const char *k;
    json_t *v;
    json_object_foreach(inst, k, v) {
        mlcc_strmap_entry *e = strmap_find(order, k, strlen(k));
        a[i].k = k;
        a[i].v = v;
        a[i].rank = e ? e->value.i : INT64_MAX;
        a[i].idx = i;
        i++;
    }
    qsort(a, n, sizeof *a, cmp_kv);
    json_t *out = json_object();
    for (i = 0; i < n; i++) json_object_set_new(out, a[i].k, reorder(a[i].v, order));
    free(a);
    return out;
}

static int accepts(mlcc_grammar *g, mlcc_grammar_vocab *v, const char *text) {
    mlcc_grammar_matcher *m = mlcc_grammar_matcher_new(g, v);
    int ok = 1;
    size_t i = 0;
    for (; text[i] && ok; i++) ok = mlcc_grammar_accept_bytes(m, text + i, 1) == 0;
    if (!ok && getenv("GRAMMAR_DEBUG")) fprintf(stderr, "  rejected at byte %zu: ...%.40s\n", i - 1, text + (i > 30 ? i - 30 : 0));
    ok = ok && mlcc_grammar_can_terminate(m);
    mlcc_grammar_matcher_free(m);
    return ok;
}

int main(void) {
    char *dir = test_data_path("json-schema");
    char path[4096];
    snprintf(path, sizeof path, "%s/index.json", dir);
    json_error_t jerr;
    json_t *index = json_load_file(path, 0, &jerr);
    snprintf(path, sizeof path, "%s/instances.json", dir);
    json_t *instances = json_load_file(path, 0, &jerr);
    if (!index || !instances) TEST_SKIP("cannot read %s/index.json or instances.json", dir);
    /* the matcher needs a vocabulary; single bytes are enough to check text byte by byte */
    const char *toks[256];
    char bytes[256][2];
    for (int i = 0; i < 256; i++) {
        bytes[i][0] = (char)i;
        bytes[i][1] = 0;
        toks[i] = bytes[i];
    }
    size_t lens[256];
    for (int i = 0; i < 256; i++) lens[i] = 1;
    mlcc_grammar_vocab *vocab = mlcc_grammar_vocab_from_bytes(toks, lens, 256, NULL, 0);
    int supported = 0, total = 0, valid_ok = 0, valid_n = 0, invalid_ok = 0, invalid_n = 0;
    size_t i;
    json_t *entry;
    json_array_foreach(index, i, entry) {
        const char *file = json_string_value(json_object_get(entry, "file"));
        const char *expect = json_string_value(json_object_get(entry, "expect"));
        snprintf(path, sizeof path, "%s/schemas/%s", dir, file);
        size_t len;
        char *text = mlcc_read_file(path, &len);
        CHECK(text != NULL);
        if (!text) continue;
        total++;
        json_t *schema = json_loadb(text, len, 0, &jerr);
        mlcc_strmap order;
        strmap_init(&order);
        int64_t next = 0;
        collect_names(schema, &order, &next, 0);
        collect_names(schema, &order, &next, 1);
        for (int flexible = 0; flexible < 2; flexible++) {
            mlcc_grammar_options opt = mlcc_grammar_default_options();
            opt.strict_properties = 0;
            opt.flexible_whitespace = flexible;
            opt.max_ws = 64;
            mlcc_grammar *g = mlcc_grammar_from_json_schema(text, len, &opt);
            if (!strcmp(expect, "supported")) {
                CHECK_MSG(g != NULL, "%s: %s", file, mlcc_last_error());
            } else {
                CHECK_MSG(g == NULL, "%s should be reported unsupported", file);
                if (!g) CHECK_MSG(strstr(mlcc_last_error(), "'if'") && strstr(mlcc_last_error(), "at '"), "%s: %s", file, mlcc_last_error());
            }
            if (!g) {
                if (flexible == 0) printf("unsupported: %s: %s\n", file, mlcc_last_error());
                continue;
            }
            if (flexible == 0) supported++;
            json_t *cases = json_object_get(instances, file);
            for (int valid = 1; valid >= 0; valid--) {
                json_t *list = json_object_get(cases, valid ? "valid" : "invalid");
                size_t k;
                json_t *inst;
                json_array_foreach(list, k, inst) {
                    json_t *ordered = reorder(inst, &order);
                    size_t flags = JSON_ENCODE_ANY | JSON_REAL_PRECISION(17) | (flexible ? JSON_INDENT(2) : JSON_COMPACT);
                    char *s = json_dumps(ordered, flags);
                    json_decref(ordered);
                    int ok = accepts(g, vocab, s);
                    if (valid) {
                        valid_n++;
                        valid_ok += ok;
                        CHECK_MSG(ok, "%s (%s): valid instance %zu rejected: %s", file, flexible ? "flexible" : "compact", k, s);
                    } else {
                        invalid_n++;
                        invalid_ok += !ok;
                        CHECK_MSG(!ok, "%s (%s): invalid instance %zu accepted: %s", file, flexible ? "flexible" : "compact", k, s);
                    }
                    free(s);
                }
            }
            mlcc_grammar_free(g);
        }
        strmap_free(&order);
        json_decref(schema);
        free(text);
    }
    printf("schemas supported: %d of %d; valid instances accepted %d/%d; invalid rejected %d/%d\n", supported, total, valid_ok,
           valid_n, invalid_ok, invalid_n);
    mlcc_grammar_vocab_free(vocab);
    json_decref(index);
    json_decref(instances);
    free(dir);
    return test_finish();
}
