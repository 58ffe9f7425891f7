/* added_tokens.c - added tokens (special or not), found in the text before the model runs.
 * As in Hugging Face tokenizers: tokens with normalized = false are matched on the raw text,
 * the rest on each normalized stretch between them; matching is leftmost-longest, and a match
 * is then checked for single_word and widened by lstrip / rstrip over whitespace. */
#include <string.h>

#include "support/error.h"
#include "tokenizer/tok_internal.h"

struct tok_trie {
    mlcc_u64map edges;            /* (node << 8 | byte) -> child; node 0 = root */
    MLCC_VEC(int32_t) node_token; /* index into tokens of the token ending here, or -1 */
    unsigned char first[32];      /* bitmap of first bytes */
};

static tok_trie *trie_new(void) {
    tok_trie *t = mlcc_xcalloc(1, sizeof *t);
    u64map_init(&t->edges);
    vec_push(&t->node_token, -1);
    return t;
}

static void trie_free(tok_trie *t) {
    if (!t) return;
    u64map_free(&t->edges);
    vec_free(&t->node_token);
    free(t);
}

static void trie_add(tok_trie *t, const char *s, size_t n, int32_t index) {
    if (!n) return;
    t->first[(unsigned char)s[0] >> 3] |= (unsigned char)(1u << ((unsigned char)s[0] & 7));
    uint32_t node = 0;
    for (size_t i = 0; i < n; i++) {
        int inserted;
        mlcc_u64map_entry *e =
            u64map_upsert(&t->edges, ((uint64_t)node << 8) | (unsigned char)s[i], &inserted);
        if (inserted) {
            e->value.i = (int64_t)t->node_token.len;
            vec_push(&t->node_token, -1);
        }
        node = (uint32_t)e->value.i;
    }
    t->node_token.data[node] = index;
}

/* Longest token starting at s[i]: its index (and end in *end), or -1. */
static int32_t trie_longest(const tok_trie *t, const char *s, size_t n, size_t i, size_t *end) {
    unsigned char c = (unsigned char)s[i];
    if (!(t->first[c >> 3] & (1u << (c & 7)))) return -1;
    uint32_t node = 0;
    int32_t best = -1;
    for (size_t k = i; k < n; k++) {
        mlcc_u64map_entry *e = u64map_find(&t->edges, ((uint64_t)node << 8) | (unsigned char)s[k]);
        if (!e) break;
        node = (uint32_t)e->value.i;
        if (t->node_token.data[node] >= 0) {
            best = t->node_token.data[node];
            *end = k + 1;
        }
    }
    return best;
}

void tok_added_init(tok_added *a) {
    memset(a, 0, sizeof *a);
    u64map_init(&a->by_id);
    strmap_init(&a->by_content);
}

void tok_added_free(tok_added *a) {
    for (size_t i = 0; i < a->tokens.len; i++) {
        free(a->tokens.data[i].content);
        free(a->tokens.data[i].norm);
    }
    vec_free(&a->tokens);
    u64map_free(&a->by_id);
    strmap_free(&a->by_content);
    trie_free(a->raw_trie);
    trie_free(a->norm_trie);
}

void tok_added_add(tok_added *a, const char *content, size_t len, int32_t id, int special,
                   int lstrip, int rstrip, int normalized, int single_word) {
    if (len == 0) return;
    mlcc_u64map_entry *e = u64map_find(&a->by_id, (uint64_t)(uint32_t)id);
    tok_added_token t = {mlcc_xstrndup(content, len),
                         len,
                         id,
                         special,
                         lstrip,
                         rstrip,
                         normalized,
                         single_word,
                         NULL,
                         0};
    if (e) { /* a later entry for the same id replaces the earlier one */
        free(a->tokens.data[e->value.i].content);
        free(a->tokens.data[e->value.i].norm);
        a->tokens.data[e->value.i] = t;
    } else {
        u64map_upsert(&a->by_id, (uint64_t)(uint32_t)id, NULL)->value.i = (int64_t)a->tokens.len;
        vec_push(&a->tokens, t);
    }
    strmap_upsert(&a->by_content, content, len, NULL)->value.i = id;
}

const tok_added_token *tok_added_by_id(const tok_added *a, int32_t id) {
    mlcc_u64map_entry *e = u64map_find(&a->by_id, (uint64_t)(uint32_t)id);
    return e ? &a->tokens.data[e->value.i] : NULL;
}

int tok_added_build(tok_added *a, const tok_normalizer *norm, tok_ctx *ctx) {
    trie_free(a->raw_trie);
    trie_free(a->norm_trie);
    a->raw_trie = trie_new();
    a->norm_trie = trie_new();
    mlcc_strbuf nb = STRBUF_INIT;
    for (size_t i = 0; i < a->tokens.len; i++) {
        tok_added_token *t = &a->tokens.data[i];
        /* only the last id of a content is matched */
        mlcc_strmap_entry *e = strmap_find(&a->by_content, t->content, t->len);
        if (!e || e->value.i != t->id) continue;
        if (!t->normalized) {
            trie_add(a->raw_trie, t->content, t->len, (int32_t)i);
        } else if (norm) {
            sb_clear(&nb);
            if (tok_normalize(norm, ctx, t->content, t->len, &nb)) {
                sb_free(&nb);
                return -1;
            }
            trie_add(a->norm_trie, nb.data ? nb.data : "", nb.len, (int32_t)i);
            free(t->norm);
            t->norm = NULL;
            if (nb.len != t->len || memcmp(nb.data, t->content, t->len)) {
                t->norm = mlcc_xstrndup(nb.data ? nb.data : "", nb.len);
                t->norm_len = nb.len;
            }
        } else {
            trie_add(a->norm_trie, t->content, t->len, (int32_t)i);
        }
    }
    sb_free(&nb);
    return 0;
}

static uint32_t last_cp(const char *s, size_t n, size_t *start) {
    size_t k = n - 1;
    while (k > 0 && ((unsigned char)s[k] & 0xC0) == 0x80)
        k--;
    size_t adv;
    *start = k;
    return tok_utf8_decode(s + k, n - k, &adv);
}

void tok_added_split(const tok_added *a, int normalized_pass, const char *s, size_t n,
                     unsigned flags, tok_pieces *out) {
    const tok_trie *t = normalized_pass ? a->norm_trie : a->raw_trie;
    size_t start_offset = 0, i = 0;
    while (t && t->node_token.len > 1 && i < n) {
        size_t end = 0;
        int32_t idx = trie_longest(t, s, n, i, &end);
        if (idx < 0) {
            i++;
            continue;
        }
        const tok_added_token *tk = &a->tokens.data[idx];
        size_t start = i, stop = end;
        i = end; /* the search resumes after this match whether it is kept or not */
        if (tk->single_word) {
            size_t k, adv;
            int start_space = start == 0 || !tok_is_alphanumeric_word(last_cp(s, start, &k));
            int stop_space =
                stop == n || !tok_is_alphanumeric_word(tok_utf8_decode(s + stop, n - stop, &adv));
            if (!start_space || !stop_space) continue;
        }
        if (tk->lstrip) {
            size_t ns = start;
            while (ns > 0) {
                size_t k;
                uint32_t cp = last_cp(s, ns, &k);
                if (!tok_is_whitespace(cp)) break;
                ns = k;
            }
            start = ns > start_offset ? ns : start_offset;
        }
        if (tk->rstrip) {
            while (stop < n) {
                size_t adv;
                uint32_t cp = tok_utf8_decode(s + stop, n - stop, &adv);
                if (!tok_is_whitespace(cp)) break;
                stop += adv;
            }
        }
        /* (with rstrip, the next match may start inside the whitespace this one took: it is
         * still a match, as in tokenizers, and no text lies between them) */
        if (start_offset < start)
            tok_pieces_add(out, s + start_offset, start - start_offset, -1,
                           start_offset == 0 ? flags : (flags & ~TOK_PIECE_AT_START));
        tok_pieces_add(out, s + start, stop - start, tk->id,
                       start == 0 ? flags : (flags & ~TOK_PIECE_AT_START));
        if (stop > start_offset) start_offset = stop;
    }
    if (start_offset < n)
        tok_pieces_add(out, s + start_offset, n - start_offset, -1,
                       start_offset == 0 ? flags : (flags & ~TOK_PIECE_AT_START));
}
