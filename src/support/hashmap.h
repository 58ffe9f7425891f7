/* hashmap.h - open-addressing hash maps.
 *
 * mlcc_strmap maps byte strings (any bytes, explicit length; the map keeps its own copy) to a
 * 64-bit value or a pointer. mlcc_u64map maps 64-bit keys (integers, or pointers cast to
 * uintptr_t) to the same. Both use linear probing over a power-of-two table kept at most 70%
 * full; removal uses backward-shift deletion, so there are no tombstones.
 *
 * The string interner (mlcc_intern) returns one canonical, NUL-terminated copy per distinct
 * string, so interned names compare by pointer. */
#ifndef MLCC_SUPPORT_HASHMAP_H
#define MLCC_SUPPORT_HASHMAP_H

#include <stddef.h>
#include <stdint.h>

typedef union mlcc_map_value {
    int64_t i;
    void *p;
} mlcc_map_value;

typedef struct mlcc_strmap_entry {
    char *key; /* NULL = empty slot; owned, NUL-terminated after key_len bytes */
    size_t key_len;
    uint64_t hash;
    mlcc_map_value value;
} mlcc_strmap_entry;

typedef struct mlcc_strmap {
    mlcc_strmap_entry *slots;
    size_t cap, count;
} mlcc_strmap;

uint64_t mlcc_hash_bytes(const void *data, size_t len);
uint64_t mlcc_hash_u64(uint64_t x);
uint64_t mlcc_hash_combine(uint64_t seed, uint64_t value);

void strmap_init(mlcc_strmap *m);
void strmap_free(mlcc_strmap *m);
/* The entry for key, or NULL. */
mlcc_strmap_entry *strmap_find(const mlcc_strmap *m, const char *key, size_t len);
/* The entry for key, inserted (value zero) when absent; *inserted tells which (may be NULL). */
mlcc_strmap_entry *strmap_upsert(mlcc_strmap *m, const char *key, size_t len, int *inserted);
int strmap_remove(mlcc_strmap *m, const char *key, size_t len);
/* Convenience for NUL-terminated keys. */
int strmap_get_i(const mlcc_strmap *m, const char *key, int64_t *out);
void strmap_set_i(mlcc_strmap *m, const char *key, int64_t value);
void *strmap_get_p(const mlcc_strmap *m, const char *key);
void strmap_set_p(mlcc_strmap *m, const char *key, void *value);

typedef struct mlcc_u64map_entry {
    uint64_t key;
    mlcc_map_value value;
    int used;
} mlcc_u64map_entry;

typedef struct mlcc_u64map {
    mlcc_u64map_entry *slots;
    size_t cap, count;
} mlcc_u64map;

void u64map_init(mlcc_u64map *m);
void u64map_free(mlcc_u64map *m);
mlcc_u64map_entry *u64map_find(const mlcc_u64map *m, uint64_t key);
mlcc_u64map_entry *u64map_upsert(mlcc_u64map *m, uint64_t key, int *inserted);
int u64map_remove(mlcc_u64map *m, uint64_t key);
void *u64map_get_p(const mlcc_u64map *m, const void *key);
void u64map_set_p(mlcc_u64map *m, const void *key, void *value);

/* Iteration: for (size_t i = 0; i < m.cap; i++) if (m.slots[i].key) ... (strmap)
 *            for (size_t i = 0; i < m.cap; i++) if (m.slots[i].used) ... (u64map) */

/* The process-wide string interner (thread-safe). */
const char *mlcc_intern(const char *s);
const char *mlcc_intern_n(const char *s, size_t len);

#endif
