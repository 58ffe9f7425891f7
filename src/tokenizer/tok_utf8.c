/* tok_utf8.c - UTF-8 and Unicode helpers for the tokenizer: decoding, validation, Rust's lossy
 * conversion, the GPT-2 byte-level alphabet, and the character classes Rust's char methods use. */
#include <string.h>

#include "tokenizer/tok_internal.h"

int tok_utf8_seqlen(unsigned char c) {
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) return 2;
    if (c >= 0xE0 && c <= 0xEF) return 3;
    if (c >= 0xF0 && c <= 0xF4) return 4;
    return 1;
}

uint32_t tok_utf8_decode(const char *s, size_t n, size_t *adv) {
    const unsigned char *u = (const unsigned char *)s;
    int len = tok_utf8_seqlen(u[0]);
    if ((size_t)len > n) len = 1;
    *adv = (size_t)len;
    switch (len) {
    case 1:
        return u[0];
    case 2:
        return ((uint32_t)(u[0] & 0x1F) << 6) | (u[1] & 0x3F);
    case 3:
        return ((uint32_t)(u[0] & 0x0F) << 12) | ((uint32_t)(u[1] & 0x3F) << 6) | (u[2] & 0x3F);
    default:
        return ((uint32_t)(u[0] & 0x07) << 18) | ((uint32_t)(u[1] & 0x3F) << 12) |
               ((uint32_t)(u[2] & 0x3F) << 6) | (u[3] & 0x3F);
    }
}


/* How many bytes of a valid sequence start at u[0..n): the full length if complete and valid,
 * else -(bytes that form a valid prefix), at least -1 (the "maximal subpart" of WHATWG/Rust). */
static int valid_seq(const unsigned char *u, size_t n) {
    unsigned char c = u[0];
    if (c < 0x80) return 1;
    int len = tok_utf8_seqlen(c);
    if (len == 1) return -1;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c == 0xE0)
        lo = 0xA0;
    else if (c == 0xED)
        hi = 0x9F;
    else if (c == 0xF0)
        lo = 0x90;
    else if (c == 0xF4)
        hi = 0x8F;
    for (int i = 1; i < len; i++) {
        if ((size_t)i >= n) return -i;
        unsigned char b = u[i];
        if (i == 1 ? (b < lo || b > hi) : (b < 0x80 || b > 0xBF)) return -i;
    }
    return len;
}

int tok_utf8_valid(const char *s, size_t n) {
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        if (u[i] < 0x80) {
            i++;
            continue;
        }
        int k = valid_seq(u + i, n - i);
        if (k < 0) return 0;
        i += (size_t)k;
    }
    return 1;
}

void tok_append_lossy(mlcc_strbuf *sb, const char *s, size_t n) {
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0, run = 0;
    while (i < n) {
        int k = u[i] < 0x80 ? 1 : valid_seq(u + i, n - i);
        if (k > 0) {
            i += (size_t)k;
            continue;
        }
        sb_append_n(sb, s + run, i - run);
        sb_append(sb, "\xEF\xBF\xBD");
        i += (size_t)(-k);
        run = i;
    }
    sb_append_n(sb, s + run, n - run);
}

/* ---- GPT-2 byte-level alphabet ---- */
static int printable_byte(unsigned b) {
    return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
}

uint32_t tok_byte_to_cp(unsigned char b) {
    if (printable_byte(b)) return b;
    unsigned k = 0;
    for (unsigned x = 0; x < b; x++)
        if (!printable_byte(x)) k++;
    return 256 + k;
}

int tok_cp_to_byte(uint32_t cp) {
    if (cp < 256) return printable_byte(cp) ? (int)cp : -1;
    if (cp >= 256 + 68) return -1;
    unsigned k = cp - 256;
    for (unsigned x = 0; x < 256; x++)
        if (!printable_byte(x) && k-- == 0) return (int)x;
    return -1;
}

/* ---- Unicode classes ---- */
int tok_is_whitespace(uint32_t cp) {
    return (cp >= 9 && cp <= 13) || cp == 32 || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
           (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F ||
           cp == 0x205F || cp == 0x3000;
}

/* ---- piece lists ---- */
void tok_pieces_add(tok_pieces *p, const char *s, size_t n, int32_t id, unsigned flags) {
    tok_span sp = {p->buf.len, n, id, flags};
    sb_reserve(&p->buf, n + 1); /* never leave data NULL: piece pointers are data + off */
    sb_append_n(&p->buf, s, n);
    vec_push(&p->v, sp);
}

void tok_pieces_free(tok_pieces *p) {
    sb_free(&p->buf);
    vec_free(&p->v);
}

void tok_strs_push(tok_strs *v, const char *s, size_t n) {
    tok_str t = {mlcc_xstrndup(s, n), n};
    vec_push(v, t);
}

void tok_strs_free(tok_strs *v) {
    for (size_t i = 0; i < v->len; i++)
        free(v->data[i].s);
    vec_free(v);
}
