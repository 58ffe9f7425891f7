/* lexer.c - Jinja2's lexer, rule for rule (jinja2/lexer.py, 3.1): the root state finds the
 * earliest `{{`, `{%` or `{#`; the text before it is stripped by `-`, or by lstrip_blocks when
 * only spaces lie between the line start and a block/comment tag; block and comment ends eat
 * one following newline (trim_blocks) unless written `+%}`; `-%}`/`-}}` eat all whitespace
 * after. Inside tags, end markers count only when brackets are balanced. */
#include "template/lexer.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support/alloc.h"
#include "support/error.h"
#include "support/strbuf.h"
#include "template/ustr.h"

typedef struct lexer {
    const char *src;
    size_t len;
    const char *name;
    token_list *out;
    int line_starting;
} lexer;

void source_position(const char *src, size_t pos, int *line, int *col) {
    int l = 1;
    size_t line_start = 0;
    for (size_t i = 0; i < pos; i++)
        if (src[i] == '\n') {
            l++;
            line_start = i + 1;
        }
    *line = l;
    *col = (int)u8_count(src + line_start, pos - line_start) + 1;
}

static int lex_error(lexer *lx, size_t pos, const char *msg) {
    int line, col;
    source_position(lx->src, pos, &line, &col);
    return mlcc_set_error("%s:%d:%d: syntax error: %s", lx->name, line, col, msg);
}

static token *push(lexer *lx, tok_kind kind, size_t pos) {
    token_list *o = lx->out;
    if (o->len == o->cap) {
        o->cap = o->cap ? o->cap * 2 : 64;
        o->data = mlcc_xrealloc(o->data, o->cap * sizeof(token));
    }
    token *t = &o->data[o->len++];
    memset(t, 0, sizeof *t);
    t->kind = kind;
    /* positions are resolved lazily (see lex_template) to keep lexing linear */
    t->line = -1;
    t->col = (int)pos; /* byte offset until resolved */
    return t;
}

static void push_data(lexer *lx, size_t pos, const char *s, size_t n) {
    if (n == 0) return;
    token *t = push(lx, TK_DATA, pos);
    t->str = mlcc_xstrndup(s, n);
    t->len = n;
}

static int starts(const lexer *lx, size_t pos, const char *lit) {
    size_t n = strlen(lit);
    return pos + n <= lx->len && memcmp(lx->src + pos, lit, n) == 0;
}

/* Length of the Python-whitespace character at pos, or 0. */
static size_t space_at(const lexer *lx, size_t pos) {
    if (pos >= lx->len) return 0;
    uint32_t c;
    size_t n = u8_decode(lx->src, lx->len, pos, &c);
    return py_isspace(c) ? n : 0;
}

static size_t skip_space(const lexer *lx, size_t pos) {
    size_t n;
    while ((n = space_at(lx, pos)) > 0) pos += n;
    return pos;
}

/* Python str.rstrip() length of s[0:n]. */
static size_t rstrip_len(const char *s, size_t n) {
    size_t a, b;
    py_strip(s, n, NULL, 0, 0, 1, &a, &b);
    return b;
}

/* Applies `-` / lstrip_blocks to the text before a tag (Jinja's OptionalLStrip). */
static size_t strip_text(lexer *lx, const char *text, size_t n, char sign, int lstrip_ok) {
    if (sign == '-') return rstrip_len(text, n);
    if (sign == '+' || !lstrip_ok) return n;
    size_t l_pos = 0;
    for (size_t i = n; i > 0; i--)
        if (text[i - 1] == '\n') {
            l_pos = i;
            break;
        }
    if ((l_pos > 0 || lx->line_starting) && l_pos < n) {
        size_t a, b;
        py_strip(text + l_pos, n - l_pos, NULL, 0, 1, 0, &a, &b);
        if (a == n - l_pos) return l_pos;
    }
    return n;
}

/* {%[-+]? raw [-]%} at pos: returns the end of the tag (0 if not a raw tag). */
static size_t match_raw_begin(const lexer *lx, size_t pos, char *sign) {
    size_t q = pos + 2;
    *sign = 0;
    if (q < lx->len && (lx->src[q] == '-' || lx->src[q] == '+')) *sign = lx->src[q++];
    q = skip_space(lx, q);
    if (!starts(lx, q, "raw")) return 0;
    q += 3;
    size_t after = skip_space(lx, q);
    if (starts(lx, after, "-%}")) return skip_space(lx, after + 3);
    if (starts(lx, after, "%}")) return after + 2;
    return 0;
}

/* {%[-+]? endraw (+%}|-%}\s*|%}\n?) at pos: end of the tag or 0; *sign gets the left sign. */
static size_t match_endraw(const lexer *lx, size_t pos, char *sign) {
    if (!starts(lx, pos, "{%")) return 0;
    size_t q = pos + 2;
    *sign = 0;
    if (q < lx->len && (lx->src[q] == '-' || lx->src[q] == '+')) *sign = lx->src[q++];
    q = skip_space(lx, q);
    if (!starts(lx, q, "endraw")) return 0;
    q = skip_space(lx, q + 6);
    if (starts(lx, q, "+%}")) return q + 3;
    if (starts(lx, q, "-%}")) return skip_space(lx, q + 3);
    if (starts(lx, q, "%}")) return q + 2 + (starts(lx, q + 2, "\n") ? 1 : 0);
    return 0;
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Python's unicode-escape decoding of a string literal's body. */
static int unescape(lexer *lx, size_t pos, const char *s, size_t n, mlcc_strbuf *sb) {
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '\\' || i + 1 >= n) {
            sb_append_char(sb, s[i]);
            continue;
        }
        char c = s[++i];
        switch (c) {
        case '\n': break;
        case '\\': sb_append_char(sb, '\\'); break;
        case '\'': sb_append_char(sb, '\''); break;
        case '"': sb_append_char(sb, '"'); break;
        case 'a': sb_append_char(sb, 7); break;
        case 'b': sb_append_char(sb, 8); break;
        case 'f': sb_append_char(sb, 12); break;
        case 'n': sb_append_char(sb, '\n'); break;
        case 'r': sb_append_char(sb, '\r'); break;
        case 't': sb_append_char(sb, '\t'); break;
        case 'v': sb_append_char(sb, 11); break;
        case 'x':
        case 'u':
        case 'U': {
            int digits = c == 'x' ? 2 : c == 'u' ? 4 : 8;
            uint32_t v = 0;
            for (int k = 0; k < digits; k++) {
                int h = i + 1 + (size_t)k < n ? hexval(s[i + 1 + k]) : -1;
                if (h < 0) return lex_error(lx, pos, "truncated \\x, \\u or \\U escape in a string");
                v = v * 16 + (uint32_t)h;
            }
            if (v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
                return lex_error(lx, pos, "escape in a string is not a valid code point");
            u8_append(sb, v);
            i += (size_t)digits;
            break;
        }
        default:
            if (c >= '0' && c <= '7') {
                uint32_t v = (uint32_t)(c - '0');
                for (int k = 0; k < 2 && i + 1 < n && s[i + 1] >= '0' && s[i + 1] <= '7'; k++)
                    v = v * 8 + (uint32_t)(s[++i] - '0');
                u8_append(sb, v);
            } else {
                sb_append_char(sb, '\\');
                sb_append_char(sb, c);
            }
        }
    }
    return 0;
}

static int is_name_start(const lexer *lx, size_t pos, size_t *n) {
    unsigned char c = (unsigned char)lx->src[pos];
    *n = 1;
    if (c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return 1;
    if (c < 0x80) return 0;
    uint32_t cp;
    *n = u8_decode(lx->src, lx->len, pos, &cp);
    return py_isalpha(cp);
}

static int is_name_char(const lexer *lx, size_t pos, size_t *n) {
    unsigned char c = (unsigned char)lx->src[pos];
    *n = 1;
    if (c >= '0' && c <= '9') return 1;
    if (is_name_start(lx, pos, n)) return 1;
    if (c < 0x80) return 0;
    uint32_t cp;
    *n = u8_decode(lx->src, lx->len, pos, &cp);
    return py_isalnum(cp);
}

static int isdig(char c) { return c >= '0' && c <= '9'; }

/* (\d+_)*\d+ at pos: end or pos. */
static size_t digits_end(const lexer *lx, size_t pos) {
    size_t q = pos;
    if (q >= lx->len || !isdig(lx->src[q])) return pos;
    while (q < lx->len) {
        if (isdig(lx->src[q])) q++;
        else if (lx->src[q] == '_' && q + 1 < lx->len && isdig(lx->src[q + 1])) q++;
        else break;
    }
    return q;
}

static void copy_digits(const char *s, size_t n, char *buf, size_t cap) {
    size_t k = 0;
    for (size_t i = 0; i < n && k + 1 < cap; i++)
        if (s[i] != '_') buf[k++] = s[i];
    buf[k] = 0;
}

/* A number at pos (float first, as Jinja tries float_re before integer_re). */
static int lex_number(lexer *lx, size_t pos, size_t *end) {
    size_t q = digits_end(lx, pos);
    size_t fend = 0;
    int prev_dot = pos > 0 && lx->src[pos - 1] == '.';
    if (!prev_dot) {
        size_t r = q;
        int frac = 0;
        if (r < lx->len && lx->src[r] == '.' && digits_end(lx, r + 1) > r + 1) {
            r = digits_end(lx, r + 1);
            frac = 1;
        }
        size_t e = r;
        if (e < lx->len && (lx->src[e] == 'e' || lx->src[e] == 'E')) {
            e++;
            if (e < lx->len && (lx->src[e] == '+' || lx->src[e] == '-')) e++;
            size_t de = digits_end(lx, e);
            if (de > e) fend = de;
        }
        if (!fend && frac) fend = r;
    }
    char buf[128];
    if (fend) {
        copy_digits(lx->src + pos, fend - pos, buf, sizeof buf);
        token *t = push(lx, TK_FLOAT, pos);
        t->fval = strtod(buf, NULL);
        *end = fend;
        return 0;
    }
    /* integers: 0x.., 0o.., 0b.. or decimal */
    int base = 10;
    size_t start = pos;
    if (lx->src[pos] == '0' && pos + 1 < lx->len) {
        char p = (char)(lx->src[pos + 1] | 0x20);
        if (p == 'x') base = 16;
        else if (p == 'o') base = 8;
        else if (p == 'b') base = 2;
    }
    if (base != 10) {
        q = pos + 2;
        while (q < lx->len && (lx->src[q] == '_' || (hexval(lx->src[q]) >= 0 && hexval(lx->src[q]) < base)))
            q++;
        start = pos + 2;
        if (q == start) base = 10, q = digits_end(lx, pos), start = pos;
    }
    copy_digits(lx->src + start, q - start, buf, sizeof buf);
    errno = 0;
    unsigned long long v = q - start > 100 ? ULLONG_MAX : strtoull(buf, NULL, base);
    if (errno || v > (unsigned long long)INT64_MAX)
        return lex_error(lx, pos, "integer literal too large (mlcc's integers are 64-bit)");
    token *t = push(lx, TK_INT, pos);
    t->ival = (int64_t)v;
    *end = q;
    return 0;
}

static const char *const operators[] = {"//", "**", "==", "!=", ">=", "<=", "+", "-", "/",
                                        "*",  "%",  "~",  "[",  "]",  "(",  ")", "{", "}",
                                        ">",  "<",  "=",  ".",  ":",  "|",  ",", ";"};

/* Lexes the inside of a {{ }} or {% %} tag starting at pos; returns the position after it. */
static int lex_tag(lexer *lx, size_t pos, int is_block, size_t *after) {
    char stack[256];
    int depth = 0;
    for (;;) {
        if (depth == 0) {
            if (is_block) {
                if (starts(lx, pos, "-%}")) {
                    push(lx, TK_BLOCK_END, pos);
                    *after = skip_space(lx, pos + 3);
                    return 0;
                }
                if (starts(lx, pos, "+%}")) {
                    push(lx, TK_BLOCK_END, pos);
                    *after = pos + 3;
                    return 0;
                }
                if (starts(lx, pos, "%}")) {
                    push(lx, TK_BLOCK_END, pos);
                    *after = pos + 2 + (starts(lx, pos + 2, "\n") ? 1 : 0);
                    return 0;
                }
            } else {
                if (starts(lx, pos, "-}}")) {
                    push(lx, TK_VAR_END, pos);
                    *after = skip_space(lx, pos + 3);
                    return 0;
                }
                if (starts(lx, pos, "}}")) {
                    push(lx, TK_VAR_END, pos);
                    *after = pos + 2;
                    return 0;
                }
            }
        }
        if (pos >= lx->len)
            return lex_error(lx, pos, is_block ? "unexpected end of template, expected '%}'"
                                               : "unexpected end of template, expected '}}'");
        size_t n = space_at(lx, pos);
        if (n) {
            pos = skip_space(lx, pos);
            continue;
        }
        char c = lx->src[pos];
        if (isdig(c)) {
            if (lex_number(lx, pos, &pos) < 0) return -1;
            continue;
        }
        if (is_name_start(lx, pos, &n)) {
            size_t q = pos + n;
            while (q < lx->len && is_name_char(lx, q, &n)) q += n;
            token *t = push(lx, TK_NAME, pos);
            t->str = mlcc_xstrndup(lx->src + pos, q - pos);
            t->len = q - pos;
            pos = q;
            continue;
        }
        if (c == '\'' || c == '"') {
            size_t q = pos + 1;
            while (q < lx->len && lx->src[q] != c) q += lx->src[q] == '\\' ? 2 : 1;
            if (q >= lx->len) return lex_error(lx, pos, "unterminated string literal");
            mlcc_strbuf sb = STRBUF_INIT;
            if (unescape(lx, pos, lx->src + pos + 1, q - pos - 1, &sb) < 0) {
                sb_free(&sb);
                return -1;
            }
            token *t = push(lx, TK_STRING, pos);
            t->len = sb.len;
            t->str = sb.data ? sb_detach(&sb) : mlcc_xstrdup("");
            pos = q + 1;
            continue;
        }
        const char *op = NULL;
        for (size_t k = 0; k < sizeof operators / sizeof operators[0]; k++)
            if (starts(lx, pos, operators[k])) {
                op = operators[k];
                break;
            }
        if (!op) {
            char msg[64];
            uint32_t cp;
            u8_decode(lx->src, lx->len, pos, &cp);
            if (cp >= 0x20 && cp < 0x7f) snprintf(msg, sizeof msg, "unexpected char '%c'", (char)cp);
            else snprintf(msg, sizeof msg, "unexpected char U+%04X", cp);
            return lex_error(lx, pos, msg);
        }
        if (op[0] == '(' || op[0] == '[' || op[0] == '{') {
            if (depth >= (int)sizeof stack) return lex_error(lx, pos, "brackets nested too deeply");
            stack[depth++] = op[0];
        } else if (op[0] == ')' || op[0] == ']' || op[0] == '}') {
            char want = op[0] == ')' ? '(' : op[0] == ']' ? '[' : '{';
            char msg[64];
            if (depth == 0) {
                snprintf(msg, sizeof msg, "unexpected '%c'", op[0]);
                return lex_error(lx, pos, msg);
            }
            if (stack[depth - 1] != want) {
                char close = stack[depth - 1] == '(' ? ')' : stack[depth - 1] == '[' ? ']' : '}';
                snprintf(msg, sizeof msg, "unexpected '%c', expected '%c'", op[0], close);
                return lex_error(lx, pos, msg);
            }
            depth--;
        }
        token *t = push(lx, TK_OP, pos);
        strcpy(t->op, op);
        pos += strlen(op);
    }
}

/* Earliest "{{", "{%" or "{#" at or after pos, or len. */
static size_t next_tag(const lexer *lx, size_t pos) {
    while (pos + 1 < lx->len) {
        const char *p = memchr(lx->src + pos, '{', lx->len - pos - 1);
        if (!p) return lx->len;
        size_t i = (size_t)(p - lx->src);
        char d = lx->src[i + 1];
        if (d == '{' || d == '%' || d == '#') return i;
        pos = i + 1;
    }
    return lx->len;
}

static int lex_root(lexer *lx) {
    size_t pos = 0;
    lx->line_starting = 1;
    while (pos < lx->len) {
        size_t p = next_tag(lx, pos);
        if (p >= lx->len) {
            push_data(lx, pos, lx->src + pos, lx->len - pos);
            break;
        }
        char kind = lx->src[p + 1];
        char sign = 0;
        if (p + 2 < lx->len && (lx->src[p + 2] == '-' || lx->src[p + 2] == '+')) sign = lx->src[p + 2];
        char raw_sign = 0;
        size_t raw_end = kind == '%' ? match_raw_begin(lx, p, &raw_sign) : 0;
        size_t keep = strip_text(lx, lx->src + pos, p - pos, sign, kind != '{');
        push_data(lx, pos, lx->src + pos, keep);
        size_t q = p + 2 + (sign ? 1 : 0);
        if (kind == '#') {
            size_t end = 0;
            for (size_t i = q; i < lx->len; i++) {
                if (starts(lx, i, "+#}")) end = i + 3;
                else if (starts(lx, i, "-#}")) end = skip_space(lx, i + 3);
                else if (starts(lx, i, "#}")) end = i + 2 + (starts(lx, i + 2, "\n") ? 1 : 0);
                if (end) break;
            }
            if (!end) return lex_error(lx, p, "missing end of comment tag");
            lx->line_starting = lx->src[end - 1] == '\n';
            pos = end;
        } else if (raw_end) {
            lx->line_starting = lx->src[raw_end - 1] == '\n';
            size_t i = raw_end, end = 0;
            char end_sign = 0;
            for (; i < lx->len; i++)
                if (lx->src[i] == '{' && (end = match_endraw(lx, i, &end_sign)) > 0) break;
            if (!end) return lex_error(lx, p, "missing end of raw directive");
            size_t n = strip_text(lx, lx->src + raw_end, i - raw_end, end_sign, 1);
            push_data(lx, raw_end, lx->src + raw_end, n);
            lx->line_starting = lx->src[end - 1] == '\n';
            pos = end;
        } else {
            push(lx, kind == '{' ? TK_VAR_BEGIN : TK_BLOCK_BEGIN, p);
            size_t after = 0;
            if (lex_tag(lx, q, kind == '%', &after) < 0) return -1;
            lx->line_starting = lx->src[after - 1] == '\n';
            pos = after;
        }
    }
    push(lx, TK_EOF, lx->len);
    return 0;
}

int lex_template(const char *src, size_t len, const char *name, token_list *out) {
    lexer lx = {src, len, name, out, 1};
    memset(out, 0, sizeof *out);
    if (lex_root(&lx) < 0) {
        /* keep the tokens before the error; the parser reports it if it gets that far */
        token *t = push(&lx, TK_ERROR, len);
        t->str = mlcc_xstrdup(mlcc_last_error());
        push(&lx, TK_EOF, len);
    }
    /* resolve byte offsets to line/column in one pass */
    int line = 1, col = 1;
    size_t at = 0;
    for (size_t k = 0; k < out->len; k++) {
        size_t off = (size_t)out->data[k].col;
        while (at < off && at < len) {
            if (src[at] == '\n') {
                line++;
                col = 1;
            } else if (((unsigned char)src[at] & 0xc0) != 0x80) col++;
            at++;
        }
        out->data[k].line = line;
        out->data[k].col = col;
    }
    return 0;
}

void token_list_free(token_list *toks) {
    for (size_t i = 0; i < toks->len; i++) free(toks->data[i].str);
    free(toks->data);
    memset(toks, 0, sizeof *toks);
}

char *template_normalize_source(const char *src, size_t len, size_t *out_len) {
    char *out = mlcc_xmalloc(len + 1);
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (src[i] == '\r') {
            out[n++] = '\n';
            if (i + 1 < len && src[i + 1] == '\n') i++;
        } else out[n++] = src[i];
    }
    if (n > 0 && out[n - 1] == '\n') n--;
    out[n] = 0;
    *out_len = n;
    return out;
}
