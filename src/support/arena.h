/* arena.h - a bump allocator for objects that die together.
 *
 * IR nodes, parse trees and per-request scratch live in arenas: allocation is a pointer bump,
 * and everything is released at once with arena_free(). Blocks grow geometrically; a request
 * larger than the block size gets a block of its own. Memory is zeroed. */
#ifndef MLCC_SUPPORT_ARENA_H
#define MLCC_SUPPORT_ARENA_H

#include <stddef.h>

typedef struct mlcc_arena_block mlcc_arena_block;

typedef struct mlcc_arena {
    mlcc_arena_block *head;
    size_t next_block_size;
    size_t total_bytes;
} mlcc_arena;

void arena_init(mlcc_arena *arena);
/* Zeroed memory aligned to 16 bytes, valid until arena_free. */
void *arena_alloc(mlcc_arena *arena, size_t size);
char *arena_strdup(mlcc_arena *arena, const char *s);
char *arena_strndup(mlcc_arena *arena, const char *s, size_t n);
void arena_free(mlcc_arena *arena);

#define ARENA_NEW(arena, T) ((T *)arena_alloc((arena), sizeof(T)))
#define ARENA_ARRAY(arena, T, n) ((T *)arena_alloc((arena), sizeof(T) * (size_t)(n)))

#endif
