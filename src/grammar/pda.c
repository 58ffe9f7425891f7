/* pda.c - hash-consed parse stacks and the byte step of the automaton (see pda.h). */
#include "grammar/pda.h"

#include <stdlib.h>
#include <string.h>

#include "support/alloc.h"

static size_t node_hash(int32_t pos, int32_t parent) {
    uint64_t h = (uint64_t)(uint32_t)pos * 0x9E3779B97F4A7C15ull ^ ((uint64_t)(uint32_t)parent + 0x632BE59BD9B4E019ull) * 0xC2B2AE3D27D4EB4Full;
    return (size_t)(h ^ (h >> 29));
}

void pda_pool_init(pda_pool *p, const mlcc_grammar *g) {
    memset(p, 0, sizeof *p);
    p->g = g;
    p->nbuckets = 1024;
    p->buckets = mlcc_xmalloc(p->nbuckets * sizeof(int32_t));
    memset(p->buckets, 0xFF, p->nbuckets * sizeof(int32_t));
}

void pda_pool_free(pda_pool *p) {
    vec_free(&p->nodes);
    vec_free(&p->stamp);
    vec_free(&p->work);
    free(p->buckets);
    memset(p, 0, sizeof *p);
}

/* Doubles the table; nodes go back in index order so each chain stays newest-first, which
 * truncation relies on. */
static void rehash(pda_pool *p) {
    p->nbuckets *= 2;
    p->buckets = mlcc_xrealloc(p->buckets, p->nbuckets * sizeof(int32_t));
    memset(p->buckets, 0xFF, p->nbuckets * sizeof(int32_t));
    for (size_t i = 0; i < p->nodes.len; i++) {
        pda_frame *n = &p->nodes.data[i];
        size_t b = node_hash(n->pos, n->parent) & (p->nbuckets - 1);
        n->next = p->buckets[b];
        p->buckets[b] = (int32_t)i;
    }
}

int32_t pda_node(pda_pool *p, int32_t pos, int32_t parent) {
    size_t b = node_hash(pos, parent) & (p->nbuckets - 1);
    for (int32_t i = p->buckets[b]; i >= 0; i = p->nodes.data[i].next)
        if (p->nodes.data[i].pos == pos && p->nodes.data[i].parent == parent) return i;
    if (p->nodes.len >= p->nbuckets) {
        rehash(p);
        b = node_hash(pos, parent) & (p->nbuckets - 1);
    }
    pda_frame n = {pos, parent, p->buckets[b]};
    int32_t id = (int32_t)p->nodes.len;
    vec_push(&p->nodes, n);
    p->buckets[b] = id;
    return id;
}

void pda_pool_truncate(pda_pool *p, size_t mark) {
    while (p->nodes.len > mark) {
        int32_t id = (int32_t)p->nodes.len - 1;
        pda_frame *n = &p->nodes.data[id];
        size_t b = node_hash(n->pos, n->parent) & (p->nbuckets - 1);
        /* newest-first chains: the last node is at its chain's head */
        p->buckets[b] = n->next;
        p->nodes.len--;
    }
    if (p->stamp.len > mark) p->stamp.len = mark;
}

void pda_begin(pda_pool *p) {
    if (++p->cur_stamp == 0) {
        memset(p->stamp.data, 0, p->stamp.len * sizeof(uint32_t));
        p->cur_stamp = 1;
    }
}

/* Marks node id visited in this round; 1 if it was new. */
static int visit(pda_pool *p, int32_t id) {
    while (p->stamp.len <= (size_t)id) vec_push(&p->stamp, 0);
    if (p->stamp.data[id] == p->cur_stamp) return 0;
    p->stamp.data[id] = p->cur_stamp;
    return 1;
}

int pda_closure(pda_pool *p, int32_t n, pda_set *out) {
    const mlcc_grammar *g = p->g;
    int flags = 0;
    p->work.len = 0;
    if (visit(p, n)) vec_push(&p->work, n);
    while (p->work.len) {
        int32_t id = vec_pop(&p->work);
        int32_t pos = p->nodes.data[id].pos, parent = p->nodes.data[id].parent;
        int32_t e = g->elems.data[pos];
        if (e == GRAM_END) {
            if (parent == PDA_ACCEPT)
                flags |= PDA_FLAG_ACCEPT;
            else if (parent == PDA_BOTTOM)
                flags |= PDA_FLAG_BOTTOM;
            else {
                int32_t up = pda_node(p, p->nodes.data[parent].pos + 1, p->nodes.data[parent].parent);
                if (visit(p, up)) vec_push(&p->work, up);
            }
        } else if (GRAM_IS_SET(e)) {
            vec_push(out, id);
        } else {
            int32_t par = g->elems.data[pos + 1] == GRAM_END ? parent : id;
            int32_t na = gram_alt_count(g, e);
            for (int32_t a = 0; a < na; a++) {
                int32_t child = pda_node(p, gram_alt_pos(g, e, a), par);
                if (visit(p, child)) vec_push(&p->work, child);
            }
        }
    }
    return flags;
}

int pda_start(pda_pool *p, int32_t rule, int32_t parent, pda_set *out) {
    const mlcc_grammar *g = p->g;
    int flags = 0;
    pda_begin(p);
    for (int32_t a = 0; a < gram_alt_count(g, rule); a++) flags |= pda_closure(p, pda_node(p, gram_alt_pos(g, rule, a), parent), out);
    return flags;
}

int pda_step(pda_pool *p, const int32_t *in, size_t n, unsigned c, pda_set *out) {
    int flags = 0;
    pda_begin(p);
    for (size_t i = 0; i < n; i++) {
        int32_t id = in[i];
        if (!gram_byteset_has(pda_top_set(p, id), c)) continue;
        int32_t adv = pda_node(p, p->nodes.data[id].pos + 1, p->nodes.data[id].parent);
        flags |= pda_closure(p, adv, out);
    }
    return flags;
}
