/* pda.h - the byte-level pushdown automaton: parse stacks as hash-consed linked frames, and
 * the step from a set of stacks to the set after one byte.
 *
 * A frame is a position in the grammar's element array (see gram_internal.h) plus its parent
 * frame. Identical stacks are the same node (hash-consing), so a stack set is a set of node
 * ids. Nodes are appended to a pool and removed in reverse order (pda_pool_truncate), which is
 * how a trie walk and a rollback forget the stacks they made.
 *
 * Every stack in a set is normalised: its top frame is at a byte set. Calling a rule pushes one
 * frame per alternative; a call in tail position (the last element of an alternative) reuses
 * the caller's parent, so right recursion runs in constant stack depth. When a frame ends and
 * its parent is PDA_ACCEPT the whole input is a sentence; PDA_BOTTOM marks the cut-off bottom of
 * a cache key (the rest of the stack is unknown). */
#ifndef MLCC_GRAMMAR_PDA_H
#define MLCC_GRAMMAR_PDA_H

#include <stddef.h>
#include <stdint.h>

#include "grammar/gram_internal.h"

#define PDA_ACCEPT (-1)
#define PDA_BOTTOM (-2)

typedef struct pda_frame {
    int32_t pos, parent, next; /* next: hash chain */
} pda_frame;

typedef struct pda_pool {
    const mlcc_grammar *g;
    MLCC_VEC(pda_frame) nodes;
    int32_t *buckets;
    size_t nbuckets;
    /* closure scratch: visited stamps per node, and a work list */
    MLCC_VEC(uint32_t) stamp;
    uint32_t cur_stamp;
    MLCC_VEC(int32_t) work;
} pda_pool;

enum { PDA_FLAG_ACCEPT = 1, PDA_FLAG_BOTTOM = 2 };

void pda_pool_init(pda_pool *p, const mlcc_grammar *g);
void pda_pool_free(pda_pool *p);
int32_t pda_node(pda_pool *p, int32_t pos, int32_t parent);
static inline size_t pda_pool_mark(const pda_pool *p) {
    return p->nodes.len;
}
void pda_pool_truncate(pda_pool *p, size_t mark);

typedef MLCC_VEC(int32_t) pda_set;

/* The normalised stacks reachable from node n without reading a byte, appended to out (no
 * duplicates within one call sequence started by pda_begin). Returns PDA_FLAG_* bits. */
void pda_begin(pda_pool *p);
int pda_closure(pda_pool *p, int32_t n, pda_set *out);
/* The initial stacks of a rule, parent given (PDA_ACCEPT for the start). */
int pda_start(pda_pool *p, int32_t rule, int32_t parent, pda_set *out);
/* Stacks after byte c from the n stacks in `in`; flags as pda_closure. */
int pda_step(pda_pool *p, const int32_t *in, size_t n, unsigned c, pda_set *out);
/* The byte set the top frame of normalised stack n waits for. */
static inline const gram_byteset *pda_top_set(const pda_pool *p, int32_t n) {
    return &p->g->sets.data[GRAM_SET_INDEX(p->g->elems.data[p->nodes.data[n].pos])];
}

#endif
