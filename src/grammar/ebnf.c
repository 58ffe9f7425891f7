/* ebnf.c - the GBNF grammar format (llama.cpp's grammars/README.md): rules `name ::= ...`,
 * string literals, character classes ([a-z], [^"\\]), `.`, grouping, alternation, the postfix
 * operators * + ? {m} {m,} {m,n}, and # comments. A rule ends at the end of its line unless
 * inside parentheses or continued by a line that starts with `|`.
 *
 * Everything is compiled straight into the byte-level grammar; errors say file:line:col. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grammar/gram_internal.h"
#include "support/alloc.h"
#include "support/error.h"
#include "support/utf8.h"

typedef struct parser {
    gram_builder *b;
    const char *s;
    size_t n, pos;
    const char *what;
    MLCC_VEC(size_t) first_use; /* per rule: where it was first referenced (+1; 0 none) */
    int depth;
} parser;

static int perr_at(parser *p, size_t at, const char *msg) {
    int line = 1, col = 1;
    for (size_t i = 0; i < at && i < p->n; i++) {
        if (p->s[i] == '\n') {
            line++;
            col = 1;
        } else if (((unsigned char)p->s[i] & 0xC0) != 0x80)
            col++;
    }
    return mlcc_set_error("%s:%d:%d: %s", p->what, line, col, msg);
}

static int peek(const parser *p) {
    return p->pos < p->n ? (unsigned char)p->s[p->pos] : -1;
}

/* Skips blanks and comments; newlines too when newline_ok. */
static void skip_space(parser *p, int newline_ok) {
    while (p->pos < p->n) {
        char c = p->s[p->pos];
        if (c == ' ' || c == '\t' || c == '\r' || (newline_ok && c == '\n'))
            p->pos++;
        else if (c == '#')
            while (p->pos < p->n && p->s[p->pos] != '\n') p->pos++;
        else
            break;
    }
}

static int is_name_char(int c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

/* Decodes one UTF-8 code point from the source. */
static int read_cp(parser *p, uint32_t *cp) {
    const unsigned char *u = (const unsigned char *)p->s + p->pos;
    size_t left = p->n - p->pos;
    if (!left) return perr_at(p, p->pos, "unexpected end of input");
    unsigned c = u[0];
    int len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (!len || (size_t)len > left) return perr_at(p, p->pos, "invalid UTF-8");
    uint32_t v = len == 1 ? c : len == 2 ? c & 0x1F : len == 3 ? c & 0x0F : c & 0x07;
    for (int i = 1; i < len; i++) {
        if ((u[i] & 0xC0) != 0x80) return perr_at(p, p->pos, "invalid UTF-8");
        v = (v << 6) | (u[i] & 0x3F);
    }
    static const uint32_t min_for_len[] = {0, 0, 0x80, 0x800, 0x10000};
    if (v < min_for_len[len] || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return perr_at(p, p->pos, "invalid UTF-8");
    p->pos += (size_t)len;
    *cp = v;
    return 0;
}

static int hex_digits(parser *p, int count, uint32_t *out) {
    uint32_t v = 0;
    for (int i = 0; i < count; i++) {
        int c = peek(p);
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0) return perr_at(p, p->pos, "expected a hexadecimal digit");
        v = v * 16 + (uint32_t)d;
        p->pos++;
    }
    if (v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return perr_at(p, p->pos, "escape is not a Unicode scalar value");
    *out = v;
    return 0;
}

/* One character of a literal or class, escapes decoded. */
static int read_char(parser *p, uint32_t *cp) {
    if (peek(p) != '\\') return read_cp(p, cp);
    size_t at = p->pos;
    p->pos++;
    int c = peek(p);
    p->pos++;
    switch (c) {
    case 'n': *cp = '\n'; return 0;
    case 'r': *cp = '\r'; return 0;
    case 't': *cp = '\t'; return 0;
    case '0': *cp = 0; return 0;
    case '\\': case '"': case '\'': case '[': case ']': case '-': case '^': case '/': case '.':
        *cp = (uint32_t)c;
        return 0;
    case 'x': return hex_digits(p, 2, cp);
    case 'u': return hex_digits(p, 4, cp);
    case 'U': return hex_digits(p, 8, cp);
    default: return perr_at(p, at, "unknown escape");
    }
}

static int parse_literal(parser *p, gram_seq *out) {
    size_t start = p->pos;
    p->pos++; /* the quote */
    char buf[4];
    while (peek(p) != '"') {
        if (peek(p) < 0 || peek(p) == '\n') return perr_at(p, start, "unterminated string literal");
        uint32_t cp;
        if (read_char(p, &cp)) return -1;
        size_t k = (size_t)mlcc_utf8_encode(cp, buf);
        gram_append_literal(p->b, buf, k, out);
    }
    p->pos++;
    return 0;
}

static int cmp_u32_pair(const void *a, const void *b) {
    const uint32_t *x = a, *y = b;
    return x[0] < y[0] ? -1 : x[0] > y[0];
}

/* Sorts and merges ranges (pairs) in place; returns the new count of pairs. */
static size_t normalize_ranges(uint32_t *r, size_t n) {
    qsort(r, n, 2 * sizeof(uint32_t), cmp_u32_pair);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (k && r[2 * i] <= r[2 * (k - 1) + 1] + 1) {
            if (r[2 * i + 1] > r[2 * (k - 1) + 1]) r[2 * (k - 1) + 1] = r[2 * i + 1];
        } else {
            r[2 * k] = r[2 * i];
            r[2 * k + 1] = r[2 * i + 1];
            k++;
        }
    }
    return k;
}

static int parse_class(parser *p, gram_seq *out) {
    size_t start = p->pos;
    p->pos++;
    int negate = 0;
    if (peek(p) == '^') {
        negate = 1;
        p->pos++;
    }
    MLCC_VEC(uint32_t) r = {0};
    while (peek(p) != ']') {
        if (peek(p) < 0 || peek(p) == '\n') {
            vec_free(&r);
            return perr_at(p, start, "unterminated character class");
        }
        uint32_t lo, hi;
        if (read_char(p, &lo)) {
            vec_free(&r);
            return -1;
        }
        hi = lo;
        if (peek(p) == '-' && p->pos + 1 < p->n && p->s[p->pos + 1] != ']') {
            size_t at = p->pos;
            p->pos++;
            if (read_char(p, &hi)) {
                vec_free(&r);
                return -1;
            }
            if (hi < lo) {
                vec_free(&r);
                return perr_at(p, at, "character range is out of order");
            }
        }
        vec_push(&r, lo);
        vec_push(&r, hi);
    }
    p->pos++;
    size_t n = r.len ? normalize_ranges(r.data, r.len / 2) : 0;
    r.len = 2 * n;
    if (negate) {
        MLCC_VEC(uint32_t) c = {0};
        uint32_t next = 0;
        for (size_t i = 0; i < n; i++) {
            if (r.data[2 * i] > next) {
                vec_push(&c, next);
                vec_push(&c, r.data[2 * i] - 1);
            }
            next = r.data[2 * i + 1] + 1;
        }
        if (next <= 0x10FFFF) {
            vec_push(&c, next);
            vec_push(&c, 0x10FFFF);
        }
        vec_free(&r);
        r.data = c.data;
        r.len = c.len;
        r.cap = c.cap;
    }
    gram_append_cp_class(p->b, r.data, r.len / 2, out);
    vec_free(&r);
    return 0;
}

static int parse_alternates(parser *p, int nested, gram_alts *alts);

static int parse_int(parser *p, int *out) {
    if (peek(p) < '0' || peek(p) > '9') return perr_at(p, p->pos, "expected a number");
    long v = 0;
    while (peek(p) >= '0' && peek(p) <= '9') {
        v = v * 10 + (peek(p) - '0');
        if (v > 100000) return perr_at(p, p->pos, "repetition count is too large (at most 100000)");
        p->pos++;
    }
    *out = (int)v;
    return 0;
}

/* Postfix operators after an item (its elements in item). */
static int parse_postfix(parser *p, gram_seq *item, gram_seq *out) {
    for (;;) {
        int c = peek(p);
        int min, max;
        if (c == '*') {
            min = 0;
            max = -1;
            p->pos++;
        } else if (c == '+') {
            min = 1;
            max = -1;
            p->pos++;
        } else if (c == '?') {
            min = 0;
            max = 1;
            p->pos++;
        } else if (c == '{') {
            size_t at = p->pos;
            p->pos++;
            skip_space(p, 0);
            if (parse_int(p, &min)) return -1;
            skip_space(p, 0);
            max = min;
            if (peek(p) == ',') {
                p->pos++;
                skip_space(p, 0);
                if (peek(p) == '}')
                    max = -1;
                else if (parse_int(p, &max))
                    return -1;
                skip_space(p, 0);
            }
            if (peek(p) != '}') return perr_at(p, p->pos, "expected '}'");
            p->pos++;
            if (max >= 0 && max < min) return perr_at(p, at, "repetition {m,n} has n < m");
        } else
            break;
        int32_t x = gram_seq_elem(p->b, item);
        int32_t r = gram_repeat(p->b, x, min, max);
        item->len = 0;
        vec_push(item, r);
    }
    for (size_t i = 0; i < item->len; i++) vec_push(out, item->data[i]);
    return 0;
}

static int parse_sequence(parser *p, int nested, gram_seq *out) {
    gram_seq item = {0};
    int rc = 0;
    for (;;) {
        skip_space(p, nested);
        int c = peek(p);
        if (c < 0 || c == '|' || c == ')' || c == '\n') break;
        item.len = 0;
        size_t at = p->pos;
        if (c == '"')
            rc = parse_literal(p, &item);
        else if (c == '[')
            rc = parse_class(p, &item);
        else if (c == '.') {
            uint32_t all[2] = {0, 0x10FFFF};
            p->pos++;
            gram_append_cp_class(p->b, all, 1, &item);
        } else if (c == '(') {
            if (++p->depth > 200) {
                rc = perr_at(p, at, "parentheses nest too deeply");
                break;
            }
            p->pos++;
            gram_alts alts = {0};
            rc = parse_alternates(p, 1, &alts);
            if (!rc) {
                skip_space(p, 1);
                if (peek(p) != ')')
                    rc = perr_at(p, at, "unclosed '('");
                else {
                    p->pos++;
                    vec_push(&item, gram_helper(p->b, &alts));
                }
            }
            p->depth--;
            vec_free(&alts);
        } else if (is_name_char(c)) {
            size_t start = p->pos;
            while (is_name_char(peek(p))) p->pos++;
            skip_space(p, 0);
            if (p->pos + 2 < p->n && !memcmp(p->s + p->pos, "::=", 3)) {
                rc = perr_at(p, start, "a new rule starts before the previous one ends (missing newline?)");
                break;
            }
            p->pos = start;
            while (is_name_char(peek(p))) p->pos++;
            int32_t r = gram_rule_ref(p->b, p->s + start, p->pos - start);
            while (p->first_use.len <= (size_t)r) vec_push(&p->first_use, 0);
            if (!p->first_use.data[r]) p->first_use.data[r] = start + 1;
            vec_push(&item, r);
        } else
            rc = perr_at(p, at, "unexpected character");
        if (rc) break;
        if ((rc = parse_postfix(p, &item, out))) break;
    }
    vec_free(&item);
    return rc;
}

static int parse_alternates(parser *p, int nested, gram_alts *alts) {
    for (;;) {
        gram_seq seq = {0};
        if (parse_sequence(p, nested, &seq)) {
            vec_free(&seq);
            return -1;
        }
        for (size_t i = 0; i < seq.len; i++) vec_push(alts, seq.data[i]);
        vec_push(alts, GRAM_END);
        vec_free(&seq);
        size_t save = p->pos;
        skip_space(p, 1);
        if (peek(p) != '|') {
            p->pos = save;
            return 0;
        }
        p->pos++;
        skip_space(p, 1);
    }
}

int gram_parse_ebnf(gram_builder *b, const char *text, size_t len, const char *what) {
    parser p = {0};
    p.b = b;
    p.s = text;
    p.n = len;
    p.what = what;
    int rc = 0;
    MLCC_VEC(size_t) defined_at = {0};
    for (;;) {
        skip_space(&p, 1);
        if (peek(&p) < 0) break;
        size_t start = p.pos;
        while (is_name_char(peek(&p))) p.pos++;
        if (p.pos == start) {
            rc = perr_at(&p, start, "expected a rule name");
            break;
        }
        int32_t r = gram_rule_ref(b, text + start, p.pos - start);
        skip_space(&p, 0);
        if (p.pos + 3 > p.n || memcmp(text + p.pos, "::=", 3)) {
            rc = perr_at(&p, p.pos, "expected '::='");
            break;
        }
        p.pos += 3;
        skip_space(&p, 1);
        gram_alts alts = {0};
        rc = parse_alternates(&p, 0, &alts);
        if (!rc) {
            skip_space(&p, 0);
            if (peek(&p) >= 0 && peek(&p) != '\n')
                rc = perr_at(&p, p.pos, peek(&p) == ')' ? "unmatched ')'" : "unexpected character");
        }
        if (!rc && gram_define(b, r, &alts)) rc = perr_at(&p, start, "rule is defined twice");
        vec_free(&alts);
        if (rc) break;
        (void)defined_at;
    }
    if (!rc)
        for (size_t r = 0; r < b->g->rules.len; r++)
            if (!b->defined.data[r] && r < p.first_use.len && p.first_use.data[r]) {
                char msg[160];
                snprintf(msg, sizeof msg, "rule '%.100s' is not defined", b->g->rules.data[r].name);
                rc = perr_at(&p, p.first_use.data[r] - 1, msg);
                break;
            }
    vec_free(&p.first_use);
    vec_free(&defined_at);
    return rc;
}

mlcc_grammar *mlcc_grammar_from_ebnf(const char *text, size_t len, const char *what) {
    gram_builder b;
    gram_builder_init(&b);
    if (!what) what = "grammar";
    if (gram_parse_ebnf(&b, text, len, what) || gram_check(&b, what)) return gram_builder_finish(&b, 0);
    return gram_builder_finish(&b, 1);
}
