/* vocab.h - a tokenizer's vocabulary as grammar masks need it (see vocab.c). */
#ifndef MLCC_GRAMMAR_VOCAB_H
#define MLCC_GRAMMAR_VOCAB_H

#include <stdint.h>

#include "grammar/grammar.h"
#include "support/vec.h"

typedef struct vocab_trie_node {
    uint8_t byte;
    int32_t nend;   /* tokens ending here: sorted[lo, lo + nend) */
    int32_t lo, hi; /* the subtree's tokens: sorted[lo, hi) */
    int32_t skip;   /* the node after this subtree (children follow at index + 1) */
    int32_t pad;
} vocab_trie_node;

struct mlcc_grammar_vocab {
    int vocab_size;
    uint32_t *off; /* token id -> [off[id], off[id+1]) in bytes */
    uint8_t *bytes;
    int32_t *sorted; /* ids of tokens with bytes, sorted by their bytes */
    int32_t nsorted;
    int32_t max_len; /* longest token in bytes */
    MLCC_VEC(vocab_trie_node) trie; /* node 0: the root (empty prefix) */
    int32_t *stop;
    int nstop;
    /* unique per vocabulary made in this process: a grammar's mask cache names its vocabulary
     * by pointer and serial, so a vocabulary freed and another made at the same address do not
     * share a cache */
    uint64_t serial;
};

uint64_t vocab_next_serial(void);

int vocab_is_stop(const mlcc_grammar_vocab *v, int32_t id);

#endif
