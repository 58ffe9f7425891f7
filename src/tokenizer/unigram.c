/* unigram.c - the Unigram model (SentencePiece unigram): Viterbi over a byte trie of the
 * pieces, an unknown character scoring min_score - 10, consecutive unknowns fused, and
 * optional byte fallback, as Hugging Face tokenizers' encode_optimized does it. */
#include <float.h>
#include <string.h>

#include "support/error.h"
#include "tokenizer/tok_internal.h"

typedef struct unigram {
    double *scores; /* by id */
    size_t n;
    double min_score;
    int byte_fallback;
    mlcc_u64map trie;          /* (node << 8 | byte) -> child node; node 0 is the root */
    MLCC_VEC(int32_t) node_id; /* token id ending at a node, or -1 */
} unigram;

static uint32_t trie_child(const unigram *u, uint32_t node, unsigned char b) {
    mlcc_u64map_entry *e = u64map_find(&u->trie, ((uint64_t)node << 8) | b);
    return e ? (uint32_t)e->value.i : 0;
}

static void trie_insert(unigram *u, const char *s, size_t n, int32_t id) {
    uint32_t node = 0;
    for (size_t i = 0; i < n; i++) {
        int inserted;
        mlcc_u64map_entry *e =
            u64map_upsert(&u->trie, ((uint64_t)node << 8) | (unsigned char)s[i], &inserted);
        if (inserted) {
            e->value.i = (int64_t)u->node_id.len;
            vec_push(&u->node_id, -1);
        }
        node = (uint32_t)e->value.i;
    }
    if (u->node_id.data[node] < 0) u->node_id.data[node] = id;
}

int tok_unigram_init(tok_model *m, json_t *j, const char *what) {
    unigram *u = mlcc_xcalloc(1, sizeof *u);
    m->impl = u;
    u64map_init(&u->trie);
    vec_push(&u->node_id, -1);
    json_t *vocab = json_object_get(j, "vocab");
    if (!json_is_array(vocab)) return mlcc_set_error("%s: Unigram 'vocab' must be an array", what);
    u->n = json_array_size(vocab);
    u->scores = mlcc_xcalloc(u->n + 1, sizeof *u->scores);
    u->min_score = DBL_MAX;
    for (size_t i = 0; i < u->n; i++) {
        json_t *e = json_array_get(vocab, i);
        json_t *p = json_array_get(e, 0), *sc = json_array_get(e, 1);
        if (!json_is_array(e) || !json_is_string(p) || !json_is_number(sc))
            return mlcc_set_error("%s: vocab[%zu] must be [\"piece\", score]", what, i);
        tok_model_set_token(m, json_string_value(p), json_string_length(p), (int32_t)i);
        u->scores[i] = json_number_value(sc);
        if (u->scores[i] < u->min_score) u->min_score = u->scores[i];
        trie_insert(u, json_string_value(p), json_string_length(p), (int32_t)i);
    }
    json_t *unk = json_object_get(j, "unk_id");
    if (json_is_integer(unk)) {
        if (json_integer_value(unk) < 0 || (size_t)json_integer_value(unk) >= u->n)
            return mlcc_set_error("%s: unk_id %lld is out of the vocabulary", what,
                                  (long long)json_integer_value(unk));
        m->unk_id = (int32_t)json_integer_value(unk);
    }
    u->byte_fallback = tok_json_bool(j, "byte_fallback", 0);
    return 0;
}

void tok_unigram_free(tok_model *m) {
    unigram *u = m->impl;
    if (!u) return;
    free(u->scores);
    u64map_free(&u->trie);
    vec_free(&u->node_id);
    free(u);
}

typedef struct node {
    double score;
    int64_t start;
    int32_t id;
} node;

static int emit(const tok_model *m, const unigram *u, const char *s, size_t n, tok_ids *out) {
    int32_t id = tok_model_lookup(m, s, n);
    if (id >= 0) {
        vec_push(out, id);
        return 0;
    }
    if (u->byte_fallback) {
        int ok = 1;
        size_t mark = out->len;
        for (size_t i = 0; i < n && ok; i++) {
            char name[8];
            snprintf(name, sizeof name, "<0x%02X>", (unsigned char)s[i]);
            int32_t b = tok_model_lookup(m, name, 6);
            if (b < 0)
                ok = 0;
            else
                vec_push(out, b);
        }
        if (ok) return 0;
        out->len = mark;
    }
    if (m->unk_id < 0) return mlcc_set_error("Unigram: unknown piece and the model has no unk_id");
    vec_push(out, m->unk_id);
    return 0;
}

int tok_unigram_tokenize(const tok_model *m, const char *s, size_t n, tok_ids *out) {
    const unigram *u = m->impl;
    double unk_score = u->min_score - 10.0;
    node *best = mlcc_xmalloc((n + 1) * sizeof *best);
    for (size_t i = 0; i <= n; i++) {
        best[i].score = 0;
        best[i].start = -1;
        best[i].id = 0;
    }
    for (size_t at = 0; at < n;) {
        double here = best[at].score;
        size_t mblen = (size_t)tok_utf8_seqlen((unsigned char)s[at]);
        if (at + mblen > n) mblen = n - at;
        int single = 0;
        uint32_t nd = 0;
        for (size_t k = at; k < n; k++) {
            nd = trie_child(u, nd, (unsigned char)s[k]);
            if (!nd) break;
            int32_t id = u->node_id.data[nd];
            if (id < 0) continue;
            size_t end = k + 1;
            double cand = here + u->scores[id];
            if (best[end].start < 0 || cand > best[end].score) {
                best[end].score = cand;
                best[end].start = (int64_t)at;
                best[end].id = id;
            }
            if (end - at == mblen) single = 1;
        }
        if (!single) {
            if (m->unk_id < 0) {
                free(best);
                return mlcc_set_error(
                    "Unigram: a character is not in the vocabulary and the model has no unk_id");
            }
            double cand = here + unk_score;
            node *t = &best[at + mblen];
            if (t->start < 0 || cand > t->score) {
                t->score = cand;
                t->start = (int64_t)at;
                t->id = m->unk_id;
            }
        }
        at += mblen;
    }
    /* Walk back, collecting [start, end) pieces; fuse runs of unk. */
    MLCC_VEC(size_t) cuts = {0}; /* pairs start,end in reverse */
    size_t end = n;
    while (end > 0) {
        node *x = &best[end];
        size_t start = (size_t)x->start;
        int is_unk = x->id == m->unk_id;
        if (is_unk && cuts.len >= 3 && cuts.data[cuts.len - 1] == 1 &&
            cuts.data[cuts.len - 3] == end) {
            cuts.data[cuts.len - 3] = start; /* extend the previous unk piece to the left */
        } else {
            vec_push(&cuts, start);
            vec_push(&cuts, end);
            vec_push(&cuts, (size_t)is_unk);
        }
        end = start;
    }
    int rc = 0;
    for (size_t k = cuts.len; k >= 3 && rc == 0; k -= 3)
        rc = emit(m, u, s + cuts.data[k - 3], cuts.data[k - 2] - cuts.data[k - 3], out);
    vec_free(&cuts);
    free(best);
    return rc;
}
