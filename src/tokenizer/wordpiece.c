/* wordpiece.c - the WordPiece model (BERT): greedy longest match from the left, continuation
 * pieces carrying a prefix ("##"), and the whole word as [UNK] when any part fails. */
#include <string.h>

#include "support/error.h"
#include "tokenizer/tok_internal.h"

typedef struct wordpiece {
    char *prefix;
    size_t prefix_len;
    size_t max_chars;
} wordpiece;

int tok_wordpiece_init(tok_model *m, json_t *j, const char *what) {
    wordpiece *w = mlcc_xcalloc(1, sizeof *w);
    m->impl = w;
    const char *prefix = NULL, *unk = NULL;
    tok_json_opt_str(j, "continuing_subword_prefix", &prefix);
    tok_json_opt_str(j, "unk_token", &unk);
    w->prefix = mlcc_xstrdup(prefix ? prefix : "##");
    w->prefix_len = strlen(w->prefix);
    json_t *mx = json_object_get(j, "max_input_chars_per_word");
    w->max_chars =
        json_is_integer(mx) && json_integer_value(mx) > 0 ? (size_t)json_integer_value(mx) : 100;
    if (!unk) unk = "[UNK]";
    m->unk_id = tok_model_lookup(m, unk, strlen(unk));
    if (m->unk_id < 0)
        return mlcc_set_error("%s: unk_token '%s' is not in the vocabulary", what, unk);
    return 0;
}

void tok_wordpiece_free(tok_model *m) {
    wordpiece *w = m->impl;
    if (!w) return;
    free(w->prefix);
    free(w);
}

int tok_wordpiece_tokenize(const tok_model *m, const char *s, size_t n, tok_ids *out) {
    const wordpiece *w = m->impl;
    size_t chars = 0;
    for (size_t i = 0; i < n; i += (size_t)tok_utf8_seqlen((unsigned char)s[i]))
        chars++;
    if (chars > w->max_chars) {
        vec_push(out, m->unk_id);
        return 0;
    }
    size_t mark = out->len;
    mlcc_strbuf t = STRBUF_INIT;
    for (size_t start = 0; start < n;) {
        size_t end = n;
        int32_t found = -1;
        while (start < end) {
            sb_clear(&t);
            if (start > 0) sb_append_n(&t, w->prefix, w->prefix_len);
            sb_append_n(&t, s + start, end - start);
            found = tok_model_lookup(m, t.data, t.len);
            if (found >= 0) break;
            /* step back one character */
            do
                end--;
            while (end > start && ((unsigned char)s[end] & 0xC0) == 0x80);
        }
        if (found < 0) {
            out->len = mark;
            vec_push(out, m->unk_id);
            break;
        }
        vec_push(out, found);
        start = end;
    }
    sb_free(&t);
    return 0;
}
