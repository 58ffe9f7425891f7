/* matcher.c - a request's grammar state: the stack sets after each accepted byte (kept for
 * rollback), token masks through the shared adaptive cache, jump-forward text.
 *
 * The cache (one per grammar and vocabulary) is keyed by the top KEY_FRAMES frames of a stack,
 * cut off from the rest by PDA_BOTTOM. For a key it holds, from one walk of the token trie:
 * the tokens accepted whatever lies below the cut (the walk consumed them without popping the
 * cut), and the "uncertain" ones: not accepted, but the cut was popped before their end, so the
 * rest of the stack decides. A mask is then the OR of the accepted sets of the stacks in the
 * current set, plus an exact check of the uncertain tokens only (a trie walk from the real
 * stack that visits only subtrees holding uncertain tokens). A stack shorter than KEY_FRAMES is
 * cached whole, with no uncertain tokens. Entries are computed the first time a key is met. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "grammar/gram_internal.h"
#include "grammar/pda.h"
#include "grammar/vocab.h"
#include "support/alloc.h"
#include "support/error.h"
#include "support/hashmap.h"

#define KEY_FRAMES 4

typedef struct cache_entry {
    uint32_t *accepted;   /* bitmask over token ids */
    int32_t *uncertain;   /* positions in v->sorted, ascending */
    int32_t nuncertain;
} cache_entry;

/* Per-depth stack sets for trie walks. */
typedef struct walk_bufs {
    MLCC_VEC(pda_set) at;
} walk_bufs;

struct gram_cache {
    const mlcc_grammar_vocab *v;
    uint64_t serial; /* v's: the same address may later hold another vocabulary */
    /* element position -> the position cache keys use. A frame in O_k of a chain
     * O_k ::= x O_(k-1) | "" with k above the longest token (x non-empty) behaves for one
     * token exactly as the same frame in O_cap, cap = longest token + 1 (the token ends before
     * the chain can), so such keys share O_cap's entry: a string with maxLength 500 needs a few
     * entries, not one per character. */
    int32_t *canon;
    pda_pool pool;
    mlcc_u64map by_key; /* key node id -> entry index */
    MLCC_VEC(cache_entry) entries;
    walk_bufs bufs;
    MLCC_VEC(int32_t) unc; /* scratch while building an entry */
    /* while building an entry, the automaton is determinised lazily: stack sets are interned
     * (set id -> sorted node ids) and each (set, byte) step is computed once, since a trie walk
     * meets the same few sets again and again (inside a string, every character leads back to
     * the same set) */
    mlcc_strmap set_ids;
    MLCC_VEC(int32_t) set_nodes;
    MLCC_VEC(size_t) set_off; /* set id -> offset in set_nodes; one extra at the end */
    MLCC_VEC(int32_t) trans;  /* set * 256 + byte -> (next set + 1) << 2 | flags; -1 unknown */
};

typedef struct mstate {
    size_t off, len; /* stacks: set_data[off, off + len) */
    int flags;
    size_t pool_mark;
} mstate;

typedef struct mstep {
    size_t nstates;
    int terminated;
} mstep;

struct mlcc_grammar_matcher {
    mlcc_grammar *g;
    mlcc_grammar_vocab *v;
    gram_cache *cache;
    pda_pool pool;
    MLCC_VEC(int32_t) set_data;
    MLCC_VEC(mstate) states;
    MLCC_VEC(mstep) steps;
    int terminated;
    pda_set tmp;
    walk_bufs bufs;
};

/* Sized once (longest token + 2) so that pointers to a depth's set stay valid during a walk. */
static void bufs_init(walk_bufs *b, const mlcc_grammar_vocab *v) {
    size_t n = (size_t)v->max_len + 2;
    b->at.data = mlcc_xcalloc(n, sizeof(pda_set));
    b->at.len = b->at.cap = n;
}

static pda_set *buf_at(walk_bufs *b, size_t depth) {
    b->at.data[depth].len = 0;
    return &b->at.data[depth];
}

static void bufs_free(walk_bufs *b) {
    for (size_t i = 0; i < b->at.len; i++) vec_free(&b->at.data[i]);
    vec_free(&b->at);
}

void gram_cache_free(gram_cache *c) {
    if (!c) return;
    for (size_t i = 0; i < c->entries.len; i++) {
        free(c->entries.data[i].accepted);
        free(c->entries.data[i].uncertain);
    }
    vec_free(&c->entries);
    u64map_free(&c->by_key);
    pda_pool_free(&c->pool);
    bufs_free(&c->bufs);
    vec_free(&c->unc);
    vec_free(&c->set_nodes);
    vec_free(&c->set_off);
    vec_free(&c->trans);
    free(c->canon);
    free(c);
}

static void build_canon(gram_cache *c, const mlcc_grammar *g) {
    size_t n = g->elems.len;
    c->canon = mlcc_xmalloc(sizeof(int32_t) * (n ? n : 1));
    for (size_t i = 0; i < n; i++) c->canon[i] = (int32_t)i;
    int32_t cap = c->v->max_len + 1;
    if (cap < 2) cap = 2;
    mlcc_u64map at_cap; /* x -> the chain rule with k == cap */
    u64map_init(&at_cap);
    for (size_t r = 0; r < g->rules.len; r++)
        if (g->rules.data[r].rep_k == cap) {
            int ins;
            u64map_upsert(&at_cap, (uint64_t)(uint32_t)g->rules.data[r].rep_x, &ins)->value.i = (int64_t)r;
        }
    for (size_t r = 0; r < g->rules.len; r++) {
        const gram_rule *rule = &g->rules.data[r];
        if (rule->rep_k <= cap) continue;
        int32_t x = rule->rep_x;
        if (x >= 0 && g->rules.data[x].nullable) continue;
        mlcc_u64map_entry *e = u64map_find(&at_cap, (uint64_t)(uint32_t)x);
        if (!e) continue;
        int32_t to = (int32_t)e->value.i;
        if (gram_alt_count(g, to) != rule->nalts) continue;
        for (int32_t a = 0; a < rule->nalts; a++) {
            int32_t p = gram_alt_pos(g, (int32_t)r, a), q = gram_alt_pos(g, to, a);
            for (int32_t d = 0;; d++) {
                c->canon[p + d] = q + d;
                if (g->elems.data[p + d] == GRAM_END) break;
            }
        }
    }
    u64map_free(&at_cap);
}

static gram_cache *cache_for(mlcc_grammar *g, const mlcc_grammar_vocab *v) {
    pthread_mutex_lock(&g->cache_lock);
    gram_cache *c = NULL;
    for (size_t i = 0; i < g->caches.len; i++)
        if (g->caches.data[i]->v == v && g->caches.data[i]->serial == v->serial) c = g->caches.data[i];
    if (!c) {
        c = mlcc_xcalloc(1, sizeof *c);
        c->v = v;
        c->serial = v->serial;
        pda_pool_init(&c->pool, g);
        u64map_init(&c->by_key);
        bufs_init(&c->bufs, v);
        build_canon(c, g);
        vec_push(&g->caches, c);
    }
    pthread_mutex_unlock(&g->cache_lock);
    return c;
}

static inline void mask_set(uint32_t *mask, int32_t id) {
    mask[id >> 5] |= 1u << (id & 31);
}

/* ---- building a cache entry ---- */

static void add_uncertain_range(gram_cache *c, int32_t lo, int32_t hi) {
    for (int32_t k = lo; k < hi; k++) vec_push(&c->unc, k);
}

static int cmp_i32(const void *a, const void *b);

/* The id of the stack set in out (sorted in place). */
static int32_t intern_set(gram_cache *c, pda_set *out) {
    qsort(out->data, out->len, sizeof(int32_t), cmp_i32);
    int inserted;
    mlcc_strmap_entry *e = strmap_upsert(&c->set_ids, (const char *)out->data, out->len * sizeof(int32_t), &inserted);
    if (inserted) {
        e->value.i = (int64_t)c->set_off.len - 1;
        for (size_t i = 0; i < out->len; i++) vec_push(&c->set_nodes, out->data[i]);
        vec_push(&c->set_off, c->set_nodes.len);
        vec_reserve(&c->trans, 256);
        memset(c->trans.data + c->trans.len, 0xFF, 256 * sizeof(int32_t));
        c->trans.len += 256;
    }
    return (int32_t)e->value.i;
}

/* One byte from set id `set`: the next set id (-1: no stack left) and the PDA_FLAG_* bits. */
static int32_t dfa_step(gram_cache *c, int32_t set, unsigned byte, int *flags, size_t depth) {
    int32_t t = c->trans.data[(size_t)set * 256 + byte];
    if (t >= 0) {
        *flags = t & 3;
        return (t >> 2) - 1;
    }
    pda_set *out = buf_at(&c->bufs, depth);
    size_t lo = c->set_off.data[set], hi = c->set_off.data[set + 1];
    *flags = pda_step(&c->pool, c->set_nodes.data + lo, hi - lo, byte, out);
    int32_t next = out->len ? intern_set(c, out) : -1;
    c->trans.data[(size_t)set * 256 + byte] = ((next + 1) << 2) | *flags;
    return next;
}

static void build_walk(gram_cache *c, int32_t tn, int32_t set, int bottom_seen, size_t depth, cache_entry *e) {
    const mlcc_grammar_vocab *v = c->v;
    const vocab_trie_node *trie = v->trie.data;
    for (int32_t ch = tn + 1; ch < trie[tn].skip; ch = trie[ch].skip) {
        int flags;
        int32_t next = dfa_step(c, set, trie[ch].byte, &flags, depth + 1);
        int bs = bottom_seen || (flags & PDA_FLAG_BOTTOM);
        int alive = next >= 0;
        for (int32_t k = trie[ch].lo; k < trie[ch].lo + trie[ch].nend; k++) {
            if (alive || (flags & PDA_FLAG_ACCEPT))
                mask_set(e->accepted, v->sorted[k]);
            else if (bs)
                vec_push(&c->unc, k);
        }
        if (alive)
            build_walk(c, ch, next, bs, depth + 1, e);
        else if (bs)
            add_uncertain_range(c, trie[ch].lo + trie[ch].nend, trie[ch].hi);
    }
}

static int cmp_i32(const void *a, const void *b) {
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return x < y ? -1 : x > y;
}

/* The entry of key node `key` (in the cache's pool), computed on first use. Call locked. */
static cache_entry *cache_entry_for(gram_cache *c, int32_t key) {
    int inserted;
    mlcc_u64map_entry *me = u64map_upsert(&c->by_key, (uint64_t)key, &inserted);
    if (!inserted) return &c->entries.data[me->value.i];
    me->value.i = (int64_t)c->entries.len;
    cache_entry e = {0};
    size_t words = mlcc_grammar_mask_words(c->v);
    e.accepted = mlcc_xcalloc(words ? words : 1, sizeof(uint32_t));
    c->unc.len = 0;
    size_t mark = pda_pool_mark(&c->pool);
    pda_set *root = buf_at(&c->bufs, 0);
    pda_begin(&c->pool);
    int flags = pda_closure(&c->pool, key, root);
    strmap_init(&c->set_ids);
    c->trans.len = 0;
    c->set_nodes.len = 0;
    c->set_off.len = 0;
    vec_push(&c->set_off, 0);
    if (root->len) build_walk(c, 0, intern_set(c, root), (flags & PDA_FLAG_BOTTOM) != 0, 0, &e);
    strmap_free(&c->set_ids);
    pda_pool_truncate(&c->pool, mark);
    if (c->unc.len) {
        qsort(c->unc.data, c->unc.len, sizeof(int32_t), cmp_i32);
        e.uncertain = mlcc_xmalloc(c->unc.len * sizeof(int32_t));
        memcpy(e.uncertain, c->unc.data, c->unc.len * sizeof(int32_t));
        e.nuncertain = (int32_t)c->unc.len;
    }
    vec_push(&c->entries, e);
    return &vec_last(&c->entries);
}

/* The cache key of matcher stack n: its top KEY_FRAMES frames, rebuilt in the cache's pool. */
static int32_t key_of(const pda_pool *mp, gram_cache *c, int32_t n) {
    int32_t frames[KEY_FRAMES];
    int count = 0;
    int32_t cur = n;
    while (count < KEY_FRAMES && cur >= 0) {
        frames[count++] = c->canon[mp->nodes.data[cur].pos];
        cur = mp->nodes.data[cur].parent;
    }
    int32_t k = cur == PDA_ACCEPT ? PDA_ACCEPT : PDA_BOTTOM;
    for (int i = count - 1; i >= 0; i--) k = pda_node(&c->pool, frames[i], k);
    return k;
}

/* ---- the matcher ---- */

static mstate *cur_state(mlcc_grammar_matcher *m) {
    return &vec_last(&m->states);
}

static void push_state(mlcc_grammar_matcher *m, const pda_set *stacks, int flags) {
    mstate s;
    s.off = m->set_data.len;
    s.len = stacks->len;
    s.flags = flags;
    for (size_t i = 0; i < stacks->len; i++) vec_push(&m->set_data, stacks->data[i]);
    s.pool_mark = pda_pool_mark(&m->pool);
    vec_push(&m->states, s);
}

void mlcc_grammar_matcher_reset(mlcc_grammar_matcher *m) {
    pda_pool_truncate(&m->pool, 0);
    m->set_data.len = 0;
    m->states.len = 0;
    m->steps.len = 0;
    m->terminated = 0;
    m->tmp.len = 0;
    int flags = pda_start(&m->pool, m->g->root, PDA_ACCEPT, &m->tmp);
    push_state(m, &m->tmp, flags);
}

mlcc_grammar_matcher *mlcc_grammar_matcher_new(mlcc_grammar *g, mlcc_grammar_vocab *v) {
    mlcc_grammar_matcher *m = mlcc_xcalloc(1, sizeof *m);
    m->g = g;
    m->v = v;
    m->cache = cache_for(g, v);
    pda_pool_init(&m->pool, g);
    bufs_init(&m->bufs, v);
    mlcc_grammar_matcher_reset(m);
    return m;
}

void mlcc_grammar_matcher_free(mlcc_grammar_matcher *m) {
    if (!m) return;
    pda_pool_free(&m->pool);
    vec_free(&m->set_data);
    vec_free(&m->states);
    vec_free(&m->steps);
    vec_free(&m->tmp);
    bufs_free(&m->bufs);
    free(m);
}

/* Truncates states to n (and the pool and set data with them). */
static void truncate_states(mlcc_grammar_matcher *m, size_t n) {
    m->states.len = n;
    mstate *s = cur_state(m);
    m->set_data.len = s->off + s->len;
    pda_pool_truncate(&m->pool, s->pool_mark);
}

static int feed_bytes(mlcc_grammar_matcher *m, const uint8_t *s, size_t n) {
    size_t before = m->states.len;
    for (size_t i = 0; i < n; i++) {
        mstate *cs = cur_state(m);
        m->tmp.len = 0;
        /* set_data may move while pushing: copy the input range first */
        int flags = pda_step(&m->pool, m->set_data.data + cs->off, cs->len, s[i], &m->tmp);
        if (m->tmp.len == 0 && !((flags & PDA_FLAG_ACCEPT) && i + 1 == n)) {
            truncate_states(m, before);
            return -1;
        }
        push_state(m, &m->tmp, flags);
    }
    return 0;
}

int mlcc_grammar_accept_bytes(mlcc_grammar_matcher *m, const char *s, size_t n) {
    if (m->terminated) return mlcc_set_error("grammar: the matcher has terminated");
    mstep st = {m->states.len, m->terminated};
    if (feed_bytes(m, (const uint8_t *)s, n)) return mlcc_set_error("grammar: the text does not match");
    vec_push(&m->steps, st);
    return 0;
}

int mlcc_grammar_accept_token(mlcc_grammar_matcher *m, int32_t id) {
    if (m->terminated) return mlcc_set_error("grammar: the matcher has terminated");
    mstep st = {m->states.len, m->terminated};
    if (vocab_is_stop(m->v, id)) {
        if (!(cur_state(m)->flags & PDA_FLAG_ACCEPT)) return mlcc_set_error("grammar: stop token %d before the grammar is complete", id);
        m->terminated = 1;
        vec_push(&m->steps, st);
        return 0;
    }
    size_t len;
    const uint8_t *b = mlcc_grammar_vocab_token(m->v, id, &len);
    if (!b) return mlcc_set_error("grammar: token %d stands for no text", id);
    if (feed_bytes(m, b, len)) return mlcc_set_error("grammar: token %d is not allowed here", id);
    vec_push(&m->steps, st);
    return 0;
}

int mlcc_grammar_rollback(mlcc_grammar_matcher *m, int n) {
    if (n < 0 || (size_t)n > m->steps.len) return mlcc_set_error("grammar: cannot roll back %d steps (%zu accepted)", n, m->steps.len);
    for (int i = 0; i < n; i++) {
        mstep st = vec_pop(&m->steps);
        truncate_states(m, st.nstates);
        m->terminated = st.terminated;
    }
    return 0;
}

int mlcc_grammar_history_len(const mlcc_grammar_matcher *m) {
    return (int)m->steps.len;
}

int mlcc_grammar_can_terminate(const mlcc_grammar_matcher *m) {
    return !m->terminated && (vec_last(&m->states).flags & PDA_FLAG_ACCEPT);
}

int mlcc_grammar_is_terminated(const mlcc_grammar_matcher *m) {
    const mstate *s = &vec_last(&m->states);
    return m->terminated || (s->len == 0 && (s->flags & PDA_FLAG_ACCEPT));
}

/* ---- masks ---- */

static int any_in(const cache_entry *e, int32_t lo, int32_t hi) {
    int32_t a = 0, b = e->nuncertain;
    while (a < b) {
        int32_t mid = (a + b) / 2;
        if (e->uncertain[mid] < lo)
            a = mid + 1;
        else
            b = mid;
    }
    return a < e->nuncertain && e->uncertain[a] < hi;
}

/* Exact check of the entry's uncertain tokens below trie node tn from the stacks in set. */
static void exact_walk(mlcc_grammar_matcher *m, const cache_entry *e, int32_t tn, const pda_set *set, size_t depth, uint32_t *mask) {
    const mlcc_grammar_vocab *v = m->v;
    const vocab_trie_node *trie = v->trie.data;
    for (int32_t ch = tn + 1; ch < trie[tn].skip; ch = trie[ch].skip) {
        if (!any_in(e, trie[ch].lo, trie[ch].hi)) continue;
        size_t mark = pda_pool_mark(&m->pool);
        pda_set *out = buf_at(&m->bufs, depth + 1);
        int flags = pda_step(&m->pool, set->data, set->len, trie[ch].byte, out);
        int alive = out->len > 0;
        if (alive || (flags & PDA_FLAG_ACCEPT))
            for (int32_t k = trie[ch].lo; k < trie[ch].lo + trie[ch].nend; k++)
                if (any_in(e, k, k + 1)) mask_set(mask, v->sorted[k]);
        if (alive) exact_walk(m, e, ch, out, depth + 1, mask);
        pda_pool_truncate(&m->pool, mark);
    }
}

typedef struct stack_entry {
    size_t e; /* index in the cache's entries */
    int32_t stack;
} stack_entry;

static int cmp_stack_entry(const void *a, const void *b) {
    const stack_entry *x = a, *y = b;
    if (x->e != y->e) return x->e < y->e ? -1 : 1;
    return x->stack < y->stack ? -1 : x->stack > y->stack;
}

void mlcc_grammar_fill_next_token_bitmask(mlcc_grammar_matcher *m, uint32_t *mask) {
    size_t words = mlcc_grammar_mask_words(m->v);
    memset(mask, 0, words * sizeof(uint32_t));
    if (m->terminated) return;
    mstate s = *cur_state(m);
    if (s.flags & PDA_FLAG_ACCEPT)
        for (int i = 0; i < m->v->nstop; i++) mask_set(mask, m->v->stop[i]);
    gram_cache *c = m->cache;
    pthread_mutex_lock(&m->g->cache_lock);
    /* stacks grouped by their cache entry: one OR and one exact walk (from all the group's
     * stacks together) per entry */
    stack_entry *se = mlcc_xmalloc(sizeof *se * (s.len ? s.len : 1));
    for (size_t i = 0; i < s.len; i++) {
        se[i].stack = m->set_data.data[s.off + i];
        /* an index: the entries vector may grow while later entries are made */
        se[i].e = (size_t)(cache_entry_for(c, key_of(&m->pool, c, se[i].stack)) - c->entries.data);
    }
    qsort(se, s.len, sizeof *se, cmp_stack_entry);
    for (size_t i = 0; i < s.len;) {
        size_t k = i;
        const cache_entry *e = &c->entries.data[se[i].e];
        const uint32_t *acc = e->accepted;
        for (size_t w = 0; w < words; w++) mask[w] |= acc[w];
        pda_set *root = buf_at(&m->bufs, 0);
        while (k < s.len && se[k].e == se[i].e) vec_push(root, se[k++].stack);
        if (e->nuncertain) exact_walk(m, e, 0, root, 0, mask);
        i = k;
    }
    free(se);
    pthread_mutex_unlock(&m->g->cache_lock);
}

void mlcc_grammar_apply_bitmask(float *logits, int nlogits, const uint32_t *mask, int vocab_size) {
    int n = nlogits < vocab_size ? nlogits : vocab_size;
    for (int w = 0; w * 32 < n; w++) {
        uint32_t bits = mask[w];
        int base = w * 32;
        if (base + 32 <= n) {
            if (bits == 0xFFFFFFFFu) continue; /* all allowed (free text) */
            if (bits == 0) { /* none allowed: the common word under JSON grammars */
                for (int i = 0; i < 32; i++) logits[base + i] = -INFINITY;
                continue;
            }
            for (uint32_t off = ~bits; off; off &= off - 1) logits[base + __builtin_ctz(off)] = -INFINITY;
            continue;
        }
        for (int i = base; i < n; i++)
            if (!((bits >> (i & 31)) & 1)) logits[i] = -INFINITY;
    }
    for (int i = n; i < nlogits; i++) logits[i] = -INFINITY;
}

char *mlcc_grammar_find_jump_forward(mlcc_grammar_matcher *m, size_t *len) {
    mlcc_strbuf sb = STRBUF_INIT;
    if (!m->terminated) {
        size_t mark = pda_pool_mark(&m->pool);
        mstate s = *cur_state(m);
        pda_set a = {0}, b = {0};
        for (size_t i = 0; i < s.len; i++) vec_push(&a, m->set_data.data[s.off + i]);
        int flags = s.flags;
        while (sb.len < 4096 && a.len && !(flags & PDA_FLAG_ACCEPT)) {
            gram_byteset u;
            memset(&u, 0, sizeof u);
            for (size_t i = 0; i < a.len; i++) {
                const gram_byteset *t = pda_top_set(&m->pool, a.data[i]);
                for (int w = 0; w < 8; w++) u.w[w] |= t->w[w];
            }
            int count = 0, byte = -1;
            for (int w = 0; w < 8; w++) count += __builtin_popcount(u.w[w]);
            if (count != 1) break;
            for (int c = 0; c < 256; c++)
                if (gram_byteset_has(&u, (unsigned)c)) byte = c;
            sb_append_char(&sb, (char)byte);
            b.len = 0;
            flags = pda_step(&m->pool, a.data, a.len, (unsigned)byte, &b);
            pda_set t = a;
            a = b;
            b = t;
        }
        vec_free(&a);
        vec_free(&b);
        pda_pool_truncate(&m->pool, mark);
    }
    if (len) *len = sb.len;
    return sb.data ? sb_detach(&sb) : mlcc_xstrdup("");
}
