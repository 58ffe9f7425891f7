/* arena.c - a bump allocator for objects that die together (see arena.h). */
#include "support/arena.h"

#include <stdlib.h>
#include <string.h>

#include "support/alloc.h"

struct mlcc_arena_block {
    mlcc_arena_block *next;
    size_t used, size;
    _Alignas(16) unsigned char data[];
};

enum { ARENA_FIRST_BLOCK = 16 * 1024, ARENA_MAX_BLOCK = 4 * 1024 * 1024 };

void arena_init(mlcc_arena *arena) {
    arena->head = NULL;
    arena->next_block_size = ARENA_FIRST_BLOCK;
    arena->total_bytes = 0;
}

static mlcc_arena_block *new_block(mlcc_arena *arena, size_t min_size) {
    size_t size = arena->next_block_size ? arena->next_block_size : ARENA_FIRST_BLOCK;
    if (size < min_size) size = min_size;
    mlcc_arena_block *b = mlcc_xmalloc(sizeof *b + size);
    b->used = 0;
    b->size = size;
    arena->total_bytes += size;
    if (arena->next_block_size < ARENA_MAX_BLOCK) arena->next_block_size = size * 2;
    return b;
}

void *arena_alloc(mlcc_arena *arena, size_t size) {
    size = (size + 15) & ~(size_t)15;
    mlcc_arena_block *b = arena->head;
    if (!b || b->size - b->used < size) {
        mlcc_arena_block *nb = new_block(arena, size);
        /* A block made for one large request goes behind the head, so the head keeps its room. */
        if (b && size > b->size / 2) {
            nb->next = b->next;
            b->next = nb;
        } else {
            nb->next = b;
            arena->head = nb;
        }
        b = nb;
    }
    void *p = b->data + b->used;
    b->used += size;
    memset(p, 0, size);
    return p;
}

char *arena_strndup(mlcc_arena *arena, const char *s, size_t n) {
    char *p = arena_alloc(arena, n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *arena_strdup(mlcc_arena *arena, const char *s) {
    return arena_strndup(arena, s, strlen(s));
}

void arena_free(mlcc_arena *arena) {
    mlcc_arena_block *b = arena->head;
    while (b) {
        mlcc_arena_block *next = b->next;
        free(b);
        b = next;
    }
    arena_init(arena);
}
