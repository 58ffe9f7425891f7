/* vocab.c - per-tokenizer preprocessing for grammar masks: the bytes each token stands for,
 * and a byte trie over them (tokens sorted by their bytes, so every trie node covers a
 * contiguous range of the sorted order).
 *
 * A token's bytes: byte-level BPE vocabularies spell bytes with GPT-2's printable alphabet;
 * SentencePiece-style ones write a space as U+2581 and raw bytes as <0xHH>; others (and added
 * tokens outside those alphabets) are decoded. Special tokens stand for no text and are never
 * allowed by a grammar; the stop tokens are allowed where the grammar may end. */
#include <stdlib.h>
#include <string.h>

#include "grammar/vocab.h"
#include "support/alloc.h"
#include "support/error.h"

/* GPT-2 byte-level alphabet, inverted: code point -> byte, -1 if not in the alphabet. */
static int gpt2_cp_to_byte(uint32_t cp) {
    static int table[324];
    static int ready;
    if (!ready) {
        for (int i = 0; i < 324; i++) table[i] = -1;
        int extra = 0;
        for (int b = 0; b < 256; b++) {
            int printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174);
            if (printable)
                table[b] = b;
            else
                table[256 + extra++] = b;
        }
        ready = 1;
    }
    return cp < 324 ? table[cp] : -1;
}

static uint32_t utf8_next(const unsigned char *s, size_t n, size_t *adv) {
    unsigned c = s[0];
    int len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 1;
    if ((size_t)len > n) len = 1;
    uint32_t v = len == 1 ? c : len == 2 ? c & 0x1F : len == 3 ? c & 0x0F : c & 0x07;
    for (int i = 1; i < len; i++) v = (v << 6) | (s[i] & 0x3F);
    *adv = (size_t)len;
    return v;
}

enum style { STYLE_BYTELEVEL, STYLE_SPM, STYLE_DECODE };

static int token_bytes(mlcc_tokenizer *tok, enum style st, int32_t id, mlcc_strbuf *out) {
    const char *text = mlcc_tokenizer_id_to_token(tok, id);
    if (!text) return 0;
    size_t n = strlen(text);
    const unsigned char *u = (const unsigned char *)text;
    if (st == STYLE_BYTELEVEL) {
        size_t mark = out->len;
        for (size_t k = 0; k < n;) {
            size_t adv;
            int b = gpt2_cp_to_byte(utf8_next(u + k, n - k, &adv));
            if (b < 0) {
                out->len = mark;
                goto decode;
            }
            sb_append_char(out, (char)b);
            k += adv;
        }
        return 0;
    }
    if (st == STYLE_SPM) {
        if (n == 6 && !memcmp(text, "<0x", 3) && text[5] == '>') {
            char hex[3] = {text[3], text[4], 0};
            char *end;
            long v = strtol(hex, &end, 16);
            if (!*end) {
                sb_append_char(out, (char)v);
                return 0;
            }
        }
        for (size_t k = 0; k < n;) {
            if (k + 3 <= n && !memcmp(text + k, "\xE2\x96\x81", 3)) {
                sb_append_char(out, ' ');
                k += 3;
            } else
                sb_append_char(out, text[k++]);
        }
        return 0;
    }
decode:;
    size_t len;
    char *d = mlcc_tokenizer_decode(tok, &id, 1, 0, &len);
    if (!d) return -1;
    sb_append_n(out, d, len);
    free(d);
    return 0;
}

static const mlcc_grammar_vocab *sort_vocab;
static int cmp_tokens(const void *a, const void *b) {
    const mlcc_grammar_vocab *v = sort_vocab;
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    size_t lx = v->off[x + 1] - v->off[x], ly = v->off[y + 1] - v->off[y];
    int c = memcmp(v->bytes + v->off[x], v->bytes + v->off[y], lx < ly ? lx : ly);
    if (c) return c;
    if (lx != ly) return lx < ly ? -1 : 1;
    return x < y ? -1 : x > y;
}

/* Builds the trie from the sorted tokens: nodes in preorder; a node's tokens (its subtree) are
 * sorted[lo, hi), those ending at it first (nend of them), and skip is the index after it. */
static void build_trie(mlcc_grammar_vocab *v) {
    vocab_trie_node root = {0, 0, 0, 0, 0, 0};
    vec_push(&v->trie, root);
    MLCC_VEC(int32_t) open = {0}; /* open[d] = node at depth d on the current path */
    vec_push(&open, 0);
    const uint8_t *prev = NULL;
    size_t prev_len = 0;
    for (int32_t i = 0; i < v->nsorted; i++) {
        int32_t id = v->sorted[i];
        const uint8_t *s = v->bytes + v->off[id];
        size_t len = v->off[id + 1] - v->off[id];
        size_t lcp = 0;
        while (prev && lcp < len && lcp < prev_len && s[lcp] == prev[lcp]) lcp++;
        /* close nodes deeper than lcp */
        while (open.len > lcp + 1) {
            int32_t nid = vec_pop(&open);
            v->trie.data[nid].hi = i;
            v->trie.data[nid].skip = (int32_t)v->trie.len;
        }
        for (size_t d = lcp; d < len; d++) {
            vocab_trie_node nn = {s[d], 0, i, i, 0, 0};
            vec_push(&v->trie, nn);
            vec_push(&open, (int32_t)v->trie.len - 1);
        }
        v->trie.data[vec_last(&open)].nend++;
        prev = s;
        prev_len = len;
    }
    while (open.len) {
        int32_t nid = vec_pop(&open);
        v->trie.data[nid].hi = v->nsorted;
        v->trie.data[nid].skip = (int32_t)v->trie.len;
    }
    vec_free(&open);
}

/* Sorts, builds the trie and records the stop tokens of a vocabulary whose bytes are set. */
static void finish_vocab(mlcc_grammar_vocab *v, const int32_t *stop_ids, int nstop) {
    int32_t vocab_size = v->vocab_size;
    v->sorted = mlcc_xmalloc(sizeof(int32_t) * (size_t)(vocab_size ? vocab_size : 1));
    for (int32_t id = 0; id < vocab_size; id++)
        if (v->off[id + 1] > v->off[id]) {
            v->sorted[v->nsorted++] = id;
            if ((int32_t)(v->off[id + 1] - v->off[id]) > v->max_len) v->max_len = (int32_t)(v->off[id + 1] - v->off[id]);
        }
    sort_vocab = v;
    qsort(v->sorted, (size_t)v->nsorted, sizeof(int32_t), cmp_tokens);
    sort_vocab = NULL;
    build_trie(v);
    v->stop = mlcc_xmalloc(sizeof(int32_t) * (size_t)(nstop > 0 ? nstop : 1));
    for (int i = 0; i < nstop; i++)
        if (stop_ids[i] >= 0 && stop_ids[i] < vocab_size) v->stop[v->nstop++] = stop_ids[i];
}

mlcc_grammar_vocab *mlcc_grammar_vocab_new(mlcc_tokenizer *tok, int vocab_size, const int32_t *stop_ids, int nstop) {
    int tsize = (int)mlcc_tokenizer_vocab_size(tok);
    if (vocab_size <= 0) vocab_size = tsize;
    enum style st = STYLE_DECODE;
    if (mlcc_tokenizer_token_to_id(tok, "<0x0A>") >= 0)
        st = STYLE_SPM;
    else if (mlcc_tokenizer_token_to_id(tok, "\xC4\xA0") >= 0 || mlcc_tokenizer_token_to_id(tok, "\xC4\x8A") >= 0)
        st = STYLE_BYTELEVEL;
    mlcc_grammar_vocab *v = mlcc_xcalloc(1, sizeof *v);
    v->serial = vocab_next_serial();
    v->vocab_size = vocab_size;
    v->off = mlcc_xmalloc(sizeof(uint32_t) * ((size_t)vocab_size + 1));
    mlcc_strbuf all = STRBUF_INIT;
    for (int32_t id = 0; id < vocab_size; id++) {
        v->off[id] = (uint32_t)all.len;
        if (id >= tsize || mlcc_tokenizer_is_special(tok, id)) continue;
        if (token_bytes(tok, st, id, &all)) {
            sb_free(&all);
            free(v->off);
            free(v);
            return NULL;
        }
    }
    v->off[vocab_size] = (uint32_t)all.len;
    v->bytes = (uint8_t *)(all.data ? sb_detach(&all) : mlcc_xstrdup(""));
    int32_t eos = mlcc_tokenizer_eos_id(tok);
    if (nstop > 0)
        finish_vocab(v, stop_ids, nstop);
    else
        finish_vocab(v, &eos, eos >= 0 ? 1 : 0);
    return v;
}

mlcc_grammar_vocab *mlcc_grammar_vocab_from_bytes(const char *const *tokens, const size_t *lens, int n, const int32_t *stop_ids, int nstop) {
    mlcc_grammar_vocab *v = mlcc_xcalloc(1, sizeof *v);
    v->serial = vocab_next_serial();
    v->vocab_size = n;
    v->off = mlcc_xmalloc(sizeof(uint32_t) * ((size_t)n + 1));
    mlcc_strbuf all = STRBUF_INIT;
    for (int i = 0; i < n; i++) {
        v->off[i] = (uint32_t)all.len;
        if (tokens[i]) sb_append_n(&all, tokens[i], lens ? lens[i] : strlen(tokens[i]));
    }
    v->off[n] = (uint32_t)all.len;
    v->bytes = (uint8_t *)(all.data ? sb_detach(&all) : mlcc_xstrdup(""));
    finish_vocab(v, stop_ids, nstop);
    return v;
}

void mlcc_grammar_vocab_free(mlcc_grammar_vocab *v) {
    if (!v) return;
    free(v->off);
    free(v->bytes);
    free(v->sorted);
    free(v->stop);
    vec_free(&v->trie);
    free(v);
}

int mlcc_grammar_vocab_size(const mlcc_grammar_vocab *v) {
    return v->vocab_size;
}

const uint8_t *mlcc_grammar_vocab_token(const mlcc_grammar_vocab *v, int32_t id, size_t *len) {
    if (id < 0 || id >= v->vocab_size || v->off[id + 1] == v->off[id]) {
        *len = 0;
        return NULL;
    }
    *len = v->off[id + 1] - v->off[id];
    return v->bytes + v->off[id];
}

size_t mlcc_grammar_mask_words(const mlcc_grammar_vocab *v) {
    return ((size_t)v->vocab_size + 31) / 32;
}

int vocab_is_stop(const mlcc_grammar_vocab *v, int32_t id) {
    for (int i = 0; i < v->nstop; i++)
        if (v->stop[i] == id) return 1;
    return 0;
}

uint64_t vocab_next_serial(void) {
    static uint64_t next = 0;
    return __atomic_add_fetch(&next, 1, __ATOMIC_RELAXED);
}
