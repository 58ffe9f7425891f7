/* pretokenizer.c - tokenizer.json pre-tokenizers: ByteLevel (with or without its GPT-2 regex),
 * Split (string or regex, five behaviours, invert), Metaspace (prepend_scheme, split), Digits,
 * Punctuation, Whitespace, WhitespaceSplit, BertPreTokenizer, CharDelimiterSplit, Sequence.
 * Each takes one piece and appends the pieces it splits into. */
#include <string.h>

#include "support/error.h"
#include "tokenizer/tok_internal.h"

enum pt_kind {
    PT_BYTELEVEL,
    PT_SPLIT,
    PT_METASPACE,
    PT_DIGITS,
    PT_PUNCTUATION,
    PT_WHITESPACE,
    PT_WHITESPACE_SPLIT,
    PT_BERT,
    PT_CHAR_DELIMITER,
    PT_SEQUENCE
};
enum { PREPEND_ALWAYS, PREPEND_FIRST, PREPEND_NEVER };

struct tok_pretok {
    enum pt_kind kind;
    int add_prefix_space, use_regex;  /* ByteLevel */
    tok_regex *re;                    /* Split, ByteLevel, Whitespace */
    enum tok_split_behavior behavior; /* Split, Punctuation */
    int invert;
    char rep[8]; /* Metaspace replacement (UTF-8) */
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
    for (size_t i = 0; i < p->n_children; i++)
        tok_pretok_free(p->children[i]);
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
    if (buf) {
        memcpy(buf, s, n);
        *blen = n;
    }
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
        if (scheme && !strcmp(scheme, "first"))
            p->prepend_scheme = PREPEND_FIRST;
        else if (scheme && !strcmp(scheme, "never"))
            p->prepend_scheme = PREPEND_NEVER;
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

/* Per-depth scratch: a stage may call the next stage while its own buffers are live. */
typedef struct scope {
    tok_ctx *ctx;
    int depth;
} scope;

static int enter(tok_ctx *ctx, scope *sc) {
    if (ctx->depth >= TOK_MAX_DEPTH)
        return mlcc_set_error("pre-tokenizers nested deeper than %d", TOK_MAX_DEPTH);
    sc->ctx = ctx;
    sc->depth = ctx->depth++;
    return 0;
}
static void leave(scope *sc) {
    sc->ctx->depth = sc->depth;
}
static tok_matches *scope_matches(scope *sc) {
    tok_matches *m = &sc->ctx->matches[sc->depth];
    vec_clear(m);
    return m;
}
static mlcc_strbuf *scope_buf(scope *sc) {
    mlcc_strbuf *b = &sc->ctx->scratch[sc->depth];
    sb_clear(b);
    return b;
}

/* Splits on characters for which pred holds (each such character is one match). */
static int split_pred(scope *sc, const char *s, size_t n, int (*pred)(uint32_t, const tok_pretok *),
                      const tok_pretok *p, enum tok_split_behavior b, unsigned flags,
                      tok_emit_fn emit, void *arg) {
    tok_matches *m = scope_matches(sc);
    for (size_t i = 0; i < n;) {
        size_t adv;
        uint32_t cp = tok_utf8_decode(s + i, n - i, &adv);
        if (pred(cp, p)) {
            tok_match x = {i, i + adv};
            vec_push(m, x);
        }
        i += adv;
    }
    return tok_split_by_matches(s, n, m, 0, b, flags, emit, arg);
}

static int pred_ws(uint32_t c, const tok_pretok *p) {
    (void)p;
    return tok_is_whitespace(c);
}
static int pred_num(uint32_t c, const tok_pretok *p) {
    (void)p;
    return tok_is_numeric(c);
}
static int pred_punct(uint32_t c, const tok_pretok *p) {
    (void)p;
    return tok_is_punctuation(c);
}
static int pred_delim(uint32_t c, const tok_pretok *p) {
    return c == p->delim_cp;
}
static int pred_rep(uint32_t c, const tok_pretok *p) {
    return c == p->rep_cp;
}

static int split_regex(scope *sc, const tok_regex *re, const char *s, size_t n, int invert,
                       enum tok_split_behavior b, unsigned flags, tok_emit_fn emit, void *arg) {
    tok_matches *m = scope_matches(sc);
    if (tok_regex_find_all(re, sc->ctx, s, n, m)) return -1;
    return tok_split_by_matches(s, n, m, invert, b, flags, emit, arg);
}

/* The GPT-2 byte-to-character map, applied to one piece. */
typedef struct byte_map_arg {
    mlcc_strbuf *buf;
    tok_emit_fn emit;
    void *arg;
} byte_map_arg;

static int byte_map_emit(void *a, const char *s, size_t n, unsigned flags) {
    static char table[256][2];
    static unsigned char tlen[256];
    static int ready;
    byte_map_arg *bm = a;
    if (!__atomic_load_n(&ready, __ATOMIC_ACQUIRE)) {
        for (int b = 0; b < 256; b++) {
            char u[4];
            tlen[b] = (unsigned char)mlcc_utf8_encode(tok_byte_to_cp((unsigned char)b), u);
            memcpy(table[b], u, tlen[b]);
        }
        __atomic_store_n(&ready, 1, __ATOMIC_RELEASE);
    }
    sb_clear(bm->buf);
    sb_reserve(bm->buf, 2 * n + 1);
    char *d = bm->buf->data;
    for (size_t i = 0; i < n; i++) {
        unsigned char b = (unsigned char)s[i];
        d[0] = table[b][0];
        d[1] = table[b][1];
        d += tlen[b];
    }
    size_t len = (size_t)(d - bm->buf->data);
    bm->buf->len = len;
    bm->buf->data[len] = 0;
    return bm->emit(bm->arg, bm->buf->data, len, flags);
}

/* Sequence: a piece made by stage `next - 1` goes on through stage `next`. */
typedef struct seq_link {
    const tok_pretok *seq;
    size_t next;
    tok_ctx *ctx;
    tok_emit_fn emit;
    void *arg;
} seq_link;

static int seq_emit(void *a, const char *s, size_t n, unsigned flags) {
    seq_link *l = a;
    if (n == 0) return 0;
    if (l->next == l->seq->n_children) return l->emit(l->arg, s, n, flags);
    seq_link nl = *l;
    nl.next++;
    return tok_pretokenize(l->seq->children[l->next], l->ctx, s, n, flags, seq_emit, &nl);
}

/* BertPreTokenizer: whitespace removed, then punctuation isolated within each piece. */
typedef struct bert_arg {
    scope *sc;
    const tok_pretok *p;
    tok_emit_fn emit;
    void *arg;
} bert_arg;

static int bert_emit(void *a, const char *s, size_t n, unsigned flags) {
    bert_arg *ba = a;
    scope inner = {NULL, 0};
    if (enter(ba->sc->ctx, &inner)) return -1;
    int rc =
        split_pred(&inner, s, n, pred_punct, ba->p, TOK_SPLIT_ISOLATED, flags, ba->emit, ba->arg);
    leave(&inner);
    return rc;
}

static int apply(const tok_pretok *p, scope *sc, const char *s, size_t n, unsigned flags,
                 tok_emit_fn emit, void *arg) {
    switch (p->kind) {
    case PT_BYTELEVEL: {
        mlcc_strbuf *tmp = scope_buf(sc);
        if (p->add_prefix_space && (n == 0 || s[0] != ' ')) {
            sb_append_char(tmp, ' ');
            sb_append_n(tmp, s, n);
            s = tmp->data;
            n = tmp->len;
        }
        /* the mapped bytes go to a buffer of the next depth */
        scope inner = {NULL, 0};
        if (enter(sc->ctx, &inner)) return -1;
        byte_map_arg bm = {scope_buf(&inner), emit, arg};
        int rc = 0;
        if (p->use_regex)
            rc = split_regex(sc, p->re, s, n, 0, TOK_SPLIT_ISOLATED, flags, byte_map_emit, &bm);
        else if (n)
            rc = byte_map_emit(&bm, s, n, flags);
        leave(&inner);
        return rc;
    }
    case PT_SPLIT:
        return split_regex(sc, p->re, s, n, p->invert, p->behavior, flags, emit, arg);
    case PT_WHITESPACE: {
        /* the regex crate's \w+|[^\w\s]+: runs of word characters or of other non-space */
        size_t i = 0;
        while (i < n) {
            size_t adv;
            uint32_t cp = tok_utf8_decode(s + i, n - i, &adv);
            if (tok_is_whitespace(cp)) {
                i += adv;
                continue;
            }
            int word = tok_is_alphanumeric_word(cp);
            size_t j = i + adv;
            while (j < n) {
                uint32_t c2 = tok_utf8_decode(s + j, n - j, &adv);
                if (tok_is_whitespace(c2) || tok_is_alphanumeric_word(c2) != word) break;
                j += adv;
            }
            if (emit(arg, s + i, j - i, i == 0 ? flags : (flags & ~TOK_PIECE_AT_START))) return -1;
            i = j;
        }
        return 0;
    }
    case PT_WHITESPACE_SPLIT:
        return split_pred(sc, s, n, pred_ws, p, TOK_SPLIT_REMOVED, flags, emit, arg);
    case PT_DIGITS:
        return split_pred(sc, s, n, pred_num, p,
                          p->individual_digits ? TOK_SPLIT_ISOLATED : TOK_SPLIT_CONTIGUOUS, flags,
                          emit, arg);
    case PT_PUNCTUATION:
        return split_pred(sc, s, n, pred_punct, p, p->behavior, flags, emit, arg);
    case PT_CHAR_DELIMITER:
        return split_pred(sc, s, n, pred_delim, p, TOK_SPLIT_REMOVED, flags, emit, arg);
    case PT_BERT: {
        bert_arg ba = {sc, p, emit, arg};
        return split_pred(sc, s, n, pred_ws, p, TOK_SPLIT_REMOVED, flags, bert_emit, &ba);
    }
    case PT_METASPACE: {
        mlcc_strbuf *t = scope_buf(sc);
        sb_reserve(t, n + p->rep_len + 1);
        int starts =
            n > 0 &&
            (n >= 1 && s[0] == ' ' ? 1 : (n >= p->rep_len && memcmp(s, p->rep, p->rep_len) == 0));
        if (!starts && (p->prepend_scheme == PREPEND_ALWAYS ||
                        (p->prepend_scheme == PREPEND_FIRST && (flags & TOK_PIECE_AT_START))))
            sb_append_n(t, p->rep, p->rep_len);
        for (size_t i = 0; i < n; i++) {
            if (s[i] == ' ')
                sb_append_n(t, p->rep, p->rep_len);
            else
                sb_append_char(t, s[i]);
        }
        if (!t->len) return 0;
        if (p->split) {
            /* the split's match list lives one depth down: t is this depth's buffer */
            scope inner = {NULL, 0};
            if (enter(sc->ctx, &inner)) return -1;
            int rc = split_pred(&inner, t->data, t->len, pred_rep, p, TOK_SPLIT_MERGED_NEXT, flags,
                                emit, arg);
            leave(&inner);
            return rc;
        }
        return emit(arg, t->data, t->len, flags);
    }
    case PT_SEQUENCE: {
        seq_link l = {p, 0, sc->ctx, emit, arg};
        return seq_emit(&l, s, n, flags);
    }
    }
    return 0;
}

int tok_pretokenize(const tok_pretok *p, tok_ctx *ctx, const char *s, size_t n, unsigned flags,
                    tok_emit_fn emit, void *arg) {
    scope sc = {NULL, 0};
    if (enter(ctx, &sc)) return -1;
    int rc = apply(p, &sc, s, n, flags, emit, arg);
    leave(&sc);
    return rc;
}
