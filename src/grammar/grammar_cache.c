/* grammar_cache.c - compiled grammars kept by their source (see grammar.h): a request that
 * repeats a schema, regex or GBNF text with the same options gets the grammar compiled before,
 * and with it the mask cache earlier requests filled for the same vocabulary. Bounded: the
 * least recently used grammar leaves first (requests still holding it keep it alive). */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "grammar/grammar.h"
#include "support/alloc.h"
#include "support/hashmap.h"
#include "support/strbuf.h"

typedef struct cache_entry {
    char *key;
    size_t key_len;
    mlcc_grammar *g;
    uint64_t last_use;
} cache_entry;

struct mlcc_grammar_cache {
    pthread_mutex_t lock;
    cache_entry *entries;
    int n, capacity;
    uint64_t clock, hits, misses;
};

mlcc_grammar_cache *mlcc_grammar_cache_new(int capacity) {
    mlcc_grammar_cache *c = mlcc_xcalloc(1, sizeof *c);
    pthread_mutex_init(&c->lock, NULL);
    c->capacity = capacity > 0 ? capacity : 1;
    c->entries = mlcc_xcalloc((size_t)c->capacity, sizeof *c->entries);
    return c;
}

void mlcc_grammar_cache_free(mlcc_grammar_cache *c) {
    if (!c) return;
    for (int i = 0; i < c->n; i++) {
        free(c->entries[i].key);
        mlcc_grammar_free(c->entries[i].g);
    }
    free(c->entries);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

static mlcc_grammar *compile(mlcc_grammar_kind kind, const char *text, size_t len, const mlcc_grammar_options *opt,
                             const char *what) {
    switch (kind) {
    case MLCC_GRAMMAR_EBNF: return mlcc_grammar_from_ebnf(text, len, what);
    case MLCC_GRAMMAR_REGEX: return mlcc_grammar_from_regex(text, len);
    default: return mlcc_grammar_from_json_schema(text, len, opt);
    }
}

mlcc_grammar *mlcc_grammar_cache_get(mlcc_grammar_cache *c, mlcc_grammar_kind kind, const char *text, size_t len,
                                     const mlcc_grammar_options *opt, const char *what) {
    /* the key: kind, the options that shape the grammar, then the text */
    mlcc_grammar_options o = opt ? *opt : mlcc_grammar_default_options();
    mlcc_strbuf key = STRBUF_INIT;
    sb_printf(&key, "%d %d %d %d %d %d|", (int)kind, o.flexible_whitespace, o.max_ws, o.strict_properties,
              o.max_string_chars, o.max_number_digits);
    sb_append_n(&key, text, len);
    pthread_mutex_lock(&c->lock);
    for (int i = 0; i < c->n; i++) {
        cache_entry *e = &c->entries[i];
        if (e->key_len == key.len && !memcmp(e->key, key.data, key.len)) {
            e->last_use = ++c->clock;
            c->hits++;
            mlcc_grammar *g = mlcc_grammar_retain(e->g);
            pthread_mutex_unlock(&c->lock);
            sb_free(&key);
            return g;
        }
    }
    c->misses++;
    pthread_mutex_unlock(&c->lock);
    /* compiled outside the lock: a slow schema does not hold up the others (two requests
     * racing on a new text may both compile it; the second copy is simply dropped) */
    mlcc_grammar *g = compile(kind, text, len, opt, what);
    if (!g) {
        sb_free(&key);
        return NULL;
    }
    pthread_mutex_lock(&c->lock);
    int slot = c->n;
    if (c->n == c->capacity) { /* evict the least recently used */
        slot = 0;
        for (int i = 1; i < c->n; i++)
            if (c->entries[i].last_use < c->entries[slot].last_use) slot = i;
        free(c->entries[slot].key);
        mlcc_grammar_free(c->entries[slot].g);
    } else
        c->n++;
    cache_entry *e = &c->entries[slot];
    e->key_len = key.len;
    e->key = sb_detach(&key);
    e->g = mlcc_grammar_retain(g);
    e->last_use = ++c->clock;
    pthread_mutex_unlock(&c->lock);
    return g;
}

void mlcc_grammar_cache_stats(mlcc_grammar_cache *c, uint64_t *hits, uint64_t *misses, int *entries) {
    pthread_mutex_lock(&c->lock);
    if (hits) *hits = c->hits;
    if (misses) *misses = c->misses;
    if (entries) *entries = c->n;
    pthread_mutex_unlock(&c->lock);
}
