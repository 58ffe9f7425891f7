/* test_tokenizer_threads.c - one tokenizer shared by several threads: concurrent encodes (and
 * decodes) give the reference ids of every string, as the API promises. */
#include <jansson.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "support/json.h"
#include "test.h"
#include "tokenizer/tokenizer.h"

typedef struct job {
    mlcc_tokenizer *tok;
    json_t *strings, *cases;
    int offset, bad;
} job;

static void *worker(void *arg) {
    job *j = arg;
    size_t n = json_array_size(j->cases);
    for (size_t k = 0; k < n; k++) {
        json_t *cs = json_array_get(j->cases, (k + (size_t)j->offset * 97) % n);
        json_t *s =
            json_array_get(j->strings, (size_t)json_integer_value(json_object_get(cs, "i")));
        json_t *want = json_object_get(cs, "ids_special");
        int32_t *ids;
        size_t m;
        if (mlcc_tokenizer_encode(j->tok, json_string_value(s), json_string_length(s), 1, &ids,
                                  &m)) {
            j->bad++;
            continue;
        }
        int ok = m == json_array_size(want);
        for (size_t i = 0; ok && i < m; i++)
            ok = ids[i] == json_integer_value(json_array_get(want, i));
        char *d = mlcc_tokenizer_decode(j->tok, ids, m, 1, NULL);
        if (!ok || !d) j->bad++;
        free(d);
        free(ids);
    }
    return NULL;
}

int main(void) {
    char *tp = test_data_path("tokenizers/qwen3/tokenizer.json"),
         *rp = test_data_path("tokenizers/qwen3/refs.json"),
         *sp = test_data_path("tokenizers/strings.json");
    mlcc_tokenizer *tok = mlcc_tokenizer_load(tp);
    json_t *refs = mlcc_json_load_file(rp), *strings = mlcc_json_load_file(sp);
    CHECK(tok && refs && strings);
    if (tok && refs && strings) {
        enum { THREADS = 4 };
        pthread_t th[THREADS];
        job jobs[THREADS];
        for (int t = 0; t < THREADS; t++) {
            jobs[t] = (job){tok, strings, json_object_get(refs, "cases"), t, 0};
            pthread_create(&th[t], NULL, worker, &jobs[t]);
        }
        int bad = 0;
        for (int t = 0; t < THREADS; t++) {
            pthread_join(th[t], NULL);
            bad += jobs[t].bad;
        }
        printf("%d threads x %zu strings: %d mismatches\n", THREADS,
               json_array_size(json_object_get(refs, "cases")), bad);
        CHECK_EQ_INT(bad, 0);
    }
    mlcc_tokenizer_free(tok);
    json_decref(refs);
    json_decref(strings);
    free(tp);
    free(rp);
    free(sp);
    return test_finish();
}
