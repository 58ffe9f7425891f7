/* decoder.c - tokenizer.json decoders: ByteLevel, ByteFallback, Metaspace, Replace, Fuse,
 * Strip, WordPiece, BPEDecoder, CTC, Sequence. Each maps the list of token strings to a new list
 * (decode_chain in Hugging Face's terms); the tokenizer joins the final list. */
#include <string.h>

#include "support/error.h"
#include "tokenizer/tok_internal.h"

enum dec_kind {
    D_BYTELEVEL,
    D_BYTEFALLBACK,
    D_METASPACE,
    D_REPLACE,
    D_FUSE,
    D_STRIP,
    D_WORDPIECE,
    D_BPE,
    D_CTC,
    D_SEQUENCE
};

struct tok_decoder {
    enum dec_kind kind;
    tok_regex *re; /* Replace */
    char *content; /* Replace content; WordPiece prefix; BPE suffix */
    size_t content_len;
    uint32_t cp;        /* Strip content; Metaspace replacement */
    size_t start, stop; /* Strip */
    int prepend_never;  /* Metaspace */
    int cleanup;        /* WordPiece, CTC */
    char *pad, *delim;  /* CTC: pad token, word delimiter token */
    tok_decoder **children;
    size_t n_children;
};

void tok_decoder_free(tok_decoder *d) {
    if (!d) return;
    for (size_t i = 0; i < d->n_children; i++)
        tok_decoder_free(d->children[i]);
    free(d->children);
    tok_regex_free(d->re);
    free(d->content);
    free(d->pad);
    free(d->delim);
    free(d);
}

static int char_field(json_t *j, const char *key, const char *what, uint32_t *cp) {
    const char *s;
    if (tok_json_str(j, key, what, &s)) return -1;
    size_t n = strlen(s), adv;
    if (!n) return mlcc_set_error("%s: field '%s' must be one character", what, key);
    *cp = tok_utf8_decode(s, n, &adv);
    if (adv != n) return mlcc_set_error("%s: field '%s' must be one character", what, key);
    return 0;
}

tok_decoder *tok_decoder_from_json(json_t *j, const char *what) {
    const char *type;
    if (!json_is_object(j)) {
        mlcc_set_error("%s: must be an object", what);
        return NULL;
    }
    if (tok_json_str(j, "type", what, &type)) return NULL;
    tok_decoder *d = mlcc_xcalloc(1, sizeof *d);
    if (!strcmp(type, "ByteLevel"))
        d->kind = D_BYTELEVEL;
    else if (!strcmp(type, "ByteFallback"))
        d->kind = D_BYTEFALLBACK;
    else if (!strcmp(type, "Fuse"))
        d->kind = D_FUSE;
    else if (!strcmp(type, "Metaspace")) {
        d->kind = D_METASPACE;
        if (char_field(j, "replacement", what, &d->cp)) goto fail;
        const char *scheme = NULL;
        tok_json_opt_str(j, "prepend_scheme", &scheme);
        d->prepend_never =
            (scheme && !strcmp(scheme, "never")) || tok_json_bool(j, "add_prefix_space", 1) == 0;
    } else if (!strcmp(type, "Replace")) {
        d->kind = D_REPLACE;
        const char *c;
        if (tok_json_str(j, "content", what, &c)) goto fail;
        d->content_len = json_string_length(json_object_get(j, "content"));
        d->content = mlcc_xstrndup(c, d->content_len);
        if (!(d->re = tok_json_pattern(j, what, NULL, NULL))) goto fail;
    } else if (!strcmp(type, "Strip")) {
        d->kind = D_STRIP;
        if (char_field(j, "content", what, &d->cp)) goto fail;
        json_t *a = json_object_get(j, "start"), *b = json_object_get(j, "stop");
        if (!json_is_integer(a) || !json_is_integer(b) || json_integer_value(a) < 0 ||
            json_integer_value(b) < 0) {
            mlcc_set_error("%s: Strip needs non-negative integers 'start' and 'stop'", what);
            goto fail;
        }
        d->start = (size_t)json_integer_value(a);
        d->stop = (size_t)json_integer_value(b);
    } else if (!strcmp(type, "WordPiece")) {
        d->kind = D_WORDPIECE;
        const char *p = NULL;
        tok_json_opt_str(j, "prefix", &p);
        d->content = mlcc_xstrdup(p ? p : "##");
        d->content_len = strlen(d->content);
        d->cleanup = tok_json_bool(j, "cleanup", 1);
    } else if (!strcmp(type, "BPEDecoder")) {
        d->kind = D_BPE;
        const char *s = NULL;
        tok_json_opt_str(j, "suffix", &s);
        d->content = mlcc_xstrdup(s ? s : "</w>");
        d->content_len = strlen(d->content);
    } else if (!strcmp(type, "CTC")) {
        d->kind = D_CTC;
        const char *pad = NULL, *delim = NULL;
        tok_json_opt_str(j, "pad_token", &pad);
        tok_json_opt_str(j, "word_delimiter_token", &delim);
        d->pad = mlcc_xstrdup(pad ? pad : "<pad>");
        d->delim = mlcc_xstrdup(delim ? delim : "|");
        d->cleanup = tok_json_bool(j, "cleanup", 1);
    } else if (!strcmp(type, "Sequence")) {
        d->kind = D_SEQUENCE;
        json_t *arr = json_object_get(j, "decoders");
        if (!json_is_array(arr)) {
            mlcc_set_error("%s: Sequence needs an array 'decoders'", what);
            goto fail;
        }
        d->children = mlcc_xcalloc(json_array_size(arr) + 1, sizeof *d->children);
        for (size_t i = 0; i < json_array_size(arr); i++) {
            char sub[256];
            snprintf(sub, sizeof sub, "%s.decoders[%zu]", what, i);
            tok_decoder *c = tok_decoder_from_json(json_array_get(arr, i), sub);
            if (!c) goto fail;
            d->children[d->n_children++] = c;
        }
    } else {
        mlcc_set_error("%s: unsupported decoder type '%s'", what, type);
        goto fail;
    }
    return d;
fail:
    tok_decoder_free(d);
    return NULL;
}

static void replace_all(tok_strs *v, size_t i, mlcc_strbuf *sb) {
    free(v->data[i].s);
    v->data[i].n = sb->len;
    v->data[i].s = sb->len ? sb_detach(sb) : mlcc_xstrdup("");
    sb_clear(sb);
}

static int byte_token(const tok_str *t) {
    if (t->n != 6 || memcmp(t->s, "<0x", 3) || t->s[5] != '>') return -1;
    int v = 0;
    for (int k = 3; k < 5; k++) {
        char c = t->s[k];
        int d = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                       : -1;
        if (d < 0) return -1;
        v = v * 16 + d;
    }
    return v;
}

/* Replaces every occurrence of `from` in sb by `to`. */
static void replace_in(mlcc_strbuf *sb, const char *from, const char *to) {
    size_t fl = strlen(from);
    if (!fl) return;
    mlcc_strbuf r = STRBUF_INIT;
    size_t i = 0;
    while (i < sb->len) {
        if (i + fl <= sb->len && !memcmp(sb->data + i, from, fl)) {
            sb_append(&r, to);
            i += fl;
        } else
            sb_append_char(&r, sb->data[i++]);
    }
    sb_clear(sb);
    sb_append_n(sb, r.data ? r.data : "", r.len);
    sb_free(&r);
}

static void wordpiece_cleanup(mlcc_strbuf *sb) {
    static const char *pairs[][2] = {{" .", "."},     {" ?", "?"},           {" !", "!"},
                                     {" ,", ","},     {" ' ", "'"},          {" n't", "n't"},
                                     {" 'm", "'m"},   {" do not", " don't"}, {" 's", "'s"},
                                     {" 've", "'ve"}, {" 're", "'re"}};
    for (size_t p = 0; p < sizeof pairs / sizeof pairs[0]; p++) replace_in(sb, pairs[p][0], pairs[p][1]);
}

int tok_decode_chain(const tok_decoder *d, tok_ctx *ctx, tok_strs *v) {
    mlcc_strbuf sb = STRBUF_INIT;
    switch (d->kind) {
    case D_SEQUENCE:
        for (size_t i = 0; i < d->n_children; i++)
            if (tok_decode_chain(d->children[i], ctx, v)) return -1;
        return 0;
    case D_BYTELEVEL: {
        mlcc_strbuf bytes = STRBUF_INIT;
        for (size_t i = 0; i < v->len; i++) {
            const tok_str *t = &v->data[i];
            size_t mark = bytes.len;
            int ok = 1;
            for (size_t k = 0; k < t->n && ok;) {
                size_t adv;
                int b = tok_cp_to_byte(tok_utf8_decode(t->s + k, t->n - k, &adv));
                if (b < 0)
                    ok = 0;
                else
                    sb_append_char(&bytes, (char)b);
                k += adv;
            }
            if (!ok) {
                bytes.len = mark;
                sb_append_n(&bytes, t->s, t->n);
            }
        }
        tok_append_lossy(&sb, bytes.data ? bytes.data : "", bytes.len);
        sb_free(&bytes);
        tok_strs_free(v);
        tok_strs_push(v, sb.data ? sb.data : "", sb.len);
        sb_free(&sb);
        return 0;
    }
    case D_FUSE: {
        for (size_t i = 0; i < v->len; i++)
            sb_append_n(&sb, v->data[i].s, v->data[i].n);
        tok_strs_free(v);
        tok_strs_push(v, sb.data ? sb.data : "", sb.len);
        sb_free(&sb);
        return 0;
    }
    case D_BYTEFALLBACK: {
        tok_strs r = {0};
        mlcc_strbuf pend = STRBUF_INIT;
        for (size_t i = 0; i <= v->len; i++) {
            int b = i < v->len ? byte_token(&v->data[i]) : -1;
            if (b >= 0) {
                sb_append_char(&pend, (char)b);
                continue;
            }
            if (pend.len) {
                if (tok_utf8_valid(pend.data, pend.len))
                    tok_strs_push(&r, pend.data, pend.len);
                else
                    for (size_t k = 0; k < pend.len; k++)
                        tok_strs_push(&r, "\xEF\xBF\xBD", 3);
                sb_clear(&pend);
            }
            if (i < v->len) tok_strs_push(&r, v->data[i].s, v->data[i].n);
        }
        sb_free(&pend);
        tok_strs_free(v);
        *v = r;
        return 0;
    }
    case D_METASPACE:
        for (size_t i = 0; i < v->len; i++) {
            const tok_str *t = &v->data[i];
            for (size_t k = 0; k < t->n;) {
                size_t adv;
                uint32_t cp = tok_utf8_decode(t->s + k, t->n - k, &adv);
                if (cp == d->cp) {
                    if (i != 0 || d->prepend_never) sb_append_char(&sb, ' ');
                } else
                    sb_append_n(&sb, t->s + k, adv);
                k += adv;
            }
            replace_all(v, i, &sb);
        }
        sb_free(&sb);
        return 0;
    case D_REPLACE:
        for (size_t i = 0; i < v->len; i++) {
            tok_matches m = {0};
            if (tok_regex_find_all(d->re, ctx, v->data[i].s, v->data[i].n, &m)) {
                vec_free(&m);
                sb_free(&sb);
                return -1;
            }
            size_t prev = 0;
            for (size_t k = 0; k < m.len; k++) {
                sb_append_n(&sb, v->data[i].s + prev, m.data[k].start - prev);
                sb_append_n(&sb, d->content, d->content_len);
                prev = m.data[k].end;
            }
            sb_append_n(&sb, v->data[i].s + prev, v->data[i].n - prev);
            vec_free(&m);
            replace_all(v, i, &sb);
        }
        sb_free(&sb);
        return 0;
    case D_STRIP:
        for (size_t i = 0; i < v->len; i++) {
            const tok_str *t = &v->data[i];
            MLCC_VEC(size_t) at = {0}; /* char boundaries */
            for (size_t k = 0; k < t->n; k += (size_t)tok_utf8_seqlen((unsigned char)t->s[k]))
                vec_push(&at, k);
            size_t nch = at.len, a = 0, b = nch;
            for (size_t k = 0; k < d->start && k < nch; k++) {
                size_t adv;
                if (tok_utf8_decode(t->s + at.data[k], t->n - at.data[k], &adv) == d->cp)
                    a = k + 1;
                else
                    break;
            }
            for (size_t k = 0; k < d->stop && k < nch; k++) {
                size_t idx = nch - k - 1, adv;
                if (tok_utf8_decode(t->s + at.data[idx], t->n - at.data[idx], &adv) == d->cp)
                    b = idx;
                else
                    break;
            }
            if (a < b) {
                size_t from = at.data[a], to = b < nch ? at.data[b] : t->n;
                sb_append_n(&sb, t->s + from, to - from);
            }
            vec_free(&at);
            replace_all(v, i, &sb);
        }
        sb_free(&sb);
        return 0;
    case D_WORDPIECE:
        for (size_t i = 0; i < v->len; i++) {
            const tok_str *t = &v->data[i];
            if (i != 0) {
                if (t->n >= d->content_len && !memcmp(t->s, d->content, d->content_len))
                    sb_append_n(&sb, t->s + d->content_len, t->n - d->content_len);
                else {
                    sb_append_char(&sb, ' ');
                    sb_append_n(&sb, t->s, t->n);
                }
            } else
                sb_append_n(&sb, t->s, t->n);
            if (d->cleanup) wordpiece_cleanup(&sb);
            replace_all(v, i, &sb);
        }
        sb_free(&sb);
        return 0;
    case D_CTC: {
        /* consecutive duplicates collapse, pads vanish, delimiters become spaces */
        tok_strs r = {0};
        for (size_t i = 0; i < v->len; i++) {
            if (i > 0 && v->data[i].n == v->data[i - 1].n &&
                !memcmp(v->data[i].s, v->data[i - 1].s, v->data[i].n))
                continue;
            sb_clear(&sb);
            sb_append_n(&sb, v->data[i].s, v->data[i].n);
            replace_in(&sb, d->pad, "");
            if (d->cleanup) {
                wordpiece_cleanup(&sb);
                replace_in(&sb, d->delim, " ");
            }
            if (sb.len) tok_strs_push(&r, sb.data, sb.len);
        }
        sb_free(&sb);
        tok_strs_free(v);
        *v = r;
        return 0;
    }
    case D_BPE:
        for (size_t i = 0; i < v->len; i++) {
            const tok_str *t = &v->data[i];
            const char *rep = i + 1 == v->len ? "" : " ";
            for (size_t k = 0; k < t->n;) {
                if (k + d->content_len <= t->n && d->content_len &&
                    !memcmp(t->s + k, d->content, d->content_len)) {
                    sb_append(&sb, rep);
                    k += d->content_len;
                } else
                    sb_append_char(&sb, t->s[k++]);
            }
            replace_all(v, i, &sb);
        }
        sb_free(&sb);
        return 0;
    }
    return 0;
}
