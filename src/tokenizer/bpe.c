/* bpe.c - the BPE model: a word becomes its characters (or byte-fallback tokens, or unk), then
 * the pair of adjacent symbols with the lowest merge rank is merged until none is left, exactly
 * in Hugging Face's order (lowest rank first, leftmost on ties). Options: byte_fallback,
 * fuse_unk, ignore_merges, continuing_subword_prefix, end_of_word_suffix. A GGUF SentencePiece
 * vocabulary has no merges; its ranks come from the scores of the merged tokens instead. */
#include <stdlib.h>
#include <string.h>

#include "support/error.h"
#include "tokenizer/tok_internal.h"

/* The merges: an open-addressing table of 16-byte slots (one cache line holds four), probed
 * linearly from a multiplicative hash; this lookup is the inner loop of BPE. */
typedef struct merge_slot {
    uint64_t key; /* left id << 32 | right id; EMPTY_KEY when free */
    uint32_t rank;
    int32_t id;
} merge_slot;
#define EMPTY_KEY UINT64_MAX

typedef struct merge_table {
    merge_slot *slots;
    size_t mask, count;
    int shift;
} merge_table;

static size_t mt_home(const merge_table *t, uint64_t key) {
    return (size_t)((key * 0x9E3779B97F4A7C15ull) >> t->shift);
}

static void mt_init(merge_table *t, size_t cap_log2) {
    size_t cap = (size_t)1 << cap_log2;
    t->slots = mlcc_xmalloc(cap * sizeof *t->slots);
    for (size_t i = 0; i < cap; i++)
        t->slots[i].key = EMPTY_KEY;
    t->mask = cap - 1;
    t->count = 0;
    t->shift = 64 - (int)cap_log2;
}

static merge_slot *mt_slot(const merge_table *t, uint64_t key) {
    size_t i = mt_home(t, key);
    while (t->slots[i].key != EMPTY_KEY && t->slots[i].key != key)
        i = (i + 1) & t->mask;
    return &t->slots[i];
}

static void mt_put(merge_table *t, uint64_t key, uint32_t rank, int32_t id) {
    if ((t->count + 1) * 2 > t->mask + 1) { /* keep it at most half full */
        merge_table bigger;
        mt_init(&bigger, (size_t)(64 - t->shift) + 1);
        for (size_t i = 0; i <= t->mask; i++)
            if (t->slots[i].key != EMPTY_KEY) *mt_slot(&bigger, t->slots[i].key) = t->slots[i];
        bigger.count = t->count;
        free(t->slots);
        *t = bigger;
    }
    merge_slot *s = mt_slot(t, key);
    if (s->key == EMPTY_KEY) t->count++;
    s->key = key;
    s->rank = rank;
    s->id = id; /* a repeated merge takes the later rank, as tokenizers' map does */
}

/* Code points below this get their single-character token id from a flat array. */
#define CHAR_TABLE 0x10000

typedef struct bpe {
    merge_table merges;
    int byte_fallback, fuse_unk, ignore_merges;
    char *prefix, *suffix; /* NULL when absent or empty */
    size_t prefix_len, suffix_len;
    int32_t byte_ids[256]; /* <0xXX> tokens, -1 when missing */
    uint32_t *score_rank;  /* score mode: rank of each id (NULL otherwise) */
    int32_t *char_ids;     /* code point -> id of that one-character token, -1 if none */
} bpe;

static uint64_t pair_key(int32_t a, int32_t b) {
    return ((uint64_t)(uint32_t)a << 32) | (uint32_t)b;
}

static void init_common(tok_model *m, bpe *b) {
    for (int i = 0; i < 256; i++) {
        char name[8];
        snprintf(name, sizeof name, "<0x%02X>", i);
        b->byte_ids[i] = tok_model_lookup(m, name, 6);
    }
    b->char_ids = mlcc_xmalloc(CHAR_TABLE * sizeof *b->char_ids);
    for (uint32_t cp = 0; cp < CHAR_TABLE; cp++) {
        char u[4];
        int n = mlcc_utf8_encode(cp, u);
        b->char_ids[cp] = (cp >= 0xD800 && cp <= 0xDFFF) ? -1 : tok_model_lookup(m, u, (size_t)n);
    }
}

static int add_merge(tok_model *m, bpe *b, const char *l, size_t ll, const char *r, size_t rl,
                     uint32_t rank, const char *what, size_t index) {
    int32_t a = tok_model_lookup(m, l, ll), c = tok_model_lookup(m, r, rl);
    if (a < 0 || c < 0)
        return mlcc_set_error("%s: merges[%zu]: token '%.*s' is not in the vocabulary", what, index,
                              (int)(a < 0 ? ll : rl), a < 0 ? l : r);
    size_t skip = b->prefix_len <= rl ? b->prefix_len : rl;
    char stackbuf[256];
    size_t tl = ll + rl - skip;
    char *t = tl <= sizeof stackbuf ? stackbuf : mlcc_xmalloc(tl);
    memcpy(t, l, ll);
    memcpy(t + ll, r + skip, rl - skip);
    int32_t id = tok_model_lookup(m, t, tl);
    if (id < 0)
        mlcc_set_error("%s: merges[%zu]: merged token '%.*s' is not in the vocabulary", what, index,
                       (int)tl, t);
    if (t != stackbuf) free(t);
    if (id < 0) return -1;
    mt_put(&b->merges, pair_key(a, c), rank, id);
    return 0;
}

static void set_affixes(bpe *b, const char *prefix, const char *suffix) {
    if (prefix && *prefix) {
        b->prefix = mlcc_xstrdup(prefix);
        b->prefix_len = strlen(prefix);
    }
    if (suffix && *suffix) {
        b->suffix = mlcc_xstrdup(suffix);
        b->suffix_len = strlen(suffix);
    }
}

int tok_bpe_init(tok_model *m, json_t *j, const char *what) {
    bpe *b = mlcc_xcalloc(1, sizeof *b);
    m->impl = b;
    mt_init(&b->merges, 10);
    b->byte_fallback = tok_json_bool(j, "byte_fallback", 0);
    b->fuse_unk = tok_json_bool(j, "fuse_unk", 0);
    b->ignore_merges = tok_json_bool(j, "ignore_merges", 0);
    const char *prefix, *suffix, *unk;
    tok_json_opt_str(j, "continuing_subword_prefix", &prefix);
    tok_json_opt_str(j, "end_of_word_suffix", &suffix);
    tok_json_opt_str(j, "unk_token", &unk);
    set_affixes(b, prefix, suffix);
    if (unk) {
        m->unk_id = tok_model_lookup(m, unk, strlen(unk));
        if (m->unk_id < 0)
            return mlcc_set_error("%s: unk_token '%s' is not in the vocabulary", what, unk);
    }
    init_common(m, b);
    json_t *merges = json_object_get(j, "merges");
    if (!json_is_array(merges)) return mlcc_set_error("%s: 'merges' must be an array", what);
    for (size_t i = 0; i < json_array_size(merges); i++) {
        json_t *e = json_array_get(merges, i);
        if (json_is_string(e)) {
            const char *s = json_string_value(e);
            size_t n = json_string_length(e);
            const char *sp = memchr(s, ' ', n);
            if (!sp || memchr(sp + 1, ' ', n - (size_t)(sp + 1 - s)))
                return mlcc_set_error("%s: merges[%zu] must be two tokens separated by one space",
                                      what, i);
            if (add_merge(m, b, s, (size_t)(sp - s), sp + 1, n - (size_t)(sp + 1 - s), (uint32_t)i,
                          what, i))
                return -1;
        } else if (json_is_array(e) && json_array_size(e) == 2 &&
                   json_is_string(json_array_get(e, 0)) && json_is_string(json_array_get(e, 1))) {
            json_t *l = json_array_get(e, 0), *r = json_array_get(e, 1);
            if (add_merge(m, b, json_string_value(l), json_string_length(l), json_string_value(r),
                          json_string_length(r), (uint32_t)i, what, i))
                return -1;
        } else {
            return mlcc_set_error("%s: merges[%zu] must be \"a b\" or [\"a\", \"b\"]", what, i);
        }
    }
    return 0;
}

typedef struct score_order {
    float score;
    int32_t id;
} score_order;
static int by_score_desc(const void *x, const void *y) {
    const score_order *a = x, *b = y;
    if (a->score != b->score) return a->score > b->score ? -1 : 1;
    return a->id < b->id ? -1 : a->id > b->id;
}

tok_model *tok_bpe_build(char **tokens, const float *scores, size_t n_tokens, char **merges,
                         size_t n_merges, const tok_bpe_options *opt, const char *what) {
    tok_model *m = mlcc_xcalloc(1, sizeof *m);
    m->kind = TOK_MODEL_BPE;
    strmap_init(&m->vocab);
    m->unk_id = -1;
    bpe *b = mlcc_xcalloc(1, sizeof *b);
    m->impl = b;
    mt_init(&b->merges, 10);
    b->byte_fallback = opt->byte_fallback;
    b->fuse_unk = opt->fuse_unk;
    b->ignore_merges = opt->ignore_merges;
    set_affixes(b, opt->cont_prefix, opt->eow_suffix);
    for (size_t i = 0; i < n_tokens; i++)
        tok_model_set_token(m, tokens[i], strlen(tokens[i]), (int32_t)i);
    if (opt->unk_token) m->unk_id = tok_model_lookup(m, opt->unk_token, strlen(opt->unk_token));
    init_common(m, b);
    if (merges) {
        for (size_t i = 0; i < n_merges; i++) {
            const char *s = merges[i], *sp = strchr(s, ' ');
            if (!sp) {
                mlcc_set_error("%s: merges[%zu] must be two tokens separated by a space", what, i);
                tok_model_free(m);
                return NULL;
            }
            if (add_merge(m, b, s, (size_t)(sp - s), sp + 1, strlen(sp + 1), (uint32_t)i, what,
                          i)) {
                tok_model_free(m);
                return NULL;
            }
        }
    } else {
        score_order *o = mlcc_xmalloc((n_tokens + 1) * sizeof *o);
        for (size_t i = 0; i < n_tokens; i++) {
            o[i].score = scores ? scores[i] : 0;
            o[i].id = (int32_t)i;
        }
        qsort(o, n_tokens, sizeof *o, by_score_desc);
        b->score_rank = mlcc_xmalloc((n_tokens + 1) * sizeof *b->score_rank);
        for (size_t i = 0; i < n_tokens; i++)
            b->score_rank[o[i].id] = (uint32_t)i;
        free(o);
    }
    return m;
}

void tok_bpe_free(tok_model *m) {
    bpe *b = m->impl;
    if (!b) return;
    free(b->merges.slots);
    free(b->char_ids);
    free(b->prefix);
    free(b->suffix);
    free(b->score_rank);
    free(b);
}

/* The merge for the pair (a, c): 1 with rank and merged id, or 0. */
static inline int find_merge(const tok_model *m, const bpe *b, int32_t a, int32_t c, uint32_t *rank,
                             int32_t *id) {
    if (!b->score_rank) {
        const merge_slot *e = mt_slot(&b->merges, pair_key(a, c));
        if (e->key == EMPTY_KEY) return 0;
        *rank = e->rank;
        *id = e->id;
        return 1;
    }
    const char *l = m->id_to_tok[a], *r = m->id_to_tok[c];
    size_t ll = m->id_len[a], rl = m->id_len[c];
    char stackbuf[256];
    char *t = ll + rl <= sizeof stackbuf ? stackbuf : mlcc_xmalloc(ll + rl);
    memcpy(t, l, ll);
    memcpy(t + ll, r, rl);
    int32_t x = tok_model_lookup(m, t, ll + rl);
    if (t != stackbuf) free(t);
    if (x < 0) return 0;
    *rank = b->score_rank[x];
    *id = x;
    return 1;
}

typedef struct sym {
    int32_t id;
    int prev, next;
    int alive;
} sym;
/* A queued merge: its rank, the position of its left symbol, the merged id, and the pair it was
 * made for (a queued merge whose pair has changed since is stale: comparing the pair is the same
 * test as looking it up again, without touching the merge table). */
typedef struct mrg {
    uint32_t rank;
    uint32_t pos;
    int32_t id, left, right;
} mrg;
typedef MLCC_VEC(mrg) mrg_heap;

static int mrg_less(const mrg *a, const mrg *b) {
    return a->rank != b->rank ? a->rank < b->rank : a->pos < b->pos;
}
static void heap_push(mrg_heap *h, mrg x) {
    vec_push(h, x);
    size_t i = h->len - 1;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!mrg_less(&h->data[i], &h->data[p])) break;
        mrg t = h->data[i];
        h->data[i] = h->data[p];
        h->data[p] = t;
        i = p;
    }
}
static mrg heap_pop(mrg_heap *h) {
    mrg top = h->data[0];
    h->data[0] = h->data[--h->len];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, s = i;
        if (l < h->len && mrg_less(&h->data[l], &h->data[s])) s = l;
        if (r < h->len && mrg_less(&h->data[r], &h->data[s])) s = r;
        if (s == i) break;
        mrg t = h->data[i];
        h->data[i] = h->data[s];
        h->data[s] = t;
        i = s;
    }
    return top;
}

int tok_bpe_tokenize(const tok_model *m, const char *w, size_t len, tok_ids *out) {
    const bpe *b = m->impl;
    if (b->ignore_merges) {
        int32_t id = tok_model_lookup(m, w, len);
        if (id >= 0) {
            vec_push(out, id);
            return 0;
        }
    }
    MLCC_VEC(sym) syms = {0};
    mlcc_strbuf tmp = STRBUF_INIT;
    int32_t unk = -1; /* a pending (possibly fused) unk */
#define ADD_SYM(x)                                                                                 \
    do {                                                                                           \
        sym s_ = {(x), (int)syms.len - 1, (int)syms.len + 1, 1};                                   \
        vec_push(&syms, s_);                                                                       \
    } while (0)
    for (size_t i = 0; i < len;) {
        size_t adv = (size_t)tok_utf8_seqlen((unsigned char)w[i]);
        if (i + adv > len) adv = len - i;
        const char *s = w + i;
        size_t sl = adv;
        int first = i == 0, last = i + adv == len;
        if ((!first && b->prefix) || (last && b->suffix)) {
            sb_clear(&tmp);
            if (!first && b->prefix) sb_append_n(&tmp, b->prefix, b->prefix_len);
            sb_append_n(&tmp, s, adv);
            if (last && b->suffix) sb_append_n(&tmp, b->suffix, b->suffix_len);
            s = tmp.data;
            sl = tmp.len;
        }
        i += adv;
        int32_t id;
        if (s == w + i - adv) { /* no affixes: the flat table knows most characters */
            size_t a2;
            uint32_t cp = tok_utf8_decode(s, sl, &a2);
            id = cp < CHAR_TABLE && a2 == sl ? b->char_ids[cp] : tok_model_lookup(m, s, sl);
        } else {
            id = tok_model_lookup(m, s, sl);
        }
        if (id >= 0) {
            if (unk >= 0) {
                ADD_SYM(unk);
                unk = -1;
            }
            ADD_SYM(id);
            continue;
        }
        if (b->byte_fallback) {
            int ok = 1;
            for (size_t k = 0; k < sl; k++)
                if (b->byte_ids[(unsigned char)s[k]] < 0) ok = 0;
            if (ok) {
                /* HF adds these without flushing a pending unk first */
                for (size_t k = 0; k < sl; k++)
                    ADD_SYM(b->byte_ids[(unsigned char)s[k]]);
                continue;
            }
        }
        if (m->unk_id >= 0) {
            if (unk >= 0 && !b->fuse_unk) ADD_SYM(unk);
            unk = m->unk_id;
        }
    }
    if (unk >= 0) ADD_SYM(unk);
#undef ADD_SYM
    sb_free(&tmp);
    if (syms.len) syms.data[syms.len - 1].next = -1;

    mrg_heap heap = {0};
    for (size_t i = 0; i + 1 < syms.len; i++) {
        uint32_t rank;
        int32_t id;
        if (find_merge(m, b, syms.data[i].id, syms.data[i + 1].id, &rank, &id)) {
            mrg x = {rank, (uint32_t)i, id, syms.data[i].id, syms.data[i + 1].id};
            heap_push(&heap, x);
        }
    }
    while (heap.len) {
        mrg top = heap_pop(&heap);
        sym *cur = &syms.data[top.pos];
        if (!cur->alive || cur->next < 0) continue;
        sym *right = &syms.data[cur->next];
        uint32_t rank;
        int32_t id;
        if (cur->id != top.left || right->id != top.right) continue;
        cur->id = top.id;
        right->alive = 0;
        cur->next = right->next;
        if (cur->next >= 0) syms.data[cur->next].prev = (int)top.pos;
        if (cur->prev >= 0 && find_merge(m, b, syms.data[cur->prev].id, cur->id, &rank, &id)) {
            mrg x = {rank, (uint32_t)cur->prev, id, syms.data[cur->prev].id, cur->id};
            heap_push(&heap, x);
        }
        if (cur->next >= 0 && find_merge(m, b, cur->id, syms.data[cur->next].id, &rank, &id)) {
            mrg x = {rank, top.pos, id, cur->id, syms.data[cur->next].id};
            heap_push(&heap, x);
        }
    }
    for (size_t i = 0; i < syms.len; i++)
        if (syms.data[i].alive) vec_push(out, syms.data[i].id);
    vec_free(&heap);
    vec_free(&syms);
    return 0;
}
