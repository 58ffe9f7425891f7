/* pretokenizer.c - tokenizer.json pre-tokenizers: ByteLevel (with or without its GPT-2 regex),
 * Split (string or regex, five behaviours, invert), Metaspace (prepend_scheme, split), Digits,
 * Punctuation, Whitespace, WhitespaceSplit, BertPreTokenizer, CharDelimiterSplit, Sequence.
 * Each takes one piece and appends the pieces it splits into. */
#include <string.h>

#include "support/error.h"
#include "tokenizer/tok_internal.h"

enum pt_kind {
    PT_BYTELEVEL, PT_SPLIT, PT_METASPACE, PT_DIGITS, PT_PUNCTUATION, PT_WHITESPACE,
    PT_WHITESPACE_SPLIT, PT_BERT, PT_CHAR_DELIMITER, PT_SEQUENCE
};
enum { PREPEND_ALWAYS, PREPEND_FIRST, PREPEND_NEVER };

struct tok_pretok {
    enum pt_kind kind;
    int add_prefix_space, use_regex;       /* ByteLevel */
    tok_regex *re;                         /* Split, ByteLevel, Whitespace */
    enum tok_split_behavior behavior;      /* Split, Punctuation */
    int invert;
    char rep[8];                           /* Metaspace replacement (UTF-8) */
    size_t rep_len;
    uint32_t rep_cp, delim_cp;
    int prepend_scheme, split;
    int individual_digits;
    tok_pretok **children;
    size_t n_children;
};

static const char *GPT2_REGEX =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

void tok_pretok_free(tok_pretok *p) {
    if (!p) return;
    for (size_t i = 0; i < p->n_children; i++) tok_pretok_free(p->children[i]);
    free(p->children);
    tok_regex_free(p->re);
    free(p);
}

static int one_char(json_t *j, const char *key, const char *what, uint32_t *cp, char *buf,
                    size_t *blen) {
    const char *s;
    if (tok_json_str(j, key, what, &s)) return -1;
    size_t n = strlen(s), adv;
    if (n == 0 || n > 4) return mlcc_set_error("%s: field '%s' must be one character", what, key);
    *cp = tok_utf8_decode(s, n, &adv);
    if (adv != n) return mlcc_set_error("%s: field '%s' must be one character", what, key);
    if (buf) { memcpy(buf, s, n); *blen = n; }
    return 0;
}

tok_pretok *tok_pretok_from_json(json_t *j, const char *what) {
    const char *type;
    if (!json_is_object(j)) {
        mlcc_set_error("%s: must be an object", what);
        return NULL;
    }
    if (tok_json_str(j, "type", what, &type)) return NULL;
    tok_pretok *p = mlcc_xcalloc(1, sizeof *p);
    if (!strcmp(type, "ByteLevel")) {
        p->kind = PT_BYTELEVEL;
        p->add_prefix_space = tok_json_bool(j, "add_prefix_space", 1);
        p->use_regex = tok_json_bool(j, "use_regex", 1);
        if (p->use_regex && !(p->re = tok_regex_new(GPT2_REGEX, strlen(GPT2_REGEX), 0))) goto fail;
    } else if (!strcmp(type, "Split")) {
        p->kind = PT_SPLIT;
        const char *b;
        if (!(p->re = tok_json_pattern(j, what, NULL, NULL))) goto fail;
        if (tok_json_str(j, "behavior", what, &b)) goto fail;
        if (tok_parse_behavior(b, &p->behavior)) {
            mlcc_set_error("%s: unknown split behavior '%s'", what, b);
            goto fail;
        }
        p->invert = tok_json_bool(j, "invert", 0);
    } else if (!strcmp(type, "Metaspace")) {
        p->kind = PT_METASPACE;
        if (one_char(j, "replacement", what, &p->rep_cp, p->rep, &p->rep_len)) goto fail;
        const char *scheme;
        tok_json_opt_str(j, "prepend_scheme", &scheme);
        p->prepend_scheme = PREPEND_ALWAYS;
        if (scheme && !strcmp(scheme, "first")) p->prepend_scheme = PREPEND_FIRST;
        else if (scheme && !strcmp(scheme, "never")) p->prepend_scheme = PREPEND_NEVER;
        else if (scheme && strcmp(scheme, "always")) {
            mlcc_set_error("%s: unknown prepend_scheme '%s'", what, scheme);
            goto fail;
        }
        if (tok_json_bool(j, "add_prefix_space", 1) == 0) p->prepend_scheme = PREPEND_NEVER;
        p->split = tok_json_bool(j, "split", 1);
    } else if (!strcmp(type, "Digits")) {
        p->kind = PT_DIGITS;
        p->individual_digits = tok_json_bool(j, "individual_digits", 0);
    } else if (!strcmp(type, "Punctuation")) {
        p->kind = PT_PUNCTUATION;
        const char *b = NULL;
        tok_json_opt_str(j, "behavior", &b);
        p->behavior = TOK_SPLIT_ISOLATED;
        if (b && tok_parse_behavior(b, &p->behavior)) {
            mlcc_set_error("%s: unknown split behavior '%s'", what, b);
            goto fail;
        }
    } else if (!strcmp(type, "Whitespace")) {
        p->kind = PT_WHITESPACE;
    } else if (!strcmp(type, "WhitespaceSplit")) {
        p->kind = PT_WHITESPACE_SPLIT;
    } else if (!strcmp(type, "BertPreTokenizer")) {
        p->kind = PT_BERT;
    } else if (!strcmp(type, "CharDelimiterSplit")) {
        p->kind = PT_CHAR_DELIMITER;
        if (one_char(j, "delimiter", what, &p->delim_cp, NULL, NULL)) goto fail;
    } else if (!strcmp(type, "Sequence")) {
        p->kind = PT_SEQUENCE;
        json_t *arr = json_object_get(j, "pretokenizers");
        if (!json_is_array(arr)) {
            mlcc_set_error("%s: Sequence needs an array 'pretokenizers'", what);
            goto fail;
        }
        p->children = mlcc_xcalloc(json_array_size(arr) + 1, sizeof *p->children);
        for (size_t i = 0; i < json_array_size(arr); i++) {
            char sub[256];
            snprintf(sub, sizeof sub, "%s.pretokenizers[%zu]", what, i);
            tok_pretok *c = tok_pretok_from_json(json_array_get(arr, i), sub);
            if (!c) goto fail;
            p->children[p->n_children++] = c;
        }
    } else {
        mlcc_set_error("%s: unsupported pre-tokenizer type '%s'", what, type);
        goto fail;
    }
    return p;
fail:
    tok_pretok_free(p);
    return NULL;
}

/* Splits on characters for which pred holds (each such character is one match). */
static void split_pred(const char *s, size_t n, int (*pred)(uint32_t, const tok_pretok *),
                       const tok_pretok *p, enum tok_split_behavior b, unsigned flags,
                       tok_pieces *out) {
    tok_matches m = {0};
    for (size_t i = 0; i < n;) {
        size_t adv;
        uint32_t cp = tok_utf8_decode(s + i, n - i, &adv);
        if (pred(cp, p)) { tok_match x = {i, i + adv}; vec_push(&m, x); }
        i += adv;
    }
    tok_split_by_matches(s, n, &m, 0, b, flags, out);
    vec_free(&m);
}

static int pred_ws(uint32_t c, const tok_pretok *p) { (void)p; return tok_is_whitespace(c); }
static int pred_num(uint32_t c, const tok_pretok *p) { (void)p; return tok_is_numeric(c); }
static int pred_punct(uint32_t c, const tok_pretok *p) { (void)p; return tok_is_punctuation(c); }
static int pred_delim(uint32_t c, const tok_pretok *p) { return c == p->delim_cp; }
static int pred_rep(uint32_t c, const tok_pretok *p) { return c == p->rep_cp; }

static int split_regex(const tok_regex *re, tok_ctx *ctx, const char *s, size_t n, int invert,
                       enum tok_split_behavior b, unsigned flags, tok_pieces *out) {
    tok_matches m = {0};
    if (tok_regex_find_all(re, ctx, s, n, &m)) { vec_free(&m); return -1; }
    tok_split_by_matches(s, n, &m, invert, b, flags, out);
    vec_free(&m);
    return 0;
}

static void byte_map(const char *s, size_t n, unsigned flags, tok_pieces *out) {
    static char table[256][2];
    static unsigned char tlen[256];
    static int ready;
    if (!__atomic_load_n(&ready, __ATOMIC_ACQUIRE)) {
        for (int b = 0; b < 256; b++) {
            char u[4];
            tlen[b] = (unsigned char)tok_utf8_encode(tok_byte_to_cp((unsigned char)b), u);
            memcpy(table[b], u, tlen[b]);
        }
        __atomic_store_n(&ready, 1, __ATOMIC_RELEASE);
    }
    tok_span sp = {out->buf.len, 0, -1, flags};
    sb_reserve(&out->buf, 2 * n + 1);
    char *d = out->buf.data + out->buf.len;
    for (size_t i = 0; i < n; i++) {
        unsigned char b = (unsigned char)s[i];
        d[0] = table[b][0];
        if (tlen[b] == 2) d[1] = table[b][1];
        d += tlen[b];
    }
    size_t wrote = (size_t)(d - (out->buf.data + out->buf.len));
    out->buf.len += wrote;
    out->buf.data[out->buf.len] = 0;
    sp.len = wrote;
    vec_push(&out->v, sp);
}

int tok_pretokenize(const tok_pretok *p, tok_ctx *ctx, const char *s, size_t n, unsigned flags,
                    tok_pieces *out) {
    switch (p->kind) {
    case PT_BYTELEVEL: {
        mlcc_strbuf tmp = STRBUF_INIT;
        if (p->add_prefix_space && (n == 0 || s[0] != ' ')) {
            sb_append_char(&tmp, ' ');
            sb_append_n(&tmp, s, n);
            s = tmp.data;
            n = tmp.len;
        }
        if (p->use_regex) {
            tok_pieces parts = {0};
            if (split_regex(p->re, ctx, s, n, 0, TOK_SPLIT_ISOLATED, flags, &parts)) {
                tok_pieces_free(&parts);
                sb_free(&tmp);
                return -1;
            }
            for (size_t i = 0; i < parts.v.len; i++)
                byte_map(TOK_PIECE_STR(&parts, i), parts.v.data[i].len, parts.v.data[i].flags, out);
            tok_pieces_free(&parts);
        } else if (n) {
            byte_map(s, n, flags, out);
        }
        sb_free(&tmp);
        return 0;
    }
    case PT_SPLIT:
        return split_regex(p->re, ctx, s, n, p->invert, p->behavior, flags, out);
    case PT_WHITESPACE: {
        /* the regex crate's \w+|[^\w\s]+, runs of word characters or of other non-space */
        size_t i = 0;
        while (i < n) {
            size_t adv;
            uint32_t cp = tok_utf8_decode(s + i, n - i, &adv);
            if (tok_is_whitespace(cp)) { i += adv; continue; }
            int word = tok_is_alphanumeric_word(cp);
            size_t j = i + adv;
            while (j < n) {
                uint32_t c2 = tok_utf8_decode(s + j, n - j, &adv);
                if (tok_is_whitespace(c2) || tok_is_alphanumeric_word(c2) != word) break;
                j += adv;
            }
            tok_pieces_add(out, s + i, j - i, -1, i == 0 ? flags : (flags & ~TOK_PIECE_AT_START));
            i = j;
        }
        return 0;
    }
    case PT_WHITESPACE_SPLIT:
        split_pred(s, n, pred_ws, p, TOK_SPLIT_REMOVED, flags, out);
        return 0;
    case PT_DIGITS:
        split_pred(s, n, pred_num, p, p->individual_digits ? TOK_SPLIT_ISOLATED : TOK_SPLIT_CONTIGUOUS,
                   flags, out);
        return 0;
    case PT_PUNCTUATION:
        split_pred(s, n, pred_punct, p, p->behavior, flags, out);
        return 0;
    case PT_CHAR_DELIMITER:
        split_pred(s, n, pred_delim, p, TOK_SPLIT_REMOVED, flags, out);
        return 0;
    case PT_BERT: {
        tok_pieces parts = {0};
        split_pred(s, n, pred_ws, p, TOK_SPLIT_REMOVED, flags, &parts);
        for (size_t i = 0; i < parts.v.len; i++)
            split_pred(TOK_PIECE_STR(&parts, i), parts.v.data[i].len, pred_punct, p,
                       TOK_SPLIT_ISOLATED, parts.v.data[i].flags, out);
        tok_pieces_free(&parts);
        return 0;
    }
    case PT_METASPACE: {
        mlcc_strbuf t = STRBUF_INIT;
        for (size_t i = 0; i < n; i++) {
            if (s[i] == ' ') sb_append_n(&t, p->rep, p->rep_len);
            else sb_append_char(&t, s[i]);
        }
        int starts = t.len >= p->rep_len && memcmp(t.data, p->rep, p->rep_len) == 0;
        if (!starts && (p->prepend_scheme == PREPEND_ALWAYS ||
                        (p->prepend_scheme == PREPEND_FIRST && (flags & TOK_PIECE_AT_START)))) {
            mlcc_strbuf u = STRBUF_INIT;
            sb_append_n(&u, p->rep, p->rep_len);
            sb_append_n(&u, t.data ? t.data : "", t.len);
            sb_free(&t);
            t = u;
        }
        if (p->split) split_pred(t.data ? t.data : "", t.len, pred_rep, p, TOK_SPLIT_MERGED_NEXT, flags, out);
        else if (t.len) tok_pieces_add(out, t.data, t.len, -1, flags);
        sb_free(&t);
        return 0;
    }
    case PT_SEQUENCE: {
        tok_pieces cur = {0}, next = {0};
        tok_pieces_add(&cur, s, n, -1, flags);
        for (size_t c = 0; c < p->n_children; c++) {
            tok_pieces_clear(&next);
            for (size_t i = 0; i < cur.v.len; i++) {
                if (tok_pretokenize(p->children[c], ctx, TOK_PIECE_STR(&cur, i), cur.v.data[i].len,
                                    cur.v.data[i].flags, &next)) {
                    tok_pieces_free(&cur);
                    tok_pieces_free(&next);
                    return -1;
                }
            }
            tok_pieces t = cur; cur = next; next = t;
        }
        for (size_t i = 0; i < cur.v.len; i++)
            if (cur.v.data[i].len)
                tok_pieces_add(out, TOK_PIECE_STR(&cur, i), cur.v.data[i].len, -1, cur.v.data[i].flags);
        tok_pieces_free(&cur);
        tok_pieces_free(&next);
        return 0;
    }
    }
    return 0;
}
