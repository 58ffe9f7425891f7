/* normalizer.c - tokenizer.json normalizers: Unicode forms through utf8proc, Lowercase, Strip,
 * StripAccents, Replace, Prepend, BertNormalizer, ByteLevel, Nmt, Precompiled (SentencePiece's
 * compiled character map) and Sequence. Each turns a string into a new one; no alignments are
 * kept, since mlcc reports ids, not offsets. */
#include <string.h>
#include <utf8proc.h>

#include "support/error.h"
#include "tokenizer/tok_internal.h"

enum norm_kind {
    N_NFC,
    N_NFD,
    N_NFKC,
    N_NFKD,
    N_LOWERCASE,
    N_STRIP,
    N_STRIP_ACCENTS,
    N_REPLACE,
    N_PREPEND,
    N_BERT,
    N_BYTELEVEL,
    N_NMT,
    N_PRECOMPILED,
    N_SEQUENCE
};

struct tok_normalizer {
    enum norm_kind kind;
    int left, right; /* Strip */
    tok_regex *re;   /* Replace */
    char *content;   /* Replace content, Prepend text */
    size_t content_len;
    int clean_text, chinese, strip_accents, lowercase; /* Bert */
    uint32_t *trie;                                    /* Precompiled: darts-clone double array */
    size_t trie_len;
    char *norm_blob; /* Precompiled: NUL-separated replacements */
    size_t norm_len;
    tok_normalizer **children;
    size_t n_children;
};

void tok_normalizer_free(tok_normalizer *n) {
    if (!n) return;
    for (size_t i = 0; i < n->n_children; i++)
        tok_normalizer_free(n->children[i]);
    free(n->children);
    tok_regex_free(n->re);
    free(n->content);
    free(n->trie);
    free(n->norm_blob);
    free(n);
}

/* ---- Precompiled: SentencePiece's precompiled_charsmap ---- */

static int base64_decode(const char *in, size_t n, mlcc_strbuf *out) {
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        char c = in[i];
        int v = c >= 'A' && c <= 'Z'   ? c - 'A'
                : c >= 'a' && c <= 'z' ? c - 'a' + 26
                : c >= '0' && c <= '9' ? c - '0' + 52
                : c == '+'             ? 62
                : c == '/'             ? 63
                                       : -1;
        if (c == '=' || c == '\n' || c == '\r') continue;
        if (v < 0) return -1;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            sb_append_char(out, (char)((acc >> bits) & 0xFF));
        }
    }
    return 0;
}

/* The charsmap: u32 trie size in bytes, the trie (u32 units), then the replacement strings. */
static int read_charsmap(tok_normalizer *n, json_t *j, const char *what) {
    json_t *m = json_object_get(j, "precompiled_charsmap");
    mlcc_strbuf bytes = STRBUF_INIT;
    if (json_is_string(m)) {
        if (base64_decode(json_string_value(m), json_string_length(m), &bytes)) {
            sb_free(&bytes);
            return mlcc_set_error("%s: precompiled_charsmap is not valid base64", what);
        }
    } else if (json_is_array(m)) {
        for (size_t i = 0; i < json_array_size(m); i++) {
            json_t *b = json_array_get(m, i);
            if (!json_is_integer(b) || json_integer_value(b) < 0 || json_integer_value(b) > 255) {
                sb_free(&bytes);
                return mlcc_set_error("%s: precompiled_charsmap[%zu] is not a byte", what, i);
            }
            sb_append_char(&bytes, (char)json_integer_value(b));
        }
    } else if (m == NULL || json_is_null(m)) {
        return 0; /* an empty map changes nothing */
    } else {
        return mlcc_set_error("%s: precompiled_charsmap must be a base64 string", what);
    }
    const unsigned char *b = (const unsigned char *)bytes.data;
    uint32_t trie_size = 0;
    if (bytes.len >= 4) memcpy(&trie_size, b, 4);
    if (bytes.len < 4 || trie_size % 4 || trie_size > bytes.len - 4) {
        sb_free(&bytes);
        return mlcc_set_error("%s: precompiled_charsmap is malformed (trie of %u bytes)", what,
                              trie_size);
    }
    n->trie_len = trie_size / 4;
    n->trie = mlcc_xmalloc((n->trie_len + 1) * sizeof *n->trie);
    memcpy(n->trie, b + 4, trie_size);
    n->norm_len = bytes.len - 4 - trie_size;
    n->norm_blob = mlcc_xmalloc(n->norm_len + 1);
    memcpy(n->norm_blob, b + 4 + trie_size, n->norm_len);
    n->norm_blob[n->norm_len] = 0;
    sb_free(&bytes);
    return 0;
}

static uint32_t unit_offset(uint32_t u) {
    return (u >> 10) << ((u & (1u << 9)) >> 6);
}

/* The first (shortest) entry of the trie that is a prefix of s, as an offset into the blob. */
static int64_t charsmap_first_prefix(const tok_normalizer *n, const char *s, size_t len) {
    if (!n->trie_len) return -1;
    size_t pos = unit_offset(n->trie[0]);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == 0) break;
        pos ^= c;
        if (pos >= n->trie_len) return -1;
        uint32_t u = n->trie[pos];
        if ((u & ((1u << 31) | 0xFF)) != c) return -1;
        pos ^= unit_offset(u);
        if (pos >= n->trie_len) return -1;
        if ((u >> 8) & 1) return (int64_t)(n->trie[pos] & ((1u << 31) - 1));
    }
    return -1;
}

/* Appends the replacement of chunk if the map has one for a prefix of it (tokenizers replaces
 * the whole chunk then); returns 1 if it did. */
static int charsmap_transform(const tok_normalizer *n, const char *s, size_t len,
                              mlcc_strbuf *out) {
    int64_t at = charsmap_first_prefix(n, s, len);
    if (at < 0) return 0;
    if ((size_t)at < n->norm_len) sb_append(out, n->norm_blob + at); /* up to its NUL */
    return 1;
}

/* As tokenizers: per extended grapheme cluster, the whole cluster when it is shorter than 6
 * bytes and the map knows it, else character by character. */
static void precompiled(const tok_normalizer *n, const char *s, size_t len, mlcc_strbuf *out) {
    size_t i = 0;
    while (i < len) {
        size_t adv, j = i;
        utf8proc_int32_t state = 0;
        uint32_t prev = tok_utf8_decode(s + j, len - j, &adv);
        j += adv;
        while (j < len) {
            uint32_t cp = tok_utf8_decode(s + j, len - j, &adv);
            if (utf8proc_grapheme_break_stateful((utf8proc_int32_t)prev, (utf8proc_int32_t)cp,
                                                 &state))
                break;
            prev = cp;
            j += adv;
        }
        if (!(j - i < 6 && charsmap_transform(n, s + i, j - i, out))) {
            for (size_t k = i; k < j; k += adv) {
                tok_utf8_decode(s + k, j - k, &adv);
                if (!charsmap_transform(n, s + k, adv, out)) sb_append_n(out, s + k, adv);
            }
        }
        i = j;
    }
}

tok_normalizer *tok_normalizer_from_json(json_t *j, const char *what) {
    const char *type;
    if (!json_is_object(j)) {
        mlcc_set_error("%s: must be an object", what);
        return NULL;
    }
    if (tok_json_str(j, "type", what, &type)) return NULL;
    tok_normalizer *n = mlcc_xcalloc(1, sizeof *n);
    if (!strcmp(type, "NFC"))
        n->kind = N_NFC;
    else if (!strcmp(type, "NFD"))
        n->kind = N_NFD;
    else if (!strcmp(type, "NFKC"))
        n->kind = N_NFKC;
    else if (!strcmp(type, "NFKD"))
        n->kind = N_NFKD;
    else if (!strcmp(type, "Lowercase"))
        n->kind = N_LOWERCASE;
    else if (!strcmp(type, "StripAccents"))
        n->kind = N_STRIP_ACCENTS;
    else if (!strcmp(type, "ByteLevel"))
        n->kind = N_BYTELEVEL;
    else if (!strcmp(type, "Nmt"))
        n->kind = N_NMT;
    else if (!strcmp(type, "Precompiled")) {
        n->kind = N_PRECOMPILED;
        if (read_charsmap(n, j, what)) goto fail;
    } else if (!strcmp(type, "Strip")) {
        n->kind = N_STRIP;
        n->left = tok_json_bool(j, "strip_left", 1);
        n->right = tok_json_bool(j, "strip_right", 1);
    } else if (!strcmp(type, "Replace")) {
        n->kind = N_REPLACE;
        const char *content;
        if (tok_json_str(j, "content", what, &content)) goto fail;
        n->content = mlcc_xstrndup(content, json_string_length(json_object_get(j, "content")));
        n->content_len = json_string_length(json_object_get(j, "content"));
        if (!(n->re = tok_json_pattern(j, what, NULL, NULL))) goto fail;
    } else if (!strcmp(type, "Prepend")) {
        n->kind = N_PREPEND;
        const char *p;
        if (tok_json_str(j, "prepend", what, &p)) goto fail;
        n->content = mlcc_xstrdup(p);
        n->content_len = strlen(p);
    } else if (!strcmp(type, "BertNormalizer")) {
        n->kind = N_BERT;
        n->clean_text = tok_json_bool(j, "clean_text", 1);
        n->chinese = tok_json_bool(j, "handle_chinese_chars", 1);
        n->lowercase = tok_json_bool(j, "lowercase", 1);
        n->strip_accents = tok_json_bool(j, "strip_accents", -1);
        if (n->strip_accents < 0) n->strip_accents = n->lowercase;
    } else if (!strcmp(type, "Sequence")) {
        n->kind = N_SEQUENCE;
        json_t *arr = json_object_get(j, "normalizers");
        if (!json_is_array(arr)) {
            mlcc_set_error("%s: Sequence needs an array 'normalizers'", what);
            goto fail;
        }
        n->children = mlcc_xcalloc(json_array_size(arr) + 1, sizeof *n->children);
        for (size_t i = 0; i < json_array_size(arr); i++) {
            char sub[256];
            snprintf(sub, sizeof sub, "%s.normalizers[%zu]", what, i);
            tok_normalizer *c = tok_normalizer_from_json(json_array_get(arr, i), sub);
            if (!c) goto fail;
            n->children[n->n_children++] = c;
        }
    } else {
        mlcc_set_error("%s: unsupported normalizer type '%s'", what, type);
        goto fail;
    }
    return n;
fail:
    tok_normalizer_free(n);
    return NULL;
}

/* Characters that tokenizers' normalization tables (an older Unicode) do not know, though
 * utf8proc decomposes them or gives them a combining class: tokenizers leaves them alone and
 * treats them as starters. Found by comparing NFD/NFKD of "x\u0345" + c in both (see
 * scripts/gen_tok_unicode.sh). */
static const struct {
    uint32_t lo, hi;
} OPAQUE[] = {
    {0x007FD, 0x007FD}, {0x00898, 0x0089F}, {0x008CA, 0x008D3}, {0x009FE, 0x009FE},
    {0x00C3C, 0x00C3C}, {0x00D3B, 0x00D3C}, {0x00EBA, 0x00EBA}, {0x01715, 0x01715},
    {0x01ABF, 0x01ACE}, {0x01DF6, 0x01DFA}, {0x032FF, 0x032FF}, {0x0A7F2, 0x0A7F4},
    {0x0A82C, 0x0A82C}, {0x0AB69, 0x0AB69}, {0x10781, 0x10785}, {0x10787, 0x107B0},
    {0x107B2, 0x107BA}, {0x10D24, 0x10D27}, {0x10EAB, 0x10EAC}, {0x10EFD, 0x10EFF},
    {0x10F46, 0x10F50}, {0x10F82, 0x10F85}, {0x11070, 0x11070}, {0x1133B, 0x1133B},
    {0x1145E, 0x1145E}, {0x11839, 0x1183A}, {0x11938, 0x11938}, {0x1193D, 0x1193E},
    {0x11943, 0x11943}, {0x119E0, 0x119E0}, {0x11A34, 0x11A34}, {0x11A47, 0x11A47},
    {0x11A99, 0x11A99}, {0x11D42, 0x11D42}, {0x11D44, 0x11D45}, {0x11D97, 0x11D97},
    {0x11F41, 0x11F42}, {0x16FF0, 0x16FF1}, {0x1E030, 0x1E06D}, {0x1E08F, 0x1E08F},
    {0x1E130, 0x1E136}, {0x1E2AE, 0x1E2AE}, {0x1E2EC, 0x1E2EF}, {0x1E4EC, 0x1E4EF},
    {0x1F16C, 0x1F16C}, {0x1FBF0, 0x1FBF9},
};

static int opaque(uint32_t cp) {
    size_t lo = 0, hi = sizeof OPAQUE / sizeof OPAQUE[0];
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (cp < OPAQUE[mid].lo)
            hi = mid;
        else if (cp > OPAQUE[mid].hi)
            lo = mid + 1;
        else
            return 1;
    }
    return 0;
}

static void unicode_form_run(const char *s, size_t len, int opts, mlcc_strbuf *out) {
    utf8proc_uint8_t *dst = NULL;
    utf8proc_ssize_t r = utf8proc_map((const utf8proc_uint8_t *)s, (utf8proc_ssize_t)len, &dst,
                                      (utf8proc_option_t)(opts | UTF8PROC_STABLE));
    if (r < 0)
        sb_append_n(out, s, len); /* cannot happen for valid UTF-8 */
    else
        sb_append_n(out, (const char *)dst, (size_t)r);
    free(dst);
}

/* Normalizes the stretches between opaque characters separately, so that nothing reorders or
 * composes across them, and copies those characters unchanged. */
static void unicode_form_opaque(const char *s, size_t len, int opts, mlcc_strbuf *out) {
    size_t run = 0;
    for (size_t i = 0; i < len;) {
        size_t adv;
        uint32_t cp = tok_utf8_decode(s + i, len - i, &adv);
        if (cp >= 0x7FD && opaque(cp)) {
            if (i > run) unicode_form_run(s + run, i - run, opts, out);
            sb_append_n(out, s + i, adv);
            run = i + adv;
        }
        i += adv;
    }
    if (len > run || len == 0) unicode_form_run(s + run, len - run, opts, out);
}

/* ASCII is left alone by every normalization form, has combining class 0 and is never the second
 * half of a composition, so only each non-ASCII run, with the one ASCII character before it (a
 * base that a combining mark may compose with), needs utf8proc. */
static void unicode_form(const char *s, size_t len, int opts, mlcc_strbuf *out) {
    size_t i = 0;
    while (i < len) {
        size_t j = i;
        while (j < len && (unsigned char)s[j] < 0x80)
            j++;
        if (j == len) {
            sb_append_n(out, s + i, j - i);
            break;
        }
        size_t start = j > i ? j - 1 : j; /* keep the ASCII base with the run */
        sb_append_n(out, s + i, start - i);
        size_t k = j;
        while (k < len && (unsigned char)s[k] >= 0x80)
            k++;
        unicode_form_opaque(s + start, k - start, opts, out);
        i = k;
    }
}

static void put_cp(mlcc_strbuf *out, uint32_t cp) {
    char b[4];
    sb_append_n(out, b, (size_t)mlcc_utf8_encode(cp, b));
}

static void lowercase(const char *s, size_t len, mlcc_strbuf *out) {
    for (size_t i = 0; i < len;) {
        size_t adv;
        uint32_t cp = tok_utf8_decode(s + i, len - i, &adv);
        if (cp < 0x80)
            sb_append_char(out, (char)(cp >= 'A' && cp <= 'Z' ? cp + 32 : cp));
        else {
            uint32_t to[3];
            int k = tok_lowercase_cp(cp, to);
            for (int j = 0; j < k; j++)
                put_cp(out, to[j]);
        }
        i += adv;
    }
}

/* Drops the characters for which is_mark holds. */
static void strip_marks(const char *s, size_t len, int (*is_mark)(uint32_t), mlcc_strbuf *out) {
    for (size_t i = 0; i < len;) {
        size_t adv;
        uint32_t cp = tok_utf8_decode(s + i, len - i, &adv);
        if (!is_mark(cp)) sb_append_n(out, s + i, adv);
        i += adv;
    }
}

static int is_chinese(uint32_t c) {
    return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) ||
           (c >= 0x20000 && c <= 0x2A6DF) || (c >= 0x2A700 && c <= 0x2B73F) ||
           (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B920 && c <= 0x2CEAF) ||
           (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

static void bert(const tok_normalizer *n, const char *s, size_t len, mlcc_strbuf *out) {
    mlcc_strbuf a = STRBUF_INIT, b = STRBUF_INIT;
    for (size_t i = 0; i < len;) {
        size_t adv;
        uint32_t cp = tok_utf8_decode(s + i, len - i, &adv);
        i += adv;
        if (n->clean_text) {
            int ws = cp == '\t' || cp == '\n' || cp == '\r' || tok_is_whitespace(cp);
            int ctl = !(cp == '\t' || cp == '\n' || cp == '\r') && tok_is_bert_control(cp);
            if (cp == 0 || cp == 0xFFFD || ctl) continue;
            if (ws) cp = ' ';
        }
        if (n->chinese && is_chinese(cp)) {
            sb_append_char(&a, ' ');
            put_cp(&a, cp);
            sb_append_char(&a, ' ');
        } else
            put_cp(&a, cp);
    }
    if (n->strip_accents) {
        mlcc_strbuf d = STRBUF_INIT;
        unicode_form(a.data ? a.data : "", a.len, UTF8PROC_DECOMPOSE, &d);
        strip_marks(d.data ? d.data : "", d.len, tok_is_bert_nonspacing_mark, &b);
        sb_free(&d);
    } else
        sb_append_n(&b, a.data ? a.data : "", a.len);
    if (n->lowercase)
        lowercase(b.data ? b.data : "", b.len, out);
    else
        sb_append_n(out, b.data ? b.data : "", b.len);
    sb_free(&a);
    sb_free(&b);
}

int tok_normalize(const tok_normalizer *n, tok_ctx *ctx, const char *s, size_t len,
                  mlcc_strbuf *out) {
    switch (n->kind) {
    case N_NFC:
        unicode_form(s, len, UTF8PROC_COMPOSE, out);
        return 0;
    case N_NFD:
        unicode_form(s, len, UTF8PROC_DECOMPOSE, out);
        return 0;
    case N_NFKC:
        unicode_form(s, len, UTF8PROC_COMPOSE | UTF8PROC_COMPAT, out);
        return 0;
    case N_NFKD:
        unicode_form(s, len, UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT, out);
        return 0;
    case N_LOWERCASE:
        lowercase(s, len, out);
        return 0;
    case N_STRIP_ACCENTS:
        strip_marks(s, len, tok_is_combining_mark, out);
        return 0;
    case N_BERT:
        bert(n, s, len, out);
        return 0;
    case N_BYTELEVEL:
        for (size_t i = 0; i < len; i++)
            put_cp(out, tok_byte_to_cp((unsigned char)s[i]));
        return 0;
    case N_PRECOMPILED:
        if (n->trie_len)
            precompiled(n, s, len, out);
        else
            sb_append_n(out, s, len);
        return 0;
    case N_NMT:
        /* SentencePiece's NMT rules: drop ASCII controls, turn other blanks into spaces */
        for (size_t i = 0; i < len;) {
            size_t adv;
            uint32_t cp = tok_utf8_decode(s + i, len - i, &adv);
            if ((cp >= 1 && cp <= 8) || cp == 0xB || (cp >= 0xE && cp <= 0x1F) || cp == 0x7F ||
                cp == 0x8F || cp == 0x9F) {
                /* dropped */
            } else if (cp == 9 || cp == 0xA || cp == 0xC || cp == 0xD || cp == 0x1680 ||
                       (cp >= 0x200B && cp <= 0x200F) || cp == 0x2028 || cp == 0x2029 ||
                       cp == 0x2581 || cp == 0xFEFF || cp == 0xFFFD) {
                sb_append_char(out, ' ');
            } else {
                sb_append_n(out, s + i, adv);
            }
            i += adv;
        }
        return 0;
    case N_PREPEND:
        if (len) sb_append_n(out, n->content, n->content_len);
        sb_append_n(out, s, len);
        return 0;
    case N_STRIP: {
        size_t a = 0, b = len;
        while (n->left && a < b) {
            size_t adv;
            uint32_t cp = tok_utf8_decode(s + a, b - a, &adv);
            if (!tok_is_whitespace(cp)) break;
            a += adv;
        }
        while (n->right && b > a) {
            size_t k = b - 1;
            while (k > a && ((unsigned char)s[k] & 0xC0) == 0x80)
                k--;
            size_t adv;
            uint32_t cp = tok_utf8_decode(s + k, b - k, &adv);
            if (!tok_is_whitespace(cp)) break;
            b = k;
        }
        sb_append_n(out, s + a, b - a);
        return 0;
    }
    case N_REPLACE: {
        tok_matches m = {0};
        if (tok_regex_find_all(n->re, ctx, s, len, &m)) {
            vec_free(&m);
            return -1;
        }
        size_t prev = 0;
        for (size_t i = 0; i < m.len; i++) {
            sb_append_n(out, s + prev, m.data[i].start - prev);
            sb_append_n(out, n->content, n->content_len);
            prev = m.data[i].end;
        }
        sb_append_n(out, s + prev, len - prev);
        vec_free(&m);
        return 0;
    }
    case N_SEQUENCE: {
        mlcc_strbuf cur = STRBUF_INIT, next = STRBUF_INIT;
        sb_append_n(&cur, s, len);
        for (size_t i = 0; i < n->n_children; i++) {
            sb_clear(&next);
            if (tok_normalize(n->children[i], ctx, cur.data ? cur.data : "", cur.len, &next)) {
                sb_free(&cur);
                sb_free(&next);
                return -1;
            }
            mlcc_strbuf t = cur;
            cur = next;
            next = t;
        }
        sb_append_n(out, cur.data ? cur.data : "", cur.len);
        sb_free(&cur);
        sb_free(&next);
        return 0;
    }
    }
    return 0;
}
