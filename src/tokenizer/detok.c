/* detok.c - the streaming detokenizer: ids arrive one at a time (as the engine samples them)
 * and text leaves as soon as it is final. Like Hugging Face's DecodeStream it decodes a small
 * window of recent ids and emits what the window adds beyond the text already emitted for it,
 * so decoder rules that depend on neighbours (Metaspace's first-token space, byte fallback
 * pieces, ByteLevel bytes split over tokens) come out as a full decode would give them; text
 * ending in an incomplete UTF-8 sequence (decoded as U+FFFD) is held back until it completes. */
#include <string.h>

#include "support/error.h"
#include "tokenizer/tok_internal.h"

struct mlcc_detok {
    mlcc_tokenizer *tok;
    int skip_special;
    tok_ids window;      /* ids since the start of the last emitted chunk */
    size_t prefix_index; /* how many of them produced `prefix` */
    char *prefix;        /* decode(window[0 .. prefix_index)) */
    size_t prefix_len;
};

mlcc_detok *mlcc_detok_new(mlcc_tokenizer *tok, int skip_special) {
    mlcc_detok *d = mlcc_xcalloc(1, sizeof *d);
    d->tok = tok;
    d->skip_special = skip_special;
    d->prefix = mlcc_xstrdup("");
    return d;
}

void mlcc_detok_free(mlcc_detok *d) {
    if (!d) return;
    vec_free(&d->window);
    free(d->prefix);
    free(d);
}

static int ends_with_replacement(const char *s, size_t n) {
    return n >= 3 && memcmp(s + n - 3, "\xEF\xBF\xBD", 3) == 0;
}

/* Emits what decode(window) adds past the prefix; with force, even if it ends in U+FFFD. */
static int step(mlcc_detok *d, mlcc_strbuf *out, int force) {
    size_t n;
    char *s = mlcc_tokenizer_decode(d->tok, d->window.data, d->window.len, d->skip_special, &n);
    if (!s) return -1;
    if (n > d->prefix_len && memcmp(s, d->prefix, d->prefix_len) == 0 &&
        (force || !ends_with_replacement(s, n))) {
        sb_append_n(out, s + d->prefix_len, n - d->prefix_len);
        /* the new window starts at the ids of the chunk just emitted */
        size_t keep = d->window.len - d->prefix_index;
        memmove(d->window.data, d->window.data + d->prefix_index, keep * sizeof(int32_t));
        d->window.len = keep;
        free(d->prefix);
        d->prefix = mlcc_tokenizer_decode(d->tok, d->window.data, d->window.len, d->skip_special,
                                          &d->prefix_len);
        d->prefix_index = d->window.len;
        free(s);
        return d->prefix ? 0 : -1;
    }
    free(s);
    return 0;
}

int mlcc_detok_push(mlcc_detok *d, int32_t id, mlcc_strbuf *out) {
    vec_push(&d->window, id);
    return step(d, out, 0);
}

int mlcc_detok_flush(mlcc_detok *d, mlcc_strbuf *out) {
    return step(d, out, 1);
}
