/* tok_unicode.c - the Unicode character database as Hugging Face tokenizers sees it.
 *
 * tokenizers matches its regexes with Oniguruma, whose tables are Unicode 16.0; Debian's PCRE2
 * (10.42) has Unicode 14. Characters assigned since then would split differently (e.g. a new
 * symbol after a space), so EXTRA lists every code point that tokenizers 0.23.2 treats as
 * assigned but PCRE2 or utf8proc treats as unassigned, with its general category, and the regex
 * rewriter widens \p{..} with them; \s, \d, \w (and \S, \D, \W) become explicit classes of
 * exactly what Oniguruma matches for them. The per-component predicates (what BertNormalizer
 * removes, what StripAccents strips, what Punctuation and Digits split on, what Lowercase maps
 * to, the regex crate's \w) come from tok_unicode_tables.c, probed code point by code point
 * from tokenizers itself. All tables are made by scripts/gen_tok_unicode.sh. */
#include <string.h>

#include "support/error.h"
#include "tokenizer/tok_internal.h"
#include "tokenizer/tok_unicode_tables.h"

typedef struct extra_range {
    uint32_t lo, hi;
    const char *cat;
} extra_range;

static const extra_range EXTRA[] = {
    {0x00897, 0x00897, "Mn"}, {0x00CF3, 0x00CF3, "Mc"}, {0x00ECE, 0x00ECE, "Mn"},
    {0x01B4E, 0x01B4F, "Po"}, {0x01B7F, 0x01B7F, "Po"}, {0x01C89, 0x01C89, "Lu"},
    {0x01C8A, 0x01C8A, "Ll"}, {0x02427, 0x02429, "So"}, {0x02FFC, 0x02FFF, "So"},
    {0x031E4, 0x031E5, "So"}, {0x031EF, 0x031EF, "So"}, {0x0A7CB, 0x0A7CC, "Lu"},
    {0x0A7CD, 0x0A7CD, "Ll"}, {0x0A7DA, 0x0A7DA, "Lu"}, {0x0A7DB, 0x0A7DB, "Ll"},
    {0x0A7DC, 0x0A7DC, "Lu"}, {0x105C0, 0x105F3, "Lo"}, {0x10D40, 0x10D49, "Nd"},
    {0x10D4A, 0x10D4D, "Lo"}, {0x10D4E, 0x10D4E, "Lm"}, {0x10D4F, 0x10D4F, "Lo"},
    {0x10D50, 0x10D65, "Lu"}, {0x10D69, 0x10D6D, "Mn"}, {0x10D6E, 0x10D6E, "Pd"},
    {0x10D6F, 0x10D6F, "Lm"}, {0x10D70, 0x10D85, "Ll"}, {0x10D8E, 0x10D8F, "Sm"},
    {0x10EC2, 0x10EC4, "Lo"}, {0x10EFC, 0x10EFF, "Mn"}, {0x1123F, 0x11240, "Lo"},
    {0x11241, 0x11241, "Mn"}, {0x11380, 0x11389, "Lo"}, {0x1138B, 0x1138B, "Lo"},
    {0x1138E, 0x1138E, "Lo"}, {0x11390, 0x113B5, "Lo"}, {0x113B7, 0x113B7, "Lo"},
    {0x113B8, 0x113BA, "Mc"}, {0x113BB, 0x113C0, "Mn"}, {0x113C2, 0x113C2, "Mc"},
    {0x113C5, 0x113C5, "Mc"}, {0x113C7, 0x113CA, "Mc"}, {0x113CC, 0x113CD, "Mc"},
    {0x113CE, 0x113CE, "Mn"}, {0x113CF, 0x113CF, "Mc"}, {0x113D0, 0x113D0, "Mn"},
    {0x113D1, 0x113D1, "Lo"}, {0x113D2, 0x113D2, "Mn"}, {0x113D3, 0x113D3, "Lo"},
    {0x113D4, 0x113D5, "Po"}, {0x113D7, 0x113D8, "Po"}, {0x113E1, 0x113E2, "Mn"},
    {0x116D0, 0x116E3, "Nd"}, {0x11B00, 0x11B09, "Po"}, {0x11BC0, 0x11BE0, "Lo"},
    {0x11BE1, 0x11BE1, "Po"}, {0x11BF0, 0x11BF9, "Nd"}, {0x11F00, 0x11F01, "Mn"},
    {0x11F02, 0x11F02, "Lo"}, {0x11F03, 0x11F03, "Mc"}, {0x11F04, 0x11F10, "Lo"},
    {0x11F12, 0x11F33, "Lo"}, {0x11F34, 0x11F35, "Mc"}, {0x11F36, 0x11F3A, "Mn"},
    {0x11F3E, 0x11F3F, "Mc"}, {0x11F40, 0x11F40, "Mn"}, {0x11F41, 0x11F41, "Mc"},
    {0x11F42, 0x11F42, "Mn"}, {0x11F43, 0x11F4F, "Po"}, {0x11F50, 0x11F59, "Nd"},
    {0x11F5A, 0x11F5A, "Mn"}, {0x1342F, 0x1342F, "Lo"}, {0x13439, 0x1343F, "Cf"},
    {0x13440, 0x13440, "Mn"}, {0x13441, 0x13446, "Lo"}, {0x13447, 0x13455, "Mn"},
    {0x13460, 0x143FA, "Lo"}, {0x16100, 0x1611D, "Lo"}, {0x1611E, 0x16129, "Mn"},
    {0x1612A, 0x1612C, "Mc"}, {0x1612D, 0x1612F, "Mn"}, {0x16130, 0x16139, "Nd"},
    {0x16D40, 0x16D42, "Lm"}, {0x16D43, 0x16D6A, "Lo"}, {0x16D6B, 0x16D6C, "Lm"},
    {0x16D6D, 0x16D6F, "Po"}, {0x16D70, 0x16D79, "Nd"}, {0x18CFF, 0x18CFF, "Lo"},
    {0x1B132, 0x1B132, "Lo"}, {0x1B155, 0x1B155, "Lo"}, {0x1CC00, 0x1CCEF, "So"},
    {0x1CCF0, 0x1CCF9, "Nd"}, {0x1CD00, 0x1CEB3, "So"}, {0x1D2C0, 0x1D2D3, "No"},
    {0x1DF25, 0x1DF2A, "Ll"}, {0x1E030, 0x1E06D, "Lm"}, {0x1E08F, 0x1E08F, "Mn"},
    {0x1E4D0, 0x1E4EA, "Lo"}, {0x1E4EB, 0x1E4EB, "Lm"}, {0x1E4EC, 0x1E4EF, "Mn"},
    {0x1E4F0, 0x1E4F9, "Nd"}, {0x1E5D0, 0x1E5ED, "Lo"}, {0x1E5EE, 0x1E5EF, "Mn"},
    {0x1E5F0, 0x1E5F0, "Lo"}, {0x1E5F1, 0x1E5FA, "Nd"}, {0x1E5FF, 0x1E5FF, "Po"},
    {0x1F6DC, 0x1F6DC, "So"}, {0x1F774, 0x1F776, "So"}, {0x1F77B, 0x1F77F, "So"},
    {0x1F7D9, 0x1F7D9, "So"}, {0x1F8B2, 0x1F8BB, "So"}, {0x1F8C0, 0x1F8C1, "So"},
    {0x1FA75, 0x1FA77, "So"}, {0x1FA87, 0x1FA89, "So"}, {0x1FA8F, 0x1FA8F, "So"},
    {0x1FAAD, 0x1FAAF, "So"}, {0x1FABB, 0x1FABF, "So"}, {0x1FAC6, 0x1FAC6, "So"},
    {0x1FACE, 0x1FACF, "So"}, {0x1FADA, 0x1FADC, "So"}, {0x1FADF, 0x1FADF, "So"},
    {0x1FAE8, 0x1FAE9, "So"}, {0x1FAF7, 0x1FAF8, "So"}, {0x1FBCB, 0x1FBEF, "So"},
    {0x2B739, 0x2B739, "Lo"}, {0x2EBF0, 0x2EE5D, "Lo"}, {0x31350, 0x323AF, "Lo"},
};

/* Does category `cat` belong to the property `name` (L, Lu, L&, N, ...)? */
static int in_property(const char *cat, const char *name, size_t n) {
    if (n == 1) return cat[0] == name[0];
    if (n == 2 && name[1] == '&')
        return cat[0] == 'L' && (cat[1] == 'u' || cat[1] == 'l' || cat[1] == 't');
    if (n == 2) return cat[0] == name[0] && cat[1] == name[1];
    return 0;
}

static void append_ranges(mlcc_strbuf *out, const char *const *props, size_t nprops) {
    for (size_t i = 0; i < sizeof EXTRA / sizeof EXTRA[0]; i++) {
        int hit = 0;
        for (size_t k = 0; k < nprops && !hit; k++)
            hit = in_property(EXTRA[i].cat, props[k], strlen(props[k]));
        if (!hit) continue;
        if (EXTRA[i].lo == EXTRA[i].hi)
            sb_printf(out, "\\x{%X}", EXTRA[i].lo);
        else
            sb_printf(out, "\\x{%X}-\\x{%X}", EXTRA[i].lo, EXTRA[i].hi);
    }
}

/* Emits the escape pat[a..b) widened by the extra characters of the given properties. */
static void widen(mlcc_strbuf *out, int in_class, const char *pat, size_t a, size_t b,
                  const char *const *props, size_t nprops) {
    mlcc_strbuf extra = STRBUF_INIT;
    append_ranges(&extra, props, nprops);
    if (!extra.len)
        sb_append_n(out, pat + a, b - a);
    else if (in_class) {
        sb_append_n(out, pat + a, b - a);
        sb_append(out, extra.data);
    } else {
        sb_append_char(out, '[');
        sb_append_n(out, pat + a, b - a);
        sb_append(out, extra.data);
        sb_append_char(out, ']');
    }
    sb_free(&extra);
}

static void put_range(mlcc_strbuf *out, uint32_t lo, uint32_t hi) {
    if (lo == hi)
        sb_printf(out, "\\x{%X}", lo);
    else
        sb_printf(out, "\\x{%X}-\\x{%X}", lo, hi);
}

/* The ranges (or, negated, their complement without the surrogates) as class members. */
static void append_class(mlcc_strbuf *out, const tok_range *r, size_t n, int negate) {
    if (!negate) {
        for (size_t i = 0; i < n; i++)
            put_range(out, r[i].lo, r[i].hi);
        return;
    }
    uint32_t next = 0;
    for (size_t i = 0; i <= n; i++) {
        uint32_t lo = i < n ? r[i].lo : 0x110000;
        if (lo > next) {
            uint32_t a = next, b = lo - 1;
            if (a < 0xD800 && b >= 0xD800) {
                put_range(out, a, 0xD7FF);
                a = 0xE000;
            }
            if (a >= 0xD800 && a <= 0xDFFF) a = 0xE000;
            if (a <= b) put_range(out, a, b);
        }
        if (i < n) next = r[i].hi + 1;
    }
}

static int in_ranges(const tok_range *r, size_t n, uint32_t cp) {
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (cp < r[mid].lo)
            hi = mid;
        else if (cp > r[mid].hi)
            lo = mid + 1;
        else
            return 1;
    }
    return 0;
}

int tok_is_alphanumeric_word(uint32_t cp) {
    return in_ranges(TOK_REGEX_WORD, TOK_TABLE_LEN(TOK_REGEX_WORD), cp);
}
int tok_is_numeric(uint32_t cp) {
    return in_ranges(TOK_NUMERIC, TOK_TABLE_LEN(TOK_NUMERIC), cp);
}
int tok_is_punctuation(uint32_t cp) {
    return in_ranges(TOK_PUNCTUATION, TOK_TABLE_LEN(TOK_PUNCTUATION), cp);
}
int tok_is_bert_control(uint32_t cp) {
    return in_ranges(TOK_BERT_OTHER, TOK_TABLE_LEN(TOK_BERT_OTHER), cp);
}
int tok_is_bert_nonspacing_mark(uint32_t cp) {
    return in_ranges(TOK_BERT_MN, TOK_TABLE_LEN(TOK_BERT_MN), cp);
}
int tok_is_combining_mark(uint32_t cp) {
    return in_ranges(TOK_COMBINING_MARK, TOK_TABLE_LEN(TOK_COMBINING_MARK), cp);
}

int tok_lowercase_cp(uint32_t cp, uint32_t out[3]) {
    size_t lo = 0, hi = TOK_TABLE_LEN(TOK_LOWERCASE);
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (cp < TOK_LOWERCASE[mid].cp)
            hi = mid;
        else if (cp > TOK_LOWERCASE[mid].cp)
            lo = mid + 1;
        else {
            int n = 0;
            while (n < 3 && TOK_LOWERCASE[mid].to[n]) {
                out[n] = TOK_LOWERCASE[mid].to[n];
                n++;
            }
            return n;
        }
    }
    out[0] = cp;
    return 1;
}

static int is_hex(char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

char *tok_regex_rewrite(const char *pat, size_t len, size_t *out_len) {
    mlcc_strbuf out = STRBUF_INIT;
    int in_class = 0;
    for (size_t i = 0; i < len;) {
        char c = pat[i];
        if (c == '\\' && i + 1 < len) {
            char e = pat[i + 1];
            if (e == 'Q') { /* literal text up to \E */
                size_t j = i + 2;
                while (j + 1 < len && !(pat[j] == '\\' && pat[j + 1] == 'E'))
                    j++;
                j = j + 1 < len ? j + 2 : len;
                sb_append_n(&out, pat + i, j - i);
                i = j;
            } else if (e == 'p' && i + 2 < len) {
                size_t a = i + 3, b;
                if (pat[i + 2] == '{') {
                    b = a;
                    while (b < len && pat[b] != '}')
                        b++;
                } else {
                    a = i + 2;
                    b = i + 3;
                }
                size_t end = b < len && pat[i + 2] == '{' ? b + 1 : b;
                char name[8] = {0};
                if (b - a < sizeof name && pat[a] != '^') {
                    memcpy(name, pat + a, b - a);
                    const char *props[1] = {name};
                    widen(&out, in_class, pat, i, end, props, 1);
                } else
                    sb_append_n(&out, pat + i, end - i);
                i = end;
            } else if (e == 'd' || e == 'w' || e == 's' || e == 'D' || e == 'W' || e == 'S') {
                const tok_range *r = e == 'd' || e == 'D'   ? TOK_ONIG_D
                                     : e == 'w' || e == 'W' ? TOK_ONIG_W
                                                            : TOK_ONIG_S;
                size_t n = e == 'd' || e == 'D'   ? TOK_TABLE_LEN(TOK_ONIG_D)
                           : e == 'w' || e == 'W' ? TOK_TABLE_LEN(TOK_ONIG_W)
                                                  : TOK_TABLE_LEN(TOK_ONIG_S);
                int negate = e == 'D' || e == 'W' || e == 'S';
                if (!in_class) sb_append_char(&out, '[');
                append_class(&out, r, n, negate);
                if (!in_class) sb_append_char(&out, ']');
                i += 2;
            } else if (e == 'u' && i + 5 < len + 0 && is_hex(pat[i + 2]) && is_hex(pat[i + 3]) &&
                       is_hex(pat[i + 4]) && is_hex(pat[i + 5])) {
                sb_printf(&out, "\\x{%.4s}", pat + i + 2); /* Oniguruma's \uHHHH */
                i += 6;
            } else {
                sb_append_n(&out, pat + i, 2);
                i += 2;
            }
        } else if (c == '[' && in_class && i + 1 < len && pat[i + 1] == ':') {
            const char *close = strstr(pat + i, ":]");
            size_t j = close && (size_t)(close - pat) < len ? (size_t)(close - pat) + 2 : i + 1;
            sb_append_n(&out, pat + i, j - i);
            i = j;
        } else if (c == '[' && !in_class) {
            in_class = 1;
            sb_append_char(&out, c);
            i++;
            if (i < len && pat[i] == '^') sb_append_char(&out, pat[i++]);
            if (i < len && pat[i] == ']') sb_append_char(&out, pat[i++]);
        } else {
            if (c == ']' && in_class) in_class = 0;
            sb_append_char(&out, c);
            i++;
        }
    }
    *out_len = out.len;
    return out.data ? sb_detach(&out) : mlcc_xstrdup("");
}
