/* regex.c - regular expressions (the ECMAScript subset JSON Schema's "pattern" uses) to GBNF.
 *
 * Supported: literals and escapes (\n \t \r \f \v \0 \xHH \uHHHH \u{H..} and escaped
 * metacharacters), `.` (any character but line terminators), classes [...] and [^...] with
 * ranges and \d \w \s \D \W \S, groups (...), (?:...), (?<name>...), alternation, the
 * quantifiers * + ? {n} {n,} {n,m} (lazy `?` suffixes are accepted and mean the same set of
 * strings). A pattern is a search, as JSON Schema defines it: without a leading ^ (or trailing
 * $) any text may come before (after) the match. Lookaround, backreferences, \b and \p{..} are
 * errors.
 *
 * In JSON-string mode the text is the inside of a JSON string literal: `"`, `\` and control
 * characters are written as JSON escapes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grammar/gram_internal.h"
#include "support/alloc.h"
#include "support/error.h"

typedef MLCC_VEC(uint32_t) ranges;

typedef struct rx {
    const char *s;
    size_t n, pos;
    const char *what;
    int json;
    int depth;
    mlcc_strbuf *out;
    int cap; /* > 0: unbounded repetition (* + {n,}) is capped at this many more */
    /* 1: the strings either dialect (ECMAScript, Python's re) matches, else those both match */
    int wide;
    int in_negated_class; /* inside [^...]: escapes take the other width */
    /* length in characters of the piece just parsed: [len_min, len_max], RX_INF unbounded */
    long long len_min, len_max;
} rx;

#define RX_INF (1LL << 40)
static long long sat_add(long long a, long long b) {
    return a >= RX_INF || b >= RX_INF || a + b >= RX_INF ? RX_INF : a + b;
}
static long long sat_mul(long long a, long long b) {
    if (a == 0 || b == 0) return 0;
    return a >= RX_INF || b >= RX_INF || a > RX_INF / b ? RX_INF : a * b;
}

static int rx_err(rx *r, const char *msg) {
    return mlcc_set_error("%s: regex /%.*s/ at offset %zu: %s", r->what, (int)(r->n > 200 ? 200 : r->n), r->s, r->pos, msg);
}

static int peekc(const rx *r) {
    return r->pos < r->n ? (unsigned char)r->s[r->pos] : -1;
}

static void add_range(ranges *v, uint32_t lo, uint32_t hi) {
    vec_push(v, lo);
    vec_push(v, hi);
}

static int cmp_pair(const void *a, const void *b) {
    const uint32_t *x = a, *y = b;
    return x[0] < y[0] ? -1 : x[0] > y[0];
}

static void normalize(ranges *v) {
    size_t n = v->len / 2, k = 0;
    if (!n) return;
    qsort(v->data, n, 2 * sizeof(uint32_t), cmp_pair);
    for (size_t i = 0; i < n; i++) {
        if (k && v->data[2 * i] <= v->data[2 * (k - 1) + 1] + 1) {
            if (v->data[2 * i + 1] > v->data[2 * (k - 1) + 1]) v->data[2 * (k - 1) + 1] = v->data[2 * i + 1];
        } else {
            v->data[2 * k] = v->data[2 * i];
            v->data[2 * k + 1] = v->data[2 * i + 1];
            k++;
        }
    }
    v->len = 2 * k;
}

static void negate(ranges *v) {
    normalize(v);
    ranges c = {0};
    uint32_t next = 0;
    for (size_t i = 0; i < v->len / 2; i++) {
        if (v->data[2 * i] > next) add_range(&c, next, v->data[2 * i] - 1);
        next = v->data[2 * i + 1] + 1;
    }
    if (next <= 0x10FFFF) add_range(&c, next, 0x10FFFF);
    vec_free(v);
    *v = c;
}

/* The lower-case class d, w or s. ECMAScript's are ASCII (\s: its white space), Python's
 * (the validator's) Unicode-aware. Narrow: what both dialects match (for the strings a pattern
 * must match); wide: what either matches, non-ASCII letters and digits taken as all non-ASCII
 * (for the strings a pattern must not match). */
static void class_lower(int c, int wide, ranges *t) {
    switch (c) {
    case 'd':
        add_range(t, '0', '9');
        break;
    case 'w':
        add_range(t, '0', '9');
        add_range(t, 'A', 'Z');
        add_range(t, '_', '_');
        add_range(t, 'a', 'z');
        break;
    default:
        add_range(t, 9, 13);
        add_range(t, ' ', ' ');
        add_range(t, 0xA0, 0xA0);
        add_range(t, 0x1680, 0x1680);
        add_range(t, 0x2000, 0x200A);
        add_range(t, 0x2028, 0x2029);
        add_range(t, 0x202F, 0x202F);
        add_range(t, 0x205F, 0x205F);
        add_range(t, 0x3000, 0x3000);
        if (wide) { /* Python's extra white space, ECMAScript's U+FEFF */
            add_range(t, 0x1C, 0x1F);
            add_range(t, 0x85, 0x85);
            add_range(t, 0xFEFF, 0xFEFF);
        }
        return;
    }
    if (wide) add_range(t, 0x80, 0x10FFFF);
}

/* \d \w \s and their negations \D \W \S (the complement of the other width's lower case). */
static void class_escape(int c, int wide, ranges *v) {
    ranges t = {0};
    int upper = c >= 'A' && c <= 'Z';
    class_lower(upper ? c - 'A' + 'a' : c, upper ? !wide : wide, &t);
    if (upper) negate(&t);
    for (size_t i = 0; i < t.len; i++) vec_push(v, t.data[i]);
    vec_free(&t);
}

static int hexv(int c) {
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

static int read_hex(rx *r, int count, uint32_t *cp) {
    uint32_t v = 0;
    for (int i = 0; i < count; i++) {
        int d = hexv(peekc(r));
        if (d < 0) return rx_err(r, "bad hexadecimal escape");
        v = v * 16 + (uint32_t)d;
        r->pos++;
    }
    *cp = v;
    return 0;
}

static int read_utf8(rx *r, uint32_t *cp) {
    const unsigned char *u = (const unsigned char *)r->s + r->pos;
    size_t left = r->n - r->pos;
    unsigned c = u[0];
    int len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (!len || (size_t)len > left) return rx_err(r, "invalid UTF-8");
    uint32_t v = len == 1 ? c : len == 2 ? c & 0x1F : len == 3 ? c & 0x0F : c & 0x07;
    for (int i = 1; i < len; i++) {
        if ((u[i] & 0xC0) != 0x80) return rx_err(r, "invalid UTF-8");
        v = (v << 6) | (u[i] & 0x3F);
    }
    r->pos += (size_t)len;
    *cp = v;
    return 0;
}

/* An escape after the backslash: one code point (*cp) or a class (added to cls, returns 1). */
static int read_escape(rx *r, uint32_t *cp, ranges *cls) {
    int c = peekc(r);
    if (c < 0) return rx_err(r, "trailing backslash");
    r->pos++;
    switch (c) {
    case 'd': case 'D': case 'w': case 'W': case 's': case 'S':
        class_escape(c, r->wide ^ r->in_negated_class, cls);
        return 1;
    case 'n': *cp = '\n'; return 0;
    case 't': *cp = '\t'; return 0;
    case 'r': *cp = '\r'; return 0;
    case 'f': *cp = '\f'; return 0;
    case 'v': *cp = '\v'; return 0;
    case '0': *cp = 0; return 0;
    case 'x': return read_hex(r, 2, cp);
    case 'u':
        if (peekc(r) == '{') {
            r->pos++;
            uint32_t v = 0;
            int nd = 0;
            while (hexv(peekc(r)) >= 0 && nd < 8) {
                v = v * 16 + (uint32_t)hexv(peekc(r));
                r->pos++;
                nd++;
            }
            if (peekc(r) != '}' || !nd || v > 0x10FFFF) return rx_err(r, "bad \\u{...} escape");
            r->pos++;
            *cp = v;
            return 0;
        }
        return read_hex(r, 4, cp);
    case 'b': case 'B': r->pos--; return rx_err(r, "word boundaries (\\b) are not supported");
    case 'p': case 'P': r->pos--; return rx_err(r, "Unicode property classes (\\p) are not supported");
    default:
        if (c >= '1' && c <= '9') {
            r->pos--;
            return rx_err(r, "backreferences are not supported");
        }
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) {
            r->pos--;
            return rx_err(r, "unknown escape");
        }
        r->pos--;
        return read_utf8(r, cp) ? -1 : 0;
    }
}

/* ---- output ---- */

static void put_cp(mlcc_strbuf *o, uint32_t c) {
    if (c >= 0x20 && c < 0x7F && c != '"' && c != '\\' && c != ']' && c != '[' && c != '-' && c != '^')
        sb_append_char(o, (char)c);
    else if (c <= 0xFFFF)
        sb_printf(o, "\\u%04X", (unsigned)c);
    else
        sb_printf(o, "\\U%08X", (unsigned)c);
}

static void put_class(mlcc_strbuf *o, const ranges *v) {
    sb_append(o, "[");
    for (size_t i = 0; i < v->len / 2; i++) {
        put_cp(o, v->data[2 * i]);
        if (v->data[2 * i + 1] != v->data[2 * i]) {
            sb_append(o, "-");
            put_cp(o, v->data[2 * i + 1]);
        }
    }
    sb_append(o, "]");
}

static int in_ranges(const ranges *v, uint32_t c) {
    for (size_t i = 0; i < v->len / 2; i++)
        if (c >= v->data[2 * i] && c <= v->data[2 * i + 1]) return 1;
    return 0;
}

/* One character from the set, as GBNF (JSON-escaped in JSON mode). */
static void emit_set(rx *r, ranges *v) {
    normalize(v);
    mlcc_strbuf *o = r->out;
    if (v->len == 0) {
        sb_append(o, "[^\\u0000-\\U0010FFFF]"); /* matches nothing */
        return;
    }
    if (!r->json) {
        put_class(o, v);
        return;
    }
    ranges plain = {0};
    for (size_t i = 0; i < v->len / 2; i++) {
        /* the range without 0x00-0x1F, '"' and '\\' (JSON writes those escaped) */
        uint32_t lo = v->data[2 * i] < 0x20 ? 0x20 : v->data[2 * i], hi = v->data[2 * i + 1];
        static const uint32_t cut[] = {'"', '\\'};
        for (int k = 0; k < 2 && lo <= hi; k++)
            if (cut[k] >= lo && cut[k] <= hi) {
                if (cut[k] > lo) add_range(&plain, lo, cut[k] - 1);
                lo = cut[k] + 1;
            }
        if (lo <= hi) add_range(&plain, lo, hi);
    }
    int alts = 0;
    sb_append(o, "(");
    if (plain.len) {
        put_class(o, &plain);
        alts++;
    }
    if (in_ranges(v, '"')) sb_append(o, alts++ ? " | \"\\\\\\\"\"" : "\"\\\\\\\"\"");
    if (in_ranges(v, '\\')) sb_append(o, alts++ ? " | \"\\\\\\\\\"" : "\"\\\\\\\\\"");
    for (uint32_t c = 0; c < 0x20; c++)
        if (in_ranges(v, c)) {
            if (alts++) sb_append(o, " | ");
            const char *short_form = c == '\n' ? "n" : c == '\t' ? "t" : c == '\r' ? "r" : NULL;
            if (short_form)
                sb_printf(o, "\"\\\\%s\"", short_form);
            else
                sb_printf(o, "\"\\\\u00%02X\"", (unsigned)c);
        }
    sb_append(o, ")");
    vec_free(&plain);
}

void gram_cp_set_to_gbnf(const uint32_t *pairs, size_t npairs, int json_string, mlcc_strbuf *out) {
    rx r = {0};
    r.json = json_string;
    r.out = out;
    ranges v = {0};
    for (size_t i = 0; i < 2 * npairs; i++) vec_push(&v, pairs[i]);
    emit_set(&r, &v);
    vec_free(&v);
}

static void emit_any_text(rx *r) {
    ranges all = {0};
    add_range(&all, 0, 0x10FFFF);
    sb_append(r->out, "(");
    emit_set(r, &all);
    if (r->cap > 0)
        sb_printf(r->out, "){0,%d}", r->cap);
    else
        sb_append(r->out, ")*");
    r->len_min = 0;
    r->len_max = r->cap > 0 ? r->cap : RX_INF;
    vec_free(&all);
}

/* ---- parsing, emitting as we go ---- */

static int parse_alt(rx *r, int top);

static int parse_class(rx *r, ranges *v) {
    r->pos++; /* [ */
    int neg = 0;
    if (peekc(r) == '^') {
        neg = 1;
        r->pos++;
    }
    r->in_negated_class = neg;
    while (peekc(r) != ']') {
        if (peekc(r) < 0) return rx_err(r, "unterminated character class");
        uint32_t lo;
        ranges cls = {0};
        int kind = 0;
        if (peekc(r) == '\\') {
            r->pos++;
            if (peekc(r) == 'b') {
                r->pos++;
                lo = 8;
            } else if ((kind = read_escape(r, &lo, &cls)) < 0) {
                vec_free(&cls);
                return -1;
            }
        } else if (read_utf8(r, &lo))
            return -1;
        if (kind == 1) {
            for (size_t i = 0; i < cls.len; i++) vec_push(v, cls.data[i]);
            vec_free(&cls);
            continue;
        }
        uint32_t hi = lo;
        if (peekc(r) == '-' && r->pos + 1 < r->n && r->s[r->pos + 1] != ']') {
            r->pos++;
            if (peekc(r) == '\\') {
                r->pos++;
                kind = read_escape(r, &hi, &cls);
                vec_free(&cls);
                if (kind < 0) return -1;
                if (kind == 1) return rx_err(r, "a class escape cannot end a range");
            } else if (read_utf8(r, &hi))
                return -1;
            if (hi < lo) return rx_err(r, "character range is out of order");
        }
        add_range(v, lo, hi);
    }
    r->pos++;
    r->in_negated_class = 0;
    if (neg) negate(v);
    return 0;
}

/* One atom; its GBNF goes to r->out. */
static int parse_atom(rx *r) {
    int c = peekc(r);
    ranges v = {0};
    int rc = 0;
    if (c == '(') {
        r->pos++;
        if (peekc(r) == '?') {
            r->pos++;
            if (peekc(r) == ':')
                r->pos++;
            else if (peekc(r) == '<' && r->pos + 1 < r->n && r->s[r->pos + 1] != '=' && r->s[r->pos + 1] != '!') {
                while (peekc(r) >= 0 && peekc(r) != '>') r->pos++;
                if (peekc(r) != '>') return rx_err(r, "unterminated group name");
                r->pos++;
            } else
                return rx_err(r, "lookaround and group flags are not supported");
        }
        if (++r->depth > 100) return rx_err(r, "groups nest too deeply");
        sb_append(r->out, "(");
        if (parse_alt(r, 0)) return -1; /* sets len_min/len_max */
        r->depth--;
        if (peekc(r) != ')') return rx_err(r, "missing ')'");
        r->pos++;
        sb_append(r->out, ")");
        return 0;
    }
    if (c == '[') {
        rc = parse_class(r, &v);
    } else if (c == '.') {
        r->pos++;
        add_range(&v, 0, 0x10FFFF);
        ranges lt = {0}; /* line terminators: ECMAScript's four, Python's \n */
        add_range(&lt, '\n', '\n');
        if (!r->wide) {
            add_range(&lt, '\r', '\r');
            add_range(&lt, 0x2028, 0x2029);
        }
        negate(&lt);
        vec_free(&v);
        v = lt;
    } else if (c == '\\') {
        r->pos++;
        uint32_t cp;
        int k = read_escape(r, &cp, &v);
        if (k < 0) rc = -1;
        else if (k == 0) add_range(&v, cp, cp);
    } else if (c == '^' || c == '$') {
        rc = rx_err(r, "anchors are supported only at the start and end of the pattern");
    } else if (c == '*' || c == '+' || c == '?' || c == '{') {
        rc = rx_err(r, "nothing to repeat");
    } else {
        uint32_t cp;
        if (read_utf8(r, &cp)) rc = -1;
        else add_range(&v, cp, cp);
    }
    if (!rc) emit_set(r, &v);
    r->len_min = r->len_max = 1;
    vec_free(&v);
    return rc;
}

static int parse_count(rx *r, int *out) {
    long v = 0;
    if (peekc(r) < '0' || peekc(r) > '9') return -1;
    while (peekc(r) >= '0' && peekc(r) <= '9') {
        v = v * 10 + (peekc(r) - '0');
        if (v > 10000) return rx_err(r, "repetition count too large (at most 10000)");
        r->pos++;
    }
    *out = (int)v;
    return 0;
}

static int parse_quant(rx *r) {
    int c = peekc(r);
    long long qlo = 1, qhi = 1;
    if (c == '?' || ((c == '*' || c == '+') && r->cap <= 0)) {
        r->pos++;
        sb_append_char(r->out, (char)c);
        qlo = c == '+';
        qhi = c == '?' ? 1 : RX_INF;
    } else if (c == '*' || c == '+') {
        r->pos++;
        sb_printf(r->out, "{%d,%d}", c == '+', r->cap);
        qlo = c == '+';
        qhi = r->cap;
    } else if (c == '{') {
        size_t save = r->pos;
        r->pos++;
        int lo, hi;
        if (parse_count(r, &lo)) {
            /* not a quantifier: a literal brace, as ECMAScript's Annex B reads it */
            r->pos = save;
            return 0;
        }
        hi = lo;
        if (peekc(r) == ',') {
            r->pos++;
            if (peekc(r) == '}')
                hi = -1;
            else if (parse_count(r, &hi))
                return rx_err(r, "bad repetition");
        }
        if (peekc(r) != '}') return rx_err(r, "bad repetition");
        r->pos++;
        if (hi >= 0 && hi < lo) return rx_err(r, "repetition {m,n} has n < m");
        if (hi < 0 && r->cap > 0)
            sb_printf(r->out, "{%d,%d}", lo, lo + r->cap);
        else if (hi < 0)
            sb_printf(r->out, "{%d,}", lo);
        else
            sb_printf(r->out, "{%d,%d}", lo, hi);
        qlo = lo;
        qhi = hi >= 0 ? hi : r->cap > 0 ? lo + r->cap : RX_INF;
    } else
        return 0;
    r->len_min = sat_mul(r->len_min, qlo);
    r->len_max = sat_mul(r->len_max, qhi);
    if (peekc(r) == '?') r->pos++; /* lazy: the same language */
    c = peekc(r);
    if (c == '*' || c == '+' || c == '?') return rx_err(r, "nothing to repeat");
    return 0;
}

/* A branch: atoms with quantifiers. top: the pattern's top level (anchors allowed at ends). */
/* The index of the ')' closing the group that opens at `at`, or 0. */
static size_t group_end(const rx *r, size_t at) {
    int depth = 0;
    for (size_t i = at; i < r->n; i++) {
        char c = r->s[i];
        if (c == '\\') {
            i++;
        } else if (c == '[') {
            for (i++; i < r->n && r->s[i] != ']'; i++)
                if (r->s[i] == '\\') i++;
        } else if (c == '(')
            depth++;
        else if (c == ')' && --depth == 0)
            return i;
    }
    return 0;
}

static int parse_branch(rx *r, int top) {
    int anchored_start = 0, anchored_end = 0;
    long long mn = 0, mx = 0;
    if (top && peekc(r) == '(') {
        /* a whole top-level branch in a group, as in ^$|(^a+$): its inside is top level too */
        size_t end = group_end(r, r->pos);
        if (end && (end + 1 == r->n || r->s[end + 1] == '|')) {
            size_t inner = r->pos + 1;
            if (inner + 1 < r->n && r->s[inner] == '?' && r->s[inner + 1] == ':') inner += 2;
            if (r->s[inner] != '?') {
                r->pos = inner;
                if (parse_alt(r, 1)) return -1;
                if (r->pos != end) return rx_err(r, "missing ')'");
                r->pos = end + 1;
                return 0;
            }
        }
    }
    if (top && peekc(r) == '^') {
        r->pos++;
        anchored_start = 1;
    }
    if (top && !anchored_start) {
        emit_any_text(r);
        mn = sat_add(mn, r->len_min);
        mx = sat_add(mx, r->len_max);
    }
    sb_append(r->out, " (");
    int empty = 1;
    for (;;) {
        int c = peekc(r);
        if (c < 0 || c == '|' || c == ')') break;
        if (top && c == '$' && (r->pos + 1 == r->n || r->s[r->pos + 1] == '|' || r->s[r->pos + 1] == ')')) {
            r->pos++;
            anchored_end = 1;
            break;
        }
        sb_append(r->out, " ");
        if (parse_atom(r) || parse_quant(r)) return -1;
        mn = sat_add(mn, r->len_min);
        mx = sat_add(mx, r->len_max);
        empty = 0;
    }
    if (empty) sb_append(r->out, "\"\"");
    sb_append(r->out, ") ");
    if (top && anchored_end && r->wide) {
        /* Python's $ also matches before a final newline */
        ranges nl = {0};
        add_range(&nl, '\n', '\n');
        sb_append(r->out, "(");
        emit_set(r, &nl);
        sb_append(r->out, ")?");
        vec_free(&nl);
    }
    if (top && !anchored_end) {
        emit_any_text(r);
        mn = sat_add(mn, r->len_min);
        mx = sat_add(mx, r->len_max);
    }
    r->len_min = mn;
    r->len_max = mx;
    return 0;
}

static int parse_alt(rx *r, int top) {
    sb_append(r->out, "(");
    if (parse_branch(r, top)) return -1;
    long long mn = r->len_min, mx = r->len_max;
    while (peekc(r) == '|') {
        r->pos++;
        sb_append(r->out, " | ");
        if (parse_branch(r, top)) return -1;
        if (r->len_min < mn) mn = r->len_min;
        if (r->len_max > mx) mx = r->len_max;
    }
    sb_append(r->out, ")");
    r->len_min = mn;
    r->len_max = mx;
    return 0;
}

int gram_regex_to_gbnf(const char *re, size_t len, int json_string, int cap, mlcc_strbuf *out, const char *what) {
    return gram_regex_to_gbnf_len(re, len, json_string, cap, out, what, NULL, NULL);
}

int gram_regex_to_gbnf_wide(const char *re, size_t len, mlcc_strbuf *out, const char *what) {
    rx r = {re, len, 0, what ? what : "regex", 0, 0, out, 0, 1, 0, 0, 0};
    if (parse_alt(&r, 1)) return -1;
    if (r.pos != r.n) return rx_err(&r, "unmatched ')'");
    return 0;
}

int gram_regex_to_gbnf_len(const char *re, size_t len, int json_string, int cap, mlcc_strbuf *out, const char *what,
                           long long *min_chars, long long *max_chars) {
    rx r = {re, len, 0, what ? what : "regex", json_string, 0, out, cap, 0, 0, 0, 0};
    if (parse_alt(&r, 1)) return -1;
    if (r.pos != r.n) return rx_err(&r, "unmatched ')'");
    if (min_chars) *min_chars = r.len_min;
    if (max_chars) *max_chars = r.len_max >= RX_INF ? -1 : r.len_max;
    return 0;
}

char *mlcc_regex_to_ebnf(const char *regex, size_t len) {
    mlcc_strbuf sb = STRBUF_INIT;
    sb_append(&sb, "root ::= ");
    if (gram_regex_to_gbnf(regex, len, 0, 0, &sb, "regex")) {
        sb_free(&sb);
        return NULL;
    }
    sb_append(&sb, "\n");
    return sb_detach(&sb);
}

mlcc_grammar *mlcc_grammar_from_regex(const char *regex, size_t len) {
    /* errors at the offsets of the caller's text */
    mlcc_strbuf check = STRBUF_INIT;
    int bad = gram_regex_to_gbnf(regex, len, 0, 0, &check, "regex");
    sb_free(&check);
    if (bad) return NULL;
    /* mlcc_grammar_from_regex means the whole output matches: anchor it */
    mlcc_strbuf pat = STRBUF_INIT;
    /* the caller's own anchors are redundant here */
    if (len && regex[0] == '^') {
        regex++;
        len--;
    }
    if (len && regex[len - 1] == '$' && (len < 2 || regex[len - 2] != '\\')) len--;
    sb_append(&pat, "^(?:");
    sb_append_n(&pat, regex, len);
    sb_append(&pat, ")$");
    char *text = mlcc_regex_to_ebnf(pat.data, pat.len);
    sb_free(&pat);
    if (!text) return NULL;
    mlcc_grammar *g = mlcc_grammar_from_ebnf(text, strlen(text), "regex");
    free(text);
    return g;
}
