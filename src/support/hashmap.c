/* hashmap.c - open-addressing hash maps and the string interner (see hashmap.h). */
#include "support/hashmap.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "support/alloc.h"

/* FNV-1a with a final avalanche: fast enough for names and tokens, and well mixed in the
 * low bits that the power-of-two tables use. */
uint64_t mlcc_hash_bytes(const void *data, size_t len) {
    const unsigned char *p = data;
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    return mlcc_hash_u64(h);
}

uint64_t mlcc_hash_u64(uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    x ^= x >> 33;
    return x;
}

uint64_t mlcc_hash_combine(uint64_t seed, uint64_t value) {
    return mlcc_hash_u64(seed ^ (value + 0x9e3779b97f4a7c15ull + (seed << 6) + (seed >> 2)));
}

/* ---- string keys ---- */

void strmap_init(mlcc_strmap *m) {
    m->slots = NULL;
    m->cap = m->count = 0;
}

void strmap_free(mlcc_strmap *m) {
    for (size_t i = 0; i < m->cap; i++) free(m->slots[i].key);
    free(m->slots);
    strmap_init(m);
}

static size_t strmap_probe(const mlcc_strmap *m, const char *key, size_t len, uint64_t hash) {
    size_t mask = m->cap - 1, i = (size_t)hash & mask;
    for (;;) {
        const mlcc_strmap_entry *e = &m->slots[i];
        if (!e->key) return i;
        if (e->hash == hash && e->key_len == len && memcmp(e->key, key, len) == 0) return i;
        i = (i + 1) & mask;
    }
}

static void strmap_grow(mlcc_strmap *m) {
    size_t old_cap = m->cap;
    mlcc_strmap_entry *old = m->slots;
    m->cap = old_cap ? old_cap * 2 : 16;
    m->slots = mlcc_xcalloc(m->cap, sizeof *m->slots);
    for (size_t i = 0; i < old_cap; i++) {
        if (!old[i].key) continue;
        size_t j = strmap_probe(m, old[i].key, old[i].key_len, old[i].hash);
        m->slots[j] = old[i];
    }
    free(old);
}

mlcc_strmap_entry *strmap_find(const mlcc_strmap *m, const char *key, size_t len) {
    if (!m->cap) return NULL;
    size_t i = strmap_probe(m, key, len, mlcc_hash_bytes(key, len));
    return m->slots[i].key ? &m->slots[i] : NULL;
}

mlcc_strmap_entry *strmap_upsert(mlcc_strmap *m, const char *key, size_t len, int *inserted) {
    if ((m->count + 1) * 10 > m->cap * 7) strmap_grow(m);
    uint64_t hash = mlcc_hash_bytes(key, len);
    size_t i = strmap_probe(m, key, len, hash);
    mlcc_strmap_entry *e = &m->slots[i];
    if (inserted) *inserted = e->key == NULL;
    if (!e->key) {
        e->key = mlcc_xstrndup(key, len);
        e->key_len = len;
        e->hash = hash;
        e->value.i = 0;
        m->count++;
    }
    return e;
}

int strmap_remove(mlcc_strmap *m, const char *key, size_t len) {
    mlcc_strmap_entry *e = strmap_find(m, key, len);
    if (!e) return 0;
    size_t mask = m->cap - 1, i = (size_t)(e - m->slots);
    free(e->key);
    e->key = NULL;
    m->count--;
    /* Backward-shift: move later entries of the probe run into the hole. */
    for (size_t j = (i + 1) & mask; m->slots[j].key; j = (j + 1) & mask) {
        size_t home = (size_t)m->slots[j].hash & mask;
        int movable = (j > i) ? (home <= i || home > j) : (home <= i && home > j);
        if (movable) {
            m->slots[i] = m->slots[j];
            m->slots[j].key = NULL;
            i = j;
        }
    }
    return 1;
}

int strmap_get_i(const mlcc_strmap *m, const char *key, int64_t *out) {
    mlcc_strmap_entry *e = strmap_find(m, key, strlen(key));
    if (!e) return 0;
    if (out) *out = e->value.i;
    return 1;
}

void strmap_set_i(mlcc_strmap *m, const char *key, int64_t value) {
    strmap_upsert(m, key, strlen(key), NULL)->value.i = value;
}

void *strmap_get_p(const mlcc_strmap *m, const char *key) {
    mlcc_strmap_entry *e = strmap_find(m, key, strlen(key));
    return e ? e->value.p : NULL;
}

void strmap_set_p(mlcc_strmap *m, const char *key, void *value) {
    strmap_upsert(m, key, strlen(key), NULL)->value.p = value;
}

/* ---- 64-bit keys ---- */

void u64map_init(mlcc_u64map *m) {
    m->slots = NULL;
    m->cap = m->count = 0;
}

void u64map_free(mlcc_u64map *m) {
    free(m->slots);
    u64map_init(m);
}

static size_t u64map_probe(const mlcc_u64map *m, uint64_t key) {
    size_t mask = m->cap - 1, i = (size_t)mlcc_hash_u64(key) & mask;
    while (m->slots[i].used && m->slots[i].key != key) i = (i + 1) & mask;
    return i;
}

static void u64map_grow(mlcc_u64map *m) {
    size_t old_cap = m->cap;
    mlcc_u64map_entry *old = m->slots;
    m->cap = old_cap ? old_cap * 2 : 16;
    m->slots = mlcc_xcalloc(m->cap, sizeof *m->slots);
    for (size_t i = 0; i < old_cap; i++)
        if (old[i].used) m->slots[u64map_probe(m, old[i].key)] = old[i];
    free(old);
}

mlcc_u64map_entry *u64map_find(const mlcc_u64map *m, uint64_t key) {
    if (!m->cap) return NULL;
    size_t i = u64map_probe(m, key);
    return m->slots[i].used ? &m->slots[i] : NULL;
}

mlcc_u64map_entry *u64map_upsert(mlcc_u64map *m, uint64_t key, int *inserted) {
    if ((m->count + 1) * 10 > m->cap * 7) u64map_grow(m);
    size_t i = u64map_probe(m, key);
    mlcc_u64map_entry *e = &m->slots[i];
    if (inserted) *inserted = !e->used;
    if (!e->used) {
        e->used = 1;
        e->key = key;
        e->value.i = 0;
        m->count++;
    }
    return e;
}

int u64map_remove(mlcc_u64map *m, uint64_t key) {
    mlcc_u64map_entry *e = u64map_find(m, key);
    if (!e) return 0;
    size_t mask = m->cap - 1, i = (size_t)(e - m->slots);
    e->used = 0;
    m->count--;
    for (size_t j = (i + 1) & mask; m->slots[j].used; j = (j + 1) & mask) {
        size_t home = (size_t)mlcc_hash_u64(m->slots[j].key) & mask;
        int movable = (j > i) ? (home <= i || home > j) : (home <= i && home > j);
        if (movable) {
            m->slots[i] = m->slots[j];
            m->slots[j].used = 0;
            i = j;
        }
    }
    return 1;
}

void *u64map_get_p(const mlcc_u64map *m, const void *key) {
    mlcc_u64map_entry *e = u64map_find(m, (uint64_t)(uintptr_t)key);
    return e ? e->value.p : NULL;
}

void u64map_set_p(mlcc_u64map *m, const void *key, void *value) {
    u64map_upsert(m, (uint64_t)(uintptr_t)key, NULL)->value.p = value;
}

/* ---- interner ---- */

static mlcc_strmap intern_table;
static pthread_mutex_t intern_lock = PTHREAD_MUTEX_INITIALIZER;

const char *mlcc_intern_n(const char *s, size_t len) {
    pthread_mutex_lock(&intern_lock);
    const char *out = strmap_upsert(&intern_table, s, len, NULL)->key;
    pthread_mutex_unlock(&intern_lock);
    return out;
}

const char *mlcc_intern(const char *s) {
    return mlcc_intern_n(s, strlen(s));
}
